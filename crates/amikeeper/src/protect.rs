//! Deregistration protection for the AMIs pointers name.
//!
//! When a pointer moves to an AMI, amikeeper turns on that AMI's deregistration protection
//! (`EnableImageDeregistrationProtection`, without a cooldown) and then claims it with the tag
//! [`PROTECTED_TAG`] = [`PROTECTION_HELD`], so DLM, a script or a console click cannot
//! deregister what production boots from. When the pointers move away, amikeeper turns the
//! protection off again, but only protection it can prove it holds: an AMI someone else
//! protected stays protected, and the sweep keeps it.
//!
//! amikeeper's claim never outlives its protection ([`ownership`]):
//! - the claim is believed only while the protection is on and on the way amikeeper turns it
//!   on (EC2's `enabled-without-cooldown`); a protection with the 24-hour cooldown is never
//!   amikeeper's, whatever the tags say;
//! - letting go withdraws the claim first ([`PROTECTION_RELEASED`]) and turns the protection off
//!   second. A crash or a failure between the two leaves a protection without a claim: someone
//!   else's, so the AMI is kept and the report says how to turn it off by hand. When EC2 says
//!   it did not turn the protection off (throttled, refused), the claim is restored and the next
//!   run tries again; after a server error or a timeout it may be off, and the claim stays
//!   withdrawn;
//! - a claim found on a protection that is off (someone turned it off) or that has a cooldown is
//!   withdrawn when a handle, a rollback or a sweep sees it, so that a protection someone turns
//!   on later is not taken for amikeeper's.
//!
//! Protecting turns the protection on first and claims it second, so a crash between the two
//! leaves an unclaimed protection: kept, never deleted. What cannot be told apart: someone who
//! turns the protection off and on again (without a cooldown) before amikeeper sees it off.
//! EC2 reports no time for the protection, so nothing can; such an AMI is released when no
//! pointer names it, as amikeeper's own would be.
//!
//! Protection is released at two moments:
//! - when a handle or a rollback moves pointers off an AMI and none of the pointers it moved
//!   names that AMI any more (compared by the AMI each pointer launches after the run, whatever
//!   the kind of pointer);
//! - when a sweep finds an AMI with amikeeper's protection that no pointer of the account names
//!   (SSM parameter, launch template version, Auto Scaling group, launch configuration, stack
//!   parameter). This also catches what a handle could not see, such as a pointer moved by hand.

use std::fmt;
use std::future::Future;

use crate::backend::{Aws, AwsResult};
use crate::error::{AwsError, AwsErrorKind};
use crate::model::{Image, ImageId, ImageState, Region, PROTECTED_TAG, PROTECTION_HELD, PROTECTION_RELEASED};

/// Whose an image's deregistration protection is, as far as amikeeper can prove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ownership {
    /// The protection is off.
    Unprotected,
    /// amikeeper's: the protection is on without a cooldown, and the image's [`PROTECTED_TAG`]
    /// says [`PROTECTION_HELD`].
    Amikeepers,
    /// Someone else's, or amikeeper cannot prove it is its own (no claim, a withdrawn claim, a
    /// cooldown): never turned off by amikeeper.
    SomeoneElses,
}

/// Whose `image`'s deregistration protection is.
pub fn ownership(image: &Image) -> Ownership {
    if !image.deregistration_protected {
        Ownership::Unprotected
    } else if !image.deregistration_protection_cooldown && claims(image) {
        Ownership::Amikeepers
    } else {
        Ownership::SomeoneElses
    }
}

/// Whether a sweep or a handle may turn `image`'s protection off: it is on, and amikeeper
/// holds it (see [`ownership`]).
pub fn is_amikeepers(image: &Image) -> bool {
    ownership(image) == Ownership::Amikeepers
}

/// Whether `image`'s tag claims a protection amikeeper does not hold (the protection is off,
/// or on with a cooldown): the claim is withdrawn, so that a protection turned on later is not
/// taken for amikeeper's.
pub fn claims_without_holding(image: &Image) -> bool {
    claims(image) && !is_amikeepers(image)
}

fn claims(image: &Image) -> bool {
    image.tags.get(PROTECTED_TAG).is_some_and(|value| value == PROTECTION_HELD)
}

/// Turns on deregistration protection for `image` and claims it ([`PROTECTED_TAG`]), unless it
/// is already protected. Returns what happened, for the report; `None` when the AMI is not
/// `available` (it was never published).
pub(crate) async fn protect(aws: &dyn Aws, region: &Region, image: &Image, dry_run: bool) -> Option<String> {
    if image.state != ImageState::Available {
        return None;
    }
    match ownership(image) {
        Ownership::Amikeepers => return Some(format!("{} was already protected from deregistration", image.id)),
        Ownership::SomeoneElses => {
            let mut said = format!(
                "{} was already protected from deregistration, not by amikeeper: it leaves that alone",
                image.id
            );
            if let Some(withdrawn) = withdraw_stale_claim(aws, region, image, dry_run).await {
                said = format!("{said}; {withdrawn}");
            }
            return Some(said);
        }
        Ownership::Unprotected => {}
    }
    if dry_run {
        return Some(format!("would protect {} from deregistration", image.id));
    }
    // On first, claimed second: a crash between the two leaves an unclaimed protection, which
    // is kept, never a claim on a protection that is off.
    let protected = async {
        aws.set_deregistration_protection(region, &image.id, true).await?;
        Step::Reclaim.run(aws, region, &image.id).await
    };
    Some(match protected.await {
        Ok(()) => format!("{} is now protected from deregistration", image.id),
        Err(error) => {
            tracing::warn!(image_id = %image.id, %error, "could not protect the published AMI");
            format!("could not protect {} from deregistration: {error}", image.id)
        }
    })
}

/// Turns off the protection amikeeper put on `image_id`, which the pointers just moved away
/// from. Returns what happened, for the report; `None` when there was nothing to release (no
/// such AMI, or not protected and not claimed).
/// `known` is the AMI as this run already described it, if it did.
pub(crate) async fn release(
    aws: &dyn Aws,
    region: &Region,
    image_id: &ImageId,
    known: Option<Image>,
    dry_run: bool,
) -> Option<String> {
    let described = match known {
        Some(image) => Ok(Some(image)),
        None => aws.describe_image(region, image_id).await,
    };
    let image = match described {
        Ok(Some(image)) => image,
        Ok(None) => return None,
        Err(error) => {
            tracing::warn!(%image_id, %error, "could not read the AMI the pointers left");
            return Some(format!("could not read {image_id} to release its protection: {error}"));
        }
    };
    match ownership(&image) {
        Ownership::Unprotected => withdraw_stale_claim(aws, region, &image, dry_run).await,
        Ownership::SomeoneElses => {
            let said = format!("{image_id} stays protected from deregistration: the protection is not amikeeper's");
            Some(match withdraw_stale_claim(aws, region, &image, dry_run).await {
                Some(withdrawn) => format!("{said}; {withdrawn}"),
                None => said,
            })
        }
        Ownership::Amikeepers if dry_run => {
            Some(format!("would release {image_id}'s deregistration protection: no pointer moved names it now"))
        }
        Ownership::Amikeepers => Some(match let_go(|step| step.run(aws, region, image_id)).await {
            Ok(()) => format!("released {image_id}'s deregistration protection: no pointer moved names it now"),
            Err(failure) => {
                tracing::warn!(%image_id, %failure, "could not release the protection of the AMI the pointers left");
                format!("could not release {image_id}'s deregistration protection: {failure}")
            }
        }),
    }
}

/// Withdraws a claim on a protection amikeeper does not hold (see [`claims_without_holding`]).
/// Returns what happened; `None` when there is no such claim.
async fn withdraw_stale_claim(aws: &dyn Aws, region: &Region, image: &Image, dry_run: bool) -> Option<String> {
    if !claims_without_holding(image) {
        return None;
    }
    let id = &image.id;
    let why = if image.deregistration_protected {
        "its protection has a cooldown, which amikeeper never sets"
    } else {
        "its protection was turned off by someone else"
    };
    if dry_run {
        return Some(format!("would withdraw amikeeper's claim on {id}'s protection: {why}"));
    }
    Some(match Step::Disclaim.run(aws, region, id).await {
        Ok(()) => format!("withdrew amikeeper's claim on {id}'s protection: {why}"),
        Err(error) => format!("could not withdraw amikeeper's claim on {id}'s protection ({why}): {error}"),
    })
}

/// One call of letting go of a protection amikeeper holds, or of claiming one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Tags the image [`PROTECTION_RELEASED`]: the claim ends before the protection does.
    Disclaim,
    /// `DisableImageDeregistrationProtection`.
    TurnOff,
    /// Tags the image [`PROTECTION_HELD`]: once the protection is on, or again after EC2 said it
    /// did not turn it off.
    Reclaim,
}

impl Step {
    /// Makes the call.
    pub(crate) async fn run(self, aws: &dyn Aws, region: &Region, image_id: &ImageId) -> AwsResult<()> {
        let claim = |value: &str| [(PROTECTED_TAG.to_owned(), value.to_owned())].into();
        let resources = [image_id.to_string()];
        match self {
            Self::Disclaim => aws.create_tags(region, &resources, &claim(PROTECTION_RELEASED)).await,
            Self::TurnOff => aws.set_deregistration_protection(region, image_id, false).await,
            Self::Reclaim => aws.create_tags(region, &resources, &claim(PROTECTION_HELD)).await,
        }
    }
}

/// Where a failed [`let_go`] left amikeeper's claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClaimLeft {
    /// The claim could not be withdrawn: nothing changed.
    Untouched,
    /// EC2 said it did not turn the protection off, and the claim was made again.
    Restored,
    /// The claim is withdrawn and the protection may still be on: it counts as someone else's.
    Withdrawn,
}

/// Why letting go of a protection failed, and where that left the claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LetGoFailure {
    /// The call that failed.
    pub error: AwsError,
    /// Where the claim is now.
    pub claim: ClaimLeft,
}

impl fmt::Display for LetGoFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}; ", self.error)?;
        f.write_str(match self.claim {
            ClaimLeft::Untouched => "nothing was changed, the next run tries again",
            ClaimLeft::Restored => "the protection is still on and still amikeeper's, the next run tries again",
            ClaimLeft::Withdrawn => {
                "amikeeper had withdrawn its claim first, so a protection still on now counts as someone \
                 else's and the AMI is kept: turn it off by hand (aws ec2 \
                 disable-image-deregistration-protection) if the AMI should go"
            }
        })
    }
}

/// Lets go of a protection amikeeper holds: withdraws the claim, then turns the protection
/// off; `step` makes each call (directly, or through a sweep's pacer). See the module docs.
pub(crate) async fn let_go<F, Fut>(mut step: F) -> Result<(), LetGoFailure>
where
    F: FnMut(Step) -> Fut,
    Fut: Future<Output = AwsResult<()>>,
{
    if let Err(error) = step(Step::Disclaim).await {
        return Err(LetGoFailure { error, claim: ClaimLeft::Untouched });
    }
    let error = match step(Step::TurnOff).await {
        Ok(()) => return Ok(()),
        Err(error) => error,
    };
    // Throttled or refused: EC2 did not turn the protection off, so it is on and still
    // amikeeper's. After a server error or a timeout it may be off, and a claim on a protection
    // that is off could later be taken for one someone else turns on: fail closed.
    let refused = matches!(error.kind, AwsErrorKind::Throttling | AwsErrorKind::Client);
    let claim = if refused && step(Step::Reclaim).await.is_ok() { ClaimLeft::Restored } else { ClaimLeft::Withdrawn };
    Err(LetGoFailure { error, claim })
}

/// The AMIs the pointers left: every `from` that names an AMI other than the one published,
/// unless another pointer of the same run still names it. `moves` are `(from, to)` pairs as a
/// handle's report gives them; a `to` that is `None` (the pointer did not move) or that names
/// no AMI (a group's launch template version) counts as still naming `from`.
pub(crate) fn left_behind<'a>(moves: impl IntoIterator<Item = (Option<&'a str>, Option<&'a str>)>) -> Vec<ImageId> {
    left_behind_images(moves.into_iter().map(|(from, to)| {
        let from = from.and_then(first_image_id);
        let after = to.and_then(first_image_id).or_else(|| from.clone());
        (from, after)
    }))
}

/// The AMIs the pointers left, compared by AMI: `pointers` are, for each pointer of a run, the
/// AMI it named before and the AMI it names after (the same one when it did not move or when
/// the run cannot tell). An AMI some pointer still names after the run is not left.
pub(crate) fn left_behind_images(
    pointers: impl IntoIterator<Item = (Option<ImageId>, Option<ImageId>)>,
) -> Vec<ImageId> {
    let mut left = std::collections::BTreeSet::new();
    let mut still_named = std::collections::BTreeSet::new();
    for (before, after) in pointers {
        if let Some(before) = before.filter(|before| after.as_ref() != Some(before)) {
            left.insert(before);
        }
        still_named.extend(after);
    }
    left.into_iter().filter(|id| !still_named.contains(id)).collect()
}

/// The first `ami-…` id in a report value such as `ami-0abc (version 3)`.
pub(crate) fn first_image_id(value: &str) -> Option<ImageId> {
    crate::model::ami_ids().find(value).map(|found| ImageId::new(found.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> ImageId {
        ImageId::new(s)
    }

    #[test]
    fn left_behind_lists_the_amis_no_moved_pointer_names() {
        let moves = [
            (Some("ami-0000000000000000a"), Some("ami-0000000000000000c")),
            (Some("ami-0000000000000000b (version 3)"), Some("ami-0000000000000000c (version 4)")),
            // A pointer that did not move (no `to`) still names its AMI.
            (Some("ami-0000000000000000d"), None),
            (Some("ami-0000000000000000d"), Some("ami-0000000000000000c")),
            // Unchanged: from equals to.
            (Some("ami-0000000000000000c"), Some("ami-0000000000000000c")),
            // Not an AMI (an ASG's launch template version).
            (Some("lt-0123 version 4"), Some("lt-0123 version 5")),
        ];
        assert_eq!(left_behind(moves), vec![id("ami-0000000000000000a"), id("ami-0000000000000000b")]);
    }

    #[test]
    fn left_behind_images_compares_what_each_pointer_names_after_the_run() {
        let (a, b, c) = (id("ami-0000000000000000a"), id("ami-0000000000000000b"), id("ami-0000000000000000c"));
        // A parameter and a group both moved from B back to A: B is left.
        assert_eq!(
            left_behind_images([(Some(b.clone()), Some(a.clone())), (Some(b.clone()), Some(a.clone()))]),
            std::slice::from_ref(&b)
        );
        // A pointer whose write failed still names B.
        assert!(left_behind_images([(Some(b.clone()), Some(a.clone())), (Some(b.clone()), Some(b.clone()))]).is_empty());
        // C is named after the run by another pointer; a pointer without an AMI leaves nothing.
        assert_eq!(
            left_behind_images([(Some(c.clone()), Some(a.clone())), (None, Some(c)), (Some(b.clone()), None)]),
            [b]
        );
    }

    fn image(protected: bool, cooldown: bool, claim: Option<&str>) -> Image {
        Image {
            id: id("ami-0000000000000000a"),
            name: "a".into(),
            description: None,
            state: ImageState::Available,
            created: time::OffsetDateTime::UNIX_EPOCH,
            owner: crate::model::AccountId::new("111122223333"),
            tags: claim.map(|value| (PROTECTED_TAG.to_owned(), value.to_owned())).into_iter().collect(),
            snapshot_ids: Vec::new(),
            snapshot_sizes_gib: Default::default(),
            deprecated_at: None,
            deregistration_protected: protected,
            deregistration_protection_cooldown: cooldown,
            last_launched: None,
            allowed: None,
            source_image_id: None,
            source_image_region: None,
        }
    }

    #[test]
    fn ownership_is_believed_only_when_the_claim_and_the_protection_agree() {
        use Ownership::*;
        let cases = [
            ((false, false, None), Unprotected, false),
            ((false, false, Some(PROTECTION_HELD)), Unprotected, true),
            ((false, false, Some(PROTECTION_RELEASED)), Unprotected, false),
            ((true, false, Some(PROTECTION_HELD)), Amikeepers, false),
            ((true, false, None), SomeoneElses, false),
            ((true, false, Some(PROTECTION_RELEASED)), SomeoneElses, false),
            ((true, false, Some("yes")), SomeoneElses, false),
            ((true, true, Some(PROTECTION_HELD)), SomeoneElses, true),
        ];
        for ((protected, cooldown, claim), owner, stale) in cases {
            let image = image(protected, cooldown, claim);
            assert_eq!(ownership(&image), owner, "{protected} {cooldown} {claim:?}");
            assert_eq!(is_amikeepers(&image), owner == Amikeepers);
            assert_eq!(claims_without_holding(&image), stale, "{protected} {cooldown} {claim:?}");
        }
    }

    fn failing(kind: AwsErrorKind) -> AwsError {
        AwsError::new("ec2", "DisableImageDeregistrationProtection", kind, "X", "x")
    }

    /// `let_go` withdraws the claim before turning the protection off, and makes it again only
    /// when EC2 said it did not turn the protection off.
    #[tokio::test]
    async fn let_go_withdraws_first_and_claims_again_only_when_ec2_refused() {
        let run = |turn_off: Option<AwsErrorKind>, disclaim_fails: bool| async move {
            let mut steps = Vec::new();
            let outcome = let_go(|step| {
                steps.push(step);
                let result = match (step, turn_off) {
                    (Step::Disclaim, _) if disclaim_fails => Err(failing(AwsErrorKind::Client)),
                    (Step::TurnOff, Some(kind)) => Err(failing(kind)),
                    _ => Ok(()),
                };
                async move { result }
            })
            .await;
            (outcome.map_err(|f| f.claim), steps)
        };
        use Step::*;
        assert_eq!(run(None, false).await, (Ok(()), vec![Disclaim, TurnOff]));
        assert_eq!(run(None, true).await, (Err(ClaimLeft::Untouched), vec![Disclaim]));
        for refused in [AwsErrorKind::Client, AwsErrorKind::Throttling] {
            assert_eq!(run(Some(refused), false).await, (Err(ClaimLeft::Restored), vec![Disclaim, TurnOff, Reclaim]));
        }
        for unknown in [AwsErrorKind::Server, AwsErrorKind::Timeout, AwsErrorKind::NotFound] {
            assert_eq!(run(Some(unknown), false).await, (Err(ClaimLeft::Withdrawn), vec![Disclaim, TurnOff]));
        }
    }
}
