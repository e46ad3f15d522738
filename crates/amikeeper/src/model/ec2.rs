//! The other EC2 resources amikeeper reads or asks for: image requests, snapshots, volumes,
//! instances, launch configurations, EC2's reference check, Image Builder recipes, Recycle Bin
//! rules, Allowed AMIs settings.

use serde::{Deserialize, Serialize};
use std::fmt;
use time::OffsetDateTime;

use super::{ImageId, Region, Tags};

/// A `CreateImage` request (seed 003: bake from a builder instance).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateImage {
    /// The instance to image.
    pub instance_id: String,
    /// The image name.
    pub name: String,
    /// The image description.
    pub description: Option<String>,
    /// Image without rebooting the instance.
    pub no_reboot: bool,
    /// Tags for the new image.
    pub tags: Tags,
}

/// A `CopyImage` request: a copy of an AMI of another region into the region it is sent to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyImage {
    /// Where the AMI is.
    pub source_region: Region,
    /// The AMI to copy.
    pub source_image_id: ImageId,
    /// The copy's name.
    pub name: String,
    /// The copy's description.
    pub description: Option<String>,
    /// Tags for the copy, set as it is made (`TagSpecifications`).
    pub tags: Tags,
    /// Makes a repeated request return the first copy instead of a second one (`ClientToken`).
    pub client_token: String,
}

/// The state of an EBS snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotState {
    /// Still being copied to S3.
    Pending,
    /// Complete and usable.
    Completed,
    /// Failed.
    Error,
    /// Any other state EC2 may report (`recoverable`, `recovering`).
    Other,
}

impl SnapshotState {
    /// Parses EC2's spelling of a state; unknown states map to [`SnapshotState::Other`].
    pub fn parse(value: &str) -> Self {
        match value.to_ascii_lowercase().as_str() {
            "pending" => Self::Pending,
            "completed" => Self::Completed,
            "error" => Self::Error,
            _ => Self::Other,
        }
    }
}

/// An EBS snapshot owned by the account, as `DescribeSnapshots` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// `snap-...`.
    pub id: String,
    /// The volume it was taken from (EC2 reports `vol-ffffffff` for copies; kept as given).
    pub volume_id: Option<String>,
    /// The snapshot state.
    pub state: SnapshotState,
    /// When the snapshot was started.
    #[serde(with = "time::serde::rfc3339")]
    pub started: OffsetDateTime,
    /// The snapshot description.
    pub description: Option<String>,
    /// The snapshot's tags.
    pub tags: Tags,
}

/// An EBS volume, as much of it as retention reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    /// `vol-...`.
    pub id: String,
    /// The instances the volume is attached to.
    pub instance_ids: Vec<String>,
    /// The volume's tags.
    pub tags: Tags,
}

/// An instance, as much of it as retention reads: which AMI it was launched from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    /// `i-...`.
    pub id: String,
    /// The AMI it was launched from.
    pub image_id: ImageId,
    /// Its state (`running`, `stopped`, ...).
    pub state: String,
}

/// A launch configuration (the predecessor of launch templates): the AMI it launches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchConfiguration {
    /// The launch configuration name.
    pub name: String,
    /// The AMI it launches.
    pub image_id: ImageId,
}

/// A resource that names an AMI, as EC2's own AMI reference check (`DescribeImageReferences`)
/// reports it: instances, launch templates, SSM parameters anywhere in the account, and Image
/// Builder image and container recipes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ImageReference {
    /// The AMI referenced.
    pub image_id: ImageId,
    /// The kind of resource, as AWS names it: `ec2:Instance`, `ec2:LaunchTemplate`,
    /// `ssm:Parameter`, `imagebuilder:ImageRecipe`, `imagebuilder:ContainerRecipe`.
    pub resource_type: String,
    /// The resource's ARN.
    pub arn: String,
}

/// An EC2 Image Builder recipe of the account and the AMI it builds from: an image recipe's
/// parent image, or the image a container recipe's build instances launch from
/// (`instanceConfiguration.image`). Read by a sweep whose inventory scan decides alone.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct RecipeImage {
    /// The recipe's ARN.
    pub arn: String,
    /// `imagebuilder:ImageRecipe` or `imagebuilder:ContainerRecipe`, as
    /// `DescribeImageReferences` names them.
    pub resource_type: String,
    /// What the recipe names as its image: an AMI id, an Image Builder image ARN or an
    /// `ssm:` parameter reference (only an AMI id names one of our AMIs directly).
    pub image: String,
}

/// What a Recycle Bin retention rule keeps after deletion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum RecycleBinResource {
    /// Deregistered AMIs (`EC2_IMAGE`).
    #[serde(rename = "EC2_IMAGE")]
    Image,
    /// Deleted EBS snapshots (`EBS_SNAPSHOT`).
    #[serde(rename = "EBS_SNAPSHOT")]
    Snapshot,
}

/// A Recycle Bin retention rule of one region (`rbin:ListRules`): deleted resources it matches
/// can be restored for `retention_days`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecycleBinRule {
    /// The rule's identifier.
    pub id: String,
    /// What the rule retains.
    pub resource_type: RecycleBinResource,
    /// How many days a deleted resource stays restorable.
    pub retention_days: u32,
    /// The tags a resource needs (any one of them) for the rule to retain it; empty for a
    /// region-level rule, which retains every resource of its type.
    pub resource_tags: Vec<(String, String)>,
    /// Region-level rules only: resources with any of these tags are not retained.
    pub exclude_tags: Vec<(String, String)>,
}

impl RecycleBinRule {
    /// Whether the rule retains a deleted resource with these tags. A tag with an empty value
    /// in the rule matches any value.
    pub fn retains(&self, tags: &Tags) -> bool {
        let has = |(key, value): &(String, String)| tags.get(key).is_some_and(|v| value.is_empty() || v == value);
        if self.resource_tags.is_empty() {
            !self.exclude_tags.iter().any(has)
        } else {
            self.resource_tags.iter().any(has)
        }
    }
}

/// The state of the account's Allowed AMIs setting in a region (`GetAllowedImagesSettings`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum AllowedImagesState {
    /// Every AMI can be used (the default).
    #[default]
    Disabled,
    /// Every AMI can be used, but `DescribeImages` says of each whether it meets the criteria
    /// (`ImageAllowed`), to preview `enabled`.
    AuditMode,
    /// Only AMIs that meet the criteria (and the account's own) are shown and can launch
    /// instances.
    Enabled,
    /// A state this version of amikeeper does not know; treated as `enabled` (fail closed).
    Other,
}

impl AllowedImagesState {
    /// Parses EC2's spelling (`disabled`, `audit-mode`, `enabled`); others are [`Self::Other`].
    pub fn parse(value: &str) -> Self {
        match value {
            "disabled" => Self::Disabled,
            "audit-mode" => Self::AuditMode,
            "enabled" => Self::Enabled,
            _ => Self::Other,
        }
    }

    /// EC2's spelling of the state.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Disabled => "disabled",
            Self::AuditMode => "audit-mode",
            Self::Enabled => "enabled",
            Self::Other => "other",
        }
    }
}

impl fmt::Display for AllowedImagesState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One criterion of the Allowed AMIs setting (EC2's `ImageCriterion`). An AMI meets it when it
/// matches every part that is set; it is allowed when it meets any criterion (or belongs to
/// the account itself).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageCriterion {
    /// Allowed providers: `amazon`, `aws-marketplace`, `aws-backup-vault`, 12-digit account
    /// ids, or `none` (only the account's own AMIs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_providers: Vec<String>,
    /// Allowed image names; `*` and `?` are wildcards.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_names: Vec<String>,
    /// Allowed AWS Marketplace product codes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub marketplace_product_codes: Vec<String>,
    /// The most days since the AMI was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_days_since_created: Option<u32>,
    /// The most days since the AMI was deprecated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_days_since_deprecated: Option<u32>,
}

/// The account's Allowed AMIs setting in one region, as `GetAllowedImagesSettings` reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllowedImagesSettings {
    /// Whether the criteria apply, are only previewed, or are off.
    pub state: AllowedImagesState,
    /// The criteria, any one of which an AMI must meet.
    #[serde(default)]
    pub image_criteria: Vec<ImageCriterion>,
    /// Who manages the setting: `account`, or `declarative-policy` (AWS Organizations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_by: Option<String>,
}
