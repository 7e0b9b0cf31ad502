//! The verification SMS through a real gateway protocol (issue 17, item 1): the server
//! configured for Alibaba Cloud SMS sends to a local stand-in of `dysmsapi` that checks
//! every request as the provider does — the form's parameters, the RPC v1 signature
//! (recomputed here, independently of the server's code), the time, a nonce never
//! seen before, the approved signature name and template — and answers as the provider
//! does. The writer's code arrives in the template's `code`, and verifies; a fault that
//! says the message was not taken is tried again, one after which it may have been is
//! not; a refusal reaches the writer as "try later", never with the gateway's words.

mod support;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use hmac::{Hmac, Mac};
use jsjb_server::citizen::config::{SmsConfig, SmsProvider};
use serde_json::{Value, json};
use sha1::Sha1;

use support::TestServer;

const KEY_ID: &str = "LTAI5tTestKeyForJsjb";
const SECRET: &str = "Jsjb-Test-Secret-0123456789";
const SIGN_NAME: &str = "深圳公安局长信箱";
const LETTER_TEMPLATE: &str = "SMS_480010001";
const RATING_TEMPLATE: &str = "SMS_480010002";
const NOTICE_TEMPLATE: &str = "SMS_480010003";
/// A number the stand-in calls illegal, and one whose first try meets a fault.
const ILLEGAL: &str = "13800000999";
const FLAKY: &str = "13800000500";
/// A number whose try meets an internal error: the message may have been taken.
const AMBIGUOUS: &str = "13800000501";

#[derive(Default)]
struct Gateway {
    nonces: HashSet<String>,
    /// Every try, accepted or not: (phone, template, params).
    tries: Vec<(String, String, Value)>,
    /// What was taken for delivery.
    sent: Vec<(String, String, Value)>,
    faults: HashSet<String>,
}

type Shared = Arc<Mutex<Gateway>>;

/// The POP encoding, written here again rather than taken from the server.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn expected_signature(params: &BTreeMap<String, String>) -> String {
    let query: Vec<String> = params
        .iter()
        .filter(|(k, _)| k.as_str() != "Signature")
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    let to_sign = format!("POST&%2F&{}", encode(&query.join("&")));
    let mut mac = Hmac::<Sha1>::new_from_slice(format!("{SECRET}&").as_bytes()).expect("key");
    mac.update(to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn answer(status: StatusCode, code: &str) -> Response {
    (
        status,
        axum::Json(json!({"Code": code, "Message": format!("stand-in: {code}"), "RequestId": "F655A8D5-B967-440B-8683-DAD6FF8DE990"})),
    )
        .into_response()
}

async fn send_sms(
    State(gateway): State<Shared>,
    axum::Form(params): axum::Form<BTreeMap<String, String>>,
) -> Response {
    let get = |name: &str| params.get(name).cloned().unwrap_or_default();
    let fixed = [
        ("Action", "SendSms"),
        ("Format", "JSON"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("Version", "2017-05-25"),
    ];
    if fixed.iter().any(|(k, v)| get(k) != *v) {
        return answer(StatusCode::BAD_REQUEST, "MissingParameter");
    }
    if get("AccessKeyId") != KEY_ID {
        return answer(StatusCode::NOT_FOUND, "InvalidAccessKeyId.NotFound");
    }
    if get("Signature") != expected_signature(&params) {
        return answer(StatusCode::BAD_REQUEST, "SignatureDoesNotMatch");
    }
    let Ok(at) = chrono::NaiveDateTime::parse_from_str(&get("Timestamp"), "%Y-%m-%dT%H:%M:%SZ")
    else {
        return answer(StatusCode::BAD_REQUEST, "InvalidTimeStamp.Format");
    };
    if (chrono::Utc::now().naive_utc() - at).num_minutes().abs() > 15 {
        return answer(StatusCode::BAD_REQUEST, "InvalidTimeStamp.Expired");
    }
    let mut gateway = gateway.lock().expect("gateway");
    if !gateway.nonces.insert(get("SignatureNonce")) || get("SignatureNonce").len() < 16 {
        return answer(StatusCode::BAD_REQUEST, "SignatureNonceUsed");
    }
    let Ok(template_params) = serde_json::from_str::<Value>(&get("TemplateParam")) else {
        return answer(StatusCode::OK, "isv.INVALID_JSON_PARAM");
    };
    let (phone, template) = (get("PhoneNumbers"), get("TemplateCode"));
    gateway
        .tries
        .push((phone.clone(), template.clone(), template_params.clone()));
    if get("SignName") != SIGN_NAME {
        return answer(StatusCode::OK, "isv.SMS_SIGNATURE_ILLEGAL");
    }
    if ![LETTER_TEMPLATE, RATING_TEMPLATE, NOTICE_TEMPLATE].contains(&template.as_str()) {
        return answer(StatusCode::OK, "isv.SMS_TEMPLATE_ILLEGAL");
    }
    if phone == ILLEGAL {
        return answer(StatusCode::OK, "isv.MOBILE_NUMBER_ILLEGAL");
    }
    if phone == AMBIGUOUS {
        return answer(StatusCode::INTERNAL_SERVER_ERROR, "InternalError");
    }
    if phone == FLAKY && gateway.faults.insert(phone.clone()) {
        return (StatusCode::SERVICE_UNAVAILABLE, "upstream busy").into_response();
    }
    gateway.sent.push((phone, template, template_params));
    (
        StatusCode::OK,
        axum::Json(json!({"Code": "OK", "Message": "OK", "BizId": "900619746936498440^0", "RequestId": "F655A8D5-B967-440B-8683-DAD6FF8DE990"})),
    )
        .into_response()
}

async fn stand_in() -> (String, Shared) {
    let gateway = Shared::default();
    let app = axum::Router::new()
        .route("/", axum::routing::post(send_sms))
        .with_state(Arc::clone(&gateway));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, gateway)
}

fn gateway_config(endpoint: String) -> SmsConfig {
    SmsConfig {
        provider: SmsProvider::Aliyun,
        endpoint,
        access_key_id: Some(KEY_ID.into()),
        access_key_secret: Some(SECRET.into()),
        sign_name: Some(SIGN_NAME.into()),
        template_letter_code: Some(LETTER_TEMPLATE.into()),
        template_rating_code: Some(RATING_TEMPLATE.into()),
        template_notice: Some(NOTICE_TEMPLATE.into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verification_code_goes_through_the_gateway_signed_and_verifies() {
    let (endpoint, gateway) = stand_in().await;
    let s = TestServer::start_with(|c| c.citizen.sms = gateway_config(endpoint)).await;
    assert!(!s.state.citizen.sms().simulated(), "codes reach phones");

    let phone = "13812345678";
    let res = s
        .post_json(
            "/api/v1/public/verification",
            None,
            &json!({"phone": phone, "consent": true}),
        )
        .await;
    assert_eq!(res.status(), 202, "{:?}", res.text().await);
    let (to, template, params) = gateway.lock().expect("gateway").sent[0].clone();
    assert_eq!((to.as_str(), template.as_str()), (phone, LETTER_TEMPLATE));
    let code = params["code"]
        .as_str()
        .expect("the template's code")
        .to_owned();
    assert_eq!(code.len(), 6);
    let res = s
        .post_json(
            "/api/v1/public/verification/code",
            None,
            &json!({"phone": phone, "code": code}),
        )
        .await;
    assert_eq!(res.status(), 200, "the code the gateway carried verifies");

    // A fault at the gateway is tried again, with a fresh nonce (else it is refused).
    let res = s
        .post_json(
            "/api/v1/public/verification",
            None,
            &json!({"phone": FLAKY, "consent": true}),
        )
        .await;
    assert_eq!(res.status(), 202, "{:?}", res.text().await);
    {
        let gateway = gateway.lock().expect("gateway");
        assert_eq!(gateway.tries.iter().filter(|t| t.0 == FLAKY).count(), 2);
        assert_eq!(gateway.sent.iter().filter(|t| t.0 == FLAKY).count(), 1);
    }

    // An error after which the message may have been taken is not tried again: the
    // writer would get two codes.
    let res = s
        .post_json(
            "/api/v1/public/verification",
            None,
            &json!({"phone": AMBIGUOUS, "consent": true}),
        )
        .await;
    assert_eq!(res.status(), 503);
    assert_eq!(
        gateway
            .lock()
            .expect("gateway")
            .tries
            .iter()
            .filter(|t| t.0 == AMBIGUOUS)
            .count(),
        1
    );

    // A refusal is final (one try) and reaches the writer as "busy, try later", without
    // the gateway's words or the number.
    let res = s
        .post_json(
            "/api/v1/public/verification",
            None,
            &json!({"phone": ILLEGAL, "consent": true}),
        )
        .await;
    assert_eq!(res.status(), 503);
    let body = res.text().await.expect("body");
    assert!(
        !body.contains("MOBILE") && !body.contains(ILLEGAL),
        "{body}"
    );
    let gateway = gateway.lock().expect("gateway");
    assert_eq!(gateway.tries.iter().filter(|t| t.0 == ILLEGAL).count(), 1);
    assert!(gateway.sent.iter().all(|t| t.0 != ILLEGAL));
}

#[tokio::test]
async fn a_gateway_without_its_settings_stops_the_server_before_it_serves() {
    let mut config = jsjb_server::Config::new("x.sqlite3".into(), "blobs".into());
    config.citizen.sms.provider = SmsProvider::Aliyun;
    config.citizen.sms.access_key_id = Some(KEY_ID.into());
    let err = config.validate().expect_err("incomplete settings");
    assert!(
        err.to_string().contains("JSJB_SMS_ACCESS_KEY_SECRET"),
        "{err}"
    );
}

/// A desk types in a letter from `phone` (a phone letter); its tracking code and id.
async fn phone_letter(s: &TestServer, phone: &str) -> (String, i64) {
    let admin = s.admin_token().await;
    let mut letter = support::letter_json();
    letter["writer_phone"] = json!(phone);
    let res = s
        .client
        .post(s.url("/api/v1/letters"))
        .bearer_auth(&admin)
        .header("idempotency-key", format!("notice-{phone}"))
        .json(&letter)
        .send()
        .await
        .expect("intake");
    assert_eq!(res.status(), 201, "{:?}", res.text().await);
    let receipt: Value = res.json().await.expect("json");
    (
        receipt["tracking_code"].as_str().expect("code").to_owned(),
        receipt["id"].as_i64().expect("id"),
    )
}

/// The writer is told of the receipt through the gateway's notification template, and
/// the desk sees it in the letter (issue 17, item 2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_receipt_reaches_the_writer_through_the_gateway_and_the_desk_sees_it() {
    let (endpoint, gateway) = stand_in().await;
    let s = TestServer::start_with(|c| {
        c.citizen.sms = gateway_config(endpoint);
        c.citizen.portal_url = Some("https://xinxiang.example".into());
    })
    .await;
    let phone = "13912340001";
    let (code, _) = phone_letter(&s, phone).await;
    jsjb_server::writer_notices::run_once(&s.state)
        .await
        .expect("a round");
    let sent: Vec<(String, String, Value)> = gateway
        .lock()
        .expect("gateway")
        .sent
        .iter()
        .filter(|t| t.0 == phone)
        .cloned()
        .collect();
    assert_eq!(sent.len(), 1, "one receipt, however many rounds: {sent:?}");
    let (_, template, params) = &sent[0];
    assert_eq!(template, NOTICE_TEMPLATE);
    assert_eq!(params["code"], code.as_str());
    let content = params["content"].as_str().expect("content");
    assert!(
        content.contains(&code) && content.contains("30分钟"),
        "{content}"
    );
    // Another round sends nothing again.
    jsjb_server::writer_notices::run_once(&s.state)
        .await
        .expect("a round");
    assert_eq!(
        gateway
            .lock()
            .expect("gateway")
            .sent
            .iter()
            .filter(|t| t.0 == phone)
            .count(),
        1
    );
    let letter = s.desk_letter(&code).await;
    let notices = letter["writer_notices"].as_array().expect("notices");
    assert_eq!(notices.len(), 1, "{letter}");
    assert_eq!(notices[0]["step"], "receipt");
    assert_eq!(notices[0]["route"], "sms");
    assert_eq!(notices[0]["state"], "sent");
    assert_eq!(notices[0]["attempts"], 1);
    assert_eq!(letter["version"], 1, "a notice moves no version");
}

/// A notice the gateway refuses is tried again after growing pauses, then shown failed
/// to the desk with the gateway's code (never the number).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notice_the_gateway_refuses_is_retried_then_shown_failed() {
    let (endpoint, gateway) = stand_in().await;
    let s = TestServer::start_with(|c| c.citizen.sms = gateway_config(endpoint)).await;
    let (code, _) = phone_letter(&s, ILLEGAL).await;
    let tries = || {
        gateway
            .lock()
            .expect("gateway")
            .tries
            .iter()
            .filter(|t| t.0 == ILLEGAL && t.1 == NOTICE_TEMPLATE)
            .count()
    };
    jsjb_server::writer_notices::run_once(&s.state)
        .await
        .expect("round");
    assert_eq!(tries(), 1);
    // Not before its pause, then once per pause.
    jsjb_server::writer_notices::run_once(&s.state)
        .await
        .expect("round");
    assert_eq!(tries(), 1, "not again before the pause");
    let letter = s.desk_letter(&code).await;
    assert_eq!(letter["writer_notices"][0]["state"], "pending");
    assert!(
        letter["writer_notices"][0]["last_error"]
            .as_str()
            .expect("error")
            .contains("isv.MOBILE_NUMBER_ILLEGAL")
    );
    for (i, minutes) in jsjb_server::writer_notices::BACKOFF_MINUTES
        .iter()
        .enumerate()
    {
        s.advance(chrono::Duration::minutes(*minutes));
        jsjb_server::writer_notices::run_once(&s.state)
            .await
            .expect("round");
        assert_eq!(tries(), i + 2);
    }
    let letter = s.desk_letter(&code).await;
    let notice = &letter["writer_notices"][0];
    assert_eq!(notice["state"], "failed", "{letter}");
    assert_eq!(
        notice["attempts"],
        jsjb_server::writer_notices::BACKOFF_MINUTES.len() + 1
    );
    let error = notice["last_error"].as_str().expect("error");
    assert!(!error.contains(ILLEGAL), "{error}");
    s.advance(chrono::Duration::days(1));
    jsjb_server::writer_notices::run_once(&s.state)
        .await
        .expect("round");
    assert_eq!(
        tries(),
        jsjb_server::writer_notices::BACKOFF_MINUTES.len() + 1,
        "given up"
    );
}

/// A step older than two days is no news: a node that starts late (or a platform that
/// switches notices on) does not tell writers about it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_older_than_two_days_is_not_told() {
    let (endpoint, gateway) = stand_in().await;
    let s = TestServer::start_with(|c| c.citizen.sms = gateway_config(endpoint)).await;
    let phone = "13912340002";
    let (code, _) = phone_letter(&s, phone).await;
    s.advance(jsjb_server::writer_notices::MAX_AGE + chrono::Duration::minutes(1));
    jsjb_server::writer_notices::run_once(&s.state)
        .await
        .expect("round");
    assert!(
        gateway
            .lock()
            .expect("gateway")
            .sent
            .iter()
            .all(|t| t.0 != phone)
    );
    let letter = s.desk_letter(&code).await;
    assert_eq!(letter["writer_notices"].as_array().map(Vec::len), Some(0));
}

/// On a platform upgraded to the notices, a letter received before the queue began is
/// not told its old receipt when it changes again (a dispatch): only what comes after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_before_the_queue_began_is_not_told_when_its_letter_changes_again() {
    let (endpoint, gateway) = stand_in().await;
    let s = TestServer::start_with(|c| c.citizen.sms = gateway_config(endpoint)).await;
    let old_phone = "13912340003";
    let (old_code, old_id) = phone_letter(&s, old_phone).await;
    // As migration 17 leaves an upgraded platform: fed up to its newest change, begun at
    // that change's time.
    s.raw_db()
        .execute_batch(
            "UPDATE writer_notice_feed SET cursor = (SELECT MAX(seq) FROM changes),
                    since = (SELECT at FROM changes ORDER BY seq DESC LIMIT 1)",
        )
        .expect("upgrade");
    s.advance(chrono::Duration::minutes(5));
    let admin = s.admin_token().await;
    let branch = s.unit(&admin, s.city, "branch", "福田分局").await;
    let res = s
        .client
        .post(s.url(&format!("/api/v1/letters/{old_id}/actions")))
        .bearer_auth(&admin)
        .header("idempotency-key", "dispatch-old")
        .json(&json!({"expected_version": 1, "action": {"action": "dispatch", "to": branch}}))
        .send()
        .await
        .expect("dispatch");
    assert_eq!(res.status(), 200, "{:?}", res.text().await);
    let new_phone = "13912340004";
    let (new_code, _) = phone_letter(&s, new_phone).await;
    jsjb_server::writer_notices::run_once(&s.state)
        .await
        .expect("round");
    let sent: Vec<String> = gateway
        .lock()
        .expect("gateway")
        .sent
        .iter()
        .map(|t| t.0.clone())
        .collect();
    assert!(
        !sent.contains(&old_phone.to_owned()),
        "the old receipt is not told: {sent:?}"
    );
    assert!(
        sent.contains(&new_phone.to_owned()),
        "a letter after the upgrade is"
    );
    let old = s.desk_letter(&old_code).await;
    assert_eq!(
        old["writer_notices"].as_array().map(Vec::len),
        Some(0),
        "{old}"
    );
    assert_eq!(
        s.desk_letter(&new_code).await["writer_notices"][0]["state"],
        "sent"
    );
}
