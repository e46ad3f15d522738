//! The policy `iam-policy` prints, evaluated as IAM would: every call the conformance scenarios
//! make, with the resource ARN it touches, is allowed by the policy of the scenario's own
//! configuration; a write outside the configured names is denied.
//!
//! The calls are recorded by [`Recorder`], a backend wrapper that names the ARN of each call's
//! resource as IAM authorizes it (`*` for the calls AWS authorizes against `*`). [`allows`] is a
//! small IAM evaluator for Allow statements: `Action` and `Resource` with `*` and `?`
//! wildcards (a wildcard stays within its ARN segment, except in the resource part), and the
//! `StringEquals` / `StringLike` / `ArnLike` conditions on `aws:RequestedRegion`; any other
//! condition does not hold, so that the evaluator never allows what IAM might deny.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use amikeeper::backend::{
    AutoScalingApi, Aws, AwsResult, CloudFormationApi, Ec2Api, InstanceRefreshPreferences, RecycleBinApi, SsmApi,
    StsApi,
};
use amikeeper::conformance::{self, Fixture, ImageSpec, MemoryFixture, SweepFixture, TemplateState};
use amikeeper::iam;
use amikeeper::model::{
    AccountId, AllowedImagesSettings, AutoScalingGroup, CopyImage, CreateImage, CreateLaunchTemplateVersion, Image,
    ImageId, ImageReference, Instance, LaunchConfiguration, LaunchTemplate, LaunchTemplateRef, LaunchTemplateSpec,
    LaunchTemplateVersion, Parameter, PutParameter, RecycleBinResource, RecycleBinRule, Region, Snapshot, Stack,
    StackUpdate, Tags, UpdateStack, Volume,
};
use amikeeper::samples::configs;
use amikeeper::{Config, Keeper, StatusOptions};
use async_trait::async_trait;
use serde_json::Value;
use time::OffsetDateTime;

// ------------------------------------------------------------------------------ the evaluator

/// One call as IAM sees it: the action, one resource it is authorized against, and the region
/// the request went to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Call {
    action: &'static str,
    resource: String,
    region: String,
}

/// `*` (any run of characters) and `?` (any one) against `text`; `*` does not cross `stop`
/// (`None`: crosses everything).
fn wildcard(pattern: &[u8], text: &[u8], stop: Option<u8>) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len())
            .take_while(|&i| i == 0 || Some(text[i - 1]) != stop)
            .any(|i| wildcard(rest, &text[i..], stop)),
        Some((b'?', rest)) => text.first().is_some_and(|c| Some(*c) != stop) && wildcard(rest, &text[1..], stop),
        Some((c, rest)) => text.first() == Some(c) && wildcard(rest, &text[1..], stop),
    }
}

/// Whether an ARN pattern of a `Resource` element matches `arn`: segment by segment
/// (partition, service, region, account), then the resource part, where `*` matches anything.
fn arn_matches(pattern: &str, arn: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let pattern: Vec<&str> = pattern.splitn(6, ':').collect();
    let arn: Vec<&str> = arn.splitn(6, ':').collect();
    if pattern.len() != 6 || arn.len() != 6 {
        return false;
    }
    pattern[..5].iter().zip(&arn[..5]).all(|(p, a)| wildcard(p.as_bytes(), a.as_bytes(), Some(b':')))
        && wildcard(pattern[5].as_bytes(), arn[5].as_bytes(), None)
}

/// A string or an array of strings.
fn strings(value: &Value) -> Vec<&str> {
    match value {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn conditions_hold(statement: &Value, call: &Call) -> bool {
    let Some(condition) = statement.get("Condition") else { return true };
    let Some(operators) = condition.as_object() else { return false };
    operators.iter().all(|(operator, keys)| {
        keys.as_object().is_some_and(|keys| {
            keys.iter().all(|(key, wanted)| {
                let actual = match key.as_str() {
                    "aws:RequestedRegion" => call.region.as_str(),
                    _ => return false,
                };
                strings(wanted).iter().any(|w| match operator.as_str() {
                    "StringEquals" => *w == actual,
                    "StringLike" | "ArnLike" => wildcard(w.as_bytes(), actual.as_bytes(), None),
                    _ => false,
                })
            })
        })
    })
}

/// Whether some Allow statement of `policy` allows `call`.
fn allows(policy: &Value, call: &Call) -> bool {
    let statements = policy["Statement"].as_array().expect("statements");
    statements.iter().any(|statement| {
        statement["Effect"] == "Allow"
            && strings(&statement["Action"]).iter().any(|action| {
                wildcard(action.to_ascii_lowercase().as_bytes(), call.action.to_ascii_lowercase().as_bytes(), None)
            })
            && strings(&statement["Resource"]).iter().any(|pattern| arn_matches(pattern, &call.resource))
            && conditions_hold(statement, call)
    })
}

#[test]
fn the_evaluator_matches_as_iam_does() {
    let arn = "arn:aws:ssm:ap-northeast-1:111122223333:parameter/ami/web";
    assert!(arn_matches("arn:aws:ssm:*:111122223333:parameter/ami/*", arn));
    assert!(arn_matches("arn:aws:ssm:ap-northeast-?:111122223333:parameter/ami/web", arn));
    assert!(!arn_matches("arn:aws:ssm:*:111122223333:parameter/ami", arn));
    assert!(!arn_matches("arn:aws:ssm:*:999999999999:parameter/ami/*", arn));
    assert!(!arn_matches("arn:aws:ssm:*:111122223333:parameter/prod/*", arn));
    assert!(!arn_matches("arn:aws:ec2:*::image/*", arn));
    assert!(!arn_matches("arn:aws:s*:*:111122223333:parameter/ami/web/x", arn));
    assert!(!arn_matches("arn:aws:ssm:*:1111*:parameter/ami/web", "arn:aws:ssm:r:1111:2222:parameter/ami/web"));
    let group = "arn:aws:autoscaling:ap-northeast-1:111122223333:autoScalingGroup:0a1b:autoScalingGroupName/app-1";
    assert!(arn_matches("arn:aws:autoscaling:*:111122223333:autoScalingGroup:*:autoScalingGroupName/app-*", group));
    let policy = serde_json::json!({ "Statement": [{
        "Effect": "Allow", "Action": ["ec2:CopyImage"], "Resource": ["arn:aws:ec2:*::image/*"],
        "Condition": { "StringEquals": { "aws:RequestedRegion": ["ap-northeast-3"] } },
    }]});
    let copy = |region: &str| Call {
        action: "ec2:CopyImage",
        resource: format!("arn:aws:ec2:{region}::image/ami-1"),
        region: region.into(),
    };
    assert!(allows(&policy, &copy("ap-northeast-3")));
    assert!(!allows(&policy, &copy("eu-west-1")));
}

// ------------------------------------------------------------------------------- the recorder

/// A stack or group id the recorder does not know: IAM's ARN has one, the policy matches any.
const UNKNOWN_ID: &str = "00000000-0000-0000-0000-000000000000";

/// Wraps a backend and records each call with the ARN of every resource it touches.
struct Recorder {
    inner: Arc<dyn Aws>,
    account: String,
    calls: Mutex<Vec<Call>>,
}

impl Recorder {
    fn record(&self, action: &'static str, region: &str, resource: String) {
        self.calls.lock().unwrap().push(Call { action, resource, region: region.to_owned() });
    }

    /// A call authorized against `*` (the action has no resource type, or the call names none).
    fn any(&self, action: &'static str, region: &Region) {
        self.record(action, region.as_str(), "*".into());
    }

    fn image(&self, region: &str, image: &str) -> String {
        format!("arn:aws:ec2:{region}::image/{image}")
    }

    fn ec2(&self, region: &str, resource: &str) -> String {
        match resource.split('-').next() {
            Some("ami") => self.image(region, resource),
            Some("snap") => format!("arn:aws:ec2:{region}::snapshot/{resource}"),
            Some("lt") => format!("arn:aws:ec2:{region}:{}:launch-template/{resource}", self.account),
            Some("i") => format!("arn:aws:ec2:{region}:{}:instance/{resource}", self.account),
            Some("vol") => format!("arn:aws:ec2:{region}:{}:volume/{resource}", self.account),
            _ => panic!("an EC2 resource id the recorder does not know: {resource}"),
        }
    }

    fn parameter(&self, region: &Region, name: &str) -> String {
        format!("arn:aws:ssm:{region}:{}:parameter/{}", self.account, name.strip_prefix('/').unwrap_or(name))
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }
}

#[async_trait]
impl Ec2Api for Recorder {
    async fn describe_image(&self, region: &Region, image_id: &ImageId) -> AwsResult<Option<Image>> {
        self.any("ec2:DescribeImages", region);
        self.inner.describe_image(region, image_id).await
    }

    async fn describe_image_references(
        &self,
        region: &Region,
        image_ids: &[ImageId],
    ) -> AwsResult<Vec<ImageReference>> {
        self.any("ec2:DescribeImageReferences", region);
        self.inner.describe_image_references(region, image_ids).await
    }

    async fn create_image(&self, region: &Region, request: &CreateImage) -> AwsResult<ImageId> {
        let r = region.as_str();
        self.record("ec2:CreateImage", r, self.ec2(r, &request.instance_id));
        let image = self.inner.create_image(region, request).await?;
        self.record("ec2:CreateImage", r, self.image(r, image.as_str()));
        if !request.tags.is_empty() {
            self.record("ec2:CreateTags", r, self.image(r, image.as_str()));
        }
        Ok(image)
    }

    async fn copy_image(&self, region: &Region, request: &CopyImage) -> AwsResult<ImageId> {
        let r = region.as_str();
        self.record("ec2:CopyImage", r, self.image(request.source_region.as_str(), request.source_image_id.as_str()));
        let image = self.inner.copy_image(region, request).await?;
        self.record("ec2:CopyImage", r, self.image(r, image.as_str()));
        if !request.tags.is_empty() {
            self.record("ec2:CreateTags", r, self.image(r, image.as_str()));
        }
        Ok(image)
    }

    async fn share_image(&self, region: &Region, image_id: &ImageId, account: &AccountId) -> AwsResult<()> {
        self.record("ec2:ModifyImageAttribute", region.as_str(), self.image(region.as_str(), image_id.as_str()));
        self.inner.share_image(region, image_id, account).await
    }

    async fn share_snapshot(&self, region: &Region, snapshot_id: &str, account: &AccountId) -> AwsResult<()> {
        self.record("ec2:ModifySnapshotAttribute", region.as_str(), self.ec2(region.as_str(), snapshot_id));
        self.inner.share_snapshot(region, snapshot_id, account).await
    }

    async fn describe_images_tagged(&self, region: &Region, key: &str, value: &str) -> AwsResult<Vec<Image>> {
        self.any("ec2:DescribeImages", region);
        self.inner.describe_images_tagged(region, key, value).await
    }

    async fn describe_launch_template(
        &self,
        region: &Region,
        template: &LaunchTemplateRef,
    ) -> AwsResult<Option<LaunchTemplate>> {
        self.any("ec2:DescribeLaunchTemplates", region);
        self.inner.describe_launch_template(region, template).await
    }

    async fn describe_launch_template_versions(
        &self,
        region: &Region,
        template_id: &str,
    ) -> AwsResult<Vec<LaunchTemplateVersion>> {
        self.any("ec2:DescribeLaunchTemplateVersions", region);
        self.inner.describe_launch_template_versions(region, template_id).await
    }

    async fn create_launch_template_version(
        &self,
        region: &Region,
        request: &CreateLaunchTemplateVersion,
    ) -> AwsResult<i64> {
        let template = self.ec2(region.as_str(), &request.template_id);
        self.record("ec2:CreateLaunchTemplateVersion", region.as_str(), template);
        self.inner.create_launch_template_version(region, request).await
    }

    async fn set_default_launch_template_version(
        &self,
        region: &Region,
        template_id: &str,
        version: i64,
    ) -> AwsResult<i64> {
        self.record("ec2:ModifyLaunchTemplate", region.as_str(), self.ec2(region.as_str(), template_id));
        self.inner.set_default_launch_template_version(region, template_id, version).await
    }

    async fn delete_launch_template_versions(
        &self,
        region: &Region,
        template_id: &str,
        versions: &[i64],
    ) -> AwsResult<Vec<(i64, String)>> {
        self.record("ec2:DeleteLaunchTemplateVersions", region.as_str(), self.ec2(region.as_str(), template_id));
        self.inner.delete_launch_template_versions(region, template_id, versions).await
    }

    async fn describe_own_images(&self, region: &Region) -> AwsResult<Vec<Image>> {
        self.any("ec2:DescribeImages", region);
        self.inner.describe_own_images(region).await
    }

    async fn describe_own_snapshots(&self, region: &Region) -> AwsResult<Vec<Snapshot>> {
        self.any("ec2:DescribeSnapshots", region);
        self.inner.describe_own_snapshots(region).await
    }

    async fn describe_snapshots_tagged(&self, region: &Region, tag_key: &str) -> AwsResult<Vec<Snapshot>> {
        self.any("ec2:DescribeSnapshots", region);
        self.inner.describe_snapshots_tagged(region, tag_key).await
    }

    async fn get_allowed_images_settings(&self, region: &Region) -> AwsResult<AllowedImagesSettings> {
        self.any("ec2:GetAllowedImagesSettings", region);
        self.inner.get_allowed_images_settings(region).await
    }

    async fn describe_volumes_tagged(&self, region: &Region, tag_key: &str) -> AwsResult<Vec<Volume>> {
        self.any("ec2:DescribeVolumes", region);
        self.inner.describe_volumes_tagged(region, tag_key).await
    }

    async fn describe_instances(&self, region: &Region) -> AwsResult<Vec<Instance>> {
        self.any("ec2:DescribeInstances", region);
        self.inner.describe_instances(region).await
    }

    async fn describe_launch_templates(&self, region: &Region) -> AwsResult<Vec<LaunchTemplate>> {
        self.any("ec2:DescribeLaunchTemplates", region);
        self.inner.describe_launch_templates(region).await
    }

    async fn deregister_image(
        &self,
        region: &Region,
        image_id: &ImageId,
        delete_snapshots: bool,
    ) -> AwsResult<Vec<String>> {
        let r = region.as_str();
        self.record("ec2:DeregisterImage", r, self.image(r, image_id.as_str()));
        let deleted = self.inner.deregister_image(region, image_id, delete_snapshots).await?;
        for snapshot in &deleted {
            self.record("ec2:DeleteSnapshot", r, self.ec2(r, snapshot));
        }
        Ok(deleted)
    }

    async fn delete_snapshot(&self, region: &Region, snapshot_id: &str) -> AwsResult<()> {
        self.record("ec2:DeleteSnapshot", region.as_str(), self.ec2(region.as_str(), snapshot_id));
        self.inner.delete_snapshot(region, snapshot_id).await
    }

    async fn enable_image_deprecation(&self, region: &Region, image_id: &ImageId, at: OffsetDateTime) -> AwsResult<()> {
        self.record("ec2:EnableImageDeprecation", region.as_str(), self.image(region.as_str(), image_id.as_str()));
        self.inner.enable_image_deprecation(region, image_id, at).await
    }

    async fn disable_image(&self, region: &Region, image_id: &ImageId) -> AwsResult<()> {
        self.record("ec2:DisableImage", region.as_str(), self.image(region.as_str(), image_id.as_str()));
        self.inner.disable_image(region, image_id).await
    }

    async fn set_deregistration_protection(&self, region: &Region, image_id: &ImageId, enabled: bool) -> AwsResult<()> {
        let action = if enabled {
            "ec2:EnableImageDeregistrationProtection"
        } else {
            "ec2:DisableImageDeregistrationProtection"
        };
        self.record(action, region.as_str(), self.image(region.as_str(), image_id.as_str()));
        self.inner.set_deregistration_protection(region, image_id, enabled).await
    }

    async fn create_tags(&self, region: &Region, resource_ids: &[String], tags: &Tags) -> AwsResult<()> {
        for id in resource_ids {
            self.record("ec2:CreateTags", region.as_str(), self.ec2(region.as_str(), id));
        }
        self.inner.create_tags(region, resource_ids, tags).await
    }
}

#[async_trait]
impl SsmApi for Recorder {
    async fn get_parameter(&self, region: &Region, name: &str) -> AwsResult<Option<Parameter>> {
        self.record("ssm:GetParameter", region.as_str(), self.parameter(region, name));
        self.inner.get_parameter(region, name).await
    }

    async fn put_parameter(&self, region: &Region, request: &PutParameter) -> AwsResult<i64> {
        self.record("ssm:PutParameter", region.as_str(), self.parameter(region, &request.name));
        self.inner.put_parameter(region, request).await
    }

    async fn delete_parameter(&self, region: &Region, name: &str) -> AwsResult<()> {
        self.record("ssm:DeleteParameter", region.as_str(), self.parameter(region, name));
        self.inner.delete_parameter(region, name).await
    }

    async fn get_parameters_by_path(&self, region: &Region, path: &str) -> AwsResult<Vec<Parameter>> {
        // Authorized against the path itself, not the parameters returned.
        self.record("ssm:GetParametersByPath", region.as_str(), self.parameter(region, path));
        self.inner.get_parameters_by_path(region, path).await
    }

    async fn get_parameter_history(&self, region: &Region, name: &str) -> AwsResult<Vec<(i64, String)>> {
        self.record("ssm:GetParameterHistory", region.as_str(), self.parameter(region, name));
        self.inner.get_parameter_history(region, name).await
    }

    async fn describe_parameter_names(&self, region: &Region) -> AwsResult<Vec<String>> {
        self.any("ssm:DescribeParameters", region);
        self.inner.describe_parameter_names(region).await
    }

    async fn get_parameters(&self, region: &Region, names: &[String]) -> AwsResult<Vec<Parameter>> {
        for name in names {
            self.record("ssm:GetParameters", region.as_str(), self.parameter(region, name));
        }
        self.inner.get_parameters(region, names).await
    }
}

#[async_trait]
impl amikeeper::backend::ImageBuilderApi for Recorder {
    async fn list_recipe_images(&self, region: &Region) -> AwsResult<Vec<amikeeper::model::RecipeImage>> {
        self.any("imagebuilder:ListImageRecipes", region);
        self.any("imagebuilder:ListContainerRecipes", region);
        let recipes = self.inner.list_recipe_images(region).await?;
        for recipe in recipes.iter().filter(|r| r.resource_type == "imagebuilder:ContainerRecipe") {
            self.record("imagebuilder:GetContainerRecipe", region.as_str(), recipe.arn.clone());
        }
        Ok(recipes)
    }
}

#[async_trait]
impl AutoScalingApi for Recorder {
    async fn describe_auto_scaling_group(&self, region: &Region, name: &str) -> AwsResult<Option<AutoScalingGroup>> {
        self.any("autoscaling:DescribeAutoScalingGroups", region);
        self.inner.describe_auto_scaling_group(region, name).await
    }

    async fn describe_auto_scaling_groups(&self, region: &Region) -> AwsResult<Vec<AutoScalingGroup>> {
        self.any("autoscaling:DescribeAutoScalingGroups", region);
        self.inner.describe_auto_scaling_groups(region).await
    }

    async fn describe_launch_configurations(&self, region: &Region) -> AwsResult<Vec<LaunchConfiguration>> {
        self.any("autoscaling:DescribeLaunchConfigurations", region);
        self.inner.describe_launch_configurations(region).await
    }

    async fn set_launch_template(
        &self,
        region: &Region,
        group: &AutoScalingGroup,
        template: &LaunchTemplateSpec,
    ) -> AwsResult<()> {
        let r = region.as_str();
        let arn = format!(
            "arn:aws:autoscaling:{r}:{}:autoScalingGroup:{UNKNOWN_ID}:autoScalingGroupName/{}",
            self.account, group.name
        );
        self.record("autoscaling:UpdateAutoScalingGroup", r, arn);
        // Auto Scaling checks that the caller may launch from the template.
        self.record("ec2:RunInstances", r, self.ec2(r, &template.id));
        self.inner.set_launch_template(region, group, template).await
    }

    async fn start_instance_refresh(
        &self,
        region: &Region,
        group: &str,
        preferences: &InstanceRefreshPreferences,
    ) -> AwsResult<String> {
        let r = region.as_str();
        let arn = format!(
            "arn:aws:autoscaling:{r}:{}:autoScalingGroup:{UNKNOWN_ID}:autoScalingGroupName/{group}",
            self.account
        );
        self.record("autoscaling:StartInstanceRefresh", r, arn);
        self.inner.start_instance_refresh(region, group, preferences).await
    }
}

#[async_trait]
impl CloudFormationApi for Recorder {
    async fn describe_stack(&self, region: &Region, name: &str) -> AwsResult<Option<Stack>> {
        let arn = format!("arn:aws:cloudformation:{region}:{}:stack/{name}/{UNKNOWN_ID}", self.account);
        self.record("cloudformation:DescribeStacks", region.as_str(), arn);
        self.inner.describe_stack(region, name).await
    }

    async fn update_stack(&self, region: &Region, request: &UpdateStack) -> AwsResult<StackUpdate> {
        let arn = format!("arn:aws:cloudformation:{region}:{}:stack/{}/{UNKNOWN_ID}", self.account, request.name);
        self.record("cloudformation:UpdateStack", region.as_str(), arn);
        self.inner.update_stack(region, request).await
    }

    async fn describe_stacks(&self, region: &Region) -> AwsResult<Vec<Stack>> {
        // Without a stack name: authorized against `*`, and needs ListStacks too.
        self.any("cloudformation:DescribeStacks", region);
        self.any("cloudformation:ListStacks", region);
        self.inner.describe_stacks(region).await
    }
}

#[async_trait]
impl RecycleBinApi for Recorder {
    async fn list_recycle_bin_rules(
        &self,
        region: &Region,
        resource_type: RecycleBinResource,
    ) -> AwsResult<Vec<RecycleBinRule>> {
        self.any("rbin:ListRules", region);
        let rules = self.inner.list_recycle_bin_rules(region, resource_type).await?;
        for rule in &rules {
            self.record(
                "rbin:GetRule",
                region.as_str(),
                format!("arn:aws:rbin:{region}:{}:rule/{}", self.account, rule.id),
            );
        }
        Ok(rules)
    }
}

#[async_trait]
impl StsApi for Recorder {
    async fn assume_role(&self, role_arn: &str, external_id: Option<&str>) -> AwsResult<Arc<dyn Aws>> {
        // What the role does there is its own policy's business (the caveats), not this one's.
        self.record("sts:AssumeRole", "us-east-1", role_arn.to_owned());
        self.inner.assume_role(role_arn, external_id).await
    }
}

#[async_trait]
impl amikeeper::backend::EventsApi for Recorder {
    async fn put_events(
        &self,
        region: &Region,
        entries: &[amikeeper::model::EventEntry],
    ) -> AwsResult<Vec<amikeeper::model::EntryResult>> {
        for entry in entries {
            let arn = match entry.event_bus.starts_with("arn:") {
                true => entry.event_bus.clone(),
                false => format!("arn:aws:events:{region}:{}:event-bus/{}", self.account, entry.event_bus),
            };
            self.record("events:PutEvents", region.as_str(), arn);
        }
        self.inner.put_events(region, entries).await
    }
}

// -------------------------------------------------------------------------------- the fixture

/// [`MemoryFixture`] whose backend is a [`Recorder`]; it remembers the instances it made.
struct ReplayFixture {
    memory: MemoryFixture,
    recorder: Arc<Recorder>,
    instances: Mutex<Vec<String>>,
}

impl ReplayFixture {
    fn new() -> Self {
        let memory = MemoryFixture::new();
        let recorder =
            Arc::new(Recorder { inner: memory.aws(), account: memory.account(), calls: Mutex::new(Vec::new()) });
        Self { memory, recorder, instances: Mutex::new(Vec::new()) }
    }
}

#[async_trait]
impl Fixture for ReplayFixture {
    fn account(&self) -> String {
        self.memory.account()
    }
    fn capabilities(&self) -> conformance::Capabilities {
        self.memory.capabilities()
    }
    fn aws(&self) -> Arc<dyn Aws> {
        self.recorder.clone()
    }
    async fn instance(&self, region: &str) -> String {
        let id = self.memory.instance(region).await;
        self.instances.lock().unwrap().push(id.clone());
        id
    }
    async fn image(&self, region: &str, spec: ImageSpec) -> ImageId {
        self.memory.image(region, spec).await
    }
    async fn set_parameter(&self, region: &str, name: &str, value: &str) {
        self.memory.set_parameter(region, name, value).await
    }
    async fn parameter(&self, region: &str, name: &str) -> Option<(String, i64)> {
        self.memory.parameter(region, name).await
    }
    async fn launch_template(&self, region: &str, name: &str, image: &ImageId) -> String {
        self.memory.launch_template(region, name, image).await
    }
    async fn template_state(&self, region: &str, id: &str) -> TemplateState {
        self.memory.template_state(region, id).await
    }
    async fn auto_scaling_group(&self, region: &str, name: &str, template: LaunchTemplateSpec) {
        self.memory.auto_scaling_group(region, name, template).await
    }
    async fn group_template(&self, region: &str, name: &str) -> Option<LaunchTemplateSpec> {
        self.memory.group_template(region, name).await
    }
    async fn stack(&self, region: &str, name: &str, parameters: BTreeMap<String, String>) {
        self.memory.stack(region, name, parameters).await
    }
    async fn stack_parameters(&self, region: &str, name: &str) -> BTreeMap<String, String> {
        self.memory.stack_parameters(region, name).await
    }
    async fn own_image_protected(&self, region: &str, image: &ImageId) -> bool {
        self.memory.own_image_protected(region, image).await
    }
}

#[async_trait]
impl SweepFixture for ReplayFixture {
    async fn launch_instance(&self, region: &str, image: &ImageId) -> String {
        self.memory.launch_instance(region, image).await
    }
    async fn stop_instance(&self, region: &str, instance: &str) {
        self.memory.stop_instance(region, instance).await
    }
    async fn template_version(&self, region: &str, template: &str, image: &ImageId, default: bool) -> i64 {
        self.memory.template_version(region, template, image, default).await
    }
    async fn volume(&self, region: &str, tags: Tags) -> String {
        self.memory.volume(region, tags).await
    }
    async fn volume_snapshot(&self, region: &str, volume: &str, tags: Tags) -> String {
        self.memory.volume_snapshot(region, volume, tags).await
    }
    async fn own_images(&self, region: &str) -> Vec<conformance::ImageFacts> {
        self.memory.own_images(region).await
    }
    async fn own_snapshots(&self, region: &str) -> BTreeMap<String, Tags> {
        self.memory.own_snapshots(region).await
    }
}

// ---------------------------------------------------------------------------------- the tests

/// The calls of a scenario that the policy of `config` does not allow, and how many calls
/// touched a named resource (not `*`).
fn denied(config: &str, calls: &[Call]) -> (Vec<String>, usize) {
    let policy = iam::policy(&Config::from_toml(config).expect("a valid configuration"));
    let denied = calls
        .iter()
        .filter(|call| !allows(&policy, call))
        .map(|call| format!("{} on {} (to {})", call.action, call.resource, call.region))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    (denied, calls.iter().filter(|call| call.resource != "*").count())
}

#[tokio::test(start_paused = true)]
async fn every_call_of_the_conformance_scenarios_is_allowed_by_its_configurations_policy() {
    let mut problems = Vec::new();
    let mut named = 0;
    for scenario in conformance::SCENARIOS {
        let fixture = ReplayFixture::new();
        (scenario.run)(&fixture).await;
        // Seed 003 bakes the fixture's own builder instance in place of the seed's.
        let builder = fixture.instances.lock().unwrap().first().cloned();
        let mut config = scenario.config.text(&fixture.account());
        if let Some(builder) = builder {
            config = config.replace(configs::SEED_003_BUILDER, &builder);
        }
        let calls = fixture.recorder.calls();
        assert!(!calls.is_empty(), "{} made no call", scenario.name);
        let (denied, touched) = denied(&config, &calls);
        named += touched;
        problems.extend(denied.into_iter().map(|d| format!("{}: {d}", scenario.name)));
    }
    assert!(problems.is_empty(), "calls the printed policy denies:\n{}", problems.join("\n"));
    assert!(named >= 30, "only {named} calls touched a named resource: the replay checks little");
}

/// `status` after each scenario, in the scenario's region: every call it makes is allowed by
/// the policy's status statements and its role statements alone, so that a read-only role given
/// only those can run it.
#[tokio::test(start_paused = true)]
async fn status_needs_only_the_status_statements() {
    let mut problems = Vec::new();
    let mut calls_made = 0;
    for scenario in conformance::SCENARIOS {
        let fixture = ReplayFixture::new();
        (scenario.run)(&fixture).await;
        let builder = fixture.instances.lock().unwrap().first().cloned();
        let mut text = scenario.config.text(&fixture.account());
        if let Some(builder) = builder {
            text = text.replace(configs::SEED_003_BUILDER, &builder);
        }
        let config = Config::from_toml(&text).expect("a valid configuration");
        let mut policy = iam::policy(&config);
        policy["Statement"].as_array_mut().unwrap().retain(|statement| {
            let sid = statement["Sid"].as_str().unwrap();
            sid.starts_with("AmikeeperStatus") || statement["Action"] == serde_json::json!(["sts:AssumeRole"])
        });
        let before = fixture.recorder.calls().len();
        let keeper = Keeper::new(config, fixture.recorder.clone());
        let options = StatusOptions::default().account(Some(fixture.account()));
        let report = keeper.status(&Region::from(conformance::MAIN_REGION), &options).await;
        let calls = fixture.recorder.calls().split_off(before);
        calls_made += calls.len();
        problems.extend(
            calls
                .iter()
                .filter(|call| !allows(&policy, call))
                .map(|c| format!("{}: {} on {} (to {})", scenario.name, c.action, c.resource, c.region)),
        );
        problems.extend(report.errors.iter().map(|e| format!("{}: status could not read: {e:?}", scenario.name)));
    }
    problems.dedup();
    assert!(problems.is_empty(), "calls of status its statements deny:\n{}", problems.join("\n"));
    assert!(calls_made >= 2 * conformance::SCENARIOS.len(), "status read little: {calls_made} calls");
}

fn call(action: &'static str, resource: &str, region: &str) -> Call {
    Call { action, resource: resource.into(), region: region.into() }
}

#[test]
fn writes_outside_the_configured_names_are_denied() {
    let policy = |text: &str| iam::policy(&Config::from_toml(text).expect("valid"));
    let r = "ap-northeast-1";
    let parameter = |account: &str, name: &str| format!("arn:aws:ssm:{r}:{account}:parameter/{name}");
    let stack = |name: &str| format!("arn:aws:cloudformation:{r}:111122223333:stack/{name}/{UNKNOWN_ID}");
    let group = |name: &str| {
        format!("arn:aws:autoscaling:{r}:111122223333:autoScalingGroup:{UNKNOWN_ID}:autoScalingGroupName/{name}")
    };

    // Seed 001: parameters under the allowed prefixes, stacks whose names can start with one.
    let seed_001 = policy(configs::SEED_001_PARAMETER_AND_STACK_FROM_TAGS);
    for (allowed, write) in [
        (true, call("ssm:PutParameter", &parameter("111122223333", "ami/web"), r)),
        (true, call("ssm:PutParameter", &parameter("111122223333", "solution-web"), r)),
        (false, call("ssm:PutParameter", &parameter("111122223333", "prod/db/password"), r)),
        (false, call("ssm:PutParameter", &parameter("999999999999", "ami/web"), r)),
        (false, call("ssm:DeleteParameter", &parameter("111122223333", "ami/web"), r)),
        (true, call("cloudformation:UpdateStack", &stack("solution2"), r)),
        (false, call("cloudformation:UpdateStack", &stack("payments"), r)),
        (false, call("autoscaling:UpdateAutoScalingGroup", &group("web-asg"), r)),
    ] {
        assert_eq!(allows(&seed_001, &write), allowed, "{write:?}");
    }

    // Seed 000: parameters named after instances only.
    let seed_000 = policy(configs::SEED_000_BACKUP_TO_PARAMETER);
    assert!(allows(&seed_000, &call("ssm:DeleteParameter", &parameter("111122223333", "i-0123456789abcdef0"), r)));
    assert!(!allows(&seed_000, &call("ssm:DeleteParameter", &parameter("111122223333", "prod/db/password"), r)));
    assert!(!allows(&seed_000, &call("ssm:PutParameter", &parameter("111122223333", "prod/db/password"), r)));

    // Seed 002: groups named `app-...` only; seed 003: its own group and builder.
    let seed_002 = policy(configs::SEED_002_ASG_TO_LATEST);
    assert!(allows(&seed_002, &call("autoscaling:UpdateAutoScalingGroup", &group("app-web"), r)));
    assert!(!allows(&seed_002, &call("autoscaling:UpdateAutoScalingGroup", &group("payments"), r)));
    let seed_003 = policy(configs::SEED_003_NIGHTLY_BAKE);
    assert!(allows(&seed_003, &call("autoscaling:UpdateAutoScalingGroup", &group("web-asg"), r)));
    assert!(!allows(&seed_003, &call("autoscaling:UpdateAutoScalingGroup", &group("web-asg-2"), r)));
    let instance = |id: &str| format!("arn:aws:ec2:{r}:111122223333:instance/{id}");
    assert!(allows(&seed_003, &call("ec2:CreateImage", &instance(configs::SEED_003_BUILDER), r)));
    assert!(!allows(&seed_003, &call("ec2:CreateImage", &instance("i-0123456789abcdef0"), r)));

    // Seed 004 sweeps snapshots: it can neither deregister an image nor write a parameter.
    let seed_004 = policy(configs::SEED_004_SNAPSHOT_GENERATIONS);
    assert!(allows(&seed_004, &call("ec2:DeleteSnapshot", &format!("arn:aws:ec2:{r}::snapshot/snap-1"), r)));
    assert!(!allows(&seed_004, &call("ec2:DeregisterImage", &format!("arn:aws:ec2:{r}::image/ami-1"), r)));
    assert!(!allows(&seed_004, &call("ssm:PutParameter", &parameter("111122223333", "ami/web"), r)));

    // copy_to: CopyImage only into the configured regions.
    let copies = policy(
        "accounts = [\"111122223333\"]\n[[rules]]\nname = \"dr\"\ncopy_to = [\"ap-northeast-3\"]\n\
         [[rules.targets]]\nkind = \"ssm_parameter\"\nname = \"/ami/web\"\n",
    );
    let copy = |region: &str| call("ec2:CopyImage", &format!("arn:aws:ec2:{region}::image/ami-1"), region);
    assert!(allows(&copies, &copy("ap-northeast-3")));
    assert!(!allows(&copies, &copy("eu-west-1")));
    assert!(allows(&copies, &call("ssm:PutParameter", &parameter("111122223333", "ami/web"), r)));
    assert!(!allows(&copies, &call("ssm:PutParameter", &parameter("111122223333", "ami/web2"), r)));
}
