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
diesel::allow_tables_to_appear_in_same_query!(tenants, domains, tenant_settings);

diesel::table! {
    platform_changes (id) {
        id -> Integer,
        tenancy_version -> BigInt,
    }
}
