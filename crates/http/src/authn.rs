//! Who is calling: the bearer access token, checked without the database.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use tenantry_identity::{AccessClaims, FamilyId};
use tenantry_kernel::{Unexpected, UserId};

use crate::problem::Problem;
use crate::state::AppState;

/// A request carrying a valid access token.
#[derive(Clone, Copy, Debug)]
pub struct Authenticated {
    pub user_id: UserId,
    /// The session (refresh-token family) the token belongs to.
    pub session: FamilyId,
    /// The session passed a second factor (a tenant requiring MFA lets it in).
    pub mfa: bool,
    /// A platform administrator acts as the user, inside one tenant.
    pub impersonation: Option<tenantry_identity::Impersonation>,
    /// The tenant whose identity provider opened the session.
    pub sso_tenant: Option<tenantry_kernel::TenantId>,
}

impl Authenticated {
    /// Refuses what an impersonating administrator may not do as the user: change their
    /// password, second factor, sessions, SSO or API keys (403 `not_while_impersonating`).
    pub fn not_impersonating(&self) -> Result<(), Problem> {
        refuse_impersonation(self.impersonation.map(|i| i.admin))
    }
}

/// 403 `not_while_impersonating` when `impersonator` is set.
pub fn refuse_impersonation(impersonator: Option<UserId>) -> Result<(), Problem> {
    match impersonator {
        None => Ok(()),
        Some(_) => Err(Problem::new(
            actix_web::http::StatusCode::FORBIDDEN,
            "not_while_impersonating",
            "Not while impersonating",
        )
        .detail(
            "An administrator acting as this user cannot change their password, second \
             factor, sessions, SSO or API keys",
        )),
    }
}

impl FromRequest for Authenticated {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req).map_err(Into::into))
    }
}

fn authenticate(req: &HttpRequest) -> Result<Authenticated, Problem> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| Problem::internal(Unexpected::msg("app state missing")))?;
    let token = bearer_token(req).ok_or_else(|| {
        Problem::unauthorized("Send an access token as 'Authorization: Bearer <token>'")
    })?;
    let (claims, session) = state
        .verify_access_token(token)
        .ok_or_else(|| Problem::unauthorized("The access token is invalid or expired"))?;
    tracing::Span::current().record("user_id", tracing::field::display(claims.user_id));
    Ok(Authenticated {
        user_id: claims.user_id,
        session,
        mfa: claims.mfa,
        impersonation: claims.impersonation,
        sso_tenant: claims.sso_tenant,
    })
}

/// The token of an `Authorization: Bearer <token>` header (the scheme in any case, as
/// RFC 9110 has it).
///
/// Three extractors of every tenant request read it, so it is read by whole bytes: the
/// token must be what `HeaderValue::to_str` accepts (visible ASCII and tabs), checked
/// without a branch per byte.
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    bearer_of(req.headers().get(header::AUTHORIZATION)?.as_bytes())
}

fn bearer_of(value: &[u8]) -> Option<&str> {
    let space = value.iter().position(|&b| b == b' ')?;
    let (scheme, token) = (&value[..space], &value[space + 1..]);
    let visible = token.iter().fold(true, |ok, &b| {
        ok & ((b' '..=b'~').contains(&b) | (b == b'\t'))
    });
    if !scheme.eq_ignore_ascii_case(b"bearer") || !visible {
        return None;
    }
    std::str::from_utf8(token)
        .ok()
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Access tokens already verified, with what they said. A token is immutable and valid until
/// it expires, so a hit is re-checked for expiry only: the signature (an Ed25519
/// verification, the largest single cost of a cached read) is checked once per token.
pub struct TokenCache {
    cache: moka::sync::Cache<String, (AccessClaims, FamilyId)>,
}

impl TokenCache {
    pub fn new() -> Self {
        Self {
            cache: moka::sync::Cache::builder()
                .max_capacity(50_000)
                .time_to_live(std::time::Duration::from_secs(300))
                .build(),
        }
    }

    pub fn verify(
        &self,
        token: &str,
        now: chrono::DateTime<chrono::Utc>,
        verify: impl FnOnce(&str) -> Option<(AccessClaims, FamilyId)>,
    ) -> Option<(AccessClaims, FamilyId)> {
        let cached = self.cache.get(token);
        crate::metrics::cache_lookup("access_token", cached.is_some());
        if let Some(hit) = cached {
            return (hit.0.expires_at > now).then_some(hit);
        }
        let verified = verify(token)?;
        self.cache.insert(token.to_owned(), verified.clone());
        Some(verified)
    }
}

impl Default for TokenCache {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the header gave before: `HeaderValue::to_str`, then split and trimmed.
    fn as_to_str_reads_it(value: &[u8]) -> Option<&str> {
        let text = std::str::from_utf8(value).ok()?;
        if !text
            .bytes()
            .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
        {
            return None;
        }
        let (scheme, token) = text.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim())
            .filter(|t| !t.is_empty())
    }

    #[test]
    fn a_bearer_token_reads_as_header_text_does() {
        let values: &[&[u8]] = &[
            b"Bearer abc.def",
            b"bearer  abc ",
            b"BEARER abc\t",
            b"Bearer\tabc",
            b"Basic abc",
            b"Bearer ",
            b"Bearer    ",
            b"Bearerabc",
            b"Bearer a b",
            b"Bearer a\tb",
            b"Bearer \x0cabc",
            b"Bearer abc\x0c",
            b"Bearer a\x7fb",
            b"Bearer a\x00b",
            "Bearer é".as_bytes(),
            b"Bearer \xff",
            "Béarer abc".as_bytes(),
            b"",
        ];
        for value in values {
            assert_eq!(
                bearer_of(value),
                as_to_str_reads_it(value),
                "{:?}",
                String::from_utf8_lossy(value)
            );
        }
        assert_eq!(bearer_of(b"Bearer tok"), Some("tok"));
    }
}
