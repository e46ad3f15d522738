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

pub use crate::error::ConfigError;
use crate::events::EventKind;
use crate::kinds::{Invalid, Target, TargetTemplate};
pub use crate::kinds::{Kinds, TargetConfig};
use crate::model::{AccountId, Region};
use crate::names::check_template;
use crate::template::{NameTemplate, Placeholder};

mod metrics;
mod notify;
mod retention;
mod revoke;
mod status;

pub use metrics::{MetricsConfig, DEFAULT_NAMESPACE};
pub use notify::{BadEventBus, EventBus, NotifyConfig};
pub use retention::{
    ConsumerConfig, GroupByConfig, ImagePolicyConfig, ImageReferences, LaunchTemplateRetention, RetentionConfig,
    Retire, SnapshotRetention, StagesConfig,
};
pub use revoke::RevokeConfig;
pub use status::StatusConfig;

pub(crate) fn invalid(at: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { at: at.into(), reason: reason.into() }
}

/// The whole configuration of a [`Keeper`](crate::keeper::Keeper).
///
/// `T` is the set of pointer kinds its targets may name: [`TargetConfig`], amikeeper's own,
/// unless a test registers its own with [`pointer_kinds!`](crate::pointer_kinds).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config<T = TargetConfig> {
    /// Accounts whose events are handled; events from any other account are refused.
    pub accounts: Vec<String>,
    /// Prefixes that every name rendered from a tag value must start with.
    #[serde(default)]
    pub allowed_name_prefixes: Vec<String>,
    /// How long to wait for a `pending` AMI before deferring.
    #[serde(default)]
    pub wait: WaitConfig,
    /// The rules, each an event filter with the targets to move.
    #[serde(default = "Vec::new")]
    pub rules: Vec<Rule<T>>,
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
    /// `[metrics]`: the CloudWatch embedded metric format records the Lambda functions print.
    #[serde(default, skip_serializing_if = "MetricsConfig::is_default")]
    pub metrics: MetricsConfig,
    /// `[status]`: what `amikeeper status` reports as a finding.
    #[serde(default)]
    pub status: StatusConfig,
    /// `[notify]`: the EventBridge bus to put what amikeeper does on; `None`: notify nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<NotifyConfig>,
    /// `[revoke]`: what `amikeeper revoke` does to the AMI it revokes; present (even empty),
    /// it also puts revoke's calls in the IAM policy. `revoke` runs without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoke: Option<RevokeConfig>,
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

/// The 12-digit account id in a role ARN (`arn:aws:iam::<account>:role/...`), if it is one.
pub(crate) fn role_account(role_arn: &str) -> Option<&str> {
    let account = role_arn.strip_prefix("arn:")?.split(':').nth(3)?;
    account.parse::<AccountId>().is_ok().then_some(account)
}

pub(crate) fn yes() -> bool {
    true
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
pub struct Rule<T = TargetConfig> {
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
    pub targets: Vec<T>,
    /// Where to copy each AMI the rule takes, once it is `available` (seed 000's DR copy, as
    /// configuration): regions of this account (`"ap-northeast-3"`), or regions of another
    /// account reached through a role (`{ region = "...", role_arn = "...", external_id = "..." }`).
    /// The copy carries the AMI's tags and `amikeeper:copied-from`, so the same event twice
    /// makes one copy, and a copy is never copied again. The DR region's own events
    /// (`CopyImage`, then the state change to `available`) move its pointers.
    #[serde(default)]
    pub copy_to: Vec<CopyDestination>,
}

impl<T> Rule<T> {
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
#[serde(default, deny_unknown_fields)]
pub struct Match {
    /// The image name starts with this (e.g. `AWSBackup_`).
    pub name_prefix: Option<String>,
    /// The image description contains this (e.g. DLM's `EC2_BACKUP`, seed 002).
    pub description_contains: Option<String>,
    /// The image has each of these tags, with any value.
    pub has_tags: Vec<String>,
    /// The image has each of these tags with exactly this value.
    pub tags: BTreeMap<String, String>,
    /// The image id is one of these (a static mapping).
    pub image_ids: Vec<String>,
    /// The image was made from one of these instances.
    pub instance_ids: Vec<String>,
    /// For `asg_created`: the group name starts with this.
    pub asg_name_prefix: Option<String>,
    /// For `scheduled`: the EventBridge rule that fired has this name.
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

impl Config {
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
        Self::parse_toml(text)
    }

    /// Parses and checks JSON (the same schema as TOML).
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        Self::parse_json(text)
    }
}

impl<T: Kinds> Config<T> {
    /// Parses and checks TOML whose targets are of the kinds `T` registers.
    pub fn parse_toml(text: &str) -> Result<Self, ConfigError> {
        let config: Self =
            toml::from_str(text).map_err(|e| ConfigError::Parse { format: "TOML", message: e.to_string() })?;
        config.validate()?;
        Ok(config)
    }

    /// Parses and checks JSON whose targets are of the kinds `T` registers.
    pub fn parse_json(text: &str) -> Result<Self, ConfigError> {
        let config: Self =
            serde_json::from_str(text).map_err(|e| ConfigError::Parse { format: "JSON", message: e.to_string() })?;
        config.validate()?;
        Ok(config)
    }

    /// Whether any target protects the AMIs it is moved to (its `protect`, else
    /// [`protect_published`](Self::protect_published)).
    pub fn protects_any(&self) -> bool {
        self.rules
            .iter()
            .flat_map(|rule| &rule.targets)
            .any(|target| target.target().protect().unwrap_or(self.protect_published))
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
            if let Err(error) = account.parse::<AccountId>() {
                return Err(invalid(format!("accounts[{i}]"), error.to_string()));
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
        self.metrics.validate()?;
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
                if let Err(error) = region.parse::<Region>() {
                    return Err(invalid(format!("{at}.copy_to[{c}]"), error.to_string()));
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
                self.validate_target(rule, target.target(), &format!("{at}.targets[{t}]"), carries_no_image)?;
            }
        }
        Ok(())
    }

    /// Checks one target: what the rule's events allow, its name templates, then the kind's own checks.
    fn validate_target(
        &self,
        rule: &Rule<T>,
        target: &dyn Target,
        at: &str,
        carries_no_image: bool,
    ) -> Result<(), ConfigError> {
        if carries_no_image && target.instance_refresh().is_some() {
            return Err(invalid(
                format!("{at}.instance_refresh"),
                "an instance refresh rolls out a new AMI, but the rule takes events that carry \
                 none (asg_created, or scheduled without bake); leave instance_refresh out",
            ));
        }
        if let Some(percentage) = target.instance_refresh().and_then(|r| r.min_healthy_percentage).filter(|p| *p > 100)
        {
            return Err(invalid(
                format!("{at}.instance_refresh.min_healthy_percentage"),
                format!("{percentage} is not a percentage from 0 to 100"),
            ));
        }
        if carries_no_image && target.needs_image() {
            return Err(invalid(
                at,
                "this target needs an AMI, but the rule takes events that carry none \
                 (asg_created, or scheduled without bake); use an auto_scaling_group \
                 target with a `version`, or narrow `on`",
            ));
        }
        for TargetTemplate { field, template, name_kind } in target.templates() {
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
            check_template(name_kind, template, &self.allowed_name_prefixes).map_err(|reason| {
                invalid(format!("{at}.{field}"), format!("`{template}` is not a safe {} name: {reason}", target.kind()))
            })?;
        }
        target.validate().map_err(|Invalid { field, reason }| match field {
            Some(field) => invalid(format!("{at}.{field}"), reason),
            None => invalid(at, reason),
        })
    }

    /// Whether events from `account` may be acted on.
    pub fn allows_account(&self, account: &str) -> bool {
        self.accounts.iter().any(|a| a == account)
    }
}

#[cfg(test)]
mod tests;
