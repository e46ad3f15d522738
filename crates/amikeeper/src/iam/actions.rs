//! The actions each job needs for a configuration (before they are scoped to resources).

use std::collections::BTreeSet;

use crate::config::{Config, GroupByConfig};
use crate::kinds::Kinds;
use crate::model::Region;
use crate::retain::{parameter_sources, Retire};

/// The actions handling events needs, for the configured rules.
pub fn handle_actions<T: Kinds>(config: &Config<T>) -> BTreeSet<&'static str> {
    let mut actions = BTreeSet::new();
    if config.rules.is_empty() {
        return actions;
    }
    // GetAllowedImagesSettings: whether an AMI EC2 flags as not allowed may still be
    // published (audit mode), or why EC2 does not show it (see `allowed`).
    actions.extend(["ec2:DescribeImages", "ec2:GetAllowedImagesSettings"]);
    for rule in &config.rules {
        if rule.copy_to.iter().any(|d| d.role_arn().is_none()) {
            // CopyImage with TagSpecifications needs CreateTags on the copy.
            actions.extend(["ec2:CopyImage", "ec2:CreateTags"]);
        }
        if rule.copy_to.iter().any(|d| d.role_arn().is_some()) {
            // Sharing the AMI and its snapshots with the destination account; the copy itself
            // is made there, by the role (copy_role_actions), which its own statement assumes.
            actions.extend(["ec2:ModifyImageAttribute", "ec2:ModifySnapshotAttribute"]);
        }
        if rule.bake.is_some() {
            // CreateImage with TagSpecifications needs CreateTags on the new image.
            actions.extend(["ec2:CreateImage", "ec2:CreateTags"]);
        }
        for target in &rule.targets {
            actions.extend(target.target().handle_actions());
        }
    }
    if config.protects_any() {
        actions.extend(PROTECTION_ACTIONS);
    }
    actions
}

/// Protecting the AMI a pointer moves to, and releasing amikeeper's protection on the one it left.
const PROTECTION_ACTIONS: [&str; 3] =
    ["ec2:EnableImageDeregistrationProtection", "ec2:DisableImageDeregistrationProtection", "ec2:CreateTags"];

/// What the sweep's in-use scan reads in every account it checks: the images, and everything
/// that launches them.
pub(super) const IN_USE_SCAN: [&str; 8] = [
    "ec2:DescribeImages",
    "ec2:DescribeInstances",
    "ec2:DescribeLaunchTemplates",
    "ec2:DescribeLaunchTemplateVersions",
    "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:DescribeLaunchConfigurations",
    // DescribeStacks without a stack name needs ListStacks too (its API reference).
    "cloudformation:DescribeStacks",
    "cloudformation:ListStacks",
];

/// The actions `sweep` needs, for the configured `[retention]`.
pub fn sweep_actions<T: Kinds>(config: &Config<T>) -> BTreeSet<&'static str> {
    let mut actions = BTreeSet::new();
    let Some(retention) = &config.retention else { return actions };
    actions.extend(IN_USE_SCAN);
    actions.extend([
        // amikeeper's protection on AMIs no pointer names any more is released: its claim
        // (tag `amikeeper:protected`) is withdrawn first, then the protection is turned off.
        "ec2:DisableImageDeregistrationProtection",
        "ec2:CreateTags",
        // Snapshots an interrupted sweep left behind (tagged amikeeper:retired).
        "ec2:DescribeSnapshots",
    ]);
    // The parameters a sweep reads: the names and paths do not depend on the region.
    let (names, paths, _) = parameter_sources(config, &Region::from("us-east-1"));
    if !names.is_empty() {
        actions.insert("ssm:GetParameter");
    }
    if !paths.is_empty() {
        actions.insert("ssm:GetParametersByPath");
    }
    for policy in &retention.images {
        if matches!(policy.group_by, GroupByConfig::PublishedTo(_)) {
            actions.insert("ssm:GetParameterHistory");
        }
        let retires: Vec<Retire> = match &policy.stages {
            Some(stages) => [
                stages.deprecate_after_days.map(|_| Retire::Deprecate),
                stages.disable_after_days.map(|_| Retire::Disable),
                stages.delete_after_days.map(|_| Retire::Delete),
            ]
            .into_iter()
            .flatten()
            .collect(),
            None => vec![policy.retire],
        };
        for retire in retires {
            actions.extend(match retire {
                // The snapshots are tagged amikeeper:retired before their AMI is deregistered.
                Retire::Delete => &["ec2:DeregisterImage", "ec2:DeleteSnapshot", "ec2:CreateTags"][..],
                Retire::Deprecate => &["ec2:EnableImageDeprecation"][..],
                Retire::Disable => &["ec2:DisableImage"][..],
            });
        }
    }
    if retention.launch_templates.is_some() {
        actions.insert("ec2:DeleteLaunchTemplateVersions");
    }
    if retention.image_references.asked() {
        actions.insert("ec2:DescribeImageReferences");
    } else {
        // The scan decides alone: every parameter of the region and the Image Builder recipes.
        actions.extend([
            "ssm:DescribeParameters",
            "ssm:GetParameters",
            "imagebuilder:ListImageRecipes",
            "imagebuilder:ListContainerRecipes",
            "imagebuilder:GetContainerRecipe",
        ]);
    }
    if retention.recycle_bin {
        actions.extend(["rbin:ListRules", "rbin:GetRule"]);
    }
    if let Some(snapshots) = &retention.snapshots {
        actions.insert("ec2:DescribeSnapshots");
        if snapshots.generations_tag.is_some() {
            actions.extend(["ec2:DescribeVolumes", "ec2:DeleteSnapshot", "ec2:CreateTags"]);
        }
        if snapshots.delete_orphans {
            actions.insert("ec2:DeleteSnapshot");
        }
    }
    actions
}

/// The actions `rollback` can need: reading each kind of pointer's history, and writing it.
/// With a `[revoke]` table, also what `revoke` needs beyond that: marking the revoked AMI and
/// its copies rejected (`ec2:CreateTags`), deprecating them, and with `disable = true`
/// disabling them.
pub fn rollback_actions<T: Kinds>(config: &Config<T>) -> BTreeSet<&'static str> {
    // Checking the AMI rolled back to, then what each kind of pointer needs.
    let mut actions: BTreeSet<&'static str> = ["ec2:DescribeImages", "ec2:GetAllowedImagesSettings"].into();
    actions.extend(T::rollback_actions());
    if let Some(revoke) = &config.revoke {
        actions.extend(["ec2:CreateTags", "ec2:EnableImageDeprecation"]);
        if revoke.disable {
            actions.insert("ec2:DisableImage");
        }
    }
    if config.protects_any() {
        actions.extend(PROTECTION_ACTIONS);
    }
    actions
}

/// The actions `status` needs: each target's reads (see `PointerKind::status_actions`) and the
/// AMIs its pointers name. The roles it assumes (`copy_to`, `[[fleet]]`) have their own statements.
pub fn status_actions<T: Kinds>(config: &Config<T>) -> BTreeSet<&'static str> {
    let targets = || config.rules.iter().flat_map(|rule| &rule.targets);
    let mut actions: BTreeSet<&'static str> = targets().flat_map(|target| target.target().status_actions()).collect();
    if !actions.is_empty() {
        actions.insert("ec2:DescribeImages");
    }
    actions
}
