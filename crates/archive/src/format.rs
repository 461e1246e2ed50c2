//! The archive format, version 1 (documented in `docs/archive-format.md`).
//!
//! A tar stream, gzip-compressed, optionally age-encrypted as a whole:
//!
//! - `archive.json` first: what this is ([`Header`]);
//! - `entities/<entity>/<part>.jsonl`: the rows of one entity, one JSON object per line, in
//!   parts of at most [`PART_BYTES`] so neither side holds an entity in memory;
//! - `files/<file id>`: each file's bytes (operator's archives and tenants' exports alike);
//! - `manifest.json` last: per-entity row counts and SHA-256 of the entity's parts in order,
//!   and the files' count and bytes. A reader checks every count and digest before it trusts
//!   the archive.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tenantry_kernel::TenantId;

/// The `format` field of every header.
pub const FORMAT: &str = "tenantry-archive";
/// The version this build writes and reads.
pub const VERSION: u32 = 1;
/// A part of an entity is cut once it passes this many bytes.
pub const PART_BYTES: usize = 4 << 20;
/// The most rows in one part.
pub const PART_ROWS: usize = 5_000;
/// A part larger than this is refused when reading (nothing we write comes near it).
pub const MAX_PART_BYTES: u64 = 64 << 20;

pub const HEADER_PATH: &str = "archive.json";
pub const MANIFEST_PATH: &str = "manifest.json";

/// Who an archive is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArchiveKind {
    /// The tenant's own export: everything it owns, no credential (no password hash, no API
    /// key digest, no secret, no data key). For leaving; not importable.
    Export,
    /// The operator's archive (moves, backups): also the credentials, so that after an import
    /// people log in and keys work exactly as before.
    Operator,
}

impl ArchiveKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Export => "export",
            Self::Operator => "operator",
        }
    }
}

/// The tenant an archive holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantRef {
    pub id: TenantId,
    pub slug: String,
    pub name: String,
}

/// `archive.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub format: String,
    pub version: u32,
    pub kind: ArchiveKind,
    pub tenant: TenantRef,
    pub created_at: DateTime<Utc>,
    /// The software and backend that wrote it (`tenantry 0.1.0 (sqlite)`).
    pub producer: String,
}

impl Header {
    pub fn new(kind: ArchiveKind, tenant: TenantRef, producer: String) -> Self {
        Self {
            format: FORMAT.to_owned(),
            version: VERSION,
            kind,
            tenant,
            created_at: tenantry_kernel::Clock::now(&tenantry_kernel::SystemClock),
            producer,
        }
    }
}

/// One entity's totals in the manifest.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityTotals {
    pub rows: u64,
    pub parts: u64,
    /// SHA-256 (hex) of the entity's parts, concatenated in order.
    pub sha256: String,
}

/// The files' totals in the manifest.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileTotals {
    pub count: u64,
    pub bytes: u64,
}

/// `manifest.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    #[serde(flatten)]
    pub header: Header,
    /// Every entity the archive carries, by name (an entity with no rows is listed with 0).
    pub entities: BTreeMap<String, EntityTotals>,
    pub files: FileTotals,
}

/// Where a file's bytes are in an archive.
pub fn file_path(file_id: &str) -> String {
    format!("files/{file_id}")
}

/// Where part `n` of `entity` is in an archive.
pub fn part_path(entity: &str, n: u64) -> String {
    format!("entities/{entity}/{n:06}.jsonl")
}

/// What an archive path names.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Entry {
    Header,
    Manifest,
    Part(String),
    File(String),
}

impl Entry {
    pub(crate) fn of(path: &str) -> Option<Self> {
        if path == HEADER_PATH {
            return Some(Self::Header);
        }
        if path == MANIFEST_PATH {
            return Some(Self::Manifest);
        }
        if let Some(id) = path.strip_prefix("files/") {
            return (!id.is_empty() && !id.contains('/')).then(|| Self::File(id.to_owned()));
        }
        let rest = path.strip_prefix("entities/")?;
        let (entity, part) = rest.split_once('/')?;
        let plain = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        };
        (plain(entity) && part.strip_suffix(".jsonl").is_some_and(plain))
            .then(|| Self::Part(entity.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_round_trip() {
        assert_eq!(
            Entry::of(&part_path("products", 3)),
            Some(Entry::Part("products".into()))
        );
        assert_eq!(
            Entry::of(&file_path("01a2")),
            Some(Entry::File("01a2".into()))
        );
        assert_eq!(Entry::of("archive.json"), Some(Entry::Header));
        assert_eq!(Entry::of("entities/../x.jsonl"), None);
        assert_eq!(Entry::of("files/a/b"), None);
        assert_eq!(Entry::of("other"), None);
    }
}
