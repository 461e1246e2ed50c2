//! The job queue's numbers (`just bench-jobs`): enqueue→start latency at idle and no-op job
//! throughput, each beside a floor measured in the same run on the same database.
//!
//! `queue_bench <database url> [jobs]`. On PostgreSQL the jobs are enqueued through a second
//! connection pool, as another instance would: the worker only learns of them by
//! LISTEN/NOTIFY. On SQLite (one process by nature) through the worker's own pool.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tenantry_jobs::{ClaimedJob, Job, JobQueue, NewJob};
use tenantry_kernel::{Edges, JobId, SystemClock, TenantCtx};
use tenantry_store::{Backend, Db, DbConfig};
use tenantry_worker::{JobError, JobHandler, Worker, WorkerConfig};
use tokio::sync::mpsc;

/// Notes when each job starts; does nothing else.
#[derive(Clone)]
struct Recorder {
    started: Arc<Mutex<HashMap<JobId, Instant>>>,
    tx: mpsc::UnboundedSender<JobId>,
}

impl JobHandler for Recorder {
    async fn run(
        &self,
        _job: &Job,
        _ctx: Option<&TenantCtx>,
        claim: &ClaimedJob,
    ) -> Result<(), JobError> {
        self.started
            .lock()
            .unwrap()
            .insert(claim.id, Instant::now());
        let _ = self.tx.send(claim.id);
        Ok(())
    }
}

fn probe() -> NewJob {
    NewJob::now(
        None,
        Job::Probe {
            delay_ms: 0,
            fail: false,
        },
        chrono::Utc::now(),
    )
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn open(url: &str, pool: usize) -> Db {
    let mut config = DbConfig::new(url);
    config.pool_size = pool;
    Db::connect(&config).expect("connect")
}

fn start_worker(
    db: &Db,
    handler: Recorder,
    concurrency: usize,
    edges: &Edges,
) -> (
    tokio::task::JoinHandle<()>,
    tokio::sync::oneshot::Sender<()>,
) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = Worker::new(
        db.clone(),
        handler,
        Arc::new(SystemClock),
        WorkerConfig::new(concurrency),
        edges.clone(),
    );
    let task = tokio::spawn(worker.run(async {
        stopped.await.ok();
    }));
    (task, stop)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .expect("usage: queue_bench <database url> [jobs]");
    let n: usize = args.next().map_or(20_000, |s| s.parse().expect("jobs"));
    let concurrency = 8;
    let edges = Edges::claim().expect("the first claim");
    let worker_db = open(&url, 16);
    let backend = worker_db.backend();
    let client_db = match backend {
        Backend::Postgres => open(&url, 16),
        Backend::Sqlite => worker_db.clone(),
    };
    let name = match backend {
        Backend::Postgres => "PostgreSQL (enqueued by another pool: LISTEN/NOTIFY)",
        Backend::Sqlite => "SQLite (enqueued in the worker's process)",
    };
    println!(
        "{name}, {} cores",
        std::thread::available_parallelism().map_or(0, usize::from)
    );

    // Floor for latency: one round trip to the database.
    let mut trips = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        client_db.ping().await.unwrap();
        trips.push(t.elapsed());
    }
    trips.sort();

    // Latency at idle: one job at a time, the worker waiting for it.
    let started = Arc::new(Mutex::new(HashMap::new()));
    let (tx, mut rx) = mpsc::unbounded_channel();
    let recorder = Recorder {
        started: started.clone(),
        tx,
    };
    let (task, stop) = start_worker(&worker_db, recorder.clone(), concurrency, &edges);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut latencies = Vec::new();
    for _ in 0..200 {
        let job = probe();
        let t = Instant::now();
        client_db.enqueue(&job).await.unwrap();
        loop {
            let id = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .expect("the job did not start within 10 s")
                .unwrap();
            if id == job.id {
                break;
            }
        }
        let at = started.lock().unwrap()[&job.id];
        latencies.push(at - t);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    latencies.sort();
    stop.send(()).ok();
    task.await.unwrap();

    // Floor for throughput: the cheapest write a job costs, one enqueue transaction each, at
    // the worker's concurrency. These are the jobs the worker then runs.
    let jobs: Vec<NewJob> = (0..n).map(|_| probe()).collect();
    let t = Instant::now();
    let chunks: Vec<Vec<NewJob>> = jobs
        .chunks(n.div_ceil(concurrency))
        .map(<[NewJob]>::to_vec)
        .collect();
    let mut writers = Vec::new();
    for chunk in chunks {
        let db = client_db.clone();
        writers.push(tokio::spawn(async move {
            for job in &chunk {
                db.enqueue(job).await.unwrap();
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    let insert_rate = n as f64 / t.elapsed().as_secs_f64();

    // Throughput: a worker drains the queue.
    while rx.try_recv().is_ok() {}
    let (task, stop) = start_worker(&worker_db, recorder, concurrency, &edges);
    let t = Instant::now();
    let mut done = 0;
    while done < n {
        tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .expect("the worker stalled")
            .unwrap();
        done += 1;
    }
    // The last completions are committed when the queue is empty.
    loop {
        let summary = client_db.queue_summary(chrono::Utc::now()).await.unwrap();
        if summary.counts.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let throughput = n as f64 / t.elapsed().as_secs_f64();
    stop.send(()).ok();
    task.await.unwrap();

    println!(
        "{:<52} p50 {:>7.2} ms   p99 {:>7.2} ms",
        "floor: one database round trip",
        ms(percentile(&trips, 0.5)),
        ms(percentile(&trips, 0.99))
    );
    println!(
        "{:<52} p50 {:>7.2} ms   p99 {:>7.2} ms   max {:>7.2} ms",
        "enqueue → start, at idle (200 jobs)",
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        ms(latencies[latencies.len() - 1])
    );
    println!(
        "{:<52} {:>10.0} jobs/s",
        format!("floor: enqueue, one transaction per job, {concurrency} at once"),
        insert_rate
    );
    println!(
        "{:<52} {:>10.0} jobs/s   ({:.0} % of the floor)",
        format!("no-op jobs run ({n}, concurrency {concurrency})"),
        throughput,
        100.0 * throughput / insert_rate
    );
}
