//! What a backend under test provides to the scenarios: [`Fixture`] and [`SweepFixture`], the
//! specs and facts they take and return, and the [`Capabilities`] a backend reports.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;

use crate::backend::Aws;
use crate::model::{ImageId, LaunchTemplateSpec, Tags};

/// The APIs a backend serves beyond those every scenario needs, in the manner of OpenDAL's
/// service capabilities: a scenario checks what it may expect against them instead of naming
/// a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// `ec2:DescribeImageReferences` answers (where it does not, the sweep reports the check
    /// unavailable and goes by its own inventory).
    pub image_references: bool,
    /// The Recycle Bin (`rbin:ListRules`) answers (where it does not, the sweep reports the
    /// undo check unavailable).
    pub recycle_bin: bool,
}

impl Capabilities {
    /// Every API, as AWS serves them in a commercial region.
    pub const ALL: Self = Self { image_references: true, recycle_bin: true };

    /// These capabilities without `ec2:DescribeImageReferences`.
    pub const fn without_image_references(self) -> Self {
        Self { image_references: false, ..self }
    }

    /// These capabilities without the Recycle Bin.
    pub const fn without_recycle_bin(self) -> Self {
        Self { recycle_bin: false, ..self }
    }
}

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
    /// What the backend serves: where it lacks an API (an emulator's gaps, like regions
    /// without it), its calls fail and the scenarios expect amikeeper's fallback.
    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
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
