//! The Lambda function on `MemoryAws`: events (EventBridge, SQS), a scheduled sweep, and fleet
//! targets, with the bundled `keeper.toml`.

use std::sync::{Arc, Mutex};

use amikeeper::backend::RetryPolicy;
use amikeeper::memory::{Fault, FaultKind, ImageSeed};
use amikeeper::model::{ImageId, ImageState};
use amikeeper::samples::{sqs_batch, Origin};
use amikeeper::testing::{self, REGION};
use amikeeper::{MemoryAws, SweepStatus};
use amikeeper_lambda::{FleetReportDetail, Function, FunctionError, Input, Response, RunReport, Settings, SweepTarget};
use serde_json::{json, Value};
use time::{Duration, OffsetDateTime};

/// The account of the bundled configuration.
const ACCOUNT: &str = "111122223333";
const ROLE: &str = "arn:aws:iam::444455556666:role/amikeeper-sweeper";

/// An account whose clock is a month before now, so that the sweep (which judges ages by the
/// real time) sees every image as older than `min_age_days`.
fn account(id: &str) -> Arc<MemoryAws> {
    let aws = Arc::new(MemoryAws::new(id));
    aws.set_now(OffsetDateTime::now_utc() - Duration::days(30));
    aws
}

fn function(aws: &Arc<MemoryAws>, settings: Settings) -> Function {
    let config = settings.load_config().expect("the bundled keeper.toml loads");
    Function::new(config, aws.clone(), settings)
}

/// `count` AMIs that publish to `/ami/web`, a day apart, oldest first.
fn web_images(aws: &MemoryAws, count: usize) -> Vec<ImageId> {
    testing::web_images(aws, count, Duration::days(1), ("ImageIdParameterName", "/ami/web"))
}

fn to_json(response: &Response) -> Value {
    serde_json::to_value(response).unwrap()
}

#[test]
fn settings_come_from_the_environment() {
    let vars = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| pairs.iter().find(|(key, _)| *key == name).map(|(_, value)| (*value).to_owned())
    };
    assert_eq!(Settings::from_vars(vars(&[])).unwrap(), Settings::default());
    let settings = Settings::from_vars(vars(&[
        ("AMIKEEPER_CONFIG", "/opt/keeper.toml"),
        ("AMIKEEPER_APPLY_SWEEPS", "false"),
        ("AMIKEEPER_FLEET_REPORT", "summary"),
        ("AMIKEEPER_REPORT_BATCH_ITEM_FAILURES", "false"),
    ]))
    .unwrap();
    assert!(!settings.report_batch_item_failures && Settings::default().report_batch_item_failures);
    assert_eq!(settings.config.as_deref(), Some(std::path::Path::new("/opt/keeper.toml")));
    assert!(!settings.apply_sweeps);
    assert_eq!(settings.fleet_report, FleetReportDetail::Summary);
    let error = Settings::from_vars(vars(&[("AMIKEEPER_APPLY_SWEEPS", "yes")])).unwrap_err();
    assert!(error.contains("AMIKEEPER_APPLY_SWEEPS"), "{error}");
    // A configuration file that is not there fails the init phase with its path.
    let missing = Settings { config: Some("/nonexistent/keeper.toml".into()), ..Settings::default() };
    assert!(missing.load_config().unwrap_err().to_string().contains("/nonexistent/keeper.toml"));
    // So does one whose own target names are unsafe, naming the field, before any event.
    let dir = std::env::temp_dir().join(format!("amikeeper-lambda-settings-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("unsafe.toml");
    let text = "accounts = [\"111122223333\"]\n[[rules]]\nname = \"web\"\n[[rules.targets]]\n\
                kind = \"ssm_parameter\"\nname = \"/aws/service/x\"\n";
    std::fs::write(&path, text).unwrap();
    let unsafe_names = Settings { config: Some(path), ..Settings::default() };
    let error = unsafe_names.load_config().unwrap_err().to_string();
    assert!(error.contains("rules[0].targets[0].name") && error.contains("reserved by AWS"), "{error}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn inputs_are_told_apart() {
    let target = Input::from_value(json!({"role_arn": ROLE, "region": REGION})).unwrap();
    assert_eq!(
        target,
        Input::Sweep(SweepTarget {
            role_arn: Some(ROLE.into()),
            region: REGION.into(),
            external_id: None,
            apply: None
        })
    );
    let own = Input::from_value(json!({"region": REGION, "apply": false})).unwrap();
    assert!(matches!(own, Input::Sweep(SweepTarget { role_arn: None, apply: Some(false), .. })));
    let event =
        Origin::new(ACCOUNT, REGION, "x").backup_job("ami-0123456789abcdef0", "i-0123456789abcdef0", "COMPLETED");
    assert!(matches!(Input::from_value(event.clone()).unwrap(), Input::Events(_)));
    assert!(matches!(Input::from_value(sqs_batch(&[event])).unwrap(), Input::Events(_)));
    // A misspelt target field is refused, not taken for an event.
    let error = Input::from_value(json!({"role": ROLE, "region": REGION})).unwrap_err();
    assert_eq!(error.error_type(), "Amikeeper.BadInput");
    assert!(error.to_string().contains("unknown field `role`"), "{error}");
}

#[tokio::test]
async fn an_eventbridge_event_moves_the_parameter_its_ami_names() {
    let aws = account(ACCOUNT);
    let images = web_images(&aws, 2);
    aws.set_parameter(REGION, "/ami/web", images[0].as_str()).unwrap();
    let function = function(&aws, Settings::default());
    let origin = Origin::new(ACCOUNT, REGION, "lambda");

    let event = origin.backup_job(images[1].as_str(), "i-0123456789abcdef0", "COMPLETED");
    let response = function.invoke(event).await.expect("handled");
    let Response::One(RunReport::Event(report)) = &response else { panic!("one event report: {response:?}") };
    assert_eq!(report.status, amikeeper::RunStatus::Ok, "{report:#?}");
    assert_eq!(aws.parameter(REGION, "/ami/web").unwrap().value, images[1].as_str());
    assert_eq!(to_json(&response)["targets"][0]["status"], "updated");

    // An SQS batch of two: the same event again changes nothing, and no record is delivered
    // again (the partial batch response).
    let version = aws.parameter(REGION, "/ami/web").unwrap().version;
    let again = origin.backup_job(images[1].as_str(), "i-0123456789abcdef0", "COMPLETED");
    let response = function.invoke(sqs_batch(&[again.clone(), again.clone()])).await.expect("handled");
    assert_eq!(to_json(&response), json!({"batchItemFailures": []}));
    assert_eq!(aws.parameter(REGION, "/ami/web").unwrap().version, version);

    // Without partial batch responses: a list of two reports.
    let whole = Settings { report_batch_item_failures: false, ..Settings::default() };
    let response = self::function(&aws, whole).invoke(sqs_batch(&[again.clone(), again])).await.expect("handled");
    let Response::Batch(reports) = &response else { panic!("a batch: {response:?}") };
    assert_eq!(reports.len(), 2);
    assert_eq!(to_json(&response)[1]["targets"][0]["status"], "unchanged");
}

/// An image that publishes to the SSM parameter `parameter`.
fn image_for(aws: &MemoryAws, name: &str, parameter: &str) -> ImageId {
    aws.advance(Duration::minutes(1));
    aws.add_image(REGION, ImageSeed::new(name).tag("ImageIdParameterName", parameter))
}

#[tokio::test(start_paused = true)]
async fn an_sqs_batch_redelivers_only_its_failed_record_and_prints_metrics() {
    let aws = account(ACCOUNT);
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let printed = lines.clone();
    let function = function(&aws, Settings::default())
        .with_metrics_output(move |line| printed.lock().unwrap().push(line.to_owned()));
    let origin = Origin::new(ACCOUNT, REGION, "batch");
    let job = |image: &ImageId| origin.backup_job(image.as_str(), "i-0123456789abcdef0", "COMPLETED");
    let names = ["/ami/failing", "/ami/a", "/ami/b", "/ami/c"];
    let [failing, a, b, c] = names.map(|name| image_for(&aws, &name.replace("/ami/", "batch-"), name));
    // The first record's publish fails every attempt; the others' succeed.
    aws.inject(Fault::on("ssm:PutParameter", FaultKind::ServerError).times(RetryPolicy::TARGETS.attempts()));
    let mut batch = sqs_batch(&[job(&failing), job(&a), json!({}), job(&b), job(&c)]);
    batch["Records"][2]["body"] = "{\"source\": \"aws.backup\", truncated".into();

    let response = function.invoke(batch.clone()).await.expect("a partial batch response, not an error");
    let failed_id = batch["Records"][0]["messageId"].clone();
    assert_eq!(to_json(&response), json!({"batchItemFailures": [{"itemIdentifier": failed_id}]}));
    for (name, image) in [("/ami/a", &a), ("/ami/b", &b), ("/ami/c", &c)] {
        let parameter = aws.parameter(REGION, name).unwrap_or_else(|| panic!("{name} written"));
        assert_eq!((parameter.value.as_str(), parameter.version), (image.as_str(), 1), "{name}: written once");
    }
    assert!(aws.parameter(REGION, "/ami/failing").is_none());

    // The metrics: the rule's pointers, the region's runs, the rejected record.
    let lines = lines.lock().unwrap().clone();
    let records: Vec<Value> = lines.iter().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(records.len(), 3, "{lines:#?}");
    assert_eq!((&records[0]["PointersUpdated"], &records[0]["PointersFailed"]), (&json!(3), &json!(1)));
    assert_eq!((&records[1]["EventsOk"], &records[1]["EventsFailed"]), (&json!(3), &json!(1)));
    assert_eq!(records[2]["RecordsRejected"], 1);
    assert!(records.iter().all(|record| record["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "amikeeper"));
}

#[tokio::test]
async fn failures_are_errors_lambda_can_retry_and_bad_input_is_not() {
    let aws = account(ACCOUNT);
    let images = web_images(&aws, 1);
    let function = function(&aws, Settings::default());

    let error = function.invoke(json!({"source": "aws.s3", "detail-type": "Object Created"})).await.unwrap_err();
    assert_eq!(error.error_type(), "Amikeeper.BadInput", "{error}");

    aws.inject(Fault::on("ssm:PutParameter", FaultKind::ServerError).times(10));
    let event =
        Origin::new(ACCOUNT, REGION, "fails").backup_job(images[0].as_str(), "i-0123456789abcdef0", "COMPLETED");
    let error = function.invoke(event).await.unwrap_err();
    assert!(matches!(error, FunctionError::Failed(_)), "{error:?}");
    assert!(error.to_string().contains("ssm_parameter /ami/web"), "{error}");
    let diagnostic = lambda_runtime::Diagnostic::from(error);
    assert_eq!(diagnostic.error_type, "Amikeeper.Failed");
}

#[tokio::test]
async fn a_schedule_no_rule_takes_sweeps_the_region() {
    let aws = account(ACCOUNT);
    let images = web_images(&aws, 5);
    aws.set_parameter(REGION, "/ami/web", images[4].as_str()).unwrap();
    let function = function(&aws, Settings::default());

    let response = function.invoke(Origin::new(ACCOUNT, REGION, "nightly").scheduled("nightly")).await.unwrap();
    let Response::One(RunReport::Sweep(report)) = &response else { panic!("a sweep: {response:?}") };
    assert!(report.applied);
    // keep_newest = 3: the two oldest go.
    assert_eq!(report.summary.images_retired, 2, "{:#?}", report.summary);
    assert_eq!(aws.image(REGION, &images[0]).unwrap().state, ImageState::Deregistered);
    assert_eq!(aws.image(REGION, &images[2]).unwrap().state, ImageState::Available);
}

#[tokio::test]
async fn a_fleet_target_sweeps_that_account_and_region() {
    let aws = account(ACCOUNT);
    let other = account("444455556666");
    let theirs = web_images(&other, 4);
    let ours = web_images(&aws, 4);
    aws.add_role(ROLE, other.clone());
    let function = function(&aws, Settings::default());

    let response = function.invoke(json!({"role_arn": ROLE, "region": REGION})).await.unwrap();
    let Response::Target(report) = &response else { panic!("a fleet report: {response:?}") };
    assert_eq!(
        (report.status, report.region.as_str(), report.role_arn.as_deref()),
        (SweepStatus::Ok, REGION, Some(ROLE))
    );
    assert_eq!(other.image(REGION, &theirs[0]).unwrap().state, ImageState::Deregistered, "swept in their account");
    assert_eq!(aws.image(REGION, &ours[0]).unwrap().state, ImageState::Available, "not in ours");
    let json = to_json(&response);
    assert_eq!(json["report"]["summary"]["images_retired"], 1, "{json:#}");
    assert!(json["report"]["plan"].is_object());

    // `apply: false` only plans; without a role, the function's own account.
    let response = function.invoke(json!({"region": REGION, "apply": false})).await.unwrap();
    let json = to_json(&response);
    assert_eq!((json["role_arn"].clone(), json["report"]["applied"].clone()), (Value::Null, json!(false)));
    assert_eq!(json["report"]["summary"]["images_planned"], 1, "{json:#}");
    assert_eq!(aws.image(REGION, &ours[0]).unwrap().state, ImageState::Available);
}

#[tokio::test]
async fn fleet_target_failures_say_whether_a_retry_helps() {
    let aws = account(ACCOUNT);
    let function = function(&aws, Settings::default());

    // AssumeRole throttled: retryable, for Step Functions' Retry.
    aws.add_role(ROLE, account("444455556666"));
    aws.inject(Fault::on("sts:AssumeRole", FaultKind::Throttling));
    let error = function.invoke(json!({"role_arn": ROLE, "region": REGION})).await.unwrap_err();
    assert_eq!(error.error_type(), "Amikeeper.Retryable", "{error}");
    assert!(error.to_string().contains(ROLE), "{error}");

    // A role that cannot be assumed: a retry would not help.
    let missing = "arn:aws:iam::777788889999:role/missing";
    let error = function.invoke(json!({"role_arn": missing, "region": REGION})).await.unwrap_err();
    assert_eq!(error.error_type(), "Amikeeper.Failed", "{error}");
    assert!(error.to_string().contains("AccessDenied"), "{error}");
}

#[tokio::test]
async fn a_fleet_target_can_return_a_summary_for_step_functions() {
    let aws = account(ACCOUNT);
    web_images(&aws, 5);
    let settings = Settings { fleet_report: FleetReportDetail::Summary, ..Settings::default() };
    let function = function(&aws, settings);

    let json = to_json(&function.invoke(json!({"region": REGION})).await.unwrap());
    assert_eq!(json["status"], "ok", "{json:#}");
    assert_eq!(json["region"], REGION);
    assert_eq!(json["applied"], true);
    assert_eq!(json["summary"]["images_retired"], 2, "{json:#}");
    assert!(json.get("plan").is_none() && json.get("report").is_none(), "{json:#}");
    // The sweep's page, for examples/step-functions to write to S3.
    let key = json["page"]["key"].as_str().unwrap();
    assert!(key.starts_with(&format!("sweep-pages/this-account/{REGION}/")) && key.ends_with(".html"), "{key}");
    let html = json["page"]["html"].as_str().unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.len() <= amikeeper_lambda::PAGE_BUDGET_BYTES);
    assert_eq!(html.matches("<span class=\"badge retired\">").count(), 2, "the two retired AMIs are on the page");
}
