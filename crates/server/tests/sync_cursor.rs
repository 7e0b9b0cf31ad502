//! The sync cursor's contract (`Storage::sync_page`): changes become visible in cursor
//! order, never behind a cursor already handed out. Writers add letters while readers
//! page through their scope as fast as they can; every reader must end up with every
//! letter. Before each read ran in one transaction, an empty page took its `next_cursor`
//! from a second statement that could see a newer snapshot, and a letter committed
//! between the two was skipped for good.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::Utc;
use jsjb_core::letter::{Category, Channel};
use jsjb_core::org::UnitId;
use jsjb_storage::{Actor, NewLetter, Storage};
use support::TestServer;

const WRITERS: usize = 4;
const LETTERS_PER_WRITER: usize = 300;
const READERS: usize = 3;

fn letter(unit: UnitId, n: usize) -> NewLetter {
    NewLetter {
        tracking_code: format!("CUR{n:06}"),
        channel: Channel::Web,
        category: Category::Help,
        problem_tags: Vec::new(),
        subject: format!("来信 {n}"),
        body: "测试游标".to_owned(),
        writer_name: "张三".to_owned(),
        writer_phone: "13800000000".to_owned(),
        writer_extra: serde_json::json!({}),
        received_at: Utc::now(),
        unit: Some(unit),
        attachments: Vec::new(),
        idempotency: None,
    }
}

/// Pages from `cursor` until the server says there is nothing more; the letter ids seen.
async fn drain(store: &dyn Storage, scope: &[UnitId], cursor: &mut i64, seen: &mut BTreeSet<i64>) {
    loop {
        let page = store
            .sync_page(scope.to_vec(), *cursor, 50)
            .await
            .expect("sync page");
        assert!(page.next_cursor >= *cursor, "a cursor never moves back");
        for change in &page.changes {
            if let jsjb_proto::Change::Letter { letter } = change {
                seen.insert(letter.id.0);
            }
        }
        *cursor = page.next_cursor;
        if !page.has_more {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_change_is_ever_skipped_under_concurrent_writers() {
    let server = TestServer::start().await;
    let admin = server.admin_token().await;
    let branch = server.unit(&admin, server.city, "branch", "福田分局").await;
    let station = UnitId(server.unit(&admin, branch, "station", "福田派出所").await);
    let store: Arc<dyn Storage> = Arc::clone(&server.state.store);
    let scope = vec![station];
    let done = Arc::new(AtomicBool::new(false));

    let mut readers = Vec::new();
    for _ in 0..READERS {
        let store = Arc::clone(&store);
        let scope = scope.clone();
        let done = Arc::clone(&done);
        readers.push(tokio::spawn(async move {
            let mut cursor = 0;
            let mut seen = BTreeSet::new();
            // Keep polling while the writers write: most pages come back empty, which is
            // exactly when the old code read `next_cursor` from a second snapshot.
            while !done.load(Ordering::Acquire) {
                drain(store.as_ref(), &scope, &mut cursor, &mut seen).await;
            }
            // Once the writers are done, one more pass from the cursor held must bring
            // whatever is left: a skipped change would never come back.
            drain(store.as_ref(), &scope, &mut cursor, &mut seen).await;
            seen
        }));
    }

    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let store = Arc::clone(&store);
        writers.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..LETTERS_PER_WRITER {
                let created = store
                    .create_letter(letter(station, w * LETTERS_PER_WRITER + i), Actor::cli())
                    .await
                    .expect("create letter");
                ids.push(created.id.0);
            }
            ids
        }));
    }
    let mut written = BTreeSet::new();
    for writer in writers {
        written.extend(writer.await.expect("writer"));
    }
    done.store(true, Ordering::Release);
    for reader in readers {
        let seen = reader.await.expect("reader");
        let missed: Vec<_> = written.difference(&seen).collect();
        assert!(
            missed.is_empty(),
            "a reader skipped {} of {} letters for good: {:?}",
            missed.len(),
            written.len(),
            &missed[..missed.len().min(10)]
        );
    }
}
