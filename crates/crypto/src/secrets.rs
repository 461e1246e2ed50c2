//! Random secrets from the operating system and their SHA-256 digests.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use tenantry_identity::{RefreshSecret, Secrets, TokenDigest};

#[derive(Clone, Copy, Debug, Default)]
pub struct RandomSecrets;

/// 256 random bits, base64url.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    // The OS generator failing is not something to continue from.
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut bytes).expect("operating system random generator");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// SHA-256, base64url: what is stored instead of a secret. A fast hash is right here:
/// the secret has 256 bits of entropy, so there is nothing to brute-force.
pub fn digest(secret: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(secret.as_bytes()))
}

impl Secrets for RandomSecrets {
    fn refresh_secret(&self) -> RefreshSecret {
        RefreshSecret(random_token())
    }

    fn token_id(&self) -> String {
        uuid::Uuid::now_v7().to_string()
    }

    fn digest(&self, secret: &RefreshSecret) -> TokenDigest {
        TokenDigest(digest(&secret.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_256_bit_and_digests_stable() {
        let a = RandomSecrets.refresh_secret();
        let b = RandomSecrets.refresh_secret();
        assert_ne!(a, b);
        assert_eq!(URL_SAFE_NO_PAD.decode(&a.0).unwrap().len(), 32);
        assert_eq!(RandomSecrets.digest(&a), RandomSecrets.digest(&a));
        assert_ne!(RandomSecrets.digest(&a).0, a.0);
        assert_eq!(digest("abc"), "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
    }
}
