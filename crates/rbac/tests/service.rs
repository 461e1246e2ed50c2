//! Roles and members against the in-memory fakes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use chrono::Utc;
use futures_executor::block_on;
use tenantry_kernel::{SystemClock, TenantCtx, TenantId, UserId};
use tenantry_rbac::testing::InMemoryRbac;
use tenantry_rbac::*;

struct Tenant {
    ctx: TenantCtx,
    roles: Vec<Role>,
    owner: UserId,
}

fn setup() -> (RbacService<InMemoryRbac>, InMemoryRbac, Tenant) {
    let repo = InMemoryRbac::default();
    let tenant = TenantId::new();
    let roles = Role::defaults(tenant, Utc::now());
    let owner = UserId::new();
    let m = Membership {
        tenant_id: tenant,
        user_id: owner,
        role_id: roles[0].id,
        status: MembershipStatus::Active,
        created_at: Utc::now(),
    };
    repo.seed(roles.clone(), vec![m]);
    (
        RbacService::new(repo.clone(), Arc::new(SystemClock)),
        repo,
        Tenant {
            ctx: TenantCtx::for_tests(tenant),
            roles,
            owner,
        },
    )
}

fn perms(names: &[&str]) -> PermissionSet {
    names
        .iter()
        .map(|n| Permission::parse(n).unwrap())
        .collect()
}

#[test]
fn custom_roles() {
    let (svc, _, t) = setup();
    let role = block_on(svc.create_role(
        &t.ctx,
        &Permission::all(),
        RoleName::parse("billing").unwrap(),
        perms(&["tenant:read"]),
    ))
    .unwrap();
    assert!(matches!(
        block_on(svc.create_role(
            &t.ctx,
            &Permission::all(),
            RoleName::parse("billing").unwrap(),
            perms(&[])
        )),
        Err(RoleError::NameTaken { .. })
    ));
    let renamed = block_on(svc.update_role(
        &t.ctx,
        &Permission::all(),
        role.id,
        Some(RoleName::parse("finance").unwrap()),
        Some(perms(&["audit:read"])),
    ))
    .unwrap();
    assert_eq!(renamed.name.as_str(), "finance");
    block_on(svc.delete_role(&t.ctx, role.id)).unwrap();
    assert!(matches!(
        block_on(svc.delete_role(&t.ctx, role.id)),
        Err(RoleError::NotFound)
    ));
}

#[test]
fn the_same_name_means_different_things_in_two_tenants() {
    let (svc, repo, a) = setup();
    let b = TenantCtx::for_tests(TenantId::new());
    repo.seed(Role::defaults(b.tenant_id(), Utc::now()), vec![]);
    let ra = block_on(svc.create_role(
        &a.ctx,
        &Permission::all(),
        RoleName::parse("editor").unwrap(),
        perms(&["products:write"]),
    ))
    .unwrap();
    let rb = block_on(svc.create_role(
        &b,
        &Permission::all(),
        RoleName::parse("editor").unwrap(),
        perms(&["projects:write"]),
    ))
    .unwrap();
    assert_ne!(ra.permissions, rb.permissions);
    // A role id of tenant A means nothing in tenant B.
    assert!(matches!(
        block_on(svc.delete_role(&b, ra.id)),
        Err(RoleError::NotFound)
    ));
}

#[test]
fn system_roles_keep_their_core() {
    let (svc, _, t) = setup();
    let [owner, admin, member, _viewer] = [&t.roles[0], &t.roles[1], &t.roles[2], &t.roles[3]];
    assert!(matches!(
        block_on(svc.update_role(&t.ctx, &Permission::all(), owner.id, None, Some(perms(&[])))),
        Err(RoleError::OwnerRoleLocked)
    ));
    assert!(matches!(
        block_on(svc.delete_role(&t.ctx, owner.id)),
        Err(RoleError::OwnerRoleLocked)
    ));
    assert!(matches!(
        block_on(svc.delete_role(&t.ctx, member.id)),
        Err(RoleError::SystemRole)
    ));
    assert!(matches!(
        block_on(svc.update_role(
            &t.ctx,
            &Permission::all(),
            admin.id,
            None,
            Some(perms(&["tenant:read"]))
        )),
        Err(RoleError::CorePermission { role: "admin", .. })
    ));
    assert!(matches!(
        block_on(svc.update_role(
            &t.ctx,
            &Permission::all(),
            admin.id,
            Some(RoleName::parse("boss").unwrap()),
            None
        )),
        Err(RoleError::SystemRole)
    ));
    // Adding to a system role is fine, and so is removing what is not core.
    let more = block_on(svc.update_role(
        &t.ctx,
        &Permission::all(),
        member.id,
        None,
        Some(perms(&["tenant:read", "audit:read"])),
    ))
    .unwrap();
    assert!(more.allows(Permission::parse("audit:read").unwrap()));
}

#[test]
fn the_last_owner_stays() {
    let (svc, repo, t) = setup();
    let [owner_role, admin_role] = [t.roles[0].id, t.roles[1].id];
    assert!(matches!(
        block_on(svc.change_member_role(&t.ctx, &Permission::all(), t.owner, admin_role)),
        Err(MemberError::LastOwner)
    ));
    assert!(matches!(
        block_on(svc.remove_member(&t.ctx, &Permission::all(), t.owner)),
        Err(MemberError::LastOwner)
    ));
    let second = UserId::new();
    repo.seed(
        vec![],
        vec![Membership {
            tenant_id: t.ctx.tenant_id(),
            user_id: second,
            role_id: owner_role,
            status: MembershipStatus::Active,
            created_at: Utc::now(),
        }],
    );
    block_on(svc.change_member_role(&t.ctx, &Permission::all(), t.owner, admin_role)).unwrap();
    assert!(matches!(
        block_on(svc.remove_member(&t.ctx, &Permission::all(), second)),
        Err(MemberError::LastOwner)
    ));
    assert!(matches!(
        block_on(svc.change_member_role(
            &t.ctx,
            &Permission::all(),
            second,
            tenantry_kernel::RoleId::new()
        )),
        Err(MemberError::RoleNotFound)
    ));
}

#[test]
fn roles_in_use_cannot_be_deleted_and_guard_sees_active_members_only() {
    let (svc, repo, t) = setup();
    let role = block_on(svc.create_role(
        &t.ctx,
        &Permission::all(),
        RoleName::parse("support").unwrap(),
        perms(&["members:read"]),
    ))
    .unwrap();
    let user = UserId::new();
    repo.seed(
        vec![],
        vec![Membership {
            tenant_id: t.ctx.tenant_id(),
            user_id: user,
            role_id: role.id,
            status: MembershipStatus::Suspended,
            created_at: Utc::now(),
        }],
    );
    assert!(matches!(
        block_on(svc.delete_role(&t.ctx, role.id)),
        Err(RoleError::InUse { members: 1 })
    ));
    assert!(
        block_on(svc.permissions_of(&t.ctx, user))
            .unwrap()
            .is_none(),
        "suspended"
    );
    let (_, r) = block_on(svc.permissions_of(&t.ctx, t.owner))
        .unwrap()
        .unwrap();
    assert!(r.is_owner());
    assert!(
        block_on(svc.permissions_of(&TenantCtx::for_tests(TenantId::new()), t.owner))
            .unwrap()
            .is_none(),
        "not a member elsewhere"
    );
}

#[test]
fn nobody_grants_or_takes_away_more_than_they_hold() {
    let (svc, _, t) = setup();
    let limited = perms(&["tenant:read", "roles:manage", "members:manage"]);
    let escalation = |r: Result<Role, RoleError>| match r {
        Err(RoleError::Escalation { permission }) => permission.as_str(),
        other => panic!("expected an escalation, got {other:?}"),
    };
    // A role with a permission the caller lacks cannot be made.
    let made = svc.create_role(
        &t.ctx,
        &limited,
        RoleName::parse("auditors").unwrap(),
        perms(&["tenant:read", "audit:read"]),
    );
    assert_eq!(escalation(block_on(made)), "audit:read");
    // Nor can a role beyond the caller be changed, even to narrow it.
    let wide = block_on(svc.create_role(
        &t.ctx,
        &Permission::all(),
        RoleName::parse("wide").unwrap(),
        perms(&["tenant:read", "audit:read"]),
    ))
    .unwrap();
    let narrowed = svc.update_role(
        &t.ctx,
        &limited,
        wide.id,
        None,
        Some(perms(&["tenant:read"])),
    );
    assert_eq!(escalation(block_on(narrowed)), "audit:read");
    // Within the caller's reach, both work.
    let own = block_on(svc.create_role(
        &t.ctx,
        &limited,
        RoleName::parse("readers").unwrap(),
        perms(&["tenant:read"]),
    ))
    .unwrap();
    block_on(svc.update_role(&t.ctx, &limited, own.id, None, Some(perms(&[])))).unwrap();
    // And nobody is handed, or moved out of, a role beyond the caller: the owner's role has
    // everything.
    assert!(matches!(
        block_on(svc.change_member_role(&t.ctx, &limited, t.owner, own.id)),
        Err(MemberError::Escalation { .. })
    ));
}
