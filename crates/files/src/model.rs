//! A stored file and its value types.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tenantry_kernel::{BucketId, FileId, PageRequest, TenantId, TextShape, UserId};

/// Why a value was refused: the message names the rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

fn invalid(msg: impl Into<String>) -> InvalidValue {
    InvalidValue(msg.into())
}

/// The name the client gave the file, kept as metadata only: the object's key never contains
/// it. A path is cut to its last segment (`C:\fakepath\a.png` → `a.png`); 1–255 characters,
/// no control characters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct FileName(String);

impl FileName {
    pub const MAX_CHARS: usize = 255;

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let base = raw.rsplit(['/', '\\']).next().unwrap_or(raw);
        tenantry_kernel::bounded_text(base, "filename", Self::MAX_CHARS, TextShape::Line)
            .map(Self)
            .map_err(InvalidValue)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `Content-Disposition` for a download under this name, so that a browser saves the
    /// file instead of showing it.
    pub fn attachment(&self) -> String {
        Self::attachment_header(&self.0)
    }

    /// `attachment; filename="…"; filename*=UTF-8''…` (RFC 6266): an ASCII fallback, and
    /// the exact name percent-encoded.
    pub fn attachment_header(name: &str) -> String {
        use std::fmt::Write as _;
        let ascii: String = name
            .chars()
            .map(|c| {
                if c == ' ' || c.is_ascii_graphic() && c != '"' && c != '\\' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let mut encoded = String::with_capacity(name.len());
        for b in name.bytes() {
            if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                encoded.push(char::from(b));
            } else {
                let _ = write!(encoded, "%{b:02X}");
            }
        }
        format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
    }
}

/// The object a file's content is kept as: `tenants/<tenant>/<file>`. Only ids, so a client's
/// name can never reach a path.
pub fn object_key(tenant: TenantId, file: FileId) -> String {
    format!("tenants/{tenant}/{file}")
}

/// A tenant's file: the content is an object in storage, this is what the database knows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StoredFile {
    pub id: FileId,
    #[serde(skip)]
    pub tenant_id: TenantId,
    pub name: FileName,
    /// Sniffed from the content, never taken from the client.
    pub content_type: String,
    pub size: u64,
    /// Hex SHA-256 of the content.
    pub sha256: String,
    pub created_by: Option<UserId>,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub created_at: DateTime<Utc>,
    /// Where the content is: the platform's store (`None`) or one of the tenant's buckets.
    #[serde(skip)]
    pub location: Option<BucketId>,
}

impl StoredFile {
    /// The object key of its content.
    pub fn key(&self) -> String {
        object_key(self.tenant_id, self.id)
    }

    /// A strong validator: the content's digest (the same on every backend, and after a move).
    pub fn etag(&self) -> String {
        format!("\"{}\"", &self.sha256)
    }
}

/// The quota a file's bytes count against.
pub const STORAGE_QUOTA: &str = "storage_bytes";

impl tenantry_audit::Audited for StoredFile {
    const ENTITY: &'static str = "file";
    const EVENT_ACTIONS: &'static [&'static str] = &[
        tenantry_audit::actions::CREATED,
        tenantry_audit::actions::DELETED,
    ];
    const QUOTA: Option<&'static str> = Some(STORAGE_QUOTA);
    type View = crate::view::FileView;

    fn quota_amount(&self) -> i64 {
        i64::try_from(self.size).unwrap_or(i64::MAX)
    }

    fn audit_id(&self) -> String {
        self.id.to_string()
    }

    fn audit_fields(&self) -> serde_json::Value {
        tenantry_audit::without(self.event_object(), &["id", "created_at"])
    }
}

/// Which files a list returns, newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileQuery {
    pub page: PageRequest,
    pub content_type: Option<TypeFilter>,
}

/// `image/png` (that type) or `image/*` (any image).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TypeFilter {
    Exact(String),
    Family(String),
}

impl TypeFilter {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let raw = raw.trim().to_ascii_lowercase();
        let ok_part = |p: &str| {
            !p.is_empty()
                && p.len() <= 100
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
        };
        match raw.split_once('/') {
            Some((family, "*")) if ok_part(family) => Ok(Self::Family(family.to_owned())),
            Some((family, sub)) if ok_part(family) && ok_part(sub) => Ok(Self::Exact(raw)),
            _ => Err(invalid(
                "content_type must be a media type (`image/png`) or a family (`image/*`)",
            )),
        }
    }

    /// Whether a file of `content_type` is one it selects.
    pub fn matches(&self, content_type: &str) -> bool {
        match self {
            Self::Exact(t) => content_type == t,
            Self::Family(f) => content_type
                .split_once('/')
                .is_some_and(|(family, _)| family == f),
        }
    }
}
