//! Products of the current tenant (`products:read` / `products:write`): the catalogue
//! resource's bodies, list parameters and handlers (its view is the domain crate's, its error
//! mapping in `problem::products`).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use tenantry_kernel::{Cursor, ProductId, SearchQuery};
use tenantry_products::{
    Currency, Description, ImportRow, Money, NewProduct, ProductName, ProductOrder, ProductPatch,
    ProductQuery, ProductStatus, ProductView, RowError, Sku,
};
use utoipa::{IntoParams, ToSchema};

use crate::dates::Timestamp;
use crate::guard::Member;
use crate::json::{ApiJson, ApiPath, ApiQuery, JsonBody};
use crate::paging::{csv_download, page_of, pages, wants_csv};
use crate::problem::products::{product_not_found, row_errors};
use crate::problem::{Fields, Problem, ProblemBody};
use crate::responses::{BodyErrors, MemberErrors, QueryErrors};
use crate::state::AppState;

type Data = web::Data<AppState>;

/// Largest bulk-import body: 10,000 rows with room for long descriptions.
pub const IMPORT_BODY_LIMIT: usize = 32 * 1024 * 1024;

page_of!(
    /// One page of products.
    ProductPage of ProductView
);

#[derive(Deserialize, ToSchema)]
pub struct CreateProductBody {
    #[schema(example = "Blue widget", min_length = 1, max_length = 200)]
    pub name: String,
    /// Unique in the tenant: letters, digits, `-`, `_`, `.` (1–64).
    #[schema(
        example = "WID-001",
        min_length = 1,
        max_length = 64,
        pattern = "^[A-Za-z0-9._-]+$"
    )]
    pub sku: String,
    #[serde(default)]
    #[schema(max_length = 10000)]
    pub description: String,
    /// In minor units (cents for EUR), up to 2^53 − 1 (exact in every JSON client).
    #[schema(example = 1999, minimum = 0, maximum = 9_007_199_254_740_991_i64)]
    pub price_minor: i64,
    /// An active ISO 4217 code.
    #[schema(schema_with = currency_schema)]
    pub currency: String,
    /// Default `active`.
    pub status: Option<ProductStatus>,
}

/// The currencies a price may have: the active ISO 4217 codes, as an enum.
fn currency_schema() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(tenantry_kernel::money::ISO_4217.iter().copied()))
        .examples([serde_json::json!("EUR")])
        .build()
}

impl CreateProductBody {
    fn into_domain(self) -> Result<NewProduct, Problem> {
        let mut f = Fields::default();
        let name = f.take("name", ProductName::parse(&self.name));
        let sku = f.take("sku", Sku::parse(&self.sku));
        let description = f.take("description", Description::parse(&self.description));
        let currency = f.take("currency", Currency::parse(&self.currency));
        let price = currency.and_then(|c| f.take("price_minor", Money::new(self.price_minor, c)));
        f.finish()?;
        let (Some(name), Some(sku), Some(description), Some(price)) =
            (name, sku, description, price)
        else {
            return Err(Problem::field("", "invalid product"));
        };
        Ok(NewProduct {
            name,
            sku,
            description,
            price,
            status: self.status.unwrap_or(ProductStatus::Active),
        })
    }
}

/// Fields to change; absent fields stay as they are.
#[derive(Deserialize, ToSchema)]
pub struct UpdateProductBody {
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._-]+$")]
    pub sku: Option<String>,
    #[schema(max_length = 10000)]
    pub description: Option<String>,
    #[schema(minimum = 0, maximum = 9_007_199_254_740_991_i64)]
    pub price_minor: Option<i64>,
    #[schema(schema_with = currency_schema)]
    pub currency: Option<String>,
    pub status: Option<ProductStatus>,
}

impl UpdateProductBody {
    fn into_domain(self) -> Result<ProductPatch, Problem> {
        let mut f = Fields::default();
        let patch = ProductPatch {
            name: f.opt("name", self.name, ProductName::parse),
            sku: f.opt("sku", self.sku, Sku::parse),
            description: f.opt("description", self.description, Description::parse),
            price_minor: self
                .price_minor
                .and_then(|v| f.take("price_minor", Money::check_minor(v))),
            currency: f.opt("currency", self.currency, Currency::parse),
            status: self.status,
        };
        f.finish()?;
        Ok(patch)
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListProductsQuery {
    /// Page size, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page (with the same `order`).
    pub cursor: Option<String>,
    /// Only products with this status.
    pub status: Option<ProductStatus>,
    /// Lowest price, in minor units (inclusive).
    pub price_min: Option<i64>,
    /// Highest price, in minor units (inclusive).
    pub price_max: Option<i64>,
    /// Created at or after this time.
    pub created_from: Option<Timestamp>,
    /// Created before this time.
    pub created_to: Option<Timestamp>,
    /// Full-text search over name, SKU and description: every word must match (as a word
    /// prefix). At most 500 characters; words beyond the eighth are ignored.
    #[param(min_length = 1, max_length = 500)]
    pub q: Option<String>,
    /// `created_at` (default), `name` or `price`; prefix `-` for descending.
    #[param(example = "-price")]
    pub order: Option<String>,
}

impl ListProductsQuery {
    fn into_domain(self) -> Result<ProductQuery, Problem> {
        let limit = crate::problem::limit_param(self.limit)?;
        let (descending, order) = match self.order.as_deref() {
            None => (false, ProductOrder::CreatedAt),
            Some(o) => {
                let (desc, name) = o.strip_prefix('-').map_or((false, o), |n| (true, n));
                let order = ProductOrder::parse(name).ok_or_else(|| {
                    Problem::invalid_query(
                        "order must be created_at, name or price, optionally prefixed with '-'",
                    )
                })?;
                (desc, order)
            }
        };
        let search = self
            .q
            .as_deref()
            .map(SearchQuery::parse)
            .transpose()
            .map_err(|e| Problem::invalid_query(format!("q: {e}")))?;
        let mut query = ProductQuery {
            status: self.status,
            price_min: self.price_min,
            price_max: self.price_max,
            created_from: self.created_from.map(|t| t.0),
            created_to: self.created_to.map(|t| t.0),
            search,
            order,
            descending,
            limit,
            after: None,
        };
        if let Some(raw) = self.cursor {
            let after = Cursor::parse(&raw)
                .map_err(|e| e.to_string())
                .and_then(|c| query.parse_cursor(&c).map_err(|e| e.0))
                .map_err(Problem::invalid_cursor)?;
            query.after = Some(after);
        }
        Ok(query)
    }
}

#[derive(Serialize, ToSchema)]
pub struct ImportResult {
    /// How many products were created.
    #[schema(example = 250)]
    pub imported: usize,
}

/// One product of a JSON bulk import (the CSV header names the same columns).
#[derive(ToSchema)]
#[allow(dead_code)] // Documents the request body; rows are read field by field.
pub struct ImportRowBody {
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._-]+$")]
    sku: String,
    #[schema(max_length = 10000)]
    description: Option<String>,
    #[schema(minimum = 0, maximum = 9_007_199_254_740_991_i64)]
    price_minor: i64,
    #[schema(schema_with = currency_schema)]
    currency: String,
    status: Option<ProductStatus>,
}

/// Create a product.
#[utoipa::path(
    extensions(("x-permission" = json!("products:write"))),
    tag = "products", security(("bearer_token" = [])),
    request_body = CreateProductBody,
    responses(
        (status = 201, description = "The product", body = ProductView),
        (status = 409, description = "The SKU is taken in this tenant (`sku_taken`)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "Quota exceeded (`quota_exceeded`)", body = ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
        BodyErrors,
    )
)]
#[post("")]
pub async fn create_product(
    m: Member,
    state: Data,
    body: ApiJson<CreateProductBody>,
) -> Result<HttpResponse, Problem> {
    let new = body.0.into_domain()?;
    let product = state.products.create(&m.ctx, new).await?;
    Ok(HttpResponse::Created().json_body(ProductView::from(&product)))
}

/// List products: filters, order, full-text search and cursor pagination.
#[utoipa::path(
    extensions(("x-permission" = json!("products:read"))),
    tag = "products", security(("bearer_token" = [])),
    params(ListProductsQuery),
    responses(
        (status = 200, description = "One page of products (or, as CSV, every match)", content(
            (ProductPage = "application/json"),
            (String = "text/csv"),
        )),
        QueryErrors,
        MemberErrors,
    )
)]
#[get("")]
pub async fn list_products(
    m: Member,
    state: Data,
    req: HttpRequest,
    query: ApiQuery<ListProductsQuery>,
) -> Result<HttpResponse, Problem> {
    let query = query.0.into_domain()?;
    if wants_csv(&req) {
        // Every product the filters match, from the cursor on, in the query's order.
        let ctx = m.ctx.clone();
        let fetch = pages(move |after: Option<tenantry_kernel::Cursor>| {
            let (state, ctx) = (state.clone(), ctx.clone());
            let mut query = ProductQuery {
                limit: tenantry_kernel::Limit::MAX,
                ..query.clone()
            };
            async move {
                if let Some(c) = after {
                    query.after = Some(
                        query
                            .parse_cursor(&c)
                            .map_err(|e| Problem::invalid_cursor(e.0))?,
                    );
                }
                Ok(state.products.list(&ctx, &query).await?)
            }
        });
        return Ok(csv_download::<_, ProductView>(
            "products",
            PRODUCT_COLUMNS,
            None,
            fetch,
        ));
    }
    let page = state.products.list(&m.ctx, &query).await?;
    Ok(HttpResponse::Ok().json_body(ProductPage::taking(page)))
}

/// The columns of the products' CSV export (the bulk import reads the same names).
const PRODUCT_COLUMNS: &[&str] = &[
    "id",
    "name",
    "sku",
    "description",
    "price_minor",
    "currency",
    "status",
    "created_by",
    "created_at",
    "updated_at",
];

/// One product.
#[utoipa::path(
    extensions(("x-permission" = json!("products:read"))),
    tag = "products", security(("bearer_token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The product's id")),
    responses(
        (status = 200, description = "The product", body = ProductView),
        (status = 404, description = "No such product here (`product_not_found`)", body = ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
    )
)]
#[get("/{id}")]
pub async fn get_product(
    m: Member,
    state: Data,
    path: ApiPath<uuid::Uuid>,
) -> Result<web::Json<ProductView>, Problem> {
    let id = ProductId::from_uuid(path.into_inner());
    let product = state
        .products
        .get(&m.ctx, id)
        .await?
        .ok_or_else(product_not_found)?;
    Ok(web::Json(ProductView::from(&product)))
}

/// Change a product.
#[utoipa::path(
    extensions(("x-permission" = json!("products:write"))),
    tag = "products", security(("bearer_token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The product's id")),
    request_body = UpdateProductBody,
    responses(
        (status = 200, description = "The product after the change", body = ProductView),
        (status = 404, description = "No such product here (`product_not_found`)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "The SKU is taken in this tenant (`sku_taken`)", body = ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
        BodyErrors,
    )
)]
#[patch("/{id}")]
pub async fn update_product(
    m: Member,
    state: Data,
    path: ApiPath<uuid::Uuid>,
    body: ApiJson<UpdateProductBody>,
) -> Result<web::Json<ProductView>, Problem> {
    let id = ProductId::from_uuid(path.into_inner());
    let patch = body.0.into_domain()?;
    let product = state.products.update(&m.ctx, id, &patch).await?;
    Ok(web::Json(ProductView::from(&product)))
}

/// Delete a product.
#[utoipa::path(
    extensions(("x-permission" = json!("products:write"))),
    tag = "products", security(("bearer_token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The product's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such product here (`product_not_found`)", body = ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
    )
)]
#[delete("/{id}")]
pub async fn delete_product(
    m: Member,
    state: Data,
    path: ApiPath<uuid::Uuid>,
) -> Result<HttpResponse, Problem> {
    let id = ProductId::from_uuid(path.into_inner());
    state.products.delete(&m.ctx, id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Import up to 10,000 products at once, as a JSON array of products or as CSV
/// (`text/csv`, header `name,sku,description,price_minor,currency,status`; `description`
/// and `status` optional). All or nothing: every row is checked first (including SKUs
/// repeated in the file or already in the tenant) and any error answers 422 listing each
/// row's errors (`errors[].row`, `errors[].field`), with nothing written.
#[utoipa::path(
    extensions(("x-permission" = json!("products:write"))),
    tag = "products", security(("bearer_token" = [])),
    request_body(content(
        (Vec<ImportRowBody> = "application/json"),
        (String = "text/csv", example = "name,sku,price_minor,currency\nBlue widget,WID-001,1999,EUR\n"),
    )),
    responses(
        (status = 201, description = "Every row was imported", body = ImportResult),
        (status = 400, description = "Malformed JSON or CSV (`malformed_json`, `malformed_csv`)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "Quota exceeded (`quota_exceeded`)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 413, description = "Body over 32 MiB (`payload_too_large`)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "Neither JSON nor CSV (`unsupported_media_type`)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "Row errors (`import_rows_invalid`), empty import or more than 10,000 rows (`validation_failed`)", body = ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
    )
)]
#[post("/bulk-import")]
pub async fn bulk_import(
    m: Member,
    state: Data,
    req: HttpRequest,
    mut payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let format = ImportFormat::of(&req).ok_or_else(Problem::unsupported_media_type)?;
    let mut body = web::BytesMut::new();
    let read = async {
        while let Some(chunk) = payload.next().await {
            let chunk =
                chunk.map_err(|_| Problem::malformed_json("The request body could not be read"))?;
            if body.len() + chunk.len() > IMPORT_BODY_LIMIT {
                return Err(Problem::payload_too_large(IMPORT_BODY_LIMIT));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(())
    };
    // Imports are up to 32 MiB: four times the time of other bodies.
    let timeout = state.config.body_timeout * 4;
    tokio::time::timeout(timeout, read)
        .await
        .map_err(|_| Problem::request_timeout(timeout))??;
    let rows = match format {
        ImportFormat::Json => rows_from_json(&body)?,
        ImportFormat::Csv => rows_from_csv(&body)?,
    };
    let imported = state.products.import(&m.ctx, &rows).await?;
    Ok(HttpResponse::Created().json_body(ImportResult { imported }))
}

enum ImportFormat {
    Json,
    Csv,
}

impl ImportFormat {
    fn of(req: &HttpRequest) -> Option<Self> {
        let mime: mime::Mime = req
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)?
            .to_str()
            .ok()?
            .parse()
            .ok()?;
        match (mime.type_().as_str(), mime.subtype().as_str()) {
            ("application", "json") => Some(Self::Json),
            ("text", "csv") => Some(Self::Csv),
            _ => None,
        }
    }
}

const COLUMNS: [&str; 6] = [
    "name",
    "sku",
    "description",
    "price_minor",
    "currency",
    "status",
];

/// A JSON array of objects; each field may be a string or a number (strings and numbers
/// are read the same way as CSV cells, so both formats report the same errors).
fn rows_from_json(body: &[u8]) -> Result<Vec<ImportRow>, Problem> {
    let values: Vec<serde_json::Value> = serde_json::from_slice(body)
        .map_err(|e| Problem::malformed_json(format!("expected a JSON array of products: {e}")))?;
    let mut errors = vec![];
    let mut rows = Vec::with_capacity(values.len());
    for (i, v) in values.into_iter().enumerate() {
        let n = i + 1;
        let serde_json::Value::Object(map) = v else {
            errors.push(RowError::new(n, "", "each row must be a JSON object"));
            continue;
        };
        let mut row = ImportRow {
            row: n,
            ..ImportRow::default()
        };
        for (key, value) in map {
            let text = match value {
                serde_json::Value::Null => None,
                serde_json::Value::String(s) => Some(s),
                serde_json::Value::Number(x) => Some(x.to_string()),
                _ => {
                    errors.push(RowError::new(n, &key, "must be a string or a number"));
                    continue;
                }
            };
            if let Err(e) = set_column(&mut row, &key, text) {
                errors.push(e);
            }
        }
        rows.push(row);
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(row_errors(errors))
    }
}

fn rows_from_csv(body: &[u8]) -> Result<Vec<ImportRow>, Problem> {
    let malformed = |e: csv::Error| {
        Problem::new(StatusCode::BAD_REQUEST, "malformed_csv", "Malformed CSV")
            .detail(e.to_string())
    };
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::Headers)
        .from_reader(body);
    let headers: Vec<String> = reader
        .headers()
        .map_err(malformed)?
        .iter()
        .map(str::to_owned)
        .collect();
    if let Some(unknown) = headers.iter().find(|h| !COLUMNS.contains(&h.as_str())) {
        return Err(Problem::field(
            "",
            format!(
                "unknown column '{unknown}'; the columns are {}",
                COLUMNS.join(", ")
            ),
        ));
    }
    let mut rows = vec![];
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(malformed)?;
        let mut row = ImportRow {
            row: i + 1,
            ..ImportRow::default()
        };
        for (h, cell) in headers.iter().zip(record.iter()) {
            // Known columns only (checked above).
            let _ = set_column(&mut row, h, Some(cell.to_owned()));
        }
        rows.push(row);
    }
    Ok(rows)
}

fn set_column(row: &mut ImportRow, column: &str, value: Option<String>) -> Result<(), RowError> {
    let slot = match column {
        "name" => &mut row.name,
        "sku" => &mut row.sku,
        "description" => &mut row.description,
        "price_minor" => &mut row.price_minor,
        "currency" => &mut row.currency,
        "status" => &mut row.status,
        other => return Err(RowError::new(row.row, other, "unknown field")),
    };
    *slot = value;
    Ok(())
}
