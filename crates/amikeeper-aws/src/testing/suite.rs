//! [`MotoFixture`] as the conformance suite's [`Fixture`] and [`SweepFixture`]: each step
//! through the raw SDK clients.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use amikeeper::backend::Aws;
use amikeeper::conformance::{Capabilities, Fixture, ImageFacts, ImageSpec, SweepFixture, TemplateState};
use amikeeper::model::{ImageId, LaunchTemplateSpec, Tags};
use async_trait::async_trait;
use aws_sdk_autoscaling::types::LaunchTemplateSpecification;
use aws_sdk_cloudformation::types::{Parameter as StackParameter, StackStatus};
use aws_sdk_ec2::types::RequestLaunchTemplateData;
use aws_sdk_ssm::types::ParameterType;

use super::fixture::{offset_date_time, tag_map, wait_for_next_second, MotoFixture, STACK_TIMEOUT};
use super::server::MOTO_ACCOUNT_ID;

/// A template declaring each parameter as a `String`, with one resource moto can create: an
/// SSM parameter holding `ImageId` (or the first parameter).
fn stack_template(name: &str, parameters: &BTreeMap<String, String>) -> String {
    for key in parameters.keys() {
        assert!(key.chars().all(|c| c.is_ascii_alphanumeric()), "stack parameter `{key}` is not alphanumeric");
    }
    let declared: Vec<String> = parameters.keys().map(|key| format!(r#""{key}": {{"Type": "String"}}"#)).collect();
    let value = match parameters.keys().find(|key| *key == "ImageId").or_else(|| parameters.keys().next()) {
        Some(key) => format!(r#"{{"Ref": "{key}"}}"#),
        None => r#""none""#.to_owned(),
    };
    format!(
        r#"{{
  "AWSTemplateFormatVersion": "2010-09-09",
  "Parameters": {{{}}},
  "Resources": {{
    "Pointer": {{
      "Type": "AWS::SSM::Parameter",
      "Properties": {{"Name": "/amikeeper-fixture/stack/{name}", "Type": "String", "Value": {value}}}
    }}
  }}
}}"#,
        declared.join(", ")
    )
}

#[async_trait]
impl Fixture for MotoFixture {
    fn account(&self) -> String {
        MOTO_ACCOUNT_ID.to_owned()
    }

    /// moto 5.2.5 has no Recycle Bin (scripts/moto_ext/rbin.py answers it as an endpoint
    /// without it would; scripts/moto_ext/image_references.py adds DescribeImageReferences).
    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL.without_recycle_bin()
    }

    fn aws(&self) -> Arc<dyn Aws> {
        self.aws.clone()
    }

    async fn instance(&self, region: &str) -> String {
        self.instance_of(region, None).await
    }

    async fn image(&self, region: &str, spec: ImageSpec) -> ImageId {
        let instance = self.builder_instance(region).await;
        self.image_from(region, &instance, spec).await
    }

    async fn set_parameter(&self, region: &str, name: &str, value: &str) {
        self.ssm(region)
            .put_parameter()
            .name(name)
            .value(value)
            .r#type(ParameterType::String)
            .overwrite(true)
            .send()
            .await
            .unwrap_or_else(|e| panic!("PutParameter {name} in {region}: {e:?}"));
    }

    async fn parameter(&self, region: &str, name: &str) -> Option<(String, i64)> {
        match self.ssm(region).get_parameter().name(name).send().await {
            Ok(output) => {
                let parameter = output.parameter().expect("GetParameter returns the parameter");
                Some((parameter.value().unwrap_or_default().to_owned(), parameter.version()))
            }
            Err(error) if error.as_service_error().is_some_and(|e| e.is_parameter_not_found()) => None,
            Err(error) => panic!("GetParameter {name} in {region}: {error:?}"),
        }
    }

    async fn launch_template(&self, region: &str, name: &str, image: &ImageId) -> String {
        let output = self
            .ec2(region)
            .create_launch_template()
            .launch_template_name(name)
            .launch_template_data(RequestLaunchTemplateData::builder().image_id(image.as_str()).build())
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateLaunchTemplate {name} in {region}: {e:?}"));
        output.launch_template().and_then(|t| t.launch_template_id()).expect("a launch template id").to_owned()
    }

    async fn template_state(&self, region: &str, id: &str) -> TemplateState {
        let ec2 = self.ec2(region);
        let templates = ec2
            .describe_launch_templates()
            .launch_template_ids(id)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DescribeLaunchTemplates {id} in {region}: {e:?}"));
        let template = templates.launch_templates().first().unwrap_or_else(|| panic!("no launch template {id}"));
        let versions = ec2
            .describe_launch_template_versions()
            .launch_template_id(id)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .unwrap_or_else(|e| panic!("DescribeLaunchTemplateVersions {id} in {region}: {e:?}"));
        let mut versions: Vec<(i64, Option<ImageId>)> = versions
            .iter()
            .map(|v| {
                let image = v.launch_template_data().and_then(|data| data.image_id()).map(ImageId::new);
                (v.version_number().expect("a version number"), image)
            })
            .collect();
        versions.sort_by_key(|version| std::cmp::Reverse(version.0));
        TemplateState {
            default_version: template.default_version_number().expect("a default version"),
            latest_version: template.latest_version_number().expect("a latest version"),
            versions,
        }
    }

    async fn auto_scaling_group(&self, region: &str, name: &str, template: LaunchTemplateSpec) {
        self.autoscaling(region)
            .create_auto_scaling_group()
            .auto_scaling_group_name(name)
            .launch_template(
                LaunchTemplateSpecification::builder()
                    .launch_template_id(&template.id)
                    .version(&template.version)
                    .build(),
            )
            .min_size(0)
            .max_size(1)
            .availability_zones(format!("{region}a"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateAutoScalingGroup {name} in {region}: {e:?}"));
    }

    async fn group_template(&self, region: &str, name: &str) -> Option<LaunchTemplateSpec> {
        let output = self
            .autoscaling(region)
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DescribeAutoScalingGroups {name} in {region}: {e:?}"));
        let group = output.auto_scaling_groups().iter().find(|g| g.auto_scaling_group_name() == Some(name))?;
        let spec = group.launch_template()?;
        Some(LaunchTemplateSpec {
            id: spec.launch_template_id()?.to_owned(),
            version: spec.version().unwrap_or("$Default").to_owned(),
        })
    }

    async fn stack(&self, region: &str, name: &str, parameters: BTreeMap<String, String>) {
        let template = stack_template(name, &parameters);
        let parameters = parameters
            .iter()
            .map(|(key, value)| StackParameter::builder().parameter_key(key).parameter_value(value).build())
            .collect();
        self.cloudformation(region)
            .create_stack()
            .stack_name(name)
            .template_body(template)
            .set_parameters(Some(parameters))
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateStack {name} in {region}: {e:?}"));
        let deadline = tokio::time::Instant::now() + STACK_TIMEOUT;
        loop {
            let stack = self.describe_stack(region, name).await;
            let status = stack.as_ref().and_then(|s| s.stack_status()).cloned();
            match status {
                Some(StackStatus::CreateComplete) => return,
                Some(StackStatus::CreateInProgress) | None if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                _ => panic!("stack {name} in {region} did not reach CREATE_COMPLETE: {stack:?}"),
            }
        }
    }

    async fn stack_parameters(&self, region: &str, name: &str) -> BTreeMap<String, String> {
        let Some(stack) = self.describe_stack(region, name).await else { return BTreeMap::new() };
        stack
            .parameters()
            .iter()
            .filter_map(|p| Some((p.parameter_key()?.to_owned(), p.parameter_value().unwrap_or_default().to_owned())))
            .collect()
    }

    async fn own_image_protected(&self, region: &str, image: &ImageId) -> bool {
        let output = self.ec2(region).describe_images().image_ids(image.as_str()).send().await;
        let output = output.expect("DescribeImages");
        output.images().first().and_then(|i| i.deregistration_protection()).is_some_and(|p| p.starts_with("enabled"))
    }
}

#[async_trait]
impl SweepFixture for MotoFixture {
    async fn launch_instance(&self, region: &str, image: &ImageId) -> String {
        self.instance_of(region, Some(image)).await
    }

    async fn stop_instance(&self, region: &str, instance: &str) {
        MotoFixture::stop_instance(self, region, instance).await;
    }

    async fn template_version(&self, region: &str, template: &str, image: &ImageId, default: bool) -> i64 {
        let version = self.launch_template_version(region, template, image).await;
        if default {
            self.set_default_version(region, template, version).await;
        }
        version
    }

    async fn volume(&self, region: &str, tags: Tags) -> String {
        MotoFixture::volume(self, region, &tags).await
    }

    async fn volume_snapshot(&self, region: &str, volume: &str, tags: Tags) -> String {
        let id = self.snapshot(region, volume, "amikeeper conformance", &tags).await;
        let snapshot =
            self.raw_snapshot(region, &id).await.unwrap_or_else(|| panic!("moto does not describe its snapshot {id}"));
        assert_eq!(snapshot.state().map(|s| s.as_str()), Some("completed"), "{snapshot:?}");
        let started = snapshot.start_time().unwrap_or_else(|| panic!("snapshot {id} has no StartTime"));
        // The sweep orders snapshots by start time (then id): the next one must start later.
        wait_for_next_second(offset_date_time(started)).await;
        id
    }

    async fn own_images(&self, region: &str) -> Vec<ImageFacts> {
        let ec2 = self.ec2(region);
        let mut images = Vec::new();
        let mut token = None;
        loop {
            let output = ec2
                .describe_images()
                .owners("self")
                .include_disabled(true)
                .include_deprecated(true)
                .set_next_token(token)
                .send()
                .await
                .unwrap_or_else(|e| panic!("DescribeImages (owner self) in {region}: {e:?}"));
            images.extend(output.images().iter().map(|image| {
                ImageFacts {
                    id: ImageId::new(image.image_id().expect("an image id")),
                    name: image.name().unwrap_or_default().to_owned(),
                    snapshot_ids: image
                        .block_device_mappings()
                        .iter()
                        .filter_map(|m| m.ebs()?.snapshot_id().map(str::to_owned))
                        .collect(),
                    deprecated: image.deprecation_time().is_some_and(|t| !t.is_empty()),
                    disabled: image.state().map(|s| s.as_str()) == Some("disabled"),
                }
            }));
            match output.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => break,
            }
        }
        images
    }

    async fn own_snapshots(&self, region: &str) -> BTreeMap<String, Tags> {
        let snapshots = self.own_raw_snapshots(region).await;
        snapshots.iter().filter_map(|s| Some((s.snapshot_id()?.to_owned(), tag_map(s.tags())))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_template_declares_every_parameter() {
        let parameters =
            BTreeMap::from([("ImageId".to_owned(), "ami-1".to_owned()), ("InstanceType".to_owned(), "t3".to_owned())]);
        let template = stack_template("app", &parameters);
        assert!(
            template.contains(r#""ImageId": {"Type": "String"}, "InstanceType": {"Type": "String"}"#),
            "{template}"
        );
        assert!(template.contains(r#""Value": {"Ref": "ImageId"}"#), "{template}");
        assert!(stack_template("empty", &BTreeMap::new()).contains(r#""Value": "none""#));
    }
}
