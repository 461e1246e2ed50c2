//! The vault: data keys per tenant, wrapped by the master key, sealing secrets with
//! AES-256-GCM bound to their tenant, table, column and row.

use std::future::Future;
use std::sync::{Arc, RwLock};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use aes_kw::KwAes256;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tenantry_kernel::{
    PlatformCipher, SealFuture, SecretCipher, SecretSlot, TenantCtx, TenantId, Unexpected,
};
use zeroize::Zeroizing;

use crate::master::{KeyConfigError, KeySource, MasterKey, MasterKeys};

/// A tenant's data key as stored: wrapped (RFC 3394) under the master key named `kek_id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrappedKey {
    pub kek_id: String,
    /// 40 bytes: the 32-byte key and the wrap's integrity check.
    pub wrapped: Vec<u8>,
}

/// The owner the platform's own data key is stored under: no tenant has the nil id. Sealed
/// values of the platform are bound to it like a tenant's to theirs.
pub const PLATFORM_KEY_OWNER: TenantId = TenantId::from_uuid(uuid::Uuid::nil());

/// Storage of the tenants' wrapped data keys (one per tenant, and the platform's under
/// [`PLATFORM_KEY_OWNER`]). The table holds nothing
/// readable without a master key, which never reaches the database.
pub trait DataKeyStore: Clone + Send + Sync + 'static {
    fn data_key(
        &self,
        tenant: TenantId,
    ) -> impl Future<Output = Result<Option<WrappedKey>, Unexpected>> + Send;

    /// Stores `key` as the tenant's data key unless it has one already; returns the tenant's
    /// key either way (two first uses at once agree on one key).
    fn add_data_key(
        &self,
        tenant: TenantId,
        key: &WrappedKey,
    ) -> impl Future<Output = Result<WrappedKey, Unexpected>> + Send;

    /// Replaces the tenant's data key with `new` if it is still `old`; whether it did.
    fn replace_data_key(
        &self,
        tenant: TenantId,
        old: &WrappedKey,
        new: &WrappedKey,
    ) -> impl Future<Output = Result<bool, Unexpected>> + Send;

    /// Up to `limit` data keys wrapped under another master key than `kek_id`.
    fn data_keys_not_under(
        &self,
        kek_id: &str,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<(TenantId, WrappedKey)>, Unexpected>> + Send;

    /// How many data keys each master key wraps.
    fn data_key_counts(
        &self,
    ) -> impl Future<Output = Result<Vec<(String, u64)>, Unexpected>> + Send;
}

/// What a rotation did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rotation {
    /// The master key every data key is now wrapped under.
    pub current: String,
    /// Data keys re-wrapped.
    pub rewrapped: u64,
    /// Data keys per master key afterwards.
    pub counts: Vec<(String, u64)>,
}

/// Seals and opens tenants' secrets. Cheap to clone; unwrapped data keys are cached (they
/// never change: a rotation re-wraps them, it does not replace them).
#[derive(Clone)]
pub struct Vault<S> {
    store: S,
    source: Arc<KeySource>,
    keys: Arc<RwLock<MasterKeys>>,
    ciphers: moka::sync::Cache<TenantId, Arc<Aes256Gcm>>,
}

const SEALED_PREFIX: &str = "v1:";
const NONCE_LEN: usize = 12;

fn unexpected(what: &str) -> Unexpected {
    Unexpected::msg(what.to_owned())
}

/// What a sealed value is bound to.
fn associated_data(tenant: TenantId, slot: &SecretSlot<'_>) -> Vec<u8> {
    format!(
        "tenantry.secret.v1\0{tenant}\0{}\0{}\0{}",
        slot.table, slot.column, slot.row
    )
    .into_bytes()
}

fn wrap(master: &MasterKey, key: &[u8; 32]) -> Result<WrappedKey, Unexpected> {
    let kw =
        KwAes256::new_from_slice(master.bytes()).map_err(|_| unexpected("master key length"))?;
    let mut buf = [0u8; 40];
    let wrapped = kw
        .wrap_key(key, &mut buf)
        .map_err(|e| Unexpected::msg(format!("cannot wrap a data key: {e}")))?;
    Ok(WrappedKey {
        kek_id: master.id().to_owned(),
        wrapped: wrapped.to_vec(),
    })
}

fn unwrap(master: &MasterKey, key: &WrappedKey) -> Result<Zeroizing<[u8; 32]>, Unexpected> {
    let kw =
        KwAes256::new_from_slice(master.bytes()).map_err(|_| unexpected("master key length"))?;
    let mut buf = Zeroizing::new([0u8; 32]);
    kw.unwrap_key(&key.wrapped, buf.as_mut())
        .map_err(|_| unexpected("a data key does not unwrap under its master key"))?;
    Ok(buf)
}

impl<S: DataKeyStore> Vault<S> {
    /// A vault over `store` with the keys of `source`.
    pub fn new(store: S, source: KeySource) -> Result<Self, KeyConfigError> {
        let keys = source.load()?;
        Ok(Self {
            store,
            source: Arc::new(source),
            keys: Arc::new(RwLock::new(keys)),
            ciphers: moka::sync::Cache::new(100_000),
        })
    }

    /// The master keys as this process knows them.
    pub fn keys(&self) -> MasterKeys {
        self.keys
            .read()
            .map(|k| k.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Reads the keys again (a key file may have gained one).
    fn reload(&self) -> Result<MasterKeys, Unexpected> {
        let keys = self.source.load().map_err(Unexpected::new)?;
        if let Ok(mut held) = self.keys.write() {
            *held = keys.clone();
        }
        Ok(keys)
    }

    /// The master key named `id`, reading the keys again if this process has not seen it.
    fn master(&self, id: &str) -> Result<MasterKey, Unexpected> {
        if let Some(k) = self.keys().find(id) {
            return Ok(k.clone());
        }
        self.reload()?.find(id).cloned().ok_or_else(|| {
            Unexpected::msg(format!(
                "a data key is wrapped under master key {id}, which is not configured \
                 (TENANTRY_MASTER_KEY or the key file)"
            ))
        })
    }

    /// The tenant's cipher: its data key, made and stored on first use.
    async fn cipher(&self, tenant: TenantId) -> Result<Arc<Aes256Gcm>, Unexpected> {
        if let Some(c) = self.ciphers.get(&tenant) {
            return Ok(c);
        }
        let wrapped = match self.store.data_key(tenant).await? {
            Some(w) => w,
            None => {
                let mut key = Zeroizing::new([0u8; 32]);
                getrandom::fill(key.as_mut()).map_err(Unexpected::new)?;
                // A file may have been rotated since this process read it: wrap new data
                // keys under the newest key.
                let current = match &*self.source {
                    KeySource::File(_) => self.reload()?.current().clone(),
                    KeySource::Given(keys) => keys.current().clone(),
                };
                self.store
                    .add_data_key(tenant, &wrap(&current, &key)?)
                    .await?
            }
        };
        let key = unwrap(&self.master(&wrapped.kek_id)?, &wrapped)?;
        let cipher = Arc::new(
            Aes256Gcm::new_from_slice(key.as_ref()).map_err(|_| unexpected("data key length"))?,
        );
        self.ciphers.insert(tenant, cipher.clone());
        Ok(cipher)
    }

    /// Re-wraps every data key that is not under the current master key with it (reading the
    /// keys again first). Data keys do not change, so running servers go on opening secrets
    /// with the keys they cached; new data keys get the current master key.
    pub async fn rotate(&self) -> Result<Rotation, Unexpected> {
        let keys = self.reload()?;
        let current = keys.current().clone();
        let mut rewrapped = 0u64;
        loop {
            let batch = self.store.data_keys_not_under(current.id(), 500).await?;
            if batch.is_empty() {
                break;
            }
            let mut progressed = false;
            for (tenant, old) in batch {
                let key = unwrap(&self.master(&old.kek_id)?, &old)?;
                if self
                    .store
                    .replace_data_key(tenant, &old, &wrap(&current, &key)?)
                    .await?
                {
                    rewrapped += 1;
                    progressed = true;
                }
            }
            if !progressed {
                break;
            }
        }
        Ok(Rotation {
            current: current.id().to_owned(),
            rewrapped,
            counts: self.store.data_key_counts().await?,
        })
    }

    /// `tenantry keys rotate`: with a key file, a new master key goes first in it (the old
    /// ones stay, to open what a running server may still wrap under them until it reads the
    /// file again), then every data key is re-wrapped. Keys a previous rotation retired and
    /// no data key uses any more are dropped from the file first. With TENANTRY_MASTER_KEY
    /// the operator puts the new key first in the variable; this re-wraps.
    pub async fn rotate_master_key(&self) -> Result<Rotation, Unexpected> {
        if let KeySource::File(_) = &*self.source {
            let keys = self.reload()?;
            let used: Vec<String> = self
                .store
                .data_key_counts()
                .await?
                .into_iter()
                .filter(|(_, n)| *n > 0)
                .map(|(id, _)| id)
                .collect();
            let kept: Vec<MasterKey> = keys
                .all()
                .iter()
                .enumerate()
                .filter(|(i, k)| *i == 0 || used.iter().any(|u| u == k.id()))
                .map(|(_, k)| k.clone())
                .collect();
            let next = MasterKeys::new(MasterKey::generate(), kept);
            self.source.store(&next).map_err(Unexpected::new)?;
            tracing::info!(
                key_id = next.current().id(),
                "new master key added to the key file"
            );
        }
        self.rotate().await
    }
}

impl<S: DataKeyStore> Vault<S> {
    /// The tenant's data key in the clear, for an operator's archive (`None`: it has none).
    pub async fn export_data_key(
        &self,
        tenant: TenantId,
    ) -> Result<Option<Zeroizing<[u8; 32]>>, Unexpected> {
        let Some(wrapped) = self.store.data_key(tenant).await? else {
            return Ok(None);
        };
        Ok(Some(unwrap(&self.master(&wrapped.kek_id)?, &wrapped)?))
    }

    /// Drops this process's unwrapped copy of the tenant's data key (its stored copy is gone:
    /// the tenant was purged).
    pub fn forget(&self, tenant: TenantId) {
        self.ciphers.invalidate(&tenant);
    }

    /// `key` (an imported tenant's data key) wrapped under the newest master key.
    pub fn wrap_data_key(&self, key: &[u8]) -> Result<WrappedKey, Unexpected> {
        let key: &[u8; 32] = key
            .try_into()
            .map_err(|_| unexpected("a data key is 32 bytes"))?;
        let current = match &*self.source {
            KeySource::File(_) => self.reload()?.current().clone(),
            KeySource::Given(keys) => keys.current().clone(),
        };
        wrap(&current, key)
    }
}

impl<S: DataKeyStore> Vault<S> {
    async fn seal_for(
        &self,
        owner: TenantId,
        slot: SecretSlot<'_>,
        plaintext: &[u8],
    ) -> Result<String, Unexpected> {
        let cipher = self.cipher(owner).await?;
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(Unexpected::new)?;
        let aad = associated_data(owner, &slot);
        let sealed = cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| unexpected("cannot seal a secret"))?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(format!("{SEALED_PREFIX}{}", STANDARD.encode(out)))
    }

    async fn open_for(
        &self,
        owner: TenantId,
        slot: SecretSlot<'_>,
        sealed: &str,
    ) -> Result<Vec<u8>, Unexpected> {
        let bytes = sealed
            .strip_prefix(SEALED_PREFIX)
            .and_then(|b| STANDARD.decode(b).ok())
            .filter(|b| b.len() > NONCE_LEN)
            .ok_or_else(|| unexpected("a sealed secret is malformed"))?;
        let (nonce, body) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce
            .try_into()
            .map_err(|_| unexpected("a sealed secret is malformed"))?;
        let cipher = self.cipher(owner).await?;
        let aad = associated_data(owner, &slot);
        cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: body,
                    aad: &aad,
                },
            )
            .map_err(|_| {
                Unexpected::msg(format!(
                    "a sealed secret of {}.{} does not open in this tenant and row",
                    slot.table, slot.column
                ))
            })
    }
}

impl<S: DataKeyStore> SecretCipher for Vault<S> {
    async fn seal(
        &self,
        ctx: &TenantCtx,
        slot: SecretSlot<'_>,
        plaintext: &[u8],
    ) -> Result<String, Unexpected> {
        self.seal_for(ctx.tenant_id(), slot, plaintext).await
    }

    async fn open(
        &self,
        ctx: &TenantCtx,
        slot: SecretSlot<'_>,
        sealed: &str,
    ) -> Result<Vec<u8>, Unexpected> {
        self.open_for(ctx.tenant_id(), slot, sealed).await
    }
}

impl<S: DataKeyStore> PlatformCipher for Vault<S> {
    fn seal_platform<'a>(
        &'a self,
        slot: SecretSlot<'a>,
        plaintext: &'a [u8],
    ) -> SealFuture<'a, String> {
        Box::pin(self.seal_for(PLATFORM_KEY_OWNER, slot, plaintext))
    }

    fn open_platform<'a>(
        &'a self,
        slot: SecretSlot<'a>,
        sealed: &'a str,
    ) -> SealFuture<'a, Vec<u8>> {
        Box::pin(self.open_for(PLATFORM_KEY_OWNER, slot, sealed))
    }
}
