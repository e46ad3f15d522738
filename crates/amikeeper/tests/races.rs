//! What another run left half done, as a run finds it: versions of a launch template made by
//! other runs that have not made them the default yet.

use std::sync::Arc;

use amikeeper::backend::Ec2Api;
use amikeeper::memory::ImageSeed;
use amikeeper::model::{Region, Tags};
use amikeeper::publish::Status;
use amikeeper::samples::Origin;
use amikeeper::{Config, HandleOptions, Keeper, MemoryAws};

const ACCOUNT: &str = "111122223333";
const REGION: &str = "eu-west-1";

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
    aws.create_launch_template_version(&region, &template.id, 1, &newest, "another run").await.unwrap();
    aws.create_launch_template_version(&region, &template.id, 1, &older, "a third run").await.unwrap();

    let config = Config::from_toml(
        r#"
        accounts = ["111122223333"]
        protect_published = false
        [[rules]]
        name = "web"
        [rules.match]
        name_prefix = "web-"
        [[rules.targets]]
        kind = "launch_template"
        name = "web"
        "#,
    )
    .unwrap();
    let keeper = Keeper::new(config, aws.clone());
    let event = Origin::new(ACCOUNT, REGION, "e1").image_state_change(ours.as_str(), "available");
    let reports = keeper.handle_payload(event.to_string().as_bytes(), &HandleOptions::default()).await.unwrap();
    let target = &reports[0].targets[0];
    assert_eq!(target.outcome.status, Status::Skipped, "{target:#?}");
    assert!(target.outcome.reason.contains(newest.as_str()), "{}", target.outcome.reason);
    let versions = aws.launch_template_versions(REGION, &template.id);
    assert_eq!(versions.len(), 3, "no version made: {versions:?}");
    assert!(versions.iter().any(|v| v.number == 1 && v.is_default), "{versions:?}");
}
