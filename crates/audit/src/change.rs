//! Change records: built from entity snapshots, never by hand-listing fields.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};
use tenantry_jobs::Job;

/// An entity whose changes are recorded. [`Audited::audit_fields`] is what the audit trail
/// shows (usually [`serialized`] of the entity); an event carries the entity's
/// [`Audited::View`], the type the API returns it as, so events, responses and the schemas
/// documenting both come from one type. Fields named in [`Audited::REDACTED`] (secrets,
/// digests) reach neither record.
pub trait Audited: Sized {
    /// The entity type as the audit trail records it, e.g. `product`.
    const ENTITY: &'static str;
    /// The first part of its event types (`product` → `product.created`).
    const EVENT_PREFIX: &'static str = Self::ENTITY;
    /// Every action its events are named with (the event-type catalogue lists them).
    const EVENT_ACTIONS: &'static [&'static str] =
        &[actions::CREATED, actions::UPDATED, actions::DELETED];
    /// Fields left out of every record.
    const REDACTED: &'static [&'static str] = &[];
    /// Fields that are personal data of the record's subject ([`Audited::data_subject`]):
    /// the audit trail stores them sealed under the key of the subject's e-mail address, which
    /// goes when the account with that address is erased.
    const PERSONAL: &'static [&'static str] = &[];
    /// The normalised e-mail address of the person this entity is about, when it holds
    /// [`Audited::PERSONAL`] fields (an invitee, a directory user).
    fn data_subject(&self) -> Option<String> {
        None
    }
    /// The quota this entity counts against (`products`), if any. Declaring it is all it takes
    /// for the resource to be counted and limited: the change pipeline counts what the
    /// entity's changes add and remove, in the same transaction, and refuses a change that
    /// goes over the tenant's limit.
    const QUOTA: Option<&'static str> = None;
    /// Whether this entity takes up its quota now (a revoked key, a system role do not).
    fn counted(&self) -> bool {
        true
    }
    /// How much of its quota this entity takes up: one when [`Audited::counted`] (a quota
    /// of things), or a measure of it (a file's bytes count against `storage_bytes`).
    fn quota_amount(&self) -> i64 {
        i64::from(self.counted())
    }
    /// The entity as the API returns it: an event's `data.object`.
    type View: Serialize + utoipa::ToSchema + for<'a> From<&'a Self>;
    /// The id as recorded.
    fn audit_id(&self) -> String;
    /// The entity's fields as a JSON object.
    fn audit_fields(&self) -> Value;
    /// The event object: the entity's [`Audited::View`].
    fn event_object(&self) -> Value {
        serialized(&Self::View::from(self))
    }
}

/// `object` without `fields`: audit fields as the event object minus what is no change
/// (ids, creation times, use).
pub fn without(mut object: Value, fields: &[&str]) -> Value {
    if let Value::Object(map) = &mut object {
        for f in fields {
            map.remove(*f);
        }
    }
    object
}

/// The `Serialize` form of an entity: the usual [`Audited::audit_fields`].
pub fn serialized<T: Serialize>(entity: &T) -> Value {
    serde_json::to_value(entity)
        .unwrap_or_else(|e| serde_json::json!({ "serialization_error": e.to_string() }))
}

/// The generic actions; domain crates name their own (`revoked`, `accepted`…) beside their
/// entities. Security notes use their own names (see [`ChangeLog::note`]).
pub mod actions {
    pub const CREATED: &str = "created";
    pub const UPDATED: &str = "updated";
    pub const DELETED: &str = "deleted";
}

/// One field's value before and after (`null` when it did not exist).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FieldChange {
    pub old: Value,
    pub new: Value,
}

/// What one change did to one entity.
#[derive(Clone, Debug, PartialEq)]
pub struct ChangeRecord {
    pub entity_type: String,
    pub entity_id: String,
    pub action: String,
    pub changes: BTreeMap<String, FieldChange>,
    /// The event consumers see, for a change of data (none for a security note).
    pub event: Option<EventRecord>,
    /// Whose personal data some of the fields are (sealed under their address's key).
    pub subject: Option<Subject>,
}

/// The person a record is about, and which of its fields are their personal data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject {
    /// Their normalised e-mail address.
    pub address: String,
    pub fields: &'static [&'static str],
}

fn subject<T: Audited>(entity: &T) -> Option<Subject> {
    if T::PERSONAL.is_empty() {
        return None;
    }
    entity.data_subject().map(|address| Subject {
        address,
        fields: T::PERSONAL,
    })
}

/// A change as an event: `<entity>.<action>` with the object and, for an update, the old
/// values of the fields that changed.
#[derive(Clone, Debug, PartialEq)]
pub struct EventRecord {
    pub event_type: String,
    pub object: Value,
    pub previous_attributes: Option<Map<String, Value>>,
    /// For one webhook endpoint only (a test): the fan-out sends it there and nowhere else.
    pub direct_to: Option<tenantry_kernel::WebhookId>,
}

impl ChangeRecord {
    /// The changes as stored: a JSON object `{field: {old, new}}` with sorted keys.
    pub fn changes_json(&self) -> String {
        serde_json::to_string(&self.changes).unwrap_or_else(|_| "{}".to_owned())
    }
}

/// A job a change asks for, and when it may run (`None`: as soon as the change commits).
#[derive(Clone, Debug, PartialEq)]
pub struct LoggedJob {
    pub job: Job,
    pub not_before: Option<chrono::DateTime<chrono::Utc>>,
}

/// The changes of one transaction, in the order they happened, and the jobs they ask for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChangeLog {
    records: Vec<ChangeRecord>,
    jobs: Vec<LoggedJob>,
    /// What the changes add to (or take from) each quota's usage.
    usage: BTreeMap<&'static str, i64>,
}

fn object<T: Audited>(entity: &T) -> Value {
    let mut object = entity.event_object();
    if let Value::Object(map) = &mut object {
        for secret in T::REDACTED {
            map.remove(*secret);
        }
    }
    object
}

fn event<T: Audited>(action: &str, entity: &T) -> EventRecord {
    debug_assert!(
        T::EVENT_ACTIONS.contains(&action),
        "{}.{action} is missing from {}'s EVENT_ACTIONS",
        T::EVENT_PREFIX,
        T::ENTITY
    );
    EventRecord {
        event_type: format!("{}.{action}", T::EVENT_PREFIX),
        object: object(entity),
        previous_attributes: None,
        direct_to: None,
    }
}

fn fields<T: Audited>(entity: &T) -> BTreeMap<String, Value> {
    let mut map: BTreeMap<String, Value> = match entity.audit_fields() {
        Value::Object(m) => m.into_iter().collect(),
        other => BTreeMap::from([("value".to_owned(), other)]),
    };
    for secret in T::REDACTED {
        map.remove(*secret);
    }
    map
}

impl ChangeLog {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn created<T: Audited>(&mut self, new: &T) {
        self.created_as(actions::CREATED, new);
    }

    /// Like [`ChangeLog::created`] under a more telling action name (`requested`…).
    pub fn created_as<T: Audited>(&mut self, action: &str, new: &T) {
        let changes = fields(new)
            .into_iter()
            .map(|(k, v)| {
                (
                    k,
                    FieldChange {
                        old: Value::Null,
                        new: v,
                    },
                )
            })
            .collect();
        let event = event(action, new);
        self.count::<T>(new.quota_amount());
        self.push(T::ENTITY, new.audit_id(), action, changes, Some(event));
        self.about(subject(new));
    }

    /// Records the fields that differ; an update that changed nothing records nothing.
    pub fn updated<T: Audited>(&mut self, old: &T, new: &T) {
        self.updated_as(actions::UPDATED, old, new);
    }

    /// Like [`ChangeLog::updated`] under a more telling action name (`toggled`, `revoked`…).
    pub fn updated_as<T: Audited>(&mut self, action: &str, old: &T, new: &T) {
        self.count::<T>(new.quota_amount() - old.quota_amount());
        let before = fields(old);
        let mut after = fields(new);
        let mut changes = BTreeMap::new();
        for (k, old_v) in before {
            let new_v = after.remove(&k).unwrap_or(Value::Null);
            if old_v != new_v {
                changes.insert(
                    k,
                    FieldChange {
                        old: old_v,
                        new: new_v,
                    },
                );
            }
        }
        for (k, new_v) in after {
            changes.insert(
                k,
                FieldChange {
                    old: Value::Null,
                    new: new_v,
                },
            );
        }
        if !changes.is_empty() {
            let mut event = event(action, new);
            let before = object(old);
            if let (Value::Object(before), Value::Object(after)) = (before, &event.object) {
                let previous = before
                    .into_iter()
                    .filter(|(k, v)| after.get(k) != Some(v))
                    .collect();
                event.previous_attributes = Some(previous);
            }
            self.push(T::ENTITY, new.audit_id(), action, changes, Some(event));
            self.about(subject(new).or_else(|| subject(old)));
        }
    }

    pub fn deleted<T: Audited>(&mut self, old: &T) {
        self.deleted_as(actions::DELETED, old);
    }

    /// Like [`ChangeLog::deleted`] under a more telling action name (`removed`…).
    pub fn deleted_as<T: Audited>(&mut self, action: &str, old: &T) {
        let changes = fields(old)
            .into_iter()
            .map(|(k, v)| {
                (
                    k,
                    FieldChange {
                        old: v,
                        new: Value::Null,
                    },
                )
            })
            .collect();
        let event = event(action, old);
        self.count::<T>(-old.quota_amount());
        self.push(T::ENTITY, old.audit_id(), action, changes, Some(event));
        self.about(subject(old));
    }

    /// The last record is about `subject`.
    fn about(&mut self, subject: Option<Subject>) {
        if let Some(last) = self.records.last_mut() {
            last.subject = subject;
        }
    }

    fn count<T: Audited>(&mut self, delta: i64) {
        if let (Some(resource), false) = (T::QUOTA, delta == 0) {
            *self.usage.entry(resource).or_default() += delta;
        }
    }

    /// What the changes add to (negative: free) each quota's usage; resources whose changes
    /// cancel out are left out.
    pub fn usage(&self) -> impl Iterator<Item = (&'static str, i64)> + '_ {
        self.usage
            .iter()
            .filter(|(_, d)| **d != 0)
            .map(|(r, d)| (*r, *d))
    }

    /// A security note tied to the tenant (permission denied…): audited, not an event;
    /// `details` are recorded as new values.
    pub fn note(
        &mut self,
        entity_type: &str,
        entity_id: impl Into<String>,
        action: &str,
        details: impl IntoIterator<Item = (&'static str, Value)>,
    ) {
        let changes = details
            .into_iter()
            .map(|(k, v)| {
                (
                    k.to_owned(),
                    FieldChange {
                        old: Value::Null,
                        new: v,
                    },
                )
            })
            .collect();
        self.push(entity_type, entity_id.into(), action, changes, None);
    }

    /// An event that changes no data (a webhook test), audited as `entity_type entity_id
    /// action` with `details`, carrying `object` and sent to `direct_to` only.
    pub fn announce(
        &mut self,
        (entity_type, entity_id, action): (&str, String, &str),
        details: impl IntoIterator<Item = (&'static str, Value)>,
        event_type: &str,
        object: Value,
        direct_to: tenantry_kernel::WebhookId,
    ) {
        self.note(entity_type, entity_id, action, details);
        if let Some(last) = self.records.last_mut() {
            last.event = Some(EventRecord {
                event_type: event_type.to_owned(),
                object,
                previous_attributes: None,
                direct_to: Some(direct_to),
            });
        }
    }

    /// Asks for `job` to run in this tenant once the transaction commits.
    pub fn enqueue(&mut self, job: Job) {
        self.jobs.push(LoggedJob {
            job,
            not_before: None,
        });
    }

    /// Asks for `job` to run in this tenant once the transaction commits and not before
    /// `at` (an export's expiry).
    pub fn enqueue_at(&mut self, job: Job, at: chrono::DateTime<chrono::Utc>) {
        self.jobs.push(LoggedJob {
            job,
            not_before: Some(at),
        });
    }

    fn push(
        &mut self,
        entity_type: &str,
        entity_id: String,
        action: &str,
        changes: BTreeMap<String, FieldChange>,
        event: Option<EventRecord>,
    ) {
        self.records.push(ChangeRecord {
            entity_type: entity_type.to_owned(),
            entity_id,
            action: action.to_owned(),
            changes,
            event,
            subject: None,
        });
    }

    /// Nothing recorded and no job asked for.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty() && self.jobs.is_empty()
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn records(&self) -> &[ChangeRecord] {
        &self.records
    }

    pub fn jobs(&self) -> &[LoggedJob] {
        &self.jobs
    }

    /// The records, the jobs and the quota usage they add (see [`ChangeLog::usage`]).
    pub fn into_parts(self) -> (Vec<ChangeRecord>, Vec<LoggedJob>, Vec<(&'static str, i64)>) {
        let usage = self.usage().collect();
        (self.records, self.jobs, usage)
    }

    pub fn extend(&mut self, other: ChangeLog) {
        self.records.extend(other.records);
        self.jobs.extend(other.jobs);
        for (resource, delta) in other.usage {
            *self.usage.entry(resource).or_default() += delta;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Clone, Serialize, utoipa::ToSchema)]
    struct Thing {
        id: u32,
        name: String,
        secret: String,
    }

    impl Audited for Thing {
        const ENTITY: &'static str = "thing";
        const REDACTED: &'static [&'static str] = &["secret"];
        fn audit_id(&self) -> String {
            self.id.to_string()
        }
        type View = Thing;
        fn audit_fields(&self) -> Value {
            serialized(self)
        }
    }

    impl From<&Thing> for Thing {
        fn from(t: &Thing) -> Self {
            t.clone()
        }
    }

    fn thing(name: &str, secret: &str) -> Thing {
        Thing {
            id: 7,
            name: name.into(),
            secret: secret.into(),
        }
    }

    #[test]
    fn created_lists_every_field_but_secrets() {
        let mut log = ChangeLog::new();
        log.created(&thing("a", "s3cret"));
        let r = &log.records()[0];
        assert_eq!(
            (
                r.entity_type.as_str(),
                r.entity_id.as_str(),
                r.action.as_str()
            ),
            ("thing", "7", "created")
        );
        assert_eq!(
            serde_json::from_str::<Value>(&r.changes_json()).ok(),
            Some(json!({"id": {"old": null, "new": 7}, "name": {"old": null, "new": "a"}}))
        );
        assert!(!r.changes_json().contains("s3cret"));
    }

    #[test]
    fn updated_keeps_only_differences_and_skips_no_ops() {
        let mut log = ChangeLog::new();
        log.updated(&thing("a", "x"), &thing("b", "y"));
        log.updated(&thing("a", "x"), &thing("a", "changed secret only"));
        assert_eq!(log.len(), 1);
        assert_eq!(
            serde_json::from_str::<Value>(&log.records()[0].changes_json()).ok(),
            Some(json!({"name": {"old": "a", "new": "b"}}))
        );
    }

    #[test]
    fn changes_are_events_with_the_object_and_previous_values_but_no_secret() {
        let mut log = ChangeLog::new();
        log.created(&thing("a", "x"));
        log.updated(&thing("a", "x"), &thing("b", "y"));
        log.deleted(&thing("b", "y"));
        log.note("access", "7", "denied", [("why", json!("no"))]);
        let events: Vec<_> = log.records().iter().map(|r| r.event.clone()).collect();
        let e = |i: usize| events[i].clone().unwrap();
        assert_eq!(e(0).event_type, "thing.created");
        assert_eq!(e(0).object, json!({"id": 7, "name": "a"}));
        assert_eq!(e(0).previous_attributes, None);
        assert_eq!(e(1).event_type, "thing.updated");
        assert_eq!(e(1).object, json!({"id": 7, "name": "b"}));
        assert_eq!(
            e(1).previous_attributes.map(Value::Object),
            Some(json!({"name": "a"}))
        );
        assert_eq!(e(2).event_type, "thing.deleted");
        assert_eq!(events[3], None, "a security note is not an event");
    }

    #[test]
    fn deleted_keeps_old_values() {
        let mut log = ChangeLog::new();
        log.deleted(&thing("a", "x"));
        assert_eq!(
            log.records()[0].changes["name"],
            FieldChange {
                old: json!("a"),
                new: Value::Null
            }
        );
    }
}
