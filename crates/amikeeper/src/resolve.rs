//! Resolution: from an event to the AMI it is about and the publishers to run.

use async_trait::async_trait;

use crate::backend::Aws;
use crate::config::{Config, Match, Rule, TargetConfig};
use crate::error::{Error, Result};
use crate::events::{AmiEvent, EventKind};
use crate::kinds::{Kinds, NameFailure, Names, Target};
use crate::model::{Image, ImageState, RULE_TAG};
use crate::publish::{Publisher, TargetId};
use crate::template::{NameTemplate, Placeholder};

/// Re-exported from [`names`](crate::names), where the checks of AWS's name rules live.
pub use crate::names::{check_name, check_template, NameKind};

/// A target that resolved to a publisher, or was refused while resolving.
pub enum ResolvedTarget {
    /// Ready to publish.
    Ready(Box<dyn Publisher>),
    /// Its name could not be made or is not allowed; nothing is written.
    Refused {
        /// The target as far as known.
        target: TargetId,
        /// Why.
        reason: String,
    },
    /// Its name needs a value this event does not have.
    Unresolved {
        /// The target as far as known.
        target: TargetId,
        /// Which value is missing.
        reason: String,
    },
}

/// The targets of one matching rule.
pub struct RuleTargets {
    /// The rule's name.
    pub rule: String,
    /// Its targets, in order.
    pub targets: Vec<ResolvedTarget>,
}

/// What an event asks for.
// One per event, moved once: boxing the image would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Resolution {
    /// Nothing to do, and why (no rule matches, a backup job that is not complete, ...).
    Ignore {
        /// Why nothing is done.
        reason: String,
    },
    /// Move these targets to `image` (`None` for events that carry no AMI).
    Publish {
        /// The AMI as EC2 describes it now.
        image: Option<Image>,
        /// The matching rules and their targets.
        rules: Vec<RuleTargets>,
    },
    /// Bake an AMI first (scheduled events of rules with `bake`).
    Bake {
        /// The rules whose `bake` runs.
        rules: Vec<String>,
    },
}

/// Finds the AMI an event is about and the targets to move.
#[async_trait]
pub trait AmiResolver: Send + Sync {
    /// Resolves `event`, reading what it needs (the image and its tags) through `aws`.
    async fn resolve(&self, aws: &dyn Aws, event: &AmiEvent) -> Result<Resolution>;

    /// The targets of `rule` for `event` and `image`, in the rule's order: what a bake of
    /// `rule` moves to the image it made (`image` is `None` when a dry run plans the bake).
    fn rule_targets(&self, rule: &Rule, event: &AmiEvent, image: Option<&Image>) -> Vec<ResolvedTarget>;
}

/// The resolver driven by a [`Config`]: rules match event kinds and image attributes, targets
/// are rendered from name templates and checked.
#[derive(Debug, Clone)]
pub struct ConfigResolver<T = TargetConfig> {
    config: Config<T>,
}

impl<T: Kinds> ConfigResolver<T> {
    /// A resolver for `config`.
    pub fn new(config: Config<T>) -> Self {
        Self { config }
    }

    /// The configuration.
    pub fn config(&self) -> &Config<T> {
        &self.config
    }

    /// The targets of `rule` for this event and image, names rendered and checked.
    pub fn targets(&self, rule: &Rule<T>, event: &AmiEvent, image: Option<&Image>) -> Vec<ResolvedTarget> {
        self.targets_of(rule, event, image)
    }

    /// [`targets`](Self::targets) of a rule whose targets are of any registered kinds (a
    /// bake's rule comes from the keeper's configuration, not necessarily this one's).
    fn targets_of<U: Kinds>(&self, rule: &Rule<U>, event: &AmiEvent, image: Option<&Image>) -> Vec<ResolvedTarget> {
        let values = Values { rule, event, image };
        rule.targets.iter().map(|target| self.resolve_target(target.target(), &values)).collect()
    }

    fn resolve_target<U>(&self, target: &dyn Target, values: &Values<'_, U>) -> ResolvedTarget {
        let prefixes = &self.config.allowed_name_prefixes;
        let render = |template: &NameTemplate, kind: NameKind| -> Result<String, NameFailure> {
            let failure = |reason, refused| NameFailure { template: template.to_string(), reason, refused };
            let name = values.render(template).map_err(|e| failure(e.to_string(), false))?;
            check_name(kind, &name, template.uses_tags(), prefixes)
                .map_err(|reason| failure(format!("`{name}` (from `{template}`) refused: {reason}"), true))?;
            Ok(name)
        };
        match target.publisher(&Names::new(&render, values.event)) {
            Ok(publisher) => ResolvedTarget::Ready(publisher),
            Err(NameFailure { template, reason, refused }) => {
                let target = TargetId { kind: target.kind(), name: template };
                match refused {
                    true => ResolvedTarget::Refused { target, reason },
                    false => ResolvedTarget::Unresolved { target, reason },
                }
            }
        }
    }

    fn rules_for<'a>(&'a self, event: &'a AmiEvent) -> impl Iterator<Item = &'a Rule<T>> + 'a {
        self.config.rules.iter().filter(move |rule| rule.kinds().contains(&event.kind()))
    }
}

#[async_trait]
impl<T: Kinds> AmiResolver for ConfigResolver<T> {
    async fn resolve(&self, aws: &dyn Aws, event: &AmiEvent) -> Result<Resolution> {
        let ignore = |reason: String| Ok(Resolution::Ignore { reason });
        match event.kind() {
            EventKind::SnapshotCreated => {
                return ignore("snapshot events move no pointer; snapshot generations are kept by retention".into())
            }
            EventKind::Scheduled => {
                let rules: Vec<String> = self
                    .rules_for(event)
                    .filter(|rule| rule.bake.is_some() && schedule_matches(&rule.matcher, event))
                    .map(|rule| rule.name.clone())
                    .collect();
                if rules.is_empty() {
                    return ignore(format!(
                        "no rule with `bake` takes the schedule `{}`",
                        event.rule_name().unwrap_or("?")
                    ));
                }
                return Ok(Resolution::Bake { rules });
            }
            EventKind::AsgCreated => {
                let rules: Vec<RuleTargets> = self
                    .rules_for(event)
                    .filter(|rule| asg_matches(&rule.matcher, event))
                    .map(|rule| RuleTargets { rule: rule.name.clone(), targets: self.targets(rule, event, None) })
                    .collect();
                if rules.is_empty() {
                    return ignore(format!(
                        "no rule takes asg_created for group `{}`",
                        event.asg_name().unwrap_or("?")
                    ));
                }
                return Ok(Resolution::Publish { image: None, rules });
            }
            _ => {}
        }
        if let Some(state) = event.state() {
            let done = match event.kind() {
                EventKind::BackupJob | EventKind::BackupCopyJob => state.eq_ignore_ascii_case("COMPLETED"),
                EventKind::ImageStateChanged => state.eq_ignore_ascii_case("available"),
                _ => true,
            };
            if !done {
                return ignore(format!("{} in state `{state}`; amikeeper acts when it completes", event.kind()));
            }
        }
        let Some(image_id) = event.image_id() else {
            return ignore(format!("this {} event names no AMI (not an EC2 backup?)", event.kind()));
        };
        let image = aws.describe_image(&event.region, image_id).await?.ok_or_else(|| Error::NotFound {
            kind: "AMI",
            name: image_id.to_string(),
            region: event.region.to_string(),
        })?;
        if matches!(image.state, ImageState::Deregistered) {
            return ignore(format!("{} is deregistered", image.id));
        }
        let rules: Vec<RuleTargets> = self
            .rules_for(event)
            .filter(|rule| image_matches(rule, event, &image))
            .map(|rule| RuleTargets { rule: rule.name.clone(), targets: self.targets(rule, event, Some(&image)) })
            .collect();
        if rules.is_empty() {
            return ignore(format!(
                "no rule matches {} (name `{}`, tags: {})",
                image.id,
                truncate(&image.name, 80),
                image.tags.keys().map(|k| truncate(k, 40)).collect::<Vec<_>>().join(", ")
            ));
        }
        Ok(Resolution::Publish { image: Some(image), rules })
    }

    fn rule_targets(&self, rule: &Rule, event: &AmiEvent, image: Option<&Image>) -> Vec<ResolvedTarget> {
        self.targets_of(rule, event, image)
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(max).collect::<String>())
    }
}

fn schedule_matches(matcher: &Match, event: &AmiEvent) -> bool {
    matcher.schedule_rule.as_ref().is_none_or(|want| event.rule_name() == Some(want.as_str()))
}

fn asg_matches(matcher: &Match, event: &AmiEvent) -> bool {
    matcher
        .asg_name_prefix
        .as_ref()
        .is_none_or(|prefix| event.asg_name().is_some_and(|name| name.starts_with(prefix.as_str())))
}

/// The instance an image was made from: the event's, or the one in an AWS Backup image name
/// (`AwsBackup_<instanceId>_...`, seed 000).
pub fn instance_id_of<'a>(event: &'a AmiEvent, image: Option<&'a Image>) -> Option<&'a str> {
    if let Some(id) = event.instance_id() {
        return Some(id);
    }
    let name = image.map(|i| i.name.as_str()).or(event.image_name())?;
    let (prefix, rest) = name.split_once('_')?;
    if !prefix.eq_ignore_ascii_case("awsbackup") {
        return None;
    }
    let candidate = rest.split('_').next()?;
    let hex = candidate.strip_prefix("i-")?;
    (!hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(candidate)
}

fn image_matches<T>(rule: &Rule<T>, event: &AmiEvent, image: &Image) -> bool {
    let m = &rule.matcher;
    let description = image.description.as_deref().or(event.description());
    takes_image_described(rule, image, description)
        && (m.image_ids.is_empty() || m.image_ids.iter().any(|id| id == image.id.as_str()))
        && (m.instance_ids.is_empty()
            || instance_id_of(event, Some(image)).is_some_and(|id| m.instance_ids.iter().any(|want| want == id)))
}

/// Whether `rule` takes `image` by what the image itself says: its name, description and tags
/// (and, for a rule with `bake`, the `amikeeper:rule` tag). The conditions only an event can
/// answer (`image_ids`, `instance_ids`, a group or a schedule) are not asked: `revoke` uses this
/// to find a rule's earlier AMIs, and their `copy_to` copies, which have ids of their own.
pub fn takes_image<T>(rule: &Rule<T>, image: &Image) -> bool {
    takes_image_described(rule, image, image.description.as_deref())
}

fn takes_image_described<T>(rule: &Rule<T>, image: &Image, description: Option<&str>) -> bool {
    let m = &rule.matcher;
    if rule.bake.is_some() && image.tags.get(RULE_TAG) != Some(&rule.name) {
        return false;
    }
    let description = description.unwrap_or("");
    m.name_prefix.as_ref().is_none_or(|p| image.name.starts_with(p.as_str()))
        && m.description_contains.as_ref().is_none_or(|d| description.contains(d.as_str()))
        && m.has_tags.iter().all(|k| image.tags.contains_key(k))
        && m.tags.iter().all(|(k, v)| image.tags.get(k) == Some(v))
}

struct Values<'a, T> {
    rule: &'a Rule<T>,
    event: &'a AmiEvent,
    image: Option<&'a Image>,
}

impl<T> Values<'_, T> {
    /// Renders a target name. `{date}` has no value here: the configuration allows it only in
    /// bake names, which the keeper renders.
    fn render(&self, template: &NameTemplate) -> Result<String, crate::template::MissingValue> {
        template.render(|placeholder| match placeholder {
            Placeholder::ImageId => self.image.map(|i| i.id.as_str()).or(self.event.image_id().map(|i| i.as_str())),
            Placeholder::ImageName => self.image.map(|i| i.name.as_str()).or(self.event.image_name()),
            Placeholder::InstanceId => instance_id_of(self.event, self.image),
            Placeholder::Region => Some(self.event.region.as_str()),
            Placeholder::Account => Some(self.event.account.as_str()),
            Placeholder::AsgName => self.event.asg_name(),
            Placeholder::LaunchTemplateId => self.event.launch_template_id(),
            Placeholder::Rule => Some(self.rule.name.as_str()),
            Placeholder::Tag(key) => self.image.and_then(|i| i.tags.get(key)).map(String::as_str),
            Placeholder::Date => None,
        })
    }
}
