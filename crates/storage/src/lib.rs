//! The storage seam. Handlers talk to a `dyn Storage`; the embedded SQLite backend is
//! `jsjb-storage-sqlite`, and any other backend (PostgreSQL) is a crate beside it that
//! passes the same conformance suite (`conformance`, feature `conformance`). This crate
//! knows no database: no backend type appears in a signature or in [`StorageError`].
//!
//! Each mutating method is one transaction that also appends its audit entry (and, for
//! letters, its event and change rows), so a backend cannot record a change without
//! its audit trail or the other way round.

pub mod audit;
pub mod citizen_tokens;
pub mod handovers;
pub mod report_facts;
pub mod reports;
pub mod signoff;
pub mod time;
pub mod writer_notices;

#[cfg(feature = "conformance")]
pub mod conformance;

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
    /// The database itself failed (the backend's own error, kept for the log; callers
    /// answer 500 and never show it).
    #[error("database: {0}")]
    Backend(Box<dyn std::error::Error + Send + Sync>),
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

pub use audit::Actor;

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
    /// Set when another user (an admin) chose the password; cleared when the user sets
    /// their own. The desktop asks for a new password before anything else.
    pub must_change_password: bool,
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

/// What an admin changes about a user; `None` keeps it as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserChange {
    pub display_name: Option<String>,
    pub roles: Option<BTreeSet<Role>>,
    pub unit_id: Option<UnitId>,
}

/// A user as an admin's change left them, and what the change ended: a new unit or
/// roles end the user's sessions (their desktop signs in again, with the new scope);
/// a chief who leaves the unit or the role loses their signing keys and the 代签
/// delegations they granted or held, each logged and told to them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserChanged {
    pub user: UserRecord,
    pub sessions_revoked: usize,
    pub keys_revoked: usize,
    pub delegations_revoked: usize,
}

/// A unit moved under another parent, and the last change it appended: one change per
/// letter of the moved subtree, recorded as leaving the old parent, so that desktops of
/// the old parent's scope forget those letters and desktops of the new one fetch them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitMoved {
    pub unit: Unit,
    pub from: UnitId,
    pub last_change_seq: Option<i64>,
}

/// The automatic routing rules as an admin saved them: the JSON the server validated
/// (storage does not read it), numbered from 1; every saved version is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedClockRules {
    /// The rules' content digest (what desktops are told they run under).
    pub version: String,
    /// A `jsjb_core::rules::RulesDoc` as JSON.
    pub doc_json: String,
    pub applied_at: DateTime<Utc>,
}

/// A version of the routing rules as saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedRoutingRules {
    pub version: i64,
    pub rules_json: String,
    pub saved_at: DateTime<Utc>,
    pub saved_by: Option<UserId>,
    pub reason: String,
}

/// What login needs to know about an account. Its lock-out is kept by user name
/// apart from it (see [`Storage::login_lock`]), so that unknown names lock alike.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user: UserRecord,
    pub password_hash: String,
}

/// Per-name lock-out: after `threshold` failures in a row the name is locked, first
/// for `first`, each further time for twice as long, never longer than `longest`.
#[derive(Debug, Clone, Copy)]
pub struct LockoutPolicy {
    pub threshold: u32,
    pub first: Duration,
    pub longest: Duration,
}

impl LockoutPolicy {
    /// How long the `nth` lock-out (1-based) of a name lasts.
    pub fn lock_for(&self, nth: u32) -> Duration {
        let doublings = nth.saturating_sub(1).min(30);
        let secs = self
            .first
            .num_seconds()
            .saturating_mul(1_i64 << doublings)
            .min(self.longest.num_seconds());
        Duration::seconds(secs.max(1))
    }
}

/// One login attempt, as recorded.
#[derive(Debug, Clone)]
pub struct LoginAttempt {
    /// The name as typed (trimmed): known or not, it is what lock-outs count by.
    pub username: String,
    /// The account of that name, when there is one.
    pub user: Option<UserId>,
    /// The client's address (the server's `client_addr`).
    pub ip: String,
    /// What the per-address limit counts by: the address, or its /64 for IPv6.
    pub ip_bucket: String,
    pub at: DateTime<Utc>,
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
    /// The absolute end, fixed at sign-in (the policy's longest session).
    pub expires_at: DateTime<Utc>,
    /// The last time the session was used (renewed; its sign-in until the first renewal):
    /// the session also ends after the policy's idle time since then.
    pub last_seen_at: DateTime<Utc>,
    pub revoked: bool,
}

/// The wire type: one `AttachmentKind` for storage, the API and the desktop.
pub use jsjb_proto::AttachmentKind;

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
    /// A desk's `Idempotency-Key`: a retry returns the letter created the first time.
    pub idempotency: Option<IdempotencyClaim>,
}

/// An `Idempotency-Key` with what it is bound to: its user, and a fingerprint of the
/// route, target and body (`letters::request_fingerprint`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyClaim {
    pub user: UserId,
    pub key: String,
    pub request_hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedLetter {
    pub id: LetterId,
    /// The unit the letter landed at when it was created.
    pub unit: UnitId,
    /// 0 for a replay (nothing new was committed).
    pub change_seq: i64,
    pub tracking_code: String,
    pub received_at: DateTime<Utc>,
    /// True when the idempotency key was seen before with the same request: this is the
    /// letter created the first time.
    pub replayed: bool,
}

/// What the public progress page may show: no names, no notes.
#[derive(Debug, Clone)]
pub struct ProgressRecord {
    pub tracking_code: String,
    pub writer_phone: String,
    pub state: LetterState,
    /// The category now (a desk may have reclassified it): the closure clock's rule.
    pub category: Category,
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
    /// The refusal kept under the key and returned when the letter's history already
    /// holds [`MAX_EVENTS_PER_LETTER`] events (rendered by the API: storage knows no
    /// problem format).
    pub history_full: StoredAnswer,
}

/// The most events one letter may have. Every action folds the whole history inside
/// the writer's transaction and every sync sends it whole, so an endless history (a
/// looping client, a hostile one) would slow every write and every desktop; a real
/// case has a few dozen.
pub const MAX_EVENTS_PER_LETTER: i64 = 500;

#[derive(Debug, Clone)]
pub enum ActionOutcome {
    /// The event was appended; `answer` is the 200 response (an `ActionResponse`).
    Applied {
        change_seq: i64,
        /// Where the letter was before the action (`letter.unit_id` is where it is now):
        /// the change concerns both sides' desktops.
        prev_unit: UnitId,
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

/// What [`Storage::watch_changes`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeNote {
    /// Change `seq` committed, touching `units` (the letter's unit now and before).
    Change { seq: i64, units: Vec<UnitId> },
    /// The feed was (re)connected: changes may have been missed meanwhile, so every
    /// stream should be poked with the newest change, and whatever a node caches from
    /// the database (the unit tree, the routing rules) read again.
    Resync,
    /// Another node changed the unit tree (created, renamed, moved or (de)activated a
    /// unit): read it again before the next poke.
    UnitsChanged,
    /// Another node saved routing rules: route by the newest from now on.
    RoutingChanged,
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
    /// The sign-off's keys, delegations and signed forms (`signoff`).
    fn signoff(&self) -> &dyn crate::signoff::SignoffStore;
    /// Shift handover acknowledgements (`handovers`).
    fn handovers(&self) -> &dyn crate::handovers::HandoverStore;
    /// The report facts and their aggregates (`reports`).
    fn reports(&self) -> &dyn crate::reports::ReportStore;
    /// The citizen side's codes, tickets and rate-limit buckets (`citizen_tokens`).
    fn citizen_tokens(&self) -> &dyn crate::citizen_tokens::CitizenTokenStore;

    /// Calls `on_change` with every change another process commits to the same database
    /// (another server node), for the SSE pokes, until the returned guard is dropped.
    /// `None`: nothing else writes to this backend (SQLite's one server), so the server's
    /// own publishing is all there is. A backend that cannot promise to see every change
    /// (its feed was interrupted) says [`ChangeNote::Resync`].
    fn watch_changes(
        &self,
        on_change: Box<dyn Fn(ChangeNote) + Send + Sync>,
    ) -> Option<Box<dyn Send>> {
        drop(on_change);
        None
    }

    /// Whether the backend can take writes now (for `/healthz`): false when its writer
    /// has stopped or is stuck. Must be cheap and must not wait behind queued writes.
    fn accepting_writes(&self) -> bool;
    /// Forgets idempotency answers older than `before`, and each user's beyond the
    /// newest `per_user` — at most `batch` rows; returns how many went. The caller loops
    /// while it returns `batch`, so no single transaction holds the writer for long.
    async fn prune_idempotency(
        &self,
        before: DateTime<Utc>,
        per_user: u32,
        batch: u32,
    ) -> Result<u32, StorageError>;

    // --- organisation -------------------------------------------------------------
    async fn units(&self) -> Result<Vec<Unit>, StorageError>;
    /// Creates a unit after checking the tree rules of `jsjb_core::org::UnitTree`.
    async fn create_unit(
        &self,
        unit: NewUnit,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Unit, StorageError>;
    /// Renames a unit (audit `unit.rename` with the old and new name and the reason).
    /// Letters keep their unit by id, so their history reads the current name.
    async fn rename_unit(
        &self,
        unit: UnitId,
        name: String,
        reason: String,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Unit, StorageError>;
    /// Moves a unit under another parent after checking the tree rules (a station
    /// moves to another branch); audit `unit.move` with both parents and the reason.
    /// Letters keep their unit and history; see [`UnitMoved`] for how desktops follow.
    async fn move_unit(
        &self,
        unit: UnitId,
        parent: UnitId,
        reason: String,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<UnitMoved, StorageError>;
    /// Deactivates a unit (it keeps its letters' history and receives no new letters) or
    /// reactivates it; audit `unit.deactivate` / `unit.reactivate` with the reason. A unit
    /// is deactivated only when nothing depends on it any more: conflict `unit_in_use`
    /// while it has active users, letters not closed, or active units below it; the
    /// city bureau (the root) never is. Reactivation needs an active parent
    /// (`parent_inactive`).
    async fn set_unit_active(
        &self,
        unit: UnitId,
        active: bool,
        reason: String,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Unit, StorageError>;
    /// The clock rules (policy eras and calendar) the server last started with, if any.
    async fn clock_rules(&self) -> Result<Option<SavedClockRules>, StorageError>;
    /// Records the clock rules the server starts with now, when they differ from the
    /// last recorded (append-only; audit `rules.apply`). The caller has checked that
    /// they do not rewrite the past (`jsjb_core::rules::check_successor`).
    async fn apply_clock_rules(
        &self,
        version: String,
        doc_json: String,
        now: DateTime<Utc>,
    ) -> Result<SavedClockRules, StorageError>;
    /// The routing rules saved last, if an admin ever saved any.
    async fn routing_rules(&self) -> Result<Option<SavedRoutingRules>, StorageError>;
    /// Saves a new version of the routing rules, if `expected_version` is the one saved
    /// last (0: none yet) — else conflict `stale_version`, so two admins editing at once
    /// never overwrite each other unseen. Audit `routing.save` with the reason.
    async fn save_routing_rules(
        &self,
        rules_json: String,
        expected_version: i64,
        reason: String,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<SavedRoutingRules, StorageError>;
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

    /// Deactivates (ending every session at once) or reactivates a user, with the reason
    /// in the audit log. Letters keep their history: nothing else changes.
    async fn set_user_active(
        &self,
        user: UserId,
        active: bool,
        reason: String,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<UserRecord, StorageError>;
    /// Changes a user's name, roles or unit (audit `user.update` with before, after and
    /// the reason). One chief per unit holds; see [`UserChanged`] for what ends.
    async fn update_user(
        &self,
        user: UserId,
        change: UserChange,
        reason: String,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<UserChanged, StorageError>;
    /// The user sets their own password: it no longer needs changing, nobody else set
    /// it (so the account is independent of the admin who made it), and every other
    /// session of theirs ends; `keep_session` (the caller's token hash) stays open.
    async fn change_own_password(
        &self,
        user: UserId,
        password_hash: String,
        keep_session: String,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError>;
    /// Each user's last sign-in (the newest session opened), for the admin's list.
    async fn last_sign_ins(&self) -> Result<Vec<(UserId, DateTime<Utc>)>, StorageError>;

    /// The user's notices about their own account not acknowledged yet (key events,
    /// password resets), oldest first.
    async fn notices(&self, user: UserId) -> Result<Vec<jsjb_proto::Notice>, StorageError>;
    /// Acknowledges the user's own notices up to `up_to`, with an audit entry; how many.
    async fn acknowledge_notices(
        &self,
        user: UserId,
        up_to: i64,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<usize, StorageError>;

    // --- accounts and sessions ----------------------------------------------------
    async fn credentials(&self, username: &str) -> Result<Option<Credentials>, StorageError>;
    /// Until when the user name is locked out, if it is at `now` — whether or not an
    /// account has that name.
    async fn login_lock(
        &self,
        username: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StorageError>;
    /// Failed logins from the address bucket `ip_bucket` at or after `since`.
    async fn ip_failures_since(
        &self,
        ip_bucket: &str,
        since: DateTime<Utc>,
    ) -> Result<u32, StorageError>;
    /// Records a failed login. With `count_for_name`, it counts towards the name's
    /// lock-out (unless the name is locked already: a locked name's lock is not
    /// extended). Returns the time the name is locked until, when it is.
    async fn record_login_failure(
        &self,
        attempt: LoginAttempt,
        count_for_name: bool,
        policy: LockoutPolicy,
    ) -> Result<Option<DateTime<Utc>>, StorageError>;
    /// Records a successful login: clears the name's failures and opens the session —
    /// unless the name was locked meanwhile (by failures that raced this check), when
    /// nothing is opened and the lock's end is returned.
    async fn record_login_success(
        &self,
        attempt: LoginAttempt,
        session: NewSession,
    ) -> Result<Option<DateTime<Utc>>, StorageError>;
    async fn session(&self, token_hash: &str) -> Result<Option<SessionRecord>, StorageError>;
    async fn revoke_session(
        &self,
        token_hash: &str,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError>;
    /// Records that the session was used at `now` (sliding expiry); a revoked or unknown
    /// session stays as it is. Not audited: it is no decision, and comes every few minutes.
    async fn touch_session(&self, token_hash: &str, now: DateTime<Utc>)
    -> Result<(), StorageError>;
    /// Ends every open session of the user at once (an admin's 强制下线), audit
    /// `user.sessions_revoke` with the reason; how many ended.
    async fn revoke_user_sessions(
        &self,
        user: UserId,
        reason: String,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<usize, StorageError>;

    // --- letters ------------------------------------------------------------------
    /// Stores a new letter in state `received` with its `received` event, its change
    /// row and its audit entry. A taken tracking code is `Conflict { code: "tracking_code_taken" }`.
    /// With an idempotency claim: a key seen before with the same request returns the first
    /// letter (`replayed`), with another request `Conflict { code: "idempotency_key_reused" }`.
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
    ///
    /// **The cursor contract**, which every backend must keep: change sequence numbers
    /// become visible in cursor order — once a page hands out `next_cursor = N`, no
    /// change with a sequence number ≤ N may become visible later. A desktop holding N
    /// never asks for anything at or below N again, so a change that appeared behind it
    /// would be lost to that desktop for good. SQLite keeps it with one writer (sequence
    /// numbers are assigned and committed in order) and one read transaction per page
    /// (the page and its `next_cursor` come from the same snapshot). The conformance
    /// suite's `sync_cursor_contract` checks it under concurrent writers and readers.
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
    /// The tracking codes of the letters a messaging channel's sender wrote (their
    /// `writer_extra` holds [`sender_contact_key`] = `sender`), newest first, at most
    /// `limit`: what 「进度」 in the chat answers about. Empty for other channels.
    async fn letters_from_sender(
        &self,
        channel: Channel,
        sender: &str,
        limit: u32,
    ) -> Result<Vec<String>, StorageError>;
    // --- notices to writers (writer_notices.rs) ------------------------------------
    /// The change sequence number the notice queue has been fed up to, and the time of
    /// the newest change when the queue began (`None` on a platform that had none): a
    /// step at or before it is never told.
    async fn writer_notice_feed(&self) -> Result<(i64, Option<DateTime<Utc>>), StorageError>;
    /// Stores the notices not stored before (unique on letter, step and trigger) and
    /// moves the feed cursor forward to `cursor` (never back), in one transaction; a
    /// letter that gained a notice gets a change row. The letters that gained one, with
    /// the change each made.
    async fn enqueue_writer_notices(
        &self,
        notices: Vec<writer_notices::NewWriterNotice>,
        cursor: i64,
        now: DateTime<Utc>,
    ) -> Result<Vec<writer_notices::RecordedAttempt>, StorageError>;
    /// Takes up to `limit` pending notices whose next try is due at `now`, oldest first,
    /// moving their next try to `lease_until` so no other node takes them meanwhile.
    async fn claim_writer_notices(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<writer_notices::ClaimedNotice>, StorageError>;
    /// Records one try of a pending notice (its attempts counted, its state, route and
    /// error set) with a change row for its letter; `None` when the notice is no longer
    /// pending (another node recorded it).
    async fn record_writer_notice(
        &self,
        id: i64,
        attempt: writer_notices::NoticeAttempt,
        now: DateTime<Utc>,
    ) -> Result<Option<writer_notices::RecordedAttempt>, StorageError>;

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
    /// Whether a platform's message id was handled already (a redelivery). Ids older
    /// than a day are forgotten.
    async fn message_seen(&self, channel: Channel, msg_id: &str) -> Result<bool, StorageError>;
    /// Applies one message to its sender's draft and notes its id, in one transaction:
    /// the id is noted only if the change is stored, so a failed store is redelivered
    /// by the platform, and two messages arriving together both land in the draft
    /// (the draft is read and written inside the transaction, never around it).
    async fn apply_message(&self, message: DraftMessage) -> Result<DraftOutcome, StorageError>;
}

/// The key in a letter's `writer_extra` that holds the messaging channel's id of its
/// writer (the WeChat OpenID, the Weibo uid); `None` for channels without one. Both
/// backends index it (a partial index per channel).
pub fn sender_contact_key(channel: Channel) -> Option<&'static str> {
    match channel {
        Channel::Wechat => Some("wechat_openid"),
        Channel::Weibo => Some("weibo_uid"),
        Channel::Web | Channel::Phone => None,
    }
}

/// One message of a conversation, as it changes the sender's draft.
#[derive(Debug, Clone)]
pub struct DraftMessage {
    pub channel: Channel,
    pub sender: String,
    /// The platform's display name, when it gives one (empty otherwise).
    pub sender_name: String,
    /// The platform's message id; `None` when it gives none (no redelivery check).
    pub msg_id: Option<String>,
    pub at: DateTime<Utc>,
    /// A draft last touched before this is forgotten and started afresh.
    pub fresh_since: DateTime<Utc>,
    pub edit: DraftEdit,
}

/// What a message does to the draft.
#[derive(Debug, Clone)]
pub enum DraftEdit {
    /// Nothing (help, follow, an unsupported type): only the id is noted.
    Nothing,
    /// Keeps an existing draft alive (its `updated_at`), creating none.
    Touch,
    /// A line of text added to the body, refused when the body would pass `max_chars`.
    AppendText {
        text: String,
        max_chars: usize,
    },
    SetPhone(String),
    /// An image or voice clip (`None` when only its reference could be kept) and lines
    /// for the body; refused when the draft holds `max_of_kind` of this kind already.
    AddMedia {
        kind: AttachmentKind,
        attachment: Option<AttachmentMeta>,
        notes: Vec<String>,
        max_of_kind: usize,
    },
    /// 「取消」.
    Delete,
    /// The draft became this letter: deleted, unless a message changed it since it was
    /// read (that later message stays for the next letter).
    Submitted(Draft),
}

/// What [`Storage::apply_message`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DraftOutcome {
    /// The id was seen before: nothing changed.
    Redelivery,
    /// Stored; `was_new` when this message started the draft.
    Applied { was_new: bool },
    /// Not added: the body would be longer than allowed (the id is noted).
    TooLong,
    /// Not added: the draft holds as many of this kind as a letter may (the id is noted).
    TooManyOfKind,
}

/// The draft after `message`, from the draft stored before it (`None`: no draft, or
/// a stale one). Pure, so that every backend applies a message the same way.
pub fn apply_draft_edit(
    existing: Option<Draft>,
    message: &DraftMessage,
) -> Result<Option<Draft>, DraftOutcome> {
    let existing = existing.filter(|d| d.updated_at >= message.fresh_since);
    let touched = |mut d: Draft| {
        d.updated_at = message.at;
        if !message.sender_name.is_empty() {
            d.sender_name = message.sender_name.clone();
        }
        d
    };
    let started = || Draft {
        channel: message.channel,
        sender: message.sender.clone(),
        sender_name: message.sender_name.clone(),
        started_at: message.at,
        updated_at: message.at,
        body: String::new(),
        phone: None,
        attachments: Vec::new(),
    };
    let push_line = |body: &mut String, line: &str| {
        if !body.is_empty() {
            body.push('\n');
        }
        body.push_str(line);
    };
    Ok(match &message.edit {
        DraftEdit::Nothing => existing,
        DraftEdit::Touch => existing.map(touched),
        DraftEdit::Delete => None,
        DraftEdit::Submitted(submitted) => match existing {
            Some(d)
                if d.body != submitted.body
                    || d.phone != submitted.phone
                    || d.attachments != submitted.attachments =>
            {
                Some(d)
            }
            _ => None,
        },
        DraftEdit::AppendText { text, max_chars } => {
            let mut d = touched(existing.unwrap_or_else(started));
            push_line(&mut d.body, text);
            if d.body.chars().count() > *max_chars {
                return Err(DraftOutcome::TooLong);
            }
            Some(d)
        }
        DraftEdit::SetPhone(phone) => {
            let mut d = touched(existing.unwrap_or_else(started));
            d.phone = Some(phone.clone());
            Some(d)
        }
        DraftEdit::AddMedia {
            kind,
            attachment,
            notes,
            max_of_kind,
        } => {
            let mut d = touched(existing.unwrap_or_else(started));
            if d.attachments.iter().filter(|a| a.kind == *kind).count() >= *max_of_kind {
                return Err(DraftOutcome::TooManyOfKind);
            }
            d.attachments.extend(attachment.clone());
            for note in notes {
                push_line(&mut d.body, note);
            }
            Some(d)
        }
    })
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
