//! Tenant files: uploads streamed to object storage under `tenants/<tenant>/<file>`, their
//! kind sniffed from the content and checked against an allowlist, their size limited by the
//! plan and counted against the `storage_bytes` quota; downloads streamed, in ranges.

pub mod buckets;
pub mod error;
pub mod model;
pub mod ports;
pub mod service;
pub mod sniff;
pub mod view;

pub use buckets::*;
pub use error::*;
pub use model::*;
pub use ports::*;
pub use service::{BucketError, BucketService, FileService, Upload};
pub use view::FileView;
