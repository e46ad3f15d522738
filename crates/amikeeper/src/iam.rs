//! The least-privilege IAM policy for a configuration: exactly the AWS actions amikeeper can
//! call for it, in one statement per job (handling events, sweeping, rolling back), so that a
//! team can give each job to a different role.
//!
//! The action names are the names amikeeper's reports count calls under (`ec2:DescribeImages`),
//! which are also the IAM action names. Resources are `*`: EC2's describe calls do not take
//! resource-level permissions, and the names amikeeper writes to can come from tags.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::config::{Config, GroupByConfig, TargetConfig};
use crate::model::Region;
use crate::retain::{parameter_sources, Retire};

/// The actions handling events needs, for the configured rules.
pub fn handle_actions(config: &Config) -> BTreeSet<&'static str> {
    let mut actions = BTreeSet::new();
    if config.rules.is_empty() {
        return actions;
    }
    actions.insert("ec2:DescribeImages");
    for rule in &config.rules {
        if !rule.copy_to.is_empty() {
            // CopyImage with TagSpecifications needs CreateTags on the copy.
            actions.extend(["ec2:CopyImage", "ec2:CreateTags"]);
        }
        if rule.bake.is_some() {
            // CreateImage with TagSpecifications needs CreateTags on the new image.
            actions.extend(["ec2:CreateImage", "ec2:CreateTags"]);
        }
        for target in &rule.targets {
            match target {
                TargetConfig::SsmParameter { fixed_version, .. } => {
                    actions.extend(["ssm:GetParameter", "ssm:PutParameter"]);
                    if *fixed_version {
                        actions.insert("ssm:DeleteParameter");
                    } else {
                        // After a race with another run: which AMIs were written meanwhile.
                        actions.insert("ssm:GetParameterHistory");
                    }
                }
                TargetConfig::LaunchTemplate { id_from_parameter, set_default, .. } => {
                    actions.extend([
                        "ec2:DescribeLaunchTemplates",
                        "ec2:DescribeLaunchTemplateVersions",
                        "ec2:CreateLaunchTemplateVersion",
                        // Pruning (keep_versions), and a duplicate version after a race.
                        "ec2:DeleteLaunchTemplateVersions",
                    ]);
                    if id_from_parameter.is_some() {
                        actions.insert("ssm:GetParameter");
                    }
                    if *set_default {
                        actions.insert("ec2:ModifyLaunchTemplate");
                    }
                }
                TargetConfig::AutoScalingGroup { .. } => {
                    // Pointing a group at a launch template needs ec2:RunInstances on it.
                    actions.extend([
                        "autoscaling:DescribeAutoScalingGroups",
                        "autoscaling:UpdateAutoScalingGroup",
                        "ec2:DescribeLaunchTemplates",
                        "ec2:DescribeLaunchTemplateVersions",
                        "ec2:RunInstances",
                    ]);
                }
                TargetConfig::StackParameter { .. } => {
                    actions.extend(["cloudformation:DescribeStacks", "cloudformation:UpdateStack"]);
                }
            }
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

/// The actions `sweep` needs, for the configured `[retention]`.
pub fn sweep_actions(config: &Config) -> BTreeSet<&'static str> {
    let mut actions = BTreeSet::new();
    let Some(retention) = &config.retention else { return actions };
    actions.extend([
        "ec2:DescribeImages",
        "ec2:DescribeInstances",
        "ec2:DescribeLaunchTemplates",
        "ec2:DescribeLaunchTemplateVersions",
        "autoscaling:DescribeAutoScalingGroups",
        "autoscaling:DescribeLaunchConfigurations",
        "cloudformation:DescribeStacks",
        // amikeeper's protection on AMIs no pointer names any more is released.
        "ec2:DisableImageDeregistrationProtection",
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
                Retire::Delete => &["ec2:DeregisterImage", "ec2:DeleteSnapshot"][..],
                Retire::Deprecate => &["ec2:EnableImageDeprecation"][..],
                Retire::Disable => &["ec2:DisableImage"][..],
            });
        }
    }
    if retention.launch_templates.is_some() {
        actions.insert("ec2:DeleteLaunchTemplateVersions");
    }
    if retention.image_references {
        actions.insert("ec2:DescribeImageReferences");
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
pub fn rollback_actions(config: &Config) -> BTreeSet<&'static str> {
    let mut actions: BTreeSet<&'static str> = [
        "ec2:DescribeImages",
        "ssm:GetParameter",
        "ssm:GetParameterHistory",
        "ssm:PutParameter",
        "ec2:DescribeLaunchTemplates",
        "ec2:DescribeLaunchTemplateVersions",
        "ec2:CreateLaunchTemplateVersion",
        "ec2:ModifyLaunchTemplate",
        "autoscaling:DescribeAutoScalingGroups",
        "autoscaling:UpdateAutoScalingGroup",
        "ec2:RunInstances",
        "cloudformation:DescribeStacks",
        "cloudformation:UpdateStack",
    ]
    .into();
    if config.protects_any() {
        actions.extend(PROTECTION_ACTIONS);
    }
    actions
}

/// The IAM policy document: one statement per job that the configuration uses.
pub fn policy(config: &Config) -> Value {
    let mut statements = Vec::new();
    for (sid, actions) in [
        ("AmikeeperHandle", handle_actions(config)),
        ("AmikeeperSweep", sweep_actions(config)),
        ("AmikeeperRollback", rollback_actions(config)),
    ] {
        if actions.is_empty() {
            continue;
        }
        statements.push(json!({ "Sid": sid, "Effect": "Allow", "Action": actions, "Resource": "*" }));
    }
    let roles: Vec<&str> = consumer_roles(config).collect();
    if !roles.is_empty() {
        // The one action whose resource can be narrowed: the consumer roles themselves.
        statements.push(json!({
            "Sid": "AmikeeperConsumers",
            "Effect": "Allow",
            "Action": ["sts:AssumeRole"],
            "Resource": roles,
        }));
    }
    json!({ "Version": "2012-10-17", "Statement": statements })
}

/// The consumer roles a sweep assumes.
fn consumer_roles(config: &Config) -> impl Iterator<Item = &str> {
    config.retention.iter().flat_map(|r| &r.consumers).map(|c| c.role_arn.as_str())
}

/// What each consumer role needs in its own account (its policy, beside a trust policy that
/// lets this account assume it).
pub fn consumer_role_actions() -> BTreeSet<&'static str> {
    [
        "ec2:DescribeImages",
        "ec2:DescribeInstances",
        "ec2:DescribeLaunchTemplates",
        "ec2:DescribeLaunchTemplateVersions",
        "autoscaling:DescribeAutoScalingGroups",
        "autoscaling:DescribeLaunchConfigurations",
        "cloudformation:DescribeStacks",
    ]
    .into()
}

/// What the policy cannot say by itself, for whoever attaches it.
pub fn caveats(config: &Config) -> Vec<String> {
    let mut notes = Vec::new();
    let targets = || config.rules.iter().flat_map(|r| &r.targets);
    if targets().any(|t| matches!(t, TargetConfig::StackParameter { .. })) {
        notes.push(String::from(
            "cloudformation:UpdateStack runs with the caller's permissions unless the stack has a service \
             role: the role also needs whatever the stack's resources need to update",
        ));
    }
    if targets().any(|t| matches!(t, TargetConfig::AutoScalingGroup { .. })) {
        notes.push("a launch template with an instance profile also needs iam:PassRole on that role".into());
    }
    if targets().any(|t| matches!(t, TargetConfig::SsmParameter { .. })) {
        notes.push("SecureString parameters also need kms:Decrypt and kms:Encrypt on their key".into());
    }
    if consumer_roles(config).next().is_some() {
        let actions: Vec<&str> = consumer_role_actions().into_iter().collect();
        notes.push(format!(
            "each consumer role needs, in its own account, a trust policy that lets this account assume it, and \
             these actions on *: {}",
            actions.join(", ")
        ));
    }
    notes
}
