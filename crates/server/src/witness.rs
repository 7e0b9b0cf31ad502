//! The server's own audit key, and the signed head of the audit chain (witnessed audit).
//!
//! The hash chain (`jsjb_storage::audit`) cannot, on its own, tell an honest chain from one
//! whose tail was deleted, or one rewritten and re-hashed from some entry on: both
//! verify. So the server signs the chain's head — `{seq, hash, signed_at}` — with an
//! SM2 key kept in a file of its own, outside the database, and every desktop keeps the
//! newest head it saw. A chain that is later shorter than a kept head, or holds another
//! hash at its `seq`, is reported by the desktop and by `audit-verify --head`.
//!
//! The key is generated at first start and written with mode 0600 beside the database
//! unless `--audit-key` puts it elsewhere (best: where whoever can write the database
//! cannot). Its public key and fingerprint are printed at start and served with every
//! head; desktops pin the key on first sight and warn if it ever changes.
//!
//! Cost: an SM2 signature takes well under a millisecond, and a head is signed only
//! when it is asked for after the chain changed (the last one is cached by `seq` and
//! hash), so the server signs at most once per change and never when nobody syncs.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use jsjb_proto::{AuditEntryHash, AuditHead, audit_head_message};
use jsjb_signoff::{Signer, SoftwareSigner, b64};

pub mod api;

#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    #[error("audit key {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("audit key {path}: {message}")]
    BadKey { path: PathBuf, message: String },
    #[error("signing the audit head: {0}")]
    Sign(String),
}

/// The audit key in memory, and the last head it signed.
pub struct Witness {
    signer: SoftwareSigner,
    public_key_pem: String,
    fingerprint: String,
    last: Mutex<Option<AuditHead>>,
}

impl std::fmt::Debug for Witness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Witness")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl Witness {
    /// Reads the key at `path`, or generates it there (mode 0600) when the file does not
    /// exist. Any other problem (unreadable, not a key, readable by others) stops the
    /// server: quietly making a new key would look, to every desktop, like a new server.
    pub fn load_or_create(path: &Path) -> Result<Witness, WitnessError> {
        let io = |source| WitnessError::Io {
            path: path.to_owned(),
            source,
        };
        let bad = |message: String| WitnessError::BadKey {
            path: path.to_owned(),
            message,
        };
        match std::fs::read_to_string(path) {
            Ok(pem) => {
                check_private(path).map_err(bad)?;
                let signer =
                    SoftwareSigner::from_pkcs8_pem(&pem).map_err(|e| bad(e.to_string()))?;
                Self::from_signer(signer)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let signer = SoftwareSigner::generate().map_err(|e| bad(e.to_string()))?;
                let pem = signer.to_pkcs8_pem().map_err(|e| bad(e.to_string()))?;
                write_private(path, pem.as_bytes()).map_err(io)?;
                tracing::info!(path = %path.display(), "generated the server's audit key");
                Self::from_signer(signer)
            }
            Err(e) => Err(io(e)),
        }
    }

    pub fn from_signer(signer: SoftwareSigner) -> Result<Witness, WitnessError> {
        let public = signer.public_key();
        let public_key_pem = public
            .to_pem()
            .map_err(|e| WitnessError::Sign(e.to_string()))?;
        let fingerprint = public
            .fingerprint()
            .map_err(|e| WitnessError::Sign(e.to_string()))?;
        Ok(Witness {
            signer,
            public_key_pem,
            fingerprint,
            last: Mutex::new(None),
        })
    }

    /// Lowercase hex SM3 of the public key's SPKI DER.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    pub fn public_key_pem(&self) -> &str {
        &self.public_key_pem
    }

    /// The signed head for the chain's last entry `tip`: the cached one when the chain
    /// has not moved since it was signed, else a new signature made `now`.
    pub fn head(
        &self,
        tip: &AuditEntryHash,
        now: DateTime<Utc>,
    ) -> Result<AuditHead, WitnessError> {
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(head) = last.as_ref()
            && head.seq == tip.seq
            && head.hash == tip.hash
        {
            return Ok(head.clone());
        }
        let signature = self
            .signer
            .sign(&audit_head_message(tip.seq, &tip.hash, now))
            .map_err(|e| WitnessError::Sign(e.to_string()))?;
        let head = AuditHead {
            seq: tip.seq,
            hash: tip.hash.clone(),
            signed_at: now,
            public_key_pem: self.public_key_pem.clone(),
            key_fingerprint: self.fingerprint.clone(),
            signature: b64::encode(&signature),
        };
        *last = Some(head.clone());
        Ok(head)
    }
}

/// Writes a new file readable by its owner only, synced, via a temporary name so that a
/// crash never leaves half a key under the real one.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)
}

/// Refuses a key others may read: whoever can read it can sign heads as this server.
#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|e| e.to_string())?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "readable by others (mode {:o}); `chmod 600` it",
            mode & 0o777
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<(), String> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsjb_signoff::PublicKey;

    #[test]
    fn the_key_is_made_once_kept_private_and_signs_verifiable_heads() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("k.pem");
        let first = Witness::load_or_create(&path).expect("create");
        let again = Witness::load_or_create(&path).expect("load");
        assert_eq!(first.fingerprint(), again.fingerprint());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let tip = AuditEntryHash {
            seq: 7,
            hash: "ab".repeat(32),
        };
        let now = Utc::now();
        let head = first.head(&tip, now).expect("sign");
        let key = PublicKey::from_pem(&head.public_key_pem).expect("pem");
        let sig = b64::decode(&head.signature).expect("b64");
        key.verify(&head.signed_message(), &sig).expect("verifies");
        // Unchanged chain: the same head, not a new signature.
        let later = first
            .head(&tip, now + chrono::Duration::seconds(5))
            .expect("sign");
        assert_eq!(later, head);

        // Rough cost of one signature (printed with --nocapture).
        let started = std::time::Instant::now();
        for seq in 0..50 {
            let tip = AuditEntryHash {
                seq,
                hash: "cd".repeat(32),
            };
            first.head(&tip, now).expect("sign");
        }
        let each = started.elapsed() / 50;
        println!("one audit head signature: {each:?}");

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
            let refused = Witness::load_or_create(&path).expect_err("world-readable key");
            assert!(refused.to_string().contains("chmod 600"), "{refused}");
        }
        std::fs::write(&path, "garbage").expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        }
        assert!(
            Witness::load_or_create(&path).is_err(),
            "a broken key is not replaced"
        );
    }
}
