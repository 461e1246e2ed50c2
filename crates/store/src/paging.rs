//! Where a keyset page starts, read from the cursor the HTTP layer has already screened.
//!
//! Lists ordered by a UUIDv7 id (creation order) page by the id; lists ordered by a time that
//! is not unique on its own page by (time, id) ([`tenantry_kernel::page::time_id_key`]).

use chrono::{DateTime, Utc};
use tenantry_kernel::PageRequest;

use crate::error::StoreError;
use crate::types::DbUuid;

fn not_ours() -> StoreError {
    StoreError::Corrupt("a cursor of another list reached the store".into())
}

/// The id the page starts after.
pub(crate) fn after_id(page: &PageRequest) -> Result<Option<DbUuid>, StoreError> {
    page.after
        .as_ref()
        .map(|c| {
            uuid::Uuid::parse_str(&c.key())
                .map(DbUuid)
                .map_err(|_| not_ours())
        })
        .transpose()
}

/// The (time, id) the page starts after.
pub(crate) fn after_time_id(
    page: &PageRequest,
) -> Result<Option<(DateTime<Utc>, DbUuid)>, StoreError> {
    page.after
        .as_ref()
        .map(|c| {
            tenantry_kernel::page::parse_time_id_key(&c.key())
                .map(|(at, id)| (at, DbUuid(id)))
                .ok_or_else(not_ours)
        })
        .transpose()
}

/// Rows to fetch for a page: one more than it shows, to learn whether another follows.
pub(crate) fn fetch(page: &PageRequest) -> i64 {
    i64::from(page.limit.get()) + 1
}
