//! The Ed25519 key that signs access tokens.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, spki::der::pem::LineEnding};
use sha2::{Digest, Sha256};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum KeyError {
    #[error("not an Ed25519 private key in PKCS#8 PEM form: {0}")]
    Invalid(String),
    #[error("cannot encode the key: {0}")]
    Encoding(String),
}

/// An Ed25519 signing key and its key id (a thumbprint of the public key).
#[derive(Clone)]
pub struct SigningKeyMaterial {
    key: SigningKey,
}

impl std::fmt::Debug for SigningKeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKeyMaterial(kid={})", self.kid())
    }
}

impl SigningKeyMaterial {
    /// A new random key.
    pub fn generate() -> Self {
        let mut seed = [0u8; 32];
        #[allow(clippy::expect_used)]
        getrandom::fill(&mut seed).expect("operating system random generator");
        Self {
            key: SigningKey::from_bytes(&seed),
        }
    }

    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, KeyError> {
        SigningKey::from_pkcs8_pem(pem.trim())
            .map(|key| Self { key })
            .map_err(|e| KeyError::Invalid(e.to_string()))
    }

    pub fn to_pkcs8_pem(&self) -> Result<String, KeyError> {
        self.key
            .to_pkcs8_pem(LineEnding::LF)
            .map(|pem| pem.to_string())
            .map_err(|e| KeyError::Encoding(e.to_string()))
    }

    pub(crate) fn pkcs8_der(&self) -> Result<Vec<u8>, KeyError> {
        self.key
            .to_pkcs8_der()
            .map(|doc| doc.as_bytes().to_vec())
            .map_err(|e| KeyError::Encoding(e.to_string()))
    }

    /// The public key, base64url (the JWK `x` member).
    pub fn public_x(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.key.verifying_key().to_bytes())
    }

    /// A stable id for the key: the first 16 characters of the public key's SHA-256, base64url.
    pub fn kid(&self) -> String {
        let digest = Sha256::digest(self.key.verifying_key().to_bytes());
        URL_SAFE_NO_PAD.encode(digest)[..16].to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trip_keeps_the_key() {
        let k = SigningKeyMaterial::generate();
        let pem = k.to_pkcs8_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let back = SigningKeyMaterial::from_pkcs8_pem(&pem).unwrap();
        assert_eq!(back.public_x(), k.public_x());
        assert_eq!(back.kid(), k.kid());
        assert_ne!(SigningKeyMaterial::generate().kid(), k.kid());
        assert!(SigningKeyMaterial::from_pkcs8_pem("not a key").is_err());
    }
}
