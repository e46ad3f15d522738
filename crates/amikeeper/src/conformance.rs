//! A backend conformance suite: the seed flows as plain async functions that any backend must
//! pass, in the manner of object_store's `integration.rs`.
//!
//! Each scenario sets up its world through a [`Fixture`], runs a [`Keeper`] on the fixture's
//! backend with real-shaped event payloads, and asserts the resulting state through the
//! fixture. The fixture reads state its own way (for the SDK backend against an emulator:
//! through the AWS SDK directly), never through amikeeper's publishers. A scenario panics
//! with a message when the backend does not conform.
//!
//! The suite runs on [`MemoryAws`] in this crate's tests and on the SDK backend against
//! `moto_server` in `amikeeper-aws`'s tests.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;

use crate::backend::Aws;
use crate::memory::{ImageSeed, MemoryAws};
use crate::model::{ImageId, LaunchTemplateSpec, Tags};
use crate::publish::Status;
use crate::report::{Report, RunStatus};
use crate::samples::Origin;
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
}

async fn run(fixture: &dyn Fixture, config: &str, payload: serde_json::Value) -> Report {
    run_with(fixture, config, payload, false).await
}

async fn run_with(fixture: &dyn Fixture, config: &str, payload: serde_json::Value, dry_run: bool) -> Report {
    let config = Config::from_toml(config).expect("scenario configuration is valid");
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

const BACKUP_TO_PARAMETER: &str = r#"
[[rules]]
name = "backup-ami-to-parameter"
on = ["image_created", "image_copied", "image_state_changed"]
[rules.match]
name_prefix = "AWSBackup_"
[[rules.targets]]
kind = "ssm_parameter"
name = "{instance_id}"
fixed_version = true
"#;

/// Seed 000: an AWS Backup AMI goes to a parameter named after the instance at version 1, in
/// the main region from `CreateImage` and in the DR region from `CopyImage`.
pub async fn seed_000_backup_to_fixed_version_parameter(f: &dyn Fixture) {
    let config = config(&f.account(), BACKUP_TO_PARAMETER);
    let instance = f.instance(MAIN_REGION).await;
    let old = f.image(MAIN_REGION, ImageSpec::named(format!("AWSBackup_{instance}_1"))).await;
    f.set_parameter(MAIN_REGION, &instance, old.as_str()).await;
    let name = format!("AWSBackup_{instance}_2");
    let new = f.image(MAIN_REGION, ImageSpec::named(&name)).await;
    let main = Origin::new(&f.account(), MAIN_REGION, "c000-main");
    let report = run(f, &config, main.create_image(new.as_str(), &instance, &name, "AWS Backup")).await;
    assert_eq!(statuses(&report), [Status::Updated], "{report:#?}");
    assert_eq!(f.parameter(MAIN_REGION, &instance).await, Some((new.to_string(), 1)));
    // DescribeImages, GetParameter, DescribeImages (current), DeleteParameter, PutParameter.
    assert_eq!(report.aws_calls, 5, "{:?}", report.aws_calls_by_operation);

    let copy = f.image(DR_REGION, ImageSpec::named(&name)).await;
    let dr = Origin::new(&f.account(), DR_REGION, "c000-dr");
    let report = run(f, &config, dr.copy_image(copy.as_str(), new.as_str(), MAIN_REGION, &name)).await;
    assert_eq!(statuses(&report), [Status::Updated], "{report:#?}");
    assert_eq!(f.parameter(DR_REGION, &instance).await, Some((copy.to_string(), 1)));
    // DescribeImages, GetParameter (not there yet), PutParameter.
    assert_eq!(report.aws_calls, 3, "{:?}", report.aws_calls_by_operation);
    assert_eq!(f.parameter(MAIN_REGION, &instance).await, Some((new.to_string(), 1)), "main region untouched");
}

const FROM_TAGS: &str = r#"
allowed_name_prefixes = ["/ami/", "conformance"]
[[rules]]
name = "parameter-from-tag"
on = ["backup_job"]
[rules.match]
has_tags = ["ImageIdParameterName"]
[[rules.targets]]
kind = "ssm_parameter"
name = "{tag:ImageIdParameterName}"

[[rules]]
name = "stack-from-tag"
on = ["backup_job"]
[rules.match]
has_tags = ["StackName"]
[[rules.targets]]
kind = "stack_parameter"
stack = "{tag:StackName}"
parameter = "ImageId"
capabilities = ["CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
"#;

/// Seed 001 (1): a completed backup job overwrites the parameter its AMI's tag names; the
/// same event again changes nothing; an older AMI's late event never moves it back.
pub async fn seed_001_parameter_from_tag(f: &dyn Fixture) {
    let config = config(&f.account(), FROM_TAGS);
    let older = f.image(MAIN_REGION, ImageSpec::named("c001-older").tag("ImageIdParameterName", "/ami/web")).await;
    let old = f.image(MAIN_REGION, ImageSpec::named("c001-old")).await;
    f.set_parameter(MAIN_REGION, "/ami/web", old.as_str()).await;
    let new = f.image(MAIN_REGION, ImageSpec::named("c001-new").tag("ImageIdParameterName", "/ami/web")).await;
    let origin = Origin::new(&f.account(), MAIN_REGION, "c001-param");
    let event = origin.backup_job(new.as_str(), "i-0123456789abcdef0", "COMPLETED");
    let report = run(f, &config, event.clone()).await;
    assert_eq!(statuses(&report), [Status::Updated], "{report:#?}");
    assert_eq!(f.parameter(MAIN_REGION, "/ami/web").await, Some((new.to_string(), 2)));
    assert_eq!(report.aws_calls, 4, "{:?}", report.aws_calls_by_operation);

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
    let config = config(&f.account(), FROM_TAGS);
    let old = f.image(MAIN_REGION, ImageSpec::named("c001-stack-old")).await;
    let parameters =
        BTreeMap::from([("ImageId".to_owned(), old.to_string()), ("InstanceType".to_owned(), "t3.small".to_owned())]);
    f.stack(MAIN_REGION, "conformance-app", parameters).await;
    let new = f.image(MAIN_REGION, ImageSpec::named("c001-stack-new").tag("StackName", "conformance-app")).await;
    let origin = Origin::new(&f.account(), MAIN_REGION, "c001-stack");
    let event = origin.backup_job(new.as_str(), "i-0123456789abcdef0", "COMPLETED");
    let report = run(f, &config, event.clone()).await;
    assert_eq!(statuses(&report), [Status::Updated], "{report:#?}");
    let parameters = f.stack_parameters(MAIN_REGION, "conformance-app").await;
    assert_eq!(parameters.get("ImageId").map(String::as_str), Some(new.as_str()));
    assert_eq!(parameters.get("InstanceType").map(String::as_str), Some("t3.small"));
    // DescribeImages, DescribeStacks, DescribeImages (current), UpdateStack.
    assert_eq!(report.aws_calls, 4, "{:?}", report.aws_calls_by_operation);
    let report = run(f, &config, event).await;
    assert_eq!(statuses(&report), [Status::Unchanged], "{report:#?}");
}

/// Seed 002 (1): `CreateAutoScalingGroup` sets the group to `$Latest`.
pub async fn seed_002_asg_created_to_latest(f: &dyn Fixture) {
    let config = config(
        &f.account(),
        r#"
        [[rules]]
        name = "asg-to-latest"
        on = ["asg_created"]
        [[rules.targets]]
        kind = "auto_scaling_group"
        name = "{asg_name}"
        version = "$Latest"
        "#,
    );
    let image = f.image(MAIN_REGION, ImageSpec::named("c002-base")).await;
    let template = f.launch_template(MAIN_REGION, "c002-asg", &image).await;
    let pinned = LaunchTemplateSpec { id: template.clone(), version: "1".into() };
    f.auto_scaling_group(MAIN_REGION, "c002-asg", pinned).await;
    let origin = Origin::new(&f.account(), MAIN_REGION, "c002-asg");
    let event = origin.create_auto_scaling_group("c002-asg", &template, "1");
    let report = run(f, &config, event.clone()).await;
    assert_eq!(statuses(&report), [Status::Updated], "{report:#?}");
    let spec = f.group_template(MAIN_REGION, "c002-asg").await.expect("group has a launch template");
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
    let config = config(
        &f.account(),
        r#"
        [[rules]]
        name = "dlm-to-launch-template"
        on = ["image_created", "image_state_changed"]
        [rules.match]
        description_contains = "EC2_BACKUP"
        [[rules.targets]]
        kind = "launch_template"
        id_from_parameter = "/conformance/launch-template-id"
        "#,
    );
    let base = f.image(MAIN_REGION, ImageSpec::named("c002-dlm-base")).await;
    let template = f.launch_template(MAIN_REGION, "c002-dlm", &base).await;
    f.set_parameter(MAIN_REGION, "/conformance/launch-template-id", &template).await;
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
    // DescribeImages (current), CreateLaunchTemplateVersion, ModifyLaunchTemplate.
    assert_eq!(report.aws_calls, 7, "{:?}", report.aws_calls_by_operation);
    let report = run(f, &config, event).await;
    assert_eq!(statuses(&report), [Status::Unchanged], "{report:#?}");
    assert_eq!(f.template_state(MAIN_REGION, &template).await.latest_version, 2);
}

/// Seed 003: a schedule bakes the builder instance, waits until the AMI is available, then
/// moves the launch template and the group that pins a version number.
pub async fn seed_003_scheduled_bake(f: &dyn Fixture) {
    let instance = f.instance(MAIN_REGION).await;
    let config = config(
        &f.account(),
        &format!(
            r#"
            [wait]
            timeout_seconds = 120
            poll_seconds = 1
            [[rules]]
            name = "nightly-bake"
            [rules.match]
            schedule_rule = "nightly-ami"
            [rules.bake]
            instance_id = "{instance}"
            [[rules.targets]]
            kind = "launch_template"
            name = "c003-web"
            [[rules.targets]]
            kind = "auto_scaling_group"
            name = "c003-web-asg"
            "#
        ),
    );
    let base = f.image(MAIN_REGION, ImageSpec::named("c003-base")).await;
    let template = f.launch_template(MAIN_REGION, "c003-web", &base).await;
    f.auto_scaling_group(MAIN_REGION, "c003-web-asg", LaunchTemplateSpec { id: template.clone(), version: "1".into() })
        .await;
    let origin = Origin::new(&f.account(), MAIN_REGION, "c003-schedule");
    let report = run(f, &config, origin.scheduled("nightly-ami")).await;
    assert_eq!(statuses(&report), [Status::Updated, Status::Updated, Status::Updated], "{report:#?}");
    let baked = ImageId::new(report.targets[0].outcome.to.clone().expect("the bake names its image"));
    let state = f.template_state(MAIN_REGION, &template).await;
    assert_eq!(state.versions.first(), Some(&(2, Some(baked))), "{state:?}");
    let spec = f.group_template(MAIN_REGION, "c003-web-asg").await.expect("group has a launch template");
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
            ("ec2:DescribeLaunchTemplateVersions", 2),
            ("ec2:DescribeLaunchTemplates", 1),
            ("ec2:ModifyLaunchTemplate", 1),
        ]
    );
}

/// Safety: events from another account and tags naming parameters outside the allow-list
/// are refused, and nothing is written.
pub async fn refusals_write_nothing(f: &dyn Fixture) {
    let config = config(&f.account(), FROM_TAGS);
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
}
