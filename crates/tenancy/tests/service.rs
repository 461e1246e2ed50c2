//! The tenancy use cases against the in-memory fakes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use futures_executor::block_on;
use tenantry_kernel::{PageRequest, SystemClock, TenantCtx};
use tenantry_tenancy::testing::{InMemoryTenancy, RecordingListener};
use tenantry_tenancy::*;

fn service() -> (
    TenantService<InMemoryTenancy>,
    InMemoryTenancy,
    RecordingListener,
) {
    let repo = InMemoryTenancy::default();
    let listener = RecordingListener::default();
    let svc = TenantService::new(
        repo.clone(),
        Arc::new(SystemClock),
        BaseDomain::parse("example.com").unwrap(),
        Arc::new(listener.clone()),
        tenantry_kernel::Edges::for_tests(),
    );
    (svc, repo, listener)
}

fn slug(s: &str) -> Slug {
    Slug::parse(s).unwrap()
}

fn host(s: &str) -> Hostname {
    Hostname::parse(s).unwrap()
}

fn create(svc: &TenantService<InMemoryTenancy>, s: &str) -> Tenant {
    block_on(svc.create(slug(s), TenantName::parse("Acme").unwrap())).unwrap()
}

#[test]
fn create_gives_a_verified_primary_subdomain_and_reports_the_change() {
    let (svc, _, listener) = service();
    let t = create(&svc, "acme");
    assert_eq!(t.status, TenantStatus::Active);
    let domains = block_on(svc.domains(&TenantRef::Id(t.id))).unwrap();
    assert_eq!(domains.len(), 1);
    assert_eq!(domains[0].hostname.as_str(), "acme.example.com");
    assert_eq!(domains[0].kind, DomainKind::Subdomain);
    assert_eq!(domains[0].status, DomainStatus::Verified);
    assert!(domains[0].is_primary);
    assert_eq!(listener.changed(), vec![t.id]);
}

#[test]
fn duplicate_slug_is_refused() {
    let (svc, _, _) = service();
    create(&svc, "acme");
    let err = block_on(svc.create(slug("acme"), TenantName::parse("Other").unwrap())).unwrap_err();
    assert!(
        matches!(err, CreateTenantError::SlugTaken { ref slug } if slug == "acme"),
        "{err:?}"
    );
}

#[test]
fn lifecycle_through_the_service() {
    let (svc, _, _) = service();
    let t = create(&svc, "acme");
    let r = TenantRef::Slug(t.slug.clone());
    assert_eq!(
        block_on(svc.suspend(&r)).unwrap().status,
        TenantStatus::Suspended
    );
    assert!(matches!(
        block_on(svc.suspend(&r)),
        Err(UpdateTenantError::Transition(
            TransitionError::AlreadySuspended
        ))
    ));
    assert_eq!(
        block_on(svc.resume(&r)).unwrap().status,
        TenantStatus::Active
    );
    let msg = MaintenanceMessage::parse("Back soon").unwrap();
    let m = block_on(svc.start_maintenance(&r, Some(msg))).unwrap();
    assert!(m.maintenance);
    assert_eq!(
        block_on(svc.find(&r)).unwrap().gate(),
        Err(Gate::Maintenance {
            message: Some("Back soon".into())
        })
    );
    assert!(!block_on(svc.end_maintenance(&r)).unwrap().maintenance);
    let renamed = block_on(svc.rename(&r, TenantName::parse("Acme 2").unwrap())).unwrap();
    assert_eq!(block_on(svc.find(&r)).unwrap().name, renamed.name);
    let unknown = TenantRef::Slug(slug("nobody"));
    assert!(matches!(
        block_on(svc.suspend(&unknown)),
        Err(UpdateTenantError::NotFound)
    ));
}

#[test]
fn exactly_one_primary_domain() {
    let (svc, repo, _) = service();
    let t = create(&svc, "acme");
    let r = TenantRef::Id(t.id);
    let d = block_on(svc.add_domain(&r, host("shop.acme.org"))).unwrap();
    assert_eq!(d.status, DomainStatus::Pending);
    assert!(!d.is_primary);

    // A pending domain cannot become primary.
    assert!(matches!(
        block_on(svc.set_primary(&r, &host("shop.acme.org"))),
        Err(ChangeDomainError::NotVerified { .. })
    ));
    block_on(svc.verify_domain(&r, &host("shop.acme.org"))).unwrap();
    block_on(svc.set_primary(&r, &host("shop.acme.org"))).unwrap();

    let primaries: Vec<_> = repo
        .domains_snapshot()
        .into_iter()
        .filter(|d| d.tenant_id == t.id && d.is_primary)
        .collect();
    assert_eq!(primaries.len(), 1);
    assert_eq!(primaries[0].hostname.as_str(), "shop.acme.org");
    let domains = block_on(svc.domains(&r)).unwrap();
    assert_eq!(
        domains[0].hostname.as_str(),
        "shop.acme.org",
        "primary listed first"
    );
}

#[test]
fn domain_rules() {
    let (svc, _, _) = service();
    let a = create(&svc, "acme");
    let b = create(&svc, "beta");
    let (ra, rb) = (TenantRef::Id(a.id), TenantRef::Id(b.id));
    block_on(svc.add_domain(&ra, host("shop.acme.org"))).unwrap();
    assert!(matches!(
        block_on(svc.add_domain(&rb, host("SHOP.acme.org"))),
        Err(AddDomainError::HostnameTaken { .. })
    ));
    assert!(matches!(
        block_on(svc.add_domain(&rb, host("evil.example.com"))),
        Err(AddDomainError::HostnameReserved { .. })
    ));
    // Another tenant's domain is not yours to verify or promote.
    assert!(matches!(
        block_on(svc.verify_domain(&rb, &host("shop.acme.org"))),
        Err(ChangeDomainError::DomainNotFound { .. })
    ));
    assert!(matches!(
        block_on(svc.set_primary(&rb, &host("shop.acme.org"))),
        Err(ChangeDomainError::DomainNotFound { .. })
    ));
}

#[test]
fn pending_domains_do_not_resolve() {
    let (svc, repo, _) = service();
    let t = create(&svc, "acme");
    let r = TenantRef::Id(t.id);
    block_on(svc.add_domain(&r, host("shop.acme.org"))).unwrap();
    assert_eq!(
        block_on(repo.tenant_by_verified_hostname(&host("shop.acme.org"))).unwrap(),
        None
    );
    block_on(svc.verify_domain(&r, &host("shop.acme.org"))).unwrap();
    assert_eq!(
        block_on(repo.tenant_by_verified_hostname(&host("shop.acme.org")))
            .unwrap()
            .map(|t| t.id),
        Some(t.id)
    );
}

#[test]
fn list_pages_in_creation_order() {
    let (svc, _, _) = service();
    for s in ["aaa", "bbb", "ccc"] {
        create(&svc, s);
    }
    let mut req = PageRequest {
        limit: tenantry_kernel::Limit::parse(2).unwrap(),
        after: None,
    };
    let p1 = block_on(svc.list(&TenantFilter::default(), &req)).unwrap();
    assert_eq!(
        p1.items.iter().map(|t| t.slug.as_str()).collect::<Vec<_>>(),
        ["aaa", "bbb"]
    );
    req.after = Some(tenantry_kernel::Cursor::parse(p1.next_cursor.as_deref().unwrap()).unwrap());
    let p2 = block_on(svc.list(&TenantFilter::default(), &req)).unwrap();
    assert_eq!(
        p2.items.iter().map(|t| t.slug.as_str()).collect::<Vec<_>>(),
        ["ccc"]
    );
    assert_eq!(p2.next_cursor, None);
}

#[test]
fn settings_are_per_tenant() {
    let (svc, repo, _) = service();
    let a = create(&svc, "acme");
    let b = create(&svc, "beta");
    let settings = SettingsService::new(repo, Arc::new(SystemClock));
    let patch = BrandingPatch {
        primary_color: Some(Some(Color::parse("#112233").unwrap())),
        ..BrandingPatch::default()
    };
    block_on(settings.update_branding(&TenantCtx::for_tests(a.id), patch)).unwrap();
    let sa = block_on(settings.get(&TenantCtx::for_tests(a.id))).unwrap();
    let sb = block_on(settings.get(&TenantCtx::for_tests(b.id))).unwrap();
    assert_eq!(
        sa.branding.primary_color.map(|c| c.as_str().to_owned()),
        Some("#112233".into())
    );
    assert_eq!(sb.branding, Branding::default());
}
