//! The OpenAPI document states what the server enforces: for every bound it declares on a
//! query parameter or a request-body field (lengths, patterns, numeric ranges, enums), a value
//! just inside is accepted and a value just outside is refused. Spec and server cannot drift
//! apart without this failing.

use reqwest::{Method, RequestBuilder};
use serde_json::{Map, Value, json};
use tenantry_tests::{OPERATOR_TOKEN, TestApp, app_tests};

const PASSWORD: &str = "correct horse battery";

/// How an operation is called.
#[derive(Clone, Copy)]
enum Caller {
    Anonymous,
    Operator,
    /// Ann's access token (tenant routes in tenant `acme`).
    Ann,
}

/// An operation with a request body, and a valid body whose unique fields depend on `n`.
struct BodyCase {
    method: Method,
    /// The path as the spec names it.
    template: &'static str,
    /// The path called.
    path: String,
    caller: Caller,
    base: fn(u32) -> Value,
    /// After an accepted request, the value sent in the first field replaces the second in
    /// later bodies (a new password becomes the current one).
    chain: Option<(&'static str, &'static str)>,
}

/// Operations with bounded body fields that this walk does not call, and why.
const NOT_WALKED: &[(&str, &str, &str)] = &[
    (
        "delete",
        "/api/v1/auth/me",
        "a body within its bounds deletes the account; erasure.rs sends each field one past its \
         bound and checks the 422",
    ),
    (
        "post",
        "/api/v1/settings/deletion",
        "a body within its bounds deletes the organisation; deletion.rs sends each field one past \
         its bound and checks the 422",
    ),
    (
        "put",
        "/api/v1/settings/storage",
        "saving needs a bucket that takes a test object; its fields are checked in files.rs \
         against a real S3 server",
    ),
    (
        "put",
        "/api/v1/platform/tenants/{tenant}/storage",
        "as PUT /api/v1/settings/storage (the same body)",
    ),
    (
        "post",
        "/api/v1/invitations/accept/{token}",
        "each accepted value spends an invitation; its fields are DisplayName and NewPassword, \
         walked through onboarding's owner_name and password",
    ),
    (
        "post",
        "/api/v1/sso/providers",
        "saving needs a live issuer's discovery; its bounds are walked in sso.rs against a real \
         provider",
    ),
    (
        "put",
        "/api/v1/sso/providers/{id}",
        "as POST /api/v1/sso/providers (the same body)",
    ),
    (
        "post",
        "/api/v1/scim/tokens",
        "needs a plan with SSO; its bounds (name 1–100) are walked in scim.rs",
    ),
    (
        "post",
        "/api/v1/platform/impersonations",
        "needs a platform administrator's own token and a member; its bounds (reason 1–500, \
         minutes 1–30) are walked in impersonation.rs",
    ),
];

struct Ctx<'a> {
    app: &'a TestApp,
    ann: String,
}

impl Ctx<'_> {
    fn call(&self, method: Method, path: &str, caller: Caller) -> RequestBuilder {
        let r = self.app.request(method, path);
        match caller {
            Caller::Anonymous => r,
            Caller::Operator => r.bearer_auth(OPERATOR_TOKEN),
            Caller::Ann => r.header("X-Tenant-ID", "acme").bearer_auth(&self.ann),
        }
    }
}

/// `base` cycled or cut to exactly `len` characters.
fn sized(base: &str, len: usize) -> String {
    base.chars().cycle().take(len).collect()
}

fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    // An optional field: `oneOf` its type and null.
    let variants: Vec<&Value> = schema["oneOf"]
        .as_array()
        .map(|vs| vs.iter().filter(|v| v["type"] != "null").collect())
        .unwrap_or_default();
    if let [only] = variants[..] {
        return resolve(spec, only);
    }
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.rsplit('/').next().unwrap();
            &spec["components"]["schemas"][name]
        }
        None => schema,
    }
}

fn is_type(schema: &Value, t: &str) -> bool {
    match &schema["type"] {
        Value::String(s) => s == t,
        Value::Array(ts) => ts.iter().any(|x| x == t),
        _ => false,
    }
}

/// Values just inside and just outside every bound `schema` declares, derived from a valid
/// `example` of it.
fn boundary_values(schema: &Value, example: &Value) -> (Vec<Value>, Vec<Value>) {
    let (mut inside, mut outside) = (Vec::new(), Vec::new());
    if let Some(options) = schema["enum"].as_array() {
        inside.push(options[0].clone());
        inside.push(options[options.len() - 1].clone());
        outside.push(json!("not-one-of-them"));
        return (inside, outside);
    }
    if is_type(schema, "string") {
        let base = example.as_str().unwrap();
        if let Some(min) = schema["minLength"].as_u64() {
            let min = min as usize;
            inside.push(json!(sized(base, min)));
            if min > 0 {
                outside.push(json!(sized(base, min - 1)));
            }
        }
        if let Some(max) = schema["maxLength"].as_u64() {
            let max = max as usize;
            // An e-mail's length is bounded, but not every 254 characters make an address.
            if schema["format"] != "email" {
                inside.push(json!(sized(base, max)));
            }
            outside.push(json!(sized(base, max + 1)));
        }
        if schema["pattern"].is_string() {
            outside.push(json!(format!("!{}", &base[1..])));
        }
    }
    if is_type(schema, "integer") {
        if let Some(min) = schema["minimum"].as_i64() {
            inside.push(json!(min));
            outside.push(json!(min - 1));
        }
        if let Some(max) = schema["maximum"].as_i64() {
            inside.push(json!(max));
            outside.push(json!(max + 1));
        }
    }
    (inside, outside)
}

/// The object schema of a body: the body's own, or its items' when the body is an array.
fn row_schema<'a>(spec: &'a Value, schema: &'a Value) -> (&'a Value, bool) {
    let schema = resolve(spec, schema);
    if is_type(schema, "array") {
        (resolve(spec, &schema["items"]), true)
    } else {
        (schema, false)
    }
}

fn is_bounded(schema: &Value) -> bool {
    [
        "minLength",
        "maxLength",
        "pattern",
        "minimum",
        "maximum",
        "enum",
    ]
    .iter()
    .any(|k| schema.get(*k).is_some())
}

async fn status(req: RequestBuilder) -> u16 {
    req.send().await.unwrap().status().as_u16()
}

app_tests! {
    async fn every_declared_bound_is_the_server_s(app) {
        let spec: Value = app.get("/openapi.json").send().await.unwrap().json().await.unwrap();
        let a = app.onboard("acme", "ann@acme.test", PASSWORD).await;
        let ctx = Ctx { app, ann: a["session"]["access_token"].as_str().unwrap().to_owned() };
        let project: Value = ctx.call(Method::POST, "/api/v1/projects", Caller::Ann).json(&json!({"name": "P"})).send().await.unwrap().json().await.unwrap();
        let project = project["id"].as_str().unwrap().to_owned();
        let mut checked = 0;

        // Every tenant route (one an API key may call) says how the tenant is named.
        for (path, item) in spec["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let tenant_route = op["security"].as_array().is_some_and(|s| s.iter().any(|r| r.get("api_key").is_some()));
                if tenant_route {
                    let named = op["parameters"].as_array().unwrap().iter().any(|p| p["name"] == "X-Tenant-ID" && p["in"] == "header");
                    assert!(named, "{method} {path} does not declare X-Tenant-ID");
                }
            }
        }

        // The header's own bounds: the tenant's slug (or id) inside, names outside them refused.
        let header = &spec["paths"]["/api/v1/members"]["get"]["parameters"][0];
        assert_eq!(header["name"], "X-Tenant-ID");
        let (inside, outside) = boundary_values(&header["schema"], &json!("acme"));
        for (values, ok) in [(inside, true), (outside, false)] {
            for v in values {
                let v = v.as_str().unwrap().to_owned();
                // A slug of each length inside the bounds exists; none can outside them.
                if ok {
                    app.create_tenant(&v, "Named at the bound").await;
                }
                let got = status(app.get("/api/v1/tenant").header("X-Tenant-ID", &v)).await;
                assert_eq!((200..300).contains(&got), ok, "X-Tenant-ID: {v}: {got}");
                checked += 1;
            }
        }

        // Query parameters of the lists (no path parameters to invent).
        for (path, item) in spec["paths"].as_object().unwrap() {
            let Some(op) = item.get("get") else { continue };
            if path.contains('{') {
                continue;
            }
            let caller = if path.starts_with("/api/v1/platform/") {
                Caller::Operator
            } else if op["security"].is_array() {
                Caller::Ann
            } else {
                Caller::Anonymous
            };
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            // Required query parameters get their example; the one under test varies.
            let required: Vec<(String, String)> = params.iter()
                .filter(|p| p["in"] == "query" && p["required"] == true)
                .map(|p| (p["name"].as_str().unwrap().to_owned(), p["schema"]["examples"][0].as_str().or(p["example"].as_str()).unwrap_or("a").to_owned()))
                .collect();
            for p in params.iter().filter(|p| p["in"] == "query" && is_bounded(&p["schema"])) {
                let name = p["name"].as_str().unwrap();
                let example = p["example"].clone();
                let example = if example.is_null() { json!("kettle") } else { example };
                let (inside, outside) = boundary_values(&p["schema"], &example);
                for (values, ok) in [(inside, true), (outside, false)] {
                    for v in values {
                        let v = match v { Value::String(s) => s, other => other.to_string() };
                        let mut query: Vec<(String, String)> = required.iter().filter(|(k, _)| k != name).cloned().collect();
                        query.push((name.to_owned(), v.clone()));
                        // Letters and digits only: nothing to escape.
                        let query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
                        let url = format!("{path}?{}", query.join("&"));
                        let got = status(ctx.call(Method::GET, &url, caller)).await;
                        assert_eq!((200..300).contains(&got), ok, "GET {path}?{name}={v:.40}: {got}");
                        assert!(got < 500, "GET {path}?{name}={v:.40}: {got}");
                        checked += 1;
                    }
                }
            }
        }

        // Request bodies: every bounded field of every operation that creates or changes.
        let id_of = |v: Value| v["id"].as_str().unwrap().to_owned();
        let post = |path: &'static str, body: Value| ctx.call(Method::POST, path, Caller::Ann).json(&body).send();
        let product = id_of(post("/api/v1/products", json!({"name": "P", "sku": "FIXED-1", "price_minor": 1, "currency": "EUR"})).await.unwrap().json().await.unwrap());
        let role = id_of(post("/api/v1/roles", json!({"name": "fixed", "permissions": []})).await.unwrap().json().await.unwrap());
        let task: Value = ctx.call(Method::POST, &format!("/api/v1/projects/{project}/tasks"), Caller::Ann).json(&json!({"title": "T"})).send().await.unwrap().json().await.unwrap();
        let task = id_of(task);
        let webhook = id_of(post("/api/v1/webhooks", json!({"url": "https://hooks.example.com/fixed", "enabled": false})).await.unwrap().json().await.unwrap());
        app.create_tenant("zmaint", "Maintained").await;
        let case = |method: Method, template: &'static str, path: String, caller: Caller, base: fn(u32) -> Value| BodyCase { method, template, path, caller, base, chain: None };
        let cases = [
            case(Method::POST, "/api/v1/onboard", "/api/v1/onboard".into(), Caller::Anonymous,
                |n| json!({"organisation_name": "Org", "slug": format!("zq{n}"), "owner_email": format!("u{n}@example.test"), "owner_name": "Someone", "password": PASSWORD})),
            case(Method::POST, "/api/v1/platform/tenants", "/api/v1/platform/tenants".into(), Caller::Operator,
                |n| json!({"slug": format!("zp{n}"), "name": "Org"})),
            case(Method::PATCH, "/api/v1/platform/tenants/{tenant}", "/api/v1/platform/tenants/acme".into(), Caller::Operator,
                |_| json!({"name": "Acme"})),
            case(Method::PUT, "/api/v1/platform/tenants/{tenant}/maintenance", "/api/v1/platform/tenants/zmaint/maintenance".into(), Caller::Operator,
                |_| json!({"enabled": true, "message": "Back soon"})),
            case(Method::PATCH, "/api/v1/platform/tenants/{tenant}/branding", "/api/v1/platform/tenants/acme/branding".into(), Caller::Operator,
                |_| json!({"display_name": "Acme", "logo_url": "https://example.test/logo.png", "primary_color": "#0055ff", "support_email": "help@example.test", "support_url": "https://example.test/help"})),
            case(Method::POST, "/api/v1/domains", "/api/v1/domains".into(), Caller::Ann,
                |n| json!({"hostname": format!("d{n}.example.org")})),
            case(Method::PATCH, "/api/v1/settings", "/api/v1/settings".into(), Caller::Ann,
                |_| json!({"locale": "en-GB", "time_zone": "Europe/London"})),
            case(Method::PUT, "/api/v1/settings/smtp", "/api/v1/settings/smtp".into(), Caller::Ann,
                |_| json!({"host": "smtp.acme.com", "port": 587, "tls": "starttls", "username": "mailer", "password": "secret",
                    "from_address": "no-reply@acme.com", "from_name": "Acme"})),
            case(Method::POST, "/api/v1/products", "/api/v1/products".into(), Caller::Ann,
                |n| json!({"name": "Kettle", "sku": format!("S{n}"), "price_minor": 100, "currency": "EUR", "description": "Blue", "status": "active"})),
            case(Method::PATCH, "/api/v1/products/{id}", format!("/api/v1/products/{product}"), Caller::Ann,
                |n| json!({"name": "Kettle", "sku": format!("U{n}"), "price_minor": 100, "currency": "EUR", "description": "Blue", "status": "active"})),
            case(Method::POST, "/api/v1/products/bulk-import", "/api/v1/products/bulk-import".into(), Caller::Ann,
                |n| json!({"name": "Kettle", "sku": format!("I{n}"), "price_minor": 100, "currency": "EUR", "description": "Blue", "status": "active"})),
            case(Method::POST, "/api/v1/projects", "/api/v1/projects".into(), Caller::Ann,
                |_| json!({"name": "Launch", "description": "Big"})),
            case(Method::PATCH, "/api/v1/projects/{id}", format!("/api/v1/projects/{project}"), Caller::Ann,
                |_| json!({"name": "Launch", "description": "Big"})),
            case(Method::POST, "/api/v1/projects/{id}/tasks", format!("/api/v1/projects/{project}/tasks"), Caller::Ann,
                |_| json!({"title": "Write", "notes": "Soon", "due_date": "2030-01-31"})),
            case(Method::PATCH, "/api/v1/tasks/{id}", format!("/api/v1/tasks/{task}"), Caller::Ann,
                |_| json!({"title": "Write", "notes": "Soon", "due_date": "2030-01-31"})),
            case(Method::POST, "/api/v1/roles", "/api/v1/roles".into(), Caller::Ann,
                |n| json!({"name": format!("role{n}"), "permissions": []})),
            case(Method::PATCH, "/api/v1/roles/{role_id}", format!("/api/v1/roles/{role}"), Caller::Ann,
                |n| json!({"name": format!("renamed{n}")})),
            case(Method::POST, "/api/v1/api-keys", "/api/v1/api-keys".into(), Caller::Ann,
                |_| json!({"name": "Deploys", "permissions": []})),
            case(Method::POST, "/api/v1/webhooks", "/api/v1/webhooks".into(), Caller::Ann,
                |_| json!({"url": "https://hooks.example.com/tenantry", "description": "Hook", "rate_limit": 5, "enabled": false})),
            case(Method::PATCH, "/api/v1/webhooks/{id}", format!("/api/v1/webhooks/{webhook}"), Caller::Ann,
                |_| json!({"url": "https://hooks.example.com/tenantry", "description": "Hook", "rate_limit": 5})),
            case(Method::POST, "/api/v1/invitations", "/api/v1/invitations".into(), Caller::Ann,
                |n| json!({"email": format!("i{n}@example.test"), "role": "member"})),
            case(Method::POST, "/api/v1/billing/change-plan", "/api/v1/billing/change-plan".into(), Caller::Ann,
                |_| json!({"plan": "enterprise"})),
            case(Method::POST, "/api/v1/platform/plans", "/api/v1/platform/plans".into(), Caller::Operator,
                |n| json!({"code": format!("plan{n}"), "name": "Team", "description": "For teams", "currency": "USD",
                    "price_monthly_minor": 1000, "price_yearly_minor": 10000, "requests_per_hour": 500, "trial_days": 7})),
            case(Method::PATCH, "/api/v1/platform/plans/{code}", "/api/v1/platform/plans/professional".into(), Caller::Operator,
                |_| json!({"name": "Professional", "description": "For teams", "currency": "USD",
                    "price_monthly_minor": 4900, "price_yearly_minor": 49000, "requests_per_hour": 1000, "trial_days": 14})),
            case(Method::PATCH, "/api/v1/platform/tenants/{tenant}/subscription", "/api/v1/platform/tenants/zmaint/subscription".into(), Caller::Operator,
                |_| json!({"status": "active"})),
            case(Method::POST, "/api/v1/platform/tenants/{tenant}/change-plan", "/api/v1/platform/tenants/zmaint/change-plan".into(), Caller::Operator,
                |_| json!({"plan": "enterprise"})),
            case(Method::PUT, "/api/v1/platform/tenants/{tenant}/quotas/{resource}", "/api/v1/platform/tenants/zmaint/quotas/products".into(), Caller::Operator,
                |_| json!({"limit": 10})),
            case(Method::POST, "/api/v1/platform/metrics", "/api/v1/platform/metrics".into(), Caller::Operator,
                |n| json!({"code": format!("m{n}"), "name": "Storage", "aggregation": "sum", "field": "gb"})),
            case(Method::PATCH, "/api/v1/auth/me", "/api/v1/auth/me".into(), Caller::Ann,
                |_| json!({"display_name": "Ann"})),
            BodyCase {
                chain: Some(("new_password", "current_password")),
                ..case(Method::POST, "/api/v1/auth/password", "/api/v1/auth/password".into(), Caller::Ann,
                    |_| json!({"current_password": PASSWORD, "new_password": "another good passphrase"}))
            },
        ];

        // The walk covers every operation whose body the spec bounds.
        for (path, item) in spec["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let Some(schema) = op["requestBody"]["content"]["application/json"].get("schema") else { continue };
                let (row, _) = row_schema(&spec, schema);
                let bounded = row["properties"].as_object().is_some_and(|ps| ps.values().any(|p| is_bounded(resolve(&spec, p))));
                let walked = cases.iter().any(|c| c.template == path && c.method.as_str().eq_ignore_ascii_case(method));
                let exempt = NOT_WALKED.iter().any(|(m, p, _)| m == method && p == path);
                assert!(!bounded || walked || exempt, "{method} {path} has bounded fields no case walks");
            }
        }

        let mut n = 0;
        for case in &cases {
            let op = &spec["paths"][case.template][case.method.as_str().to_lowercase()];
            let (schema, in_array) = row_schema(&spec, &op["requestBody"]["content"]["application/json"]["schema"]);
            let properties: &Map<String, Value> = schema["properties"].as_object().unwrap_or_else(|| panic!("{}", case.template));
            let mut chained: Option<Value> = None;
            let mut fields = 0;
            for (field, prop) in properties {
                let prop = resolve(&spec, prop);
                if !is_bounded(prop) {
                    continue;
                }
                fields += 1;
                n += 1;
                let example = (case.base)(n).get(field).cloned().unwrap_or_else(|| panic!("{}: the base body lacks {field}", case.template));
                let (inside, outside) = boundary_values(prop, &example);
                assert!(!inside.is_empty() || !outside.is_empty(), "{}.{field}", case.template);
                for (values, ok) in [(inside, true), (outside, false)] {
                    for v in values {
                        n += 1;
                        let mut body = (case.base)(n);
                        if let (Some((_, to)), Some(value)) = (case.chain, &chained) {
                            body[to] = value.clone();
                        }
                        body[field] = v.clone();
                        let sent = if in_array { json!([body.clone()]) } else { body.clone() };
                        let got = status(ctx.call(case.method.clone(), &case.path, case.caller).json(&sent)).await;
                        assert_eq!((200..300).contains(&got), ok, "{} {} {field}={v:.60}: {got}", case.method, case.template);
                        assert!(got < 500, "{} {} {field}={v:.60}: {got}", case.method, case.template);
                        if let (Some((from, _)), true) = (case.chain, ok) {
                            chained = Some(body[from].clone());
                        }
                        checked += 1;
                    }
                }
            }
            assert!(fields > 0, "{} declares no bound at all", case.template);
        }
        assert!(checked > 100, "only {checked} checks");
    }
}
