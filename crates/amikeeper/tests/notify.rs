//! `[notify]` on `MemoryAws`: what the keeper puts on EventBridge for a handle, a rollback and a
//! sweep (the schemas of `docs/EVENTS.md`), that a failing `PutEvents` is reported and fails no
//! run, and that dry runs put nothing.

use std::sync::Arc;

use amikeeper::memory::{Fault, FaultKind, ImageSeed};
use amikeeper::model::{ImageId, Region};
use amikeeper::publish::Status;
use amikeeper::rollback::{RollbackOptions, RollbackStatus, RollbackTarget};
use amikeeper::samples::Origin;
use amikeeper::testing::{self, ACCOUNT, REGION};
use amikeeper::{HandleOptions, MemoryAws, RunStatus, SweepOptions, SweepStatus};
use serde_json::{json, Value};
use time::Duration;

const NOTIFY: &str = "[notify]\nevent_bus = \"default\"\n";

/// Rule `web` moves `/ami/web` and, from a tag, `/ami/<Team>` (allowed under `/ami/`).
fn config(notify: &str) -> String {
    format!(
        "accounts = [\"{ACCOUNT}\"]\nallowed_name_prefixes = [\"/ami/\"]\n\
         [[rules]]\nname = \"web\"\n[rules.match]\nname_prefix = \"web-\"\n\
         [[rules.targets]]\nkind = \"ssm_parameter\"\nname = \"/ami/web\"\n\
         [[rules.targets]]\nkind = \"ssm_parameter\"\nname = \"{{tag:Team}}\"\n\
         [retention]\n[[retention.images]]\ngroup_by = {{ tag = \"Role\" }}\nkeep_newest = 1\n{notify}"
    )
}

fn available(image: &ImageId) -> Value {
    Origin::new(ACCOUNT, REGION, "e-1").image_state_change(image.as_str(), "available")
}

/// The details put on the bus of `REGION`, by detail type.
fn details(aws: &MemoryAws) -> Vec<(String, Value, Vec<String>)> {
    aws.bus_events(REGION)
        .into_iter()
        .map(|e| {
            assert_eq!((e.entry.source.as_str(), e.entry.event_bus.as_str()), ("amikeeper", "default"));
            (e.entry.detail_type, serde_json::from_str(&e.entry.detail).unwrap(), e.entry.resources)
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_moved_pointer_and_a_refused_one_put_the_documented_details() {
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let before = aws.add_image(REGION, ImageSeed::new("web-1"));
    aws.set_parameter(REGION, "/ami/web", before.as_str()).unwrap();
    // `{tag:Team}` renders to `/etc/passwd`: outside the allow-list, refused.
    let image = aws.add_image(REGION, ImageSeed::new("web-2").tag("Team", "/etc/passwd"));
    let keeper = testing::keeper(&config(NOTIFY), &aws);

    let report = testing::handle_one(&keeper, &available(&image), &HandleOptions::default()).await;
    assert_eq!(report.status, RunStatus::Refused, "{report:#?}");
    let notifications = report.notifications.clone().expect("notified");
    assert_eq!((notifications.sent, notifications.failed), (2, 0), "{notifications:?}");
    assert_eq!(report.aws_calls_by_operation.get("events:PutEvents"), Some(&1), "counted as the run's call");

    let put = details(&aws);
    let types: Vec<&str> = put.iter().map(|(t, _, _)| t.as_str()).collect();
    assert_eq!(types, ["AMI Pointer Moved", "AMI Pointer Refused"]);
    let (_, moved, resources) = &put[0];
    let arn = format!("arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/ami/web");
    assert_eq!(resources, std::slice::from_ref(&arn));
    assert_eq!(
        moved,
        &json!({
            "version": "1",
            "operation": "handle",
            "region": REGION,
            "account": ACCOUNT,
            "rule": "web",
            "pointer": {"kind": "ssm_parameter", "name": "/ami/web", "arn": arn},
            "status": "updated",
            "reason": moved["reason"],
            "from": before.as_str(),
            "to": image.as_str(),
            "event_kind": "image_state_changed",
            "event_id": "e-1",
        })
    );
    let (_, refused, _) = &put[1];
    assert_eq!(
        (refused["status"].as_str(), refused["pointer"]["name"].as_str()),
        (Some("refused"), Some("{tag:Team}"))
    );
    assert!(refused["reason"].as_str().unwrap().contains("/etc/passwd"), "{refused}");
    assert!(refused["pointer"].get("arn").is_none() && put[1].2.is_empty(), "a template names no resource");

    // Handled again: nothing moves, nothing is put.
    let again = testing::handle_one(&keeper, &available(&image), &HandleOptions::default()).await;
    assert_eq!(again.targets[0].outcome.status, Status::Unchanged);
    assert_eq!(details(&aws).len(), 3, "only the refusal again");
}

#[tokio::test(start_paused = true)]
async fn a_failing_put_events_is_reported_and_the_run_is_still_ok() {
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let image = aws.add_image(REGION, ImageSeed::new("web-1").tag("Team", "/ami/team"));
    let keeper = testing::keeper(&config(NOTIFY), &aws);
    aws.inject(Fault::on("events:PutEvents", FaultKind::AccessDenied));

    let report = testing::handle_one(&keeper, &available(&image), &HandleOptions::default()).await;
    assert_eq!(report.status, RunStatus::Ok, "{report:#?}");
    assert_eq!(aws.parameter(REGION, "/ami/web").unwrap().value, image.as_str());
    let notifications = report.notifications.expect("reported");
    assert_eq!((notifications.sent, notifications.failed), (0, 2));
    assert!(notifications.errors[0].contains("AccessDeniedException"), "{:?}", notifications.errors);
    assert!(aws.bus_events(REGION).is_empty());
    let json = serde_json::to_value(testing::handle_one(&keeper, &available(&image), &HandleOptions::default()).await);
    assert!(json.unwrap().get("notifications").is_none(), "nothing moved, nothing to say");
}

#[tokio::test(start_paused = true)]
async fn dry_runs_and_configurations_without_notify_put_nothing() {
    for (notify, dry_run) in [(NOTIFY, true), ("", false)] {
        let aws = Arc::new(MemoryAws::new(ACCOUNT));
        let images = testing::web_images(&aws, 3, Duration::days(10), ("Role", "web"));
        aws.set_parameter(REGION, "/ami/web", images[0].as_str()).unwrap();
        let keeper = testing::keeper(&config(notify), &aws);
        let options = HandleOptions::default().dry_run(dry_run);
        let report = testing::handle_one(&keeper, &available(&images[2]), &options).await;
        assert!(report.notifications.is_none());

        let targets: Vec<RollbackTarget> = vec!["ssm_parameter:/ami/web".parse().unwrap()];
        let rollback = RollbackOptions::default().to(images[1].clone()).dry_run(dry_run);
        let rolled = keeper.rollback(&Region::from(REGION), &targets, &rollback).await;
        assert_eq!((rolled.status, rolled.notifications), (RollbackStatus::Ok, None));

        let sweep = SweepOptions::default().apply(!dry_run).now(aws.now());
        let swept = keeper.sweep(&Region::from(REGION), &sweep).await.unwrap();
        assert!(swept.notifications.is_none());
        assert_eq!(aws.call_count("events:PutEvents"), 0, "notify {notify:?}, dry run {dry_run}");
    }
    // A sweep that only plans is a dry run too.
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let keeper = testing::keeper(&config(NOTIFY), &aws);
    let plan = keeper.sweep(&Region::from(REGION), &SweepOptions::default()).await.unwrap();
    assert!(plan.notifications.is_none() && aws.bus_events(REGION).is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_rollback_and_a_sweep_put_theirs() {
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let images = testing::web_images(&aws, 3, Duration::days(10), ("Role", "web"));
    aws.set_parameter(REGION, "/ami/web", images[1].as_str()).unwrap();
    aws.set_parameter(REGION, "/ami/web", images[2].as_str()).unwrap();
    let keeper = testing::keeper(&config(NOTIFY), &aws);

    let targets: Vec<RollbackTarget> = vec!["ssm_parameter:/ami/web".parse().unwrap()];
    let rolled = keeper.rollback(&Region::from(REGION), &targets, &RollbackOptions::default()).await;
    assert_eq!(rolled.status, RollbackStatus::Ok, "{rolled:#?}");
    assert_eq!(rolled.notifications.as_ref().map(|n| n.sent), Some(1));
    assert_eq!(rolled.aws_calls_by_operation.get("events:PutEvents"), Some(&1));

    let sweep = SweepOptions::default().apply(true).now(aws.now());
    let swept = keeper.sweep(&Region::from(REGION), &sweep).await.unwrap();
    assert_eq!(swept.status, SweepStatus::Ok, "{:#?}", swept.results);
    assert_eq!(swept.notifications.as_ref().map(|n| n.sent), Some(1));

    let put = details(&aws);
    let types: Vec<&str> = put.iter().map(|(t, _, _)| t.as_str()).collect();
    assert_eq!(types, ["AMI Pointer Rolled Back", "AMI Sweep Completed"]);
    let (_, rollback, _) = &put[0];
    assert_eq!(rollback["operation"], "rollback");
    assert_eq!(
        (rollback["from"].as_str(), rollback["to"].as_str()),
        (Some(images[2].as_str()), Some(images[1].as_str()))
    );
    let (_, summary, resources) = &put[1];
    assert!(resources.is_empty());
    assert_eq!(summary["version"], "1");
    assert_eq!((summary["region"].as_str(), summary["account"].as_str()), (Some(REGION), Some(ACCOUNT)));
    assert_eq!(summary["status"], "ok");
    assert_eq!(summary["summary"], serde_json::to_value(&swept.summary).unwrap());
    assert_eq!(summary["summary"]["images_retired"], 1, "the third image is neither kept nor named");
}

#[tokio::test(start_paused = true)]
async fn more_than_ten_pointers_take_more_than_one_call() {
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let image = aws.add_image(REGION, ImageSeed::new("web-1"));
    let targets: String =
        (0..12).map(|i| format!("[[rules.targets]]\nkind = \"ssm_parameter\"\nname = \"/ami/web/{i:02}\"\n")).collect();
    let config = format!(
        "accounts = [\"{ACCOUNT}\"]\n[[rules]]\nname = \"web\"\n[rules.match]\nname_prefix = \"web-\"\n{targets}{NOTIFY}"
    );
    let keeper = testing::keeper(&config, &aws);
    let report = testing::handle_one(&keeper, &available(&image), &HandleOptions::default()).await;
    assert_eq!(report.status, RunStatus::Ok, "{report:#?}");
    assert_eq!(report.notifications.as_ref().map(|n| (n.sent, n.failed)), Some((12, 0)));
    assert_eq!(report.aws_calls_by_operation.get("events:PutEvents"), Some(&2), "10, then 2");
    let names: Vec<String> =
        details(&aws).into_iter().map(|(_, d, _)| d["pointer"]["name"].as_str().unwrap().to_owned()).collect();
    let expected: Vec<String> = (0..12).map(|i| format!("/ami/web/{i:02}")).collect();
    assert_eq!(names, expected, "in the report's order");
}
