//! The citizen side across server nodes (issue 16): two server processes on one
//! PostgreSQL, a writer whose requests land on either. The code one node sent is checked
//! by the other, each wrong guess counts wherever it is made, the ticket one node issued
//! is honoured by the other and used by exactly one letter when sent to both at once,
//! and the per-phone SMS limit is one limit.
//!
//! Needs `JSJB_TEST_POSTGRES` (a server whose user may create databases), which
//! `cargo xtask test` sets.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod pg_support;

use pg_support::{Database, Running, free_port, login, server, synced, wait_healthy};

const PHONE: &str = "13812345678";
const OTHER_PHONE: &str = "13987654321";

/// A node's log lines, read from its stderr as they come.
fn collect_log(child: &mut std::process::Child) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let stderr = child.stderr.take().expect("piped stderr");
    let sink = Arc::clone(&lines);
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().expect("log lock").push(line);
        }
    });
    lines
}

/// The code in the `nth` SMS (1-based) a node logged.
async fn nth_code(log: &Mutex<Vec<String>>, nth: usize) -> String {
    code_to(log, "", nth).await
}

/// The code in the `nth` SMS (1-based) a node logged to the phone shown (masked) as
/// `masked`.
async fn code_to(log: &Mutex<Vec<String>>, masked: &str, nth: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let codes: Vec<String> = log
            .lock()
            .expect("log lock")
            .iter()
            .filter(|line| line.contains(masked))
            .filter_map(|line| {
                let start = line.find("验证码是 ")? + "验证码是 ".len();
                Some(line[start..].chars().take(6).collect())
            })
            .collect();
        if let Some(code) = codes.get(nth - 1) {
            return code.clone();
        }
        assert!(Instant::now() < deadline, "no SMS number {nth} in the log");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn post(base: &str, path: &str, body: &Value) -> (u16, String) {
    let res = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .json(body)
        .send()
        .await
        .expect("post");
    (res.status().as_u16(), res.text().await.expect("body"))
}

async fn send_letter(base: &str, ticket: &str, body: &str) -> u16 {
    let letter = json!({
        "category": "help",
        "problem_tags": [],
        "subject": "小区夜间施工噪音",
        "body": body,
        "writer_name": "张三丰",
    });
    reqwest::Client::new()
        .post(format!("{base}/api/v1/public/letters"))
        .header("x-jsjb-ticket", ticket)
        .multipart(reqwest::multipart::Form::new().text("letter", letter.to_string()))
        .send()
        .await
        .expect("public letter")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_verified_on_one_node_writes_on_the_other_under_one_limit() {
    let db = Database::create("citizen_nodes").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (port_a, port_b) = (free_port(), free_port());
    let (a, b) = (
        format!("http://127.0.0.1:{port_a}"),
        format!("http://127.0.0.1:{port_b}"),
    );
    let node = |port, args: &[&str]| {
        let mut cmd = server(&db, dir.path(), port, args);
        cmd.env("RUST_LOG", "warn,jsjb::sms=info")
            .env("JSJB_RATE_PHONE_BURST", "2")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        cmd
    };
    // A seeds the demo city (the root unit public letters land at); no arrivals.
    let mut child_a = node(port_a, &["demo", "--days", "1", "--per-day", "2"])
        .env("JSJB_DEMO_ARRIVAL_SECS", "3600")
        .spawn()
        .expect("node A");
    let log_a = collect_log(&mut child_a);
    let _node_a = Running(child_a);
    wait_healthy(&a, Duration::from_secs(180)).await;
    let mut child_b = node(port_b, &["serve"]).spawn().expect("node B");
    let log_b = collect_log(&mut child_b);
    let _node_b = Running(child_b);
    wait_healthy(&b, Duration::from_secs(60)).await;

    let ask = json!({"phone": PHONE, "consent": true});
    let (status, body) = post(&a, "/api/v1/public/verification", &ask).await;
    assert_eq!(status, 202, "{body}");
    let code = nth_code(&log_a, 1).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let guess = |code: &str| json!({"phone": PHONE, "code": code});

    // Wrong guesses count down across the nodes.
    let (status, body) = post(&b, "/api/v1/public/verification/code", &guess(wrong)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("4 tries left"), "{body}");
    let (status, body) = post(&a, "/api/v1/public/verification/code", &guess(wrong)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("3 tries left"), "{body}");

    // B takes the code A sent, once.
    let (status, body) = post(&b, "/api/v1/public/verification/code", &guess(&code)).await;
    assert_eq!(status, 200, "{body}");
    let ticket: Value = serde_json::from_str(&body).expect("json");
    let ticket = ticket["ticket"].as_str().expect("ticket").to_owned();
    let (status, body) = post(&a, "/api/v1/public/verification/code", &guess(&code)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("no code was sent"), "{body}");

    // The ticket B issued, sent with four letters at once, two to each node: one letter
    // is taken (on either node), the others refused, and a letter later is refused too.
    let (one, two, three, four) = tokio::join!(
        send_letter(&a, &ticket, "第一封信，经节点甲。"),
        send_letter(&b, &ticket, "第二封信，经节点乙。"),
        send_letter(&a, &ticket, "第三封信，经节点甲。"),
        send_letter(&b, &ticket, "第四封信，经节点乙。"),
    );
    let mut statuses = vec![one, two, three, four];
    statuses.sort_unstable();
    assert_eq!(statuses, vec![201, 403, 403, 403], "one ticket, one letter");
    assert_eq!(send_letter(&a, &ticket, "第五封信。").await, 403);

    // Two SMS a burst for the phone, whichever node sends them.
    let (status, body) = post(&b, "/api/v1/public/verification", &ask).await;
    assert_eq!(status, 202, "{body}");
    nth_code(&log_b, 1).await;
    let (status, body) = post(&a, "/api/v1/public/verification", &ask).await;
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("rate_limited"), "{body}");

    // Routing rules an admin saves on A route the letters B takes from then on.
    let client = reqwest::Client::new();
    let admin = login(&a, "admin").await;
    let units: Value = client
        .get(format!("{a}/api/v1/admin/units"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("units")
        .json()
        .await
        .expect("units json");
    let station = units["units"]
        .as_array()
        .expect("units")
        .iter()
        .find(|u| u["tier"] == "station")
        .and_then(|u| u["id"].as_i64())
        .expect("a station");
    let routing = |base: &str| {
        let (base, admin, client) = (base.to_owned(), admin.clone(), client.clone());
        async move {
            client
                .get(format!("{base}/api/v1/admin/routing"))
                .bearer_auth(&admin)
                .send()
                .await
                .expect("routing")
                .json::<Value>()
                .await
                .expect("routing json")
        }
    };
    let before = routing(&a).await["version"].as_i64().expect("version");
    let rules = json!({"rules": [{"name": "跨节点辖区", "categories": [], "keywords": ["跨节点"], "to_unit": station}]});
    let res = client
        .post(format!("{a}/api/v1/admin/routing"))
        .bearer_auth(&admin)
        .json(&json!({"rules": rules, "expected_version": before, "reason": "辖区调整"}))
        .send()
        .await
        .expect("save on A");
    assert_eq!(res.status(), 200, "{:?}", res.text().await);
    // B shows the version A saved, with that version's rules.
    let seen = routing(&b).await;
    assert_eq!(seen["version"], before + 1);
    assert_eq!(seen["rules"], rules);
    // B hears of the save, then routes by it: a letter another writer sends to B.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ask = json!({"phone": OTHER_PHONE, "consent": true});
    let (status, body) = post(&b, "/api/v1/public/verification", &ask).await;
    assert_eq!(status, 202, "{body}");
    let code = code_to(&log_b, "139****4321", 1).await;
    let (status, body) = post(
        &b,
        "/api/v1/public/verification/code",
        &json!({"phone": OTHER_PHONE, "code": code}),
    )
    .await;
    let sent: Vec<String> = log_b
        .lock()
        .expect("log lock")
        .iter()
        .filter(|line| line.contains("验证码"))
        .cloned()
        .collect();
    assert_eq!(status, 200, "{body}; B's SMS: {sent:#?}");
    let ticket: Value = serde_json::from_str(&body).expect("json");
    let ticket = ticket["ticket"].as_str().expect("ticket").to_owned();
    assert_eq!(
        send_letter(&b, &ticket, "跨节点的来信，应按新规则分派。").await,
        201
    );
    let city = login(&a, "shiju.li").await;
    let (letters, _) = synced(&a, &city).await;
    let routed = letters
        .iter()
        .find(|l| l.body.contains("跨节点的来信"))
        .expect("the letter B took");
    assert_eq!(
        routed.unit_id.0, station,
        "B routed the letter by the rules saved on A"
    );
}
