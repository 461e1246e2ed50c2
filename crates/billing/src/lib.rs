//! Billing: plans (platform reference data: prices, quotas, a request rate, feature flags),
//! each tenant's subscription to one, and the tenant's quotas — limits synced from the plan
//! (or set by the operator) and usage counted by the store's change pipeline, in the same
//! transaction as the change that uses them.

pub mod error;
pub mod metering;
pub mod model;
pub mod ports;
pub mod provider;
pub mod service;
pub mod stripe;
pub mod usage;
pub mod view;

pub use error::*;
pub use metering::*;
pub use model::*;
pub use ports::*;
pub use provider::{ProviderChange, ProviderEvent};
pub use service::{BillingPolicy, BillingService, Chooser, ProviderReceipt, Standing};
pub use usage::{ReportedUsage, UsageOutcome, UsageService};
pub use view::*;
