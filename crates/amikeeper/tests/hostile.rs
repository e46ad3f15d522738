//! Hostile input: names from tags that aim elsewhere, payloads too large or too deep, huge
//! batches, events whose body contradicts their envelope, and secrets that must not reach the
//! logs. Each is refused with a typed error or a `refused` report, and nothing is written: the
//! calls `MemoryAws` recorded hold no write operation.

use std::io::Write;
use std::sync::{Arc, Mutex};

use amikeeper::backend::SsmApi;
use amikeeper::events::{parse_value, EventError, EventParser, StandardEventParser, MAX_DEPTH, MAX_PAYLOAD_BYTES};
use amikeeper::memory::ImageSeed;
use amikeeper::model::{ImageId, ParameterType, PutParameter, Region};
use amikeeper::publish::Status;
use amikeeper::samples::{sqs_batch, Origin};
use amikeeper::testing::{configs, handle, keeper, ACCOUNT, OTHER_ACCOUNT, REGION};
use amikeeper::{Config, HandleOptions, Keeper, MemoryAws, RunStatus, SweepOptions};
use serde_json::{json, Value};

const OTHER_REGION: &str = "us-east-1";
const INSTANCE: &str = "i-0123456789abcdef0";

/// Seed 001's configuration, plus a rule whose parameter name comes from a tag on any event.
const TAGGED: &str = configs::HOSTILE_TAGGED;

/// A plain configuration: every `web-` AMI goes to `/ami/web`.
const PLAIN: &str = configs::WEB_PARAMETER;

/// Whether a recorded call (`service:Operation`) changes anything.
fn is_write(call: &str) -> bool {
    let operation = call.split_once(':').map_or(call, |(_, op)| op);
    !["Describe", "Get", "List"].iter().any(|read| operation.starts_with(read))
}

fn assert_no_writes(aws: &MemoryAws, what: &str) {
    let writes: Vec<String> = aws.calls().into_iter().filter(|call| is_write(call)).collect();
    assert!(writes.is_empty(), "{what}: wrote {writes:?}");
}

fn origin(id: &str) -> Origin {
    Origin::new(ACCOUNT, REGION, id)
}

/// An account with the AMI `web-1` in `REGION`, and a keeper for the plain configuration.
fn web_1() -> (Arc<MemoryAws>, ImageId, Keeper) {
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let image = aws.add_image(REGION, ImageSeed::new("web-1"));
    let keeper = keeper(PLAIN, &aws);
    (aws, image, keeper)
}

// ------------------------------------------------------------------------------- names from tags

/// Tag values that try to aim a write somewhere else.
fn hostile_names() -> Vec<(String, &'static str)> {
    vec![
        ("/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64".into(), "AWS's public parameters"),
        ("/aws/reference/secretsmanager/prod-db".into(), "a Secrets Manager reference"),
        ("../prod/db/password".into(), "a relative path"),
        ("/ami/../prod/db/password".into(), "a `..` segment after the prefix"),
        ("/ami/./../prod".into(), "a `.` and a `..` segment"),
        ("/ami//prod".into(), "an empty segment"),
        ("/ami/%2e%2e/prod".into(), "URL-encoded dots"),
        ("/prod/db/password".into(), "another prefix"),
        ("/amiprod/web".into(), "a prefix that only starts like the allowed one"),
        ("/AMI/web".into(), "the prefix in other case"),
        ("ami/web".into(), "the prefix without its leading slash"),
        (" /ami/web".into(), "a leading space"),
        ("/ami/web ".into(), "a trailing space"),
        (String::new(), "an empty value"),
        (format!("/ami/{}", "a".repeat(2100)), "a name longer than SSM allows"),
        ("/ami/w\u{435}b".into(), "a Cyrillic lookalike letter"),
        ("\u{ff0f}ami\u{ff0f}web".into(), "fullwidth solidus lookalikes"),
        ("/ami\u{2215}..\u{2215}prod".into(), "division-slash lookalikes"),
        ("/ami/web\u{202e}".into(), "a right-to-left override"),
        ("/ami/web\u{200b}".into(), "a zero-width space"),
        ("/ami/web\n/prod/db/password".into(), "a newline and a second name"),
        ("/ami/web\r\n".into(), "a carriage return"),
        ("/ami/web\u{0}".into(), "a NUL byte"),
        ("/ami/web\t".into(), "a tab"),
        ("/ami/{tag:Other}".into(), "a placeholder inside the value"),
        ("/ssm/web".into(), "the reserved `ssm` prefix"),
        ("solution/../aws/x".into(), "the second allowed prefix, then `..`"),
    ]
}

#[tokio::test(start_paused = true)]
async fn parameter_names_from_hostile_tags_are_refused_and_nothing_is_written() {
    assert_refused(hostile_names()).await;
}

/// Names SSM itself refuses: amikeeper's own check lets them through, so the report says
/// `failed` (an AWS validation error, exit code 1) instead of `refused`. Nothing is stored.
#[tokio::test(start_paused = true)]
async fn parameter_names_ssm_refuses_are_refused_before_calling_ssm() {
    assert_refused(vec![
        (format!("/ami/{}a", "a/".repeat(20)), "more levels than SSM allows"),
        ("/ami/web/".into(), "a trailing `/`"),
    ])
    .await;
}

async fn assert_refused(names: Vec<(String, &'static str)>) {
    let mut accepted = Vec::new();
    for (value, why) in names {
        let aws = Arc::new(MemoryAws::new(ACCOUNT));
        let image = aws.add_image(REGION, ImageSeed::new("web-1").tag("ImageIdParameterName", value.as_str()));
        let keeper = keeper(TAGGED, &aws);
        for event in [
            origin("e1").backup_job(image.as_str(), INSTANCE, "COMPLETED"),
            origin("e2").image_state_change(image.as_str(), "available"),
            origin("e3").create_image(image.as_str(), INSTANCE, "web-1", ""),
        ] {
            let reports = handle(&keeper, &event).await;
            let report = &reports[0];
            let statuses: Vec<Status> = report.targets.iter().map(|t| t.outcome.status).collect();
            if value.is_empty() {
                // An empty tag is no name at all: the target is skipped, as if the tag were missing.
                assert_eq!(statuses, [Status::Skipped], "{why}: {report:#?}");
                continue;
            }
            if report.status != RunStatus::Refused || statuses != [Status::Refused] {
                let reasons: Vec<&str> = report.targets.iter().map(|t| t.outcome.reason.as_str()).collect();
                accepted.push(format!("{why} ({value:?}): {:?} {statuses:?} {reasons:?}", report.status));
            }
        }
        let ssm: Vec<String> = aws.calls().into_iter().filter(|c| c.starts_with("ssm:")).collect();
        if !ssm.is_empty() {
            accepted.push(format!("{why} ({value:?}): reached SSM: {ssm:?}"));
        }
    }
    assert!(accepted.is_empty(), "not refused:\n  {}", accepted.join("\n  "));
}

#[tokio::test(start_paused = true)]
async fn stack_and_template_names_from_hostile_tags_are_refused() {
    let stacks = ["prod-db", "solution/../prod", "solution\nprod", "solution-\u{435}", "solution-x; rm -rf", ""];
    let templates = ["prod", "../prod", "/ami/../x", "solution..x", "solution\u{200b}"];
    let cases = stacks.iter().map(|v| ("StackName", *v)).chain(templates.iter().map(|v| ("TemplateName", *v)));
    for (tag, value) in cases {
        let aws = Arc::new(MemoryAws::new(ACCOUNT));
        let image = aws.add_image(REGION, ImageSeed::new("web-1").tag(tag, value));
        let reports =
            handle(&keeper(TAGGED, &aws), &origin("e1").backup_job(image.as_str(), INSTANCE, "COMPLETED")).await;
        let statuses: Vec<Status> = reports[0].targets.iter().map(|t| t.outcome.status).collect();
        let expected = if value.is_empty() { Status::Skipped } else { Status::Refused };
        assert_eq!(statuses, [expected], "{tag}={value:?}: {:#?}", reports[0]);
        assert_no_writes(&aws, &format!("{tag}={value:?}"));
    }
}

#[test]
fn a_tag_name_without_an_allow_list_is_a_configuration_error() {
    let error = Config::from_toml(configs::TAG_NAME_WITHOUT_ALLOW_LIST).unwrap_err();
    assert!(error.to_string().contains("allowed_name_prefixes"), "{error}");
    let empty_prefix = Config::from_toml(&TAGGED.replace(r#"["/ami/", "solution"]"#, r#"["/ami/", ""]"#));
    assert!(empty_prefix.is_err(), "an empty prefix would allow every name");
}

// ------------------------------------------------------------------------------- payloads

fn nested(depth: usize, open: &str, close: &str, inner: &str) -> String {
    let mut text = String::with_capacity(depth * (open.len() + close.len()) + inner.len());
    for _ in 0..depth {
        text.push_str(open);
    }
    text.push_str(inner);
    for _ in 0..depth {
        text.push_str(close);
    }
    text
}

#[tokio::test(start_paused = true)]
async fn oversized_and_deeply_nested_payloads_are_refused_before_any_call() {
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let keeper = keeper(PLAIN, &aws);
    let event = origin("e1").image_state_change("ami-0123456789abcdef0", "available");

    // 10 MB: a valid event with a huge field, and plain garbage.
    let mut huge = event.clone();
    huge["detail"]["padding"] = Value::String("x".repeat(10 << 20));
    let garbage = vec![b'{'; 10 << 20];
    let too_deep_arrays = nested(100_000, "[", "]", "");
    let too_deep_objects = nested(100_000, r#"{"a":"#, "}", "1");
    let mut deep_detail = event.to_string();
    deep_detail =
        deep_detail.replacen(r#""detail":{"#, &format!(r#""detail":{{"x":{},"#, nested(100_000, "[", "]", "")), 1);
    let deep_in_sqs = json!({"Records": [{
        "eventSource": "aws:sqs", "messageId": "m", "body": nested(100_000, "[", "]", "")
    }]})
    .to_string();
    let unclosed = "[".repeat(100_000);

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("a 10 MB event", huge.to_string().into_bytes()),
        ("10 MB of `{`", garbage),
        ("100,000 nested arrays", too_deep_arrays.into_bytes()),
        ("100,000 nested objects", too_deep_objects.into_bytes()),
        ("a valid event with 100,000 levels in its detail", deep_detail.into_bytes()),
        ("an SQS body nested 100,000 levels", deep_in_sqs.into_bytes()),
        ("100,000 unclosed `[`", unclosed.into_bytes()),
        ("nothing", Vec::new()),
        ("whitespace", b" \n\t ".to_vec()),
        ("invalid UTF-8", vec![0xff, 0xfe, 0x7b, 0x00]),
    ];
    for (what, payload) in cases {
        let started = std::time::Instant::now();
        let error = keeper.handle_payload(&payload, &HandleOptions::default()).await.expect_err(what);
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "{what} took {:?}", started.elapsed());
        let typed = matches!(
            &error,
            EventError::TooLarge { .. }
                | EventError::TooDeep { .. }
                | EventError::Empty
                | EventError::NotJson { .. }
                | EventError::InRecord { .. }
        );
        assert!(typed, "{what}: {error:?}");
        assert!(
            error.to_string().len() < 2_000,
            "{what}: the message quotes the payload: {} bytes",
            error.to_string().len()
        );
    }
    assert!(aws.calls().is_empty(), "not one call: {:?}", aws.calls());

    // The same limits hold for an already decoded value (a Lambda runtime's dict).
    assert!(matches!(parse_value(&huge), Err(EventError::TooLarge { .. })));
    let mut deep = json!(1);
    for _ in 0..(MAX_DEPTH + 1) {
        deep = json!([deep]);
    }
    assert!(matches!(parse_value(&deep), Err(EventError::TooDeep { .. })));
    // Dropping a 100,000-level value must not overflow the stack either.
    let mut very_deep = Value::Null;
    for _ in 0..100_000 {
        very_deep = Value::Array(vec![very_deep]);
    }
    assert!(matches!(parse_value(&very_deep), Err(EventError::TooDeep { .. })));
    std::mem::forget(very_deep); // serde_json's recursive Drop would overflow the test's stack
}

#[tokio::test(start_paused = true)]
async fn batches_of_thousands_of_records_are_refused_or_handled_without_writing() {
    let (aws, image, keeper) = web_1();

    // 5,000 records of a valid event: far beyond EventBridge's 256 KiB, refused as a whole.
    let events: Vec<Value> = (0..5_000)
        .map(|i| Origin::new(OTHER_ACCOUNT, REGION, &format!("e{i}")).image_state_change(image.as_str(), "available"))
        .collect();
    let batch = sqs_batch(&events).to_string();
    assert!(batch.len() > MAX_PAYLOAD_BYTES);
    let error = keeper.handle_payload(batch.as_bytes(), &HandleOptions::default()).await.unwrap_err();
    assert!(matches!(error, EventError::TooLarge { .. }), "{error:?}");

    // With the limit raised (a Lambda SQS batch can be 6 MB), all 5,000 parse, and each event,
    // from an account the configuration does not list, is refused without a single call.
    let parsed = StandardEventParser::new().with_max_bytes(64 << 20).parse(batch.as_bytes()).expect("parses");
    assert_eq!(parsed.len(), 5_000);
    for event in &parsed {
        let report = keeper.handle(event).await;
        assert_eq!((report.status, report.aws_calls), (RunStatus::Refused, 0), "{report:#?}");
    }

    // 20,000 tiny records that are not events: a typed error naming the record.
    let junk = json!({"Records": vec![json!({"eventSource": "aws:sqs", "body": "{}"}); 20_000]}).to_string();
    let error = keeper.handle_payload(junk.as_bytes(), &HandleOptions::default()).await.unwrap_err();
    assert!(matches!(error, EventError::TooLarge { .. } | EventError::InRecord { .. }), "{error:?}");
    let error = StandardEventParser::new().with_max_bytes(64 << 20).parse(junk.as_bytes()).unwrap_err();
    assert!(matches!(error, EventError::InRecord { index: 0, .. }), "{error:?}");

    // One bad record among thousands of good ones fails the whole batch: nothing is handled.
    let mut mixed: Vec<Value> =
        (0..2_000).map(|i| origin(&format!("g{i}")).image_state_change(image.as_str(), "available")).collect();
    mixed.push(json!({"source": "aws.ec2", "detail-type": "EC2 AMI State Change"}));
    let mixed = sqs_batch(&mixed).to_string();
    let error = StandardEventParser::new().with_max_bytes(64 << 20).parse(mixed.as_bytes()).unwrap_err();
    assert!(matches!(error, EventError::InRecord { index: 2_000, .. }), "{error:?}");

    assert_no_writes(&aws, "batches");
    assert!(aws.calls().is_empty(), "{:?}", aws.calls());
}

// ------------------------------------------------------------------------------- envelopes

#[tokio::test(start_paused = true)]
async fn events_from_another_account_are_refused_whatever_the_body_says() {
    let (aws, image, keeper) = web_1();
    let other = Origin::new(OTHER_ACCOUNT, REGION, "e1");
    let events = vec![
        other.image_state_change(image.as_str(), "available"),
        other.create_image(image.as_str(), INSTANCE, "web-1", ""),
        other.backup_job(image.as_str(), INSTANCE, "COMPLETED"),
    ];
    for event in &events {
        for report in handle(&keeper, event).await {
            assert_eq!((report.status, report.aws_calls), (RunStatus::Refused, 0), "{report:#?}");
        }
    }
    // In an SQS batch, each one is refused on its own.
    for report in handle(&keeper, &sqs_batch(&events)).await {
        assert_eq!(report.status, RunStatus::Refused);
    }
    // A body that claims our account while the envelope says another is not even parsed.
    let mut claims_ours = other.create_image(image.as_str(), INSTANCE, "web-1", "");
    claims_ours["detail"]["recipientAccountId"] = json!(ACCOUNT);
    claims_ours["detail"]["userIdentity"]["accountId"] = json!(ACCOUNT);
    let mut backup_claims_ours = other.backup_job(image.as_str(), INSTANCE, "COMPLETED");
    backup_claims_ours["detail"]["resourceArn"] = json!(format!("arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{INSTANCE}"));
    for event in [claims_ours, backup_claims_ours] {
        let error = keeper.handle_payload(event.to_string().as_bytes(), &HandleOptions::default()).await.unwrap_err();
        assert!(error.to_string().contains("contradicts its envelope"), "{error}");
    }
    assert!(aws.calls().is_empty(), "{:?}", aws.calls());
}

/// An AWS Backup copy job runs in the source account; its envelope names that account. A copy
/// job from an account the configuration does not list must not be trusted because its
/// destination vault is in ours.
#[tokio::test(start_paused = true)]
async fn a_copy_job_from_another_account_is_refused_even_into_our_vault() {
    let (aws, image, keeper) = web_1();
    let event = copy_job(OTHER_ACCOUNT, OTHER_REGION, ACCOUNT, REGION, &image);
    for report in handle(&keeper, &event).await {
        assert_eq!(report.status, RunStatus::Refused, "{report:#?}");
    }
    assert_no_writes(&aws, "a copy job from another account");
}

/// A body that contradicts its envelope in a field amikeeper acts on (CloudTrail's
/// `recipientAccountId` or `awsRegion`, an AWS Backup instance or recovery point in another
/// account or region, a copy job's recovery point outside its destination vault) is not one AWS
/// sends: refuse it.
#[tokio::test(start_paused = true)]
async fn events_whose_body_contradicts_the_envelope_are_refused() {
    let mut accepted = Vec::new();
    let ids = contradicting_events(&ImageId::from("ami-00000000000000001")).len();
    for case in 0..ids {
        let (aws, image, keeper) = web_1();
        let (what, event) = contradicting_events(&image).swap_remove(case);
        let outcome = keeper.handle_payload(event.to_string().as_bytes(), &HandleOptions::default()).await;
        let statuses: Vec<RunStatus> = outcome.iter().flatten().map(|r| r.status).collect();
        let writes: Vec<String> = aws.calls().into_iter().filter(|call| is_write(call)).collect();
        if statuses.iter().any(|s| *s != RunStatus::Refused) || !writes.is_empty() {
            accepted.push(format!("{what}: {statuses:?}, wrote {writes:?}"));
        }
    }
    assert!(accepted.is_empty(), "accepted:\n  {}", accepted.join("\n  "));
}

fn contradicting_events(image: &ImageId) -> Vec<(&'static str, Value)> {
    let ours = origin("e1");
    let mut other_recipient = ours.create_image(image.as_str(), INSTANCE, "web-1", "");
    other_recipient["detail"]["recipientAccountId"] = json!(OTHER_ACCOUNT);
    other_recipient["detail"]["userIdentity"]["accountId"] = json!(OTHER_ACCOUNT);
    let mut other_region = ours.create_image(image.as_str(), INSTANCE, "web-1", "");
    other_region["detail"]["awsRegion"] = json!(OTHER_REGION);
    let mut backup_other_region = ours.backup_job(image.as_str(), INSTANCE, "COMPLETED");
    backup_other_region["detail"]["recoveryPointArn"] = json!(format!("arn:aws:ec2:{OTHER_REGION}::image/{image}"));
    let mut backup_other_account = ours.backup_job(image.as_str(), INSTANCE, "COMPLETED");
    backup_other_account["detail"]["resourceArn"] =
        json!(format!("arn:aws:ec2:{REGION}:{OTHER_ACCOUNT}:instance/{INSTANCE}"));
    backup_other_account["detail"]["backupVaultArn"] =
        json!(format!("arn:aws:backup:{REGION}:{OTHER_ACCOUNT}:backup-vault:Default"));
    let mut state_other_region = ours.image_state_change(image.as_str(), "available");
    state_other_region["resources"] = json!([format!("arn:aws:ec2:{OTHER_REGION}::image/{image}")]);
    let mut backup_point_other_account = ours.backup_job(image.as_str(), INSTANCE, "COMPLETED");
    backup_point_other_account["detail"]["recoveryPointArn"] =
        json!(format!("arn:aws:ec2:{REGION}:{OTHER_ACCOUNT}:image/{image}"));
    let mut backup_instance_other_region = ours.backup_job(image.as_str(), INSTANCE, "COMPLETED");
    backup_instance_other_region["detail"]["resourceArn"] =
        json!(format!("arn:aws:ec2:{OTHER_REGION}:{ACCOUNT}:instance/{INSTANCE}"));
    let mut copy_point_outside_vault = copy_job(ACCOUNT, OTHER_REGION, ACCOUNT, REGION, image);
    copy_point_outside_vault["detail"]["destinationRecoveryPointArn"] =
        json!(format!("arn:aws:ec2:{OTHER_REGION}::image/{image}"));
    vec![
        ("CloudTrail recipientAccountId of another account", other_recipient),
        ("CloudTrail awsRegion of another region", other_region),
        ("a backup recovery point in another region", backup_other_region),
        ("a backup of another account's instance", backup_other_account),
        ("an AMI state change whose resource is in another region", state_other_region),
        ("a backup recovery point of another account", backup_point_other_account),
        ("a backup of an instance in another region", backup_instance_other_region),
        (
            "a copy job whose destination recovery point is outside its destination vault's region",
            copy_point_outside_vault,
        ),
    ]
}

/// What amikeeper does not act on does not refuse an event: a backup job whose vault, IAM role
/// and backup plan name another region and account (as AWS's documented examples do) publishes
/// its AMI like any other. The instance and the AMI still agree with the envelope.
#[tokio::test(start_paused = true)]
async fn fields_amikeeper_does_not_act_on_do_not_refuse_an_event() {
    let (aws, image, keeper) = web_1();
    let mut event = origin("e1").backup_job(image.as_str(), INSTANCE, "COMPLETED");
    let detail = &mut event["detail"];
    detail["backupVaultArn"] = json!(format!("arn:aws:backup:{OTHER_REGION}:{OTHER_ACCOUNT}:backup-vault:Default"));
    detail["iamRoleArn"] = json!(format!("arn:aws:iam::{OTHER_ACCOUNT}:role/MockRCBackupTestRole"));
    detail["createdBy"] = json!({
        "backupPlanId": "bde0f455-4e24-4668-aeaa-4932a97f5cc5",
        "backupPlanArn": format!("arn:aws:backup:{OTHER_REGION}:{OTHER_ACCOUNT}:backup-plan:bde0f455-4e24-4668-aeaa-4932a97f5cc5"),
    });
    let reports = handle(&keeper, &event).await;
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].status, RunStatus::Ok, "{:#?}", reports[0]);
    assert_eq!(aws.parameter(REGION, "/ami/web").unwrap().value, image.as_str());

    // The same event from an account not in `accounts` is still refused, nothing read.
    let other = Arc::new(MemoryAws::new(OTHER_ACCOUNT));
    let keeper = self::keeper(PLAIN, &other);
    event["account"] = json!(OTHER_ACCOUNT);
    event["detail"]["resourceArn"] = json!(format!("arn:aws:ec2:{REGION}:{OTHER_ACCOUNT}:instance/{INSTANCE}"));
    for report in handle(&keeper, &event).await {
        assert_eq!((report.status, report.aws_calls), (RunStatus::Refused, 0), "{report:#?}");
    }
    assert!(other.calls().is_empty(), "{:?}", other.calls());
}

fn copy_job(source_account: &str, source_region: &str, account: &str, region: &str, image: &ImageId) -> Value {
    json!({
        "version": "0",
        "id": "copy-1",
        "detail-type": "Copy Job State Change",
        "source": "aws.backup",
        "account": source_account,
        "time": "2026-11-24T03:00:00Z",
        "region": source_region,
        "resources": [format!("arn:aws:ec2:{source_region}::image/ami-0aaaaaaaaaaaaaaa0")],
        "detail": {
            "copyJobId": "copy-1",
            "state": "COMPLETED",
            "resourceType": "EC2",
            "resourceArn": format!("arn:aws:ec2:{source_region}:{source_account}:instance/{INSTANCE}"),
            "sourceRecoveryPointArn": format!("arn:aws:ec2:{source_region}::image/ami-0aaaaaaaaaaaaaaa0"),
            "destinationBackupVaultArn": format!("arn:aws:backup:{region}:{account}:backup-vault:Default"),
            "destinationRecoveryPointArn": format!("arn:aws:ec2:{region}::image/{image}"),
        }
    })
}

// ------------------------------------------------------------------------------- secrets

const SECRET: &str = "s3cr3t-Tr0ub4dor-and-3";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

async fn secure(aws: &MemoryAws, name: &str, value: &str) {
    let request = PutParameter {
        name: name.into(),
        value: value.into(),
        kind: ParameterType::SecureString,
        data_type: None,
        overwrite: true,
        description: None,
    };
    aws.put_parameter(&Region::from(REGION), &request).await.unwrap();
}

/// Captures everything logged at TRACE level while `run` runs on a paused current-thread runtime.
fn capture_logs(run: impl std::future::Future<Output = ()>) -> String {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
    tracing::subscriber::with_default(subscriber, || runtime.block_on(run));
    captured.text()
}

/// Runs that read SecureString parameters (a target that is one, with failures and retries on
/// the way, then a sweep over a path that holds two) log at TRACE level, and the secret
/// appears nowhere in the logs.
#[test]
fn secure_string_values_never_reach_the_logs() {
    let logs = capture_logs(async {
        let aws = Arc::new(MemoryAws::new(ACCOUNT));
        secure(&aws, "/ami/secret", SECRET).await;
        secure(&aws, "/ami/creds/db", SECRET).await;
        let image = aws.add_image(REGION, ImageSeed::new("web-1"));
        let config = configs::SECRET_PARAMETER_AND_SWEEP;
        let keeper = keeper(config, &aws);
        // Every call fails once or more, so errors and retries are logged too.
        aws.inject_random(7, 0.5, &[]);
        for id in ["e1", "e2", "e3"] {
            let _ = handle(&keeper, &origin(id).image_state_change(image.as_str(), "available")).await;
        }
        aws.clear_faults();
        let reports = handle(&keeper, &origin("e4").image_state_change(image.as_str(), "available")).await;
        assert_eq!(reports[0].targets.len(), 1, "{:#?}", reports[0]);
        let options = SweepOptions::default().apply(true).now(aws.now());
        keeper.sweep(&Region::from(REGION), &options).await.expect("sweep");
        aws.inject_random(9, 0.5, &[]);
        let _ = keeper.sweep(&Region::from(REGION), &options).await;
    });
    assert!(logs.contains("/ami/secret"), "the capture works:\n{logs}");
    assert!(!logs.contains(SECRET), "a SecureString value was logged:\n{logs}");
}

/// A launch template id kept in a SecureString parameter: when EC2 refuses the id, its error
/// message quotes it, and the keeper logs that message.
#[test]
fn a_secure_launch_template_id_never_reaches_the_logs() {
    let logs = capture_logs(async {
        let aws = Arc::new(MemoryAws::new(ACCOUNT));
        secure(&aws, "/app/launch-template-id", SECRET).await;
        let image = aws.add_image(REGION, ImageSeed::new("web-1"));
        let config = configs::SECRET_TEMPLATE_ID;
        let _ = handle(&keeper(config, &aws), &origin("e1").image_state_change(image.as_str(), "available")).await;
    });
    assert!(logs.contains("launch-template-id"), "the capture works:\n{logs}");
    assert!(!logs.contains(SECRET), "a SecureString value was logged:\n{logs}");
}

/// The report of the same run, which the CLI prints and a Lambda returns, does not carry the
/// secret either.
#[tokio::test(start_paused = true)]
async fn secure_string_values_never_reach_the_report() {
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    secure(&aws, "/ami/secret", SECRET).await;
    secure(&aws, "/app/launch-template-id", SECRET).await;
    let image = aws.add_image(REGION, ImageSeed::new("web-1"));
    let config = configs::SECRETS_TO_REPORT;
    let reports = handle(&keeper(config, &aws), &origin("e1").image_state_change(image.as_str(), "available")).await;
    let json = serde_json::to_string(&reports).unwrap();
    assert!(!json.contains(SECRET), "{json}");
}
