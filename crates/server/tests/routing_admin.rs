//! 自动分派规则 edited in the admin console: only a city admin edits them; draft rules are
//! tested against a sample letter; a save is a new version applied at once (the next
//! letter is routed by it, no restart); two admins never overwrite each other unseen.

mod support;

use serde_json::{Value, json};
use support::*;

#[tokio::test]
async fn a_city_admin_tests_and_saves_routing_rules_that_apply_to_the_next_letter() {
    let s = TestServer::start().await;
    let admin = s.admin_token().await;
    let branch = s.unit(&admin, s.city, "branch", "福田分局").await;
    let station = s.unit(&admin, branch, "station", "华富派出所").await;
    let closed = s.unit(&admin, branch, "station", "撤并派出所").await;
    let res = s
        .post_json(
            &format!("/api/v1/admin/units/{closed}/active"),
            Some(&admin),
            &json!({"active": false, "reason": "撤并"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    s.user(&admin, branch, "ft.admin", &["admin"]).await;
    s.user(&admin, station, "hf.officer", &["officer"]).await;
    let branch_admin = s.token("ft.admin", PASSWORD).await;
    let officer = s.token("hf.officer", PASSWORD).await;

    problem(
        s.get("/api/v1/admin/routing", Some(&branch_admin)).await,
        403,
        "forbidden",
    )
    .await;
    problem(
        s.get("/api/v1/admin/routing", Some(&officer)).await,
        403,
        "forbidden",
    )
    .await;
    let view: Value = s
        .get("/api/v1/admin/routing", Some(&admin))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(view["version"], 0);
    assert_eq!(view["rules"]["rules"], json!([]));

    let rules =
        json!({"rules": [{"name": "华富辖区", "keywords": ["华富路"], "to_unit": station}]});
    let tried: Value = s
        .post_json(
            "/api/v1/admin/routing/test",
            Some(&admin),
            &json!({"rules": rules, "category": "complaint", "subject": "噪音", "body": "华富路夜间施工"}),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        (tried["rule_index"].clone(), tried["to_unit"].clone()),
        (json!(0), json!(station))
    );
    let missed: Value = s
        .post_json(
            "/api/v1/admin/routing/test",
            Some(&admin),
            &json!({"rules": rules, "category": "complaint", "subject": "噪音", "body": "莲花路"}),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(missed["rule_index"], Value::Null);
    // Rules to a deactivated unit or to the city itself are refused, saving nothing.
    for to in [closed, s.city] {
        problem(
            s.post_json(
                "/api/v1/admin/routing",
                Some(&admin),
                &json!({"rules": {"rules": [{"name": "x", "keywords": ["y"], "to_unit": to}]}, "expected_version": 0, "reason": "x"}),
            )
            .await,
            400,
            "invalid_input",
        )
        .await;
    }
    let saved: Value = s
        .post_json(
            "/api/v1/admin/routing",
            Some(&admin),
            &json!({"rules": rules, "expected_version": 0, "reason": "华富辖区划入"}),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(saved["version"], 1, "{saved}");
    // A second admin who edited version 0 meanwhile is told, not silently overwritten.
    problem(
        s.post_json(
            "/api/v1/admin/routing",
            Some(&admin),
            &json!({"rules": {"rules": []}, "expected_version": 0, "reason": "清空"}),
        )
        .await,
        409,
        "stale_version",
    )
    .await;

    // The next letter about 华富路 goes straight to the station, no restart.
    let mut letter = letter_json();
    letter["body"] = json!("华富路每晚施工到凌晨，请处理。");
    let res = s.post_public_letter(&letter, Vec::new()).await;
    assert_eq!(res.status(), 201);
    let page: Value = s
        .get("/api/v1/sync?cursor=0&limit=10", Some(&officer))
        .await
        .json()
        .await
        .expect("json");
    let routed = &page["changes"][0]["letter"];
    assert_eq!(routed["unit_id"], station, "{page}");
    assert_eq!(routed["state"], "dispatched");
}
