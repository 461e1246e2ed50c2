//! A tenant's own bucket (plan feature `dedicated_storage`): an S3-compatible endpoint,
//! region, bucket and credentials. Each save is a new, immutable record that becomes the
//! tenant's current one; files name the record they live in (none: the platform's store), so
//! reads follow each file wherever it is while a move job brings them all to the current one.

use std::future::Future;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use serde::Serialize;
use tenantry_kernel::{BucketId, SecretSlot, TenantCtx, TenantId, Unexpected};
use utoipa::ToSchema;

use crate::model::{InvalidValue, StoredFile};
use crate::ports::StorageError;

/// A bucket's settings as stored (the secret sealed beside them, never here).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BucketSettings {
    pub id: BucketId,
    #[serde(skip)]
    pub tenant_id: TenantId,
    /// `None`: AWS itself.
    pub endpoint: Option<String>,
    pub region: String,
    pub bucket: String,
    pub access_key_id: String,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub created_at: DateTime<Utc>,
}

/// The settings with the secret opened: what storage connects with.
#[derive(Clone, PartialEq, Eq)]
pub struct BucketAccess {
    pub endpoint: Option<String>,
    pub region: String,
    pub bucket: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for BucketAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BucketAccess")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .finish_non_exhaustive()
    }
}

/// The tenant's bucket as the API shows it: never the secret.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BucketView {
    #[schema(example = "https://s3.eu-central-1.amazonaws.com")]
    pub endpoint: Option<String>,
    #[schema(example = "eu-central-1")]
    pub region: String,
    #[schema(example = "acme-files")]
    pub bucket: String,
    #[schema(example = "AKIAIOSFODNN7EXAMPLE")]
    pub access_key_id: String,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub created_at: DateTime<Utc>,
}

impl From<&BucketSettings> for BucketView {
    fn from(b: &BucketSettings) -> Self {
        Self {
            endpoint: b.endpoint.clone(),
            region: b.region.clone(),
            bucket: b.bucket.clone(),
            access_key_id: b.access_key_id.clone(),
            created_at: b.created_at,
        }
    }
}

impl tenantry_audit::Audited for BucketSettings {
    const ENTITY: &'static str = "storage_bucket";
    const EVENT_ACTIONS: &'static [&'static str] = &[
        tenantry_audit::actions::CREATED,
        tenantry_audit::actions::DELETED,
    ];
    type View = BucketView;

    fn audit_id(&self) -> String {
        self.id.to_string()
    }

    fn audit_fields(&self) -> serde_json::Value {
        tenantry_audit::without(self.event_object(), &["created_at"])
    }
}

/// Where the secret is sealed: bound to its record.
pub fn secret_slot(id: &str) -> SecretSlot<'_> {
    SecretSlot {
        table: "tenant_buckets",
        column: "secret",
        row: id,
    }
}

/// New settings, each field already valid.
#[derive(Clone, PartialEq, Eq)]
pub struct BucketDraft {
    pub access: BucketAccess,
}

impl BucketDraft {
    /// Checks every field: an `http(s)://host[:port]` endpoint (no path), a region of
    /// lower-case letters, digits and `-`, a bucket name as S3 names them, and credentials.
    pub fn parse(access: BucketAccess) -> Result<Self, Vec<(&'static str, InvalidValue)>> {
        let mut errors = vec![];
        if let Some(e) = &access.endpoint {
            let rest = e
                .strip_prefix("https://")
                .or_else(|| e.strip_prefix("http://"));
            let ok = rest.is_some_and(|r| {
                let host = r.trim_end_matches('/');
                !host.is_empty()
                    && host.len() <= 253
                    && host
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
            });
            if !ok {
                errors.push((
                    "endpoint",
                    InvalidValue("an http:// or https:// URL of a host and port, no path".into()),
                ));
            }
        }
        let region_ok = (1..=64).contains(&access.region.len())
            && access
                .region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !region_ok {
            errors.push((
                "region",
                InvalidValue("1 to 64 lower-case letters, digits and '-'".into()),
            ));
        }
        let b = access.bucket.as_bytes();
        let bucket_ok = (3..=63).contains(&b.len())
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b".-".contains(c))
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric();
        if !bucket_ok {
            errors.push((
                "bucket",
                InvalidValue(
                    "3 to 63 lower-case letters, digits, '.' and '-', starting and ending with a \
                     letter or digit"
                        .into(),
                ),
            ));
        }
        let printable = |s: &str, max: usize| {
            (1..=max).contains(&s.len()) && s.bytes().all(|c| c.is_ascii_graphic())
        };
        if !printable(&access.access_key_id, 128) {
            errors.push((
                "access_key_id",
                InvalidValue("1 to 128 printable characters".into()),
            ));
        }
        if !printable(&access.secret_access_key, 256) {
            errors.push((
                "secret_access_key",
                InvalidValue("1 to 256 printable characters".into()),
            ));
        }
        if errors.is_empty() {
            Ok(Self {
                access: BucketAccess {
                    endpoint: access.endpoint.map(|e| e.trim_end_matches('/').to_owned()),
                    ..access
                },
            })
        } else {
            Err(errors)
        }
    }
}

/// How far moving the tenant's files to its current store has come.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct MoveState {
    /// The tenant's files.
    pub files: u64,
    /// Those not yet in the current store (0: done).
    pub to_move: u64,
}

/// Checks settings before they are saved: a test object written, read back and removed.
pub trait BucketProbe: Send + Sync + 'static {
    fn probe<'a>(&'a self, access: &'a BucketAccess) -> BoxFuture<'a, Result<(), StorageError>>;
}

/// The store's part.
pub trait BucketRepository: Clone + Send + Sync + 'static {
    /// The tenant's current bucket, if it has one.
    fn current_bucket(
        &self,
        ctx: &TenantCtx,
    ) -> impl Future<Output = Result<Option<BucketSettings>, Unexpected>> + Send;

    /// One of the tenant's bucket records (current or not yet emptied) and its sealed
    /// secret.
    fn bucket(
        &self,
        ctx: &TenantCtx,
        id: BucketId,
    ) -> impl Future<Output = Result<Option<(BucketSettings, String)>, Unexpected>> + Send;

    /// Makes `bucket` the current one (the previous stays until no file is in it) and queues
    /// the move of every file to it, in one transaction.
    fn save_bucket(
        &self,
        ctx: &TenantCtx,
        bucket: &BucketSettings,
        sealed_secret: &str,
    ) -> impl Future<Output = Result<(), Unexpected>> + Send;

    /// Back to the platform's store: the current record is retired and the move queued;
    /// `None` when there was none.
    fn clear_bucket(
        &self,
        ctx: &TenantCtx,
    ) -> impl Future<Output = Result<Option<BucketSettings>, Unexpected>> + Send;

    fn move_state(
        &self,
        ctx: &TenantCtx,
    ) -> impl Future<Output = Result<MoveState, Unexpected>> + Send;

    /// Up to `limit` files not in the current store, and where that is (`None`: the
    /// platform's).
    fn misplaced_files(
        &self,
        ctx: &TenantCtx,
        limit: u32,
    ) -> impl Future<Output = Result<(Option<BucketId>, Vec<StoredFile>), Unexpected>> + Send;

    /// Removes retired records no file lives in any more.
    fn drop_empty_buckets(
        &self,
        ctx: &TenantCtx,
    ) -> impl Future<Output = Result<(), Unexpected>> + Send;
}
