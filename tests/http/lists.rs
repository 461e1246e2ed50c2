//! One envelope for every collection, cursors that walk it, and CSV exports streamed page by
//! page.

use reqwest::Method;
use serde_json::{Value, json};
use tenantry_tests::{TestApp, app_tests, problem};

const PASSWORD: &str = "correct horse battery";

fn call(app: &TestApp, method: Method, path: &str, bearer: &str) -> reqwest::RequestBuilder {
    app.request(method, path)
        .header("X-Tenant-ID", "acme")
        .bearer_auth(bearer)
}

async fn owner(app: &TestApp) -> String {
    let body = app.onboard("acme", "ann@acme.test", PASSWORD).await;
    body["session"]["access_token"].as_str().unwrap().to_owned()
}

/// Every item of a list, following `next_cursor` with pages of `limit`; and how many pages.
async fn walk(app: &TestApp, path: &str, bearer: &str, limit: u32) -> (Vec<Value>, usize) {
    let (mut items, mut pages, mut cursor) = (vec![], 0, None::<String>);
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut url = format!("{path}{sep}limit={limit}");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let res = call(app, Method::GET, &url, bearer).send().await.unwrap();
        assert_eq!(res.status(), 200, "{url}");
        let page: Value = res.json().await.unwrap();
        pages += 1;
        let got = page["items"].as_array().unwrap();
        assert!(got.len() <= limit as usize);
        items.extend(got.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return (items, pages),
        }
        assert!(pages < 100, "{path} does not end");
    }
}

async fn csv(app: &TestApp, path: &str, bearer: &str) -> (reqwest::header::HeaderMap, String) {
    let res = call(app, Method::GET, path, bearer)
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{path}");
    let headers = res.headers().clone();
    (headers, res.text().await.unwrap())
}

app_tests! {
    async fn every_collection_answers_the_page_envelope_and_its_cursor_walks_it(app) {
        let t = owner(app).await;
        for n in 0..4 {
            let res = call(app, Method::POST, "/api/v1/invitations", &t)
                .json(&json!({"email": format!("guest{n}@example.test"), "role": "member"})).send().await.unwrap();
            assert_eq!(res.status(), 201);
            let res = call(app, Method::POST, "/api/v1/api-keys", &t)
                .json(&json!({"name": format!("key{n}"), "permissions": ["products:read"]})).send().await.unwrap();
            assert_eq!(res.status(), 201);
            let res = call(app, Method::POST, "/api/v1/webhooks", &t)
                .json(&json!({"url": format!("https://hooks{n}.example.com/"), "enabled": false})).send().await.unwrap();
            assert_eq!(res.status(), 201);
        }
        for n in 0..3 {
            let res = call(app, Method::POST, "/api/v1/domains", &t)
                .json(&json!({"hostname": format!("shop{n}.acme.example")})).send().await.unwrap();
            assert_eq!(res.status(), 201);
        }
        for n in 0..3 {
            let res = call(app, Method::POST, "/api/v1/roles", &t)
                .json(&json!({"name": format!("custom{n}"), "permissions": []})).send().await.unwrap();
            assert_eq!(res.status(), 201);
        }
        for (path, count, limit) in [
            ("/api/v1/invitations", 4, 3),
            ("/api/v1/api-keys", 4, 3),
            ("/api/v1/webhooks", 4, 3),
            ("/api/v1/roles", 7, 3),
            ("/api/v1/members", 1, 1),
            ("/api/v1/permissions", 22, 5),
            ("/api/v1/domains", 4, 3),
            ("/api/v1/auth/tenants", 1, 1),
        ] {
            let (items, pages) = walk(app, path, &t, limit).await;
            assert_eq!(items.len(), count, "{path}");
            assert_eq!(pages, count.div_ceil(limit as usize).max(1), "{path}");
            let mut ids: Vec<String> = items.iter().map(|i| i.to_string()).collect();
            ids.sort();
            ids.dedup();
            assert_eq!(ids.len(), count, "{path}: every item once");
        }
        // Newest first: the last invitation sent leads.
        let (invitations, _) = walk(app, "/api/v1/invitations", &t, 100).await;
        assert_eq!(invitations[0]["email"], "guest3@example.test");
        // A cursor of another list, garbage, and a limit out of range.
        let roles: Value = call(app, Method::GET, "/api/v1/roles?limit=1", &t).send().await.unwrap().json().await.unwrap();
        let role_cursor = roles["next_cursor"].as_str().unwrap();
        problem(call(app, Method::GET, &format!("/api/v1/members?cursor={role_cursor}"), &t).send().await.unwrap(), 400, "invalid_cursor").await;
        problem(call(app, Method::GET, "/api/v1/roles?cursor=***", &t).send().await.unwrap(), 400, "invalid_cursor").await;
        problem(call(app, Method::GET, "/api/v1/api-keys?limit=0", &t).send().await.unwrap(), 400, "invalid_query").await;
        problem(call(app, Method::GET, "/api/v1/permissions?limit=101", &t).send().await.unwrap(), 400, "invalid_query").await;
        // The operator's list of a tenant's domains pages the same way.
        let domains: Value = app.operator(Method::GET, "/api/v1/platform/tenants/acme/domains?limit=1").send().await.unwrap().json().await.unwrap();
        assert_eq!(domains["items"][0]["hostname"], "acme.localhost");
        let (all, pages) = walk(app, "/api/v1/domains", &t, 1).await;
        assert_eq!((all.len(), pages), (4, 4));
        assert_eq!(all[0]["hostname"], "acme.localhost", "the primary first");
        assert!(domains["next_cursor"].is_string());
    }

    async fn members_page_in_the_order_they_joined(app) {
        let t = owner(app).await;
        let tenant = app.get("/api/v1/tenant").header("X-Tenant-ID", "acme").send().await.unwrap().json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
        let mut joined = vec!["ann@acme.test".to_owned()];
        for n in 0..5 {
            let email = format!("m{n}@acme.test");
            let user = app.create_user(&email, PASSWORD).await;
            app.add_member(&tenant, user.id, "viewer").await;
            joined.push(email);
        }
        let (members, pages) = walk(app, "/api/v1/members", &t, 2).await;
        let emails: Vec<&str> = members.iter().map(|m| m["email"].as_str().unwrap()).collect();
        assert_eq!(emails, joined);
        assert_eq!(pages, 3);
    }

    async fn lists_users_export_answer_csv_streamed_past_one_page(app) {
        let t = owner(app).await;
        // 250 products: more than two pages of the largest page size.
        let rows: Vec<Value> = (0..250).map(|n| json!({
            "name": if n == 7 { "=HYPERLINK(\"http://evil\")".to_owned() } else { format!("Product {n:03}, \"quoted\"") },
            "sku": format!("SKU-{n:03}"), "price_minor": n, "currency": "EUR",
        })).collect();
        let res = call(app, Method::POST, "/api/v1/products/bulk-import", &t).json(&rows).send().await.unwrap();
        assert_eq!(res.status(), 201);

        let (headers, body) = csv(app, "/api/v1/products?order=price", &t).await;
        assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
        assert_eq!(headers["content-disposition"], "attachment; filename=\"products.csv\"");
        assert_eq!(headers.get("content-length"), None, "streamed, not buffered");
        let mut reader = csv::Reader::from_reader(body.as_bytes());
        let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
        assert_eq!(header[..4], ["id", "name", "sku", "description"]);
        let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(records.len(), 250, "every product, not one page");
        assert_eq!(&records[0][2], "SKU-000");
        assert_eq!(&records[1][1], "Product 001, \"quoted\"", "quotes and commas survive");
        assert_eq!(&records[7][1], "'=HYPERLINK(\"http://evil\")", "a formula is defused");
        assert_eq!(&records[249][4], "249");

        // Filters apply, and JSON is still the default.
        let (_, some) = csv(app, "/api/v1/products?price_max=9", &t).await;
        assert_eq!(some.lines().count(), 11);
        let json: Value = call(app, Method::GET, "/api/v1/products", &t).send().await.unwrap().json().await.unwrap();
        assert_eq!(json["items"].as_array().unwrap().len(), 20);
        let both = call(app, Method::GET, "/api/v1/products", &t).header("Accept", "application/json, text/csv;q=0.5").send().await.unwrap();
        assert_eq!(both.headers()["content-type"], "application/json");

        let (_, members) = csv(app, "/api/v1/members", &t).await;
        let lines: Vec<&str> = members.lines().collect();
        assert_eq!(lines[0], "user_id,email,display_name,role_id,role,status,created_at");
        assert!(lines[1].contains("ann@acme.test") && lines[1].contains("owner"), "{members}");

        let (_, audit) = csv(app, "/api/v1/audit-logs?entity_type=product", &t).await;
        let mut reader = csv::Reader::from_reader(audit.as_bytes());
        assert_eq!(reader.records().count(), 250);

        // A bad query is still a problem, not a CSV.
        problem(call(app, Method::GET, "/api/v1/products?limit=500", &t).header("Accept", "text/csv").send().await.unwrap(), 400, "invalid_query").await;
    }

    async fn an_export_that_fails_mid_stream_is_cut_short_not_passed_off_as_complete(app) {
        let t = owner(app).await;
        // The change poller drops the caches when it sees the sign-up's counters move: let it
        // see them first (it polls every 500 ms), or it may drop them between the read below
        // and the close.
        tokio::time::sleep(3 * tenantry_http::CHANGE_POLL_INTERVAL).await;
        // Tenant and membership cached; then the database goes: the answer has started (200,
        // the header row) before the first page is read.
        let res = call(app, Method::GET, "/api/v1/products", &t).send().await.unwrap();
        assert_eq!(res.status(), 200);
        app.app_db().close();
        // The chunked body ends without its last chunk (or, when nothing had been flushed yet,
        // the connection closes before the head): the client sees an error either way, never
        // a short file that looks whole.
        let sent = call(app, Method::GET, "/api/v1/products", &t).header("Accept", "text/csv").send().await;
        let body = match sent {
            Err(e) => Err(e),
            Ok(res) => {
                assert_eq!(res.status(), 200);
                assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
                res.bytes().await
            }
        };
        assert!(body.is_err(), "an incomplete export read as complete: {body:?}");
    }
}
