//! DR copies: a rule's `copy_to` copies each AMI it takes to other regions once the AMI is
//! `available`.
//!
//! The copy is made with `CopyImage`, carrying the AMI's own tags (amikeeper's bookkeeping tags
//! left out) and [`COPIED_FROM_TAG`] = `<source region>/<source AMI id>` from the moment it
//! exists, and a client token derived from the AMI and the region. Before copying, amikeeper
//! looks for an earlier copy by that tag, so the same event twice makes one copy; and an AMI
//! that carries the tag is a copy, never copied again. The destination region's own events
//! (`CopyImage` in CloudTrail, then `EC2 AMI State Change` to `available`) move its pointers,
//! like seed 000's DR flow but without a second hand-edited Lambda.

use serde::Serialize;

use crate::backend::Aws;
use crate::model::{CopyImage, Image, ImageId, Region, Tags, COPIED_FROM_TAG};

/// What became of one copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CopyReport {
    /// The destination region.
    pub region: Region,
    /// `copied`, `already_copied`, `planned` (dry run) or `failed`.
    pub status: &'static str,
    /// The copy, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_id: Option<ImageId>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Whether `image` is itself a copy amikeeper made (and so is never copied again).
pub fn is_copy(image: &Image) -> bool {
    image.tags.contains_key(COPIED_FROM_TAG)
}

/// Copies `image` (in `source`) to `destination`, unless an earlier copy is there.
pub(crate) async fn copy_to(
    aws: &dyn Aws,
    source: &Region,
    image: &Image,
    destination: &Region,
    dry_run: bool,
) -> CopyReport {
    let marker = format!("{source}/{}", image.id);
    let report = |status, image_id, error| CopyReport { region: destination.clone(), status, image_id, error };
    match aws.describe_images_tagged(destination, COPIED_FROM_TAG, &marker).await {
        Ok(found) => {
            if let Some(earlier) = found.first() {
                return report("already_copied", Some(earlier.id.clone()), None);
            }
        }
        Err(error) => return report("failed", None, Some(error.to_string())),
    }
    if dry_run {
        return report("planned", None, None);
    }
    let mut tags: Tags = image
        .tags
        .iter()
        .filter(|(key, _)| !key.starts_with("amikeeper:"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    tags.insert(COPIED_FROM_TAG.to_owned(), marker);
    let request = CopyImage {
        source_region: source.clone(),
        source_image_id: image.id.clone(),
        name: image.name.clone(),
        description: image.description.clone(),
        tags,
        client_token: format!("amikeeper-{}-{destination}", image.id),
    };
    match aws.copy_image(destination, &request).await {
        Ok(copy) => report("copied", Some(copy), None),
        Err(error) => {
            tracing::warn!(image_id = %image.id, %destination, %error, "could not copy the AMI");
            report("failed", None, Some(error.to_string()))
        }
    }
}
