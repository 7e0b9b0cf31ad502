//! A consistent copy of the live database for a backup, and what that copy holds.
//!
//! `VACUUM INTO` reads the database in one read transaction: in WAL mode it sees one
//! committed moment, never a half-applied group, and it does not stop the writer (it
//! needs no lock a writer takes). Everything the backup records about the copy (the
//! latest change, the audit head, the blobs it needs) is then read from the copy
//! itself, so it describes exactly what was copied, not the live database a moment
//! later.

use std::collections::BTreeSet;
use std::path::Path;

use jsjb_proto::AuditEntryHash;
use jsjb_storage::StorageError;
use rusqlite::{Connection, OpenFlags};

use crate::Db;

/// What a snapshot holds, read from the snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// The newest sync change (`0` for none).
    pub latest_change_seq: i64,
    /// The newest audit entry's seq and hash (`0` and the genesis hash for none).
    pub audit_head: AuditEntryHash,
    /// The schema version (`user_version`) the snapshot was written at.
    pub schema_version: i64,
    /// Every blob (SHA-256) a row of the snapshot names.
    pub blobs: BTreeSet<String>,
}

/// Copies the database at `live` (which must exist: a missing database is an error,
/// not an empty backup) into the new file `dest`, as one consistent moment, and
/// returns what the copy holds. The copy is a single file in rollback-journal mode
/// (no `-wal` beside it) and synced to disk. Blocking.
pub fn snapshot_into(live: &Path, dest: &Path) -> Result<SnapshotInfo, StorageError> {
    let source = Connection::open_with_flags(
        live,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .db()?;
    // Wait behind a checkpoint or the writer's brief locks rather than fail.
    source
        .busy_timeout(std::time::Duration::from_secs(30))
        .db()?;
    let dest_text = dest
        .to_str()
        .ok_or_else(|| StorageError::Corrupt(format!("{} is not UTF-8", dest.display())))?;
    source.execute("VACUUM INTO ?1", [dest_text]).db()?;
    drop(source);

    let copy = Connection::open_with_flags(
        dest,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .db()?;
    // One file that opens anywhere: a WAL-mode header would want a `-shm` beside it.
    let _: String = copy
        .query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))
        .db()?;
    // The copy is ours alone: no one else writes to it, so no transaction is needed.
    let info = describe(&copy)?;
    copy.close().map_err(|(_, e)| crate::backend(e))?;
    std::fs::File::open(dest)?.sync_all()?;
    Ok(info)
}

/// What the database on `conn` holds: its latest change, audit head, schema version
/// and the blobs its rows name. Run it inside one read transaction (as
/// `SqliteStore::read` does) on a database others write to, so the parts agree.
pub fn describe(conn: &Connection) -> Result<SnapshotInfo, StorageError> {
    let latest_change_seq = conn
        .query_row("SELECT coalesce(max(seq), 0) FROM changes", [], |r| {
            r.get(0)
        })
        .db()?;
    let (audit_head, _) = crate::audit::tip(conn, None).db()?;
    let schema_version = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .db()?;
    let blobs = referenced_blobs(conn)?;
    Ok(SnapshotInfo {
        latest_change_seq,
        audit_head,
        schema_version,
        blobs,
    })
}

/// Every blob a row names: a letter's attachments (and every stored attachment's
/// metadata row), a signed form's handwriting, a citizen's unfinished draft's media.
/// A new table that names a blob must be added here, or a backup would leave its
/// blobs behind (`names_every_blob_a_row_can_hold` guards the list).
pub fn referenced_blobs(conn: &Connection) -> Result<BTreeSet<String>, StorageError> {
    let mut stmt = conn
        .prepare(
            "SELECT sha256 FROM attachments
             UNION SELECT sha256 FROM letter_attachments
             UNION SELECT handwriting_sha256 FROM signed_forms
             UNION SELECT json_extract(a.value, '$.sha256')
                   FROM citizen_drafts, json_each(citizen_drafts.attachments) AS a",
        )
        .db()?;
    let rows = stmt.query_map([], |r| r.get::<_, Option<String>>(0)).db()?;
    let mut blobs = BTreeSet::new();
    for sha in rows {
        if let Some(sha) = sha.db()? {
            blobs.insert(sha);
        }
    }
    Ok(blobs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(c: char) -> String {
        std::iter::repeat_n(c, 64).collect()
    }

    /// A database with one row of every kind that names a blob.
    fn seeded(path: &Path) -> Connection {
        let mut conn = Connection::open(path).expect("open");
        conn.pragma_update(None, "journal_mode", "WAL")
            .expect("wal");
        crate::migrations::migrate(&mut conn).expect("migrate");
        conn.execute_batch(&format!(
            "INSERT INTO attachments (sha256, mime, size, kind, created_at)
               VALUES ('{a}', 'image/png', 1, 'image', '2026-01-01T00:00:00.000000Z');
             INSERT INTO citizen_drafts (channel, sender, started_at, updated_at, attachments)
               VALUES ('wechat', 'o1', 'x', 'x', '[{{\"sha256\": \"{d}\"}}, {{\"sha256\": \"{a}\"}}]');",
            a = sha('a'),
            d = sha('d'),
        ))
        .expect("rows");
        conn
    }

    #[test]
    fn the_copy_is_one_file_that_names_the_blobs_of_the_moment_it_was_taken() {
        let dir = tempfile::tempdir().expect("dir");
        let live = dir.path().join("live.sqlite3");
        let conn = seeded(&live);
        // A write transaction left open on the live database: the copy neither waits
        // for it nor sees it.
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE;
             INSERT INTO attachments (sha256, mime, size, kind, created_at)
               VALUES ('{}', 'image/png', 1, 'image', 'x');",
            sha('b')
        ))
        .expect("open write");
        let dest = dir.path().join("copy.sqlite3");
        let info = snapshot_into(&live, &dest).expect("snapshot");
        assert_eq!(info.blobs, BTreeSet::from([sha('a'), sha('d')]));
        assert_eq!(info.latest_change_seq, 0);
        assert_eq!(info.audit_head.seq, 0);
        assert!(info.schema_version > 0);
        assert!(!dir.path().join("copy.sqlite3-wal").exists());
        conn.execute_batch("COMMIT").expect("commit");

        // Reopened, the copy says the same.
        let copy = Connection::open(&dest).expect("reopen");
        assert_eq!(describe(&copy).expect("describe"), info);
        // A second snapshot sees the committed row.
        let again = snapshot_into(&live, &dir.path().join("copy2.sqlite3")).expect("again");
        assert!(again.blobs.contains(&sha('b')));
    }

    #[test]
    fn a_missing_database_is_an_error_not_an_empty_copy() {
        let dir = tempfile::tempdir().expect("dir");
        let dest = dir.path().join("copy.sqlite3");
        assert!(snapshot_into(&dir.path().join("none.sqlite3"), &dest).is_err());
        assert!(!dir.path().join("none.sqlite3").exists());
    }

    /// Every column of the schema whose name says it holds a SHA-256 is one
    /// `referenced_blobs` reads (or a draft's attachment list): a new one fails here
    /// until the backup knows about it.
    #[test]
    fn names_every_blob_a_row_can_hold() {
        let dir = tempfile::tempdir().expect("dir");
        let conn = seeded(&dir.path().join("db.sqlite3"));
        let mut stmt = conn
            .prepare(
                "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p
                 WHERE m.type = 'table' AND (p.name LIKE '%sha256%' OR p.name = 'attachments')
                 ORDER BY 1, 2",
            )
            .expect("prepare");
        let columns: Vec<String> = stmt
            .query_map([], |r| {
                Ok(format!(
                    "{}.{}",
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?
                ))
            })
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(
            columns,
            [
                "attachments.sha256",
                "citizen_drafts.attachments",
                "letter_attachments.sha256",
                "signed_forms.handwriting_sha256",
            ]
        );
    }
}
