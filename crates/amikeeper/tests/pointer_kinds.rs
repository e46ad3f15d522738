//! A pointer kind written outside the crate and registered with one line, driven through the
//! generic machinery: the configuration parses and checks it, the IAM policy grants what it
//! says, the sweep's in-use scan reads where it says its pointers are, the resolver builds its
//! publisher and it publishes on `MemoryAws`, and rollback asks it. This is the walkthrough of
//! the walkthrough "Adding a pointer kind" in `ARCHITECTURE.md`, kept honest (its last test
//! checks that the files, the registration and the trait items it names are the ones in the code).

use amikeeper::backend::Aws;
use amikeeper::config::{Config, ConfigError};
use amikeeper::iam::{self, Job, TargetArns};
use amikeeper::kinds::found::{find_parameters, FindContext, FoundBy, FoundPointer};
use amikeeper::kinds::ssm_parameter::SsmParameterTarget;
use amikeeper::kinds::{
    InUse, Invalid, Kinds, NameFailure, NameKind, Names, Planned, PointerKind, RollbackContext, TargetTemplate,
};
use amikeeper::memory::{ImageSeed, MemoryAws};
use amikeeper::model::Region;
use amikeeper::publish::{DescribedImages, PointerNow, PublishContext, Publisher, SsmParameterPublisher, Status};
use amikeeper::resolve::{AmiResolver, ConfigResolver, Resolution, ResolvedTarget};
use amikeeper::retain::{gather, parameter_sources, plan_sweep, Reason, Usage};
use amikeeper::rollback::{rollback, RollbackOptions};
use amikeeper::samples::Origin;
use amikeeper::template::NameTemplate;
use serde::{Deserialize, Serialize};

const ACCOUNT: &str = "111122223333";
const REGION: &str = "eu-west-1";

/// The toy kind: an SSM parameter that must live under `/golden/`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoldenParameter {
    /// The parameter name.
    pub name: NameTemplate,
}

#[async_trait::async_trait]
impl PointerKind for GoldenParameter {
    const KIND: &'static str = "golden_parameter";
    const POINTER_FORM: &'static str = "NAME";
    type Pointer = String;

    fn protect(&self) -> Option<bool> {
        Some(false)
    }

    fn templates(&self) -> Vec<TargetTemplate<'_>> {
        vec![TargetTemplate { field: "name", template: &self.name, name_kind: NameKind::Parameter }]
    }

    fn validate(&self) -> Result<(), Invalid> {
        match self.name.as_str().starts_with("/golden/") {
            true => Ok(()),
            false => Err(Invalid::field("name", "a golden parameter lives under /golden/")),
        }
    }

    fn publisher(&self, names: &Names<'_>) -> Result<Box<dyn Publisher>, NameFailure> {
        Ok(Box::new(SsmParameterPublisher::new(names.render(&self.name, NameKind::Parameter)?)))
    }

    fn in_use(&self, _rule: &str, _region: &Region) -> Vec<InUse> {
        match self.name.render(|_| None) {
            Ok(name) => vec![InUse::Parameter(name)],
            Err(_) => vec![InUse::ParameterPath("/golden/".into())],
        }
    }

    fn handle_actions(&self) -> Vec<&'static str> {
        vec!["ssm:GetParameter", "ssm:PutParameter", "ssm:GetParameterHistory"]
    }

    fn rollback_actions() -> &'static [&'static str] {
        &["ssm:GetParameter", "ssm:PutParameter"]
    }

    fn iam_resources(&self, _job: Job, action: &str, arns: &TargetArns<'_>) -> Option<Vec<String>> {
        let touched = matches!(action, "ssm:GetParameter" | "ssm:PutParameter" | "ssm:GetParameterHistory");
        touched.then(|| arns.parameters(&self.name))
    }

    fn parse_pointer(name: &str) -> Option<String> {
        name.starts_with("/golden/").then(|| name.to_owned())
    }

    fn pointer_name(pointer: &String) -> String {
        pointer.clone()
    }

    async fn read_pointer(aws: &dyn Aws, region: &Region, name: &String) -> amikeeper::Result<PointerNow> {
        let found = aws.get_parameter(region, name).await?;
        Ok(PointerNow::from_value(found.as_ref().map(|p| p.value.as_str())))
    }

    async fn find_pointers(&self, ctx: &FindContext<'_>) -> amikeeper::Result<Vec<FoundPointer>> {
        let found = find_parameters(ctx, &self.name).await?;
        Ok(found.into_iter().map(|(parameter, by)| FoundPointer::parameter(parameter, by)).collect())
    }

    async fn plan_rollback(name: &String, _ctx: &RollbackContext<'_, Self>) -> amikeeper::Result<Planned> {
        Ok(Err(format!("{name} is rolled back by hand")))
    }
}

amikeeper::pointer_kinds! {
    /// The built-in SSM parameter kind, and the toy.
    pub enum Targets;
    /// Their rollback pointers.
    pub enum Pointers;
    SsmParameter(SsmParameterTarget),
    GoldenParameter(GoldenParameter),
}

/// Every `web-` AMI to the toy's `/golden/web` and to the SSM parameter `/ami/web`.
const CONFIG: &str = amikeeper::testing::configs::GOLDEN_AND_SSM_PARAMETER;

fn config() -> Config<Targets> {
    Config::parse_toml(CONFIG).unwrap()
}

#[test]
fn the_configuration_parses_and_checks_the_new_kind() {
    let config = config();
    let kinds: Vec<&str> = config.rules[0].targets.iter().map(|t| t.target().kind()).collect();
    assert_eq!(kinds, ["golden_parameter", "ssm_parameter"]);
    // The kind's name as the configuration spells it is its KIND.
    let written = serde_json::to_value(&config.rules[0].targets[0]).unwrap();
    assert_eq!(written["kind"], GoldenParameter::KIND);

    let typo = CONFIG.replace("name = \"/golden/web\"", "nmae = \"/golden/web\"");
    let error = Config::<Targets>::parse_toml(&typo).unwrap_err();
    assert!(
        matches!(&error, ConfigError::Parse { message, .. } if message.contains("unknown field `nmae`")),
        "{error}"
    );

    let invalid = |text: &str| match Config::<Targets>::parse_toml(text) {
        Err(ConfigError::Invalid { at, reason }) => (at, reason),
        other => panic!("expected Invalid, got {other:?}"),
    };
    // The kind's own check.
    let (at, reason) = invalid(&CONFIG.replace("/golden/web", "/other/web"));
    assert_eq!((at.as_str(), reason.as_str()), ("rules[0].targets[0].name", "a golden parameter lives under /golden/"));
    // The checks every kind's templates get, by the NameKind it gives.
    let (at, reason) = invalid(&CONFIG.replace("/golden/web", "/golden/../web"));
    assert_eq!(at, "rules[0].targets[0].name");
    assert!(reason.contains("not a safe golden_parameter name"), "{reason}");
}

#[test]
fn the_iam_policy_grants_what_the_kind_says() {
    let policy = iam::policy(&config());
    let statement = |sid: &str| {
        let found = policy["Statement"].as_array().unwrap().iter().find(|s| s["Sid"] == sid).cloned();
        found.unwrap_or_else(|| panic!("no {sid}: {policy:#}"))
    };
    let handle = statement("AmikeeperHandleParameters");
    let arn = format!("arn:aws:ssm:*:{ACCOUNT}:parameter/golden/web");
    assert!(handle["Resource"].as_array().unwrap().iter().any(|r| r == arn.as_str()), "{handle:#}");
    assert!(handle["Action"].as_array().unwrap().iter().any(|a| a == "ssm:GetParameterHistory"));
    let rollback = statement("AmikeeperRollbackParameters");
    assert!(rollback["Resource"].as_array().unwrap().iter().any(|r| r == arn.as_str()), "{rollback:#}");
}

#[tokio::test]
async fn the_sweep_reads_where_the_kind_says_its_pointers_are() {
    let config = config();
    let region = Region::from(REGION);
    let (names, _, _) = parameter_sources(&config, &region);
    assert!(names.contains(&"/golden/web".to_owned()), "{names:?}");

    let aws = MemoryAws::new(ACCOUNT);
    let old = aws.add_image(REGION, ImageSeed::new("web-0"));
    let new = aws.add_image(REGION, ImageSeed::new("web-1"));
    aws.set_parameter(REGION, "/golden/web", old.as_str()).unwrap();
    let gathered = gather(&aws, &config, &region, 2).await.unwrap();
    let plan = plan_sweep(&config, &gathered, &region, time::OffsetDateTime::now_utc());
    let decision = plan.images.iter().find(|d| d.image_id == old).expect("the old image is judged");
    let named = Usage::SsmParameter { name: "/golden/web".into() };
    assert!(matches!(&decision.reason, Reason::InUse(usages) if usages.contains(&named)), "{:?}", decision.reason);
    assert!(plan.images.iter().any(|d| d.image_id == new));
}

#[tokio::test]
async fn the_resolver_builds_its_publisher_and_it_publishes() {
    let aws = MemoryAws::new(ACCOUNT);
    let old = aws.add_image(REGION, ImageSeed::new("web-0"));
    let new = aws.add_image(REGION, ImageSeed::new("web-1"));
    aws.set_parameter(REGION, "/golden/web", old.as_str()).unwrap();
    let payload = Origin::new(ACCOUNT, REGION, "e-1").image_state_change(new.as_str(), "available");
    let events = amikeeper::parse_payload(&serde_json::to_vec(&payload).unwrap()).unwrap();
    let resolver = ConfigResolver::new(config());
    let Resolution::Publish { image: Some(image), rules } = resolver.resolve(&aws, &events[0]).await.unwrap() else {
        panic!("the event publishes")
    };
    let region = Region::from(REGION);
    let described = DescribedImages::default();
    let ctx = PublishContext {
        aws: &aws,
        region: &region,
        image: Some(&image),
        dry_run: false,
        event_id: "e-1",
        described: &described,
    };
    let ResolvedTarget::Ready(golden) = &rules[0].targets[0] else { panic!("the golden target resolves") };
    let outcome = golden.publish(&ctx).await.unwrap();
    assert_eq!(outcome.status, Status::Updated, "{outcome:?}");
    assert_eq!(aws.parameter(REGION, "/golden/web").unwrap().value, new.as_str());

    // Where it points now, and a rollback the kind refuses: nothing is written.
    let pointer: Pointers = "golden_parameter:/golden/web".parse().unwrap();
    assert_eq!(Targets::read_pointer(&aws, &region, &pointer).await.unwrap(), PointerNow::Image(new.clone()));
    // What status finds of it.
    let ctx = FindContext { aws: &aws, region: &region, rule: "web", account: None, allowed_prefixes: &[] };
    let golden =
        resolver.config().rules.iter().flat_map(|r| &r.targets).find(|t| t.target().kind() == "golden_parameter");
    let found = golden.unwrap().target().find_pointers(&ctx).await.unwrap();
    assert_eq!((found.len(), found[0].found_by, found[0].image_id.as_ref()), (1, FoundBy::Configured, Some(&new)));
    let report = rollback(&aws, &resolver.config().clone(), &region, &[pointer], &RollbackOptions::default()).await;
    let report = serde_json::to_value(&report).unwrap();
    assert_eq!(report["status"], "refused", "{report:#}");
    assert_eq!(report["targets"][0]["reason"], "/golden/web is rolled back by hand");
    let bad = "golden_parameter:/ami/web".parse::<Pointers>().unwrap_err().to_string();
    assert!(bad.ends_with("use ssm_parameter:NAME or golden_parameter:NAME"), "{bad}");
}

/// The section "Adding a pointer kind" of `ARCHITECTURE.md`.
fn walkthrough() -> String {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../ARCHITECTURE.md")).unwrap();
    let section =
        text.split("\n## Adding a pointer kind\n").nth(1).expect("ARCHITECTURE.md has \"## Adding a pointer kind\"");
    section.split("\n## ").next().unwrap().to_owned()
}

/// The walkthrough names files that exist, shows the registration as `pointer_kinds!` is
/// written, and every trait item its table names is one of `PointerKind`'s, `in_use` without
/// a default.
#[test]
fn the_adding_a_pointer_kind_walkthrough_is_true() {
    let doc = walkthrough();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let quoted: Vec<&str> = doc.split('`').skip(1).step_by(2).collect();
    let paths: Vec<&str> =
        quoted.iter().copied().filter(|q| q.starts_with("crates/") || q.starts_with("scripts/")).collect();
    assert!(paths.len() >= 8, "{paths:?}");
    for path in paths {
        // `<kind>.rs`: the folder it goes in exists.
        let path = if path.contains('<') { path.rsplit_once('/').unwrap().0 } else { path };
        assert!(std::path::Path::new(&format!("{root}/{path}")).exists(), "{path} does not exist");
    }

    let kinds = std::fs::read_to_string(format!("{root}/crates/amikeeper/src/kinds/mod.rs")).unwrap();
    let registration = kinds.split("\npointer_kinds! {\n").nth(1).expect("kinds/mod.rs calls pointer_kinds!");
    let registration: Vec<&str> = registration.split("\n}").next().unwrap().lines().map(str::trim).collect();
    let shown = doc.split("```rust\n").nth(1).and_then(|rest| rest.split("```").next()).expect("a rust block");
    for line in shown.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("//") && !l.contains("MyKind"))
    {
        if line == "pointer_kinds! {" || line == "}" {
            continue;
        }
        assert!(registration.contains(&line), "not in kinds/mod.rs's pointer_kinds!: {line}");
    }

    let table: Vec<&str> = doc.lines().filter(|l| l.starts_with("| `")).collect();
    assert!(table.len() >= 8, "{table:?}");
    let trait_body = kinds.split("pub trait PointerKind").nth(1).unwrap().split("\n}\n").next().unwrap();
    for row in table {
        let items = row.split(" | ").next().unwrap();
        for item in items.split('`').skip(1).step_by(2) {
            let declared = [format!("fn {item}("), format!("const {item}:")];
            assert!(declared.iter().any(|d| trait_body.contains(d.as_str())), "PointerKind has no `{item}`");
        }
    }
    assert!(
        trait_body.contains("fn in_use(&self, rule: &str, region: &Region) -> Vec<InUse>;"),
        "in_use must stay required (no default body)"
    );
}
