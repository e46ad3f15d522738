//! The [`StandardEventParser`]: bytes (or a decoded value) to events, through the envelopes
//! that may wrap them, within size and depth limits.

use super::json::{check_depth, describe_keys, json_size, json_type, json_type_noun, quote, value_depth_exceeds};
use super::sns::{self, SnsMessage};
use super::sqs::{self, SqsMessage};
use super::{AmiEvent, EventError};

/// Turns raw payloads into events.
pub trait EventParser: Send + Sync {
    /// Parses a payload: one EventBridge event, or an SQS or SNS batch of them.
    ///
    /// A batch gives one event per record, in order. Anything malformed or unsupported is an
    /// [`EventError`] that says what was received and what is supported.
    fn parse(&self, payload: &[u8]) -> Result<Vec<AmiEvent>, EventError>;

    /// Parses a payload record by record, so that one record that is no event (a poison
    /// message) does not fail the others of an SQS batch: [`Parsed::SqsBatch`] for an SQS
    /// batch, each record with its own result; [`Parsed::Events`] for anything else, parsed
    /// as by [`parse`](Self::parse) (one bad record of an SNS batch still fails it whole).
    ///
    /// The default parses the whole payload with [`parse`](Self::parse).
    fn parse_records(&self, payload: &[u8]) -> Result<Parsed, EventError> {
        self.parse(payload).map(Parsed::Events)
    }
}

/// A payload parsed record by record ([`EventParser::parse_records`]).
#[derive(Debug, Clone)]
pub enum Parsed {
    /// One event, or every event of a batch that is not an SQS batch, in order.
    Events(Vec<AmiEvent>),
    /// Each record of an SQS batch, in order.
    SqsBatch(Vec<SqsRecord>),
}

/// One record of an SQS batch: its `messageId` and its event, or why it is none.
#[derive(Debug, Clone)]
pub struct SqsRecord {
    /// The record's `messageId`, which Lambda's partial batch response names it by.
    pub message_id: String,
    /// The event, or why the record is none ([`EventError::InRecord`]).
    pub event: Result<AmiEvent, EventError>,
}

/// The default payload size limit: EventBridge's maximum event size, 256 KiB.
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;

/// How deep arrays and objects may nest in a payload (and in each SQS body or SNS message).
pub const MAX_DEPTH: usize = 64;

/// The [`EventParser`] for the payloads AWS delivers: EventBridge events, bare or in SQS and
/// SNS records (see [`SUPPORTED`](super::SUPPORTED)).
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
        records.iter().enumerate().map(|(index, record)| self.parse_numbered_record(index, record)).collect()
    }

    /// One record of a batch, an error saying which record it was.
    fn parse_numbered_record(&self, index: usize, record: &serde_json::Value) -> Result<AmiEvent, EventError> {
        self.parse_record(index, record).map_err(|source| EventError::InRecord {
            index,
            message_id: sqs::message_id(record).or_else(|| sns::message_id(record)).map(str::to_owned),
            source: Box::new(source),
        })
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
            Some(serde_json::Value::String(source)) if source == sqs::EVENT_SOURCE => {
                let message = SqsMessage::read(record)?;
                let value = self.decode(message.body.as_bytes(), Some("the SQS message body"))?;
                self.parse_event(&value, Layer::SqsBody)
            }
            Some(serde_json::Value::String(source)) if source == sns::EVENT_SOURCE => {
                let message = SnsMessage::read(record)?;
                let value = self.decode(message.message.as_bytes(), Some("the SNS Message"))?;
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
            return super::dispatch(value);
        }
        let looks_like_sns = sns::looks_like_notification(object);
        if looks_like_sns && layer != Layer::SnsMessage {
            let message = SnsMessage::read_notification(value)?;
            let inner = self.decode(message.message.as_bytes(), Some("the SNS Message"))?;
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

    fn parse_records(&self, payload: &[u8]) -> Result<Parsed, EventError> {
        let value = self.decode(payload, None)?;
        let Some(records) = sqs::batch(&value) else {
            return self.parse_document(&value).map(Parsed::Events);
        };
        let records = records
            .into_iter()
            .enumerate()
            .map(|(index, (message_id, record))| SqsRecord {
                message_id: message_id.to_owned(),
                event: self.parse_numbered_record(index, record),
            })
            .collect();
        Ok(Parsed::SqsBatch(records))
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
/// assert_eq!(events[0].kind(), EventKind::ImageStateChanged);
/// assert_eq!(events[0].image_id().unwrap().as_str(), "ami-0123456789abcdef0");
/// assert_eq!(events[0].state(), Some("available"));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::testing::fixture;

    fn records(payload: &serde_json::Value) -> Result<Parsed, EventError> {
        StandardEventParser::new().parse_records(payload.to_string().as_bytes())
    }

    #[test]
    fn an_sqs_batch_is_parsed_record_by_record() {
        let mut batch: serde_json::Value = serde_json::from_str(&fixture("sqs_batch.json")).unwrap();
        batch["Records"][1]["body"] = "{not json".into();
        let Ok(Parsed::SqsBatch(parsed)) = records(&batch) else { panic!("an SQS batch") };
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].message_id, batch["Records"][0]["messageId"].as_str().unwrap());
        assert!(parsed[0].event.is_ok(), "{:?}", parsed[0].event);
        let Err(EventError::InRecord { index: 1, message_id: Some(id), source }) = &parsed[1].event else {
            panic!("record 1 is no event: {:?}", parsed[1].event)
        };
        assert_eq!(
            (id.as_str(), parsed[1].message_id.as_str()),
            (batch["Records"][1]["messageId"].as_str().unwrap(), id.as_str())
        );
        assert!(matches!(**source, EventError::NotJson { .. }), "{source:?}");
        // `parse` still fails the batch whole.
        assert!(StandardEventParser::new().parse(batch.to_string().as_bytes()).is_err());
    }

    #[test]
    fn other_payloads_are_parsed_whole() {
        let event: serde_json::Value = serde_json::from_str(&fixture("scheduled_event.json")).unwrap();
        assert!(matches!(records(&event), Ok(Parsed::Events(events)) if events.len() == 1));
        let mut sns: serde_json::Value = serde_json::from_str(&fixture("sns_record.json")).unwrap();
        sns["Records"][0]["Sns"]["Message"] = "{not json".into();
        assert!(matches!(records(&sns), Err(EventError::InRecord { index: 0, .. })));
        assert!(matches!(records(&serde_json::json!([])), Err(EventError::Unsupported { .. })));
    }
}
