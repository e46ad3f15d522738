//! EC2 Auto Scaling in memory: groups and the launch templates they launch from.

use async_trait::async_trait;

use super::{aws_error, ops, IntoRegion, MemoryAws};
use crate::backend::{AutoScalingApi, AwsResult, InstanceRefreshPreferences, INSTANCE_REFRESH_IN_PROGRESS};
use crate::error::{AwsError, AwsErrorKind};
use crate::model::{AutoScalingGroup, ImageId, LaunchConfiguration, LaunchTemplate, LaunchTemplateSpec, Region, Tags};

fn validation(message: impl Into<String>) -> AwsError {
    aws_error(ops::UPDATE_AUTO_SCALING_GROUP, AwsErrorKind::Client, "ValidationError", message)
}

fn group_not_found(op: &str, group: &str) -> AwsError {
    aws_error(
        op,
        AwsErrorKind::NotFound,
        "ValidationError",
        format!("AutoScalingGroup name not found - AutoScalingGroup {group} not found"),
    )
}

/// An instance refresh the in-memory account started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceRefresh {
    /// The refresh id `StartInstanceRefresh` returned.
    pub id: String,
    /// The group refreshed.
    pub group: String,
    /// The preferences it was started with.
    pub preferences: InstanceRefreshPreferences,
    /// What the group launched from when the refresh started.
    pub launch_template: Option<LaunchTemplateSpec>,
    /// Whether it is still in progress (until [`MemoryAws::finish_instance_refreshes`]).
    pub in_progress: bool,
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

    /// Creates a launch template whose version 1 launches `image_id`, and the group `group` that
    /// launches from that version, neither tagged. Returns the template.
    pub fn create_launch_template_and_group(
        &self,
        region: impl IntoRegion,
        template: impl Into<String>,
        group: impl Into<String>,
        image_id: ImageId,
    ) -> LaunchTemplate {
        let region = region.into_region();
        let template = self.create_launch_template(&region, template, Some(image_id), Tags::new());
        let version_1 = LaunchTemplateSpec { id: template.id.clone(), version: "1".into() };
        self.create_auto_scaling_group(region, group, version_1, Tags::new());
        template
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

    /// The instance refreshes started for `group`, oldest first.
    pub fn instance_refreshes(&self, region: impl IntoRegion, group: &str) -> Vec<InstanceRefresh> {
        let region = region.into_region();
        self.with_world(|world| {
            world.region(&region).instance_refreshes.iter().filter(|r| r.group == group).cloned().collect()
        })
    }

    /// Ends every refresh of `group` that is in progress, as if it had replaced its instances.
    pub fn finish_instance_refreshes(&self, region: impl IntoRegion, group: &str) {
        let region = region.into_region();
        self.with_world(|world| {
            for refresh in world.region(&region).instance_refreshes.iter_mut().filter(|r| r.group == group) {
                refresh.in_progress = false;
            }
        });
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
                return Err(group_not_found(ops::UPDATE_AUTO_SCALING_GROUP, group));
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

    async fn start_instance_refresh(
        &self,
        region: &Region,
        group: &str,
        preferences: &InstanceRefreshPreferences,
    ) -> AwsResult<String> {
        self.call(ops::START_INSTANCE_REFRESH, |world| {
            let counter = world.counters.entry("instance-refresh").or_insert(0);
            *counter += 1;
            // Auto Scaling's refresh ids are UUIDs.
            let id = format!("00000000-0000-4000-8000-{:012x}", *counter);
            let state = world.region(region);
            let Some(found) = state.groups.get(group) else {
                return Err(group_not_found(ops::START_INSTANCE_REFRESH, group));
            };
            let launch_template = found.launch_template.clone();
            if state.instance_refreshes.iter().any(|r| r.group == group && r.in_progress) {
                return Err(aws_error(
                    ops::START_INSTANCE_REFRESH,
                    AwsErrorKind::Client,
                    INSTANCE_REFRESH_IN_PROGRESS,
                    "An Instance Refresh is already in progress and blocks the execution of this Instance Refresh.",
                ));
            }
            if let Some(percentage) = preferences.min_healthy_percentage.filter(|p| *p > 100) {
                return Err(aws_error(
                    ops::START_INSTANCE_REFRESH,
                    AwsErrorKind::Client,
                    "ValidationError",
                    format!("MinHealthyPercentage {percentage} is not between 0 and 100"),
                ));
            }
            state.instance_refreshes.push(InstanceRefresh {
                id: id.clone(),
                group: group.to_owned(),
                preferences: *preferences,
                launch_template,
                in_progress: true,
            });
            Ok(id)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CreateLaunchTemplateVersion, ImageId};

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
        let request = CreateLaunchTemplateVersion::new(&template.id, 1, &image, "");
        crate::backend::Ec2Api::create_launch_template_version(&aws, &region(), &request).await.unwrap();
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

    #[tokio::test]
    async fn instance_refreshes_are_kept_and_one_runs_at_a_time() {
        let aws = MemoryAws::new("111122223333");
        let template = aws.create_launch_template(region(), "web", None, Tags::new());
        aws.create_auto_scaling_group(region(), "web", spec(&template.id, "1"), Tags::new());
        aws.create_auto_scaling_group(region(), "db", spec(&template.id, "1"), Tags::new());
        let preferences =
            InstanceRefreshPreferences { min_healthy_percentage: Some(90), instance_warmup_seconds: None };

        let first = aws.start_instance_refresh(&region(), "web", &preferences).await.unwrap();
        let busy = aws.start_instance_refresh(&region(), "web", &preferences).await.unwrap_err();
        assert_eq!((busy.code.as_str(), busy.kind), (INSTANCE_REFRESH_IN_PROGRESS, AwsErrorKind::Client));
        assert_eq!(busy.operation, "StartInstanceRefresh");
        // Another group is not blocked.
        aws.start_instance_refresh(&region(), "db", &InstanceRefreshPreferences::default()).await.unwrap();

        let refreshes = aws.instance_refreshes(region(), "web");
        assert_eq!(refreshes.len(), 1);
        assert_eq!(refreshes[0].id, first);
        assert_eq!(refreshes[0].preferences, preferences);
        assert_eq!(refreshes[0].launch_template, Some(spec(&template.id, "1")));
        assert!(refreshes[0].in_progress);

        aws.finish_instance_refreshes(region(), "web");
        let second = aws.start_instance_refresh(&region(), "web", &preferences).await.unwrap();
        assert_ne!(first, second);
        let states: Vec<bool> = aws.instance_refreshes(region(), "web").iter().map(|r| r.in_progress).collect();
        assert_eq!(states, [false, true]);

        let missing = aws.start_instance_refresh(&region(), "cache", &preferences).await.unwrap_err();
        assert_eq!((missing.code.as_str(), missing.kind), ("ValidationError", AwsErrorKind::NotFound));
        let too_many = InstanceRefreshPreferences { min_healthy_percentage: Some(101), ..preferences };
        aws.finish_instance_refreshes(region(), "db");
        let invalid = aws.start_instance_refresh(&region(), "db", &too_many).await.unwrap_err();
        assert_eq!(invalid.code, "ValidationError");
        assert_eq!(aws.call_count("autoscaling:StartInstanceRefresh"), 6);
    }
}
