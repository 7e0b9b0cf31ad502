//! Letters written together on PostgreSQL (`src/intake.rs`): one letter whose data
//! PostgreSQL refuses (a NUL in its body, which a `text` column cannot hold; the server
//! refuses it earlier, this is the store's own guard) fails alone, and the letters
//! written in the same batch are stored all the same, each once, with the audit chain
//! whole.
//!
//! Needs `JSJB_TEST_POSTGRES`, as the conformance tests do.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use jsjb_core::letter::{Category, Channel};
use jsjb_core::org::Tier;
use jsjb_storage::{Actor, NewLetter, NewUnit, Storage};
use jsjb_storage_postgres::PgStore;
use jsjb_storage_postgres::testing::TestDatabase;

fn letter(code: &str, body: &str) -> NewLetter {
    NewLetter {
        tracking_code: code.to_owned(),
        channel: Channel::Web,
        category: Category::Help,
        problem_tags: Vec::new(),
        subject: "夜间施工".to_owned(),
        body: body.to_owned(),
        writer_name: "张三".to_owned(),
        writer_phone: "13800138000".to_owned(),
        writer_extra: serde_json::json!({}),
        received_at: Utc
            .with_ymd_and_hms(2026, 12, 7, 9, 0, 0)
            .single()
            .expect("time"),
        unit: None,
        attachments: Vec::new(),
        idempotency: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_letter_postgres_refuses_fails_alone_and_its_batch_is_stored() {
    let db = TestDatabase::create("intake").await;
    let store: Arc<dyn Storage> = Arc::new(PgStore::open(&db.url).await.expect("open"));
    store
        .create_unit(
            NewUnit {
                parent: None,
                tier: Tier::City,
                name: "深圳市公安局".to_owned(),
            },
            Actor::cli(),
            Utc::now(),
        )
        .await
        .expect("city");
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let store = Arc::clone(&store);
            let body = if i == 17 {
                "含有\u{0}的正文".to_owned()
            } else {
                format!("第 {i} 封")
            };
            tokio::spawn(async move {
                (
                    i,
                    store
                        .create_letter(
                            letter(&format!("NUL{i:05}"), &body),
                            Actor::public(Channel::Web),
                        )
                        .await,
                )
            })
        })
        .collect();
    let mut stored = 0;
    for task in tasks {
        let (i, answer) = task.await.expect("task");
        if i == 17 {
            assert!(answer.is_err(), "a NUL cannot be stored");
        } else {
            let created = answer.unwrap_or_else(|e| panic!("letter {i}: {e}"));
            let record = store
                .letter(created.id)
                .await
                .expect("read")
                .expect("stored");
            assert_eq!(record.body, format!("第 {i} 封"));
            stored += 1;
        }
    }
    assert_eq!(stored, 39);
    let report = store.verify_audit(Vec::new()).await.expect("verify");
    assert!(report.ok, "{:?}", report.failure());
}
