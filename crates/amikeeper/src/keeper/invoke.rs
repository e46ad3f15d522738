//! [`Keeper::invoke`]: one Lambda-style invocation, and the run-time policy every binding and
//! binary shares: which events a payload carries, what a scheduled event that no rule takes
//! does, and when an invocation has failed.
//!
//! The Python `lambda_handler`, the Rust Lambda function, the embedded service and the CLI's
//! `handle` call it and only convert what it returns.

use std::fmt;

use serde::Serialize;

use super::{HandleOptions, Keeper};
use crate::deadline::Deadline;
use crate::error::{AwsError, Error};
use crate::events::{AmiEvent, EventError, EventKind, Parsed};
use crate::model::Region;
use crate::publish::Status;
use crate::report::{RejectedRecord, Report, RunStatus};
use crate::retain::{ItemStatus, SweepOptions, SweepReport};

options! {
    /// Options for one [`Keeper::invoke`].
    #[derive(Debug, Clone, Default)]
    pub struct InvokeOptions {
        /// How each event is handled.
        pub handle: HandleOptions,
        /// The sweep that a scheduled event no rule takes (no rule with `bake` matches it) runs in
        /// the event's region, when the configuration has `[retention]`. `None`: the event is only
        /// reported, as `ignored`.
        pub sweep_schedules: Option<SweepOptions>,
        /// When the invocation must have returned: for a Lambda function, its remaining time
        /// less what returning the report takes ([`Deadline::lambda`]). It bounds the wait for
        /// pending AMIs (the targets are `deferred`) and schedules' sweeps (a `partial` report;
        /// the next sweep finishes the plan), unless [`handle`](Self::handle) or
        /// [`sweep_schedules`](Self::sweep_schedules) set their own. `None`: no limit.
        pub deadline: Option<Deadline>,
    }
}

impl InvokeOptions {
    /// The options of a Lambda function: events handled as configured, and a schedule no rule
    /// takes sweeps its region, acting on the plan when `apply_sweeps` (else only planning).
    pub fn lambda(apply_sweeps: bool) -> Self {
        Self {
            handle: HandleOptions::default(),
            sweep_schedules: Some(SweepOptions::default().apply(apply_sweeps)),
            deadline: None,
        }
    }
}

/// How an invocation, or one of its runs, ended, ordered by precedence: when there are
/// several runs, the greatest decides. The CLI exits 0, 2 and 1 for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    /// Done: ok, deferred (the AMI's `EC2 AMI State Change` event finishes the job) or ignored.
    Done,
    /// Refused (another account, an unsafe name, an AMI EC2 does not know, an SQS record that
    /// is no event): nothing was written for what was refused, and a retry would be refused
    /// again.
    Refused,
    /// AWS work failed; everything else was still done, and a retry is safe.
    Failed,
}

impl Verdict {
    /// The verdict of one handled event (or bake).
    pub fn of_run(status: RunStatus) -> Self {
        match status {
            RunStatus::Ok | RunStatus::Deferred | RunStatus::Ignored => Self::Done,
            RunStatus::Refused => Self::Refused,
            RunStatus::Failed => Self::Failed,
        }
    }

    /// The verdict of a sweep: failed when any of its actions failed.
    pub fn of_sweep(report: &SweepReport) -> Self {
        if report.summary.failed > 0 {
            Self::Failed
        } else {
            Self::Done
        }
    }

    /// The verdict of several results: the one of highest precedence ([`Done`](Self::Done)
    /// for none).
    pub fn worst(verdicts: impl IntoIterator<Item = Self>) -> Self {
        verdicts.into_iter().max().unwrap_or(Self::Done)
    }
}

/// The report of one event of an invocation, of the sweep its scheduled event ran, or of an
/// SQS record that is no event. Serialized as the report itself.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
// An invocation makes a handful of these, each serialized once: no need to box the sweep.
#[allow(clippy::large_enum_variant)]
pub enum RunReport {
    /// What handling an event did.
    Event(Report),
    /// The sweep of a scheduled event's region.
    Sweep(SweepReport),
    /// A record of an SQS batch that is no event (a poison message); the other records were
    /// handled.
    Rejected(RejectedRecord),
}

impl RunReport {
    /// How the run ended.
    pub fn verdict(&self) -> Verdict {
        match self {
            Self::Event(report) => Verdict::of_run(report.status),
            Self::Sweep(report) => Verdict::of_sweep(report),
            Self::Rejected(_) => Verdict::Refused,
        }
    }

    /// Whether AWS work failed in the run (an event's, or a sweep action).
    pub fn failed(&self) -> bool {
        self.verdict() == Verdict::Failed
    }

    /// What failed in the run, in order: its failed targets, or its failed sweep actions.
    pub fn failed_items(&self) -> Vec<FailedItem> {
        match self {
            Self::Event(report) => report
                .targets
                .iter()
                .filter(|t| t.outcome.status == Status::Failed)
                .map(|t| FailedItem {
                    what: format!("{} {}: {}", t.target.kind, t.target.name, t.outcome.reason),
                    error: t.error.clone(),
                })
                .collect(),
            Self::Sweep(report) => report
                .results
                .iter()
                .filter(|r| r.status == ItemStatus::Failed)
                .map(|r| FailedItem {
                    what: format!("{} {}: {}", r.action, r.resource, r.detail.as_deref().unwrap_or("failed")),
                    error: None,
                })
                .collect(),
            Self::Rejected(_) => Vec::new(),
        }
    }
}

/// One line about a run, for logs: `backup_job event e-1 in eu-west-1: ok, 2 targets, 5 AWS
/// calls`, or `sweep applied: ok, 2 of 2 images retired, ...`.
impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Event(report) => write!(
                f,
                "{} event {} in {}: {}, {} targets, {} AWS calls",
                report.event.kind,
                report.event.event_id,
                report.event.region,
                json_name(&report.status),
                report.targets.len(),
                report.aws_calls
            ),
            Self::Sweep(report) => {
                let summary = &report.summary;
                write!(
                    f,
                    "sweep {}: {}, {} of {} images retired, {} of {} snapshots deleted, {} failed, {} AWS calls",
                    if report.applied { "applied" } else { "planned" },
                    report.status,
                    summary.images_retired,
                    summary.images_planned,
                    summary.snapshots_deleted,
                    summary.snapshots_planned,
                    summary.failed,
                    report.aws_calls
                )
            }
            Self::Rejected(rejected) => write!(
                f,
                "SQS record {} (messageId {}) rejected, not retried: {}",
                rejected.record, rejected.message_id, rejected.error
            ),
        }
    }
}

/// One thing that failed in a run: a target or a sweep action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedItem {
    /// What failed and why: `ssm_parameter /ami/web: ...`, `deregister_image ami-...: ...`.
    pub what: String,
    /// The AWS error, when AWS said why.
    pub error: Option<AwsError>,
}

/// Why an invocation failed: the first run that failed, and what failed in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvocationFailure {
    /// The index of the first failed run in [`Invocation::runs`].
    pub run: usize,
    /// How many runs failed.
    pub failed_runs: usize,
    /// How many runs there were.
    pub runs: usize,
    /// What failed in the first failed run, in order; empty when the run failed as a whole.
    pub items: Vec<FailedItem>,
    /// Why the first failed run failed as a whole (its report's reason), if it says.
    pub reason: Option<String>,
}

impl InvocationFailure {
    /// The failed item to name first: the first with an AWS error, else the first.
    pub fn first(&self) -> Option<&FailedItem> {
        self.items.iter().find(|item| item.error.is_some()).or_else(|| self.items.first())
    }

    /// The first failed item's AWS error, if AWS said why.
    pub fn aws_error(&self) -> Option<&AwsError> {
        self.first().and_then(|item| item.error.as_ref())
    }
}

/// `2 failed; ssm_parameter /ami/web: ...` (an item with an AWS error), `1 failed; the first:
/// ...`, or `the run failed: REASON`.
impl fmt::Display for InvocationFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.first() {
            Some(item) if item.error.is_some() => write!(f, "{} failed; {}", self.items.len(), item.what),
            Some(item) => write!(f, "{} failed; the first: {}", self.items.len(), item.what),
            None => write!(f, "the run failed: {}", self.reason.as_deref().unwrap_or("no reason given")),
        }
    }
}

/// One record of an SQS batch to deliver again: an item of an SQS partial batch response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchItemFailure {
    /// The record's `messageId`.
    #[serde(rename = "itemIdentifier")]
    pub item_identifier: String,
}

/// What a Lambda function with `ReportBatchItemFailures` returns for an SQS batch:
/// `{"batchItemFailures": [{"itemIdentifier": "..."}]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SqsBatchResponse {
    /// The records whose run failed.
    #[serde(rename = "batchItemFailures")]
    pub batch_item_failures: Vec<BatchItemFailure>,
}

/// What one invocation did.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// One run per event of the payload, in order: the event's report, or the sweep its
    /// schedule ran.
    pub runs: Vec<RunReport>,
    /// The SQS `messageId` of each run's record, when the payload was an SQS batch.
    pub message_ids: Option<Vec<String>>,
}

impl Invocation {
    /// How the invocation ended: the verdict of highest precedence among its runs.
    pub fn verdict(&self) -> Verdict {
        Verdict::worst(self.runs.iter().map(RunReport::verdict))
    }

    /// Why the invocation failed; `None` when no run failed.
    pub fn failure(&self) -> Option<InvocationFailure> {
        let failed: Vec<usize> = (0..self.runs.len()).filter(|&i| self.runs[i].failed()).collect();
        let &run = failed.first()?;
        let reason = match &self.runs[run] {
            RunReport::Event(report) => report.reason.clone(),
            RunReport::Sweep(_) | RunReport::Rejected(_) => None,
        };
        Some(InvocationFailure {
            run,
            failed_runs: failed.len(),
            runs: self.runs.len(),
            items: self.runs[run].failed_items(),
            reason,
        })
    }

    /// For an SQS batch, the records to deliver again: those whose run failed. A refused run
    /// (a record that is no event among them) would be refused again, so it is not listed.
    /// `None` when the payload was not an SQS batch.
    pub fn sqs_batch_response(&self) -> Option<SqsBatchResponse> {
        let ids = self.message_ids.as_ref()?;
        let batch_item_failures = self
            .runs
            .iter()
            .zip(ids)
            .filter(|(run, _)| run.failed())
            .map(|(_, id)| BatchItemFailure { item_identifier: id.clone() })
            .collect();
        Some(SqsBatchResponse { batch_item_failures })
    }
}

/// Why an invocation could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InvokeError {
    /// The payload is malformed or unsupported; nothing was done.
    #[error(transparent)]
    Event(#[from] EventError),
    /// The sweep a schedule started could not run (no inventory); the events before it were
    /// handled, and the sweep changed nothing.
    #[error(transparent)]
    Sweep(Error),
}

impl Keeper {
    /// Answers one invocation: parses `payload` (one event, or an SQS or SNS batch) with the
    /// keeper's parser ([`EventParser::parse_records`](crate::events::EventParser::parse_records)),
    /// handles each event in order, and then, with [`InvokeOptions::sweep_schedules`], sweeps
    /// the region of each scheduled event that no rule took.
    ///
    /// A record of an SQS batch that is no event is reported ([`RunReport::Rejected`]) and
    /// logged, and the other records are handled. Fails only when the payload cannot be parsed
    /// (an event, an SNS batch, a payload that is not an SQS batch: nothing was done), or a
    /// schedule's sweep cannot run; what failed in a run is in its report, and in
    /// [`Invocation::failure`].
    pub async fn invoke(&self, payload: &[u8], options: &InvokeOptions) -> Result<Invocation, InvokeError> {
        let handle = options.handle.clone().deadline(options.handle.deadline.or(options.deadline));
        let sweep = options.sweep_schedules.clone().map(|sweep| {
            let deadline = sweep.deadline.or(options.deadline);
            sweep.deadline(deadline)
        });
        let (records, message_ids): (Vec<Result<AmiEvent, RejectedRecord>>, _) =
            match self.parser.parse_records(payload)? {
                Parsed::Events(events) => {
                    let ids = sqs_message_ids(payload).filter(|ids| ids.len() == events.len());
                    (events.into_iter().map(Ok).collect(), ids)
                }
                Parsed::SqsBatch(records) => {
                    let ids = records.iter().map(|record| record.message_id.clone()).collect();
                    let events = records
                        .into_iter()
                        .enumerate()
                        .map(|(index, record)| {
                            record.event.map_err(|error| RejectedRecord::new(index, record.message_id, error))
                        })
                        .collect();
                    (events, Some(ids))
                }
            };
        let mut handled = Vec::with_capacity(records.len());
        for record in records {
            handled.push(match record {
                Ok(event) => Ok(self.handle_with(&event, &handle).await),
                Err(rejected) => {
                    tracing::warn!(target: super::LOG, record = rejected.record, message_id = %rejected.message_id,
                        error = %rejected.error, "SQS record rejected: it is no event amikeeper handles, and is not retried");
                    Err(rejected)
                }
            });
        }
        let mut runs = Vec::with_capacity(handled.len());
        for run in handled {
            runs.push(match run {
                Ok(report) => self.finish_schedule(report, sweep.as_ref()).await?,
                Err(rejected) => RunReport::Rejected(rejected),
            });
        }
        Ok(Invocation { runs, message_ids })
    }

    /// The sweep of a scheduled event's region, for a schedule no rule took; else `report`.
    async fn finish_schedule(&self, report: Report, sweep: Option<&SweepOptions>) -> Result<RunReport, InvokeError> {
        let unclaimed = report.event.kind == EventKind::Scheduled && report.status == RunStatus::Ignored;
        match sweep {
            Some(options) if unclaimed && self.config().retention.is_some() => {
                let region = Region::from(report.event.region.as_str());
                self.sweep(&region, options).await.map(RunReport::Sweep).map_err(InvokeError::Sweep)
            }
            _ => Ok(RunReport::Event(report)),
        }
    }
}

/// How `value` shows in JSON, without quotes: `ok` for [`RunStatus::Ok`].
fn json_name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        Ok(other) => other.to_string(),
        Err(_) => "?".to_owned(),
    }
}

/// The `messageId` of each record of an SQS batch; `None` for any other payload. For a parser
/// that parses an SQS batch whole ([`Parsed::Events`]).
fn sqs_message_ids(payload: &[u8]) -> Option<Vec<String>> {
    let value: serde_json::Value = serde_json::from_slice(payload).ok()?;
    let records = value.get("Records")?.as_array()?;
    records
        .iter()
        .map(|record| {
            let from_sqs = record.get("eventSource").and_then(|s| s.as_str()) == Some("aws:sqs");
            from_sqs.then(|| record.get("messageId")?.as_str().map(str::to_owned)).flatten()
        })
        .collect()
}
