//! A file as the API returns it and as its events carry it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::model::StoredFile;

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct FileView {
    pub id: uuid::Uuid,
    /// The name it was uploaded with (metadata only).
    #[schema(example = "photo.png")]
    pub name: String,
    /// Read from the content itself.
    #[schema(example = "image/png")]
    pub content_type: String,
    #[schema(example = 48213)]
    pub size: u64,
    /// Hex SHA-256 of the content (also the download's `ETag`).
    pub sha256: String,
    /// The user who uploaded it (or whose API key did); null once that account is gone.
    pub created_by: Option<uuid::Uuid>,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub created_at: DateTime<Utc>,
}

impl From<&StoredFile> for FileView {
    fn from(f: &StoredFile) -> Self {
        Self {
            id: *f.id.as_uuid(),
            name: f.name.as_str().to_owned(),
            content_type: f.content_type.clone(),
            size: f.size,
            sha256: f.sha256.clone(),
            created_by: f.created_by.map(|u| *u.as_uuid()),
            created_at: f.created_at,
        }
    }
}
