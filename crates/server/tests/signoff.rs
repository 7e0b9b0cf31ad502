//! The chief's signed sign-off over real HTTP: a signed form verifies (in Rust and with
//! OpenSSL), tampering is detected, and every signature that is not the handling
//! unit's chief's (or a valid delegate's), by an active key, over the current version,
//! is refused with its own code.

mod support;

use std::process::Command;

use chrono::{DateTime, Duration, Utc};
use jsjb_core::calendar::WorkCalendar;
use jsjb_core::clock::Policy;
use jsjb_core::letter::FormDecision;
use jsjb_core::org::{UnitId, UserId};
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
    City {
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
            let res = self
                .post(
                    &self.admin,
                    &format!("/api/v1/keys/{id}/activate"),
                    &json!({}),
                )
                .await;
            assert_eq!(res.status(), 200);
        }
        (signer, id)
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
            &Policy::shenzhen(),
            &WorkCalendar::china(),
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
    assert_eq!(actions, ["key.register", "key.activate"]);
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
