//! Forgetting cached letters: a letter's row with what hangs on it, its search text, and
//! the attachment bytes no other letter uses. Used when a letter leaves the scope
//! (`letters.rs`) and when the scope itself changes (`sync_state.rs`).

use jsjb_core::letter::LetterId;
use rusqlite::Connection;

use crate::{StoreError, search};

/// Forgets every cached letter, keeping the outbox (the scope itself changed: the next
/// pulls decide what is in it, the server what of the outbox still applies).
///
/// In bulk, not letter by letter: a user of another unit signing in at a workstation
/// with 100,000 letters cached waited 8 s for the per-letter deletes (each an FTS5
/// delete and merge); the same as whole-table statements is a fraction of that
/// (docs/performance.md).
pub(crate) fn forget_every_letter(conn: &Connection) -> Result<(), StoreError> {
    // Every attachment row belongs to a cached letter, so each blob one refers to is
    // unused once the letters are gone (what `delete_letter` checks one by one).
    conn.execute(
        "DELETE FROM attachment_blobs WHERE sha256 IN (SELECT sha256 FROM attachments)",
        [],
    )?;
    // Events, attachments and records cascade.
    conn.execute("DELETE FROM letters", [])?;
    search::forget_every_letter(conn)
}

pub(crate) fn delete_letter(conn: &Connection, id: LetterId) -> Result<bool, StoreError> {
    let shas: Vec<String> = conn
        .prepare_cached("SELECT sha256 FROM attachments WHERE letter_id = ?1")?
        .query_map([id.0], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let deleted = conn
        .prepare_cached("DELETE FROM letters WHERE id = ?1")?
        .execute([id.0])?;
    search::forget_letter(conn, id)?;
    let mut drop_blob = conn.prepare_cached(
        "DELETE FROM attachment_blobs WHERE sha256 = ?1
           AND NOT EXISTS (SELECT 1 FROM attachments WHERE sha256 = ?1)",
    )?;
    for sha in shas {
        drop_blob.execute([sha])?;
    }
    Ok(deleted > 0)
}
