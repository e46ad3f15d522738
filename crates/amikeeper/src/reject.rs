//! Rejection: the mark that keeps a bad AMI from ever being published again.
//!
//! A rejected AMI carries two tags: [`REJECTED_TAG`] (the reason, trimmed to EC2's limit of
//! [`MAX_TAG_VALUE_CHARS`] characters for a tag value) and [`REJECTED_AT_TAG`] (when, RFC 3339).
//! `amikeeper revoke` puts them on an AMI and on its `copy_to` copies; an automatic revert after
//! an alarm puts them on the AMI whose rollout it stopped. The mark lives on the AMI itself, in
//! AWS, so every later invocation sees it.
//!
//! No rule publishes a rejected AMI: the keeper refuses every target of an event for one
//! ([`Refusal::Rejected`](crate::publish::Refusal::Rejected)), and also for a copy of one, found
//! by the copy's [`COPIED_FROM_TAG`] or by EC2's `SourceImageId` and `SourceImageRegion`
//! ([`Image::source_image_id`]). Only the source's tags in the copy's own account can be read: a copy in
//! another account is marked by `revoke` itself (it assumes the `copy_to` role), so its own
//! tags carry the rejection there.

use std::fmt;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::backend::{AwsResult, Ec2Api};
use crate::model::{Image, ImageId, Region, Tags, COPIED_FROM_TAG};

/// The tag that marks an AMI rejected; its value is the reason.
pub const REJECTED_TAG: &str = "amikeeper:rejected";

/// The tag that says when an AMI was rejected (RFC 3339).
pub const REJECTED_AT_TAG: &str = "amikeeper:rejected-at";

/// The most characters EC2 takes in a tag value.
pub const MAX_TAG_VALUE_CHARS: usize = 256;

/// Why and when an AMI was rejected, as its tags say.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Rejection {
    /// Why (at most [`MAX_TAG_VALUE_CHARS`] characters).
    pub reason: String,
    /// When; `None` when [`REJECTED_AT_TAG`] is missing or not RFC 3339 (the AMI is rejected
    /// all the same: the reason tag alone decides).
    #[serde(with = "time::serde::rfc3339::option")]
    pub at: Option<OffsetDateTime>,
}

impl Rejection {
    /// A rejection for `reason` (trimmed, and cut to [`MAX_TAG_VALUE_CHARS`]) at `at`.
    pub fn new(reason: &str, at: OffsetDateTime) -> Self {
        let reason: String = reason.trim().chars().take(MAX_TAG_VALUE_CHARS).collect();
        Self { reason, at: Some(at.replace_nanosecond(0).unwrap_or(at)) }
    }

    /// The rejection these tags carry, if any.
    pub fn from_tags(tags: &Tags) -> Option<Self> {
        let reason = tags.get(REJECTED_TAG)?.clone();
        let at = tags.get(REJECTED_AT_TAG).and_then(|at| OffsetDateTime::parse(at, &Rfc3339).ok());
        Some(Self { reason, at })
    }

    /// The rejection of `image`, from its own tags.
    pub fn of(image: &Image) -> Option<Self> {
        Self::from_tags(&image.tags)
    }

    /// The tags that mark an AMI with this rejection.
    pub fn tags(&self) -> Tags {
        let mut tags = Tags::new();
        tags.insert(REJECTED_TAG.to_owned(), self.reason.clone());
        if let Some(at) = self.at {
            tags.insert(REJECTED_AT_TAG.to_owned(), rfc3339(at));
        }
        tags
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at {
            Some(at) => write!(f, "rejected at {}: {}", rfc3339(at), self.reason),
            None => write!(f, "rejected: {}", self.reason),
        }
    }
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_else(|_| at.to_string())
}

/// A rejected AMI found for an image: the image itself, or the AMI it was copied from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rejected {
    /// The rejected AMI.
    pub image_id: ImageId,
    /// Its region.
    pub region: Region,
    /// Its rejection.
    pub rejection: Rejection,
}

impl Rejected {
    /// Why `image` (in `region`) is never published, naming the rejection.
    pub fn refusal_reason(&self, image: &ImageId) -> String {
        if &self.image_id == image {
            format!("{image} is {} (tag {REJECTED_TAG}); a rejected AMI is never published", self.rejection)
        } else {
            format!(
                "{image} is a copy of {} in {}, which is {} (tag {REJECTED_TAG}); a copy of a rejected AMI is \
                 never published",
                self.image_id, self.region, self.rejection
            )
        }
    }
}

/// The AMI `image` (in `region`) was copied from, within this account: its
/// [`COPIED_FROM_TAG`] when that names no other account, else EC2's `SourceImageId` and
/// `SourceImageRegion` when the source is owned by the same account (EC2 reports the source of
/// a copy; a source in another account keeps its tags out of reach).
pub fn source_of(image: &Image, region: &Region) -> Option<(Region, ImageId)> {
    if let Some(tag) = image.tags.get(COPIED_FROM_TAG) {
        let parts: Vec<&str> = tag.split('/').collect();
        return match parts.as_slice() {
            [source_region, source] => Some((Region::from(*source_region), ImageId::new(*source))),
            [account, source_region, source] if *account == image.owner.as_str() => {
                Some((Region::from(*source_region), ImageId::new(*source)))
            }
            _ => None,
        };
    }
    let source = image.source_image_id.as_ref()?;
    let source_region = image.source_image_region.clone().unwrap_or_else(|| region.clone());
    (source != &image.id).then(|| (source_region, source.clone()))
}

/// The rejection that keeps `image` (in `region`) from being published: its own, or the one
/// of the AMI it was copied from (described in its region). `Err` when that AMI could not be
/// described: the caller cannot know, and so does not publish.
pub async fn find(aws: &dyn Ec2Api, region: &Region, image: &Image) -> AwsResult<Option<Rejected>> {
    if let Some(rejection) = Rejection::of(image) {
        return Ok(Some(Rejected { image_id: image.id.clone(), region: region.clone(), rejection }));
    }
    let Some((source_region, source)) = source_of(image, region) else { return Ok(None) };
    let described = aws.describe_image(&source_region, &source).await?;
    Ok(described.and_then(|source_image| {
        Rejection::of(&source_image).map(|rejection| Rejected { image_id: source, region: source_region, rejection })
    }))
}

/// Marks `images` (in `region`) with `rejection` (one `CreateTags`).
pub async fn mark(aws: &dyn Ec2Api, region: &Region, images: &[ImageId], rejection: &Rejection) -> AwsResult<()> {
    let ids: Vec<String> = images.iter().map(ToString::to_string).collect();
    aws.create_tags(region, &ids, &rejection.tags()).await
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn a_rejection_round_trips_through_its_tags() {
        let rejection = Rejection::new("  boots into a kernel panic \n", datetime!(2026-12-05 09:30:12.5 UTC));
        let tags = rejection.tags();
        assert_eq!(tags[REJECTED_TAG], "boots into a kernel panic");
        assert_eq!(tags[REJECTED_AT_TAG], "2026-12-05T09:30:12Z");
        assert_eq!(Rejection::from_tags(&tags), Some(rejection));
    }

    #[test]
    fn a_long_reason_is_cut_to_the_tag_value_limit_in_characters() {
        let rejection = Rejection::new(&"é".repeat(300), datetime!(2026-12-05 09:30 UTC));
        assert_eq!(rejection.reason.chars().count(), MAX_TAG_VALUE_CHARS);
    }

    #[test]
    fn the_reason_tag_alone_rejects() {
        let tags = Tags::from([(REJECTED_TAG.to_owned(), "by hand".to_owned())]);
        let rejection = Rejection::from_tags(&tags).expect("rejected");
        assert_eq!((rejection.reason.as_str(), rejection.at), ("by hand", None));
        assert_eq!(rejection.to_string(), "rejected: by hand");
        assert_eq!(Rejection::from_tags(&Tags::new()), None);
    }
}
