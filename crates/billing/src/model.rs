//! Plans, subscriptions and quotas: values valid by construction, and the rules of a
//! subscription's life.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use tenantry_kernel::{Currency, TenantId, TextShape, bounded_text};
use thiserror::Error;

/// A value that breaks its type's rules; the message names the field.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

fn invalid(msg: impl Into<String>) -> InvalidValue {
    InvalidValue(msg.into())
}

/// A plan's code, its stable name in the API and in subscriptions: `starter`, `pro-2026`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct PlanCode(String);

/// The pattern a plan code follows.
pub const PLAN_CODE_PATTERN: &str = "^[a-z][a-z0-9_-]{0,39}$";

impl PlanCode {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let mut chars = raw.chars();
        let ok = raw.len() <= 40
            && chars.next().is_some_and(|c| c.is_ascii_lowercase())
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(invalid(
                "plan must be 1 to 40 characters: a lower-case letter, then lower-case letters, \
                 digits, '_' or '-'",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for PlanCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A plan's display name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanName(String);

impl PlanName {
    pub const MAX: usize = 100;

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        bounded_text(raw, "name", Self::MAX, TextShape::Line)
            .map(Self)
            .map_err(InvalidValue)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a plan offers, in a sentence or two (a pricing page shows it).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PlanDescription(String);

impl PlanDescription {
    pub const MAX: usize = 2000;

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        bounded_text(raw, "description", Self::MAX, TextShape::Block)
            .map(Self)
            .map_err(InvalidValue)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The largest price, in minor units: what every JSON client holds exactly (2^53 − 1).
pub const MAX_PRICE_MINOR: i64 = 9_007_199_254_740_991;

/// A plan's prices per month and per year, in minor units of one currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prices {
    currency: Currency,
    monthly_minor: i64,
    yearly_minor: i64,
}

impl Prices {
    pub fn new(
        currency: Currency,
        monthly_minor: i64,
        yearly_minor: i64,
    ) -> Result<Self, InvalidValue> {
        for (field, v) in [
            ("price_monthly_minor", monthly_minor),
            ("price_yearly_minor", yearly_minor),
        ] {
            if !(0..=MAX_PRICE_MINOR).contains(&v) {
                return Err(invalid(format!(
                    "{field} must be between 0 and {MAX_PRICE_MINOR}"
                )));
            }
        }
        Ok(Self {
            currency,
            monthly_minor,
            yearly_minor,
        })
    }

    pub const fn currency(&self) -> Currency {
        self.currency
    }

    pub const fn monthly_minor(&self) -> i64 {
        self.monthly_minor
    }

    pub const fn yearly_minor(&self) -> i64 {
        self.yearly_minor
    }
}

/// The resources a quota can count, e.g. `products`: every entity that declares
/// `tenantry_audit::Audited::QUOTA`. Given to the billing service by the composition root.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QuotaCatalogue(Vec<&'static str>);

impl QuotaCatalogue {
    pub fn new(mut resources: Vec<&'static str>) -> Self {
        resources.sort_unstable();
        resources.dedup();
        Self(resources)
    }

    pub fn resources(&self) -> &[&'static str] {
        &self.0
    }

    pub fn find(&self, name: &str) -> Option<&'static str> {
        self.0.iter().copied().find(|r| *r == name)
    }
}

/// The prefix of a quota's name in a plan: `max_products` limits `products`.
pub const QUOTA_PREFIX: &str = "max_";

/// The largest limit a quota may have (what every JSON client holds exactly).
pub const MAX_QUOTA_LIMIT: u64 = 9_007_199_254_740_991;

/// A plan's limits, by resource; a resource the plan does not name, or names with `null`, is
/// unlimited.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QuotaLimits(BTreeMap<String, Option<u64>>);

impl QuotaLimits {
    /// From `{"max_<resource>": limit | null}`; every resource must be in the catalogue.
    pub fn parse(
        raw: &BTreeMap<String, Option<u64>>,
        catalogue: &QuotaCatalogue,
    ) -> Result<Self, InvalidValue> {
        let mut limits = BTreeMap::new();
        for (key, limit) in raw {
            let resource = key
                .strip_prefix(QUOTA_PREFIX)
                .and_then(|r| catalogue.find(r))
                .ok_or_else(|| {
                    invalid(format!(
                        "quotas: '{key}' is not a quota; they are {}",
                        catalogue
                            .resources()
                            .iter()
                            .map(|r| format!("{QUOTA_PREFIX}{r}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?;
            if limit.is_some_and(|l| l > MAX_QUOTA_LIMIT) {
                return Err(invalid(format!(
                    "quotas: {key} must be at most {MAX_QUOTA_LIMIT}"
                )));
            }
            limits.insert(resource.to_owned(), *limit);
        }
        Ok(Self(limits))
    }

    /// The limit of `resource` (`None`: unlimited).
    pub fn limit(&self, resource: &str) -> Option<u64> {
        self.0.get(resource).copied().flatten()
    }

    /// `{"max_<resource>": limit | null}`, as plans are written.
    pub fn to_map(&self) -> BTreeMap<String, Option<u64>> {
        self.0
            .iter()
            .map(|(r, l)| (format!("{QUOTA_PREFIX}{r}"), *l))
            .collect()
    }

    /// Stored form: the resources' names without the prefix, for the database to read.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_else(|_| "{}".to_owned())
    }

    /// Reads the stored form.
    pub fn from_json(json: &str) -> Result<Self, InvalidValue> {
        serde_json::from_str(json)
            .map(Self)
            .map_err(|e| invalid(format!("stored quotas: {e}")))
    }
}

/// A feature flag's value: on/off, or a number (`audit_retention_days`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum FeatureValue {
    Flag(bool),
    Number(u64),
}

/// The features a plan includes. Tenantry gates its own routes on some (`webhooks`,
/// `custom_domains`, `sso`, `ip_allowlist`, …); a product built on Tenantry may add its own
/// and read them from the tenant's subscription.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Features(BTreeMap<String, FeatureValue>);

/// The pattern a feature's name follows.
pub const FEATURE_PATTERN: &str = "^[a-z][a-z0-9_]{0,63}$";

impl Features {
    pub fn parse(raw: BTreeMap<String, FeatureValue>) -> Result<Self, InvalidValue> {
        for name in raw.keys() {
            let mut chars = name.chars();
            let ok = name.len() <= 64
                && chars.next().is_some_and(|c| c.is_ascii_lowercase())
                && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !ok {
                return Err(invalid(format!(
                    "features: '{name}' must be a lower-case letter, then up to 63 lower-case \
                     letters, digits or '_'"
                )));
            }
        }
        Ok(Self(raw))
    }

    /// Whether the plan has `name`: a flag that is on, or a number above zero.
    pub fn has(&self, name: &str) -> bool {
        match self.0.get(name) {
            Some(FeatureValue::Flag(on)) => *on,
            Some(FeatureValue::Number(n)) => *n > 0,
            None => false,
        }
    }

    pub fn as_map(&self) -> &BTreeMap<String, FeatureValue> {
        &self.0
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_else(|_| "{}".to_owned())
    }

    pub fn from_json(json: &str) -> Result<Self, InvalidValue> {
        serde_json::from_str(json)
            .map(Self)
            .map_err(|e| invalid(format!("stored features: {e}")))
    }
}

/// The longest trial a plan may give.
pub const MAX_TRIAL_DAYS: u32 = 365;

/// The most requests per hour a tier may allow.
pub const MAX_REQUESTS_PER_HOUR: u64 = 1_000_000_000;

/// A plan: what a tenant pays and what it gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub code: PlanCode,
    pub name: PlanName,
    pub description: PlanDescription,
    pub prices: Prices,
    pub quotas: QuotaLimits,
    /// The rate tier: requests per hour for the whole tenant (`None`: not limited).
    pub requests_per_hour: Option<u64>,
    pub features: Features,
    pub trial_days: u32,
    /// Listed on the public pricing route and open to tenants' own plan changes.
    pub public: bool,
    /// The plan new tenants start on (exactly one plan is the default).
    pub is_default: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A plan as written by the operator, before it exists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewPlan {
    pub code: PlanCode,
    pub name: PlanName,
    pub description: PlanDescription,
    pub prices: Prices,
    pub quotas: QuotaLimits,
    pub requests_per_hour: Option<u64>,
    pub features: Features,
    pub trial_days: u32,
    pub public: bool,
    pub is_default: bool,
}

/// Checks a trial length and a request rate (the parts of a plan that are plain numbers).
pub fn check_plan_numbers(
    trial_days: u32,
    requests_per_hour: Option<u64>,
) -> Result<(), InvalidValue> {
    if trial_days > MAX_TRIAL_DAYS {
        return Err(invalid(format!(
            "trial_days must be between 0 and {MAX_TRIAL_DAYS}"
        )));
    }
    if requests_per_hour.is_some_and(|r| r == 0 || r > MAX_REQUESTS_PER_HOUR) {
        return Err(invalid(format!(
            "requests_per_hour must be between 1 and {MAX_REQUESTS_PER_HOUR}, or null for no limit"
        )));
    }
    Ok(())
}

impl NewPlan {
    pub fn build(self, now: DateTime<Utc>) -> Plan {
        Plan {
            code: self.code,
            name: self.name,
            description: self.description,
            prices: self.prices,
            quotas: self.quotas,
            requests_per_hour: self.requests_per_hour,
            features: self.features,
            trial_days: self.trial_days,
            public: self.public,
            is_default: self.is_default,
            created_at: now,
            updated_at: now,
        }
    }
}

/// Changes to a plan; absent fields stay. `quotas` and `features` replace the whole map.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlanPatch {
    pub name: Option<PlanName>,
    pub description: Option<PlanDescription>,
    pub prices: Option<Prices>,
    pub quotas: Option<QuotaLimits>,
    pub requests_per_hour: Option<Option<u64>>,
    pub features: Option<Features>,
    pub trial_days: Option<u32>,
    pub public: Option<bool>,
    /// Only `true` means something: this plan becomes the default (another stops being it).
    pub is_default: Option<bool>,
}

impl PlanPatch {
    pub fn apply(&self, old: &Plan, now: DateTime<Utc>) -> Plan {
        let mut p = old.clone();
        if let Some(v) = &self.name {
            p.name = v.clone();
        }
        if let Some(v) = &self.description {
            p.description = v.clone();
        }
        if let Some(v) = self.prices {
            p.prices = v;
        }
        if let Some(v) = &self.quotas {
            p.quotas = v.clone();
        }
        if let Some(v) = self.requests_per_hour {
            p.requests_per_hour = v;
        }
        if let Some(v) = &self.features {
            p.features = v.clone();
        }
        if let Some(v) = self.trial_days {
            p.trial_days = v;
        }
        if let Some(v) = self.public {
            p.public = v;
        }
        if self.is_default == Some(true) {
            p.is_default = true;
        }
        p.updated_at = now;
        p
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    Trialing,
    Active,
    PastDue,
    Canceled,
}

impl SubscriptionStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Trialing => "trialing",
            Self::Active => "active",
            Self::PastDue => "past_due",
            Self::Canceled => "canceled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "trialing" => Some(Self::Trialing),
            "active" => Some(Self::Active),
            "past_due" => Some(Self::PastDue),
            "canceled" => Some(Self::Canceled),
            _ => None,
        }
    }
}

/// What happens when a trial ends without a payment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrialEnd {
    PastDue,
    Canceled,
}

/// How far a tenant's subscription lets it in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Full,
    /// Past due beyond the grace period: reads and billing only.
    ReadOnly,
    /// Canceled: billing only.
    Blocked,
}

/// A tenant's subscription to one plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    pub tenant_id: TenantId,
    pub plan: PlanCode,
    pub status: SubscriptionStatus,
    pub trial_ends_at: Option<DateTime<Utc>>,
    pub current_period_end: Option<DateTime<Utc>>,
    pub cancel_at_period_end: bool,
    /// When it became past due (the grace period runs from here).
    pub past_due_since: Option<DateTime<Utc>>,
    pub canceled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Subscription {
    /// A new tenant's subscription: a trial when the plan gives one, else active.
    pub fn start(tenant_id: TenantId, plan: &Plan, now: DateTime<Utc>) -> Self {
        let trial = plan.trial_days > 0;
        Self {
            tenant_id,
            plan: plan.code.clone(),
            status: if trial {
                SubscriptionStatus::Trialing
            } else {
                SubscriptionStatus::Active
            },
            trial_ends_at: trial.then(|| now + Duration::days(i64::from(plan.trial_days))),
            current_period_end: None,
            cancel_at_period_end: false,
            past_due_since: None,
            canceled_at: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// Moves to `plan`. A canceled subscription comes back as active (choosing a plan is
    /// subscribing again); past due stays past due (a payment settles it, not a plan change);
    /// a pending cancellation is withdrawn.
    pub fn change_plan(&mut self, plan: &Plan, now: DateTime<Utc>) {
        self.plan = plan.code.clone();
        if self.status == SubscriptionStatus::Canceled {
            self.status = SubscriptionStatus::Active;
            self.canceled_at = None;
            self.trial_ends_at = None;
        }
        self.cancel_at_period_end = false;
        self.updated_at = now;
    }

    /// Sets the status (a billing provider's word, or the schedule's).
    pub fn set_status(&mut self, status: SubscriptionStatus, now: DateTime<Utc>) {
        if self.status == status {
            return;
        }
        match status {
            SubscriptionStatus::PastDue => self.past_due_since = Some(now),
            SubscriptionStatus::Canceled => self.canceled_at = Some(now),
            SubscriptionStatus::Active | SubscriptionStatus::Trialing => {
                self.past_due_since = None;
                self.canceled_at = None;
            }
        }
        if status != SubscriptionStatus::PastDue {
            self.past_due_since = None;
        }
        self.status = status;
        self.updated_at = now;
    }

    /// The scheduled transitions due at `now`: an ended trial becomes past due or canceled
    /// (per `trial_end`), a cancellation at period end takes effect. Whether it changed.
    pub fn advance(&mut self, now: DateTime<Utc>, trial_end: TrialEnd) -> bool {
        let before = self.status;
        if self.status == SubscriptionStatus::Trialing
            && self.trial_ends_at.is_some_and(|t| t <= now)
        {
            self.set_status(
                match trial_end {
                    TrialEnd::PastDue => SubscriptionStatus::PastDue,
                    TrialEnd::Canceled => SubscriptionStatus::Canceled,
                },
                now,
            );
        }
        if self.cancel_at_period_end
            && self.status != SubscriptionStatus::Canceled
            && self.current_period_end.is_some_and(|t| t <= now)
        {
            self.set_status(SubscriptionStatus::Canceled, now);
        }
        self.status != before
    }

    /// How far the tenant may go at `now`, with `grace` after falling past due.
    pub fn access(&self, now: DateTime<Utc>, grace: Duration) -> Access {
        match self.status {
            SubscriptionStatus::Trialing | SubscriptionStatus::Active => Access::Full,
            SubscriptionStatus::PastDue => match self.past_due_since {
                Some(since) if now - since < grace => Access::Full,
                _ => Access::ReadOnly,
            },
            SubscriptionStatus::Canceled => Access::Blocked,
        }
    }

    /// How long after `now` time alone changes [`Self::access`] (a past-due subscription's
    /// grace ending); `None` when only a change to the subscription can.
    pub fn access_changes_in(&self, now: DateTime<Utc>, grace: Duration) -> Option<Duration> {
        match (self.status, self.past_due_since) {
            (SubscriptionStatus::PastDue, Some(since)) if now - since < grace => {
                Some(since + grace - now)
            }
            _ => None,
        }
    }
}

/// A subscription changed (`subscription.updated`); it is created with its tenant.
impl tenantry_audit::Audited for Subscription {
    const ENTITY: &'static str = "subscription";
    const EVENT_ACTIONS: &'static [&'static str] = &[
        tenantry_audit::actions::CREATED,
        tenantry_audit::actions::UPDATED,
    ];
    type View = crate::view::SubscriptionView;

    fn audit_id(&self) -> String {
        self.tenant_id.to_string()
    }

    fn audit_fields(&self) -> serde_json::Value {
        tenantry_audit::without(self.event_object(), &["created_at", "updated_at"])
    }
}

/// What the operator (or a billing provider) says about a subscription; absent fields stay.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubscriptionUpdate {
    pub status: Option<SubscriptionStatus>,
    pub trial_ends_at: Option<Option<DateTime<Utc>>>,
    pub current_period_end: Option<Option<DateTime<Utc>>>,
    pub cancel_at_period_end: Option<bool>,
}

impl Subscription {
    /// Applies `update` at `now` (a status change stamps when it happened).
    pub fn apply(&mut self, update: &SubscriptionUpdate, now: DateTime<Utc>) {
        if let Some(v) = update.trial_ends_at {
            self.trial_ends_at = v;
        }
        if let Some(v) = update.current_period_end {
            self.current_period_end = v;
        }
        if let Some(v) = update.cancel_at_period_end {
            self.cancel_at_period_end = v;
        }
        if let Some(status) = update.status {
            self.set_status(status, now);
        }
        self.updated_at = now;
    }
}

/// One resource's quota in one tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quota {
    pub resource: String,
    /// `None`: unlimited.
    pub limit: Option<u64>,
    pub used: u64,
    /// Set by the operator for this tenant: plan changes leave it alone.
    pub overridden: bool,
}

impl Quota {
    /// What may still be created (`None`: unlimited; zero when usage is above a lowered limit).
    pub fn remaining(&self) -> Option<u64> {
        self.limit.map(|l| l.saturating_sub(self.used))
    }
}

/// An operator set a tenant's quota (`quota.updated`).
impl tenantry_audit::Audited for Quota {
    const ENTITY: &'static str = "quota";
    const EVENT_ACTIONS: &'static [&'static str] = &[tenantry_audit::actions::UPDATED];
    type View = crate::view::QuotaView;

    fn audit_id(&self) -> String {
        self.resource.clone()
    }

    /// The limit and who set it; usage is not a change of the quota.
    fn audit_fields(&self) -> serde_json::Value {
        tenantry_audit::without(self.event_object(), &["resource", "used", "remaining"])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(trial_days: u32) -> Plan {
        NewPlan {
            code: PlanCode::parse("pro").unwrap(),
            name: PlanName::parse("Pro").unwrap(),
            description: PlanDescription::default(),
            prices: Prices::new(Currency::parse("USD").unwrap(), 1000, 10000).unwrap(),
            quotas: QuotaLimits::default(),
            requests_per_hour: Some(1000),
            features: Features::default(),
            trial_days,
            public: true,
            is_default: false,
        }
        .build(Utc::now())
    }

    #[test]
    fn codes_and_quota_names_are_checked() {
        assert!(PlanCode::parse("starter").is_ok());
        assert!(PlanCode::parse("Starter").is_err());
        assert!(PlanCode::parse("").is_err());
        assert!(PlanCode::parse("9lives").is_err());
        let catalogue = QuotaCatalogue::new(vec!["products", "members"]);
        let raw = BTreeMap::from([
            ("max_products".to_owned(), Some(5)),
            ("max_members".to_owned(), None),
        ]);
        let limits = QuotaLimits::parse(&raw, &catalogue).unwrap();
        assert_eq!(limits.limit("products"), Some(5));
        assert_eq!(limits.limit("members"), None);
        assert_eq!(limits.to_map(), raw);
        let bad = BTreeMap::from([("max_widgets".to_owned(), Some(5))]);
        let err = QuotaLimits::parse(&bad, &catalogue).unwrap_err();
        assert!(err.0.contains("max_members, max_products"), "{err}");
    }

    #[test]
    fn a_trial_ends_as_configured_and_past_due_turns_read_only_after_the_grace() {
        let t0 = Utc::now();
        let mut s = Subscription::start(TenantId::new(), &plan(14), t0);
        assert_eq!(s.status, SubscriptionStatus::Trialing);
        assert!(!s.advance(t0 + Duration::days(13), TrialEnd::PastDue));
        let end = t0 + Duration::days(14);
        assert!(s.advance(end, TrialEnd::PastDue));
        assert_eq!(s.status, SubscriptionStatus::PastDue);
        let grace = Duration::days(3);
        assert_eq!(s.access(end + Duration::days(2), grace), Access::Full);
        assert_eq!(s.access(end + Duration::days(3), grace), Access::ReadOnly);
        // A cached answer knows when time alone turns it.
        assert_eq!(
            s.access_changes_in(end + Duration::days(2), grace),
            Some(Duration::days(1))
        );
        assert_eq!(s.access_changes_in(end + Duration::days(3), grace), None);
        assert_eq!(
            Subscription::start(TenantId::new(), &plan(14), t0).access_changes_in(t0, grace),
            None
        );

        let mut c = Subscription::start(TenantId::new(), &plan(1), t0);
        assert!(c.advance(t0 + Duration::days(1), TrialEnd::Canceled));
        assert_eq!(c.access(t0 + Duration::days(1), grace), Access::Blocked);
        c.change_plan(&plan(0), t0 + Duration::days(2));
        assert_eq!(c.status, SubscriptionStatus::Active);
        assert_eq!(c.access(t0 + Duration::days(2), grace), Access::Full);
    }

    #[test]
    fn a_cancellation_at_period_end_waits_for_the_end() {
        let t0 = Utc::now();
        let mut s = Subscription::start(TenantId::new(), &plan(0), t0);
        s.current_period_end = Some(t0 + Duration::days(30));
        s.cancel_at_period_end = true;
        assert!(!s.advance(t0 + Duration::days(29), TrialEnd::PastDue));
        assert!(s.advance(t0 + Duration::days(30), TrialEnd::PastDue));
        assert_eq!(s.status, SubscriptionStatus::Canceled);
    }

    #[test]
    fn features_are_on_when_true_or_positive() {
        let f = Features::parse(BTreeMap::from([
            ("webhooks".to_owned(), FeatureValue::Flag(true)),
            ("sso".to_owned(), FeatureValue::Flag(false)),
            ("audit_retention_days".to_owned(), FeatureValue::Number(90)),
        ]))
        .unwrap();
        assert!(f.has("webhooks") && f.has("audit_retention_days"));
        assert!(!f.has("sso") && !f.has("custom_domains"));
        assert!(
            Features::parse(BTreeMap::from([(
                "Bad".to_owned(),
                FeatureValue::Flag(true)
            )]))
            .is_err()
        );
    }
}
