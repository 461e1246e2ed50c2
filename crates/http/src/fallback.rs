//! Requests no route matched: 405 with `Allow` when the path exists under other methods,
//! else 404 — both as problems.

use actix_router::ResourceDef;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::problem::Problem;

/// Every documented path with its methods, from the OpenAPI document.
pub struct RouteTable(Vec<(ResourceDef, Vec<String>)>);

impl RouteTable {
    pub fn from_spec(api: &utoipa::openapi::OpenApi) -> Self {
        let mut routes: Vec<(ResourceDef, Vec<String>)> = api
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                // HEAD is served wherever GET is (see `request_context`).
                let methods = item
                    .get
                    .iter()
                    .flat_map(|_| ["GET", "HEAD"])
                    .chain(item.post.iter().map(|_| "POST"))
                    .chain(item.put.iter().map(|_| "PUT"))
                    .chain(item.patch.iter().map(|_| "PATCH"))
                    .chain(item.delete.iter().map(|_| "DELETE"))
                    .map(str::to_owned)
                    .collect();
                (ResourceDef::new(path.as_str()), methods)
            })
            .collect();
        for path in ["/openapi.json", "/docs", "/docs/{_:.*}"] {
            routes.push((ResourceDef::new(path), vec!["GET".into(), "HEAD".into()]));
        }
        Self(routes)
    }

    /// The methods of the documented path `path` is: the most specific template matching it
    /// (`/products/bulk-import` is that path, not a product id under `/products/{id}`).
    fn allowed(&self, path: &str) -> Option<String> {
        let matching: Vec<&(ResourceDef, Vec<String>)> = self
            .0
            .iter()
            .filter(|(def, _)| def.is_match(path))
            .collect();
        let variables = |def: &ResourceDef| def.pattern().map_or(0, |p| p.matches('{').count());
        let fewest = matching.iter().map(|(def, _)| variables(def)).min()?;
        let methods: Vec<&str> = matching
            .iter()
            .filter(|(def, _)| variables(def) == fewest)
            .flat_map(|(_, m)| m.iter().map(String::as_str))
            .collect();
        Some(methods.join(", "))
    }
}

pub async fn fallback(
    req: HttpRequest,
    routes: web::Data<RouteTable>,
) -> Result<HttpResponse, Problem> {
    match routes.allowed(req.path()) {
        Some(allow) => Err(Problem::method_not_allowed(allow)),
        None => Err(Problem::not_found()),
    }
}
