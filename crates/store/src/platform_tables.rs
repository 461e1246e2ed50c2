// Platform tables (no tenant, or read before a tenant is known): included by `schema.rs`
// into `pg` and `sqlite`, where `DbId` and `DbTime` are defined. Column order must match the
// row structs (`Queryable` loads by position).

diesel::table! {
    use diesel::sql_types::*;
    use super::{DbId, DbTime};

    tenants (id) {
        id -> DbId,
        slug -> Text,
        name -> Text,
        status -> Text,
        maintenance -> Bool,
        maintenance_message -> Nullable<Text>,
        created_at -> DbTime,
        updated_at -> DbTime,
        revision -> BigInt,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::{DbId, DbTime};

    domains (id) {
        id -> DbId,
        tenant_id -> DbId,
        hostname -> Text,
        kind -> Text,
        status -> Text,
        is_primary -> Bool,
        created_at -> DbTime,
        verified_at -> Nullable<DbTime>,
        verification_token -> Nullable<Text>,
        pending_since -> Nullable<DbTime>,
        next_check_at -> Nullable<DbTime>,
        last_checked_at -> Nullable<DbTime>,
        check_error -> Nullable<Text>,
        lost_at -> Nullable<DbTime>,
        cname_target -> Nullable<Text>,
        revision -> BigInt,
    }
}

diesel::table! {
    platform_changes (id) {
        id -> Integer,
        tenancy_version -> BigInt,
        access_version -> BigInt,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::{DbId, DbTime};

    users (id) {
        id -> DbId,
        email -> Text,
        email_normalized -> Text,
        display_name -> Text,
        status -> Text,
        password_hash -> Text,
        created_at -> DbTime,
        last_login_at -> Nullable<DbTime>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::{DbId, DbTime};

    refresh_tokens (digest) {
        digest -> Text,
        user_id -> DbId,
        family -> DbId,
        issued_at -> DbTime,
        expires_at -> DbTime,
        spent_at -> Nullable<DbTime>,
        revoked_at -> Nullable<DbTime>,
        revoked_version -> Nullable<BigInt>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::{DbId, DbTime};

    login_failures (id) {
        id -> DbId,
        email_key -> Text,
        ip -> Nullable<Text>,
        at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::DbTime;

    signing_keys (slot) {
        slot -> Integer,
        kid -> Text,
        private_key_pem -> Text,
        created_at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::{DbId, DbTime};

    platform_admins (user_id) {
        user_id -> DbId,
        created_at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::{DbId, DbTime};

    security_events (id) {
        id -> DbId,
        at -> DbTime,
        kind -> Text,
        user_id -> Nullable<DbId>,
        email -> Nullable<Text>,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        detail -> Nullable<Text>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::{DbId, DbTime};

    jobs (id) {
        id -> DbId,
        kind -> Text,
        tenant_id -> Nullable<DbId>,
        payload -> Text,
        state -> Text,
        attempts -> Integer,
        max_attempts -> Integer,
        run_at -> DbTime,
        locked_by -> Nullable<Text>,
        locked_until -> Nullable<DbTime>,
        last_error -> Nullable<Text>,
        dedupe_key -> Nullable<Text>,
        created_at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::{DbId, DbTime};

    tenant_keys (tenant_id) {
        tenant_id -> DbId,
        kek_id -> Text,
        wrapped -> Text,
        created_at -> DbTime,
        rotated_at -> Nullable<DbTime>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::DbTime;

    platform_keys (slot) {
        slot -> Integer,
        kek_id -> Text,
        wrapped -> Text,
        created_at -> DbTime,
        rotated_at -> Nullable<DbTime>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::{DbId, DbTime};

    sessions (id) {
        id -> DbId,
        user_id -> DbId,
        method -> Text,
        created_at -> DbTime,
        last_used_at -> DbTime,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        sso_tenant_id -> Nullable<DbId>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::{DbId, DbTime};

    sso_logins (state_digest) {
        state_digest -> Text,
        tenant_id -> DbId,
        provider_id -> DbId,
        nonce -> Text,
        pkce_verifier -> Text,
        redirect_uri -> Text,
        created_at -> DbTime,
        expires_at -> DbTime,
        used_at -> Nullable<DbTime>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::{DbId, DbTime};

    sso_codes (digest) {
        digest -> Text,
        user_id -> DbId,
        tenant_id -> DbId,
        created_at -> DbTime,
        expires_at -> DbTime,
        used_at -> Nullable<DbTime>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::{DbId, DbTime};

    user_identities (issuer, subject) {
        issuer -> Text,
        subject -> Text,
        user_id -> DbId,
        created_at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::{DbId, DbTime};

    user_totp (user_id) {
        user_id -> DbId,
        secret -> Text,
        created_at -> DbTime,
        confirmed_at -> Nullable<DbTime>,
        last_step -> Nullable<BigInt>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::{DbId, DbTime};

    recovery_codes (user_id, digest) {
        user_id -> DbId,
        digest -> Text,
        created_at -> DbTime,
        used_at -> Nullable<DbTime>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::{DbId, DbTime};

    mfa_tickets (digest) {
        digest -> Text,
        user_id -> DbId,
        created_at -> DbTime,
        expires_at -> DbTime,
        used_at -> Nullable<DbTime>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::{DbId, DbTime};

    webhook_deliveries (tenant_id, endpoint_id, event_id) {
        tenant_id -> DbId,
        endpoint_id -> DbId,
        event_id -> DbId,
        state -> Text,
        trigger -> Text,
        attempts -> Integer,
        next_attempt_at -> DbTime,
        locked_by -> Nullable<Text>,
        locked_until -> Nullable<DbTime>,
        last_error -> Nullable<Text>,
        created_at -> DbTime,
        updated_at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::DbTime;

    plans (code) {
        code -> Text,
        name -> Text,
        description -> Text,
        currency -> Text,
        price_monthly_minor -> BigInt,
        price_yearly_minor -> BigInt,
        quotas -> Text,
        requests_per_hour -> Nullable<BigInt>,
        features -> Text,
        trial_days -> Integer,
        public -> Bool,
        is_default -> Bool,
        created_at -> DbTime,
        updated_at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::{DbId, DbTime};

    subscriptions (tenant_id) {
        tenant_id -> DbId,
        plan -> Text,
        status -> Text,
        trial_ends_at -> Nullable<DbTime>,
        current_period_end -> Nullable<DbTime>,
        cancel_at_period_end -> Bool,
        past_due_since -> Nullable<DbTime>,
        canceled_at -> Nullable<DbTime>,
        created_at -> DbTime,
        updated_at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::DbTime;

    billable_metrics (code) {
        code -> Text,
        name -> Text,
        aggregation -> Text,
        field -> Nullable<Text>,
        created_at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::{DbId, DbTime};

    billing_events (provider, event_id) {
        provider -> Text,
        event_id -> Text,
        event_type -> Text,
        tenant_id -> Nullable<DbId>,
        received_at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::DbTime;

    job_periods (dedupe_key) {
        dedupe_key -> Text,
        queued_at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::{DbId, DbTime};

    purges (id) {
        id -> DbId,
        tenant_id -> DbId,
        slug -> Text,
        requested_by -> Nullable<DbId>,
        requested_at -> DbTime,
        purged_at -> DbTime,
        row_counts -> Text,
        objects -> BigInt,
        accounts -> BigInt,
        certificate -> Text,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::{DbId, DbTime};

    person_keys (user_id) {
        user_id -> DbId,
        sealed_key -> Text,
        created_at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::{DbId, DbTime};

    address_keys (id) {
        id -> DbId,
        email_normalized -> Text,
        sealed_key -> Text,
        created_at -> DbTime,
    }
}
