//! [`MemoryFixture`]: the suite over [`MemoryAws`].

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;

use super::{Fixture, ImageFacts, ImageSpec, SweepFixture, TemplateState};
use crate::backend::{Aws, Ec2Api};
use crate::memory::{ImageSeed, MemoryAws};
use crate::model::{CreateLaunchTemplateVersion, ImageId, ImageState, LaunchTemplateSpec, Region, SnapshotState, Tags};

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
        let request = CreateLaunchTemplateVersion::new(template, latest, image, "");
        let version = self.aws.create_launch_template_version(&region, &request).await.unwrap();
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
