use serde_json::json;

use super::*;
use crate::memory::{Fault, FaultKind, MemoryAws};

fn entry(detail_bytes: usize) -> EventEntry {
    EventEntry {
        event_bus: "default".into(),
        source: SOURCE.into(),
        detail_type: "AMI Pointer Moved".into(),
        detail: format!(r#"{{"x":"{}"}}"#, "a".repeat(detail_bytes)),
        resources: vec![],
    }
}

fn bus(name: &str) -> NotifyConfig {
    NotifyConfig { event_bus: name.parse().unwrap() }
}

fn moved(name: &str) -> Notification {
    let run = RunContext {
        operation: Operation::Handle,
        region: &Region::from("eu-west-1"),
        account: Some("111122223333"),
        event_kind: Some(EventKind::ImageStateChanged),
        event_id: Some("e-1"),
    };
    let target = TargetId { kind: "ssm_parameter", name: name.into() };
    let outcome = Outcome::new(Status::Updated, "moved").moved(Some("ami-0aaaaaaaaaaaaaaa1"), "ami-0aaaaaaaaaaaaaaa2");
    pointer_event(&run, Some("web"), &target, &outcome, None).unwrap()
}

#[test]
fn batches_hold_at_most_ten_entries_and_256_kb() {
    let sizes = |entries: &[EventEntry]| batches(entries).iter().map(|b| b.len()).collect::<Vec<_>>();
    assert_eq!(sizes(&vec![entry(10); 23]), [10, 10, 3]);
    assert_eq!(sizes(&[]), Vec::<usize>::new());
    // Four entries of 100 KB: two fit in a call, the third would pass 256 KB.
    let big = vec![entry(100 * 1024); 4];
    assert_eq!(sizes(&big), [2, 2]);
    for batch in batches(&big) {
        assert!(batch.iter().map(EventEntry::size).sum::<usize>() <= MAX_PUT_EVENTS_BYTES);
    }
}

#[test]
fn only_moves_rollbacks_refusals_and_failures_are_events() {
    let region = Region::from("cn-north-1");
    let run = RunContext {
        operation: Operation::Rollback,
        region: &region,
        account: Some("111122223333"),
        event_kind: None,
        event_id: None,
    };
    let template = TargetId { kind: "launch_template", name: "lt-0123456789abcdef0".into() };
    let event = |status| pointer_event(&run, None, &template, &Outcome::new(status, "why"), None);
    let types: Vec<Option<DetailType>> = [
        Status::Updated,
        Status::Refused,
        Status::Failed,
        Status::Unchanged,
        Status::Skipped,
        Status::Deferred,
        Status::Planned,
    ]
    .into_iter()
    .map(|status| event(status).map(|e| e.detail_type))
    .collect();
    assert_eq!(
        types,
        [
            Some(DetailType::PointerRolledBack),
            Some(DetailType::PointerRefused),
            Some(DetailType::PointerUpdateFailed),
            None,
            None,
            None,
            None
        ]
    );
    let rolled = event(Status::Updated).unwrap();
    assert_eq!(rolled.resources, ["arn:aws-cn:ec2:cn-north-1:111122223333:launch-template/lt-0123456789abcdef0"]);
    assert_eq!(rolled.detail["operation"], "rollback");
    assert!(rolled.detail.get("rule").is_none() && rolled.detail.get("event_id").is_none());

    // A group's ARN holds an id its name does not give: no resource.
    let group = TargetId { kind: "auto_scaling_group", name: "web".into() };
    let refused = pointer_event(&run, None, &group, &Outcome::new(Status::Refused, "no"), None).unwrap();
    assert!(refused.resources.is_empty() && refused.detail["pointer"].get("arn").is_none());
}

#[test]
fn a_moved_pointer_has_the_documented_detail() {
    let event = moved("/ami/web");
    assert_eq!(event.detail_type.as_str(), "AMI Pointer Moved");
    assert_eq!(event.resources, ["arn:aws:ssm:eu-west-1:111122223333:parameter/ami/web"]);
    assert_eq!(
        event.detail,
        json!({
            "version": "1",
            "operation": "handle",
            "region": "eu-west-1",
            "account": "111122223333",
            "rule": "web",
            "pointer": {"kind": "ssm_parameter", "name": "/ami/web", "arn": "arn:aws:ssm:eu-west-1:111122223333:parameter/ami/web"},
            "status": "updated",
            "reason": "moved",
            "from": "ami-0aaaaaaaaaaaaaaa1",
            "to": "ami-0aaaaaaaaaaaaaaa2",
            "event_kind": "image_state_changed",
            "event_id": "e-1",
        })
    );
}

#[tokio::test(start_paused = true)]
async fn entries_eventbridge_throttles_are_put_once_more_then_reported() {
    let aws = MemoryAws::new("111122223333");
    let region = Region::from("eu-west-1");
    let config = bus("default");
    let notifier = Notifier::new(&aws, &config);

    // One throttled entry: put again, all sent.
    aws.fail_event_entries("ThrottlingException", 1);
    let sent = notifier.send(&region, (0..12).map(|i| moved(&format!("/ami/{i}"))).collect()).await;
    assert_eq!((sent.sent, sent.failed), (12, 0), "{sent:?}");
    assert_eq!(aws.call_count("events:PutEvents"), 3, "10 + 2 entries, then the throttled one again");
    assert_eq!(aws.bus_events(&region).len(), 12);

    // Failed twice: reported.
    aws.reset_calls();
    aws.fail_event_entries("InternalFailure", 2);
    let sent = notifier.send(&region, vec![moved("/ami/a")]).await;
    assert_eq!((sent.sent, sent.failed), (0, 1));
    assert!(sent.errors[0].starts_with("AMI Pointer Moved for ssm_parameter /ami/a: "), "{:?}", sent.errors);
    assert_eq!(aws.call_count("events:PutEvents"), 2);

    // A failure that putting again cannot mend is not tried again.
    aws.reset_calls();
    let missing = bus("arn:aws:events:eu-west-1:111122223333:event-bus/nope");
    let sent = Notifier::new(&aws, &missing).send(&region, vec![moved("/ami/c")]).await;
    assert_eq!((sent.sent, sent.failed, aws.call_count("events:PutEvents")), (0, 1, 1));
    assert!(sent.errors[0].contains("ResourceNotFoundException"), "{:?}", sent.errors);
}

#[tokio::test(start_paused = true)]
async fn a_failing_call_is_retried_then_reported_and_an_arn_picks_the_region() {
    let aws = MemoryAws::new("111122223333");
    aws.create_event_bus("us-east-1", "ops");
    let config = bus("arn:aws:events:us-east-1:111122223333:event-bus/ops");
    let notifier = Notifier::new(&aws, &config);
    aws.inject(Fault::on("events:PutEvents", FaultKind::AccessDenied));
    let sent = notifier.send(&Region::from("eu-west-1"), vec![moved("/ami/a")]).await;
    assert_eq!((sent.sent, sent.failed), (0, 1));
    assert!(sent.errors[0].contains("AccessDeniedException"), "{:?}", sent.errors);

    aws.inject(Fault::on("events:PutEvents", FaultKind::Throttling));
    let sent = notifier.send(&Region::from("eu-west-1"), vec![moved("/ami/a")]).await;
    assert_eq!((sent.sent, sent.failed), (1, 0));
    assert_eq!(aws.bus_events("us-east-1").len(), 1);
    assert!(aws.bus_events("eu-west-1").is_empty());

    let mut huge = moved("/ami/huge");
    huge.detail["reason"] = json!("x".repeat(MAX_PUT_EVENTS_BYTES));
    let calls = aws.call_count("events:PutEvents");
    let sent = notifier.send(&Region::from("eu-west-1"), vec![huge]).await;
    assert_eq!((sent.sent, sent.failed, aws.call_count("events:PutEvents")), (0, 1, calls));
}
