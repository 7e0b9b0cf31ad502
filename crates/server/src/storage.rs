//! The storage seam. Handlers talk to a `dyn Storage`; SQLite is the one backend now,
//! PostgreSQL can be added beside it without touching a handler.
//!
//! Each mutating method is one transaction that also appends its audit entry (and, for
//! letters, its event and change rows), so a backend cannot record a change without
//! its audit trail or the other way round.

pub mod sqlite;

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use jsjb_core::letter::{Category, Channel, LetterId, LetterState, Satisfaction};
use jsjb_core::org::{Role, Tier, Unit, UnitId, UserId};

use jsjb_core::workflow::EventPayload;
use jsjb_proto::{Change, LetterRecord, Writer};

use crate::audit::Verification;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{0}")]
    NotFound(String),
    /// A uniqueness or state conflict the client can act on; `code` is its API code.
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("migration: {0}")]
    Migration(String),
    #[error("the transaction could not be committed: {0}")]
    Commit(String),
    #[error("the storage worker has stopped")]
    Closed,
    /// Data in the database that this server cannot have written.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

/// Who did something, for events and the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user: Option<UserId>,
    pub unit: Option<UnitId>,
    pub role: Option<Role>,
    /// A readable name for the audit log: `user:12`, `cli`, `public:web`.
    pub label: String,
    /// The workstation the request came from, when the client says.
    pub workstation: Option<String>,
}

impl Actor {
    /// The admin CLI, run by whoever has the database file.
    pub fn cli() -> Self {
        Actor {
            user: None,
            unit: None,
            role: Some(Role::Admin),
            label: "cli".to_owned(),
            workstation: None,
        }
    }

    /// A citizen writing in through a public channel.
    pub fn public(channel: Channel) -> Self {
        Actor {
            user: None,
            unit: None,
            role: None,
            label: format!("public:{}", channel.as_str()),
            workstation: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewUnit {
    pub parent: Option<UnitId>,
    pub tier: Tier,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub id: UserId,
    pub unit_id: UnitId,
    pub username: String,
    pub display_name: String,
    pub roles: BTreeSet<Role>,
    pub active: bool,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub unit_id: UnitId,
    pub username: String,
    pub display_name: String,
    pub roles: BTreeSet<Role>,
    /// An argon2id PHC string; storage never sees a password.
    pub password_hash: String,
}

/// What login needs to know about an account.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user: UserRecord,
    pub password_hash: String,
    pub locked_until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy)]
pub struct LockoutPolicy {
    pub threshold: u32,
    pub duration: Duration,
}

#[derive(Debug, Clone)]
pub struct NewSession {
    /// SHA-256 of the token, hex. The token itself is never stored.
    pub token_hash: String,
    pub user_id: UserId,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub ip: String,
    pub workstation: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub user: UserRecord,
    pub expires_at: DateTime<Utc>,
    pub revoked: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachmentKind {
    Image,
    Voice,
}

impl AttachmentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AttachmentKind::Image => "image",
            AttachmentKind::Voice => "voice",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "image" => Some(AttachmentKind::Image),
            "voice" => Some(AttachmentKind::Voice),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentMeta {
    pub sha256: String,
    pub mime: String,
    pub size: u64,
    pub kind: AttachmentKind,
}

#[derive(Debug, Clone)]
pub struct NewLetter {
    pub tracking_code: String,
    pub channel: Channel,
    pub category: Category,
    pub problem_tags: Vec<String>,
    pub subject: String,
    pub body: String,
    pub writer_name: String,
    pub writer_phone: String,
    /// Other ways to reach the writer (email, WeChat id, address), as given.
    pub writer_extra: serde_json::Value,
    pub received_at: DateTime<Utc>,
    /// Where the letter lands; `None` means the city bureau (the root).
    pub unit: Option<UnitId>,
    /// Already stored in the blob store; in upload order.
    pub attachments: Vec<(AttachmentMeta, Option<String>)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreatedLetter {
    pub id: LetterId,
    pub unit: UnitId,
    pub change_seq: i64,
}

/// What the public progress page may show: no names, no notes.
#[derive(Debug, Clone)]
pub struct ProgressRecord {
    pub tracking_code: String,
    pub writer_phone: String,
    pub state: LetterState,
    pub received_at: DateTime<Utc>,
    /// (time, event), oldest first. The public view picks what a writer may see.
    pub events: Vec<(DateTime<Utc>, EventPayload)>,
}

/// An answer already rendered for the client (status and JSON body), kept under an
/// idempotency key so that a replay gets exactly the first answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAnswer {
    pub status: u16,
    pub body: String,
}

/// The life-cycle decision run inside the action's transaction: given the letter as it
/// is (record and folded status), the event to append — or the refusal to answer with.
pub type DecideFn = Box<
    dyn FnOnce(
            &LetterRecord,
            &jsjb_core::workflow::LetterStatus,
        ) -> Result<EventPayload, StoredAnswer>
        + Send,
>;

/// Who takes which action on which letter, when, under which idempotency key.
#[derive(Debug, Clone)]
pub struct ActionCommit {
    pub letter: LetterId,
    pub actor: Actor,
    pub at: DateTime<Utc>,
    /// (key, SHA-256 of the request) — `None` only for the demo's seeded history.
    pub idempotency: Option<(String, String)>,
    /// The audit verb, e.g. `letter.sign_for`.
    pub audit_action: &'static str,
}

#[derive(Debug, Clone)]
pub enum ActionOutcome {
    /// The event was appended; `answer` is the 200 response (an `ActionResponse`).
    Applied {
        change_seq: i64,
        letter: Box<LetterRecord>,
        answer: StoredAnswer,
    },
    /// `decide` refused; nothing changed (the refusal is kept under the key).
    Refused(StoredAnswer),
    /// The key was seen before with the same request: its first answer.
    Replayed(StoredAnswer),
    /// The key was seen before with a different request.
    KeyReused,
}

/// One page of changes for a desktop.
#[derive(Debug, Clone)]
pub struct SyncBatch {
    pub changes: Vec<Change>,
    pub next_cursor: i64,
    pub has_more: bool,
}

#[async_trait]
pub trait Storage: Send + Sync + 'static {
    /// The sign-off's keys, delegations and signed forms (src/signoff/).
    fn signoff(&self) -> &dyn crate::signoff::SignoffStore;
    /// Shift handover acknowledgements (src/handovers.rs).
    fn handovers(&self) -> &dyn crate::handovers::HandoverStore;

    // --- organisation -------------------------------------------------------------
    async fn units(&self) -> Result<Vec<Unit>, StorageError>;
    /// Creates a unit after checking the tree rules of `jsjb_core::org::UnitTree`.
    async fn create_unit(
        &self,
        unit: NewUnit,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Unit, StorageError>;
    async fn users(&self) -> Result<Vec<UserRecord>, StorageError>;
    async fn user(&self, id: UserId) -> Result<Option<UserRecord>, StorageError>;
    async fn create_user(
        &self,
        user: NewUser,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<UserRecord, StorageError>;
    /// Sets a new password hash, clears any lock-out and revokes every session of the user.
    async fn set_password(
        &self,
        user: UserId,
        password_hash: String,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError>;

    // --- accounts and sessions ----------------------------------------------------
    async fn credentials(&self, username: &str) -> Result<Option<Credentials>, StorageError>;
    /// Failed logins from `ip` at or after `since`.
    async fn ip_failures_since(&self, ip: &str, since: DateTime<Utc>) -> Result<u32, StorageError>;
    /// Records a failed login; returns the time the account is locked until when this
    /// failure locked it.
    async fn record_login_failure(
        &self,
        username: &str,
        user: Option<UserId>,
        ip: &str,
        now: DateTime<Utc>,
        policy: LockoutPolicy,
    ) -> Result<Option<DateTime<Utc>>, StorageError>;
    /// Records a successful login: clears the failure count and opens the session.
    async fn record_login_success(
        &self,
        username: &str,
        session: NewSession,
    ) -> Result<(), StorageError>;
    async fn session(&self, token_hash: &str) -> Result<Option<SessionRecord>, StorageError>;
    async fn revoke_session(
        &self,
        token_hash: &str,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError>;

    // --- letters ------------------------------------------------------------------
    /// Stores a new letter in state `received` with its `received` event, its change
    /// row and its audit entry. A taken tracking code is `Conflict { code: "tracking_code_taken" }`.
    async fn create_letter(
        &self,
        letter: NewLetter,
        actor: Actor,
    ) -> Result<CreatedLetter, StorageError>;
    async fn progress(&self, tracking_code: &str) -> Result<Option<ProgressRecord>, StorageError>;
    /// An attachment's metadata and the units of the letters that reference it.
    async fn attachment(
        &self,
        sha256: &str,
    ) -> Result<Option<(AttachmentMeta, Vec<UnitId>)>, StorageError>;
    /// The highest change sequence number (0 when there is none).
    async fn latest_change_seq(&self) -> Result<i64, StorageError>;

    /// A letter as desktops see it (writer masked), or `None`.
    async fn letter(&self, id: LetterId) -> Result<Option<LetterRecord>, StorageError>;
    /// Takes an action on a letter in ONE transaction: replays a known idempotency key,
    /// folds the letter's events, lets `decide` (the life-cycle rules) accept or refuse,
    /// appends the event, updates the letter's materialised columns, adds the change row
    /// and the audit entry, and stores the answer under the idempotency key.
    async fn apply_action(
        &self,
        commit: ActionCommit,
        decide: DecideFn,
    ) -> Result<ActionOutcome, StorageError>;
    /// The changes after `cursor` that touch `scope` (units), as whole letters or removals.
    async fn sync_page(
        &self,
        scope: Vec<UnitId>,
        cursor: i64,
        limit: u32,
    ) -> Result<SyncBatch, StorageError>;
    /// The newest change after `after` that touches `scope`, if any (for SSE pokes).
    async fn latest_change_in_scope(
        &self,
        scope: Vec<UnitId>,
        after: i64,
    ) -> Result<Option<i64>, StorageError>;
    /// The writer's real name and phone; records the reveal and its audit entry.
    async fn reveal_writer(
        &self,
        letter: LetterId,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Writer, StorageError>;

    // --- audit --------------------------------------------------------------------
    /// Verifies the chain, the letter events against it, and the chain against each
    /// head a desktop kept (`seq`, hash).
    async fn verify_audit(
        &self,
        heads: Vec<jsjb_proto::AuditEntryHash>,
    ) -> Result<Verification, StorageError>;
    /// The chain's last entry (`seq`, hash), and the hash of entry `known` if asked and
    /// present (`audit::tip`).
    async fn audit_tip(
        &self,
        known: Option<i64>,
    ) -> Result<
        (
            jsjb_proto::AuditEntryHash,
            Option<jsjb_proto::AuditEntryHash>,
        ),
        StorageError,
    >;

    // --- the citizen side (src/citizen/) -------------------------------------------
    /// The newest letter from `phone` with exactly this `body` received at or after
    /// `since`: its tracking code and time (duplicate-submission detection).
    async fn recent_duplicate(
        &self,
        phone: &str,
        body: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<(String, DateTime<Utc>)>, StorageError>;
    /// Records the writer's rating of a closed letter, once, with its audit entry.
    /// `Conflict { code: "not_closed" | "already_rated" }`, or `NotFound`.
    async fn rate_letter(
        &self,
        tracking_code: &str,
        rating: Rating,
        actor: Actor,
    ) -> Result<(), StorageError>;
    /// The writer's rating of the letter with this tracking code, if any.
    async fn rating(&self, tracking_code: &str) -> Result<Option<Rating>, StorageError>;
    /// A conversation draft on a messaging channel.
    async fn draft(&self, channel: Channel, sender: &str) -> Result<Option<Draft>, StorageError>;
    /// Creates or replaces the draft of `(channel, sender)`.
    async fn save_draft(&self, draft: Draft) -> Result<(), StorageError>;
    async fn delete_draft(&self, channel: Channel, sender: &str) -> Result<(), StorageError>;
    /// Notes a platform's message id; false when it was seen before (a redelivery).
    /// Ids older than a day are forgotten.
    async fn first_delivery(
        &self,
        channel: Channel,
        msg_id: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StorageError>;
}

/// A writer's own rating of the outcome (not the desk's return visit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rating {
    pub satisfaction: Satisfaction,
    pub comment: String,
    pub rated_at: DateTime<Utc>,
}

/// A conversation on WeChat or Weibo that has not been submitted as a letter yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub channel: Channel,
    /// The platform's id of the writer (WeChat OpenID, Weibo uid).
    pub sender: String,
    /// The platform's display name, when it gives one.
    pub sender_name: String,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub body: String,
    pub phone: Option<String>,
    /// Already in the blob store.
    pub attachments: Vec<AttachmentMeta>,
}
