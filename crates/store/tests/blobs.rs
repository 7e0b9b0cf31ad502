//! Attachment bytes under a size cap, least recently used evicted first.

use std::error::Error;

use jsjb_store::{EvictOutcome, Store, StoreError};
use sha2::{Digest, Sha256};

type TestResult = Result<(), Box<dyn Error>>;

fn blob(fill: u8) -> (String, Vec<u8>) {
    let bytes = vec![fill; 100];
    let sha = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    (sha, bytes)
}

#[test]
fn the_least_recently_used_bytes_go_first() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut store = Store::open(dir.path().join("cache.sqlite3"))?;
    store.set_blob_cap(250);
    let (a, b, c) = (blob(1), blob(2), blob(3));
    assert_eq!(store.put_blob(&a.0, &a.1)?, EvictOutcome::default());
    store.put_blob(&b.0, &b.1)?;
    // Reading `a` makes `b` the least recently used.
    assert_eq!(store.get_blob(&a.0)?, Some(a.1.clone()));
    let outcome = store.put_blob(&c.0, &c.1)?;
    assert_eq!(
        outcome,
        EvictOutcome {
            evicted: 1,
            freed_bytes: 100
        }
    );
    assert_eq!(store.get_blob(&b.0)?, None);
    assert!(store.get_blob(&a.0)?.is_some());
    assert!(store.get_blob(&c.0)?.is_some());
    assert_eq!(store.blob_bytes()?, 200);

    // Putting the same bytes again stores them once.
    store.put_blob(&a.0, &a.1)?;
    assert_eq!(store.blob_bytes()?, 200);

    assert_eq!(store.evict_to(100)?.evicted, 1);
    assert_eq!(store.blob_bytes()?, 100);
    assert!(store.get_blob(&a.0)?.is_some(), "the most recent stays");
    assert_eq!(store.evict_to(0)?.evicted, 1);
    assert_eq!(store.blob_bytes()?, 0);
    Ok(())
}

#[test]
fn bytes_must_match_their_content_address() -> TestResult {
    let mut store = Store::open_in_memory()?;
    let (sha, _) = blob(1);
    assert!(matches!(
        store.put_blob(&sha, b"something else"),
        Err(StoreError::BlobMismatch(_))
    ));
    assert_eq!(store.blob_bytes()?, 0);
    Ok(())
}
