//! Events: AWS payloads (EventBridge, also inside SQS or SNS records) to typed [`AmiEvent`]s.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::model::{AccountId, ImageId, Region};

/// What happened, normalised across the AWS services that report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// CloudTrail `CreateImage` (EC2, AWS Backup, DLM).
    ImageCreated,
    /// CloudTrail `CopyImage` (the event of the destination region).
    ImageCopied,
    /// CloudTrail `RegisterImage`.
    ImageRegistered,
    /// `EC2 AMI State Change` (e.g. pending to available).
    ImageStateChanged,
    /// AWS Backup `Backup Job State Change`.
    BackupJob,
    /// AWS Backup `Copy Job State Change`.
    BackupCopyJob,
    /// CloudTrail `CreateAutoScalingGroup`.
    AsgCreated,
    /// `EBS Snapshot Notification`.
    SnapshotCreated,
    /// EventBridge `Scheduled Event`.
    Scheduled,
}

impl EventKind {
    /// Every kind, in documentation order.
    pub const ALL: [EventKind; 9] = [
        Self::ImageCreated,
        Self::ImageCopied,
        Self::ImageRegistered,
        Self::ImageStateChanged,
        Self::BackupJob,
        Self::BackupCopyJob,
        Self::AsgCreated,
        Self::SnapshotCreated,
        Self::Scheduled,
    ];

    /// The snake_case name used in JSON and configuration.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::ImageCreated => "image_created",
            Self::ImageCopied => "image_copied",
            Self::ImageRegistered => "image_registered",
            Self::ImageStateChanged => "image_state_changed",
            Self::BackupJob => "backup_job",
            Self::BackupCopyJob => "backup_copy_job",
            Self::AsgCreated => "asg_created",
            Self::SnapshotCreated => "snapshot_created",
            Self::Scheduled => "scheduled",
        }
    }

    /// Whether the event is about one AMI (it carries an `image_id`).
    pub fn is_image_event(&self) -> bool {
        matches!(
            self,
            Self::ImageCreated
                | Self::ImageCopied
                | Self::ImageRegistered
                | Self::ImageStateChanged
                | Self::BackupJob
                | Self::BackupCopyJob
        )
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One normalised event. Fields the event does not carry are `None` and left out of JSON.
///
/// `region` and `account` say where the work happens: for a copy (CloudTrail `CopyImage`,
/// AWS Backup copy job) that is the destination, and `source_region` names the origin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AmiEvent {
    /// What happened.
    pub kind: EventKind,
    /// The AMI the event is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_id: Option<ImageId>,
    /// The region the AMI (or group, or snapshot) lives in.
    pub region: Region,
    /// The account the event came from.
    pub account: AccountId,
    /// When the event happened.
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// The EventBridge event id (or CloudTrail event id when there is no envelope id).
    pub event_id: String,
    /// A state the event reports: the AMI state, the backup job state, the snapshot result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// The instance the AMI was made from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    /// The AMI name given in the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_name: Option<String>,
    /// The AMI description given in the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// For copies: the image copied from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_image_id: Option<ImageId>,
    /// For copies: the region copied from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_region: Option<Region>,
    /// The Auto Scaling group (`asg_created`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asg_name: Option<String>,
    /// The launch template id (`asg_created`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_template_id: Option<String>,
    /// The launch template name (`asg_created`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_template_name: Option<String>,
    /// The launch template version (`asg_created`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_template_version: Option<String>,
    /// The snapshot (`snapshot_created`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_id: Option<String>,
    /// The volume the snapshot was taken of (`snapshot_created`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_id: Option<String>,
    /// The EventBridge rule that fired (`scheduled`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_name: Option<String>,
}

/// Turns raw payloads into events.
pub trait EventParser: Send + Sync {
    /// Parses a payload: one EventBridge event, or an SQS or SNS batch of them.
    ///
    /// A batch gives one event per record, in order. Anything malformed or unsupported is an
    /// [`EventError`] that says what was received and what is supported.
    fn parse(&self, payload: &[u8]) -> Result<Vec<AmiEvent>, EventError>;
}

/// A payload amikeeper cannot turn into an event. Each variant says what was received.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// The payload is not JSON.
    #[error("the event is not valid JSON: {reason}")]
    NotJson {
        /// What the JSON parser said.
        reason: String,
    },
    /// The payload is JSON but of a shape or kind amikeeper does not handle.
    #[error("unsupported event: received {received}; supported: {SUPPORTED}")]
    Unsupported {
        /// A short description of what was received (source and detail-type, or JSON type).
        received: String,
    },
    /// A supported event lacks a field or has one of the wrong type.
    #[error("{event}: field `{field}` {problem}")]
    BadField {
        /// The event as recognised, e.g. `CloudTrail CreateImage`.
        event: String,
        /// The JSON path of the field, e.g. `detail.responseElements.imageId`.
        field: String,
        /// What is wrong: `is missing`, `must be a string`, ...
        problem: String,
    },
}

/// What amikeeper supports, for error messages.
pub const SUPPORTED: &str = "EventBridge events (also inside SQS or SNS records): \
    CloudTrail CreateImage, CopyImage, RegisterImage, CreateAutoScalingGroup; \
    AWS Backup `Backup Job State Change` and `Copy Job State Change`; `EC2 AMI State Change`; \
    `EBS Snapshot Notification`; `Scheduled Event`";
