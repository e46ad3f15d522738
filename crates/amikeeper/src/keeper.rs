//! [`Keeper`]: the pipeline from an event to moved pointers and a [`Report`].

use std::sync::Arc;
use std::time::Duration;

use crate::backend::{Aws, CountingAws, Ec2Api};
use crate::config::{Config, ConfigError, TargetConfig, WaitConfig};
use crate::copy;
use crate::error::{AwsError, Error};
use crate::events::{self, AmiEvent, EventError, EventKind};
use crate::model::{CreateImage, Image, ImageState, Region, RULE_TAG};
use crate::protect;
use crate::publish::{DescribedImages, Outcome, PublishContext, Publisher, Status, TargetId};
use crate::report::{EventSummary, ImageSummary, Report, RunStatus, TargetReport};
use crate::resolve::{AmiResolver, ConfigResolver, Resolution, ResolvedTarget, RuleTargets};
use crate::retain::{Progress, SweepOptions, SweepReport, Sweeper};
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

/// The sweep of one account and region of a fleet.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FleetReport {
    /// The role assumed; `None` for the account amikeeper runs in.
    pub role_arn: Option<String>,
    /// The region.
    pub region: Region,
    /// The sweep's status, or `failed` when it could not run.
    pub status: &'static str,
    /// The sweep's report, when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<SweepReport>,
    /// Why it could not run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// How often a target whose publish failed with a retryable AWS error (throttling, 5xx,
/// timeout) is tried, in all. Publishing is idempotent and monotonic, so a retry is safe.
const TARGET_ATTEMPTS: u32 = 3;

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
            let account = match &target.role_arn {
                Some(role) => self.aws.assume_role(role, target.external_id.as_deref()).await,
                None => Ok(self.aws.clone()),
            };
            for region in &target.regions {
                let region = Region::from(region.as_str());
                let outcome = match &account {
                    Ok(aws) => Keeper::new(self.config().clone(), aws.clone())
                        .sweep(&region, options)
                        .await
                        .map_err(|error| error.to_string()),
                    Err(error) => Err(error.to_string()),
                };
                let (report, error) = match outcome {
                    Ok(report) => (Some(report), None),
                    Err(error) => (None, Some(error)),
                };
                let status = match (&report, &error) {
                    (Some(report), _) => report.status,
                    _ => "failed",
                };
                reports.push(FleetReport { role_arn: target.role_arn.clone(), region, status, report, error });
            }
        }
        reports
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
        let mut report = Report {
            event: EventSummary::from(event),
            status: RunStatus::Ok,
            reason: None,
            image: None,
            targets: Vec::new(),
            dry_run: options.dry_run,
            protection: None,
            released: Vec::new(),
            copies: Vec::new(),
            aws_calls: 0,
            aws_calls_by_operation: Default::default(),
        };
        if !self.config().allows_account(event.account.as_str()) {
            report.status = RunStatus::Refused;
            report.reason = Some(format!(
                "event from account {} refused: only {} are allowed (`accounts` in the configuration)",
                event.account,
                self.config().accounts.join(", ")
            ));
            tracing::warn!(account = %event.account, event_id = %event.event_id, "refused event from another account");
            return report;
        }
        self.run(&aws, event, options, &mut report).await;
        report.aws_calls = aws.log().count();
        report.aws_calls_by_operation =
            aws.log().by_operation().into_iter().map(|(op, n)| (op.to_owned(), n)).collect();
        if report.reason.is_none() {
            report.status = Report::status_of(&report.targets);
            if report.copies.iter().any(|c| c.status == "failed") {
                // The event's redelivery retries the copy.
                report.status = RunStatus::Failed;
            }
        }
        report
    }

    async fn run(&self, aws: &CountingAws<'_>, event: &AmiEvent, options: &HandleOptions, report: &mut Report) {
        let resolution = match self.resolver.resolve(aws, event).await {
            Ok(resolution) => resolution,
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
                    self.bake(aws, event, &rule, options, report).await;
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
        let mut protect = false;
        let described = DescribedImages::default();
        let copy_regions: std::collections::BTreeSet<Region> = rules
            .iter()
            .filter_map(|r| self.config().rules.iter().find(|c| c.name == r.rule))
            .flat_map(|rule| rule.copy_to.iter().map(|region| Region::from(region.as_str())))
            .filter(|region| region != &event.region)
            .collect();
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
                            publish_with_retry(publisher.as_ref(), &ctx, &rule).await
                        }
                    },
                };
                protect |= wants_protection && matches!(entry.outcome.status, Status::Updated | Status::Planned);
                report.targets.push(entry);
            }
        }
        if let Some(image) = image.as_ref().filter(|_| protect) {
            report.protection = protect::protect(aws, &event.region, image, options.dry_run).await;
        }
        // The AMIs the moved pointers left: amikeeper's protection on them is released.
        let moves = report.targets.iter().map(|t| {
            let moved = matches!(t.outcome.status, Status::Updated | Status::Planned);
            (t.outcome.from.as_deref(), t.outcome.to.as_deref().filter(|_| moved))
        });
        // DR copies, once the AMI is available; a copy is never copied again.
        let copyable = image.as_ref().filter(|i| i.state == ImageState::Available && !copy::is_copy(i));
        if let Some(image) = copyable {
            for region in &copy_regions {
                report.copies.push(copy::copy_to(aws, &event.region, image, region, options.dry_run).await);
            }
        }
        let left = if self.config().protects_any() { protect::left_behind(moves) } else { Vec::new() };
        for left in left {
            let known = described.get(&left);
            report.released.extend(protect::release(aws, &event.region, &left, known, options.dry_run).await);
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

    async fn bake(
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
            kind: EventKind::ImageCreated,
            image_id: Some(image_id.clone()),
            instance_id: Some(bake.instance_id.clone()),
            image_name: Some(name),
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

fn entry(rule: &str, target: TargetId, outcome: Outcome, error: Option<AwsError>) -> TargetReport {
    TargetReport { rule: rule.to_owned(), target, outcome, error }
}

async fn publish_with_retry(publisher: &dyn Publisher, ctx: &PublishContext<'_>, rule: &str) -> TargetReport {
    let target = publisher.target();
    let mut attempt = 1;
    loop {
        match publisher.publish(ctx).await {
            Ok(outcome) => {
                tracing::info!(%rule, %target, status = %outcome.status, reason = %outcome.reason, "published");
                return entry(rule, target, outcome, None);
            }
            Err(Error::Aws(error)) if error.is_retryable() && attempt < TARGET_ATTEMPTS => {
                tracing::warn!(%rule, %target, %error, attempt, "retrying after a retryable AWS error");
                tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
                attempt += 1;
            }
            Err(error) => {
                tracing::error!(%rule, %target, %error, "publish failed");
                let aws_error = match &error {
                    Error::Aws(e) => Some(e.clone()),
                    _ => None,
                };
                let mut outcome = Outcome::new(Status::Failed, error.to_string());
                if attempt > 1 {
                    outcome = outcome.note(format!("failed after {attempt} attempts"));
                }
                return entry(rule, target, outcome, aws_error);
            }
        }
    }
}
