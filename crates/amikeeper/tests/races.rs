//! What another run left half done, as a run finds it: versions of a launch template made by
//! other runs that have not made them the default yet.

use std::sync::Arc;

use amikeeper::backend::Ec2Api;
use amikeeper::conformance::{MemoryFixture, Race};
use amikeeper::memory::{FaultyAws, ImageSeed};
use amikeeper::model::{CreateLaunchTemplateVersion, Region, Tags};
use amikeeper::publish::Status;
use amikeeper::samples::Origin;
use amikeeper::testing::{configs, keeper, ACCOUNT, REGION};
use amikeeper::{HandleOptions, Keeper, MemoryAws};

/// Another run made version 2 with the newest AMI and has not made it the default yet; a third
/// made version 3 with an older one. A run with an AMI between the two must not make its own
/// version the default over version 2 (the first CI run of the moto concurrency test ended at an
/// older AMI this way, when only the latest version was checked).
#[tokio::test(start_paused = true)]
async fn an_older_ami_never_becomes_the_default_over_any_newer_pending_version() {
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let region = Region::new(REGION);
    let first = aws.add_image(REGION, ImageSeed::new("web-1"));
    let older = aws.add_image(REGION, ImageSeed::new("web-2"));
    let ours = aws.add_image(REGION, ImageSeed::new("web-3"));
    let newest = aws.add_image(REGION, ImageSeed::new("web-4"));
    let template = aws.create_launch_template(REGION, "web", Some(first.clone()), Tags::new());
    let another_run = CreateLaunchTemplateVersion::new(&template.id, 1, &newest, "another run");
    aws.create_launch_template_version(&region, &another_run).await.unwrap();
    let a_third_run = CreateLaunchTemplateVersion::new(&template.id, 1, &older, "a third run");
    aws.create_launch_template_version(&region, &a_third_run).await.unwrap();

    let keeper = keeper(configs::WEB_TEMPLATE_UNPROTECTED, &aws);
    let event = Origin::new(ACCOUNT, REGION, "e1").image_state_change(ours.as_str(), "available");
    let reports = keeper.handle_payload(event.to_string().as_bytes(), &HandleOptions::default()).await.unwrap();
    let target = &reports[0].targets[0];
    assert_eq!(target.outcome.status, Status::Skipped, "{target:#?}");
    assert!(target.outcome.reason.contains(newest.as_str()), "{}", target.outcome.reason);
    let versions = aws.launch_template_versions(REGION, &template.id);
    assert_eq!(versions.len(), 3, "no version made: {versions:?}");
    assert!(versions.iter().any(|v| v.number == 1 && v.is_default), "{versions:?}");
}

/// How many AMIs the concurrency runs publish (the first one is what the pointers name before).
const RACE_IMAGES: usize = 8;

/// What went wrong in one seed's run; empty when it converged.
async fn race(seed: u64) -> Vec<String> {
    let fixture = MemoryFixture::new();
    let memory = fixture.memory();
    let start = memory.now() - time::Duration::hours(1);
    let images: Vec<_> = (0..RACE_IMAGES)
        .map(|i| {
            let mut seed = ImageSeed::new(format!("race-{i}"));
            seed.created = Some(start + time::Duration::minutes(i as i64));
            memory.add_image(REGION, seed)
        })
        .collect();
    let race = Race::new(&fixture, REGION, "race", images).await;
    let faulty = Arc::new(FaultyAws::new(memory.clone()));
    faulty.interleave(seed, 6);
    let keeper = Keeper::new(race.config(ACCOUNT), faulty);

    let failures = Race::deliver(&keeper, race.events(ACCOUNT, seed)).await;
    let mut wrong = race.wrong(&fixture).await;
    if !failures.is_empty() {
        wrong.push(format!("{} runs failed: {failures:#?}", failures.len()));
    }
    wrong
}

/// Finding 5 of issue 15: 8 handlers at once over 40 shuffled, duplicated events, failed runs
/// delivered again (as a queue would), on `MemoryAws` with the runs' calls interleaved by seed.
/// In the end, over every seed: no run failed for good, every pointer names the newest AMI
/// (the fixed-version parameter at version 1), no AMI is in two launch template versions, and
/// amikeeper's protection is only on AMIs a pointer names.
#[tokio::test(start_paused = true)]
async fn concurrent_handlers_converge_to_one_version_per_ami_and_no_stray_protection() {
    let seeds: u64 = std::env::var("AMIKEEPER_RACE_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(24);
    let only: Option<u64> = std::env::var("AMIKEEPER_RACE_SEED").ok().and_then(|s| s.parse().ok());
    let mut failed = Vec::new();
    for seed in (0..seeds).filter(|s| only.is_none_or(|only| only == *s)) {
        let wrong = race(seed).await;
        if !wrong.is_empty() {
            failed.push(format!("seed {seed}:\n  {}", wrong.join("\n  ")));
        }
    }
    assert!(failed.is_empty(), "{} of {seeds} seeds did not converge:\n{}", failed.len(), failed.join("\n"));
}
