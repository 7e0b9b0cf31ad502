//! The SQLite backend against the storage seam's conformance suite
//! (`jsjb_storage::conformance`): every case on a fresh database file.

use std::sync::Arc;

use jsjb_storage::Storage;
use jsjb_storage_sqlite::SqliteStore;

async fn fresh() -> (tempfile::TempDir, Arc<dyn Storage>) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("conformance.sqlite3");
    let store = tokio::task::spawn_blocking(move || SqliteStore::open(&path))
        .await
        .expect("open task")
        .expect("open the database");
    (dir, Arc::new(store))
}

jsjb_storage::conformance_suite!(fresh);
