//! Attachment bytes, fetched on demand and kept under a size cap, least recently used
//! evicted first.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use sha2::{Digest, Sha256};
use ts_rs::TS;

use crate::{Store, StoreError};

/// The default cap on cached attachment bytes: 512 MiB, a few thousand photos.
pub const DEFAULT_BLOB_CAP_BYTES: u64 = 512 * 1024 * 1024;

/// What an eviction freed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, TS)]
pub struct EvictOutcome {
    pub evicted: u64,
    #[ts(type = "number")]
    pub freed_bytes: u64,
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Store {
    /// Changes the cap that [`Store::put_blob`] keeps the cache under.
    pub fn set_blob_cap(&mut self, cap_bytes: u64) {
        self.blob_cap = cap_bytes;
    }

    /// Caches the bytes of an attachment, after checking they are what their content
    /// address says (a proxy or a broken download must not show the wrong photo), then
    /// evicts the least recently used bytes to stay under the cap.
    pub fn put_blob(&mut self, sha256: &str, bytes: &[u8]) -> Result<EvictOutcome, StoreError> {
        let actual = hex::encode(Sha256::digest(bytes));
        if !actual.eq_ignore_ascii_case(sha256) {
            return Err(StoreError::BlobMismatch(sha256.to_owned()));
        }
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO attachment_blobs (sha256, bytes, size, last_used)
             VALUES (?1, ?2, ?3, (SELECT coalesce(max(last_used), 0) + 1 FROM attachment_blobs))
             ON CONFLICT (sha256) DO UPDATE SET last_used = excluded.last_used",
            params![actual, bytes, to_i64(bytes.len() as u64)],
        )?;
        let outcome = evict(&tx, self.blob_cap)?;
        tx.commit()?;
        Ok(outcome)
    }

    /// The cached bytes, `None` when they must be fetched. Reading marks them as the
    /// most recently used.
    pub fn get_blob(&mut self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let sha256 = sha256.to_ascii_lowercase();
        let tx = self.conn.transaction()?;
        let bytes: Option<Vec<u8>> = tx
            .query_row(
                "UPDATE attachment_blobs
                 SET last_used = (SELECT max(last_used) + 1 FROM attachment_blobs)
                 WHERE sha256 = ?1 RETURNING bytes",
                [&sha256],
                |r| r.get(0),
            )
            .optional()?;
        tx.commit()?;
        Ok(bytes)
    }

    /// The MIME type of an attachment by its content address, from the metadata of the
    /// cached letters (which always have it, bytes or not). `None` when no cached letter
    /// has that attachment.
    pub fn attachment_mime(&self, sha256: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT mime FROM attachments WHERE sha256 = ?1 LIMIT 1",
                [sha256.to_ascii_lowercase()],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Total size of the cached bytes.
    pub fn blob_bytes(&self) -> Result<u64, StoreError> {
        let total: i64 = self.conn.query_row(
            "SELECT coalesce(sum(size), 0) FROM attachment_blobs",
            [],
            |r| r.get(0),
        )?;
        Ok(u64::try_from(total).unwrap_or(0))
    }

    /// Evicts the least recently used bytes until the total is at most `cap_bytes`.
    pub fn evict_to(&mut self, cap_bytes: u64) -> Result<EvictOutcome, StoreError> {
        let tx = self.conn.transaction()?;
        let outcome = evict(&tx, cap_bytes)?;
        tx.commit()?;
        Ok(outcome)
    }
}

fn evict(conn: &rusqlite::Connection, cap_bytes: u64) -> Result<EvictOutcome, StoreError> {
    let total: i64 = conn.query_row(
        "SELECT coalesce(sum(size), 0) FROM attachment_blobs",
        [],
        |r| r.get(0),
    )?;
    let mut excess = total.saturating_sub(to_i64(cap_bytes));
    let mut outcome = EvictOutcome::default();
    if excess <= 0 {
        return Ok(outcome);
    }
    let victims: Vec<(String, i64)> = conn
        .prepare_cached("SELECT sha256, size FROM attachment_blobs ORDER BY last_used")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .take_while(|row| {
            // Take rows until the excess is covered, the covering row included.
            let go = excess > 0;
            if let Ok((_, size)) = row {
                excess -= size;
            }
            go
        })
        .collect::<Result<_, _>>()?;
    let mut delete = conn.prepare_cached("DELETE FROM attachment_blobs WHERE sha256 = ?1")?;
    for (sha, size) in victims {
        delete.execute([sha])?;
        outcome.evicted += 1;
        outcome.freed_bytes += u64::try_from(size).unwrap_or(0);
    }
    Ok(outcome)
}
