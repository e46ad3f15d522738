//! Two checks of a sweep plan beyond the inventory scan:
//! - EC2's own AMI reference check (`DescribeImageReferences`), asked about every image the
//!   plan would retire. It also sees SSM parameters outside the configured paths and Image
//!   Builder recipes. An image it finds referenced is kept, and the plan is made again.
//! - The consumer accounts the AMIs are shared with: each role is assumed and what there
//!   launches an AMI is read; a candidate something there names is kept.
//! - Recycle Bin retention rules, which tell whether the AMIs and snapshots the plan deletes
//!   can be restored.
//!
//! Neither check can make a plan retire more: a reference only adds a usage, and the Recycle
//! Bin only informs. Where an API is missing or refused, the plan stands on the scan alone and
//! the report says so.

use std::collections::BTreeSet;

use futures::stream::{self, StreamExt};

use super::inventory::{gather_paced, Gathered};
use super::pace::Pacer;
use super::report::{ConsumerCheck, ReferenceCheck, SweepPlan, UndoCheck};
use super::{Action, Retire, Usage};
use crate::backend::{Aws, CountingAws, IMAGE_REFERENCES_PER_CALL};
use crate::config::{Config, ConsumerConfig};
use crate::error::{AwsError, AwsErrorKind};
use crate::model::{ImageId, RecycleBinResource, Tags};

/// Asks EC2 about every image `plan` would retire, keeps what it finds referenced (by making
/// the plan again with `replan`), and repeats for images the new plan retires that were not
/// asked about. One call first, alone, so a missing API costs one request.
///
/// Fails closed: an image the check did not answer for (the call failed after its retries) is
/// kept, with AWS's error as its usage, and no later call is made.
pub(super) async fn ask_about_candidates(
    aws: &dyn Aws,
    pacer: &Pacer,
    concurrency: usize,
    gathered: &mut Gathered,
    plan: &mut SweepPlan,
    replan: impl Fn(&Gathered) -> SweepPlan,
) -> ReferenceCheck {
    let region = plan.region.clone();
    let mut asked: BTreeSet<ImageId> = BTreeSet::new();
    let mut failure: Option<String> = None;
    loop {
        let candidates: Vec<ImageId> =
            plan.retirements().map(|d| d.image_id.clone()).filter(|id| !asked.contains(id)).collect();
        if candidates.is_empty() {
            break;
        }
        if let Some(error) = &failure {
            // The check is down: every new candidate is kept unasked.
            for id in &candidates {
                gathered.references_unanswered.insert(id.clone(), error.clone());
            }
            asked.extend(candidates);
            *plan = replan(gathered);
            continue;
        }
        let mut chunks = candidates.chunks(IMAGE_REFERENCES_PER_CALL);
        let first = chunks.next().into_iter();
        let ask = |chunk: &[ImageId]| {
            let (region, chunk) = (&region, chunk.to_vec());
            async move {
                let answer = pacer.retry(|| aws.describe_image_references(region, &chunk)).await.0;
                (chunk, answer.map_err(|error| error.to_string()))
            }
        };
        let mut answers = Vec::new();
        for chunk in first {
            answers.push(ask(chunk).await);
        }
        if answers.iter().all(|(_, answer)| answer.is_ok()) {
            answers.extend(stream::iter(chunks).map(ask).buffer_unordered(concurrency).collect::<Vec<_>>().await);
        } else {
            // The first call failed: the other candidates are not asked, and kept.
            let rest = chunks.flat_map(|chunk| chunk.iter().cloned());
            answers.push((rest.collect(), Err("not asked: the first call failed".to_owned())));
        }
        for (chunk, answer) in answers {
            match answer {
                Ok(references) => {
                    gathered.image_references.extend(references);
                    gathered.references_answered.extend(chunk);
                }
                Err(error) => {
                    let error = failure.get_or_insert(error).clone();
                    for id in chunk {
                        gathered.references_unanswered.insert(id, error.clone());
                    }
                }
            }
        }
        *plan = replan(gathered);
        asked.extend(candidates);
    }
    if let Some(error) = failure {
        tracing::warn!(%error, "EC2's AMI reference check failed; the AMIs it did not answer for are kept");
        return ReferenceCheck::Unavailable { error, images_kept: gathered.references_unanswered.len() };
    }
    if asked.is_empty() {
        return ReferenceCheck::NoCandidates;
    }
    // Referenced: asked about, and no longer retired (a reference to a launch template the scan
    // read does not count: the scan decides for those).
    let retired: BTreeSet<&ImageId> = plan.retirements().map(|d| &d.image_id).collect();
    let referenced = asked.iter().filter(|id| !retired.contains(id)).count();
    ReferenceCheck::Checked { images: asked.len(), referenced }
}

/// Reads the Recycle Bin rules for what `plan` deletes and says what can be restored.
pub(super) async fn recycle_bin(aws: &dyn Aws, pacer: &Pacer, gathered: &Gathered, plan: &SweepPlan) -> UndoCheck {
    let no_tags = Tags::new();
    let image_tags = |id: &ImageId| gathered.images.iter().find(|i| &i.id == id).map_or(&no_tags, |i| &i.tags);
    let snapshot_tags = |id: &str| {
        gathered.snapshots.iter().chain(&gathered.retired_snapshots).find(|s| s.id == id).map_or(&no_tags, |s| &s.tags)
    };
    let images: Vec<&ImageId> =
        plan.retirements().filter(|d| d.action == Action::Retire(Retire::Delete)).map(|d| &d.image_id).collect();
    let mut snapshots: BTreeSet<&str> = BTreeSet::new();
    snapshots.extend(plan.image_snapshots.iter().filter(|s| s.delete).map(|s| s.snapshot_id.as_str()));
    snapshots.extend(plan.snapshot_generations.iter().filter(|g| g.delete).map(|g| g.snapshot_id.as_str()));
    snapshots.extend(plan.orphans.iter().filter(|o| o.delete).map(|o| o.snapshot_id.as_str()));
    snapshots.extend(plan.leftover_snapshots.iter().filter(|l| l.delete).map(|l| l.snapshot_id.as_str()));
    if images.is_empty() && snapshots.is_empty() {
        return UndoCheck::NothingDeleted;
    }

    let mut rules = Vec::new();
    for (resource, needed) in
        [(RecycleBinResource::Image, !images.is_empty()), (RecycleBinResource::Snapshot, !snapshots.is_empty())]
    {
        if !needed {
            continue;
        }
        match pacer.retry(|| aws.list_recycle_bin_rules(&plan.region, resource)).await.0 {
            Ok(found) => rules.extend(found),
            Err(error) => {
                tracing::warn!(%error, "could not read the Recycle Bin rules");
                return UndoCheck::Unavailable { error: error.to_string() };
            }
        }
    }
    let kept_by = |resource: RecycleBinResource, tags: &Tags| {
        rules.iter().filter(|r| r.resource_type == resource && r.retains(tags)).map(|r| r.retention_days).max()
    };
    let snapshot_restorable = |id: &str| kept_by(RecycleBinResource::Snapshot, snapshot_tags(id)).is_some();
    let (mut images_restorable, mut images_not_restorable) = (0, Vec::new());
    for id in &images {
        let own_snapshots = plan.image_snapshots.iter().filter(|s| s.delete && &&s.image_id == id);
        let snapshots_kept = own_snapshots.clone().all(|s| snapshot_restorable(&s.snapshot_id));
        if kept_by(RecycleBinResource::Image, image_tags(id)).is_some() && snapshots_kept {
            images_restorable += 1;
        } else {
            images_not_restorable.push((*id).clone());
        }
    }
    let (restorable, not_restorable): (Vec<&str>, Vec<&str>) =
        snapshots.iter().copied().partition(|id| snapshot_restorable(id));
    let days = rules.iter().map(|r| r.retention_days).min();
    let mut summary = format!(
        "{images_restorable} of {} deleted AMIs and {} of {} deleted snapshots can be restored from the Recycle Bin",
        images.len(),
        restorable.len(),
        snapshots.len()
    );
    match days {
        Some(days) => summary.push_str(&format!(" (for at least {days} days)")),
        None => summary.push_str(": no retention rule covers them, so a deletion cannot be undone"),
    }
    if !images_not_restorable.is_empty() && days.is_some() {
        summary.push_str("; an AMI is restorable only when a rule also keeps its snapshots");
    }
    UndoCheck::Checked {
        summary,
        rules,
        images_restorable,
        images_not_restorable,
        snapshots_restorable: restorable.len(),
        snapshots_not_restorable: not_restorable.into_iter().map(str::to_owned).collect(),
    }
}

/// Assumes each consumer role, reads what there can launch an AMI, and keeps every image of
/// ours that something there names (making the plan again with `replan`). An account that
/// cannot be read keeps every image: a shared AMI is never retired on a guess. Called only
/// when the plan retires something.
pub(super) async fn ask_consumers(
    aws: &dyn Aws,
    pacer: &Pacer,
    concurrency: usize,
    consumers: &[ConsumerConfig],
    gathered: &mut Gathered,
    plan: &mut SweepPlan,
    replan: impl Fn(&Gathered) -> SweepPlan,
) -> Vec<ConsumerCheck> {
    if consumers.is_empty() || plan.retirements().next().is_none() {
        return Vec::new();
    }
    let ours: BTreeSet<ImageId> = gathered.images.iter().map(|image| image.id.clone()).collect();
    // Nothing but the scan of what launches AMIs: no rules, no parameters, no snapshots.
    let scan: Config = Config {
        accounts: Vec::new(),
        allowed_name_prefixes: Vec::new(),
        wait: Default::default(),
        rules: Vec::new(),
        protect_published: false,
        retention: None,
        fleet: Vec::new(),
        metrics: Default::default(),
        status: Default::default(),
        notify: None,
        revoke: None,
    };
    let mut checks = Vec::new();
    for consumer in consumers {
        let account = consumer.account().unwrap_or("unknown").to_owned();
        let mut calls = 0;
        let found = async {
            let (assumed, _) =
                pacer.retry(|| aws.assume_role(&consumer.role_arn, consumer.external_id.as_deref())).await;
            let assumed = assumed?;
            let counting = CountingAws::new(assumed.as_ref());
            let read = gather_paced(&counting, &scan, &plan.region, pacer, concurrency).await;
            calls = counting.log().count();
            let read = read?;
            if let Some((source, error)) = read.unreadable.first() {
                let (service, operation) = source.as_str().split_once(':').unwrap_or(("", source.as_str()));
                return Err(AwsError::new(service, operation, AwsErrorKind::Client, "Unreadable", error.clone()));
            }
            let mut warnings = Vec::new();
            Ok::<_, AwsError>(super::usage::usages(&read, None, &mut warnings).0)
        }
        .await;
        let mut in_use = BTreeSet::new();
        let error = match found {
            Ok(usages) => {
                for (image, list) in usages.iter().filter(|(image, _)| ours.contains(*image)) {
                    in_use.insert(image.clone());
                    for usage in list {
                        let usage = Usage::Consumer { account: account.clone(), what: usage.to_string() };
                        gathered.consumer_usages.push((image.clone(), usage));
                    }
                }
                None
            }
            Err(error) => {
                tracing::warn!(%account, %error, "could not check a consumer account; every candidate is kept");
                let what = format!("could not be checked ({error}), so the AMI is kept");
                for image in &ours {
                    in_use.insert(image.clone());
                    gathered
                        .consumer_usages
                        .push((image.clone(), Usage::Consumer { account: account.clone(), what: what.clone() }));
                }
                Some(error.to_string())
            }
        };
        checks.push(ConsumerCheck {
            account,
            role_arn: consumer.role_arn.clone(),
            images_in_use: in_use.len(),
            aws_calls: calls + 1,
            error,
        });
    }
    if !gathered.consumer_usages.is_empty() {
        *plan = replan(gathered);
    }
    checks
}
