//! AWS's documented example events (`src/events/fixtures/aws_docs/`, sources in its README):
//! for each one, the exact event it yields or the exact refusal and its reason, bare and
//! wrapped as AWS delivers it to Lambda (an SQS record, an SNS record, an SQS record whose body
//! is an SNS notification), and, for the ones that must not lead to action, the typed outcome
//! of handling it.
//!
//! Most examples carry placeholders in fields that decide what amikeeper reads or writes (AWS
//! Backup's 13-digit account `1112233445566`, EC2's and EBS's time `yyyy-mm-ddThh:mm:ssZ`). As
//! printed they are refused with that reason; with only those placeholders filled in they parse
//! to the fields below. Fields amikeeper does not act on (backup vault and IAM role ARNs, backup
//! plans) never cause a refusal, whatever region or account they name.

use std::sync::Arc;

use amikeeper::events::{
    parse_payload, AmiEvent, BackupCopyJob, BackupJob, EventDetail, EventError, ImageStateChanged, Scheduled,
    SnapshotCreated,
};
use amikeeper::model::{AccountId, ImageId, Region};
use amikeeper::samples::configs::in_account;
use amikeeper::testing::{configs, ACCOUNT};
use amikeeper::{Config, HandleOptions, Keeper, MemoryAws, RunStatus};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// AWS Backup's placeholder account: 13 digits, so no account at all.
const BACKUP_PLACEHOLDER: &str = "1112233445566";
/// EC2's and EBS's placeholder time.
const TIME_PLACEHOLDER: &str = "yyyy-mm-ddThh:mm:ssZ";
/// The time the tests put in place of the placeholder.
const FILLED_TIME: &str = "2024-05-01T05:14:09Z";

const BACKUP_JOB: &str = "AWS Backup Backup Job State Change";
const COPY_JOB: &str = "AWS Backup Copy Job State Change";

fn doc(name: &str) -> String {
    let path = format!("{}/src/events/fixtures/aws_docs/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

fn doc_value(name: &str) -> Value {
    serde_json::from_str(&doc(name)).unwrap_or_else(|e| panic!("{name} is JSON: {e}"))
}

/// The example with only its envelope `account` set to [`ACCOUNT`] (what a user does first).
fn with_envelope_account(name: &str) -> String {
    let mut value = doc_value(name);
    value["account"] = json!(ACCOUNT);
    value.to_string()
}

/// The example with every `1112233445566` (envelope and ARNs) replaced by [`ACCOUNT`].
fn with_every_account(name: &str) -> String {
    doc(name).replace(BACKUP_PLACEHOLDER, ACCOUNT)
}

/// The example with the envelope `time` filled in.
fn with_time(name: &str) -> String {
    let mut value = doc_value(name);
    assert_eq!(value["time"], TIME_PLACEHOLDER, "{name}: the documented placeholder");
    value["time"] = json!(FILLED_TIME);
    value.to_string()
}

/// The payloads AWS delivers `event` in: the event itself, an SQS record, an SNS record, and an
/// SQS record whose body is an SNS notification (SNS to SQS without raw delivery).
fn deliveries(event: &str) -> Vec<(&'static str, String)> {
    let mut sqs = doc_value("sqs_event.json");
    sqs["Records"][0]["body"] = json!(event);
    let mut sns = doc_value("sns_event.json");
    sns["Records"][0]["Sns"]["Message"] = json!(event);
    let mut sqs_sns = doc_value("sqs_event.json");
    sqs_sns["Records"][0]["body"] = json!(sns["Records"][0]["Sns"].to_string());
    vec![
        ("bare", event.to_owned()),
        ("in an SQS record", sqs.to_string()),
        ("in an SNS record", sns.to_string()),
        ("in an SNS notification in an SQS record", sqs_sns.to_string()),
    ]
}

/// Parses `event` bare and in every delivery: each gives the same one event, or the same
/// refusal (for a record, as record 0 of the batch). Returns the bare outcome.
fn outcome(what: &str, event: &str) -> Result<AmiEvent, EventError> {
    let bare = parse_payload(event.as_bytes()).map(|mut events| {
        assert_eq!(events.len(), 1, "{what}: one event");
        events.remove(0)
    });
    for (how, payload) in deliveries(event).into_iter().skip(1) {
        let got = parse_payload(payload.as_bytes());
        match (&bare, got) {
            (Ok(want), Ok(events)) => assert_eq!(events, vec![want.clone()], "{what} {how}"),
            (Err(want), Err(EventError::InRecord { index: 0, source, .. })) => match (want, *source) {
                (EventError::NotJson { .. }, EventError::NotJson { .. }) => {}
                (want, got) => assert_eq!(&got, want, "{what} {how}"),
            },
            (want, got) => panic!("{what} {how}: want {want:?}, got {got:?}"),
        }
    }
    bare
}

fn at(text: &str) -> OffsetDateTime {
    OffsetDateTime::parse(text, &Rfc3339).unwrap()
}

fn event(region: &str, account: &str, time: &str, id: &str, detail: impl Into<EventDetail>) -> AmiEvent {
    AmiEvent::new(Region::new(region), AccountId::new(account), at(time), id.to_owned(), detail)
}

fn bad(event: &str, field: &str, problem: &str) -> EventError {
    EventError::BadField { event: event.into(), field: field.into(), problem: problem.into() }
}

fn placeholder_account(event: &str) -> EventError {
    bad(event, "account", "must be a 12-digit account id, received `1112233445566`")
}

fn placeholder_time(event: &str) -> EventError {
    bad(event, "time", "must be an RFC 3339 time, received `yyyy-mm-ddThh:mm:ssZ`")
}

/// Handles `event` with a configuration that publishes every AMI to `/ami/web` in `account`,
/// and returns the one report's status and reason, after checking it made no AWS call.
async fn handled(event: &str, account: &str) -> (RunStatus, String) {
    let config = in_account(configs::WEB_PARAMETER, account);
    let aws = Arc::new(MemoryAws::new(account));
    let keeper = Keeper::new(Config::from_toml(&config).unwrap(), aws.clone());
    let mut reports = keeper.handle_payload(event.as_bytes(), &HandleOptions::default()).await.unwrap();
    assert_eq!(reports.len(), 1);
    let report = reports.remove(0);
    assert_eq!(report.aws_calls, 0, "{report:#?}");
    assert!(aws.calls().is_empty(), "{:?}", aws.calls());
    (report.status, report.reason.unwrap_or_default())
}

/// Handles `event` as [`handled`] does, checks that it was ignored, and returns why.
async fn ignored(event: &str, account: &str) -> String {
    let (status, reason) = handled(event, account).await;
    assert_eq!(status, RunStatus::Ignored, "{reason}");
    reason
}

// ------------------------------------------------------------------------- Backup Job State Change

/// The documented backup jobs: their id, time and state. None of them is of an EC2 instance:
/// they name no instance and no AMI.
const BACKUP_JOBS: [(&str, &str, &str, &str); 7] = [
    ("backup_job_failed.json", "710b0398-d48e-f3c3-afca-cfeb2fdaa656", "2020-07-29T20:15:26Z", "FAILED"),
    ("backup_job_completed.json", "dafac799-9b88-0134-26b7-fef4d54a134f", "2020-07-15T21:41:17Z", "COMPLETED"),
    ("backup_job_running.json", "44946c39-b519-3505-44e6-ba74afeb2e30", "2020-07-15T21:39:13Z", "RUNNING"),
    ("backup_job_aborted.json", "4c91ceb0-b798-da82-6818-c29b3dce7543", "2020-07-15T21:33:16Z", "ABORTED"),
    ("backup_job_expired.json", "1d7bbc04-6120-1145-13b9-49b0af465328", "2020-07-29T13:04:57Z", "EXPIRED"),
    ("backup_job_pending.json", "64dd1897-f863-31a3-9ee5-b05e306d81ff", "2020-07-29T20:03:30Z", "PENDING"),
    ("backup_job_created.json", "29af2bf2-eace-58ab-da3a-8c0bf738d692", "2020-06-22T20:32:53Z", "CREATED"),
];

#[test]
fn documented_backup_jobs_as_printed_are_refused_for_their_placeholder_account() {
    for (name, ..) in BACKUP_JOBS {
        assert_eq!(outcome(name, &doc(name)), Err(placeholder_account(BACKUP_JOB)), "{name}");
    }
}

/// The finding of issue 16: with our account in the envelope, the vault and IAM role ARNs still
/// name `1112233445566` (and the vault another region in AWS's own variants), which amikeeper
/// acts on in no way: the event parses.
#[test]
fn documented_backup_jobs_in_our_account_parse_whatever_their_vault_and_role_name() {
    for (name, id, time, state) in BACKUP_JOBS {
        let want =
            event("us-west-2", ACCOUNT, time, id, BackupJob { state: state.into(), image_id: None, instance_id: None });
        assert_eq!(outcome(name, &with_envelope_account(name)), Ok(want.clone()), "{name}: envelope only");
        assert_eq!(outcome(name, &with_every_account(name)), Ok(want), "{name}: every account");
    }

    // AWS's failed example with its vault in another region than the envelope.
    let mut value: Value = serde_json::from_str(&with_envelope_account("backup_job_failed.json")).unwrap();
    value["region"] = json!("us-east-1");
    let parsed = outcome("backup_job_failed.json in us-east-1", &value.to_string()).unwrap();
    assert_eq!((parsed.region.as_str(), parsed.state()), ("us-east-1", Some("FAILED")));
}

#[tokio::test(start_paused = true)]
async fn documented_backup_jobs_lead_to_no_action() {
    for (name, _, _, state) in BACKUP_JOBS {
        let (status, reason) = handled(&with_envelope_account(name), ACCOUNT).await;
        assert_eq!(status, RunStatus::Ignored, "{name}");
        let want = if state == "COMPLETED" {
            "this backup_job event names no AMI (not an EC2 backup?)".to_owned()
        } else {
            format!("backup_job in state `{state}`; amikeeper acts when it completes")
        };
        assert_eq!(reason, want, "{name}");
    }
}

// --------------------------------------------------------------------------- Copy Job State Change

#[test]
fn documented_copy_jobs_as_printed_are_refused_for_their_placeholder_account() {
    for name in ["copy_job_failed.json", "copy_job_running.json", "copy_job_completed.json", "copy_job_created.json"] {
        assert_eq!(outcome(name, &doc(name)), Err(placeholder_account(COPY_JOB)), "{name}");
    }
}

/// With only the envelope in our account, the fields that decide what is read or written still
/// name the placeholder: the copied instance (it can name a parameter) and the destination vault
/// (the account the copy lands in). Each is refused with its reason.
#[test]
fn documented_copy_jobs_with_only_our_envelope_are_refused_where_it_matters() {
    assert_eq!(
        outcome("copy_job_failed.json", &with_envelope_account("copy_job_failed.json")),
        Err(bad(
            COPY_JOB,
            "detail.resourceArn",
            "names account `1112233445566`, but the event came from account `111122223333`: its body contradicts \
             its envelope"
        ))
    );
    for name in ["copy_job_running.json", "copy_job_completed.json", "copy_job_created.json"] {
        assert_eq!(
            outcome(name, &with_envelope_account(name)),
            Err(bad(
                COPY_JOB,
                "detail.destinationBackupVaultArn",
                "must be a 12-digit account id, received `1112233445566`"
            )),
            "{name}"
        );
    }
}

#[test]
fn documented_copy_jobs_in_our_account_parse() {
    let copy = |id: &str, time: &str, state: &str, instance: Option<&str>, source: Option<&str>| {
        let detail = BackupCopyJob {
            state: state.into(),
            image_id: None,
            instance_id: instance.map(str::to_owned),
            source_image_id: source.map(ImageId::new),
            source_region: Region::new("us-west-2"),
            source_account: AccountId::new(ACCOUNT),
        };
        event("us-west-2", ACCOUNT, time, id, detail)
    };

    let failed = copy(
        "4660bc92-a44d-c939-4542-cda503f14855",
        "2020-07-15T20:37:34Z",
        "FAILED",
        Some("i-0515aee7de03f58e1"),
        Some("ami-00179b33a7a88cac5"),
    );
    assert_eq!(outcome("copy_job_failed.json", &with_every_account("copy_job_failed.json")), Ok(failed));

    // An EBS volume's copy: no instance, and snapshots, not AMIs.
    let running = copy("d17480ae-7042-edb2-0ff5-8b94822c58e4", "2020-07-15T22:07:48Z", "RUNNING", None, None);
    assert_eq!(outcome("copy_job_running.json", &with_every_account("copy_job_running.json")), Ok(running));
    let completed = copy("47deb974-6473-aef1-56c2-52c3eaedfceb", "2020-07-15T22:08:04Z", "COMPLETED", None, None);
    assert_eq!(outcome("copy_job_completed.json", &with_every_account("copy_job_completed.json")), Ok(completed));

    let created = copy(
        "8398a4c4-8fe8-2b49-a4b9-fd4fdcd34a4e",
        "2020-06-22T21:06:32Z",
        "CREATED",
        None,
        Some("ami-0888b126e2170b98e"),
    );
    assert_eq!(outcome("copy_job_created.json", &with_every_account("copy_job_created.json")), Ok(created));
}

#[tokio::test(start_paused = true)]
async fn documented_copy_jobs_lead_to_no_action() {
    for (name, reason) in [
        ("copy_job_failed.json", "backup_copy_job in state `FAILED`; amikeeper acts when it completes"),
        ("copy_job_running.json", "backup_copy_job in state `RUNNING`; amikeeper acts when it completes"),
        ("copy_job_completed.json", "this backup_copy_job event names no AMI (not an EC2 backup?)"),
        ("copy_job_created.json", "backup_copy_job in state `CREATED`; amikeeper acts when it completes"),
    ] {
        assert_eq!(
            handled(&with_every_account(name), ACCOUNT).await,
            (RunStatus::Ignored, reason.to_owned()),
            "{name}"
        );
    }
}

/// A copy job's destination recovery point decides the region amikeeper reads the AMI in; one
/// outside its destination vault's region or account is refused.
#[test]
fn a_copy_job_whose_destination_point_leaves_its_vault_is_refused() {
    let mut value: Value = serde_json::from_str(&with_every_account("copy_job_completed.json")).unwrap();
    value["detail"]["destinationRecoveryPointArn"] = json!("arn:aws:ec2:eu-west-1::image/ami-0c0ffee0123456789");
    assert_eq!(
        outcome("point in another region", &value.to_string()),
        Err(bad(
            COPY_JOB,
            "detail.destinationRecoveryPointArn",
            "names region `eu-west-1`, but its destination vault is in region `us-west-2`: its body contradicts its \
             destination vault"
        ))
    );
    value["detail"]["destinationRecoveryPointArn"] =
        json!("arn:aws:ec2:us-west-2:444455556666:image/ami-0c0ffee0123456789");
    assert_eq!(
        outcome("point in another account", &value.to_string()),
        Err(bad(
            COPY_JOB,
            "detail.destinationRecoveryPointArn",
            "names account `444455556666`, but its destination vault is in account `111122223333`: its body \
             contradicts its destination vault"
        ))
    );
    value["detail"]["destinationRecoveryPointArn"] = json!("arn:aws:ec2:us-west-2::image/ami-0c0ffee0123456789");
    let parsed = outcome("point in the vault's region", &value.to_string()).unwrap();
    assert_eq!(parsed.image_id(), Some(&ImageId::new("ami-0c0ffee0123456789")));
    assert_eq!((parsed.region.as_str(), parsed.account.as_str()), ("us-west-2", ACCOUNT));
}

// ---------------------------------------------------------------------------- EC2 AMI State Change

const AMI_STATES: [(&str, &str); 4] = [
    ("ami_state_change_available.json", "available"),
    ("ami_state_change_failed.json", "failed"),
    ("ami_state_change_deregistered.json", "deregistered"),
    ("ami_state_change_disabled.json", "disabled"),
];

#[test]
fn documented_ami_state_changes_as_printed_are_refused_for_their_placeholder_time() {
    for (name, _) in AMI_STATES {
        assert_eq!(outcome(name, &doc(name)), Err(placeholder_time("EC2 AMI State Change")), "{name}");
    }
}

#[test]
fn documented_ami_state_changes_with_a_time_parse() {
    for (name, state) in AMI_STATES {
        let detail = ImageStateChanged { image_id: ImageId::new("ami-0abcdef1234567890"), state: state.into() };
        let want = event("us-east-1", "012345678901", FILLED_TIME, "example-9f07-51db-246b-d8b8441bcdf0", detail);
        assert_eq!(outcome(name, &with_time(name)), Ok(want), "{name}");
    }
}

#[tokio::test(start_paused = true)]
async fn documented_ami_state_changes_other_than_available_lead_to_no_action() {
    for (name, state) in AMI_STATES.into_iter().skip(1) {
        assert_eq!(
            handled(&with_time(name), "012345678901").await,
            (RunStatus::Ignored, format!("image_state_changed in state `{state}`; amikeeper acts when it completes")),
            "{name}"
        );
    }
}

// ------------------------------------------------------------------------ EBS snapshot events

#[test]
fn documented_snapshot_events_as_printed_are_refused_for_their_placeholder_time() {
    for name in [
        "ebs_create_snapshot.json",
        "ebs_create_snapshots_succeeded.json",
        "ebs_create_snapshots_failed.json",
        "ebs_copy_snapshot.json",
        "ebs_copy_snapshot_failed.json",
    ] {
        assert_eq!(outcome(name, &doc(name)), Err(placeholder_time("EBS Snapshot Notification")), "{name}");
    }
    // `shareSnapshot`'s example writes the sharing account as a number with a leading zero.
    let error = outcome("ebs_share_snapshot.json", &doc("ebs_share_snapshot.json")).unwrap_err();
    assert!(matches!(&error, EventError::NotJson { reason } if reason.contains("line 18")), "{error:?}");
}

#[test]
fn documented_snapshot_events_with_a_time_parse() {
    let snapshot = |account: &str, result: &str, snapshot: Option<&str>, volume: Option<&str>| {
        let detail = SnapshotCreated {
            state: result.into(),
            snapshot_id: snapshot.map(str::to_owned),
            volume_id: volume.map(str::to_owned),
        };
        event("us-east-1", account, FILLED_TIME, "01234567-0123-0123-0123-012345678901", detail)
    };
    for (what, name, want) in [
        // The snapshot's ARN names us-west-2 while the event comes from us-east-1: snapshot
        // events decide nothing amikeeper writes, so that is not compared.
        (
            "createSnapshot",
            "ebs_create_snapshot.json",
            snapshot("012345678901", "succeeded", Some("snap-01234567"), Some("vol-01234567")),
        ),
        // Several volumes: the event names no one snapshot.
        ("createSnapshots", "ebs_create_snapshots_succeeded.json", snapshot("012345678901", "succeeded", None, None)),
        ("createSnapshots failed", "ebs_create_snapshots_failed.json", snapshot("012345678901", "failed", None, None)),
        // A copy: its source is the snapshot copied from, not a volume.
        ("copySnapshot", "ebs_copy_snapshot.json", snapshot("123456789012", "succeeded", Some("snap-01234567"), None)),
        (
            "copySnapshot failed",
            "ebs_copy_snapshot_failed.json",
            snapshot("123456789012", "failed", Some("snap-01234567"), None),
        ),
    ] {
        assert_eq!(outcome(what, &with_time(name)), Ok(want), "{what}");
    }
}

#[tokio::test(start_paused = true)]
async fn documented_snapshot_events_lead_to_no_action() {
    let reason = ignored(&with_time("ebs_create_snapshot.json"), "012345678901").await;
    assert_eq!(reason, "snapshot events move no pointer; snapshot generations are kept by retention");
}

// --------------------------------------------------------------------------------- Scheduled Event

/// AWS's scheduled event parses as printed, and without a rule that bakes on its schedule it
/// leads to no action.
#[tokio::test(start_paused = true)]
async fn documented_scheduled_event_parses_as_printed_and_without_a_bake_rule_leads_to_no_action() {
    let printed = doc("scheduled_event.json");
    let detail = Scheduled { rule_name: Some("my-scheduled-rule".into()) };
    let want =
        event("us-east-1", "123456789012", "2015-10-08T16:53:06Z", "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa", detail);
    assert_eq!(outcome("scheduled_event.json", &printed), Ok(want));
    let reason = ignored(&printed, "123456789012").await;
    assert_eq!(reason, "no rule with `bake` takes the schedule `my-scheduled-rule`");
}

// ----------------------------------------------------------------------------------------- batches

/// Every documented example with its placeholders filled, in one SQS batch: one event per
/// record, in order, each the same as alone.
#[test]
fn every_documented_example_in_one_batch() {
    let mut events: Vec<String> = BACKUP_JOBS.iter().map(|(name, ..)| with_envelope_account(name)).collect();
    events.extend(
        ["copy_job_failed.json", "copy_job_running.json", "copy_job_completed.json", "copy_job_created.json"]
            .map(with_every_account),
    );
    events.extend(AMI_STATES.map(|(name, _)| with_time(name)));
    events.extend(
        [
            "ebs_create_snapshot.json",
            "ebs_create_snapshots_succeeded.json",
            "ebs_create_snapshots_failed.json",
            "ebs_copy_snapshot.json",
            "ebs_copy_snapshot_failed.json",
        ]
        .map(with_time),
    );
    events.push(doc("scheduled_event.json"));

    let template = doc_value("sqs_event.json")["Records"][0].clone();
    let records: Vec<Value> = events
        .iter()
        .map(|event| {
            let mut record = template.clone();
            record["body"] = json!(event);
            record
        })
        .collect();
    let batch = json!({ "Records": records }).to_string();
    let parsed = parse_payload(batch.as_bytes()).unwrap();
    let alone: Vec<AmiEvent> = events.iter().map(|event| parse_payload(event.as_bytes()).unwrap().remove(0)).collect();
    assert_eq!(parsed.len(), 21);
    assert_eq!(parsed, alone);
}
