//! The application as the HTTP adapter drives it: one object-safe port per service, and one
//! for the few platform reads that have no service (resolution, readiness, change counters,
//! search, the security log, the queue summary).
//!
//! The adapter names no repository type: the composition root (`apps/tenantry`) builds the
//! services over its store and hands them over as these ports. Each port lists exactly the
//! calls HTTP makes, with the service's own signature; [`driving_port!`] writes the trait and
//! its implementation for the service, which forwards to the service's inherent method of the
//! same name. A handler calls `state.products.create(&ctx, new)` as it would on the service.
//!
//! Adding a call: add its signature (references carry the port's lifetime `'a`) to the port.

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use tenantry_archive::{
    ArchiveService, ArchiveStore, DataExport, DeletionError, DeletionRepository,
    ExportDownloadError, ExportRepository, ImportError, Imported, KeyEscrow, Purge,
    RequestExportError, TenantDeletion, Unsealing,
};
use tenantry_audit::{
    AuditEntry, AuditFilter, AuditRepository, AuditService, ChangeLog, Event, EventFilter,
    EventRepository, EventService, SecurityEvent, SecurityEventFilter, SecurityLog, Verification,
};
use tenantry_billing::{
    Aggregation, BillingService, ChangePlanError, Chooser, CreateMetricError, CreatePlanError,
    DeletePlanError, Granularity, IngestUsageError, MeteringRepository, Metric, MetricCode,
    NewPlan, Plan, PlanCode, PlanName, PlanPatch, PlanRepository, ProviderEvent, ProviderEventLog,
    ProviderReceipt, Quota, QuotaCatalogue, QuotaRepository, ReportedUsage, SetQuotaError,
    Standing, Subscription, SubscriptionRepository, SubscriptionUpdate, UpdatePlanError,
    UsageBucket, UsageOutcome, UsageQueryError, UsageService,
};
use tenantry_files::{
    BucketDraft, BucketError, BucketProbe, BucketRepository, BucketService, BucketSettings,
    ByteStream, ContentError, DeleteFileError, FileName, FileQuery, FileRepository, FileService,
    MoveState, StoredFile, Upload, UploadError,
};
use tenantry_identity::{
    AccessClaims, ApiKey, ApiKeyError, ApiKeyRepository, ApiKeyService, AuthService,
    ChangePasswordError, DisplayName, EraseError, ErasureRepository, ErasureService, FamilyId,
    InvalidAccessToken, InvalidApiKey, Invitation, InvitationError, InvitationPreview,
    InvitationRepository, InvitationService, LoginError, Mailer, PlatformAdmins, RefreshError,
    RefreshSecret, Secrets, Session, User, UserError, UserStatus,
};
use tenantry_identity::{
    IdentityCrypto, IdentityStore, Impersonation, MfaError, MfaStatus, OidcClient, Redirect,
    SecondFactor, SessionError, SessionInfo, SsoConfigError, SsoLoginError, SsoProvider,
    SsoProviderDraft, SsoRepository, SsoService, TotpProvisioning,
};
use tenantry_identity::{
    ScimError, ScimFilter, ScimPage, ScimRepository, ScimService, ScimToken, ScimUser,
    ScimUserDraft,
};
use tenantry_jobs::{JobQueue, QueueSummary};
use tenantry_kernel::{
    ApiKeyId, ChangeCounters, ChangeVersions, DatabaseHealth, Email, EventId, ExportId, FileId,
    GlobalSearch, InvitationId, Origin, Page, PageRequest, ProductId, ProjectId, RoleId,
    ScimTokenId, ScimUserId, SearchGroup, SearchKind, SearchQuery, SecretCipher, SsoProviderId,
    TaskId, TenantCtx, TenantId, Unexpected, UserId, WebhookId,
};
use tenantry_onboarding::bulk::{BulkError, BulkProvisioning, Provisioned, ProvisioningRepository};
use tenantry_onboarding::{
    Onboard, OnboardError, Onboarded, OnboardingRepository, OnboardingService,
};
use tenantry_products::{
    BulkImportError, CreateProductError, DeleteProductError, ImageError, ImportRow, NewProduct,
    Product, ProductImage, ProductPatch, ProductQuery, ProductRepository, ProductService,
    UpdateProductError,
};
use tenantry_projects::{
    NewProject, NewTask, Project, ProjectError, ProjectPatch, ProjectQuery, ProjectRepository,
    ProjectService, Task, TaskError, TaskPatch, TaskQuery,
};
use tenantry_rbac::{
    Member, MemberError, Membership, MembershipRepository, PermissionSet, RbacService, Role,
    RoleError, RoleName, RoleRepository, UserTenant, UserTenants,
};
use tenantry_tenancy::{
    AddDomainError, BaseDomain, ChangeDomainError, CreateTenantError, Domain, DomainConfig,
    DomainRepository, DomainService, FindTenantError, Hostname, MaintenanceMessage, SettingsPatch,
    SettingsRepository, SettingsService, Slug, Tenant, TenantFilter, TenantName, TenantRef,
    TenantRepository, TenantService, TenantSettings, UpdateTenantError,
};
use tenantry_tenancy::{
    SmtpDraft, SmtpError, SmtpProbe, SmtpRepository, SmtpService, SmtpSettings,
};
use tenantry_webhooks::{
    Attempt, AttemptFilter, CreateWebhookError, ManualDeliveryError, NewWebhook, Recovered, Resend,
    TargetRules, TestSent, Webhook, WebhookError, WebhookPatch, WebhookRepository, WebhookSecret,
    WebhookService, WebhookStats,
};

/// Writes an object-safe port and its implementation for a service, forwarding each call to
/// the service's inherent method of the same name (inherent methods win over the port's).
/// Should a service lose that method, the call would resolve to the port's own method: the
/// implementation denies `unconditional_recursion`, so that is a compile error, not a loop.
macro_rules! driving_port {
    (
        $(#[$meta:meta])*
        pub trait $port:ident<$lt:lifetime>
            for $svc:ty, generics [$($g:ident),*] where [$($bound:tt)*]
        {
            $( async fn $m:ident(&self $(, $a:ident: $t:ty)* $(,)?) -> $r:ty; )*
            $( fn $sm:ident(&self $(, $sa:ident: $st:ty)* $(,)?) -> $sr:ty; )*
        }
    ) => {
        $(#[$meta])*
        pub trait $port: Send + Sync {
            $( fn $m<$lt>(&$lt self $(, $a: $t)*) -> BoxFuture<$lt, $r>; )*
            $( fn $sm(&self $(, $sa: $st)*) -> $sr; )*
        }

        #[deny(unconditional_recursion)]
        impl<$($g),*> $port for $svc where $($bound)* {
            $(
                fn $m<$lt>(&$lt self $(, $a: $t)*) -> BoxFuture<$lt, $r> {
                    Box::pin(<$svc>::$m(self $(, $a)*))
                }
            )*
            $(
                fn $sm(&self $(, $sa: $st)*) -> $sr {
                    <$svc>::$sm(self $(, $sa)*)
                }
            )*
        }
    };
}

driving_port! {
    /// The tenant's own data exports.
    pub trait Exports<'a> for ArchiveService<S, K>, generics [S, K]
        where [S: ArchiveStore + ExportRepository, K: KeyEscrow]
    {
        async fn request_export(
            &self,
            ctx: &'a TenantCtx,
            recipients: Vec<String>,
        ) -> Result<DataExport, RequestExportError>;
        async fn exports(
            &self,
            ctx: &'a TenantCtx,
            page: &'a PageRequest,
        ) -> Result<Page<DataExport>, Unexpected>;
        async fn find_export(
            &self,
            ctx: &'a TenantCtx,
            id: ExportId,
        ) -> Result<Option<DataExport>, Unexpected>;
        async fn export_content(
            &self,
            ctx: &'a TenantCtx,
            id: ExportId,
        ) -> Result<(DataExport, tenantry_files::ByteStream), ExportDownloadError>;
    }
}

driving_port! {
    /// A whole tenant's deletion (the owners') and what stays of purged tenants (the
    /// operator's).
    pub trait Deletions<'a> for ArchiveService<S, K>, generics [S, K]
        where [S: ArchiveStore + DeletionRepository, K: KeyEscrow]
    {
        async fn request_deletion(
            &self,
            ctx: &'a TenantCtx,
            user: UserId,
            typed_slug: &'a str,
        ) -> Result<TenantDeletion, DeletionError>;
        async fn deletion(&self, ctx: &'a TenantCtx) -> Result<Option<TenantDeletion>, Unexpected>;
        async fn cancel_deletion(
            &self,
            ctx: &'a TenantCtx,
        ) -> Result<TenantDeletion, DeletionError>;
        async fn purges(&self, page: &'a PageRequest) -> Result<Page<Purge>, Unexpected>;
    }
}

driving_port! {
    /// Erasing one person: by themselves, or by the operator.
    pub trait Erasure<'a> for ErasureService<S, C>, generics [S, C]
        where [S: ErasureRepository + IdentityStore, C: IdentityCrypto]
    {
        async fn erase_self(
            &self,
            user: UserId,
            password: &'a str,
            factor: Option<&'a SecondFactor>,
            origin: &'a Origin,
        ) -> Result<(), EraseError>;
        async fn erase_account(
            &self,
            user: UserId,
            actor: tenantry_kernel::Actor,
            origin: &'a Origin,
        ) -> Result<(), EraseError>;
    }
}

driving_port! {
    /// Operators' archives, imported through the platform API.
    pub trait Imports<'a> for ArchiveService<S, K>, generics [S, K]
        where [S: ArchiveStore, K: KeyEscrow]
    {
        async fn import(
            &self,
            path: &'a std::path::Path,
            unsealing: Unsealing,
            slug: Option<String>,
            actor: tenantry_kernel::Actor,
        ) -> Result<Imported, ImportError>;
    }
}

driving_port! {
    /// Creating many tenants from a CSV file (platform administration).
    pub trait Provisioning<'a> for BulkProvisioning<R, C>, generics [R, C]
        where [R: ProvisioningRepository, C: tenantry_identity::Secrets]
    {
        async fn provision_csv(
            &self,
            csv: &'a [u8],
            actor: tenantry_kernel::Actor,
            origin: Origin,
        ) -> Result<Vec<Provisioned>, BulkError>;
    }
}

driving_port! {
    /// Tenant lifecycle and domains (platform administration).
    pub trait Tenants<'a> for TenantService<R>, generics [R]
        where [R: TenantRepository + DomainRepository]
    {
        async fn create_by(
            &self,
            slug: Slug,
            name: TenantName,
            actor: tenantry_kernel::Actor,
            origin: std::sync::Arc<Origin>,
        ) -> Result<Tenant, CreateTenantError>;
        async fn find(&self, r: &'a TenantRef) -> Result<Tenant, FindTenantError>;
        async fn list(
            &self,
            filter: &'a TenantFilter,
            page: &'a PageRequest,
        ) -> Result<Page<Tenant>, Unexpected>;
        async fn rename(
            &self,
            r: &'a TenantRef,
            name: TenantName,
        ) -> Result<Tenant, UpdateTenantError>;
        async fn suspend(&self, r: &'a TenantRef) -> Result<Tenant, UpdateTenantError>;
        async fn resume(&self, r: &'a TenantRef) -> Result<Tenant, UpdateTenantError>;
        async fn start_maintenance(
            &self,
            r: &'a TenantRef,
            message: Option<MaintenanceMessage>,
        ) -> Result<Tenant, UpdateTenantError>;
        async fn end_maintenance(&self, r: &'a TenantRef) -> Result<Tenant, UpdateTenantError>;
        async fn domains(&self, r: &'a TenantRef) -> Result<Vec<Domain>, FindTenantError>;
        fn base_domain(&self) -> &BaseDomain;
    }
}

driving_port! {
    /// A tenant's own settings.
    pub trait Settings<'a> for SettingsService<S>, generics [S] where [S: SettingsRepository] {
        async fn get(&self, ctx: &'a TenantCtx) -> Result<TenantSettings, Unexpected>;
        async fn update(
            &self,
            ctx: &'a TenantCtx,
            patch: SettingsPatch,
        ) -> Result<TenantSettings, Unexpected>;
    }
}

driving_port! {
    /// The tenant's own mail server.
    pub trait Smtp<'a> for SmtpService<R, V, P>, generics [R, V, P]
        where [R: SmtpRepository, V: SecretCipher, P: SmtpProbe]
    {
        async fn get(&self, ctx: &'a TenantCtx) -> Result<SmtpSettings, SmtpError>;
        async fn put(&self, ctx: &'a TenantCtx, draft: SmtpDraft) -> Result<SmtpSettings, Unexpected>;
        async fn delete(&self, ctx: &'a TenantCtx) -> Result<(), SmtpError>;
        async fn test(&self, ctx: &'a TenantCtx, to: &'a Email) -> Result<String, SmtpError>;
    }
}

driving_port! {
    /// SCIM provisioning: a tenant's directory tokens and the users its directory writes.
    pub trait Scim<'a> for ScimService<R, C>, generics [R, C]
        where [R: IdentityStore + ScimRepository, C: IdentityCrypto]
    {
        async fn create_token(
            &self,
            ctx: &'a TenantCtx,
            name: String,
            default_role: String,
        ) -> Result<(ScimToken, String), ScimError>;
        async fn tokens(&self, ctx: &'a TenantCtx) -> Result<Vec<ScimToken>, Unexpected>;
        async fn revoke_token(&self, ctx: &'a TenantCtx, id: ScimTokenId) -> Result<(), ScimError>;
        async fn authenticate(
            &self,
            ctx: &'a TenantCtx,
            secret: &'a str,
        ) -> Result<Option<ScimToken>, Unexpected>;
        async fn users(
            &self,
            ctx: &'a TenantCtx,
            filter: &'a ScimFilter,
            start_index: u64,
            count: u64,
        ) -> Result<ScimPage, Unexpected>;
        async fn user(&self, ctx: &'a TenantCtx, id: ScimUserId) -> Result<ScimUser, ScimError>;
        async fn create(
            &self,
            ctx: &'a TenantCtx,
            token: &'a ScimToken,
            draft: ScimUserDraft,
        ) -> Result<ScimUser, ScimError>;
        async fn replace(
            &self,
            ctx: &'a TenantCtx,
            token: &'a ScimToken,
            id: ScimUserId,
            draft: ScimUserDraft,
        ) -> Result<ScimUser, ScimError>;
        async fn delete(
            &self,
            ctx: &'a TenantCtx,
            token: &'a ScimToken,
            id: ScimUserId,
        ) -> Result<(), ScimError>;
    }
}

driving_port! {
    /// Single sign-on: a tenant's OpenID Connect providers and the sign-in through them.
    pub trait Sso<'a> for SsoService<R, C, O, V>, generics [R, C, O, V]
        where [R: IdentityStore + SsoRepository, C: IdentityCrypto, O: OidcClient, V: SecretCipher]
    {
        async fn list(&self, ctx: &'a TenantCtx) -> Result<Vec<SsoProvider>, Unexpected>;
        async fn get(
            &self,
            ctx: &'a TenantCtx,
            id: SsoProviderId,
        ) -> Result<SsoProvider, SsoConfigError>;
        async fn check_issuer(&self, issuer: &'a str) -> Result<(), String>;
        async fn create(
            &self,
            ctx: &'a TenantCtx,
            draft: SsoProviderDraft,
        ) -> Result<SsoProvider, SsoConfigError>;
        async fn replace(
            &self,
            ctx: &'a TenantCtx,
            id: SsoProviderId,
            draft: SsoProviderDraft,
        ) -> Result<SsoProvider, SsoConfigError>;
        async fn delete(&self, ctx: &'a TenantCtx, id: SsoProviderId) -> Result<(), SsoConfigError>;
        async fn enforced_domains(&self, ctx: &'a TenantCtx) -> Result<Vec<String>, Unexpected>;
        async fn authorize(
            &self,
            ctx: &'a TenantCtx,
            id: SsoProviderId,
            redirect_uri: &'a str,
            login_hint: Option<&'a str>,
            origin: &'a Origin,
        ) -> Result<String, SsoLoginError>;
        async fn callback(
            &self,
            state: &'a str,
            code: Option<&'a str>,
            provider_error: Option<&'a str>,
            origin: &'a Origin,
        ) -> Result<Redirect, SsoLoginError>;
        async fn exchange(&self, code: &'a str, origin: &'a Origin) -> Result<Session, SsoLoginError>;
        fn callback_url(&self) -> String;
    }
}

driving_port! {
    /// A tenant's domains: custom hostnames, their checks, the primary one.
    pub trait Domains<'a> for DomainService<R>, generics [R] where [R: DomainRepository] {
        async fn list(&self, ctx: &'a TenantCtx) -> Result<Vec<Domain>, Unexpected>;
        async fn get(
            &self,
            ctx: &'a TenantCtx,
            hostname: &'a Hostname,
        ) -> Result<Domain, ChangeDomainError>;
        async fn add(&self, ctx: &'a TenantCtx, hostname: Hostname) -> Result<Domain, AddDomainError>;
        async fn remove(
            &self,
            ctx: &'a TenantCtx,
            hostname: &'a Hostname,
        ) -> Result<(), ChangeDomainError>;
        async fn set_primary(
            &self,
            ctx: &'a TenantCtx,
            hostname: &'a Hostname,
        ) -> Result<Domain, ChangeDomainError>;
        async fn verify_now(
            &self,
            ctx: &'a TenantCtx,
            hostname: &'a Hostname,
        ) -> Result<Domain, ChangeDomainError>;
        async fn force_verify(
            &self,
            ctx: &'a TenantCtx,
            hostname: &'a Hostname,
        ) -> Result<Domain, ChangeDomainError>;
        fn config(&self) -> &DomainConfig;
    }
}

driving_port! {
    /// Accounts and sessions.
    pub trait Auth<'a> for AuthService<R, C>, generics [R, C]
        where [
            R: IdentityStore,
            C: IdentityCrypto,
        ]
    {
        async fn login(
            &self,
            email: &'a str,
            password: &'a str,
            origin: &'a Origin,
        ) -> Result<Session, LoginError>;
        async fn refresh(
            &self,
            secret: &'a RefreshSecret,
            origin: &'a Origin,
        ) -> Result<Session, RefreshError>;
        async fn logout(
            &self,
            secret: &'a RefreshSecret,
            origin: &'a Origin,
        ) -> Result<(), Unexpected>;
        async fn learn_revocations(&self, counter: i64) -> Result<(), Unexpected>;
        async fn me(&self, user_id: UserId) -> Result<User, UserError>;
        async fn rename(&self, user_id: UserId, name: &'a DisplayName) -> Result<User, UserError>;
        async fn set_status(
            &self,
            user_id: UserId,
            status: UserStatus,
            origin: &'a Origin,
        ) -> Result<User, UserError>;
        async fn change_password(
            &self,
            user_id: UserId,
            current_session: FamilyId,
            current: &'a str,
            new: &'a str,
            origin: &'a Origin,
        ) -> Result<(), ChangePasswordError>;
        async fn sessions(&self, user: UserId) -> Result<Vec<SessionInfo>, Unexpected>;
        async fn impersonate(
            &self,
            user_id: UserId,
            target: Impersonation,
            ttl: chrono::Duration,
            detail: String,
            origin: &'a Origin,
        ) -> Result<(User, String, DateTime<Utc>), UserError>;
        async fn end_session(
            &self,
            user: UserId,
            session: FamilyId,
            origin: &'a Origin,
        ) -> Result<(), SessionError>;
        async fn mfa_status(&self, user: UserId) -> Result<MfaStatus, Unexpected>;
        async fn start_totp(&self, user: UserId) -> Result<TotpProvisioning, MfaError>;
        async fn confirm_totp(
            &self,
            user: UserId,
            current: FamilyId,
            code: &'a str,
            origin: &'a Origin,
        ) -> Result<Vec<String>, MfaError>;
        async fn disable_totp(
            &self,
            user: UserId,
            current: FamilyId,
            password: &'a str,
            factor: &'a SecondFactor,
            origin: &'a Origin,
        ) -> Result<(), MfaError>;
        async fn confirm_identity(
            &self,
            user: UserId,
            password: &'a str,
            factor: Option<&'a SecondFactor>,
            origin: &'a Origin,
        ) -> Result<(), MfaError>;
        async fn regenerate_recovery_codes(
            &self,
            user: UserId,
            factor: &'a SecondFactor,
            origin: &'a Origin,
        ) -> Result<Vec<String>, MfaError>;
        async fn verify_mfa(
            &self,
            ticket: &'a str,
            factor: &'a SecondFactor,
            origin: &'a Origin,
        ) -> Result<Session, MfaError>;
        fn now(&self) -> DateTime<Utc>;
        fn authenticate(&self, token: &str) -> Result<(AccessClaims, FamilyId), InvalidAccessToken>;
        fn session_revoked(&self, session: FamilyId) -> bool;
    }
}

driving_port! {
    /// Roles and memberships of a tenant, and the tenants of a user.
    pub trait Rbac<'a> for RbacService<R>, generics [R]
        where [R: RoleRepository + MembershipRepository + UserTenants]
    {
        async fn roles(
            &self,
            ctx: &'a TenantCtx,
            page: &'a PageRequest,
        ) -> Result<Page<Role>, Unexpected>;
        async fn role_named(
            &self,
            ctx: &'a TenantCtx,
            name: &'a str,
        ) -> Result<Option<Role>, Unexpected>;
        async fn create_role(
            &self,
            ctx: &'a TenantCtx,
            caller: &'a PermissionSet,
            name: RoleName,
            permissions: PermissionSet,
        ) -> Result<Role, RoleError>;
        async fn update_role(
            &self,
            ctx: &'a TenantCtx,
            caller: &'a PermissionSet,
            id: RoleId,
            name: Option<RoleName>,
            permissions: Option<PermissionSet>,
        ) -> Result<Role, RoleError>;
        async fn delete_role(&self, ctx: &'a TenantCtx, id: RoleId) -> Result<(), RoleError>;
        async fn members(
            &self,
            ctx: &'a TenantCtx,
            page: &'a PageRequest,
        ) -> Result<Page<Member>, Unexpected>;
        async fn member(&self, ctx: &'a TenantCtx, user: UserId) -> Result<Option<Member>, Unexpected>;
        async fn change_member_role(
            &self,
            ctx: &'a TenantCtx,
            caller: &'a PermissionSet,
            user: UserId,
            role: RoleId,
        ) -> Result<Membership, MemberError>;
        async fn remove_member(
            &self,
            ctx: &'a TenantCtx,
            caller: &'a PermissionSet,
            user: UserId,
        ) -> Result<(), MemberError>;
        async fn permissions_of(
            &self,
            ctx: &'a TenantCtx,
            user: UserId,
        ) -> Result<Option<(Membership, Role)>, Unexpected>;
        async fn tenants_of(
            &self,
            user: UserId,
            page: &'a PageRequest,
        ) -> Result<Page<UserTenant>, Unexpected>;
    }
}

driving_port! {
    /// Signing up an organisation.
    pub trait Onboarding<'a> for OnboardingService<R, C>, generics [R, C]
        where [
            R: OnboardingRepository
                + TenantRepository
                + DomainRepository
                + IdentityStore,
            C: IdentityCrypto,
        ]
    {
        async fn onboard(&self, req: Onboard) -> Result<Onboarded, OnboardError>;
    }
}

driving_port! {
    /// Invitations: sent by members, looked up and accepted by link.
    pub trait Invitations<'a> for InvitationService<R, C, M>, generics [R, C, M]
        where [
            R: InvitationRepository
                + IdentityStore,
            C: IdentityCrypto,
            M: Mailer,
        ]
    {
        async fn invite(
            &self,
            ctx: &'a TenantCtx,
            inviter: &'a User,
            email: Email,
            role: RoleId,
        ) -> Result<Invitation, InvitationError>;
        async fn pending(
            &self,
            ctx: &'a TenantCtx,
            page: &'a PageRequest,
        ) -> Result<Page<Invitation>, Unexpected>;
        async fn resend(
            &self,
            ctx: &'a TenantCtx,
            id: InvitationId,
        ) -> Result<Invitation, InvitationError>;
        async fn revoke(&self, ctx: &'a TenantCtx, id: InvitationId) -> Result<(), InvitationError>;
        async fn lookup(
            &self,
            token: &'a RefreshSecret,
        ) -> Result<InvitationPreview, InvitationError>;
        async fn accept_as(
            &self,
            token: &'a RefreshSecret,
            user: User,
            origin: &'a Origin,
        ) -> Result<Invitation, InvitationError>;
        async fn accept_signing_up(
            &self,
            token: &'a RefreshSecret,
            name: DisplayName,
            password: &'a str,
            origin: &'a Origin,
        ) -> Result<(Invitation, Session), InvitationError>;
    }
}

driving_port! {
    /// Plans, subscriptions and quotas.
    pub trait Billing<'a> for BillingService<R>, generics [R]
        where [R: PlanRepository + SubscriptionRepository + QuotaRepository + ProviderEventLog]
    {
        async fn plans(&self) -> Result<Vec<Plan>, Unexpected>;
        async fn public_plans(&self) -> Result<Vec<Plan>, Unexpected>;
        async fn plan(&self, code: &'a PlanCode) -> Result<Option<Plan>, Unexpected>;
        async fn plans_with(&self, feature: &'a str) -> Result<Vec<PlanCode>, Unexpected>;
        async fn create_plan(&self, new: NewPlan) -> Result<Plan, CreatePlanError>;
        async fn update_plan(
            &self,
            code: &'a PlanCode,
            patch: &'a PlanPatch,
        ) -> Result<Plan, UpdatePlanError>;
        async fn delete_plan(&self, code: &'a PlanCode) -> Result<(), DeletePlanError>;
        async fn standing(&self, ctx: &'a TenantCtx) -> Result<Option<Standing>, Unexpected>;
        async fn change_plan(
            &self,
            ctx: &'a TenantCtx,
            code: &'a PlanCode,
            by: Chooser,
        ) -> Result<Subscription, ChangePlanError>;
        async fn update_subscription(
            &self,
            ctx: &'a TenantCtx,
            update: &'a SubscriptionUpdate,
        ) -> Result<Subscription, ChangePlanError>;
        async fn quotas(&self, ctx: &'a TenantCtx) -> Result<Vec<Quota>, Unexpected>;
        async fn override_quota(
            &self,
            ctx: &'a TenantCtx,
            resource: &'a str,
            limit: Option<u64>,
        ) -> Result<Quota, SetQuotaError>;
        async fn clear_quota_override(
            &self,
            ctx: &'a TenantCtx,
            resource: &'a str,
        ) -> Result<Quota, SetQuotaError>;
        async fn receive_provider_event(
            &self,
            provider: &'a str,
            event: &'a ProviderEvent,
            target: Option<&'a TenantCtx>,
        ) -> Result<ProviderReceipt, ChangePlanError>;
        fn catalogue(&self) -> &QuotaCatalogue;
    }
}

driving_port! {
    /// Billable metrics, usage ingestion and aggregation.
    pub trait Metering<'a> for UsageService<R>, generics [R]
        where [R: MeteringRepository]
    {
        async fn metrics(&self) -> Result<Vec<Metric>, Unexpected>;
        async fn create_metric(
            &self,
            code: MetricCode,
            name: PlanName,
            aggregation: Aggregation,
        ) -> Result<Metric, CreateMetricError>;
        async fn ingest(
            &self,
            ctx: &'a TenantCtx,
            batch: Vec<ReportedUsage>,
        ) -> Result<Vec<UsageOutcome>, IngestUsageError>;
        async fn usage(
            &self,
            ctx: &'a TenantCtx,
            metric: &'a str,
            from: DateTime<Utc>,
            to: DateTime<Utc>,
            granularity: Granularity,
        ) -> Result<(Metric, Vec<UsageBucket>), UsageQueryError>;
    }
}

driving_port! {
    /// A tenant's API keys, and authenticating a presented key.
    pub trait ApiKeys<'a> for ApiKeyService<R, C>, generics [R, C]
        where [R: ApiKeyRepository, C: Secrets]
    {
        async fn create(
            &self,
            ctx: &'a TenantCtx,
            creator: UserId,
            name: String,
            permissions: Vec<String>,
            expires_at: Option<DateTime<Utc>>,
        ) -> Result<(ApiKey, String), ApiKeyError>;
        async fn list(
            &self,
            ctx: &'a TenantCtx,
            page: &'a PageRequest,
        ) -> Result<Page<ApiKey>, Unexpected>;
        async fn revoke(&self, ctx: &'a TenantCtx, id: ApiKeyId) -> Result<(), ApiKeyError>;
        async fn authenticate(
            &self,
            presented: &'a str,
            on: TenantId,
        ) -> Result<Result<ApiKey, InvalidApiKey>, Unexpected>;
        async fn note_use(&self, ctx: &'a TenantCtx, key: &'a ApiKey) -> Result<(), Unexpected>;
    }
}

driving_port! {
    /// A tenant's webhook endpoints.
    pub trait Webhooks<'a> for WebhookService<R, C>, generics [R, C]
        where [R: WebhookRepository, C: SecretCipher]
    {
        async fn create(
            &self,
            ctx: &'a TenantCtx,
            new: NewWebhook,
        ) -> Result<(Webhook, WebhookSecret), CreateWebhookError>;
        async fn get(&self, ctx: &'a TenantCtx, id: WebhookId) -> Result<Webhook, WebhookError>;
        async fn list(
            &self,
            ctx: &'a TenantCtx,
            page: &'a PageRequest,
        ) -> Result<Page<Webhook>, Unexpected>;
        async fn update(
            &self,
            ctx: &'a TenantCtx,
            id: WebhookId,
            patch: &'a WebhookPatch,
        ) -> Result<Webhook, WebhookError>;
        async fn delete(&self, ctx: &'a TenantCtx, id: WebhookId) -> Result<(), WebhookError>;
        async fn rotate_secret(
            &self,
            ctx: &'a TenantCtx,
            id: WebhookId,
        ) -> Result<(Webhook, WebhookSecret), WebhookError>;
        async fn attempts(
            &self,
            ctx: &'a TenantCtx,
            filter: AttemptFilter,
            page: &'a PageRequest,
        ) -> Result<Page<Attempt>, WebhookError>;
        async fn stats(&self, ctx: &'a TenantCtx, id: WebhookId) -> Result<WebhookStats, WebhookError>;
        async fn resend(
            &self,
            ctx: &'a TenantCtx,
            id: WebhookId,
            event: EventId,
        ) -> Result<Resend, ManualDeliveryError>;
        async fn recover(
            &self,
            ctx: &'a TenantCtx,
            id: WebhookId,
            since: DateTime<Utc>,
        ) -> Result<Recovered, ManualDeliveryError>;
        async fn send_test(
            &self,
            ctx: &'a TenantCtx,
            id: WebhookId,
        ) -> Result<TestSent, ManualDeliveryError>;
        fn rules(&self) -> &TargetRules;
    }
}

driving_port! {
    /// The product catalogue.
    pub trait Products<'a> for ProductService<R>, generics [R]
        where [R: ProductRepository]
    {
        async fn create(
            &self,
            ctx: &'a TenantCtx,
            new: NewProduct,
        ) -> Result<Product, CreateProductError>;
        async fn get(
            &self,
            ctx: &'a TenantCtx,
            id: ProductId,
        ) -> Result<Option<Product>, Unexpected>;
        async fn list(
            &self,
            ctx: &'a TenantCtx,
            query: &'a ProductQuery,
        ) -> Result<Page<Product>, Unexpected>;
        async fn update(
            &self,
            ctx: &'a TenantCtx,
            id: ProductId,
            patch: &'a ProductPatch,
        ) -> Result<Product, UpdateProductError>;
        async fn delete(&self, ctx: &'a TenantCtx, id: ProductId) -> Result<(), DeleteProductError>;
        async fn import(
            &self,
            ctx: &'a TenantCtx,
            rows: &'a [ImportRow],
        ) -> Result<usize, BulkImportError>;
        async fn attach_image(
            &self,
            ctx: &'a TenantCtx,
            product: ProductId,
            file: FileId,
        ) -> Result<ProductImage, ImageError>;
        async fn images(
            &self,
            ctx: &'a TenantCtx,
            product: ProductId,
        ) -> Result<Option<Vec<ProductImage>>, Unexpected>;
        async fn detach_image(
            &self,
            ctx: &'a TenantCtx,
            product: ProductId,
            file: FileId,
        ) -> Result<(), ImageError>;
    }
}

driving_port! {
    /// Projects and their tasks.
    pub trait Projects<'a> for ProjectService<R>, generics [R]
        where [R: ProjectRepository]
    {
        async fn create_project(
            &self,
            ctx: &'a TenantCtx,
            new: NewProject,
        ) -> Result<Project, ProjectError>;
        async fn project(
            &self,
            ctx: &'a TenantCtx,
            id: ProjectId,
        ) -> Result<Option<Project>, Unexpected>;
        async fn projects(
            &self,
            ctx: &'a TenantCtx,
            q: &'a ProjectQuery,
        ) -> Result<Page<Project>, Unexpected>;
        async fn update_project(
            &self,
            ctx: &'a TenantCtx,
            id: ProjectId,
            patch: &'a ProjectPatch,
        ) -> Result<Project, ProjectError>;
        async fn delete_project(
            &self,
            ctx: &'a TenantCtx,
            id: ProjectId,
        ) -> Result<(), ProjectError>;
        async fn create_task(
            &self,
            ctx: &'a TenantCtx,
            project: ProjectId,
            new: NewTask,
        ) -> Result<Task, TaskError>;
        async fn task(&self, ctx: &'a TenantCtx, id: TaskId) -> Result<Option<Task>, Unexpected>;
        async fn tasks(
            &self,
            ctx: &'a TenantCtx,
            project: ProjectId,
            q: &'a TaskQuery,
        ) -> Result<Option<Page<Task>>, Unexpected>;
        async fn update_task(
            &self,
            ctx: &'a TenantCtx,
            id: TaskId,
            patch: TaskPatch,
        ) -> Result<Task, TaskError>;
        async fn toggle_task(&self, ctx: &'a TenantCtx, id: TaskId) -> Result<Task, TaskError>;
        async fn delete_task(&self, ctx: &'a TenantCtx, id: TaskId) -> Result<(), TaskError>;
    }
}

driving_port! {
    /// The tenant's files: uploads driven chunk by chunk, downloads streamed.
    pub trait Files<'a> for FileService<R>, generics [R]
        where [R: FileRepository + BucketRepository]
    {
        async fn begin(
            &self,
            ctx: &'a TenantCtx,
            name: FileName,
            max_file: u64,
        ) -> Result<Upload, UploadError>;
        async fn write(
            &self,
            ctx: &'a TenantCtx,
            up: &'a mut Upload,
            chunk: bytes::Bytes,
        ) -> Result<(), UploadError>;
        async fn finish(&self, ctx: &'a TenantCtx, up: Upload) -> Result<StoredFile, UploadError>;
        async fn abort(&self, up: &'a mut Upload) -> ();
        async fn get(&self, ctx: &'a TenantCtx, id: FileId) -> Result<Option<StoredFile>, Unexpected>;
        async fn list(
            &self,
            ctx: &'a TenantCtx,
            query: &'a FileQuery,
        ) -> Result<Page<StoredFile>, Unexpected>;
        async fn content(
            &self,
            ctx: &'a TenantCtx,
            file: &'a StoredFile,
            range: Option<std::ops::Range<u64>>,
        ) -> Result<ByteStream, ContentError>;
        async fn link(
            &self,
            ctx: &'a TenantCtx,
            id: FileId,
            ttl: std::time::Duration,
        ) -> Result<Option<(String, DateTime<Utc>)>, ContentError>;
        async fn delete(&self, ctx: &'a TenantCtx, id: FileId) -> Result<StoredFile, DeleteFileError>;
    }
}

driving_port! {
    /// The tenant's own bucket.
    pub trait Buckets<'a> for BucketService<R, V, P>, generics [R, V, P]
        where [R: BucketRepository, V: SecretCipher, P: BucketProbe]
    {
        async fn get(
            &self,
            ctx: &'a TenantCtx,
        ) -> Result<(Option<BucketSettings>, MoveState), Unexpected>;
        async fn put(
            &self,
            ctx: &'a TenantCtx,
            draft: BucketDraft,
        ) -> Result<(BucketSettings, MoveState), BucketError>;
        async fn delete(&self, ctx: &'a TenantCtx) -> Result<MoveState, BucketError>;
    }
}

driving_port! {
    /// The tenant's audit chain.
    pub trait Audit<'a> for AuditService<R>, generics [R] where [R: AuditRepository] {
        async fn list(
            &self,
            ctx: &'a TenantCtx,
            filter: &'a AuditFilter,
            page: &'a PageRequest,
        ) -> Result<Page<AuditEntry>, Unexpected>;
        async fn verify(&self, ctx: &'a TenantCtx) -> Result<Verification, Unexpected>;
        async fn record(&self, ctx: &'a TenantCtx, log: ChangeLog) -> Result<(), Unexpected>;
    }
}

driving_port! {
    /// The tenant's events (the pull API).
    pub trait Events<'a> for EventService<R>, generics [R] where [R: EventRepository] {
        async fn list(
            &self,
            ctx: &'a TenantCtx,
            filter: &'a EventFilter,
            page: &'a PageRequest,
        ) -> Result<Page<Event>, Unexpected>;
        async fn get(&self, ctx: &'a TenantCtx, id: EventId) -> Result<Option<Event>, Unexpected>;
    }
}

/// The platform reads HTTP makes without a service in between: tenant resolution, readiness,
/// the change counters, search, the security log, platform admins and the job queue's summary.
/// Implemented for every store that implements the domain ports behind them.
pub trait PlatformReads: Send + Sync {
    fn tenant_by_slug<'a>(
        &'a self,
        slug: &'a Slug,
    ) -> BoxFuture<'a, Result<Option<Tenant>, Unexpected>>;
    fn tenant_by_id(&self, id: TenantId) -> BoxFuture<'_, Result<Option<Tenant>, Unexpected>>;
    fn tenant_by_verified_hostname<'a>(
        &'a self,
        hostname: &'a Hostname,
    ) -> BoxFuture<'a, Result<Option<Tenant>, Unexpected>>;
    fn ping(&self) -> BoxFuture<'_, Result<(), Unexpected>>;
    fn pending_migrations(&self) -> BoxFuture<'_, Result<Vec<String>, Unexpected>>;
    fn backend_name(&self) -> &'static str;
    fn pool_status(&self) -> tenantry_kernel::PoolStatus;
    fn change_versions(&self) -> BoxFuture<'_, Result<ChangeVersions, Unexpected>>;
    fn search<'a>(
        &'a self,
        ctx: &'a TenantCtx,
        query: &'a SearchQuery,
        kinds: &'a [SearchKind],
        hits_per_kind: u32,
    ) -> BoxFuture<'a, Result<Vec<SearchGroup>, Unexpected>>;
    fn security_events<'a>(
        &'a self,
        filter: &'a SecurityEventFilter,
        page: &'a PageRequest,
    ) -> BoxFuture<'a, Result<Page<SecurityEvent>, Unexpected>>;
    fn is_platform_admin(&self, user: UserId) -> BoxFuture<'_, Result<bool, Unexpected>>;
    fn queue_summary(&self, now: DateTime<Utc>) -> BoxFuture<'_, Result<QueueSummary, Unexpected>>;
}

impl<D> PlatformReads for D
where
    D: TenantRepository
        + DomainRepository
        + DatabaseHealth
        + ChangeCounters
        + GlobalSearch
        + SecurityLog
        + PlatformAdmins
        + JobQueue,
{
    fn tenant_by_slug<'a>(
        &'a self,
        slug: &'a Slug,
    ) -> BoxFuture<'a, Result<Option<Tenant>, Unexpected>> {
        Box::pin(TenantRepository::tenant_by_slug(self, slug))
    }

    fn tenant_by_id(&self, id: TenantId) -> BoxFuture<'_, Result<Option<Tenant>, Unexpected>> {
        Box::pin(TenantRepository::tenant_by_id(self, id))
    }

    fn tenant_by_verified_hostname<'a>(
        &'a self,
        hostname: &'a Hostname,
    ) -> BoxFuture<'a, Result<Option<Tenant>, Unexpected>> {
        Box::pin(DomainRepository::tenant_by_verified_hostname(
            self, hostname,
        ))
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), Unexpected>> {
        Box::pin(DatabaseHealth::ping(self))
    }

    fn pending_migrations(&self) -> BoxFuture<'_, Result<Vec<String>, Unexpected>> {
        Box::pin(DatabaseHealth::pending_migrations(self))
    }

    fn backend_name(&self) -> &'static str {
        DatabaseHealth::backend_name(self)
    }

    fn pool_status(&self) -> tenantry_kernel::PoolStatus {
        DatabaseHealth::pool_status(self)
    }

    fn change_versions(&self) -> BoxFuture<'_, Result<ChangeVersions, Unexpected>> {
        Box::pin(ChangeCounters::change_versions(self))
    }

    fn search<'a>(
        &'a self,
        ctx: &'a TenantCtx,
        query: &'a SearchQuery,
        kinds: &'a [SearchKind],
        hits_per_kind: u32,
    ) -> BoxFuture<'a, Result<Vec<SearchGroup>, Unexpected>> {
        Box::pin(GlobalSearch::search(self, ctx, query, kinds, hits_per_kind))
    }

    fn security_events<'a>(
        &'a self,
        filter: &'a SecurityEventFilter,
        page: &'a PageRequest,
    ) -> BoxFuture<'a, Result<Page<SecurityEvent>, Unexpected>> {
        Box::pin(SecurityLog::list(self, filter, page))
    }

    fn is_platform_admin(&self, user: UserId) -> BoxFuture<'_, Result<bool, Unexpected>> {
        Box::pin(PlatformAdmins::is_platform_admin(self, user))
    }

    fn queue_summary(&self, now: DateTime<Utc>) -> BoxFuture<'_, Result<QueueSummary, Unexpected>> {
        Box::pin(JobQueue::queue_summary(self, now))
    }
}
