//! Retention: from an inventory of AMIs to a plan of what to delete, as a pure function.
//!
//! A plan is decided first and acted on second. [`RetentionPolicy::plan`] depends only on the
//! inventory, the policy and the time, so the same inputs always give the same plan, and every
//! decision carries its reason. Nothing in use is ever planned for deletion.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use time::OffsetDateTime;

use crate::model::{Image, ImageId, Region};

/// What one account and region holds, as far as retention needs it.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    /// The region inventoried.
    pub region: Option<Region>,
    /// Self-owned images.
    pub images: Vec<Image>,
    /// Images something uses, each with who uses it (a parameter, a launch template version,
    /// a group, an instance, a stack).
    pub in_use: BTreeMap<ImageId, Vec<String>>,
}

/// What to do with one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Leave it.
    Keep,
    /// Deregister it and delete the snapshots no other image uses.
    Delete,
}

/// One decision of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// The image.
    pub image_id: ImageId,
    /// The group it was judged in.
    pub group: String,
    /// What to do.
    pub action: Action,
    /// Why.
    pub reason: String,
}

/// A retention plan: one decision per inventoried image, in a stable order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The decisions, ordered by group, then newest first.
    pub decisions: Vec<Decision>,
}

impl Plan {
    /// The images planned for deletion.
    pub fn deletions(&self) -> impl Iterator<Item = &Decision> {
        self.decisions.iter().filter(|d| d.action == Action::Delete)
    }
}

/// Decides what to keep.
pub trait RetentionPolicy: Send + Sync {
    /// The plan for `inventory` at time `now`. Must be deterministic and must never plan to
    /// delete an image listed in `inventory.in_use`.
    fn plan(&self, inventory: &Inventory, now: OffsetDateTime) -> Plan;
}

/// Keeps the `keep` newest images per value of a tag (images without the tag are not judged)
/// and any image in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeepNewest {
    /// The tag whose value groups images, e.g. `Role`.
    pub group_tag: String,
    /// How many of the newest images to keep per group.
    pub keep: usize,
}

impl RetentionPolicy for KeepNewest {
    fn plan(&self, inventory: &Inventory, _now: OffsetDateTime) -> Plan {
        let mut groups: BTreeMap<&str, Vec<&Image>> = BTreeMap::new();
        for image in &inventory.images {
            if let Some(value) = image.tags.get(&self.group_tag) {
                groups.entry(value).or_default().push(image);
            }
        }
        let mut decisions = Vec::with_capacity(inventory.images.len());
        let mut seen = BTreeSet::new();
        for (group, mut images) in groups {
            images.sort_by(|a, b| b.age_key().cmp(&a.age_key()));
            for (rank, image) in images.into_iter().enumerate() {
                if !seen.insert(&image.id) {
                    continue;
                }
                let (action, reason) = if let Some(users) = inventory.in_use.get(&image.id) {
                    (Action::Keep, format!("in use by {}", users.join(", ")))
                } else if rank < self.keep {
                    (Action::Keep, format!("one of the {} newest in its group", self.keep))
                } else {
                    (Action::Delete, format!("older than the {} newest in its group", self.keep))
                };
                decisions.push(Decision { image_id: image.id.clone(), group: group.to_owned(), action, reason });
            }
        }
        Plan { decisions }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AccountId, ImageState};

    fn image(id: &str, role: &str, second: i64) -> Image {
        Image {
            id: ImageId::new(id),
            name: id.to_owned(),
            description: None,
            state: ImageState::Available,
            created: OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(second),
            owner: AccountId::new("111122223333"),
            tags: [("Role".to_owned(), role.to_owned())].into(),
            snapshot_ids: vec![],
        }
    }

    #[test]
    fn keeps_newest_per_group_and_anything_in_use() {
        let inventory = Inventory {
            region: None,
            images: vec![
                image("ami-1", "web", 1),
                image("ami-2", "web", 2),
                image("ami-3", "web", 3),
                image("ami-4", "db", 4),
            ],
            in_use: [(ImageId::new("ami-1"), vec!["ssm:/ami/web".to_owned()])].into(),
        };
        let policy = KeepNewest { group_tag: "Role".into(), keep: 1 };
        let plan = policy.plan(&inventory, OffsetDateTime::UNIX_EPOCH);
        let deleted: Vec<_> = plan.deletions().map(|d| d.image_id.as_str()).collect();
        assert_eq!(deleted, vec!["ami-2"]);
        assert_eq!(plan, policy.plan(&inventory, OffsetDateTime::UNIX_EPOCH), "deterministic");
    }
}
