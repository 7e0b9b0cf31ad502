//! The chief's key file: the SM2 private key encrypted under the chief's PIN, and the
//! count of wrong PINs, so that restarting the app does not reset the delay.
//!
//! - KDF: argon2id (memory-hard) over the PIN with a random 16-byte salt → 32-byte key.
//! - AEAD: ChaCha20-Poly1305 with a random 12-byte nonce; the associated data binds the
//!   ciphertext to the file's format, KDF parameters and public key, so none of them
//!   can be swapped without the PIN check failing.
//! - Wrong PINs: the first [`FREE_FAILURES`] cost nothing; each one after locks the
//!   file for 30 s, doubling up to a day. The count and the lock are written to the
//!   file (atomically, synced, mode 0600) before the answer is returned, and one attempt
//!   at a time is made per process ([`unlock`] holds a lock around read, try, write), so
//!   two attempts in parallel count two.
//! - The count cannot be reset by editing or deleting a file: it is authenticated with
//!   HMAC-SHA256 under a random secret kept in a second file beside the key file (the
//!   *attempts* file, [`attempts_path`]), which also holds the highest generation of the
//!   count written so far. An edited count, a missing or replaced attempts file, or an
//!   older copy of the key file put back (a lower generation) all read as *tampered*:
//!   the file is locked for the longest delay ([`MAX_DELAY_SECS`]) with the count at
//!   its maximum, and the attempt is refused ([`KeyFileError::Tampered`]).
//!
//! Someone who copies the files can of course guess offline without the counter: that is
//! what argon2id's cost is for. The counter stops guessing through the app, and the MAC
//! stops the count from being set back by hand (docs/signoff.md, "The PIN and the key
//! file", says what it does not stop).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::crypto::{PublicKey, SignoffError};
use crate::signer::SoftwareSigner;

/// The `format` of key files of this version (`/2`: the wrong-PIN count is MACed).
pub const KEY_FILE_FORMAT: &str = "jsjb-sm2-key/2";
/// The `format` of the attempts file.
pub const ATTEMPTS_FORMAT: &str = "jsjb-key-attempts/1";
/// Wrong PINs allowed before the delays start.
pub const FREE_FAILURES: u32 = 3;
/// The first delay, doubled for each further wrong PIN.
pub const FIRST_DELAY_SECS: i64 = 30;
/// The longest delay.
pub const MAX_DELAY_SECS: i64 = 24 * 3600;
/// The shortest PIN accepted at enrolment unless the policy says more: 6 digits.
pub const DEFAULT_MIN_PIN_CHARS: usize = 6;
/// The count a tampered file is set to: the smallest one locked for [`MAX_DELAY_SECS`].
pub const TAMPERED_FAILURES: u32 = FREE_FAILURES + 12;

/// The PIN rules checked at enrolment. The one place the default lives; the desktop
/// may raise the minimum (`JSJB_PIN_MIN_LENGTH`, later the server's policy), never
/// lower it below [`DEFAULT_MIN_PIN_CHARS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinPolicy {
    /// The fewest characters (a PIN pad's digits) a PIN may have.
    pub min_chars: usize,
}

impl Default for PinPolicy {
    fn default() -> Self {
        PinPolicy {
            min_chars: DEFAULT_MIN_PIN_CHARS,
        }
    }
}

impl PinPolicy {
    /// A policy asking for at least `min_chars`, but never fewer than the default.
    pub fn at_least(min_chars: usize) -> PinPolicy {
        PinPolicy {
            min_chars: min_chars.max(DEFAULT_MIN_PIN_CHARS),
        }
    }

    pub fn check(&self, pin: &str) -> Result<(), KeyFileError> {
        if pin.chars().count() < self.min_chars {
            return Err(KeyFileError::WeakPin {
                min_chars: self.min_chars,
            });
        }
        Ok(())
    }
}

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
    /// Raised by one on every write of the count; the attempts file keeps the highest,
    /// so an older copy of this file put back is noticed.
    pub generation: u64,
    /// HMAC-SHA256 of the count (with the generation, bound to this key), under the
    /// attempts file's secret.
    pub attempts_mac_b64: String,
}

/// The attempts file beside a key file: the secret the count is MACed with and the
/// highest generation written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct AttemptsFile {
    format: String,
    secret_b64: String,
    generation: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("the PIN must have at least {min_chars} characters")]
    WeakPin { min_chars: usize },
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
    #[error(
        "the key file's wrong-PIN count was altered or its attempts file is missing: locked for {retry_after_secs} s"
    )]
    Tampered { retry_after_secs: u64 },
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
            KeyFileError::WeakPin { .. } => "pin_too_short",
            KeyFileError::Exists(_) => "key_file_exists",
            KeyFileError::WrongPin { .. } => "wrong_pin",
            KeyFileError::Locked { .. } => "pin_locked",
            KeyFileError::Tampered { .. } => "key_file_tampered",
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

    /// Encrypts a new key under `pin` (the count is not MACed yet: [`enrol`] does it).
    pub fn seal(
        signer: &SoftwareSigner,
        pin: &str,
        policy: PinPolicy,
        params: KdfParams,
        now: DateTime<Utc>,
    ) -> Result<KeyFile, KeyFileError> {
        policy.check(pin)?;
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
            generation: 0,
            attempts_mac_b64: String::new(),
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

    /// What the count's MAC covers: the count, its generation, and this very key file
    /// (its key, salt and ciphertext), so a count cannot be carried over from another.
    fn attempts_mac_input(&self) -> Vec<u8> {
        format!(
            "{ATTEMPTS_FORMAT}\n{}\n{}\n{}\ngeneration={}\nfailures={}\nlocked_until={}",
            self.public_key_pem,
            self.salt_b64,
            self.ciphertext_b64,
            self.generation,
            self.failures,
            self.locked_until
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
                .unwrap_or_default()
        )
        .into_bytes()
    }

    fn attempts_hmac(secret: &[u8]) -> Result<Hmac<Sha256>, KeyFileError> {
        <Hmac<Sha256> as Mac>::new_from_slice(secret)
            .map_err(|e| corrupt(format!("attempts secret: {e}")))
    }

    /// Sets the MAC of the count as it is now, under `secret`.
    fn seal_attempts(&mut self, secret: &[u8]) -> Result<(), KeyFileError> {
        let mut mac = Self::attempts_hmac(secret)?;
        mac.update(&self.attempts_mac_input());
        self.attempts_mac_b64 = B64.encode(mac.finalize().into_bytes());
        Ok(())
    }

    /// Whether the stored MAC is the count's under `secret` (compared in constant time).
    fn attempts_verify(&self, secret: &[u8]) -> bool {
        let Ok(stored) = B64.decode(&self.attempts_mac_b64) else {
            return false;
        };
        let Ok(mut mac) = Self::attempts_hmac(secret) else {
            return false;
        };
        mac.update(&self.attempts_mac_input());
        mac.verify_slice(&stored).is_ok()
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

/// How many more wrong PINs cost nothing after `failures` in a row (then each one waits).
pub fn free_tries_left(failures: u32) -> u32 {
    FREE_FAILURES.saturating_sub(failures)
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

/// One PIN attempt (or enrolment) at a time in this process: read, try and write of a
/// key file happen under it, so that parallel attempts each see the other's count.
/// The app runs as a single instance (tauri-plugin-single-instance), so a lock within
/// the process covers every attempt made through it.
static KEY_FILES: Mutex<()> = Mutex::new(());

/// The attempts file of the key file at `path` (`X.key.json` → `X.key.attempts.json`).
pub fn attempts_path(path: &Path) -> PathBuf {
    path.with_extension("attempts.json")
}

/// Reads a key file.
pub fn read(path: &Path) -> Result<KeyFile, KeyFileError> {
    let bytes = std::fs::read(path)?;
    serde_json::from_slice(&bytes).map_err(corrupt)
}

/// The attempts file, `None` when it is missing or unreadable (both read as tampered).
fn read_attempts(path: &Path) -> Option<(Zeroizing<Vec<u8>>, u64)> {
    let bytes = Zeroizing::new(std::fs::read(attempts_path(path)).ok()?);
    let file: AttemptsFile = serde_json::from_slice(&bytes).ok()?;
    let secret = Zeroizing::new(B64.decode(&file.secret_b64).ok()?);
    (file.format == ATTEMPTS_FORMAT && secret.len() == 32).then_some((secret, file.generation))
}

/// Creates the folder readable by this OS user only: mode 0700 on unix; on Windows an
/// explicit ACL that grants the owner alone, replacing what the app-data folder passes
/// down ([`restrict_to_owner`]).
fn private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)?;
    #[cfg(windows)]
    restrict_to_owner(&windows_icacls(), dir, true)?;
    Ok(())
}

/// The Windows ACL tool: `%SystemRoot%\System32\icacls.exe` by its full path, so that
/// a program of the same name earlier on `PATH` is never the one run.
#[cfg_attr(not(windows), allow(dead_code))]
fn windows_icacls() -> PathBuf {
    let root = std::env::var_os("SystemRoot").unwrap_or_else(|| "C:\\Windows".into());
    Path::new(&root).join("System32").join("icacls.exe")
}

/// The arguments that give `path` an ACL with one entry: full control for its owner
/// (the well-known SID `S-1-3-4`, OWNER RIGHTS, so no user name has to be looked up or
/// trusted from the environment), with inheritance from the parent removed. A folder's
/// entry is passed on to what is created in it (`(OI)(CI)`).
///
/// Why a tool and not the Win32 API: setting a security descriptor from Rust needs
/// `unsafe` (the workspace forbids it) or a Windows-only crate that this project's Linux
/// CI cannot build; `icacls` ships with every Windows since Vista.
fn owner_only_acl_args(path: &Path, is_dir: bool) -> Vec<std::ffi::OsString> {
    let grant = if is_dir {
        "*S-1-3-4:(OI)(CI)F"
    } else {
        "*S-1-3-4:F"
    };
    vec![
        path.as_os_str().to_owned(),
        "/inheritance:r".into(),
        "/grant:r".into(),
        grant.into(),
        "/q".into(),
    ]
}

/// Runs `icacls` on `path` and fails closed: a key file whose ACL could not be set is
/// never written (the caller removes the temporary file).
#[cfg_attr(not(windows), allow(dead_code))]
fn restrict_to_owner(icacls: &Path, path: &Path, is_dir: bool) -> std::io::Result<()> {
    let status = std::process::Command::new(icacls)
        .args(owner_only_acl_args(path, is_dir))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "could not restrict the key file's ACL to its owner ({status})"
        )))
    }
}

/// Writes `bytes` to `path` atomically: a new temporary file created with mode 0600 (on
/// Windows: given an owner-only ACL while still empty), so it is never readable by
/// others, not even for a moment; written, fsynced, renamed over `path` (a rename on
/// the same volume keeps the ACL), then the folder fsynced.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    private_dir(dir)?;
    let mut suffix = [0_u8; 6];
    OsRng.fill_bytes(&mut suffix);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", hex::encode(suffix)));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = (|| {
        let mut f = options.open(&tmp)?;
        // On Windows the ACL is set while the file is still empty, before the key is in it.
        #[cfg(windows)]
        restrict_to_owner(&windows_icacls(), &tmp, false)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    if let Ok(d) = std::fs::File::open(dir) {
        // Directory fsync is not possible everywhere (Windows); the rename is done anyway.
        let _ = d.sync_all();
    }
    Ok(())
}

/// Writes a key file as it is (its count's MAC is not recomputed). Atomic, mode 0600.
pub fn write(path: &Path, file: &KeyFile) -> Result<(), KeyFileError> {
    let json = serde_json::to_vec_pretty(file).map_err(corrupt)?;
    Ok(write_private(path, &json)?)
}

fn write_attempts(path: &Path, secret: &[u8], generation: u64) -> Result<(), KeyFileError> {
    let json = Zeroizing::new(
        serde_json::to_vec_pretty(&AttemptsFile {
            format: ATTEMPTS_FORMAT.to_owned(),
            secret_b64: B64.encode(secret),
            generation,
        })
        .map_err(corrupt)?,
    );
    Ok(write_private(&attempts_path(path), &json)?)
}

/// Writes the count: the next generation, MACed, into the key file first and then into
/// the attempts file (a crash in between leaves the key file one ahead, which reads as
/// untampered; the other way round could not be told from a copy put back).
fn persist(path: &Path, file: &mut KeyFile, secret: &[u8]) -> Result<(), KeyFileError> {
    file.generation = file.generation.saturating_add(1);
    file.seal_attempts(secret)?;
    write(path, file)?;
    write_attempts(path, secret, file.generation)
}

/// The key file with a count that can be trusted, or — after it was locked for the
/// longest delay because it was not — the refusal. Called under [`KEY_FILES`].
fn read_verified(path: &Path, now: DateTime<Utc>) -> Result<KeyFile, KeyFileError> {
    let mut file = read(path)?;
    if file.format != KEY_FILE_FORMAT {
        return Err(corrupt(format!(
            "unknown format {:?} (key files of an older version: revoke and enrol again)",
            file.format
        )));
    }
    let attempts = read_attempts(path);
    if let Some((secret, generation)) = &attempts
        && file.generation >= *generation
        && file.attempts_verify(secret)
    {
        return Ok(file);
    }
    // Edited, put back or its attempts file gone: never fewer wrong PINs than before,
    // and the longest delay from now. A new secret when the old one is gone.
    let (secret, generation) = attempts.unwrap_or_else(|| {
        let mut secret = Zeroizing::new(vec![0_u8; 32]);
        OsRng.fill_bytes(&mut secret);
        (secret, 0)
    });
    file.generation = file.generation.max(generation);
    file.failures = file.failures.max(TAMPERED_FAILURES);
    file.locked_until = Some(now + Duration::seconds(MAX_DELAY_SECS));
    persist(path, &mut file, &secret)?;
    Err(KeyFileError::Tampered {
        retry_after_secs: u64::try_from(MAX_DELAY_SECS).unwrap_or(u64::MAX),
    })
}

/// Enrolment: generates a key pair on this workstation, stores the private key under
/// `pin` at `path` (refusing to overwrite a key) with a fresh attempts file, and
/// returns the public key to register with the server (`POST /api/v1/keys`).
pub fn enrol(
    path: &Path,
    pin: &str,
    policy: PinPolicy,
    params: KdfParams,
    now: DateTime<Utc>,
) -> Result<PublicKey, KeyFileError> {
    let _one_at_a_time = KEY_FILES.lock().unwrap_or_else(PoisonError::into_inner);
    if path.exists() {
        return Err(KeyFileError::Exists(path.to_owned()));
    }
    let signer = SoftwareSigner::generate()?;
    let mut file = KeyFile::seal(&signer, pin, policy, params, now)?;
    let mut secret = Zeroizing::new(vec![0_u8; 32]);
    OsRng.fill_bytes(&mut secret);
    // The attempts file first: a key file never exists without the secret of its MAC.
    // (An attempts file left from a revoked key is replaced with the new key's.)
    file.generation = 1;
    file.seal_attempts(&secret)?;
    write_attempts(path, &secret, file.generation)?;
    write(path, &file)?;
    Ok(crate::signer::Signer::public_key(&signer).clone())
}

/// Unlocks the key at `path` with `pin` for one signing. A wrong PIN is counted in the
/// file before the error is returned; a right one clears the count. One attempt at a
/// time: parallel calls wait for each other, and each wrong PIN counts.
pub fn unlock(path: &Path, pin: &str, now: DateTime<Utc>) -> Result<SoftwareSigner, KeyFileError> {
    let _one_at_a_time = KEY_FILES.lock().unwrap_or_else(PoisonError::into_inner);
    let mut file = read_verified(path, now)?;
    let before = (file.failures, file.locked_until);
    let result = file.open(pin, now);
    if (file.failures, file.locked_until) != before {
        let (secret, _) = read_attempts(path)
            .ok_or_else(|| corrupt("the attempts file disappeared during the attempt"))?;
        persist(path, &mut file, &secret)?;
    }
    result
}

/// Seconds until a PIN attempt is allowed, from a count that can be trusted (a tampered
/// file is locked for the longest delay first). For the screen; [`unlock`] checks again.
pub fn pin_wait_secs(path: &Path, now: DateTime<Utc>) -> Result<u64, KeyFileError> {
    let _one_at_a_time = KEY_FILES.lock().unwrap_or_else(PoisonError::into_inner);
    match read_verified(path, now) {
        Ok(file) => Ok(file.wait_secs(now)),
        Err(KeyFileError::Tampered { retry_after_secs }) => Ok(retry_after_secs),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_windows_acl_grants_the_owner_alone_and_drops_inheritance() {
        let file = owner_only_acl_args(Path::new(r"C:\Users\chief\key.json"), false);
        assert_eq!(
            file,
            [
                r"C:\Users\chief\key.json",
                "/inheritance:r",
                "/grant:r",
                "*S-1-3-4:F",
                "/q"
            ]
            .map(std::ffi::OsString::from)
        );
        let dir = owner_only_acl_args(Path::new(r"C:\Users\chief"), true);
        assert_eq!(
            dir[3], "*S-1-3-4:(OI)(CI)F",
            "what is created inside inherits it"
        );
        assert!(windows_icacls().ends_with("System32/icacls.exe") || cfg!(windows));
    }

    /// The tool is run with exactly those arguments, and a failure refuses the write.
    #[cfg(unix)]
    #[test]
    fn setting_the_acl_runs_the_tool_and_fails_closed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("test setup");
        let log = dir.path().join("args");
        let fake = |name: &str, exit: u8| {
            let tool = dir.path().join(name);
            let script = format!(
                "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\nexit {exit}\n",
                log.display()
            );
            std::fs::write(&tool, script).expect("test setup");
            std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o700))
                .expect("test setup");
            tool
        };
        let target = dir.path().join("key.json");

        restrict_to_owner(&fake("icacls-ok", 0), &target, false).expect("the tool succeeded");
        let args = std::fs::read_to_string(&log).expect("test setup");
        assert_eq!(
            args.lines().collect::<Vec<_>>(),
            [
                target.to_str().expect("test setup"),
                "/inheritance:r",
                "/grant:r",
                "*S-1-3-4:F",
                "/q"
            ]
        );
        let refused = restrict_to_owner(&fake("icacls-fails", 5), &target, false);
        assert!(refused.is_err(), "a failed ACL must refuse the key file");
        let missing = restrict_to_owner(&dir.path().join("none"), &target, false);
        assert!(missing.is_err(), "no tool, no key file");
    }
}
