//! Usage metering for usage-based invoices: billable metrics (platform), usage events a tenant
//! reports (idempotent on their transaction id), and their aggregation per day or month.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde_json::{Map, Value};

use crate::model::InvalidValue;

fn invalid(msg: impl Into<String>) -> InvalidValue {
    InvalidValue(msg.into())
}

/// A metric's code: `api_calls`, `storage.gb_hours`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MetricCode(String);

/// The pattern a metric code follows.
pub const METRIC_CODE_PATTERN: &str = "^[a-z][a-z0-9_.-]{0,63}$";

impl MetricCode {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let mut chars = raw.chars();
        let ok = raw.len() <= 64
            && chars.next().is_some_and(|c| c.is_ascii_lowercase())
            && chars.all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-')
            });
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(invalid(
                "metric must be 1 to 64 characters: a lower-case letter, then lower-case \
                 letters, digits, '_', '.' or '-'",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The metric every tenant has: API calls, counted by the server itself.
pub const API_CALLS: &str = "api_calls";

/// How a metric's events become a number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Aggregation {
    /// How many events.
    Count,
    /// How many distinct values of a property.
    UniqueCount(String),
    /// The sum of a numeric property.
    Sum(String),
    /// The largest value of a numeric property.
    Max(String),
    /// The value of a numeric property in the newest event.
    Latest(String),
}

/// The longest property name a metric may aggregate.
pub const MAX_FIELD_LEN: usize = 64;

impl Aggregation {
    /// From its name (`count`, `unique_count`, `sum`, `max`, `latest`) and, except for
    /// `count` (which ignores it), the property it reads.
    pub fn parse(kind: &str, field: Option<&str>) -> Result<Self, InvalidValue> {
        let given = field;
        let field = || -> Result<String, InvalidValue> {
            let f = given.unwrap_or_default();
            let ok = !f.is_empty()
                && f.len() <= MAX_FIELD_LEN
                && f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if ok {
                Ok(f.to_owned())
            } else {
                Err(invalid(format!(
                    "field must name the property to aggregate: 1 to {MAX_FIELD_LEN} letters, \
                     digits or '_'"
                )))
            }
        };
        Ok(match kind {
            "count" => Self::Count,
            "unique_count" => Self::UniqueCount(field()?),
            "sum" => Self::Sum(field()?),
            "max" => Self::Max(field()?),
            "latest" => Self::Latest(field()?),
            other => {
                return Err(invalid(format!(
                    "aggregation must be count, unique_count, sum, max or latest, not '{other}'"
                )));
            }
        })
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::Count => "count",
            Self::UniqueCount(_) => "unique_count",
            Self::Sum(_) => "sum",
            Self::Max(_) => "max",
            Self::Latest(_) => "latest",
        }
    }

    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Count => None,
            Self::UniqueCount(f) | Self::Sum(f) | Self::Max(f) | Self::Latest(f) => Some(f),
        }
    }
}

/// A billable metric (platform reference data).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metric {
    pub code: MetricCode,
    pub name: crate::model::PlanName,
    pub aggregation: Aggregation,
    pub created_at: DateTime<Utc>,
}

/// A usage event's idempotency key, chosen by the tenant.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TransactionId(String);

impl TransactionId {
    pub const MAX: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        if raw.is_empty() || raw.len() > Self::MAX || raw.chars().any(|c| c.is_control()) {
            return Err(invalid(format!(
                "transaction_id must be 1 to {} characters without control characters",
                Self::MAX
            )));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// At most this many events per call.
pub const MAX_BATCH: usize = 100;
/// How far in the future an event's timestamp may be (clock skew).
pub const MAX_FUTURE: Duration = Duration::minutes(5);
/// How far in the past: late events still land in an open invoicing period.
pub const MAX_PAST: Duration = Duration::days(35);
/// The largest properties object accepted, serialised.
pub const MAX_PROPERTIES_BYTES: usize = 4096;

/// A usage event, checked against its metric: what aggregation reads is extracted once.
#[derive(Clone, Debug, PartialEq)]
pub struct UsageEvent {
    pub transaction_id: TransactionId,
    pub metric: MetricCode,
    pub timestamp: DateTime<Utc>,
    pub properties: Map<String, Value>,
    /// The numeric property a sum, max or latest reads.
    pub value: Option<f64>,
    /// The property a unique count reads, as text.
    pub unique: Option<String>,
}

impl UsageEvent {
    /// An event for `metric` at `timestamp`, received at `now`; refused when its time is out of
    /// the window or the property its metric reads is missing or of the wrong kind.
    pub fn check(
        transaction_id: TransactionId,
        metric: &Metric,
        timestamp: DateTime<Utc>,
        properties: Map<String, Value>,
        now: DateTime<Utc>,
    ) -> Result<Self, InvalidValue> {
        if timestamp > now + MAX_FUTURE {
            return Err(invalid(
                "timestamp is too far in the future (more than 5 minutes)",
            ));
        }
        if timestamp < now - MAX_PAST {
            return Err(invalid(
                "timestamp is too far in the past (more than 35 days)",
            ));
        }
        if serde_json::to_string(&properties).map_or(0, |s| s.len()) > MAX_PROPERTIES_BYTES {
            return Err(invalid(format!(
                "properties must be at most {MAX_PROPERTIES_BYTES} bytes of JSON"
            )));
        }
        let (mut value, mut unique) = (None, None);
        match &metric.aggregation {
            Aggregation::Count => {}
            Aggregation::UniqueCount(f) => {
                unique = Some(match properties.get(f) {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Number(n)) => n.to_string(),
                    _ => {
                        return Err(invalid(format!(
                            "properties.{f} must be a string or a number"
                        )));
                    }
                });
            }
            Aggregation::Sum(f) | Aggregation::Max(f) | Aggregation::Latest(f) => {
                value = Some(
                    properties
                        .get(f)
                        .and_then(Value::as_f64)
                        .filter(|v| v.is_finite())
                        .ok_or_else(|| invalid(format!("properties.{f} must be a number")))?,
                );
            }
        }
        Ok(Self {
            transaction_id,
            metric: metric.code.clone(),
            timestamp,
            properties,
            value,
            unique,
        })
    }

    /// The day it counts on (UTC).
    pub fn day(&self) -> NaiveDate {
        self.timestamp.date_naive()
    }
}

/// Buckets of an aggregation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Granularity {
    Day,
    Month,
}

impl Granularity {
    /// How many leading characters of a `YYYY-MM-DD` day name the bucket.
    pub const fn prefix_len(self) -> usize {
        match self {
            Self::Day => 10,
            Self::Month => 7,
        }
    }
}

/// One bucket's value: `period` is `YYYY-MM-DD` (day) or `YYYY-MM` (month).
#[derive(Clone, Debug, PartialEq)]
pub struct UsageBucket {
    pub period: String,
    pub value: f64,
}

/// The raw aggregates of one bucket, as the store computes them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BucketAggregates {
    pub period: String,
    pub count: i64,
    pub unique: i64,
    pub sum: Option<f64>,
    pub max: Option<f64>,
    pub latest: Option<f64>,
}

impl Aggregation {
    /// The number a bucket's aggregates mean for this aggregation.
    pub fn value(&self, b: &BucketAggregates) -> f64 {
        #[allow(clippy::cast_precision_loss)] // counts far below 2^53
        match self {
            Self::Count => b.count as f64,
            Self::UniqueCount(_) => b.unique as f64,
            Self::Sum(_) => b.sum.unwrap_or(0.0),
            Self::Max(_) => b.max.unwrap_or(0.0),
            Self::Latest(_) => b.latest.unwrap_or(0.0),
        }
    }
}

/// An invoicing period: a calendar month, `YYYY-MM`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    first: NaiveDate,
}

impl Period {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let bad = || invalid("period must be a month, YYYY-MM");
        let (y, m) = raw.split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(bad());
        }
        let first = NaiveDate::from_ymd_opt(
            y.parse().map_err(|_| bad())?,
            m.parse().map_err(|_| bad())?,
            1,
        )
        .ok_or_else(bad)?;
        Ok(Self { first })
    }

    /// The month `day` is in.
    pub fn of(day: NaiveDate) -> Self {
        Self {
            first: day.with_day(1).unwrap_or(day),
        }
    }

    /// `[start, end)` in UTC.
    pub fn bounds(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        let next = if self.first.month() == 12 {
            NaiveDate::from_ymd_opt(self.first.year() + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(self.first.year(), self.first.month() + 1, 1)
        }
        .unwrap_or(self.first);
        (
            self.first
                .and_hms_opt(0, 0, 0)
                .unwrap_or_default()
                .and_utc(),
            next.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc(),
        )
    }

    pub fn name(&self) -> String {
        self.first.format("%Y-%m").to_string()
    }
}

fn midnight(d: NaiveDate) -> DateTime<Utc> {
    d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

/// How an aggregation over `[from, to)` reads the store: the whole UTC days inside it from
/// the day rollups kept as events arrive, the parts of days at its ends (at most two) from
/// the events themselves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Coverage {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// The whole days, `[first, end)`: empty (`first == end`) when the range holds none.
    pub days: (NaiveDate, NaiveDate),
    /// The parts of days outside `days`, each `[start, end)` and not empty.
    pub edges: Vec<(DateTime<Utc>, DateTime<Utc>)>,
}

/// One calendar month of a coverage: distinct values do not add up across days, so a count
/// of them reads a month's own rollup when the month is whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonthCoverage {
    pub period: Period,
    /// The whole month lies in the range.
    pub whole: bool,
    /// The range's part inside the month.
    pub part: Coverage,
}

impl Coverage {
    pub fn of(from: DateTime<Utc>, to: DateTime<Utc>) -> Self {
        let day = from.date_naive();
        let first = if from == midnight(day) {
            day
        } else {
            day.succ_opt().unwrap_or(day)
        };
        let end = to.date_naive();
        if first >= end {
            return Self {
                from,
                to,
                days: (first, first),
                edges: if from < to { vec![(from, to)] } else { vec![] },
            };
        }
        let mut edges = Vec::new();
        if from < midnight(first) {
            edges.push((from, midnight(first)));
        }
        if midnight(end) < to {
            edges.push((midnight(end), to));
        }
        Self {
            from,
            to,
            days: (first, end),
            edges,
        }
    }

    pub fn has_days(&self) -> bool {
        self.days.0 < self.days.1
    }

    /// The months the range touches, oldest first.
    pub fn months(&self) -> Vec<MonthCoverage> {
        let mut out = Vec::new();
        let mut period = Period::of(self.from.date_naive());
        loop {
            let (start, end) = period.bounds();
            if start >= self.to || start >= end {
                return out;
            }
            out.push(MonthCoverage {
                period,
                whole: self.from <= start && end <= self.to,
                part: Self::of(self.from.max(start), self.to.min(end)),
            });
            period = Period::of(end.date_naive());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(kind: &str, field: Option<&str>) -> Metric {
        Metric {
            code: MetricCode::parse("seats").unwrap(),
            name: crate::model::PlanName::parse("Seats").unwrap(),
            aggregation: Aggregation::parse(kind, field).unwrap(),
            created_at: Utc::now(),
        }
    }

    #[test]
    fn events_are_checked_against_their_metric_and_the_window() {
        let now = Utc::now();
        let id = || TransactionId::parse("t-1").unwrap();
        let props = |v: Value| v.as_object().unwrap().clone();
        let sum = metric("sum", Some("gb"));
        let e =
            UsageEvent::check(id(), &sum, now, props(serde_json::json!({"gb": 2.5})), now).unwrap();
        assert_eq!(e.value, Some(2.5));
        assert!(
            UsageEvent::check(id(), &sum, now, props(serde_json::json!({"gb": "2"})), now).is_err()
        );
        assert!(
            UsageEvent::check(
                id(),
                &sum,
                now + Duration::minutes(6),
                props(serde_json::json!({"gb": 1})),
                now
            )
            .is_err()
        );
        assert!(
            UsageEvent::check(
                id(),
                &sum,
                now - Duration::days(36),
                props(serde_json::json!({"gb": 1})),
                now
            )
            .is_err()
        );
        let unique = metric("unique_count", Some("user"));
        let e = UsageEvent::check(
            id(),
            &unique,
            now,
            props(serde_json::json!({"user": 42})),
            now,
        )
        .unwrap();
        assert_eq!(e.unique.as_deref(), Some("42"));
        assert_eq!(
            Aggregation::parse("count", Some("x")).unwrap(),
            Aggregation::Count
        );
        assert!(Aggregation::parse("sum", None).is_err());
        assert!(Aggregation::parse("median", Some("x")).is_err());
    }

    #[test]
    fn periods_are_calendar_months() {
        let p = Period::parse("2026-12").unwrap();
        let (a, b) = p.bounds();
        assert_eq!(a.to_rfc3339(), "2026-12-01T00:00:00+00:00");
        assert_eq!(b.to_rfc3339(), "2027-01-01T00:00:00+00:00");
        assert!(Period::parse("2026-13").is_err());
        assert!(Period::parse("2026-1").is_err());
    }

    #[test]
    fn a_range_reads_whole_days_from_rollups_and_its_ends_from_events() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        // Midnight to midnight: whole days only.
        let c = Coverage::of(t("2026-11-01T00:00:00Z"), t("2026-12-10T00:00:00Z"));
        assert_eq!(c.days, (d("2026-11-01"), d("2026-12-10")));
        assert!(c.edges.is_empty());
        let months = c.months();
        assert_eq!(months.len(), 2);
        assert!(months[0].whole && !months[1].whole);
        assert_eq!(months[0].period.name(), "2026-11");
        assert_eq!(months[1].part.days, (d("2026-12-01"), d("2026-12-10")));
        // Month to date: whole days, then today's part.
        let c = Coverage::of(t("2026-11-01T00:00:00Z"), t("2026-11-30T06:15:00Z"));
        assert_eq!(c.days, (d("2026-11-01"), d("2026-11-30")));
        assert_eq!(
            c.edges,
            vec![(t("2026-11-30T00:00:00Z"), t("2026-11-30T06:15:00Z"))]
        );
        assert!(!c.months()[0].whole);
        // Both ends inside days.
        let c = Coverage::of(t("2026-11-03T10:00:00Z"), t("2026-11-05T01:00:00Z"));
        assert_eq!(c.days, (d("2026-11-04"), d("2026-11-05")));
        assert_eq!(
            c.edges,
            vec![
                (t("2026-11-03T10:00:00Z"), t("2026-11-04T00:00:00Z")),
                (t("2026-11-05T00:00:00Z"), t("2026-11-05T01:00:00Z")),
            ]
        );
        // Within one day, or across one midnight: no whole day, the events read directly.
        let c = Coverage::of(t("2026-11-03T10:00:00Z"), t("2026-11-04T09:00:00Z"));
        assert!(!c.has_days());
        assert_eq!(
            c.edges,
            vec![(t("2026-11-03T10:00:00Z"), t("2026-11-04T09:00:00Z"))]
        );
        // A whole year: twelve whole months, and December's end is January's start.
        let c = Coverage::of(t("2026-01-01T00:00:00Z"), t("2027-01-01T00:00:00Z"));
        let months = c.months();
        assert_eq!(months.len(), 12);
        assert!(months.iter().all(|m| m.whole && m.part.edges.is_empty()));
        assert_eq!(months[11].part.days, (d("2026-12-01"), d("2027-01-01")));
    }
}
