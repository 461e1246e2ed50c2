//! The catalogue's use cases.

use std::sync::Arc;

use tenantry_kernel::{Clock, FileId, Page, ProductId, TenantCtx, Unexpected};

use crate::images::{ImageError, ProductImage};

use crate::error::{BulkImportError, CreateProductError, DeleteProductError, UpdateProductError};
use crate::import::{ImportRow, MAX_IMPORT_ROWS, validate};
use crate::model::{NewProduct, Product, ProductPatch, ProductQuery};
use crate::ports::ProductRepository;

#[derive(Clone)]
pub struct ProductService<R> {
    repo: R,
    clock: Arc<dyn Clock>,
}

impl<R: ProductRepository> ProductService<R> {
    pub fn new(repo: R, clock: Arc<dyn Clock>) -> Self {
        Self { repo, clock }
    }

    pub async fn create(
        &self,
        ctx: &TenantCtx,
        new: NewProduct,
    ) -> Result<Product, CreateProductError> {
        let product = new.build(ctx.tenant_id(), ctx.actor().user_id(), self.clock.now());
        self.repo.create(ctx, &product).await?;
        Ok(product)
    }

    pub async fn get(&self, ctx: &TenantCtx, id: ProductId) -> Result<Option<Product>, Unexpected> {
        self.repo.get(ctx, id).await
    }

    pub async fn list(
        &self,
        ctx: &TenantCtx,
        query: &ProductQuery,
    ) -> Result<Page<Product>, Unexpected> {
        self.repo.list(ctx, query).await
    }

    pub async fn update(
        &self,
        ctx: &TenantCtx,
        id: ProductId,
        patch: &ProductPatch,
    ) -> Result<Product, UpdateProductError> {
        self.repo.update(ctx, id, patch, self.clock.now()).await
    }

    pub async fn delete(&self, ctx: &TenantCtx, id: ProductId) -> Result<(), DeleteProductError> {
        self.repo.delete(ctx, id).await
    }

    pub async fn attach_image(
        &self,
        ctx: &TenantCtx,
        product: ProductId,
        file: FileId,
    ) -> Result<ProductImage, ImageError> {
        self.repo
            .attach_image(ctx, product, file, self.clock.now())
            .await
    }

    pub async fn images(
        &self,
        ctx: &TenantCtx,
        product: ProductId,
    ) -> Result<Option<Vec<ProductImage>>, Unexpected> {
        self.repo.images(ctx, product).await
    }

    pub async fn detach_image(
        &self,
        ctx: &TenantCtx,
        product: ProductId,
        file: FileId,
    ) -> Result<(), ImageError> {
        self.repo.detach_image(ctx, product, file).await
    }

    /// Validates every row, then writes all rows in one transaction (the quota checked for the whole batch first) —
    /// or reports every row error and writes nothing. Returns how many were imported.
    pub async fn import(
        &self,
        ctx: &TenantCtx,
        rows: &[ImportRow],
    ) -> Result<usize, BulkImportError> {
        if rows.is_empty() {
            return Err(BulkImportError::Empty);
        }
        if rows.len() > MAX_IMPORT_ROWS {
            return Err(BulkImportError::TooManyRows {
                rows: rows.len(),
                max: MAX_IMPORT_ROWS,
            });
        }
        // Every problem at once: the rows' own errors and the SKUs the tenant already has
        // (checked again when writing, against a concurrent import).
        let validated = validate(rows);
        // Each row's SKU, where it is a valid one (the rows' own errors report the others).
        let skus: Vec<(usize, crate::model::Sku)> = rows
            .iter()
            .filter_map(|r| {
                let sku = crate::model::Sku::parse(r.sku.as_deref()?).ok()?;
                Some((r.row, sku))
            })
            .collect();
        let wanted: Vec<String> = skus.iter().map(|(_, s)| s.as_str().to_owned()).collect();
        let taken: std::collections::HashSet<String> = self
            .repo
            .existing_skus(ctx, &wanted)
            .await?
            .into_iter()
            .collect();
        let mut errors = validated.as_ref().err().cloned().unwrap_or_default();
        for (row, sku) in skus.iter().filter(|(_, s)| taken.contains(s.as_str())) {
            errors.push(crate::import::RowError::new(
                *row,
                "sku",
                format!("a product with sku '{}' already exists", sku.as_str()),
            ));
        }
        if !errors.is_empty() {
            errors.sort_by_key(|e| e.row);
            return Err(BulkImportError::RowErrors(errors));
        }
        let valid = validated.map_err(BulkImportError::RowErrors)?;
        let now = self.clock.now();
        let creator = ctx.actor().user_id();
        let products: Vec<(usize, Product)> = valid
            .into_iter()
            .map(|(row, new)| (row, new.build(ctx.tenant_id(), creator, now)))
            .collect();
        self.repo.import(ctx, &products).await?;
        Ok(products.len())
    }
}
