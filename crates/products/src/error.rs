//! One error enum per operation.

use tenantry_kernel::{QuotaError, Unexpected};
use thiserror::Error;

use crate::import::RowError;
use crate::model::InvalidValue;

#[derive(Debug, Error)]
pub enum CreateProductError {
    #[error("a product with sku '{sku}' already exists")]
    DuplicateSku { sku: String },
    #[error(transparent)]
    Quota(#[from] QuotaError),
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

#[derive(Debug, Error)]
pub enum UpdateProductError {
    #[error("product not found")]
    NotFound,
    #[error("a product with sku '{sku}' already exists")]
    DuplicateSku { sku: String },
    #[error("{0}")]
    Invalid(InvalidValue),
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

#[derive(Debug, Error)]
pub enum DeleteProductError {
    #[error("product not found")]
    NotFound,
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

#[derive(Debug, Error)]
pub enum BulkImportError {
    #[error("the import is empty")]
    Empty,
    #[error("the import has {rows} rows; at most {max} are accepted")]
    TooManyRows { rows: usize, max: usize },
    #[error("{} row error(s); nothing was imported", .0.len())]
    RowErrors(Vec<RowError>),
    #[error(transparent)]
    Quota(#[from] QuotaError),
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}
