//! The event backbone against real databases: the pipeline's sinks (events, jobs) share the
//! change's transaction, and the queue hands each job to one worker at a time. Every test
//! runs on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tenantry_audit::{
    AuditFilter, AuditRepository, EventFilter, EventRepository, EventTypePattern,
};
use tenantry_jobs::{Job, JobFilter, JobQueue, JobState, NewJob};
use tenantry_kernel::{PageRequest, SystemClock, TenantCtx};
use tenantry_products::*;
use tenantry_store::Db;
use tenantry_store::backend_tests;
use tenantry_store::testing::tenant_ctx as tenant;

fn new_product(sku: &str) -> NewProduct {
    NewProduct {
        name: ProductName::parse("Kettle").unwrap(),
        sku: Sku::parse(sku).unwrap(),
        description: Description::default(),
        price: Money::new(1999, Currency::parse("EUR").unwrap()).unwrap(),
        status: ProductStatus::Active,
    }
}

async fn events(db: &Db, ctx: &TenantCtx, filter: EventFilter) -> Vec<tenantry_audit::Event> {
    db.list_events(ctx, &filter, &PageRequest::default())
        .await
        .unwrap()
        .items
}

fn probe() -> Job {
    Job::Probe {
        delay_ms: 0,
        fail: false,
    }
}

backend_tests! {
    async fn committed_changes_are_events_in_their_transaction_and_rolled_back_ones_leave_nothing(t: &TestDb) {
        let db = t.db();
        let ctx = tenant(db, "acme").await;
        let other = tenant(db, "globex").await;
        let products = ProductService::new(db.clone(), Arc::new(SystemClock));
        let p = products.create(&ctx, new_product("K-1")).await.unwrap();
        let patch = ProductPatch { name: Some(ProductName::parse("Tea kettle").unwrap()), ..ProductPatch::default() };
        products.update(&ctx, p.id, &patch).await.unwrap();
        products.delete(&ctx, p.id).await.unwrap();

        let all = events(db, &ctx, EventFilter::default()).await;
        let types: Vec<&str> = all.iter().map(|e| e.event_type.as_str()).collect();
        assert_eq!(types, ["product.deleted", "product.updated", "product.created", "subscription.created", "tenant.created"], "newest first");
        let created = &all[2];
        assert_eq!(created.tenant_id, ctx.tenant_id());
        assert_eq!((created.actor.kind.as_str(), created.actor.id), ("operator", None));
        assert_eq!(created.data.object["id"], p.id.to_string());
        assert_eq!(created.data.object["sku"], "K-1");
        assert_eq!(created.data.object["price_minor"], 1999);
        assert_eq!(created.data.previous_attributes, None);
        let updated = &all[1];
        assert_eq!(updated.data.object["name"], "Tea kettle");
        let previous = updated.data.previous_attributes.clone().unwrap();
        assert_eq!(previous["name"], "Kettle");
        assert!(!previous.contains_key("sku"), "only changed fields: {previous:?}");
        // Same transaction as the audit entry: same time.
        let audit = AuditRepository::list(db, &ctx, &AuditFilter::default(), &PageRequest::default()).await.unwrap().items;
        assert_eq!(audit.iter().find(|a| a.action == "created").unwrap().at, created.occurred_at);
        assert_eq!(db.event(&ctx, created.id).await.unwrap().as_ref(), Some(created));
        // Another tenant sees none of it, by list or by id.
        let theirs = events(db, &other, EventFilter::default()).await;
        assert_eq!(theirs.len(), 2, "their own tenant.created and subscription.created only");
        assert_eq!(theirs[0].tenant_id, other.tenant_id());
        assert_eq!(db.event(&other, created.id).await.unwrap(), None);

        // A change that fails after logging: no audit entry, no event, no job.
        let before = (
            t.db().unfiltered_count(Some(ctx.tenant_id()), "audit_entries").await.unwrap(),
            t.db().unfiltered_count(Some(ctx.tenant_id()), "events").await.unwrap(),
            t.db().unfiltered_count(None, "jobs").await.unwrap(),
        );
        assert!(db.change_that_fails(&ctx).await.is_err());
        let after = (
            t.db().unfiltered_count(Some(ctx.tenant_id()), "audit_entries").await.unwrap(),
            t.db().unfiltered_count(Some(ctx.tenant_id()), "events").await.unwrap(),
            t.db().unfiltered_count(None, "jobs").await.unwrap(),
        );
        assert_eq!(before, after);
    }

    async fn a_sink_that_fails_rolls_the_whole_change_back_and_the_connections_serve_on(t: &TestDb) {
        // On PostgreSQL the sinks' statements are in flight together: a failing one must still
        // leave nothing behind, and no connection may go back to the pool mid-transaction.
        let db = t.db();
        let ctx = tenant(db, "acme").await;
        let products = ProductService::new(db.clone(), Arc::new(SystemClock));
        let audit = tenantry_audit::AuditService::new(db.clone());
        let pg = t.owner_url().is_some();
        let counts = async || {
            (
                t.db().unfiltered_count(Some(ctx.tenant_id()), "products").await.unwrap(),
                t.db().unfiltered_count(Some(ctx.tenant_id()), "audit_entries").await.unwrap(),
                t.db().unfiltered_count(Some(ctx.tenant_id()), "events").await.unwrap(),
            )
        };
        // The outbox (sent first) refuses, then the audit chain (sent last, after the event
        // row was written).
        for (table, when) in [
            ("events", "NEW.type = 'product.created'"),
            ("audit_entries", "NEW.entity_type = 'product'"),
        ] {
            if pg {
                t.as_owner(&format!(
                    "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS \
                     $$ BEGIN RAISE EXCEPTION 'refused'; END $$; \
                     CREATE TRIGGER refuse BEFORE INSERT ON {table} FOR EACH ROW \
                     WHEN ({when}) EXECUTE FUNCTION refuse();"
                ))
                .await;
            } else {
                t.as_owner(&format!(
                    "CREATE TRIGGER refuse BEFORE INSERT ON {table} WHEN {when} \
                     BEGIN SELECT RAISE(ABORT, 'refused'); END;"
                ))
                .await;
            }
            let before = counts().await;
            for i in 0..3 {
                let refused = products.create(&ctx, new_product(&format!("R-{i}"))).await;
                assert!(refused.is_err(), "{table}: {refused:?}");
            }
            assert_eq!(counts().await, before, "{table}: no product, entry or event");
            if pg {
                t.as_owner(&format!("DROP TRIGGER refuse ON {table}; DROP FUNCTION refuse();")).await;
            } else {
                t.as_owner("DROP TRIGGER refuse;").await;
            }
        }
        // More writes than the pool has connections: each lands with its entry and event,
        // and the chain is whole.
        let before = counts().await;
        for i in 0..40 {
            products.create(&ctx, new_product(&format!("K-{i}"))).await.unwrap();
        }
        assert_eq!(counts().await, (before.0 + 40, before.1 + 40, before.2 + 40));
        assert!(audit.verify(&ctx).await.unwrap().ok);
    }

    async fn concurrent_writes_of_a_tenant_get_event_ids_in_commit_order(t: &TestDb) {
        // A consumer pages events by id: an event committed after another must have a larger
        // id, or a consumer that already passed it would never see it. The chain's sequence
        // is the tenant's commit order.
        let db = t.db();
        let ctx = tenant(db, "acme").await;
        let products = ProductService::new(db.clone(), Arc::new(SystemClock));
        // As many writers as the pool has connections: all in flight at once, none waiting
        // for a slot (a slow machine would time that wait out), all racing for the chain.
        let writes = (0..10).map(|i| products.create(&ctx, new_product(&format!("C-{i}"))));
        for created in futures_util::future::join_all(writes).await {
            created.unwrap();
        }
        let page = PageRequest { limit: tenantry_kernel::Limit::parse(100).unwrap(), after: None };
        let only_created = EventFilter {
            types: Some(EventTypePattern::parse("product.created").unwrap()),
            ..EventFilter::default()
        };
        let by_event_id: Vec<String> = db.list_events(&ctx, &only_created, &page).await.unwrap().items
            .iter()
            .map(|e| e.data.object["id"].as_str().unwrap().to_owned())
            .collect();
        let chain = AuditFilter { entity_type: Some("product".into()), ..AuditFilter::default() };
        let by_chain: Vec<String> = AuditRepository::list(db, &ctx, &chain, &page).await.unwrap().items
            .into_iter()
            .map(|a| a.entity_id)
            .collect();
        assert_eq!(by_event_id.len(), 10);
        assert_eq!(by_event_id, by_chain, "newest first, by event id and by chain sequence");
    }

    async fn a_tenant_s_writes_queue_behind_its_write_queue_lock(t: &TestDb) {
        // PostgreSQL: a write takes the tenant's queue before its chain head (decision 0062),
        // so one held elsewhere holds the write back until it is released; another tenant's
        // writes go on. SQLite: one writer at a time already.
        let db = t.db();
        let (acme, other) = (tenant(db, "acme").await, tenant(db, "other").await);
        let products = ProductService::new(db.clone(), Arc::new(SystemClock));
        let Some(held) = t.hold_write_queue(&acme).await else { return };
        let mut waiting = std::pin::pin!(products.create(&acme, new_product("Q-1")));
        assert!(
            tokio::time::timeout(Duration::from_millis(500), waiting.as_mut()).await.is_err(),
            "the write waits for its tenant's queue"
        );
        tokio::time::timeout(Duration::from_secs(5), products.create(&other, new_product("Q-2")))
            .await
            .expect("another tenant's write does not wait")
            .unwrap();
        held.release().await;
        tokio::time::timeout(Duration::from_secs(5), waiting).await.expect("released").unwrap();
        assert!(tenantry_audit::AuditService::new(db.clone()).verify(&acme).await.unwrap().ok);
    }

    async fn events_filter_by_type_and_time_and_page_newest_first(t: &TestDb) {
        let db = t.db();
        let ctx = tenant(db, "acme").await;
        let products = ProductService::new(db.clone(), Arc::new(SystemClock));
        let start = Utc::now() - chrono::Duration::seconds(1);
        for i in 0..5 {
            products.create(&ctx, new_product(&format!("S-{i}"))).await.unwrap();
        }
        let only = |p: &str| EventFilter { types: Some(EventTypePattern::parse(p).unwrap()), ..EventFilter::default() };
        assert_eq!(events(db, &ctx, only("product.created")).await.len(), 5);
        assert_eq!(events(db, &ctx, only("product.*")).await.len(), 5);
        assert_eq!(events(db, &ctx, only("product.deleted")).await.len(), 0);
        // A family is a whole first word: `produc.*` is not `product.*`.
        assert!(events(db, &ctx, only("produc.*")).await.is_empty());
        let later = EventFilter { since: Some(Utc::now() + chrono::Duration::seconds(5)), ..EventFilter::default() };
        assert!(events(db, &ctx, later).await.is_empty());
        let window = EventFilter { since: Some(start), until: Some(Utc::now() + chrono::Duration::seconds(5)), ..only("product.*") };
        assert_eq!(events(db, &ctx, window).await.len(), 5);

        let mut page = PageRequest { limit: tenantry_kernel::Limit::parse(2).unwrap(), after: None };
        let mut seen = vec![];
        loop {
            let p = db.list_events(&ctx, &only("product.*"), &page).await.unwrap();
            seen.extend(p.items.iter().map(|e| e.id));
            match p.next_cursor {
                Some(c) => page.after = Some(tenantry_kernel::Cursor::parse(&c).unwrap()),
                None => break,
            }
        }
        assert_eq!(seen.len(), 5);
        assert!(seen.windows(2).all(|w| w[0] > w[1]), "newest first, no repeats");

        // Retention deletes only what is older than the cut.
        assert_eq!(db.prune_events(&ctx, start).await.unwrap(), 0);
        assert!(db.prune_events(&ctx, Utc::now() + chrono::Duration::seconds(5)).await.unwrap() >= 5);
        assert!(events(db, &ctx, EventFilter::default()).await.is_empty());
    }

    async fn a_job_is_claimed_retried_declared_dead_retried_by_hand_and_cancelled(t: &TestDb) {
        let db = t.db();
        let now = Utc::now();
        let lease = Duration::from_secs(30);
        let job = NewJob::now(None, probe(), now);
        assert!(db.enqueue(&job).await.unwrap());
        let claimed = db.claim("w1", 10, lease, now).await.unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!((claimed[0].id, claimed[0].attempt, claimed[0].max_attempts), (job.id, 1, 3));
        assert!(db.claim("w2", 10, lease, now).await.unwrap().is_empty(), "held by w1");

        // A failure with a retry time: not runnable before it.
        let retry_at = now + chrono::Duration::seconds(10);
        db.fail(job.id, "w1", "smtp down", Some(retry_at)).await.unwrap();
        assert!(db.claim("w1", 10, lease, now).await.unwrap().is_empty());
        let again = db.claim("w2", 10, lease, retry_at).await.unwrap();
        assert_eq!(again[0].attempt, 2);
        // w1 no longer holds it: its late completion changes nothing.
        db.complete(&[job.id], "w1").await.unwrap();
        // w2 dies: after its lease, another worker runs it (the last attempt).
        let after_lease = retry_at + chrono::Duration::seconds(31);
        let third = db.claim("w3", 10, lease, after_lease).await.unwrap();
        assert_eq!((third[0].attempt, third[0].is_last_attempt()), (3, true));
        db.fail(job.id, "w3", "smtp still down", None).await.unwrap();
        let dead = db.list_jobs(&JobFilter { state: Some(JobState::Dead), limit: 10, ..JobFilter::default() }).await.unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].last_error.as_deref(), Some("smtp still down"));
        let summary = db.queue_summary(after_lease).await.unwrap();
        assert_eq!(summary.dead.len(), 1);
        assert!(summary.counts.iter().any(|c| c.kind == "probe" && c.state == JobState::Dead && c.count == 1));
        assert!(db.claim("w1", 10, lease, after_lease).await.unwrap().is_empty(), "dead jobs do not run");
        assert!(matches!(db.cancel_job(tenantry_kernel::JobId::new()).await, Err(tenantry_jobs::OperatorError::NotFound)));

        // Retried by hand: fresh attempts; then it succeeds and leaves the queue.
        let retried = db.retry_job(job.id, after_lease).await.unwrap();
        assert_eq!((retried.state, retried.attempts), (JobState::Queued, 0));
        let run = db.claim("w1", 10, lease, after_lease).await.unwrap();
        assert_eq!(run[0].attempt, 1);
        db.complete(&[job.id], "w1").await.unwrap();
        assert!(db.list_jobs(&JobFilter { limit: 10, ..JobFilter::default() }).await.unwrap().is_empty());

        // A worker that dies during the last attempt: the job is dead, not run a fourth time.
        let last = NewJob::now(None, Job::Probe { delay_ms: 0, fail: true }, now);
        db.enqueue(&last).await.unwrap();
        let mut at = now;
        for _ in 0..3 {
            at += chrono::Duration::seconds(60);
            assert_eq!(db.claim("gone", 1, lease, at).await.unwrap().len(), 1);
        }
        at += chrono::Duration::seconds(60);
        assert!(db.claim("w1", 1, lease, at).await.unwrap().is_empty());
        let info = db.cancel_job(last.id).await.unwrap();
        assert_eq!(info.state, JobState::Dead);
        assert!(info.last_error.unwrap().contains("lease"));

        // A dedupe key admits one waiting job.
        let mut daily = NewJob::now(None, Job::PruneEvents, now);
        daily.dedupe_key = Some("prune_events:today".into());
        assert!(db.enqueue(&daily).await.unwrap());
        daily.id = tenantry_kernel::JobId::new();
        assert!(!db.enqueue(&daily).await.unwrap());
        // Released on shutdown: runnable again at once, the attempt not counted.
        let held = db.claim("w1", 1, lease, now).await.unwrap();
        db.release(held[0].id, "w1").await.unwrap();
        let back = db.claim("w2", 1, lease, Utc::now()).await.unwrap();
        assert_eq!((back[0].id, back[0].attempt), (held[0].id, 1));
    }

    async fn concurrent_workers_never_hold_the_same_job(t: &TestDb) {
        let db = t.db();
        let now = Utc::now();
        for _ in 0..200 {
            db.enqueue(&NewJob::now(None, probe(), now)).await.unwrap();
        }
        let mut workers = vec![];
        for w in 0..4 {
            let db = db.clone();
            workers.push(tokio::spawn(async move {
                let mut mine = vec![];
                loop {
                    let batch = db.claim(&format!("w{w}"), 7, Duration::from_secs(60), Utc::now()).await.unwrap();
                    if batch.is_empty() {
                        break mine;
                    }
                    mine.extend(batch.iter().map(|j| j.id));
                }
            }));
        }
        let mut all = vec![];
        for w in workers {
            all.extend(w.await.unwrap());
        }
        let distinct: HashSet<_> = all.iter().collect();
        assert_eq!((all.len(), distinct.len()), (200, 200));
    }
}

#[test]
fn postgres_suite() {
    tenantry_store::testing::report_postgres_suite();
}
