//! EC2's answers as amikeeper's model, and amikeeper's requests as EC2's: images, snapshots,
//! volumes, instances, launch templates, Allowed AMIs settings.

use amikeeper::backend::AwsResult;
use amikeeper::model::*;
use aws_sdk_ec2::types as ec2;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::SERVICE;
use crate::error::invalid_response;

/// An SDK timestamp as an [`OffsetDateTime`] (`None` when out of range).
pub(crate) fn datetime_from_sdk(value: &aws_smithy_types::DateTime) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(value.as_nanos()).ok()
}

/// An [`OffsetDateTime`] as an SDK timestamp (whole seconds and nanoseconds).
pub(super) fn datetime_to_sdk(value: OffsetDateTime) -> aws_smithy_types::DateTime {
    aws_smithy_types::DateTime::from_secs_and_nanos(value.unix_timestamp(), value.nanosecond())
}

pub(super) fn tags(tags: &[ec2::Tag]) -> Tags {
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
        snapshot_sizes_gib: image
            .block_device_mappings()
            .iter()
            .filter_map(|mapping| {
                let ebs = mapping.ebs()?;
                Some((ebs.snapshot_id()?.to_owned(), u32::try_from(ebs.volume_size()?).ok()?))
            })
            .collect(),
        deprecated_at: deprecation_time(id, image.deprecation_time()),
        last_launched: deprecation_time(id, image.last_launched_time()),
        deregistration_protected: image.deregistration_protection().is_some_and(|p| p.starts_with("enabled")),
        deregistration_protection_cooldown: image.deregistration_protection().is_some_and(protection_has_cooldown),
        allowed: image.image_allowed(),
        source_image_id: image.source_image_id().map(ImageId::new),
        source_image_region: image.source_image_region().map(Region::from),
    })
}

/// Whether `DeregistrationProtection` says the protection is on in a way amikeeper never turns
/// it on. EC2 reports `enabled-without-cooldown` for the protection amikeeper turns on (moto
/// says `enabled`), `enabled-with-cooldown` with the 24-hour cooldown; an `enabled…` value
/// not known here counts as having one, so that it is never taken for amikeeper's.
pub(super) fn protection_has_cooldown(value: &str) -> bool {
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
pub(super) fn deprecation_time(image_id: &str, value: Option<&str>) -> Option<OffsetDateTime> {
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

pub(super) fn tag_list(tags: &Tags) -> Vec<ec2::Tag> {
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
        created: version.create_time().and_then(datetime_from_sdk),
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
