//! EventBridge `Scheduled Event` (source `aws.events`): the rule that fired.

use super::arn::{last_segment, Arn};
use super::eventbridge::Envelope;
use super::ids::is_rule_name;
use super::json::{json_type, quote, At};
use super::{AmiEvent, EventError, EventSource};

const SCHEDULED: &str = "Scheduled Event";

detail! {
    /// A `Scheduled Event` (`scheduled`).
    Scheduled {
        /// The EventBridge rule that fired, when the event names it.
        optional rule_name: String,
    }
}

/// Parses a `Scheduled Event`.
pub(super) fn parse(v: &serde_json::Value, _source: &EventSource) -> Result<AmiEvent, EventError> {
    let at = At::new(SCHEDULED);
    let envelope = Envelope::read(&at, v)?;
    let event_id = envelope.require_id(&at)?;
    let Some(resources) = at.lookup(v, "resources")? else {
        return Ok(envelope.event(event_id, Scheduled { rule_name: None }));
    };
    let mut rule_name = None;
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
        rule_name = Some(name.to_string());
    }
    Ok(envelope.event(event_id, Scheduled { rule_name }))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{aws_doc, parsed};
    use super::super::EventDetail;
    use super::*;

    #[test]
    fn fixtures_and_aws_docs_example() {
        let event = &parsed("scheduled_event.json")[0];
        assert_eq!(event.rule_name(), Some("amikeeper-weekly-bake"));
        let event = aws_doc("scheduled_event.json").unwrap();
        assert_eq!(event.detail, EventDetail::Scheduled(Scheduled { rule_name: Some("my-scheduled-rule".into()) }));
    }
}
