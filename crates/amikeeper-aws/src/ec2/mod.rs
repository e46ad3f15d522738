//! [`Ec2Api`] over `aws-sdk-ec2`: images, snapshots, volumes, instances and launch templates.

use amikeeper::backend::{AwsResult, Ec2Api, IMAGE_REFERENCES_PER_CALL};
use amikeeper::model::{
    AccountId, AllowedImagesSettings, CopyImage, CreateImage, CreateLaunchTemplateVersion, Image, ImageId,
    ImageReference, Instance, LaunchTemplate, LaunchTemplateRef, LaunchTemplateVersion, Region, Snapshot, Tags, Volume,
};
use amikeeper::{AwsError, AwsErrorKind};
use async_trait::async_trait;
use aws_sdk_ec2::types::{self as ec2, Filter, RequestLaunchTemplateData, ResourceType, TagSpecification};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use time::OffsetDateTime;

use crate::error::{from_sdk_error, invalid_response, read_all, sdk_error};
use crate::SdkAws;

pub(crate) mod convert;
#[cfg(test)]
mod tests;

use convert::{
    allowed_images_settings_from_sdk, datetime_to_sdk, deleted_snapshots, image_from_sdk, image_reference_from_sdk,
    instance_from_sdk, launch_template_from_sdk, launch_template_version_from_sdk, refused_versions, snapshot_from_sdk,
    tag_list, volume_from_sdk,
};

const SERVICE: &str = "ec2";

/// The `TagSpecifications` that tag a new image as it is made; `None` for no tags.
fn image_tags(tags: &Tags) -> Option<Vec<TagSpecification>> {
    (!tags.is_empty()).then(|| {
        vec![TagSpecification::builder().resource_type(ResourceType::Image).set_tags(Some(tag_list(tags))).build()]
    })
}

/// The `ImageId` of the image `operation` (`CreateImage`, `CopyImage`) answers it made.
fn new_image_id(operation: &'static str, image_id: Option<&str>) -> AwsResult<ImageId> {
    image_id.map(ImageId::new).ok_or_else(|| invalid_response(SERVICE, operation, "no ImageId in the response"))
}

/// The filter on `tag-key`: resources that have the tag, whatever its value.
fn tag_key_filter(tag_key: &str) -> Filter {
    Filter::builder().name("tag-key").values(tag_key).build()
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
    sdk_error(SERVICE, operation)
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
            let call = client.describe_image_references().set_image_ids(Some(ids)).include_all_resource_types(true);
            let items = read_all(SERVICE, "DescribeImageReferences", call.into_paginator().items().send()).await?;
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
        let image_id = new_image_id("CreateImage", output.image_id())?;
        tracing::info!(%region, instance_id = %request.instance_id, %image_id, "created image");
        Ok(image_id)
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
        let image_id = new_image_id("CopyImage", output.image_id())?;
        tracing::info!(%region, source = %request.source_image_id, %image_id, "copied image");
        Ok(image_id)
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
        let listing = client.describe_images().owners("self").filters(filter).into_paginator().items().send();
        read_all(SERVICE, "DescribeImages", listing).await?.iter().map(image_from_sdk).collect()
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
        let call = self.ec2(region)?.describe_launch_template_versions().launch_template_id(template_id);
        let versions =
            read_all(SERVICE, "DescribeLaunchTemplateVersions", call.into_paginator().items().send()).await?;
        let mut versions = versions.iter().map(launch_template_version_from_sdk).collect::<AwsResult<Vec<_>>>()?;
        versions.sort_by_key(|version| std::cmp::Reverse(version.number));
        Ok(versions)
    }

    async fn create_launch_template_version(
        &self,
        region: &Region,
        request: &CreateLaunchTemplateVersion,
    ) -> AwsResult<i64> {
        let CreateLaunchTemplateVersion { template_id, source_version, image_id, description } = request;
        let client = self.ec2(region)?;
        let call = client
            .create_launch_template_version()
            .launch_template_id(template_id)
            .source_version(source_version.to_string())
            .version_description(description)
            .launch_template_data(RequestLaunchTemplateData::builder().image_id(image_id.as_str()).build());
        let output = call.send().await.map_err(map_err("CreateLaunchTemplateVersion"))?;
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
        let call = client.describe_images().owners("self").include_deprecated(true).include_disabled(true);
        // Without MaxResults EC2 answers with every image at once; pages keep answers small.
        let listing = call.max_results(1000).into_paginator().items().send();
        let images = read_all(SERVICE, "DescribeImages", listing).await?;
        let images = images.iter().map(image_from_sdk).collect::<AwsResult<Vec<_>>>()?;
        tracing::debug!(%region, images = images.len(), "described own images");
        Ok(images)
    }

    async fn describe_own_snapshots(&self, region: &Region) -> AwsResult<Vec<Snapshot>> {
        let client = self.ec2(region)?;
        let listing = client.describe_snapshots().owner_ids("self").max_results(1000).into_paginator().items().send();
        let snapshots = read_all(SERVICE, "DescribeSnapshots", listing).await?;
        let snapshots = snapshots.iter().map(snapshot_from_sdk).collect::<AwsResult<Vec<_>>>()?;
        tracing::debug!(%region, snapshots = snapshots.len(), "described own snapshots");
        Ok(snapshots)
    }

    async fn describe_snapshots_tagged(&self, region: &Region, tag_key: &str) -> AwsResult<Vec<Snapshot>> {
        let client = self.ec2(region)?;
        let call = client.describe_snapshots().owner_ids("self").filters(tag_key_filter(tag_key));
        let listing = call.into_paginator().items().send();
        read_all(SERVICE, "DescribeSnapshots", listing).await?.iter().map(snapshot_from_sdk).collect()
    }

    async fn describe_volumes_tagged(&self, region: &Region, tag_key: &str) -> AwsResult<Vec<Volume>> {
        let client = self.ec2(region)?;
        let listing = client.describe_volumes().filters(tag_key_filter(tag_key)).into_paginator().items().send();
        read_all(SERVICE, "DescribeVolumes", listing).await?.iter().map(volume_from_sdk).collect()
    }

    async fn describe_instances(&self, region: &Region) -> AwsResult<Vec<Instance>> {
        let client = self.ec2(region)?;
        let states = LIVE_INSTANCE_STATES.iter().map(|state| (*state).to_owned()).collect();
        let filter = Filter::builder().name("instance-state-name").set_values(Some(states)).build();
        let listing = client.describe_instances().filters(filter).into_paginator().items().send();
        let reservations = read_all(SERVICE, "DescribeInstances", listing).await?;
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
        let listing = client.describe_launch_templates().into_paginator().items().send();
        read_all(SERVICE, "DescribeLaunchTemplates", listing).await?.iter().map(launch_template_from_sdk).collect()
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
