//! Rejection and revocation on `MemoryAws`: a rejected AMI (or a copy of one) is never
//! published again, in every kind of pointer; `revoke` moves every pointer that names an AMI or
//! its `copy_to` copy back to the newest earlier AMI that is not rejected, and marks them.

use std::collections::BTreeMap;
use std::sync::Arc;

use amikeeper::memory::{Fault, FaultKind, ImageSeed};
use amikeeper::model::{ImageId, ImageState, LaunchTemplateSpec, Tags};
use amikeeper::publish::{Refusal, Status};
use amikeeper::reject::{self, Rejection, REJECTED_AT_TAG, REJECTED_TAG};
use amikeeper::report::{Report, RunStatus};
use amikeeper::revoke::{FoundBy, ImageAction, RevokeOptions, RevokeReport, RevokeStatus};
use amikeeper::samples::Origin;
use amikeeper::testing::{configs, keeper, ACCOUNT};
use amikeeper::{HandleOptions, Keeper, MemoryAws};
use time::macros::datetime;
use time::Duration;

const MAIN: &str = "ap-northeast-1";
const DR: &str = "ap-northeast-3";

/// Rule `web` of [`configs::REVOKE`] with its four pointers in `MAIN` and in `DR`, each at
/// `web-0` (its copy in `DR`), then moved to each newer AMI as it is handled.
struct World {
    aws: Arc<MemoryAws>,
    keeper: Keeper,
    /// The AMIs handled in `MAIN`, oldest first.
    images: Vec<ImageId>,
    /// Their copies in `DR`, in the same order.
    copies: Vec<ImageId>,
}

impl World {
    async fn new() -> Self {
        Self::with(configs::REVOKE).await
    }

    /// The world with this configuration (rule `web` of [`configs::REVOKE`] and more).
    async fn with(config: &str) -> Self {
        let aws = Arc::new(MemoryAws::new(ACCOUNT));
        let keeper = keeper(config, &aws);
        let mut world = World { aws, keeper, images: Vec::new(), copies: Vec::new() };
        world.release().await;
        for region in [MAIN, DR] {
            let base = if region == MAIN { &world.images[0] } else { &world.copies[0] };
            let template = world.aws.create_launch_template(region, "web", Some(base.clone()), Tags::new());
            let spec = LaunchTemplateSpec { id: template.id.clone(), version: "1".into() };
            world.aws.create_auto_scaling_group(region, "web-asg", spec, Tags::new());
            world.aws.create_stack(region, "web", BTreeMap::from([("ImageId".to_owned(), base.to_string())]));
            world.aws.set_parameter(region, "/ami/web", base.as_str()).unwrap();
        }
        world
    }

    /// A new `web-N` AMI in `MAIN`, handled there (copied to `DR`), and its copy handled in `DR`.
    async fn release(&mut self) -> (Report, Report) {
        self.aws.advance(Duration::days(1));
        let name = format!("web-{}", self.images.len());
        let image = self.aws.add_image(MAIN, ImageSeed::new(&name));
        let main = self.available(MAIN, &image).await;
        let copy = main.copies.first().and_then(|c| c.image_id.clone());
        self.images.push(image);
        let Some(copy) = copy else { return (main.clone(), main) };
        self.aws.complete_pending_images();
        let dr = self.available(DR, &copy).await;
        self.copies.push(copy);
        (main, dr)
    }

    /// `image`'s state change to available in `region`, handled.
    async fn available(&self, region: &str, image: &ImageId) -> Report {
        let event =
            Origin::new(ACCOUNT, region, &format!("{region}-{image}")).image_state_change(image.as_str(), "available");
        let options = HandleOptions::default();
        let mut reports = self.keeper.handle_payload(event.to_string().as_bytes(), &options).await.expect("parses");
        reports.remove(0)
    }

    /// What the four pointers of `region` name: the parameter, the template's default version,
    /// the version the group launches, the stack parameter.
    fn pointers(&self, region: &str) -> [String; 4] {
        let parameter = self.aws.parameter(region, "/ami/web").unwrap().value;
        let group = self.aws.auto_scaling_group(region, "web-asg").unwrap().launch_template.unwrap();
        let versions = self.aws.launch_template_versions(region, &group.id);
        let template = self.aws.launch_template(region, &group.id).unwrap();
        let version = |number: i64| {
            let version = versions.iter().find(|v| v.number == number).unwrap();
            version.image_id.as_ref().map(ToString::to_string).unwrap_or_default()
        };
        let launched = match group.version.as_str() {
            "$Latest" => version(template.latest_version),
            "$Default" => version(template.default_version),
            number => version(number.parse().unwrap()),
        };
        let stack = self.aws.stack(region, "web").unwrap().parameters["ImageId"].clone();
        [parameter, version(template.default_version), launched, stack]
    }
}

fn all(image: &ImageId) -> [String; 4] {
    [(); 4].map(|()| image.to_string())
}

#[tokio::test(start_paused = true)]
async fn every_kind_of_pointer_moves_with_the_releases_in_both_regions() {
    let mut world = World::new().await;
    let (main, dr) = world.release().await;
    assert_eq!((main.status, dr.status), (RunStatus::Ok, RunStatus::Ok), "{main:#?}\n{dr:#?}");
    assert_eq!(world.pointers(MAIN), all(&world.images[1]));
    assert_eq!(world.pointers(DR), all(&world.copies[1]));
    let copy = world.aws.image(DR, &world.copies[1]).unwrap();
    assert_eq!(copy.source_image_id.as_ref(), Some(&world.images[1]), "EC2 reports a copy's source");
}

#[tokio::test(start_paused = true)]
async fn a_rejected_ami_is_refused_in_every_kind_of_pointer_and_nothing_moves() {
    let world = World::new().await;
    world.aws.advance(Duration::days(1));
    let bad = world.aws.add_image(MAIN, ImageSeed::new("web-bad"));
    let rejection = Rejection::new("fails its health checks", datetime!(2026-12-05 09:00 UTC));
    reject::mark(world.aws.as_ref(), &MAIN.into(), std::slice::from_ref(&bad), &rejection).await.unwrap();
    let tags = world.aws.image(MAIN, &bad).unwrap().tags;
    assert_eq!(
        (tags[REJECTED_TAG].as_str(), tags[REJECTED_AT_TAG].as_str()),
        ("fails its health checks", "2026-12-05T09:00:00Z")
    );

    let report = world.available(MAIN, &bad).await;
    assert_eq!(report.status, RunStatus::Refused, "{report:#?}");
    let reason = report.reason.as_deref().unwrap();
    assert!(
        reason.contains(&format!("{bad} is rejected at 2026-12-05T09:00:00Z: fails its health checks")),
        "{reason}"
    );
    let kinds: Vec<&str> = report.targets.iter().map(|t| t.target.kind).collect();
    assert_eq!(kinds, ["ssm_parameter", "launch_template", "auto_scaling_group", "stack_parameter"]);
    for target in &report.targets {
        assert_eq!((target.outcome.status, target.outcome.refusal), (Status::Refused, Some(Refusal::Rejected)));
        assert_eq!(target.outcome.reason, reason);
    }
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["targets"][0]["refusal"], "rejected");
    assert!(report.copies.is_empty(), "a rejected AMI is not copied either");
    assert_eq!(world.pointers(MAIN), all(&world.images[0]), "nothing moved");
}

#[tokio::test(start_paused = true)]
async fn a_copy_of_a_rejected_ami_is_refused_by_its_copied_from_tag_or_its_source() {
    let mut world = World::new().await;
    world.release().await;
    // Marked after it was copied: its copy in DR does not carry the mark itself.
    let (bad, copy) = (world.images[1].clone(), world.copies[1].clone());
    let rejection = Rejection::new("a CVE", world.aws.now());
    reject::mark(world.aws.as_ref(), &MAIN.into(), std::slice::from_ref(&bad), &rejection).await.unwrap();

    let report = world.available(DR, &copy).await;
    assert_eq!(report.status, RunStatus::Refused, "{report:#?}");
    assert!(report.targets.iter().all(|t| t.outcome.refusal == Some(Refusal::Rejected)));
    let reason = report.reason.unwrap();
    assert!(reason.contains(&format!("{copy} is a copy of {bad} in {MAIN}")), "{reason}");

    // Without the tag, EC2's SourceImageId finds the source all the same.
    let untagged = world.aws.add_image(DR, ImageSeed::new("web-untagged"));
    let source = world.aws.image(DR, &copy).unwrap();
    let mut copy_image = world.aws.image(DR, &untagged).unwrap();
    copy_image.source_image_id = source.source_image_id;
    copy_image.source_image_region = source.source_image_region;
    let found = reject::find(world.aws.as_ref(), &DR.into(), &copy_image).await.unwrap().expect("rejected");
    assert_eq!((found.image_id, found.rejection), (bad, rejection));
}

#[tokio::test(start_paused = true)]
async fn an_ami_that_is_not_rejected_is_published() {
    let mut world = World::new().await;
    let (main, _) = world.release().await;
    assert!(main.targets.iter().all(|t| t.outcome.refusal.is_none()), "{main:#?}");
    assert_eq!(
        reject::find(world.aws.as_ref(), &MAIN.into(), &world.aws.image(MAIN, &world.images[1]).unwrap())
            .await
            .unwrap(),
        None
    );
}

async fn revoke(world: &World, image: &ImageId, options: RevokeOptions) -> RevokeReport {
    world.keeper.revoke(&MAIN.into(), image, &options.reason("boots into a kernel panic")).await
}

/// The tags, state and deprecation of an AMI, to tell whether anything was written.
fn marks(world: &World, region: &str, image: &ImageId) -> (Option<String>, ImageState, bool) {
    let image = world.aws.image(region, image).unwrap();
    (image.tags.get(REJECTED_TAG).cloned(), image.state, image.deprecated_at.is_some())
}

#[tokio::test(start_paused = true)]
async fn revoke_moves_every_pointer_in_both_regions_back_and_marks_the_ami_and_its_copy() {
    let mut world = World::new().await;
    world.release().await;
    let (bad, bad_copy) = (world.images[1].clone(), world.copies[1].clone());

    let planned = revoke(&world, &bad, RevokeOptions::default().dry_run(true)).await;
    assert_eq!(planned.status, RevokeStatus::Ok, "{planned:#?}");
    assert_eq!(planned.pointers.len(), 8, "four pointers in each region: {planned:#?}");
    assert!(planned.pointers.iter().all(|p| p.outcome.status == Status::Planned));
    assert_eq!(world.pointers(MAIN), all(&bad), "a dry run writes nothing");
    assert_eq!(world.pointers(DR), all(&bad_copy));
    assert_eq!(marks(&world, MAIN, &bad), (None, ImageState::Available, false));

    let done = revoke(&world, &bad, RevokeOptions::default()).await;
    assert_eq!(done.status, RevokeStatus::Ok, "{done:#?}");
    assert!(done.pointers.iter().all(|p| p.outcome.status == Status::Updated), "{done:#?}");
    assert_eq!(world.pointers(MAIN), all(&world.images[0]));
    assert_eq!(world.pointers(DR), all(&world.copies[0]));
    let found: Vec<(&str, &ImageId, FoundBy)> =
        done.images.iter().map(|i| (i.region.as_str(), &i.image_id, i.found_by)).collect();
    assert_eq!(found, [(MAIN, &bad, FoundBy::Revoked), (DR, &bad_copy, FoundBy::CopiedFromTag)]);
    for image in &done.images {
        let actions: Vec<(ImageAction, Status)> = image.steps.iter().map(|s| (s.action, s.status)).collect();
        assert_eq!(actions, [(ImageAction::Reject, Status::Updated), (ImageAction::Deprecate, Status::Updated)]);
    }
    let reason = Some("boots into a kernel panic".to_owned());
    assert_eq!(marks(&world, MAIN, &bad), (reason.clone(), ImageState::Available, true));
    assert_eq!(marks(&world, DR, &bad_copy), (reason, ImageState::Available, true));

    // The same events again are refused: neither the AMI nor its copy is published again.
    for (region, image) in [(MAIN, &bad), (DR, &bad_copy)] {
        let again = world.available(region, image).await;
        assert_eq!(again.status, RunStatus::Refused, "{again:#?}");
        assert!(again.targets.iter().all(|t| t.outcome.refusal == Some(Refusal::Rejected)));
    }
    assert_eq!(world.pointers(MAIN), all(&world.images[0]));
    // A newer good AMI still moves them forward.
    world.release().await;
    assert_eq!(world.pointers(MAIN), all(&world.images[2]));
    assert_eq!(world.pointers(DR), all(&world.copies[2]));
}

#[tokio::test(start_paused = true)]
async fn a_pointer_with_no_earlier_ami_refuses_the_whole_revoke_and_nothing_is_written() {
    let world = World::new().await;
    let only = world.images[0].clone();
    let report = revoke(&world, &only, RevokeOptions::default()).await;
    assert_eq!(report.status, RevokeStatus::Refused, "{report:#?}");
    assert!(report.reason.as_deref().unwrap().contains("nothing was written"));
    assert_eq!(report.pointers.len(), 8);
    assert!(report.pointers.iter().all(|p| p.outcome.status == Status::Refused));
    assert!(report.pointers[0].outcome.reason.contains("no earlier AMI of rule web"), "{report:#?}");
    assert_eq!(world.pointers(MAIN), all(&only));
    assert_eq!(marks(&world, MAIN, &only), (None, ImageState::Available, false), "not even the tag");
    assert_eq!(marks(&world, DR, &world.copies[0]), (None, ImageState::Available, false));
    let operations = report.aws_calls_by_operation.keys();
    assert!(operations.clone().all(|op| op.contains(":Describe") || op.contains(":Get")), "{operations:?}");
}

#[tokio::test(start_paused = true)]
async fn an_earlier_rejected_ami_is_passed_over_and_disable_disables() {
    let mut world = World::new().await;
    world.release().await;
    world.release().await;
    let rejection = Rejection::new("an earlier revoke", world.aws.now());
    reject::mark(world.aws.as_ref(), &MAIN.into(), std::slice::from_ref(&world.images[1]), &rejection).await.unwrap();

    let report = revoke(&world, &world.images[2].clone(), RevokeOptions::default().disable(true)).await;
    assert_eq!(report.status, RevokeStatus::Ok, "{report:#?}");
    assert_eq!(world.pointers(MAIN), all(&world.images[0]), "web-1 is rejected: back to web-0");
    assert_eq!(world.pointers(DR), all(&world.copies[0]), "web-1's copy is a copy of a rejected AMI");
    assert_eq!(marks(&world, MAIN, &world.images[2]).1, ImageState::Disabled);
    assert_eq!(marks(&world, DR, &world.copies[2]).1, ImageState::Disabled);
}

#[tokio::test(start_paused = true)]
async fn a_read_that_fails_fails_the_revoke_with_nothing_written() {
    let mut world = World::new().await;
    world.release().await;
    world.aws.inject(Fault::on("cloudformation:DescribeStacks", FaultKind::AccessDenied).times(100));
    let bad = world.images[1].clone();
    let report = revoke(&world, &bad, RevokeOptions::default()).await;
    assert_eq!(report.status, RevokeStatus::Failed, "{report:#?}");
    assert!(!report.errors.is_empty());
    assert!(report.reason.as_deref().unwrap().contains("nothing was written"));
    assert_eq!(world.pointers(MAIN)[0], bad.to_string());
    assert_eq!(marks(&world, MAIN, &bad), (None, ImageState::Available, false));
}

#[tokio::test(start_paused = true)]
async fn an_empty_reason_or_an_unknown_ami_is_refused() {
    let world = World::new().await;
    let options = RevokeOptions::default().reason("  ");
    let report = world.keeper.revoke(&MAIN.into(), &world.images[0], &options).await;
    assert_eq!(report.status, RevokeStatus::Refused);
    assert_eq!(report.aws_calls, 0, "refused before any call");
    let unknown = ImageId::new("ami-0000000000000dead");
    let report = revoke(&world, &unknown, RevokeOptions::default()).await;
    assert_eq!(report.status, RevokeStatus::Refused);
    assert!(report.reason.unwrap().contains("does not exist"));
}

#[tokio::test(start_paused = true)]
async fn each_pointer_revoked_is_an_event_on_the_bus_and_a_dry_run_puts_none() {
    let mut world = World::with(&format!("{}\n[notify]\nevent_bus = \"default\"\n", configs::REVOKE)).await;
    world.release().await;
    let before = world.aws.bus_events(MAIN).len();
    let bad = world.images[1].clone();
    let planned = revoke(&world, &bad, RevokeOptions::default().dry_run(true)).await;
    assert!(planned.notifications.is_none() && world.aws.bus_events(MAIN).len() == before);

    let done = revoke(&world, &bad, RevokeOptions::default()).await;
    assert_eq!(done.status, RevokeStatus::Ok, "{done:#?}");
    let events: Vec<serde_json::Value> = world.aws.bus_events(MAIN)[before..]
        .iter()
        .inspect(|e| assert_eq!(e.entry.detail_type, "AMI Pointer Revoked"))
        .map(|e| serde_json::from_str(&e.entry.detail).unwrap())
        .collect();
    assert_eq!(events.len(), 8, "one per pointer moved, both regions");
    let regions: std::collections::BTreeSet<&str> = events.iter().map(|d| d["region"].as_str().unwrap()).collect();
    assert_eq!(regions, [MAIN, DR].into());
    assert!(events.iter().all(|d| d["operation"] == "revoke" && d["rule"] == "web" && d["status"] == "updated"));
}

#[tokio::test(start_paused = true)]
async fn status_finds_a_pointer_that_names_a_rejected_ami() {
    use amikeeper::status::FindingKind;
    let mut world = World::new().await;
    world.release().await;
    let rejection = Rejection::new("found by hand", world.aws.now());
    reject::mark(world.aws.as_ref(), &MAIN.into(), std::slice::from_ref(&world.images[1]), &rejection).await.unwrap();
    let report = world.keeper.status(&MAIN.into(), &amikeeper::StatusOptions::default()).await;
    let rejected: Vec<&str> = report
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::Rejected && f.region.as_str() == MAIN)
        .map(|f| f.pointer_kind)
        .collect();
    assert_eq!(rejected, ["ssm_parameter", "launch_template", "auto_scaling_group", "stack_parameter"], "{report:#?}");
    let pointer = report.pointers.iter().find(|p| p.region.as_str() == MAIN).unwrap();
    assert_eq!(pointer.image.as_ref().unwrap().rejected, Some(rejection));
}
