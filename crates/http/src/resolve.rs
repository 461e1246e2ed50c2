//! Tenant resolution: which tenant a request is for (host, else `X-Tenant-ID`), cached in
//! process, then the lifecycle gate. [`TenantScope`] is the only way a handler gets a
//! [`TenantCtx`] from a request.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::dev::Payload;
use actix_web::http::header::{self, HeaderName};
use actix_web::{FromRequest, HttpRequest, web};
use moka::future::Cache;
use tenantry_kernel::{Actor, TenantCtx, TenantId, Unexpected};
use tenantry_tenancy::{
    BaseDomain, Gate, HostClass, Hostname, Tenant, TenantChangeListener, TenantRef, TenantSettings,
    classify_host,
};

use crate::changes::CACHE_BACKSTOP;
use crate::ports::PlatformReads;
use crate::problem::{Problem, TenantBrand};
use crate::state::AppState;

pub const TENANT_HEADER: HeaderName = HeaderName::from_static("x-tenant-id");

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    Host(Hostname),
    Ref(TenantRef),
}

/// Resolves tenants through the platform-level ports (tenants and domains tables only) and
/// caches the answers, negative ones included.
#[derive(Clone)]
pub struct Resolver {
    repo: Arc<dyn PlatformReads>,
    base_domain: BaseDomain,
    cache: Cache<Key, Option<Arc<Tenant>>>,
    /// Each tenant's settings as its edge applies them (allowlist, CSP, CORS, branding on
    /// refusals), dropped with every resolution.
    settings: Cache<TenantId, Arc<TenantSettings>>,
    /// Each tenant's primary hostname (the canonical redirect's target).
    primaries: Cache<TenantId, Option<Hostname>>,
    /// Bumped by every invalidation: an answer read while it moved may predate the change
    /// and is not cached.
    generation: Arc<AtomicU64>,
}

impl Resolver {
    pub fn new(repo: Arc<dyn PlatformReads>, base_domain: BaseDomain) -> Self {
        Self {
            repo,
            base_domain,
            cache: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(CACHE_BACKSTOP)
                .build(),
            settings: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(CACHE_BACKSTOP)
                .build(),
            primaries: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(CACHE_BACKSTOP)
                .build(),
            generation: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The tenant named by the host or, when the host names none, by the header value.
    /// `Ok(None)` means no tenant matches.
    pub async fn resolve(
        &self,
        host: Option<&str>,
        header: Option<&str>,
    ) -> Result<Option<Arc<Tenant>>, Unexpected> {
        match host.map(|h| classify_host(h, &self.base_domain)) {
            Some(HostClass::Subdomain(slug)) => {
                return self.lookup(Key::Ref(TenantRef::Slug(slug))).await;
            }
            Some(HostClass::Custom(hostname)) => {
                // An unknown or pending custom host may be a proxy's own name: fall through
                // to the header.
                if let Some(t) = self.lookup(Key::Host(hostname)).await? {
                    return Ok(Some(t));
                }
            }
            Some(HostClass::Platform) | None => {}
        }
        match header.and_then(TenantRef::parse) {
            Some(r) => self.lookup(Key::Ref(r)).await,
            None => Ok(None),
        }
    }

    /// The tenant with this id (cached like every resolution).
    pub async fn by_id(&self, id: TenantId) -> Result<Option<Arc<Tenant>>, Unexpected> {
        self.lookup(Key::Ref(TenantRef::Id(id))).await
    }

    async fn lookup(&self, key: Key) -> Result<Option<Arc<Tenant>>, Unexpected> {
        let repo = &self.repo;
        let load = async {
            Ok(match &key {
                Key::Host(h) => repo.tenant_by_verified_hostname(h).await?,
                Key::Ref(TenantRef::Slug(s)) => repo.tenant_by_slug(s).await?,
                Key::Ref(TenantRef::Id(id)) => repo.tenant_by_id(*id).await?,
            }
            .map(Arc::new))
        };
        self.through("tenant", &self.cache, key.clone(), load).await
    }

    /// A tenant's settings through the cache; `load` reads them when they are not cached.
    pub async fn settings_of(
        &self,
        tenant: TenantId,
        load: impl Future<Output = Result<TenantSettings, Unexpected>>,
    ) -> Result<Arc<TenantSettings>, Unexpected> {
        let load = async { load.await.map(Arc::new) };
        self.through("tenant_settings", &self.settings, tenant, load)
            .await
    }

    /// A tenant's primary hostname through the cache; `load` lists its domains when it is
    /// not cached.
    pub async fn primary_host(
        &self,
        tenant: TenantId,
        load: impl Future<Output = Result<Vec<tenantry_tenancy::Domain>, Unexpected>>,
    ) -> Result<Option<Hostname>, Unexpected> {
        let load = async {
            Ok(load
                .await?
                .into_iter()
                .find(|d| d.is_primary)
                .map(|d| d.hostname))
        };
        self.through("primary_host", &self.primaries, tenant, load)
            .await
    }

    /// `key`'s value from `cache`, else from `load` — kept unless an invalidation happened
    /// meanwhile (the answer may predate the change).
    async fn through<K, V>(
        &self,
        label: &'static str,
        cache: &Cache<K, V>,
        key: K,
        load: impl Future<Output = Result<V, Unexpected>>,
    ) -> Result<V, Unexpected>
    where
        K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        let cached = cache.get(&key).await;
        crate::metrics::cache_lookup(label, cached.is_some());
        if let Some(hit) = cached {
            return Ok(hit);
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let found = load.await?;
        if self.generation.load(Ordering::SeqCst) == generation {
            cache.insert(key.clone(), found.clone()).await;
            // An invalidation between the check and the insert must still win.
            if self.generation.load(Ordering::SeqCst) != generation {
                cache.invalidate(&key).await;
            }
        }
        Ok(found)
    }

    /// Drops every cached answer.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.cache.invalidate_all();
        self.settings.invalidate_all();
        self.primaries.invalidate_all();
    }
}

impl TenantChangeListener for Resolver {
    /// Tenant changes are rare: dropping everything is simpler than tracking every key that
    /// may point at the tenant (slug, id, each hostname, negative entries).
    fn tenant_changed(&self, _id: TenantId) {
        self.invalidate();
    }
}

/// A request inside one resolved, open tenant.
pub struct TenantScope {
    pub ctx: TenantCtx,
    pub tenant: Arc<Tenant>,
    /// Its settings, as the edge applied them.
    pub settings: Arc<TenantSettings>,
}

impl TenantScope {
    /// The same tenant and request, acting as `actor` (who the access check found).
    pub fn acting(&self, edges: &tenantry_kernel::Edges, actor: Actor) -> TenantCtx {
        TenantCtx::for_request(
            edges,
            self.ctx.tenant_id(),
            actor,
            std::sync::Arc::new(self.ctx.origin().clone()),
        )
    }
}

impl FromRequest for TenantScope {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        // The Host header itself (or the HTTP/2 authority), never X-Forwarded-Host: that one
        // is the client's to forge.
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or_else(|| req.uri().authority().map(|a| a.to_string()));
        let bearer = crate::authn::bearer_token(req).map(str::to_owned);
        let tenant_header = req
            .headers()
            .get(TENANT_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let origin = crate::request_context::origin_of(req);
        let client = crate::client::ClientAddr::of(req)
            .map(|c| c.ip)
            .or_else(|| req.peer_addr().map(|a| a.ip()));
        // The response's headers (the tenant's CSP) need what resolution found.
        let edge_req = req.clone();
        // A tenant suspended for its deletion still answers the routes that show and cancel
        // it (to its owners: the membership guard still applies).
        let open_while_deleting = req.match_pattern().is_some_and(|p| {
            crate::routes::deletion::OPEN_WHILE_DELETING
                .iter()
                .any(|(m, route)| req.method().as_str() == *m && p == *route)
        });
        Box::pin(async move {
            let state =
                state.ok_or_else(|| Problem::internal(Unexpected::msg("app state missing")))?;
            let tenant = state
                .resolver
                .resolve(host.as_deref(), tenant_header.as_deref())
                .await
                .map_err(Problem::internal)?
                .ok_or_else(Problem::tenant_not_found)?;
            tracing::Span::current().record("tenant_id", tracing::field::display(tenant.id));
            // Before any credential: public reads of the tenant act as the system.
            let ctx = TenantCtx::for_request(&state.edges, tenant.id, Actor::System, origin);
            let settings = state
                .resolver
                .settings_of(tenant.id, state.settings.get(&ctx))
                .await
                .map_err(Problem::internal)?;
            actix_web::HttpMessage::extensions_mut(&edge_req).insert(crate::edge::TenantEdge {
                settings: settings.clone(),
            });
            let brand = || TenantBrand::of(&tenant, &settings);
            if let Some(ip) = client
                && !settings.security.ip_allowlist.allows(ip)
            {
                let staff = state.config.allowlist_admin_bypass
                    && is_platform_admin(&state, bearer.as_deref()).await?;
                if !staff {
                    crate::guard::ip_refused(&state, &ctx, ip).await;
                    return Err(Problem::ip_not_allowed().branded(brand()).into());
                }
            }
            let deleting =
                open_while_deleting && tenant.status == tenantry_tenancy::TenantStatus::Suspended;
            if !deleting {
                pass_gate(&state, &tenant, bearer.as_deref())
                    .await
                    .map_err(|p| p.branded(brand()))?;
            }
            Ok(TenantScope {
                ctx,
                tenant,
                settings,
            })
        })
    }
}

/// The tenant's lifecycle gate, as every route into a tenant applies it: a suspended tenant
/// answers 403 `tenant_inactive`, one in maintenance 503 — except to the tenant's own
/// administrators (members whose role may manage its settings, as the seeds' admin bypass)
/// and the operator's staff, who pass a maintenance (to do it, or check on it); nobody
/// passes a suspension.
pub async fn pass_gate(
    state: &AppState,
    tenant: &Tenant,
    bearer: Option<&str>,
) -> Result<(), Problem> {
    match tenant.gate() {
        Ok(()) => Ok(()),
        Err(Gate::Maintenance { .. }) if may_pass_maintenance(state, tenant, bearer).await? => {
            Ok(())
        }
        Err(gate) => Err(Problem::from(gate)),
    }
}

const SETTINGS_MANAGE: tenantry_rbac::Permission =
    tenantry_rbac::Permission::known("settings:manage");

async fn is_platform_admin(state: &AppState, bearer: Option<&str>) -> Result<bool, Problem> {
    let Some(Some((claims, _))) = bearer.map(|t| state.verify_access_token(t)) else {
        return Ok(false);
    };
    // An administrator acting as a member has the member's standing, not their own.
    if claims.impersonation.is_some() {
        return Ok(false);
    }
    Ok(state.reads.is_platform_admin(claims.user_id).await?)
}

async fn may_pass_maintenance(
    state: &AppState,
    tenant: &Tenant,
    bearer: Option<&str>,
) -> Result<bool, Problem> {
    let Some(Some((claims, _))) = bearer.map(|t| state.verify_access_token(t)) else {
        return Ok(false);
    };
    if claims.impersonation.is_none() && state.reads.is_platform_admin(claims.user_id).await? {
        return Ok(true);
    }
    let ctx = TenantCtx::for_request(
        &state.edges,
        tenant.id,
        Actor::User(claims.user_id),
        Arc::default(),
    );
    let role = state
        .members
        .membership(&state.rbac, &ctx, claims.user_id)
        .await
        .map_err(Problem::internal)?;
    Ok(role.is_some_and(|r| r.1.allows(SETTINGS_MANAGE)))
}
