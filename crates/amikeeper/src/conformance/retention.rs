//! The retention scenarios: image sweeps (with and without failures) and snapshot generations.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::{
    only_reads, seed, sweep, sweep_config, sweep_on, Capabilities, ImageFacts, ImageSpec, SweepFixture, MAIN_REGION,
};
use crate::memory::FaultyAws;
use crate::memory::{Fault, FaultKind};
use crate::model::{ImageId, LaunchTemplateSpec, Tags};
use crate::retain::{ItemStatus, ReferenceCheck, SweepAction, SweepStatus, UndoCheck};
use crate::samples::configs;
use crate::Config;

/// The configuration of the image sweep scenarios (in the fixture's account).
pub const KEEP_TWO_PER_ROLE: &str = crate::testing::configs::KEEP_TWO_PER_ROLE;

/// The world of the image sweeps: two groups of images, with an image in use through each kind
/// of pointer, and one excluded by tag.
struct SweepWorld {
    web: Vec<ImageId>,
    db: Vec<ImageId>,
    template: String,
}

async fn sweep_world(f: &dyn SweepFixture) -> SweepWorld {
    let r = MAIN_REGION;
    let mut web = Vec::new();
    for i in 1..=6 {
        web.push(f.image(r, ImageSpec::named(format!("sweep-web-{i}")).tag("Role", "web")).await);
    }
    let mut db = Vec::new();
    for i in 0..=4 {
        let mut spec = ImageSpec::named(format!("sweep-db-{i}")).tag("Role", "db");
        if i == 2 {
            spec = spec.tag("amikeeper:keep", "yes");
        }
        db.push(f.image(r, spec).await);
    }
    // web-1: an SSM parameter; web-2: a stopped instance; web-3..6: template versions 1..4
    // (default 4); web-4: the version an Auto Scaling group pins; db-1: a stack parameter.
    f.set_parameter(r, "/ami/web/previous", web[0].as_str()).await;
    let instance = f.launch_instance(r, &web[1]).await;
    f.stop_instance(r, &instance).await;
    let template = f.launch_template(r, "sweep-web", &web[2]).await;
    for (i, image) in web[3..].iter().enumerate() {
        let version = f.template_version(r, &template, image, i == 2).await;
        assert_eq!(version, i as i64 + 2);
    }
    f.auto_scaling_group(r, "sweep-web", LaunchTemplateSpec { id: template.clone(), version: "2".into() }).await;
    f.stack(r, "sweep-db", [("ImageId".to_owned(), db[1].to_string())].into()).await;
    SweepWorld { web, db, template }
}

/// Retention: a dry run only reads; applying retires exactly the images nothing uses beyond
/// each group's newest two (and their snapshots), and the launch template versions beyond the
/// newest, the default and the pinned one; a second sweep has nothing to do.
pub async fn sweep_keeps_what_is_in_use(f: &dyn SweepFixture) {
    let world = sweep_world(f).await;
    let config = sweep_config(&f.account(), KEEP_TWO_PER_ROLE);
    let before = f.own_images(MAIN_REGION).await;
    let snapshots_before = f.own_snapshots(MAIN_REGION).await;

    let dry = sweep(f, &config, false).await;
    assert!(!dry.applied && dry.results.is_empty());
    assert!(only_reads(&dry), "a plan writes nothing: {:?}", dry.aws_calls_by_operation);
    let planned: Vec<&str> = dry.plan.retirements().map(|d| d.image_id.as_str()).collect();
    assert_eq!(planned, [world.db[0].as_str(), world.web[2].as_str()], "{:#?}", dry.plan.images);
    let versions: Vec<i64> = dry.plan.launch_template_versions.iter().map(|v| v.version).collect();
    assert_eq!(versions, [3, 1]);
    let reason = |id: &ImageId| {
        dry.plan.images.iter().find(|d| &d.image_id == id).map(|d| d.reason.to_string()).unwrap_or_default()
    };
    assert_eq!(reason(&world.web[0]), "in use by SSM parameter /ami/web/previous");
    assert!(reason(&world.web[1]).starts_with("in use by instance i-"), "{}", reason(&world.web[1]));
    assert!(reason(&world.web[3]).contains("Auto Scaling group sweep-web"), "{}", reason(&world.web[3]));
    assert_eq!(reason(&world.db[1]), "in use by stack sweep-db parameter ImageId");
    assert_eq!(reason(&world.db[2]), "carries the exclusion tag amikeeper:keep");
    assert_eq!(f.own_images(MAIN_REGION).await, before, "the dry run changed nothing");

    let applied = sweep(f, &config, true).await;
    assert_eq!(applied.status, SweepStatus::Ok, "{:#?}", applied.results);
    assert_eq!(applied.summary.images_retired, 2);
    assert_eq!(applied.summary.launch_template_versions_deleted, 2);
    assert_eq!(applied.summary.snapshots_deleted, 2, "{:#?}", applied.results);
    // Inventory: DescribeImages, DescribeInstances, DescribeLaunchTemplates,
    // DescribeLaunchTemplateVersions, DescribeAutoScalingGroups, DescribeStacks,
    // DescribeLaunchConfigurations, GetParametersByPath (no DescribeSnapshots: no
    // [retention.snapshots]); DescribeImageReferences for the two candidates; ListRules of
    // the Recycle Bin for AMIs and for snapshots (one call, where the first fails); then
    // DescribeSnapshots for those an interrupted sweep left behind (marked amikeeper:retired);
    // then DeleteLaunchTemplateVersions, one CreateTags marking the two images' snapshots, and
    // two DeregisterImage (each deleting its snapshot with DeleteAssociatedSnapshots).
    let Capabilities { image_references: has_references, recycle_bin: has_recycle_bin, .. } = f.capabilities();
    assert_eq!(applied.aws_calls, if has_recycle_bin { 16 } else { 15 }, "{:?}", applied.aws_calls_by_operation);
    match &applied.plan.image_references {
        ReferenceCheck::Checked { images: 2, referenced: 0 } => assert!(has_references),
        ReferenceCheck::Unavailable { error, .. } => {
            assert!(!has_references && error.contains("InvalidAction"), "{error}")
        }
        other => panic!("{other:?}"),
    }
    match &applied.plan.recycle_bin {
        UndoCheck::Checked { images_restorable: 0, images_not_restorable, .. } => {
            assert!(has_recycle_bin && images_not_restorable.len() == 2)
        }
        UndoCheck::Unavailable { .. } => assert!(!has_recycle_bin),
        other => panic!("{other:?}"),
    }

    let after = f.own_images(MAIN_REGION).await;
    let mut expected: Vec<&str> =
        ids(&before).into_iter().filter(|id| *id != world.db[0].as_str() && *id != world.web[2].as_str()).collect();
    expected.sort_unstable();
    assert_eq!(ids(&after), expected);
    let gone: Vec<&String> =
        before.iter().filter(|i| i.id == world.db[0] || i.id == world.web[2]).flat_map(|i| &i.snapshot_ids).collect();
    let snapshots_after = f.own_snapshots(MAIN_REGION).await;
    assert_eq!(gone.len(), 2);
    for snapshot in &gone {
        assert!(snapshots_before.contains_key(*snapshot) && !snapshots_after.contains_key(*snapshot));
    }
    assert_eq!(snapshots_after.len(), snapshots_before.len() - 2);
    let template = f.template_state(MAIN_REGION, &world.template).await;
    let numbers: Vec<i64> = template.versions.iter().map(|(n, _)| *n).collect();
    assert_eq!(numbers, [4, 2]);

    let again = sweep(f, &config, true).await;
    assert_eq!(again.plan.retirements().count(), 0, "{:#?}", again.plan.images);
    assert!(again.plan.launch_template_versions.is_empty());
    assert!(again.results.is_empty() && only_reads(&again), "converged: {:?}", again.aws_calls_by_operation);
}

/// Retention under failures: one image cannot be deregistered (every attempt fails), deletes
/// are throttled, and one answer is lost after the deletion took effect. The sweep does the
/// rest, reports the failure and skips that image's snapshot; the next sweep finishes the job.
pub async fn sweep_converges_after_failures(f: &dyn SweepFixture) {
    let world = sweep_world(f).await;
    // One call at a time, so that the faults hit the calls in plan order: db-0 first.
    let config = sweep_config(&f.account(), &KEEP_TWO_PER_ROLE.replace("concurrency = 4", "concurrency = 1"));
    let faulty = Arc::new(FaultyAws::new(f.aws()));
    faulty.inject(Fault::on("ec2:DeleteLaunchTemplateVersions", FaultKind::TimeoutAfterEffect));
    faulty.inject(Fault::on("ec2:DeregisterImage", FaultKind::ServerError).times(crate::retain::ATTEMPTS));
    faulty.inject(Fault::on("ec2:DeregisterImage", FaultKind::Throttling).times(2));

    let first = sweep_on(faulty.clone(), &config, true).await;
    assert_eq!(first.status, SweepStatus::Failed);
    assert_eq!(first.summary.failed, 1, "{:#?}", first.results);
    assert_eq!(first.summary.skipped, 1, "the failed image's snapshot waits: {:#?}", first.results);
    assert_eq!(first.summary.images_retired, 1);
    assert_eq!(first.summary.launch_template_versions_deleted, 2, "a lost answer, then already gone");
    assert!(first.summary.throttled >= 2);
    assert_eq!(faulty.pending_faults(), 0);
    let failed = first.results.iter().find(|r| r.status == ItemStatus::Failed).expect("one failure");
    assert_eq!((failed.action, failed.resource.as_str()), (SweepAction::DeregisterImage, world.db[0].as_str()));
    assert_eq!(failed.attempts, crate::retain::ATTEMPTS);
    assert!(f.own_images(MAIN_REGION).await.iter().any(|i| i.id == world.db[0]));

    let second = sweep_on(faulty.clone(), &config, true).await;
    assert_eq!(second.status, SweepStatus::Ok, "{:#?}", second.results);
    assert_eq!(second.summary.images_retired, 1, "only the image that failed is left");
    let after = f.own_images(MAIN_REGION).await;
    assert!(after.iter().all(|i| i.id != world.db[0] && i.id != world.web[2]));
    assert_eq!(after.len(), world.web.len() + world.db.len() - 2);

    let third = sweep_on(faulty, &config, true).await;
    assert!(third.results.is_empty() && third.plan.retirements().count() == 0, "converged");
}

/// Seed 004: a volume tagged `Daily_Gens=3` keeps its three newest completed snapshots (and
/// tags them with the volume), the older ones go unless excluded; a snapshot of an untagged
/// volume is only reported as an orphan; a second sweep changes nothing.
pub async fn seed_004_snapshot_generations(f: &dyn SweepFixture) {
    let r = MAIN_REGION;
    let volume = f.volume(r, [("Daily_Gens".to_owned(), "3".to_owned())].into()).await;
    let other = f.volume(r, Tags::new()).await;
    let orphan = f.volume_snapshot(r, &other, Tags::new()).await;
    let mut snapshots = Vec::new();
    for i in 0..6 {
        let tags = if i == 0 { [("amikeeper:keep".to_owned(), "audit".to_owned())].into() } else { Tags::new() };
        snapshots.push(f.volume_snapshot(r, &volume, tags).await);
    }
    let config =
        Config::from_toml(&seed(f, configs::SEED_004_SNAPSHOT_GENERATIONS)).expect("scenario configuration is valid");

    let report = sweep(f, &config, true).await;
    assert_eq!(report.status, SweepStatus::Ok, "{:#?}", report.results);
    let deleted: BTreeSet<&str> =
        report.plan.snapshot_generations.iter().filter(|g| g.delete).map(|g| g.snapshot_id.as_str()).collect();
    assert_eq!(deleted, [snapshots[1].as_str(), snapshots[2].as_str()].into());
    let orphans: Vec<&str> = report.plan.orphans.iter().map(|o| o.snapshot_id.as_str()).collect();
    assert!(orphans.contains(&orphan.as_str()), "{orphans:?}");
    assert!(report.plan.orphans.iter().all(|o| !o.delete), "orphans are only reported");
    assert_eq!(report.summary.snapshots_deleted, 2);
    assert_eq!(report.summary.snapshots_tagged, 3);

    let now = f.own_snapshots(r).await;
    assert!(now.contains_key(&orphan) && now.contains_key(&snapshots[0]));
    for gone in &snapshots[1..3] {
        assert!(!now.contains_key(gone), "{gone} deleted");
    }
    for kept in &snapshots[3..] {
        assert_eq!(now[kept].get("amikeeper:volume"), Some(&volume), "{kept} tagged");
    }
    assert!(!now[&snapshots[0]].contains_key("amikeeper:volume"), "the excluded one is not managed");

    let again = sweep(f, &config, true).await;
    assert!(again.results.is_empty() && only_reads(&again), "converged: {:#?}", again.results);
}

fn ids(facts: &[ImageFacts]) -> Vec<&str> {
    let mut ids: Vec<&str> = facts.iter().map(|f| f.id.as_str()).collect();
    ids.sort_unstable();
    ids
}
