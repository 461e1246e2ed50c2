//! Projects and tasks, global search, and the security events over HTTP.

use reqwest::Method;
use serde_json::{Value, json};
use tenantry_tests::{TestApp, app_tests, problem};

const PASSWORD: &str = "correct horse battery";

async fn owner(app: &TestApp, slug: &str) -> (String, String) {
    let body = app
        .onboard(slug, &format!("owner@{slug}.test"), PASSWORD)
        .await;
    (
        body["session"]["access_token"].as_str().unwrap().to_owned(),
        body["session"]["user"]["id"].as_str().unwrap().to_owned(),
    )
}

fn call(app: &TestApp, method: Method, path: &str, token: &str) -> reqwest::RequestBuilder {
    app.request(method, path)
        .header("X-Tenant-ID", "acme")
        .bearer_auth(token)
}

async fn ok(res: reqwest::Response, status: u16) -> Value {
    assert_eq!(res.status().as_u16(), status, "{}", res.url());
    if status == 204 {
        Value::Null
    } else {
        res.json().await.unwrap()
    }
}

async fn audit(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let page = ok(
        call(
            app,
            Method::GET,
            &format!("/api/v1/audit-logs{query}"),
            token,
        )
        .send()
        .await
        .unwrap(),
        200,
    )
    .await;
    page["items"].as_array().unwrap().clone()
}

app_tests! {
    async fn dates_and_times_are_taken_only_in_their_documented_format(app) {
        let (t, _) = owner(app, "acme").await;
        let p = ok(call(app, Method::POST, "/api/v1/projects", &t).json(&json!({"name": "Dates"})).send().await.unwrap(), 201).await;
        let tasks_url = format!("/api/v1/projects/{}/tasks", p["id"].as_str().unwrap());
        for bad in ["2030-1-1", "-0001-01-01", "+2030-01-01", "1899-12-31", "10000-01-01", "2030-02-30", "2030-01-01T00:00:00Z"] {
            let res = call(app, Method::POST, &tasks_url, &t).json(&json!({"title": "x", "due_date": bad})).send().await.unwrap();
            let body = problem(res, 422, "validation_failed").await;
            assert_eq!(body["errors"][0]["field"], "due_date", "{bad}: {body}");
        }
        let task = ok(call(app, Method::POST, &tasks_url, &t).json(&json!({"title": "x", "due_date": "9999-12-31"})).send().await.unwrap(), 201).await;
        let res = call(app, Method::PATCH, &format!("/api/v1/tasks/{}", task["id"].as_str().unwrap()), &t).json(&json!({"due_date": "2030-1-1"})).send().await.unwrap();
        problem(res, 422, "validation_failed").await;
        // Times in queries and bodies: RFC 3339 only, from 1970.
        for bad in ["2030-01-01", "2030-01-01%2000:00:00Z", "-0001-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "2030-1-01T00:00:00Z"] {
            for path in ["/api/v1/products?created_from=", "/api/v1/audit-logs?from="] {
                let res = call(app, Method::GET, &format!("{path}{bad}"), &t).send().await.unwrap();
                assert_eq!(res.status(), 400, "{path}{bad}");
            }
        }
        let res = call(app, Method::GET, "/api/v1/audit-logs?from=2030-01-01T00:00:00Z", &t).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let res = call(app, Method::POST, "/api/v1/api-keys", &t).json(&json!({"name": "k", "permissions": [], "expires_at": "2030-1-1T00:00:00Z"})).send().await.unwrap();
        assert_eq!(problem(res, 422, "validation_failed").await["errors"][0]["field"], "expires_at");
    }

    async fn projects_and_tasks(app) {
        let (t, me) = owner(app, "acme").await;
        let p = ok(call(app, Method::POST, "/api/v1/projects", &t).json(&json!({"name": "Launch", "description": "The big one"})).send().await.unwrap(), 201).await;
        assert_eq!(p["archived"], false);
        let pid = p["id"].as_str().unwrap().to_owned();
        let tasks_url = format!("/api/v1/projects/{pid}/tasks");
        let t1 = ok(call(app, Method::POST, &tasks_url, &t).json(&json!({"title": "Write post", "due_date": "2026-12-01", "assignee_id": me})).send().await.unwrap(), 201).await;
        assert_eq!(t1["due_date"], "2026-12-01");
        assert_eq!(t1["is_done"], false);
        let t2 = ok(call(app, Method::POST, &tasks_url, &t).json(&json!({"title": "Ship it"})).send().await.unwrap(), 201).await;
        let t1_url = format!("/api/v1/tasks/{}", t1["id"].as_str().unwrap());

        // Toggle twice; each is recorded as `toggled`.
        let done = ok(call(app, Method::POST, &format!("{t1_url}/toggle"), &t).send().await.unwrap(), 200).await;
        assert_eq!(done["is_done"], true);
        let undone = ok(call(app, Method::POST, &format!("{t1_url}/toggle"), &t).send().await.unwrap(), 200).await;
        assert_eq!(undone["is_done"], false);
        ok(call(app, Method::POST, &format!("{t1_url}/toggle"), &t).send().await.unwrap(), 200).await;
        let toggles = audit(app, &t, &format!("?entity_id={}&action=toggled", t1["id"].as_str().unwrap())).await;
        assert_eq!(toggles.len(), 3);
        assert_eq!(toggles[0]["changes"]["is_done"], json!({"old": false, "new": true}));

        // PATCH: clear the due date and the assignee with null.
        let patched = ok(call(app, Method::PATCH, &t1_url, &t).json(&json!({"due_date": null, "assignee_id": null, "notes": "n"})).send().await.unwrap(), 200).await;
        assert_eq!((patched["due_date"].clone(), patched["assignee_id"].clone(), patched["notes"].clone()), (Value::Null, Value::Null, json!("n")));
        // Assignee must be a member.
        let stranger = app.create_user("stranger@x.test", PASSWORD).await;
        let res = call(app, Method::PATCH, &t1_url, &t).json(&json!({"assignee_id": stranger.id})).send().await.unwrap();
        assert_eq!(problem(res, 422, "validation_failed").await["errors"][0]["field"], "assignee_id");
        let res = call(app, Method::POST, &tasks_url, &t).json(&json!({"title": " "})).send().await.unwrap();
        assert_eq!(problem(res, 422, "validation_failed").await["errors"][0]["field"], "title");

        // Lists, filters, search.
        let page = ok(call(app, Method::GET, &format!("{tasks_url}?is_done=true"), &t).send().await.unwrap(), 200).await;
        assert_eq!(page["items"].as_array().unwrap().len(), 1);
        let page = ok(call(app, Method::GET, &format!("{tasks_url}?q=ship"), &t).send().await.unwrap(), 200).await;
        assert_eq!(page["items"][0]["id"], t2["id"]);
        let page = ok(call(app, Method::GET, &format!("{tasks_url}?limit=1"), &t).send().await.unwrap(), 200).await;
        let next = page["next_cursor"].as_str().unwrap();
        let page2 = ok(call(app, Method::GET, &format!("{tasks_url}?limit=1&cursor={next}"), &t).send().await.unwrap(), 200).await;
        assert_eq!(page2["items"][0]["id"], t2["id"]);
        assert_eq!(page2["next_cursor"], Value::Null);
        let res = call(app, Method::GET, &format!("{tasks_url}?cursor=nonsense"), &t).send().await.unwrap();
        problem(res, 400, "invalid_cursor").await;

        // Archive, then delete the project: its tasks go too, each recorded.
        let archived = ok(call(app, Method::PATCH, &format!("/api/v1/projects/{pid}"), &t).json(&json!({"archived": true})).send().await.unwrap(), 200).await;
        assert_eq!(archived["archived"], true);
        let page = ok(call(app, Method::GET, "/api/v1/projects?archived=false", &t).send().await.unwrap(), 200).await;
        assert_eq!(page["items"].as_array().unwrap().len(), 0);
        ok(call(app, Method::DELETE, &format!("/api/v1/projects/{pid}"), &t).send().await.unwrap(), 204).await;
        problem(call(app, Method::GET, &t1_url, &t).send().await.unwrap(), 404, "task_not_found").await;
        problem(call(app, Method::GET, &tasks_url, &t).send().await.unwrap(), 404, "project_not_found").await;
        let deletions = audit(app, &t, "?action=deleted").await;
        let kinds: Vec<&str> = deletions.iter().map(|e| e["entity_type"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["project", "task", "task"], "newest first: the tasks went before the project");
        let seqs: Vec<u64> = deletions.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
        assert!(seqs.windows(2).all(|w| w[0] == w[1] + 1), "one transaction, consecutive entries: {seqs:?}");
    }

    async fn concurrent_toggles_and_patches_are_not_lost(app) {
        let (t, _) = owner(app, "acme").await;
        let p = ok(call(app, Method::POST, "/api/v1/projects", &t).json(&json!({"name": "P"})).send().await.unwrap(), 201).await;
        let task = ok(call(app, Method::POST, &format!("/api/v1/projects/{}/tasks", p["id"].as_str().unwrap()), &t).json(&json!({"title": "T"})).send().await.unwrap(), 201).await;
        let url = format!("/api/v1/tasks/{}", task["id"].as_str().unwrap());
        let mut running = vec![];
        for i in 0..9 {
            let req = if i == 4 {
                call(app, Method::PATCH, &url, &t).json(&json!({"notes": "patched"}))
            } else {
                call(app, Method::POST, &format!("{url}/toggle"), &t)
            };
            running.push(tokio::spawn(async move { req.send().await.unwrap().status().as_u16() }));
        }
        for r in running {
            assert_eq!(r.await.unwrap(), 200);
        }
        let now = ok(call(app, Method::GET, &url, &t).send().await.unwrap(), 200).await;
        assert_eq!(now["is_done"], false, "eight toggles: back to not done");
        assert_eq!(now["notes"], "patched", "the patch survived the toggles");
        let toggles = audit(app, &t, &format!("?entity_id={}&action=toggled", task["id"].as_str().unwrap())).await;
        assert_eq!(toggles.len(), 8);
        // Each toggle started from where the one before it left off (newest first here): no
        // two read the same state, so none was lost.
        let flips: Vec<(bool, bool)> = toggles.iter().rev().map(|e| {
            let c = &e["changes"]["is_done"];
            (c["old"].as_bool().unwrap(), c["new"].as_bool().unwrap())
        }).collect();
        assert_eq!(flips[0], (false, true));
        assert!(flips.windows(2).all(|w| w[1].0 == w[0].1 && w[1].1 != w[1].0), "{flips:?}");
    }

    async fn global_search_groups_by_kind(app) {
        let (t, _) = owner(app, "acme").await;
        call(app, Method::POST, "/api/v1/products", &t).json(&json!({"name": "Aurora lamp", "sku": "AUR-1", "description": "A warm aurora glow for desks", "price_minor": 1, "currency": "EUR"})).send().await.unwrap();
        call(app, Method::POST, "/api/v1/products", &t).json(&json!({"name": "Desk", "sku": "DSK-1", "description": "Oak", "price_minor": 1, "currency": "EUR"})).send().await.unwrap();
        let p = ok(call(app, Method::POST, "/api/v1/projects", &t).json(&json!({"name": "Aurora campaign"})).send().await.unwrap(), 201).await;
        call(app, Method::POST, &format!("/api/v1/projects/{}/tasks", p["id"].as_str().unwrap()), &t).json(&json!({"title": "Photograph the aurora lamp"})).send().await.unwrap();
        let aurora = app.create_user("aurora@acme.test", PASSWORD).await;
        let beta = app.onboard("beta", "b@beta.test", PASSWORD).await;
        app.add_member(beta["tenant"]["id"].as_str().unwrap(), aurora.id, "viewer").await;
        let res = ok(call(app, Method::GET, "/api/v1/search?q=aurora", &t).send().await.unwrap(), 200).await;
        let groups = res["groups"].as_array().unwrap();
        let summary: Vec<(String, u64)> = groups.iter().map(|g| (g["type"].as_str().unwrap().to_owned(), g["count"].as_u64().unwrap())).collect();
        assert_eq!(summary, [("products".into(), 1), ("projects".into(), 1), ("tasks".into(), 1), ("members".into(), 0)], "aurora is a member of beta, not acme");
        assert_eq!(groups[0]["hits"][0]["title"], "Aurora lamp");
        assert!(groups[0]["hits"][0]["snippet"].as_str().unwrap().contains("aurora glow"));
        let res = ok(call(app, Method::GET, "/api/v1/search?q=owner&types=members", &t).send().await.unwrap(), 200).await;
        assert_eq!(res["groups"][0]["count"], 1);
        assert_eq!(res["groups"][0]["hits"][0]["snippet"], "owner@acme.test");
        problem(call(app, Method::GET, "/api/v1/search?q=x&types=widgets", &t).send().await.unwrap(), 400, "invalid_query").await;
        problem(call(app, Method::GET, "/api/v1/search?q=%20", &t).send().await.unwrap(), 400, "invalid_query").await;
        // A key that may read products only may search products only.
        let key = ok(call(app, Method::POST, "/api/v1/api-keys", &t).json(&json!({"name": "k", "permissions": ["tenant:read", "products:read"]})).send().await.unwrap(), 201).await;
        let key = key["key"].as_str().unwrap();
        let res = app.get("/api/v1/search?q=aurora").header("X-Tenant-ID", "acme").header("X-API-Key", key).send().await.unwrap();
        let res = ok(res, 200).await;
        assert_eq!(res["groups"].as_array().unwrap().len(), 1);
        let res = app.get("/api/v1/search?q=aurora&types=tasks").header("X-Tenant-ID", "acme").header("X-API-Key", key).send().await.unwrap();
        problem(res, 403, "permission_denied").await;
        // More matches than hits shown: the count is of all of them.
        for i in 0..7 {
            call(app, Method::POST, "/api/v1/products", &t).json(&json!({"name": format!("Gizmo {i}"), "sku": format!("GZ-{i}"), "price_minor": 1, "currency": "EUR"})).send().await.unwrap();
        }
        let res = ok(call(app, Method::GET, "/api/v1/search?q=gizmo&types=products", &t).send().await.unwrap(), 200).await;
        assert_eq!(res["groups"][0]["count"], 7);
        assert_eq!(res["groups"][0]["hits"].as_array().unwrap().len(), 5);
    }

    async fn account_events_go_to_the_platform_security_log(app) {
        let (t, me) = owner(app, "acme").await;
        let login = |password: &'static str| app.request(Method::POST, "/api/v1/auth/login").header("User-Agent", "probe/2").json(&json!({"email": "owner@acme.test", "password": password})).send();
        assert_eq!(login("wrong password!!").await.unwrap().status(), 401);
        let session: Value = login(PASSWORD).await.unwrap().json().await.unwrap();
        let refresh = session["refresh_token"].as_str().unwrap().to_owned();
        let rotated: Value = app.request(Method::POST, "/api/v1/auth/refresh").json(&json!({"refresh_token": refresh})).send().await.unwrap().json().await.unwrap();
        // Reuse of the spent token.
        assert_eq!(app.request(Method::POST, "/api/v1/auth/refresh").json(&json!({"refresh_token": refresh})).send().await.unwrap().status(), 401);
        let res = app.request(Method::POST, "/api/v1/auth/logout").json(&json!({"refresh_token": rotated["refresh_token"]})).send().await.unwrap();
        assert_eq!(res.status(), 204);
        app.request(Method::POST, "/api/v1/auth/login").json(&json!({"email": "nobody@acme.test", "password": "whatever it is"})).send().await.unwrap();

        let mine = ok(app.get("/api/v1/auth/me/security-events").bearer_auth(&t).send().await.unwrap(), 200).await;
        let kinds: Vec<&str> = mine["items"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["logout", "refresh_reuse_detected", "login_succeeded", "login_failed"]);
        let failed = &mine["items"][3];
        assert_eq!(failed["user_agent"], "probe/2");
        assert_eq!(failed["ip"], "127.0.0.1");
        assert_eq!(failed["user_id"], me.as_str());
        // Someone else's events are not mine: the unknown e-mail's failure is on the platform log.
        let all = ok(app.operator(Method::GET, "/api/v1/platform/security-events?kind=login_failed").send().await.unwrap(), 200).await;
        let emails: Vec<&str> = all["items"].as_array().unwrap().iter().map(|e| e["email"].as_str().unwrap()).collect();
        assert_eq!(emails, ["nobody@acme.test", "owner@acme.test"]);
        assert_eq!(all["items"][0]["user_id"], Value::Null);
        let page = ok(app.operator(Method::GET, &format!("/api/v1/platform/security-events?user_id={me}&limit=2")).send().await.unwrap(), 200).await;
        assert_eq!(page["items"].as_array().unwrap().len(), 2);
        let next = page["next_cursor"].as_str().unwrap();
        let rest = ok(app.operator(Method::GET, &format!("/api/v1/platform/security-events?user_id={me}&cursor={next}")).send().await.unwrap(), 200).await;
        assert_eq!(rest["items"].as_array().unwrap().len(), 2);
        problem(app.get("/api/v1/platform/security-events").bearer_auth(&t).send().await.unwrap(), 403, "platform_admin_required").await;
        problem(app.get("/api/v1/auth/me/security-events").send().await.unwrap(), 401, "unauthorized").await;
        // A password change is recorded too.
        let res = app.request(Method::POST, "/api/v1/auth/password").bearer_auth(&t).json(&json!({"current_password": PASSWORD, "new_password": "another fine passphrase"})).send().await.unwrap();
        assert_eq!(res.status(), 204);
        let mine = ok(app.get("/api/v1/auth/me/security-events?kind=password_changed").bearer_auth(&t).send().await.unwrap(), 200).await;
        assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    }

    async fn tenant_security_events_and_team_changes_are_in_the_audit_trail(app) {
        let (t, _) = owner(app, "acme").await;
        let viewer = app.create_user("vic@acme.test", PASSWORD).await;
        let tenant_id = ok(call(app, Method::GET, "/api/v1/tenant", &t).send().await.unwrap(), 200).await["id"].as_str().unwrap().to_owned();
        app.add_member(&tenant_id, viewer.id, "viewer").await;
        let vic = app.login("vic@acme.test", PASSWORD).await["access_token"].as_str().unwrap().to_owned();
        // A viewer tries to write: refused and recorded.
        problem(call(app, Method::POST, "/api/v1/products", &vic).json(&json!({"name": "x", "sku": "X", "price_minor": 1, "currency": "EUR"})).send().await.unwrap(), 403, "permission_denied").await;
        let denied = audit(app, &t, "?action=permission_denied").await;
        assert_eq!(denied.len(), 1);
        assert_eq!(denied[0]["entity_id"], "POST /api/v1/products");
        assert_eq!(denied[0]["actor_id"], viewer.id.to_string().as_str());
        assert_eq!(denied[0]["changes"]["permission"]["new"], "products:write");
        // A revoked key presented again: refused and recorded in its tenant.
        let key = ok(call(app, Method::POST, "/api/v1/api-keys", &t).json(&json!({"name": "ci", "permissions": ["products:read"]})).send().await.unwrap(), 201).await;
        ok(call(app, Method::DELETE, &format!("/api/v1/api-keys/{}", key["id"].as_str().unwrap()), &t).send().await.unwrap(), 204).await;
        let res = app.get("/api/v1/products").header("X-Tenant-ID", "acme").header("X-API-Key", key["key"].as_str().unwrap()).send().await.unwrap();
        problem(res, 401, "unauthorized").await;
        let refused = audit(app, &t, "?action=api_key_denied").await;
        assert_eq!(refused[0]["changes"]["reason"]["new"], "revoked");
        // Invitations and role changes.
        let inv = ok(call(app, Method::POST, "/api/v1/invitations", &t).json(&json!({"email": "new@acme.test", "role": "member"})).send().await.unwrap(), 201).await;
        ok(call(app, Method::DELETE, &format!("/api/v1/invitations/{}", inv["id"].as_str().unwrap()), &t).send().await.unwrap(), 204).await;
        let roles = ok(call(app, Method::GET, "/api/v1/roles", &t).send().await.unwrap(), 200).await;
        let member_role = roles["items"].as_array().unwrap().iter().find(|r| r["name"] == "member").unwrap()["id"].clone();
        ok(call(app, Method::PATCH, &format!("/api/v1/members/{}", viewer.id), &t).json(&json!({"role_id": member_role})).send().await.unwrap(), 200).await;
        let trail = audit(app, &t, "?limit=100").await;
        let seen: Vec<(String, String)> = trail.iter().map(|e| (e["entity_type"].as_str().unwrap().to_owned(), e["action"].as_str().unwrap().to_owned())).collect();
        for expected in [("membership", "updated"), ("invitation", "revoked"), ("invitation", "created"), ("api_key", "revoked"), ("api_key", "created"), ("membership", "created"), ("role", "created"), ("tenant_settings", "created")] {
            assert!(seen.contains(&(expected.0.to_owned(), expected.1.to_owned())), "{expected:?} missing from {seen:?}");
        }
        let membership = trail.iter().find(|e| e["entity_type"] == "membership" && e["action"] == "updated").unwrap();
        assert_eq!(membership["changes"]["role_id"]["new"], member_role);
        // The key's secret never reaches the trail.
        assert!(!serde_json::to_string(&trail).unwrap().contains(key["key"].as_str().unwrap()));
        // Filters: by actor, by time.
        let vic_entries = audit(app, &t, &format!("?actor_id={}", viewer.id)).await;
        assert!(vic_entries.iter().all(|e| e["actor_id"] == viewer.id.to_string().as_str()) && !vic_entries.is_empty());
        let future = audit(app, &t, "?from=2100-01-01T00:00:00Z").await;
        assert!(future.is_empty());
        problem(call(app, Method::GET, "/api/v1/audit-logs?cursor=zzz", &t).send().await.unwrap(), 400, "invalid_cursor").await;
    }
}
