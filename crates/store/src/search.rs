//! Global search: each kind counted and its top hits read in one tenant transaction, with
//! the same full-text conditions as the resources' own lists.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use tenantry_kernel::{
    GlobalSearch, SearchGroup, SearchHit, SearchKind, SearchQuery, TenantCtx, Unexpected,
};
use tenantry_rbac::MembershipStatus;

use crate::db::Db;
use crate::error::StoreError;
use crate::search_words::SearchShape;
use crate::types::DbUuid;

/// Characters of context in a snippet.
const SNIPPET: usize = 120;

type Rows = Vec<(DbUuid, String, String)>;

impl Db {
    async fn run_search(
        &self,
        ctx: &TenantCtx,
        q: &SearchQuery,
        kinds: &[SearchKind],
        hits: u32,
    ) -> Result<Vec<(SearchKind, i64, Rows)>, StoreError> {
        let limit = i64::from(hits);
        let plans = crate::db::Plans::PerValue;
        tx!(
            self,
            read,
            tenant = Some(ctx.tenant_id()),
            plans = plans,
            |conn| {
                let mut out = vec![];
                for kind in kinds {
                    // One tenant-owned table: its full-text matches, counted and the first few
                    // by title.
                    // The hits come first; counting is only needed when they fill the page.
                    macro_rules! counted {
                        ($hit:ident, $rows:expr) => {{
                            let rows: Rows = $rows;
                            let count = if (rows.len() as i64) < limit {
                                rows.len() as i64
                            } else {
                                $hit().count().get_result(conn).await?
                            };
                            (count, rows)
                        }};
                    }
                    macro_rules! hits {
                        ($table:ident, $key:literal, $title:ident, $text:ident) => {{
                            let hit = || {
                                $table::of(ctx).filter(fts_match(
                                    stringify!($table),
                                    $key,
                                    q,
                                    SearchShape::PerValue,
                                ))
                            };
                            counted!(
                                hit,
                                hit()
                                    .order($table::$title.asc())
                                    .select(($table::id, $table::$title, $table::$text))
                                    .limit(limit)
                                    .load(conn)
                                    .await?
                            )
                        }};
                    }
                    let (count, rows): (i64, Rows) = match kind {
                        SearchKind::Products => hits!(products, "product_id", name, description),
                        SearchKind::Projects => hits!(projects, "project_id", name, description),
                        SearchKind::Tasks => hits!(tasks, "task_id", title, notes),
                        SearchKind::Members => {
                            let hit = || {
                                memberships::of(ctx)
                                    .filter(
                                        memberships::status.eq(MembershipStatus::Active.as_str()),
                                    )
                                    .inner_join(users::table)
                                    .filter(fts_match("users", "user_id", q, SearchShape::PerValue))
                            };
                            counted!(
                                hit,
                                hit()
                                    .order(users::display_name.asc())
                                    .select((users::id, users::display_name, users::email))
                                    .limit(limit)
                                    .load(conn)
                                    .await?
                            )
                        }
                    };
                    out.push((*kind, count, rows));
                }
                Ok(out)
            }
        )
    }
}

impl GlobalSearch for Db {
    async fn search(
        &self,
        ctx: &TenantCtx,
        query: &SearchQuery,
        kinds: &[SearchKind],
        hits_per_kind: u32,
    ) -> Result<Vec<SearchGroup>, Unexpected> {
        let found = self.run_search(ctx, query, kinds, hits_per_kind).await?;
        Ok(found
            .into_iter()
            .map(|(kind, count, rows)| SearchGroup {
                kind,
                count: count.unsigned_abs(),
                hits: rows
                    .into_iter()
                    .map(|(id, title, text)| {
                        // The snippet shows where a word matched: the body text, or the
                        // title when only the title matched.
                        let source = if query
                            .words()
                            .iter()
                            .any(|w| text.to_lowercase().contains(w.as_str()))
                        {
                            &text
                        } else {
                            &title
                        };
                        SearchHit {
                            id: id.0.to_string(),
                            snippet: query.snippet(source, SNIPPET),
                            title,
                        }
                    })
                    .collect(),
            })
            .collect())
    }
}
