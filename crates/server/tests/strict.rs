//! Strict input over real HTTP: every request body refuses unknown fields, arrays in
//! place of objects and control characters in any text, naming the field; the OpenAPI
//! document declares problem details on every operation; and a property test throws
//! arbitrary and near-valid-but-wrong bodies at every JSON POST route of the document.

mod support;

use std::collections::BTreeMap;

use chrono::{Duration, Utc};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use serde_json::{Value, json};
use support::*;

/// A fresh Idempotency-Key (the routes that need one refuse a request without it).
fn key() -> String {
    format!("strict-{:032x}", rand_u128())
}

fn rand_u128() -> u128 {
    use std::hash::{BuildHasher, RandomState};
    let a = RandomState::new().hash_one(std::time::SystemTime::now());
    let b = RandomState::new().hash_one(a);
    (u128::from(a) << 64) | u128::from(b)
}

/// A city with a branch, a letter at the city desk, and the ids the samples need.
struct Fixture {
    s: TestServer,
    admin: String,
    branch: i64,
    officer_id: i64,
    letter: i64,
}

async fn fixture() -> Fixture {
    let s = TestServer::start().await;
    let admin = s.admin_token().await;
    let branch = s.unit(&admin, s.city, "branch", "福田分局").await;
    let officer_id = s.user(&admin, branch, "f.officer", &["officer"]).await;
    let res = s.post_public_letter(&letter_json(), vec![]).await;
    assert_eq!(res.status(), 201);
    let page: Value = s
        .get("/api/v1/sync?cursor=0&limit=500", Some(&admin))
        .await
        .json()
        .await
        .expect("sync");
    let letter = page["changes"]
        .as_array()
        .and_then(|c| c.last())
        .and_then(|c| c["letter"]["id"].as_i64())
        .expect("the letter reaches the city desk");
    Fixture {
        s,
        admin,
        branch,
        officer_id,
        letter,
    }
}

impl Fixture {
    /// A body every part of which the route understands (it may still be refused for
    /// what it asks, e.g. a key that is not SM2): the base of the near-valid garbage.
    fn samples(&self) -> BTreeMap<&'static str, Value> {
        let now = Utc::now();
        BTreeMap::from([
            (
                "/api/v1/auth/login",
                json!({"username": "admin", "password": ADMIN_PASSWORD, "workstation": "desk-1"}),
            ),
            (
                "/api/v1/admin/units",
                json!({"parent_id": self.s.city, "tier": "branch", "name": "南山分局"}),
            ),
            (
                "/api/v1/admin/users",
                json!({"unit_id": self.branch, "username": "n.officer", "display_name": "倪警官", "roles": ["officer"], "password": "a-long-password-1"}),
            ),
            (
                "/api/v1/admin/users/{id}/password",
                json!({"password": "another-password-1"}),
            ),
            ("/api/v1/letters", letter_json()),
            (
                "/api/v1/letters/{id}/actions",
                json!({"expected_version": 1, "action": {"action": "dispatch", "to": self.branch, "note": "请处理"}}),
            ),
            (
                "/api/v1/handovers",
                json!({"unit_id": self.s.city, "shift": "夜班", "acknowledged_at": now, "note": "无",
                       "counts": {"not_contacted": 0, "about_to_breach": 1, "promised_callback": 0}, "letter_ids": [self.letter]}),
            ),
            (
                "/api/v1/keys",
                json!({"public_key_pem": "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n", "label": "desk-1"}),
            ),
            ("/api/v1/keys/{id}/revoke", json!({"reason": "lost"})),
            (
                "/api/v1/keys/{id}/endorse",
                json!({"previous_key_id": 1, "signature_der_b64": "MEUCIQ=="}),
            ),
            ("/api/v1/me/notices/ack", json!({"up_to": 1})),
            (
                "/api/v1/admin/units/{id}/name",
                json!({"name": "福田分局（新）", "reason": "更名"}),
            ),
            (
                "/api/v1/admin/routing",
                json!({"rules": {"rules": []}, "expected_version": 0, "reason": "清空"}),
            ),
            (
                "/api/v1/admin/routing/test",
                json!({"rules": {"rules": []}, "category": "help", "subject": "x", "body": "y"}),
            ),
            (
                "/api/v1/admin/users/{id}/sessions/revoke",
                json!({"reason": "强制下线"}),
            ),
            (
                "/api/v1/admin/units/{id}/active",
                json!({"active": false, "reason": "撤并"}),
            ),
            (
                "/api/v1/admin/units/{id}/parent",
                json!({"parent_id": 1, "reason": "调整"}),
            ),
            (
                "/api/v1/admin/users/{id}",
                json!({"display_name": "新名", "reason": "更正"}),
            ),
            (
                "/api/v1/admin/users/{id}/active",
                json!({"active": false, "reason": "调离"}),
            ),
            (
                "/api/v1/me/password",
                json!({"current_password": "wrong-password-1", "new_password": "a-new-password-2"}),
            ),
            (
                "/api/v1/public/verification",
                json!({"phone": "13812345678", "consent": true}),
            ),
            (
                "/api/v1/public/verification/code",
                json!({"phone": "13812345678", "code": "123456"}),
            ),
            (
                "/api/v1/delegations",
                json!({"deputy": self.officer_id, "valid_from": now, "valid_until": now + Duration::days(1), "category": null, "note": "出差"}),
            ),
        ])
    }

    fn url(&self, template: &str) -> String {
        let id = if template.contains("/letters/") {
            self.letter
        } else if template.contains("/users/") {
            self.officer_id
        } else {
            1
        };
        self.s.url(&template.replace("{id}", &id.to_string()))
    }

    /// POSTs `body` as JSON with the admin's session and a fresh idempotency key.
    async fn post(&self, template: &str, body: &Value) -> (u16, String, Value) {
        let res = self
            .s
            .client
            .post(self.url(template))
            .bearer_auth(&self.admin)
            .header("Idempotency-Key", key())
            .json(body)
            .send()
            .await
            .expect("request");
        let status = res.status().as_u16();
        let ct = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = res.json().await.unwrap_or(Value::Null);
        (status, ct, body)
    }

    /// The request must be refused as `invalid_input` naming `field`.
    async fn refused(&self, template: &str, body: &Value, field: &str) {
        let (status, ct, problem) = self.post(template, body).await;
        assert_eq!(status, 400, "{template} {body}: {problem}");
        assert_eq!(ct, "application/problem+json");
        assert_eq!(problem["code"], "invalid_input", "{problem}");
        assert_eq!(problem["field"], field, "{template} {body}: {problem}");
    }
}

fn with(mut body: Value, pointer: &str, value: Value) -> Value {
    let (parent, name) = pointer.rsplit_once('/').expect("a pointer");
    let target = if parent.is_empty() {
        &mut body
    } else {
        body.pointer_mut(parent).expect("parent exists")
    };
    target
        .as_object_mut()
        .expect("an object")
        .insert(name.to_owned(), value);
    body
}

#[tokio::test]
async fn a_json_array_is_not_a_login() {
    let f = fixture().await;
    // serde reads a struct from an array of its fields in order: this was a session.
    let res =
        f.s.post_json(
            "/api/v1/auth/login",
            None,
            &json!(["admin", ADMIN_PASSWORD, null]),
        )
        .await;
    let answer = problem(res, 400, "invalid_input").await;
    assert!(answer.get("token").is_none());
    let res =
        f.s.post_json(
            "/api/v1/auth/login",
            None,
            &json!(["admin", ADMIN_PASSWORD]),
        )
        .await;
    problem(res, 400, "invalid_input").await;
    // Nested too: the counts of a handover, and an action.
    let counts = with(
        f.samples()["/api/v1/handovers"].clone(),
        "/counts",
        json!([0, 1, 0]),
    );
    f.refused("/api/v1/handovers", &counts, "/counts").await;
    let action = json!({"expected_version": 1, "action": ["dispatch", f.branch, "请处理"]});
    f.refused("/api/v1/letters/{id}/actions", &action, "/action")
        .await;
    let action = json!({"expected_version": 1, "action": ["sign_for"]});
    f.refused("/api/v1/letters/{id}/actions", &action, "/action")
        .await;
}

#[tokio::test]
async fn unknown_fields_are_refused_on_every_request_body() {
    let f = fixture().await;
    for (template, sample) in f.samples() {
        let body = with(sample, "/zz_extra", json!(1));
        f.refused(template, &body, "/zz_extra").await;
    }
    // Nested objects: the handover's counts, and both kinds of action — a variant with
    // fields, and a unit variant (which serde's `deny_unknown_fields` alone lets through).
    let samples = f.samples();
    let counts = with(
        samples["/api/v1/handovers"].clone(),
        "/counts/zz_extra",
        json!(2),
    );
    f.refused("/api/v1/handovers", &counts, "/counts/zz_extra")
        .await;
    let dispatch = with(
        samples["/api/v1/letters/{id}/actions"].clone(),
        "/action/priority",
        json!("high"),
    );
    f.refused(
        "/api/v1/letters/{id}/actions",
        &dispatch,
        "/action/priority",
    )
    .await;
    let sign_for = json!({"expected_version": 1, "action": {"action": "sign_for", "to": f.branch}});
    f.refused("/api/v1/letters/{id}/actions", &sign_for, "/action/to")
        .await;
    // The multipart intake's `letter` part is a request body too.
    let mut letter = with(letter_json(), "/zz_extra", json!(true));
    // The public part carries no phone: the ticket does.
    letter
        .as_object_mut()
        .expect("object")
        .remove("writer_phone");
    let ticket = f.s.public_ticket("13812345678").await;
    let res =
        f.s.client
            .post(f.s.url("/api/v1/public/letters"))
            .header("x-jsjb-ticket", ticket)
            .multipart(intake_form(&letter, vec![]))
            .send()
            .await
            .expect("intake");
    let answer = problem(res, 400, "invalid_input").await;
    assert_eq!(answer["field"], "letter/zz_extra");
    // Nothing of all that was stored: the one letter of the fixture is still alone.
    let page: Value =
        f.s.get("/api/v1/sync?cursor=0&limit=500", Some(&f.admin))
            .await
            .json()
            .await
            .expect("sync");
    assert_eq!(page["changes"].as_array().map(Vec::len), Some(1), "{page}");
}

#[tokio::test]
async fn control_characters_are_refused_in_every_text_with_the_field_named() {
    let f = fixture().await;
    let samples = f.samples();
    // A NUL in a user name was a wrong password (401): now the input itself is refused.
    let login = json!({"username": "ad\u{0}min", "password": ADMIN_PASSWORD});
    f.refused("/api/v1/auth/login", &login, "/username").await;
    let letter = &samples["/api/v1/letters"];
    for (pointer, text) in [
        ("/subject", "噪音\u{1b}[2J"),
        ("/body", "第一行\r第二行"),
        ("/body", "结尾\u{7f}"),
        ("/writer_name", "张\u{85}三"),
        ("/problem_tags", "unused"),
    ] {
        let (body, field) = if pointer == "/problem_tags" {
            (
                with(letter.clone(), pointer, json!(["噪音", "扰\u{0}民"])),
                "/problem_tags/1",
            )
        } else {
            (with(letter.clone(), pointer, json!(text)), pointer)
        };
        f.refused("/api/v1/letters", &body, field).await;
    }
    // An object key is text too (the pointer escapes `/` as `~1`).
    let contact = with(
        letter.clone(),
        "/writer_contact",
        json!({"we/chat\u{1}": "zhang"}),
    );
    f.refused("/api/v1/letters", &contact, "/writer_contact/we~1chat\u{1}")
        .await;
    let action = with(
        samples["/api/v1/letters/{id}/actions"].clone(),
        "/action/note",
        json!("请\u{8}处理"),
    );
    f.refused("/api/v1/letters/{id}/actions", &action, "/action/note")
        .await;
    // Newline, tab and CRLF are text: a multi-line letter from a desk is accepted.
    let body = with(letter.clone(), "/body", json!("第一行\n\t第二行\r\n第三行"));
    let (status, _, receipt) = f.post("/api/v1/letters", &body).await;
    assert_eq!(status, 201, "{receipt}");

    // The query string too, named by parameter.
    let res =
        f.s.get("/api/v1/public/progress?code=JS%00X&phone_last4=5678", None)
            .await;
    let answer = problem(res, 400, "invalid_input").await;
    assert_eq!(answer["field"], "code");
}

#[tokio::test]
async fn sync_cursors_the_document_forbids_are_refused() {
    let f = fixture().await;
    for query in [
        "cursor=",
        "cursor=null",
        "cursor=-1",
        "cursor=1.5",
        "limit=",
        "limit=0",
        "limit=501",
    ] {
        let res =
            f.s.get(&format!("/api/v1/sync?{query}"), Some(&f.admin))
                .await;
        problem(res, 400, "invalid_input").await;
    }
    let res =
        f.s.get("/api/v1/sync/stream?cursor=-1", Some(&f.admin))
            .await;
    problem(res, 400, "invalid_input").await;
    let res = f.s.get("/api/v1/handovers?limit=201", Some(&f.admin)).await;
    problem(res, 400, "invalid_input").await;
    assert_eq!(f.s.get("/api/v1/sync", Some(&f.admin)).await.status(), 200);

    // …as the document says: optional query parameters, integers (never null), ≥ 0.
    let doc = jsjb_server::openapi();
    let params = doc["paths"]["/api/v1/sync"]["get"]["parameters"]
        .as_array()
        .expect("parameters");
    let param = |name: &str| {
        params
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{name} documented"))
    };
    for name in ["cursor", "limit"] {
        assert_eq!(param(name)["in"], "query");
        assert_eq!(param(name)["required"], false);
        assert_eq!(param(name)["schema"]["type"], "integer", "{name}");
    }
    assert_eq!(param("cursor")["schema"]["minimum"], 0);
    assert_eq!(param("limit")["schema"]["minimum"], 1);
    assert_eq!(param("limit")["schema"]["maximum"], 500);
}

#[tokio::test]
async fn report_periods_and_formats_the_document_forbids_are_refused() {
    let f = fixture().await;
    for query in [
        "from=2026-03-01T00:00:00Z&to=2026-03-01T00:00:00Z",
        "from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z",
        "from=2016-01-01T00:00:00Z&to=2027-01-01T00:00:00Z",
        "from=yesterday&to=2026-03-01T00:00:00Z",
        "to=2026-03-01T00:00:00Z",
        "from=2026-03-01T00:00:00Z&to=2026-04-01T00:00:00Z&unit=",
        "from=2026-03-01T00:00:00Z&to=2026-04-01T00:00:00Z&colour=red",
    ] {
        let res =
            f.s.get(&format!("/api/v1/reports?{query}"), Some(&f.admin))
                .await;
        problem(res, 400, "invalid_input").await;
    }
    let res =
        f.s.get(
            "/api/v1/reports/export?from=2026-03-01T00:00:00Z&to=2026-04-01T00:00:00Z&format=pdf",
            Some(&f.admin),
        )
        .await;
    problem(res, 400, "invalid_input").await;

    // …as the document says.
    let doc = jsjb_server::openapi();
    let params = doc["paths"]["/api/v1/reports"]["get"]["parameters"]
        .as_array()
        .expect("parameters");
    let param = |name: &str| {
        params
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{name}"))
    };
    assert_eq!(param("from")["required"], true);
    assert_eq!(param("to")["required"], true);
    assert_eq!(param("unit")["required"], false);
    let export = doc["paths"]["/api/v1/reports/export"]["get"]["parameters"]
        .as_array()
        .expect("parameters");
    let format = export
        .iter()
        .find(|p| p["name"] == "format")
        .expect("format");
    assert_eq!(format["required"], true);
    assert_eq!(format["schema"]["enum"], json!(["csv", "xlsx"]));
}

#[test]
fn every_operation_declares_problem_details_for_its_errors() {
    let doc = jsjb_server::openapi();
    let paths = doc["paths"].as_object().expect("paths");
    let mut operations = 0;
    for (path, item) in paths {
        for (method, op) in item.as_object().expect("path item") {
            operations += 1;
            let responses = op["responses"].as_object().expect("responses");
            let declared = |status: &str| responses.contains_key(status);
            for (status, response) in responses {
                if status.as_str() >= "400" {
                    let content = response["content"].as_object().expect("content");
                    assert_eq!(
                        content.keys().collect::<Vec<_>>(),
                        ["application/problem+json"],
                        "{method} {path} {status}"
                    );
                    assert_eq!(
                        content["application/problem+json"]["schema"]["$ref"],
                        "#/components/schemas/Problem"
                    );
                }
            }
            assert!(declared("500"), "{method} {path}");
            if op.get("requestBody").is_some() {
                for status in ["400", "413", "415"] {
                    assert!(declared(status), "{method} {path} {status}");
                }
            }
            let public = op["tags"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t == "public"))
                || path == "/api/v1/auth/login";
            if !public {
                assert_eq!(op["security"], json!([{"bearer": []}]), "{method} {path}");
                for status in ["401", "403"] {
                    assert!(declared(status), "{method} {path} {status}");
                }
            }
            if path.contains('{') {
                assert!(declared("404"), "{method} {path}");
            }
        }
    }
    assert!(operations > 30, "{operations} operations");
    // Every free-text string of a request carries the control-character pattern.
    let schemas = &doc["components"]["schemas"];
    let pattern = jsjb_server::contract::TEXT_PATTERN;
    assert_eq!(
        schemas["LoginRequest"]["properties"]["username"]["pattern"],
        pattern
    );
    assert_eq!(
        schemas["LetterInput"]["properties"]["body"]["pattern"],
        pattern
    );
    assert_eq!(
        schemas["LetterInput"]["properties"]["problem_tags"]["items"]["pattern"],
        pattern
    );
    assert_eq!(schemas["LoginRequest"]["additionalProperties"], false);
    assert_eq!(schemas["HandoverCounts"]["additionalProperties"], false);
}

// --- the property test ----------------------------------------------------------------

/// Any JSON: scalars (strings of any characters, control ones included), arrays and
/// objects, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (-1e12_f64..1e12).prop_map(|f| json!(f)),
        any::<String>().prop_map(Value::String),
        "[a-z0-9 ]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// The characters `extract` refuses; CR stands alone (before a letter, not LF).
fn refused_control() -> impl Strategy<Value = String> {
    let chars: Vec<char> = (0_u32..=0x1f)
        .chain(0x7f..=0x9f)
        .filter(|c| ![0x09, 0x0a].contains(c))
        .filter_map(char::from_u32)
        .collect();
    prop::sample::select(chars).prop_map(|c| format!("{c}x"))
}

#[derive(Debug, Clone)]
enum Mutation {
    /// The whole body replaced by any JSON at all.
    Any(Value),
    /// A member the route does not know, in the body or a nested object.
    UnknownField(Index, String, Value),
    /// A control character put into a string (or used in a key).
    Control(Index, Index, String),
    /// A value of the wrong type in place of one of the sample's.
    WrongType(Index, Index),
    /// The body's values as an array, the shape serde would read as the struct.
    AsArray,
    /// A long (but body-limit sized) ordinary string in place of one of the sample's.
    Long(Index, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any_json().prop_map(Mutation::Any),
        (any::<Index>(), "[a-z]{1,8}", any_json()).prop_map(|(i, k, v)| Mutation::UnknownField(
            i,
            format!("zz_{k}"),
            v
        )),
        (any::<Index>(), any::<Index>(), refused_control())
            .prop_map(|(i, at, c)| Mutation::Control(i, at, c)),
        (any::<Index>(), any::<Index>()).prop_map(|(i, t)| Mutation::WrongType(i, t)),
        Just(Mutation::AsArray),
        (any::<Index>(), 1_000_usize..60_000).prop_map(|(i, n)| Mutation::Long(i, n)),
    ]
}

/// JSON pointers of the objects and of the non-null scalars in `value`.
fn nodes(value: &Value, at: &str, objects: &mut Vec<String>, leaves: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            objects.push(at.to_owned());
            for (k, v) in map {
                nodes(v, &format!("{at}/{k}"), objects, leaves);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                nodes(v, &format!("{at}/{i}"), objects, leaves);
            }
        }
        Value::Null => {}
        _ => leaves.push(at.to_owned()),
    }
}

fn at<'a>(body: &'a mut Value, pointer: &str) -> &'a mut Value {
    body.pointer_mut(pointer).expect("a node of the sample")
}

/// The mutated body, and whether it is garbage (must never be accepted).
fn apply(sample: &Value, mutation: &Mutation) -> (Value, bool) {
    let mut body = sample.clone();
    let (mut objects, mut leaves) = (Vec::new(), Vec::new());
    nodes(sample, "", &mut objects, &mut leaves);
    match mutation {
        // Any JSON: an object of random members could by chance be a body a route
        // takes (e.g. `{}` where every field has a default); anything else cannot.
        Mutation::Any(value) => (value.clone(), !value.is_object()),
        Mutation::UnknownField(i, name, value) => {
            let object = at(&mut body, &objects[i.index(objects.len())]);
            if let Some(map) = object.as_object_mut() {
                map.insert(name.clone(), value.clone());
            }
            (body, true)
        }
        Mutation::Control(i, pos, control) => {
            if leaves.is_empty() {
                return (body, false);
            }
            let leaf = at(&mut body, &leaves[i.index(leaves.len())]);
            let text = match &*leaf {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let chars: Vec<char> = text.chars().collect();
            let cut = pos.index(chars.len() + 1);
            let mut out: String = chars[..cut].iter().collect();
            out.push_str(control);
            out.extend(&chars[cut..]);
            *leaf = Value::String(out);
            (body, true)
        }
        Mutation::WrongType(i, t) => {
            let leaf = at(&mut body, &leaves[i.index(leaves.len())]);
            let options: Vec<Value> = [
                json!(7),
                json!("7"),
                json!(true),
                json!([1]),
                json!({"a": 1}),
            ]
            .into_iter()
            .filter(|v| std::mem::discriminant(v) != std::mem::discriminant(&*leaf))
            .collect();
            *leaf = options[t.index(options.len())].clone();
            (body, true)
        }
        Mutation::AsArray => {
            let values: Vec<Value> = sample
                .as_object()
                .map(|m| m.values().cloned().collect())
                .unwrap_or_default();
            (Value::Array(values), true)
        }
        Mutation::Long(i, n) => {
            let text_leaves: Vec<&String> = leaves
                .iter()
                .filter(|p| sample.pointer(p).is_some_and(Value::is_string))
                .collect();
            if !text_leaves.is_empty() {
                let pointer = text_leaves[i.index(text_leaves.len())].clone();
                *at(&mut body, &pointer) = json!("长".repeat(n / 3));
            }
            (body, false)
        }
    }
}

#[test]
fn arbitrary_bodies_to_every_json_post_route_find_no_5xx_and_no_accepted_garbage() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let f = rt.block_on(fixture());
    let samples = f.samples();

    // Every POST of the document that takes JSON has a sample here, so a new route is
    // covered the day it is added (or this fails and says which).
    let doc = jsjb_server::openapi();
    let mut routes = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        if item["post"]["requestBody"]["content"]["application/json"].is_object() {
            assert!(
                samples.contains_key(path.as_str()),
                "no sample body for POST {path}"
            );
            routes.push(path.clone());
        }
    }
    assert_eq!(routes.len(), samples.len(), "{routes:?}");

    let mut runner = TestRunner::new(ProptestConfig {
        cases: 384,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let strategy = (any::<Index>(), mutation());
    let result = runner.run(&strategy, |(route, mutation)| {
        let template = routes[route.index(routes.len())].as_str();
        let (body, garbage) = apply(&samples[template], &mutation);
        let (status, ct, answer) = rt.block_on(f.post(template, &body));
        prop_assert!(
            status < 500,
            "{status} for POST {template} {body}: {answer}"
        );
        if !(200..300).contains(&status) {
            prop_assert_eq!(
                &ct,
                "application/problem+json",
                "POST {} {}",
                template,
                body
            );
        }
        if garbage {
            prop_assert!(
                (400..500).contains(&status),
                "garbage accepted ({status}) by POST {template}: {body} → {answer}"
            );
        }
        Ok::<(), TestCaseError>(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// The Weibo relay's signature (HMAC-SHA256 over `"<timestamp>.<body>"`).
async fn weibo(s: &TestServer, sender: &str, id: &str, text: &str) -> Value {
    use hmac::{Hmac, Mac};
    let body =
        json!({"message_id": id, "sender_id": sender, "type": "text", "text": text}).to_string();
    let ts = s.state.time.now().timestamp().to_string();
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(b"weibo-secret").expect("key");
    mac.update(format!("{ts}.{body}").as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let res = s
        .client
        .post(s.url("/weibo/webhook"))
        .header("content-type", "application/json")
        .header("x-jsjb-timestamp", &ts)
        .header("x-jsjb-signature", format!("sha256={hex}"))
        .body(body)
        .send()
        .await
        .expect("webhook");
    assert!(res.status().as_u16() < 500);
    res.json().await.unwrap_or(Value::Null)
}

#[tokio::test]
async fn a_letter_that_comes_in_as_a_platform_message_is_held_to_the_same_text_rule() {
    let s = TestServer::start_with(|c| c.citizen.weibo_secret = Some("weibo-secret".into())).await;
    let admin = s.admin_token().await;
    let letters = || async {
        let page: Value = s
            .get("/api/v1/sync?cursor=0&limit=500", Some(&admin))
            .await
            .json()
            .await
            .expect("sync");
        page["changes"].as_array().map_or(0, Vec::len)
    };
    // The same conversation with and without an ESC in the text: only the clean one is
    // a letter (the portal's forms reach the same check through `intake`).
    for (sender, text, stored) in [
        ("5512345678", "建议在科技园增设\u{1b}[2J夜间巡逻。", 0),
        ("5587654321", "建议在科技园增设夜间巡逻。", 1),
    ] {
        weibo(&s, sender, &format!("{sender}-1"), text).await;
        weibo(&s, sender, &format!("{sender}-2"), "13712345678").await;
        let reply = weibo(&s, sender, &format!("{sender}-3"), "提交").await;
        assert_eq!(letters().await, stored, "{text:?}: {reply}");
    }
}
