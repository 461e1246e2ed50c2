//! Sends e-mail. A tenant with its own mail server (`tenantry_tenancy::SmtpService`) has its
//! mail sent there, and only there: a failing tenant server fails the mail (its job retries),
//! it never falls back to the platform's. Other tenants' mail goes through the platform's
//! server: with an SMTP URL (`smtp://user:pass@host:587?tls=required` for STARTTLS,
//! `smtps://…` for TLS, `smtp://host:25` for plain; lettre's URL format) to that server;
//! without one as `.eml` files in a directory, so a local `cargo run` needs no mail server
//! and a developer can read what would have been sent.
//!
//! A tenant's server is reached only at addresses the outbound guard allows (the one webhook
//! deliveries and identity providers go through): a tenant cannot make Tenantry talk to its
//! private network.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tenantry_identity::{Mailer, OutgoingMail};
use tenantry_kernel::{Email, SecretCipher, TenantCtx, Unexpected};
use tenantry_tenancy::{SmtpProbe, SmtpRelay, SmtpRepository, SmtpService, SmtpTls};
use tenantry_webhooks::AddressPolicy;

/// How long a tenant's server has to answer each step.
const RELAY_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Clone)]
enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(AsyncFileTransport<Tokio1Executor>, PathBuf),
}

/// Finds a tenant's own relay (object-safe, so the sender names no store).
pub trait RelayLookup: Send + Sync + 'static {
    fn relay<'a>(
        &'a self,
        ctx: &'a TenantCtx,
    ) -> BoxFuture<'a, Result<Option<SmtpRelay>, Unexpected>>;
}

impl<R, V, P> RelayLookup for SmtpService<R, V, P>
where
    R: SmtpRepository,
    V: SecretCipher,
    P: SmtpProbe,
{
    fn relay<'a>(
        &'a self,
        ctx: &'a TenantCtx,
    ) -> BoxFuture<'a, Result<Option<SmtpRelay>, Unexpected>> {
        Box::pin(SmtpService::relay(self, ctx))
    }
}

/// The mail adapter.
#[derive(Clone)]
pub struct MailSender {
    from: Mailbox,
    transport: Transport,
    /// Tenants' own servers; none: every mail goes through the platform's.
    relays: Option<Arc<dyn RelayLookup>>,
    guard: Relays,
}

impl MailSender {
    /// SMTP at `url`.
    pub fn smtp(url: &str, from: &str) -> Result<Self, Unexpected> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| Unexpected::msg(format!("TENANTRY_SMTP_URL: {e}")))?
            .build();
        Ok(Self {
            from: parse_from(from)?,
            transport: Transport::Smtp(transport),
            relays: None,
            guard: Relays::default(),
        })
    }

    /// `.eml` files in `dir` (created with the first mail).
    pub fn files(dir: impl Into<PathBuf>, from: &str) -> Result<Self, Unexpected> {
        let dir = dir.into();
        Ok(Self {
            from: parse_from(from)?,
            transport: Transport::Files(AsyncFileTransport::new(&dir), dir),
            relays: None,
            guard: Relays::default(),
        })
    }

    /// Sends each tenant's mail through its own server when it has one, reached through
    /// `relays`' guard.
    pub fn with_tenant_relays(mut self, lookup: Arc<dyn RelayLookup>, relays: Relays) -> Self {
        self.relays = Some(lookup);
        self.guard = relays;
        self
    }

    /// Where mail goes, for the start-up log.
    pub fn describe(&self) -> String {
        let platform = match &self.transport {
            Transport::Smtp(_) => "SMTP".to_owned(),
            Transport::Files(_, dir) => format!("files in {}", dir.display()),
        };
        match self.relays {
            Some(_) => format!("{platform} (tenants' own servers for theirs)"),
            None => platform,
        }
    }
}

fn parse_from(from: &str) -> Result<Mailbox, Unexpected> {
    from.parse()
        .map_err(|e| Unexpected::msg(format!("TENANTRY_MAIL_FROM {from:?}: {e}")))
}

fn message(from: Mailbox, to: &Email, subject: &str, text: &str) -> Result<Message, Unexpected> {
    let to: Mailbox = to
        .as_str()
        .parse()
        .map_err(|e| Unexpected::msg(format!("recipient: {e}")))?;
    Message::builder()
        .from(from)
        .to(to)
        .subject(subject)
        .header(ContentType::TEXT_PLAIN)
        .body(text.to_owned())
        .map_err(Unexpected::new)
}

/// Connects to tenants' own servers, at addresses the outbound guard allows.
#[derive(Clone, Debug, Default)]
pub struct Relays {
    policy: AddressPolicy,
}

impl Relays {
    pub fn new(policy: AddressPolicy) -> Self {
        Self { policy }
    }

    fn sender(relay: &SmtpRelay) -> Result<Mailbox, String> {
        let s = &relay.settings;
        Ok(Mailbox::new(
            s.from_name.clone(),
            s.from_address
                .as_str()
                .parse()
                .map_err(|e| format!("from address: {e}"))?,
        ))
    }

    /// The relay's first address the guard allows.
    async fn address(&self, relay: &SmtpRelay) -> Result<std::net::SocketAddr, String> {
        let s = &relay.settings;
        let resolved = tokio::net::lookup_host((s.host.as_str(), s.port))
            .await
            .map_err(|e| format!("{} does not resolve: {e}", s.host))?;
        for address in resolved {
            if self.policy.check(address.ip()).is_ok() {
                return Ok(address);
            }
        }
        // Which private address it was is the operator's business, not the tenant's.
        Err(format!("{} has no address tenant mail may go to", s.host))
    }

    /// Whether the operator opened the network of `address` (credentials may then go there
    /// without TLS: a relay on a private network).
    fn opened(&self, address: std::net::IpAddr) -> bool {
        self.policy.allowed().iter().any(|n| n.contains(&address))
    }

    /// One connection for one message (no pool: nothing of a tenant's outlives its send),
    /// to the checked address, verifying TLS for the configured host name.
    async fn deliver(&self, relay: &SmtpRelay, message: &Message) -> Result<String, String> {
        let s = &relay.settings;
        let failed = |e: lettre::transport::smtp::Error| format!("{}:{}: {e}", s.host, s.port);
        let address = self.address(relay).await?;
        let params =
            || TlsParameters::new(s.host.clone()).map_err(|e| format!("TLS for {}: {e}", s.host));
        let credentials = match (&s.username, &relay.password) {
            (Some(user), Some(password)) => Some(Credentials::new(user.clone(), password.clone())),
            _ => None,
        };
        if s.tls == SmtpTls::None && credentials.is_some() && !self.opened(address.ip()) {
            return Err(format!(
                "{}: credentials go only over TLS, or to a private network the operator opened",
                s.host
            ));
        }
        let hello = ClientId::default();
        let wrapped = match s.tls {
            SmtpTls::Tls => Some(params()?),
            SmtpTls::StartTls | SmtpTls::None => None,
        };
        let mut conn = AsyncSmtpConnection::connect_tokio1(
            address,
            Some(RELAY_TIMEOUT),
            &hello,
            wrapped,
            None,
        )
        .await
        .map_err(failed)?;
        if s.tls == SmtpTls::StartTls {
            if !conn.can_starttls() {
                conn.abort().await;
                return Err(format!("{}:{} does not offer STARTTLS", s.host, s.port));
            }
            conn.starttls(params()?, &hello).await.map_err(failed)?;
        }
        if let Some(credentials) = &credentials
            && let Err(e) = conn
                .auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                .await
        {
            conn.abort().await;
            return Err(failed(e));
        }
        let sent = conn.send(message.envelope(), &message.formatted()).await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => {
                conn.abort().await;
                return Err(failed(e));
            }
        };
        let _ = conn.quit().await;
        Ok(format!(
            "{} {}",
            response.code(),
            response.message().collect::<Vec<_>>().join(" ")
        ))
    }

    /// Sends through the relay: the server's final answer, or why it failed.
    async fn send(
        &self,
        relay: &SmtpRelay,
        to: &Email,
        subject: &str,
        text: &str,
    ) -> Result<String, String> {
        let message =
            message(Self::sender(relay)?, to, subject, text).map_err(|e| e.to_string())?;
        tokio::time::timeout(4 * RELAY_TIMEOUT, self.deliver(relay, &message))
            .await
            .map_err(|_| format!("{} took too long", relay.settings.host))?
    }
}

impl SmtpProbe for Relays {
    async fn send_test(&self, relay: &SmtpRelay, to: &Email) -> Result<String, String> {
        self.send(
            relay,
            to,
            "Tenantry: a test of your mail server",
            "This message was sent through your organisation's own mail server, as its \
             invitations and notices will be.\n",
        )
        .await
    }
}

impl Mailer for MailSender {
    async fn send(&self, ctx: &TenantCtx, mail: &OutgoingMail) -> Result<(), Unexpected> {
        if let Some(lookup) = &self.relays
            && let Some(relay) = lookup.relay(ctx).await?
        {
            // The tenant's own server, or nothing: never the platform's in its place.
            return self
                .guard
                .send(&relay, &mail.to, &mail.subject, &mail.text)
                .await
                .map(|_| ())
                .map_err(Unexpected::msg);
        }
        let message = message(self.from.clone(), &mail.to, &mail.subject, &mail.text)?;
        match &self.transport {
            Transport::Smtp(t) => t.send(message).await.map(|_| ()).map_err(Unexpected::new),
            Transport::Files(t, dir) => {
                // Made with the first mail: a command that sends none leaves no folder.
                std::fs::create_dir_all(dir).map_err(|e| {
                    Unexpected::msg(format!("cannot create {}: {e}", dir.display()))
                })?;
                t.send(message).await.map(|_| ()).map_err(Unexpected::new)
            }
        }
    }
}
