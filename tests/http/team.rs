//! Onboarding, the membership guard, permissions, members and roles over HTTP.

use reqwest::Method;
use serde_json::{Value, json};
use tenantry_tests::{TestApp, app_tests, problem};

const PASSWORD: &str = "correct horse battery";

fn token(session: &Value) -> String {
    session["access_token"].as_str().unwrap().to_owned()
}

/// A request to a tenant route, as a member of that tenant would send it.
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

app_tests! {
    async fn onboarding_over_http(app) {
        let body = app.onboard("acme", "ann@acme.test", PASSWORD).await;
        assert_eq!(body["tenant"]["slug"], "acme");
        assert_eq!(body["primary_domain"], "acme.localhost");
        assert_eq!(body["owner_created"], true);
        let access = token(&body["session"]);
        let members: Value = call(app, Method::GET, "/api/v1/members", "acme", &access).send().await.unwrap().json::<Value>().await.unwrap()["items"].take();
        assert_eq!(members[0]["email"], "ann@acme.test");
        assert_eq!(members[0]["role"], "owner");
        // The same token against the subdomain.
        let res = app.get_as_host("acme.localhost", "/api/v1/roles").bearer_auth(&access).send().await.unwrap();
        let roles: Value = res.json().await.unwrap();
        assert_eq!(roles["items"].as_array().unwrap().len(), 4);
        // An existing account can found another tenant with its own password.
        let second = app.onboard("beta", "ANN@acme.test", PASSWORD).await;
        assert_eq!(second["owner_created"], false);
        assert_eq!(second["session"]["user"]["id"], body["session"]["user"]["id"]);
    }

    async fn sign_up_answers_do_not_tell_whether_an_e_mail_has_an_account(app) {
        // The rows of docs/decisions/0016-sign-up-answers.md.
        let ann = app.onboard("acme", "ann@acme.test", PASSWORD).await;
        let ann_id = ann["session"]["user"]["id"].as_str().unwrap().to_owned();
        let checks = |kind: &'static str| {
            let url = format!("/api/v1/platform/security-events?kind={kind}&user_id={ann_id}&limit=100");
            async move {
                let page: Value = app.operator(Method::GET, &url).send().await.unwrap().json().await.unwrap();
                page["items"].as_array().unwrap().len()
            }
        };
        let failed_checks = || checks("login_failed");
        let post = |slug: &str, email: &str, password: &str| {
            app.request(Method::POST, "/api/v1/onboard")
                .json(&json!({"organisation_name": "Org", "slug": slug, "owner_email": email, "owner_name": "Someone", "password": password}))
                .send()
        };
        let known = "ann@acme.test";
        let unknown = "nobody@else.test";
        let (right, wrong, weak) = (PASSWORD, "not her password at all", "password123");
        // A taken slug: the same answer for every e-mail and password that passes the policy,
        // and no password is checked (nothing counts toward Ann's lockout).
        let rows = [
            (known, right, 409, "slug_taken"),
            (known, wrong, 409, "slug_taken"),
            (unknown, right, 409, "slug_taken"),
            (unknown, wrong, 409, "slug_taken"),
            (known, weak, 422, "validation_failed"),
            (unknown, weak, 422, "validation_failed"),
        ];
        for _ in 0..6 {
            for (email, password, status, code) in rows {
                let body = problem(post("acme", email, password).await.unwrap(), status, code).await;
                assert!(!body.to_string().contains("ann@acme.test"), "{body}");
            }
        }
        assert_eq!(failed_checks().await, 0, "no password was checked for a taken slug");
        assert_eq!(checks("login_succeeded").await, 0, "not even the right one");
        // A free slug with a weak password: refused alike, nothing created.
        problem(post("free-one", known, weak).await.unwrap(), 422, "validation_failed").await;
        problem(post("free-one", unknown, weak).await.unwrap(), 422, "validation_failed").await;
        // A free slug otherwise: the sign-up itself is the answer (documented residual:
        // learning it costs a real organisation, and a wrong password counts toward the lock).
        problem(post("free-two", known, wrong).await.unwrap(), 401, "invalid_credentials").await;
        assert_eq!(failed_checks().await, 1);
        assert_eq!(post("free-two", known, right).await.unwrap().status(), 201);
        assert_eq!(checks("login_succeeded").await, 1);
        assert_eq!(post("free-three", unknown, right).await.unwrap().status(), 201);
    }

    async fn the_switcher(app) {
        let a = app.onboard("acme", "ann@acme.test", PASSWORD).await;
        app.onboard("beta", "ann@acme.test", PASSWORD).await;
        app.onboard("gamma", "gus@gamma.test", PASSWORD).await;
        let ann = token(&a["session"]);
        let mine: Value = app.get("/api/v1/auth/tenants").bearer_auth(&ann).send().await.unwrap().json::<Value>().await.unwrap()["items"].take();
        let slugs: Vec<&str> = mine.as_array().unwrap().iter().map(|t| t["slug"].as_str().unwrap()).collect();
        assert_eq!(slugs, ["acme", "beta"]);
        assert_eq!(mine[0]["primary_domain"], "acme.localhost");
        assert_eq!(mine[0]["role"], "owner");
        problem(app.get("/api/v1/auth/tenants").send().await.unwrap(), 401, "unauthorized").await;
    }

    async fn failed_onboarding_leaves_nothing(app) {
        app.onboard("acme", "ann@acme.test", PASSWORD).await;
        let post = |body: Value| app.request(Method::POST, "/api/v1/onboard").json(&body).send();
        let base = json!({"organisation_name": "Bob Co", "slug": "acme", "owner_email": "bob@bob.test", "owner_name": "Bob", "password": PASSWORD});
        problem(post(base.clone()).await.unwrap(), 409, "slug_taken").await;
        let mut weak = base.clone();
        weak["slug"] = json!("bob");
        weak["password"] = json!("password123");
        let body = problem(post(weak).await.unwrap(), 422, "validation_failed").await;
        assert_eq!(body["errors"][0]["field"], "password");
        let bad = json!({"organisation_name": "", "slug": "Bad Slug", "owner_email": "nope", "owner_name": "", "password": PASSWORD});
        let body = problem(post(bad).await.unwrap(), 422, "validation_failed").await;
        let fields: Vec<&str> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert_eq!(fields, ["organisation_name", "slug", "owner_email", "owner_name"]);
        let mut wrong = base.clone();
        wrong["slug"] = json!("bob");
        wrong["owner_email"] = json!("ann@acme.test");
        wrong["password"] = json!("not her password");
        problem(post(wrong).await.unwrap(), 401, "invalid_credentials").await;
        // Nothing was created by any of them: Bob has no account, bob has no tenant.
        let res = app.request(Method::POST, "/api/v1/auth/login").json(&json!({"email": "bob@bob.test", "password": PASSWORD})).send().await.unwrap();
        problem(res, 401, "invalid_credentials").await;
        let res = app.get("/api/v1/tenant").header("X-Tenant-ID", "bob").send().await.unwrap();
        problem(res, 404, "tenant_not_found").await;
    }

    async fn the_guard_checks_tenant_token_membership_permission_in_order(app) {
        let a = app.onboard("acme", "ann@acme.test", PASSWORD).await;
        let b = app.onboard("beta", "bob@beta.test", PASSWORD).await;
        let ann = token(&a["session"]);
        let bob = token(&b["session"]);
        problem(call(app, Method::GET, "/api/v1/members", "nobody", &ann).send().await.unwrap(), 404, "tenant_not_found").await;
        problem(app.get("/api/v1/members").header("X-Tenant-ID", "acme").send().await.unwrap(), 401, "unauthorized").await;
        problem(call(app, Method::GET, "/api/v1/members", "acme", &bob).send().await.unwrap(), 403, "not_a_member").await;
        // A member whose role lacks the permission.
        let viewer = app.create_user("vic@acme.test", PASSWORD).await;
        app.add_member(a["tenant"]["id"].as_str().unwrap(), viewer.id, "viewer").await;
        let vic = token(&app.login("vic@acme.test", PASSWORD).await);
        assert_eq!(call(app, Method::GET, "/api/v1/members", "acme", &vic).send().await.unwrap().status(), 200);
        let res = call(app, Method::POST, "/api/v1/roles", "acme", &vic).json(&json!({"name": "x1", "permissions": []})).send().await.unwrap();
        let body = problem(res, 403, "permission_denied").await;
        assert!(body["detail"].as_str().unwrap().contains("roles:manage"));
    }

    async fn members_and_roles(app) {
        let a = app.onboard("acme", "ann@acme.test", PASSWORD).await;
        let tenant = a["tenant"]["id"].as_str().unwrap().to_owned();
        let ann = token(&a["session"]);
        let owner_id = a["session"]["user"]["id"].as_str().unwrap().to_owned();
        let roles: Value = call(app, Method::GET, "/api/v1/roles", "acme", &ann).send().await.unwrap().json::<Value>().await.unwrap()["items"].take();
        let role_id = |name: &str| roles.as_array().unwrap().iter().find(|r| r["name"] == name).unwrap()["id"].as_str().unwrap().to_owned();

        // The last owner stays.
        let res = call(app, Method::PATCH, &format!("/api/v1/members/{owner_id}"), "acme", &ann).json(&json!({"role_id": role_id("admin")})).send().await.unwrap();
        problem(res, 409, "last_owner").await;
        problem(call(app, Method::DELETE, &format!("/api/v1/members/{owner_id}"), "acme", &ann).send().await.unwrap(), 409, "last_owner").await;

        // Custom roles; unknown permissions are field errors.
        let res = call(app, Method::POST, "/api/v1/roles", "acme", &ann).json(&json!({"name": "support", "permissions": ["members:read", "nope:nope"]})).send().await.unwrap();
        let body = problem(res, 422, "validation_failed").await;
        assert_eq!(body["errors"][0]["field"], "permissions");
        let res = call(app, Method::POST, "/api/v1/roles", "acme", &ann).json(&json!({"name": "support", "permissions": ["members:read"]})).send().await.unwrap();
        assert_eq!(res.status(), 201);
        let support: Value = res.json().await.unwrap();
        let res = call(app, Method::POST, "/api/v1/roles", "acme", &ann).json(&json!({"name": "support", "permissions": []})).send().await.unwrap();
        problem(res, 409, "role_name_taken").await;

        // Give someone the custom role; then it cannot be deleted.
        let sam = app.create_user("sam@acme.test", PASSWORD).await;
        app.add_member(&tenant, sam.id, "viewer").await;
        let res = call(app, Method::PATCH, &format!("/api/v1/members/{}", sam.id), "acme", &ann).json(&json!({"role_id": support["id"]})).send().await.unwrap();
        assert_eq!(res.json::<Value>().await.unwrap()["role"], "support");
        let sam_token = token(&app.login("sam@acme.test", PASSWORD).await);
        assert_eq!(call(app, Method::GET, "/api/v1/members", "acme", &sam_token).send().await.unwrap().status(), 200);
        let support_path = format!("/api/v1/roles/{}", support["id"].as_str().unwrap());
        problem(call(app, Method::DELETE, &support_path, "acme", &ann).send().await.unwrap(), 409, "role_in_use").await;

        // Taking members:read from the role takes it from Sam at once (the cache is dropped).
        let res = call(app, Method::PATCH, &support_path, "acme", &ann).json(&json!({"permissions": ["tenant:read"]})).send().await.unwrap();
        assert_eq!(res.status(), 200);
        problem(call(app, Method::GET, "/api/v1/members", "acme", &sam_token).send().await.unwrap(), 403, "permission_denied").await;

        // System roles keep their core; the owner role is fixed.
        let res = call(app, Method::PATCH, &format!("/api/v1/roles/{}", role_id("admin")), "acme", &ann).json(&json!({"permissions": []})).send().await.unwrap();
        problem(res, 409, "core_permission").await;
        let res = call(app, Method::DELETE, &format!("/api/v1/roles/{}", role_id("owner")), "acme", &ann).send().await.unwrap();
        problem(res, 409, "owner_role_locked").await;

        // Removing Sam ends their access.
        assert_eq!(call(app, Method::DELETE, &format!("/api/v1/members/{}", sam.id), "acme", &ann).send().await.unwrap().status(), 204);
        problem(call(app, Method::GET, "/api/v1/roles", "acme", &sam_token).send().await.unwrap(), 403, "not_a_member").await;
        assert_eq!(call(app, Method::DELETE, &support_path, "acme", &ann).send().await.unwrap().status(), 204);
    }

    async fn nobody_grants_more_than_they_hold(app) {
        let a = app.onboard("acme", "ann@acme.test", PASSWORD).await;
        let tenant = a["tenant"]["id"].as_str().unwrap().to_owned();
        let owner_id = a["session"]["user"]["id"].as_str().unwrap().to_owned();
        let adam = app.create_user("adam@acme.test", PASSWORD).await;
        app.add_member(&tenant, adam.id, "admin").await;
        let admin = token(&app.login("adam@acme.test", PASSWORD).await);
        let roles: Value = call(app, Method::GET, "/api/v1/roles", "acme", &admin).send().await.unwrap().json::<Value>().await.unwrap()["items"].take();
        let role_id = |name: &str| roles.as_array().unwrap().iter().find(|r| r["name"] == name).unwrap()["id"].as_str().unwrap().to_owned();
        // An admin cannot make themselves owner, remove or demote the owner, invite an owner,
        // or mint a role (or widen one) with what they lack.
        let res = call(app, Method::PATCH, &format!("/api/v1/members/{}", adam.id), "acme", &admin).json(&json!({"role_id": role_id("owner")})).send().await.unwrap();
        problem(res, 403, "permission_denied").await;
        problem(call(app, Method::DELETE, &format!("/api/v1/members/{owner_id}"), "acme", &admin).send().await.unwrap(), 403, "permission_denied").await;
        let res = call(app, Method::PATCH, &format!("/api/v1/members/{owner_id}"), "acme", &admin).json(&json!({"role_id": role_id("viewer")})).send().await.unwrap();
        problem(res, 403, "permission_denied").await;
        let res = call(app, Method::POST, "/api/v1/invitations", "acme", &admin).json(&json!({"email": "x@acme.test", "role": "owner"})).send().await.unwrap();
        problem(res, 403, "permission_denied").await;
        let res = call(app, Method::POST, "/api/v1/roles", "acme", &admin).json(&json!({"name": "god", "permissions": ["tenant:manage"]})).send().await.unwrap();
        problem(res, 403, "permission_denied").await;
        let mut widened: Vec<String> = roles.as_array().unwrap().iter().find(|r| r["name"] == "admin").unwrap()["permissions"]
            .as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_owned()).collect();
        widened.push("tenant:manage".into());
        let res = call(app, Method::PATCH, &format!("/api/v1/roles/{}", role_id("admin")), "acme", &admin).json(&json!({"permissions": widened})).send().await.unwrap();
        problem(res, 403, "permission_denied").await;
        // Within their reach, fine.
        let res = call(app, Method::POST, "/api/v1/invitations", "acme", &admin).json(&json!({"email": "x@acme.test", "role": "member"})).send().await.unwrap();
        assert_eq!(res.status(), 201);
        let members: Value = call(app, Method::GET, "/api/v1/members", "acme", &admin).send().await.unwrap().json::<Value>().await.unwrap()["items"].take();
        let owner_row = members.as_array().unwrap().iter().find(|m| m["user_id"] == owner_id.as_str()).unwrap();
        assert_eq!(owner_row["role"], "owner", "the owner is untouched");
    }

    async fn another_tenants_ids_answer_404(app) {
        let a = app.onboard("acme", "ann@acme.test", PASSWORD).await;
        let b = app.onboard("beta", "bob@beta.test", PASSWORD).await;
        let bob = token(&b["session"]);
        let ann_id = a["session"]["user"]["id"].as_str().unwrap();
        let ann = token(&a["session"]);
        let roles: Value = call(app, Method::GET, "/api/v1/roles", "acme", &ann).send().await.unwrap().json::<Value>().await.unwrap()["items"].take();
        let acme_role = roles[1]["id"].as_str().unwrap();
        // Bob, owner of beta, aims beta's routes at acme's ids.
        problem(call(app, Method::PATCH, &format!("/api/v1/roles/{acme_role}"), "beta", &bob).json(&json!({"name": "hacked"})).send().await.unwrap(), 404, "role_not_found").await;
        problem(call(app, Method::DELETE, &format!("/api/v1/roles/{acme_role}"), "beta", &bob).send().await.unwrap(), 404, "role_not_found").await;
        problem(call(app, Method::DELETE, &format!("/api/v1/members/{ann_id}"), "beta", &bob).send().await.unwrap(), 404, "member_not_found").await;
        let bob_id = b["session"]["user"]["id"].as_str().unwrap();
        let res = call(app, Method::PATCH, &format!("/api/v1/members/{bob_id}"), "beta", &bob).json(&json!({"role_id": acme_role})).send().await.unwrap();
        problem(res, 422, "role_not_found").await;
        // No mass assignment: a tenant id in the body is ignored; the context decides.
        let acme_id = a["tenant"]["id"].as_str().unwrap();
        let res = call(app, Method::POST, "/api/v1/roles", "beta", &bob)
            .json(&json!({"name": "planted", "permissions": [], "tenant_id": acme_id, "system": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let planted: Value = res.json().await.unwrap();
        assert_eq!(planted["system"], false);
        let beta_roles: Value = call(app, Method::GET, "/api/v1/roles", "beta", &bob).send().await.unwrap().json::<Value>().await.unwrap()["items"].take();
        assert!(beta_roles.as_array().unwrap().iter().any(|r| r["name"] == "planted"));
        let acme_roles: Value = call(app, Method::GET, "/api/v1/roles", "acme", &ann).send().await.unwrap().json::<Value>().await.unwrap()["items"].take();
        assert_eq!(acme_roles, roles, "nothing changed in acme");
    }

    // Every member-only route × each default role, with the expected answer written out
    // here (not derived from the guard's own table). Fails when the spec has a member-only
    // operation this matrix does not list.
    async fn permission_matrix(app) {
        // (method, path, allowed for [owner, admin, member, viewer, API key with members:read])
        const MATRIX: &[(&str, &str, [bool; 5])] = &[
            ("GET", "/api/v1/members", [true, true, true, true, true]),
            ("PATCH", "/api/v1/members/{user_id}", [true, true, false, false, false]),
            ("DELETE", "/api/v1/members/{user_id}", [true, true, false, false, false]),
            ("GET", "/api/v1/roles", [true, true, true, true, true]),
            ("POST", "/api/v1/roles", [true, true, false, false, false]),
            ("PATCH", "/api/v1/roles/{role_id}", [true, true, false, false, false]),
            ("DELETE", "/api/v1/roles/{role_id}", [true, true, false, false, false]),
            ("POST", "/api/v1/invitations", [true, true, false, false, false]),
            ("GET", "/api/v1/invitations", [true, true, false, false, false]),
            ("POST", "/api/v1/invitations/{id}/resend", [true, true, false, false, false]),
            ("DELETE", "/api/v1/invitations/{id}", [true, true, false, false, false]),
            ("POST", "/api/v1/api-keys", [true, true, false, false, false]),
            ("GET", "/api/v1/api-keys", [true, true, false, false, false]),
            ("DELETE", "/api/v1/api-keys/{id}", [true, true, false, false, false]),
            ("GET", "/api/v1/webhooks", [true, true, false, false, false]),
            ("POST", "/api/v1/webhooks", [true, true, false, false, false]),
            ("GET", "/api/v1/webhooks/{id}", [true, true, false, false, false]),
            ("PATCH", "/api/v1/webhooks/{id}", [true, true, false, false, false]),
            ("DELETE", "/api/v1/webhooks/{id}", [true, true, false, false, false]),
            ("POST", "/api/v1/webhooks/{id}/rotate-secret", [true, true, false, false, false]),
            ("GET", "/api/v1/webhooks/{id}/attempts", [true, true, false, false, false]),
            ("GET", "/api/v1/webhooks/{id}/stats", [true, true, false, false, false]),
            ("POST", "/api/v1/webhooks/{id}/events/{event_id}/resend", [true, true, false, false, false]),
            ("POST", "/api/v1/webhooks/{id}/recover", [true, true, false, false, false]),
            ("POST", "/api/v1/webhooks/{id}/test", [true, true, false, false, false]),
            ("GET", "/api/v1/events/{id}/attempts", [true, true, false, false, false]),
            ("GET", "/api/v1/products", [true, true, true, true, false]),
            ("POST", "/api/v1/products", [true, true, true, false, false]),
            ("GET", "/api/v1/products/{id}/images", [true, true, true, true, false]),
            ("POST", "/api/v1/products/{id}/images", [true, true, true, false, false]),
            ("DELETE", "/api/v1/products/{id}/images/{file_id}", [true, true, true, false, false]),
            ("GET", "/api/v1/files", [true, true, true, true, false]),
            ("POST", "/api/v1/files", [true, true, true, false, false]),
            ("GET", "/api/v1/files/{id}", [true, true, true, true, false]),
            ("GET", "/api/v1/files/{id}/content", [true, true, true, true, false]),
            ("GET", "/api/v1/files/{id}/link", [true, true, true, true, false]),
            ("DELETE", "/api/v1/files/{id}", [true, true, true, false, false]),
            // All of the tenant's data in one download: the owners' alone by default.
            ("POST", "/api/v1/exports", [true, false, false, false, false]),
            ("GET", "/api/v1/exports", [true, false, false, false, false]),
            ("GET", "/api/v1/exports/{id}", [true, false, false, false, false]),
            ("GET", "/api/v1/exports/{id}/download", [true, false, false, false, false]),
            ("POST", "/api/v1/products/bulk-import", [true, true, true, false, false]),
            ("GET", "/api/v1/products/{id}", [true, true, true, true, false]),
            ("PATCH", "/api/v1/products/{id}", [true, true, true, false, false]),
            ("DELETE", "/api/v1/products/{id}", [true, true, true, false, false]),
            ("GET", "/api/v1/projects", [true, true, true, true, false]),
            ("POST", "/api/v1/projects", [true, true, true, false, false]),
            ("GET", "/api/v1/projects/{id}", [true, true, true, true, false]),
            ("PATCH", "/api/v1/projects/{id}", [true, true, true, false, false]),
            ("DELETE", "/api/v1/projects/{id}", [true, true, true, false, false]),
            ("GET", "/api/v1/projects/{id}/tasks", [true, true, true, true, false]),
            ("POST", "/api/v1/projects/{id}/tasks", [true, true, true, false, false]),
            ("GET", "/api/v1/tasks/{id}", [true, true, true, true, false]),
            ("PATCH", "/api/v1/tasks/{id}", [true, true, true, false, false]),
            ("DELETE", "/api/v1/tasks/{id}", [true, true, true, false, false]),
            ("POST", "/api/v1/tasks/{id}/toggle", [true, true, true, false, false]),
            ("GET", "/api/v1/search", [true, true, true, true, false]),
            ("GET", "/api/v1/audit-logs", [true, true, false, false, false]),
            ("GET", "/api/v1/audit-logs/verify", [true, true, false, false, false]),
            ("GET", "/api/v1/events", [true, true, false, false, false]),
            ("GET", "/api/v1/events/{id}", [true, true, false, false, false]),
            ("GET", "/api/v1/billing/subscription", [true, true, true, true, false]),
            ("POST", "/api/v1/billing/change-plan", [true, true, false, false, false]),
            ("GET", "/api/v1/quotas", [true, true, true, true, false]),
            ("POST", "/api/v1/usage-events", [true, true, false, false, false]),
            ("GET", "/api/v1/usage", [true, true, true, true, false]),
            ("GET", "/api/v1/settings", [true, true, false, false, false]),
            ("PATCH", "/api/v1/settings", [true, true, false, false, false]),
            ("GET", "/api/v1/domains", [true, true, false, false, false]),
            ("POST", "/api/v1/domains", [true, true, false, false, false]),
            ("GET", "/api/v1/domains/{hostname}", [true, true, false, false, false]),
            ("DELETE", "/api/v1/domains/{hostname}", [true, true, false, false, false]),
            ("POST", "/api/v1/domains/{hostname}/verify", [true, true, false, false, false]),
            ("POST", "/api/v1/domains/{hostname}/primary", [true, true, false, false, false]),
            ("GET", "/api/v1/sso/providers", [true, true, false, false, false]),
            ("POST", "/api/v1/sso/providers", [true, true, false, false, false]),
            ("GET", "/api/v1/sso/providers/{id}", [true, true, false, false, false]),
            ("PUT", "/api/v1/sso/providers/{id}", [true, true, false, false, false]),
            ("DELETE", "/api/v1/sso/providers/{id}", [true, true, false, false, false]),
            ("GET", "/api/v1/settings/smtp", [true, true, false, false, false]),
            ("PUT", "/api/v1/settings/smtp", [true, true, false, false, false]),
            ("DELETE", "/api/v1/settings/smtp", [true, true, false, false, false]),
            ("POST", "/api/v1/settings/smtp/test", [true, true, false, false, false]),
            ("GET", "/api/v1/settings/storage", [true, true, false, false, false]),
            ("PUT", "/api/v1/settings/storage", [true, true, false, false, false]),
            ("DELETE", "/api/v1/settings/storage", [true, true, false, false, false]),
            // The owners' alone: admins do not hold tenant:manage.
            ("POST", "/api/v1/settings/deletion", [true, false, false, false, false]),
            ("GET", "/api/v1/settings/deletion", [true, false, false, false, false]),
            ("DELETE", "/api/v1/settings/deletion", [true, false, false, false, false]),
            ("GET", "/api/v1/scim/tokens", [true, true, false, false, false]),
            ("POST", "/api/v1/scim/tokens", [true, true, false, false, false]),
            ("DELETE", "/api/v1/scim/tokens/{id}", [true, true, false, false, false]),
        ];
        let a = app.onboard("acme", "ann@acme.test", PASSWORD).await;
        let tenant = a["tenant"]["id"].as_str().unwrap().to_owned();
        let mut tokens = vec![token(&a["session"])];
        for role in ["admin", "member", "viewer"] {
            let email = format!("{role}@acme.test");
            let u = app.create_user(&email, PASSWORD).await;
            app.add_member(&tenant, u.id, role).await;
            tokens.push(token(&app.login(&email, PASSWORD).await));
        }
        let key: Value = app
            .request(Method::POST, "/api/v1/api-keys")
            .header("X-Tenant-ID", "acme")
            .bearer_auth(&tokens[0])
            .json(&json!({"name": "matrix", "permissions": ["members:read"]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        tokens.push(key["key"].as_str().unwrap().to_owned());

        // Member-only operations are those documenting the guard's `not_a_member` answer.
        let spec: Value = app.get("/openapi.json").send().await.unwrap().json().await.unwrap();
        let mut in_spec = vec![];
        for (path, item) in spec["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                if op["responses"]["403"]["description"].as_str().is_some_and(|d| d.contains("not_a_member")) {
                    in_spec.push((method.to_uppercase(), path.clone()));
                }
            }
        }
        in_spec.sort();
        let mut listed: Vec<(String, String)> = MATRIX.iter().map(|(m, p, _)| (m.to_string(), p.to_string())).collect();
        listed.sort();
        assert_eq!(in_spec, listed, "the matrix lists every member-only operation");

        let ghost = uuid::Uuid::now_v7();
        for (method, path, expected) in MATRIX {
            let url = path
                .replace("{user_id}", &ghost.to_string())
                .replace("{role_id}", &ghost.to_string())
                .replace("{event_id}", &ghost.to_string())
                .replace("{file_id}", &ghost.to_string())
                .replace("{id}", &ghost.to_string())
                .replace("{hostname}", "ghost.example.org");
            for (i, bearer) in tokens.iter().enumerate() {
                let body = match *path {
                    "/api/v1/roles" => json!({"name": format!("r{}", uuid::Uuid::now_v7().simple()), "permissions": []}),
                    "/api/v1/members/{user_id}" => json!({"role_id": ghost}),
                    "/api/v1/invitations" => json!({"email": "someone@example.test", "role": "viewer"}),
                    "/api/v1/api-keys" => json!({"name": "k", "permissions": []}),
                    "/api/v1/webhooks/{id}/recover" => json!({"since": "2026-01-01T00:00:00Z"}),
                    "/api/v1/billing/change-plan" => json!({"plan": "enterprise"}),
                    _ => json!({}),
                };
                let method = Method::from_bytes(method.as_bytes()).unwrap();
                let mut req = call(app, method.clone(), &url, "acme", bearer);
                if method != Method::GET && method != Method::DELETE {
                    req = req.json(&body);
                }
                let res = req.send().await.unwrap();
                let status = res.status().as_u16();
                let who = ["owner", "admin", "member", "viewer", "API key"][i];
                if expected[i] {
                    // Past the guard: the route itself answered (401 would be a credential the
                    // guard did not accept, 403 a refusal).
                    assert!(![401, 403].contains(&status) && status < 500, "{who} {method} {path}: {status}, expected allowed");
                } else {
                    problem(res, 403, "permission_denied").await;
                }
            }
        }
    }
}
