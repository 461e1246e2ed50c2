// Included by `schema.rs` into `pg` and `sqlite`, where `DbId` and `DbTime` are defined.
// Column order must match the row structs (`Queryable` loads by position).

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
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::{DbId, DbTime};

    tenant_settings (tenant_id) {
        tenant_id -> DbId,
        display_name -> Nullable<Text>,
        logo_url -> Nullable<Text>,
        primary_color -> Nullable<Text>,
        support_email -> Nullable<Text>,
        updated_at -> DbTime,
    }
}

diesel::joinable!(domains -> tenants (tenant_id));
diesel::joinable!(tenant_settings -> tenants (tenant_id));
diesel::joinable!(refresh_tokens -> users (user_id));
diesel::joinable!(memberships -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(
    tenants,
    domains,
    tenant_settings,
    users,
    refresh_tokens,
    roles,
    memberships,
    invitations,
    api_keys
);

diesel::table! {
    platform_changes (id) {
        id -> Integer,
        tenancy_version -> BigInt,
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
    use super::{DbId, DbTime};

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
    use super::{DbId, DbTime};

    invitations (tenant_id, id) {
        tenant_id -> DbId,
        id -> DbId,
        email -> Text,
        email_normalized -> Text,
        role_id -> DbId,
        invited_by -> DbId,
        token_digest -> Text,
        created_at -> DbTime,
        expires_at -> DbTime,
        accepted_at -> Nullable<DbTime>,
        revoked_at -> Nullable<DbTime>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::{DbId, DbTime};

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
    use super::{DbId, DbTime};

    platform_admins (user_id) {
        user_id -> DbId,
        created_at -> DbTime,
    }
}
