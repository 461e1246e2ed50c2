//! The served OpenAPI document: valid, complete, and equal to the checked-in copy.

use std::collections::BTreeSet;

use serde_json::Value;
use tenantry_tests::app_tests;

const CHECKED_IN: &str = include_str!("../../openapi/openapi.json");

/// Every `$ref` in the document points at a component that exists.
fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(r.clone());
            }
            m.values().for_each(|v| refs(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[test]
fn checked_in_spec_matches_the_code() {
    let generated = tenantry_http::openapi_json(&tenantry_http::openapi());
    assert!(
        generated == CHECKED_IN,
        "openapi/openapi.json is stale: run `cargo run -- openapi > openapi/openapi.json` (or `just openapi`)"
    );
}

app_tests! {
    async fn served_spec_is_valid_and_complete(app) {
        let res = app.get("/openapi.json").send().await.unwrap();
        assert_eq!(res.status(), 200);
        let text = res.text().await.unwrap();
        assert_eq!(text, CHECKED_IN, "served document equals the checked-in one");
        let spec: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(spec["openapi"], "3.1.0");
        assert_eq!(spec["info"]["title"], "Tenantry");

        let paths: BTreeSet<&str> = spec["paths"].as_object().unwrap().keys().map(String::as_str).collect();
        let expected: BTreeSet<&str> = [
            "/healthz",
            "/readyz",
            "/.well-known/jwks.json",
            "/api/v1/auth/login",
            "/api/v1/auth/refresh",
            "/api/v1/auth/logout",
            "/api/v1/auth/me",
            "/api/v1/auth/password",
            "/api/v1/auth/tenants",
            "/api/v1/auth/sessions",
            "/api/v1/auth/sessions/{id}",
            "/api/v1/auth/mfa",
            "/api/v1/auth/mfa/totp",
            "/api/v1/auth/mfa/totp/confirm",
            "/api/v1/auth/mfa/totp/disable",
            "/api/v1/auth/mfa/recovery-codes",
            "/api/v1/auth/mfa/verify",
            "/api/v1/auth/sso/exchange",
            "/api/v1/sso/providers",
            "/api/v1/sso/providers/{id}",
            "/api/v1/sso/{provider_id}/authorize",
            "/api/v1/sso/callback",
            "/api/v1/scim/tokens",
            "/api/v1/settings/deletion",
            "/api/v1/settings/smtp",
            "/api/v1/settings/smtp/test",
            "/api/v1/scim/tokens/{id}",
            "/api/v1/onboard",
            "/api/v1/permissions",
            "/api/v1/members",
            "/api/v1/members/{user_id}",
            "/api/v1/roles",
            "/api/v1/roles/{role_id}",
            "/api/v1/api-keys",
            "/api/v1/api-keys/{id}",
            "/api/v1/webhooks",
            "/api/v1/webhooks/{id}",
            "/api/v1/webhooks/{id}/rotate-secret",
            "/api/v1/webhooks/{id}/attempts",
            "/api/v1/webhooks/{id}/stats",
            "/api/v1/webhooks/{id}/events/{event_id}/resend",
            "/api/v1/webhooks/{id}/recover",
            "/api/v1/webhooks/{id}/test",
            "/api/v1/events/{id}/attempts",
            "/api/v1/invitations",
            "/api/v1/invitations/{id}",
            "/api/v1/invitations/{id}/resend",
            "/api/v1/invitations/lookup/{token}",
            "/api/v1/invitations/accept/{token}",
            "/api/v1/tenant",
            "/api/v1/products",
            "/api/v1/products/{id}",
            "/api/v1/products/{id}/images",
            "/api/v1/products/{id}/images/{file_id}",
            "/api/v1/products/bulk-import",
            "/api/v1/files",
            "/api/v1/files/{id}",
            "/api/v1/files/{id}/content",
            "/api/v1/files/{id}/link",
            "/api/v1/exports",
            "/api/v1/exports/{id}",
            "/api/v1/exports/{id}/download",
            "/api/v1/settings/storage",
            "/api/v1/platform/tenants/{tenant}/storage",
            "/api/v1/platform/tenants/{tenant}/deletion",
            "/api/v1/platform/purges",
            "/api/v1/audit-logs",
            "/api/v1/projects",
            "/api/v1/projects/{id}",
            "/api/v1/projects/{id}/tasks",
            "/api/v1/tasks/{id}",
            "/api/v1/tasks/{id}/toggle",
            "/api/v1/search",
            "/api/v1/auth/me/security-events",
            "/api/v1/platform/security-events",
            "/api/v1/audit-logs/verify",
            "/api/v1/events",
            "/api/v1/events/{id}",
            "/api/v1/event-types",
            "/api/v1/platform/jobs",
            "/api/v1/platform/impersonations",
            "/api/v1/platform/tenants",
            "/api/v1/platform/tenants/import",
            "/api/v1/platform/tenants/bulk",
            "/api/v1/platform/tenants/{tenant}",
            "/api/v1/platform/tenants/{tenant}/suspend",
            "/api/v1/platform/users/{user_id}",
            "/api/v1/platform/users/{user_id}/disable",
            "/api/v1/platform/users/{user_id}/enable",
            "/api/v1/plans",
            "/api/v1/billing/subscription",
            "/api/v1/billing/change-plan",
            "/api/v1/quotas",
            "/api/v1/billing/webhooks/stripe",
            "/api/v1/usage-events",
            "/api/v1/usage",
            "/api/v1/platform/metrics",
            "/api/v1/platform/usage",
            "/api/v1/platform/plans",
            "/api/v1/platform/plans/{code}",
            "/api/v1/platform/tenants/{tenant}/subscription",
            "/api/v1/platform/tenants/{tenant}/change-plan",
            "/api/v1/platform/tenants/{tenant}/quotas",
            "/api/v1/platform/tenants/{tenant}/quotas/{resource}",
            "/api/v1/platform/tenants/{tenant}/resume",
            "/api/v1/platform/tenants/{tenant}/maintenance",
            "/api/v1/platform/tenants/{tenant}/domains",
            "/api/v1/platform/tenants/{tenant}/domains/{hostname}/verify",
            "/api/v1/platform/tenants/{tenant}/domains/{hostname}/primary",
            "/api/v1/platform/tenants/{tenant}/branding",
            "/api/v1/settings",
            "/api/v1/domains",
            "/api/v1/domains/{hostname}",
            "/api/v1/domains/{hostname}/verify",
            "/api/v1/domains/{hostname}/primary",
        ]
        .into();
        assert_eq!(paths, expected);

        let mut operation_ids = BTreeSet::new();
        for (path, item) in spec["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has no operationId"));
                assert!(operation_ids.insert(id.to_owned()), "duplicate operationId {id}");
                assert!(op["tags"].as_array().is_some_and(|t| !t.is_empty()), "{method} {path} has no tag");
                assert!(op["summary"].is_string() || op["description"].is_string(), "{method} {path} undocumented");
                let responses = op["responses"].as_object().unwrap();
                for (status, r) in responses {
                    assert!(r["description"].is_string(), "{method} {path} {status} has no description");
                }
                for name in path.split('/').filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}'))) {
                    let declared = op["parameters"].as_array().into_iter().flatten().any(|p| {
                        p["name"] == name && p["in"] == "path" && p["required"] == true && p["schema"].is_object()
                    });
                    assert!(declared, "{method} {path} does not declare path parameter {name}");
                }
                // A browser's way through (SSO) succeeds by redirecting.
                assert!(responses.keys().any(|s| s.starts_with('2') || s.starts_with('3')), "{method} {path} has no success response");
                for (status, r) in responses {
                    if status.starts_with('4') || status.starts_with('5') {
                        assert!(
                            r["content"]["application/problem+json"].is_object(),
                            "{method} {path} {status} is not documented as a problem"
                        );
                    }
                }
                if path.starts_with("/api/v1/auth/") && !["/api/v1/auth/login", "/api/v1/auth/refresh", "/api/v1/auth/logout", "/api/v1/auth/mfa/verify", "/api/v1/auth/sso/exchange"].contains(&path.as_str()) {
                    assert!(op["security"].is_array(), "{method} {path} does not declare the bearer token");
                    assert!(responses.contains_key("401"), "{method} {path} does not document 401");
                }
                if path.starts_with("/api/v1/platform/") {
                    assert!(op["security"].is_array(), "{method} {path} does not declare the operator token");
                    assert!(responses.contains_key("401"), "{method} {path} does not document 401");
                }
                let schemes: Vec<&str> = op["security"].as_array().into_iter().flatten().filter_map(Value::as_object).flat_map(|o| o.keys().map(String::as_str)).collect();
                let mut unique = schemes.clone();
                unique.sort_unstable();
                unique.dedup();
                assert_eq!(schemes.len(), unique.len(), "{method} {path} lists a security scheme twice");
                // Everything under /api/v1 but sign-up, accounts, invitation tokens, the
                // catalogue, the price list, the public tenant card and platform administration is for members
                // of the tenant, and says so (the guard-rail tests find tenant operations this way).
                let not_for_members = path.starts_with("/api/v1/auth/")
                    || path == "/api/v1/sso/callback"
                    || path == "/api/v1/sso/{provider_id}/authorize"
                    || path.starts_with("/api/v1/platform/")
                    || path.starts_with("/api/v1/invitations/lookup/")
                    || path.starts_with("/api/v1/invitations/accept/")
                    || ["/api/v1/onboard", "/api/v1/permissions", "/api/v1/event-types", "/api/v1/tenant", "/api/v1/plans", "/api/v1/billing/webhooks/stripe"].contains(&path.as_str());
                if path.starts_with("/api/v1/") && !not_for_members {
                    assert!(responses["403"].to_string().contains("not_a_member"), "{method} {path} does not document not_a_member");
                    assert!(schemes.contains(&"api_key"), "{method} {path} does not accept an API key");
                }
            }
        }

        let mut all = vec![];
        refs(&spec, &mut all);
        assert!(!all.is_empty());
        for r in all {
            let name = r.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("unexpected ref {r}"));
            assert!(spec["components"]["schemas"][name].is_object(), "dangling $ref {r}");
        }
        assert!(spec["components"]["securitySchemes"]["operator_token"].is_object());
        assert_eq!(spec["components"]["securitySchemes"]["bearer_token"]["bearerFormat"], "JWT");
    }

    async fn docs_serve_swagger_ui(app) {
        let res = app.get("/docs").send().await.unwrap();
        assert_eq!(res.status(), 308);
        assert_eq!(res.headers().get("location").unwrap(), "/docs/");
        let res = app.get("/docs/").send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert!(res.headers().get("content-type").unwrap().to_str().unwrap().starts_with("text/html"));
        let html = res.text().await.unwrap();
        assert!(html.contains("swagger-ui"), "Swagger UI page");
        let res = app.get("/docs/swagger-initializer.js").send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert!(res.text().await.unwrap().contains("/openapi.json"), "UI points at our spec");
        let res = app.get("/docs/swagger-ui-bundle.js").send().await.unwrap();
        assert_eq!(res.status(), 200, "assets are embedded");
    }
}
