//! Person keys: the personal fields of append-only records (the IP and user agent of a
//! person's audit entries, the e-mail, IP and user agent of their security events) are sealed
//! under a key of that person ([`tenantry_secrets::PersonKey`]), kept in `person_keys` sealed
//! under the platform's data key. The key goes with the account (`ON DELETE CASCADE`), and
//! with it every copy of those fields: they read [`tenantry_secrets::ERASED`], while the
//! records and the audit chain's hashes over them stay as stored.
//!
//! A change's person key is looked up before its transaction (cached per process once read);
//! a person's first key is made inside the transaction of their first change, after the
//! account's row exists there, so a key is never made for an account deleted meanwhile.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use tenantry_kernel::{Origin, PlatformCipher, TenantCtx, UserId};
use tenantry_secrets::{ERASED, PersonKey, Stored, person_key_slot};

use crate::db::{Db, SqliteConn};
use crate::error::StoreError;
use crate::types::DbUuid;

/// How long a process keeps a person's key once read: another instance's erasure reaches
/// this one's reads within it (what is sealed after the erasure is unreadable at once).
const KEPT: Duration = Duration::from_secs(600);

/// The person keys this process has read, and how to open them.
pub(crate) struct PersonKeys {
    cipher: OnceLock<Arc<dyn PlatformCipher>>,
    keys: moka::sync::Cache<UserId, Arc<PersonKey>>,
}

impl Default for PersonKeys {
    fn default() -> Self {
        Self {
            cipher: OnceLock::new(),
            keys: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(KEPT)
                .build(),
        }
    }
}

/// Whose key seals a change's personal fields.
#[derive(Clone)]
pub(crate) enum Person {
    /// No person acted, or they left no personal data (no IP, no user agent).
    Nobody,
    Key(Arc<PersonKey>),
    /// The person has no key yet: it is made in the change's transaction.
    New {
        user: UserId,
        cipher: Arc<dyn PlatformCipher>,
    },
}

/// The context a personal field is sealed for: the column, and the tenant where there is one.
pub(crate) fn field(column: &str, tenant: Option<tenantry_kernel::TenantId>) -> String {
    match tenant {
        Some(t) => format!("{column}\0{t}"),
        None => column.to_owned(),
    }
}

fn damaged(e: tenantry_kernel::Unexpected) -> StoreError {
    StoreError::Corrupt(format!("a person key: {e}"))
}

/// One body for both backends: the person's stored (sealed) key, if any.
macro_rules! stored_key {
    ($conn:ident, $user:expr) => {{
        person_keys::table
            .find(DbUuid::from($user))
            .select(person_keys::sealed_key)
            .first::<String>($conn)
            .await
            .optional()?
    }};
}

/// A connection a person key is read or made on (either backend, in or out of a
/// transaction).
pub(crate) trait KeyConn: Send {
    fn stored_key(
        &mut self,
        user: UserId,
    ) -> impl std::future::Future<Output = Result<Option<String>, StoreError>> + Send;

    /// Adds the key unless the person has one (two first changes at once agree on one).
    fn add_key(
        &mut self,
        user: UserId,
        sealed: &str,
        at: DateTime<Utc>,
    ) -> impl std::future::Future<Output = Result<(), StoreError>> + Send;
}

macro_rules! key_conn {
    ($conn:ty, $schema:path) => {
        impl KeyConn for $conn {
            async fn stored_key(&mut self, user: UserId) -> Result<Option<String>, StoreError> {
                use schema::person_keys;
                use $schema as schema;
                let conn = self;
                Ok(stored_key!(conn, user))
            }

            async fn add_key(
                &mut self,
                user: UserId,
                sealed: &str,
                at: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                use schema::person_keys;
                use $schema as schema;
                diesel::insert_into(person_keys::table)
                    .values((
                        person_keys::user_id.eq(DbUuid::from(user)),
                        person_keys::sealed_key.eq(sealed),
                        person_keys::created_at.eq(at),
                    ))
                    .on_conflict_do_nothing()
                    .execute(self)
                    .await?;
                Ok(())
            }
        }
    };
}
key_conn!(diesel_async::AsyncPgConnection, crate::schema::pg);
key_conn!(SqliteConn, crate::schema::sqlite);

/// The person's key from its stored form.
async fn open_key(
    cipher: &Arc<dyn PlatformCipher>,
    user: UserId,
    sealed: &str,
) -> Result<PersonKey, StoreError> {
    let row = user.to_string();
    let bytes = cipher
        .open_platform(person_key_slot(&row), sealed)
        .await
        .map_err(damaged)?;
    PersonKey::from_bytes(user, &bytes).map_err(damaged)
}

impl Person {
    /// Each `(context, value)` sealed under this person's key (made now, on `conn`, when
    /// they have none); as they are for nobody.
    pub(crate) async fn seal_fields<C: KeyConn>(
        &self,
        conn: &mut C,
        fields: &[(&str, &Option<String>)],
    ) -> Result<Vec<Option<String>>, StoreError> {
        let key = match self {
            Self::Nobody => return Ok(fields.iter().map(|(_, v)| (*v).clone()).collect()),
            Self::Key(k) => k.clone(),
            Self::New { user, cipher } => Arc::new(key_on(conn, cipher, *user).await?),
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

    /// A tenant change's `origin` with its IP and user agent sealed (see [`Person::seal_fields`]).
    pub(crate) async fn seal_origin<C: KeyConn>(
        &self,
        conn: &mut C,
        origin: &Origin,
        tenant: tenantry_kernel::TenantId,
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
}

/// The person's key on `conn`: read, or made and added (within `conn`'s transaction).
async fn key_on<C: KeyConn>(
    conn: &mut C,
    cipher: &Arc<dyn PlatformCipher>,
    user: UserId,
) -> Result<PersonKey, StoreError> {
    if let Some(sealed) = conn.stored_key(user).await? {
        return open_key(cipher, user, &sealed).await;
    }
    let (_, bytes) = PersonKey::generate(user).map_err(damaged)?;
    let row = user.to_string();
    let sealed = cipher
        .seal_platform(person_key_slot(&row), bytes.as_ref())
        .await
        .map_err(damaged)?;
    conn.add_key(user, &sealed, Utc::now()).await?;
    // Another transaction may have added one first: use what is stored.
    let stored = conn
        .stored_key(user)
        .await?
        .ok_or_else(|| StoreError::Corrupt("a person key was not stored".into()))?;
    open_key(cipher, user, &stored).await
}

impl Db {
    /// Seals personal data with person keys sealed under `cipher` (the platform's): set once by
    /// the composition root. Until it is, a change with personal data fails rather than store
    /// it in the clear.
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
        self.personal.cipher.get().ok_or_else(|| {
            StoreError::Config(
                "personal data cannot be sealed: no platform key was installed \
                 (Db::seal_personal_data_with)"
                    .into(),
            )
        })
    }

    /// The person key `user` has, read once per process.
    async fn existing_key(&self, user: UserId) -> Result<Option<Arc<PersonKey>>, StoreError> {
        if let Some(k) = self.personal.keys.get(&user) {
            return Ok(Some(k));
        }
        let cipher = self.platform_cipher()?;
        let stored: Option<String> = run!(self, |conn| conn.stored_key(user).await?);
        let Some(sealed) = stored else {
            return Ok(None);
        };
        let key = Arc::new(open_key(cipher, user, &sealed).await?);
        self.personal.keys.insert(user, key.clone());
        Ok(Some(key))
    }

    /// Whose key seals the personal data `origin` gives a change made by `person` (any of
    /// its fields set means there is some).
    pub(crate) async fn person(
        &self,
        person: Option<UserId>,
        origin: &Origin,
    ) -> Result<Person, StoreError> {
        let Some(user) = person else {
            return Ok(Person::Nobody);
        };
        if origin.ip.is_none() && origin.user_agent.is_none() {
            return Ok(Person::Nobody);
        }
        if let Some(key) = self.existing_key(user).await? {
            return Ok(Person::Key(key));
        }
        let cipher = self.platform_cipher()?.clone();
        // Sealing the new key may first make the platform's own key, a write of its own: make
        // it now, not inside the change's transaction (SQLite has one writer).
        let row = user.to_string();
        cipher
            .seal_platform(person_key_slot(&row), b"")
            .await
            .map_err(damaged)?;
        Ok(Person::New { user, cipher })
    }

    /// [`Db::person`] of a tenant change: the person at the keyboard.
    pub(crate) async fn person_of(&self, ctx: &TenantCtx) -> Result<Person, StoreError> {
        self.person(ctx.actor().person(), ctx.origin()).await
    }

    /// A stored personal field as it reads: open, [`ERASED`] when its person's key is gone,
    /// as it is when it was never sealed.
    pub(crate) async fn read_personal(
        &self,
        stored: Option<String>,
        context: &str,
    ) -> Result<Option<String>, StoreError> {
        let Some(stored) = stored else {
            return Ok(None);
        };
        let Stored::Sealed { person, body } = Stored::parse(&stored) else {
            return Ok(Some(stored));
        };
        Ok(Some(match self.existing_key(person).await? {
            Some(key) => key.open(context, body).map_err(damaged)?,
            None => ERASED.to_owned(),
        }))
    }

    /// This process forgets `user`'s key (their account is gone).
    pub(crate) fn forget_person(&self, user: UserId) {
        self.personal.keys.invalidate(&user);
    }
}
