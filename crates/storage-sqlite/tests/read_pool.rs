//! The read pool under a burst (issue 15 item 1): 250 desktops fetching their page at
//! one poke must not become 250 threads each opening a connection of its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use jsjb_storage::StorageError;
use jsjb_storage_sqlite::SqliteStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_reads_runs_a_few_at_a_time_on_kept_connections() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("pool.sqlite3");
    let store = Arc::new(
        tokio::task::spawn_blocking(move || SqliteStore::open(&path))
            .await
            .expect("open task")
            .expect("open the database"),
    );
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let mut reads = tokio::task::JoinSet::new();
    for _ in 0..200 {
        let (store, running, most) = (Arc::clone(&store), Arc::clone(&running), Arc::clone(&most));
        reads.spawn(async move {
            store
                .read(move |conn| {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(3));
                    // The connection is a kept one (its statement cache already holds
                    // this statement after the first few reads); the read sees the schema.
                    let tables: i64 = conn
                        .prepare_cached("SELECT count(*) FROM sqlite_schema")
                        .and_then(|mut s| s.query_row([], |r| r.get(0)))
                        .map_err(|e| StorageError::Corrupt(e.to_string()))?;
                    running.fetch_sub(1, Ordering::SeqCst);
                    Ok(tables)
                })
                .await
        });
    }
    while let Some(done) = reads.join_next().await {
        assert!(done.expect("read task").expect("read") > 0);
    }
    let most = most.load(Ordering::SeqCst);
    assert!(most <= 8, "{most} reads ran at once");
    assert!(most >= 2, "reads still run side by side: {most}");
}
