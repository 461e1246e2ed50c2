//! The vault over an in-memory key table (the store's adapter is tested on both backends in
//! `crates/store/tests`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tenantry_kernel::{SecretCipher, SecretSlot, TenantCtx, TenantId, Unexpected};

use crate::{DataKeyStore, KeySource, MasterKey, Vault, WrappedKey};

#[derive(Clone, Default)]
struct MemoryKeys(Arc<Mutex<HashMap<TenantId, WrappedKey>>>);

impl DataKeyStore for MemoryKeys {
    async fn data_key(&self, tenant: TenantId) -> Result<Option<WrappedKey>, Unexpected> {
        Ok(self.0.lock().unwrap().get(&tenant).cloned())
    }

    async fn add_data_key(
        &self,
        tenant: TenantId,
        key: &WrappedKey,
    ) -> Result<WrappedKey, Unexpected> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .entry(tenant)
            .or_insert_with(|| key.clone())
            .clone())
    }

    async fn replace_data_key(
        &self,
        tenant: TenantId,
        old: &WrappedKey,
        new: &WrappedKey,
    ) -> Result<bool, Unexpected> {
        let mut map = self.0.lock().unwrap();
        match map.get_mut(&tenant) {
            Some(k) if k == old => {
                *k = new.clone();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn data_keys_not_under(
        &self,
        kek_id: &str,
        limit: u32,
    ) -> Result<Vec<(TenantId, WrappedKey)>, Unexpected> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, k)| k.kek_id != kek_id)
            .take(limit as usize)
            .map(|(t, k)| (*t, k.clone()))
            .collect())
    }

    async fn data_key_counts(&self) -> Result<Vec<(String, u64)>, Unexpected> {
        let mut counts: HashMap<String, u64> = HashMap::new();
        for k in self.0.lock().unwrap().values() {
            *counts.entry(k.kek_id.clone()).or_default() += 1;
        }
        Ok(counts.into_iter().collect())
    }
}

fn vault(store: &MemoryKeys, keys: &[&MasterKey]) -> Vault<MemoryKeys> {
    let list: Vec<String> = keys.iter().map(|k| k.encode().to_string()).collect();
    let source = KeySource::open(Some(&list.join(",")), std::path::Path::new("/nonexistent"));
    Vault::new(store.clone(), source.unwrap()).unwrap()
}

const SLOT: SecretSlot<'static> = SecretSlot {
    table: "webhook_endpoints",
    column: "secret",
    row: "row-1",
};

#[tokio::test]
async fn a_sealed_secret_opens_only_where_it_was_sealed() {
    let master = MasterKey::generate();
    let vault = vault(&MemoryKeys::default(), &[&master]);
    let (a, b) = (
        TenantCtx::for_tests(TenantId::new()),
        TenantCtx::for_tests(TenantId::new()),
    );
    let sealed = vault.seal(&a, SLOT, b"whsec_top").await.unwrap();
    assert!(sealed.starts_with("v1:"));
    assert!(!sealed.contains("whsec_top"));
    assert_ne!(
        sealed,
        vault.seal(&a, SLOT, b"whsec_top").await.unwrap(),
        "a fresh nonce each time"
    );
    assert_eq!(vault.open(&a, SLOT, &sealed).await.unwrap(), b"whsec_top");
    // Another tenant, row, column or table: refused.
    assert!(vault.open(&b, SLOT, &sealed).await.is_err());
    for slot in [
        SecretSlot {
            row: "row-2",
            ..SLOT
        },
        SecretSlot {
            column: "previous_secret",
            ..SLOT
        },
        SecretSlot {
            table: "sso_providers",
            ..SLOT
        },
    ] {
        assert!(vault.open(&a, slot, &sealed).await.is_err(), "{slot:?}");
    }
    // Altered or malformed: refused.
    let mut tampered = sealed.clone().into_bytes();
    let i = tampered.len() - 3;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert!(vault.open(&a, SLOT, &tampered).await.is_err());
    assert!(vault.open(&a, SLOT, "v1:AAAA").await.is_err());
    assert!(vault.open(&a, SLOT, "plain").await.is_err());
}

#[tokio::test]
async fn rotation_rewraps_data_keys_and_sealed_values_still_open() {
    let (old, new) = (MasterKey::generate(), MasterKey::generate());
    let store = MemoryKeys::default();
    let before = vault(&store, &[&old]);
    let tenants: Vec<TenantCtx> = (0..3)
        .map(|_| TenantCtx::for_tests(TenantId::new()))
        .collect();
    let mut sealed = vec![];
    for t in &tenants {
        sealed.push(before.seal(t, SLOT, b"secret").await.unwrap());
    }
    // The operator puts the new key first; a fresh process rotates.
    let after = vault(&store, &[&new, &old]);
    let rotation = after.rotate().await.unwrap();
    assert_eq!(rotation.current, new.id());
    assert_eq!(rotation.rewrapped, 3);
    assert_eq!(rotation.counts, vec![(new.id().to_owned(), 3)]);
    assert_eq!(after.rotate().await.unwrap().rewrapped, 0, "idempotent");
    // Only the new key is needed now.
    let only_new = vault(&store, &[&new]);
    for (t, s) in tenants.iter().zip(&sealed) {
        assert_eq!(only_new.open(t, SLOT, s).await.unwrap(), b"secret");
    }
    // And without the right master key nothing opens.
    let stranger = vault(&store, &[&MasterKey::generate()]);
    assert!(stranger.open(&tenants[0], SLOT, &sealed[0]).await.is_err());
}

#[tokio::test]
async fn a_key_file_rotation_reaches_a_running_vault() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    let store = MemoryKeys::default();
    let source = KeySource::open(None, &path).unwrap();
    let first = source.load().unwrap().current().id().to_owned();
    let running = Vault::new(store.clone(), source.clone()).unwrap();
    let t = TenantCtx::for_tests(TenantId::new());
    let sealed = running.seal(&t, SLOT, b"secret").await.unwrap();

    // `tenantry keys rotate`, from another process.
    let operator = Vault::new(store.clone(), source.clone()).unwrap();
    let rotation = operator.rotate_master_key().await.unwrap();
    assert_ne!(rotation.current, first);
    assert_eq!(rotation.rewrapped, 1);

    // The running vault still opens (cached data key), and wraps a new tenant's data key
    // under the new master key (it reads the file again).
    assert_eq!(running.open(&t, SLOT, &sealed).await.unwrap(), b"secret");
    let u = TenantCtx::for_tests(TenantId::new());
    running.seal(&u, SLOT, b"other").await.unwrap();
    let counts = store.data_key_counts().await.unwrap();
    assert_eq!(counts, vec![(rotation.current.clone(), 2)]);

    // The next rotation drops the key nothing uses any more.
    let third = operator.rotate_master_key().await.unwrap();
    let file = source.load().unwrap();
    assert_eq!(file.current().id(), third.current);
    assert!(file.find(&first).is_none(), "unused retired key dropped");
    assert!(
        file.find(&rotation.current).is_some(),
        "the last retired key stays"
    );
    // A fresh process with the file opens everything.
    let fresh = Vault::new(store, KeySource::open(None, &path).unwrap()).unwrap();
    assert_eq!(fresh.open(&t, SLOT, &sealed).await.unwrap(), b"secret");
}
