//! The store on its own thread, used from async and blocking callers.

use std::error::Error;

use jsjb_core::letter::LetterId;
use jsjb_store::fixtures::{LetterBuilder, cst, page, upsert};
use jsjb_store::{Store, StoreError, StoreHandle};

#[tokio::test]
async fn async_and_blocking_callers_share_one_store() -> Result<(), Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    let handle = StoreHandle::spawn(Store::open(dir.path().join("cache.sqlite3"))?)?;
    let letter = LetterBuilder::received(1, cst("2026-03-02 09:00")).build();
    let outcome = handle
        .call(move |store| {
            store.apply_page(&page(1, cst("2026-03-02 09:00"), vec![upsert(letter)]))
        })
        .await??;
    assert_eq!(outcome.upserted, 1);

    let blocking = handle.clone();
    let count =
        tokio::task::spawn_blocking(move || blocking.call_blocking(|store| store.letter_count()))
            .await???;
    assert_eq!(count, 1);
    let record = handle.call(|store| store.letter(LetterId(1))).await??;
    assert_eq!(record.map(|r| r.id), Some(LetterId(1)));
    Ok(())
}

#[tokio::test]
async fn a_panicking_closure_does_not_take_the_store_down() -> Result<(), Box<dyn Error>> {
    let handle = StoreHandle::spawn(Store::open_in_memory()?)?;
    let answer = handle
        .call(|_store| -> u32 { panic!("a bug in one query") })
        .await;
    assert!(matches!(answer, Err(StoreError::Closed)));
    assert_eq!(handle.call(|store| store.letter_count()).await??, 0);
    Ok(())
}
