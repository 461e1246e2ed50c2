//! Every collection answers one envelope, `{items, next_cursor}`, asked for with `limit` and
//! `cursor`; lists that users export also answer `text/csv`, streamed page by page.

use actix_web::http::header::{self, Accept, Header as _};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use std::future::Future;
use tracing::Instrument as _;

use futures_util::future::LocalBoxFuture;
use serde::{Deserialize, Serialize};
use tenantry_kernel::{Cursor, Limit, Page, PageRequest};
use utoipa::IntoParams;

use crate::problem::Problem;

/// `limit` and `cursor`, the paging parameters of a list without filters.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The page asked for, with a cursor whose key `valid` accepts (else 400
    /// `invalid_cursor`) and a limit in range (else 400 `invalid_query`).
    pub fn request(self, valid: impl Fn(&str) -> bool) -> Result<PageRequest, Problem> {
        let limit = crate::problem::limit_param(self.limit)?;
        let after = crate::problem::cursor_param(self.cursor, valid)?;
        Ok(PageRequest { limit, after })
    }

    /// The page of a list ordered by id.
    pub fn by_id(self) -> Result<PageRequest, Problem> {
        self.request(|k| k.parse::<uuid::Uuid>().is_ok())
    }
}

/// Declares the envelope of one collection, named for the OpenAPI document and the SDK.
macro_rules! page_of {
    ($(#[$meta:meta])* $name:ident of $item:ty) => {
        $(#[$meta])*
        #[derive(serde::Serialize, utoipa::ToSchema)]
        pub struct $name {
            pub items: Vec<$item>,
            /// Pass as `cursor` for the next page; null on the last page.
            pub next_cursor: Option<String>,
        }

        // Not every envelope uses both.
        #[allow(dead_code)]
        impl $name {
            /// The envelope of a domain page, each item turned into its view.
            pub fn of<T>(page: tenantry_kernel::Page<T>) -> Self
            where
                for<'x> $item: From<&'x T>,
            {
                Self::map(page, |t| <$item>::from(t))
            }

            /// The envelope of a domain page, each item moved into its view (the hot lists:
            /// their text is not copied).
            pub fn taking<T>(page: tenantry_kernel::Page<T>) -> Self
            where
                $item: From<T>,
            {
                Self {
                    items: page.items.into_iter().map(<$item>::from).collect(),
                    next_cursor: page.next_cursor,
                }
            }

            /// The envelope of a domain page, each item turned into a view by `view`.
            pub fn map<T>(page: tenantry_kernel::Page<T>, view: impl Fn(&T) -> $item) -> Self {
                Self {
                    items: page.items.iter().map(view).collect(),
                    next_cursor: page.next_cursor,
                }
            }
        }
    };
}
pub(crate) use page_of;

/// Whether the caller asked for CSV (`Accept: text/csv` ranked above JSON).
pub fn wants_csv(req: &HttpRequest) -> bool {
    let Ok(accept) = Accept::parse(req) else {
        return false;
    };
    accept
        .ranked()
        .into_iter()
        .find(|m| {
            matches!(
                (m.type_().as_str(), m.subtype().as_str()),
                ("text", "csv") | ("application", "json") | ("application", "*") | ("*", "*")
            )
        })
        .is_some_and(|m| m.type_() == "text" && m.subtype() == "csv")
}

/// Fetches the page after a cursor (`None`: the first page).
pub type FetchPage<T> =
    Box<dyn FnMut(Option<Cursor>) -> LocalBoxFuture<'static, Result<Page<T>, Problem>>>;

/// A [`FetchPage`] from an async closure.
pub fn pages<T, F, Fut>(mut fetch: F) -> FetchPage<T>
where
    F: FnMut(Option<Cursor>) -> Fut + 'static,
    Fut: Future<Output = Result<Page<T>, Problem>> + 'static,
{
    Box::new(move |after| Box::pin(fetch(after)))
}

/// A CSV download of a whole list (from the cursor on, if one was given), streamed: one page
/// of [`Limit::MAX`] rows at a time is fetched, written and sent, so the list is never held in
/// memory. `columns` name the JSON fields of the view, in order; the rows are the views.
pub fn csv_download<T, V>(
    filename: &str,
    columns: &'static [&'static str],
    start: Option<Cursor>,
    fetch: FetchPage<T>,
) -> HttpResponse
where
    T: 'static,
    V: Serialize + for<'x> From<&'x T>,
{
    enum Step {
        Header(Option<Cursor>),
        Page(Option<Cursor>),
        Done,
    }
    // The body is written after the handler has returned: its pages are read (and a failure
    // logged) in the request's span all the same.
    let span = tracing::Span::current();
    let stream =
        futures_util::stream::unfold((Step::Header(start), fetch), move |(step, mut fetch)| {
            let span = span.clone();
            async move {
                let (chunk, next) = match step {
                    Step::Done => return None,
                    Step::Header(at) => (Ok(csv_line(columns.iter().copied())), Step::Page(at)),
                    Step::Page(at) => match fetch(at).await {
                        Ok(page) => {
                            let mut out = Vec::with_capacity(page.items.len() * 128);
                            for item in &page.items {
                                out.extend_from_slice(&csv_row(columns, &V::from(item)));
                            }
                            let next = page
                                .next_cursor
                                .and_then(|c| Cursor::parse(&c).ok())
                                .map_or(Step::Done, |c| Step::Page(Some(c)));
                            (Ok(Bytes::from(out)), next)
                        }
                        Err(problem) => {
                            // The status line is sent already: cutting the chunked body short
                            // tells the client the download is incomplete.
                            tracing::error!(
                                code = problem.code,
                                cause = ?problem.cause,
                                "CSV export failed mid-stream"
                            );
                            let cut = actix_web::error::ErrorInternalServerError("export failed");
                            (Err(cut), Step::Done)
                        }
                    },
                };
                Some((chunk, (next, fetch)))
            }
            .instrument(span)
        });
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}.csv\""),
        ))
        .streaming(stream)
}

/// The page size of an export: the largest page.
pub fn export_page(after: Option<Cursor>) -> PageRequest {
    PageRequest {
        limit: Limit::MAX,
        after,
    }
}

fn csv_line<'a>(cells: impl Iterator<Item = &'a str>) -> Bytes {
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    // Writing to a Vec cannot fail.
    let _ = w.write_record(cells);
    Bytes::from(w.into_inner().unwrap_or_default())
}

/// One row: each column's JSON value as text (strings as they are, null empty, objects and
/// arrays as JSON). A text cell that a spreadsheet would run as a formula (`=`, `+`, `-`,
/// `@`, tab, carriage return first) is prefixed with `'` (OWASP's CSV injection advice).
fn csv_row<V: Serialize>(columns: &[&str], view: &V) -> Bytes {
    let value = serde_json::to_value(view).unwrap_or_default();
    let cell = |name: &str| match value.get(name) {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(s)) => {
            if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
                format!("'{s}")
            } else {
                s.clone()
            }
        }
        Some(other) => other.to_string(),
    };
    let cells: Vec<String> = columns.iter().map(|c| cell(c)).collect();
    csv_line(cells.iter().map(String::as_str))
}
