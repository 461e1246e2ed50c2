//! The vault's data keys in the real databases: one per tenant even when first used
//! concurrently, re-wrapped by a rotation, and nothing readable in the table. Every test runs
//! on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tenantry_kernel::{SecretCipher, SecretSlot};
use tenantry_secrets::{DataKeyStore, KeySource, MasterKey, Vault};
use tenantry_store::Db;
use tenantry_store::backend_tests;
use tenantry_store::testing::tenant_ctx as tenant;

fn vault(db: &Db, keys: &[&MasterKey]) -> Vault<Db> {
    let list: Vec<String> = keys.iter().map(|k| k.encode().to_string()).collect();
    let source = KeySource::open(Some(&list.join(",")), std::path::Path::new("/nonexistent"));
    Vault::new(db.clone(), source.unwrap()).unwrap()
}

const SLOT: SecretSlot<'static> = SecretSlot {
    table: "webhook_endpoints",
    column: "secret",
    row: "0191",
};

backend_tests! {
    async fn one_data_key_per_tenant_even_when_first_used_at_once(t: &TestDb) {
        let db = t.db();
        let ctx = tenant(db, "acme").await;
        let master = MasterKey::generate();
        // Eight processes' vaults, each making the tenant's first data key at once.
        let sealed = futures_util::future::join_all((0..8).map(|i| {
            let (v, ctx) = (vault(db, &[&master]), ctx.clone());
            async move { v.seal(&ctx, SLOT, format!("secret {i}").as_bytes()).await.unwrap() }
        }))
        .await;
        assert_eq!(db.data_key_counts().await.unwrap(), vec![(master.id().to_owned(), 1)]);
        let reader = vault(db, &[&master]);
        for (i, s) in sealed.iter().enumerate() {
            assert_eq!(reader.open(&ctx, SLOT, s).await.unwrap(), format!("secret {i}").as_bytes());
        }
        // The table holds the key wrapped (40 bytes), never the key itself.
        let stored = db.data_key(ctx.tenant_id()).await.unwrap().unwrap();
        assert_eq!(stored.wrapped.len(), 40);
        // Another tenant's vault cannot open it.
        let other = tenant(db, "globex").await;
        assert!(reader.open(&other, SLOT, &sealed[0]).await.is_err());
    }

    async fn a_rotation_rewraps_every_tenant_s_key(t: &TestDb) {
        let db = t.db();
        let (old, new) = (MasterKey::generate(), MasterKey::generate());
        let before = vault(db, &[&old]);
        let mut sealed = vec![];
        for slug in ["acme", "globex", "initech"] {
            let ctx = tenant(db, slug).await;
            sealed.push((before.seal(&ctx, SLOT, b"s").await.unwrap(), ctx));
        }
        let rotation = vault(db, &[&new, &old]).rotate().await.unwrap();
        assert_eq!((rotation.rewrapped, rotation.counts.clone()), (3, vec![(new.id().to_owned(), 3)]));
        let after = vault(db, &[&new]);
        for (s, ctx) in &sealed {
            assert_eq!(after.open(ctx, SLOT, s).await.unwrap(), b"s");
        }
    }

    async fn the_platform_s_own_key_is_rotated_with_the_tenants(t: &TestDb) {
        use tenantry_kernel::PlatformCipher;
        let db = t.db();
        let (old, new) = (MasterKey::generate(), MasterKey::generate());
        let before = vault(db, &[&old]);
        // The first seal makes the platform key (two vaults at once: still one row).
        let (a, b) = futures_util::future::join(
            before.seal_platform(SLOT, b"totp a"),
            vault(db, &[&old]).seal_platform(SLOT, b"totp b"),
        )
        .await;
        let ctx = tenant(db, "acme").await;
        let tenant_sealed = before.seal(&ctx, SLOT, b"s").await.unwrap();
        assert_eq!(db.data_key_counts().await.unwrap(), vec![(old.id().to_owned(), 2)]);
        let rotation = vault(db, &[&new, &old]).rotate().await.unwrap();
        assert_eq!((rotation.rewrapped, rotation.counts), (2, vec![(new.id().to_owned(), 2)]));
        // A second rotation finds nothing left under the old key.
        assert_eq!(vault(db, &[&new, &old]).rotate().await.unwrap().rewrapped, 0);
        let after = vault(db, &[&new]);
        assert_eq!(after.open_platform(SLOT, &a.unwrap()).await.unwrap(), b"totp a");
        assert_eq!(after.open_platform(SLOT, &b.unwrap()).await.unwrap(), b"totp b");
        assert_eq!(after.open(&ctx, SLOT, &tenant_sealed).await.unwrap(), b"s");
    }
}

#[test]
fn postgres_suite() {
    tenantry_store::testing::report_postgres_suite();
}
