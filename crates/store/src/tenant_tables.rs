// Tenant-owned tables, declared inside the private `raw` module of each backend's schema:
// store code reaches them only through the wrappers `tenant_owned!` generates (see
// `schema.rs`). Column order must match the row structs.

diesel::table! {
    use diesel::sql_types::*;
    use super::super::{DbId, DbTime};

    tenant_settings (tenant_id) {
        tenant_id -> DbId,
        display_name -> Nullable<Text>,
        logo_url -> Nullable<Text>,
        primary_color -> Nullable<Text>,
        support_email -> Nullable<Text>,
        updated_at -> DbTime,
        support_url -> Nullable<Text>,
        locale -> Nullable<Text>,
        time_zone -> Nullable<Text>,
        security -> Text,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::super::{DbId, DbTime};

    roles (tenant_id, id) {
        tenant_id -> DbId,
        id -> DbId,
        name -> Text,
        permissions -> Text,
        system_role -> Nullable<Text>,
        created_at -> DbTime,
        updated_at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::super::{DbId, DbTime};

    memberships (tenant_id, user_id) {
        tenant_id -> DbId,
        user_id -> DbId,
        role_id -> DbId,
        status -> Text,
        created_at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::super::{DbId, DbTime};

    invitations (tenant_id, id) {
        tenant_id -> DbId,
        id -> DbId,
        email -> Text,
        email_normalized -> Text,
        role_id -> DbId,
        invited_by -> Nullable<DbId>,
        token_digest -> Text,
        created_at -> DbTime,
        expires_at -> DbTime,
        accepted_at -> Nullable<DbTime>,
        revoked_at -> Nullable<DbTime>,
        delivery -> Text,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::super::{DbId, DbTime};

    api_keys (tenant_id, id) {
        tenant_id -> DbId,
        id -> DbId,
        name -> Text,
        prefix -> Text,
        secret_digest -> Text,
        permissions -> Text,
        created_by -> DbId,
        created_at -> DbTime,
        last_used_at -> Nullable<DbTime>,
        expires_at -> Nullable<DbTime>,
        revoked_at -> Nullable<DbTime>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::super::{DbId, DbTime};

    audit_heads (tenant_id) {
        tenant_id -> DbId,
        seq -> BigInt,
        hash -> Text,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::super::{DbId, DbTime};

    audit_entries (tenant_id, seq) {
        tenant_id -> DbId,
        seq -> BigInt,
        id -> DbId,
        at -> DbTime,
        actor_type -> Text,
        actor_id -> Nullable<DbId>,
        api_key_id -> Nullable<DbId>,
        entity_type -> Text,
        entity_id -> Text,
        action -> Text,
        changes -> Text,
        request_id -> Nullable<Text>,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        prev_hash -> Text,
        hash -> Text,
        impersonator_id -> Nullable<DbId>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::super::{DbId, DbTime};

    products (tenant_id, id) {
        tenant_id -> DbId,
        id -> DbId,
        name -> Text,
        sku -> Text,
        description -> Text,
        price_minor -> BigInt,
        currency -> Text,
        status -> Text,
        created_by -> Nullable<DbId>,
        created_at -> DbTime,
        updated_at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::super::{DbId, DbTime};

    projects (tenant_id, id) {
        tenant_id -> DbId,
        id -> DbId,
        name -> Text,
        description -> Text,
        archived -> Bool,
        created_by -> Nullable<DbId>,
        created_at -> DbTime,
        updated_at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::super::{DbId, DbTime};

    tasks (tenant_id, id) {
        tenant_id -> DbId,
        id -> DbId,
        project_id -> DbId,
        title -> Text,
        notes -> Text,
        is_done -> Bool,
        due_date -> Nullable<Date>,
        assignee_id -> Nullable<DbId>,
        created_by -> Nullable<DbId>,
        created_at -> DbTime,
        updated_at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::super::{DbId, DbTime};

    events (tenant_id, id) {
        tenant_id -> DbId,
        id -> DbId,
        #[sql_name = "type"]
        event_type -> Text,
        occurred_at -> DbTime,
        payload -> Text,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::super::{DbId, DbTime};

    webhook_endpoints (tenant_id, id) {
        tenant_id -> DbId,
        id -> DbId,
        url -> Text,
        description -> Text,
        event_types -> Text,
        match_keys -> Text,
        disabled_reason -> Nullable<Text>,
        headers -> Text,
        rate_limit -> Nullable<Integer>,
        secret -> Text,
        previous_secret -> Nullable<Text>,
        previous_secret_expires_at -> Nullable<DbTime>,
        secret_rotated_at -> Nullable<DbTime>,
        failing_since -> Nullable<DbTime>,
        created_at -> DbTime,
        updated_at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::super::{DbId, DbTime};

    webhook_attempts (tenant_id, id) {
        tenant_id -> DbId,
        id -> DbId,
        endpoint_id -> DbId,
        event_id -> DbId,
        event_type -> Text,
        attempt -> Integer,
        trigger -> Text,
        succeeded -> Bool,
        status_code -> Nullable<Integer>,
        duration_ms -> Integer,
        response_body -> Nullable<Text>,
        error -> Nullable<Text>,
        attempted_at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::super::{DbId, DbTime};

    tenant_quotas (tenant_id, resource) {
        tenant_id -> DbId,
        resource -> Text,
        limit_value -> Nullable<BigInt>,
        used -> BigInt,
        overridden -> Bool,
        updated_at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::super::{DbId, DbTime};

    usage_events (tenant_id, transaction_id) {
        tenant_id -> DbId,
        transaction_id -> Text,
        metric -> Text,
        occurred_at -> DbTime,
        day -> Text,
        value -> Nullable<Double>,
        unique_key -> Nullable<Text>,
        properties -> Text,
        received_at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::super::{DbId, DbTime};

    usage_rollups (tenant_id, metric, day, shard) {
        tenant_id -> DbId,
        metric -> Text,
        day -> Text,
        shard -> SmallInt,
        events -> BigInt,
        total -> Nullable<Double>,
        maximum -> Nullable<Double>,
        latest_at -> DbTime,
        latest_id -> Text,
        latest -> Nullable<Double>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::super::DbId;

    usage_uniques (tenant_id, metric, period, unique_key) {
        tenant_id -> DbId,
        metric -> Text,
        period -> Text,
        unique_key -> Text,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::super::{DbId, DbTime};

    sso_providers (tenant_id, id) {
        tenant_id -> DbId,
        id -> DbId,
        name -> Text,
        issuer -> Text,
        client_id -> Text,
        client_secret -> Text,
        scopes -> Text,
        allowed_domains -> Text,
        redirect_uris -> Text,
        default_role -> Text,
        jit -> Bool,
        enforce -> Bool,
        created_at -> DbTime,
        updated_at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::super::{DbId, DbTime};

    scim_tokens (tenant_id, id) {
        tenant_id -> DbId,
        id -> DbId,
        name -> Text,
        digest -> Text,
        default_role -> Text,
        created_by -> Nullable<DbId>,
        created_at -> DbTime,
        last_used_at -> Nullable<DbTime>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::super::{DbId, DbTime};

    scim_users (tenant_id, id) {
        tenant_id -> DbId,
        id -> DbId,
        user_name -> Text,
        user_name_key -> Text,
        external_id -> Nullable<Text>,
        display_name -> Nullable<Text>,
        given_name -> Nullable<Text>,
        family_name -> Nullable<Text>,
        formatted_name -> Nullable<Text>,
        emails -> Text,
        active -> Nullable<Bool>,
        user_id -> Nullable<DbId>,
        created_at -> DbTime,
        updated_at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::super::{DbId, DbTime};

    tenant_smtp (tenant_id) {
        tenant_id -> DbId,
        host -> Text,
        port -> Integer,
        tls -> Text,
        username -> Nullable<Text>,
        password -> Nullable<Text>,
        from_address -> Text,
        from_name -> Nullable<Text>,
        created_at -> DbTime,
        updated_at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::super::{DbId, DbTime};

    files (tenant_id, id) {
        tenant_id -> DbId,
        id -> DbId,
        name -> Text,
        content_type -> Text,
        size -> BigInt,
        sha256 -> Text,
        created_by -> Nullable<DbId>,
        created_at -> DbTime,
        location -> Nullable<DbId>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::super::{DbId, DbTime};

    tenant_buckets (tenant_id, id) {
        tenant_id -> DbId,
        id -> DbId,
        endpoint -> Nullable<Text>,
        region -> Text,
        bucket -> Text,
        access_key_id -> Text,
        secret -> Text,
        is_current -> Bool,
        created_at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::super::{DbId, DbTime};

    product_images (tenant_id, product_id, file_id) {
        tenant_id -> DbId,
        product_id -> DbId,
        file_id -> DbId,
        position -> Integer,
        attached_at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::super::{DbId, DbTime};

    exports (tenant_id, id) {
        tenant_id -> DbId,
        id -> DbId,
        status -> Text,
        recipients -> Text,
        requested_by -> Nullable<DbId>,
        created_at -> DbTime,
        started_at -> Nullable<DbTime>,
        completed_at -> Nullable<DbTime>,
        expires_at -> Nullable<DbTime>,
        rows_written -> BigInt,
        files_written -> BigInt,
        size -> Nullable<BigInt>,
        sha256 -> Nullable<Text>,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::super::{DbId, DbTime};

    backups (tenant_id, id) {
        tenant_id -> DbId,
        id -> DbId,
        created_at -> DbTime,
        size -> BigInt,
        sha256 -> Text,
        row_count -> BigInt,
        file_count -> BigInt,
        identity -> Nullable<Text>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::super::{DbId, DbTime};

    tenant_deletions (tenant_id) {
        tenant_id -> DbId,
        requested_by -> Nullable<DbId>,
        requested_at -> DbTime,
        purge_after -> DbTime,
        purge_started_at -> Nullable<DbTime>,
    }
}
