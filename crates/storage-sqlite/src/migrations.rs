//! The schema, as an append-only list of migrations.
//!
//! Never edit a released migration: add a new one. `released_migrations_are_unchanged`
//! pins each migration's SHA-256 to catch an accidental edit.
//!
//! `rusqlite_migration` applies them and keeps the version in `PRAGMA user_version`.

use rusqlite::Connection;
use rusqlite_migration::{M, MigrationDefinitionError, Migrations};

use jsjb_storage::StorageError;

/// Timestamps are TEXT in `jsjb_storage::time::to_db` form (UTC, fixed width), so ordering
/// and comparison work on the text. JSON columns are checked with `json_valid`.
pub const MIGRATIONS: &[&str] = &[
    // 1: organisation, accounts, letters, attachments, sync changes, idempotency, audit.
    r#"
CREATE TABLE units (
    id          INTEGER PRIMARY KEY,
    parent_id   INTEGER REFERENCES units(id),
    tier        TEXT NOT NULL CHECK (tier IN ('city', 'branch', 'station')),
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX units_parent ON units(parent_id);

CREATE TABLE users (
    id                  INTEGER PRIMARY KEY,
    unit_id             INTEGER NOT NULL REFERENCES units(id),
    username            TEXT NOT NULL UNIQUE COLLATE NOCASE,
    display_name        TEXT NOT NULL,
    password_hash       TEXT NOT NULL,
    active              INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    failed_logins       INTEGER NOT NULL DEFAULT 0,
    locked_until        TEXT,
    created_at          TEXT NOT NULL,
    password_changed_at TEXT NOT NULL
);
CREATE INDEX users_unit ON users(unit_id);

-- Roles as a set: one row per (user, role).
CREATE TABLE user_roles (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role    TEXT NOT NULL CHECK (role IN ('dispatcher', 'officer', 'chief', 'supervisor', 'admin')),
    PRIMARY KEY (user_id, role)
) WITHOUT ROWID;

-- Only the SHA-256 of a session token is stored.
CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id),
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    revoked_at  TEXT,
    ip          TEXT NOT NULL,
    workstation TEXT
) WITHOUT ROWID;
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE login_attempts (
    id       INTEGER PRIMARY KEY,
    at       TEXT NOT NULL,
    username TEXT NOT NULL,
    user_id  INTEGER REFERENCES users(id),
    ip       TEXT NOT NULL,
    success  INTEGER NOT NULL CHECK (success IN (0, 1))
);
CREATE INDEX login_attempts_ip ON login_attempts(ip, at);

-- The current state/unit/handler/version columns are a materialised view of
-- letter_events, updated in the same transaction as each event.
CREATE TABLE letters (
    id            INTEGER PRIMARY KEY,
    tracking_code TEXT NOT NULL UNIQUE,
    channel       TEXT NOT NULL CHECK (channel IN ('web', 'weibo', 'wechat', 'phone')),
    category      TEXT NOT NULL CHECK (category IN ('suggestion', 'help', 'complaint', 'inquiry', 'thanks')),
    problem_tags  TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(problem_tags)),
    subject       TEXT NOT NULL,
    body          TEXT NOT NULL,
    writer_name   TEXT NOT NULL,
    writer_phone  TEXT NOT NULL,
    writer_extra  TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(writer_extra)),
    received_at   TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('received', 'dispatched', 'handling', 'awaiting_approval', 'closed')),
    unit_id       INTEGER NOT NULL REFERENCES units(id),
    handler_id    INTEGER REFERENCES users(id),
    version       INTEGER NOT NULL DEFAULT 1,
    updated_at    TEXT NOT NULL
);
CREATE INDEX letters_unit_state ON letters(unit_id, state);

CREATE TABLE letter_events (
    id            INTEGER PRIMARY KEY,
    letter_id     INTEGER NOT NULL REFERENCES letters(id),
    seq           INTEGER NOT NULL,
    at            TEXT NOT NULL,
    actor_user_id INTEGER REFERENCES users(id),
    actor_unit_id INTEGER REFERENCES units(id),
    actor_role    TEXT,
    actor         TEXT NOT NULL,
    workstation   TEXT,
    kind          TEXT NOT NULL,
    payload       TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(payload)),
    UNIQUE (letter_id, seq)
);
CREATE TRIGGER letter_events_append_only_u BEFORE UPDATE ON letter_events
BEGIN SELECT RAISE(ABORT, 'letter_events is append-only'); END;
CREATE TRIGGER letter_events_append_only_d BEFORE DELETE ON letter_events
BEGIN SELECT RAISE(ABORT, 'letter_events is append-only'); END;

-- Content-addressed: the file is <blob dir>/<sha256[0..2]>/<sha256>.
CREATE TABLE attachments (
    sha256     TEXT PRIMARY KEY CHECK (length(sha256) = 64),
    mime       TEXT NOT NULL,
    size       INTEGER NOT NULL CHECK (size >= 0),
    kind       TEXT NOT NULL CHECK (kind IN ('image', 'voice')),
    created_at TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE letter_attachments (
    letter_id     INTEGER NOT NULL REFERENCES letters(id),
    position      INTEGER NOT NULL,
    sha256        TEXT NOT NULL REFERENCES attachments(sha256),
    original_name TEXT,
    PRIMARY KEY (letter_id, position)
) WITHOUT ROWID;
CREATE INDEX letter_attachments_sha ON letter_attachments(sha256);

-- The sync cursor. AUTOINCREMENT so a sequence number is never reused, even after
-- the newest row is deleted. unit_id is where the letter is after the change,
-- prev_unit_id where it was before, so a desktop whose scope it left gets a removal.
CREATE TABLE changes (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    letter_id    INTEGER NOT NULL REFERENCES letters(id),
    unit_id      INTEGER NOT NULL REFERENCES units(id),
    prev_unit_id INTEGER REFERENCES units(id),
    at           TEXT NOT NULL
);
CREATE INDEX changes_letter ON changes(letter_id);

CREATE TABLE idempotency_keys (
    user_id         INTEGER NOT NULL REFERENCES users(id),
    key             TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    response_status INTEGER NOT NULL,
    response_body   TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    PRIMARY KEY (user_id, key)
) WITHOUT ROWID;

CREATE TABLE audit_log (
    seq           INTEGER PRIMARY KEY,
    at            TEXT NOT NULL,
    actor         TEXT NOT NULL,
    actor_user_id INTEGER,
    actor_unit_id INTEGER,
    action        TEXT NOT NULL,
    letter_id     INTEGER,
    unit_id       INTEGER,
    user_id       INTEGER,
    payload       TEXT NOT NULL,
    prev_hash     TEXT NOT NULL,
    hash          TEXT NOT NULL UNIQUE
);
-- The triggers stop mistakes; the hash chain catches someone who drops them.
CREATE TRIGGER audit_log_append_only_u BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_append_only_d BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

CREATE TABLE writer_reveals (
    id        INTEGER PRIMARY KEY,
    letter_id INTEGER NOT NULL REFERENCES letters(id),
    user_id   INTEGER NOT NULL REFERENCES users(id),
    unit_id   INTEGER NOT NULL REFERENCES units(id),
    at        TEXT NOT NULL,
    fields    TEXT NOT NULL DEFAULT '["name","phone"]' CHECK (json_valid(fields))
);
CREATE INDEX writer_reveals_letter ON writer_reveals(letter_id);
"#,
    // 2: the citizen side — ratings by writers, conversation drafts (WeChat, Weibo),
    // delivered message ids, and the index duplicate detection searches.
    r#"
-- A writer's own rating of a closed letter: one per letter, kept apart from the
-- desk's return visit (回访), which is the measure the 满意率 counts.
CREATE TABLE letter_ratings (
    letter_id    INTEGER PRIMARY KEY REFERENCES letters(id),
    satisfaction TEXT NOT NULL CHECK (satisfaction IN ('satisfied', 'basically_satisfied', 'dissatisfied')),
    comment      TEXT NOT NULL DEFAULT '',
    rated_at     TEXT NOT NULL
);

-- A conversation on a messaging channel that has not become a letter yet.
CREATE TABLE citizen_drafts (
    channel     TEXT NOT NULL CHECK (channel IN ('wechat', 'weibo')),
    sender      TEXT NOT NULL,
    sender_name TEXT NOT NULL DEFAULT '',
    started_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    body        TEXT NOT NULL DEFAULT '',
    phone       TEXT,
    attachments TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(attachments)),
    PRIMARY KEY (channel, sender)
) WITHOUT ROWID;

-- Message ids already handled: the platforms redeliver when an answer is slow.
CREATE TABLE citizen_messages_seen (
    channel TEXT NOT NULL,
    msg_id  TEXT NOT NULL,
    at      TEXT NOT NULL,
    PRIMARY KEY (channel, msg_id)
) WITHOUT ROWID;
CREATE INDEX citizen_messages_seen_at ON citizen_messages_seen(at);

CREATE INDEX letters_writer_recent ON letters(writer_phone, received_at);
"#,
    // 3: the chief's signing keys, delegations (代签) and signed feedback forms.
    r#"
-- Public halves of the chiefs' SM2 keys (the private halves never leave the
-- workstations). A key signs only once an admin has activated it.
CREATE TABLE signing_keys (
    id             INTEGER PRIMARY KEY,
    user_id        INTEGER NOT NULL REFERENCES users(id),
    unit_id        INTEGER NOT NULL REFERENCES units(id),
    public_key_pem TEXT NOT NULL,
    fingerprint    TEXT NOT NULL UNIQUE,
    label          TEXT NOT NULL DEFAULT '',
    state          TEXT NOT NULL CHECK (state IN ('pending', 'active', 'revoked')),
    created_at     TEXT NOT NULL,
    activated_at   TEXT,
    activated_by   INTEGER REFERENCES users(id),
    revoked_at     TEXT,
    revoked_by     INTEGER REFERENCES users(id),
    revoke_reason  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX signing_keys_user ON signing_keys(user_id);

-- 代签: a chief lets a deputy of the same unit sign for a period, for all forms or one category.
CREATE TABLE delegations (
    id             INTEGER PRIMARY KEY,
    unit_id        INTEGER NOT NULL REFERENCES units(id),
    chief_user_id  INTEGER NOT NULL REFERENCES users(id),
    deputy_user_id INTEGER NOT NULL REFERENCES users(id),
    category       TEXT CHECK (category IN ('suggestion', 'help', 'complaint', 'inquiry', 'thanks')),
    valid_from     TEXT NOT NULL,
    valid_until    TEXT NOT NULL,
    note           TEXT NOT NULL DEFAULT '',
    created_at     TEXT NOT NULL,
    revoked_at     TEXT,
    revoked_by     INTEGER REFERENCES users(id),
    CHECK (valid_until > valid_from)
);
CREATE INDEX delegations_deputy ON delegations(deputy_user_id);

-- The exact bytes signed, the signature and the key, with the event they decided.
CREATE TABLE signed_forms (
    letter_id          INTEGER NOT NULL REFERENCES letters(id),
    event_seq          INTEGER NOT NULL,
    key_id             INTEGER NOT NULL REFERENCES signing_keys(id),
    signer_user_id     INTEGER NOT NULL REFERENCES users(id),
    delegation_id      INTEGER REFERENCES delegations(id),
    on_behalf_of       INTEGER REFERENCES users(id),
    decision           TEXT NOT NULL CHECK (decision IN ('approve', 'send_back')),
    form_bytes         BLOB NOT NULL,
    signature_der      BLOB NOT NULL,
    handwriting_sha256 TEXT NOT NULL CHECK (length(handwriting_sha256) = 64),
    signed_at          TEXT NOT NULL,
    PRIMARY KEY (letter_id, event_seq)
) WITHOUT ROWID;
CREATE TRIGGER signed_forms_append_only_u BEFORE UPDATE ON signed_forms
BEGIN SELECT RAISE(ABORT, 'signed_forms is append-only'); END;
CREATE TRIGGER signed_forms_append_only_d BEFORE DELETE ON signed_forms
BEGIN SELECT RAISE(ABORT, 'signed_forms is append-only'); END;
"#,
    // 4: shift handover acknowledgements (交接班).
    r#"
-- Who took over which unit's shift, when, having seen which letters. Append-only like
-- the audit log; (user_id, idempotency_key) makes a desktop's retry a no-op.
CREATE TABLE handover_acks (
    id              INTEGER PRIMARY KEY,
    unit_id         INTEGER NOT NULL REFERENCES units(id),
    user_id         INTEGER NOT NULL REFERENCES users(id),
    shift           TEXT NOT NULL,
    acknowledged_at TEXT NOT NULL,
    recorded_at     TEXT NOT NULL,
    note            TEXT NOT NULL,
    counts          TEXT NOT NULL CHECK (json_valid(counts)),
    letter_ids      TEXT NOT NULL CHECK (json_valid(letter_ids)),
    workstation     TEXT,
    idempotency_key TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    UNIQUE (user_id, idempotency_key)
);
CREATE INDEX handover_acks_unit ON handover_acks(unit_id, acknowledged_at);
CREATE TRIGGER handover_acks_append_only_u BEFORE UPDATE ON handover_acks
BEGIN SELECT RAISE(ABORT, 'handover_acks is append-only'); END;
CREATE TRIGGER handover_acks_append_only_d BEFORE DELETE ON handover_acks
BEGIN SELECT RAISE(ABORT, 'handover_acks is append-only'); END;
"#,
    // 5: lock-outs by user name (known or not) with a growing delay; the per-address
    // login limit counts the client's address bucket, not the proxy's address.
    r#"
-- Every name tried is counted here, whether or not an account has it, so that an
-- unknown name locks after the same failures as a real one and `account_locked`
-- does not tell which names exist. `lockouts` is how often the name was locked
-- (each lock lasts twice the one before); a row is forgotten a day after its last
-- failure once it is not locked.
CREATE TABLE login_lockouts (
    username        TEXT PRIMARY KEY COLLATE NOCASE,
    failures        INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0),
    lockouts        INTEGER NOT NULL DEFAULT 0 CHECK (lockouts >= 0),
    locked_until    TEXT,
    last_failure_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX login_lockouts_last_failure ON login_lockouts(last_failure_at);
-- Locks and failures in progress carry over from the accounts.
INSERT INTO login_lockouts (username, failures, lockouts, locked_until, last_failure_at)
    SELECT username, failed_logins, CASE WHEN locked_until IS NULL THEN 0 ELSE 1 END,
           locked_until, coalesce(locked_until, password_changed_at)
    FROM users WHERE failed_logins > 0 OR locked_until IS NOT NULL;

-- The address for IPv4, its /64 for IPv6 (crate::client_addr::bucket). NULL on rows
-- from before: they simply do not count.
ALTER TABLE login_attempts ADD COLUMN ip_bucket TEXT;
CREATE INDEX login_attempts_bucket_failed ON login_attempts(ip_bucket, at) WHERE success = 0;
"#,
    // 6: idempotency answers are pruned after a retention, oldest first, in batches.
    r#"
CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at);
"#,
    // 7: dual control of signing keys, who set each password, notices to users.
    r#"
-- Each admin's approval of a pending key: it becomes active with two, by distinct,
-- independent admins (src/signoff/sqlite.rs says what independent means).
CREATE TABLE key_approvals (
    key_id        INTEGER NOT NULL REFERENCES signing_keys(id),
    admin_user_id INTEGER NOT NULL REFERENCES users(id),
    approved_at   TEXT NOT NULL,
    PRIMARY KEY (key_id, admin_user_id)
) WITHOUT ROWID;
CREATE TRIGGER key_approvals_append_only_u BEFORE UPDATE ON key_approvals
BEGIN SELECT RAISE(ABORT, 'key_approvals is append-only'); END;
CREATE TRIGGER key_approvals_append_only_d BEFORE DELETE ON key_approvals
BEGIN SELECT RAISE(ABORT, 'key_approvals is append-only'); END;

-- The user who set the account's current password (at creation or by a reset), who
-- therefore may know it; NULL when the admin CLI set it. Filled from the audit log for
-- the accounts that exist.
ALTER TABLE users ADD COLUMN password_set_by INTEGER REFERENCES users(id);
UPDATE users SET password_set_by = (
    SELECT a.actor_user_id FROM audit_log a
    WHERE a.user_id = users.id AND a.action IN ('user.create', 'user.password_reset')
    ORDER BY a.seq DESC LIMIT 1
);

-- What a user is told at their next sign-in about their own account, until they
-- acknowledge it: key events and password resets.
CREATE TABLE user_notices (
    id              INTEGER PRIMARY KEY,
    user_id         INTEGER NOT NULL REFERENCES users(id),
    kind            TEXT NOT NULL CHECK (kind IN ('key_registered', 'key_activated', 'key_revoked', 'password_reset')),
    at              TEXT NOT NULL,
    by_user_id      INTEGER REFERENCES users(id),
    key_id          INTEGER REFERENCES signing_keys(id),
    fingerprint     TEXT,
    detail          TEXT NOT NULL DEFAULT '',
    acknowledged_at TEXT
);
CREATE INDEX user_notices_open ON user_notices(user_id, acknowledged_at);
"#,
    // 8: an admin-set password must be changed by its user at the next sign-in; the
    // last sign-in is read from the sessions, by user and time.
    r#"
ALTER TABLE users ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0
    CHECK (must_change_password IN (0, 1));
CREATE INDEX sessions_user_created ON sessions(user_id, created_at);
"#,
    // 9: a handover names its outgoing officer and records the letters ticked.
    r#"
-- 交班人: the colleague who handed the shift over (NULL on earlier rows and when none
-- was named); checked_ids: the listed letters the incoming officer ticked (a JSON
-- array, a subset of letter_ids). Added columns: the table stays append-only.
ALTER TABLE handover_acks ADD COLUMN handed_over_by INTEGER REFERENCES users(id);
ALTER TABLE handover_acks ADD COLUMN checked_ids TEXT NOT NULL DEFAULT '[]'
    CHECK (json_valid(checked_ids));
"#,
    // 10: units can be deactivated (they keep their letters' history; no new letters).
    r#"
ALTER TABLE units ADD COLUMN active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1));
"#,
    // 11: sessions renew while in use (sliding expiry under the absolute `expires_at`);
    // NULL: not renewed since the sign-in (`created_at`).
    r#"
ALTER TABLE sessions ADD COLUMN last_seen_at TEXT;
"#,
    // 12: the automatic routing rules, edited in the admin console: every saved version
    // kept (append-only), the newest in force.
    r#"
CREATE TABLE routing_rules (
    version  INTEGER PRIMARY KEY,
    rules    TEXT NOT NULL CHECK (json_valid(rules)),
    saved_at TEXT NOT NULL,
    saved_by INTEGER REFERENCES users(id),
    reason   TEXT NOT NULL
);
"#,
    // 13: the report facts (jsjb_core::report::LetterFacts, one row per fact), refreshed
    // from the changes after report_progress.change_seq (reports.rs). Derived data: to
    // rebuild, delete the rows and set the progress to 0.
    r#"
-- kind: 1 response (a dispatch), 2 resolution (the closure deadline), 3 return visit,
-- 4 clock deadline late or not decided yet, 5 holding, 6 letter received, 7 its problem
-- class. Times are Unix microseconds: at places the fact in a period (the dispatch,
-- the deadline, the visit, the start of the holding, receipt); a fact of kinds 1-4
-- counts at now iff counts_after < now, as met iff met (core's Outcome::encode).
CREATE TABLE report_facts (
    letter_id    INTEGER NOT NULL REFERENCES letters(id),
    kind         INTEGER NOT NULL CHECK (kind BETWEEN 1 AND 7),
    at           INTEGER NOT NULL,
    unit_id      INTEGER NOT NULL,
    tier         TEXT NOT NULL CHECK (tier IN ('city', 'branch', 'station')),
    user_id      INTEGER,
    category     TEXT NOT NULL,
    counts_after INTEGER,
    met          INTEGER CHECK (met IN (0, 1)),
    until        INTEGER,
    tag          TEXT
);
-- Covering: a report reads the period's facts from the index alone.
CREATE INDEX report_facts_period ON report_facts(kind, at, unit_id, user_id, category,
    counts_after, met, tier, until, tag, letter_id);
CREATE INDEX report_facts_letter ON report_facts(letter_id);
CREATE TABLE report_progress (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    change_seq INTEGER NOT NULL
);
INSERT INTO report_progress (id, change_seq) VALUES (1, 0);
"#,
    // 14: the clock rules (policy eras, working-day calendar) each start of the server
    // applied, append-only: the next start is checked against the newest, so that no
    // configuration rewrites an era or a day already begun.
    r#"
CREATE TABLE clock_rules (
    seq        INTEGER PRIMARY KEY,
    version    TEXT NOT NULL,
    doc        TEXT NOT NULL CHECK (json_valid(doc)),
    applied_at TEXT NOT NULL
);
"#,
    // 15: the citizen side's short-lived state, moved out of the server's memory so
    // that every node sees it (jsjb_storage::citizen_tokens): SMS codes and writers'
    // tickets (digests only), the rate limits' token buckets. Pruned by the server's
    // housekeeping once expired or idle.
    r#"
-- One live code per key (what it is for and the phone, e.g. letter:13812345678).
CREATE TABLE citizen_codes (
    key           TEXT PRIMARY KEY,
    code_hash     TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    attempts_left INTEGER NOT NULL CHECK (attempts_left >= 0)
) WITHOUT ROWID;
CREATE INDEX citizen_codes_expires ON citizen_codes(expires_at);
CREATE TABLE citizen_tickets (
    ticket_hash TEXT PRIMARY KEY,
    phone       TEXT NOT NULL,
    name        TEXT NOT NULL,
    expires_at  TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX citizen_tickets_expires ON citizen_tickets(expires_at);
-- key: the limit's name and what it counts by (ip:<address>, phone:sms:<phone>, …).
CREATE TABLE citizen_buckets (
    key    TEXT PRIMARY KEY,
    tokens REAL NOT NULL,
    at     TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX citizen_buckets_at ON citizen_buckets(at);
"#,
    // 16: a messaging channel's letters by their writer (jsjb_storage::sender_contact_key),
    // for 「进度」 in the chat. The expressions are the ones citizen::letters_from_sender
    // queries with, word for word, so that SQLite uses these indexes.
    r#"
CREATE INDEX letters_wechat_sender ON letters(json_extract(writer_extra, '$.wechat_openid'), received_at)
    WHERE channel = 'wechat';
CREATE INDEX letters_weibo_sender ON letters(json_extract(writer_extra, '$.weibo_uid'), received_at)
    WHERE channel = 'weibo';
"#,
    // 17: the notices to writers (告知, jsjb_storage::writer_notices): the queue, and
    // how far it has been fed from the changes. It starts at the newest change and
    // remembers that change's time (`since`), so a platform upgraded to it tells no
    // writer about a step taken before, even when the letter changes again later.
    r#"
CREATE TABLE writer_notices (
    id          INTEGER PRIMARY KEY,
    letter_id   INTEGER NOT NULL REFERENCES letters(id),
    step        TEXT NOT NULL CHECK (step IN ('receipt', 'unreachable', 'first_feedback', 'extended', 'closed', 'return_visit')),
    trigger_seq INTEGER NOT NULL CHECK (trigger_seq >= 1),
    route       TEXT NOT NULL CHECK (route IN ('sms', 'wechat')),
    state       TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
    attempts    INTEGER NOT NULL CHECK (attempts >= 0),
    text        TEXT NOT NULL,
    next_try_at TEXT NOT NULL,
    last_error  TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (letter_id, step, trigger_seq)
);
CREATE INDEX writer_notices_due ON writer_notices(next_try_at) WHERE state = 'pending';
CREATE TABLE writer_notice_feed (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    cursor INTEGER NOT NULL,
    since  TEXT
);
INSERT INTO writer_notice_feed (id, cursor, since)
    SELECT 1, COALESCE(MAX(seq), 0), (SELECT at FROM changes ORDER BY seq DESC LIMIT 1) FROM changes;
"#,
];

/// The migrations in `rusqlite_migration`'s terms.
pub fn migrations() -> Migrations<'static> {
    Migrations::new(MIGRATIONS.iter().map(|sql| M::up(sql)).collect())
}

/// Brings the database to the latest schema, one transaction per migration.
pub fn migrate(conn: &mut Connection) -> Result<(), StorageError> {
    migrations().to_latest(conn).map_err(|e| match e {
        rusqlite_migration::Error::MigrationDefinition(
            MigrationDefinitionError::DatabaseTooFarAhead,
        ) => StorageError::Migration(
            "the database was written by a newer server (its schema version is higher than \
             this server knows): run that one or restore a backup"
                .to_owned(),
        ),
        other => StorageError::Migration(other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;

    #[test]
    fn migrations_apply_to_an_empty_database_and_are_idempotent() {
        let mut conn = Connection::open_in_memory().expect("in-memory db");
        conn.pragma_update(None, "foreign_keys", "ON")
            .expect("pragma");
        migrate(&mut conn).expect("first run");
        migrate(&mut conn).expect("second run is a no-op");
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
        assert_eq!(version, MIGRATIONS.len() as i64);
        let fk_problems: i64 = conn
            .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })
            .expect("fk check");
        assert_eq!(fk_problems, 0);
        let integrity: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .expect("integrity");
        assert_eq!(integrity, "ok");
    }

    #[test]
    fn migrations_are_valid() {
        migrations().validate().expect("valid migrations");
    }

    #[test]
    fn a_newer_database_is_refused() {
        let mut conn = Connection::open_in_memory().expect("in-memory db");
        conn.pragma_update(None, "user_version", 999)
            .expect("pragma");
        assert!(matches!(
            migrate(&mut conn),
            Err(StorageError::Migration(_))
        ));
    }

    /// Released migrations are append-only. If this fails you edited one: revert it
    /// and add a new migration instead. Add the hash of a new one here when it ships.
    #[test]
    fn released_migrations_are_unchanged() {
        let released: &[&str] = &[
            RELEASED_1, RELEASED_2, RELEASED_3, RELEASED_4, RELEASED_5, RELEASED_6, RELEASED_7,
            RELEASED_8, RELEASED_9,
        ];
        for (i, expected) in released.iter().enumerate() {
            let actual = hex::encode(Sha256::digest(MIGRATIONS[i].as_bytes()));
            assert_eq!(&actual, expected, "migration {} was edited", i + 1);
        }
    }

    const RELEASED_1: &str = "df8a70ab38c5335863abff51e963301ae139c534da1fffddb1059725f7a37c36";
    const RELEASED_2: &str = "735f3ee27626b31944b1dba94b7336b6f9f9d82b168b843ea5b256ef436c8fac";
    /// The sign-off: signing keys, delegations, signed forms.
    const RELEASED_3: &str = "ab81d602a026a99aeef4977a669b5502bc4502846d6cf42a844f069e6bab1376";
    /// Shift handover acknowledgements.
    const RELEASED_4: &str = "e1e3c2fab4c33594bf009d9c55607df0d35ae76603c5eba4ae91a9dccdef9503";
    /// Lock-outs by user name; the login limit's address bucket.
    const RELEASED_5: &str = "9a7dad2e35ea6aeaee08a1ae9aaa1f222ec45e71f5ac10c8fbd2a8ce4fa9266b";
    /// The index the idempotency pruning walks.
    const RELEASED_6: &str = "c1fbe162a2dddc3dd69d6833e882f482a2f6974e5586e906e7a1333174d2172f";
    /// Dual control of signing keys, who set each password, notices to users.
    const RELEASED_7: &str = "54faf5b5d7df1cba93bd15f0e03b6def89bc0c979f39e75c249b98b79844daae";
    /// Passwords to change at the next sign-in; the last sign-in's index.
    const RELEASED_8: &str = "2faf1df54e67014968b90ef6674f51ecab8d9d61ae2e31486ce1331ffffec4ab";
    /// The handover's outgoing officer and ticks.
    const RELEASED_9: &str = "053e731d0e7077e88b7dd8962d87da9955eda7f4999b223983884ee953022cf1";
}
