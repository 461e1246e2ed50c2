//! A tenant's own mail server (tenant-owned, audited; the password sealed).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use tenantry_kernel::{Email, TenantCtx, TenantId, Unexpected};
use tenantry_tenancy::{SmtpRepository, SmtpSettings, SmtpTls};

use crate::db::Db;
use crate::error::StoreError;
use crate::types::DbInstant;
use crate::types::DbUuid;

#[derive(Queryable)]
struct SmtpRow {
    tenant_id: DbUuid,
    host: String,
    port: i32,
    tls: String,
    username: Option<String>,
    password: Option<String>,
    from_address: String,
    from_name: Option<String>,
    #[diesel(deserialize_as = DbInstant)]
    created_at: DateTime<Utc>,
    #[diesel(deserialize_as = DbInstant)]
    updated_at: DateTime<Utc>,
}

impl SmtpRow {
    fn into_parts(self) -> Result<(SmtpSettings, Option<String>), StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("tenant_smtp.{what}"));
        let settings = SmtpSettings {
            tenant_id: TenantId::from_uuid(self.tenant_id.0),
            host: self.host,
            port: u16::try_from(self.port).map_err(|_| corrupt("port"))?,
            tls: SmtpTls::parse(&self.tls).ok_or_else(|| corrupt("tls"))?,
            username: self.username,
            has_password: self.password.is_some(),
            from_address: Email::parse(&self.from_address).map_err(|_| corrupt("from_address"))?,
            from_name: self.from_name,
            created_at: self.created_at,
            updated_at: self.updated_at,
        };
        Ok((settings, self.password))
    }
}

impl Db {
    async fn load_smtp(
        &self,
        ctx: &TenantCtx,
    ) -> Result<Option<(SmtpSettings, Option<String>)>, StoreError> {
        let row: Option<SmtpRow> = tx!(self, read, tenant = Some(ctx.tenant_id()), |conn| {
            Ok(tenant_smtp::of(ctx).first(conn).await.optional()?)
        })?;
        row.map(SmtpRow::into_parts).transpose()
    }

    async fn save_smtp(
        &self,
        ctx: &TenantCtx,
        s: &SmtpSettings,
        sealed: Option<Option<&str>>,
    ) -> Result<(), StoreError> {
        mutate!(self, ctx, |conn, log| {
            let old: Option<SmtpRow> = tenant_smtp::of(ctx).first(conn).await.optional()?;
            let values = (
                tenant_smtp::host.eq(&s.host),
                tenant_smtp::port.eq(i32::from(s.port)),
                tenant_smtp::tls.eq(s.tls.as_str()),
                tenant_smtp::username.eq(&s.username),
                tenant_smtp::from_address.eq(s.from_address.as_str()),
                tenant_smtp::from_name.eq(&s.from_name),
                tenant_smtp::updated_at.eq(s.updated_at),
            );
            match old {
                None => {
                    tenant_smtp::insert(
                        ctx,
                        (
                            values,
                            tenant_smtp::password.eq(sealed.flatten()),
                            tenant_smtp::created_at.eq(s.created_at),
                        ),
                    )
                    .execute(conn)
                    .await?;
                    log.created(s);
                }
                Some(old) => {
                    let (old, old_password) = old.into_parts()?;
                    let password = match sealed {
                        Some(p) => p.map(str::to_owned),
                        None => old_password,
                    };
                    diesel::update(tenant_smtp::of(ctx))
                        .set((values, tenant_smtp::password.eq(password)))
                        .execute(conn)
                        .await?;
                    log.updated(&old, s);
                }
            }
            Ok(())
        })
    }

    async fn remove_smtp(&self, ctx: &TenantCtx) -> Result<bool, StoreError> {
        mutate!(self, ctx, |conn, log| {
            let row: Option<SmtpRow> = diesel::delete(tenant_smtp::of(ctx))
                .get_result(conn)
                .await
                .optional()?;
            let Some(row) = row else { return Ok(false) };
            log.deleted(&row.into_parts()?.0);
            Ok(true)
        })
    }
}

impl SmtpRepository for Db {
    async fn smtp_settings(
        &self,
        ctx: &TenantCtx,
    ) -> Result<Option<(SmtpSettings, Option<String>)>, Unexpected> {
        Ok(self.load_smtp(ctx).await?)
    }

    async fn put_smtp_settings(
        &self,
        ctx: &TenantCtx,
        settings: &SmtpSettings,
        sealed_password: Option<Option<&str>>,
    ) -> Result<(), Unexpected> {
        Ok(self.save_smtp(ctx, settings, sealed_password).await?)
    }

    async fn delete_smtp_settings(&self, ctx: &TenantCtx) -> Result<bool, Unexpected> {
        Ok(self.remove_smtp(ctx).await?)
    }
}
