//! The sweep: gather the inventory of a region, plan (a pure function), then act on the plan.
//!
//! [`plan_sweep`] decides, from what was gathered, the configuration and the time:
//! - which launch template versions to delete (never the default, the latest, or a version an
//!   Auto Scaling group names; always keeping the newest `keep_versions`);
//! - what uses each AMI: the launch template versions that stay, the Auto Scaling groups (the
//!   version each names), the instances that are not terminated, the SSM parameters and the
//!   stack parameters whose values hold its id;
//! - which AMIs each image policy retires, and which of their snapshots go with them;
//! - which snapshots of volumes tagged with the generations tag to keep, tag or delete;
//! - which snapshots no AMI uses (orphans; deleted only when asked).
//!
//! [`Sweeper`] acts on the plan: launch template versions first, then images (an image whose
//! launch template version could not be deleted is skipped), then snapshots. Calls run at most
//! `concurrency` at once, are paced (and slow down when AWS throttles), are retried on
//! retryable errors, and one failure never stops the rest. Every item is reported. A second run
//! converges: what is gone is not planned again, and "not found" counts as done.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

use futures::stream::{self, StreamExt};
use serde::Serialize;
use time::{Duration, OffsetDateTime};

use super::check::{self, ConsumerCheck, ReferenceCheck, UndoCheck};
use super::inventory::{gather_paced, Gathered};
use super::pace::Pacer;
use super::Sources;
use super::{
    snapshot_plan, Action, Decision, GroupBy, ImagePolicy, Inventory, Retire, SnapshotDecision, Source, Usage, Usages,
};
use crate::backend::Aws;
use crate::config::{Config, GroupByConfig, ImagePolicyConfig, RetentionConfig};
use crate::error::{AwsError, AwsErrorKind};
use crate::model::{Image, ImageId, Region, SnapshotState, Tags};
use crate::protect::{LetGoFailure, Ownership, Step};

/// Options for one sweep.
#[derive(Debug, Clone, Default)]
pub struct SweepOptions {
    /// Act on the plan; without it the sweep only plans.
    pub apply: bool,
    /// The time to plan at (default: now). Ages are measured from it.
    pub now: Option<OffsetDateTime>,
}

/// A launch template version the plan deletes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionDeletion {
    /// The template id.
    pub template_id: String,
    /// The template name.
    pub template_name: String,
    /// The version number.
    pub version: i64,
    /// The AMI the version launches, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_id: Option<ImageId>,
}

/// The decision for one snapshot of a volume managed by the generations tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnapshotGeneration {
    /// The volume.
    pub volume_id: String,
    /// The snapshot.
    pub snapshot_id: String,
    /// Its rank among the volume's completed snapshots, 1 for the newest.
    pub rank: usize,
    /// How many the volume keeps.
    pub keep: usize,
    /// Delete it.
    pub delete: bool,
    /// Tag it (a kept snapshot that lacks the tag).
    pub tag: bool,
    /// Why.
    pub reason: String,
}

/// A snapshot no AMI uses and no generations tag manages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrphanSnapshot {
    /// The snapshot.
    pub snapshot_id: String,
    /// The volume it was taken from, if EC2 says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_id: Option<String>,
    /// When it was started.
    #[serde(with = "time::serde::rfc3339")]
    pub started: OffsetDateTime,
    /// Delete it (`delete_orphans`, and no exclusion tag).
    pub delete: bool,
}

/// What a sweep of one region decided; a pure function of the inventory, the configuration
/// and the time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SweepPlan {
    /// The region.
    pub region: Region,
    /// The time the plan was made for.
    #[serde(with = "time::serde::rfc3339")]
    pub now: OffsetDateTime,
    /// One decision per image a policy judged, by policy, then group, then newest first.
    pub images: Vec<Decision>,
    /// The snapshots of the images the plan deletes.
    pub image_snapshots: Vec<SnapshotDecision>,
    /// The launch template versions to delete.
    pub launch_template_versions: Vec<VersionDeletion>,
    /// The snapshots of volumes with the generations tag.
    pub snapshot_generations: Vec<SnapshotGeneration>,
    /// Snapshots no AMI uses.
    pub orphans: Vec<OrphanSnapshot>,
    /// Snapshots an earlier sweep marked ([`RETIRED_SNAPSHOT_TAG`]) before it deregistered
    /// their AMI, and did not delete (it was interrupted, or the deletion failed): deleted now,
    /// unless an AMI uses them or they carry the exclusion tag.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub leftover_snapshots: Vec<LeftoverSnapshot>,
    /// The sources of usage that were read.
    pub sources_read: Sources,
    /// The sources of usage that could not be read: every image is kept.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sources_unreadable: Vec<UnreadableSource>,
    /// AMIs with amikeeper's deregistration protection that no pointer names any more (SSM
    /// parameter, launch template version, Auto Scaling group, launch configuration, stack
    /// parameter) and that the plan does not delete: their protection is turned off.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub release_protection: Vec<ImageId>,
    /// AMIs whose `amikeeper:protected` tag claims a protection amikeeper does not hold (it is
    /// off, or on with a cooldown) and that the plan does not delete: the claim is withdrawn, so
    /// that a protection someone turns on later is not taken for amikeeper's.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub withdraw_protection_claims: Vec<ImageId>,
    /// Which sources decided what is in use: the inventory scan always, and what EC2's AMI
    /// reference check said about the images the plan would otherwise retire.
    pub image_references: ReferenceCheck,
    /// What each consumer account (`[[retention.consumers]]`) said.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub consumers: Vec<ConsumerCheck>,
    /// Whether the AMIs and snapshots the plan deletes can be restored from the Recycle Bin.
    pub recycle_bin: UndoCheck,
    /// What could not be checked or understood.
    pub warnings: Vec<String>,
}

/// The tag a sweep puts on the snapshots it will delete (value `true`), before it deregisters
/// their AMI, so that the next sweep finds and deletes any it left behind. Remove the tag to
/// keep such a snapshot.
pub const RETIRED_SNAPSHOT_TAG: &str = "amikeeper:retired";

/// A snapshot an earlier sweep left behind (see [`SweepPlan::leftover_snapshots`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeftoverSnapshot {
    /// The snapshot.
    pub snapshot_id: String,
    /// The AMI it was made for, from the description EC2 gives AMI snapshots
    /// (`Created by CreateImage(...) for ami-...`), when it says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_id: Option<ImageId>,
    /// Delete it (no AMI uses it, no exclusion tag).
    pub delete: bool,
    /// Why it is deleted or kept.
    pub reason: String,
}

/// A source of usage the sweep could not read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnreadableSource {
    /// The listing.
    pub source: Source,
    /// AWS's error.
    pub error: String,
}

impl SweepPlan {
    /// The image decisions that retire an image.
    pub fn retirements(&self) -> impl Iterator<Item = &Decision> {
        self.images.iter().filter(|d| matches!(d.action, Action::Retire(_)))
    }
}

named_enum! {
    /// What happened to one item when the plan was applied.
    #[non_exhaustive]
    pub enum ItemStatus {
        /// Done.
        Done = "done",
        /// Already gone (AWS says it does not exist): nothing left to do.
        AlreadyGone = "already_gone",
        /// Not attempted, because something it depends on failed.
        Skipped = "skipped",
        /// Failed; a later run tries again.
        Failed = "failed",
    }
}

named_enum! {
    /// One kind of action of a sweep.
    #[non_exhaustive]
    pub enum SweepAction {
        /// Deregister an image (its snapshots are deleted after).
        DeregisterImage = "deregister_image",
        /// Deprecate an image.
        DeprecateImage = "deprecate_image",
        /// Disable an image.
        DisableImage = "disable_image",
        /// Turn off amikeeper's deregistration protection on an image no pointer names.
        ReleaseProtection = "release_protection",
        /// Take back amikeeper's claim on a protection that is no longer its own.
        WithdrawProtectionClaim = "withdraw_protection_claim",
        /// Tag the snapshots of the images about to be deregistered, so that an interrupted
        /// sweep leaves them for the next one to find.
        MarkSnapshots = "mark_snapshots",
        /// Delete a snapshot.
        DeleteSnapshot = "delete_snapshot",
        /// Delete a launch template version.
        DeleteLaunchTemplateVersion = "delete_launch_template_version",
        /// Tag the snapshots of a volume with the generation they keep.
        TagSnapshots = "tag_snapshots",
    }
}

named_enum! {
    /// The overall result of a sweep.
    #[non_exhaustive]
    pub enum SweepStatus {
        /// Every action was done (or there was none).
        Ok = "ok",
        /// An action failed (the rest were still done), or the sweep could not run.
        Failed = "failed",
    }
}

/// The result of one action of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemResult {
    /// The resource: an AMI, snapshot or launch template id.
    pub resource: String,
    /// The action.
    pub action: SweepAction,
    /// The version, for launch template versions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// What happened.
    pub status: ItemStatus,
    /// How many attempts it took.
    pub attempts: u32,
    /// Why it failed or was skipped, or how it was done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Counts of a sweep.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SweepSummary {
    /// Images some policy judged.
    pub images_judged: usize,
    /// Images the plan retires.
    pub images_planned: usize,
    /// Images retired (deregistered, deprecated or disabled) or found already gone.
    pub images_retired: usize,
    /// Snapshots the plan deletes (with images, beyond generations, orphans).
    pub snapshots_planned: usize,
    /// Snapshots deleted or found already gone.
    pub snapshots_deleted: usize,
    /// Launch template versions the plan deletes.
    pub launch_template_versions_planned: usize,
    /// Launch template versions deleted.
    pub launch_template_versions_deleted: usize,
    /// Snapshots tagged with the volume they keep a generation of.
    pub snapshots_tagged: usize,
    /// Snapshots no AMI uses.
    pub orphans: usize,
    /// AMIs whose amikeeper protection was turned off, as no pointer names them.
    pub protection_released: usize,
    /// Actions that failed.
    pub failed: usize,
    /// Actions skipped because something they depend on failed.
    pub skipped: usize,
    /// Answers in which AWS throttled a call (`RequestLimitExceeded`, `Throttling`, ...),
    /// whoever retried it: the sweep itself, or the AWS SDK before amikeeper saw an answer.
    pub throttled: u64,
    /// The slowest pace, in calls a second, that throttling brought the sweep down to (below
    /// `max_requests_per_second`, if set); `None` when throttling never slowed it.
    pub slowed_to_per_second: Option<u32>,
}

/// The report of one sweep.
#[derive(Debug, Clone, Serialize)]
pub struct SweepReport {
    /// Whether the plan was acted on.
    pub applied: bool,
    /// `ok`, or `failed` when any action failed (the rest were still done).
    pub status: SweepStatus,
    /// Counts.
    pub summary: SweepSummary,
    /// The plan.
    pub plan: SweepPlan,
    /// One result per action, when applied.
    pub results: Vec<ItemResult>,
    /// AWS calls made (inventory and actions).
    pub aws_calls: usize,
    /// AWS calls per operation.
    pub aws_calls_by_operation: BTreeMap<String, usize>,
}

/// How far a sweep is: `done` of `total` actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Actions finished.
    pub done: usize,
    /// Actions in the plan.
    pub total: usize,
}

/// `ami-…` ids inside any text (a parameter value, a stack parameter, a report value).
pub(crate) fn ami_ids() -> &'static regex::Regex {
    static AMI: OnceLock<regex::Regex> = OnceLock::new();
    AMI.get_or_init(|| regex::Regex::new(r"\bami-[0-9a-f]{8,17}\b").expect("valid pattern"))
}

/// The [`ImagePolicy`] a `[[retention.images]]` entry describes; `gathered` has the parameter
/// histories a `published_to` grouping reads.
pub fn image_policy(config: &ImagePolicyConfig, gathered: &Gathered) -> Result<ImagePolicy, regex::Error> {
    let group_by = match &config.group_by {
        GroupByConfig::Tag(key) => GroupBy::Tag(key.clone()),
        GroupByConfig::NamePrefix(prefixes) => GroupBy::NamePrefix(prefixes.clone()),
        GroupByConfig::NamePattern(pattern) => GroupBy::NamePattern(regex::Regex::new(pattern)?),
        GroupByConfig::PublishedTo(names) => {
            let mut groups: rustc_hash::FxHashMap<ImageId, Arc<str>> = Default::default();
            for name in names {
                let group: Arc<str> = Arc::from(name.as_str());
                for (_, value) in gathered.parameter_histories.get(name).into_iter().flatten() {
                    for found in ami_ids().find_iter(value) {
                        groups.entry(ImageId::new(found.as_str())).or_insert_with(|| group.clone());
                    }
                }
            }
            GroupBy::Lookup(Arc::new(groups))
        }
    };
    Ok(ImagePolicy {
        group_by,
        keep_newest: config.keep_newest,
        min_age: Duration::days(i64::from(config.min_age_days)),
        max_age: config.max_age_days.map(|days| Duration::days(i64::from(days))),
        keep_launched_within: config.keep_launched_within_days.map(|days| Duration::days(i64::from(days))),
        exclude_tag: Some(config.exclude_tag.clone()),
        max_retirements: config.max_retirements,
        retire: config.retire,
        stages: config.stages.map(|s| super::Stages {
            deprecate_after: s.deprecate_after_days.map(|d| Duration::days(i64::from(d))),
            disable_after: s.disable_after_days.map(|d| Duration::days(i64::from(d))),
            delete_after: s.delete_after_days.map(|d| Duration::days(i64::from(d))),
        }),
    })
}

/// The version number `version` (`$Latest`, `$Default` or a number) names in a template.
fn version_number(version: &str, default: i64, latest: i64) -> Option<i64> {
    match version {
        "$Latest" => Some(latest),
        "$Default" => Some(default),
        number => number.parse().ok(),
    }
}

/// What names each image in `gathered` (the launch template versions that stay, Auto Scaling
/// groups, launch configurations, instances, SSM and stack parameters, EC2's reference check and
/// consumer accounts), and the launch template versions beyond `keep_versions` to delete.
pub(crate) fn usages(
    gathered: &Gathered,
    keep_versions: Option<usize>,
    warnings: &mut Vec<String>,
) -> (Usages, Vec<VersionDeletion>) {
    // Launch template versions: what Auto Scaling groups name, then what to delete.
    let templates: HashMap<&str, _> = gathered.launch_templates.iter().map(|(t, v)| (t.id.as_str(), (t, v))).collect();
    let mut usages = Usages::default();
    let mut named_by_groups: BTreeSet<(&str, i64)> = BTreeSet::new();
    for group in &gathered.auto_scaling_groups {
        for spec in group.launch_template.iter().chain(&group.override_launch_templates) {
            let Some((template, versions)) = templates.get(spec.id.as_str()) else {
                warnings.push(format!(
                    "Auto Scaling group {} names launch template {}, which was not found",
                    group.name, spec.id
                ));
                continue;
            };
            let Some(number) = version_number(&spec.version, template.default_version, template.latest_version) else {
                warnings.push(format!("Auto Scaling group {} names version `{}`", group.name, spec.version));
                continue;
            };
            named_by_groups.insert((template.id.as_str(), number));
            if let Some(image) = versions.iter().find(|v| v.number == number).and_then(|v| v.image_id.clone()) {
                usages.entry(image).or_default().push(Usage::AutoScalingGroup { name: group.name.clone() });
            }
        }
    }
    // Without the groups, which versions they launch is unknown: delete none.
    let groups_unread = gathered.unreadable.iter().any(|(source, _)| *source == Source::AutoScalingGroups);
    let keep_versions = keep_versions.filter(|_| !groups_unread);
    let mut version_deletions = Vec::new();
    for (template, versions) in &gathered.launch_templates {
        let mut newest_first: Vec<_> = versions.iter().collect();
        newest_first.sort_by_key(|version| std::cmp::Reverse(version.number));
        for (position, version) in newest_first.iter().enumerate() {
            let protected = version.number == template.default_version
                || version.number == template.latest_version
                || version.is_default
                || named_by_groups.contains(&(template.id.as_str(), version.number));
            let kept = match keep_versions {
                Some(keep) => protected || position < keep,
                None => true,
            };
            if kept {
                if let Some(image) = &version.image_id {
                    let usage = Usage::LaunchTemplateVersion { id: template.id.clone(), version: version.number };
                    usages.entry(image.clone()).or_default().push(usage);
                }
            } else {
                version_deletions.push(VersionDeletion {
                    template_id: template.id.clone(),
                    template_name: template.name.clone(),
                    version: version.number,
                    image_id: version.image_id.clone(),
                });
            }
        }
    }

    // Everything else that names an AMI.
    for configuration in &gathered.launch_configurations {
        let usage = Usage::LaunchConfiguration { name: configuration.name.clone() };
        usages.entry(configuration.image_id.clone()).or_default().push(usage);
    }
    for instance in &gathered.instances {
        usages.entry(instance.image_id.clone()).or_default().push(Usage::Instance { id: instance.id.clone() });
    }
    for parameter in &gathered.parameters {
        for found in ami_ids().find_iter(&parameter.value) {
            let usage = Usage::SsmParameter { name: parameter.name.clone() };
            usages.entry(ImageId::new(found.as_str())).or_default().push(usage);
        }
    }
    for (image, usage) in &gathered.consumer_usages {
        usages.entry(image.clone()).or_default().push(usage.clone());
    }
    // EC2's reference check, for images the scan found unused (it is asked about candidates).
    // The scan read every version of the templates it saw and knows which ones this plan
    // deletes, so it decides for those; the check adds templates the scan did not see.
    for reference in &gathered.image_references {
        let template_seen = reference.resource_type == "ec2:LaunchTemplate"
            && reference.arn.rsplit_once('/').is_some_and(|(_, id)| templates.contains_key(id));
        if template_seen {
            continue;
        }
        let list = usages.entry(reference.image_id.clone()).or_default();
        if list.iter().all(|usage| matches!(usage, Usage::Reference { .. })) {
            list.push(Usage::Reference { resource_type: reference.resource_type.clone(), arn: reference.arn.clone() });
        }
    }
    for stack in &gathered.stacks {
        for (key, value) in &stack.parameters {
            for found in ami_ids().find_iter(value) {
                let usage = Usage::StackParameter { stack: stack.name.clone(), parameter: key.clone() };
                usages.entry(ImageId::new(found.as_str())).or_default().push(usage);
            }
        }
    }
    for recipe in &gathered.recipes {
        for found in ami_ids().find_iter(&recipe.image) {
            let usage = Usage::Recipe { resource_type: recipe.resource_type.clone(), arn: recipe.arn.clone() };
            usages.entry(ImageId::new(found.as_str())).or_default().push(usage);
        }
    }
    // Fail closed: what could not be read might name any image, and an image EC2's reference
    // check did not answer for might be named by what only the check sees.
    for (image, error) in &gathered.references_unanswered {
        let usage = Usage::Unreadable { source: Source::ImageReferences, error: error.clone() };
        usages.entry(image.clone()).or_default().push(usage);
    }
    if !gathered.unreadable.is_empty() {
        for image in &gathered.images {
            let list = usages.entry(image.id.clone()).or_default();
            for (source, error) in &gathered.unreadable {
                list.push(Usage::Unreadable { source: *source, error: error.clone() });
            }
        }
    }
    for list in usages.values_mut() {
        list.sort_by_key(|usage| usage.to_string());
        list.dedup();
    }
    (usages, version_deletions)
}

/// Plans a sweep of what was gathered in `region`, at `now`. Pure: the same inputs give the
/// same plan.
pub fn plan_sweep(config: &Config, gathered: &Gathered, region: &Region, now: OffsetDateTime) -> SweepPlan {
    let default_retention = RetentionConfig {
        concurrency: 1,
        max_requests_per_second: None,
        parameter_paths: Vec::new(),
        images: Vec::new(),
        launch_templates: None,
        snapshots: None,
        image_references: crate::config::ImageReferences::ScanOnly,
        recycle_bin: false,
        consumers: Vec::new(),
    };
    let retention = config.retention.as_ref().unwrap_or(&default_retention);
    let mut warnings = gathered.warnings.clone();

    let keep_versions = retention.launch_templates.map(|policy| policy.keep_versions);
    let (usages, version_deletions) = usages(gathered, keep_versions, &mut warnings);

    // Images: each policy judges the images no earlier policy selected.
    let mut policies = Vec::new();
    for (i, config) in retention.images.iter().enumerate() {
        match image_policy(config, gathered) {
            Ok(policy) => policies.push(policy),
            Err(error) => warnings.push(format!("retention.images[{i}] is skipped: {error}")),
        }
    }
    let mut decisions: Vec<Decision> = Vec::new();
    let mut judged: HashMap<ImageId, usize> = HashMap::new();
    let mut inventory = Inventory { images: Vec::new(), usages };
    for (i, policy) in policies.iter().enumerate() {
        inventory.images = gathered
            .images
            .iter()
            .filter(|image| policies[..i].iter().all(|earlier| earlier.group_by.group_of(image).is_none()))
            .cloned()
            .collect();
        for decision in policy.decisions(&inventory, now) {
            judged.insert(decision.image_id.clone(), decisions.len());
            decisions.push(decision);
        }
    }
    // The sources each decision rests on.
    for decision in &mut decisions {
        decision.sources = gathered.read;
        if gathered.references_answered.contains(&decision.image_id) {
            decision.sources.insert(Source::ImageReferences);
        }
    }
    let deleted: Vec<bool> = gathered
        .images
        .iter()
        .map(|image| judged.get(&image.id).is_some_and(|&i| decisions[i].action == Action::Retire(Retire::Delete)))
        .collect();
    let image_snapshots = snapshot_plan(&gathered.images, |index| deleted[index]);
    let named_by_a_pointer = |image: &Image| {
        inventory.usages.get(&image.id).is_some_and(|u| u.iter().any(|u| !matches!(u, Usage::Instance { .. })))
    };
    let release_protection = gathered
        .images
        .iter()
        .zip(&deleted)
        .filter(|(image, deleted)| !**deleted && crate::protect::is_amikeepers(image) && !named_by_a_pointer(image))
        .map(|(image, _)| image.id.clone())
        .collect();
    let withdraw_protection_claims = gathered
        .images
        .iter()
        .zip(&deleted)
        .filter(|(image, deleted)| !**deleted && crate::protect::claims_without_holding(image))
        .map(|(image, _)| image.id.clone())
        .collect();

    // Snapshots: generations of tagged volumes, then orphans.
    let used_by_images: HashMap<&str, &ImageId> = gathered
        .images
        .iter()
        .flat_map(|image| image.snapshot_ids.iter().map(move |s| (s.as_str(), &image.id)))
        .collect();
    let snapshot_config = retention.snapshots.as_ref();
    let exclude = snapshot_config.map_or(super::KEEP_TAG, |s| s.exclude_tag.as_str());
    let mut snapshot_generations = Vec::new();
    let mut managed_volumes: BTreeSet<&str> = BTreeSet::new();
    if let Some(tag) = snapshot_config.and_then(|s| s.generations_tag.as_deref()) {
        let tag_key = snapshot_config.map_or("amikeeper:volume", |s| s.tag_kept_with.as_str());
        let mut volumes: Vec<_> = gathered.volumes.iter().collect();
        volumes.sort_by(|a, b| a.id.cmp(&b.id));
        for volume in volumes {
            let Some(value) = volume.tags.get(tag) else { continue };
            let keep = match value.trim().parse::<usize>() {
                Ok(keep) if keep > 0 => keep,
                _ => {
                    warnings.push(format!(
                        "volume {} has {tag}=`{value}`, not a number of generations (1 or more); its snapshots are left alone",
                        volume.id
                    ));
                    continue;
                }
            };
            managed_volumes.insert(volume.id.as_str());
            let mut snapshots: Vec<_> = gathered
                .snapshots
                .iter()
                .filter(|s| s.volume_id.as_deref() == Some(volume.id.as_str()) && s.state == SnapshotState::Completed)
                .collect();
            snapshots.sort_by(|a, b| (b.started, &b.id).cmp(&(a.started, &a.id)));
            for (position, snapshot) in snapshots.iter().enumerate() {
                let rank = position + 1;
                let (delete, reason) = if rank <= keep {
                    (false, format!("newest #{rank} of volume {}, which keeps {keep}", volume.id))
                } else if let Some(image) = used_by_images.get(snapshot.id.as_str()) {
                    (false, format!("used by image {image}"))
                } else if snapshot.tags.contains_key(exclude) {
                    (false, format!("carries the exclusion tag {exclude}"))
                } else {
                    (true, format!("#{rank} of volume {}, which keeps the newest {keep}", volume.id))
                };
                let tag = rank <= keep && snapshot.tags.get(tag_key) != Some(&volume.id);
                snapshot_generations.push(SnapshotGeneration {
                    volume_id: volume.id.clone(),
                    snapshot_id: snapshot.id.clone(),
                    rank,
                    keep,
                    delete,
                    tag,
                    reason,
                });
            }
        }
    }
    let delete_orphans = snapshot_config.is_some_and(|s| s.delete_orphans);
    let mut orphans: Vec<OrphanSnapshot> = gathered
        .snapshots
        .iter()
        .filter(|s| s.state == SnapshotState::Completed && !used_by_images.contains_key(s.id.as_str()))
        .filter(|s| !s.volume_id.as_deref().is_some_and(|v| managed_volumes.contains(v)))
        .map(|s| OrphanSnapshot {
            snapshot_id: s.id.clone(),
            volume_id: s.volume_id.clone(),
            started: s.started,
            delete: delete_orphans && !s.tags.contains_key(exclude),
        })
        .collect();
    orphans.sort_by(|a, b| a.snapshot_id.cmp(&b.snapshot_id));
    let mut leftover_snapshots: Vec<LeftoverSnapshot> = gathered
        .retired_snapshots
        .iter()
        .filter(|s| s.state == SnapshotState::Completed)
        .map(|s| {
            let image_id =
                s.description.as_deref().and_then(|d| ami_ids().find(d)).map(|found| ImageId::new(found.as_str()));
            let (delete, reason) = if let Some(user) = used_by_images.get(s.id.as_str()) {
                (false, format!("used by image {user}"))
            } else if s.tags.contains_key(exclude) {
                (false, format!("carries the exclusion tag {exclude}"))
            } else {
                let image = image_id.as_ref().map_or_else(|| "its image".to_owned(), |id| format!("image {id}"));
                (true, format!("left behind by an interrupted sweep when {image} was deregistered"))
            };
            LeftoverSnapshot { snapshot_id: s.id.clone(), image_id, delete, reason }
        })
        .collect();
    leftover_snapshots.sort_by(|a, b| a.snapshot_id.cmp(&b.snapshot_id));
    let sources_unreadable = gathered
        .unreadable
        .iter()
        .map(|(source, error)| UnreadableSource { source: *source, error: error.clone() })
        .collect();

    SweepPlan {
        region: region.clone(),
        now,
        images: decisions,
        image_snapshots,
        launch_template_versions: version_deletions,
        snapshot_generations,
        orphans,
        leftover_snapshots,
        sources_read: gathered.read,
        sources_unreadable,
        release_protection,
        withdraw_protection_claims,
        image_references: ReferenceCheck::Off,
        consumers: Vec::new(),
        recycle_bin: UndoCheck::Off,
        warnings,
    }
}

/// Runs sweeps of one configuration against one account.
pub struct Sweeper<'a> {
    aws: &'a dyn Aws,
    config: &'a Config,
    progress: Option<&'a (dyn Fn(Progress) + Send + Sync)>,
}

impl<'a> Sweeper<'a> {
    /// A sweeper for `config` acting on `aws`.
    pub fn new(aws: &'a dyn Aws, config: &'a Config) -> Self {
        Self { aws, config, progress: None }
    }

    /// Calls `progress` after each action (for a progress bar).
    pub fn with_progress(mut self, progress: &'a (dyn Fn(Progress) + Send + Sync)) -> Self {
        self.progress = Some(progress);
        self
    }

    fn retention(&self) -> (usize, Option<u32>) {
        self.config.retention.as_ref().map_or((8, None), |r| (r.concurrency.max(1), r.max_requests_per_second))
    }

    /// Gathers, plans and (with `options.apply`) acts. Fails only when the inventory cannot be
    /// read (then nothing was done); failed actions are in the report.
    pub async fn sweep(&self, region: &Region, options: &SweepOptions) -> Result<SweepReport, AwsError> {
        let (concurrency, max_rps) = self.retention();
        let pacer = Pacer::new(max_rps);
        let mut gathered = gather_paced(self.aws, self.config, region, &pacer, concurrency).await?;
        let now = options.now.unwrap_or_else(OffsetDateTime::now_utc);
        let retention = self.config.retention.as_ref();
        let mut plan = plan_sweep(self.config, &gathered, region, now);
        // Consumer accounts first: they read everything there at once; then EC2's reference
        // check, which asks about each candidate left (and any a new plan brings up).
        let mut consumers = Vec::new();
        if let Some(list) = retention.map(|r| &r.consumers).filter(|c| !c.is_empty()) {
            consumers = check::ask_consumers(self.aws, &pacer, concurrency, list, &mut gathered, &mut plan, |g| {
                plan_sweep(self.config, g, region, now)
            })
            .await;
        }
        let mut references = ReferenceCheck::Off;
        if retention.is_some_and(|r| r.image_references.asked()) {
            references = check::ask_about_candidates(self.aws, &pacer, concurrency, &mut gathered, &mut plan, |g| {
                plan_sweep(self.config, g, region, now)
            })
            .await;
        }
        plan.consumers = consumers;
        plan.image_references = references;
        if retention.is_some_and(|r| r.recycle_bin) {
            plan.recycle_bin = check::recycle_bin(self.aws, &pacer, &gathered, &plan).await;
        }
        let mut summary = SweepSummary {
            images_judged: plan.images.len(),
            images_planned: plan.retirements().count(),
            snapshots_planned: plan.image_snapshots.iter().filter(|s| s.delete).count()
                + plan.snapshot_generations.iter().filter(|g| g.delete).count()
                + plan.orphans.iter().filter(|o| o.delete).count()
                + plan.leftover_snapshots.iter().filter(|l| l.delete).count(),
            launch_template_versions_planned: plan.launch_template_versions.len(),
            orphans: plan.orphans.len(),
            ..SweepSummary::default()
        };
        let mut results = Vec::new();
        if options.apply {
            let tag_key =
                self.config.retention.as_ref().and_then(|r| r.snapshots.as_ref()).map(|s| s.tag_kept_with.clone());
            let mut run = Apply {
                aws: self.aws,
                pacer: &pacer,
                concurrency,
                progress: self.progress,
                tag_key: tag_key.unwrap_or_else(|| "amikeeper:volume".to_owned()),
                done: 0,
                total: 0,
            };
            results = run.apply(&plan, &gathered.images).await;
        }
        for result in &results {
            let done = matches!(result.status, ItemStatus::Done | ItemStatus::AlreadyGone);
            match (result.action, result.status) {
                (_, ItemStatus::Failed) => summary.failed += 1,
                (_, ItemStatus::Skipped) => summary.skipped += 1,
                (SweepAction::DeregisterImage | SweepAction::DeprecateImage | SweepAction::DisableImage, _) if done => {
                    summary.images_retired += 1
                }
                (SweepAction::DeleteSnapshot, _) if done => summary.snapshots_deleted += 1,
                (SweepAction::DeleteLaunchTemplateVersion, _) if done => summary.launch_template_versions_deleted += 1,
                (SweepAction::ReleaseProtection, _) if done => summary.protection_released += 1,
                _ => {}
            }
        }
        let tagged_volumes: BTreeSet<&str> = results
            .iter()
            .filter(|r| r.action == SweepAction::TagSnapshots && r.status == ItemStatus::Done)
            .map(|r| r.resource.as_str())
            .collect();
        summary.snapshots_tagged =
            plan.snapshot_generations.iter().filter(|g| g.tag && tagged_volumes.contains(g.volume_id.as_str())).count();
        summary.throttled = pacer.throttled();
        summary.slowed_to_per_second = pacer.slowest_per_second();
        Ok(SweepReport {
            applied: options.apply,
            status: if summary.failed == 0 { SweepStatus::Ok } else { SweepStatus::Failed },
            summary,
            plan,
            results,
            aws_calls: 0,
            aws_calls_by_operation: BTreeMap::new(),
        })
    }
}

/// The deprecation time for a sweep at `now`: the start of the next minute after `now`, as
/// EC2 takes only future times and rounds them to the minute.
fn deprecation_time(now: OffsetDateTime) -> OffsetDateTime {
    let minute = now.replace_second(0).and_then(|t| t.replace_nanosecond(0)).unwrap_or(now);
    minute + Duration::minutes(1)
}

/// One application of a plan.
struct Apply<'a> {
    aws: &'a dyn Aws,
    pacer: &'a Pacer,
    concurrency: usize,
    progress: Option<&'a (dyn Fn(Progress) + Send + Sync)>,
    tag_key: String,
    done: usize,
    total: usize,
}

fn result(
    resource: impl Into<String>,
    action: SweepAction,
    outcome: Result<Option<String>, AwsError>,
    attempts: u32,
) -> ItemResult {
    let (status, detail) = match outcome {
        Ok(detail) => (ItemStatus::Done, detail),
        Err(error) if error.kind == AwsErrorKind::NotFound => (ItemStatus::AlreadyGone, Some(error.to_string())),
        Err(error) => (ItemStatus::Failed, Some(error.to_string())),
    };
    ItemResult { resource: resource.into(), action, version: None, status, attempts, detail }
}

/// Lets go of amikeeper's protection on `id` (see [`crate::protect::let_go`]), each call through
/// the pacer. Returns the outcome and the attempts of all its calls.
async fn let_go(pacer: &Pacer, aws: &dyn Aws, region: &Region, id: &ImageId) -> (Result<(), LetGoFailure>, u32) {
    let attempts = AtomicU32::new(0);
    let outcome = crate::protect::let_go(|step| {
        let attempts = &attempts;
        async move {
            let (outcome, tries) = pacer.retry(|| step.run(aws, region, id)).await;
            attempts.fetch_add(tries, Ordering::Relaxed);
            outcome
        }
    })
    .await;
    (outcome, attempts.into_inner())
}

/// The result of an action whose protection could not be let go of.
fn let_go_failed(id: &ImageId, action: SweepAction, failure: LetGoFailure, attempts: u32) -> ItemResult {
    let mut item = result(id.as_str(), action, Err(failure.error.clone()), attempts);
    if item.status == ItemStatus::Failed {
        item.detail = Some(failure.to_string());
    }
    item
}

fn skipped(resource: impl Into<String>, action: SweepAction, why: String) -> ItemResult {
    ItemResult {
        resource: resource.into(),
        action,
        version: None,
        status: ItemStatus::Skipped,
        attempts: 0,
        detail: Some(why),
    }
}

impl Apply<'_> {
    fn tick(&mut self, n: usize) {
        self.done += n;
        if let Some(progress) = self.progress {
            progress(Progress { done: self.done, total: self.total });
        }
    }

    async fn apply(&mut self, plan: &SweepPlan, images: &[Image]) -> Vec<ItemResult> {
        let planned_at = std::time::Instant::now();
        let region = &plan.region;
        let (aws, pacer) = (self.aws, self.pacer);
        let retirements: Vec<&Decision> = plan.retirements().collect();
        let late_snapshots: Vec<&SnapshotDecision> = plan.image_snapshots.iter().filter(|s| s.delete).collect();
        let generation_deletes: Vec<&SnapshotGeneration> =
            plan.snapshot_generations.iter().filter(|g| g.delete).collect();
        let orphan_deletes: Vec<&OrphanSnapshot> = plan.orphans.iter().filter(|o| o.delete).collect();
        let mut to_tag: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for generation in plan.snapshot_generations.iter().filter(|g| g.tag) {
            to_tag.entry(generation.volume_id.as_str()).or_default().push(generation.snapshot_id.clone());
        }
        self.total = plan.launch_template_versions.len()
            + retirements.len()
            + plan.release_protection.len()
            + plan.withdraw_protection_claims.len()
            + late_snapshots.len()
            + generation_deletes.len()
            + orphan_deletes.len()
            + plan.leftover_snapshots.iter().filter(|l| l.delete).count()
            + to_tag.len();
        let mut results = Vec::with_capacity(self.total);

        // 1. Launch template versions, up to 200 a call per template.
        let mut by_template: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
        for deletion in &plan.launch_template_versions {
            by_template.entry(deletion.template_id.as_str()).or_default().push(deletion.version);
        }
        let chunks: Vec<(&str, &[i64])> =
            by_template.iter().flat_map(|(id, versions)| versions.chunks(200).map(move |chunk| (*id, chunk))).collect();
        let mut outcomes = stream::iter(chunks)
            .map(|(id, versions)| async move {
                let (outcome, attempts) =
                    pacer.retry(|| aws.delete_launch_template_versions(region, id, versions)).await;
                (id, versions, outcome, attempts)
            })
            .buffer_unordered(self.concurrency);
        let mut failed_versions: BTreeSet<(String, i64)> = BTreeSet::new();
        while let Some((id, versions, outcome, attempts)) = outcomes.next().await {
            for &version in versions {
                let outcome = match &outcome {
                    Ok(refused) => match refused.iter().find(|(v, _)| *v == version) {
                        Some((_, why)) if why.contains("does not exist") => Err(AwsError::new(
                            "ec2",
                            "DeleteLaunchTemplateVersions",
                            AwsErrorKind::NotFound,
                            "InvalidLaunchTemplateId.VersionNotFound",
                            why.clone(),
                        )),
                        Some((_, why)) => Err(AwsError::new(
                            "ec2",
                            "DeleteLaunchTemplateVersions",
                            AwsErrorKind::Client,
                            "UnsuccessfullyDeleted",
                            why.clone(),
                        )),
                        None => Ok(None),
                    },
                    Err(error) => Err(error.clone()),
                };
                let mut item = result(id, SweepAction::DeleteLaunchTemplateVersion, outcome, attempts);
                item.version = Some(version);
                if item.status == ItemStatus::Failed {
                    failed_versions.insert((id.to_owned(), version));
                }
                results.push(item);
            }
            self.tick(versions.len());
        }
        let blocked: HashMap<&ImageId, String> = plan
            .launch_template_versions
            .iter()
            .filter(|d| failed_versions.contains(&(d.template_id.clone(), d.version)))
            .filter_map(|d| {
                Some((d.image_id.as_ref()?, format!("launch template {} version {}", d.template_id, d.version)))
            })
            .collect();

        // 2. Images. First their snapshots are marked, so that a sweep interrupted before it
        //    deletes them (step 3) leaves them for the next one to find.
        let marked: Vec<String> = late_snapshots.iter().map(|s| s.snapshot_id.clone()).collect();
        let mark: Tags = [(RETIRED_SNAPSHOT_TAG.to_owned(), "true".to_owned())].into();
        for chunk in marked.chunks(1000) {
            let (outcome, attempts) = pacer.retry(|| aws.create_tags(region, chunk, &mark)).await;
            if let Err(error) = outcome {
                let why = format!(
                    "could not mark {} snapshots {RETIRED_SNAPSHOT_TAG}: a sweep interrupted before it deletes \
                     them would leave them behind ({error})",
                    chunk.len()
                );
                results.push(ItemResult {
                    resource: chunk.join(","),
                    action: SweepAction::MarkSnapshots,
                    version: None,
                    status: ItemStatus::Failed,
                    attempts,
                    detail: Some(why),
                });
            }
        }
        let protection: HashMap<&ImageId, Ownership> =
            images.iter().map(|i| (&i.id, crate::protect::ownership(i))).collect();
        let protection = &protection;
        let mut retired_ok: BTreeSet<ImageId> = BTreeSet::new();
        let mut outcomes = stream::iter(retirements)
            .map(|decision| {
                let blocked_by = blocked.get(&decision.image_id).cloned();
                async move {
                    let id = &decision.image_id;
                    let Action::Retire(how) = decision.action else { unreachable!("only retirements") };
                    let action = match how {
                        Retire::Delete => SweepAction::DeregisterImage,
                        Retire::Deprecate => SweepAction::DeprecateImage,
                        Retire::Disable => SweepAction::DisableImage,
                    };
                    if let Some(blocker) = blocked_by {
                        return (
                            skipped(id.as_str(), action, format!("{blocker} still launches it: not deleted")),
                            Vec::new(),
                        );
                    }
                    let (outcome, attempts, deleted) = match how {
                        Retire::Delete => {
                            match protection.get(id) {
                                // amikeeper protected it when it published it; nothing uses it now.
                                Some(Ownership::Amikeepers) => {
                                    let (outcome, attempts) = let_go(pacer, aws, region, id).await;
                                    if let Err(failure) = outcome {
                                        return (let_go_failed(id, SweepAction::DeregisterImage, failure, attempts), Vec::new());
                                    }
                                }
                                // The plan keeps these; never turn someone else's protection off.
                                Some(Ownership::SomeoneElses) => {
                                    let why = super::Reason::Protected.to_string();
                                    return (skipped(id.as_str(), SweepAction::DeregisterImage, why), Vec::new());
                                }
                                _ => {}
                            }
                            let (outcome, attempts) = pacer.retry(|| aws.deregister_image(region, id, true)).await;
                            match outcome {
                                Ok(deleted) => {
                                    let detail = (!deleted.is_empty())
                                        .then(|| format!("snapshots deleted with it: {}", deleted.join(", ")));
                                    (Ok(detail), attempts, deleted)
                                }
                                Err(error) => (Err(error), attempts, Vec::new()),
                            }
                        }
                        Retire::Deprecate => {
                            // EC2 refuses a time in the past: deprecate from the minute after now
                            // (the plan's time, plus the time the sweep has taken since).
                            let elapsed = Duration::try_from(planned_at.elapsed()).unwrap_or(Duration::ZERO);
                            let at = deprecation_time(plan.now + elapsed);
                            let (outcome, attempts) =
                                pacer.retry(|| aws.enable_image_deprecation(region, id, at)).await;
                            (outcome.map(|()| None), attempts, Vec::new())
                        }
                        Retire::Disable => {
                            let (outcome, attempts) = pacer.retry(|| aws.disable_image(region, id)).await;
                            (outcome.map(|()| None), attempts, Vec::new())
                        }
                    };
                    (result(id.as_str(), action, outcome, attempts), deleted)
                }
            })
            .buffer_unordered(self.concurrency);
        let mut deleted_with_images: BTreeSet<String> = BTreeSet::new();
        while let Some((item, deleted)) = outcomes.next().await {
            if matches!(item.status, ItemStatus::Done | ItemStatus::AlreadyGone) && item.action == SweepAction::DeregisterImage {
                retired_ok.insert(ImageId::new(item.resource.clone()));
            }
            deleted_with_images.extend(deleted);
            results.push(item);
            self.tick(1);
        }

        // 2b. amikeeper's protection on AMIs no pointer names any more.
        let mut outcomes = stream::iter(&plan.release_protection)
            .map(|id| async move {
                match let_go(pacer, aws, region, id).await {
                    (Ok(()), attempts) => {
                        let detail = "no pointer names it any more".to_owned();
                        result(id.as_str(), SweepAction::ReleaseProtection, Ok(Some(detail)), attempts)
                    }
                    (Err(failure), attempts) => let_go_failed(id, SweepAction::ReleaseProtection, failure, attempts),
                }
            })
            .buffer_unordered(self.concurrency);
        while let Some(item) = outcomes.next().await {
            results.push(item);
            self.tick(1);
        }
        let mut outcomes = stream::iter(&plan.withdraw_protection_claims)
            .map(|id| async move {
                let (outcome, attempts) = pacer.retry(|| Step::Disclaim.run(aws, region, id)).await;
                let detail = "amikeeper does not hold the protection its tag claimed (off, or with a cooldown)";
                result(id.as_str(), SweepAction::WithdrawProtectionClaim, outcome.map(|()| Some(detail.to_owned())), attempts)
            })
            .buffer_unordered(self.concurrency);
        while let Some(item) = outcomes.next().await {
            results.push(item);
            self.tick(1);
        }

        // 3. The images' snapshots EC2 did not delete with them; only once every image that
        //    used a snapshot is gone.
        let users: HashMap<&str, Vec<&ImageId>> = {
            let mut users: HashMap<&str, Vec<&ImageId>> = HashMap::new();
            for image in images {
                for snapshot in &image.snapshot_ids {
                    users.entry(snapshot.as_str()).or_default().push(&image.id);
                }
            }
            users
        };
        let mut snapshot_jobs: Vec<(String, Option<String>)> = Vec::new();
        for snapshot in late_snapshots {
            if deleted_with_images.contains(&snapshot.snapshot_id) {
                results.push(ItemResult {
                    resource: snapshot.snapshot_id.clone(),
                    action: SweepAction::DeleteSnapshot,
                    version: None,
                    status: ItemStatus::Done,
                    attempts: 0,
                    detail: Some(format!("deleted with image {}", snapshot.image_id)),
                });
                self.tick(1);
                continue;
            }
            let pending: Vec<&&ImageId> = users
                .get(snapshot.snapshot_id.as_str())
                .map(|u| u.iter().filter(|id| !retired_ok.contains(**id)).collect())
                .unwrap_or_default();
            if let Some(image) = pending.first() {
                results.push(skipped(
                    snapshot.snapshot_id.as_str(),
                    SweepAction::DeleteSnapshot,
                    format!("image {image} was not deregistered"),
                ));
                self.tick(1);
                continue;
            }
            snapshot_jobs.push((snapshot.snapshot_id.clone(), None));
        }
        for generation in generation_deletes {
            snapshot_jobs.push((generation.snapshot_id.clone(), Some(generation.reason.clone())));
        }
        for orphan in orphan_deletes {
            snapshot_jobs.push((orphan.snapshot_id.clone(), Some("used by no image".to_owned())));
        }
        for leftover in plan.leftover_snapshots.iter().filter(|l| l.delete) {
            snapshot_jobs.push((leftover.snapshot_id.clone(), Some(leftover.reason.clone())));
        }
        let mut outcomes = stream::iter(snapshot_jobs)
            .map(|(id, detail)| async move {
                let (outcome, attempts) = pacer.retry(|| aws.delete_snapshot(region, &id)).await;
                result(id, SweepAction::DeleteSnapshot, outcome.map(|()| detail), attempts)
            })
            .buffer_unordered(self.concurrency);
        while let Some(item) = outcomes.next().await {
            results.push(item);
            self.tick(1);
        }

        // 4. Tags on the snapshots volumes keep.
        let tag_key = self.tag_key.clone();
        let mut outcomes = stream::iter(to_tag)
            .map(|(volume, snapshots)| {
                let tag_key = tag_key.clone();
                async move {
                    let tags: Tags = [(tag_key, volume.to_owned())].into();
                    let mut last = (Ok(()), 0);
                    for chunk in snapshots.chunks(1000) {
                        last = pacer.retry(|| aws.create_tags(region, chunk, &tags)).await;
                        if last.0.is_err() {
                            break;
                        }
                    }
                    let (outcome, attempts) = last;
                    let detail = format!("{} snapshots: {}", snapshots.len(), snapshots.join(", "));
                    result(volume, SweepAction::TagSnapshots, outcome.map(|()| Some(detail)), attempts)
                }
            })
            .buffer_unordered(self.concurrency);
        while let Some(item) = outcomes.next().await {
            results.push(item);
            self.tick(1);
        }
        results
    }
}
