//! Live pokes: a commit pokes the streams whose scope holds the units it touched, in
//! memory — a stream queries the database once when it opens, never per change.

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration as StdDuration;

use jsjb_storage_sqlite::letters::SCOPE_QUERIES;
use serde_json::{Value, json};
use support::*;

/// The query counter is per process: the tests of this file take turns.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct Org {
    s: TestServer,
    branch_a: i64,
    station_a: i64,
    city_desk: String,
    branch_a_desk: String,
    station_a_officer: String,
    branch_b_desk: String,
}

async fn org() -> Org {
    let s = TestServer::start().await;
    let admin = s.admin_token().await;
    let branch_a = s.unit(&admin, s.city, "branch", "福田分局").await;
    let station_a = s.unit(&admin, branch_a, "station", "福田派出所").await;
    let branch_b = s.unit(&admin, s.city, "branch", "南山分局").await;
    s.user(&admin, s.city, "city.desk", &["dispatcher"]).await;
    s.user(&admin, branch_a, "a.desk", &["dispatcher"]).await;
    s.user(&admin, station_a, "a.officer", &["officer"]).await;
    s.user(&admin, branch_b, "b.desk", &["dispatcher"]).await;
    Org {
        city_desk: s.token("city.desk", PASSWORD).await,
        branch_a_desk: s.token("a.desk", PASSWORD).await,
        station_a_officer: s.token("a.officer", PASSWORD).await,
        branch_b_desk: s.token("b.desk", PASSWORD).await,
        s,
        branch_a,
        station_a,
    }
}

impl Org {
    async fn stream(&self, token: &str) -> reqwest::Response {
        let res = self
            .s
            .client
            .get(self.s.url("/api/v1/sync/stream?cursor=0"))
            .bearer_auth(token)
            .send()
            .await
            .expect("stream");
        assert_eq!(res.status(), 200);
        res
    }

    /// A citizen writes in (the letter lands at the city); returns its id.
    async fn letter(&self) -> i64 {
        let res = self.s.post_public_letter(&letter_json(), vec![]).await;
        assert_eq!(res.status(), 201, "{:?}", res.text().await);
        let res = self
            .s
            .get("/api/v1/sync?cursor=0&limit=500", Some(&self.city_desk))
            .await;
        let page: Value = res.json().await.expect("json");
        page["changes"]
            .as_array()
            .and_then(|c| c.last())
            .and_then(|c| c["letter"]["id"].as_i64())
            .expect("the new letter reaches the city desk")
    }

    async fn dispatch(&self, token: &str, id: i64, to: i64) {
        let res = self
            .s
            .get(&format!("/api/v1/letters/{id}"), Some(token))
            .await;
        let version = res.json::<Value>().await.expect("json")["version"]
            .as_i64()
            .expect("version");
        let res = self
            .s
            .client
            .post(self.s.url(&format!("/api/v1/letters/{id}/actions")))
            .bearer_auth(token)
            .header(
                "Idempotency-Key",
                format!("00000000-0000-4000-8000-{id:06}{to:06}"),
            )
            .json(&json!({"expected_version": version, "action": {"action": "dispatch", "to": to}}))
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 200, "{:?}", res.text().await);
    }
}

/// The cursors of the pokes that arrive until the stream is quiet for `wait`.
async fn pokes(stream: &mut reqwest::Response, wait: StdDuration) -> Vec<i64> {
    let mut seen = String::new();
    while let Ok(Some(chunk)) = tokio::time::timeout(wait, stream.chunk())
        .await
        .map(|c| c.expect("stream"))
    {
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    seen.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| v["cursor"].as_i64())
        .collect()
}

#[tokio::test]
async fn a_change_pokes_the_streams_above_its_unit_and_no_others_without_a_query() {
    let _turn = SERIAL.lock().await;
    let o = org().await;
    let id = o.letter().await;
    o.dispatch(&o.city_desk, id, o.branch_a).await;

    let mut city = o.stream(&o.city_desk).await;
    let mut branch_a = o.stream(&o.branch_a_desk).await;
    let mut station_a = o.stream(&o.station_a_officer).await;
    let mut branch_b = o.stream(&o.branch_b_desk).await;
    // Opening looked once each: the city and branch A missed the letter, and say so.
    let first = pokes(&mut city, StdDuration::from_millis(300)).await;
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(
        pokes(&mut branch_a, StdDuration::from_millis(100))
            .await
            .len(),
        1
    );
    assert!(
        pokes(&mut station_a, StdDuration::from_millis(100))
            .await
            .is_empty()
    );
    assert!(
        pokes(&mut branch_b, StdDuration::from_millis(100))
            .await
            .is_empty()
    );

    let queries = SCOPE_QUERIES.load(Ordering::SeqCst);
    // Branch A → station A: a change in a unit below branch A and the city.
    o.dispatch(&o.branch_a_desk, id, o.station_a).await;
    for stream in [&mut city, &mut branch_a, &mut station_a] {
        let got = pokes(stream, StdDuration::from_secs(1)).await;
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0] > first[0]);
    }
    assert!(
        pokes(&mut branch_b, StdDuration::from_millis(300))
            .await
            .is_empty(),
        "branch B's scope holds neither side of the change"
    );
    // A new letter at the city concerns the city desk only.
    o.letter().await;
    assert_eq!(pokes(&mut city, StdDuration::from_secs(1)).await.len(), 1);
    for stream in [&mut branch_a, &mut station_a, &mut branch_b] {
        assert!(
            pokes(stream, StdDuration::from_millis(200))
                .await
                .is_empty()
        );
    }
    assert_eq!(
        SCOPE_QUERIES.load(Ordering::SeqCst),
        queries,
        "no stream queried the database for a change"
    );
}

#[tokio::test]
async fn shutdown_and_logout_still_end_the_streams() {
    let _turn = SERIAL.lock().await;
    let o = org().await;
    let mut leaving = o.stream(&o.branch_a_desk).await;
    let mut staying = o.stream(&o.city_desk).await;
    let res =
        o.s.post_json("/api/v1/auth/logout", Some(&o.branch_a_desk), &json!({}))
            .await;
    assert_eq!(res.status(), 204);
    let end = tokio::time::timeout(StdDuration::from_secs(5), async {
        while let Ok(Some(_)) = leaving.chunk().await {}
    })
    .await;
    assert!(end.is_ok(), "the logged-out session's stream ended");
    // What `serve` does when it begins shutting down.
    o.s.state.shutdown.send_replace(true);
    let end = tokio::time::timeout(StdDuration::from_secs(5), async {
        while let Ok(Some(_)) = staying.chunk().await {}
    })
    .await;
    assert!(end.is_ok(), "shutdown ended the other stream");
}
