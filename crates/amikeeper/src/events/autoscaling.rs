//! CloudTrail `CreateAutoScalingGroup` (source `aws.autoscaling`): the new group and the launch
//! template it launches from, directly or through a mixed instances policy.

use super::ids::IdKind;
use super::json::At;
use super::{cloudtrail, AmiEvent, EventError, EventSource};

detail! {
    /// CloudTrail `CreateAutoScalingGroup` (`asg_created`): the group and its launch template.
    AsgCreated {
        /// The group's name.
        required asg_name: String,
        /// The launch template's id, when the request names it by id.
        optional launch_template_id: String,
        /// The launch template's name, when the request names it by name.
        optional launch_template_name: String,
        /// The launch template version the group launches, e.g. `$Latest`.
        optional launch_template_version: String,
    }
}

/// Parses the CloudTrail record of a `CreateAutoScalingGroup` call.
pub(super) fn parse(v: &serde_json::Value, source: &EventSource) -> Result<AmiEvent, EventError> {
    let label = cloudtrail::label(source);
    let at = At::new(&label);
    let (envelope, event_id) = cloudtrail::read(&at, v, source)?;
    at.req_obj(v, "detail.requestParameters")?;
    let name = at.req_str(v, "detail.requestParameters.autoScalingGroupName")?;
    let mut detail = AsgCreated {
        asg_name: at.bounded("detail.requestParameters.autoScalingGroupName", name, 255)?,
        launch_template_id: None,
        launch_template_name: None,
        launch_template_version: None,
    };
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
        detail.launch_template_id =
            at.opt_str(v, &id_path)?.map(|id| at.id(&id_path, id, IdKind::LaunchTemplate)).transpose()?;
        detail.launch_template_name =
            at.opt_str(v, &name_path)?.map(|name| at.bounded(&name_path, name, 128)).transpose()?;
        detail.launch_template_version =
            at.opt_str(v, &version_path)?.map(|version| at.bounded(&version_path, version, 32)).transpose()?;
        if detail.launch_template_id.is_none() && detail.launch_template_name.is_none() {
            return Err(at.bad(&id_path, "is missing (and so is `launchTemplateName`)"));
        }
    }
    Ok(envelope.event(event_id, detail))
}

#[cfg(test)]
mod tests {
    use super::super::testing::parsed;
    use super::super::EventDetail;

    #[test]
    fn fixture() {
        let event = &parsed("cloudtrail_create_asg.json")[0];
        let EventDetail::AsgCreated(group) = &event.detail else { panic!("{event:?}") };
        assert_eq!(group.asg_name, "web-asg-20240502");
        assert_eq!(group.launch_template_id.as_deref(), Some("lt-0123456789abcdef0"));
    }
}
