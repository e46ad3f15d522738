//! [`ConfiguredRetention`]: the [`RetentionPolicy`] a configuration's `[[retention.images]]`
//! describes, the one a [`Keeper`](crate::Keeper) sweeps with unless it is given another.

use std::collections::BTreeMap;
use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use super::inventory::Gathered;
use super::sweep::ami_ids;
use super::{snapshot_plan, Action, Decision, GroupBy, ImagePolicy, Inventory, Plan, RetentionPolicy, Retire};
use crate::config::{Config, GroupByConfig, ImagePolicyConfig};
use crate::model::ImageId;

/// The history of each SSM parameter a `published_to` grouping names, oldest first, as
/// `(version, value)`.
type ParameterHistories = BTreeMap<String, Vec<(i64, String)>>;

/// The image policies of a configuration's `[[retention.images]]`, in order: each judges the
/// images no earlier policy groups.
///
/// A `published_to` grouping reads the parameter histories only a sweep gathers: in a sweep
/// ([`RetentionPolicy::sweep_decisions`]) it groups the AMIs each parameter named; in
/// [`plan`](RetentionPolicy::plan) alone it groups none.
#[derive(Debug, Clone, Default)]
pub struct ConfiguredRetention {
    policies: Vec<ImagePolicyConfig>,
}

impl ConfiguredRetention {
    /// The policies of `config`'s `[[retention.images]]` (none without `[retention]`).
    pub fn new(config: &Config) -> Self {
        Self { policies: config.retention.as_ref().map(|r| r.images.clone()).unwrap_or_default() }
    }

    /// The decisions of every policy, in order, for `images` (with their usages); `histories`
    /// for `published_to`.
    fn decide(
        &self,
        inventory: &Inventory,
        histories: &ParameterHistories,
        now: OffsetDateTime,
        warnings: &mut Vec<String>,
    ) -> Vec<Decision> {
        let mut policies = Vec::new();
        for (i, config) in self.policies.iter().enumerate() {
            match image_policy(config, histories) {
                Ok(policy) => policies.push(policy),
                Err(error) => warnings.push(format!("retention.images[{i}] is skipped: {error}")),
            }
        }
        let mut decisions = Vec::new();
        for (i, policy) in policies.iter().enumerate() {
            if i == 0 {
                decisions.extend(policy.decisions_among(&inventory.images, &inventory.usages, now));
                continue;
            }
            let images: Vec<_> = inventory
                .images
                .iter()
                .filter(|image| policies[..i].iter().all(|earlier| earlier.group_by.group_of(image).is_none()))
                .cloned()
                .collect();
            decisions.extend(policy.decisions_among(&images, &inventory.usages, now));
        }
        decisions
    }
}

impl RetentionPolicy for ConfiguredRetention {
    fn plan(&self, inventory: &Inventory, now: OffsetDateTime) -> Plan {
        let decisions = self.decide(inventory, &ParameterHistories::new(), now, &mut Vec::new());
        let deleted: std::collections::HashSet<&ImageId> =
            decisions.iter().filter(|d| d.action == Action::Retire(Retire::Delete)).map(|d| &d.image_id).collect();
        let snapshots = snapshot_plan(&inventory.images, |index| deleted.contains(&inventory.images[index].id));
        Plan { decisions, snapshots }
    }

    fn sweep_decisions(
        &self,
        inventory: &Inventory,
        gathered: &Gathered,
        now: OffsetDateTime,
        warnings: &mut Vec<String>,
    ) -> Vec<Decision> {
        self.decide(inventory, &gathered.parameter_histories, now, warnings)
    }
}

/// The [`ImagePolicy`] a `[[retention.images]]` entry describes; `histories` has the parameter
/// histories a `published_to` grouping reads.
fn image_policy(config: &ImagePolicyConfig, histories: &ParameterHistories) -> Result<ImagePolicy, regex::Error> {
    let group_by = match &config.group_by {
        GroupByConfig::Tag(key) => GroupBy::Tag(key.clone()),
        GroupByConfig::NamePrefix(prefixes) => GroupBy::NamePrefix(prefixes.clone()),
        GroupByConfig::NamePattern(pattern) => GroupBy::NamePattern(regex::Regex::new(pattern)?),
        GroupByConfig::PublishedTo(names) => {
            let mut groups: rustc_hash::FxHashMap<ImageId, Arc<str>> = Default::default();
            for name in names {
                let group: Arc<str> = Arc::from(name.as_str());
                for (_, value) in histories.get(name).into_iter().flatten() {
                    for found in ami_ids().find_iter(value) {
                        groups.entry(ImageId::new(found.as_str())).or_insert_with(|| group.clone());
                    }
                }
            }
            GroupBy::Lookup(Arc::new(groups))
        }
    };
    Ok(ImagePolicy {
        group_by,
        keep_newest: config.keep_newest,
        min_age: Duration::days(i64::from(config.min_age_days)),
        max_age: config.max_age_days.map(|days| Duration::days(i64::from(days))),
        keep_launched_within: config.keep_launched_within_days.map(|days| Duration::days(i64::from(days))),
        exclude_tag: Some(config.exclude_tag.clone()),
        max_retirements: config.max_retirements,
        retire: config.retire,
        stages: config.stages.map(|s| super::Stages {
            deprecate_after: s.deprecate_after_days.map(|d| Duration::days(i64::from(d))),
            disable_after: s.disable_after_days.map(|d| Duration::days(i64::from(d))),
            delete_after: s.delete_after_days.map(|d| Duration::days(i64::from(d))),
        }),
    })
}
