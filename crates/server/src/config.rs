//! Server configuration: command-line flags with environment fallbacks, validated once
//! at start so that a bad value stops the server with a message instead of surfacing
//! as odd behaviour later.

use std::net::SocketAddr;
use std::path::PathBuf;

use chrono::Duration;

#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// The database: an SQLite file (created if missing), or a PostgreSQL URL
    /// (`postgres://user:password@host:port/dbname`) for production and several nodes.
    // hide_env_values: a PostgreSQL URL in the environment carries the password, which
    // `--help` would otherwise print.
    #[arg(
        long,
        env = "JSJB_DB",
        default_value = "jsjb.sqlite3",
        global = true,
        hide_env_values = true
    )]
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

    /// The longest a login session lasts, in minutes, however much it is used (default
    /// 16 h: a 12-hour shift with its handover and some slack).
    #[arg(
        long,
        env = "JSJB_SESSION_TTL_MINUTES",
        default_value_t = 960,
        global = true
    )]
    pub session_ttl_minutes: u32,

    /// A session not used for this many minutes ends (default 4 h). Every request and
    /// an open event stream count as use, so a desktop that is running stays signed in.
    #[arg(
        long,
        env = "JSJB_SESSION_IDLE_MINUTES",
        default_value_t = 240,
        global = true
    )]
    pub session_idle_minutes: u32,

    /// Failed logins in a row after which an account (or an unknown user name, alike)
    /// is locked.
    #[arg(
        long,
        env = "JSJB_LOCKOUT_THRESHOLD",
        default_value_t = 5,
        global = true
    )]
    pub lockout_threshold: u32,

    /// The longest lock-out, in minutes: each lock-out of the same account lasts twice
    /// the one before, from `--lockout-first-seconds` up to this. Also the window of
    /// the per-address limit.
    #[arg(
        long,
        env = "JSJB_LOCKOUT_MINUTES",
        default_value_t = 15,
        global = true
    )]
    pub lockout_minutes: u32,

    /// The first lock-out of an account, in seconds (doubled by each further one).
    #[arg(
        long,
        env = "JSJB_LOCKOUT_FIRST_SECONDS",
        default_value_t = 60,
        global = true
    )]
    pub lockout_first_seconds: u32,

    /// Failed logins from one client address (an IPv6 /64) within the lock-out window
    /// after which that address's further wrong guesses are slowed to one at a time and
    /// answered `too_many_attempts` (guards against trying many accounts from one
    /// place). A correct password from the address is still let in.
    #[arg(long, env = "JSJB_LOGIN_IP_LIMIT", default_value_t = 30, global = true)]
    pub login_ip_limit: u32,

    /// Reverse proxies whose `X-Forwarded-For` is believed, as addresses or CIDR
    /// blocks separated by commas (`10.0.0.5,fd00::/8`). Empty: the TCP peer is the
    /// client, and the header is ignored.
    #[arg(
        long,
        env = "JSJB_TRUSTED_PROXIES",
        value_delimiter = ',',
        global = true
    )]
    pub trusted_proxies: Vec<crate::cidr::Cidr>,

    /// Threads that check passwords (argon2id). Default: one per CPU core. Logins
    /// queue for these, never for the threads the database reads run on.
    #[arg(long, env = "JSJB_ARGON2_WORKERS", global = true)]
    pub argon2_workers: Option<usize>,

    /// Password checks that may wait for a thread; a login beyond them is answered
    /// 503 `busy` with Retry-After at once.
    #[arg(long, env = "JSJB_ARGON2_QUEUE", default_value_t = 64, global = true)]
    pub argon2_queue: usize,

    /// Argon2id memory cost in KiB for new password hashes. The default is OWASP's
    /// minimum recommendation (19 MiB, t=2, p=1); tests lower it to stay fast.
    #[arg(
        long,
        env = "JSJB_ARGON2_MEMORY_KIB",
        default_value_t = 19_456,
        global = true
    )]
    pub argon2_memory_kib: u32,

    /// The problem classes (问题分类) desks tag letters with, separated by commas; served
    /// to the desktops with the signed-in user (`Me.problem_classes`) and checked on every
    /// reclassification. Default: the 18 classes the bureau tracks.
    #[arg(
        long,
        env = "JSJB_PROBLEM_CLASSES",
        value_delimiter = ',',
        default_values_t = crate::reference::default_problem_classes(),
        global = true
    )]
    pub problem_classes: Vec<String>,

    /// Automatic routing rules: a JSON file `{"rules": [{"name", "categories",
    /// "keywords", "to_unit"}]}` (see `routing.rs`). None: the desks route by hand.
    #[arg(long, env = "JSJB_ROUTING", global = true)]
    pub routing: Option<PathBuf>,

    /// The clock rules: a JSON file `{"eras": [{"from", "policy"}], "calendar": [{"year",
    /// "provisional", "holidays", "makeup_days"}]}` (print the built-in ones with
    /// `jsjb-server rules`; see `clock_rules.rs`). None: the built-in Shenzhen rules.
    #[arg(long, env = "JSJB_RULES", global = true)]
    pub rules: Option<PathBuf>,

    /// The server's own SM2 key that signs the audit chain's head (PKCS#8 PEM, mode
    /// 0600; generated at first start). Default: beside the database,
    /// `<db>.audit-key.pem`. Keep it where whoever can rewrite the database cannot.
    #[arg(long, env = "JSJB_AUDIT_KEY", global = true)]
    pub audit_key: Option<PathBuf>,

    /// The citizen endpoints: limits, WeChat and Weibo (see `citizen.rs`).
    #[command(flatten)]
    pub citizen: crate::citizen::config::CitizenConfig,

    /// Time limits on connections and requests, and the housekeeping of old rows.
    #[command(flatten)]
    pub limits: Limits,

    /// Scheduled backups while serving (see `backup.rs`).
    #[command(flatten)]
    pub backup: crate::backup::settings::BackupSchedule,

    /// Who may read `/metrics` (see `telemetry.rs`).
    #[command(flatten)]
    pub metrics: crate::telemetry::access::MetricsConfig,
}

/// How long a client may take, and how long the server keeps idempotency answers.
/// A slow or stalled client must not hold a connection, a task or a citizen
/// concurrency slot for long; see `crate::serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct Limits {
    /// Seconds a client has to send a request's headers; also how long an idle
    /// keep-alive connection stays open.
    #[arg(
        long,
        env = "JSJB_HEADER_TIMEOUT_SECS",
        default_value_t = 30,
        global = true
    )]
    pub header_timeout_secs: u64,
    /// Seconds a request body may go without sending a byte (a stalled upload).
    #[arg(
        long,
        env = "JSJB_BODY_IDLE_TIMEOUT_SECS",
        default_value_t = 30,
        global = true
    )]
    pub body_idle_timeout_secs: u64,
    /// Seconds from a request's headers to its response: the whole upload and the
    /// handler. Streams (SSE) are bounded by this only until their first byte.
    #[arg(
        long,
        env = "JSJB_REQUEST_TIMEOUT_SECS",
        default_value_t = 300,
        global = true
    )]
    pub request_timeout_secs: u64,
    /// Seconds a response may wait for the client to read it (a client that stops
    /// reading, an SSE stream nobody drains) before the connection is dropped.
    #[arg(
        long,
        env = "JSJB_WRITE_TIMEOUT_SECS",
        default_value_t = 60,
        global = true
    )]
    pub write_timeout_secs: u64,
    /// Days an action's answer is kept under its idempotency key. A desktop retrying
    /// later than this gets `stale_version` instead of the first answer (its action
    /// carries the letter version it saw, so it is never applied twice).
    #[arg(
        long,
        env = "JSJB_IDEMPOTENCY_RETENTION_DAYS",
        default_value_t = 7,
        global = true
    )]
    pub idempotency_retention_days: u32,
    /// Idempotency answers kept per user at most (the newest); older ones go first.
    #[arg(
        long,
        env = "JSJB_IDEMPOTENCY_PER_USER",
        default_value_t = 10_000,
        global = true
    )]
    pub idempotency_per_user: u32,
    /// Seconds between runs of the housekeeping task (idempotency pruning).
    #[arg(
        long,
        env = "JSJB_MAINTENANCE_INTERVAL_SECS",
        default_value_t = 3600,
        global = true
    )]
    pub maintenance_interval_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout_secs: 30,
            body_idle_timeout_secs: 30,
            request_timeout_secs: 300,
            write_timeout_secs: 60,
            idempotency_retention_days: 7,
            idempotency_per_user: 10_000,
            maintenance_interval_secs: 3600,
        }
    }
}

impl Limits {
    pub fn header_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.header_timeout_secs)
    }

    pub fn body_idle_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.body_idle_timeout_secs)
    }

    pub fn request_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.request_timeout_secs)
    }

    pub fn write_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.write_timeout_secs)
    }

    pub fn maintenance_interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.maintenance_interval_secs)
    }

    pub fn idempotency_retention(&self) -> Duration {
        Duration::days(i64::from(self.idempotency_retention_days))
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let secs = |name: &'static str, value: u64, max: u64| {
            if (1..=max).contains(&value) {
                Ok(())
            } else {
                Err(ConfigError::Limit { name, value, max })
            }
        };
        secs("header timeout (s)", self.header_timeout_secs, 600)?;
        secs("body idle timeout (s)", self.body_idle_timeout_secs, 600)?;
        secs("request timeout (s)", self.request_timeout_secs, 3600)?;
        secs("write timeout (s)", self.write_timeout_secs, 600)?;
        secs(
            "maintenance interval (s)",
            self.maintenance_interval_secs,
            86_400,
        )?;
        secs(
            "idempotency retention (days)",
            u64::from(self.idempotency_retention_days),
            365,
        )?;
        if self.idempotency_per_user < 100 {
            return Err(ConfigError::Limit {
                name: "idempotency answers per user (at least 100)",
                value: u64::from(self.idempotency_per_user),
                max: u64::from(u32::MAX),
            });
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("the SMS gateway: {0}")]
    Sms(String),
    #[error("WeChat: {0}")]
    Wechat(String),
    #[error("session TTL must be between 1 minute and 30 days, got {0} minutes")]
    SessionTtl(u32),
    #[error("the session idle time must be between 1 minute and the session TTL, got {0} minutes")]
    SessionIdle(u32),
    #[error("lock-out threshold must be at least 1 failed login, got {0}")]
    LockoutThreshold(u32),
    #[error("lock-out duration must be between 1 minute and 1 day, got {0} minutes")]
    LockoutMinutes(u32),
    #[error(
        "the first lock-out must be between 1 second and the longest lock-out ({max_secs} s), got {secs} s"
    )]
    LockoutFirst { secs: u32, max_secs: u32 },
    #[error("argon2 workers must be between 1 and 256, got {0}")]
    Argon2Workers(usize),
    #[error("the argon2 queue must hold between 1 and 100000 checks, got {0}")]
    Argon2Queue(usize),
    #[error(
        "the per-address login limit must be at least the per-account threshold ({threshold}), got {limit}"
    )]
    IpLimit { limit: u32, threshold: u32 },
    #[error("argon2 memory cost must be between 64 KiB and 1 GiB, got {0} KiB")]
    Argon2Memory(u32),
    #[error(
        "the problem classes must be 1 to {max} distinct names of 1 to {max_chars} characters: {0}",
        max = crate::reference::MAX_PROBLEM_CLASSES,
        max_chars = jsjb_core::letter::MAX_TAG_CHARS
    )]
    ProblemClasses(String),
    #[error("the database file and the blob directory must be different paths ({0})")]
    SamePath(String),
    #[error("the backup directory must be outside the blob directory and the database ({0})")]
    BackupDir(String),
    #[error(
        "on PostgreSQL the audit key has no database file to sit beside: give --audit-key \
         (JSJB_AUDIT_KEY), the same file on every node, kept where whoever can rewrite the \
         database cannot"
    )]
    AuditKeyRequired,
    #[error(
        "the server's own backups copy an SQLite file; on PostgreSQL use pg_basebackup with WAL \
         archiving and back up the blob directory beside it (README, Deployment)"
    )]
    BackupOnPostgres,
    #[error("the {name} must be between 1 and {max}, got {value}")]
    Limit {
        name: &'static str,
        value: u64,
        max: u64,
    },
}

/// The storage backend a configuration names (`Config::database`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Config {
    /// A configuration for a database and blob directory with every other value at
    /// its default; used by tests and tools that build a server in-process.
    pub fn new(db: PathBuf, blob_dir: PathBuf) -> Self {
        Config {
            db,
            blob_dir,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            session_ttl_minutes: 960,
            session_idle_minutes: 240,
            lockout_threshold: 5,
            lockout_minutes: 15,
            lockout_first_seconds: 60,
            login_ip_limit: 30,
            trusted_proxies: Vec::new(),
            argon2_workers: None,
            argon2_queue: 64,
            argon2_memory_kib: 19_456,
            routing: None,
            rules: None,
            problem_classes: crate::reference::default_problem_classes(),
            audit_key: None,
            citizen: crate::citizen::config::CitizenConfig::default(),
            limits: Limits::default(),
            backup: crate::backup::settings::BackupSchedule::default(),
            metrics: crate::telemetry::access::MetricsConfig::default(),
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.citizen.sms.provider == crate::citizen::config::SmsProvider::Aliyun {
            crate::citizen::aliyun_sms::AliyunSms::new(&self.citizen.sms)
                .map_err(|e| ConfigError::Sms(e.to_string()))?;
        }
        self.citizen.wechat_crypt().map_err(ConfigError::Wechat)?;
        self.citizen.wechat_api().map_err(ConfigError::Wechat)?;
        if !(1..=30 * 24 * 60).contains(&self.session_ttl_minutes) {
            return Err(ConfigError::SessionTtl(self.session_ttl_minutes));
        }
        if !(1..=self.session_ttl_minutes).contains(&self.session_idle_minutes) {
            return Err(ConfigError::SessionIdle(self.session_idle_minutes));
        }
        if self.lockout_threshold == 0 {
            return Err(ConfigError::LockoutThreshold(self.lockout_threshold));
        }
        if !(1..=24 * 60).contains(&self.lockout_minutes) {
            return Err(ConfigError::LockoutMinutes(self.lockout_minutes));
        }
        let max_secs = self.lockout_minutes.saturating_mul(60);
        if !(1..=max_secs).contains(&self.lockout_first_seconds) {
            return Err(ConfigError::LockoutFirst {
                secs: self.lockout_first_seconds,
                max_secs,
            });
        }
        if !(1..=256).contains(&self.argon2_workers()) {
            return Err(ConfigError::Argon2Workers(self.argon2_workers()));
        }
        if !(1..=100_000).contains(&self.argon2_queue) {
            return Err(ConfigError::Argon2Queue(self.argon2_queue));
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
        if matches!(self.database(), Database::Postgres(_)) {
            if self.audit_key.is_none() {
                return Err(ConfigError::AuditKeyRequired);
            }
            if self.backup.dir.is_some() {
                return Err(ConfigError::BackupOnPostgres);
            }
        }
        if self.audit_key_path() == self.db {
            return Err(ConfigError::SamePath(self.db.display().to_string()));
        }
        if self.db == self.blob_dir {
            return Err(ConfigError::SamePath(self.db.display().to_string()));
        }
        if let Some(dir) = &self.backup.dir {
            if dir.starts_with(&self.blob_dir) || dir == &self.db {
                return Err(ConfigError::BackupDir(dir.display().to_string()));
            }
        }
        self.limits.validate()?;
        if let Some(chars) = self.metrics.bad_token_length() {
            return Err(ConfigError::Limit {
                name: "metrics token's length (at least 16 characters)",
                value: chars as u64,
                max: crate::telemetry::access::MAX_TOKEN_BYTES as u64,
            });
        }
        crate::reference::check_problem_classes(&self.problem_classes)
            .map_err(ConfigError::ProblemClasses)?;
        Ok(())
    }

    /// Which backend `db` names: a `postgres://` or `postgresql://` URL, else a file.
    pub fn database(&self) -> Database {
        let text = self.db.to_string_lossy();
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Database::Postgres(text.into_owned())
        } else {
            Database::Sqlite(self.db.clone())
        }
    }

    /// The database as it may be logged: a URL without its password.
    pub fn database_label(&self) -> String {
        match self.database() {
            Database::Sqlite(path) => path.display().to_string(),
            Database::Postgres(url) => jsjb_storage_postgres::url_label(&url),
        }
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

    pub fn session_idle(&self) -> Duration {
        Duration::minutes(i64::from(self.session_idle_minutes))
    }

    /// The longest lock-out, and the window of the per-address limit.
    pub fn lockout_duration(&self) -> Duration {
        Duration::minutes(i64::from(self.lockout_minutes))
    }

    pub fn lockout_first(&self) -> Duration {
        Duration::seconds(i64::from(self.lockout_first_seconds))
    }

    /// The password-checking threads: as configured, or one per core.
    pub fn argon2_workers(&self) -> usize {
        self.argon2_workers.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_postgres_url_selects_postgres_and_is_logged_without_its_password() {
        let file = Config::new("data/jsjb.sqlite3".into(), "blobs".into());
        assert_eq!(
            file.database(),
            Database::Sqlite("data/jsjb.sqlite3".into())
        );
        let mut pg = Config::new(
            "postgres://jsjb:s3cret@db.internal:5432/jsjb".into(),
            "/srv/blobs".into(),
        );
        assert_eq!(
            pg.database(),
            Database::Postgres("postgres://jsjb:s3cret@db.internal:5432/jsjb".to_owned())
        );
        assert_eq!(pg.database_label(), "postgres://jsjb@db.internal:5432/jsjb");
        // However the URL carries the password, the label does not.
        for url in [
            "postgres://jsjb:s3cret@db.internal:5432/jsjb",
            "postgres://jsjb:s3c/ret@db.internal/jsjb",
            "postgres://jsjb:s3c?ret@db.internal/jsjb",
            "postgres://jsjb@db.internal/jsjb?password=s3cret",
            "postgresql://jsjb@db.internal/jsjb?sslmode=disable&password=s3cret",
            "postgres://jsjb:s3cret@db-a:5432,db-b:5433/jsjb?target_session_attrs=read-write",
        ] {
            let label = Config::new(url.into(), "blobs".into()).database_label();
            assert!(!label.contains("s3c"), "{url} is shown as {label}");
        }
        let two = Config::new(
            "postgres://jsjb:s3cret@db-a:5432,db-b:5433/jsjb".into(),
            "blobs".into(),
        );
        assert_eq!(
            two.database_label(),
            "postgres://jsjb@db-a:5432,db-b:5433/jsjb"
        );
        // No database file to put the audit key beside: it must be named.
        assert_eq!(pg.validate(), Err(ConfigError::AuditKeyRequired));
        pg.audit_key = Some("/etc/jsjb/audit-key.pem".into());
        assert_eq!(pg.validate(), Ok(()));
        // The server's own backups copy an SQLite file.
        pg.backup.dir = Some("/srv/backups".into());
        assert_eq!(pg.validate(), Err(ConfigError::BackupOnPostgres));
        let bare = Config::new("postgresql://db/jsjb".into(), "blobs".into());
        assert_eq!(bare.database_label(), "postgres://db:5432/jsjb");
    }

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        let mut c = Config::new("a.db".into(), "blobs".into());
        assert_eq!(c.validate(), Ok(()));
        c.session_ttl_minutes = 0;
        assert_eq!(c.validate(), Err(ConfigError::SessionTtl(0)));
        c.session_ttl_minutes = 60;
        // The idle time may not exceed the longest session.
        assert_eq!(c.validate(), Err(ConfigError::SessionIdle(240)));
        c.session_idle_minutes = 60;
        c.login_ip_limit = 2;
        assert!(matches!(c.validate(), Err(ConfigError::IpLimit { .. })));
        c.login_ip_limit = 30;
        c.lockout_first_seconds = 15 * 60 + 1;
        assert!(matches!(
            c.validate(),
            Err(ConfigError::LockoutFirst { .. })
        ));
        c.lockout_first_seconds = 60;
        c.argon2_workers = Some(0);
        assert_eq!(c.validate(), Err(ConfigError::Argon2Workers(0)));
    }

    #[test]
    fn trusted_proxies_are_parsed_and_checked_at_start() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            config: Config,
        }
        use clap::Parser;
        let cli = Cli::try_parse_from(["x", "--trusted-proxies", "10.0.0.5,fd00::/8"])
            .expect("valid list");
        assert_eq!(cli.config.trusted_proxies.len(), 2);
        assert!(Cli::try_parse_from(["x", "--trusted-proxies", "10.0.0.5,proxy"]).is_err());
        assert!(Cli::try_parse_from(["x", "--trusted-proxies", "0.0.0.0/0"]).is_err());
    }

    #[test]
    fn limits_out_of_range_are_named() {
        let mut c = Config::new("a.db".into(), "blobs".into());
        c.limits.header_timeout_secs = 0;
        assert!(matches!(
            c.validate(),
            Err(ConfigError::Limit { value: 0, .. })
        ));
        c.limits.header_timeout_secs = 30;
        c.limits.idempotency_retention_days = 0;
        assert!(matches!(c.validate(), Err(ConfigError::Limit { .. })));
        c.limits.idempotency_retention_days = 7;
        c.limits.idempotency_per_user = 10;
        assert!(matches!(c.validate(), Err(ConfigError::Limit { .. })));
        c.limits.idempotency_per_user = 10_000;
        assert_eq!(c.validate(), Ok(()));
    }
}
