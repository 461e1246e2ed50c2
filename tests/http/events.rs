//! Events over HTTP: each change becomes one event with the object as the API returned it,
//! the pull API's filters and cursor, `events:read`, and the catalogue's JSON Schemas checked
//! against the events themselves by a published JSON Schema validator.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{Value, json};
use tenantry_tests::{TestApp, app_tests, problem};

const PASSWORD: &str = "correct horse battery";

fn call(app: &TestApp, method: Method, path: &str, token: &str) -> reqwest::RequestBuilder {
    app.request(method, path)
        .header("X-Tenant-ID", "acme")
        .bearer_auth(token)
}

async fn ok(req: reqwest::RequestBuilder, status: u16) -> Value {
    let res = req.send().await.unwrap();
    assert_eq!(res.status(), status);
    if status == 204 {
        return Value::Null;
    }
    res.json().await.unwrap()
}

async fn events(app: &TestApp, token: &str, query: &str) -> Value {
    ok(
        call(app, Method::GET, &format!("/api/v1/events{query}"), token),
        200,
    )
    .await
}

fn types(page: &Value) -> Vec<&str> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect()
}

app_tests! {
    async fn each_change_is_one_event_with_the_object_as_returned(app) {
        let onboarded = app.onboard("acme", "owner@acme.test", PASSWORD).await;
        let token = onboarded["session"]["access_token"].as_str().unwrap().to_owned();
        let owner_id = onboarded["session"]["user"]["id"].clone();

        let created = ok(call(app, Method::POST, "/api/v1/products", &token)
            .json(&json!({"name": "Kettle", "sku": "K-1", "price_minor": 1999, "currency": "EUR"})), 201).await;
        let id = created["id"].as_str().unwrap().to_owned();
        let updated = ok(call(app, Method::PATCH, &format!("/api/v1/products/{id}"), &token)
            .json(&json!({"price_minor": 2499})), 200).await;
        ok(call(app, Method::DELETE, &format!("/api/v1/products/{id}"), &token), 204).await;

        let page = events(app, &token, "?type=product.*").await;
        assert_eq!(types(&page), ["product.deleted", "product.updated", "product.created"], "newest first");
        let [deleted, changed, made] = [0, 1, 2].map(|i| page["items"][i].clone());
        assert_eq!(made["data"]["object"], created, "the object as POST returned it");
        assert!(made["data"].get("previous_attributes").is_none());
        assert_eq!(changed["data"]["object"], updated, "the object as PATCH returned it");
        assert_eq!(changed["data"]["previous_attributes"]["price_minor"], 1999);
        assert_eq!(changed["data"]["previous_attributes"]["updated_at"], created["updated_at"]);
        assert!(changed["data"]["previous_attributes"].get("name").is_none(), "only what changed");
        assert_eq!(deleted["data"]["object"], updated, "a deletion carries the last state");
        for e in [&made, &changed, &deleted] {
            assert_eq!(e["tenant_id"], onboarded["tenant"]["id"]);
            assert_eq!(e["actor"], json!({"type": "user", "id": owner_id, "api_key_id": null}));
        }

        // One event by id, and none for an unknown id.
        let one = ok(call(app, Method::GET, &format!("/api/v1/events/{}", changed["id"].as_str().unwrap()), &token), 200).await;
        assert_eq!(one, changed);
        let res = call(app, Method::GET, &format!("/api/v1/events/{}", uuid::Uuid::now_v7()), &token).send().await.unwrap();
        problem(res, 404, "event_not_found").await;

        // The tenant's own creation is there too: its settings, roles and owner membership.
        let all = events(app, &token, "?limit=100").await;
        let kinds = types(&all);
        for t in ["tenant.created", "role.created", "member.created", "product.created"] {
            assert!(kinds.contains(&t), "{t} in {kinds:?}");
        }
    }

    async fn filters_and_cursor(app) {
        let onboarded = app.onboard("acme", "owner@acme.test", PASSWORD).await;
        let token = onboarded["session"]["access_token"].as_str().unwrap().to_owned();
        for n in 0..5 {
            ok(call(app, Method::POST, "/api/v1/products", &token)
                .json(&json!({"name": format!("P{n}"), "sku": format!("P-{n}"), "price_minor": 1, "currency": "EUR"})), 201).await;
        }
        let project = ok(call(app, Method::POST, "/api/v1/projects", &token).json(&json!({"name": "Launch"})), 201).await;

        let exact = events(app, &token, "?type=project.created").await;
        assert_eq!(types(&exact), ["project.created"]);
        assert_eq!(exact["items"][0]["data"]["object"], project);

        // Walking product.* one at a time yields the five, newest first, then stops.
        let mut seen = vec![];
        let mut query = "?type=product.*&limit=1".to_owned();
        loop {
            let page = events(app, &token, &query).await;
            for e in page["items"].as_array().unwrap() {
                seen.push(e["data"]["object"]["sku"].as_str().unwrap().to_owned());
            }
            match page["next_cursor"].as_str() {
                Some(c) => query = format!("?type=product.*&limit=1&cursor={c}"),
                None => break,
            }
        }
        assert_eq!(seen, ["P-4", "P-3", "P-2", "P-1", "P-0"]);

        // since / until bound by occurrence.
        let first = events(app, &token, "?type=product.created&limit=100").await;
        let third_at = first["items"][2]["occurred_at"].as_str().unwrap().to_owned();
        let encoded = third_at.replace('+', "%2B");
        let since = events(app, &token, &format!("?type=product.created&since={encoded}")).await;
        assert_eq!(since["items"].as_array().unwrap().len(), 3);
        let until = events(app, &token, &format!("?type=product.created&until={encoded}")).await;
        assert_eq!(until["items"].as_array().unwrap().len(), 2);

        // A type that is no pattern, and a cursor this service never issued.
        for bad in ["product", "Product.*", "product.%25", "*"] {
            let res = call(app, Method::GET, &format!("/api/v1/events?type={bad}"), &token).send().await.unwrap();
            problem(res, 400, "invalid_query").await;
        }
        let res = call(app, Method::GET, "/api/v1/events?cursor=nonsense", &token).send().await.unwrap();
        problem(res, 400, "invalid_cursor").await;
        // `_` in a prefix is no wildcard: `api_key.*` does not match `apixkey.…`.
        let keys = events(app, &token, "?type=api_key.*").await;
        assert!(keys["items"].as_array().unwrap().is_empty());
    }

    async fn reading_events_needs_events_read(app) {
        let onboarded = app.onboard("acme", "owner@acme.test", PASSWORD).await;
        let token = onboarded["session"]["access_token"].as_str().unwrap().to_owned();
        let viewer = app.create_user("viewer@acme.test", PASSWORD).await;
        app.add_member(onboarded["tenant"]["id"].as_str().unwrap(), viewer.id, "viewer").await;
        let viewer_token = app.login("viewer@acme.test", PASSWORD).await["access_token"].as_str().unwrap().to_owned();
        let res = call(app, Method::GET, "/api/v1/events", &viewer_token).send().await.unwrap();
        problem(res, 403, "permission_denied").await;

        // An API key with the permission reads them; the key's own creation shows no secret.
        let key = ok(call(app, Method::POST, "/api/v1/api-keys", &token)
            .json(&json!({"name": "reader", "permissions": ["events:read"]})), 201).await;
        let secret = key["key"].as_str().unwrap();
        let res = app.get("/api/v1/events?type=api_key.created").header("X-Tenant-ID", "acme").header("X-API-Key", secret).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let body = res.text().await.unwrap();
        assert!(body.contains("api_key.created"));
        let secret_part = secret.strip_prefix(&format!("tnt_{}_", key["prefix"].as_str().unwrap())).unwrap();
        assert!(!body.contains(secret_part), "the key's secret never appears in an event");
    }

    async fn every_event_matches_its_catalogued_schema(app) {
        let onboarded = app.onboard("acme", "owner@acme.test", PASSWORD).await;
        let token = onboarded["session"]["access_token"].as_str().unwrap().to_owned();
        // One change of every kind the API offers.
        let p = ok(call(app, Method::POST, "/api/v1/products", &token)
            .json(&json!({"name": "Kettle", "sku": "K-1", "price_minor": 1, "currency": "EUR"})), 201).await;
        ok(call(app, Method::PATCH, &format!("/api/v1/products/{}", p["id"].as_str().unwrap()), &token).json(&json!({"status": "archived"})), 200).await;
        let project = ok(call(app, Method::POST, "/api/v1/projects", &token).json(&json!({"name": "Launch"})), 201).await;
        let task = ok(call(app, Method::POST, &format!("/api/v1/projects/{}/tasks", project["id"].as_str().unwrap()), &token)
            .json(&json!({"title": "Write", "due_date": "2030-01-31"})), 201).await;
        ok(call(app, Method::POST, &format!("/api/v1/tasks/{}/toggle", task["id"].as_str().unwrap()), &token), 200).await;
        let role = ok(call(app, Method::POST, "/api/v1/roles", &token).json(&json!({"name": "billing", "permissions": ["tenant:read"]})), 201).await;
        ok(call(app, Method::PATCH, &format!("/api/v1/roles/{}", role["id"].as_str().unwrap()), &token).json(&json!({"name": "finance"})), 200).await;
        let inv = ok(call(app, Method::POST, "/api/v1/invitations", &token).json(&json!({"email": "new@acme.test", "role": "viewer"})), 201).await;
        ok(call(app, Method::DELETE, &format!("/api/v1/invitations/{}", inv["id"].as_str().unwrap()), &token), 204).await;
        let key = ok(call(app, Method::POST, "/api/v1/api-keys", &token).json(&json!({"name": "k", "permissions": []})), 201).await;
        ok(call(app, Method::DELETE, &format!("/api/v1/api-keys/{}", key["id"].as_str().unwrap()), &token), 204).await;
        let other = app.create_user("other@acme.test", PASSWORD).await;
        app.add_member(onboarded["tenant"]["id"].as_str().unwrap(), other.id, "viewer").await;
        ok(call(app, Method::DELETE, &format!("/api/v1/members/{}", other.id), &token), 204).await;
        ok(app.operator(Method::PATCH, "/api/v1/platform/tenants/acme/branding").json(&json!({"primary_color": "#0055ff"})), 200).await;

        let catalogue = ok(app.get("/api/v1/event-types"), 200).await;
        let schemas: BTreeMap<String, Value> = catalogue["items"].as_array().unwrap().iter()
            .map(|t| (t["type"].as_str().unwrap().to_owned(), t["schema"].clone()))
            .collect();
        let spec: Value = app.get("/openapi.json").send().await.unwrap().json().await.unwrap();
        assert_eq!(
            spec["webhooks"].as_object().unwrap().keys().collect::<Vec<_>>(),
            schemas.keys().collect::<Vec<_>>(),
            "the OpenAPI document lists the same event types"
        );

        let all = events(app, &token, "?limit=100").await;
        let mut checked = std::collections::BTreeSet::new();
        for e in all["items"].as_array().unwrap() {
            let t = e["type"].as_str().unwrap();
            let schema = schemas.get(t).unwrap_or_else(|| panic!("{t} is not in the catalogue"));
            let validator = jsonschema::validator_for(schema).unwrap_or_else(|err| panic!("{t}: bad schema: {err}"));
            let errors: Vec<String> = validator.iter_errors(e).map(|err| format!("{} at {}", err, err.instance_path())).collect();
            assert!(errors.is_empty(), "{t}: {errors:?}\n{e:#}");
            // The schema rejects an event of another type, or with another object.
            let mut wrong = e.clone();
            wrong["type"] = json!("nothing.happened");
            assert!(!validator.is_valid(&wrong), "{t} accepts another type");
            wrong = e.clone();
            wrong["data"]["object"] = json!("not an object");
            assert!(!validator.is_valid(&wrong), "{t} accepts any object");
            checked.insert(t.to_owned());
        }
        let expected = [
            "tenant.created", "tenant.updated", "member.created", "member.removed", "role.created", "role.updated",
            "invitation.created", "invitation.revoked", "api_key.created", "api_key.revoked",
            "product.created", "product.updated", "project.created", "task.created", "task.toggled",
        ];
        for t in expected {
            assert!(checked.contains(t), "{t} was not produced: {checked:?}");
        }
    }
}
