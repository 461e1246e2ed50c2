//! The isolation guard rails on both backends: the live schema follows the tenant rules, the
//! check notices a table that does not, and a query without a tenant filter run through the
//! service's own connection inside a tenant transaction sees only that tenant.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use tenantry_kernel::{ManualClock, SearchQuery, SystemClock, TenantCtx, TenantId};
use tenantry_products::{
    Currency, Description, Money, NewProduct, ProductName, ProductQuery, ProductService,
    ProductStatus, Sku,
};
use tenantry_store::backend_tests;
use tenantry_store::testing::TestDb;
use tenantry_tenancy::{BaseDomain, NoListener, Slug, TenantName, TenantService};

async fn tenant(db: &TestDb, slug: &str) -> TenantId {
    let svc = TenantService::new(
        db.db().clone(),
        Arc::new(SystemClock),
        BaseDomain::parse("localhost").unwrap(),
        Arc::new(NoListener),
        tenantry_kernel::Edges::for_tests(),
    );
    svc.create(Slug::parse(slug).unwrap(), TenantName::parse(slug).unwrap())
        .await
        .unwrap()
        .id
}

async fn products(db: &TestDb, t: TenantId, n: usize) {
    products_through(db.db(), t, n).await;
}

/// `n` products in tenant `t`, one create after the other through `db`.
async fn products_through(db: &tenantry_store::Db, t: TenantId, n: usize) {
    let svc = ProductService::new(db.clone(), Arc::new(ManualClock::new(chrono::Utc::now())));
    for i in 0..n {
        let new = NewProduct {
            name: ProductName::parse(&format!("P{i}")).unwrap(),
            sku: Sku::parse(&format!("S{i}")).unwrap(),
            description: Description::default(),
            price: Money::new(1, Currency::parse("EUR").unwrap()).unwrap(),
            status: ProductStatus::Active,
        };
        svc.create(&TenantCtx::for_tests(t), new).await.unwrap();
    }
}

/// Products named `name` (numbered), with `description`, through the service.
async fn described(db: &TestDb, t: TenantId, name: &str, description: &str, n: usize) {
    let svc = ProductService::new(db.db().clone(), Arc::new(SystemClock));
    for i in 0..n {
        let new = NewProduct {
            name: ProductName::parse(&format!("{name} {i}")).unwrap(),
            sku: Sku::parse(&format!("{name}-{i}")).unwrap(),
            description: Description::parse(description).unwrap(),
            price: Money::new(1, Currency::parse("EUR").unwrap()).unwrap(),
            status: ProductStatus::Active,
        };
        svc.create(&TenantCtx::for_tests(t), new).await.unwrap();
    }
}

/// The names of `t`'s products that a search for `q` finds, through the list route's query.
async fn found(db: &TestDb, t: TenantId, q: &str) -> Vec<String> {
    let svc = ProductService::new(db.db().clone(), Arc::new(SystemClock));
    let query = ProductQuery {
        search: Some(SearchQuery::parse(q).unwrap()),
        ..ProductQuery::default()
    };
    let page = svc.list(&TenantCtx::for_tests(t), &query).await.unwrap();
    let mut names: Vec<String> = page
        .items
        .into_iter()
        .map(|p| p.name.as_str().to_owned())
        .collect();
    names.sort();
    names
}

/// A new pool of one connection on `db` after `ALTER DATABASE … <setting>` (its sessions start
/// with it), and the products service on it.
async fn fresh_pool(
    db: &TestDb,
    setting: &str,
) -> (tenantry_store::Db, ProductService<tenantry_store::Db>) {
    db.as_owner(&format!(
        "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I {setting}', current_database()); END $$"
    ))
    .await;
    // One connection: the statements a test reads back are those its searches prepared, and
    // a read in the background waits for the search that started it.
    let config = tenantry_store::DbConfig {
        pool_size: 1,
        ..tenantry_store::DbConfig::new(db.url())
    };
    let fresh = tenantry_store::Db::connect(&config).unwrap();
    let svc = ProductService::new(fresh.clone(), Arc::new(SystemClock));
    (fresh, svc)
}

/// Searches in one tenant never see another's rows, whether PostgreSQL applies `@@` through
/// the tenant-led index (LEAKPROOF, decision 0050) or after row-level security (the catalog as
/// shipped): the same answers either way, and nothing without a tenant.
async fn searches_stay_in_their_tenant(db: &TestDb, indexed: bool) {
    let a = tenant(db, "acme").await;
    let b = tenant(db, "beta").await;
    described(db, a, "Kettle", "brushed steel", 3).await;
    described(db, a, "Lamp", "zanzibarite shade", 1).await;
    described(db, b, "Chest", "zanzibar teak", 15).await;
    described(db, b, "Kettle", "copper", 2).await;
    assert_eq!(found(db, a, "zanzibar").await, ["Lamp 0"]);
    assert_eq!(found(db, a, "zanzibar teak").await, Vec::<String>::new());
    assert_eq!(
        found(db, a, "kettle").await,
        ["Kettle 0", "Kettle 1", "Kettle 2"]
    );
    assert_eq!(
        found(db, b, "kettle copper").await,
        ["Kettle 0", "Kettle 1"]
    );
    assert_eq!(found(db, b, "zanzibar").await.len(), 15);
    if db.owner_url().is_none() {
        return;
    }
    assert_eq!(db.db().search_uses_index().await.unwrap(), indexed);
    // The word counts that choose how a search reads (decision 0070) are read under the
    // tenant's own row-level security: each tenant's hold only its own words.
    db.db().learn_search_words("products", a).await.unwrap();
    db.db().learn_search_words("products", b).await.unwrap();
    let (of_a, of_b) = (
        db.db().search_words("products", a).unwrap(),
        db.db().search_words("products", b).unwrap(),
    );
    assert_eq!((of_a.rows(), of_b.rows()), (4, 17));
    assert!(of_a.holds("kettle") && of_a.holds("brushed"), "{of_a:?}");
    assert!(
        of_b.holds("zanzibar") && of_b.holds("teak") && of_b.holds("copper"),
        "{of_b:?}"
    );
    for theirs in ["zanzibar", "teak", "copper", "chest"] {
        assert!(!of_a.holds(theirs), "{of_a:?}");
    }
    for theirs in ["brushed", "steel"] {
        assert!(!of_b.holds(theirs), "{of_b:?}");
    }
    // The answers above again, now read the way the counts choose.
    assert_eq!(found(db, a, "zanzibar").await, ["Lamp 0"]);
    assert_eq!(found(db, a, "zanzibar teak").await, Vec::<String>::new());
    assert_eq!(
        found(db, b, "kettle copper").await,
        ["Kettle 0", "Kettle 1"]
    );
    assert_eq!(found(db, b, "zanzibar").await.len(), 15);
    // Raw SQL with no tenant filter at all: row-level security alone keeps B's rows out.
    assert_eq!(
        db.db()
            .raw_search_count(Some(a), "zanzibar:*")
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        db.db()
            .raw_search_count(Some(b), "zanzibar:*")
            .await
            .unwrap(),
        15
    );
    assert_eq!(
        db.db().raw_search_count(None, "zanzibar:*").await.unwrap(),
        0
    );
    assert_eq!(db.db().raw_search_count(None, "kettle:*").await.unwrap(), 0);
    // Where `@@` runs: inside the tenant-led index when it is LEAKPROOF, after the tenant's
    // rows are chosen otherwise. A tenant of 2,000 more products, with statistics as
    // autovacuum would have them, so that an index is worth using.
    db.as_owner(&format!(
        "SELECT set_config('app.tenant_id', '{a}', false);
         INSERT INTO products (tenant_id, id, name, sku, description, price_minor, currency,
                               status, created_at, updated_at)
         SELECT '{a}', gen_random_uuid(), 'Filler ' || n, 'F-' || n, 'plain', 1, 'EUR',
                'active', now(), now()
         FROM generate_series(1, 2000) AS n;
         ANALYZE products"
    ))
    .await;
    // A search with other filters is one statement prepared once per connection and, on
    // PostgreSQL, planned for its words every time: a generic plan would read a frequent
    // word's matches through the index and sort them all, or a rare word's tenant in list
    // order. It takes the one-round-trip read like the list does. At this size PostgreSQL
    // would keep planning per value anyway, so the database's sessions default to generic
    // plans here: only the search's own setting keeps it planned for its words. A fresh pool,
    // to get sessions that start with that default.
    let (fresh, svc) = fresh_pool(db, "SET plan_cache_mode = force_generic_plan").await;
    let search = |words: &str| ProductQuery {
        search: Some(SearchQuery::parse(words).unwrap()),
        status: Some(ProductStatus::Active),
        ..ProductQuery::default()
    };
    let one_trip = tenantry_store::Db::one_trip_reads();
    for _ in 0..8 {
        let ctx = TenantCtx::for_tests(a);
        assert_eq!(
            svc.list(&ctx, &search("kettle")).await.unwrap().items.len(),
            3
        );
        assert_eq!(
            svc.list(&ctx, &search("filler")).await.unwrap().items.len(),
            20
        );
    }
    let prepared = fresh.prepared_searches().await.unwrap();
    let one_trip = tenantry_store::Db::one_trip_reads() - one_trip;
    fresh.close();
    if db.db().pooled_by_transaction() {
        // Behind a transaction pooler nothing is prepared across transactions.
        assert_eq!((prepared.len(), one_trip), (0, 0), "{prepared:#?}");
    } else {
        assert_eq!(prepared.len(), 1, "{prepared:#?}");
        let (_, generic, custom) = &prepared[0];
        assert!(*generic == 0 && *custom >= 16, "{prepared:#?}");
        // (As for the list, a read that finds its statement not yet prepared on its
        // connection takes two.)
        assert!(one_trip > 0, "searches in one round trip");
    }
    // A search alone, once the process knows the tenant's words, reads the way they choose
    // (decision 0070), each way one statement planned once: a word most of the tenant's rows
    // hold in list order, a word three of its 2,004 rows hold through the index (or, without
    // the superuser's step, in list order too). PostgreSQL's own default, a fresh pool.
    let (fresh, svc) = fresh_pool(db, "RESET plan_cache_mode").await;
    let search = |words: &str| ProductQuery {
        search: Some(SearchQuery::parse(words).unwrap()),
        ..ProductQuery::default()
    };
    // The first search finds no counts, is planned for its words, and has them read in the
    // background.
    let ctx = TenantCtx::for_tests(a);
    assert_eq!(
        svc.list(&ctx, &search("kettle")).await.unwrap().items.len(),
        3
    );
    let mut words = None;
    for _ in 0..200 {
        words = fresh.search_words("products", a);
        if words.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let words = words.expect("the first search has its tenant's words read");
    assert_eq!(words.rows(), 2_004);
    let rare = if indexed {
        tenantry_store::SearchShape::Index
    } else {
        tenantry_store::SearchShape::ListOrder
    };
    assert_eq!(
        words.shape(&SearchQuery::parse("kettle").unwrap(), 21),
        rare
    );
    assert_eq!(
        words.shape(&SearchQuery::parse("filler").unwrap(), 21),
        tenantry_store::SearchShape::ListOrder
    );
    for _ in 0..8 {
        let ctx = TenantCtx::for_tests(a);
        let kettles = svc.list(&ctx, &search("kettle")).await.unwrap().items;
        assert_eq!(kettles.len(), 3);
        let fillers = svc.list(&ctx, &search("filler")).await.unwrap().items;
        assert_eq!(fillers.len(), 20);
        assert!(
            fillers
                .iter()
                .all(|p| p.name.as_str().starts_with("Filler "))
        );
    }
    let in_order = fresh.prepared_statements("%ts_match_vq%").await.unwrap();
    let through_index = fresh.prepared_statements("%@@ (SELECT%").await.unwrap();
    let tenant = a.to_string();
    let in_order_plan = fresh
        .prepared_plan("%ts_match_vq%", &[&tenant, &tenant, "filler:*"])
        .await;
    let through_index_plan = fresh
        .prepared_plan("%@@ (SELECT%", &[&tenant, &tenant, "kettle:*"])
        .await;
    fresh.close();
    if !db.db().pooled_by_transaction() {
        // PostgreSQL's five trial plans, then the generic plan for good.
        let kept = |p: &[(String, i64, i64)]| p.len() == 1 && p[0].1 >= 3 && p[0].2 <= 5;
        assert!(kept(&in_order), "{in_order:#?}");
        let plan = in_order_plan.unwrap();
        assert!(
            plan.contains("products_by_created") && !plan.contains("products_search"),
            "{plan}"
        );
        if indexed {
            assert!(kept(&through_index), "{through_index:#?}");
            let plan = through_index_plan.unwrap();
            assert!(plan.contains("products_search"), "{plan}");
        } else {
            assert!(through_index.is_empty(), "{through_index:#?}");
        }
    }
    let plan = db.db().search_plan(a, "zanzibar:*").await.unwrap();
    let in_index = plan
        .lines()
        .any(|l| l.contains("Index Cond") && l.contains("@@"));
    assert_eq!(in_index, indexed, "{plan}");
    assert!(plan.contains("products_search") || !indexed, "{plan}");
    assert!(
        plan.contains("app.tenant_id"),
        "the tenant condition is always applied: {plan}"
    );
}

/// The statements a change runs while it holds its tenant's audit chain head — the lock, the
/// quota counter, the audit entry, the head's advance, the event, the webhook fan-out — are
/// prepared once per connection and reused (`db::Cached`). Diesel prepares an UPDATE, a
/// multi-row INSERT or raw SQL anew on every run, a round trip each with the statement cache
/// locked meanwhile: five of them one after the other inside the lock (decision 0054).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_reuses_the_statements_it_runs_under_the_chain_lock() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let t = tenant(&db, "reuse").await;
    // A fresh pool, one request at a time: every change on its one connection.
    let fresh = tenantry_store::Db::connect(&tenantry_store::DbConfig::new(db.url())).unwrap();
    products_through(&fresh, t, 3).await;
    let mut kept = Vec::new();
    for pattern in [
        "UPDATE \"audit\\_heads\" SET \"seq\" = \"audit\\_heads\".\"seq\"%",
        "UPDATE \"audit\\_heads\" SET \"seq\" = $1%",
        "UPDATE \"tenant\\_quotas\"%",
        "INSERT INTO \"audit\\_entries\"%",
        "INSERT INTO \"events\"%",
        "WITH ins AS (INSERT INTO webhook\\_deliveries%",
    ] {
        kept.push((pattern, fresh.prepared_statements(pattern).await.unwrap()));
    }
    fresh.close();
    for (pattern, prepared) in kept {
        if db.db().pooled_by_transaction() {
            // Behind a transaction pooler nothing is prepared across transactions.
            assert!(prepared.is_empty(), "{pattern}: {prepared:#?}");
            continue;
        }
        // One statement, run by every change (PostgreSQL counts a plan per execution).
        assert_eq!(prepared.len(), 1, "{pattern}: {prepared:#?}");
        let (_, generic, custom) = &prepared[0];
        assert!(generic + custom >= 3, "{pattern}: {prepared:#?}");
    }
}

/// A page of a list is planned once per connection, not on every request, and reads as one
/// statement that sets its tenant before it reads (decision 0068). Its `LIMIT` is written into
/// the statement: PostgreSQL costs a bound one in a generic plan as a tenth of the tenant's
/// rows and, left to choose, would plan every execution for its values and never keep the
/// plan (decision 0056). Behind a transaction pooler nothing is kept prepared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_of_a_list_is_planned_once_per_connection() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let t = tenant(&db, "paged").await;
    products(&db, t, 30).await;
    db.as_owner("ANALYZE products").await;
    // A fresh pool, one request at a time: every read on its one connection.
    let fresh = tenantry_store::Db::connect(&tenantry_store::DbConfig::new(db.url())).unwrap();
    let svc = ProductService::new(fresh.clone(), Arc::new(SystemClock));
    for _ in 0..8 {
        let page = svc
            .list(&TenantCtx::for_tests(t), &ProductQuery::default())
            .await
            .unwrap();
        assert_eq!(page.items.len(), 20);
    }
    let page = "WITH \"scope\"%FROM \"products\" WHERE %LIMIT 21)%";
    let prepared = fresh.prepared_statements(page).await.unwrap();
    let tenant = t.to_string();
    let plan = fresh.prepared_plan(page, &[&tenant, &tenant]).await;
    fresh.close();
    if db.db().pooled_by_transaction() {
        assert!(prepared.is_empty(), "{prepared:#?}");
        return;
    }
    assert_eq!(prepared.len(), 1, "{prepared:#?}");
    // PostgreSQL's five trial plans for the values, then the generic plan for good.
    let (_, generic, custom) = &prepared[0];
    assert!(*generic >= 3 && *custom <= 5, "{prepared:#?}");
    // The scope's row first, the read as the inner side of a nested loop over it: the
    // policy's setting is read after the statement has set it.
    let plan = plan.unwrap();
    let lines: Vec<&str> = plan.lines().map(str::trim).collect();
    assert!(lines[0].starts_with("Nested Loop"), "{plan}");
    let at = |needle: &str| lines.iter().position(|l| l.contains(needle));
    let (Some(scope), Some(policy), Some(products)) = (
        at("CTE Scan on scope"),
        at("current_setting('app.tenant_id'"),
        at(" on products"),
    ) else {
        panic!("{plan}");
    };
    assert!(scope < policy && policy < products, "{plan}");
}

/// A read of one statement sets its tenant before row-level security reads it, whatever the
/// statement's shape — a page (`LIMIT 21`), a lookup (`.first()`), a count with no `LIMIT` —
/// and whatever the sessions' default: here the database's default tenant is another one.
/// Were the policy's setting read before the statement sets it, each read would see the other
/// tenant's rows through the policy and its own through the statement's filter: none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_in_one_statement_sets_its_tenant_first_whatever_the_default() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let a = tenant(&db, "acme").await;
    let b = tenant(&db, "bravo").await;
    products(&db, a, 3).await;
    products(&db, b, 2).await;
    if db.db().pooled_by_transaction() {
        return; // A pooler takes no startup options; nor does this path run behind one.
    }
    // Sessions that start with that default (the connection string's options), one read at a
    // time, so that the later runs reuse the prepared statements.
    let url = db.url();
    let sep = if url.contains('?') { '&' } else { '?' };
    let url = format!("{url}{sep}options=-c%20app.tenant_id%3D{b}");
    let fresh = tenantry_store::Db::connect(&tenantry_store::DbConfig::new(&url)).unwrap();
    let svc = ProductService::new(fresh.clone(), Arc::new(SystemClock));
    let ctx = TenantCtx::for_tests(a);
    for _ in 0..7 {
        let page = svc.list(&ctx, &ProductQuery::default()).await.unwrap();
        assert_eq!(page.items.len(), 3);
        assert!(page.items.iter().all(|p| p.tenant_id == a));
        assert!(svc.get(&ctx, page.items[0].id).await.unwrap().is_some());
        assert_eq!(fresh.products_counted_in_one_statement(a).await.unwrap(), 3);
    }
    fresh.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_without_the_superuser_step_stays_correct() {
    let Some(db) = TestDb::postgres_as_shipped().await else {
        return;
    };
    searches_stay_in_their_tenant(&db, false).await;
}

#[test]
fn postgres_suite() {
    tenantry_store::testing::report_postgres_suite();
}

backend_tests! {
    async fn every_table_and_column_is_in_the_archives(db: &TestDb) {
        let gaps = db.db().archive_catalogue_gaps().await.unwrap();
        assert!(gaps.is_empty(), "the archives' catalogue is behind the schema:\n{}", gaps.join("\n"));
        db.as_owner("ALTER TABLE products ADD COLUMN colour TEXT; CREATE TABLE notes (tenant_id TEXT, id TEXT)").await;
        let gaps = db.db().archive_catalogue_gaps().await.unwrap();
        assert!(gaps.iter().any(|g| g.starts_with("products.colour")), "{gaps:?}");
        assert!(gaps.iter().any(|g| g.starts_with("notes:")), "{gaps:?}");
    }

    async fn a_search_uses_its_tenant_led_index_and_stays_in_its_tenant(db: &TestDb) {
        assert!(
            db.db().search_uses_index().await.unwrap(),
            "`@@` is not LEAKPROOF in the test cluster: run scripts/pg-test-cluster (docs/postgres.md, \"Indexed search\")"
        );
        searches_stay_in_their_tenant(db, true).await;
    }

    async fn the_schema_follows_the_isolation_rules(db: &TestDb) {
        let violations = db.db().isolation_violations().await.unwrap();
        assert!(violations.is_empty(), "isolation rules broken:\n{}", violations.join("\n"));
    }

    async fn the_schema_check_notices_a_careless_table(db: &TestDb) {
        let (uuid, text) = if db.owner_url().is_some() { ("uuid", "text") } else { ("TEXT", "TEXT") };
        db.as_owner(&format!(
            "CREATE TABLE widgets (id {uuid} PRIMARY KEY, name {text} NOT NULL);
             CREATE TABLE gadgets (tenant_id {uuid} NOT NULL, id {uuid} NOT NULL, sku {text} NOT NULL,
                                   widget_id {uuid}, PRIMARY KEY (id, tenant_id), UNIQUE (sku));
             CREATE INDEX gadgets_sku ON gadgets (sku);
             CREATE TABLE parts (tenant_id {uuid} NOT NULL, id {uuid} NOT NULL, gadget_id {uuid} NOT NULL,
                                 PRIMARY KEY (tenant_id, id), UNIQUE (gadget_id, id),
                                 FOREIGN KEY (gadget_id, id) REFERENCES parts (gadget_id, id));"
        )).await;
        let v = db.db().isolation_violations().await.unwrap();
        let has = |needle: &str| v.iter().any(|l| l.contains(needle));
        assert!(has("widgets: no tenant_id column"), "{v:#?}");
        assert!(has("gadgets: ") && v.iter().any(|l| l.starts_with("gadgets") && l.contains("not led by tenant_id")), "{v:#?}");
        assert!(has("gadgets_sku"), "an index not led by tenant_id: {v:#?}");
        assert!(has("parts: foreign key"), "a foreign key not led by tenant_id: {v:#?}");
        if db.owner_url().is_some() {
            // A full-text index that keeps GIN's pending list, which every search would read.
            db.as_owner("CREATE INDEX gadgets_words ON gadgets USING gin (tenant_id, to_tsvector('simple', sku))").await;
            let v = db.db().isolation_violations().await.unwrap();
            assert!(v.iter().any(|l| l.contains("gadgets_words keeps a pending list")), "{v:#?}");
            assert!(has("gadgets: row-level security is not enabled and forced"), "{v:#?}");
            assert!(has("gadgets: no policy on app.tenant_id"), "{v:#?}");
        }
    }

    async fn unfiltered_sql_sees_only_the_transactions_tenant(db: &TestDb) {
        let a = tenant(db, "acme").await;
        let b = tenant(db, "beta").await;
        products(db, a, 3).await;
        products(db, b, 2).await;
        // Each tenant-owned table, counted without any WHERE clause.
        let on_pg = db.owner_url().is_some();
        for table in ["products", "audit_entries", "tenant_settings", "audit_heads"] {
            let in_a = db.db().unfiltered_count(Some(a), table).await.unwrap();
            let in_b = db.db().unfiltered_count(Some(b), table).await.unwrap();
            let none = db.db().unfiltered_count(None, table).await.unwrap();
            if on_pg {
                // Row-level security: the transaction's tenant only, nothing without one.
                match table {
                    "products" => assert_eq!((in_a, in_b), (3, 2)),
                    "audit_entries" => assert_eq!((in_a, in_b), (5, 4), "settings + subscription + products"),
                    _ => assert_eq!((in_a, in_b), (1, 1), "{table}"),
                }
                assert_eq!(none, 0, "{table} without a tenant");
                let cleared = db.db().unfiltered_count_rescoped_to_platform(a, table).await.unwrap();
                assert_eq!(cleared, 0, "{table} after the scope is cleared part-way");
            } else {
                // SQLite has no row-level security: the query layer is the wall there.
                assert_eq!(in_a, none);
            }
        }
        if on_pg {
            // And every other tenant-owned table shows nothing without a tenant.
            let tables = db.db().tenant_tables().await.unwrap();
            assert!(tables.len() >= 10, "{tables:?}");
            for table in tables {
                assert_eq!(db.db().unfiltered_count(None, &table).await.unwrap(), 0, "{table} without a tenant");
            }
        }
    }

    async fn an_abandoned_read_leaves_no_transaction_in_the_pool(db: &TestDb) {
        if db.owner_url().is_none() {
            return; // SQLite: no sessions, no row-level security to carry over.
        }
        let a = tenant(db, "acme").await;
        products(db, a, 2).await;
        // The request goes away while its statement runs; the statement then finishes on the
        // server. Had its connection gone back to the pool, it would sit there inside A's
        // transaction, and the next checkout would read with A's scope.
        let finished = db
            .db()
            .abandoned_read(a, 0.3, std::time::Duration::from_millis(50))
            .await;
        assert!(!finished);
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        assert_eq!(db.db().sessions_idle_in_transaction().await.unwrap(), 0);
        for _ in 0..12 {
            assert_eq!(db.db().unfiltered_count(None, "products").await.unwrap(), 0);
        }
        assert_eq!(db.db().unfiltered_count(Some(a), "products").await.unwrap(), 2);
    }

    async fn a_thread_with_its_own_pool_reads_from_it(db: &TestDb) {
        if db.owner_url().is_none() {
            return; // SQLite: one shared pool (its reads already run in place).
        }
        let a = tenant(db, "acme").await;
        products(db, a, 2).await;
        // The shared pool is warm: a read from it opens no connection now.
        assert_eq!(db.db().unfiltered_count(Some(a), "products").await.unwrap(), 2);
        let before = db.db().pool_status();
        db.db().pool_on_this_thread(3).unwrap();
        let own = db.db().pool_status();
        assert_eq!((own.max_size, own.size), (before.max_size + 3, before.size), "opened lazily");
        assert_eq!(db.db().unfiltered_count(Some(a), "products").await.unwrap(), 2);
        assert_eq!(db.db().pool_status().size, before.size + 1, "this thread's read opened its own connection");
        db.db().pool_on_this_thread(3).unwrap();
        assert_eq!(db.db().pool_status().max_size, before.max_size + 3, "one pool a thread");
        // Another thread has none: its read is served by the shared pool's idle connection.
        let other = db.db().clone();
        let seen = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(other.unfiltered_count(Some(a), "products")).unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(seen, 2);
        assert_eq!(db.db().pool_status().size, before.size + 1, "no connection opened for the other thread");
    }

    async fn a_one_trip_read_sees_its_tenant_on_every_connection(db: &TestDb) {
        // The list and get-by-id routes read in one round trip once a connection has the
        // statement prepared (one statement that sets its tenant first), and two before. Either
        // way each read sees its own tenant's rows, from many connections at once, first use
        // and after.
        let a = tenant(db, "acme").await;
        let b = tenant(db, "bravo").await;
        products(db, a, 3).await;
        products(db, b, 2).await;
        let svc = ProductService::new(db.db().clone(), Arc::new(SystemClock));
        let (ca, cb) = (TenantCtx::for_tests(a), TenantCtx::for_tests(b));
        let query = tenantry_products::ProductQuery::default();
        let one_of_b = svc.list(&cb, &query).await.unwrap().items[0].id;
        let before = tenantry_store::Db::one_trip_reads();
        for _ in 0..8 {
            let reads = (0..24).map(|i| {
                let (svc, ca, cb, query) = (&svc, &ca, &cb, &query);
                async move {
                    let (ctx, n) = if i % 2 == 0 { (ca, 3) } else { (cb, 2) };
                    let page = svc.list(ctx, query).await.unwrap();
                    assert_eq!(page.items.len(), n);
                    assert!(page.items.iter().all(|p| p.tenant_id == ctx.tenant_id()));
                    let found = svc.get(ctx, one_of_b).await.unwrap();
                    assert_eq!(found.is_some(), ctx.tenant_id() == b, "get by id in its own tenant only");
                }
            });
            futures_util::future::join_all(reads).await;
        }
        if db.owner_url().is_some() {
            // Behind a transaction pooler nothing is prepared across transactions: two trips.
            let one_trip = !db.db().pooled_by_transaction();
            assert_eq!(tenantry_store::Db::one_trip_reads() > before, one_trip, "the one-round-trip path");
            // And no connection was left inside a transaction.
            assert_eq!(db.db().sessions_idle_in_transaction().await.unwrap(), 0);
        }
    }

    async fn a_one_trip_read_late_in_a_busy_poll_still_sees_its_tenant(db: &TestDb) {
        // A task that has done much in one poll has spent tokio's cooperative budget: a tokio
        // resource it then touches answers "not yet" once, having done nothing — here
        // diesel-async's statement-cache lock, before the statement is sent. The
        // one-round-trip read must not take such a "not yet" for "the statement is sent" and
        // let its COMMIT overtake the statement, which would then run outside the tenant's
        // transaction and, under row-level security, see no rows.
        let a = tenant(db, "acme").await;
        products(db, a, 3).await;
        let before = tenantry_store::Db::one_trip_reads();
        // The pool hands its idle connections out in turn, and a connection's first run of the
        // statement prepares it (two trips): read until one has gone in one trip, or past every
        // connection the pool can hold.
        for _ in 0..24 {
            assert_eq!(db.db().products_counted_after_a_spent_budget(a).await.unwrap(), 3);
            if tenantry_store::Db::one_trip_reads() > before {
                break;
            }
        }
        if db.owner_url().is_some() {
            let one_trip = !db.db().pooled_by_transaction();
            assert_eq!(tenantry_store::Db::one_trip_reads() > before, one_trip, "the one-round-trip path");
            assert_eq!(db.db().sessions_idle_in_transaction().await.unwrap(), 0);
        }
    }

    async fn a_host_is_resolved_through_an_index(db: &TestDb) {
        // SQLite plans a statement without looking at its bound values (decision 0053), so a
        // partial index whose condition a bound value would meet is never chosen: the
        // hostname lookup of every unknown Host header must still not scan all domains.
        if db.owner_url().is_some() {
            return; // PostgreSQL: EXPLAIN QUERY PLAN is SQLite's.
        }
        let plan = db.db().host_lookup_plan_sqlite().await.unwrap();
        assert!(plan.contains("SEARCH domains USING"), "{plan}");
        assert!(!plan.contains("SCAN domains"), "{plan}");
    }

    async fn an_abandoned_one_trip_read_leaves_no_transaction_in_the_pool(db: &TestDb) {
        if db.owner_url().is_none() {
            return; // SQLite: no sessions, no row-level security to carry over.
        }
        let a = tenant(db, "acme").await;
        products(db, a, 2).await;
        // One statement that sets its tenant itself, then `BEGIN …`, statement, `COMMIT`.
        for pipelined in [false, true] {
            let before = tenantry_store::Db::one_trip_reads();
            let finished = db
                .db()
                .abandoned_one_trip_read(a, 0.3, std::time::Duration::from_millis(50), pipelined)
                .await;
            assert!(!finished);
            let one_trip = !db.db().pooled_by_transaction();
            assert_eq!(tenantry_store::Db::one_trip_reads() > before, one_trip, "the one-round-trip path");
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        assert_eq!(db.db().sessions_idle_in_transaction().await.unwrap(), 0);
        for _ in 0..12 {
            assert_eq!(db.db().unfiltered_count(None, "products").await.unwrap(), 0);
        }
        assert_eq!(db.db().unfiltered_count(Some(a), "products").await.unwrap(), 2);
    }

    async fn a_failed_one_trip_read_rolls_back_and_keeps_its_connection(db: &TestDb) {
        if db.owner_url().is_none() {
            return; // The statement is PostgreSQL's.
        }
        // The first run prepares the statement (two round trips), the next go in one: a
        // statement whose failure ends its own transaction, or (pipelined) one with COMMIT
        // behind it, which then ends the aborted transaction. All fail on the server. (Now and
        // then a read takes two trips although it could take one: more than one run, so that
        // the test does not rest on a single one.)
        for pipelined in [false, true] {
            let before = tenantry_store::Db::one_trip_reads();
            for _ in 0..6 {
                let failed = db.db().failing_one_trip_read(pipelined).await;
                assert!(failed.is_err(), "{failed:?}");
            }
            if !db.db().pooled_by_transaction() {
                assert!(tenantry_store::Db::one_trip_reads() > before, "a failing read went in one trip");
            }
        }
        assert_eq!(db.db().sessions_idle_in_transaction().await.unwrap(), 0);
        assert_eq!(db.db().unfiltered_count(None, "products").await.unwrap(), 0);
    }

    async fn the_schema_can_be_distributed_by_tenant(db: &TestDb) {
        let Some(plan) = db.db().distribution_plan().await.unwrap() else {
            return; // SQLite: one file, one machine.
        };
        assert!(plan.problems.is_empty(), "Citus would refuse:\n{}", plan.problems.join("\n"));
        assert!(plan.distributed.iter().any(|t| t == "products"), "{plan:?}");
        assert!(plan.reference.iter().any(|t| t == "tenants"), "{plan:?}");
        // docs/scaling.md shows exactly the statements the live schema gives.
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/scaling.md")).unwrap();
        let marker = "<!-- citus: generated from the live schema -->\n```sql\n";
        let block = doc.split(marker).nth(1).and_then(|b| b.split("```").next()).expect("the statements in docs/scaling.md");
        let statements = plan.statements.join("\n");
        assert_eq!(block.trim(), statements, "docs/scaling.md is behind the schema; the statements are:\n{statements}");
        // A table whose keys do not lead with the tenant, or a tenant table a platform table
        // points at, is caught.
        db.as_owner(
            "CREATE TABLE notes (tenant_id uuid NOT NULL REFERENCES tenants (id), id uuid PRIMARY KEY);
             CREATE TABLE note_pins (tenant_id uuid, id uuid NOT NULL, note uuid REFERENCES notes (id), UNIQUE (tenant_id, id));
             ALTER TABLE plans ADD COLUMN sample_product uuid, ADD COLUMN sample_tenant uuid,
                 ADD FOREIGN KEY (sample_tenant, sample_product) REFERENCES products (tenant_id, id);",
        )
        .await;
        let plan = db.db().distribution_plan().await.unwrap().unwrap();
        let problems = plan.problems.join("\n");
        for expected in [
            "notes.notes_pkey: a unique key of a distributed table must include tenant_id",
            "note_pins: tenant_id, the distribution column, must be NOT NULL",
            "note_pins.note_pins_note_fkey: a foreign key to the distributed notes must match tenant_id to tenant_id",
            "plans.plans_sample_tenant_sample_product_fkey: a reference table cannot reference the distributed products",
        ] {
            assert!(problems.contains(expected), "{expected:?} not in:\n{problems}");
        }
    }

    async fn an_import_that_meets_a_taken_sku_writes_nothing(db: &TestDb) {
        use tenantry_products::ProductRepository;
        let a = tenant(db, "acme").await;
        products(db, a, 1).await; // SKU "S0"
        let ctx = TenantCtx::for_tests(a);
        let entries_before = db.db().unfiltered_count(Some(a), "audit_entries").await.unwrap();
        // The service checks SKUs before writing; this is the race it cannot see: the store
        // meets the taken SKU after inserting the rows before it, and must undo them.
        let row = |sku: &str| {
            let now = chrono::Utc::now();
            tenantry_products::Product {
                id: tenantry_kernel::ProductId::new(),
                tenant_id: a,
                name: ProductName::parse("Racing").unwrap(),
                sku: Sku::parse(sku).unwrap(),
                description: Description::default(),
                price: Money::new(1, Currency::parse("EUR").unwrap()).unwrap(),
                status: ProductStatus::Active,
                created_by: None,
                created_at: now,
                updated_at: now,
            }
        };
        let rows = vec![(1, row("NEW-1")), (2, row("NEW-2")), (3, row("S0"))];
        let Err(tenantry_products::BulkImportError::RowErrors(errors)) = db.db().import(&ctx, &rows).await else {
            panic!("the taken SKU is refused");
        };
        assert!(errors[0].message.contains("nothing was imported"), "{errors:?}");
        assert_eq!(db.db().unfiltered_count(Some(a), "products").await.unwrap(), 1, "the rows before it are gone");
        assert_eq!(db.db().unfiltered_count(Some(a), "audit_entries").await.unwrap(), entries_before, "and so are their audit entries");
    }
}
