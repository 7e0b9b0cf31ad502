//! The chief's signed sign-off over real HTTP: a signed form verifies (in Rust and with
//! OpenSSL), tampering is detected, and every signature that is not the handling
//! unit's chief's (or a valid delegate's), by an active key, over the current version,
//! is refused with its own code.

mod support;

use std::process::Command;

use chrono::{DateTime, Duration, Utc};
use jsjb_core::letter::FormDecision;
use jsjb_core::org::{UnitId, UserId};
use jsjb_core::rules::Rules;
use jsjb_proto::{LetterRecord, SignatureEnvelope};
use jsjb_server::time::TimeSource;
use jsjb_signoff::desk::{self, Decision, Directory, SignerRef};
use jsjb_signoff::handwriting::sample_png;
use jsjb_signoff::{Signer, SoftwareSigner};
use serde_json::{Value, json};
use support::*;

struct City {
    s: TestServer,
    admin: String,
    /// A second admin, made with the CLI: independent of `admin`.
    admin2: String,
    city_desk: String,
    branch_desk: String,
    branch_chief: String,
    officer_a: String,
    chief_a: String,
    deputy_a: String,
    chief_b: String,
    branch: i64,
    station_a: i64,
    chief_a_id: i64,
    deputy_a_id: i64,
}

async fn city() -> City {
    let s = TestServer::start().await;
    let admin = s.admin_token().await;
    let branch = s.unit(&admin, s.city, "branch", "福田分局").await;
    let station_a = s.unit(&admin, branch, "station", "福田派出所").await;
    let station_b = s.unit(&admin, branch, "station", "华富派出所").await;
    s.user(&admin, s.city, "city.desk", &["dispatcher"]).await;
    s.user(&admin, branch, "branch.desk", &["dispatcher"]).await;
    s.user(&admin, branch, "branch.chief", &["chief"]).await;
    s.user(&admin, station_a, "a.officer", &["officer"]).await;
    let chief_a_id = s.user(&admin, station_a, "a.chief", &["chief"]).await;
    let deputy_a_id = s.user(&admin, station_a, "a.deputy", &["officer"]).await;
    s.user(&admin, station_b, "b.chief", &["chief"]).await;
    s.cli_user(s.city, "admin2", &[jsjb_core::org::Role::Admin])
        .await;
    City {
        admin2: s.token("admin2", PASSWORD).await,
        city_desk: s.token("city.desk", PASSWORD).await,
        branch_desk: s.token("branch.desk", PASSWORD).await,
        branch_chief: s.token("branch.chief", PASSWORD).await,
        officer_a: s.token("a.officer", PASSWORD).await,
        chief_a: s.token("a.chief", PASSWORD).await,
        deputy_a: s.token("a.deputy", PASSWORD).await,
        chief_b: s.token("b.chief", PASSWORD).await,
        admin,
        s,
        branch,
        station_a,
        chief_a_id,
        deputy_a_id,
    }
}

fn key_n() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    format!("signoff-key-{}", N.fetch_add(1, Ordering::Relaxed))
}

impl City {
    async fn post(&self, token: &str, path: &str, body: &Value) -> reqwest::Response {
        self.s.post_json(path, Some(token), body).await
    }

    async fn ok(&self, token: &str, id: i64, action: Value) -> Value {
        let res = self.act(token, id, action.clone(), None).await;
        let status = res.status();
        let body: Value = res.json().await.expect("json");
        assert_eq!(status, 200, "{action} → {body}");
        body["letter"].clone()
    }

    async fn letter(&self, token: &str, id: i64) -> LetterRecord {
        let res = self
            .s
            .get(&format!("/api/v1/letters/{id}"), Some(token))
            .await;
        assert_eq!(res.status(), 200);
        res.json().await.expect("letter")
    }

    async fn act(
        &self,
        token: &str,
        id: i64,
        action: Value,
        signature: Option<&SignatureEnvelope>,
    ) -> reqwest::Response {
        let version = self.letter(&self.s.admin_token().await, id).await.version;
        self.s
            .client
            .post(self.s.url(&format!("/api/v1/letters/{id}/actions")))
            .bearer_auth(token)
            .header("Idempotency-Key", key_n())
            .json(&json!({"expected_version": version, "action": action, "signature": signature}))
            .send()
            .await
            .expect("request")
    }

    /// A letter at station A, its feedback form waiting for the chief.
    async fn awaiting_approval(&self) -> i64 {
        let res = self.s.post_public_letter(&letter_json(), vec![]).await;
        assert_eq!(res.status(), 201);
        let page: Value = self
            .s
            .get("/api/v1/sync?cursor=0&limit=500", Some(&self.city_desk))
            .await
            .json()
            .await
            .expect("page");
        let id = page["changes"]
            .as_array()
            .and_then(|c| c.last())
            .and_then(|c| c["letter"]["id"].as_i64())
            .expect("id");
        self.ok(
            &self.city_desk,
            id,
            json!({"action": "dispatch", "to": self.branch}),
        )
        .await;
        self.ok(
            &self.branch_desk,
            id,
            json!({"action": "dispatch", "to": self.station_a}),
        )
        .await;
        self.ok(&self.officer_a, id, json!({"action": "sign_for"}))
            .await;
        let now = self.s.state.time.now();
        self.ok(
            &self.officer_a,
            id,
            json!({"action": "record_contact", "method": "phone", "outcome": "reached", "contacted_at": now}),
        )
        .await;
        self.ok(
            &self.officer_a,
            id,
            json!({"action": "give_first_feedback", "text": "已受理"}),
        )
        .await;
        self.ok(
            &self.officer_a,
            id,
            json!({"action": "submit_feedback_form", "summary": "已核查处理", "result": "已解决", "reply": "您反映的问题已处理"}),
        )
        .await;
        id
    }

    /// Enrols a key for `token`'s user (pending), and activates it when asked.
    async fn enrol(&self, token: &str, activate: bool) -> (SoftwareSigner, i64) {
        let signer = SoftwareSigner::generate().expect("key");
        let res = self
            .post(
                token,
                "/api/v1/keys",
                &json!({"public_key_pem": signer.public_key().to_pem().expect("pem"), "label": "desk-1"}),
            )
            .await;
        let status = res.status();
        let body: Value = res.json().await.expect("json");
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["state"], "pending");
        let id = body["id"].as_i64().expect("id");
        if activate {
            self.activate(id).await;
        }
        (signer, id)
    }

    /// Two independent admins approve the key (dual control): active.
    async fn activate(&self, id: i64) {
        for (n, admin) in [&self.admin, &self.admin2].into_iter().enumerate() {
            let res = self
                .post(admin, &format!("/api/v1/keys/{id}/activate"), &json!({}))
                .await;
            let status = res.status();
            let body: Value = res.json().await.expect("json");
            assert_eq!(status, 200, "{body}");
            let expected = if n == 0 { "pending" } else { "active" };
            assert_eq!(body["key"]["state"], expected, "{body}");
        }
    }

    async fn directory(&self) -> Directory {
        // A fresh session: tests move the clock past session lifetimes.
        let token = self.s.admin_token().await;
        let users: Vec<jsjb_proto::UserSummary> = self
            .s
            .get("/api/v1/directory", Some(&token))
            .await
            .json()
            .await
            .expect("dir");
        let me: jsjb_proto::Me = self
            .s
            .get("/api/v1/me", Some(&token))
            .await
            .json()
            .await
            .expect("me");
        Directory {
            units: me.units.into_iter().map(|u| (u.id, u.name)).collect(),
            users: users.into_iter().map(|u| (u.id, u.display_name)).collect(),
        }
    }

    /// What the workstation does: builds the form from the letter as it has it, signs.
    #[allow(clippy::too_many_arguments)]
    async fn sign(
        &self,
        letter: &LetterRecord,
        user: i64,
        delegation: Option<(i64, i64)>,
        signer: &dyn Signer,
        key_id: i64,
        decision: FormDecision,
        opinion: &str,
        png: &[u8],
        at: DateTime<Utc>,
    ) -> SignatureEnvelope {
        let form = desk::form_of(
            letter,
            &self.directory().await,
            &Rules::shenzhen(),
            SignerRef {
                user: UserId(user),
                delegation: delegation.map(|(g, c)| (g, UserId(c))),
            },
            &Decision {
                decision,
                opinion: opinion.to_owned(),
            },
            png,
            at,
        )
        .expect("form");
        desk::envelope(signer, key_id, &form, png).expect("envelope")
    }

    async fn approve(
        &self,
        token: &str,
        id: i64,
        envelope: &SignatureEnvelope,
    ) -> reqwest::Response {
        self.act(token, id, json!({"action": "approve_feedback_form", "decision": "approve", "opinion": "同意办结"}), Some(envelope)).await
    }
}

#[tokio::test]
async fn a_signed_approval_closes_the_case_and_verifies_in_rust_and_openssl() {
    let c = city().await;
    let id = c.awaiting_approval().await;
    let (signer, key) = c.enrol(&c.chief_a, true).await;
    let letter = c.letter(&c.chief_a, id).await;
    let png = sample_png(1);
    let env = c
        .sign(
            &letter,
            c.chief_a_id,
            None,
            &signer,
            key,
            FormDecision::Approve,
            "同意办结",
            &png,
            c.s.time.now(),
        )
        .await;

    // Without a signature: refused, as before.
    problem(
        c.act(
            &c.chief_a,
            id,
            json!({"action": "approve_feedback_form", "decision": "approve"}),
            None,
        )
        .await,
        422,
        "signature_required",
    )
    .await;

    let res = c.approve(&c.chief_a, id, &env).await;
    let status = res.status();
    let body: Value = res.json().await.expect("json");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["letter"]["state"], "closed");
    let forms = body["letter"]["signed_forms"]
        .as_array()
        .expect("signed forms");
    assert_eq!(forms.len(), 1);
    assert_eq!(forms[0]["key_id"], key);
    assert_eq!(forms[0]["on_behalf_of"], Value::Null);

    // Synced to desktops with the letter, and exported for offline verification.
    let export: Value =
        c.s.get(
            &format!("/api/v1/letters/{id}/signed-form"),
            Some(&c.city_desk),
        )
        .await
        .json()
        .await
        .expect("export");
    assert_eq!(export["verdict"], "signature_valid", "{export}");
    let bytes = jsjb_signoff::b64::decode(export["form_b64"].as_str().expect("form")).expect("b64");
    let sig =
        jsjb_signoff::b64::decode(export["signature_der_b64"].as_str().expect("sig")).expect("b64");
    let pem = export["public_key_pem"].as_str().expect("pem");
    jsjb_signoff::PublicKey::from_pem(pem)
        .expect("pem")
        .verify(&bytes, &sig)
        .expect("Rust verifies");
    assert_eq!(
        bytes,
        jsjb_signoff::b64::decode(&env.form_b64).expect("b64"),
        "the server kept what the chief signed"
    );
    let seq = export["event_seq"].as_u64().expect("seq");
    let stored_png =
        c.s.get(
            &format!("/api/v1/letters/{id}/signed-forms/{seq}/handwriting"),
            Some(&c.chief_a),
        )
        .await
        .bytes()
        .await
        .expect("png");
    assert_eq!(stored_png.as_ref(), png.as_slice());
    let pdf =
        c.s.get(
            &format!("/api/v1/letters/{id}/signed-forms/{seq}/pdf"),
            Some(&c.chief_a),
        )
        .await;
    assert_eq!(pdf.status(), 200);
    assert_eq!(pdf.headers()["content-type"], "application/pdf");
    assert!(pdf.bytes().await.expect("pdf").starts_with(b"%PDF-"));

    // The export bundle verifies with the real OpenSSL 3; one changed byte does not.
    let dir = tempfile::tempdir().expect("dir");
    let bundle = jsjb_signoff::export::bundle(&bytes, &sig, pem, &png, None).expect("bundle");
    jsjb_signoff::export::write_bundle(dir.path(), &bundle).expect("write");
    let openssl = |dir: &std::path::Path| {
        let mut words = jsjb_signoff::export::OPENSSL_VERIFY.split_whitespace();
        let program = words.next().expect("program");
        Command::new(program)
            .args(words)
            .current_dir(dir)
            .output()
            .expect("openssl")
            .status
            .success()
    };
    assert!(openssl(dir.path()));
    let mut changed = bytes.clone();
    changed[bytes.len() / 2] ^= 0x20;
    std::fs::write(dir.path().join(jsjb_signoff::export::FORM_FILE), &changed).expect("write");
    assert!(!openssl(dir.path()));

    // Verdicts on a desktop: a changed byte of content / signature / handwriting.
    let signed = jsjb_signoff::SignedForm {
        form_bytes: &bytes,
        signature_der: &sig,
        public_key_pem: pem,
        handwriting_png: Some(&png),
    };
    assert_eq!(
        jsjb_signoff::verdict(&signed, Some(&bytes)),
        jsjb_signoff::Verdict::Valid
    );
    let content = jsjb_signoff::SignedForm {
        form_bytes: &changed,
        ..signed.clone()
    };
    assert_eq!(
        jsjb_signoff::verdict(&content, None),
        jsjb_signoff::Verdict::SignatureInvalid
    );
    let mut bad_sig = sig.clone();
    let n = bad_sig.len() - 3;
    bad_sig[n] ^= 0x01;
    let signature = jsjb_signoff::SignedForm {
        signature_der: &bad_sig,
        ..signed.clone()
    };
    assert_eq!(
        jsjb_signoff::verdict(&signature, None),
        jsjb_signoff::Verdict::SignatureInvalid
    );
    let mut other_png = png.clone();
    let n = other_png.len() - 20;
    other_png[n] ^= 0x01;
    let image = jsjb_signoff::SignedForm {
        handwriting_png: Some(&other_png),
        ..signed.clone()
    };
    assert_eq!(
        jsjb_signoff::verdict(&image, None),
        jsjb_signoff::Verdict::ContentModified
    );

    // Key and delegation changes are in the audit log, and the chain holds.
    let verify: Value =
        c.s.get("/api/v1/audit/verify", Some(&c.admin))
            .await
            .json()
            .await
            .expect("audit");
    assert_eq!(verify["ok"], true, "{verify}");
    let actions: Vec<String> =
        c.s.raw_db()
            .prepare("SELECT action FROM audit_log WHERE action LIKE 'key.%'")
            .expect("sql")
            .query_map([], |r| r.get(0))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("rows");
    assert_eq!(
        actions,
        ["key.register", "key.approve", "key.approve", "key.activate"]
    );
}

#[tokio::test]
async fn tampered_or_foreign_signatures_are_refused_with_their_code() {
    let c = city().await;
    let id = c.awaiting_approval().await;
    let (signer, key) = c.enrol(&c.chief_a, true).await;
    let letter = c.letter(&c.chief_a, id).await;
    let png = sample_png(2);
    let now = c.s.time.now();
    let env = c
        .sign(
            &letter,
            c.chief_a_id,
            None,
            &signer,
            key,
            FormDecision::Approve,
            "同意办结",
            &png,
            now,
        )
        .await;

    // One changed byte of the signature.
    let mut sig = jsjb_signoff::b64::decode(&env.signature_der_b64).expect("b64");
    let n = sig.len() - 2;
    sig[n] ^= 0x01;
    let bad = SignatureEnvelope {
        signature_der_b64: jsjb_signoff::b64::encode(&sig),
        ..env.clone()
    };
    problem(
        c.approve(&c.chief_a, id, &bad).await,
        422,
        "signature_invalid",
    )
    .await;

    // Another handwriting image than the one signed.
    let swapped = SignatureEnvelope {
        handwriting_png_b64: jsjb_signoff::b64::encode(&sample_png(3)),
        ..env.clone()
    };
    problem(
        c.approve(&c.chief_a, id, &swapped).await,
        422,
        "handwriting_mismatch",
    )
    .await;

    // A form whose content was changed after signing (the opinion).
    let changed = c
        .sign(
            &letter,
            c.chief_a_id,
            None,
            &signer,
            key,
            FormDecision::Approve,
            "同意",
            &png,
            now,
        )
        .await;
    problem(
        c.approve(&c.chief_a, id, &changed).await,
        422,
        "form_mismatch",
    )
    .await;

    // Another unit's chief: the branch chief sees the letter but is not its chief; a
    // sibling station's chief does not even see it.
    let (b_signer, b_key) = c.enrol(&c.branch_chief, true).await;
    let env_b = c
        .sign(
            &letter,
            4,
            None,
            &b_signer,
            b_key,
            FormDecision::Approve,
            "同意办结",
            &png,
            now,
        )
        .await;
    problem(
        c.approve(&c.branch_chief, id, &env_b).await,
        403,
        "not_the_chief",
    )
    .await;
    problem(c.approve(&c.chief_b, id, &env_b).await, 404, "not_found").await;
    // The chief with someone else's key.
    problem(
        c.approve(&c.chief_a, id, &env_b).await,
        403,
        "key_not_yours",
    )
    .await;
    // An officer of the unit.
    problem(
        c.approve(&c.officer_a, id, &env).await,
        403,
        "not_the_chief",
    )
    .await;

    // An inactive (pending) key, then a revoked one.
    let (pending_signer, pending_key) = c.enrol(&c.chief_a, false).await;
    let env_p = c
        .sign(
            &letter,
            c.chief_a_id,
            None,
            &pending_signer,
            pending_key,
            FormDecision::Approve,
            "同意办结",
            &png,
            now,
        )
        .await;
    problem(
        c.approve(&c.chief_a, id, &env_p).await,
        422,
        "key_not_active",
    )
    .await;
    let res = c
        .post(
            &c.chief_a,
            &format!("/api/v1/keys/{pending_key}/revoke"),
            &json!({"reason": "丢失"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    problem(c.approve(&c.chief_a, id, &env_p).await, 422, "key_revoked").await;
    let res = c
        .post(
            &c.admin,
            &format!("/api/v1/keys/{pending_key}/activate"),
            &json!({}),
        )
        .await;
    problem(res, 409, "key_state").await;

    // Nothing was recorded by all that.
    assert_eq!(
        c.letter(&c.chief_a, id).await.state,
        jsjb_core::letter::LetterState::AwaitingApproval
    );

    // The honest signature still goes through.
    let res = c.approve(&c.chief_a, id, &env).await;
    assert_eq!(res.status(), 200, "{:?}", res.text().await);
}

#[tokio::test]
async fn a_signature_over_an_older_version_is_refused_and_send_back_is_signed_too() {
    let c = city().await;
    let id = c.awaiting_approval().await;
    let (signer, key) = c.enrol(&c.chief_a, true).await;
    let old = c.letter(&c.chief_a, id).await;
    let png = sample_png(4);

    // The chief sends back — a signed decision too.
    let back = c
        .sign(
            &old,
            c.chief_a_id,
            None,
            &signer,
            key,
            FormDecision::SendBack,
            "请补充回访记录",
            &png,
            c.s.time.now(),
        )
        .await;
    let res = c
        .act(&c.chief_a, id, json!({"action": "approve_feedback_form", "decision": "send_back", "opinion": "请补充回访记录"}), Some(&back))
        .await;
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["letter"]["state"], "handling", "{body}");
    assert_eq!(body["letter"]["signed_forms"][0]["decision"], "send_back");

    // Submitted again; a signature made over the earlier version is refused.
    c.ok(&c.officer_a, id, json!({"action": "submit_feedback_form", "summary": "已补充", "result": "已解决", "reply": "已处理"})).await;
    let stale = c
        .sign(
            &old,
            c.chief_a_id,
            None,
            &signer,
            key,
            FormDecision::Approve,
            "同意办结",
            &png,
            c.s.time.now(),
        )
        .await;
    problem(
        c.approve(&c.chief_a, id, &stale).await,
        422,
        "form_outdated",
    )
    .await;

    // Over the current version it is accepted; both signed forms stay with the case.
    let current = c.letter(&c.chief_a, id).await;
    let fresh = c
        .sign(
            &current,
            c.chief_a_id,
            None,
            &signer,
            key,
            FormDecision::Approve,
            "同意办结",
            &png,
            c.s.time.now(),
        )
        .await;
    let res = c.approve(&c.chief_a, id, &fresh).await;
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["letter"]["state"], "closed", "{body}");
    assert_eq!(
        body["letter"]["signed_forms"].as_array().map(Vec::len),
        Some(2)
    );

    // A signing time far from the server's clock is refused.
    let id2 = c.awaiting_approval().await;
    let l2 = c.letter(&c.chief_a, id2).await;
    let early = c
        .sign(
            &l2,
            c.chief_a_id,
            None,
            &signer,
            key,
            FormDecision::Approve,
            "同意办结",
            &png,
            c.s.time.now() - Duration::hours(2),
        )
        .await;
    problem(
        c.approve(&c.chief_a, id2, &early).await,
        422,
        "signing_time_invalid",
    )
    .await;
}

#[tokio::test]
async fn a_deputy_signs_under_a_valid_delegation_and_not_after_it_expires() {
    let c = city().await;
    let id = c.awaiting_approval().await;
    let now = c.s.time.now();

    // The deputy can register a key only once named in a delegation.
    let res = c
        .post(&c.deputy_a, "/api/v1/keys", &json!({"public_key_pem": SoftwareSigner::generate().expect("k").public_key().to_pem().expect("pem")}))
        .await;
    problem(res, 403, "forbidden").await;

    // Only the chief grants, only to a colleague of the same unit.
    let res = c.post(&c.officer_a, "/api/v1/delegations", &json!({"deputy": c.deputy_a_id, "valid_from": now, "valid_until": now + Duration::days(7)})).await;
    problem(res, 403, "forbidden").await;
    let res = c
        .post(
            &c.chief_a,
            "/api/v1/delegations",
            &json!({"deputy": 4, "valid_from": now, "valid_until": now + Duration::days(7)}),
        )
        .await;
    problem(res, 400, "invalid_input").await;
    let res = c
        .post(&c.chief_a, "/api/v1/delegations", &json!({"deputy": c.deputy_a_id, "valid_from": now - Duration::minutes(1), "valid_until": now + Duration::days(1), "note": "出差期间"}))
        .await;
    let grant: Value = res.json().await.expect("json");
    let grant_id = grant["id"].as_i64().expect("grant id");

    let (signer, key) = c.enrol(&c.deputy_a, true).await;
    let letter = c.letter(&c.deputy_a, id).await;
    let png = sample_png(5);
    let env = c
        .sign(
            &letter,
            c.deputy_a_id,
            Some((grant_id, c.chief_a_id)),
            &signer,
            key,
            FormDecision::Approve,
            "同意办结",
            &png,
            c.s.time.now(),
        )
        .await;
    let form = jsjb_core::form::FeedbackForm::from_canonical(
        &jsjb_signoff::b64::decode(&env.form_b64).expect("b64"),
    )
    .expect("form");
    assert_eq!(
        form.signer
            .on_behalf_of
            .as_ref()
            .map(|d| d.chief.name.as_str()),
        Some("a.chief"),
        "shown as 代 a.chief"
    );

    // A deputy signing as if in their own right is refused: the form must say 代.
    let own = c
        .sign(
            &letter,
            c.deputy_a_id,
            None,
            &signer,
            key,
            FormDecision::Approve,
            "同意办结",
            &png,
            c.s.time.now(),
        )
        .await;
    problem(c.approve(&c.deputy_a, id, &own).await, 422, "form_mismatch").await;

    let res = c.approve(&c.deputy_a, id, &env).await;
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["letter"]["state"], "closed", "{body}");
    assert_eq!(
        body["letter"]["signed_forms"][0]["on_behalf_of"],
        c.chief_a_id
    );

    // After the delegation ends, the deputy cannot sign.
    let id2 = c.awaiting_approval().await;
    c.s.advance(Duration::days(2));
    let deputy = c.s.token("a.deputy", PASSWORD).await;
    let chief = c.s.token("a.chief", PASSWORD).await;
    let l2 = c.letter(&deputy, id2).await;
    let late = c
        .sign(
            &l2,
            c.deputy_a_id,
            Some((grant_id, c.chief_a_id)),
            &signer,
            key,
            FormDecision::Approve,
            "同意办结",
            &png,
            c.s.time.now(),
        )
        .await;
    problem(
        c.approve(&deputy, id2, &late).await,
        403,
        "delegation_not_valid",
    )
    .await;

    // Revocation is recorded too.
    let res = c
        .post(
            &chief,
            &format!("/api/v1/delegations/{grant_id}/revoke"),
            &json!({}),
        )
        .await;
    let revoked: Value = res.json().await.expect("json");
    assert!(revoked["revoked_at"].is_string());
    let n: i64 = c.s.raw_db()
        .query_row("SELECT count(*) FROM audit_log WHERE action IN ('delegation.grant', 'delegation.revoke')", [], |r| r.get(0))
        .expect("count");
    assert_eq!(n, 2);
    let _ = UnitId(0);
}

// --- dual control (no single point of trust) -------------------------------------------

impl City {
    async fn approve_key(&self, admin: &str, key: i64) -> reqwest::Response {
        self.post(admin, &format!("/api/v1/keys/{key}/activate"), &json!({}))
            .await
    }

    async fn key_state(&self, key: i64) -> String {
        let keys: Vec<jsjb_proto::SigningKey> = self
            .s
            .get("/api/v1/keys", Some(&self.admin))
            .await
            .json()
            .await
            .expect("keys");
        let key = keys.into_iter().find(|k| k.id == key).expect("key listed");
        serde_json::to_value(key.state)
            .expect("state")
            .as_str()
            .expect("str")
            .to_owned()
    }

    async fn notices(&self, token: &str) -> Vec<jsjb_proto::Notice> {
        let res = self.s.get("/api/v1/me/notices", Some(token)).await;
        assert_eq!(res.status(), 200);
        res.json().await.expect("notices")
    }

    async fn me_id(&self, token: &str) -> i64 {
        let me: jsjb_proto::Me = self
            .s
            .get("/api/v1/me", Some(token))
            .await
            .json()
            .await
            .expect("me");
        me.user_id.0
    }

    /// Signs the letter's form with the key and sends it: the HTTP status.
    async fn sign_with(&self, id: i64, signer: &SoftwareSigner, key: i64) -> u16 {
        let letter = self.letter(&self.chief_a, id).await;
        let env = self
            .sign(
                &letter,
                self.chief_a_id,
                None,
                signer,
                key,
                FormDecision::Approve,
                "同意办结",
                &sample_png(7),
                self.s.time.now(),
            )
            .await;
        self.approve(&self.chief_a, id, &env)
            .await
            .status()
            .as_u16()
    }
}

fn audit_actions(c: &City, like: &str) -> Vec<String> {
    c.s.raw_db()
        .prepare("SELECT action FROM audit_log WHERE action LIKE ?1 ORDER BY seq")
        .expect("sql")
        .query_map([like], |r| r.get(0))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("rows")
}

#[tokio::test]
async fn one_admin_alone_cannot_activate_a_key_and_two_independent_admins_can() {
    let c = city().await;
    let id = c.awaiting_approval().await;
    let (signer, key) = c.enrol(&c.chief_a, false).await;
    let admin_id = c.me_id(&c.admin).await;

    // The first approval: recorded, the key stays pending and signs nothing.
    let res = c.approve_key(&c.admin, key).await;
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["key"]["state"], "pending", "{body}");
    assert_eq!(body["approvals"], json!([admin_id]));
    assert_eq!(body["approvals_required"], 2);
    assert_eq!(c.sign_with(id, &signer, key).await, 422, "key_not_active");

    // The same admin again does not count twice.
    problem(c.approve_key(&c.admin, key).await, 409, "already_approved").await;
    // Nor does an admin account whose password the first admin chose (a sock puppet).
    c.s.user(&c.admin, c.s.city, "admin.puppet", &["admin"])
        .await;
    let puppet = c.s.token("admin.puppet", PASSWORD).await;
    problem(
        c.approve_key(&puppet, key).await,
        409,
        "approver_not_independent",
    )
    .await;
    // Nor one the puppet made in turn.
    c.s.user(&puppet, c.s.city, "admin.puppet2", &["admin"])
        .await;
    let puppet2 = c.s.token("admin.puppet2", PASSWORD).await;
    problem(
        c.approve_key(&puppet2, key).await,
        409,
        "approver_not_independent",
    )
    .await;
    assert_eq!(c.key_state(key).await, "pending");

    // A second, independent admin: active, and the chief's signature goes through.
    let res = c.approve_key(&c.admin2, key).await;
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["key"]["state"], "active", "{body}");
    assert_eq!(body["approvals"].as_array().map(Vec::len), Some(2));
    assert_eq!(c.sign_with(id, &signer, key).await, 200);
    problem(c.approve_key(&c.admin2, key).await, 409, "key_state").await;

    // Every approval and the activation are in the audit log.
    assert_eq!(
        audit_actions(&c, "key.%"),
        ["key.register", "key.approve", "key.approve", "key.activate"]
    );
}

#[tokio::test]
async fn the_owner_of_a_key_cannot_approve_it_even_as_an_admin() {
    let c = city().await;
    let station_c = c.s.unit(&c.admin, c.branch, "station", "莲花派出所").await;
    c.s.cli_user(
        station_c,
        "c.chief",
        &[jsjb_core::org::Role::Chief, jsjb_core::org::Role::Admin],
    )
    .await;
    let chief_admin = c.s.token("c.chief", PASSWORD).await;
    let (_, key) = c.enrol(&chief_admin, false).await;
    problem(c.approve_key(&chief_admin, key).await, 403, "forbidden").await;
    // With one other admin it is still one approval short.
    let res = c.approve_key(&c.admin, key).await;
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["key"]["state"], "pending", "{body}");
    assert_eq!(body["approvals"].as_array().map(Vec::len), Some(1));
    // And an admin whose password the owner set does not count as another person.
    c.s.user(&chief_admin, station_c, "c.admin", &["admin"])
        .await;
    let theirs = c.s.token("c.admin", PASSWORD).await;
    problem(
        c.approve_key(&theirs, key).await,
        409,
        "approver_not_independent",
    )
    .await;
    assert_eq!(c.key_state(key).await, "pending");
}

#[tokio::test]
async fn a_previous_active_key_endorses_the_next_and_a_forged_endorsement_fails() {
    let c = city().await;
    let id = c.awaiting_approval().await;
    let chief = UserId(c.chief_a_id);
    let (old, old_key) = c.enrol(&c.chief_a, true).await;
    let (new, new_key) = c.enrol(&c.chief_a, false).await;
    let fingerprint = new.public_key().fingerprint().expect("fp");
    let endorse = |by: i64, signature: Vec<u8>| json!({"previous_key_id": by, "signature_der_b64": jsjb_signoff::b64::encode(&signature)});
    let path = format!("/api/v1/keys/{new_key}/endorse");
    let message = jsjb_proto::key_endorsement_message(chief, old_key, new_key, &fingerprint);

    // Forged: signed by a key that is not the old one; by the old key over another
    // statement; the new key vouching for itself; someone else posting it.
    let stranger = SoftwareSigner::generate().expect("key");
    let forged = endorse(old_key, stranger.sign(&message).expect("sig"));
    problem(
        c.post(&c.chief_a, &path, &forged).await,
        409,
        "endorsement_invalid",
    )
    .await;
    let other = jsjb_proto::key_endorsement_message(chief, old_key, new_key + 1, &fingerprint);
    let wrong = endorse(old_key, old.sign(&other).expect("sig"));
    problem(
        c.post(&c.chief_a, &path, &wrong).await,
        409,
        "endorsement_invalid",
    )
    .await;
    let own = jsjb_proto::key_endorsement_message(chief, new_key, new_key, &fingerprint);
    let itself = endorse(new_key, new.sign(&own).expect("sig"));
    problem(
        c.post(&c.chief_a, &path, &itself).await,
        409,
        "endorsement_invalid",
    )
    .await;
    let honest = endorse(old_key, old.sign(&message).expect("sig"));
    problem(c.post(&c.admin, &path, &honest).await, 403, "forbidden").await;
    problem(c.post(&c.chief_b, &path, &honest).await, 404, "not_found").await;
    assert_eq!(c.key_state(new_key).await, "pending");

    // The honest endorsement activates the new key at once, without an admin.
    let res = c.post(&c.chief_a, &path, &honest).await;
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["key"]["state"], "active", "{body}");
    assert_eq!(c.sign_with(id, &new, new_key).await, 200);

    // A revoked key endorses nothing.
    let (third, third_key) = c.enrol(&c.chief_a, false).await;
    let res = c
        .post(
            &c.chief_a,
            &format!("/api/v1/keys/{old_key}/revoke"),
            &json!({"reason": "换新"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let fp3 = third.public_key().fingerprint().expect("fp");
    let msg3 = jsjb_proto::key_endorsement_message(chief, old_key, third_key, &fp3);
    problem(
        c.post(
            &c.chief_a,
            &format!("/api/v1/keys/{third_key}/endorse"),
            &endorse(old_key, old.sign(&msg3).expect("sig")),
        )
        .await,
        409,
        "endorsement_invalid",
    )
    .await;
    let activations: i64 = c
        .s
        .raw_db()
        .query_row(
            "SELECT count(*) FROM audit_log WHERE action = 'key.activate' AND json_extract(payload, '$.extra.endorsed_by_key') = ?1",
            [old_key],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(activations, 1);
}

#[tokio::test]
async fn a_unit_has_one_chief() {
    let c = city().await;
    for roles in [vec!["chief"], vec!["officer", "chief"]] {
        let res = c
            .post(
                &c.admin,
                "/api/v1/admin/users",
                &json!({"unit_id": c.station_a, "username": format!("a.chief{}", roles.len()), "display_name": "副所长", "roles": roles, "password": PASSWORD}),
            )
            .await;
        problem(res, 409, "chief_exists").await;
    }
    // Not through the CLI either: the rule is the storage's.
    let cli = jsjb_server::admin::create_user(
        c.s.state.store.as_ref(),
        &c.s.state.config,
        c.s.state.time.as_ref(),
        jsjb_server::admin::CreateUserRequest {
            unit_id: c.station_a,
            username: "a.chief.cli".into(),
            display_name: "副所长".into(),
            roles: vec![jsjb_core::org::Role::Chief],
            password: PASSWORD.into(),
        },
        jsjb_storage::Actor::cli(),
    )
    .await;
    assert!(
        matches!(
            &cli,
            Err(jsjb_server::error::ApiError::Conflict {
                code: "chief_exists",
                ..
            })
        ),
        "{cli:?}"
    );
    // A unit without a chief gets one.
    let station_c = c.s.unit(&c.admin, c.branch, "station", "莲花派出所").await;
    c.s.user(&c.admin, station_c, "c.chief", &["chief"]).await;
}

#[tokio::test]
async fn a_password_reset_of_a_chief_is_logged_and_told_and_revokes_nothing() {
    let c = city().await;
    let (_, key) = c.enrol(&c.chief_a, true).await;
    let chief_before = c.notices(&c.chief_a).await;
    let res = c
        .post(
            &c.admin,
            &format!("/api/v1/admin/users/{}/password", c.chief_a_id),
            &json!({"password": "a-new-password-1"}),
        )
        .await;
    assert_eq!(res.status(), 204);
    let admin_id = c.me_id(&c.admin).await;

    // In the audit log, naming the chief and the admin.
    let (actor, user): (i64, i64) =
        c.s.raw_db()
            .query_row(
                "SELECT actor_user_id, user_id FROM audit_log WHERE action = 'user.password_reset'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("audit entry");
    assert_eq!((actor, user), (admin_id, c.chief_a_id));

    // Told at the next sign-in, and nothing was revoked on the quiet.
    let chief = c.s.token("a.chief", "a-new-password-1").await;
    let notices = c.notices(&chief).await;
    assert_eq!(notices.len(), chief_before.len() + 1);
    let reset = notices.last().expect("notice");
    assert_eq!(reset.kind, jsjb_proto::NoticeKind::PasswordReset);
    assert_eq!(reset.by, Some(UserId(admin_id)));
    assert_eq!(c.key_state(key).await, "active");
    // A key registered now still needs two independent admins.
    let (_, fresh) = c.enrol(&chief, false).await;
    let res = c.approve_key(&c.admin, fresh).await;
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["key"]["state"], "pending", "{body}");
    // Nobody else is told about the chief's account.
    for other in [&c.admin, &c.admin2, &c.officer_a, &c.chief_b] {
        assert!(c.notices(other).await.is_empty());
    }
}

#[tokio::test]
async fn key_events_are_notices_for_their_owner_only_until_acknowledged() {
    let c = city().await;
    let (signer, key) = c.enrol(&c.chief_a, true).await;
    let fingerprint = signer.public_key().fingerprint().expect("fp");
    let res = c
        .post(
            &c.admin,
            &format!("/api/v1/keys/{key}/revoke"),
            &json!({"reason": "工作站更换"}),
        )
        .await;
    assert_eq!(res.status(), 200);

    let notices = c.notices(&c.chief_a).await;
    let kinds: Vec<_> = notices.iter().map(|n| n.kind).collect();
    use jsjb_proto::NoticeKind::*;
    assert_eq!(kinds, [KeyRegistered, KeyActivated, KeyRevoked]);
    assert!(
        notices.iter().all(
            |n| n.key_id == Some(key) && n.fingerprint.as_deref() == Some(fingerprint.as_str())
        )
    );
    assert_eq!(notices[2].detail, "工作站更换");
    assert_eq!(notices[1].by, Some(UserId(c.me_id(&c.admin2).await)));

    // Only the owner sees them; another user acknowledging changes nothing of theirs.
    for other in [&c.admin, &c.admin2, &c.officer_a, &c.deputy_a, &c.chief_b] {
        assert!(c.notices(other).await.is_empty());
        let res = c
            .post(other, "/api/v1/me/notices/ack", &json!({"up_to": i64::MAX}))
            .await;
        assert_eq!(res.status(), 204);
    }
    assert_eq!(c.notices(&c.chief_a).await.len(), 3);

    // Acknowledged up to the second: the third stays until read too.
    let res = c
        .post(
            &c.chief_a,
            "/api/v1/me/notices/ack",
            &json!({"up_to": notices[1].id}),
        )
        .await;
    assert_eq!(res.status(), 204);
    let left = c.notices(&c.chief_a).await;
    assert_eq!(
        left.iter().map(|n| n.id).collect::<Vec<_>>(),
        [notices[2].id]
    );
    let res = c
        .post(
            &c.chief_a,
            "/api/v1/me/notices/ack",
            &json!({"up_to": notices[2].id}),
        )
        .await;
    assert_eq!(res.status(), 204);
    assert!(c.notices(&c.chief_a).await.is_empty());
    assert_eq!(
        audit_actions(&c, "notice.%"),
        ["notice.acknowledge", "notice.acknowledge"]
    );
    // Unauthenticated: nothing.
    assert_eq!(c.s.get("/api/v1/me/notices", None).await.status(), 401);
}

/// The admin console's key list: owners, units and the approvals so far, only for keys
/// inside the admin's subtree; everyone else is refused.
#[tokio::test]
async fn the_admin_key_list_shows_owner_unit_and_approvals_within_scope_only() {
    let c = city().await;
    let (_, key) = c.enrol(&c.chief_a, false).await;
    let admin_id = c.me_id(&c.admin).await;
    let other_branch = c.s.unit(&c.admin, c.s.city, "branch", "罗湖分局").await;
    c.s.user(&c.admin, other_branch, "other.admin", &["admin"])
        .await;
    let other_admin = c.s.token("other.admin", PASSWORD).await;
    c.s.user(&c.admin, c.branch, "branch.admin", &["admin"])
        .await;
    let branch_admin = c.s.token("branch.admin", PASSWORD).await;

    let list = |token: String| {
        let s = &c.s;
        async move {
            let res = s.get("/api/v1/admin/keys", Some(&token)).await;
            assert_eq!(res.status(), 200);
            res.json::<Vec<jsjb_proto::AdminKey>>().await.expect("keys")
        }
    };
    let rows = list(c.admin.clone()).await;
    let row = rows.iter().find(|r| r.key.id == key).expect("listed");
    assert_eq!(row.owner_username, "a.chief");
    assert_eq!(row.unit_name, "福田派出所");
    assert!(row.approvals.is_empty());
    assert_eq!(row.approvals_required, 2);

    c.approve_key(&c.admin, key).await;
    let rows = list(branch_admin).await;
    let row = rows.iter().find(|r| r.key.id == key).expect("listed above");
    assert_eq!(row.approvals, [jsjb_core::org::UserId(admin_id)]);
    assert_eq!(row.approver_names.len(), 1);
    assert_eq!(row.key.state, jsjb_proto::KeyState::Pending);

    // A sibling branch's admin sees none of it; a chief (even the owner) is refused.
    assert!(list(other_admin).await.is_empty());
    problem(
        c.s.get("/api/v1/admin/keys", Some(&c.chief_a)).await,
        403,
        "forbidden",
    )
    .await;
}

/// An admin made by another admin is not independent of them — until they choose their
/// own password (`POST /me/password`): then the two approvals count as two people.
#[tokio::test]
async fn an_admin_who_set_their_own_password_is_independent_of_the_admin_who_made_them() {
    let c = city().await;
    let (_, key) = c.enrol(&c.chief_a, false).await;
    c.s.user(&c.admin, c.s.city, "made.admin", &["admin"]).await;
    let made = c.s.token("made.admin", PASSWORD).await;
    let res = c.approve_key(&c.admin, key).await;
    assert_eq!(res.status(), 200);
    problem(
        c.approve_key(&made, key).await,
        409,
        "approver_not_independent",
    )
    .await;

    let res = c
        .post(
            &made,
            "/api/v1/me/password",
            &json!({"current_password": PASSWORD, "new_password": "only-i-know-this-1"}),
        )
        .await;
    assert_eq!(res.status(), 204);
    let res = c.approve_key(&made, key).await;
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["key"]["state"], "active", "{body}");
}
