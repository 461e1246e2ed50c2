//! The worker as operators run it: the real binary, killed with `kill -9` in the middle of a
//! job (another worker runs the job again after its lease, once, and nothing is lost), then
//! stopped with SIGTERM while it holds one (it finishes it and exits cleanly); and the
//! operator's `jobs` commands on a dead job.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tenantry_audit::{AuditFilter, AuditRepository};
use tenantry_jobs::{Job, JobFilter, JobInfo, JobQueue, JobState, NewJob};
use tenantry_kernel::{JobId, PageRequest, TenantCtx, TenantId};
use tenantry_store::testing::TestDb;
use tenantry_tenancy::{Slug, TenantRepository};

struct Env {
    db: TestDb,
    dir: tempfile::TempDir,
}

impl Env {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tenantry"));
        cmd.args(args)
            .env_clear()
            .current_dir(self.dir.path())
            .env("TENANTRY_DATABASE_URL", self.db.url())
            .env("TENANTRY_BASE_DOMAIN", "example.com")
            .env("TENANTRY_JOB_LEASE_SECS", "2")
            .env("TENANTRY_JOB_RETRY_BASE_MS", "100")
            .env("TENANTRY_LOG", "warn");
        if let Some(owner) = self.db.owner_url() {
            cmd.env("TENANTRY_MIGRATION_DATABASE_URL", owner);
        }
        cmd
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.command(args).output().expect("run tenantry");
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn worker(&self) -> Child {
        self.command(&["worker"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start a worker")
    }

    async fn job(&self, id: JobId) -> Option<JobInfo> {
        let filter = JobFilter {
            limit: 100,
            ..JobFilter::default()
        };
        let jobs = self.db.db().list_jobs(&filter).await.unwrap();
        jobs.into_iter().find(|j| j.id == id)
    }

    /// Waits up to `secs` for the job to reach a state `until` accepts.
    async fn wait(&self, id: JobId, secs: u64, until: impl Fn(Option<&JobInfo>) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let job = self.job(id).await;
            if until(job.as_ref()) {
                return;
            }
            assert!(Instant::now() < deadline, "job {id} stuck at {job:?}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    async fn probe(&self, tenant: TenantId, delay_ms: u64) -> JobId {
        let new = NewJob::now(
            Some(tenant),
            Job::Probe {
                delay_ms,
                fail: false,
            },
            chrono::Utc::now(),
        );
        assert!(self.db.db().enqueue(&new).await.unwrap());
        new.id
    }

    /// The probe notes in the tenant's audit trail, by job id.
    async fn probe_runs(&self, tenant: TenantId, job: JobId) -> usize {
        let filter = AuditFilter {
            entity_type: Some("probe".into()),
            entity_id: Some(job.to_string()),
            ..AuditFilter::default()
        };
        let page = self
            .db
            .db()
            .list(
                &TenantCtx::for_tests(tenant),
                &filter,
                &PageRequest::default(),
            )
            .await
            .unwrap();
        page.items.len()
    }
}

fn running(attempts: u32) -> impl Fn(Option<&JobInfo>) -> bool {
    move |j| j.is_some_and(|j| j.state == JobState::Running && j.attempts == attempts)
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn wait_exit(child: &mut Child, secs: u64) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "the worker did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}

async fn crash_and_stop(db: TestDb) {
    let env = Env {
        db,
        dir: tempfile::tempdir().unwrap(),
    };
    env.ok(&["tenant", "create", "--slug", "acme", "--name", "Acme"]);
    let tenant = env
        .db
        .db()
        .tenant_by_slug(&Slug::parse("acme").unwrap())
        .await
        .unwrap()
        .unwrap()
        .id;

    // kill -9 in the middle of a job: the job is lost to that worker only.
    let job = env.probe(tenant, 1_500).await;
    let mut first = env.worker();
    env.wait(job, 15, running(1)).await;
    first.kill().unwrap();
    first.wait().unwrap();
    let mut second = env.worker();
    // After the 2 s lease another worker runs it again: the second attempt, once.
    env.wait(job, 15, running(2)).await;
    env.wait(job, 15, |j| j.is_none()).await;
    assert_eq!(
        env.probe_runs(tenant, job).await,
        1,
        "the job ran to its end once"
    );

    // SIGTERM while the worker holds a job: it finishes it, then exits cleanly.
    let held = env.probe(tenant, 1_000).await;
    env.wait(held, 15, running(1)).await;
    sigterm(&second);
    let status = wait_exit(&mut second, 25);
    assert!(status.success(), "worker exit: {status:?}");
    assert!(env.job(held).await.is_none(), "finished before exiting");
    assert_eq!(env.probe_runs(tenant, held).await, 1);

    // A job that always fails is dead after its attempts; the operator retries or drops it.
    let failing = NewJob::now(
        None,
        Job::Probe {
            delay_ms: 0,
            fail: true,
        },
        chrono::Utc::now(),
    );
    env.db.db().enqueue(&failing).await.unwrap();
    let mut third = env.worker();
    env.wait(failing.id, 15, |j| {
        j.is_some_and(|j| j.state == JobState::Dead)
    })
    .await;
    third.kill().unwrap();
    third.wait().unwrap();
    let listed = env.ok(&["jobs", "list", "--state", "dead"]);
    assert!(
        listed.contains(&failing.id.to_string())
            && listed.contains("attempts 3/3")
            && listed.contains("last error: the probe was asked to fail"),
        "{listed}"
    );
    assert!(listed.contains("probe            dead     1"), "{listed}");
    let retried = env.ok(&["jobs", "retry", &failing.id.to_string()]);
    assert!(
        retried.contains("queued again") && retried.contains("attempts 0/3"),
        "{retried}"
    );
    let cancelled = env.ok(&["jobs", "cancel", &failing.id.to_string()]);
    assert!(cancelled.contains("cancelled"), "{cancelled}");
    assert!(env.job(failing.id).await.is_none());
    let out = env
        .command(&["jobs", "retry", &failing.id.to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such job"));

    // An operator's probe in a tenant runs there.
    let queued = env.ok(&["jobs", "probe", "--tenant", "acme"]);
    let probe: JobId = queued
        .trim()
        .strip_prefix("queued probe ")
        .unwrap_or_else(|| panic!("{queued}"))
        .parse()
        .unwrap();
    let mut fourth = env.worker();
    env.wait(probe, 15, |j| j.is_none()).await;
    fourth.kill().unwrap();
    fourth.wait().unwrap();
    assert_eq!(env.probe_runs(tenant, probe).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_and_stopped_workers_lose_nothing_sqlite() {
    crash_and_stop(TestDb::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_and_stopped_workers_lose_nothing_postgres() {
    if let Some(db) = TestDb::postgres().await {
        crash_and_stop(db).await;
    }
}
