//! Events: AWS payloads (EventBridge, also inside SQS or SNS records) to typed [`AmiEvent`]s.
//!
//! The module is split the way the payloads nest:
//! - envelopes, which carry an event: [`sqs`] and [`sns`] records, the [`eventbridge`] event
//!   (its `source` and `detail-type` choose the source), and the [`cloudtrail`] record of an API
//!   call inside an EventBridge `detail`;
//! - sources, one module each, which read one kind of `detail`: [`image_calls`] (CloudTrail
//!   `CreateImage`, `CopyImage`, `RegisterImage`), [`autoscaling`], [`backup`], [`ami_state`],
//!   [`ebs`], [`scheduled`];
//! - [`SOURCES`], the one table that maps an EventBridge `source` and `detail-type` (and a
//!   CloudTrail `eventName`) to its [`EventKind`] and parser. Dispatch, the list of supported
//!   events in errors ([`SUPPORTED`]) and [`supported()`] are all read from it.
//!
//! `ARCHITECTURE.md` ("Adding an event kind") walks through adding a source.

#[macro_use]
mod event;
pub mod ami_state;
mod arn;
pub mod autoscaling;
pub mod backup;
pub mod cloudtrail;
pub mod ebs;
mod error;
pub mod eventbridge;
mod ids;
pub mod image_calls;
mod json;
mod parser;
pub mod scheduled;
pub mod sns;
pub mod sqs;

pub use ami_state::ImageStateChanged;
pub use autoscaling::AsgCreated;
pub use backup::{BackupCopyJob, BackupJob};
pub use ebs::SnapshotCreated;
pub use error::EventError;
pub use event::{AmiEvent, EventDetail, EventKind};
pub use image_calls::{ImageCopied, ImageCreated, ImageRegistered};
pub(crate) use json::quote;
use json::At;
pub use parser::{
    parse_payload, parse_value, EventParser, Parsed, SqsRecord, StandardEventParser, MAX_DEPTH, MAX_PAYLOAD_BYTES,
};
pub use scheduled::Scheduled;

/// How an [`EventSource`] recognises its events inside an EventBridge event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matcher {
    /// An event of this `source` and `detail-type`.
    DetailType {
        /// The EventBridge `source`, e.g. `aws.backup`.
        source: &'static str,
        /// The EventBridge `detail-type`, e.g. `Backup Job State Change`.
        detail_type: &'static str,
    },
    /// A CloudTrail record (`detail-type` `AWS API Call via CloudTrail`) of this call.
    ApiCall {
        /// The EventBridge `source`, e.g. `aws.ec2`.
        source: &'static str,
        /// The CloudTrail `eventName`, e.g. `CreateImage`.
        event_name: &'static str,
    },
}

impl Matcher {
    /// The EventBridge `source`.
    pub fn source(&self) -> &'static str {
        match self {
            Self::DetailType { source, .. } | Self::ApiCall { source, .. } => source,
        }
    }

    /// The EventBridge `detail-type`.
    pub fn detail_type(&self) -> &'static str {
        match self {
            Self::DetailType { detail_type, .. } => detail_type,
            Self::ApiCall { .. } => cloudtrail::DETAIL_TYPE,
        }
    }

    /// The CloudTrail `eventName`, for an API call.
    pub fn event_name(&self) -> Option<&'static str> {
        match self {
            Self::DetailType { .. } => None,
            Self::ApiCall { event_name, .. } => Some(event_name),
        }
    }
}

/// Reads one recognised EventBridge event into an [`AmiEvent`].
pub type ParseFn = fn(&serde_json::Value, &EventSource) -> Result<AmiEvent, EventError>;

/// One supported event: how it is recognised, its kind, its name in docs, and its parser.
#[derive(Debug, Clone, Copy)]
pub struct EventSource {
    label: &'static str,
    kind: EventKind,
    matcher: Matcher,
    parse: ParseFn,
}

impl EventSource {
    /// The event as the docs and error messages name it, e.g. ``CloudTrail `CreateImage` ``.
    pub fn label(&self) -> &'static str {
        self.label
    }

    /// The kind of event it becomes.
    pub fn kind(&self) -> EventKind {
        self.kind
    }

    /// How it is recognised.
    pub fn matcher(&self) -> Matcher {
        self.matcher
    }

    /// Parses an EventBridge event this source recognised.
    pub fn parse(&self, value: &serde_json::Value) -> Result<AmiEvent, EventError> {
        (self.parse)(value, self)
    }
}

/// Builds [`SOURCES`] and [`SUPPORTED`] from one list, so that the dispatch and the list in
/// error messages cannot drift apart.
macro_rules! event_sources {
    ($first_label:literal => $first_kind:ident, $first_matcher:expr, $first_parse:path;
     $($label:literal => $kind:ident, $matcher:expr, $parse:path;)*) => {
        /// Every supported event, in documentation order: the dispatch table.
        pub const SOURCES: &[EventSource] = &[
            EventSource { label: $first_label, kind: EventKind::$first_kind, matcher: $first_matcher, parse: $first_parse },
            $(EventSource { label: $label, kind: EventKind::$kind, matcher: $matcher, parse: $parse },)*
        ];

        /// What amikeeper supports, for error messages: the labels of [`SOURCES`].
        pub const SUPPORTED: &str =
            concat!("EventBridge events (also inside SQS or SNS records): ", $first_label, $(", ", $label,)*);
    };
}

const fn api_call(source: &'static str, event_name: &'static str) -> Matcher {
    Matcher::ApiCall { source, event_name }
}

const fn detail_type(source: &'static str, detail_type: &'static str) -> Matcher {
    Matcher::DetailType { source, detail_type }
}

event_sources! {
    "CloudTrail `CreateImage`" => ImageCreated, api_call("aws.ec2", "CreateImage"), image_calls::parse;
    "CloudTrail `CopyImage`" => ImageCopied, api_call("aws.ec2", "CopyImage"), image_calls::parse;
    "CloudTrail `RegisterImage`" => ImageRegistered, api_call("aws.ec2", "RegisterImage"), image_calls::parse;
    "`EC2 AMI State Change`" => ImageStateChanged, detail_type("aws.ec2", "EC2 AMI State Change"), ami_state::parse;
    "AWS Backup `Backup Job State Change`" => BackupJob,
        detail_type("aws.backup", "Backup Job State Change"), backup::parse_job;
    "AWS Backup `Copy Job State Change`" => BackupCopyJob,
        detail_type("aws.backup", "Copy Job State Change"), backup::parse_copy_job;
    "CloudTrail `CreateAutoScalingGroup`" => AsgCreated,
        api_call("aws.autoscaling", "CreateAutoScalingGroup"), autoscaling::parse;
    "`EBS Snapshot Notification`" => SnapshotCreated, detail_type("aws.ec2", "EBS Snapshot Notification"), ebs::parse;
    "`EBS Multi-Volume Snapshots Completion Status`" => SnapshotCreated,
        detail_type("aws.ec2", "EBS Multi-Volume Snapshots Completion Status"), ebs::parse;
    "`Scheduled Event`" => Scheduled, detail_type("aws.events", "Scheduled Event"), scheduled::parse;
}

/// Parses an EventBridge event: the entry of [`SOURCES`] its `source` and `detail-type` (and,
/// for a CloudTrail record, its `eventName`) name parses it.
pub fn dispatch(v: &serde_json::Value) -> Result<AmiEvent, EventError> {
    let at = At::new("EventBridge event");
    let detail_type = at.req_str(v, "detail-type")?;
    let source = at.req_str(v, "source")?;
    let mut candidates = SOURCES
        .iter()
        .filter(|entry| entry.matcher().source() == source && entry.matcher().detail_type() == detail_type)
        .peekable();
    let entry: &EventSource = match candidates.peek() {
        None => {
            return Err(EventError::Unsupported {
                received: format!("source `{}`, detail-type `{}`", quote(source), quote(detail_type)),
            })
        }
        Some(entry) if entry.matcher().event_name().is_none() => entry,
        Some(_) => {
            let event_name = cloudtrail::event_name(v)?;
            candidates.find(|entry| entry.matcher().event_name() == Some(event_name)).ok_or_else(|| {
                EventError::Unsupported {
                    received: format!("CloudTrail `{}` (source `{}`)", quote(event_name), quote(source)),
                }
            })?
        }
    };
    entry.parse(v)
}

/// Every supported event (the dispatch table), e.g. to check documentation against.
pub fn supported() -> &'static [EventSource] {
    SOURCES
}

/// Fixture checks for the unit tests beside each source.
#[cfg(test)]
pub(crate) mod testing {
    use super::{parse_payload, AmiEvent, EventError};

    /// A fixture of `src/events/fixtures/`.
    pub(crate) fn fixture(name: &str) -> String {
        let path = format!("{}/src/events/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
    }

    /// Parses a fixture and checks that its events print, byte for byte, as
    /// `fixtures/parsed/NAME` (what `amikeeper parse` prints) and read back the same.
    pub(crate) fn parsed(name: &str) -> Vec<AmiEvent> {
        let events = parse_payload(fixture(name).as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let printed = serde_json::to_string_pretty(&events).unwrap() + "\n";
        assert_eq!(printed, fixture(&format!("parsed/{name}")), "{name}");
        let back: Vec<AmiEvent> = serde_json::from_str(&printed).unwrap();
        assert_eq!(back, events, "{name}: read back");
        events
    }

    /// An example of AWS's documentation (`fixtures/aws_docs/`) with its placeholders filled in
    /// (AWS Backup's account `1112233445566`, EC2's and EBS's time), parsed to its one event,
    /// which reads back the same from its JSON.
    pub(crate) fn aws_doc(name: &str) -> Result<AmiEvent, EventError> {
        let text = fixture(&format!("aws_docs/{name}"))
            .replace("1112233445566", "111122223333")
            .replace("yyyy-mm-ddThh:mm:ssZ", "2024-05-01T05:14:09Z");
        let mut events = parse_payload(text.as_bytes())?;
        assert_eq!(events.len(), 1, "{name}");
        let event = events.remove(0);
        let back: AmiEvent = serde_json::from_value(serde_json::to_value(&event).unwrap()).unwrap();
        assert_eq!(back, event, "{name}: read back");
        Ok(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_text_lists_exactly_the_table() {
        let labels: Vec<&str> = supported().iter().map(EventSource::label).collect();
        let listed = SUPPORTED.strip_prefix("EventBridge events (also inside SQS or SNS records): ").unwrap();
        assert_eq!(listed, labels.join(", "));
        let error = EventError::Unsupported { received: "x".into() }.to_string();
        assert!(error.ends_with(&format!("supported: {SUPPORTED}")), "{error}");
    }

    #[test]
    fn labels_name_what_the_matcher_matches() {
        for source in supported() {
            let name = source.matcher().event_name().unwrap_or(source.matcher().detail_type());
            assert!(source.label().ends_with(&format!("`{name}`")), "{}", source.label());
            if source.matcher().event_name().is_some() {
                assert!(source.label().starts_with("CloudTrail "), "{}", source.label());
            }
        }
    }

    #[test]
    fn every_kind_has_a_source_and_no_event_has_two() {
        for kind in EventKind::ALL {
            assert!(supported().iter().any(|s| s.kind() == kind), "{kind} has no source");
        }
        for (i, a) in supported().iter().enumerate() {
            for b in &supported()[i + 1..] {
                assert_ne!(a.matcher(), b.matcher(), "{} and {}", a.label(), b.label());
            }
        }
    }
}
