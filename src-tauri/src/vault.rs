//! Where session tokens are kept between runs: the OS keyring (Windows Credential
//! Manager; the Secret Service on Linux), or — where none runs, as on CI, or with
//! `JSJB_KEYRING=file` — a file readable by the OS user only, in the app-data folder.
//! The fallback is logged when it is chosen, so nobody mistakes it for the keyring.
//!
//! Besides the token, the vault remembers *which* server and user signed in last (not a
//! secret), so that `resume_session` knows which token to look for.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

use crate::settings::write_atomically;

/// The keyring's service name (the app's identifier).
const SERVICE: &str = "cn.jsjb.desk";
const TOKENS_FILE: &str = "tokens.json";
const LAST_FILE: &str = "last-session.json";

/// Which store to use for tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyringMode {
    /// The OS keyring, falling back to the file when it fails.
    Os,
    /// The file only (`JSJB_KEYRING=file`).
    File,
}

impl KeyringMode {
    pub fn from_env() -> KeyringMode {
        match std::env::var("JSJB_KEYRING") {
            Ok(v) if v.eq_ignore_ascii_case("file") => KeyringMode::File,
            _ => KeyringMode::Os,
        }
    }
}

/// The server and user of the last sign-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastSession {
    pub server_url: String,
    pub username: String,
}

/// The token store. Its methods block (D-Bus, file IO): call them off the async runtime.
pub struct TokenVault {
    dir: PathBuf,
    /// Set once the OS keyring failed (or was never wanted): the file is used from then on.
    use_file: AtomicBool,
    /// Serialises read-modify-write of the token file.
    file_lock: Mutex<()>,
}

fn account(server_url: &str, username: &str) -> String {
    format!("{username}@{server_url}")
}

impl TokenVault {
    pub fn new(dir: &Path, mode: KeyringMode) -> TokenVault {
        if mode == KeyringMode::File {
            tracing::warn!(
                file = %dir.join(TOKENS_FILE).display(),
                "JSJB_KEYRING=file: session tokens are kept in a file readable by this OS user only, not in the OS keyring"
            );
        }
        TokenVault {
            dir: dir.to_path_buf(),
            use_file: AtomicBool::new(mode == KeyringMode::File),
            file_lock: Mutex::new(()),
        }
    }

    fn fall_back(&self, error: &keyring::Error) {
        if !self.use_file.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                file = %self.dir.join(TOKENS_FILE).display(),
                "the OS keyring is not available ({error}); session tokens are kept in a file readable by this OS user only"
            );
        }
    }

    fn entry(&self, server_url: &str, username: &str) -> Option<keyring::Entry> {
        if self.use_file.load(Ordering::Relaxed) {
            return None;
        }
        match keyring::Entry::new(SERVICE, &account(server_url, username)) {
            Ok(entry) => Some(entry),
            Err(e) => {
                self.fall_back(&e);
                None
            }
        }
    }

    /// Keeps the token of `username` on `server_url`.
    pub fn save(&self, server_url: &str, username: &str, token: &str) {
        if let Some(entry) = self.entry(server_url, username) {
            match entry.set_password(token) {
                Ok(()) => return,
                Err(e) => self.fall_back(&e),
            }
        }
        let key = account(server_url, username);
        if let Err(e) = self.edit_file(|tokens| {
            tokens.insert(key, token.to_owned());
        }) {
            tracing::error!("cannot keep the session token: {e}; the next start asks to sign in");
        }
    }

    /// The kept token, if any.
    pub fn load(&self, server_url: &str, username: &str) -> Option<String> {
        if let Some(entry) = self.entry(server_url, username) {
            match entry.get_password() {
                Ok(token) => return Some(token),
                Err(keyring::Error::NoEntry) => return None,
                Err(e) => self.fall_back(&e),
            }
        }
        let _guard = self.file_lock.lock().unwrap_or_else(|p| p.into_inner());
        self.read_file().remove(&account(server_url, username))
    }

    /// Forgets the token (in both stores: it may have been kept by either).
    pub fn forget(&self, server_url: &str, username: &str) {
        if let Some(entry) = self.entry(server_url, username) {
            match entry.delete_credential() {
                Ok(()) | Err(keyring::Error::NoEntry) => {}
                Err(e) => tracing::warn!("cannot delete the token from the OS keyring: {e}"),
            }
        }
        let key = account(server_url, username);
        if let Err(e) = self.edit_file(|tokens| {
            tokens.remove(&key);
        }) {
            tracing::warn!("cannot delete the token file entry: {e}");
        }
    }

    /// The server and user of the last sign-in (not forgotten by a logout).
    pub fn last_session(&self) -> Option<LastSession> {
        let bytes = std::fs::read(self.dir.join(LAST_FILE)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    pub fn set_last_session(&self, last: Option<&LastSession>) {
        let path = self.dir.join(LAST_FILE);
        let result = match last {
            Some(last) => serde_json::to_vec(last)
                .map_err(std::io::Error::other)
                .and_then(|json| write_atomically(&path, &json, false)),
            None => match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            },
        };
        if let Err(e) = result {
            tracing::warn!(path = %path.display(), "cannot record the last session: {e}");
        }
    }

    fn read_file(&self) -> BTreeMap<String, String> {
        std::fs::read(self.dir.join(TOKENS_FILE))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    fn edit_file(&self, edit: impl FnOnce(&mut BTreeMap<String, String>)) -> std::io::Result<()> {
        let _guard = self.file_lock.lock().unwrap_or_else(|p| p.into_inner());
        let path = self.dir.join(TOKENS_FILE);
        let mut tokens = self.read_file();
        let before = tokens.clone();
        edit(&mut tokens);
        if tokens == before && !path.exists() {
            return Ok(());
        }
        let json = serde_json::to_vec(&tokens).map_err(std::io::Error::other)?;
        write_atomically(&path, &json, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_fallback_round_trip_is_private() {
        let dir = tempfile::tempdir().expect("temp dir");
        let vault = TokenVault::new(dir.path(), KeyringMode::File);
        assert_eq!(vault.load("http://s", "liu"), None);
        vault.save("http://s", "liu", "t1");
        vault.save("http://s", "ma", "t2");
        assert_eq!(vault.load("http://s", "liu").as_deref(), Some("t1"));
        vault.forget("http://s", "liu");
        assert_eq!(vault.load("http://s", "liu"), None);
        assert_eq!(vault.load("http://s", "ma").as_deref(), Some("t2"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(TOKENS_FILE))
                .expect("file")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
