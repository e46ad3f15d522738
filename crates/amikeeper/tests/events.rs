//! Event parsing: one test per fixture (every normalised field), then malformed and
//! unsupported payloads, each with the error variant and what its message names.

use amikeeper::events::{
    parse_payload, parse_value, AmiEvent, EventError, EventKind, EventParser, StandardEventParser, MAX_DEPTH,
    MAX_PAYLOAD_BYTES, SUPPORTED,
};
use amikeeper::model::{AccountId, ImageId, Region};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

const ACCOUNT: &str = "111122223333";

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/events/{name}", env!("CARGO_MANIFEST_DIR"));
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

fn at(text: &str) -> OffsetDateTime {
    OffsetDateTime::parse(text, &Rfc3339).unwrap()
}

/// An event with the envelope fields set and every other field `None`.
fn base(kind: EventKind, region: &str, time: &str, event_id: &str) -> AmiEvent {
    AmiEvent::new(kind, Region::new(region), AccountId::new(ACCOUNT), at(time), event_id.to_string())
}

fn ami(id: &str) -> Option<ImageId> {
    Some(ImageId::new(id))
}

fn s(value: &str) -> Option<String> {
    Some(value.to_string())
}

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

#[test]
fn cloudtrail_create_image_by_aws_backup() {
    let event = parse_one("cloudtrail_create_image_backup.json");
    let mut want =
        base(EventKind::ImageCreated, "ap-northeast-1", "2024-05-01T05:10:22Z", "6f1c3b0e-2a8d-4b7e-9c51-3e0d4a7b2f10");
    want.image_id = ami("ami-0123456789abcdef0");
    want.instance_id = s("i-0123456789abcdef0");
    want.image_name = s("AWSBackup_i-0123456789abcdef0_7A1E2D3C-4B5A-6978-8F9E-0D1C2B3A4F5E");
    want.description = s("This image is created by the AWS Backup service.");
    assert_eq!(event, want);
}

#[test]
fn cloudtrail_create_image_by_dlm() {
    let event = parse_one("cloudtrail_create_image_dlm.json");
    let mut want =
        base(EventKind::ImageCreated, "ap-northeast-1", "2024-05-02T03:00:41Z", "b2e4d6f8-1a3c-4e5f-8a7b-9c0d1e2f3a4b");
    want.image_id = ami("ami-0fedcba9876543210");
    want.instance_id = s("i-0a1b2c3d4e5f67890");
    want.image_name = s("web-i-0a1b2c3d4e5f67890-2024-05-02-0300");
    want.description = s("Created for policy: policy-0f1e2d3c4b5a69788 schedule: EC2_BACKUP daily");
    assert_eq!(event, want);
    assert!(event.description.as_deref().unwrap().contains("EC2_BACKUP"));
}

#[test]
fn cloudtrail_copy_image_to_dr_region() {
    let event = parse_one("cloudtrail_copy_image.json");
    let mut want =
        base(EventKind::ImageCopied, "ap-southeast-1", "2024-05-01T05:31:07Z", "e1d2c3b4-a5f6-4789-8abc-def012345678");
    want.image_id = ami("ami-0aaabbbcccddd0001");
    want.image_name = s("web-2024-05-01-dr");
    want.description = s("DR copy of ami-0123456789abcdef0 from ap-northeast-1");
    want.source_image_id = ami("ami-0123456789abcdef0");
    want.source_region = Some(Region::new("ap-northeast-1"));
    assert_eq!(event, want);
}

#[test]
fn cloudtrail_copy_image_in_another_region_than_its_envelope_is_refused() {
    let mut value = fixture_value("cloudtrail_copy_image.json");
    value["region"] = json!("ap-northeast-1");
    let error = parse_value(&value).unwrap_err().to_string();
    assert!(error.contains("detail.awsRegion") && error.contains("contradicts its envelope"), "{error}");

    value["detail"].as_object_mut().unwrap().remove("awsRegion");
    let event = &parse_value(&value).unwrap()[0];
    assert_eq!(event.region.as_str(), "ap-northeast-1", "without awsRegion, the envelope's region");
}

#[test]
fn cloudtrail_register_image() {
    let event = parse_one("cloudtrail_register_image.json");
    let mut want = base(
        EventKind::ImageRegistered,
        "ap-northeast-1",
        "2024-05-03T08:22:15Z",
        "4c3b2a19-0807-4f6e-9d5c-4b3a29180706",
    );
    want.image_id = ami("ami-0b1c2d3e4f5a6b7c8");
    want.image_name = s("base-al2023-2024-05-03");
    want.description = s("Base image registered from snap-0123456789abcdef0");
    assert_eq!(event, want);
}

#[test]
fn cloudtrail_create_auto_scaling_group() {
    let event = parse_one("cloudtrail_create_asg.json");
    let mut want =
        base(EventKind::AsgCreated, "ap-northeast-1", "2024-05-02T09:45:33Z", "a0b1c2d3-e4f5-4a6b-8c7d-e8f9a0b1c2d3");
    want.asg_name = s("web-asg-20240502");
    want.launch_template_id = s("lt-0123456789abcdef0");
    want.launch_template_version = s("$Latest");
    assert_eq!(event, want);
}

#[test]
fn cloudtrail_create_auto_scaling_group_with_mixed_instances_policy() {
    let mut value = fixture_value("cloudtrail_create_asg.json");
    let params = value["detail"]["requestParameters"].as_object_mut().unwrap();
    params.remove("launchTemplate");
    params.insert(
        "mixedInstancesPolicy".into(),
        json!({
            "launchTemplate": {
                "launchTemplateSpecification": {"launchTemplateName": "web", "version": "$Default"},
                "overrides": [{"instanceType": "m6i.large"}, {"instanceType": "m7i.large"}]
            },
            "instancesDistribution": {"onDemandBaseCapacity": 1, "spotAllocationStrategy": "price-capacity-optimized"}
        }),
    );
    let event = &parse_value(&value).unwrap()[0];
    assert_eq!(event.launch_template_id, None);
    assert_eq!(event.launch_template_name.as_deref(), Some("web"));
    assert_eq!(event.launch_template_version.as_deref(), Some("$Default"));
}

#[test]
fn cloudtrail_create_auto_scaling_group_with_launch_configuration() {
    let mut value = fixture_value("cloudtrail_create_asg.json");
    let params = value["detail"]["requestParameters"].as_object_mut().unwrap();
    params.remove("launchTemplate");
    params.insert("launchConfigurationName".into(), json!("web-lc"));
    let event = &parse_value(&value).unwrap()[0];
    assert_eq!(event.asg_name.as_deref(), Some("web-asg-20240502"));
    assert_eq!((&event.launch_template_id, &event.launch_template_name), (&None, &None));
}

#[test]
fn cloudtrail_without_envelope_id_uses_cloudtrail_event_id() {
    let mut value = fixture_value("cloudtrail_create_image_backup.json");
    value.as_object_mut().unwrap().remove("id");
    let event = &parse_value(&value).unwrap()[0];
    assert_eq!(event.event_id, "0a9b8c7d-6e5f-4a3b-2c1d-0e9f8a7b6c5d");
}

#[test]
fn backup_job_completed() {
    let event = parse_one("backup_job_completed.json");
    let mut want =
        base(EventKind::BackupJob, "ap-northeast-1", "2024-05-01T05:41:17Z", "dafac799-9b88-4134-a6b7-fef4d54a134f");
    want.image_id = ami("ami-0123456789abcdef0");
    want.instance_id = s("i-0123456789abcdef0");
    want.state = s("COMPLETED");
    assert_eq!(event, want);
}

#[test]
fn backup_job_recovery_point_in_detail() {
    let mut value = fixture_value("backup_job_completed.json");
    value["resources"] = json!(["arn:aws:backup:ap-northeast-1:111122223333:recovery-point:f1d966fe"]);
    value["detail"]["recoveryPointArn"] = json!("arn:aws:ec2:ap-northeast-1::image/ami-0fedcba9876543210");
    let event = &parse_value(&value).unwrap()[0];
    assert_eq!(event.image_id, ami("ami-0fedcba9876543210"));
}

#[test]
fn backup_job_running_has_no_image() {
    let mut value = fixture_value("backup_job_completed.json");
    value["resources"] = json!([]);
    value["detail"]["state"] = json!("RUNNING");
    let event = &parse_value(&value).unwrap()[0];
    assert_eq!(event.kind, EventKind::BackupJob);
    assert_eq!(event.image_id, None);
    assert_eq!(event.state.as_deref(), Some("RUNNING"));
    assert_eq!(event.instance_id.as_deref(), Some("i-0123456789abcdef0"));
}

#[test]
fn backup_job_of_an_ebs_volume_parses_without_image() {
    let mut value = fixture_value("backup_job_completed.json");
    value["resources"] = json!(["arn:aws:ec2:ap-northeast-1::snapshot/snap-0123456789abcdef0"]);
    value["detail"]["resourceType"] = json!("EBS");
    value["detail"]["resourceArn"] = json!("arn:aws:ec2:ap-northeast-1:111122223333:volume/vol-0123456789abcdef0");
    let event = &parse_value(&value).unwrap()[0];
    assert_eq!(event.kind, EventKind::BackupJob);
    assert_eq!((&event.image_id, &event.instance_id), (&None, &None));
    assert_eq!(event.state.as_deref(), Some("COMPLETED"));
}

#[test]
fn backup_job_with_status_instead_of_state() {
    let mut value = fixture_value("backup_job_completed.json");
    let detail = value["detail"].as_object_mut().unwrap();
    detail.remove("state");
    detail.insert("status".into(), json!("COMPLETED"));
    assert_eq!(parse_value(&value).unwrap()[0].state.as_deref(), Some("COMPLETED"));
}

#[test]
fn backup_copy_job_completed() {
    let event = parse_one("backup_copy_job_completed.json");
    let mut want = base(
        EventKind::BackupCopyJob,
        "ap-southeast-1",
        "2024-05-01T06:08:04Z",
        "47deb974-6473-4ef1-96c2-52c3eaedfceb",
    );
    want.image_id = ami("ami-0c0ffee0123456789");
    want.instance_id = s("i-0123456789abcdef0");
    want.state = s("COMPLETED");
    want.source_image_id = ami("ami-0123456789abcdef0");
    want.source_region = Some(Region::new("ap-northeast-1"));
    want.source_account = Some(want.account.clone());
    assert_eq!(event, want);
}

#[test]
fn backup_copy_job_failed_has_no_destination_image() {
    // As AWS sends it: the destination recovery point is `{}` until the copy is done.
    let mut value = fixture_value("backup_copy_job_completed.json");
    value["detail"]["state"] = json!("FAILED");
    value["detail"]["destinationRecoveryPointArn"] = json!({});
    let event = &parse_value(&value).unwrap()[0];
    assert_eq!(event.image_id, None);
    assert_eq!(event.region.as_str(), "ap-southeast-1", "the destination vault's region");
    assert_eq!(event.source_region.as_ref().unwrap().as_str(), "ap-northeast-1");
    assert_eq!(event.state.as_deref(), Some("FAILED"));
}

#[test]
fn ami_state_change_available() {
    let event = parse_one("ami_state_change_available.json");
    let mut want = base(
        EventKind::ImageStateChanged,
        "ap-northeast-1",
        "2024-05-01T05:14:09Z",
        "7bf73129-1428-4cd3-a780-95db273d1602",
    );
    want.image_id = ami("ami-0123456789abcdef0");
    want.state = s("available");
    assert_eq!(event, want);
}

#[test]
fn ebs_snapshot_notification() {
    let event = parse_one("ebs_snapshot_notification.json");
    let mut want = base(
        EventKind::SnapshotCreated,
        "ap-northeast-1",
        "2024-05-01T05:12:48Z",
        "01a2b3c4-d5e6-4f70-8192-a3b4c5d6e7f8",
    );
    want.state = s("succeeded");
    want.snapshot_id = s("snap-0123456789abcdef0");
    want.volume_id = s("vol-0123456789abcdef0");
    assert_eq!(event, want);
}

#[test]
fn ebs_copy_snapshot_and_create_snapshots() {
    let mut value = fixture_value("ebs_snapshot_notification.json");
    value["detail"]["event"] = json!("copySnapshot");
    value["detail"]["source"] = json!("arn:aws:ec2::ap-southeast-1:snapshot/snap-0fedcba9876543210");
    let event = &parse_value(&value).unwrap()[0];
    assert_eq!(event.snapshot_id.as_deref(), Some("snap-0123456789abcdef0"));
    assert_eq!(event.volume_id, None);

    let mut value = fixture_value("ebs_snapshot_notification.json");
    let detail = value["detail"].as_object_mut().unwrap();
    detail.insert("event".into(), json!("createSnapshots"));
    detail.remove("snapshot_id");
    detail.remove("source");
    detail.insert(
        "snapshots".into(),
        json!([{
            "snapshot_id": "arn:aws:ec2::ap-northeast-1:snapshot/snap-0aaaaaaaaaaaaaaa1",
            "source": "arn:aws:ec2::ap-northeast-1:volume/vol-0bbbbbbbbbbbbbbb2",
            "status": "completed"
        }]),
    );
    let event = &parse_value(&value).unwrap()[0];
    assert_eq!(event.snapshot_id.as_deref(), Some("snap-0aaaaaaaaaaaaaaa1"));
    assert_eq!(event.volume_id.as_deref(), Some("vol-0bbbbbbbbbbbbbbb2"));
}

#[test]
fn scheduled_event() {
    let event = parse_one("scheduled_event.json");
    let mut want =
        base(EventKind::Scheduled, "ap-northeast-1", "2024-05-05T18:00:00Z", "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa");
    want.rule_name = s("amikeeper-weekly-bake");
    assert_eq!(event, want);
}

#[test]
fn scheduled_event_on_a_custom_bus_and_without_resources() {
    let mut value = fixture_value("scheduled_event.json");
    value["resources"] = json!(["arn:aws:events:ap-northeast-1:111122223333:rule/ops-bus/nightly_bake"]);
    assert_eq!(parse_value(&value).unwrap()[0].rule_name.as_deref(), Some("nightly_bake"));

    value["resources"] = json!([]);
    assert_eq!(parse_value(&value).unwrap()[0].rule_name, None);
}

#[test]
fn sqs_batch_gives_one_event_per_record_in_order() {
    let events = parse_fixture("sqs_batch.json");
    assert_eq!(events.len(), 2);
    let mut first = base(
        EventKind::ImageStateChanged,
        "ap-northeast-1",
        "2024-05-01T05:14:09Z",
        "7bf73129-1428-4cd3-a780-95db273d1602",
    );
    first.image_id = ami("ami-0123456789abcdef0");
    first.state = s("available");
    let mut second =
        base(EventKind::BackupJob, "ap-northeast-1", "2024-05-01T05:41:17Z", "dafac799-9b88-4134-a6b7-fef4d54a134f");
    second.image_id = ami("ami-0123456789abcdef0");
    second.instance_id = s("i-0123456789abcdef0");
    second.state = s("COMPLETED");
    assert_eq!(events, vec![first, second]);
    // The same events as the bare fixtures.
    assert_eq!(events[0], parse_one("ami_state_change_available.json"));
    assert_eq!(events[1], parse_one("backup_job_completed.json"));
}

#[test]
fn sns_record_wraps_an_eventbridge_event() {
    let event = parse_one("sns_record.json");
    let mut want =
        base(EventKind::ImageCreated, "ap-northeast-1", "2024-05-02T03:00:41Z", "b2e4d6f8-1a3c-4e5f-8a7b-9c0d1e2f3a4b");
    want.image_id = ami("ami-0fedcba9876543210");
    want.instance_id = s("i-0a1b2c3d4e5f67890");
    want.image_name = s("web-i-0a1b2c3d4e5f67890-2024-05-02-0300");
    want.description = s("Created for policy: policy-0f1e2d3c4b5a69788 schedule: EC2_BACKUP daily");
    assert_eq!(event, want);
}

#[test]
fn sqs_record_with_sns_notification_body() {
    let event = parse_one("sqs_sns_record.json");
    let mut want =
        base(EventKind::ImageCopied, "ap-southeast-1", "2024-05-01T05:31:07Z", "e1d2c3b4-a5f6-4789-8abc-def012345678");
    want.image_id = ami("ami-0aaabbbcccddd0001");
    want.image_name = s("web-2024-05-01-dr");
    want.description = s("DR copy of ami-0123456789abcdef0 from ap-northeast-1");
    want.source_image_id = ami("ami-0123456789abcdef0");
    want.source_region = Some(Region::new("ap-northeast-1"));
    assert_eq!(event, want);
    assert_eq!(event, parse_one("cloudtrail_copy_image.json"));
}

#[test]
fn bare_sns_notification_and_raw_sqs_body_are_accepted() {
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
    let mut value = fixture_value("ami_state_change_available.json");
    value["surprise"] = json!({"nested": [1, 2, 3]});
    value["detail"]["NewField"] = json!(true);
    assert_eq!(parse_value(&value).unwrap(), vec![parse_one("ami_state_change_available.json")]);

    let mut with_bom = b"\xEF\xBB\xBF".to_vec();
    with_bom.extend(fixture("ami_state_change_available.json"));
    assert_eq!(parse_payload(&with_bom).unwrap(), vec![parse_one("ami_state_change_available.json")]);
}

#[test]
fn every_fixture_serialises_with_snake_case_kinds() {
    for (name, kind) in [
        ("cloudtrail_create_image_backup.json", "image_created"),
        ("cloudtrail_copy_image.json", "image_copied"),
        ("cloudtrail_register_image.json", "image_registered"),
        ("cloudtrail_create_asg.json", "asg_created"),
        ("backup_job_completed.json", "backup_job"),
        ("backup_copy_job_completed.json", "backup_copy_job"),
        ("ami_state_change_available.json", "image_state_changed"),
        ("ebs_snapshot_notification.json", "snapshot_created"),
        ("scheduled_event.json", "scheduled"),
    ] {
        let event = parse_one(name);
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["kind"], kind, "{name}");
        assert!(json.as_object().unwrap().values().all(|v| !v.is_null()), "{name}: no nulls");
        let back: AmiEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, event, "{name}: round trip");
    }
}

// ---------------------------------------------------------------------------------------------
// Malformed and unsupported payloads
// ---------------------------------------------------------------------------------------------

/// The error a case expects.
#[derive(Debug)]
enum Want {
    Empty,
    NotJson,
    TooLarge,
    TooDeep,
    Unsupported,
    /// A `BadField` on this field path.
    Field(&'static str),
    /// A `FailedApiCall` of this event name.
    Failed(&'static str),
    /// An `InRecord` at this index, with this inner error.
    Record(usize, Box<Want>),
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
            (Want::Record(want_index, want), EventError::InRecord { index, source }) => {
                want_index == index && want.matches(source)
            }
            _ => false,
        }
    }
}

fn rec(index: usize, want: Want) -> Want {
    Want::Record(index, Box::new(want))
}

struct Case {
    name: &'static str,
    payload: Vec<u8>,
    want: Want,
    /// Substrings the message must contain: what was received.
    mentions: Vec<&'static str>,
}

fn case(name: &'static str, payload: impl Into<Vec<u8>>, want: Want, mentions: &[&'static str]) -> Case {
    Case { name, payload: payload.into(), want, mentions: mentions.to_vec() }
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

fn with_set(name: &str, pointer: &'static str, new: Value) -> Vec<u8> {
    edited(name, |v| set(v, pointer, new))
}

fn without(name: &str, pointer: &'static str) -> Vec<u8> {
    edited(name, |v| remove(v, pointer))
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

fn cases() -> Vec<Case> {
    use Want::*;
    let unsupported_s3 = r#"{"version":"0","id":"x","detail-type":"Object Created","source":"aws.s3","account":"111122223333","time":"2024-05-01T00:00:00Z","region":"ap-northeast-1","resources":[],"detail":{}}"#;
    vec![
        // Not JSON, or not an object.
        case("not JSON", "this is not json", NotJson, &["not valid JSON", "line 1 column"]),
        case("empty input", "", Empty, &["empty", "received no JSON"]),
        case("only whitespace", " \n\t\r\n ", Empty, &["empty"]),
        case("truncated JSON", r#"{"version": "0", "id": "#, NotJson, &["not valid JSON", "EOF"]),
        case("trailing garbage", r#"{"a": 1} extra"#, NotJson, &["trailing characters"]),
        case("invalid UTF-8", b"{\"source\": \"\xff\xfe\"}".to_vec(), NotJson, &["not valid JSON"]),
        case("JSON array", "[]", Unsupported, &["a JSON array as the payload"]),
        case("JSON string", r#""CreateImage""#, Unsupported, &["a JSON string"]),
        case("JSON number", "42", Unsupported, &["a JSON number"]),
        case("JSON null", "null", Unsupported, &["a JSON null"]),
        case("JSON boolean", "true", Unsupported, &["a JSON boolean"]),
        case("empty object", "{}", Unsupported, &["no keys"]),
        case("object of unknown shape", r#"{"hello": 1, "world": 2}"#, Unsupported, &["`hello`", "`world`"]),
        // The EventBridge envelope.
        case(
            "missing detail-type",
            without(AMI_STATE, "/detail-type"),
            Field("detail-type"),
            &["EventBridge event", "is missing"],
        ),
        case("missing source", without(AMI_STATE, "/source"), Field("source"), &["`source`", "is missing"]),
        case(
            "detail-type a number",
            with_set(AMI_STATE, "/detail-type", json!(7)),
            Field("detail-type"),
            &["must be a string, received a number"],
        ),
        case(
            "unknown source",
            unsupported_s3,
            Unsupported,
            &["source `aws.s3`", "detail-type `Object Created`", "CreateImage"],
        ),
        case(
            "unknown detail-type",
            with_set(AMI_STATE, "/detail-type", json!("EC2 Instance State-change Notification")),
            Unsupported,
            &["source `aws.ec2`", "EC2 Instance State-change Notification"],
        ),
        case(
            "scheduler source",
            with_set(SCHEDULED, "/source", json!("aws.scheduler")),
            Unsupported,
            &["aws.scheduler", "Scheduled Event"],
        ),
        case(
            "bad account",
            with_set(AMI_STATE, "/account", json!("1234")),
            Field("account"),
            &["EC2 AMI State Change", "12-digit", "`1234`"],
        ),
        case(
            "account a number",
            with_set(AMI_STATE, "/account", json!(111122223333u64)),
            Field("account"),
            &["must be a string, received a number"],
        ),
        case(
            "missing account",
            without(BACKUP, "/account"),
            Field("account"),
            &["Backup Job State Change", "is missing"],
        ),
        case("bad time", with_set(AMI_STATE, "/time", json!("yesterday")), Field("time"), &["RFC 3339", "`yesterday`"]),
        case(
            "time without offset",
            with_set(AMI_STATE, "/time", json!("2024-05-01 05:14:09")),
            Field("time"),
            &["`2024-05-01 05:14:09`"],
        ),
        case("missing time", without(SNAPSHOT, "/time"), Field("time"), &["EBS Snapshot Notification", "is missing"]),
        case("missing region", without(AMI_STATE, "/region"), Field("region"), &["`region`", "is missing"]),
        case("bad region", with_set(AMI_STATE, "/region", json!("Tokyo")), Field("region"), &["`Tokyo`"]),
        case("missing id", without(AMI_STATE, "/id"), Field("id"), &["`id`", "is missing"]),
        case("id an object", with_set(SCHEDULED, "/id", json!({})), Field("id"), &["received an object"]),
        case("missing detail", without(AMI_STATE, "/detail"), Field("detail"), &["`detail`", "is missing"]),
        case(
            "detail a string",
            with_set(AMI_STATE, "/detail", json!("available")),
            Field("detail"),
            &["must be an object, received a string"],
        ),
        // CloudTrail.
        case(
            "CloudTrail RunInstances",
            with_set(CREATE_IMAGE, "/detail/eventName", json!("RunInstances")),
            Unsupported,
            &["CloudTrail `RunInstances`", "source `aws.ec2`"],
        ),
        case(
            "CloudTrail from an unsupported source",
            with_set(CREATE_IMAGE, "/source", json!("aws.s3")),
            Unsupported,
            &["source `aws.s3`", "AWS API Call via CloudTrail"],
        ),
        case(
            "CreateAutoScalingGroup from aws.ec2",
            with_set(ASG, "/source", json!("aws.ec2")),
            Unsupported,
            &["CreateAutoScalingGroup", "aws.ec2"],
        ),
        case(
            "CloudTrail without eventName",
            without(CREATE_IMAGE, "/detail/eventName"),
            Field("detail.eventName"),
            &["is missing"],
        ),
        case(
            "CreateImage without responseElements",
            without(CREATE_IMAGE, "/detail/responseElements"),
            Field("detail.responseElements"),
            &["CloudTrail CreateImage", "names no image"],
        ),
        case(
            "CreateImage with null responseElements",
            with_set(CREATE_IMAGE, "/detail/responseElements", Value::Null),
            Field("detail.responseElements"),
            &["is missing or null"],
        ),
        case(
            "CreateImage responseElements a string",
            with_set(CREATE_IMAGE, "/detail/responseElements", json!("ami-0123456789abcdef0")),
            Field("detail.responseElements"),
            &["received a string"],
        ),
        case(
            "CreateImage without imageId",
            without(CREATE_IMAGE, "/detail/responseElements/imageId"),
            Field("detail.responseElements.imageId"),
            &["is missing"],
        ),
        case(
            "CreateImage failed",
            edited(CREATE_IMAGE, |v| {
                set(v, "/detail/errorCode", json!("Client.InvalidInstanceID.NotFound"));
                set(v, "/detail/errorMessage", json!("The instance ID 'i-0123456789abcdef0' does not exist"));
                set(v, "/detail/responseElements", Value::Null);
            }),
            Failed("CreateImage"),
            &["CreateImage", "`Client.InvalidInstanceID.NotFound`"],
        ),
        case(
            "CreateAutoScalingGroup failed",
            with_set(ASG, "/detail/errorCode", json!("AlreadyExists")),
            Failed("CreateAutoScalingGroup"),
            &["`AlreadyExists`"],
        ),
        case(
            "errorCode a number",
            with_set(CREATE_IMAGE, "/detail/errorCode", json!(403)),
            Field("detail.errorCode"),
            &["received a number"],
        ),
        case(
            "bad image id",
            with_set(CREATE_IMAGE, "/detail/responseElements/imageId", json!("ami-xyz")),
            Field("detail.responseElements.imageId"),
            &["an AMI id", "`ami-xyz`"],
        ),
        case(
            "image id in capitals",
            with_set(CREATE_IMAGE, "/detail/responseElements/imageId", json!("ami-0123456789ABCDEF0")),
            Field("detail.responseElements.imageId"),
            &["`ami-0123456789ABCDEF0`"],
        ),
        case(
            "image id too short",
            with_set(CREATE_IMAGE, "/detail/responseElements/imageId", json!("ami-0123")),
            Field("detail.responseElements.imageId"),
            &["`ami-0123`"],
        ),
        case(
            "image id a number",
            with_set(CREATE_IMAGE, "/detail/responseElements/imageId", json!(1234)),
            Field("detail.responseElements.imageId"),
            &["must be a string, received a number"],
        ),
        case(
            "bad instance id",
            with_set(CREATE_IMAGE, "/detail/requestParameters/instanceId", json!("instance-1")),
            Field("detail.requestParameters.instanceId"),
            &["an instance id", "`instance-1`"],
        ),
        case(
            "image name a boolean",
            with_set(CREATE_IMAGE, "/detail/requestParameters/name", json!(true)),
            Field("detail.requestParameters.name"),
            &["received a boolean"],
        ),
        case(
            "requestParameters an array",
            with_set(CREATE_IMAGE, "/detail/requestParameters", json!([])),
            Field("detail.requestParameters"),
            &["must be an object, received an array"],
        ),
        case(
            "CopyImage bad sourceRegion",
            with_set(COPY_IMAGE, "/detail/requestParameters/sourceRegion", json!("mars-1")),
            Field("detail.requestParameters.sourceRegion"),
            &["CloudTrail CopyImage", "`mars-1`"],
        ),
        case(
            "CopyImage bad sourceImageId",
            with_set(COPY_IMAGE, "/detail/requestParameters/sourceImageId", json!("snap-0123456789abcdef0")),
            Field("detail.requestParameters.sourceImageId"),
            &["`snap-0123456789abcdef0`"],
        ),
        case(
            "ASG without name",
            without(ASG, "/detail/requestParameters/autoScalingGroupName"),
            Field("detail.requestParameters.autoScalingGroupName"),
            &["CloudTrail CreateAutoScalingGroup", "is missing"],
        ),
        case(
            "ASG without requestParameters",
            with_set(ASG, "/detail/requestParameters", Value::Null),
            Field("detail.requestParameters"),
            &["is missing"],
        ),
        case(
            "ASG bad launch template id",
            with_set(ASG, "/detail/requestParameters/launchTemplate/launchTemplateId", json!("lt-nope")),
            Field("detail.requestParameters.launchTemplate.launchTemplateId"),
            &["a launch template id", "`lt-nope`"],
        ),
        case(
            "ASG launch template version a number",
            with_set(ASG, "/detail/requestParameters/launchTemplate/version", json!(7)),
            Field("detail.requestParameters.launchTemplate.version"),
            &["received a number"],
        ),
        case(
            "ASG launch template without id or name",
            without(ASG, "/detail/requestParameters/launchTemplate/launchTemplateId"),
            Field("detail.requestParameters.launchTemplate.launchTemplateId"),
            &["launchTemplateName"],
        ),
        // AWS Backup.
        case(
            "backup job without state",
            without(BACKUP, "/detail/state"),
            Field("detail.state"),
            &["AWS Backup Backup Job State Change", "detail.status"],
        ),
        case(
            "backup job bad recovery point",
            with_set(BACKUP, "/resources/0", json!("arn:aws:ec2:ap-northeast-1::image/not-an-ami")),
            Field("resources[0]"),
            &["`not-an-ami`"],
        ),
        case(
            "backup job resources a string",
            with_set(BACKUP, "/resources", json!("arn:aws:ec2:ap-northeast-1::image/ami-0123456789abcdef0")),
            Field("resources"),
            &["must be an array, received a string"],
        ),
        case(
            "backup job resourceArn not an ARN",
            with_set(BACKUP, "/detail/resourceArn", json!("i-0123456789abcdef0")),
            Field("detail.resourceArn"),
            &["must be an ARN", "`i-0123456789abcdef0`"],
        ),
        case(
            "backup job bad instance in resourceArn",
            with_set(BACKUP, "/detail/resourceArn", json!("arn:aws:ec2:ap-northeast-1:111122223333:instance/web-1")),
            Field("detail.resourceArn"),
            &["`web-1`"],
        ),
        case(
            "copy job destination a number",
            with_set(COPY_JOB, "/detail/destinationRecoveryPointArn", json!(12)),
            Field("detail.destinationRecoveryPointArn"),
            &["AWS Backup Copy Job State Change", "received a number"],
        ),
        case(
            "copy job bad destination image",
            with_set(
                COPY_JOB,
                "/detail/destinationRecoveryPointArn",
                json!("arn:aws:ec2:ap-southeast-1::image/ami-bad"),
            ),
            Field("detail.destinationRecoveryPointArn"),
            &["`ami-bad`"],
        ),
        case(
            "copy job bad destination region",
            with_set(
                COPY_JOB,
                "/detail/destinationRecoveryPointArn",
                json!("arn:aws:ec2:Singapore::image/ami-0c0ffee0123456789"),
            ),
            Field("detail.destinationRecoveryPointArn"),
            &["`Singapore`"],
        ),
        // EC2 AMI State Change and EBS.
        case(
            "AMI state without ImageId",
            without(AMI_STATE, "/detail/ImageId"),
            Field("detail.ImageId"),
            &["EC2 AMI State Change", "is missing"],
        ),
        case(
            "AMI state ImageId a number",
            with_set(AMI_STATE, "/detail/ImageId", json!(123)),
            Field("detail.ImageId"),
            &["received a number"],
        ),
        case("AMI state without State", without(AMI_STATE, "/detail/State"), Field("detail.State"), &["is missing"]),
        case(
            "snapshot bad id",
            with_set(SNAPSHOT, "/detail/snapshot_id", json!("arn:aws:ec2::ap-northeast-1:snapshot/snap-XYZ")),
            Field("detail.snapshot_id"),
            &["a snapshot id", "`snap-XYZ`"],
        ),
        case(
            "snapshot source an instance",
            with_set(
                SNAPSHOT,
                "/detail/source",
                json!("arn:aws:ec2:ap-northeast-1:111122223333:instance/i-0123456789abcdef0"),
            ),
            Field("detail.source"),
            &["volume or snapshot ARN"],
        ),
        case("snapshot without result", without(SNAPSHOT, "/detail/result"), Field("detail.result"), &["is missing"]),
        case(
            "shareSnapshot",
            with_set(SNAPSHOT, "/detail/event", json!("shareSnapshot")),
            Unsupported,
            &["`shareSnapshot`", "createSnapshot"],
        ),
        case(
            "scheduled with a non-rule ARN",
            with_set(SCHEDULED, "/resources/0", json!("arn:aws:sns:ap-northeast-1:111122223333:topic")),
            Field("resources[0]"),
            &["EventBridge rule ARN", "arn:aws:sns"],
        ),
        // Batches.
        case("empty Records", r#"{"Records": []}"#, Field("Records"), &["received a batch without records"]),
        case("Records an object", r#"{"Records": {}}"#, Field("Records"), &["must be an array, received an object"]),
        case(
            "record a string",
            r#"{"Records": ["hello"]}"#,
            rec(0, Field("Records[0]")),
            &["record 0", "received a string"],
        ),
        case(
            "record from S3",
            r#"{"Records": [{"eventSource": "aws:s3", "s3": {}}]}"#,
            rec(0, Unsupported),
            &["record 0", "a record from `aws:s3`"],
        ),
        case(
            "record without eventSource",
            r#"{"Records": [{"body": "{}"}]}"#,
            rec(0, Unsupported),
            &["without `eventSource`", "`body`"],
        ),
        case(
            "SQS record with non-JSON body",
            sqs_body("not json at all"),
            rec(0, NotJson),
            &["record 0", "SQS message body"],
        ),
        case("SQS record with empty body", sqs_body(""), rec(0, Field("body")), &["SQS record", "is empty"]),
        case(
            "SQS record with unsupported body",
            sqs_body(unsupported_s3),
            rec(0, Unsupported),
            &["record 0", "aws.s3"],
        ),
        case(
            "SQS record body a batch",
            sqs_body(r#"{"Records": []}"#),
            rec(0, Unsupported),
            &["a batch (`Records`) in an SQS message body"],
        ),
        case(
            "SQS record body a JSON string",
            sqs_body(r#""hello""#),
            rec(0, Unsupported),
            &["a JSON string in an SQS message body"],
        ),
        case(
            "SQS record body an object",
            edited("sqs_batch.json", |v| v["Records"][0]["body"] = fixture_value(AMI_STATE)),
            rec(0, Field("body")),
            &["must be a string, received an object"],
        ),
        case(
            "SQS record without body",
            edited("sqs_batch.json", |v| remove(v, "/Records/1/body")),
            rec(1, Field("body")),
            &["record 1", "is missing"],
        ),
        case(
            "SQS second record bad",
            edited("sqs_batch.json", |v| {
                v["Records"][1]["body"] =
                    json!(String::from_utf8(with_set(BACKUP, "/account", json!("12345"))).unwrap())
            }),
            rec(1, Field("account")),
            &["record 1", "`12345`"],
        ),
        case(
            "SNS record without Message",
            edited("sns_record.json", |v| remove(v, "/Records/0/Sns/Message")),
            rec(0, Field("Sns.Message")),
            &["SNS record", "is missing"],
        ),
        case(
            "SNS record without Sns",
            edited("sns_record.json", |v| remove(v, "/Records/0/Sns")),
            rec(0, Field("Sns")),
            &["is missing"],
        ),
        case(
            "SNS record with non-JSON Message",
            edited("sns_record.json", |v| v["Records"][0]["Sns"]["Message"] = json!("{oops")),
            rec(0, NotJson),
            &["SNS Message"],
        ),
        case(
            "SNS inside SNS",
            edited("sns_record.json", |v| {
                let inner = json!({"Type": "Notification", "Message": compact(AMI_STATE)}).to_string();
                v["Records"][0]["Sns"]["Message"] = json!(inner);
            }),
            rec(0, Unsupported),
            &["an SNS notification in an SNS Message"],
        ),
        case(
            "SNS subscription confirmation in SQS",
            edited("sqs_sns_record.json", |v| {
                let body = json!({"Type": "SubscriptionConfirmation", "Message": "You have chosen to subscribe", "TopicArn": "arn:aws:sns:ap-northeast-1:111122223333:t"});
                v["Records"][0]["body"] = json!(body.to_string());
            }),
            rec(0, Unsupported),
            &["Type `SubscriptionConfirmation`"],
        ),
        // Limits.
        case(
            "too large",
            format!(r#"{{"padding": "{}"}}"#, "x".repeat(MAX_PAYLOAD_BYTES)),
            TooLarge,
            &["too large", "received 262159 bytes", "262144"],
        ),
        case("too deep", nested_arrays(MAX_DEPTH + 1), TooDeep, &["nested more than 64 levels"]),
        case("far too deep for serde", nested_arrays(5000), TooDeep, &["64"]),
        case(
            "deep object inside detail",
            with_set(AMI_STATE, "/detail/x", serde_json::from_slice(&nested_arrays(63)).unwrap()),
            TooDeep,
            &["64"],
        ),
        case(
            "too deep in an SQS body",
            sqs_body(&String::from_utf8(nested_arrays(100)).unwrap()),
            rec(0, TooDeep),
            &["record 0", "64"],
        ),
        case("exactly the depth limit is parsed", nested_arrays(MAX_DEPTH), Unsupported, &["a JSON array"]),
    ]
}

#[test]
fn malformed_and_unsupported_payloads() {
    let cases = cases();
    assert!(cases.len() >= 45, "only {} cases", cases.len());
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
                    if !message.contains(mention) {
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
        let error = parse_value(&value).expect_err(case.name);
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
    let EventError::InRecord { index, source } = &error else { panic!("{error:?}") };
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
