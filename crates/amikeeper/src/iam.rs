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
                TargetConfig::LaunchTemplate { id_from_parameter, set_default, keep_versions, .. } => {
                    actions.extend([
                        "ec2:DescribeLaunchTemplates",
                        "ec2:DescribeLaunchTemplateVersions",
                        "ec2:CreateLaunchTemplateVersion",
                        // Pruning (keep_versions), and a duplicate version after a race.
                        "ec2:DeleteLaunchTemplateVersions",
                    ]);
                    if keep_versions.is_some() {
                        // Pruning never deletes a version an Auto Scaling group pins.
                        actions.insert("autoscaling:DescribeAutoScalingGroups");
                    }
                    if id_from_parameter.is_some() {
                        actions.insert("ssm:GetParameter");
                    }
                    if *set_default {
                        actions.insert("ec2:ModifyLaunchTemplate");
                    }
                }
                TargetConfig::AutoScalingGroup { instance_refresh, .. } => {
                    // Pointing a group at a launch template needs ec2:RunInstances on it.
                    actions.extend([
                        "autoscaling:DescribeAutoScalingGroups",
                        "autoscaling:UpdateAutoScalingGroup",
                        "ec2:DescribeLaunchTemplates",
                        "ec2:DescribeLaunchTemplateVersions",
                        "ec2:RunInstances",
                    ]);
                    if instance_refresh.is_some() {
                        actions.insert("autoscaling:StartInstanceRefresh");
                    }
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
        "ec2:GetAllowedImagesSettings",
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
    // The one action whose resource can be narrowed: the roles amikeeper assumes.
    let assumed: [(&str, Vec<&str>); 3] = [
        ("AmikeeperConsumers", consumer_roles(config).collect()),
        ("AmikeeperCopies", copy_roles(config).collect()),
        ("AmikeeperFleet", fleet_roles(config).collect()),
    ];
    for (sid, roles) in assumed.into_iter().filter(|(_, roles)| !roles.is_empty()) {
        statements.push(json!({ "Sid": sid, "Effect": "Allow", "Action": ["sts:AssumeRole"], "Resource": roles }));
    }
    json!({ "Version": "2012-10-17", "Statement": statements })
}

/// The roles a fleet sweep assumes (`[[fleet]] role_arn`), each once.
fn fleet_roles(config: &Config) -> impl Iterator<Item = &str> {
    let roles: BTreeSet<&str> = config.fleet.iter().filter_map(|t| t.role_arn.as_deref()).collect();
    roles.into_iter()
}

/// What each fleet role needs in its own account: what a sweep needs here, plus
/// `sts:AssumeRole` on the configuration's consumer roles when it has any.
pub fn fleet_role_actions(config: &Config) -> BTreeSet<&'static str> {
    let mut actions = sweep_actions(config);
    if consumer_roles(config).next().is_some() {
        actions.insert("sts:AssumeRole");
    }
    actions
}

/// The roles `copy_to` assumes to copy into other accounts, each once.
fn copy_roles(config: &Config) -> impl Iterator<Item = &str> {
    let roles: BTreeSet<&str> = config.rules.iter().flat_map(|r| &r.copy_to).filter_map(|d| d.role_arn()).collect();
    roles.into_iter()
}

/// What each `copy_to` role needs in its own account: finding an earlier copy, and copying the
/// shared AMI with its tags.
pub fn copy_role_actions() -> BTreeSet<&'static str> {
    ["ec2:DescribeImages", "ec2:CopyImage", "ec2:CreateTags"].into()
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
    if fleet_roles(config).next().is_some() {
        let actions: Vec<&str> = fleet_role_actions(config).into_iter().collect();
        notes.push(format!(
            "each [[fleet]] role needs, in its own account, a trust policy that lets this account assume it, and \
             these actions on *: {}",
            actions.join(", ")
        ));
    }
    if copy_roles(config).next().is_some() {
        let actions: Vec<&str> = copy_role_actions().into_iter().collect();
        notes.push(format!(
            "each copy_to role needs, in its own account, a trust policy that lets this account assume it, and \
             these actions on *: {}; an AMI with encrypted snapshots cannot be copied there unless its KMS key \
             (a customer managed key) is shared with that account, which amikeeper does not do",
            actions.join(", ")
        ));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn group_target(extra: &str) -> Config {
        Config::from_toml(&format!(
            "accounts = [\"111122223333\"]\n[[rules]]\nname = \"web\"\n[[rules.targets]]\n\
             kind = \"auto_scaling_group\"\nname = \"web-asg\"\n{extra}\n"
        ))
        .unwrap()
    }

    #[test]
    fn instance_refresh_is_allowed_only_when_configured() {
        let refresh = "autoscaling:StartInstanceRefresh";
        assert!(!handle_actions(&group_target("")).contains(refresh));
        assert!(!handle_actions(&group_target("instance_refresh = false")).contains(refresh));
        assert!(handle_actions(&group_target("instance_refresh = true")).contains(refresh));
        let table = group_target("instance_refresh = { min_healthy_percentage = 50 }");
        assert!(handle_actions(&table).contains(refresh));
        assert!(!rollback_actions(&table).contains(refresh), "a rollback starts no refresh");
    }
}
