//! What a sweep plans and reports: the plan, the checks made of it, and each action's result.

use std::collections::BTreeMap;

use serde::Serialize;
use time::OffsetDateTime;

use super::Sources;
use super::{Action, Decision, SnapshotDecision, Source};
use crate::deadline::Deadline;
use crate::model::RecycleBinRule;
use crate::model::{Image, ImageId, ImageState, Region};

options! {
    /// Options for one sweep.
    #[derive(Debug, Clone, Default)]
    pub struct SweepOptions {
        /// Act on the plan; without it the sweep only plans.
        pub apply: bool,
        /// The time to plan at (default: now). Ages are measured from it.
        pub now: Option<OffsetDateTime>,
        /// When the sweep must have returned: the inventory is read and the plan made in
        /// full, then actions start only while there is time for them (see
        /// [`MIN_MARGIN`](super::MIN_MARGIN)); the rest are `not_started` and the report is
        /// `partial`. `None`: no limit.
        pub deadline: Option<Deadline>,
    }
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
    /// What the sweep read of each image in [`images`](Self::images), for views of the plan
    /// (a time line, a table, what it frees).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub image_details: BTreeMap<ImageId, ImageDetail>,
}

/// What a sweep read of one image it judged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageDetail {
    /// The image name.
    pub name: String,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// Its state.
    pub state: ImageState,
    /// The GiB of its snapshots' volumes, added up (`Ebs.VolumeSize`, an upper bound of the data
    /// they hold); `None` when EC2 reported no size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_gib: Option<u64>,
}

impl ImageDetail {
    /// The detail of `image`.
    pub fn of(image: &Image) -> Self {
        let sizes = &image.snapshot_sizes_gib;
        Self {
            name: image.name.clone(),
            created: image.created,
            state: image.state,
            snapshot_gib: (!sizes.is_empty()).then(|| sizes.values().map(|&gib| u64::from(gib)).sum()),
        }
    }
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
        /// Not started: the sweep's deadline came first. The next sweep does it.
        NotStarted = "not_started",
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
        /// The deadline came before every action had started: what is left is `not_started`
        /// in the results, and the next sweep does it. None failed.
        Partial = "partial",
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
    /// The GiB of the volumes of the retired images' snapshots deleted, as the images' block device
    /// mappings report them (`Ebs.VolumeSize`; orphans and older generations carry no size):
    /// an upper bound of the storage freed, as snapshots are billed incrementally.
    pub snapshot_gib_deleted: u64,
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
    /// Actions the deadline left for the next sweep.
    pub not_started: usize,
    /// Answers in which AWS throttled a call (`RequestLimitExceeded`, `Throttling`, ...),
    /// whoever retried it: the sweep itself, or the AWS SDK before amikeeper saw an answer.
    pub throttled: u64,
    /// The slowest pace, in calls a second, that throttling brought the sweep down to (below
    /// `max_requests_per_second`, if set); `None` when throttling never slowed it.
    pub slowed_to_per_second: Option<u32>,
}

/// The report of one sweep.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct SweepReport {
    /// Whether the plan was acted on.
    pub applied: bool,
    /// `ok`; `partial` when the deadline left actions for the next sweep; `failed` when any
    /// action failed (the rest were still done).
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
    /// What became of the sweep's summary put on EventBridge (`[notify]`); `None` without
    /// `[notify]` and when the plan was not applied. A failed notification leaves the status
    /// as it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notifications: Option<crate::model::Notifications>,
}

/// How far a sweep is: `done` of `total` actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Actions finished.
    pub done: usize,
    /// Actions in the plan.
    pub total: usize,
}

/// What EC2's AMI reference check said about the plan's candidates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ReferenceCheck {
    /// Not asked (`image_references = "scan_only"`, or a plan made without AWS).
    Off,
    /// The scan left nothing to retire, so there was nothing to ask about.
    NoCandidates,
    /// Asked about `images` images; `referenced` of them are in use after all and kept.
    Checked {
        /// Images asked about.
        images: usize,
        /// Images found referenced, kept.
        referenced: usize,
    },
    /// The check failed (the API is missing in this region or partition, not permitted, or
    /// throttled past its retries): every AMI it did not answer for is kept. Set
    /// `image_references = "scan_only"` to let the inventory scan decide alone.
    Unavailable {
        /// AWS's error.
        error: String,
        /// The AMIs the plan would have retired that were kept for want of an answer.
        images_kept: usize,
    },
}

/// Whether the plan's deletions can be undone from the Recycle Bin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum UndoCheck {
    /// Not asked (`recycle_bin = false`, or a plan made without AWS).
    Off,
    /// The plan deletes no AMI and no snapshot.
    NothingDeleted,
    /// The rules were read.
    Checked {
        /// In words.
        summary: String,
        /// The rules in effect.
        rules: Vec<RecycleBinRule>,
        /// AMIs the plan deletes that a rule keeps, with all their deleted snapshots.
        images_restorable: usize,
        /// AMIs the plan deletes that cannot be restored.
        images_not_restorable: Vec<ImageId>,
        /// Snapshots the plan deletes that a rule keeps.
        snapshots_restorable: usize,
        /// Snapshots the plan deletes that cannot be restored.
        snapshots_not_restorable: Vec<String>,
    },
    /// The rules could not be read: whether a deletion can be undone is unknown.
    Unavailable {
        /// AWS's error.
        error: String,
    },
}

/// What one consumer account said about the plan's candidates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsumerCheck {
    /// The account.
    pub account: String,
    /// The role assumed there.
    pub role_arn: String,
    /// Our images something there launches (all of them, when the check failed).
    pub images_in_use: usize,
    /// Calls made in that account.
    pub aws_calls: usize,
    /// Why the account could not be checked; then every candidate is kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
