//! Job kinds and the rows a queue holds.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tenantry_kernel::{BucketId, ExportId, FileId, InvitationId, JobId, TenantId, WebhookId};

/// Every kind of background job. Stored as JSON tagged by `kind`; a job carries ids only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    /// Sends an invitation's e-mail with a freshly minted link (a tenant job).
    InvitationMail { invitation_id: InvitationId },
    /// Tells a tenant's owners by e-mail that a webhook endpoint was disabled (a tenant job).
    WebhookDisabledMail { endpoint_id: WebhookId },
    /// Removes a deleted file's content from storage (a tenant job; the record went with
    /// the delete, in the transaction that queued this).
    DeleteFileContent {
        file_id: FileId,
        /// Where it was (none: the platform's store).
        #[serde(default)]
        location: Option<BucketId>,
    },
    /// Moves a tenant's files to its current store, after its bucket settings changed (a
    /// tenant job).
    MoveFiles,
    /// Writes a tenant's data export into its archive (a tenant job).
    TenantExport { export_id: ExportId },
    /// Deletes an export's archive once its download link expired (a tenant job, queued to
    /// run at the expiry).
    ExpireExport { export_id: ExportId },
    /// Writes a backup of a tenant and deletes those its plan no longer keeps (a tenant job).
    TenantBackup,
    /// Purges a tenant whose deletion is due: its objects, every row it owns, its data key
    /// (a tenant job, queued with the request to run when the grace period ends; it does
    /// nothing if the deletion was cancelled).
    PurgeTenant,
    /// Queues today's backup of every tenant (a platform job, daily).
    BackupTenants,
    /// Deletes every tenant's events older than the retention (a platform job, daily).
    PruneEvents,
    /// Deletes every tenant's webhook attempts, and the deliveries that failed for good,
    /// older than the delivery log's retention (a platform job, daily).
    PruneDeliveryLog,
    /// Applies the subscription transitions that are due (ended trials, cancellations at
    /// period end) in each tenant concerned (a platform job, hourly).
    AdvanceSubscriptions,
    /// Checks the custom domains whose check is due (pending ones for their proof, verified
    /// ones for its loss), each in its tenant's context (a platform job, every minute).
    CheckDomains,
    /// Checks the queue end to end: waits `delay_ms`, then succeeds, or fails when `fail`
    /// (`tenantry jobs probe`; the benchmarks' no-op job).
    Probe {
        #[serde(default)]
        delay_ms: u64,
        #[serde(default)]
        fail: bool,
    },
}

impl Job {
    /// Every kind this binary runs (what the metrics report, zeros included).
    pub const KINDS: &[&str] = &[
        "invitation_mail",
        "webhook_disabled_mail",
        "delete_file_content",
        "move_files",
        "tenant_export",
        "expire_export",
        "tenant_backup",
        "purge_tenant",
        "backup_tenants",
        "prune_events",
        "prune_delivery_log",
        "advance_subscriptions",
        "check_domains",
        "probe",
    ];

    /// The kind as stored and listed (the serde tag).
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::InvitationMail { .. } => "invitation_mail",
            Self::WebhookDisabledMail { .. } => "webhook_disabled_mail",
            Self::DeleteFileContent { .. } => "delete_file_content",
            Self::MoveFiles => "move_files",
            Self::TenantExport { .. } => "tenant_export",
            Self::ExpireExport { .. } => "expire_export",
            Self::TenantBackup => "tenant_backup",
            Self::PurgeTenant => "purge_tenant",
            Self::BackupTenants => "backup_tenants",
            Self::PruneEvents => "prune_events",
            Self::PruneDeliveryLog => "prune_delivery_log",
            Self::AdvanceSubscriptions => "advance_subscriptions",
            Self::CheckDomains => "check_domains",
            Self::Probe { .. } => "probe",
        }
    }

    /// Attempts before the job is declared dead.
    pub const fn max_attempts(&self) -> u32 {
        match self {
            // About a day of retries with the default backoff (capped at one hour).
            Self::InvitationMail { .. }
            | Self::WebhookDisabledMail { .. }
            | Self::DeleteFileContent { .. }
            | Self::MoveFiles
            | Self::ExpireExport { .. }
            | Self::PurgeTenant => 12,
            // An export writes its archive again from the start: a few tries, then the
            // export says it failed.
            Self::TenantExport { .. } | Self::TenantBackup => 3,
            Self::BackupTenants => 5,
            Self::PruneEvents | Self::PruneDeliveryLog | Self::AdvanceSubscriptions => 5,
            // The next minute's sweep does the same work.
            Self::CheckDomains => 1,
            Self::Probe { .. } => 3,
        }
    }
}

/// A job as stored: the kind is readable even when the payload is not (a job written by a
/// newer version, which this one cannot run).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobPayload {
    Known(Job),
    Unknown { kind: String, error: String },
}

impl JobPayload {
    pub fn parse(kind: &str, json: &str) -> Self {
        match serde_json::from_str::<Job>(json) {
            Ok(job) => Self::Known(job),
            Err(e) => Self::Unknown {
                kind: kind.to_owned(),
                error: e.to_string(),
            },
        }
    }
}

/// A job to write to the queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewJob {
    pub id: JobId,
    /// The tenant it runs in; `None` for a platform job.
    pub tenant_id: Option<TenantId>,
    pub job: Job,
    /// Not before.
    pub run_at: DateTime<Utc>,
    /// At most one waiting or running job per key (schedules use it: `prune_events:2026-11-29`).
    pub dedupe_key: Option<String>,
}

impl NewJob {
    /// A job to run as soon as a worker is free.
    pub fn now(tenant_id: Option<TenantId>, job: Job, now: DateTime<Utc>) -> Self {
        Self {
            id: JobId::new(),
            tenant_id,
            job,
            run_at: now,
            dedupe_key: None,
        }
    }

    /// The payload as stored.
    pub fn payload_json(&self) -> String {
        serde_json::to_string(&self.job).unwrap_or_else(|_| "{}".to_owned())
    }
}

/// Where a job is in its life. A job that succeeds is deleted; a cancelled one too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for `run_at` (a first run or a retry).
    Queued,
    /// Claimed by a worker until its lease ends.
    Running,
    /// Out of attempts (or not runnable); kept until an operator retries or cancels it.
    Dead,
}

impl JobState {
    pub const ALL: [Self; 3] = [Self::Queued, Self::Running, Self::Dead];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "queued" => Some(Self::Queued),
            "running" => Some(Self::Running),
            "dead" => Some(Self::Dead),
            _ => None,
        }
    }
}

/// A job a worker holds until `lease_until`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimedJob {
    pub id: JobId,
    pub tenant_id: Option<TenantId>,
    pub payload: JobPayload,
    /// This attempt's number, from 1.
    pub attempt: u32,
    pub max_attempts: u32,
    pub lease_until: DateTime<Utc>,
}

impl ClaimedJob {
    /// No retry follows a failure of this attempt.
    pub const fn is_last_attempt(&self) -> bool {
        self.attempt >= self.max_attempts
    }
}

/// A job as operators see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobInfo {
    pub id: JobId,
    pub kind: String,
    pub tenant_id: Option<TenantId>,
    pub state: JobState,
    pub attempts: u32,
    pub max_attempts: u32,
    pub run_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub payload: String,
}

/// Which jobs to list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobFilter {
    pub state: Option<JobState>,
    pub kind: Option<String>,
    pub limit: u32,
}

/// How many jobs of one kind are in one state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KindCount {
    pub kind: String,
    pub state: JobState,
    pub count: u64,
}

/// The queue at a glance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueSummary {
    pub counts: Vec<KindCount>,
    /// When the job that has waited longest became runnable (queued, `run_at` past).
    pub oldest_waiting_since: Option<DateTime<Utc>>,
    /// Dead jobs, newest first (at most 100), with their last error.
    pub dead: Vec<JobInfo>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_are_tagged_by_kind_and_read_back() {
        let job = Job::InvitationMail {
            invitation_id: InvitationId::new(),
        };
        let json = serde_json::to_string(&job).unwrap_or_default();
        assert!(json.starts_with(r#"{"kind":"invitation_mail","#), "{json}");
        assert_eq!(
            JobPayload::parse("invitation_mail", &json),
            JobPayload::Known(job)
        );
        assert_eq!(
            JobPayload::parse("probe", r#"{"kind":"probe"}"#),
            JobPayload::Known(Job::Probe {
                delay_ms: 0,
                fail: false
            })
        );
        assert!(matches!(
            JobPayload::parse("later", r#"{"kind":"from_a_newer_version"}"#),
            JobPayload::Unknown { .. }
        ));
    }

    #[test]
    fn kinds_match_the_tag() {
        for job in [
            Job::InvitationMail {
                invitation_id: InvitationId::new(),
            },
            Job::WebhookDisabledMail {
                endpoint_id: WebhookId::new(),
            },
            Job::PruneEvents,
            Job::Probe {
                delay_ms: 0,
                fail: false,
            },
        ] {
            assert!(
                Job::KINDS.contains(&job.kind()),
                "{} is missing from Job::KINDS",
                job.kind()
            );
        }
        for job in [
            Job::InvitationMail {
                invitation_id: InvitationId::new(),
            },
            Job::PruneEvents,
            Job::Probe {
                delay_ms: 1,
                fail: true,
            },
        ] {
            let v: serde_json::Value = serde_json::to_value(&job).unwrap_or_default();
            assert_eq!(v["kind"], job.kind());
        }
    }
}
