//! Usage metering over HTTP: billable metrics, idempotent ingestion, aggregation, the
//! operator's period totals.

use chrono::{Datelike, Duration, SecondsFormat, Utc};
use reqwest::Method;
use serde_json::{Value, json};
use tenantry_tests::{PASSWORD, TestApp, app_tests, call, ok, owner, problem};

async fn metric(app: &TestApp, code: &str, aggregation: &str, field: Option<&str>) {
    let res = app
        .operator(Method::POST, "/api/v1/platform/metrics")
        .json(&json!({"code": code, "name": code, "aggregation": aggregation, "field": field}))
        .send()
        .await
        .unwrap();
    ok(res, 201).await;
}

/// A usage event as a test reports it: id, metric, time, `v`, `u`.
type Reported = (String, &'static str, chrono::DateTime<Utc>, f64, String);

fn at(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

async fn usage(app: &TestApp, t: &str, query: &str) -> Value {
    ok(
        call(
            app,
            "acme",
            Method::GET,
            &format!("/api/v1/usage?{query}"),
            t,
        )
        .send()
        .await
        .unwrap(),
        200,
    )
    .await
}

app_tests! {
    async fn usage_events_count_once_and_aggregate_per_day_and_month(app) {
        let t = owner(app, "acme").await;
        metric(app, "storage_gb", "sum", Some("gb")).await;
        metric(app, "active_users", "unique_count", Some("user")).await;
        metric(app, "peak_seats", "max", Some("seats")).await;
        metric(app, "balance", "latest", Some("amount")).await;
        metric(app, "logins", "count", None).await;
        let res = app.operator(Method::POST, "/api/v1/platform/metrics").json(&json!({"code": "logins", "name": "x", "aggregation": "count"})).send().await.unwrap();
        problem(res, 409, "metric_exists").await;
        let res = app.operator(Method::POST, "/api/v1/platform/metrics").json(&json!({"code": "bad", "name": "x", "aggregation": "sum"})).send().await.unwrap();
        assert_eq!(problem(res, 422, "validation_failed").await["errors"][0]["field"], "field");

        let now = Utc::now();
        let today = now - Duration::minutes(1);
        let yesterday = now - Duration::days(1);
        let events = json!({"events": [
            {"transaction_id": "s-1", "metric": "storage_gb", "timestamp": at(yesterday), "properties": {"gb": 1.5}},
            {"transaction_id": "s-2", "metric": "storage_gb", "timestamp": at(today), "properties": {"gb": 2}},
            {"transaction_id": "s-3", "metric": "storage_gb", "timestamp": at(today), "properties": {"gb": 0.5}},
            {"transaction_id": "u-1", "metric": "active_users", "timestamp": at(today), "properties": {"user": "ann"}},
            {"transaction_id": "u-2", "metric": "active_users", "timestamp": at(today), "properties": {"user": "bob"}},
            {"transaction_id": "u-3", "metric": "active_users", "timestamp": at(today), "properties": {"user": "ann"}},
            {"transaction_id": "p-1", "metric": "peak_seats", "timestamp": at(today), "properties": {"seats": 7}},
            {"transaction_id": "p-2", "metric": "peak_seats", "timestamp": at(today), "properties": {"seats": 3}},
            {"transaction_id": "b-1", "metric": "balance", "timestamp": at(today - Duration::seconds(30)), "properties": {"amount": 10}},
            {"transaction_id": "b-2", "metric": "balance", "timestamp": at(today), "properties": {"amount": 4}},
            {"transaction_id": "l-1", "metric": "logins", "timestamp": at(today)},
            {"transaction_id": "x-1", "metric": "nope", "timestamp": at(today)},
            {"transaction_id": "x-2", "metric": "storage_gb", "timestamp": at(now + Duration::hours(1)), "properties": {"gb": 1}},
            {"transaction_id": "x-3", "metric": "storage_gb", "timestamp": at(now - Duration::days(40)), "properties": {"gb": 1}},
            {"transaction_id": "x-4", "metric": "storage_gb", "timestamp": at(today), "properties": {"gb": "lots"}},
        ]});
        let first = ok(call(app, "acme", Method::POST, "/api/v1/usage-events", &t).json(&events).send().await.unwrap(), 200).await;
        assert_eq!((first["accepted"].as_u64(), first["rejected"].as_u64()), (Some(11), Some(4)), "{first}");
        let errors: Vec<&str> = first["results"].as_array().unwrap().iter().filter_map(|r| r["error"].as_str()).collect();
        assert!(errors[0].contains("no metric 'nope'") && errors[1].contains("future") && errors[2].contains("past") && errors[3].contains("properties.gb"), "{errors:?}");
        // A replay answers the same and counts once.
        let again = ok(call(app, "acme", Method::POST, "/api/v1/usage-events", &t).json(&events).send().await.unwrap(), 200).await;
        assert_eq!(again, first);

        let (from, to) = (at(now - Duration::days(3)), at(now + Duration::minutes(1)));
        let day = |t: chrono::DateTime<Utc>| t.format("%Y-%m-%d").to_string();
        let storage = usage(app, &t, &format!("metric=storage_gb&from={from}&to={to}")).await;
        assert_eq!(storage["aggregation"], "sum");
        assert_eq!(storage["items"], json!([{"period": day(yesterday), "value": 1.5}, {"period": day(today), "value": 2.5}]));
        let value = |v: &Value| v["items"].as_array().unwrap().last().unwrap()["value"].as_f64().unwrap();
        assert_eq!(value(&usage(app, &t, &format!("metric=active_users&from={from}&to={to}")).await), 2.0);
        assert_eq!(value(&usage(app, &t, &format!("metric=peak_seats&from={from}&to={to}")).await), 7.0);
        assert_eq!(value(&usage(app, &t, &format!("metric=balance&from={from}&to={to}")).await), 4.0);
        assert_eq!(value(&usage(app, &t, &format!("metric=logins&from={from}&to={to}")).await), 1.0);
        let monthly = usage(app, &t, &format!("metric=storage_gb&from={from}&to={to}&granularity=month")).await;
        let total: f64 = monthly["items"].as_array().unwrap().iter().map(|b| b["value"].as_f64().unwrap()).sum();
        assert_eq!(total, 4.0, "{monthly}");
        assert!(monthly["items"][0]["period"].as_str().unwrap().len() == 7);
        let res = call(app, "acme", Method::GET, "/api/v1/usage?metric=nope", &t).send().await.unwrap();
        problem(res, 404, "metric_not_found").await;
        let res = call(app, "acme", Method::GET, &format!("/api/v1/usage?metric=logins&from={to}&to={from}"), &t).send().await.unwrap();
        problem(res, 400, "invalid_query").await;

        // Batches are 1 to 100 events.
        let many: Vec<Value> = (0..101).map(|i| json!({"transaction_id": format!("m-{i}"), "metric": "logins", "timestamp": at(today)})).collect();
        let res = call(app, "acme", Method::POST, "/api/v1/usage-events", &t).json(&json!({"events": many})).send().await.unwrap();
        assert_eq!(problem(res, 422, "validation_failed").await["errors"][0]["field"], "events");
        let res = call(app, "acme", Method::POST, "/api/v1/usage-events", &t).json(&json!({"events": []})).send().await.unwrap();
        problem(res, 422, "validation_failed").await;

        // Another tenant's usage is its own; the operator totals every tenant for a month.
        let b = owner(app, "beta").await;
        let theirs = ok(call(app, "beta", Method::GET, &format!("/api/v1/usage?metric=storage_gb&from={from}&to={to}"), &b).send().await.unwrap(), 200).await;
        assert_eq!(theirs["items"], json!([]));
        let period = today.format("%Y-%m").to_string();
        let res = app.operator(Method::GET, &format!("/api/v1/platform/usage?period={period}")).send().await.unwrap();
        let totals = ok(res, 200).await;
        let acme: Vec<(&str, f64)> = totals["items"].as_array().unwrap().iter()
            .filter(|i| i["tenant_slug"] == "acme")
            .map(|i| (i["metric"].as_str().unwrap(), i["value"].as_f64().unwrap()))
            .collect();
        assert!(acme.contains(&("active_users", 2.0)) && acme.contains(&("logins", 1.0)), "{totals}");
        assert!(!totals["items"].as_array().unwrap().iter().any(|i| i["tenant_slug"] == "beta" && i["metric"] == "storage_gb"));
        let csv = app.operator(Method::GET, &format!("/api/v1/platform/usage?period={period}")).header("Accept", "text/csv").send().await.unwrap();
        assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
        let text = csv.text().await.unwrap();
        assert!(text.starts_with("period,tenant_id,tenant_slug,metric,value\n"), "{text}");
        assert!(text.contains(&format!("{period},")) && text.contains(",acme,logins,1\n"), "{text}");
        let res = app.operator(Method::GET, "/api/v1/platform/usage?period=2026-13").send().await.unwrap();
        problem(res, 400, "invalid_query").await;
    }

    async fn aggregates_read_from_rollups_match_the_events_themselves(app) {
        let t = owner(app, "acme").await;
        let kinds = [("rx_count", "count", None), ("rx_sum", "sum", Some("v")), ("rx_users", "unique_count", Some("u")), ("rx_max", "max", Some("v")), ("rx_last", "latest", Some("v"))];
        for (code, aggregation, field) in kinds {
            metric(app, code, aggregation, field).await;
        }
        // 300 events over the last 20 days, at distinct times, in three batches sent at once
        // (concurrent rollup writes), then one replayed (counted once).
        let now = Utc::now();
        let events: Vec<Reported> = (0..300i64)
            .map(|i| {
                let ts = now - Duration::seconds(60 + i * 5711);
                (format!("rx-{i:03}"), kinds[(i % 5) as usize].0, ts, ((i * 7) % 23) as f64 * 0.5, format!("user-{}", (i * 13) % 17))
            })
            .collect();
        let batch = |part: &[Reported]| {
            json!({"events": part.iter().map(|(id, m, ts, v, u)| json!({"transaction_id": id, "metric": m, "timestamp": at(*ts), "properties": {"v": v, "u": u}})).collect::<Vec<_>>()})
        };
        let token = t.as_str();
        let send = |body: Value| async move {
            let r = ok(call(app, "acme", Method::POST, "/api/v1/usage-events", token).json(&body).send().await.unwrap(), 200).await;
            assert_eq!(r["accepted"], 100, "{r}");
        };
        futures_util::future::join3(send(batch(&events[..100])), send(batch(&events[100..200])), send(batch(&events[200..]))).await;
        send(batch(&events[100..200])).await;

        let midnight = |t: chrono::DateTime<Utc>| t.date_naive().and_hms_opt(0, 0, 0).unwrap().and_utc();
        let month_start = midnight(now).with_day(1).unwrap();
        let prev_month = midnight(month_start - Duration::days(1)).with_day(1).unwrap();
        let base = midnight(now - Duration::days(15));
        let ranges = [
            (now - Duration::days(21), now + Duration::minutes(1)),
            (midnight(now - Duration::days(10)), midnight(now - Duration::days(2))),
            (base + Duration::hours(3), base + Duration::hours(20)),
            (base + Duration::hours(20), base + Duration::hours(26)),
            (month_start, now + Duration::minutes(1)),
            (prev_month, month_start),
        ];
        for (code, aggregation, _) in kinds {
            for (from, to) in ranges {
                for (granularity, len) in [("day", 10), ("month", 7)] {
                    let mut expected: std::collections::BTreeMap<String, Vec<&Reported>> = Default::default();
                    for e in events.iter().filter(|e| e.1 == code && e.2 >= from && e.2 < to) {
                        expected.entry(e.2.format("%Y-%m-%d").to_string()[..len].to_owned()).or_default().push(e);
                    }
                    let expected: Vec<Value> = expected.into_iter().map(|(period, es)| {
                        let value = match aggregation {
                            "count" => es.len() as f64,
                            "sum" => es.iter().map(|e| e.3).sum(),
                            "max" => es.iter().map(|e| e.3).fold(f64::MIN, f64::max),
                            "latest" => es.iter().max_by_key(|e| (e.2, e.0.clone())).unwrap().3,
                            _ => es.iter().map(|e| e.4.as_str()).collect::<std::collections::BTreeSet<_>>().len() as f64,
                        };
                        json!({"period": period, "value": value})
                    }).collect();
                    let got = usage(app, &t, &format!("metric={code}&from={}&to={}&granularity={granularity}", at(from), at(to))).await;
                    assert_eq!(got["items"], Value::Array(expected), "{code} {granularity} [{from}, {to})");
                }
            }
        }
    }
}

/// API calls are counted in memory and written on a schedule and when the server stops.
async fn api_calls_are_metered_and_kept_over_a_graceful_stop(db: tenantry_store::testing::TestDb) {
    let mut app = TestApp::start(db, tenantry_tests::Options::default()).await;
    let body = app.onboard("acme", "owner@acme.test", PASSWORD).await;
    let t = body["session"]["access_token"].as_str().unwrap().to_owned();
    let tenant: tenantry_kernel::TenantId = body["tenant"]["id"].as_str().unwrap().parse().unwrap();
    for _ in 0..7 {
        ok(
            call(&app, "acme", Method::GET, "/api/v1/products", &t)
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
    }
    // Refused before reaching the tenant: not a call of the tenant's.
    let res = call(&app, "acme", Method::GET, "/api/v1/products", "not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    app.stop();
    let usage = tenantry_billing::UsageService::new(
        app.db().db().clone(),
        std::sync::Arc::new(tenantry_kernel::SystemClock),
    );
    let ctx = tenantry_kernel::TenantCtx::for_tests(tenant);
    let now = Utc::now();
    let (_, buckets) = usage
        .usage(
            &ctx,
            "api_calls",
            now - Duration::days(1),
            now + Duration::minutes(1),
            tenantry_billing::Granularity::Day,
        )
        .await
        .unwrap();
    let total: f64 = buckets.iter().map(|b| b.value).sum();
    assert_eq!(
        total, 7.0,
        "every call that reached the tenant, none lost on the stop"
    );
}

#[tokio::test]
async fn api_calls_are_metered_on_sqlite() {
    api_calls_are_metered_and_kept_over_a_graceful_stop(
        tenantry_store::testing::TestDb::sqlite().await,
    )
    .await;
}

#[tokio::test]
async fn api_calls_are_metered_on_postgres() {
    if let Some(db) = tenantry_store::testing::TestDb::postgres().await {
        api_calls_are_metered_and_kept_over_a_graceful_stop(db).await;
    }
}
