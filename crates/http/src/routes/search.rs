//! Global search across the tenant's data (any member; each kind needs its own read
//! permission).

use actix_web::{get, web};
use serde::{Deserialize, Serialize};
use tenantry_kernel::{SearchKind, SearchQuery};
use tenantry_rbac::Permission;
use utoipa::{IntoParams, ToSchema};

use crate::guard::{Member, permission_denied};
use crate::json::ApiQuery;
use crate::problem::{Problem, ProblemBody};
use crate::responses::MemberErrors;
use crate::state::AppState;

type Data = web::Data<AppState>;

/// Hits returned per kind.
const HITS_PER_KIND: u32 = 5;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Words to find (each as a word prefix; all must match).
    #[param(example = "kettle", min_length = 1, max_length = 500)]
    pub q: String,
    /// Comma-separated kinds: `products`, `projects`, `tasks`, `members`. Default: every
    /// kind the caller may read.
    #[param(
        example = "products,tasks",
        pattern = "^(products|projects|tasks|members)(,(products|projects|tasks|members))*$"
    )]
    pub types: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SearchHitView {
    /// The id of the product, project, task or member (user).
    pub id: String,
    pub title: String,
    /// Text around the first matching word.
    pub snippet: String,
}

#[derive(Serialize, ToSchema)]
pub struct SearchGroupView {
    /// `products`, `projects`, `tasks` or `members`.
    #[schema(example = "products")]
    pub r#type: String,
    /// How many of this kind match in all.
    pub count: u64,
    /// The first few, by name.
    pub hits: Vec<SearchHitView>,
}

#[derive(Serialize, ToSchema)]
pub struct SearchResults {
    pub groups: Vec<SearchGroupView>,
}

fn needs(kind: SearchKind) -> Permission {
    Permission::known(match kind {
        SearchKind::Products => "products:read",
        SearchKind::Projects | SearchKind::Tasks => "projects:read",
        SearchKind::Members => "members:read",
    })
}

/// Search products, projects, tasks and members at once; results grouped by kind, each with
/// its total count and top hits.
#[utoipa::path(
    extensions(("x-permission" = json!("tenant:read"))),
    tag = "search", security(("bearer_token" = [])),
    params(SearchParams),
    responses(
        (status = 200, description = "Results by kind, in the order asked", body = SearchResults),
        (status = 400, description = "No words in `q`, or an unknown type (`invalid_query`)", body = ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
    )
)]
#[get("")]
pub async fn search(
    m: Member,
    state: Data,
    params: ApiQuery<SearchParams>,
) -> Result<web::Json<SearchResults>, Problem> {
    let p = params.0;
    let query = SearchQuery::parse(&p.q).map_err(|e| Problem::invalid_query(format!("q: {e}")))?;
    let allowed = |k: SearchKind| m.permissions.contains(&needs(k));
    let kinds: Vec<SearchKind> = match p.types.as_deref() {
        None => SearchKind::ALL
            .into_iter()
            .filter(|k| allowed(*k))
            .collect(),
        Some(list) => {
            let mut kinds = vec![];
            for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let kind = SearchKind::parse(name).ok_or_else(|| {
                    Problem::invalid_query(format!(
                        "types: unknown type '{name}' (products, projects, tasks, members)"
                    ))
                })?;
                if !allowed(kind) {
                    return Err(permission_denied(needs(kind)));
                }
                if !kinds.contains(&kind) {
                    kinds.push(kind);
                }
            }
            kinds
        }
    };
    let groups = state
        .reads
        .search(&m.ctx, &query, &kinds, HITS_PER_KIND)
        .await?;
    Ok(web::Json(SearchResults {
        groups: groups
            .into_iter()
            .map(|g| SearchGroupView {
                r#type: g.kind.as_str().to_owned(),
                count: g.count,
                hits: g
                    .hits
                    .into_iter()
                    .map(|h| SearchHitView {
                        id: h.id,
                        title: h.title,
                        snippet: h.snippet,
                    })
                    .collect(),
            })
            .collect(),
    }))
}
