//! The `Signer` seam: the software key now, a police PKI USB key (SKF / PKCS#11) later.

use sm2::dsa::signature::Signer as _;
use zeroize::Zeroizing;

use crate::crypto::{DIST_ID, PublicKey, SignoffError, signature_to_der};

/// Where a signature is made, for the record and the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignerKind {
    /// A key file on the workstation, unlocked with the chief's PIN.
    Software,
    /// A hardware token (USB key) holding a key that never leaves it.
    Token,
}

/// Makes SM2 signatures (SM3 over Z_A ‖ M, signer ID [`DIST_ID`]) with a key only its
/// holder controls. Implementations keep the private key to themselves: there is no
/// way to read it out through this trait.
pub trait Signer: Send + Sync {
    fn kind(&self) -> SignerKind;
    fn public_key(&self) -> &PublicKey;
    /// Signs `message` (the canonical form bytes, not a digest); returns DER.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignoffError>;
}

/// An SM2 key held in memory, unlocked from a key file ([`crate::keyfile`]).
/// The secret scalar is wiped from memory when this is dropped.
pub struct SoftwareSigner {
    key: sm2::dsa::SigningKey,
    public: PublicKey,
}

impl std::fmt::Debug for SoftwareSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftwareSigner")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl SoftwareSigner {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Result<SoftwareSigner, SignoffError> {
        let secret = sm2::SecretKey::random(&mut rand_core::OsRng);
        Self::from_secret(&secret)
    }

    pub(crate) fn from_secret(secret: &sm2::SecretKey) -> Result<SoftwareSigner, SignoffError> {
        let key = sm2::dsa::SigningKey::new(DIST_ID, secret)
            .map_err(|e| SignoffError::Signing(e.to_string()))?;
        Ok(SoftwareSigner {
            key,
            public: PublicKey(secret.public_key()),
        })
    }

    pub(crate) fn from_secret_bytes(bytes: &[u8]) -> Result<SoftwareSigner, SignoffError> {
        let secret =
            sm2::SecretKey::from_slice(bytes).map_err(|e| SignoffError::Signing(e.to_string()))?;
        Self::from_secret(&secret)
    }

    /// The key as an unencrypted PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`, what
    /// `openssl pkey` reads). Only for a key an unattended service must use without a
    /// PIN (the server's audit key): the file's permissions are its only protection.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, SignoffError> {
        use sm2::pkcs8::{EncodePrivateKey, LineEnding};
        let secret = sm2::SecretKey::from_slice(&self.secret_bytes())
            .map_err(|e| SignoffError::Signing(e.to_string()))?;
        let pem = secret
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| SignoffError::Signing(e.to_string()))?;
        Ok(Zeroizing::new(pem.as_str().to_owned()))
    }

    /// Reads a key written by [`SoftwareSigner::to_pkcs8_pem`].
    pub fn from_pkcs8_pem(pem: &str) -> Result<SoftwareSigner, SignoffError> {
        use sm2::pkcs8::DecodePrivateKey;
        let secret = sm2::SecretKey::from_pkcs8_pem(pem.trim())
            .map_err(|e| SignoffError::Signing(format!("not an SM2 PKCS#8 private key: {e}")))?;
        Self::from_secret(&secret)
    }

    /// The secret scalar, for encrypting into a key file only.
    pub(crate) fn secret_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.key.to_bytes().to_vec())
    }
}

impl Signer for SoftwareSigner {
    fn kind(&self) -> SignerKind {
        SignerKind::Software
    }

    fn public_key(&self) -> &PublicKey {
        &self.public
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignoffError> {
        let signature = self
            .key
            .try_sign(message)
            .map_err(|e| SignoffError::Signing(e.to_string()))?;
        Ok(signature_to_der(&signature))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pkcs8_pem_round_trips_to_the_same_key() {
        let signer = SoftwareSigner::generate().expect("key");
        let pem = signer.to_pkcs8_pem().expect("pem");
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let back = SoftwareSigner::from_pkcs8_pem(&pem).expect("read back");
        assert_eq!(back.public_key(), signer.public_key());
        let sig = back.sign(b"head").expect("sign");
        signer.public_key().verify(b"head", &sig).expect("verifies");
        assert!(SoftwareSigner::from_pkcs8_pem("not a key").is_err());
    }
}
