//! The port for secrets kept at rest (webhook signing secrets, later SSO client secrets, SMTP
//! and storage credentials): sealed before they are stored, opened when they are used.

use std::future::Future;

use crate::{TenantCtx, Unexpected};

/// Where a secret lives: the table, the column and the row's id. With the tenant it is bound
/// into the ciphertext, so a sealed value copied to another row, column or tenant does not
/// open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SecretSlot<'a> {
    pub table: &'static str,
    pub column: &'static str,
    pub row: &'a str,
}

/// Seals and opens secrets with the tenant's own data key. A sealed value is text (stored as
/// is in either backend); the plaintext never leaves the caller.
pub trait SecretCipher: Clone + Send + Sync + 'static {
    fn seal(
        &self,
        ctx: &TenantCtx,
        slot: SecretSlot<'_>,
        plaintext: &[u8],
    ) -> impl Future<Output = Result<String, Unexpected>> + Send;

    /// Fails when the value was sealed for another slot or tenant, or altered.
    fn open(
        &self,
        ctx: &TenantCtx,
        slot: SecretSlot<'_>,
        sealed: &str,
    ) -> impl Future<Output = Result<Vec<u8>, Unexpected>> + Send;
}

/// What [`PlatformCipher`] returns.
pub type SealFuture<'a, T> =
    std::pin::Pin<Box<dyn Future<Output = Result<T, Unexpected>> + Send + 'a>>;

/// Seals and opens secrets that belong to no tenant (a user's TOTP secret) with the platform's
/// own data key, bound to their slot like a tenant's. Object-safe: services hold it as
/// `Arc<dyn PlatformCipher>`.
pub trait PlatformCipher: Send + Sync + 'static {
    fn seal_platform<'a>(
        &'a self,
        slot: SecretSlot<'a>,
        plaintext: &'a [u8],
    ) -> SealFuture<'a, String>;

    /// Fails when the value was sealed for another slot, or altered.
    fn open_platform<'a>(
        &'a self,
        slot: SecretSlot<'a>,
        sealed: &'a str,
    ) -> SealFuture<'a, Vec<u8>>;
}

/// Signs statements the platform vouches for (a purge certificate) with the platform's key:
/// a compact JWS (EdDSA) that anyone can check against the keys the platform publishes
/// (`/.well-known/jwks.json`). Object-safe: services hold it as `Arc<dyn StatementSigner>`.
pub trait StatementSigner: Send + Sync + 'static {
    /// `claims` is a JSON object; the signer adds its issuer (`iss`) and names the statement's
    /// kind in the header's `typ`.
    fn sign_statement(&self, typ: &str, claims: &str) -> Result<String, Unexpected>;
}
