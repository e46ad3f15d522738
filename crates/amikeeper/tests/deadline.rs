//! Deadlines (a Lambda's remaining time): a sweep stops starting actions early enough to return
//! a partial report in time, the next sweep finishes the plan, and the wait for a pending AMI
//! ends early with its targets deferred. AWS answers slowly here ([`FaultyAws::set_latency`]),
//! on tokio's paused clock: the tests run at once, and measure the time AWS would have taken.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use amikeeper::backend::Ec2Api;
use amikeeper::memory::{Fault, FaultKind, FaultyAws, ImageSeed};
use amikeeper::model::{CreateLaunchTemplateVersion, ImageId, ImageState, Region};
use amikeeper::publish::Status;
use amikeeper::retain::{ItemStatus, SweepAction, SweepReport, SweepStatus, RETIRED_SNAPSHOT_TAG};
use amikeeper::samples::Origin;
use amikeeper::testing::{self, configs, ACCOUNT, REGION};
use amikeeper::{
    Config, Deadline, HandleOptions, InvokeOptions, Keeper, MemoryAws, RunReport, RunStatus, SweepOptions,
};
use time::Duration;
use tokio::time::Instant;

/// How long every AWS call takes.
const LATENCY: StdDuration = StdDuration::from_millis(100);
/// The images of the world; all but the two newest are retired.
const IMAGES: usize = 30;

/// Two images retired at a time, two kept, old launch template versions deleted first.
fn config() -> Config {
    Config::from_toml(&format!(
        "accounts = [\"{ACCOUNT}\"]\n[retention]\nconcurrency = 2\nimage_references = \"scan_only\"\n\
         [retention.launch_templates]\nkeep_versions = 1\n\
         [[retention.images]]\ngroup_by = {{ tag = \"Role\" }}\nkeep_newest = 2\n"
    ))
    .expect("valid config")
}

/// [`IMAGES`] images of two snapshots each, ten days apart, that `DeregisterImage` leaves the
/// snapshots of (so the sweep deletes them itself, after the image), and a launch template
/// whose five old versions launch the five oldest (its default, the newest).
async fn world() -> (Arc<MemoryAws>, String) {
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let images: Vec<ImageId> = (0..IMAGES)
        .map(|i| {
            aws.advance(Duration::days(10));
            aws.add_image(REGION, ImageSeed::new(format!("web-{i}")).tag("Role", "web").snapshots(2))
        })
        .collect();
    aws.set_deregister_keeps_snapshots(true);
    let template = aws.create_launch_template(REGION, "web", Some(images[0].clone()), Default::default());
    let region = Region::from(REGION);
    let mut latest = 1;
    for image in images.iter().take(5).skip(1).chain(images.last()) {
        let request = CreateLaunchTemplateVersion::new(&template.id, 1, image, "web");
        latest = aws.create_launch_template_version(&region, &request).await.expect("version");
    }
    aws.set_default_launch_template_version(&region, &template.id, latest).await.expect("default");
    (aws, template.id)
}

/// A keeper over `aws` whose every call takes [`LATENCY`].
fn slow_keeper(aws: &Arc<MemoryAws>) -> Keeper {
    let slow = FaultyAws::new(aws.clone());
    slow.set_latency(LATENCY);
    Keeper::new(config(), Arc::new(slow))
}

/// What a sweep leaves: each image's state, the snapshots, the launch template's versions.
fn end_state(aws: &MemoryAws, template: &str) -> (Vec<(ImageId, ImageState)>, Vec<String>, Vec<i64>) {
    let images = aws.images(REGION).into_iter().map(|i| (i.id, i.state)).collect();
    let versions = aws.launch_template_versions(REGION, template).into_iter().map(|v| v.number).collect();
    (images, aws.snapshots(REGION), versions)
}

fn count(report: &SweepReport, status: ItemStatus) -> usize {
    report.results.iter().filter(|r| r.status == status).count()
}

#[tokio::test(start_paused = true)]
async fn a_sweep_given_two_seconds_returns_in_time_and_the_next_finishes_the_plan() {
    let (aws, template) = world().await;
    let now = aws.now();
    let keeper = slow_keeper(&aws);
    let region = Region::from(REGION);

    let started = Instant::now();
    let deadline = Deadline::after(StdDuration::from_secs(2));
    let options = SweepOptions::default().apply(true).now(now).deadline(deadline);
    let first = keeper.sweep(&region, &options).await.expect("sweep runs");
    let took = started.elapsed();
    assert!(took < StdDuration::from_secs(2), "returned after {took:?}");
    assert_eq!(first.status, SweepStatus::Partial, "{:#?}", first.results);
    assert_eq!(first.summary.images_planned, IMAGES - 2);
    let not_started = count(&first, ItemStatus::NotStarted);
    assert_eq!(first.summary.not_started, not_started);
    assert!(not_started > 0 && first.summary.images_retired > 0, "{:#?}", first.summary);
    assert_eq!((first.summary.failed, first.summary.skipped), (0, 0), "{:#?}", first.results);
    for item in first.results.iter().filter(|r| r.status == ItemStatus::NotStarted) {
        assert!(item.detail.as_deref().unwrap_or("").starts_with("deadline:"), "{item:?}");
        assert_eq!(item.attempts, 0);
    }
    // Every launch template version went before the images it could launch.
    let deleted_versions = first.results.iter().filter(|r| r.action == SweepAction::DeleteLaunchTemplateVersion);
    assert!(deleted_versions.clone().count() > 0 && deleted_versions.clone().all(|r| r.status == ItemStatus::Done));
    // The sweep stopped in its order: nothing after the first action it did not start.
    let deleted_snapshots = first.summary.snapshots_deleted;
    assert_eq!(deleted_snapshots, 0, "snapshots come after every image: {:#?}", first.results);
    // An image deregistered before the deadline has its snapshots left, marked for the next.
    let deregistered: Vec<ImageId> =
        aws.images(REGION).into_iter().filter(|i| i.state == ImageState::Deregistered).map(|i| i.id).collect();
    assert_eq!(deregistered.len(), first.summary.images_retired);
    // The images it did not get to keep their snapshots unmarked (a later plan may keep them).
    for image in aws.images(REGION) {
        for snapshot in &image.snapshot_ids {
            let left = aws.snapshot(REGION, snapshot).expect("not deleted yet");
            let marked = left.tags.contains_key(RETIRED_SNAPSHOT_TAG);
            assert_eq!(marked, deregistered.contains(&image.id), "{snapshot} of {} ({})", image.id, image.state);
        }
    }

    // The next run, with time, finishes the plan: the marked snapshots are leftovers now.
    let second = keeper.sweep(&region, &SweepOptions::default().apply(true).now(now)).await.expect("sweep runs");
    assert_eq!(second.status, SweepStatus::Ok, "{:#?}", second.results);
    assert_eq!(second.summary.images_retired, IMAGES - 2 - deregistered.len());
    let leftovers = &second.plan.leftover_snapshots;
    assert_eq!(leftovers.len(), 2 * deregistered.len(), "{leftovers:#?}\n{:#?}", first.summary);
    assert!(second.plan.leftover_snapshots.iter().all(|l| l.delete));

    // The same end state as one sweep without a deadline.
    let (once, _) = world().await;
    let report = slow_keeper(&once).sweep(&region, &SweepOptions::default().apply(true).now(now)).await.unwrap();
    assert_eq!(report.status, SweepStatus::Ok, "{:#?}", report.results);
    assert_eq!(end_state(&aws, &template), end_state(&once, &template));
    let (images, snapshots, versions) = end_state(&aws, &template);
    assert_eq!(versions, vec![6], "only the default version is left");
    assert_eq!(images.iter().filter(|(_, state)| *state == ImageState::Available).count(), 2);
    assert_eq!(snapshots.len(), 4, "the two kept images' snapshots");
}

#[tokio::test(start_paused = true)]
async fn a_deadline_already_past_plans_but_starts_nothing() {
    let (aws, _) = world().await;
    let keeper = slow_keeper(&aws);
    aws.reset_calls();
    let options = SweepOptions::default().apply(true).now(aws.now()).deadline(Deadline::after(StdDuration::ZERO));
    let report = keeper.sweep(&Region::from(REGION), &options).await.expect("sweep runs");
    assert_eq!(report.status, SweepStatus::Partial);
    assert_eq!(report.summary.images_planned, IMAGES - 2, "the plan is whole");
    assert!(report.results.iter().all(|r| r.status == ItemStatus::NotStarted), "{:#?}", report.results);
    assert_eq!(report.summary.not_started, report.results.len());
    assert!(aws.images(REGION).iter().all(|i| i.state == ImageState::Available));
    // Only the inventory was read.
    let read = |call: &String| {
        ["Describe", "Get", "List"].iter().any(|verb| call.split(':').nth(1).unwrap().starts_with(verb))
    };
    assert!(aws.calls().iter().all(read), "{:?}", aws.calls());
}

#[tokio::test(start_paused = true)]
async fn an_invocation_passes_its_deadline_to_a_schedules_sweep() {
    let (aws, _) = world().await;
    let keeper = slow_keeper(&aws);
    let schedule = Origin::new(ACCOUNT, REGION, "nightly").scheduled("nightly");
    let payload = serde_json::to_vec(&schedule).unwrap();
    let started = Instant::now();
    let options = InvokeOptions::lambda(true).deadline(Deadline::lambda(StdDuration::from_millis(2500)));
    let invocation = keeper.invoke(&payload, &options).await.expect("invoked");
    assert!(started.elapsed() < StdDuration::from_secs(2), "{:?}", started.elapsed());
    let [RunReport::Sweep(report)] = invocation.runs.as_slice() else { panic!("{:#?}", invocation.runs) };
    assert_eq!(report.status, SweepStatus::Partial);
    assert!(invocation.failure().is_none(), "a partial sweep is not a failure");
}

#[tokio::test(start_paused = true)]
async fn the_wait_for_a_pending_ami_ends_before_the_deadline_and_defers() {
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    aws.set_pending_describes(u32::MAX);
    let pending = aws.add_image(REGION, ImageSeed::new("web-0").tag("ImageIdParameterName", "/ami/web").pending());
    let mut config = Config::from_toml(configs::PARAMETER_FROM_TAG_KEEP_ONE).unwrap();
    config.wait = amikeeper::config::WaitConfig { timeout_seconds: 600, poll_seconds: 5 };
    let keeper = Keeper::new(config, aws.clone());
    let event = Origin::new(ACCOUNT, REGION, "e1").backup_job(pending.as_str(), "i-0123456789abcdef0", "COMPLETED");

    let started = Instant::now();
    let deadline = Deadline::after(StdDuration::from_secs(22));
    let options = HandleOptions::default().deadline(deadline);
    let report = testing::handle_one(&keeper, &event, &options).await;
    let waited = started.elapsed();
    assert_eq!(report.status, RunStatus::Deferred, "{report:#?}");
    assert_eq!(report.targets[0].outcome.status, Status::Deferred);
    assert!(report.targets[0].outcome.reason.contains("State Change"), "{report:#?}");
    // It waited until the reserve for publishing was all that was left, not ten minutes.
    assert_eq!(waited, StdDuration::from_secs(22) - amikeeper::keeper::WAIT_RESERVE);
    assert!(aws.parameter(REGION, "/ami/web").is_none(), "nothing published");
}

/// With a deadline, an AMI whose snapshots cannot be marked is not deregistered: a sweep
/// stopped after it would leave snapshots no later sweep finds.
#[tokio::test(start_paused = true)]
async fn an_ami_whose_snapshots_cannot_be_marked_stays() {
    let (aws, _) = world().await;
    let slow = FaultyAws::new(aws.clone());
    slow.inject(Fault::on("ec2:CreateTags", FaultKind::AccessDenied).times(u32::MAX));
    let keeper = Keeper::new(config(), Arc::new(slow));
    let deadline = Deadline::after(StdDuration::from_secs(600));
    let options = SweepOptions::default().apply(true).now(aws.now()).deadline(deadline);
    let report = keeper.sweep(&Region::from(REGION), &options).await.expect("sweep runs");
    assert_eq!(report.status, SweepStatus::Failed);
    let images = report.results.iter().filter(|r| r.action == SweepAction::DeregisterImage);
    for item in images {
        assert_eq!(item.status, ItemStatus::Failed, "{item:?}");
        assert!(item.detail.as_deref().unwrap().contains("could not be marked"), "{item:?}");
    }
    assert!(aws.images(REGION).iter().all(|i| i.state == ImageState::Available));
    assert_eq!(aws.snapshots(REGION).len(), 2 * IMAGES, "no snapshot deleted");
}
