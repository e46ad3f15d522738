//! `Keeper::bake` on `MemoryAws`: baking a rule's builder instance on demand, waiting for the
//! AMI within the wait or deferring to its state-change event, dry runs, bad rule names, and
//! the instance refresh of the groups a bake moves.

use std::collections::BTreeSet;
use std::sync::Arc;

use amikeeper::backend::{AutoScalingApi, InstanceRefreshPreferences};
use amikeeper::config::WaitConfig;
use amikeeper::events::parse_payload;
use amikeeper::memory::ImageSeed;
use amikeeper::model::{ImageId, ImageState, LaunchTemplateSpec, Region, Tags, RULE_TAG};
use amikeeper::publish::Status;
use amikeeper::samples::Origin;
use amikeeper::{iam, BakeOptions, Config, Error, Keeper, MemoryAws, Report, RunStatus};
use serde_json::Value;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use amikeeper::testing::{configs, keeper, ACCOUNT, REGION};

const BUILDER: &str = "i-0b0b0b0b0b0b0b0b0";
/// The bake's time: its `{date}` is 2026-03-01.
const NIGHT: OffsetDateTime = datetime!(2026-03-01 02:00 UTC);

/// A bake rule with a launch template, a group that follows the AMI (refreshed once moved) and
/// a parameter, plus a rule without `bake`.
fn config() -> String {
    configs::NIGHTLY_BAKE.to_owned()
}

/// The account: the builder instance, template `web` (version 1 launches a base AMI), group
/// `web-asg` pinned to version 1, and `/ami/web` naming the base AMI. Returns the template id
/// and the base AMI.
fn account() -> (Arc<MemoryAws>, String, ImageId) {
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    aws.add_instance(REGION, Some(BUILDER), Tags::new());
    let base = aws.add_image(REGION, ImageSeed::new("web-base"));
    let template = aws.create_launch_template(REGION, "web", Some(base.clone()), Tags::new());
    aws.create_auto_scaling_group(REGION, "web-asg", spec(&template.id, "1"), Tags::new());
    aws.set_parameter(REGION, "/ami/web", base.as_str()).unwrap();
    (aws, template.id, base)
}

fn spec(id: &str, version: &str) -> LaunchTemplateSpec {
    LaunchTemplateSpec { id: id.into(), version: version.into() }
}

fn region() -> Region {
    Region::from(REGION)
}

fn at_night() -> BakeOptions {
    BakeOptions::default().now(NIGHT)
}

/// Bakes `nightly-bake` in `REGION`.
async fn bake(keeper: &Keeper, options: &BakeOptions) -> Report {
    keeper.bake("nightly-bake", &region(), options).await.unwrap()
}

/// Each target as `(kind, name, status)`.
fn outcomes(report: &Report) -> Vec<(&str, &str, Status)> {
    report.targets.iter().map(|t| (t.target.kind, t.target.name.as_str(), t.outcome.status)).collect()
}

/// The run ended with `status`, and its targets are `expected`, each as `(kind, name, status)`.
#[track_caller]
fn assert_run(report: &Report, status: RunStatus, expected: &[(&str, &str, Status)]) {
    assert_eq!(report.status, status, "{report:#?}");
    assert_eq!(outcomes(report), expected, "{report:#?}");
}

/// What the baked AMI moves (the rule's targets, then the group's refresh), each with `status`:
/// in the bake's own run, or in its state-change event's when the bake deferred.
fn moved(status: Status) -> [(&'static str, &'static str, Status); 4] {
    [
        ("launch_template", "web", status),
        ("auto_scaling_group", "web-asg", status),
        ("ssm_parameter", "/ami/web", status),
        ("instance_refresh", "web-asg", status),
    ]
}

/// Every target of a bake whose AMI is available at once: the `bake` entry, then what it moved.
fn every_target(status: Status) -> Vec<(&'static str, &'static str, Status)> {
    let mut targets = vec![("bake", BUILDER, status)];
    targets.extend(moved(status));
    targets
}

/// The AMI the bake made (the `bake` entry's `to`).
fn baked(report: &Report) -> ImageId {
    let bake = report.targets.iter().find(|t| t.target.kind == "bake").expect("a bake entry");
    ImageId::new(bake.outcome.to.clone().expect("the bake names its AMI"))
}

async fn handle(keeper: &Keeper, payload: Value) -> Report {
    let events = parse_payload(payload.to_string().as_bytes()).expect("payload parses");
    assert_eq!(events.len(), 1);
    keeper.handle(&events[0]).await
}

/// Every call `aws` recorded is allowed by the configuration's IAM policy for handling events.
fn assert_policy_covers(config: &str, aws: &MemoryAws) {
    let allowed = iam::handle_actions(&Config::from_toml(config).unwrap());
    let called: BTreeSet<String> = aws.calls().into_iter().collect();
    let missing: Vec<&String> = called.iter().filter(|op| !allowed.contains(op.as_str())).collect();
    assert!(missing.is_empty(), "calls the policy does not allow: {missing:?}");
}

#[tokio::test(start_paused = true)]
async fn an_ami_available_at_once_is_published_and_its_group_refreshed() {
    let (aws, template, base) = account();
    aws.set_pending_describes(0);
    let report = bake(&keeper(&config(), &aws), &at_night()).await;

    assert_run(&report, RunStatus::Ok, &every_target(Status::Updated));
    assert!(!report.dry_run);
    assert_eq!(report.event.kind, amikeeper::EventKind::Scheduled);
    assert_eq!((report.event.region.as_str(), report.event.account.as_str()), (REGION, ACCOUNT));
    assert!(report.event.event_id.starts_with("amikeeper-bake-nightly-bake-"), "{}", report.event.event_id);

    // The image: named from the template with the bake's date, the configured tags and the
    // rule's tag (so its state-change event finds the rule), available and newer than the base.
    let image_id = baked(&report);
    let image = aws.image(REGION, &image_id).unwrap();
    assert_eq!(image.name, "web-2026-03-01");
    assert_eq!(image.tags.get("Team").map(String::as_str), Some("web"));
    assert_eq!(image.tags.get(RULE_TAG).map(String::as_str), Some("nightly-bake"));
    assert_eq!(image.state, ImageState::Available);
    assert_eq!(report.image.as_ref().map(|i| i.id.as_str()), Some(image_id.as_str()));

    // Published through every target.
    let versions = aws.launch_template_versions(REGION, &template);
    assert_eq!((versions[0].number, versions[0].image_id.as_ref()), (2, Some(&image_id)));
    assert_eq!(aws.launch_template(REGION, &template).unwrap().default_version, 2);
    assert_eq!(aws.auto_scaling_group(REGION, "web-asg").unwrap().launch_template, Some(spec(&template, "2")));
    assert_eq!(aws.parameter(REGION, "/ami/web").unwrap().value, image_id.as_str());
    assert_ne!(image_id, base);

    // One refresh, with the configured preferences, of the group as the bake left it.
    let refreshes = aws.instance_refreshes(REGION, "web-asg");
    assert_eq!(refreshes.len(), 1, "{refreshes:?}");
    let expected = InstanceRefreshPreferences { min_healthy_percentage: Some(75), instance_warmup_seconds: Some(120) };
    assert_eq!(refreshes[0].preferences, expected);
    assert_eq!(refreshes[0].launch_template, Some(spec(&template, "2")));
    let refresh_entry = report.targets.last().unwrap();
    assert_eq!(refresh_entry.outcome.to.as_deref(), Some(refreshes[0].id.as_str()));

    // The refresh's calls (docs/AWS_CALLS.md): what the group launches before and after the
    // targets moved (2 reads each), and the start; the rest are seed 003's and the parameter's.
    let count = |op: &str| report.aws_calls_by_operation.get(op).copied().unwrap_or(0);
    assert_eq!(count("autoscaling:StartInstanceRefresh"), 1);
    assert_eq!(count("autoscaling:DescribeAutoScalingGroups"), 1 + 2);
    // One more read of the template's versions: the default read back after protecting.
    assert_eq!(count("ec2:DescribeLaunchTemplateVersions"), 2 + 2 + 1);
    assert_eq!(report.aws_calls, aws.calls().len());
    assert_policy_covers(&config(), &aws);
}

#[tokio::test(start_paused = true)]
async fn a_pending_ami_is_waited_for_within_the_wait() {
    let (aws, template, _) = account();
    // The new AMI says `pending` to its first describe and the first poll, `available` after.
    aws.set_pending_describes(2);
    let started = tokio::time::Instant::now();
    let report = bake(&keeper(&config(), &aws), &at_night()).await;
    let waited = started.elapsed();

    assert_eq!(report.status, RunStatus::Ok, "{report:#?}");
    let statuses: Vec<Status> = report.targets.iter().map(|t| t.outcome.status).collect();
    assert_eq!(statuses, [Status::Updated; 5], "{report:#?}");
    // Two polls, 5 seconds apart, well within the minute's wait.
    assert!(waited >= std::time::Duration::from_secs(10) && waited < std::time::Duration::from_secs(60), "{waited:?}");
    assert_eq!(report.image.as_ref().map(|i| i.state), Some(ImageState::Available));
    let image_id = baked(&report);
    assert_eq!(aws.launch_template_versions(REGION, &template)[0].image_id, Some(image_id));
    assert_eq!(aws.instance_refreshes(REGION, "web-asg").len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_pending_ami_past_the_wait_is_deferred_and_its_state_change_finishes_the_job() {
    let (aws, template, base) = account();
    aws.set_pending_describes(1_000);
    let keeper = keeper(&config(), &aws);
    let options = at_night().wait(WaitConfig { timeout_seconds: 10, poll_seconds: 5 });
    let started = tokio::time::Instant::now();
    let report = bake(&keeper, &options).await;

    assert_eq!(report.status, RunStatus::Deferred, "{report:#?}");
    assert!(started.elapsed() >= std::time::Duration::from_secs(10), "the override's wait was used");
    assert!(started.elapsed() < std::time::Duration::from_secs(60), "not the configuration's");
    assert_eq!(
        outcomes(&report),
        [
            ("bake", BUILDER, Status::Updated),
            ("launch_template", "web", Status::Deferred),
            ("auto_scaling_group", "web-asg", Status::Deferred),
            ("ssm_parameter", "/ami/web", Status::Deferred),
        ],
        "no refresh while nothing moved: {report:#?}"
    );
    assert!(report.targets[1].outcome.reason.contains("EC2 AMI State Change"), "{report:#?}");
    let image_id = baked(&report);
    assert_eq!(aws.launch_template(REGION, &template).unwrap().latest_version, 1);
    assert_eq!(aws.parameter(REGION, "/ami/web").unwrap().value, base.as_str());
    assert!(aws.instance_refreshes(REGION, "web-asg").is_empty());
    assert_eq!(aws.call_count("autoscaling:StartInstanceRefresh"), 0);

    // The AMI becomes available; its state-change event finds the rule by its tag and
    // publishes, and the group it moves is refreshed.
    aws.complete_pending_images();
    let origin = Origin::new(ACCOUNT, REGION, "bake-state-change");
    let finished = handle(&keeper, origin.image_state_change(image_id.as_str(), "available")).await;
    assert_run(&finished, RunStatus::Ok, &moved(Status::Updated));
    assert_eq!(aws.parameter(REGION, "/ami/web").unwrap().value, image_id.as_str());
    assert_eq!(aws.instance_refreshes(REGION, "web-asg").len(), 1);

    // The same event again moves nothing, so it starts no second refresh.
    aws.finish_instance_refreshes(REGION, "web-asg");
    let again = handle(&keeper, origin.image_state_change(image_id.as_str(), "available")).await;
    assert_run(&again, RunStatus::Ok, &moved(Status::Unchanged));
    assert!(again.targets[3].outcome.reason.contains("before this run"), "{again:#?}");
    assert_eq!(aws.instance_refreshes(REGION, "web-asg").len(), 1);
    assert_eq!(aws.call_count("autoscaling:StartInstanceRefresh"), 1);
}

#[tokio::test(start_paused = true)]
async fn a_dry_run_creates_and_writes_nothing() {
    let (aws, template, base) = account();
    let options = at_night().dry_run(true);
    let report = bake(&keeper(&config(), &aws), &options).await;

    assert!(report.dry_run);
    assert_run(
        &report,
        RunStatus::Ok,
        &[("bake", BUILDER, Status::Planned), ("instance_refresh", "web-asg", Status::Planned)],
    );
    assert!(report.targets[0].outcome.reason.contains("web-2026-03-01"), "{report:#?}");
    assert_eq!(report.aws_calls, 0);
    assert!(aws.calls().is_empty(), "{:?}", aws.calls());
    assert_eq!(aws.images(REGION).len(), 1, "only the base AMI");
    assert_eq!(aws.launch_template(REGION, &template).unwrap().latest_version, 1);
    assert_eq!(aws.parameter(REGION, "/ami/web").unwrap().value, base.as_str());
    assert!(aws.instance_refreshes(REGION, "web-asg").is_empty());
}

#[tokio::test]
async fn unknown_rules_rules_without_bake_and_unknown_accounts_are_refused_before_any_call() {
    let (aws, _, _) = account();
    let keeper = keeper(&config(), &aws);
    let message = |result: Result<Report, Error>| match result {
        Err(error @ Error::Config(_)) => {
            assert!(error.is_bad_input());
            error.to_string()
        }
        other => panic!("expected a configuration error, got {other:?}"),
    };

    let unknown = message(keeper.bake("nightly", &region(), &at_night()).await);
    assert!(unknown.contains("no rule is named `nightly`"), "{unknown}");
    assert!(unknown.contains("the rules with `bake` are: nightly-bake"), "{unknown}");

    let no_bake = message(keeper.bake("backups", &region(), &at_night()).await);
    assert!(no_bake.contains("rules[1].bake"), "{no_bake}");
    assert!(no_bake.contains("rule `backups` has no `bake`; the rules with `bake` are: nightly-bake"), "{no_bake}");

    let stranger = at_night().account("999999999999".to_string());
    let foreign = message(keeper.bake("nightly-bake", &region(), &stranger).await);
    assert!(foreign.contains("999999999999 is not one of the configuration's accounts"), "{foreign}");

    let two_accounts = config().replace(&format!("[\"{ACCOUNT}\"]"), &format!("[\"{ACCOUNT}\", \"444455556666\"]"));
    let which = message(
        Keeper::new(Config::from_toml(&two_accounts).unwrap(), aws.clone())
            .bake("nightly-bake", &region(), &at_night())
            .await,
    );
    assert!(which.contains("say which one the bake runs in"), "{which}");
    assert!(aws.calls().is_empty(), "{:?}", aws.calls());

    // Naming one of them works, and `{account}` is that account.
    let named = two_accounts.replace("web-{date}", "web-{account}-{date}");
    let options = at_night().account("444455556666".to_string()).dry_run(true);
    let report = bake(&Keeper::new(Config::from_toml(&named).unwrap(), aws.clone()), &options).await;
    assert_eq!(report.event.account, "444455556666");
    assert!(report.targets[0].outcome.reason.contains("web-444455556666-2026-03-01"), "{report:#?}");
}

/// Three groups with `instance_refresh`, on the same template: one that follows the AMI, one
/// on `$Latest` (its setting does not change, what it launches does) and one pinned to version
/// 1 (it does not move).
fn three_groups_config() -> String {
    config().replace(
        "[[rules.targets]]\nkind = \"ssm_parameter\"\nname = \"/ami/web\"",
        r#"[[rules.targets]]
kind = "auto_scaling_group"
name = "web-latest"
version = "$Latest"
instance_refresh = true
[[rules.targets]]
kind = "auto_scaling_group"
name = "web-pinned"
version = "1"
instance_refresh = true"#,
    )
}

#[tokio::test(start_paused = true)]
async fn only_groups_the_bake_moved_are_refreshed_and_one_in_progress_is_skipped() {
    let (aws, template, base) = account();
    aws.set_pending_describes(0);
    aws.create_auto_scaling_group(REGION, "web-latest", spec(&template, "$Latest"), Tags::new());
    aws.create_auto_scaling_group(REGION, "web-pinned", spec(&template, "1"), Tags::new());
    let config = three_groups_config();
    let keeper = keeper(&config, &aws);

    let first = bake(&keeper, &at_night()).await;
    assert_run(
        &first,
        RunStatus::Ok,
        &[
            ("bake", BUILDER, Status::Updated),
            ("launch_template", "web", Status::Updated),
            ("auto_scaling_group", "web-asg", Status::Updated),
            ("auto_scaling_group", "web-latest", Status::Unchanged),
            ("auto_scaling_group", "web-pinned", Status::Unchanged),
            ("instance_refresh", "web-asg", Status::Updated),
            ("instance_refresh", "web-latest", Status::Updated),
            ("instance_refresh", "web-pinned", Status::Unchanged),
        ],
    );
    let pinned = &first.targets[7].outcome.reason;
    assert!(pinned.contains(&format!("web-pinned launches {base}")), "{pinned}");
    assert_eq!(aws.instance_refreshes(REGION, "web-asg").len(), 1);
    assert_eq!(aws.instance_refreshes(REGION, "web-latest").len(), 1);
    assert!(aws.instance_refreshes(REGION, "web-pinned").is_empty());
    assert_eq!(aws.instance_refreshes(REGION, "web-latest")[0].preferences, InstanceRefreshPreferences::default());

    // The next night: web-latest's refresh has ended, web-asg's is still running.
    aws.finish_instance_refreshes(REGION, "web-latest");
    let next_night = BakeOptions::default().now(NIGHT + Duration::days(1));
    let second = bake(&keeper, &next_night).await;
    assert_eq!(second.status, RunStatus::Ok, "a refresh in progress is skipped, not failed: {second:#?}");
    let refreshes: Vec<(&str, &str, Status)> =
        outcomes(&second).into_iter().filter(|(kind, _, _)| *kind == "instance_refresh").collect();
    assert_eq!(
        refreshes,
        [
            ("instance_refresh", "web-asg", Status::Skipped),
            ("instance_refresh", "web-latest", Status::Updated),
            ("instance_refresh", "web-pinned", Status::Unchanged),
        ],
        "{second:#?}"
    );
    let skipped = &second.targets.iter().find(|t| t.target.kind == "instance_refresh").unwrap().outcome.reason;
    assert!(skipped.contains("already in progress"), "{skipped}");
    assert_eq!(aws.instance_refreshes(REGION, "web-asg").len(), 1);
    assert_eq!(aws.instance_refreshes(REGION, "web-latest").len(), 2);
    assert_eq!(aws.auto_scaling_group(REGION, "web-asg").unwrap().launch_template, Some(spec(&template, "3")));
    assert_eq!(aws.call_count("autoscaling:StartInstanceRefresh"), 4);
    assert_policy_covers(&config, &aws);
}

#[tokio::test(start_paused = true)]
async fn the_schedule_runs_the_same_bake() {
    let (aws, template, _) = account();
    aws.set_pending_describes(0);
    let keeper = keeper(&config(), &aws);
    let origin = Origin::new(ACCOUNT, REGION, "bake-schedule");
    let report = handle(&keeper, origin.scheduled("nightly-ami")).await;

    assert_eq!(report.status, RunStatus::Ok, "{report:#?}");
    let kinds: Vec<&str> = report.targets.iter().map(|t| t.target.kind).collect();
    assert_eq!(kinds, ["bake", "launch_template", "auto_scaling_group", "ssm_parameter", "instance_refresh"]);
    let image_id = baked(&report);
    assert_eq!(aws.launch_template_versions(REGION, &template)[0].image_id, Some(image_id));
    assert_eq!(aws.instance_refreshes(REGION, "web-asg").len(), 1);

    // The group has a refresh in progress: starting one by hand is refused, as Auto Scaling does.
    let busy = aws.start_instance_refresh(&region(), "web-asg", &InstanceRefreshPreferences::default()).await;
    assert_eq!(busy.unwrap_err().code, "InstanceRefreshInProgress");
}

#[tokio::test(start_paused = true)]
async fn a_failed_refresh_fails_the_run_and_says_why() {
    let (aws, _, _) = account();
    aws.set_pending_describes(0);
    aws.inject(amikeeper::memory::Fault::on(
        "autoscaling:StartInstanceRefresh",
        amikeeper::memory::FaultKind::ServerError,
    ));
    let report = bake(&keeper(&config(), &aws), &at_night()).await;
    assert_eq!(report.status, RunStatus::Failed, "{report:#?}");
    let refresh = report.targets.last().unwrap();
    assert_eq!((refresh.target.kind, refresh.outcome.status), ("instance_refresh", Status::Failed));
    let error = refresh.error.as_ref().expect("the AWS error is kept");
    assert_eq!((error.service.as_str(), error.operation.as_str()), ("autoscaling", "StartInstanceRefresh"));
    // The pointers moved all the same.
    let moved: Vec<Status> = report.targets[1..4].iter().map(|t| t.outcome.status).collect();
    assert_eq!(moved, [Status::Updated; 3]);
}
