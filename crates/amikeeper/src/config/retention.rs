//! `[retention]`: what the sweep keeps and retires, and its checks.

use serde::{Deserialize, Serialize};

use super::{invalid, role_account, yes, Config, ConfigError};
use crate::kinds::Kinds;

impl<T: Kinds> Config<T> {
    pub(super) fn validate_retention(&self, retention: &RetentionConfig) -> Result<(), ConfigError> {
        for (i, consumer) in retention.consumers.iter().enumerate() {
            if !consumer.role_arn.starts_with("arn:") || consumer.account().is_none() {
                return Err(invalid(
                    format!("retention.consumers[{i}].role_arn"),
                    "use a role ARN such as arn:aws:iam::444455556666:role/amikeeper-reader",
                ));
            }
        }
        if retention.concurrency == 0 || retention.concurrency > 64 {
            return Err(invalid("retention.concurrency", "use 1 to 64 requests in flight"));
        }
        if retention.max_requests_per_second == Some(0) {
            return Err(invalid("retention.max_requests_per_second", "use at least 1, or leave it out"));
        }
        for (i, path) in retention.parameter_paths.iter().enumerate() {
            if !path.starts_with('/') {
                return Err(invalid(format!("retention.parameter_paths[{i}]"), format!("`{path}` must start with /")));
            }
        }
        if retention.images.is_empty() && retention.launch_templates.is_none() && retention.snapshots.is_none() {
            return Err(invalid(
                "retention",
                "say what to sweep: [[retention.images]], [retention.launch_templates] or [retention.snapshots]",
            ));
        }
        for (i, policy) in retention.images.iter().enumerate() {
            let at = format!("retention.images[{i}]");
            if policy.keep_newest.is_none() && policy.max_age_days.is_none() {
                return Err(invalid(
                    &at,
                    "set keep_newest or max_age_days (or both); without either nothing would be retired",
                ));
            }
            match &policy.group_by {
                GroupByConfig::Tag(key) if key.is_empty() => {
                    return Err(invalid(format!("{at}.group_by.tag"), "name the tag"));
                }
                GroupByConfig::NamePrefix(prefixes) if prefixes.is_empty() || prefixes.iter().any(String::is_empty) => {
                    return Err(invalid(format!("{at}.group_by.name_prefix"), "list one or more non-empty prefixes"));
                }
                GroupByConfig::PublishedTo(names) if names.is_empty() || names.iter().any(|n| n.trim().is_empty()) => {
                    return Err(invalid(format!("{at}.group_by.published_to"), "list one or more parameter names"));
                }
                GroupByConfig::NamePattern(pattern) => {
                    if let Err(err) = regex::Regex::new(pattern) {
                        return Err(invalid(format!("{at}.group_by.name_pattern"), err.to_string()));
                    }
                }
                _ => {}
            }
            if policy.max_age_days.is_some_and(|max| max < policy.min_age_days) {
                return Err(invalid(format!("{at}.max_age_days"), "max_age_days is below min_age_days"));
            }
            if let Some(stages) = &policy.stages {
                let ages = [stages.deprecate_after_days, stages.disable_after_days, stages.delete_after_days];
                let set: Vec<u32> = ages.iter().flatten().copied().collect();
                if set.is_empty() {
                    return Err(invalid(
                        format!("{at}.stages"),
                        "set at least one of deprecate_after_days, disable_after_days, delete_after_days",
                    ));
                }
                if set.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(invalid(
                        format!("{at}.stages"),
                        "each stage must come later than the one before: deprecate < disable < delete",
                    ));
                }
                if policy.retire != Retire::Delete {
                    return Err(invalid(
                        format!("{at}.retire"),
                        "with stages, the stages say how images are retired; leave retire out",
                    ));
                }
            }
            if policy.max_retirements == Some(0) {
                return Err(invalid(format!("{at}.max_retirements"), "0 would retire nothing; leave it out"));
            }
        }
        if let Some(snapshots) = &retention.snapshots {
            if snapshots.generations_tag.is_none() && !snapshots.delete_orphans {
                return Err(invalid(
                    "retention.snapshots",
                    "set generations_tag (e.g. \"Daily_Gens\") or delete_orphans = true",
                ));
            }
        }
        Ok(())
    }
}

/// `[retention]`: the sweep of old AMIs, snapshots and launch template versions.
///
/// Nothing in use is ever retired: an AMI an SSM parameter (see `parameter_paths`), a launch
/// template version, an Auto Scaling group, an instance (any state but terminated) or a
/// CloudFormation stack parameter names.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// At most this many AWS requests in flight at once (default 8).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// At most this many AWS requests a second (default: no fixed limit; the sweep still slows
    /// down by itself when AWS throttles it).
    #[serde(default)]
    pub max_requests_per_second: Option<u32>,
    /// SSM parameter paths (recursive) whose values count as in use, besides every fixed-name
    /// `ssm_parameter` target of the rules (e.g. `["/ami/"]`).
    #[serde(default)]
    pub parameter_paths: Vec<String>,
    /// Image policies; an image is judged by the first policy whose grouping selects it.
    #[serde(default)]
    pub images: Vec<ImagePolicyConfig>,
    /// Launch template versions to keep.
    #[serde(default)]
    pub launch_templates: Option<LaunchTemplateRetention>,
    /// Snapshot generations and orphans.
    #[serde(default)]
    pub snapshots: Option<SnapshotRetention>,
    /// What decides that an AMI is not in use (default [`ImageReferences::Required`]): EC2's
    /// own AMI reference check (`DescribeImageReferences`) must answer for every AMI the plan
    /// would retire, and an AMI it did not answer for is kept; or, with `image_references =
    /// "scan_only"` (or `false`), the inventory scan decides alone and reads everything the
    /// check would have seen.
    #[serde(default)]
    pub image_references: ImageReferences,
    /// Read the Recycle Bin retention rules when the plan deletes AMIs or snapshots, so the
    /// report says which deletions can be undone (default true).
    #[serde(default = "yes")]
    pub recycle_bin: bool,
    /// Accounts the AMIs are shared with, each reached through a role: before anything is
    /// retired, the sweep assumes each role and keeps every AMI something there launches
    /// (instances, launch template versions, Auto Scaling groups, launch configurations,
    /// stack parameters). An account that cannot be checked keeps every candidate.
    #[serde(default)]
    pub consumers: Vec<ConsumerConfig>,
}

/// What decides that an AMI no one names is not in use (`retention.image_references`).
///
/// Written `true` / `"required"` or `false` / `"scan_only"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ImageReferences {
    /// EC2's AMI reference check is asked about every AMI the plan would retire, besides the
    /// inventory scan; an AMI it did not answer for (the API denied, throttled past its
    /// retries, missing in the region) is kept, and the report says why.
    #[default]
    Required,
    /// The inventory scan decides alone. It then reads everything the reference check would
    /// have seen: every SSM parameter of the region (`DescribeParameters`, `GetParameters`),
    /// every version of every launch template, the account's Image Builder recipes.
    ScanOnly,
}

impl ImageReferences {
    /// Whether the reference check is asked.
    pub fn asked(self) -> bool {
        self == Self::Required
    }
}

impl Serialize for ImageReferences {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(match self {
            Self::Required => "required",
            Self::ScanOnly => "scan_only",
        })
    }
}

impl<'de> Deserialize<'de> for ImageReferences {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = ImageReferences;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("\"required\" (or true) or \"scan_only\" (or false)")
            }

            fn visit_bool<E: serde::de::Error>(self, value: bool) -> Result<Self::Value, E> {
                Ok(if value { ImageReferences::Required } else { ImageReferences::ScanOnly })
            }

            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<Self::Value, E> {
                match value {
                    "required" => Ok(ImageReferences::Required),
                    "scan_only" => Ok(ImageReferences::ScanOnly),
                    other => Err(E::invalid_value(serde::de::Unexpected::Str(other), &self)),
                }
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// `[[retention.consumers]]`: an account the AMIs are shared with.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ConsumerConfig {
    /// The role to assume there, e.g. `arn:aws:iam::444455556666:role/amikeeper-reader`.
    pub role_arn: String,
    /// The external id the role's trust policy asks for, if any.
    #[serde(default)]
    pub external_id: Option<String>,
}

impl ConsumerConfig {
    /// The account id in the role ARN (`arn:aws:iam::<account>:role/...`).
    pub fn account(&self) -> Option<&str> {
        role_account(&self.role_arn)
    }
}

fn default_concurrency() -> usize {
    8
}

/// `[[retention.images]]`: one image policy.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ImagePolicyConfig {
    /// A label for reports (default `images[<index>]`).
    #[serde(default)]
    pub name: Option<String>,
    /// How images are grouped; images the grouping does not select are not judged.
    pub group_by: GroupByConfig,
    /// Keep this many newest images per group.
    #[serde(default)]
    pub keep_newest: Option<usize>,
    /// Keep images younger than this many days (default 0).
    #[serde(default)]
    pub min_age_days: u32,
    /// Retire images older than this many days (never a group's newest).
    #[serde(default)]
    pub max_age_days: Option<u32>,
    /// Keep images an instance was launched from within this many days (EC2's
    /// `LastLaunchedTime`, which lags by up to a day).
    #[serde(default)]
    pub keep_launched_within_days: Option<u32>,
    /// Keep images that carry this tag, with any value (default `amikeeper:keep`).
    #[serde(default = "default_exclude_tag")]
    pub exclude_tag: String,
    /// Retire at most this many images a run, the oldest first.
    #[serde(default)]
    pub max_retirements: Option<usize>,
    /// What retiring means: `delete` (deregister, and delete the snapshots no other image
    /// uses), `deprecate` or `disable`. Default `delete`.
    #[serde(default)]
    pub retire: Retire,
    /// Retire by age in stages instead of `retire`: deprecate, then disable, then delete, each
    /// from its own age: `stages = { deprecate_after_days = 30, disable_after_days = 60,
    /// delete_after_days = 90 }` (any of the three).
    #[serde(default)]
    pub stages: Option<StagesConfig>,
}

/// `stages` of an image policy: the age, in days, from which each stage applies.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct StagesConfig {
    /// Deprecate from this age.
    pub deprecate_after_days: Option<u32>,
    /// Disable from this age.
    pub disable_after_days: Option<u32>,
    /// Deregister (and delete snapshots) from this age.
    pub delete_after_days: Option<u32>,
}

fn default_exclude_tag() -> String {
    crate::model::KEEP_TAG.to_owned()
}

/// How a policy groups images.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum GroupByConfig {
    /// By the value of this tag: `{ tag = "Role" }`.
    Tag(String),
    /// By the first of these name prefixes: `{ name_prefix = ["web-", "db-"] }`.
    NamePrefix(Vec<String>),
    /// By a regular expression on the name: the first capture group, or the whole match.
    NamePattern(String),
    /// By the SSM parameter an AMI was published to: each parameter is a group, and its members
    /// are the AMIs its history (`GetParameterHistory`, the last 100 versions) names, so
    /// `keep_newest = 3` keeps the last three AMIs published: `{ published_to = ["/ami/web"] }`.
    /// An AMI published to two listed parameters belongs to the first.
    PublishedTo(Vec<String>),
}

/// `[retention.launch_templates]`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LaunchTemplateRetention {
    /// Keep this many newest versions of every template, besides the default version, the
    /// latest version and any version an Auto Scaling group names.
    pub keep_versions: usize,
}

/// `[retention.snapshots]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SnapshotRetention {
    /// Volumes with this tag keep as many newest completed snapshots as its value says
    /// (seed 004's `Daily_Gens = 7`).
    #[serde(default)]
    pub generations_tag: Option<String>,
    /// The tag put on the snapshots a volume keeps, valued with the volume id (default
    /// `amikeeper:volume`).
    #[serde(default = "default_generation_tag")]
    pub tag_kept_with: String,
    /// Delete snapshots that no AMI uses and no generations tag manages (default false: they
    /// are only reported).
    #[serde(default)]
    pub delete_orphans: bool,
    /// Keep snapshots that carry this tag (default `amikeeper:keep`).
    #[serde(default = "default_exclude_tag")]
    pub exclude_tag: String,
}

fn default_generation_tag() -> String {
    "amikeeper:volume".to_owned()
}

/// What to do with an image the policy retires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Retire {
    /// Deregister it and delete its snapshots (unless another image uses them).
    #[default]
    Delete,
    /// Mark it deprecated (`EnableImageDeprecation`); it stays usable.
    Deprecate,
    /// Disable it (`DisableImage`): it cannot launch instances, and can be enabled again.
    Disable,
}
