//! The capability to act across tenants: the operator token from configuration (automation),
//! or the access token of a platform administrator (the operator's staff). Holding an
//! [`Operator`] value is what every platform route requires.

use std::future::Future;
use std::pin::Pin;
use tracing::Instrument as _;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use subtle::ConstantTimeEq;
use tenantry_kernel::{Actor, Edges, TenantCtx, TenantId, Unexpected, UserId};

use crate::problem::Problem;
use crate::state::AppState;

/// Proof that the request may administer every tenant.
pub struct Operator {
    /// The administrator, when a person (not the operator token) is acting.
    pub admin: Option<UserId>,
    /// Platform administration is an edge: it acts inside the tenant it targets.
    edges: Edges,
}

impl FromRequest for Operator {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let bearer = crate::authn::bearer_token(req).map(str::to_owned);
        // Like the member guard: its own task, and body errors wait for it.
        let (settled, gate) = crate::guard::AccessSettled::channel();
        req.extensions_mut().insert(gate);
        let task = actix_web::rt::spawn(
            async move {
                let outcome = match state {
                    None => Err(Problem::internal(Unexpected::msg("app state missing"))),
                    Some(state) => check(&state, bearer.as_deref()).await,
                };
                let _ = settled.send(true);
                outcome
            }
            .instrument(tracing::Span::current()),
        );
        Box::pin(async move {
            let outcome = task.await.map_err(|e| {
                Problem::internal(Unexpected::msg(format!("operator check failed: {e}")))
            })?;
            Ok(outcome?)
        })
    }
}

impl Operator {
    /// Who acts: the administrator, or the operator token.
    pub fn actor(&self) -> Actor {
        match self.admin {
            Some(user) => Actor::PlatformAdmin(user),
            None => Actor::Operator,
        }
    }

    /// The context for acting inside one tenant as platform administration: changes are
    /// recorded with this actor (the administrator, or the operator token).
    pub fn ctx_for(&self, tenant: TenantId, req: &HttpRequest) -> TenantCtx {
        TenantCtx::for_request(
            &self.edges,
            tenant,
            self.actor(),
            crate::request_context::origin_of(req),
        )
    }

    /// The same for the tenant a path names (`raw`: its id or slug): 404 `tenant_not_found`
    /// when there is none.
    pub async fn ctx_in(
        &self,
        state: &AppState,
        req: &HttpRequest,
        raw: &str,
    ) -> Result<TenantCtx, Problem> {
        let tenant = state
            .tenants
            .find(&crate::routes::platform::tenant_ref(raw)?)
            .await?;
        Ok(self.ctx_for(tenant.id, req))
    }
}

async fn check(state: &AppState, bearer: Option<&str>) -> Result<Operator, Problem> {
    let presented = bearer.ok_or_else(|| {
        Problem::unauthorized(
            "Send a platform administrator's access token or the operator token as a bearer token",
        )
    })?;
    let token_matches = state
        .config
        .operator_token
        .as_ref()
        .is_some_and(|expected| bool::from(presented.as_bytes().ct_eq(expected.as_bytes())));
    if token_matches {
        return Ok(Operator {
            admin: None,
            edges: state.edges.clone(),
        });
    }
    let Some((claims, _)) = state.verify_access_token(presented) else {
        return Err(Problem::unauthorized("The token is not valid"));
    };
    // Acting as a member never carries the administrator's own powers.
    if claims.impersonation.is_some() {
        return Err(platform_admin_required());
    }
    if state.reads.is_platform_admin(claims.user_id).await? {
        tracing::Span::current().record("user_id", tracing::field::display(claims.user_id));
        return Ok(Operator {
            admin: Some(claims.user_id),
            edges: state.edges.clone(),
        });
    }
    Err(platform_admin_required())
}

pub fn platform_admin_required() -> Problem {
    Problem::new(
        StatusCode::FORBIDDEN,
        "platform_admin_required",
        "Platform administrators only",
    )
    .detail("This needs a platform administrator")
}
