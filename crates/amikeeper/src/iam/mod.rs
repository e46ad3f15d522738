//! The least-privilege IAM policy for a configuration: exactly the AWS actions amikeeper can
//! call for it, each on exactly the resources the configuration can touch, in statements per
//! job (handling events, sweeping, rolling back), so that a team can give each job to a
//! different role.
//!
//! The action names are the names amikeeper's reports count calls under (`ec2:DescribeImages`),
//! which are also the IAM action names. Resources are ARN patterns in the configured
//! `accounts` and any region: SSM parameters by name (a name from a template or a tag as the
//! prefix it must start with), stacks and Auto Scaling groups by name, launch templates by id
//! where the configuration fixes it, `image/*` and `snapshot/*` for EC2 (their ARNs name no
//! account), `CopyImage` only to the `copy_to` regions. `*` only for actions AWS defines no
//! resource type for, and for a call AWS authorizes against `*` (listing every stack); each is
//! named in [`caveats`]. `scripts/check_iam_policy.py` checks every action and ARN form against
//! AWS's service authorization data, and `tests/iam_replay.rs` replays the conformance
//! scenarios' calls against the policy.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use crate::config::{Config, GroupByConfig, Rule};
pub use crate::kinds::iam::{Arns, Job, TargetArns};
use crate::kinds::Kinds;
use crate::model::Region;
use crate::retain::{parameter_sources, Retire};
use crate::template::{KnownValue, NameSet, NameTemplate, Placeholder};

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
const IN_USE_SCAN: [&str; 8] = [
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

/// The partition [`policy`] writes into its ARNs.
pub const DEFAULT_PARTITION: &str = "aws";

/// The IAM policy document in the `aws` partition: see [`policy_in_partition`].
pub fn policy<T: Kinds>(config: &Config<T>) -> Value {
    policy_in_partition(config, DEFAULT_PARTITION)
}

/// The IAM policy document: for each job the configuration uses (handling events, sweeping,
/// rolling back), its actions grouped by the resources they may touch, each group a statement
/// (`Sid` `Amikeeper<Job><Resources>`), then `sts:AssumeRole` on the configured roles.
/// `partition` is `aws`, `aws-cn` or `aws-us-gov`.
pub fn policy_in_partition<T: Kinds>(config: &Config<T>, partition: &str) -> Value {
    let mut statements = Vec::new();
    let mut sids = BTreeSet::new();
    for job in Job::ALL {
        for (scope, actions) in job_scopes(config, job, partition) {
            let mut sid = format!("Amikeeper{}{}", job.sid(), scope.label());
            let mut n = 2;
            while sids.contains(&sid) {
                sid = format!("Amikeeper{}{}{n}", job.sid(), scope.label());
                n += 1;
            }
            sids.insert(sid.clone());
            statements.push(scope.statement(&sid, &actions));
        }
    }
    // The roles amikeeper assumes.
    let assumed: [(&str, Vec<&str>); 3] = [
        ("AmikeeperConsumers", consumer_roles(config).collect()),
        ("AmikeeperCopies", copy_roles(config).collect()),
        ("AmikeeperFleet", fleet_roles(config).collect()),
    ];
    for (sid, roles) in assumed.into_iter().filter(|(_, roles)| !roles.is_empty()) {
        statements.push(json!({ "Sid": sid, "Effect": "Allow", "Action": ["sts:AssumeRole"], "Resource": roles }));
    }
    let buses = notify_buses(config, partition);
    if !buses.is_empty() {
        statements.push(
            json!({ "Sid": "AmikeeperNotify", "Effect": "Allow", "Action": ["events:PutEvents"], "Resource": buses }),
        );
    }
    json!({ "Version": "2012-10-17", "Statement": statements })
}

impl Job {
    /// The actions the job needs for `config`.
    pub fn actions<T: Kinds>(self, config: &Config<T>) -> BTreeSet<&'static str> {
        match self {
            Job::Handle => handle_actions(config),
            Job::Sweep => sweep_actions(config),
            Job::Rollback => rollback_actions(config),
        }
    }
}

/// Where an action may act.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// `"*"`: AWS defines no resource type for the action, so IAM can only grant it on `*`.
    Unscoped,
    /// `"*"` although the action has resource types, because the call amikeeper makes is
    /// authorized against `*`; the text says why (a caveat).
    Everything(&'static str),
    /// These ARN patterns (`*` and `?` wildcards), in every region unless `regions` names them
    /// (as an `aws:RequestedRegion` condition).
    Arns {
        /// The statement id's resource part, e.g. `Parameters`.
        label: &'static str,
        /// The ARN patterns.
        arns: BTreeSet<String>,
        /// The regions the call may be sent to; empty: any.
        regions: BTreeSet<String>,
    },
}

impl Scope {
    fn label(&self) -> &'static str {
        match self {
            Scope::Unscoped => "AnyResource",
            Scope::Everything(_) => "Listing",
            Scope::Arns { label, .. } => label,
        }
    }

    fn statement(&self, sid: &str, actions: &BTreeSet<&'static str>) -> Value {
        match self {
            Scope::Unscoped | Scope::Everything(_) => {
                json!({ "Sid": sid, "Effect": "Allow", "Action": actions, "Resource": "*" })
            }
            Scope::Arns { arns, regions, .. } if regions.is_empty() => {
                json!({ "Sid": sid, "Effect": "Allow", "Action": actions, "Resource": arns })
            }
            Scope::Arns { arns, regions, .. } => json!({
                "Sid": sid, "Effect": "Allow", "Action": actions, "Resource": arns,
                "Condition": { "StringEquals": { "aws:RequestedRegion": regions } },
            }),
        }
    }
}

/// The job's actions grouped by the scope each may act in; an action the configuration gives
/// nothing to act on is left out.
pub fn job_scopes<T: Kinds>(config: &Config<T>, job: Job, partition: &str) -> BTreeMap<Scope, BTreeSet<&'static str>> {
    let arns = Arns::new(partition, &config.accounts);
    let mut scopes: BTreeMap<Scope, BTreeSet<&'static str>> = BTreeMap::new();
    if job == Job::Rollback && config.rules.iter().all(|rule| rule.targets.is_empty()) {
        // Rollback moves the configuration's pointers; without any it has nothing to do.
        return scopes;
    }
    for action in job.actions(config) {
        let scope = scope(config, job, action, &arns);
        if matches!(&scope, Scope::Arns { arns, .. } if arns.is_empty()) {
            continue;
        }
        scopes.entry(scope).or_default().insert(action);
    }
    scopes
}

/// Actions that AWS's service authorization reference gives no resource type: IAM grants them
/// on `*` only.
pub const UNSCOPED_ACTIONS: [&str; 15] = [
    "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:DescribeLaunchConfigurations",
    "cloudformation:ListStacks",
    "ec2:DescribeImageReferences",
    "ec2:DescribeImages",
    "ec2:DescribeInstances",
    "ec2:DescribeLaunchTemplateVersions",
    "ec2:DescribeLaunchTemplates",
    "ec2:DescribeSnapshots",
    "ec2:DescribeVolumes",
    "ec2:GetAllowedImagesSettings",
    "imagebuilder:ListContainerRecipes",
    "imagebuilder:ListImageRecipes",
    "rbin:ListRules",
    "ssm:DescribeParameters",
];

/// Why the sweep's `cloudformation:DescribeStacks` is granted on `*`.
const LISTING_STACKS: &str = "cloudformation:DescribeStacks without a stack name (the sweep reads every stack's \
     parameters) is authorized against *, not a stack ARN, and also needs cloudformation:ListStacks \
     (CloudFormation's DescribeStacks reference)";

/// Why an action amikeeper knows no scope for is granted on `*`.
const NO_SCOPE_KNOWN: &str = "amikeeper knows no narrower resource for this action";

/// What the configuration tells of each placeholder's value before an event gives it: ids
/// start the way AWS makes them (events are refused unless they do), `{rule}` is the rule's
/// name, and `{asg_name}` starts with the rule's `asg_name_prefix`.
fn known<'a, T>(rule: &'a Rule<T>) -> impl Fn(&Placeholder) -> KnownValue<'a> {
    move |placeholder| match placeholder {
        Placeholder::Rule => KnownValue::Exactly(&rule.name),
        Placeholder::InstanceId => KnownValue::StartsWith("i-"),
        Placeholder::ImageId => KnownValue::StartsWith("ami-"),
        Placeholder::LaunchTemplateId => KnownValue::StartsWith("lt-"),
        Placeholder::AsgName => {
            rule.matcher.asg_name_prefix.as_deref().map_or(KnownValue::Unknown, KnownValue::StartsWith)
        }
        _ => KnownValue::Unknown,
    }
}

/// The names a target's template can render to. A name with a tag's value in it must also
/// start with one of `allowed_name_prefixes` (amikeeper refuses any other), so the sets are
/// narrowed to those prefixes.
fn name_sets<T>(config: &Config<T>, rule: &Rule<T>, template: &NameTemplate) -> Vec<NameSet> {
    let set = template.name_set(known(rule));
    let NameSet::StartingWith(prefix) = &set else { return vec![set] };
    if !template.uses_tags() {
        return vec![set];
    }
    let mut sets = BTreeSet::new();
    for allowed in &config.allowed_name_prefixes {
        if allowed.starts_with(prefix.as_str()) {
            sets.insert(NameSet::StartingWith(allowed.clone()));
        } else if prefix.starts_with(allowed.as_str()) {
            sets.insert(set.clone());
        }
    }
    sets.into_iter().collect()
}

/// The ARN patterns the targets an action of the handle or rollback job touches act on; `None`
/// when it touches none.
fn target_arns<T: Kinds>(config: &Config<T>, job: Job, action: &str, arns: &Arns<'_>) -> Option<BTreeSet<String>> {
    let mut found: Option<BTreeSet<String>> = None;
    for rule in &config.rules {
        let names = |template: &NameTemplate| name_sets(config, rule, template);
        let target_arns = TargetArns { arns, names: &names };
        for target in &rule.targets {
            if let Some(touched) = target.target().iam_resources(job, action, &target_arns) {
                found.get_or_insert_with(BTreeSet::new).extend(touched);
            }
        }
    }
    found
}

/// Where `action` of `job` may act, for `config`.
pub fn scope_of<T: Kinds>(config: &Config<T>, job: Job, action: &str, partition: &str) -> Scope {
    scope(config, job, action, &Arns::new(partition, &config.accounts))
}

fn scope<T: Kinds>(config: &Config<T>, job: Job, action: &str, arns: &Arns<'_>) -> Scope {
    let images = || BTreeSet::from([arns.ec2_without_account("image/*")]);
    let snapshots = || BTreeSet::from([arns.ec2_without_account("snapshot/*")]);
    let scoped = |label, arns: BTreeSet<String>| Scope::Arns { label, arns, regions: BTreeSet::new() };
    if UNSCOPED_ACTIONS.contains(&action) {
        return Scope::Unscoped;
    }
    match (job, action) {
        (Job::Sweep, "cloudformation:DescribeStacks") => Scope::Everything(LISTING_STACKS),
        // `image_references = "scan_only"`: every parameter of the region, every container recipe.
        (Job::Sweep, "ssm:GetParameters") => {
            scoped("AllParameters", arns.each_account("ssm", "parameter/*").into_iter().collect())
        }
        (Job::Sweep, "imagebuilder:GetContainerRecipe") => {
            scoped("ContainerRecipes", arns.each_account("imagebuilder", "container-recipe/*").into_iter().collect())
        }
        (Job::Sweep, "ssm:GetParameter" | "ssm:GetParametersByPath" | "ssm:GetParameterHistory") => {
            let mut found = BTreeSet::new();
            let (names, paths, _) = parameter_sources(config, &Region::from("*"));
            match action {
                "ssm:GetParameter" => {
                    found.extend(names.iter().flat_map(|n| arns.parameters(&NameSet::Exactly(n.clone()))));
                }
                "ssm:GetParametersByPath" => found.extend(paths.iter().flat_map(|p| arns.parameter_path(p))),
                _ => {
                    let published = config.retention.iter().flat_map(|r| &r.images).filter_map(|p| match &p.group_by {
                        GroupByConfig::PublishedTo(names) => Some(names),
                        _ => None,
                    });
                    for name in published.flatten() {
                        found.extend(arns.parameters(&NameSet::Exactly(name.clone())));
                    }
                }
            }
            scoped("Parameters", found)
        }
        (Job::Sweep, "ec2:DeleteLaunchTemplateVersions") => scoped(
            "LaunchTemplates",
            arns.launch_templates(&NameSet::StartingWith(String::new())).into_iter().collect(),
        ),
        (Job::Sweep, "rbin:GetRule") => {
            scoped("RecycleBinRules", arns.each_account("rbin", "rule/*").into_iter().collect())
        }
        (Job::Sweep, "ec2:DeleteSnapshot") => scoped("Snapshots", snapshots()),
        // Snapshots marked before their AMI is deregistered; amikeeper's protection claim on
        // images withdrawn.
        (Job::Sweep, "ec2:CreateTags") => scoped("Tags", images().into_iter().chain(snapshots()).collect()),
        (
            _,
            "ec2:DeregisterImage"
            | "ec2:EnableImageDeprecation"
            | "ec2:DisableImage"
            | "ec2:EnableImageDeregistrationProtection"
            | "ec2:DisableImageDeregistrationProtection"
            | "ec2:ModifyImageAttribute"
            | "ec2:CreateTags",
        ) => scoped("Images", images()),
        (Job::Handle, "ec2:ModifySnapshotAttribute") => scoped("Snapshots", snapshots()),
        (Job::Handle, "ec2:CreateImage") => {
            // The instance imaged, the new image and the snapshots it is made with.
            let mut found: BTreeSet<String> = images().into_iter().chain(snapshots()).collect();
            for bake in config.rules.iter().filter_map(|r| r.bake.as_ref()) {
                found.extend(arns.each_account("ec2", &format!("instance/{}", bake.instance_id)));
            }
            scoped("Bake", found)
        }
        (Job::Handle, "ec2:CopyImage") => {
            // The copy is made by a call to the destination region, from the source image
            // and its snapshots.
            let regions: BTreeSet<String> = config
                .rules
                .iter()
                .flat_map(|r| &r.copy_to)
                .filter(|d| d.role_arn().is_none())
                .map(|d| d.region().to_owned())
                .collect();
            Scope::Arns { label: "Copies", arns: images().into_iter().chain(snapshots()).collect(), regions }
        }
        (Job::Handle | Job::Rollback, _) => match target_arns(config, job, action, arns) {
            Some(found) => {
                let label = match action.split(':').next() {
                    Some("ssm") => "Parameters",
                    Some("cloudformation") => "Stacks",
                    Some("autoscaling") => "Groups",
                    _ if action == "ec2:RunInstances" => "Launches",
                    _ => "LaunchTemplates",
                };
                scoped(label, found)
            }
            None if job == Job::Rollback => scoped("Nothing", BTreeSet::new()),
            None => Scope::Everything(NO_SCOPE_KNOWN),
        },
        _ => Scope::Everything(NO_SCOPE_KNOWN),
    }
}

/// The event buses `[notify]` puts on (`events:PutEvents`), every job alike: a bus named by
/// name in every region of the configured accounts, a bus ARN as it is.
pub fn notify_buses<T>(config: &Config<T>, partition: &str) -> BTreeSet<String> {
    let Some(notify) = &config.notify else { return BTreeSet::new() };
    config.accounts.iter().map(|account| notify.event_bus.arn_pattern(partition, account)).collect()
}

/// The roles a fleet sweep assumes (`[[fleet]] role_arn`), each once.
fn fleet_roles<T>(config: &Config<T>) -> impl Iterator<Item = &str> {
    let roles: BTreeSet<&str> = config.fleet.iter().filter_map(|t| t.role_arn.as_deref()).collect();
    roles.into_iter()
}

/// What each fleet role needs in its own account: what a sweep needs here, plus
/// `sts:AssumeRole` on the configuration's consumer roles when it has any.
pub fn fleet_role_actions<T: Kinds>(config: &Config<T>) -> BTreeSet<&'static str> {
    let mut actions = sweep_actions(config);
    if consumer_roles(config).next().is_some() {
        actions.insert("sts:AssumeRole");
    }
    actions
}

/// The roles `copy_to` assumes to copy into other accounts, each once.
fn copy_roles<T>(config: &Config<T>) -> impl Iterator<Item = &str> {
    let roles: BTreeSet<&str> = config.rules.iter().flat_map(|r| &r.copy_to).filter_map(|d| d.role_arn()).collect();
    roles.into_iter()
}

/// What each `copy_to` role needs in its own account: finding an earlier copy, and copying the
/// shared AMI with its tags.
pub fn copy_role_actions() -> BTreeSet<&'static str> {
    ["ec2:DescribeImages", "ec2:CopyImage", "ec2:CreateTags"].into()
}

/// The consumer roles a sweep assumes.
fn consumer_roles<T>(config: &Config<T>) -> impl Iterator<Item = &str> {
    config.retention.iter().flat_map(|r| &r.consumers).map(|c| c.role_arn.as_str())
}

/// What each consumer role needs in its own account (its policy, beside a trust policy that
/// lets this account assume it).
pub fn consumer_role_actions() -> BTreeSet<&'static str> {
    IN_USE_SCAN.into()
}

/// What the policy cannot say by itself, for whoever attaches it.
pub fn caveats<T: Kinds>(config: &Config<T>) -> Vec<String> {
    let mut notes = Vec::new();
    let mut unscoped = BTreeSet::new();
    let mut everything = BTreeSet::new();
    for job in Job::ALL {
        for (scope, actions) in job_scopes(config, job, DEFAULT_PARTITION) {
            match scope {
                Scope::Unscoped => unscoped.extend(actions),
                Scope::Everything(why) => {
                    let actions: Vec<&str> = actions.into_iter().collect();
                    everything.insert(format!("{} is granted on *: {why}", actions.join(", ")));
                }
                Scope::Arns { .. } => {}
            }
        }
    }
    if !unscoped.is_empty() {
        let actions: Vec<&str> = unscoped.into_iter().collect();
        notes.push(format!(
            "granted on * because AWS defines no resource type for them (they only read): {}",
            actions.join(", ")
        ));
    }
    notes.extend(everything);
    notes.push(
        "resources are named in every region (*) of the configured accounts: events come from any region; \
         image/* and snapshot/* name no account because EC2's image and snapshot ARNs have none (an account \
         can change only its own)"
            .into(),
    );
    // What each kind of pointer adds, once per kind.
    for target in config.rules.iter().flat_map(|r| &r.targets) {
        if let Some(caveat) = target.target().iam_caveat().filter(|c| !notes.iter().any(|n| n == c)) {
            notes.push(caveat.to_owned());
        }
    }
    if let Some(notify) = &config.notify {
        notes.push(format!(
            "events:PutEvents on the [notify] bus {}: a bus of another account takes the events only if its \
             resource policy allows this account events:PutEvents",
            notify.event_bus
        ));
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
mod tests;
