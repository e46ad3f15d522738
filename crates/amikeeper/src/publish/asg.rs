//! [`AutoScalingGroupPublisher`]: the launch template version an Auto Scaling group uses.

use async_trait::async_trait;

use super::{guard_monotonic, guard_stack_managed, Outcome, PublishContext, Publisher, Status, TargetId};
use crate::error::{Error, Result};
use crate::model::LaunchTemplateSpec;

/// Points an Auto Scaling group at a launch template version.
///
/// With a literal `version` (`$Latest`, `$Default` or a number) the group is set to it; this
/// is seed 002's fix for CloudFormation, which cannot say `$Latest`. Without one, the group is
/// pointed at the newest version of its launch template that launches the AMI (seed 003):
/// a group on `$Latest` or `$Default` that already resolves to that AMI is left alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoScalingGroupPublisher {
    /// The group name.
    pub name: String,
    /// A literal version, or `None` to follow the AMI.
    pub version: Option<String>,
    /// The launch template to use when the group has none yet (e.g. from the event).
    pub launch_template_id: Option<String>,
    /// Change the group even when a CloudFormation stack manages it.
    pub allow_stack_managed: bool,
}

#[async_trait]
impl Publisher for AutoScalingGroupPublisher {
    fn target(&self) -> TargetId {
        TargetId { kind: "auto_scaling_group", name: self.name.clone() }
    }

    async fn publish(&self, ctx: &PublishContext<'_>) -> Result<Outcome> {
        let group = ctx.aws.describe_auto_scaling_group(ctx.region, &self.name).await?.ok_or_else(|| {
            Error::NotFound { kind: "Auto Scaling group", name: self.name.clone(), region: ctx.region.to_string() }
        })?;
        if let Some(refusal) =
            guard_stack_managed("Auto Scaling group", &group.name, &group.tags, self.allow_stack_managed)
        {
            return Ok(refusal);
        }
        let current = group.launch_template.clone();
        let Some(template_id) = current.as_ref().map(|c| c.id.clone()).or_else(|| self.launch_template_id.clone())
        else {
            return Ok(Outcome::new(
                Status::Skipped,
                "the group launches from no launch template (a launch configuration?); migrate it to a \
                 launch template first",
            ));
        };
        let from = current.as_ref().map(|c| format!("{} {}", c.id, c.version));

        let desired = match &self.version {
            Some(version) => version.clone(),
            None => {
                let image = ctx.require_image()?;
                let versions = ctx.aws.describe_launch_template_versions(ctx.region, &template_id).await?;
                let Some(target) =
                    versions.iter().filter(|v| v.image_id.as_ref() == Some(&image.id)).map(|v| v.number).max()
                else {
                    return Ok(Outcome::new(
                        Status::Deferred,
                        format!(
                            "no version of {template_id} launches {} yet; put a launch_template target \
                             before this one in the rule",
                            image.id
                        ),
                    ));
                };
                if let Some(current) = &current {
                    let resolved = match current.version.as_str() {
                        "$Latest" => versions.iter().map(|v| v.number).max(),
                        "$Default" => versions.iter().find(|v| v.is_default).map(|v| v.number),
                        number => number.parse().ok(),
                    };
                    let current_image = resolved
                        .and_then(|n| versions.iter().find(|v| v.number == n))
                        .and_then(|v| v.image_id.as_ref());
                    if current_image == Some(&image.id) {
                        return Ok(Outcome::new(
                            Status::Unchanged,
                            format!("{} {} already launches {}", current.id, current.version, image.id),
                        )
                        .moved(from.clone(), from.clone().unwrap_or_default()));
                    }
                    if let Some(stop) = guard_monotonic(ctx, current_image.map(|i| i.as_str()), image).await? {
                        return Ok(stop);
                    }
                }
                target.to_string()
            }
        };

        let spec = LaunchTemplateSpec { id: template_id, version: desired };
        if current.as_ref() == Some(&spec) {
            return Ok(Outcome::new(Status::Unchanged, format!("already uses {} {}", spec.id, spec.version))
                .moved(from.clone(), from.unwrap_or_default()));
        }
        let to = format!("{} {}", spec.id, spec.version);
        if ctx.dry_run {
            return Ok(Outcome::new(Status::Planned, format!("would launch from {to}")).moved(from, to));
        }
        ctx.aws.set_launch_template(ctx.region, &group, &spec).await?;
        Ok(Outcome::new(Status::Updated, format!("now launches from {to}")).moved(from, to))
    }
}
