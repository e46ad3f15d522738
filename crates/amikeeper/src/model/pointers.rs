//! The resources that point at AMIs, as much of them as amikeeper reads and writes: launch
//! templates, Auto Scaling groups, SSM parameters, CloudFormation stacks.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

use time::OffsetDateTime;

use super::{ImageId, Tags};

/// How a reference names a launch template.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LaunchTemplateRef {
    /// By id, `lt-...`.
    Id(String),
    /// By name.
    Name(String),
}

impl fmt::Display for LaunchTemplateRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => f.write_str(id),
            Self::Name(name) => f.write_str(name),
        }
    }
}

/// A launch template, without its versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchTemplate {
    /// `lt-...`.
    pub id: String,
    /// The template name.
    pub name: String,
    /// The default version number.
    pub default_version: i64,
    /// The latest version number.
    pub latest_version: i64,
    /// The template's tags.
    pub tags: Tags,
}

/// One version of a launch template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchTemplateVersion {
    /// The version number.
    pub number: i64,
    /// The AMI this version launches, if it sets one.
    pub image_id: Option<ImageId>,
    /// The version description.
    pub description: Option<String>,
    /// Whether this is the default version.
    pub is_default: bool,
    /// When the version was created (`CreateTime`), when the backend reports it.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub created: Option<OffsetDateTime>,
}

/// A `CreateLaunchTemplateVersion` request: a new version of a template, copied from one of
/// its versions, that launches another AMI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateLaunchTemplateVersion {
    /// The template id.
    pub template_id: String,
    /// The version the new one is copied from.
    pub source_version: i64,
    /// The AMI the new version launches (its `ImageId`).
    pub image_id: ImageId,
    /// The new version's description.
    pub description: String,
}

impl CreateLaunchTemplateVersion {
    /// A copy of version `source_version` of `template_id` that launches `image_id`.
    pub fn new(
        template_id: impl Into<String>,
        source_version: i64,
        image_id: &ImageId,
        description: impl Into<String>,
    ) -> Self {
        Self {
            template_id: template_id.into(),
            source_version,
            image_id: image_id.clone(),
            description: description.into(),
        }
    }
}

/// A launch template and version as an Auto Scaling group names them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchTemplateSpec {
    /// The template id.
    pub id: String,
    /// The version: a number, `$Latest` or `$Default`.
    pub version: String,
}

/// An Auto Scaling group, as much of it as amikeeper reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoScalingGroup {
    /// The group name.
    pub name: String,
    /// The launch template the group launches from, directly or in its mixed-instances policy.
    pub launch_template: Option<LaunchTemplateSpec>,
    /// Launch templates named by mixed-instances overrides.
    pub override_launch_templates: Vec<LaunchTemplateSpec>,
    /// Whether the group launches through a mixed-instances policy (its launch template is
    /// then set inside the policy).
    #[serde(default)]
    pub mixed_instances_policy: bool,
    /// The group's tags.
    pub tags: Tags,
}

/// The SSM parameter types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum ParameterType {
    /// A plain string.
    #[default]
    String,
    /// A comma-separated list.
    StringList,
    /// An encrypted string; its value is never logged.
    SecureString,
}

/// An SSM parameter's current version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parameter {
    /// The parameter name.
    pub name: String,
    /// The current value.
    pub value: String,
    /// The current version number (1 after creation).
    pub version: i64,
    /// The parameter type.
    pub kind: ParameterType,
    /// `text` or `aws:ec2:image`.
    pub data_type: String,
    /// When the current version was written (`LastModifiedDate`), when the backend reports it.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_modified: Option<OffsetDateTime>,
}

/// A `PutParameter` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutParameter {
    /// The parameter name.
    pub name: String,
    /// The value to store.
    pub value: String,
    /// The type to create it with.
    pub kind: ParameterType,
    /// `text` (the default) or `aws:ec2:image`.
    pub data_type: Option<String>,
    /// Replace an existing value.
    pub overwrite: bool,
    /// Description stored with the parameter.
    pub description: Option<String>,
}

/// A CloudFormation stack, as much of it as amikeeper reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stack {
    /// The stack name.
    pub name: String,
    /// The stack id (ARN).
    pub id: String,
    /// The stack status, e.g. `UPDATE_COMPLETE`.
    pub status: String,
    /// Parameter values by key.
    pub parameters: BTreeMap<String, String>,
    /// When the stack was last updated (`LastUpdatedTime`, any change, not only a parameter's),
    /// or created (`CreationTime`) when it never was; `None` when the backend does not say.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub updated: Option<OffsetDateTime>,
}

impl Stack {
    /// Whether an operation is running on the stack (any `*_IN_PROGRESS` status).
    pub fn is_busy(&self) -> bool {
        self.status.ends_with("_IN_PROGRESS")
    }
}

/// One parameter of an `UpdateStack` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StackParameterValue {
    /// Keep the value the stack has.
    UsePrevious,
    /// Set this value.
    Value(String),
}

/// An `UpdateStack` request that keeps the template (`UsePreviousTemplate`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateStack {
    /// The stack name or id.
    pub name: String,
    /// Every parameter of the stack, each new or `UsePreviousValue`.
    pub parameters: Vec<(String, StackParameterValue)>,
    /// Capabilities to acknowledge, e.g. `CAPABILITY_NAMED_IAM`.
    pub capabilities: Vec<String>,
}

/// What `UpdateStack` answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StackUpdate {
    /// The update started; it finishes asynchronously.
    Started {
        /// The stack id.
        stack_id: String,
    },
    /// CloudFormation said "No updates are to be performed".
    NoChange,
}

/// The preferences of one instance refresh (`StartInstanceRefresh`, rolling), and the table
/// form of an `auto_scaling_group` target's `instance_refresh`; unset ones are Auto Scaling's
/// defaults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceRefreshPreferences {
    /// The share of the group's capacity (0 to 100) that stays in service while instances are
    /// replaced (Auto Scaling's default: 90).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_healthy_percentage: Option<u8>,
    /// Seconds a new instance needs before it counts as in service (Auto Scaling's default:
    /// the group's health check grace period).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_warmup_seconds: Option<u32>,
}
