//! `jsjb-server admin migrate-from-sqlite`: copies a platform kept in the embedded SQLite
//! backend into an empty PostgreSQL database, and checks the copy.
//!
//! Every table of the PostgreSQL schema (but the citizen side's short-lived state: see
//! `TABLES`) is copied column by column from the SQLite table of the same name (the two
//! schemas keep the same tables and columns; V1__schema.sql), with each value converted
//! to the PostgreSQL column's type: times from `jsjb_storage::time::to_db` text to
//! `timestamptz`, 0/1 to `boolean`. Ids are kept, so the sync cursor (`changes.seq`) and
//! the audit chain carry over unchanged, and each identity continues after the largest
//! id copied. (COPY writes identity columns as given, GENERATED ALWAYS ones too — V1's
//! header says the ids are BY DEFAULT for this, but `login_attempts` is ALWAYS, and a
//! migration's text cannot be corrected once applied.) All of it is one transaction
//! under the write lock: a failed copy leaves the database empty.
//!
//! SQLite is read in one read transaction (every table from one moment) and a chunk of
//! rows at a time. Before the commit the copy is held to the original: each table's rows
//! counted on the PostgreSQL side, and the chain's last entry (same `seq`, same hash).
//! Then every entry and letter event of the chain is verified on PostgreSQL, in the
//! same transaction: a copy that fails is never committed.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use jsjb_proto::AuditEntryHash;
use jsjb_storage::StorageError;
use rusqlite::OptionalExtension;
use rusqlite::types::ValueRef;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use crate::{Db, PgStore, begin_write};

/// The tables in an order that satisfies every foreign key: a table comes after the
/// tables it references. `units` is read parents first (a unit may have been moved under
/// one created after it); `users.password_set_by` is filled after every user is in.
/// Not copied: the citizen side's codes, tickets and rate-limit buckets (V3), which live
/// minutes and are not the platform's record (a writer mid-verification asks again).
const TABLES: &[&str] = &[
    "units",
    "users",
    "user_roles",
    "sessions",
    "login_attempts",
    "login_lockouts",
    "letters",
    "letter_events",
    "attachments",
    "letter_attachments",
    "changes",
    "idempotency_keys",
    "audit_log",
    "writer_reveals",
    "letter_ratings",
    "citizen_drafts",
    "citizen_messages_seen",
    "signing_keys",
    "delegations",
    "signed_forms",
    "key_approvals",
    "user_notices",
    "handover_acks",
    "routing_rules",
    "report_facts",
    "report_progress",
    "clock_rules",
    "writer_notices",
    "writer_notice_feed",
];

/// Tables whose migration writes a row of their own, replaced by SQLite's.
const SEEDED_BY_MIGRATION: &[&str] = &["report_progress", "writer_notice_feed"];

/// What was copied and how the check went.
#[derive(Debug)]
pub struct Imported {
    /// Rows copied per table (equal on both sides, or the import fails).
    pub rows: BTreeMap<&'static str, u64>,
    /// The chain's last entry on both sides.
    pub audit_tip: AuditEntryHash,
    pub verification: jsjb_storage::audit::Verification,
}

/// One value on its way from SQLite to PostgreSQL.
#[derive(Debug)]
enum Cell {
    Null,
    Int8(i64),
    Int4(i32),
    Int2(i16),
    Bool(bool),
    Text(String),
    Time(DateTime<Utc>),
    Bytes(Vec<u8>),
}

impl ToSql for Cell {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut tokio_postgres::types::private::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Cell::Null => Ok(IsNull::Yes),
            Cell::Int8(v) => v.to_sql(ty, out),
            Cell::Int4(v) => v.to_sql(ty, out),
            Cell::Int2(v) => v.to_sql(ty, out),
            Cell::Bool(v) => v.to_sql(ty, out),
            Cell::Text(v) => v.to_sql(ty, out),
            Cell::Time(v) => v.to_sql(ty, out),
            Cell::Bytes(v) => v.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        // Each cell was made for its column's type (`cell`).
        true
    }

    to_sql_checked!();
}

fn bad(table: &str, column: &str, detail: impl std::fmt::Display) -> StorageError {
    StorageError::Invalid {
        field: "sqlite",
        message: format!("{table}.{column}: {detail}"),
    }
}

/// The SQLite value as a value of the PostgreSQL column's type.
fn cell(table: &str, column: &str, ty: &Type, value: ValueRef<'_>) -> Result<Cell, StorageError> {
    let out_of_range = |v: i64| bad(table, column, format!("{v} does not fit {ty}"));
    Ok(match (value, ty) {
        (ValueRef::Null, _) => Cell::Null,
        (ValueRef::Integer(v), t) if *t == Type::INT8 => Cell::Int8(v),
        (ValueRef::Integer(v), t) if *t == Type::INT4 => {
            Cell::Int4(i32::try_from(v).map_err(|_| out_of_range(v))?)
        }
        (ValueRef::Integer(v), t) if *t == Type::INT2 => {
            Cell::Int2(i16::try_from(v).map_err(|_| out_of_range(v))?)
        }
        (ValueRef::Integer(v @ (0 | 1)), t) if *t == Type::BOOL => Cell::Bool(v == 1),
        (ValueRef::Text(text), t) if *t == Type::TEXT => Cell::Text(
            std::str::from_utf8(text)
                .map_err(|e| bad(table, column, e))?
                .to_owned(),
        ),
        (ValueRef::Text(text), t) if *t == Type::TIMESTAMPTZ => {
            let text = std::str::from_utf8(text).map_err(|e| bad(table, column, e))?;
            Cell::Time(
                jsjb_storage::time::from_db(text)
                    .map_err(|e| bad(table, column, format!("{text:?}: {e}")))?,
            )
        }
        (ValueRef::Blob(bytes), t) if *t == Type::BYTEA => Cell::Bytes(bytes.to_vec()),
        (other, t) => {
            return Err(bad(
                table,
                column,
                format!(
                    "a {:?} value cannot go into a {t} column",
                    other.data_type()
                ),
            ));
        }
    })
}

/// Rows sent from the SQLite reader to the COPY at a time: the import holds a few of
/// these in memory, never a whole table (a city's letter events run into millions).
const CHUNK_ROWS: usize = 2_000;

/// Reads one SQLite table in the columns and types the PostgreSQL table has, handing
/// `send` a chunk of rows at a time; stops early when `send` says the other side is gone.
fn read_table(
    sqlite: &rusqlite::Connection,
    table: &str,
    columns: &[(String, Type)],
    mut send: impl FnMut(Vec<Vec<Cell>>) -> bool,
) -> Result<(), StorageError> {
    let sqlite_err = |e: rusqlite::Error| bad(table, "*", e);
    let names: Vec<String> = columns
        .iter()
        .map(|(name, _)| format!("{table}.{name}"))
        .collect();
    let sql = match table {
        // Parents before children, whatever their ids.
        "units" => format!(
            "WITH RECURSIVE depth(id, d) AS (
                 SELECT id, 0 FROM units WHERE parent_id IS NULL
                 UNION ALL SELECT u.id, depth.d + 1 FROM units u JOIN depth ON u.parent_id = depth.id)
             SELECT {} FROM units JOIN depth USING (id) ORDER BY depth.d, units.id",
            names.join(", ")
        ),
        _ => format!("SELECT {} FROM {table}", names.join(", ")),
    };
    let mut stmt = sqlite.prepare(&sql).map_err(sqlite_err)?;
    let mut rows = stmt.query([]).map_err(sqlite_err)?;
    let mut chunk = Vec::with_capacity(CHUNK_ROWS);
    while let Some(row) = rows.next().map_err(sqlite_err)? {
        let mut cells = Vec::with_capacity(columns.len());
        for (i, (name, ty)) in columns.iter().enumerate() {
            let value = row.get_ref(i).map_err(sqlite_err)?;
            cells.push(cell(table, name, ty, value)?);
        }
        chunk.push(cells);
        if chunk.len() == CHUNK_ROWS && !send(std::mem::take(&mut chunk)) {
            return Ok(());
        }
    }
    if !chunk.is_empty() {
        send(chunk);
    }
    Ok(())
}

/// What the SQLite side holds, read in the same snapshot as the rows copied.
struct SqliteFacts {
    counts: BTreeMap<&'static str, u64>,
    tip: AuditEntryHash,
}

/// Opens the SQLite file read-only in one read transaction (every table from the same
/// moment, even if a server still writes to it), refuses user names that are one name
/// to PostgreSQL (its unique index is on lower(username), Unicode-aware; SQLite's
/// NOCASE folds ASCII only), and reads the counts and the chain's last entry.
fn open_sqlite(path: &Path) -> Result<(rusqlite::Connection, SqliteFacts), StorageError> {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| bad("sqlite", "open", e))?;
    conn.execute_batch("BEGIN")
        .map_err(|e| bad("sqlite", "begin", e))?;
    let mut names: BTreeMap<String, Vec<String>> = BTreeMap::new();
    {
        let mut stmt = conn
            .prepare("SELECT username FROM users")
            .map_err(|e| bad("users", "username", e))?;
        let found = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| bad("users", "username", e))?;
        for name in found {
            let name = name.map_err(|e| bad("users", "username", e))?;
            names.entry(name.to_lowercase()).or_default().push(name);
        }
    }
    let clashes: Vec<String> = names
        .into_values()
        .filter(|same| same.len() > 1)
        .map(|same| same.join(" / "))
        .collect();
    if !clashes.is_empty() {
        return Err(bad(
            "users",
            "username",
            format!(
                "these user names differ only in case, and PostgreSQL holds them as one: {}; rename all but one first",
                clashes.join(", ")
            ),
        ));
    }
    let mut counts = BTreeMap::new();
    for &table in TABLES {
        let n: i64 = conn
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .map_err(|e| bad(table, "count", e))?;
        counts.insert(table, u64::try_from(n).unwrap_or_default());
    }
    let tip = conn
        .query_row(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
            [],
            |r| {
                Ok(AuditEntryHash {
                    seq: r.get(0)?,
                    hash: r.get(1)?,
                })
            },
        )
        .optional()
        .map_err(|e| bad("audit_log", "tip", e))?
        .unwrap_or_else(|| AuditEntryHash {
            seq: 0,
            hash: jsjb_storage::audit::GENESIS.to_owned(),
        });
    Ok((conn, SqliteFacts { counts, tip }))
}

/// Copies the SQLite database at `sqlite_path` into `store`, which must hold no
/// organisation yet, and checks the copy (see the module doc).
pub async fn from_sqlite(store: &PgStore, sqlite_path: &Path) -> Result<Imported, StorageError> {
    let path = sqlite_path.to_owned();
    let (sqlite, facts) = tokio::task::spawn_blocking(move || open_sqlite(&path))
        .await
        .map_err(|e| StorageError::Io(std::io::Error::other(e)))??;
    let sqlite = std::sync::Arc::new(std::sync::Mutex::new(sqlite));

    let mut client = store.writer().await?;
    let tx = begin_write(&mut client).await?;
    // A large platform's copy and check pause between statements for longer than a
    // request ever should (reading SQLite, hashing the chain): the server's limit on
    // idle transactions (lib.rs) does not apply to this one.
    tx.batch_execute("SET LOCAL idle_in_transaction_session_timeout = 0")
        .await
        .db()?;
    // Empty means every table (but the migrations' own rows).
    for &table in TABLES.iter().filter(|t| !SEEDED_BY_MIGRATION.contains(t)) {
        let held: bool = tx
            .query_one(&format!("SELECT EXISTS (SELECT 1 FROM {table})"), &[])
            .await
            .db()?
            .get(0);
        if held {
            return Err(StorageError::Conflict {
                code: "not_empty",
                detail: format!(
                    "the PostgreSQL database already holds a platform ({table} has rows); migrate into an empty one"
                ),
            });
        }
    }
    // The migrations' own rows; the SQLite ones replace them.
    for &table in SEEDED_BY_MIGRATION {
        tx.execute(&format!("DELETE FROM {table}"), &[])
            .await
            .db()?;
    }
    // The copied history is no news to any node: no notification per change row.
    tx.batch_execute("ALTER TABLE changes DISABLE TRIGGER changes_notify")
        .await
        .db()?;

    let mut rows = BTreeMap::new();
    let mut password_set_by: Vec<(i64, i64)> = Vec::new();
    for &table in TABLES {
        let probe = tx
            .prepare(&format!("SELECT * FROM {table} LIMIT 0"))
            .await
            .db()?;
        let columns: Vec<(String, Type)> = probe
            .columns()
            .iter()
            .map(|c| (c.name().to_owned(), c.type_().clone()))
            .collect();
        let (set_by_at, id_at) = if table == "users" {
            (
                Some(column_index(&columns, "password_set_by")?),
                column_index(&columns, "id")?,
            )
        } else {
            (None, 0)
        };
        let types: Vec<Type> = columns.iter().map(|(_, t)| t.clone()).collect();
        let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
        let sink = tx
            .copy_in(&format!(
                "COPY {table} ({}) FROM STDIN (FORMAT binary)",
                names.join(", ")
            ))
            .await
            .db()?;
        let writer = BinaryCopyInWriter::new(sink, &types);
        let mut writer = std::pin::pin!(writer);
        let (sender, mut chunks) = tokio::sync::mpsc::channel::<Vec<Vec<Cell>>>(2);
        let reader = {
            let (sqlite, cols) = (sqlite.clone(), columns.clone());
            tokio::task::spawn_blocking(move || {
                let conn = sqlite
                    .lock()
                    .map_err(|_| bad(table, "*", "the reader panicked"))?;
                read_table(&conn, table, &cols, |chunk| {
                    sender.blocking_send(chunk).is_ok()
                })
            })
        };
        while let Some(mut chunk) = chunks.recv().await {
            for row in &mut chunk {
                if let Some(set_by_at) = set_by_at {
                    // Filled once every user it may name is in.
                    if let (Cell::Int8(id), Cell::Int8(by)) = (&row[id_at], &row[set_by_at]) {
                        password_set_by.push((*id, *by));
                    }
                    row[set_by_at] = Cell::Null;
                }
                let refs: Vec<&(dyn ToSql + Sync)> =
                    row.iter().map(|c| c as &(dyn ToSql + Sync)).collect();
                writer.as_mut().write(&refs).await.db()?;
            }
        }
        reader
            .await
            .map_err(|e| StorageError::Io(std::io::Error::other(e)))??;
        let copied = writer.finish().await.db()?;
        rows.insert(table, copied);
    }
    // SQLite keys lock-outs by the name as typed (COLLATE NOCASE); PostgreSQL by
    // lower(username), which is how it looks them up — its own lower(), so that the two
    // agree on every letter.
    tx.execute("UPDATE login_lockouts SET username = lower(username)", &[])
        .await
        .db()?;
    tx.batch_execute("ALTER TABLE changes ENABLE TRIGGER changes_notify")
        .await
        .db()?;
    for (id, by) in &password_set_by {
        tx.execute(
            "UPDATE users SET password_set_by = $2 WHERE id = $1",
            &[id, by],
        )
        .await
        .db()?;
    }
    // Each identity goes on after the largest id copied.
    let identities = tx
        .query(
            "SELECT table_name::text, column_name::text FROM information_schema.columns
             WHERE table_schema = current_schema() AND is_identity = 'YES'",
            &[],
        )
        .await
        .db()?;
    for r in identities {
        let (table, column): (String, String) = (r.get(0), r.get(1));
        tx.execute(
            &format!(
                "SELECT setval(pg_get_serial_sequence('{table}', '{column}'),
                               coalesce((SELECT max({column}) FROM {table}), 0) + 1, false)"
            ),
            &[],
        )
        .await
        .db()?;
    }
    // The check before the commit: every table holds what SQLite holds, counted on the
    // PostgreSQL side, and the chain ends at the same entry.
    for (&table, &n) in &facts.counts {
        let held: i64 = tx
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
            .db()?
            .get(0);
        let copied = rows.get(table).copied().unwrap_or_default();
        if copied != n || u64::try_from(held).ok() != Some(n) {
            return Err(StorageError::Corrupt(format!(
                "{table}: {copied} rows copied and {held} held of {n}; nothing was kept"
            )));
        }
    }
    let pg_tip = tx
        .query_opt(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
            &[],
        )
        .await
        .db()?
        .map_or_else(
            || AuditEntryHash {
                seq: 0,
                hash: jsjb_storage::audit::GENESIS.to_owned(),
            },
            |r| AuditEntryHash {
                seq: r.get(0),
                hash: r.get(1),
            },
        );
    let sqlite_tip = facts.tip;
    if pg_tip != sqlite_tip {
        return Err(StorageError::Corrupt(format!(
            "the chain would end at {}:{} on PostgreSQL but ends at {}:{} in SQLite; nothing was kept",
            pg_tip.seq, pg_tip.hash, sqlite_tip.seq, sqlite_tip.hash
        )));
    }
    // Every entry and letter event re-checked on PostgreSQL, still inside the import's
    // transaction: a copy that does not verify is never committed.
    let verification = crate::audit::verify_in(&tx, std::slice::from_ref(&sqlite_tip)).await?;
    if let Some(failure) = verification.failure() {
        return Err(StorageError::Corrupt(format!(
            "the audit chain does not verify on PostgreSQL: {failure}; nothing was kept"
        )));
    }
    store.commit(tx).await?;
    drop(client);
    Ok(Imported {
        rows,
        audit_tip: pg_tip,
        verification,
    })
}

fn column_index(columns: &[(String, Type)], name: &str) -> Result<usize, StorageError> {
    columns
        .iter()
        .position(|(n, _)| n == name)
        .ok_or_else(|| StorageError::Corrupt(format!("users has no column {name}")))
}
