//! [`EventError`]: why a payload is not an event, saying what was received.

use super::SUPPORTED;

/// A payload amikeeper cannot turn into an event. Each variant says what was received.
///
/// Messages quote only short identifying strings from the payload (names, ids, codes), cut to
/// 80 characters, never the payload itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
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
        /// The record's message id (SQS `messageId`, SNS `Sns.MessageId`), which Lambda's
        /// partial batch response names a failed record by.
        message_id: Option<String>,
        /// Why the record failed.
        source: Box<EventError>,
    },
}
