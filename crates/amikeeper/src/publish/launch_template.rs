//! [`LaunchTemplatePublisher`]: a new launch template version with the AMI, made default.

use std::collections::BTreeSet;

use async_trait::async_trait;

use super::{
    guard_monotonic, guard_stack_managed, newest_available, Outcome, PointerNow, PublishContext, Publisher, Status,
    TargetId, SETTLE_ROUNDS,
};
use crate::error::{Error, Result};
use crate::model::{
    CreateLaunchTemplateVersion, ImageId, LaunchTemplate, LaunchTemplateRef, LaunchTemplateVersion, ParameterType,
};
use crate::names::{check_name, NameKind};

/// How the publisher finds its launch template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LaunchTemplateLocator {
    /// By id or name.
    Direct(LaunchTemplateRef),
    /// By the id stored in an SSM parameter (seed 002).
    IdFromParameter(String),
}

impl std::fmt::Display for LaunchTemplateLocator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Direct(template) => write!(f, "{template}"),
            Self::IdFromParameter(name) => write!(f, "(id in {name})"),
        }
    }
}

/// Creates a launch template version from `$Latest` with the new `ImageId`, makes it the
/// default, and optionally prunes old versions.
///
/// Pruning keeps the newest `keep_versions` versions and never deletes the default version,
/// the latest version, or a version an Auto Scaling group of the region pins by number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchTemplatePublisher {
    /// Which template.
    pub template: LaunchTemplateLocator,
    /// Make the new version the default.
    pub set_default: bool,
    /// Keep this many newest versions; `None` deletes nothing.
    pub keep_versions: Option<u32>,
    /// Change the template even when a CloudFormation stack manages it.
    pub allow_stack_managed: bool,
}

impl LaunchTemplatePublisher {
    /// A publisher for the template with this id, setting the default, pruning nothing.
    pub fn by_id(id: impl Into<String>) -> Self {
        Self {
            template: LaunchTemplateLocator::Direct(LaunchTemplateRef::Id(id.into())),
            set_default: true,
            keep_versions: None,
            allow_stack_managed: false,
        }
    }

    async fn locate(&self, ctx: &PublishContext<'_>) -> Result<LaunchTemplate> {
        let reference = match &self.template {
            LaunchTemplateLocator::Direct(reference) => reference.clone(),
            LaunchTemplateLocator::IdFromParameter(parameter) => {
                let found = ctx.aws.get_parameter(ctx.region, parameter).await?;
                let value = found.ok_or_else(|| Error::NotFound {
                    kind: "SSM parameter (launch template id)",
                    name: parameter.clone(),
                    region: ctx.region.to_string(),
                })?;
                let unusable = |reason: String| Error::Unusable { what: format!("SSM parameter {parameter}"), reason };
                if value.kind == ParameterType::SecureString {
                    // Its value would reach EC2's requests and errors, and so the logs.
                    return Err(unusable(
                        "is a SecureString; keep the launch template id in a String parameter".into(),
                    ));
                }
                let id = value.value.trim();
                check_name(NameKind::LaunchTemplateId, id, false, &[])
                    .map_err(|why| unusable(format!("holds `{}`, which is {why}", crate::events::quote(id))))?;
                LaunchTemplateRef::Id(id.to_owned())
            }
        };
        ctx.aws.describe_launch_template(ctx.region, &reference).await?.ok_or_else(|| Error::NotFound {
            kind: "launch template",
            name: reference.to_string(),
            region: ctx.region.to_string(),
        })
    }

    /// Versions to delete so that `keep` newest remain, never `protected` ones.
    fn prune_candidates(versions: &[LaunchTemplateVersion], keep: u32, protected: &BTreeSet<i64>) -> Vec<i64> {
        let mut numbers: Vec<i64> = versions.iter().map(|v| v.number).collect();
        numbers.sort_unstable_by(|a, b| b.cmp(a));
        numbers.into_iter().skip(keep as usize).filter(|n| !protected.contains(n)).collect()
    }

    async fn prune(
        &self,
        ctx: &PublishContext<'_>,
        template: &LaunchTemplate,
        versions: &[LaunchTemplateVersion],
        keep: u32,
        default: i64,
        latest: i64,
    ) -> Result<Vec<String>> {
        let mut protected = BTreeSet::from([default, latest]);
        if Self::prune_candidates(versions, keep, &protected).is_empty() {
            return Ok(Vec::new());
        }
        protected.extend(self.pinned_versions(ctx, &template.id).await?);
        let doomed = Self::prune_candidates(versions, keep, &protected);
        if doomed.is_empty() {
            return Ok(Vec::new());
        }
        let refused = ctx.aws.delete_launch_template_versions(ctx.region, &template.id, &doomed).await?;
        let mut notes = Vec::new();
        let deleted: Vec<String> =
            doomed.iter().filter(|n| !refused.iter().any(|(r, _)| r == *n)).map(|n| n.to_string()).collect();
        if !deleted.is_empty() {
            notes.push(format!("pruned versions {}", deleted.join(", ")));
        }
        for (number, why) in refused {
            notes.push(format!("could not prune version {number}: {why}"));
        }
        Ok(notes)
    }
}

impl LaunchTemplatePublisher {
    /// After a race with other runs (versions were created between our read of `template` and
    /// our version `ours`): deletes ours if an earlier version created since launches the same
    /// AMI (no duplicate versions), and returns the version to make the default: the earliest
    /// one created since our read that launches the newest available AMI among them.
    async fn settle(
        &self,
        ctx: &PublishContext<'_>,
        template: &LaunchTemplate,
        ours: i64,
        seen: &mut BTreeSet<ImageId>,
    ) -> Result<(i64, Option<ImageId>, Vec<String>)> {
        let versions = ctx.aws.describe_launch_template_versions(ctx.region, &template.id).await?;
        let since: Vec<&LaunchTemplateVersion> =
            versions.iter().filter(|v| v.number > template.latest_version).collect();
        seen.extend(since.iter().filter_map(|v| v.image_id.clone()));
        let image_of = |number: i64| since.iter().find(|v| v.number == number).and_then(|v| v.image_id.clone());
        let mut notes = Vec::new();
        let mut ours = ours;
        if let Some(image) = image_of(ours) {
            let first = since.iter().filter(|v| v.image_id.as_ref() == Some(&image)).map(|v| v.number).min();
            if let Some(first) = first.filter(|first| *first < ours) {
                let refused = ctx.aws.delete_launch_template_versions(ctx.region, &template.id, &[ours]).await?;
                notes.push(match refused.first() {
                    None => format!("another run created version {first} with {image} at the same time; deleted the duplicate version {ours}"),
                    Some((_, why)) => format!("version {first} already launches {image}; could not delete the duplicate version {ours}: {why}"),
                });
                ours = first;
            }
        }
        let images = since.iter().filter_map(|v| v.image_id.as_ref()).map(|i| i.as_str());
        let Some(newest) = newest_available(ctx, images).await? else { return Ok((ours, None, notes)) };
        let winner = since.iter().filter(|v| v.image_id.as_ref() == Some(&newest.id)).map(|v| v.number).min();
        match winner {
            Some(winner) if winner != ours => {
                notes.push(format!("version {winner} (made at the same time) launches {}, which is newer", newest.id));
                Ok((winner, Some(newest.id), notes))
            }
            _ => Ok((ours, None, notes)),
        }
    }
}

#[async_trait]
impl Publisher for LaunchTemplatePublisher {
    fn target(&self) -> TargetId {
        TargetId { kind: "launch_template", name: self.template.to_string() }
    }

    async fn pointer_now(&self, ctx: &PublishContext<'_>) -> Result<PointerNow> {
        let template = self.locate(ctx).await?;
        let pointer = if self.set_default { template.default_version } else { template.latest_version };
        let versions = ctx.aws.describe_launch_template_versions(ctx.region, &template.id).await?;
        let image = versions.iter().find(|v| v.number == pointer).and_then(|v| v.image_id.as_ref());
        Ok(PointerNow::from_value(image.map(ImageId::as_str)))
    }

    async fn publish(&self, ctx: &PublishContext<'_>) -> Result<Outcome> {
        let image = ctx.require_image()?;
        let template = self.locate(ctx).await?;
        if let Some(refusal) =
            guard_stack_managed("launch template", &template.id, &template.tags, self.allow_stack_managed)
        {
            return Ok(refusal);
        }
        let mut template = template;
        let mut attempt = 0;
        let (versions, (mut outcome, settled)) = loop {
            let versions = ctx.aws.describe_launch_template_versions(ctx.region, &template.id).await?;
            match self.move_pointer(ctx, image, &template, &versions).await {
                // Another run deleted a version this run read (a duplicate, or a pruned one)
                // before this run used it: read the template again and decide again.
                Err(Error::Aws(error)) if error.code == VERSION_NOT_FOUND && attempt < SETTLE_ROUNDS => {
                    attempt += 1;
                    template = self.locate(ctx).await?;
                }
                moved => break (versions, moved?),
            }
        };
        if ctx.dry_run {
            return Ok(outcome);
        }
        // One version per AMI: whatever this run did, and also when an earlier run (or a race)
        // left two versions with this AMI, the duplicates go.
        let (versions, default) = match settled {
            Settled::AsRead => (versions, template.default_version),
            Settled::Moved { default, created } => {
                let mut versions = versions;
                if let Some(created) = created {
                    versions.push(created);
                }
                (versions, default)
            }
            Settled::Raced { default } => {
                match ctx.aws.describe_launch_template_versions(ctx.region, &template.id).await {
                    Ok(versions) => (versions, default),
                    Err(error) => {
                        outcome.notes.push(format!("could not look for duplicate versions, next run does: {error}"));
                        return Ok(outcome);
                    }
                }
            }
        };
        match self.remove_duplicates(ctx, &template, &versions, &image.id, default).await {
            Ok(notes) => outcome.notes.extend(notes),
            Err(error) => outcome.notes.push(format!("removing duplicate versions failed, retried next time: {error}")),
        }
        Ok(outcome)
    }
}

/// EC2's answer when a launch template version does not exist (e.g. the source of a new one).
const VERSION_NOT_FOUND: &str = "InvalidLaunchTemplateId.VersionNotFound";

/// What a publish left of the template's versions, for the duplicate check.
enum Settled {
    /// Nothing written: the versions as read.
    AsRead,
    /// This run made `default` the default, maybe creating `created`, with no other run writing.
    Moved { default: i64, created: Option<LaunchTemplateVersion> },
    /// Other runs wrote at the same time: read the versions again.
    Raced { default: i64 },
}

impl LaunchTemplatePublisher {
    /// The version numbers the region's Auto Scaling groups name on `template_id` (not
    /// `$Latest` or `$Default`): never deleted.
    async fn pinned_versions(&self, ctx: &PublishContext<'_>, template_id: &str) -> Result<BTreeSet<i64>> {
        let mut pinned = BTreeSet::new();
        for group in ctx.aws.describe_auto_scaling_groups(ctx.region).await? {
            let specs = group.launch_template.iter().chain(group.override_launch_templates.iter());
            for spec in specs.filter(|s| s.id == template_id) {
                if let Ok(number) = spec.version.parse::<i64>() {
                    pinned.insert(number);
                }
            }
        }
        Ok(pinned)
    }

    /// Deletes the versions that launch `image` besides one: the default when it launches
    /// `image`, else the earliest (a stable choice, so runs at the same time agree). Never the
    /// default, a version an Auto Scaling group names, or the latest when deleting it would
    /// make `$Latest` launch another AMI.
    async fn remove_duplicates(
        &self,
        ctx: &PublishContext<'_>,
        template: &LaunchTemplate,
        versions: &[LaunchTemplateVersion],
        image: &ImageId,
        default: i64,
    ) -> Result<Vec<String>> {
        let with_image: BTreeSet<i64> =
            versions.iter().filter(|v| v.image_id.as_ref() == Some(image)).map(|v| v.number).collect();
        if with_image.len() < 2 {
            return Ok(Vec::new());
        }
        let keep =
            if with_image.contains(&default) { default } else { with_image.iter().copied().min().unwrap_or(default) };
        let mut doomed: BTreeSet<i64> = with_image.iter().copied().filter(|n| *n != keep && *n != default).collect();
        let mut notes = Vec::new();
        let latest = versions.iter().map(|v| v.number).max().unwrap_or(0);
        if doomed.contains(&latest) {
            let next_latest = versions.iter().map(|v| v.number).filter(|n| !doomed.contains(n)).max();
            if next_latest.is_none_or(|n| !with_image.contains(&n)) {
                doomed.remove(&latest);
                notes.push(format!(
                    "kept duplicate version {latest} of {image}: it is the latest, and without it `$Latest` would launch another AMI"
                ));
            }
        }
        if doomed.is_empty() {
            return Ok(notes);
        }
        let pinned = self.pinned_versions(ctx, &template.id).await?;
        for number in doomed.iter().filter(|n| pinned.contains(n)) {
            notes.push(format!("kept duplicate version {number} of {image}: an Auto Scaling group names it"));
        }
        let doomed: Vec<i64> = doomed.into_iter().filter(|n| !pinned.contains(n)).collect();
        if doomed.is_empty() {
            return Ok(notes);
        }
        let refused = ctx.aws.delete_launch_template_versions(ctx.region, &template.id, &doomed).await?;
        let deleted: Vec<String> =
            doomed.iter().filter(|n| !refused.iter().any(|(r, _)| r == *n)).map(|n| n.to_string()).collect();
        if !deleted.is_empty() {
            notes.push(format!(
                "deleted duplicate version(s) {} of {image}: version {keep} launches it",
                deleted.join(", ")
            ));
        }
        for (number, why) in refused {
            notes.push(format!("could not delete duplicate version {number}: {why}"));
        }
        Ok(notes)
    }

    /// Moves the pointer (the default version, or `$Latest` without `set_default`) to `image`,
    /// using a version that launches it already when there is one.
    async fn move_pointer(
        &self,
        ctx: &PublishContext<'_>,
        image: &crate::model::Image,
        template: &LaunchTemplate,
        versions: &[LaunchTemplateVersion],
    ) -> Result<(Outcome, Settled)> {
        let image_of = |number: i64| {
            versions.iter().find(|v| v.number == number).and_then(|v| v.image_id.as_ref()).map(|i| i.as_str())
        };
        let pointer = if self.set_default { template.default_version } else { template.latest_version };
        let current = image_of(pointer);
        // A version with this AMI exists already (a duplicate event, or another run's version not
        // made the default yet): use it rather than make a second one. With `set_default`, the
        // earliest; without, only the latest serves (`$Latest` is the pointer).
        let existing = if self.set_default {
            versions.iter().filter(|v| v.image_id.as_ref() == Some(&image.id)).map(|v| v.number).min()
        } else {
            Some(template.latest_version).filter(|n| image_of(*n) == Some(image.id.as_str()))
        };

        if let Some(existing) = existing.filter(|n| !self.set_default || *n == template.default_version) {
            return Ok((
                Outcome::new(Status::Unchanged, format!("version {existing} already launches {}", image.id))
                    .moved(current, image.id.as_str()),
                Settled::AsRead,
            ));
        }
        if let Some(stop) = guard_monotonic(ctx, current, image).await? {
            return Ok((stop, Settled::AsRead));
        }
        if self.set_default && template.latest_version != pointer {
            // Versions newer than the default may be other runs', about to become the default
            // (not only the latest: a run that made its version after another's may make its
            // own default first): never make an older AMI the default over any of them.
            let pending = versions.iter().filter(|v| v.number > pointer).filter_map(|v| v.image_id.as_ref());
            if let Some(newest) = newest_available(ctx, pending.map(|i| i.as_str())).await? {
                let stop = guard_monotonic(ctx, Some(newest.id.as_str()), image).await?;
                if let Some(stop) = stop.filter(|s| s.status == Status::Skipped) {
                    return Ok((stop, Settled::AsRead));
                }
            }
        }

        let from = current.map(|c| format!("{c} (version {pointer})"));
        if ctx.dry_run {
            let what = match existing {
                Some(existing) => format!("would make version {existing} the default"),
                None => format!(
                    "would create version {} from version {}",
                    template.latest_version + 1,
                    template.latest_version
                ),
            };
            return Ok((Outcome::new(Status::Planned, what).moved(from, image.id.as_str()), Settled::AsRead));
        }

        let mut race_notes = Vec::new();
        let mut raced = false;
        // The AMIs of versions other runs made (newer than the default as read, or since our
        // read): whichever of them was the default for a moment, this run's write replaces it.
        let mut others: BTreeSet<ImageId> = BTreeSet::new();
        if self.set_default {
            others.extend(versions.iter().filter(|v| v.number > pointer).filter_map(|v| v.image_id.clone()));
        }
        let mut created = None;
        let mut launches = image.id.clone();
        let (number, mut reason) = match existing {
            Some(existing) => (existing, format!("made existing version {existing} the default")),
            None => {
                let description = format!("amikeeper: {} (event {})", image.id, ctx.event_id);
                let source = template.latest_version;
                let request = CreateLaunchTemplateVersion::new(&template.id, source, &image.id, &description);
                let number = ctx.aws.create_launch_template_version(ctx.region, &request).await?;
                let reason = format!("created version {number} from version {source}");
                if number > template.latest_version + 1 {
                    // Another run created versions between our read and our create.
                    raced = true;
                    let (settled, newer, notes) = self.settle(ctx, template, number, &mut others).await?;
                    race_notes = notes;
                    launches = newer.unwrap_or(launches);
                    (settled, reason)
                } else {
                    created = Some(LaunchTemplateVersion {
                        number,
                        image_id: Some(image.id.clone()),
                        description: Some(description),
                        is_default: false,
                        created: None,
                    });
                    (number, reason)
                }
            }
        };
        let mut number = number;
        if self.set_default && template.default_version != number {
            let mut latest = ctx.aws.set_default_launch_template_version(ctx.region, &template.id, number).await?;
            if existing.is_none() {
                reason.push_str(", made it the default");
            }
            // A version made after ours (the latest number tells) may be another run's with a
            // newer AMI, made default before us: let the newest win again.
            let mut seen = number.max(template.latest_version);
            for _ in 0..SETTLE_ROUNDS {
                if latest <= seen {
                    break;
                }
                raced = true;
                seen = latest;
                let (winner, newer, notes) = self.settle(ctx, template, number, &mut others).await?;
                race_notes.extend(notes);
                if winner == number {
                    break;
                }
                latest = ctx.aws.set_default_launch_template_version(ctx.region, &template.id, winner).await?;
                number = winner;
                launches = newer.unwrap_or(launches);
            }
        }
        let mut outcome = Outcome::new(Status::Updated, reason).moved(from, format!("{launches} (version {number})"));
        outcome.notes.extend(race_notes);
        outcome.replaced = others.into_iter().filter(|i| i != &launches && i != &image.id).collect();
        let default = if self.set_default { number } else { template.default_version };
        if let Some(keep) = self.keep_versions {
            let mut all = versions.to_vec();
            if !all.iter().any(|v| v.number == number) {
                all.push(LaunchTemplateVersion {
                    number,
                    image_id: Some(image.id.clone()),
                    description: None,
                    is_default: self.set_default,
                    created: None,
                });
            }
            match self.prune(ctx, template, &all, keep, default, number.max(template.latest_version)).await {
                Ok(notes) => outcome.notes.extend(notes),
                Err(error) => outcome.notes.push(format!("pruning old versions failed, retried next time: {error}")),
            }
        }
        let settled = if raced { Settled::Raced { default } } else { Settled::Moved { default, created } };
        Ok((outcome, settled))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versions(numbers: &[i64]) -> Vec<LaunchTemplateVersion> {
        numbers
            .iter()
            .map(|&number| LaunchTemplateVersion {
                number,
                image_id: None,
                description: None,
                is_default: false,
                created: None,
            })
            .collect()
    }

    #[test]
    fn prune_keeps_newest_and_protected() {
        let all = versions(&[1, 2, 3, 4, 5, 6]);
        let protected = BTreeSet::from([6, 2]);
        assert_eq!(LaunchTemplatePublisher::prune_candidates(&all, 3, &protected), vec![3, 1]);
    }

    #[test]
    fn prune_with_few_versions_deletes_nothing() {
        let all = versions(&[1, 2]);
        assert!(LaunchTemplatePublisher::prune_candidates(&all, 3, &BTreeSet::new()).is_empty());
    }
}
