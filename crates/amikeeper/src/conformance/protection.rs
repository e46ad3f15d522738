//! Deregistration protection follows the pointers: handles, rollbacks and sweeps.

use super::{config, run, statuses, sweep, sweep_config, Fixture, ImageSpec, SweepFixture, MAIN_REGION};
use crate::model::{ImageId, LaunchTemplateSpec, Region};
use crate::publish::Status;
use crate::retain::SweepReport;
use crate::retain::SweepStatus;
use crate::rollback::{RollbackOptions, RollbackStatus};
use crate::samples::Origin;
use crate::{Config, Keeper};

/// The configuration of [`protection_follows_the_pointers`] (in the fixture's account).
pub const PROTECTED_PARAMETER: &str = crate::testing::configs::PROTECTED_PARAMETER;

/// Protection follows the pointer: a handle protects the AMI it publishes and releases
/// amikeeper's protection on the one the pointer left; a rollback does the same the other way;
/// a sweep releases amikeeper's protection on an AMI no pointer names any more (the parameter
/// was moved by hand).
pub async fn protection_follows_the_pointers(f: &dyn SweepFixture) {
    let r = MAIN_REGION;
    let text = config(&f.account(), PROTECTED_PARAMETER);
    let first = f.image(r, ImageSpec::named("c009-first")).await;
    let second = f.image(r, ImageSpec::named("c009-second")).await;
    let by_hand = f.image(r, ImageSpec::named("c009-by-hand")).await;
    let origin = Origin::new(&f.account(), r, "c009");

    let report = run(f, &text, origin.backup_job(first.as_str(), "i-0123456789abcdef0", "COMPLETED")).await;
    assert_eq!(statuses(&report), [Status::Updated], "{report:#?}");
    assert!(f.own_image_protected(r, &first).await);
    assert!(report.released.is_empty(), "{report:#?}");

    let report = run(f, &text, origin.backup_job(second.as_str(), "i-0123456789abcdef0", "COMPLETED")).await;
    assert_eq!(statuses(&report), [Status::Updated], "{report:#?}");
    assert!(f.own_image_protected(r, &second).await);
    assert!(!f.own_image_protected(r, &first).await, "the AMI the parameter left is released: {report:#?}");
    assert_eq!(
        report.released,
        [format!("released {first}'s deregistration protection: no pointer moved names it now")]
    );
    // DescribeImages (event), GetParameter, DescribeImages (current), PutParameter,
    // EnableImageDeregistrationProtection, CreateTags (claim), GetParameter (the pointer still
    // names it), DescribeImages (the AMI it left, afresh: another run may have protected it
    // since), CreateTags (claim withdrawn), DisableImageDeregistrationProtection.
    assert_eq!(report.aws_calls, 10, "{:?}", report.aws_calls_by_operation);

    let keeper = Keeper::new(Config::from_toml(&text).expect("valid"), f.aws());
    let targets = ["ssm_parameter:/ami/app".parse().expect("a target")];
    let rolled = keeper.rollback(&Region::from(r), &targets, &RollbackOptions::default()).await;
    assert_eq!(rolled.status, RollbackStatus::Ok, "{rolled:#?}");
    assert_eq!(f.parameter(r, "/ami/app").await.map(|(value, _)| value), Some(first.to_string()));
    assert!(f.own_image_protected(r, &first).await, "the AMI rolled back to is protected again");
    assert!(!f.own_image_protected(r, &second).await, "the bad AMI is released: {rolled:#?}");

    // Someone moves the parameter by hand: the sweep finds `first` protected by amikeeper and
    // named by no pointer, and releases it; it leaves `by_hand` (not amikeeper's) alone.
    f.set_parameter(r, "/ami/app", by_hand.as_str()).await;
    let config = sweep_config(&f.account(), PROTECTED_PARAMETER);
    let planned = sweep(f, &config, false).await;
    assert_eq!(planned.plan.release_protection, std::slice::from_ref(&first), "{:#?}", planned.plan);
    assert!(f.own_image_protected(r, &first).await, "a plan changes nothing");
    let applied = sweep(f, &config, true).await;
    assert_eq!(applied.summary.protection_released, 1, "{:#?}", applied.results);
    assert_eq!(applied.plan.retirements().count(), 0, "keep_newest = 10 keeps all three");
    assert!(!f.own_image_protected(r, &first).await);
    let again = sweep(f, &config, false).await;
    assert!(again.plan.release_protection.is_empty(), "converged: {:#?}", again.plan);
}

/// The configuration of [`protection_someone_else_set_is_kept`] (in the fixture's account).
pub(crate) const PROTECTED_ONE_KEPT: &str = crate::testing::configs::PROTECTED_ONE_KEPT;

/// The value of amikeeper's claim tag on an image, read through the backend.
async fn protection_claim(f: &dyn Fixture, region: &str, image: &ImageId) -> Option<String> {
    let described = f.aws().describe_image(&Region::from(region), image).await.expect("DescribeImages");
    described.expect("the image exists").tags.get(crate::model::PROTECTED_TAG).cloned()
}

/// Issue 15, finding 2: amikeeper's claim on a protection never outlives the protection.
/// A, then B, then C are published (the parameter leaving A releases A's protection), then an
/// operator protects A by hand: the sweep keeps A and leaves its protection on. And a
/// protection of amikeeper's that someone turned off and on again, with a sweep in between,
/// is theirs from then on: neither a handle nor a sweep turns it off.
pub async fn protection_someone_else_set_is_kept(f: &dyn SweepFixture) {
    let r = MAIN_REGION;
    let region = Region::from(r);
    let text = config(&f.account(), PROTECTED_ONE_KEPT);
    let sweep_config = sweep_config(&f.account(), PROTECTED_ONE_KEPT);
    let origin = Origin::new(&f.account(), r, "c015");
    let mut images = Vec::new();
    for name in ["c015-a", "c015-b", "c015-c", "c015-d"] {
        images.push(f.image(r, ImageSpec::named(name)).await);
    }
    let [a, b, c, d] = <[ImageId; 4]>::try_from(images).expect("four images");
    let publish = |image: &ImageId| origin.backup_job(image.as_str(), "i-0123456789abcdef0", "COMPLETED");
    for image in [&a, &b, &c] {
        let report = run(f, &text, publish(image)).await;
        assert_eq!(statuses(&report), [Status::Updated], "{report:#?}");
    }
    assert!(!f.own_image_protected(r, &a).await && !f.own_image_protected(r, &b).await);
    assert!(f.own_image_protected(r, &c).await);
    assert_eq!(protection_claim(f, r, &a).await.as_deref(), Some(crate::model::PROTECTION_RELEASED));

    // An operator protects A by hand (EnableImageDeregistrationProtection, no tag).
    f.aws().set_deregistration_protection(&region, &a, true).await.expect("protect by hand");
    let swept = sweep(f, &sweep_config, true).await;
    let judged = |report: &SweepReport, image: &ImageId| {
        report.plan.images.iter().find(|d| &d.image_id == image).map(|d| d.reason.clone())
    };
    assert_eq!(judged(&swept, &a), Some(crate::retain::Reason::Protected), "{:#?}", swept.plan.images);
    assert!(swept.plan.release_protection.is_empty(), "{:#?}", swept.plan);
    assert!(f.own_image_protected(r, &a).await, "the operator's protection stays on: {:#?}", swept.results);
    let left: Vec<ImageId> = f.own_images(r).await.into_iter().map(|i| i.id).collect();
    assert!(left.contains(&a) && left.contains(&c), "{left:?}");
    // B is neither used nor protected: whether it goes is the plan's business, not protection's.
    assert_ne!(judged(&swept, &b), Some(crate::retain::Reason::Protected), "{:#?}", swept.plan.images);

    // Someone turns C's protection (amikeeper's) off: the sweep withdraws amikeeper's claim.
    f.aws().set_deregistration_protection(&region, &c, false).await.expect("unprotect by hand");
    let planned = sweep(f, &sweep_config, false).await;
    assert_eq!(planned.plan.withdraw_protection_claims, std::slice::from_ref(&c), "{:#?}", planned.plan);
    let applied = sweep(f, &sweep_config, true).await;
    assert_eq!(applied.status, SweepStatus::Ok, "{:#?}", applied.results);
    assert_eq!(protection_claim(f, r, &c).await.as_deref(), Some(crate::model::PROTECTION_RELEASED));
    // They turn it on again: it is theirs now. The parameter moving to D leaves it on.
    f.aws().set_deregistration_protection(&region, &c, true).await.expect("protect by hand");
    let report = run(f, &text, publish(&d)).await;
    assert_eq!(statuses(&report), [Status::Updated], "{report:#?}");
    assert!(f.own_image_protected(r, &c).await, "{report:#?}");
    assert!(report.released.iter().any(|r| r.contains("not amikeeper's")), "{report:#?}");
    let swept = sweep(f, &sweep_config, true).await;
    assert_eq!(judged(&swept, &c), Some(crate::retain::Reason::Protected), "{:#?}", swept.plan.images);
    assert!(f.own_image_protected(r, &c).await);
    let again = sweep(f, &sweep_config, false).await;
    assert!(again.plan.withdraw_protection_claims.is_empty() && again.plan.release_protection.is_empty());
}

/// The configuration of [`rollback_with_a_group_releases_the_bad_ami`] (in the fixture's
/// account).
pub(crate) const ROLLBACK_WITH_GROUP: &str = crate::testing::configs::ROLLBACK_WITH_GROUP;

/// Issue 15, finding 3: a rollback releases amikeeper's protection on the AMI the pointers
/// left, by AMI, whatever the kind of target: an Auto Scaling group's pointer is a launch
/// template version, and what counts is the AMI it launches after the rollback.
pub async fn rollback_with_a_group_releases_the_bad_ami(f: &dyn SweepFixture) {
    let r = MAIN_REGION;
    let text = config(&f.account(), ROLLBACK_WITH_GROUP);
    let good = f.image(r, ImageSpec::named("c016-good")).await;
    let bad = f.image(r, ImageSpec::named("c016-bad")).await;
    let template = f.launch_template(r, "c016-web", &good).await;
    f.auto_scaling_group(r, "c016-web", LaunchTemplateSpec { id: template.clone(), version: "1".into() }).await;
    let origin = Origin::new(&f.account(), r, "c016");
    let report = run(f, &text, origin.backup_job(bad.as_str(), "i-0123456789abcdef0", "COMPLETED")).await;
    assert_eq!(statuses(&report), [Status::Updated, Status::Updated], "{report:#?}");
    assert_eq!(f.group_template(r, "c016-web").await.map(|s| s.version), Some("2".to_owned()));
    assert!(f.own_image_protected(r, &bad).await, "{report:#?}");

    let keeper = Keeper::new(Config::from_toml(&text).expect("valid"), f.aws());
    let targets = [
        "launch_template:c016-web".parse().expect("a target"),
        "auto_scaling_group:c016-web".parse().expect("a target"),
    ];
    let rolled = keeper.rollback(&Region::from(r), &targets, &RollbackOptions::default()).await;
    assert_eq!(rolled.status, RollbackStatus::Ok, "{rolled:#?}");
    assert_eq!(f.template_state(r, &template).await.default_version, 1);
    assert_eq!(f.group_template(r, "c016-web").await.map(|s| s.version), Some("1".to_owned()));
    assert!(f.own_image_protected(r, &good).await, "the AMI rolled back to is protected: {rolled:#?}");
    assert!(!f.own_image_protected(r, &bad).await, "the bad AMI is released: {rolled:#?}");
    assert_eq!(protection_claim(f, r, &bad).await.as_deref(), Some(crate::model::PROTECTION_RELEASED));
}
