//! Publishers: each moves one pointer (a target) to an AMI, safely.
//!
//! Every publisher follows the same rules:
//! - it never points at an AMI that is not `available` (the keeper waits or defers first);
//! - it never moves a pointer to an AMI older than the one it names ([`Image::age_key`]);
//! - publishing the same AMI twice changes nothing the second time;
//! - in a dry run it reads but does not write, and reports what it would do.

mod asg;
mod launch_template;
mod ssm;
mod stack;

use std::fmt;

use async_trait::async_trait;
use serde::Serialize;

pub use asg::AutoScalingGroupPublisher;
pub use launch_template::{LaunchTemplateLocator, LaunchTemplatePublisher};
pub(crate) use ssm::Replaced;
pub use ssm::SsmParameterPublisher;
pub(crate) use stack::update_request as stack_update_request;
pub use stack::StackParameterPublisher;

use crate::backend::Aws;
use crate::error::{Error, Result};
use crate::model::{Image, ImageId, Region, Tags, STACK_NAME_TAG};

named_enum! {
    /// What a publish did to its target.
    #[non_exhaustive]
    pub enum Status {
        /// The pointer was moved.
        Updated = "updated",
        /// Dry run: the pointer would be moved.
        Planned = "planned",
        /// The pointer already names the AMI.
        Unchanged = "unchanged",
        /// Left alone on purpose (e.g. it names a newer AMI, or the image is not usable).
        Skipped = "skipped",
        /// Not possible yet (the AMI is pending, the stack is busy); a later event finishes it.
        Deferred = "deferred",
        /// Refused for safety (a name outside the allow-list, a stack-managed resource).
        Refused = "refused",
        /// AWS work failed.
        Failed = "failed",
    }
}

named_enum! {
    /// Why a target was refused, when the refusal is one a program acts on (the rest say why in
    /// words only).
    #[non_exhaustive]
    pub enum Refusal {
        /// The AMI is rejected (`amikeeper:rejected`), or is a copy of a rejected AMI: no rule
        /// publishes it again (see [`reject`](crate::reject)).
        Rejected = "rejected",
    }
}

/// The result of one publish: a status, the reason, and the values before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// What happened.
    pub status: Status,
    /// Why, in words.
    pub reason: String,
    /// For a refusal a program acts on, which one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<Refusal>,
    /// What the pointer named before (an AMI id, a version), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// What the pointer names after (or would, in a dry run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Secondary facts: versions pruned, a restore after a failed write, ...
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// AMIs other runs put in the pointer while this run published (or were about to: launch
    /// template versions newer than the default), which this run's write replaced. Like `from`,
    /// amikeeper's protection on them is released when no moved pointer names them.
    #[serde(skip)]
    pub replaced: Vec<ImageId>,
}

impl Outcome {
    /// An outcome with a status and a reason.
    pub fn new(status: Status, reason: impl Into<String>) -> Self {
        Self {
            status,
            reason: reason.into(),
            refusal: None,
            from: None,
            to: None,
            notes: Vec::new(),
            replaced: Vec::new(),
        }
    }

    /// Sets what the pointer named before and after.
    pub fn moved(mut self, from: Option<impl Into<String>>, to: impl Into<String>) -> Self {
        self.from = from.map(Into::into);
        self.to = Some(to.into());
        self
    }

    /// A refusal a program acts on, with its reason.
    pub fn refused(refusal: Refusal, reason: impl Into<String>) -> Self {
        Self { refusal: Some(refusal), ..Self::new(Status::Refused, reason) }
    }

    /// Adds a note.
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }
}

/// Names a target in reports: its kind and its name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetId {
    /// `ssm_parameter`, `launch_template`, `auto_scaling_group` or `stack_parameter`.
    pub kind: &'static str,
    /// The parameter, template, group or `stack/parameter` name.
    pub name: String,
}

impl fmt::Display for TargetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.name)
    }
}

/// Everything a publisher needs to know about one publish.
#[derive(Clone, Copy)]
pub struct PublishContext<'a> {
    /// The AWS account to act on.
    pub aws: &'a dyn Aws,
    /// The region of the event, where the pointer lives.
    pub region: &'a Region,
    /// The AMI to point at; `None` for events that carry none (`asg_created`).
    pub image: Option<&'a Image>,
    /// Read, decide and report, but do not write.
    pub dry_run: bool,
    /// The event id, recorded in descriptions (e.g. launch template versions).
    pub event_id: &'a str,
    /// The AMIs publishers described during this run (the ones the pointers named before), so
    /// the run can release their protection without describing them again.
    pub described: &'a DescribedImages,
}

/// The AMIs described during one run, by id.
#[derive(Debug, Default)]
pub struct DescribedImages(std::sync::Mutex<std::collections::HashMap<ImageId, Image>>);

impl DescribedImages {
    /// The image with this id, if this run described it.
    pub fn get(&self, id: &ImageId) -> Option<Image> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(id).cloned()
    }

    fn record(&self, image: &Image) {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(image.id.clone(), image.clone());
    }
}

impl<'a> PublishContext<'a> {
    /// The image, or an error for publishers that need one.
    pub fn require_image(&self) -> Result<&'a Image> {
        self.image.ok_or_else(|| {
            Error::Config(crate::error::ConfigError::Invalid {
                at: "target".into(),
                reason: "this target needs an AMI and the event carries none".into(),
            })
        })
    }
}

/// Moves one pointer to an AMI.
#[async_trait]
pub trait Publisher: Send + Sync {
    /// What the publisher moves, for reports.
    fn target(&self) -> TargetId;

    /// Moves the pointer (or, in a dry run, says what it would do).
    ///
    /// Returns `Err` only when AWS work failed; every decision not to act is an `Ok` outcome
    /// with its reason.
    async fn publish(&self, ctx: &PublishContext<'_>) -> Result<Outcome>;

    /// What the pointer names now, read from AWS: after a run, to tell whether other runs
    /// moved it meanwhile (see the keeper's protection check). The default,
    /// [`PointerNow::Unknown`], is for publishers that do not read their pointer back; the run
    /// then keeps the protection it set.
    async fn pointer_now(&self, _ctx: &PublishContext<'_>) -> Result<PointerNow> {
        Ok(PointerNow::Unknown)
    }
}

/// What a pointer names when read back after a run ([`Publisher::pointer_now`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PointerNow {
    /// This AMI.
    Image(ImageId),
    /// No AMI: the pointer is missing (another run may be between its delete and its put) or
    /// holds something else.
    NoImage,
    /// The publisher does not read its pointer back.
    Unknown,
}

impl PointerNow {
    /// `Image` for an `ami-…` value, else `NoImage`.
    pub fn from_value(value: Option<&str>) -> Self {
        match value.filter(|v| v.starts_with("ami-")) {
            Some(id) => Self::Image(ImageId::new(id)),
            None => Self::NoImage,
        }
    }
}

/// Decides whether a pointer that names `current` may move to `image`.
///
/// `Some(outcome)` means stop: the pointer already names the image, or names a newer one.
/// `None` means go on. An id that EC2 no longer knows (deregistered, or not an AMI) does not
/// block the move.
/// How many times a publisher that raced other runs re-checks that the newest AMI won.
pub(crate) const SETTLE_ROUNDS: u32 = 5;

/// The newest `available` AMI among `values` (AMI ids; anything else is ignored), described
/// once each. Used after a race with other runs, to let the newest AMI win.
pub(crate) async fn newest_available<'v>(
    ctx: &PublishContext<'_>,
    values: impl IntoIterator<Item = &'v str>,
) -> Result<Option<Image>> {
    let ids: std::collections::BTreeSet<&str> = values.into_iter().filter(|v| v.starts_with("ami-")).collect();
    let mut newest: Option<Image> = None;
    for id in ids {
        let id = ImageId::new(id);
        let image = match ctx.described.get(&id) {
            Some(image) => Some(image),
            None => ctx.aws.describe_image(ctx.region, &id).await?,
        };
        let Some(image) = image.filter(|i| i.state == crate::model::ImageState::Available) else { continue };
        ctx.described.record(&image);
        if newest.as_ref().is_none_or(|n| image.is_newer_than(n)) {
            newest = Some(image);
        }
    }
    Ok(newest)
}

pub(crate) async fn guard_monotonic(
    ctx: &PublishContext<'_>,
    current: Option<&str>,
    image: &Image,
) -> Result<Option<Outcome>> {
    let Some(current) = current else { return Ok(None) };
    if current == image.id.as_str() {
        return Ok(Some(
            Outcome::new(Status::Unchanged, format!("already names {}", image.id))
                .moved(Some(current), image.id.as_str()),
        ));
    }
    if !current.starts_with("ami-") {
        return Ok(None);
    }
    let current_image = ctx.aws.describe_image(ctx.region, &ImageId::new(current)).await?;
    if let Some(existing) = &current_image {
        ctx.described.record(existing);
    }
    match current_image {
        Some(existing) if existing.is_newer_than(image) => Ok(Some(
            Outcome::new(
                Status::Skipped,
                format!(
                    "names {} (created {}), newer than {} (created {}); an older AMI never replaces a newer one",
                    existing.id,
                    rfc3339(existing.created),
                    image.id,
                    rfc3339(image.created)
                ),
            )
            .moved(Some(current), current),
        )),
        _ => Ok(None),
    }
}

/// Refuses to change a resource a CloudFormation stack manages, unless allowed.
pub(crate) fn guard_stack_managed(kind: &str, name: &str, tags: &Tags, allowed: bool) -> Option<Outcome> {
    let stack = tags.get(STACK_NAME_TAG)?;
    if allowed {
        return None;
    }
    Some(Outcome::new(
        Status::Refused,
        format!(
            "{kind} {name} is managed by CloudFormation stack `{stack}`; changing it behind the stack \
             would cause drift. Set allow_stack_managed = true on this target to do it anyway"
        ),
    ))
}

pub(crate) fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_else(|_| t.to_string())
}
