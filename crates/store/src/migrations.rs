//! The schema, as append-only migrations: never edit a migration that has shipped, add
//! the next one.

use rusqlite::Connection;

use crate::StoreError;

/// Every migration, in order. `MIGRATIONS.validate()` runs in the tests.
pub const MIGRATIONS: Migrations = Migrations { steps: &[V1_CACHE] };

/// An append-only list of SQL migrations, applied in order; the number applied is kept
/// in SQLite's `user_version`, exactly as `rusqlite_migration` does, so the crate can
/// replace this once it supports the workspace's rusqlite.
pub struct Migrations {
    steps: &'static [&'static str],
}

impl Migrations {
    /// The schema version after every migration.
    pub fn latest(&self) -> usize {
        self.steps.len()
    }

    /// Applies the migrations the database has not seen, each in its own transaction.
    pub fn to_latest(&self, conn: &mut Connection) -> Result<(), StoreError> {
        let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let applied = usize::try_from(found).map_err(|_| StoreError::SchemaTooNew {
            found,
            known: self.latest(),
        })?;
        if applied > self.latest() {
            return Err(StoreError::SchemaTooNew {
                found,
                known: self.latest(),
            });
        }
        for (index, sql) in self.steps.iter().enumerate().skip(applied) {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)?;
            // A handful of migrations: the count always fits.
            tx.pragma_update(
                None,
                "user_version",
                i64::try_from(index + 1).unwrap_or(i64::MAX),
            )?;
            tx.commit()?;
        }
        Ok(())
    }

    /// Applies every migration to a fresh in-memory database and checks the foreign
    /// keys: a test runs it so a broken migration never reaches an officer's cache.
    pub fn validate(&self) -> Result<(), StoreError> {
        let mut conn = Connection::open_in_memory()?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        self.to_latest(&mut conn)?;
        let problems: i64 =
            conn.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })?;
        if problems != 0 {
            return Err(StoreError::Migration {
                index: self.latest(),
                message: format!("{problems} foreign key violations"),
            });
        }
        Ok(())
    }
}

/// The first schema.
///
/// `letters` holds, per letter, the server's record as JSON plus columns for listing.
/// The listing columns (`state`, `unit_id`, `handler_id`, `version`, the clock keys,
/// `pending`) are the *optimistic view*: the server's events plus the pending outbox
/// actions (see the crate docs). The clock keys let SQL colour and sort a row at any
/// `now` without folding its history:
/// - `next_due_at`: due time of the most urgent clock not yet met (NULL: none runs);
/// - `warn_at`: when that clock turns amber;
/// - `urgency_key`: the sort key — `next_due_at` for open letters; for letters with no
///   running clock, a value above every due time that puts the newest first.
///
/// Room is left for the handover acknowledgements (交接班) of a later issue: they get
/// their own table in a later migration, keyed by letter id like `events`.
const V1_CACHE: &str = r#"
CREATE TABLE letters (
    id             INTEGER PRIMARY KEY,
    tracking_code  TEXT    NOT NULL,
    channel        TEXT    NOT NULL,
    category       TEXT    NOT NULL,
    subject        TEXT    NOT NULL,
    writer_name    TEXT    NOT NULL,
    received_at    INTEGER NOT NULL,
    server_version INTEGER NOT NULL,
    record         TEXT    NOT NULL,
    state          TEXT    NOT NULL,
    unit_id        INTEGER NOT NULL,
    handler_id     INTEGER,
    version        INTEGER NOT NULL,
    dispatched_at  INTEGER,
    urgent_clock   TEXT,
    next_due_at    INTEGER,
    warn_at        INTEGER,
    urgency_key    INTEGER NOT NULL,
    pending        INTEGER NOT NULL DEFAULT 0 CHECK (pending IN (0, 1)),
    seen           INTEGER NOT NULL DEFAULT 1 CHECK (seen IN (0, 1))
) STRICT;
CREATE INDEX letters_by_urgency ON letters (urgency_key, id);
CREATE INDEX letters_by_state ON letters (state, urgency_key, id);
CREATE INDEX letters_by_unit ON letters (unit_id, urgency_key, id);
CREATE INDEX letters_by_handler ON letters (handler_id, urgency_key, id);
CREATE INDEX letters_by_tracking_code ON letters (tracking_code);

CREATE TABLE events (
    letter_id   INTEGER NOT NULL REFERENCES letters (id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    actor_user  INTEGER,
    actor_unit  INTEGER,
    workstation TEXT,
    kind        TEXT    NOT NULL,
    payload     TEXT    NOT NULL,
    PRIMARY KEY (letter_id, seq)
) STRICT, WITHOUT ROWID;

CREATE TABLE attachments (
    letter_id INTEGER NOT NULL REFERENCES letters (id) ON DELETE CASCADE,
    position  INTEGER NOT NULL,
    sha256    TEXT    NOT NULL,
    kind      TEXT    NOT NULL,
    mime      TEXT    NOT NULL,
    size      INTEGER NOT NULL,
    PRIMARY KEY (letter_id, position)
) STRICT, WITHOUT ROWID;
CREATE INDEX attachments_by_sha256 ON attachments (sha256);

-- Bytes are content-addressed and shared by every letter that carries them; not tied
-- to `attachments` by a foreign key because they are fetched later, on demand.
CREATE TABLE attachment_blobs (
    sha256    TEXT    PRIMARY KEY,
    bytes     BLOB    NOT NULL,
    size      INTEGER NOT NULL,
    last_used INTEGER NOT NULL
) STRICT;
CREATE INDEX attachment_blobs_by_last_used ON attachment_blobs (last_used);

CREATE TABLE sync_state (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    cursor          INTEGER NOT NULL DEFAULT 0,
    last_synced_at  INTEGER,
    clock_offset_ms INTEGER NOT NULL DEFAULT 0,
    me              TEXT,
    directory       TEXT
) STRICT;
INSERT INTO sync_state (id) VALUES (1);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

-- No foreign key to `letters`: a refused action outlives its letter leaving the scope,
-- so the officer is told what did not happen.
CREATE TABLE outbox (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key    TEXT    NOT NULL UNIQUE,
    letter_id          INTEGER NOT NULL,
    expected_version   INTEGER NOT NULL,
    action             TEXT    NOT NULL,
    actor              TEXT    NOT NULL,
    workstation        TEXT,
    created_at         INTEGER NOT NULL,
    attempts           INTEGER NOT NULL DEFAULT 0,
    last_error_code    TEXT,
    last_error_message TEXT,
    status             TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'failed'))
) STRICT;
CREATE INDEX outbox_by_status ON outbox (status, id);
CREATE INDEX outbox_by_letter ON outbox (letter_id, status, id);

-- Chinese has no spaces: trigrams index every 3-character run. Its own copy of the
-- text (not external content) keeps it simple to keep in step with `letters`.
CREATE VIRTUAL TABLE letters_fts USING fts5 (
    tracking_code, subject, body, writer_name,
    tokenize = 'trigram'
);
"#;
