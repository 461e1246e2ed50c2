//! The fault suite: the real binary when its database restarts under load, when a deploy
//! sends SIGTERM with requests in flight, when its disk fills up, and when it is killed in the
//! middle of a 10,000-row import. (The SQLite file locked by another process is in
//! `telemetry.rs`; slow clients and bodies that never end in the HTTP suite's `errors.rs`.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Launch, PrivateCluster, Server, Tenant, Tmpfs, client, onboard};
use serde_json::{Value, json};
use tenantry_jobs::{Job, JobFilter, JobInfo, JobQueue, JobState, NewJob};
use tenantry_kernel::TenantId;
use tenantry_store::testing::TestDb;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// One fault at a time: each test loads both cores, and the restart test measures time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// One answer seen under load.
#[derive(Clone, Debug)]
struct Seen {
    at: Instant,
    took: Duration,
    /// 0: no HTTP answer at all.
    status: u16,
    code: Option<String>,
}

/// Clients calling the service until told to stop: `readers` listing products, one writer
/// creating them. Every answer is kept.
struct Load {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Seen>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(server: &Server, tenant: &Tenant, readers: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let client = client();
        let products = format!("{}/api/v1/products", server.url);
        let mut tasks = Vec::new();
        for n in 0..=readers {
            let (stop, seen, client, products) =
                (stop.clone(), seen.clone(), client.clone(), products.clone());
            let (slug, token) = (tenant.slug.clone(), tenant.token.clone());
            tasks.push(tokio::spawn(async move {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let request = if n == readers {
                        client.post(&products).json(&json!({
                            "name": format!("Load {i}"),
                            "sku": format!("LOAD-{i}"),
                            "price_minor": 100,
                            "currency": "EUR",
                        }))
                    } else {
                        client.get(&products)
                    };
                    let at = Instant::now();
                    let res = request
                        .header("X-Tenant-ID", &slug)
                        .bearer_auth(&token)
                        .timeout(Duration::from_secs(30))
                        .send()
                        .await;
                    let (status, code) = match res {
                        Ok(res) => {
                            let status = res.status().as_u16();
                            let body: Value = res.json().await.unwrap_or(Value::Null);
                            (status, body["code"].as_str().map(str::to_owned))
                        }
                        Err(_) => (0, None),
                    };
                    seen.lock().unwrap().push(Seen {
                        at,
                        took: at.elapsed(),
                        status,
                        code,
                    });
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }));
        }
        Self { stop, seen, tasks }
    }

    async fn finish(self) -> Vec<Seen> {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await.unwrap();
        }
        let mut seen = self.seen.lock().unwrap().clone();
        seen.sort_by_key(|s| s.at);
        seen
    }
}

fn succeeded(s: &Seen) -> bool {
    matches!(s.status, 200 | 201)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_restarted_under_load_fails_fast_and_recovers_by_itself() {
    let _serial = SERIAL.lock().await;
    let Some(cluster) = PrivateCluster::start() else {
        eprintln!("skipped: needs the PostgreSQL suite (TENANTRY_TEST_PG_URL) and its server");
        return;
    };
    let mut server = Launch::new(&cluster.service_url(), Some(cluster.owner_url()))
        .start()
        .await;
    let tenant = onboard(&client(), &server, "restart").await;

    let load = Load::start(&server, &tenant, 3);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let down = Instant::now();
    cluster.stop();
    let stopped = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let restarting = Instant::now();
    cluster.start_again();
    let back = Instant::now();
    tokio::time::sleep(Duration::from_secs(7)).await;
    let seen = load.finish().await;

    // Only successes and 503 database_unavailable, ever: no 500, no dropped connection.
    let wrong: Vec<&Seen> = seen
        .iter()
        .filter(|s| !succeeded(s) && s.code.as_deref() != Some("database_unavailable"))
        .collect();
    assert!(wrong.is_empty(), "unexpected answers: {wrong:#?}");
    assert!(
        seen.iter().filter(|s| s.at + s.took < down).all(succeeded),
        "the database was up"
    );
    // While it is down, every call fails, and fast: no call waits for the database.
    let outage: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.at > stopped + Duration::from_millis(200) && s.at < restarting)
        .collect();
    assert!(
        outage.len() >= 20,
        "calls during the outage: {}",
        outage.len()
    );
    assert!(outage.iter().all(|s| s.status == 503), "{outage:#?}");
    let slowest = outage.iter().map(|s| s.took).max().unwrap();
    assert!(slowest < Duration::from_secs(2), "a 503 took {slowest:?}");
    // Back within 5 s of the database, without a restart; then nothing fails.
    let first = seen
        .iter()
        .find(|s| s.at >= back && succeeded(s))
        .expect("a success after the database came back");
    let recovered = first.at + first.took - back;
    assert!(
        recovered < Duration::from_secs(5),
        "recovered after {recovered:?}"
    );
    let after: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.at > back + Duration::from_secs(5))
        .collect();
    assert!(
        after.len() >= 20 && after.iter().all(|s| succeeded(s)),
        "{after:#?}"
    );
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "still the same process"
    );
    eprintln!(
        "outage: {} calls, slowest 503 {slowest:?}; first success {recovered:?} after the database was back",
        outage.len()
    );
}

/// Sends the head and the first half of a product's body, and stops there.
/// A service started before its PostgreSQL (a deploy bringing both up at once, a database
/// still recovering) waits for it rather than exiting, and then migrates and serves
/// (decision 0061).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_waits_for_a_postgres_that_is_not_up_yet() {
    let _serial = SERIAL.lock().await;
    let Some(cluster) = PrivateCluster::start() else {
        eprintln!("skipped: needs the PostgreSQL suite (TENANTRY_TEST_PG_URL) and its server");
        return;
    };
    cluster.stop();
    let launch = Launch::new(&cluster.service_url(), Some(cluster.owner_url()));
    // `start` waits up to 30 s for the server to be ready.
    let starting = tokio::spawn(async move { launch.start().await });
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!starting.is_finished(), "ready without its database");
    cluster.start_again();
    let server = starting.await.unwrap();
    let log = server.log_text();
    assert!(log.contains("cannot reach the database yet"), "{log}");
    let tenant = onboard(&client(), &server, "late").await;
    let products = client()
        .get(format!("{}/api/v1/products", server.url))
        .header("X-Tenant-ID", &tenant.slug)
        .bearer_auth(&tenant.token)
        .send()
        .await
        .unwrap();
    assert_eq!(products.status(), 200);
}

async fn half_sent(server: &Server, tenant: &Tenant, n: usize) -> (TcpStream, Vec<u8>) {
    let body = json!({"name": format!("Drain {n}"), "sku": format!("DRAIN-{n}"),
                      "price_minor": 500, "currency": "EUR"})
    .to_string();
    let head = format!(
        "POST /api/v1/products HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Tenant-ID: {}\r\n\
         Authorization: Bearer {}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        tenant.slug,
        tenant.token,
        body.len()
    );
    let address = server.url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.unwrap();
    let (first, rest) = body.as_bytes().split_at(body.len() / 2);
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(first).await.unwrap();
    (stream, rest.to_vec())
}

/// Sends the rest and reads the status line (and the rest of the answer).
async fn finish(mut stream: TcpStream, rest: &[u8]) -> u16 {
    stream.write_all(rest).await.unwrap();
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    tokio::time::timeout(Duration::from_secs(20), reader.read_line(&mut status))
        .await
        .expect("an answer within 20 s")
        .unwrap();
    let mut tail = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), reader.read_to_end(&mut tail)).await;
    status
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

async fn sigterm_with_requests_in_flight(db: TestDb) {
    let _serial = SERIAL.lock().await;
    let mut server = Launch::new(db.url(), db.owner_url()).start().await;
    let http = client();
    let tenant = onboard(&http, &server, "drain").await;
    // Work for the worker: invitation mails.
    for who in ["a", "b", "c"] {
        let res = tenant
            .post(&http, &format!("{}/api/v1/invitations", server.url))
            .json(&json!({"email": format!("{who}@drain.test"), "role": "member"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    }
    // And a job that is running when the signal comes: it takes 3 s.
    let tenant_id: TenantId = tenant.id.parse().unwrap();
    let probe = NewJob::now(
        Some(tenant_id),
        Job::Probe {
            delay_ms: 3_000,
            fail: false,
        },
        chrono::Utc::now(),
    );
    assert!(db.db().enqueue(&probe).await.unwrap());
    let deadline = Instant::now() + Duration::from_secs(20);
    while !jobs(&db)
        .await
        .iter()
        .any(|j| j.id == probe.id && j.state == JobState::Running)
    {
        assert!(Instant::now() < deadline, "the probe never started");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let mut in_flight = Vec::new();
    for n in 0..6 {
        in_flight.push(half_sent(&server, &tenant, n).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    server.signal("TERM");
    tokio::time::sleep(Duration::from_millis(500)).await;
    // No new connections...
    let address = server.url.trim_start_matches("http://").to_owned();
    assert!(
        TcpStream::connect(&address).await.is_err(),
        "a new connection was accepted after SIGTERM"
    );
    // ...but every request already in flight is answered in full.
    for (stream, rest) in in_flight {
        assert_eq!(finish(stream, &rest).await, 201);
    }
    let status = server.wait_exit(Duration::from_secs(20));
    assert_eq!(status.code(), Some(0), "{}", server.log_text());

    let kept = db
        .db()
        .unfiltered_count(Some(tenant_id), "products")
        .await
        .unwrap();
    assert_eq!(kept, 6);
    // The worker finished the job it was running (done jobs leave the queue) and left none
    // claimed: the rest are done or back in the queue for the next start.
    let jobs = jobs(&db).await;
    assert!(
        jobs.iter().all(|j| j.id != probe.id),
        "{jobs:#?}\n{}",
        server.log_text()
    );
    assert!(
        jobs.iter().all(|j| j.state != JobState::Running),
        "{jobs:#?}"
    );
    // Every invitation was mailed, or its job waits for the next start.
    let mailed = std::fs::read_dir(server.dir.path().join("mail")).map_or(0, Iterator::count);
    let waiting = jobs
        .iter()
        .filter(|j| j.kind == "invitation_mail" && j.state == JobState::Queued)
        .count();
    assert_eq!(mailed + waiting, 3, "mailed {mailed}, waiting {waiting}");
}

async fn jobs(db: &TestDb) -> Vec<JobInfo> {
    db.db()
        .list_jobs(&JobFilter {
            limit: 100,
            ..JobFilter::default()
        })
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_requests_in_flight_and_exits_cleanly_sqlite() {
    sigterm_with_requests_in_flight(TestDb::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_requests_in_flight_and_exits_cleanly_postgres() {
    if let Some(db) = TestDb::postgres().await {
        sigterm_with_requests_in_flight(db).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_a_503_that_corrupts_nothing_and_passes() {
    let _serial = SERIAL.lock().await;
    let Some(disk) = Tmpfs::mount("8m") else {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    };
    let file = disk.path().join("tenantry.db");
    let mut server = Launch::new(&format!("sqlite://{}", file.display()), None)
        .start()
        .await;
    let http = client();
    let tenant = onboard(&http, &server, "full").await;
    let products = format!("{}/api/v1/products", server.url);
    let create = |n: usize| {
        tenant.post(&http, &products).json(&json!({
            "name": format!("Full {n}"), "sku": format!("FULL-{n}"),
            "price_minor": 1, "currency": "EUR", "description": "x".repeat(2000),
        }))
    };

    // Fill the disk.
    let filler = disk.path().join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while f.write_all(&chunk).is_ok() {}
        let _ = f.sync_all();
    }
    // Writes fail with 503 (none with 500) once SQLite needs a page it cannot have.
    let mut created = 0;
    let mut refused = false;
    for n in 0..500 {
        let res = create(n).send().await.unwrap();
        match res.status().as_u16() {
            201 => created += 1,
            503 => {
                let body: Value = res.json().await.unwrap();
                assert_eq!(body["code"], "database_unavailable");
                refused = true;
                break;
            }
            other => panic!("{other}: {}", res.text().await.unwrap()),
        }
    }
    assert!(refused, "no write was refused on a full disk");
    eprintln!("full disk: {created} writes passed, the next one was refused");
    // Reads still work.
    assert_eq!(
        tenant.get(&http, &products).send().await.unwrap().status(),
        200
    );

    // Room again: writes pass, without a restart.
    std::fs::remove_file(&filler).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut n = 1000;
    loop {
        n += 1;
        let res = create(n).send().await.unwrap();
        if res.status() == 201 {
            created += 1;
            break;
        }
        assert_eq!(res.status(), 503);
        assert!(Instant::now() < deadline, "writes did not come back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.signal("TERM");
    assert!(server.wait_exit(Duration::from_secs(20)).success());

    // Nothing corrupted, nothing half-written: exactly the acknowledged rows.
    let check = std::process::Command::new("python3")
        .args([
            "-c",
            "import sqlite3, sys\n\
             c = sqlite3.connect(sys.argv[1])\n\
             print(c.execute('PRAGMA integrity_check').fetchone()[0])\n\
             print(c.execute('SELECT count(*) FROM products').fetchone()[0])",
        ])
        .arg(&file)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&check.stdout).into_owned();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines, ["ok", &created.to_string()], "{check:?}");
}

/// Waits (up to `within`) until the service has held a write transaction open for a while —
/// an import's, the only long one — and says for how long it saw it open.
async fn writing(url: &str, within: Duration) -> Duration {
    const OPEN_FOR: Duration = Duration::from_millis(300);
    let deadline = Instant::now() + within;
    let mut since: Option<Instant> = None;
    loop {
        let busy = if let Some(path) = url.strip_prefix("sqlite://") {
            // SQLite: another process cannot take the write lock.
            let probe = std::process::Command::new("python3")
                .args([
                    "-c",
                    "import sqlite3, sys\n\
                     c = sqlite3.connect(sys.argv[1], timeout=0, isolation_level=None)\n\
                     try:\n    c.execute('BEGIN IMMEDIATE'); c.execute('ROLLBACK'); print('free')\n\
                     except sqlite3.OperationalError: print('busy')",
                ])
                .arg(path)
                .output()
                .unwrap();
            String::from_utf8_lossy(&probe.stdout).trim() == "busy"
        } else {
            // PostgreSQL: a session of the service's role with a transaction that has written.
            let probe = std::process::Command::new("psql")
                .args([url, "-Atc"])
                .arg(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                     AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()",
                )
                .output()
                .unwrap();
            String::from_utf8_lossy(&probe.stdout).trim() != "0"
        };
        match (busy, since) {
            (true, Some(at)) if at.elapsed() >= OPEN_FOR => return at.elapsed(),
            (true, None) => since = Some(Instant::now()),
            (true, Some(_)) => {}
            (false, _) => since = None,
        }
        assert!(
            Instant::now() < deadline,
            "no long write transaction seen within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The CSV of a 10,000-row import whose SKUs start with `prefix`.
fn ten_thousand(prefix: &str) -> String {
    let mut csv = String::from("name,sku,price_minor,currency\n");
    for i in 0..10_000 {
        csv.push_str(&format!("Item {i},{prefix}-{i:05},{},EUR\n", 100 + i));
    }
    csv
}

async fn killed_during_import(db: TestDb) {
    let _serial = SERIAL.lock().await;
    let launch = Launch::new(db.url(), db.owner_url());
    let mut server = launch.start().await;
    let http = client();
    let tenant = onboard(&http, &server, "crash").await;
    let tenant_id: TenantId = tenant.id.parse().unwrap();
    let count = async || {
        db.db()
            .unfiltered_count(Some(tenant_id), "products")
            .await
            .unwrap()
    };
    let import = |server: &Server, prefix: &str| {
        tenant
            .post(
                &http,
                &format!("{}/api/v1/products/bulk-import", server.url),
            )
            .header("Content-Type", "text/csv")
            .body(ten_thousand(prefix))
            .timeout(Duration::from_secs(120))
            .send()
    };
    // How long a whole import takes here, to kill the next ones part-way.
    let started = Instant::now();
    let res = import(&server, "WARM").await.unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let whole = started.elapsed();
    assert_eq!(count().await, 10_000);

    let mut expected = 10_000;
    for attempt in 0..2 {
        let prefix = format!("CRASH{attempt}");
        let sending = tokio::spawn(import(&server, &prefix));
        // Killed while the import's transaction is open and writing, not before or after.
        let open = writing(db.url(), whole * 3).await;
        let dir = server.crash();
        // The client lost its answer; the import is all there or not at all.
        let _ = sending.await.unwrap();
        server = launch.start_in(dir).await;
        let now = count().await;
        assert!(
            now == expected || now == expected + 10_000,
            "after kill -9 in an import's transaction (open {open:?}): {now} rows (had {expected})"
        );
        expected = now;
    }
    // The audit trail still verifies from its first entry.
    let verified = tenant
        .get_json(&http, &format!("{}/api/v1/audit-logs/verify", server.url))
        .await;
    assert_eq!(verified["ok"], true, "{verified}");
    server.signal("TERM");
    assert!(server.wait_exit(Duration::from_secs(20)).success());
    eprintln!("a whole import took {whole:?}; rows after two kills mid-transaction: {expected}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_an_import_keeps_none_or_all_sqlite() {
    killed_during_import(TestDb::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_an_import_keeps_none_or_all_postgres() {
    if let Some(db) = TestDb::postgres().await {
        killed_during_import(db).await;
    }
}
