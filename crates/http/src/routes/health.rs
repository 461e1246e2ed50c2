use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::json::JsonBody;
use crate::problem::Problem;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    #[schema(example = "ready")]
    pub status: &'static str,
    #[schema(example = "postgres")]
    pub database: &'static str,
    /// Migrations this binary carries that the database lacks (empty when ready).
    pub pending_migrations: Vec<String>,
}

/// Liveness: the process is up and serving.
#[utoipa::path(tag = "health", responses((status = 200, description = "The process is up", body = Health)))]
#[get("/healthz")]
pub async fn healthz() -> web::Json<Health> {
    web::Json(Health { status: "ok" })
}

/// Readiness: the database answers and has every migration this binary carries.
#[utoipa::path(
    tag = "health",
    responses(
        (status = 200, description = "Ready to serve", body = Readiness),
        (status = 503, description = "Database unreachable or migrations pending (`not_ready`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
    )
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    let not_ready = |detail: String| {
        Problem::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", "Not ready").detail(detail)
    };
    state.reads.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "readiness: database unreachable");
        not_ready("database unreachable".into())
    })?;
    let pending = state.reads.pending_migrations().await.map_err(|e| {
        tracing::warn!(error = %e, "readiness: cannot read migrations");
        not_ready("cannot read the migration state".into())
    })?;
    if !pending.is_empty() {
        return Err(not_ready(format!(
            "pending migrations: {}",
            pending.join(", ")
        )));
    }
    Ok(HttpResponse::Ok().json_body(Readiness {
        status: "ready",
        database: state.reads.backend_name(),
        pending_migrations: vec![],
    }))
}
