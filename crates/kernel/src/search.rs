//! Full-text search queries, shared by every searchable resource.
//!
//! A query is reduced to words (runs of letters and digits, lower-cased); a row matches when
//! it contains every word, each as a word prefix. Both backends' engines see the same words:
//! SQLite FTS5 as `"word"*` terms, PostgreSQL as `word:*` lexemes of a `simple` tsquery.
//! Stored text is split the same way (FTS5 `unicode61`; PostgreSQL folds punctuation to
//! spaces before `to_tsvector('simple', …)`).

use thiserror::Error;

/// At most this many words are used from one query.
pub const MAX_WORDS: usize = 8;
const MAX_WORD_LEN: usize = 64;
const MAX_QUERY_LEN: usize = 500;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchQuery {
    words: Vec<String>,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum InvalidSearch {
    #[error("the search query has no letters or digits")]
    NoWords,
    #[error("the search query is longer than {MAX_QUERY_LEN} characters")]
    TooLong,
}

impl SearchQuery {
    pub fn parse(raw: &str) -> Result<Self, InvalidSearch> {
        if raw.chars().count() > MAX_QUERY_LEN {
            return Err(InvalidSearch::TooLong);
        }
        let mut words: Vec<String> = Vec::new();
        for w in words_of(raw) {
            let w: String = w.chars().take(MAX_WORD_LEN).collect();
            if !words.contains(&w) {
                words.push(w);
            }
            if words.len() == MAX_WORDS {
                break;
            }
        }
        if words.is_empty() {
            return Err(InvalidSearch::NoWords);
        }
        Ok(Self { words })
    }

    pub fn words(&self) -> &[String] {
        &self.words
    }

    /// The FTS5 MATCH expression: every word as a quoted prefix term (words hold only
    /// letters and digits, so nothing in them is FTS5 syntax).
    pub fn fts5(&self) -> String {
        self.words
            .iter()
            .map(|w| format!("\"{w}\"*"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The PostgreSQL `to_tsquery('simple', …)` text: prefix lexemes joined with AND.
    pub fn tsquery(&self) -> String {
        self.words
            .iter()
            .map(|w| format!("{w}:*"))
            .collect::<Vec<_>>()
            .join(" & ")
    }

    /// A short excerpt of `text` around the first word found (at most ~`width` characters),
    /// for search results; the start of the text when no word appears literally.
    pub fn snippet(&self, text: &str, width: usize) -> String {
        let chars: Vec<char> = text.chars().collect();
        // Lower-case character by character, remembering which original character each
        // lower-case one came from ('İ' becomes two characters).
        let mut lower = String::with_capacity(text.len());
        let mut origin_of_byte: Vec<usize> = Vec::with_capacity(text.len());
        for (i, c) in chars.iter().enumerate() {
            for l in c.to_lowercase() {
                lower.push(l);
                origin_of_byte.extend(std::iter::repeat_n(i, l.len_utf8()));
            }
        }
        let hit_char = self
            .words
            .iter()
            .filter_map(|w| lower.find(w.as_str()))
            .min()
            .and_then(|byte| origin_of_byte.get(byte).copied())
            .unwrap_or(0);
        let start = hit_char.saturating_sub(width / 3).min(chars.len());
        let end = (start + width).min(chars.len());
        let mut out: String = chars[start..end].iter().collect();
        out = out.trim().to_owned();
        if start > 0 {
            out.insert(0, '…');
        }
        if end < chars.len() {
            out.push('…');
        }
        out
    }
}

/// Runs of letters and digits, lower-cased.
fn words_of(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_split_lowered_and_deduplicated() {
        let q = SearchQuery::parse("  Blue-Widget blue  AB_12 \"x\" OR* ")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(q.words(), ["blue", "widget", "ab", "12", "x", "or"]);
        assert_eq!(q.fts5(), r#""blue"* "widget"* "ab"* "12"* "x"* "or"*"#);
        assert_eq!(q.tsquery(), "blue:* & widget:* & ab:* & 12:* & x:* & or:*");
    }

    #[test]
    fn queries_without_words_or_too_long_are_refused() {
        assert_eq!(SearchQuery::parse(" -*- "), Err(InvalidSearch::NoWords));
        assert_eq!(
            SearchQuery::parse(&"a".repeat(501)),
            Err(InvalidSearch::TooLong)
        );
    }

    #[test]
    fn snippets_centre_on_the_first_hit() {
        let q = SearchQuery::parse("needle").unwrap_or_else(|e| panic!("{e}"));
        let text = format!("{} a needle here {}", "x".repeat(100), "y".repeat(100));
        let s = q.snippet(&text, 40);
        assert!(s.contains("needle"), "{s}");
        assert!(s.starts_with('…') && s.ends_with('…'));
        assert_eq!(q.snippet("short", 40), "short");
        // Characters whose lower case is longer do not shift the cut out of range.
        let turkish = format!("{} needle", "İ".repeat(60));
        assert!(q.snippet(&turkish, 20).contains("needle"));
    }
}

/// What global search can look through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SearchKind {
    Products,
    Projects,
    Tasks,
    Members,
}

impl SearchKind {
    pub const ALL: [Self; 4] = [Self::Products, Self::Projects, Self::Tasks, Self::Members];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Products => "products",
            Self::Projects => "projects",
            Self::Tasks => "tasks",
            Self::Members => "members",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One result: what to link to and what to show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchHit {
    pub id: String,
    pub title: String,
    pub snippet: String,
}

/// The results of one kind: how many match in all, and the first few.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchGroup {
    pub kind: SearchKind,
    pub count: u64,
    pub hits: Vec<SearchHit>,
}

/// Searches a tenant's data of several kinds with the backends' full-text engines.
pub trait GlobalSearch: Clone + Send + Sync + 'static {
    fn search(
        &self,
        ctx: &crate::TenantCtx,
        query: &SearchQuery,
        kinds: &[SearchKind],
        hits_per_kind: u32,
    ) -> impl std::future::Future<Output = Result<Vec<SearchGroup>, crate::Unexpected>> + Send;
}
