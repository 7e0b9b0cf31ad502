//! Signatures that OpenSSL 3 verifies (and the other way round), tampering detected,
//! and key files that need the PIN and slow down guessing across restarts.

use std::path::Path;
use std::process::Command;

use chrono::{Duration, TimeZone, Utc};
use jsjb_signoff::export::{self, OPENSSL_VERIFY};
use jsjb_signoff::keyfile::{self, KdfParams, KeyFileError};
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
        keyfile::enrol(&path, "123", KdfParams::for_tests(), t0()),
        Err(KeyFileError::WeakPin)
    ));
    let public = keyfile::enrol(&path, "246810", KdfParams::for_tests(), t0()).expect("enrol");
    assert!(matches!(
        keyfile::enrol(&path, "246810", KdfParams::for_tests(), t0()),
        Err(KeyFileError::Exists(_))
    ));
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
    keyfile::enrol(&path, "246810", KdfParams::for_tests(), t0()).expect("enrol");
    let mut file = keyfile::read(&path).expect("read");
    let other = SoftwareSigner::generate().expect("key");
    file.public_key_pem = other.public_key().to_pem().expect("pem");
    keyfile::write(&path, &file).expect("write");
    // The AEAD's associated data covers the public key: the right PIN fails to open it.
    assert!(matches!(
        keyfile::unlock(&path, "246810", t0()),
        Err(KeyFileError::WrongPin { .. })
    ));
}
