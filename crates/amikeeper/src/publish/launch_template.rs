//! [`LaunchTemplatePublisher`]: a new launch template version with the AMI, made default.

use std::collections::BTreeSet;

use async_trait::async_trait;

use super::{
    guard_monotonic, guard_stack_managed, newest_available, Outcome, PublishContext, Publisher, Status, TargetId,
    SETTLE_ROUNDS,
};
use crate::error::{Error, Result};
use crate::model::{ImageId, LaunchTemplate, LaunchTemplateRef, LaunchTemplateVersion, ParameterType};
use crate::resolve::{check_name, NameKind};

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
        for group in ctx.aws.describe_auto_scaling_groups(ctx.region).await? {
            let specs = group.launch_template.iter().chain(group.override_launch_templates.iter());
            for spec in specs.filter(|s| s.id == template.id) {
                if let Ok(number) = spec.version.parse::<i64>() {
                    protected.insert(number);
                }
            }
        }
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
    ) -> Result<(i64, Option<ImageId>, Vec<String>)> {
        let versions = ctx.aws.describe_launch_template_versions(ctx.region, &template.id).await?;
        let since: Vec<&LaunchTemplateVersion> =
            versions.iter().filter(|v| v.number > template.latest_version).collect();
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

    async fn publish(&self, ctx: &PublishContext<'_>) -> Result<Outcome> {
        let image = ctx.require_image()?;
        let template = self.locate(ctx).await?;
        if let Some(refusal) =
            guard_stack_managed("launch template", &template.id, &template.tags, self.allow_stack_managed)
        {
            return Ok(refusal);
        }
        let versions = ctx.aws.describe_launch_template_versions(ctx.region, &template.id).await?;
        let image_of = |number: i64| {
            versions.iter().find(|v| v.number == number).and_then(|v| v.image_id.as_ref()).map(|i| i.as_str())
        };
        let pointer = if self.set_default { template.default_version } else { template.latest_version };
        let current = image_of(pointer);
        let latest_has_image = image_of(template.latest_version) == Some(image.id.as_str());

        if latest_has_image {
            // A version with this AMI exists already (a duplicate event): at most make it default.
            if !self.set_default || template.default_version == template.latest_version {
                return Ok(Outcome::new(
                    Status::Unchanged,
                    format!("version {} already launches {}", template.latest_version, image.id),
                )
                .moved(current, image.id.as_str()));
            }
        } else if let Some(stop) = guard_monotonic(ctx, current, image).await? {
            return Ok(stop);
        } else if self.set_default && template.latest_version != pointer {
            // Versions newer than the default may be other runs', about to become the default
            // (not only the latest: a run that made its version after another's may make its
            // own default first): never make an older AMI the default over any of them.
            let pending = versions.iter().filter(|v| v.number > pointer).filter_map(|v| v.image_id.as_ref());
            if let Some(newest) = newest_available(ctx, pending.map(|i| i.as_str())).await? {
                let stop = guard_monotonic(ctx, Some(newest.id.as_str()), image).await?;
                if let Some(stop) = stop.filter(|s| s.status == Status::Skipped) {
                    return Ok(stop);
                }
            }
        }

        let from = current.map(|c| format!("{c} (version {pointer})"));
        if ctx.dry_run {
            let what = if latest_has_image {
                format!("would make version {} the default", template.latest_version)
            } else {
                format!("would create version {} from version {}", template.latest_version + 1, template.latest_version)
            };
            return Ok(Outcome::new(Status::Planned, what).moved(from, image.id.as_str()));
        }

        let mut race_notes = Vec::new();
        let mut launches = image.id.clone();
        let (number, mut reason) = if latest_has_image {
            (template.latest_version, format!("made existing version {} the default", template.latest_version))
        } else {
            let description = format!("amikeeper: {} (event {})", image.id, ctx.event_id);
            let number = ctx
                .aws
                .create_launch_template_version(
                    ctx.region,
                    &template.id,
                    template.latest_version,
                    &image.id,
                    &description,
                )
                .await?;
            let reason = format!("created version {number} from version {}", template.latest_version);
            if number > template.latest_version + 1 {
                // Another run created versions between our read and our create.
                let (settled, newer, notes) = self.settle(ctx, &template, number).await?;
                race_notes = notes;
                launches = newer.unwrap_or(launches);
                (settled, reason)
            } else {
                (number, reason)
            }
        };
        let mut number = number;
        if self.set_default && template.default_version != number {
            let mut latest = ctx.aws.set_default_launch_template_version(ctx.region, &template.id, number).await?;
            if !latest_has_image {
                reason.push_str(", made it the default");
            }
            // A version made after ours (the latest number tells) may be another run's with a
            // newer AMI, made default before us: let the newest win again.
            let mut seen = number.max(template.latest_version);
            for _ in 0..SETTLE_ROUNDS {
                if latest <= seen {
                    break;
                }
                seen = latest;
                let (winner, newer, notes) = self.settle(ctx, &template, number).await?;
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
        if let Some(keep) = self.keep_versions {
            let mut all = versions.clone();
            if !all.iter().any(|v| v.number == number) {
                all.push(LaunchTemplateVersion {
                    number,
                    image_id: Some(image.id.clone()),
                    description: None,
                    is_default: self.set_default,
                });
            }
            let default = if self.set_default { number } else { template.default_version };
            match self.prune(ctx, &template, &all, keep, default, number.max(template.latest_version)).await {
                Ok(notes) => outcome.notes.extend(notes),
                Err(error) => outcome.notes.push(format!("pruning old versions failed, retried next time: {error}")),
            }
        }
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versions(numbers: &[i64]) -> Vec<LaunchTemplateVersion> {
        numbers
            .iter()
            .map(|&number| LaunchTemplateVersion { number, image_id: None, description: None, is_default: false })
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
