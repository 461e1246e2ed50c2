//! Onboarding, roles and memberships against real databases (crypto faked). Every test runs
//! on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use tenantry_identity::testing::FakeCrypto;
use tenantry_identity::{AuthPolicy, AuthService, DisplayName, UserRepository};
use tenantry_kernel::{Email, SystemClock, TenantCtx};
use tenantry_onboarding::{Onboard, OnboardError, Onboarded, OnboardingService};
use tenantry_rbac::*;
use tenantry_store::Db;
use tenantry_store::backend_tests;
use tenantry_tenancy::{
    BaseDomain, DomainRepository, NoListener, Slug, TenantName, TenantRepository, TenantService,
};

const PASSWORD: &str = "correct horse battery";

fn onboarding(db: &Db) -> OnboardingService<Db, FakeCrypto> {
    let clock = Arc::new(SystemClock);
    let tenants = TenantService::new(
        db.clone(),
        clock.clone(),
        BaseDomain::parse("example.com").unwrap(),
        Arc::new(NoListener),
        tenantry_kernel::Edges::for_tests(),
    );
    let auth = AuthService::new(
        db.clone(),
        FakeCrypto::default(),
        clock,
        AuthPolicy::default(),
    );
    OnboardingService::new(
        db.clone(),
        tenants,
        auth,
        tenantry_kernel::Edges::for_tests(),
    )
}

fn request(slug: &str, email: &str, password: &str) -> Onboard {
    Onboard {
        organisation: TenantName::parse("Acme Inc").unwrap(),
        slug: Slug::parse(slug).unwrap(),
        owner_email: Email::parse(email).unwrap(),
        owner_name: DisplayName::parse("Ann Lee").unwrap(),
        password: password.to_owned(),
        second_factor: None,
        origin: tenantry_kernel::Origin::default(),
    }
}

async fn onboard(db: &Db, slug: &str, email: &str) -> Onboarded {
    onboarding(db)
        .onboard(request(slug, email, PASSWORD))
        .await
        .unwrap()
}

fn rbac(db: &Db) -> RbacService<Db> {
    RbacService::new(db.clone(), Arc::new(SystemClock))
}

async fn tenant_count(db: &Db) -> usize {
    db.list_tenants(&Default::default(), &Default::default())
        .await
        .unwrap()
        .items
        .len()
}

backend_tests! {
    async fn the_switcher_lists_a_users_own_tenants(t: &TestDb) {
        t.seal_personal_data();
        let db = t.db();
        let ann = onboard(db, "acme", "ann@example.com").await.session.user.id;
        onboarding(db).onboard(request("beta", "ann@example.com", PASSWORD)).await.unwrap();
        onboard(db, "gamma", "gus@example.com").await;
        let mine = rbac(db).tenants_of(ann, &Default::default()).await.unwrap().items;
        let slugs: Vec<&str> = mine.iter().map(|t| t.slug.as_str()).collect();
        assert_eq!(slugs, ["acme", "beta"]);
        assert_eq!(mine[0].primary_domain.as_deref(), Some("acme.example.com"));
        assert_eq!(mine[0].role_name, "owner");
        assert!(rbac(db).tenants_of(tenantry_kernel::UserId::new(), &Default::default()).await.unwrap().items.is_empty());
    }

    async fn onboarding_creates_everything(t: &TestDb) {
        t.seal_personal_data();
        let db = t.db();
        let done = onboard(db, "acme", "ann@example.com").await;
        assert!(done.owner_created);
        let ctx = TenantCtx::for_tests(done.tenant.id);
        let domains = db.domains_of(done.tenant.id).await.unwrap();
        assert_eq!(domains[0].hostname.as_str(), "acme.example.com");
        let roles = rbac(db).roles(&ctx, &Default::default()).await.unwrap().items;
        assert_eq!(roles.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["owner", "admin", "member", "viewer"]);
        let (m, role) = rbac(db).permissions_of(&ctx, done.session.user.id).await.unwrap().unwrap();
        assert!(role.is_owner());
        assert_eq!(m.status, MembershipStatus::Active);
        let members = rbac(db).members(&ctx, &Default::default()).await.unwrap().items;
        assert_eq!(members.len(), 1);
        assert_eq!(members[0].email, "ann@example.com");
        assert_eq!(members[0].role_name.as_str(), "owner");
    }

    async fn a_failed_onboarding_writes_nothing(t: &TestDb) {
        t.seal_personal_data();
        let db = t.db();
        onboard(db, "acme", "ann@example.com").await;
        // Slug taken: the new owner must not be created either.
        let err = onboarding(db).onboard(request("acme", "bob@example.com", PASSWORD)).await.unwrap_err();
        assert!(matches!(err, OnboardError::SlugTaken { .. }), "{err:?}");
        assert!(db.credentials(&Email::parse("bob@example.com").unwrap()).await.unwrap().is_none(), "no user left behind");
        let err = onboarding(db).onboard(request("beta", "bob@example.com", "password123")).await.unwrap_err();
        assert!(matches!(err, OnboardError::WeakPassword(_)), "{err:?}");
        assert_eq!(tenant_count(db).await, 1);
        assert!(db.credentials(&Email::parse("bob@example.com").unwrap()).await.unwrap().is_none());
    }

    async fn an_existing_user_is_attached_after_proving_their_password(t: &TestDb) {
        t.seal_personal_data();
        let db = t.db();
        let first = onboard(db, "acme", "ann@example.com").await;
        let err = onboarding(db).onboard(request("beta", "ANN@example.com", "not the password")).await.unwrap_err();
        assert!(matches!(err, OnboardError::InvalidCredentials), "{err:?}");
        assert_eq!(tenant_count(db).await, 1);
        let second = onboarding(db).onboard(request("beta", "ann@example.com", PASSWORD)).await.unwrap();
        assert!(!second.owner_created);
        assert_eq!(second.session.user.id, first.session.user.id);
        let ctx = TenantCtx::for_tests(second.tenant.id);
        assert!(rbac(db).permissions_of(&ctx, first.session.user.id).await.unwrap().unwrap().1.is_owner());
    }

    async fn roles_are_tenant_scoped(t: &TestDb) {
        t.seal_personal_data();
        let db = t.db();
        let a = TenantCtx::for_tests(onboard(db, "acme", "ann@example.com").await.tenant.id);
        let b = TenantCtx::for_tests(onboard(db, "beta", "bob@example.com").await.tenant.id);
        let svc = rbac(db);
        let perms = |names: &[&str]| -> PermissionSet { names.iter().map(|n| Permission::parse(n).unwrap()).collect() };
        let ra = svc.create_role(&a, &Permission::all(), RoleName::parse("editor").unwrap(), perms(&["products:write"])).await.unwrap();
        svc.create_role(&b, &Permission::all(), RoleName::parse("editor").unwrap(), perms(&["projects:write"])).await.unwrap();
        assert!(matches!(
            svc.create_role(&a, &Permission::all(), RoleName::parse("editor").unwrap(), perms(&[])).await,
            Err(RoleError::NameTaken { .. })
        ));
        assert_eq!(svc.roles(&a, &Default::default()).await.unwrap().items.len(), 5);
        assert!(svc.roles(&a, &Default::default()).await.unwrap().items.iter().any(|r| r.id == ra.id && r.permissions == perms(&["products:write"])));
        // Tenant A's role id does not exist in tenant B.
        assert!(matches!(svc.delete_role(&b, ra.id).await, Err(RoleError::NotFound)));
        assert!(matches!(svc.update_role(&b, &Permission::all(), ra.id, None, Some(perms(&[]))).await, Err(RoleError::NotFound)));
        let renamed = svc.update_role(&a, &Permission::all(), ra.id, Some(RoleName::parse("writer").unwrap()), None).await.unwrap();
        assert_eq!(svc.roles(&a, &Default::default()).await.unwrap().items.iter().find(|r| r.id == ra.id).unwrap().name, renamed.name);
        svc.delete_role(&a, ra.id).await.unwrap();
    }

    async fn members_keep_an_owner_and_roles_in_use_stay(t: &TestDb) {
        t.seal_personal_data();
        let db = t.db();
        let first = onboard(db, "acme", "ann@example.com").await;
        let ctx = TenantCtx::for_tests(first.tenant.id);
        let ann = first.session.user.id;
        let svc = rbac(db);
        let roles = svc.roles(&ctx, &Default::default()).await.unwrap().items;
        let role = |name: &str| roles.iter().find(|r| r.name.as_str() == name).unwrap().id;
        assert!(matches!(svc.change_member_role(&ctx, &Permission::all(), ann, role("admin")).await, Err(MemberError::LastOwner)));
        assert!(matches!(svc.remove_member(&ctx, &Permission::all(), ann).await, Err(MemberError::LastOwner)));
        assert!(matches!(svc.delete_role(&ctx, role("owner")).await, Err(RoleError::OwnerRoleLocked)));

        // A second owner (an existing user onboarding elsewhere is another way in; here the
        // same user's second tenant shows memberships are per tenant).
        let bob = onboard(db, "beta", "bob@example.com").await.session.user.id;
        assert!(matches!(svc.change_member_role(&ctx, &Permission::all(), bob, role("admin")).await, Err(MemberError::NotFound)));
        let custom = svc.create_role(&ctx, &Permission::all(), RoleName::parse("support").unwrap(), PermissionSet::new()).await.unwrap();
        assert!(matches!(svc.change_member_role(&ctx, &Permission::all(), ann, custom.id).await, Err(MemberError::LastOwner)));
        assert!(matches!(svc.delete_role(&ctx, role("viewer")).await, Err(RoleError::SystemRole)));
        svc.delete_role(&ctx, custom.id).await.unwrap();
    }

    async fn member_role_and_tenant_lists_page_by_cursor(t: &TestDb) {
        t.seal_personal_data();
        let db = t.db();
        let first = onboard(db, "acme", "ann@example.com").await;
        let ctx = TenantCtx::for_tests(first.tenant.id);
        let ann = first.session.user.id;
        let svc = rbac(db);
        let member = svc.role_named(&ctx, "member").await.unwrap().unwrap();
        // Five members who joined at the same instant: the key's id breaks the tie.
        let at = chrono::Utc::now();
        let mut expected = vec![ann];
        let mut joined = vec![];
        for n in 0..5 {
            let email = format!("m{n}@example.com");
            let user = onboard(db, &format!("own{n}"), &email).await.session.user.id;
            joined.push(user);
            db.add_member(&ctx, &tenantry_rbac::Membership {
                tenant_id: ctx.tenant_id(), user_id: user, role_id: member.id,
                status: MembershipStatus::Active, created_at: at,
            }).await.unwrap();
        }
        joined.sort_by_key(|u| u.to_string());
        expected.extend(joined);
        let limit = tenantry_kernel::Limit::parse(2).unwrap();
        let (mut seen, mut after, mut pages) = (vec![], None, 0);
        while pages < 10 {
            let page = svc.members(&ctx, &tenantry_kernel::PageRequest { limit, after }).await.unwrap();
            pages += 1;
            assert!(page.items.len() <= 2);
            seen.extend(page.items.iter().map(|m| m.membership.user_id));
            match page.next_cursor {
                Some(c) => after = Some(tenantry_kernel::Cursor::parse(&c).unwrap()),
                None => break,
            }
        }
        assert_eq!((seen, pages), (expected, 3), "every member once, in the order they joined");
        assert_eq!(svc.member(&ctx, ann).await.unwrap().unwrap().email, "ann@example.com");

        let roles = svc.roles(&ctx, &tenantry_kernel::PageRequest { limit, after: None }).await.unwrap();
        assert_eq!(roles.items.len(), 2);
        let rest = tenantry_kernel::Cursor::parse(&roles.next_cursor.unwrap()).unwrap();
        let rest = svc.roles(&ctx, &tenantry_kernel::PageRequest { limit: tenantry_kernel::Limit::MAX, after: Some(rest) }).await.unwrap();
        assert_eq!((rest.items.len(), rest.next_cursor), (2, None));

        onboarding(db).onboard(request("zeta", "ann@example.com", PASSWORD)).await.unwrap();
        let one = tenantry_kernel::Limit::parse(1).unwrap();
        let mine = svc.tenants_of(ann, &tenantry_kernel::PageRequest { limit: one, after: None }).await.unwrap();
        assert_eq!(mine.items[0].slug, "acme");
        let after = Some(tenantry_kernel::Cursor::parse(&mine.next_cursor.unwrap()).unwrap());
        let next = svc.tenants_of(ann, &tenantry_kernel::PageRequest { limit: one, after }).await.unwrap();
        assert_eq!((next.items[0].slug.as_str(), next.next_cursor), ("zeta", None));
    }
}

/// PostgreSQL only: roles and memberships are behind row-level security too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rbac_tables_are_isolated_by_rls() {
    let Some(t) = tenantry_store::testing::TestDb::postgres().await else {
        return;
    };
    let db = t.db();
    let a = onboard(db, "acme", "ann@example.com").await.tenant.id;
    onboard(db, "beta", "bob@example.com").await;
    assert_eq!(db.unfiltered_count(Some(a), "roles").await.unwrap(), 4);
    assert_eq!(
        db.unfiltered_count(Some(a), "memberships").await.unwrap(),
        1
    );
    assert_eq!(db.unfiltered_count(None, "roles").await.unwrap(), 0);
    assert_eq!(db.unfiltered_count(None, "memberships").await.unwrap(), 0);
}

/// PostgreSQL only: inside a user-scoped transaction, exactly that person's memberships and
/// roles are visible.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_scope_sees_only_the_users_rows() {
    let Some(t) = tenantry_store::testing::TestDb::postgres().await else {
        return;
    };
    let db = t.db();
    let ann = onboard(db, "acme", "ann@example.com").await.session.user.id;
    onboard(db, "beta", "bob@example.com").await;
    assert_eq!(
        db.unfiltered_count_as_user(ann, "memberships")
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        db.unfiltered_count_as_user(ann, "roles").await.unwrap(),
        1,
        "only the role Ann holds"
    );
    assert_eq!(
        db.unfiltered_count_as_user(ann, "tenant_settings")
            .await
            .unwrap(),
        0
    );
}
