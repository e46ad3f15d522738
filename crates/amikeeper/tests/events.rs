//! Event parsing: every fixture to the events `amikeeper parse` prints for it, edited fixtures
//! to the fields they change, then malformed and unsupported payloads (`malformed_events.json`,
//! and a few built here), each with the error variant and what its message names.

use amikeeper::events::{
    parse_payload, parse_value, supported, AmiEvent, EventError, EventParser, StandardEventParser, MAX_DEPTH,
    MAX_PAYLOAD_BYTES, SUPPORTED,
};
use serde::Deserialize;
use serde_json::{json, Value};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/events/fixtures");

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{FIXTURES}/{name}");
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

fn fixture_value(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).expect("fixture is JSON")
}

/// Parses a fixture as bytes and as a value (both must agree) and returns its events.
fn parse_fixture(name: &str) -> Vec<AmiEvent> {
    let from_bytes = parse_payload(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let from_value = parse_value(&fixture_value(name)).unwrap_or_else(|e| panic!("{name} as a value: {e}"));
    assert_eq!(from_bytes, from_value, "{name}: bytes and value disagree");
    let parser: &dyn EventParser = &StandardEventParser::new();
    assert_eq!(parser.parse(&fixture(name)).unwrap(), from_bytes, "{name}: trait and function disagree");
    from_bytes
}

fn parse_one(name: &str) -> AmiEvent {
    let mut events = parse_fixture(name);
    assert_eq!(events.len(), 1, "{name}: one event");
    events.remove(0)
}

/// The fixtures (not the AWS documentation's, which `aws_docs_events.rs` reads).
fn fixture_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(FIXTURES)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".json"))
        .collect();
    names.sort();
    names
}

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// Each fixture gives the events in `fixtures/parsed/NAME`, printed byte for byte as there
/// (snake_case kinds, no nulls), and they read back the same.
#[test]
fn every_fixture_prints_its_parsed_events() {
    let names = fixture_names();
    assert_eq!(names.len(), 13, "{names:?}");
    for name in names {
        let events = parse_fixture(&name);
        let printed = serde_json::to_string_pretty(&events).unwrap() + "\n";
        let want = String::from_utf8(fixture(&format!("parsed/{name}"))).unwrap();
        assert_eq!(printed, want, "{name}");
        let json = serde_json::to_value(&events).unwrap();
        for event in json.as_array().unwrap() {
            let kind = event["kind"].as_str().unwrap();
            assert!(supported().iter().any(|source| source.kind().as_str() == kind), "{name}: {kind}");
            assert!(event.as_object().unwrap().values().all(|v| !v.is_null()), "{name}: no nulls");
        }
        let back: Vec<AmiEvent> = serde_json::from_value(json).unwrap();
        assert_eq!(back, events, "{name}: round trip");
    }
}

/// The envelopes give the same events as the bare fixtures, one per record, in order.
#[test]
fn envelopes_give_the_events_they_wrap() {
    let batch = parse_fixture("sqs_batch.json");
    assert_eq!(batch, vec![parse_one("ami_state_change_available.json"), parse_one("backup_job_completed.json")]);
    assert_eq!(parse_one("sns_record.json"), parse_one("cloudtrail_create_image_dlm.json"));
    assert_eq!(parse_one("sqs_sns_record.json"), parse_one("cloudtrail_copy_image.json"));

    // An SNS notification delivered to an HTTPS endpoint: the payload is the notification.
    let records = fixture_value("sqs_sns_record.json");
    let body = records["Records"][0]["body"].as_str().unwrap();
    assert_eq!(parse_payload(body.as_bytes()).unwrap(), vec![parse_one("cloudtrail_copy_image.json")]);

    // SNS to SQS with raw message delivery: the body is the EventBridge event itself.
    let mut batch = fixture_value("sqs_sns_record.json");
    batch["Records"][0]["body"] = json!(String::from_utf8(fixture("cloudtrail_copy_image.json")).unwrap());
    assert_eq!(parse_value(&batch).unwrap(), vec![parse_one("cloudtrail_copy_image.json")]);
}

#[test]
fn unknown_extra_fields_are_fine_and_bom_is_skipped() {
    let mut value = fixture_value(AMI_STATE);
    value["surprise"] = json!({"nested": [1, 2, 3]});
    value["detail"]["NewField"] = json!(true);
    assert_eq!(parse_value(&value).unwrap(), vec![parse_one(AMI_STATE)]);

    let mut with_bom = b"\xEF\xBB\xBF".to_vec();
    with_bom.extend(fixture(AMI_STATE));
    assert_eq!(parse_payload(&with_bom).unwrap(), vec![parse_one(AMI_STATE)]);
}

/// A change to a fixture.
type Edit = Box<dyn Fn(&mut Value)>;

/// A fixture changed by `edit` gives the event's JSON changed by `want`: each field there
/// holds that value, or is absent where `want` has `null`.
#[test]
fn edited_fixtures() {
    let variants: Vec<(&str, &str, Edit, Value)> = vec![
        (
            "CopyImage without awsRegion: the envelope's region",
            COPY_IMAGE,
            Box::new(|v| {
                v["region"] = json!("ap-northeast-1");
                remove(v, "/detail/awsRegion");
            }),
            json!({"region": "ap-northeast-1"}),
        ),
        (
            "CreateAutoScalingGroup with a mixed instances policy",
            ASG,
            Box::new(|v| {
                remove(v, "/detail/requestParameters/launchTemplate");
                v["detail"]["requestParameters"]["mixedInstancesPolicy"] = json!({
                    "launchTemplate": {
                        "launchTemplateSpecification": {"launchTemplateName": "web", "version": "$Default"},
                        "overrides": [{"instanceType": "m6i.large"}, {"instanceType": "m7i.large"}]
                    },
                    "instancesDistribution": {"onDemandBaseCapacity": 1, "spotAllocationStrategy": "price-capacity-optimized"}
                });
            }),
            json!({"launch_template_id": null, "launch_template_name": "web", "launch_template_version": "$Default"}),
        ),
        (
            "CreateAutoScalingGroup with a launch configuration",
            ASG,
            Box::new(|v| {
                remove(v, "/detail/requestParameters/launchTemplate");
                v["detail"]["requestParameters"]["launchConfigurationName"] = json!("web-lc");
            }),
            json!({"asg_name": "web-asg-20240502", "launch_template_id": null, "launch_template_name": null}),
        ),
        (
            "CloudTrail without envelope id: the CloudTrail event id",
            CREATE_IMAGE,
            Box::new(|v| remove(v, "/id")),
            json!({"event_id": "0a9b8c7d-6e5f-4a3b-2c1d-0e9f8a7b6c5d"}),
        ),
        (
            "backup job with its recovery point in detail",
            BACKUP,
            Box::new(|v| {
                v["resources"] = json!(["arn:aws:backup:ap-northeast-1:111122223333:recovery-point:f1d966fe"]);
                v["detail"]["recoveryPointArn"] = json!("arn:aws:ec2:ap-northeast-1::image/ami-0fedcba9876543210");
            }),
            json!({"image_id": "ami-0fedcba9876543210"}),
        ),
        (
            "backup job running has no image",
            BACKUP,
            Box::new(|v| {
                v["resources"] = json!([]);
                v["detail"]["state"] = json!("RUNNING");
            }),
            json!({"kind": "backup_job", "image_id": null, "state": "RUNNING", "instance_id": "i-0123456789abcdef0"}),
        ),
        (
            "backup job of an EBS volume parses without image",
            BACKUP,
            Box::new(|v| {
                v["resources"] = json!(["arn:aws:ec2:ap-northeast-1::snapshot/snap-0123456789abcdef0"]);
                v["detail"]["resourceType"] = json!("EBS");
                v["detail"]["resourceArn"] =
                    json!("arn:aws:ec2:ap-northeast-1:111122223333:volume/vol-0123456789abcdef0");
            }),
            json!({"kind": "backup_job", "image_id": null, "instance_id": null, "state": "COMPLETED"}),
        ),
        (
            "backup job with status instead of state",
            BACKUP,
            Box::new(|v| {
                remove(v, "/detail/state");
                v["detail"]["status"] = json!("COMPLETED");
            }),
            json!({"state": "COMPLETED"}),
        ),
        (
            "copy job failed: `{}` as the destination, no image",
            COPY_JOB,
            Box::new(|v| {
                v["detail"]["state"] = json!("FAILED");
                v["detail"]["destinationRecoveryPointArn"] = json!({});
            }),
            json!({"image_id": null, "region": "ap-southeast-1", "source_region": "ap-northeast-1", "state": "FAILED"}),
        ),
        (
            "copySnapshot: the source is a snapshot, not a volume",
            SNAPSHOT,
            Box::new(|v| {
                v["detail"]["event"] = json!("copySnapshot");
                v["detail"]["source"] = json!("arn:aws:ec2::ap-southeast-1:snapshot/snap-0fedcba9876543210");
            }),
            json!({"snapshot_id": "snap-0123456789abcdef0", "volume_id": null}),
        ),
        (
            "createSnapshots of one volume names it",
            SNAPSHOT,
            Box::new(|v| {
                v["detail"]["event"] = json!("createSnapshots");
                remove(v, "/detail/snapshot_id");
                remove(v, "/detail/source");
                v["detail"]["snapshots"] = json!([{
                    "snapshot_id": "arn:aws:ec2::ap-northeast-1:snapshot/snap-0aaaaaaaaaaaaaaa1",
                    "source": "arn:aws:ec2::ap-northeast-1:volume/vol-0bbbbbbbbbbbbbbb2",
                    "status": "completed"
                }]);
            }),
            json!({"snapshot_id": "snap-0aaaaaaaaaaaaaaa1", "volume_id": "vol-0bbbbbbbbbbbbbbb2"}),
        ),
        (
            "scheduled event on a custom bus",
            SCHEDULED,
            Box::new(|v| {
                v["resources"] = json!(["arn:aws:events:ap-northeast-1:111122223333:rule/ops-bus/nightly_bake"])
            }),
            json!({"rule_name": "nightly_bake"}),
        ),
        (
            "scheduled event without resources",
            SCHEDULED,
            Box::new(|v| v["resources"] = json!([])),
            json!({"rule_name": null}),
        ),
    ];
    for (name, fixture, edit, want) in variants {
        let mut value = fixture_value(fixture);
        edit(&mut value);
        let events = parse_value(&value).unwrap_or_else(|e| panic!("{name}: {e}"));
        let got = serde_json::to_value(&events[0]).unwrap();
        for (field, want) in want.as_object().unwrap() {
            assert_eq!(got.get(field).unwrap_or(&Value::Null), want, "{name}: {field}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Malformed and unsupported payloads
// ---------------------------------------------------------------------------------------------

/// The error a case expects.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Want {
    Empty,
    NotJson,
    TooLarge,
    TooDeep,
    Unsupported,
    /// A `BadField` on this field path.
    Field(String),
    /// A `FailedApiCall` of this event name.
    Failed(String),
    /// An `InRecord` at this index, with this inner error.
    #[serde(untagged)]
    Record {
        record: usize,
        want: Box<Want>,
    },
}

impl Want {
    fn matches(&self, error: &EventError) -> bool {
        match (self, error) {
            (Want::Empty, EventError::Empty)
            | (Want::NotJson, EventError::NotJson { .. })
            | (Want::TooLarge, EventError::TooLarge { .. })
            | (Want::TooDeep, EventError::TooDeep { .. })
            | (Want::Unsupported, EventError::Unsupported { .. }) => true,
            (Want::Field(want), EventError::BadField { field, .. }) => field == want,
            (Want::Failed(want), EventError::FailedApiCall { event_name, .. }) => event_name == want,
            (Want::Record { record, want }, EventError::InRecord { index, source, .. }) => {
                record == index && want.matches(source)
            }
            _ => false,
        }
    }
}

/// How a case's payload is made, in `malformed_events.json`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Payload {
    /// The payload as text.
    text: Option<String>,
    /// `[[[...]]]`, nested this deep.
    nested_arrays: Option<usize>,
    /// A fixture, with values set at JSON pointers and the values at others removed.
    fixture: Option<String>,
    set: Vec<(String, Value)>,
    remove: Vec<String>,
    /// The payload as the body of a one-record SQS batch.
    in_sqs: bool,
}

impl Payload {
    fn bytes(&self) -> Vec<u8> {
        let payload = match (&self.text, self.nested_arrays, &self.fixture) {
            (Some(text), None, None) => text.clone().into_bytes(),
            (None, Some(depth), None) => nested_arrays(depth),
            (None, None, Some(name)) => edited(name, |v| {
                self.set.iter().for_each(|(pointer, new)| set(v, pointer, new.clone()));
                self.remove.iter().for_each(|pointer| remove(v, pointer));
            }),
            _ => panic!("one of text, nested_arrays, fixture: {self:?}"),
        };
        if self.in_sqs {
            return sqs_body(&String::from_utf8(payload).unwrap());
        }
        payload
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    /// The heading of the cases that follow.
    #[serde(default)]
    #[allow(dead_code)]
    section: Option<String>,
    name: String,
    #[serde(deserialize_with = "payload_bytes")]
    payload: Vec<u8>,
    want: Want,
    /// Substrings the message must contain: what was received.
    mentions: Vec<String>,
}

fn payload_bytes<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    Payload::deserialize(deserializer).map(|payload| payload.bytes())
}

fn case(name: &str, payload: impl Into<Vec<u8>>, want: Want, mentions: &[&str]) -> Case {
    let mentions = mentions.iter().map(|m| m.to_string()).collect();
    Case { section: None, name: name.into(), payload: payload.into(), want, mentions }
}

fn rec(record: usize, want: Want) -> Want {
    Want::Record { record, want: Box::new(want) }
}

/// A fixture changed by `edit`, as bytes.
fn edited(name: &str, edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut value = fixture_value(name);
    edit(&mut value);
    serde_json::to_vec(&value).unwrap()
}

/// Sets the value at a JSON pointer (the parent must exist).
fn set(value: &mut Value, pointer: &str, new: Value) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let parent = if parent.is_empty() { &mut *value } else { value.pointer_mut(parent).unwrap() };
    match parent {
        Value::Object(object) => {
            object.insert(key.to_string(), new);
        }
        Value::Array(items) => items[key.parse::<usize>().unwrap()] = new,
        other => panic!("cannot set {pointer} in {other}"),
    }
}

/// Removes the value at a JSON pointer.
fn remove(value: &mut Value, pointer: &str) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let parent = if parent.is_empty() { &mut *value } else { value.pointer_mut(parent).unwrap() };
    parent.as_object_mut().unwrap().remove(key).unwrap_or_else(|| panic!("no {pointer}"));
}

/// An SQS batch of one record with this body.
fn sqs_body(body: &str) -> Vec<u8> {
    edited("sqs_batch.json", |v| {
        v["Records"].as_array_mut().unwrap().truncate(1);
        v["Records"][0]["body"] = json!(body);
    })
}

fn compact(name: &str) -> String {
    serde_json::to_string(&fixture_value(name)).unwrap()
}

fn nested_arrays(depth: usize) -> Vec<u8> {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes()
}

const AMI_STATE: &str = "ami_state_change_available.json";
const CREATE_IMAGE: &str = "cloudtrail_create_image_backup.json";
const COPY_IMAGE: &str = "cloudtrail_copy_image.json";
const ASG: &str = "cloudtrail_create_asg.json";
const BACKUP: &str = "backup_job_completed.json";
const COPY_JOB: &str = "backup_copy_job_completed.json";
const SNAPSHOT: &str = "ebs_snapshot_notification.json";
const SCHEDULED: &str = "scheduled_event.json";

/// The cases of `malformed_events.json`, and those whose payload is built here.
fn cases() -> Vec<Case> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/malformed_events.json");
    let mut cases: Vec<Case> = serde_json::from_slice(&std::fs::read(path).unwrap()).expect("the cases read");
    cases.extend([
        case("invalid UTF-8", b"{\"source\": \"\xff\xfe\"}".to_vec(), Want::NotJson, &["not valid JSON"]),
        case(
            "SQS record body an object",
            edited("sqs_batch.json", |v| v["Records"][0]["body"] = fixture_value(AMI_STATE)),
            rec(0, Want::Field("body".into())),
            &["must be a string, received an object"],
        ),
        case(
            "SQS second record bad",
            edited("sqs_batch.json", |v| {
                let body = edited(BACKUP, |v| v["account"] = json!("12345"));
                v["Records"][1]["body"] = json!(String::from_utf8(body).unwrap());
            }),
            rec(1, Want::Field("account".into())),
            &["record 1", "`12345`"],
        ),
        case(
            "SNS inside SNS",
            edited("sns_record.json", |v| {
                let inner = json!({"Type": "Notification", "Message": compact(AMI_STATE)}).to_string();
                v["Records"][0]["Sns"]["Message"] = json!(inner);
            }),
            rec(0, Want::Unsupported),
            &["an SNS notification in an SNS Message"],
        ),
        case(
            "too large",
            format!(r#"{{"padding": "{}"}}"#, "x".repeat(MAX_PAYLOAD_BYTES)),
            Want::TooLarge,
            &["too large", "received 262159 bytes", "262144"],
        ),
        case(
            "deep object inside detail",
            edited(AMI_STATE, |v| v["detail"]["x"] = serde_json::from_slice(&nested_arrays(63)).unwrap()),
            Want::TooDeep,
            &["64"],
        ),
    ]);
    cases
}

#[test]
fn malformed_and_unsupported_payloads() {
    let cases = cases();
    assert_eq!(cases.len(), 97);
    let mut failures = Vec::new();
    for case in &cases {
        match parse_payload(&case.payload) {
            Ok(events) => failures.push(format!("{}: parsed to {} events", case.name, events.len())),
            Err(error) => {
                let message = error.to_string();
                if !case.want.matches(&error) {
                    failures.push(format!("{}: want {:?}, got {error:?}", case.name, case.want));
                }
                for mention in &case.mentions {
                    if !message.contains(mention.as_str()) {
                        failures.push(format!("{}: message does not mention {mention:?}: {message}", case.name));
                    }
                }
                if matches!(innermost(&error), EventError::Unsupported { .. }) && !message.contains(SUPPORTED) {
                    failures.push(format!("{}: an unsupported event's message lists what is supported", case.name));
                }
                if message.len() > 1200 {
                    failures.push(format!("{}: message of {} bytes", case.name, message.len()));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

fn innermost(error: &EventError) -> &EventError {
    match error {
        EventError::InRecord { source, .. } => innermost(source),
        other => other,
    }
}

#[test]
fn malformed_values_fail_the_same_way() {
    for case in cases() {
        let Ok(value) = serde_json::from_slice::<Value>(&case.payload) else {
            continue; // Not JSON, too deep for serde: there is no value to hand over.
        };
        let error = parse_value(&value).expect_err(&case.name);
        assert!(case.want.matches(&error), "{}: want {:?}, got {error:?}", case.name, case.want);
    }
}

#[test]
fn parse_value_enforces_the_limits() {
    let mut deep = json!(1);
    for _ in 0..MAX_DEPTH + 1 {
        deep = json!([deep]);
    }
    assert_eq!(parse_value(&deep).unwrap_err(), EventError::TooDeep { limit: MAX_DEPTH });

    let mut value = fixture_value(AMI_STATE);
    value["padding"] = json!("x".repeat(MAX_PAYLOAD_BYTES));
    let error = parse_value(&value).unwrap_err();
    assert!(matches!(error, EventError::TooLarge { bytes, limit } if bytes > limit && limit == MAX_PAYLOAD_BYTES));
}

#[test]
fn size_limit_is_configurable() {
    let payload = fixture("sqs_batch.json");
    let parser = StandardEventParser::new().with_max_bytes(1024);
    assert_eq!(parser.max_bytes(), 1024);
    assert_eq!(parser.parse(&payload).unwrap_err(), EventError::TooLarge { bytes: payload.len(), limit: 1024 });
    let parser = StandardEventParser::new().with_max_bytes(MAX_PAYLOAD_BYTES * 4);
    assert_eq!(parser.parse(&payload).unwrap().len(), 2);
    assert_eq!(StandardEventParser::default().max_bytes(), MAX_PAYLOAD_BYTES);
}

#[test]
fn messages_quote_short_strings_only_and_never_the_payload() {
    let secret = "SECRET-db-password-hunter2";
    let payload = edited(CREATE_IMAGE, |v| {
        set(v, "/detail/requestParameters/description", json!(secret));
        set(v, "/detail/responseElements/imageId", json!(format!("ami-{}", "f".repeat(500))));
    });
    let message = parse_payload(&payload).unwrap_err().to_string();
    assert!(!message.contains(secret), "{message}");
    assert!(message.contains("…"), "a long value is cut: {message}");
    assert!(message.len() < 400, "{message}");

    let unknown = format!(r#"{{"source": "aws.{}", "detail-type": "{secret}"}}"#, "s".repeat(300));
    let message = parse_payload(unknown.as_bytes()).unwrap_err().to_string();
    assert!(message.len() < 200 + SUPPORTED.len(), "{message}");

    let message = parse_payload(format!(r#"{{"password": "{secret}"}}"#).as_bytes()).unwrap_err().to_string();
    assert!(message.contains("`password`") && !message.contains(secret), "keys only: {message}");

    let message = parse_payload(format!("{secret} is not json").as_bytes()).unwrap_err().to_string();
    assert!(!message.contains(secret), "{message}");
}

#[test]
fn record_errors_name_the_index_and_chain_the_cause() {
    let payload = edited("sqs_batch.json", |v| v["Records"][1]["body"] = json!("nope"));
    let error = parse_payload(&payload).unwrap_err();
    let EventError::InRecord { index, source, .. } = &error else { panic!("{error:?}") };
    assert_eq!(*index, 1);
    assert!(matches!(**source, EventError::NotJson { .. }));
    assert!(error.to_string().starts_with("record 1 of the batch: the event is not valid JSON"));
    let cause = std::error::Error::source(&error).expect("a source");
    assert_eq!(cause.to_string(), source.to_string());
}

#[test]
fn errors_convert_into_the_crate_error() {
    let error: amikeeper::Error = parse_payload(b"{}").unwrap_err().into();
    assert!(error.is_bad_input());
}

// ---------------------------------------------------------------------------------------------
// Documentation
// ---------------------------------------------------------------------------------------------

fn repo_file(path: &str) -> String {
    let path = format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

/// The README's "Events understood" table lists exactly the dispatch table: one row per kind,
/// in the table's order, its events as the table names them.
#[test]
fn readme_lists_the_supported_events() {
    let readme = repo_file("README.md");
    let table: Vec<&str> = readme
        .lines()
        .skip_while(|line| *line != "| AWS event | kind |")
        .skip(2)
        .take_while(|line| line.starts_with('|'))
        .collect();
    let mut want: Vec<String> = Vec::new();
    let mut last_kind = None;
    for source in supported() {
        if last_kind == Some(source.kind()) {
            let row = want.pop().unwrap();
            let (events, kind) = row.rsplit_once(" | ").unwrap();
            want.push(format!("{events}, {} | {kind}", source.label()));
        } else {
            want.push(format!("| {} | `{}` |", source.label(), source.kind()));
        }
        last_kind = Some(source.kind());
    }
    assert_eq!(table, want);
}

/// The walkthrough "Adding an event kind" in `ARCHITECTURE.md` names files that exist, the table line it shows is one in the
/// code, and the trait it describes has the items it names.
#[test]
fn the_adding_an_event_kind_walkthrough_is_true() {
    let architecture = repo_file("ARCHITECTURE.md");
    let doc = architecture
        .split("\n## Adding an event kind\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("ARCHITECTURE.md has a section \"## Adding an event kind\"");
    let paths: Vec<&str> = doc
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|quoted| quoted.starts_with("crates/") || *quoted == "README.md")
        .collect();
    assert!(paths.len() >= 10, "{paths:?}");
    for path in paths {
        // `<source>.rs`, `<name>.json`: the folder they go in exists.
        let path = if path.contains('<') { path.rsplit_once('/').unwrap().0 } else { path };
        let full = format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"));
        assert!(std::path::Path::new(&full).exists(), "{path} does not exist");
    }
    let table = repo_file("crates/amikeeper/src/events/mod.rs");
    let shown: Vec<&str> = doc.lines().map(str::trim).filter(|line| line.contains("\" => ")).collect();
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert!(table.lines().any(|line| line.trim() == shown[0]), "not in the table: {}", shown[0]);
    let event = repo_file("crates/amikeeper/src/events/event.rs");
    for item in ["trait Detail", "macro_rules! detail ", "macro_rules! kinds", "struct Wire", "struct Fields"] {
        assert!(event.contains(item), "event.rs has no `{item}`");
    }
    let entry = doc.split("for\n   example `").nth(1).and_then(|rest| rest.split('`').next()).unwrap();
    assert!(event.lines().any(|line| line.trim() == entry), "not in `kinds!`: {entry}");
    assert!(repo_file("crates/amikeeper/src/events/ami_state.rs").contains("detail! {"));
    for call in ["fn read(", "fn event(", "fn same_region(", "fn same_account("] {
        assert!(repo_file("crates/amikeeper/src/events/eventbridge.rs").contains(call), "{call}");
    }
}
