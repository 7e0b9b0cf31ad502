//! Witnessed audit: the chain's head signed by the server's own key, checked against a
//! head a desktop kept. Someone with the database file deletes the tail, or rewrites an
//! entry and re-hashes the whole chain — the chain alone verifies again, the kept head
//! does not. Edits to `letter_events` are caught against their audit entries.

mod support;

use jsjb_proto::AuditHeadAnswer;
use jsjb_signoff::{PublicKey, b64};
use jsjb_storage::audit::{AuditRow, entry_hash};
use serde_json::{Value, json};
use support::*;

async fn head(s: &TestServer, token: &str, known: Option<i64>) -> AuditHeadAnswer {
    let path = match known {
        Some(seq) => format!("/api/v1/audit/head?known_seq={seq}"),
        None => "/api/v1/audit/head".to_owned(),
    };
    let res = s.get(&path, Some(token)).await;
    assert_eq!(res.status(), 200);
    res.json().await.expect("head")
}

async fn verify(s: &TestServer, admin: &str, head: Option<&str>) -> Value {
    let path = match head {
        Some(h) => format!("/api/v1/audit/verify?head={h}"),
        None => "/api/v1/audit/verify".to_owned(),
    };
    let res = s.get(&path, Some(admin)).await;
    assert_eq!(res.status(), 200);
    res.json().await.expect("verification")
}

/// `jsjb-server admin audit-verify [--head …]` on the test server's files.
fn cli_verify(s: &TestServer, heads: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_jsjb-server"));
    cmd.arg("--db")
        .arg(&s.state.config.db)
        .arg("--blob-dir")
        .arg(s.dir.path().join("blobs"))
        .args(["admin", "audit-verify"]);
    for h in heads {
        cmd.args(["--head", h]);
    }
    cmd.output().expect("run cli")
}

/// A letter typed in by the admin's desk and dispatched to a branch: two events.
async fn letter_with_an_action(s: &TestServer, admin: &str) -> i64 {
    let branch = s.unit(admin, s.city, "branch", "福田分局").await;
    let letter = json!({
        "category": "help",
        "subject": "来电反映夜间施工噪音",
        "body": "每晚十一点后仍有施工噪音，影响休息，请处理。",
        "writer_name": "张三丰",
        "writer_phone": "13812345678",
    });
    let res = s.post_json("/api/v1/letters", Some(admin), &letter).await;
    assert_eq!(res.status(), 201);
    let id = res.json::<Value>().await.expect("json")["id"]
        .as_i64()
        .expect("id");
    let res = s
        .client
        .post(s.url(&format!("/api/v1/letters/{id}/actions")))
        .bearer_auth(admin)
        .header("Idempotency-Key", "witness-dispatch-1")
        .json(&json!({"expected_version": 1, "action": {"action": "dispatch", "to": branch}}))
        .send()
        .await
        .expect("action");
    assert_eq!(
        res.status(),
        200,
        "{}",
        res.text().await.unwrap_or_default()
    );
    id
}

#[tokio::test]
async fn the_head_is_signed_by_the_servers_own_key_kept_outside_the_database() {
    let s = TestServer::start().await;
    let admin = s.admin_token().await;
    problem(
        s.get("/api/v1/audit/head", None).await,
        401,
        "unauthenticated",
    )
    .await;
    problem(
        s.get("/api/v1/audit/head?known_seq=-1", Some(&admin)).await,
        400,
        "invalid_input",
    )
    .await;

    let answer = head(&s, &admin, Some(2)).await;
    let h = &answer.head;
    let key = PublicKey::from_pem(&h.public_key_pem).expect("pem");
    assert_eq!(key.fingerprint().expect("fp"), h.key_fingerprint);
    assert_eq!(h.key_fingerprint, s.state.witness.fingerprint());
    key.verify(
        &h.signed_message(),
        &b64::decode(&h.signature).expect("b64"),
    )
    .expect("the head verifies with the published key");
    let db = s.raw_db();
    let (last, second): (i64, String) = db
        .query_row(
            "SELECT (SELECT max(seq) FROM audit_log), (SELECT hash FROM audit_log WHERE seq = 2)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("chain");
    assert_eq!(h.seq, last);
    assert_eq!(
        answer.known.as_ref().map(|k| k.hash.as_str()),
        Some(second.as_str())
    );

    // The private key is in its own file, owner-only; nothing of it is in the database.
    let key_path = s.state.config.audit_key_path();
    assert!(key_path.exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_path)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let pem = std::fs::read_to_string(&key_path).expect("key file");
    let secret_line = pem.lines().nth(1).expect("base64 line").to_owned();
    let dump: i64 = db
        .query_row(
            "SELECT count(*) FROM audit_log WHERE payload LIKE '%' || ?1 || '%'",
            [&secret_line],
            |r| r.get(0),
        )
        .expect("search");
    assert_eq!(dump, 0);
}

#[tokio::test]
async fn a_deleted_tail_is_detected_against_a_kept_head() {
    let s = TestServer::start().await;
    let admin = s.admin_token().await;
    letter_with_an_action(&s, &admin).await;
    // Two more sign-ins: entries at the end that record no letter event.
    let _ = s.admin_token().await;
    let _ = s.admin_token().await;
    let kept = head(&s, &admin, None).await.head;
    let reference = kept.reference();

    // Someone with the file drops the guard and deletes the last two entries.
    let db = s.raw_db();
    db.execute_batch(&format!(
        "DROP TRIGGER audit_log_append_only_d;
         DELETE FROM audit_log WHERE seq > {};",
        kept.seq - 2
    ))
    .expect("tamper");
    drop(db);

    // The chain alone cannot tell: it is a shorter, perfectly linked chain.
    let plain = verify(&s, &admin, None).await;
    assert_eq!(plain["ok"], true, "{plain}");

    // Against the head a desktop kept, it can.
    let v = verify(&s, &admin, Some(&reference)).await;
    assert_eq!(v["ok"], false, "{v}");
    let reason = v["heads"][0]["reason"].as_str().expect("reason");
    assert!(reason.starts_with("truncated"), "{reason}");

    // What the desktop asks: the server has no entry at the kept seq any more.
    let answer = head(&s, &admin, Some(kept.seq)).await;
    assert!(answer.head.seq < kept.seq);
    assert_eq!(answer.known, None);

    let out = cli_verify(&s, &[&reference]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("truncated"), "{stderr}");
}

#[tokio::test]
async fn a_rewritten_and_rehashed_chain_is_detected_against_a_kept_head() {
    let s = TestServer::start().await;
    let admin = s.admin_token().await;
    letter_with_an_action(&s, &admin).await;
    let kept = head(&s, &admin, None).await.head;

    // Rewrite entry 2 (the admin's creation) and recompute every hash after it, as an
    // attacker who read the module documentation would.
    let db = s.raw_db();
    db.execute_batch(
        "DROP TRIGGER audit_log_append_only_u;
         UPDATE audit_log SET payload = '{\"display_name\":\"mallory\",\"roles\":[\"admin\"],\"username\":\"mallory\"}' WHERE seq = 2;",
    )
    .expect("tamper");
    let rows: Vec<AuditRow> = db
        .prepare(
            "SELECT seq, at, actor, actor_user_id, actor_unit_id, action, letter_id, unit_id, user_id, payload, prev_hash, hash
             FROM audit_log ORDER BY seq",
        )
        .expect("prepare")
        .query_map([], |r| {
            Ok(AuditRow {
                seq: r.get(0)?,
                at: r.get(1)?,
                actor: r.get(2)?,
                actor_user: r.get(3)?,
                actor_unit: r.get(4)?,
                action: r.get(5)?,
                letter_id: r.get(6)?,
                unit_id: r.get(7)?,
                user_id: r.get(8)?,
                payload: r.get(9)?,
                prev_hash: r.get(10)?,
                hash: r.get(11)?,
            })
        })
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    let mut prev = jsjb_storage::audit::GENESIS.to_owned();
    for mut row in rows {
        row.prev_hash = prev;
        row.hash = entry_hash(&row);
        db.execute(
            "UPDATE audit_log SET prev_hash = ?2, hash = ?3 WHERE seq = ?1",
            rusqlite::params![row.seq, row.prev_hash, row.hash],
        )
        .expect("re-hash");
        prev = row.hash;
    }
    drop(db);

    let plain = verify(&s, &admin, None).await;
    assert_eq!(plain["ok"], true, "the re-hashed chain links up: {plain}");

    let v = verify(&s, &admin, Some(&kept.reference())).await;
    assert_eq!(v["ok"], false, "{v}");
    let reason = v["heads"][0]["reason"].as_str().expect("reason");
    assert!(reason.starts_with("forked"), "{reason}");

    let answer = head(&s, &admin, Some(kept.seq)).await;
    let known = answer.known.expect("the entry is there");
    assert_ne!(
        known.hash, kept.hash,
        "the desktop sees another entry at its seq"
    );

    let out = cli_verify(&s, &[&kept.reference()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("forked"), "{stderr}");

    // A malformed head is refused, not treated as "no head".
    problem(
        s.get("/api/v1/audit/verify?head=12:nothex", Some(&admin))
            .await,
        400,
        "invalid_input",
    )
    .await;
}

#[tokio::test]
async fn an_edited_letter_event_fails_audit_verify() {
    let s = TestServer::start().await;
    let admin = s.admin_token().await;
    let id = letter_with_an_action(&s, &admin).await;
    let v = verify(&s, &admin, None).await;
    assert_eq!(v["ok"], true, "{v}");
    assert!(v["events"].as_u64().expect("events") >= 2, "{v}");

    // The dispatch is redirected to another unit, under the chain.
    let db = s.raw_db();
    let original: String = db
        .query_row(
            "SELECT payload FROM letter_events WHERE letter_id = ?1 AND seq = 2",
            [id],
            |r| r.get(0),
        )
        .expect("event");
    db.execute_batch(&format!(
        "DROP TRIGGER letter_events_append_only_u;
         UPDATE letter_events SET payload = json_set(payload, '$.note', '改过的') WHERE letter_id = {id} AND seq = 2;"
    ))
    .expect("tamper");
    let v = verify(&s, &admin, None).await;
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["first_bad_event"]["letter_id"], id, "{v}");
    assert_eq!(v["first_bad_event"]["seq"], 2, "{v}");
    let out = cli_verify(&s, &[]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!("letter {id} event 2")),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Put back: verifies again. Then the receipt (event 1) is moved to another unit.
    db.execute(
        "UPDATE letter_events SET payload = ?2 WHERE letter_id = ?1 AND seq = 2",
        rusqlite::params![id, original],
    )
    .expect("restore");
    assert_eq!(verify(&s, &admin, None).await["ok"], true);
    db.execute(
        "UPDATE letter_events SET at = '2020-01-01T00:00:00.000000Z' WHERE letter_id = ?1 AND seq = 1",
        [id],
    )
    .expect("tamper receipt");
    let v = verify(&s, &admin, None).await;
    assert_eq!(v["first_bad_event"]["seq"], 1, "{v}");
    db.execute(
        "UPDATE letter_events SET at = (SELECT at FROM audit_log WHERE letter_id = ?1 AND action = 'letter.receive') WHERE letter_id = ?1 AND seq = 1",
        [id],
    )
    .expect("restore receipt");
    assert_eq!(verify(&s, &admin, None).await["ok"], true);

    // An event deleted outright is missed by its audit entry.
    db.execute_batch(&format!(
        "DROP TRIGGER letter_events_append_only_d;
         DELETE FROM letter_events WHERE letter_id = {id} AND seq = 2;"
    ))
    .expect("delete");
    let v = verify(&s, &admin, None).await;
    assert_eq!(v["ok"], false, "{v}");
    let reason = v["first_bad_event"]["reason"].as_str().expect("reason");
    assert!(reason.contains("deleted"), "{reason}");
}
