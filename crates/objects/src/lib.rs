//! The files' storage port over `object_store`: a directory on local disk (the default,
//! `./data/files`) or an S3-compatible bucket. Uploads go out in parts as they arrive and
//! downloads stream, so memory stays bounded whatever a file's size.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path as FsPath;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::signer::{Method, SignedUrlOptions, Signer};
use object_store::{
    ClientOptions, GetOptions, GetResultPayload, ObjectStore, ObjectStoreExt, WriteMultipart,
};
use tenantry_files::{
    BucketAccess, BucketLookup, BucketProbe, ByteStream, FileName, Location, ObjectStorage,
    ObjectWriter, StorageError,
};
use tenantry_kernel::{BucketId, TenantCtx, TenantId};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// Where an S3-compatible bucket is and how to sign in to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Config {
    /// `https://s3.eu-west-1.amazonaws.com`, `http://127.0.0.1:9000`…; `None`: AWS itself.
    pub endpoint: Option<String>,
    pub region: String,
    pub bucket: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// One store: a directory or a bucket.
#[derive(Clone, Debug)]
pub enum Backend {
    Local(Arc<LocalFileSystem>),
    S3(Arc<AmazonS3>),
}

/// Bytes per part of a multipart upload (S3's parts are at least 5 MiB, but the last).
const S3_PART: usize = 5 << 20;
/// Local parts are written as they come; smaller parts hold less memory.
const LOCAL_PART: usize = 1 << 20;
/// Reads from local disk, per chunk.
const LOCAL_READ: usize = 256 << 10;

impl Backend {
    /// A directory on local disk (made if missing).
    pub fn local(dir: &FsPath) -> Result<Self, StorageError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StorageError::Failed(format!("{}: {e}", dir.display())))?;
        let fs = LocalFileSystem::new_with_prefix(dir)
            .map_err(failed)?
            .with_automatic_cleanup(true);
        Ok(Self::Local(Arc::new(fs)))
    }

    /// A bucket. Needs the rustls provider installed (the binary does so at start).
    pub fn s3(config: &S3Config) -> Result<Self, StorageError> {
        Self::s3_through(config, None)
    }

    /// A bucket reached through `client` (a tenant's: one whose resolver checks every
    /// address), or object_store's own client.
    pub fn s3_through(
        config: &S3Config,
        client: Option<reqwest::Client>,
    ) -> Result<Self, StorageError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = AmazonS3Builder::new()
            .with_region(&config.region)
            .with_bucket_name(&config.bucket)
            .with_access_key_id(&config.access_key_id)
            .with_secret_access_key(&config.secret_access_key)
            // A whole request (a 1 GiB download) may take long; silence may not.
            .with_client_options(
                ClientOptions::new()
                    .with_timeout_disabled()
                    .with_connect_timeout(Duration::from_secs(5))
                    .with_read_timeout(Duration::from_secs(60)),
            );
        if let Some(endpoint) = &config.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        if let Some(client) = client {
            // A tenant's endpoint: a few retries, not object_store's ten over three minutes.
            builder =
                builder
                    .with_http_connector(Shared(client))
                    .with_retry(object_store::RetryConfig {
                        max_retries: 3,
                        retry_timeout: Duration::from_secs(30),
                        ..Default::default()
                    });
        }
        Ok(Self::S3(Arc::new(builder.build().map_err(failed)?)))
    }

    fn store(&self) -> &dyn ObjectStore {
        match self {
            Self::Local(fs) => fs.as_ref(),
            Self::S3(s3) => s3.as_ref(),
        }
    }

    fn part_size(&self) -> usize {
        match self {
            Self::Local(_) => LOCAL_PART,
            Self::S3(_) => S3_PART,
        }
    }

    /// Writes and reads back a small object, then removes it: proves the location and the
    /// credentials before anything relies on them.
    pub async fn probe(&self, key: &str) -> Result<(), StorageError> {
        let path = path(key)?;
        let body = Bytes::from_static(b"tenantry storage check");
        let store = self.store();
        store
            .put(&path, body.clone().into())
            .await
            .map_err(failed)?;
        let back = store.get(&path).await.map_err(failed)?.bytes().await;
        let _ = store.delete(&path).await;
        if back.map_err(failed)? != body {
            return Err(StorageError::Failed(
                "the object read back differs from the one written".to_owned(),
            ));
        }
        Ok(())
    }

    pub async fn writer(&self, key: &str) -> Result<Box<dyn ObjectWriter>, StorageError> {
        let upload = self
            .store()
            .put_multipart(&path(key)?)
            .await
            .map_err(failed)?;
        Ok(Box::new(Writer(WriteMultipart::new_with_chunk_size(
            upload,
            self.part_size(),
        ))))
    }

    pub async fn read(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<ByteStream, StorageError> {
        let options = GetOptions::new().with_range(range.map(object_store::GetRange::Bounded));
        let got = self
            .store()
            .get_opts(&path(key)?, options)
            .await
            .map_err(failed)?;
        let served = got.range.clone();
        match got.payload {
            // Large reads on a blocking thread each instead of object_store's 8 KiB ones.
            GetResultPayload::File(file, _) => {
                let mut file = tokio::fs::File::from_std(file);
                file.seek(std::io::SeekFrom::Start(served.start))
                    .await
                    .map_err(io)?;
                Ok(file_stream(file.take(served.end - served.start)))
            }
            payload @ GetResultPayload::Stream(_) => {
                let got = object_store::GetResult { payload, ..got };
                Ok(got.into_stream().map_err(failed).boxed())
            }
        }
    }

    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match self.store().delete(&path(key)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(failed(e)),
        }
    }

    pub async fn presign(
        &self,
        key: &str,
        expires_in: Duration,
        content_type: &str,
        filename: &str,
    ) -> Result<Option<String>, StorageError> {
        let Self::S3(s3) = self else {
            return Ok(None);
        };
        let options = SignedUrlOptions::default().with_query([
            ("response-content-type", content_type.to_owned()),
            (
                "response-content-disposition",
                FileName::attachment_header(filename),
            ),
        ]);
        let url = s3
            .signed_url_opts(Method::GET, &path(key)?, expires_in, &options)
            .await
            .map_err(failed)?;
        Ok(Some(url.to_string()))
    }
}

fn file_stream(file: tokio::io::Take<tokio::fs::File>) -> ByteStream {
    futures_util::stream::try_unfold(file, |mut file| async move {
        let mut buf = Vec::with_capacity(LOCAL_READ);
        let n = (&mut file)
            .take(LOCAL_READ as u64)
            .read_to_end(&mut buf)
            .await
            .map_err(io)?;
        Ok((n > 0).then(|| (Bytes::from(buf), file)))
    })
    .boxed()
}

fn path(key: &str) -> Result<Path, StorageError> {
    Path::parse(key).map_err(|e| StorageError::Failed(format!("object key {key}: {e}")))
}

fn io(e: std::io::Error) -> StorageError {
    StorageError::Failed(e.to_string())
}

fn failed(e: object_store::Error) -> StorageError {
    match e {
        object_store::Error::NotFound { .. } => StorageError::NotFound,
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => StorageError::Denied(e.to_string()),
        other => StorageError::Failed(other.to_string()),
    }
}

/// object_store's requests through a client of ours.
#[derive(Debug)]
struct Shared(reqwest::Client);

impl object_store::client::HttpConnector for Shared {
    fn connect(&self, _: &ClientOptions) -> object_store::Result<object_store::client::HttpClient> {
        Ok(object_store::client::HttpClient::new(self.0.clone()))
    }
}

/// A multipart upload: parts are sent as they fill, one in flight while the next fills.
struct Writer(WriteMultipart);

impl ObjectWriter for Writer {
    fn write(&mut self, chunk: Bytes) -> BoxFuture<'_, Result<(), StorageError>> {
        async move {
            self.0.wait_for_capacity(1).await.map_err(failed)?;
            self.0.put(chunk);
            Ok(())
        }
        .boxed()
    }

    fn finish(self: Box<Self>) -> BoxFuture<'static, Result<(), StorageError>> {
        async move { self.0.finish().await.map(drop).map_err(failed) }.boxed()
    }

    fn abort(self: Box<Self>) -> BoxFuture<'static, ()> {
        async move {
            if let Err(e) = self.0.abort().await {
                tracing::warn!(error = %e, "an aborted upload could not be cleaned up");
            }
        }
        .boxed()
    }
}

/// Whether a tenant's endpoint may be reached at this address (the outbound guard).
pub type AddressCheck = Arc<dyn Fn(std::net::IpAddr) -> Result<(), String> + Send + Sync>;

/// How tenants' own buckets are reached: through `client` (its resolver checks every address
/// a name resolves to), with literal addresses checked by `check`.
#[derive(Clone)]
pub struct TenantReach {
    pub client: reqwest::Client,
    pub check: AddressCheck,
}

impl TenantReach {
    /// A backend for a tenant's bucket: refused when its endpoint is a literal address the
    /// guard does not allow.
    pub fn backend(&self, access: &BucketAccess) -> Result<Backend, StorageError> {
        if let Some(endpoint) = &access.endpoint {
            let host = endpoint
                .split_once("://")
                .map_or(endpoint.as_str(), |(_, rest)| rest);
            let host = host.split('/').next().unwrap_or(host);
            let host = match host.rsplit_once(':') {
                Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
                _ => host,
            };
            let host = host.trim_start_matches('[').trim_end_matches(']');
            if let Ok(ip) = host.parse::<std::net::IpAddr>() {
                (self.check)(ip).map_err(|why| {
                    StorageError::Denied(format!("the endpoint's address is not allowed: {why}"))
                })?;
            }
        }
        Backend::s3_through(
            &S3Config {
                endpoint: access.endpoint.clone(),
                region: access.region.clone(),
                bucket: access.bucket.clone(),
                access_key_id: access.access_key_id.clone(),
                secret_access_key: access.secret_access_key.clone(),
            },
            Some(self.client.clone()),
        )
    }
}

/// How long checking a tenant's bucket may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(8);

/// Checks a tenant's bucket settings with a test object before they are saved.
#[derive(Clone)]
pub struct Prober(pub TenantReach);

impl BucketProbe for Prober {
    fn probe<'a>(&'a self, access: &'a BucketAccess) -> BoxFuture<'a, Result<(), StorageError>> {
        async move {
            let backend = self.0.backend(access)?;
            // A save waits for this: an endpoint that does not answer is a refusal, not a
            // request hanging through object_store's retries.
            tokio::time::timeout(PROBE_TIMEOUT, backend.probe("tenantry-check/write-test"))
                .await
                .map_err(|_| {
                    StorageError::Failed(format!(
                        "no answer within {} seconds",
                        PROBE_TIMEOUT.as_secs()
                    ))
                })?
        }
        .boxed()
    }
}

/// Where files' content is: the platform's store, and tenants' own buckets (each record
/// opened once, then kept: records never change, a new save is a new record).
#[derive(Clone)]
pub struct Storage {
    default: Backend,
    tenants: Option<(Arc<dyn BucketLookup>, TenantReach)>,
    opened: Arc<std::sync::Mutex<HashMap<(TenantId, BucketId), Backend>>>,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("default", &self.default)
            .finish_non_exhaustive()
    }
}

impl Storage {
    pub fn new(default: Backend) -> Self {
        Self {
            default,
            tenants: None,
            opened: Arc::default(),
        }
    }

    /// With tenants' own buckets, opened through `lookup` and reached through `reach`.
    pub fn with_tenant_buckets(
        mut self,
        lookup: Arc<dyn BucketLookup>,
        reach: TenantReach,
    ) -> Self {
        self.tenants = Some((lookup, reach));
        self
    }

    async fn backend(&self, ctx: &TenantCtx, at: Location) -> Result<Backend, StorageError> {
        let Some(id) = at else {
            return Ok(self.default.clone());
        };
        let key = (ctx.tenant_id(), id);
        if let Some(b) = self.opened.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(b);
        }
        let Some((lookup, reach)) = &self.tenants else {
            return Err(StorageError::Failed(
                "tenants' buckets are not set up here".into(),
            ));
        };
        let access = lookup
            .access(ctx, id)
            .await
            .map_err(|e| StorageError::Failed(e.into_inner().to_string()))?
            // A retired record dropped once no file was in it.
            .ok_or(StorageError::NotFound)?;
        let backend = reach.backend(&access)?;
        if let Ok(mut m) = self.opened.lock() {
            m.insert(key, backend.clone());
        }
        Ok(backend)
    }
}

impl ObjectStorage for Storage {
    fn writer<'a>(
        &'a self,
        ctx: &'a TenantCtx,
        at: Location,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Box<dyn ObjectWriter>, StorageError>> {
        async move { self.backend(ctx, at).await?.writer(key).await }.boxed()
    }

    fn read<'a>(
        &'a self,
        ctx: &'a TenantCtx,
        at: Location,
        key: &'a str,
        range: Option<Range<u64>>,
    ) -> BoxFuture<'a, Result<ByteStream, StorageError>> {
        async move { self.backend(ctx, at).await?.read(key, range).await }.boxed()
    }

    fn delete<'a>(
        &'a self,
        ctx: &'a TenantCtx,
        at: Location,
        key: &'a str,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        async move { self.backend(ctx, at).await?.delete(key).await }.boxed()
    }

    fn presign<'a>(
        &'a self,
        ctx: &'a TenantCtx,
        at: Location,
        key: &'a str,
        expires_in: Duration,
        content_type: &'a str,
        filename: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, StorageError>> {
        async move {
            self.backend(ctx, at)
                .await?
                .presign(key, expires_in, content_type, filename)
                .await
        }
        .boxed()
    }
}
