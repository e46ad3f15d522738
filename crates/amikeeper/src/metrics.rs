//! CloudWatch metrics in the embedded metric format (EMF): what an invocation did, as JSON
//! records that CloudWatch Logs turns into metrics when a Lambda function prints them, one a
//! line, to its standard output. No `PutMetricData` call, no IAM permission, no latency.
//!
//! The records follow AWS's specification
//! (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>):
//! a root member `_aws` with `Timestamp` (epoch milliseconds) and one metric directive
//! (`Namespace`, `Dimensions`, `Metrics`), and each dimension and metric a member of the root.
//! Every metric is a `Count` but `GigabytesFreed` (`Gigabytes`). An invocation prints:
//!
//! - one record per rule and region whose targets a run reported: the pointer metrics
//!   ([`Metric::Pointers`]), by `Rule` and `Region` and, summed by CloudWatch, by `Region`;
//! - one record per region an event or sweep ran in: the runs by status, the sweep's counts
//!   and the AWS calls, by `Region`;
//! - for an SQS batch with records that are no event, one record without dimensions:
//!   `RecordsRejected`.
//!
//! Cardinality stays that of the configuration: rules times regions. The limits of the
//! specification (30 dimension keys a dimension set, 100 metrics a directive) are far off:
//! 2 and 20.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use time::OffsetDateTime;

use crate::config::MetricsConfig;
use crate::keeper::{Invocation, RunReport};
use crate::publish::Status;
use crate::report::{Report, RunStatus};
use crate::retain::SweepReport;

/// A metric amikeeper prints, named in CloudWatch as it displays: `PointersUpdated`,
/// `EventsFailed`, `ImagesRetired`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    /// Targets (pointers) whose publish ended with the status, under their rule:
    /// `PointersUpdated` (moved), `PointersPlanned` (a dry run would move it),
    /// `PointersUnchanged`, `PointersSkipped` (left alone on purpose), `PointersDeferred` (a later
    /// event moves it), `PointersRefused` (for safety), `PointersFailed` (on AWS).
    Pointers(Status),
    /// Events whose run ended with the status: `EventsOk`, `EventsDeferred`, `EventsIgnored`,
    /// `EventsRefused`, `EventsFailed`.
    Events(RunStatus),
    /// A count of its own.
    Count(Counter),
}

impl Metric {
    /// Every target status, each the suffix of one [`Metric::Pointers`].
    pub const TARGET_STATUSES: [Status; 7] = [
        Status::Updated,
        Status::Planned,
        Status::Unchanged,
        Status::Skipped,
        Status::Deferred,
        Status::Refused,
        Status::Failed,
    ];

    /// The unit CloudWatch records it in.
    pub fn unit(self) -> Unit {
        match self {
            Self::Count(Counter::GigabytesFreed) => Unit::Gigabytes,
            _ => Unit::Count,
        }
    }
}

/// `Pointers` or `Events` and the status capitalised (`PointersUpdated`), or the counter's name.
impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (prefix, status) = match self {
            Self::Pointers(status) => ("Pointers", status.as_str()),
            Self::Events(status) => ("Events", status.as_str()),
            Self::Count(counter) => return f.write_str(counter.as_str()),
        };
        let mut chars = status.chars();
        let first = chars.next().map(|c| c.to_ascii_uppercase()).into_iter();
        write!(f, "{prefix}{}", first.chain(chars).collect::<String>())
    }
}

impl Serialize for Metric {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// By name, as the records list them.
impl Ord for Metric {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.to_string().cmp(&other.to_string())
    }
}

impl PartialOrd for Metric {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

named_enum! {
    /// A metric that is a count of its own ([`Metric::Count`]).
    pub enum Counter {
        /// Sweeps run (a schedule's, or a fleet target's).
        Sweeps = "Sweeps",
        /// Images a sweep retired (deregistered, deprecated or disabled).
        ImagesRetired = "ImagesRetired",
        /// Snapshots a sweep deleted.
        SnapshotsDeleted = "SnapshotsDeleted",
        /// The GiB of the volumes of the snapshots a sweep deleted, as EC2 reports their size
        /// (`Ebs.VolumeSize`, an upper bound: snapshots are billed incrementally).
        GigabytesFreed = "GigabytesFreed",
        /// Launch template versions a sweep deleted.
        LaunchTemplateVersionsDeleted = "LaunchTemplateVersionsDeleted",
        /// Sweep actions that failed (the next sweep tries them again).
        SweepActionsFailed = "SweepActionsFailed",
        /// AWS calls the runs made.
        AwsCalls = "AwsCalls",
        /// Records of an SQS batch that are no event (not delivered again).
        RecordsRejected = "RecordsRejected",
    }
}

named_enum! {
    /// A CloudWatch unit (of the specification's list) that amikeeper's metrics use.
    pub enum Unit {
        /// A count.
        Count = "Count",
        /// Gigabytes (here GiB, as EBS sizes volumes).
        Gigabytes = "Gigabytes",
    }
}

named_enum! {
    /// A dimension of amikeeper's metrics, named as in CloudWatch.
    #[derive(PartialOrd, Ord)]
    pub enum Dimension {
        /// The rule's `name`.
        Rule = "Rule",
        /// The region the event or sweep ran in.
        Region = "Region",
    }
}

/// One EMF record: one line of the function's output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EmfRecord {
    /// The metadata that makes the line a metric record.
    #[serde(rename = "_aws")]
    pub metadata: EmfMetadata,
    /// The dimensions' values, each a member of the root.
    #[serde(flatten)]
    pub dimensions: BTreeMap<Dimension, String>,
    /// The metrics' values, each a member of the root.
    #[serde(flatten)]
    pub values: BTreeMap<Metric, u64>,
}

impl EmfRecord {
    /// The record as one line of JSON.
    pub fn to_line(&self) -> String {
        // Strings, enums and integers only: serializing cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The `_aws` member of a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EmfMetadata {
    /// When the metrics were taken, in milliseconds since the epoch.
    #[serde(rename = "Timestamp")]
    pub timestamp: i64,
    /// The metric directives: amikeeper writes one.
    #[serde(rename = "CloudWatchMetrics")]
    pub directives: Vec<MetricDirective>,
}

/// Which members of the record are metrics, under which namespace and dimension sets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MetricDirective {
    /// The CloudWatch namespace (`[metrics] namespace`).
    #[serde(rename = "Namespace")]
    pub namespace: String,
    /// The dimension sets each metric is recorded under; an empty set: no dimension.
    #[serde(rename = "Dimensions")]
    pub dimensions: Vec<Vec<Dimension>>,
    /// The metrics.
    #[serde(rename = "Metrics")]
    pub metrics: Vec<MetricDefinition>,
}

/// One metric of a directive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MetricDefinition {
    /// The member of the record that holds its value.
    #[serde(rename = "Name")]
    pub name: Metric,
    /// Its unit.
    #[serde(rename = "Unit")]
    pub unit: Unit,
}

/// What runs did, counted by rule and region: the source of the EMF records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricCounts {
    by_rule: BTreeMap<(String, String), BTreeMap<Metric, u64>>,
    by_region: BTreeMap<String, BTreeMap<Metric, u64>>,
    undimensioned: BTreeMap<Metric, u64>,
}

impl MetricCounts {
    /// The counts of every run of an invocation.
    pub fn of_invocation(invocation: &Invocation) -> Self {
        let mut counts = Self::default();
        for run in &invocation.runs {
            counts.add_run(run);
        }
        counts
    }

    /// Counts one run.
    pub fn add_run(&mut self, run: &RunReport) {
        match run {
            RunReport::Event(report) => self.add_event(report),
            RunReport::Sweep(report) => self.add_sweep(report),
            RunReport::Rejected(_) => {
                *self.undimensioned.entry(Metric::Count(Counter::RecordsRejected)).or_default() += 1
            }
        }
    }

    /// Counts one handled event: its status and AWS calls in its region, each target's status
    /// under its rule.
    pub fn add_event(&mut self, report: &Report) {
        let region = &report.event.region;
        for target in &report.targets {
            let rule = self.by_rule.entry((target.rule.clone(), region.clone())).or_insert_with(zeros_of_pointers);
            *rule.entry(Metric::Pointers(target.outcome.status)).or_default() += 1;
        }
        self.add_to_region(
            region,
            [(Metric::Events(report.status), 1), (Metric::Count(Counter::AwsCalls), report.aws_calls)],
        );
    }

    /// Counts one sweep, in the region it swept.
    pub fn add_sweep(&mut self, report: &SweepReport) {
        let summary = &report.summary;
        self.add_to_region(
            report.plan.region.as_str(),
            [
                (Counter::Sweeps, 1),
                (Counter::ImagesRetired, summary.images_retired),
                (Counter::SnapshotsDeleted, summary.snapshots_deleted),
                (Counter::GigabytesFreed, summary.snapshot_gib_deleted as usize),
                (Counter::LaunchTemplateVersionsDeleted, summary.launch_template_versions_deleted),
                (Counter::SweepActionsFailed, summary.failed),
                (Counter::AwsCalls, report.aws_calls),
            ]
            .map(|(counter, value)| (Metric::Count(counter), value)),
        );
    }

    fn add_to_region(&mut self, region: &str, values: impl IntoIterator<Item = (Metric, usize)>) {
        let counts = self.by_region.entry(region.to_owned()).or_default();
        for (metric, value) in values {
            *counts.entry(metric).or_default() += value as u64;
        }
    }

    /// The records, taken at `at`, under `namespace`: one per rule and region, one per region,
    /// and one without dimensions when records were rejected. None when nothing ran.
    pub fn records(&self, namespace: &str, at: OffsetDateTime) -> Vec<EmfRecord> {
        let timestamp = (at.unix_timestamp_nanos() / 1_000_000) as i64;
        let record = |dimensions: BTreeMap<Dimension, String>, values: &BTreeMap<Metric, u64>| {
            let keys: Vec<Dimension> = dimensions.keys().copied().collect();
            let sets = match keys.as_slice() {
                // By rule and region, and by region alone: CloudWatch sums a region's rules.
                [Dimension::Rule, Dimension::Region] => vec![keys.clone(), vec![Dimension::Region]],
                _ => vec![keys],
            };
            EmfRecord {
                metadata: EmfMetadata {
                    timestamp,
                    directives: vec![MetricDirective {
                        namespace: namespace.to_owned(),
                        dimensions: sets,
                        metrics: values.keys().map(|&name| MetricDefinition { name, unit: name.unit() }).collect(),
                    }],
                },
                dimensions,
                values: values.clone(),
            }
        };
        let rules = self.by_rule.iter().map(|((rule, region), values)| {
            record(BTreeMap::from([(Dimension::Rule, rule.clone()), (Dimension::Region, region.clone())]), values)
        });
        let regions = self
            .by_region
            .iter()
            .map(|(region, values)| record(BTreeMap::from([(Dimension::Region, region.clone())]), values));
        let rest = (!self.undimensioned.is_empty()).then(|| record(BTreeMap::new(), &self.undimensioned));
        rules.chain(regions).chain(rest).collect()
    }
}

/// The lines a Lambda function prints for what `counts` counted, taken at `at`: one EMF record
/// each, under `[metrics] namespace`; none when `[metrics] enabled = false`.
pub fn lines(counts: &MetricCounts, config: &MetricsConfig, at: OffsetDateTime) -> Vec<String> {
    if !config.enabled {
        return Vec::new();
    }
    counts.records(&config.namespace, at).iter().map(EmfRecord::to_line).collect()
}

/// Every pointer metric at 0, so that a rule's record names them all and an alarm on one
/// sees a 0 rather than no data.
fn zeros_of_pointers() -> BTreeMap<Metric, u64> {
    Metric::TARGET_STATUSES.iter().map(|&status| (Metric::Pointers(status), 0)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_named_as_cloudwatch_shows_them() {
        let names: Vec<String> = Metric::TARGET_STATUSES.iter().map(|&s| Metric::Pointers(s).to_string()).collect();
        assert_eq!(
            names,
            [
                "PointersUpdated",
                "PointersPlanned",
                "PointersUnchanged",
                "PointersSkipped",
                "PointersDeferred",
                "PointersRefused",
                "PointersFailed"
            ]
        );
        assert_eq!(Metric::Events(RunStatus::Ok).to_string(), "EventsOk");
        assert_eq!(serde_json::to_value(Metric::Count(Counter::AwsCalls)).unwrap(), "AwsCalls");
    }

    #[test]
    fn nothing_run_prints_nothing() {
        assert!(MetricCounts::default().records("amikeeper", OffsetDateTime::UNIX_EPOCH).is_empty());
    }
}
