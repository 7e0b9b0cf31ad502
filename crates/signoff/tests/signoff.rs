//! Signatures that OpenSSL 3 verifies (and the other way round), tampering detected,
//! the key named by its fingerprint in the bundle, and key files that need the PIN,
//! slow down guessing across restarts and whose count cannot be set back.

use std::path::Path;
use std::process::Command;

use chrono::{Duration, TimeZone, Utc};
use jsjb_signoff::export::{self, OPENSSL_VERIFY};
use jsjb_signoff::keyfile::{self, KdfParams, KeyFileError, PinPolicy};
use jsjb_signoff::verify::{SignedForm, Verdict, verdict};
use jsjb_signoff::{PublicKey, Signer, SoftwareSigner, sm3_hex};

/// Runs OpenSSL's verify command of the README in `dir`; true when it verifies.
fn openssl_verifies(dir: &Path) -> bool {
    let mut words = OPENSSL_VERIFY.split_whitespace();
    let program = words.next().expect("program");
    let out = Command::new(program)
        .args(words)
        .current_dir(dir)
        .output()
        .expect("the openssl binary runs (Debian package `openssl`)");
    let text = String::from_utf8_lossy(&out.stdout);
    if out.status.success() {
        assert!(text.contains("Signature Verified Successfully"), "{text}");
    }
    out.status.success()
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const FORM: &[u8] =
    r#"{"decision":"approve","format":"jsjb-feedback-form/1","opinion":"同意办结"}"#.as_bytes();
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n-handwriting-";

fn signed_bundle(dir: &Path) -> (SoftwareSigner, Vec<u8>) {
    let signer = SoftwareSigner::generate().expect("key");
    let signature = signer.sign(FORM).expect("sign");
    let pem = signer.public_key().to_pem().expect("pem");
    let bundle = export::bundle(FORM, &signature, &pem, PNG, None).expect("bundle");
    export::write_bundle(dir, &bundle).expect("write");
    (signer, signature)
}

#[test]
fn openssl_verifies_our_signature_and_notices_one_changed_byte() {
    let dir = tempfile::tempdir().expect("dir");
    let (signer, signature) = signed_bundle(dir.path());
    signer
        .public_key()
        .verify(FORM, &signature)
        .expect("Rust verifies");
    assert!(openssl_verifies(dir.path()), "OpenSSL 3 verifies");

    // One byte of content.
    let mut changed = FORM.to_vec();
    changed[20] ^= 0x01;
    std::fs::write(dir.path().join(export::FORM_FILE), &changed).expect("write");
    assert!(!openssl_verifies(dir.path()));
    assert!(signer.public_key().verify(&changed, &signature).is_err());
    std::fs::write(dir.path().join(export::FORM_FILE), FORM).expect("restore");

    // One byte of the signature (the last byte of s).
    let mut bad = signature.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0x01;
    std::fs::write(dir.path().join(export::SIGNATURE_FILE), &bad).expect("write");
    assert!(!openssl_verifies(dir.path()));
    assert!(signer.public_key().verify(FORM, &bad).is_err());

    // The digest the README shows is OpenSSL's.
    let readme = std::fs::read_to_string(dir.path().join(export::README_FILE)).expect("readme");
    assert!(readme.contains(OPENSSL_VERIFY));
    assert!(readme.contains(&sm3_hex(FORM)));
    std::fs::write(dir.path().join(export::FORM_FILE), FORM).expect("restore");
    let out = Command::new("openssl")
        .args(["dgst", "-sm3", export::FORM_FILE])
        .current_dir(dir.path())
        .output()
        .expect("dgst");
    assert!(String::from_utf8_lossy(&out.stdout).contains(&sm3_hex(FORM)));
}

#[test]
fn we_verify_what_openssl_signs() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("m.bin"), FORM).expect("write");
    openssl(
        dir.path(),
        &["genpkey", "-algorithm", "SM2", "-out", "k.pem"],
    );
    openssl(
        dir.path(),
        &["pkey", "-in", "k.pem", "-pubout", "-out", "pub.pem"],
    );
    openssl(
        dir.path(),
        &[
            "pkeyutl",
            "-sign",
            "-rawin",
            "-digest",
            "sm3",
            "-inkey",
            "k.pem",
            "-pkeyopt",
            "distid:1234567812345678",
            "-in",
            "m.bin",
            "-out",
            "sig.der",
        ],
    );
    let pem = std::fs::read_to_string(dir.path().join("pub.pem")).expect("pem");
    let sig = std::fs::read(dir.path().join("sig.der")).expect("sig");
    let key = PublicKey::from_pem(&pem).expect("OpenSSL's SM2 public key reads");
    key.verify(FORM, &sig)
        .expect("Rust verifies OpenSSL's signature");
    assert!(key.verify(b"other", &sig).is_err());
    // Our PEM of the same key is byte-identical to OpenSSL's.
    assert_eq!(key.to_pem().expect("pem"), pem);
}

#[test]
fn the_verdict_tells_valid_modified_and_invalid_apart() {
    let signer = SoftwareSigner::generate().expect("key");
    let pem = signer.public_key().to_pem().expect("pem");
    let signature = signer.sign(FORM).expect("sign");
    let signed = SignedForm {
        form_bytes: FORM,
        signature_der: &signature,
        public_key_pem: &pem,
        handwriting_png: None,
    };
    // FORM is not a full feedback form: signed but unreadable counts as modified.
    assert_eq!(verdict(&signed, None), Verdict::ContentModified);
    let other = SoftwareSigner::generate().expect("key");
    let other_pem = other.public_key().to_pem().expect("pem");
    let wrong_key = SignedForm {
        public_key_pem: &other_pem,
        ..signed.clone()
    };
    assert_eq!(verdict(&wrong_key, None), Verdict::SignatureInvalid);
}

fn enrol(path: &Path) -> Result<PublicKey, KeyFileError> {
    keyfile::enrol(
        path,
        "246810",
        PinPolicy::default(),
        KdfParams::for_tests(),
        t0(),
    )
}

fn t0() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0)
        .single()
        .expect("time")
}

#[test]
fn signing_needs_the_pin_and_wrong_pins_are_slowed_down_across_restarts() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("chief.key.json");
    assert!(matches!(
        keyfile::enrol(
            &path,
            "123",
            PinPolicy::default(),
            KdfParams::for_tests(),
            t0()
        ),
        Err(KeyFileError::WeakPin { min_chars: 6 })
    ));
    let public = enrol(&path).expect("enrol");
    assert!(matches!(enrol(&path), Err(KeyFileError::Exists(_))));
    // The private key is not in the file in clear.
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(!text.contains("PRIVATE KEY"));
    let file = keyfile::read(&path).expect("parse");
    assert_eq!(file.public_key().expect("pk"), public);

    // The right PIN signs.
    let signer = keyfile::unlock(&path, "246810", t0()).expect("unlock");
    let sig = signer.sign(FORM).expect("sign");
    public.verify(FORM, &sig).expect("verifies");

    // Three wrong PINs are free; the fourth locks for 30 s, the fifth for 60 s.
    let mut now = t0();
    for n in 1..=3 {
        match keyfile::unlock(&path, "000000", now) {
            Err(KeyFileError::WrongPin {
                failures,
                retry_after_secs,
            }) => {
                assert_eq!(
                    (failures, retry_after_secs),
                    (n, if n < 3 { 0 } else { 30 })
                );
            }
            other => panic!("wrong PIN {n}: {other:?}"),
        }
    }
    // Locked: even the right PIN is not tried ("restart": everything is re-read from the file).
    match keyfile::unlock(&path, "246810", now + Duration::seconds(10)) {
        Err(KeyFileError::Locked { retry_after_secs }) => assert_eq!(retry_after_secs, 20),
        other => panic!("{other:?}"),
    }
    now += Duration::seconds(31);
    match keyfile::unlock(&path, "111111", now) {
        Err(KeyFileError::WrongPin {
            failures: 4,
            retry_after_secs: 60,
        }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(keyfile::read(&path).expect("read").failures, 4);
    now += Duration::seconds(61);
    keyfile::unlock(&path, "246810", now).expect("the right PIN after the wait");
    let file = keyfile::read(&path).expect("read");
    assert_eq!((file.failures, file.locked_until), (0, None));
    assert_eq!(keyfile::delay_after(40), keyfile::MAX_DELAY_SECS);
}

#[test]
fn a_key_file_with_a_swapped_public_key_does_not_open() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("chief.key.json");
    enrol(&path).expect("enrol");
    let mut file = keyfile::read(&path).expect("read");
    let other = SoftwareSigner::generate().expect("key");
    file.public_key_pem = other.public_key().to_pem().expect("pem");
    keyfile::write(&path, &file).expect("write");
    // The count's MAC (and the AEAD's associated data) cover the public key: the right
    // PIN does not open it, and the file is locked as tampered.
    assert!(matches!(
        keyfile::unlock(&path, "246810", t0()),
        Err(KeyFileError::Tampered { .. })
    ));
}

// ---------------------------------------------------------------------------------------
// The key, named by its fingerprint, to be checked against the bureau's list.

#[test]
fn the_bundle_names_the_key_by_fingerprint_and_says_in_chinese_to_check_the_published_list() {
    let dir = tempfile::tempdir().expect("dir");
    let (signer, _) = signed_bundle(dir.path());
    let fingerprint = signer.public_key().fingerprint().expect("fingerprint");
    let readme = std::fs::read_to_string(dir.path().join(export::README_FILE)).expect("readme");
    assert!(readme.contains(&fingerprint), "{readme}");
    assert!(
        readme.contains("请将此指纹与本局公布的签名密钥清单核对"),
        "{readme}"
    );
    assert!(readme.contains(export::KEY_CHECK_ZH));
    // The fingerprint comes before the instruction, which comes before the OpenSSL step:
    // a verifier reading from the top checks whose key it is first.
    let at = |needle: &str| readme.find(needle).expect(needle);
    assert!(at(&fingerprint) < at(export::KEY_CHECK_ZH));
    assert!(at(export::KEY_CHECK_ZH) < at(OPENSSL_VERIFY));
    // The documented command gives the same fingerprint from the bundle's key file.
    assert!(readme.contains(export::OPENSSL_FINGERPRINT));
    let out = Command::new("sh")
        .args(["-c", export::OPENSSL_FINGERPRINT])
        .current_dir(dir.path())
        .output()
        .expect("sh runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&fingerprint),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

// ---------------------------------------------------------------------------------------
// The PIN and the key file.

#[test]
fn a_pin_shorter_than_the_policy_is_refused_and_the_policy_never_goes_below_six() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("chief.key.json");
    let enrol_with = |pin: &str, policy: PinPolicy| {
        keyfile::enrol(&path, pin, policy, KdfParams::for_tests(), t0())
    };
    assert!(matches!(
        enrol_with("12345", PinPolicy::default()),
        Err(KeyFileError::WeakPin { min_chars: 6 })
    ));
    // Asking for less than the default still asks for six.
    assert_eq!(PinPolicy::at_least(4), PinPolicy::default());
    assert!(matches!(
        enrol_with("12345", PinPolicy::at_least(4)),
        Err(KeyFileError::WeakPin { min_chars: 6 })
    ));
    // A stricter policy is applied.
    assert!(matches!(
        enrol_with("1234567", PinPolicy::at_least(8)),
        Err(KeyFileError::WeakPin { min_chars: 8 })
    ));
    assert!(!path.exists(), "nothing written for a refused PIN");
    enrol_with("12345678", PinPolicy::at_least(8)).expect("eight digits");
}

#[cfg(unix)]
#[test]
fn the_key_file_and_its_attempts_file_are_readable_by_the_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("signing").join("chief.key.json");
    enrol(&path).expect("enrol");
    let mode = |p: &Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&keyfile::attempts_path(&path)), 0o600);
    assert_eq!(mode(path.parent().expect("folder")), 0o700);
    // Rewritten after a wrong PIN: still 0600, and no temporary file left behind.
    assert!(keyfile::unlock(&path, "000000", t0()).is_err());
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&keyfile::attempts_path(&path)), 0o600);
    let names: Vec<String> = std::fs::read_dir(path.parent().expect("folder"))
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

/// Four wrong PINs: the file is locked for 30 s.
fn lock_out(path: &Path) {
    for _ in 0..4 {
        assert!(matches!(
            keyfile::unlock(path, "000000", t0()),
            Err(KeyFileError::WrongPin { .. }) | Err(KeyFileError::Locked { .. })
        ));
    }
    assert!(keyfile::read(path).expect("read").failures >= 3);
}

fn assert_tampered(path: &Path, at: chrono::DateTime<Utc>) {
    match keyfile::unlock(path, "246810", at) {
        Err(KeyFileError::Tampered { retry_after_secs }) => {
            assert_eq!(retry_after_secs as i64, keyfile::MAX_DELAY_SECS);
        }
        other => panic!("the right PIN must not open a tampered file: {other:?}"),
    }
    // And stays locked: the count was raised, not reset.
    match keyfile::unlock(path, "246810", at + Duration::hours(1)) {
        Err(KeyFileError::Locked { retry_after_secs }) => assert!(retry_after_secs > 3600),
        other => panic!("{other:?}"),
    }
    let file = keyfile::read(path).expect("read");
    assert!(file.failures >= keyfile::TAMPERED_FAILURES);
    assert_eq!(
        keyfile::pin_wait_secs(path, at + Duration::hours(1)).expect("wait"),
        keyfile::MAX_DELAY_SECS as u64 - 3600
    );
}

#[test]
fn editing_the_wrong_pin_count_does_not_reset_it() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("chief.key.json");
    enrol(&path).expect("enrol");
    lock_out(&path);
    // Set the count back by hand, as a text editor would.
    let text = std::fs::read_to_string(&path).expect("read");
    let mut json: serde_json::Value = serde_json::from_str(&text).expect("json");
    json["failures"] = 0.into();
    json["locked_until"] = serde_json::Value::Null;
    std::fs::write(&path, serde_json::to_vec_pretty(&json).expect("json")).expect("write");
    assert_tampered(&path, t0() + Duration::seconds(40));
    // After the longest delay the right PIN opens it again: the chief is not locked out
    // for ever, and the count is back to zero.
    let later = t0() + Duration::seconds(40 + keyfile::MAX_DELAY_SECS + 1);
    keyfile::unlock(&path, "246810", later).expect("the right PIN after the longest delay");
    assert_eq!(keyfile::read(&path).expect("read").failures, 0);
}

#[test]
fn deleting_the_attempts_file_does_not_reset_the_count() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("chief.key.json");
    enrol(&path).expect("enrol");
    lock_out(&path);
    std::fs::remove_file(keyfile::attempts_path(&path)).expect("delete");
    assert_tampered(&path, t0() + Duration::seconds(40));
}

#[test]
fn editing_the_attempts_file_does_not_reset_the_count() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("chief.key.json");
    enrol(&path).expect("enrol");
    lock_out(&path);
    let side = keyfile::attempts_path(&path);
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&side).expect("read")).expect("json");
    json["secret_b64"] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into();
    std::fs::write(&side, serde_json::to_vec(&json).expect("json")).expect("write");
    assert_tampered(&path, t0() + Duration::seconds(40));
}

#[test]
fn putting_back_an_older_copy_of_the_key_file_does_not_reset_the_count() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("chief.key.json");
    enrol(&path).expect("enrol");
    let fresh = std::fs::read(&path).expect("copy with no wrong PIN");
    lock_out(&path);
    std::fs::write(&path, &fresh).expect("put the copy back");
    assert_tampered(&path, t0() + Duration::seconds(40));
}

#[test]
fn wrong_pins_tried_in_parallel_each_count() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("chief.key.json");
    // A KDF slow enough (a few MiB) that the two attempts overlap.
    let params = KdfParams {
        m_kib: 8 * 1024,
        t: 1,
        p: 1,
    };
    keyfile::enrol(&path, "246810", PinPolicy::default(), params, t0()).expect("enrol");
    let barrier = std::sync::Barrier::new(2);
    let counts: Vec<u32> = std::thread::scope(|scope| {
        let tries: Vec<_> = ["000000", "111111"]
            .into_iter()
            .map(|pin| {
                let (path, barrier) = (&path, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    match keyfile::unlock(path, pin, t0()) {
                        Err(KeyFileError::WrongPin { failures, .. }) => failures,
                        other => panic!("{other:?}"),
                    }
                })
            })
            .collect();
        tries
            .into_iter()
            .map(|t| t.join().expect("thread"))
            .collect()
    });
    let mut sorted = counts.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        [1, 2],
        "each attempt saw the other's count: {counts:?}"
    );
    assert_eq!(keyfile::read(&path).expect("read").failures, 2);
}
