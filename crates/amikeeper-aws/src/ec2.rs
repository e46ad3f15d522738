//! [`Ec2Api`] over `aws-sdk-ec2`: images, snapshots, volumes, instances and launch templates.

use amikeeper::backend::{AwsResult, Ec2Api, IMAGE_REFERENCES_PER_CALL};
use amikeeper::model::{
    AccountId, AllowedImagesSettings, AllowedImagesState, CopyImage, CreateImage, Image, ImageCriterion, ImageId,
    ImageReference, ImageState, Instance, LaunchTemplate, LaunchTemplateRef, LaunchTemplateVersion, Region, Snapshot,
    SnapshotState, Tags, Volume,
};
use amikeeper::{AwsError, AwsErrorKind};
use async_trait::async_trait;
use aws_sdk_ec2::types::{self as ec2, Filter, RequestLaunchTemplateData, ResourceType, TagSpecification};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::error::{from_sdk_error, invalid_response};
use crate::SdkAws;

const SERVICE: &str = "ec2";

/// The `TagSpecifications` that tag a new image as it is made; `None` for no tags.
fn image_tags(tags: &Tags) -> Option<Vec<TagSpecification>> {
    (!tags.is_empty()).then(|| {
        vec![TagSpecification::builder().resource_type(ResourceType::Image).set_tags(Some(tag_list(tags))).build()]
    })
}

/// `DeleteLaunchTemplateVersions` takes at most this many versions per call.
const DELETE_VERSIONS_BATCH: usize = 200;

/// Codes for which `describe_image` answers `None`: the image does not exist or cannot.
const IMAGE_NOT_FOUND_CODES: &[&str] = &["InvalidAMIID.NotFound", "InvalidAMIID.Malformed", "InvalidAMIID.Unavailable"];

/// Codes for which `describe_launch_template` answers `None`.
const TEMPLATE_NOT_FOUND_CODES: &[&str] = &[
    "InvalidLaunchTemplateId.NotFound",
    "InvalidLaunchTemplateId.Malformed",
    "InvalidLaunchTemplateName.NotFoundException",
    "InvalidLaunchTemplateName.MalformedException",
];

/// Codes that say an image is gone: unknown, or deregistered (`Unavailable`). The generic
/// mapping calls `InvalidAMIID.Unavailable` a client error; for the image operations of the
/// sweep it means the work is already done, so they map it to [`AwsErrorKind::NotFound`].
const IMAGE_GONE_CODES: &[&str] = &["InvalidAMIID.NotFound", "InvalidAMIID.Unavailable"];

/// The states `describe_instances` asks for: every state but `terminated`.
const LIVE_INSTANCE_STATES: &[&str] = &["pending", "running", "shutting-down", "stopping", "stopped"];

/// `CreateTags` takes at most this many resources per call.
const CREATE_TAGS_BATCH: usize = 1000;

fn map_err<E>(operation: &'static str) -> impl FnOnce(SdkError<E, HttpResponse>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    move |error| from_sdk_error(SERVICE, operation, error)
}

/// Like [`map_err`], but an image that is gone (even deregistered) is
/// [`AwsErrorKind::NotFound`].
fn map_image_err<E>(operation: &'static str) -> impl FnOnce(SdkError<E, HttpResponse>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    move |error| {
        let mut error = from_sdk_error(SERVICE, operation, error);
        if IMAGE_GONE_CODES.contains(&error.code.as_str()) {
            error.kind = AwsErrorKind::NotFound;
        }
        error
    }
}

/// An SDK timestamp as an [`OffsetDateTime`] (`None` when out of range).
fn datetime_from_sdk(value: &aws_smithy_types::DateTime) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(value.as_nanos()).ok()
}

/// An [`OffsetDateTime`] as an SDK timestamp (whole seconds and nanoseconds).
fn datetime_to_sdk(value: OffsetDateTime) -> aws_smithy_types::DateTime {
    aws_smithy_types::DateTime::from_secs_and_nanos(value.unix_timestamp(), value.nanosecond())
}

fn tags(tags: &[ec2::Tag]) -> Tags {
    tags.iter().filter_map(|tag| Some((tag.key()?.to_owned(), tag.value().unwrap_or_default().to_owned()))).collect()
}

/// An SDK image to amikeeper's; fails when the image has no id or no readable creation date
/// (an image of unknown age must not be ordered, nor deleted as "old").
pub(crate) fn image_from_sdk(image: &ec2::Image) -> AwsResult<Image> {
    let id = image.image_id().ok_or_else(|| invalid_response(SERVICE, "DescribeImages", "an image without ImageId"))?;
    let created = image
        .creation_date()
        .ok_or_else(|| invalid_response(SERVICE, "DescribeImages", format!("image {id} has no CreationDate")))?;
    let created = OffsetDateTime::parse(created, &Rfc3339).map_err(|error| {
        invalid_response(
            SERVICE,
            "DescribeImages",
            format!("image {id} has an unreadable CreationDate `{created}`: {error}"),
        )
    })?;
    Ok(Image {
        id: ImageId::new(id),
        name: image.name().unwrap_or_default().to_owned(),
        description: image.description().map(str::to_owned),
        state: image.state().map_or(ImageState::Other, |state| ImageState::parse(state.as_str())),
        created,
        owner: AccountId::new(image.owner_id().unwrap_or_default()),
        tags: tags(image.tags()),
        snapshot_ids: image
            .block_device_mappings()
            .iter()
            .filter_map(|mapping| mapping.ebs()?.snapshot_id())
            .map(str::to_owned)
            .collect(),
        deprecated_at: deprecation_time(id, image.deprecation_time()),
        last_launched: deprecation_time(id, image.last_launched_time()),
        deregistration_protected: image.deregistration_protection().is_some_and(|p| p.starts_with("enabled")),
        deregistration_protection_cooldown: image.deregistration_protection().is_some_and(protection_has_cooldown),
        allowed: image.image_allowed(),
    })
}

/// Whether `DeregistrationProtection` says the protection is on in a way amikeeper never turns
/// it on. EC2 reports `enabled-without-cooldown` for the protection amikeeper turns on (moto
/// says `enabled`), `enabled-with-cooldown` with the 24-hour cooldown; an `enabled…` value
/// not known here counts as having one, so that it is never taken for amikeeper's.
fn protection_has_cooldown(value: &str) -> bool {
    value.starts_with("enabled") && !matches!(value, "enabled-without-cooldown" | "enabled")
}

/// An SDK `GetAllowedImagesSettings` answer to amikeeper's settings. A missing state reads as
/// `disabled` (EC2's default); one amikeeper does not know is kept as
/// [`AllowedImagesState::Other`], which amikeeper treats as `enabled`.
pub(crate) fn allowed_images_settings_from_sdk(
    output: &aws_sdk_ec2::operation::get_allowed_images_settings::GetAllowedImagesSettingsOutput,
) -> AllowedImagesSettings {
    let state = output.state().map_or(AllowedImagesState::Disabled, AllowedImagesState::parse);
    let image_criteria = output
        .image_criteria()
        .iter()
        .map(|criterion| ImageCriterion {
            image_providers: criterion.image_providers().to_vec(),
            image_names: criterion.image_names().to_vec(),
            marketplace_product_codes: criterion.marketplace_product_codes().to_vec(),
            max_days_since_created: criterion
                .creation_date_condition()
                .and_then(|c| c.maximum_days_since_created())
                .and_then(|days| u32::try_from(days).ok()),
            max_days_since_deprecated: criterion
                .deprecation_time_condition()
                .and_then(|c| c.maximum_days_since_deprecated())
                .and_then(|days| u32::try_from(days).ok()),
        })
        .collect();
    AllowedImagesSettings { state, image_criteria, managed_by: output.managed_by().map(|m| m.as_str().to_owned()) }
}

/// An image's `DeprecationTime` or `LastLaunchedTime`, read tolerantly: `None` when absent or
/// unreadable (with a warning), so that one odd value does not hide the image.
fn deprecation_time(image_id: &str, value: Option<&str>) -> Option<OffsetDateTime> {
    let value = value?.trim();
    if value.is_empty() {
        return None;
    }
    match OffsetDateTime::parse(value, &Rfc3339) {
        Ok(time) => Some(time),
        Err(error) => {
            tracing::warn!(image_id, value, %error, "ignoring an unreadable image time");
            None
        }
    }
}

/// An SDK snapshot to amikeeper's; fails when it has no id or no start time (a snapshot of
/// unknown age must not be deleted as "old").
pub(crate) fn snapshot_from_sdk(snapshot: &ec2::Snapshot) -> AwsResult<Snapshot> {
    let id = snapshot
        .snapshot_id()
        .ok_or_else(|| invalid_response(SERVICE, "DescribeSnapshots", "a snapshot without SnapshotId"))?;
    let started = snapshot
        .start_time()
        .and_then(datetime_from_sdk)
        .ok_or_else(|| invalid_response(SERVICE, "DescribeSnapshots", format!("snapshot {id} has no StartTime")))?;
    Ok(Snapshot {
        id: id.to_owned(),
        volume_id: snapshot.volume_id().map(str::to_owned),
        state: snapshot.state().map_or(SnapshotState::Other, |state| SnapshotState::parse(state.as_str())),
        started,
        description: snapshot.description().map(str::to_owned),
        tags: tags(snapshot.tags()),
    })
}

pub(crate) fn volume_from_sdk(volume: &ec2::Volume) -> AwsResult<Volume> {
    let id =
        volume.volume_id().ok_or_else(|| invalid_response(SERVICE, "DescribeVolumes", "a volume without VolumeId"))?;
    Ok(Volume {
        id: id.to_owned(),
        instance_ids: volume
            .attachments()
            .iter()
            .filter_map(|attachment| attachment.instance_id())
            .map(str::to_owned)
            .collect(),
        tags: tags(volume.tags()),
    })
}

/// An SDK instance to amikeeper's; `None` for a terminated instance or one without an AMI
/// (it keeps no image in use).
pub(crate) fn instance_from_sdk(instance: &ec2::Instance) -> AwsResult<Option<Instance>> {
    let id = instance
        .instance_id()
        .ok_or_else(|| invalid_response(SERVICE, "DescribeInstances", "an instance without InstanceId"))?;
    let state = instance.state().and_then(|state| state.name()).map(|name| name.as_str().to_owned());
    if state.as_deref() == Some("terminated") {
        return Ok(None);
    }
    let Some(image_id) = instance.image_id().filter(|image| !image.is_empty()) else {
        tracing::warn!(instance_id = id, "an instance without ImageId");
        return Ok(None);
    };
    Ok(Some(Instance { id: id.to_owned(), image_id: ImageId::new(image_id), state: state.unwrap_or_default() }))
}

/// An SDK image reference to amikeeper's; fails without an image id (a reference that cannot
/// be told apart must not be dropped: it may be what keeps an image in use).
pub(crate) fn image_reference_from_sdk(reference: &ec2::ImageReference) -> AwsResult<ImageReference> {
    let image_id = reference.image_id().filter(|id| !id.is_empty()).ok_or_else(|| {
        invalid_response(
            SERVICE,
            "DescribeImageReferences",
            format!("a reference without ImageId (arn {:?})", reference.arn().unwrap_or_default()),
        )
    })?;
    Ok(ImageReference {
        image_id: ImageId::new(image_id),
        resource_type: reference.resource_type().map(|kind| kind.as_str().to_owned()).unwrap_or_default(),
        arn: reference.arn().unwrap_or_default().to_owned(),
    })
}

/// The snapshots `DeregisterImage` reports deleted (`ReturnCode` `success`); the others are
/// logged.
pub(crate) fn deleted_snapshots(image_id: &ImageId, results: &[ec2::DeleteSnapshotReturnCode]) -> Vec<String> {
    let mut deleted = Vec::new();
    for result in results {
        let Some(snapshot_id) = result.snapshot_id() else { continue };
        match result.return_code() {
            Some(ec2::SnapshotReturnCodes::Success) => deleted.push(snapshot_id.to_owned()),
            code => tracing::warn!(
                %image_id, snapshot_id, code = ?code.map(|code| code.as_str()),
                "EC2 kept a snapshot of the deregistered image"
            ),
        }
    }
    deleted
}

fn tag_list(tags: &Tags) -> Vec<ec2::Tag> {
    tags.iter().map(|(key, value)| ec2::Tag::builder().key(key).value(value).build()).collect()
}

pub(crate) fn launch_template_from_sdk(template: &ec2::LaunchTemplate) -> AwsResult<LaunchTemplate> {
    let id = template.launch_template_id().ok_or_else(|| {
        invalid_response(SERVICE, "DescribeLaunchTemplates", "a launch template without LaunchTemplateId")
    })?;
    Ok(LaunchTemplate {
        id: id.to_owned(),
        name: template.launch_template_name().unwrap_or_default().to_owned(),
        default_version: template.default_version_number().unwrap_or_default(),
        latest_version: template.latest_version_number().unwrap_or_default(),
        tags: tags(template.tags()),
    })
}

pub(crate) fn launch_template_version_from_sdk(
    version: &ec2::LaunchTemplateVersion,
) -> AwsResult<LaunchTemplateVersion> {
    let number = version.version_number().ok_or_else(|| {
        invalid_response(SERVICE, "DescribeLaunchTemplateVersions", "a version without VersionNumber")
    })?;
    Ok(LaunchTemplateVersion {
        number,
        image_id: version.launch_template_data().and_then(|data| data.image_id()).map(ImageId::new),
        description: version.version_description().map(str::to_owned),
        is_default: version.default_version().unwrap_or(false),
    })
}

/// The versions EC2 refused to delete, as `(version, "code: message")`.
pub(crate) fn refused_versions(items: &[ec2::DeleteLaunchTemplateVersionsResponseErrorItem]) -> Vec<(i64, String)> {
    items
        .iter()
        .map(|item| {
            let error = item.response_error();
            let code = error.and_then(|e| e.code()).map_or("Unknown", |code| code.as_str());
            let message = error.and_then(|e| e.message()).unwrap_or_default();
            (item.version_number().unwrap_or_default(), format!("{code}: {message}"))
        })
        .collect()
}

#[async_trait]
impl Ec2Api for SdkAws {
    async fn describe_image(&self, region: &Region, image_id: &ImageId) -> AwsResult<Option<Image>> {
        let client = self.ec2(region)?;
        let result = client
            .describe_images()
            .image_ids(image_id.as_str())
            // Disabled images are left out unless asked for; amikeeper must see them to skip them.
            .include_disabled(true)
            .include_deprecated(true)
            .send()
            .await;
        let output = match result {
            Ok(output) => output,
            Err(error) if error.code().is_some_and(|code| IMAGE_NOT_FOUND_CODES.contains(&code)) => {
                tracing::debug!(%region, %image_id, code = ?error.code(), "image not found");
                return Ok(None);
            }
            Err(error) => return Err(from_sdk_error(SERVICE, "DescribeImages", error)),
        };
        output.images().iter().find(|image| image.image_id() == Some(image_id.as_str())).map(image_from_sdk).transpose()
    }

    async fn describe_image_references(
        &self,
        region: &Region,
        image_ids: &[ImageId],
    ) -> AwsResult<Vec<ImageReference>> {
        if image_ids.is_empty() {
            return Ok(Vec::new());
        }
        let client = self.ec2(region)?;
        let mut references = Vec::new();
        // The trait asks for at most IMAGE_REFERENCES_PER_CALL ids; more are split, not refused.
        for batch in image_ids.chunks(IMAGE_REFERENCES_PER_CALL) {
            let ids = batch.iter().map(|id| id.as_str().to_owned()).collect();
            let items = client
                .describe_image_references()
                .set_image_ids(Some(ids))
                .include_all_resource_types(true)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(map_err("DescribeImageReferences"))?;
            for item in &items {
                references.push(image_reference_from_sdk(item)?);
            }
        }
        tracing::debug!(%region, images = image_ids.len(), references = references.len(), "described image references");
        Ok(references)
    }

    async fn create_image(&self, region: &Region, request: &CreateImage) -> AwsResult<ImageId> {
        let client = self.ec2(region)?;
        let call = client
            .create_image()
            .instance_id(&request.instance_id)
            .name(&request.name)
            .set_description(request.description.clone())
            .no_reboot(request.no_reboot)
            .set_tag_specifications(image_tags(&request.tags));
        let output = call.send().await.map_err(map_err("CreateImage"))?;
        let image_id =
            output.image_id().ok_or_else(|| invalid_response(SERVICE, "CreateImage", "no ImageId in the response"))?;
        tracing::info!(%region, instance_id = %request.instance_id, %image_id, "created image");
        Ok(ImageId::new(image_id))
    }

    async fn copy_image(&self, region: &Region, request: &CopyImage) -> AwsResult<ImageId> {
        let client = self.ec2(region)?;
        let call = client
            .copy_image()
            .source_region(request.source_region.as_str())
            .source_image_id(request.source_image_id.as_str())
            .name(&request.name)
            .set_description(request.description.clone())
            .client_token(&request.client_token)
            .set_tag_specifications(image_tags(&request.tags));
        let output = call.send().await.map_err(map_err("CopyImage"))?;
        let image_id =
            output.image_id().ok_or_else(|| invalid_response(SERVICE, "CopyImage", "no ImageId in the response"))?;
        tracing::info!(%region, source = %request.source_image_id, %image_id, "copied image");
        Ok(ImageId::new(image_id))
    }

    async fn share_image(&self, region: &Region, image_id: &ImageId, account: &AccountId) -> AwsResult<()> {
        let client = self.ec2(region)?;
        let permission = ec2::LaunchPermission::builder().user_id(account.as_str()).build();
        client
            .modify_image_attribute()
            .image_id(image_id.as_str())
            .launch_permission(ec2::LaunchPermissionModifications::builder().add(permission).build())
            .send()
            .await
            .map_err(map_err("ModifyImageAttribute"))?;
        tracing::info!(%region, %image_id, %account, "shared image");
        Ok(())
    }

    async fn share_snapshot(&self, region: &Region, snapshot_id: &str, account: &AccountId) -> AwsResult<()> {
        let client = self.ec2(region)?;
        // The `OperationType` + `UserIds` form of the call (EC2 takes it as well as
        // `CreateVolumePermission.Add`; moto reads only this one).
        client
            .modify_snapshot_attribute()
            .snapshot_id(snapshot_id)
            .attribute(ec2::SnapshotAttributeName::CreateVolumePermission)
            .operation_type(ec2::OperationType::Add)
            .user_ids(account.as_str())
            .send()
            .await
            .map_err(map_err("ModifySnapshotAttribute"))?;
        tracing::info!(%region, snapshot_id, %account, "shared snapshot");
        Ok(())
    }

    async fn describe_images_tagged(&self, region: &Region, key: &str, value: &str) -> AwsResult<Vec<Image>> {
        let client = self.ec2(region)?;
        let filter = Filter::builder().name(format!("tag:{key}")).values(value).build();
        let images = client
            .describe_images()
            .owners("self")
            .filters(filter)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(map_err("DescribeImages"))?;
        images.iter().map(image_from_sdk).collect()
    }

    async fn describe_launch_template(
        &self,
        region: &Region,
        template: &LaunchTemplateRef,
    ) -> AwsResult<Option<LaunchTemplate>> {
        let client = self.ec2(region)?;
        let call = client.describe_launch_templates();
        let call = match template {
            LaunchTemplateRef::Id(id) => call.launch_template_ids(id),
            LaunchTemplateRef::Name(name) => call.launch_template_names(name),
        };
        let output = match call.send().await {
            Ok(output) => output,
            Err(error) if error.code().is_some_and(|code| TEMPLATE_NOT_FOUND_CODES.contains(&code)) => {
                tracing::debug!(%region, %template, code = ?error.code(), "launch template not found");
                return Ok(None);
            }
            Err(error) => return Err(from_sdk_error(SERVICE, "DescribeLaunchTemplates", error)),
        };
        output.launch_templates().first().map(launch_template_from_sdk).transpose()
    }

    async fn describe_launch_template_versions(
        &self,
        region: &Region,
        template_id: &str,
    ) -> AwsResult<Vec<LaunchTemplateVersion>> {
        let client = self.ec2(region)?;
        let versions = client
            .describe_launch_template_versions()
            .launch_template_id(template_id)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(map_err("DescribeLaunchTemplateVersions"))?;
        let mut versions = versions.iter().map(launch_template_version_from_sdk).collect::<AwsResult<Vec<_>>>()?;
        versions.sort_by_key(|version| std::cmp::Reverse(version.number));
        Ok(versions)
    }

    async fn create_launch_template_version(
        &self,
        region: &Region,
        template_id: &str,
        source_version: i64,
        image_id: &ImageId,
        description: &str,
    ) -> AwsResult<i64> {
        let client = self.ec2(region)?;
        let output = client
            .create_launch_template_version()
            .launch_template_id(template_id)
            .source_version(source_version.to_string())
            .version_description(description)
            .launch_template_data(RequestLaunchTemplateData::builder().image_id(image_id.as_str()).build())
            .send()
            .await
            .map_err(map_err("CreateLaunchTemplateVersion"))?;
        if let Some(warning) = output.warning() {
            for error in warning.errors() {
                tracing::warn!(
                    %region, template_id, code = ?error.code(), message = ?error.message(),
                    "EC2 warned about the new launch template version"
                );
            }
        }
        let version =
            output.launch_template_version().and_then(|version| version.version_number()).ok_or_else(|| {
                invalid_response(SERVICE, "CreateLaunchTemplateVersion", "no VersionNumber in the response")
            })?;
        tracing::info!(%region, template_id, source_version, version, %image_id, "created launch template version");
        Ok(version)
    }

    async fn set_default_launch_template_version(
        &self,
        region: &Region,
        template_id: &str,
        version: i64,
    ) -> AwsResult<i64> {
        let client = self.ec2(region)?;
        let output = client
            .modify_launch_template()
            .launch_template_id(template_id)
            .default_version(version.to_string())
            .send()
            .await
            .map_err(map_err("ModifyLaunchTemplate"))?;
        tracing::info!(%region, template_id, version, "set the default launch template version");
        Ok(output.launch_template().and_then(|t| t.latest_version_number()).unwrap_or(0))
    }

    async fn delete_launch_template_versions(
        &self,
        region: &Region,
        template_id: &str,
        versions: &[i64],
    ) -> AwsResult<Vec<(i64, String)>> {
        let client = self.ec2(region)?;
        let mut refused = Vec::new();
        for batch in versions.chunks(DELETE_VERSIONS_BATCH) {
            let output = client
                .delete_launch_template_versions()
                .launch_template_id(template_id)
                .set_versions(Some(batch.iter().map(i64::to_string).collect()))
                .send()
                .await
                .map_err(map_err("DeleteLaunchTemplateVersions"))?;
            refused.extend(refused_versions(output.unsuccessfully_deleted_launch_template_versions()));
        }
        tracing::info!(%region, template_id, asked = versions.len(), refused = refused.len(), "deleted launch template versions");
        Ok(refused)
    }

    async fn describe_own_images(&self, region: &Region) -> AwsResult<Vec<Image>> {
        let client = self.ec2(region)?;
        let images = client
            .describe_images()
            .owners("self")
            .include_deprecated(true)
            .include_disabled(true)
            // Without MaxResults EC2 answers with every image at once; pages keep answers small.
            .max_results(1000)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(map_err("DescribeImages"))?;
        let images = images.iter().map(image_from_sdk).collect::<AwsResult<Vec<_>>>()?;
        tracing::debug!(%region, images = images.len(), "described own images");
        Ok(images)
    }

    async fn describe_own_snapshots(&self, region: &Region) -> AwsResult<Vec<Snapshot>> {
        let client = self.ec2(region)?;
        let snapshots = client
            .describe_snapshots()
            .owner_ids("self")
            .max_results(1000)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(map_err("DescribeSnapshots"))?;
        let snapshots = snapshots.iter().map(snapshot_from_sdk).collect::<AwsResult<Vec<_>>>()?;
        tracing::debug!(%region, snapshots = snapshots.len(), "described own snapshots");
        Ok(snapshots)
    }

    async fn describe_snapshots_tagged(&self, region: &Region, tag_key: &str) -> AwsResult<Vec<Snapshot>> {
        let client = self.ec2(region)?;
        let snapshots = client
            .describe_snapshots()
            .owner_ids("self")
            .filters(Filter::builder().name("tag-key").values(tag_key).build())
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(map_err("DescribeSnapshots"))?;
        snapshots.iter().map(snapshot_from_sdk).collect()
    }

    async fn describe_volumes_tagged(&self, region: &Region, tag_key: &str) -> AwsResult<Vec<Volume>> {
        let client = self.ec2(region)?;
        let volumes = client
            .describe_volumes()
            .filters(Filter::builder().name("tag-key").values(tag_key).build())
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(map_err("DescribeVolumes"))?;
        volumes.iter().map(volume_from_sdk).collect()
    }

    async fn describe_instances(&self, region: &Region) -> AwsResult<Vec<Instance>> {
        let client = self.ec2(region)?;
        let states = LIVE_INSTANCE_STATES.iter().map(|state| (*state).to_owned()).collect();
        let reservations = client
            .describe_instances()
            .filters(Filter::builder().name("instance-state-name").set_values(Some(states)).build())
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(map_err("DescribeInstances"))?;
        let mut instances = Vec::new();
        for reservation in &reservations {
            for instance in reservation.instances() {
                instances.extend(instance_from_sdk(instance)?);
            }
        }
        Ok(instances)
    }

    async fn describe_launch_templates(&self, region: &Region) -> AwsResult<Vec<LaunchTemplate>> {
        let client = self.ec2(region)?;
        let templates = client
            .describe_launch_templates()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(map_err("DescribeLaunchTemplates"))?;
        templates.iter().map(launch_template_from_sdk).collect()
    }

    async fn deregister_image(
        &self,
        region: &Region,
        image_id: &ImageId,
        delete_snapshots: bool,
    ) -> AwsResult<Vec<String>> {
        let client = self.ec2(region)?;
        let mut call = client.deregister_image().image_id(image_id.as_str());
        if delete_snapshots {
            call = call.delete_associated_snapshots(true);
        }
        let output = call.send().await.map_err(map_image_err("DeregisterImage"))?;
        let deleted = deleted_snapshots(image_id, output.delete_snapshot_results());
        tracing::info!(%region, %image_id, delete_snapshots, ?deleted, "deregistered image");
        Ok(deleted)
    }

    async fn delete_snapshot(&self, region: &Region, snapshot_id: &str) -> AwsResult<()> {
        let client = self.ec2(region)?;
        // `InvalidSnapshot.NotFound` maps to `NotFound`; `InvalidSnapshot.InUse` (an image
        // still uses it) stays a client error.
        client.delete_snapshot().snapshot_id(snapshot_id).send().await.map_err(map_err("DeleteSnapshot"))?;
        tracing::info!(%region, snapshot_id, "deleted snapshot");
        Ok(())
    }

    async fn enable_image_deprecation(&self, region: &Region, image_id: &ImageId, at: OffsetDateTime) -> AwsResult<()> {
        let client = self.ec2(region)?;
        client
            .enable_image_deprecation()
            .image_id(image_id.as_str())
            .deprecate_at(datetime_to_sdk(at))
            .send()
            .await
            .map_err(map_image_err("EnableImageDeprecation"))?;
        tracing::info!(%region, %image_id, %at, "enabled image deprecation");
        Ok(())
    }

    async fn disable_image(&self, region: &Region, image_id: &ImageId) -> AwsResult<()> {
        let client = self.ec2(region)?;
        client.disable_image().image_id(image_id.as_str()).send().await.map_err(map_image_err("DisableImage"))?;
        tracing::info!(%region, %image_id, "disabled image");
        Ok(())
    }

    async fn set_deregistration_protection(&self, region: &Region, image_id: &ImageId, enabled: bool) -> AwsResult<()> {
        let client = self.ec2(region)?;
        if enabled {
            let call = client.enable_image_deregistration_protection().image_id(image_id.as_str()).with_cooldown(false);
            call.send().await.map_err(map_err("EnableImageDeregistrationProtection"))?;
        } else {
            let call = client.disable_image_deregistration_protection().image_id(image_id.as_str());
            call.send().await.map_err(map_err("DisableImageDeregistrationProtection"))?;
        }
        tracing::info!(%region, %image_id, enabled, "set deregistration protection");
        Ok(())
    }

    async fn create_tags(&self, region: &Region, resource_ids: &[String], tags: &Tags) -> AwsResult<()> {
        if resource_ids.is_empty() || tags.is_empty() {
            return Ok(());
        }
        let client = self.ec2(region)?;
        for batch in resource_ids.chunks(CREATE_TAGS_BATCH) {
            client
                .create_tags()
                .set_resources(Some(batch.to_vec()))
                .set_tags(Some(tag_list(tags)))
                .send()
                .await
                .map_err(map_err("CreateTags"))?;
        }
        tracing::info!(%region, resources = resource_ids.len(), tags = tags.len(), "tagged resources");
        Ok(())
    }

    async fn get_allowed_images_settings(&self, region: &Region) -> AwsResult<AllowedImagesSettings> {
        let client = self.ec2(region)?;
        let output = client.get_allowed_images_settings().send().await.map_err(map_err("GetAllowedImagesSettings"))?;
        let settings = allowed_images_settings_from_sdk(&output);
        tracing::debug!(%region, state = %settings.state, criteria = settings.image_criteria.len(), "Allowed AMIs");
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn image_reference_maps_every_field() {
        let sdk = ec2::ImageReference::builder()
            .image_id("ami-1")
            .resource_type(ec2::ImageReferenceResourceType::SsmParameter)
            .arn("arn:aws:ssm:us-east-1:111122223333:parameter/web/ami")
            .build();
        let reference = image_reference_from_sdk(&sdk).unwrap();
        assert_eq!(reference.image_id.as_str(), "ami-1");
        assert_eq!(reference.resource_type, "ssm:Parameter");
        assert_eq!(reference.arn, "arn:aws:ssm:us-east-1:111122223333:parameter/web/ami");
        // A resource type newer than the SDK is kept as AWS spells it.
        let newer = ec2::ImageReference::builder()
            .image_id("ami-1")
            .resource_type(ec2::ImageReferenceResourceType::from("batch:ComputeEnvironment"))
            .build();
        assert_eq!(image_reference_from_sdk(&newer).unwrap().resource_type, "batch:ComputeEnvironment");
        let error = image_reference_from_sdk(&ec2::ImageReference::builder().arn("arn:x").build()).unwrap_err();
        assert_eq!((error.code.as_str(), error.operation.as_str()), ("InvalidResponse", "DescribeImageReferences"));
    }

    #[test]
    fn image_maps_every_field() {
        let sdk = ec2::Image::builder()
            .image_id("ami-0123456789abcdef0")
            .name("web-2024-01-02")
            .description("web server")
            .state(ec2::ImageState::Available)
            .creation_date("2024-01-02T03:04:05.000Z")
            .owner_id("111122223333")
            .tags(ec2::Tag::builder().key("amikeeper:rule").value("web").build())
            .tags(ec2::Tag::builder().key("Name").value("web").build())
            .block_device_mappings(
                ec2::BlockDeviceMapping::builder()
                    .device_name("/dev/xvda")
                    .ebs(ec2::EbsBlockDevice::builder().snapshot_id("snap-1").build())
                    .build(),
            )
            .block_device_mappings(
                ec2::BlockDeviceMapping::builder().device_name("/dev/sdb").virtual_name("ephemeral0").build(),
            )
            .block_device_mappings(
                ec2::BlockDeviceMapping::builder()
                    .device_name("/dev/sdc")
                    .ebs(ec2::EbsBlockDevice::builder().snapshot_id("snap-2").build())
                    .build(),
            )
            .build();
        let image = image_from_sdk(&sdk).unwrap();
        assert_eq!(image.id.as_str(), "ami-0123456789abcdef0");
        assert_eq!(image.name, "web-2024-01-02");
        assert_eq!(image.description.as_deref(), Some("web server"));
        assert_eq!(image.state, ImageState::Available);
        assert_eq!(image.created, datetime!(2024-01-02 03:04:05 UTC));
        assert_eq!(image.owner.as_str(), "111122223333");
        assert_eq!(image.tags.get("amikeeper:rule").map(String::as_str), Some("web"));
        assert_eq!(image.tags.len(), 2);
        assert_eq!(image.snapshot_ids, ["snap-1", "snap-2"]);
        assert_eq!(image.deprecated_at, None);
    }

    #[test]
    fn deregistration_protection_is_read_with_its_cooldown() {
        let image = |protection: &str| {
            let sdk = ec2::Image::builder()
                .image_id("ami-1")
                .creation_date("2024-01-02T03:04:05Z")
                .deregistration_protection(protection)
                .build();
            let image = image_from_sdk(&sdk).unwrap();
            (image.deregistration_protected, image.deregistration_protection_cooldown)
        };
        assert_eq!(image("disabled"), (false, false));
        assert_eq!(image("enabled-without-cooldown"), (true, false));
        assert_eq!(image("enabled"), (true, false), "moto's spelling");
        assert_eq!(image("enabled-with-cooldown"), (true, true));
        assert_eq!(image("enabled-until-further-notice"), (true, true), "an unknown way is never amikeeper's");
    }

    #[test]
    fn image_deprecation_time_is_read_tolerantly() {
        let image = |deprecation: &str| {
            let sdk = ec2::Image::builder()
                .image_id("ami-1")
                .creation_date("2024-01-02T03:04:05Z")
                .deprecation_time(deprecation)
                .build();
            image_from_sdk(&sdk).unwrap().deprecated_at
        };
        assert_eq!(image("2025-03-04T05:06:00.000Z"), Some(datetime!(2025-03-04 05:06 UTC)));
        assert_eq!(image("2025-03-04T05:06:00Z"), Some(datetime!(2025-03-04 05:06 UTC)));
        assert_eq!(image(""), None);
        assert_eq!(image("next tuesday"), None);
    }

    #[test]
    fn last_launched_time_is_read() {
        let sdk = ec2::Image::builder()
            .image_id("ami-1")
            .creation_date("2024-01-02T03:04:05Z")
            .last_launched_time("2025-06-07T08:09:10Z")
            .build();
        assert_eq!(image_from_sdk(&sdk).unwrap().last_launched, Some(datetime!(2025-06-07 08:09:10 UTC)));
        let never = ec2::Image::builder().image_id("ami-2").creation_date("2024-01-02T03:04:05Z").build();
        assert_eq!(image_from_sdk(&never).unwrap().last_launched, None);
    }

    #[test]
    fn snapshot_maps_every_field() {
        let sdk = ec2::Snapshot::builder()
            .snapshot_id("snap-1")
            .volume_id("vol-1")
            .state(ec2::SnapshotState::Completed)
            .start_time(aws_smithy_types::DateTime::from_secs(1_704_164_645))
            .description("Created by CreateImage(i-1) for ami-1")
            .tags(ec2::Tag::builder().key("team").value("web").build())
            .build();
        let snapshot = snapshot_from_sdk(&sdk).unwrap();
        assert_eq!(
            snapshot,
            Snapshot {
                id: "snap-1".into(),
                volume_id: Some("vol-1".into()),
                state: SnapshotState::Completed,
                started: datetime!(2024-01-02 03:04:05 UTC),
                description: Some("Created by CreateImage(i-1) for ami-1".into()),
                tags: [("team".to_owned(), "web".to_owned())].into(),
            }
        );
        for (sdk, state) in [
            (ec2::SnapshotState::Pending, SnapshotState::Pending),
            (ec2::SnapshotState::Error, SnapshotState::Error),
            (ec2::SnapshotState::Recoverable, SnapshotState::Other),
        ] {
            let snapshot = ec2::Snapshot::builder()
                .snapshot_id("snap-1")
                .state(sdk)
                .start_time(aws_smithy_types::DateTime::from_secs(0))
                .build();
            assert_eq!(snapshot_from_sdk(&snapshot).unwrap().state, state);
        }
        let ageless = ec2::Snapshot::builder().snapshot_id("snap-1").build();
        let error = snapshot_from_sdk(&ageless).unwrap_err();
        assert_eq!((error.code.as_str(), error.operation.as_str()), ("InvalidResponse", "DescribeSnapshots"));
    }

    #[test]
    fn volumes_and_instances() {
        let volume = ec2::Volume::builder()
            .volume_id("vol-1")
            .attachments(ec2::VolumeAttachment::builder().instance_id("i-1").build())
            .tags(ec2::Tag::builder().key("amikeeper:keep").value("").build())
            .build();
        assert_eq!(
            volume_from_sdk(&volume).unwrap(),
            Volume {
                id: "vol-1".into(),
                instance_ids: vec!["i-1".into()],
                tags: [("amikeeper:keep".to_owned(), String::new())].into()
            }
        );
        let instance = |state: ec2::InstanceStateName, image: Option<&str>| {
            let sdk = ec2::Instance::builder()
                .instance_id("i-1")
                .set_image_id(image.map(str::to_owned))
                .state(ec2::InstanceState::builder().name(state).build())
                .build();
            instance_from_sdk(&sdk).unwrap()
        };
        assert_eq!(
            instance(ec2::InstanceStateName::Stopped, Some("ami-1")),
            Some(Instance { id: "i-1".into(), image_id: ImageId::new("ami-1"), state: "stopped".into() })
        );
        assert_eq!(instance(ec2::InstanceStateName::Terminated, Some("ami-1")), None);
        assert_eq!(instance(ec2::InstanceStateName::Running, None), None);
    }

    #[test]
    fn only_successfully_deleted_snapshots_count() {
        let result = |id: &str, code: ec2::SnapshotReturnCodes| {
            ec2::DeleteSnapshotReturnCode::builder().snapshot_id(id).return_code(code).build()
        };
        let results = [
            result("snap-1", ec2::SnapshotReturnCodes::Success),
            result("snap-2", ec2::SnapshotReturnCodes::WarnSkipped),
            result("snap-3", ec2::SnapshotReturnCodes::ErrorCodeClientError),
        ];
        assert_eq!(deleted_snapshots(&ImageId::new("ami-1"), &results), ["snap-1"]);
    }

    #[test]
    fn datetimes_round_trip_through_the_sdk() {
        let at = datetime!(2025-03-04 05:06:07.5 UTC);
        let sdk = datetime_to_sdk(at);
        assert_eq!(sdk.secs(), at.unix_timestamp());
        assert_eq!(datetime_from_sdk(&sdk), Some(at));
    }

    #[test]
    fn image_states() {
        for (sdk, state) in [
            (ec2::ImageState::Pending, ImageState::Pending),
            (ec2::ImageState::Failed, ImageState::Failed),
            (ec2::ImageState::Deregistered, ImageState::Deregistered),
            (ec2::ImageState::Disabled, ImageState::Disabled),
            (ec2::ImageState::Error, ImageState::Other),
            (ec2::ImageState::from("something-new"), ImageState::Other),
        ] {
            let image =
                ec2::Image::builder().image_id("ami-1").state(sdk).creation_date("2024-01-02T03:04:05Z").build();
            assert_eq!(image_from_sdk(&image).unwrap().state, state);
        }
        let no_state = ec2::Image::builder().image_id("ami-1").creation_date("2024-01-02T03:04:05Z").build();
        assert_eq!(image_from_sdk(&no_state).unwrap().state, ImageState::Other);
    }

    #[test]
    fn image_creation_date_keeps_fractions_and_offsets() {
        let image = ec2::Image::builder().image_id("ami-1").creation_date("2024-01-02T03:04:05.123+09:00").build();
        let created = image_from_sdk(&image).unwrap().created;
        assert_eq!(created, datetime!(2024-01-02 03:04:05.123 +09:00));
    }

    #[test]
    fn image_without_a_readable_date_is_an_error() {
        let missing = ec2::Image::builder().image_id("ami-1").build();
        let error = image_from_sdk(&missing).unwrap_err();
        assert_eq!((error.code.as_str(), error.operation.as_str()), ("InvalidResponse", "DescribeImages"));
        let garbled = ec2::Image::builder().image_id("ami-1").creation_date("yesterday").build();
        assert!(image_from_sdk(&garbled).unwrap_err().message.contains("yesterday"));
    }

    #[test]
    fn launch_template_and_versions() {
        let sdk = ec2::LaunchTemplate::builder()
            .launch_template_id("lt-1")
            .launch_template_name("web")
            .default_version_number(3)
            .latest_version_number(5)
            .tags(ec2::Tag::builder().key("team").value("web").build())
            .build();
        let template = launch_template_from_sdk(&sdk).unwrap();
        assert_eq!(
            template,
            LaunchTemplate {
                id: "lt-1".into(),
                name: "web".into(),
                default_version: 3,
                latest_version: 5,
                tags: [("team".to_owned(), "web".to_owned())].into(),
            }
        );

        let version = ec2::LaunchTemplateVersion::builder()
            .launch_template_id("lt-1")
            .version_number(4)
            .version_description("amikeeper: ami-2")
            .default_version(true)
            .launch_template_data(ec2::ResponseLaunchTemplateData::builder().image_id("ami-2").build())
            .build();
        assert_eq!(
            launch_template_version_from_sdk(&version).unwrap(),
            LaunchTemplateVersion {
                number: 4,
                image_id: Some(ImageId::new("ami-2")),
                description: Some("amikeeper: ami-2".into()),
                is_default: true,
            }
        );
        let bare = ec2::LaunchTemplateVersion::builder().version_number(1).build();
        let bare = launch_template_version_from_sdk(&bare).unwrap();
        assert_eq!((bare.image_id, bare.is_default), (None, false));
    }

    #[test]
    fn refused_versions_say_code_and_message() {
        let items = [ec2::DeleteLaunchTemplateVersionsResponseErrorItem::builder()
            .launch_template_id("lt-1")
            .version_number(3)
            .response_error(
                ec2::ResponseError::builder()
                    .code(ec2::LaunchTemplateErrorCode::LaunchTemplateVersionDoesNotExist)
                    .message("version 3 does not exist")
                    .build(),
            )
            .build()];
        assert_eq!(
            refused_versions(&items),
            [(3, "launchTemplateVersionDoesNotExist: version 3 does not exist".to_owned())]
        );
    }
}
