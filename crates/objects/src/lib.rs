//! The files' storage port over `object_store`: a directory on local disk (the default,
//! `./data/files`) or an S3-compatible bucket. Uploads go out in parts as they arrive and
//! downloads stream, so memory stays bounded whatever a file's size.

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
use tenantry_files::{ByteStream, FileName, ObjectStorage, ObjectWriter, StorageError};
use tenantry_kernel::TenantCtx;
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

/// The platform's storage: every tenant's files in one store, under `tenants/<tenant>/`.
#[derive(Clone, Debug)]
pub struct Storage {
    default: Backend,
}

impl Storage {
    pub fn new(default: Backend) -> Self {
        Self { default }
    }

    fn backend(&self, _ctx: &TenantCtx) -> &Backend {
        &self.default
    }
}

impl ObjectStorage for Storage {
    fn writer<'a>(
        &'a self,
        ctx: &'a TenantCtx,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Box<dyn ObjectWriter>, StorageError>> {
        self.backend(ctx).writer(key).boxed()
    }

    fn read<'a>(
        &'a self,
        ctx: &'a TenantCtx,
        key: &'a str,
        range: Option<Range<u64>>,
    ) -> BoxFuture<'a, Result<ByteStream, StorageError>> {
        self.backend(ctx).read(key, range).boxed()
    }

    fn delete<'a>(
        &'a self,
        ctx: &'a TenantCtx,
        key: &'a str,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        self.backend(ctx).delete(key).boxed()
    }

    fn presign<'a>(
        &'a self,
        ctx: &'a TenantCtx,
        key: &'a str,
        expires_in: Duration,
        content_type: &'a str,
        filename: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, StorageError>> {
        self.backend(ctx)
            .presign(key, expires_in, content_type, filename)
            .boxed()
    }
}
