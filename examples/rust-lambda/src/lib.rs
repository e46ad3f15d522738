//! amikeeper as a Rust AWS Lambda function: the logic of `src/main.rs`, kept here so that the
//! crate's tests run it on [`MemoryAws`](amikeeper::MemoryAws).
//!
//! A [`Function`] holds one [`Keeper`], made once per container in the Lambda's init phase, and
//! answers each invocation by its input:
//!
//! - an event amikeeper understands, directly or in SQS or SNS records: [`Keeper::invoke`] with
//!   [`InvokeOptions::lambda`]. A scheduled event that no rule takes sweeps the event's region
//!   when the configuration has `[retention]`, as the Python `lambda_handler` does;
//! - a fleet target, `{"role_arn": "...", "region": "...", "external_id": "..."}` ([`SweepTarget`]):
//!   sweeps that one account and region with [`Keeper::sweep_account`] (one entry of
//!   [`Keeper::sweep_fleet`]). This is the item of `examples/step-functions`' Distributed Map,
//!   which fans a fleet out to one invocation per target.
//!
//! An SQS batch is answered record by record with Lambda's partial batch response
//! ([`Response::SqsBatch`]): the records whose run failed are delivered again, the others not
//! (a record that is no event, or is refused, is reported and counted). Any other payload, or
//! an SQS batch with [`Settings::report_batch_item_failures`] off, fails as a whole: an error
//! whose `errorType` ([`FunctionError::error_type`]) says whether a retry may help, so that
//! Lambda's and Step Functions' retries can tell.
//!
//! After each invocation the function prints CloudWatch embedded metric format records
//! ([`amikeeper::metrics`]), one a line, to standard output, where CloudWatch Logs finds them.

use std::path::PathBuf;
use std::sync::Arc;

use amikeeper::backend::Aws;
use amikeeper::config::ConfigError;
use amikeeper::keeper::SqsBatchResponse;
use amikeeper::metrics::{self, MetricCounts};
use amikeeper::model::Region;
use amikeeper::retain::SweepSummary;
use amikeeper::{
    Config, Deadline, Error, FleetReport, InvokeError, InvokeOptions, Keeper, SweepOptions, SweepReport, SweepStatus,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

/// The configuration compiled into the function: `keeper.toml` beside `Cargo.toml`.
pub const BUNDLED_CONFIG: &str = include_str!("../keeper.toml");
/// The environment variable naming a configuration file to use instead of the bundled one.
pub const CONFIG_ENV: &str = "AMIKEEPER_CONFIG";
/// The environment variable that, `false`, makes sweeps only plan (default `true`: they act).
pub const APPLY_SWEEPS_ENV: &str = "AMIKEEPER_APPLY_SWEEPS";
/// The environment variable choosing what a fleet target returns: `full` (default) or `summary`.
pub const FLEET_REPORT_ENV: &str = "AMIKEEPER_FLEET_REPORT";
/// The environment variable that, `false`, makes an SQS batch fail whole as any payload does,
/// for an event source mapping without `ReportBatchItemFailures` (default `true`).
pub const REPORT_BATCH_ITEM_FAILURES_ENV: &str = "AMIKEEPER_REPORT_BATCH_ITEM_FAILURES";

/// How much of a fleet target's sweep the function returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FleetReportDetail {
    /// The whole [`FleetReport`], plan and results included.
    #[default]
    Full,
    /// [`TargetSummary`]: the counts without the plan, which can exceed the 256 KiB a Step
    /// Functions state may pass on. The whole report still goes to the log.
    Summary,
}

/// The function's settings, from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The configuration file; `None` for [`BUNDLED_CONFIG`].
    pub config: Option<PathBuf>,
    /// Whether sweeps act on their plan ([`APPLY_SWEEPS_ENV`]); a fleet target's own `apply`
    /// overrides it.
    pub apply_sweeps: bool,
    /// What a fleet target returns ([`FLEET_REPORT_ENV`]).
    pub fleet_report: FleetReportDetail,
    /// Answer an SQS batch with Lambda's partial batch response
    /// ([`REPORT_BATCH_ITEM_FAILURES_ENV`]). The event source mapping must have
    /// `FunctionResponseTypes: [ReportBatchItemFailures]`: without it Lambda ignores the
    /// response and deletes the whole batch, failed records too.
    pub report_batch_item_failures: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            config: None,
            apply_sweeps: true,
            fleet_report: FleetReportDetail::Full,
            report_batch_item_failures: true,
        }
    }
}

impl Settings {
    /// The settings of the process environment.
    pub fn from_env() -> Result<Self, String> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// The settings `var` gives (a variable's value, `None` when unset).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let set = |name: &str| var(name).map(|value| value.trim().to_owned()).filter(|value| !value.is_empty());
        let flag = |name: &str| match set(name).as_deref() {
            None | Some("true" | "1") => Ok(true),
            Some("false" | "0") => Ok(false),
            Some(other) => Err(format!("{name}={other}: use true or false")),
        };
        let apply_sweeps = flag(APPLY_SWEEPS_ENV)?;
        let report_batch_item_failures = flag(REPORT_BATCH_ITEM_FAILURES_ENV)?;
        let fleet_report = match set(FLEET_REPORT_ENV).as_deref() {
            None | Some("full") => FleetReportDetail::Full,
            Some("summary") => FleetReportDetail::Summary,
            Some(other) => return Err(format!("{FLEET_REPORT_ENV}={other}: use full or summary")),
        };
        Ok(Self { config: set(CONFIG_ENV).map(PathBuf::from), apply_sweeps, fleet_report, report_batch_item_failures })
    }

    /// The configuration: the file [`config`](Self::config) names, else the bundled one.
    pub fn load_config(&self) -> Result<Config, ConfigError> {
        match &self.config {
            Some(path) => Config::from_file(path),
            None => Config::from_toml(BUNDLED_CONFIG),
        }
    }
}

/// One account and region to sweep: an item of `examples/step-functions`' Distributed Map.
///
/// The fields of a `[[fleet]]` entry ([`FleetTarget`](amikeeper::config::FleetTarget)), with one
/// region instead of a list:
///
/// ```json
/// {"role_arn": "arn:aws:iam::444455556666:role/amikeeper-sweeper", "region": "eu-west-1", "external_id": "..."}
/// ```
///
/// Without `role_arn` the function sweeps its own account. `apply`, when given, overrides
/// [`Settings::apply_sweeps`] for this target (`false`: only plan).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepTarget {
    /// The role to assume in the target account; unset for the function's own account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// The region to sweep.
    pub region: String,
    /// The external id the role's trust policy asks for, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Act on the plan (`true`) or only plan (`false`); unset: the function's setting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply: Option<bool>,
}

/// What an invocation asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// Sweep one fleet target.
    Sweep(SweepTarget),
    /// Handle the events of a payload (EventBridge, SQS, SNS).
    Events(Value),
}

impl Input {
    /// Tells a fleet target from an event payload: a target is an object with a `region` and
    /// none of an event's or a batch's keys (`source`, `detail-type`, `detail`, `Records`).
    pub fn from_value(value: Value) -> Result<Self, FunctionError> {
        let is_target = value.as_object().is_some_and(|object| {
            object.contains_key("region")
                && !["source", "detail-type", "detail", "Records"].iter().any(|key| object.contains_key(*key))
        });
        if !is_target {
            return Ok(Self::Events(value));
        }
        serde_json::from_value(value).map(Self::Sweep).map_err(|error| {
            FunctionError::BadInput(format!(
                "not a fleet target ({{\"role_arn\", \"region\", \"external_id\"?, \"apply\"?}}): {error}"
            ))
        })
    }
}

/// The report of one event, or of the sweep a scheduled event started.
pub use amikeeper::RunReport;

/// The most bytes of HTML a [`TargetSummary`] carries: the page must fit, with the summary, in
/// the 256 KiB a Step Functions state may pass on.
pub const PAGE_BUDGET_BYTES: usize = 200 * 1024;

/// The sweep's HTML page ([`amikeeper::html`]) and the S3 key `examples/step-functions` writes it to.
#[derive(Debug, Clone, Serialize)]
pub struct SweepPageFile {
    /// `sweep-pages/<account or this-account>/<region>/<plan time>.html`.
    pub key: String,
    /// The page: one self-contained HTML file.
    pub html: String,
}

/// A fleet target's sweep without its plan and results ([`FleetReportDetail::Summary`]).
#[derive(Debug, Clone, Serialize)]
pub struct TargetSummary {
    /// The role assumed; `None` for the function's own account.
    pub role_arn: Option<String>,
    /// The region.
    pub region: String,
    /// `ok`; `partial` when the invocation's deadline left actions for the next sweep;
    /// `failed` when any action failed (the rest were still done).
    pub status: SweepStatus,
    /// Whether the plan was acted on.
    pub applied: bool,
    /// The sweep's counts.
    pub summary: SweepSummary,
    /// AWS calls the sweep made.
    pub aws_calls: usize,
    /// The sweep's HTML page, when it fits in [`PAGE_BUDGET_BYTES`]; `examples/step-functions`
    /// writes it to S3.
    pub page: Option<SweepPageFile>,
    /// Why there is no page (too large, or it could not be rendered).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_omitted: Option<String>,
}

impl TargetSummary {
    /// The summary of a target's report, with its HTML page when the page fits.
    pub fn new(target: &SweepTarget, report: &SweepReport) -> Self {
        let (page, page_omitted) = match page_of(target, report) {
            Ok(page) => (Some(page), None),
            Err(why) => (None, Some(why)),
        };
        Self {
            role_arn: target.role_arn.clone(),
            region: target.region.clone(),
            status: report.status,
            applied: report.applied,
            summary: report.summary.clone(),
            aws_calls: report.aws_calls,
            page,
            page_omitted,
        }
    }
}

/// The target's sweep page and its key, or why there is none.
fn page_of(target: &SweepTarget, report: &SweepReport) -> Result<SweepPageFile, String> {
    let prices = amikeeper::html::Prices::shipped();
    let account = target.role_arn.as_deref().and_then(|arn| arn.split(':').nth(4)).filter(|a| !a.is_empty());
    let html = amikeeper::html::SweepPage::new()
        .sweep(account, report, &prices)
        .render(&prices)
        .map_err(|error| error.to_string())?;
    if html.len() > PAGE_BUDGET_BYTES {
        return Err(format!(
            "the sweep's page is {} KiB, over the {} KiB a Step Functions state can carry with the summary; the whole report is in the log",
            html.len() / 1024,
            PAGE_BUDGET_BYTES / 1024
        ));
    }
    let at = report.plan.now.format(&time::format_description::well_known::Rfc3339).map_err(|e| e.to_string())?;
    let key = format!("sweep-pages/{}/{}/{at}.html", account.unwrap_or("this-account"), target.region);
    Ok(SweepPageFile { key, html })
}

/// What an invocation returns (as JSON).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
// One per invocation, serialized once: no need to box the reports.
#[allow(clippy::large_enum_variant)]
pub enum Response {
    /// The report of a payload with one event.
    One(RunReport),
    /// One report per event of an SNS batch (or of an SQS batch, with
    /// [`Settings::report_batch_item_failures`] off).
    Batch(Vec<RunReport>),
    /// Lambda's partial batch response to an SQS batch: the records to deliver again (the
    /// reports are in the log).
    SqsBatch(SqsBatchResponse),
    /// A fleet target's sweep ([`FleetReportDetail::Full`]).
    Target(FleetReport),
    /// A fleet target's sweep in brief ([`FleetReportDetail::Summary`]).
    TargetSummary(TargetSummary),
}

/// Why an invocation failed; its [`error_type`](Self::error_type) is the Lambda `errorType`.
#[derive(Debug, thiserror::Error)]
pub enum FunctionError {
    /// The input is malformed, an unsupported event, or a bad fleet target: a retry cannot help.
    #[error("{0}")]
    BadInput(String),
    /// AWS throttled, failed (5xx) or did not answer in time before anything was done: retry.
    #[error("{0}")]
    Retryable(String),
    /// A run failed (its report is in the log), or a fleet target could not be swept. A retry
    /// (the event's redelivery) is safe: amikeeper's writes are idempotent.
    #[error("{0}")]
    Failed(String),
}

impl FunctionError {
    /// `Amikeeper.BadInput`, `Amikeeper.Retryable` or `Amikeeper.Failed`: what a Step Functions
    /// `Retry` or `Catch` matches.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::BadInput(_) => "Amikeeper.BadInput",
            Self::Retryable(_) => "Amikeeper.Retryable",
            Self::Failed(_) => "Amikeeper.Failed",
        }
    }
}

impl From<FunctionError> for lambda_runtime::Diagnostic {
    fn from(error: FunctionError) -> Self {
        Self { error_type: error.error_type().to_owned(), error_message: error.to_string() }
    }
}

/// Where the function prints its metrics' lines.
pub type MetricsOutput = Box<dyn Fn(&str) + Send + Sync>;

/// The function: a keeper of the account it runs in, its settings, and where its metrics go.
pub struct Function {
    keeper: Keeper,
    settings: Settings,
    metrics_output: MetricsOutput,
}

impl Function {
    /// A function for `config` on `aws` (the SDK backend on Lambda, `MemoryAws` in tests),
    /// printing its metrics to standard output.
    pub fn new(config: Config, aws: Arc<dyn Aws>, settings: Settings) -> Self {
        Self { keeper: Keeper::new(config, aws), settings, metrics_output: Box::new(|line| println!("{line}")) }
    }

    /// The same function, handing each metrics line to `output` instead of standard output.
    pub fn with_metrics_output(self, output: impl Fn(&str) + Send + Sync + 'static) -> Self {
        Self { metrics_output: Box::new(output), ..self }
    }

    /// Prints the EMF records of what `counts` counted, as `[metrics]` says.
    fn print_metrics(&self, counts: &MetricCounts) {
        for line in metrics::lines(counts, &self.keeper.config().metrics, OffsetDateTime::now_utc()) {
            (self.metrics_output)(&line);
        }
    }

    /// The keeper of events and of the function's own account.
    pub fn keeper(&self) -> &Keeper {
        &self.keeper
    }

    /// Answers one invocation, without a deadline.
    pub async fn invoke(&self, input: Value) -> Result<Response, FunctionError> {
        self.invoke_before(input, None).await
    }

    /// Answers one invocation that must have returned by `deadline` (on Lambda, the context's,
    /// [`Deadline::lambda_at_epoch_millis`]): the wait for a pending AMI ends with its targets
    /// `deferred`, and a sweep returns a `partial` report that the next sweep finishes.
    pub async fn invoke_before(&self, input: Value, deadline: Option<Deadline>) -> Result<Response, FunctionError> {
        match Input::from_value(input)? {
            Input::Sweep(target) => self.sweep_target(&target, deadline).await,
            Input::Events(payload) => self.handle_events(&payload, deadline).await,
        }
    }

    /// Handles a payload's events; a scheduled event no rule takes sweeps its region. An SQS
    /// batch returns the records to deliver again ([`Response::SqsBatch`]); any other payload
    /// fails when any run failed, after logging every report.
    pub async fn handle_events(&self, payload: &Value, deadline: Option<Deadline>) -> Result<Response, FunctionError> {
        let bytes = serde_json::to_vec(payload).map_err(|error| FunctionError::BadInput(error.to_string()))?;
        let options = InvokeOptions::lambda(self.settings.apply_sweeps).deadline(deadline);
        let invocation = self.keeper.invoke(&bytes, &options).await.map_err(|error| match error {
            InvokeError::Event(error) => FunctionError::BadInput(error.to_string()),
            InvokeError::Sweep(error) => function_error(&error, error.to_string()),
            other => FunctionError::Failed(other.to_string()),
        })?;
        for run in &invocation.runs {
            tracing::info!(report = %json(run), "{run}");
        }
        self.print_metrics(&MetricCounts::of_invocation(&invocation));
        if let Some(response) = invocation.sqs_batch_response().filter(|_| self.settings.report_batch_item_failures) {
            if let Some(failure) = invocation.failure() {
                tracing::warn!(
                    "{} of {} records failed, delivered again; {failure}",
                    response.batch_item_failures.len(),
                    failure.runs
                );
            }
            return Ok(Response::SqsBatch(response));
        }
        if let Some(failure) = invocation.failure() {
            return Err(FunctionError::Failed(format!(
                "{} of {} runs failed (the reports are in the log); {failure}",
                failure.failed_runs, failure.runs
            )));
        }
        let mut runs = invocation.runs;
        Ok(if runs.len() == 1 { Response::One(runs.remove(0)) } else { Response::Batch(runs) })
    }

    /// Sweeps one fleet target: assumes its role (the function's own account without one) and
    /// sweeps its region, as [`Keeper::sweep_fleet`] does for each of a `[[fleet]]`'s.
    ///
    /// A sweep that ran returns its report, whatever its status: failed actions are in it, and
    /// the next sweep retries them. A sweep that could not run is an error, so that Step
    /// Functions counts the target as failed: [`FunctionError::Retryable`] for a retryable AWS
    /// error (throttling, 5xx, timeout on `AssumeRole` or the inventory, after the SDK's own
    /// retries), else [`FunctionError::Failed`] (a role that cannot be assumed, no
    /// `[retention]`), which a retry would not help. Either way nothing was changed.
    pub async fn sweep_target(
        &self,
        target: &SweepTarget,
        deadline: Option<Deadline>,
    ) -> Result<Response, FunctionError> {
        let region = Region::from(target.region.as_str());
        let apply = target.apply.unwrap_or(self.settings.apply_sweeps);
        let options = SweepOptions::default().apply(apply).deadline(deadline);
        let outcome = self
            .keeper
            .sweep_account(target.role_arn.as_deref(), target.external_id.as_deref(), &region, &options)
            .await;
        let report = match outcome {
            Ok(report) => report,
            Err(error) => {
                let message = format!("{} could not be swept: {error}", describe(target));
                tracing::warn!("{message}");
                return Err(function_error(&error, message));
            }
        };
        tracing::info!(report = %json(&report), "{}: {}", describe(target), report.status);
        let mut counts = MetricCounts::default();
        counts.add_sweep(&report);
        self.print_metrics(&counts);
        Ok(match self.settings.fleet_report {
            FleetReportDetail::Full => Response::Target(FleetReport::new(target.role_arn.clone(), region, Ok(report))),
            FleetReportDetail::Summary => Response::TargetSummary(TargetSummary::new(target, &report)),
        })
    }
}

/// The error of a sweep that could not run: retryable for throttling, 5xx and timeouts.
fn function_error(error: &Error, message: String) -> FunctionError {
    match error.as_aws() {
        Some(aws) if aws.is_retryable() => FunctionError::Retryable(message),
        _ => FunctionError::Failed(message),
    }
}

/// `role ARN in region`, or `this account in region`.
fn describe(target: &SweepTarget) -> String {
    match &target.role_arn {
        Some(role) => format!("{role} in {}", target.region),
        None => format!("this account in {}", target.region),
    }
}

fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|error| format!("(not JSON: {error})"))
}
