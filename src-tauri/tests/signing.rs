//! The chief's sign-off through the real commands (mock runtime) against the REAL
//! server in-process: enrol a key, two admins activate it over HTTP (dual control), sign a form that
//! an officer brought to approval, the server accepts it, and the desktop's verdict is 签名有效;
//! the export goes only to the folder the user picked; wrong PINs are refused and slowed
//! down, parallel ones each count, and an edited count locks the key. Same harness as
//! `ipc.rs` (`support/`).

use std::path::PathBuf;

use jsjb_server::demo::DEMO_PASSWORD;
use serde_json::{Value, json};

mod support;
use support::*;

/// What the station's officer does over HTTP: signs for the letter, contacts the writer,
/// gives first feedback and submits the feedback form — the form now waits for the chief.
fn officer_completes(officer: &str, id: i64) {
    let base = format!("{}/api/v1", server().url());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let http = reqwest::Client::new();
        let login: Value = http
            .post(format!("{base}/auth/login"))
            .json(&json!({"username": officer, "password": DEMO_PASSWORD}))
            .send()
            .await
            .expect("officer login")
            .json()
            .await
            .expect("login json");
        let token = login["token"].as_str().expect("token").to_owned();
        let now = chrono::Utc::now().to_rfc3339();
        let actions = [
            json!({"action": "sign_for"}),
            json!({"action": "record_contact", "method": "phone", "outcome": "reached",
                   "contacted_at": now, "note": ""}),
            json!({"action": "give_first_feedback", "text": "已收到您的来信，民警正在核实处理。"}),
            json!({"action": "submit_feedback_form", "summary": "民警到场核实，商铺已整改。",
                   "result": "已解决", "reply": "您反映的噪音问题已处理，商铺承诺不再深夜营业。"}),
        ];
        for (i, action) in actions.iter().enumerate() {
            let letter: Value = http
                .get(format!("{base}/letters/{id}"))
                .bearer_auth(&token)
                .send()
                .await
                .expect("get letter")
                .json()
                .await
                .expect("letter json");
            let res = http
                .post(format!("{base}/letters/{id}/actions"))
                .bearer_auth(&token)
                .header("Idempotency-Key", format!("test-officer-{id}-{i}"))
                .json(&json!({"expected_version": letter["version"], "action": action}))
                .send()
                .await
                .expect("act");
            let status = res.status();
            assert!(
                status.is_success(),
                "{action}: {status} {}",
                res.text().await.unwrap_or_default()
            );
        }
    })
}

// ---------------------------------------------------------------------------------------
// The sign-off.

/// A tiny real PNG (1×1, RGBA): what the signature pad exports, in miniature.
const PAD_PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x60, 0x60, 0x60, 0xf8,
    0x0f, 0x00, 0x01, 0x04, 0x01, 0x00, 0x5f, 0xe5, 0xc3, 0x4b, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

fn pad_b64() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(PAD_PNG)
}

/// What the admins do in the admin console: two of them (`admin`, `admin2`, independent
/// of each other) approve a pending key, which is active only after the second.
fn admin_activates(key_id: i64) {
    let base = format!("{}/api/v1", server().url());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let http = reqwest::Client::new();
        for (admin, expected) in [("admin", "pending"), ("admin2", "active")] {
            let login: Value = http
                .post(format!("{base}/auth/login"))
                .json(&json!({"username": admin, "password": DEMO_PASSWORD}))
                .send()
                .await
                .expect("admin login")
                .json()
                .await
                .expect("login json");
            let token = login["token"].as_str().expect("token").to_owned();
            let res = http
                .post(format!("{base}/keys/{key_id}/activate"))
                .bearer_auth(&token)
                .send()
                .await
                .expect("activate");
            assert!(res.status().is_success(), "activate: {}", res.status());
            let body: Value = res.json().await.expect("activation json");
            assert_eq!(body["key"]["state"], expected, "{admin}: {body}");
        }
    })
}

/// The chief's letters waiting for the signature, as the 待签批 queue lists them.
fn awaiting(app: &TestApp) -> Vec<(i64, u64)> {
    app.inbox(json!({"states": ["awaiting_approval"], "limit": 500}))["page"]["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r["id"].as_i64().expect("id"),
                r["version"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

#[test]
fn a_chief_enrols_an_admin_activates_and_the_signed_form_is_accepted_and_valid() {
    let app = app();
    app.login("futian.chief");
    app.wait_synced();

    let none = app.ok("signing_key_status", json!({}));
    assert_eq!(none["state"], "none");
    assert_eq!(none["maySign"], true);
    assert_eq!(none["pinMinLength"], 6);

    assert_eq!(
        app.err_code("enrol_signing_key", json!({"pin": "12345"})),
        "pin_too_short"
    );
    let pending = app.ok("enrol_signing_key", json!({"pin": "246810"}));
    assert_eq!(pending["state"], "pending");
    let fingerprint = pending["fingerprint"]
        .as_str()
        .expect("fingerprint")
        .to_owned();
    assert_eq!(fingerprint.len(), 64, "SM3 hex");
    let key_id = pending["keyId"].as_i64().expect("key id");
    // The private key is on this workstation, encrypted; never in the clear; the files
    // are the OS user's only.
    let key_files: Vec<_> = std::fs::read_dir(app.data_dir.join("signing"))
        .expect("signing folder")
        .map(|e| e.expect("entry").path())
        .collect();
    let key_file = key_files
        .iter()
        .find(|p| p.to_string_lossy().ends_with(".key.json"))
        .expect("a key file");
    let text = std::fs::read_to_string(key_file).expect("key file");
    assert!(
        text.contains("argon2id") && !text.contains("PRIVATE KEY"),
        "{text}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for file in &key_files {
            let mode = std::fs::metadata(file).expect("meta").permissions().mode() & 0o777;
            if !file.to_string_lossy().ends_with(".registered.json") {
                assert_eq!(mode, 0o600, "{}", file.display());
            }
        }
    }
    // A second enrolment while one is pending is refused.
    assert_eq!(
        app.err_code("enrol_signing_key", json!({"pin": "135790"})),
        "key_file_exists"
    );

    let station = app.ok("session", json!({}))["me"]["unit_id"]
        .as_i64()
        .expect("unit");
    let letter = dispatch_new_letter("futianfj.desk", station, "福田：噪音扰民");
    officer_completes("futian.liu", letter);
    wait_for("the form in the 待签批 queue", || {
        app.ok("sync_now", json!({}));
        awaiting(&app)
            .iter()
            .any(|(id, _)| *id == letter)
            .then_some(())
    });
    let version = app.detail(letter)["detail"]["status"]["version"]
        .as_u64()
        .expect("version");

    // Not active yet: refused before the PIN is even asked.
    assert_eq!(
        app.err_code(
            "sign_feedback_form",
            json!({"letterId": letter, "expectedVersion": version, "decision": "approve",
                   "opinion": "", "pin": "246810", "handwritingPngBase64": pad_b64()})
        ),
        "key_not_active"
    );
    admin_activates(key_id);
    let active = app.ok("signing_key_status", json!({}));
    assert_eq!(active["state"], "active");
    assert_eq!(active["fingerprint"], fingerprint.as_str());

    // A handwriting PNG that is cut short, or claims a huge canvas, is refused before
    // anything is built or signed over it.
    {
        use base64::Engine as _;
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        let cut = &PAD_PNG[..PAD_PNG.len() - 20];
        let mut huge = PAD_PNG.to_vec();
        // IHDR width and height (bytes 16..24) set to 60000 × 60000, with its CRC fixed:
        // the cheapest lie a PNG can tell about its size.
        huge[16..24].copy_from_slice(&[0, 0, 0xea, 0x60, 0, 0, 0xea, 0x60]);
        let crc = crc32(&huge[12..29]);
        huge[29..33].copy_from_slice(&crc.to_be_bytes());
        for bad in [b64(cut), b64(&huge)] {
            assert_eq!(
                app.err_code(
                    "signoff_preview",
                    json!({"letterId": letter, "decision": "approve", "opinion": "",
                           "handwritingPngBase64": bad})
                ),
                "invalid_input"
            );
        }
    }

    // The preview is exactly what is signed: the letter, the decision, the image's hash.
    let preview = app.ok(
        "signoff_preview",
        json!({"letterId": letter, "decision": "approve", "opinion": "同意办结。",
               "handwritingPngBase64": pad_b64()}),
    );
    assert_eq!(preview["form"]["letter"]["id"], letter);
    assert_eq!(preview["form"]["letter"]["version"], version);
    assert_eq!(preview["form"]["decision"], "approve");
    assert_eq!(preview["form"]["signer"]["role"], "chief");
    let canonical = preview["canonical"].as_str().expect("canonical");
    assert!(canonical.starts_with('{') && canonical.contains("jsjb-feedback-form/1"));
    assert_eq!(preview["formSm3"].as_str().expect("sm3").len(), 64);

    // Wrong PIN: refused, nothing queued.
    assert_eq!(
        app.err_code(
            "sign_feedback_form",
            json!({"letterId": letter, "expectedVersion": version, "decision": "approve",
                   "opinion": "同意办结。", "pin": "000000", "handwritingPngBase64": pad_b64()})
        ),
        "wrong_pin"
    );
    assert_eq!(app.ok("sync_status", json!({}))["pending_actions"], 0);

    let entry = app.ok(
        "sign_feedback_form",
        json!({"letterId": letter, "expectedVersion": version, "decision": "approve",
               "opinion": "同意办结。", "pin": "246810", "handwritingPngBase64": pad_b64()}),
    );
    assert_eq!(entry["letter_id"], letter);
    app.wait_synced();
    assert!(
        app.ok("failed_actions", json!({}))
            .as_array()
            .expect("list")
            .is_empty(),
        "the server accepted the signed approval"
    );
    let forms = wait_for("the signed form synced", || {
        let forms = app.ok("signed_form_status", json!({"letterId": letter}));
        forms
            .as_array()
            .expect("forms")
            .iter()
            .any(|f| f["letterVersion"] == version)
            .then_some(forms)
    });
    let mine = forms
        .as_array()
        .expect("forms")
        .iter()
        .find(|f| f["letterVersion"] == version)
        .expect("the new form");
    assert_eq!(mine["verdict"], "signature_valid", "{mine}");
    assert_eq!(mine["decision"], "approve");
    assert_eq!(mine["keyFingerprint"], fingerprint.as_str());
    assert!(mine["onBehalfOf"].is_null());
    assert!(mine["handwritingPngBase64"].is_string());
    assert_eq!(mine["form"]["opinion"], "同意办结。");

    // The export: the bundle anyone can verify with OpenSSL, and the PDF when the
    // server has a CJK font — into the folder the user picked, whatever the webview
    // says: a path it sends is not used.
    let elsewhere = tempfile::tempdir().expect("a folder the webview names");
    let seq = mine["seq"].as_u64().expect("seq");
    let export = app.ok(
        "export_signed_form",
        json!({"letterId": letter, "seq": seq, "dialogTitle": "导出",
               "folder": elsewhere.path().display().to_string()}),
    );
    let folder = PathBuf::from(export["folder"].as_str().expect("folder"));
    let picked = export_folder(&app.data_dir);
    assert_eq!(folder.parent(), Some(picked.as_path()), "{folder:?}");
    assert_eq!(
        std::fs::read_dir(elsewhere.path()).expect("list").count(),
        0,
        "nothing written where the webview said"
    );
    // A second export never writes into the first one's folder.
    let again = app.ok(
        "export_signed_form",
        json!({"letterId": letter, "seq": seq, "dialogTitle": "导出"}),
    );
    assert_ne!(again["folder"], export["folder"]);
    let readme = std::fs::read_to_string(folder.join("README.txt")).expect("readme");
    assert!(readme.contains(fingerprint.as_str()), "{readme}");
    assert!(readme.contains("请将此指纹与本局公布的签名密钥清单核对"));
    for name in [
        "form.json",
        "form.sig.der",
        "signer.pub.pem",
        "handwriting.png",
        "README.txt",
    ] {
        assert!(folder.join(name).is_file(), "{name} exported");
    }
    let bytes = std::fs::read(folder.join("form.json")).expect("form.json");
    assert_eq!(
        jsjb_signoff::sm3_hex(&bytes),
        mine["formSm3"].as_str().expect("sm3"),
        "the exported bytes are the signed bytes"
    );
    // With OpenSSL 3 at hand, the documented command verifies the export.
    if let Ok(out) = std::process::Command::new("openssl")
        .args(jsjb_signoff::export::OPENSSL_VERIFY.split(' ').skip(1))
        .current_dir(&folder)
        .output()
    {
        assert!(
            out.status.success(),
            "openssl: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn signing_needs_the_pin_and_wrong_pins_are_slowed_down() {
    let app = app();
    app.login("huafu.chief");
    app.wait_synced();
    let pending = app.ok("enrol_signing_key", json!({"pin": "864209"}));
    admin_activates(pending["keyId"].as_i64().expect("key id"));
    // The chief is told what happened to their key (the UI shows it after sign-in),
    // until they acknowledge it.
    let notices = app.ok("account_notices", json!({}));
    let notices = notices.as_array().expect("notices");
    let kinds: Vec<&str> = notices.iter().filter_map(|n| n["kind"].as_str()).collect();
    assert_eq!(kinds, ["key_registered", "key_activated"], "{notices:?}");
    assert!(
        notices
            .iter()
            .all(|n| n["key_id"] == pending["keyId"] && n["fingerprint"] == pending["fingerprint"])
    );
    let last = notices.last().and_then(|n| n["id"].as_i64()).expect("id");
    app.ok("acknowledge_notices", json!({"upTo": last}));
    assert_eq!(app.ok("account_notices", json!({})), json!([]));
    let station = app.ok("session", json!({}))["me"]["unit_id"]
        .as_i64()
        .expect("unit");
    let letter = dispatch_new_letter("futianfj.desk", station, "华富：求助");
    officer_completes("huafu.ma", letter);
    wait_for("the form in the 待签批 queue", || {
        app.ok("sync_now", json!({}));
        awaiting(&app)
            .iter()
            .any(|(id, _)| *id == letter)
            .then_some(())
    });
    let version = app.detail(letter)["detail"]["status"]["version"]
        .as_u64()
        .expect("version");
    let sign = |pin: &str| {
        app.invoke(
            "sign_feedback_form",
            json!({"letterId": letter, "expectedVersion": version, "decision": "send_back",
                   "opinion": "请补充回访记录。", "pin": pin, "handwritingPngBase64": pad_b64()}),
        )
    };
    // Two wrong PINs at the same moment (two windows, a double click): both count.
    std::thread::scope(|scope| {
        let tries: Vec<_> = ["111111", "222222"]
            .into_iter()
            .map(|pin| {
                let window = app.main.clone();
                scope.spawn(move || {
                    invoke_on(
                        &window,
                        "sign_feedback_form",
                        json!({"letterId": letter, "expectedVersion": version,
                               "decision": "send_back", "opinion": "请补充回访记录。",
                               "pin": pin, "handwritingPngBase64": pad_b64()}),
                    )
                })
            })
            .collect();
        for t in tries {
            let refused = t
                .join()
                .expect("thread")
                .expect_err("a wrong PIN is refused");
            assert_eq!(refused["code"], "wrong_pin", "{refused}");
        }
    });
    let last = sign("111111").expect_err("a wrong PIN is refused");
    assert_eq!(last["code"], "wrong_pin", "{last}");
    // After the free attempts, the next try must wait.
    assert!(last["retryAfterSecs"].as_u64().unwrap_or(0) >= 29, "{last}");
    let locked = sign("864209").expect_err("even the right PIN waits");
    assert_eq!(locked["code"], "pin_locked", "{locked}");
    assert!(locked["retryAfterSecs"].as_u64().unwrap_or(0) > 0);
    let status = app.ok("signing_key_status", json!({}));
    assert!(status["pinWaitSecs"].as_u64().unwrap_or(0) > 0, "{status}");
    // Nothing was queued.
    assert_eq!(app.ok("sync_status", json!({}))["pending_actions"], 0);

    // The count set back by hand in the key file: not reset, but locked for a day.
    let key_file = std::fs::read_dir(app.data_dir.join("signing"))
        .expect("signing folder")
        .map(|e| e.expect("entry").path())
        .find(|p| p.to_string_lossy().ends_with(".key.json"))
        .expect("a key file");
    let mut json: Value =
        serde_json::from_slice(&std::fs::read(&key_file).expect("read")).expect("json");
    json["failures"] = 0.into();
    json["locked_until"] = Value::Null;
    std::fs::write(&key_file, serde_json::to_vec_pretty(&json).expect("json")).expect("edit");
    let tampered = sign("864209").expect_err("the right PIN does not open an edited file");
    assert_eq!(tampered["code"], "key_file_tampered", "{tampered}");
    assert_eq!(tampered["retryAfterSecs"], 24 * 3600);
    let status = app.ok("signing_key_status", json!({}));
    assert!(
        status["pinWaitSecs"].as_u64().unwrap_or(0) > 23 * 3600,
        "{status}"
    );
    assert_eq!(app.ok("sync_status", json!({}))["pending_actions"], 0);
}

/// PNG's CRC-32 (ISO 3309) of a chunk's type and data.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffff_u32;
    for byte in bytes {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
