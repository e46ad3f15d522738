//! A revoke's first phase: the AMI, its copies, the pointers that name them and where each goes
//! back to, read and worked out without writing anything.

use std::collections::{BTreeMap, BTreeSet};

use time::OffsetDateTime;

use super::{FoundBy, Move, Planned, RevokeReport, RevokeStatus, RevokedImage};
use crate::allowed::{self, Verdict};
use crate::config::{Config, Kinds, Rule};
use crate::copy::copied_from;
use crate::error::AwsError;
use crate::model::{Image, ImageId, ImageState, COPIED_FROM_TAG};
use crate::publish::{Outcome, Status, TargetId};
use crate::reject;
use crate::resolve::takes_image;
use crate::status::{gather, Place, PlaceRole, PointerStatus, StatusError};

/// Why a pointer cannot be moved back: refused (`Ok`), or a read failed (`Err`).
type Blocked = Result<String, String>;

/// Works the revoke out; `None` when it cannot go ahead (the report says why, nothing written).
pub(super) async fn plan<T: Kinds>(
    config: &Config<T>,
    places: &[Place<'_>],
    image_id: &ImageId,
    now: OffsetDateTime,
    report: &mut RevokeReport,
) -> Option<Planned> {
    let Some(home_index) = places.iter().position(|p| p.role == PlaceRole::Home) else {
        report.refuse(RevokeStatus::Refused, "no home region to revoke in");
        return None;
    };
    let home = &places[home_index];
    let image = match home.aws.describe_image(&home.region, image_id).await {
        Ok(Some(image)) => image,
        Ok(None) => {
            let reason =
                format!("{image_id} does not exist in {} (or is not this account's); nothing was written", home.region);
            report.refuse(RevokeStatus::Refused, reason);
            return None;
        }
        Err(error) => {
            report.refuse(RevokeStatus::Failed, format!("could not describe {image_id}: {error}; nothing was written"));
            return None;
        }
    };
    // The revoked AMIs of each place.
    let mut family: Vec<(usize, Image, FoundBy)> = vec![(home_index, image.clone(), FoundBy::Revoked)];
    let mut pointers: Vec<(usize, PointerStatus)> = Vec::new();
    for (index, place) in places.iter().enumerate() {
        let (found, errors) = gather(config, place, now).await;
        report.errors.extend(errors);
        if index != home_index {
            match copies(place, &home.region, &image, &found).await {
                Ok(copies) => family.extend(copies.into_iter().map(|(copy, by)| (index, copy, by))),
                Err(error) => report.errors.push(StatusError {
                    account: place.account.clone(),
                    region: place.region.clone(),
                    what: format!("the copies of {image_id}"),
                    error: error.to_string(),
                }),
            }
        }
        pointers.extend(found.into_iter().map(|pointer| (index, pointer)));
    }
    if !report.errors.is_empty() {
        let reason = format!(
            "{} reads failed (see errors): a pointer that could not be read might name {image_id}; nothing was written",
            report.errors.len()
        );
        report.refuse(RevokeStatus::Failed, reason);
        return None;
    }
    for (place, found, by) in &family {
        let place = &places[*place];
        report.images.push(RevokedImage {
            account: place.account.clone(),
            region: place.region.clone(),
            image_id: found.id.clone(),
            found_by: *by,
            steps: Vec::new(),
        });
    }
    // Each pointer that names one of them, once (two rules may name the same pointer).
    let mut seen = BTreeSet::new();
    let mut moves = Vec::new();
    let mut blocked: Vec<(usize, PointerStatus, Blocked)> = Vec::new();
    let mut candidates: BTreeMap<usize, Vec<Image>> = BTreeMap::new();
    let configured: Vec<&T> = config.rules.iter().flat_map(|rule| &rule.targets).collect();
    for (index, pointer) in pointers {
        let Some(revoked) = family.iter().find(|(p, f, _)| *p == index && Some(&f.id) == pointer.image_id.as_ref())
        else {
            continue;
        };
        if !seen.insert((index, pointer.kind, pointer.name.clone())) {
            continue;
        }
        let place = &places[index];
        let Some(rule) = config.rules.iter().find(|r| r.name == pointer.rule) else { continue };
        if let std::collections::btree_map::Entry::Vacant(slot) = candidates.entry(index) {
            match place.aws.describe_own_images(&place.region).await {
                Ok(mut images) => {
                    images.sort_by(|a, b| b.age_key().cmp(&a.age_key()));
                    slot.insert(images);
                }
                Err(error) => {
                    blocked.push((
                        index,
                        pointer,
                        Err(format!("could not list the AMIs of {}: {error}", place.region)),
                    ));
                    continue;
                }
            }
        }
        let goes_to = earlier(place, rule, &revoked.1, &candidates[&index], &family, now, &mut report.warnings).await;
        let to = match goes_to {
            Ok(Some(to)) => to,
            Ok(None) => {
                let why = format!(
                    "no earlier AMI of rule {} in {} that is available, not deprecated and not rejected: it cannot move \
                     back",
                    rule.name, place.region
                );
                blocked.push((index, pointer, Ok(why)));
                continue;
            }
            Err(error) => {
                blocked.push((index, pointer, Err(error.to_string())));
                continue;
            }
        };
        let parsed: Result<T::Pointer, _> = format!("{}:{}", pointer.kind, pointer.name).parse();
        let Ok(target) = parsed else {
            blocked.push((index, pointer, Ok("its name is no pointer a revoke can move".to_owned())));
            continue;
        };
        match T::plan_rollback(place.aws, &place.region, &target, &configured, Some(&to)).await {
            Ok(Ok(planned)) => {
                let id = TargetId { kind: pointer.kind, name: pointer.name.clone() };
                moves.push(Move { place: index, rule: pointer.rule.clone(), target: id, planned });
            }
            Ok(Err(why)) => blocked.push((index, pointer, Ok(why))),
            Err(error) => blocked.push((index, pointer, Err(error.to_string()))),
        }
    }
    if !blocked.is_empty() {
        let failed = blocked.iter().any(|(_, _, why)| why.is_err());
        let status = if failed { RevokeStatus::Failed } else { RevokeStatus::Refused };
        let reason = format!(
            "{} of the {} pointers that name {image_id} or a copy cannot move back; nothing was written",
            blocked.len(),
            blocked.len() + moves.len()
        );
        report.refuse(status, reason);
        for (index, pointer, why) in blocked {
            let (status, why) = match why {
                Ok(why) => (Status::Refused, why),
                Err(why) => (Status::Failed, why),
            };
            let from = pointer.image_id.as_ref().map(ToString::to_string);
            report.pointers.push(super::RevokeItem {
                rule: pointer.rule,
                account: places[index].account.clone(),
                region: places[index].region.clone(),
                target: TargetId { kind: pointer.kind, name: pointer.name },
                outcome: Outcome { from, ..Outcome::new(status, why) },
            });
        }
        return None;
    }
    let images = family.into_iter().map(|(place, image, _)| (place, image.id)).collect();
    Some(Planned { images, moves })
}

/// The copies of `image` (in `home`) in `place`: by their `amikeeper:copied-from` tag (the
/// form within the account and the form across accounts), and, among the AMIs the pointers
/// there name, by EC2's `SourceImageId`.
async fn copies(
    place: &Place<'_>,
    home: &crate::model::Region,
    image: &Image,
    pointers: &[PointerStatus],
) -> Result<Vec<(Image, FoundBy)>, AwsError> {
    let mut found: Vec<(Image, FoundBy)> = Vec::new();
    for cross_account in [false, true] {
        let marker = copied_from(home, image, cross_account);
        for copy in place.aws.describe_images_tagged(&place.region, COPIED_FROM_TAG, &marker).await? {
            if !found.iter().any(|(f, _)| f.id == copy.id) {
                found.push((copy, FoundBy::CopiedFromTag));
            }
        }
    }
    let named: BTreeSet<&ImageId> = pointers.iter().filter_map(|p| p.image_id.as_ref()).collect();
    for id in named {
        if found.iter().any(|(f, _)| &f.id == id) {
            continue;
        }
        let Some(described) = place.aws.describe_image(&place.region, id).await? else { continue };
        let source = described.source_image_region.as_ref().unwrap_or(&place.region);
        if described.source_image_id.as_ref() == Some(&image.id) && source == home {
            found.push((described, FoundBy::SourceImageId));
        }
    }
    Ok(found)
}

/// The newest AMI of `candidates` (newest first) that `rule` takes and that is older than
/// `revoked`, available, not deprecated at `now`, allowed, not revoked with it, and neither
/// rejected nor a copy of a rejected AMI.
async fn earlier<T>(
    place: &Place<'_>,
    rule: &Rule<T>,
    revoked: &Image,
    candidates: &[Image],
    family: &[(usize, Image, FoundBy)],
    now: OffsetDateTime,
    warnings: &mut Vec<String>,
) -> Result<Option<ImageId>, AwsError> {
    let fit = candidates.iter().filter(|image| {
        image.age_key() < revoked.age_key()
            && image.state == ImageState::Available
            && image.deprecated_at.is_none_or(|at| at > now)
            && !family.iter().any(|(_, f, _)| f.id == image.id)
            && takes_image(rule, image)
    });
    for image in fit {
        if reject::find(place.aws, &place.region, image).await?.is_some() {
            continue;
        }
        match allowed::check(place.aws, &place.region, image).await? {
            Verdict::Allowed => {}
            Verdict::Warn(warning) => {
                if !warnings.contains(&warning) {
                    warnings.push(warning);
                }
            }
            Verdict::Refuse(_) => continue,
        }
        return Ok(Some(image.id.clone()));
    }
    Ok(None)
}
