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
    path: String,
    caller: Caller,
    base: fn(u32) -> Value,
}

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
        let cases = [
            BodyCase { method: Method::POST, path: "/api/v1/onboard".into(), caller: Caller::Anonymous,
                base: |n| json!({"organisation_name": "Org", "slug": format!("zq{n}"), "owner_email": format!("u{n}@example.test"), "owner_name": "Someone", "password": PASSWORD}) },
            BodyCase { method: Method::POST, path: "/api/v1/platform/tenants".into(), caller: Caller::Operator,
                base: |n| json!({"slug": format!("zp{n}"), "name": "Org"}) },
            BodyCase { method: Method::POST, path: "/api/v1/products".into(), caller: Caller::Ann,
                base: |n| json!({"name": "Kettle", "sku": format!("S{n}"), "price_minor": 100, "currency": "EUR", "description": "Blue"}) },
            BodyCase { method: Method::POST, path: "/api/v1/projects".into(), caller: Caller::Ann,
                base: |_| json!({"name": "Launch", "description": "Big"}) },
            BodyCase { method: Method::POST, path: format!("/api/v1/projects/{project}/tasks"), caller: Caller::Ann,
                base: |_| json!({"title": "Write", "notes": "Soon", "due_date": "2030-01-31"}) },
            BodyCase { method: Method::POST, path: "/api/v1/roles".into(), caller: Caller::Ann,
                base: |n| json!({"name": format!("role{n}"), "permissions": []}) },
            BodyCase { method: Method::POST, path: "/api/v1/api-keys".into(), caller: Caller::Ann,
                base: |_| json!({"name": "Deploys", "permissions": []}) },
            BodyCase { method: Method::POST, path: "/api/v1/invitations".into(), caller: Caller::Ann,
                base: |n| json!({"email": format!("i{n}@example.test"), "role": "member"}) },
            BodyCase { method: Method::PATCH, path: "/api/v1/auth/me".into(), caller: Caller::Ann,
                base: |_| json!({"display_name": "Ann"}) },
        ];
        let mut n = 0;
        for case in &cases {
            let template = case.path.replace(&project, "{id}");
            let op = &spec["paths"][&template][case.method.as_str().to_lowercase()];
            let schema = resolve(&spec, &op["requestBody"]["content"]["application/json"]["schema"]);
            let properties: &Map<String, Value> = schema["properties"].as_object().unwrap_or_else(|| panic!("{template}"));
            let mut fields = 0;
            for (field, prop) in properties {
                let prop = resolve(&spec, prop);
                if !is_bounded(prop) {
                    continue;
                }
                fields += 1;
                n += 1;
                let base = (case.base)(n);
                let example = base.get(field).cloned().unwrap_or_else(|| panic!("{template}: the base body lacks {field}"));
                let (inside, outside) = boundary_values(prop, &example);
                assert!(!inside.is_empty() || !outside.is_empty(), "{template}.{field}");
                for (values, ok) in [(inside, true), (outside, false)] {
                    for v in values {
                        n += 1;
                        let mut body = (case.base)(n);
                        body[field] = v.clone();
                        let got = status(ctx.call(case.method.clone(), &case.path, case.caller).json(&body)).await;
                        assert_eq!((200..300).contains(&got), ok, "{} {template} {field}={v:.60}: {got}", case.method);
                        assert!(got < 500, "{} {template} {field}={v:.60}: {got}", case.method);
                        checked += 1;
                    }
                }
            }
            assert!(fields > 0, "{template} declares no bound at all");
        }
        assert!(checked > 100, "only {checked} checks");
    }
}
