//! Column types shared by both backends.

use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::{Text, Uuid as SqlUuid};
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
    fn from_sql(value: SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        let text = <String as FromSql<Text, Sqlite>>::from_sql(value)?;
        Ok(Self(Uuid::parse_str(&text)?))
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
