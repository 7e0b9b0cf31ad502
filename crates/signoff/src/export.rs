//! The export anyone can verify offline: the canonical bytes, the DER signature, the
//! signer's public key (SPKI PEM), the handwriting image, the PDF and a README with the
//! exact OpenSSL command.
//!
//! The bundle carries its own public key, so OpenSSL's "verified" only says the key in
//! the bundle signed these bytes. Whose key it is, the bundle cannot prove: the README
//! and the PDF name the key by its fingerprint and tell the verifier, in Chinese first,
//! to compare it with the bureau's published list of signing keys ([`KEY_CHECK_ZH`]).

use std::path::Path;

use jsjb_core::form::FeedbackForm;

use crate::crypto::{DIST_ID, PublicKey, SignoffError, sm3_hex};

pub const FORM_FILE: &str = "form.json";
pub const SIGNATURE_FILE: &str = "form.sig.der";
pub const PUBLIC_KEY_FILE: &str = "signer.pub.pem";
pub const HANDWRITING_FILE: &str = "handwriting.png";
pub const PDF_FILE: &str = "form.pdf";
pub const README_FILE: &str = "README.txt";

/// The OpenSSL 3 command that verifies a bundle, run inside its folder. It prints
/// `Signature Verified Successfully` and exits 0, or exits 1.
pub const OPENSSL_VERIFY: &str = "openssl pkeyutl -verify -rawin -digest sm3 -pubin -inkey signer.pub.pem -pkeyopt distid:1234567812345678 -in form.json -sigfile form.sig.der";

/// The OpenSSL 3 command that prints the key fingerprint (SM3 of the SPKI DER) of the
/// bundle's public key, to compare with the one printed and the published list.
pub const OPENSSL_FINGERPRINT: &str =
    "openssl pkey -pubin -in signer.pub.pem -outform DER | openssl dgst -sm3";

/// What the verifier must do with the fingerprint (the README and the PDF say it).
pub const KEY_CHECK_ZH: &str = "请将此指纹与本局公布的签名密钥清单核对。签名验证通过只说明内容由随附公钥对应的私钥签署；该公钥是否属于签批人、签名时是否有效，须以本局公布的签名密钥清单为准。";
/// The same in English, after the Chinese.
pub const KEY_CHECK_EN: &str = "Compare this fingerprint with the bureau's published list of signing keys. A verified signature only shows that the private key of the enclosed public key signed the content; whether that key is the signer's, and was valid when signing, only the published list can tell.";

/// The files of a bundle, in the order they are listed in the README.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    pub files: Vec<(&'static str, Vec<u8>)>,
}

/// Puts a signed form's pieces together with a README.
pub fn bundle(
    form_bytes: &[u8],
    signature_der: &[u8],
    public_key_pem: &str,
    handwriting_png: &[u8],
    pdf: Option<Vec<u8>>,
) -> Result<Bundle, SignoffError> {
    let key = PublicKey::from_pem(public_key_pem)?;
    let form = FeedbackForm::from_canonical(form_bytes).ok();
    let mut files = vec![
        (FORM_FILE, form_bytes.to_vec()),
        (SIGNATURE_FILE, signature_der.to_vec()),
        (PUBLIC_KEY_FILE, key.to_pem()?.into_bytes()),
        (HANDWRITING_FILE, handwriting_png.to_vec()),
    ];
    if let Some(pdf) = pdf {
        files.push((PDF_FILE, pdf));
    }
    let readme = readme(form.as_ref(), form_bytes, &key, handwriting_png)?;
    files.push((README_FILE, readme.into_bytes()));
    Ok(Bundle { files })
}

fn readme(
    form: Option<&FeedbackForm>,
    form_bytes: &[u8],
    key: &PublicKey,
    handwriting_png: &[u8],
) -> Result<String, SignoffError> {
    let mut out = String::new();
    let fingerprint = key.fingerprint()?;
    out.push_str("接诉即办 反馈表 一把手签批 — 离线验证包 / offline verification bundle\n\n");
    out.push_str(&format!(
        "签名密钥指纹 signing key fingerprint (SM3 of SPKI DER):\n  {fingerprint}\n\n{KEY_CHECK_ZH}\n{KEY_CHECK_EN}\n\n计算指纹 compute it: {OPENSSL_FINGERPRINT}\n\n"
    ));
    if let Some(form) = form {
        out.push_str(&format!(
            "来信编号 letter: {} (id {}, version {})\n签批人 signer: {} ({}){}\n决定 decision: {}\n签批时间 signed at (UTC): {}\n\n",
            form.letter.code,
            form.letter.id.0,
            form.letter.version,
            form.signer.user.name,
            form.signer.unit.name,
            form.signer
                .on_behalf_of
                .as_ref()
                .map(|d| format!(" 代 {}", d.chief.name))
                .unwrap_or_default(),
            form.decision.as_str(),
            form.signed_at,
        ));
    }
    out.push_str(&format!(
        "Files:\n  {FORM_FILE}        the signed content: canonical JSON, byte for byte (do not reformat it)\n  {SIGNATURE_FILE}     SM2 signature, DER (SEQUENCE {{ r, s }})\n  {PUBLIC_KEY_FILE}   the signer's SM2 public key (SPKI PEM)\n  {HANDWRITING_FILE}   the handwritten signature; its SHA-256 is on the form (handwriting_sha256)\n  {PDF_FILE}         the printable form (if present)\n\n"
    ));
    out.push_str(&format!(
        "Verify with OpenSSL 3 (SM3 digest, SM2 signature per GB/T 32918, signer ID {DIST_ID}):\n\n  {OPENSSL_VERIFY}\n\nIt prints \"Signature Verified Successfully\". Then check the image belongs to the form:\n\n  sha256sum {HANDWRITING_FILE}     (must equal handwriting_sha256 in {FORM_FILE})\n\n"
    ));
    out.push_str(&format!(
        "SM3({FORM_FILE})        = {}\nSHA-256({HANDWRITING_FILE}) = {}\nkey fingerprint (SM3 of SPKI DER) = {}\n",
        sm3_hex(form_bytes),
        crate::verify::sha256_hex(handwriting_png),
        fingerprint,
    ));
    Ok(out)
}

/// Writes a bundle into `dir` (created if needed). Explicit IO.
pub fn write_bundle(dir: &Path, bundle: &Bundle) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, bytes) in &bundle.files {
        std::fs::write(dir.join(name), bytes)?;
    }
    Ok(())
}
