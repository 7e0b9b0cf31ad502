//! The schema, as an append-only list of SQL files in `migrations/` (`V<n>__<name>.sql`),
//! applied by `refinery`, which records each applied file and its checksum in
//! `refinery_schema_history` and refuses a database whose applied files were edited.

use jsjb_storage::StorageError;

use crate::{Db, WRITE_LOCK};

refinery::embed_migrations!("migrations");

/// A session-level advisory lock held while migrating, so that two nodes starting at
/// once do not both apply the same migration. Not [`WRITE_LOCK`]: that one is
/// transaction-level and taken by every write.
const MIGRATE_LOCK: i64 = WRITE_LOCK + 1;

/// Brings the database to the latest schema. Refuses a database migrated by a newer
/// server (it has migrations this one does not know).
pub async fn migrate(client: &mut tokio_postgres::Client) -> Result<(), StorageError> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATE_LOCK])
        .await
        .db()?;
    let result = migrations::runner()
        .set_abort_divergent(true)
        .set_abort_missing(true)
        .run_async(client)
        .await
        .map_err(|e| StorageError::Migration(e.to_string()));
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATE_LOCK])
        .await
        .db()?;
    result?;
    Ok(())
}

/// How many migrations this server knows (the last one's version).
pub fn latest_version() -> i32 {
    migrations::runner()
        .get_migrations()
        .iter()
        .map(|m| m.version())
        .max()
        .unwrap_or(0)
}
