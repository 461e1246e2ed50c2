//! Who is calling: the bearer access token, checked without the database.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use tenantry_identity::FamilyId;
use tenantry_kernel::{Unexpected, UserId};

use crate::problem::Problem;
use crate::state::AppState;

/// A request carrying a valid access token.
#[derive(Clone, Copy, Debug)]
pub struct Authenticated {
    pub user_id: UserId,
    /// The session (refresh-token family) the token belongs to.
    pub session: FamilyId,
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
        .auth
        .authenticate(token)
        .map_err(|_| Problem::unauthorized("The access token is invalid or expired"))?;
    tracing::Span::current().record("user_id", tracing::field::display(claims.user_id));
    Ok(Authenticated {
        user_id: claims.user_id,
        session,
    })
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}
