//! A backend conformance suite: the seed flows as plain async functions that any backend must
//! pass, in the manner of object_store's `integration.rs`.
//!
//! Each scenario sets up its world through a [`Fixture`], runs a [`Keeper`] on the fixture's
//! backend with real-shaped event payloads, and asserts the resulting state through the
//! fixture. The fixture reads state its own way (for the SDK backend against an emulator:
//! through the AWS SDK directly), never through amikeeper's publishers. A scenario panics
//! with a message when the backend does not conform.
//!
//! The seed scenarios run the seed configurations of [`configs`] as they are (in the fixture's
//! account), the files that `docs/guides/` shows.
//!
//! The suite runs on [`MemoryAws`] in this crate's tests and on the SDK backend against
//! `moto_server` in `amikeeper-aws`'s tests.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;

use crate::backend::{Aws, Ec2Api};
use crate::config::WaitConfig;
use crate::memory::FaultyAws;
use crate::memory::{Fault, FaultKind, ImageSeed, MemoryAws};
use crate::model::{ImageId, ImageState, LaunchTemplateSpec, Region, SnapshotState, Tags};
use crate::publish::Status;
use crate::report::{Report, RunStatus};
use crate::retain::{ItemStatus, ReferenceCheck, SweepOptions, SweepReport, UndoCheck};
use crate::retain::{SweepAction, SweepStatus};
use crate::rollback::RollbackOptions;
use crate::rollback::RollbackStatus;
use crate::samples::{configs, Origin};
use crate::{Config, HandleOptions, Keeper};

/// The main region of the scenarios.
pub const MAIN_REGION: &str = "ap-northeast-1";
/// The DR region of the scenarios.
pub const DR_REGION: &str = "ap-southeast-1";

/// An image to create.
#[derive(Debug, Clone, Default)]
pub struct ImageSpec {
    /// The image name.
    pub name: String,
    /// The image description.
    pub description: Option<String>,
    /// The image tags.
    pub tags: Tags,
}

impl ImageSpec {
    /// An image named `name`.
    pub fn named(name: impl Into<String>) -> Self {
        Self { name: name.into(), ..Self::default() }
    }

    /// Adds a tag.
    pub fn tag(mut self, key: &str, value: &str) -> Self {
        self.tags.insert(key.to_owned(), value.to_owned());
        self
    }

    /// Sets the description.
    pub fn description(mut self, description: &str) -> Self {
        self.description = Some(description.to_owned());
        self
    }
}

/// A launch template's state, as the fixture reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateState {
    /// The default version.
    pub default_version: i64,
    /// The latest version.
    pub latest_version: i64,
    /// Every version and the AMI it launches, newest first.
    pub versions: Vec<(i64, Option<ImageId>)>,
}

/// A world to run scenarios in: a backend to test, and ways to set up and read state that do
/// not go through amikeeper.
#[async_trait]
pub trait Fixture: Send + Sync {
    /// The account the backend acts in.
    fn account(&self) -> String;
    /// Operations the backend does not serve (an emulator's gaps, like regions without an
    /// API), e.g. `ec2:DescribeImageReferences`; they fail, and scenarios expect the fallback.
    fn lacks(&self) -> &'static [&'static str] {
        &[]
    }
    /// The backend under test.
    fn aws(&self) -> Arc<dyn Aws>;
    /// A running instance to image.
    async fn instance(&self, region: &str) -> String;
    /// An `available` image. Each image is newer than the previous one (EC2 reports
    /// creation times to the second, so a fixture may have to wait).
    async fn image(&self, region: &str, spec: ImageSpec) -> ImageId;
    /// Puts a `String` parameter (overwriting).
    async fn set_parameter(&self, region: &str, name: &str, value: &str);
    /// A parameter's value and version.
    async fn parameter(&self, region: &str, name: &str) -> Option<(String, i64)>;
    /// A launch template whose version 1 launches `image`; returns its id.
    async fn launch_template(&self, region: &str, name: &str, image: &ImageId) -> String;
    /// A launch template's versions.
    async fn template_state(&self, region: &str, id: &str) -> TemplateState;
    /// An Auto Scaling group launching from a template version.
    async fn auto_scaling_group(&self, region: &str, name: &str, template: LaunchTemplateSpec);
    /// The template version a group launches from.
    async fn group_template(&self, region: &str, name: &str) -> Option<LaunchTemplateSpec>;
    /// A stack with these parameters (their values are strings; `ImageId` holds an AMI id).
    async fn stack(&self, region: &str, name: &str, parameters: BTreeMap<String, String>);
    /// A stack's parameter values.
    async fn stack_parameters(&self, region: &str, name: &str) -> BTreeMap<String, String>;
    /// Whether the image's deregistration protection is on.
    async fn own_image_protected(&self, region: &str, image: &ImageId) -> bool;
}

async fn run(fixture: &dyn Fixture, config: &str, payload: serde_json::Value) -> Report {
    run_with(fixture, config, payload, false).await
}

async fn run_with(fixture: &dyn Fixture, config: &str, payload: serde_json::Value, dry_run: bool) -> Report {
    let config = Config::from_toml(config).expect("scenario configuration is valid");
    run_config(fixture, config, payload, dry_run).await
}

async fn run_config(fixture: &dyn Fixture, config: Config, payload: serde_json::Value, dry_run: bool) -> Report {
    let keeper = Keeper::new(config, fixture.aws());
    let options = HandleOptions { dry_run, wait: None };
    let mut reports = keeper.handle_payload(payload.to_string().as_bytes(), &options).await.expect("payload parses");
    assert_eq!(reports.len(), 1);
    reports.remove(0)
}

fn statuses(report: &Report) -> Vec<Status> {
    report.targets.iter().map(|t| t.outcome.status).collect()
}

fn config(account: &str, body: &str) -> String {
    format!("accounts = [\"{account}\"]\n{body}")
}

/// A seed configuration ([`configs`]) in the fixture's account.
fn seed(f: &dyn Fixture, config: &str) -> String {
    configs::in_account(config, &f.account())
}

/// Seed 000: an AWS Backup AMI goes to a parameter named after the instance at version 1, in
/// the main region from `CreateImage` and in the DR region from `CopyImage`.
pub async fn seed_000_backup_to_fixed_version_parameter(f: &dyn Fixture) {
    let config = seed(f, configs::SEED_000_BACKUP_TO_PARAMETER);
    let instance = f.instance(MAIN_REGION).await;
    let old = f.image(MAIN_REGION, ImageSpec::named(format!("AWSBackup_{instance}_1"))).await;
    f.set_parameter(MAIN_REGION, &instance, old.as_str()).await;
    let name = format!("AWSBackup_{instance}_2");
    let new = f.image(MAIN_REGION, ImageSpec::named(&name)).await;
    let main = Origin::new(&f.account(), MAIN_REGION, "c000-main");
    let report = run(f, &config, main.create_image(new.as_str(), &instance, &name, "AWS Backup")).await;
    assert_eq!(statuses(&report), [Status::Updated], "{report:#?}");
    assert_eq!(f.parameter(MAIN_REGION, &instance).await, Some((new.to_string(), 1)));
    // DescribeImages, GetParameter, DescribeImages (current), DeleteParameter, PutParameter,
    // GetParameter (read back: no other run replaced it); then EnableImageDeregistrationProtection
    // and CreateTags (amikeeper:protected), GetParameter (the pointer still names it), and
    // DescribeImages (the AMI it left, afresh, to release its protection).
    assert_eq!(report.aws_calls, 10, "{:?}", report.aws_calls_by_operation);
    assert_eq!(report.protection, Some(format!("{new} is now protected from deregistration")));
    assert!(f.own_image_protected(MAIN_REGION, &new).await, "the published AMI is protected");

    let copy = f.image(DR_REGION, ImageSpec::named(&name)).await;
    let dr = Origin::new(&f.account(), DR_REGION, "c000-dr");
    let report = run(f, &config, dr.copy_image(copy.as_str(), new.as_str(), MAIN_REGION, &name)).await;
    assert_eq!(statuses(&report), [Status::Updated], "{report:#?}");
    assert_eq!(f.parameter(DR_REGION, &instance).await, Some((copy.to_string(), 1)));
    // DescribeImages, GetParameter (not there yet), PutParameter, GetParameter (read back),
    // protection (2), and GetParameter (the pointer still names it).
    assert_eq!(report.aws_calls, 7, "{:?}", report.aws_calls_by_operation);
    assert_eq!(f.parameter(MAIN_REGION, &instance).await, Some((new.to_string(), 1)), "main region untouched");
}

/// Seed 001 (1): a completed backup job overwrites the parameter its AMI's tag names; the
/// same event again changes nothing; an older AMI's late event never moves it back.
pub async fn seed_001_parameter_from_tag(f: &dyn Fixture) {
    let config = seed(f, configs::SEED_001_PARAMETER_AND_STACK_FROM_TAGS);
    let older = f.image(MAIN_REGION, ImageSpec::named("c001-older").tag("ImageIdParameterName", "/ami/web")).await;
    let old = f.image(MAIN_REGION, ImageSpec::named("c001-old")).await;
    f.set_parameter(MAIN_REGION, "/ami/web", old.as_str()).await;
    let new = f.image(MAIN_REGION, ImageSpec::named("c001-new").tag("ImageIdParameterName", "/ami/web")).await;
    let origin = Origin::new(&f.account(), MAIN_REGION, "c001-param");
    let event = origin.backup_job(new.as_str(), "i-0123456789abcdef0", "COMPLETED");
    let report = run(f, &config, event.clone()).await;
    assert_eq!(statuses(&report), [Status::Updated], "{report:#?}");
    assert_eq!(f.parameter(MAIN_REGION, "/ami/web").await, Some((new.to_string(), 2)));
    // DescribeImages, GetParameter, DescribeImages (current), PutParameter, protection (2),
    // GetParameter (the pointer still names it), DescribeImages (the AMI it left, afresh).
    assert_eq!(report.aws_calls, 8, "{:?}", report.aws_calls_by_operation);

    let report = run(f, &config, event).await;
    assert_eq!(statuses(&report), [Status::Unchanged], "{report:#?}");
    let late = Origin::new(&f.account(), MAIN_REGION, "c001-late");
    let report = run(f, &config, late.backup_job(older.as_str(), "i-0123456789abcdef0", "COMPLETED")).await;
    assert_eq!(statuses(&report), [Status::Skipped], "{report:#?}");
    assert_eq!(f.parameter(MAIN_REGION, "/ami/web").await, Some((new.to_string(), 2)));
}

/// Seed 001 (2): a completed backup job updates the stack its AMI's tag names, keeping every
/// other parameter.
pub async fn seed_001_stack_from_tag(f: &dyn Fixture) {
    let config = seed(f, configs::SEED_001_PARAMETER_AND_STACK_FROM_TAGS);
    let old = f.image(MAIN_REGION, ImageSpec::named("c001-stack-old")).await;
    let parameters =
        BTreeMap::from([("ImageId".to_owned(), old.to_string()), ("InstanceType".to_owned(), "t3.small".to_owned())]);
    f.stack(MAIN_REGION, "solution2", parameters).await;
    let new = f.image(MAIN_REGION, ImageSpec::named("c001-stack-new").tag("StackName", "solution2")).await;
    let origin = Origin::new(&f.account(), MAIN_REGION, "c001-stack");
    let event = origin.backup_job(new.as_str(), "i-0123456789abcdef0", "COMPLETED");
    let report = run(f, &config, event.clone()).await;
    assert_eq!(statuses(&report), [Status::Updated], "{report:#?}");
    let parameters = f.stack_parameters(MAIN_REGION, "solution2").await;
    assert_eq!(parameters.get("ImageId").map(String::as_str), Some(new.as_str()));
    assert_eq!(parameters.get("InstanceType").map(String::as_str), Some("t3.small"));
    // DescribeImages, DescribeStacks, DescribeImages (current), UpdateStack, protection (2), and
    // DescribeImages (the AMI it left, afresh).
    assert_eq!(report.aws_calls, 7, "{:?}", report.aws_calls_by_operation);
    let report = run(f, &config, event).await;
    assert_eq!(statuses(&report), [Status::Unchanged], "{report:#?}");
}

/// Seed 002 (1): `CreateAutoScalingGroup` sets the group to `$Latest`.
pub async fn seed_002_asg_created_to_latest(f: &dyn Fixture) {
    let config = seed(f, configs::SEED_002_ASG_TO_LATEST);
    let image = f.image(MAIN_REGION, ImageSpec::named("c002-base")).await;
    let template = f.launch_template(MAIN_REGION, "app", &image).await;
    let pinned = LaunchTemplateSpec { id: template.clone(), version: "1".into() };
    f.auto_scaling_group(MAIN_REGION, "app-asg", pinned).await;
    let origin = Origin::new(&f.account(), MAIN_REGION, "c002-asg");
    let event = origin.create_auto_scaling_group("app-asg", &template, "1");
    let report = run(f, &config, event.clone()).await;
    assert_eq!(statuses(&report), [Status::Updated], "{report:#?}");
    let spec = f.group_template(MAIN_REGION, "app-asg").await.expect("group has a launch template");
    assert_eq!((spec.id.as_str(), spec.version.as_str()), (template.as_str(), "$Latest"));
    // DescribeAutoScalingGroups, UpdateAutoScalingGroup.
    assert_eq!(report.aws_calls, 2, "{:?}", report.aws_calls_by_operation);
    let report = run(f, &config, event).await;
    assert_eq!(statuses(&report), [Status::Unchanged], "{report:#?}");
}

/// Seed 002 (2): a DLM image (`EC2_BACKUP` in its description) becomes a new default version
/// of the launch template whose id an SSM parameter holds; a duplicate event makes no second
/// version; a dry run writes nothing.
pub async fn seed_002_dlm_to_launch_template(f: &dyn Fixture) {
    let config = seed(f, configs::SEED_002_DLM_TO_LAUNCH_TEMPLATE);
    let base = f.image(MAIN_REGION, ImageSpec::named("c002-dlm-base")).await;
    let template = f.launch_template(MAIN_REGION, "c002-dlm", &base).await;
    f.set_parameter(MAIN_REGION, "/app/launch-template-id", &template).await;
    let description = "Created for policy: policy-0abc schedule: daily EC2_BACKUP";
    let image = f.image(MAIN_REGION, ImageSpec::named("c002-dlm-1").description(description)).await;
    let origin = Origin::new(&f.account(), MAIN_REGION, "c002-dlm");
    let event = origin.create_image(image.as_str(), "i-0123456789abcdef0", "c002-dlm-1", description);

    let report = run_with(f, &config, event.clone(), true).await;
    assert_eq!(statuses(&report), [Status::Planned], "{report:#?}");
    assert_eq!(f.template_state(MAIN_REGION, &template).await.latest_version, 1, "a dry run writes nothing");

    let report = run(f, &config, event.clone()).await;
    assert_eq!(statuses(&report), [Status::Updated], "{report:#?}");
    let state = f.template_state(MAIN_REGION, &template).await;
    assert_eq!((state.default_version, state.latest_version), (2, 2), "{state:?}");
    assert_eq!(state.versions.first(), Some(&(2, Some(image.clone()))));
    // DescribeImages, GetParameter, DescribeLaunchTemplates, DescribeLaunchTemplateVersions,
    // DescribeImages (current), CreateLaunchTemplateVersion, ModifyLaunchTemplate,
    // protection (EnableImageDeregistrationProtection, CreateTags), the default read back
    // (GetParameter, DescribeLaunchTemplates, DescribeLaunchTemplateVersions), and
    // DescribeImages (the AMI it left, afresh).
    assert_eq!(report.aws_calls, 13, "{:?}", report.aws_calls_by_operation);
    let report = run(f, &config, event).await;
    assert_eq!(statuses(&report), [Status::Unchanged], "{report:#?}");
    assert_eq!(f.template_state(MAIN_REGION, &template).await.latest_version, 2);

    // Three more days of DLM images: `keep_versions = 3` prunes the oldest versions.
    for day in 2..=4 {
        let name = format!("c002-dlm-{day}");
        let image = f.image(MAIN_REGION, ImageSpec::named(&name).description(description)).await;
        let origin = Origin::new(&f.account(), MAIN_REGION, &name);
        let report =
            run(f, &config, origin.create_image(image.as_str(), "i-0123456789abcdef0", &name, description)).await;
        assert_eq!(statuses(&report), [Status::Updated], "{report:#?}");
    }
    let state = f.template_state(MAIN_REGION, &template).await;
    let numbers: Vec<i64> = state.versions.iter().map(|(number, _)| *number).collect();
    assert_eq!((state.default_version, numbers), (5, vec![5, 4, 3]), "{state:?}");
}

/// Seed 003: a schedule bakes the builder instance, waits until the AMI is available, then
/// moves the launch template and the group that pins a version number.
pub async fn seed_003_scheduled_bake(f: &dyn Fixture) {
    let instance = f.instance(MAIN_REGION).await;
    // The seed configuration with this backend's builder instance, waiting up to 120 s for the
    // image and polling every second (the configuration itself defers a pending image to its
    // `EC2 AMI State Change` event).
    let text = seed(f, configs::SEED_003_NIGHTLY_BAKE).replace(configs::SEED_003_BUILDER, &instance);
    let mut config = Config::from_toml(&text).expect("scenario configuration is valid");
    config.wait = WaitConfig { timeout_seconds: 120, poll_seconds: 1 };
    let base = f.image(MAIN_REGION, ImageSpec::named("c003-base")).await;
    let template = f.launch_template(MAIN_REGION, "web", &base).await;
    f.auto_scaling_group(MAIN_REGION, "web-asg", LaunchTemplateSpec { id: template.clone(), version: "1".into() })
        .await;
    let origin = Origin::new(&f.account(), MAIN_REGION, "c003-schedule");
    let report = run_config(f, config, origin.scheduled("nightly-ami"), false).await;
    assert_eq!(statuses(&report), [Status::Updated, Status::Updated, Status::Updated], "{report:#?}");
    let baked = ImageId::new(report.targets[0].outcome.to.clone().expect("the bake names its image"));
    let state = f.template_state(MAIN_REGION, &template).await;
    assert_eq!(state.versions.first(), Some(&(2, Some(baked))), "{state:?}");
    let spec = f.group_template(MAIN_REGION, "web-asg").await.expect("group has a launch template");
    assert_eq!(spec.version, "2");
    // Every call but the polls of the pending AMI, whose number depends on the backend.
    let writes: Vec<(&str, usize)> = report
        .aws_calls_by_operation
        .iter()
        .filter(|(op, _)| op.as_str() != "ec2:DescribeImages")
        .map(|(op, n)| (op.as_str(), *n))
        .collect();
    assert_eq!(
        writes,
        [
            ("autoscaling:DescribeAutoScalingGroups", 1),
            ("autoscaling:UpdateAutoScalingGroup", 1),
            ("ec2:CreateImage", 1),
            ("ec2:CreateLaunchTemplateVersion", 1),
            ("ec2:CreateTags", 1),
            // One of each reads the default back after protecting: it still names the AMI.
            ("ec2:DescribeLaunchTemplateVersions", 3),
            ("ec2:DescribeLaunchTemplates", 2),
            ("ec2:EnableImageDeregistrationProtection", 1),
            ("ec2:ModifyLaunchTemplate", 1),
        ]
    );
}

/// Safety: events from another account and tags naming parameters outside the allow-list
/// are refused, and nothing is written.
pub async fn refusals_write_nothing(f: &dyn Fixture) {
    let config = seed(f, configs::SEED_001_PARAMETER_AND_STACK_FROM_TAGS);
    let hostile =
        f.image(MAIN_REGION, ImageSpec::named("c-hostile").tag("ImageIdParameterName", "/prod/db/password")).await;
    let origin = Origin::new(&f.account(), MAIN_REGION, "c-hostile");
    let report = run(f, &config, origin.backup_job(hostile.as_str(), "i-0123456789abcdef0", "COMPLETED")).await;
    assert_eq!(statuses(&report), [Status::Refused], "{report:#?}");
    assert_eq!(report.aws_calls, 1, "only the DescribeImages that read the tag");
    assert_eq!(f.parameter(MAIN_REGION, "/prod/db/password").await, None);

    let foreign = Origin::new("999999999999", MAIN_REGION, "c-foreign");
    let report = run(f, &config, foreign.backup_job(hostile.as_str(), "i-0123456789abcdef0", "COMPLETED")).await;
    assert_eq!((report.status, report.aws_calls), (RunStatus::Refused, 0), "{report:#?}");
}

/// An image as the fixture reads it, for retention scenarios.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageFacts {
    /// The image id.
    pub id: ImageId,
    /// The image name.
    pub name: String,
    /// The snapshots backing it.
    pub snapshot_ids: Vec<String>,
    /// Whether a deprecation time is set.
    pub deprecated: bool,
    /// Whether it is disabled.
    pub disabled: bool,
}

/// A [`Fixture`] that can also set up and read what retention sweeps: instances launched from
/// images, launch template versions, volumes and their snapshots.
#[async_trait]
pub trait SweepFixture: Fixture {
    /// A running instance launched from `image`.
    async fn launch_instance(&self, region: &str, image: &ImageId) -> String;
    /// Stops an instance.
    async fn stop_instance(&self, region: &str, instance: &str);
    /// A new version of a template (from its latest) launching `image`, made the default
    /// when `default`; returns its number.
    async fn template_version(&self, region: &str, template: &str, image: &ImageId, default: bool) -> i64;
    /// An EBS volume with these tags.
    async fn volume(&self, region: &str, tags: Tags) -> String;
    /// A completed snapshot of `volume` with these tags, newer than any snapshot before it.
    async fn volume_snapshot(&self, region: &str, volume: &str, tags: Tags) -> String;
    /// Every self-owned image that is not deregistered, disabled ones included.
    async fn own_images(&self, region: &str) -> Vec<ImageFacts>;
    /// Every self-owned snapshot and its tags.
    async fn own_snapshots(&self, region: &str) -> BTreeMap<String, Tags>;
}

fn sweep_config(account: &str, body: &str) -> Config {
    Config::from_toml(&config(account, body)).expect("scenario configuration is valid")
}

async fn sweep(f: &dyn SweepFixture, config: &Config, apply: bool) -> SweepReport {
    sweep_on(f.aws(), config, apply).await
}

async fn sweep_on(aws: Arc<dyn Aws>, config: &Config, apply: bool) -> SweepReport {
    let keeper = Keeper::new(config.clone(), aws);
    let options = SweepOptions { apply, now: None };
    keeper.sweep(&Region::from(MAIN_REGION), &options).await.expect("the inventory is readable")
}

fn ids(facts: &[ImageFacts]) -> Vec<&str> {
    let mut ids: Vec<&str> = facts.iter().map(|f| f.id.as_str()).collect();
    ids.sort_unstable();
    ids
}

fn only_reads(report: &SweepReport) -> bool {
    report
        .aws_calls_by_operation
        .keys()
        .all(|op| op.contains(":Describe") || op.contains(":Get") || op.contains(":List"))
}

/// The configuration of the image sweep scenarios (in the fixture's account).
pub const KEEP_TWO_PER_ROLE: &str = r#"
[retention]
concurrency = 4
parameter_paths = ["/ami/"]
[[retention.images]]
group_by = { tag = "Role" }
keep_newest = 2
[retention.launch_templates]
keep_versions = 1
"#;

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
    let has_references = !f.lacks().contains(&"ec2:DescribeImageReferences");
    let has_recycle_bin = !f.lacks().contains(&"rbin:ListRules");
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

/// The configuration of [`protection_follows_the_pointers`] (in the fixture's account).
pub const PROTECTED_PARAMETER: &str = r#"
[[rules]]
name = "app"
on = ["backup_job"]
[rules.match]
name_prefix = "c009-"
[[rules.targets]]
kind = "ssm_parameter"
name = "/ami/app"

[retention]
parameter_paths = ["/ami/"]
[[retention.images]]
group_by = { name_prefix = ["c009-"] }
keep_newest = 10
"#;

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

const PROTECTED_ONE_KEPT: &str = r#"
[[rules]]
name = "app"
on = ["backup_job"]
[rules.match]
name_prefix = "c015-"
[[rules.targets]]
kind = "ssm_parameter"
name = "/ami/c015"

[retention]
parameter_paths = ["/ami/"]
[[retention.images]]
group_by = { name_prefix = ["c015-"] }
keep_newest = 1
"#;

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

const ROLLBACK_WITH_GROUP: &str = r#"
[[rules]]
name = "web"
on = ["backup_job"]
[rules.match]
name_prefix = "c016-"
[[rules.targets]]
kind = "launch_template"
name = "c016-web"
[[rules.targets]]
kind = "auto_scaling_group"
name = "c016-web"
"#;

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

/// A [`Fixture`] over [`MemoryAws`].
pub struct MemoryFixture {
    aws: Arc<MemoryAws>,
}

impl MemoryFixture {
    /// A fresh in-memory account `111122223333`.
    pub fn new() -> Self {
        Self { aws: Arc::new(MemoryAws::new("111122223333")) }
    }

    /// The in-memory account.
    pub fn memory(&self) -> &Arc<MemoryAws> {
        &self.aws
    }
}

impl Default for MemoryFixture {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Fixture for MemoryFixture {
    fn account(&self) -> String {
        self.aws.account_id().to_string()
    }

    fn aws(&self) -> Arc<dyn Aws> {
        self.aws.clone()
    }

    async fn instance(&self, region: &str) -> String {
        self.aws.add_instance(region, None, Tags::new())
    }

    async fn image(&self, region: &str, spec: ImageSpec) -> ImageId {
        let mut seed = ImageSeed::new(spec.name).tags(spec.tags);
        if let Some(description) = spec.description {
            seed = seed.description(description);
        }
        self.aws.add_image(region, seed)
    }

    async fn set_parameter(&self, region: &str, name: &str, value: &str) {
        self.aws.set_parameter(region, name, value).expect("parameter set");
    }

    async fn parameter(&self, region: &str, name: &str) -> Option<(String, i64)> {
        self.aws.parameter(region, name).map(|p| (p.value, p.version))
    }

    async fn launch_template(&self, region: &str, name: &str, image: &ImageId) -> String {
        self.aws.create_launch_template(region, name, Some(image.clone()), Tags::new()).id
    }

    async fn template_state(&self, region: &str, id: &str) -> TemplateState {
        let template = self.aws.launch_template(region, id).expect("template exists");
        let versions =
            self.aws.launch_template_versions(region, id).into_iter().map(|v| (v.number, v.image_id)).collect();
        TemplateState { default_version: template.default_version, latest_version: template.latest_version, versions }
    }

    async fn auto_scaling_group(&self, region: &str, name: &str, template: LaunchTemplateSpec) {
        self.aws.create_auto_scaling_group(region, name, template, Tags::new());
    }

    async fn group_template(&self, region: &str, name: &str) -> Option<LaunchTemplateSpec> {
        self.aws.auto_scaling_group(region, name).and_then(|g| g.launch_template)
    }

    async fn stack(&self, region: &str, name: &str, parameters: BTreeMap<String, String>) {
        self.aws.create_stack(region, name, parameters);
    }

    async fn stack_parameters(&self, region: &str, name: &str) -> BTreeMap<String, String> {
        self.aws.stack(region, name).map(|s| s.parameters).unwrap_or_default()
    }

    async fn own_image_protected(&self, region: &str, image: &ImageId) -> bool {
        self.aws.image(region, image).is_some_and(|i| i.deregistration_protected)
    }
}

#[async_trait]
impl SweepFixture for MemoryFixture {
    async fn launch_instance(&self, region: &str, image: &ImageId) -> String {
        self.aws.launch_instance(region, image, Tags::new())
    }

    async fn stop_instance(&self, region: &str, instance: &str) {
        self.aws.set_instance_state(region, instance, "stopped");
    }

    async fn template_version(&self, region: &str, template: &str, image: &ImageId, default: bool) -> i64 {
        let region = Region::from(region);
        let latest = self.aws.launch_template(&region, template).expect("template exists").latest_version;
        let version = self.aws.create_launch_template_version(&region, template, latest, image, "").await.unwrap();
        if default {
            self.aws.set_default_launch_template_version(&region, template, version).await.unwrap();
        }
        version
    }

    async fn volume(&self, region: &str, tags: Tags) -> String {
        self.aws.add_volume(region, tags, None)
    }

    async fn volume_snapshot(&self, region: &str, volume: &str, tags: Tags) -> String {
        self.aws.advance(time::Duration::SECOND);
        let id = self.aws.add_snapshot(region, volume, self.aws.now(), SnapshotState::Completed);
        if !tags.is_empty() {
            self.aws.create_tags(&Region::from(region), std::slice::from_ref(&id), &tags).await.unwrap();
        }
        id
    }

    async fn own_images(&self, region: &str) -> Vec<ImageFacts> {
        let images = self.aws.images(region).into_iter().filter(|i| i.state != ImageState::Deregistered);
        images
            .map(|i| ImageFacts {
                deprecated: i.deprecated_at.is_some(),
                disabled: i.state == ImageState::Disabled,
                id: i.id,
                name: i.name,
                snapshot_ids: i.snapshot_ids,
            })
            .collect()
    }

    async fn own_snapshots(&self, region: &str) -> BTreeMap<String, Tags> {
        let ids = self.aws.snapshots(region);
        ids.into_iter().filter_map(|id| self.aws.snapshot(region, &id).map(|s| (id, s.tags))).collect()
    }
}
