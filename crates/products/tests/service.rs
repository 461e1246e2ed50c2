//! The catalogue's use cases against an in-memory repository: an import is all or nothing.
//! (Quotas are the store's: its change pipeline counts them in the write's transaction.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use futures_executor::block_on;
use tenantry_kernel::{FileId, ManualClock, Page, ProductId, TenantCtx, TenantId, Unexpected};
use tenantry_products::*;

#[derive(Clone, Default)]
struct Memory {
    rows: Arc<Mutex<Vec<Product>>>,
}

impl ProductRepository for Memory {
    async fn create(&self, _: &TenantCtx, p: &Product) -> Result<(), CreateProductError> {
        self.rows.lock().unwrap().push(p.clone());
        Ok(())
    }
    async fn get(&self, _: &TenantCtx, id: ProductId) -> Result<Option<Product>, Unexpected> {
        Ok(self
            .rows
            .lock()
            .unwrap()
            .iter()
            .find(|p| p.id == id)
            .cloned())
    }
    async fn list(&self, _: &TenantCtx, _: &ProductQuery) -> Result<Page<Product>, Unexpected> {
        Ok(Page {
            items: self.rows.lock().unwrap().clone(),
            next_cursor: None,
        })
    }
    async fn update(
        &self,
        _: &TenantCtx,
        _: ProductId,
        _: &ProductPatch,
        _: DateTime<Utc>,
    ) -> Result<Product, UpdateProductError> {
        Err(UpdateProductError::NotFound)
    }
    async fn delete(&self, _: &TenantCtx, _: ProductId) -> Result<(), DeleteProductError> {
        Err(DeleteProductError::NotFound)
    }
    async fn existing_skus(
        &self,
        _: &TenantCtx,
        skus: &[String],
    ) -> Result<Vec<String>, Unexpected> {
        let rows = self.rows.lock().unwrap();
        Ok(skus
            .iter()
            .filter(|s| rows.iter().any(|p| p.sku.as_str() == s.as_str()))
            .cloned()
            .collect())
    }
    async fn import(
        &self,
        _: &TenantCtx,
        rows: &[(usize, Product)],
    ) -> Result<(), BulkImportError> {
        self.rows
            .lock()
            .unwrap()
            .extend(rows.iter().map(|(_, p)| p.clone()));
        Ok(())
    }
    // Images are the store's (tests/http/files.rs); this repository holds none.
    async fn attach_image(
        &self,
        _: &TenantCtx,
        _: ProductId,
        _: FileId,
        _: DateTime<Utc>,
    ) -> Result<ProductImage, ImageError> {
        Err(ImageError::FileNotFound)
    }
    async fn images(
        &self,
        ctx: &TenantCtx,
        id: ProductId,
    ) -> Result<Option<Vec<ProductImage>>, Unexpected> {
        Ok(self.get(ctx, id).await?.map(|_| vec![]))
    }
    async fn detach_image(&self, _: &TenantCtx, _: ProductId, _: FileId) -> Result<(), ImageError> {
        Err(ImageError::NotAttached)
    }
}

fn row(n: usize) -> ImportRow {
    ImportRow {
        row: n,
        name: Some(format!("P{n}")),
        sku: Some(format!("S{n}")),
        price_minor: Some("100".into()),
        currency: Some("EUR".into()),
        ..ImportRow::default()
    }
}

fn ctx() -> TenantCtx {
    TenantCtx::for_tests(TenantId::new())
}

#[test]
fn imports_are_bounded_and_report_existing_skus_with_row_errors() {
    let repo = Memory::default();
    let svc = ProductService::new(repo.clone(), Arc::new(ManualClock::new(Utc::now())));
    assert!(matches!(
        block_on(svc.import(&ctx(), &[])),
        Err(BulkImportError::Empty)
    ));
    let many: Vec<ImportRow> = (1..=MAX_IMPORT_ROWS + 1).map(row).collect();
    assert!(matches!(
        block_on(svc.import(&ctx(), &many)),
        Err(BulkImportError::TooManyRows { .. })
    ));
    block_on(svc.import(&ctx(), &[row(1)])).unwrap();
    let mut bad = row(3);
    bad.currency = Some("XXX".into());
    match block_on(svc.import(&ctx(), &[row(2), row(1), bad])) {
        Err(BulkImportError::RowErrors(errors)) => {
            let found: Vec<(usize, &str)> =
                errors.iter().map(|e| (e.row, e.field.as_str())).collect();
            assert_eq!(found, [(1, "sku"), (3, "currency")]);
        }
        other => panic!("expected row errors, got {other:?}"),
    }
    assert_eq!(
        repo.rows.lock().unwrap().len(),
        1,
        "only the first import was written"
    );
}

#[test]
fn created_products_take_tenant_and_creator_from_the_context() {
    let repo = Memory::default();
    let svc = ProductService::new(repo, Arc::new(ManualClock::new(Utc::now())));
    let user = tenantry_kernel::UserId::new();
    let ctx = tenantry_kernel::TenantCtx::for_request(
        &tenantry_kernel::Edges::for_tests(),
        ctx().tenant_id(),
        tenantry_kernel::Actor::User(user),
        Default::default(),
    );
    let new = NewProduct {
        name: ProductName::parse("Kettle").unwrap(),
        sku: Sku::parse("K-1").unwrap(),
        description: Description::default(),
        price: Money::new(1, Currency::parse("EUR").unwrap()).unwrap(),
        status: ProductStatus::Active,
    };
    let p = block_on(svc.create(&ctx, new)).unwrap();
    assert_eq!(p.tenant_id, ctx.tenant_id());
    assert_eq!(p.created_by, Some(user));
}
