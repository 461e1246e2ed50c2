//! What a billing provider (Stripe, or one compatible with it) tells Tenantry, and what that
//! does to a subscription.

use chrono::{DateTime, Utc};

use crate::model::SubscriptionStatus;

/// One provider event, verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderEvent {
    /// The provider's id for it: an event seen once is never applied again.
    pub id: String,
    /// The provider's type, e.g. `customer.subscription.updated`.
    pub kind: String,
    /// The tenant it is about (its id or slug), when the event names one.
    pub tenant: Option<String>,
    pub change: ProviderChange,
}

/// What the event changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProviderChange {
    /// The subscription as the provider now has it; absent parts stay.
    Subscription {
        status: Option<SubscriptionStatus>,
        /// A Tenantry plan code.
        plan: Option<String>,
        current_period_end: Option<DateTime<Utc>>,
        cancel_at_period_end: Option<bool>,
        trial_ends_at: Option<Option<DateTime<Utc>>>,
    },
    /// The subscription ended.
    Canceled,
    /// An invoice was paid: a past-due subscription is active again.
    Paid,
    /// A payment failed: the subscription is past due.
    PaymentFailed,
    /// Nothing Tenantry follows.
    Ignored,
}
