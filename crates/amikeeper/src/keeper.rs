//! [`Keeper`]: the pipeline from an event to moved pointers and a [`Report`].

use std::sync::Arc;

use time::OffsetDateTime;

use crate::backend::{Aws, CountingAws, Ec2Api, InstanceRefreshPreferences, RetryPolicy, INSTANCE_REFRESH_IN_PROGRESS};
use crate::config::{Config, ConfigError, Rule, TargetConfig, WaitConfig};
use crate::copy;
use crate::error::{AwsError, Error};
use crate::events::{self, AmiEvent, EventError, ImageCreated, Scheduled};
use crate::model::{AccountId, CreateImage, Image, ImageId, ImageState, Region, RULE_TAG};
use crate::protect;
use crate::publish::{DescribedImages, Outcome, PointerNow, PublishContext, Publisher, Status, TargetId};
use crate::report::{EventSummary, ImageSummary, Report, RunStatus, TargetReport};
use crate::resolve::{AmiResolver, ConfigResolver, Resolution, ResolvedTarget, RuleTargets};
use crate::retain::{Progress, SweepOptions, SweepReport, SweepStatus, Sweeper};
use crate::rollback::{RollbackOptions, RollbackReport, RollbackTarget};
use crate::template::Placeholder;

/// Options for one run of [`Keeper::handle_with`].
#[derive(Debug, Clone, Default)]
pub struct HandleOptions {
    /// Read and decide, but write nothing; the report says what would be done.
    pub dry_run: bool,
    /// Override the configuration's wait for pending AMIs.
    pub wait: Option<WaitConfig>,
}

/// Options for one run of [`Keeper::bake`].
#[derive(Debug, Clone, Default)]
pub struct BakeOptions {
    /// Say what would be baked, but create and write nothing.
    pub dry_run: bool,
    /// Override the configuration's wait for the new AMI to become `available`.
    pub wait: Option<WaitConfig>,
    /// The account the bake runs in, for `{account}` in names and for the report. Default: the
    /// configuration's account, when `accounts` lists only one. It must be one of `accounts`.
    pub account: Option<String>,
    /// The time of the bake, for `{date}` in the image name (default: now).
    pub now: Option<OffsetDateTime>,
}

/// The sweep of one account and region of a fleet.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FleetReport {
    /// The role assumed; `None` for the account amikeeper runs in.
    pub role_arn: Option<String>,
    /// The region.
    pub region: Region,
    /// The sweep's status, or `failed` when it could not run.
    pub status: SweepStatus,
    /// The sweep's report, when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<SweepReport>,
    /// Why it could not run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Keeps the pointers of one configuration right.
///
/// Built from a [`Config`] and an AWS account (any [`Aws`]: the SDK backend, or
/// [`MemoryAws`](crate::memory::MemoryAws) for tests and the demo).
pub struct Keeper {
    resolver: ConfigResolver,
    aws: Arc<dyn Aws>,
}

impl Keeper {
    /// A keeper for `config` acting on `aws`.
    pub fn new(config: Config, aws: Arc<dyn Aws>) -> Self {
        Self { resolver: ConfigResolver::new(config), aws }
    }

    /// A keeper for the configuration in `path` (TOML, or JSON for `.json`) acting on `aws`.
    pub fn from_file(path: impl AsRef<std::path::Path>, aws: Arc<dyn Aws>) -> Result<Self, ConfigError> {
        Ok(Self::new(Config::from_file(path)?, aws))
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        self.resolver.config()
    }

    /// Sweeps `region` as the configuration's `[retention]` says: gathers the inventory, plans,
    /// and with `options.apply` acts on the plan. The report counts every AWS call.
    ///
    /// Fails with [`Error::Config`] when the configuration has no `[retention]`, and with
    /// [`Error::Aws`] when the inventory cannot be read (then nothing was changed). Failed
    /// actions do not fail the sweep: they are in the report, and the next sweep retries them.
    pub async fn sweep(&self, region: &Region, options: &SweepOptions) -> Result<SweepReport, Error> {
        self.sweep_with_progress(region, options, &|_| {}).await
    }

    /// [`sweep`](Self::sweep), calling `progress` after each action.
    pub async fn sweep_with_progress(
        &self,
        region: &Region,
        options: &SweepOptions,
        progress: &(dyn Fn(Progress) + Send + Sync),
    ) -> Result<SweepReport, Error> {
        if self.config().retention.is_none() {
            return Err(Error::Config(ConfigError::Invalid {
                at: "retention".into(),
                reason: "the configuration has no [retention] section: nothing to sweep".into(),
            }));
        }
        let aws = CountingAws::new(self.aws.as_ref());
        let mut report = Sweeper::new(&aws, self.config()).with_progress(progress).sweep(region, options).await?;
        report.aws_calls = aws.log().count();
        report.aws_calls_by_operation =
            aws.log().by_operation().into_iter().map(|(op, n)| (op.to_owned(), n)).collect();
        Ok(report)
    }

    /// Sweeps every account and region of the configuration's `[[fleet]]`, one after the
    /// other, assuming each target's role (the account amikeeper runs in when it has none).
    /// One target's failure (a role that cannot be assumed, an unreadable inventory) is in its
    /// report and does not stop the others.
    pub async fn sweep_fleet(&self, options: &SweepOptions) -> Vec<FleetReport> {
        let mut reports = Vec::new();
        for target in &self.config().fleet {
            // One role session for all of the target's regions.
            let account = self.account(target.role_arn.as_deref(), target.external_id.as_deref()).await;
            for region in &target.regions {
                let region = Region::from(region.as_str());
                let outcome = match &account {
                    Ok(aws) => self.sweep_in(aws.clone(), &region, options).await,
                    Err(error) => Err(Error::Aws(error.clone())),
                };
                let (status, report, error) = match outcome {
                    Ok(report) => (report.status, Some(report), None),
                    Err(error) => (SweepStatus::Failed, None, Some(error.to_string())),
                };
                reports.push(FleetReport { role_arn: target.role_arn.clone(), region, status, report, error });
            }
        }
        reports
    }

    /// Sweeps one region of the account reached through `role_arn` (this account without one):
    /// one target of a fleet, e.g. one item of a Step Functions fan-out. Fails when the role
    /// cannot be assumed or the sweep cannot run; nothing is changed then.
    pub async fn sweep_account(
        &self,
        role_arn: Option<&str>,
        external_id: Option<&str>,
        region: &Region,
        options: &SweepOptions,
    ) -> Result<SweepReport, Error> {
        let aws = self.account(role_arn, external_id).await?;
        self.sweep_in(aws, region, options).await
    }

    /// The account reached through `role_arn`, or this one.
    async fn account(&self, role_arn: Option<&str>, external_id: Option<&str>) -> Result<Arc<dyn Aws>, AwsError> {
        match role_arn {
            Some(role) => self.aws.assume_role(role, external_id).await,
            None => Ok(self.aws.clone()),
        }
    }

    /// This configuration's sweep of `region` in the account `aws` acts in.
    async fn sweep_in(&self, aws: Arc<dyn Aws>, region: &Region, options: &SweepOptions) -> Result<SweepReport, Error> {
        Keeper::new(self.config().clone(), aws).sweep(region, options).await
    }

    /// Rolls the named pointers back to the AMI each named before, or to `options.to` (see
    /// [`rollback`](crate::rollback)). Nothing is written unless every target can be rolled back
    /// to an `available` AMI.
    pub async fn rollback(
        &self,
        region: &Region,
        targets: &[RollbackTarget],
        options: &RollbackOptions,
    ) -> RollbackReport {
        crate::rollback::rollback(self.aws.as_ref(), self.config(), region, targets, options).await
    }

    /// Runs the bake of the rule named `rule` in `region` now, without waiting for its
    /// schedule: the same work as the rule's `Scheduled Event`. It images the builder instance
    /// (`CreateImage`, tagged `amikeeper:rule`), waits for the AMI to become `available`
    /// (bounded by the configured wait or `options.wait`), and moves the rule's targets to it.
    /// An AMI still pending when the wait ends leaves the targets deferred: its
    /// `EC2 AMI State Change` event finishes the job. Groups with `instance_refresh` are
    /// refreshed once moved.
    ///
    /// The report's event is a `scheduled` event made up for the run (id
    /// `amikeeper-bake-<rule>-<unix time>`). Fails with [`Error::Config`] when no rule has that
    /// name, when the rule has no `bake` (the message lists the rules that have one), or when
    /// the account is not known; AWS failures are in the report.
    pub async fn bake(&self, rule: &str, region: &Region, options: &BakeOptions) -> Result<Report, Error> {
        let config = self.config();
        let bakes: Vec<&str> = config.rules.iter().filter(|r| r.bake.is_some()).map(|r| r.name.as_str()).collect();
        let bakes = if bakes.is_empty() {
            "no rule of the configuration has one".to_owned()
        } else {
            format!("the rules with `bake` are: {}", bakes.join(", "))
        };
        let bad = |at: String, reason: String| Error::Config(ConfigError::Invalid { at, reason });
        match config.rules.iter().position(|r| r.name == rule) {
            None => return Err(bad("rules".into(), format!("no rule is named `{rule}`; {bakes}"))),
            Some(index) if config.rules[index].bake.is_none() => {
                return Err(bad(format!("rules[{index}].bake"), format!("rule `{rule}` has no `bake`; {bakes}")));
            }
            Some(_) => {}
        }
        let account = match (&options.account, config.accounts.as_slice()) {
            (Some(account), _) if config.allows_account(account) => account.clone(),
            (Some(account), listed) => {
                return Err(bad(
                    "accounts".into(),
                    format!("account {account} is not one of the configuration's accounts ({})", listed.join(", ")),
                ))
            }
            (None, [only]) => only.clone(),
            (None, listed) => {
                return Err(bad(
                    "accounts".into(),
                    format!("the configuration lists {} accounts; say which one the bake runs in", listed.join(", ")),
                ))
            }
        };
        let now = options.now.unwrap_or_else(OffsetDateTime::now_utc);
        let event_id = format!("amikeeper-bake-{rule}-{}", now.unix_timestamp());
        let event =
            AmiEvent::new(region.clone(), AccountId::new(account), now, event_id, Scheduled { rule_name: None });
        let handle = HandleOptions { dry_run: options.dry_run, wait: options.wait };
        let aws = CountingAws::new(self.aws.as_ref());
        let mut report = new_report(&event, options.dry_run);
        self.bake_rule(&aws, &event, rule, &handle, &mut report).await;
        finish_report(&aws, &mut report);
        Ok(report)
    }

    /// Parses a payload (one event, or an SQS/SNS batch) and handles each event in order.
    pub async fn handle_payload(&self, payload: &[u8], options: &HandleOptions) -> Result<Vec<Report>, EventError> {
        let events = events::parse_payload(payload)?;
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
            tracing::warn!(%account, event_id = %event.event_id, "refused event from another account");
            return report;
        }
        self.run(&aws, event, options, &mut report).await;
        finish_report(&aws, &mut report);
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
                tracing::info!(event_id = %event.event_id, %reason, "nothing to do");
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

    async fn publish_all(
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
        // The account's Allowed AMIs setting: an AMI that cannot launch is never published.
        let mut not_allowed = false;
        let not_ready = match (not_ready, image.as_ref()) {
            (None, Some(image)) => {
                let check = || async { crate::allowed::check(aws, &event.region, image).await.map_err(Error::from) };
                match with_retries("the Allowed AMIs setting", check).await.0 {
                    Ok(crate::allowed::Verdict::Allowed) => None,
                    Ok(crate::allowed::Verdict::Warn(warning)) => {
                        tracing::warn!(event_id = %event.event_id, %warning, "Allowed AMIs");
                        report.warnings.push(warning);
                        None
                    }
                    Ok(crate::allowed::Verdict::Refuse(reason)) => {
                        tracing::warn!(event_id = %event.event_id, %reason, "refused by Allowed AMIs");
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
                    tracing::debug!(%rule, %group, image = %image.id, ?before, "instance refresh candidate");
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
                        tracing::warn!(%rule, %target, %reason, "target refused");
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
        let copyable = image.as_ref().filter(|i| i.state == ImageState::Available && !copy::is_copy(i) && !not_allowed);
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
        let deadline = tokio::time::Instant::now() + wait.timeout();
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

    /// The bake of one rule: `Keeper::bake` and the rule's scheduled events both run it.
    async fn bake_rule(
        &self,
        aws: &CountingAws<'_>,
        event: &AmiEvent,
        rule_name: &str,
        options: &HandleOptions,
        report: &mut Report,
    ) {
        let Some(rule) = self.config().rules.iter().find(|r| r.name == rule_name) else {
            return;
        };
        let Some(bake) = &rule.bake else { return };
        let date = event.time.date().to_string();
        let name = bake
            .name
            .render(|p| match p {
                Placeholder::InstanceId => Some(bake.instance_id.as_str()),
                Placeholder::Date => Some(date.as_str()),
                Placeholder::Rule => Some(rule.name.as_str()),
                Placeholder::Region => Some(event.region.as_str()),
                Placeholder::Account => Some(event.account.as_str()),
                _ => None,
            })
            // The configuration allows only the placeholders filled here.
            .unwrap_or_else(|_| format!("{}_{date}", bake.instance_id));
        let target = TargetId { kind: "bake", name: bake.instance_id.clone() };
        if options.dry_run {
            report.targets.push(entry(
                rule_name,
                target,
                Outcome::new(Status::Planned, format!("would create image `{name}` from {}", bake.instance_id)),
                None,
            ));
            report.targets.extend(self.planned_refreshes(rule, event));
            return;
        }
        let mut tags = bake.tags.clone();
        tags.insert(RULE_TAG.to_owned(), rule.name.clone());
        let request = CreateImage {
            instance_id: bake.instance_id.clone(),
            name: name.clone(),
            description: bake.description.clone(),
            no_reboot: bake.no_reboot,
            tags,
        };
        let image_id = match aws.create_image(&event.region, &request).await {
            Ok(id) => id,
            Err(error) => {
                report.targets.push(entry(
                    rule_name,
                    target,
                    Outcome::new(Status::Failed, error.to_string()),
                    Some(error),
                ));
                return;
            }
        };
        report.targets.push(entry(
            rule_name,
            target,
            Outcome::new(Status::Updated, format!("created image `{name}` from {}", bake.instance_id))
                .moved(None::<String>, image_id.as_str()),
            None,
        ));
        // The new image carries `amikeeper:rule`, so when it is still pending, its
        // `EC2 AMI State Change` event resolves to this rule and finishes the job.
        let created = AmiEvent {
            detail: ImageCreated {
                image_id: image_id.clone(),
                instance_id: Some(bake.instance_id.clone()),
                image_name: Some(name),
                description: None,
            }
            .into(),
            ..event.clone()
        };
        let image = match aws.describe_image(&event.region, &image_id).await {
            Ok(Some(image)) => image,
            Ok(None) => {
                report.status = RunStatus::Failed;
                report.reason = Some(format!("the new image {image_id} is not visible in {}", event.region));
                return;
            }
            Err(error) => {
                report.status = RunStatus::Failed;
                report.reason = Some(error.to_string());
                return;
            }
        };
        let targets = self.resolver.targets(rule, &created, Some(&image));
        let rules = vec![RuleTargets { rule: rule.name.clone(), targets }];
        self.publish_all(aws, &created, Some(image), rules, options, report).await;
    }
}

impl Keeper {
    /// In a dry-run bake: the instance refreshes the rule's groups would get once moved.
    fn planned_refreshes(&self, rule: &Rule, event: &AmiEvent) -> Vec<TargetReport> {
        let targets = self.resolver.targets(rule, event, None);
        rule.targets
            .iter()
            .zip(targets)
            .filter(|(configured, _)| configured.instance_refresh().is_some())
            .filter_map(|(_, target)| match target {
                ResolvedTarget::Ready(publisher) => Some(publisher.target().name),
                _ => None,
            })
            .map(|group| {
                let reason = format!("would start an instance refresh of {group} once the bake moves it");
                entry(&rule.name, refresh_target(&group), Outcome::new(Status::Planned, reason), None)
            })
            .collect()
    }
}

/// A report with nothing done yet.
fn new_report(event: &AmiEvent, dry_run: bool) -> Report {
    Report {
        event: EventSummary::from(event),
        status: RunStatus::Ok,
        reason: None,
        image: None,
        targets: Vec::new(),
        dry_run,
        protection: None,
        released: Vec::new(),
        copies: Vec::new(),
        warnings: Vec::new(),
        aws_calls: 0,
        aws_calls_by_operation: Default::default(),
    }
}

/// Counts the calls and sets the status from the targets, unless a reason set it already.
fn finish_report(aws: &CountingAws<'_>, report: &mut Report) {
    report.aws_calls = aws.log().count();
    report.aws_calls_by_operation = aws.log().by_operation().into_iter().map(|(op, n)| (op.to_owned(), n)).collect();
    if report.reason.is_none() {
        report.status = Report::status_of(&report.targets);
        if report.copies.iter().any(|c| c.status == copy::CopyStatus::Failed) {
            // The event's redelivery retries the copy.
            report.status = RunStatus::Failed;
        }
    }
}

/// How an instance refresh shows in a report: kind `instance_refresh`, named by its group.
fn refresh_target(group: &str) -> TargetId {
    TargetId { kind: "instance_refresh", name: group.to_owned() }
}

/// The AMI a group launches now: the image of the launch template version it names
/// (`$Latest` and `$Default` resolved). `None` for a group, template or version that does not
/// exist, and for a group without a launch template.
async fn launched_image(aws: &dyn Aws, region: &Region, group: &str) -> Result<Option<ImageId>, Error> {
    let Some(spec) = aws.describe_auto_scaling_group(region, group).await?.and_then(|g| g.launch_template) else {
        return Ok(None);
    };
    let versions = match aws.describe_launch_template_versions(region, &spec.id).await {
        Ok(versions) => versions,
        Err(error) if error.kind == crate::error::AwsErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error.into()),
    };
    let number = match spec.version.as_str() {
        "$Latest" => versions.iter().map(|v| v.number).max(),
        "$Default" => versions.iter().find(|v| v.is_default).map(|v| v.number),
        number => number.parse().ok(),
    };
    Ok(number.and_then(|n| versions.iter().find(|v| v.number == n)).and_then(|v| v.image_id.clone()))
}

/// An `auto_scaling_group` target with `instance_refresh`, followed through one run.
struct GroupRefresh {
    /// The rule of the target.
    rule: String,
    /// The target's index in the rule.
    index: usize,
    /// The group's name.
    group: String,
    /// How to refresh it.
    preferences: InstanceRefreshPreferences,
    /// The AMI the group launched before this run (not read in a dry run).
    before: Option<Result<Option<ImageId>, Error>>,
    /// Where the target's own entry is in the report.
    position: Option<usize>,
}

impl GroupRefresh {
    /// Starts the refresh when this run moved the group to `image`, and says what happened.
    /// `None` when the target's own entry already tells why nothing moved (deferred, skipped,
    /// refused, failed).
    async fn run(
        self,
        aws: &dyn Aws,
        region: &Region,
        image: &Image,
        dry_run: bool,
        report: &Report,
    ) -> Option<TargetReport> {
        let group = self.group.as_str();
        let status = report.targets.get(self.position?)?.outcome.status;
        let done = |status: Status, reason: String, error: Option<AwsError>| {
            tracing::info!(rule = %self.rule, %group, %status, %reason, "instance refresh");
            Some(entry(&self.rule, refresh_target(group), Outcome::new(status, reason), error))
        };
        if dry_run {
            // Nothing was written, so whether the group would move shows only in the plan.
            let plans = report.targets.iter().any(|t| t.rule == self.rule && t.outcome.status == Status::Planned);
            if !plans || !matches!(status, Status::Planned | Status::Unchanged | Status::Deferred) {
                return None;
            }
            return done(
                Status::Planned,
                format!("would start an instance refresh of {group} once it launches {}", image.id),
                None,
            );
        }
        if !matches!(status, Status::Updated | Status::Unchanged) {
            return None;
        }
        let could_not_read = |error: Error| {
            let aws_error = error.as_aws().cloned();
            done(
                Status::Failed,
                format!(
                    "could not tell whether this run moved {group} ({error}); no instance refresh was started, \
                     start one by hand if its instances still launch an older AMI"
                ),
                aws_error,
            )
        };
        let before = match self.before? {
            Ok(before) => before,
            Err(error) => return could_not_read(error),
        };
        if before.as_ref() == Some(&image.id) {
            return done(
                Status::Unchanged,
                format!("{group} launched {} before this run; no instance refresh needed", image.id),
                None,
            );
        }
        let after = match with_retries(&format!("what {group} launches"), || launched_image(aws, region, group)).await.0
        {
            Ok(after) => after,
            Err(error) => return could_not_read(error),
        };
        if after.as_ref() != Some(&image.id) {
            let launches = after.map_or_else(|| "no known AMI".to_owned(), |id| id.to_string());
            return done(
                Status::Unchanged,
                format!("{group} launches {launches}, not {}; no instance refresh needed", image.id),
                None,
            );
        }
        match aws.start_instance_refresh(region, group, &self.preferences).await {
            Ok(id) => {
                let reason =
                    format!("started instance refresh {id}: {group}'s instances are replaced to launch {}", image.id);
                tracing::info!(rule = %self.rule, %group, refresh = %id, "instance refresh started");
                let outcome = Outcome::new(Status::Updated, reason).moved(None::<String>, id);
                Some(entry(&self.rule, refresh_target(group), outcome, None))
            }
            Err(error) if error.code == INSTANCE_REFRESH_IN_PROGRESS => done(
                Status::Skipped,
                format!(
                    "an instance refresh of {group} is already in progress and keeps the launch template it \
                     started with; start another once it ends to roll out {}",
                    image.id
                ),
                None,
            ),
            Err(error) => done(Status::Failed, error.to_string(), Some(error)),
        }
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

fn entry(rule: &str, target: TargetId, outcome: Outcome, error: Option<AwsError>) -> TargetReport {
    TargetReport { rule: rule.to_owned(), target, outcome, error }
}

/// Runs `call` as amikeeper's retry layer decides ([`RetryPolicy::TARGETS`]): again after a
/// temporary AWS error the backend has not already retried. Returns the result and the number
/// of attempts. Only for idempotent work: reads, and publishes, which are idempotent and
/// monotonic.
async fn with_retries<T, F, Fut>(what: &str, call: F) -> (Result<T, Error>, u32)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    RetryPolicy::TARGETS.run(what, call).await
}

async fn publish_with_retry(publisher: &dyn Publisher, ctx: &PublishContext<'_>, rule: &str) -> TargetReport {
    let target = publisher.target();
    match with_retries(&target.to_string(), || publisher.publish(ctx)).await {
        (Ok(outcome), _) => {
            tracing::info!(%rule, %target, status = %outcome.status, reason = %outcome.reason, "published");
            entry(rule, target, outcome, None)
        }
        (Err(error), attempts) => {
            tracing::error!(%rule, %target, %error, "publish failed");
            let aws_error = error.as_aws().cloned();
            let mut outcome = Outcome::new(Status::Failed, error.to_string());
            if attempts > 1 {
                outcome = outcome.note(format!("failed after {attempts} attempts"));
            }
            entry(rule, target, outcome, aws_error)
        }
    }
}
