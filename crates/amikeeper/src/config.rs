//! Configuration: which events to act on, which pointers to move, and the safety rails.
//!
//! The same schema loads from TOML ([`Config::from_toml`]) and JSON ([`Config::from_json`]).
//! Every file is checked when it loads: unknown fields, unknown placeholders, names from tags
//! without an allow-list, and targets that need an AMI on events that carry none are refused
//! with a [`ConfigError`] that says where.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::events::EventKind;
use crate::model::InstanceRefreshPreferences;
use crate::names::{check_template, NameKind};
use crate::template::{NameTemplate, Placeholder};

/// A malformed or inconsistent configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration {path}: {source}")]
    Io {
        /// The path given.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The text is not valid TOML or JSON for this schema.
    #[error("invalid {format} configuration: {message}")]
    Parse {
        /// `TOML` or `JSON`.
        format: &'static str,
        /// What the parser said, with the line where it knows it.
        message: String,
    },
    /// The configuration parses but does not make sense.
    #[error("invalid configuration at {at}: {reason}")]
    Invalid {
        /// Where: e.g. `rules[0].targets[1].name`.
        at: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
}

impl Config {
    fn validate_retention(&self, retention: &RetentionConfig) -> Result<(), ConfigError> {
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

fn invalid(at: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { at: at.into(), reason: reason.into() }
}

/// The whole configuration of a [`Keeper`](crate::keeper::Keeper).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Accounts whose events are handled; events from any other account are refused.
    pub accounts: Vec<String>,
    /// Prefixes that every name rendered from a tag value must start with.
    #[serde(default)]
    pub allowed_name_prefixes: Vec<String>,
    /// How long to wait for a `pending` AMI before deferring.
    #[serde(default)]
    pub wait: WaitConfig,
    /// The rules, each an event filter with the targets to move.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Turn on deregistration protection for every AMI a run publishes (default true): DLM, a
    /// script or a console click then cannot deregister the AMI a pointer names. A target's own
    /// `protect` overrides it. amikeeper turns its protection off again when the pointers move
    /// away: a handle or rollback for the AMI they left, a sweep for any AMI no pointer names.
    #[serde(default = "yes")]
    pub protect_published: bool,
    /// What `sweep` keeps and retires; `None` when the configuration sweeps nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<RetentionConfig>,
    /// The accounts and regions a fleet sweep covers (`amikeeper sweep --fleet`,
    /// [`Keeper::sweep_fleet`](crate::keeper::Keeper::sweep_fleet)): one report per account and
    /// region.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fleet: Vec<FleetTarget>,
}

/// `[[fleet]]`: an account, reached through a role (or this account without one), and its
/// regions.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FleetTarget {
    /// The role to assume in the account; unset for the account amikeeper runs in.
    #[serde(default)]
    pub role_arn: Option<String>,
    /// The external id the role's trust policy asks for, if any.
    #[serde(default)]
    pub external_id: Option<String>,
    /// The regions to sweep there.
    pub regions: Vec<String>,
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

/// The 12-digit account id in a role ARN (`arn:aws:iam::<account>:role/...`), if it is one.
fn role_account(role_arn: &str) -> Option<&str> {
    let account = role_arn.strip_prefix("arn:")?.split(':').nth(3)?;
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())).then_some(account)
}

fn yes() -> bool {
    true
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
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct StagesConfig {
    /// Deprecate from this age.
    #[serde(default)]
    pub deprecate_after_days: Option<u32>,
    /// Disable from this age.
    #[serde(default)]
    pub disable_after_days: Option<u32>,
    /// Deregister (and delete snapshots) from this age.
    #[serde(default)]
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

/// How long to wait for a `pending` AMI to become `available`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct WaitConfig {
    /// Give up after this many seconds and report the targets deferred (0: do not wait; the
    /// `EC2 AMI State Change` event finishes the job).
    #[serde(default)]
    pub timeout_seconds: u64,
    /// Seconds between two `DescribeImages` while waiting.
    #[serde(default = "default_poll_seconds")]
    pub poll_seconds: u64,
}

fn default_poll_seconds() -> u64 {
    15
}

impl Default for WaitConfig {
    fn default() -> Self {
        Self { timeout_seconds: 0, poll_seconds: default_poll_seconds() }
    }
}

impl WaitConfig {
    /// The timeout as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_seconds)
    }

    /// The poll interval as a duration (at least one second).
    pub fn poll(&self) -> Duration {
        Duration::from_secs(self.poll_seconds.max(1))
    }
}

/// One rule: which events and images it takes, and the targets it moves.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// A name for reports, `{rule}` and the `amikeeper:rule` tag of baked images.
    pub name: String,
    /// Event kinds the rule takes. Default: every event about an AMI, or `scheduled` for a
    /// rule with `bake`.
    #[serde(default)]
    pub on: Vec<EventKind>,
    /// Conditions on the image (or group, or schedule); all that are set must hold.
    #[serde(default, rename = "match")]
    pub matcher: Match,
    /// For `scheduled` events: make an AMI from a builder instance first (seed 003).
    #[serde(default)]
    pub bake: Option<Bake>,
    /// The pointers to move, in order.
    pub targets: Vec<TargetConfig>,
    /// Where to copy each AMI the rule takes, once it is `available` (seed 000's DR copy, as
    /// configuration): regions of this account (`"ap-northeast-3"`), or regions of another
    /// account reached through a role (`{ region = "...", role_arn = "...", external_id = "..." }`).
    /// The copy carries the AMI's tags and `amikeeper:copied-from`, so the same event twice
    /// makes one copy, and a copy is never copied again. The DR region's own events
    /// (`CopyImage`, then the state change to `available`) move its pointers.
    #[serde(default)]
    pub copy_to: Vec<CopyDestination>,
}

impl Rule {
    /// The event kinds this rule takes, defaults applied.
    pub fn kinds(&self) -> Vec<EventKind> {
        if !self.on.is_empty() {
            self.on.clone()
        } else if self.bake.is_some() {
            vec![EventKind::Scheduled, EventKind::ImageStateChanged]
        } else {
            EventKind::ALL.into_iter().filter(EventKind::is_image_event).collect()
        }
    }
}

/// One entry of a rule's `copy_to`: a region of this account, written as the region alone, or a
/// region of another account, written as a table with the role to assume there.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(untagged)]
pub enum CopyDestination {
    /// `"ap-northeast-3"`: a region of the account amikeeper runs in.
    Region(String),
    /// `{ region = "ap-northeast-3", role_arn = "arn:aws:iam::444455556666:role/amikeeper-dr" }`.
    Account(CopyToAccount),
}

/// A `copy_to` entry in another account: amikeeper shares the AMI (and its snapshots) with the
/// role's account, assumes the role and copies the AMI there.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(deny_unknown_fields)]
pub struct CopyToAccount {
    /// The destination region.
    pub region: String,
    /// The role to assume in the destination account, e.g.
    /// `arn:aws:iam::444455556666:role/amikeeper-dr`; its account is the destination.
    pub role_arn: String,
    /// The external id the role's trust policy asks for, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

impl CopyDestination {
    /// The destination region.
    pub fn region(&self) -> &str {
        match self {
            Self::Region(region) => region,
            Self::Account(account) => &account.region,
        }
    }

    /// The role to assume for a copy into another account.
    pub fn role_arn(&self) -> Option<&str> {
        match self {
            Self::Region(_) => None,
            Self::Account(account) => Some(&account.role_arn),
        }
    }

    /// The external id for the role, if any.
    pub fn external_id(&self) -> Option<&str> {
        match self {
            Self::Region(_) => None,
            Self::Account(account) => account.external_id.as_deref(),
        }
    }

    /// The destination account (the role's), for a copy into another account.
    pub fn account(&self) -> Option<&str> {
        self.role_arn().and_then(role_account)
    }
}

impl<'de> Deserialize<'de> for CopyDestination {
    // By hand rather than `#[serde(untagged)]`, so that a table with a wrong field says which.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = CopyDestination;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a region, or a table with `region`, `role_arn` and optionally `external_id`")
            }

            fn visit_str<E: serde::de::Error>(self, region: &str) -> Result<Self::Value, E> {
                Ok(CopyDestination::Region(region.to_owned()))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let account = CopyToAccount::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(CopyDestination::Account(account))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl From<&str> for CopyDestination {
    fn from(region: &str) -> Self {
        Self::Region(region.to_owned())
    }
}

/// Conditions a rule puts on what an event is about. Unset conditions always hold.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Match {
    /// The image name starts with this (e.g. `AWSBackup_`).
    #[serde(default)]
    pub name_prefix: Option<String>,
    /// The image description contains this (e.g. DLM's `EC2_BACKUP`, seed 002).
    #[serde(default)]
    pub description_contains: Option<String>,
    /// The image has each of these tags, with any value.
    #[serde(default)]
    pub has_tags: Vec<String>,
    /// The image has each of these tags with exactly this value.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// The image id is one of these (a static mapping).
    #[serde(default)]
    pub image_ids: Vec<String>,
    /// The image was made from one of these instances.
    #[serde(default)]
    pub instance_ids: Vec<String>,
    /// For `asg_created`: the group name starts with this.
    #[serde(default)]
    pub asg_name_prefix: Option<String>,
    /// For `scheduled`: the EventBridge rule that fired has this name.
    #[serde(default)]
    pub schedule_rule: Option<String>,
}

/// Make an AMI from a builder instance (seed 003), then move the rule's targets to it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bake {
    /// The builder instance.
    pub instance_id: String,
    /// The image name; `{date}` makes it unique per day. Default `{instance_id}_{date}`.
    #[serde(default = "default_bake_name")]
    pub name: NameTemplate,
    /// The image description.
    #[serde(default)]
    pub description: Option<String>,
    /// Image without rebooting the instance (default true, as in seed 003).
    #[serde(default = "default_true")]
    pub no_reboot: bool,
    /// Extra tags for the image (amikeeper adds `amikeeper:rule`).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

fn default_bake_name() -> NameTemplate {
    NameTemplate::parse("{instance_id}_{date}").expect("valid default template")
}

fn default_true() -> bool {
    true
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

/// A pointer to move, as configured.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum TargetConfig {
    /// An SSM parameter that holds the AMI id.
    SsmParameter {
        /// The parameter name, e.g. `/ami/web`, `{instance_id}` or `{tag:ImageIdParameterName}`.
        name: NameTemplate,
        /// Keep the value at version 1, for `{{resolve:ssm:NAME:1}}` (seed 000): the parameter is
        /// re-created, and restored if the new value cannot be written.
        #[serde(default)]
        fixed_version: bool,
        /// `aws:ec2:image` makes SSM check the value is an AMI id; default `text`.
        #[serde(default)]
        data_type: Option<String>,
        /// Turn on deregistration protection for the AMI this target is moved to; default:
        /// the configuration's `protect_published`.
        #[serde(default)]
        protect: Option<bool>,
    },
    /// A launch template: a new version from `$Latest` with the new AMI.
    LaunchTemplate {
        /// The template id (`lt-...`), may use placeholders such as `{launch_template_id}`.
        #[serde(default)]
        id: Option<NameTemplate>,
        /// The template name.
        #[serde(default)]
        name: Option<NameTemplate>,
        /// An SSM parameter whose value is the template id (seed 002).
        #[serde(default)]
        id_from_parameter: Option<NameTemplate>,
        /// Make the new version the default (default true).
        #[serde(default = "default_true")]
        set_default: bool,
        /// Keep this many newest versions and delete older ones; never the default, the
        /// latest, or one an Auto Scaling group pins. Unset: delete nothing.
        #[serde(default)]
        keep_versions: Option<u32>,
        /// Change the template even when a CloudFormation stack manages it.
        #[serde(default)]
        allow_stack_managed: bool,
        /// Turn on deregistration protection for the AMI this target is moved to; default:
        /// the configuration's `protect_published`.
        #[serde(default)]
        protect: Option<bool>,
    },
    /// An Auto Scaling group's launch template version.
    AutoScalingGroup {
        /// The group name, e.g. `{asg_name}` on `asg_created` (seed 002).
        name: NameTemplate,
        /// `$Latest`, `$Default` or a number. Unset: the newest version of the group's launch
        /// template that launches the AMI (put a `launch_template` target before this one).
        #[serde(default)]
        version: Option<String>,
        /// Change the group even when a CloudFormation stack manages it.
        #[serde(default)]
        allow_stack_managed: bool,
        /// Turn on deregistration protection for the AMI this target is moved to; default:
        /// the configuration's `protect_published`.
        #[serde(default)]
        protect: Option<bool>,
        /// Start an instance refresh once a run has moved the group to a new AMI, so running
        /// instances are replaced: `instance_refresh = true`, or a table of preferences such as
        /// `instance_refresh = { min_healthy_percentage = 90, instance_warmup_seconds = 300 }`.
        /// Unset or `false`: running instances are left as they are.
        #[serde(default, deserialize_with = "instance_refresh_setting", skip_serializing_if = "Option::is_none")]
        instance_refresh: Option<InstanceRefreshPreferences>,
    },
    /// A CloudFormation stack parameter (seed 001, pattern 2).
    StackParameter {
        /// The stack name, e.g. `{tag:StackName}`.
        stack: NameTemplate,
        /// The parameter that holds the AMI id (default `ImageId`).
        #[serde(default = "default_stack_parameter")]
        parameter: String,
        /// Capabilities to acknowledge, e.g. `CAPABILITY_NAMED_IAM`.
        #[serde(default)]
        capabilities: Vec<String>,
        /// Turn on deregistration protection for the AMI this target is moved to; default:
        /// the configuration's `protect_published`.
        #[serde(default)]
        protect: Option<bool>,
    },
}

fn default_stack_parameter() -> String {
    "ImageId".to_owned()
}

/// `instance_refresh = true | false | { ... }`: a switch, or the preferences (which switch it on).
fn instance_refresh_setting<'de, D>(deserializer: D) -> Result<Option<InstanceRefreshPreferences>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    struct Setting;

    impl<'de> serde::de::Visitor<'de> for Setting {
        type Value = Option<InstanceRefreshPreferences>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("true, false, or a table such as { min_healthy_percentage = 90 }")
        }

        fn visit_bool<E: serde::de::Error>(self, on: bool) -> Result<Self::Value, E> {
            Ok(on.then(InstanceRefreshPreferences::default))
        }

        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            InstanceRefreshPreferences::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Some)
        }
    }

    deserializer.deserialize_any(Setting)
}

impl TargetConfig {
    /// The target's own protection switch, if it sets one.
    pub fn protect(&self) -> Option<bool> {
        match self {
            Self::SsmParameter { protect, .. }
            | Self::LaunchTemplate { protect, .. }
            | Self::AutoScalingGroup { protect, .. }
            | Self::StackParameter { protect, .. } => *protect,
        }
    }

    /// The instance refresh an `auto_scaling_group` target starts after moving the group.
    pub fn instance_refresh(&self) -> Option<&InstanceRefreshPreferences> {
        match self {
            Self::AutoScalingGroup { instance_refresh, .. } => instance_refresh.as_ref(),
            _ => None,
        }
    }

    /// Whether this target needs an AMI from the event (all but a literal-version ASG target).
    pub fn needs_image(&self) -> bool {
        !matches!(self, Self::AutoScalingGroup { version: Some(_), .. })
    }

    /// The target's `kind` as the configuration spells it, e.g. `ssm_parameter`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::SsmParameter { .. } => "ssm_parameter",
            Self::LaunchTemplate { .. } => "launch_template",
            Self::AutoScalingGroup { .. } => "auto_scaling_group",
            Self::StackParameter { .. } => "stack_parameter",
        }
    }

    /// The kind of AWS name the template in `field` (one of [`templates`](Self::templates)'s)
    /// renders to, as the resolver checks it.
    pub fn name_kind(&self, field: &str) -> NameKind {
        match (self, field) {
            (Self::LaunchTemplate { .. }, "id") => NameKind::LaunchTemplateId,
            (Self::LaunchTemplate { .. }, "name") => NameKind::LaunchTemplateName,
            (Self::SsmParameter { .. } | Self::LaunchTemplate { .. }, _) => NameKind::Parameter,
            (Self::AutoScalingGroup { .. }, _) => NameKind::AutoScalingGroup,
            (Self::StackParameter { .. }, _) => NameKind::Stack,
        }
    }

    /// The name templates this target uses, with the field each is in.
    pub fn templates(&self) -> Vec<(&'static str, &NameTemplate)> {
        match self {
            Self::SsmParameter { name, .. } => vec![("name", name)],
            Self::LaunchTemplate { id, name, id_from_parameter, .. } => {
                [("id", id.as_ref()), ("name", name.as_ref()), ("id_from_parameter", id_from_parameter.as_ref())]
                    .into_iter()
                    .filter_map(|(field, t)| t.map(|t| (field, t)))
                    .collect()
            }
            Self::AutoScalingGroup { name, .. } => vec![("name", name)],
            Self::StackParameter { stack, .. } => vec![("stack", stack)],
        }
    }
}

const SUPPORTED_CAPABILITIES: [&str; 3] = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"];

impl Config {
    /// Whether any target protects the AMIs it is moved to (its `protect`, else
    /// [`protect_published`](Self::protect_published)).
    pub fn protects_any(&self) -> bool {
        self.rules
            .iter()
            .flat_map(|rule| &rule.targets)
            .any(|target| target.protect().unwrap_or(self.protect_published))
    }

    /// Loads a file: `.json` as JSON, anything else as TOML.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Io { path: path.display().to_string(), source })?;
        if path.extension().is_some_and(|ext| ext.eq_ignore_ascii_case("json")) {
            Self::from_json(&text)
        } else {
            Self::from_toml(&text)
        }
    }

    /// Parses and checks TOML.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let config: Self =
            toml::from_str(text).map_err(|e| ConfigError::Parse { format: "TOML", message: e.to_string() })?;
        config.validate()?;
        Ok(config)
    }

    /// Parses and checks JSON (the same schema as TOML).
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        let config: Self =
            serde_json::from_str(text).map_err(|e| ConfigError::Parse { format: "JSON", message: e.to_string() })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what the schema alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.accounts.is_empty() {
            return Err(invalid(
                "accounts",
                "list the account ids whose events amikeeper may act on, e.g. \
                 accounts = [\"111122223333\"]; events from any other account are refused",
            ));
        }
        for (i, account) in self.accounts.iter().enumerate() {
            if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid(format!("accounts[{i}]"), format!("`{account}` is not a 12-digit AWS account id")));
            }
        }
        for (i, prefix) in self.allowed_name_prefixes.iter().enumerate() {
            if prefix.is_empty() {
                return Err(invalid(format!("allowed_name_prefixes[{i}]"), "an empty prefix would allow every name"));
            }
        }
        if self.rules.is_empty() && self.retention.is_none() {
            return Err(invalid("rules", "at least one rule (or a [retention] section) is needed"));
        }
        if let Some(retention) = &self.retention {
            self.validate_retention(retention)?;
        }
        for (i, target) in self.fleet.iter().enumerate() {
            if target.regions.is_empty() {
                return Err(invalid(format!("fleet[{i}].regions"), "list the regions to sweep there"));
            }
            if target.role_arn.as_deref().is_some_and(|arn| role_account(arn).is_none()) {
                return Err(invalid(
                    format!("fleet[{i}].role_arn"),
                    "use a role ARN such as arn:aws:iam::444455556666:role/amikeeper",
                ));
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for (r, rule) in self.rules.iter().enumerate() {
            let at = format!("rules[{r}]");
            if rule.name.trim().is_empty() {
                return Err(invalid(format!("{at}.name"), "a rule needs a name"));
            }
            if !names.insert(rule.name.as_str()) {
                return Err(invalid(format!("{at}.name"), format!("duplicate rule name `{}`", rule.name)));
            }
            if rule.targets.is_empty() && rule.copy_to.is_empty() {
                return Err(invalid(format!("{at}.targets"), "a rule needs at least one target (or copy_to)"));
            }
            for (c, destination) in rule.copy_to.iter().enumerate() {
                let region = destination.region();
                let parts: Vec<&str> = region.split('-').collect();
                let looks_like_a_region = parts.len() >= 3
                    && parts
                        .iter()
                        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
                    && parts.last().is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()));
                if !looks_like_a_region {
                    return Err(invalid(
                        format!("{at}.copy_to[{c}]"),
                        format!("`{region}` is not a region such as ap-northeast-3"),
                    ));
                }
                if destination.role_arn().is_some() && destination.account().is_none() {
                    return Err(invalid(
                        format!("{at}.copy_to[{c}].role_arn"),
                        "use a role ARN such as arn:aws:iam::444455556666:role/amikeeper-dr",
                    ));
                }
            }
            let kinds = rule.kinds();
            if rule.bake.is_some() && !kinds.contains(&EventKind::Scheduled) {
                return Err(invalid(format!("{at}.on"), "a rule with `bake` must take `scheduled` events"));
            }
            if let Some(bake) = &rule.bake {
                let known = [
                    Placeholder::InstanceId,
                    Placeholder::Date,
                    Placeholder::Rule,
                    Placeholder::Region,
                    Placeholder::Account,
                ];
                if let Some(bad) = bake.name.placeholders().find(|p| !known.contains(p)) {
                    return Err(invalid(
                        format!("{at}.bake.name"),
                        format!(
                            "{bad} has no value before the image exists; bake names may use {{instance_id}}, \
                             {{date}}, {{rule}}, {{region}} and {{account}}"
                        ),
                    ));
                }
                if !bake.instance_id.starts_with("i-") {
                    return Err(invalid(
                        format!("{at}.bake.instance_id"),
                        format!("`{}` is not an instance id", bake.instance_id),
                    ));
                }
            }
            if let Some(bad) = kinds.iter().find(|k| **k == EventKind::SnapshotCreated) {
                return Err(invalid(
                    format!("{at}.on"),
                    format!("`{bad}` events move no pointer; snapshot generations belong to retention"),
                ));
            }
            let carries_no_image = kinds
                .iter()
                .any(|k| matches!(k, EventKind::AsgCreated) || (*k == EventKind::Scheduled && rule.bake.is_none()));
            for (t, target) in rule.targets.iter().enumerate() {
                let at = format!("{at}.targets[{t}]");
                if carries_no_image && target.instance_refresh().is_some() {
                    return Err(invalid(
                        format!("{at}.instance_refresh"),
                        "an instance refresh rolls out a new AMI, but the rule takes events that carry \
                         none (asg_created, or scheduled without bake); leave instance_refresh out",
                    ));
                }
                if let Some(percentage) =
                    target.instance_refresh().and_then(|r| r.min_healthy_percentage).filter(|p| *p > 100)
                {
                    return Err(invalid(
                        format!("{at}.instance_refresh.min_healthy_percentage"),
                        format!("{percentage} is not a percentage from 0 to 100"),
                    ));
                }
                if carries_no_image && target.needs_image() {
                    return Err(invalid(
                        &at,
                        "this target needs an AMI, but the rule takes events that carry none \
                         (asg_created, or scheduled without bake); use an auto_scaling_group \
                         target with a `version`, or narrow `on`",
                    ));
                }
                for (field, template) in target.templates() {
                    if template.uses_tags() && self.allowed_name_prefixes.is_empty() {
                        return Err(invalid(
                            format!("{at}.{field}"),
                            format!(
                                "`{template}` takes a name from a tag, so anyone who can tag an AMI \
                                 could choose it: set allowed_name_prefixes (e.g. [\"/ami/\"])"
                            ),
                        ));
                    }
                    if template.placeholders().any(|p| *p == Placeholder::Date) && rule.bake.is_none() {
                        return Err(invalid(format!("{at}.{field}"), "`{date}` is only for bake names"));
                    }
                    // What the configuration writes itself is checked now, not per event.
                    check_template(target.name_kind(field), template, &self.allowed_name_prefixes).map_err(
                        |reason| {
                            invalid(
                                format!("{at}.{field}"),
                                format!("`{template}` is not a safe {} name: {reason}", target.kind()),
                            )
                        },
                    )?;
                }
                match target {
                    TargetConfig::LaunchTemplate { id, name, id_from_parameter, keep_versions, .. } => {
                        let given = [id.is_some(), name.is_some(), id_from_parameter.is_some()]
                            .into_iter()
                            .filter(|b| *b)
                            .count();
                        if given != 1 {
                            return Err(invalid(
                                &at,
                                "a launch_template target needs exactly one of `id`, `name`, `id_from_parameter`",
                            ));
                        }
                        if *keep_versions == Some(0) {
                            return Err(invalid(format!("{at}.keep_versions"), "keep at least 1 version"));
                        }
                    }
                    TargetConfig::AutoScalingGroup { version: Some(version), .. } => {
                        let ok = version == "$Latest"
                            || version == "$Default"
                            || version.parse::<u64>().is_ok_and(|n| n > 0);
                        if !ok {
                            return Err(invalid(
                                format!("{at}.version"),
                                format!("`{version}` is not `$Latest`, `$Default` or a version number"),
                            ));
                        }
                    }
                    TargetConfig::SsmParameter { data_type: Some(data_type), .. }
                        if data_type != "text" && data_type != "aws:ec2:image" =>
                    {
                        return Err(invalid(
                            format!("{at}.data_type"),
                            format!("`{data_type}`: use `text` or `aws:ec2:image`"),
                        ));
                    }
                    TargetConfig::StackParameter { capabilities, parameter, .. } => {
                        if parameter.is_empty() {
                            return Err(invalid(format!("{at}.parameter"), "name the stack parameter"));
                        }
                        if let Some(bad) = capabilities.iter().find(|c| !SUPPORTED_CAPABILITIES.contains(&c.as_str())) {
                            return Err(invalid(
                                format!("{at}.capabilities"),
                                format!("`{bad}`; CloudFormation knows {}", SUPPORTED_CAPABILITIES.join(", ")),
                            ));
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// Whether events from `account` may be acted on.
    pub fn allows_account(&self, account: &str) -> bool {
        self.accounts.iter().any(|a| a == account)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
        accounts = ["111122223333"]
        [[rules]]
        name = "web"
        [[rules.targets]]
        kind = "ssm_parameter"
        name = "/ami/web"
    "#;

    #[test]
    fn minimal_config_loads_with_defaults() {
        let config = Config::from_toml(BASE).unwrap();
        assert_eq!(config.wait, WaitConfig::default());
        assert!(config.rules[0].kinds().contains(&EventKind::BackupJob));
        assert!(!config.rules[0].kinds().contains(&EventKind::AsgCreated));
    }

    #[test]
    fn json_uses_the_same_schema() {
        let json = r#"{"accounts":["111122223333"],"rules":[{"name":"web",
            "targets":[{"kind":"ssm_parameter","name":"/ami/web","fixed_version":true}]}]}"#;
        let config = Config::from_json(json).unwrap();
        assert!(matches!(config.rules[0].targets[0], TargetConfig::SsmParameter { fixed_version: true, .. }));
    }

    fn invalid_at(text: &str) -> String {
        match Config::from_toml(text) {
            Err(ConfigError::Invalid { at, .. }) => at,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn tag_names_need_an_allow_list() {
        let text = BASE.replace("\"/ami/web\"", "\"{tag:ImageIdParameterName}\"");
        assert_eq!(invalid_at(&text), "rules[0].targets[0].name");
        let allowed = format!("allowed_name_prefixes = [\"/ami/\"]\n{text}");
        assert!(Config::from_toml(&allowed).is_ok());
    }

    /// A configuration with one target of `kind` whose `field` is `value`.
    fn one_target(prefixes: &str, kind: &str, field: &str, value: &str) -> String {
        format!(
            "accounts = [\"111122223333\"]\nallowed_name_prefixes = [{prefixes}]\n[[rules]]\nname = \"web\"\n\
             [[rules.targets]]\nkind = \"{kind}\"\n{field} = {value:?}\n"
        )
    }

    fn load_error(text: &str) -> (String, String) {
        match Config::from_toml(text) {
            Err(ConfigError::Invalid { at, reason }) => (at, reason),
            other => panic!("expected Invalid for\n{text}\ngot {other:?}"),
        }
    }

    #[test]
    fn unsafe_names_written_in_the_configuration_are_refused_when_it_loads() {
        let prefixes = "\"/ami/\", \"web-\"";
        let unsafe_names = [
            ("ssm_parameter", "name", "/aws/service/ami-amazon-linux-latest/x"),
            ("ssm_parameter", "name", "/AWS/x"),
            ("ssm_parameter", "name", "ssm-web"),
            ("ssm_parameter", "name", "/SSM/web"),
            ("ssm_parameter", "name", "AwsWeb"),
            ("ssm_parameter", "name", "/ami/../prod/db/password"),
            ("ssm_parameter", "name", "/ami/./web"),
            ("ssm_parameter", "name", "/ami//web"),
            ("ssm_parameter", "name", "ami/web"),
            ("ssm_parameter", "name", "/ami/web/"),
            ("ssm_parameter", "name", "/ami/web app"),
            // Templated: the written parts alone already make every name unsafe.
            ("ssm_parameter", "name", "/aws/{image_id}"),
            ("ssm_parameter", "name", "/Ssm{region}"),
            ("ssm_parameter", "name", "/ami/{region}/../prod"),
            ("ssm_parameter", "name", "/ami/{tag:Name}/.."),
            ("ssm_parameter", "name", "/ami/{instance_id}/"),
            ("ssm_parameter", "name", "ami/{instance_id}"),
            ("ssm_parameter", "name", "/ami/{instance_id}//x"),
            // A tag fills it in, but the written start is outside every allowed prefix.
            ("ssm_parameter", "name", "/prod/{tag:Where}"),
            ("stack_parameter", "stack", "prod-{tag:Stack}"),
            ("launch_template", "id_from_parameter", "/aws/{tag:X}"),
            ("launch_template", "id", "ami-{tag:X}"),
            ("launch_template", "name", "web..{region}"),
            ("launch_template", "name", "web template"),
            ("stack_parameter", "stack", "1web"),
            ("stack_parameter", "stack", "web_stack-{region}"),
            ("auto_scaling_group", "name", "arn:aws:autoscaling:{region}:x"),
        ];
        for (kind, field, value) in unsafe_names {
            let (at, reason) = load_error(&one_target(prefixes, kind, field, value));
            assert_eq!(at, format!("rules[0].targets[0].{field}"), "{value}: {reason}");
            assert!(reason.contains(value) && reason.contains(kind), "{value}: {reason}");
        }
        let safe_names = [
            ("ssm_parameter", "name", "/ami/web"),
            ("ssm_parameter", "name", "i-0123456789abcdef0"),
            ("ssm_parameter", "name", "/golden/web"), // written by the configuration: no allow-list
            ("ssm_parameter", "name", "/ami/{instance_id}"),
            ("ssm_parameter", "name", "{tag:Where}"),
            ("ssm_parameter", "name", "/a{tag:Where}"), // `/ami/...` can still follow
            ("ssm_parameter", "name", "/ami/{tag:Where}/id"),
            ("ssm_parameter", "name", "{region}/web"), // the placeholder may start with `/`
            ("ssm_parameter", "name", "/{account}/{region}/ami"),
            ("launch_template", "id", "lt-0abc"),
            ("launch_template", "id", "{launch_template_id}"),
            ("launch_template", "name", "web-{region}"),
            ("launch_template", "id_from_parameter", "/ami/{tag:LaunchTemplateParameter}"),
            ("stack_parameter", "stack", "web-{tag:Stack}"),
            ("stack_parameter", "stack", "{tag:Stack}"),
            ("auto_scaling_group", "name", "web-asg"),
        ];
        for (kind, field, value) in safe_names {
            let text = one_target(prefixes, kind, field, value);
            assert!(Config::from_toml(&text).is_ok(), "{value}: {:?}", Config::from_toml(&text).err());
        }
    }

    #[test]
    fn accounts_are_required_and_checked() {
        assert_eq!(invalid_at(&BASE.replace("[\"111122223333\"]", "[]")), "accounts");
        assert_eq!(invalid_at(&BASE.replace("111122223333", "12345")), "accounts[0]");
    }

    #[test]
    fn unknown_fields_and_placeholders_are_parse_errors() {
        let typo = BASE.replace("name = \"/ami/web\"", "nmae = \"/ami/web\"");
        assert!(matches!(Config::from_toml(&typo), Err(ConfigError::Parse { .. })));
        let placeholder = BASE.replace("/ami/web", "/ami/{instance}");
        let err = Config::from_toml(&placeholder).unwrap_err().to_string();
        assert!(err.contains("unknown placeholder `{instance}`"), "{err}");
    }

    #[test]
    fn image_targets_are_refused_on_events_without_an_image() {
        let text = BASE.replace("name = \"web\"", "name = \"web\"\non = [\"asg_created\"]");
        assert_eq!(invalid_at(&text), "rules[0].targets[0]");
    }

    #[test]
    fn launch_template_needs_exactly_one_reference() {
        let text = r#"
            accounts = ["111122223333"]
            [[rules]]
            name = "lt"
            [[rules.targets]]
            kind = "launch_template"
            id = "lt-1"
            name = "web"
        "#;
        assert_eq!(invalid_at(text), "rules[0].targets[0]");
    }

    #[test]
    fn bake_names_use_only_values_known_before_the_image() {
        let text = r#"
            accounts = ["111122223333"]
            [[rules]]
            name = "bake"
            [rules.bake]
            instance_id = "i-0123456789abcdef0"
            name = "{tag:Role}-{date}"
            [[rules.targets]]
            kind = "launch_template"
            name = "web"
        "#;
        assert_eq!(invalid_at(text), "rules[0].bake.name");
        assert!(Config::from_toml(&text.replace("{tag:Role}-{date}", "web-{date}-{rule}")).is_ok());
        let bad_instance = text.replace("{tag:Role}-{date}", "web-{date}").replace("i-0123456789abcdef0", "builder");
        assert_eq!(invalid_at(&bad_instance), "rules[0].bake.instance_id");
    }

    #[test]
    fn instance_refresh_is_a_switch_or_a_table() {
        let text = r#"
            accounts = ["111122223333"]
            [[rules]]
            name = "web"
            [[rules.targets]]
            kind = "auto_scaling_group"
            name = "web-asg"
            SETTING
        "#;
        let refresh_of = |setting: &str| {
            let config = Config::from_toml(&text.replace("SETTING", setting)).unwrap();
            config.rules[0].targets[0].instance_refresh().copied()
        };
        assert_eq!(refresh_of(""), None);
        assert_eq!(refresh_of("instance_refresh = false"), None);
        assert_eq!(refresh_of("instance_refresh = true"), Some(InstanceRefreshPreferences::default()));
        assert_eq!(
            refresh_of("instance_refresh = { min_healthy_percentage = 50, instance_warmup_seconds = 300 }"),
            Some(InstanceRefreshPreferences { min_healthy_percentage: Some(50), instance_warmup_seconds: Some(300) })
        );
        let typo = Config::from_toml(&text.replace("SETTING", "instance_refresh = { min_healthy = 50 }"));
        let message = typo.unwrap_err().to_string();
        assert!(message.contains("unknown field `min_healthy`"), "{message}");
        let word = Config::from_toml(&text.replace("SETTING", "instance_refresh = \"yes\""));
        assert!(word.unwrap_err().to_string().contains("true, false, or a table"));
        let too_many = text.replace("SETTING", "instance_refresh = { min_healthy_percentage = 101 }");
        assert_eq!(invalid_at(&too_many), "rules[0].targets[0].instance_refresh.min_healthy_percentage");
        let on_new_groups = text
            .replace("name = \"web\"", "name = \"web\"\non = [\"asg_created\"]")
            .replace("SETTING", "version = \"$Latest\"\ninstance_refresh = true");
        assert_eq!(invalid_at(&on_new_groups), "rules[0].targets[0].instance_refresh");

        let json = r#"{"accounts":["111122223333"],"rules":[{"name":"web","targets":[
            {"kind":"auto_scaling_group","name":"web-asg","instance_refresh":{"min_healthy_percentage":75}}]}]}"#;
        let config = Config::from_json(json).unwrap();
        let refresh = config.rules[0].targets[0].instance_refresh().copied();
        assert_eq!(refresh.and_then(|r| r.min_healthy_percentage), Some(75));
        let round_trip = Config::from_json(&serde_json::to_string(&config).unwrap()).unwrap();
        assert_eq!(round_trip.rules[0].targets[0].instance_refresh().copied(), refresh);
        let off = json.replace(r#"{"min_healthy_percentage":75}"#, "false");
        assert_eq!(Config::from_json(&off).unwrap().rules[0].targets[0].instance_refresh(), None);
    }

    #[test]
    fn asg_versions_are_checked() {
        let text = r#"
            accounts = ["111122223333"]
            [[rules]]
            name = "asg"
            on = ["asg_created"]
            [[rules.targets]]
            kind = "auto_scaling_group"
            name = "{asg_name}"
            version = "latest"
        "#;
        assert_eq!(invalid_at(text), "rules[0].targets[0].version");
        assert!(Config::from_toml(&text.replace("\"latest\"", "\"$Latest\"")).is_ok());
    }
}
