//! The policy for small configurations: what each target kind adds, and where.

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

fn resources(policy: &Value, sid: &str) -> Vec<String> {
    let statement = policy["Statement"].as_array().unwrap().iter().find(|s| s["Sid"] == sid);
    let statement = statement.unwrap_or_else(|| panic!("no statement {sid}: {policy:#}"));
    match &statement["Resource"] {
        Value::String(any) => vec![any.clone()],
        list => list.as_array().unwrap().iter().map(|r| r.as_str().unwrap().to_owned()).collect(),
    }
}

#[test]
fn parameters_are_scoped_to_names_and_allowed_prefixes() {
    let config = Config::from_toml(
        "accounts = [\"111122223333\", \"444455556666\"]\nallowed_name_prefixes = [\"/ami/\", \"solution\"]\n\
         [[rules]]\nname = \"web\"\n[[rules.targets]]\nkind = \"ssm_parameter\"\nname = \"/ami/web\"\n\
         [[rules.targets]]\nkind = \"ssm_parameter\"\nname = \"plain-name\"\n\
         [[rules.targets]]\nkind = \"ssm_parameter\"\nname = \"{tag:Parameter}\"\n\
         [[rules.targets]]\nkind = \"ssm_parameter\"\nname = \"/ami/{rule}/{instance_id}\"\n",
    )
    .unwrap();
    let arns = resources(&policy(&config), "AmikeeperHandleParameters");
    let expected: Vec<String> = ["ami/*", "ami/web", "ami/web/i-*", "plain-name", "solution*"]
        .iter()
        .flat_map(|r| ["111122223333", "444455556666"].map(|account| format!("arn:aws:ssm:*:{account}:parameter/{r}")))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(arns, expected);
    let cn = policy_in_partition(&config, "aws-cn");
    assert!(resources(&cn, "AmikeeperHandleParameters").iter().all(|arn| arn.starts_with("arn:aws-cn:ssm:")));
}

#[test]
fn stacks_groups_and_templates_are_scoped_by_name_or_id() {
    let config = Config::from_toml(
        "accounts = [\"111122223333\"]\nallowed_name_prefixes = [\"/ami/\", \"app-\"]\n\
         [[rules]]\nname = \"web\"\n[[rules.targets]]\nkind = \"stack_parameter\"\nstack = \"{tag:Stack}\"\n\
         [[rules.targets]]\nkind = \"launch_template\"\nid = \"lt-0123456789abcdef0\"\n\
         [[rules.targets]]\nkind = \"auto_scaling_group\"\nname = \"web-asg\"\n",
    )
    .unwrap();
    let policy = policy(&config);
    // `/ami/` cannot start a stack name: only `app-`.
    assert_eq!(resources(&policy, "AmikeeperHandleStacks"), ["arn:aws:cloudformation:*:111122223333:stack/app-*/*"]);
    assert_eq!(
        resources(&policy, "AmikeeperHandleLaunchTemplates"),
        ["arn:aws:ec2:*:111122223333:launch-template/lt-0123456789abcdef0"]
    );
    assert_eq!(
        resources(&policy, "AmikeeperHandleGroups"),
        ["arn:aws:autoscaling:*:111122223333:autoScalingGroup:*:autoScalingGroupName/web-asg"]
    );
    assert_eq!(resources(&policy, "AmikeeperHandleAnyResource"), ["*"]);
    // Status finds the stacks the tag names by listing them all: DescribeStacks on `*` (said
    // why in the caveats), the only action on `*` that has a resource type.
    assert_eq!(resources(&policy, "AmikeeperStatusListing"), ["*"]);
    let statements = policy["Statement"].as_array().unwrap();
    for statement in statements.iter().filter(|s| s["Resource"] == "*") {
        for action in statement["Action"].as_array().unwrap() {
            let action = action.as_str().unwrap();
            let listing = statement["Sid"] == "AmikeeperStatusListing" && action == "cloudformation:DescribeStacks";
            assert!(UNSCOPED_ACTIONS.contains(&action) || listing, "{action} on *");
        }
    }
}

#[test]
fn copies_are_limited_to_their_regions_and_rollback_to_the_pointers() {
    let config = Config::from_toml(
        "accounts = [\"111122223333\"]\n[[rules]]\nname = \"dr\"\ncopy_to = [\"ap-northeast-3\", \"eu-west-1\"]\n\
         [[rules.targets]]\nkind = \"ssm_parameter\"\nname = \"/ami/web\"\n",
    )
    .unwrap();
    let policy = policy(&config);
    let copies = policy["Statement"].as_array().unwrap().iter().find(|s| s["Sid"] == "AmikeeperHandleCopies");
    let copies = copies.expect("a statement for the copies");
    assert_eq!(copies["Action"], json!(["ec2:CopyImage"]));
    assert_eq!(
        copies["Condition"],
        json!({ "StringEquals": { "aws:RequestedRegion": ["ap-northeast-3", "eu-west-1"] } })
    );
    let rollback: Vec<&str> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["Sid"].as_str().unwrap().starts_with("AmikeeperRollback"))
        .flat_map(|s| s["Action"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()))
        .collect();
    assert!(rollback.contains(&"ssm:PutParameter"));
    for absent in ["cloudformation:UpdateStack", "autoscaling:UpdateAutoScalingGroup", "ec2:ModifyLaunchTemplate"] {
        assert!(!rollback.contains(&absent), "{absent}: the configuration has no such pointer");
    }
}

#[test]
fn notify_puts_events_on_the_bus_and_nothing_else() {
    let without = group_target("");
    assert!(!policy(&without).to_string().contains("events:PutEvents"));
    let named = Config::from_toml(
        "accounts = [\"111122223333\", \"444455556666\"]\n[[rules]]\nname = \"web\"\n[[rules.targets]]\n\
         kind = \"ssm_parameter\"\nname = \"/ami/web\"\n[notify]\nevent_bus = \"default\"\n",
    )
    .unwrap();
    assert_eq!(
        resources(&policy(&named), "AmikeeperNotify"),
        ["arn:aws:events:*:111122223333:event-bus/default", "arn:aws:events:*:444455556666:event-bus/default"]
    );
    let statement =
        policy(&named)["Statement"].as_array().unwrap().iter().find(|s| s["Sid"] == "AmikeeperNotify").cloned();
    assert_eq!(statement.unwrap()["Action"], serde_json::json!(["events:PutEvents"]));
    assert!(resources(&policy_in_partition(&named, "aws-cn"), "AmikeeperNotify")[0].starts_with("arn:aws-cn:events:"));
    assert!(caveats(&named).iter().any(|c| c.contains("[notify] bus default")), "{:?}", caveats(&named));

    let arn = "arn:aws:events:us-east-1:999988887777:event-bus/ops";
    let mut by_arn = named.clone();
    by_arn.notify = Some(crate::config::NotifyConfig { event_bus: arn.parse().unwrap() });
    assert_eq!(resources(&policy(&by_arn), "AmikeeperNotify"), [arn]);
}
