//! The schema, as append-only migrations: never edit a migration that has shipped, add
//! the next one.

use rusqlite_migration::{M, Migrations};

/// Every migration, in order.
const STEPS: &[M<'static>] = &[
    M::up(V1_CACHE),
    M::up(V2_SIGNED_ACTIONS),
    M::up(V3_HANDOVER_ACKS),
    M::up(V4_AUDIT_HEAD),
    M::up(V5_SAVABLE_CLOCKS),
    M::up(V6_WORKLISTS),
    M::up(V7_CAUGHT_UP),
    M::up(V8_WALL_BOARD),
    M::up(V9_BOARD_INDEX),
    M::up(V10_HANDED_OVER_BY),
    M::up(V11_INBOX_IN_MEMORY),
    M::up(V12_HANDOVER_OWED),
    M::up(V13_PROBLEM_TAGS),
    M::up(V14_COUNTS_UNTIL),
];

/// The cache's migrations. `MIGRATIONS.validate()` runs in the tests.
pub const MIGRATIONS: Migrations<'static> = Migrations::from_slice(STEPS);

/// The first schema.
///
/// `letters` holds, per letter, the columns for listing; the server's record (JSON) is
/// in `letter_records` and the searchable text in `letter_text`, so that the scans the
/// inbox does (counts, colour bands) read narrow rows.
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
-- Also covers the per-state counts under a colour-band filter.
CREATE INDEX letters_by_state ON letters (state, urgency_key, next_due_at, warn_at);
CREATE INDEX letters_by_unit ON letters (unit_id, urgency_key, id);
CREATE INDEX letters_by_handler ON letters (handler_id, urgency_key, id);
CREATE INDEX letters_by_tracking_code ON letters (tracking_code);

-- Letters per state, kept by triggers, so that the inbox's state tabs cost nothing
-- when no other filter is set (the usual case) instead of a scan of every letter.
CREATE TABLE letter_state_counts (
    state TEXT    PRIMARY KEY,
    count INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE TRIGGER letters_counted_in AFTER INSERT ON letters BEGIN
    INSERT INTO letter_state_counts (state, count) VALUES (new.state, 1)
        ON CONFLICT (state) DO UPDATE SET count = count + 1;
END;
CREATE TRIGGER letters_counted_out AFTER DELETE ON letters BEGIN
    UPDATE letter_state_counts SET count = count - 1 WHERE state = old.state;
END;
CREATE TRIGGER letters_counted_moved AFTER UPDATE OF state ON letters
WHEN old.state IS NOT new.state BEGIN
    UPDATE letter_state_counts SET count = count - 1 WHERE state = old.state;
    INSERT INTO letter_state_counts (state, count) VALUES (new.state, 1)
        ON CONFLICT (state) DO UPDATE SET count = count + 1;
END;

CREATE TABLE letter_records (
    id     INTEGER PRIMARY KEY REFERENCES letters (id) ON DELETE CASCADE,
    record TEXT    NOT NULL
) STRICT;

-- Tracking code, subject, body and writer's name, one per line: what the search finds.
-- No foreign key: the FTS index below needs the old text to forget a letter, so the
-- code deletes it explicitly.
CREATE TABLE letter_text (
    id   INTEGER PRIMARY KEY,
    text TEXT    NOT NULL
) STRICT;

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

-- Chinese has no spaces: trigrams index every 3-character run of `letter_text`.
CREATE VIRTUAL TABLE letters_fts USING fts5 (
    text,
    content = 'letter_text', content_rowid = 'id',
    tokenize = 'trigram'
);
"#;

/// The chief's approval carries its signature envelope to the server (the sign-off):
/// it is queued with the action so that a signed decision survives going offline.
const V2_SIGNED_ACTIONS: &str = "ALTER TABLE outbox ADD COLUMN signature TEXT;";

/// Shift handover acknowledgements (交接班): this workstation's own, queued until the
/// server has them (`status = 'pending'`, retried; `'failed'` when refused), and the
/// unit's recent ones as the server lists them (`'recorded'`). One row per
/// idempotency key, so the server's copy of our own acknowledgement replaces the queued
/// one instead of doubling it.
const V3_HANDOVER_ACKS: &str = r#"
CREATE TABLE handover_acks (
    idempotency_key TEXT    PRIMARY KEY,
    server_id       INTEGER,
    unit_id         INTEGER NOT NULL,
    user_id         INTEGER NOT NULL,
    user_name       TEXT    NOT NULL,
    acknowledged_at INTEGER NOT NULL,
    request         TEXT    NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('pending', 'failed', 'recorded')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT
) STRICT, WITHOUT ROWID;
CREATE INDEX handover_acks_by_unit ON handover_acks (unit_id, acknowledged_at);
"#;

/// Witnessed audit: the newest signed head of the server's audit chain this desktop saw
/// (JSON of `jsjb_proto::AuditHead`), whose key is the one pinned for the server. A
/// server whose chain is later shorter than it, or forks from it, is reported.
const V4_AUDIT_HEAD: &str = "ALTER TABLE sync_state ADD COLUMN audit_head TEXT;";

/// The inbox ranks what can still be saved first (docs/design.md, "The inbox order"):
/// the due times of a letter's sign-for and contact clocks while they are not met
/// (NULL otherwise), so that SQL can tell at any `now` whether one of them still runs
/// even when an earlier clock of the letter is already overdue. Filled for the cached
/// letters when the clock policy is next set (every sign-in recomputes every view).
const V5_SAVABLE_CLOCKS: &str = "ALTER TABLE letters ADD COLUMN sign_for_due INTEGER;
ALTER TABLE letters ADD COLUMN contact_due INTEGER;";

/// The deciders' worklists (issue 12): the supervising officer assigned (我的盯办) and
/// when they last chased (催办, a badge at the handling unit), an
/// extension request waiting for a decision (延期待审批), an extension granted (已延期),
/// and a closed letter whose return visit is not done (待回访). Filled for the cached letters when the clock policy
/// is next set (every sign-in recomputes every view), like V5.
const V6_WORKLISTS: &str = "ALTER TABLE letters ADD COLUMN supervisor_id INTEGER;
ALTER TABLE letters ADD COLUMN chased_at INTEGER;
ALTER TABLE letters ADD COLUMN extension_pending INTEGER NOT NULL DEFAULT 0
    CHECK (extension_pending IN (0, 1));
ALTER TABLE letters ADD COLUMN extended INTEGER NOT NULL DEFAULT 0 CHECK (extended IN (0, 1));
ALTER TABLE letters ADD COLUMN visit_due INTEGER NOT NULL DEFAULT 0 CHECK (visit_due IN (0, 1));
CREATE INDEX letters_by_supervisor ON letters (supervisor_id, urgency_key, id)
    WHERE supervisor_id IS NOT NULL;";

/// Whether the cache has ever caught up with the server (a page with nothing more
/// behind it). Until then every page belongs to the first sync, whose letters are history
/// and are not highlighted as new — the whole first sync, not only its first page. A cache
/// that already holds a cursor has caught up before. And partial indexes for the deciders'
/// worklists of migration 6, which each select a few letters of many.
const V7_CAUGHT_UP: &str = "ALTER TABLE sync_state ADD COLUMN caught_up INTEGER NOT NULL DEFAULT 0
    CHECK (caught_up IN (0, 1));
UPDATE sync_state SET caught_up = (cursor != 0);
-- The deciders' worklists select few letters of many: partial indexes, in the inbox order.
CREATE INDEX letters_extension_pending ON letters (urgency_key, id) WHERE extension_pending = 1;
CREATE INDEX letters_extended ON letters (urgency_key, id) WHERE extended = 1;
CREATE INDEX letters_visit_due ON letters (urgency_key, id) WHERE visit_due = 1;";

/// The wall board (各单位实时态势) and escalation upward (issue 12 items 5–6): the due
/// times of the first-feedback and closure clocks while not met (with V5's two, every
/// clock's breach is a count of rows), and the desk that dispatched the letter to its
/// holder (`above_unit`, the last of the dispatch chain). Filled when the clock policy is
/// next set, like V5.
const V8_WALL_BOARD: &str = "ALTER TABLE letters ADD COLUMN feedback_due INTEGER;
ALTER TABLE letters ADD COLUMN closure_due INTEGER;
ALTER TABLE letters ADD COLUMN above_unit INTEGER;";

/// The wall board's counts read every open letter's holder and clocks on each change: a
/// partial index holding exactly those columns of exactly the open letters, so the count
/// is a scan of the index alone (the bench: 170 ms → see docs/performance.md at 100,000
/// letters).
const V9_BOARD_INDEX: &str = "CREATE INDEX letters_open_board ON letters
    (unit_id, state, sign_for_due, contact_due, feedback_due, closure_due, extension_pending)
    WHERE state != 'closed';";

/// The named outgoing officer of a handover (交班人): the request (JSON) carries the id,
/// this the name as the directory (when queued) or the server (when recorded) gave it.
const V10_HANDED_OVER_BY: &str = "ALTER TABLE handover_acks ADD COLUMN handed_over_by_name TEXT;";

/// The inbox is answered from memory (`inbox/index.rs`, issue 15 item 3): the indexes
/// that served only its filters and order, and the per-state counts kept by triggers
/// for its tabs, cost every write and serve nothing now. The unit index stays (the
/// handover reads a unit's open letters). And a character index for 1–2-character
/// search words (`search.rs`): contentless, each character of the text one token; a
/// cache from before is filled from `letter_text` when it is opened (`Store::init`).
const V11_INBOX_IN_MEMORY: &str = "DROP INDEX IF EXISTS letters_by_urgency;
DROP INDEX IF EXISTS letters_by_state;
DROP INDEX IF EXISTS letters_by_handler;
DROP INDEX IF EXISTS letters_by_tracking_code;
DROP INDEX IF EXISTS letters_by_supervisor;
DROP INDEX IF EXISTS letters_extension_pending;
DROP INDEX IF EXISTS letters_extended;
DROP INDEX IF EXISTS letters_visit_due;
DROP TRIGGER IF EXISTS letters_counted_in;
DROP TRIGGER IF EXISTS letters_counted_out;
DROP TRIGGER IF EXISTS letters_counted_moved;
DROP TABLE IF EXISTS letter_state_counts;
CREATE VIRTUAL TABLE letters_chars USING fts5 (
    text,
    content = '', contentless_delete = 1,
    tokenize = 'unicode61'
);";

/// What the handover owes (issue 15 item 3), derived with the other listing columns so
/// that the handover reads a unit's open rows and no history: the last chase (催办)
/// nobody of the holding unit has answered (when, its note) and the promised call-back
/// of a last contact attempt that did not reach the writer (the attempt, the promised
/// time, its note). Filled for the cached letters when the cache is opened (`Store::init`).
const V12_HANDOVER_OWED: &str = "ALTER TABLE letters ADD COLUMN chase_owed_at INTEGER;
ALTER TABLE letters ADD COLUMN chase_note TEXT;
ALTER TABLE letters ADD COLUMN callback_attempt_at INTEGER;
ALTER TABLE letters ADD COLUMN callback_at INTEGER;
ALTER TABLE letters ADD COLUMN callback_note TEXT;";

/// The letter's problem tags (问题分类, a JSON array) beside its listing columns: the
/// statistics count letters by tag, and reading them out of every letter's whole record
/// was a quarter of the statistics' time (issue 15 item 3). Filled for the cached
/// letters when the cache is opened (`Store::init`).
const V13_PROBLEM_TAGS: &str =
    "ALTER TABLE letters ADD COLUMN problem_tags TEXT NOT NULL DEFAULT '[]';";

/// The last moment a letter's server history can count in a statistics period
/// (`LetterFacts::counts_until`, µs; NULL while it still can, e.g. held by a unit): the
/// statistics fold only the letters a period can see, not every history in the cache
/// (issue 15 item 3). NULL until filled, which only costs a fold: filled for the cached
/// letters when the cache is opened (`Store::init`).
const V14_COUNTS_UNTIL: &str = "ALTER TABLE letters ADD COLUMN counts_until INTEGER;";
