//! `copy_to` on `MemoryAws`: seed 000's DR copy as configuration.

use std::sync::Arc;

use amikeeper::memory::ImageSeed;
use amikeeper::model::{ImageState, COPIED_FROM_TAG};
use amikeeper::report::{Report, RunStatus};
use amikeeper::samples::Origin;
use amikeeper::{Config, HandleOptions, Keeper, MemoryAws};

const ACCOUNT: &str = "111122223333";
const MAIN: &str = "ap-northeast-1";
const DR: &str = "ap-northeast-3";

const CONFIG: &str = r#"
accounts = ["111122223333"]
[[rules]]
name = "web"
copy_to = ["ap-northeast-3"]
[rules.match]
name_prefix = "web-"
[[rules.targets]]
kind = "ssm_parameter"
name = "/ami/web"
"#;

async fn handle(keeper: &Keeper, event: serde_json::Value, dry_run: bool) -> Report {
    let options = HandleOptions { dry_run, wait: None };
    let mut reports = keeper.handle_payload(event.to_string().as_bytes(), &options).await.expect("parses");
    reports.remove(0)
}

#[tokio::test(start_paused = true)]
async fn copy_to_copies_once_and_the_copy_finishes_the_dr_region() {
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let keeper = Keeper::new(Config::from_toml(CONFIG).unwrap(), aws.clone());
    let image = aws.add_image(MAIN, ImageSeed::new("web-1").tag("Role", "web"));
    let main = Origin::new(ACCOUNT, MAIN, "copy-main");

    let planned = handle(&keeper, main.image_state_change(image.as_str(), "available"), true).await;
    assert_eq!(planned.copies[0].status, "planned");
    assert!(aws.images(DR).is_empty(), "a dry run copies nothing");

    let report = handle(&keeper, main.image_state_change(image.as_str(), "available"), false).await;
    assert_eq!(report.status, RunStatus::Ok, "{report:#?}");
    let copy = &report.copies[0];
    assert_eq!((copy.region.as_str(), copy.status), (DR, "copied"));
    let copy_id = copy.image_id.clone().unwrap();
    let copied = aws.image(DR, &copy_id).unwrap();
    assert_eq!(copied.name, "web-1");
    assert_eq!(copied.state, ImageState::Pending);
    assert_eq!(copied.tags["Role"], "web", "the AMI's tags go with it");
    assert_eq!(copied.tags[COPIED_FROM_TAG], format!("{MAIN}/{image}"));
    assert!(!copied.tags.keys().any(|k| k == "amikeeper:protected"), "not amikeeper's bookkeeping");

    // The same event again (EventBridge delivers at least once): no second copy.
    let again = handle(&keeper, main.image_state_change(image.as_str(), "available"), false).await;
    assert_eq!((again.copies[0].status, again.copies[0].image_id.as_ref()), ("already_copied", Some(&copy_id)));
    assert!(!again.aws_calls_by_operation.contains_key("ec2:CopyImage"));
    assert_eq!(aws.images(DR).len(), 1);

    // In the DR region, the copy's own events move its pointer; the copy is not copied back.
    let dr = Origin::new(ACCOUNT, DR, "copy-dr");
    let pending = handle(&keeper, dr.copy_image(copy_id.as_str(), image.as_str(), MAIN, "web-1"), false).await;
    assert_eq!(pending.status, RunStatus::Deferred, "{pending:#?}");
    aws.complete_pending_images();
    let done = handle(&keeper, dr.image_state_change(copy_id.as_str(), "available"), false).await;
    assert_eq!(done.status, RunStatus::Ok, "{done:#?}");
    assert!(done.copies.is_empty(), "a copy is never copied again");
    assert_eq!(aws.parameter(DR, "/ami/web").unwrap().value, copy_id.to_string());
    assert_eq!(aws.parameter(MAIN, "/ami/web").unwrap().value, image.to_string());

    // `amikeeper iam-policy` allows every call this made.
    let allowed = amikeeper::iam::handle_actions(keeper.config());
    let missing: Vec<String> = aws.calls().into_iter().filter(|op| !allowed.contains(op.as_str())).collect();
    assert!(missing.is_empty(), "calls the policy does not allow: {missing:?}");
}

#[tokio::test(start_paused = true)]
async fn a_failed_copy_fails_the_run_so_the_event_is_retried() {
    use amikeeper::memory::{Fault, FaultKind};
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let keeper = Keeper::new(Config::from_toml(CONFIG).unwrap(), aws.clone());
    let image = aws.add_image(MAIN, ImageSeed::new("web-1"));
    aws.inject(Fault::on("ec2:CopyImage", FaultKind::ServerError));
    let main = Origin::new(ACCOUNT, MAIN, "copy-fail");
    let report = handle(&keeper, main.image_state_change(image.as_str(), "available"), false).await;
    assert_eq!(report.status, RunStatus::Failed, "{report:#?}");
    assert_eq!(report.copies[0].status, "failed");
    let retried = handle(&keeper, main.image_state_change(image.as_str(), "available"), false).await;
    assert_eq!((retried.status, retried.copies[0].status), (RunStatus::Ok, "copied"));
}

#[test]
fn copy_to_takes_regions_only() {
    let bad = CONFIG.replace("ap-northeast-3", "tokyo");
    let error = Config::from_toml(&bad).unwrap_err().to_string();
    assert!(error.contains("copy_to[0]") && error.contains("not a region"), "{error}");
}
