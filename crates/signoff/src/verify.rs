//! Verification of a signed form, for the server (before it accepts an approval) and
//! for every view of the form on a desktop (签名有效 / 内容已被修改 / 签名无效).

use jsjb_core::form::FeedbackForm;
use sha2::{Digest, Sha256};

use crate::crypto::{PublicKey, SignoffError};

/// A signed form as kept with the case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedForm<'a> {
    /// The canonical bytes that were signed.
    pub form_bytes: &'a [u8],
    pub signature_der: &'a [u8],
    pub public_key_pem: &'a str,
    /// The handwriting image, when at hand: its hash must be the one on the form.
    pub handwriting_png: Option<&'a [u8]>,
}

/// The status shown on every view of a signed form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// 签名有效: the signature verifies and the content is what was signed.
    Valid,
    /// 内容已被修改: the signature verifies over the stored bytes, but the letter or the
    /// handwriting image no longer matches them.
    ContentModified,
    /// 签名无效: the signature does not verify (the bytes or the signature were changed,
    /// or the key is not the signer's).
    SignatureInvalid,
}

impl Verdict {
    /// The stable code the UI translates.
    pub fn code(self) -> &'static str {
        match self {
            Verdict::Valid => "signature_valid",
            Verdict::ContentModified => "content_modified",
            Verdict::SignatureInvalid => "signature_invalid",
        }
    }
}

/// Lower-case hex SHA-256 (the handwriting image's hash on the form).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Checks only the signature over the bytes.
pub fn verify_signature(signed: &SignedForm<'_>) -> Result<(), SignoffError> {
    PublicKey::from_pem(signed.public_key_pem)?.verify(signed.form_bytes, signed.signature_der)
}

/// The full check: the signature over the stored bytes, the bytes decode as a form, the
/// handwriting image (when given) is the one on the form, and — when the caller can
/// rebuild the form from the letter as it is now (`current_form`) — nothing changed.
pub fn verdict(signed: &SignedForm<'_>, current_form: Option<&[u8]>) -> Verdict {
    if verify_signature(signed).is_err() {
        return Verdict::SignatureInvalid;
    }
    let Ok(form) = FeedbackForm::from_canonical(signed.form_bytes) else {
        // Signed, but not a form this version knows: nothing to show as valid.
        return Verdict::ContentModified;
    };
    if signed
        .handwriting_png
        .is_some_and(|png| sha256_hex(png) != form.handwriting_sha256)
    {
        return Verdict::ContentModified;
    }
    if current_form.is_some_and(|current| current != signed.form_bytes) {
        return Verdict::ContentModified;
    }
    Verdict::Valid
}
