//! The sweep: gather the inventory of a region, plan (a pure function), then act on the plan.
//!
//! [`plan_sweep`](super::plan_sweep) decides, from what was gathered, the configuration and the time:
//! - which launch template versions to delete (never the default, the latest, or a version an
//!   Auto Scaling group names; always keeping the newest `keep_versions`);
//! - what uses each AMI: the launch template versions that stay, the Auto Scaling groups (the
//!   version each names), the instances that are not terminated, the SSM parameters and the
//!   stack parameters whose values hold its id;
//! - which AMIs each image policy retires, and which of their snapshots go with them;
//! - which snapshots of volumes tagged with the generations tag to keep, tag or delete;
//! - which snapshots no AMI uses (orphans; deleted only when asked).
//!
//! [`Sweeper`] acts on the plan: launch template versions first, then images (an image whose
//! launch template version could not be deleted is skipped), then snapshots. Calls run at most
//! `concurrency` at once, are paced (and slow down when AWS throttles), are retried on
//! retryable errors, and one failure never stops the rest. With a deadline, actions start only
//! while there is time for them ([`budget`](super::budget)). Every item is reported. A second
//! run converges: what is gone is not planned again, and "not found" counts as done.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};

use futures::stream::{self, StreamExt};
use time::{Duration, OffsetDateTime};

use super::budget::Budget;
use super::check;
use super::configured::ConfiguredRetention;
use super::inventory::gather_paced;
use super::mark::Marks;
use super::pace::Pacer;
use super::plan::plan_sweep_with;
use super::report::{
    ItemResult, ItemStatus, OrphanSnapshot, Progress, ReferenceCheck, SnapshotGeneration, SweepAction, SweepOptions,
    SweepPlan, SweepReport, SweepStatus, SweepSummary,
};
use super::{Action, Decision, RetentionPolicy, Retire, SnapshotDecision};
use crate::backend::Aws;
use crate::config::Config;
use crate::error::{AwsError, AwsErrorKind};
use crate::model::{Image, ImageId, Region, Tags};
use crate::protect::{LetGoFailure, Ownership, Step};

/// Runs sweeps of one configuration against one account.
pub struct Sweeper<'a> {
    aws: &'a dyn Aws,
    config: &'a Config,
    policy: Option<&'a dyn RetentionPolicy>,
    progress: Option<&'a (dyn Fn(Progress) + Send + Sync)>,
}

impl<'a> Sweeper<'a> {
    /// A sweeper for `config` acting on `aws`.
    pub fn new(aws: &'a dyn Aws, config: &'a Config) -> Self {
        Self { aws, config, policy: None, progress: None }
    }

    /// Decides which images to retire with `policy` instead of the configuration's
    /// `[[retention.images]]` ([`ConfiguredRetention`]).
    pub fn with_policy(mut self, policy: &'a dyn RetentionPolicy) -> Self {
        self.policy = Some(policy);
        self
    }

    /// Calls `progress` after each action (for a progress bar).
    pub fn with_progress(mut self, progress: &'a (dyn Fn(Progress) + Send + Sync)) -> Self {
        self.progress = Some(progress);
        self
    }

    fn retention(&self) -> (usize, Option<u32>) {
        self.config.retention.as_ref().map_or((8, None), |r| (r.concurrency.max(1), r.max_requests_per_second))
    }

    /// Gathers, plans and (with `options.apply`) acts. Fails only when the inventory cannot be
    /// read (then nothing was done); failed actions are in the report.
    pub async fn sweep(&self, region: &Region, options: &SweepOptions) -> Result<SweepReport, AwsError> {
        let (concurrency, max_rps) = self.retention();
        let pacer = Pacer::new(max_rps);
        let mut gathered = gather_paced(self.aws, self.config, region, &pacer, concurrency).await?;
        let now = options.now.unwrap_or_else(OffsetDateTime::now_utc);
        let retention = self.config.retention.as_ref();
        let configured;
        let policy = match self.policy {
            Some(policy) => policy,
            None => {
                configured = ConfiguredRetention::new(self.config);
                &configured
            }
        };
        let mut plan = plan_sweep_with(self.config, &gathered, region, now, policy);
        // Consumer accounts first: they read everything there at once; then EC2's reference
        // check, which asks about each candidate left (and any a new plan brings up).
        let mut consumers = Vec::new();
        if let Some(list) = retention.map(|r| &r.consumers).filter(|c| !c.is_empty()) {
            consumers = check::ask_consumers(self.aws, &pacer, concurrency, list, &mut gathered, &mut plan, |g| {
                plan_sweep_with(self.config, g, region, now, policy)
            })
            .await;
        }
        let mut references = ReferenceCheck::Off;
        if retention.is_some_and(|r| r.image_references.asked()) {
            references = check::ask_about_candidates(self.aws, &pacer, concurrency, &mut gathered, &mut plan, |g| {
                plan_sweep_with(self.config, g, region, now, policy)
            })
            .await;
        }
        plan.consumers = consumers;
        plan.image_references = references;
        if retention.is_some_and(|r| r.recycle_bin) {
            plan.recycle_bin = check::recycle_bin(self.aws, &pacer, &gathered, &plan).await;
        }
        let mut summary = SweepSummary {
            images_judged: plan.images.len(),
            images_planned: plan.retirements().count(),
            snapshots_planned: plan.image_snapshots.iter().filter(|s| s.delete).count()
                + plan.snapshot_generations.iter().filter(|g| g.delete).count()
                + plan.orphans.iter().filter(|o| o.delete).count()
                + plan.leftover_snapshots.iter().filter(|l| l.delete).count(),
            launch_template_versions_planned: plan.launch_template_versions.len(),
            orphans: plan.orphans.len(),
            ..SweepSummary::default()
        };
        let mut results = Vec::new();
        let budget = Budget::new(options.deadline, &pacer);
        if options.apply {
            let tag_key =
                self.config.retention.as_ref().and_then(|r| r.snapshots.as_ref()).map(|s| s.tag_kept_with.clone());
            let mut run = Apply {
                aws: self.aws,
                pacer: &pacer,
                budget: &budget,
                concurrency,
                progress: self.progress,
                tag_key: tag_key.unwrap_or_else(|| "amikeeper:volume".to_owned()),
                done: 0,
                total: 0,
            };
            results = run.apply(&plan, &gathered.images).await;
        }
        let sizes: BTreeMap<&str, u32> =
            plan.image_snapshots.iter().filter_map(|s| Some((s.snapshot_id.as_str(), s.size_gib?))).collect();
        for result in &results {
            let done = matches!(result.status, ItemStatus::Done | ItemStatus::AlreadyGone);
            match (result.action, result.status) {
                (_, ItemStatus::Failed) => summary.failed += 1,
                (_, ItemStatus::Skipped) => summary.skipped += 1,
                (_, ItemStatus::NotStarted) => summary.not_started += 1,
                (SweepAction::DeregisterImage | SweepAction::DeprecateImage | SweepAction::DisableImage, _) if done => {
                    summary.images_retired += 1
                }
                (SweepAction::DeleteSnapshot, _) if done => {
                    summary.snapshots_deleted += 1;
                    summary.snapshot_gib_deleted += sizes.get(result.resource.as_str()).copied().map_or(0, u64::from);
                }
                (SweepAction::DeleteLaunchTemplateVersion, _) if done => summary.launch_template_versions_deleted += 1,
                (SweepAction::ReleaseProtection, _) if done => summary.protection_released += 1,
                _ => {}
            }
        }
        let tagged_volumes: BTreeSet<&str> = results
            .iter()
            .filter(|r| r.action == SweepAction::TagSnapshots && r.status == ItemStatus::Done)
            .map(|r| r.resource.as_str())
            .collect();
        summary.snapshots_tagged =
            plan.snapshot_generations.iter().filter(|g| g.tag && tagged_volumes.contains(g.volume_id.as_str())).count();
        summary.throttled = pacer.throttled();
        summary.slowed_to_per_second = pacer.slowest_per_second();
        Ok(SweepReport {
            applied: options.apply,
            status: match (summary.failed, summary.not_started) {
                (0, 0) => SweepStatus::Ok,
                (0, _) => SweepStatus::Partial,
                _ => SweepStatus::Failed,
            },
            summary,
            plan,
            results,
            aws_calls: 0,
            aws_calls_by_operation: BTreeMap::new(),
            notifications: None,
        })
    }
}

/// The deprecation time for a sweep at `now`: the start of the next minute after `now`, as
/// EC2 takes only future times and rounds them to the minute.
fn deprecation_time(now: OffsetDateTime) -> OffsetDateTime {
    let minute = now.replace_second(0).and_then(|t| t.replace_nanosecond(0)).unwrap_or(now);
    minute + Duration::minutes(1)
}

/// One application of a plan.
struct Apply<'a> {
    aws: &'a dyn Aws,
    pacer: &'a Pacer,
    budget: &'a Budget<'a>,
    concurrency: usize,
    progress: Option<&'a (dyn Fn(Progress) + Send + Sync)>,
    tag_key: String,
    done: usize,
    total: usize,
}

fn result(
    resource: impl Into<String>,
    action: SweepAction,
    outcome: Result<Option<String>, AwsError>,
    attempts: u32,
) -> ItemResult {
    let (status, detail) = match outcome {
        Ok(detail) => (ItemStatus::Done, detail),
        Err(error) if error.kind == AwsErrorKind::NotFound => (ItemStatus::AlreadyGone, Some(error.to_string())),
        Err(error) => (ItemStatus::Failed, Some(error.to_string())),
    };
    ItemResult { resource: resource.into(), action, version: None, status, attempts, detail }
}

/// Lets go of amikeeper's protection on `id` (see [`crate::protect::let_go`]), each call through
/// the pacer. Returns the outcome and the attempts of all its calls.
async fn let_go(pacer: &Pacer, aws: &dyn Aws, region: &Region, id: &ImageId) -> (Result<(), LetGoFailure>, u32) {
    let attempts = AtomicU32::new(0);
    let outcome = crate::protect::let_go(|step| {
        let attempts = &attempts;
        async move {
            let (outcome, tries) = pacer.retry(|| step.run(aws, region, id)).await;
            attempts.fetch_add(tries, Ordering::Relaxed);
            outcome
        }
    })
    .await;
    (outcome, attempts.into_inner())
}

/// The result of an action whose protection could not be let go of.
fn let_go_failed(id: &ImageId, action: SweepAction, failure: LetGoFailure, attempts: u32) -> ItemResult {
    let mut item = result(id.as_str(), action, Err(failure.error.clone()), attempts);
    if item.status == ItemStatus::Failed {
        item.detail = Some(failure.to_string());
    }
    item
}

fn skipped(resource: impl Into<String>, action: SweepAction, why: String) -> ItemResult {
    ItemResult {
        resource: resource.into(),
        action,
        version: None,
        status: ItemStatus::Skipped,
        attempts: 0,
        detail: Some(why),
    }
}

impl Apply<'_> {
    fn tick(&mut self, n: usize) {
        self.done += n;
        if let Some(progress) = self.progress {
            progress(Progress { done: self.done, total: self.total });
        }
    }

    async fn apply(&mut self, plan: &SweepPlan, images: &[Image]) -> Vec<ItemResult> {
        let planned_at = std::time::Instant::now();
        let region = &plan.region;
        let (aws, pacer, budget) = (self.aws, self.pacer, self.budget);
        let retirements: Vec<&Decision> = plan.retirements().collect();
        let late_snapshots: Vec<&SnapshotDecision> = plan.image_snapshots.iter().filter(|s| s.delete).collect();
        let generation_deletes: Vec<&SnapshotGeneration> =
            plan.snapshot_generations.iter().filter(|g| g.delete).collect();
        let orphan_deletes: Vec<&OrphanSnapshot> = plan.orphans.iter().filter(|o| o.delete).collect();
        let mut to_tag: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for generation in plan.snapshot_generations.iter().filter(|g| g.tag) {
            to_tag.entry(generation.volume_id.as_str()).or_default().push(generation.snapshot_id.clone());
        }
        self.total = plan.launch_template_versions.len()
            + retirements.len()
            + plan.release_protection.len()
            + plan.withdraw_protection_claims.len()
            + late_snapshots.len()
            + generation_deletes.len()
            + orphan_deletes.len()
            + plan.leftover_snapshots.iter().filter(|l| l.delete).count()
            + to_tag.len();
        let mut results = Vec::with_capacity(self.total);

        // 1. Launch template versions, up to 200 a call per template.
        let mut by_template: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
        for deletion in &plan.launch_template_versions {
            by_template.entry(deletion.template_id.as_str()).or_default().push(deletion.version);
        }
        let chunks: Vec<(&str, &[i64])> =
            by_template.iter().flat_map(|(id, versions)| versions.chunks(200).map(move |chunk| (*id, chunk))).collect();
        let mut outcomes = stream::iter(chunks)
            .map(|(id, versions)| async move {
                let outcome = budget.run(pacer.retry(|| aws.delete_launch_template_versions(region, id, versions)));
                (id, versions, outcome.await)
            })
            .buffer_unordered(self.concurrency);
        // Versions that failed or did not start: the images they launch stay.
        let mut failed_versions: BTreeSet<(String, i64)> = BTreeSet::new();
        while let Some((id, versions, outcome)) = outcomes.next().await {
            for &version in versions {
                let Some((outcome, attempts)) = &outcome else {
                    let mut item = budget.not_started(id, SweepAction::DeleteLaunchTemplateVersion);
                    item.version = Some(version);
                    failed_versions.insert((id.to_owned(), version));
                    results.push(item);
                    continue;
                };
                let outcome = match outcome {
                    Ok(refused) => match refused.iter().find(|(v, _)| *v == version) {
                        Some((_, why)) if why.contains("does not exist") => Err(AwsError::new(
                            "ec2",
                            "DeleteLaunchTemplateVersions",
                            AwsErrorKind::NotFound,
                            "InvalidLaunchTemplateId.VersionNotFound",
                            why.clone(),
                        )),
                        Some((_, why)) => Err(AwsError::new(
                            "ec2",
                            "DeleteLaunchTemplateVersions",
                            AwsErrorKind::Client,
                            "UnsuccessfullyDeleted",
                            why.clone(),
                        )),
                        None => Ok(None),
                    },
                    Err(error) => Err(error.clone()),
                };
                let mut item = result(id, SweepAction::DeleteLaunchTemplateVersion, outcome, *attempts);
                item.version = Some(version);
                if item.status == ItemStatus::Failed {
                    failed_versions.insert((id.to_owned(), version));
                }
                results.push(item);
            }
            self.tick(versions.len());
        }
        let blocked: HashMap<&ImageId, String> = plan
            .launch_template_versions
            .iter()
            .filter(|d| failed_versions.contains(&(d.template_id.clone(), d.version)))
            .filter_map(|d| {
                Some((d.image_id.as_ref()?, format!("launch template {} version {}", d.template_id, d.version)))
            })
            .collect();

        // 2. Images. First their snapshots are marked (see `mark`), so that a sweep interrupted
        //    before it deletes them (step 3) leaves them for the next one to find.
        let marks = Marks::new(&late_snapshots, budget);
        results.extend(marks.mark_all(aws, pacer, budget, region).await);
        let marks = &marks;
        let protection: HashMap<&ImageId, Ownership> =
            images.iter().map(|i| (&i.id, crate::protect::ownership(i))).collect();
        let protection = &protection;
        let mut retired_ok: BTreeSet<ImageId> = BTreeSet::new();
        let mut outcomes = stream::iter(retirements)
            .map(|decision| {
                let blocked_by = blocked.get(&decision.image_id).cloned();
                async move {
                    let id = &decision.image_id;
                    let Action::Retire(how) = decision.action else { unreachable!("only retirements") };
                    let action = match how {
                        Retire::Delete => SweepAction::DeregisterImage,
                        Retire::Deprecate => SweepAction::DeprecateImage,
                        Retire::Disable => SweepAction::DisableImage,
                    };
                    match blocked_by {
                        Some(_) if budget.stopped() => return (budget.not_started(id.as_str(), action), Vec::new()),
                        Some(blocker) => {
                            let why = format!("{blocker} still launches it: not deleted");
                            return (skipped(id.as_str(), action, why), Vec::new());
                        }
                        None => {}
                    }
                    // Marking its snapshots, releasing its protection and deregistering it are one
                    // action: it starts whole or not at all, and is never cut off.
                    let retire = async {
                        let (outcome, attempts, deleted) = match how {
                            Retire::Delete => {
                                if let (Err(error), attempts) = marks.mark_image(aws, pacer, region, id).await {
                                    let mut item = result(id.as_str(), action, Err(error.clone()), attempts);
                                    item.status = ItemStatus::Failed;
                                    item.detail =
                                        Some(format!("its snapshots could not be marked, so it stays: {error}"));
                                    return (item, Vec::new());
                                }
                                match protection.get(id) {
                                    // amikeeper protected it when it published it; nothing uses it now.
                                    Some(Ownership::Amikeepers) => {
                                        let (outcome, attempts) = let_go(pacer, aws, region, id).await;
                                        if let Err(failure) = outcome {
                                            return (
                                                let_go_failed(id, SweepAction::DeregisterImage, failure, attempts),
                                                Vec::new(),
                                            );
                                        }
                                    }
                                    // The plan keeps these; never turn someone else's protection off.
                                    Some(Ownership::SomeoneElses) => {
                                        let why = super::Reason::Protected.to_string();
                                        return (skipped(id.as_str(), SweepAction::DeregisterImage, why), Vec::new());
                                    }
                                    _ => {}
                                }
                                let (outcome, attempts) = pacer.retry(|| aws.deregister_image(region, id, true)).await;
                                match outcome {
                                    Ok(deleted) => {
                                        let detail = (!deleted.is_empty())
                                            .then(|| format!("snapshots deleted with it: {}", deleted.join(", ")));
                                        (Ok(detail), attempts, deleted)
                                    }
                                    Err(error) => (Err(error), attempts, Vec::new()),
                                }
                            }
                            Retire::Deprecate => {
                                // EC2 refuses a time in the past: deprecate from the minute after now
                                // (the plan's time, plus the time the sweep has taken since).
                                let elapsed = Duration::try_from(planned_at.elapsed()).unwrap_or(Duration::ZERO);
                                let at = deprecation_time(plan.now + elapsed);
                                let (outcome, attempts) =
                                    pacer.retry(|| aws.enable_image_deprecation(region, id, at)).await;
                                (outcome.map(|()| None), attempts, Vec::new())
                            }
                            Retire::Disable => {
                                let (outcome, attempts) = pacer.retry(|| aws.disable_image(region, id)).await;
                                (outcome.map(|()| None), attempts, Vec::new())
                            }
                        };
                        (result(id.as_str(), action, outcome, attempts), deleted)
                    };
                    budget.run(retire).await.unwrap_or_else(|| (budget.not_started(id.as_str(), action), Vec::new()))
                }
            })
            .buffer_unordered(self.concurrency);
        let mut deleted_with_images: BTreeSet<String> = BTreeSet::new();
        while let Some((item, deleted)) = outcomes.next().await {
            if matches!(item.status, ItemStatus::Done | ItemStatus::AlreadyGone)
                && item.action == SweepAction::DeregisterImage
            {
                retired_ok.insert(ImageId::new(item.resource.clone()));
            }
            deleted_with_images.extend(deleted);
            results.push(item);
            self.tick(1);
        }

        // 2b. amikeeper's protection on AMIs no pointer names any more.
        let mut outcomes = stream::iter(&plan.release_protection)
            .map(|id| async move {
                match budget.run(let_go(pacer, aws, region, id)).await {
                    None => budget.not_started(id.as_str(), SweepAction::ReleaseProtection),
                    Some((Ok(()), attempts)) => {
                        let detail = "no pointer names it any more".to_owned();
                        result(id.as_str(), SweepAction::ReleaseProtection, Ok(Some(detail)), attempts)
                    }
                    Some((Err(failure), attempts)) => {
                        let_go_failed(id, SweepAction::ReleaseProtection, failure, attempts)
                    }
                }
            })
            .buffer_unordered(self.concurrency);
        while let Some(item) = outcomes.next().await {
            results.push(item);
            self.tick(1);
        }
        let mut outcomes = stream::iter(&plan.withdraw_protection_claims)
            .map(|id| async move {
                let Some((outcome, attempts)) = budget.run(pacer.retry(|| Step::Disclaim.run(aws, region, id))).await
                else {
                    return budget.not_started(id.as_str(), SweepAction::WithdrawProtectionClaim);
                };
                let detail = "amikeeper does not hold the protection its tag claimed (off, or with a cooldown)";
                result(
                    id.as_str(),
                    SweepAction::WithdrawProtectionClaim,
                    outcome.map(|()| Some(detail.to_owned())),
                    attempts,
                )
            })
            .buffer_unordered(self.concurrency);
        while let Some(item) = outcomes.next().await {
            results.push(item);
            self.tick(1);
        }

        // 3. The images' snapshots EC2 did not delete with them; only once every image that
        //    used a snapshot is gone.
        let users: HashMap<&str, Vec<&ImageId>> = {
            let mut users: HashMap<&str, Vec<&ImageId>> = HashMap::new();
            for image in images {
                for snapshot in &image.snapshot_ids {
                    users.entry(snapshot.as_str()).or_default().push(&image.id);
                }
            }
            users
        };
        let mut snapshot_jobs: Vec<(String, Option<String>)> = Vec::new();
        for snapshot in late_snapshots {
            if deleted_with_images.contains(&snapshot.snapshot_id) {
                results.push(ItemResult {
                    resource: snapshot.snapshot_id.clone(),
                    action: SweepAction::DeleteSnapshot,
                    version: None,
                    status: ItemStatus::Done,
                    attempts: 0,
                    detail: Some(format!("deleted with image {}", snapshot.image_id)),
                });
                self.tick(1);
                continue;
            }
            let pending: Vec<&&ImageId> = users
                .get(snapshot.snapshot_id.as_str())
                .map(|u| u.iter().filter(|id| !retired_ok.contains(**id)).collect())
                .unwrap_or_default();
            if let Some(image) = pending.first() {
                let why = format!("image {image} was not deregistered");
                let id = snapshot.snapshot_id.as_str();
                results.push(if budget.stopped() {
                    budget.not_started(id, SweepAction::DeleteSnapshot)
                } else {
                    skipped(id, SweepAction::DeleteSnapshot, why)
                });
                self.tick(1);
                continue;
            }
            snapshot_jobs.push((snapshot.snapshot_id.clone(), None));
        }
        for generation in generation_deletes {
            snapshot_jobs.push((generation.snapshot_id.clone(), Some(generation.reason.clone())));
        }
        for orphan in orphan_deletes {
            snapshot_jobs.push((orphan.snapshot_id.clone(), Some("used by no image".to_owned())));
        }
        for leftover in plan.leftover_snapshots.iter().filter(|l| l.delete) {
            snapshot_jobs.push((leftover.snapshot_id.clone(), Some(leftover.reason.clone())));
        }
        let mut outcomes = stream::iter(snapshot_jobs)
            .map(|(id, detail)| async move {
                match budget.run(pacer.retry(|| aws.delete_snapshot(region, &id))).await {
                    Some((outcome, attempts)) => {
                        result(id, SweepAction::DeleteSnapshot, outcome.map(|()| detail), attempts)
                    }
                    None => budget.not_started(id, SweepAction::DeleteSnapshot),
                }
            })
            .buffer_unordered(self.concurrency);
        while let Some(item) = outcomes.next().await {
            results.push(item);
            self.tick(1);
        }

        // 4. Tags on the snapshots volumes keep.
        let tag_key = self.tag_key.clone();
        let mut outcomes = stream::iter(to_tag)
            .map(|(volume, snapshots)| {
                let tag_key = tag_key.clone();
                async move {
                    let tags: Tags = [(tag_key, volume.to_owned())].into();
                    let tag_all = async {
                        let mut last = (Ok(()), 0);
                        for chunk in snapshots.chunks(1000) {
                            last = pacer.retry(|| aws.create_tags(region, chunk, &tags)).await;
                            if last.0.is_err() {
                                break;
                            }
                        }
                        last
                    };
                    let Some((outcome, attempts)) = budget.run(tag_all).await else {
                        return budget.not_started(volume, SweepAction::TagSnapshots);
                    };
                    let detail = format!("{} snapshots: {}", snapshots.len(), snapshots.join(", "));
                    result(volume, SweepAction::TagSnapshots, outcome.map(|()| Some(detail)), attempts)
                }
            })
            .buffer_unordered(self.concurrency);
        while let Some(item) = outcomes.next().await {
            results.push(item);
            self.tick(1);
        }
        results
    }
}
