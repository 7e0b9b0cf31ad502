//! The authorisation matrix: every route of the OpenAPI document × role × relation to
//! the letter's unit (own / parent / child / sibling / none) × path (happy, stale
//! version, wrong state, bad body).
//!
//! What it holds the server to:
//! - scope comes first: for a caller who cannot `GET` a letter, every letter route
//!   answers exactly as it does for a letter that does not exist (same status and
//!   code), whatever the body or version — so there is no oracle;
//! - no answer to such a caller carries any of the letter's data (subject, body,
//!   tracking code, writer), and no denied answer to anyone carries another letter's;
//! - role-gated routes refuse the roles they do not serve, admin routes stay inside the
//!   admin's own subtree, and no route answers 5xx;
//! - every route in the document is covered here: a new route fails this test until it
//!   is placed in the matrix.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use support::*;

const ROLES: [&str; 5] = ["dispatcher", "officer", "chief", "supervisor", "admin"];

/// Where a caller's unit stands relative to the letter's unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Relation {
    Own,
    /// The caller's unit is above the letter's.
    Parent,
    /// The caller's unit is below the letter's.
    Child,
    Sibling,
    None,
}

impl Relation {
    fn sees(self) -> bool {
        matches!(self, Relation::Own | Relation::Parent)
    }
}

struct Caller {
    name: String,
    unit: &'static str,
    role: &'static str,
    token: String,
}

/// A letter with what must never reach a caller outside its scope.
struct Letter {
    id: i64,
    unit: &'static str,
    secrets: Vec<String>,
}

struct World {
    s: TestServer,
    units: BTreeMap<&'static str, i64>,
    callers: Vec<Caller>,
    /// At 福田分局 (B1), dispatched there and not forwarded.
    at_branch: Letter,
    /// At 福田派出所 (S1a), dispatched down the chain, not yet signed for.
    at_station: Letter,
    /// An attachment referenced only by a letter at S1a.
    attachment: String,
}

/// city ─┬─ B1 ─┬─ S1a
///       │      └─ S1b
///       └─ B2 ─── S2
fn relation(units: &str, caller: &str) -> Relation {
    let parent = |u: &str| match u {
        "B1" | "B2" => Some("C"),
        "S1a" | "S1b" => Some("B1"),
        "S2" => Some("B2"),
        _ => None,
    };
    let ancestors = |u: &str| {
        let mut out = Vec::new();
        let mut cur = parent(u);
        while let Some(p) = cur {
            out.push(p);
            cur = parent(p);
        }
        out
    };
    if units == caller {
        Relation::Own
    } else if ancestors(units).contains(&caller) {
        Relation::Parent
    } else if ancestors(caller).contains(&units) {
        Relation::Child
    } else if parent(units) == parent(caller) {
        Relation::Sibling
    } else {
        Relation::None
    }
}

async fn act(s: &TestServer, token: &str, id: i64, key: &str, body: &Value) -> reqwest::Response {
    s.client
        .post(s.url(&format!("/api/v1/letters/{id}/actions")))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .expect("action")
}

async fn desk_letter(s: &TestServer, token: &str, n: u32) -> (i64, Vec<String>) {
    let subject = format!("机密标记主题{n}");
    let body = format!("唯一正文内容{n}，不得外泄");
    let res = s
        .post_json(
            "/api/v1/letters",
            Some(token),
            &json!({"category": "help", "subject": subject, "body": body,
                    "writer_name": "欧阳锋", "writer_phone": "13912340000"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let receipt: Value = res.json().await.expect("json");
    let tracking = receipt["tracking_code"].as_str().expect("code").to_owned();
    (
        receipt["id"].as_i64().expect("id"),
        vec![subject, body, tracking, "欧阳".to_owned()],
    )
}

async fn dispatch(s: &TestServer, token: &str, id: i64, version: i64, to: i64) {
    let res = act(
        s,
        token,
        id,
        &format!("dispatch-{id}-{version}"),
        &json!({"expected_version": version, "action": {"action": "dispatch", "to": to}}),
    )
    .await;
    assert_eq!(res.status(), 200, "{:?}", res.text().await);
}

async fn world() -> World {
    let s = TestServer::start().await;
    let admin = s.admin_token().await;
    let mut units = BTreeMap::new();
    units.insert("C", s.city);
    let b1 = s.unit(&admin, s.city, "branch", "福田分局").await;
    let b2 = s.unit(&admin, s.city, "branch", "罗湖分局").await;
    units.insert("B1", b1);
    units.insert("B2", b2);
    units.insert("S1a", s.unit(&admin, b1, "station", "福田派出所").await);
    units.insert("S1b", s.unit(&admin, b1, "station", "华富派出所").await);
    units.insert("S2", s.unit(&admin, b2, "station", "东门派出所").await);
    let mut callers = Vec::new();
    for (&unit, &id) in &units {
        for role in ROLES {
            let name = format!("{}.{role}", unit.to_lowercase());
            s.user(&admin, id, &name, &[role]).await;
            callers.push(Caller {
                token: s.token(&name, PASSWORD).await,
                name,
                unit,
                role,
            });
        }
    }
    let desk = &callers
        .iter()
        .find(|c| c.unit == "C" && c.role == "dispatcher")
        .expect("city desk")
        .token;
    let b1_desk = &callers
        .iter()
        .find(|c| c.unit == "B1" && c.role == "dispatcher")
        .expect("branch desk")
        .token;
    let (branch_id, branch_secrets) = desk_letter(&s, desk, 1).await;
    dispatch(&s, desk, branch_id, 1, b1).await;
    let (station_id, station_secrets) = desk_letter(&s, desk, 2).await;
    dispatch(&s, desk, station_id, 1, b1).await;
    dispatch(&s, b1_desk, station_id, 2, units["S1a"]).await;

    // An attachment referenced only by a letter at S1a, put there the way intake does.
    let png = PNG_1X1.to_vec();
    let blobs = s.state.blobs.clone();
    let sha = tokio::task::spawn_blocking(move || blobs.put(&png))
        .await
        .expect("join")
        .expect("blob");
    s.state
        .store
        .create_letter(
            jsjb_storage::NewLetter {
                tracking_code: "ATTACH0001".to_owned(),
                channel: jsjb_core::letter::Channel::Web,
                category: jsjb_core::letter::Category::Help,
                problem_tags: Vec::new(),
                subject: "带附件".to_owned(),
                body: "附件".to_owned(),
                writer_name: "李四".to_owned(),
                writer_phone: "13700000000".to_owned(),
                writer_extra: json!({}),
                received_at: chrono::Utc::now(),
                unit: Some(jsjb_core::org::UnitId(units["S1a"])),
                attachments: vec![(
                    jsjb_storage::AttachmentMeta {
                        sha256: sha.clone(),
                        mime: "image/png".to_owned(),
                        size: PNG_1X1.len() as u64,
                        kind: jsjb_storage::AttachmentKind::Image,
                    },
                    Some("a.png".to_owned()),
                )],
                idempotency: None,
            },
            jsjb_storage::Actor::cli(),
        )
        .await
        .expect("letter with attachment");

    World {
        s,
        units,
        callers,
        at_branch: Letter {
            id: branch_id,
            unit: "B1",
            secrets: branch_secrets,
        },
        at_station: Letter {
            id: station_id,
            unit: "S1a",
            secrets: station_secrets,
        },
        attachment: sha,
    }
}

/// One answer, read whole.
struct Answer {
    status: u16,
    code: String,
    text: String,
}

async fn read(res: reqwest::Response) -> Answer {
    let status = res.status().as_u16();
    let text = res.text().await.unwrap_or_default();
    let code = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v["code"].as_str().map(str::to_owned))
        .unwrap_or_default();
    Answer { status, code, text }
}

/// The requests a letter route is tried with: (path name, method, url, body).
fn letter_requests(id: i64, version: i64) -> Vec<(&'static str, &'static str, String, Value)> {
    let actions = format!("/api/v1/letters/{id}/actions");
    vec![
        ("get", "GET", format!("/api/v1/letters/{id}"), Value::Null),
        (
            "happy",
            "POST",
            actions.clone(),
            json!({"expected_version": version, "action": {"action": "sign_for"}}),
        ),
        (
            "stale version",
            "POST",
            actions.clone(),
            json!({"expected_version": version + 7, "action": {"action": "sign_for"}}),
        ),
        (
            "wrong state",
            "POST",
            actions.clone(),
            json!({"expected_version": version, "action": {"action": "give_first_feedback", "text": "已核查"}}),
        ),
        (
            "bad body",
            "POST",
            actions,
            json!({"expected_version": version, "action": {"action": "no_such_action"}}),
        ),
        (
            "reveal",
            "POST",
            format!("/api/v1/letters/{id}/reveal-writer"),
            Value::Null,
        ),
        (
            "rating",
            "GET",
            format!("/api/v1/letters/{id}/rating"),
            Value::Null,
        ),
        (
            "signed form",
            "GET",
            format!("/api/v1/letters/{id}/signed-form"),
            Value::Null,
        ),
        (
            "handwriting",
            "GET",
            format!("/api/v1/letters/{id}/signed-forms/1/handwriting"),
            Value::Null,
        ),
        (
            "pdf",
            "GET",
            format!("/api/v1/letters/{id}/signed-forms/1/pdf"),
            Value::Null,
        ),
    ]
}

async fn send(
    s: &TestServer,
    token: &str,
    method: &str,
    url: &str,
    body: &Value,
    key: &str,
) -> Answer {
    let mut req = match method {
        "GET" => s.client.get(s.url(url)),
        _ => s.client.post(s.url(url)).header("Idempotency-Key", key),
    };
    req = req.bearer_auth(token);
    if !body.is_null() {
        req = req.json(body);
    }
    read(req.send().await.expect("request")).await
}

fn assert_no_secret(letter: &Letter, answer: &Answer, what: &str) {
    for secret in &letter.secrets {
        assert!(
            !answer.text.contains(secret.as_str()),
            "{what}: the answer ({}) carries the letter's {secret:?}: {}",
            answer.status,
            answer.text
        );
    }
}

/// Letter routes, for every caller and every path: out of scope is indistinguishable
/// from absent and carries nothing; in scope is never 404 on `GET` and never 5xx.
#[tokio::test]
async fn letter_routes_check_scope_first_and_leak_nothing() {
    let w = world().await;
    let mut covered: BTreeSet<(Relation, &str)> = BTreeSet::new();
    for letter in [&w.at_branch, &w.at_station] {
        let version = read(
            w.s.get(
                &format!("/api/v1/letters/{}", letter.id),
                Some(&w.callers[0].token),
            )
            .await,
        )
        .await;
        let version = serde_json::from_str::<Value>(&version.text).expect("letter")["version"]
            .as_i64()
            .expect("version");
        for (n, caller) in w.callers.iter().enumerate() {
            let relation = relation(letter.unit, caller.unit);
            covered.insert((relation, caller.role));
            let requests = letter_requests(letter.id, version);
            let absent = letter_requests(9_999_999, version);
            for ((path, method, url, body), (_, _, absent_url, absent_body)) in
                requests.iter().zip(absent.iter())
            {
                // Out-of-scope callers only: a visible caller's happy path would change
                // the letter under the others. Visible callers try everything but the
                // happy sign-for, which the life-cycle test suites cover role by role.
                if relation.sees() && *path == "happy" {
                    continue;
                }
                let what = format!(
                    "{} ({relation:?}, {}) {path} {method} {url}",
                    caller.name, caller.role
                );
                let key = format!("k-{n}-{}-{}", letter.id, path.replace(' ', "-"));
                let answer = send(&w.s, &caller.token, method, url, body, &key).await;
                assert!(
                    answer.status < 500,
                    "{what}: {} {}",
                    answer.status,
                    answer.text
                );
                if relation.sees() {
                    if *path == "get" {
                        assert_eq!(answer.status, 200, "{what}: {}", answer.text);
                    }
                    if *path == "stale version" {
                        assert_eq!(answer.code, "stale_version", "{what}: {}", answer.text);
                    }
                    if answer.status >= 400 && answer.code != "stale_version" {
                        // A refusal says why, never what the letter holds.
                        assert_no_secret(letter, &answer, &what);
                    }
                } else {
                    let reference = send(
                        &w.s,
                        &caller.token,
                        method,
                        absent_url,
                        absent_body,
                        &format!("{key}-absent"),
                    )
                    .await;
                    assert_eq!(
                        (answer.status, &answer.code),
                        (reference.status, &reference.code),
                        "{what}: an out-of-scope letter must answer as an absent one ({})",
                        answer.text
                    );
                    if *path != "bad body" {
                        assert_eq!(answer.status, 404, "{what}: {}", answer.text);
                    }
                    assert_no_secret(letter, &answer, &what);
                }
            }
        }
    }
    // Every relation is exercised for every role.
    for relation in [
        Relation::Own,
        Relation::Parent,
        Relation::Child,
        Relation::Sibling,
        Relation::None,
    ] {
        for role in ROLES {
            assert!(covered.contains(&(relation, role)), "{relation:?} × {role}");
        }
    }
    // The letters are untouched by all of the above: nobody out of scope moved them.
    for letter in [&w.at_branch, &w.at_station] {
        let res =
            w.s.get(
                &format!("/api/v1/letters/{}", letter.id),
                Some(&w.callers[0].token),
            )
            .await;
        let now: Value = res.json().await.expect("json");
        assert_eq!(now["state"], "dispatched", "{now}");
    }
}

/// The sync pages and the attachment route follow the same scope.
#[tokio::test]
async fn sync_and_attachments_stay_in_scope() {
    let w = world().await;
    for caller in &w.callers {
        let page = read(
            w.s.get("/api/v1/sync?cursor=0&limit=500", Some(&caller.token))
                .await,
        )
        .await;
        assert_eq!(page.status, 200, "{}", caller.name);
        for letter in [&w.at_branch, &w.at_station] {
            if relation(letter.unit, caller.unit).sees() {
                assert!(
                    page.text.contains(&letter.secrets[0]),
                    "{} must sync {}",
                    caller.name,
                    letter.id
                );
            } else {
                assert_no_secret(letter, &page, &format!("sync of {}", caller.name));
            }
        }
        let file = read(
            w.s.get(
                &format!("/api/v1/attachments/{}", w.attachment),
                Some(&caller.token),
            )
            .await,
        )
        .await;
        let expect = if relation("S1a", caller.unit).sees() {
            200
        } else {
            404
        };
        assert_eq!(file.status, expect, "attachment for {}", caller.name);
    }
}

/// Admin routes: only admins, and only inside their own subtree.
#[tokio::test]
async fn admin_routes_are_admin_only_and_scoped() {
    let w = world().await;
    let s1a_officer = w.units["S1a"];
    // Password resets revoke the target's sessions: aim them at someone no caller is.
    let target =
        w.s.user(
            &w.s.admin_token().await,
            w.units["S1a"],
            "s1a.target",
            &["officer"],
        )
        .await;
    for caller in &w.callers {
        let users = read(w.s.get("/api/v1/admin/users", Some(&caller.token)).await).await;
        let units = read(w.s.get("/api/v1/admin/units", Some(&caller.token)).await).await;
        let verify = read(w.s.get("/api/v1/audit/verify", Some(&caller.token)).await).await;
        let keys = read(w.s.get("/api/v1/admin/keys", Some(&caller.token)).await).await;
        // Reactivating an active user is refused after the scope check: the answer says
        // whether the admin may administer the target, and nothing changes.
        let active = read(
            w.s.post_json(
                &format!("/api/v1/admin/users/{target}/active"),
                Some(&caller.token),
                &json!({"active": true, "reason": "核对"}),
            )
            .await,
        )
        .await;
        let rename = read(
            w.s.post_json(
                &format!("/api/v1/admin/units/{}/name", w.units["S1a"]),
                Some(&caller.token),
                &json!({"name": "福田派出所", "reason": "核对"}),
            )
            .await,
        )
        .await;
        let new_unit = read(
            w.s.post_json(
                "/api/v1/admin/units",
                Some(&caller.token),
                &json!({"parent_id": w.units["S1a"], "tier": "station", "name": "x"}),
            )
            .await,
        )
        .await;
        let new_user = read(
            w.s.post_json(
                "/api/v1/admin/users",
                Some(&caller.token),
                &json!({"unit_id": s1a_officer, "username": format!("new.{}", caller.name),
                        "display_name": "新人", "roles": ["officer"], "password": PASSWORD}),
            )
            .await,
        )
        .await;
        let reset = read(
            w.s.post_json(
                &format!("/api/v1/admin/users/{target}/password"),
                Some(&caller.token),
                &json!({"password": "a-new-password-9"}),
            )
            .await,
        )
        .await;
        // No change at all and a move to where the unit is: refused after the scope check.
        let update = read(
            w.s.post_json(
                &format!("/api/v1/admin/users/{target}"),
                Some(&caller.token),
                &json!({"reason": "核对"}),
            )
            .await,
        )
        .await;
        let parent = read(
            w.s.post_json(
                &format!("/api/v1/admin/units/{}/parent", w.units["S1a"]),
                Some(&caller.token),
                &json!({"parent_id": w.units["B1"], "reason": "核对"}),
            )
            .await,
        )
        .await;
        // Reactivating an active unit: refused after the scope check.
        let unit_active = read(
            w.s.post_json(
                &format!("/api/v1/admin/units/{}/active", w.units["S1a"]),
                Some(&caller.token),
                &json!({"active": true, "reason": "核对"}),
            )
            .await,
        )
        .await;
        // Ends the target's sessions (it has none; the target is nobody's caller).
        let sessions = read(
            w.s.post_json(
                &format!("/api/v1/admin/users/{target}/sessions/revoke"),
                Some(&caller.token),
                &json!({"reason": "核对"}),
            )
            .await,
        )
        .await;
        for (what, answer) in [
            ("revoke sessions", &sessions),
            ("unit active", &unit_active),
            ("update user", &update),
            ("move unit", &parent),
            ("list users", &users),
            ("list units", &units),
            ("audit verify", &verify),
            ("list keys", &keys),
            ("set active", &active),
            ("rename unit", &rename),
            ("create unit", &new_unit),
            ("create user", &new_user),
            ("reset password", &reset),
        ] {
            assert!(
                answer.status < 500,
                "{what} by {}: {}",
                caller.name,
                answer.text
            );
            if caller.role != "admin" {
                assert_eq!(
                    answer.status, 403,
                    "{what} by {}: {}",
                    caller.name, answer.text
                );
            }
        }
        if caller.role == "admin" {
            // S1a's people and units are inside C, B1 and S1a only.
            let in_scope = relation("S1a", caller.unit).sees();
            assert_eq!(
                new_user.status < 300,
                in_scope,
                "create a user at S1a by {}: {}",
                caller.name,
                new_user.text
            );
            assert_eq!(
                reset.status < 300,
                in_scope,
                "reset an S1a password by {}: {}",
                caller.name,
                reset.text
            );
            assert_eq!(
                rename.status,
                if in_scope { 200 } else { 404 },
                "rename S1a by {}: {}",
                caller.name,
                rename.text
            );
            assert_eq!(
                update.status,
                if in_scope { 409 } else { 404 },
                "update an S1a user by {}: {}",
                caller.name,
                update.text
            );
            assert_eq!(
                sessions.status,
                if in_scope { 200 } else { 404 },
                "revoke an S1a user's sessions by {}: {}",
                caller.name,
                sessions.text
            );
            // S1a's own admin may not switch their own unit; above it, already active.
            let expected = match (in_scope, caller.unit == "S1a") {
                (true, true) => 403,
                (true, false) => 409,
                (false, _) => 404,
            };
            assert_eq!(
                unit_active.status, expected,
                "S1a active by {}: {}",
                caller.name, unit_active.text
            );
            // Moving S1a needs its parent B1 in scope too (a station admin cannot).
            assert_eq!(
                parent.status,
                if relation("B1", caller.unit).sees() {
                    409
                } else {
                    404
                },
                "move S1a by {}: {}",
                caller.name,
                parent.text
            );
            // In scope: the user is active already (409); outside: no such user (404).
            assert_eq!(
                active.status,
                if in_scope { 409 } else { 404 },
                "set an S1a user active by {}: {}",
                caller.name,
                active.text
            );
            if let Some(rows) = serde_json::from_str::<Value>(&keys.text)
                .ok()
                .as_ref()
                .and_then(Value::as_array)
            {
                for row in rows {
                    let unit = row["key"]["unit_id"].as_i64().unwrap_or_default();
                    let name = w.units.iter().find(|(_, id)| **id == unit).map(|(n, _)| *n);
                    assert!(
                        name.is_some_and(|n| relation(n, caller.unit).sees()),
                        "{} lists a key of unit {unit}",
                        caller.name
                    );
                }
            }
        }
    }
}

/// Reports: every caller × every unit × the report and its export. A unit outside
/// the caller's subtree (a sibling's, one above) is absent, whatever the role (scope
/// first); inside it, the letter-handling roles read it and an admin is refused.
#[tokio::test]
async fn reports_are_scoped_first_and_for_the_letter_roles() {
    let w = world().await;
    let from = "2020-01-01T00:00:00Z";
    let to = "2030-01-01T00:00:00Z";
    for caller in &w.callers {
        for (&unit, &id) in &w.units {
            let sees = relation(unit, caller.unit).sees();
            for url in [
                format!("/api/v1/reports?from={from}&to={to}&unit={id}"),
                format!("/api/v1/reports/export?from={from}&to={to}&unit={id}&format=csv"),
            ] {
                let answer = read(w.s.get(&url, Some(&caller.token)).await).await;
                let (status, code) = match (sees, caller.role) {
                    (false, _) => (404, "not_found"),
                    (true, "admin") => (403, "forbidden"),
                    (true, _) => (200, ""),
                };
                assert_eq!(
                    (answer.status, answer.code.as_str()),
                    (status, code),
                    "{url} by {}: {}",
                    caller.name,
                    answer.text
                );
                for letter in [&w.at_branch, &w.at_station] {
                    assert_no_secret(letter, &answer, &url);
                }
            }
        }
        // Without `unit`: the caller's own.
        let own = read(
            w.s.get(
                &format!("/api/v1/reports?from={from}&to={to}"),
                Some(&caller.token),
            )
            .await,
        )
        .await;
        let expected = if caller.role == "admin" { 403 } else { 200 };
        assert_eq!(own.status, expected, "{}: {}", caller.name, own.text);
        if own.status == 200 {
            let report: Value = serde_json::from_str(&own.text).expect("json");
            assert_eq!(report["unit_id"], w.units[caller.unit], "{}", caller.name);
        }
    }
    // An unknown unit reads like a sibling's.
    let desk = &w.callers[0].token;
    let absent = read(
        w.s.get(
            &format!("/api/v1/reports?from={from}&to={to}&unit=999999"),
            Some(desk),
        )
        .await,
    )
    .await;
    assert_eq!((absent.status, absent.code.as_str()), (404, "not_found"));
}

/// The routes that need no account, and those placed in the matrix above. A route of
/// the document that is in neither list fails here: place it in the matrix first.
const PUBLIC: &[&str] = &[
    "GET /healthz",
    "POST /api/v1/auth/login",
    "POST /api/v1/public/letters",
    "POST /api/v1/public/verification",
    "POST /api/v1/public/verification/code",
    "GET /api/v1/public/progress",
];

/// Every route of the OpenAPI document: without a token, each one that is not public
/// answers 401 problem details; each is covered by a test in this file.
#[tokio::test]
async fn every_route_in_the_document_is_in_the_matrix() {
    let w = world().await;
    let doc = jsjb_server::router::openapi();
    let covered_by_letter_matrix: BTreeSet<String> = letter_requests(1, 1)
        .into_iter()
        .map(|(_, method, url, _)| format!("{method} {}", url.replace("/1/", "/{id}/")))
        .collect();
    let covered_elsewhere = [
        "GET /api/v1/letters/{id}",
        "POST /api/v1/letters/{id}/reveal-writer",
        "GET /api/v1/letters/{id}/rating",
        "GET /api/v1/letters/{id}/signed-form",
        "GET /api/v1/letters/{id}/signed-forms/{seq}/handwriting",
        "GET /api/v1/letters/{id}/signed-forms/{seq}/pdf",
        "GET /api/v1/sync",
        "GET /api/v1/attachments/{sha256}",
        "GET /api/v1/admin/users",
        "POST /api/v1/admin/users",
        "GET /api/v1/admin/units",
        "POST /api/v1/admin/units",
        "POST /api/v1/admin/users/{id}/password",
        "GET /api/v1/admin/keys",
        "POST /api/v1/admin/users/{id}/active",
        "POST /api/v1/admin/units/{id}/name",
        "POST /api/v1/admin/units/{id}/parent",
        "POST /api/v1/admin/units/{id}/active",
        "POST /api/v1/admin/users/{id}",
        "POST /api/v1/admin/users/{id}/sessions/revoke",
        // City admins only: tests/routing_admin.rs.
        "GET /api/v1/admin/routing",
        "POST /api/v1/admin/routing",
        "POST /api/v1/admin/routing/test",
        "GET /api/v1/audit/verify",
        "GET /api/v1/reports",
        "GET /api/v1/reports/export",
        // Any signed-in user (configuration, not letters): tests/clock_rules.rs.
        "GET /api/v1/rules",
    ];
    let covered_below = [
        "POST /api/v1/auth/logout",
        "GET /api/v1/me",
        "POST /api/v1/letters",
        "GET /api/v1/directory",
        "GET /api/v1/handovers",
        "POST /api/v1/handovers",
        "GET /api/v1/sync/stream",
        "GET /api/v1/keys",
        "POST /api/v1/keys",
        "POST /api/v1/keys/{id}/activate",
        "POST /api/v1/keys/{id}/revoke",
        "POST /api/v1/keys/{id}/endorse",
        "GET /api/v1/me/notices",
        "GET /api/v1/audit/head",
        "POST /api/v1/me/notices/ack",
        "POST /api/v1/me/password",
        "GET /api/v1/delegations",
        "POST /api/v1/delegations",
        "POST /api/v1/delegations/{id}/revoke",
    ];
    let mut routes = Vec::new();
    let paths = doc["paths"].as_object().expect("paths");
    for (path, item) in paths {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                routes.push(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    assert!(routes.len() > 25, "{routes:?}");
    for route in &routes {
        let known = PUBLIC.contains(&route.as_str())
            || covered_by_letter_matrix.contains(route)
            || covered_elsewhere.contains(&route.as_str())
            || covered_below.contains(&route.as_str())
            || route == "POST /api/v1/letters/{id}/actions";
        assert!(known, "{route} is not in the authorisation matrix: add it");
        if PUBLIC.contains(&route.as_str()) {
            continue;
        }
        let (method, path) = route.split_once(' ').expect("route");
        let url = path
            .replace("{id}", &w.at_station.id.to_string())
            .replace("{seq}", "1")
            .replace("{sha256}", &w.attachment);
        let req = match method {
            "GET" => w.s.client.get(w.s.url(&url)),
            _ => w.s.client.post(w.s.url(&url)).json(&json!({})),
        };
        let answer = read(req.send().await.expect("request")).await;
        assert_eq!(
            answer.status, 401,
            "{route} without a token: {}",
            answer.text
        );
        assert_no_secret(&w.at_station, &answer, route);
    }

    // The unit-level routes, role by role: nothing 5xx, role gates hold.
    for caller in &w.callers {
        let me = read(w.s.get("/api/v1/me", Some(&caller.token)).await).await;
        assert_eq!(me.status, 200, "{}", caller.name);
        let dir = read(w.s.get("/api/v1/directory", Some(&caller.token)).await).await;
        assert_eq!(dir.status, 200, "{}", caller.name);
        let desk = read(
            w.s.post_json(
                "/api/v1/letters",
                Some(&caller.token),
                &json!({"category": "help", "subject": "电话来信", "body": "电话内容",
                        "writer_name": "王五", "writer_phone": "13600000000"}),
            )
            .await,
        )
        .await;
        let expect = if caller.role == "dispatcher" {
            201
        } else {
            403
        };
        assert_eq!(
            desk.status, expect,
            "desk letter by {}: {}",
            caller.name, desk.text
        );
        for (method, url, body) in [
            ("GET", "/api/v1/handovers", Value::Null),
            ("POST", "/api/v1/handovers", json!({"note": 1})),
            ("GET", "/api/v1/keys", Value::Null),
            (
                "POST",
                "/api/v1/keys",
                json!({"public_key_pem": "not a key", "label": "x"}),
            ),
            (
                "POST",
                "/api/v1/keys/999999/activate",
                json!({"reason": "x"}),
            ),
            ("POST", "/api/v1/keys/999999/revoke", json!({"reason": "x"})),
            (
                "POST",
                "/api/v1/keys/999999/endorse",
                json!({"previous_key_id": 1, "signature_der_b64": "AAAA"}),
            ),
            ("GET", "/api/v1/me/notices", Value::Null),
            ("GET", "/api/v1/audit/head?known_seq=1", Value::Null),
            ("POST", "/api/v1/me/notices/ack", json!({"up_to": "x"})),
            // A wrong current password changes nothing, for anyone.
            (
                "POST",
                "/api/v1/me/password",
                json!({"current_password": "not-the-password", "new_password": "another-password-1"}),
            ),
            ("GET", "/api/v1/delegations", Value::Null),
            ("POST", "/api/v1/delegations", json!({"deputy": 999999})),
            ("POST", "/api/v1/delegations/999999/revoke", json!({})),
        ] {
            let answer = send(&w.s, &caller.token, method, url, &body, "k").await;
            assert!(
                answer.status < 500,
                "{method} {url} by {}: {} {}",
                caller.name,
                answer.status,
                answer.text
            );
            if method == "POST" {
                // Garbage bodies and absent targets are never accepted.
                assert!(
                    answer.status >= 400,
                    "{method} {url} by {}: {} {}",
                    caller.name,
                    answer.status,
                    answer.text
                );
            }
            assert_no_secret(&w.at_station, &answer, url);
            assert_no_secret(&w.at_branch, &answer, url);
        }
        let stream =
            w.s.client
                .get(w.s.url("/api/v1/sync/stream"))
                .bearer_auth(&caller.token)
                .send()
                .await
                .expect("stream");
        assert_eq!(stream.status(), 200, "stream for {}", caller.name);
        drop(stream);
    }
    // Logout ends the session: the token is refused afterwards everywhere.
    let last = &w.callers[w.callers.len() - 1];
    let out = send(
        &w.s,
        &last.token,
        "POST",
        "/api/v1/auth/logout",
        &Value::Null,
        "k",
    )
    .await;
    assert_eq!(out.status, 204);
    let after = read(w.s.get("/api/v1/me", Some(&last.token)).await).await;
    assert_eq!(after.status, 401);
}

/// A delegation (代签) is revoked by its chief or an admin above it; anyone who cannot
/// list it gets the answer for one that does not exist.
#[tokio::test]
async fn delegations_cannot_be_probed_or_revoked_from_outside() {
    let w = world().await;
    let chief = w
        .callers
        .iter()
        .find(|c| c.unit == "S1a" && c.role == "chief")
        .expect("chief");
    let admin = w.s.admin_token().await;
    let users: Value =
        w.s.get("/api/v1/admin/users", Some(&admin))
            .await
            .json()
            .await
            .expect("json");
    let deputy = users["users"]
        .as_array()
        .and_then(|u| u.iter().find(|u| u["username"] == "s1a.officer"))
        .and_then(|u| u["id"].as_i64())
        .expect("deputy");
    let now = chrono::Utc::now();
    let granted = read(
        w.s.post_json(
            "/api/v1/delegations",
            Some(&chief.token),
            &json!({"deputy": deputy, "valid_from": now, "valid_until": now + chrono::Duration::days(3), "note": "休假期间代签"}),
        )
        .await,
    )
    .await;
    assert!(granted.status < 300, "{}", granted.text);
    let id = serde_json::from_str::<Value>(&granted.text).expect("json")["id"]
        .as_i64()
        .expect("id");
    for caller in &w.callers {
        let sees =
            caller.unit == "S1a" || (caller.role == "admin" && relation("S1a", caller.unit).sees());
        let listed = read(w.s.get("/api/v1/delegations", Some(&caller.token)).await).await;
        assert_eq!(
            listed.text.contains("休假期间代签"),
            sees,
            "{} lists: {}",
            caller.name,
            listed.text
        );
        if caller.name == chief.name || caller.role == "admin" && sees {
            continue;
        }
        let revoke = send(
            &w.s,
            &caller.token,
            "POST",
            &format!("/api/v1/delegations/{id}/revoke"),
            &json!({}),
            "k",
        )
        .await;
        let absent = send(
            &w.s,
            &caller.token,
            "POST",
            "/api/v1/delegations/999999/revoke",
            &json!({}),
            "k",
        )
        .await;
        if sees {
            assert_eq!(revoke.status, 403, "{}: {}", caller.name, revoke.text);
        } else {
            assert_eq!(
                (revoke.status, &revoke.code),
                (absent.status, &absent.code),
                "{}: an unseen delegation answers as an absent one: {}",
                caller.name,
                revoke.text
            );
        }
    }
    let revoked = send(
        &w.s,
        &chief.token,
        "POST",
        &format!("/api/v1/delegations/{id}/revoke"),
        &json!({}),
        "k",
    )
    .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
}
