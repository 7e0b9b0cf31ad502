//! The real router over real HTTP, a fresh database per test.

mod support;

use chrono::Duration;
use serde_json::{Value, json};
use support::*;

#[tokio::test]
async fn login_returns_a_token_and_me_describes_the_user() {
    let s = TestServer::start().await;
    let admin = s.admin_token().await;
    let branch = s.unit(&admin, s.city, "branch", "南山分局").await;
    let station = s.unit(&admin, branch, "station", "蛇口派出所").await;
    s.user(&admin, branch, "li.si", &["officer"]).await;

    let res = s.login("li.si", PASSWORD).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("json");
    let token = body["token"].as_str().expect("token");
    assert!(token.starts_with("jsjb_"));
    assert_eq!(body["me"]["roles"], json!(["officer"]));

    let me: Value = s
        .get("/api/v1/me", Some(token))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(me["username"], "li.si");
    assert_eq!(me["unit_id"], branch);
    // The whole unit tree (names are not secret; letters are scoped, units are not).
    let units: Vec<i64> = me["units"]
        .as_array()
        .expect("units")
        .iter()
        .filter_map(|u| u["id"].as_i64())
        .collect();
    assert_eq!(units, vec![s.city, branch, station]);

    // The token is stored only as its hash.
    let stored: i64 = s
        .raw_db()
        .query_row(
            "SELECT count(*) FROM sessions WHERE token_hash = ?1",
            [token],
            |r| r.get(0),
        )
        .expect("query");
    assert_eq!(stored, 0);
}

#[tokio::test]
async fn wrong_password_is_refused_and_repeated_failures_lock_the_account() {
    let s = TestServer::start().await;
    problem(
        s.login("admin", "wrong-password").await,
        401,
        "invalid_credentials",
    )
    .await;
    problem(
        s.login("nobody", "wrong-password").await,
        401,
        "invalid_credentials",
    )
    .await;
    problem(
        s.login("admin", "wrong-password").await,
        401,
        "invalid_credentials",
    )
    .await;
    // The third failure (threshold 3 in tests) locks.
    let res = s.login("admin", "wrong-password").await;
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .expect("header")
        .parse()
        .expect("secs");
    let body = problem(res, 429, "account_locked").await;
    assert_eq!(body["retry_after"], retry);
    assert!(retry > 0 && retry <= 15 * 60);
    // Even the right password is refused while locked.
    problem(
        s.login("admin", ADMIN_PASSWORD).await,
        429,
        "account_locked",
    )
    .await;
    // After the lock-out the right password works again.
    s.advance(Duration::minutes(16));
    assert_eq!(s.login("admin", ADMIN_PASSWORD).await.status(), 200);
}

// The per-address limit (which never refuses a right password) is in tests/logins.rs.

#[tokio::test]
async fn expired_and_revoked_tokens_are_refused() {
    let s = TestServer::start().await;
    let token = s.admin_token().await;
    assert_eq!(s.get("/api/v1/me", Some(&token)).await.status(), 200);
    s.advance(Duration::hours(12) + Duration::seconds(1));
    problem(
        s.get("/api/v1/me", Some(&token)).await,
        401,
        "session_expired",
    )
    .await;

    let token = s.admin_token().await;
    let res = s
        .post_json("/api/v1/auth/logout", Some(&token), &json!({}))
        .await;
    assert_eq!(res.status(), 204);
    problem(
        s.get("/api/v1/me", Some(&token)).await,
        401,
        "unauthenticated",
    )
    .await;
    problem(s.get("/api/v1/me", None).await, 401, "unauthenticated").await;
    problem(
        s.get("/api/v1/me", Some("jsjb_made_up")).await,
        401,
        "unauthenticated",
    )
    .await;
}

#[tokio::test]
async fn admin_creates_units_and_users_and_others_cannot() {
    let s = TestServer::start().await;
    let admin = s.admin_token().await;
    let branch = s.unit(&admin, s.city, "branch", "福田分局").await;
    // Tree rules come from core: a station cannot sit under the city directly.
    let res = s
        .post_json(
            "/api/v1/admin/units",
            Some(&admin),
            &json!({"parent_id": s.city, "tier": "station", "name": "x"}),
        )
        .await;
    problem(res, 400, "invalid_input").await;
    s.user(&admin, branch, "wang.wu", &["officer", "chief"])
        .await;
    let res = s
        .post_json(
            "/api/v1/admin/users",
            Some(&admin),
            &json!({"unit_id": branch, "username": "WANG.WU", "display_name": "x", "roles": ["officer"], "password": PASSWORD}),
        )
        .await;
    problem(res, 409, "username_taken").await;
    let users: Value = s
        .get("/api/v1/admin/users", Some(&admin))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(users["users"].as_array().expect("users").len(), 2);

    let officer = s.token("wang.wu", PASSWORD).await;
    let res = s
        .post_json(
            "/api/v1/admin/units",
            Some(&officer),
            &json!({"parent_id": branch, "tier": "station", "name": "x"}),
        )
        .await;
    problem(res, 403, "forbidden").await;

    // A password reset ends the user's sessions.
    let res = s
        .post_json(
            &format!("/api/v1/admin/users/{}/password", 2),
            Some(&admin),
            &json!({"password": "a-new-password-2"}),
        )
        .await;
    assert_eq!(res.status(), 204);
    problem(
        s.get("/api/v1/me", Some(&officer)).await,
        401,
        "unauthenticated",
    )
    .await;
    assert_eq!(s.login("wang.wu", "a-new-password-2").await.status(), 200);
}

async fn post_letter(
    s: &TestServer,
    letter: &Value,
    files: Vec<(&str, Vec<u8>)>,
) -> reqwest::Response {
    s.post_public_letter(letter, files).await
}

#[tokio::test]
async fn intake_stores_a_letter_with_a_real_png_and_progress_shows_it() {
    let s = TestServer::start().await;
    let res = post_letter(&s, &letter_json(), vec![("photo.png", PNG_1X1.to_vec())]).await;
    assert_eq!(res.status(), 201);
    let receipt: Value = res.json().await.expect("json");
    let code = receipt["tracking_code"].as_str().expect("code").to_owned();
    assert!(code.starts_with("SZ") && code.len() == 16, "{code}");

    let res = s
        .get(
            &format!("/api/v1/public/progress?code={code}&phone_last4=5678"),
            None,
        )
        .await;
    assert_eq!(res.status(), 200);
    let progress: Value = res.json().await.expect("json");
    assert_eq!(progress["state"], "received");
    assert_eq!(progress["milestones"][0]["kind"], "received");
    assert!(
        !progress.to_string().contains("张三丰"),
        "no names on the public page"
    );

    problem(
        s.get(
            &format!("/api/v1/public/progress?code={code}&phone_last4=0000"),
            None,
        )
        .await,
        404,
        "not_found",
    )
    .await;
    problem(
        s.get(
            "/api/v1/public/progress?code=SZ20990101AAAAAA&phone_last4=5678",
            None,
        )
        .await,
        404,
        "not_found",
    )
    .await;
    problem(
        s.get("/api/v1/public/progress?code=x", None).await,
        400,
        "invalid_input",
    )
    .await;

    // The letter landed at the city in `received`, with its event and change row.
    let db = s.raw_db();
    let (state, unit): (String, i64) = db
        .query_row(
            "SELECT state, unit_id FROM letters WHERE tracking_code = ?1",
            [&code],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("letter");
    assert_eq!((state.as_str(), unit), ("received", s.city));
    let events: i64 = db
        .query_row(
            "SELECT count(*) FROM letter_events WHERE kind = 'received'",
            [],
            |r| r.get(0),
        )
        .expect("q");
    let changes: i64 = db
        .query_row("SELECT count(*) FROM changes", [], |r| r.get(0))
        .expect("q");
    assert_eq!((events, changes), (1, 1));
    assert_eq!(*s.state.changes.borrow(), 1);

    // The attachment is content-addressed and downloadable in scope only.
    let sha: String = db
        .query_row("SELECT sha256 FROM letter_attachments", [], |r| r.get(0))
        .expect("sha");
    assert!(
        s.dir
            .path()
            .join("blobs")
            .join(&sha[..2])
            .join(&sha)
            .exists()
    );
    let admin = s.admin_token().await;
    let res = s
        .get(&format!("/api/v1/attachments/{sha}"), Some(&admin))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/png");
    assert_eq!(res.bytes().await.expect("bytes").as_ref(), PNG_1X1);
    let branch = s.unit(&admin, s.city, "branch", "罗湖分局").await;
    s.user(&admin, branch, "zhao.liu", &["officer"]).await;
    let officer = s.token("zhao.liu", PASSWORD).await;
    problem(
        s.get(&format!("/api/v1/attachments/{sha}"), Some(&officer))
            .await,
        404,
        "not_found",
    )
    .await;
    problem(
        s.get("/api/v1/attachments/../../etc/passwd", Some(&admin))
            .await,
        404,
        "no_route",
    )
    .await;
    problem(
        s.get("/api/v1/attachments/abc", Some(&admin)).await,
        400,
        "invalid_input",
    )
    .await;
}

#[tokio::test]
async fn intake_refuses_forged_oversize_and_invalid_letters() {
    let s = TestServer::start().await;
    let forged = b"I am text, not a PNG, whatever my name says. ".repeat(4);
    problem(
        post_letter(&s, &letter_json(), vec![("evil.png", forged)]).await,
        422,
        "unsupported_attachment",
    )
    .await;

    let mut big = PNG_1X1.to_vec();
    big.resize(10 * 1024 * 1024 + 1, 0);
    problem(
        post_letter(&s, &letter_json(), vec![("big.png", big)]).await,
        413,
        "payload_too_large",
    )
    .await;

    let too_many = (0..10).map(|_| ("p.png", PNG_1X1.to_vec())).collect();
    problem(
        post_letter(&s, &letter_json(), too_many).await,
        422,
        "too_many_attachments",
    )
    .await;

    let mut bad = letter_json();
    bad["subject"] = json!("   ");
    let body = problem(post_letter(&s, &bad, vec![]).await, 400, "invalid_input").await;
    assert_eq!(body["field"], "subject");
    let mut bad = letter_json();
    bad["body"] = json!("字".repeat(5001));
    problem(post_letter(&s, &bad, vec![]).await, 400, "invalid_input").await;
    let mut bad = letter_json();
    bad["channel"] = json!("phone");
    problem(post_letter(&s, &bad, vec![]).await, 400, "invalid_input").await;

    let ticket = s.public_ticket("13812345678").await;
    let res = s
        .client
        .post(s.url("/api/v1/public/letters"))
        .header("x-jsjb-ticket", &ticket)
        .multipart(reqwest::multipart::Form::new().text("letter", "{not json"))
        .send()
        .await
        .expect("request");
    problem(res, 400, "malformed_json").await;
    let res = s
        .client
        .post(s.url("/api/v1/public/letters"))
        .header("x-jsjb-ticket", &ticket)
        .json(&letter_json())
        .send()
        .await
        .expect("request");
    problem(res, 415, "unsupported_media_type").await;

    // Nothing was stored by any refused request.
    let letters: i64 = s
        .raw_db()
        .query_row("SELECT count(*) FROM letters", [], |r| r.get(0))
        .expect("q");
    assert_eq!(letters, 0);
}

#[tokio::test]
async fn a_desk_types_in_a_phone_letter_at_its_own_unit() {
    let s = TestServer::start().await;
    let admin = s.admin_token().await;
    let mut letter = letter_json();
    letter["writer_phone"] = json!("0755-12345678");
    let res = s.post_json("/api/v1/letters", Some(&admin), &letter).await;
    assert_eq!(res.status(), 201);
    let receipt: Value = res.json().await.expect("json");
    assert_eq!(receipt["unit_id"], s.city);
    let channel: String = s
        .raw_db()
        .query_row("SELECT channel FROM letters", [], |r| r.get(0))
        .expect("q");
    assert_eq!(channel, "phone");
    let branch = s.unit(&admin, s.city, "branch", "宝安分局").await;
    s.user(&admin, branch, "officer.a", &["officer"]).await;
    let officer = s.token("officer.a", PASSWORD).await;
    problem(
        s.post_json("/api/v1/letters", Some(&officer), &letter)
            .await,
        403,
        "forbidden",
    )
    .await;
}

#[tokio::test]
async fn audit_chain_verifies_and_tampering_is_named() {
    let s = TestServer::start().await;
    let admin = s.admin_token().await;
    s.unit(&admin, s.city, "branch", "龙岗分局").await;
    let res = post_letter(&s, &letter_json(), vec![]).await;
    assert_eq!(res.status(), 201);

    let v: Value = s
        .get("/api/v1/audit/verify", Some(&admin))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(v["ok"], true, "{v}");
    assert!(v["entries"].as_u64().expect("n") >= 5);

    // Someone with the file drops the guard trigger and edits entry 2 (the admin's creation).
    let db = s.raw_db();
    let refused = db.execute("UPDATE audit_log SET payload = '{}' WHERE seq = 2", []);
    assert!(
        refused.is_err(),
        "the append-only trigger refuses plain updates"
    );
    db.execute_batch(
        "DROP TRIGGER audit_log_append_only_u;
         UPDATE audit_log SET payload = '{\"username\":\"mallory\"}' WHERE seq = 2;",
    )
    .expect("tamper");
    drop(db);

    let v: Value = s
        .get("/api/v1/audit/verify", Some(&admin))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(v["ok"], false);
    assert_eq!(v["first_broken"]["seq"], 2, "{v}");

    // The CLI says the same and exits non-zero.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_jsjb-server"))
        .arg("--db")
        .arg(&s.state.config.db)
        .arg("--blob-dir")
        .arg(s.dir.path().join("blobs"))
        .args(["admin", "audit-verify"])
        .output()
        .expect("run cli");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("broken at entry 2"), "{stderr}");

    let officer_unit = s.city;
    s.user(&admin, officer_unit, "plain", &["officer"]).await;
    let officer = s.token("plain", PASSWORD).await;
    problem(
        s.get("/api/v1/audit/verify", Some(&officer)).await,
        403,
        "forbidden",
    )
    .await;
}

#[tokio::test]
async fn hostile_requests_get_problem_details_never_500() {
    let s = TestServer::start().await;
    let admin = s.admin_token().await;
    let raw = |path: &str, ct: &str, body: Vec<u8>| {
        s.client
            .post(s.url(path))
            .header("content-type", ct)
            .bearer_auth(&admin)
            .body(body)
            .send()
    };
    problem(
        raw(
            "/api/v1/auth/login",
            "application/json",
            b"{\"username\": ".to_vec(),
        )
        .await
        .expect("r"),
        400,
        "malformed_json",
    )
    .await;
    problem(
        raw("/api/v1/auth/login", "text/plain", b"hello".to_vec())
            .await
            .expect("r"),
        415,
        "unsupported_media_type",
    )
    .await;
    problem(
        raw(
            "/api/v1/auth/login",
            "application/json",
            b"[1,2,3]".to_vec(),
        )
        .await
        .expect("r"),
        400,
        "invalid_input",
    )
    .await;
    problem(
        raw(
            "/api/v1/admin/units",
            "application/json",
            b"{\"tier\":\"moon\",\"name\":\"x\"}".to_vec(),
        )
        .await
        .expect("r"),
        400,
        "invalid_input",
    )
    .await;
    let huge = format!(
        "{{\"username\":\"{}\",\"password\":\"x\"}}",
        "a".repeat(100 * 1024)
    );
    problem(
        raw("/api/v1/auth/login", "application/json", huge.into_bytes())
            .await
            .expect("r"),
        413,
        "payload_too_large",
    )
    .await;
    problem(
        raw(
            "/api/v1/admin/users/notanumber/password",
            "application/json",
            b"{}".to_vec(),
        )
        .await
        .expect("r"),
        400,
        "invalid_input",
    )
    .await;
    problem(s.get("/api/v1/nothing-here", None).await, 404, "no_route").await;
    let res = s
        .client
        .delete(s.url("/api/v1/me"))
        .send()
        .await
        .expect("r");
    problem(res, 405, "method_not_allowed").await;
    let res = s
        .client
        .get(s.url("/api/v1/me"))
        .header("authorization", "Basic Zm9vOmJhcg==")
        .send()
        .await
        .expect("r");
    problem(res, 401, "unauthenticated").await;
}

#[tokio::test]
async fn openapi_document_and_health_are_served() {
    let s = TestServer::start().await;
    let res = s.get("/api/v1/openapi.json", None).await;
    assert_eq!(res.status(), 200);
    let doc: Value = res.json().await.expect("openapi is JSON");
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/api/v1/auth/login",
        "/api/v1/public/letters",
        "/api/v1/public/progress",
        "/api/v1/audit/verify",
        "/api/v1/me",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} documented");
    }
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    // The desktops' wire types (jsjb-proto, jsjb-core) are described in full, not as `Object`.
    for schema in [
        "LetterRecord",
        "EventPayload",
        "Action",
        "SyncPage",
        "LoginResponse",
        "Me",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "{schema} described"
        );
    }
    let actions = &doc["paths"]["/api/v1/letters/{id}/actions"]["post"];
    assert_eq!(
        actions["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ActionRequest"
    );
    let variants = doc["components"]["schemas"]["Action"]["oneOf"]
        .as_array()
        .map(Vec::len);
    assert_eq!(
        variants,
        Some(jsjb_core::workflow::ActionKind::ALL.len()),
        "one schema per action of the rule book"
    );

    let health: Value = s.get("/healthz", None).await.json().await.expect("json");
    assert_eq!(health["status"], "ok");
}
