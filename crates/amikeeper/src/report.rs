//! Reports: what a run did, skipped, deferred or failed, why, and how many AWS calls it made.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::AwsError;
use crate::events::{AmiEvent, EventError, EventKind};
use crate::model::{Image, ImageState};
use crate::publish::{Outcome, Status, TargetId};

named_enum! {
    /// The overall result of handling one event.
    ///
    /// Not `#[non_exhaustive]`: binaries map every status to an exit code with an exhaustive
    /// `match`, so that a new status cannot slip through unmapped.
    pub enum RunStatus {
        /// Every target is where it should be (updated, unchanged, or skipped on purpose).
        Ok = "ok",
        /// Some target waits for a later event; none failed.
        Deferred = "deferred",
        /// At least one target failed; the others are reported as they went.
        Failed = "failed",
        /// Nothing to do: no rule matches, or the event is not one that moves pointers.
        Ignored = "ignored",
        /// Refused for safety or as invalid input: the whole event (another account: nothing was
        /// read or written; an AMI that does not exist), or a target (a name outside the
        /// allow-list, a stack-managed resource, an AMI the account's Allowed AMIs setting keeps
        /// from launching), none having failed.
        Refused = "refused",
    }
}

/// The event a report is about, in brief.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventSummary {
    /// The event kind.
    pub kind: EventKind,
    /// The event id.
    pub event_id: String,
    /// Where the work happens.
    pub region: String,
    /// The account the event came from.
    pub account: String,
    /// The AMI the event names, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
}

impl From<&AmiEvent> for EventSummary {
    fn from(event: &AmiEvent) -> Self {
        Self {
            kind: event.kind(),
            event_id: event.event_id.clone(),
            region: event.region.to_string(),
            account: event.account.to_string(),
            image_id: event.image_id().map(ToString::to_string),
        }
    }
}

/// The AMI a report is about, as EC2 described it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageSummary {
    /// The image id.
    pub id: String,
    /// The image name.
    pub name: String,
    /// The state when last described.
    pub state: ImageState,
    /// Creation time, RFC 3339.
    pub created: String,
}

impl From<&Image> for ImageSummary {
    fn from(image: &Image) -> Self {
        Self {
            id: image.id.to_string(),
            name: image.name.clone(),
            state: image.state,
            created: crate::publish::rfc3339(image.created),
        }
    }
}

/// What happened to one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TargetReport {
    /// The rule the target belongs to.
    pub rule: String,
    /// The target.
    #[serde(flatten)]
    pub target: TargetId,
    /// What happened.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// The AWS error, when the target failed on one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<AwsError>,
}

/// The report of one handled event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Report {
    /// The event.
    pub event: EventSummary,
    /// The overall result.
    pub status: RunStatus,
    /// Why, for `ignored` and `refused`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The AMI, when one was looked up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageSummary>,
    /// One entry per target, in rule and target order.
    pub targets: Vec<TargetReport>,
    /// Whether this was a dry run (nothing written).
    pub dry_run: bool,
    /// What became of the published AMI's deregistration protection, when the run published.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protection: Option<String>,
    /// The AMIs the moved pointers left whose amikeeper protection was (or would be) released.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub released: Vec<String>,
    /// The copies the rules' `copy_to` made (or would make) of the AMI.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub copies: Vec<crate::copy::CopyReport>,
    /// What the run did but wants a person to know, e.g. that the AMI published does not meet
    /// the account's Allowed AMIs criteria, which are in audit mode (launches will fail once
    /// they are enabled).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// How many AWS calls the run made.
    pub aws_calls: usize,
    /// Those calls per operation, e.g. `ssm:PutParameter`.
    pub aws_calls_by_operation: BTreeMap<String, usize>,
    /// What became of the events put on EventBridge (`[notify]`); `None` without `[notify]`
    /// and in a dry run. A notification that failed leaves the status as it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notifications: Option<crate::model::Notifications>,
}

impl Report {
    /// The overall status from the targets' statuses.
    pub fn status_of(targets: &[TargetReport]) -> RunStatus {
        if targets.iter().any(|t| t.outcome.status == Status::Failed) {
            RunStatus::Failed
        } else if targets.iter().any(|t| t.outcome.status == Status::Refused) {
            RunStatus::Refused
        } else if targets.iter().any(|t| t.outcome.status == Status::Deferred) {
            RunStatus::Deferred
        } else {
            RunStatus::Ok
        }
    }

    /// Whether AWS work failed (the CLI exits 1).
    pub fn failed(&self) -> bool {
        self.status == RunStatus::Failed
    }
}

/// A record of an SQS batch that is no event amikeeper handles (a poison message: not JSON, an
/// unsupported event, a field missing). It is reported, logged and counted, and not delivered
/// again: a retry would be rejected the same way. Serialized as
/// `{"status": "refused", "record": 2, "message_id": "...", "reason": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RejectedRecord {
    /// Always [`RunStatus::Refused`], so that a report's `status` reads the same for every run.
    pub status: RunStatus,
    /// The record's index in `Records`, from 0.
    pub record: usize,
    /// The record's `messageId`.
    pub message_id: String,
    /// Why the record is no event.
    #[serde(rename = "reason", serialize_with = "as_text")]
    pub error: EventError,
}

impl RejectedRecord {
    /// The report of record `record` of an SQS batch, which `error` says is no event.
    pub fn new(record: usize, message_id: impl Into<String>, error: EventError) -> Self {
        Self { status: RunStatus::Refused, record, message_id: message_id.into(), error }
    }
}

/// Serializes a value as its text.
fn as_text<T: std::fmt::Display, S: serde::Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}
