//! Marking the snapshots of the images a sweep deregisters ([`RETIRED_SNAPSHOT_TAG`]) before it
//! deregisters them, so that a sweep stopped before it deletes them (killed, a failed
//! deletion, its deadline) leaves them for the next sweep, which plans them as leftovers.
//!
//! Without a deadline, every snapshot is marked at once, before the first image (a call per
//! 1000 snapshots). With one, each image's snapshots are marked in that image's own action, just
//! before it is deregistered: a sweep the deadline stops leaves marks only on the snapshots of
//! the images it deregistered, not on those of images it did not get to, which a later plan may
//! keep.

use std::collections::HashMap;

use super::budget::Budget;
use super::pace::Pacer;
use super::report::{ItemResult, ItemStatus, SweepAction, RETIRED_SNAPSHOT_TAG};
use super::SnapshotDecision;
use crate::backend::Aws;
use crate::error::AwsError;
use crate::model::{ImageId, Region, Tags};

/// The snapshots to mark, and how.
pub(super) struct Marks<'a> {
    /// Each image's snapshots, when they are marked image by image (a sweep with a deadline).
    by_image: Option<HashMap<&'a ImageId, Vec<String>>>,
    /// Every snapshot, when they are marked together.
    all: Vec<String>,
}

fn mark_tag() -> Tags {
    [(RETIRED_SNAPSHOT_TAG.to_owned(), "true".to_owned())].into()
}

impl<'a> Marks<'a> {
    /// The marks of the snapshots the plan deletes with their images; image by image when the
    /// sweep has a deadline.
    pub(super) fn new(snapshots: &[&'a SnapshotDecision], budget: &Budget<'_>) -> Self {
        if budget.bounded() {
            let mut by_image: HashMap<&ImageId, Vec<String>> = HashMap::new();
            for snapshot in snapshots {
                by_image.entry(&snapshot.image_id).or_default().push(snapshot.snapshot_id.clone());
            }
            Self { by_image: Some(by_image), all: Vec::new() }
        } else {
            Self { by_image: None, all: snapshots.iter().map(|s| s.snapshot_id.clone()).collect() }
        }
    }

    /// Marks every snapshot at once (nothing when they are marked image by image). Returns
    /// the results of the calls that failed or did not start; the images are still retired.
    pub(super) async fn mark_all(
        &self,
        aws: &dyn Aws,
        pacer: &Pacer,
        budget: &Budget<'_>,
        region: &Region,
    ) -> Vec<ItemResult> {
        let mut results = Vec::new();
        let tags = mark_tag();
        for chunk in self.all.chunks(1000) {
            // Not marked for want of time: then no image is deregistered either.
            let Some((outcome, attempts)) = budget.run(pacer.retry(|| aws.create_tags(region, chunk, &tags))).await
            else {
                results.push(budget.not_started(chunk.join(","), SweepAction::MarkSnapshots));
                continue;
            };
            if let Err(error) = outcome {
                let why = format!(
                    "could not mark {} snapshots {RETIRED_SNAPSHOT_TAG}: a sweep interrupted before it deletes \
                     them would leave them behind ({error})",
                    chunk.len()
                );
                results.push(ItemResult {
                    resource: chunk.join(","),
                    action: SweepAction::MarkSnapshots,
                    version: None,
                    status: ItemStatus::Failed,
                    attempts,
                    detail: Some(why),
                });
            }
        }
        results
    }

    /// Marks the snapshots of `image`, when they are marked image by image; an error means
    /// the image must not be deregistered (its snapshots could be left unmarked). Returns the
    /// attempts made.
    pub(super) async fn mark_image(
        &self,
        aws: &dyn Aws,
        pacer: &Pacer,
        region: &Region,
        image: &ImageId,
    ) -> (Result<(), AwsError>, u32) {
        let Some(snapshots) = self.by_image.as_ref().and_then(|by_image| by_image.get(image)) else {
            return (Ok(()), 0);
        };
        let tags = mark_tag();
        pacer.retry(|| aws.create_tags(region, snapshots, &tags)).await
    }
}
