//! Audit entries and the per-tenant hash chain.
//!
//! Entry `n` stores `hash = SHA-256(content of n, including prev_hash = hash of n-1)`. Editing
//! an entry changes its content hash; deleting one breaks the link or the numbering. Either
//! way [`Verifier`] names the first entry that no longer fits.

use chrono::{DateTime, SubsecRound, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tenantry_kernel::{ApiKeyId, AuditEntryId, Origin, TenantCtx, TenantId, UserId};

use crate::change::ChangeRecord;

/// One recorded change or event, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: AuditEntryId,
    pub tenant_id: TenantId,
    /// Position in the tenant's chain, from 1 without gaps.
    pub seq: i64,
    pub at: DateTime<Utc>,
    /// `user`, `api_key`, `platform_admin`, `operator`, `directory` (SCIM) or `system`.
    pub actor_type: String,
    pub actor_id: Option<UserId>,
    pub api_key_id: Option<ApiKeyId>,
    /// The platform administrator who acted as `actor_id` (support impersonation).
    pub impersonator_id: Option<UserId>,
    pub entity_type: String,
    pub entity_id: String,
    pub action: String,
    /// `{field: {old, new}}` as a JSON text, hashed exactly as stored.
    pub changes: String,
    pub request_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

/// The end of a tenant's chain: the last sequence number and hash (0 and "" when empty).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChainHead {
    pub seq: i64,
    pub hash: String,
}

#[derive(Serialize)]
struct Content<'a> {
    seq: i64,
    id: &'a AuditEntryId,
    tenant_id: &'a TenantId,
    at: String,
    actor_type: &'a str,
    actor_id: &'a Option<UserId>,
    api_key_id: &'a Option<ApiKeyId>,
    /// Hashed only when present: entries from before impersonation existed keep their hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    impersonator_id: &'a Option<UserId>,
    entity_type: &'a str,
    entity_id: &'a str,
    action: &'a str,
    changes: &'a str,
    request_id: &'a Option<String>,
    ip: &'a Option<String>,
    user_agent: &'a Option<String>,
    prev_hash: &'a str,
}

impl AuditEntry {
    /// The hash this entry's content (including `prev_hash`) must have.
    pub fn content_hash(&self) -> String {
        let content = Content {
            seq: self.seq,
            id: &self.id,
            tenant_id: &self.tenant_id,
            // Microseconds: what both databases keep.
            at: self.at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
            actor_type: &self.actor_type,
            actor_id: &self.actor_id,
            api_key_id: &self.api_key_id,
            impersonator_id: &self.impersonator_id,
            entity_type: &self.entity_type,
            entity_id: &self.entity_id,
            action: &self.action,
            changes: &self.changes,
            request_id: &self.request_id,
            ip: &self.ip,
            user_agent: &self.user_agent,
            prev_hash: &self.prev_hash,
        };
        let bytes = serde_json::to_vec(&content).unwrap_or_default();
        let digest = Sha256::digest(&bytes);
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl ChainHead {
    /// Turns a transaction's change records into the next entries of the chain, advancing
    /// the head. The caller holds the tenant's chain lock until they are stored. `origin` is
    /// where the change came from as it is stored (its personal fields sealed): the hash
    /// covers the stored form, so the chain still verifies once those fields are erased.
    pub fn seal(
        &mut self,
        ctx: &TenantCtx,
        origin: &Origin,
        at: DateTime<Utc>,
        records: &[ChangeRecord],
    ) -> Vec<AuditEntry> {
        let at = at.trunc_subsecs(6);
        let actor = ctx.actor();
        records
            .iter()
            .map(|r| {
                let mut entry = AuditEntry {
                    id: AuditEntryId::new(),
                    tenant_id: ctx.tenant_id(),
                    seq: self.seq + 1,
                    at,
                    actor_type: actor.kind().to_owned(),
                    actor_id: actor.user_id(),
                    api_key_id: actor.api_key_id(),
                    impersonator_id: actor.impersonator(),
                    changes: r.changes_json(),
                    entity_type: r.entity_type.clone(),
                    entity_id: r.entity_id.clone(),
                    action: r.action.clone(),
                    request_id: origin.request_id.clone(),
                    ip: origin.ip.clone(),
                    user_agent: origin.user_agent.clone(),
                    prev_hash: std::mem::take(&mut self.hash),
                    hash: String::new(),
                };
                entry.hash = entry.content_hash();
                self.seq = entry.seq;
                self.hash.clone_from(&entry.hash);
                entry
            })
            .collect()
    }
}

/// What `verify` reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verification {
    pub ok: bool,
    pub entries_checked: u64,
    pub first_broken_id: Option<AuditEntryId>,
}

/// Walks a chain in order, entry by entry.
#[derive(Debug, Default)]
pub struct Verifier {
    head: ChainHead,
    checked: u64,
    broken: Option<AuditEntryId>,
}

impl Verifier {
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks the next entry; returns false once the chain is broken (stop feeding).
    pub fn check(&mut self, entry: &AuditEntry) -> bool {
        if self.broken.is_some() {
            return false;
        }
        self.checked += 1;
        let fits = entry.seq == self.head.seq + 1
            && entry.prev_hash == self.head.hash
            && entry.hash == entry.content_hash();
        if fits {
            self.head = ChainHead {
                seq: entry.seq,
                hash: entry.hash.clone(),
            };
        } else {
            self.broken = Some(entry.id);
        }
        fits
    }

    /// Like [`Verifier::finish`], and the walk must have ended where the chain's head says:
    /// entries removed from the end (or all of them) break it too. `first_broken_id` is
    /// then null — there is no entry left to name.
    pub fn finish_at(self, head: &ChainHead) -> Verification {
        let complete = self.broken.is_some() || self.head == *head;
        let mut v = self.finish();
        if !complete {
            v.ok = false;
        }
        v
    }

    pub fn finish(self) -> Verification {
        Verification {
            ok: self.broken.is_none(),
            entries_checked: self.checked,
            first_broken_id: self.broken,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::ChangeLog;
    use serde_json::json;
    use tenantry_kernel::{Actor, Origin};

    fn chain(n: usize) -> Vec<AuditEntry> {
        let ctx = TenantCtx::for_request(
            &tenantry_kernel::Edges::for_tests(),
            TenantId::new(),
            Actor::User(UserId::new()),
            std::sync::Arc::new(Origin {
                request_id: Some("r1".into()),
                ..Origin::default()
            }),
        );
        let mut head = ChainHead::default();
        let mut out = vec![];
        for i in 0..n {
            let mut log = ChangeLog::new();
            log.note("thing", i.to_string(), "poked", [("n", json!(i))]);
            out.extend(head.seal(&ctx, ctx.origin(), Utc::now(), log.records()));
        }
        out
    }

    fn verify(entries: &[AuditEntry]) -> Verification {
        let mut v = Verifier::new();
        for e in entries {
            if !v.check(e) {
                break;
            }
        }
        v.finish()
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let entries = chain(5);
        assert_eq!(
            entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![1, 2, 3, 4, 5]
        );
        assert_eq!(
            verify(&entries),
            Verification {
                ok: true,
                entries_checked: 5,
                first_broken_id: None
            }
        );
    }

    #[test]
    fn an_edit_breaks_at_the_edited_entry() {
        let mut entries = chain(5);
        entries[2].changes = r#"{"n":{"old":null,"new":99}}"#.into();
        let v = verify(&entries);
        assert!(!v.ok);
        assert_eq!(v.first_broken_id, Some(entries[2].id));
        assert_eq!(v.entries_checked, 3);
    }

    #[test]
    fn a_deletion_breaks_at_the_next_entry() {
        let mut entries = chain(4);
        let after = entries[2].id;
        entries.remove(1);
        assert_eq!(verify(&entries).first_broken_id, Some(after));
    }

    #[test]
    fn entries_removed_from_the_end_are_noticed_against_the_head() {
        let mut entries = chain(4);
        let head = ChainHead {
            seq: 4,
            hash: entries[3].hash.clone(),
        };
        let mut v = Verifier::new();
        entries.iter().for_each(|e| {
            v.check(e);
        });
        assert!(v.finish_at(&head).ok);
        entries.truncate(2);
        let mut v = Verifier::new();
        entries.iter().for_each(|e| {
            v.check(e);
        });
        let result = v.finish_at(&head);
        assert!(!result.ok);
        assert_eq!(result.first_broken_id, None);
        assert!(!Verifier::new().finish_at(&head).ok, "all removed");
    }

    #[test]
    fn a_rehashed_edit_still_breaks_the_link() {
        let mut entries = chain(3);
        entries[0].action = "forged".into();
        entries[0].hash = entries[0].content_hash();
        assert_eq!(verify(&entries).first_broken_id, Some(entries[1].id));
    }
}
