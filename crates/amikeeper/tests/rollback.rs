//! Rollback on `MemoryAws`: each kind of pointer goes back to the AMI it named before (or to
//! the one given), a rollback to an AMI that cannot launch is refused with nothing written,
//! and the report always says the monotonic rule was set aside.

use std::collections::BTreeMap;
use std::sync::Arc;

use amikeeper::memory::ImageSeed;
use amikeeper::model::{CreateLaunchTemplateVersion, ImageId, ImageState, LaunchTemplateSpec, Region, Tags};
use amikeeper::publish::Status;
use amikeeper::rollback::RollbackStatus;
use amikeeper::rollback::{RollbackOptions, RollbackReport, RollbackTarget};
use amikeeper::testing::{self, configs, ACCOUNT, REGION};
use amikeeper::{Keeper, MemoryAws};

fn keeper(aws: &Arc<MemoryAws>) -> Keeper {
    testing::keeper(configs::WEB_STACK, aws)
}

fn images(aws: &MemoryAws, n: usize) -> Vec<ImageId> {
    (0..n).map(|i| aws.add_image(REGION, ImageSeed::new(format!("web-{i}")))).collect()
}

async fn rollback(keeper: &Keeper, targets: &[&str], to: Option<&ImageId>, dry_run: bool) -> RollbackReport {
    let targets: Vec<RollbackTarget> = targets.iter().map(|t| t.parse().unwrap()).collect();
    let options = RollbackOptions::default().to(to.cloned()).dry_run(dry_run);
    keeper.rollback(&Region::from(REGION), &targets, &options).await
}

fn statuses(report: &RollbackReport) -> Vec<Status> {
    report.targets.iter().map(|t| t.outcome.status).collect()
}

/// Every kind of pointer moved from `old` to `new`: `/ami/web` (version 1 names `old`, 2 `new`),
/// template `web` (version 1 launches `old`, version 2 `new` and is the default) and group
/// `web-asg` on the template's `group_version`. Returns the template's id.
async fn moved(aws: &MemoryAws, old: &ImageId, new: &ImageId, group_version: &str) -> String {
    use amikeeper::backend::Ec2Api;
    aws.set_parameter(REGION, "/ami/web", old.as_str()).unwrap();
    aws.set_parameter(REGION, "/ami/web", new.as_str()).unwrap();
    let template = aws.create_launch_template(REGION, "web", Some(old.clone()), Tags::new());
    let region = Region::from(REGION);
    let request = CreateLaunchTemplateVersion::new(&template.id, 1, new, "");
    let v2 = aws.create_launch_template_version(&region, &request).await.unwrap();
    aws.set_default_launch_template_version(&region, &template.id, v2).await.unwrap();
    let spec = LaunchTemplateSpec { id: template.id.clone(), version: group_version.into() };
    aws.create_auto_scaling_group(REGION, "web-asg", spec, Tags::new());
    template.id
}

#[tokio::test]
async fn every_kind_of_pointer_goes_back_to_what_it_named_before() {
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let [old, new] = images(&aws, 2).try_into().unwrap();
    let template = moved(&aws, &old, &new, "2").await;
    let keeper = keeper(&aws);
    let targets = ["ssm_parameter:/ami/web", "launch_template:web", "auto_scaling_group:web-asg"];

    let planned = rollback(&keeper, &targets, None, true).await;
    assert_eq!(planned.status, RollbackStatus::Ok, "{planned:#?}");
    assert_eq!(statuses(&planned), [Status::Planned; 3]);
    assert!(planned.notice.contains("never moves to an older AMI"));
    assert_eq!(aws.parameter(REGION, "/ami/web").unwrap().value, new.as_str(), "a dry run writes nothing");

    let done = rollback(&keeper, &targets, None, false).await;
    assert_eq!(done.status, RollbackStatus::Ok, "{done:#?}");
    assert_eq!(statuses(&done), [Status::Updated; 3]);
    let parameter = aws.parameter(REGION, "/ami/web").unwrap();
    assert_eq!((parameter.value.as_str(), parameter.version), (old.as_str(), 3));
    assert_eq!(aws.launch_template(REGION, &template).unwrap().default_version, 1);
    assert_eq!(aws.auto_scaling_group(REGION, "web-asg").unwrap().launch_template.unwrap().version, "1");
    assert_eq!(done.targets[0].outcome.from.as_deref(), Some(new.as_str()));
    assert_eq!(done.targets[0].outcome.to.as_deref(), Some(old.as_str()));
}

#[tokio::test]
async fn an_ami_that_cannot_launch_is_refused_and_nothing_is_written() {
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let [gone, disabled, current] = images(&aws, 3).try_into().unwrap();
    aws.set_parameter(REGION, "/ami/a", gone.as_str()).unwrap();
    aws.set_parameter(REGION, "/ami/a", current.as_str()).unwrap();
    aws.set_parameter(REGION, "/ami/b", disabled.as_str()).unwrap();
    aws.set_parameter(REGION, "/ami/b", current.as_str()).unwrap();
    aws.set_image_state(REGION, &gone, ImageState::Deregistered);
    aws.set_image_state(REGION, &disabled, ImageState::Disabled);
    let keeper = keeper(&aws);
    aws.reset_calls();

    let report = rollback(&keeper, &["ssm_parameter:/ami/a", "ssm_parameter:/ami/b"], None, false).await;
    assert_eq!(report.status, RollbackStatus::Refused);
    assert_eq!(statuses(&report), [Status::Refused, Status::Refused]);
    assert!(report.targets[0].outcome.reason.contains("does not exist"), "{report:#?}");
    assert!(report.targets[1].outcome.reason.contains("disabled"), "{report:#?}");
    assert_eq!(aws.call_count("ssm:PutParameter"), 0);

    // One bad target stops the good one too.
    let report = rollback(&keeper, &["ssm_parameter:/ami/b", "ssm_parameter:/ami/a"], Some(&current), false).await;
    assert_eq!(report.status, RollbackStatus::Refused, "{report:#?}");
    assert!(aws.calls().iter().all(|c| !c.contains("Put")), "{:?}", aws.calls());
    assert_eq!(aws.parameter(REGION, "/ami/b").unwrap().version, 2);
}

#[tokio::test]
async fn to_rolls_to_a_given_ami_and_stacks_need_it() {
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let [first, second, third] = images(&aws, 3).try_into().unwrap();
    let template = aws.create_launch_template(REGION, "web", Some(third.clone()), Tags::new());
    aws.create_stack(
        REGION,
        "web",
        BTreeMap::from([("ImageId".to_owned(), third.to_string()), ("Size".to_owned(), "2".to_owned())]),
    );
    let keeper = keeper(&aws);

    let refused = rollback(&keeper, &["stack_parameter:web"], None, false).await;
    assert_eq!(refused.status, RollbackStatus::Refused);
    assert!(refused.targets[0].outcome.reason.contains("pass --to"), "{refused:#?}");

    let done = rollback(&keeper, &["stack_parameter:web/ImageId", "launch_template:web"], Some(&first), false).await;
    assert_eq!(done.status, RollbackStatus::Ok, "{done:#?}");
    assert_eq!(aws.stack(REGION, "web").unwrap().parameters["ImageId"], first.as_str());
    assert_eq!(aws.stack(REGION, "web").unwrap().parameters["Size"], "2", "other parameters keep their values");
    // No version launched `first`: a new one was made from the default and became the default.
    let state = aws.launch_template(REGION, &template.id).unwrap();
    assert_eq!((state.default_version, state.latest_version), (2, 2));
    assert_eq!(aws.launch_template_versions(REGION, &template.id)[0].image_id.as_ref(), Some(&first));
    let _ = second;
}

#[test]
fn targets_parse_and_bad_ones_say_what_is_expected() {
    use amikeeper::kinds::stack_parameter::StackPointer;
    let parse = |t: &str| t.parse::<RollbackTarget>();
    assert_eq!(parse("ssm_parameter:/ami/web"), Ok(RollbackTarget::SsmParameter("/ami/web".into())));
    assert_eq!(
        parse("stack_parameter:app"),
        Ok(RollbackTarget::StackParameter(StackPointer { stack: "app".into(), parameter: "ImageId".into() }))
    );
    assert_eq!(parse("launch_template:lt-0123").unwrap().to_string(), "launch_template:lt-0123");
    for bad in ["web", "ssm_parameter:", "queue:x", "stack_parameter:/x"] {
        let error = parse(bad).unwrap_err().to_string();
        assert!(error.contains("ssm_parameter:NAME"), "{bad}: {error}");
    }
}

/// Issue 15, finding 3: a rollback releases amikeeper's protection on the AMI every rolled-back
/// pointer left, whatever the kind of target. An Auto Scaling group's pointer is a launch
/// template version, but the release compares the AMI it launches after the rollback.
#[tokio::test]
async fn the_bad_ami_is_released_when_a_group_is_among_the_targets() {
    use amikeeper::backend::Ec2Api;
    use amikeeper::model::PROTECTED_TAG;
    for with_group in [false, true] {
        let aws = Arc::new(MemoryAws::new(ACCOUNT));
        let [good, bad] = images(&aws, 2).try_into().unwrap();
        let region = Region::from(REGION);
        moved(&aws, &good, &bad, "$Latest").await;
        // The bad AMI was published by amikeeper, which protected it.
        aws.set_deregistration_protection(&region, &bad, true).await.unwrap();
        let claim: Tags = [(PROTECTED_TAG.to_owned(), "true".to_owned())].into();
        aws.create_tags(&region, std::slice::from_ref(&bad.to_string()), &claim).await.unwrap();
        let keeper = keeper(&aws);

        let mut targets = vec!["ssm_parameter:/ami/web", "launch_template:web"];
        if with_group {
            targets.push("auto_scaling_group:web-asg");
        }
        let done = rollback(&keeper, &targets, None, false).await;
        assert_eq!(done.status, RollbackStatus::Ok, "{done:#?}");
        assert!(statuses(&done).iter().all(|s| *s == Status::Updated), "{done:#?}");
        if with_group {
            assert_eq!(aws.auto_scaling_group(REGION, "web-asg").unwrap().launch_template.unwrap().version, "1");
        }
        let after = aws.image(REGION, &bad).unwrap();
        assert!(!after.deregistration_protected, "with group: {with_group}: {:#?}", done.protection);
        assert!(
            done.protection.iter().any(|p| p.starts_with(&format!("released {bad}'s deregistration protection"))),
            "with group: {with_group}: {:#?}",
            done.protection
        );
    }
}

/// Finding 4 of issue 15: a fixed-version parameter (`{{resolve:ssm:NAME:1}}`, seed 000) can be
/// rolled back with `--to`. Handling the older AMI's event again, the old advice, changes nothing
/// (the monotonic guard skips it). The rollback re-creates the parameter at version 1 with the
/// same guarantee as publishing: when the put fails, the previous value is put back.
#[tokio::test(start_paused = true)]
async fn a_fixed_version_parameter_rolls_back_at_version_one_and_is_never_left_missing() {
    use amikeeper::memory::{Fault, FaultKind};
    use amikeeper::samples::Origin;
    use amikeeper::HandleOptions;
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let [good, bad] = images(&aws, 2).try_into().unwrap();
    aws.set_parameter(REGION, "/ami/fixed", good.as_str()).unwrap();
    let keeper = testing::keeper(configs::WEB_FIXED_PARAMETER, &aws);
    let origin = Origin::new(ACCOUNT, REGION, "fixed");
    let handle = |image: &ImageId| {
        let event = origin.image_state_change(image.as_str(), "available").to_string();
        let keeper = &keeper;
        async move { keeper.handle_payload(event.as_bytes(), &HandleOptions::default()).await.unwrap().remove(0) }
    };
    let published = handle(&bad).await;
    assert_eq!(published.targets[0].outcome.status, Status::Updated, "{published:#?}");
    let at = |aws: &MemoryAws| aws.parameter(REGION, "/ami/fixed").map(|p| (p.value, p.version));
    assert_eq!(at(&aws), Some((bad.to_string(), 1)));
    assert!(aws.image(REGION, &bad).unwrap().deregistration_protected);
    // The older AMI's event again is skipped: that is no rollback.
    let again = handle(&good).await;
    assert_eq!(again.targets[0].outcome.status, Status::Skipped, "{again:#?}");

    // Without --to there is nothing to go back to: SSM keeps no history of a re-created parameter.
    let refused = rollback(&keeper, &["ssm_parameter:/ami/fixed"], None, false).await;
    assert_eq!(refused.status, RollbackStatus::Refused, "{refused:#?}");
    assert!(refused.targets[0].outcome.reason.contains("--to"), "{refused:#?}");

    // The put of the older AMI fails: the bad AMI's value is put back, at version 1.
    aws.inject(Fault::on("ssm:PutParameter", FaultKind::ServerError));
    let failed = rollback(&keeper, &["ssm_parameter:/ami/fixed"], Some(&good), false).await;
    assert_eq!((failed.status, statuses(&failed)), (RollbackStatus::Failed, vec![Status::Failed]), "{failed:#?}");
    assert!(failed.targets[0].outcome.reason.contains("not missing"), "{failed:#?}");
    assert_eq!(at(&aws), Some((bad.to_string(), 1)));

    let planned = rollback(&keeper, &["ssm_parameter:/ami/fixed"], Some(&good), true).await;
    assert_eq!(statuses(&planned), [Status::Planned], "{planned:#?}");
    assert_eq!(at(&aws), Some((bad.to_string(), 1)), "a dry run writes nothing");

    let done = rollback(&keeper, &["ssm_parameter:/ami/fixed"], Some(&good), false).await;
    assert_eq!((done.status, statuses(&done)), (RollbackStatus::Ok, vec![Status::Updated]), "{done:#?}");
    assert_eq!(at(&aws), Some((good.to_string(), 1)));
    assert_eq!(done.targets[0].outcome.from.as_deref(), Some(bad.as_str()));
    assert!(aws.image(REGION, &good).unwrap().deregistration_protected, "{done:#?}");
}
