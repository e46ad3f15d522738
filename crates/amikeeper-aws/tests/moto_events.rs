//! `[notify]` through the SDK backend against `moto_server`: a rule on the default bus with an
//! SQS target, a pointer moved by amikeeper, and the queue receives `AMI Pointer Moved` with the
//! detail `docs/EVENTS.md` documents. Skipped (passing) without moto unless
//! `AMIKEEPER_REQUIRE_MOTO=1`, like `tests/moto.rs`.
//!
//! Where moto differs from AWS (amikeeper follows AWS): moto's envelope `time` is a number, not
//! RFC 3339 text; moto accepts a `Detail` that is JSON but not an object (AWS refuses it); and
//! moto fails a whole call that names a bus that does not exist.

use std::time::Duration;

use amikeeper::backend::EventsApi;
use amikeeper::conformance::{Fixture, ImageSpec, MAIN_REGION};
use amikeeper::model::{EntryResult, EventEntry, Region};
use amikeeper::samples::Origin;
use amikeeper::{Config, HandleOptions, Keeper, RunStatus};
use amikeeper_aws::testing::{MotoFixture, MotoServer};
use serde_json::{json, Value};

/// The events of the default bus matching `pattern`, delivered to a new SQS queue: its URL.
async fn queue_for(server: &MotoServer, pattern: Value) -> (aws_sdk_sqs::Client, String) {
    let config = server.sdk_config(MAIN_REGION).await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let queue = sqs.create_queue().queue_name("amikeeper-events").send().await.expect("CreateQueue");
    let url = queue.queue_url().expect("a queue url").to_owned();
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("GetQueueAttributes");
    let arn = attributes.attributes().and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)).cloned();
    let events = aws_sdk_eventbridge::Client::new(&config);
    events.put_rule().name("amikeeper-to-sqs").event_pattern(pattern.to_string()).send().await.expect("PutRule");
    let target = aws_sdk_eventbridge::types::Target::builder().id("queue").arn(arn.expect("a queue arn")).build();
    events.put_targets().rule("amikeeper-to-sqs").targets(target.expect("a target")).send().await.expect("PutTargets");
    (sqs, url)
}

/// Every message the queue holds now, as JSON.
async fn received(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<Value> {
    let mut messages = Vec::new();
    for _ in 0..3 {
        let answer = sqs.receive_message().queue_url(url).max_number_of_messages(10).wait_time_seconds(1).send().await;
        let batch = answer.expect("ReceiveMessage").messages().to_vec();
        if batch.is_empty() && !messages.is_empty() {
            break;
        }
        for message in batch {
            messages.push(serde_json::from_str(message.body().expect("a body")).expect("a JSON body"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    messages
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moved_pointer_reaches_an_sqs_target_with_the_documented_detail() {
    let Some(server) = MotoServer::start() else { return };
    let fixture = MotoFixture::new(&server).await;
    let pattern = json!({"source": ["amikeeper"], "detail-type": ["AMI Pointer Moved"], "detail": {"rule": ["web"]}});
    let (sqs, url) = queue_for(&server, pattern).await;

    let account = fixture.account();
    let before = fixture.image(MAIN_REGION, ImageSpec::named("web-1")).await;
    let image = fixture.image(MAIN_REGION, ImageSpec::named("web-2")).await;
    fixture.set_parameter(MAIN_REGION, "/ami/web", before.as_str()).await;
    let config = Config::from_toml(&format!(
        "accounts = [\"{account}\"]\n[[rules]]\nname = \"web\"\n[rules.match]\nname_prefix = \"web-\"\n\
         [[rules.targets]]\nkind = \"ssm_parameter\"\nname = \"/ami/web\"\n[notify]\nevent_bus = \"default\"\n"
    ))
    .unwrap();
    let keeper = Keeper::new(config, fixture.aws());
    let event = Origin::new(&account, MAIN_REGION, "e-moto").image_state_change(image.as_str(), "available");
    let reports = keeper.handle_payload(event.to_string().as_bytes(), &HandleOptions::default()).await.unwrap();
    let report = &reports[0];
    assert_eq!(report.status, RunStatus::Ok, "{report:#?}");
    let notifications = report.notifications.as_ref().expect("notified");
    assert_eq!((notifications.sent, notifications.failed), (1, 0), "{notifications:?}");

    let messages = received(&sqs, &url).await;
    assert_eq!(messages.len(), 1, "{messages:#?}");
    let message = &messages[0];
    assert_eq!(
        (message["source"].as_str(), message["detail-type"].as_str()),
        (Some("amikeeper"), Some("AMI Pointer Moved"))
    );
    // EventBridge stamps the envelope's `account` (the putting account); moto 5.2.5 leaves it
    // out of what it delivers to SQS. amikeeper does not set it, so it is checked when present.
    if let Some(stamped) = message["account"].as_str() {
        assert_eq!(stamped, account.as_str());
    }
    assert_eq!(message["region"].as_str(), Some(MAIN_REGION));
    let arn = format!("arn:aws:ssm:{MAIN_REGION}:{account}:parameter/ami/web");
    assert_eq!(message["resources"], json!([arn]));
    let detail = &message["detail"];
    let reason = detail["reason"].as_str().expect("a reason").to_owned();
    assert_eq!(reason, "overwritten, now version 2");
    assert_eq!(
        detail,
        &json!({
            "version": "1",
            "operation": "handle",
            "region": MAIN_REGION,
            "account": account,
            "rule": "web",
            "pointer": {"kind": "ssm_parameter", "name": "/ami/web", "arn": arn},
            "status": "updated",
            "reason": reason,
            "from": before.as_str(),
            "to": image.as_str(),
            "event_kind": "image_state_changed",
            "event_id": "e-moto",
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_events_answers_one_result_per_entry() {
    let Some(server) = MotoServer::start() else { return };
    let fixture = MotoFixture::new(&server).await;
    let entry = |detail: &str| EventEntry {
        event_bus: "default".into(),
        source: "amikeeper".into(),
        detail_type: "AMI Sweep Completed".into(),
        detail: detail.into(),
        resources: vec![],
    };
    let region = Region::new(MAIN_REGION);
    let results = fixture.sdk_aws().put_events(&region, &[entry("{}"), entry("not json"), entry(r#"{"a":1}"#)]).await;
    let results = results.expect("PutEvents succeeds when some entries fail");
    assert!(matches!(&results[0], EntryResult::Accepted { event_id } if !event_id.is_empty()), "{results:?}");
    assert!(matches!(&results[1], EntryResult::Failed { code, .. } if code == "MalformedDetail"), "{results:?}");
    assert!(matches!(&results[2], EntryResult::Accepted { .. }), "{results:?}");

    let eleven = vec![entry("{}"); 11];
    let error = fixture.sdk_aws().put_events(&region, &eleven).await.unwrap_err();
    assert_eq!(
        (error.service.as_str(), error.operation.as_str(), error.code.as_str()),
        ("events", "PutEvents", "ValidationException")
    );
}
