//! The CloudTrail envelope: an EventBridge event of `detail-type` `AWS API Call via CloudTrail`
//! whose `detail` is the CloudTrail record of one API call. Its `eventName` chooses the entry of
//! [`SOURCES`](super::SOURCES); a failed call (`errorCode`) made nothing and is refused here.

use super::eventbridge::Envelope;
use super::json::{quote, At};
use super::{EventError, EventSource};

/// The EventBridge `detail-type` of a CloudTrail record.
pub const DETAIL_TYPE: &str = "AWS API Call via CloudTrail";

/// `detail.eventName`, which names the call.
pub(super) fn event_name(v: &serde_json::Value) -> Result<&str, EventError> {
    let at = At::new("CloudTrail event");
    at.req_obj(v, "detail")?;
    at.req_str(v, "detail.eventName")
}

/// The name errors give the event: `CloudTrail CreateImage`.
pub(super) fn label(source: &EventSource) -> String {
    format!("CloudTrail {}", source.matcher().event_name().unwrap_or_default())
}

/// Reads what every CloudTrail record carries: refuses a failed call, reads the envelope and
/// the event id (the EventBridge `id`, else CloudTrail's `eventID`), and checks that the
/// record's `awsRegion` and `recipientAccountId` agree with the envelope.
pub(super) fn read(at: &At<'_>, v: &serde_json::Value, source: &EventSource) -> Result<(Envelope, String), EventError> {
    if let Some(code) = at.opt_str(v, "detail.errorCode")? {
        let event_name = source.matcher().event_name().unwrap_or_default();
        return Err(EventError::FailedApiCall { event_name: event_name.into(), error_code: quote(code) });
    }
    let envelope = Envelope::read(at, v)?;
    let event_id = match &envelope.id {
        Some(id) => id.clone(),
        None => match at.opt_str(v, "detail.eventID")? {
            Some(id) => at.event_id("detail.eventID", id)?,
            None => return Err(at.bad("id", "is missing (and so is `detail.eventID`)")),
        },
    };
    if let Some(region) = at.opt_str(v, "detail.awsRegion")? {
        envelope.same_region(at, "detail.awsRegion", at.region("detail.awsRegion", region)?.as_str())?;
    }
    if let Some(account) = at.opt_str(v, "detail.recipientAccountId")? {
        envelope.same_account(
            at,
            "detail.recipientAccountId",
            at.account("detail.recipientAccountId", account)?.as_str(),
        )?;
    }
    Ok((envelope, event_id))
}
