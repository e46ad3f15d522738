//! The AWS services amikeeper talks to, one trait per service, in domain types.
//!
//! Each trait has just the operations amikeeper needs. Every call names its region, because the
//! region comes from the event, never from a constant. Implementations:
//! [`MemoryAws`](crate::memory::MemoryAws) (a faithful in-memory account with fault injection),
//! [`CountingAws`] (a wrapper that counts calls) and, in the `amikeeper-aws` crate, the AWS SDK.
//! With the `mock` feature, mockall generates `MockEc2Api`, `MockSsmApi`, `MockAutoScalingApi`,
//! `MockCloudFormationApi`, `MockRecycleBinApi`, `MockImageBuilderApi` and `MockEventsApi`.

mod counting;
mod retry;
mod throttles;
pub(crate) mod wrap;

use std::sync::Arc;

use async_trait::async_trait;

pub use counting::{CallLog, CountingAws};
pub use retry::{RetryPolicy, RetryableError};
pub use throttles::report_throttled_attempt;
pub(crate) use throttles::{listen_for_throttles, ThrottleListener};

use crate::error::AwsError;
/// Re-exported: the preferences [`AutoScalingApi::start_instance_refresh`] takes.
pub use crate::model::InstanceRefreshPreferences;
use time::OffsetDateTime;

use crate::model::{
    AccountId, AllowedImagesSettings, AutoScalingGroup, CopyImage, CreateImage, CreateLaunchTemplateVersion,
    EntryResult, EventEntry, Image, ImageId, ImageReference, Instance, LaunchConfiguration, LaunchTemplate,
    LaunchTemplateRef, LaunchTemplateSpec, LaunchTemplateVersion, Parameter, PutParameter, RecipeImage,
    RecycleBinResource, RecycleBinRule, Region, Snapshot, Stack, StackUpdate, Tags, UpdateStack, Volume,
};

/// A result of a backend call.
pub type AwsResult<T> = Result<T, AwsError>;

/// Amazon EC2: images and launch templates.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait Ec2Api: Send + Sync {
    /// `DescribeImages` for one image; `None` when EC2 does not know it.
    async fn describe_image(&self, region: &Region, image_id: &ImageId) -> AwsResult<Option<Image>>;

    /// `DescribeImageReferences` with `IncludeAllResourceTypes` (all pages): the resources of
    /// the account that name these images, at most [`IMAGE_REFERENCES_PER_CALL`] of them.
    /// Regions and partitions without the API fail (e.g. `InvalidAction`).
    async fn describe_image_references(&self, region: &Region, image_ids: &[ImageId])
        -> AwsResult<Vec<ImageReference>>;

    /// `CreateImage`: image an instance; the new image starts `pending`.
    async fn create_image(&self, region: &Region, request: &CreateImage) -> AwsResult<ImageId>;

    /// `CopyImage` into `region` from `request.source_region`; the copy starts `pending`.
    async fn copy_image(&self, region: &Region, request: &CopyImage) -> AwsResult<ImageId>;

    /// `ModifyImageAttribute` (`LaunchPermission` `Add` `UserId=account`): share an own image
    /// with another account, which can then launch it and, once its snapshots are shared too
    /// ([`share_snapshot`](Ec2Api::share_snapshot)), copy it. Sharing twice is no error.
    async fn share_image(&self, region: &Region, image_id: &ImageId, account: &AccountId) -> AwsResult<()>;

    /// `ModifySnapshotAttribute` (`createVolumePermission` `Add` `UserId=account`): let another
    /// account read an own EBS snapshot, which `CopyImage` of a shared image needs there.
    async fn share_snapshot(&self, region: &Region, snapshot_id: &str, account: &AccountId) -> AwsResult<()>;

    /// `DescribeImages` (`Owners=self`, filter `tag:KEY=VALUE`): own images with this tag.
    async fn describe_images_tagged(&self, region: &Region, key: &str, value: &str) -> AwsResult<Vec<Image>>;

    /// `DescribeLaunchTemplates` for one template; `None` when it does not exist.
    async fn describe_launch_template(
        &self,
        region: &Region,
        template: &LaunchTemplateRef,
    ) -> AwsResult<Option<LaunchTemplate>>;

    /// `DescribeLaunchTemplateVersions`: every version of a template, newest first.
    async fn describe_launch_template_versions(
        &self,
        region: &Region,
        template_id: &str,
    ) -> AwsResult<Vec<LaunchTemplateVersion>>;

    /// `CreateLaunchTemplateVersion` from `request.source_version` with a new `ImageId`;
    /// returns the new version number.
    async fn create_launch_template_version(
        &self,
        region: &Region,
        request: &CreateLaunchTemplateVersion,
    ) -> AwsResult<i64>;

    /// `ModifyLaunchTemplate`: set the default version. Returns the template's latest version
    /// number after the change (0 when EC2 does not say), which tells a run whether another
    /// run created a version meanwhile.
    async fn set_default_launch_template_version(
        &self,
        region: &Region,
        template_id: &str,
        version: i64,
    ) -> AwsResult<i64>;

    /// `DeleteLaunchTemplateVersions`; returns the versions EC2 refused to delete, with why.
    async fn delete_launch_template_versions(
        &self,
        region: &Region,
        template_id: &str,
        versions: &[i64],
    ) -> AwsResult<Vec<(i64, String)>>;

    /// `DescribeImages` with `Owners=self`, including deprecated and disabled images (all pages).
    async fn describe_own_images(&self, region: &Region) -> AwsResult<Vec<Image>>;

    /// `DescribeSnapshots` with `OwnerIds=self` (all pages).
    async fn describe_own_snapshots(&self, region: &Region) -> AwsResult<Vec<Snapshot>>;

    /// `DescribeSnapshots` with `OwnerIds=self`, filtered on `tag-key` (all pages).
    async fn describe_snapshots_tagged(&self, region: &Region, tag_key: &str) -> AwsResult<Vec<Snapshot>>;

    /// `DescribeVolumes` filtered on `tag-key` (all pages).
    async fn describe_volumes_tagged(&self, region: &Region, tag_key: &str) -> AwsResult<Vec<Volume>>;

    /// `DescribeInstances` for every instance that is not terminated (all pages).
    async fn describe_instances(&self, region: &Region) -> AwsResult<Vec<Instance>>;

    /// `DescribeLaunchTemplates` for every template of the region (all pages).
    async fn describe_launch_templates(&self, region: &Region) -> AwsResult<Vec<LaunchTemplate>>;

    /// `DeregisterImage`, with `DeleteAssociatedSnapshots` when `delete_snapshots`. Returns
    /// the snapshots EC2 reports it deleted; EC2 keeps any snapshot another image uses.
    async fn deregister_image(
        &self,
        region: &Region,
        image_id: &ImageId,
        delete_snapshots: bool,
    ) -> AwsResult<Vec<String>>;

    /// `DeleteSnapshot`.
    async fn delete_snapshot(&self, region: &Region, snapshot_id: &str) -> AwsResult<()>;

    /// `EnableImageDeprecation`: the image is deprecated from `at` on.
    async fn enable_image_deprecation(&self, region: &Region, image_id: &ImageId, at: OffsetDateTime) -> AwsResult<()>;

    /// `DisableImage`.
    async fn disable_image(&self, region: &Region, image_id: &ImageId) -> AwsResult<()>;

    /// `EnableImageDeregistrationProtection` (without cooldown) when `enabled`, else
    /// `DisableImageDeregistrationProtection`.
    async fn set_deregistration_protection(&self, region: &Region, image_id: &ImageId, enabled: bool) -> AwsResult<()>;

    /// `CreateTags` on up to 1,000 resources at once.
    async fn create_tags(&self, region: &Region, resource_ids: &[String], tags: &Tags) -> AwsResult<()>;

    /// `GetAllowedImagesSettings`: the account's Allowed AMIs setting in `region` (its state
    /// and criteria). Regions and partitions without the API fail (e.g. `InvalidAction`), and
    /// so does a caller without `ec2:GetAllowedImagesSettings` (`UnauthorizedOperation`).
    async fn get_allowed_images_settings(&self, region: &Region) -> AwsResult<AllowedImagesSettings>;
}

/// AWS Systems Manager Parameter Store.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait SsmApi: Send + Sync {
    /// `GetParameter` (decrypted); `None` when the parameter does not exist.
    async fn get_parameter(&self, region: &Region, name: &str) -> AwsResult<Option<Parameter>>;

    /// `PutParameter`; returns the new version number.
    async fn put_parameter(&self, region: &Region, request: &PutParameter) -> AwsResult<i64>;

    /// `DeleteParameter`.
    async fn delete_parameter(&self, region: &Region, name: &str) -> AwsResult<()>;

    /// `GetParametersByPath`, recursive and decrypted (all pages).
    async fn get_parameters_by_path(&self, region: &Region, path: &str) -> AwsResult<Vec<Parameter>>;

    /// `GetParameterHistory` (all pages): the versions SSM keeps, oldest first, as
    /// `(version, value)`; empty when the parameter does not exist.
    async fn get_parameter_history(&self, region: &Region, name: &str) -> AwsResult<Vec<(i64, String)>>;

    /// `DescribeParameters` (all pages, every tier): the names of every parameter of the region
    /// of type `String` or `StringList`, with or without a leading `/` (the types that can
    /// hold an AMI id in clear; `SecureString` is left out).
    async fn describe_parameter_names(&self, region: &Region) -> AwsResult<Vec<String>>;

    /// `GetParameters` for at most [`PARAMETERS_PER_CALL`] names: the current value of each
    /// that exists (names that do not exist are left out).
    async fn get_parameters(&self, region: &Region, names: &[String]) -> AwsResult<Vec<Parameter>>;
}

/// The most names one `GetParameters` call takes.
pub const PARAMETERS_PER_CALL: usize = 10;

/// EC2 Image Builder: the recipes that build from an AMI.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ImageBuilderApi: Send + Sync {
    /// The account's own image recipes (`ListImageRecipes`, owner `Self`: each one's parent
    /// image) and container recipes (`ListContainerRecipes`, then `GetContainerRecipe` for
    /// the image their build instances launch from), all pages.
    async fn list_recipe_images(&self, region: &Region) -> AwsResult<Vec<RecipeImage>>;
}

/// Amazon EC2 Auto Scaling.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait AutoScalingApi: Send + Sync {
    /// `DescribeAutoScalingGroups` for one group; `None` when it does not exist.
    async fn describe_auto_scaling_group(&self, region: &Region, name: &str) -> AwsResult<Option<AutoScalingGroup>>;

    /// `DescribeAutoScalingGroups` for every group of the region (all pages).
    async fn describe_auto_scaling_groups(&self, region: &Region) -> AwsResult<Vec<AutoScalingGroup>>;

    /// `DescribeLaunchConfigurations` for every launch configuration of the region (all pages).
    async fn describe_launch_configurations(&self, region: &Region) -> AwsResult<Vec<LaunchConfiguration>>;

    /// `UpdateAutoScalingGroup`: launch from this launch template and version. `group` is the
    /// group as described, so the call can set the template where the group keeps it (at the
    /// top level, or in its mixed-instances policy) without describing it again.
    async fn set_launch_template(
        &self,
        region: &Region,
        group: &AutoScalingGroup,
        template: &LaunchTemplateSpec,
    ) -> AwsResult<()>;

    /// `StartInstanceRefresh` (rolling): replace the group's instances so they launch from
    /// what the group names now. Returns the refresh id. A group with a refresh in progress
    /// fails with `InstanceRefreshInProgress` ([`INSTANCE_REFRESH_IN_PROGRESS`]).
    async fn start_instance_refresh(
        &self,
        region: &Region,
        group: &str,
        preferences: &InstanceRefreshPreferences,
    ) -> AwsResult<String>;
}

/// The error code Auto Scaling answers `StartInstanceRefresh` with while the group has a
/// refresh in progress.
pub const INSTANCE_REFRESH_IN_PROGRESS: &str = "InstanceRefreshInProgress";

/// AWS CloudFormation.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait CloudFormationApi: Send + Sync {
    /// `DescribeStacks` for one stack; `None` when it does not exist.
    async fn describe_stack(&self, region: &Region, name: &str) -> AwsResult<Option<Stack>>;

    /// `UpdateStack` with `UsePreviousTemplate`.
    async fn update_stack(&self, region: &Region, request: &UpdateStack) -> AwsResult<StackUpdate>;

    /// `DescribeStacks` for every stack of the region (all pages).
    async fn describe_stacks(&self, region: &Region) -> AwsResult<Vec<Stack>>;
}

/// Recycle Bin: whether a deleted AMI or snapshot can be restored.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait RecycleBinApi: Send + Sync {
    /// `ListRules` for one resource type (all pages, each rule's tags included): the retention
    /// rules of the region that are in effect.
    async fn list_recycle_bin_rules(
        &self,
        region: &Region,
        resource_type: RecycleBinResource,
    ) -> AwsResult<Vec<RecycleBinRule>>;
}

/// AWS STS: reaching the other accounts a sweep checks.
#[async_trait]
pub trait StsApi: Send + Sync {
    /// `AssumeRole`: the account behind `role_arn`, acting with the role's credentials (in
    /// the same regions and with the same endpoint settings).
    async fn assume_role(&self, role_arn: &str, external_id: Option<&str>) -> AwsResult<Arc<dyn Aws>>;
}

/// Amazon EventBridge: the events amikeeper puts on a bus (`[notify]`).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait EventsApi: Send + Sync {
    /// `PutEvents` of at most [`EVENTS_PER_CALL`](crate::model::EVENTS_PER_CALL) entries
    /// adding up to at most [`MAX_PUT_EVENTS_BYTES`](crate::model::MAX_PUT_EVENTS_BYTES): one
    /// result per entry, in order. The call succeeds when only some entries fail
    /// (`FailedEntryCount` > 0); each says why in its result.
    async fn put_events(&self, region: &Region, entries: &[EventEntry]) -> AwsResult<Vec<EntryResult>>;
}

/// The most image ids one `DescribeImageReferences` call takes.
pub const IMAGE_REFERENCES_PER_CALL: usize = 10;

/// Every service amikeeper uses; implemented for anything that implements the eight traits.
pub trait Aws:
    Ec2Api + SsmApi + AutoScalingApi + CloudFormationApi + RecycleBinApi + ImageBuilderApi + StsApi + EventsApi
{
}

impl<
        T: Ec2Api
            + SsmApi
            + AutoScalingApi
            + CloudFormationApi
            + RecycleBinApi
            + ImageBuilderApi
            + StsApi
            + EventsApi
            + ?Sized,
    > Aws for T
{
}
