//! The keeper's seams (a parser, resolver and retention policy given to the builder are the
//! ones used) and `Keeper::invoke`, the run-time policy the bindings and binaries share.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use amikeeper::backend::{Aws, RetryPolicy};
use amikeeper::config::Rule;
use amikeeper::events::{AmiEvent, EventError};
use amikeeper::memory::{Fault, FaultKind, ImageSeed};
use amikeeper::model::{Image, ImageId, ImageState, Region};
use amikeeper::resolve::{Resolution, ResolvedTarget};
use amikeeper::retain::{Action, Decision, Inventory, Plan, Reason};
use amikeeper::samples::{sqs_batch, Origin};
use amikeeper::testing::{self, configs, ACCOUNT, REGION};
use amikeeper::{
    AmiResolver, Config, ConfigResolver, EventParser, InvokeOptions, Keeper, MemoryAws, RetentionPolicy, RunReport,
    RunStatus, StandardEventParser, SweepOptions, Verdict,
};
use time::{Duration, OffsetDateTime};

fn config() -> Config {
    Config::from_toml(configs::PARAMETER_FROM_TAG_KEEP_ONE).expect("valid config")
}

/// `count` AMIs that publish to `/ami/web`, ten days apart, oldest first.
fn web_images(aws: &MemoryAws, count: usize) -> Vec<ImageId> {
    testing::web_images(aws, count, Duration::days(10), ("ImageIdParameterName", "/ami/web"))
}

fn backup_job(image: &ImageId, id: &str) -> serde_json::Value {
    Origin::new(ACCOUNT, REGION, id).backup_job(image.as_str(), "i-0123456789abcdef0", "COMPLETED")
}

fn bytes(value: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap()
}

/// Counts the payloads it parses, and parses them as the standard parser does.
#[derive(Default)]
struct CountingParser(Arc<AtomicUsize>);

impl EventParser for CountingParser {
    fn parse(&self, payload: &[u8]) -> Result<Vec<AmiEvent>, EventError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        StandardEventParser::new().parse(payload)
    }
}

/// Ignores every event, saying so.
struct IgnoringResolver;

#[async_trait::async_trait]
impl AmiResolver for IgnoringResolver {
    async fn resolve(&self, _aws: &dyn Aws, _event: &AmiEvent) -> amikeeper::Result<Resolution> {
        Ok(Resolution::Ignore { reason: "the custom resolver ignores everything".into() })
    }

    fn rule_targets(&self, _rule: &Rule, _event: &AmiEvent, _image: Option<&Image>) -> Vec<ResolvedTarget> {
        Vec::new()
    }
}

/// Keeps every image.
struct KeepEverything;

impl RetentionPolicy for KeepEverything {
    fn plan(&self, inventory: &Inventory, _now: OffsetDateTime) -> Plan {
        let decisions = inventory
            .images
            .iter()
            .map(|image| Decision {
                image_id: image.id.clone(),
                group: Arc::from("everything"),
                action: Action::Keep,
                reason: Reason::Excluded("kept by the custom policy".into()),
                sources: Default::default(),
            })
            .collect();
        Plan { decisions, snapshots: Vec::new() }
    }
}

#[tokio::test(start_paused = true)]
async fn the_builder_defaults_to_the_configured_parts() {
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let images = web_images(&aws, 3);
    let keeper = Keeper::builder(config(), aws.clone()).build();
    let reports = keeper.handle_payload(&bytes(&backup_job(&images[2], "default")), &Default::default()).await.unwrap();
    assert_eq!(reports[0].status, RunStatus::Ok, "{reports:#?}");
    assert_eq!(aws.parameter(REGION, "/ami/web").unwrap().value, images[2].as_str());
    let options = SweepOptions::default().apply(true).now(aws.now());
    let report = keeper.sweep(&Region::from(REGION), &options).await.unwrap();
    assert_eq!(report.summary.images_retired, 2, "keep_newest = 1: {:#?}", report.plan.images);
}

#[tokio::test(start_paused = true)]
async fn a_parser_resolver_and_retention_policy_given_to_the_builder_are_the_ones_used() {
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let images = web_images(&aws, 3);
    let parsed = Arc::new(AtomicUsize::new(0));
    let keeper = Keeper::builder(config(), aws.clone())
        .parser(CountingParser(parsed.clone()))
        .resolver(IgnoringResolver)
        .retention(KeepEverything)
        .build();

    let payload = bytes(&backup_job(&images[2], "custom"));
    let reports = keeper.handle_payload(&payload, &Default::default()).await.unwrap();
    assert_eq!(parsed.load(Ordering::SeqCst), 1, "the custom parser read the payload");
    assert_eq!(reports[0].status, RunStatus::Ignored, "{reports:#?}");
    assert_eq!(reports[0].reason.as_deref(), Some("the custom resolver ignores everything"));
    assert!(aws.parameter(REGION, "/ami/web").is_none(), "nothing published");
    keeper.invoke(&payload, &InvokeOptions::default()).await.unwrap();
    assert_eq!(parsed.load(Ordering::SeqCst), 2, "invoke parses with it too");

    let options = SweepOptions::default().apply(true).now(aws.now());
    let report = keeper.sweep(&Region::from(REGION), &options).await.unwrap();
    assert_eq!(report.plan.images.len(), 3, "{:#?}", report.plan.images);
    assert!(report.plan.images.iter().all(|d| d.action == Action::Keep && d.group.as_ref() == "everything"));
    assert_eq!(report.summary.images_retired, 0);
    assert!(images.iter().all(|id| aws.image(REGION, id).unwrap().state == ImageState::Available));

    // A fleet's sweep plans with it too.
    let report = keeper.sweep_account(None, None, &Region::from(REGION), &options).await.unwrap();
    assert_eq!(report.summary.images_retired, 0);
}

#[tokio::test(start_paused = true)]
async fn the_configured_resolver_can_be_wrapped() {
    /// Delegates to the configuration's resolver, counting the events.
    struct Counting(ConfigResolver, Arc<AtomicUsize>);

    #[async_trait::async_trait]
    impl AmiResolver for Counting {
        async fn resolve(&self, aws: &dyn Aws, event: &AmiEvent) -> amikeeper::Result<Resolution> {
            self.1.fetch_add(1, Ordering::SeqCst);
            self.0.resolve(aws, event).await
        }

        fn rule_targets(&self, rule: &Rule, event: &AmiEvent, image: Option<&Image>) -> Vec<ResolvedTarget> {
            self.0.rule_targets(rule, event, image)
        }
    }

    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let images = web_images(&aws, 1);
    let resolved = Arc::new(AtomicUsize::new(0));
    let keeper = Keeper::builder(config(), aws.clone())
        .resolver(Counting(ConfigResolver::new(config()), resolved.clone()))
        .build();
    let invocation =
        keeper.invoke(&bytes(&backup_job(&images[0], "wrapped")), &InvokeOptions::default()).await.unwrap();
    assert_eq!(invocation.verdict(), Verdict::Done);
    assert_eq!(resolved.load(Ordering::SeqCst), 1);
    assert_eq!(aws.parameter(REGION, "/ami/web").unwrap().value, images[0].as_str());
}

#[tokio::test(start_paused = true)]
async fn a_schedule_no_rule_takes_sweeps_only_when_asked() {
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let images = web_images(&aws, 3);
    let keeper = Keeper::new(config(), aws.clone());
    let schedule = bytes(&Origin::new(ACCOUNT, REGION, "nightly").scheduled("nightly"));

    let ignored = keeper.invoke(&schedule, &InvokeOptions::default()).await.unwrap();
    let [RunReport::Event(report)] = ignored.runs.as_slice() else { panic!("one event report: {ignored:#?}") };
    assert_eq!(report.status, RunStatus::Ignored);
    assert_eq!(ignored.verdict(), Verdict::Done);
    assert!(ignored.message_ids.is_none() && ignored.sqs_batch_response().is_none());

    let planned = keeper.invoke(&schedule, &InvokeOptions::lambda(false)).await.unwrap();
    let [RunReport::Sweep(report)] = planned.runs.as_slice() else { panic!("one sweep: {planned:#?}") };
    assert!(!report.applied);
    assert_eq!(report.summary.images_planned, 2);
    assert!(images.iter().all(|id| aws.image(REGION, id).unwrap().state == ImageState::Available));
    assert!(planned.runs[0].to_string().starts_with("sweep planned: ok, 0 of 2 images retired"), "{}", planned.runs[0]);

    let swept = keeper.invoke(&schedule, &InvokeOptions::lambda(true)).await.unwrap();
    let [RunReport::Sweep(report)] = swept.runs.as_slice() else { panic!("one sweep: {swept:#?}") };
    assert_eq!(report.summary.images_retired, 2);
    // The JSON of a run is its report's.
    assert_eq!(serde_json::to_value(&swept.runs[0]).unwrap(), serde_json::to_value(report).unwrap());
}

#[tokio::test(start_paused = true)]
async fn a_failed_run_fails_the_invocation_and_only_its_sqs_record() {
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let images = web_images(&aws, 2);
    let keeper = Keeper::new(config(), aws.clone());
    let good = backup_job(&images[1], "good");
    let bad =
        Origin::new("999999999999", REGION, "other").backup_job(images[0].as_str(), "i-0123456789abcdef0", "COMPLETED");
    aws.inject(Fault::on("ssm:PutParameter", FaultKind::ServerError).times(10));
    let batch = sqs_batch(&[bad.clone(), good]);

    let invocation = keeper.invoke(&bytes(&batch), &InvokeOptions::default()).await.unwrap();
    assert_eq!(invocation.runs.len(), 2);
    assert_eq!(invocation.runs[0].verdict(), Verdict::Refused);
    assert_eq!(invocation.runs[1].verdict(), Verdict::Failed);
    assert_eq!(invocation.verdict(), Verdict::Failed, "a failure outranks a refusal");
    let records = batch["Records"].as_array().unwrap();
    let ids: Vec<String> = records.iter().map(|r| r["messageId"].as_str().unwrap().to_owned()).collect();
    assert_eq!(invocation.message_ids.as_deref(), Some(ids.as_slice()));
    let response = serde_json::to_value(invocation.sqs_batch_response().unwrap()).unwrap();
    assert_eq!(response, serde_json::json!({"batchItemFailures": [{"itemIdentifier": ids[1]}]}), "only the failed one");

    let failure = invocation.failure().expect("failed");
    assert_eq!((failure.run, failure.failed_runs, failure.runs), (1, 1, 2));
    let error = failure.aws_error().expect("an AWS error");
    assert_eq!((error.service.as_str(), error.operation.as_str()), ("ssm", "PutParameter"));
    assert!(failure.to_string().starts_with("1 failed; ssm_parameter /ami/web: "), "{failure}");

    // A refusal alone is no failure.
    aws.clear_faults();
    let refused = keeper.invoke(&bytes(&sqs_batch(&[bad])), &InvokeOptions::default()).await.unwrap();
    assert_eq!(refused.verdict(), Verdict::Refused);
    assert!(refused.failure().is_none());
    assert_eq!(refused.sqs_batch_response().unwrap().batch_item_failures, Vec::new());
}

#[tokio::test]
async fn a_bad_payload_is_an_error_and_touches_nothing() {
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let keeper = Keeper::new(config(), aws.clone());
    let error = keeper.invoke(b"[]", &InvokeOptions::lambda(true)).await.unwrap_err();
    assert!(matches!(error, amikeeper::InvokeError::Event(EventError::Unsupported { .. })), "{error:?}");
}

/// An image that publishes to the SSM parameter `parameter`.
fn image_for(aws: &MemoryAws, name: &str, parameter: &str) -> ImageId {
    aws.add_image(REGION, ImageSeed::new(name).tag("ImageIdParameterName", parameter))
}

#[tokio::test(start_paused = true)]
async fn one_poison_record_and_one_failed_target_leave_the_rest_of_the_sqs_batch_done_once() {
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let keeper = Keeper::new(config(), aws.clone());
    let [failing, a, b, c] = ["/ami/failing", "/ami/a", "/ami/b", "/ami/c"]
        .map(|parameter| (parameter, image_for(&aws, &parameter.replace("/ami/", "batch-"), parameter)));
    // The first record's publish fails every attempt; the others' succeed.
    aws.inject(Fault::on("ssm:PutParameter", FaultKind::ServerError).times(RetryPolicy::TARGETS.attempts()));
    let mut batch = sqs_batch(&[
        backup_job(&failing.1, "failing"),
        backup_job(&a.1, "a"),
        serde_json::json!({}),
        backup_job(&b.1, "b"),
        backup_job(&c.1, "c"),
    ]);
    batch["Records"][2]["body"] = "{\"detail-type\": \"Backup Job State Change\", truncated".into();
    let ids: Vec<String> = (0..5).map(|i| batch["Records"][i]["messageId"].as_str().unwrap().to_owned()).collect();

    let invocation =
        keeper.invoke(&bytes(&batch), &InvokeOptions::lambda(true)).await.expect("a batch with a poison record runs");
    let verdicts: Vec<Verdict> = invocation.runs.iter().map(RunReport::verdict).collect();
    assert_eq!(
        verdicts,
        [Verdict::Failed, Verdict::Done, Verdict::Refused, Verdict::Done, Verdict::Done],
        "{invocation:#?}"
    );
    let response = serde_json::to_value(invocation.sqs_batch_response().unwrap()).unwrap();
    assert_eq!(
        response,
        serde_json::json!({"batchItemFailures": [{"itemIdentifier": ids[0]}]}),
        "only the failed record is retried"
    );

    // The poison record is reported as refused, with why, and not retried.
    let RunReport::Rejected(rejected) = &invocation.runs[2] else {
        panic!("record 2 rejected: {:#?}", invocation.runs[2])
    };
    assert_eq!((rejected.record, rejected.message_id.as_str()), (2, ids[2].as_str()));
    let json = serde_json::to_value(&invocation.runs[2]).unwrap();
    assert_eq!(json["status"], "refused");
    assert_eq!(json["message_id"], ids[2].as_str());
    let reason = json["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("record 2 of the batch: the event is not valid JSON: the SQS message body: "),
        "{reason}"
    );
    assert!(invocation.runs[2].to_string().contains("rejected, not retried"), "{}", invocation.runs[2]);

    // The other three are done, each written once; the failed one not at all.
    for (parameter, image) in [a, b, c] {
        let written = aws.parameter(REGION, parameter).unwrap_or_else(|| panic!("{parameter} written"));
        assert_eq!((written.value.as_str(), written.version), (image.as_str(), 1), "{parameter}");
    }
    assert!(aws.parameter(REGION, failing.0).is_none());
    let failure = invocation.failure().expect("the first record failed");
    assert_eq!((failure.run, failure.failed_runs, failure.runs), (0, 1, 5));

    // Delivered again alone, the failed record succeeds.
    let retry = sqs_batch(&[backup_job(&failing.1, "failing")]);
    let again = keeper.invoke(&bytes(&retry), &InvokeOptions::lambda(true)).await.unwrap();
    assert_eq!(again.sqs_batch_response().unwrap().batch_item_failures, Vec::new());
    assert_eq!(aws.parameter(REGION, failing.0).unwrap().version, 1);
}

#[tokio::test]
async fn a_poison_record_fails_an_sns_batch_or_a_batch_without_message_ids_whole() {
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let keeper = Keeper::new(config(), aws.clone());
    let mut batch = sqs_batch(&[serde_json::json!({"source": "aws.s3"})]);
    batch["Records"][0].as_object_mut().unwrap().remove("messageId");
    let error = keeper.invoke(&bytes(&batch), &InvokeOptions::lambda(true)).await.unwrap_err();
    assert!(matches!(error, amikeeper::InvokeError::Event(EventError::InRecord { index: 0, .. })), "{error:?}");
    let sns = serde_json::json!({"Records": [{"EventSource": "aws:sns", "Sns": {"MessageId": "m", "Message": "{"}}]});
    let error = keeper.invoke(&bytes(&sns), &InvokeOptions::lambda(true)).await.unwrap_err();
    assert!(matches!(error, amikeeper::InvokeError::Event(EventError::InRecord { index: 0, .. })), "{error:?}");
}
