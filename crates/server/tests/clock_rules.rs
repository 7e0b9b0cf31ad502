//! The clock rules as server configuration (`JSJB_RULES`): served to any signed-in
//! desktop with their version (the same version every sync page names), and checked at
//! each start against the rules the last start recorded — an era or a calendar day
//! already begun cannot be rewritten, a new era from a future moment can be added.

mod support;

use chrono::{Duration, Utc};
use jsjb_core::clock::ClockRule;
use jsjb_core::rules::{PolicyEra, Rules};
use serde_json::Value;
use support::*;

fn write_rules(path: &std::path::Path, rules: &Rules) {
    std::fs::write(path, serde_json::to_vec_pretty(rules.doc()).expect("json")).expect("write");
}

/// The built-in rules with a stricter 联系 clock (20 minutes) from `from` on.
fn with_new_era(from: chrono::DateTime<Utc>) -> Rules {
    let mut doc = Rules::shenzhen().doc().clone();
    let mut policy = doc.eras[0].policy.clone();
    policy.contact = ClockRule::calendar(20 * 60, 5 * 60);
    doc.eras.push(PolicyEra { from, policy });
    Rules::new(doc).expect("valid rules")
}

/// The clock rules the last start recorded.
async fn recorded_rules(s: &TestServer) -> jsjb_storage::SavedClockRules {
    s.state
        .store
        .clock_rules()
        .await
        .expect("read")
        .expect("recorded")
}

#[tokio::test]
async fn the_configured_rules_are_served_with_the_version_each_sync_page_names() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("rules.json");
    let from = Utc::now() + Duration::days(3);
    write_rules(&file, &with_new_era(from));
    let s = TestServer::start_with(|c| c.rules = Some(file.clone())).await;

    problem(s.get("/api/v1/rules", None).await, 401, "unauthenticated").await;
    let admin = s.admin_token().await;
    let served: Value = s
        .get("/api/v1/rules", Some(&admin))
        .await
        .json()
        .await
        .expect("json");
    let eras = served["rules"]["eras"].as_array().expect("eras");
    assert_eq!(eras.len(), 2);
    assert_eq!(eras[1]["policy"]["contact"]["due_after_secs"], 1200);
    assert_eq!(served["problem_classes"].as_array().map(Vec::len), Some(18));
    let version = served["version"].as_str().expect("version").to_owned();
    assert_eq!(version.len(), 16);
    assert_ne!(
        version,
        jsjb_server::clock_rules::version(
            &Rules::shenzhen(),
            &jsjb_server::reference::default_problem_classes()
        )
    );

    let page: Value = s
        .get("/api/v1/sync?cursor=0", Some(&admin))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(page["rules_version"], version.as_str());
}

#[tokio::test]
async fn a_start_that_would_rewrite_a_begun_era_is_refused_and_a_future_era_is_recorded() {
    let s = TestServer::start().await;
    // Answering at all means the start-up check ran.
    let admin = s.admin_token().await;
    // The first start recorded the built-in rules.
    let recorded = recorded_rules(&s).await;
    assert_eq!(recorded.version, *s.state.rules_version);

    // A new era from tomorrow: accepted, recorded, audited.
    let mut next = s.state.clone();
    next.set_clock_rules(with_new_era(s.state.time.now() + Duration::days(1)));
    jsjb_server::clock_rules::serving::apply_at_start(&next)
        .await
        .expect("a future era is fine");
    let recorded = recorded_rules(&s).await;
    assert_eq!(recorded.version, *next.rules_version);
    let audit: i64 = s
        .raw_db()
        .query_row(
            "SELECT count(*) FROM audit_log WHERE action = 'rules.apply'",
            [],
            |r| r.get(0),
        )
        .expect("audit");
    assert_eq!(audit, 2, "the first start and the new era");

    // Before any letter, a first configuration may replace the rules whole.
    let mut first_config = s.state.clone();
    first_config.set_clock_rules(with_new_era(s.state.time.now() - Duration::days(30)));
    jsjb_server::clock_rules::serving::apply_at_start(&first_config)
        .await
        .expect("nothing scored yet");
    jsjb_server::clock_rules::serving::apply_at_start(&next)
        .await
        .expect("back to the rules with tomorrow's era");

    // A letter arrives; two days on, the era has begun: dropping it (going back to the
    // built-in rules) or editing it would re-score letters already received under it.
    let res = s
        .post_json("/api/v1/letters", Some(&admin), &letter_json())
        .await;
    assert_eq!(res.status(), 201);
    s.advance(Duration::days(2));
    let mut back = s.state.clone();
    back.set_clock_rules(Rules::shenzhen());
    let refused = jsjb_server::clock_rules::serving::apply_at_start(&back)
        .await
        .expect_err("refused");
    assert!(refused.contains("rewrite the past"), "{refused}");
    // Moving its start (to 12 hours after it began) is a rewrite too.
    let mut moved = s.state.clone();
    moved.set_clock_rules(with_new_era(s.state.time.now() - Duration::hours(12)));
    assert!(
        jsjb_server::clock_rules::serving::apply_at_start(&moved)
            .await
            .is_err()
    );
    // What is recorded is still the era as it began.
    let recorded = recorded_rules(&s).await;
    assert_eq!(recorded.version, *next.rules_version);
}

#[tokio::test]
async fn a_malformed_rules_file_stops_the_server_before_it_opens() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("rules.json");
    std::fs::write(&file, br#"{"eras": [], "calendar": [], "extra": 1}"#).expect("write");
    let mut config =
        jsjb_server::Config::new(dir.path().join("db.sqlite3"), dir.path().join("blobs"));
    config.rules = Some(file.clone());
    let e = jsjb_server::open(config.clone())
        .err()
        .expect("unknown field refused");
    assert!(e.to_string().contains("not valid JSON"), "{e}");
    // A typo deep inside a clock's rule is refused too, not silently defaulted.
    let mut doc = serde_json::to_value(Rules::shenzhen().doc()).expect("json");
    doc["eras"][0]["policy"]["contact"]["warn_before_sec"] = serde_json::json!(600);
    std::fs::write(&file, doc.to_string()).expect("write");
    let e = jsjb_server::open(config.clone())
        .err()
        .expect("nested unknown field refused");
    assert!(e.to_string().contains("warn_before_sec"), "{e}");
    std::fs::write(&file, br#"{"eras": [], "calendar": []}"#).expect("write");
    let e = jsjb_server::open(config).err().expect("no era refused");
    assert!(e.to_string().contains("at least one era"), "{e}");
}
