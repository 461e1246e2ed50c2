//! Products over HTTP: CRUD, listing (filters, orders, cursors, full-text search), bulk
//! import (all or nothing), and the audit entries each change leaves.

use reqwest::Method;
use serde_json::{Value, json};
use tenantry_tests::{TestApp, app_tests, owner, problem};

fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    tenant: &str,
    bearer: &str,
) -> reqwest::RequestBuilder {
    app.request(method, path)
        .header("X-Tenant-ID", tenant)
        .bearer_auth(bearer)
}

async fn create(app: &TestApp, tenant: &str, token: &str, body: Value) -> Value {
    let res = call(app, Method::POST, "/api/v1/products", tenant, token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "create product");
    res.json().await.unwrap()
}

fn product(name: &str, sku: &str, price: i64) -> Value {
    json!({"name": name, "sku": sku, "description": format!("{name} description"), "price_minor": price, "currency": "EUR"})
}

async fn list(app: &TestApp, tenant: &str, token: &str, query: &str) -> Value {
    let res = call(
        app,
        Method::GET,
        &format!("/api/v1/products{query}"),
        tenant,
        token,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(res.status(), 200, "list {query}");
    res.json().await.unwrap()
}

fn skus(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["sku"].as_str().unwrap().to_owned())
        .collect()
}

async fn audit(app: &TestApp, tenant: &str, token: &str, query: &str) -> Value {
    let res = call(
        app,
        Method::GET,
        &format!("/api/v1/audit-logs{query}"),
        tenant,
        token,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(res.status(), 200, "audit {query}");
    res.json().await.unwrap()
}

app_tests! {
    async fn product_crud_is_audited_in_the_same_transaction(app) {
        let t = owner(app, "acme").await;
        let res = call(app, Method::POST, "/api/v1/products", "acme", &t)
            .header("User-Agent", "catalogue-sync/1.0")
            .json(&json!({"name": "Blue widget", "sku": "WID-1", "price_minor": 1999, "currency": "EUR", "tenant_id": "00000000-0000-0000-0000-000000000000"}))
            .send().await.unwrap();
        assert_eq!(res.status(), 201);
        let request_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
        let p: Value = res.json().await.unwrap();
        assert_eq!(p["status"], "active");
        assert_eq!(p["description"], "");
        let id = p["id"].as_str().unwrap().to_owned();
        let got: Value = call(app, Method::GET, &format!("/api/v1/products/{id}"), "acme", &t).send().await.unwrap().json().await.unwrap();
        assert_eq!(got, p);

        let res = call(app, Method::PATCH, &format!("/api/v1/products/{id}"), "acme", &t)
            .json(&json!({"price_minor": 2499, "status": "archived"})).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let updated: Value = res.json().await.unwrap();
        assert_eq!(updated["price_minor"], 2499);
        assert_eq!(updated["sku"], "WID-1");

        // Duplicate SKU: 409, and the failed change leaves no audit entry.
        create(app, "acme", &t, product("Other", "WID-2", 5)).await;
        let res = call(app, Method::PATCH, &format!("/api/v1/products/{id}"), "acme", &t).json(&json!({"sku": "WID-2"})).send().await.unwrap();
        problem(res, 409, "sku_taken").await;
        let res = call(app, Method::POST, "/api/v1/products", "acme", &t).json(&product("Again", "WID-1", 1)).send().await.unwrap();
        problem(res, 409, "sku_taken").await;

        let res = call(app, Method::DELETE, &format!("/api/v1/products/{id}"), "acme", &t).send().await.unwrap();
        assert_eq!(res.status(), 204);
        let res = call(app, Method::GET, &format!("/api/v1/products/{id}"), "acme", &t).send().await.unwrap();
        problem(res, 404, "product_not_found").await;

        let trail = audit(app, "acme", &t, &format!("?entity_type=product&entity_id={id}")).await;
        let entries = trail["items"].as_array().unwrap();
        let actions: Vec<&str> = entries.iter().map(|e| e["action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["deleted", "updated", "created"], "newest first");
        let created = &entries[2];
        assert_eq!(created["actor_type"], "user");
        assert_eq!(created["request_id"], request_id.as_str());
        assert_eq!(created["user_agent"], "catalogue-sync/1.0");
        assert_eq!(created["ip"], "127.0.0.1");
        assert_eq!(created["changes"]["sku"], json!({"old": null, "new": "WID-1"}));
        assert_eq!(entries[1]["changes"]["price_minor"], json!({"old": 1999, "new": 2499}));
        assert_eq!(entries[1]["changes"]["status"], json!({"old": "active", "new": "archived"}));
        assert!(entries[1]["changes"].get("name").is_none(), "unchanged fields are not recorded");
        assert_eq!(entries[0]["changes"]["name"], json!({"old": "Blue widget", "new": null}));
        let verify: Value = call(app, Method::GET, "/api/v1/audit-logs/verify", "acme", &t).send().await.unwrap().json().await.unwrap();
        assert_eq!(verify["ok"], true);
        assert!(verify["entries_checked"].as_u64().unwrap() >= 10, "onboarding and product entries: {verify}");
    }

    async fn invalid_products_are_refused_field_by_field(app) {
        let t = owner(app, "acme").await;
        let res = call(app, Method::POST, "/api/v1/products", "acme", &t)
            .json(&json!({"name": " ", "sku": "bad sku", "price_minor": -5, "currency": "eur"})).send().await.unwrap();
        let body = problem(res, 422, "validation_failed").await;
        let fields: Vec<&str> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert_eq!(fields, ["name", "sku", "currency"]);
        let res = call(app, Method::POST, "/api/v1/products", "acme", &t)
            .json(&json!({"name": "x", "sku": "S", "price_minor": 1, "currency": "EUR", "description": "nul \u{0} byte"})).send().await.unwrap();
        assert_eq!(problem(res, 422, "validation_failed").await["errors"][0]["field"], "description");
        let res = call(app, Method::POST, "/api/v1/products", "acme", &t)
            .json(&json!({"name": "x", "sku": "S", "price_minor": -5, "currency": "EUR"})).send().await.unwrap();
        let body = problem(res, 422, "validation_failed").await;
        assert_eq!(body["errors"][0]["field"], "price_minor");
        assert_eq!(list(app, "acme", &t, "").await["items"], json!([]));
        // A change is judged whole before anything is read: every bad field at once.
        let p = create(app, "acme", &t, json!({"name": "x", "sku": "S", "price_minor": 1, "currency": "EUR"})).await;
        let url = format!("/api/v1/products/{}", p["id"].as_str().unwrap());
        let res = call(app, Method::PATCH, &url, "acme", &t).json(&json!({"name": " ", "price_minor": -1})).send().await.unwrap();
        let body = problem(res, 422, "validation_failed").await;
        let fields: Vec<&str> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert_eq!(fields, ["name", "price_minor"]);
        let now: Value = call(app, Method::GET, &url, "acme", &t).send().await.unwrap().json().await.unwrap();
        assert_eq!((now["name"].as_str(), now["price_minor"].as_i64()), (Some("x"), Some(1)));
    }

    async fn listing_filters_orders_and_pages(app) {
        let t = owner(app, "acme").await;
        for (i, (name, price)) in [("Delta", 400), ("alpha", 100), ("Charlie", 300), ("Bravo", 200), ("Echo", 500)].iter().enumerate() {
            create(app, "acme", &t, product(name, &format!("S{i}"), *price)).await;
        }
        let archived = create(app, "acme", &t, product("Foxtrot", "S5", 600)).await;
        call(app, Method::PATCH, &format!("/api/v1/products/{}", archived["id"].as_str().unwrap()), "acme", &t)
            .json(&json!({"status": "archived"})).send().await.unwrap();

        assert_eq!(skus(&list(app, "acme", &t, "?order=price").await), ["S1", "S3", "S2", "S0", "S4", "S5"]);
        assert_eq!(skus(&list(app, "acme", &t, "?order=-price&status=active").await), ["S4", "S0", "S2", "S3", "S1"]);
        assert_eq!(skus(&list(app, "acme", &t, "?price_min=200&price_max=400").await), ["S0", "S2", "S3"]);
        // Pages of two by name, following next_cursor to the end.
        let mut seen = vec![];
        let mut query = "?order=name&limit=2".to_owned();
        loop {
            let page = list(app, "acme", &t, &query).await;
            seen.extend(skus(&page));
            match page["next_cursor"].as_str() {
                Some(c) => query = format!("?order=name&limit=2&cursor={c}"),
                None => break,
            }
        }
        assert_eq!(seen, ["S3", "S2", "S0", "S4", "S5", "S1"], "byte order: upper case first");
        // A cursor from one order is refused by another.
        let page = list(app, "acme", &t, "?order=name&limit=2").await;
        let c = page["next_cursor"].as_str().unwrap();
        let res = call(app, Method::GET, &format!("/api/v1/products?order=price&cursor={c}"), "acme", &t).send().await.unwrap();
        problem(res, 400, "invalid_cursor").await;
        for bad in ["?limit=0", "?limit=101", "?order=sku", "?q=%20-%20", "?status=gone", "?price_min=x"] {
            let res = call(app, Method::GET, &format!("/api/v1/products{bad}"), "acme", &t).send().await.unwrap();
            problem(res, 400, "invalid_query").await;
        }
        // Created-at range.
        let all = list(app, "acme", &t, "?order=created_at").await;
        let third = all["items"][2]["created_at"].as_str().unwrap().replace('+', "%2B");
        assert_eq!(skus(&list(app, "acme", &t, &format!("?created_from={third}")).await), ["S2", "S3", "S4", "S5"]);
        assert_eq!(skus(&list(app, "acme", &t, &format!("?created_to={third}")).await), ["S0", "S1"]);
    }

    async fn full_text_search_uses_words_and_prefixes(app) {
        let t = owner(app, "acme").await;
        create(app, "acme", &t, json!({"name": "Stainless steel kettle", "sku": "KT-100", "description": "Boils water fast; 1.7 litres", "price_minor": 3999, "currency": "EUR"})).await;
        create(app, "acme", &t, json!({"name": "Copper kettle", "sku": "KT-200", "description": "Hand-made", "price_minor": 8999, "currency": "EUR"})).await;
        create(app, "acme", &t, json!({"name": "Steel pan", "sku": "PN-1", "description": "Works on induction", "price_minor": 2999, "currency": "EUR"})).await;
        let other = owner(app, "beta").await;
        create(app, "beta", &other, json!({"name": "Steel kettle of another tenant", "sku": "KT-100", "price_minor": 1, "currency": "EUR"})).await;

        assert_eq!(skus(&list(app, "acme", &t, "?q=kettle&order=price").await), ["KT-100", "KT-200"]);
        assert_eq!(skus(&list(app, "acme", &t, "?q=STEEL").await), ["KT-100", "PN-1"], "case-insensitive, this tenant only");
        assert_eq!(skus(&list(app, "acme", &t, "?q=steel%20kett").await), ["KT-100"], "every word, as a prefix");
        assert_eq!(skus(&list(app, "acme", &t, "?q=kt-200").await), ["KT-200"], "SKUs split like the text");
        assert_eq!(skus(&list(app, "acme", &t, "?q=induction").await), ["PN-1"], "descriptions too");
        assert_eq!(skus(&list(app, "acme", &t, "?q=water%20copper").await), Vec::<String>::new());
        // FTS syntax in the query is only words to us.
        assert_eq!(skus(&list(app, "acme", &t, "?q=kettle%22%20OR%20*").await), Vec::<String>::new());
        assert_eq!(skus(&list(app, "acme", &t, "?q=kettle&price_max=5000").await), ["KT-100"]);
        // Renamed products are found by their new name only.
        let pan = list(app, "acme", &t, "?q=pan").await["items"][0]["id"].as_str().unwrap().to_owned();
        call(app, Method::PATCH, &format!("/api/v1/products/{pan}"), "acme", &t).json(&json!({"name": "Steel wok"})).send().await.unwrap();
        assert_eq!(skus(&list(app, "acme", &t, "?q=pan").await), Vec::<String>::new());
        assert_eq!(skus(&list(app, "acme", &t, "?q=wok").await), ["PN-1"]);
        call(app, Method::DELETE, &format!("/api/v1/products/{pan}"), "acme", &t).send().await.unwrap();
        assert_eq!(skus(&list(app, "acme", &t, "?q=wok").await), Vec::<String>::new());
    }

    async fn bulk_import_is_all_or_nothing(app) {
        let t = owner(app, "acme").await;
        create(app, "acme", &t, product("Existing", "EX-1", 100)).await;
        let import = |ct: &'static str, body: String| {
            call(app, Method::POST, "/api/v1/products/bulk-import", "acme", &t).header("Content-Type", ct).body(body).send()
        };
        // JSON with errors in several rows: 422 listing each, nothing written.
        let rows = json!([
            {"name": "A", "sku": "A-1", "price_minor": 100, "currency": "EUR"},
            {"name": "B", "sku": "A-1", "price_minor": "12", "currency": "EUR"},
            {"name": "", "sku": "C-1", "price_minor": 5, "currency": "USD"},
            {"name": "D", "sku": "EX-1", "price_minor": 5, "currency": "USD"},
            {"name": "E", "sku": "E-1", "price_minor": 1.5, "currency": "GBP", "status": "gone"},
        ]);
        let body = problem(import("application/json", rows.to_string()).await.unwrap(), 422, "import_rows_invalid").await;
        let errors: Vec<(u64, &str)> = body["errors"].as_array().unwrap().iter().map(|e| (e["row"].as_u64().unwrap(), e["field"].as_str().unwrap())).collect();
        assert_eq!(errors, [(2, "sku"), (3, "name"), (4, "sku"), (5, "price_minor"), (5, "status")], "row errors and existing SKUs at once");
        assert_eq!(skus(&list(app, "acme", &t, "").await), ["EX-1"], "nothing written");
        // Valid apart from a SKU that exists: found in the database check, still nothing written.
        let rows = json!([
            {"name": "A", "sku": "A-1", "price_minor": 100, "currency": "EUR"},
            {"name": "D", "sku": "EX-1", "price_minor": 5, "currency": "USD"},
        ]);
        let body = problem(import("application/json", rows.to_string()).await.unwrap(), 422, "import_rows_invalid").await;
        assert_eq!(body["errors"][0]["row"], 2);
        assert!(body["errors"][0]["message"].as_str().unwrap().contains("already exists"));
        assert_eq!(skus(&list(app, "acme", &t, "").await), ["EX-1"]);

        // CSV: 1,000 rows in one go, each audited.
        let mut csv = "name,sku,description,price_minor,currency,status\n".to_owned();
        for i in 0..1000 {
            csv.push_str(&format!("\"Item, number {i}\",CSV-{i},Imported,{i},EUR,active\n"));
        }
        let verify: Value = call(app, Method::GET, "/api/v1/audit-logs/verify", "acme", &t).send().await.unwrap().json().await.unwrap();
        let entries_before = verify["entries_checked"].as_u64().unwrap();
        let res = import("text/csv; charset=utf-8", csv).await.unwrap();
        assert_eq!(res.status(), 201);
        assert_eq!(res.json::<Value>().await.unwrap()["imported"], 1000);
        let found = list(app, "acme", &t, "?q=number%20999").await;
        assert_eq!(skus(&found), ["CSV-999"]);
        assert_eq!(found["items"][0]["name"], "Item, number 999");
        let trail = audit(app, "acme", &t, "?entity_type=product&action=created&limit=100").await;
        assert_eq!(trail["items"].as_array().unwrap().len(), 100);
        let verify: Value = call(app, Method::GET, "/api/v1/audit-logs/verify", "acme", &t).send().await.unwrap().json().await.unwrap();
        assert_eq!(verify["ok"], true);
        assert_eq!(verify["entries_checked"].as_u64().unwrap(), entries_before + 1000, "one entry per imported row");

        // Malformed and refused bodies.
        problem(import("text/csv", "name,sku,colour\nA,B,red\n".into()).await.unwrap(), 422, "validation_failed").await;
        problem(import("text/csv", "name,sku\n\"unterminated\n".into()).await.unwrap(), 400, "malformed_csv").await;
        problem(import("application/json", "[{".into()).await.unwrap(), 400, "malformed_json").await;
        problem(import("application/json", "[]".into()).await.unwrap(), 422, "validation_failed").await;
        problem(import("application/xml", "<a/>".into()).await.unwrap(), 415, "unsupported_media_type").await;
        let too_many: Vec<Value> = (0..10_001).map(|i| product("x", &format!("M{i}"), 1)).collect();
        problem(import("application/json", Value::from(too_many).to_string()).await.unwrap(), 422, "validation_failed").await;
    }

    async fn a_tampered_audit_entry_is_found(app) {
        let t = owner(app, "acme").await;
        for i in 0..5 {
            create(app, "acme", &t, product("P", &format!("T{i}"), i)).await;
        }
        let v: Value = call(app, Method::GET, "/api/v1/audit-logs/verify", "acme", &t).send().await.unwrap().json().await.unwrap();
        assert_eq!(v["ok"], true);
        let trail = audit(app, "acme", &t, "?entity_type=product&limit=5").await;
        let victim = trail["items"][2].clone();
        // Change the price an entry says was set, behind the service's back.
        assert_eq!(victim["changes"]["price_minor"]["new"], 2);
        app.db().tamper(&format!(
            "UPDATE audit_entries SET changes = replace(changes, '\"price_minor\":{{\"old\":null,\"new\":2}}', \
             '\"price_minor\":{{\"old\":null,\"new\":999}}') WHERE id = '{}'",
            victim["id"].as_str().unwrap()
        )).await;
        let edited = audit(app, "acme", &t, "?entity_type=product&limit=5").await;
        assert_eq!(edited["items"][2]["changes"]["price_minor"]["new"], 999, "the edit landed");
        let v: Value = call(app, Method::GET, "/api/v1/audit-logs/verify", "acme", &t).send().await.unwrap().json().await.unwrap();
        assert_eq!(v["ok"], false);
        assert_eq!(v["first_broken_id"], victim["id"]);
        assert_eq!(v["entries_checked"].as_u64().unwrap(), victim["seq"].as_u64().unwrap());
    }

    async fn entries_removed_from_the_end_are_noticed(app) {
        let t = owner(app, "acme").await;
        for i in 0..3 {
            create(app, "acme", &t, product("P", &format!("R{i}"), i)).await;
        }
        let newest = audit(app, "acme", &t, "?limit=1").await["items"][0]["seq"].as_u64().unwrap();
        let tenant: Value = call(app, Method::GET, "/api/v1/tenant", "acme", &t).send().await.unwrap().json().await.unwrap();
        app.db().tamper(&format!(
            "DELETE FROM audit_entries WHERE tenant_id = '{}' AND seq >= {}",
            tenant["id"].as_str().unwrap(),
            newest - 1
        )).await;
        let v: Value = call(app, Method::GET, "/api/v1/audit-logs/verify", "acme", &t).send().await.unwrap().json().await.unwrap();
        assert_eq!(v["ok"], false, "{v}");
        assert_eq!(v["first_broken_id"], Value::Null);
        assert_eq!(v["entries_checked"].as_u64().unwrap(), newest - 2);
    }

    async fn the_service_cannot_change_or_remove_audit_entries(app) {
        let t = owner(app, "acme").await;
        create(app, "acme", &t, product("P", "P1", 1)).await;
        for sql in ["UPDATE audit_entries SET action = 'x'", "DELETE FROM audit_entries"] {
            let err = app.db().db().execute_raw(sql).await;
            assert!(err.is_err(), "{sql} must be refused to the service");
        }
        let v: Value = call(app, Method::GET, "/api/v1/audit-logs/verify", "acme", &t).send().await.unwrap().json().await.unwrap();
        assert_eq!(v["ok"], true);
    }

    async fn concurrent_writers_do_not_fork_the_chain(app) {
        let t = owner(app, "acme").await;
        let mut tasks = vec![];
        for i in 0..20 {
            let req = call(app, Method::POST, "/api/v1/products", "acme", &t).json(&product("C", &format!("C{i}"), i));
            tasks.push(tokio::spawn(async move { req.send().await.unwrap().status().as_u16() }));
        }
        for task in tasks {
            assert_eq!(task.await.unwrap(), 201);
        }
        let v: Value = call(app, Method::GET, "/api/v1/audit-logs/verify", "acme", &t).send().await.unwrap().json().await.unwrap();
        assert_eq!(v["ok"], true, "{v}");
        let trail = audit(app, "acme", &t, "?limit=100").await;
        let seqs: Vec<u64> = trail["items"].as_array().unwrap().iter().map(|e| e["seq"].as_u64().unwrap()).collect();
        let n = seqs.len() as u64;
        assert_eq!(seqs, (1..=n).rev().collect::<Vec<_>>(), "one gap-free sequence");
        // And every create is in it, once.
        let created = audit(app, "acme", &t, "?entity_type=product&action=created&limit=100").await;
        let mut skus: Vec<String> = created["items"].as_array().unwrap().iter().map(|e| e["changes"]["sku"]["new"].as_str().unwrap().to_owned()).collect();
        skus.sort();
        let mut expected: Vec<String> = (0..20).map(|i| format!("C{i}")).collect();
        expected.sort();
        assert_eq!(skus, expected);
    }
}
