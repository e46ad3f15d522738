//! [`AutoScalingApi`] over `aws-sdk-autoscaling`.

use std::collections::HashMap;

use amikeeper::backend::{AutoScalingApi, AwsResult, Ec2Api, InstanceRefreshPreferences};
use amikeeper::model::{
    AutoScalingGroup, ImageId, LaunchConfiguration, LaunchTemplateRef, LaunchTemplateSpec, Region, Tags,
};
use async_trait::async_trait;
use aws_sdk_autoscaling::types::{
    self as asg, LaunchTemplateSpecification, MixedInstancesPolicy, RefreshPreferences, RefreshStrategy,
};

use crate::error::{read_all, sdk_error};
use crate::SdkAws;

const SERVICE: &str = "autoscaling";

/// The version a group launches when its specification names none: EC2's default version.
const DEFAULT_VERSION: &str = "$Default";

/// A group's launch template as the SDK reports it: the id, or only the name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RawSpec {
    /// The id is known.
    Id(LaunchTemplateSpec),
    /// Only the name (and version) is known; the id must be looked up in EC2.
    Name { name: String, version: String },
}

fn raw_spec(spec: &LaunchTemplateSpecification) -> Option<RawSpec> {
    let version = spec.version().unwrap_or(DEFAULT_VERSION).to_owned();
    match (spec.launch_template_id(), spec.launch_template_name()) {
        (Some(id), _) => Some(RawSpec::Id(LaunchTemplateSpec { id: id.to_owned(), version })),
        (None, Some(name)) => Some(RawSpec::Name { name: name.to_owned(), version }),
        (None, None) => None,
    }
}

/// A group as the SDK reports it, before template names are resolved to ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawGroup {
    pub(crate) name: String,
    pub(crate) launch_template: Option<RawSpec>,
    pub(crate) overrides: Vec<RawSpec>,
    pub(crate) tags: Tags,
    pub(crate) mixed_instances: bool,
}

pub(crate) fn raw_group(group: &asg::AutoScalingGroup) -> RawGroup {
    let policy_template = group.mixed_instances_policy().and_then(|policy| policy.launch_template());
    let launch_template = group
        .launch_template()
        .or_else(|| policy_template.and_then(|template| template.launch_template_specification()))
        .and_then(raw_spec);
    let overrides = policy_template
        .map(|template| template.overrides())
        .unwrap_or_default()
        .iter()
        .filter_map(|item| item.launch_template_specification())
        .filter_map(raw_spec)
        .collect();
    RawGroup {
        name: group.auto_scaling_group_name().unwrap_or_default().to_owned(),
        launch_template,
        overrides,
        tags: group
            .tags()
            .iter()
            .filter_map(|tag| Some((tag.key()?.to_owned(), tag.value().unwrap_or_default().to_owned())))
            .collect(),
        mixed_instances: group.mixed_instances_policy().is_some(),
    }
}

impl SdkAws {
    /// Groups with every launch template named by id: a template the SDK names only by name
    /// is looked up in EC2 (once per name).
    async fn resolve_groups(&self, region: &Region, groups: Vec<RawGroup>) -> AwsResult<Vec<AutoScalingGroup>> {
        let mut ids = HashMap::new();
        let mut resolved = Vec::with_capacity(groups.len());
        for group in groups {
            let launch_template = match group.launch_template {
                Some(spec) => self.resolve_spec(region, &group.name, spec, &mut ids).await?,
                None => None,
            };
            let mut override_launch_templates = Vec::new();
            for spec in group.overrides {
                override_launch_templates.extend(self.resolve_spec(region, &group.name, spec, &mut ids).await?);
            }
            resolved.push(AutoScalingGroup {
                name: group.name,
                launch_template,
                override_launch_templates,
                mixed_instances_policy: group.mixed_instances,
                tags: group.tags,
            });
        }
        Ok(resolved)
    }

    /// One launch template by id; `None` when it is named by a name EC2 does not know.
    async fn resolve_spec(
        &self,
        region: &Region,
        group: &str,
        spec: RawSpec,
        ids: &mut HashMap<String, Option<String>>,
    ) -> AwsResult<Option<LaunchTemplateSpec>> {
        let (name, version) = match spec {
            RawSpec::Id(spec) => return Ok(Some(spec)),
            RawSpec::Name { name, version } => (name, version),
        };
        if !ids.contains_key(&name) {
            let template = self.describe_launch_template(region, &LaunchTemplateRef::Name(name.clone())).await?;
            ids.insert(name.clone(), template.map(|template| template.id));
        }
        let id = ids[&name].clone();
        if id.is_none() {
            tracing::warn!(%region, group, template = %name, "the group's launch template does not exist");
        }
        Ok(id.map(|id| LaunchTemplateSpec { id, version }))
    }

    async fn describe_raw_group(&self, region: &Region, name: &str) -> AwsResult<Option<RawGroup>> {
        let client = self.autoscaling(region)?;
        let call = client.describe_auto_scaling_groups().auto_scaling_group_names(name);
        let output = call.send().await.map_err(sdk_error(SERVICE, "DescribeAutoScalingGroups"))?;
        Ok(output
            .auto_scaling_groups()
            .iter()
            .find(|group| group.auto_scaling_group_name() == Some(name))
            .map(raw_group))
    }
}

#[async_trait]
impl AutoScalingApi for SdkAws {
    async fn describe_auto_scaling_group(&self, region: &Region, name: &str) -> AwsResult<Option<AutoScalingGroup>> {
        let Some(group) = self.describe_raw_group(region, name).await? else {
            tracing::debug!(%region, group = name, "Auto Scaling group not found");
            return Ok(None);
        };
        Ok(self.resolve_groups(region, vec![group]).await?.pop())
    }

    async fn describe_auto_scaling_groups(&self, region: &Region) -> AwsResult<Vec<AutoScalingGroup>> {
        let client = self.autoscaling(region)?;
        let listing = client.describe_auto_scaling_groups().into_paginator().items().send();
        let groups = read_all(SERVICE, "DescribeAutoScalingGroups", listing).await?;
        let groups = groups.iter().map(raw_group).collect();
        self.resolve_groups(region, groups).await
    }

    async fn describe_launch_configurations(&self, region: &Region) -> AwsResult<Vec<LaunchConfiguration>> {
        let client = self.autoscaling(region)?;
        let listing = client.describe_launch_configurations().into_paginator().items().send();
        let configurations = read_all(SERVICE, "DescribeLaunchConfigurations", listing).await?;
        let configurations: Vec<LaunchConfiguration> = configurations
            .iter()
            .filter_map(|c| {
                let image = c.image_id().filter(|id| !id.is_empty())?;
                Some(LaunchConfiguration {
                    name: c.launch_configuration_name().unwrap_or_default().to_owned(),
                    image_id: ImageId::new(image),
                })
            })
            .collect();
        tracing::debug!(%region, launch_configurations = configurations.len(), "described launch configurations");
        Ok(configurations)
    }

    /// `UpdateAutoScalingGroup`. A group with a mixed-instances policy cannot take a top-level
    /// `LaunchTemplate`, so for such a group the template is set in
    /// `MixedInstancesPolicy.LaunchTemplate.LaunchTemplateSpecification`, leaving the policy's
    /// overrides and instances distribution as they are. The group comes as described, so no
    /// second describe is needed.
    async fn set_launch_template(
        &self,
        region: &Region,
        group: &AutoScalingGroup,
        template: &LaunchTemplateSpec,
    ) -> AwsResult<()> {
        let mixed_instances = group.mixed_instances_policy;
        let group = group.name.as_str();
        let spec =
            LaunchTemplateSpecification::builder().launch_template_id(&template.id).version(&template.version).build();
        let client = self.autoscaling(region)?;
        let call = client.update_auto_scaling_group().auto_scaling_group_name(group);
        let call = if mixed_instances {
            call.mixed_instances_policy(
                MixedInstancesPolicy::builder()
                    .launch_template(asg::LaunchTemplate::builder().launch_template_specification(spec).build())
                    .build(),
            )
        } else {
            call.launch_template(spec)
        };
        call.send().await.map_err(sdk_error(SERVICE, "UpdateAutoScalingGroup"))?;
        tracing::info!(
            %region, group, template = %template.id, version = %template.version,
            mixed_instances, "set the group's launch template"
        );
        Ok(())
    }

    /// `StartInstanceRefresh` with the `Rolling` strategy and only the preferences that are
    /// set (Auto Scaling's defaults for the rest). The refresh replaces instances to match the
    /// launch template and version the group names now.
    async fn start_instance_refresh(
        &self,
        region: &Region,
        group: &str,
        preferences: &InstanceRefreshPreferences,
    ) -> AwsResult<String> {
        let client = self.autoscaling(region)?;
        let call = client.start_instance_refresh().auto_scaling_group_name(group).strategy(RefreshStrategy::Rolling);
        let call = call.preferences(refresh_preferences(preferences));
        let output = call.send().await.map_err(sdk_error(SERVICE, "StartInstanceRefresh"))?;
        let id = output.instance_refresh_id().unwrap_or_default().to_owned();
        tracing::info!(%region, group, refresh = %id, "started an instance refresh");
        Ok(id)
    }
}

/// The SDK's preferences: only what is set, so Auto Scaling applies its own defaults.
fn refresh_preferences(preferences: &InstanceRefreshPreferences) -> RefreshPreferences {
    RefreshPreferences::builder()
        .set_min_healthy_percentage(preferences.min_healthy_percentage.map(i32::from))
        .set_instance_warmup(preferences.instance_warmup_seconds.map(|s| i32::try_from(s).unwrap_or(i32::MAX)))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(id: Option<&str>, name: Option<&str>, version: Option<&str>) -> LaunchTemplateSpecification {
        LaunchTemplateSpecification::builder()
            .set_launch_template_id(id.map(str::to_owned))
            .set_launch_template_name(name.map(str::to_owned))
            .set_version(version.map(str::to_owned))
            .build()
    }

    fn by_id(id: &str, version: &str) -> RawSpec {
        RawSpec::Id(LaunchTemplateSpec { id: id.into(), version: version.into() })
    }

    #[test]
    fn group_with_a_launch_template() {
        let group = asg::AutoScalingGroup::builder()
            .auto_scaling_group_name("web")
            .launch_template(spec(Some("lt-1"), Some("web"), Some("3")))
            .tags(asg::TagDescription::builder().key("team").value("web").build())
            .build();
        assert_eq!(
            raw_group(&group),
            RawGroup {
                name: "web".into(),
                launch_template: Some(by_id("lt-1", "3")),
                overrides: vec![],
                tags: [("team".to_owned(), "web".to_owned())].into(),
                mixed_instances: false,
            }
        );
    }

    #[test]
    fn group_with_a_mixed_instances_policy() {
        let policy = MixedInstancesPolicy::builder()
            .launch_template(
                asg::LaunchTemplate::builder()
                    .launch_template_specification(spec(Some("lt-1"), None, Some("$Latest")))
                    .overrides(asg::LaunchTemplateOverrides::builder().instance_type("m5.large").build())
                    .overrides(
                        asg::LaunchTemplateOverrides::builder()
                            .instance_type("m6g.large")
                            .launch_template_specification(spec(Some("lt-arm"), None, None))
                            .build(),
                    )
                    .overrides(
                        asg::LaunchTemplateOverrides::builder()
                            .instance_type("c6g.large")
                            .launch_template_specification(spec(None, Some("arm-by-name"), Some("2")))
                            .build(),
                    )
                    .build(),
            )
            .build();
        let group =
            asg::AutoScalingGroup::builder().auto_scaling_group_name("mixed").mixed_instances_policy(policy).build();
        let raw = raw_group(&group);
        assert!(raw.mixed_instances);
        assert_eq!(raw.launch_template, Some(by_id("lt-1", "$Latest")));
        assert_eq!(
            raw.overrides,
            [by_id("lt-arm", "$Default"), RawSpec::Name { name: "arm-by-name".into(), version: "2".into() }]
        );
    }

    #[test]
    fn refresh_preferences_carry_only_what_is_set() {
        let unset = refresh_preferences(&InstanceRefreshPreferences::default());
        assert_eq!((unset.min_healthy_percentage(), unset.instance_warmup()), (None, None));
        let set = refresh_preferences(&InstanceRefreshPreferences {
            min_healthy_percentage: Some(75),
            instance_warmup_seconds: Some(300),
        });
        assert_eq!((set.min_healthy_percentage(), set.instance_warmup()), (Some(75), Some(300)));
    }

    #[test]
    fn group_with_a_launch_configuration() {
        let group =
            asg::AutoScalingGroup::builder().auto_scaling_group_name("old").launch_configuration_name("lc").build();
        let raw = raw_group(&group);
        assert_eq!((raw.launch_template, raw.overrides.len(), raw.mixed_instances), (None, 0, false));
    }
}
