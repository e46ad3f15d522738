//! Retention: from an inventory of AMIs to a plan of what to retire, as a pure function.
//!
//! A plan is decided first and acted on second. [`RetentionPolicy::plan`] depends only on the
//! inventory, the policy and the time, so the same inputs always give the same plan, and every
//! decision carries its reason. Nothing in use, excluded, too young or among the newest of its
//! group is ever planned for retirement.

mod budget;
mod check;
mod configured;
mod inventory;
mod mark;
mod pace;
mod plan;
mod policy;
mod report;
mod sweep;
mod usage;

use rustc_hash::FxHashMap;
use std::fmt;
use std::sync::Arc;

use serde::{Serialize, Serializer};

use crate::model::{Image, ImageId, ImageState};

pub use crate::config::Retire;
pub use crate::model::KEEP_TAG;
pub use budget::MIN_MARGIN;
pub use configured::ConfiguredRetention;
pub use inventory::{gather, parameter_sources, Gathered};
pub use pace::ATTEMPTS;
pub use plan::{plan_sweep, plan_sweep_with};
pub(crate) use policy::snapshot_plan;
pub use policy::{ImagePolicy, RetentionPolicy, Stages};
pub use report::{
    ConsumerCheck, ImageDetail, ItemResult, ItemStatus, LeftoverSnapshot, OrphanSnapshot, Progress, ReferenceCheck,
    SnapshotGeneration, SweepAction, SweepOptions, SweepPlan, SweepReport, SweepStatus, SweepSummary, UndoCheck,
    UnreadableSource, VersionDeletion, RETIRED_SNAPSHOT_TAG,
};
pub use sweep::Sweeper;

/// Something that names an AMI, which makes the AMI in use.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Usage {
    /// An SSM parameter holds the AMI id.
    SsmParameter {
        /// The parameter name.
        name: String,
    },
    /// A launch template version launches the AMI.
    LaunchTemplateVersion {
        /// The template id.
        id: String,
        /// The version number.
        version: i64,
    },
    /// An Auto Scaling group launches the AMI (through its launch template version).
    AutoScalingGroup {
        /// The group name.
        name: String,
    },
    /// An instance (in any state) was launched from the AMI.
    Instance {
        /// The instance id.
        id: String,
    },
    /// A launch configuration launches the AMI.
    LaunchConfiguration {
        /// The launch configuration name.
        name: String,
    },
    /// A CloudFormation stack parameter holds the AMI id.
    StackParameter {
        /// The stack name.
        stack: String,
        /// The parameter key.
        parameter: String,
    },
    /// Something in a consumer account (one the AMI is shared with, reached through a
    /// configured role) launches the AMI, or the account could not be checked.
    Consumer {
        /// The consumer account.
        account: String,
        /// What there names the AMI (e.g. `instance i-0abc`), or why it could not be checked.
        what: String,
    },
    /// An EC2 Image Builder recipe builds from the AMI (read by a scan that decides alone).
    Recipe {
        /// `imagebuilder:ImageRecipe` or `imagebuilder:ContainerRecipe`.
        resource_type: String,
        /// The recipe's ARN.
        arn: String,
    },
    /// A source of usage could not be read, so whether something there names the AMI is
    /// unknown: the AMI is kept (the sweep fails closed).
    Unreadable {
        /// The listing or check that failed.
        source: Source,
        /// AWS's error.
        error: String,
    },
    /// EC2's AMI reference check (`DescribeImageReferences`) found a resource naming the AMI
    /// that the inventory scan did not (an SSM parameter outside the configured paths, an
    /// Image Builder recipe, ...).
    Reference {
        /// The resource type, e.g. `imagebuilder:ImageRecipe`.
        resource_type: String,
        /// The resource's ARN.
        arn: String,
    },
}

/// A listing the sweep's in-use scan reads, or a check it asks: each is a source of usage.
/// Named after the AWS call, as an operator grants and audits it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Source {
    /// Instances in any state but terminated.
    #[serde(rename = "ec2:DescribeInstances")]
    Instances,
    /// The launch templates of the region.
    #[serde(rename = "ec2:DescribeLaunchTemplates")]
    LaunchTemplates,
    /// Every version of every launch template.
    #[serde(rename = "ec2:DescribeLaunchTemplateVersions")]
    LaunchTemplateVersions,
    /// Auto Scaling groups.
    #[serde(rename = "autoscaling:DescribeAutoScalingGroups")]
    AutoScalingGroups,
    /// Launch configurations.
    #[serde(rename = "autoscaling:DescribeLaunchConfigurations")]
    LaunchConfigurations,
    /// CloudFormation stack parameters.
    #[serde(rename = "cloudformation:DescribeStacks")]
    Stacks,
    /// The SSM parameters under the configured paths (and the rules' templated names).
    #[serde(rename = "ssm:GetParametersByPath")]
    ParametersByPath,
    /// The SSM parameters the rules name exactly.
    #[serde(rename = "ssm:GetParameter")]
    NamedParameters,
    /// The history of the parameters a `published_to` grouping names.
    #[serde(rename = "ssm:GetParameterHistory")]
    ParameterHistories,
    /// Every `String` and `StringList` parameter of the region (scan-only mode).
    #[serde(rename = "ssm:DescribeParameters")]
    AllParameters,
    /// The account's Image Builder image and container recipes (scan-only mode).
    #[serde(rename = "imagebuilder:ListImageRecipes")]
    ImageBuilderRecipes,
    /// EC2's AMI reference check, for the AMIs the plan would retire.
    #[serde(rename = "ec2:DescribeImageReferences")]
    ImageReferences,
}

impl Source {
    /// Every source, in a stable order.
    pub const ALL: [Source; 12] = [
        Self::Instances,
        Self::LaunchTemplates,
        Self::LaunchTemplateVersions,
        Self::AutoScalingGroups,
        Self::LaunchConfigurations,
        Self::Stacks,
        Self::ParametersByPath,
        Self::NamedParameters,
        Self::ParameterHistories,
        Self::AllParameters,
        Self::ImageBuilderRecipes,
        Self::ImageReferences,
    ];

    /// The AWS call, e.g. `ec2:DescribeInstances`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Instances => "ec2:DescribeInstances",
            Self::LaunchTemplates => "ec2:DescribeLaunchTemplates",
            Self::LaunchTemplateVersions => "ec2:DescribeLaunchTemplateVersions",
            Self::AutoScalingGroups => "autoscaling:DescribeAutoScalingGroups",
            Self::LaunchConfigurations => "autoscaling:DescribeLaunchConfigurations",
            Self::Stacks => "cloudformation:DescribeStacks",
            Self::ParametersByPath => "ssm:GetParametersByPath",
            Self::NamedParameters => "ssm:GetParameter",
            Self::ParameterHistories => "ssm:GetParameterHistory",
            Self::AllParameters => "ssm:DescribeParameters",
            Self::ImageBuilderRecipes => "imagebuilder:ListImageRecipes",
            Self::ImageReferences => "ec2:DescribeImageReferences",
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of [`Source`]s (the ones a decision consulted), serialized as a list of their names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Sources(u16);

impl Sources {
    /// No source.
    pub const fn empty() -> Self {
        Self(0)
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    /// Adds `source`.
    pub fn insert(&mut self, source: Source) {
        self.0 |= source.bit();
    }

    /// Whether `source` is in the set.
    pub fn contains(&self, source: Source) -> bool {
        self.0 & source.bit() != 0
    }

    /// The sources in the set, in [`Source::ALL`]'s order.
    pub fn iter(self) -> impl Iterator<Item = Source> {
        Source::ALL.into_iter().filter(move |s| self.contains(*s))
    }
}

impl FromIterator<Source> for Sources {
    fn from_iter<I: IntoIterator<Item = Source>>(iter: I) -> Self {
        let mut set = Self::empty();
        for source in iter {
            set.insert(source);
        }
        set
    }
}

impl Serialize for Sources {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SsmParameter { name } => write!(f, "SSM parameter {name}"),
            Self::LaunchTemplateVersion { id, version } => write!(f, "launch template {id} version {version}"),
            Self::AutoScalingGroup { name } => write!(f, "Auto Scaling group {name}"),
            Self::Instance { id } => write!(f, "instance {id}"),
            Self::LaunchConfiguration { name } => write!(f, "launch configuration {name}"),
            Self::StackParameter { stack, parameter } => write!(f, "stack {stack} parameter {parameter}"),
            Self::Consumer { account, what } => write!(f, "account {account}: {what}"),
            Self::Recipe { resource_type, arn } => write!(f, "{resource_type} {arn}"),
            Self::Unreadable { source, error } => {
                write!(f, "unknown: {source} could not be read ({error}), so the AMI is kept")
            }
            Self::Reference { resource_type, arn } => {
                write!(f, "{resource_type} {arn} (found by EC2's AMI reference check)")
            }
        }
    }
}

/// What uses each image (a hash map with a fast hasher: planning looks up every image).
pub type Usages = FxHashMap<ImageId, Vec<Usage>>;

/// What one account and region holds, as far as retention needs it.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    /// Self-owned images.
    pub images: Vec<Image>,
    /// What uses each image; images not in the map are used by nothing.
    pub usages: Usages,
}

/// How images are put into groups; each group keeps its own newest images.
#[derive(Debug, Clone)]
pub enum GroupBy {
    /// By the value of a tag; images without the tag are not judged.
    Tag(String),
    /// By the first of these prefixes the name starts with; other images are not judged.
    NamePrefix(Vec<String>),
    /// By a regular expression on the name: the group is the first capture group, or the whole
    /// match when the pattern has none; images it does not match are not judged.
    NamePattern(regex::Regex),
    /// By a lookup from image to group (e.g. the SSM parameter each image was published to);
    /// images not in the map are not judged.
    Lookup(Arc<FxHashMap<ImageId, Arc<str>>>),
}

impl PartialEq for GroupBy {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Tag(a), Self::Tag(b)) => a == b,
            (Self::NamePrefix(a), Self::NamePrefix(b)) => a == b,
            (Self::NamePattern(a), Self::NamePattern(b)) => a.as_str() == b.as_str(),
            (Self::Lookup(a), Self::Lookup(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for GroupBy {}

impl GroupBy {
    /// The group `image` belongs to, or `None` when this grouping does not select it.
    pub fn group_of<'a>(&'a self, image: &'a Image) -> Option<&'a str> {
        match self {
            Self::Tag(key) => image.tags.get(key).map(String::as_str),
            Self::NamePrefix(prefixes) => {
                prefixes.iter().find(|prefix| image.name.starts_with(prefix.as_str())).map(String::as_str)
            }
            Self::NamePattern(pattern) => {
                let captures = pattern.captures(&image.name)?;
                captures.get(1).or_else(|| captures.get(0)).map(|m| m.as_str())
            }
            Self::Lookup(groups) => groups.get(&image.id).map(|group| &**group),
        }
    }
}

/// The decision for one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Leave it.
    Keep,
    /// Retire it this way.
    Retire(Retire),
}

/// Why an image is kept or retired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Something uses it.
    InUse(Vec<Usage>),
    /// It carries the exclusion tag.
    Excluded(String),
    /// Its deregistration protection is someone else's, or amikeeper cannot prove it is its own
    /// (see [`ownership`](crate::protect::ownership)).
    Protected,
    /// An instance was launched from it recently (`LastLaunchedTime`).
    RecentlyLaunched {
        /// The window, in days.
        within_days: i64,
    },
    /// It is younger than the minimum age.
    TooYoung {
        /// The minimum age, in days.
        min_age_days: i64,
    },
    /// It is not `available` (pending, failed, ...): retention leaves it alone.
    NotAvailable(ImageState),
    /// It is already retired the way the policy retires (deprecated or disabled).
    AlreadyRetired(Retire),
    /// It is among the newest of its group.
    AmongNewest {
        /// Its rank in the group, 1 for the newest.
        rank: usize,
        /// How many the group keeps.
        keep: usize,
    },
    /// It is older than the newest `keep` of its group.
    BeyondNewest {
        /// Its rank in the group, 1 for the newest.
        rank: usize,
        /// How many the group keeps.
        keep: usize,
    },
    /// It is older than the maximum age.
    TooOld {
        /// The maximum age, in days.
        max_age_days: i64,
    },
    /// Younger than the maximum age and within no count limit: nothing retires it.
    NoRuleRetires,
    /// The policy would retire it, but it is younger than the first stage.
    NoStageYet,
    /// It would be retired, but the run already retires as many images as it may.
    DeletionCapReached {
        /// The most retirements per run.
        cap: usize,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InUse(usages) => {
                f.write_str("in use by ")?;
                for (i, usage) in usages.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{usage}")?;
                }
                Ok(())
            }
            Self::Excluded(tag) => write!(f, "carries the exclusion tag {tag}"),
            Self::Protected => f.write_str("protected from deregistration, not by amikeeper"),
            Self::RecentlyLaunched { within_days } => write!(f, "launched from in the last {within_days} days"),
            Self::TooYoung { min_age_days } => write!(f, "younger than {min_age_days} days"),
            Self::NotAvailable(state) => write!(f, "{state}, not available"),
            Self::AlreadyRetired(Retire::Deprecate) => f.write_str("already deprecated"),
            Self::AlreadyRetired(Retire::Disable) => f.write_str("already disabled"),
            Self::AlreadyRetired(Retire::Delete) => f.write_str("already deregistered"),
            Self::AmongNewest { rank, keep } => write!(f, "newest #{rank} of its group, which keeps {keep}"),
            Self::BeyondNewest { rank, keep } => write!(f, "#{rank} of its group, which keeps the newest {keep}"),
            Self::TooOld { max_age_days } => write!(f, "older than {max_age_days} days"),
            Self::NoRuleRetires => f.write_str("no rule retires it"),
            Self::NoStageYet => f.write_str("beyond what its group keeps, but younger than the first stage"),
            Self::DeletionCapReached { cap } => write!(f, "this run already retires {cap}, its maximum"),
        }
    }
}

impl Serialize for Reason {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// One decision of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// The image.
    pub image_id: ImageId,
    /// The group it was judged in.
    pub group: Arc<str>,
    /// What to do.
    pub action: Action,
    /// Why.
    pub reason: Reason,
    /// The sources of usage that answered for this image (filled in by a sweep; empty for a
    /// plan made from an inventory alone).
    #[serde(skip_serializing_if = "Sources::is_empty")]
    pub sources: Sources,
}

/// What to do with one snapshot of a retired image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnapshotDecision {
    /// The snapshot.
    pub snapshot_id: String,
    /// The image it belongs to.
    pub image_id: ImageId,
    /// The size in GiB of its volume, as the image's block device mapping reports it
    /// (`Ebs.VolumeSize`): an upper bound of what deleting it frees, as snapshots are billed
    /// incrementally. `None` when EC2 gave no size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_gib: Option<u32>,
    /// Delete it with its image, or keep it because another image uses it too.
    pub delete: bool,
    /// The image that still uses it, when kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_with: Option<ImageId>,
}

/// A retention plan: one decision per grouped image, in a stable order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The decisions, by group name, then newest first.
    pub decisions: Vec<Decision>,
    /// The snapshots of the images to delete, in the inventory's order.
    pub snapshots: Vec<SnapshotDecision>,
}

impl Plan {
    /// The decisions that retire an image.
    pub fn retirements(&self) -> impl Iterator<Item = &Decision> {
        self.decisions.iter().filter(|d| matches!(d.action, Action::Retire(_)))
    }
}
