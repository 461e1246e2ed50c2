//! SCIM 2.0 as the wire speaks it (RFC 7643/7644): a directory user's JSON representation,
//! reading one (attribute names are case-insensitive, and may carry the schema's URN),
//! PATCH operations, the list filter, the error body, and the discovery documents.
//!
//! The protocol is its own API with its own self-description (`/ServiceProviderConfig`,
//! `/Schemas`, `/ResourceTypes`), so its routes are not in the OpenAPI document.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::{Map, Value, json};
use tenantry_identity::{ScimEmail, ScimError, ScimFilter, ScimUser, ScimUserDraft};
use tenantry_kernel::Unexpected;

pub const SCIM_JSON: &str = "application/scim+json";
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const SPC_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

/// The most users one list answers.
pub const MAX_RESULTS: u64 = 200;

/// A SCIM error response (RFC 7644 §3.12): `status` as a string, `scimType` where the RFC
/// names one.
#[derive(Debug)]
pub struct ScimProblem {
    pub status: StatusCode,
    pub scim_type: Option<&'static str>,
    pub detail: String,
    /// The cause of a 5xx: logged, never sent.
    cause: Option<Unexpected>,
}

impl std::fmt::Display for ScimProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.detail)
    }
}

impl ScimProblem {
    pub fn new(
        status: StatusCode,
        scim_type: Option<&'static str>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            scim_type,
            detail: detail.into(),
            cause: None,
        }
    }

    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some("invalidValue"), detail)
    }

    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some("invalidSyntax"), detail)
    }

    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some("invalidFilter"), detail)
    }

    pub fn invalid_path(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some("invalidPath"), detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, None, detail)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            None,
            "A valid SCIM token of this tenant is required (Authorization: Bearer scim_…)",
        )
    }

    pub fn internal(cause: Unexpected) -> Self {
        Self {
            cause: Some(cause),
            ..Self::new(StatusCode::INTERNAL_SERVER_ERROR, None, "Internal error")
        }
    }

    /// The same refusal as an API problem (its status and detail).
    pub fn from_problem(p: crate::problem::Problem) -> Self {
        match p.cause {
            Some(cause) => Self::internal(cause),
            None => Self::new(
                p.status,
                None,
                p.detail.unwrap_or_else(|| p.title.to_owned()),
            ),
        }
    }
}

impl From<Unexpected> for ScimProblem {
    fn from(u: Unexpected) -> Self {
        Self::internal(u)
    }
}

impl From<ScimError> for ScimProblem {
    fn from(e: ScimError) -> Self {
        let detail = e.to_string();
        match e {
            ScimError::NotFound => Self::not_found("No such user in this directory"),
            ScimError::Uniqueness(_) => Self::new(StatusCode::CONFLICT, Some("uniqueness"), detail),
            ScimError::InvalidValue(_) => Self::invalid_value(detail),
            ScimError::LastOwner | ScimError::BeyondToken => {
                Self::new(StatusCode::CONFLICT, Some("mutability"), detail)
            }
            ScimError::RoleNotFound(_) => Self::new(
                StatusCode::CONFLICT,
                None,
                format!("{detail}: give the SCIM token a role that exists"),
            ),
            ScimError::Quota(_) => Self::new(StatusCode::FORBIDDEN, None, detail),
            ScimError::Unexpected(u) => Self::internal(u),
        }
    }
}

impl ResponseError for ScimProblem {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        if let Some(cause) = &self.cause {
            tracing::error!(error = %cause, "SCIM request failed");
        }
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status.as_u16().to_string(),
            "detail": self.detail,
        });
        if let Some(t) = self.scim_type {
            body["scimType"] = json!(t);
        }
        let mut res = HttpResponse::build(self.status);
        res.content_type(SCIM_JSON);
        if self.status == StatusCode::UNAUTHORIZED {
            res.insert_header(("WWW-Authenticate", "Bearer realm=\"scim\""));
        }
        res.body(body.to_string())
    }
}

/// A 200 (or other) answer in `application/scim+json`.
pub fn scim_json(status: StatusCode, body: &Value) -> HttpResponse {
    HttpResponse::build(status)
        .content_type(SCIM_JSON)
        .body(body.to_string())
}

// --- the representation ------------------------------------------------------------------

/// The attributes of a User this service keeps, as the schema spells them.
const TOP: &[&str] = &[
    "schemas",
    "id",
    "externalId",
    "meta",
    "userName",
    "name",
    "displayName",
    "emails",
    "active",
];
const NAME_SUBS: &[&str] = &["givenName", "familyName", "formatted"];
const EMAIL_SUBS: &[&str] = &["value", "type", "primary"];

fn canonical(name: &str, among: &[&'static str]) -> Option<&'static str> {
    among.iter().copied().find(|c| c.eq_ignore_ascii_case(name))
}

/// An attribute name without the User schema's URN prefix.
fn unqualified(name: &str) -> &str {
    let n = USER_SCHEMA.len();
    let prefixed = name
        .get(..n)
        .is_some_and(|p| p.eq_ignore_ascii_case(USER_SCHEMA))
        && name.as_bytes().get(n) == Some(&b':');
    match name.get(n + 1..) {
        Some(rest) if prefixed && !rest.is_empty() => rest,
        _ => name,
    }
}

/// The user as SCIM returns it, under `base` (`…/scim/v2`).
pub fn render(u: &ScimUser, base: &str) -> Value {
    let mut v = json!({
        "schemas": [USER_SCHEMA],
        "id": u.id.to_string(),
        "userName": u.user_name,
        "meta": {
            "resourceType": "User",
            "created": u.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "lastModified": u.updated_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "location": format!("{base}/Users/{}", u.id),
        },
    });
    if let Some(e) = &u.external_id {
        v["externalId"] = json!(e);
    }
    if let Some(d) = &u.display_name {
        v["displayName"] = json!(d);
    }
    if let Some(a) = u.active {
        v["active"] = json!(a);
    }
    let mut name = Map::new();
    for (k, val) in [
        ("givenName", &u.given_name),
        ("familyName", &u.family_name),
        ("formatted", &u.formatted_name),
    ] {
        if let Some(val) = val {
            name.insert(k.into(), json!(val));
        }
    }
    if !name.is_empty() {
        v["name"] = Value::Object(name);
    }
    if !u.emails.is_empty() {
        v["emails"] = json!(u.emails);
    }
    v
}

/// A body's attributes under their canonical names (the schema's URN, as a prefix or as an
/// object wrapping them, is accepted); attributes this service does not keep are dropped.
pub fn canonical_object(v: &Value) -> Result<Map<String, Value>, ScimProblem> {
    let obj = v
        .as_object()
        .ok_or_else(|| ScimProblem::invalid_syntax("the body must be a JSON object"))?;
    let mut out = Map::new();
    for (k, val) in obj {
        if k.eq_ignore_ascii_case(USER_SCHEMA) {
            out.extend(canonical_object(val)?);
            continue;
        }
        if let Some(c) = canonical(unqualified(k), TOP) {
            out.insert(c.to_owned(), canonical_value(c, val.clone()));
        }
    }
    Ok(out)
}

/// A complex attribute's sub-attributes under their canonical names.
fn canonical_value(attr: &str, v: Value) -> Value {
    let subs = match attr {
        "name" => NAME_SUBS,
        "emails" => EMAIL_SUBS,
        _ => return v,
    };
    let fix = |item: Value| match item {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter_map(|(k, v)| canonical(&k, subs).map(|c| (c.to_owned(), v)))
                .collect(),
        ),
        other => other,
    };
    match v {
        Value::Array(items) => Value::Array(items.into_iter().map(fix).collect()),
        other => fix(other),
    }
}

fn opt_string(v: Option<&Value>, what: &str) -> Result<Option<String>, ScimProblem> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ScimProblem::invalid_value(format!(
            "{what} must be a string"
        ))),
    }
}

/// A boolean, also as the strings `"true"`/`"false"` some directories send.
fn boolean(v: &Value, what: &str) -> Result<bool, ScimProblem> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(ScimProblem::invalid_value(format!(
            "{what} must be a boolean"
        ))),
    }
}

/// A user body (POST, PUT, or a patched representation) as a checked draft.
pub fn parse_user(obj: &Map<String, Value>) -> Result<ScimUserDraft, ScimProblem> {
    let user_name = opt_string(obj.get("userName"), "userName")?
        .ok_or_else(|| ScimProblem::invalid_value("userName is required"))?;
    let name = match obj.get("name") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err(ScimProblem::invalid_value("name must be an object")),
    };
    let emails = match obj.get("emails") {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                let m = item
                    .as_object()
                    .ok_or_else(|| ScimProblem::invalid_value("emails must hold objects"))?;
                Ok(ScimEmail {
                    value: opt_string(m.get("value"), "emails.value")?
                        .ok_or_else(|| ScimProblem::invalid_value("emails.value is required"))?,
                    kind: opt_string(m.get("type"), "emails.type")?,
                    primary: match m.get("primary") {
                        None | Some(Value::Null) => false,
                        Some(p) => boolean(p, "emails.primary")?,
                    },
                })
            })
            .collect::<Result<_, ScimProblem>>()?,
        Some(_) => return Err(ScimProblem::invalid_value("emails must be an array")),
    };
    let active = match obj.get("active") {
        None | Some(Value::Null) => None,
        Some(a) => Some(boolean(a, "active")?),
    };
    let draft = ScimUserDraft {
        user_name,
        external_id: opt_string(obj.get("externalId"), "externalId")?,
        display_name: opt_string(obj.get("displayName"), "displayName")?,
        given_name: opt_string(name.get("givenName"), "name.givenName")?,
        family_name: opt_string(name.get("familyName"), "name.familyName")?,
        formatted_name: opt_string(name.get("formatted"), "name.formatted")?,
        emails,
        active,
    };
    Ok(draft.checked()?)
}

// --- PATCH -------------------------------------------------------------------------------

/// `attr[sub eq "value"]`: which items of a multi-valued attribute an operation targets.
#[derive(Debug, PartialEq)]
struct ValueFilter {
    sub: &'static str,
    value: Value,
}

impl ValueFilter {
    fn matches(&self, item: &Value) -> bool {
        let Some(have) = item.get(self.sub) else {
            return false;
        };
        match (have, &self.value) {
            (Value::String(a), Value::String(b)) => a.eq_ignore_ascii_case(b),
            (a, b) => a == b,
        }
    }
}

/// A PATCH path: `attr`, `attr.sub`, `attr[filter]`, `attr[filter].sub` (URN prefix allowed).
#[derive(Debug, PartialEq)]
struct PatchPath {
    attr: &'static str,
    filter: Option<ValueFilter>,
    sub: Option<&'static str>,
}

fn subs_of(attr: &str) -> &'static [&'static str] {
    match attr {
        "name" => NAME_SUBS,
        "emails" => EMAIL_SUBS,
        _ => &[],
    }
}

/// A name as schemas spell them (a URN's parts included).
fn well_formed(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b":._-$".contains(&b))
}

/// `None`: a well-formed path to an attribute this service does not keep (a directory's
/// extension or profile field, such as Entra ID's `title` or the enterprise extension):
/// the operation is ignored, as such attributes are in a POST or PUT.
fn parse_path(raw: &str) -> Result<Option<PatchPath>, ScimProblem> {
    let raw = unqualified(raw.trim());
    let bad = || ScimProblem::invalid_path(format!("{raw:?} is not a valid attribute path"));
    let (head, filter, tail) = match raw.find('[') {
        Some(open) => {
            let close = raw.rfind(']').ok_or_else(bad)?;
            if close < open {
                return Err(bad());
            }
            let rest = &raw[close + 1..];
            if !rest.is_empty() && !rest.starts_with('.') {
                return Err(bad());
            }
            (
                &raw[..open],
                Some(&raw[open + 1..close]),
                rest.strip_prefix('.'),
            )
        }
        None => match raw.split_once('.') {
            Some((a, s)) => (a, None, Some(s)),
            None => (raw, None, None),
        },
    };
    if !well_formed(head) || tail.is_some_and(|t| !well_formed(t)) {
        return Err(bad());
    }
    let Some(attr) = canonical(head, TOP) else {
        return Ok(None);
    };
    if matches!(attr, "schemas" | "id" | "meta") {
        return Err(ScimProblem::new(
            StatusCode::BAD_REQUEST,
            Some("mutability"),
            format!("{attr} is read-only"),
        ));
    }
    let subs = subs_of(attr);
    let sub = match tail {
        None => None,
        Some(t) => match canonical(t, subs) {
            Some(c) => Some(c),
            None if subs.is_empty() => return Err(bad()),
            None => return Ok(None),
        },
    };
    let filter = filter
        .map(|f| {
            if attr != "emails" {
                return Err(bad());
            }
            let (sub, value) = parse_comparison(f, subs)?;
            Ok(ValueFilter { sub, value })
        })
        .transpose()?;
    Ok(Some(PatchPath { attr, filter, sub }))
}

/// `attr eq "value"` (or `eq true`/`false`): the attribute (among `names`) and the value.
fn parse_comparison(
    raw: &str,
    names: &[&'static str],
) -> Result<(&'static str, Value), ScimProblem> {
    let bad = || {
        ScimProblem::invalid_filter(format!(
            "{raw:?}: only `attribute eq \"value\"` is supported"
        ))
    };
    let raw = raw.trim();
    let (attr, rest) = raw.split_once(char::is_whitespace).ok_or_else(bad)?;
    let (op, value) = rest
        .trim_start()
        .split_once(char::is_whitespace)
        .ok_or_else(bad)?;
    if !op.eq_ignore_ascii_case("eq") {
        return Err(bad());
    }
    let attr = canonical(unqualified(attr), names).ok_or_else(|| {
        ScimProblem::invalid_filter(format!("{attr:?} cannot be filtered on here"))
    })?;
    let value: Value = serde_json::from_str(value.trim()).map_err(|_| bad())?;
    if !(value.is_string() || value.is_boolean()) {
        return Err(bad());
    }
    Ok((attr, value))
}

/// The list filter: `userName eq "…"` or `externalId eq "…"`.
pub fn parse_filter(raw: Option<&str>) -> Result<ScimFilter, ScimProblem> {
    let Some(raw) = raw.map(str::trim).filter(|f| !f.is_empty()) else {
        return Ok(ScimFilter::All);
    };
    let (attr, value) = parse_comparison(raw, &["userName", "externalId"])?;
    let Value::String(value) = value else {
        return Err(ScimProblem::invalid_filter("compare with a string"));
    };
    Ok(match attr {
        "userName" => ScimFilter::UserName(tenantry_identity::user_name_key(&value)),
        _ => ScimFilter::ExternalId(value),
    })
}

/// Merges `value`'s members into the object at `slot` (a complex attribute).
fn merge_into(slot: &mut Value, value: Value) -> Result<(), ScimProblem> {
    let Value::Object(add) = value else {
        return Err(ScimProblem::invalid_value(
            "a complex attribute takes an object",
        ));
    };
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    if let Value::Object(m) = slot {
        m.extend(add);
    }
    Ok(())
}

fn as_items(value: Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items,
        other => vec![other],
    }
}

/// Applies one operation without a path: `value` is an object of attributes.
fn apply_whole(user: &mut Map<String, Value>, op: &str, value: Value) -> Result<(), ScimProblem> {
    if op == "remove" {
        return Err(ScimProblem::new(
            StatusCode::BAD_REQUEST,
            Some("noTarget"),
            "remove needs a path",
        ));
    }
    let attrs = canonical_object(&value)
        .map_err(|_| ScimProblem::invalid_value("without a path, the value is an object"))?;
    for (attr, v) in attrs {
        if matches!(attr.as_str(), "schemas" | "id" | "meta") {
            continue;
        }
        let slot = user.entry(attr.clone()).or_insert(Value::Null);
        match (attr.as_str(), op) {
            ("emails", "add") => {
                let mut items = match slot.take() {
                    Value::Array(a) => a,
                    _ => vec![],
                };
                items.extend(as_items(v));
                *slot = Value::Array(items);
            }
            ("name", _) => merge_into(slot, v)?,
            _ => *slot = v,
        }
    }
    Ok(())
}

/// Applies one operation with a path.
fn apply_at(
    user: &mut Map<String, Value>,
    op: &str,
    path: &PatchPath,
    value: Option<Value>,
) -> Result<(), ScimProblem> {
    let needs_value = || ScimProblem::invalid_value(format!("{op} needs a value"));
    let value = value.map(|v| canonical_value(path.attr, v));
    match (&path.filter, path.sub) {
        (None, None) => match op {
            "remove" => {
                user.remove(path.attr);
            }
            _ => {
                let value = value.ok_or_else(needs_value)?;
                let slot = user.entry(path.attr).or_insert(Value::Null);
                match (path.attr, op) {
                    ("emails", "add") => {
                        let mut items = match slot.take() {
                            Value::Array(a) => a,
                            _ => vec![],
                        };
                        items.extend(as_items(value));
                        *slot = Value::Array(items);
                    }
                    ("emails", _) => *slot = Value::Array(as_items(value)),
                    ("name", _) => merge_into(slot, value)?,
                    _ => *slot = value,
                }
            }
        },
        (None, Some(sub)) => {
            let slot = user.entry(path.attr).or_insert(Value::Null);
            let mut set = |obj: &mut Value| -> Result<(), ScimProblem> {
                if op == "remove" {
                    if let Value::Object(m) = obj {
                        m.remove(sub);
                    }
                    return Ok(());
                }
                merge_into(obj, json!({ sub: value.clone().ok_or_else(needs_value)? }))
            };
            match slot {
                Value::Array(items) => items.iter_mut().try_for_each(&mut set)?,
                other => set(other)?,
            }
        }
        (Some(filter), sub) => {
            let slot = user.entry(path.attr).or_insert(Value::Null);
            let mut items = match slot.take() {
                Value::Array(a) => a,
                _ => vec![],
            };
            let matched = items.iter().any(|i| filter.matches(i));
            match (op, sub) {
                ("remove", None) => items.retain(|i| !filter.matches(i)),
                ("remove", Some(sub)) => {
                    for i in items.iter_mut().filter(|i| filter.matches(i)) {
                        if let Value::Object(m) = i {
                            m.remove(sub);
                        }
                    }
                }
                (_, sub) => {
                    let value = value.ok_or_else(needs_value)?;
                    let patch = match sub {
                        Some(sub) => json!({ sub: value }),
                        None => value,
                    };
                    if matched {
                        for i in items.iter_mut().filter(|i| filter.matches(i)) {
                            merge_into(i, patch.clone())?;
                        }
                    } else if op == "add" {
                        // `emails[type eq "work"].value` adds the item the filter describes.
                        let mut item = json!({ filter.sub: filter.value.clone() });
                        merge_into(&mut item, patch)?;
                        items.push(item);
                    } else {
                        return Err(ScimProblem::new(
                            StatusCode::BAD_REQUEST,
                            Some("noTarget"),
                            "no value matches the path's filter",
                        ));
                    }
                }
            }
            *slot = Value::Array(items);
        }
    }
    Ok(())
}

/// Applies a PatchOp body to the user's current representation (canonical names); the
/// result is then read like a PUT. A new primary e-mail makes the others non-primary.
pub fn apply_patch(current: &Value, body: &Value) -> Result<Map<String, Value>, ScimProblem> {
    let mut user = canonical_object(current)?;
    let body = body
        .as_object()
        .ok_or_else(|| ScimProblem::invalid_syntax("the body must be a PatchOp object"))?;
    let schemas_ok = body
        .get("schemas")
        .and_then(Value::as_array)
        .is_some_and(|s| s.iter().any(|s| s.as_str() == Some(PATCH_SCHEMA)));
    if !schemas_ok {
        return Err(ScimProblem::invalid_syntax(format!(
            "schemas must list {PATCH_SCHEMA}"
        )));
    }
    let ops = body
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Operations"))
        .and_then(|(_, v)| v.as_array())
        .filter(|ops| !ops.is_empty())
        .ok_or_else(|| ScimProblem::invalid_syntax("Operations must be a non-empty array"))?;
    for op in ops {
        let op = op
            .as_object()
            .ok_or_else(|| ScimProblem::invalid_syntax("an operation is an object"))?;
        let get = |name: &str| {
            op.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let kind = get("op")
            .and_then(|o| o.as_str().map(str::to_ascii_lowercase))
            .filter(|o| matches!(o.as_str(), "add" | "replace" | "remove"))
            .ok_or_else(|| ScimProblem::invalid_syntax("op must be add, replace or remove"))?;
        let path = match get("path") {
            None | Some(Value::Null) => None,
            Some(Value::String(p)) => match parse_path(&p)? {
                Some(path) => Some(path),
                // An attribute this service does not keep: nothing to change.
                None => continue,
            },
            Some(_) => return Err(ScimProblem::invalid_path("path must be a string")),
        };
        let value = get("value");
        match path {
            None => apply_whole(
                &mut user,
                &kind,
                value.ok_or_else(|| ScimProblem::invalid_value("the operation needs a value"))?,
            )?,
            Some(path) => apply_at(&mut user, &kind, &path, value)?,
        }
    }
    let is_primary = |e: &Value| {
        e.get("primary")
            .is_some_and(|p| boolean(p, "").unwrap_or(false))
    };
    if let Some(Value::Array(emails)) = user.get_mut("emails")
        && let Some(last) = emails.iter().rposition(is_primary)
    {
        for (i, e) in emails.iter_mut().enumerate() {
            if i != last
                && let Value::Object(m) = e
            {
                m.insert("primary".into(), Value::Bool(false));
            }
        }
    }
    Ok(user)
}

// --- attributes= and excludedAttributes= --------------------------------------------------

fn attribute_list(raw: Option<&str>) -> Vec<(String, Option<String>)> {
    raw.unwrap_or_default()
        .split(',')
        .map(|a| unqualified(a.trim()))
        .filter(|a| !a.is_empty())
        .map(|a| match a.split_once('.') {
            Some((top, sub)) => (top.to_ascii_lowercase(), Some(sub.to_ascii_lowercase())),
            None => (a.to_ascii_lowercase(), None),
        })
        .collect()
}

/// The representation with only the requested attributes (`id` and `schemas` always), or
/// without the excluded ones.
pub fn project(mut v: Value, attributes: Option<&str>, excluded: Option<&str>) -> Value {
    let wanted = attribute_list(attributes);
    let unwanted = attribute_list(excluded);
    let Value::Object(m) = &mut v else { return v };
    let always = |k: &str| matches!(k, "id" | "schemas");
    if !wanted.is_empty() {
        m.retain(|k, val| {
            let key = k.to_ascii_lowercase();
            if always(k) || wanted.iter().any(|(t, s)| *t == key && s.is_none()) {
                return true;
            }
            let subs: Vec<&String> = wanted
                .iter()
                .filter(|(t, _)| *t == key)
                .filter_map(|(_, s)| s.as_ref())
                .collect();
            if subs.is_empty() {
                return false;
            }
            let keep = |o: &mut Map<String, Value>| {
                o.retain(|sk, _| subs.iter().any(|s| **s == sk.to_ascii_lowercase()));
            };
            match val {
                Value::Object(o) => keep(o),
                Value::Array(items) => items.iter_mut().for_each(|i| {
                    if let Value::Object(o) = i {
                        keep(o);
                    }
                }),
                _ => {}
            }
            true
        });
    }
    for (top, sub) in unwanted {
        let key = m.keys().find(|k| k.to_ascii_lowercase() == top).cloned();
        let Some(key) = key.filter(|k| !always(k)) else {
            continue;
        };
        match sub {
            None => {
                m.remove(&key);
            }
            Some(sub) => {
                let drop =
                    |o: &mut Map<String, Value>| o.retain(|sk, _| sk.to_ascii_lowercase() != sub);
                match m.get_mut(&key) {
                    Some(Value::Object(o)) => drop(o),
                    Some(Value::Array(items)) => items.iter_mut().for_each(|i| {
                        if let Value::Object(o) = i {
                            drop(o);
                        }
                    }),
                    _ => {}
                }
            }
        }
    }
    v
}

// --- discovery ---------------------------------------------------------------------------

pub fn service_provider_config(base: &str) -> Value {
    json!({
        "schemas": [SPC_SCHEMA],
        "documentationUri": "https://datatracker.ietf.org/doc/html/rfc7644",
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": false},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "A SCIM token of the tenant (POST /api/v1/scim/tokens), as `Authorization: Bearer scim_…`",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base}/ServiceProviderConfig"),
        },
    })
}

pub fn user_resource_type(base: &str) -> Value {
    json!({
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": "User",
        "name": "User",
        "endpoint": "/Users",
        "description": "A person of the tenant's directory; active ones are members of the tenant",
        "schema": USER_SCHEMA,
        "schemaExtensions": [],
        "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User")},
    })
}

fn attribute(name: &str, kind: &str, description: &str) -> Value {
    json!({
        "name": name,
        "type": kind,
        "multiValued": false,
        "description": description,
        "required": false,
        "caseExact": false,
        "mutability": "readWrite",
        "returned": "default",
        "uniqueness": "none",
    })
}

pub fn user_schema(base: &str) -> Value {
    let mut user_name = attribute(
        "userName",
        "string",
        "Unique identifier for the user in this directory (case-insensitive)",
    );
    user_name["required"] = json!(true);
    user_name["uniqueness"] = json!("server");
    let mut name = attribute("name", "complex", "The components of the user's name");
    name["subAttributes"] = json!([
        attribute(
            "formatted",
            "string",
            "The full name, formatted for display"
        ),
        attribute("familyName", "string", "The family name"),
        attribute("givenName", "string", "The given name"),
    ]);
    let mut emails = attribute(
        "emails",
        "complex",
        "E-mail addresses; the primary one (else the first, else a userName that is an \
         address) names the Tenantry account",
    );
    emails["multiValued"] = json!(true);
    let mut kind = attribute("type", "string", "A label: work, home or other");
    kind["canonicalValues"] = json!(["work", "home", "other"]);
    emails["subAttributes"] = json!([
        attribute("value", "string", "The e-mail address"),
        kind,
        attribute("primary", "boolean", "The preferred address"),
    ]);
    json!({
        "schemas": [SCHEMA_SCHEMA],
        "id": USER_SCHEMA,
        "name": "User",
        "description": "User Account",
        "attributes": [
            user_name,
            name,
            attribute("displayName", "string", "The name to display"),
            emails,
            attribute("active", "boolean", "Whether the user is a member of the tenant"),
        ],
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{USER_SCHEMA}")},
    })
}

/// A list response of `resources`.
pub fn list_response(total: u64, start_index: u64, resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patched(current: Value, ops: Value) -> Result<Map<String, Value>, ScimProblem> {
        apply_patch(
            &current,
            &json!({"schemas": [PATCH_SCHEMA], "Operations": ops}),
        )
    }

    #[test]
    fn paths_are_read_case_insensitively_with_or_without_the_urn() {
        let p = parse_path("urn:ietf:params:scim:schemas:core:2.0:User:name.GivenName")
            .unwrap()
            .unwrap();
        assert_eq!((p.attr, p.sub), ("name", Some("givenName")));
        let p = parse_path("emails[type eq \"work\"].value")
            .unwrap()
            .unwrap();
        assert_eq!(p.attr, "emails");
        assert_eq!(p.filter.unwrap().value, json!("work"));
        // What Entra ID sends besides: attributes this service does not keep are ignored.
        for kept_elsewhere in [
            "title",
            "phoneNumbers[type eq \"work\"].value",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
            "name.middleName",
        ] {
            assert!(
                parse_path(kept_elsewhere).unwrap().is_none(),
                "{kept_elsewhere}"
            );
        }
        assert!(parse_path("id").is_err());
        assert!(parse_path("emails[").is_err());
        assert!(parse_path("userName.x").is_err());
        assert!(parse_path("bad path").is_err());
    }

    #[test]
    fn names_with_multibyte_characters_at_the_urn_boundary_do_not_panic() {
        let odd = format!("{}\u{e9}xx", &USER_SCHEMA[..USER_SCHEMA.len() - 1]);
        assert_eq!(unqualified(&odd), odd);
        assert!(parse_path(&odd).is_err());
        assert_eq!(
            project(json!({"id": "1"}), Some(&odd), Some(&odd)),
            json!({"id": "1"})
        );
        assert_eq!(unqualified(&format!("{USER_SCHEMA}:userName")), "userName");
    }

    #[test]
    fn the_directories_ways_of_deactivating_all_work() {
        let user = json!({"userName": "ann", "active": true});
        // Okta: no path, an object.
        let u = patched(
            user.clone(),
            json!([{"op": "replace", "value": {"active": false}}]),
        )
        .unwrap();
        assert_eq!(u["active"], json!(false));
        // Entra ID: a capitalised op and a string boolean.
        let u = patched(
            user,
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
        )
        .unwrap();
        assert_eq!(parse_user(&u).unwrap().active, Some(false));
    }

    #[test]
    fn filtered_email_paths_update_or_add_the_item() {
        let user = json!({"userName": "ann", "emails": [{"value": "a@x.test", "type": "work"}]});
        let u = patched(
            user.clone(),
            json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "b@x.test"}]),
        )
        .unwrap();
        assert_eq!(u["emails"], json!([{"value": "b@x.test", "type": "work"}]));
        let u = patched(
            user,
            json!([{"op": "add", "path": "emails[type eq \"home\"].value", "value": "c@x.test"}]),
        )
        .unwrap();
        assert_eq!(u["emails"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn filters_and_projections() {
        assert_eq!(
            parse_filter(Some("UserName eq \"Ann@Acme.com\"")).unwrap(),
            ScimFilter::UserName("ann@acme.com".into())
        );
        assert!(parse_filter(Some("userName co \"a\"")).is_err());
        assert!(parse_filter(Some("emails eq \"a\"")).is_err());
        let v = json!({"schemas": [USER_SCHEMA], "id": "1", "userName": "a", "name": {"givenName": "A", "familyName": "B"}});
        assert_eq!(
            project(v.clone(), Some("name.givenName"), None),
            json!({"schemas": [USER_SCHEMA], "id": "1", "name": {"givenName": "A"}})
        );
        assert_eq!(
            project(v, None, Some("name,userName")),
            json!({"schemas": [USER_SCHEMA], "id": "1"})
        );
    }
}
