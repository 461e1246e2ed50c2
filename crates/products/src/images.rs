//! A product's images: files of the tenant's (image types only), attached in order. Deleting
//! the product or the file detaches them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tenantry_kernel::{FileId, ProductId, TenantId, Unexpected};
use thiserror::Error;
use utoipa::ToSchema;

/// The most images one product holds.
pub const MAX_IMAGES: usize = 20;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProductImage {
    #[serde(skip)]
    pub tenant_id: TenantId,
    pub product_id: ProductId,
    pub file_id: FileId,
    /// Its place among the product's images, from 0 (the order they were attached in).
    pub position: u32,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub attached_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ProductImageView {
    pub product_id: uuid::Uuid,
    pub file_id: uuid::Uuid,
    #[schema(example = 0)]
    pub position: u32,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub attached_at: DateTime<Utc>,
}

impl From<&ProductImage> for ProductImageView {
    fn from(i: &ProductImage) -> Self {
        Self {
            product_id: *i.product_id.as_uuid(),
            file_id: *i.file_id.as_uuid(),
            position: i.position,
            attached_at: i.attached_at,
        }
    }
}

impl tenantry_audit::Audited for ProductImage {
    const ENTITY: &'static str = "product_image";
    const EVENT_ACTIONS: &'static [&'static str] = &[
        tenantry_audit::actions::CREATED,
        tenantry_audit::actions::DELETED,
    ];
    type View = ProductImageView;

    fn audit_id(&self) -> String {
        format!("{}/{}", self.product_id, self.file_id)
    }

    fn audit_fields(&self) -> serde_json::Value {
        tenantry_audit::without(self.event_object(), &["attached_at"])
    }
}

#[derive(Debug, Error)]
pub enum ImageError {
    #[error("product not found")]
    ProductNotFound,
    #[error("file not found")]
    FileNotFound,
    #[error("the file is a {content_type}, not an image")]
    NotAnImage { content_type: String },
    #[error("the file is already one of this product's images")]
    AlreadyAttached,
    #[error("a product holds at most {MAX_IMAGES} images")]
    TooMany,
    /// Detaching a file that is not one of the product's images.
    #[error("the file is not one of this product's images")]
    NotAttached,
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}
