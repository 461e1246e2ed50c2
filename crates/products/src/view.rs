//! A product as the API returns it and as its events carry it: one type for both, and for
//! the schema both are documented with.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::model::{Product, ProductStatus};

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ProductView {
    pub id: uuid::Uuid,
    #[schema(example = "Blue widget")]
    pub name: String,
    #[schema(example = "WID-001")]
    pub sku: String,
    pub description: String,
    /// Price in minor units of `currency` (cents for EUR).
    #[schema(example = 1999)]
    pub price_minor: i64,
    /// ISO 4217 code.
    #[schema(example = "EUR")]
    pub currency: String,
    pub status: ProductStatus,
    /// The user who created it (or whose API key did); null once that account is gone.
    pub created_by: Option<uuid::Uuid>,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub updated_at: DateTime<Utc>,
}

/// A product moved into its view: its text is not copied.
impl From<Product> for ProductView {
    fn from(p: Product) -> Self {
        Self {
            id: *p.id.as_uuid(),
            name: p.name.into(),
            sku: p.sku.into(),
            description: p.description.into(),
            price_minor: p.price.minor(),
            currency: p.price.currency().as_str().to_owned(),
            status: p.status,
            created_by: p.created_by.map(|u| *u.as_uuid()),
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

impl From<&Product> for ProductView {
    fn from(p: &Product) -> Self {
        Self::from(p.clone())
    }
}
