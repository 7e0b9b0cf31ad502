//! The citizen side across server nodes (issue 16): two server processes on one
//! PostgreSQL, a writer whose requests land on either. The code one node sent is checked
//! by the other, each wrong guess counts wherever it is made, the ticket one node issued
//! is honoured (and used up) by the other, and the per-phone SMS limit is one limit.
//!
//! Needs `JSJB_TEST_POSTGRES` (a server whose user may create databases), which
//! `cargo xtask test` sets.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod pg_support;

use pg_support::{Database, Running, free_port, server, wait_healthy};

const PHONE: &str = "13812345678";

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
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let codes: Vec<String> = log
            .lock()
            .expect("log lock")
            .iter()
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

    // A honours B's ticket; once used there, B refuses it.
    assert_eq!(send_letter(&a, &ticket, "第一封信，经节点甲。").await, 201);
    assert_eq!(send_letter(&b, &ticket, "第二封信，经节点乙。").await, 403);

    // Two SMS a burst for the phone, whichever node sends them.
    let (status, body) = post(&b, "/api/v1/public/verification", &ask).await;
    assert_eq!(status, 202, "{body}");
    nth_code(&log_b, 1).await;
    let (status, body) = post(&a, "/api/v1/public/verification", &ask).await;
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("rate_limited"), "{body}");
}
