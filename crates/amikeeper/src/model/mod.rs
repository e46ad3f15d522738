//! Domain types shared by every module: images, tags, the checked ids ([`ids`]: AMI ids,
//! regions, accounts); the resources that point at AMIs ([`pointers`]) and the other EC2
//! resources amikeeper reads ([`ec2`]); what amikeeper puts on EventBridge ([`eventbridge`]), all
//! re-exported here.

mod ec2;
mod eventbridge;
mod ids;
mod pointers;

pub use ec2::*;
pub use eventbridge::*;
pub use ids::*;
pub use pointers::*;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

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
    /// The size in GiB of each snapshot's volume, as the block device mapping reports it
    /// (`Ebs.VolumeSize`): the volume's size, an upper bound of the data the snapshot holds
    /// (snapshots are stored and billed incrementally). Snapshots EC2 gave no size for are absent.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub snapshot_sizes_gib: BTreeMap<String, u32>,
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
    /// The AMI this one was copied from, as EC2 reports it (`SourceImageId`; a copy made by
    /// `CopyImage`). `None` when EC2 does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_image_id: Option<ImageId>,
    /// The region of [`source_image_id`](Self::source_image_id) (`SourceImageRegion`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_image_region: Option<Region>,
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

/// `ami-…` ids inside any text (a parameter value, a stack parameter, a report value).
pub(crate) fn ami_ids() -> &'static regex::Regex {
    static AMI: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    AMI.get_or_init(|| regex::Regex::new(r"\bami-[0-9a-f]{8,17}\b").expect("valid pattern"))
}
