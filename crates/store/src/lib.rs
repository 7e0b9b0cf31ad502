//! The desktop's local cache of one server + user: letters, their events and
//! attachments, the sync cursor, settings, and the outbox of officer actions not yet
//! accepted by the server.
//!
//! # One owner of the connection
//!
//! [`Store`] is a plain struct that owns its `rusqlite::Connection`; it is `Send` but
//! not `Sync`, and every method runs on the caller's thread. The app does not share it
//! directly: it calls [`Store::open`] and hands the store to [`StoreHandle::spawn`],
//! which moves it onto one dedicated thread and runs closures sent over a channel.
//! The handle is `Clone + Send + Sync`, so the Tauri state and the tokio sync engine
//! both hold one; `call(..).await` from async code, `call_blocking(..)` from plain
//! threads. We chose closures over a command enum because every query the UI grows
//! would otherwise need a new variant, and over a connection pool because SQLite has
//! one writer anyway and one thread keeps every transaction strictly ordered.
//!
//! # The optimistic view
//!
//! The cached `LetterRecord` (JSON in `letter_records`, and its `events` and
//! `attachments` rows) is always exactly what the server last said. An officer's
//! action waiting in the outbox is not written into it. Instead the *view* columns of
//! the `letters` row — `state`, `unit_id`, `handler_id`, `version`, the clock sort keys
//! and `pending` — are derived from the server's events **plus** the pending outbox
//! actions of that letter, each turned into its event by core's `decide` (under the
//! actor and time stored with the action) and folded with `LetterStatus::apply`. The
//! view is recomputed in the same transaction whenever either input changes: a sync
//! page, an enqueue, `mark_sent`, `mark_refused`, `dismiss_failed`. So a refused action
//! disappears from the view the moment it is refused, and a sync that brings a newer
//! server state re-applies the pending actions on top of it. An action that core no
//! longer allows on the newer state is left out of the view (the server will refuse
//! it too) and shown with its conflict in [`LetterDetail::pending`].

mod blobs;
mod board;
mod error;
#[cfg(feature = "test-support")]
pub mod fixtures;
mod forget;
mod handle;
mod handover;
mod inbox;
mod letters;
mod migrations;
mod outbox;
mod outbox_rows;
mod search;
mod served_rules;
mod stats;
mod sync_state;
mod time;
mod view;

use std::path::Path;
use std::time::Duration;

use jsjb_core::calendar::WorkCalendar;
use jsjb_core::clock::Policy;
use jsjb_core::org::UnitTree;
use jsjb_core::rules::{Rules, RulesDoc};
use jsjb_proto::Me;
use rusqlite::{Connection, OpenFlags};
use sha2::{Digest, Sha256};

pub use blobs::{DEFAULT_BLOB_CAP_BYTES, EvictOutcome};
pub use board::{BoardRow, UnitLoad, WallBoard};
pub use error::StoreError;
pub use handle::StoreHandle;
pub use handover::{
    HANDOVER_SOON_SECS, HandoverAckStatus, HandoverAckView, HandoverItem, HandoverItemKind,
    HandoverReport,
};
pub use inbox::{
    InboxGroup, InboxPage, InboxQuery, InboxRow, LetterDetail, MAX_PAGE as MAX_INBOX_PAGE,
    PendingAction, StateCount,
};
pub use letters::ApplyOutcome;
pub use migrations::MIGRATIONS;
pub use outbox_rows::{ActionContext, OutboxEntry, OutboxError, OutboxStatus};
pub use stats::{
    CategoryCount, OfficerStats, RateCounts, StatsReport, TagCount, TierStats, UnitStats,
};
pub use sync_state::SyncState;

/// How long a statement waits for a lock held by another connection (a second app
/// instance, a backup tool) before failing with `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Every commit waits for the disk (`Store::init`), but a first-sync page's
/// (`Store::apply_page`).
const SYNCHRONOUS: &str = "FULL";

/// What the store knows besides the database: the clock rules and the user's unit tree,
/// both needed to derive the view of a letter.
pub(crate) struct Context {
    /// The clock rules: the server's once it has served them (kept in `settings`),
    /// the built-in ones before.
    pub rules: Rules,
    /// The served rules' version; `None` while the built-in rules apply.
    pub rules_version: Option<String>,
    pub me: Option<Me>,
    pub tree: Option<UnitTree>,
}

/// A TEXT column borrowed from its row (no copy: the statistics read every event).
pub(crate) fn text_col<'r>(row: &'r rusqlite::Row<'_>, i: usize) -> Result<&'r str, StoreError> {
    row.get_ref(i)?
        .as_str()
        .map_err(|e| StoreError::Corrupt(format!("column {i}: {e}")))
}

/// The cache of one server + user. See the crate docs for who owns it.
pub struct Store {
    conn: Connection,
    ctx: Context,
    /// The inbox's keys of every cached letter, kept in step with `letters` by
    /// SQLite's update hook (`inbox/index.rs`).
    inbox_index: std::cell::RefCell<inbox::InboxIndex>,
    blob_cap: u64,
}

impl Store {
    /// Opens (creating if needed) the cache file at `path` and migrates it.
    pub fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                // One thread owns the connection: SQLite's own mutex is not needed.
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // WAL: readers never block the writer and a commit is one append.
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Pragma(format!(
                "journal_mode is {mode}, not wal"
            )));
        }
        // No memory map (SQLite's default `mmap_size = 0`): with the handover and the
        // board answered from columns and indexes, mapping the file no longer made any
        // query faster (the store bench, handover and statistics, with and without), and
        // every mapped page read counts in the desktop's memory — 256 MiB of a city
        // desk's 1 GB cache after start (docs/performance.md, footprint). Reads go
        // through the OS page cache, which the OS shares and reclaims.
        Store::init(conn)
    }

    /// A cache that lives in memory only (tests, a throwaway session).
    pub fn open_in_memory() -> Result<Store, StoreError> {
        Store::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> Result<Store, StoreError> {
        // FULL: a commit is on disk before it returns, so an officer's action that the
        // UI showed as queued survives a power cut, not only a crash of the app.
        conn.pragma_update(None, "synchronous", SYNCHRONOUS)?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let before: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        MIGRATIONS.to_latest(&mut conn)?;
        let me = sync_state::load_me(&conn)?;
        let tree = me.as_ref().map(sync_state::tree_of).transpose()?;
        let (rules, rules_version) = match served_rules::load(&conn)? {
            Some((version, rules)) => (rules, Some(version)),
            None => (Rules::shenzhen(), None),
        };
        let inbox_index = std::cell::RefCell::new(inbox::InboxIndex::watch(&conn)?);
        let store = Store {
            conn,
            inbox_index,
            ctx: Context {
                rules,
                rules_version,
                me,
                tree,
            },
            blob_cap: DEFAULT_BLOB_CAP_BYTES,
        };
        // A cache from before the savable-clock columns (migration 5), the worklist
        // columns (migration 6), the wall board's (migration 8), the handover's
        // (migration 12), the problem tags (migration 13) or the statistics' reach
        // (migration 14) has them empty: fill them now, or its letters would rank as if
        // no clock could be saved and be missing from the deciders' worklists, the board,
        // the handover and the counts by tag (and the statistics would fold them all).
        if (1..14).contains(&before) {
            let tx = store.conn.unchecked_transaction()?;
            view::refresh_all_views(&tx, &store.ctx)?;
            tx.commit()?;
        }
        // A cache from before the character index (migration 11) has it empty.
        if (1..11).contains(&before) {
            let tx = store.conn.unchecked_transaction()?;
            search::index_every_letters_chars(&tx)?;
            tx.commit()?;
        }
        Ok(store)
    }

    /// Adopts the clock rules the server served (`GET /api/v1/rules`): kept in the cache
    /// (so that a restart offline still uses them, never the compiled defaults) and
    /// every letter's view recomputed (its sort keys and colour band depend on them),
    /// in one transaction. Refused (and nothing changed) when the rules are invalid.
    pub fn set_rules(&mut self, version: &str, doc: RulesDoc) -> Result<(), StoreError> {
        let rules = Rules::new(doc).map_err(|e| StoreError::InvalidRules(e.to_string()))?;
        let tx = self.conn.transaction()?;
        served_rules::save(&tx, version, rules.doc())?;
        let previous = std::mem::replace(&mut self.ctx.rules, rules);
        let refreshed = view::refresh_all_views(&tx, &self.ctx).and_then(|()| Ok(tx.commit()?));
        match refreshed {
            Ok(()) => {
                self.ctx.rules_version = Some(version.to_owned());
                Ok(())
            }
            Err(e) => {
                self.ctx.rules = previous;
                Err(e)
            }
        }
    }

    /// The clock rules in force.
    pub fn rules(&self) -> &Rules {
        &self.ctx.rules
    }

    /// The version of the server's rules in use; `None`: the built-in rules (this
    /// cache has never been served any).
    pub fn rules_version(&self) -> Option<&str> {
        self.ctx.rules_version.as_deref()
    }

    /// The policy in force at `now` (for what is not a letter's clock, such as which
    /// clocks escalate).
    pub fn clock_policy(&self, now: chrono::DateTime<chrono::Utc>) -> &Policy {
        self.ctx.rules.current(now)
    }

    /// The working-day calendar the clock rules count with.
    pub fn work_calendar(&self) -> &WorkCalendar {
        self.ctx.rules.calendar()
    }

    /// The raw connection, for tests that need to look under the hood.
    #[cfg(feature = "test-support")]
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

/// A file name for the cache of `username` on the server at `server_url`: readable
/// (host and user, reduced to `[a-z0-9-]`) and unique (a hash of the exact URL and user),
/// so two servers or users never share a cache and a user switch never shows the
/// previous user's letters. Stable across versions: the hash is SHA-256.
pub fn cache_file_name(server_url: &str, username: &str) -> String {
    let url = server_url.trim().trim_end_matches('/');
    let host = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    let mut hasher = Sha256::new();
    hasher.update(url.to_lowercase().as_bytes());
    hasher.update([0u8]);
    hasher.update(username.as_bytes());
    let digest = hasher.finalize();
    let short = hex::encode(&digest[..6]);
    format!("{}_{}_{short}.sqlite3", sanitize(host), sanitize(username))
}

/// Keeps a name safe in a file name on every OS: ASCII letters and digits, lowercased;
/// every other run of characters becomes one `-`; at most 40 characters.
fn sanitize(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out: String = out.trim_matches('-').chars().take(40).collect();
    if out.is_empty() { "x".to_owned() } else { out }
}
