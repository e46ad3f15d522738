//! The CloudWatch embedded metric format records of an invocation: what they count, and that
//! each is a valid EMF document by the rules of AWS's specification
//! (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>).
//! The wheel's tests (python/tests/test_metrics.py) also validate the lines the Lambda handler
//! prints against the specification's JSON schema.

use std::sync::Arc;

use amikeeper::backend::RetryPolicy;
use amikeeper::config::MetricsConfig;
use amikeeper::memory::{Fault, FaultKind, ImageSeed};
use amikeeper::metrics::{self, MetricCounts};
use amikeeper::model::ImageId;
use amikeeper::samples::{sqs_batch, Origin};
use amikeeper::testing::{self, configs, ACCOUNT, REGION};
use amikeeper::{Config, InvokeOptions, Keeper, MemoryAws, RunReport};
use serde_json::{json, Map, Value};
use time::{Duration, OffsetDateTime};

/// The units the specification allows (`MetricDefinition`'s `Unit`).
const UNITS: [&str; 27] = [
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

fn keys(object: &Map<String, Value>) -> Vec<&str> {
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

/// Checks one line against the specification's rules; returns the record.
fn valid_emf(line: &str, at: OffsetDateTime) -> Map<String, Value> {
    assert!(!line.contains('\n'), "one line: {line}");
    assert!(line.len() <= 256 * 1024, "a log event of at most 256 KB");
    let Value::Object(root) = serde_json::from_str(line).expect("a JSON object") else { panic!("an object: {line}") };
    let aws = root["_aws"].as_object().expect("`_aws` is an object");
    // The specification's objects hold no other members.
    assert_eq!(keys(aws), ["CloudWatchMetrics", "Timestamp"], "{line}");
    let timestamp = aws["Timestamp"].as_i64().expect("Timestamp is an integer");
    assert_eq!(i128::from(timestamp), at.unix_timestamp_nanos() / 1_000_000, "epoch milliseconds");
    let directives = aws["CloudWatchMetrics"].as_array().expect("CloudWatchMetrics is an array");
    assert!(!directives.is_empty());
    for directive in directives {
        let directive = directive.as_object().expect("a MetricDirective is an object");
        assert_eq!(keys(directive), ["Dimensions", "Metrics", "Namespace"], "{line}");
        let namespace = directive["Namespace"].as_str().expect("Namespace is a string");
        assert!((1..=1024).contains(&namespace.len()));
        let sets = directive["Dimensions"].as_array().expect("Dimensions is an array");
        assert!(!sets.is_empty(), "at least one DimensionSet");
        for set in sets {
            let set = set.as_array().expect("a DimensionSet is an array");
            assert!(set.len() <= 30, "at most 30 dimension keys: {line}");
            for key in set {
                let key = key.as_str().expect("a dimension key is a string");
                assert!((1..=250).contains(&key.len()));
                let value = root.get(key).unwrap_or_else(|| panic!("dimension {key} is a member of the root: {line}"));
                let value = value.as_str().unwrap_or_else(|| panic!("dimension {key}'s value is a string: {line}"));
                assert!((1..=1024).contains(&value.len()));
            }
        }
        let definitions = directive["Metrics"].as_array().expect("Metrics is an array");
        assert!(definitions.len() <= 100, "at most 100 metrics a directive: {line}");
        for definition in definitions {
            let definition = definition.as_object().expect("a MetricDefinition is an object");
            assert!(keys(definition).iter().all(|key| ["Name", "StorageResolution", "Unit"].contains(key)), "{line}");
            let name = definition["Name"].as_str().expect("Name is a string");
            assert!((1..=1024).contains(&name.len()));
            let value = root.get(name).unwrap_or_else(|| panic!("metric {name} is a member of the root: {line}"));
            assert!(value.is_number(), "metric {name}'s value is a number: {line}");
            let unit = definition["Unit"].as_str().expect("Unit is a string");
            assert!(UNITS.contains(&unit), "{unit} is a unit of the specification");
        }
    }
    root
}

fn backup_job(image: &ImageId, id: &str) -> Value {
    Origin::new(ACCOUNT, REGION, id).backup_job(image.as_str(), "i-0123456789abcdef0", "COMPLETED")
}

fn config() -> Config {
    Config::from_toml(configs::PARAMETER_FROM_TAG_KEEP_ONE).expect("valid config")
}

fn aws_calls(runs: &[RunReport]) -> u64 {
    runs.iter()
        .map(|run| match run {
            RunReport::Event(report) => report.aws_calls as u64,
            RunReport::Sweep(report) => report.aws_calls as u64,
            _ => 0,
        })
        .sum()
}

#[tokio::test(start_paused = true)]
async fn an_sqs_batch_counts_its_pointers_by_rule_and_region_and_its_rejected_records() {
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let keeper = Keeper::new(config(), aws.clone());
    let good = aws.add_image(REGION, ImageSeed::new("metrics-good").tag("ImageIdParameterName", "/ami/good"));
    let failing = aws.add_image(REGION, ImageSeed::new("metrics-bad").tag("ImageIdParameterName", "/ami/bad"));
    aws.inject(Fault::on("ssm:PutParameter", FaultKind::ServerError).times(RetryPolicy::TARGETS.attempts()));
    let mut batch = sqs_batch(&[backup_job(&failing, "bad"), json!({}), backup_job(&good, "good")]);
    batch["Records"][1]["body"] = "not json".into();
    let invocation = keeper.invoke(&serde_json::to_vec(&batch).unwrap(), &InvokeOptions::lambda(true)).await.unwrap();

    let at = OffsetDateTime::from_unix_timestamp(1_764_892_800).unwrap() + Duration::milliseconds(123);
    let config = MetricsConfig { namespace: "Platform/amikeeper".into(), ..MetricsConfig::default() };
    let lines = metrics::lines(&MetricCounts::of_invocation(&invocation), &config, at);
    let records: Vec<Map<String, Value>> = lines.iter().map(|line| valid_emf(line, at)).collect();
    assert_eq!(records.len(), 3, "a rule's, a region's, the rejected records': {lines:#?}");
    let directive = |record: &Map<String, Value>| record["_aws"]["CloudWatchMetrics"][0].clone();

    let rule = &records[0];
    assert_eq!((&rule["Rule"], &rule["Region"]), (&json!("parameter-from-tag"), &json!(REGION)));
    assert_eq!(directive(rule)["Namespace"], "Platform/amikeeper");
    assert_eq!(directive(rule)["Dimensions"], json!([["Rule", "Region"], ["Region"]]));
    let pointers: Vec<(&str, u64)> =
        ["PointersUpdated", "PointersUnchanged", "PointersDeferred", "PointersRefused", "PointersFailed"]
            .into_iter()
            .map(|name| (name, rule[name].as_u64().unwrap()))
            .collect();
    assert_eq!(
        pointers,
        [
            ("PointersUpdated", 1),
            ("PointersUnchanged", 0),
            ("PointersDeferred", 0),
            ("PointersRefused", 0),
            ("PointersFailed", 1)
        ]
    );

    let region = &records[1];
    assert_eq!(directive(region)["Dimensions"], json!([["Region"]]));
    assert_eq!((region["EventsOk"].as_u64(), region["EventsFailed"].as_u64()), (Some(1), Some(1)));
    assert_eq!(region["AwsCalls"].as_u64(), Some(aws_calls(&invocation.runs)));
    assert!(aws_calls(&invocation.runs) > 0);
    assert!(region.get("Sweeps").is_none(), "no sweep ran");

    // The README shows this record.
    let readme = include_str!("../../../README.md");
    assert!(readme.lines().any(|line| line == lines[0]), "README.md shows the rule's record as printed:\n{}", lines[0]);

    let rejected = &records[2];
    assert_eq!(directive(rejected)["Dimensions"], json!([[]]), "no dimension: a poison record has no region");
    assert_eq!(rejected["RecordsRejected"], 1);

    // Off: nothing printed.
    let off = MetricsConfig { enabled: false, ..MetricsConfig::default() };
    assert!(metrics::lines(&MetricCounts::of_invocation(&invocation), &off, at).is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_scheduled_sweep_counts_what_it_retired_in_its_region() {
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    testing::web_images(&aws, 3, Duration::days(10), ("ImageIdParameterName", "/ami/web"));
    let keeper = Keeper::new(config(), aws.clone());
    let schedule = serde_json::to_vec(&Origin::new(ACCOUNT, REGION, "nightly").scheduled("nightly")).unwrap();
    let invocation = keeper.invoke(&schedule, &InvokeOptions::lambda(true)).await.unwrap();
    let [RunReport::Sweep(report)] = invocation.runs.as_slice() else { panic!("one sweep: {invocation:#?}") };
    assert_eq!(report.summary.images_retired, 2);

    let at = aws.now();
    let lines = metrics::lines(&MetricCounts::of_invocation(&invocation), &MetricsConfig::default(), at);
    let [line] = lines.as_slice() else { panic!("the region's record alone: {lines:#?}") };
    let record = valid_emf(line, at);
    assert_eq!(record["_aws"]["CloudWatchMetrics"][0]["Namespace"], "amikeeper");
    assert_eq!(record["Region"], REGION);
    let summary = &report.summary;
    for (name, value) in [
        ("Sweeps", 1),
        ("ImagesRetired", summary.images_retired),
        ("SnapshotsDeleted", summary.snapshots_deleted),
        ("GigabytesFreed", summary.snapshot_gib_deleted as usize),
        ("LaunchTemplateVersionsDeleted", summary.launch_template_versions_deleted),
        ("SweepActionsFailed", summary.failed),
        ("AwsCalls", report.aws_calls),
    ] {
        assert_eq!(record[name].as_u64(), Some(value as u64), "{name}: {line}");
    }
    assert!(summary.snapshots_deleted > 0, "the retired images' snapshots: {line}");
    assert!(summary.snapshot_gib_deleted > 0, "their volumes' sizes: {line}");
    let units: Vec<(&str, &str)> = record["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["Name"].as_str().unwrap(), m["Unit"].as_str().unwrap()))
        .collect();
    assert!(units.contains(&("GigabytesFreed", "Gigabytes")), "{units:?}");
    assert!(units.contains(&("SnapshotsDeleted", "Count")), "{units:?}");
}
