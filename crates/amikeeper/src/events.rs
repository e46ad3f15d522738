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
    /// `EBS Snapshot Notification` (`createSnapshot`, `copySnapshot`), and `EBS Multi-Volume
    /// Snapshots Completion Status` (`createSnapshots`).
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
    /// For AWS Backup copy jobs: the account the copy job ran in, which must be allowed as
    /// well as the destination's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_account: Option<AccountId>,
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

impl AmiEvent {
    /// An event with the envelope's fields set and every other field `None`.
    pub fn new(kind: EventKind, region: Region, account: AccountId, time: OffsetDateTime, event_id: String) -> Self {
        Self {
            kind,
            image_id: None,
            region,
            account,
            time,
            event_id,
            state: None,
            instance_id: None,
            image_name: None,
            description: None,
            source_image_id: None,
            source_region: None,
            source_account: None,
            asg_name: None,
            launch_template_id: None,
            launch_template_name: None,
            launch_template_version: None,
            snapshot_id: None,
            volume_id: None,
            rule_name: None,
        }
    }
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
///
/// Messages quote only short identifying strings from the payload (names, ids, codes), cut to
/// 80 characters, never the payload itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// The payload is empty or only whitespace.
    #[error("the event is empty: received no JSON, only whitespace or nothing")]
    Empty,
    /// The payload is larger than the limit (EventBridge's 256 KiB by default).
    #[error("the event is too large: received {bytes} bytes, the limit is {limit} bytes")]
    TooLarge {
        /// The size received.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// The payload nests arrays and objects deeper than the limit.
    #[error("the event is nested too deeply: received JSON nested more than {limit} levels deep")]
    TooDeep {
        /// The limit, in levels of arrays and objects.
        limit: usize,
    },
    /// The payload is not JSON.
    #[error("the event is not valid JSON: {reason}")]
    NotJson {
        /// What the JSON parser said, and where the text came from.
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
        /// What is wrong, with what was received: `is missing`, `must be a string, received a
        /// number`, ...
        problem: String,
    },
    /// A CloudTrail record of a call that failed (`errorCode` is set): it made nothing.
    #[error("CloudTrail {event_name} failed with error code `{error_code}`: the call made nothing to act on")]
    FailedApiCall {
        /// The CloudTrail `eventName`, e.g. `CreateImage`.
        event_name: String,
        /// The CloudTrail `errorCode`, e.g. `Client.InvalidInstanceID.NotFound`.
        error_code: String,
    },
    /// One record of an SQS or SNS batch failed.
    #[error("record {index} of the batch: {source}")]
    InRecord {
        /// The record's index in `Records`, from 0.
        index: usize,
        /// Why the record failed.
        source: Box<EventError>,
    },
}

/// What amikeeper supports, for error messages.
pub const SUPPORTED: &str = "EventBridge events (also inside SQS or SNS records): \
    CloudTrail CreateImage, CopyImage, RegisterImage, CreateAutoScalingGroup; \
    AWS Backup `Backup Job State Change` and `Copy Job State Change`; `EC2 AMI State Change`; \
    `EBS Snapshot Notification` and `EBS Multi-Volume Snapshots Completion Status`; `Scheduled Event`";

/// The default payload size limit: EventBridge's maximum event size, 256 KiB.
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;

/// How deep arrays and objects may nest in a payload (and in each SQS body or SNS message).
pub const MAX_DEPTH: usize = 64;

/// How many characters of a received string an error message quotes.
const QUOTE_CHARS: usize = 80;

/// The [`EventParser`] for the payloads AWS delivers: EventBridge events, bare or in SQS and
/// SNS records (see [`SUPPORTED`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StandardEventParser {
    max_bytes: usize,
}

impl Default for StandardEventParser {
    fn default() -> Self {
        Self { max_bytes: MAX_PAYLOAD_BYTES }
    }
}

impl StandardEventParser {
    /// A parser with the default limits ([`MAX_PAYLOAD_BYTES`], [`MAX_DEPTH`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// The same parser with another payload size limit (e.g. for large SQS batches).
    pub fn with_max_bytes(self, max_bytes: usize) -> Self {
        Self { max_bytes }
    }

    /// The payload size limit in bytes.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Parses an already decoded payload, e.g. a dict handed over by a Lambda runtime.
    ///
    /// The same limits apply as to bytes: the value's compact JSON form must fit the size
    /// limit, and it must not nest deeper than [`MAX_DEPTH`].
    pub fn parse_value(&self, value: &serde_json::Value) -> Result<Vec<AmiEvent>, EventError> {
        if value_depth_exceeds(value, MAX_DEPTH) {
            return Err(EventError::TooDeep { limit: MAX_DEPTH });
        }
        let bytes = json_size(value);
        if bytes > self.max_bytes {
            return Err(EventError::TooLarge { bytes, limit: self.max_bytes });
        }
        self.parse_document(value)
    }

    /// Decodes bytes to JSON, enforcing the limits. `context` names where nested text came from.
    fn decode(&self, bytes: &[u8], context: Option<&str>) -> Result<serde_json::Value, EventError> {
        if bytes.len() > self.max_bytes {
            return Err(EventError::TooLarge { bytes: bytes.len(), limit: self.max_bytes });
        }
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        if bytes.trim_ascii().is_empty() {
            return Err(EventError::Empty);
        }
        check_depth(bytes, MAX_DEPTH)?;
        serde_json::from_slice(bytes).map_err(|error| EventError::NotJson {
            reason: match context {
                Some(context) => format!("{context}: {error}"),
                None => error.to_string(),
            },
        })
    }

    /// The top level: a batch of records, or one event.
    fn parse_document(&self, value: &serde_json::Value) -> Result<Vec<AmiEvent>, EventError> {
        if let Some(records) = value.as_object().and_then(|object| object.get("Records")) {
            return self.parse_batch(records);
        }
        self.parse_event(value, Layer::Top).map(|event| vec![event])
    }

    /// `Records` of an SQS or SNS batch.
    fn parse_batch(&self, records: &serde_json::Value) -> Result<Vec<AmiEvent>, EventError> {
        const BATCH: &str = "SQS or SNS batch";
        let records = records.as_array().ok_or_else(|| EventError::BadField {
            event: BATCH.into(),
            field: "Records".into(),
            problem: format!("must be an array, received {}", json_type(records)),
        })?;
        if records.is_empty() {
            return Err(EventError::BadField {
                event: BATCH.into(),
                field: "Records".into(),
                problem: "is empty: received a batch without records".into(),
            });
        }
        records
            .iter()
            .enumerate()
            .map(|(index, record)| {
                self.parse_record(index, record)
                    .map_err(|source| EventError::InRecord { index, source: Box::new(source) })
            })
            .collect()
    }

    /// One record of a batch: SQS (`eventSource` `aws:sqs`) or SNS (`EventSource` `aws:sns`).
    fn parse_record(&self, index: usize, record: &serde_json::Value) -> Result<AmiEvent, EventError> {
        let Some(object) = record.as_object() else {
            return Err(EventError::BadField {
                event: "SQS or SNS batch".into(),
                field: format!("Records[{index}]"),
                problem: format!("must be an object, received {}", json_type(record)),
            });
        };
        let source = object.get("eventSource").or_else(|| object.get("EventSource"));
        match source {
            Some(serde_json::Value::String(source)) if source == "aws:sqs" => {
                let at = At::new("SQS record");
                let body = at.req_str(record, "body")?;
                let value = self.decode(body.as_bytes(), Some("the SQS message body"))?;
                self.parse_event(&value, Layer::SqsBody)
            }
            Some(serde_json::Value::String(source)) if source == "aws:sns" => {
                let at = At::new("SNS record");
                at.req_obj(record, "Sns")?;
                let message = at.req_str(record, "Sns.Message")?;
                let value = self.decode(message.as_bytes(), Some("the SNS Message"))?;
                self.parse_event(&value, Layer::SnsMessage)
            }
            Some(serde_json::Value::String(source)) => {
                Err(EventError::Unsupported { received: format!("a record from `{}`", quote(source)) })
            }
            Some(other) => Err(EventError::BadField {
                event: "SQS or SNS batch".into(),
                field: format!("Records[{index}].eventSource"),
                problem: format!("must be a string, received {}", json_type(other)),
            }),
            None => Err(EventError::Unsupported {
                received: format!("a record without `eventSource` ({})", describe_keys(object)),
            }),
        }
    }

    /// One event: an EventBridge event, or an SNS notification wrapping one.
    fn parse_event(&self, value: &serde_json::Value, layer: Layer) -> Result<AmiEvent, EventError> {
        let Some(object) = value.as_object() else {
            return Err(EventError::Unsupported {
                received: format!("a JSON {} {}", json_type_noun(value), layer.where_()),
            });
        };
        if object.contains_key("Records") {
            return Err(EventError::Unsupported { received: format!("a batch (`Records`) {}", layer.where_()) });
        }
        if object.contains_key("detail-type") || object.contains_key("source") {
            return parse_eventbridge(value);
        }
        let looks_like_sns =
            object.contains_key("Type") && (object.contains_key("Message") || object.contains_key("TopicArn"));
        if looks_like_sns && layer != Layer::SnsMessage {
            let at = At::new("SNS notification");
            let kind = at.req_str(value, "Type")?;
            if kind != "Notification" {
                return Err(EventError::Unsupported { received: format!("an SNS message of Type `{}`", quote(kind)) });
            }
            let message = at.req_str(value, "Message")?;
            let inner = self.decode(message.as_bytes(), Some("the SNS Message"))?;
            return self.parse_event(&inner, Layer::SnsMessage);
        }
        if looks_like_sns {
            return Err(EventError::Unsupported { received: format!("an SNS notification {}", layer.where_()) });
        }
        Err(EventError::Unsupported {
            received: format!("a JSON object {} ({})", layer.where_(), describe_keys(object)),
        })
    }
}

impl EventParser for StandardEventParser {
    fn parse(&self, payload: &[u8]) -> Result<Vec<AmiEvent>, EventError> {
        let value = self.decode(payload, None)?;
        self.parse_document(&value)
    }
}

/// Parses a payload with the [`StandardEventParser`]: one EventBridge event, or an SQS or SNS
/// batch of them (one [`AmiEvent`] per record, in order).
///
/// ```
/// use amikeeper::events::{parse_payload, EventError, EventKind};
///
/// let payload = br#"{
///     "version": "0",
///     "id": "7bf73129-1428-4cd3-a780-95db273d1602",
///     "detail-type": "EC2 AMI State Change",
///     "source": "aws.ec2",
///     "account": "111122223333",
///     "time": "2024-05-01T05:14:09Z",
///     "region": "ap-northeast-1",
///     "resources": ["arn:aws:ec2:ap-northeast-1::image/ami-0123456789abcdef0"],
///     "detail": {
///         "RequestId": "4a4c9b9d-0000-4000-8000-000000000000",
///         "ImageId": "ami-0123456789abcdef0",
///         "State": "available",
///         "ErrorMessage": ""
///     }
/// }"#;
/// let events = parse_payload(payload).unwrap();
/// assert_eq!(events[0].kind, EventKind::ImageStateChanged);
/// assert_eq!(events[0].image_id.as_ref().unwrap().as_str(), "ami-0123456789abcdef0");
/// assert_eq!(events[0].state.as_deref(), Some("available"));
///
/// let error = parse_payload(b"[]").unwrap_err();
/// assert!(matches!(error, EventError::Unsupported { .. }));
/// assert!(error.to_string().contains("a JSON array"));
/// ```
pub fn parse_payload(payload: &[u8]) -> Result<Vec<AmiEvent>, EventError> {
    StandardEventParser::new().parse(payload)
}

/// Parses an already decoded payload with the [`StandardEventParser`] (see
/// [`StandardEventParser::parse_value`]).
pub fn parse_value(value: &serde_json::Value) -> Result<Vec<AmiEvent>, EventError> {
    StandardEventParser::new().parse_value(value)
}

/// Where a JSON document sits, which decides the envelopes it may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layer {
    /// The payload itself.
    Top,
    /// The body of an SQS record: an EventBridge event or an SNS notification.
    SqsBody,
    /// The `Message` of an SNS notification: an EventBridge event.
    SnsMessage,
}

impl Layer {
    fn where_(self) -> &'static str {
        match self {
            Self::Top => "as the payload",
            Self::SqsBody => "in an SQS message body",
            Self::SnsMessage => "in an SNS Message",
        }
    }
}

/// A CloudTrail call amikeeper handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    CreateImage,
    CopyImage,
    RegisterImage,
    CreateAutoScalingGroup,
}

impl Call {
    fn parse(source: &str, event_name: &str) -> Option<Self> {
        match (source, event_name) {
            ("aws.ec2", "CreateImage") => Some(Self::CreateImage),
            ("aws.ec2", "CopyImage") => Some(Self::CopyImage),
            ("aws.ec2", "RegisterImage") => Some(Self::RegisterImage),
            ("aws.autoscaling", "CreateAutoScalingGroup") => Some(Self::CreateAutoScalingGroup),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::CreateImage => "CreateImage",
            Self::CopyImage => "CopyImage",
            Self::RegisterImage => "RegisterImage",
            Self::CreateAutoScalingGroup => "CreateAutoScalingGroup",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::CreateImage => "CloudTrail CreateImage",
            Self::CopyImage => "CloudTrail CopyImage",
            Self::RegisterImage => "CloudTrail RegisterImage",
            Self::CreateAutoScalingGroup => "CloudTrail CreateAutoScalingGroup",
        }
    }
}

const CLOUDTRAIL: &str = "AWS API Call via CloudTrail";
const BACKUP_JOB: &str = "AWS Backup Backup Job State Change";
const COPY_JOB: &str = "AWS Backup Copy Job State Change";
const AMI_STATE: &str = "EC2 AMI State Change";
const SNAPSHOT: &str = "EBS Snapshot Notification";
const SCHEDULED: &str = "Scheduled Event";

/// An EventBridge event: dispatch on `source` and `detail-type`.
fn parse_eventbridge(v: &serde_json::Value) -> Result<AmiEvent, EventError> {
    let at = At::new("EventBridge event");
    let detail_type = at.req_str(v, "detail-type")?;
    let source = at.req_str(v, "source")?;
    match (source, detail_type) {
        ("aws.ec2" | "aws.autoscaling", CLOUDTRAIL) => parse_cloudtrail(v, source),
        ("aws.backup", "Backup Job State Change") => parse_backup_job(v),
        ("aws.backup", "Copy Job State Change") => parse_copy_job(v),
        ("aws.ec2", "EC2 AMI State Change") => parse_ami_state(v),
        ("aws.ec2", "EBS Snapshot Notification" | "EBS Multi-Volume Snapshots Completion Status") => parse_snapshot(v),
        ("aws.events", "Scheduled Event") => parse_scheduled(v),
        _ => Err(EventError::Unsupported {
            received: format!("source `{}`, detail-type `{}`", quote(source), quote(detail_type)),
        }),
    }
}

/// The envelope fields every event carries.
struct Envelope {
    id: Option<String>,
    region: Region,
    account: AccountId,
    time: OffsetDateTime,
}

impl Envelope {
    fn read(at: &At<'_>, v: &serde_json::Value) -> Result<Self, EventError> {
        let id = at.opt_str(v, "id")?.map(|id| at.event_id("id", id)).transpose()?;
        let account = at.account("account", at.req_str(v, "account")?)?;
        let region = at.region("region", at.req_str(v, "region")?)?;
        let time = at.time("time", at.req_str(v, "time")?)?;
        Ok(Self { id, region, account, time })
    }

    /// The event id, required.
    fn require_id(&self, at: &At<'_>) -> Result<String, EventError> {
        self.id.clone().ok_or_else(|| at.bad("id", "is missing"))
    }

    fn event(&self, kind: EventKind, event_id: String) -> AmiEvent {
        AmiEvent::new(kind, self.region.clone(), self.account.clone(), self.time, event_id)
    }

    /// Refuses a field that decides what amikeeper reads or writes (the AMI, the instance that
    /// can name a parameter) when it names another region than the envelope: AWS never sends
    /// one, so it is forged or mangled, and acting on either region would be a guess.
    fn same_region(&self, at: &At<'_>, path: &str, region: &str) -> Result<(), EventError> {
        agrees(at, path, "region", region, self.region.as_str(), Against::Envelope)
    }

    /// Refuses a body that names another account than the envelope (see [`Self::same_region`]).
    fn same_account(&self, at: &At<'_>, path: &str, account: &str) -> Result<(), EventError> {
        agrees(at, path, "account", account, self.account.as_str(), Against::Envelope)
    }
}

/// What [`agrees`] compares a field with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Against {
    /// The EventBridge envelope's `account` or `region`.
    Envelope,
    /// An AWS Backup copy job's destination vault (`detail.destinationBackupVaultArn`).
    DestinationVault,
}

/// `Ok` when `found` is empty (an ARN without that part) or `expected`, the value `against`
/// holds.
///
/// Only fields that decide what amikeeper reads or writes are compared: the AMI's id, region
/// and account, the instance that can name a parameter, a copy job's destination.
fn agrees(
    at: &At<'_>,
    path: &str,
    what: &str,
    found: &str,
    expected: &str,
    against: Against,
) -> Result<(), EventError> {
    if found.is_empty() || found == expected {
        return Ok(());
    }
    let (holder, name) = match against {
        Against::Envelope => ("the event came from", "its envelope"),
        Against::DestinationVault => ("its destination vault is in", "its destination vault"),
    };
    Err(at.bad(
        path,
        format!(
            "names {what} `{}`, but {holder} {what} `{}`: its body contradicts {name}",
            quote(found),
            quote(expected)
        ),
    ))
}

fn parse_cloudtrail(v: &serde_json::Value, source: &str) -> Result<AmiEvent, EventError> {
    let at = At::new("CloudTrail event");
    at.req_obj(v, "detail")?;
    let event_name = at.req_str(v, "detail.eventName")?;
    let call = Call::parse(source, event_name).ok_or_else(|| EventError::Unsupported {
        received: format!("CloudTrail `{}` (source `{}`)", quote(event_name), quote(source)),
    })?;
    let at = At::new(call.label());
    if let Some(code) = at.opt_str(v, "detail.errorCode")? {
        return Err(EventError::FailedApiCall { event_name: call.name().into(), error_code: quote(code) });
    }
    let envelope = Envelope::read(&at, v)?;
    let event_id = match &envelope.id {
        Some(id) => id.clone(),
        None => match at.opt_str(v, "detail.eventID")? {
            Some(id) => at.event_id("detail.eventID", id)?,
            None => return Err(at.bad("id", "is missing (and so is `detail.eventID`)")),
        },
    };
    if let Some(region) = at.opt_str(v, "detail.awsRegion")? {
        envelope.same_region(&at, "detail.awsRegion", at.region("detail.awsRegion", region)?.as_str())?;
    }
    if let Some(account) = at.opt_str(v, "detail.recipientAccountId")? {
        envelope.same_account(
            &at,
            "detail.recipientAccountId",
            at.account("detail.recipientAccountId", account)?.as_str(),
        )?;
    }

    let kind = match call {
        Call::CreateImage => EventKind::ImageCreated,
        Call::CopyImage => EventKind::ImageCopied,
        Call::RegisterImage => EventKind::ImageRegistered,
        Call::CreateAutoScalingGroup => EventKind::AsgCreated,
    };
    let mut event = envelope.event(kind, event_id);
    if call == Call::CreateAutoScalingGroup {
        let params = "detail.requestParameters";
        at.req_obj(v, params)?;
        let name = at.req_str(v, "detail.requestParameters.autoScalingGroupName")?;
        event.asg_name = Some(at.bounded("detail.requestParameters.autoScalingGroupName", name, 255)?);
        let direct = "detail.requestParameters.launchTemplate";
        let mixed = "detail.requestParameters.mixedInstancesPolicy.launchTemplate.launchTemplateSpecification";
        let spec = if at.opt_obj(v, direct)?.is_some() {
            Some(direct)
        } else if at.opt_obj(v, mixed)?.is_some() {
            Some(mixed)
        } else {
            None
        };
        if let Some(spec) = spec {
            let id_path = format!("{spec}.launchTemplateId");
            let name_path = format!("{spec}.launchTemplateName");
            let version_path = format!("{spec}.version");
            event.launch_template_id =
                at.opt_str(v, &id_path)?.map(|id| at.id(&id_path, id, IdKind::LaunchTemplate)).transpose()?;
            event.launch_template_name =
                at.opt_str(v, &name_path)?.map(|name| at.bounded(&name_path, name, 128)).transpose()?;
            event.launch_template_version =
                at.opt_str(v, &version_path)?.map(|version| at.bounded(&version_path, version, 32)).transpose()?;
            if event.launch_template_id.is_none() && event.launch_template_name.is_none() {
                return Err(at.bad(&id_path, "is missing (and so is `launchTemplateName`)"));
            }
        }
        return Ok(event);
    }

    // The image calls: the new image is in the response.
    match at.lookup(v, "detail.responseElements")? {
        None => {
            return Err(at.bad("detail.responseElements", "is missing or null: the record names no image"));
        }
        Some(value) if !value.is_object() => {
            return Err(at.bad("detail.responseElements", format!("must be an object, received {}", json_type(value))));
        }
        Some(_) => {}
    }
    let image = at.req_str(v, "detail.responseElements.imageId")?;
    event.image_id = Some(at.image_id("detail.responseElements.imageId", image)?);
    at.opt_obj(v, "detail.requestParameters")?;
    event.image_name = at.opt_string(v, "detail.requestParameters.name")?;
    event.description = at.opt_string(v, "detail.requestParameters.description")?;
    match call {
        Call::CreateImage => {
            let path = "detail.requestParameters.instanceId";
            event.instance_id = at.opt_str(v, path)?.map(|id| at.id(path, id, IdKind::Instance)).transpose()?;
        }
        Call::CopyImage => {
            let path = "detail.requestParameters.sourceRegion";
            event.source_region = at.opt_str(v, path)?.map(|r| at.region(path, r)).transpose()?;
            let path = "detail.requestParameters.sourceImageId";
            event.source_image_id = at.opt_str(v, path)?.map(|id| at.image_id(path, id)).transpose()?;
        }
        Call::RegisterImage | Call::CreateAutoScalingGroup => {}
    }
    Ok(event)
}

fn parse_backup_job(v: &serde_json::Value) -> Result<AmiEvent, EventError> {
    let at = At::new(BACKUP_JOB);
    let envelope = Envelope::read(&at, v)?;
    let mut event = envelope.event(EventKind::BackupJob, envelope.require_id(&at)?);
    at.req_obj(v, "detail")?;
    event.state = Some(backup_state(&at, v)?);
    at.opt_str(v, "detail.resourceType")?;
    // Only what amikeeper acts on must agree with the envelope: the instance (it can name a
    // parameter) and the AMI. The vault, the IAM role and the backup plan decide nothing that
    // amikeeper reads or writes, and AWS's own samples name them in other regions and accounts.
    let resource = "detail.resourceArn";
    if let Some(instance) = instance_from_arn(&at, v, resource)? {
        envelope.same_region(&at, resource, instance.region)?;
        envelope.same_account(&at, resource, instance.account)?;
        event.instance_id = Some(instance.id);
    }
    let point = "detail.recoveryPointArn";
    event.image_id = match at.opt_str(v, point)? {
        Some(arn) => match image_from_arn(&at, point, arn)? {
            Some(image) => {
                envelope.same_region(&at, point, image.region)?;
                envelope.same_account(&at, point, image.account)?;
                Some(image.id)
            }
            None => None,
        },
        None => image_in_resources(&at, v, Some(&envelope))?,
    };
    Ok(event)
}

fn parse_copy_job(v: &serde_json::Value) -> Result<AmiEvent, EventError> {
    let at = At::new(COPY_JOB);
    let envelope = Envelope::read(&at, v)?;
    let mut event = envelope.event(EventKind::BackupCopyJob, envelope.require_id(&at)?);
    at.req_obj(v, "detail")?;
    event.state = Some(backup_state(&at, v)?);
    at.opt_str(v, "detail.resourceType")?;
    // The copy job runs in the source account, with the instance it copies (which can name a
    // parameter). The source vault and the IAM role decide nothing amikeeper reads or writes.
    let resource = "detail.resourceArn";
    if let Some(instance) = instance_from_arn(&at, v, resource)? {
        envelope.same_account(&at, resource, instance.account)?;
        event.instance_id = Some(instance.id);
    }
    event.source_region = Some(envelope.region.clone());
    event.source_account = Some(envelope.account.clone());

    // The destination vault says where the copy goes, in which account.
    let vault_path = "detail.destinationBackupVaultArn";
    let (mut vault_region, mut vault_account) = (None, None);
    if let Some(vault) = at.opt_str(v, vault_path)? {
        let arn = Arn::parse(vault).ok_or_else(|| at.bad(vault_path, not_an_arn(vault)))?;
        if !arn.region.is_empty() {
            event.region = at.region(vault_path, arn.region)?;
            vault_region = Some(arn.region);
        }
        if !arn.account.is_empty() {
            event.account = at.account(vault_path, arn.account)?;
            vault_account = Some(arn.account);
        }
    }
    // The destination recovery point, once the copy is done; `{}` before that. It must be where
    // the destination vault is: the AMI amikeeper would read is there.
    let point_path = "detail.destinationRecoveryPointArn";
    match at.lookup(v, point_path)? {
        Some(serde_json::Value::String(arn)) if !arn.is_empty() => {
            let parsed = Arn::parse(arn).ok_or_else(|| at.bad(point_path, not_an_arn(arn)))?;
            if !parsed.region.is_empty() {
                let region = at.region(point_path, parsed.region)?;
                if let Some(vault_region) = vault_region {
                    agrees(&at, point_path, "region", parsed.region, vault_region, Against::DestinationVault)?;
                }
                event.region = region;
            }
            match vault_account {
                Some(vault_account) => {
                    agrees(&at, point_path, "account", parsed.account, vault_account, Against::DestinationVault)?
                }
                None => envelope.same_account(&at, point_path, parsed.account)?,
            }
            event.image_id = image_from_arn(&at, point_path, arn)?.map(|image| image.id);
        }
        Some(serde_json::Value::String(_)) | None => {}
        Some(serde_json::Value::Object(empty)) if empty.is_empty() => {}
        Some(other) => {
            return Err(at.bad(point_path, format!("must be an ARN string, received {}", json_type(other))));
        }
    }
    event.source_image_id = match at.opt_str(v, "detail.sourceRecoveryPointArn")? {
        Some(arn) => image_from_arn(&at, "detail.sourceRecoveryPointArn", arn)?.map(|image| image.id),
        None => image_in_resources(&at, v, None)?,
    };
    Ok(event)
}

fn parse_ami_state(v: &serde_json::Value) -> Result<AmiEvent, EventError> {
    let at = At::new(AMI_STATE);
    let envelope = Envelope::read(&at, v)?;
    let mut event = envelope.event(EventKind::ImageStateChanged, envelope.require_id(&at)?);
    at.req_obj(v, "detail")?;
    event.image_id = Some(at.image_id("detail.ImageId", at.req_str(v, "detail.ImageId")?)?);
    event.state = Some(at.bounded("detail.State", at.req_str(v, "detail.State")?, 64)?);
    image_in_resources(&at, v, Some(&envelope))?;
    Ok(event)
}

fn parse_snapshot(v: &serde_json::Value) -> Result<AmiEvent, EventError> {
    let at = At::new(SNAPSHOT);
    at.req_obj(v, "detail")?;
    let name = at.req_str(v, "detail.event")?;
    if !matches!(name, "createSnapshot" | "createSnapshots" | "copySnapshot") {
        return Err(EventError::Unsupported {
            received: format!(
                "EBS Snapshot Notification `{}` (supported: createSnapshot, createSnapshots, copySnapshot)",
                quote(name)
            ),
        });
    }
    let envelope = Envelope::read(&at, v)?;
    let mut event = envelope.event(EventKind::SnapshotCreated, envelope.require_id(&at)?);
    event.state = Some(at.bounded("detail.result", at.req_str(v, "detail.result")?, 64)?);
    let (snapshot, source) = match at.opt_str(v, "detail.snapshot_id")? {
        Some(snapshot) => (
            Some(("detail.snapshot_id".to_string(), snapshot)),
            at.opt_str(v, "detail.source")?.map(|s| ("detail.source".to_string(), s)),
        ),
        None => match at.lookup(v, "detail.snapshots")? {
            // `createSnapshots`: one event for several volumes; name them when there is one.
            Some(serde_json::Value::Array(items)) if items.len() == 1 => {
                at.req_obj(v, "detail.snapshots.0")?;
                let snapshot = at.opt_str(v, "detail.snapshots.0.snapshot_id")?;
                let source = at.opt_str(v, "detail.snapshots.0.source")?;
                (
                    snapshot.map(|s| ("detail.snapshots[0].snapshot_id".to_string(), s)),
                    source.map(|s| ("detail.snapshots[0].source".to_string(), s)),
                )
            }
            Some(serde_json::Value::Array(_)) | None => (None, None),
            Some(other) => {
                return Err(at.bad("detail.snapshots", format!("must be an array, received {}", json_type(other))));
            }
        },
    };
    if let Some((path, arn)) = snapshot {
        event.snapshot_id = Some(at.id(&path, last_segment(arn), IdKind::Snapshot)?);
    }
    if let Some((path, arn)) = source {
        let id = last_segment(arn);
        if id.starts_with("vol-") {
            event.volume_id = Some(at.id(&path, id, IdKind::Volume)?);
        } else if id.starts_with("snap-") {
            // copySnapshot: the source is the snapshot copied from.
            at.id(&path, id, IdKind::Snapshot)?;
        } else {
            return Err(at.bad(&path, format!("must be a volume or snapshot ARN, received `{}`", quote(arn))));
        }
    }
    Ok(event)
}

fn parse_scheduled(v: &serde_json::Value) -> Result<AmiEvent, EventError> {
    let at = At::new(SCHEDULED);
    let envelope = Envelope::read(&at, v)?;
    let mut event = envelope.event(EventKind::Scheduled, envelope.require_id(&at)?);
    let Some(resources) = at.lookup(v, "resources")? else {
        return Ok(event);
    };
    let resources = resources
        .as_array()
        .ok_or_else(|| at.bad("resources", format!("must be an array, received {}", json_type(resources))))?;
    // A scheduled rule fires with its own ARN as the one resource.
    if let Some(resource) = resources.first() {
        let path = "resources[0]";
        let arn = resource
            .as_str()
            .ok_or_else(|| at.bad(path, format!("must be a string, received {}", json_type(resource))))?;
        let rule = Arn::parse(arn)
            .filter(|arn| arn.service == "events")
            .and_then(|arn| arn.resource.strip_prefix("rule/"))
            .ok_or_else(|| {
                at.bad(
                    path,
                    format!(
                        "must be an EventBridge rule ARN (`arn:aws:events:REGION:ACCOUNT:rule/NAME`), received `{}`",
                        quote(arn)
                    ),
                )
            })?;
        // `rule/NAME`, or `rule/BUS/NAME` for a rule on a custom bus.
        let name = last_segment(rule);
        if !is_rule_name(name) {
            return Err(at.bad(
                path,
                format!("must end in a rule name (letters, digits, `.`, `-`, `_`), received `{}`", quote(name)),
            ));
        }
        event.rule_name = Some(name.to_string());
    }
    Ok(event)
}

/// AWS Backup reports `state` for jobs, `status` for some other events.
fn backup_state(at: &At<'_>, v: &serde_json::Value) -> Result<String, EventError> {
    let state = match at.opt_str(v, "detail.state")? {
        Some(state) => state,
        None => at
            .opt_str(v, "detail.status")?
            .ok_or_else(|| at.bad("detail.state", "is missing (and so is `detail.status`)"))?,
    };
    at.bounded("detail.state", state, 64)
}

/// An EC2 resource named by an ARN: its id and the ARN's region and account (either may be
/// empty).
struct Ec2Resource<'a, Id> {
    id: Id,
    region: &'a str,
    account: &'a str,
}

/// The instance of `arn:aws:ec2:REGION:ACCOUNT:instance/i-...`; `None` for other resources.
fn instance_from_arn<'v>(
    at: &At<'_>,
    v: &'v serde_json::Value,
    path: &str,
) -> Result<Option<Ec2Resource<'v, String>>, EventError> {
    let Some(arn) = at.opt_str(v, path)? else {
        return Ok(None);
    };
    let parsed = Arn::parse(arn).ok_or_else(|| at.bad(path, not_an_arn(arn)))?;
    match (parsed.service, parsed.resource.strip_prefix("instance/")) {
        ("ec2", Some(id)) => Ok(Some(Ec2Resource {
            id: at.id(path, id, IdKind::Instance)?,
            region: parsed.region,
            account: parsed.account,
        })),
        _ => Ok(None),
    }
}

/// The image of `arn:aws:ec2:REGION::image/ami-...`, with the ARN's region and account; `None`
/// for other recovery points (snapshots, vaults, other services).
fn image_from_arn<'a>(at: &At<'_>, path: &str, arn: &'a str) -> Result<Option<Ec2Resource<'a, ImageId>>, EventError> {
    let parsed = Arn::parse(arn).ok_or_else(|| at.bad(path, not_an_arn(arn)))?;
    match (parsed.service, parsed.resource.strip_prefix("image/")) {
        ("ec2", Some(id)) => {
            Ok(Some(Ec2Resource { id: at.image_id(path, id)?, region: parsed.region, account: parsed.account }))
        }
        _ => Ok(None),
    }
}

/// The first EC2 image ARN in `resources`. With an envelope, every image ARN there must be in
/// its region (and account, when the ARN names one).
fn image_in_resources(
    at: &At<'_>,
    v: &serde_json::Value,
    envelope: Option<&Envelope>,
) -> Result<Option<ImageId>, EventError> {
    let Some(resources) = at.lookup(v, "resources")? else {
        return Ok(None);
    };
    let resources = resources
        .as_array()
        .ok_or_else(|| at.bad("resources", format!("must be an array, received {}", json_type(resources))))?;
    let mut first = None;
    for (i, resource) in resources.iter().enumerate() {
        let path = format!("resources[{i}]");
        let arn = resource
            .as_str()
            .ok_or_else(|| at.bad(&path, format!("must be a string, received {}", json_type(resource))))?;
        if let Some(image) = image_from_arn(at, &path, arn)? {
            if let Some(envelope) = envelope {
                envelope.same_region(at, &path, image.region)?;
                envelope.same_account(at, &path, image.account)?;
            }
            first.get_or_insert(image.id);
        }
    }
    Ok(first)
}

fn not_an_arn(value: &str) -> String {
    format!("must be an ARN (`arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`), received `{}`", quote(value))
}

/// An ARN split into its parts; `resource` keeps any further `:` and `/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Arn<'a> {
    service: &'a str,
    region: &'a str,
    account: &'a str,
    resource: &'a str,
}

impl<'a> Arn<'a> {
    fn parse(value: &'a str) -> Option<Self> {
        let mut parts = value.splitn(6, ':');
        if parts.next()? != "arn" {
            return None;
        }
        let partition = parts.next()?;
        if !matches!(partition, "aws" | "aws-cn" | "aws-us-gov" | "aws-iso" | "aws-iso-b" | "aws-eusc") {
            return None;
        }
        let service = parts.next()?;
        let region = parts.next()?;
        let account = parts.next()?;
        let resource = parts.next()?;
        if service.is_empty() || resource.is_empty() {
            return None;
        }
        Some(Self { service, region, account, resource })
    }
}

/// The part after the last `/` (the whole string when there is none).
fn last_segment(value: &str) -> &str {
    value.rsplit('/').next().unwrap_or(value)
}

/// The kinds of EC2-style ids amikeeper checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IdKind {
    Image,
    Instance,
    Snapshot,
    Volume,
    LaunchTemplate,
}

impl IdKind {
    fn prefix(self) -> &'static str {
        match self {
            Self::Image => "ami-",
            Self::Instance => "i-",
            Self::Snapshot => "snap-",
            Self::Volume => "vol-",
            Self::LaunchTemplate => "lt-",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Self::Image => "an AMI id",
            Self::Instance => "an instance id",
            Self::Snapshot => "a snapshot id",
            Self::Volume => "a volume id",
            Self::LaunchTemplate => "a launch template id",
        }
    }

    /// `prefix` then 8 or 17 lowercase hex digits.
    fn is_valid(self, value: &str) -> bool {
        value.strip_prefix(self.prefix()).is_some_and(|hex| {
            (hex.len() == 8 || hex.len() == 17) && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        })
    }
}

/// `us-east-1`, `ap-northeast-1`, `us-gov-west-1`, `cn-north-1`, `eusc-de-east-1`.
fn is_region(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    let [first, middle @ .., number] = parts.as_slice() else {
        return false;
    };
    value.len() <= 32
        && !middle.is_empty()
        && (2..=4).contains(&first.len())
        && first.bytes().all(|b| b.is_ascii_lowercase())
        && middle.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && (1..=2).contains(&number.len())
        && number.bytes().all(|b| b.is_ascii_digit())
}

fn is_account(value: &str) -> bool {
    value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit())
}

/// EventBridge rule names: 1 to 64 of letters, digits, `.`, `-`, `_`.
fn is_rule_name(value: &str) -> bool {
    (1..=64).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// Reads fields of one recognised event and makes errors naming it.
struct At<'e> {
    event: &'e str,
}

impl<'e> At<'e> {
    fn new(event: &'e str) -> Self {
        Self { event }
    }

    fn bad(&self, field: &str, problem: impl Into<String>) -> EventError {
        EventError::BadField { event: self.event.into(), field: display_path(field), problem: problem.into() }
    }

    /// The value at a dotted path (numeric parts index arrays). Missing or `null` is `None`;
    /// a step through something that is not an object (or array) is an error.
    fn lookup<'v>(&self, root: &'v serde_json::Value, path: &str) -> Result<Option<&'v serde_json::Value>, EventError> {
        let mut current = root;
        let mut walked = 0;
        for part in path.split('.') {
            let next = match current {
                serde_json::Value::Object(object) => object.get(part),
                serde_json::Value::Array(items) => match part.parse::<usize>() {
                    Ok(index) => items.get(index),
                    Err(_) => return Err(self.not_object(path, walked, current)),
                },
                serde_json::Value::Null => return Ok(None),
                other => return Err(self.not_object(path, walked, other)),
            };
            match next {
                None | Some(serde_json::Value::Null) => return Ok(None),
                Some(value) => current = value,
            }
            walked += part.len() + 1;
        }
        Ok(Some(current))
    }

    fn not_object(&self, path: &str, walked: usize, value: &serde_json::Value) -> EventError {
        let parent = path[..walked.saturating_sub(1)].to_string();
        self.bad(&parent, format!("must be an object, received {}", json_type(value)))
    }

    /// A string field; missing, `null` or empty is `None`.
    fn opt_str<'v>(&self, root: &'v serde_json::Value, path: &str) -> Result<Option<&'v str>, EventError> {
        match self.lookup(root, path)? {
            None => Ok(None),
            Some(serde_json::Value::String(s)) if s.is_empty() => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.bad(path, format!("must be a string, received {}", json_type(other)))),
        }
    }

    fn req_str<'v>(&self, root: &'v serde_json::Value, path: &str) -> Result<&'v str, EventError> {
        match self.lookup(root, path)? {
            None => Err(self.bad(path, "is missing")),
            Some(serde_json::Value::String(s)) if s.is_empty() => Err(self.bad(path, "is empty")),
            Some(serde_json::Value::String(s)) => Ok(s),
            Some(other) => Err(self.bad(path, format!("must be a string, received {}", json_type(other)))),
        }
    }

    /// An optional free-text field, kept as is (at most 1024 characters).
    fn opt_string(&self, root: &serde_json::Value, path: &str) -> Result<Option<String>, EventError> {
        self.opt_str(root, path)?.map(|s| self.bounded(path, s, 1024)).transpose()
    }

    fn opt_obj<'v>(
        &self,
        root: &'v serde_json::Value,
        path: &str,
    ) -> Result<Option<&'v serde_json::Map<String, serde_json::Value>>, EventError> {
        match self.lookup(root, path)? {
            None => Ok(None),
            Some(serde_json::Value::Object(object)) => Ok(Some(object)),
            Some(other) => Err(self.bad(path, format!("must be an object, received {}", json_type(other)))),
        }
    }

    fn req_obj<'v>(
        &self,
        root: &'v serde_json::Value,
        path: &str,
    ) -> Result<&'v serde_json::Map<String, serde_json::Value>, EventError> {
        self.opt_obj(root, path)?.ok_or_else(|| self.bad(path, "is missing"))
    }

    /// A string of at most `max` characters.
    fn bounded(&self, path: &str, value: &str, max: usize) -> Result<String, EventError> {
        let chars = value.chars().count();
        if chars > max {
            return Err(self.bad(path, format!("is too long: received {chars} characters, at most {max} allowed")));
        }
        Ok(value.to_string())
    }

    fn id(&self, path: &str, value: &str, kind: IdKind) -> Result<String, EventError> {
        if !kind.is_valid(value) {
            return Err(self.bad(
                path,
                format!(
                    "must be {} (`{}` and 8 or 17 lowercase hex digits), received `{}`",
                    kind.noun(),
                    kind.prefix(),
                    quote(value)
                ),
            ));
        }
        Ok(value.to_string())
    }

    fn image_id(&self, path: &str, value: &str) -> Result<ImageId, EventError> {
        self.id(path, value, IdKind::Image).map(ImageId)
    }

    fn region(&self, path: &str, value: &str) -> Result<Region, EventError> {
        if !is_region(value) {
            return Err(self.bad(path, format!("must be a region such as `us-east-1`, received `{}`", quote(value))));
        }
        Ok(Region::new(value))
    }

    fn account(&self, path: &str, value: &str) -> Result<AccountId, EventError> {
        if !is_account(value) {
            return Err(self.bad(path, format!("must be a 12-digit account id, received `{}`", quote(value))));
        }
        Ok(AccountId::new(value))
    }

    fn time(&self, path: &str, value: &str) -> Result<OffsetDateTime, EventError> {
        OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
            .map_err(|_| self.bad(path, format!("must be an RFC 3339 time, received `{}`", quote(value))))
    }

    fn event_id(&self, path: &str, value: &str) -> Result<String, EventError> {
        if value.chars().any(char::is_control) {
            return Err(self.bad(path, "must not contain control characters"));
        }
        self.bounded(path, value, 256)
    }
}

/// `detail.snapshots.0.source` as `detail.snapshots[0].source`.
fn display_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 2);
    for (i, part) in path.split('.').enumerate() {
        if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
            out.push('[');
            out.push_str(part);
            out.push(']');
        } else {
            if i > 0 {
                out.push('.');
            }
            out.push_str(part);
        }
    }
    out
}

/// A received string made safe to quote: at most [`QUOTE_CHARS`] characters, no control
/// characters.
pub(crate) fn quote(value: &str) -> String {
    let mut out = String::new();
    for (i, c) in value.chars().enumerate() {
        if i == QUOTE_CHARS {
            out.push('…');
            break;
        }
        out.push(if c.is_control() { '?' } else { c });
    }
    out
}

/// `null`, `a string`, ... for messages.
fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// `null`, `string`, ... after "a JSON".
fn json_type_noun(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

/// The first few keys of an object, quoted, for messages about unknown shapes.
fn describe_keys(object: &serde_json::Map<String, serde_json::Value>) -> String {
    if object.is_empty() {
        return "no keys".into();
    }
    let mut keys: Vec<String> = object.keys().take(6).map(|k| format!("`{}`", quote_short(k))).collect();
    if object.len() > 6 {
        keys.push(format!("and {} more", object.len() - 6));
    }
    format!("keys {}", keys.join(", "))
}

fn quote_short(value: &str) -> String {
    let quoted = quote(value);
    if quoted.chars().count() > 32 {
        let mut cut: String = quoted.chars().take(32).collect();
        cut.push('…');
        cut
    } else {
        quoted
    }
}

/// Fails when arrays and objects in `bytes` nest deeper than `limit`.
///
/// A linear scan that skips strings; it runs before deserialising, so no recursion ever goes
/// deeper than the limit. On malformed JSON it may miscount, and the parser then reports it.
fn check_depth(bytes: &[u8], limit: usize) -> Result<(), EventError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return Err(EventError::TooDeep { limit });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Whether arrays and objects in `value` nest deeper than `limit` (iterative: no recursion).
fn value_depth_exceeds(value: &serde_json::Value, limit: usize) -> bool {
    let mut stack = vec![(value, 1usize)];
    while let Some((value, depth)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &serde_json::Value>> = match value {
            serde_json::Value::Array(items) => Box::new(items.iter()),
            serde_json::Value::Object(object) => Box::new(object.values()),
            _ => continue,
        };
        if depth > limit {
            return true;
        }
        stack.extend(children.map(|child| (child, depth + 1)));
    }
    false
}

/// The size of `value`'s compact JSON form.
fn json_size(value: &serde_json::Value) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Writing a `Value` to a writer that never fails cannot fail.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal_event() -> AmiEvent {
        AmiEvent {
            image_id: Some(ImageId::new("ami-0123456789abcdef0")),
            ..AmiEvent::new(
                EventKind::ImageCreated,
                Region::new("ap-northeast-1"),
                AccountId::new("111122223333"),
                time::macros::datetime!(2024-05-01 05:10:22 UTC),
                "6f1c3b0e-2a8d-4b7e-9c51-3e0d4a7b2f10".into(),
            )
        }
    }

    #[test]
    fn serialises_snake_case_kind_and_omits_none_fields() {
        let event = minimal_event();
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "kind": "image_created",
                "image_id": "ami-0123456789abcdef0",
                "region": "ap-northeast-1",
                "account": "111122223333",
                "time": "2024-05-01T05:10:22Z",
                "event_id": "6f1c3b0e-2a8d-4b7e-9c51-3e0d4a7b2f10"
            })
        );
        let back: AmiEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);

        for kind in EventKind::ALL {
            let event = AmiEvent { kind, ..minimal_event() };
            assert_eq!(serde_json::to_value(&event).unwrap()["kind"], kind.as_str());
        }
    }

    #[test]
    fn depth_scan_counts_only_structure_outside_strings() {
        assert!(check_depth(b"[[[]]]", 3).is_ok());
        assert_eq!(check_depth(b"[[[[]]]]", 3), Err(EventError::TooDeep { limit: 3 }));
        assert!(check_depth(br#"{"a": "[[[[[[{{{{", "b": "\"[[[[["}"#, 1).is_ok());
        assert!(check_depth(br#"["\\", [[]]]"#, 3).is_ok());
        assert!(check_depth(br#"["\\", [[[]]]]"#, 3).is_err());
        // Unbalanced closers never underflow.
        assert!(check_depth(b"]]]]}}}[", 1).is_ok());
    }

    #[test]
    fn value_depth_matches_the_byte_scan() {
        let value: serde_json::Value = serde_json::from_str(r#"{"a": [{"b": [1]}], "c": "[[[["}"#).unwrap();
        assert!(!value_depth_exceeds(&value, 4));
        assert!(value_depth_exceeds(&value, 3));
        assert!(check_depth(value.to_string().as_bytes(), 4).is_ok());
        assert!(check_depth(value.to_string().as_bytes(), 3).is_err());
        assert!(!value_depth_exceeds(&serde_json::json!("scalar"), 0));
    }

    #[test]
    fn ids_regions_and_accounts() {
        assert!(IdKind::Image.is_valid("ami-0123456789abcdef0"));
        assert!(IdKind::Image.is_valid("ami-12345678"));
        assert!(!IdKind::Image.is_valid("ami-123456789"));
        assert!(!IdKind::Image.is_valid("ami-0123456789ABCDEF0"));
        assert!(!IdKind::Image.is_valid("ami-0123456789abcdefg"));
        assert!(!IdKind::Image.is_valid("i-0123456789abcdef0"));
        assert!(IdKind::Instance.is_valid("i-0123456789abcdef0"));
        assert!(IdKind::Snapshot.is_valid("snap-0123456789abcdef0"));
        assert!(IdKind::Volume.is_valid("vol-0123456789abcdef0"));
        assert!(IdKind::LaunchTemplate.is_valid("lt-0123456789abcdef0"));
        assert!(!IdKind::LaunchTemplate.is_valid("lt-"));

        for region in ["us-east-1", "ap-northeast-1", "ap-southeast-1", "us-gov-west-1", "cn-north-1", "eusc-de-east-1"]
        {
            assert!(is_region(region), "{region}");
        }
        for region in ["", "us", "us-east", "US-EAST-1", "us-east-x", "us--1", "us-east-100", "tokyo", "-east-1"] {
            assert!(!is_region(region), "{region}");
        }
        assert!(is_account("111122223333"));
        assert!(!is_account("11112222333"));
        assert!(!is_account("11112222333a"));
        assert!(is_rule_name("amikeeper-weekly_bake.v2"));
        assert!(!is_rule_name("has space"));
    }

    #[test]
    fn arns() {
        let arn = Arn::parse("arn:aws:ec2:ap-northeast-1::image/ami-0123456789abcdef0").unwrap();
        assert_eq!((arn.service, arn.region, arn.account), ("ec2", "ap-northeast-1", ""));
        assert_eq!(arn.resource, "image/ami-0123456789abcdef0");
        let arn = Arn::parse("arn:aws:backup:us-west-2:111122223333:backup-vault:aws/efs/vault").unwrap();
        assert_eq!(arn.resource, "backup-vault:aws/efs/vault");
        assert!(Arn::parse("arn:aws-cn:ec2:cn-north-1::image/ami-12345678").is_some());
        assert!(Arn::parse("arn:gcp:ec2:us-east-1::image/ami-12345678").is_none());
        assert!(Arn::parse("ami-0123456789abcdef0").is_none());
        assert!(Arn::parse("arn:aws:ec2:us-east-1").is_none());
        assert_eq!(last_segment("arn:aws:ec2::us-west-2:snapshot/snap-01234567"), "snap-01234567");
        assert_eq!(last_segment("no-slash"), "no-slash");
    }

    #[test]
    fn quoting_cuts_long_strings_and_control_characters() {
        assert_eq!(quote("short"), "short");
        assert_eq!(quote("a\nb\u{0}c"), "a?b?c");
        let long = "é".repeat(200);
        let quoted = quote(&long);
        assert_eq!(quoted.chars().count(), QUOTE_CHARS + 1);
        assert!(quoted.ends_with('…'));
        assert_eq!(display_path("detail.snapshots.0.source"), "detail.snapshots[0].source");
        assert_eq!(display_path("Records"), "Records");
    }

    #[test]
    fn lookup_reports_the_field_that_is_not_an_object() {
        let at = At::new("test");
        let value = serde_json::json!({"detail": "text", "n": null, "list": [{"x": "y"}]});
        let error = at.lookup(&value, "detail.requestParameters.instanceId").unwrap_err();
        assert_eq!(
            error,
            EventError::BadField {
                event: "test".into(),
                field: "detail".into(),
                problem: "must be an object, received a string".into()
            }
        );
        assert_eq!(at.lookup(&value, "n.deeper").unwrap(), None);
        assert_eq!(at.lookup(&value, "missing.deeper").unwrap(), None);
        assert_eq!(at.opt_str(&value, "list.0.x").unwrap(), Some("y"));
        assert!(at.lookup(&value, "list.key").is_err());
    }

    #[test]
    fn json_size_is_the_compact_length() {
        let value = serde_json::json!({"a": [1, 2], "b": "c"});
        assert_eq!(json_size(&value), value.to_string().len());
    }
}
