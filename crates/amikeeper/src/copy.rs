//! DR copies: a rule's `copy_to` copies each AMI it takes to other regions, of this account or
//! of other accounts, once the AMI is `available`.
//!
//! The copy is made with `CopyImage`, carrying the AMI's own tags (amikeeper's bookkeeping tags
//! left out) and [`COPIED_FROM_TAG`] from the moment it exists, and a client token derived from
//! the AMI and the region. Before copying, amikeeper looks for an earlier copy by that tag, so
//! the same event twice makes one copy; and an AMI that carries the tag is a copy, never copied
//! again. The destination region's own events (`CopyImage` in CloudTrail, then `EC2 AMI State
//! Change` to `available`) move its pointers, like seed 000's DR flow but without a second
//! hand-edited Lambda.
//!
//! A copy into another account (an entry with a `role_arn`) first assumes the role (a role that
//! cannot be assumed fails the copy before anything is shared), looks for an earlier copy there,
//! then shares the AMI with that account (`ModifyImageAttribute`, launch permission) and each of
//! its snapshots (`ModifySnapshotAttribute`, create-volume permission, without which EC2 refuses
//! to copy a shared AMI), and copies it with the role's credentials. The tag there is
//! `<source account>/<source region>/<source AMI id>`; within one account it stays
//! `<source region>/<source AMI id>`, so copies made before cross-account copies existed are
//! still found. The AMI stays shared with the destination account. An AMI with encrypted
//! snapshots also needs its KMS key shared with the destination account, which amikeeper does
//! not do: EC2's refusal is reported as it comes.

use serde::Serialize;

use crate::backend::Aws;
use crate::config::CopyDestination;
use crate::model::{AccountId, CopyImage, Image, ImageId, Region, Tags, COPIED_FROM_TAG};

named_enum! {
    /// What became of one copy.
    #[non_exhaustive]
    pub enum CopyStatus {
        /// Copied now.
        Copied = "copied",
        /// An earlier copy is there: nothing was copied.
        AlreadyCopied = "already_copied",
        /// A dry run: the copy would be made.
        Planned = "planned",
        /// It failed; the report says why.
        Failed = "failed",
    }
}

/// What became of one copy.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CopyReport {
    /// The destination region.
    pub region: Region,
    /// The destination account, for a copy into another account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<AccountId>,
    /// What became of it.
    pub status: CopyStatus,
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

/// The [`COPIED_FROM_TAG`] value of a copy of `image` (in `source`): `<region>/<ami>` within
/// the account, `<account>/<region>/<ami>` in another account.
pub fn copied_from(source: &Region, image: &Image, cross_account: bool) -> String {
    if cross_account {
        format!("{}/{source}/{}", image.owner, image.id)
    } else {
        format!("{source}/{}", image.id)
    }
}

/// Copies `image` (in `source`) to `destination`, unless an earlier copy is there.
pub(crate) async fn copy_to(
    aws: &dyn Aws,
    source: &Region,
    image: &Image,
    destination: &CopyDestination,
    dry_run: bool,
) -> CopyReport {
    let region = Region::from(destination.region());
    let account = destination.account().map(AccountId::from);
    let report = |status, image_id, error| CopyReport {
        region: region.clone(),
        account: account.clone(),
        status,
        image_id,
        error,
    };
    let (Some(role), Some(account)) = (destination.role_arn(), &account) else {
        let marker = copied_from(source, image, false);
        return copy_into(aws, source, image, &region, marker, dry_run, None, report).await;
    };
    let target = match aws.assume_role(role, destination.external_id()).await {
        Ok(target) => target,
        Err(error) => {
            tracing::warn!(image_id = %image.id, role, %error, "could not assume the copy role");
            return report(CopyStatus::Failed, None, Some(format!("could not assume {role}: {error}")));
        }
    };
    let marker = copied_from(source, image, true);
    copy_into(target.as_ref(), source, image, &region, marker, dry_run, Some((aws, account)), report).await
}

/// Looks for an earlier copy in `destination` of the account `target` acts in, else copies
/// there; `share` is the source account and the account to share with, for a copy into another
/// account.
#[allow(clippy::too_many_arguments)]
async fn copy_into(
    target: &dyn Aws,
    source: &Region,
    image: &Image,
    destination: &Region,
    marker: String,
    dry_run: bool,
    share: Option<(&dyn Aws, &AccountId)>,
    report: impl Fn(CopyStatus, Option<ImageId>, Option<String>) -> CopyReport,
) -> CopyReport {
    match target.describe_images_tagged(destination, COPIED_FROM_TAG, &marker).await {
        Ok(found) => {
            if let Some(earlier) = found.first() {
                return report(CopyStatus::AlreadyCopied, Some(earlier.id.clone()), None);
            }
        }
        Err(error) => return report(CopyStatus::Failed, None, Some(error.to_string())),
    }
    if dry_run {
        return report(CopyStatus::Planned, None, None);
    }
    if let Some((aws, account)) = share {
        if let Err(error) = share_with(aws, source, image, account).await {
            tracing::warn!(image_id = %image.id, %account, %error, "could not share the AMI");
            return report(
                CopyStatus::Failed,
                None,
                Some(format!("could not share {} with {account}: {error}", image.id)),
            );
        }
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
    match target.copy_image(destination, &request).await {
        Ok(copy) => report(CopyStatus::Copied, Some(copy), None),
        Err(error) => {
            tracing::warn!(image_id = %image.id, %destination, %error, "could not copy the AMI");
            report(CopyStatus::Failed, None, Some(error.to_string()))
        }
    }
}

/// Shares `image` and its snapshots with `account` (sharing twice is no error).
async fn share_with(
    aws: &dyn Aws,
    source: &Region,
    image: &Image,
    account: &AccountId,
) -> Result<(), crate::error::AwsError> {
    aws.share_image(source, &image.id, account).await?;
    for snapshot in &image.snapshot_ids {
        aws.share_snapshot(source, snapshot, account).await?;
    }
    Ok(())
}
