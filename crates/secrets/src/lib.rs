//! Secrets at rest, by envelope encryption.
//!
//! - A **master key** (key-encryption key) from `TENANTRY_MASTER_KEY`, or from a key file
//!   created with mode 0600 on first start (the embedded default). It never reaches the
//!   database.
//! - One **data key** per tenant, random, stored wrapped under the master key (AES key wrap,
//!   RFC 3394) with the master key's id beside it ([`DataKeyStore`]).
//! - Each secret sealed with its tenant's data key (AES-256-GCM, random nonce) and the tenant,
//!   table, column and row as associated data: a sealed value moved anywhere else does not
//!   open ([`Vault`], the [`tenantry_kernel::SecretCipher`] adapter).
//! - `tenantry keys rotate` re-wraps the data keys under a new master key; data keys do not
//!   change, so sealed values and running servers are untouched ([`Vault::rotate`]).
//! - One **person key** per account for the personal fields of append-only records (the
//!   audit trail's IP and user agent, the security log): sealed under the platform's data
//!   key and deleted with the account, which erases those fields ([`PersonKey`]).

mod master;
mod personal;
mod vault;

pub use master::{KeyConfigError, KeySource, MasterKey, MasterKeys};
pub use personal::{ERASED, KeyRef, PersonKey, Stored, key_slot};
pub use vault::{DataKeyStore, PLATFORM_KEY_OWNER, Rotation, Vault, WrappedKey};

#[cfg(test)]
mod tests;
