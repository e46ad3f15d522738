//! The seed scenarios that handle events (000 to 003) and the refusals.

use std::collections::BTreeMap;

use super::{run, run_config, run_with, seed, statuses, Fixture, ImageSpec, DR_REGION, MAIN_REGION};
use crate::config::WaitConfig;
use crate::model::{ImageId, LaunchTemplateSpec};
use crate::publish::Status;
use crate::report::{Report, RunStatus};
use crate::samples::{configs, Origin};
use crate::Config;

/// Seed 000: an AWS Backup AMI goes to a parameter named after the instance at version 1, in
/// the main region from `CreateImage` and in the DR region from `CopyImage`.
pub async fn seed_000_backup_to_fixed_version_parameter(f: &dyn Fixture) {
    let config = seed(f, configs::SEED_000_BACKUP_TO_PARAMETER);
    let instance = f.instance(MAIN_REGION).await;
    let old = f.image(MAIN_REGION, ImageSpec::named(format!("AWSBackup_{instance}_1"))).await;
    f.set_parameter(MAIN_REGION, &instance, old.as_str()).await;
    let name = format!("AWSBackup_{instance}_2");
    let new = f.image(MAIN_REGION, ImageSpec::named(&name)).await;
    let main = Origin::new(&f.account(), MAIN_REGION, "c000-main");
    let report = run(f, &config, main.create_image(new.as_str(), &instance, &name, "AWS Backup")).await;
    assert_eq!(statuses(&report), [Status::Updated], "{report:#?}");
    assert_eq!(f.parameter(MAIN_REGION, &instance).await, Some((new.to_string(), 1)));
    // DescribeImages, GetParameter, DescribeImages (current), DeleteParameter, PutParameter,
    // GetParameter (read back: no other run replaced it); then EnableImageDeregistrationProtection
    // and CreateTags (amikeeper:protected), GetParameter (the pointer still names it), and
    // DescribeImages (the AMI it left, afresh, to release its protection).
    assert_calls(&report, 10);
    assert_eq!(report.protection, Some(format!("{new} is now protected from deregistration")));
    assert!(f.own_image_protected(MAIN_REGION, &new).await, "the published AMI is protected");

    let copy = f.image(DR_REGION, ImageSpec::named(&name)).await;
    let dr = Origin::new(&f.account(), DR_REGION, "c000-dr");
    let report = run(f, &config, dr.copy_image(copy.as_str(), new.as_str(), MAIN_REGION, &name)).await;
    assert_eq!(statuses(&report), [Status::Updated], "{report:#?}");
    assert_eq!(f.parameter(DR_REGION, &instance).await, Some((copy.to_string(), 1)));
    // DescribeImages, GetParameter (not there yet), PutParameter, GetParameter (read back),
    // protection (2), and GetParameter (the pointer still names it).
    assert_calls(&report, 7);
    assert_eq!(f.parameter(MAIN_REGION, &instance).await, Some((new.to_string(), 1)), "main region untouched");
}

/// Seed 001 (1): a completed backup job overwrites the parameter its AMI's tag names; the
/// same event again changes nothing; an older AMI's late event never moves it back.
pub async fn seed_001_parameter_from_tag(f: &dyn Fixture) {
    let config = seed(f, configs::SEED_001_PARAMETER_AND_STACK_FROM_TAGS);
    let older = f.image(MAIN_REGION, ImageSpec::named("c001-older").tag("ImageIdParameterName", "/ami/web")).await;
    let old = f.image(MAIN_REGION, ImageSpec::named("c001-old")).await;
    f.set_parameter(MAIN_REGION, "/ami/web", old.as_str()).await;
    let new = f.image(MAIN_REGION, ImageSpec::named("c001-new").tag("ImageIdParameterName", "/ami/web")).await;
    let origin = Origin::new(&f.account(), MAIN_REGION, "c001-param");
    let event = origin.backup_job(new.as_str(), "i-0123456789abcdef0", "COMPLETED");
    let report = run(f, &config, event.clone()).await;
    assert_eq!(statuses(&report), [Status::Updated], "{report:#?}");
    assert_eq!(f.parameter(MAIN_REGION, "/ami/web").await, Some((new.to_string(), 2)));
    // DescribeImages, GetParameter, DescribeImages (current), PutParameter, protection (2),
    // GetParameter (the pointer still names it), DescribeImages (the AMI it left, afresh).
    assert_calls(&report, 8);

    run_again_unchanged(f, &config, event).await;
    let late = Origin::new(&f.account(), MAIN_REGION, "c001-late");
    let report = run(f, &config, late.backup_job(older.as_str(), "i-0123456789abcdef0", "COMPLETED")).await;
    assert_eq!(statuses(&report), [Status::Skipped], "{report:#?}");
    assert_eq!(f.parameter(MAIN_REGION, "/ami/web").await, Some((new.to_string(), 2)));
}

/// Seed 001 (2): a completed backup job updates the stack its AMI's tag names, keeping every
/// other parameter.
pub async fn seed_001_stack_from_tag(f: &dyn Fixture) {
    let config = seed(f, configs::SEED_001_PARAMETER_AND_STACK_FROM_TAGS);
    let old = f.image(MAIN_REGION, ImageSpec::named("c001-stack-old")).await;
    let parameters =
        BTreeMap::from([("ImageId".to_owned(), old.to_string()), ("InstanceType".to_owned(), "t3.small".to_owned())]);
    f.stack(MAIN_REGION, "solution2", parameters).await;
    let new = f.image(MAIN_REGION, ImageSpec::named("c001-stack-new").tag("StackName", "solution2")).await;
    let origin = Origin::new(&f.account(), MAIN_REGION, "c001-stack");
    let event = origin.backup_job(new.as_str(), "i-0123456789abcdef0", "COMPLETED");
    let report = run(f, &config, event.clone()).await;
    assert_eq!(statuses(&report), [Status::Updated], "{report:#?}");
    let parameters = f.stack_parameters(MAIN_REGION, "solution2").await;
    assert_eq!(parameters.get("ImageId").map(String::as_str), Some(new.as_str()));
    assert_eq!(parameters.get("InstanceType").map(String::as_str), Some("t3.small"));
    // DescribeImages, DescribeStacks, DescribeImages (current), UpdateStack, protection (2), and
    // DescribeImages (the AMI it left, afresh).
    assert_calls(&report, 7);
    run_again_unchanged(f, &config, event).await;
}

/// Seed 002 (1): `CreateAutoScalingGroup` sets the group to `$Latest`.
pub async fn seed_002_asg_created_to_latest(f: &dyn Fixture) {
    let config = seed(f, configs::SEED_002_ASG_TO_LATEST);
    let image = f.image(MAIN_REGION, ImageSpec::named("c002-base")).await;
    let template = f.launch_template(MAIN_REGION, "app", &image).await;
    let pinned = LaunchTemplateSpec { id: template.clone(), version: "1".into() };
    f.auto_scaling_group(MAIN_REGION, "app-asg", pinned).await;
    let origin = Origin::new(&f.account(), MAIN_REGION, "c002-asg");
    let event = origin.create_auto_scaling_group("app-asg", &template, "1");
    let report = run(f, &config, event.clone()).await;
    assert_eq!(statuses(&report), [Status::Updated], "{report:#?}");
    let spec = f.group_template(MAIN_REGION, "app-asg").await.expect("group has a launch template");
    assert_eq!((spec.id.as_str(), spec.version.as_str()), (template.as_str(), "$Latest"));
    // DescribeAutoScalingGroups, UpdateAutoScalingGroup.
    assert_calls(&report, 2);
    run_again_unchanged(f, &config, event).await;
}

/// Seed 002 (2): a DLM image (`EC2_BACKUP` in its description) becomes a new default version
/// of the launch template whose id an SSM parameter holds; a duplicate event makes no second
/// version; a dry run writes nothing.
pub async fn seed_002_dlm_to_launch_template(f: &dyn Fixture) {
    let config = seed(f, configs::SEED_002_DLM_TO_LAUNCH_TEMPLATE);
    let base = f.image(MAIN_REGION, ImageSpec::named("c002-dlm-base")).await;
    let template = f.launch_template(MAIN_REGION, "c002-dlm", &base).await;
    f.set_parameter(MAIN_REGION, "/app/launch-template-id", &template).await;
    let description = "Created for policy: policy-0abc schedule: daily EC2_BACKUP";
    let image = f.image(MAIN_REGION, ImageSpec::named("c002-dlm-1").description(description)).await;
    let origin = Origin::new(&f.account(), MAIN_REGION, "c002-dlm");
    let event = origin.create_image(image.as_str(), "i-0123456789abcdef0", "c002-dlm-1", description);

    let report = run_with(f, &config, event.clone(), true).await;
    assert_eq!(statuses(&report), [Status::Planned], "{report:#?}");
    assert_eq!(f.template_state(MAIN_REGION, &template).await.latest_version, 1, "a dry run writes nothing");

    let report = run(f, &config, event.clone()).await;
    assert_eq!(statuses(&report), [Status::Updated], "{report:#?}");
    let state = f.template_state(MAIN_REGION, &template).await;
    assert_eq!((state.default_version, state.latest_version), (2, 2), "{state:?}");
    assert_eq!(state.versions.first(), Some(&(2, Some(image.clone()))));
    // DescribeImages, GetParameter, DescribeLaunchTemplates, DescribeLaunchTemplateVersions,
    // DescribeImages (current), CreateLaunchTemplateVersion, ModifyLaunchTemplate,
    // protection (EnableImageDeregistrationProtection, CreateTags), the default read back
    // (GetParameter, DescribeLaunchTemplates, DescribeLaunchTemplateVersions), and
    // DescribeImages (the AMI it left, afresh).
    assert_calls(&report, 13);
    run_again_unchanged(f, &config, event).await;
    assert_eq!(f.template_state(MAIN_REGION, &template).await.latest_version, 2);

    // Three more days of DLM images: `keep_versions = 3` prunes the oldest versions.
    for day in 2..=4 {
        let name = format!("c002-dlm-{day}");
        let image = f.image(MAIN_REGION, ImageSpec::named(&name).description(description)).await;
        let origin = Origin::new(&f.account(), MAIN_REGION, &name);
        let report =
            run(f, &config, origin.create_image(image.as_str(), "i-0123456789abcdef0", &name, description)).await;
        assert_eq!(statuses(&report), [Status::Updated], "{report:#?}");
    }
    let state = f.template_state(MAIN_REGION, &template).await;
    let numbers: Vec<i64> = state.versions.iter().map(|(number, _)| *number).collect();
    assert_eq!((state.default_version, numbers), (5, vec![5, 4, 3]), "{state:?}");
}

/// Seed 003: a schedule bakes the builder instance, waits until the AMI is available, then
/// moves the launch template and the group that pins a version number.
pub async fn seed_003_scheduled_bake(f: &dyn Fixture) {
    let instance = f.instance(MAIN_REGION).await;
    // The seed configuration with this backend's builder instance, waiting up to 120 s for the
    // image and polling every second (the configuration itself defers a pending image to its
    // `EC2 AMI State Change` event).
    let text = seed(f, configs::SEED_003_NIGHTLY_BAKE).replace(configs::SEED_003_BUILDER, &instance);
    let mut config = Config::from_toml(&text).expect("scenario configuration is valid");
    config.wait = WaitConfig { timeout_seconds: 120, poll_seconds: 1 };
    let base = f.image(MAIN_REGION, ImageSpec::named("c003-base")).await;
    let template = f.launch_template(MAIN_REGION, "web", &base).await;
    f.auto_scaling_group(MAIN_REGION, "web-asg", LaunchTemplateSpec { id: template.clone(), version: "1".into() })
        .await;
    let origin = Origin::new(&f.account(), MAIN_REGION, "c003-schedule");
    let report = run_config(f, config, origin.scheduled("nightly-ami"), false).await;
    assert_eq!(statuses(&report), [Status::Updated, Status::Updated, Status::Updated], "{report:#?}");
    let baked = ImageId::new(report.targets[0].outcome.to.clone().expect("the bake names its image"));
    let state = f.template_state(MAIN_REGION, &template).await;
    assert_eq!(state.versions.first(), Some(&(2, Some(baked))), "{state:?}");
    let spec = f.group_template(MAIN_REGION, "web-asg").await.expect("group has a launch template");
    assert_eq!(spec.version, "2");
    // Every call but the polls of the pending AMI, whose number depends on the backend.
    let writes: Vec<(&str, usize)> = report
        .aws_calls_by_operation
        .iter()
        .filter(|(op, _)| op.as_str() != "ec2:DescribeImages")
        .map(|(op, n)| (op.as_str(), *n))
        .collect();
    assert_eq!(
        writes,
        [
            ("autoscaling:DescribeAutoScalingGroups", 1),
            ("autoscaling:UpdateAutoScalingGroup", 1),
            ("ec2:CreateImage", 1),
            ("ec2:CreateLaunchTemplateVersion", 1),
            ("ec2:CreateTags", 1),
            // One of each reads the default back after protecting: it still names the AMI.
            ("ec2:DescribeLaunchTemplateVersions", 3),
            ("ec2:DescribeLaunchTemplates", 2),
            ("ec2:EnableImageDeregistrationProtection", 1),
            ("ec2:ModifyLaunchTemplate", 1),
        ]
    );
}

/// Safety: events from another account and tags naming parameters outside the allow-list
/// are refused, and nothing is written.
pub async fn refusals_write_nothing(f: &dyn Fixture) {
    let config = seed(f, configs::SEED_001_PARAMETER_AND_STACK_FROM_TAGS);
    let hostile =
        f.image(MAIN_REGION, ImageSpec::named("c-hostile").tag("ImageIdParameterName", "/prod/db/password")).await;
    let origin = Origin::new(&f.account(), MAIN_REGION, "c-hostile");
    let report = run(f, &config, origin.backup_job(hostile.as_str(), "i-0123456789abcdef0", "COMPLETED")).await;
    assert_eq!(statuses(&report), [Status::Refused], "{report:#?}");
    assert_eq!(report.aws_calls, 1, "only the DescribeImages that read the tag");
    assert_eq!(f.parameter(MAIN_REGION, "/prod/db/password").await, None);

    let foreign = Origin::new("999999999999", MAIN_REGION, "c-foreign");
    let report = run(f, &config, foreign.backup_job(hostile.as_str(), "i-0123456789abcdef0", "COMPLETED")).await;
    assert_eq!((report.status, report.aws_calls), (RunStatus::Refused, 0), "{report:#?}");
}

/// Asserts that the run made `calls` AWS calls; when it did not, says which it made.
#[track_caller]
fn assert_calls(report: &Report, calls: usize) {
    assert_eq!(report.aws_calls, calls, "{:?}", report.aws_calls_by_operation);
}

/// Handles `event` again (EventBridge may deliver an event twice): nothing changes.
async fn run_again_unchanged(f: &dyn Fixture, config: &str, event: serde_json::Value) {
    let report = run(f, config, event).await;
    assert_eq!(statuses(&report), [Status::Unchanged], "{report:#?}");
}
