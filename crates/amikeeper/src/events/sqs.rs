//! The SQS envelope: a record of a Lambda SQS batch (`eventSource` `aws:sqs`), whose `body` is
//! the event (an EventBridge event, or the SNS notification of SNS-to-SQS delivery).

use super::json::At;
use super::EventError;

/// The `eventSource` of an SQS record.
pub const EVENT_SOURCE: &str = "aws:sqs";

/// One SQS record as Lambda delivers it: the message id and the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqsMessage<'a> {
    /// `messageId`, which Lambda's partial batch response names a failed record by.
    pub message_id: Option<&'a str>,
    /// `body`, the event as text.
    pub body: &'a str,
}

impl<'a> SqsMessage<'a> {
    /// Reads a record: `body` must be a string that is not empty.
    pub fn read(record: &'a serde_json::Value) -> Result<Self, EventError> {
        let body = At::new("SQS record").req_str(record, "body")?;
        Ok(Self { message_id: message_id(record), body })
    }
}

/// The `messageId` of an SQS record, when it is a string (it names the record; it decides
/// nothing, so a missing or odd one is no error).
pub(super) fn message_id(record: &serde_json::Value) -> Option<&str> {
    record.get("messageId").and_then(serde_json::Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixtures() {
        assert_eq!(super::super::testing::parsed("sqs_batch.json").len(), 2);
        assert_eq!(super::super::testing::parsed("sqs_sns_record.json").len(), 1);
    }

    #[test]
    fn keeps_the_message_id_with_the_body() {
        let record: serde_json::Value = serde_json::from_str(include_str!("fixtures/aws_docs/sqs_event.json")).unwrap();
        let message = SqsMessage::read(&record["Records"][0]).unwrap();
        assert_eq!(message.message_id, Some("MessageID_1"));
        assert_eq!(message.body, "Message Body");
        let error = SqsMessage::read(&serde_json::json!({"messageId": "m"})).unwrap_err();
        assert_eq!(error.to_string(), "SQS record: field `body` is missing");
    }
}
