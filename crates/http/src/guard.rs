//! The membership guard and the permission check, in front of every tenant route.
//!
//! A handler that takes [`Member`] runs only after: the tenant is resolved and open, the
//! caller is authenticated, the caller is an active member of that tenant, and the caller's
//! role grants the permission the matched route's handler declares (`x-permission`, read
//! from [`crate::permissions::RoutePermissions`]). A member-only route without one stops the
//! server from starting; were one to slip through, it is refused (fail closed).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument as _;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use moka::future::Cache;
use tenantry_kernel::{Actor, ApiKeyId, TenantCtx, TenantId, Unexpected, UserId};
use tenantry_rbac::{Membership, Permission, PermissionSet, Role};

use crate::authn::Authenticated;
use crate::changes::CACHE_BACKSTOP;
use crate::permissions::RoutePermissions;
use crate::problem::Problem;
use crate::resolve::TenantScope;
use crate::state::AppState;

type Entry = Option<Arc<(Membership, Role)>>;

/// Active memberships by (tenant, user); dropped whole on any membership or role change in
/// this process.
#[derive(Clone)]
pub struct MemberCache {
    cache: Cache<(TenantId, UserId), Entry>,
    /// Bumped by every invalidation: an answer read while it moved is not kept.
    generation: Arc<std::sync::atomic::AtomicU64>,
}

impl MemberCache {
    pub fn new() -> Self {
        Self {
            cache: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(CACHE_BACKSTOP)
                .build(),
            generation: Arc::default(),
        }
    }

    pub fn invalidate(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.cache.invalidate_all();
    }

    /// The caller's active membership in the context's tenant and its role, through the
    /// cache.
    pub async fn membership(
        &self,
        rbac: &Arc<dyn crate::ports::Rbac>,
        ctx: &TenantCtx,
        user: UserId,
    ) -> Result<Entry, Unexpected> {
        let rbac = rbac.clone();
        let ctx = ctx.clone();
        self.get_or_load((ctx.tenant_id(), user), async move {
            rbac.permissions_of(&ctx, user)
                .await
                .map(|m| m.map(Arc::new))
        })
        .await
    }

    async fn get_or_load(
        &self,
        key: (TenantId, UserId),
        load: impl Future<Output = Result<Entry, Unexpected>>,
    ) -> Result<Entry, Unexpected> {
        use std::sync::atomic::Ordering::SeqCst;
        let cached = self.cache.get(&key).await;
        crate::metrics::cache_lookup("member", cached.is_some());
        if let Some(hit) = cached {
            return Ok(hit);
        }
        let generation = self.generation.load(SeqCst);
        let entry = load.await?;
        if self.generation.load(SeqCst) == generation {
            self.cache.insert(key, entry.clone()).await;
            if self.generation.load(SeqCst) != generation {
                self.cache.invalidate(&key).await;
            }
        }
        Ok(entry)
    }
}

impl Default for MemberCache {
    fn default() -> Self {
        Self::new()
    }
}

/// A caller allowed into this route of this tenant: a member (access token) or an API key
/// of this tenant.
pub struct Member {
    pub ctx: TenantCtx,
    pub tenant: Arc<tenantry_tenancy::Tenant>,
    /// The member, or the user who created the API key.
    pub user_id: UserId,
    /// What the caller may do here: the member's role, or the key's own permissions.
    pub permissions: PermissionSet,
    pub api_key: Option<ApiKeyId>,
    /// The caller's session passed a second factor (never for an API key).
    pub mfa: bool,
    /// The platform administrator acting as `user_id` (support impersonation).
    pub impersonator: Option<UserId>,
}

/// An API key in `X-API-Key`, or as a bearer token starting with `tnt_`.
fn presented_api_key(req: &HttpRequest) -> Option<String> {
    if let Some(v) = req.headers().get("x-api-key") {
        return Some(v.to_str().unwrap_or_default().to_owned());
    }
    crate::authn::bearer_token(req)
        .filter(|t| t.starts_with("tnt_"))
        .map(str::to_owned)
}

impl FromRequest for Member {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let scope = TenantScope::from_request(req, payload);
        // The caller: an API key, or else an access token (a bearer token that is an API key
        // is not decoded as one).
        let caller = match presented_api_key(req) {
            Some(key) => Err(key),
            None => Ok(Authenticated::from_request(req, payload)),
        };
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let method = req.method().clone();
        let pattern = req.match_pattern();
        let table = req.app_data::<web::Data<RoutePermissions>>();
        let needed = table
            .zip(pattern.as_deref())
            .and_then(|(table, p)| table.get(method.as_str(), p));
        let feature = table
            .zip(pattern.as_deref())
            .and_then(|(table, p)| table.feature(method.as_str(), p))
            .map(str::to_owned);
        let entitled = (method.clone(), pattern.clone().unwrap_or_default());
        let checked = crate::rate_limit::checked_of(req);
        // Named in the audit trail, built only when a request is refused.
        let route = move || format!("{method} {}", pattern.as_deref().unwrap_or_default());
        let check = async move {
            let state =
                state.ok_or_else(|| Problem::internal(Unexpected::msg("app state missing")))?;
            // Tenant first (404/403/503), then the caller (401), then membership (403).
            let scope = scope.await?;
            // The tenant's gates further on (subscription, rate limit) answer branded.
            let (bt, bs) = (scope.tenant.clone(), scope.settings.clone());
            let brand = move |p: Problem| p.branded(crate::problem::TenantBrand::of(&bt, &bs));
            let needed = needed.ok_or_else(|| {
                Problem::internal(Unexpected::msg("tenant route without a permission entry"))
            })?;
            let who = match caller {
                Ok(who) => who.await?,
                Err(key) => {
                    let member = key_member(&state, scope, &key, needed, &route).await?;
                    let (method, pattern) = &entitled;
                    let tier = crate::entitlements::check(
                        &state,
                        &member.ctx,
                        method,
                        pattern,
                        feature.as_deref(),
                    )
                    .await
                    .map_err(&brand)?;
                    let caller = member
                        .api_key
                        .map(|k| format!("key:{k}"))
                        .unwrap_or_default();
                    crate::rate_limit::enforce(
                        &state.rate_limits,
                        checked.as_ref(),
                        &crate::rate_limit::member_policies(
                            &state.rate_limits.config,
                            member.ctx.tenant_id(),
                            &caller,
                            tier,
                        ),
                    )
                    .await
                    .map_err(&brand)?;
                    state.api_calls.record(member.ctx.tenant_id());
                    return Ok(member);
                }
            };
            let actor = match who.impersonation {
                None => Actor::User(who.user_id),
                Some(imp) => {
                    // An impersonation token works in its one tenant, while the tenant allows.
                    if imp.tenant != scope.tenant.id {
                        return Err(impersonation_refused(
                            "impersonation_out_of_scope",
                            "This impersonation token was issued for another tenant",
                        )
                        .into());
                    }
                    if !scope.settings.security.allow_impersonation {
                        return Err(brand(impersonation_refused(
                            "impersonation_forbidden",
                            "This organisation does not allow support impersonation",
                        ))
                        .into());
                    }
                    Actor::Impersonated {
                        user: who.user_id,
                        by: imp.admin,
                    }
                }
            };
            let entry = state
                .members
                .membership(&state.rbac, &scope.ctx, who.user_id)
                .await
                .map_err(Problem::internal)?;
            let role = entry.ok_or_else(|| {
                Problem::new(StatusCode::FORBIDDEN, "not_a_member", "Not a member")
                    .detail("You are not an active member of this tenant")
            })?;
            // The administrator's own sign-in stands in for the user's second factor.
            if scope.settings.security.require_mfa && !who.mfa && who.impersonation.is_none() {
                return Err(brand(mfa_enrollment_required()).into());
            }
            let ctx = scope.acting(&state.edges, actor);
            crate::sso_policy::check(&state, &ctx, &who)
                .await
                .map_err(&brand)?;
            if !role.1.allows(needed) {
                record_denial(&state, &ctx, needed, &route()).await;
                return Err(permission_denied(needed).into());
            }
            let (method, pattern) = &entitled;
            let tier =
                crate::entitlements::check(&state, &ctx, method, pattern, feature.as_deref())
                    .await
                    .map_err(&brand)?;
            crate::rate_limit::enforce(
                &state.rate_limits,
                checked.as_ref(),
                &crate::rate_limit::member_policies(
                    &state.rate_limits.config,
                    ctx.tenant_id(),
                    &format!("user:{}", who.user_id),
                    tier,
                ),
            )
            .await
            .map_err(&brand)?;
            state.api_calls.record(ctx.tenant_id());
            Ok(Member {
                ctx,
                tenant: scope.tenant,
                user_id: who.user_id,
                permissions: role.1.permissions.clone(),
                api_key: None,
                mfa: who.mfa,
                impersonator: who.impersonation.map(|i| i.admin),
            })
        };
        // The check runs as its own task and body extractors wait for it before reporting
        // their own errors: a caller who may not use the route learns that first (403, not
        // 422), and a failing sibling extractor never cancels a database call half-way.
        let (settled, gate) = AccessSettled::channel();
        req.extensions_mut().insert(gate);
        // In the request's span, so what it records (tenant, user) and logs is the request's.
        let task = actix_web::rt::spawn(
            async move {
                let outcome: Result<Member, actix_web::Error> = check.await;
                let _ = settled.send(true);
                outcome
            }
            .instrument(tracing::Span::current()),
        );
        Box::pin(async move {
            task.await.map_err(|e| {
                actix_web::Error::from(Problem::internal(Unexpected::msg(format!(
                    "member check failed: {e}"
                ))))
            })?
        })
    }
}

/// An impersonation token presented where it does not work.
pub fn impersonation_refused(code: &'static str, detail: &str) -> Problem {
    Problem::new(StatusCode::FORBIDDEN, code, "Impersonation refused").detail(detail)
}

/// The tenant requires a second factor and the caller's session has none.
fn mfa_enrollment_required() -> Problem {
    Problem::new(
        StatusCode::FORBIDDEN,
        "mfa_enrollment_required",
        "MFA required",
    )
    .detail(
        "This organisation requires multi-factor authentication: enrol a TOTP authenticator \
         (/api/v1/auth/mfa/totp), then refresh your session or log in again",
    )
}

/// The guard for a caller presenting an API key: a live key of this tenant holding `needed`.
async fn key_member(
    state: &AppState,
    scope: TenantScope,
    raw: &str,
    needed: Permission,
    route: &dyn Fn() -> String,
) -> Result<Member, actix_web::Error> {
    let refused = || Problem::unauthorized("The API key is invalid, expired or revoked");
    let key = match state
        .api_keys
        .authenticate(raw, scope.ctx.tenant_id())
        .await
        .map_err(Problem::internal)?
    {
        Ok(key) => key,
        Err(invalid) => {
            // A real key refused (wrong secret, revoked, expired, or presented to another
            // tenant): its own tenant's trail says so.
            if let Some(k) = invalid.known {
                let actor = k
                    .holder
                    .map_or(Actor::System, |user| Actor::ApiKey { key: k.id, user });
                let ctx = TenantCtx::for_request(
                    &state.edges,
                    k.tenant_id,
                    actor,
                    scope.ctx.origin().clone().into(),
                );
                key_denied(state, &ctx, k.id, k.reason, &route()).await;
            }
            return Err(refused().into());
        }
    };
    tracing::Span::current().record("user_id", tracing::field::display(key.created_by));
    let permissions: PermissionSet = key
        .permissions
        .iter()
        .filter_map(|p| Permission::parse(p).ok())
        .collect();
    let ctx = scope.acting(
        &state.edges,
        Actor::ApiKey {
            key: key.id,
            user: key.created_by,
        },
    );
    state
        .api_keys
        .note_use(&ctx, &key)
        .await
        .map_err(Problem::internal)?;
    if !permissions.contains(&needed) {
        record_denial(state, &ctx, needed, &route()).await;
        return Err(permission_denied(needed).into());
    }
    Ok(Member {
        ctx,
        tenant: scope.tenant,
        user_id: key.created_by,
        permissions,
        api_key: Some(key.id),
        mfa: false,
        impersonator: None,
    })
}

/// Present while a route's access check runs; see [`AccessSettled::wait`].
#[derive(Clone)]
pub struct AccessSettled(tokio::sync::watch::Receiver<bool>);

impl AccessSettled {
    /// A sender to signal with `true` when the check is done, and the marker to insert into
    /// the request's extensions.
    pub fn channel() -> (tokio::sync::watch::Sender<bool>, Self) {
        let (tx, rx) = tokio::sync::watch::channel(false);
        (tx, Self(rx))
    }

    /// Waits until the access check of this request has finished (at once when the route
    /// has none).
    pub async fn wait(req: &HttpRequest) {
        let gate = req.extensions().get::<AccessSettled>().cloned();
        if let Some(mut gate) = gate {
            let _ = gate.0.wait_for(|done| *done).await;
        }
    }
}

/// Refusals already recorded within the last minute, by (tenant, who, what): a caller who
/// repeats a refused request (or anyone replaying a known key's prefix) adds one entry a
/// minute to the append-only trail, not one per request.
pub struct DenialWindow {
    seen: moka::sync::Cache<String, ()>,
}

impl DenialWindow {
    pub fn new() -> Self {
        Self {
            seen: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(60))
                .build(),
        }
    }

    fn first(&self, key: String) -> bool {
        self.seen.entry(key).or_insert(()).is_fresh()
    }
}

impl Default for DenialWindow {
    fn default() -> Self {
        Self::new()
    }
}

/// Appends a refusal to the tenant's trail (once a minute per caller and reason). A failure
/// to record is logged; the caller still gets the refusal, not a 500.
async fn record_refusal(
    state: &AppState,
    ctx: &TenantCtx,
    key: String,
    log: tenantry_audit::ChangeLog,
) {
    if !state.denials.first(key) {
        return;
    }
    if let Err(e) = state.audit.record(ctx, log).await {
        tracing::warn!(error = %e, "could not record a refusal in the audit trail");
    }
}

/// Records in the tenant's audit trail that a caller was refused a route it lacks the
/// permission for.
async fn record_denial(state: &AppState, ctx: &TenantCtx, needed: Permission, route: &str) {
    let mut log = tenantry_audit::ChangeLog::new();
    log.note(
        "route",
        route,
        "permission_denied",
        [("permission", serde_json::Value::from(needed.as_str()))],
    );
    let who = format!("{}|{:?}|{route}", ctx.tenant_id(), ctx.actor());
    record_refusal(state, ctx, who, log).await;
}

/// Records in the tenant's audit trail that a request from an address outside its allowlist
/// was refused (once a minute per address).
pub(crate) async fn ip_refused(state: &AppState, ctx: &TenantCtx, ip: std::net::IpAddr) {
    let mut log = tenantry_audit::ChangeLog::new();
    log.note(
        "request",
        ip.to_string(),
        "ip_not_allowed",
        [("ip", serde_json::Value::from(ip.to_string()))],
    );
    let key = format!("{}|ip|{ip}", ctx.tenant_id());
    record_refusal(state, ctx, key, log).await;
}

/// Records in a key's own tenant's audit trail that the key was presented and refused.
async fn key_denied(state: &AppState, ctx: &TenantCtx, key: ApiKeyId, reason: &str, route: &str) {
    let mut log = tenantry_audit::ChangeLog::new();
    log.note(
        "api_key",
        key.to_string(),
        "api_key_denied",
        [
            ("reason", serde_json::Value::from(reason)),
            ("route", serde_json::Value::from(route)),
        ],
    );
    let who = format!("{}|{key}|{reason}|{route}", ctx.tenant_id());
    record_refusal(state, ctx, who, log).await;
}

pub fn permission_denied(needed: Permission) -> Problem {
    Problem::new(
        StatusCode::FORBIDDEN,
        "permission_denied",
        "Permission denied",
    )
    .detail(format!("This needs the '{needed}' permission"))
}
