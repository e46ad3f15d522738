//! The IAM vocabulary a pointer kind speaks: the jobs, and the ARN patterns of the configured
//! accounts. [`iam`](crate::iam) builds the policy from what each kind says in it.

use crate::template::{NameSet, NameTemplate};

/// A job amikeeper does; each has its own statements, so that each can go to its own role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// Handling events (`handle`, `bake`).
    Handle,
    /// Sweeping (`sweep`).
    Sweep,
    /// Rolling back (`rollback`).
    Rollback,
    /// Reading every pointer and the AMI it names (`status`).
    Status,
}

impl Job {
    /// Every job, in the order the policy lists them.
    pub const ALL: [Job; 4] = [Job::Handle, Job::Sweep, Job::Rollback, Job::Status];

    /// The job's part of a statement id.
    pub(crate) fn sid(self) -> &'static str {
        match self {
            Job::Handle => "Handle",
            Job::Sweep => "Sweep",
            Job::Rollback => "Rollback",
            Job::Status => "Status",
        }
    }
}

/// The ARN patterns of one configuration: its partition and accounts, any region.
pub struct Arns<'a> {
    partition: &'a str,
    accounts: &'a [String],
}

impl<'a> Arns<'a> {
    /// ARNs in `partition` (`aws`, `aws-cn`, ...) for `accounts`.
    pub fn new(partition: &'a str, accounts: &'a [String]) -> Self {
        Self { partition, accounts }
    }

    /// `arn:<partition>:<service>:*:<account>:<resource>` for every account.
    pub fn each_account(&self, service: &str, resource: &str) -> Vec<String> {
        self.accounts.iter().map(|account| format!("arn:{}:{service}:*:{account}:{resource}", self.partition)).collect()
    }

    /// Images and snapshots: their ARNs name no account.
    pub fn ec2_without_account(&self, resource: &str) -> String {
        format!("arn:{}:ec2:*::{resource}", self.partition)
    }

    /// SSM parameters: `parameter/<name without its leading />`, which is also the form of a
    /// name that has no leading `/` (SSM's ARN format).
    pub fn parameters(&self, names: &NameSet) -> Vec<String> {
        let resource = match names {
            NameSet::Exactly(name) => format!("parameter/{}", name.strip_prefix('/').unwrap_or(name)),
            NameSet::StartingWith(prefix) => format!("parameter/{}*", prefix.strip_prefix('/').unwrap_or(prefix)),
        };
        self.each_account("ssm", &resource)
    }

    /// A path `GetParametersByPath` reads: authorized against the path itself (not the
    /// parameters it returns), with or without its trailing `/`.
    pub fn parameter_path(&self, path: &str) -> Vec<String> {
        let path = path.trim_matches('/');
        if path.is_empty() {
            return self.each_account("ssm", "parameter/*");
        }
        let mut arns = self.each_account("ssm", &format!("parameter/{path}"));
        arns.extend(self.each_account("ssm", &format!("parameter/{path}/*")));
        arns
    }

    /// Stacks by name (`stack/<name>/<stack id>`); none for a prefix no stack name can start
    /// with (stack names start with a letter and use letters, digits and `-`).
    pub fn stacks(&self, names: &NameSet) -> Vec<String> {
        let (NameSet::Exactly(name) | NameSet::StartingWith(name)) = names;
        let mut chars = name.chars();
        let starts_well = chars.next().is_none_or(|c| c.is_ascii_alphabetic());
        if !starts_well || !chars.all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Vec::new();
        }
        let resource = match names {
            NameSet::Exactly(name) => format!("stack/{name}/*"),
            NameSet::StartingWith(prefix) => format!("stack/{prefix}*/*"),
        };
        self.each_account("cloudformation", &resource)
    }

    /// Auto Scaling groups by name (`autoScalingGroup:<group id>:autoScalingGroupName/<name>`).
    pub fn groups(&self, names: &NameSet) -> Vec<String> {
        let name = match names {
            NameSet::Exactly(name) => name.clone(),
            NameSet::StartingWith(prefix) => format!("{prefix}*"),
        };
        self.each_account("autoscaling", &format!("autoScalingGroup:*:autoScalingGroupName/{name}"))
    }

    /// Launch templates: by id where the configuration fixes it, else any of the account's
    /// (IAM names launch templates by id only).
    pub fn launch_templates(&self, ids: &NameSet) -> Vec<String> {
        let resource = match ids {
            NameSet::Exactly(id) => format!("launch-template/{id}"),
            NameSet::StartingWith(prefix) => format!("launch-template/{prefix}*"),
        };
        self.each_account("ec2", &resource)
    }

    /// What `ec2:RunInstances` is authorized against when Auto Scaling checks that the caller
    /// may launch from a launch template: every resource type of the action in the accounts.
    pub fn run_instances(&self) -> Vec<String> {
        let mut arns = vec![self.ec2_without_account("image/*"), self.ec2_without_account("snapshot/*")];
        for resource in [
            "capacity-reservation/*",
            "elastic-gpu/*",
            "instance/*",
            "key-pair/*",
            "launch-template/*",
            "network-interface/*",
            "placement-group/*",
            "security-group/*",
            "subnet/*",
            "volume/*",
        ] {
            arns.extend(self.each_account("ec2", resource));
        }
        arns.extend(self.each_account("license-manager", "license-configuration:*"));
        arns.extend(self.each_account("resource-groups", "group/*"));
        arns
    }
}

/// The ARN patterns a target's resources can have: the configuration's, for the names each of
/// the target's templates can render to.
pub struct TargetArns<'a> {
    /// The configuration's partition and accounts.
    pub arns: &'a Arns<'a>,
    pub(crate) names: &'a dyn Fn(&NameTemplate) -> Vec<NameSet>,
}

impl TargetArns<'_> {
    /// The names `template` can render to (narrowed to the allowed prefixes when a tag fills it).
    pub fn names(&self, template: &NameTemplate) -> Vec<NameSet> {
        (self.names)(template)
    }

    /// The SSM parameters `template` can name.
    pub fn parameters(&self, template: &NameTemplate) -> Vec<String> {
        self.names(template).iter().flat_map(|set| self.arns.parameters(set)).collect()
    }

    /// The launch templates `template` (an id) can name.
    pub fn launch_templates(&self, template: &NameTemplate) -> Vec<String> {
        self.names(template).iter().flat_map(|set| self.arns.launch_templates(set)).collect()
    }

    /// The Auto Scaling groups `template` can name.
    pub fn groups(&self, template: &NameTemplate) -> Vec<String> {
        self.names(template).iter().flat_map(|set| self.arns.groups(set)).collect()
    }

    /// The stacks `template` can name.
    pub fn stacks(&self, template: &NameTemplate) -> Vec<String> {
        self.names(template).iter().flat_map(|set| self.arns.stacks(set)).collect()
    }
}
