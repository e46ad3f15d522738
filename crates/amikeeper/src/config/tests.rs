//! Loading and checking configurations: defaults, error places, name safety, targets.

use super::*;
use crate::model::InstanceRefreshPreferences;

/// One rule that publishes every AMI to `/ami/web`: the file of the shared test configuration
/// `testing::configs::ANY_AMI_TO_PARAMETER` (read directly: `config` is below `testing`'s layer).
const BASE: &str = include_str!("../testing/configs/any-ami-to-parameter.toml");

/// A configuration of one rule with one target: `rule` and `target` are their TOML lines.
fn one_rule(rule: &str, target: &str) -> String {
    format!("accounts = [\"111122223333\"]\n[[rules]]\n{rule}\n[[rules.targets]]\n{target}\n")
}

#[test]
fn minimal_config_loads_with_defaults() {
    let config = Config::from_toml(BASE).unwrap();
    assert_eq!(config.wait, WaitConfig::default());
    assert!(config.rules[0].kinds().contains(&EventKind::BackupJob));
    assert!(!config.rules[0].kinds().contains(&EventKind::AsgCreated));
}

#[test]
fn json_uses_the_same_schema() {
    let json = r#"{"accounts":["111122223333"],"rules":[{"name":"web",
        "targets":[{"kind":"ssm_parameter","name":"/ami/web","fixed_version":true}]}]}"#;
    let config = Config::from_json(json).unwrap();
    assert!(matches!(&config.rules[0].targets[0], TargetConfig::SsmParameter(t) if t.fixed_version));
}

fn invalid_at(text: &str) -> String {
    match Config::from_toml(text) {
        Err(ConfigError::Invalid { at, .. }) => at,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn tag_names_need_an_allow_list() {
    let text = BASE.replace("\"/ami/web\"", "\"{tag:ImageIdParameterName}\"");
    assert_eq!(invalid_at(&text), "rules[0].targets[0].name");
    let allowed = format!("allowed_name_prefixes = [\"/ami/\"]\n{text}");
    assert!(Config::from_toml(&allowed).is_ok());
}

/// A configuration with one target of `kind` whose `field` is `value`.
fn one_target(prefixes: &str, kind: &str, field: &str, value: &str) -> String {
    let rule = one_rule("name = \"web\"", &format!("kind = \"{kind}\"\n{field} = {value:?}"));
    format!("allowed_name_prefixes = [{prefixes}]\n{rule}")
}

fn load_error(text: &str) -> (String, String) {
    match Config::from_toml(text) {
        Err(ConfigError::Invalid { at, reason }) => (at, reason),
        other => panic!("expected Invalid for\n{text}\ngot {other:?}"),
    }
}

#[test]
fn unsafe_names_written_in_the_configuration_are_refused_when_it_loads() {
    let prefixes = "\"/ami/\", \"web-\"";
    let unsafe_names = [
        ("ssm_parameter", "name", "/aws/service/ami-amazon-linux-latest/x"),
        ("ssm_parameter", "name", "/AWS/x"),
        ("ssm_parameter", "name", "ssm-web"),
        ("ssm_parameter", "name", "/SSM/web"),
        ("ssm_parameter", "name", "AwsWeb"),
        ("ssm_parameter", "name", "/ami/../prod/db/password"),
        ("ssm_parameter", "name", "/ami/./web"),
        ("ssm_parameter", "name", "/ami//web"),
        ("ssm_parameter", "name", "ami/web"),
        ("ssm_parameter", "name", "/ami/web/"),
        ("ssm_parameter", "name", "/ami/web app"),
        // Templated: the written parts alone already make every name unsafe.
        ("ssm_parameter", "name", "/aws/{image_id}"),
        ("ssm_parameter", "name", "/Ssm{region}"),
        ("ssm_parameter", "name", "/ami/{region}/../prod"),
        ("ssm_parameter", "name", "/ami/{tag:Name}/.."),
        ("ssm_parameter", "name", "/ami/{instance_id}/"),
        ("ssm_parameter", "name", "ami/{instance_id}"),
        ("ssm_parameter", "name", "/ami/{instance_id}//x"),
        // A tag fills it in, but the written start is outside every allowed prefix.
        ("ssm_parameter", "name", "/prod/{tag:Where}"),
        ("stack_parameter", "stack", "prod-{tag:Stack}"),
        ("launch_template", "id_from_parameter", "/aws/{tag:X}"),
        ("launch_template", "id", "ami-{tag:X}"),
        ("launch_template", "name", "web..{region}"),
        ("launch_template", "name", "web template"),
        ("stack_parameter", "stack", "1web"),
        ("stack_parameter", "stack", "web_stack-{region}"),
        ("auto_scaling_group", "name", "arn:aws:autoscaling:{region}:x"),
    ];
    for (kind, field, value) in unsafe_names {
        let (at, reason) = load_error(&one_target(prefixes, kind, field, value));
        assert_eq!(at, format!("rules[0].targets[0].{field}"), "{value}: {reason}");
        assert!(reason.contains(value) && reason.contains(kind), "{value}: {reason}");
    }
    for (kind, field, value) in [
        ("ssm_parameter", "name", "/ami/web"),
        ("ssm_parameter", "name", "i-0123456789abcdef0"),
        ("ssm_parameter", "name", "/golden/web"), // written by the configuration: no allow-list
        ("ssm_parameter", "name", "/ami/{instance_id}"),
        ("ssm_parameter", "name", "{tag:Where}"),
        ("ssm_parameter", "name", "/a{tag:Where}"), // `/ami/...` can still follow
        ("ssm_parameter", "name", "/ami/{tag:Where}/id"),
        ("ssm_parameter", "name", "{region}/web"), // the placeholder may start with `/`
        ("ssm_parameter", "name", "/{account}/{region}/ami"),
        ("launch_template", "id", "lt-0abc"),
        ("launch_template", "id", "{launch_template_id}"),
        ("launch_template", "name", "web-{region}"),
        ("launch_template", "id_from_parameter", "/ami/{tag:LaunchTemplateParameter}"),
        ("stack_parameter", "stack", "web-{tag:Stack}"),
        ("stack_parameter", "stack", "{tag:Stack}"),
        ("auto_scaling_group", "name", "web-asg"),
    ] {
        let text = one_target(prefixes, kind, field, value);
        assert!(Config::from_toml(&text).is_ok(), "{value}: {:?}", Config::from_toml(&text).err());
    }
}

#[test]
fn accounts_are_required_and_checked() {
    assert_eq!(invalid_at(&BASE.replace("[\"111122223333\"]", "[]")), "accounts");
    assert_eq!(invalid_at(&BASE.replace("111122223333", "12345")), "accounts[0]");
}

#[test]
fn unknown_fields_and_placeholders_are_parse_errors() {
    let typo = BASE.replace("name = \"/ami/web\"", "nmae = \"/ami/web\"");
    assert!(matches!(Config::from_toml(&typo), Err(ConfigError::Parse { .. })));
    let placeholder = BASE.replace("/ami/web", "/ami/{instance}");
    let err = Config::from_toml(&placeholder).unwrap_err().to_string();
    assert!(err.contains("unknown placeholder `{instance}`"), "{err}");
}

#[test]
fn image_targets_are_refused_on_events_without_an_image() {
    let text = BASE.replace("name = \"web\"", "name = \"web\"\non = [\"asg_created\"]");
    assert_eq!(invalid_at(&text), "rules[0].targets[0]");
}

#[test]
fn launch_template_needs_exactly_one_reference() {
    let text = one_rule("name = \"lt\"", "kind = \"launch_template\"\nid = \"lt-1\"\nname = \"web\"");
    assert_eq!(invalid_at(&text), "rules[0].targets[0]");
}

#[test]
fn bake_names_use_only_values_known_before_the_image() {
    let bake = "name = \"bake\"\n[rules.bake]\ninstance_id = \"i-0123456789abcdef0\"\nname = \"{tag:Role}-{date}\"";
    let text = one_rule(bake, "kind = \"launch_template\"\nname = \"web\"");
    assert_eq!(invalid_at(&text), "rules[0].bake.name");
    assert!(Config::from_toml(&text.replace("{tag:Role}-{date}", "web-{date}-{rule}")).is_ok());
    let bad_instance = text.replace("{tag:Role}-{date}", "web-{date}").replace("i-0123456789abcdef0", "builder");
    assert_eq!(invalid_at(&bad_instance), "rules[0].bake.instance_id");
}

#[test]
fn instance_refresh_is_a_switch_or_a_table() {
    let text = one_rule("name = \"web\"", "kind = \"auto_scaling_group\"\nname = \"web-asg\"\nSETTING");
    let refresh_of = |setting: &str| {
        let config = Config::from_toml(&text.replace("SETTING", setting)).unwrap();
        config.rules[0].targets[0].instance_refresh().copied()
    };
    assert_eq!(refresh_of(""), None);
    assert_eq!(refresh_of("instance_refresh = false"), None);
    assert_eq!(refresh_of("instance_refresh = true"), Some(InstanceRefreshPreferences::default()));
    assert_eq!(
        refresh_of("instance_refresh = { min_healthy_percentage = 50, instance_warmup_seconds = 300 }"),
        Some(InstanceRefreshPreferences { min_healthy_percentage: Some(50), instance_warmup_seconds: Some(300) })
    );
    let typo = Config::from_toml(&text.replace("SETTING", "instance_refresh = { min_healthy = 50 }"));
    let message = typo.unwrap_err().to_string();
    assert!(message.contains("unknown field `min_healthy`"), "{message}");
    let word = Config::from_toml(&text.replace("SETTING", "instance_refresh = \"yes\""));
    assert!(word.unwrap_err().to_string().contains("true, false, or a table"));
    let too_many = text.replace("SETTING", "instance_refresh = { min_healthy_percentage = 101 }");
    assert_eq!(invalid_at(&too_many), "rules[0].targets[0].instance_refresh.min_healthy_percentage");
    let on_new_groups = text
        .replace("name = \"web\"", "name = \"web\"\non = [\"asg_created\"]")
        .replace("SETTING", "version = \"$Latest\"\ninstance_refresh = true");
    assert_eq!(invalid_at(&on_new_groups), "rules[0].targets[0].instance_refresh");

    let json = r#"{"accounts":["111122223333"],"rules":[{"name":"web","targets":[
        {"kind":"auto_scaling_group","name":"web-asg","instance_refresh":{"min_healthy_percentage":75}}]}]}"#;
    let config = Config::from_json(json).unwrap();
    let refresh = config.rules[0].targets[0].instance_refresh().copied();
    assert_eq!(refresh.and_then(|r| r.min_healthy_percentage), Some(75));
    let round_trip = Config::from_json(&serde_json::to_string(&config).unwrap()).unwrap();
    assert_eq!(round_trip.rules[0].targets[0].instance_refresh().copied(), refresh);
    let off = json.replace(r#"{"min_healthy_percentage":75}"#, "false");
    assert_eq!(Config::from_json(&off).unwrap().rules[0].targets[0].instance_refresh(), None);
}

#[test]
fn asg_versions_are_checked() {
    let text = one_rule(
        "name = \"asg\"\non = [\"asg_created\"]",
        "kind = \"auto_scaling_group\"\nname = \"{asg_name}\"\nversion = \"latest\"",
    );
    assert_eq!(invalid_at(&text), "rules[0].targets[0].version");
    assert!(Config::from_toml(&text.replace("\"latest\"", "\"$Latest\"")).is_ok());
}
