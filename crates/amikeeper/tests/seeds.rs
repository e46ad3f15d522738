//! Every seed flow end to end on `MemoryAws`, through real-shaped event payloads, asserting the
//! resulting state of the in-memory account.

use std::collections::BTreeMap;
use std::sync::Arc;

use amikeeper::config::WaitConfig;
use amikeeper::events::parse_payload;
use amikeeper::memory::{Fault, FaultKind, ImageSeed};
use amikeeper::model::{ImageId, ImageState, LaunchTemplateSpec, Tags, STACK_NAME_TAG};
use amikeeper::publish::Status;
use amikeeper::samples::{configs, Origin};
use amikeeper::{Config, HandleOptions, Keeper, MemoryAws, Report, RunStatus};
use serde_json::Value;

const ACCOUNT: &str = "111122223333";
const TOKYO: &str = "ap-northeast-1";
const SINGAPORE: &str = "ap-southeast-1";

fn keeper(config: &str, aws: &Arc<MemoryAws>) -> Keeper {
    Keeper::new(Config::from_toml(config).expect("valid config"), aws.clone())
}

async fn handle(keeper: &Keeper, payload: Value) -> Report {
    let events = parse_payload(payload.to_string().as_bytes()).expect("payload parses");
    assert_eq!(events.len(), 1);
    keeper.handle(&events[0]).await
}

fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn statuses(report: &Report) -> Vec<Status> {
    report.targets.iter().map(|t| t.outcome.status).collect()
}

fn tokyo(id: &str) -> Origin {
    Origin::new(ACCOUNT, TOKYO, id)
}

// ---------------------------------------------------------------- seed 000

const SEED_000: &str = configs::SEED_000_BACKUP_TO_PARAMETER;

#[tokio::test]
async fn seed_000_backup_ami_lands_in_version_1_in_main_and_dr_regions() {
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let instance = "i-0a1b2c3d4e5f60718";
    let old = aws.add_image(TOKYO, ImageSeed::new(format!("AWSBackup_{instance}_old")));
    aws.set_parameter(TOKYO, instance, old.as_str()).unwrap();
    let name = format!("AWSBackup_{instance}_2b1f0c3e");
    let new = aws.add_image(TOKYO, ImageSeed::new(&name).pending());
    let keeper = keeper(SEED_000, &aws);

    // CloudTrail CreateImage arrives while the AMI is still pending: never published.
    let report = handle(&keeper, tokyo("e1").create_image(new.as_str(), instance, &name, "backup")).await;
    assert_eq!(report.status, RunStatus::Deferred, "{report:#?}");
    assert_eq!(aws.parameter(TOKYO, instance).unwrap().value, old.as_str());

    // The AMI becomes available: its state-change event finishes the job, at version 1.
    let report = handle(&keeper, tokyo("e2").image_state_change(new.as_str(), "available")).await;
    assert_eq!(statuses(&report), [Status::Updated], "{report:#?}");
    let parameter = aws.parameter(TOKYO, instance).unwrap();
    assert_eq!((parameter.value.as_str(), parameter.version), (new.as_str(), 1));

    // DR: AWS Backup copies the AMI to Singapore; the CopyImage event there updates Singapore.
    let copy = aws.add_image(SINGAPORE, ImageSeed::new(&name));
    let dr = Origin::new(ACCOUNT, SINGAPORE, "e3");
    let report = handle(&keeper, dr.copy_image(copy.as_str(), new.as_str(), TOKYO, &name)).await;
    assert_eq!(statuses(&report), [Status::Updated], "{report:#?}");
    assert_eq!(report.event.region, SINGAPORE);
    let parameter = aws.parameter(SINGAPORE, instance).unwrap();
    assert_eq!((parameter.value.as_str(), parameter.version), (copy.as_str(), 1));
    assert_eq!(aws.parameter(TOKYO, instance).unwrap().value, new.as_str(), "Tokyo untouched by the DR event");
}

#[tokio::test(start_paused = true)]
async fn fixed_version_put_failure_restores_the_previous_value() {
    use amikeeper::publish::{PublishContext, Publisher, SsmParameterPublisher};

    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let instance = "i-0a1b2c3d4e5f60718";
    let old = aws.add_image(TOKYO, ImageSeed::new(format!("AWSBackup_{instance}_a")));
    aws.set_parameter(TOKYO, instance, old.as_str()).unwrap();
    let new = aws.add_image(TOKYO, ImageSeed::new(format!("AWSBackup_{instance}_b")));
    let image = aws.image(TOKYO, &new).unwrap();
    let region = TOKYO.into();
    let ctx = PublishContext {
        aws: aws.as_ref(),
        region: &region,
        image: Some(&image),
        dry_run: false,
        event_id: "e1",
        described: &Default::default(),
    };
    let publisher = SsmParameterPublisher { name: instance.into(), fixed_version: true, data_type: None };

    // The parameter is deleted, the new value's put fails: the old value goes back.
    aws.inject(Fault::on("ssm:PutParameter", FaultKind::ServerError));
    let error = publisher.publish(&ctx).await.unwrap_err().to_string();
    assert!(error.contains("restored at version 1"), "{error}");
    let parameter = aws.parameter(TOKYO, instance).expect("the parameter is not missing");
    assert_eq!((parameter.value.as_str(), parameter.version), (old.as_str(), 1));

    // Through the keeper the failure is retried (it is retryable) and the new value lands.
    aws.inject(Fault::on("ssm:PutParameter", FaultKind::ServerError));
    let name = image.name.clone();
    let report = handle(&keeper(SEED_000, &aws), tokyo("e1").create_image(new.as_str(), instance, &name, "")).await;
    assert_eq!(statuses(&report), [Status::Updated], "{report:#?}");
    let parameter = aws.parameter(TOKYO, instance).unwrap();
    assert_eq!((parameter.value.as_str(), parameter.version), (new.as_str(), 1));
}

// ---------------------------------------------------------------- seed 001

const SEED_001: &str = configs::SEED_001_PARAMETER_AND_STACK_FROM_TAGS;

#[tokio::test]
async fn seed_001_backup_job_overwrites_the_parameter_named_by_the_tag() {
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let old = aws.add_image(TOKYO, ImageSeed::new("web-old"));
    aws.set_parameter(TOKYO, "/ami/web", old.as_str()).unwrap();
    let new = aws.add_image(TOKYO, ImageSeed::new("AwsBackup_web").tag("ImageIdParameterName", "/ami/web"));
    let keeper = keeper(SEED_001, &aws);

    let report = handle(&keeper, tokyo("e1").backup_job(new.as_str(), "i-0123456789abcdef0", "COMPLETED")).await;
    assert_eq!(statuses(&report), [Status::Updated], "{report:#?}");
    let parameter = aws.parameter(TOKYO, "/ami/web").unwrap();
    assert_eq!((parameter.value.as_str(), parameter.version), (new.as_str(), 2));
    assert_eq!(parameter.data_type, "aws:ec2:image");
    // DescribeImages (event), GetParameter, DescribeImages (current value), PutParameter, then
    // EnableImageDeregistrationProtection and CreateTags, GetParameter (the pointer still names
    // the AMI) and DescribeImages (the AMI it left, afresh, for its protection).
    assert_eq!(report.aws_calls, 8, "{:?}", report.aws_calls_by_operation);
    assert!(aws.image(TOKYO, &new).unwrap().deregistration_protected);
    assert_eq!(aws.image(TOKYO, &new).unwrap().tags.get("amikeeper:protected").map(String::as_str), Some("true"));

    // A backup job that is still running moves nothing and calls nothing.
    let report = handle(&keeper, tokyo("e2").backup_job(new.as_str(), "i-0123456789abcdef0", "RUNNING")).await;
    assert_eq!((report.status, report.aws_calls), (RunStatus::Ignored, 0));
}

#[tokio::test]
async fn seed_001_backup_job_updates_the_stack_parameter_and_keeps_the_others() {
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let old = aws.add_image(TOKYO, ImageSeed::new("app-old"));
    let parameters = BTreeMap::from([
        ("ImageId".to_owned(), old.to_string()),
        ("IamInstanceProfileArn".to_owned(), "arn:aws:iam::111122223333:instance-profile/app".to_owned()),
    ]);
    aws.create_stack(TOKYO, "solution2", parameters);
    let new = aws.add_image(TOKYO, ImageSeed::new("AwsBackup_app").tag("StackName", "solution2"));
    let keeper = keeper(SEED_001, &aws);

    let event = tokyo("e1").backup_job(new.as_str(), "i-0123456789abcdef0", "COMPLETED");
    let report = handle(&keeper, event.clone()).await;
    assert_eq!(statuses(&report), [Status::Updated], "{report:#?}");
    let stack = aws.stack(TOKYO, "solution2").unwrap();
    assert_eq!(stack.parameters["ImageId"], new.as_str());
    assert_eq!(stack.parameters["IamInstanceProfileArn"], "arn:aws:iam::111122223333:instance-profile/app");

    // The same event again: no second update.
    let report = handle(&keeper, event).await;
    assert_eq!(statuses(&report), [Status::Unchanged], "{report:#?}");
    assert_eq!(aws.stack_history(TOKYO, "solution2").len(), 2);
}

#[tokio::test]
async fn a_stack_mid_update_is_deferred() {
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let old = aws.add_image(TOKYO, ImageSeed::new("app-old"));
    aws.create_stack(TOKYO, "solution2", BTreeMap::from([("ImageId".to_owned(), old.to_string())]));
    aws.set_stack_status(TOKYO, "solution2", "UPDATE_IN_PROGRESS");
    let new = aws.add_image(TOKYO, ImageSeed::new("AwsBackup_app").tag("StackName", "solution2"));
    let event = tokyo("e1").backup_job(new.as_str(), "i-0123456789abcdef0", "COMPLETED");
    let report = handle(&keeper(SEED_001, &aws), event).await;
    assert_eq!(statuses(&report), [Status::Deferred], "{report:#?}");
    assert_eq!(aws.stack(TOKYO, "solution2").unwrap().parameters["ImageId"], old.as_str());
}

#[tokio::test]
async fn a_tag_naming_a_parameter_outside_the_allow_list_is_refused() {
    for hostile in ["/aws/service/ami-amazon-linux-latest/x", "/ami/../prod/db", "/prod/db/password"] {
        let aws = Arc::new(MemoryAws::new(ACCOUNT));
        let new = aws.add_image(TOKYO, ImageSeed::new("evil").tag("ImageIdParameterName", hostile));
        let event = tokyo("e1").backup_job(new.as_str(), "i-0123456789abcdef0", "COMPLETED");
        let report = handle(&keeper(SEED_001, &aws), event).await;
        assert_eq!(statuses(&report), [Status::Refused], "{hostile}: {report:#?}");
        assert_eq!(report.status, RunStatus::Refused);
        assert!(aws.parameter(TOKYO, hostile).is_none());
        assert_eq!(aws.call_count("ssm:PutParameter"), 0);
    }
}

// ---------------------------------------------------------------- seed 002

#[tokio::test]
async fn seed_002_asg_created_by_cloudformation_is_set_to_latest_only_when_allowed() {
    let config = |allow: bool| {
        let config = configs::SEED_002_ASG_TO_LATEST;
        if allow {
            config.to_owned()
        } else {
            let denied = config.replace("allow_stack_managed = true", "allow_stack_managed = false");
            assert_ne!(denied, config);
            denied
        }
    };
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let image = aws.add_image(TOKYO, ImageSeed::new("base"));
    let stack_tags = tags(&[(STACK_NAME_TAG, "app")]);
    let template = aws.create_launch_template(TOKYO, "app", Some(image), stack_tags.clone());
    let pinned = LaunchTemplateSpec { id: template.id.clone(), version: "1".into() };
    aws.create_auto_scaling_group(TOKYO, "app-asg", pinned.clone(), stack_tags);
    let event = tokyo("e1").create_auto_scaling_group("app-asg", &template.id, "1");

    // By default a stack-managed group is not changed behind its stack.
    let report = handle(&keeper(&config(false), &aws), event.clone()).await;
    assert_eq!(statuses(&report), [Status::Refused], "{report:#?}");
    assert_eq!(aws.auto_scaling_group(TOKYO, "app-asg").unwrap().launch_template, Some(pinned));

    // Seed 002 asks for exactly this drift, so its configuration allows it.
    let report = handle(&keeper(&config(true), &aws), event.clone()).await;
    assert_eq!(statuses(&report), [Status::Updated], "{report:#?}");
    let group = aws.auto_scaling_group(TOKYO, "app-asg").unwrap();
    assert_eq!(group.launch_template.unwrap().version, "$Latest");
    let report = handle(&keeper(&config(true), &aws), event).await;
    assert_eq!(statuses(&report), [Status::Unchanged]);
}

const SEED_002_DLM: &str = configs::SEED_002_DLM_TO_LAUNCH_TEMPLATE;

#[tokio::test]
async fn seed_002_dlm_image_makes_a_default_version_and_keeps_three() {
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let first = aws.add_image(TOKYO, ImageSeed::new("v1"));
    let template = aws.create_launch_template(TOKYO, "app", Some(first), tags(&[(STACK_NAME_TAG, "app")]));
    aws.set_parameter(TOKYO, "/app/launch-template-id", &template.id).unwrap();
    // A group pins version 1 by number: pruning must keep it.
    aws.create_auto_scaling_group(
        TOKYO,
        "app-asg",
        LaunchTemplateSpec { id: template.id.clone(), version: "1".into() },
        Tags::new(),
    );
    let keeper = keeper(SEED_002_DLM, &aws);
    let mut images = Vec::new();
    for day in 0..4 {
        let description = format!("Created for policy: policy-0abc schedule: daily EC2_BACKUP {day}");
        let image = aws.add_image(TOKYO, ImageSeed::new(format!("dlm-{day}")).description(&description));
        let event = tokyo(&format!("d{day}")).create_image(image.as_str(), "i-0123456789abcdef0", "dlm", &description);
        let report = handle(&keeper, event).await;
        assert_eq!(statuses(&report), [Status::Updated], "{report:#?}");
        images.push(image);
    }
    let lt = aws.launch_template(TOKYO, &template.id).unwrap();
    assert_eq!((lt.latest_version, lt.default_version), (5, 5));
    let versions = aws.launch_template_versions(TOKYO, &template.id);
    let mut numbers: Vec<i64> = versions.iter().map(|v| v.number).collect();
    numbers.sort();
    assert_eq!(numbers, [1, 3, 4, 5], "three newest kept, plus version 1 that a group pins");
    let newest = versions.iter().find(|v| v.number == 5).unwrap();
    assert_eq!(newest.image_id.as_ref(), Some(&images[3]));

    // An image without the marker is not this rule's business.
    let other = aws.add_image(TOKYO, ImageSeed::new("manual").description("by hand"));
    let report = handle(&keeper, tokyo("x").create_image(other.as_str(), "i-0123456789abcdef0", "m", "by hand")).await;
    assert_eq!(report.status, RunStatus::Ignored);
}

#[tokio::test]
async fn a_stack_managed_launch_template_is_refused_unless_allowed() {
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let template = aws.create_launch_template(TOKYO, "app", None, tags(&[(STACK_NAME_TAG, "app")]));
    aws.set_parameter(TOKYO, "/app/launch-template-id", &template.id).unwrap();
    let image = aws.add_image(TOKYO, ImageSeed::new("dlm").description("EC2_BACKUP"));
    let config = SEED_002_DLM.replace("allow_stack_managed = true", "allow_stack_managed = false");
    assert_ne!(config, SEED_002_DLM);
    let event = tokyo("d1").create_image(image.as_str(), "i-0123456789abcdef0", "dlm", "EC2_BACKUP");
    let report = handle(&keeper(&config, &aws), event).await;
    assert_eq!(statuses(&report), [Status::Refused], "{report:#?}");
    assert_eq!(aws.launch_template(TOKYO, &template.id).unwrap().latest_version, 1);
}

#[tokio::test]
async fn a_duplicate_event_makes_no_second_launch_template_version() {
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let template = aws.create_launch_template(TOKYO, "app", None, Tags::new());
    aws.set_parameter(TOKYO, "/app/launch-template-id", &template.id).unwrap();
    let image = aws.add_image(TOKYO, ImageSeed::new("dlm").description("EC2_BACKUP"));
    let keeper = keeper(SEED_002_DLM, &aws);
    let event = tokyo("d1").create_image(image.as_str(), "i-0123456789abcdef0", "dlm", "EC2_BACKUP");
    assert_eq!(statuses(&handle(&keeper, event.clone()).await), [Status::Updated]);
    assert_eq!(statuses(&handle(&keeper, event).await), [Status::Unchanged]);
    assert_eq!(aws.launch_template(TOKYO, &template.id).unwrap().latest_version, 2);
}

#[tokio::test]
async fn an_old_event_after_a_new_one_never_moves_a_pointer_back() {
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let older = aws.add_image(TOKYO, ImageSeed::new("a").tag("ImageIdParameterName", "/ami/web"));
    let newer = aws.add_image(TOKYO, ImageSeed::new("b").tag("ImageIdParameterName", "/ami/web"));
    let keeper = keeper(SEED_001, &aws);
    let report = handle(&keeper, tokyo("n").backup_job(newer.as_str(), "i-0123456789abcdef0", "COMPLETED")).await;
    assert_eq!(statuses(&report), [Status::Updated]);
    let report = handle(&keeper, tokyo("o").backup_job(older.as_str(), "i-0123456789abcdef0", "COMPLETED")).await;
    assert_eq!(statuses(&report), [Status::Skipped], "{report:#?}");
    assert!(report.targets[0].outcome.reason.contains("newer"));
    assert_eq!(aws.parameter(TOKYO, "/ami/web").unwrap().value, newer.as_str());
    assert_eq!(aws.parameter_history(TOKYO, "/ami/web").len(), 1);
}

// ---------------------------------------------------------------- seed 003

/// Seed 003's configuration, waiting `wait` seconds for a pending image as a one-shot run
/// would (`amikeeper handle --wait SECONDS`).
fn seed_003_config(wait: u64) -> Config {
    let mut config = Config::from_toml(configs::SEED_003_NIGHTLY_BAKE).expect("valid config");
    config.wait = WaitConfig { timeout_seconds: wait, poll_seconds: 15 };
    config
}

fn seed_003_world() -> (Arc<MemoryAws>, String) {
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    aws.add_instance(TOKYO, Some(configs::SEED_003_BUILDER), tags(&[("Name", "builder")]));
    let base = aws.add_image(TOKYO, ImageSeed::new("base"));
    let template = aws.create_launch_template_and_group(TOKYO, "web", "web-asg", base);
    (aws, template.id)
}

#[tokio::test(start_paused = true)]
async fn seed_003_scheduled_bake_waits_then_moves_template_and_group() {
    let (aws, template) = seed_003_world();
    let keeper = Keeper::new(seed_003_config(600), aws.clone());
    let report = handle(&keeper, tokyo("s1").scheduled("nightly-ami")).await;
    assert_eq!(statuses(&report), [Status::Updated, Status::Updated, Status::Updated], "{report:#?}");
    let baked = ImageId::new(report.targets[0].outcome.to.clone().unwrap());
    let image = aws.image(TOKYO, &baked).unwrap();
    assert_eq!(image.state, ImageState::Available);
    assert_eq!(image.tags.get("amikeeper:rule").map(String::as_str), Some("nightly-bake"));
    assert_eq!(image.tags.get("Role").map(String::as_str), Some("web"));
    assert!(image.name.starts_with("i-0b0b0b0b0b0b0b0b0_2026-11-24"), "{}", image.name);
    let versions = aws.launch_template_versions(TOKYO, &template);
    let two = versions.iter().find(|v| v.number == 2).unwrap();
    assert_eq!(two.image_id.as_ref(), Some(&baked));
    let group = aws.auto_scaling_group(TOKYO, "web-asg").unwrap();
    assert_eq!(group.launch_template.unwrap().version, "2");
}

#[tokio::test]
async fn seed_003_without_waiting_the_state_change_event_finishes_the_bake() {
    let (aws, template) = seed_003_world();
    // The configuration as it is: it does not wait for a pending image.
    let keeper = keeper(configs::SEED_003_NIGHTLY_BAKE, &aws);
    let report = handle(&keeper, tokyo("s1").scheduled("nightly-ami")).await;
    assert_eq!(statuses(&report), [Status::Updated, Status::Deferred, Status::Deferred], "{report:#?}");
    assert_eq!(aws.launch_template(TOKYO, &template).unwrap().latest_version, 1, "pending AMI not published");
    let baked = report.targets[0].outcome.to.clone().unwrap();
    let report = handle(&keeper, tokyo("s2").image_state_change(&baked, "available")).await;
    assert_eq!(statuses(&report), [Status::Updated, Status::Updated], "{report:#?}");
    assert_eq!(aws.auto_scaling_group(TOKYO, "web-asg").unwrap().launch_template.unwrap().version, "2");
}

// ---------------------------------------------------------------- rules

#[tokio::test]
async fn events_from_another_account_are_refused_without_any_call() {
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let image = aws.add_image(TOKYO, ImageSeed::new("x").tag("ImageIdParameterName", "/ami/web"));
    let keeper = keeper(SEED_001, &aws);
    let foreign = Origin::new("999999999999", TOKYO, "f1");
    let report = handle(&keeper, foreign.backup_job(image.as_str(), "i-0123456789abcdef0", "COMPLETED")).await;
    assert_eq!(report.status, RunStatus::Refused);
    assert!(report.reason.unwrap().contains("999999999999"));
    assert!(aws.calls().is_empty(), "{:?}", aws.calls());
}

#[tokio::test(start_paused = true)]
async fn throttling_slows_a_target_down_instead_of_failing_it() {
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let image = aws.add_image(TOKYO, ImageSeed::new("x").tag("ImageIdParameterName", "/ami/web"));
    aws.inject(Fault::on("ssm:PutParameter", FaultKind::Throttling).times(2));
    let event = tokyo("t").backup_job(image.as_str(), "i-0123456789abcdef0", "COMPLETED");
    let report = handle(&keeper(SEED_001, &aws), event).await;
    assert_eq!(statuses(&report), [Status::Updated], "{report:#?}");
    assert_eq!(aws.parameter(TOKYO, "/ami/web").unwrap().value, image.as_str());
    assert_eq!(report.aws_calls_by_operation["ssm:PutParameter"], 3);
}

#[tokio::test]
async fn a_dry_run_reads_but_writes_nothing() {
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let image = aws.add_image(TOKYO, ImageSeed::new("x").tag("ImageIdParameterName", "/ami/web"));
    let keeper = keeper(SEED_001, &aws);
    let payload = tokyo("d").backup_job(image.as_str(), "i-0123456789abcdef0", "COMPLETED");
    let events = parse_payload(payload.to_string().as_bytes()).unwrap();
    let report = keeper.handle_with(&events[0], &HandleOptions::default().dry_run(true)).await;
    assert_eq!(statuses(&report), [Status::Planned], "{report:#?}");
    assert!(report.dry_run);
    assert!(aws.parameter(TOKYO, "/ami/web").is_none());
    assert!(aws.calls().iter().all(|c| c.contains(":Describe") || c.contains(":Get")), "{:?}", aws.calls());
}

#[tokio::test]
async fn a_failed_image_is_never_published() {
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let seed = ImageSeed::new("x").tag("ImageIdParameterName", "/ami/web").state(ImageState::Failed);
    let image = aws.add_image(TOKYO, seed);
    let event = tokyo("f").backup_job(image.as_str(), "i-0123456789abcdef0", "COMPLETED");
    let report = handle(&keeper(SEED_001, &aws), event).await;
    assert_eq!(statuses(&report), [Status::Skipped], "{report:#?}");
    assert!(aws.parameter(TOKYO, "/ami/web").is_none());
}

#[tokio::test]
async fn malformed_payloads_are_refused_before_any_aws_call() {
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let keeper = keeper(SEED_001, &aws);
    let valid = tokyo("v").backup_job("ami-0123456789abcdef0", "i-0123456789abcdef0", "COMPLETED");
    let mut no_detail = valid.clone();
    no_detail.as_object_mut().unwrap().remove("detail-type");
    let mut foreign_shape = valid.clone();
    foreign_shape["source"] = "aws.s3".into();
    foreign_shape["detail-type"] = "Object Created".into();
    let payloads = [
        String::new(),
        "not json".into(),
        "[]".into(),
        "null".into(),
        r#"{"Records":[]}"#.into(),
        r#"{"Records":[{"eventSource":"aws:sqs","body":"nope"}]}"#.into(),
        no_detail.to_string(),
        foreign_shape.to_string(),
        "[".repeat(100_000),
        format!("\"{}\"", "x".repeat(300_000)),
    ];
    for payload in payloads {
        let result = keeper.handle_payload(payload.as_bytes(), &HandleOptions::default()).await;
        assert!(result.is_err(), "{:.60}", payload);
    }
    assert!(aws.calls().is_empty(), "{:?}", aws.calls());
}

#[tokio::test]
async fn protection_follows_each_target_and_the_global_switch() {
    for (switches, protected) in [("", true), ("protect = false", false), ("protect = true", true)] {
        for global in ["", "protect_published = false"] {
            let aws = Arc::new(MemoryAws::new(ACCOUNT));
            let old = aws.add_image(TOKYO, ImageSeed::new("web-old"));
            aws.set_parameter(TOKYO, "/ami/web", old.as_str()).unwrap();
            let new = aws.add_image(TOKYO, ImageSeed::new("web-new").tag("ImageIdParameterName", "/ami/web"));
            let config = format!(
                "accounts = [\"{ACCOUNT}\"]\n{global}\nallowed_name_prefixes = [\"/ami/\"]\n[[rules]]\nname = \"p\"\non = [\"backup_job\"]\n[[rules.targets]]\nkind = \"ssm_parameter\"\nname = \"{{tag:ImageIdParameterName}}\"\n{switches}\n"
            );
            let keeper = keeper(&config, &aws);
            let report =
                handle(&keeper, tokyo("p1").backup_job(new.as_str(), "i-0123456789abcdef0", "COMPLETED")).await;
            assert_eq!(statuses(&report), [Status::Updated], "{report:#?}");
            // A target's own switch wins; without one, the global switch decides.
            let expected = if switches.is_empty() { global.is_empty() } else { protected };
            assert_eq!(aws.image(TOKYO, &new).unwrap().deregistration_protected, expected, "{switches} / {global}");
            assert_eq!(report.protection.is_some(), expected, "{report:#?}");
        }
    }
}
