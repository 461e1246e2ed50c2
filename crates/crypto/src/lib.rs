//! The crypto adapter: implements the identity ports for password hashing (argon2id, off the
//! async executor), access tokens (EdDSA-signed JWTs, published as a JWKS) and random secrets.

mod hasher;
mod keys;
mod secrets;
mod tokens;
mod totp;

pub use hasher::Argon2Hasher;
pub use keys::{KeyError, SigningKeyMaterial};
pub use secrets::{RandomSecrets, random_token};
pub use tokens::{Jwks, JwtTokens};
pub use totp::TotpCodes;

/// Everything the identity service needs from this crate, in one value.
#[derive(Clone)]
pub struct Crypto {
    pub hasher: Argon2Hasher,
    pub tokens: JwtTokens,
    pub secrets: RandomSecrets,
    pub codes: TotpCodes,
}

impl Crypto {
    /// Hasher, token signer for `issuer` with `key`, and the OS random source.
    pub fn new(
        key: &SigningKeyMaterial,
        issuer: &str,
    ) -> Result<Self, tenantry_kernel::Unexpected> {
        Ok(Self {
            hasher: Argon2Hasher::new()?,
            tokens: JwtTokens::new(key, issuer).map_err(tenantry_kernel::Unexpected::new)?,
            secrets: RandomSecrets,
            codes: TotpCodes,
        })
    }
}

mod delegation {
    //! `Crypto` is each port by handing the call to the part that does it.

    use chrono::{DateTime, Utc};
    use tenantry_identity::{
        AccessClaims, AccessTokens, FamilyId, InvalidAccessToken, NewPassword, OneTimeCodes,
        PasswordHash, PasswordHasher, RefreshSecret, Secrets, TokenDigest, TotpProvisioning,
    };
    use tenantry_kernel::Unexpected;

    use super::Crypto;

    impl PasswordHasher for Crypto {
        async fn hash(&self, password: &NewPassword) -> Result<PasswordHash, Unexpected> {
            self.hasher.hash(password).await
        }

        async fn verify_password(
            &self,
            password: &str,
            hash: &PasswordHash,
        ) -> Result<bool, Unexpected> {
            self.hasher.verify_password(password, hash).await
        }

        fn decoy(&self) -> &PasswordHash {
            self.hasher.decoy()
        }
    }

    impl AccessTokens for Crypto {
        fn sign_token(
            &self,
            claims: &AccessClaims,
            family: FamilyId,
        ) -> Result<String, Unexpected> {
            self.tokens.sign_token(claims, family)
        }

        fn verify_token(
            &self,
            token: &str,
            now: DateTime<Utc>,
        ) -> Result<(AccessClaims, FamilyId), InvalidAccessToken> {
            self.tokens.verify_token(token, now)
        }
    }

    impl Secrets for Crypto {
        fn refresh_secret(&self) -> RefreshSecret {
            self.secrets.refresh_secret()
        }

        fn token_id(&self) -> String {
            self.secrets.token_id()
        }

        fn digest(&self, secret: &RefreshSecret) -> TokenDigest {
            self.secrets.digest(secret)
        }
    }

    impl OneTimeCodes for Crypto {
        fn totp_secret(&self) -> Vec<u8> {
            self.codes.totp_secret()
        }

        fn totp_provisioning(
            &self,
            secret: &[u8],
            account: &str,
            issuer: &str,
        ) -> Result<TotpProvisioning, Unexpected> {
            self.codes.totp_provisioning(secret, account, issuer)
        }

        fn totp_step(&self, secret: &[u8], code: &str, now: DateTime<Utc>) -> Option<i64> {
            self.codes.totp_step(secret, code, now)
        }

        fn recovery_code(&self) -> String {
            self.codes.recovery_code()
        }
    }
}
