//! The permission of every member-only operation, declared beside its handler:
//!
//! ```text
//! #[utoipa::path(extensions(("x-permission" = json!("products:read"))), …)]
//! #[get("")] // in the scope "/api/v1/products"
//! pub async fn list_products(m: Member, …)
//! ```
//!
//! The OpenAPI document carries the declaration (`x-permission`); at start-up [`RoutePermissions`]
//! is built from it, and the server does not start when a member-only operation (one that
//! documents `not_a_member`) names no permission, or one the catalogue lacks. The guard reads
//! the same table, so no route can reach it without a permission.

use std::collections::HashMap;

use tenantry_rbac::Permission;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::{OpenApi, RefOr};

/// The extension naming an operation's permission.
pub const EXTENSION: &str = "x-permission";

/// The extension naming the plan feature an operation needs (see `crate::entitlements`).
pub const FEATURE: &str = "x-feature";

/// Route pattern → method → the permission the guard requires and the plan feature, if any
/// (looked up without allocating: the guard asks on every member-only request).
pub struct RoutePermissions(HashMap<String, HashMap<&'static str, (Permission, Option<String>)>>);

fn operations(item: &PathItem) -> [(&'static str, Option<&Operation>); 5] {
    [
        ("GET", item.get.as_ref()),
        ("POST", item.post.as_ref()),
        ("PUT", item.put.as_ref()),
        ("PATCH", item.patch.as_ref()),
        ("DELETE", item.delete.as_ref()),
    ]
}

pub(crate) fn operations_mut(item: &mut PathItem) -> [Option<&mut Operation>; 5] {
    [
        item.get.as_mut(),
        item.post.as_mut(),
        item.put.as_mut(),
        item.patch.as_mut(),
        item.delete.as_mut(),
    ]
}

/// The permission an operation declares (its name, as written).
fn declared(op: &Operation) -> Option<&str> {
    op.extensions.as_ref()?.get(EXTENSION)?.as_str()
}

/// Whether the operation is for members only: it documents the guard's `not_a_member`.
fn member_only(op: &Operation) -> bool {
    matches!(
        op.responses.responses.get("403"),
        Some(RefOr::T(r)) if r.description.contains("not_a_member")
    )
}

impl RoutePermissions {
    /// Every declared permission, checked: an error names each member-only operation
    /// without one and each unknown permission.
    pub fn from_spec(api: &OpenApi) -> Result<Self, String> {
        let mut table: HashMap<String, HashMap<&'static str, (Permission, Option<String>)>> =
            HashMap::new();
        let mut problems = Vec::new();
        for (path, item) in &api.paths.paths {
            for (method, op) in operations(item) {
                let Some(op) = op else { continue };
                match (declared(op), member_only(op)) {
                    (Some(name), _) => match Permission::parse(name) {
                        Ok(p) => {
                            let feature = op
                                .extensions
                                .as_ref()
                                .and_then(|e| e.get(FEATURE))
                                .and_then(|f| f.as_str())
                                .map(str::to_owned);
                            table
                                .entry(path.clone())
                                .or_default()
                                .insert(method, (p, feature));
                        }
                        Err(e) => problems.push(format!("{method} {path}: {e}")),
                    },
                    (None, true) => problems.push(format!(
                        "{method} {path} is for members but declares no {EXTENSION}"
                    )),
                    (None, false) => {}
                }
            }
        }
        if problems.is_empty() {
            Ok(Self(table))
        } else {
            Err(problems.join("; "))
        }
    }

    /// The permission a route needs, by method and route pattern.
    pub fn get(&self, method: &str, pattern: &str) -> Option<Permission> {
        self.0.get(pattern)?.get(method).map(|(p, _)| *p)
    }

    /// The plan feature a route needs, if it declares one.
    pub fn feature(&self, method: &str, pattern: &str) -> Option<&str> {
        self.0.get(pattern)?.get(method)?.1.as_deref()
    }
}

/// Names each member-only operation's permission in its description, and declares the header
/// that names its tenant and the API key that may stand for a member.
pub(crate) fn document(api: &mut OpenApi) {
    for item in api.paths.paths.values_mut() {
        for op in operations_mut(item).into_iter().flatten() {
            let Some(permission) = declared(op).map(str::to_owned) else {
                continue;
            };
            // Every tenant route takes the tenant from the host, else from this header.
            op.parameters
                .get_or_insert_with(Vec::new)
                .insert(0, RefOr::T(crate::tenant_header()));
            let mut note =
                format!("**Permission:** `{permission}` (members only: `not_a_member` otherwise).");
            if let Some(feature) = op
                .extensions
                .as_ref()
                .and_then(|e| e.get(FEATURE))
                .and_then(|f| f.as_str())
            {
                note.push_str(&format!(
                    " **Plan feature:** `{feature}` (`feature_not_in_plan` otherwise)."
                ));
            }
            op.description = Some(match op.description.take() {
                Some(d) => format!("{d}\n\n{note}"),
                None => note,
            });
            // Members use their access token; machines an API key with the permission.
            op.security.get_or_insert_with(Vec::new).push(
                utoipa::openapi::security::SecurityRequirement::new(
                    "api_key",
                    Vec::<String>::new(),
                ),
            );
        }
    }
}

/// A permission of the catalogue, as request bodies name them: the OpenAPI schema is the
/// catalogue's names as an enum, so clients and fuzzers know every valid value.
pub struct PermissionName;

impl utoipa::PartialSchema for PermissionName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "A permission of the catalogue (`GET /api/v1/permissions`).",
            ))
            .enum_values(Some(tenantry_rbac::CATALOGUE.iter().map(|(name, _)| *name)))
            .into()
    }
}

impl utoipa::ToSchema for PermissionName {}
