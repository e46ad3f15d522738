//! Whose deregistration protection is it? amikeeper turns off only the protection it holds,
//! and its claim (the `amikeeper:protected` tag) never outlives the protection: after a
//! release, a failed or interrupted release, or someone else turning the protection off and
//! on again, a protection amikeeper cannot prove is its own is someone else's, and the sweep
//! keeps the AMI (issue 15, finding 2).

use std::sync::Arc;

use amikeeper::backend::Ec2Api;
use amikeeper::memory::{Fault, FaultKind, ImageSeed};
use amikeeper::model::{ImageId, ImageState, Region, PROTECTED_TAG};
use amikeeper::retain::Reason;
use amikeeper::retain::SweepStatus;
use amikeeper::samples::Origin;
use amikeeper::{Keeper, MemoryAws, Report, SweepOptions, SweepReport};
use time::Duration;

use amikeeper::testing::{configs, keeper, ACCOUNT, REGION};

const CONFIG: &str = configs::APP_PARAMETER_KEEP_ONE;

struct World {
    aws: Arc<MemoryAws>,
    keeper: Keeper,
    region: Region,
}

impl World {
    fn new() -> Self {
        let aws = Arc::new(MemoryAws::new(ACCOUNT));
        let keeper = keeper(CONFIG, &aws);
        Self { aws, keeper, region: Region::from(REGION) }
    }

    /// A new AMI, ten days after the previous one.
    fn image(&self, name: &str) -> ImageId {
        self.aws.advance(Duration::days(10));
        self.aws.add_image(REGION, ImageSeed::new(name))
    }

    /// Handles AWS Backup's event for `image`: the parameter moves to it.
    async fn publish(&self, image: &ImageId) -> Report {
        let event = Origin::new(ACCOUNT, REGION, &format!("job-{image}")).backup_job(
            image.as_str(),
            "i-0123456789abcdef0",
            "COMPLETED",
        );
        let events = amikeeper::events::parse_payload(event.to_string().as_bytes()).expect("event parses");
        self.keeper.handle(&events[0]).await
    }

    async fn sweep(&self, apply: bool) -> SweepReport {
        let options = SweepOptions::default().apply(apply).now(self.aws.now());
        self.keeper.sweep(&self.region, &options).await.expect("sweep runs")
    }

    /// An operator turns the protection on or off by hand (console, CLI): no tag.
    async fn by_hand(&self, image: &ImageId, enabled: bool) {
        self.aws.set_deregistration_protection(&self.region, image, enabled).await.unwrap();
    }

    fn protected(&self, image: &ImageId) -> bool {
        self.aws.image(REGION, image).unwrap().deregistration_protected
    }

    fn claim(&self, image: &ImageId) -> Option<String> {
        self.aws.image(REGION, image).unwrap().tags.get(PROTECTED_TAG).cloned()
    }

    fn state(&self, image: &ImageId) -> ImageState {
        self.aws.image(REGION, image).unwrap().state
    }
}

fn reason(report: &SweepReport, image: &ImageId) -> Reason {
    report.plan.images.iter().find(|d| &d.image_id == image).expect("judged").reason.clone()
}

/// The finding as reported: A, then B, then C are published (amikeeper releases A's
/// protection when the parameter leaves it), then an operator protects A by hand. The sweep
/// must keep A: that protection is the operator's, not amikeeper's.
#[tokio::test(start_paused = true)]
async fn protection_someone_else_set_after_amikeeper_released_is_kept() {
    let w = World::new();
    let [a, b, c] = [w.image("app-a"), w.image("app-b"), w.image("app-c")];
    for image in [&a, &b, &c] {
        let report = w.publish(image).await;
        assert_eq!(report.status, amikeeper::RunStatus::Ok, "{report:#?}");
    }
    assert!(!w.protected(&a) && !w.protected(&b) && w.protected(&c));
    assert_ne!(w.claim(&a).as_deref(), Some("true"), "amikeeper's claim ends with its protection");

    w.by_hand(&a, true).await;
    let report = w.sweep(true).await;
    assert_eq!(reason(&report, &a), Reason::Protected, "{:#?}", report.plan.images);
    assert_eq!(w.state(&a), ImageState::Available);
    assert!(w.protected(&a), "the operator's protection stays on: {:#?}", report.results);
    assert_eq!(w.state(&b), ImageState::Deregistered, "B is neither used nor protected");
    assert_eq!(w.state(&c), ImageState::Available);
    assert_eq!(w.aws.call_count("ec2:DisableImageDeregistrationProtection"), 2, "only A's and B's releases");
}

/// A release that fails after amikeeper withdrew its claim (a server error: EC2 may or may not
/// have turned the protection off) leaves a protection without a claim: someone else's from
/// then on, so the sweep keeps the AMI, and the report says how to turn it off by hand.
#[tokio::test(start_paused = true)]
async fn a_release_that_fails_midway_leaves_the_ami_kept() {
    let w = World::new();
    let [a, b, c] = [w.image("app-a"), w.image("app-b"), w.image("app-c")];
    w.publish(&a).await;
    w.aws.inject(Fault::on("ec2:DisableImageDeregistrationProtection", FaultKind::ServerError));
    let report = w.publish(&b).await;
    assert_eq!(report.released.len(), 1, "{report:#?}");
    assert!(report.released[0].contains("turn it off by hand"), "{report:#?}");
    assert!(w.protected(&a));
    assert_eq!(w.claim(&a).as_deref(), Some("released"), "withdrawn before the protection was touched");

    w.publish(&c).await;
    let report = w.sweep(true).await;
    assert_eq!(reason(&report, &a), Reason::Protected, "{:#?}", report.plan.images);
    assert!(report.plan.release_protection.is_empty(), "{:#?}", report.plan);
    assert_eq!(w.state(&a), ImageState::Available);
    assert_eq!(w.state(&b), ImageState::Deregistered);
}

/// When EC2 answers that it did not turn the protection off (throttled past every retry), the
/// protection is still on and still amikeeper's: the claim is made again, and the next sweep
/// finishes the release.
#[tokio::test(start_paused = true)]
async fn a_release_ec2_refused_is_claimed_again_and_retried() {
    let w = World::new();
    let [a, b] = [w.image("app-a"), w.image("app-b")];
    w.publish(&a).await;
    // The parameter moves to B by hand: A is amikeeper's and named by no pointer.
    w.aws.set_parameter(REGION, "/ami/app", b.as_str()).unwrap();
    let attempts = amikeeper::retain::ATTEMPTS;
    w.aws.inject(Fault::on("ec2:DisableImageDeregistrationProtection", FaultKind::Throttling).times(attempts));
    // keep_newest = 1: the plan deletes A, letting go of its protection first.
    let report = w.sweep(true).await;
    let failed = report.results.iter().find(|r| r.resource == a.as_str()).expect("A was acted on");
    assert_eq!(failed.status, amikeeper::retain::ItemStatus::Failed, "{:#?}", report.results);
    assert!(failed.detail.as_deref().unwrap_or_default().contains("still amikeeper's"), "{failed:#?}");
    assert!(w.protected(&a));
    assert_eq!(w.claim(&a).as_deref(), Some("true"), "claimed again");

    let report = w.sweep(true).await;
    assert_eq!(report.status, SweepStatus::Ok, "{:#?}", report.results);
    assert_eq!(w.state(&a), ImageState::Deregistered);
}

/// A crash between withdrawing the claim and turning the protection off, or between turning a
/// protection on and claiming it, leaves a protection without a claim: kept, never deleted.
#[tokio::test(start_paused = true)]
async fn a_protection_without_a_claim_is_kept() {
    let w = World::new();
    let [a, b, c] = [w.image("app-a"), w.image("app-b"), w.image("app-c")];
    w.publish(&c).await;
    // A: the claim was withdrawn, then the run died. B: protected, then the run died.
    w.by_hand(&a, true).await;
    let released = [(PROTECTED_TAG.to_owned(), "released".to_owned())].into();
    w.aws.create_tags(&w.region, &[a.to_string()], &released).await.unwrap();
    w.by_hand(&b, true).await;
    let report = w.sweep(true).await;
    assert_eq!(report.status, SweepStatus::Ok, "{:#?}", report.results);
    for image in [&a, &b] {
        assert_eq!(reason(&report, image), Reason::Protected, "{:#?}", report.plan.images);
        assert_eq!(w.state(image), ImageState::Available);
        assert!(w.protected(image));
    }
}

/// Someone turns amikeeper's protection off and on again with the 24-hour cooldown before any
/// sweep sees it off: amikeeper never turns protection on with a cooldown, so the protection
/// is theirs although the claim is still there. The sweep keeps the AMI and withdraws the
/// claim.
#[tokio::test(start_paused = true)]
async fn a_protection_turned_on_again_with_a_cooldown_is_someone_elses() {
    let w = World::new();
    let [a, b] = [w.image("app-a"), w.image("app-b")];
    w.publish(&a).await;
    w.by_hand(&a, false).await;
    w.aws.enable_deregistration_protection(REGION, &a, true);
    assert_eq!(w.claim(&a).as_deref(), Some("true"));
    let report = w.publish(&b).await;
    assert!(w.protected(&a), "the handle leaves it on: {report:#?}");
    assert!(report.released[0].contains("not amikeeper's"), "{report:#?}");
    assert_eq!(w.claim(&a).as_deref(), Some("released"), "the handle withdrew the claim: {report:#?}");

    w.aws
        .create_tags(&w.region, &[a.to_string()], &[(PROTECTED_TAG.to_owned(), "true".to_owned())].into())
        .await
        .unwrap();
    let report = w.sweep(true).await;
    assert_eq!(reason(&report, &a), Reason::Protected, "{:#?}", report.plan.images);
    assert_eq!(report.plan.withdraw_protection_claims, std::slice::from_ref(&a));
    assert!(w.protected(&a));
    assert_eq!(w.claim(&a).as_deref(), Some("released"));
    assert_eq!(w.aws.call_count("ec2:DisableImageDeregistrationProtection"), 1, "only the operator's");
}
