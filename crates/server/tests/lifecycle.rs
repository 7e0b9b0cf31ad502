//! The life cycle over real HTTP: actions with idempotency keys, scope, masking and its
//! logged reveal, stale versions, returns and re-dispatch, sync pages and SSE pokes.

mod support;

use std::time::Duration as StdDuration;

use chrono::Duration;
use serde_json::{Value, json};
use support::*;

/// A city with one branch and two stations, and the people the tests act as.
struct City {
    s: TestServer,
    branch: i64,
    station_a: i64,
    station_b: i64,
    city_desk: String,
    branch_desk: String,
    branch_chief: String,
    branch_supervisor: String,
    supervisor_id: i64,
    officer_a: String,
    chief_a: String,
    officer_b: String,
}

async fn city() -> City {
    let s = TestServer::start().await;
    let admin = s.admin_token().await;
    let branch = s.unit(&admin, s.city, "branch", "福田分局").await;
    let station_a = s.unit(&admin, branch, "station", "福田派出所").await;
    let station_b = s.unit(&admin, branch, "station", "华富派出所").await;
    s.user(&admin, s.city, "city.desk", &["dispatcher"]).await;
    s.user(&admin, branch, "branch.desk", &["dispatcher"]).await;
    s.user(&admin, branch, "branch.chief", &["chief"]).await;
    let supervisor_id = s.user(&admin, branch, "branch.sup", &["supervisor"]).await;
    s.user(&admin, station_a, "a.officer", &["officer"]).await;
    s.user(&admin, station_a, "a.chief", &["chief"]).await;
    s.user(&admin, station_b, "b.officer", &["officer"]).await;
    City {
        city_desk: s.token("city.desk", PASSWORD).await,
        branch_desk: s.token("branch.desk", PASSWORD).await,
        branch_chief: s.token("branch.chief", PASSWORD).await,
        branch_supervisor: s.token("branch.sup", PASSWORD).await,
        officer_a: s.token("a.officer", PASSWORD).await,
        chief_a: s.token("a.chief", PASSWORD).await,
        officer_b: s.token("b.officer", PASSWORD).await,
        s,
        branch,
        station_a,
        station_b,
        supervisor_id,
    }
}

impl City {
    /// A citizen writes in; returns the letter's id as the city desk sees it.
    async fn letter(&self) -> i64 {
        let res = self.s.post_public_letter(&letter_json(), vec![]).await;
        assert_eq!(res.status(), 201, "{:?}", res.text().await);
        let page = self.sync(&self.city_desk, 0).await;
        page["changes"]
            .as_array()
            .and_then(|c| c.last())
            .and_then(|c| c["letter"]["id"].as_i64())
            .expect("the new letter reaches the city desk")
    }

    async fn sync(&self, token: &str, cursor: i64) -> Value {
        let res = self
            .s
            .get(
                &format!("/api/v1/sync?cursor={cursor}&limit=500"),
                Some(token),
            )
            .await;
        assert_eq!(res.status(), 200);
        res.json().await.expect("json")
    }

    async fn act_with_key(
        &self,
        token: &str,
        id: i64,
        key: &str,
        body: &Value,
    ) -> reqwest::Response {
        self.s
            .client
            .post(self.s.url(&format!("/api/v1/letters/{id}/actions")))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// Takes an action at the letter's current version with a fresh key.
    async fn act(&self, token: &str, id: i64, action: Value) -> reqwest::Response {
        let version = self.version(id).await;
        let key = uuid_like();
        self.act_with_key(
            token,
            id,
            &key,
            &json!({"expected_version": version, "action": action}),
        )
        .await
    }

    async fn ok(&self, token: &str, id: i64, action: Value) -> Value {
        let res = self.act(token, id, action.clone()).await;
        let status = res.status();
        let body: Value = res.json().await.expect("json");
        assert_eq!(status, 200, "{action} → {body}");
        body["letter"].clone()
    }

    async fn version(&self, id: i64) -> i64 {
        let res = self
            .s
            .get(&format!("/api/v1/letters/{id}"), Some(&self.city_desk))
            .await;
        res.json::<Value>().await.expect("json")["version"]
            .as_i64()
            .expect("version")
    }

    fn events(&self, id: i64) -> i64 {
        self.s
            .raw_db()
            .query_row(
                "SELECT count(*) FROM letter_events WHERE letter_id = ?1",
                [id],
                |r| r.get(0),
            )
            .expect("count")
    }

    /// City desk → branch → station A.
    async fn at_station_a(&self) -> i64 {
        let id = self.letter().await;
        self.ok(
            &self.city_desk,
            id,
            json!({"action": "dispatch", "to": self.branch}),
        )
        .await;
        self.ok(
            &self.branch_desk,
            id,
            json!({"action": "dispatch", "to": self.station_a}),
        )
        .await;
        id
    }
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    format!(
        "00000000-0000-4000-8000-{:012}",
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn ids(page: &Value) -> Vec<i64> {
    page["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter_map(|c| c["letter"]["id"].as_i64())
        .collect()
}

fn removed(page: &Value) -> Vec<i64> {
    page["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter_map(|c| c["letter_id"].as_i64())
        .collect()
}

#[tokio::test]
async fn an_action_is_taken_once_whatever_the_retries() {
    let c = city().await;
    let id = c.letter().await;
    let body = json!({"expected_version": 1, "action": {"action": "dispatch", "to": c.branch}});
    let first = c.act_with_key(&c.city_desk, id, "key-1", &body).await;
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.expect("json");
    assert_eq!(first["letter"]["state"], "dispatched");
    assert_eq!(first["letter"]["version"], 2);

    // The same key again: the first answer, nothing changes.
    let replay = c.act_with_key(&c.city_desk, id, "key-1", &body).await;
    assert_eq!(replay.status(), 200);
    assert_eq!(replay.json::<Value>().await.expect("json"), first);
    assert_eq!(c.events(id), 2);

    // The same key for something else is a client bug, said plainly.
    let other = json!({"expected_version": 2, "action": {"action": "dispatch", "to": c.station_a}});
    problem(
        c.act_with_key(&c.city_desk, id, "key-1", &other).await,
        422,
        "idempotency_key_reused",
    )
    .await;
    // No key at all.
    let res =
        c.s.post_json(
            &format!("/api/v1/letters/{id}/actions"),
            Some(&c.city_desk),
            &other,
        )
        .await;
    problem(res, 400, "idempotency_key_required").await;
    assert_eq!(c.events(id), 2);
}

#[tokio::test]
async fn the_rules_of_core_decide_and_a_stale_version_gets_the_current_letter() {
    let c = city().await;
    let id = c.at_station_a().await;
    // Not theirs: the other station cannot even see it (as `GET` answers), so it cannot
    // sign; a desk above sees it but may not sign for it.
    problem(
        c.act(&c.officer_b, id, json!({"action": "sign_for"})).await,
        404,
        "not_found",
    )
    .await;
    problem(
        c.act(&c.branch_chief, id, json!({"action": "sign_for"}))
            .await,
        403,
        "role_not_allowed",
    )
    .await;
    // Based on an old version: 409 with the letter as it is now.
    let res = c
        .act_with_key(
            &c.officer_a,
            id,
            &uuid_like(),
            &json!({"expected_version": 2, "action": {"action": "sign_for"}}),
        )
        .await;
    let body = problem(res, 409, "stale_version").await;
    assert_eq!(body["current"]["version"], 3);
    assert_eq!(body["current"]["state"], "dispatched");
    // A refusal is kept under its key as well: the retry gets the same answer.
    let letter = c.ok(&c.officer_a, id, json!({"action": "sign_for"})).await;
    assert_eq!(letter["state"], "handling");
    problem(
        c.act(&c.officer_a, id, json!({"action": "sign_for"})).await,
        422,
        "wrong_state",
    )
    .await;
    let body = problem(
        c.act(
            &c.officer_a,
            id,
            json!({"action": "give_first_feedback", "text": "  "}),
        )
        .await,
        422,
        "invalid_input",
    )
    .await;
    assert_eq!(body["field"], "text");
}

#[tokio::test]
async fn the_whole_life_cycle_up_to_the_chiefs_signature() {
    let c = city().await;
    let id = c.at_station_a().await;
    c.ok(&c.officer_a, id, json!({"action": "sign_for"})).await;
    let now = c.s.state.time.now();
    c.ok(
        &c.officer_a,
        id,
        json!({"action": "record_contact", "method": "phone", "outcome": "reached",
               "contacted_at": now, "note": "已电话联系"}),
    )
    .await;
    c.ok(
        &c.officer_a,
        id,
        json!({"action": "give_first_feedback", "text": "已受理，正在核查"}),
    )
    .await;

    // 申请延期 before the deadline; the branch chief approves.
    let received: chrono::DateTime<chrono::Utc> = serde_json::from_value(
        c.sync(&c.city_desk, 0).await["changes"][0]["letter"]["received_at"].clone(),
    )
    .expect("time");
    let new_due = received + Duration::days(30);
    c.ok(
        &c.officer_a,
        id,
        json!({"action": "request_extension", "reason": "需调取监控", "legal_basis": "规定",
               "requested_due": new_due}),
    )
    .await;
    problem(
        c.act(
            &c.officer_a,
            id,
            json!({"action": "decide_extension", "approve": true}),
        )
        .await,
        403,
        "role_not_allowed",
    )
    .await;
    let letter = c
        .ok(
            &c.branch_chief,
            id,
            json!({"action": "decide_extension", "approve": true}),
        )
        .await;
    let decided = letter["events"]
        .as_array()
        .and_then(|e| e.last())
        .expect("event");
    assert_eq!(decided["payload"]["kind"], "extension_decided");
    assert_eq!(
        serde_json::from_value::<chrono::DateTime<chrono::Utc>>(
            decided["payload"]["new_due"].clone()
        )
        .expect("time"),
        new_due
    );

    // 盯办: the case is extended, so the branch desk names a supervisor, who chases.
    c.ok(
        &c.branch_desk,
        id,
        json!({"action": "assign_supervisor", "supervisor": c.supervisor_id}),
    )
    .await;
    c.ok(
        &c.branch_supervisor,
        id,
        json!({"action": "chase", "note": "请加快办理"}),
    )
    .await;
    // A supervisor must really be one.
    problem(
        c.act(
            &c.branch_desk,
            id,
            json!({"action": "assign_supervisor", "supervisor": 999}),
        )
        .await,
        400,
        "invalid_input",
    )
    .await;

    let letter = c
        .ok(
            &c.officer_a,
            id,
            json!({"action": "submit_feedback_form", "summary": "已核查处理", "result": "已解决",
                   "reply": "您反映的问题已处理"}),
        )
        .await;
    assert_eq!(letter["state"], "awaiting_approval");
    // The chief's approval needs a verifiable signature (the sign-off issue).
    problem(
        c.act(
            &c.chief_a,
            id,
            json!({"action": "approve_feedback_form", "decision": "approve"}),
        )
        .await,
        422,
        "signature_required",
    )
    .await;

    // The writer follows it: public steps only, never names or internal notes.
    let code = letter["tracking_code"].as_str().expect("code");
    let progress: Value =
        c.s.get(
            &format!("/api/v1/public/progress?code={code}&phone_last4=5678"),
            None,
        )
        .await
        .json()
        .await
        .expect("json");
    let kinds: Vec<&str> = progress["milestones"]
        .as_array()
        .expect("milestones")
        .iter()
        .filter_map(|m| m["kind"].as_str())
        .collect();
    assert_eq!(
        kinds,
        [
            "received",
            "dispatched",
            "dispatched",
            "signed_for",
            "contacted",
            "first_feedback",
            "extended"
        ]
    );
    assert_eq!(progress["milestones"][5]["detail"], "已受理，正在核查");
    let public = progress.to_string();
    for secret in ["请加快办理", "需调取监控", "a.officer", "已电话联系"] {
        assert!(!public.contains(secret), "{secret} leaked: {public}");
    }

    // Every state change is in the hash-chained audit log, and the chain holds.
    let admin = c.s.admin_token().await;
    let v: Value =
        c.s.get("/api/v1/audit/verify", Some(&admin))
            .await
            .json()
            .await
            .expect("json");
    assert_eq!(v["ok"], true, "{v}");
    let logged: i64 =
        c.s.raw_db()
            .query_row(
                "SELECT count(*) FROM audit_log WHERE letter_id = ?1 AND action LIKE 'letter.%'",
                [id],
                |r| r.get(0),
            )
            .expect("count");
    assert_eq!(logged, c.events(id));
}

#[tokio::test]
async fn the_writer_is_masked_and_each_reveal_is_logged() {
    let c = city().await;
    let id = c.at_station_a().await;
    let page = c.sync(&c.officer_a, 0).await;
    let letter = &page["changes"][0]["letter"];
    assert_eq!(
        letter["writer"],
        json!({"name": "张**", "phone": "138********", "masked": true})
    );
    assert!(!page.to_string().contains("13812345678"));

    let res =
        c.s.post_json(
            &format!("/api/v1/letters/{id}/reveal-writer"),
            Some(&c.officer_a),
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.expect("json"),
        json!({"name": "张三丰", "phone": "13812345678", "masked": false})
    );
    // A supervisor above may follow the case but not see who wrote.
    problem(
        c.s.post_json(
            &format!("/api/v1/letters/{id}/reveal-writer"),
            Some(&c.branch_supervisor),
            &json!({}),
        )
        .await,
        403,
        "reveal_not_allowed",
    )
    .await;
    // A sibling station does not even learn the letter exists.
    problem(
        c.s.post_json(
            &format!("/api/v1/letters/{id}/reveal-writer"),
            Some(&c.officer_b),
            &json!({}),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    let reveals: i64 =
        c.s.raw_db()
            .query_row(
                "SELECT count(*) FROM writer_reveals WHERE letter_id = ?1",
                [id],
                |r| r.get(0),
            )
            .expect("count");
    assert_eq!(reveals, 1);
}

#[tokio::test]
async fn a_returned_letter_leaves_the_station_and_reaches_the_next() {
    let c = city().await;
    let id = c.at_station_a().await;
    let page = c.sync(&c.officer_a, 0).await;
    assert_eq!(ids(&page), vec![id]);
    let cursor_a = page["next_cursor"].as_i64().expect("cursor");
    assert!(ids(&c.sync(&c.officer_b, 0).await).is_empty());

    problem(
        c.act(
            &c.officer_a,
            id,
            json!({"action": "return_letter", "reason": "not_our_jurisdiction", "note": ""}),
        )
        .await,
        422,
        "invalid_input",
    )
    .await;
    let letter = c
        .ok(
            &c.officer_a,
            id,
            json!({"action": "return_letter", "reason": "not_our_jurisdiction", "note": "不属本所辖区"}),
        )
        .await;
    assert_eq!(letter["state"], "received");
    assert_eq!(letter["unit_id"], c.branch);
    // Station A is told to forget it.
    let page = c.sync(&c.officer_a, cursor_a).await;
    assert_eq!(removed(&page), vec![id]);
    assert!(ids(&page).is_empty());

    c.ok(
        &c.branch_desk,
        id,
        json!({"action": "dispatch", "to": c.station_b}),
    )
    .await;
    let page = c.sync(&c.officer_b, 0).await;
    assert_eq!(ids(&page), vec![id]);
    assert_eq!(page["changes"][0]["letter"]["state"], "dispatched");
    problem(
        c.s.get(&format!("/api/v1/letters/{id}"), Some(&c.officer_a))
            .await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn sync_comes_in_pages_and_the_stream_pokes_on_change() {
    let c = city().await;
    for _ in 0..3 {
        c.letter().await;
    }
    let res =
        c.s.get("/api/v1/sync?cursor=0&limit=2", Some(&c.city_desk))
            .await;
    let page: Value = res.json().await.expect("json");
    assert_eq!(page["changes"].as_array().map(Vec::len), Some(2));
    assert_eq!(page["has_more"], true);
    let next = page["next_cursor"].as_i64().expect("cursor");
    let rest = c.sync(&c.city_desk, next).await;
    assert_eq!(rest["changes"].as_array().map(Vec::len), Some(1));
    assert_eq!(rest["has_more"], false);
    assert!(rest["server_time"].is_string());
    problem(
        c.s.get("/api/v1/sync?limit=0", Some(&c.city_desk)).await,
        400,
        "invalid_input",
    )
    .await;
    problem(c.s.get("/api/v1/sync", None).await, 401, "unauthenticated").await;

    // Station A listens; a letter dispatched to it pokes; one to station B does not.
    let cursor = c.sync(&c.officer_a, 0).await["next_cursor"]
        .as_i64()
        .expect("cursor");
    let mut stream =
        c.s.client
            .get(c.s.url(&format!("/api/v1/sync/stream?cursor={cursor}")))
            .bearer_auth(&c.officer_a)
            .send()
            .await
            .expect("stream");
    assert_eq!(stream.status(), 200);
    assert!(
        stream
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"))
    );
    let id = c.at_station_a().await;
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + StdDuration::from_secs(10);
    while !seen.contains("event: poke") {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .expect("a poke within 10 s")
            .expect("stream")
            .expect("open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    let page = c.sync(&c.officer_a, cursor).await;
    assert_eq!(ids(&page), vec![id]);
    let poked: i64 = seen
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .and_then(|d| serde_json::from_str::<Value>(d).ok())
        .and_then(|v| v["cursor"].as_i64())
        .expect("poke data");
    assert_eq!(poked, page["next_cursor"].as_i64().expect("cursor"));
}

#[tokio::test]
async fn the_extension_must_be_asked_before_the_deadline() {
    let mut c = city().await;
    let id = c.at_station_a().await;
    c.ok(&c.officer_a, id, json!({"action": "sign_for"})).await;
    c.s.advance(Duration::days(15) + Duration::seconds(1));
    // Sessions last hours, not weeks: everyone signs in again.
    c.city_desk = c.s.token("city.desk", PASSWORD).await;
    c.officer_a = c.s.token("a.officer", PASSWORD).await;
    c.chief_a = c.s.token("a.chief", PASSWORD).await;
    let due = c.s.state.time.now() + Duration::days(10);
    problem(
        c.act(
            &c.officer_a,
            id,
            json!({"action": "request_extension", "reason": "r", "legal_basis": "b", "requested_due": due}),
        )
        .await,
        422,
        "deadline_passed",
    )
    .await;
    // The overdue case gets a supervisor; an officer of the station may not assign one.
    problem(
        c.act(
            &c.officer_a,
            id,
            json!({"action": "assign_supervisor", "supervisor": c.supervisor_id}),
        )
        .await,
        403,
        "role_not_allowed",
    )
    .await;
    c.ok(
        &c.city_desk,
        id,
        json!({"action": "assign_supervisor", "supervisor": c.supervisor_id}),
    )
    .await;
    // The city desk routed it, so it may see the writer; the chief of station A too.
    for token in [&c.city_desk, &c.chief_a] {
        let res =
            c.s.post_json(
                &format!("/api/v1/letters/{id}/reveal-writer"),
                Some(token),
                &json!({}),
            )
            .await;
        assert_eq!(res.status(), 200);
    }
}

#[tokio::test]
async fn routing_rules_dispatch_new_letters_by_area_and_category() {
    let c = city().await;
    c.s.state.set_routing_rules(
        serde_json::from_value(json!({"rules": [
            {"name": "咨询件", "categories": ["inquiry"], "to_unit": c.branch},
            {"name": "福田辖区", "keywords": ["夜间施工"], "to_unit": c.station_a}
        ]}))
        .expect("rules"),
    );
    // letter_json() is a `help` letter about 夜间施工: the second rule takes it.
    let res = c.s.post_public_letter(&letter_json(), vec![]).await;
    assert_eq!(res.status(), 201);
    let page = c.sync(&c.officer_a, 0).await;
    let letter = &page["changes"][0]["letter"];
    assert_eq!(letter["state"], "dispatched");
    assert_eq!(letter["unit_id"], c.station_a);
    let routed = &letter["events"][1];
    assert_eq!(routed["payload"]["note"], "自动分派：福田辖区");
    assert!(routed["actor_user"].is_null());
}

/// 重新分类 (issue 12 item 7): a desk holding the letter, or a desk above it, corrects its
/// category and problem classes; the record (and so every desktop) follows, the event is
/// in the letter's history and the audit chain; a class the bureau did not configure is
/// refused, and an officer may not reclassify.
#[tokio::test]
async fn a_desk_reclassifies_a_letter_with_the_configured_classes() {
    let c = city().await;
    let id = c.at_station_a().await;
    problem(
        c.act(
            &c.branch_desk,
            id,
            json!({"action": "reclassify", "category": "complaint", "problem_tags": ["不存在的分类"]}),
        )
        .await,
        // Checked against the configuration, like a named supervisor: 400, as for them.
        400,
        "invalid_input",
    )
    .await;
    problem(
        c.act(
            &c.officer_a,
            id,
            json!({"action": "reclassify", "category": "complaint", "problem_tags": []}),
        )
        .await,
        403,
        "role_not_allowed",
    )
    .await;
    let letter = c
        .ok(
            &c.branch_desk,
            id,
            json!({"action": "reclassify", "category": "complaint",
                   "problem_tags": ["噪音扰民", " 治安隐患 "], "note": "来信实为投诉"}),
        )
        .await;
    assert_eq!(letter["category"], "complaint");
    assert_eq!(letter["problem_tags"], json!(["噪音扰民", "治安隐患"]));
    let last = letter["events"]
        .as_array()
        .and_then(|e| e.last())
        .expect("event");
    assert_eq!(last["payload"]["kind"], "reclassified");
    // What the station's desktop syncs is the corrected record.
    let page = c.sync(&c.officer_a, 0).await;
    assert_eq!(page["changes"][0]["letter"]["category"], "complaint");
    let audited: i64 =
        c.s.raw_db()
            .query_row(
                "SELECT count(*) FROM audit_log WHERE action = 'letter.reclassify'",
                [],
                |r| r.get(0),
            )
            .expect("count");
    assert_eq!(audited, 1);
    // The classes are served with the signed-in user.
    let me: Value =
        c.s.get("/api/v1/me", Some(&c.branch_desk))
            .await
            .json()
            .await
            .expect("json");
    assert_eq!(me["problem_classes"].as_array().map(Vec::len), Some(18));
}

/// 录入来电 with files (issue 12 item 7): the desk's `POST /letters` takes the public
/// form's multipart too, so the photo the caller sent goes with the letter; a JSON body
/// is still held to 64 KiB on this larger route, and another content type is refused.
#[tokio::test]
async fn a_desk_letter_takes_its_files_as_multipart() {
    let c = city().await;
    let letter = json!({
        "category": "complaint", "problem_tags": ["噪音扰民"],
        "subject": "来电反映：工地夜间施工", "body": "来电人已发来现场照片。",
        "writer_name": "陈先生", "writer_phone": "13923456780",
    });
    let form = reqwest::multipart::Form::new()
        .part(
            "letter",
            reqwest::multipart::Part::text(letter.to_string())
                .mime_str("application/json")
                .expect("mime"),
        )
        .part(
            "file0",
            reqwest::multipart::Part::bytes(PNG_1X1.to_vec()).file_name("现场照片.png"),
        );
    let res =
        c.s.client
            .post(c.s.url("/api/v1/letters"))
            .bearer_auth(&c.branch_desk)
            .multipart(form)
            .send()
            .await
            .expect("sent");
    assert_eq!(res.status(), 201);
    let receipt: Value = res.json().await.expect("json");
    let id = receipt["id"].as_i64().expect("id");
    let got: Value =
        c.s.get(&format!("/api/v1/letters/{id}"), Some(&c.branch_desk))
            .await
            .json()
            .await
            .expect("json");
    assert_eq!(got["channel"], "phone");
    assert_eq!(got["attachments"].as_array().map(Vec::len), Some(1));
    assert_eq!(got["attachments"][0]["mime"], "image/png");

    let mut big = letter.clone();
    big["body"] = json!("长".repeat(30_000));
    let res =
        c.s.client
            .post(c.s.url("/api/v1/letters"))
            .bearer_auth(&c.branch_desk)
            .json(&big)
            .send()
            .await
            .expect("sent");
    assert_eq!(res.status(), 413, "a JSON body over 64 KiB");
    let res =
        c.s.client
            .post(c.s.url("/api/v1/letters"))
            .bearer_auth(&c.branch_desk)
            .header("content-type", "text/plain")
            .body(letter.to_string())
            .send()
            .await
            .expect("sent");
    assert_eq!(res.status(), 415);
}
