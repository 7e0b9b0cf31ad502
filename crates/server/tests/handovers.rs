//! Shift handover acknowledgements over real HTTP: recorded once per idempotency key,
//! only for the caller's own unit, audit-logged, listed within scope.

mod support;

use serde_json::{Value, json};
use support::*;

struct Units {
    s: TestServer,
    branch: i64,
    station_a: i64,
    station_b: i64,
    officer_a: String,
    officer_a2: i64,
    officer_b_id: i64,
    officer_b: String,
    branch_desk: String,
    supervisor: String,
}

async fn units() -> Units {
    let s = TestServer::start().await;
    let admin = s.admin_token().await;
    let branch = s.unit(&admin, s.city, "branch", "福田分局").await;
    let station_a = s.unit(&admin, branch, "station", "福田派出所").await;
    let station_b = s.unit(&admin, branch, "station", "华富派出所").await;
    s.user(&admin, branch, "branch.desk", &["dispatcher"]).await;
    s.user(&admin, branch, "branch.sup", &["supervisor"]).await;
    s.user(&admin, station_a, "a.officer", &["officer"]).await;
    let officer_a2 = s.user(&admin, station_a, "a.officer2", &["officer"]).await;
    let officer_b_id = s.user(&admin, station_b, "b.officer", &["officer"]).await;
    Units {
        officer_a: s.token("a.officer", PASSWORD).await,
        officer_b: s.token("b.officer", PASSWORD).await,
        officer_a2,
        officer_b_id,
        branch_desk: s.token("branch.desk", PASSWORD).await,
        supervisor: s.token("branch.sup", PASSWORD).await,
        s,
        branch,
        station_a,
        station_b,
    }
}

fn ack(unit: i64, note: &str) -> Value {
    json!({
        "unit_id": unit,
        "shift": "2026-03-02 夜班",
        "acknowledged_at": "2026-03-02T12:00:00Z",
        "note": note,
        "counts": {"not_contacted": 1, "about_to_breach": 2, "promised_callback": 0},
        "letter_ids": [3, 5],
    })
}

impl Units {
    async fn post(&self, token: &str, key: Option<&str>, body: &Value) -> reqwest::Response {
        let mut req = self
            .s
            .client
            .post(self.s.url("/api/v1/handovers"))
            .bearer_auth(token)
            .header("X-Workstation", "ws-7")
            .json(body);
        if let Some(key) = key {
            req = req.header("Idempotency-Key", key);
        }
        req.send().await.expect("request")
    }

    async fn list(&self, token: &str, query: &str) -> reqwest::Response {
        self.s
            .get(&format!("/api/v1/handovers{query}"), Some(token))
            .await
    }
}

#[tokio::test]
async fn an_acknowledgement_is_recorded_once_and_listed_for_the_unit() {
    let u = units().await;
    let res = u
        .post(&u.officer_a, Some("k-1"), &ack(u.station_a, "已阅"))
        .await;
    assert_eq!(res.status(), 200);
    let first: Value = res.json().await.expect("json");
    assert_eq!(first["unit_id"], u.station_a);
    assert_eq!(first["user_name"], "a.officer");
    assert_eq!(first["shift"], "2026-03-02 夜班");
    assert_eq!(first["counts"]["about_to_breach"], 2);
    assert_eq!(first["letter_ids"], json!([3, 5]));
    assert_eq!(first["workstation"], "ws-7");
    assert_eq!(first["idempotency_key"], "k-1");
    assert!(first["recorded_at"].is_string());

    // A retry with the same key is the same record; a different body under it is refused.
    let again: Value = u
        .post(&u.officer_a, Some("k-1"), &ack(u.station_a, "已阅"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(again, first);
    let reused = u
        .post(&u.officer_a, Some("k-1"), &ack(u.station_a, "改了"))
        .await;
    problem(reused, 422, "idempotency_key_reused").await;
    let missing = u.post(&u.officer_a, None, &ack(u.station_a, "")).await;
    problem(missing, 400, "idempotency_key_required").await;

    // A second one, later: listed newest first, by the unit and the branch above it.
    let mut later = ack(u.station_a, "交班");
    later["acknowledged_at"] = json!("2026-03-02T13:00:00Z");
    assert_eq!(
        u.post(&u.officer_a, Some("k-2"), &later).await.status(),
        200
    );
    let listed: Value = u.list(&u.officer_a, "").await.json().await.expect("json");
    let notes: Vec<&str> = listed
        .as_array()
        .expect("array")
        .iter()
        .map(|a| a["note"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(notes, ["交班", "已阅"]);
    let from_branch = u
        .list(&u.branch_desk, &format!("?unit={}&limit=1", u.station_a))
        .await;
    assert_eq!(from_branch.status(), 200);
    let from_branch: Value = from_branch.json().await.expect("json");
    assert_eq!(from_branch.as_array().map(Vec::len), Some(1));

    // Recorded in the audit log, once per acknowledgement, and the chain holds.
    let db = u.s.raw_db();
    let audited: i64 = db
        .query_row(
            "SELECT count(*) FROM audit_log WHERE action = 'handover.acknowledge' AND unit_id = ?1",
            [u.station_a],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(audited, 2);
    let admin = u.s.admin_token().await;
    let verify: Value =
        u.s.get("/api/v1/audit/verify", Some(&admin))
            .await
            .json()
            .await
            .expect("json");
    assert_eq!(verify["ok"], true, "{verify}");
}

#[tokio::test]
async fn only_your_own_unit_and_only_within_scope() {
    let u = units().await;
    // Another station's handover, or one's own unit by a role without duty: refused.
    let res = u
        .post(&u.officer_b, Some("k-1"), &ack(u.station_a, ""))
        .await;
    problem(res, 403, "forbidden").await;
    let res = u.post(&u.supervisor, Some("k-1"), &ack(u.branch, "")).await;
    problem(res, 403, "forbidden").await;
    // A desk acknowledges its own unit's handover.
    let res = u
        .post(&u.branch_desk, Some("k-1"), &ack(u.branch, ""))
        .await;
    assert_eq!(res.status(), 200);

    // A sibling station's list is out of scope, as is the unit above.
    assert_eq!(
        u.post(&u.officer_a, Some("k-a"), &ack(u.station_a, ""))
            .await
            .status(),
        200
    );
    problem(
        u.list(&u.officer_b, &format!("?unit={}", u.station_a))
            .await,
        403,
        "forbidden",
    )
    .await;
    problem(
        u.list(&u.officer_a, &format!("?unit={}", u.branch)).await,
        403,
        "forbidden",
    )
    .await;
    let own: Value = u
        .list(&u.officer_b, &format!("?unit={}", u.station_b))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(own, json!([]));

    // Validation: a clock far ahead, an oversized note.
    let mut ahead = ack(u.station_a, "");
    ahead["acknowledged_at"] = json!("2099-01-01T00:00:00Z");
    problem(
        u.post(&u.officer_a, Some("k-b"), &ahead).await,
        400,
        "invalid_input",
    )
    .await;
    let long = ack(u.station_a, &"字".repeat(2_001));
    problem(
        u.post(&u.officer_a, Some("k-c"), &long).await,
        400,
        "invalid_input",
    )
    .await;
}

/// 交班人 and the ticks: the outgoing officer is named, with their name in the record,
/// and must be a colleague of the unit other than the caller; only listed letters are
/// ticked. A body without either (an older desktop) is still taken.
#[tokio::test]
async fn the_outgoing_officer_is_a_colleague_and_only_listed_letters_are_ticked() {
    let u = units().await;
    let mut named = ack(u.station_a, "三件已交接");
    named["handed_over_by"] = json!(u.officer_a2);
    named["checked_ids"] = json!([5]);
    named["counts"]["overdue"] = json!(1);
    let res = u.post(&u.officer_a, Some("k-1"), &named).await;
    assert_eq!(res.status(), 200);
    let record: Value = res.json().await.expect("json");
    assert_eq!(record["handed_over_by"], u.officer_a2);
    assert_eq!(record["handed_over_by_name"], "a.officer2");
    assert_eq!(record["checked_ids"], json!([5]));
    assert_eq!(record["counts"]["overdue"], 1);
    assert_eq!(record["counts"]["not_signed_for"], 0);
    let listed: Value = u.list(&u.officer_a, "").await.json().await.expect("json");
    assert_eq!(listed[0], record);

    let old: Value = u
        .post(&u.officer_a, Some("k-2"), &ack(u.station_a, ""))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        (&old["handed_over_by"], &old["checked_ids"]),
        (&Value::Null, &json!([]))
    );

    let me: Value =
        u.s.get("/api/v1/me", Some(&u.officer_a))
            .await
            .json()
            .await
            .expect("json");
    for (key, outgoing) in [
        ("k-3", me["user_id"].clone()),
        ("k-4", json!(u.officer_b_id)),
        ("k-5", json!(999_999)),
    ] {
        let mut body = ack(u.station_a, "");
        body["handed_over_by"] = outgoing;
        let res = u.post(&u.officer_a, Some(key), &body).await;
        let p = problem(res, 400, "invalid_input").await;
        assert_eq!(p["field"], "handed_over_by", "{p}");
    }
    let mut stray = ack(u.station_a, "");
    stray["checked_ids"] = json!([3, 7]);
    let p = problem(
        u.post(&u.officer_a, Some("k-6"), &stray).await,
        400,
        "invalid_input",
    )
    .await;
    assert_eq!(p["field"], "checked_ids", "{p}");
}
