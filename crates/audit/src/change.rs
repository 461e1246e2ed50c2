//! Change records: built from entity snapshots, never by hand-listing fields.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

/// An entity whose changes are recorded. [`Audited::audit_fields`] is what the audit trail
/// shows (usually [`serialized`] of the entity); fields named in [`Audited::REDACTED`]
/// (secrets, digests) never reach a record.
pub trait Audited {
    /// The entity type as recorded, e.g. `product`.
    const ENTITY: &'static str;
    /// Fields left out of every record.
    const REDACTED: &'static [&'static str] = &[];
    /// The id as recorded.
    fn audit_id(&self) -> String;
    /// The entity's fields as a JSON object.
    fn audit_fields(&self) -> Value;
}

/// The `Serialize` form of an entity: the usual [`Audited::audit_fields`].
pub fn serialized<T: Serialize>(entity: &T) -> Value {
    serde_json::to_value(entity)
        .unwrap_or_else(|e| serde_json::json!({ "serialization_error": e.to_string() }))
}

/// Actions the pipeline records; security events use their own names (see
/// [`ChangeLog::event`]).
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
}

impl ChangeRecord {
    /// The changes as stored: a JSON object `{field: {old, new}}` with sorted keys.
    pub fn changes_json(&self) -> String {
        serde_json::to_string(&self.changes).unwrap_or_else(|_| "{}".to_owned())
    }
}

/// The changes of one transaction, in the order they happened.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChangeLog {
    records: Vec<ChangeRecord>,
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
        self.push(T::ENTITY, new.audit_id(), actions::CREATED, changes);
    }

    /// Records the fields that differ; an update that changed nothing records nothing.
    pub fn updated<T: Audited>(&mut self, old: &T, new: &T) {
        self.updated_as(actions::UPDATED, old, new);
    }

    /// Like [`ChangeLog::updated`] under a more telling action name (`toggled`, `revoked`…).
    pub fn updated_as<T: Audited>(&mut self, action: &str, old: &T, new: &T) {
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
            self.push(T::ENTITY, new.audit_id(), action, changes);
        }
    }

    pub fn deleted<T: Audited>(&mut self, old: &T) {
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
        self.push(T::ENTITY, old.audit_id(), actions::DELETED, changes);
    }

    /// A security event tied to the tenant (permission denied, invitation sent…): `details`
    /// are recorded as new values.
    pub fn event(
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
        self.push(entity_type, entity_id.into(), action, changes);
    }

    fn push(
        &mut self,
        entity_type: &str,
        entity_id: String,
        action: &str,
        changes: BTreeMap<String, FieldChange>,
    ) {
        self.records.push(ChangeRecord {
            entity_type: entity_type.to_owned(),
            entity_id,
            action: action.to_owned(),
            changes,
        });
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn records(&self) -> &[ChangeRecord] {
        &self.records
    }

    pub fn into_records(self) -> Vec<ChangeRecord> {
        self.records
    }

    pub fn extend(&mut self, other: ChangeLog) {
        self.records.extend(other.records);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Serialize)]
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
        fn audit_fields(&self) -> Value {
            serialized(self)
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
