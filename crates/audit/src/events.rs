//! Events: every change of tenant data, as consumers (the pull API, webhooks) see it.

use std::future::Future;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tenantry_kernel::{
    ApiKeyId, EventId, Page, PageRequest, TenantCtx, TenantId, Unexpected, UserId,
};

use crate::change::{Audited, ChangeRecord};

/// Who made the change, as an event names them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventActor {
    /// `user`, `api_key`, `platform_admin`, `operator`, `directory` (SCIM) or `system`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The person, when there is one (for an API key: the user it acts for).
    pub id: Option<UserId>,
    pub api_key_id: Option<ApiKeyId>,
}

/// The object and, for an update, the old values of the fields that changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventData {
    pub object: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_attributes: Option<Map<String, Value>>,
}

/// One event: `{id, type, occurred_at, tenant_id, actor, data}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: EventId,
    #[serde(rename = "type")]
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    pub tenant_id: TenantId,
    pub actor: EventActor,
    pub data: EventData,
    /// For one webhook endpoint only (a test); not part of the payload.
    #[serde(skip)]
    pub direct_to: Option<tenantry_kernel::WebhookId>,
}

impl Event {
    /// The event of `record` made in `ctx` at `at`; `None` for a record that is no event (a
    /// security note).
    pub fn of(ctx: &TenantCtx, at: DateTime<Utc>, record: &ChangeRecord) -> Option<Self> {
        let e = record.event.as_ref()?;
        let actor = ctx.actor();
        Some(Self {
            id: EventId::new(),
            event_type: e.event_type.clone(),
            occurred_at: at,
            tenant_id: ctx.tenant_id(),
            actor: EventActor {
                kind: actor.kind().to_owned(),
                id: actor.user_id(),
                api_key_id: actor.api_key_id(),
            },
            data: EventData {
                object: e.object.clone(),
                previous_attributes: e.previous_attributes.clone(),
            },
            direct_to: e.direct_to,
        })
    }
}

/// Which events to list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub types: Option<EventTypePattern>,
    /// At or after.
    pub since: Option<DateTime<Utc>>,
    /// Before.
    pub until: Option<DateTime<Utc>>,
}

/// An event type or a family of them: `product.created`, or `product.*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventTypePattern {
    Exact(String),
    /// Every type starting with this prefix and a dot (`product.*` → `product`).
    Prefix(String),
}

impl EventTypePattern {
    /// `entity.action` or `entity.*`, lowercase letters, digits and `_`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let word = |w: &str| {
            !w.is_empty()
                && w.len() <= 50
                && w.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        };
        match s.split_once('.') {
            Some((entity, "*")) if word(entity) => Ok(Self::Prefix(entity.to_owned())),
            Some((entity, action)) if word(entity) && word(action) => Ok(Self::Exact(s.to_owned())),
            _ => Err("type must look like `product.created` or `product.*`".to_owned()),
        }
    }

    pub fn matches(&self, event_type: &str) -> bool {
        match self {
            Self::Exact(t) => t == event_type,
            Self::Prefix(p) => event_type
                .strip_prefix(p.as_str())
                .is_some_and(|rest| rest.starts_with('.')),
        }
    }
}

/// The events of one kind of entity, for the event-type catalogue: `<prefix>.<action>` for
/// each action, each carrying the entity's view (named `object_schema` in the OpenAPI
/// document; `schemas` are it and every schema it refers to).
#[derive(Clone)]
pub struct EventKind {
    pub prefix: &'static str,
    pub actions: &'static [&'static str],
    /// The quota the entity counts against (see [`Audited::QUOTA`]).
    pub quota: Option<&'static str>,
    pub object_schema: String,
    pub schemas: Vec<(
        String,
        utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
    )>,
}

impl EventKind {
    pub fn of<T: Audited>() -> Self {
        use utoipa::{PartialSchema, ToSchema};
        let mut schemas = vec![(
            <T::View as ToSchema>::name().into_owned(),
            <T::View as PartialSchema>::schema(),
        )];
        <T::View as ToSchema>::schemas(&mut schemas);
        Self {
            prefix: T::EVENT_PREFIX,
            actions: T::EVENT_ACTIONS,
            quota: T::QUOTA,
            object_schema: <T::View as ToSchema>::name().into_owned(),
            schemas,
        }
    }

    /// `(type, description)` of each of its events.
    pub fn types(&self) -> impl Iterator<Item = (String, String)> + '_ {
        let noun = self.prefix.replace('_', " ");
        self.actions
            .iter()
            .map(move |a| (format!("{}.{a}", self.prefix), format!("A {noun} was {a}.")))
    }
}

/// The tenant's events.
pub trait EventRepository: Clone + Send + Sync + 'static {
    /// Newest first.
    fn list_events(
        &self,
        ctx: &TenantCtx,
        filter: &EventFilter,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<Event>, Unexpected>> + Send;

    fn event(
        &self,
        ctx: &TenantCtx,
        id: EventId,
    ) -> impl Future<Output = Result<Option<Event>, Unexpected>> + Send;

    /// Deletes the tenant's events older than `before`; how many went.
    fn prune_events(
        &self,
        ctx: &TenantCtx,
        before: DateTime<Utc>,
    ) -> impl Future<Output = Result<u64, Unexpected>> + Send;
}

/// Reading the tenant's events (the pull API).
#[derive(Clone)]
pub struct EventService<R> {
    repo: R,
}

impl<R: EventRepository> EventService<R> {
    pub fn new(repo: R) -> Self {
        Self { repo }
    }

    /// Newest first.
    pub async fn list(
        &self,
        ctx: &TenantCtx,
        filter: &EventFilter,
        page: &PageRequest,
    ) -> Result<Page<Event>, Unexpected> {
        self.repo.list_events(ctx, filter, page).await
    }

    pub async fn get(&self, ctx: &TenantCtx, id: EventId) -> Result<Option<Event>, Unexpected> {
        self.repo.event(ctx, id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let p =
            EventTypePattern::parse("product.*").unwrap_or(EventTypePattern::Exact(String::new()));
        assert!(p.matches("product.created"));
        assert!(!p.matches("products.created"));
        assert!(!p.matches("product"));
        assert!(
            EventTypePattern::parse("product.created").is_ok_and(|p| p.matches("product.created"))
        );
        for bad in [
            "product",
            "*",
            ".*",
            "Product.created",
            "a.b.c",
            "p.%",
            "product.",
            "",
        ] {
            assert!(EventTypePattern::parse(bad).is_err(), "{bad:?}");
        }
    }
}
