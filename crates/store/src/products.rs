//! The product catalogue's store: tenant-scoped queries, full-text search per backend, and
//! every change through the mutation pipeline.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use tenantry_kernel::{FileId, Page, ProductId, TenantCtx, TenantId, Unexpected, UserId};
use tenantry_products::{
    BulkImportError, CreateProductError, Currency, DeleteProductError, Description, ImageError,
    MAX_IMAGES, Money, Product, ProductAfter, ProductImage, ProductName, ProductOrder,
    ProductPatch, ProductQuery, ProductRepository, ProductStatus, RowError, Sku,
    UpdateProductError,
};

use crate::db::{Db, SqliteConn, load_first, load_rows};
use crate::error::StoreError;
use crate::search_words::SearchShape;
use crate::types::DbInstant;
use crate::types::DbUuid;

/// SKUs looked up per statement when checking an import against existing rows.
const SKU_CHUNK: usize = 500;

#[derive(Queryable)]
pub(crate) struct ProductRow {
    tenant_id: DbUuid,
    id: DbUuid,
    name: String,
    sku: String,
    description: String,
    price_minor: i64,
    currency: String,
    status: String,
    created_by: Option<DbUuid>,
    #[diesel(deserialize_as = DbInstant)]
    created_at: DateTime<Utc>,
    #[diesel(deserialize_as = DbInstant)]
    updated_at: DateTime<Utc>,
}

impl TryFrom<ProductRow> for Product {
    type Error = StoreError;

    fn try_from(r: ProductRow) -> Result<Self, StoreError> {
        let corrupt = |e: tenantry_products::InvalidValue| StoreError::Corrupt(e.0);
        Ok(Product {
            id: ProductId::from_uuid(r.id.0),
            tenant_id: TenantId::from_uuid(r.tenant_id.0),
            name: ProductName::parse_owned(r.name).map_err(corrupt)?,
            sku: Sku::parse_owned(r.sku).map_err(corrupt)?,
            description: Description::parse_owned(r.description).map_err(corrupt)?,
            price: Money::new(
                r.price_minor,
                Currency::parse(&r.currency).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            )
            .map_err(corrupt)?,
            status: ProductStatus::parse(&r.status).map_err(corrupt)?,
            created_by: r.created_by.map(|u| UserId::from_uuid(u.0)),
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// A product's columns for INSERT (the tenant comes from the context).
macro_rules! product_values {
    ($p:expr) => {{
        let p: &Product = $p;
        (
            products::id.eq(DbUuid::from(p.id)),
            products::name.eq(p.name.as_str().to_owned()),
            products::sku.eq(p.sku.as_str().to_owned()),
            products::description.eq(p.description.as_str().to_owned()),
            products::price_minor.eq(p.price.minor()),
            products::currency.eq(p.price.currency().as_str()),
            products::status.eq(p.status.as_str()),
            products::created_by.eq(p.created_by.map(DbUuid::from)),
            products::created_at.eq(p.created_at),
            products::updated_at.eq(p.updated_at),
        )
    }};
}

/// Inserts many products inside the caller's tenant transaction.
pub(crate) trait InsertProducts {
    fn insert_products(
        &mut self,
        ctx: &TenantCtx,
        products: &[(usize, Product)],
    ) -> impl std::future::Future<Output = Result<(), StoreError>> + Send;
}

impl InsertProducts for diesel_async::AsyncPgConnection {
    async fn insert_products(
        &mut self,
        ctx: &TenantCtx,
        products: &[(usize, Product)],
    ) -> Result<(), StoreError> {
        use crate::schema::pg::*;
        let conn = self;
        insert_rows!(
            many,
            products,
            ctx,
            products,
            |(_, p)| product_values!(p),
            conn
        );
        Ok(())
    }
}

impl InsertProducts for SqliteConn {
    async fn insert_products(
        &mut self,
        ctx: &TenantCtx,
        products: &[(usize, Product)],
    ) -> Result<(), StoreError> {
        use crate::schema::sqlite::*;
        let conn = self;
        insert_rows!(
            each,
            products,
            ctx,
            products,
            |(_, p)| product_values!(p),
            conn
        );
        Ok(())
    }
}

impl Db {
    async fn insert_product(&self, ctx: &TenantCtx, p: &Product) -> Result<(), StoreError> {
        mutate!(self, ctx, |conn, log| {
            products::insert(ctx, product_values!(p))
                .execute(conn)
                .await?;
            log.created(p);
            Ok(())
        })
    }

    async fn load_product(
        &self,
        ctx: &TenantCtx,
        id: ProductId,
    ) -> Result<Option<Product>, StoreError> {
        let row: Option<ProductRow> = tx!(
            self,
            read_one,
            tenant = Some(ctx.tenant_id()),
            |conn| products::of(ctx).filter(products::id.eq(DbUuid::from(id))),
            |q| Ok(load_first(q, conn).await?)
        )?;
        row.map(Product::try_from).transpose()
    }

    async fn load_products(
        &self,
        ctx: &TenantCtx,
        query: &ProductQuery,
    ) -> Result<Page<Product>, StoreError> {
        let limit = i64::from(query.limit.get()) + 1;
        // A search alone reads the way its tenant's word counts choose; with other filters,
        // whose share of the rows the counts do not tell, PostgreSQL plans it for its words.
        let filtered = query.status.is_some()
            || query.price_min.is_some()
            || query.price_max.is_some()
            || query.created_from.is_some()
            || query.created_to.is_some();
        let shape = query.search.as_ref().map(|search| {
            if filtered {
                SearchShape::PerValue
            } else {
                self.search_shape("products", ctx.tenant_id(), search, limit)
            }
        });
        let rows: Vec<ProductRow> = tx!(
            self,
            read_one,
            tenant = Some(ctx.tenant_id()),
            plans = shape.map_or(crate::db::Plans::Reused, SearchShape::plans),
            |conn| {
                let mut q = products::of(ctx).into_boxed();
                if let Some(s) = query.status {
                    q = q.filter(products::status.eq(s.as_str()));
                }
                if let Some(min) = query.price_min {
                    q = q.filter(products::price_minor.ge(min));
                }
                if let Some(max) = query.price_max {
                    q = q.filter(products::price_minor.le(max));
                }
                if let Some(from) = query.created_from {
                    q = q.filter(products::created_at.ge(from));
                }
                if let Some(to) = query.created_to {
                    q = q.filter(products::created_at.lt(to));
                }
                if let (Some(search), Some(shape)) = (&query.search, shape) {
                    q = q.filter(fts_match("products", "product_id", search, shape));
                }
                // Keyset pagination on (sort value, id), in the query's direction.
                let desc = query.descending;
                match &query.after {
                    None => {}
                    Some(ProductAfter::CreatedAt(v, id)) => {
                        let id = DbUuid::from(*id);
                        q = if desc {
                            q.filter(
                                products::created_at
                                    .lt(*v)
                                    .or(products::created_at.eq(*v).and(products::id.lt(id))),
                            )
                        } else {
                            q.filter(
                                products::created_at
                                    .gt(*v)
                                    .or(products::created_at.eq(*v).and(products::id.gt(id))),
                            )
                        };
                    }
                    Some(ProductAfter::Name(v, id)) => {
                        let id = DbUuid::from(*id);
                        q = if desc {
                            q.filter(
                                products::name
                                    .lt(v.clone())
                                    .or(products::name.eq(v.clone()).and(products::id.lt(id))),
                            )
                        } else {
                            q.filter(
                                products::name
                                    .gt(v.clone())
                                    .or(products::name.eq(v.clone()).and(products::id.gt(id))),
                            )
                        };
                    }
                    Some(ProductAfter::Price(v, id)) => {
                        let id = DbUuid::from(*id);
                        q = if desc {
                            q.filter(
                                products::price_minor
                                    .lt(*v)
                                    .or(products::price_minor.eq(*v).and(products::id.lt(id))),
                            )
                        } else {
                            q.filter(
                                products::price_minor
                                    .gt(*v)
                                    .or(products::price_minor.eq(*v).and(products::id.gt(id))),
                            )
                        };
                    }
                }
                q = match (query.order, desc) {
                    (ProductOrder::CreatedAt, false) => {
                        q.order((products::created_at.asc(), products::id.asc()))
                    }
                    (ProductOrder::CreatedAt, true) => {
                        q.order((products::created_at.desc(), products::id.desc()))
                    }
                    (ProductOrder::Name, false) => {
                        q.order((products::name.asc(), products::id.asc()))
                    }
                    (ProductOrder::Name, true) => {
                        q.order((products::name.desc(), products::id.desc()))
                    }
                    (ProductOrder::Price, false) => {
                        q.order((products::price_minor.asc(), products::id.asc()))
                    }
                    (ProductOrder::Price, true) => {
                        q.order((products::price_minor.desc(), products::id.desc()))
                    }
                };
                q
            },
            |q| Ok(load_rows(q.limit(limit), conn).await?)
        )?;
        let products = rows
            .into_iter()
            .map(Product::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(products, query.limit, |p| {
            query.cursor_after(p)
        }))
    }

    async fn patch_product(
        &self,
        ctx: &TenantCtx,
        id: ProductId,
        patch: &ProductPatch,
        now: DateTime<Utc>,
    ) -> Result<Result<Product, UpdateProductError>, StoreError> {
        mutate!(self, ctx, |conn, log| {
            let target = products::of(ctx).filter(products::id.eq(DbUuid::from(id)));
            // A no-op UPDATE reads the row and locks it (PostgreSQL; SQLite writers are
            // serialised): concurrent patches apply one after the other, none is lost.
            let old: Option<ProductRow> = diesel::update(target)
                .set(products::updated_at.eq(products::updated_at))
                .get_result(conn)
                .await
                .optional()?;
            let Some(old) = old else {
                return Ok(Err(UpdateProductError::NotFound));
            };
            let old = Product::try_from(old)?;
            let new = match patch.apply(&old, now) {
                Ok(new) => new,
                Err(e) => return Ok(Err(UpdateProductError::Invalid(e))),
            };
            if new == old {
                return Ok(Ok(new));
            }
            diesel::update(target)
                .set((
                    products::name.eq(new.name.as_str()),
                    products::sku.eq(new.sku.as_str()),
                    products::description.eq(new.description.as_str()),
                    products::price_minor.eq(new.price.minor()),
                    products::currency.eq(new.price.currency().as_str()),
                    products::status.eq(new.status.as_str()),
                    products::updated_at.eq(new.updated_at),
                ))
                .execute(conn)
                .await?;
            log.updated(&old, &new);
            Ok(Ok(new))
        })
    }

    async fn remove_product(&self, ctx: &TenantCtx, id: ProductId) -> Result<bool, StoreError> {
        mutate!(self, ctx, |conn, log| {
            let old: Option<ProductRow> =
                diesel::delete(products::of(ctx).filter(products::id.eq(DbUuid::from(id))))
                    .get_result(conn)
                    .await
                    .optional()?;
            let Some(old) = old else { return Ok(false) };
            log.deleted(&Product::try_from(old)?);
            Ok(true)
        })
    }

    /// Writes every row or none. Rows naming SKUs the tenant has were reported by the
    /// service beforehand; one taken meanwhile breaks the unique key and rolls all back.
    async fn import_products(
        &self,
        ctx: &TenantCtx,
        rows: &[(usize, Product)],
    ) -> Result<(), StoreError> {
        mutate!(self, ctx, |conn, log| {
            let n = i64::try_from(rows.len()).unwrap_or(i64::MAX);
            crate::billing::check_room!(conn, ctx, Product, n);
            conn.insert_products(ctx, rows).await?;
            for (_, p) in rows {
                log.created(p);
            }
            Ok(())
        })
    }
}

#[derive(Queryable)]
struct ImageRow {
    tenant_id: DbUuid,
    product_id: DbUuid,
    file_id: DbUuid,
    position: i32,
    #[diesel(deserialize_as = DbInstant)]
    attached_at: DateTime<Utc>,
}

impl From<ImageRow> for ProductImage {
    fn from(r: ImageRow) -> Self {
        Self {
            tenant_id: TenantId::from_uuid(r.tenant_id.0),
            product_id: ProductId::from_uuid(r.product_id.0),
            file_id: FileId::from_uuid(r.file_id.0),
            position: u32::try_from(r.position).unwrap_or_default(),
            attached_at: r.attached_at,
        }
    }
}

impl Db {
    /// Attaches `file` after the product's last image. The product's row is locked first (a
    /// no-op update), so its images change one request at a time.
    async fn insert_image(
        &self,
        ctx: &TenantCtx,
        product: ProductId,
        now: DateTime<Utc>,
        file: FileId,
    ) -> Result<Result<ProductImage, ImageError>, StoreError> {
        mutate!(self, ctx, |conn, log| {
            let locked: Option<DbUuid> =
                diesel::update(products::of(ctx).filter(products::id.eq(DbUuid::from(product))))
                    .set(products::updated_at.eq(products::updated_at))
                    .returning(products::id)
                    .get_result(conn)
                    .await
                    .optional()?;
            if locked.is_none() {
                return Ok(Err(ImageError::ProductNotFound));
            }
            let kind: Option<String> = files::of(ctx)
                .filter(files::id.eq(DbUuid::from(file)))
                .select(files::content_type)
                .first(conn)
                .await
                .optional()?;
            let Some(kind) = kind else {
                return Ok(Err(ImageError::FileNotFound));
            };
            if !kind.starts_with("image/") {
                return Ok(Err(ImageError::NotAnImage { content_type: kind }));
            }
            let mine = product_images::of(ctx)
                .filter(product_images::product_id.eq(DbUuid::from(product)));
            let attached: Vec<DbUuid> = mine.select(product_images::file_id).load(conn).await?;
            if attached.contains(&DbUuid::from(file)) {
                return Ok(Err(ImageError::AlreadyAttached));
            }
            if attached.len() >= MAX_IMAGES {
                return Ok(Err(ImageError::TooMany));
            }
            let image = ProductImage {
                tenant_id: ctx.tenant_id(),
                product_id: product,
                file_id: file,
                position: u32::try_from(attached.len()).unwrap_or(u32::MAX),
                attached_at: now,
            };
            product_images::insert(
                ctx,
                (
                    product_images::product_id.eq(DbUuid::from(product)),
                    product_images::file_id.eq(DbUuid::from(file)),
                    product_images::position.eq(i32::try_from(image.position).unwrap_or(i32::MAX)),
                    product_images::attached_at.eq(now),
                ),
            )
            .execute(conn)
            .await?;
            log.created(&image);
            Ok(Ok(image))
        })
    }

    async fn load_images(
        &self,
        ctx: &TenantCtx,
        product: ProductId,
    ) -> Result<Option<Vec<ProductImage>>, StoreError> {
        let rows: Option<Vec<ImageRow>> =
            tx!(self, read, tenant = Some(ctx.tenant_id()), |conn| {
                let exists: Option<DbUuid> = products::of(ctx)
                    .filter(products::id.eq(DbUuid::from(product)))
                    .select(products::id)
                    .first(conn)
                    .await
                    .optional()?;
                if exists.is_none() {
                    return Ok(None);
                }
                Ok(Some(
                    product_images::of(ctx)
                        .filter(product_images::product_id.eq(DbUuid::from(product)))
                        .select(product_images::all_columns)
                        .order(product_images::position.asc())
                        .load(conn)
                        .await?,
                ))
            })?;
        Ok(rows.map(|r| r.into_iter().map(ProductImage::from).collect()))
    }

    /// Detaches the image and closes the gap it leaves in the order.
    async fn remove_image(
        &self,
        ctx: &TenantCtx,
        product: ProductId,
        file: FileId,
    ) -> Result<Result<(), ImageError>, StoreError> {
        mutate!(self, ctx, |conn, log| {
            let locked: Option<DbUuid> =
                diesel::update(products::of(ctx).filter(products::id.eq(DbUuid::from(product))))
                    .set(products::updated_at.eq(products::updated_at))
                    .returning(products::id)
                    .get_result(conn)
                    .await
                    .optional()?;
            if locked.is_none() {
                return Ok(Err(ImageError::ProductNotFound));
            }
            let mine = product_images::of(ctx)
                .filter(product_images::product_id.eq(DbUuid::from(product)));
            let old: Option<ImageRow> =
                diesel::delete(mine.filter(product_images::file_id.eq(DbUuid::from(file))))
                    .get_result(conn)
                    .await
                    .optional()?;
            let Some(old) = old else {
                return Ok(Err(ImageError::NotAttached));
            };
            diesel::update(mine.filter(product_images::position.gt(old.position)))
                .set(product_images::position.eq(product_images::position - 1))
                .execute(conn)
                .await?;
            log.deleted(&ProductImage::from(old));
            Ok(Ok(()))
        })
    }
}

impl ProductRepository for Db {
    async fn create(&self, ctx: &TenantCtx, product: &Product) -> Result<(), CreateProductError> {
        self.insert_product(ctx, product).await.map_err(|e| {
            if e.is_unique_violation() {
                CreateProductError::DuplicateSku {
                    sku: product.sku.as_str().to_owned(),
                }
            } else {
                e.quota().map_or_else(
                    |e| CreateProductError::Unexpected(e.into()),
                    CreateProductError::Quota,
                )
            }
        })
    }

    async fn get(&self, ctx: &TenantCtx, id: ProductId) -> Result<Option<Product>, Unexpected> {
        Ok(self.load_product(ctx, id).await?)
    }

    async fn list(
        &self,
        ctx: &TenantCtx,
        query: &ProductQuery,
    ) -> Result<Page<Product>, Unexpected> {
        Ok(self.load_products(ctx, query).await?)
    }

    async fn update(
        &self,
        ctx: &TenantCtx,
        id: ProductId,
        patch: &ProductPatch,
        now: DateTime<Utc>,
    ) -> Result<Product, UpdateProductError> {
        match self.patch_product(ctx, id, patch, now).await {
            Ok(r) => r,
            Err(e) if e.is_unique_violation() => Err(UpdateProductError::DuplicateSku {
                sku: patch
                    .sku
                    .as_ref()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
            }),
            Err(e) => Err(UpdateProductError::Unexpected(e.into())),
        }
    }

    async fn delete(&self, ctx: &TenantCtx, id: ProductId) -> Result<(), DeleteProductError> {
        match self.remove_product(ctx, id).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(DeleteProductError::NotFound),
            Err(e) => Err(DeleteProductError::Unexpected(e.into())),
        }
    }

    async fn existing_skus(
        &self,
        ctx: &TenantCtx,
        skus: &[String],
    ) -> Result<Vec<String>, Unexpected> {
        Ok(tx!(self, read, tenant = Some(ctx.tenant_id()), |conn| {
            let mut found = vec![];
            for chunk in skus.chunks(SKU_CHUNK) {
                let taken: Vec<String> = products::of(ctx)
                    .filter(products::sku.eq_any(chunk))
                    .select(products::sku)
                    .load(conn)
                    .await?;
                found.extend(taken);
            }
            Ok(found)
        })?)
    }

    async fn import(
        &self,
        ctx: &TenantCtx,
        rows: &[(usize, Product)],
    ) -> Result<(), BulkImportError> {
        match self.import_products(ctx, rows).await {
            Ok(()) => Ok(()),
            // Another request took one of these SKUs between the check and the insert.
            Err(e) if e.is_unique_violation() => {
                Err(BulkImportError::RowErrors(vec![RowError::new(
                    0,
                    "sku",
                    "a product with one of these SKUs was created meanwhile; nothing was imported",
                )]))
            }
            Err(e) => Err(e.quota().map_or_else(
                |e| BulkImportError::Unexpected(e.into()),
                BulkImportError::Quota,
            )),
        }
    }

    async fn attach_image(
        &self,
        ctx: &TenantCtx,
        product: ProductId,
        file: FileId,
        now: DateTime<Utc>,
    ) -> Result<ProductImage, ImageError> {
        self.insert_image(ctx, product, now, file)
            .await
            .map_err(|e| ImageError::Unexpected(e.into()))?
    }

    async fn images(
        &self,
        ctx: &TenantCtx,
        product: ProductId,
    ) -> Result<Option<Vec<ProductImage>>, Unexpected> {
        Ok(self.load_images(ctx, product).await?)
    }

    async fn detach_image(
        &self,
        ctx: &TenantCtx,
        product: ProductId,
        file: FileId,
    ) -> Result<(), ImageError> {
        self.remove_image(ctx, product, file)
            .await
            .map_err(|e| ImageError::Unexpected(e.into()))?
    }
}
