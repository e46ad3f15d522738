//! The `amikeeper` binary as a user runs it: output, exit codes, stdin.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Output, Stdio};

use amikeeper::samples::{sqs_batch, Origin};
use amikeeper::testing::configs;

mod common;

/// The binary with `args` and `stdin`, no AWS reachable: make sure nothing tries.
fn amikeeper(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = common::offline()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn temp_file(name: &str, text: &str) -> PathBuf {
    let path = common::temp_dir("cli").join(name);
    std::fs::write(&path, text).unwrap();
    path
}

const CONFIG: &str = configs::ANY_AMI_TO_PARAMETER;

#[test]
fn parse_prints_the_normalised_event_from_stdin() {
    let event = Origin::new("111122223333", "ap-northeast-1", "e1").backup_job(
        "ami-0123456789abcdef0",
        "i-0123456789abcdef0",
        "COMPLETED",
    );
    let out = amikeeper(&["parse", "-"], Some(&event.to_string()));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let json = &json[0];
    assert_eq!(json["kind"], "backup_job");
    assert_eq!(json["image_id"], "ami-0123456789abcdef0");
    assert_eq!(json["instance_id"], "i-0123456789abcdef0");
    assert_eq!(json["region"], "ap-northeast-1");
}

#[test]
fn parse_of_an_unsupported_event_exits_2_with_the_reason() {
    let out = amikeeper(&["parse", "-"], Some(r#"{"source":"aws.s3","detail-type":"Object Created"}"#));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("aws.s3") || stderr.contains("Object Created"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn handle_with_a_bad_configuration_exits_2_before_any_aws_call() {
    let config = temp_file("bad.toml", "accounts = []\nrules = []\n");
    let event = temp_file("event.json", "{}");
    let out = amikeeper(&["handle", "--config", config.to_str().unwrap(), event.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("accounts"));
}

#[test]
fn sweep_without_retention_or_region_exits_2_before_any_aws_call() {
    let config = temp_file("no-retention.toml", CONFIG);
    let out = amikeeper(&["sweep", "--config", config.to_str().unwrap(), "--region", "eu-west-1"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("[retention]"));

    let retention = "accounts = [\"111122223333\"]\n[retention]\n[retention.launch_templates]\nkeep_versions = 3\n";
    let config = temp_file("retention.toml", retention);
    // No --region, and none from the environment or `~/.aws` (the binary runs isolated).
    let out = amikeeper(&["sweep", "--config", config.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no region"));
}

#[test]
fn iam_policy_prints_a_policy_document_and_its_caveats() {
    let config = temp_file("iam.toml", CONFIG);
    let out = amikeeper(&["iam-policy", "--config", config.to_str().unwrap()], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let policy: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(policy["Version"], "2012-10-17");
    // The handle job's parameter writes, scoped to parameter ARNs (not `*`).
    let statements = policy["Statement"].as_array().unwrap();
    let put = statements
        .iter()
        .find(|s| s["Action"].as_array().unwrap().iter().any(|a| a == "ssm:PutParameter"))
        .unwrap_or_else(|| panic!("no PutParameter: {policy:#}"));
    assert!(put["Sid"].as_str().unwrap().starts_with("AmikeeperHandle"), "{policy:#}");
    let resources = put["Resource"].as_array().unwrap_or_else(|| panic!("scoped: {put:#}"));
    assert!(resources.iter().all(|r| r.as_str().unwrap().contains(":parameter/")), "{put:#}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("kms:Decrypt"));
}

#[test]
fn handle_with_a_malformed_event_exits_2() {
    let config = temp_file("good.toml", CONFIG);
    let out = amikeeper(&["handle", "--config", config.to_str().unwrap(), "-"], Some("not json"));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("JSON"));
}

#[test]
fn a_missing_event_file_exits_2() {
    let out = amikeeper(&["parse", "/nonexistent/event.json"], None);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn demo_runs_every_seed_flow() {
    let out = amikeeper(&["demo"], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for seed in ["Seed 000", "Seed 001", "Seed 002", "Seed 003", "Retention", "every check held"] {
        assert!(stdout.contains(seed), "missing {seed} in:\n{stdout}");
    }
}

/// Whitespace-insensitive text, for comparing help text that clap may wrap.
fn words(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The README's exit-code table: `(code, meaning)` per row.
fn readme_exit_codes() -> Vec<(String, String)> {
    let readme = include_str!("../../../README.md");
    let start = readme.find("<!-- exit-codes").expect("the README's exit-code table");
    readme[start..]
        .lines()
        .skip(3)
        .take_while(|line| line.starts_with('|'))
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            (cells[0].to_owned(), cells[1].to_owned())
        })
        .collect()
}

/// The subcommands `amikeeper --help` lists (without `help`).
fn subcommands() -> Vec<String> {
    let out = amikeeper(&["--help"], None);
    let help = String::from_utf8_lossy(&out.stdout).into_owned();
    let listed = help.split("Commands:").nth(1).expect("a Commands: section");
    listed
        .lines()
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        // A command's line is indented by two spaces; a wrapped description, by more.
        .filter(|line| line.starts_with("  ") && !line.starts_with("   "))
        .filter_map(|line| line.split_whitespace().next().map(str::to_owned))
        .filter(|name| name != "help")
        .collect()
}

#[test]
fn every_command_s_help_shows_the_readme_s_exit_code_table() {
    let rows = readme_exit_codes();
    let codes: Vec<&str> = rows.iter().map(|(code, _)| code.as_str()).collect();
    assert_eq!(codes, ["0", "1", "2", "3", "mixed"]);
    let commands = subcommands();
    for command in ["parse", "handle", "sweep", "rollback", "bake", "iam-policy", "status", "demo"] {
        assert!(commands.iter().any(|c| c == command), "{command} missing from {commands:?}");
    }
    let mut helps = vec![vec!["--help".to_owned()]];
    helps.extend(commands.iter().map(|command| vec![command.clone(), "--help".to_owned()]));
    for args in helps {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = amikeeper(&args, None);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        let help = words(&String::from_utf8_lossy(&out.stdout));
        for (code, meaning) in &rows {
            let row = if code == "mixed" { words(meaning) } else { words(&format!("{code} {meaning}")) };
            assert!(help.contains(&row), "`amikeeper {}` lacks the row\n{row}\nin\n{help}", args.join(" "));
        }
    }
}

#[test]
fn bad_arguments_exit_2() {
    let config = temp_file("args.toml", CONFIG);
    let config = config.to_str().unwrap();
    for args in [
        vec!["frobnicate"],
        vec!["handle", "-"],
        vec!["rollback", "--config", config, "bogus:x", "--region", "eu-west-1"],
        vec!["rollback", "--config", config, "ssm_parameter:/ami/web", "--to", "web", "--region", "eu-west-1"],
        vec!["sweep", "--config", config, "--apply", "--bogus"],
        vec!["status", "--config", config, "--region", "nowhere"],
        vec!["status", "--config", config, "--region", "eu-west-1", "--format", "xml"],
    ] {
        let out = amikeeper(&args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn a_configuration_whose_own_target_names_are_unsafe_exits_2_at_load_for_every_command() {
    let event = Origin::new("111122223333", "eu-west-1", "unsafe").backup_job(
        "ami-0123456789abcdef0",
        "i-0123456789abcdef0",
        "COMPLETED",
    );
    let event = temp_file("unsafe-event.json", &event.to_string());
    let event = event.to_str().unwrap();
    let unsafe_names = [
        ("", "ssm_parameter", "name", "/aws/service/ami-amazon-linux-latest/x"),
        ("", "ssm_parameter", "name", "/SSM/web"),
        ("", "ssm_parameter", "name", "/ami/../prod/db/password"),
        ("", "ssm_parameter", "name", "/aws/{image_id}"),
        ("allowed_name_prefixes = [\"/ami/\"]", "ssm_parameter", "name", "/prod/{tag:Where}"),
        ("", "stack_parameter", "stack", "web_stack"),
        ("", "launch_template", "name", "web..template"),
    ];
    for (i, (prefixes, kind, field, name)) in unsafe_names.into_iter().enumerate() {
        let text = format!(
            "accounts = [\"111122223333\"]\n{prefixes}\n[[rules]]\nname = \"web\"\n\
             [[rules.targets]]\nkind = \"{kind}\"\n{field} = \"{name}\"\n"
        );
        let config = temp_file(&format!("unsafe-{i}.toml"), &text);
        let config = config.to_str().unwrap();
        for args in [
            vec!["handle", "--config", config, event],
            vec!["handle", "--config", config, "--dry-run", event],
            vec!["sweep", "--config", config, "--region", "eu-west-1"],
            vec!["rollback", "--config", config, "ssm_parameter:/ami/web", "--region", "eu-west-1"],
            vec!["bake", "--config", config, "--rule", "web", "--region", "eu-west-1"],
            vec!["iam-policy", "--config", config],
        ] {
            let out = amikeeper(&args, None);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{name} with {args:?}: {stderr}");
            assert!(out.stdout.is_empty(), "{name} with {args:?}");
            let at = format!("rules[0].targets[0].{field}");
            assert!(stderr.contains(&at) && stderr.contains(name), "{name} with {args:?}: {stderr}");
        }
    }
}

#[test]
fn parse_prints_an_array_however_many_records_the_payload_has() {
    let origin = Origin::new("111122223333", "ap-northeast-1", "shape");
    let events: Vec<serde_json::Value> = (1..=3)
        .map(|i| origin.backup_job(&format!("ami-0123456789abcdef{i}"), "i-0123456789abcdef0", "COMPLETED"))
        .collect();
    let printed = |payload: &serde_json::Value| {
        let out = amikeeper(&["parse", "-"], Some(&payload.to_string()));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        json.as_array().unwrap_or_else(|| panic!("not an array: {json:#}")).clone()
    };
    let direct = printed(&events[0]);
    let one = printed(&sqs_batch(&events[..1]));
    let three = printed(&sqs_batch(&events));
    assert_eq!((direct.len(), one.len(), three.len()), (1, 1, 3));
    assert_eq!(direct, one);
    assert_eq!(three[0], one[0]);
    assert_eq!(three[2]["image_id"], "ami-0123456789abcdef3");
}

/// `amikeeper handle` of `payload` with CONFIG, AWS unreachable (any call fails at once).
fn handle_offline(name: &str, payload: &serde_json::Value) -> (Option<i32>, Vec<serde_json::Value>) {
    let config = temp_file(&format!("{name}.toml"), CONFIG);
    let out = amikeeper(&["handle", "--config", config.to_str().unwrap(), "-"], Some(&payload.to_string()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let json: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("no JSON ({e}); stderr:\n{stderr}"));
    let reports = json.as_array().unwrap_or_else(|| panic!("not an array: {json:#}")).clone();
    (out.status.code(), reports)
}

#[test]
fn handle_exits_by_the_worst_run_of_the_payload() {
    let home = Origin::new("111122223333", "eu-west-1", "home");
    let stranger = Origin::new("444455556666", "eu-west-1", "stranger");
    let image = "ami-0123456789abcdef0";
    let instance = "i-0123456789abcdef0";
    // Ignored (the job is still running): nothing to do, no AWS call.
    let ignored = home.backup_job(image, instance, "RUNNING");
    // Refused: another account, no AWS call.
    let refused = stranger.backup_job(image, instance, "COMPLETED");
    // Failed: the AMI must be described, and AWS is unreachable.
    let failed = home.backup_job(image, instance, "COMPLETED");

    let (code, reports) = handle_offline("ignored", &ignored);
    assert_eq!((code, reports.len()), (Some(0), 1), "{reports:#?}");
    assert_eq!(reports[0]["status"], "ignored", "{reports:#?}");
    assert_eq!(reports[0]["aws_calls"], 0, "{reports:#?}");

    let (code, reports) = handle_offline("refused", &refused);
    assert_eq!((code, reports.len()), (Some(2), 1), "{reports:#?}");
    assert_eq!(reports[0]["status"], "refused", "{reports:#?}");
    assert_eq!(reports[0]["aws_calls"], 0, "{reports:#?}");
    assert!(reports[0]["reason"].as_str().unwrap().contains("444455556666"), "{reports:#?}");

    let (code, reports) = handle_offline("failed", &failed);
    assert_eq!(code, Some(1), "{reports:#?}");
    assert_eq!(reports[0]["status"], "failed", "{reports:#?}");

    // A batch: the same shape as one event, and the worst run decides (1 over 2 over 0).
    let (code, reports) = handle_offline("one-record", &sqs_batch(std::slice::from_ref(&refused)));
    assert_eq!((code, reports.len()), (Some(2), 1), "{reports:#?}");
    let (code, reports) = handle_offline("ignored-refused", &sqs_batch(&[ignored.clone(), refused.clone()]));
    assert_eq!(code, Some(2), "{reports:#?}");
    let statuses: Vec<&str> = reports.iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["ignored", "refused"]);
    let (code, reports) = handle_offline("all", &sqs_batch(&[ignored, refused, failed]));
    assert_eq!(code, Some(1), "{reports:#?}");
    let statuses: Vec<&str> = reports.iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["ignored", "refused", "failed"]);
}

#[test]
fn sweep_and_rollback_exit_1_when_aws_cannot_be_read() {
    let retention = "accounts = [\"111122223333\"]\n[retention]\n[retention.launch_templates]\nkeep_versions = 3\n";
    let config = temp_file("offline-sweep.toml", retention);
    let out = amikeeper(&["sweep", "--config", config.to_str().unwrap(), "--region", "eu-west-1"], None);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));

    let fleet = format!(
        "{retention}[[fleet]]\nrole_arn = \"arn:aws:iam::444455556666:role/amikeeper\"\nregions = [\"eu-west-1\"]\n"
    );
    let config = temp_file("offline-fleet.toml", &fleet);
    let out = amikeeper(&["sweep", "--config", config.to_str().unwrap(), "--fleet"], None);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let reports: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reports[0]["status"], "failed", "{reports:#}");

    // Nothing could be worked out, so nothing was written; but AWS failed: 1, not 2.
    let config = temp_file("offline-rollback.toml", CONFIG);
    let out = amikeeper(
        &["rollback", "--config", config.to_str().unwrap(), "ssm_parameter:/ami/web", "--region", "eu-west-1"],
        None,
    );
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["status"], "failed", "{report:#}");
    assert!(report["reason"].as_str().unwrap().contains("nothing was written"), "{report:#}");
}
