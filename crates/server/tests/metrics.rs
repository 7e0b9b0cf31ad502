//! `/metrics`: what it counts moves with the traffic, and only the configured networks
//! or the token can read it.

mod support;

use std::time::Duration;

use support::{TestServer, letter_json, problem};

const TOKEN: &str = "scraper-token-0123456789";

/// The sum of the samples of `name` whose labels include every one of `labels`
/// (`k="v"`); `None` when there is no such sample.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    let mut found = None;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let (label_part, value) = match rest.strip_prefix('{') {
            Some(rest) => match rest.split_once("} ") {
                Some((l, v)) => (l, v),
                None => continue,
            },
            None => match rest.strip_prefix(' ') {
                Some(v) => ("", v),
                None => continue,
            },
        };
        let have: Vec<&str> = label_part.split(',').collect();
        if labels.iter().all(|want| have.contains(want)) {
            let v: f64 = value.trim().parse().expect("a number");
            *found.get_or_insert(0.0) += v;
        }
    }
    found
}

async fn scrape(s: &TestServer) -> String {
    let res = s.get("/metrics", None).await;
    assert_eq!(res.status(), 200);
    let kind = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    res.text().await.expect("text")
}

#[tokio::test]
async fn counters_move_with_the_traffic() {
    let s = TestServer::start_with(|c| c.metrics.allow = vec!["127.0.0.1".parse().expect("cidr")])
        .await;
    let before = scrape(&s).await;
    let letters_401 = [
        "route=\"/api/v1/letters/{id}\"",
        "method=\"GET\"",
        "status=\"401\"",
    ];
    let was = |name, labels: &[&str]| sample(&before, name, labels).unwrap_or(0.0);
    let requests_before = was("jsjb_http_requests_total", &letters_401);
    let failures_before = was(
        "jsjb_login_failures_total",
        &["reason=\"invalid_credentials\""],
    );
    let web_before = was("jsjb_letters_received_total", &["channel=\"web\""]);
    let pages_before = was("jsjb_sync_page_changes_count", &[]);
    let commits_before = was("jsjb_db_commit_seconds_count", &[]);

    // Two requests to one route with different ids; a path that is no route.
    for id in [4711, 4712] {
        let res = s.get(&format!("/api/v1/letters/{id}"), None).await;
        assert_eq!(res.status(), 401);
    }
    problem(s.get("/api/v1/no-such-thing", None).await, 404, "no_route").await;
    problem(
        s.login("admin", "wrong-password").await,
        401,
        "invalid_credentials",
    )
    .await;
    let res = s.post_public_letter(&letter_json(), vec![]).await;
    assert_eq!(res.status(), 201, "{:?}", res.text().await);
    let token = s.admin_token().await;
    let res = s.get("/api/v1/sync?cursor=0", Some(&token)).await;
    assert_eq!(res.status(), 200);
    // A desktop on the stream, kept open while scraping.
    let stream = s
        .client
        .get(s.url("/api/v1/sync/stream?cursor=0"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("stream");
    assert_eq!(stream.status(), 200);

    let after = scrape(&s).await;
    let now = |name, labels: &[&str]| sample(&after, name, labels).unwrap_or(0.0);
    assert!(now("jsjb_http_requests_total", &letters_401) >= requests_before + 2.0);
    assert!(
        now(
            "jsjb_http_requests_total",
            &["route=\"unmatched\"", "status=\"404\""]
        ) >= 1.0
    );
    // Counted under the template: no id reaches a label.
    // (Only the labels: a measured value such as a duration may contain the digits.)
    let labels_with_id = after
        .lines()
        .filter_map(|line| {
            line.split_once('{')
                .and_then(|(_, rest)| rest.split_once('}'))
        })
        .any(|(labels, _)| labels.contains("4711"));
    assert!(!labels_with_id, "a raw path became a label");
    assert!(
        now(
            "jsjb_http_request_duration_seconds_count",
            &["route=\"/api/v1/letters/{id}\""]
        ) >= 2.0
    );
    assert!(
        now(
            "jsjb_http_request_duration_seconds_bucket",
            &["route=\"/api/v1/letters/{id}\"", "le=\"+Inf\""]
        ) >= 2.0,
        "latency is a histogram with buckets"
    );
    assert!(
        now(
            "jsjb_login_failures_total",
            &["reason=\"invalid_credentials\""]
        ) >= failures_before + 1.0
    );
    assert!(now("jsjb_letters_received_total", &["channel=\"web\""]) >= web_before + 1.0);
    assert!(now("jsjb_sync_page_changes_count", &[]) >= pages_before + 1.0);
    assert!(now("jsjb_db_commit_seconds_count", &[]) > commits_before);
    let depth = sample(&after, "jsjb_db_writer_queue_depth", &[]).expect("queue depth");
    assert!(depth >= 0.0, "{depth}");
    assert!(now("jsjb_sse_subscribers", &[]) >= 1.0);
    assert!(after.contains("# TYPE jsjb_http_request_duration_seconds histogram"));

    // The stream ends: the gauge goes back down (other tests may hold their own).
    let open = now("jsjb_sse_subscribers", &[]);
    drop(stream);
    let mut closed = false;
    for _ in 0..50 {
        let text = scrape(&s).await;
        if sample(&text, "jsjb_sse_subscribers", &[]).unwrap_or(0.0) < open {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(closed, "the subscriber gauge did not come down");
}

#[tokio::test]
async fn callers_outside_the_allowed_networks_are_refused() {
    let s = TestServer::start_with(|c| {
        c.metrics.allow = vec!["10.0.0.0/8".parse().expect("cidr")];
        c.metrics.token = Some(TOKEN.to_owned());
    })
    .await;
    // Loopback is not in 10/8: the same 404 as a path that does not exist.
    problem(s.get("/metrics", None).await, 404, "no_route").await;
    problem(
        s.get("/metrics", Some("not-the-token")).await,
        404,
        "no_route",
    )
    .await;
    let res = s.get("/metrics", Some(TOKEN)).await;
    assert_eq!(res.status(), 200);
    assert!(
        res.text()
            .await
            .expect("text")
            .contains("jsjb_http_requests_total")
    );
}

#[tokio::test]
async fn nobody_reads_the_metrics_unless_configured() {
    let s = TestServer::start().await;
    problem(s.get("/metrics", None).await, 404, "no_route").await;
}

#[tokio::test]
async fn a_client_behind_the_proxy_is_not_local() {
    // The proxy is on loopback and trusted; loopback may scrape. A request the proxy
    // forwards from the internet is the internet's, not the proxy's.
    let s = TestServer::start_with(|c| {
        c.trusted_proxies = vec!["127.0.0.1".parse().expect("cidr")];
        c.metrics.allow = vec!["127.0.0.1".parse().expect("cidr")];
    })
    .await;
    let forwarded = s
        .client
        .get(s.url("/metrics"))
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .expect("request");
    problem(forwarded, 404, "no_route").await;
    assert_eq!(s.get("/metrics", None).await.status(), 200);
}
