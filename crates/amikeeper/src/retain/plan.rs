//! Planning a sweep: a pure function of what was gathered, the configuration and the time.

use std::collections::{BTreeSet, HashMap};

use time::OffsetDateTime;

use super::configured::ConfiguredRetention;
use super::inventory::Gathered;
use super::report::{
    ImageDetail, LeftoverSnapshot, OrphanSnapshot, ReferenceCheck, SnapshotGeneration, SweepPlan, UndoCheck,
    UnreadableSource,
};
use super::usage::usages;
use super::{snapshot_plan, Action, Inventory, RetentionPolicy, Retire, Source, Usage};
use crate::config::{Config, RetentionConfig};
use crate::model::{ami_ids, Image, ImageId, Region, SnapshotState};

/// Plans a sweep of what was gathered in `region`, at `now`, with the configuration's image
/// policies ([`ConfiguredRetention`]). Pure: the same inputs give the same plan.
pub fn plan_sweep<T>(config: &Config<T>, gathered: &Gathered, region: &Region, now: OffsetDateTime) -> SweepPlan {
    plan_sweep_with(config, gathered, region, now, &ConfiguredRetention::new(config))
}

/// [`plan_sweep`] with `policy` deciding which images to retire; the rest of the plan follows
/// the configuration's `[retention]`.
pub fn plan_sweep_with<T>(
    config: &Config<T>,
    gathered: &Gathered,
    region: &Region,
    now: OffsetDateTime,
    policy: &dyn RetentionPolicy,
) -> SweepPlan {
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

    // Images: the policy judges them (the configuration's: each of its policies judges the
    // images no earlier one selected).
    let inventory = Inventory { images: gathered.images.clone(), usages };
    let mut decisions = policy.sweep_decisions(&inventory, gathered, now, &mut warnings);
    let judged: HashMap<ImageId, usize> =
        decisions.iter().enumerate().map(|(index, decision)| (decision.image_id.clone(), index)).collect();
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
    let image_details = gathered
        .images
        .iter()
        .filter(|image| judged.contains_key(&image.id))
        .map(|image| (image.id.clone(), ImageDetail::of(image)))
        .collect();
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
        image_details,
    }
}
