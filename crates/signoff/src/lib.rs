//! The chief's electronic signature over the feedback form (反馈表 · 一把手签字审批).
//!
//! What makes the sign-off reliable in the sense of 电子签名法 art. 13, piece by piece:
//! - the exact content is fixed by `jsjb_core::form` (canonical bytes, the handwriting
//!   image's hash included);
//! - it is hashed with SM3 and signed with SM2 per GB/T 32918, signer ID
//!   [`DIST_ID`] ([`crypto`]);
//! - the signing key is generated on the chief's workstation and kept there encrypted
//!   under the chief's PIN with argon2id + ChaCha20-Poly1305, with wrong PINs
//!   rate-limited across restarts, the count authenticated ([`keyfile`]);
//! - signing sits behind the [`Signer`] trait, so a police PKI USB key (SKF or PKCS#11)
//!   can replace the software key without touching the rest;
//! - anyone can verify later and offline: with [`verify`], or with OpenSSL 3 from the
//!   export bundle ([`export`]; the command is [`export::OPENSSL_VERIFY`]).
//!
//! No IO happens here except where a function says so (key files, writing a bundle,
//! loading a font), and time is always passed in.

pub mod crypto;
pub mod desk;
pub mod export;
pub mod flow;
pub mod handwriting;
pub mod keyfile;
pub mod pdf;
pub mod signer;
pub mod verify;

pub use crypto::{DIST_ID, PublicKey, SignoffError, sm3_hex};
pub use keyfile::{KdfParams, KeyFile, KeyFileError, PinPolicy};
pub use signer::{Signer, SignerKind, SoftwareSigner};
pub use verify::{SignedForm, Verdict, verdict};

/// Standard base64 (with padding), as the API carries bytes.
pub mod b64 {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    pub fn encode(bytes: &[u8]) -> String {
        STANDARD.encode(bytes)
    }

    pub fn decode(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
        STANDARD.decode(text.trim())
    }
}
