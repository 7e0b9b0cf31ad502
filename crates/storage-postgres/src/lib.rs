//! The PostgreSQL backend of the storage seam (`jsjb_storage::Storage`), for production:
//! one database (replicated, with failover, outside this crate) shared by several server
//! nodes. It passes the same conformance suite as the embedded SQLite backend.
//!
//! **One writer at a time, across every node.** Each mutating transaction first takes
//! the transaction-level advisory lock [`WRITE_LOCK`] (`begin_write`), then reads and
//! writes at READ COMMITTED, so every statement after the lock sees everything committed
//! before it. This is what the SQLite backend's single writer thread gives, and the
//! seam relies on it twice:
//! - the audit chain: each entry hashes the one before, so entries are appended one
//!   transaction at a time;
//! - the sync cursor contract (`Storage::sync_page`): change sequence numbers are drawn
//!   under the lock and PostgreSQL releases a transaction's locks only after its commit
//!   is durable and visible, so numbers become visible in order. A sync page is read in
//!   one REPEATABLE READ snapshot, which therefore holds a prefix of the changes, and its
//!   `next_cursor` comes from that same snapshot.
//!
//! Reads take no lock, and neither do the citizen side's codes, tickets and rate-limit
//! buckets (`citizen_tokens.rs`): they touch neither the chain nor the changes, and row
//! locks keep each of them atomic. Times are `timestamptz`; enums are text, as in SQLite.

pub mod audit;
mod cached;
mod citizen;
mod citizen_tokens;
mod handovers;
pub mod import;
mod intake;
mod letters;
pub mod listen;
mod logins;
pub mod migrations;
mod notices;
mod orgs;
mod reports;
mod signoff;
#[cfg(feature = "test-support")]
pub mod testing;
mod users;
mod writer_notices;

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use jsjb_core::letter::{Channel, LetterId};
use jsjb_core::org::{Tier, Unit, UnitId, UserId};
use tokio_postgres::error::SqlState;
use tokio_postgres::{IsolationLevel, NoTls};

use jsjb_storage::{
    ActionCommit, ActionOutcome, Actor, CreatedLetter, Credentials, DecideFn, Draft, DraftMessage,
    DraftOutcome, LockoutPolicy, LoginAttempt, NewLetter, NewSession, NewUnit, NewUser,
    ProgressRecord, Rating, SavedClockRules, SavedRoutingRules, SessionRecord, Storage,
    StorageError, SyncBatch, UnitMoved, UserChange, UserChanged, UserRecord,
};

/// The advisory lock every write transaction holds until it ends (see the crate doc).
/// An arbitrary constant: "jsjb" in ASCII.
pub const WRITE_LOCK: i64 = 0x6a73_6a62;

/// Connections a node keeps. Writes run one at a time anyway (the lock); the rest serve
/// reads: sync pages, sessions, letters.
const POOL_SIZE: usize = 16;

/// Writers a node lets wait for [`WRITE_LOCK`] at once. Each holds a connection while
/// it waits; capped below [`POOL_SIZE`] so a burst of writes (an intake flood) never
/// takes every connection and leaves the desks' reads with none.
const WRITERS: usize = POOL_SIZE / 2;

/// How long a request waits for a pooled connection, and for a new one to be made,
/// before it is answered with an error instead of hanging (a database that fails over
/// takes seconds; a client that waits minutes has given up long before).
const POOL_WAIT: Duration = Duration::from_secs(10);

/// Set on every connection unless the URL sets them itself: a write waiting for a lock
/// longer than `lock_timeout` fails (and is retried by its caller) instead of hanging
/// behind a stuck node; a node that dies inside a transaction has it ended after
/// `idle_in_transaction_session_timeout`, releasing [`WRITE_LOCK`] for the others.
const SESSION_SETTINGS: [(&str, &str); 2] = [
    ("lock_timeout", "20s"),
    ("idle_in_transaction_session_timeout", "30s"),
];

/// The connection's own time limits: to connect, and for a peer that vanished without
/// closing (a failed-over primary, a dropped route) to be noticed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(20);
const KEEPALIVE_IDLE: Duration = Duration::from_secs(20);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
const KEEPALIVE_RETRIES: u32 = 3;

/// PostgreSQL's own error as the seam's [`StorageError::Backend`]: the seam knows no
/// driver, so conversions are written here, once, as `.db()?`.
pub trait Db<T> {
    fn db(self) -> Result<T, StorageError>;
}

impl<T> Db<T> for Result<T, tokio_postgres::Error> {
    fn db(self) -> Result<T, StorageError> {
        self.map_err(backend)
    }
}

pub fn backend(e: tokio_postgres::Error) -> StorageError {
    StorageError::Backend(Box::new(PgError::from(&e)))
}

/// A PostgreSQL error as it may be logged: its code, message and the names of what it
/// concerns, never its DETAIL or HINT, which quote row values (a unique violation's
/// DETAIL names the duplicate key: a user name, a phone number).
#[derive(Debug)]
pub struct PgError {
    text: String,
    /// The SQLSTATE, for an error the database raised.
    sqlstate: Option<String>,
}

impl PgError {
    pub(crate) fn new(text: impl Into<String>) -> PgError {
        PgError {
            text: text.into(),
            sqlstate: None,
        }
    }

    /// Whether the error is about the data of the statement that raised it — a data
    /// exception (class 22) or a broken constraint (class 23) — rather than about the
    /// connection, a lock or the server: another statement could well succeed.
    pub fn is_about_the_data(&self) -> bool {
        self.sqlstate
            .as_deref()
            .is_some_and(|code| code.starts_with("22") || code.starts_with("23"))
    }
}

impl From<&tokio_postgres::Error> for PgError {
    fn from(e: &tokio_postgres::Error) -> PgError {
        let Some(db) = e.as_db_error() else {
            // The driver's own errors (I/O, protocol, conversions) carry no row data.
            return PgError::new(match std::error::Error::source(e) {
                Some(cause) => format!("{e}: {cause}"),
                None => e.to_string(),
            });
        };
        let mut text = format!(
            "db error {} ({}): {}",
            db.code().code(),
            db.severity(),
            db.message()
        );
        for (what, name) in [
            ("table", db.table()),
            ("column", db.column()),
            ("constraint", db.constraint()),
        ] {
            if let Some(name) = name {
                text.push_str(&format!(", {what} {name}"));
            }
        }
        PgError {
            text,
            sqlstate: Some(db.code().code().to_owned()),
        }
    }
}

impl std::fmt::Display for PgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for PgError {}

/// The database URL as it may be shown (logs, errors, `--help`): user, hosts, ports and
/// database name only — never the password, wherever the URL put it (`user:pw@`,
/// `?password=`), and none of the other parameters.
pub fn url_label(url: &str) -> String {
    let Ok(config) = tokio_postgres::Config::from_str(url) else {
        return "postgres://(a URL that does not parse)".to_owned();
    };
    let ports = config.get_ports();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let host = match host {
                tokio_postgres::config::Host::Tcp(name) => name.clone(),
                #[cfg(unix)]
                tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
            };
            match ports.get(i).or(ports.first()) {
                Some(port) => format!("{host}:{port}"),
                None => host,
            }
        })
        .collect();
    let user = config
        .get_user()
        .map(|u| format!("{u}@"))
        .unwrap_or_default();
    format!(
        "postgres://{user}{}/{}",
        hosts.join(","),
        config.get_dbname().unwrap_or("")
    )
}

/// The connection settings of [`PgStore::open`]: the URL's, with the time limits above
/// wherever the URL does not set its own.
fn connection_config(url: &str) -> Result<tokio_postgres::Config, StorageError> {
    let mut config = tokio_postgres::Config::from_str(url).map_err(|_| {
        StorageError::Migration(format!(
            "the database URL does not parse: {}",
            url_label(url)
        ))
    })?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_tcp_user_timeout().is_none() {
        config.tcp_user_timeout(TCP_USER_TIMEOUT);
    }
    if config.get_keepalives_interval().is_none() {
        config
            .keepalives(true)
            .keepalives_idle(KEEPALIVE_IDLE)
            .keepalives_interval(KEEPALIVE_INTERVAL)
            .keepalives_retries(KEEPALIVE_RETRIES);
    }
    let mut options = config.get_options().unwrap_or("").to_owned();
    for (name, value) in SESSION_SETTINGS {
        // The setting itself (`lock_timeout=`), not one whose name ends in it
        // (`deadlock_timeout=`).
        let set = options.split_whitespace().any(|part| {
            // `-c name=value`, `-cname=value` or `--name=value`, as libpq takes them.
            let part = part
                .strip_prefix("--")
                .or_else(|| part.strip_prefix("-c"))
                .unwrap_or(part);
            part.starts_with(&format!("{name}="))
        });
        if !set {
            if !options.is_empty() {
                options.push(' ');
            }
            options.push_str(&format!("-c {name}={value}"));
        }
    }
    config.options(options);
    Ok(config)
}

pub(crate) fn corrupt(what: impl Into<String>) -> StorageError {
    StorageError::Corrupt(what.into())
}

/// Whether `e` broke a unique index or primary key (named `constraint`, if given).
pub(crate) fn is_unique_violation(e: &tokio_postgres::Error, constraint: Option<&str>) -> bool {
    let Some(db) = e.as_db_error() else {
        return false;
    };
    *db.code() == SqlState::UNIQUE_VIOLATION
        && constraint.is_none_or(|name| db.constraint() == Some(name))
}

/// Parses a text column holding one of an enum's names.
pub(crate) fn parse_enum<T>(
    what: &str,
    text: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<T, StorageError> {
    parse(text).ok_or_else(|| corrupt(format!("unknown {what} {text:?}")))
}

pub(crate) fn parse_tier(text: &str) -> Result<Tier, StorageError> {
    parse_enum("tier", text, |t| {
        Tier::ALL.into_iter().find(|tier| tier.as_str() == t)
    })
}

/// Cheap to clone: a clone is the same store (the pool, the writers' permits and the
/// intake queue are shared), handed to a task that must outlive a request (`intake.rs`).
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    /// For the listener's connection of its own (`listen.rs`).
    config: tokio_postgres::Config,
    /// One permit per writer allowed to hold a connection at once ([`WRITERS`]).
    writers: Arc<tokio::sync::Semaphore>,
    /// Letters waiting to be written together (`intake.rs`).
    intake: Arc<intake::IntakeQueue>,
    /// False after a connection could not be had or a commit failed; true again after
    /// the next success (`/healthz` reads it without touching the database).
    healthy: Arc<AtomicBool>,
}

impl PgStore {
    /// Connects to `url` (`postgres://user:password@host:port/db`) and brings the schema
    /// to the latest migration (several nodes starting at once take turns).
    pub async fn open(url: &str) -> Result<PgStore, StorageError> {
        let config = connection_config(url)?;
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(POOL_WAIT))
            .recycle_timeout(Some(POOL_WAIT))
            .build()
            .map_err(|e| StorageError::Migration(format!("the connection pool: {e}")))?;
        let store = PgStore {
            pool,
            config,
            writers: Arc::new(tokio::sync::Semaphore::new(WRITERS)),
            intake: Arc::default(),
            healthy: Arc::new(AtomicBool::new(true)),
        };
        let mut client = store.client().await?;
        migrations::migrate(&mut client).await?;
        drop(client);
        Ok(store)
    }

    /// A pooled connection.
    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Object, StorageError> {
        match self.pool.get().await {
            Ok(client) => {
                self.healthy.store(true, Ordering::Relaxed);
                Ok(client)
            }
            Err(e) => {
                self.healthy.store(false, Ordering::Relaxed);
                Err(StorageError::Backend(Box::new(e)))
            }
        }
    }

    /// A connection for a write, once fewer than [`WRITERS`] others hold one: pass it
    /// to [`begin_write`].
    pub(crate) async fn writer(&self) -> Result<Writer<'_>, StorageError> {
        let permit = tokio::time::timeout(POOL_WAIT, self.writers.acquire())
            .await
            .map_err(|_| {
                StorageError::Backend(Box::new(PgError::new(
                    "too many writes waiting on this node",
                )))
            })?
            .map_err(|_| corrupt("the writers' semaphore closed"))?;
        let client = self.client().await?;
        Ok(Writer {
            client,
            _permit: permit,
        })
    }

    /// Commits a write transaction: an error here means the change may not be there,
    /// and the caller must not say "done".
    pub(crate) async fn commit(&self, tx: Transaction<'_>) -> Result<(), StorageError> {
        match tx.commit().await {
            Ok(()) => Ok(()),
            Err(e) => {
                self.healthy.store(false, Ordering::Relaxed);
                Err(StorageError::Commit(PgError::from(&e).to_string()))
            }
        }
    }
}

/// A pooled connection held for a write, with its writer's permit.
pub(crate) struct Writer<'a> {
    client: deadpool_postgres::Object,
    _permit: tokio::sync::SemaphorePermit<'a>,
}

/// Starts a write transaction holding [`WRITE_LOCK`] (see the crate doc).
pub(crate) async fn begin_write<'w>(
    writer: &'w mut Writer<'_>,
) -> Result<Transaction<'w>, StorageError> {
    let tx = writer
        .client
        .build_transaction()
        .isolation_level(IsolationLevel::ReadCommitted)
        .start()
        .await
        .db()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])
        .await
        .db()?;
    Ok(tx)
}

/// Starts a read-only transaction on one snapshot, for reads made of several
/// statements that must agree (a sync page and its cursor, a letter and its events).
pub(crate) async fn begin_read(
    client: &mut deadpool_postgres::Object,
) -> Result<Transaction<'_>, StorageError> {
    client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .db()
}

/// The organisation as stored, by id.
pub(crate) async fn load_units(
    c: &impl deadpool_postgres::GenericClient,
) -> Result<Vec<Unit>, StorageError> {
    let rows = c
        .query(
            "SELECT id, parent_id, tier, name, active FROM units ORDER BY id",
            &[],
        )
        .await
        .db()?;
    rows.iter()
        .map(|r| {
            Ok(Unit {
                id: UnitId(r.get(0)),
                parent: r.get::<_, Option<i64>>(1).map(UnitId),
                tier: parse_tier(r.get(2))?,
                name: r.get(3),
                active: r.get(4),
            })
        })
        .collect()
}

#[async_trait]
impl Storage for PgStore {
    fn signoff(&self) -> &dyn jsjb_storage::signoff::SignoffStore {
        self
    }

    fn handovers(&self) -> &dyn jsjb_storage::handovers::HandoverStore {
        self
    }

    fn reports(&self) -> &dyn jsjb_storage::reports::ReportStore {
        self
    }

    fn citizen_tokens(&self) -> &dyn jsjb_storage::citizen_tokens::CitizenTokenStore {
        self
    }

    fn accepting_writes(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// Other nodes write to the same database: their changes are heard by `LISTEN`.
    fn watch_changes(
        &self,
        on_change: Box<dyn Fn(jsjb_storage::ChangeNote) + Send + Sync>,
    ) -> Option<Box<dyn Send>> {
        // The listener is a task of the serving runtime; outside one there is nobody to
        // poke anyway.
        tokio::runtime::Handle::try_current().ok()?;
        Some(Box::new(listen::spawn(self.config.clone(), on_change)))
    }

    async fn prune_idempotency(
        &self,
        before: DateTime<Utc>,
        per_user: u32,
        batch: u32,
    ) -> Result<u32, StorageError> {
        letters::prune_idempotency(self, before, per_user, batch).await
    }

    // --- organisation -------------------------------------------------------------
    async fn units(&self) -> Result<Vec<Unit>, StorageError> {
        load_units(&self.client().await?).await
    }

    async fn create_unit(
        &self,
        unit: NewUnit,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Unit, StorageError> {
        orgs::create_unit(self, unit, actor, now).await
    }

    async fn rename_unit(
        &self,
        unit: UnitId,
        name: String,
        reason: String,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Unit, StorageError> {
        orgs::rename_unit(self, unit, name, reason, actor, now).await
    }

    async fn move_unit(
        &self,
        unit: UnitId,
        parent: UnitId,
        reason: String,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<UnitMoved, StorageError> {
        orgs::move_unit(self, unit, parent, reason, actor, now).await
    }

    async fn set_unit_active(
        &self,
        unit: UnitId,
        active: bool,
        reason: String,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Unit, StorageError> {
        orgs::set_unit_active(self, unit, active, reason, actor, now).await
    }

    async fn clock_rules(&self) -> Result<Option<SavedClockRules>, StorageError> {
        orgs::clock_rules(self).await
    }

    async fn apply_clock_rules(
        &self,
        version: String,
        doc_json: String,
        now: DateTime<Utc>,
    ) -> Result<SavedClockRules, StorageError> {
        orgs::apply_clock_rules(self, version, doc_json, now).await
    }

    async fn routing_rules(&self) -> Result<Option<SavedRoutingRules>, StorageError> {
        orgs::routing_rules(self).await
    }

    async fn save_routing_rules(
        &self,
        rules_json: String,
        expected_version: i64,
        reason: String,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<SavedRoutingRules, StorageError> {
        orgs::save_routing_rules(self, rules_json, expected_version, reason, actor, now).await
    }

    async fn users(&self) -> Result<Vec<UserRecord>, StorageError> {
        users::users(self).await
    }

    async fn user(&self, id: UserId) -> Result<Option<UserRecord>, StorageError> {
        users::user(self, id).await
    }

    async fn create_user(
        &self,
        user: NewUser,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<UserRecord, StorageError> {
        users::create_user(self, user, actor, now).await
    }

    async fn set_password(
        &self,
        user: UserId,
        password_hash: String,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        users::set_password(self, user, password_hash, actor, now).await
    }

    async fn set_user_active(
        &self,
        user: UserId,
        active: bool,
        reason: String,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<UserRecord, StorageError> {
        users::set_user_active(self, user, active, reason, actor, now).await
    }

    async fn update_user(
        &self,
        user: UserId,
        change: UserChange,
        reason: String,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<UserChanged, StorageError> {
        users::update_user(self, user, change, reason, actor, now).await
    }

    async fn change_own_password(
        &self,
        user: UserId,
        password_hash: String,
        keep_session: String,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        users::change_own_password(self, user, password_hash, keep_session, actor, now).await
    }

    async fn last_sign_ins(&self) -> Result<Vec<(UserId, DateTime<Utc>)>, StorageError> {
        users::last_sign_ins(self).await
    }

    async fn notices(&self, user: UserId) -> Result<Vec<jsjb_proto::Notice>, StorageError> {
        users::notices(self, user).await
    }

    async fn acknowledge_notices(
        &self,
        user: UserId,
        up_to: i64,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<usize, StorageError> {
        users::acknowledge_notices(self, user, up_to, actor, now).await
    }

    // --- accounts and sessions ----------------------------------------------------
    async fn credentials(&self, username: &str) -> Result<Option<Credentials>, StorageError> {
        logins::credentials(self, username).await
    }

    async fn login_lock(
        &self,
        username: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StorageError> {
        logins::login_lock(self, username, now).await
    }

    async fn ip_failures_since(
        &self,
        ip_bucket: &str,
        since: DateTime<Utc>,
    ) -> Result<u32, StorageError> {
        logins::ip_failures_since(self, ip_bucket, since).await
    }

    async fn record_login_failure(
        &self,
        attempt: LoginAttempt,
        count_for_name: bool,
        policy: LockoutPolicy,
    ) -> Result<Option<DateTime<Utc>>, StorageError> {
        logins::record_login_failure(self, attempt, count_for_name, policy).await
    }

    async fn record_login_success(
        &self,
        attempt: LoginAttempt,
        session: NewSession,
    ) -> Result<Option<DateTime<Utc>>, StorageError> {
        logins::record_login_success(self, attempt, session).await
    }

    async fn session(&self, token_hash: &str) -> Result<Option<SessionRecord>, StorageError> {
        logins::session(self, token_hash).await
    }

    async fn revoke_session(
        &self,
        token_hash: &str,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        logins::revoke_session(self, token_hash, actor, now).await
    }

    async fn touch_session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        logins::touch_session(self, token_hash, now).await
    }

    async fn revoke_user_sessions(
        &self,
        user: UserId,
        reason: String,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<usize, StorageError> {
        logins::revoke_user_sessions(self, user, reason, actor, now).await
    }

    // --- letters ------------------------------------------------------------------
    async fn create_letter(
        &self,
        letter: NewLetter,
        actor: Actor,
    ) -> Result<CreatedLetter, StorageError> {
        intake::create_letter(self, letter, actor).await
    }

    async fn progress(&self, tracking_code: &str) -> Result<Option<ProgressRecord>, StorageError> {
        letters::progress(self, tracking_code).await
    }

    async fn attachment(
        &self,
        sha256: &str,
    ) -> Result<Option<(jsjb_storage::AttachmentMeta, Vec<UnitId>)>, StorageError> {
        letters::attachment(self, sha256).await
    }

    async fn latest_change_seq(&self) -> Result<i64, StorageError> {
        letters::latest_change_seq(self).await
    }

    async fn letter(&self, id: LetterId) -> Result<Option<jsjb_proto::LetterRecord>, StorageError> {
        letters::letter(self, id).await
    }

    async fn apply_action(
        &self,
        commit: ActionCommit,
        decide: DecideFn,
    ) -> Result<ActionOutcome, StorageError> {
        letters::apply_action(self, commit, decide, None).await
    }

    async fn sync_page(
        &self,
        scope: Vec<UnitId>,
        cursor: i64,
        limit: u32,
    ) -> Result<SyncBatch, StorageError> {
        letters::sync_page(self, scope, cursor, limit).await
    }

    async fn latest_change_in_scope(
        &self,
        scope: Vec<UnitId>,
        after: i64,
    ) -> Result<Option<i64>, StorageError> {
        letters::latest_change_in_scope(self, scope, after).await
    }

    async fn reveal_writer(
        &self,
        letter: LetterId,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<jsjb_proto::Writer, StorageError> {
        letters::reveal_writer(self, letter, actor, now).await
    }

    // --- audit --------------------------------------------------------------------
    async fn verify_audit(
        &self,
        heads: Vec<jsjb_proto::AuditEntryHash>,
    ) -> Result<jsjb_storage::audit::Verification, StorageError> {
        audit::verify_all(self, &heads).await
    }

    async fn audit_tip(
        &self,
        known: Option<i64>,
    ) -> Result<
        (
            jsjb_proto::AuditEntryHash,
            Option<jsjb_proto::AuditEntryHash>,
        ),
        StorageError,
    > {
        let mut client = self.client().await?;
        let tx = begin_read(&mut client).await?;
        audit::tip(&tx, known).await
    }

    // --- the citizen side -----------------------------------------------------------
    async fn recent_duplicate(
        &self,
        phone: &str,
        body: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<(String, DateTime<Utc>)>, StorageError> {
        citizen::recent_duplicate(self, phone, body, since).await
    }

    async fn writer_notice_feed(&self) -> Result<(i64, Option<DateTime<Utc>>), StorageError> {
        writer_notices::feed(self).await
    }

    async fn enqueue_writer_notices(
        &self,
        notices: Vec<jsjb_storage::writer_notices::NewWriterNotice>,
        cursor: i64,
        now: DateTime<Utc>,
    ) -> Result<Vec<jsjb_storage::writer_notices::RecordedAttempt>, StorageError> {
        writer_notices::enqueue(self, notices, cursor, now).await
    }

    async fn claim_writer_notices(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<jsjb_storage::writer_notices::ClaimedNotice>, StorageError> {
        writer_notices::claim(self, now, lease_until, limit).await
    }

    async fn record_writer_notice(
        &self,
        id: i64,
        attempt: jsjb_storage::writer_notices::NoticeAttempt,
        now: DateTime<Utc>,
    ) -> Result<Option<jsjb_storage::writer_notices::RecordedAttempt>, StorageError> {
        writer_notices::record(self, id, attempt, now).await
    }

    async fn letters_from_sender(
        &self,
        channel: jsjb_core::letter::Channel,
        sender: &str,
        limit: u32,
    ) -> Result<Vec<String>, StorageError> {
        citizen::letters_from_sender(self, channel, sender, limit).await
    }

    async fn rate_letter(
        &self,
        tracking_code: &str,
        rating: Rating,
        actor: Actor,
    ) -> Result<(), StorageError> {
        citizen::rate_letter(self, tracking_code, rating, actor).await
    }

    async fn rating(&self, tracking_code: &str) -> Result<Option<Rating>, StorageError> {
        citizen::rating(self, tracking_code).await
    }

    async fn draft(&self, channel: Channel, sender: &str) -> Result<Option<Draft>, StorageError> {
        citizen::draft(self, channel, sender).await
    }

    async fn message_seen(&self, channel: Channel, msg_id: &str) -> Result<bool, StorageError> {
        citizen::message_seen(self, channel, msg_id).await
    }

    async fn apply_message(&self, message: DraftMessage) -> Result<DraftOutcome, StorageError> {
        citizen::apply_message(self, message).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_limits_are_set_unless_the_url_sets_its_own() {
        let plain = connection_config("postgres://jsjb@db/jsjb").expect("config");
        assert_eq!(
            plain.get_options(),
            Some("-c lock_timeout=20s -c idle_in_transaction_session_timeout=30s")
        );
        assert_eq!(plain.get_connect_timeout(), Some(&CONNECT_TIMEOUT));
        let own = connection_config(
            "postgres://jsjb@db/jsjb?options=-c%20deadlock_timeout%3D2s%20-c%20lock_timeout%3D5s&connect_timeout=3",
        )
        .expect("config");
        assert_eq!(
            own.get_options(),
            Some(
                "-c deadlock_timeout=2s -c lock_timeout=5s -c idle_in_transaction_session_timeout=30s"
            ),
            "deadlock_timeout is not lock_timeout"
        );
        assert_eq!(own.get_connect_timeout(), Some(&Duration::from_secs(3)));
    }

    #[test]
    fn errors_about_the_data_are_told_from_the_rest() {
        let data = PgError {
            text: String::new(),
            sqlstate: Some("23505".to_owned()),
        };
        let lock = PgError {
            text: String::new(),
            sqlstate: Some("55P03".to_owned()),
        };
        assert!(data.is_about_the_data());
        assert!(!lock.is_about_the_data());
        assert!(!PgError::new("connection closed").is_about_the_data());
    }
}
