//! A tenant's own mail server ("bring your own e-mail"): the SMTP relay its mail goes through
//! instead of the platform's, so that another tenant's reputation never touches its own.
//!
//! - The password is sealed with the tenant's data key, bound to its slot, never returned.
//! - A tenant with a relay has all its mail sent through it; when the relay fails, the mail
//!   job fails and retries — it never falls back to the platform's server.
//! - A test message reports the server's own answer.

use std::future::Future;

use chrono::{DateTime, Utc};
use tenantry_kernel::{Clock, Email, SecretCipher, SecretSlot, TenantCtx, TenantId, Unexpected};
use thiserror::Error;

/// How the connection to the relay is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS, which is required (port 587).
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only for a relay on a private network.
    None,
}

impl SmtpTls {
    pub const ALL: [SmtpTls; 3] = [Self::StartTls, Self::Tls, Self::None];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::StartTls => "starttls",
            Self::Tls => "tls",
            Self::None => "none",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// A tenant's relay, without its password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmtpSettings {
    pub tenant_id: TenantId,
    /// A host name or an IP address.
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub has_password: bool,
    pub from_address: Email,
    pub from_name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl tenantry_audit::Audited for SmtpSettings {
    const ENTITY: &'static str = "smtp_settings";
    type View = crate::view::SmtpSettingsView;

    fn audit_id(&self) -> String {
        self.tenant_id.to_string()
    }

    /// The password is never part of `SmtpSettings`; `updated_at` is kept, so that a new
    /// password (invisible otherwise) is on the record too.
    fn audit_fields(&self) -> serde_json::Value {
        tenantry_audit::without(self.event_object(), &["id", "created_at"])
    }
}

/// What an administrator sends (checked by the HTTP adapter); the password only to set or
/// change it.
#[derive(Clone, Debug)]
pub struct SmtpDraft {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<String>,
    pub from_address: Email,
    pub from_name: Option<String>,
}

/// A relay ready to send through: its settings and its opened password.
#[derive(Clone, Debug)]
pub struct SmtpRelay {
    pub settings: SmtpSettings,
    pub password: Option<String>,
}

/// A host as the settings keep it: a DNS name (letters, digits, hyphens, dots) or an IP
/// address, lower-cased; no scheme, port or path.
pub fn parse_smtp_host(raw: &str) -> Result<String, String> {
    let h = raw.trim().trim_end_matches('.').to_ascii_lowercase();
    if h.parse::<std::net::IpAddr>().is_ok() {
        return Ok(h);
    }
    let ok = !h.is_empty()
        && h.len() <= 253
        && h.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if ok {
        Ok(h)
    } else {
        Err("a host name or an IP address (no scheme, port or path)".to_owned())
    }
}

#[derive(Debug, Error)]
pub enum SmtpError {
    #[error("this tenant has no mail server of its own")]
    NotConfigured,
    /// The server refused or could not be reached: its answer, or why.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

/// The store's part: one relay per tenant (its password sealed).
pub trait SmtpRepository: Clone + Send + Sync + 'static {
    /// The settings and the sealed password.
    fn smtp_settings(
        &self,
        ctx: &TenantCtx,
    ) -> impl Future<Output = Result<Option<(SmtpSettings, Option<String>)>, Unexpected>> + Send;

    /// Creates or replaces them; `sealed_password` `None` keeps the stored one, `Some(None)`
    /// clears it.
    fn put_smtp_settings(
        &self,
        ctx: &TenantCtx,
        settings: &SmtpSettings,
        sealed_password: Option<Option<&str>>,
    ) -> impl Future<Output = Result<(), Unexpected>> + Send;

    fn delete_smtp_settings(
        &self,
        ctx: &TenantCtx,
    ) -> impl Future<Output = Result<bool, Unexpected>> + Send;
}

/// Sends one message through a relay and reports the server's final answer (the mail
/// adapter).
pub trait SmtpProbe: Clone + Send + Sync + 'static {
    fn send_test(
        &self,
        relay: &SmtpRelay,
        to: &Email,
    ) -> impl Future<Output = Result<String, String>> + Send;
}

fn password_slot(tenant: &str) -> SecretSlot<'_> {
    SecretSlot {
        table: "tenant_smtp",
        column: "password",
        row: tenant,
    }
}

/// The tenant's relay: configure, read, remove, test; and what the mailer sends through.
#[derive(Clone)]
pub struct SmtpService<R, V, P> {
    repo: R,
    cipher: V,
    probe: P,
    clock: std::sync::Arc<dyn Clock>,
}

impl<R, V, P> SmtpService<R, V, P>
where
    R: SmtpRepository,
    V: SecretCipher,
    P: SmtpProbe,
{
    pub fn new(repo: R, cipher: V, probe: P, clock: std::sync::Arc<dyn Clock>) -> Self {
        Self {
            repo,
            cipher,
            probe,
            clock,
        }
    }

    pub async fn get(&self, ctx: &TenantCtx) -> Result<SmtpSettings, SmtpError> {
        Ok(self
            .repo
            .smtp_settings(ctx)
            .await?
            .ok_or(SmtpError::NotConfigured)?
            .0)
    }

    /// Saves the relay. The stored password is kept only for the same account on the same
    /// server (host, port, TLS mode and username unchanged): otherwise, unless a password is
    /// sent, it is dropped — a password never follows its settings to another server.
    pub async fn put(&self, ctx: &TenantCtx, draft: SmtpDraft) -> Result<SmtpSettings, Unexpected> {
        let now = self.clock.now();
        let old = self.repo.smtp_settings(ctx).await?.map(|(s, _)| s);
        let tenant = ctx.tenant_id().to_string();
        let same_account = old.as_ref().is_some_and(|o| {
            o.host == draft.host
                && o.port == draft.port
                && o.tls == draft.tls
                && o.username == draft.username
        });
        let sealed = match &draft.password {
            Some(p) => Some(Some(
                self.cipher
                    .seal(ctx, password_slot(&tenant), p.as_bytes())
                    .await?,
            )),
            None if !same_account && old.is_some() => Some(None),
            None => None,
        };
        let has_password = match &sealed {
            Some(s) => s.is_some(),
            None => old.as_ref().is_some_and(|o| o.has_password),
        };
        let settings = SmtpSettings {
            tenant_id: ctx.tenant_id(),
            host: draft.host,
            port: draft.port,
            tls: draft.tls,
            username: draft.username,
            has_password,
            from_address: draft.from_address,
            from_name: draft.from_name,
            created_at: old.as_ref().map_or(now, |o| o.created_at),
            updated_at: now,
        };
        self.repo
            .put_smtp_settings(ctx, &settings, sealed.as_ref().map(|s| s.as_deref()))
            .await?;
        Ok(settings)
    }

    pub async fn delete(&self, ctx: &TenantCtx) -> Result<(), SmtpError> {
        if self.repo.delete_smtp_settings(ctx).await? {
            Ok(())
        } else {
            Err(SmtpError::NotConfigured)
        }
    }

    /// The tenant's relay with its password opened, if it has one (what its mail goes
    /// through).
    pub async fn relay(&self, ctx: &TenantCtx) -> Result<Option<SmtpRelay>, Unexpected> {
        let Some((settings, sealed)) = self.repo.smtp_settings(ctx).await? else {
            return Ok(None);
        };
        let tenant = ctx.tenant_id().to_string();
        let password = match sealed {
            Some(s) => Some(
                String::from_utf8(self.cipher.open(ctx, password_slot(&tenant), &s).await?)
                    .map_err(|_| Unexpected::msg("an SMTP password is not UTF-8"))?,
            ),
            None => None,
        };
        Ok(Some(SmtpRelay { settings, password }))
    }

    /// Sends a test message through the tenant's relay: the server's answer.
    pub async fn test(&self, ctx: &TenantCtx, to: &Email) -> Result<String, SmtpError> {
        let relay = self.relay(ctx).await?.ok_or(SmtpError::NotConfigured)?;
        self.probe
            .send_test(&relay, to)
            .await
            .map_err(SmtpError::Refused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(parse_smtp_host("SMTP.Acme.com.").unwrap(), "smtp.acme.com");
        assert_eq!(parse_smtp_host("10.0.0.5").unwrap(), "10.0.0.5");
        assert_eq!(parse_smtp_host("::1").unwrap(), "::1");
        assert!(parse_smtp_host("smtp://acme.com").is_err());
        assert!(parse_smtp_host("acme.com:25").is_err());
        assert!(parse_smtp_host("").is_err());
        assert!(parse_smtp_host("a b").is_err());
    }

    #[test]
    fn tls_modes_round_trip() {
        for t in SmtpTls::ALL {
            assert_eq!(SmtpTls::parse(t.as_str()), Some(t));
        }
        assert_eq!(SmtpTls::parse("ssl"), None);
    }
}
