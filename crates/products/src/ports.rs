//! What the catalogue needs from storage. Every method takes the tenant context; the store
//! adds the tenant predicate, assigns `tenant_id` from the context and records each change
//! through the mutation pipeline in the same transaction.

use std::future::Future;

use chrono::{DateTime, Utc};
use tenantry_kernel::{FileId, Page, ProductId, TenantCtx, Unexpected};

use crate::error::{BulkImportError, CreateProductError, DeleteProductError, UpdateProductError};
use crate::images::{ImageError, ProductImage};
use crate::model::{Product, ProductPatch, ProductQuery};

pub trait ProductRepository: Clone + Send + Sync + 'static {
    /// `DuplicateSku` when the SKU exists in this tenant.
    fn create(
        &self,
        ctx: &TenantCtx,
        product: &Product,
    ) -> impl Future<Output = Result<(), CreateProductError>> + Send;

    fn get(
        &self,
        ctx: &TenantCtx,
        id: ProductId,
    ) -> impl Future<Output = Result<Option<Product>, Unexpected>> + Send;

    fn list(
        &self,
        ctx: &TenantCtx,
        query: &ProductQuery,
    ) -> impl Future<Output = Result<Page<Product>, Unexpected>> + Send;

    /// Reads, patches and writes in one transaction. `NotFound` for an unknown id (or another
    /// tenant's), `DuplicateSku`, or `Invalid` when the patched product is not valid.
    fn update(
        &self,
        ctx: &TenantCtx,
        id: ProductId,
        patch: &ProductPatch,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Product, UpdateProductError>> + Send;

    fn delete(
        &self,
        ctx: &TenantCtx,
        id: ProductId,
    ) -> impl Future<Output = Result<(), DeleteProductError>> + Send;

    /// Which of `skus` already exist in the tenant.
    fn existing_skus(
        &self,
        ctx: &TenantCtx,
        skus: &[String],
    ) -> impl Future<Output = Result<Vec<String>, Unexpected>> + Send;

    /// Inserts all `products` in one transaction, or nothing. `BulkImportError::RowErrors`
    /// when a SKU was taken after the service checked (`existing_skus`);
    /// `BulkImportError::Quota` when the batch does not fit the tenant's quota.
    fn import(
        &self,
        ctx: &TenantCtx,
        rows: &[(usize, Product)],
    ) -> impl Future<Output = Result<(), BulkImportError>> + Send;

    /// Attaches one of the tenant's image files after the product's last image, in one
    /// transaction: `ProductNotFound`, `FileNotFound`, `NotAnImage`, `AlreadyAttached` or
    /// `TooMany` (more than [`crate::MAX_IMAGES`]).
    fn attach_image(
        &self,
        ctx: &TenantCtx,
        product: ProductId,
        file: FileId,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<ProductImage, ImageError>> + Send;

    /// The product's images in order; `None` for an unknown product.
    fn images(
        &self,
        ctx: &TenantCtx,
        product: ProductId,
    ) -> impl Future<Output = Result<Option<Vec<ProductImage>>, Unexpected>> + Send;

    /// `ProductNotFound`, or `NotAttached` when the file is not one of its images.
    fn detach_image(
        &self,
        ctx: &TenantCtx,
        product: ProductId,
        file: FileId,
    ) -> impl Future<Output = Result<(), ImageError>> + Send;
}
