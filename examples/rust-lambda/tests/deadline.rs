//! The function with the Lambda context's deadline: a scheduled sweep, or a fleet target's,
//! with too little time left returns a partial report, and the next invocation finishes it.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use amikeeper::model::ImageState;
use amikeeper::retain::ItemStatus;
use amikeeper::samples::Origin;
use amikeeper::testing::{self, REGION};
use amikeeper::{Deadline, MemoryAws, SweepStatus};
use amikeeper_lambda::{Function, Response, RunReport, Settings};
use serde_json::json;
use time::{Duration, OffsetDateTime};

const ACCOUNT: &str = "111122223333";

/// The bundled configuration on an account of five `/ami/web` images a day apart, a month old.
fn function() -> (Function, Arc<MemoryAws>) {
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    aws.set_now(OffsetDateTime::now_utc() - Duration::days(30));
    let images = testing::web_images(&aws, 5, Duration::days(1), ("ImageIdParameterName", "/ami/web"));
    aws.set_parameter(REGION, "/ami/web", images[4].as_str()).unwrap();
    let settings = Settings::default();
    let config = settings.load_config().expect("the bundled keeper.toml loads");
    (Function::new(config, aws.clone(), settings), aws)
}

/// The Lambda context's deadline (milliseconds since the epoch) `millis` from now.
fn context_deadline(millis: u64) -> u64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    u64::try_from(now.as_millis()).unwrap() + millis
}

fn deregistered(aws: &MemoryAws) -> usize {
    aws.images(REGION).iter().filter(|i| i.state == ImageState::Deregistered).count()
}

#[tokio::test]
async fn a_scheduled_sweep_near_the_deadline_is_partial_and_the_next_finishes_it() {
    let (function, aws) = function();
    let schedule = Origin::new(ACCOUNT, REGION, "nightly").scheduled("nightly");
    // 1.2 s left: half a second to return, and less than the second an action must have.
    let deadline = Deadline::lambda_at_epoch_millis(context_deadline(1200));
    let response = function.invoke_before(schedule.clone(), Some(deadline)).await.expect("a partial sweep is no error");
    let Response::One(RunReport::Sweep(report)) = &response else { panic!("a sweep: {response:?}") };
    assert_eq!(report.status, SweepStatus::Partial, "{:#?}", report.results);
    assert_eq!(report.summary.images_planned, 2);
    assert!(report.results.iter().all(|r| r.status == ItemStatus::NotStarted), "{:#?}", report.results);
    assert_eq!(deregistered(&aws), 0);

    let response = function.invoke_before(schedule, Some(Deadline::lambda_at_epoch_millis(context_deadline(900_000))));
    let Response::One(RunReport::Sweep(report)) = &response.await.unwrap() else { panic!("a sweep") };
    assert_eq!((report.status, report.summary.images_retired), (SweepStatus::Ok, 2), "{:#?}", report.results);
    assert_eq!(deregistered(&aws), 2);
}

#[tokio::test]
async fn a_fleet_target_near_the_deadline_is_partial() {
    let (function, aws) = function();
    let target = json!({"region": REGION});
    let response = function.invoke_before(target, Some(Deadline::lambda_at_epoch_millis(0))).await.unwrap();
    let json = serde_json::to_value(&response).unwrap();
    assert_eq!(json["status"], "partial", "{json:#}");
    let results = json["report"]["results"].as_array().unwrap();
    assert!(!results.is_empty() && results.iter().all(|r| r["status"] == "not_started"), "{json:#}");
    assert_eq!(json["report"]["summary"]["not_started"], results.len(), "{json:#}");
    assert_eq!(deregistered(&aws), 0);
}
