//! The chief's key file: the SM2 private key encrypted under the chief's PIN, and the
//! count of wrong PINs, so that restarting the app does not reset the delay.
//!
//! - KDF: argon2id (memory-hard) over the PIN with a random 16-byte salt → 32-byte key.
//! - AEAD: ChaCha20-Poly1305 with a random 12-byte nonce; the associated data binds the
//!   ciphertext to the file's format, KDF parameters and public key, so none of them
//!   can be swapped without the PIN check failing.
//! - Wrong PINs: the first [`FREE_FAILURES`] cost nothing; each one after locks the
//!   file for 30 s, doubling up to a day. The count and the lock are written to the
//!   file (atomically, synced) before the answer is returned.
//!
//! Someone who copies the file can of course guess offline without the counter: that is
//! what argon2id's cost is for. The counter stops guessing through the app.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use chrono::{DateTime, Duration, Utc};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::crypto::{PublicKey, SignoffError};
use crate::signer::SoftwareSigner;

/// The `format` of key files of this version.
pub const KEY_FILE_FORMAT: &str = "jsjb-sm2-key/1";
/// Wrong PINs allowed before the delays start.
pub const FREE_FAILURES: u32 = 3;
/// The first delay, doubled for each further wrong PIN.
pub const FIRST_DELAY_SECS: i64 = 30;
/// The longest delay.
pub const MAX_DELAY_SECS: i64 = 24 * 3600;
/// The shortest PIN accepted at enrolment.
pub const MIN_PIN_CHARS: usize = 6;

/// argon2id cost parameters, stored with the file so they can be raised later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    pub m_kib: u32,
    pub t: u32,
    pub p: u32,
}

impl Default for KdfParams {
    /// 64 MiB, 3 passes: about half a second on a desk PC, per guess.
    fn default() -> Self {
        KdfParams {
            m_kib: 64 * 1024,
            t: 3,
            p: 1,
        }
    }
}

impl KdfParams {
    /// Cheap parameters for tests only.
    pub fn for_tests() -> Self {
        KdfParams {
            m_kib: 64,
            t: 1,
            p: 1,
        }
    }
}

/// The file, as stored (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyFile {
    pub format: String,
    pub public_key_pem: String,
    pub kdf: String,
    pub kdf_params: KdfParams,
    pub salt_b64: String,
    pub aead: String,
    pub nonce_b64: String,
    pub ciphertext_b64: String,
    pub created_at: DateTime<Utc>,
    /// Wrong PINs since the last right one.
    pub failures: u32,
    /// No attempt is accepted before this time.
    pub locked_until: Option<DateTime<Utc>>,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("the PIN must have at least {MIN_PIN_CHARS} characters")]
    WeakPin,
    #[error("a key file already exists at {0}; revoke and remove it before enrolling again")]
    Exists(PathBuf),
    #[error(
        "the PIN is wrong ({failures} wrong in a row); next attempt allowed in {retry_after_secs} s"
    )]
    WrongPin {
        failures: u32,
        retry_after_secs: u64,
    },
    #[error("too many wrong PINs: try again in {retry_after_secs} s")]
    Locked { retry_after_secs: u64 },
    #[error("the key file is damaged or not a key file: {0}")]
    Corrupt(String),
    #[error("key file: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Crypto(#[from] SignoffError),
}

impl KeyFileError {
    /// The stable code the desktop translates.
    pub fn code(&self) -> &'static str {
        match self {
            KeyFileError::WeakPin => "pin_too_short",
            KeyFileError::Exists(_) => "key_file_exists",
            KeyFileError::WrongPin { .. } => "wrong_pin",
            KeyFileError::Locked { .. } => "pin_locked",
            KeyFileError::Corrupt(_) => "key_file_corrupt",
            KeyFileError::Io(_) => "key_file_io",
            KeyFileError::Crypto(_) => "key_file_crypto",
        }
    }
}

fn corrupt(what: impl std::fmt::Display) -> KeyFileError {
    KeyFileError::Corrupt(what.to_string())
}

fn derive_key(
    pin: &str,
    salt: &[u8],
    params: KdfParams,
) -> Result<Zeroizing<[u8; 32]>, KeyFileError> {
    let argon_params = argon2::Params::new(params.m_kib, params.t, params.p, Some(32))
        .map_err(|e| corrupt(format!("kdf parameters: {e}")))?;
    let argon = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon_params,
    );
    let mut key = Zeroizing::new([0_u8; 32]);
    argon
        .hash_password_into(pin.as_bytes(), salt, key.as_mut())
        .map_err(|e| corrupt(format!("kdf: {e}")))?;
    Ok(key)
}

impl KeyFile {
    /// What the ciphertext is bound to besides the PIN.
    fn associated_data(&self) -> Vec<u8> {
        format!(
            "{}\n{}\nargon2id m={} t={} p={}\n{}",
            self.format,
            self.aead,
            self.kdf_params.m_kib,
            self.kdf_params.t,
            self.kdf_params.p,
            self.public_key_pem
        )
        .into_bytes()
    }

    /// Encrypts a new key under `pin`.
    pub fn seal(
        signer: &SoftwareSigner,
        pin: &str,
        params: KdfParams,
        now: DateTime<Utc>,
    ) -> Result<KeyFile, KeyFileError> {
        if pin.chars().count() < MIN_PIN_CHARS {
            return Err(KeyFileError::WeakPin);
        }
        let mut salt = [0_u8; 16];
        OsRng.fill_bytes(&mut salt);
        let mut nonce = [0_u8; 12];
        OsRng.fill_bytes(&mut nonce);
        let mut file = KeyFile {
            format: KEY_FILE_FORMAT.to_owned(),
            public_key_pem: crate::signer::Signer::public_key(signer).to_pem()?,
            kdf: "argon2id".to_owned(),
            kdf_params: params,
            salt_b64: B64.encode(salt),
            aead: "chacha20poly1305".to_owned(),
            nonce_b64: B64.encode(nonce),
            ciphertext_b64: String::new(),
            created_at: now,
            failures: 0,
            locked_until: None,
        };
        let key = derive_key(pin, &salt, params)?;
        let cipher = ChaCha20Poly1305::new(key.as_ref().into());
        let secret = signer.secret_bytes();
        let aad = file.associated_data();
        let ciphertext = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &secret,
                    aad: &aad,
                },
            )
            .map_err(|_| corrupt("encryption failed"))?;
        file.ciphertext_b64 = B64.encode(ciphertext);
        Ok(file)
    }

    /// The public key (no PIN needed).
    pub fn public_key(&self) -> Result<PublicKey, KeyFileError> {
        Ok(PublicKey::from_pem(&self.public_key_pem)?)
    }

    /// Seconds until an attempt is allowed (0 when one is allowed now).
    pub fn wait_secs(&self, now: DateTime<Utc>) -> u64 {
        self.locked_until
            .map(|until| u64::try_from((until - now).num_seconds().max(0)).unwrap_or(0))
            .unwrap_or(0)
    }

    /// Tries `pin`, updating the failure count and lock in `self` (the caller persists
    /// it: [`unlock`] does).
    pub fn open(&mut self, pin: &str, now: DateTime<Utc>) -> Result<SoftwareSigner, KeyFileError> {
        let wait = self.wait_secs(now);
        if wait > 0 {
            return Err(KeyFileError::Locked {
                retry_after_secs: wait,
            });
        }
        if self.format != KEY_FILE_FORMAT
            || self.kdf != "argon2id"
            || self.aead != "chacha20poly1305"
        {
            return Err(corrupt(format!("unknown format {:?}", self.format)));
        }
        let salt = B64.decode(&self.salt_b64).map_err(corrupt)?;
        let nonce = B64.decode(&self.nonce_b64).map_err(corrupt)?;
        let ciphertext = B64.decode(&self.ciphertext_b64).map_err(corrupt)?;
        if nonce.len() != 12 {
            return Err(corrupt("nonce length"));
        }
        let key = derive_key(pin, &salt, self.kdf_params)?;
        let cipher = ChaCha20Poly1305::new(key.as_ref().into());
        let aad = self.associated_data();
        match cipher.decrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: &ciphertext,
                aad: &aad,
            },
        ) {
            Ok(secret) => {
                let secret = Zeroizing::new(secret);
                let signer = SoftwareSigner::from_secret_bytes(&secret)?;
                // The stored public key must be this key's, or the file was tampered with.
                if crate::signer::Signer::public_key(&signer) != &self.public_key()? {
                    return Err(corrupt("the public key does not match the private key"));
                }
                self.failures = 0;
                self.locked_until = None;
                Ok(signer)
            }
            Err(_) => {
                self.failures = self.failures.saturating_add(1);
                let delay = delay_after(self.failures);
                self.locked_until = (delay > 0).then(|| now + Duration::seconds(delay));
                Err(KeyFileError::WrongPin {
                    failures: self.failures,
                    retry_after_secs: u64::try_from(delay).unwrap_or(0),
                })
            }
        }
    }
}

/// The lock after `failures` wrong PINs in a row, in seconds.
pub fn delay_after(failures: u32) -> i64 {
    if failures < FREE_FAILURES {
        return 0;
    }
    let doublings = (failures - FREE_FAILURES).min(20);
    FIRST_DELAY_SECS
        .saturating_mul(1_i64 << doublings)
        .min(MAX_DELAY_SECS)
}

// --- files: the only IO of this module --------------------------------------------

/// Reads a key file.
pub fn read(path: &Path) -> Result<KeyFile, KeyFileError> {
    let bytes = std::fs::read(path)?;
    serde_json::from_slice(&bytes).map_err(corrupt)
}

/// Writes a key file atomically (temp file, fsync, rename, fsync of the folder).
pub fn write(path: &Path, file: &KeyFile) -> Result<(), KeyFileError> {
    let json = serde_json::to_vec_pretty(file).map_err(corrupt)?;
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&json)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Ok(d) = std::fs::File::open(dir) {
        // Directory fsync is not possible everywhere (Windows); the rename is done anyway.
        let _ = d.sync_all();
    }
    Ok(())
}

/// Enrolment: generates a key pair on this workstation, stores the private key under
/// `pin` at `path` (refusing to overwrite a key), and returns the public key to
/// register with the server (`POST /api/v1/keys`).
pub fn enrol(
    path: &Path,
    pin: &str,
    params: KdfParams,
    now: DateTime<Utc>,
) -> Result<PublicKey, KeyFileError> {
    if path.exists() {
        return Err(KeyFileError::Exists(path.to_owned()));
    }
    let signer = SoftwareSigner::generate()?;
    let file = KeyFile::seal(&signer, pin, params, now)?;
    write(path, &file)?;
    Ok(crate::signer::Signer::public_key(&signer).clone())
}

/// Unlocks the key at `path` with `pin` for one signing. A wrong PIN is counted in the
/// file before the error is returned; a right one clears the count.
pub fn unlock(path: &Path, pin: &str, now: DateTime<Utc>) -> Result<SoftwareSigner, KeyFileError> {
    let mut file = read(path)?;
    let before = (file.failures, file.locked_until);
    let result = file.open(pin, now);
    if (file.failures, file.locked_until) != before {
        write(path, &file)?;
    }
    result
}
