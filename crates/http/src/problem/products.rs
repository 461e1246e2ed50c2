//! problem+json for products: each error's status and stable code.

use actix_web::http::StatusCode;
use tenantry_products::{
    BulkImportError, CreateProductError, DeleteProductError, RowError, UpdateProductError,
};

use super::{FieldError, Problem};

pub(crate) fn row_errors(errors: Vec<RowError>) -> Problem {
    let mut p = Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "import_rows_invalid",
        "Import rows invalid",
    )
    .detail(format!("{} error(s); nothing was imported", errors.len()));
    p.errors = errors
        .into_iter()
        .map(|e| FieldError {
            field: e.field,
            message: e.message,
            row: Some(e.row),
        })
        .collect();
    p
}

pub fn product_not_found() -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "product_not_found",
        "Product not found",
    )
    .detail("No product with this id exists in this tenant")
}

fn sku_taken(sku: &str) -> Problem {
    Problem::new(StatusCode::CONFLICT, "sku_taken", "SKU taken").detail(format!(
        "A product with sku '{sku}' already exists in this tenant"
    ))
}

impl From<CreateProductError> for Problem {
    fn from(e: CreateProductError) -> Self {
        match e {
            CreateProductError::DuplicateSku { sku } => sku_taken(&sku),
            CreateProductError::Quota(q) => q.into(),
            CreateProductError::Unexpected(u) => Problem::internal(u),
        }
    }
}

impl From<UpdateProductError> for Problem {
    fn from(e: UpdateProductError) -> Self {
        match e {
            UpdateProductError::NotFound => product_not_found(),
            UpdateProductError::DuplicateSku { sku } => sku_taken(&sku),
            UpdateProductError::Invalid(v) => Problem::field("price_minor", v.0),
            UpdateProductError::Unexpected(u) => Problem::internal(u),
        }
    }
}

impl From<DeleteProductError> for Problem {
    fn from(e: DeleteProductError) -> Self {
        match e {
            DeleteProductError::NotFound => product_not_found(),
            DeleteProductError::Unexpected(u) => Problem::internal(u),
        }
    }
}

impl From<BulkImportError> for Problem {
    fn from(e: BulkImportError) -> Self {
        match e {
            BulkImportError::Empty | BulkImportError::TooManyRows { .. } => {
                Problem::field("", e.to_string())
            }
            BulkImportError::RowErrors(errors) => row_errors(errors),
            BulkImportError::Quota(q) => q.into(),
            BulkImportError::Unexpected(u) => Problem::internal(u),
        }
    }
}
