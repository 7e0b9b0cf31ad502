//! Housekeeping run by the server's maintenance task (see `crate::maintenance`).

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

use jsjb_storage::StorageError;
use jsjb_storage::time::to_db;

use crate::Db;

/// One batch of idempotency pruning: first rows older than `before` (oldest first,
/// by the `idempotency_keys_created` index), then, if the batch has room, each user's
/// rows beyond their newest `per_user`.
pub fn prune_idempotency(
    tx: &Connection,
    before: DateTime<Utc>,
    per_user: u32,
    batch: u32,
) -> Result<u32, StorageError> {
    let old = tx
        .prepare_cached(
            "DELETE FROM idempotency_keys WHERE (user_id, key) IN (
                 SELECT user_id, key FROM idempotency_keys
                 WHERE created_at < ?1 ORDER BY created_at LIMIT ?2)",
        )
        .db()?
        .execute(params![to_db(before), batch])
        .db()?;
    // `execute` counts at most `batch` rows here, which is a u32.
    let old = u32::try_from(old).unwrap_or(batch);
    let room = batch.saturating_sub(old);
    if room == 0 {
        return Ok(old);
    }
    // Only users over the cap are ranked, so the common case is one grouped scan of
    // the primary key.
    let excess = tx
        .prepare_cached(
            "DELETE FROM idempotency_keys WHERE (user_id, key) IN (
                 SELECT user_id, key FROM (
                     SELECT user_id, key, row_number() OVER (
                         PARTITION BY user_id ORDER BY created_at DESC, key DESC) AS newer
                     FROM idempotency_keys
                     WHERE user_id IN (SELECT user_id FROM idempotency_keys
                                       GROUP BY user_id HAVING count(*) > ?1))
                 WHERE newer > ?1 LIMIT ?2)",
        )
        .db()?
        .execute(params![per_user, room])
        .db()?;
    Ok(old + u32::try_from(excess).unwrap_or(room))
}
