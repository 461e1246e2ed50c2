//! A quota refusal: what every create that counts against a tenant's quota may answer.
//!
//! Quotas are counted and enforced by the store's change pipeline, in the transaction of the
//! change (see `tenantry_audit::Audited::QUOTA`); this is the error it reports.

use thiserror::Error;

#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum QuotaError {
    #[error("the {resource} quota is {limit} and {used} are used: {requested} more do not fit")]
    Exceeded {
        resource: String,
        limit: u64,
        used: u64,
        requested: u64,
    },
}
