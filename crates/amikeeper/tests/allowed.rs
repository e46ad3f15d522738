//! Allowed AMIs on `MemoryAws`: a pointer never moves to an AMI the account's setting keeps
//! from launching (`enabled`: refused, nothing written), moves with a warning in audit mode,
//! and moves as before when the setting is disabled or the AMI is allowed. The AMIs judged are
//! another account's, shared with this one: the account's own AMIs are always allowed.

use std::sync::Arc;

use amikeeper::backend::Ec2Api;
use amikeeper::memory::ImageSeed;
use amikeeper::model::{AllowedImagesState, ImageCriterion, ImageId, Region};
use amikeeper::publish::Status;
use amikeeper::rollback::RollbackStatus;
use amikeeper::rollback::{RollbackOptions, RollbackTarget};
use amikeeper::samples::Origin;
use amikeeper::{Config, HandleOptions, Keeper, MemoryAws, Report, RunStatus};

const ACCOUNT: &str = "111122223333";
const PROVIDER: &str = "444455556666";
const REGION: &str = "eu-west-1";
const PARAMETER: &str = "/ami/golden";

/// This account, and an AMI `golden-1` that another account (the provider) shares with it.
async fn shared_golden_ami() -> (Arc<MemoryAws>, Arc<MemoryAws>, ImageId) {
    let me = Arc::new(MemoryAws::new(ACCOUNT));
    let provider = Arc::new(MemoryAws::new(PROVIDER));
    // In EC2, AMI ids are unique across accounts; each MemoryAws counts its own from 1.
    let image = provider.add_image(REGION, ImageSeed::new("golden-1").id("ami-0900000000000beef"));
    provider.share_image(&Region::from(REGION), &image, me.account_id()).await.unwrap();
    me.add_sharing_account(&provider);
    (me, provider, image)
}

/// A keeper whose rule publishes `images` to the parameter.
fn keeper(aws: &Arc<MemoryAws>, images: &[&ImageId]) -> Keeper {
    keeper_with(aws, images, "")
}

/// A keeper whose rule publishes `images` to the parameter, with `extra` rule settings.
fn keeper_with(aws: &Arc<MemoryAws>, images: &[&ImageId], extra: &str) -> Keeper {
    let ids: Vec<String> = images.iter().map(|id| format!("\"{id}\"")).collect();
    let config = Config::from_toml(&format!(
        "accounts = [\"{ACCOUNT}\"]\n[[rules]]\nname = \"golden\"\n{extra}\n\
         [rules.match]\nimage_ids = [{}]\n[[rules.targets]]\nkind = \"ssm_parameter\"\nname = \"{PARAMETER}\"\n",
        ids.join(", ")
    ))
    .unwrap();
    Keeper::new(config, aws.clone())
}

/// The `EC2 AMI State Change` (available) of `image`, in this account.
async fn handle(keeper: &Keeper, image: &ImageId) -> Report {
    let event = Origin::new(ACCOUNT, REGION, "allowed-1").image_state_change(image.as_str(), "available");
    let payload = serde_json::to_vec(&event).unwrap();
    let mut reports = keeper.handle_payload(&payload, &HandleOptions::default()).await.unwrap();
    assert_eq!(reports.len(), 1);
    reports.remove(0)
}

/// A provider other than the golden AMI's: criteria naming only it do not allow the AMI.
const OTHER_PROVIDER: &str = "999988887777";

fn by_provider(account: &str) -> ImageCriterion {
    ImageCriterion { image_providers: vec![account.to_owned()], ..Default::default() }
}

/// The account's Allowed AMIs setting in `REGION`: `state`, with criteria that allow the AMIs of
/// `providers` only.
fn set_allowed_images(aws: &MemoryAws, state: AllowedImagesState, providers: &[&str]) {
    aws.set_allowed_images_state(REGION, state);
    aws.replace_image_criteria(REGION, providers.iter().map(|account| by_provider(account)).collect());
}

/// The run of a keeper whose rule publishes `image` to the parameter, on `image`'s event.
async fn publish(aws: &Arc<MemoryAws>, image: &ImageId) -> Report {
    handle(&keeper(aws, &[image]), image).await
}

/// The run went through and the parameter names `image`.
fn assert_published(aws: &MemoryAws, report: &Report, image: &ImageId) {
    assert_eq!(report.status, RunStatus::Ok, "{report:?}");
    assert_eq!(aws.parameter(REGION, PARAMETER).unwrap().value, image.as_str());
}

fn writes(aws: &MemoryAws) -> Vec<String> {
    let reads = ["ec2:DescribeImages", "ec2:GetAllowedImagesSettings", "ssm:GetParameter", "ssm:GetParameterHistory"];
    aws.calls().into_iter().filter(|call| !reads.contains(&call.as_str())).collect()
}

#[tokio::test]
async fn enabled_and_not_allowed_is_refused_and_nothing_is_written() {
    let (me, _provider, image) = shared_golden_ami().await;
    set_allowed_images(&me, AllowedImagesState::Enabled, &[OTHER_PROVIDER]);
    let report = publish(&me, &image).await;
    // EC2 does not show an AMI that is not allowed while the setting is enabled.
    assert_eq!(report.status, RunStatus::Refused, "{report:?}");
    let reason = report.reason.as_deref().unwrap();
    assert!(reason.contains("Allowed AMIs is enabled") && reason.contains(image.as_str()), "{reason}");
    assert!(me.parameter(REGION, PARAMETER).is_none());
    assert_eq!(writes(&me), Vec::<String>::new());
    assert_eq!(me.call_count("ec2:GetAllowedImagesSettings"), 1);
}

#[tokio::test]
async fn enabled_and_shown_but_flagged_is_refused_per_target() {
    // EC2 shows a flagged AMI while enabled only in a race with a change of the setting; the
    // targets are refused all the same. Here the describe sees audit mode, the check enabled.
    let (me, _provider, image) = shared_golden_ami().await;
    set_allowed_images(&me, AllowedImagesState::AuditMode, &[OTHER_PROVIDER]);
    let described = me.describe_image(&Region::from(REGION), &image).await.unwrap().unwrap();
    assert_eq!(described.allowed, Some(false));
    me.set_allowed_images_state(REGION, AllowedImagesState::Enabled);
    let verdict = amikeeper::allowed::check(me.as_ref(), &Region::from(REGION), &described).await.unwrap();
    assert!(matches!(verdict, amikeeper::allowed::Verdict::Refuse(r) if r.contains("instances cannot launch")));
}

#[tokio::test]
async fn enabled_and_allowed_is_published() {
    let (me, _provider, image) = shared_golden_ami().await;
    set_allowed_images(&me, AllowedImagesState::Enabled, &[OTHER_PROVIDER, PROVIDER]);
    let report = publish(&me, &image).await;
    assert_published(&me, &report, &image);
    assert_eq!(report.targets[0].outcome.status, Status::Updated);
    assert!(report.warnings.is_empty());
    // EC2 said the AMI is allowed: nothing else needed asking.
    assert_eq!(me.call_count("ec2:GetAllowedImagesSettings"), 0);
}

#[tokio::test]
async fn audit_mode_and_not_allowed_is_published_with_a_warning() {
    let (me, _provider, image) = shared_golden_ami().await;
    set_allowed_images(&me, AllowedImagesState::AuditMode, &[OTHER_PROVIDER]);
    let report = publish(&me, &image).await;
    assert_published(&me, &report, &image);
    assert_eq!(report.targets[0].outcome.status, Status::Updated);
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    assert!(report.warnings[0].contains("audit mode") && report.warnings[0].contains(image.as_str()));
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["warnings"][0], report.warnings[0].as_str());
}

#[tokio::test]
async fn disabled_is_published_without_asking() {
    let (me, _provider, image) = shared_golden_ami().await;
    // Criteria that would not allow it are set, but the setting is off.
    me.replace_image_criteria(REGION, vec![by_provider(OTHER_PROVIDER)]);
    let report = publish(&me, &image).await;
    assert_published(&me, &report, &image);
    assert!(report.warnings.is_empty());
    assert!(serde_json::to_value(&report).unwrap().get("warnings").is_none());
    assert_eq!(me.call_count("ec2:GetAllowedImagesSettings"), 0);
}

#[tokio::test]
async fn the_accounts_own_amis_are_always_allowed() {
    let me = Arc::new(MemoryAws::new(ACCOUNT));
    let image = me.add_image(REGION, ImageSeed::new("own-1"));
    set_allowed_images(&me, AllowedImagesState::Enabled, &["none"]);
    let report = publish(&me, &image).await;
    assert_published(&me, &report, &image);
    assert_eq!(me.call_count("ec2:GetAllowedImagesSettings"), 0);
}

#[tokio::test]
async fn an_unreadable_setting_refuses_only_what_ec2_flags() {
    // Audit mode, and no permission to read the setting: EC2 flags the AMI, and amikeeper cannot
    // tell audit mode from enabled, so it refuses rather than guess.
    let (me, _provider, image) = shared_golden_ami().await;
    set_allowed_images(&me, AllowedImagesState::AuditMode, &[OTHER_PROVIDER]);
    me.set_allowed_images_settings_error(Some("UnauthorizedOperation"));
    let copying = keeper_with(&me, &[&image], "copy_to = [\"eu-central-1\"]");
    let report = handle(&copying, &image).await;
    assert_eq!(report.status, RunStatus::Refused, "{report:?}");
    let reason = &report.targets[0].outcome.reason;
    assert!(reason.contains("UnauthorizedOperation") && reason.contains("ec2:GetAllowedImagesSettings"), "{reason}");
    assert!(me.parameter(REGION, PARAMETER).is_none());
    assert!(report.copies.is_empty(), "an AMI refused is not copied either: {:?}", report.copies);
    assert_eq!(writes(&me), Vec::<String>::new());

    // An AMI EC2 does not flag is published: a missing permission does not block every publish.
    me.set_allowed_images_state(REGION, AllowedImagesState::Disabled);
    let report = publish(&me, &image).await;
    assert_published(&me, &report, &image);
}

#[tokio::test]
async fn a_missing_ami_is_refused_as_the_events_fault_when_the_setting_is_off() {
    let me = Arc::new(MemoryAws::new(ACCOUNT));
    let gone = ImageId::from("ami-0000000000000dead");
    let report = publish(&me, &gone).await;
    // Refused, not failed: a retry cannot make the AMI exist (the exit-code table: 2).
    assert_eq!(report.status, RunStatus::Refused, "{report:?}");
    assert!(report.reason.as_deref().unwrap().contains("InvalidAMIID.NotFound"), "{report:?}");
}

#[tokio::test]
async fn a_throttled_settings_read_is_retried() {
    use amikeeper::memory::{Fault, FaultKind};
    let (me, _provider, image) = shared_golden_ami().await;
    me.set_allowed_images_state(REGION, AllowedImagesState::AuditMode);
    me.inject(Fault::on("ec2:GetAllowedImagesSettings", FaultKind::Throttling));
    let report = publish(&me, &image).await;
    assert_eq!(report.status, RunStatus::Ok, "{report:?}");
    assert_eq!(report.warnings.len(), 1);
    assert_eq!(me.call_count("ec2:GetAllowedImagesSettings"), 2);
}

#[tokio::test]
async fn rollback_to_an_ami_that_cannot_launch_is_refused() {
    let (me, _provider, golden) = shared_golden_ami().await;
    let own = me.add_image(REGION, ImageSeed::new("own-1"));
    me.set_parameter(REGION, PARAMETER, own.as_str()).unwrap();
    set_allowed_images(&me, AllowedImagesState::Enabled, &[OTHER_PROVIDER]);
    let keeper = keeper(&me, &[&golden]);
    let targets: Vec<RollbackTarget> = vec![format!("ssm_parameter:{PARAMETER}").parse().unwrap()];
    let options = RollbackOptions::default().to(golden.clone());
    let report = keeper.rollback(&Region::from(REGION), &targets, &options).await;
    assert_eq!(report.status, RollbackStatus::Refused, "{report:?}");
    assert_eq!(report.targets[0].outcome.status, Status::Refused);
    assert!(report.targets[0].outcome.reason.contains("Allowed AMIs is enabled"), "{report:?}");
    assert_eq!(me.parameter(REGION, PARAMETER).unwrap().value, own.as_str(), "nothing written");

    // In audit mode the rollback goes ahead, and says what enabling the setting would do.
    me.set_allowed_images_state(REGION, AllowedImagesState::AuditMode);
    let report = keeper.rollback(&Region::from(REGION), &targets, &options).await;
    assert_eq!(report.status, RollbackStatus::Ok, "{report:?}");
    assert_eq!(me.parameter(REGION, PARAMETER).unwrap().value, golden.as_str());
    assert_eq!(report.warnings.len(), 1, "{report:?}");
    assert!(report.warnings[0].contains("audit mode"));
}
