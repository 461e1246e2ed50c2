//! The tenancy ports against real databases: every test runs on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use tenantry_kernel::ChangeCounters;

use tenantry_kernel::{Limit, PageRequest, SystemClock, TenantCtx};
use tenantry_store::Db;
use tenantry_store::backend_tests;
use tenantry_store::testing::{TestDb, report_postgres_suite};
use tenantry_tenancy::*;

#[test]
fn postgres_suite() {
    report_postgres_suite();
}

fn service(db: &Db) -> TenantService<Db> {
    TenantService::new(
        db.clone(),
        Arc::new(SystemClock),
        BaseDomain::parse("example.com").unwrap(),
        Arc::new(NoListener),
        tenantry_kernel::Edges::for_tests(),
    )
}

async fn create(db: &Db, slug: &str) -> Tenant {
    service(db)
        .create(
            Slug::parse(slug).unwrap(),
            TenantName::parse(&format!("{slug} Inc")).unwrap(),
        )
        .await
        .unwrap()
}

/// Domains of the test's tenants: the operator's override stands for a found proof.
fn domains(db: &Db, base: &str) -> DomainService<Db> {
    struct NeverFound;
    impl DomainProbe for NeverFound {
        fn probe<'a>(
            &'a self,
            _: &'a Hostname,
            _: &'a str,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Probe> + Send + 'a>> {
            Box::pin(async {
                Probe {
                    evidence: Evidence::Missing("no record".into()),
                    cname: None,
                }
            })
        }
    }
    DomainService::new(
        db.clone(),
        Arc::new(NeverFound),
        Arc::new(SystemClock),
        Arc::new(NoListener),
        || "token".to_owned(),
        DomainConfig {
            base_domain: BaseDomain::parse(base).unwrap(),
            cname_target: base.to_owned(),
            policy: CheckPolicy::default(),
            max_custom: 20,
        },
    )
}

fn settings_service(db: &Db) -> SettingsService<Db> {
    SettingsService::new(db.clone(), Arc::new(SystemClock), Arc::new(NoListener))
}

fn branding(patch: BrandingPatch) -> SettingsPatch {
    SettingsPatch {
        branding: patch,
        ..Default::default()
    }
}

fn host(s: &str) -> Hostname {
    Hostname::parse(s).unwrap()
}

backend_tests! {
    async fn migrations_are_current(t: &TestDb) {
        let status = t.db().migration_status().await.unwrap();
        assert!(status.is_current(), "pending: {:?}", status.pending);
        t.db().ping().await.unwrap();
    }

    async fn create_and_read_back(t: &TestDb) {
        let db = t.db();
        let created = create(db, "acme").await;
        let by_id = db.tenant_by_id(created.id).await.unwrap().unwrap();
        assert_eq!(by_id, created);
        let by_slug = db.tenant_by_slug(&created.slug).await.unwrap().unwrap();
        assert_eq!(by_slug.id, created.id);
        assert_eq!(db.tenant_by_slug(&Slug::parse("nobody").unwrap()).await.unwrap(), None);

        let domains = db.domains_of(created.id).await.unwrap();
        assert_eq!(domains.len(), 1);
        assert_eq!(domains[0].hostname.as_str(), "acme.example.com");
        assert!(domains[0].is_primary);
        assert_eq!(domains[0].status, DomainStatus::Verified);

        let settings = db.settings(&TenantCtx::for_tests(created.id)).await.unwrap();
        assert_eq!(settings.branding, Branding::default());
    }

    async fn duplicate_slug_writes_nothing(t: &TestDb) {
        let db = t.db();
        let first = create(db, "acme").await;
        let err = service(db)
            .create(Slug::parse("acme").unwrap(), TenantName::parse("Again").unwrap())
            .await
            .unwrap_err();
        assert!(matches!(err, CreateTenantError::SlugTaken { ref slug } if slug == "acme"), "{err:?}");
        let page = db.list_tenants(&TenantFilter::default(), &PageRequest::default()).await.unwrap();
        assert_eq!(page.items.len(), 1);
        assert_eq!(page.items[0].id, first.id);
        assert_eq!(db.domains_of(first.id).await.unwrap().len(), 1);
    }

    async fn subdomain_clash_is_a_taken_slug_and_rolls_back(t: &TestDb) {
        let db = t.db();
        let a = create(db, "acme").await;
        // Another base domain makes `beta.example.com` a custom domain we can take first.
        let other = domains(db, "other.test");
        let ctx = TenantCtx::for_tests(a.id);
        other.add(&ctx, host("beta.example.com")).await.unwrap();
        other.force_verify(&ctx, &host("beta.example.com")).await.unwrap();
        let err = service(db)
            .create(Slug::parse("beta").unwrap(), TenantName::parse("Beta").unwrap())
            .await
            .unwrap_err();
        assert!(matches!(err, CreateTenantError::SlugTaken { .. }), "{err:?}");
        assert_eq!(db.tenant_by_slug(&Slug::parse("beta").unwrap()).await.unwrap(), None, "tenant row rolled back");
    }

    async fn list_pages_and_filters(t: &TestDb) {
        let db = t.db();
        for s in ["aaa", "bbb", "ccc", "ddd"] {
            create(db, s).await;
        }
        service(db).suspend(&TenantRef::Slug(Slug::parse("bbb").unwrap())).await.unwrap();
        let two = PageRequest { limit: Limit::parse(2).unwrap(), after: None };
        let p1 = db.list_tenants(&TenantFilter::default(), &two).await.unwrap();
        let slugs: Vec<_> = p1.items.iter().map(|t| t.slug.to_string()).collect();
        assert_eq!(slugs, ["aaa", "bbb"]);
        let after = tenantry_kernel::Cursor::parse(p1.next_cursor.as_deref().unwrap()).unwrap();
        let p2 = db
            .list_tenants(&TenantFilter::default(), &PageRequest { after: Some(after), ..two.clone() })
            .await
            .unwrap();
        let slugs: Vec<_> = p2.items.iter().map(|t| t.slug.to_string()).collect();
        assert_eq!(slugs, ["ccc", "ddd"]);
        assert_eq!(p2.next_cursor, None);

        let suspended = TenantFilter { status: Some(TenantStatus::Suspended) };
        let p = db.list_tenants(&suspended, &PageRequest::default()).await.unwrap();
        assert_eq!(p.items.iter().map(|t| t.slug.as_str()).collect::<Vec<_>>(), ["bbb"]);
    }

    async fn lifecycle_is_persisted(t: &TestDb) {
        let db = t.db();
        let svc = service(db);
        let a = create(db, "acme").await;
        let r = TenantRef::Id(a.id);
        svc.suspend(&r).await.unwrap();
        assert_eq!(db.tenant_by_id(a.id).await.unwrap().unwrap().status, TenantStatus::Suspended);
        svc.resume(&r).await.unwrap();
        svc.start_maintenance(&r, Some(MaintenanceMessage::parse("Upgrading storage").unwrap())).await.unwrap();
        let stored = db.tenant_by_id(a.id).await.unwrap().unwrap();
        assert_eq!(stored.gate(), Err(Gate::Maintenance { message: Some("Upgrading storage".into()) }));
        svc.rename(&r, TenantName::parse("Acme Renamed").unwrap()).await.unwrap();
        svc.end_maintenance(&r).await.unwrap();
        let stored = db.tenant_by_id(a.id).await.unwrap().unwrap();
        assert_eq!(stored.name.as_str(), "Acme Renamed");
        assert_eq!(stored.gate(), Ok(()));
        assert!(stored.updated_at >= stored.created_at);
    }

    async fn domains_resolve_only_when_verified_and_stay_unique(t: &TestDb) {
        let db = t.db();
        let svc = domains(db, "example.com");
        let a = create(db, "acme").await;
        let b = create(db, "beta").await;
        let (ra, rb) = (TenantCtx::for_tests(a.id), TenantCtx::for_tests(b.id));
        svc.add(&ra, host("shop.acme.org")).await.unwrap();
        // A pending claim does not block another tenant's.
        svc.add(&rb, host("Shop.ACME.org")).await.unwrap();
        let err = svc.add(&ra, host("shop.acme.org")).await.unwrap_err();
        assert!(matches!(err, AddDomainError::AlreadyAdded { .. }), "{err:?}");

        assert_eq!(db.tenant_by_verified_hostname(&host("shop.acme.org")).await.unwrap(), None);
        svc.force_verify(&ra, &host("shop.acme.org")).await.unwrap();
        // The database keeps one verified claim per hostname: the first wins.
        let lost = svc.force_verify(&rb, &host("shop.acme.org")).await.unwrap();
        assert_eq!(lost.status, DomainStatus::Pending);
        assert!(lost.check_error.unwrap().contains("another tenant"));
        let err = svc.add(&TenantCtx::for_tests(create(db, "gamma").await.id), host("shop.acme.org")).await.unwrap_err();
        assert!(matches!(err, AddDomainError::HostnameTaken { .. }), "{err:?}");
        let found = db.tenant_by_verified_hostname(&host("shop.acme.org")).await.unwrap().unwrap();
        assert_eq!(found.id, a.id);
        let sub = db.tenant_by_verified_hostname(&host("beta.example.com")).await.unwrap().unwrap();
        assert_eq!(sub.id, b.id);
    }

    async fn one_primary_domain_per_tenant(t: &TestDb) {
        let db = t.db();
        let svc = domains(db, "example.com");
        let a = create(db, "acme").await;
        let r = TenantCtx::for_tests(a.id);
        svc.add(&r, host("shop.acme.org")).await.unwrap();
        svc.force_verify(&r, &host("shop.acme.org")).await.unwrap();
        svc.set_primary(&r, &host("shop.acme.org")).await.unwrap();
        let domains = db.domains_of(a.id).await.unwrap();
        let primaries: Vec<_> = domains.iter().filter(|d| d.is_primary).map(|d| d.hostname.as_str()).collect();
        assert_eq!(primaries, ["shop.acme.org"]);
        assert_eq!(domains[0].hostname.as_str(), "shop.acme.org", "primary first");
        assert!(domains[0].verified_at.is_some());
        // The database itself refuses a second primary.
        let mut second = Domain::custom(a.id, host("www.acme.org"), "t".into(), chrono::Utc::now());
        second.is_primary = true;
        second.status = DomainStatus::Verified;
        assert!(db.add_domain(&r, &second).await.is_err());
        svc.set_primary(&r, &host("acme.example.com")).await.unwrap();
        let primaries: Vec<_> = db.domains_of(a.id).await.unwrap().into_iter().filter(|d| d.is_primary).collect();
        assert_eq!(primaries.len(), 1);
        assert_eq!(primaries[0].hostname.as_str(), "acme.example.com");
    }

    async fn a_stale_save_is_refused(t: &TestDb) {
        let db = t.db();
        let a = create(db, "acme").await;
        let stale = db.tenant_by_id(a.id).await.unwrap().unwrap();
        service(db).suspend(&TenantRef::Id(a.id)).await.unwrap();
        let mut renamed = stale.clone();
        renamed.rename(TenantName::parse("Old view").unwrap(), chrono::Utc::now());
        assert!(!db.save_tenant(&renamed).await.unwrap(), "save based on a stale read");
        let stored = db.tenant_by_id(a.id).await.unwrap().unwrap();
        assert_eq!(stored.status, TenantStatus::Suspended, "the suspension survives");
        assert_eq!(stored.name.as_str(), "acme Inc");
        assert_eq!(stored.revision, stale.revision + 1);
    }

    async fn concurrent_changes_all_apply(t: &TestDb) {
        let db = t.db();
        let a = create(db, "acme").await;
        let r = TenantRef::Id(a.id);
        let svc = service(db);
        let renames = (0..6).map(|i| {
            let (svc, r) = (svc.clone(), r.clone());
            tokio::spawn(async move { svc.rename(&r, TenantName::parse(&format!("Name {i}")).unwrap()).await.map(|_| ()) })
        });
        let suspend = {
            let (svc, r) = (svc.clone(), r.clone());
            tokio::spawn(async move { svc.suspend(&r).await.map(|_| ()) })
        };
        for h in renames.chain([suspend]) {
            h.await.unwrap().unwrap();
        }
        let stored = db.tenant_by_id(a.id).await.unwrap().unwrap();
        assert_eq!(stored.status, TenantStatus::Suspended, "no rename undid the suspension");
        assert!(stored.name.as_str().starts_with("Name "));
        assert_eq!(stored.revision, 7, "seven saves, none lost");
    }

    async fn concurrent_branding_patches_keep_each_others_fields(t: &TestDb) {
        let db = t.db();
        let a = create(db, "acme").await;
        let ctx = TenantCtx::for_tests(a.id);
        let settings = settings_service(db);
        let colour = {
            let s = settings.clone();
            let ctx = ctx.clone();
            tokio::spawn(async move {
                let patch = BrandingPatch { primary_color: Some(Some(Color::parse("#123456").unwrap())), ..Default::default() };
                s.update(&ctx, branding(patch)).await
            })
        };
        let name = {
            let s = settings.clone();
            let ctx = ctx.clone();
            tokio::spawn(async move {
                let patch = BrandingPatch { display_name: Some(Some(TenantName::parse("ACME").unwrap())), ..Default::default() };
                s.update(&ctx, branding(patch)).await
            })
        };
        colour.await.unwrap().unwrap();
        name.await.unwrap().unwrap();
        let b = settings.get(&ctx).await.unwrap().branding;
        assert_eq!(b.primary_color.map(|c| c.as_str().to_owned()).as_deref(), Some("#123456"));
        assert_eq!(b.display_name.map(|n| n.as_str().to_owned()).as_deref(), Some("ACME"));
    }

    async fn every_tenancy_change_moves_the_change_counter(t: &TestDb) {
        let db = t.db();
        let svc = service(db);
        let mut last = db.change_versions().await.unwrap().tenancy;
        let mut moved = |label: &str, now: i64| {
            assert!(now > last, "{label} did not move the counter");
            last = now;
        };
        let a = create(db, "acme").await;
        moved("create", db.change_versions().await.unwrap().tenancy);
        let r = TenantRef::Id(a.id);
        svc.suspend(&r).await.unwrap();
        moved("suspend", db.change_versions().await.unwrap().tenancy);
        let doms = domains(db, "example.com");
        let ctx = TenantCtx::for_tests(a.id);
        doms.add(&ctx, host("shop.acme.org")).await.unwrap();
        moved("add domain", db.change_versions().await.unwrap().tenancy);
        doms.force_verify(&ctx, &host("shop.acme.org")).await.unwrap();
        moved("verify", db.change_versions().await.unwrap().tenancy);
        doms.set_primary(&ctx, &host("shop.acme.org")).await.unwrap();
        moved("primary", db.change_versions().await.unwrap().tenancy);
        // A failed change moves nothing.
        let before = db.change_versions().await.unwrap().tenancy;
        assert!(svc.create(Slug::parse("acme").unwrap(), TenantName::parse("x").unwrap()).await.is_err());
        assert_eq!(db.change_versions().await.unwrap().tenancy, before);
    }

    async fn settings_are_reached_only_through_their_tenant(t: &TestDb) {
        let db = t.db();
        let a = create(db, "acme").await;
        let b = create(db, "beta").await;
        let settings = settings_service(db);
        let patch = BrandingPatch {
            display_name: Some(Some(TenantName::parse("ACME Corp").unwrap())),
            logo_url: Some(Some(WebUrl::parse("https://cdn.acme.org/logo.png").unwrap())),
            primary_color: Some(Some(Color::parse("#FF0066").unwrap())),
            support_email: Some(Some(tenantry_kernel::Email::parse("help@acme.org").unwrap())),
            support_url: Some(Some(WebUrl::parse("https://help.acme.org").unwrap())),
        };
        let mut patch = branding(patch);
        patch.security.ip_allowlist = Some(IpAllowlist::parse(&["10.0.0.0/8"]).unwrap());
        patch.locale = Some(Some(Locale::parse("de-DE").unwrap()));
        let saved = settings.update(&TenantCtx::for_tests(a.id), patch).await.unwrap();
        assert!(!saved.security.ip_allowlist.is_empty());
        assert_eq!(saved.branding.primary_color.as_ref().map(Color::as_str), Some("#ff0066"));
        let again = settings.get(&TenantCtx::for_tests(a.id)).await.unwrap();
        assert_eq!(again, saved);
        assert_eq!(settings.get(&TenantCtx::for_tests(b.id)).await.unwrap().branding, Branding::default());
        let cleared = settings
            .update(&TenantCtx::for_tests(a.id), branding(BrandingPatch { logo_url: Some(None), ..Default::default() }))
            .await
            .unwrap();
        assert_eq!(cleared.branding.logo_url, None);
        assert!(cleared.branding.display_name.is_some());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_database_reports_pending_migrations_until_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/fresh/t.db", dir.path().display());
    let db = Db::connect(&tenantry_store::DbConfig::new(url.clone())).unwrap();
    let before = db.migration_status().await.unwrap();
    assert!(!before.is_current());
    let on_disk = std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../migrations/sqlite"
    ))
    .unwrap()
    .count();
    assert_eq!(before.pending.len(), on_disk, "every migration is pending");
    assert_eq!(before.pending[0], "20261123000001");
    let applied = tenantry_store::run_migrations(&url).await.unwrap();
    assert_eq!(applied, before.pending);
    assert!(db.migration_status().await.unwrap().is_current());
    assert!(
        tenantry_store::run_migrations(&url)
            .await
            .unwrap()
            .is_empty(),
        "idempotent"
    );
}

/// PostgreSQL only: row-level security is the second wall.
mod row_level_security {
    use super::*;

    async fn pg() -> Option<TestDb> {
        TestDb::postgres().await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unfiltered_query_sees_only_the_current_tenant() {
        let Some(t) = pg().await else { return };
        let db = t.db();
        let a = create(db, "acme").await;
        create(db, "beta").await;
        create(db, "gamma").await;
        assert_eq!(
            db.unfiltered_count(Some(a.id), "tenant_settings")
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            db.unfiltered_count(None, "tenant_settings").await.unwrap(),
            0,
            "no tenant set: no rows"
        );
        // Platform tables are not tenant-owned: resolution reads them before any tenant.
        assert_eq!(db.unfiltered_count(None, "tenants").await.unwrap(), 3);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_service_role_cannot_switch_it_off() {
        let Some(t) = pg().await else { return };
        let db = t.db();
        create(db, "acme").await;
        for (sql, refusal) in [
            (
                "ALTER TABLE tenant_settings DISABLE ROW LEVEL SECURITY",
                "must be owner",
            ),
            (
                "ALTER TABLE tenant_settings NO FORCE ROW LEVEL SECURITY",
                "must be owner",
            ),
            (
                "DROP POLICY tenant_isolation ON tenant_settings",
                "must be owner",
            ),
            (
                "CREATE POLICY open_all ON tenant_settings USING (true)",
                "must be owner",
            ),
            (
                "SET row_security = off; SELECT * FROM tenant_settings",
                "row-level security",
            ),
            ("SET ROLE tenantry_owner", "permission denied to set role"),
            (
                "GRANT tenantry_owner TO tenantry_service",
                "must have admin option|permission denied",
            ),
        ] {
            let err = db.execute_raw(sql).await.expect_err(sql).to_string();
            assert!(
                refusal.split('|').any(|r| err.contains(r)),
                "{sql}: expected {refusal:?}, got {err:?}"
            );
        }
        assert_eq!(
            db.unfiltered_count(None, "tenant_settings").await.unwrap(),
            0
        );
    }
}
