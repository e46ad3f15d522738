//! The AWS services amikeeper talks to, one trait per service, in domain types.
//!
//! Each trait has just the operations amikeeper needs. Every call names its region, because the
//! region comes from the event, never from a constant. Implementations:
//! [`MemoryAws`](crate::memory::MemoryAws) (a faithful in-memory account with fault injection),
//! [`CountingAws`] (a wrapper that counts calls) and, in the `amikeeper-aws` crate, the AWS SDK.
//! With the `mock` feature, mockall generates `MockEc2Api`, `MockSsmApi`, `MockAutoScalingApi`
//! and `MockCloudFormationApi`.

mod counting;

use async_trait::async_trait;

pub use counting::{CallLog, CountingAws};

use crate::error::AwsError;
use crate::model::{
    AutoScalingGroup, CreateImage, Image, ImageId, LaunchTemplate, LaunchTemplateRef, LaunchTemplateSpec,
    LaunchTemplateVersion, Parameter, PutParameter, Region, Stack, StackUpdate, UpdateStack,
};

/// A result of a backend call.
pub type AwsResult<T> = Result<T, AwsError>;

/// Amazon EC2: images and launch templates.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait Ec2Api: Send + Sync {
    /// `DescribeImages` for one image; `None` when EC2 does not know it.
    async fn describe_image(&self, region: &Region, image_id: &ImageId) -> AwsResult<Option<Image>>;

    /// `CreateImage`: image an instance; the new image starts `pending`.
    async fn create_image(&self, region: &Region, request: &CreateImage) -> AwsResult<ImageId>;

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

    /// `CreateLaunchTemplateVersion` from `source_version` with a new `ImageId`; returns the
    /// new version number.
    async fn create_launch_template_version(
        &self,
        region: &Region,
        template_id: &str,
        source_version: i64,
        image_id: &ImageId,
        description: &str,
    ) -> AwsResult<i64>;

    /// `ModifyLaunchTemplate`: set the default version.
    async fn set_default_launch_template_version(
        &self,
        region: &Region,
        template_id: &str,
        version: i64,
    ) -> AwsResult<()>;

    /// `DeleteLaunchTemplateVersions`; returns the versions EC2 refused to delete, with why.
    async fn delete_launch_template_versions(
        &self,
        region: &Region,
        template_id: &str,
        versions: &[i64],
    ) -> AwsResult<Vec<(i64, String)>>;
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
}

/// Amazon EC2 Auto Scaling.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait AutoScalingApi: Send + Sync {
    /// `DescribeAutoScalingGroups` for one group; `None` when it does not exist.
    async fn describe_auto_scaling_group(&self, region: &Region, name: &str) -> AwsResult<Option<AutoScalingGroup>>;

    /// `DescribeAutoScalingGroups` for every group of the region (all pages).
    async fn describe_auto_scaling_groups(&self, region: &Region) -> AwsResult<Vec<AutoScalingGroup>>;

    /// `UpdateAutoScalingGroup`: launch from this launch template and version. `group` is the
    /// group as described, so the call can set the template where the group keeps it (at the
    /// top level, or in its mixed-instances policy) without describing it again.
    async fn set_launch_template(
        &self,
        region: &Region,
        group: &AutoScalingGroup,
        template: &LaunchTemplateSpec,
    ) -> AwsResult<()>;
}

/// AWS CloudFormation.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait CloudFormationApi: Send + Sync {
    /// `DescribeStacks` for one stack; `None` when it does not exist.
    async fn describe_stack(&self, region: &Region, name: &str) -> AwsResult<Option<Stack>>;

    /// `UpdateStack` with `UsePreviousTemplate`.
    async fn update_stack(&self, region: &Region, request: &UpdateStack) -> AwsResult<StackUpdate>;
}

/// Every service amikeeper uses; implemented for anything that implements the four traits.
pub trait Aws: Ec2Api + SsmApi + AutoScalingApi + CloudFormationApi {}

impl<T: Ec2Api + SsmApi + AutoScalingApi + CloudFormationApi + ?Sized> Aws for T {}
