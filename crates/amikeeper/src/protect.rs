//! Deregistration protection for the AMIs pointers name.
//!
//! When a pointer moves to an AMI, amikeeper turns on that AMI's deregistration protection
//! (`EnableImageDeregistrationProtection`) and tags it [`PROTECTED_TAG`], so DLM, a script or a
//! console click cannot deregister what production boots from. When the pointers move away,
//! amikeeper turns the protection off again, but only protection it turned on itself (the tag
//! says so): an AMI someone else protected stays protected.
//!
//! Protection is released at two moments:
//! - when a handle or a rollback moves pointers off an AMI and none of the pointers it moved
//!   names that AMI any more;
//! - when a sweep finds an AMI with amikeeper's protection that no pointer of the account names
//!   (SSM parameter, launch template version, Auto Scaling group, launch configuration, stack
//!   parameter). This also catches what a handle could not see, such as a pointer moved by hand.

use crate::backend::Aws;
use crate::model::{Image, ImageId, ImageState, Region, PROTECTED_TAG};

/// Turns on deregistration protection for `image` and tags it [`PROTECTED_TAG`], unless it is
/// already protected. Returns what happened, for the report; `None` when the AMI is not
/// `available` (it was never published).
pub(crate) async fn protect(aws: &dyn Aws, region: &Region, image: &Image, dry_run: bool) -> Option<String> {
    if image.state != ImageState::Available {
        return None;
    }
    if image.deregistration_protected {
        return Some(format!("{} was already protected from deregistration", image.id));
    }
    if dry_run {
        return Some(format!("would protect {} from deregistration", image.id));
    }
    let tags = [(PROTECTED_TAG.to_owned(), "true".to_owned())].into();
    let protected = async {
        aws.set_deregistration_protection(region, &image.id, true).await?;
        aws.create_tags(region, std::slice::from_ref(&image.id.to_string()), &tags).await
    };
    Some(match protected.await {
        Ok(()) => format!("{} is now protected from deregistration", image.id),
        Err(error) => {
            tracing::warn!(image_id = %image.id, %error, "could not protect the published AMI");
            format!("could not protect {} from deregistration: {error}", image.id)
        }
    })
}

/// Whether a sweep or a handle may turn `image`'s protection off: it is on, and amikeeper
/// turned it on.
pub fn is_amikeepers(image: &Image) -> bool {
    image.deregistration_protected && image.tags.contains_key(PROTECTED_TAG)
}

/// Turns off the protection amikeeper put on `image_id`, which the pointers just moved away
/// from. Returns what happened, for the report; `None` when there was nothing to release (no
/// such AMI, not protected, or protected by someone else).
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
    if !image.deregistration_protected {
        return None;
    }
    if !is_amikeepers(&image) {
        return Some(format!("{image_id} stays protected from deregistration: the protection is not amikeeper's"));
    }
    if dry_run {
        return Some(format!("would release {image_id}'s deregistration protection: no pointer moved names it now"));
    }
    Some(match aws.set_deregistration_protection(region, image_id, false).await {
        Ok(()) => format!("released {image_id}'s deregistration protection: no pointer moved names it now"),
        Err(error) => {
            tracing::warn!(%image_id, %error, "could not release the protection of the AMI the pointers left");
            format!("could not release {image_id}'s deregistration protection: {error}")
        }
    })
}

/// The AMIs the pointers left: every `from` that names an AMI other than the one published,
/// unless another pointer of the same run still names it. `moves` are `(from, to)` pairs.
pub(crate) fn left_behind<'a>(moves: impl IntoIterator<Item = (Option<&'a str>, Option<&'a str>)>) -> Vec<ImageId> {
    let mut left = std::collections::BTreeSet::new();
    let mut still_named = std::collections::BTreeSet::new();
    for (from, to) in moves {
        let from = from.and_then(first_image_id);
        let to = to.and_then(first_image_id);
        if let Some(to) = &to {
            still_named.insert(to.clone());
        }
        match (from, &to) {
            (Some(from), Some(to)) if &from != to => {
                left.insert(from);
            }
            (Some(from), None) => {
                still_named.insert(from);
            }
            _ => {}
        }
    }
    left.into_iter().filter(|id| !still_named.contains(id)).collect()
}

/// The first `ami-…` id in a report value such as `ami-0abc (version 3)`.
fn first_image_id(value: &str) -> Option<ImageId> {
    crate::retain::ami_ids().find(value).map(|found| ImageId::new(found.as_str()))
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
}
