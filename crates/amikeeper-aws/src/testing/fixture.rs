//! [`MotoFixture`]: the conformance fixture over `moto_server`, set up and read with the raw
//! AWS SDK clients.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use amikeeper::backend::Aws;
use amikeeper::conformance::{Fixture, ImageFacts, ImageSpec, SweepFixture, TemplateState};
use amikeeper::model::{ImageId, LaunchTemplateSpec, Tags};
use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_autoscaling::types::LaunchTemplateSpecification;
use aws_sdk_cloudformation::types::{Parameter as StackParameter, StackStatus};
use aws_sdk_ec2::types::{RequestLaunchTemplateData, ResourceType, Tag, TagSpecification};
use aws_sdk_ssm::types::ParameterType;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::sync::Mutex;

use super::server::{MotoServer, MOTO_ACCOUNT_ID};
use crate::SdkAws;

/// The instance type of the instances the fixture runs.
pub const FIXTURE_INSTANCE_TYPE: &str = "t3.micro";

/// AMIs moto knows in every region (from its bundled `amis.json`); the first one moto
/// describes is what the fixture's instances run. When none is known, any AMI owned by
/// `amazon` is used.
const KNOWN_AMIS: &[&str] = &["ami-760aaa0f", "ami-03cf127a"];

/// How long a stack may take to reach a stable status.
const STACK_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Default)]
struct State {
    /// The AMI instances run, per region.
    base_ami: HashMap<String, String>,
    /// The instance images are made from, per region.
    builder: HashMap<String, String>,
}

/// amikeeper's conformance [`Fixture`] over a [`MotoServer`].
///
/// The backend under test is an [`SdkAws`] pointed at the server. Setting up and reading
/// state goes through the raw SDK clients (`aws-sdk-ec2`, `-ssm`, `-autoscaling`,
/// `-cloudformation`), made from the same shared configuration but never through this crate's
/// backend code.
///
/// Notes on moto: images are `available` as soon as `CreateImage` returns, and their
/// `CreationDate` has one-second resolution, so [`image`](Fixture::image) returns only once
/// the clock has passed the image's second: every image made later, by the fixture or by the
/// backend, is strictly newer. Snapshots are `completed` at once and their `StartTime` has
/// one-second resolution too; [`volume_snapshot`](SweepFixture::volume_snapshot) waits the
/// same way.
pub struct MotoFixture {
    aws: Arc<SdkAws>,
    config: SdkConfig,
    state: Mutex<State>,
}

impl MotoFixture {
    /// A fixture over `server`, whose backend's default region is
    /// [`MAIN_REGION`](amikeeper::conformance::MAIN_REGION).
    pub async fn new(server: &MotoServer) -> Self {
        Self::with_backend(server.sdk_aws(amikeeper::conformance::MAIN_REGION).await)
    }

    /// A fixture whose backend is `aws`; the raw clients are made from its configuration.
    pub fn with_backend(aws: SdkAws) -> Self {
        let config = aws.sdk_config().clone();
        Self { aws: Arc::new(aws), config, state: Mutex::new(State::default()) }
    }

    /// The backend under test.
    pub fn sdk_aws(&self) -> &Arc<SdkAws> {
        &self.aws
    }

    /// A raw EC2 client of `region`.
    pub fn ec2(&self, region: &str) -> aws_sdk_ec2::Client {
        let config = aws_sdk_ec2::config::Builder::from(&self.config)
            .region(aws_sdk_ec2::config::Region::new(region.to_owned()));
        aws_sdk_ec2::Client::from_conf(config.build())
    }

    /// A raw SSM client of `region`.
    pub fn ssm(&self, region: &str) -> aws_sdk_ssm::Client {
        let config = aws_sdk_ssm::config::Builder::from(&self.config)
            .region(aws_sdk_ssm::config::Region::new(region.to_owned()));
        aws_sdk_ssm::Client::from_conf(config.build())
    }

    /// A raw Auto Scaling client of `region`.
    pub fn autoscaling(&self, region: &str) -> aws_sdk_autoscaling::Client {
        let config = aws_sdk_autoscaling::config::Builder::from(&self.config)
            .region(aws_sdk_autoscaling::config::Region::new(region.to_owned()));
        aws_sdk_autoscaling::Client::from_conf(config.build())
    }

    /// A raw CloudFormation client of `region`.
    pub fn cloudformation(&self, region: &str) -> aws_sdk_cloudformation::Client {
        let config = aws_sdk_cloudformation::config::Builder::from(&self.config)
            .region(aws_sdk_cloudformation::config::Region::new(region.to_owned()));
        aws_sdk_cloudformation::Client::from_conf(config.build())
    }

    /// A new version of launch template `id` (from `$Latest`) launching `image`; its number.
    pub async fn launch_template_version(&self, region: &str, id: &str, image: &ImageId) -> i64 {
        let output = self
            .ec2(region)
            .create_launch_template_version()
            .launch_template_id(id)
            .source_version("$Latest")
            .launch_template_data(RequestLaunchTemplateData::builder().image_id(image.as_str()).build())
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateLaunchTemplateVersion {id}: {e:?}"));
        output.launch_template_version().and_then(|v| v.version_number()).expect("a version number")
    }

    /// An `available` image of `instance`, strictly newer than every earlier image (this
    /// returns once the clock has passed the image's `CreationDate` second).
    pub async fn image_from(&self, region: &str, instance: &str, spec: ImageSpec) -> ImageId {
        let ec2 = self.ec2(region);
        let mut call = ec2.create_image().instance_id(instance).name(&spec.name).set_description(spec.description);
        if !spec.tags.is_empty() {
            call = call.tag_specifications(tag_specification(ResourceType::Image, &spec.tags));
        }
        let output = call.send().await.unwrap_or_else(|e| panic!("CreateImage {} in {region}: {e:?}", spec.name));
        let id = output.image_id().expect("CreateImage returns the image id").to_owned();
        let image =
            self.raw_image(region, &id).await.unwrap_or_else(|| panic!("moto does not describe its image {id}"));
        assert_eq!(image.state().map(|s| s.as_str()), Some("available"), "{image:?}");
        let created = image.creation_date().unwrap_or_else(|| panic!("image {id} has no CreationDate"));
        let created = OffsetDateTime::parse(created, &Rfc3339)
            .unwrap_or_else(|e| panic!("image {id} has an unreadable CreationDate {created}: {e}"));
        wait_for_next_second(created).await;
        ImageId::new(id)
    }

    /// `count` images of `instance`, oldest first, named `{name}-1`, `{name}-2`, ... and
    /// tagged with `tags`.
    pub async fn images_from(
        &self,
        region: &str,
        instance: &str,
        name: &str,
        tags: &BTreeMap<String, String>,
        count: usize,
    ) -> Vec<ImageId> {
        let mut images = Vec::with_capacity(count);
        for index in 1..=count {
            let mut spec = ImageSpec::named(format!("{name}-{index}"));
            for (key, value) in tags {
                spec = spec.tag(key, value);
            }
            images.push(self.image_from(region, instance, spec).await);
        }
        images
    }

    /// An instance of `region` launched from `image` (the fixture's base AMI when `None`).
    pub async fn instance_of(&self, region: &str, image: Option<&ImageId>) -> String {
        let ami = match image {
            Some(image) => image.as_str().to_owned(),
            None => self.base_ami(region).await,
        };
        let output = self
            .ec2(region)
            .run_instances()
            .image_id(&ami)
            .instance_type(aws_sdk_ec2::types::InstanceType::from(FIXTURE_INSTANCE_TYPE))
            .min_count(1)
            .max_count(1)
            .send()
            .await
            .unwrap_or_else(|e| panic!("RunInstances {ami} in {region}: {e:?}"));
        output.instances().first().and_then(|i| i.instance_id()).expect("RunInstances returns the instance").to_owned()
    }

    /// Stops an instance (moto stops it at once).
    pub async fn stop_instance(&self, region: &str, instance: &str) {
        self.ec2(region)
            .stop_instances()
            .instance_ids(instance)
            .send()
            .await
            .unwrap_or_else(|e| panic!("StopInstances {instance} in {region}: {e:?}"));
    }

    /// Terminates an instance (moto terminates it at once).
    pub async fn terminate_instance(&self, region: &str, instance: &str) {
        self.ec2(region)
            .terminate_instances()
            .instance_ids(instance)
            .send()
            .await
            .unwrap_or_else(|e| panic!("TerminateInstances {instance} in {region}: {e:?}"));
    }

    /// An 8 GiB volume in the region's first zone, tagged with `tags`; its id.
    pub async fn volume(&self, region: &str, tags: &BTreeMap<String, String>) -> String {
        let mut call = self.ec2(region).create_volume().availability_zone(format!("{region}a")).size(8);
        if !tags.is_empty() {
            call = call.tag_specifications(tag_specification(ResourceType::Volume, tags));
        }
        let output = call.send().await.unwrap_or_else(|e| panic!("CreateVolume in {region}: {e:?}"));
        output.volume_id().expect("CreateVolume returns the volume id").to_owned()
    }

    /// Attaches a volume to an instance as `device` (e.g. `/dev/sdf`).
    pub async fn attach_volume(&self, region: &str, volume: &str, instance: &str, device: &str) {
        self.ec2(region)
            .attach_volume()
            .volume_id(volume)
            .instance_id(instance)
            .device(device)
            .send()
            .await
            .unwrap_or_else(|e| panic!("AttachVolume {volume} to {instance} in {region}: {e:?}"));
    }

    /// A snapshot of `volume` with this description and tags; its id.
    pub async fn snapshot(
        &self,
        region: &str,
        volume: &str,
        description: &str,
        tags: &BTreeMap<String, String>,
    ) -> String {
        let mut call = self.ec2(region).create_snapshot().volume_id(volume).description(description);
        if !tags.is_empty() {
            call = call.tag_specifications(tag_specification(ResourceType::Snapshot, tags));
        }
        let output = call.send().await.unwrap_or_else(|e| panic!("CreateSnapshot of {volume} in {region}: {e:?}"));
        output.snapshot_id().expect("CreateSnapshot returns the snapshot id").to_owned()
    }

    /// A launch template whose version `n` launches `images[n - 1]`, with `default_version`
    /// as its default; its id.
    pub async fn launch_template_with_versions(
        &self,
        region: &str,
        name: &str,
        images: &[ImageId],
        default_version: i64,
    ) -> String {
        let (first, rest) = images.split_first().expect("a launch template needs at least one image");
        let id = self.launch_template(region, name, first).await;
        for image in rest {
            self.launch_template_version(region, &id, image).await;
        }
        self.set_default_version(region, &id, default_version).await;
        id
    }

    /// Sets a launch template's default version.
    pub async fn set_default_version(&self, region: &str, id: &str, version: i64) {
        self.ec2(region)
            .modify_launch_template()
            .launch_template_id(id)
            .default_version(version.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("ModifyLaunchTemplate {id} default {version} in {region}: {e:?}"));
    }

    /// A snapshot as EC2 describes it; `None` when it is unknown or deleted.
    pub async fn raw_snapshot(&self, region: &str, id: &str) -> Option<aws_sdk_ec2::types::Snapshot> {
        match self.ec2(region).describe_snapshots().snapshot_ids(id).send().await {
            Ok(output) => output.snapshots().iter().find(|snapshot| snapshot.snapshot_id() == Some(id)).cloned(),
            Err(error) if error.code() == Some("InvalidSnapshot.NotFound") => None,
            Err(error) => panic!("DescribeSnapshots {id} in {region}: {error:?}"),
        }
    }

    /// An image as EC2 describes it (disabled and deprecated ones included); `None` when it
    /// is unknown or deregistered.
    pub async fn raw_image(&self, region: &str, id: &str) -> Option<aws_sdk_ec2::types::Image> {
        let result = self
            .ec2(region)
            .describe_images()
            .image_ids(id)
            .include_disabled(true)
            .include_deprecated(true)
            .send()
            .await;
        match result {
            Ok(output) => output.images().iter().find(|image| image.image_id() == Some(id)).cloned(),
            Err(error) if error.code() == Some("InvalidAMIID.NotFound") => None,
            Err(error) => panic!("DescribeImages {id} in {region}: {error:?}"),
        }
    }

    /// The ids of the account's snapshots in `region`, sorted.
    pub async fn snapshot_ids(&self, region: &str) -> Vec<String> {
        let snapshots = self
            .ec2(region)
            .describe_snapshots()
            .owner_ids("self")
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .unwrap_or_else(|e| panic!("DescribeSnapshots in {region}: {e:?}"));
        let mut ids: Vec<String> = snapshots.iter().filter_map(|s| s.snapshot_id().map(str::to_owned)).collect();
        ids.sort();
        ids
    }

    /// The tags of an EC2 resource (image, snapshot, volume, ...).
    pub async fn resource_tags(&self, region: &str, id: &str) -> BTreeMap<String, String> {
        let output = self
            .ec2(region)
            .describe_tags()
            .filters(aws_sdk_ec2::types::Filter::builder().name("resource-id").values(id).build())
            .send()
            .await
            .unwrap_or_else(|e| panic!("DescribeTags {id} in {region}: {e:?}"));
        output
            .tags()
            .iter()
            .filter_map(|tag| Some((tag.key()?.to_owned(), tag.value().unwrap_or_default().to_owned())))
            .collect()
    }

    /// Puts a parameter of any type (overwriting).
    pub async fn put_parameter(&self, region: &str, name: &str, value: &str, kind: ParameterType) {
        self.ssm(region)
            .put_parameter()
            .name(name)
            .value(value)
            .r#type(kind)
            .overwrite(true)
            .send()
            .await
            .unwrap_or_else(|e| panic!("PutParameter {name} in {region}: {e:?}"));
    }

    /// The AMI the fixture's instances run in `region`.
    async fn base_ami(&self, region: &str) -> String {
        if let Some(ami) = self.state.lock().await.base_ami.get(region) {
            return ami.clone();
        }
        let ec2 = self.ec2(region);
        let known = ec2
            .describe_images()
            .set_image_ids(Some(KNOWN_AMIS.iter().map(|id| (*id).to_owned()).collect()))
            .send()
            .await
            .ok()
            .and_then(|output| output.images().iter().find_map(|image| image.image_id().map(str::to_owned)));
        let ami = match known {
            Some(ami) => ami,
            None => {
                let output = ec2
                    .describe_images()
                    .owners("amazon")
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("DescribeImages (owner amazon) in {region}: {e:?}"));
                let mut ids: Vec<&str> = output.images().iter().filter_map(|image| image.image_id()).collect();
                ids.sort_unstable();
                ids.first().unwrap_or_else(|| panic!("moto knows no AMI in {region}")).to_string()
            }
        };
        self.state.lock().await.base_ami.insert(region.to_owned(), ami.clone());
        ami
    }

    /// The instance the fixture makes images from in `region`.
    async fn builder_instance(&self, region: &str) -> String {
        if let Some(instance) = self.state.lock().await.builder.get(region) {
            return instance.clone();
        }
        let instance = self.instance(region).await;
        self.state.lock().await.builder.insert(region.to_owned(), instance.clone());
        instance
    }

    async fn describe_stack(&self, region: &str, name: &str) -> Option<aws_sdk_cloudformation::types::Stack> {
        match self.cloudformation(region).describe_stacks().stack_name(name).send().await {
            Ok(output) => output.stacks().first().cloned(),
            Err(error) => {
                let message = format!("{error:?}");
                assert!(message.contains("does not exist"), "DescribeStacks {name} in {region}: {message}");
                None
            }
        }
    }
}

fn tag_specification(resource: ResourceType, tags: &BTreeMap<String, String>) -> TagSpecification {
    let tags = tags.iter().map(|(key, value)| Tag::builder().key(key).value(value).build()).collect();
    TagSpecification::builder().resource_type(resource).set_tags(Some(tags)).build()
}

/// Sleeps until the wall clock is past the second `created` falls in.
async fn wait_for_next_second(created: OffsetDateTime) {
    let next = created.replace_nanosecond(0).expect("0 ns is valid") + Duration::from_secs(1);
    let now = OffsetDateTime::now_utc();
    if now < next {
        let wait = Duration::try_from(next - now).unwrap_or_default() + Duration::from_millis(20);
        tokio::time::sleep(wait).await;
    }
}

/// The tags of an EC2 resource as the SDK describes them.
fn tag_map(tags: &[Tag]) -> Tags {
    tags.iter().filter_map(|tag| Some((tag.key()?.to_owned(), tag.value().unwrap_or_default().to_owned()))).collect()
}

/// An SDK timestamp as an [`OffsetDateTime`].
fn offset_date_time(at: &aws_smithy_types::DateTime) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(at.secs()) * 1_000_000_000 + i128::from(at.subsec_nanos()))
        .unwrap_or_else(|e| panic!("timestamp {at} out of range: {e}"))
}

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
    fn lacks(&self) -> &'static [&'static str] {
        &["rbin:ListRules"]
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
        let snapshots = self
            .ec2(region)
            .describe_snapshots()
            .owner_ids("self")
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .unwrap_or_else(|e| panic!("DescribeSnapshots in {region}: {e:?}"));
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
