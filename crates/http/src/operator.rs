//! The operator's credential: a bearer token from configuration, for the platform API until
//! platform-administrator accounts exist. Holding an [`Operator`] is the capability to act
//! across tenants.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use subtle::ConstantTimeEq;

use crate::problem::Problem;
use crate::state::AppState;

/// Proof that the request carried the operator token.
pub struct Operator(());

impl FromRequest for Operator {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(check(req).map(|()| Operator(())).map_err(Into::into))
    }
}

fn check(req: &HttpRequest) -> Result<(), Problem> {
    let expected = req
        .app_data::<web::Data<AppState>>()
        .and_then(|s| s.config.operator_token.clone())
        .ok_or_else(|| {
            Problem::new(
                StatusCode::FORBIDDEN,
                "operator_api_disabled",
                "Operator API disabled",
            )
            .detail("Set TENANTRY_OPERATOR_TOKEN to enable the platform API")
        })?;
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| {
            Problem::unauthorized("Send the operator token as 'Authorization: Bearer <token>'")
        })?;
    if bool::from(presented.as_bytes().ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err(Problem::unauthorized("The operator token is not valid"))
    }
}
