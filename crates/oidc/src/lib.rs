//! The OpenID Connect relying party ([`tenantry_identity::OidcClient`]) on the `openidconnect`
//! crate: discovery (cached per issuer for five minutes), the authorization request with a
//! random state and nonce and PKCE (S256), the code exchange (client secret by HTTP Basic)
//! and the ID token's checks — signature against the provider's JWKS, issuer, audience,
//! expiry, nonce.
//!
//! Every request goes through the client the platform hands in (the guarded outbound client:
//! each address checked, no redirects, bounded time).

use std::time::Duration;

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdTokenClaims, CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, IssuerUrl,
    Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use tenantry_identity::{AuthorizationRequest, OidcClient, OidcError, OidcIdentity, OidcSettings};

/// An HTTP failure, as `openidconnect` needs one.
#[derive(Debug)]
struct HttpError(String);

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HttpError {}

/// The chain of an error, in one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

async fn send(
    client: reqwest::Client,
    request: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, HttpError> {
    let (parts, body) = request.into_parts();
    let response = client
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await
        .map_err(|e| HttpError(chain(&e)))?;
    let mut builder = openidconnect::http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        builder = builder.header(name, value);
    }
    let body = response.bytes().await.map_err(|e| HttpError(chain(&e)))?;
    builder
        .body(body.to_vec())
        .map_err(|e| HttpError(e.to_string()))
}

/// The relying party.
#[derive(Clone)]
pub struct Oidc {
    http: reqwest::Client,
    metadata: moka::future::Cache<String, CoreProviderMetadata>,
}

impl Oidc {
    /// Talks to providers through `http` (redirects must be off: the crate's own advice
    /// against SSRF).
    pub fn new(http: reqwest::Client) -> Self {
        Self {
            http,
            metadata: moka::future::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(300))
                .build(),
        }
    }

    async fn metadata(&self, issuer: &str) -> Result<CoreProviderMetadata, OidcError> {
        if let Some(hit) = self.metadata.get(issuer).await {
            return Ok(hit);
        }
        let url = IssuerUrl::new(issuer.to_owned())
            .map_err(|e| OidcError::Provider(format!("issuer: {e}")))?;
        let client = self.http.clone();
        let http = move |r| send(client.clone(), r);
        let found = CoreProviderMetadata::discover_async(url, &http)
            .await
            .map_err(|e| OidcError::Provider(format!("discovery: {}", chain(&e))))?;
        self.metadata.insert(issuer.to_owned(), found.clone()).await;
        Ok(found)
    }
}

fn verification(e: &ClaimsVerificationError) -> OidcError {
    match e {
        ClaimsVerificationError::Expired(_) => OidcError::Expired,
        ClaimsVerificationError::InvalidAudience(_) => OidcError::Audience,
        ClaimsVerificationError::InvalidIssuer(_) => OidcError::Issuer,
        ClaimsVerificationError::InvalidNonce(_) => OidcError::Nonce,
        ClaimsVerificationError::SignatureVerification(_) => OidcError::Signature,
        other => OidcError::Invalid(other.to_string()),
    }
}

fn identity(issuer: &str, claims: &CoreIdTokenClaims) -> OidcIdentity {
    OidcIdentity {
        issuer: issuer.to_owned(),
        subject: claims.subject().as_str().to_owned(),
        email: claims.email().map(|e| e.as_str().to_owned()),
        email_verified: claims.email_verified().unwrap_or(false),
        name: claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str().to_owned()),
    }
}

impl OidcClient for Oidc {
    async fn discover(&self, issuer: &str) -> Result<(), OidcError> {
        self.metadata.invalidate(issuer).await;
        self.metadata(issuer).await.map(|_| ())
    }

    async fn authorization(
        &self,
        settings: &OidcSettings,
        login_hint: Option<&str>,
    ) -> Result<AuthorizationRequest, OidcError> {
        let metadata = self.metadata(&settings.issuer).await?;
        let redirect = RedirectUrl::new(settings.callback.clone())
            .map_err(|e| OidcError::Invalid(format!("callback: {e}")))?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(settings.client_id.clone()),
            Some(ClientSecret::new(settings.client_secret.clone())),
        )
        .set_redirect_uri(redirect);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for scope in &settings.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        if let Some(hint) = login_hint {
            request = request.add_extra_param("login_hint", hint.to_owned());
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        Ok(AuthorizationRequest {
            url: url.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    async fn exchange(
        &self,
        settings: &OidcSettings,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
    ) -> Result<OidcIdentity, OidcError> {
        let metadata = self.metadata(&settings.issuer).await?;
        let redirect = RedirectUrl::new(settings.callback.clone())
            .map_err(|e| OidcError::Invalid(format!("callback: {e}")))?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(settings.client_id.clone()),
            Some(ClientSecret::new(settings.client_secret.clone())),
        )
        .set_redirect_uri(redirect);
        let http_client = self.http.clone();
        let http = move |r| send(http_client.clone(), r);
        let token = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| OidcError::Provider(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
            .request_async(&http)
            .await
            .map_err(|e| OidcError::Provider(format!("token endpoint: {}", chain(&e))))?;
        let id_token = token
            .id_token()
            .ok_or_else(|| OidcError::Invalid("the provider sent no ID token".into()))?;
        let claims = id_token
            .claims(&client.id_token_verifier(), &Nonce::new(nonce.to_owned()))
            .map_err(|e| verification(&e))?;
        Ok(identity(&settings.issuer, claims))
    }
}
