//! Request extractors whose errors are problems: the JSON body (size limit 413, content type
//! 415, syntax 400, shape 422 with the offending field's path), the query (400) and path ids
//! (404). Their errors wait for the route's access check, whose 401/403 comes first. And the
//! JSON response body ([`JsonBody`]).

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpRequest, HttpResponse, HttpResponseBuilder, ResponseError, web};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::problem::{FieldError, Problem};

/// How long a body may take to arrive (TENANTRY_BODY_TIMEOUT_SECS): a client that trickles
/// or never ends its body is answered 408 and the connection's task is freed.
#[derive(Clone, Copy, Debug)]
pub struct BodyTimeout(pub std::time::Duration);

/// Largest accepted body, in bytes; set once per app from configuration.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimit(pub usize);

/// A JSON response: `HttpResponse::Ok().json_body(value)`, what actix's `json` answers, written
/// into a buffer that holds a page of results from the start. serde_json's own buffer starts at
/// 128 bytes and doubles as it fills: a page of twenty products was copied six times over.
/// (`clippy.toml` keeps actix's `json` out of the routes.)
pub trait JsonBody {
    fn json_body(&mut self, value: impl Serialize) -> HttpResponse;
}

/// A page of twenty products is about 6 KiB.
const BODY_CAPACITY: usize = 8 * 1024;

impl JsonBody for HttpResponseBuilder {
    fn json_body(&mut self, value: impl Serialize) -> HttpResponse {
        let mut body = Vec::with_capacity(BODY_CAPACITY);
        match serde_json::to_writer(&mut body, &value) {
            Ok(()) => self.insert_header(header::ContentType::json()).body(body),
            Err(e) => {
                tracing::error!(cause = %e, "a JSON response could not be written");
                Problem::internal(tenantry_kernel::Unexpected::msg(format!(
                    "writing a JSON response: {e}"
                )))
                .error_response()
            }
        }
    }
}

/// A JSON request body, deserialised into `T`.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req.app_data::<BodyLimit>().map_or(1024 * 1024, |l| l.0);
        let timeout = req
            .app_data::<BodyTimeout>()
            .map_or(std::time::Duration::from_secs(30), |t| t.0);
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<mime::Mime>().ok())
            .is_some_and(|m| {
                m.type_() == mime::APPLICATION
                    && (m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON))
            });
        let bytes = web::Bytes::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let result = read(bytes, is_json, limit, timeout).await;
            if result.is_err() {
                // The caller's access is decided first: its error wins over the body's.
                crate::guard::AccessSettled::wait(&req).await;
            }
            result.map(ApiJson).map_err(Into::into)
        })
    }
}

/// A JSON body that may be left out: no body at all is `None`; a body is read, and refused,
/// exactly as [`ApiJson`] reads it (a malformed body is never mistaken for an absent one).
pub struct OptionalJson<T>(pub Option<T>);

impl<T: DeserializeOwned + 'static> FromRequest for OptionalJson<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let headers = req.headers();
        let length = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let has_body = length.is_some_and(|n| n > 0)
            || (length.is_none() && headers.contains_key(header::TRANSFER_ENCODING));
        if !has_body {
            return Box::pin(async { Ok(Self(None)) });
        }
        let body = ApiJson::<T>::from_request(req, payload);
        Box::pin(async move { body.await.map(|b| Self(Some(b.0))) })
    }
}

async fn read<T: DeserializeOwned>(
    bytes: impl Future<Output = Result<Bytes, actix_web::Error>>,
    is_json: bool,
    limit: usize,
    timeout: std::time::Duration,
) -> Result<T, Problem> {
    if !is_json {
        return Err(Problem::unsupported_media_type());
    }
    let body: Bytes = tokio::time::timeout(timeout, bytes)
        .await
        .map_err(|_| Problem::request_timeout(timeout))?
        .map_err(|e| match e.as_error::<PayloadError>() {
            Some(PayloadError::Overflow) => Problem::payload_too_large(limit),
            _ if e.as_response_error().status_code()
                == actix_web::http::StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Problem::payload_too_large(limit)
            }
            _ => Problem::malformed_json("The request body could not be read"),
        })?;
    parse(&body)
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Problem> {
    // Every body is an object; serde would also fill a struct from an array of its fields in
    // order (`[null, null]`), which no client means.
    if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(Problem::validation(vec![FieldError {
            field: String::new(),
            message: "invalid type: array, expected a JSON object".to_owned(),
            row: None,
        }]));
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => Problem::validation(vec![FieldError {
                field: if path == "." { String::new() } else { path },
                message: strip_position(&inner.to_string()),
                row: None,
            }]),
            _ => Problem::malformed_json(inner.to_string()),
        }
    })?;
    // Anything but white space after the value is malformed too.
    de.end()
        .map_err(|e| Problem::malformed_json(e.to_string()))?;
    Ok(value)
}

/// serde_json appends " at line 1 column 17": useful for syntax errors, noise for fields.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

/// Query parameters deserialised into `T`; a bad query is a 400 `invalid_query`, reported
/// only after the route's access check (a caller who may not use the route gets 403 first).
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for ApiQuery<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let parsed = web::Query::<T>::from_query(req.query_string())
            .map(|q| q.into_inner())
            .map_err(|e| Problem::invalid_query(e.to_string()));
        let req = req.clone();
        Box::pin(async move {
            if parsed.is_err() {
                crate::guard::AccessSettled::wait(&req).await;
            }
            parsed.map(ApiQuery).map_err(Into::into)
        })
    }
}

/// Path parameters deserialised into `T` (ids): a malformed one is a 404 `not_found`, like an
/// id that exists nowhere — reported only after the route's access check, so a caller who may
/// not use the route gets 403 whatever the id looks like.
pub struct ApiPath<T>(T);

impl<T> ApiPath<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for ApiPath<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let parsed = req
            .match_info()
            .load::<T>()
            .map_err(|_| Problem::not_found());
        let req = req.clone();
        Box::pin(async move {
            if parsed.is_err() {
                crate::guard::AccessSettled::wait(&req).await;
            }
            parsed.map(ApiPath).map_err(Into::into)
        })
    }
}

/// Absent field: unchanged; `null`: cleared; a value: set.
pub(crate) fn present<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        inner: Inner,
    }

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Inner {
        n: u8,
    }

    #[test]
    fn syntax_errors_are_400_and_shape_errors_422_with_the_path() {
        let p = parse::<Body>(b"{\"name\": ").unwrap_err();
        assert_eq!(p.status.as_u16(), 400);
        assert_eq!(p.code, "malformed_json");

        let p = parse::<Body>(br#"{"name": "x", "inner": {"n": 300}}"#).unwrap_err();
        assert_eq!(p.status.as_u16(), 422);
        assert_eq!(p.errors[0].field, "inner.n");

        let p = parse::<Body>(br#"{"name": "x", "inner": {"n": 1}} trailing"#).unwrap_err();
        assert_eq!(p.code, "malformed_json");
        assert!(parse::<Body>(b"{\"name\": \"x\", \"inner\": {\"n\": 1}}  \n").is_ok());

        let p = parse::<Body>(br#"{"inner": {"n": 1}}"#).unwrap_err();
        assert_eq!(p.status.as_u16(), 422);
        assert_eq!(p.errors[0].message, "missing field `name`");
    }
}
