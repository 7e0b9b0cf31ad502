//! The admin CLI for scripting, on a real database file through the real binary: the
//! same rules as the admin API (reasons required, the tree's rules, one chief per unit),
//! JSON out for scripts, and every change in the audit chain.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_jsjb-server");

fn cli(db: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--db")
        .arg(db)
        .arg("--blob-dir")
        .arg(db.with_extension("blobs"))
        .args(["--argon2-memory-kib", "256"])
        .arg("admin")
        .args(args)
        .env("JSJB_NEW_PASSWORD", "cli-password-2026")
        .env("RUST_LOG", "warn")
        .output()
        .expect("run jsjb-server")
}

/// Runs and expects success; the JSON it printed (the last JSON document on stdout).
fn ok(db: &Path, args: &[&str]) -> Value {
    let out = cli(db, args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{args:?}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let start = stdout.find(['{', '[']).unwrap_or(0);
    serde_json::from_str(&stdout[start..]).unwrap_or(Value::Null)
}

fn refused(db: &Path, args: &[&str]) -> String {
    let out = cli(db, args);
    assert!(!out.status.success(), "{args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn id(v: &Value) -> String {
    v["id"].as_i64().expect("id").to_string()
}

#[test]
fn the_admin_cli_runs_the_tree_and_the_accounts_with_the_apis_rules() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("jsjb.sqlite3");
    let city = id(&ok(
        &db,
        &["create-unit", "--name", "深圳市公安局", "--tier", "city"],
    ));
    let east = id(&ok(
        &db,
        &[
            "create-unit",
            "--name",
            "东部分局",
            "--tier",
            "branch",
            "--parent",
            &city,
        ],
    ));
    let west = id(&ok(
        &db,
        &[
            "create-unit",
            "--name",
            "西部分局",
            "--tier",
            "branch",
            "--parent",
            &city,
        ],
    ));
    let station = id(&ok(
        &db,
        &[
            "create-unit",
            "--name",
            "沙头角派出所",
            "--tier",
            "station",
            "--parent",
            &east,
        ],
    ));
    let chief = id(&ok(
        &db,
        &[
            "create-user",
            "--username",
            "stj.chief",
            "--display-name",
            "陈所长",
            "--unit",
            &station,
            "--role",
            "chief",
        ],
    ));
    let officer = id(&ok(
        &db,
        &[
            "create-user",
            "--username",
            "stj.he",
            "--display-name",
            "何警官",
            "--unit",
            &station,
            "--role",
            "officer",
        ],
    ));

    // A reason is required, as in the console.
    assert!(
        refused(
            &db,
            &[
                "move-unit",
                "--unit",
                &station,
                "--parent",
                &west,
                "--reason",
                " "
            ]
        )
        .contains("reason")
    );
    let moved = ok(
        &db,
        &[
            "move-unit",
            "--unit",
            &station,
            "--parent",
            &west,
            "--reason",
            "辖区调整",
        ],
    );
    assert_eq!(
        moved["parent_id"].as_i64().map(|p| p.to_string()),
        Some(west.clone())
    );
    // One chief per unit.
    assert!(
        refused(
            &db,
            &[
                "update-user",
                "--user",
                &officer,
                "--role",
                "chief",
                "--reason",
                "任命"
            ]
        )
        .contains("chief")
    );
    let changed = ok(
        &db,
        &[
            "update-user",
            "--user",
            &officer,
            "--role",
            "officer,dispatcher",
            "--display-name",
            "何志强",
            "--reason",
            "岗位调整",
        ],
    );
    assert_eq!(changed["user"]["display_name"], "何志强");
    assert_eq!(
        changed["user"]["roles"],
        serde_json::json!(["dispatcher", "officer"])
    );
    // The empty branch goes; the station, with people in it, does not.
    assert!(
        refused(
            &db,
            &[
                "set-unit-active",
                "--unit",
                &station,
                "--active",
                "false",
                "--reason",
                "撤并"
            ]
        )
        .contains("active users")
    );
    let off = ok(
        &db,
        &[
            "set-unit-active",
            "--unit",
            &east,
            "--active",
            "false",
            "--reason",
            "撤并",
        ],
    );
    assert_eq!(off["active"], false);
    ok(
        &db,
        &[
            "set-user-active",
            "--user",
            &chief,
            "--active",
            "false",
            "--reason",
            "调离",
        ],
    );
    assert_eq!(
        ok(
            &db,
            &[
                "revoke-sessions",
                "--user",
                &officer,
                "--reason",
                "工作站遗失"
            ]
        )["sessions_revoked"],
        0
    );
    ok(
        &db,
        &[
            "rename-unit",
            "--unit",
            &station,
            "--name",
            "沙头角街道派出所",
            "--reason",
            "更名",
        ],
    );

    let units = ok(&db, &["list-units"]);
    let names: Vec<&str> = units
        .as_array()
        .expect("units")
        .iter()
        .filter_map(|u| u["name"].as_str())
        .collect();
    assert!(names.contains(&"沙头角街道派出所"), "{names:?}");
    let users = ok(&db, &["list-users"]);
    let chief_row = users
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["username"] == "stj.chief")
        .cloned()
        .expect("chief");
    assert_eq!(chief_row["active"], false);
    assert_eq!(ok(&db, &["list-keys"]), serde_json::json!([]));
    // Every change is in an intact audit chain.
    let verified = ok(&db, &["audit-verify"]);
    assert_eq!(verified["ok"], true, "{verified}");
}
