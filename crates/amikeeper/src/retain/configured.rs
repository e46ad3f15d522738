//! [`ConfiguredRetention`]: the [`RetentionPolicy`] a configuration's `[[retention.images]]`
//! describes, the one a [`Keeper`](crate::Keeper) sweeps with unless it is given another.

use std::collections::HashSet;

use time::OffsetDateTime;

use super::inventory::Gathered;
use super::usage::image_policy;
use super::{snapshot_plan, Action, Decision, Inventory, Plan, RetentionPolicy, Retire};
use crate::config::{Config, ImagePolicyConfig};
use crate::model::ImageId;

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
    pub fn new<T>(config: &Config<T>) -> Self {
        Self { policies: config.retention.as_ref().map(|r| r.images.clone()).unwrap_or_default() }
    }
}

impl RetentionPolicy for ConfiguredRetention {
    fn plan(&self, inventory: &Inventory, now: OffsetDateTime) -> Plan {
        let decisions = self.sweep_decisions(inventory, &Gathered::default(), now, &mut Vec::new());
        let deleted: HashSet<&ImageId> =
            decisions.iter().filter(|d| d.action == Action::Retire(Retire::Delete)).map(|d| &d.image_id).collect();
        let snapshots = snapshot_plan(&inventory.images, |index| deleted.contains(&inventory.images[index].id));
        Plan { decisions, snapshots }
    }

    /// The decisions of every policy, in order; a policy sees only the images no earlier one
    /// groups. `gathered` holds the parameter histories for `published_to`.
    fn sweep_decisions(
        &self,
        inventory: &Inventory,
        gathered: &Gathered,
        now: OffsetDateTime,
        warnings: &mut Vec<String>,
    ) -> Vec<Decision> {
        let mut policies = Vec::new();
        for (i, config) in self.policies.iter().enumerate() {
            match image_policy(config, &gathered.parameter_histories) {
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
