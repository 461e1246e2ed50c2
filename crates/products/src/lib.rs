//! Products: a tenant's catalogue. The example resource to copy (see
//! `docs/adding-a-resource.md`): valid-by-construction fields, one error enum per operation,
//! a repository port that the store implements through the mutation pipeline, and a service.

pub mod error;
pub mod images;
pub mod import;
pub mod model;
pub mod ports;
pub mod service;
pub mod view;

pub use error::*;
pub use images::{ImageError, MAX_IMAGES, ProductImage, ProductImageView};
pub use import::{ImportRow, MAX_IMPORT_ROWS, RowError};
pub use model::*;
pub use ports::*;
pub use service::ProductService;
pub use view::ProductView;
