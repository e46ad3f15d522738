//! The IAM policy `iam-policy` prints covers every call amikeeper makes, and no more than the
//! configuration needs.

use std::collections::BTreeSet;

use amikeeper::conformance::{self, MemoryFixture, ScenarioConfig};
use amikeeper::copy::CopyStatus;
use amikeeper::iam;
use amikeeper::testing::configs;
use amikeeper::{Config, SweepStatus};

const EVERYTHING: &str = configs::EVERYTHING;

#[tokio::test(start_paused = true)]
async fn the_policy_covers_every_call_the_conformance_scenarios_make() {
    let config = Config::from_toml(EVERYTHING).unwrap();
    let allowed: BTreeSet<&str> = iam::handle_actions(&config)
        .into_iter()
        .chain(iam::sweep_actions(&config))
        .chain(iam::rollback_actions(&config))
        .collect();
    let mut called = BTreeSet::new();
    for scenario in conformance::SCENARIOS {
        let fixture = MemoryFixture::new();
        (scenario.run)(&fixture).await;
        called.extend(fixture.memory().calls());
    }
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
            "ec2:GetAllowedImagesSettings",
            "ssm:GetParameter",
            "ssm:GetParameterHistory",
            "ssm:PutParameter"
        ]
    );
    let unprotected: Vec<&str> = iam::handle_actions(&config("protect_published = false")).into_iter().collect();
    assert_eq!(
        unprotected,
        [
            "ec2:DescribeImages",
            "ec2:GetAllowedImagesSettings",
            "ssm:GetParameter",
            "ssm:GetParameterHistory",
            "ssm:PutParameter"
        ]
    );
    assert!(iam::sweep_actions(&config("")).is_empty());
    let sweep = config("[retention]\n[retention.launch_templates]\nkeep_versions = 2");
    let reads: Vec<&str> = iam::sweep_actions(&sweep).into_iter().filter(|a| a.starts_with("ssm:")).collect();
    assert_eq!(reads, ["ssm:GetParameter"], "the rule's fixed-name parameter, and no path");
    let policy = iam::policy(&config(""));
    let sids: Vec<&str> = policy["Statement"].as_array().unwrap().iter().map(|s| s["Sid"].as_str().unwrap()).collect();
    assert_eq!(
        sids,
        [
            "AmikeeperHandleAnyResource",
            "AmikeeperHandleImages",
            "AmikeeperHandleParameters",
            "AmikeeperRollbackAnyResource",
            "AmikeeperRollbackImages",
            "AmikeeperRollbackParameters",
            "AmikeeperStatusAnyResource",
            "AmikeeperStatusParameters"
        ]
    );
    assert_eq!(policy["Statement"][2]["Resource"], serde_json::json!(["arn:aws:ssm:*:111122223333:parameter/ami/web"]));
    assert_eq!(policy["Version"], "2012-10-17");
}

/// Copies, consumer accounts and fleet accounts: every call lands in some account, and each
/// account's calls are within what the policy (or its caveat, for the roles) grants there.
#[tokio::test(start_paused = true)]
async fn every_account_gets_only_the_calls_its_policy_allows() {
    use std::sync::Arc;

    use amikeeper::memory::ImageSeed;
    use amikeeper::model::Tags;
    use amikeeper::retain::SweepOptions;
    use amikeeper::samples::Origin;
    use amikeeper::{HandleOptions, Keeper, MemoryAws};

    const HOME: &str = "111122223333";
    const CONSUMER_ROLE: &str = "arn:aws:iam::444455556666:role/amikeeper-reader";
    const FLEET_ROLE: &str = "arn:aws:iam::777788889999:role/amikeeper";
    const REGION: &str = "ap-northeast-1";
    let config = Config::from_toml(configs::COPIES_CONSUMERS_FLEET).unwrap();
    let home = Arc::new(MemoryAws::new(HOME));
    let consumer = Arc::new(MemoryAws::new("444455556666"));
    let fleet = Arc::new(MemoryAws::new("777788889999"));
    home.add_role(CONSUMER_ROLE, consumer.clone());
    home.add_role(FLEET_ROLE, fleet.clone());
    fleet.add_role(CONSUMER_ROLE, consumer.clone());
    let web = |aws: &MemoryAws, n: usize| -> Vec<_> {
        (0..n).map(|i| aws.add_image(REGION, ImageSeed::new(format!("web-{i}")).tag("Role", "web"))).collect()
    };
    let ours = web(&home, 3);
    web(&fleet, 3);
    consumer.launch_instance(REGION, &ours[0], Tags::new());

    let keeper = Keeper::new(config.clone(), home.clone());
    let event = Origin::new(HOME, REGION, "e1").image_state_change(ours[2].as_str(), "available");
    let reports = keeper.handle_payload(event.to_string().as_bytes(), &HandleOptions::default()).await.unwrap();
    assert_eq!(reports[0].copies[0].status, CopyStatus::Copied, "{:#?}", reports[0]);
    let swept = keeper.sweep_fleet(&SweepOptions::default().apply(true).now(home.now())).await;
    assert!(swept.iter().all(|r| r.status == SweepStatus::Ok), "{swept:#?}");
    assert!(swept.iter().any(|r| r.report.as_ref().is_some_and(|r| r.summary.images_retired > 0)), "{swept:#?}");

    let policy = iam::policy(&config);
    let statements = policy["Statement"].as_array().unwrap();
    let granted: BTreeSet<String> = statements
        .iter()
        .flat_map(|s| s["Action"].as_array().unwrap())
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    let assumable: BTreeSet<&str> = statements
        .iter()
        .filter(|s| s["Action"] == serde_json::json!(["sts:AssumeRole"]))
        .flat_map(|s| s["Resource"].as_array().unwrap())
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(assumable, BTreeSet::from([CONSUMER_ROLE, FLEET_ROLE]));
    let beyond = |aws: &MemoryAws, allowed: &dyn Fn(&str) -> bool| -> Vec<String> {
        let calls = aws.calls();
        assert!(!calls.is_empty(), "the account was used");
        calls.into_iter().filter(|call| !allowed(call)).collect::<BTreeSet<_>>().into_iter().collect()
    };
    let fleet_allowed = iam::fleet_role_actions(&config);
    let consumer_allowed = iam::consumer_role_actions();
    assert_eq!(beyond(&home, &|call| granted.contains(call)), Vec::<String>::new(), "this account");
    assert_eq!(beyond(&fleet, &|call| fleet_allowed.contains(call)), Vec::<String>::new(), "the fleet account");
    assert_eq!(beyond(&consumer, &|call| consumer_allowed.contains(call)), Vec::<String>::new(), "the consumer");
    let caveats = iam::caveats(&config).join("\n");
    assert!(caveats.contains("[[fleet]] role") && caveats.contains("consumer role"), "{caveats}");
}

/// Each seed configuration on its own: the policy printed for it allows every call its
/// scenario makes (a policy built from one configuration with every target kind would hide a
/// target kind that needs another kind's action).
#[tokio::test(start_paused = true)]
async fn each_seed_configuration_gets_a_policy_that_covers_its_scenario() {
    let mut uncovered = Vec::new();
    for scenario in conformance::SCENARIOS {
        let ScenarioConfig::Seed(text) = scenario.config else { continue };
        let config = Config::from_toml(text).unwrap();
        // These scenarios handle events and sweep; none rolls back, whose statement would
        // hide a read the handle statement lacks.
        let allowed: BTreeSet<&str> =
            iam::handle_actions(&config).into_iter().chain(iam::sweep_actions(&config)).collect();
        let fixture = MemoryFixture::new();
        (scenario.run)(&fixture).await;
        let calls: BTreeSet<String> = fixture.memory().calls().into_iter().collect();
        for call in calls.into_iter().filter(|call| !allowed.contains(call.as_str())) {
            uncovered.push(format!("{}: {call}", scenario.name));
        }
    }
    assert!(uncovered.is_empty(), "calls the configuration's own policy does not allow:\n{}", uncovered.join("\n"));
}
