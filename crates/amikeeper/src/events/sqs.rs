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

/// The records of an SQS batch as Lambda delivers it, each with its `messageId`: `Records` is
/// an array that is not empty, and every record is an object with `eventSource` `aws:sqs` and
/// a `messageId` that is a string and not empty (what Lambda's partial batch response names a
/// record by). `None` for anything else, which is parsed as a whole.
pub(super) fn batch(value: &serde_json::Value) -> Option<Vec<(&str, &serde_json::Value)>> {
    let records = value.as_object()?.get("Records")?.as_array()?;
    if records.is_empty() {
        return None;
    }
    records
        .iter()
        .map(|record| {
            let from_sqs = record.get("eventSource").and_then(serde_json::Value::as_str) == Some(EVENT_SOURCE);
            let id = message_id(record).filter(|id| !id.is_empty())?;
            from_sqs.then_some((id, record))
        })
        .collect()
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

    #[test]
    fn a_batch_is_sqs_records_each_with_a_message_id() {
        let record = |id: serde_json::Value, source: &str| serde_json::json!({"messageId": id, "eventSource": source, "body": "{}"});
        let two = serde_json::json!({"Records": [record("a".into(), EVENT_SOURCE), record("b".into(), EVENT_SOURCE)]});
        let ids: Vec<&str> = batch(&two).unwrap().into_iter().map(|(id, _)| id).collect();
        assert_eq!(ids, ["a", "b"]);
        for not_sqs in [
            serde_json::json!({"Records": []}),
            serde_json::json!({"Records": [record("a".into(), "aws:sns")]}),
            serde_json::json!({"Records": [record("a".into(), EVENT_SOURCE), record(serde_json::Value::Null, EVENT_SOURCE)]}),
            serde_json::json!({"Records": [record("".into(), EVENT_SOURCE)]}),
            serde_json::json!({"Records": "a"}),
            serde_json::json!({"detail-type": "Scheduled Event"}),
        ] {
            assert!(batch(&not_sqs).is_none(), "{not_sqs}");
        }
    }
}
