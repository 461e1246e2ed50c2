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

/// A probe that finds the challenge of the hostnames in its list, and nothing elsewhere.
#[derive(Clone, Default)]
struct ScriptedProbe(Arc<std::sync::Mutex<Vec<String>>>);

impl ScriptedProbe {
    fn publish(&self, hostname: &str) {
        self.0.lock().unwrap().push(hostname.to_owned());
    }

    fn withdraw(&self, hostname: &str) {
        self.0.lock().unwrap().retain(|h| h != hostname);
    }
}

impl DomainProbe for ScriptedProbe {
    fn probe<'a>(
        &'a self,
        hostname: &'a Hostname,
        _token: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Probe> + Send + 'a>> {
        let found = self
            .0
            .lock()
            .unwrap()
            .iter()
            .any(|h| h == hostname.as_str());
        Box::pin(async move {
            Probe {
                evidence: if found {
                    Evidence::Found(ProofMethod::DnsTxt)
                } else {
                    Evidence::Missing("no TXT record".into())
                },
                cname: None,
            }
        })
    }
}

fn domains(repo: &InMemoryTenancy) -> (DomainService<InMemoryTenancy>, ScriptedProbe) {
    let probe = ScriptedProbe::default();
    let svc = DomainService::new(
        repo.clone(),
        Arc::new(probe.clone()),
        Arc::new(SystemClock),
        Arc::new(RecordingListener::default()),
        || "token".to_owned(),
        DomainConfig {
            base_domain: BaseDomain::parse("example.com").unwrap(),
            cname_target: "edge.example.com".into(),
            policy: CheckPolicy::default(),
            max_custom: 2,
        },
    );
    (svc, probe)
}

#[test]
fn exactly_one_primary_domain() {
    let (svc, repo, _) = service();
    let (doms, probe) = domains(&repo);
    let t = create(&svc, "acme");
    let ctx = TenantCtx::for_tests(t.id);
    let d = block_on(doms.add(&ctx, host("shop.acme.org"))).unwrap();
    assert_eq!(d.status, DomainStatus::Pending);
    assert!(!d.is_primary);

    // A pending domain cannot become primary.
    assert!(matches!(
        block_on(doms.set_primary(&ctx, &host("shop.acme.org"))),
        Err(ChangeDomainError::NotVerified { .. })
    ));
    let d = block_on(doms.verify_now(&ctx, &host("shop.acme.org"))).unwrap();
    assert_eq!(d.status, DomainStatus::Pending, "nothing published yet");
    probe.publish("shop.acme.org");
    let d = block_on(doms.verify_now(&ctx, &host("shop.acme.org"))).unwrap();
    assert_eq!(d.status, DomainStatus::Verified);
    block_on(doms.set_primary(&ctx, &host("shop.acme.org"))).unwrap();

    let primaries: Vec<_> = repo
        .domains_snapshot()
        .into_iter()
        .filter(|d| d.tenant_id == t.id && d.is_primary)
        .collect();
    assert_eq!(primaries.len(), 1);
    assert_eq!(primaries[0].hostname.as_str(), "shop.acme.org");
    let listed = block_on(doms.list(&ctx)).unwrap();
    assert_eq!(
        listed[0].hostname.as_str(),
        "shop.acme.org",
        "primary listed first"
    );

    // Removing the primary custom domain makes the subdomain primary again.
    block_on(doms.remove(&ctx, &host("shop.acme.org"))).unwrap();
    let listed = block_on(doms.list(&ctx)).unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].is_primary && listed[0].kind == DomainKind::Subdomain);
    assert!(matches!(
        block_on(doms.remove(&ctx, &host("acme.example.com"))),
        Err(ChangeDomainError::SubdomainKept { .. })
    ));
}

#[test]
fn domain_rules() {
    let (svc, repo, _) = service();
    let (doms, probe) = domains(&repo);
    let a = TenantCtx::for_tests(create(&svc, "acme").id);
    let b = TenantCtx::for_tests(create(&svc, "beta").id);
    block_on(doms.add(&a, host("shop.acme.org"))).unwrap();
    // A pending claim does not block another tenant's; the first verified wins.
    block_on(doms.add(&b, host("SHOP.acme.org"))).unwrap();
    assert!(matches!(
        block_on(doms.add(&a, host("shop.acme.org"))),
        Err(AddDomainError::AlreadyAdded { .. })
    ));
    probe.publish("shop.acme.org");
    let won = block_on(doms.verify_now(&b, &host("shop.acme.org"))).unwrap();
    assert_eq!(won.status, DomainStatus::Verified);
    let lost = block_on(doms.verify_now(&a, &host("shop.acme.org"))).unwrap();
    assert_eq!(lost.status, DomainStatus::Pending);
    assert!(lost.check_error.unwrap().contains("another tenant"));
    block_on(doms.add(&a, host("other.acme.org"))).unwrap();
    assert!(matches!(
        block_on(doms.add(&a, host("third.acme.org"))),
        Err(AddDomainError::TooMany { limit: 2 })
    ));
    let c = TenantCtx::for_tests(create(&svc, "gamma").id);
    assert!(matches!(
        block_on(doms.add(&c, host("shop.acme.org"))),
        Err(AddDomainError::HostnameTaken { .. })
    ));
    for reserved in ["evil.example.com", "example.com", "co.uk"] {
        assert!(
            matches!(
                block_on(doms.add(&c, host(reserved))),
                Err(AddDomainError::HostnameReserved { .. })
            ),
            "{reserved}"
        );
    }
    // Another tenant's domain is not yours to check or promote.
    assert!(matches!(
        block_on(doms.verify_now(&c, &host("shop.acme.org"))),
        Err(ChangeDomainError::DomainNotFound { .. })
    ));
    assert!(matches!(
        block_on(doms.set_primary(&c, &host("shop.acme.org"))),
        Err(ChangeDomainError::DomainNotFound { .. })
    ));
    probe.withdraw("shop.acme.org");
}

#[test]
fn pending_domains_do_not_resolve() {
    let (svc, repo, _) = service();
    let (doms, probe) = domains(&repo);
    let t = create(&svc, "acme");
    let ctx = TenantCtx::for_tests(t.id);
    block_on(doms.add(&ctx, host("shop.acme.org"))).unwrap();
    assert_eq!(
        block_on(repo.tenant_by_verified_hostname(&host("shop.acme.org"))).unwrap(),
        None
    );
    assert_eq!(block_on(doms.due(10)).unwrap().len(), 1, "checked at once");
    probe.publish("shop.acme.org");
    for d in block_on(doms.due(10)).unwrap() {
        block_on(doms.check(&ctx, d)).unwrap();
    }
    assert_eq!(
        block_on(repo.tenant_by_verified_hostname(&host("shop.acme.org")))
            .unwrap()
            .map(|t| t.id),
        Some(t.id)
    );
    assert!(
        block_on(doms.due(10)).unwrap().is_empty(),
        "next check in hours"
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
    let settings = SettingsService::new(
        repo,
        Arc::new(SystemClock),
        Arc::new(RecordingListener::default()),
    );
    let patch = SettingsPatch {
        branding: BrandingPatch {
            primary_color: Some(Some(Color::parse("#112233").unwrap())),
            ..BrandingPatch::default()
        },
        maintenance: Some(Maintenance {
            enabled: true,
            message: None,
        }),
        ..SettingsPatch::default()
    };
    block_on(settings.update(&TenantCtx::for_tests(a.id), patch)).unwrap();
    let sa = block_on(settings.get(&TenantCtx::for_tests(a.id))).unwrap();
    let sb = block_on(settings.get(&TenantCtx::for_tests(b.id))).unwrap();
    assert_eq!(
        sa.branding.primary_color.map(|c| c.as_str().to_owned()),
        Some("#112233".into())
    );
    assert!(sa.maintenance.enabled);
    assert_eq!(sb.branding, Branding::default());
    assert!(!sb.maintenance.enabled);
}
