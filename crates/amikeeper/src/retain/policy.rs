//! The configurable retention policy: group the images, keep the newest of each group and what
//! is in use, excluded or young, and retire the rest.

use crate::model::{Image, ImageId, ImageState};
use rustc_hash::FxHashMap;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

use super::*;

/// Decides what to keep.
pub trait RetentionPolicy: Send + Sync {
    /// The plan for `inventory` at time `now`. Must be deterministic and must never retire an
    /// image that `inventory.usages` lists.
    fn plan(&self, inventory: &Inventory, now: OffsetDateTime) -> Plan;

    /// The decisions of a sweep, which plans snapshots itself over them: `inventory` holds
    /// every image the sweep gathered and what uses each, `gathered` everything else it read
    /// (e.g. the parameter histories a `published_to` grouping reads). What the policy could
    /// not apply goes to `warnings`, and into the sweep's report. By default the decisions of
    /// [`plan`](Self::plan).
    fn sweep_decisions(
        &self,
        inventory: &Inventory,
        gathered: &Gathered,
        now: OffsetDateTime,
        warnings: &mut Vec<String>,
    ) -> Vec<Decision> {
        let _ = (gathered, warnings);
        self.plan(inventory, now).decisions
    }
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
        self.plan_with(&inventory.images, &inventory.usages, now, true)
    }
}

impl ImagePolicy {
    /// The decisions alone, without the snapshot plan (a sweep plans snapshots once, over the
    /// decisions of all its policies).
    pub fn decisions(&self, inventory: &Inventory, now: OffsetDateTime) -> Vec<Decision> {
        self.decisions_among(&inventory.images, &inventory.usages, now)
    }

    /// [`decisions`](Self::decisions) for `images`, with what uses them in `usages`.
    pub(crate) fn decisions_among(&self, images: &[Image], usages: &Usages, now: OffsetDateTime) -> Vec<Decision> {
        self.plan_with(images, usages, now, false).decisions
    }

    fn plan_with(&self, images: &[Image], usages: &Usages, now: OffsetDateTime, with_snapshots: bool) -> Plan {
        // Planning a million images must stay well under half a second, so every pass that
        // reads the images reads them in memory order, the sorting works on compact keys, and
        // each decision is written once, straight to its place in the plan.
        let floor = self.floor();

        // Pass 1, in memory order: each image's group and age key.
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
            members[id as usize].push((image.created.unix_timestamp_nanos(), image.id.as_str(), index as u32));
        }

        // Rank within each group, newest first: by creation time, then id (EC2 dates have
        // one-second resolution). A duplicate id is judged once. The plan lists the groups by
        // name, each newest first: an image's place in it is its group's offset plus its rank.
        let mut order: Vec<u32> = (0..group_names.len() as u32).collect();
        order.sort_unstable_by_key(|&id| group_names[id as usize]);
        let mut placed: Vec<Placement> = vec![Placement::UNJUDGED; images.len()];
        let mut offset = 0u32;
        for &id in &order {
            let group = &mut members[id as usize];
            group.sort_unstable_by(|a, b| (b.0, b.1).cmp(&(a.0, a.1)));
            group.dedup_by(|a, b| a.1 == b.1);
            for (position, &(_, _, index)) in group.iter().enumerate() {
                placed[index as usize] =
                    Placement { group: id, rank: position as u32 + 1, at: offset + position as u32 };
            }
            offset += group.len() as u32;
        }

        // Pass 2, in memory order: the decisions, each at its place.
        let arcs: Vec<Arc<str>> = group_names.iter().map(|name| Arc::from(*name)).collect();
        let mut slots: Vec<Option<Decision>> = vec![None; offset as usize];
        for (image, place) in images.iter().zip(&placed) {
            if place.rank == 0 {
                continue;
            }
            let (action, reason) = self.decide(usages, image, place.rank as usize, floor, now);
            let group = arcs[place.group as usize].clone();
            slots[place.at as usize] =
                Some(Decision { image_id: image.id.clone(), group, action, reason, sources: Sources::empty() });
        }

        // The cap: the oldest candidates first.
        if let Some(cap) = self.max_retirements {
            let mut candidates: Vec<(i128, &str, u32)> = members
                .iter()
                .flatten()
                .filter(|(_, _, index)| {
                    slots[placed[*index as usize].at as usize]
                        .as_ref()
                        .is_some_and(|d| matches!(d.action, Action::Retire(_)))
                })
                .copied()
                .collect();
            if candidates.len() > cap {
                candidates.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
                for &(_, _, index) in &candidates[cap..] {
                    if let Some(decision) = slots[placed[index as usize].at as usize].as_mut() {
                        decision.action = Action::Keep;
                        decision.reason = Reason::DeletionCapReached { cap };
                    }
                }
            }
        }

        let snapshots = if with_snapshots && self.retire == Retire::Delete {
            snapshot_plan(images, |index| {
                let place = placed[index];
                place.rank != 0
                    && slots[place.at as usize].as_ref().is_some_and(|d| d.action == Action::Retire(Retire::Delete))
            })
        } else {
            Vec::new()
        };

        // Every place holds one decision (a duplicate id was judged once, at its first place).
        let decisions = slots.into_iter().flatten().collect();
        Plan { decisions, snapshots }
    }

    /// The action for an image of `rank` in its group, and why.
    fn decide(
        &self,
        usages: &Usages,
        image: &Image,
        rank: usize,
        floor: usize,
        now: OffsetDateTime,
    ) -> (Action, Reason) {
        let reason = self.judge(usages, image, rank, floor, now);
        match (&reason, &self.stages) {
            (Reason::BeyondNewest { .. } | Reason::TooOld { .. }, None) => (Action::Retire(self.retire), reason),
            (Reason::BeyondNewest { .. } | Reason::TooOld { .. }, Some(stages)) => {
                match stages.stage_for(now - image.created) {
                    Some(stage) if already_retired(image, stage, now) => (Action::Keep, Reason::AlreadyRetired(stage)),
                    Some(stage) => (Action::Retire(stage), reason),
                    None => (Action::Keep, Reason::NoStageYet),
                }
            }
            _ => (Action::Keep, reason),
        }
    }
}

/// Where an image's decision goes: its group, its rank there (0: not judged) and its place in
/// the plan.
#[derive(Debug, Clone, Copy)]
struct Placement {
    group: u32,
    rank: u32,
    at: u32,
}

impl Placement {
    const UNJUDGED: Self = Self { group: 0, rank: 0, at: 0 };
}

impl ImagePolicy {
    fn judge(&self, usages: &Usages, image: &Image, rank: usize, floor: usize, now: OffsetDateTime) -> Reason {
        if let Some(usages) = usages.get(&image.id).filter(|u| !u.is_empty()) {
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
                size_gib: image.snapshot_sizes_gib.get(snapshot).copied(),
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
            snapshot_sizes_gib: [(format!("snap-{id}"), 30)].into(),
            deprecated_at: None,
            last_launched: None,
            deregistration_protected: false,
            deregistration_protection_cooldown: false,
            allowed: None,
            source_image_id: None,
            source_image_region: None,
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
        assert_eq!(plan.snapshots[0].size_gib, Some(30), "the size DescribeImages reported");
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
