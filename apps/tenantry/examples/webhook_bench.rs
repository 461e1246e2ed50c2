//! Webhook delivery's numbers (`just bench-webhooks`), each beside a floor from the same run.
//!
//! `webhook_bench <tenantry url> <server pid> [events]` against a running `tenantry serve`
//! that may deliver to 127.0.0.1 over http. This process is the receiver (actix-web, one
//! worker, answering 204) and the driver:
//!
//! 1. floor: the receiver's own capacity — `events` POSTs of a delivery's size from one
//!    reqwest client, 64 at a time (what a dispatcher at best could send it here);
//! 2. fan-out: one bulk import of `events` products (one change, `events` events) to an
//!    endpoint subscribed to `product.*`; deliveries/s from the import's answer to the last
//!    arrival, and the server's peak RSS meanwhile (sampled every 50 ms from /proc);
//! 3. latency at low load: single product writes 20 ms apart, event→delivery measured from
//!    the event's `occurred_at` to its arrival (p50/p99), beside one POST round trip to the
//!    receiver;
//! 4. the fan-out's price on writes: `POST /api/v1/products` at 32 connections for 5 s in a
//!    tenant without endpoints and in one whose endpoint receives every product event,
//!    alternating three rounds, medians.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

#[derive(Default)]
struct Seen {
    ids: HashSet<String>,
    /// event→arrival, for events with an `occurred_at`.
    latencies: Vec<Duration>,
    last: Option<Instant>,
    floor_hits: usize,
}

type Shared = Arc<Mutex<Seen>>;

async fn receive(req: HttpRequest, body: web::Bytes, seen: web::Data<Shared>) -> HttpResponse {
    let now = Instant::now();
    let wall = chrono::Utc::now();
    let Some(id) = req
        .headers()
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
    else {
        seen.lock().unwrap().floor_hits += 1;
        return HttpResponse::NoContent().finish();
    };
    let occurred = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["occurred_at"].as_str().map(str::to_owned))
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok());
    let mut s = seen.lock().unwrap();
    if s.ids.insert(id.to_owned())
        && let Some(at) = occurred
    {
        s.latencies.push(
            (wall - at.with_timezone(&chrono::Utc))
                .to_std()
                .unwrap_or_default(),
        );
    }
    s.last = Some(now);
    HttpResponse::NoContent().finish()
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    async fn onboard(&self, slug: &str) -> String {
        let res: Value = self
            .http
            .post(format!("{}/api/v1/onboard", self.base))
            .json(&json!({"organisation_name": slug, "slug": slug, "owner_email": format!("owner@{slug}.test"), "owner_name": "Owner", "password": "correct horse battery"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        res["session"]["access_token"]
            .as_str()
            .expect("onboarded")
            .to_owned()
    }

    fn post(&self, slug: &str, token: &str, path: &str) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{path}", self.base))
            .header("X-Tenant-ID", slug)
            .bearer_auth(token)
    }

    async fn endpoint(&self, slug: &str, token: &str, url: &str) {
        let res = self
            .post(slug, token, "/api/v1/webhooks")
            .json(&json!({"url": url, "event_types": ["product.*"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    }

    /// Product writes at `connections` for `secs`: writes per second, and how many were
    /// refused (503: SQLite's one writer saturated).
    async fn write_rate(
        &self,
        slug: &str,
        token: &str,
        connections: usize,
        secs: u64,
    ) -> (f64, u64) {
        let until = Instant::now() + Duration::from_secs(secs);
        let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let refused = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let tasks: Vec<_> = (0..connections)
            .map(|c| {
                let req = self.post(slug, token, "/api/v1/products");
                let (counter, refused) = (counter.clone(), refused.clone());
                let slug = slug.to_owned();
                tokio::spawn(async move {
                    let mut n = 0u64;
                    while Instant::now() < until {
                        let sku = format!("{slug}-{c}-{n}-{}", uuid::Uuid::now_v7().simple());
                        let res = req
                            .try_clone()
                            .unwrap()
                            .json(&json!({"name": "Bench", "sku": sku, "price_minor": 1, "currency": "EUR"}))
                            .send()
                            .await
                            .unwrap();
                        match res.status().as_u16() {
                            201 => n += 1,
                            503 => {
                                refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            }
                            other => panic!("{other}: {}", res.text().await.unwrap()),
                        }
                    }
                    counter.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                })
            })
            .collect();
        let started = Instant::now();
        for t in tasks {
            t.await.unwrap();
        }
        (
            counter.load(std::sync::atomic::Ordering::Relaxed) as f64
                / started.elapsed().as_secs_f64(),
            refused.load(std::sync::atomic::Ordering::Relaxed),
        )
    }
}

async fn wait_for(seen: &Shared, n: usize, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if seen.lock().unwrap().ids.len() >= n {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    false
}

#[actix_web::main]
async fn main() {
    tenantry_telemetry::use_ring_for_tls();
    let args: Vec<String> = std::env::args().collect();
    let base = args.get(1).expect("tenantry url").clone();
    let pid: u32 = args.get(2).expect("server pid").parse().unwrap();
    let events: usize = args.get(3).map_or(10_000, |n| n.parse().unwrap());
    let seen: Shared = Arc::default();
    let data = web::Data::new(seen.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(1 << 20))
            .route("/hook", web::post().to(receive))
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .unwrap();
    let port = server.addrs()[0].port();
    let running = server.run();
    let handle = running.handle();
    actix_web::rt::spawn(running);
    let hook = format!("http://127.0.0.1:{port}/hook");
    let api = Api {
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .build()
            .unwrap(),
        base,
    };

    // 1. The floor: the receiver's own capacity, a delivery's worth of bytes per POST.
    let body = json!({"id": uuid::Uuid::now_v7(), "type": "product.created", "occurred_at": chrono::Utc::now(), "tenant_id": uuid::Uuid::now_v7(),
        "actor": {"type": "user", "id": uuid::Uuid::now_v7(), "api_key_id": null},
        "data": {"object": {"id": uuid::Uuid::now_v7(), "name": "Product 12345", "sku": "S-12345", "description": "", "price_minor": 100, "currency": "EUR", "status": "active",
        "created_by": uuid::Uuid::now_v7(), "created_at": chrono::Utc::now(), "updated_at": chrono::Utc::now()}}})
    .to_string();
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let senders: Vec<_> = (0..64)
        .map(|_| {
            let (http, hook, body, next) =
                (api.http.clone(), hook.clone(), body.clone(), next.clone());
            tokio::spawn(async move {
                while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < events {
                    http.post(&hook)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for s in senders {
        s.await.unwrap();
    }
    let floor = events as f64 / started.elapsed().as_secs_f64();
    let mut one = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        api.http
            .post(&hook)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        one.push(t.elapsed());
    }
    one.sort();

    // 2. Fan-out: one change of `events` events.
    let token = api.onboard("fanout").await;
    api.endpoint("fanout", &token, &hook).await;
    let rows: Vec<Value> = (0..events)
        .map(|n| json!({"name": format!("Product {n}"), "sku": format!("S-{n}"), "price_minor": 100, "currency": "EUR"}))
        .collect();
    let rss_before = rss_kib(pid);
    let peak = Arc::new(std::sync::atomic::AtomicU64::new(rss_before));
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let (peak, sampling) = (peak.clone(), sampling.clone());
        tokio::spawn(async move {
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                peak.fetch_max(rss_kib(pid), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let sent = Instant::now();
    let res = api
        .post("fanout", &token, "/api/v1/products/bulk-import")
        .json(&rows)
        .timeout(Duration::from_secs(300))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    let committed = Instant::now();
    // The endpoint's own creation event is not a product's: only product.* is subscribed.
    assert!(
        wait_for(&seen, events, Duration::from_secs(300)).await,
        "every delivery arrived"
    );
    let last = seen.lock().unwrap().last.unwrap();
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    sampler.await.unwrap();
    let rate = events as f64 / (last - committed).as_secs_f64();
    let import = committed - sent;
    let peak_mb = peak.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1024.0;

    // 3. Latency at low load.
    let token2 = api.onboard("latency").await;
    api.endpoint("latency", &token2, &hook).await;
    let before = {
        let mut s = seen.lock().unwrap();
        s.latencies.clear();
        s.ids.len()
    };
    let writes = 200;
    for n in 0..writes {
        let res = api
            .post("latency", &token2, "/api/v1/products")
            .json(&json!({"name": "Latency", "sku": format!("L-{n}"), "price_minor": 1, "currency": "EUR"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(wait_for(&seen, before + writes, Duration::from_secs(30)).await);
    let mut lat = seen.lock().unwrap().latencies.clone();
    lat.sort();

    // 4. The fan-out's price on writes.
    let plain = api.onboard("plain").await;
    let hooked = api.onboard("hooked").await;
    api.endpoint("hooked", &hooked, &hook).await;
    api.write_rate("plain", &plain, 32, 2).await;
    let (mut without, mut with, mut refused) = (Vec::new(), Vec::new(), 0);
    for _ in 0..3 {
        let (rate, r) = api.write_rate("plain", &plain, 32, 5).await;
        without.push(rate);
        refused += r;
        let (rate, r) = api.write_rate("hooked", &hooked, 32, 5).await;
        with.push(rate);
        refused += r;
    }
    let (without, with) = (median(without), median(with));

    println!("  floor: the receiver, {events} POSTs from reqwest, 64 at a time   {floor:>9.0} /s");
    println!(
        "  floor: one POST round trip to the receiver, p50 / p99       {:>7.2} / {:.2} ms",
        ms(percentile(&one, 0.5)),
        ms(percentile(&one, 0.99))
    );
    println!(
        "  fan-out: {events} events in one change (bulk import {:.2} s)",
        import.as_secs_f64()
    );
    println!(
        "    deliveries, commit → last arrival                         {rate:>9.0} /s  ({:.0} % of the floor)",
        100.0 * rate / floor
    );
    println!(
        "    server RSS, before → peak                                 {:>6.0} → {peak_mb:.0} MB",
        rss_before as f64 / 1024.0
    );
    println!("  latency at low load: {writes} writes 20 ms apart, event → arrival");
    println!(
        "    p50 / p99 / max                                            {:>7.1} / {:.1} / {:.1} ms",
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99)),
        ms(*lat.last().unwrap())
    );
    println!("  POST /api/v1/products, 32 connections, median of 3 × 5 s");
    println!("    tenant without endpoints                                  {without:>9.0} /s");
    println!(
        "    tenant whose endpoint receives every product event        {with:>9.0} /s  ({:.0} %)",
        100.0 * with / without
    );
    if refused > 0 {
        println!("    (writes answered 503 database_unavailable meanwhile: {refused})");
    }
    let floor_hits = seen.lock().unwrap().floor_hits;
    assert!(floor_hits >= events, "{floor_hits}");
    handle.stop(false).await;
}
