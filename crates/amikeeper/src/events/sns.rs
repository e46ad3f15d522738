//! The SNS envelope: a record of a Lambda SNS batch (`EventSource` `aws:sns`), and the SNS
//! notification (`Type` `Notification`) that is an SQS body or an HTTPS payload. Its `Message`
//! is the EventBridge event.

use super::json::{quote, At};
use super::EventError;

/// The `EventSource` of an SNS record.
pub const EVENT_SOURCE: &str = "aws:sns";

/// One SNS record as Lambda delivers it: the message id and the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnsMessage<'a> {
    /// `Sns.MessageId`.
    pub message_id: Option<&'a str>,
    /// `Sns.Message`, the event as text.
    pub message: &'a str,
}

impl<'a> SnsMessage<'a> {
    /// Reads a record: `Sns` must be an object and `Sns.Message` a string that is not empty.
    pub fn read(record: &'a serde_json::Value) -> Result<Self, EventError> {
        let at = At::new("SNS record");
        at.req_obj(record, "Sns")?;
        let message = at.req_str(record, "Sns.Message")?;
        Ok(Self { message_id: message_id(record), message })
    }

    /// Reads a notification (a record's `Sns`, an SQS body, an HTTPS payload): `Type` must be
    /// `Notification` and `Message` a string that is not empty.
    pub fn read_notification(notification: &'a serde_json::Value) -> Result<Self, EventError> {
        let at = At::new("SNS notification");
        let kind = at.req_str(notification, "Type")?;
        if kind != "Notification" {
            return Err(EventError::Unsupported { received: format!("an SNS message of Type `{}`", quote(kind)) });
        }
        let message = at.req_str(notification, "Message")?;
        let message_id = notification.get("MessageId").and_then(serde_json::Value::as_str);
        Ok(Self { message_id, message })
    }
}

/// Whether a JSON object has the shape of an SNS notification.
pub(super) fn looks_like_notification(object: &serde_json::Map<String, serde_json::Value>) -> bool {
    object.contains_key("Type") && (object.contains_key("Message") || object.contains_key("TopicArn"))
}

/// The `Sns.MessageId` of an SNS record, when it is a string.
pub(super) fn message_id(record: &serde_json::Value) -> Option<&str> {
    record.get("Sns").and_then(|sns| sns.get("MessageId")).and_then(serde_json::Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture() {
        assert_eq!(super::super::testing::parsed("sns_record.json").len(), 1);
    }

    #[test]
    fn keeps_the_message_id_with_the_message() {
        let records: serde_json::Value =
            serde_json::from_str(include_str!("fixtures/aws_docs/sns_event.json")).unwrap();
        let record = &records["Records"][0];
        let message = SnsMessage::read(record).unwrap();
        assert_eq!(message.message_id, Some("82833b5c-8d5d-56d0-b0e1-7511f8253eb8"));
        assert_eq!(message.message, "Hello\r\nworld!");
        assert_eq!(SnsMessage::read_notification(&record["Sns"]).unwrap(), message);
        let confirmation = serde_json::json!({"Type": "SubscriptionConfirmation"});
        let error = SnsMessage::read_notification(&confirmation);
        assert!(matches!(error, Err(EventError::Unsupported { .. })));
    }
}
