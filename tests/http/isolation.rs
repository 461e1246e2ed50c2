//! The cross-tenant guard rail: every member-only operation in the OpenAPI spec is replayed
//! by tenant B against tenant A — B's member with A's ids (path and body), B's token on A's
//! host, B's API key on A's host — expecting 404/403/401 and A's data unchanged. An
//! operation this file does not know how to exercise fails the test.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{Value, json};
use tenantry_tests::{TestApp, app_tests, problem};

const PASSWORD: &str = "correct horse battery";

/// A's ids, by placeholder.
type Ids = BTreeMap<&'static str, String>;

struct Plan {
    /// Query string to add (search needs one), with `$placeholders` for A's ids.
    query: &'static str,
    /// Body with `$placeholders` for A's ids.
    body: Option<Value>,
}

/// How to exercise each member-only operation. A new operation must be added here.
fn plans() -> BTreeMap<(&'static str, &'static str), Plan> {
    let none = |query| Plan { query, body: None };
    let body = |b: Value| Plan {
        query: "",
        body: Some(b),
    };
    BTreeMap::from([
        (("GET", "/api/v1/members"), none("")),
        (
            ("PATCH", "/api/v1/members/{user_id}"),
            body(json!({"role_id": "$role"})),
        ),
        (("DELETE", "/api/v1/members/{user_id}"), none("")),
        (("GET", "/api/v1/roles"), none("")),
        (
            ("POST", "/api/v1/roles"),
            body(json!({"name": "intruder", "permissions": ["tenant:read"]})),
        ),
        (
            ("PATCH", "/api/v1/roles/{role_id}"),
            body(json!({"name": "hijacked"})),
        ),
        (("DELETE", "/api/v1/roles/{role_id}"), none("")),
        (
            ("POST", "/api/v1/invitations"),
            body(json!({"email": "intruder@example.test", "role": "viewer"})),
        ),
        (("GET", "/api/v1/invitations"), none("")),
        (("POST", "/api/v1/invitations/{id}/resend"), none("")),
        (("DELETE", "/api/v1/invitations/{id}"), none("")),
        (
            ("POST", "/api/v1/api-keys"),
            body(json!({"name": "intruder", "permissions": []})),
        ),
        (("GET", "/api/v1/api-keys"), none("")),
        (("DELETE", "/api/v1/api-keys/{id}"), none("")),
        (("GET", "/api/v1/webhooks"), none("")),
        (
            ("POST", "/api/v1/webhooks"),
            body(json!({"url": "https://intruder.example.com/hook"})),
        ),
        (("GET", "/api/v1/webhooks/{id}"), none("")),
        (
            ("PATCH", "/api/v1/webhooks/{id}"),
            body(json!({"description": "hijacked", "enabled": true})),
        ),
        (("DELETE", "/api/v1/webhooks/{id}"), none("")),
        (("POST", "/api/v1/webhooks/{id}/rotate-secret"), none("")),
        (
            ("GET", "/api/v1/webhooks/{id}/attempts"),
            none("?status=failed"),
        ),
        (("GET", "/api/v1/webhooks/{id}/stats"), none("")),
        (
            ("POST", "/api/v1/webhooks/{id}/events/{event_id}/resend"),
            none(""),
        ),
        (
            ("POST", "/api/v1/webhooks/{id}/recover"),
            body(json!({"since": "2020-01-01T00:00:00Z"})),
        ),
        (("POST", "/api/v1/webhooks/{id}/test"), none("")),
        (("GET", "/api/v1/events/{id}/attempts"), none("")),
        (("GET", "/api/v1/products"), none("?q=zanzibar")),
        (
            ("POST", "/api/v1/products"),
            body(json!({"name": "Intruder", "sku": "ZZ-1", "price_minor": 1, "currency": "EUR"})),
        ),
        (
            ("POST", "/api/v1/products/bulk-import"),
            body(json!([{"name": "Intruder", "sku": "ZZ-2", "price_minor": 1, "currency": "EUR"}])),
        ),
        (("GET", "/api/v1/products/{id}"), none("")),
        (
            ("PATCH", "/api/v1/products/{id}"),
            body(json!({"name": "hijacked"})),
        ),
        (("DELETE", "/api/v1/products/{id}"), none("")),
        (("GET", "/api/v1/products/{id}/images"), none("")),
        (
            ("POST", "/api/v1/products/{id}/images"),
            body(json!({"file_id": "$file"})),
        ),
        (
            ("DELETE", "/api/v1/products/{id}/images/{file_id}"),
            none(""),
        ),
        (("GET", "/api/v1/files"), none("?content_type=image/*")),
        // JSON, not the multipart an upload is: B's own upload is refused (415); A's host
        // refuses B before the body is read.
        (("POST", "/api/v1/files"), body(json!({"file": "intruder"}))),
        (("GET", "/api/v1/files/{id}"), none("")),
        (("GET", "/api/v1/files/{id}/content"), none("")),
        (("GET", "/api/v1/files/{id}/link"), none("")),
        (("DELETE", "/api/v1/files/{id}"), none("")),
        (("GET", "/api/v1/settings/storage"), none("")),
        // B's own export of B: nothing of A's in it.
        (("POST", "/api/v1/exports"), body(json!({}))),
        (("GET", "/api/v1/exports"), none("")),
        (("GET", "/api/v1/exports/{id}"), none("")),
        (("GET", "/api/v1/exports/{id}/download"), none("")),
        // B's own bucket settings, checked against a host that does not exist: refused.
        (
            ("PUT", "/api/v1/settings/storage"),
            body(
                json!({"endpoint": "https://intruder.invalid", "bucket": "intruder",
                "access_key_id": "intruder", "secret_access_key": "intruder"}),
            ),
        ),
        (("DELETE", "/api/v1/settings/storage"), none("")),
        (("GET", "/api/v1/projects"), none("?q=zanzibar")),
        (
            ("POST", "/api/v1/projects"),
            body(json!({"name": "Intruder"})),
        ),
        (("GET", "/api/v1/projects/{id}"), none("")),
        (
            ("PATCH", "/api/v1/projects/{id}"),
            body(json!({"name": "hijacked"})),
        ),
        (("DELETE", "/api/v1/projects/{id}"), none("")),
        (("GET", "/api/v1/projects/{id}/tasks"), none("")),
        (
            ("POST", "/api/v1/projects/{id}/tasks"),
            body(json!({"title": "Intruder", "assignee_id": "$user"})),
        ),
        (("GET", "/api/v1/tasks/{id}"), none("")),
        (
            ("PATCH", "/api/v1/tasks/{id}"),
            body(json!({"title": "hijacked", "project_id": "$project"})),
        ),
        (("DELETE", "/api/v1/tasks/{id}"), none("")),
        (("POST", "/api/v1/tasks/{id}/toggle"), none("")),
        (("GET", "/api/v1/search"), none("?q=zanzibar")),
        (
            ("GET", "/api/v1/audit-logs"),
            none("?limit=100&actor_id=$user"),
        ),
        (("GET", "/api/v1/audit-logs/verify"), none("")),
        (("GET", "/api/v1/events"), none("?limit=100&type=product.*")),
        (("GET", "/api/v1/events/{id}"), none("")),
        (("GET", "/api/v1/billing/subscription"), none("")),
        // B stays on its plan (another plan would close B's own webhook routes).
        (
            ("POST", "/api/v1/billing/change-plan"),
            body(json!({"plan": "enterprise"})),
        ),
        (("GET", "/api/v1/quotas"), none("")),
        (
            ("POST", "/api/v1/usage-events"),
            body(
                json!({"events": [{"transaction_id": "intruder-1", "metric": "api_calls", "timestamp": "2026-01-01T00:00:00Z", "properties": {"calls": 1}}]}),
            ),
        ),
        (("GET", "/api/v1/usage"), none("?metric=api_calls")),
        (("GET", "/api/v1/settings"), none("")),
        // B changes its own settings, harmlessly.
        (
            ("PATCH", "/api/v1/settings"),
            body(json!({"branding": {"display_name": "Beta renamed"}})),
        ),
        (("GET", "/api/v1/domains"), none("")),
        (
            ("POST", "/api/v1/domains"),
            body(json!({"hostname": "intruder.example.org"})),
        ),
        (("GET", "/api/v1/domains/{hostname}"), none("")),
        (("DELETE", "/api/v1/domains/{hostname}"), none("")),
        (("POST", "/api/v1/domains/{hostname}/verify"), none("")),
        (("POST", "/api/v1/domains/{hostname}/primary"), none("")),
        (("GET", "/api/v1/sso/providers"), none("")),
        (
            ("POST", "/api/v1/sso/providers"),
            body(sso_provider("http://127.0.0.1:9")),
        ),
        (("GET", "/api/v1/sso/providers/{id}"), none("")),
        (
            ("PUT", "/api/v1/sso/providers/{id}"),
            body(sso_provider("http://127.0.0.1:9")),
        ),
        (("DELETE", "/api/v1/sso/providers/{id}"), none("")),
        (("GET", "/api/v1/settings/smtp"), none("")),
        // B sets and removes its own mail server, harmlessly.
        (
            ("PUT", "/api/v1/settings/smtp"),
            body(
                json!({"host": "mx.intruder.test", "from_address": "x@intruder.test", "tls": "none"}),
            ),
        ),
        (
            ("POST", "/api/v1/settings/smtp/test"),
            body(json!({"to": "victim@acme.test"})),
        ),
        (("DELETE", "/api/v1/settings/smtp"), none("")),
        // B's owner asks for B's deletion naming A: the slug is not B's, nothing is written.
        (
            ("POST", "/api/v1/settings/deletion"),
            body(json!({"slug": "acme", "password": PASSWORD})),
        ),
        (("GET", "/api/v1/settings/deletion"), none("")),
        (("DELETE", "/api/v1/settings/deletion"), none("")),
        (("GET", "/api/v1/scim/tokens"), none("")),
        (
            ("POST", "/api/v1/scim/tokens"),
            body(json!({"name": "Intruder directory"})),
        ),
        (("DELETE", "/api/v1/scim/tokens/{id}"), none("")),
    ])
}

fn sso_provider(issuer: &str) -> Value {
    json!({
        "name": "Intruder IdP", "issuer": issuer, "client_id": "intruder", "client_secret": "x",
        "allowed_domains": ["intruder.test"], "redirect_uris": ["https://intruder.test/cb"],
    })
}

/// Which of A's ids a path's `{param}` stands for.
fn path_id(path: &str, ids: &Ids) -> String {
    let kind = if path.contains("{user_id}") {
        "$user"
    } else if path.contains("{role_id}") {
        "$role"
    } else if path.starts_with("/api/v1/products/") {
        "$product"
    } else if path.starts_with("/api/v1/projects/") {
        "$project"
    } else if path.starts_with("/api/v1/tasks/") {
        "$task"
    } else if path.starts_with("/api/v1/invitations/") {
        "$invitation"
    } else if path.starts_with("/api/v1/api-keys/") {
        "$api_key"
    } else if path.starts_with("/api/v1/events/") {
        "$event"
    } else if path.starts_with("/api/v1/webhooks/") {
        "$webhook"
    } else if path.starts_with("/api/v1/domains/") {
        "$domain"
    } else if path.starts_with("/api/v1/sso/providers/") {
        "$sso_provider"
    } else if path.starts_with("/api/v1/scim/tokens/") {
        "$scim_token"
    } else if path.starts_with("/api/v1/files/") {
        "$file"
    } else if path.starts_with("/api/v1/exports/") {
        "$export"
    } else {
        panic!("no id kind for {path}")
    };
    ids[kind].clone()
}

fn fill(v: &Value, ids: &Ids) -> Value {
    match v {
        Value::String(s) if s.starts_with('$') => Value::String(ids[s.as_str()].clone()),
        Value::Array(a) => Value::Array(a.iter().map(|x| fill(x, ids)).collect()),
        Value::Object(o) => {
            Value::Object(o.iter().map(|(k, x)| (k.clone(), fill(x, ids))).collect())
        }
        other => other.clone(),
    }
}

fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    tenant: &str,
    credential: &str,
    body: Option<&Value>,
) -> reqwest::RequestBuilder {
    let mut req = app
        .request(Method::from_bytes(method.as_bytes()).unwrap(), path)
        .header("X-Tenant-ID", tenant);
    req = if credential.starts_with("tnt_") {
        req.header("X-API-Key", credential)
    } else {
        req.bearer_auth(credential)
    };
    match body {
        Some(b) => req.json(b),
        None => req,
    }
}

async fn json_of(app: &TestApp, path: &str, token: &str) -> Value {
    let res = call(app, "GET", path, "acme", token, None)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{path}");
    res.json().await.unwrap()
}

/// Everything A's owner can see of A, and A's row count in every tenant-owned table.
async fn snapshot(app: &TestApp, token: &str, ids: &Ids, tenant: &str) -> Value {
    let mut seen = serde_json::Map::new();
    for path in [
        "/api/v1/products?limit=100".to_owned(),
        format!("/api/v1/products/{}/images", ids["$product"]),
        "/api/v1/files?limit=100".to_owned(),
        format!("/api/v1/files/{}", ids["$file"]),
        "/api/v1/projects?limit=100".to_owned(),
        format!("/api/v1/projects/{}/tasks?limit=100", ids["$project"]),
        "/api/v1/roles".to_owned(),
        "/api/v1/members".to_owned(),
        "/api/v1/invitations".to_owned(),
        "/api/v1/api-keys".to_owned(),
        "/api/v1/webhooks".to_owned(),
        format!("/api/v1/webhooks/{}", ids["$webhook"]),
        format!("/api/v1/webhooks/{}/attempts", ids["$webhook"]),
        "/api/v1/audit-logs?limit=100".to_owned(),
        "/api/v1/audit-logs/verify".to_owned(),
        "/api/v1/events?limit=100".to_owned(),
        format!("/api/v1/events/{}", ids["$event"]),
        "/api/v1/tenant".to_owned(),
        "/api/v1/billing/subscription".to_owned(),
        "/api/v1/quotas".to_owned(),
        "/api/v1/settings".to_owned(),
        "/api/v1/domains".to_owned(),
        "/api/v1/sso/providers".to_owned(),
        format!("/api/v1/sso/providers/{}", ids["$sso_provider"]),
        "/api/v1/scim/tokens".to_owned(),
        "/api/v1/settings/smtp".to_owned(),
        "/api/v1/settings/storage".to_owned(),
        "/api/v1/exports".to_owned(),
        format!("/api/v1/exports/{}", ids["$export"]),
    ] {
        seen.insert(path.clone(), json_of(app, &path, token).await);
    }
    let db = app.db().db();
    // A's own calls here are metered into `usage_events` (and its rollups) whenever the
    // meter flushes: A's activity, not B's doing (the usage route is compared in the replay
    // itself).
    for table in db
        .tenant_tables()
        .await
        .unwrap()
        .into_iter()
        .filter(|t| !t.starts_with("usage_"))
    {
        let n = db
            .unfiltered_count(
                tenant.parse().ok(),
                &format!("{table} WHERE tenant_id = '{tenant}'"),
            )
            .await
            .unwrap();
        seen.insert(format!("rows in {table}"), json!(n));
    }
    Value::Object(seen)
}

async fn owner(app: &TestApp, slug: &str) -> (String, String, String) {
    let body = app
        .onboard(slug, &format!("owner@{slug}.test"), PASSWORD)
        .await;
    (
        body["session"]["access_token"].as_str().unwrap().to_owned(),
        body["tenant"]["id"].as_str().unwrap().to_owned(),
        body["session"]["user"]["id"].as_str().unwrap().to_owned(),
    )
}

async fn post(app: &TestApp, path: &str, tenant: &str, token: &str, body: Value) -> Value {
    let res = call(app, "POST", path, tenant, token, Some(&body))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{path}: {}", res.status());
    res.json().await.unwrap()
}

/// Rows of `tenant` in every table that has a tenant column.
async fn rows_of(app: &TestApp, tenant: &str) -> BTreeMap<String, i64> {
    let db = app.db().db();
    let mut rows = BTreeMap::new();
    for table in db.tables_with_tenant_rows().await.unwrap() {
        let n = db
            .unfiltered_count(
                tenant.parse().ok(),
                &format!("{table} WHERE tenant_id = '{tenant}'"),
            )
            .await
            .unwrap();
        rows.insert(table, n);
    }
    rows
}

/// A's history beyond [`furnish_a`]: usage reported, a webhook delivery attempted (a test
/// send to an endpoint nobody answers), and a bucket of its own (written through the store:
/// saving one over HTTP checks it against a live S3).
async fn furnish_history(app: &TestApp, token: &str, tenant: tenantry_kernel::TenantId) {
    let now = chrono::Utc::now().to_rfc3339();
    let res = app.operator(Method::POST, "/api/v1/platform/metrics").json(&json!({"code": "zanzibar_users", "name": "Users", "aggregation": "unique_count", "field": "user"})).send().await.unwrap();
    assert_eq!(res.status(), 201);
    let res = call(app, "POST", "/api/v1/usage-events", "acme", token, Some(&json!({"events": [
        {"transaction_id": "zanzibar-1", "metric": "api_calls", "timestamp": now, "properties": {"calls": 1}},
        {"transaction_id": "zanzibar-2", "metric": "zanzibar_users", "timestamp": now, "properties": {"user": "zanzibar"}},
    ]}))).send().await.unwrap();
    assert!(res.status().is_success(), "usage: {}", res.status());
    let hooks = json_of(app, "/api/v1/webhooks", token).await;
    let id = hooks["items"][0]["id"].as_str().unwrap().to_owned();
    let hook = format!("/api/v1/webhooks/{id}");
    let res = call(
        app,
        "PATCH",
        &hook,
        "acme",
        token,
        Some(&json!({"enabled": true})),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    let res = call(
        app,
        "POST",
        &format!("{hook}/test"),
        "acme",
        token,
        Some(&json!({})),
    )
    .send()
    .await
    .unwrap();
    assert!(res.status().is_success(), "webhook test: {}", res.status());
    use tenantry_files::BucketRepository;
    let ctx = tenantry_kernel::TenantCtx::for_tests(tenant);
    let bucket = tenantry_files::BucketSettings {
        id: tenantry_kernel::BucketId::new(),
        tenant_id: tenant,
        endpoint: Some("https://s3.zanzibar.example".into()),
        region: "eu-west-1".into(),
        bucket: "zanzibar".into(),
        access_key_id: "zanzibar".into(),
        created_at: chrono::Utc::now(),
    };
    app.db()
        .db()
        .save_bucket(&ctx, &bucket, "v1:not-a-real-seal")
        .await
        .unwrap();
}

/// Tenant A with one of everything; returns A's ids by placeholder.
async fn furnish_a(app: &TestApp, token: &str, user: &str) -> Ids {
    let product = post(
        app,
        "/api/v1/products",
        "acme",
        token,
        json!({"name": "Zanzibar kettle", "sku": "ACME-1", "price_minor": 100, "currency": "EUR"}),
    )
    .await;
    let project = post(
        app,
        "/api/v1/projects",
        "acme",
        token,
        json!({"name": "Zanzibar launch"}),
    )
    .await;
    let task = post(
        app,
        &format!("/api/v1/projects/{}/tasks", project["id"].as_str().unwrap()),
        "acme",
        token,
        json!({"title": "Zanzibar task", "assignee_id": user}),
    )
    .await;
    let role = post(
        app,
        "/api/v1/roles",
        "acme",
        token,
        json!({"name": "zanzibar-role", "permissions": ["tenant:read"]}),
    )
    .await;
    let invitation = post(
        app,
        "/api/v1/invitations",
        "acme",
        token,
        json!({"email": "zanzibar@acme.test", "role": "zanzibar-role"}),
    )
    .await;
    let key = post(
        app,
        "/api/v1/api-keys",
        "acme",
        token,
        json!({"name": "zanzibar-key", "permissions": ["products:read"]}),
    )
    .await;
    // Disabled: A's data stays still (no deliveries are attempted).
    let webhook = post(
        app,
        "/api/v1/webhooks",
        "acme",
        token,
        json!({"url": "https://zanzibar.example.com/hook", "description": "Zanzibar hook", "enabled": false}),
    )
    .await;
    // A custom domain, still pending (verifying it would need a DNS server here).
    let domain = post(
        app,
        "/api/v1/domains",
        "acme",
        token,
        json!({"hostname": "zanzibar.acme-corp.example"}),
    )
    .await;
    // The invitation's e-mail goes out from a job: wait for it, so that A's data stays still.
    for _ in 0..200 {
        if json_of(app, "/api/v1/invitations", token).await["items"][0]["delivery"] != "pending" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    // A mail server of A's own (after the invitation's mail, which went out already).
    let res = call(
        app,
        "PUT",
        "/api/v1/settings/smtp",
        "acme",
        token,
        Some(&json!({"host": "mx.zanzibar.example", "username": "zanzibar", "password": "zanzibar-secret",
            "from_address": "no-reply@zanzibar.example"})),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    // An SSO provider, written through the store (saving one over HTTP needs a live issuer).
    let (sso, scim) = {
        use tenantry_identity::SsoRepository;
        let tenant: tenantry_kernel::TenantId = json_of(app, "/api/v1/tenant", token).await["id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let ctx = tenantry_kernel::TenantCtx::for_request(
            &tenantry_kernel::Edges::for_tests(),
            tenant,
            tenantry_kernel::Actor::System,
            std::sync::Arc::default(),
        );
        let now = chrono::Utc::now();
        let provider = tenantry_identity::SsoProvider {
            id: tenantry_kernel::SsoProviderId::new(),
            tenant_id: tenant,
            name: "Zanzibar IdP".into(),
            issuer: "https://idp.zanzibar.example".into(),
            client_id: "zanzibar".into(),
            scopes: vec!["email".into()],
            allowed_domains: vec!["acme.test".into()],
            redirect_uris: vec!["https://app.zanzibar.example/cb".into()],
            default_role: "member".into(),
            jit: false,
            enforce: false,
            created_at: now,
            updated_at: now,
        };
        app.db()
            .db()
            .insert_sso_provider(&ctx, &provider, "v1:not-a-real-seal")
            .await
            .unwrap();
        // A SCIM token and a directory user (a token is for a plan with SSO, which A lacks).
        use tenantry_identity::ScimRepository;
        let token = tenantry_identity::ScimToken {
            id: tenantry_kernel::ScimTokenId::new(),
            tenant_id: tenant,
            name: "Zanzibar directory".into(),
            default_role: "member".into(),
            created_by: None,
            created_at: now,
            last_used_at: None,
        };
        // The app's own pool: it seals the directory user's personal fields, as the app does.
        let db = app.app_db();
        db.insert_scim_token(
            &ctx,
            &token,
            &tenantry_identity::TokenDigest("zanzibar".into()),
        )
        .await
        .unwrap();
        let record = tenantry_identity::ScimUser {
            id: tenantry_kernel::ScimUserId::new(),
            tenant_id: tenant,
            user_name: "zanzibar".into(),
            external_id: Some("zanzibar".into()),
            display_name: None,
            given_name: None,
            family_name: None,
            formatted_name: None,
            emails: vec![],
            active: Some(true),
            user_id: None,
            created_at: now,
            updated_at: now,
        };
        let write = tenantry_identity::ScimWrite {
            record,
            replacing: None,
            link: None,
            role: "member".into(),
        };
        db.write_scim_user(&ctx, &write).await.unwrap();
        (provider.id.to_string(), token.id.to_string())
    };
    // A file, attached to A's product as its image.
    let boundary = "zanzibar-boundary";
    let mut form = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"zanzibar.png\"\r\n\r\n"
    )
    .into_bytes();
    form.extend_from_slice(
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0\x90wS\xde",
    );
    form.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let res = call(app, "POST", "/api/v1/files", "acme", token, None)
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let file: Value = res.json().await.unwrap();
    post(
        app,
        &format!(
            "/api/v1/products/{}/images",
            product["id"].as_str().unwrap()
        ),
        "acme",
        token,
        json!({"file_id": file["id"]}),
    )
    .await;
    // An export of A, written by the worker before anything is compared.
    let export = post(app, "/api/v1/exports", "acme", token, json!({})).await;
    let export_path = format!("/api/v1/exports/{}", export["id"].as_str().unwrap());
    for _ in 0..300 {
        if json_of(app, &export_path, token).await["status"] == "completed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        json_of(app, &export_path, token).await["status"],
        "completed"
    );
    let events = json_of(app, "/api/v1/events?limit=1", token).await;
    let id = |v: &Value, field: &str| v[field].as_str().unwrap().to_owned();
    BTreeMap::from([
        ("$product", id(&product, "id")),
        ("$file", id(&file, "id")),
        ("$export", id(&export, "id")),
        ("$project", id(&project, "id")),
        ("$task", id(&task, "id")),
        ("$role", id(&role, "id")),
        ("$invitation", id(&invitation, "id")),
        ("$api_key", id(&key, "id")),
        ("$webhook", id(&webhook, "id")),
        ("$event", id(&events["items"][0], "id")),
        ("$user", user.to_owned()),
        ("$domain", id(&domain, "hostname")),
        ("$sso_provider", sso),
        ("$scim_token", scim),
    ])
}

app_tests! {
    // The purge's guard rail: A with a row in every tenant-owned table of the live schema,
    // deleted with no grace period; the purge's certificate counts each of those tables, and
    // afterwards no table anywhere holds a row of A. A table added later without a way to
    // furnish it here fails the first check; one the purge would leave behind, the second.
    async fn a_purge_leaves_no_row_of_the_tenant(app) with (tenantry_tests::Options {
        purge_grace: chrono::Duration::zero(),
        ..tenantry_tests::Options::default()
    }) {
        let (a_token, a_tenant, a_user) = owner(app, "acme").await;
        let (b_token, b_tenant, _) = owner(app, "beta").await;
        furnish_a(app, &a_token, &a_user).await;
        post(app, "/api/v1/products", "beta", &b_token, json!({"name": "Beta thing", "sku": "B-1", "price_minor": 1, "currency": "EUR"})).await;
        let tenant: tenantry_kernel::TenantId = a_tenant.parse().unwrap();
        let ctx = tenantry_kernel::TenantCtx::for_tests(tenant);
        // What the API does not make on demand: a backup, usage, a delivery attempt.
        app.archives.back_up(&ctx).await.unwrap();
        furnish_history(app, &a_token, tenant).await;
        let db = app.db().db();
        let mut before = BTreeMap::new();
        for table in db.tables_with_tenant_rows().await.unwrap() {
            let n = db.unfiltered_count(Some(tenant), &format!("{table} WHERE tenant_id = '{a_tenant}'")).await.unwrap();
            before.insert(table, n);
        }
        let b_before = rows_of(app, &b_tenant).await;

        let res = call(app, "POST", "/api/v1/settings/deletion", "acme", &a_token, Some(&json!({"slug": "acme", "password": PASSWORD}))).send().await.unwrap();
        assert_eq!(res.status(), 202);
        let mut purge = Value::Null;
        for _ in 0..300 {
            let page: Value = app.operator(Method::GET, "/api/v1/platform/purges").send().await.unwrap().json().await.unwrap();
            if let Some(p) = page["items"].as_array().unwrap().iter().find(|p| p["tenant_id"] == a_tenant.as_str()) {
                purge = p.clone();
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(purge.is_object(), "A was not purged");

        let empty: Vec<String> = db.tenant_tables().await.unwrap().into_iter().filter(|t| purge["rows"][t.as_str()].as_u64().unwrap_or(0) == 0).collect();
        assert!(empty.is_empty(), "no row of A in {empty:?} when it was purged: furnish them here (furnish_a, furnish_history) so that the purge is proven on them");
        // The request itself adds to the history (its audit entry, its event, deliveries).
        for (table, n) in &before {
            if *n > 0 && table != "jobs" {
                assert!(purge["rows"][table.as_str()].as_i64().unwrap_or(0) >= *n, "{table}: the certificate counts the {n} rows there were");
            }
        }
        let mut left = vec![];
        for table in db.tables_with_tenant_rows().await.unwrap() {
            let n = db.unfiltered_count(Some(tenant), &format!("{table} WHERE tenant_id = '{a_tenant}'")).await.unwrap();
            if n > 0 {
                left.push(format!("{table}: {n}"));
            }
        }
        assert!(left.is_empty(), "rows of A left after its purge: {left:?}");
        assert_eq!(rows_of(app, &b_tenant).await, b_before, "B is untouched");
    }

    async fn every_tenant_operation_replayed_from_another_tenant(app) {
        let (a_token, a_tenant, a_user) = owner(app, "acme").await;
        let (b_token, _, _) = owner(app, "beta").await;
        let ids = furnish_a(app, &a_token, &a_user).await;
        let all: Vec<&str> = tenantry_rbac::CATALOGUE.iter().map(|(p, _)| *p).collect();
        let b_key = post(app, "/api/v1/api-keys", "beta", &b_token, json!({"name": "b", "permissions": all})).await["key"].as_str().unwrap().to_owned();
        // B has its own data too: lists are not empty for B.
        post(app, "/api/v1/products", "beta", &b_token, json!({"name": "Beta thing", "sku": "B-1", "price_minor": 1, "currency": "EUR"})).await;

        // Every event A's data produced is in the catalogue (a new resource's too, once its
        // operations are furnished here).
        let catalogue: Value = app.get("/api/v1/event-types").send().await.unwrap().json().await.unwrap();
        let known: Vec<&str> = catalogue["items"].as_array().unwrap().iter().map(|t| t["type"].as_str().unwrap()).collect();
        for e in json_of(app, "/api/v1/events?limit=100", &a_token).await["items"].as_array().unwrap() {
            assert!(known.contains(&e["type"].as_str().unwrap()), "{} is not in the event-type catalogue", e["type"]);
        }

        let before = snapshot(app, &a_token, &ids, &a_tenant).await;

        let spec: Value = app.get("/openapi.json").send().await.unwrap().json().await.unwrap();
        let plans = plans();
        let mut exercised = 0;
        for (path, item) in spec["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let member_only = op["responses"]["403"]["description"].as_str().is_some_and(|d| d.contains("not_a_member"));
                if !member_only {
                    continue;
                }
                let method = method.to_uppercase();
                let plan = plans.get(&(method.as_str(), path.as_str())).unwrap_or_else(|| {
                    panic!("{method} {path} is a tenant operation this guard rail cannot exercise yet: add it to plans()")
                });
                let has_path_id = path.contains('{');
                let url = if has_path_id {
                    let id = path_id(path, &ids);
                    // A second id in the path is A's event (a resend) or file (an image).
                    let path = path
                        .replace("{event_id}", &ids["$event"])
                        .replace("{file_id}", &ids["$file"]);
                    let start = path.find('{').unwrap();
                    let end = path.find('}').unwrap();
                    format!("{}{id}{}{}", &path[..start], &path[end + 1..], plan.query)
                } else {
                    format!("{path}{}", plan.query)
                };
                // Ids in the query string too (filters naming A's records).
                let url = ids.iter().fold(url, |u, (name, id)| u.replace(*name, id));
                let body = plan.body.as_ref().map(|b| fill(b, &ids));
                let what = format!("{method} {url}");

                // 1. B's owner on B's host, with A's ids.
                let res = call(app, &method, &url, "beta", &b_token, body.as_ref()).send().await.unwrap();
                let status = res.status().as_u16();
                let mut text = res.text().await.unwrap();
                // A problem's `instance` echoes the request path (with the id B sent).
                if let Ok(Value::Object(mut o)) = serde_json::from_str::<Value>(&text) {
                    if o.contains_key("code") {
                        o.remove("instance");
                    }
                    text = Value::Object(o).to_string();
                }
                for (name, id) in &ids {
                    assert!(!text.contains(id.as_str()), "{what} as B leaked A's {name}: {text}");
                }
                assert!(!text.to_lowercase().contains("zanzibar"), "{what} as B leaked A's data: {text}");
                let body_names_a = body.as_ref().is_some_and(|b| ids.values().any(|id| b.to_string().contains(id.as_str())));
                if body_names_a {
                    // A's record in the body: not found either way (path or field).
                    assert!(status == 404 || status == 422, "{what} as B naming A's ids: {status} {text}");
                } else if has_path_id {
                    assert_eq!(status, 404, "{what} as B with A's id: {text}");
                } else {
                    assert!(status < 500, "{what} as B: {status} {text}");
                }
                if has_path_id {
                    // A's id answers exactly as an id that exists nowhere: nothing tells B
                    // that the record is there.
                    let ghost_url = url.replace(&path_id(path, &ids), &uuid::Uuid::now_v7().to_string());
                    let ghost = call(app, &method, &ghost_url, "beta", &b_token, body.as_ref()).send().await.unwrap();
                    assert_eq!(ghost.status().as_u16(), status, "{what}: a foreign id and an unknown one answer alike");
                    let strip = |t: &str| {
                        let mut v: Value = serde_json::from_str(t).unwrap_or(Value::Null);
                        if let Some(o) = v.as_object_mut() {
                            o.remove("request_id");
                            o.remove("instance");
                        }
                        v
                    };
                    assert_eq!(strip(&ghost.text().await.unwrap()), strip(&text), "{what}: a foreign id and an unknown one answer alike");
                }
                if has_path_id && body_names_a {
                    // The body's reference may be judged first; without it, the path alone
                    // must not find A's record.
                    let neutral = body.as_ref().and_then(Value::as_object).map(|o| {
                        o.iter().filter(|(_, v)| !ids.values().any(|id| v.as_str() == Some(id.as_str()))).map(|(k, v)| (k.clone(), v.clone())).collect::<serde_json::Map<_, _>>()
                    });
                    if let Some(neutral) = neutral.filter(|o| !o.is_empty()) {
                        let res = call(app, &method, &url, "beta", &b_token, Some(&Value::Object(neutral))).send().await.unwrap();
                        assert_eq!(res.status().as_u16(), 404, "{what} as B with A's id and a body naming nothing of A's");
                    }
                }

                // 2. B's owner's token on A's host: not a member there.
                let res = call(app, &method, &url, "acme", &b_token, body.as_ref()).send().await.unwrap();
                problem(res, 403, "not_a_member").await;

                // 3. B's API key (every permission) on A's host: not a key of A.
                let res = call(app, &method, &url, "acme", &b_key, body.as_ref()).send().await.unwrap();
                problem(res, 401, "unauthorized").await;
                exercised += 1;
            }
        }
        assert_eq!(exercised, plans.len(), "every planned operation is still in the spec");

        let after = snapshot(app, &a_token, &ids, &a_tenant).await;
        assert_eq!(before, after, "A's data did not change");
        // B's key tried A: B's own trail says so.
        let trail = call(app, "GET", "/api/v1/audit-logs?action=api_key_denied&limit=100", "beta", &b_token, None).send().await.unwrap().json::<Value>().await.unwrap();
        assert_eq!(trail["items"].as_array().unwrap().len(), plans.len().min(100));
        assert_eq!(trail["items"][0]["changes"]["reason"]["new"], "other_tenant");
    }

    async fn unknown_and_foreign_ids_get_the_same_answer(app) {
        let (a_token, _, a_user) = owner(app, "acme").await;
        let (b_token, _, _) = owner(app, "beta").await;
        let ids = furnish_a(app, &a_token, &a_user).await;
        let ghost = uuid::Uuid::now_v7().to_string();
        for (path, kind) in [("/api/v1/products/", "$product"), ("/api/v1/projects/", "$project"), ("/api/v1/tasks/", "$task")] {
            let foreign = call(app, "GET", &format!("{path}{}", ids[kind]), "beta", &b_token, None).send().await.unwrap();
            let unknown = call(app, "GET", &format!("{path}{ghost}"), "beta", &b_token, None).send().await.unwrap();
            assert_eq!((foreign.status().as_u16(), unknown.status().as_u16()), (404, 404));
            let strip = |mut v: Value| {
                v.as_object_mut().unwrap().remove("request_id");
                v.as_object_mut().unwrap().remove("instance");
                v
            };
            assert_eq!(strip(foreign.json().await.unwrap()), strip(unknown.json().await.unwrap()), "{path}");
        }
    }

    async fn a_malformed_id_is_not_found_for_members_and_forbidden_to_others(app) {
        let (a_token, _, _) = owner(app, "acme").await;
        let (b_token, _, _) = owner(app, "beta").await;
        for path in ["/api/v1/products/not-an-id", "/api/v1/projects/42/tasks", "/api/v1/members/x", "/api/v1/api-keys/x"] {
            let method = if path.starts_with("/api/v1/api-keys") || path.starts_with("/api/v1/members") { "DELETE" } else { "GET" };
            let member = call(app, method, path, "acme", &a_token, None).send().await.unwrap();
            assert_eq!(member.status().as_u16(), 404, "{path}");
            let body: Value = member.json().await.unwrap();
            assert_eq!(body["code"], "not_found", "{path}");
            // B's owner is no member of A: the access check answers, whatever the id.
            let stranger = call(app, method, path, "acme", &b_token, None).send().await.unwrap();
            assert_eq!(stranger.status().as_u16(), 403, "{path}");
            let body: Value = stranger.json().await.unwrap();
            assert_eq!(body["code"], "not_a_member", "{path}");
        }
    }

    async fn a_body_naming_another_tenants_records_writes_nothing(app) {
        let (a_token, _, a_user) = owner(app, "acme").await;
        let (b_token, _, _) = owner(app, "beta").await;
        let ids = furnish_a(app, &a_token, &a_user).await;
        let b_project = post(app, "/api/v1/projects", "beta", &b_token, json!({"name": "Beta project"})).await;
        let b_project = b_project["id"].as_str().unwrap().to_owned();
        let tasks_url = format!("/api/v1/projects/{b_project}/tasks");
        // A task in B assigned to A's user (not a member of B): 422, nothing written.
        let res = call(app, "POST", &tasks_url, "beta", &b_token, Some(&json!({"title": "x", "assignee_id": a_user}))).send().await.unwrap();
        assert_eq!(problem(res, 422, "validation_failed").await["errors"][0]["field"], "assignee_id");
        // A task created under A's project from B: 404, nothing written.
        let res = call(app, "POST", &format!("/api/v1/projects/{}/tasks", ids["$project"]), "beta", &b_token, Some(&json!({"title": "x"}))).send().await.unwrap();
        problem(res, 404, "project_not_found").await;
        // Moving B's task into A's project: 422, the task stays.
        let task = post(app, &tasks_url, "beta", &b_token, json!({"title": "mine"})).await;
        let task_url = format!("/api/v1/tasks/{}", task["id"].as_str().unwrap());
        let res = call(app, "PATCH", &task_url, "beta", &b_token, Some(&json!({"project_id": ids["$project"]}))).send().await.unwrap();
        assert_eq!(problem(res, 422, "validation_failed").await["errors"][0]["field"], "project_id");
        let still = call(app, "GET", &task_url, "beta", &b_token, None).send().await.unwrap().json::<Value>().await.unwrap();
        assert_eq!(still["project_id"], b_project.as_str());
        let listed = call(app, "GET", &tasks_url, "beta", &b_token, None).send().await.unwrap().json::<Value>().await.unwrap();
        assert_eq!(listed["items"].as_array().unwrap().len(), 1);
        // Giving a B member A's role: 404 (no such role here).
        let (b_owner_id, _) = (task["created_by"].as_str().unwrap().to_owned(), ());
        let res = call(app, "PATCH", &format!("/api/v1/members/{b_owner_id}"), "beta", &b_token, Some(&json!({"role_id": ids["$role"]}))).send().await.unwrap();
        assert!(matches!(res.status().as_u16(), 404 | 422), "{}", res.status());
        let a_tasks = call(app, "GET", &format!("/api/v1/projects/{}/tasks", ids["$project"]), "acme", &a_token, None).send().await.unwrap().json::<Value>().await.unwrap();
        assert_eq!(a_tasks["items"].as_array().unwrap().len(), 1, "A's project got nothing");
    }
}
