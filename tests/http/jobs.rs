//! The job queue as the worker inside the app runs it: a job that always fails ends dead
//! with its last error (and the operator sees it), and jobs of two tenants interleaved on one
//! worker each run in their own tenant and see only its data.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tenantry_jobs::{Job, JobFilter, JobQueue, NewJob};
use tenantry_kernel::TenantId;
use tenantry_tests::{OPERATOR_TOKEN, Options, TestApp, app_tests, problem, test_worker};

const PASSWORD: &str = "correct horse battery";

async fn enqueue(app: &TestApp, tenant: Option<TenantId>, job: Job) -> String {
    let new = NewJob::now(tenant, job, chrono::Utc::now());
    assert!(app.db().db().enqueue(&new).await.unwrap());
    new.id.to_string()
}

/// Waits (up to 10 s) until no job is queued or running.
async fn drained(app: &TestApp) {
    for _ in 0..200 {
        let waiting = app
            .db()
            .db()
            .list_jobs(&JobFilter {
                limit: 100,
                ..JobFilter::default()
            })
            .await
            .unwrap();
        if waiting
            .iter()
            .all(|j| j.state == tenantry_jobs::JobState::Dead)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the queue did not drain");
}

fn one_worker() -> Options {
    Options {
        worker: Some(tenantry::cli::WorkerArgs {
            worker_concurrency: 1,
            ..test_worker()
        }),
        ..Options::default()
    }
}

app_tests! {
    async fn a_job_that_always_fails_ends_dead_with_its_last_error(app) {
        let id = enqueue(app, None, Job::Probe { delay_ms: 0, fail: true }).await;
        drained(app).await;
        let res = app.get("/api/v1/platform/jobs").send().await.unwrap();
        problem(res, 401, "unauthorized").await;
        let queue: Value = app.get("/api/v1/platform/jobs").bearer_auth(OPERATOR_TOKEN).send().await.unwrap().json().await.unwrap();
        let dead = &queue["dead"][0];
        assert_eq!(dead["id"], id);
        assert_eq!(dead["kind"], "probe");
        assert_eq!(dead["state"], "dead");
        assert_eq!(dead["attempts"], 3, "every attempt was made");
        assert_eq!(dead["max_attempts"], 3);
        assert_eq!(dead["last_error"], "the probe was asked to fail");
        assert_eq!(dead["payload"], json!({"kind": "probe", "delay_ms": 0, "fail": true}));
        assert_eq!(queue["counts"], json!([{"kind": "probe", "state": "dead", "count": 1}]));
        assert_eq!(queue["oldest_waiting_since"], Value::Null);
    }

    async fn interleaved_tenant_jobs_each_see_only_their_own(app) with (one_worker()) {
        let mut tenants = vec![];
        for (slug, products) in [("acme", 3), ("beta", 1)] {
            let body = app.onboard(slug, &format!("owner@{slug}.test"), PASSWORD).await;
            let token = body["session"]["access_token"].as_str().unwrap().to_owned();
            for n in 0..products {
                let res = app.request(Method::POST, "/api/v1/products").header("X-Tenant-ID", slug).bearer_auth(&token)
                    .json(&json!({"name": format!("P{n}"), "sku": format!("P-{n}"), "price_minor": 1, "currency": "EUR"}))
                    .send().await.unwrap();
                assert_eq!(res.status(), 201);
            }
            let id: TenantId = body["tenant"]["id"].as_str().unwrap().parse().unwrap();
            tenants.push((slug, token, id, vec![]));
        }
        // A, B, A, B… on one worker: each job follows one of the other tenant.
        for _ in 0..4 {
            for t in tenants.iter_mut() {
                let id = enqueue(app, Some(t.2), Job::Probe { delay_ms: 0, fail: false }).await;
                t.3.push(id);
            }
        }
        drained(app).await;
        for (slug, token, _, jobs) in &tenants {
            let get = |path: String| app.request(Method::GET, &path).header("X-Tenant-ID", *slug).bearer_auth(token).send();
            let events: Value = get("/api/v1/events?limit=100".into()).await.unwrap().json().await.unwrap();
            let own_events = events["items"].as_array().unwrap().len();
            let trail: Value = get("/api/v1/audit-logs?entity_type=probe&limit=100".into()).await.unwrap().json().await.unwrap();
            let notes = trail["items"].as_array().unwrap();
            let mut ran: Vec<&str> = notes.iter().map(|n| n["entity_id"].as_str().unwrap()).collect();
            ran.sort_unstable();
            let mut expected: Vec<&str> = jobs.iter().map(String::as_str).collect();
            expected.sort_unstable();
            assert_eq!(ran, expected, "{slug}'s trail has exactly its own jobs");
            for n in notes {
                assert_eq!(n["actor_type"], "system");
                assert_eq!(n["request_id"], format!("job:{}", n["entity_id"].as_str().unwrap()));
                assert_eq!(n["changes"]["foreign_events"]["new"], 0, "{slug}: saw another tenant's events");
                assert_eq!(n["changes"]["visible_events"]["new"], own_events, "{slug}: saw all of its own");
            }
        }
    }
}
