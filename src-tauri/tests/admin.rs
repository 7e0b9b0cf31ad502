//! The admin console through the real commands (mock runtime) against the REAL server
//! in-process: a chief enrols a key on their desktop, and two admins — each on their own
//! desktop, with no raw HTTP call — find it in `admin_keys` with the same fingerprint,
//! approve it under dual control (the same admin twice is refused), and one revokes it
//! with a reason (never without one). Same harness as `ipc.rs` (`support/`).

use serde_json::json;

mod support;
use support::*;

#[test]
fn two_admins_approve_a_chiefs_key_from_their_desktops_and_one_revokes_it_with_a_reason() {
    let chief = app();
    chief.login("futian.chief");
    let pending = chief.ok("enrol_signing_key", json!({"pin": "246810"}));
    let key_id = pending["keyId"].as_i64().expect("key id");
    let fingerprint = pending["fingerprint"].as_str().expect("fingerprint");

    let admin = app();
    admin.login("admin");
    let keys = admin.ok("admin_keys", json!({}));
    let row = keys
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["key"]["id"] == key_id)
        .expect("the chief's key is listed")
        .clone();
    // What the admin compares with the chief's screen is what the chief's desktop shows.
    assert_eq!(row["key"]["fingerprint"], fingerprint);
    assert_eq!(row["key"]["state"], "pending");
    assert_eq!(row["owner_username"], "futian.chief");
    assert_eq!(row["approvals"], json!([]));
    assert_eq!(row["approvals_required"], 2);

    // A chief is not an admin: the console's calls are refused to them.
    assert_eq!(chief.err_code("admin_keys", json!({})), "forbidden");
    assert_eq!(
        chief.err_code("approve_signing_key", json!({"keyId": key_id})),
        "forbidden"
    );

    let first = admin.ok("approve_signing_key", json!({"keyId": key_id}));
    assert_eq!(first["key"]["state"], "pending", "{first}");
    assert_eq!(first["approvals"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        admin.err_code("approve_signing_key", json!({"keyId": key_id})),
        "already_approved"
    );
    assert_eq!(
        chief.ok("signing_key_status", json!({}))["state"],
        "pending"
    );

    let admin2 = app();
    admin2.login("admin2");
    let second = admin2.ok("approve_signing_key", json!({"keyId": key_id}));
    assert_eq!(second["key"]["state"], "active", "{second}");
    assert_eq!(chief.ok("signing_key_status", json!({}))["state"], "active");
    assert_eq!(
        admin2.err_code("approve_signing_key", json!({"keyId": key_id})),
        "key_state"
    );

    // Revoking needs a reason; with one, the key is revoked and the chief's desktop says so.
    assert_eq!(
        admin.err_code(
            "revoke_signing_key",
            json!({"keyId": key_id, "reason": "  "})
        ),
        "invalid_input"
    );
    let revoked = admin.ok(
        "revoke_signing_key",
        json!({"keyId": key_id, "reason": "密钥遗失"}),
    );
    assert_eq!(revoked["state"], "revoked");
    assert_eq!(
        chief.ok("signing_key_status", json!({}))["state"],
        "revoked"
    );
}

#[test]
fn an_admin_creates_a_user_who_must_change_the_password_then_deactivates_them() {
    let admin = app();
    admin.login("admin");
    let unit = admin.ok("session", json!({}))["me"]["unit_id"]
        .as_i64()
        .expect("unit");
    let created = admin.ok(
        "create_user",
        json!({"unitId": unit, "username": "new.clerk", "displayName": "新同事",
               "roles": ["officer"], "password": "initial-pass-1"}),
    );
    assert_eq!(created["must_change_password"], true, "{created}");
    let id = created["id"].as_i64().expect("id");
    assert_eq!(
        admin.err_code(
            "create_user",
            json!({"unitId": unit, "username": "new.clerk", "displayName": "重名",
                   "roles": ["officer"], "password": "initial-pass-1"}),
        ),
        "username_taken"
    );

    // The new user signs in and is told to change the password first.
    let user = app();
    let session = user.ok(
        "login",
        json!({"serverUrl": server().url(), "username": "new.clerk", "password": "initial-pass-1"}),
    );
    assert_eq!(session["me"]["must_change_password"], true, "{session}");
    assert_eq!(
        user.err_code(
            "change_own_password",
            json!({"currentPassword": "wrong-pass-00", "newPassword": "my-own-pass-22"}),
        ),
        "wrong_password"
    );
    user.ok(
        "change_own_password",
        json!({"currentPassword": "initial-pass-1", "newPassword": "my-own-pass-22"}),
    );
    let listed = admin.ok("admin_users", json!({}));
    let row = listed
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["id"] == id)
        .expect("listed")
        .clone();
    assert_eq!(row["must_change_password"], false, "{row}");
    assert!(row["last_login_at"].is_string(), "{row}");

    // Deactivation needs a reason, then ends the user's session at once.
    assert_eq!(
        admin.err_code(
            "set_user_active",
            json!({"userId": id, "active": false, "reason": " "}),
        ),
        "invalid_input"
    );
    let off = admin.ok(
        "set_user_active",
        json!({"userId": id, "active": false, "reason": "调离"}),
    );
    assert_eq!(off["active"], false);
    assert_eq!(user.err_code("admin_users", json!({})), "session_expired");
}

#[test]
fn an_admin_creates_and_renames_a_unit_and_a_rename_needs_a_reason() {
    let admin = app();
    admin.login("admin");
    let city = admin.ok("session", json!({}))["me"]["unit_id"]
        .as_i64()
        .expect("unit");
    let unit = admin.ok(
        "create_unit",
        json!({"parentId": city, "tier": "branch", "name": "临时分局"}),
    );
    assert_eq!(unit["name"], "临时分局");
    assert_eq!(unit["parent"], city);
    let id = unit["id"].as_i64().expect("id");
    assert_eq!(
        admin.err_code(
            "rename_unit",
            json!({"unitId": id, "name": "新区分局", "reason": ""}),
        ),
        "invalid_input"
    );
    let renamed = admin.ok(
        "rename_unit",
        json!({"unitId": id, "name": "新区分局", "reason": "机构调整"}),
    );
    assert_eq!(renamed["name"], "新区分局");
    let officer = app();
    officer.login("futian.liu");
    assert_eq!(
        officer.err_code(
            "rename_unit",
            json!({"unitId": id, "name": "x", "reason": "y"}),
        ),
        "forbidden"
    );
}

#[test]
fn an_admin_moves_a_station_and_changes_a_users_roles_and_unit_with_reasons() {
    let admin = app();
    admin.login("admin");
    let city = admin.ok("session", json!({}))["me"]["unit_id"]
        .as_i64()
        .expect("unit");
    let unit = |parent: i64, tier: &str, name: &str| {
        admin.ok(
            "create_unit",
            json!({"parentId": parent, "tier": tier, "name": name}),
        )["id"]
            .as_i64()
            .expect("id")
    };
    let east = unit(city, "branch", "东部分局");
    let west = unit(city, "branch", "西部分局");
    let station = unit(east, "station", "沙头角派出所");
    let other = unit(west, "station", "西乡派出所");
    assert_eq!(
        admin.err_code(
            "move_unit",
            json!({"unitId": station, "parentId": west, "reason": ""}),
        ),
        "invalid_input"
    );
    assert_eq!(
        admin.err_code(
            "move_unit",
            json!({"unitId": station, "parentId": other, "reason": "调整"}),
        ),
        "invalid_input"
    );
    let moved = admin.ok(
        "move_unit",
        json!({"unitId": station, "parentId": west, "reason": "辖区调整"}),
    );
    assert_eq!(moved["parent"], west);
    // An empty branch can be deactivated (with a reason), and comes back.
    let off = admin.ok(
        "set_unit_active",
        json!({"unitId": east, "active": false, "reason": "撤并"}),
    );
    assert_eq!(off["active"], false);
    assert_eq!(
        admin.err_code(
            "set_unit_active",
            json!({"unitId": west, "active": false, "reason": "撤并"}),
        ),
        "unit_in_use"
    );
    let on = admin.ok(
        "set_unit_active",
        json!({"unitId": east, "active": true, "reason": "恢复"}),
    );
    assert_eq!(on["active"], true);

    let created = admin.ok(
        "create_user",
        json!({"unitId": station, "username": "stj.zhang", "displayName": "张警官",
               "roles": ["officer"], "password": "initial-pass-1"}),
    );
    let id = created["id"].as_i64().expect("id");
    assert_eq!(
        admin.err_code("update_user", json!({"userId": id, "reason": "无"})),
        "already_done"
    );
    let changed = admin.ok(
        "update_user",
        json!({"userId": id, "roles": ["officer", "dispatcher"], "unitId": other, "reason": "调动"}),
    );
    assert_eq!(changed["user"]["unit_id"], other, "{changed}");
    assert_eq!(changed["user"]["roles"], json!(["dispatcher", "officer"]));
    assert_eq!(changed["keys_revoked"], 0);
    // 强制下线: the user's desktop is signed out at once.
    let clerk = app();
    clerk.ok(
        "login",
        json!({"serverUrl": server().url(), "username": "stj.zhang", "password": "initial-pass-1"}),
    );
    assert_eq!(
        admin.ok(
            "revoke_user_sessions",
            json!({"userId": id, "reason": "工作站遗失"})
        ),
        1
    );
    assert_eq!(clerk.err_code("admin_users", json!({})), "session_expired");
    let officer = app();
    officer.login("futian.liu");
    assert_eq!(
        officer.err_code(
            "update_user",
            json!({"userId": id, "displayName": "x", "reason": "y"}),
        ),
        "forbidden"
    );
}

#[test]
fn a_chief_grants_a_deputy_delegation_from_the_desktop_and_revokes_it() {
    let chief = app();
    chief.login("futian.chief");
    chief.wait_synced();
    let me = chief.ok("session", json!({}))["me"].clone();
    let unit = me["unit_id"].as_i64().expect("unit");
    let deputy = chief
        .ok("directory", json!({}))
        .as_array()
        .expect("directory")
        .iter()
        .find(|u| u["unit_id"] == unit && u["id"] != me["user_id"])
        .expect("a colleague of the unit")["id"]
        .as_i64()
        .expect("id");
    let now = chrono::Utc::now();
    let from = now.to_rfc3339();
    let until = (now + chrono::Duration::days(3)).to_rfc3339();
    // The period must end in the future; the server says so, in a code the UI shows.
    assert_eq!(
        chief.err_code(
            "grant_delegation",
            json!({"deputy": deputy, "validFrom": from, "validUntil": from, "category": null, "note": ""}),
        ),
        "invalid_input"
    );
    let grant = chief.ok(
        "grant_delegation",
        json!({"deputy": deputy, "validFrom": from, "validUntil": until, "category": "complaint", "note": "出差期间"}),
    );
    assert_eq!(grant["deputy"], deputy);
    assert_eq!(grant["category"], "complaint");
    let listed = chief.ok("delegations", json!({}));
    assert_eq!(listed[0]["id"], grant["id"], "newest first: {listed}");
    let officer = app();
    officer.login("futian.liu");
    assert_eq!(
        officer.err_code(
            "grant_delegation",
            json!({"deputy": deputy, "validFrom": from, "validUntil": until, "category": null, "note": ""}),
        ),
        "forbidden"
    );
    let revoked = chief.ok("revoke_delegation", json!({"delegationId": grant["id"]}));
    assert!(revoked["revoked_at"].is_string(), "{revoked}");
}

#[test]
fn a_city_admin_reads_tests_and_saves_the_routing_rules_from_the_desktop() {
    let admin = app();
    admin.login("admin");
    let view = admin.ok("routing_rules", json!({}));
    let station = admin.ok("session", json!({}))["me"]["units"]
        .as_array()
        .expect("units")
        .iter()
        .find(|u| u["tier"] == "station")
        .expect("a station")["id"]
        .clone();
    let keyword = "测试路".to_owned();
    let rules = json!({"rules": [{"name": "测试辖区", "keywords": [keyword], "to_unit": station}]});
    let first = rules["rules"][0].clone();
    let tried = admin.ok(
        "test_routing_rules",
        json!({"rules": rules, "category": "complaint", "subject": "噪音", "body": format!("{keyword}附近每晚施工")}),
    );
    assert_eq!(tried["rule_index"], 0, "{tried}");
    assert_eq!(tried["to_unit"], first["to_unit"]);
    assert_eq!(
        admin.err_code(
            "save_routing_rules",
            json!({"rules": rules, "expectedVersion": view["version"], "reason": " "}),
        ),
        "invalid_input"
    );
    let saved = admin.ok(
        "save_routing_rules",
        json!({"rules": rules, "expectedVersion": view["version"], "reason": "核对后保存"}),
    );
    assert_eq!(
        saved["version"],
        view["version"].as_i64().unwrap_or_default() + 1
    );
    // A save over the version just replaced is refused, not silently applied.
    assert_eq!(
        admin.err_code(
            "save_routing_rules",
            json!({"rules": rules, "expectedVersion": view["version"], "reason": "再存"}),
        ),
        "stale_view"
    );
    let desk = app();
    desk.login("futianfj.desk");
    assert_eq!(desk.err_code("routing_rules", json!({})), "forbidden");
}
