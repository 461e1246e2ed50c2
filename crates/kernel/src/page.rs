//! Cursor pagination: `limit` (default 20, max 100) and an opaque cursor.
//!
//! A cursor is the base64url encoding of the sort key of the last item returned; callers must
//! treat it as opaque. Lists ordered by id (uuid v7, so creation order) use the id as the key.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use thiserror::Error;

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

/// A page size between 1 and [`MAX_LIMIT`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit(u32);

#[derive(Debug, Error, PartialEq, Eq)]
#[error("limit must be between 1 and {MAX_LIMIT}")]
pub struct InvalidLimit;

impl Limit {
    /// The largest page.
    pub const MAX: Self = Self(MAX_LIMIT);

    pub fn parse(n: u32) -> Result<Self, InvalidLimit> {
        if (1..=MAX_LIMIT).contains(&n) {
            Ok(Self(n))
        } else {
            Err(InvalidLimit)
        }
    }

    pub const fn get(self) -> u32 {
        self.0
    }
}

impl Default for Limit {
    fn default() -> Self {
        Self(DEFAULT_LIMIT)
    }
}

/// An opaque position in a list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor(String);

#[derive(Debug, Error, PartialEq, Eq)]
#[error("cursor is not one this service issued")]
pub struct InvalidCursor;

impl Cursor {
    /// Wraps a sort key (e.g. the last id) into a cursor.
    pub fn encode(key: &str) -> Self {
        Self(URL_SAFE_NO_PAD.encode(key))
    }

    /// Parses a cursor a client sent back.
    pub fn parse(raw: &str) -> Result<Self, InvalidCursor> {
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| InvalidCursor)?;
        String::from_utf8(bytes).map_err(|_| InvalidCursor)?;
        Ok(Self(raw.to_owned()))
    }

    /// The sort key inside the cursor.
    pub fn key(&self) -> String {
        // `parse` and `encode` guarantee valid base64 of UTF-8.
        URL_SAFE_NO_PAD
            .decode(&self.0)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_default()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a caller asks for: how many items and after which position.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: Limit,
    pub after: Option<Cursor>,
}

/// One page of a list and the cursor of the next one (None on the last page).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows fetched in order: the extra row, if present,
    /// proves there is a next page and is dropped.
    pub fn from_rows(mut rows: Vec<T>, limit: Limit, key: impl Fn(&T) -> String) -> Self {
        let limit = limit.get() as usize;
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|last| Cursor::encode(&key(last)).0)
        } else {
            None
        };
        Self {
            items: rows,
            next_cursor,
        }
    }

    /// One page of a short list held in memory (a catalog, a tenant's few domains), sorted by
    /// the unique `key`: the items after the cursor's key, at most `limit` of them.
    pub fn from_sorted(items: Vec<T>, page: &PageRequest, key: impl Fn(&T) -> String) -> Self {
        let after = page.after.as_ref().map(Cursor::key);
        let rows = items
            .into_iter()
            .filter(|item| {
                after
                    .as_ref()
                    .is_none_or(|a| key(item).as_str() > a.as_str())
            })
            .take(page.limit.get() as usize + 1)
            .collect();
        Self::from_rows(rows, page.limit, key)
    }

    /// The same page with its items converted (domain values to views).
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

/// The cursor key of a list ordered by (time, id), for keys that are not unique on their own
/// (members in the order they joined): the time to the nanosecond (as stored: SQLite keeps
/// what it is given, PostgreSQL microseconds) and the id.
pub fn time_id_key(at: chrono::DateTime<chrono::Utc>, id: &uuid::Uuid) -> String {
    format!(
        "{}|{id}",
        at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
    )
}

/// Reads a [`time_id_key`] back.
pub fn parse_time_id_key(key: &str) -> Option<(chrono::DateTime<chrono::Utc>, uuid::Uuid)> {
    let (at, id) = key.split_once('|')?;
    let at = chrono::DateTime::parse_from_rfc3339(at).ok()?.to_utc();
    Some((at, id.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_bounds() {
        assert_eq!(Limit::default().get(), 20);
        assert!(Limit::parse(0).is_err());
        assert!(Limit::parse(101).is_err());
        assert_eq!(Limit::parse(100).map(Limit::get), Ok(100));
    }

    #[test]
    fn cursor_round_trip_and_rejects_garbage() {
        let c = Cursor::encode("0192-abc");
        let parsed = Cursor::parse(c.as_str()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed.key(), "0192-abc");
        assert_eq!(Cursor::parse("***"), Err(InvalidCursor));
    }

    #[test]
    fn page_from_rows_detects_next_page() {
        let limit = Limit::parse(2).unwrap_or_else(|e| panic!("{e}"));
        let page = Page::from_rows(vec![1, 2, 3], limit, |n| n.to_string());
        assert_eq!(page.items, vec![1, 2]);
        let next = page.next_cursor.unwrap_or_default();
        assert_eq!(Cursor::parse(&next).map(|c| c.key()), Ok("2".to_owned()));
        let last = Page::from_rows(vec![1, 2], limit, |n| n.to_string());
        assert_eq!(last.next_cursor, None);
    }

    #[test]
    fn sorted_lists_page_by_key() {
        let limit = Limit::parse(2).unwrap_or_else(|e| panic!("{e}"));
        let words = || vec!["a", "b", "c", "d", "e"];
        let key = |w: &&str| (*w).to_owned();
        let first = Page::from_sorted(words(), &PageRequest { limit, after: None }, key);
        assert_eq!(first.items, vec!["a", "b"]);
        let after = first
            .next_cursor
            .map(|c| Cursor::parse(&c).unwrap_or_else(|e| panic!("{e}")));
        let second = Page::from_sorted(words(), &PageRequest { limit, after }, key);
        assert_eq!(second.items, vec!["c", "d"]);
        let after = second
            .next_cursor
            .map(|c| Cursor::parse(&c).unwrap_or_else(|e| panic!("{e}")));
        let last = Page::from_sorted(words(), &PageRequest { limit, after }, key);
        assert_eq!((last.items, last.next_cursor), (vec!["e"], None));
    }

    #[test]
    fn time_id_keys_round_trip() {
        let at = chrono::DateTime::from_timestamp_nanos(1_700_000_000_123_456_789);
        let id = uuid::Uuid::now_v7();
        assert_eq!(parse_time_id_key(&time_id_key(at, &id)), Some((at, id)));
        assert_eq!(parse_time_id_key("12|not-a-uuid"), None);
    }
}
