//! Requests no route matched: 405 with `Allow` when the path exists under other methods,
//! else 404 — both as problems.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::problem::Problem;

/// Every documented path with its methods, from the OpenAPI document.
pub struct RouteTable(Vec<(Template, Vec<&'static str>)>);

/// A path template matched segment by segment, as actix matches it: `{name}` is one
/// non-empty segment, `{_:.*}` the rest of the path. Not a regular expression per path:
/// compiled, the table's expressions held 1.6 MB for a table read only by 404s and 405s.
struct Template {
    segments: Vec<Segment>,
    /// `{…}` in the template: the fewer, the more specific.
    variables: usize,
}

enum Segment {
    Literal(String),
    One,
    Rest,
}

impl Template {
    fn new(path: &str) -> Self {
        let segments: Vec<Segment> = path
            .split('/')
            .map(
                |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(var) if var.ends_with(":.*") => Segment::Rest,
                    Some(_) => Segment::One,
                    None => Segment::Literal(s.to_owned()),
                },
            )
            .collect();
        let variables = segments
            .iter()
            .filter(|s| !matches!(s, Segment::Literal(_)))
            .count();
        Self {
            segments,
            variables,
        }
    }

    fn is_match(&self, path: &str) -> bool {
        let mut parts = path.split('/');
        for segment in &self.segments {
            match segment {
                Segment::Rest => return parts.next().is_some(),
                Segment::One => match parts.next() {
                    Some(part) if !part.is_empty() => {}
                    _ => return false,
                },
                Segment::Literal(literal) => {
                    if parts.next() != Some(literal.as_str()) {
                        return false;
                    }
                }
            }
        }
        parts.next().is_none()
    }
}

impl RouteTable {
    pub fn from_spec(api: &utoipa::openapi::OpenApi) -> Self {
        let mut routes: Vec<(Template, Vec<&'static str>)> = api
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
                    .collect();
                (Template::new(path), methods)
            })
            .collect();
        for path in ["/openapi.json", "/docs", "/docs/{_:.*}"] {
            routes.push((Template::new(path), vec!["GET", "HEAD"]));
        }
        Self(routes)
    }

    /// The methods of the documented path `path` is: the most specific template matching it
    /// (`/products/bulk-import` is that path, not a product id under `/products/{id}`).
    fn allowed(&self, path: &str) -> Option<String> {
        let matching: Vec<&(Template, Vec<&str>)> = self
            .0
            .iter()
            .filter(|(template, _)| template.is_match(path))
            .collect();
        let fewest = matching.iter().map(|(t, _)| t.variables).min()?;
        let methods: Vec<&str> = matching
            .iter()
            .filter(|(t, _)| t.variables == fewest)
            .flat_map(|(_, m)| m.iter().copied())
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

#[cfg(test)]
mod tests {
    use super::Template;

    #[test]
    fn templates_match_as_actix_routes_them() {
        let product = Template::new("/api/v1/products/{id}");
        assert!(product.is_match("/api/v1/products/p1"));
        assert!(!product.is_match("/api/v1/products/"));
        assert!(!product.is_match("/api/v1/products"));
        assert!(!product.is_match("/api/v1/products/p1/"));
        assert!(!product.is_match("/api/v1/products/p1/tasks"));
        assert_eq!(product.variables, 1);

        let list = Template::new("/api/v1/products");
        assert!(list.is_match("/api/v1/products"));
        assert!(!list.is_match("/api/v1/products/"));
        assert!(!list.is_match("/api/v1/product"));

        let docs = Template::new("/docs/{_:.*}");
        assert!(docs.is_match("/docs/"));
        assert!(docs.is_match("/docs/swagger-ui.css"));
        assert!(docs.is_match("/docs/a/b"));
        assert!(!docs.is_match("/docs"));
        assert!(!docs.is_match("/doc/x"));
    }
}
