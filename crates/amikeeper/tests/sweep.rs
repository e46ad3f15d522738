//! Sweeps on `MemoryAws` beyond the conformance scenarios: deprecating and disabling instead of
//! deleting, ages, the cap, orphans, and what the sweep refuses.

use std::sync::Arc;

use amikeeper::memory::ImageSeed;
use amikeeper::model::{ImageId, ImageState, Region, SnapshotState, Tags};
use amikeeper::retain::SweepStatus;
use amikeeper::{Config, Error, Keeper, MemoryAws, SweepOptions};
use time::Duration;

use amikeeper::testing::{self, configs, ACCOUNT, REGION};

fn keeper(aws: &Arc<MemoryAws>, retention: &str) -> Keeper {
    testing::keeper(&format!("accounts = [\"{ACCOUNT}\"]\n{retention}"), aws)
}

/// `count` images of `Role` `web`, ten days apart, oldest first.
fn web_images(aws: &MemoryAws, count: usize) -> Vec<ImageId> {
    testing::web_images(aws, count, Duration::days(10), ("Role", "web"))
}

async fn sweep(keeper: &Keeper, aws: &MemoryAws, apply: bool) -> amikeeper::SweepReport {
    let options = SweepOptions::default().apply(apply).now(aws.now());
    keeper.sweep(&Region::from(REGION), &options).await.expect("sweep runs")
}

#[tokio::test(start_paused = true)]
async fn deprecating_and_disabling_converge() {
    for retire in ["deprecate", "disable"] {
        let aws = Arc::new(MemoryAws::new(ACCOUNT));
        let images = web_images(&aws, 4);
        let keeper = keeper(
            &aws,
            &format!("[retention]\n[[retention.images]]\ngroup_by = {{ tag = \"Role\" }}\nkeep_newest = 1\nretire = \"{retire}\""),
        );
        let report = sweep(&keeper, &aws, true).await;
        assert_eq!(report.status, SweepStatus::Ok, "{:#?}", report.results);
        assert_eq!(report.summary.images_retired, 3, "{retire}");
        assert_eq!(report.summary.snapshots_planned, 0, "{retire} keeps snapshots");
        for (i, id) in images.iter().enumerate() {
            let image = aws.image(REGION, id).unwrap();
            let retired = match retire {
                "deprecate" => image.deprecated_at.is_some(),
                _ => image.state == ImageState::Disabled,
            };
            assert_eq!(retired, i < 3, "{retire} {id}");
            assert_ne!(image.state, ImageState::Deregistered);
        }
        let again = sweep(&keeper, &aws, true).await;
        assert!(again.results.is_empty(), "{retire} converged: {:#?}", again.plan.images);
        let reasons: Vec<String> = again.plan.images.iter().map(|d| d.reason.to_string()).collect();
        assert_eq!(reasons.iter().filter(|r| r.starts_with("already")).count(), 3, "{reasons:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn ages_and_the_cap_bound_what_one_run_retires() {
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    // Six images, ten days apart: the newest is 0 days old, the oldest 50.
    let images = web_images(&aws, 6);
    let keeper = keeper(&aws, configs::RETENTION_AGES);
    let report = sweep(&keeper, &aws, true).await;
    // Older than 25 days: web-0 (50), web-1 (40), web-2 (30); the cap takes the two oldest.
    let retired: Vec<&str> = report.plan.retirements().map(|d| d.image_id.as_str()).collect();
    assert_eq!(retired, [images[1].as_str(), images[0].as_str()]);
    assert_eq!(report.summary.images_retired, 2);
    let capped = report.plan.images.iter().find(|d| d.image_id == images[2]).unwrap();
    assert_eq!(capped.reason.to_string(), "this run already retires 2, its maximum");
    let young = report.plan.images.iter().find(|d| d.image_id == images[4]).unwrap();
    assert_eq!(young.reason.to_string(), "younger than 15 days");

    let next = sweep(&keeper, &aws, true).await;
    let retired: Vec<&str> = next.plan.retirements().map(|d| d.image_id.as_str()).collect();
    assert_eq!(retired, [images[2].as_str()], "the next run takes the rest");
}

#[tokio::test(start_paused = true)]
async fn orphans_are_deleted_only_when_asked_and_never_when_excluded() {
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let image = aws.add_image(REGION, ImageSeed::new("web-0"));
    let volume = aws.add_volume(REGION, Tags::new(), None);
    let orphan = aws.add_snapshot(REGION, &volume, aws.now(), SnapshotState::Completed);
    let kept = aws.add_snapshot(REGION, &volume, aws.now(), SnapshotState::Completed);
    let pending = aws.add_snapshot(REGION, &volume, aws.now(), SnapshotState::Pending);
    let tags: Tags = [("amikeeper:keep".to_owned(), "legal hold".to_owned())].into();
    amikeeper::backend::Ec2Api::create_tags(aws.as_ref(), &Region::from(REGION), std::slice::from_ref(&kept), &tags)
        .await
        .unwrap();

    let report_only = keeper(&aws, "[retention]\n[retention.snapshots]\ngenerations_tag = \"Daily_Gens\"");
    let report = sweep(&report_only, &aws, true).await;
    let orphans: Vec<&str> = report.plan.orphans.iter().map(|o| o.snapshot_id.as_str()).collect();
    assert_eq!(orphans, [orphan.as_str(), kept.as_str()], "pending snapshots and the image's are not orphans");
    assert!(report.results.is_empty());

    let deleting = keeper(&aws, "[retention]\n[retention.snapshots]\ndelete_orphans = true");
    let report = sweep(&deleting, &aws, true).await;
    assert_eq!(report.summary.snapshots_deleted, 1, "{:#?}", report.results);
    let left = aws.snapshots(REGION);
    assert!(!left.contains(&orphan) && left.contains(&kept) && left.contains(&pending));
    let image_snapshot = &aws.image(REGION, &image).unwrap().snapshot_ids[0];
    assert!(left.contains(image_snapshot));
}

#[tokio::test]
async fn a_configuration_without_retention_is_refused() {
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let keeper = testing::keeper(configs::ANY_AMI_TO_PARAMETER, &aws);
    let error = keeper.sweep(&Region::from(REGION), &SweepOptions::default()).await.unwrap_err();
    assert!(matches!(error, Error::Config(_)), "{error}");
    assert!(aws.calls().is_empty());

    for (bad, at) in [
        ("[retention]", "retention"),
        ("[retention]\n[[retention.images]]\ngroup_by = { tag = \"Role\" }", "retention.images[0]"),
        ("[retention]\nconcurrency = 0\n[retention.launch_templates]\nkeep_versions = 2", "retention.concurrency"),
        (
            "[retention]\n[[retention.images]]\ngroup_by = { tag = \"Role\" }\nkeep_newest = 1\nstages = { deprecate_after_days = 60, disable_after_days = 30 }",
            "retention.images[0].stages",
        ),
        (
            "[retention]\n[[retention.images]]\ngroup_by = { name_pattern = \"(\" }\nkeep_newest = 1",
            "retention.images[0].group_by.name_pattern",
        ),
    ] {
        let error = Config::from_toml(&format!("accounts = [\"{ACCOUNT}\"]\n{bad}")).unwrap_err().to_string();
        assert!(error.contains(at), "{bad}: {error}");
    }
}

#[tokio::test(start_paused = true)]
async fn published_to_keeps_the_last_amis_a_parameter_named() {
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let images = web_images(&aws, 5);
    // /ami/web named images 0, 1, 2 and 3 in turn; image 4 was never published.
    for image in &images[..4] {
        aws.set_parameter(REGION, "/ami/web", image.as_str()).unwrap();
    }
    let keeper = keeper(&aws, configs::RETENTION_PUBLISHED_TO);
    let report = sweep(&keeper, &aws, true).await;
    let judged: Vec<(&str, String)> =
        report.plan.images.iter().map(|d| (d.image_id.as_str(), d.reason.to_string())).collect();
    assert_eq!(
        judged,
        [
            (images[3].as_str(), "in use by SSM parameter /ami/web".to_owned()),
            (images[2].as_str(), "newest #2 of its group, which keeps 2".to_owned()),
            (images[1].as_str(), "#3 of its group, which keeps the newest 2".to_owned()),
            (images[0].as_str(), "#4 of its group, which keeps the newest 2".to_owned()),
        ]
    );
    assert!(report.plan.images.iter().all(|d| &*d.group == "/ami/web"));
    assert_eq!(report.summary.images_retired, 2);
    assert_eq!(aws.image(REGION, &images[4]).unwrap().state, ImageState::Available, "never published: not judged");
    assert_eq!(aws.call_count("ssm:GetParameterHistory"), 1);
}

/// Every AMI here is old and beyond the newest one of its group; each is named by one pointer
/// that some peer misses, and each must stay.
#[tokio::test(start_paused = true)]
async fn pointers_peers_miss_keep_their_amis() {
    use amikeeper::model::LaunchTemplateSpec;
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let images = web_images(&aws, 6);
    // Cloud Custodian's issue 6554: a launch template that no Auto Scaling group uses.
    let lonely = aws.create_launch_template(REGION, "lonely", Some(images[0].clone()), Tags::new());
    // Only a mixed-instances override of a group names this template (and its AMI).
    let main = aws.create_launch_template(REGION, "main", Some(images[5].clone()), Tags::new());
    let spot = aws.create_launch_template(REGION, "spot", Some(images[1].clone()), Tags::new());
    aws.create_auto_scaling_group(
        REGION,
        "web",
        LaunchTemplateSpec { id: main.id.clone(), version: "$Default".into() },
        Tags::new(),
    );
    aws.set_override_launch_templates(
        REGION,
        "web",
        vec![LaunchTemplateSpec { id: spot.id.clone(), version: "$Latest".into() }],
    );
    // A launch configuration, which aws-amicleaner reads but templates replaced.
    aws.create_launch_configuration(REGION, "legacy-web", images[2].clone());
    // An instance launched from it yesterday and since terminated: EC2's LastLaunchedTime.
    aws.advance(Duration::days(-1));
    let instance = aws.launch_instance(REGION, &images[3], Tags::new());
    aws.advance(Duration::days(1));
    aws.set_instance_state(REGION, &instance, "terminated");

    let keeper = keeper(
        &aws,
        "[retention]\n[[retention.images]]\ngroup_by = { tag = \"Role\" }\nkeep_newest = 1\nkeep_launched_within_days = 7",
    );
    let report = sweep(&keeper, &aws, true).await;
    let reason = |i: usize| {
        report.plan.images.iter().find(|d| d.image_id == images[i]).map(|d| d.reason.to_string()).unwrap_or_default()
    };
    assert_eq!(reason(0), format!("in use by launch template {} version 1", lonely.id));
    assert!(reason(1).contains("Auto Scaling group web"), "{}", reason(1));
    assert_eq!(reason(2), "in use by launch configuration legacy-web");
    assert_eq!(reason(3), "launched from in the last 7 days");
    assert_eq!(reason(4), "#2 of its group, which keeps the newest 1");
    let retired: Vec<&str> = report.plan.retirements().map(|d| d.image_id.as_str()).collect();
    assert_eq!(retired, [images[4].as_str()]);
    for (i, image) in images.iter().enumerate() {
        let state = aws.image(REGION, image).unwrap().state;
        assert_eq!(state == ImageState::Deregistered, i == 4, "image {i}");
    }
}

#[tokio::test(start_paused = true)]
async fn stages_deprecate_then_disable_then_delete_as_images_age() {
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let now = aws.now() + Duration::days(200);
    let ages = [100, 70, 40, 10, 0];
    let images: Vec<ImageId> = ages
        .iter()
        .enumerate()
        .map(|(i, age)| {
            let seed = ImageSeed::new(format!("web-{i}")).tag("Role", "web").created(now - Duration::days(*age));
            aws.add_image(REGION, seed)
        })
        .collect();
    aws.set_now(now);
    let keeper = keeper(&aws, configs::RETENTION_STAGES);
    let state = |i: usize| {
        let image = aws.image(REGION, &images[i]).unwrap();
        match (image.state, image.deprecated_at.is_some()) {
            (ImageState::Deregistered, _) => "deleted",
            (ImageState::Disabled, _) => "disabled",
            (_, true) => "deprecated",
            _ => "available",
        }
    };

    let report = sweep(&keeper, &aws, true).await;
    assert_eq!(report.status, SweepStatus::Ok, "{:#?}", report.results);
    assert_eq!((0..5).map(state).collect::<Vec<_>>(), ["deleted", "disabled", "deprecated", "available", "available"]);
    let young = report.plan.images.iter().find(|d| d.image_id == images[3]).unwrap();
    assert_eq!(young.reason.to_string(), "beyond what its group keeps, but younger than the first stage");

    let again = sweep(&keeper, &aws, true).await;
    assert!(again.results.is_empty(), "converged: {:#?}", again.plan.images);

    // 25 days later each image moves one stage on.
    aws.set_now(now + Duration::days(25));
    let later = sweep(&keeper, &aws, true).await;
    assert_eq!(later.status, SweepStatus::Ok, "{:#?}", later.results);
    assert_eq!((1..5).map(state).collect::<Vec<_>>(), ["deleted", "disabled", "deprecated", "available"]);
}

#[tokio::test(start_paused = true)]
async fn protection_amikeeper_turned_on_is_turned_off_before_deleting_and_others_is_respected() {
    use amikeeper::backend::Ec2Api;
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let images = web_images(&aws, 3);
    let region = Region::from(REGION);
    // images[0]: protected by amikeeper when it was published, now used by nothing.
    aws.set_deregistration_protection(&region, &images[0], true).await.unwrap();
    let ours: Tags = [("amikeeper:protected".to_owned(), "true".to_owned())].into();
    aws.create_tags(&region, std::slice::from_ref(&images[0].to_string()), &ours).await.unwrap();
    // images[1]: protected by someone else.
    aws.set_deregistration_protection(&region, &images[1], true).await.unwrap();
    let keeper = keeper(&aws, "[retention]\n[[retention.images]]\ngroup_by = { tag = \"Role\" }\nkeep_newest = 1");

    let report = sweep(&keeper, &aws, true).await;
    assert_eq!(report.status, SweepStatus::Ok, "{:#?}", report.results);
    let reason = report.plan.images.iter().find(|d| d.image_id == images[1]).unwrap().reason.to_string();
    assert_eq!(reason, "protected from deregistration, not by amikeeper");
    assert_eq!(aws.image(REGION, &images[0]).unwrap().state, ImageState::Deregistered);
    assert_eq!(aws.image(REGION, &images[1]).unwrap().state, ImageState::Available);
    assert_eq!(aws.call_count("ec2:DisableImageDeregistrationProtection"), 1);
}

/// What only EC2's AMI reference check sees (an Image Builder recipe, an SSM parameter outside
/// the configured paths) keeps its AMI, and the report says which source decided.
#[tokio::test(start_paused = true)]
async fn the_reference_check_keeps_what_the_scan_cannot_see() {
    use amikeeper::retain::ReferenceCheck;
    let retention =
        "[retention]\nparameter_paths = [\"/ami/\"]\n[[retention.images]]\ngroup_by = { tag = \"Role\" }\nkeep_newest = 1";
    for available in [true, false] {
        let aws = Arc::new(MemoryAws::new(ACCOUNT));
        let images = web_images(&aws, 4);
        let recipe = aws.add_image_recipe(REGION, "web-recipe", &images[0]);
        aws.set_parameter(REGION, "/team-b/web-ami", images[1].as_str()).unwrap();
        aws.set_image_references_available(available);
        let report = sweep(&keeper(&aws, retention), &aws, false).await;
        let reason = |i: usize| {
            report.plan.images.iter().find(|d| d.image_id == images[i]).map(|d| d.reason.to_string()).unwrap()
        };
        let retired: Vec<&str> = report.plan.retirements().map(|d| d.image_id.as_str()).collect();
        if available {
            assert_eq!(
                reason(0),
                format!("in use by imagebuilder:ImageRecipe {recipe} (found by EC2's AMI reference check)")
            );
            assert_eq!(
                reason(1),
                format!(
                    "in use by ssm:Parameter arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/team-b/web-ami (found by \
                     EC2's AMI reference check)"
                )
            );
            assert_eq!(retired, [images[2].as_str()]);
            assert_eq!(report.plan.image_references, ReferenceCheck::Checked { images: 3, referenced: 2 });
            // One DescribeImageReferences call for the three candidates.
            assert_eq!(report.aws_calls_by_operation["ec2:DescribeImageReferences"], 1);
        } else {
            // Where the API is missing, the sweep fails closed: every candidate is kept, and
            // the report says why.
            assert!(retired.is_empty(), "{retired:?}");
            let ReferenceCheck::Unavailable { error, images_kept } = &report.plan.image_references else {
                panic!("{:?}", report.plan.image_references)
            };
            assert!(error.contains("InvalidAction"), "{error}");
            assert_eq!(*images_kept, 3);
            assert!(
                reason(2).starts_with("in use by unknown: ec2:DescribeImageReferences could not be read"),
                "{}",
                reason(2)
            );
        }
    }
}

/// With `image_references = "scan_only"` the scan decides alone and reads what the reference
/// check would have seen: every parameter of the region (with or without a leading `/`) and
/// the Image Builder recipes.
#[tokio::test(start_paused = true)]
async fn the_scan_alone_reads_every_parameter_and_recipe() {
    let retention = "[retention]\nimage_references = \"scan_only\"\n[[retention.images]]\ngroup_by = { tag = \"Role\" }\nkeep_newest = 1";
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let images = web_images(&aws, 5);
    let recipe = aws.add_image_recipe(REGION, "web-recipe", &images[0]);
    aws.set_parameter(REGION, "/legacy/app/ami", images[1].as_str()).unwrap();
    aws.set_parameter(REGION, "i-0aaaaaaaaaaaaaaaa", images[2].as_str()).unwrap();
    aws.set_image_references_available(false);
    let report = sweep(&keeper(&aws, retention), &aws, false).await;
    let reason = |i: usize| report.plan.images.iter().find(|d| d.image_id == images[i]).unwrap().reason.to_string();
    assert_eq!(reason(0), format!("in use by imagebuilder:ImageRecipe {recipe}"));
    assert_eq!(reason(1), "in use by SSM parameter /legacy/app/ami");
    assert_eq!(reason(2), "in use by SSM parameter i-0aaaaaaaaaaaaaaaa");
    let retired: Vec<&str> = report.plan.retirements().map(|d| d.image_id.as_str()).collect();
    assert_eq!(retired, [images[3].as_str()]);
    assert_eq!(report.plan.image_references, amikeeper::retain::ReferenceCheck::Off);
    assert_eq!(report.aws_calls_by_operation.get("ec2:DescribeImageReferences"), None);
    // Each decision names the sources it rests on.
    let decision = report.plan.images.iter().find(|d| d.image_id == images[3]).unwrap();
    let sources: Vec<&str> = decision.sources.iter().map(|s| s.as_str()).collect();
    for wanted in [
        "ec2:DescribeInstances",
        "ec2:DescribeLaunchTemplateVersions",
        "ssm:DescribeParameters",
        "imagebuilder:ListImageRecipes",
        "cloudformation:DescribeStacks",
        "autoscaling:DescribeAutoScalingGroups",
    ] {
        assert!(sources.contains(&wanted), "{wanted} not in {sources:?}");
    }
}

/// The plan says whether what it deletes can be restored from the Recycle Bin.
#[tokio::test(start_paused = true)]
async fn the_plan_says_whether_a_deletion_can_be_undone() {
    use amikeeper::model::{RecycleBinResource, RecycleBinRule};
    use amikeeper::retain::UndoCheck;
    let retention = "[retention]\n[[retention.images]]\ngroup_by = { tag = \"Role\" }\nkeep_newest = 1";
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let images: Vec<ImageId> = (0..3)
        .map(|i| {
            aws.advance(Duration::days(10));
            let seed = ImageSeed::new(format!("web-{i}")).tag("Role", "web").snapshots(1);
            let seed = if i == 0 { seed.tag("Scratch", "yes") } else { seed };
            aws.add_image(REGION, seed)
        })
        .collect();

    let report = sweep(&keeper(&aws, retention), &aws, false).await;
    let UndoCheck::Checked { summary, images_not_restorable, .. } = &report.plan.recycle_bin else {
        panic!("{:?}", report.plan.recycle_bin)
    };
    assert_eq!(images_not_restorable, &[images[1].clone(), images[0].clone()], "newest first");
    assert!(summary.contains("cannot be undone"), "{summary}");

    // A region-level AMI rule that excludes scratch images, and a snapshot rule.
    let rule = |id: &str, resource_type, exclude_tags: Vec<(String, String)>| RecycleBinRule {
        id: id.into(),
        resource_type,
        retention_days: 7,
        resource_tags: Vec::new(),
        exclude_tags,
    };
    aws.add_recycle_bin_rule(
        REGION,
        rule("images", RecycleBinResource::Image, vec![("Scratch".into(), String::new())]),
    );
    aws.add_recycle_bin_rule(REGION, rule("snapshots", RecycleBinResource::Snapshot, Vec::new()));
    let report = sweep(&keeper(&aws, retention), &aws, false).await;
    let UndoCheck::Checked { summary, images_restorable, images_not_restorable, snapshots_restorable, .. } =
        &report.plan.recycle_bin
    else {
        panic!("{:?}", report.plan.recycle_bin)
    };
    assert_eq!((*images_restorable, images_not_restorable.as_slice()), (1, &[images[0].clone()][..]));
    assert_eq!(*snapshots_restorable, 2);
    assert_eq!(summary, "1 of 2 deleted AMIs and 2 of 2 deleted snapshots can be restored from the Recycle Bin (for at least 7 days); an AMI is restorable only when a rule also keeps its snapshots");
    assert_eq!(report.aws_calls_by_operation["rbin:ListRules"], 2);

    // Nothing deleted: nothing to ask.
    let keep_all = retention.replace("keep_newest = 1", "keep_newest = 5");
    let report = sweep(&keeper(&aws, &keep_all), &aws, false).await;
    assert_eq!(report.plan.recycle_bin, UndoCheck::NothingDeleted);
    assert!(!report.aws_calls_by_operation.contains_key("rbin:ListRules"));
}

/// An AMI shared with another account is kept while something there launches it; an account
/// that cannot be checked keeps every AMI.
#[tokio::test(start_paused = true)]
async fn consumer_accounts_keep_the_amis_they_launch() {
    const ROLE: &str = "arn:aws:iam::444455556666:role/amikeeper-reader";
    let retention = format!(
        "[retention]\n[[retention.consumers]]\nrole_arn = \"{ROLE}\"\n[[retention.images]]\ngroup_by = {{ tag = \"Role\" }}\nkeep_newest = 1"
    );
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let images = web_images(&aws, 4);
    let consumer = Arc::new(MemoryAws::new("444455556666"));
    let instance = consumer.launch_instance(REGION, &images[0], Tags::new());
    let template = consumer.create_launch_template(REGION, "consumer-web", Some(images[1].clone()), Tags::new());

    // The role cannot be assumed: every AMI is kept, and the report says why.
    let report = sweep(&keeper(&aws, &retention), &aws, false).await;
    assert_eq!(report.plan.retirements().count(), 0, "{:#?}", report.plan.images);
    assert_eq!(report.plan.consumers.len(), 1);
    assert!(report.plan.consumers[0].error.as_deref().is_some_and(|e| e.contains("AccessDenied")));
    let reason = report.plan.images.iter().find(|d| d.image_id == images[2]).unwrap().reason.to_string();
    assert!(reason.starts_with("in use by account 444455556666: could not be checked"), "{reason}");

    aws.add_role(ROLE, consumer.clone());
    let report = sweep(&keeper(&aws, &retention), &aws, true).await;
    let reason = |i: usize| report.plan.images.iter().find(|d| d.image_id == images[i]).unwrap().reason.to_string();
    assert_eq!(reason(0), format!("in use by account 444455556666: instance {instance}"));
    assert_eq!(reason(1), format!("in use by account 444455556666: launch template {} version 1", template.id));
    let retired: Vec<&str> = report.plan.retirements().map(|d| d.image_id.as_str()).collect();
    assert_eq!(retired, [images[2].as_str()]);
    let check = &report.plan.consumers[0];
    assert_eq!((check.account.as_str(), check.images_in_use, check.error.as_ref()), ("444455556666", 2, None));
    // AssumeRole, then the consumer's listings: images, instances, templates, their versions,
    // groups, launch configurations, stacks.
    assert_eq!(check.aws_calls, 8, "{check:?}");
    assert_eq!(aws.image(REGION, &images[2]).unwrap().state, ImageState::Deregistered);
    assert_ne!(aws.image(REGION, &images[0]).unwrap().state, ImageState::Deregistered);
}

/// A fleet sweep: this account in two regions, and another account through a role; one report
/// per account and region, and a role that cannot be assumed fails only its own targets.
#[tokio::test(start_paused = true)]
async fn a_fleet_sweep_reports_per_account_and_region() {
    const ROLE: &str = "arn:aws:iam::444455556666:role/amikeeper";
    const OTHER_REGION: &str = "ap-northeast-3";
    let config = format!(
        "[retention]\n[[retention.images]]\ngroup_by = {{ tag = \"Role\" }}\nkeep_newest = 1\n\
         [[fleet]]\nregions = [\"{REGION}\", \"{OTHER_REGION}\"]\n\
         [[fleet]]\nrole_arn = \"{ROLE}\"\nregions = [\"{REGION}\"]\n\
         [[fleet]]\nrole_arn = \"arn:aws:iam::777788889999:role/missing\"\nregions = [\"{REGION}\"]\n"
    );
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    web_images(&aws, 3);
    aws.add_image(OTHER_REGION, ImageSeed::new("web-dr").tag("Role", "web"));
    let other = Arc::new(MemoryAws::new("444455556666"));
    let theirs = web_images(&other, 2);
    aws.add_role(ROLE, other.clone());

    let reports = keeper(&aws, &config).sweep_fleet(&SweepOptions::default().apply(true).now(aws.now())).await;
    let summary: Vec<(Option<&str>, &str, SweepStatus, usize)> = reports
        .iter()
        .map(|r| {
            let retired = r.report.as_ref().map_or(0, |report| report.summary.images_retired);
            (r.role_arn.as_deref(), r.region.as_str(), r.status, retired)
        })
        .collect();
    assert_eq!(
        summary,
        [
            (None, REGION, SweepStatus::Ok, 2),
            (None, OTHER_REGION, SweepStatus::Ok, 0),
            (Some(ROLE), REGION, SweepStatus::Ok, 1),
            (Some("arn:aws:iam::777788889999:role/missing"), REGION, SweepStatus::Failed, 0),
        ]
    );
    assert!(reports[3].error.as_deref().is_some_and(|e| e.contains("AccessDenied")), "{:?}", reports[3].error);
    assert_eq!(other.image(REGION, &theirs[0]).unwrap().state, ImageState::Deregistered, "swept in their account");
}
