//! Dates and times as clients send them: exactly the documented format, within a sane range.
//! chrono alone would take `2030-1-1`, `-0001-01-01` or a year 20000.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Deserializer};
use utoipa::openapi::schema::{ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{KnownFormat, RefOr, Schema};

/// Years a client may name. Before 1900 or after 9999 is a typing error, not a plan.
const DATE_YEARS: std::ops::RangeInclusive<i32> = 1900..=9999;
/// Timestamps are about records this service keeps: none before 1970.
const TIMESTAMP_YEARS: std::ops::RangeInclusive<i32> = 1970..=9999;

/// A calendar date written `YYYY-MM-DD`, years 1900–9999.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Date(pub NaiveDate);

impl Date {
    pub const PATTERN: &'static str = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$";

    pub fn parse(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        let shaped = b.len() == 10
            && b[4] == b'-'
            && b[7] == b'-'
            && b.iter()
                .enumerate()
                .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
        let date = shaped
            .then(|| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
            .flatten()?;
        DATE_YEARS.contains(&date.year()).then_some(Self(date))
    }
}

/// An instant written in RFC 3339 (`2030-01-31T09:30:00Z`, an offset instead of `Z`,
/// optional fractions of a second), years 1970–9999.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timestamp(pub DateTime<Utc>);

impl Timestamp {
    pub fn parse(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        // The date and time parts are fixed-width digits; chrono checks the rest.
        let digits =
            |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
        let shaped = b.len() >= 20
            && digits(0..4)
            && b[4] == b'-'
            && digits(5..7)
            && b[7] == b'-'
            && digits(8..10)
            && matches!(b[10], b'T' | b't')
            && digits(11..13)
            && b[13] == b':'
            && digits(14..16)
            && b[16] == b':'
            && digits(17..19);
        let at = shaped
            .then(|| DateTime::parse_from_rfc3339(s).ok())
            .flatten()?
            .with_timezone(&Utc);
        TIMESTAMP_YEARS.contains(&at.year()).then_some(Self(at))
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<str>::deserialize(d)?;
        Self::parse(&s).ok_or_else(|| {
            serde::de::Error::custom("expected a date as YYYY-MM-DD, years 1900 to 9999")
        })
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<str>::deserialize(d)?;
        Self::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(
                "expected an RFC 3339 time such as 2030-01-31T09:30:00Z, years 1970 to 9999",
            )
        })
    }
}

impl utoipa::PartialSchema for Date {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)))
            .pattern(Some(Self::PATTERN))
            .description(Some("A date as YYYY-MM-DD, years 1900 to 9999"))
            .examples([serde_json::json!("2030-01-31")])
            .into()
    }
}

impl utoipa::ToSchema for Date {}

impl utoipa::PartialSchema for Timestamp {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .description(Some("An RFC 3339 time, years 1970 to 9999"))
            .examples([serde_json::json!("2030-01-31T09:30:00Z")])
            .into()
    }
}

impl utoipa::ToSchema for Timestamp {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_exactly_yyyy_mm_dd_within_range() {
        for ok in ["2030-01-01", "1900-01-01", "9999-12-31", "2028-02-29"] {
            assert!(Date::parse(ok).is_some(), "{ok}");
        }
        for bad in [
            "2030-1-1",
            "-0001-01-01",
            "+2030-01-01",
            "1899-12-31",
            "2030-02-30",
            "2030-01-01T00:00:00Z",
            " 2030-01-01",
            "2030/01/01",
            "20300-01-01",
            "",
            "２０３０-01-01",
        ] {
            assert!(Date::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn timestamps_are_rfc_3339_within_range() {
        for ok in [
            "2030-01-31T09:30:00Z",
            "2030-01-31t09:30:00.123456+02:00",
            "1970-01-01T00:00:00Z",
        ] {
            assert!(Timestamp::parse(ok).is_some(), "{ok}");
        }
        for bad in [
            "2030-01-31",
            "2030-1-31T09:30:00Z",
            "2030-01-31 09:30:00Z",
            "2030-01-31T09:30:00",
            "-0001-01-01T00:00:00Z",
            "1969-12-31T23:59:59Z",
            "2030-01-31T25:00:00Z",
            "",
            "+20300-01-01T00:00:00Z",
        ] {
            assert!(Timestamp::parse(bad).is_none(), "{bad}");
        }
    }
}
