//! [`MotoFixture`]: the conformance fixture over `moto_server`, set up and read with the raw
//! AWS SDK clients.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use amikeeper::conformance::{Fixture, ImageSpec};
use amikeeper::model::{ImageId, Tags};
use aws_config::SdkConfig;
use aws_sdk_ec2::types::{RequestLaunchTemplateData, ResourceType, Tag, TagSpecification};
use aws_sdk_ssm::types::ParameterType;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::sync::Mutex;

use super::server::MotoServer;
use crate::SdkAws;

/// The instance type of the instances the fixture runs.
pub const FIXTURE_INSTANCE_TYPE: &str = "t3.micro";

/// AMIs moto knows in every region (from its bundled `amis.json`); the first one moto
/// describes is what the fixture's instances run. When none is known, any AMI owned by
/// `amazon` is used.
pub(super) const KNOWN_AMIS: &[&str] = &["ami-760aaa0f", "ami-03cf127a"];

/// How long a stack may take to reach a stable status.
pub(super) const STACK_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Default)]
pub(super) struct State {
    /// The AMI instances run, per region.
    pub(super) base_ami: HashMap<String, String>,
    /// The instance images are made from, per region.
    pub(super) builder: HashMap<String, String>,
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
/// one-second resolution too; [`volume_snapshot`](amikeeper::conformance::SweepFixture::volume_snapshot) waits the
/// same way.
pub struct MotoFixture {
    pub(super) aws: Arc<SdkAws>,
    pub(super) config: SdkConfig,
    pub(super) state: Mutex<State>,
    /// The server, when the fixture started it ([`start`](Self::start)).
    server: Option<MotoServer>,
}

impl MotoFixture {
    /// A fixture over `server`, whose backend's default region is
    /// [`MAIN_REGION`](amikeeper::conformance::MAIN_REGION).
    pub async fn new(server: &MotoServer) -> Self {
        Self::with_backend(server.sdk_aws(amikeeper::conformance::MAIN_REGION).await)
    }

    /// A fixture over a server of its own, which lives as long as the fixture; `None` when
    /// moto is not installed (and not required: see [`MotoServer::start`]).
    pub async fn start() -> Option<Self> {
        let server = MotoServer::start()?;
        let fixture = Self::new(&server).await;
        Some(Self { server: Some(server), ..fixture })
    }

    /// A fixture whose backend is `aws`; the raw clients are made from its configuration.
    pub fn with_backend(aws: SdkAws) -> Self {
        let config = aws.sdk_config().clone();
        Self { aws: Arc::new(aws), config, state: Mutex::new(State::default()), server: None }
    }

    /// The server the fixture started, if it did.
    pub fn server(&self) -> Option<&MotoServer> {
        self.server.as_ref()
    }

    /// The backend under test.
    pub fn sdk_aws(&self) -> &Arc<SdkAws> {
        &self.aws
    }

    /// The SDK configuration of the backend, in `region`.
    pub(super) fn config_in(&self, region: &str) -> SdkConfig {
        self.config.to_builder().region(aws_config::Region::new(region.to_owned())).build()
    }

    /// A raw EC2 client of `region`.
    pub fn ec2(&self, region: &str) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::new(&self.config_in(region))
    }

    /// A raw SSM client of `region`.
    pub fn ssm(&self, region: &str) -> aws_sdk_ssm::Client {
        aws_sdk_ssm::Client::new(&self.config_in(region))
    }

    /// A raw Auto Scaling client of `region`.
    pub fn autoscaling(&self, region: &str) -> aws_sdk_autoscaling::Client {
        aws_sdk_autoscaling::Client::new(&self.config_in(region))
    }

    /// A raw CloudFormation client of `region`.
    pub fn cloudformation(&self, region: &str) -> aws_sdk_cloudformation::Client {
        aws_sdk_cloudformation::Client::new(&self.config_in(region))
    }

    /// Launch configuration `name` in `region`, launching `image`.
    pub async fn launch_configuration(&self, region: &str, name: &str, image: &ImageId) {
        self.autoscaling(region)
            .create_launch_configuration()
            .launch_configuration_name(name)
            .image_id(image.as_str())
            .instance_type(FIXTURE_INSTANCE_TYPE)
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateLaunchConfiguration {name} in {region}: {e:?}"));
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
        let call = self.ec2(region).stop_instances().instance_ids(instance);
        call.send().await.unwrap_or_else(|e| panic!("StopInstances {instance} in {region}: {e:?}"));
    }

    /// Terminates an instance (moto terminates it at once).
    pub async fn terminate_instance(&self, region: &str, instance: &str) {
        let call = self.ec2(region).terminate_instances().instance_ids(instance);
        call.send().await.unwrap_or_else(|e| panic!("TerminateInstances {instance} in {region}: {e:?}"));
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
        let call = self.ec2(region).attach_volume().volume_id(volume).instance_id(instance).device(device);
        call.send().await.unwrap_or_else(|e| panic!("AttachVolume {volume} to {instance} in {region}: {e:?}"));
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
        let snapshots = self.own_raw_snapshots(region).await;
        let mut ids: Vec<String> = snapshots.iter().filter_map(|s| s.snapshot_id().map(str::to_owned)).collect();
        ids.sort();
        ids
    }

    /// The account's snapshots in `region`, as EC2 describes them.
    pub(super) async fn own_raw_snapshots(&self, region: &str) -> Vec<aws_sdk_ec2::types::Snapshot> {
        self.ec2(region)
            .describe_snapshots()
            .owner_ids("self")
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .unwrap_or_else(|e| panic!("DescribeSnapshots in {region}: {e:?}"))
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
    pub(super) async fn base_ami(&self, region: &str) -> String {
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
    pub(super) async fn builder_instance(&self, region: &str) -> String {
        if let Some(instance) = self.state.lock().await.builder.get(region) {
            return instance.clone();
        }
        let instance = self.instance(region).await;
        self.state.lock().await.builder.insert(region.to_owned(), instance.clone());
        instance
    }

    pub(super) async fn describe_stack(
        &self,
        region: &str,
        name: &str,
    ) -> Option<aws_sdk_cloudformation::types::Stack> {
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

pub(super) fn tag_specification(resource: ResourceType, tags: &BTreeMap<String, String>) -> TagSpecification {
    let tags = tags.iter().map(|(key, value)| Tag::builder().key(key).value(value).build()).collect();
    TagSpecification::builder().resource_type(resource).set_tags(Some(tags)).build()
}

/// Sleeps until the wall clock is past the second `created` falls in.
pub(super) async fn wait_for_next_second(created: OffsetDateTime) {
    let next = created.replace_nanosecond(0).expect("0 ns is valid") + Duration::from_secs(1);
    let now = OffsetDateTime::now_utc();
    if now < next {
        let wait = Duration::try_from(next - now).unwrap_or_default() + Duration::from_millis(20);
        tokio::time::sleep(wait).await;
    }
}

/// The tags of an EC2 resource as the SDK describes them.
pub(super) fn tag_map(tags: &[Tag]) -> Tags {
    tags.iter().filter_map(|tag| Some((tag.key()?.to_owned(), tag.value().unwrap_or_default().to_owned()))).collect()
}

/// An SDK timestamp as an [`OffsetDateTime`].
pub(super) fn offset_date_time(at: &aws_smithy_types::DateTime) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(at.secs()) * 1_000_000_000 + i128::from(at.subsec_nanos()))
        .unwrap_or_else(|e| panic!("timestamp {at} out of range: {e}"))
}
