//! Domain types shared by every module: images, regions, accounts, tags.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// Wraps a string.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }
            /// The string form.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self(value)
            }
        }
    };
}

id_type!(
    /// An AMI id such as `ami-0123456789abcdef0`.
    ImageId
);
id_type!(
    /// An AWS region such as `ap-northeast-1`.
    Region
);
id_type!(
    /// A 12-digit AWS account id.
    AccountId
);

/// Tags of a resource, by key.
pub type Tags = BTreeMap<String, String>;

/// The tag CloudFormation puts on every resource it creates.
pub const STACK_NAME_TAG: &str = "aws:cloudformation:stack-name";

/// The tag amikeeper puts on the images it bakes, naming the rule that baked them.
pub const RULE_TAG: &str = "amikeeper:rule";

/// The tag that keeps an AMI or snapshot from every retention policy, whatever its value
/// (the default exclusion tag).
pub const KEEP_TAG: &str = "amikeeper:keep";

/// The tag by which amikeeper claims an image's deregistration protection as its own.
///
/// It says [`PROTECTION_HELD`] once amikeeper has turned the protection on (after publishing
/// the image), and [`PROTECTION_RELEASED`] from the moment amikeeper starts turning it off. The
/// claim is believed only while the protection it names is on, and on the way amikeeper turns
/// it on (without a cooldown): see [`protect::ownership`](crate::protect::ownership).
pub const PROTECTED_TAG: &str = "amikeeper:protected";

/// The value of [`PROTECTED_TAG`] while amikeeper holds an image's deregistration protection.
pub const PROTECTION_HELD: &str = "true";

/// The value of [`PROTECTED_TAG`] once amikeeper has let go of an image's protection (or found
/// that its claim no longer matched the protection): a protection turned on later is someone
/// else's.
pub const PROTECTION_RELEASED: &str = "released";

/// The tag on a copy amikeeper made for a rule's `copy_to`: `<source region>/<source AMI id>`,
/// or `<source account>/<source region>/<source AMI id>` on a copy in another account.
/// It finds an earlier copy (so a repeated event makes no second one), and a copy is never
/// copied again.
pub const COPIED_FROM_TAG: &str = "amikeeper:copied-from";

/// The state of an AMI, as EC2 reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageState {
    /// Being created; not usable yet.
    Pending,
    /// Ready to launch instances.
    Available,
    /// Creation failed.
    Failed,
    /// Deregistered (deleted).
    Deregistered,
    /// Disabled: cannot launch instances.
    Disabled,
    /// Any other state EC2 may report (`invalid`, `transient`, `error`).
    Other,
}

impl ImageState {
    /// Parses EC2's spelling of a state; unknown states map to [`ImageState::Other`].
    pub fn parse(value: &str) -> Self {
        match value.to_ascii_lowercase().as_str() {
            "pending" => Self::Pending,
            "available" => Self::Available,
            "failed" => Self::Failed,
            "deregistered" => Self::Deregistered,
            "disabled" => Self::Disabled,
            _ => Self::Other,
        }
    }

    /// EC2's spelling of the state.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Available => "available",
            Self::Failed => "failed",
            Self::Deregistered => "deregistered",
            Self::Disabled => "disabled",
            Self::Other => "other",
        }
    }
}

impl fmt::Display for ImageState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An AMI as `DescribeImages` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// The image id.
    pub id: ImageId,
    /// The image name.
    pub name: String,
    /// The image description, if any.
    pub description: Option<String>,
    /// The image state.
    pub state: ImageState,
    /// When the image was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// The owning account.
    pub owner: AccountId,
    /// The image's tags.
    pub tags: Tags,
    /// The EBS snapshots backing the image.
    pub snapshot_ids: Vec<String>,
    /// When the image is (or was) deprecated, if a deprecation time is set.
    #[serde(default, with = "time::serde::rfc3339::option", skip_serializing_if = "Option::is_none")]
    pub deprecated_at: Option<OffsetDateTime>,
    /// Whether deregistration protection is on (`DeregistrationProtection` is `enabled…`): no
    /// one can deregister the image until it is turned off.
    #[serde(default)]
    pub deregistration_protected: bool,
    /// Whether the protection is on in a way amikeeper never turns it on: with the 24-hour
    /// cooldown (`enabled-with-cooldown`) or in a state EC2 did not name when amikeeper was
    /// written. Such a protection is never amikeeper's, whatever the image's tags say.
    #[serde(default)]
    pub deregistration_protection_cooldown: bool,
    /// When an instance was last launched from the image, as EC2 reports it (`LastLaunchedTime`,
    /// which lags by up to a day); `None` when never, or not known.
    #[serde(default, with = "time::serde::rfc3339::option", skip_serializing_if = "Option::is_none")]
    pub last_launched: Option<OffsetDateTime>,
    /// Whether the image meets the account's Allowed AMIs criteria, as `DescribeImages` reports
    /// it (`ImageAllowed`). EC2 reports it only while the setting is `enabled` or in
    /// `audit-mode` (and while `enabled` it shows only allowed images); `None` when EC2 does
    /// not say. Images of the account itself are always allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed: Option<bool>,
}

impl Image {
    /// The key that orders images by age: creation time, then id to break ties.
    ///
    /// EC2 reports creation times to the second, so two images made in the same second are
    /// ordered by id. Every "is this newer" decision in amikeeper uses this key.
    pub fn age_key(&self) -> (OffsetDateTime, &str) {
        (self.created, self.id.as_str())
    }

    /// Whether `self` is strictly newer than `other`.
    pub fn is_newer_than(&self, other: &Image) -> bool {
        self.age_key() > other.age_key()
    }
}

/// How a reference names a launch template.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LaunchTemplateRef {
    /// By id, `lt-...`.
    Id(String),
    /// By name.
    Name(String),
}

impl fmt::Display for LaunchTemplateRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => f.write_str(id),
            Self::Name(name) => f.write_str(name),
        }
    }
}

/// A launch template, without its versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchTemplate {
    /// `lt-...`.
    pub id: String,
    /// The template name.
    pub name: String,
    /// The default version number.
    pub default_version: i64,
    /// The latest version number.
    pub latest_version: i64,
    /// The template's tags.
    pub tags: Tags,
}

/// One version of a launch template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchTemplateVersion {
    /// The version number.
    pub number: i64,
    /// The AMI this version launches, if it sets one.
    pub image_id: Option<ImageId>,
    /// The version description.
    pub description: Option<String>,
    /// Whether this is the default version.
    pub is_default: bool,
}

/// A launch template and version as an Auto Scaling group names them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchTemplateSpec {
    /// The template id.
    pub id: String,
    /// The version: a number, `$Latest` or `$Default`.
    pub version: String,
}

/// An Auto Scaling group, as much of it as amikeeper reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoScalingGroup {
    /// The group name.
    pub name: String,
    /// The launch template the group launches from, directly or in its mixed-instances policy.
    pub launch_template: Option<LaunchTemplateSpec>,
    /// Launch templates named by mixed-instances overrides.
    pub override_launch_templates: Vec<LaunchTemplateSpec>,
    /// Whether the group launches through a mixed-instances policy (its launch template is
    /// then set inside the policy).
    #[serde(default)]
    pub mixed_instances_policy: bool,
    /// The group's tags.
    pub tags: Tags,
}

/// The SSM parameter types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum ParameterType {
    /// A plain string.
    #[default]
    String,
    /// A comma-separated list.
    StringList,
    /// An encrypted string; its value is never logged.
    SecureString,
}

/// An SSM parameter's current version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parameter {
    /// The parameter name.
    pub name: String,
    /// The current value.
    pub value: String,
    /// The current version number (1 after creation).
    pub version: i64,
    /// The parameter type.
    pub kind: ParameterType,
    /// `text` or `aws:ec2:image`.
    pub data_type: String,
}

/// A `PutParameter` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutParameter {
    /// The parameter name.
    pub name: String,
    /// The value to store.
    pub value: String,
    /// The type to create it with.
    pub kind: ParameterType,
    /// `text` (the default) or `aws:ec2:image`.
    pub data_type: Option<String>,
    /// Replace an existing value.
    pub overwrite: bool,
    /// Description stored with the parameter.
    pub description: Option<String>,
}

/// A CloudFormation stack, as much of it as amikeeper reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stack {
    /// The stack name.
    pub name: String,
    /// The stack id (ARN).
    pub id: String,
    /// The stack status, e.g. `UPDATE_COMPLETE`.
    pub status: String,
    /// Parameter values by key.
    pub parameters: BTreeMap<String, String>,
}

impl Stack {
    /// Whether an operation is running on the stack (any `*_IN_PROGRESS` status).
    pub fn is_busy(&self) -> bool {
        self.status.ends_with("_IN_PROGRESS")
    }
}

/// One parameter of an `UpdateStack` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StackParameterValue {
    /// Keep the value the stack has.
    UsePrevious,
    /// Set this value.
    Value(String),
}

/// An `UpdateStack` request that keeps the template (`UsePreviousTemplate`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateStack {
    /// The stack name or id.
    pub name: String,
    /// Every parameter of the stack, each new or `UsePreviousValue`.
    pub parameters: Vec<(String, StackParameterValue)>,
    /// Capabilities to acknowledge, e.g. `CAPABILITY_NAMED_IAM`.
    pub capabilities: Vec<String>,
}

/// What `UpdateStack` answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StackUpdate {
    /// The update started; it finishes asynchronously.
    Started {
        /// The stack id.
        stack_id: String,
    },
    /// CloudFormation said "No updates are to be performed".
    NoChange,
}

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

/// The preferences of one instance refresh (`StartInstanceRefresh`, rolling), and the table
/// form of an `auto_scaling_group` target's `instance_refresh`; unset ones are Auto Scaling's
/// defaults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceRefreshPreferences {
    /// The share of the group's capacity (0 to 100) that stays in service while instances are
    /// replaced (Auto Scaling's default: 90).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_healthy_percentage: Option<u8>,
    /// Seconds a new instance needs before it counts as in service (Auto Scaling's default:
    /// the group's health check grace period).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_warmup_seconds: Option<u32>,
}

/// `ami-…` ids inside any text (a parameter value, a stack parameter, a report value).
pub(crate) fn ami_ids() -> &'static regex::Regex {
    static AMI: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    AMI.get_or_init(|| regex::Regex::new(r"\bami-[0-9a-f]{8,17}\b").expect("valid pattern"))
}
