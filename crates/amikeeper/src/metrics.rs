//! CloudWatch metrics in the embedded metric format (EMF): what an invocation did, as JSON
//! records that CloudWatch Logs turns into metrics when a Lambda function prints them, one a
//! line, to its standard output. No `PutMetricData` call, no IAM permission, no latency.
//!
//! The records follow AWS's specification
//! (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>):
//! a root member `_aws` with `Timestamp` (epoch milliseconds) and one metric directive
//! (`Namespace`, `Dimensions`, `Metrics`), and each dimension and metric a member of the root.
//! Every metric is a `Count`. An invocation prints:
//!
//! - one record per rule and region whose targets a run reported: the pointer metrics
//!   ([`Metric::POINTERS`]), by `Rule` and `Region` and, summed by CloudWatch, by `Region`;
//! - one record per region an event or sweep ran in: the runs by status, the sweep's counts
//!   and the AWS calls, by `Region`;
//! - for an SQS batch with records that are no event, one record without dimensions:
//!   `RecordsRejected`.
//!
//! Cardinality stays that of the configuration: rules times regions. The limits of the
//! specification (30 dimension keys a dimension set, 100 metrics a directive) are far off:
//! 2 and [`Metric::ALL`]'s length.

use std::collections::BTreeMap;

use serde::Serialize;
use time::OffsetDateTime;

use crate::config::MetricsConfig;
use crate::keeper::{Invocation, RunReport};
use crate::publish::Status;
use crate::report::{Report, RunStatus};
use crate::retain::SweepReport;

named_enum! {
    /// A metric amikeeper prints, named as in CloudWatch.
    #[derive(PartialOrd, Ord)]
    pub enum Metric {
        /// Pointers moved to the event's AMI.
        PointersUpdated = "PointersUpdated",
        /// Pointers a dry run would have moved.
        PointersPlanned = "PointersPlanned",
        /// Pointers that already named the AMI.
        PointersUnchanged = "PointersUnchanged",
        /// Pointers left alone on purpose (they name a newer AMI, the AMI is not usable).
        PointersSkipped = "PointersSkipped",
        /// Pointers a later event moves (the AMI is pending, the stack busy).
        PointersDeferred = "PointersDeferred",
        /// Pointers refused for safety (a name outside the allow-list, a stack-managed resource).
        PointersRefused = "PointersRefused",
        /// Pointers whose move failed on AWS.
        PointersFailed = "PointersFailed",
        /// Events whose run ended `ok`.
        EventsOk = "EventsOk",
        /// Events whose run ended `deferred`.
        EventsDeferred = "EventsDeferred",
        /// Events no rule took (`ignored`).
        EventsIgnored = "EventsIgnored",
        /// Events refused, whole or in a target.
        EventsRefused = "EventsRefused",
        /// Events whose run failed.
        EventsFailed = "EventsFailed",
        /// Sweeps run (a schedule's, or a fleet target's).
        Sweeps = "Sweeps",
        /// Images a sweep retired (deregistered, deprecated or disabled).
        ImagesRetired = "ImagesRetired",
        /// Snapshots a sweep deleted.
        SnapshotsDeleted = "SnapshotsDeleted",
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

impl Metric {
    /// Every metric, in order.
    pub const ALL: [Self; 19] = [
        Self::PointersUpdated,
        Self::PointersPlanned,
        Self::PointersUnchanged,
        Self::PointersSkipped,
        Self::PointersDeferred,
        Self::PointersRefused,
        Self::PointersFailed,
        Self::EventsOk,
        Self::EventsDeferred,
        Self::EventsIgnored,
        Self::EventsRefused,
        Self::EventsFailed,
        Self::Sweeps,
        Self::ImagesRetired,
        Self::SnapshotsDeleted,
        Self::LaunchTemplateVersionsDeleted,
        Self::SweepActionsFailed,
        Self::AwsCalls,
        Self::RecordsRejected,
    ];

    /// The metrics of a rule's pointers, one per target status.
    pub const POINTERS: [Self; 7] = [
        Self::PointersUpdated,
        Self::PointersPlanned,
        Self::PointersUnchanged,
        Self::PointersSkipped,
        Self::PointersDeferred,
        Self::PointersRefused,
        Self::PointersFailed,
    ];

    /// The metric counting targets of `status`.
    pub fn of_target(status: Status) -> Self {
        match status {
            Status::Updated => Self::PointersUpdated,
            Status::Planned => Self::PointersPlanned,
            Status::Unchanged => Self::PointersUnchanged,
            Status::Skipped => Self::PointersSkipped,
            Status::Deferred => Self::PointersDeferred,
            Status::Refused => Self::PointersRefused,
            Status::Failed => Self::PointersFailed,
        }
    }

    /// The metric counting events whose run ended `status`.
    pub fn of_run(status: RunStatus) -> Self {
        match status {
            RunStatus::Ok => Self::EventsOk,
            RunStatus::Deferred => Self::EventsDeferred,
            RunStatus::Ignored => Self::EventsIgnored,
            RunStatus::Refused => Self::EventsRefused,
            RunStatus::Failed => Self::EventsFailed,
        }
    }

    /// The unit CloudWatch records it in.
    pub fn unit(self) -> Unit {
        Unit::Count
    }
}

named_enum! {
    /// A CloudWatch unit (of the specification's list) that amikeeper's metrics use.
    pub enum Unit {
        /// A count.
        Count = "Count",
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
            RunReport::Rejected(_) => *self.undimensioned.entry(Metric::RecordsRejected).or_default() += 1,
        }
    }

    /// Counts one handled event: its status and AWS calls in its region, each target's status
    /// under its rule.
    pub fn add_event(&mut self, report: &Report) {
        let region = &report.event.region;
        for target in &report.targets {
            let rule = self.by_rule.entry((target.rule.clone(), region.clone())).or_insert_with(zeros_of_pointers);
            *rule.entry(Metric::of_target(target.outcome.status)).or_default() += 1;
        }
        self.add_to_region(region, [(Metric::of_run(report.status), 1), (Metric::AwsCalls, report.aws_calls)]);
    }

    /// Counts one sweep, in the region it swept.
    pub fn add_sweep(&mut self, report: &SweepReport) {
        let summary = &report.summary;
        self.add_to_region(
            report.plan.region.as_str(),
            [
                (Metric::Sweeps, 1),
                (Metric::ImagesRetired, summary.images_retired),
                (Metric::SnapshotsDeleted, summary.snapshots_deleted),
                (Metric::LaunchTemplateVersionsDeleted, summary.launch_template_versions_deleted),
                (Metric::SweepActionsFailed, summary.failed),
                (Metric::AwsCalls, report.aws_calls),
            ],
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
        let regions =
            self.by_region.iter().map(|(region, values)| record(BTreeMap::from([(Dimension::Region, region.clone())]), values));
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
    Metric::POINTERS.iter().map(|&metric| (metric, 0)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_listed_once() {
        let names: std::collections::BTreeSet<&str> = Metric::ALL.iter().map(Metric::as_str).collect();
        assert_eq!(names.len(), Metric::ALL.len());
        assert!(Metric::POINTERS.iter().all(|metric| Metric::ALL.contains(metric)));
    }

    #[test]
    fn nothing_run_prints_nothing() {
        assert!(MetricCounts::default().records("amikeeper", OffsetDateTime::UNIX_EPOCH).is_empty());
    }
}
