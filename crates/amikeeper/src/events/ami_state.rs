//! `EC2 AMI State Change` (source `aws.ec2`): an AMI and its new state.

use super::eventbridge::{image_in_resources, Envelope};
use super::json::At;
use super::{AmiEvent, EventError, EventSource};
use crate::model::ImageId;

const AMI_STATE: &str = "EC2 AMI State Change";

detail! {
    /// An `EC2 AMI State Change` (`image_state_changed`).
    ImageStateChanged {
        /// The AMI.
        required image_id: ImageId,
        /// Its new state, e.g. `available`.
        required state: String,
    }
}

/// Parses an `EC2 AMI State Change`.
pub(super) fn parse(v: &serde_json::Value, _source: &EventSource) -> Result<AmiEvent, EventError> {
    let at = At::new(AMI_STATE);
    let envelope = Envelope::read(&at, v)?;
    let event_id = envelope.require_id(&at)?;
    at.req_obj(v, "detail")?;
    let image_id = at.image_id("detail.ImageId", at.req_str(v, "detail.ImageId")?)?;
    let state = at.bounded("detail.State", at.req_str(v, "detail.State")?, 64)?;
    image_in_resources(&at, v, Some(&envelope))?;
    Ok(envelope.event(event_id, ImageStateChanged { image_id, state }))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{aws_doc, parsed};
    use super::super::EventDetail;

    #[test]
    fn fixtures_and_aws_docs_examples() {
        let event = &parsed("ami_state_change_available.json")[0];
        assert_eq!(event.state(), Some("available"));
        for state in ["available", "failed", "deregistered", "disabled"] {
            let event = aws_doc(&format!("ami_state_change_{state}.json")).unwrap();
            let EventDetail::ImageStateChanged(change) = &event.detail else { panic!("{event:?}") };
            assert_eq!((change.image_id.as_str(), change.state.as_str()), ("ami-0abcdef1234567890", state));
        }
    }
}
