//! Server configuration: command-line flags with environment fallbacks, validated once
//! at start so that a bad value stops the server with a message instead of surfacing
//! as odd behaviour later.

use std::net::SocketAddr;
use std::path::PathBuf;

use chrono::Duration;

#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// The SQLite database file (created if missing).
    #[arg(long, env = "JSJB_DB", default_value = "jsjb.sqlite3", global = true)]
    pub db: PathBuf,

    /// Directory of the content-addressed attachment store (created if missing).
    #[arg(long, env = "JSJB_BLOB_DIR", default_value = "blobs", global = true)]
    pub blob_dir: PathBuf,

    /// Address to listen on.
    #[arg(
        long,
        env = "JSJB_LISTEN",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub listen: SocketAddr,

    /// How long a login session lasts, in minutes (default 12 h).
    #[arg(
        long,
        env = "JSJB_SESSION_TTL_MINUTES",
        default_value_t = 720,
        global = true
    )]
    pub session_ttl_minutes: u32,

    /// Failed logins in a row after which an account is locked.
    #[arg(
        long,
        env = "JSJB_LOCKOUT_THRESHOLD",
        default_value_t = 5,
        global = true
    )]
    pub lockout_threshold: u32,

    /// How long a locked account stays locked, in minutes; also the window of the
    /// per-address limit.
    #[arg(
        long,
        env = "JSJB_LOCKOUT_MINUTES",
        default_value_t = 15,
        global = true
    )]
    pub lockout_minutes: u32,

    /// Failed logins from one address within the lock-out window after which that
    /// address is refused (guards against trying many accounts from one place).
    #[arg(long, env = "JSJB_LOGIN_IP_LIMIT", default_value_t = 30, global = true)]
    pub login_ip_limit: u32,

    /// Argon2id memory cost in KiB for new password hashes. The default is OWASP's
    /// minimum recommendation (19 MiB, t=2, p=1); tests lower it to stay fast.
    #[arg(
        long,
        env = "JSJB_ARGON2_MEMORY_KIB",
        default_value_t = 19_456,
        global = true
    )]
    pub argon2_memory_kib: u32,

    /// Automatic routing rules: a JSON file `{"rules": [{"name", "categories",
    /// "keywords", "to_unit"}]}` (see `routing.rs`). None: the desks route by hand.
    #[arg(long, env = "JSJB_ROUTING", global = true)]
    pub routing: Option<PathBuf>,

    /// The server's own SM2 key that signs the audit chain's head (PKCS#8 PEM, mode
    /// 0600; generated at first start). Default: beside the database,
    /// `<db>.audit-key.pem`. Keep it where whoever can rewrite the database cannot.
    #[arg(long, env = "JSJB_AUDIT_KEY", global = true)]
    pub audit_key: Option<PathBuf>,

    /// The citizen endpoints: limits, WeChat and Weibo (see `citizen.rs`).
    #[command(flatten)]
    pub citizen: crate::citizen::CitizenConfig,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("session TTL must be between 1 minute and 30 days, got {0} minutes")]
    SessionTtl(u32),
    #[error("lock-out threshold must be at least 1 failed login, got {0}")]
    LockoutThreshold(u32),
    #[error("lock-out duration must be between 1 minute and 1 day, got {0} minutes")]
    LockoutMinutes(u32),
    #[error(
        "the per-address login limit must be at least the per-account threshold ({threshold}), got {limit}"
    )]
    IpLimit { limit: u32, threshold: u32 },
    #[error("argon2 memory cost must be between 64 KiB and 1 GiB, got {0} KiB")]
    Argon2Memory(u32),
    #[error("the database file and the blob directory must be different paths ({0})")]
    SamePath(String),
}

impl Config {
    /// A configuration for a database and blob directory with every other value at
    /// its default; used by tests and tools that build a server in-process.
    pub fn new(db: PathBuf, blob_dir: PathBuf) -> Self {
        Config {
            db,
            blob_dir,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            session_ttl_minutes: 720,
            lockout_threshold: 5,
            lockout_minutes: 15,
            login_ip_limit: 30,
            argon2_memory_kib: 19_456,
            routing: None,
            audit_key: None,
            citizen: crate::citizen::CitizenConfig::default(),
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=30 * 24 * 60).contains(&self.session_ttl_minutes) {
            return Err(ConfigError::SessionTtl(self.session_ttl_minutes));
        }
        if self.lockout_threshold == 0 {
            return Err(ConfigError::LockoutThreshold(self.lockout_threshold));
        }
        if !(1..=24 * 60).contains(&self.lockout_minutes) {
            return Err(ConfigError::LockoutMinutes(self.lockout_minutes));
        }
        if self.login_ip_limit < self.lockout_threshold {
            return Err(ConfigError::IpLimit {
                limit: self.login_ip_limit,
                threshold: self.lockout_threshold,
            });
        }
        if !(64..=1024 * 1024).contains(&self.argon2_memory_kib) {
            return Err(ConfigError::Argon2Memory(self.argon2_memory_kib));
        }
        if self.audit_key_path() == self.db {
            return Err(ConfigError::SamePath(self.db.display().to_string()));
        }
        if self.db == self.blob_dir {
            return Err(ConfigError::SamePath(self.db.display().to_string()));
        }
        Ok(())
    }

    /// Where the audit key is: `--audit-key`, or `<db>.audit-key.pem` beside the database.
    pub fn audit_key_path(&self) -> PathBuf {
        match &self.audit_key {
            Some(path) => path.clone(),
            None => {
                let mut name = self.db.file_name().unwrap_or_default().to_os_string();
                name.push(".audit-key.pem");
                self.db.with_file_name(name)
            }
        }
    }

    pub fn session_ttl(&self) -> Duration {
        Duration::minutes(i64::from(self.session_ttl_minutes))
    }

    pub fn lockout_duration(&self) -> Duration {
        Duration::minutes(i64::from(self.lockout_minutes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        let mut c = Config::new("a.db".into(), "blobs".into());
        assert_eq!(c.validate(), Ok(()));
        c.session_ttl_minutes = 0;
        assert_eq!(c.validate(), Err(ConfigError::SessionTtl(0)));
        c.session_ttl_minutes = 60;
        c.login_ip_limit = 2;
        assert!(matches!(c.validate(), Err(ConfigError::IpLimit { .. })));
    }
}
