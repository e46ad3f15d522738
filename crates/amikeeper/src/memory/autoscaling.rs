//! EC2 Auto Scaling in memory: groups and the launch templates they launch from.

use async_trait::async_trait;

use super::{aws_error, ops, IntoRegion, MemoryAws};
use crate::backend::{AutoScalingApi, AwsResult};
use crate::error::{AwsError, AwsErrorKind};
use crate::model::{AutoScalingGroup, ImageId, LaunchConfiguration, LaunchTemplateSpec, Region, Tags};

fn validation(message: impl Into<String>) -> AwsError {
    aws_error(ops::UPDATE_AUTO_SCALING_GROUP, AwsErrorKind::Client, "ValidationError", message)
}

impl MemoryAws {
    /// Creates a group that launches from `template`. Panics if the region has a group of
    /// that name.
    pub fn create_auto_scaling_group(
        &self,
        region: impl IntoRegion,
        name: impl Into<String>,
        template: LaunchTemplateSpec,
        tags: Tags,
    ) -> AutoScalingGroup {
        let region = region.into_region();
        let name = name.into();
        let group = AutoScalingGroup {
            name: name.clone(),
            launch_template: Some(template),
            override_launch_templates: Vec::new(),
            mixed_instances_policy: false,
            tags,
        };
        self.with_world(|world| {
            let groups = &mut world.region(&region).groups;
            assert!(!groups.contains_key(&name), "Auto Scaling group {name} already exists in {region}");
            groups.insert(name, group.clone());
        });
        group
    }

    /// Gives the group a mixed-instances policy whose overrides name these launch templates.
    /// Panics if the group does not exist.
    pub fn set_override_launch_templates(
        &self,
        region: impl IntoRegion,
        group: &str,
        overrides: Vec<LaunchTemplateSpec>,
    ) {
        let region = region.into_region();
        self.with_world(|world| {
            let found = world.region(&region).groups.get_mut(group);
            let found = found.unwrap_or_else(|| panic!("no Auto Scaling group {group} in {region}"));
            found.override_launch_templates = overrides;
            found.mixed_instances_policy = true;
        });
    }

    /// Creates a launch configuration that launches `image_id`. Panics if the name is taken.
    pub fn create_launch_configuration(&self, region: impl IntoRegion, name: impl Into<String>, image_id: ImageId) {
        let region = region.into_region();
        let name = name.into();
        self.with_world(|world| {
            let configurations = &mut world.region(&region).launch_configurations;
            assert!(!configurations.contains_key(&name), "launch configuration {name} already exists in {region}");
            configurations.insert(name, image_id);
        });
    }

    /// The group as it is now, without recording a call.
    pub fn auto_scaling_group(&self, region: impl IntoRegion, name: &str) -> Option<AutoScalingGroup> {
        let region = region.into_region();
        self.with_world(|world| world.region(&region).groups.get(name).cloned())
    }
}

#[async_trait]
impl AutoScalingApi for MemoryAws {
    async fn describe_auto_scaling_group(&self, region: &Region, name: &str) -> AwsResult<Option<AutoScalingGroup>> {
        self.call(ops::DESCRIBE_AUTO_SCALING_GROUPS, |world| Ok(world.region(region).groups.get(name).cloned()))
    }

    async fn describe_launch_configurations(&self, region: &Region) -> AwsResult<Vec<LaunchConfiguration>> {
        self.call(ops::DESCRIBE_LAUNCH_CONFIGURATIONS, |world| {
            let configurations = world.region(region).launch_configurations.iter();
            Ok(configurations
                .map(|(name, image)| LaunchConfiguration { name: name.clone(), image_id: image.clone() })
                .collect())
        })
    }

    async fn describe_auto_scaling_groups(&self, region: &Region) -> AwsResult<Vec<AutoScalingGroup>> {
        self.call(ops::DESCRIBE_AUTO_SCALING_GROUPS, |world| {
            Ok(world.region(region).groups.values().cloned().collect())
        })
    }

    async fn set_launch_template(
        &self,
        region: &Region,
        group: &AutoScalingGroup,
        template: &LaunchTemplateSpec,
    ) -> AwsResult<()> {
        let group = group.name.as_str();
        self.call(ops::UPDATE_AUTO_SCALING_GROUP, |world| {
            let state = world.region(region);
            if !state.groups.contains_key(group) {
                return Err(aws_error(
                    ops::UPDATE_AUTO_SCALING_GROUP,
                    AwsErrorKind::NotFound,
                    "ValidationError",
                    format!("AutoScalingGroup name not found - AutoScalingGroup {group} not found"),
                ));
            }
            let Some(launch_template) = state.templates.get(&template.id) else {
                return Err(validation(format!(
                    "You must use a valid fully-formed launch template. The specified launch template, with template ID {}, does not exist.",
                    template.id
                )));
            };
            if !launch_template.has_version(&template.version) {
                return Err(validation(format!(
                    "You must use a valid fully-formed launch template. The specified version {} for launch template, with template ID {}, does not exist.",
                    template.version, template.id
                )));
            }
            if let Some(found) = state.groups.get_mut(group) {
                found.launch_template = Some(template.clone());
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ImageId;

    fn region() -> Region {
        Region::from("eu-west-1")
    }

    fn spec(id: &str, version: &str) -> LaunchTemplateSpec {
        LaunchTemplateSpec { id: id.into(), version: version.into() }
    }

    #[tokio::test]
    async fn groups_describe_one_and_all() {
        let aws = MemoryAws::new("111122223333");
        let template = aws.create_launch_template(region(), "web", None, Tags::new());
        let tags = Tags::from([("team".to_owned(), "web".to_owned())]);
        aws.create_auto_scaling_group(region(), "web-b", spec(&template.id, "$Latest"), tags.clone());
        aws.create_auto_scaling_group(region(), "web-a", spec(&template.id, "1"), Tags::new());
        aws.set_override_launch_templates(region(), "web-a", vec![spec(&template.id, "$Default")]);

        let one = aws.describe_auto_scaling_group(&region(), "web-b").await.unwrap().unwrap();
        assert_eq!(one.launch_template, Some(spec(&template.id, "$Latest")));
        assert_eq!(one.tags, tags);
        assert_eq!(aws.describe_auto_scaling_group(&region(), "db").await.unwrap(), None);
        let all = aws.describe_auto_scaling_groups(&region()).await.unwrap();
        let names: Vec<&str> = all.iter().map(|group| group.name.as_str()).collect();
        assert_eq!(names, vec!["web-a", "web-b"]);
        assert_eq!(all[0].override_launch_templates, vec![spec(&template.id, "$Default")]);
        assert!(aws.describe_auto_scaling_groups(&Region::from("us-east-1")).await.unwrap().is_empty());
        assert_eq!(aws.call_count("autoscaling:DescribeAutoScalingGroups"), 4);
    }

    fn named(name: &str) -> AutoScalingGroup {
        AutoScalingGroup {
            name: name.into(),
            launch_template: None,
            override_launch_templates: Vec::new(),
            mixed_instances_policy: false,
            tags: Tags::new(),
        }
    }

    #[tokio::test]
    async fn set_launch_template_checks_the_template_and_version() {
        let aws = MemoryAws::new("111122223333");
        let template = aws.create_launch_template(region(), "web", None, Tags::new());
        let image = ImageId::from("ami-00000000000000001");
        crate::backend::Ec2Api::create_launch_template_version(&aws, &region(), &template.id, 1, &image, "")
            .await
            .unwrap();
        aws.create_auto_scaling_group(region(), "web", spec(&template.id, "1"), Tags::new());

        for version in ["2", "$Latest", "$Default", "1"] {
            aws.set_launch_template(&region(), &named("web"), &spec(&template.id, version)).await.unwrap();
            let group = aws.auto_scaling_group(region(), "web").unwrap();
            assert_eq!(group.launch_template, Some(spec(&template.id, version)));
        }
        for version in ["3", "latest", ""] {
            let err =
                aws.set_launch_template(&region(), &named("web"), &spec(&template.id, version)).await.unwrap_err();
            assert_eq!((err.code.as_str(), err.kind), ("ValidationError", AwsErrorKind::Client), "{version}");
        }
        let err =
            aws.set_launch_template(&region(), &named("web"), &spec("lt-00000000000000099", "1")).await.unwrap_err();
        assert_eq!(err.code, "ValidationError");
        assert!(err.message.contains("does not exist"));
        assert_eq!(aws.auto_scaling_group(region(), "web").unwrap().launch_template, Some(spec(&template.id, "1")));

        let err = aws.set_launch_template(&region(), &named("db"), &spec(&template.id, "1")).await.unwrap_err();
        assert_eq!((err.code.as_str(), err.kind), ("ValidationError", AwsErrorKind::NotFound));
        assert!(err.message.starts_with("AutoScalingGroup name not found"));
        assert_eq!((err.service.as_str(), err.operation.as_str()), ("autoscaling", "UpdateAutoScalingGroup"));
    }
}
