//! The IAM policy `iam-policy` prints covers every call amikeeper makes, and no more than the
//! configuration needs.

use std::collections::BTreeSet;

use amikeeper::conformance::{self, MemoryFixture};
use amikeeper::iam;
use amikeeper::Config;

const EVERYTHING: &str = r#"
accounts = ["111122223333"]
allowed_name_prefixes = ["/ami/"]
[[rules]]
name = "parameter"
[[rules.targets]]
kind = "ssm_parameter"
name = "/ami/web"
fixed_version = true
[[rules.targets]]
kind = "launch_template"
id_from_parameter = "/app/lt"
keep_versions = 3
[[rules.targets]]
kind = "auto_scaling_group"
name = "web"
[[rules.targets]]
kind = "stack_parameter"
stack = "web"
[[rules]]
name = "bake"
on = ["scheduled"]
[rules.bake]
instance_id = "i-0123456789abcdef0"
[[rules.targets]]
kind = "launch_template"
name = "web"
[retention]
parameter_paths = ["/ami/"]
[[retention.images]]
group_by = { published_to = ["/ami/web"] }
keep_newest = 2
stages = { deprecate_after_days = 30, disable_after_days = 60, delete_after_days = 90 }
[retention.launch_templates]
keep_versions = 3
[retention.snapshots]
generations_tag = "Daily_Gens"
delete_orphans = true
"#;

#[tokio::test(start_paused = true)]
async fn the_policy_covers_every_call_the_conformance_scenarios_make() {
    let config = Config::from_toml(EVERYTHING).unwrap();
    let allowed: BTreeSet<&str> = iam::handle_actions(&config)
        .into_iter()
        .chain(iam::sweep_actions(&config))
        .chain(iam::rollback_actions(&config))
        .collect();
    let mut called = BTreeSet::new();
    macro_rules! scenario {
        ($name:ident) => {{
            let fixture = MemoryFixture::new();
            conformance::$name(&fixture).await;
            called.extend(fixture.memory().calls());
        }};
    }
    scenario!(seed_000_backup_to_fixed_version_parameter);
    scenario!(seed_001_parameter_from_tag);
    scenario!(seed_001_stack_from_tag);
    scenario!(seed_002_asg_created_to_latest);
    scenario!(seed_002_dlm_to_launch_template);
    scenario!(seed_003_scheduled_bake);
    scenario!(sweep_keeps_what_is_in_use);
    scenario!(seed_004_snapshot_generations);
    scenario!(protection_follows_the_pointers);
    let missing: Vec<&String> = called.iter().filter(|op| !allowed.contains(op.as_str())).collect();
    assert!(missing.is_empty(), "calls the policy does not allow: {missing:?}");
}

#[test]
fn a_small_configuration_gets_a_small_policy() {
    let config = |extra: &str| {
        Config::from_toml(&format!(
            "accounts = [\"111122223333\"]\n{extra}\n[[rules]]\nname = \"web\"\n[[rules.targets]]\nkind = \"ssm_parameter\"\nname = \"/ami/web\"\n"
        ))
        .unwrap()
    };
    let actions: Vec<&str> = iam::handle_actions(&config("")).into_iter().collect();
    assert_eq!(
        actions,
        [
            "ec2:CreateTags",
            "ec2:DescribeImages",
            "ec2:DisableImageDeregistrationProtection",
            "ec2:EnableImageDeregistrationProtection",
            "ssm:GetParameter",
            "ssm:GetParameterHistory",
            "ssm:PutParameter"
        ]
    );
    let unprotected: Vec<&str> = iam::handle_actions(&config("protect_published = false")).into_iter().collect();
    assert_eq!(unprotected, ["ec2:DescribeImages", "ssm:GetParameter", "ssm:GetParameterHistory", "ssm:PutParameter"]);
    assert!(iam::sweep_actions(&config("")).is_empty());
    let sweep = config("[retention]\n[retention.launch_templates]\nkeep_versions = 2");
    let reads: Vec<&str> = iam::sweep_actions(&sweep).into_iter().filter(|a| a.starts_with("ssm:")).collect();
    assert_eq!(reads, ["ssm:GetParameter"], "the rule's fixed-name parameter, and no path");
    let policy = iam::policy(&config(""));
    let sids: Vec<&str> = policy["Statement"].as_array().unwrap().iter().map(|s| s["Sid"].as_str().unwrap()).collect();
    assert_eq!(sids, ["AmikeeperHandle", "AmikeeperRollback"]);
    assert_eq!(policy["Version"], "2012-10-17");
}
