//! One error enum per operation.

use tenantry_kernel::Unexpected;
use thiserror::Error;

use crate::model::InvalidValue;

#[derive(Debug, Error)]
pub enum CreatePlanError {
    #[error("a plan with code '{code}' exists")]
    Duplicate { code: String },
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

#[derive(Debug, Error)]
pub enum UpdatePlanError {
    #[error("plan not found")]
    NotFound,
    /// The default plan stays the default until another one becomes it.
    #[error("the default plan stays the default: make another plan the default instead")]
    DefaultRequired,
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

#[derive(Debug, Error)]
pub enum DeletePlanError {
    #[error("plan not found")]
    NotFound,
    #[error("the default plan cannot be deleted: make another plan the default first")]
    IsDefault,
    #[error("{subscribers} tenant(s) subscribe to this plan: move them first")]
    InUse { subscribers: u64 },
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

#[derive(Debug, Error)]
pub enum ChangePlanError {
    /// No such plan, or (for a tenant choosing for itself) a plan that is not public.
    #[error("no plan '{code}' is available")]
    UnknownPlan { code: String },
    #[error("the tenant has no subscription")]
    NoSubscription,
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

#[derive(Debug, Error)]
pub enum CreateMetricError {
    #[error("a metric with code '{code}' exists")]
    Duplicate { code: String },
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

#[derive(Debug, Error)]
pub enum IngestUsageError {
    #[error("a batch holds 1 to {max} events, not {got}")]
    BatchSize { got: usize, max: usize },
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

#[derive(Debug, Error)]
pub enum UsageQueryError {
    #[error("no metric '{code}'")]
    UnknownMetric { code: String },
    #[error("{0}")]
    Invalid(InvalidValue),
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

#[derive(Debug, Error)]
pub enum SetQuotaError {
    #[error("'{resource}' is not a quota")]
    UnknownResource { resource: String },
    #[error("{0}")]
    Invalid(InvalidValue),
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}
