//! SM3 and SM2 (GB/T 32918) with the default signer ID, public keys as SPKI PEM and
//! signatures as DER — the encodings OpenSSL 3 reads.

use sm2::dsa::signature::Verifier;
use sm2::pkcs8::{DecodePublicKey, EncodePublicKey, LineEnding};
use sm3::{Digest, Sm3};

/// The signer ID (ID_A) that goes into Z_A, GB/T 32918's default, used for every key.
pub const DIST_ID: &str = "1234567812345678";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignoffError {
    #[error("the public key is not an SM2 public key in SPKI PEM form: {0}")]
    BadPublicKey(String),
    #[error("the signature is not a DER-encoded SM2 signature (SEQUENCE of two INTEGERs)")]
    BadSignatureEncoding,
    #[error("the signature does not verify over these bytes with this key")]
    SignatureInvalid,
    #[error("signing failed: {0}")]
    Signing(String),
}

/// Lower-case hex SM3 digest of `bytes` (what `openssl dgst -sm3` prints).
pub fn sm3_hex(bytes: &[u8]) -> String {
    hex::encode(Sm3::digest(bytes))
}

/// An SM2 public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey(pub(crate) sm2::PublicKey);

impl PublicKey {
    /// Reads a `-----BEGIN PUBLIC KEY-----` (SPKI) PEM: id-ecPublicKey with the SM2 curve.
    pub fn from_pem(pem: &str) -> Result<PublicKey, SignoffError> {
        sm2::PublicKey::from_public_key_pem(pem.trim())
            .map(PublicKey)
            .map_err(|e| SignoffError::BadPublicKey(e.to_string()))
    }

    /// The SPKI PEM that `openssl pkeyutl -pubin -inkey` reads.
    pub fn to_pem(&self) -> Result<String, SignoffError> {
        self.0
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| SignoffError::BadPublicKey(e.to_string()))
    }

    /// The SPKI DER.
    pub fn to_der(&self) -> Result<Vec<u8>, SignoffError> {
        self.0
            .to_public_key_der()
            .map(|d| d.as_bytes().to_vec())
            .map_err(|e| SignoffError::BadPublicKey(e.to_string()))
    }

    /// The key's fingerprint: lower-case hex SM3 of its SPKI DER.
    pub fn fingerprint(&self) -> Result<String, SignoffError> {
        Ok(sm3_hex(&self.to_der()?))
    }

    /// Verifies a DER signature over `message` (SM3 over Z_A ‖ M, signer ID [`DIST_ID`]).
    pub fn verify(&self, message: &[u8], signature_der: &[u8]) -> Result<(), SignoffError> {
        let signature = signature_from_der(signature_der)?;
        let key = sm2::dsa::VerifyingKey::new(DIST_ID, self.0)
            .map_err(|e| SignoffError::BadPublicKey(e.to_string()))?;
        key.verify(message, &signature)
            .map_err(|_| SignoffError::SignatureInvalid)
    }
}

/// DER of an INTEGER holding the unsigned big-endian `bytes`.
fn der_uint(bytes: &[u8], out: &mut Vec<u8>) {
    let start = bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(bytes.len().saturating_sub(1));
    let digits = &bytes[start..];
    let pad = digits.first().is_some_and(|b| b & 0x80 != 0);
    out.push(0x02);
    // At most 33 bytes: the short length form always fits.
    out.push(u8::try_from(digits.len() + usize::from(pad)).unwrap_or(0x7f));
    if pad {
        out.push(0);
    }
    out.extend_from_slice(digits);
}

/// `SEQUENCE { r INTEGER, s INTEGER }`, as OpenSSL writes and reads SM2 signatures.
pub fn signature_to_der(signature: &sm2::dsa::Signature) -> Vec<u8> {
    let mut body = Vec::with_capacity(72);
    der_uint(&signature.r_bytes(), &mut body);
    der_uint(&signature.s_bytes(), &mut body);
    let mut out = Vec::with_capacity(body.len() + 2);
    out.push(0x30);
    out.push(u8::try_from(body.len()).unwrap_or(0x7f));
    out.extend_from_slice(&body);
    out
}

/// Reads one INTEGER in strict DER into a 32-byte big-endian field element.
fn read_uint(input: &[u8]) -> Result<([u8; 32], &[u8]), SignoffError> {
    let bad = || SignoffError::BadSignatureEncoding;
    let (&tag, rest) = input.split_first().ok_or_else(bad)?;
    let (&len, rest) = rest.split_first().ok_or_else(bad)?;
    let len = usize::from(len);
    if tag != 0x02 || len == 0 || len > 33 || rest.len() < len {
        return Err(bad());
    }
    let (digits, rest) = rest.split_at(len);
    // Minimal, non-negative: no sign bit, no needless leading zero.
    if digits[0] & 0x80 != 0 || (len > 1 && digits[0] == 0 && digits[1] & 0x80 == 0) {
        return Err(bad());
    }
    let digits = if digits[0] == 0 && len > 1 {
        &digits[1..]
    } else {
        digits
    };
    if digits.len() > 32 {
        return Err(bad());
    }
    let mut out = [0_u8; 32];
    out[32 - digits.len()..].copy_from_slice(digits);
    Ok((out, rest))
}

/// Reads a strict-DER SM2 signature.
pub fn signature_from_der(der: &[u8]) -> Result<sm2::dsa::Signature, SignoffError> {
    let bad = || SignoffError::BadSignatureEncoding;
    match der {
        [0x30, len, body @ ..] if usize::from(*len) == body.len() && *len < 0x80 => {
            let (r, rest) = read_uint(body)?;
            let (s, rest) = read_uint(rest)?;
            if !rest.is_empty() {
                return Err(bad());
            }
            sm2::dsa::Signature::from_scalars(r, s).map_err(|_| bad())
        }
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sm3_of_abc_is_the_standard_vector() {
        // GB/T 32905 example 1.
        assert_eq!(
            sm3_hex(b"abc"),
            "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
        );
    }

    #[test]
    fn der_rejects_what_is_not_strict() {
        assert!(signature_from_der(&[]).is_err());
        assert!(signature_from_der(&[0x30, 0x00]).is_err());
        // INTEGER with a needless leading zero.
        assert!(
            signature_from_der(&[0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x02, 0x00, 0x01]).is_err()
        );
        // Negative.
        assert!(signature_from_der(&[0x30, 0x06, 0x02, 0x01, 0x81, 0x02, 0x01, 0x01]).is_err());
    }
}
