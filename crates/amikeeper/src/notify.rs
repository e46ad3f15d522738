//! Notifications: what amikeeper puts on EventBridge when `[notify]` names a bus.
//!
//! Every pointer a run moved, rolled back, refused or failed is one event, and so is every
//! applied sweep's summary: source [`SOURCE`], a [`DetailType`] per event, a detail of a
//! documented schema ([`PointerDetail`], [`SweepDetail`], each with a `version`), and the
//! pointer's ARN in `resources` where amikeeper knows it (an SSM parameter's, a launch
//! template's named by id). `docs/EVENTS.md` shows an example of each and a rule pattern.
//!
//! [`Notifier::send`] puts them in `PutEvents` calls of at most
//! [`EVENTS_PER_CALL`] entries and [`MAX_PUT_EVENTS_BYTES`], through amikeeper's retry layer;
//! an entry EventBridge throttled or failed inside (`FailedEntryCount` > 0) is put once more.
//! What could not be put is counted and said in the run's report ([`Notifications`]): failing
//! to notify never fails a run. Dry runs notify nothing (the keeper does not call this).

use serde::Serialize;

use crate::backend::{EventsApi, RetryPolicy};
use crate::config::{EventBus, NotifyConfig};
use crate::error::AwsError;
use crate::events::EventKind;
use crate::kinds::launch_template::LaunchTemplateTarget;
use crate::kinds::ssm_parameter::SsmParameterTarget;
use crate::kinds::PointerKind;
use crate::model::{EntryResult, EventEntry, Notifications, Region, EVENTS_PER_CALL, MAX_PUT_EVENTS_BYTES};
use crate::publish::{Outcome, Status, TargetId};
use crate::retain::{SweepReport, SweepStatus, SweepSummary};

/// The `source` of every event amikeeper puts.
pub const SOURCE: &str = "amikeeper";

/// The `version` of the detail schemas this amikeeper writes; a change that is not additive
/// makes a new version.
pub const SCHEMA_VERSION: &str = "1";

/// How long to wait before putting again the entries EventBridge throttled or failed inside.
const ENTRY_RETRY_BACKOFF: std::time::Duration = std::time::Duration::from_millis(500);

named_enum! {
    /// The `detail-type` of an event amikeeper puts.
    #[non_exhaustive]
    pub enum DetailType {
        /// A run moved a pointer to a new AMI ([`PointerDetail`], status `updated`).
        PointerMoved = "AMI Pointer Moved",
        /// A rollback moved a pointer back ([`PointerDetail`], operation `rollback`).
        PointerRolledBack = "AMI Pointer Rolled Back",
        /// A revoke moved a pointer off a revoked AMI ([`PointerDetail`], operation `revoke`).
        PointerRevoked = "AMI Pointer Revoked",
        /// A pointer was refused for safety ([`PointerDetail`], status `refused`).
        PointerRefused = "AMI Pointer Refused",
        /// Moving a pointer failed ([`PointerDetail`], status `failed`).
        PointerUpdateFailed = "AMI Pointer Update Failed",
        /// An applied sweep of one region and account finished ([`SweepDetail`]).
        SweepCompleted = "AMI Sweep Completed",
    }
}

named_enum! {
    /// What a run that moved a pointer was doing.
    pub enum Operation {
        /// Handling an event (or a bake).
        Handle = "handle",
        /// Rolling pointers back.
        Rollback = "rollback",
        /// Revoking an AMI (`amikeeper revoke`).
        Revoke = "revoke",
    }
}

/// Where a run worked, which each of its events says.
#[derive(Debug, Clone, Copy)]
pub struct RunContext<'a> {
    /// What the run was doing.
    pub operation: Operation,
    /// The region of its pointers.
    pub region: &'a Region,
    /// The account of its pointers, when known (the event's; the configuration's only one).
    pub account: Option<&'a str>,
    /// The kind of the event handled (handles only).
    pub event_kind: Option<EventKind>,
    /// The id of the event handled (handles only).
    pub event_id: Option<&'a str>,
}

/// The pointer an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PointerRef {
    /// Its kind: `ssm_parameter`, `launch_template`, `auto_scaling_group` or `stack_parameter`.
    pub kind: &'static str,
    /// Its name (a stack parameter's is `stack/parameter`).
    pub name: String,
    /// Its ARN, where amikeeper knows it (also in the event's `resources`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
}

/// What every detail starts with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DetailHeader {
    /// [`SCHEMA_VERSION`].
    pub version: &'static str,
    /// The region of the pointer, or swept.
    pub region: String,
    /// The account of the pointer, or swept, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

impl DetailHeader {
    fn new(region: &Region, account: Option<&str>) -> Self {
        Self { version: SCHEMA_VERSION, region: region.to_string(), account: account.map(str::to_owned) }
    }
}

/// The detail of `AMI Pointer Moved`, `AMI Pointer Rolled Back`, `AMI Pointer Revoked`,
/// `AMI Pointer Refused` and `AMI Pointer Update Failed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PointerDetail {
    /// The schema's version, and the pointer's region and account.
    #[serde(flatten)]
    pub header: DetailHeader,
    /// `handle`, `rollback` or `revoke`.
    pub operation: Operation,
    /// The rule whose target the pointer is (handles only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The pointer.
    pub pointer: PointerRef,
    /// As in the run's report: `status` (`updated`, `refused` or `failed`), `reason`, and
    /// `from`, `to` and `notes` when known.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// The kind of the event handled (handles only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_kind: Option<EventKind>,
    /// The event's id (handles only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// The AWS error, when the move failed on one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<AwsError>,
}

/// The detail of `AMI Sweep Completed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SweepDetail {
    /// The schema's version, and the region and account swept.
    #[serde(flatten)]
    pub header: DetailHeader,
    /// The role assumed to sweep it (a fleet's target).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// `ok`, or `failed` when an action failed (the next sweep tries it again).
    pub status: SweepStatus,
    /// The sweep's counts, as in its report.
    pub summary: SweepSummary,
    /// AWS calls the sweep made.
    pub aws_calls: usize,
}

/// One event to put: what [`Notifier::send`] takes.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// The detail type.
    pub detail_type: DetailType,
    /// The detail, a JSON object.
    pub detail: serde_json::Value,
    /// The ARNs it is about.
    pub resources: Vec<String>,
    /// What it is about, for the report's errors (e.g. `ssm_parameter /ami/web`).
    pub subject: String,
}

/// The partition of a region's ARNs.
fn partition(region: &Region) -> &'static str {
    let region = region.as_str();
    match () {
        _ if region.starts_with("cn-") => "aws-cn",
        _ if region.starts_with("us-gov-") => "aws-us-gov",
        _ if region.starts_with("us-isob-") => "aws-iso-b",
        _ if region.starts_with("us-iso-") => "aws-iso",
        _ if region.starts_with("eusc-") => "aws-eusc",
        _ => "aws",
    }
}

/// The ARN of a pointer, where it follows from its name: an SSM parameter, and a launch
/// template named by id. Groups and stacks have ids in their ARNs that their names do not give,
/// and a target refused before its name was rendered is named by its template (`{tag:...}`),
/// which names no resource.
fn pointer_arn(target: &TargetId, region: &Region, account: &str) -> Option<String> {
    let partition = partition(region);
    if target.name.contains('{') {
        None
    } else if target.kind == SsmParameterTarget::KIND {
        let name = target.name.trim_start_matches('/');
        Some(format!("arn:{partition}:ssm:{region}:{account}:parameter/{name}"))
    } else if target.kind == LaunchTemplateTarget::KIND && target.name.starts_with("lt-") {
        Some(format!("arn:{partition}:ec2:{region}:{account}:launch-template/{}", target.name))
    } else {
        None
    }
}

/// The event for one pointer of a run, when its status is one amikeeper notifies: `updated`
/// (moved, or rolled back), `refused` and `failed`. `None` for the others (unchanged, skipped,
/// deferred, planned).
pub fn pointer_event(
    run: &RunContext<'_>,
    rule: Option<&str>,
    target: &TargetId,
    outcome: &Outcome,
    error: Option<&AwsError>,
) -> Option<Notification> {
    let detail_type = match (outcome.status, run.operation) {
        (Status::Updated, Operation::Handle) => DetailType::PointerMoved,
        (Status::Updated, Operation::Rollback) => DetailType::PointerRolledBack,
        (Status::Updated, Operation::Revoke) => DetailType::PointerRevoked,
        (Status::Refused, _) => DetailType::PointerRefused,
        (Status::Failed, _) => DetailType::PointerUpdateFailed,
        _ => return None,
    };
    let arn = run.account.and_then(|account| pointer_arn(target, run.region, account));
    let detail = PointerDetail {
        header: DetailHeader::new(run.region, run.account),
        operation: run.operation,
        rule: rule.map(str::to_owned),
        pointer: PointerRef { kind: target.kind, name: target.name.clone(), arn: arn.clone() },
        outcome: outcome.clone(),
        event_kind: run.event_kind,
        event_id: run.event_id.map(str::to_owned),
        error: error.cloned(),
    };
    Some(Notification {
        detail_type,
        detail: serde_json::to_value(detail).expect("a detail serializes"),
        resources: arn.into_iter().collect(),
        subject: target.to_string(),
    })
}

/// The event for an applied sweep of `region` (in `account`, through `role_arn`).
pub fn sweep_event(
    region: &Region,
    account: Option<&str>,
    role_arn: Option<&str>,
    report: &SweepReport,
) -> Notification {
    let detail = SweepDetail {
        header: DetailHeader::new(region, account),
        role_arn: role_arn.map(str::to_owned),
        status: report.status,
        summary: report.summary.clone(),
        aws_calls: report.aws_calls,
    };
    Notification {
        detail_type: DetailType::SweepCompleted,
        detail: serde_json::to_value(detail).expect("a detail serializes"),
        resources: Vec::new(),
        subject: format!("the sweep of {region}"),
    }
}

/// The entries in `PutEvents` calls: at most [`EVENTS_PER_CALL`] a call, adding up to at most
/// [`MAX_PUT_EVENTS_BYTES`], in order. Every entry must fit alone.
pub fn batches(entries: &[EventEntry]) -> Vec<&[EventEntry]> {
    let mut batches = Vec::new();
    let (mut start, mut size) = (0, 0);
    for (i, entry) in entries.iter().enumerate() {
        if i > start && (i - start == EVENTS_PER_CALL || size + entry.size() > MAX_PUT_EVENTS_BYTES) {
            batches.push(&entries[start..i]);
            (start, size) = (i, 0);
        }
        size += entry.size();
    }
    if start < entries.len() {
        batches.push(&entries[start..]);
    }
    batches
}

/// Puts notifications on the configured bus.
pub struct Notifier<'a> {
    aws: &'a dyn EventsApi,
    bus: &'a EventBus,
}

impl<'a> Notifier<'a> {
    /// A notifier for `[notify]`, putting events through `aws`.
    pub fn new(aws: &'a dyn EventsApi, config: &'a NotifyConfig) -> Self {
        Self { aws, bus: &config.event_bus }
    }

    /// Puts `notifications` for a run in `region` (the bus's region when it is an ARN), and
    /// says what became of them. Never fails: what could not be put is in the result.
    pub async fn send(&self, region: &Region, notifications: Vec<Notification>) -> Notifications {
        let mut tally = Notifications::default();
        let region = self.bus.region(region);
        let mut entries = Vec::new();
        let mut subjects = Vec::new();
        for notification in notifications {
            let entry = EventEntry {
                event_bus: self.bus.to_string(),
                source: SOURCE.to_owned(),
                detail_type: notification.detail_type.as_str().to_owned(),
                detail: notification.detail.to_string(),
                resources: notification.resources,
            };
            let what = format!("{} for {}", notification.detail_type, notification.subject);
            if entry.size() > MAX_PUT_EVENTS_BYTES {
                fail(&mut tally, &what, &format!("the entry is {} bytes, over PutEvents' 256 KB", entry.size()));
            } else {
                entries.push(entry);
                subjects.push(what);
            }
        }
        let mut offset = 0;
        for batch in batches(&entries) {
            let what = &subjects[offset..offset + batch.len()];
            offset += batch.len();
            let retry = self.put(region, batch, what, &mut tally).await;
            if !retry.is_empty() {
                tokio::time::sleep(ENTRY_RETRY_BACKOFF).await;
                let (again, what): (Vec<EventEntry>, Vec<String>) =
                    retry.into_iter().map(|i| (batch[i].clone(), what[i].clone())).unzip();
                for i in self.put(region, &again, &what, &mut tally).await {
                    let error = "EventBridge failed it twice (throttled or internal)";
                    fail(&mut tally, &what[i], error);
                }
            }
        }
        tally
    }

    /// One `PutEvents` call (with amikeeper's retries of the call); counts what it put and what
    /// failed for good, and returns the indexes of the entries worth putting once more.
    async fn put(
        &self,
        region: &Region,
        batch: &[EventEntry],
        what: &[String],
        tally: &mut Notifications,
    ) -> Vec<usize> {
        let (result, _) = RetryPolicy::TARGETS.run("PutEvents", || self.aws.put_events(region, batch)).await;
        let results = match result {
            Ok(results) if results.len() == batch.len() => results,
            Ok(results) => {
                let error = format!("EventBridge answered {} results for {} entries", results.len(), batch.len());
                what.iter().for_each(|w| fail(tally, w, &error));
                return Vec::new();
            }
            Err(error) => {
                what.iter().for_each(|w| fail(tally, w, &error.to_string()));
                return Vec::new();
            }
        };
        let mut retry = Vec::new();
        for (i, result) in results.iter().enumerate() {
            match result {
                EntryResult::Accepted { .. } => tally.sent += 1,
                failed if failed.may_retry() => retry.push(i),
                EntryResult::Failed { code, message } => fail(tally, &what[i], &format!("{code}: {message}")),
            }
        }
        retry
    }
}

/// Counts one notification that could not be put, and says why.
fn fail(tally: &mut Notifications, what: &str, error: &str) {
    tracing::warn!(target: "amikeeper::notify", %what, %error, "could not notify");
    tally.failed += 1;
    tally.errors.push(format!("{what}: {error}"));
}

#[cfg(test)]
mod tests;
