//! [`Keeper`]: the pipeline from an event to moved pointers and a [`Report`].
//!
//! A keeper is built ([`Keeper::builder`]) from a configuration and a backend, and holds the
//! crate's seams as traits: the [`EventParser`] that reads payloads, the [`AmiResolver`] that
//! turns an event into targets, and the [`RetentionPolicy`] a sweep plans with. The work is
//! split by entry point:
//! - `handle`: an event to moved pointers ([`Keeper::handle_with`], [`Keeper::handle_payload`]);
//! - `bake`: a rule's bake ([`Keeper::bake`], and scheduled events of rules with `bake`);
//! - `refresh`: the instance refreshes of the groups a run moved;
//! - `sweep`: retention sweeps of a region, an account or a fleet;
//! - `status`: every pointer read back, and what is wrong ([`Keeper::status`]);
//! - `notify`: what each entry point puts on EventBridge once its report is complete;
//! - [`invoke`]: one Lambda-style invocation ([`Keeper::invoke`]), the run-time policy every
//!   binding and binary shares;
//! - `retry`: how often a read or a publish is tried.

mod bake;
mod handle;
pub mod invoke;
mod notify;
mod refresh;
mod retry;
mod revoke;
mod status;
mod sweep;

use std::sync::Arc;

use time::OffsetDateTime;

use crate::backend::{Aws, CountingAws};
use crate::config::{Config, ConfigError, WaitConfig};
use crate::deadline::Deadline;
use crate::error::AwsError;
use crate::events::{AmiEvent, EventParser, StandardEventParser};
use crate::model::Region;
use crate::publish::{Outcome, TargetId};
use crate::report::{EventSummary, Report, RunStatus, TargetReport};
use crate::resolve::{AmiResolver, ConfigResolver};
use crate::retain::{ConfiguredRetention, RetentionPolicy};
use crate::rollback::{RollbackOptions, RollbackReport, RollbackTarget};

pub use invoke::{
    BatchItemFailure, FailedItem, Invocation, InvocationFailure, InvokeError, InvokeOptions, RunReport,
    SqsBatchResponse, Verdict,
};
pub use status::StatusOptions;
pub use sweep::FleetReport;

/// The target of the keeper's logs, whichever of its modules logs: `amikeeper::keeper`.
const LOG: &str = "amikeeper::keeper";

options! {
    /// Options for one run of [`Keeper::handle_with`].
    #[derive(Debug, Clone, Default)]
    pub struct HandleOptions {
        /// Read and decide, but write nothing; the report says what would be done.
        pub dry_run: bool,
        /// Override the configuration's wait for pending AMIs.
        pub wait: Option<WaitConfig>,
        /// When the run must have returned: the wait for a pending AMI ends [`WAIT_RESERVE`]
        /// before it at the latest, leaving the targets `deferred` if the AMI is still pending.
        pub deadline: Option<Deadline>,
    }
}

/// What the wait for a pending AMI leaves of the time to a run's deadline, to publish the
/// targets, protect and copy the AMI once it is `available`: a handful of calls per target,
/// with their retries.
pub const WAIT_RESERVE: std::time::Duration = std::time::Duration::from_secs(10);

options! {
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
}

/// Keeps the pointers of one configuration right.
///
/// Built from a [`Config`] and an AWS account (any [`Aws`]: the SDK backend, or
/// [`MemoryAws`](crate::memory::MemoryAws) for tests and the demo): [`Keeper::new`] with the
/// standard parser, resolver and retention policy, or [`Keeper::builder`] to choose them.
pub struct Keeper {
    config: Arc<Config>,
    aws: Arc<dyn Aws>,
    sweep_aws: Arc<dyn Aws>,
    parser: Arc<dyn EventParser>,
    resolver: Arc<dyn AmiResolver>,
    retention: Arc<dyn RetentionPolicy>,
}

/// Builds a [`Keeper`]; made by [`Keeper::builder`]. What is not set is the standard part:
/// [`StandardEventParser`], [`ConfigResolver`] and [`ConfiguredRetention`] for the
/// configuration, and the keeper's backend for sweeps.
///
/// ```
/// use std::sync::Arc;
/// use amikeeper::{Config, Keeper, MemoryAws, StandardEventParser};
///
/// let config = Config::from_toml(r#"
///     accounts = ["111122223333"]
///     [[rules]]
///     name = "web"
///     [rules.match]
///     name_prefix = "web-"
///     [[rules.targets]]
///     kind = "ssm_parameter"
///     name = "/ami/web"
/// "#).unwrap();
/// let keeper = Keeper::builder(config, Arc::new(MemoryAws::new("111122223333")))
///     .parser(StandardEventParser::new().with_max_bytes(1024 * 1024))
///     .build();
/// assert_eq!(keeper.config().rules.len(), 1);
/// ```
pub struct KeeperBuilder {
    config: Config,
    aws: Arc<dyn Aws>,
    sweep_aws: Option<Arc<dyn Aws>>,
    parser: Option<Arc<dyn EventParser>>,
    resolver: Option<Arc<dyn AmiResolver>>,
    retention: Option<Arc<dyn RetentionPolicy>>,
}

impl KeeperBuilder {
    /// Reads payloads with `parser` instead of the [`StandardEventParser`].
    pub fn parser(mut self, parser: impl EventParser + 'static) -> Self {
        self.parser = Some(Arc::new(parser));
        self
    }

    /// Resolves events with `resolver` instead of the configuration's [`ConfigResolver`].
    pub fn resolver(mut self, resolver: impl AmiResolver + 'static) -> Self {
        self.resolver = Some(Arc::new(resolver));
        self
    }

    /// Plans sweeps' images with `retention` instead of the configuration's
    /// `[[retention.images]]` ([`ConfiguredRetention`]). The rest of a sweep (what is read,
    /// snapshots, launch template versions, pacing) still follows `[retention]`.
    pub fn retention(mut self, retention: impl RetentionPolicy + 'static) -> Self {
        self.retention = Some(Arc::new(retention));
        self
    }

    /// Sweeps through `aws` instead of the keeper's backend: e.g. the SDK backend with a
    /// sweep's longer timeouts, for listing thousands of images. Fleet roles are assumed
    /// through it too.
    pub fn sweep_backend(mut self, aws: Arc<dyn Aws>) -> Self {
        self.sweep_aws = Some(aws);
        self
    }

    /// The keeper.
    pub fn build(self) -> Keeper {
        let retention = match self.retention {
            Some(retention) => retention,
            None => Arc::new(ConfiguredRetention::new(&self.config)),
        };
        let resolver = match self.resolver {
            Some(resolver) => resolver,
            None => Arc::new(ConfigResolver::new(self.config.clone())),
        };
        Keeper {
            sweep_aws: self.sweep_aws.unwrap_or_else(|| self.aws.clone()),
            aws: self.aws,
            parser: self.parser.unwrap_or_else(|| Arc::new(StandardEventParser::new())),
            resolver,
            retention,
            config: Arc::new(self.config),
        }
    }
}

impl Keeper {
    /// A keeper for `config` acting on `aws`, with the standard parser, resolver and
    /// retention policy (see [`KeeperBuilder`]).
    pub fn new(config: Config, aws: Arc<dyn Aws>) -> Self {
        Self::builder(config, aws).build()
    }

    /// A builder of a keeper for `config` acting on `aws`.
    pub fn builder(config: Config, aws: Arc<dyn Aws>) -> KeeperBuilder {
        KeeperBuilder { config, aws, sweep_aws: None, parser: None, resolver: None, retention: None }
    }

    /// A keeper for the configuration in `path` (TOML, or JSON for `.json`) acting on `aws`.
    pub fn from_file(path: impl AsRef<std::path::Path>, aws: Arc<dyn Aws>) -> Result<Self, ConfigError> {
        Ok(Self::new(Config::from_file(path)?, aws))
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The parser of payloads.
    pub fn parser(&self) -> &dyn EventParser {
        self.parser.as_ref()
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
        let mut report = crate::rollback::rollback(self.aws.as_ref(), self.config(), region, targets, options).await;
        self.notify_rollback(region, &mut report).await;
        report
    }

    /// Completes the report of a handle or a bake of `event`: notifies (through `aws`, so the
    /// notifications are counted too), counts the calls and sets the status.
    async fn complete_report(&self, aws: &CountingAws<'_>, event: &AmiEvent, report: &mut Report) {
        self.notify_handle(aws, event, report).await;
        finish_report(aws, report);
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
        notifications: None,
    }
}

/// Counts the calls and sets the status from the targets, unless a reason set it already.
fn finish_report(aws: &CountingAws<'_>, report: &mut Report) {
    report.aws_calls = aws.log().count();
    report.aws_calls_by_operation = aws.log().by_operation().into_iter().map(|(op, n)| (op.to_owned(), n)).collect();
    if report.reason.is_none() {
        report.status = Report::status_of(&report.targets);
        if report.copies.iter().any(|c| c.status == crate::copy::CopyStatus::Failed) {
            // The event's redelivery retries the copy.
            report.status = RunStatus::Failed;
        }
    }
}

fn entry(rule: &str, target: TargetId, outcome: Outcome, error: Option<AwsError>) -> TargetReport {
    TargetReport { rule: rule.to_owned(), target, outcome, error }
}
