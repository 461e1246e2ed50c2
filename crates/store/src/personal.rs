//! Person keys: personal data in append-only records is sealed under a key of its person
//! ([`tenantry_secrets::PersonKey`]), itself sealed under the platform's data key:
//! - the IP and user agent of a person's audit entries, and the e-mail, IP and user agent of
//!   their security events, under their account's key (`person_keys`, which goes with the
//!   account: `ON DELETE CASCADE`);
//! - the personal fields a record holds about its subject (an invitation's e-mail, a directory
//!   user's names), under a key of the subject's e-mail address (`address_keys`), deleted when
//!   the account with that address is erased.
//!
//! Once a key is gone its fields read [`tenantry_secrets::ERASED`], while the records and the
//! audit chain's hashes over them stay as stored.
//!
//! A change's account key is looked up before its transaction (cached per process once read);
//! a person's first key is made inside the transaction of their first change, after the
//! account's row exists there, so a key is never made for an account deleted meanwhile.
//! Address keys are found or made inside the change's transaction.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::Value;
use tenantry_audit::ChangeRecord;
use tenantry_kernel::{Origin, PlatformCipher, TenantCtx, TenantId, UserId};
use tenantry_secrets::{ERASED, KeyRef, PersonKey, Stored, key_slot};

use crate::db::{Db, SqliteConn};
use crate::error::StoreError;
use crate::types::DbUuid;

/// How long a process keeps a key once read: another instance's erasure reaches this one's
/// reads within it (what is sealed after the erasure is unreadable at once).
const KEPT: Duration = Duration::from_secs(600);

/// The keys this process has read, and how to open them.
pub(crate) struct PersonKeys {
    cipher: OnceLock<Arc<dyn PlatformCipher>>,
    keys: moka::sync::Cache<KeyRef, Arc<PersonKey>>,
    /// Whether the platform's own key is known to exist (made before any transaction that
    /// may need it: SQLite has one writer).
    platform_key_ready: AtomicBool,
}

impl Default for PersonKeys {
    fn default() -> Self {
        Self {
            cipher: OnceLock::new(),
            keys: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(KEPT)
                .build(),
            platform_key_ready: AtomicBool::new(false),
        }
    }
}

/// Whose key seals the author's personal fields (IP, user agent) of a change.
#[derive(Clone)]
pub(crate) enum Person {
    /// No person acted, or they left no personal data (no IP, no user agent).
    Nobody,
    Key(Arc<PersonKey>),
    /// The person has no key yet: it is made in the change's transaction.
    New(UserId),
}

/// What a change's transaction seals its personal data with.
#[derive(Clone)]
pub(crate) struct Personal {
    pub author: Person,
    /// The platform's key, to open and make keys inside the transaction; `None` when none was
    /// installed (a change with personal data then fails rather than store it in the clear).
    cipher: Option<Arc<dyn PlatformCipher>>,
}

impl Personal {
    /// Sealing for a change with no author's personal data.
    pub(crate) fn nobody(db: &Db) -> Self {
        Self {
            author: Person::Nobody,
            cipher: db.personal.cipher.get().cloned(),
        }
    }

    fn cipher(&self) -> Result<&Arc<dyn PlatformCipher>, StoreError> {
        self.cipher.as_ref().ok_or_else(not_installed)
    }
}

fn not_installed() -> StoreError {
    StoreError::Config(
        "personal data cannot be sealed: no platform key was installed \
         (Db::seal_personal_data_with)"
            .into(),
    )
}

/// The context a personal field is sealed for: the column, and the tenant where there is one.
pub(crate) fn field(column: &str, tenant: Option<TenantId>) -> String {
    match tenant {
        Some(t) => format!("{column}\0{t}"),
        None => column.to_owned(),
    }
}

fn damaged(e: tenantry_kernel::Unexpected) -> StoreError {
    StoreError::Corrupt(format!("a person key: {e}"))
}

/// A connection keys are read or made on (either backend, in or out of a transaction).
pub(crate) trait KeyConn: Send {
    /// The key's stored (sealed) form, if it exists.
    fn stored_key(
        &mut self,
        key: KeyRef,
    ) -> impl std::future::Future<Output = Result<Option<String>, StoreError>> + Send;

    /// The first key of `email` (normalised), if it has one.
    fn address_key(
        &mut self,
        email: &str,
    ) -> impl std::future::Future<Output = Result<Option<(uuid::Uuid, String)>, StoreError>> + Send;

    /// Adds the key (an account's: unless it has one, two first changes at once agree on one).
    fn add_key(
        &mut self,
        key: KeyRef,
        email: Option<&str>,
        sealed: &str,
        at: DateTime<Utc>,
    ) -> impl std::future::Future<Output = Result<(), StoreError>> + Send;
}

macro_rules! key_conn {
    ($conn:ty, $schema:path) => {
        impl KeyConn for $conn {
            async fn stored_key(&mut self, key: KeyRef) -> Result<Option<String>, StoreError> {
                use schema::{address_keys, person_keys};
                use $schema as schema;
                Ok(match key {
                    KeyRef::Account(user) => person_keys::table
                        .find(DbUuid::from(user))
                        .select(person_keys::sealed_key)
                        .first::<String>(self)
                        .await
                        .optional()?,
                    KeyRef::Address(id) => address_keys::table
                        .find(DbUuid(id))
                        .select(address_keys::sealed_key)
                        .first::<String>(self)
                        .await
                        .optional()?,
                })
            }

            async fn address_key(
                &mut self,
                email: &str,
            ) -> Result<Option<(uuid::Uuid, String)>, StoreError> {
                use schema::address_keys;
                use $schema as schema;
                let found: Option<(DbUuid, String)> = address_keys::table
                    .filter(address_keys::email_normalized.eq(email))
                    .order((address_keys::created_at.asc(), address_keys::id.asc()))
                    .select((address_keys::id, address_keys::sealed_key))
                    .first(self)
                    .await
                    .optional()?;
                Ok(found.map(|(id, sealed)| (id.0, sealed)))
            }

            async fn add_key(
                &mut self,
                key: KeyRef,
                email: Option<&str>,
                sealed: &str,
                at: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                use schema::{address_keys, person_keys};
                use $schema as schema;
                match key {
                    KeyRef::Account(user) => {
                        diesel::insert_into(person_keys::table)
                            .values((
                                person_keys::user_id.eq(DbUuid::from(user)),
                                person_keys::sealed_key.eq(sealed),
                                person_keys::created_at.eq(at),
                            ))
                            .on_conflict_do_nothing()
                            .execute(self)
                            .await?;
                    }
                    KeyRef::Address(id) => {
                        diesel::insert_into(address_keys::table)
                            .values((
                                address_keys::id.eq(DbUuid(id)),
                                address_keys::email_normalized.eq(email.unwrap_or_default()),
                                address_keys::sealed_key.eq(sealed),
                                address_keys::created_at.eq(at),
                            ))
                            .execute(self)
                            .await?;
                    }
                }
                Ok(())
            }
        }
    };
}
key_conn!(diesel_async::AsyncPgConnection, crate::schema::pg);
key_conn!(SqliteConn, crate::schema::sqlite);

/// The key from its stored form.
async fn open_key(
    cipher: &Arc<dyn PlatformCipher>,
    key: KeyRef,
    sealed: &str,
) -> Result<PersonKey, StoreError> {
    let row = key.to_string();
    let bytes = cipher
        .open_platform(key_slot(key, &row), sealed)
        .await
        .map_err(damaged)?;
    PersonKey::from_bytes(key, &bytes).map_err(damaged)
}

/// A new key, sealed for storage.
async fn new_key(
    cipher: &Arc<dyn PlatformCipher>,
    key: KeyRef,
) -> Result<(PersonKey, String), StoreError> {
    let (made, bytes) = PersonKey::generate(key).map_err(damaged)?;
    let row = key.to_string();
    let sealed = cipher
        .seal_platform(key_slot(key, &row), bytes.as_ref())
        .await
        .map_err(damaged)?;
    Ok((made, sealed))
}

/// The account's key on `conn`: read, or made and added (within `conn`'s transaction).
async fn account_key_on<C: KeyConn>(
    conn: &mut C,
    cipher: &Arc<dyn PlatformCipher>,
    user: UserId,
) -> Result<PersonKey, StoreError> {
    let key = KeyRef::Account(user);
    if let Some(sealed) = conn.stored_key(key).await? {
        return open_key(cipher, key, &sealed).await;
    }
    let (_, sealed) = new_key(cipher, key).await?;
    conn.add_key(key, None, &sealed, Utc::now()).await?;
    // Another transaction may have added one first: use what is stored.
    let stored = conn
        .stored_key(key)
        .await?
        .ok_or_else(|| StoreError::Corrupt("a person key was not stored".into()))?;
    open_key(cipher, key, &stored).await
}

/// The first key of the address `email` on `conn`, or a new one added.
async fn address_key_on<C: KeyConn>(
    conn: &mut C,
    cipher: &Arc<dyn PlatformCipher>,
    email: &str,
) -> Result<PersonKey, StoreError> {
    if let Some((id, sealed)) = conn.address_key(email).await? {
        return open_key(cipher, KeyRef::Address(id), &sealed).await;
    }
    let key = KeyRef::Address(uuid::Uuid::now_v7());
    let (made, sealed) = new_key(cipher, key).await?;
    conn.add_key(key, Some(email), &sealed, Utc::now()).await?;
    Ok(made)
}

fn seal_value(key: &PersonKey, context: &str, value: &Value) -> Result<Value, StoreError> {
    Ok(match value {
        Value::Null => Value::Null,
        v => Value::String(key.seal(context, &v.to_string()).map_err(damaged)?),
    })
}

impl Personal {
    /// Each `(context, value)` sealed under the author's key (made now, on `conn`, when they
    /// have none); as they are for nobody.
    pub(crate) async fn seal_fields<C: KeyConn>(
        &self,
        conn: &mut C,
        fields: &[(&str, &Option<String>)],
    ) -> Result<Vec<Option<String>>, StoreError> {
        let key = match &self.author {
            Person::Nobody => return Ok(fields.iter().map(|(_, v)| (*v).clone()).collect()),
            Person::Key(k) => k.clone(),
            Person::New(user) => Arc::new(account_key_on(conn, self.cipher()?, *user).await?),
        };
        fields
            .iter()
            .map(|(context, value)| {
                value
                    .as_deref()
                    .map(|v| key.seal(context, v))
                    .transpose()
                    .map_err(damaged)
            })
            .collect()
    }

    /// A tenant change's `origin` with its IP and user agent sealed (see
    /// [`Personal::seal_fields`]).
    pub(crate) async fn seal_origin<C: KeyConn>(
        &self,
        conn: &mut C,
        origin: &Origin,
        tenant: TenantId,
    ) -> Result<Origin, StoreError> {
        let ip = field("audit_entries.ip", Some(tenant));
        let user_agent = field("audit_entries.user_agent", Some(tenant));
        let sealed = self
            .seal_fields(
                conn,
                &[(&ip, &origin.ip), (&user_agent, &origin.user_agent)],
            )
            .await?;
        let mut sealed = sealed.into_iter();
        Ok(Origin {
            request_id: origin.request_id.clone(),
            ip: sealed.next().flatten(),
            user_agent: sealed.next().flatten(),
        })
    }

    /// Seals, in each record about a subject (an invitee, a directory user), the subject's
    /// personal fields (their old and new values) under the key of the subject's address.
    pub(crate) async fn seal_subjects<C: KeyConn>(
        &self,
        conn: &mut C,
        records: &mut [ChangeRecord],
        tenant: TenantId,
    ) -> Result<(), StoreError> {
        for record in records.iter_mut() {
            let Some(subject) = &record.subject else {
                continue;
            };
            let key = address_key_on(conn, self.cipher()?, &subject.address).await?;
            for name in subject.fields {
                if let Some(change) = record.changes.get_mut(*name) {
                    let context = field(&format!("audit_entries.changes.{name}"), Some(tenant));
                    change.old = seal_value(&key, &context, &change.old)?;
                    change.new = seal_value(&key, &context, &change.new)?;
                }
            }
        }
        Ok(())
    }
}

impl Db {
    /// Seals personal data with keys sealed under `cipher` (the platform's): set once by the
    /// composition root. Until it is, a change with personal data fails rather than store it
    /// in the clear.
    pub fn seal_personal_data_with(&self, cipher: Arc<dyn PlatformCipher>) {
        let _ = self.personal.cipher.set(cipher);
    }

    /// The same pools without person keys: for the vault's key store (the vault seals the
    /// person keys, so a vault over this very handle would hold itself).
    pub fn key_store(&self) -> Self {
        let mut db = self.clone();
        db.personal = Arc::default();
        db
    }

    fn platform_cipher(&self) -> Result<&Arc<dyn PlatformCipher>, StoreError> {
        self.personal.cipher.get().ok_or_else(not_installed)
    }

    /// Makes the platform's own key if it does not exist yet — a write of its own, done before
    /// a change's transaction that may need it (SQLite has one writer).
    async fn platform_key_ready(&self) -> Result<(), StoreError> {
        if AtomicBool::load(&self.personal.platform_key_ready, Ordering::Relaxed) {
            return Ok(());
        }
        let cipher = self.platform_cipher()?;
        cipher
            .seal_platform(key_slot(KeyRef::Address(uuid::Uuid::nil()), "warm-up"), b"")
            .await
            .map_err(damaged)?;
        self.personal
            .platform_key_ready
            .store(true, Ordering::Relaxed);
        Ok(())
    }

    /// The key `key` names, read once per process; `None` once it is gone.
    async fn existing_key(&self, key: KeyRef) -> Result<Option<Arc<PersonKey>>, StoreError> {
        if let Some(k) = self.personal.keys.get(&key) {
            return Ok(Some(k));
        }
        let cipher = self.platform_cipher()?;
        let stored: Option<String> = run!(self, read, |conn| conn.stored_key(key).await?);
        let Some(sealed) = stored else {
            return Ok(None);
        };
        let opened = Arc::new(open_key(cipher, key, &sealed).await?);
        // Address keys are few and read rarely: never cached, so an erasure shows at once.
        if let KeyRef::Account(_) = key {
            self.personal.keys.insert(key, opened.clone());
        }
        Ok(Some(opened))
    }

    /// What seals the personal data of a change made by `person` (when `has_personal_data`:
    /// an IP, a user agent, an e-mail), and of the records' subjects.
    pub(crate) async fn person(
        &self,
        person: Option<UserId>,
        has_personal_data: bool,
    ) -> Result<Personal, StoreError> {
        let cipher = self.personal.cipher.get().cloned();
        if cipher.is_some() {
            self.platform_key_ready().await?;
        }
        let author = match person {
            Some(user) if has_personal_data => {
                match self.existing_key(KeyRef::Account(user)).await? {
                    Some(key) => Person::Key(key),
                    None => Person::New(user),
                }
            }
            _ => Person::Nobody,
        };
        Ok(Personal { author, cipher })
    }

    /// [`Db::person`] of a tenant change: the person at the keyboard.
    pub(crate) async fn person_of(&self, ctx: &TenantCtx) -> Result<Personal, StoreError> {
        let origin = ctx.origin();
        let has_personal_data = origin.ip.is_some() || origin.user_agent.is_some();
        self.person(ctx.actor().person(), has_personal_data).await
    }

    /// A stored personal field as it reads: open, [`ERASED`] when its key is gone, as it is
    /// when it was never sealed.
    pub(crate) async fn read_personal(
        &self,
        stored: Option<String>,
        context: &str,
    ) -> Result<Option<String>, StoreError> {
        let Some(stored) = stored else {
            return Ok(None);
        };
        let Stored::Sealed { key, body } = Stored::parse(&stored) else {
            return Ok(Some(stored));
        };
        Ok(Some(match self.existing_key(key).await? {
            // Text that only looks sealed (a client's own user agent, say) reads as it was
            // stored: only what the key itself sealed opens.
            Some(k) => k.open(context, body).unwrap_or(stored),
            None => ERASED.to_owned(),
        }))
    }

    /// An audit entry's `changes` as they read: each sealed value opened (back to its JSON
    /// value), or [`ERASED`].
    pub(crate) async fn read_changes(
        &self,
        changes: String,
        tenant: TenantId,
    ) -> Result<String, StoreError> {
        if !Stored::may_hold_sealed(&changes) {
            return Ok(changes);
        }
        let Ok(Value::Object(mut map)) = serde_json::from_str::<Value>(&changes) else {
            return Ok(changes);
        };
        for (name, change) in map.iter_mut() {
            let context = field(&format!("audit_entries.changes.{name}"), Some(tenant));
            for side in ["old", "new"] {
                let Some(Value::String(text)) = change.get(side) else {
                    continue;
                };
                let Stored::Sealed { .. } = Stored::parse(text) else {
                    continue;
                };
                let opened = self
                    .read_personal(Some(text.clone()), &context)
                    .await?
                    .unwrap_or_default();
                let value = if opened == ERASED {
                    Value::String(opened)
                } else {
                    serde_json::from_str(&opened).unwrap_or(Value::String(opened))
                };
                change[side] = value;
            }
        }
        Ok(Value::Object(map).to_string())
    }

    /// This process forgets `user`'s key (their account is gone).
    pub(crate) fn forget_person(&self, user: UserId) {
        self.personal.keys.invalidate(&KeyRef::Account(user));
    }
}

/// Deletes, on `$conn`, the keys of the address `$email` (normalised): what an erased
/// account's address had sealed under it (invitations, directory records) reads `erased`.
macro_rules! forget_address {
    ($conn:ident, $email:expr) => {{
        diesel::delete(address_keys::table.filter(address_keys::email_normalized.eq($email)))
            .execute($conn)
            .await?
    }};
}
pub(crate) use forget_address;
