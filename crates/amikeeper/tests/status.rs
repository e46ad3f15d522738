//! `Keeper::status` on `MemoryAws`: each finding planted and found, none planted and none
//! found, a failed read reported as an error (never as a missing pointer), and pointers whose
//! names come from tags found by listing.

use std::sync::Arc;

use amikeeper::backend::{Ec2Api, SsmApi};
use amikeeper::memory::{Fault, FaultKind, ImageSeed, MemoryAws};
use amikeeper::model::{
    CreateLaunchTemplateVersion, ImageId, ImageState, Region, COPIED_FROM_TAG, PROTECTED_TAG, PROTECTION_HELD,
};
use amikeeper::status::{FindingKind, FoundBy, StatusReport, StatusVerdict};
use amikeeper::{Config, Keeper, StatusOptions};
use time::Duration;

const HOME: &str = "111122223333";
const OTHER: &str = "444455556666";
const ROLE: &str = "arn:aws:iam::444455556666:role/amikeeper";

const CONFIG: &str = r#"
accounts = ["111122223333"]
allowed_name_prefixes = ["/ami/roles/"]

[[rules]]
name = "web"
copy_to = ["eu-west-1"]
[rules.match]
name_prefix = "web-"
[[rules.targets]]
kind = "ssm_parameter"
name = "/ami/web"
[[rules.targets]]
kind = "launch_template"
name = "web"

[[rules]]
name = "roles"
[rules.match]
name_prefix = "role-"
[[rules.targets]]
kind = "ssm_parameter"
name = "/ami/roles/{tag:Role}"

[[fleet]]
role_arn = "arn:aws:iam::444455556666:role/amikeeper"
regions = ["us-east-1"]
"#;

fn us() -> Region {
    Region::from("us-east-1")
}

/// A protected AMI, as amikeeper leaves what it published.
fn protected(aws: &MemoryAws, region: &str, seed: ImageSeed) -> ImageId {
    let id = aws.add_image(region, seed.tag(PROTECTED_TAG, PROTECTION_HELD));
    aws.enable_deregistration_protection(region, &id, false);
    id
}

/// Two accounts, every pointer right: the home region's, its copy in eu-west-1, and the fleet
/// account's (one pointer per role, found by listing).
struct World {
    home: Arc<MemoryAws>,
    other: Arc<MemoryAws>,
    web: ImageId,
    copy: ImageId,
    /// The launch templates `web`: home, eu-west-1, the fleet account's.
    templates: [String; 3],
}

fn world() -> World {
    let home = Arc::new(MemoryAws::new(HOME));
    let other = Arc::new(MemoryAws::new(OTHER));
    home.add_role(ROLE, other.clone());
    let web = protected(&home, "us-east-1", ImageSeed::new("web-2"));
    home.set_parameter("us-east-1", "/ami/web", web.as_str()).unwrap();
    let home_template = home.create_launch_template("us-east-1", "web", Some(web.clone()), Default::default()).id;
    let copy = protected(&home, "eu-west-1", ImageSeed::new("web-2").tag(COPIED_FROM_TAG, format!("us-east-1/{web}")));
    home.set_parameter("eu-west-1", "/ami/web", copy.as_str()).unwrap();
    let copy_template = home.create_launch_template("eu-west-1", "web", Some(copy.clone()), Default::default()).id;
    for role in ["db", "app"] {
        let image = protected(&home, "us-east-1", ImageSeed::new(format!("role-{role}")));
        home.set_parameter("us-east-1", &format!("/ami/roles/{role}"), image.as_str()).unwrap();
    }
    // Not the rule's: outside the allowed prefix, or not of the template's form.
    home.set_parameter("us-east-1", "/ami/other", web.as_str()).unwrap();
    let fleet = protected(&other, "us-east-1", ImageSeed::new("web-1"));
    other.set_parameter("us-east-1", "/ami/web", fleet.as_str()).unwrap();
    let fleet_template = other.create_launch_template("us-east-1", "web", Some(fleet.clone()), Default::default()).id;
    World { home, other, web, copy, templates: [home_template, copy_template, fleet_template] }
}

async fn status(world: &World, options: StatusOptions) -> StatusReport {
    let keeper = Keeper::new(Config::from_toml(CONFIG).unwrap(), world.home.clone());
    let now = world.home.now() + Duration::days(2);
    keeper.status(&us(), &options.now(now)).await
}

/// The findings as (kind, account, region, pointer), sorted.
fn kinds(report: &StatusReport) -> Vec<(FindingKind, String, String, String)> {
    let mut kinds: Vec<_> =
        report.findings.iter().map(|f| (f.kind, f.account.clone(), f.region.to_string(), f.pointer.clone())).collect();
    kinds.sort_by(|a, b| (a.0.as_str(), &a.1, &a.2, &a.3).cmp(&(b.0.as_str(), &b.1, &b.2, &b.3)));
    kinds
}

#[tokio::test]
async fn every_pointer_right_is_reported_without_a_finding() {
    let world = world();
    let report = status(&world, StatusOptions::default().fleet(true)).await;
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
    assert_eq!(report.verdict(), StatusVerdict::Ok);
    let seen: Vec<(String, String, &str, String, FoundBy)> = report
        .pointers
        .iter()
        .map(|p| (p.account.clone(), p.region.to_string(), p.kind, p.name.clone(), p.found_by))
        .collect();
    let [home_lt, copy_lt, fleet_lt] = world.templates.clone();
    let expected = [
        (HOME, "us-east-1", "ssm_parameter", "/ami/web".to_owned(), FoundBy::Configured),
        (HOME, "us-east-1", "launch_template", home_lt, FoundBy::Configured),
        (HOME, "us-east-1", "ssm_parameter", "/ami/roles/app".to_owned(), FoundBy::Listed),
        (HOME, "us-east-1", "ssm_parameter", "/ami/roles/db".to_owned(), FoundBy::Listed),
        (HOME, "eu-west-1", "ssm_parameter", "/ami/web".to_owned(), FoundBy::Configured),
        (HOME, "eu-west-1", "launch_template", copy_lt, FoundBy::Configured),
        (OTHER, "us-east-1", "ssm_parameter", "/ami/web".to_owned(), FoundBy::Configured),
        (OTHER, "us-east-1", "launch_template", fleet_lt, FoundBy::Configured),
    ];
    for (account, region, kind, name, by) in expected {
        let want = (account.to_owned(), region.to_owned(), kind, name, by);
        assert!(seen.contains(&want), "{want:?} not in {seen:#?}");
    }
    assert_eq!(seen.len(), 8, "{seen:#?}");
    let web = report.pointers.iter().find(|p| p.region == us() && p.name == "/ami/web" && p.account == HOME).unwrap();
    let image = web.image.as_ref().unwrap();
    assert_eq!((image.id.clone(), image.name.as_str(), image.protected), (world.web.clone(), "web-2", true));
    let written = world.home.parameter_history("us-east-1", "/ami/web");
    assert_eq!(written.len(), 1);
    assert!(web.last_moved.is_some_and(|at| at <= world.home.now()), "{:?}", web.last_moved);
    let copy = report.pointers.iter().find(|p| p.region.as_str() == "eu-west-1" && p.kind == "ssm_parameter").unwrap();
    assert_eq!(copy.image_id.as_ref(), Some(&world.copy));
    assert_eq!(copy.image.as_ref().unwrap().copied_from, Some(format!("us-east-1/{}", world.web)));
    assert!(report.aws_calls > 0);
}

/// Moves the launch template `template` (in `aws`, `region`) to `image`, the way publishing does.
async fn move_template(aws: &MemoryAws, region: &str, template: &str, image: &ImageId) {
    let region = Region::from(region);
    let request = CreateLaunchTemplateVersion::new(template, 1, image, "moved");
    let version = aws.create_launch_template_version(&region, &request).await.unwrap();
    aws.set_default_launch_template_version(&region, template, version).await.unwrap();
}

/// The home region's pointers of rule `web` move to a new AMI; the copy is not made.
async fn move_home(world: &World) -> ImageId {
    let newer = protected(&world.home, "us-east-1", ImageSeed::new("web-3"));
    world.home.set_parameter("us-east-1", "/ami/web", newer.as_str()).unwrap();
    move_template(&world.home, "us-east-1", &world.templates[0], &newer).await;
    newer
}

#[tokio::test]
async fn each_planted_finding_is_found_with_its_reason() {
    let world = world();
    let (home, other) = (&world.home, &world.other);
    // Lagging: the home pointers moved two days ago (see `status`), eu-west-1's did not.
    let newer = move_home(&world).await;
    // Dangling: a listed pointer names an AMI deregistered since.
    let app = ImageId::new(home.parameter("us-east-1", "/ami/roles/app").unwrap().value);
    home.set_image_state("us-east-1", &app, ImageState::Deregistered);
    // Unprotected: a listed pointer names an AMI without amikeeper's protection.
    let bare = home.add_image("us-east-1", ImageSeed::new("role-db-2"));
    home.set_parameter("us-east-1", "/ami/roles/db", bare.as_str()).unwrap();
    // Disagreeing: the fleet account's launch template names another AMI than its parameter.
    let elsewhere = protected(other, "us-east-1", ImageSeed::new("web-9"));
    move_template(other, "us-east-1", &world.templates[2], &elsewhere).await;
    let report = status(&world, StatusOptions::default().fleet(true)).await;
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
    assert_eq!(report.verdict(), StatusVerdict::Findings);
    let [_, copy_lt, fleet_lt] = world.templates.clone();
    assert_eq!(
        kinds(&report),
        [
            (FindingKind::Dangling, HOME.into(), "us-east-1".into(), "/ami/roles/app".into()),
            (FindingKind::Disagree, OTHER.into(), "us-east-1".into(), "/ami/web".into()),
            (FindingKind::Disagree, OTHER.into(), "us-east-1".into(), fleet_lt),
            (FindingKind::DrLag, HOME.into(), "eu-west-1".into(), "/ami/web".into()),
            (FindingKind::DrLag, HOME.into(), "eu-west-1".into(), copy_lt),
            (FindingKind::Unprotected, HOME.into(), "us-east-1".into(), "/ami/roles/db".into()),
        ]
    );
    let reason = |kind| report.findings.iter().find(|f| f.kind == kind).unwrap().reason.clone();
    let dangling = reason(FindingKind::Dangling);
    assert!(dangling.contains(&app.to_string()) && dangling.contains("deregistered"), "{dangling}");
    let lag = reason(FindingKind::DrLag);
    let expected = [world.copy.to_string(), newer.to_string(), "48 hours ago".into(), "24 hours".into()];
    assert!(expected.iter().all(|part| lag.contains(part.as_str())), "{lag}");
    assert!(reason(FindingKind::Unprotected).contains(&bare.to_string()));
    let disagree = reason(FindingKind::Disagree);
    assert!(disagree.contains(&elsewhere.to_string()), "{disagree}");
}

#[tokio::test]
async fn a_copy_still_on_its_way_is_not_a_lag() {
    let world = world();
    move_home(&world).await;
    let keeper = Keeper::new(Config::from_toml(CONFIG).unwrap(), world.home.clone());
    let soon = StatusOptions::default().now(world.home.now() + Duration::hours(1));
    let report = keeper.status(&us(), &soon).await;
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
    let late = StatusOptions::default().now(world.home.now() + Duration::hours(25));
    let report = keeper.status(&us(), &late).await;
    let lagging: Vec<FindingKind> = report.findings.iter().map(|f| f.kind).collect();
    assert_eq!(lagging, [FindingKind::DrLag, FindingKind::DrLag], "{:#?}", report.findings);
}

#[tokio::test]
async fn a_failed_read_is_an_error_not_a_missing_pointer() {
    let world = world();
    world.home.inject(Fault::on("ssm:GetParametersByPath", FaultKind::AccessDenied));
    world.home.inject(Fault::on("ssm:GetParameter", FaultKind::AccessDenied));
    let report = status(&world, StatusOptions::default().region(us())).await;
    assert_eq!(report.verdict(), StatusVerdict::Failed);
    assert!(report.findings.is_empty(), "a pointer that could not be read is no finding: {:#?}", report.findings);
    assert_eq!(report.errors.len(), 2, "{:#?}", report.errors);
    assert!(report.errors.iter().all(|e| e.account == HOME && e.region == us()));
    assert!(report.errors.iter().any(|e| e.what.contains("rule roles")), "{:#?}", report.errors);
    assert!(report.pointers.iter().all(|p| p.kind == "launch_template"), "{:#?}", report.pointers);
    assert!(report.pointers.iter().all(|p| p.region == us()), "--region reads only that region");
}

#[tokio::test]
async fn one_copy_region_asked_for_is_still_compared_with_the_home_region() {
    let world = world();
    move_home(&world).await;
    let report = status(&world, StatusOptions::default().region(Region::from("eu-west-1"))).await;
    assert!(report.pointers.iter().all(|p| p.region.as_str() == "eu-west-1"), "{:#?}", report.pointers);
    assert_eq!(report.pointers.len(), 2);
    let lagging: Vec<FindingKind> = report.findings.iter().map(|f| f.kind).collect();
    assert_eq!(lagging, [FindingKind::DrLag, FindingKind::DrLag], "{:#?}", report.findings);
}

#[tokio::test]
async fn a_role_that_cannot_be_assumed_is_an_error() {
    let world = world();
    let keeper = Keeper::new(
        Config::from_toml(&CONFIG.replace(ROLE, "arn:aws:iam::444455556666:role/gone")).unwrap(),
        world.home.clone(),
    );
    let report = keeper.status(&us(), &StatusOptions::default().fleet(true)).await;
    assert_eq!(report.verdict(), StatusVerdict::Failed);
    assert_eq!(report.errors.len(), 1, "{:#?}", report.errors);
    assert_eq!(
        (report.errors[0].account.as_str(), report.errors[0].what.as_str()),
        (OTHER, "assuming role arn:aws:iam::444455556666:role/gone")
    );
    assert!(report.findings.is_empty());
}

#[tokio::test]
async fn a_missing_configured_pointer_is_dangling_and_the_json_keeps_its_names() {
    let world = world();
    world.home.delete_parameter(&Region::from("eu-west-1"), "/ami/web").await.unwrap();
    let report = status(&world, StatusOptions::default()).await;
    assert_eq!(kinds(&report), [(FindingKind::Dangling, HOME.into(), "eu-west-1".into(), "/ami/web".into())]);
    let json = serde_json::to_value(&report).unwrap();
    for key in ["generated_at", "pointers", "findings", "errors", "aws_calls"] {
        assert!(json.get(key).is_some(), "{key}");
    }
    let pointer = &json["pointers"][0];
    for key in ["rule", "account", "region", "kind", "name", "found_by", "image_id", "image", "last_moved", "stack"] {
        assert!(pointer.get(key).is_some(), "pointers[0].{key}: {pointer:#}");
    }
    for key in ["id", "name", "created", "age_days", "state", "protected", "copied_from"] {
        assert!(pointer["image"].get(key).is_some(), "image.{key}: {pointer:#}");
    }
    let finding = &json["findings"][0];
    assert_eq!(finding["kind"], "dangling");
    assert_eq!(finding["pointer_kind"], "ssm_parameter");
    assert_eq!(finding["reason"], "it does not exist");
}
