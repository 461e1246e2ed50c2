//! Single sign-on over OpenID Connect, per tenant: the providers a tenant configures, the
//! browser flow (authorize → the provider → callback → a one-time code), how a provider's
//! person becomes a Tenantry user and member, and the code's exchange for a session.
//!
//! - The flow keeps `state`, `nonce` and the PKCE verifier in a login record keyed by the
//!   state's digest; the callback spends it once (a replayed state is refused).
//! - The ID token is checked by the OIDC adapter: signature (the provider's JWKS), issuer,
//!   audience, expiry, nonce. `email_verified` is required, and the e-mail's domain must be
//!   one the provider lists.
//! - Linking: a provider identity (issuer, subject) seen before is its user. Otherwise an
//!   existing account with the same (verified) e-mail is linked to it; otherwise, with
//!   just-in-time provisioning on, an account is created (it has no usable password).
//!   Membership follows the same rule: kept if present, created with the provider's default
//!   role if JIT is on, else refused.
//! - The client gets a one-time code (a minute long) on its registered redirect URI, never a
//!   token in a URL; `exchange` turns it into the usual access and refresh tokens.

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use tenantry_audit::{SecurityEvent, SecurityEventKind};
use tenantry_kernel::{
    Actor, Edges, Email, Origin, SecretCipher, SecretSlot, SsoProviderId, TenantCtx, TenantId,
    Unexpected, UserId,
};
use thiserror::Error;

use crate::model::{
    DisplayName, InvalidValue, PasswordHash, Session, TokenDigest, User, UserStatus,
};
use crate::ports::{IdentityCrypto, IdentityStore};
use crate::service::AuthService;

/// A tenant's OpenID Connect provider (its client secret is stored sealed, apart).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SsoProvider {
    pub id: SsoProviderId,
    pub tenant_id: TenantId,
    pub name: String,
    /// The issuer, as its discovery document names it.
    pub issuer: String,
    pub client_id: String,
    /// Requested besides `openid`.
    pub scopes: Vec<String>,
    /// Lower-case e-mail domains whose people may sign in (and, with `enforce`, must).
    pub allowed_domains: Vec<String>,
    /// Where the client may be sent back to with its one-time code (exact match).
    pub redirect_uris: Vec<String>,
    /// The role of a member created just in time.
    pub default_role: String,
    /// Create accounts and memberships on first sign-in.
    pub jit: bool,
    /// People of the allowed domains may use this tenant only through SSO.
    pub enforce: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The actions an SSO provider's events name besides created/updated/deleted: none.
impl tenantry_audit::Audited for SsoProvider {
    const ENTITY: &'static str = "sso_provider";
    type View = crate::view::SsoProviderView;

    fn audit_id(&self) -> String {
        self.id.to_string()
    }

    /// The client secret is never part of an `SsoProvider`.
    fn audit_fields(&self) -> serde_json::Value {
        tenantry_audit::without(self.event_object(), &["id", "created_at", "updated_at"])
    }
}

/// The parts of a provider its administrator sets (checked), and the secret when it changes.
#[derive(Clone, Debug)]
pub struct SsoProviderDraft {
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub scopes: Vec<String>,
    pub allowed_domains: Vec<String>,
    pub redirect_uris: Vec<String>,
    pub default_role: String,
    pub jit: bool,
    pub enforce: bool,
}

fn invalid(msg: impl Into<String>) -> InvalidValue {
    InvalidValue(msg.into())
}

fn is_loopback(host: &str) -> bool {
    matches!(host, "127.0.0.1" | "localhost" | "[::1]")
}

/// The host of `scheme://host[:port]/…`.
fn host_of(rest: &str) -> &str {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    if host.starts_with('[') {
        return host.split_inclusive(']').next().unwrap_or_default();
    }
    host.split(':').next().unwrap_or_default()
}

/// An issuer: `https://…`, or `http://` on a loopback host (a provider on the same machine);
/// no query or fragment.
pub fn parse_issuer(raw: &str) -> Result<String, InvalidValue> {
    let s = raw.trim();
    if s.len() > 500 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("at most 500 characters, without spaces"));
    }
    if s.contains(['?', '#']) {
        return Err(invalid("an issuer has no query or fragment"));
    }
    let ok = match s.split_once("://") {
        Some(("https", rest)) => !host_of(rest).is_empty(),
        Some(("http", rest)) => is_loopback(host_of(rest)),
        _ => false,
    };
    if !ok {
        return Err(invalid(
            "an https:// URL (http:// only on a loopback address)",
        ));
    }
    Ok(s.to_owned())
}

/// A redirect URI of the client: `https://…`, `http://` on a loopback host (RFC 8252 §7.3),
/// or an app's private scheme named after its domain (`com.example.app:/cb`, §7.1); no
/// fragment.
pub fn parse_redirect_uri(raw: &str) -> Result<String, InvalidValue> {
    let s = raw.trim();
    if s.is_empty()
        || s.len() > 2000
        || s.contains('#')
        || s.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(invalid(
            "a URL of at most 2000 characters, without spaces or fragment",
        ));
    }
    let (scheme, rest) = s.split_once(':').ok_or_else(|| invalid("not a URL"))?;
    let ok = match scheme {
        "https" => rest.starts_with("//") && !host_of(&rest[2..]).is_empty(),
        "http" => rest.starts_with("//") && is_loopback(host_of(&rest[2..])),
        private => {
            private.contains('.')
                && private.starts_with(|c: char| c.is_ascii_lowercase())
                && private
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c))
        }
    };
    if !ok {
        return Err(invalid(
            "https://, http:// on a loopback address, or an app scheme such as com.example.app:/cb",
        ));
    }
    Ok(s.to_owned())
}

/// An e-mail domain: lower-case labels of letters, digits and hyphens, at least two.
pub fn parse_email_domain(raw: &str) -> Result<String, InvalidValue> {
    let d = raw.trim().trim_start_matches('@').to_ascii_lowercase();
    let labels: Vec<&str> = d.split('.').collect();
    let ok = d.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if !ok {
        return Err(invalid(format!("{raw:?} is not a domain")));
    }
    Ok(d)
}

/// A client id, scope or secret: printable ASCII without spaces.
pub fn parse_token(raw: &str, max: usize, what: &str) -> Result<String, InvalidValue> {
    let s = raw.trim();
    if s.is_empty() || s.len() > max || !s.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(invalid(format!(
            "{what}: 1–{max} printable characters without spaces"
        )));
    }
    Ok(s.to_owned())
}

/// What the OIDC adapter needs of a provider.
#[derive(Clone, Debug)]
pub struct OidcSettings {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// Tenantry's callback (`…/api/v1/sso/callback`).
    pub callback: String,
    pub scopes: Vec<String>,
}

/// An authorization request ready to send the browser to.
#[derive(Clone, Debug)]
pub struct AuthorizationRequest {
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// A person as the provider vouched for them in a valid ID token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OidcIdentity {
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
}

/// Why the provider's answer was not accepted.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum OidcError {
    /// Discovery, the token request or the provider's own error.
    #[error("the identity provider answered: {0}")]
    Provider(String),
    #[error("the ID token's nonce is not the one sent")]
    Nonce,
    #[error("the ID token is for another client (audience)")]
    Audience,
    #[error("the ID token has expired")]
    Expired,
    #[error("the ID token is from another issuer")]
    Issuer,
    #[error("the ID token's signature does not verify")]
    Signature,
    #[error("the ID token is not valid: {0}")]
    Invalid(String),
}

/// The OpenID Connect relying party (the `openidconnect` adapter).
pub trait OidcClient: Clone + Send + Sync + 'static {
    /// Reads the issuer's discovery document (when a provider is saved).
    fn discover(&self, issuer: &str) -> impl Future<Output = Result<(), OidcError>> + Send;

    /// A new authorization request (random state and nonce, PKCE S256), passing on who the
    /// client says is signing in (`login_hint`), if it knows.
    fn authorization(
        &self,
        settings: &OidcSettings,
        login_hint: Option<&str>,
    ) -> impl Future<Output = Result<AuthorizationRequest, OidcError>> + Send;

    /// Exchanges the code (with the PKCE verifier) and checks the ID token.
    fn exchange(
        &self,
        settings: &OidcSettings,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
    ) -> impl Future<Output = Result<OidcIdentity, OidcError>> + Send;
}

/// A login under way, between authorize and callback.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SsoLogin {
    pub state_digest: TokenDigest,
    pub tenant_id: TenantId,
    pub provider_id: SsoProviderId,
    pub nonce: String,
    pub pkce_verifier: String,
    pub redirect_uri: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// What a successful callback writes, in one transaction of the tenant.
#[derive(Clone, Debug)]
pub struct Provisioning {
    /// A new account (just in time), with its unusable password hash.
    pub new_user: Option<(User, PasswordHash)>,
    pub user_id: UserId,
    /// The provider identity to link to the user, when not linked yet.
    pub link: Option<(String, String)>,
    /// Create the membership with this role when there is none; `None`: refuse.
    pub jit_role: Option<String>,
}

#[derive(Debug, Error)]
pub enum SsoConfigError {
    #[error("SSO provider not found")]
    NotFound,
    #[error("no role named {0:?} in this tenant")]
    RoleNotFound(String),
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

/// Why a sign-in was refused; each has its problem code.
#[derive(Debug, Error)]
pub enum SsoLoginError {
    #[error("no such SSO provider in this tenant")]
    ProviderNotFound,
    #[error("the redirect_uri is not one this provider allows")]
    RedirectUriNotAllowed,
    #[error("unknown, expired or already used state")]
    StateInvalid,
    #[error(transparent)]
    Oidc(OidcError),
    #[error("the identity provider has not verified this e-mail address")]
    EmailUnverified,
    #[error("the e-mail's domain is not one this provider allows")]
    DomainNotAllowed,
    #[error("no account or membership here for this person, and just-in-time provisioning is off")]
    NotProvisioned,
    #[error("the account is disabled")]
    AccountDisabled,
    #[error("unknown, expired or already used code")]
    CodeInvalid,
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

impl SsoLoginError {
    /// The stable code of the refusal (problem code, redirect `error`, security event).
    pub const fn code(&self) -> &'static str {
        match self {
            Self::ProviderNotFound => "sso_provider_not_found",
            Self::RedirectUriNotAllowed => "sso_redirect_uri_not_allowed",
            Self::StateInvalid => "sso_state_invalid",
            Self::Oidc(OidcError::Provider(_)) => "sso_provider_error",
            Self::Oidc(OidcError::Nonce) => "sso_nonce_mismatch",
            Self::Oidc(OidcError::Audience) => "sso_audience_mismatch",
            Self::Oidc(OidcError::Expired) => "sso_token_expired",
            Self::Oidc(OidcError::Issuer) => "sso_issuer_mismatch",
            Self::Oidc(OidcError::Signature) => "sso_signature_invalid",
            Self::Oidc(OidcError::Invalid(_)) => "sso_token_invalid",
            Self::EmailUnverified => "sso_email_unverified",
            Self::DomainNotAllowed => "sso_domain_not_allowed",
            Self::NotProvisioned => "sso_not_provisioned",
            Self::AccountDisabled => "sso_account_disabled",
            Self::CodeInvalid => "sso_code_invalid",
            Self::Unexpected(_) => "internal_error",
        }
    }
}

/// The store's part of SSO.
pub trait SsoRepository: Clone + Send + Sync + 'static {
    fn sso_providers(
        &self,
        ctx: &TenantCtx,
    ) -> impl Future<Output = Result<Vec<SsoProvider>, Unexpected>> + Send;

    /// The provider and its sealed client secret.
    fn sso_provider(
        &self,
        ctx: &TenantCtx,
        id: SsoProviderId,
    ) -> impl Future<Output = Result<Option<(SsoProvider, String)>, Unexpected>> + Send;

    /// [`SsoConfigError::RoleNotFound`] when the default role does not exist.
    fn insert_sso_provider(
        &self,
        ctx: &TenantCtx,
        provider: &SsoProvider,
        sealed_secret: &str,
    ) -> impl Future<Output = Result<(), SsoConfigError>> + Send;

    /// Replaces the provider (and the secret when given); [`SsoConfigError::NotFound`] or
    /// [`SsoConfigError::RoleNotFound`].
    fn update_sso_provider(
        &self,
        ctx: &TenantCtx,
        provider: &SsoProvider,
        sealed_secret: Option<&str>,
    ) -> impl Future<Output = Result<(), SsoConfigError>> + Send;

    fn delete_sso_provider(
        &self,
        ctx: &TenantCtx,
        id: SsoProviderId,
    ) -> impl Future<Output = Result<bool, Unexpected>> + Send;

    fn insert_sso_login(
        &self,
        login: &SsoLogin,
    ) -> impl Future<Output = Result<(), Unexpected>> + Send;

    /// Spends an unexpired login by its state's digest (once).
    fn take_sso_login(
        &self,
        state_digest: &TokenDigest,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<SsoLogin>, Unexpected>> + Send;

    /// The user linked to a provider identity.
    fn identity_user(
        &self,
        issuer: &str,
        subject: &str,
    ) -> impl Future<Output = Result<Option<UserId>, Unexpected>> + Send;

    /// In one transaction of the tenant: the new account, the link, the membership (see
    /// [`Provisioning`]); [`SsoLoginError::NotProvisioned`] when there is no membership and
    /// none may be created.
    fn provision(
        &self,
        ctx: &TenantCtx,
        provisioning: &Provisioning,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), SsoLoginError>> + Send;

    fn insert_sso_code(
        &self,
        digest: &TokenDigest,
        user: UserId,
        tenant: TenantId,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), Unexpected>> + Send;

    /// Spends an unexpired code (once): its user and tenant.
    fn take_sso_code(
        &self,
        digest: &TokenDigest,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<(UserId, TenantId)>, Unexpected>> + Send;
}

fn secret_slot(id: &str) -> SecretSlot<'_> {
    SecretSlot {
        table: "sso_providers",
        column: "client_secret",
        row: id,
    }
}

/// How long the browser has between authorize and callback, and the client to exchange the
/// code.
const LOGIN_TTL: i64 = 10 * 60;
const CODE_TTL: i64 = 60;

/// A redirect back to the client: with the code, or with the refusal's code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redirect {
    pub location: String,
}

fn with_query(uri: &str, pairs: &[(&str, &str)]) -> String {
    let mut out = uri.to_owned();
    for (i, (k, v)) in pairs.iter().enumerate() {
        out.push(if i == 0 && !uri.contains('?') {
            '?'
        } else {
            '&'
        });
        out.push_str(k);
        out.push('=');
        for b in v.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                out.push(char::from(b));
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

/// SSO's use cases.
#[derive(Clone)]
pub struct SsoService<R, C, O, V> {
    repo: R,
    auth: AuthService<R, C>,
    oidc: O,
    cipher: V,
    edges: Edges,
    /// Tenantry's callback URL, registered at every provider.
    callback: Arc<str>,
}

impl<R, C, O, V> SsoService<R, C, O, V>
where
    R: IdentityStore + SsoRepository,
    C: IdentityCrypto,
    O: OidcClient,
    V: SecretCipher,
{
    pub fn new(
        repo: R,
        auth: AuthService<R, C>,
        oidc: O,
        cipher: V,
        edges: Edges,
        callback: &str,
    ) -> Self {
        Self {
            repo,
            auth,
            oidc,
            cipher,
            edges,
            callback: callback.into(),
        }
    }

    /// The URL every provider must have registered for Tenantry.
    pub fn callback_url(&self) -> String {
        self.callback.to_string()
    }

    pub async fn list(&self, ctx: &TenantCtx) -> Result<Vec<SsoProvider>, Unexpected> {
        self.repo.sso_providers(ctx).await
    }

    pub async fn get(
        &self,
        ctx: &TenantCtx,
        id: SsoProviderId,
    ) -> Result<SsoProvider, SsoConfigError> {
        Ok(self
            .repo
            .sso_provider(ctx, id)
            .await?
            .ok_or(SsoConfigError::NotFound)?
            .0)
    }

    /// Checks the issuer's discovery; a message for the `issuer` field when it fails.
    pub async fn check_issuer(&self, issuer: &str) -> Result<(), String> {
        self.oidc.discover(issuer).await.map_err(|e| e.to_string())
    }

    pub async fn create(
        &self,
        ctx: &TenantCtx,
        draft: SsoProviderDraft,
    ) -> Result<SsoProvider, SsoConfigError> {
        let now = self.auth.now();
        let provider = SsoProvider {
            id: SsoProviderId::new(),
            tenant_id: ctx.tenant_id(),
            name: draft.name,
            issuer: draft.issuer,
            client_id: draft.client_id,
            scopes: draft.scopes,
            allowed_domains: draft.allowed_domains,
            redirect_uris: draft.redirect_uris,
            default_role: draft.default_role,
            jit: draft.jit,
            enforce: draft.enforce,
            created_at: now,
            updated_at: now,
        };
        let secret = draft.client_secret.unwrap_or_default();
        let row = provider.id.to_string();
        let sealed = self
            .cipher
            .seal(ctx, secret_slot(&row), secret.as_bytes())
            .await?;
        self.repo
            .insert_sso_provider(ctx, &provider, &sealed)
            .await?;
        Ok(provider)
    }

    /// Replaces the provider's settings; the client secret only when one is given.
    pub async fn replace(
        &self,
        ctx: &TenantCtx,
        id: SsoProviderId,
        draft: SsoProviderDraft,
    ) -> Result<SsoProvider, SsoConfigError> {
        let old = self.get(ctx, id).await?;
        let provider = SsoProvider {
            name: draft.name,
            issuer: draft.issuer,
            client_id: draft.client_id,
            scopes: draft.scopes,
            allowed_domains: draft.allowed_domains,
            redirect_uris: draft.redirect_uris,
            default_role: draft.default_role,
            jit: draft.jit,
            enforce: draft.enforce,
            updated_at: self.auth.now(),
            ..old
        };
        let row = id.to_string();
        let sealed = match &draft.client_secret {
            Some(s) => Some(
                self.cipher
                    .seal(ctx, secret_slot(&row), s.as_bytes())
                    .await?,
            ),
            None => None,
        };
        self.repo
            .update_sso_provider(ctx, &provider, sealed.as_deref())
            .await?;
        Ok(provider)
    }

    pub async fn delete(&self, ctx: &TenantCtx, id: SsoProviderId) -> Result<(), SsoConfigError> {
        if self.repo.delete_sso_provider(ctx, id).await? {
            Ok(())
        } else {
            Err(SsoConfigError::NotFound)
        }
    }

    /// The e-mail domains whose people must use SSO in this tenant.
    pub async fn enforced_domains(&self, ctx: &TenantCtx) -> Result<Vec<String>, Unexpected> {
        let mut domains: Vec<String> = self
            .repo
            .sso_providers(ctx)
            .await?
            .into_iter()
            .filter(|p| p.enforce)
            .flat_map(|p| p.allowed_domains)
            .collect();
        domains.sort();
        domains.dedup();
        Ok(domains)
    }

    async fn settings(
        &self,
        ctx: &TenantCtx,
        id: SsoProviderId,
    ) -> Result<(SsoProvider, OidcSettings), SsoLoginError> {
        let (provider, sealed) = self
            .repo
            .sso_provider(ctx, id)
            .await?
            .ok_or(SsoLoginError::ProviderNotFound)?;
        let row = id.to_string();
        let secret = self.cipher.open(ctx, secret_slot(&row), &sealed).await?;
        let settings = OidcSettings {
            issuer: provider.issuer.clone(),
            client_id: provider.client_id.clone(),
            client_secret: String::from_utf8(secret)
                .map_err(|_| Unexpected::msg("a client secret is not UTF-8"))?,
            callback: self.callback.to_string(),
            scopes: provider.scopes.clone(),
        };
        Ok((provider, settings))
    }

    async fn refused(
        &self,
        e: &SsoLoginError,
        user: Option<UserId>,
        email: Option<String>,
        origin: &Origin,
    ) -> Result<(), Unexpected> {
        if matches!(e, SsoLoginError::Unexpected(_)) {
            return Ok(());
        }
        let mut event = SecurityEvent::new(SecurityEventKind::SsoLoginFailed, self.auth.now());
        event.user_id = user;
        event.email = email;
        event.ip.clone_from(&origin.ip);
        event.user_agent.clone_from(&origin.user_agent);
        event.detail = Some(format!("{}: {e}", e.code()));
        self.auth.log_event(event).await
    }

    /// Starts a sign-in: the provider's authorization URL to send the browser to.
    pub async fn authorize(
        &self,
        ctx: &TenantCtx,
        id: SsoProviderId,
        redirect_uri: &str,
        login_hint: Option<&str>,
        origin: &Origin,
    ) -> Result<String, SsoLoginError> {
        let result = self.begin(ctx, id, redirect_uri, login_hint).await;
        if let Err(e) = &result {
            self.refused(e, None, None, origin).await?;
        }
        result
    }

    async fn begin(
        &self,
        ctx: &TenantCtx,
        id: SsoProviderId,
        redirect_uri: &str,
        login_hint: Option<&str>,
    ) -> Result<String, SsoLoginError> {
        let (provider, settings) = self.settings(ctx, id).await?;
        if !provider.redirect_uris.iter().any(|u| u == redirect_uri) {
            return Err(SsoLoginError::RedirectUriNotAllowed);
        }
        let request = self
            .oidc
            .authorization(&settings, login_hint)
            .await
            .map_err(SsoLoginError::Oidc)?;
        let now = self.auth.now();
        self.repo
            .insert_sso_login(&SsoLogin {
                state_digest: self.auth.digest(&request.state),
                tenant_id: ctx.tenant_id(),
                provider_id: id,
                nonce: request.nonce,
                pkce_verifier: request.pkce_verifier,
                redirect_uri: redirect_uri.to_owned(),
                created_at: now,
                expires_at: now + Duration::seconds(LOGIN_TTL),
            })
            .await?;
        Ok(request.url)
    }

    /// The provider sent the browser back: checks everything, provisions the user and answers
    /// where to send the browser — the client's redirect URI with a one-time `code`, or with
    /// `error=<code>` once the login is known. An unknown or replayed state is an error
    /// (there is nowhere safe to send the browser).
    pub async fn callback(
        &self,
        state: &str,
        code: Option<&str>,
        provider_error: Option<&str>,
        origin: &Origin,
    ) -> Result<Redirect, SsoLoginError> {
        let now = self.auth.now();
        let Some(login) = self
            .repo
            .take_sso_login(&self.auth.digest(state), now)
            .await?
        else {
            let e = SsoLoginError::StateInvalid;
            self.refused(&e, None, None, origin).await?;
            return Err(e);
        };
        let ctx = TenantCtx::for_request(
            &self.edges,
            login.tenant_id,
            Actor::System,
            Arc::new(origin.clone()),
        );
        let mut who = (None, None);
        let outcome = self
            .complete(&ctx, &login, code, provider_error, &mut who)
            .await;
        match outcome {
            Ok(one_time) => Ok(Redirect {
                location: with_query(&login.redirect_uri, &[("code", &one_time)]),
            }),
            Err(SsoLoginError::Unexpected(u)) => Err(SsoLoginError::Unexpected(u)),
            Err(e) => {
                self.refused(&e, who.0, who.1, origin).await?;
                Ok(Redirect {
                    location: with_query(
                        &login.redirect_uri,
                        &[("error", e.code()), ("error_description", &e.to_string())],
                    ),
                })
            }
        }
    }

    async fn complete(
        &self,
        ctx: &TenantCtx,
        login: &SsoLogin,
        code: Option<&str>,
        provider_error: Option<&str>,
        who: &mut (Option<UserId>, Option<String>),
    ) -> Result<String, SsoLoginError> {
        if let Some(e) = provider_error {
            return Err(SsoLoginError::Oidc(OidcError::Provider(e.to_owned())));
        }
        let code = code.ok_or_else(|| {
            SsoLoginError::Oidc(OidcError::Provider("no code in the callback".into()))
        })?;
        let (provider, settings) = self.settings(ctx, login.provider_id).await?;
        let identity = self
            .oidc
            .exchange(&settings, code, &login.pkce_verifier, &login.nonce)
            .await
            .map_err(SsoLoginError::Oidc)?;
        let email = identity
            .email
            .as_deref()
            .and_then(|e| Email::parse(e).ok())
            .ok_or(SsoLoginError::EmailUnverified)?;
        who.1 = Some(email.normalized());
        if !identity.email_verified {
            return Err(SsoLoginError::EmailUnverified);
        }
        let domain = email
            .normalized()
            .rsplit('@')
            .next()
            .unwrap_or_default()
            .to_owned();
        if !provider.allowed_domains.contains(&domain) {
            return Err(SsoLoginError::DomainNotAllowed);
        }
        let now = self.auth.now();
        let linked = self
            .repo
            .identity_user(&identity.issuer, &identity.subject)
            .await?;
        let (user, new_user, link) = match linked {
            Some(id) => (self.auth.me(id).await.ok(), None, None),
            None => {
                let link = Some((identity.issuer.clone(), identity.subject.clone()));
                match self.repo.credentials(&email).await? {
                    // The e-mail is verified by the provider and matches: the same person.
                    Some((existing, _)) => (Some(existing), None, link),
                    None if provider.jit => {
                        let name = identity
                            .name
                            .as_deref()
                            .and_then(|n| DisplayName::parse(n).ok())
                            .or_else(|| DisplayName::parse(email.as_str().split('@').next()?).ok())
                            .ok_or(SsoLoginError::NotProvisioned)?;
                        let user = User::new(email.clone(), name, now);
                        // No password opens this account: no hash verifies against it.
                        let hash = PasswordHash("!sso".to_owned());
                        (Some(user.clone()), Some((user, hash)), link)
                    }
                    None => return Err(SsoLoginError::NotProvisioned),
                }
            }
        };
        let user = user.ok_or(SsoLoginError::NotProvisioned)?;
        who.0 = Some(user.id);
        if user.status != UserStatus::Active {
            return Err(SsoLoginError::AccountDisabled);
        }
        self.repo
            .provision(
                ctx,
                &Provisioning {
                    new_user,
                    user_id: user.id,
                    link,
                    jit_role: provider.jit.then(|| provider.default_role.clone()),
                },
                now,
            )
            .await?;
        let one_time = self.auth.fresh_secret();
        self.repo
            .insert_sso_code(
                &self.auth.digest(&one_time),
                user.id,
                ctx.tenant_id(),
                now,
                now + Duration::seconds(CODE_TTL),
            )
            .await?;
        Ok(one_time)
    }

    /// The client's last step: the one-time code for a session (tokens in a response body,
    /// never in a URL).
    pub async fn exchange(&self, code: &str, origin: &Origin) -> Result<Session, SsoLoginError> {
        let now = self.auth.now();
        let Some((user_id, tenant)) = self
            .repo
            .take_sso_code(&self.auth.digest(code), now)
            .await?
        else {
            let e = SsoLoginError::CodeInvalid;
            self.refused(&e, None, None, origin).await?;
            return Err(e);
        };
        let user = self
            .auth
            .me(user_id)
            .await
            .map_err(|_| SsoLoginError::AccountDisabled)?;
        if user.status != UserStatus::Active {
            return Err(SsoLoginError::AccountDisabled);
        }
        let mut event = SecurityEvent::new(SecurityEventKind::SsoLoginSucceeded, now);
        event.user_id = Some(user_id);
        event.email = Some(user.email.normalized());
        event.ip.clone_from(&origin.ip);
        event.user_agent.clone_from(&origin.user_agent);
        event.detail = Some(format!("tenant {tenant}"));
        self.auth.log_event(event).await?;
        Ok(self.auth.start_sso_session(user, origin, tenant).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_and_redirect_uris() {
        assert!(parse_issuer("https://login.acme.com").is_ok());
        assert!(parse_issuer("http://127.0.0.1:8080").is_ok());
        assert!(parse_issuer("http://idp.acme.com").is_err());
        assert!(parse_issuer("https://idp.acme.com/?x=1").is_err());
        assert!(parse_redirect_uri("https://app.acme.com/sso").is_ok());
        assert!(parse_redirect_uri("http://localhost:3000/cb").is_ok());
        assert!(parse_redirect_uri("http://app.acme.com/cb").is_err());
        assert!(parse_redirect_uri("com.acme.app:/cb").is_ok());
        assert!(parse_redirect_uri("javascript:alert(1)").is_err());
        assert!(parse_redirect_uri("https://app.acme.com/#x").is_err());
        assert_eq!(parse_email_domain("@Acme.COM").unwrap(), "acme.com");
        assert!(parse_email_domain("localhost").is_err());
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(
            with_query("https://a.test/cb", &[("code", "a b&c")]),
            "https://a.test/cb?code=a%20b%26c"
        );
        assert_eq!(
            with_query("https://a.test/cb?x=1", &[("error", "e")]),
            "https://a.test/cb?x=1&error=e"
        );
    }
}
