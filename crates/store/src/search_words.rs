//! Which way a PostgreSQL full-text search reads its rows, chosen from its own tenant's word
//! counts (decision 0070).
//!
//! A search's best plan depends on how many of the tenant's rows hold its words: a frequent
//! word is found soonest by reading the tenant in list order and testing each row, a rare one
//! only through the tenant-led full-text index. PostgreSQL can choose per execution
//! ([`Plans::PerValue`]), but planning a search costs more than running it, and it judges from
//! the whole table's statistics, not the tenant's. So each process keeps, per table and tenant,
//! how many rows the tenant has and how many hold each of its frequent words (read under the
//! tenant's own row-level security, in the background), and picks one of two statements, each
//! planned once per connection: [`SearchShape::ListOrder`] or [`SearchShape::Index`]. Until
//! the counts are known, a search is planned for its words as before.
//!
//! The counts decide only the plan: either statement returns the same rows.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel_async::RunQueryDsl;
use tenantry_kernel::{SearchQuery, TenantId};

use crate::db::{Backend, Db, LEAKPROOF_MATCH, Leakproof, Plans};
use crate::error::StoreError;

/// How a search statement reads its rows on PostgreSQL (SQLite's FTS5 has one way).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SearchShape {
    /// `search_vector @@ to_tsquery(…)`, planned by PostgreSQL for each execution's words:
    /// while this process does not know the tenant's words, and for searches with other
    /// filters, whose share of the rows the counts do not tell.
    PerValue,
    /// In the list's order through the sort's own index, each row tested
    /// (`ts_match_vq(search_vector, …)`, which no index serves); one generic plan.
    ListOrder,
    /// Through the tenant-led full-text index, then sorted (`search_vector @@ (SELECT …)`);
    /// one generic plan.
    Index,
}

impl SearchShape {
    /// How PostgreSQL plans the statement of this shape.
    pub(crate) fn plans(self) -> Plans {
        match self {
            Self::PerValue => Plans::PerValue,
            Self::ListOrder | Self::Index => Plans::Reused,
        }
    }
}

/// The cost model, in microseconds, measured on the products of a 10,000-product tenant
/// (decision 0070): reading one more row in list order and testing it; starting an index
/// search; and each match the index finds (its heap row, the sort).
const ROW_IN_LIST_ORDER: f64 = 0.4;
const INDEX_START: f64 = 50.0;
const MATCH_THROUGH_INDEX: f64 = 1.3;

/// A word is kept when at least this share of the tenant's rows (and two of them) hold it: a
/// word below it would need more rows read in list order than the index costs for any page.
const KEPT_SHARE: i64 = 1_000;
/// At most this many words per tenant and table, the most frequent.
const KEPT_WORDS: i64 = 4_096;
/// Counts older than this are read again in the background (still used meanwhile).
const REFRESH_AFTER: Duration = Duration::from_secs(120);
/// Counts are dropped this long after they were read (a search reads them again once they are
/// [`REFRESH_AFTER`] old); it also bounds how long a deleted tenant's words stay in memory.
const KEPT_FOR: Duration = Duration::from_secs(600);
/// The memory all counts may take.
const KEPT_BYTES: u64 = 8 << 20;

/// The tables whose list searches choose their shape (static SQL names only). A project's
/// tasks are not among them: the tenant's counts do not tell a project's share.
const TABLES: [&str; 2] = ["products", "projects"];

/// One tenant's rows of one table and its frequent words.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantWords {
    rows: u64,
    /// Whether the database lets a search use its tenant-led index (decision 0050); without
    /// it, every search reads in list order.
    indexed: bool,
    /// Sorted by word, with the number of rows that hold each.
    words: Box<[(Box<str>, u32)]>,
}

impl TenantWords {
    pub fn new(rows: u64, indexed: bool, mut words: Vec<(String, u32)>) -> Self {
        words.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Self {
            rows,
            indexed,
            words: words
                .into_iter()
                .map(|(w, n)| (w.into_boxed_str(), n))
                .collect(),
        }
    }

    /// The share of the rows that hold every word of `q`, each a prefix (`word:*`): the words
    /// taken as independent, as PostgreSQL's own estimate does, and a word none of the kept
    /// ones starts with as held by none.
    pub fn share(&self, q: &SearchQuery) -> f64 {
        if self.rows == 0 {
            return 0.0;
        }
        let rows = self.rows as f64;
        q.words().iter().fold(1.0, |share, word| {
            let first = self.words.partition_point(|(w, _)| **w < **word);
            let holding: u64 = self.words[first..]
                .iter()
                .take_while(|(w, _)| w.starts_with(word.as_str()))
                .map(|(_, n)| u64::from(*n))
                .sum();
            share * (holding as f64 / rows).min(1.0)
        })
    }

    /// The cheaper way to find the first `fetched` rows that match `q`: in list order the
    /// tenant's rows are read until that many matched (all of them when too few do); through
    /// the index every match is read and sorted.
    pub fn shape(&self, q: &SearchQuery, fetched: u64) -> SearchShape {
        if !self.indexed {
            return SearchShape::ListOrder;
        }
        let rows = self.rows as f64;
        let share = self.share(q);
        let read_in_order = if share > 0.0 {
            (fetched as f64 / share).min(rows)
        } else {
            rows
        };
        if ROW_IN_LIST_ORDER * read_in_order <= INDEX_START + MATCH_THROUGH_INDEX * share * rows {
            SearchShape::ListOrder
        } else {
            SearchShape::Index
        }
    }

    /// How many rows the counts were read from.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Whether `word` is among the words kept.
    pub fn holds(&self, word: &str) -> bool {
        self.words.iter().any(|(w, _)| &**w == word)
    }

    fn bytes(&self) -> u32 {
        let words: usize = self.words.iter().map(|(w, _)| w.len() + 24).sum();
        u32::try_from(words + 64).unwrap_or(u32::MAX)
    }
}

struct Known {
    words: TenantWords,
    read_at: Instant,
}

type Key = (&'static str, TenantId);

/// This process's word counts, per table and tenant.
pub(crate) struct SearchWords {
    known: moka::sync::Cache<Key, Arc<Known>>,
    reading: Mutex<HashSet<Key>>,
}

impl Default for SearchWords {
    fn default() -> Self {
        Self {
            known: moka::sync::Cache::builder()
                .max_capacity(KEPT_BYTES)
                .weigher(|_, k: &Arc<Known>| k.words.bytes())
                .time_to_live(KEPT_FOR)
                .build(),
            reading: Mutex::default(),
        }
    }
}

/// Takes a key off the set of counts being read, however the read ends.
struct Reading(Arc<SearchWords>, Key);

impl Drop for Reading {
    fn drop(&mut self) {
        if let Ok(mut reading) = self.0.reading.lock() {
            reading.remove(&self.1);
        }
    }
}

#[derive(diesel::QueryableByName)]
struct Rows {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[derive(diesel::QueryableByName)]
struct Word {
    #[diesel(sql_type = diesel::sql_types::Text)]
    word: String,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    ndoc: i32,
}

impl Db {
    /// How a search of `table` in `tenant` for `q` reads its first `fetched` rows. On
    /// PostgreSQL, once this process knows the tenant's words: [`SearchShape::ListOrder`] or
    /// [`SearchShape::Index`]; before, [`SearchShape::PerValue`], and the words are read in the
    /// background. Counts older than [`REFRESH_AFTER`] are read again the same way.
    pub(crate) fn search_shape(
        &self,
        table: &'static str,
        tenant: TenantId,
        q: &SearchQuery,
        fetched: i64,
    ) -> SearchShape {
        if self.backend() != Backend::Postgres {
            return SearchShape::PerValue;
        }
        let known = self.search_words.known.get(&(table, tenant));
        if known
            .as_ref()
            .is_none_or(|k| k.read_at.elapsed() > REFRESH_AFTER)
        {
            self.read_search_words_later(table, tenant);
        }
        known.map_or(SearchShape::PerValue, |k| {
            k.words.shape(q, u64::try_from(fetched).unwrap_or(0))
        })
    }

    /// Starts reading `tenant`'s words of `table` on this thread's runtime, unless a read of
    /// them is under way.
    fn read_search_words_later(&self, table: &'static str, tenant: TenantId) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let key = (table, tenant);
        let started = self
            .search_words
            .reading
            .lock()
            .is_ok_and(|mut reading| reading.insert(key));
        if !started {
            return;
        }
        let reading = Reading(self.search_words.clone(), key);
        let db = self.clone();
        runtime.spawn(async move {
            let _reading = reading;
            if let Err(e) = db.learn_search_words(table, tenant).await {
                tracing::warn!(error = %e, table, %tenant, "reading a tenant's search words failed");
            }
        });
    }

    /// Reads how many of `tenant`'s rows of `table` there are and how many hold each of their
    /// frequent words, under the tenant's own row-level security (`ts_stat` runs its query
    /// as the caller), and keeps them for [`Db::search_shape`]. PostgreSQL only; a no-op on
    /// SQLite and for a table whose searches do not choose.
    pub async fn learn_search_words(
        &self,
        table: &'static str,
        tenant: TenantId,
    ) -> Result<(), StoreError> {
        if self.backend() != Backend::Postgres || !TABLES.contains(&table) {
            return Ok(());
        }
        // The tenant written into both statements as well as set for row-level security: the
        // same two guards as every tenant read (`of(ctx)` and the policy). A tenant id is a
        // UUID: nothing in it needs quoting.
        let count = format!("SELECT count(*) AS n FROM {table} WHERE tenant_id = '{tenant}'");
        let words = format!(
            "SELECT word, ndoc FROM ts_stat('SELECT search_vector FROM {table} \
             WHERE tenant_id = ''{tenant}''') \
             WHERE ndoc >= $1 ORDER BY ndoc DESC, word LIMIT {KEPT_WORDS}"
        );
        let (rows, indexed, words) = tx!(self, read, tenant = Some(tenant), |conn| {
            let Rows { n } = diesel::sql_query(&count).get_result(conn).await?;
            let words: Vec<Word> = diesel::sql_query(&words)
                .bind::<diesel::sql_types::Integer, _>(
                    i32::try_from((n / KEPT_SHARE).max(2)).unwrap_or(i32::MAX),
                )
                .load(conn)
                .await?;
            let Leakproof { leakproof } =
                diesel::sql_query(LEAKPROOF_MATCH).get_result(conn).await?;
            Ok((n, leakproof, words))
        })?;
        let words = TenantWords::new(
            u64::try_from(rows).unwrap_or(0),
            indexed,
            words
                .into_iter()
                .map(|w| (w.word, u32::try_from(w.ndoc).unwrap_or(0)))
                .collect(),
        );
        self.search_words.known.insert(
            (table, tenant),
            Arc::new(Known {
                words,
                read_at: Instant::now(),
            }),
        );
        Ok(())
    }

    /// What this process knows of `tenant`'s words of `table`, if it has read them.
    pub fn search_words(&self, table: &'static str, tenant: TenantId) -> Option<TenantWords> {
        self.search_words
            .known
            .get(&(table, tenant))
            .map(|k| k.words.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(rows: u64, list: &[(&str, u32)]) -> TenantWords {
        TenantWords::new(
            rows,
            true,
            list.iter().map(|(w, n)| ((*w).to_owned(), *n)).collect(),
        )
    }

    fn q(s: &str) -> SearchQuery {
        SearchQuery::parse(s).unwrap()
    }

    #[test]
    fn a_prefix_counts_every_word_it_starts() {
        let w = words(1_000, &[("copper", 200), ("copperplate", 50), ("cop", 10)]);
        assert!((w.share(&q("copper")) - 0.25).abs() < 1e-9);
        assert!((w.share(&q("cop")) - 0.26).abs() < 1e-9);
        assert_eq!(w.share(&q("coppers")), 0.0);
        assert_eq!(w.share(&q("zanzibar")), 0.0);
    }

    #[test]
    fn words_together_multiply_their_shares() {
        let w = words(10_000, &[("copper", 2_500), ("kettle", 1_666)]);
        assert!((w.share(&q("copper kettle")) - 0.25 * 0.1666).abs() < 1e-9);
    }

    #[test]
    fn frequent_words_read_in_list_order_and_rare_ones_through_the_index() {
        let w = words(10_000, &[("copper", 2_500), ("kettle", 1_666), ("oak", 12)]);
        assert_eq!(w.shape(&q("copper kettle"), 21), SearchShape::ListOrder);
        assert_eq!(w.shape(&q("copper"), 101), SearchShape::ListOrder);
        assert_eq!(w.shape(&q("zanzibar"), 21), SearchShape::Index);
        assert_eq!(w.shape(&q("oak"), 21), SearchShape::Index);
        assert_eq!(w.shape(&q("oak copper"), 21), SearchShape::Index);
    }

    #[test]
    fn a_small_tenant_is_read_in_list_order_whatever_the_words() {
        let w = words(100, &[("kettle", 3)]);
        assert_eq!(w.shape(&q("zanzibar"), 21), SearchShape::ListOrder);
        assert_eq!(w.shape(&q("kettle"), 21), SearchShape::ListOrder);
        assert_eq!(words(0, &[]).shape(&q("x"), 21), SearchShape::ListOrder);
    }

    #[test]
    fn without_the_index_every_search_reads_in_list_order() {
        let w = TenantWords::new(100_000, false, vec![]);
        assert_eq!(w.shape(&q("zanzibar"), 21), SearchShape::ListOrder);
    }
}
