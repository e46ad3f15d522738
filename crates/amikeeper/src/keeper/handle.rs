//! Handling an event: refuse other accounts, resolve, wait for a pending AMI, publish each
//! target, protect and release, copy, and refresh the groups moved.

use super::refresh::{launched_image, GroupRefresh};
use super::retry::{publish_with_retry, with_retries};
use super::{entry, new_report, HandleOptions, Keeper};
use crate::backend::{CountingAws, Ec2Api};
use crate::config::TargetConfig;
use crate::copy;
use crate::error::Error;
use crate::events::{AmiEvent, EventError};
use crate::model::{Image, ImageState};
use crate::protect;
use crate::publish::{DescribedImages, Outcome, PointerNow, PublishContext, Publisher, Refusal, Status};
use crate::report::{ImageSummary, Report, RunStatus};
use crate::resolve::{Resolution, ResolvedTarget, RuleTargets};

impl Keeper {
    /// Parses a payload (one event, or an SQS/SNS batch) and handles each event in order.
    pub async fn handle_payload(&self, payload: &[u8], options: &HandleOptions) -> Result<Vec<Report>, EventError> {
        let events = self.parser.parse(payload)?;
        let mut reports = Vec::with_capacity(events.len());
        for event in &events {
            reports.push(self.handle_with(event, options).await);
        }
        Ok(reports)
    }

    /// Handles one event with default options.
    pub async fn handle(&self, event: &AmiEvent) -> Report {
        self.handle_with(event, &HandleOptions::default()).await
    }

    /// Handles one event: refuses other accounts, resolves the AMI and targets, waits for a
    /// pending AMI (bounded), and publishes each target. Never panics; every decision is in
    /// the report.
    pub async fn handle_with(&self, event: &AmiEvent, options: &HandleOptions) -> Report {
        let aws = CountingAws::new(self.aws.as_ref());
        let mut report = new_report(event, options.dry_run);
        let unlisted = std::iter::once(&event.account)
            .chain(event.source_account())
            .find(|account| !self.config().allows_account(account.as_str()));
        if let Some(account) = unlisted {
            report.status = RunStatus::Refused;
            report.reason = Some(format!(
                "event from account {account} refused: only {} are allowed (`accounts` in the configuration)",
                self.config().accounts.join(", ")
            ));
            tracing::warn!(target: super::LOG, %account, event_id = %event.event_id, "refused event from another account");
            return report;
        }
        self.run(&aws, event, options, &mut report).await;
        self.complete_report(&aws, event, &mut report).await;
        report
    }

    async fn run(&self, aws: &CountingAws<'_>, event: &AmiEvent, options: &HandleOptions, report: &mut Report) {
        let (resolved, _) = with_retries("resolve", || self.resolver.resolve(aws, event)).await;
        let resolution = match resolved {
            Ok(resolution) => resolution,
            // EC2 answers InvalidAMIID.NotFound: the event names an AMI this account cannot see.
            // Either the account's Allowed AMIs setting hides it (launches from it would fail),
            // or it never existed here or is not shared. Both are the event's fault, not AWS's:
            // retrying cannot help, so the run is refused (the CLI exits 2), having written
            // nothing.
            Err(Error::NotFound { kind: "AMI", name, region }) => {
                let hidden = match event.image_id() {
                    Some(image_id) => crate::allowed::hidden(aws, &event.region, image_id).await,
                    None => None,
                };
                report.status = RunStatus::Refused;
                report.reason = Some(hidden.unwrap_or_else(|| {
                    format!(
                        "the event names AMI {name}, which EC2 does not know in {region} (InvalidAMIID.NotFound: \
                         it does not exist, or is not shared with this account); nothing was written"
                    )
                }));
                return;
            }
            Err(error) => {
                report.status = RunStatus::Failed;
                report.reason = Some(error.to_string());
                return;
            }
        };
        match resolution {
            Resolution::Ignore { reason } => {
                tracing::info!(target: super::LOG, event_id = %event.event_id, %reason, "nothing to do");
                report.status = RunStatus::Ignored;
                report.reason = Some(reason);
            }
            Resolution::Publish { image, rules } => {
                self.publish_all(aws, event, image, rules, options, report).await;
            }
            Resolution::Bake { rules } => {
                for rule in rules {
                    self.bake_rule(aws, event, &rule, options, report).await;
                }
            }
        }
    }

    pub(super) async fn publish_all(
        &self,
        aws: &CountingAws<'_>,
        event: &AmiEvent,
        image: Option<Image>,
        rules: Vec<RuleTargets>,
        options: &HandleOptions,
        report: &mut Report,
    ) {
        let image = match image {
            Some(image) => match self.wait_until_available(aws, event, image, options).await {
                Ok(image) => Some(image),
                Err(error) => {
                    report.status = RunStatus::Failed;
                    report.reason = Some(error.to_string());
                    return;
                }
            },
            None => None,
        };
        report.image = image.as_ref().map(ImageSummary::from);
        let not_ready = image.as_ref().filter(|i| i.state != ImageState::Available).map(|i| {
            if i.state == ImageState::Pending {
                Outcome::new(
                    Status::Deferred,
                    format!(
                        "{} is still pending; the `EC2 AMI State Change` event (state available) finishes \
                         this target, so route that event to amikeeper too",
                        i.id
                    ),
                )
            } else {
                Outcome::new(Status::Skipped, format!("{} is {}, never published", i.id, i.state))
            }
        });
        // A rejected AMI, or a copy of one, is never published, nor copied (see `reject`).
        let mut rejected = false;
        let not_ready = match (not_ready, image.as_ref()) {
            (None, Some(image)) => {
                let find = || async { crate::reject::find(aws, &event.region, image).await.map_err(Error::from) };
                match with_retries("whether the AMI is rejected", find).await.0 {
                    Ok(None) => None,
                    Ok(Some(found)) => {
                        let reason = found.refusal_reason(&image.id);
                        tracing::warn!(target: super::LOG, event_id = %event.event_id, %reason, "refused: rejected");
                        rejected = true;
                        report.status = RunStatus::Refused;
                        report.reason = Some(reason.clone());
                        Some(Outcome::refused(Refusal::Rejected, reason))
                    }
                    // Fail closed: an AMI that may be rejected is not published.
                    Err(error) => {
                        report.status = RunStatus::Failed;
                        report.reason = Some(format!(
                            "could not tell whether {} is rejected ({error}); nothing was published",
                            image.id
                        ));
                        return;
                    }
                }
            }
            (not_ready, _) => not_ready,
        };
        // The account's Allowed AMIs setting: an AMI that cannot launch is never published.
        let mut not_allowed = false;
        let not_ready = match (not_ready, image.as_ref()) {
            (None, Some(image)) => {
                let check = || async { crate::allowed::check(aws, &event.region, image).await.map_err(Error::from) };
                match with_retries("the Allowed AMIs setting", check).await.0 {
                    Ok(crate::allowed::Verdict::Allowed) => None,
                    Ok(crate::allowed::Verdict::Warn(warning)) => {
                        tracing::warn!(target: super::LOG, event_id = %event.event_id, %warning, "Allowed AMIs");
                        report.warnings.push(warning);
                        None
                    }
                    Ok(crate::allowed::Verdict::Refuse(reason)) => {
                        tracing::warn!(target: super::LOG, event_id = %event.event_id, %reason, "refused by Allowed AMIs");
                        not_allowed = true;
                        Some(Outcome::new(Status::Refused, reason))
                    }
                    Err(error) => {
                        report.status = RunStatus::Failed;
                        report.reason = Some(error.to_string());
                        return;
                    }
                }
            }
            (not_ready, _) => not_ready,
        };
        let mut protect = false;
        let described = DescribedImages::default();
        // The targets published (moved, or left alone on purpose), to read back at the end.
        let mut published: Vec<Box<dyn Publisher>> = Vec::new();
        let mut all_published = true;
        // A region of this account other than the event's, or any region of another account.
        let copy_destinations: std::collections::BTreeSet<&crate::config::CopyDestination> = rules
            .iter()
            .filter_map(|r| self.config().rules.iter().find(|c| c.name == r.rule))
            .flat_map(|rule| &rule.copy_to)
            .filter(|d| d.role_arn().is_some() || d.region() != event.region.as_str())
            .collect();
        // Groups with `instance_refresh`: what each launches before this run, so that only a
        // group this run moves to the AMI is refreshed.
        let mut refreshes = Vec::new();
        if let Some(image) = image.as_ref().filter(|_| not_ready.is_none()) {
            for RuleTargets { rule, targets } in &rules {
                let configured = self.config().rules.iter().find(|r| &r.name == rule).map(|r| &r.targets);
                for (index, target) in targets.iter().enumerate() {
                    let preferences = configured.and_then(|t| t.get(index)).and_then(TargetConfig::instance_refresh);
                    let (ResolvedTarget::Ready(publisher), Some(preferences)) = (target, preferences) else {
                        continue;
                    };
                    let group = publisher.target().name;
                    let before = if options.dry_run {
                        None
                    } else {
                        let read = || launched_image(aws, &event.region, &group);
                        Some(with_retries(&format!("what {group} launches"), read).await.0)
                    };
                    tracing::debug!(target: super::LOG, %rule, %group, image = %image.id, ?before, "instance refresh candidate");
                    refreshes.push(GroupRefresh {
                        rule: rule.clone(),
                        index,
                        group,
                        preferences: *preferences,
                        before,
                        position: None,
                    });
                }
            }
        }
        for RuleTargets { rule, targets } in rules {
            // The resolver keeps the rule's target order, so target i is rule.targets[i].
            let configured = self.config().rules.iter().find(|r| r.name == rule).map(|r| &r.targets);
            for (index, target) in targets.into_iter().enumerate() {
                let wants_protection = configured
                    .and_then(|targets| targets.get(index))
                    .and_then(TargetConfig::protect)
                    .unwrap_or(self.config().protect_published);
                let entry = match target {
                    ResolvedTarget::Refused { target, reason } => {
                        tracing::warn!(target: super::LOG, %rule, %target, %reason, "target refused");
                        entry(&rule, target, Outcome::new(Status::Refused, reason), None)
                    }
                    ResolvedTarget::Unresolved { target, reason } => {
                        entry(&rule, target, Outcome::new(Status::Skipped, reason), None)
                    }
                    ResolvedTarget::Ready(publisher) => match &not_ready {
                        Some(outcome) => entry(&rule, publisher.target(), outcome.clone(), None),
                        None => {
                            let ctx = PublishContext {
                                aws,
                                region: &event.region,
                                image: image.as_ref(),
                                dry_run: options.dry_run,
                                event_id: &event.event_id,
                                described: &described,
                            };
                            let entry = publish_with_retry(publisher.as_ref(), &ctx, &rule).await;
                            match entry.outcome.status {
                                Status::Updated | Status::Unchanged | Status::Skipped => published.push(publisher),
                                _ => all_published = false,
                            }
                            entry
                        }
                    },
                };
                protect |= wants_protection && matches!(entry.outcome.status, Status::Updated | Status::Planned);
                if let Some(refresh) = refreshes.iter_mut().find(|r| r.rule == rule && r.index == index) {
                    refresh.position = Some(report.targets.len());
                }
                report.targets.push(entry);
            }
        }
        if let Some(image) = image.as_ref().filter(|_| protect) {
            report.protection = protect::protect(aws, &event.region, image, options.dry_run).await;
            if !options.dry_run && all_published {
                let ctx = PublishContext {
                    aws,
                    region: &event.region,
                    image: Some(image),
                    dry_run: false,
                    event_id: &event.event_id,
                    described: &described,
                };
                report.released.extend(check_protection(&ctx, image, &published).await);
            }
        }
        // The AMIs the moved pointers left: amikeeper's protection on them is released.
        // Also what other runs put in a pointer meanwhile that this run's write replaced.
        let moves = report.targets.iter().flat_map(|t| {
            let moved = matches!(t.outcome.status, Status::Updated | Status::Planned);
            let to = t.outcome.to.as_deref().filter(|_| moved);
            let replaced = t.outcome.replaced.iter().filter(move |_| moved).map(move |r| (Some(r.as_str()), to));
            std::iter::once((t.outcome.from.as_deref(), to)).chain(replaced)
        });
        // Worked out now, not across the awaits below: the iterator's closures would make this
        // future not `Send` for every lifetime (it could no longer be `tokio::spawn`ed).
        let left = if self.config().protects_any() { protect::left_behind(moves) } else { Vec::new() };
        // DR copies, once the AMI is available; a copy is never copied again.
        let copyable = image
            .as_ref()
            .filter(|i| i.state == ImageState::Available && !copy::is_copy(i) && !not_allowed && !rejected);
        if let Some(image) = copyable {
            for destination in &copy_destinations {
                report.copies.push(copy::copy_to(aws, &event.region, image, destination, options.dry_run).await);
            }
        }
        for left in left {
            // Described afresh, not as this run saw it at its start: another run may have
            // protected it since (this run would take that for someone else's protection).
            let known = if options.dry_run { described.get(&left) } else { None };
            report.released.extend(protect::release(aws, &event.region, &left, known, options.dry_run).await);
        }
        if let Some(image) = &image {
            for refresh in refreshes {
                if let Some(entry) = refresh.run(aws, &event.region, image, options.dry_run, report).await {
                    report.targets.push(entry);
                }
            }
        }
    }

    async fn wait_until_available(
        &self,
        aws: &CountingAws<'_>,
        event: &AmiEvent,
        mut image: Image,
        options: &HandleOptions,
    ) -> Result<Image, Error> {
        let wait = options.wait.unwrap_or(self.config().wait);
        let mut deadline = tokio::time::Instant::now() + wait.timeout();
        if let Some(run_deadline) = options.deadline {
            // Publishing after the wait needs time too; a pending AMI left is deferred.
            deadline = deadline.min(run_deadline.less(super::WAIT_RESERVE));
        }
        while image.state == ImageState::Pending {
            let now = tokio::time::Instant::now();
            if now >= deadline {
                break;
            }
            tokio::time::sleep(wait.poll().min(deadline - now)).await;
            match aws.describe_image(&event.region, &image.id).await? {
                Some(described) => image = described,
                None => {
                    return Err(Error::NotFound {
                        kind: "AMI",
                        name: image.id.to_string(),
                        region: event.region.to_string(),
                    })
                }
            }
        }
        Ok(image)
    }
}

/// After a run that protected `image`, reads the run's pointers back: other runs may have moved
/// them on meanwhile (or put a newer AMI back over this run's), and then the protection set
/// here justifies nothing. When none of them names `image`, amikeeper's protection on it is
/// released; they are read once more, and if a run moved one to `image` in between (its own
/// protect found the AMI still protected and did nothing), `image` is protected again. When a
/// pointer cannot be read, the protection stays (a sweep releases it once nothing names it).
async fn check_protection(ctx: &PublishContext<'_>, image: &Image, publishers: &[Box<dyn Publisher>]) -> Vec<String> {
    /// `Some(true)` when a pointer names `image`, `None` when one cannot be read.
    async fn named(ctx: &PublishContext<'_>, image: &Image, publishers: &[Box<dyn Publisher>]) -> Option<bool> {
        for publisher in publishers {
            match publisher.pointer_now(ctx).await {
                Ok(PointerNow::Image(id)) if id == image.id => return Some(true),
                Ok(PointerNow::Image(_) | PointerNow::NoImage) => {}
                Ok(PointerNow::Unknown) | Err(_) => return None,
            }
        }
        Some(false)
    }
    let mut notes = Vec::new();
    if publishers.is_empty() || named(ctx, image, publishers).await != Some(false) {
        return notes;
    }
    if let Some(released) = protect::release(ctx.aws, ctx.region, &image.id, None, false).await {
        notes.push(format!("other runs moved the pointers on from {}: {released}", image.id));
    }
    if named(ctx, image, publishers).await == Some(true) {
        if let Ok(Some(fresh)) = ctx.aws.describe_image(ctx.region, &image.id).await {
            notes.extend(protect::protect(ctx.aws, ctx.region, &fresh, false).await);
        }
    }
    notes
}
