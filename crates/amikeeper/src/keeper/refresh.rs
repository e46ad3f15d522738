//! Instance refreshes: a group with `instance_refresh` that a run moved is refreshed once.

use super::entry;
use super::retry::with_retries;
use crate::backend::{Aws, InstanceRefreshPreferences, INSTANCE_REFRESH_IN_PROGRESS};
use crate::error::{AwsError, Error};
use crate::model::{Image, ImageId, Region};
use crate::publish::{Outcome, Status, TargetId};
use crate::report::{Report, TargetReport};

/// The kind an instance refresh shows as in a report, beside the pointers.
pub(super) const KIND: &str = "instance_refresh";

/// How an instance refresh shows in a report: kind `instance_refresh`, named by its group.
pub(super) fn refresh_target(group: &str) -> TargetId {
    TargetId { kind: KIND, name: group.to_owned() }
}

/// The AMI a group launches now: the image of the launch template version it names
/// (`$Latest` and `$Default` resolved). `None` for a group, template or version that does not
/// exist, and for a group without a launch template.
pub(super) async fn launched_image(aws: &dyn Aws, region: &Region, group: &str) -> Result<Option<ImageId>, Error> {
    let Some(spec) = aws.describe_auto_scaling_group(region, group).await?.and_then(|g| g.launch_template) else {
        return Ok(None);
    };
    let versions = match aws.describe_launch_template_versions(region, &spec.id).await {
        Ok(versions) => versions,
        Err(error) if error.kind == crate::error::AwsErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error.into()),
    };
    let number = match spec.version.as_str() {
        "$Latest" => versions.iter().map(|v| v.number).max(),
        "$Default" => versions.iter().find(|v| v.is_default).map(|v| v.number),
        number => number.parse().ok(),
    };
    Ok(number.and_then(|n| versions.iter().find(|v| v.number == n)).and_then(|v| v.image_id.clone()))
}

/// An `auto_scaling_group` target with `instance_refresh`, followed through one run.
pub(super) struct GroupRefresh {
    /// The rule of the target.
    pub(super) rule: String,
    /// The target's index in the rule.
    pub(super) index: usize,
    /// The group's name.
    pub(super) group: String,
    /// How to refresh it.
    pub(super) preferences: InstanceRefreshPreferences,
    /// The AMI the group launched before this run (not read in a dry run).
    pub(super) before: Option<Result<Option<ImageId>, Error>>,
    /// Where the target's own entry is in the report.
    pub(super) position: Option<usize>,
}

impl GroupRefresh {
    /// Starts the refresh when this run moved the group to `image`, and says what happened.
    /// `None` when the target's own entry already tells why nothing moved (deferred, skipped,
    /// refused, failed).
    pub(super) async fn run(
        self,
        aws: &dyn Aws,
        region: &Region,
        image: &Image,
        dry_run: bool,
        report: &Report,
    ) -> Option<TargetReport> {
        let group = self.group.as_str();
        let status = report.targets.get(self.position?)?.outcome.status;
        let done = |status: Status, reason: String, error: Option<AwsError>| {
            tracing::info!(target: super::LOG, rule = %self.rule, %group, %status, %reason, "instance refresh");
            Some(entry(&self.rule, refresh_target(group), Outcome::new(status, reason), error))
        };
        if dry_run {
            // Nothing was written, so whether the group would move shows only in the plan.
            let plans = report.targets.iter().any(|t| t.rule == self.rule && t.outcome.status == Status::Planned);
            if !plans || !matches!(status, Status::Planned | Status::Unchanged | Status::Deferred) {
                return None;
            }
            return done(
                Status::Planned,
                format!("would start an instance refresh of {group} once it launches {}", image.id),
                None,
            );
        }
        if !matches!(status, Status::Updated | Status::Unchanged) {
            return None;
        }
        let could_not_read = |error: Error| {
            let aws_error = error.as_aws().cloned();
            done(
                Status::Failed,
                format!(
                    "could not tell whether this run moved {group} ({error}); no instance refresh was started, \
                     start one by hand if its instances still launch an older AMI"
                ),
                aws_error,
            )
        };
        let before = match self.before? {
            Ok(before) => before,
            Err(error) => return could_not_read(error),
        };
        if before.as_ref() == Some(&image.id) {
            return done(
                Status::Unchanged,
                format!("{group} launched {} before this run; no instance refresh needed", image.id),
                None,
            );
        }
        let after = match with_retries(&format!("what {group} launches"), || launched_image(aws, region, group)).await.0
        {
            Ok(after) => after,
            Err(error) => return could_not_read(error),
        };
        if after.as_ref() != Some(&image.id) {
            let launches = after.map_or_else(|| "no known AMI".to_owned(), |id| id.to_string());
            return done(
                Status::Unchanged,
                format!("{group} launches {launches}, not {}; no instance refresh needed", image.id),
                None,
            );
        }
        match aws.start_instance_refresh(region, group, &self.preferences).await {
            Ok(id) => {
                let reason =
                    format!("started instance refresh {id}: {group}'s instances are replaced to launch {}", image.id);
                tracing::info!(target: super::LOG, rule = %self.rule, %group, refresh = %id, "instance refresh started");
                let outcome = Outcome::new(Status::Updated, reason).moved(None::<String>, id);
                Some(entry(&self.rule, refresh_target(group), outcome, None))
            }
            Err(error) if error.code == INSTANCE_REFRESH_IN_PROGRESS => done(
                Status::Skipped,
                format!(
                    "an instance refresh of {group} is already in progress and keeps the launch template it \
                     started with; start another once it ends to roll out {}",
                    image.id
                ),
                None,
            ),
            Err(error) => done(Status::Failed, error.to_string(), Some(error)),
        }
    }
}
