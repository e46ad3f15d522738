//! Revocation: take a bad AMI back everywhere the configuration points at it.
//!
//! `amikeeper revoke AMI_ID --reason TEXT` ([`Keeper::revoke`](crate::keeper::Keeper::revoke))
//! works in two phases, like [`rollback`](crate::rollback):
//!
//! 1. **Plan, reading only.** The AMI is described in the home region; its copies are found in
//!    every `copy_to` region and account, by their `amikeeper:copied-from` tag and by EC2's
//!    `SourceImageId` (for a copy made without amikeeper). Every pointer the configuration
//!    manages there is read (as `amikeeper status` reads them), and each one that names the AMI
//!    or a copy is planned back to the newest earlier AMI of its rule in its region: one the
//!    rule takes by its name, description and tags ([`takes_image`](crate::resolve::takes_image)),
//!    created before the revoked one, `available`, not deprecated, allowed by the account's
//!    Allowed AMIs setting, and neither rejected nor a copy of a rejected AMI.
//! 2. **Write, only when every pointer has such an AMI.** Otherwise the whole revoke is refused
//!    and nothing at all is written; a read that failed makes it fail, also with nothing written
//!    (fail closed). The AMI and its copies are marked rejected first ([`reject`](crate::reject):
//!    from then on no event publishes them), then the pointers move, then the AMIs are
//!    deprecated now and, with `[revoke] disable = true`, disabled. Protection follows the
//!    pointers: the AMIs moved to are protected, amikeeper's protection on the revoked ones is
//!    released.
//!
//! `GetImageAncestry` walks from an AMI to its sources, not to its copies, so it cannot find the
//! copies of the revoked AMI; the copies' own `SourceImageId` does.

mod plan;

use std::collections::BTreeMap;

use serde::Serialize;
use time::OffsetDateTime;

use crate::backend::{Aws, CountingAws};
use crate::config::{Config, Kinds};
use crate::kinds::RollbackMove;
use crate::model::{ImageId, Region};
use crate::protect;
use crate::publish::{Outcome, Status, TargetId};
use crate::reject::Rejection;
use crate::status::{Place, StatusError};

options! {
    /// Options of one revoke.
    #[derive(Debug, Clone, Default)]
    pub struct RevokeOptions {
        /// Why the AMI is revoked: the value of its `amikeeper:rejected` tag (required).
        pub reason: String,
        /// Work everything out and check it, but write nothing.
        pub dry_run: bool,
        /// Also disable the AMI and its copies; `None`: as `[revoke] disable` says.
        pub disable: Option<bool>,
        /// The time of the rejection and the deprecation (default: now).
        pub now: Option<OffsetDateTime>,
    }
}

named_enum! {
    /// The overall result of a revoke.
    #[non_exhaustive]
    pub enum RevokeStatus {
        /// Every pointer moved back and every AMI was marked (or would be, in a dry run).
        Ok = "ok",
        /// Refused: nothing was written (a pointer with no earlier good AMI, an AMI that does
        /// not exist, an empty reason).
        Refused = "refused",
        /// An AWS call failed: while planning (then nothing was written), or while writing.
        Failed = "failed",
    }
}

named_enum! {
    /// How an AMI of the revoke was found.
    pub enum FoundBy {
        /// It is the AMI named on the command line.
        Revoked = "revoked",
        /// A copy, by its `amikeeper:copied-from` tag.
        CopiedFromTag = "copied_from_tag",
        /// A copy, by EC2's `SourceImageId`.
        SourceImageId = "source_image_id",
    }
}

named_enum! {
    /// What a revoke does to an AMI.
    pub enum ImageAction {
        /// Tags it `amikeeper:rejected` and `amikeeper:rejected-at`.
        Reject = "reject",
        /// Deprecates it now (`EnableImageDeprecation`).
        Deprecate = "deprecate",
        /// Disables it (`DisableImage`), with `[revoke] disable = true`.
        Disable = "disable",
    }
}

/// One step on one AMI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ImageStep {
    /// What.
    pub action: ImageAction,
    /// `updated`, `planned` (dry run) or `failed`.
    pub status: Status,
    /// AWS's error, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The revoked AMI or one of its copies, and what was done to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RevokedImage {
    /// Its account (empty when unknown).
    pub account: String,
    /// Its region.
    pub region: Region,
    /// The AMI.
    pub image_id: ImageId,
    /// How it was found.
    pub found_by: FoundBy,
    /// What was (or would be) done to it, in order.
    pub steps: Vec<ImageStep>,
}

/// One pointer the revoke moves (or would, or could not).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct RevokeItem {
    /// The rule whose target it is.
    pub rule: String,
    /// Its account (empty when unknown).
    pub account: String,
    /// Its region.
    pub region: Region,
    /// The pointer.
    #[serde(flatten)]
    pub target: TargetId,
    /// What was (or would be) done, from what to what.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// The report of one revoke.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct RevokeReport {
    /// The overall result.
    pub status: RevokeStatus,
    /// Why it was refused or failed, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// The AMI revoked.
    pub image_id: ImageId,
    /// The rejection its tags (and its copies') carry.
    pub rejection: Rejection,
    /// The AMI and its copies, each with what was done to it.
    pub images: Vec<RevokedImage>,
    /// Every pointer that named one of them.
    pub pointers: Vec<RevokeItem>,
    /// What could not be read while planning (then nothing was written).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<StatusError>,
    /// What became of deregistration protection.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub protection: Vec<String>,
    /// What a person should know, e.g. an AMI moved to that the account's Allowed AMIs
    /// criteria, in audit mode, do not allow.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// AWS calls made.
    pub aws_calls: usize,
    /// AWS calls per operation.
    pub aws_calls_by_operation: BTreeMap<String, usize>,
    /// What became of the events put on EventBridge (`[notify]`); `None` without `[notify]`
    /// and in a dry run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notifications: Option<crate::model::Notifications>,
}

impl RevokeReport {
    fn refuse(&mut self, status: RevokeStatus, reason: impl Into<String>) {
        self.status = status;
        self.reason = Some(reason.into());
    }
}

/// Revokes `image_id` across `places` (the home region and each `copy_to` place; each place's
/// `aws` already acts in its account). `unreachable` are the places that could not be reached
/// (a role that could not be assumed): with any, the revoke fails having written nothing. See
/// the module docs.
pub async fn revoke<T: Kinds>(
    config: &Config<T>,
    places: &[Place<'_>],
    unreachable: Vec<StatusError>,
    image_id: &ImageId,
    options: &RevokeOptions,
) -> RevokeReport {
    let now = options.now.unwrap_or_else(OffsetDateTime::now_utc);
    let counted: Vec<CountingAws<'_>> = places.iter().map(|place| CountingAws::new(place.aws)).collect();
    let places: Vec<Place<'_>> = places
        .iter()
        .zip(&counted)
        .map(|(place, aws)| Place {
            aws,
            account: place.account.clone(),
            region: place.region.clone(),
            role: place.role,
            rules: place.rules.clone(),
        })
        .collect();
    let mut report = RevokeReport {
        status: RevokeStatus::Ok,
        reason: None,
        dry_run: options.dry_run,
        image_id: image_id.clone(),
        rejection: Rejection::new(&options.reason, now),
        images: Vec::new(),
        pointers: Vec::new(),
        errors: unreachable,
        protection: Vec::new(),
        warnings: Vec::new(),
        aws_calls: 0,
        aws_calls_by_operation: BTreeMap::new(),
        notifications: None,
    };
    if report.rejection.reason.is_empty() {
        report.refuse(RevokeStatus::Refused, "a revoke needs a reason (--reason): it is the AMI's rejected tag");
    } else if let Some(planned) = plan::plan(config, &places, image_id, now, &mut report).await {
        write(config, &places, planned, options, now, &mut report).await;
    }
    for aws in &counted {
        report.aws_calls += aws.log().count();
        for (operation, n) in aws.log().by_operation() {
            *report.aws_calls_by_operation.entry(operation.to_owned()).or_default() += n;
        }
    }
    report
}

/// One pointer's move, planned.
struct Move {
    /// Index of its place.
    place: usize,
    rule: String,
    target: TargetId,
    planned: Box<dyn RollbackMove>,
}

/// Everything worked out before writing.
struct Planned {
    /// Per place: the revoked AMIs there (the AMI, or its copies).
    images: Vec<(usize, ImageId)>,
    moves: Vec<Move>,
}

async fn write<T: Kinds>(
    config: &Config<T>,
    places: &[Place<'_>],
    planned: Planned,
    options: &RevokeOptions,
    now: OffsetDateTime,
    report: &mut RevokeReport,
) {
    let disable = options.disable.unwrap_or(config.revoke.as_ref().is_some_and(|r| r.disable));
    let step = |action, result: Option<crate::backend::AwsResult<()>>| match result {
        None => ImageStep { action, status: Status::Planned, error: None },
        Some(Ok(())) => ImageStep { action, status: Status::Updated, error: None },
        Some(Err(error)) => ImageStep { action, status: Status::Failed, error: Some(error.to_string()) },
    };
    // 1. Rejected first: from now on no event publishes them.
    for (image, (place, id)) in report.images.iter_mut().zip(&planned.images) {
        let place = &places[*place];
        let result = match options.dry_run {
            true => None,
            false => {
                Some(crate::reject::mark(place.aws, &place.region, std::slice::from_ref(id), &report.rejection).await)
            }
        };
        image.steps.push(step(ImageAction::Reject, result));
    }
    // 2. The pointers.
    let mut moved_to: Vec<(usize, ImageId)> = Vec::new();
    for Move { place, rule, target, planned: mv } in planned.moves {
        let region = &places[place].region;
        let (what, from, to) = mv.describe();
        let outcome = if options.dry_run {
            Outcome::new(Status::Planned, format!("would {what}")).moved(Some(from), to)
        } else {
            match mv.write(places[place].aws, region).await {
                Ok(Some(why)) => Outcome::new(Status::Unchanged, why).moved(Some(from), to),
                Ok(None) => {
                    moved_to.push((place, mv.image().clone()));
                    Outcome::new(Status::Updated, format!("revoked: {what}")).moved(Some(from), to)
                }
                Err(error) => Outcome::new(Status::Failed, error.to_string()).moved(Some(from), to),
            }
        };
        report.pointers.push(RevokeItem {
            rule,
            account: places[place].account.clone(),
            region: region.clone(),
            target,
            outcome,
        });
    }
    // 3. Protection follows the pointers.
    if config.protects_any() {
        moved_to.sort();
        moved_to.dedup();
        for (place, id) in moved_to {
            let place = &places[place];
            if let Ok(Some(image)) = place.aws.describe_image(&place.region, &id).await {
                report.protection.extend(protect::protect(place.aws, &place.region, &image, options.dry_run).await);
            }
        }
        for (place, id) in &planned.images {
            let place = &places[*place];
            report.protection.extend(protect::release(place.aws, &place.region, id, None, options.dry_run).await);
        }
    }
    // 4. Deprecated now, and disabled when asked.
    for (image, (place, id)) in report.images.iter_mut().zip(&planned.images) {
        let place = &places[*place];
        let aws: &dyn Aws = place.aws;
        let result = match options.dry_run {
            true => None,
            false => Some(aws.enable_image_deprecation(&place.region, id, now).await),
        };
        image.steps.push(step(ImageAction::Deprecate, result));
        if disable {
            let result = match options.dry_run {
                true => None,
                false => Some(aws.disable_image(&place.region, id).await),
            };
            image.steps.push(step(ImageAction::Disable, result));
        }
    }
    let failed = report.pointers.iter().any(|p| p.outcome.status == Status::Failed)
        || report.images.iter().flat_map(|i| &i.steps).any(|s| s.status == Status::Failed);
    if failed {
        report.refuse(RevokeStatus::Failed, "some writes failed (see each pointer and image); run the revoke again");
    }
}
