//! The `amikeeper` binary as a user runs it: output, exit codes, stdin.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use amikeeper::samples::Origin;

fn amikeeper(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_amikeeper"))
        .args(args)
        // No AWS is reachable: make sure nothing tries.
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
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
    let dir = std::env::temp_dir().join(format!("amikeeper-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

const CONFIG: &str = r#"
accounts = ["111122223333"]
[[rules]]
name = "web"
[[rules.targets]]
kind = "ssm_parameter"
name = "/ami/web"
"#;

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
    let mut child = Command::new(env!("CARGO_BIN_EXE_amikeeper"));
    child.args(["sweep", "--config", config.to_str().unwrap()]);
    for key in ["AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"] {
        child.env_remove(key);
    }
    let out = child
        .env("AWS_CONFIG_FILE", "/nonexistent/amikeeper-test/config")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
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
    let handle = &policy["Statement"][0];
    assert_eq!(handle["Sid"], "AmikeeperHandle");
    assert!(handle["Action"].as_array().unwrap().iter().any(|a| a == "ssm:PutParameter"), "{policy:#}");
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
