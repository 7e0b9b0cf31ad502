//! An `Idempotency-Key` is bound to its caller, the route and the letter, and the body:
//! a retry replays the first answer; the same key anywhere else is a clear 4xx, never
//! the answer about another letter.

mod support;

use serde_json::{Value, json};
use support::*;

struct Desk {
    s: TestServer,
    desk: String,
    station: i64,
}

async fn desk() -> Desk {
    let s = TestServer::start().await;
    let admin = s.admin_token().await;
    let branch = s.unit(&admin, s.city, "branch", "福田分局").await;
    let station = s.unit(&admin, branch, "station", "福田派出所").await;
    s.user(&admin, s.city, "city.desk", &["dispatcher"]).await;
    Desk {
        desk: s.token("city.desk", PASSWORD).await,
        s,
        station,
    }
}

fn phone_letter(subject: &str) -> Value {
    json!({"category": "help", "subject": subject, "body": "电话来信内容",
           "writer_name": "赵六", "writer_phone": "13500000000"})
}

impl Desk {
    async fn post_letter(&self, key: Option<&str>, body: &Value) -> reqwest::Response {
        let mut req = self
            .s
            .client
            .post(self.s.url("/api/v1/letters"))
            .bearer_auth(&self.desk)
            .json(body);
        if let Some(key) = key {
            req = req.header("Idempotency-Key", key);
        }
        req.send().await.expect("desk letter")
    }

    async fn act(&self, id: i64, key: &str, body: &Value) -> reqwest::Response {
        self.s
            .client
            .post(self.s.url(&format!("/api/v1/letters/{id}/actions")))
            .bearer_auth(&self.desk)
            .header("Idempotency-Key", key)
            .json(body)
            .send()
            .await
            .expect("action")
    }

    async fn letters(&self) -> usize {
        let page: Value = self
            .s
            .get("/api/v1/sync?cursor=0&limit=500", Some(&self.desk))
            .await
            .json()
            .await
            .expect("json");
        page["changes"].as_array().map_or(0, Vec::len)
    }
}

#[tokio::test]
async fn a_key_used_on_one_letter_is_refused_on_another() {
    let d = desk().await;
    let first: Value = d
        .post_letter(None, &phone_letter("甲信"))
        .await
        .json()
        .await
        .expect("json");
    let second: Value = d
        .post_letter(None, &phone_letter("乙信"))
        .await
        .json()
        .await
        .expect("json");
    let (a, b) = (
        first["id"].as_i64().expect("id"),
        second["id"].as_i64().expect("id"),
    );
    let dispatch =
        json!({"expected_version": 1, "action": {"action": "dispatch", "to": d.station}});

    let applied = d.act(a, "key-1", &dispatch).await;
    assert_eq!(applied.status(), 200);
    // The very same request again: the first answer, nothing new.
    let replay = d.act(a, "key-1", &dispatch).await;
    assert_eq!(replay.status(), 200);
    let replayed: Value = replay.json().await.expect("json");
    assert_eq!(replayed["letter"]["id"], a);
    assert_eq!(replayed["letter"]["version"], 2);

    // The same key and the same body on another letter is another request. Before, the
    // key matched on (user, key, body) alone and answered with letter A.
    let other = d.act(b, "key-1", &dispatch).await;
    let body = problem(other, 422, "idempotency_key_reused").await;
    assert!(
        !body.to_string().contains("甲信"),
        "the refusal carries the other letter: {body}"
    );
    // Letter B is untouched, and a fresh key acts on it.
    let fresh = d.act(b, "key-2", &dispatch).await;
    assert_eq!(fresh.status(), 200);
}

#[tokio::test]
async fn a_desk_letter_retried_with_its_key_is_created_once() {
    let d = desk().await;
    let before = d.letters().await;
    let letter = phone_letter("电话来信：路灯不亮");
    let first = d.post_letter(Some("desk-key-1"), &letter).await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.expect("json");
    let again = d.post_letter(Some("desk-key-1"), &letter).await;
    assert_eq!(again.status(), 201);
    let again: Value = again.json().await.expect("json");
    assert_eq!(
        first, again,
        "a retry answers with the letter created the first time"
    );
    assert_eq!(d.letters().await, before + 1, "one letter, not two");

    // The same key with another body is refused, and creates nothing.
    let other = d
        .post_letter(Some("desk-key-1"), &phone_letter("另一封信"))
        .await;
    problem(other, 409, "idempotency_key_reused").await;
    assert_eq!(d.letters().await, before + 1);

    // A key used for a desk letter is not reusable for an action, and the other way round.
    let id = first["id"].as_i64().expect("id");
    let dispatch =
        json!({"expected_version": 1, "action": {"action": "dispatch", "to": d.station}});
    problem(
        d.act(id, "desk-key-1", &dispatch).await,
        422,
        "idempotency_key_reused",
    )
    .await;
    assert_eq!(d.act(id, "action-key", &dispatch).await.status(), 200);
    let reuse = d.post_letter(Some("action-key"), &letter).await;
    problem(reuse, 409, "idempotency_key_reused").await;

    // Without a key, every post is a new letter (the header is optional here).
    assert_eq!(d.post_letter(None, &letter).await.status(), 201);
    assert_eq!(d.post_letter(None, &letter).await.status(), 201);
    assert_eq!(d.letters().await, before + 3);
}

#[tokio::test]
async fn concurrent_retries_of_a_desk_letter_create_one() {
    let d = desk().await;
    let before = d.letters().await;
    let letter = phone_letter("并发重试");
    let mut tries = Vec::new();
    for _ in 0..8 {
        tries.push(d.post_letter(Some("same-key"), &letter));
    }
    let answers = futures_util::future::join_all(tries).await;
    let mut ids = std::collections::BTreeSet::new();
    for answer in answers {
        assert_eq!(answer.status(), 201);
        let body: Value = answer.json().await.expect("json");
        ids.insert(body["id"].as_i64().expect("id"));
    }
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(d.letters().await, before + 1);
}
