//! Rollback: move named pointers back to the AMI each named before, or to a given AMI.
//!
//! This is the one explicit exception to the rule that a pointer never moves to an older AMI,
//! and every rollback report says so. A rollback first works out, for every target, where it
//! goes and checks that the AMI is `available`; if any target cannot be rolled back, nothing is
//! written at all. "The AMI it named before" comes from the pointer's own history:
//! - an SSM parameter: the newest version in `GetParameterHistory` whose value differs from the
//!   current one. A fixed-version parameter (`fixed_version = true`, always version 1) keeps no
//!   history, so it needs `--to`; it is re-created at version 1 the way publishing does (delete,
//!   put; if the put fails the previous value is put back, so it is never left missing);
//! - a launch template: the newest version below the default whose AMI differs from the
//!   default's; the rollback makes it the default (no new version);
//! - an Auto Scaling group: the newest version of its template below the one the group launches
//!   (`$Latest`/`$Default` resolved) whose AMI differs; the group is pinned to it;
//! - a stack parameter: CloudFormation keeps no history of parameter values, so a stack needs
//!   `--to`.
//!
//! An AMI the account's Allowed AMIs setting keeps from launching is refused like one that is
//! not `available`; in audit mode the rollback goes ahead and the report carries a warning
//! (see [`allowed`](crate::allowed)).
//!
//! Protection follows the pointers (see [`protect`](crate::protect)): the AMIs rolled back to
//! get deregistration protection, and amikeeper's protection on the AMIs the pointers left is
//! released, so the bad AMI can be cleaned up. The pointers are compared by AMI, whatever their
//! kind: a group's pointer is a launch template version, and what counts is the AMI that
//! version launches.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::backend::{Aws, AwsResult, CountingAws};
use crate::config::Config;
use crate::kinds::Kinds;
pub use crate::kinds::{BadTarget, RollbackTarget};
use crate::model::{Image, ImageId, ImageState, Region};
use crate::protect;
use crate::publish::{Outcome, Status, TargetId};

options! {
    /// Options of one rollback.
    #[derive(Debug, Clone, Default)]
    pub struct RollbackOptions {
        /// Roll every target to this AMI instead of the one it named before.
        pub to: Option<ImageId>,
        /// Work everything out and check it, but write nothing.
        pub dry_run: bool,
    }
}

/// What happened to one target.
#[derive(Debug, Clone, Serialize)]
pub struct RollbackItem {
    /// The target.
    pub target: TargetId,
    /// What was (or would be) done, from what to what.
    #[serde(flatten)]
    pub outcome: Outcome,
}

named_enum! {
    /// The overall result of a rollback.
    #[non_exhaustive]
    pub enum RollbackStatus {
        /// Every target was rolled back (or would be, in a dry run).
        Ok = "ok",
        /// Refused: nothing was written.
        Refused = "refused",
        /// An AWS call failed: while working out the moves (then nothing was written), or
        /// while writing.
        Failed = "failed",
    }
}

/// The report of one rollback.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct RollbackReport {
    /// The overall result.
    pub status: RollbackStatus,
    /// Always said: a rollback sets aside the rule that pointers never move to older AMIs.
    pub notice: &'static str,
    /// Why the rollback was refused, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// One item per target, in the order given.
    pub targets: Vec<RollbackItem>,
    /// What became of deregistration protection: the AMIs rolled back to are protected,
    /// amikeeper's protection on the AMIs the pointers left is released.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub protection: Vec<String>,
    /// What the rollback did but wants a person to know, e.g. that an AMI rolled back to does
    /// not meet the account's Allowed AMIs criteria, which are in audit mode.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// AWS calls made.
    pub aws_calls: usize,
    /// AWS calls per operation.
    pub aws_calls_by_operation: BTreeMap<String, usize>,
    /// What became of the events put on EventBridge (`[notify]`); `None` without `[notify]`
    /// and in a dry run. A failed notification leaves the status as it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notifications: Option<crate::model::Notifications>,
}

const NOTICE: &str = "rollback: the rule that a pointer never moves to an older AMI is set aside for these targets";

/// Rolls `targets` back in `region`. See the module docs.
pub async fn rollback<T: Kinds>(
    aws: &dyn Aws,
    config: &Config<T>,
    region: &Region,
    targets: &[T::Pointer],
    options: &RollbackOptions,
) -> RollbackReport {
    let counting = CountingAws::new(aws);
    let mut report = RollbackReport {
        status: RollbackStatus::Ok,
        notice: NOTICE,
        reason: None,
        dry_run: options.dry_run,
        targets: Vec::new(),
        protection: Vec::new(),
        warnings: Vec::new(),
        aws_calls: 0,
        aws_calls_by_operation: BTreeMap::new(),
        notifications: None,
    };
    run(&counting, config, region, targets, options, &mut report).await;
    report.aws_calls = counting.log().count();
    report.aws_calls_by_operation =
        counting.log().by_operation().into_iter().map(|(op, n)| (op.to_owned(), n)).collect();
    report
}

async fn run<T: Kinds>(
    aws: &dyn Aws,
    config: &Config<T>,
    region: &Region,
    targets: &[T::Pointer],
    options: &RollbackOptions,
    report: &mut RollbackReport,
) {
    // 1. Work out every move, and check every AMI, before writing anything.
    let mut moves = Vec::new();
    // Targets that cannot be rolled back: refused (the target or its AMI is not fit), or
    // failed (an AWS call failed while working it out).
    let mut blocked = Vec::new();
    let mut images: BTreeMap<ImageId, Image> = BTreeMap::new();
    let configured: Vec<&T> = config.rules.iter().flat_map(|rule| &rule.targets).collect();
    for target in targets {
        match T::plan_rollback(aws, region, target, &configured, options.to.as_ref()).await {
            Ok(Ok(planned)) => match check_image(aws, region, planned.image()).await {
                Ok(Ok((image, warning))) => {
                    if let Some(warning) = warning.filter(|w| !report.warnings.contains(w)) {
                        report.warnings.push(warning);
                    }
                    images.insert(image.id.clone(), image);
                    moves.push((target, planned));
                }
                Ok(Err(why)) => blocked.push((target, Status::Refused, why)),
                Err(error) => blocked.push((target, Status::Failed, error.to_string())),
            },
            Ok(Err(why)) => blocked.push((target, Status::Refused, why)),
            Err(error) => blocked.push((target, Status::Failed, error.to_string())),
        }
    }
    if !blocked.is_empty() {
        // A failure outranks a refusal: running it again may get past the failure.
        let failed = blocked.iter().any(|(_, status, _)| *status == Status::Failed);
        report.status = if failed { RollbackStatus::Failed } else { RollbackStatus::Refused };
        report.reason =
            Some(format!("{} of {} targets cannot be rolled back; nothing was written", blocked.len(), targets.len()));
        for (target, status, why) in blocked {
            report.targets.push(RollbackItem { target: T::pointer_id(target), outcome: Outcome::new(status, why) });
        }
        return;
    }

    // 2. Write, target by target, noting the AMIs that pointers now name. Each pointer is
    //    followed by AMI (the one it named before, the one it names now), whatever its kind:
    //    a group's pointer is a launch template version, but what matters is what it launches.
    let mut rolled_to: Vec<ImageId> = Vec::new();
    let mut pointers: Vec<(Option<ImageId>, Option<ImageId>)> = Vec::new();
    for (target, planned) in moves {
        let (what, from, to) = planned.describe();
        let image = planned.image().clone();
        let before = planned.image_before();
        if options.dry_run {
            let outcome = Outcome::new(Status::Planned, format!("would {what}")).moved(Some(from), to);
            report.targets.push(RollbackItem { target: T::pointer_id(target), outcome });
            pointers.push((before, Some(image.clone())));
            rolled_to.push(image);
            continue;
        }
        let outcome = match planned.write(aws, region).await {
            Ok(Some(why)) => {
                pointers.push((before.clone(), before));
                Outcome::new(Status::Unchanged, why).moved(Some(from), to)
            }
            Ok(None) => {
                pointers.push((before, Some(image.clone())));
                rolled_to.push(image);
                Outcome::new(Status::Updated, format!("rolled back: {what}")).moved(Some(from), to)
            }
            Err(error) => {
                // It may or may not have moved: it still counts as naming its AMI.
                pointers.push((before.clone(), before));
                report.status = RollbackStatus::Failed;
                Outcome::new(Status::Failed, error.to_string()).moved(Some(from), to)
            }
        };
        report.targets.push(RollbackItem { target: T::pointer_id(target), outcome });
    }

    // 3. Protection follows the pointers: the AMIs rolled back to are protected, and
    //    amikeeper's protection on the AMIs they left is released.
    if config.protects_any() {
        for id in rolled_to {
            if let Some(image) = images.remove(&id) {
                report.protection.extend(protect::protect(aws, region, &image, options.dry_run).await);
            }
        }
        for left in protect::left_behind_images(pointers) {
            report.protection.extend(protect::release(aws, region, &left, None, options.dry_run).await);
        }
    }
}

/// The AMI to roll back to, with a warning to carry (Allowed AMIs in audit mode), or
/// `Err(why)` when it may not be rolled back to: it does not exist, is not `available`, or the
/// account's Allowed AMIs setting keeps it from launching (see [`allowed`](crate::allowed)).
async fn check_image(
    aws: &dyn Aws,
    region: &Region,
    image: &ImageId,
) -> AwsResult<Result<(Image, Option<String>), String>> {
    Ok(match aws.describe_image(region, image).await? {
        None => Err(match crate::allowed::hidden(aws, region, image).await {
            Some(hidden) => hidden,
            None => format!("{image} does not exist (deregistered, or not an AMI of this account and region)"),
        }),
        Some(found) if found.state != ImageState::Available => {
            Err(format!("{image} is {}, not available; a pointer never names an AMI that cannot launch", found.state))
        }
        Some(found) => match crate::allowed::check(aws, region, &found).await? {
            crate::allowed::Verdict::Allowed => Ok((found, None)),
            crate::allowed::Verdict::Warn(warning) => Ok((found, Some(warning))),
            crate::allowed::Verdict::Refuse(reason) => Err(reason),
        },
    })
}
