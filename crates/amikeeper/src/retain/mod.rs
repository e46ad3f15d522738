//! Retention: from an inventory of AMIs to a plan of what to retire, as a pure function.
//!
//! A plan is decided first and acted on second. [`RetentionPolicy::plan`] depends only on the
//! inventory, the policy and the time, so the same inputs always give the same plan, and every
//! decision carries its reason. Nothing in use, excluded, too young or among the newest of its
//! group is ever planned for retirement.

mod check;
mod inventory;
mod pace;
mod sweep;

use rustc_hash::FxHashMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize, Serializer};
use time::{Duration, OffsetDateTime};

use crate::model::{Image, ImageId, ImageState};

pub use check::{ConsumerCheck, ReferenceCheck, UndoCheck};
pub use inventory::{gather, parameter_sources, Gathered};
pub use pace::ATTEMPTS;
pub(crate) use sweep::ami_ids;
pub use sweep::{
    plan_sweep, ItemResult, ItemStatus, LeftoverSnapshot, OrphanSnapshot, Progress, SnapshotGeneration, SweepOptions,
    SweepAction, SweepPlan, SweepReport, SweepStatus, SweepSummary, Sweeper, UnreadableSource, VersionDeletion, RETIRED_SNAPSHOT_TAG,
};

/// The tag that keeps an AMI or snapshot from every retention policy, whatever its value
/// (the default exclusion tag).
pub const KEEP_TAG: &str = "amikeeper:keep";

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

/// What to do with an image the policy retires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Retire {
    /// Deregister it and delete its snapshots (unless another image uses them).
    #[default]
    Delete,
    /// Mark it deprecated (`EnableImageDeprecation`); it stays usable.
    Deprecate,
    /// Disable it (`DisableImage`): it cannot launch instances, and can be enabled again.
    Disable,
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

/// Decides what to keep.
pub trait RetentionPolicy: Send + Sync {
    /// The plan for `inventory` at time `now`. Must be deterministic and must never retire an
    /// image that `inventory.usages` lists.
    fn plan(&self, inventory: &Inventory, now: OffsetDateTime) -> Plan;
}

/// The configurable policy: group images, keep the newest of each group, never touch what is
/// in use, excluded or young, and retire the rest, at most so many per run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePolicy {
    /// How images are grouped.
    pub group_by: GroupBy,
    /// Keep this many newest images per group (at least 1 when only `max_age` is set).
    pub keep_newest: Option<usize>,
    /// Keep images younger than this.
    pub min_age: Duration,
    /// Retire images older than this (never the group's newest `keep_newest`, or its newest).
    pub max_age: Option<Duration>,
    /// Keep images an instance was launched from within this long (EC2's `LastLaunchedTime`).
    pub keep_launched_within: Option<Duration>,
    /// Keep images that carry this tag, whatever its value.
    pub exclude_tag: Option<String>,
    /// Retire at most this many images per run, the oldest first.
    pub max_retirements: Option<usize>,
    /// What retiring means.
    pub retire: Retire,
    /// Retire by age in stages instead (then `retire` is not used).
    pub stages: Option<Stages>,
}

impl ImagePolicy {
    /// Keep the `keep` newest images per value of tag `key`; nothing else set.
    pub fn keep_newest_by_tag(key: impl Into<String>, keep: usize) -> Self {
        Self {
            group_by: GroupBy::Tag(key.into()),
            keep_newest: Some(keep),
            min_age: Duration::ZERO,
            max_age: None,
            keep_launched_within: None,
            exclude_tag: None,
            max_retirements: None,
            retire: Retire::Delete,
            stages: None,
        }
    }

    /// How many of each group's newest images are always kept.
    pub fn floor(&self) -> usize {
        self.keep_newest.unwrap_or(usize::from(self.max_age.is_some()))
    }
}

impl RetentionPolicy for ImagePolicy {
    fn plan(&self, inventory: &Inventory, now: OffsetDateTime) -> Plan {
        self.plan_with(inventory, now, true)
    }
}

impl ImagePolicy {
    /// The decisions alone, without the snapshot plan (a sweep plans snapshots once, over the
    /// decisions of all its policies).
    pub fn decisions(&self, inventory: &Inventory, now: OffsetDateTime) -> Vec<Decision> {
        self.plan_with(inventory, now, false).decisions
    }

    fn plan_with(&self, inventory: &Inventory, now: OffsetDateTime, with_snapshots: bool) -> Plan {
        // Planning a million images must stay well under a second, so every pass that reads
        // the images reads them in memory order, and the sorting works on compact keys.
        let images = &inventory.images;
        let floor = self.floor();

        // Pass 1, in memory order: each image's group and age key.
        let mut group_of: Vec<u32> = vec![u32::MAX; images.len()];
        let mut group_names: Vec<&str> = Vec::new();
        let mut group_ids: FxHashMap<&str, u32> = FxHashMap::default();
        let mut members: Vec<Vec<(i128, &str, u32)>> = Vec::new();
        for (index, image) in images.iter().enumerate() {
            let Some(name) = self.group_by.group_of(image) else { continue };
            let id = *group_ids.entry(name).or_insert_with(|| {
                group_names.push(name);
                members.push(Vec::new());
                (group_names.len() - 1) as u32
            });
            group_of[index] = id;
            members[id as usize].push((image.created.unix_timestamp_nanos(), image.id.as_str(), index as u32));
        }

        // Rank within each group, newest first: by creation time, then id (EC2 dates have
        // one-second resolution). A duplicate id is judged once.
        let mut rank: Vec<u32> = vec![0; images.len()];
        for group in &mut members {
            group.sort_unstable_by(|a, b| (b.0, b.1).cmp(&(a.0, a.1)));
            group.dedup_by(|a, b| a.1 == b.1);
            for (position, &(_, _, index)) in group.iter().enumerate() {
                rank[index as usize] = position as u32 + 1;
            }
        }

        // Pass 2, in memory order: the decisions.
        let arcs: Vec<Arc<str>> = group_names.iter().map(|name| Arc::from(*name)).collect();
        let mut slots: Vec<Option<Decision>> = Vec::with_capacity(images.len());
        for (index, image) in images.iter().enumerate() {
            if rank[index] == 0 {
                slots.push(None);
                continue;
            }
            let mut reason = self.judge(inventory, image, rank[index] as usize, floor, now);
            let action = match (&reason, &self.stages) {
                (Reason::BeyondNewest { .. } | Reason::TooOld { .. }, None) => Action::Retire(self.retire),
                (Reason::BeyondNewest { .. } | Reason::TooOld { .. }, Some(stages)) => {
                    match stages.stage_for(now - image.created) {
                        Some(stage) if already_retired(image, stage, now) => {
                            reason = Reason::AlreadyRetired(stage);
                            Action::Keep
                        }
                        Some(stage) => Action::Retire(stage),
                        None => {
                            reason = Reason::NoStageYet;
                            Action::Keep
                        }
                    }
                }
                _ => Action::Keep,
            };
            let group = arcs[group_of[index] as usize].clone();
            slots.push(Some(Decision { image_id: image.id.clone(), group, action, reason, sources: Sources::empty() }));
        }

        // The cap: the oldest candidates first.
        if let Some(cap) = self.max_retirements {
            let mut candidates: Vec<(i128, &str, u32)> = members
                .iter()
                .flatten()
                .filter(|(_, _, index)| {
                    slots[*index as usize].as_ref().is_some_and(|d| matches!(d.action, Action::Retire(_)))
                })
                .copied()
                .collect();
            if candidates.len() > cap {
                candidates.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
                for &(_, _, index) in &candidates[cap..] {
                    if let Some(decision) = slots[index as usize].as_mut() {
                        decision.action = Action::Keep;
                        decision.reason = Reason::DeletionCapReached { cap };
                    }
                }
            }
        }

        let snapshots = if with_snapshots && self.retire == Retire::Delete {
            snapshot_plan(images, |index| {
                slots[index].as_ref().is_some_and(|d| d.action == Action::Retire(Retire::Delete))
            })
        } else {
            Vec::new()
        };

        // The decisions in plan order: by group name, then newest first.
        let mut order: Vec<u32> = (0..group_names.len() as u32).collect();
        order.sort_unstable_by_key(|&id| group_names[id as usize]);
        let mut decisions = Vec::with_capacity(images.len());
        for id in order {
            for &(_, _, index) in &members[id as usize] {
                decisions.extend(slots[index as usize].take());
            }
        }
        Plan { decisions, snapshots }
    }
}

impl ImagePolicy {
    fn judge(&self, inventory: &Inventory, image: &Image, rank: usize, floor: usize, now: OffsetDateTime) -> Reason {
        if let Some(usages) = inventory.usages.get(&image.id).filter(|u| !u.is_empty()) {
            return Reason::InUse(usages.clone());
        }
        if let Some(tag) = self.exclude_tag.as_ref().filter(|tag| image.tags.contains_key(*tag)) {
            return Reason::Excluded(tag.clone());
        }
        if crate::protect::ownership(image) == crate::protect::Ownership::SomeoneElses {
            return Reason::Protected;
        }
        // Disabled images may still be deleted; pending, failed and odd states are left alone.
        if !matches!(image.state, ImageState::Available | ImageState::Disabled) {
            return Reason::NotAvailable(image.state);
        }
        if rank <= floor {
            return Reason::AmongNewest { rank, keep: floor };
        }
        if let Some(window) = self.keep_launched_within {
            if image.last_launched.is_some_and(|at| now - at < window) {
                return Reason::RecentlyLaunched { within_days: window.whole_days() };
            }
        }
        if self.stages.is_none() && already_retired(image, self.retire, now) {
            return Reason::AlreadyRetired(self.retire);
        }
        let age = now - image.created;
        if age < self.min_age {
            return Reason::TooYoung { min_age_days: self.min_age.whole_days() };
        }
        if let Some(keep) = self.keep_newest {
            if rank > keep {
                return Reason::BeyondNewest { rank, keep };
            }
        }
        match self.max_age {
            Some(max_age) if age > max_age => Reason::TooOld { max_age_days: max_age.whole_days() },
            _ => Reason::NoRuleRetires,
        }
    }
}

/// Whether `image` is already retired the way `how` retires.
fn already_retired(image: &Image, how: Retire, now: OffsetDateTime) -> bool {
    match how {
        Retire::Delete => false,
        // EC2 takes deprecation times from a minute ahead, so a sweep schedules it then; one
        // scheduled within the hour counts as done.
        Retire::Deprecate => image.deprecated_at.is_some_and(|at| at <= now + Duration::HOUR),
        Retire::Disable => image.state == ImageState::Disabled,
    }
}

/// Gentler retirement by age: deprecate first, then disable, then delete. An image the policy
/// retires gets the strongest stage its age has reached; before the first, it is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stages {
    /// Deprecate images at least this old.
    pub deprecate_after: Option<Duration>,
    /// Disable images at least this old.
    pub disable_after: Option<Duration>,
    /// Delete images at least this old.
    pub delete_after: Option<Duration>,
}

impl Stages {
    /// The strongest stage an image of this age has reached.
    pub fn stage_for(&self, age: Duration) -> Option<Retire> {
        let reached = |after: Option<Duration>| after.is_some_and(|after| age >= after);
        if reached(self.delete_after) {
            Some(Retire::Delete)
        } else if reached(self.disable_after) {
            Some(Retire::Disable)
        } else if reached(self.deprecate_after) {
            Some(Retire::Deprecate)
        } else {
            None
        }
    }
}

/// The snapshots of the images to delete: each goes with its image unless an image that
/// stays uses it too. `deleted(i)` says whether `images[i]` is deleted.
///
/// Read in memory order; where two deleted images share a snapshot, the smallest image id is
/// named, so which image a snapshot goes with does not depend on the inventory's order.
pub(crate) fn snapshot_plan(images: &[Image], deleted: impl Fn(usize) -> bool) -> Vec<SnapshotDecision> {
    let mut kept_users: FxHashMap<&str, &ImageId> = FxHashMap::default();
    for (index, image) in images.iter().enumerate() {
        if deleted(index) {
            continue;
        }
        for snapshot in &image.snapshot_ids {
            let user = kept_users.entry(snapshot.as_str()).or_insert(&image.id);
            if image.id < **user {
                *user = &image.id;
            }
        }
    }
    let deletions = (0..images.len()).filter(|&index| deleted(index)).count();
    let mut out: Vec<SnapshotDecision> = Vec::with_capacity(deletions);
    let mut seen: FxHashMap<&str, usize> = FxHashMap::with_capacity_and_hasher(deletions, Default::default());
    for (index, image) in images.iter().enumerate() {
        if !deleted(index) {
            continue;
        }
        for snapshot in &image.snapshot_ids {
            if let Some(&position) = seen.get(snapshot.as_str()) {
                if image.id < out[position].image_id {
                    out[position].image_id = image.id.clone();
                }
                continue;
            }
            seen.insert(snapshot.as_str(), out.len());
            let shared_with = kept_users.get(snapshot.as_str()).map(|id| (*id).clone());
            out.push(SnapshotDecision {
                snapshot_id: snapshot.clone(),
                image_id: image.id.clone(),
                delete: shared_with.is_none(),
                shared_with,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AccountId;

    fn image(id: &str, role: &str, day: i64) -> Image {
        Image {
            id: ImageId::new(id),
            name: format!("{role}-{id}"),
            description: None,
            state: ImageState::Available,
            created: OffsetDateTime::UNIX_EPOCH + Duration::days(day),
            owner: AccountId::new("111122223333"),
            tags: [("Role".to_owned(), role.to_owned())].into(),
            snapshot_ids: vec![format!("snap-{id}")],
            deprecated_at: None,
            last_launched: None,
            deregistration_protected: false,
            deregistration_protection_cooldown: false,
            allowed: None,
        }
    }

    fn now() -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + Duration::days(100)
    }

    fn retired(plan: &Plan) -> Vec<&str> {
        plan.retirements().map(|d| d.image_id.as_str()).collect()
    }

    #[test]
    fn keeps_newest_per_group_and_anything_in_use() {
        let inventory = Inventory {
            images: vec![
                image("ami-1", "web", 1),
                image("ami-2", "web", 2),
                image("ami-3", "web", 3),
                image("ami-4", "db", 4),
            ],
            usages: [(ImageId::new("ami-1"), vec![Usage::SsmParameter { name: "/ami/web".into() }])]
                .into_iter()
                .collect(),
        };
        let policy = ImagePolicy::keep_newest_by_tag("Role", 1);
        let plan = policy.plan(&inventory, now());
        assert_eq!(retired(&plan), ["ami-2"]);
        let kept = plan.decisions.iter().find(|d| d.image_id.as_str() == "ami-1").unwrap();
        assert_eq!(kept.reason.to_string(), "in use by SSM parameter /ami/web");
        assert_eq!(plan, policy.plan(&inventory, now()), "deterministic");
        assert_eq!(plan.snapshots.len(), 1);
        assert!(plan.snapshots[0].delete);
    }

    #[test]
    fn a_snapshot_another_image_uses_is_kept() {
        let mut old = image("ami-1", "web", 1);
        let new = image("ami-2", "web", 2);
        old.snapshot_ids.push("snap-ami-2".into());
        let inventory = Inventory { images: vec![old, new], usages: Usages::default() };
        let plan = ImagePolicy::keep_newest_by_tag("Role", 1).plan(&inventory, now());
        let shared = plan.snapshots.iter().find(|s| s.snapshot_id == "snap-ami-2").unwrap();
        assert!(!shared.delete);
        assert_eq!(shared.shared_with.as_ref().map(ImageId::as_str), Some("ami-2"));
    }

    #[test]
    fn min_age_max_age_exclusion_and_cap() {
        let mut images: Vec<Image> = (1..=6).map(|d| image(&format!("ami-{d}"), "web", d * 15)).collect();
        images[0].tags.insert("amikeeper:keep".into(), "yes".into());
        let inventory = Inventory { images, usages: Usages::default() };
        let policy = ImagePolicy {
            group_by: GroupBy::NamePrefix(vec!["web-".into()]),
            keep_newest: None,
            min_age: Duration::days(20),
            max_age: Some(Duration::days(50)),
            keep_launched_within: None,
            exclude_tag: Some("amikeeper:keep".into()),
            max_retirements: Some(1),
            retire: Retire::Deprecate,
            stages: None,
        };
        let plan = policy.plan(&inventory, now());
        // Ages: ami-1 85 d (excluded), ami-2 70 d, ami-3 55 d, ami-4 40 d, ami-5 25 d, ami-6 10 d (newest).
        assert_eq!(retired(&plan), ["ami-2"], "{plan:#?}");
        let capped = plan.decisions.iter().find(|d| d.image_id.as_str() == "ami-3").unwrap();
        assert_eq!(capped.reason, Reason::DeletionCapReached { cap: 1 });
        assert!(plan.snapshots.is_empty(), "deprecation keeps snapshots");
    }
}
