//! Plans, subscriptions, quotas and plan features over HTTP.

use reqwest::Method;
use serde_json::{Value, json};
use tenantry_tests::{Options, TestApp, app_tests, call, ok, owner, problem};

async fn operator(app: &TestApp, method: Method, path: &str, body: Value) -> Value {
    let res = app.operator(method, path).json(&body).send().await.unwrap();
    ok(res, 200).await
}

async fn quota(app: &TestApp, slug: &str, token: &str, resource: &str) -> Value {
    let page = ok(
        call(app, slug, Method::GET, "/api/v1/quotas", token)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["resource"] == resource)
        .cloned()
        .unwrap_or_else(|| panic!("no {resource} quota in {page}"))
}

async fn create_project(app: &TestApp, slug: &str, token: &str, name: &str) -> reqwest::Response {
    call(app, slug, Method::POST, "/api/v1/projects", token)
        .json(&json!({"name": name}))
        .send()
        .await
        .unwrap()
}

/// The request is built at once (it owns its data), so creates can race.
fn create_product(
    app: &TestApp,
    slug: &str,
    token: &str,
    sku: &str,
) -> impl std::future::Future<Output = reqwest::Response> + use<> {
    let req = call(app, slug, Method::POST, "/api/v1/products", token)
        .json(&json!({"name": sku, "sku": sku, "price_minor": 100, "currency": "EUR"}));
    async move { req.send().await.unwrap() }
}

/// Makes `code` the plan new tenants start on.
async fn default_plan(app: &TestApp, code: &str) {
    operator(
        app,
        Method::PATCH,
        &format!("/api/v1/platform/plans/{code}"),
        json!({"default": true}),
    )
    .await;
}

async fn set_quota(app: &TestApp, slug: &str, resource: &str, limit: Value) -> Value {
    operator(
        app,
        Method::PUT,
        &format!("/api/v1/platform/tenants/{slug}/quotas/{resource}"),
        json!({"limit": limit}),
    )
    .await
}

app_tests! {
    async fn plans_are_public_and_new_tenants_start_on_the_default(app) {
        // The pricing page's data, without signing in.
        let page = ok(app.get("/api/v1/plans").send().await.unwrap(), 200).await;
        let plans = page["items"].as_array().unwrap();
        let codes: Vec<&str> = plans.iter().map(|p| p["code"].as_str().unwrap()).collect();
        assert_eq!(codes, ["starter", "professional", "enterprise"], "cheapest first");
        let rates: Vec<u64> = plans.iter().map(|p| p["requests_per_hour"].as_u64().unwrap()).collect();
        assert_eq!(rates, [100, 1000, 10_000], "the seeds' tiers");
        assert_eq!(plans[0]["quotas"]["max_projects"], 3);
        assert_eq!(plans[0]["features"]["webhooks"], false);
        assert_eq!(plans[2]["quotas"]["max_projects"], Value::Null, "unlimited");

        // A hidden plan is the operator's, not the pricing page's.
        let res = app.operator(Method::POST, "/api/v1/platform/plans").json(&json!({
            "code": "partner", "name": "Partner", "currency": "EUR",
            "price_monthly_minor": 0, "price_yearly_minor": 0,
            "quotas": {"max_projects": 1}, "requests_per_hour": 50,
            "features": {"webhooks": true}, "public": false,
        })).send().await.unwrap();
        let partner = ok(res, 201).await;
        assert_eq!(partner["quotas"], json!({"max_projects": 1}));
        let page = ok(app.get("/api/v1/plans").send().await.unwrap(), 200).await;
        assert_eq!(page["items"].as_array().unwrap().len(), 3, "hidden plans are not listed");
        let res = app.operator(Method::POST, "/api/v1/platform/plans").json(&json!({
            "code": "partner", "name": "Again", "currency": "EUR", "price_monthly_minor": 0, "price_yearly_minor": 0,
        })).send().await.unwrap();
        problem(res, 409, "plan_exists").await;
        let res = app.operator(Method::POST, "/api/v1/platform/plans").json(&json!({
            "code": "odd", "name": "Odd", "currency": "EUR", "price_monthly_minor": 0, "price_yearly_minor": 0,
            "quotas": {"max_widgets": 1},
        })).send().await.unwrap();
        let body = problem(res, 422, "validation_failed").await;
        assert_eq!(body["errors"][0]["field"], "quotas", "{body}");

        // Onboarding assigns the default plan in the same transaction.
        default_plan(app, "starter").await;
        let t = owner(app, "acme").await;
        let sub = ok(call(app, "acme", Method::GET, "/api/v1/billing/subscription", &t).send().await.unwrap(), 200).await;
        assert_eq!(sub["plan"], "starter");
        assert_eq!(sub["status"], "active", "starter has no trial");
        assert_eq!(sub["access"], "full");
        assert_eq!(sub["plan_details"]["requests_per_hour"], 100);
        // A plan with a trial starts trialing.
        default_plan(app, "professional").await;
        let t2 = owner(app, "globex").await;
        let sub = ok(call(app, "globex", Method::GET, "/api/v1/billing/subscription", &t2).send().await.unwrap(), 200).await;
        assert_eq!((sub["plan"].as_str(), sub["status"].as_str()), (Some("professional"), Some("trialing")));
        assert!(sub["trial_ends_at"].is_string());
        // The operator's tenant creation too.
        let created = app.create_tenant("initech", "Initech").await;
        let sub = operator(app, Method::GET, "/api/v1/platform/tenants/initech/subscription", Value::Null).await;
        assert_eq!(sub["plan"], "professional");
        assert_eq!(sub["tenant_id"], created["id"]);

        // The default can move, not vanish; a plan in use stays.
        let res = app.operator(Method::PATCH, "/api/v1/platform/plans/professional").json(&json!({"default": false})).send().await.unwrap();
        problem(res, 409, "default_plan_required").await;
        let res = app.operator(Method::DELETE, "/api/v1/platform/plans/professional").send().await.unwrap();
        problem(res, 409, "default_plan_required").await;
        let res = app.operator(Method::DELETE, "/api/v1/platform/plans/starter").send().await.unwrap();
        problem(res, 409, "plan_in_use").await;
        let res = app.operator(Method::DELETE, "/api/v1/platform/plans/partner").send().await.unwrap();
        assert_eq!(res.status(), 204);
        let res = app.operator(Method::GET, "/api/v1/platform/plans/partner").send().await.unwrap();
        problem(res, 404, "plan_not_found").await;

        // A tenant may only choose a public plan.
        let res = call(app, "acme", Method::POST, "/api/v1/billing/change-plan", &t).json(&json!({"plan": "nope"})).send().await.unwrap();
        assert_eq!(problem(res, 422, "validation_failed").await["errors"][0]["field"], "plan");
    }

    async fn quotas_count_every_create_and_delete_in_the_same_transaction(app) {
        default_plan(app, "starter").await;
        let t = owner(app, "acme").await;
        let q = quota(app, "acme", &t, "projects").await;
        assert_eq!(q, json!({"resource": "projects", "limit": 3, "used": 0, "remaining": 3, "overridden": false}));
        assert_eq!(quota(app, "acme", &t, "members").await["used"], 1, "the owner");
        assert_eq!(quota(app, "acme", &t, "roles").await["used"], 0, "system roles do not count");
        let mut ids = Vec::new();
        for n in 0..3 {
            ids.push(ok(create_project(app, "acme", &t, &format!("P{n}")).await, 201).await["id"].as_str().unwrap().to_owned());
        }
        let body = problem(create_project(app, "acme", &t, "P3").await, 403, "quota_exceeded").await;
        assert_eq!((body["resource"].as_str(), body["limit"].as_u64(), body["used"].as_u64()), (Some("projects"), Some(3), Some(3)), "{body}");
        let page = ok(call(app, "acme", Method::GET, "/api/v1/projects", &t).send().await.unwrap(), 200).await;
        assert_eq!(page["items"].as_array().unwrap().len(), 3, "the refused create wrote nothing");
        // Deleting frees capacity at once.
        ok(call(app, "acme", Method::DELETE, &format!("/api/v1/projects/{}", ids[0]), &t).send().await.unwrap(), 204).await;
        assert_eq!(quota(app, "acme", &t, "projects").await["remaining"], 1);
        ok(create_project(app, "acme", &t, "P4").await, 201).await;

        // A revoked key frees its place; an API key's quota is its own.
        let key = |n: &str| call(app, "acme", Method::POST, "/api/v1/api-keys", &t).json(&json!({"name": n, "permissions": ["products:read"]}));
        let k1 = ok(key("k1").send().await.unwrap(), 201).await;
        ok(key("k2").send().await.unwrap(), 201).await;
        problem(key("k3").send().await.unwrap(), 403, "quota_exceeded").await;
        ok(call(app, "acme", Method::DELETE, &format!("/api/v1/api-keys/{}", k1["id"].as_str().unwrap()), &t).send().await.unwrap(), 204).await;
        ok(key("k3").send().await.unwrap(), 201).await;

        // A bulk import is checked as a whole before anything is written.
        set_quota(app, "acme", "products", json!(5)).await;
        let csv = |n: usize| (0..n).fold("name,sku,price_minor,currency\n".to_owned(), |mut s, i| { s.push_str(&format!("P{i},I-{i},100,EUR\n")); s });
        let import = |body: String| call(app, "acme", Method::POST, "/api/v1/products/bulk-import", &t).header("Content-Type", "text/csv").body(body).send();
        let body = problem(import(csv(6)).await.unwrap(), 403, "quota_exceeded").await;
        assert_eq!((body["limit"].as_u64(), body["used"].as_u64()), (Some(5), Some(0)), "{body}");
        assert_eq!(quota(app, "acme", &t, "products").await["used"], 0, "nothing imported");
        ok(import(csv(5)).await.unwrap(), 201).await;
        assert_eq!(quota(app, "acme", &t, "products").await["remaining"], 0);
        problem(create_product(app, "acme", &t, "ONE-MORE").await, 403, "quota_exceeded").await;
    }

    async fn two_creates_racing_for_the_last_place_never_both_win(app) {
        let t = owner(app, "acme").await;
        ok(create_product(app, "acme", &t, "FIRST").await, 201).await;
        // Rounds of two concurrent creates at limit − 1: exactly one wins each time.
        for round in 0..8u64 {
            set_quota(app, "acme", "products", json!(round + 2)).await;
            let (a, b) = tokio::join!(
                create_product(app, "acme", &t, &format!("A-{round}")),
                create_product(app, "acme", &t, &format!("B-{round}")),
            );
            let mut statuses = [a.status().as_u16(), b.status().as_u16()];
            statuses.sort_unstable();
            assert_eq!(statuses, [201, 403], "round {round}");
        }
        // A burst of twelve for three places.
        let used = quota(app, "acme", &t, "products").await["used"].as_u64().unwrap();
        set_quota(app, "acme", "products", json!(used + 3)).await;
        let burst = futures_util::future::join_all((0..12).map(|i| create_product(app, "acme", &t, &format!("BURST-{i}")))).await;
        let won = burst.iter().filter(|r| r.status() == 201).count();
        let refused = burst.iter().filter(|r| r.status() == 403).count();
        assert_eq!((won, refused), (3, 9));
        let q = quota(app, "acme", &t, "products").await;
        assert_eq!((q["used"].as_u64(), q["remaining"].as_u64()), (Some(used + 3), Some(0)));
        let page = ok(call(app, "acme", Method::GET, "/api/v1/products?limit=100", &t).send().await.unwrap(), 200).await;
        assert_eq!(page["items"].as_array().unwrap().len() as u64, used + 3, "usage is what exists");
    }

    async fn a_downgrade_below_usage_blocks_creates_until_usage_fits(app) {
        let t = owner(app, "acme").await;
        let mut ids = Vec::new();
        for n in 0..5 {
            ids.push(ok(create_project(app, "acme", &t, &format!("P{n}")).await, 201).await["id"].as_str().unwrap().to_owned());
        }
        let sub = ok(call(app, "acme", Method::POST, "/api/v1/billing/change-plan", &t).json(&json!({"plan": "starter"})).send().await.unwrap(), 200).await;
        assert_eq!(sub["plan"], "starter");
        let q = quota(app, "acme", &t, "projects").await;
        assert_eq!((q["limit"].as_u64(), q["used"].as_u64(), q["remaining"].as_u64()), (Some(3), Some(5), Some(0)));
        // Nothing is taken away; nothing new is created.
        let page = ok(call(app, "acme", Method::GET, "/api/v1/projects", &t).send().await.unwrap(), 200).await;
        assert_eq!(page["items"].as_array().unwrap().len(), 5);
        problem(create_project(app, "acme", &t, "X").await, 403, "quota_exceeded").await;
        for id in &ids[..2] {
            ok(call(app, "acme", Method::DELETE, &format!("/api/v1/projects/{id}"), &t).send().await.unwrap(), 204).await;
        }
        problem(create_project(app, "acme", &t, "X").await, 403, "quota_exceeded").await;
        ok(call(app, "acme", Method::DELETE, &format!("/api/v1/projects/{}", ids[2]), &t).send().await.unwrap(), 204).await;
        ok(create_project(app, "acme", &t, "X").await, 201).await;
        // The change is on the record, as an event and in the audit trail.
        let events = ok(call(app, "acme", Method::GET, "/api/v1/events?type=subscription.updated", &t).send().await.unwrap(), 200).await;
        let e = &events["items"][0];
        assert_eq!(e["data"]["object"]["plan"], "starter", "{events}");
        assert_eq!(e["data"]["previous_attributes"]["plan"], "enterprise");
    }

    async fn operator_overrides_survive_plan_changes(app) {
        default_plan(app, "starter").await;
        let t = owner(app, "acme").await;
        let q = set_quota(app, "acme", "projects", json!(50)).await;
        assert_eq!((q["limit"].as_u64(), q["overridden"].as_bool()), (Some(50), Some(true)));
        let unlimited = set_quota(app, "acme", "tasks", Value::Null).await;
        assert_eq!(unlimited["limit"], Value::Null);
        operator(app, Method::POST, "/api/v1/platform/tenants/acme/change-plan", json!({"plan": "professional"})).await;
        let quotas = operator(app, Method::GET, "/api/v1/platform/tenants/acme/quotas", Value::Null).await;
        let find = |r: &str| quotas["items"].as_array().unwrap().iter().find(|q| q["resource"] == r).unwrap().clone();
        assert_eq!(find("projects")["limit"], 50, "the override stays");
        assert_eq!(find("tasks")["limit"], Value::Null, "so does an unlimited one");
        assert_eq!(find("products")["limit"], 10_000, "the rest follow the plan");
        assert_eq!(find("members")["limit"], 25);
        let back = operator(app, Method::DELETE, "/api/v1/platform/tenants/acme/quotas/projects", Value::Null).await;
        assert_eq!((back["limit"].as_u64(), back["overridden"].as_bool()), (Some(100), Some(false)));
        let res = app.operator(Method::PUT, "/api/v1/platform/tenants/acme/quotas/widgets").json(&json!({"limit": 1})).send().await.unwrap();
        problem(res, 404, "quota_not_found").await;
        let res = app.operator(Method::PUT, "/api/v1/platform/tenants/nobody/quotas/projects").json(&json!({"limit": 1})).send().await.unwrap();
        problem(res, 404, "tenant_not_found").await;
        // The operator's change is in the tenant's audit trail.
        let audit = ok(call(app, "acme", Method::GET, "/api/v1/audit-logs?entity_type=quota", &t).send().await.unwrap(), 200).await;
        assert!(audit["items"].as_array().unwrap().len() >= 3, "{audit}");
    }

    async fn plan_features_gate_their_routes(app) {
        default_plan(app, "starter").await;
        let t = owner(app, "acme").await;
        let body = problem(call(app, "acme", Method::GET, "/api/v1/webhooks", &t).send().await.unwrap(), 403, "feature_not_in_plan").await;
        assert_eq!(body["feature"], "webhooks");
        assert_eq!(body["plans"], json!(["professional", "enterprise"]), "{body}");
        ok(call(app, "acme", Method::POST, "/api/v1/billing/change-plan", &t).json(&json!({"plan": "professional"})).send().await.unwrap(), 200).await;
        ok(call(app, "acme", Method::GET, "/api/v1/webhooks", &t).send().await.unwrap(), 200).await;
    }

    async fn a_cached_standing_ends_when_the_grace_does(app) with (Options {
        billing: tenantry_billing::BillingPolicy { past_due_grace: chrono::Duration::seconds(2), ..Default::default() },
        ..Options::default()
    }) {
        // The standing is cached for up to a minute (decision 0059), but time alone ends the
        // grace: the cached entry must not outlive it.
        let t = owner(app, "acme").await;
        operator(app, Method::PATCH, "/api/v1/platform/tenants/acme/subscription", json!({"status": "past_due"})).await;
        let fell = std::time::Instant::now();
        ok(create_product(app, "acme", &t, "IN-GRACE").await, 201).await;
        let mut n = 0;
        loop {
            n += 1;
            let res = create_product(app, "acme", &t, &format!("P-{n}")).await;
            if res.status() == 402 {
                problem(res, 402, "subscription_past_due").await;
                break;
            }
            assert_eq!(res.status(), 201);
            assert!(fell.elapsed() < std::time::Duration::from_secs(5), "still writable 5 s into a 2 s grace");
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        assert!(fell.elapsed() >= std::time::Duration::from_millis(1500), "read-only after {:?}", fell.elapsed());
    }

    async fn past_due_turns_read_only_after_the_grace_and_canceled_leaves_only_billing(app) with (Options {
        billing: tenantry_billing::BillingPolicy { past_due_grace: chrono::Duration::zero(), ..Default::default() },
        ..Options::default()
    }) {
        let t = owner(app, "acme").await;
        ok(create_project(app, "acme", &t, "Before").await, 201).await;
        operator(app, Method::PATCH, "/api/v1/platform/tenants/acme/subscription", json!({"status": "past_due"})).await;
        let sub = ok(call(app, "acme", Method::GET, "/api/v1/billing/subscription", &t).send().await.unwrap(), 200).await;
        assert_eq!((sub["status"].as_str(), sub["access"].as_str()), (Some("past_due"), Some("read_only")));
        assert!(sub["past_due_since"].is_string());
        // Reads work, writes do not, billing does.
        ok(call(app, "acme", Method::GET, "/api/v1/projects", &t).send().await.unwrap(), 200).await;
        problem(create_project(app, "acme", &t, "During").await, 402, "subscription_past_due").await;
        ok(call(app, "acme", Method::POST, "/api/v1/billing/change-plan", &t).json(&json!({"plan": "professional"})).send().await.unwrap(), 200).await;
        operator(app, Method::PATCH, "/api/v1/platform/tenants/acme/subscription", json!({"status": "active"})).await;
        ok(create_project(app, "acme", &t, "After").await, 201).await;

        operator(app, Method::PATCH, "/api/v1/platform/tenants/acme/subscription", json!({"status": "canceled"})).await;
        problem(call(app, "acme", Method::GET, "/api/v1/projects", &t).send().await.unwrap(), 403, "subscription_canceled").await;
        let sub = ok(call(app, "acme", Method::GET, "/api/v1/billing/subscription", &t).send().await.unwrap(), 200).await;
        assert_eq!((sub["status"].as_str(), sub["access"].as_str()), (Some("canceled"), Some("blocked")));
        // Choosing a plan again is subscribing again.
        let sub = ok(call(app, "acme", Method::POST, "/api/v1/billing/change-plan", &t).json(&json!({"plan": "starter"})).send().await.unwrap(), 200).await;
        assert_eq!(sub["status"], "active");
        ok(call(app, "acme", Method::GET, "/api/v1/projects", &t).send().await.unwrap(), 200).await;
        let events = ok(call(app, "acme", Method::GET, "/api/v1/events?type=subscription.updated", &t).send().await.unwrap(), 200).await;
        let statuses: Vec<&str> = events["items"].as_array().unwrap().iter().filter_map(|e| e["data"]["object"]["status"].as_str()).collect();
        assert_eq!(statuses, ["active", "canceled", "active", "past_due", "past_due"], "newest first");
    }

    async fn an_ended_trial_moves_on_in_the_scheduled_job(app) {
        let t = owner(app, "acme").await;
        let past = (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        operator(app, Method::PATCH, "/api/v1/platform/tenants/acme/subscription", json!({"status": "trialing", "trial_ends_at": past})).await;
        let mut job = tenantry_jobs::NewJob::now(None, tenantry_jobs::Job::AdvanceSubscriptions, chrono::Utc::now());
        job.dedupe_key = Some("test-advance".into());
        tenantry_jobs::JobQueue::enqueue(app.db().db(), &job).await.unwrap();
        let mut status = Value::Null;
        for _ in 0..100 {
            let sub = ok(call(app, "acme", Method::GET, "/api/v1/billing/subscription", &t).send().await.unwrap(), 200).await;
            status = sub["status"].clone();
            if status == "past_due" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(status, "past_due", "the default for an unpaid trial");
        let events = ok(call(app, "acme", Method::GET, "/api/v1/events?type=subscription.updated", &t).send().await.unwrap(), 200).await;
        assert_eq!(events["items"][0]["data"]["object"]["status"], "past_due");
        assert_eq!(events["items"][0]["data"]["previous_attributes"]["status"], "trialing");
    }
}
