//! `amikeeper.Keeper`: a [`Keeper`] on the AWS SDK backend, as a Python class.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use amikeeper::config::{ConfigError, WaitConfig};
use amikeeper::events::{self, AmiEvent};
use amikeeper::keeper::BatchItemFailure;
use amikeeper::metrics::{self, MetricCounts};
use amikeeper::model::{ImageId, Region};
use amikeeper::retain::SweepOptions;
use amikeeper::revoke::RevokeOptions;
use amikeeper::rollback::{RollbackOptions, RollbackTarget};
use amikeeper::{
    AwsError, BakeOptions, Config, Deadline, HandleOptions, InvokeError, InvokeOptions, Keeper, Report, RunReport,
    StatusOptions,
};
use amikeeper_aws::SdkAws;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use serde::Serialize;
use time::OffsetDateTime;

use crate::convert::{json_text, to_python, NotJson};
use crate::errors;
use crate::runtime::block_on;

/// Where the AWS SDK sends calls and with which credentials: the constructors' keywords.
#[derive(Debug, Clone, Default)]
struct AwsSettings {
    region: Option<String>,
    profile: Option<String>,
    endpoint_url: Option<String>,
}

impl AwsSettings {
    /// The SDK backend for these settings, with its default retries and timeouts.
    async fn load(&self) -> SdkAws {
        SdkAws::builder()
            .region(self.region.clone())
            .profile(self.profile.clone())
            .endpoint_url(self.endpoint_url.clone())
            .load()
            .await
    }
}

/// What `Keeper.invoke` returns: [`amikeeper::Invocation`] as Python sees it.
#[derive(Serialize)]
struct InvocationDict<'a> {
    /// One report per event; a schedule's sweep in its place.
    reports: &'a [RunReport],
    /// One line per report, for the log.
    summaries: Vec<String>,
    /// Why the invocation failed, if it did.
    failure: Option<FailureDict<'a>>,
    /// For an SQS batch, the records whose run failed.
    batch_item_failures: Option<Vec<BatchItemFailure>>,
    /// The CloudWatch embedded metric format records to print, one a line (none with
    /// `[metrics] enabled = false`).
    metrics: Vec<String>,
}

/// [`amikeeper::keeper::InvocationFailure`] as Python sees it.
#[derive(Serialize)]
struct FailureDict<'a> {
    /// The index of the first failed report.
    run: usize,
    /// What failed, in one line.
    message: String,
    /// The AWS error to raise, when AWS said why.
    error: Option<&'a AwsError>,
}

/// Keeps the pointers of one configuration right, talking to AWS through the AWS SDK for Rust.
///
/// Made by `Keeper.from_file`, `Keeper.from_toml` or `Keeper.from_dict`. Every method returns
/// the report the CLI prints as JSON, as a dict, and releases the GIL while AWS work runs.
#[pyclass(name = "Keeper", module = "amikeeper", frozen)]
pub struct PyKeeper {
    /// The keeper: events and rollbacks on the SDK's default timeouts, sweeps through the same
    /// clients' configuration with a sweep's longer timeouts ([`SdkAws::for_sweeps`]).
    keeper: Keeper,
    /// The region of sweeps and rollbacks that name none: `region=`, else the SDK's chain
    /// (`AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's).
    default_region: Option<String>,
}

impl PyKeeper {
    /// A keeper for `config` on the SDK backend with `settings` (loaded once, here).
    fn load(py: Python<'_>, config: Config, settings: AwsSettings) -> PyResult<Self> {
        let aws = block_on(py, || settings.load())?;
        let default_region = aws.default_region().map(str::to_owned);
        let sweeps = Arc::new(aws.for_sweeps());
        Ok(Self { keeper: Keeper::builder(config, Arc::new(aws)).sweep_backend(sweeps).build(), default_region })
    }

    /// `region`, else the default region; a `ConfigError` when there is neither.
    fn region_or_default(&self, py: Python<'_>, region: Option<String>) -> PyResult<Region> {
        region.or_else(|| self.default_region.clone()).map(Region::from).ok_or_else(|| {
            errors::config_error_message(
                py,
                "no region: pass region=, or set AWS_REGION (Lambda sets it) or a profile's region",
            )
        })
    }

    /// Handles `events` in order, with the GIL released.
    fn handle_events(&self, py: Python<'_>, events: &[AmiEvent], options: &HandleOptions) -> PyResult<Vec<Report>> {
        block_on(py, || async {
            let mut reports = Vec::with_capacity(events.len());
            for event in events {
                reports.push(self.keeper.handle_with(event, options).await);
            }
            reports
        })
    }

    /// The options of one `handle`: `wait_seconds` overrides only the configuration's timeout.
    fn handle_options(&self, dry_run: bool, wait_seconds: Option<u64>) -> HandleOptions {
        let wait = wait_seconds.map(|seconds| WaitConfig { timeout_seconds: seconds, ..self.keeper.config().wait });
        HandleOptions::default().dry_run(dry_run).wait(wait)
    }
}

/// The JSON text of one payload (a dict, or JSON as `str` or `bytes`); anything that is not
/// JSON-like is an `EventError`.
fn payload(py: Python<'_>, event: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    json_text(event).map_err(|error| match error {
        NotJson::Unserializable(why) => errors::event_error_message(
            py,
            format!("the event is not JSON-like (dict, list, str, int, float, bool, None): {why}"),
        ),
        NotJson::Python(error) => error,
    })
}

/// The events of one payload (a dict, or JSON as `str` or `bytes`): one, or one per record of
/// an SQS or SNS batch. Anything that is not JSON-like, or not an event, is an `EventError`.
pub fn parse_events(py: Python<'_>, event: &Bound<'_, PyAny>) -> PyResult<Vec<AmiEvent>> {
    events::parse_payload(&payload(py, event)?).map_err(|error| errors::event_error(py, error))
}

/// The one item of `items`, else an `EventError` saying to use the `*_all`/`*_events` form.
pub fn only_one<T>(py: Python<'_>, items: Vec<T>, instead: &str) -> PyResult<T> {
    let count = items.len();
    <[T; 1]>::try_from(items).map(|[one]| one).map_err(|_| {
        errors::event_error_message(
            py,
            format!("the payload carries {count} events (an SQS or SNS batch?), not one: use {instead}"),
        )
    })
}

#[pymethods]
impl PyKeeper {
    /// A keeper for the configuration file at `path` (TOML, or JSON if it ends in `.json`).
    #[staticmethod]
    #[pyo3(signature = (path, *, region = None, profile = None, endpoint_url = None))]
    fn from_file(
        py: Python<'_>,
        path: PathBuf,
        region: Option<String>,
        profile: Option<String>,
        endpoint_url: Option<String>,
    ) -> PyResult<Self> {
        let config = Config::from_file(&path).map_err(|error| errors::config_error(py, error))?;
        Self::load(py, config, AwsSettings { region, profile, endpoint_url })
    }

    /// A keeper for a configuration given as TOML text.
    #[staticmethod]
    #[pyo3(signature = (text, *, region = None, profile = None, endpoint_url = None))]
    fn from_toml(
        py: Python<'_>,
        text: &str,
        region: Option<String>,
        profile: Option<String>,
        endpoint_url: Option<String>,
    ) -> PyResult<Self> {
        let config = Config::from_toml(text).map_err(|error| errors::config_error(py, error))?;
        Self::load(py, config, AwsSettings { region, profile, endpoint_url })
    }

    /// A keeper for a configuration given as a dict, with the schema of the TOML file.
    #[staticmethod]
    #[pyo3(signature = (config, *, region = None, profile = None, endpoint_url = None))]
    fn from_dict(
        py: Python<'_>,
        config: &Bound<'_, PyAny>,
        region: Option<String>,
        profile: Option<String>,
        endpoint_url: Option<String>,
    ) -> PyResult<Self> {
        let text = json_text(config).map_err(|error| match error {
            NotJson::Unserializable(why) => errors::config_error(
                py,
                ConfigError::Parse { format: "dict", message: format!("not JSON-like: {why}") },
            ),
            NotJson::Python(error) => error,
        })?;
        let value = serde_json::from_slice::<serde_json::Value>(&text).map_err(|error| {
            errors::config_error(py, ConfigError::Parse { format: "dict", message: error.to_string() })
        })?;
        // A dict has no lines to point at: an error names the place in the dict instead.
        let config: Config = serde_path_to_error::deserialize(value).map_err(|error| {
            let at = error.path().to_string();
            let reason = error.into_inner().to_string();
            let error = if at == "." {
                ConfigError::Parse { format: "dict", message: reason }
            } else {
                ConfigError::Invalid { at, reason }
            };
            errors::config_error(py, error)
        })?;
        config.validate().map_err(|error| errors::config_error(py, error))?;
        Self::load(py, config, AwsSettings { region, profile, endpoint_url })
    }

    /// Handles the one event of `event` and returns its report. `event` is a dict (as Lambda
    /// passes it), or JSON as `str` or `bytes`; a batch of several events is an `EventError`
    /// (use `handle_all`). With `dry_run` nothing is written; `wait_seconds` overrides the
    /// configuration's wait for a pending AMI.
    #[pyo3(signature = (event, *, dry_run = false, wait_seconds = None))]
    fn handle(
        &self,
        py: Python<'_>,
        event: &Bound<'_, PyAny>,
        dry_run: bool,
        wait_seconds: Option<u64>,
    ) -> PyResult<Py<PyAny>> {
        // Parsed and counted before any AWS call: bad input writes nothing.
        let event = only_one(py, parse_events(py, event)?, "Keeper.handle_all")?;
        let reports =
            self.handle_events(py, std::slice::from_ref(&event), &self.handle_options(dry_run, wait_seconds))?;
        to_python(py, &reports[0])
    }

    /// Handles every event of `event` (one, or each record of an SQS or SNS batch) in order,
    /// and returns one report per event.
    #[pyo3(signature = (event, *, dry_run = false, wait_seconds = None))]
    fn handle_all(
        &self,
        py: Python<'_>,
        event: &Bound<'_, PyAny>,
        dry_run: bool,
        wait_seconds: Option<u64>,
    ) -> PyResult<Py<PyAny>> {
        let events = parse_events(py, event)?;
        let reports = self.handle_events(py, &events, &self.handle_options(dry_run, wait_seconds))?;
        to_python(py, &reports)
    }

    /// Sweeps one region as the configuration's `[retention]` says, and returns the report.
    /// Without `apply` it only plans. `region` defaults to the keeper's region.
    #[pyo3(signature = (apply = false, *, region = None))]
    fn sweep(&self, py: Python<'_>, apply: bool, region: Option<String>) -> PyResult<Py<PyAny>> {
        if self.keeper.config().retention.is_none() {
            return Err(errors::config_error_message(
                py,
                "the configuration has no [retention] section: nothing to sweep",
            ));
        }
        let region = self.region_or_default(py, region)?;
        let options = SweepOptions::default().apply(apply);
        let report =
            block_on(py, || self.keeper.sweep(&region, &options))?.map_err(|error| errors::from_core(py, error))?;
        to_python(py, &report)
    }

    /// Answers one Lambda-style invocation, as `lambda_handler` does: handles every event of
    /// `event` (one, or each record of an SQS or SNS batch) in order, and a scheduled event
    /// that no rule takes sweeps its region when the configuration has `[retention]` (acting
    /// on the plan unless `apply_sweeps=False`). Returns a dict: `reports` (one per event, a
    /// schedule's sweep in its place), `summaries` (one line each, for the log), `failure`
    /// (`None`, or the first failed report's index as `run`, a `message`, and the AWS `error`
    /// when AWS said why) and `batch_item_failures` (for an SQS batch, the records to deliver
    /// again, as Lambda's `batchItemFailures`; else `None`; a record that is no event is a
    /// `refused` report of its own) and `metrics` (the CloudWatch embedded metric format
    /// records, one JSON line each, empty with `[metrics] enabled = false`). A malformed or
    /// unsupported payload (not an SQS batch) is an `EventError`; a sweep that cannot run
    /// raises as `sweep` does.
    ///
    /// `remaining_ms` is the time the Lambda invocation has left
    /// (`context.get_remaining_time_in_millis()`): less half a second to return the report, it
    /// bounds the wait for a pending AMI (its targets are `deferred`) and a schedule's sweep
    /// (a `partial` report; the next sweep finishes the plan).
    #[pyo3(signature = (event, *, apply_sweeps = true, remaining_ms = None))]
    fn invoke(
        &self,
        py: Python<'_>,
        event: &Bound<'_, PyAny>,
        apply_sweeps: bool,
        remaining_ms: Option<u64>,
    ) -> PyResult<Py<PyAny>> {
        // Counted from now, before the payload is read.
        let deadline = remaining_ms.map(|ms| Deadline::lambda(std::time::Duration::from_millis(ms)));
        let payload = payload(py, event)?;
        let options = InvokeOptions::lambda(apply_sweeps).deadline(deadline);
        let invocation = block_on(py, || self.keeper.invoke(&payload, &options))?.map_err(|error| match error {
            InvokeError::Event(error) => errors::event_error(py, error),
            InvokeError::Sweep(error) => errors::from_core(py, error),
            other => errors::amikeeper_error(py, other),
        })?;
        let failure = invocation.failure();
        let dict = InvocationDict {
            reports: &invocation.runs,
            summaries: invocation.runs.iter().map(ToString::to_string).collect(),
            failure: failure.as_ref().map(|failure| FailureDict {
                run: failure.run,
                message: failure.to_string(),
                error: failure.aws_error(),
            }),
            batch_item_failures: invocation.sqs_batch_response().map(|response| response.batch_item_failures),
            metrics: metrics::lines(
                &MetricCounts::of_invocation(&invocation),
                &self.keeper.config().metrics,
                OffsetDateTime::now_utc(),
            ),
        };
        to_python(py, &dict)
    }

    /// Moves `targets` back to the AMI each named before, or to `to`, and returns the report:
    /// the one exception to "never move a pointer to an older AMI". A target is
    /// `ssm_parameter:NAME`, `launch_template:ID_OR_NAME`, `auto_scaling_group:NAME` or
    /// `stack_parameter:STACK[/PARAMETER]`. When any target cannot go back to an available AMI,
    /// nothing is written and the report's `status` is `refused`.
    #[pyo3(signature = (targets, to = None, dry_run = false, *, region = None))]
    fn rollback(
        &self,
        py: Python<'_>,
        targets: Vec<String>,
        to: Option<String>,
        dry_run: bool,
        region: Option<String>,
    ) -> PyResult<Py<PyAny>> {
        if targets.is_empty() {
            return Err(PyValueError::new_err("name at least one target to roll back"));
        }
        let targets = targets
            .iter()
            .map(|target| RollbackTarget::from_str(target))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| PyValueError::new_err(error.to_string()))?;
        let to = to
            .map(|to| to.parse::<ImageId>().map_err(|_| PyValueError::new_err(format!("to=`{to}` is not an AMI id"))))
            .transpose()?;
        let region = self.region_or_default(py, region)?;
        let options = RollbackOptions::default().to(to).dry_run(dry_run);
        let report = block_on(py, || self.keeper.rollback(&region, &targets, &options))?;
        to_python(py, &report)
    }

    /// Revokes `image_id`, an AMI of the keeper's region (or `region`): every pointer the
    /// configuration manages that names it, or its `copy_to` copy, moves back to the newest
    /// earlier AMI of its rule that is not rejected; the AMI and its copies are marked rejected
    /// and deprecated, and disabled with `disable` (default: `[revoke] disable`). When a pointer
    /// has no earlier good AMI nothing is written and the report's `status` is `refused`.
    #[pyo3(signature = (image_id, reason, *, dry_run = false, disable = None, region = None))]
    fn revoke(
        &self,
        py: Python<'_>,
        image_id: String,
        reason: String,
        dry_run: bool,
        disable: Option<bool>,
        region: Option<String>,
    ) -> PyResult<Py<PyAny>> {
        let image_id =
            image_id.parse::<ImageId>().map_err(|_| PyValueError::new_err(format!("`{image_id}` is not an AMI id")))?;
        if reason.trim().is_empty() {
            return Err(PyValueError::new_err("reason must say why (it is the AMI's amikeeper:rejected tag)"));
        }
        let region = self.region_or_default(py, region)?;
        let options = RevokeOptions::default().reason(reason).dry_run(dry_run).disable(disable);
        let report = block_on(py, || self.keeper.revoke(&region, &image_id, &options))?;
        to_python(py, &report)
    }

    /// Reads every pointer the configuration manages back, as `amikeeper status` does, and
    /// returns its report: in the keeper's region (the home region), each rule's `copy_to`
    /// regions and, with `fleet`, every `[[fleet]]` account and region; only `region` when given.
    /// Each pointer says the AMI it names, its state and protection; `findings` what is wrong;
    /// `errors` what could not be read (never taken for a missing pointer).
    #[pyo3(signature = (fleet = false, region = None))]
    fn status(&self, py: Python<'_>, fleet: bool, region: Option<String>) -> PyResult<Py<PyAny>> {
        let home = self.region_or_default(py, None)?;
        let only = region
            .map(|region| region.parse::<Region>().map_err(|error| PyValueError::new_err(error.to_string())))
            .transpose()?;
        let options = StatusOptions::default().fleet(fleet).region(only);
        let report = block_on(py, || self.keeper.status(&home, &options))?;
        to_python(py, &report)
    }

    /// Runs the bake of the rule named `rule` now, as its schedule would, and returns the
    /// report: images the builder instance, waits for the AMI (the configuration's wait, or
    /// `wait` seconds), and moves the rule's targets to it. When the AMI is still pending, the
    /// targets are deferred and its `EC2 AMI State Change` event finishes the job. With
    /// `dry_run` nothing is created or written. `region` defaults to the keeper's region;
    /// `account` (for `{account}`) to the configuration's only account. An unknown rule, or
    /// one without `bake`, is a `ConfigError`.
    #[pyo3(signature = (rule, *, region = None, dry_run = false, wait = None, account = None))]
    fn bake(
        &self,
        py: Python<'_>,
        rule: &str,
        region: Option<String>,
        dry_run: bool,
        wait: Option<u64>,
        account: Option<String>,
    ) -> PyResult<Py<PyAny>> {
        let region = self.region_or_default(py, region)?;
        let wait = wait.map(|seconds| WaitConfig { timeout_seconds: seconds, ..self.keeper.config().wait });
        let options = BakeOptions::default().dry_run(dry_run).wait(wait).account(account);
        let report = block_on(py, || self.keeper.bake(rule, &region, &options))?
            .map_err(|error| errors::from_core(py, error))?;
        to_python(py, &report)
    }

    /// Whether the configuration has a `[retention]` section, i.e. whether `sweep` can run.
    #[getter]
    fn has_retention(&self) -> bool {
        self.keeper.config().retention.is_some()
    }

    /// The region of sweeps, rollbacks and bakes that name none, if any.
    #[getter]
    fn region(&self) -> Option<&str> {
        self.default_region.as_deref()
    }

    fn __repr__(&self) -> String {
        let config = self.keeper.config();
        format!(
            "Keeper(rules={}, retention={}, region={})",
            config.rules.len(),
            if config.retention.is_some() { "True" } else { "False" },
            self.default_region.as_deref().map_or("None".to_owned(), |region| format!("'{region}'")),
        )
    }
}
