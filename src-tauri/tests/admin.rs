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
    assert_eq!(chief.ok("signing_key_status", json!({}))["state"], "pending");

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
        admin.err_code("revoke_signing_key", json!({"keyId": key_id, "reason": "  "})),
        "invalid_input"
    );
    let revoked = admin.ok(
        "revoke_signing_key",
        json!({"keyId": key_id, "reason": "密钥遗失"}),
    );
    assert_eq!(revoked["state"], "revoked");
    assert_eq!(chief.ok("signing_key_status", json!({}))["state"], "revoked");
}
