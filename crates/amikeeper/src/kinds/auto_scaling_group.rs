//! `kind = "auto_scaling_group"`: the launch template version an Auto Scaling group launches
//! (published by [`AutoScalingGroupPublisher`]).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::found::{FindContext, FoundBy, FoundPointer};
use super::iam::{Job, TargetArns};
use super::launch_template::{newest_launching, previous_version, version_of};
use super::{
    InUse, Invalid, Listing, NameFailure, NameKind, Names, Planned, PointerKind, RollbackContext, RollbackMove,
    TargetTemplate,
};
use crate::backend::Aws;
use crate::error::Result;
use crate::model::InstanceRefreshPreferences;
use crate::model::{AutoScalingGroup, ImageId, LaunchTemplateRef, LaunchTemplateSpec, Region};
use crate::publish::{AutoScalingGroupPublisher, PointerNow, Publisher};
use crate::template::NameTemplate;

/// An Auto Scaling group's launch template version.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoScalingGroupTarget {
    /// The group name, e.g. `{asg_name}` on `asg_created` (seed 002).
    pub name: NameTemplate,
    /// `$Latest`, `$Default` or a number. Unset: the newest version of the group's launch
    /// template that launches the AMI (put a `launch_template` target before this one).
    #[serde(default)]
    pub version: Option<String>,
    /// Change the group even when a CloudFormation stack manages it.
    #[serde(default)]
    pub allow_stack_managed: bool,
    /// Turn on deregistration protection for the AMI this target is moved to; default:
    /// the configuration's `protect_published`.
    #[serde(default)]
    pub protect: Option<bool>,
    /// Start an instance refresh once a run has moved the group to a new AMI, so running
    /// instances are replaced: `instance_refresh = true`, or a table of preferences such as
    /// `instance_refresh = { min_healthy_percentage = 90, instance_warmup_seconds = 300 }`.
    /// Unset or `false`: running instances are left as they are.
    #[serde(default, deserialize_with = "instance_refresh_setting", skip_serializing_if = "Option::is_none")]
    pub instance_refresh: Option<InstanceRefreshPreferences>,
}

/// `instance_refresh = true | false | { ... }`: a switch, or the preferences (which switch it on).
fn instance_refresh_setting<'de, D>(deserializer: D) -> Result<Option<InstanceRefreshPreferences>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    struct Setting;

    impl<'de> serde::de::Visitor<'de> for Setting {
        type Value = Option<InstanceRefreshPreferences>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("true, false, or a table such as { min_healthy_percentage = 90 }")
        }

        fn visit_bool<E: serde::de::Error>(self, on: bool) -> Result<Self::Value, E> {
            Ok(on.then(InstanceRefreshPreferences::default))
        }

        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            InstanceRefreshPreferences::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Some)
        }
    }

    deserializer.deserialize_any(Setting)
}

#[async_trait]
impl PointerKind for AutoScalingGroupTarget {
    const KIND: &'static str = "auto_scaling_group";
    const POINTER_FORM: &'static str = "NAME";
    /// The group name.
    type Pointer = String;

    fn protect(&self) -> Option<bool> {
        self.protect
    }

    /// All but a literal-version group target need an AMI from the event.
    fn needs_image(&self) -> bool {
        self.version.is_none()
    }

    fn instance_refresh(&self) -> Option<&InstanceRefreshPreferences> {
        self.instance_refresh.as_ref()
    }

    fn templates(&self) -> Vec<TargetTemplate<'_>> {
        vec![TargetTemplate { field: "name", template: &self.name, name_kind: NameKind::AutoScalingGroup }]
    }

    fn validate(&self) -> std::result::Result<(), Invalid> {
        let Some(version) = &self.version else { return Ok(()) };
        let ok = version == "$Latest" || version == "$Default" || version.parse::<u64>().is_ok_and(|n| n > 0);
        match ok {
            true => Ok(()),
            false => {
                Err(Invalid::field("version", format!("`{version}` is not `$Latest`, `$Default` or a version number")))
            }
        }
    }

    fn publisher(&self, names: &Names<'_>) -> std::result::Result<Box<dyn Publisher>, NameFailure> {
        Ok(Box::new(AutoScalingGroupPublisher {
            name: names.render(&self.name, NameKind::AutoScalingGroup)?,
            version: self.version.clone(),
            launch_template_id: names.event().launch_template_id().map(str::to_owned),
            allow_stack_managed: self.allow_stack_managed,
        }))
    }

    fn in_use(&self, _rule: &str, _region: &Region) -> Vec<InUse> {
        vec![InUse::Listing(Listing::AutoScalingGroups)]
    }

    fn handle_actions(&self) -> Vec<&'static str> {
        // Pointing a group at a launch template needs ec2:RunInstances on it.
        let mut actions = vec![
            "autoscaling:DescribeAutoScalingGroups",
            "autoscaling:UpdateAutoScalingGroup",
            "ec2:DescribeLaunchTemplates",
            "ec2:DescribeLaunchTemplateVersions",
            "ec2:RunInstances",
        ];
        if self.instance_refresh.is_some() {
            actions.push("autoscaling:StartInstanceRefresh");
        }
        actions
    }

    fn rollback_actions() -> &'static [&'static str] {
        &[
            "autoscaling:DescribeAutoScalingGroups",
            "autoscaling:UpdateAutoScalingGroup",
            "ec2:RunInstances",
            "ec2:DescribeLaunchTemplates",
            "ec2:DescribeLaunchTemplateVersions",
        ]
    }

    fn iam_resources(&self, _job: Job, action: &str, arns: &TargetArns<'_>) -> Option<Vec<String>> {
        match action {
            "ec2:RunInstances" => Some(arns.arns.run_instances()),
            "autoscaling:UpdateAutoScalingGroup" => Some(arns.groups(&self.name)),
            "autoscaling:StartInstanceRefresh" if self.instance_refresh.is_some() => Some(arns.groups(&self.name)),
            _ => None,
        }
    }

    fn iam_caveat(&self) -> Option<&'static str> {
        Some(
            "a launch template with an instance profile also needs iam:PassRole on that role; ec2:RunInstances (which \
             Auto Scaling checks when a group is pointed at a launch template) is granted on the accounts' own \
             resources: a subnet or security group shared from another account needs its ARN added",
        )
    }

    fn parse_pointer(name: &str) -> Option<String> {
        Some(name.to_owned())
    }

    fn pointer_name(pointer: &String) -> String {
        pointer.clone()
    }

    /// The AMI the version of the launch template the group launches names.
    async fn read_pointer(aws: &dyn Aws, region: &Region, name: &String) -> Result<PointerNow> {
        let spec = aws.describe_auto_scaling_group(region, name).await?.and_then(|group| group.launch_template);
        let Some(spec) = spec else { return Ok(PointerNow::NoImage) };
        let template = aws.describe_launch_template(region, &LaunchTemplateRef::Id(spec.id.clone())).await?;
        let Some(template) = template else { return Ok(PointerNow::NoImage) };
        let number = launched_version(&spec.version, template.default_version, template.latest_version);
        let versions = aws.describe_launch_template_versions(region, &template.id).await?;
        let image = versions.iter().find(|v| v.number == number).and_then(|v| v.image_id.clone());
        Ok(image.map_or(PointerNow::NoImage, PointerNow::Image))
    }

    /// The version of the launch template the group launches: the AMI it names, moved when
    /// that version was created (or when the group was pointed at it, which Auto Scaling does
    /// not report: status says the version's time).
    async fn find_pointers(&self, ctx: &FindContext<'_>) -> Result<Vec<FoundPointer>> {
        let (aws, region) = (ctx.aws, ctx.region);
        let groups = match ctx.literal(&self.name) {
            Some(name) => match aws.describe_auto_scaling_group(region, &name).await? {
                Some(group) => vec![(group, FoundBy::Configured)],
                None => return Ok(vec![FoundPointer::missing(name)]),
            },
            None => {
                let made_by = ctx.made_by(&self.name);
                let groups = aws.describe_auto_scaling_groups(region).await?;
                groups.into_iter().filter(|g| made_by(&g.name)).map(|g| (g, FoundBy::Listed)).collect()
            }
        };
        let mut found = Vec::new();
        for (group, by) in groups {
            let (mut image, mut created) = (None, None);
            if let Some(spec) = &group.launch_template {
                let reference = LaunchTemplateRef::Id(spec.id.clone());
                if let Some(template) = aws.describe_launch_template(region, &reference).await? {
                    let number = launched_version(&spec.version, template.default_version, template.latest_version);
                    (image, created) = version_of(aws, region, &template, number).await?;
                }
            }
            found.push(FoundPointer::new(group.name.clone(), by, image).moved(created).owned_per(&group.tags));
        }
        Ok(found)
    }

    /// The newest version of the group's template below the one it launches (`$Latest` and
    /// `$Default` resolved) whose AMI differs, or the newest that launches `to`; the group is
    /// pinned to it.
    async fn plan_rollback(name: &String, ctx: &RollbackContext<'_, Self>) -> Result<Planned> {
        let (aws, region, to) = (ctx.aws, ctx.region, ctx.to);
        let Some(group) = aws.describe_auto_scaling_group(region, name).await? else {
            return Ok(Err(format!("Auto Scaling group {name} does not exist")));
        };
        let Some(spec) = group.launch_template.clone() else {
            return Ok(Err(format!("Auto Scaling group {name} launches from no launch template")));
        };
        let Some(template) = aws.describe_launch_template(region, &LaunchTemplateRef::Id(spec.id.clone())).await?
        else {
            return Ok(Err(format!("launch template {} of group {name} does not exist", spec.id)));
        };
        let versions = aws.describe_launch_template_versions(region, &template.id).await?;
        let number = launched_version(&spec.version, template.default_version, template.latest_version);
        let current = versions.iter().find(|v| v.number == number).and_then(|v| v.image_id.clone());
        let found = match to {
            Some(image) => newest_launching(&versions, image),
            None => previous_version(&versions, number, current.as_ref()),
        };
        let Some((version, image)) = found else {
            return Ok(Err(format!(
                "no version of {} launches {}; roll the launch template back first, or pass --to an AMI one of its versions launches",
                template.id,
                to.map_or("an earlier AMI".to_owned(), ToString::to_string)
            )));
        };
        let to_spec = LaunchTemplateSpec { id: template.id.clone(), version: version.to_string() };
        let from = format!(
            "{} version {} ({})",
            spec.id,
            spec.version,
            current.as_ref().map_or("no AMI".into(), ToString::to_string)
        );
        Ok(Ok(Box::new(GroupMove { group: Box::new(group), from, from_image: current, to: to_spec, to_image: image })))
    }
}

/// The version number a group's `$Latest`, `$Default` or number names.
fn launched_version(version: &str, default: i64, latest: i64) -> i64 {
    match version {
        "$Latest" => latest,
        "$Default" => default,
        n => n.parse().unwrap_or(latest),
    }
}

/// Pin the group to an earlier version of its launch template.
struct GroupMove {
    group: Box<AutoScalingGroup>,
    from: String,
    from_image: Option<ImageId>,
    to: LaunchTemplateSpec,
    to_image: ImageId,
}

#[async_trait]
impl RollbackMove for GroupMove {
    fn image(&self) -> &ImageId {
        &self.to_image
    }

    fn image_before(&self) -> Option<ImageId> {
        self.from_image.clone()
    }

    fn describe(&self) -> (String, String, String) {
        let (to, to_image) = (&self.to, &self.to_image);
        (
            format!("pin the group to version {} (launching {to_image})", to.version),
            self.from.clone(),
            format!("{} version {} ({to_image})", to.id, to.version),
        )
    }

    async fn write(&self, aws: &dyn Aws, region: &Region) -> Result<Option<String>> {
        aws.set_launch_template(region, &self.group, &self.to).await?;
        Ok(None)
    }
}
