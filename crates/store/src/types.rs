//! Column types shared by both backends.

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::{BigInt, Text, Timestamptz, TimestamptzSqlite, Uuid as SqlUuid};
use diesel::sqlite::{Sqlite, SqliteValue};
use uuid::Uuid;

/// A uuid column: native `uuid` on PostgreSQL, hyphenated text on SQLite (which sorts in the
/// same order, so uuid v7 keys stay time-ordered on both).
#[derive(Clone, Copy, Debug, PartialEq, Eq, AsExpression, FromSqlRow)]
#[diesel(sql_type = SqlUuid)]
#[diesel(sql_type = Text)]
pub(crate) struct DbUuid(pub Uuid);

impl ToSql<SqlUuid, Pg> for DbUuid {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <Uuid as ToSql<SqlUuid, Pg>>::to_sql(&self.0, out)
    }
}

impl FromSql<SqlUuid, Pg> for DbUuid {
    fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
        <Uuid as FromSql<SqlUuid, Pg>>::from_sql(bytes).map(Self)
    }
}

impl ToSql<Text, Sqlite> for DbUuid {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(self.0.hyphenated().to_string());
        Ok(IsNull::No)
    }
}

impl FromSql<Text, Sqlite> for DbUuid {
    fn from_sql(mut value: SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        Ok(Self(Uuid::parse_str(value.read_text())?))
    }
}

macro_rules! db_uuid_from {
    ($($id:ty),*) => {$(
        impl From<$id> for DbUuid {
            fn from(id: $id) -> Self {
                Self(*id.as_uuid())
            }
        }
    )*};
}

db_uuid_from!(
    tenantry_kernel::TenantId,
    tenantry_kernel::DomainId,
    tenantry_kernel::UserId,
    tenantry_kernel::RoleId,
    tenantry_kernel::InvitationId,
    tenantry_kernel::ApiKeyId,
    tenantry_kernel::SsoProviderId,
    tenantry_kernel::ScimTokenId,
    tenantry_kernel::ScimUserId,
    tenantry_kernel::FileId,
    tenantry_kernel::BucketId,
    tenantry_kernel::ExportId,
    tenantry_kernel::PurgeId,
    tenantry_kernel::BackupId,
    tenantry_kernel::AuditEntryId,
    tenantry_kernel::SecurityEventId,
    tenantry_kernel::ProductId,
    tenantry_kernel::ProjectId,
    tenantry_kernel::TaskId,
    tenantry_kernel::EventId,
    tenantry_kernel::JobId,
    tenantry_kernel::WebhookId,
    tenantry_kernel::WebhookAttemptId,
    tenantry_identity::FamilyId
);

/// A count read from the database (a `bigint`) as the domain holds it.
pub(crate) fn count(n: i64) -> Result<u64, crate::error::StoreError> {
    u64::try_from(n).map_err(|e| crate::error::StoreError::Corrupt(e.to_string()))
}

/// A count as the database stores it.
pub(crate) fn stored(n: u64) -> Result<i64, crate::error::StoreError> {
    i64::try_from(n).map_err(|e| crate::error::StoreError::Corrupt(e.to_string()))
}

/// A timestamp column read into a row (`#[diesel(deserialize_as = DbInstant)]` on a
/// `DateTime<Utc>` field): on SQLite, the text this crate writes (`2026-12-01 17:50:32.818658+00:00`)
/// is read by a direct scan instead of diesel's, which tries strftime patterns one after another
/// (chrono's pattern parsing was 6 % of the SQLite list route's CPU). Anything else falls back
/// to diesel's reading; PostgreSQL's binary form is read as diesel reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromSqlRow)]
pub(crate) struct DbInstant(pub DateTime<Utc>);

impl From<DbInstant> for DateTime<Utc> {
    fn from(t: DbInstant) -> Self {
        t.0
    }
}

/// PostgreSQL's epoch, 2000-01-01 00:00 UTC, in microseconds after the Unix epoch.
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

impl FromSql<Timestamptz, Pg> for DbInstant {
    /// The binary form is microseconds after PostgreSQL's epoch: counted from the Unix epoch
    /// at once (diesel adds them to its epoch as a duration, through the calendar).
    fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
        let micros = <i64 as FromSql<BigInt, Pg>>::from_sql(bytes)?;
        micros
            .checked_add(PG_EPOCH_MICROS)
            .and_then(DateTime::from_timestamp_micros)
            .map(Self)
            .ok_or_else(|| "a timestamp outside chrono's range".into())
    }
}

impl FromSql<TimestamptzSqlite, Sqlite> for DbInstant {
    fn from_sql(mut value: SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        if value.value_type() == Some(diesel::sqlite::SqliteType::Text)
            && let Some(t) = scan_instant(value.read_text().as_bytes())
        {
            return Ok(Self(t));
        }
        <DateTime<Utc> as FromSql<TimestamptzSqlite, Sqlite>>::from_sql(value).map(Self)
    }
}

/// `YYYY-MM-DD HH:MM:SS[.fraction]±HH:MM`, or `None` for any other shape.
fn scan_instant(s: &[u8]) -> Option<DateTime<Utc>> {
    fn digits(s: &[u8]) -> Option<u32> {
        s.iter().try_fold(0_u32, |n, &b| {
            b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
        })
    }
    if s.len() < 25
        || s[4] != b'-'
        || s[7] != b'-'
        || s[10] != b' '
        || s[13] != b':'
        || s[16] != b':'
    {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(
        i32::try_from(digits(&s[0..4])?).ok()?,
        digits(&s[5..7])?,
        digits(&s[8..10])?,
    )?;
    let (rest, zone) = s[19..].split_at(s.len() - 6 - 19);
    let nanos = match rest {
        [] => 0,
        [b'.', fraction @ ..] if (1..=9).contains(&fraction.len()) => {
            digits(fraction)? * 10_u32.pow(9 - fraction.len() as u32)
        }
        _ => return None,
    };
    let time = NaiveTime::from_hms_nano_opt(
        digits(&s[11..13])?,
        digits(&s[14..16])?,
        digits(&s[17..19])?,
        nanos,
    )?;
    let (sign, zone) = match zone {
        [b'+', z @ ..] => (1, z),
        [b'-', z @ ..] => (-1, z),
        _ => return None,
    };
    if zone[2] != b':' {
        return None;
    }
    let offset = sign * i64::from(digits(&zone[0..2])? * 3600 + digits(&zone[3..5])? * 60);
    let local = date.and_time(time);
    // Tenantry writes `+00:00`: no arithmetic for it.
    let utc = match offset {
        0 => local,
        _ => local - chrono::TimeDelta::seconds(offset),
    };
    Some(Utc.from_utc_datetime(&utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instant_reads_from_postgresql_as_diesel_reads_it() {
        let oid = std::num::NonZeroU32::new(1184).unwrap(); // timestamptz
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let samples = (0..20_000).map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            // Years about 1708 to 2292, either side of both epochs.
            (seed % 18_446_744_073_709_551) as i64 - 9_223_372_036_854_775
        });
        for micros in samples.chain([0, -1, 1, -PG_EPOCH_MICROS, i64::MAX, i64::MIN]) {
            let raw = micros.to_be_bytes();
            let ours = <DbInstant as FromSql<Timestamptz, Pg>>::from_sql(PgValue::new(&raw, &oid))
                .ok()
                .map(|t| t.0);
            let diesels =
                <DateTime<Utc> as FromSql<Timestamptz, Pg>>::from_sql(PgValue::new(&raw, &oid))
                    .ok();
            assert_eq!(ours, diesels, "{micros}");
        }
        assert!(
            <DbInstant as FromSql<Timestamptz, Pg>>::from_sql(PgValue::new(&[0; 4], &oid)).is_err()
        );
    }

    #[test]
    fn an_instant_reads_as_diesel_writes_it() {
        let base = Utc.with_ymd_and_hms(2026, 12, 1, 17, 50, 32).unwrap();
        for nanos in [0, 100_000_000, 818_658_000, 1_000, 999_999_999] {
            let t = base + chrono::TimeDelta::nanoseconds(nanos);
            // diesel's own encoding for a `TimestamptzSqlite` column.
            let text = t.format("%F %T%.f%:z").to_string();
            assert_eq!(scan_instant(text.as_bytes()), Some(t), "{text}");
        }
    }

    #[test]
    fn an_offset_is_applied_and_other_shapes_fall_back() {
        let t = scan_instant(b"2026-12-01 19:50:32.5+02:00").unwrap();
        assert_eq!(
            t,
            Utc.with_ymd_and_hms(2026, 12, 1, 17, 50, 32).unwrap()
                + chrono::TimeDelta::milliseconds(500)
        );
        let west = scan_instant(b"2026-11-30 23:20:00-01:30").unwrap();
        assert_eq!(west, Utc.with_ymd_and_hms(2026, 12, 1, 0, 50, 0).unwrap());
        for other in [
            &b"2026-12-01T17:50:32+00:00"[..],
            b"2026-12-01 17:50:32Z",
            b"2026-12-01 17:50:32",
            b"2026-12-01 17:50:32.+00:00",
            b"2026-12-01 17:50:32.1234567890+00:00",
            b"2026-02-30 17:50:32+00:00",
            b"2026-12-01 25:50:32+00:00",
            b"2026-12-01 17:50:32+0000",
            b"",
        ] {
            assert_eq!(
                scan_instant(other),
                None,
                "{}",
                String::from_utf8_lossy(other)
            );
        }
    }
}
