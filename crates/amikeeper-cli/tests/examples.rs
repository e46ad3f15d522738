//! The examples that run the `amikeeper` binary or feed it a configuration: `examples/cron`
//! (sweep.sh against moto, with this build of the binary on PATH, and its crontab line) and the
//! configuration of `examples/cloudformation`. python/tests/test_examples.py deploys the
//! CloudFormation and Step Functions examples in moto and lints their templates.
//!
//! Without moto the moto test prints `skipped: moto not installed ...` and passes, unless
//! `AMIKEEPER_REQUIRE_MOTO=1` (as `scripts/test.sh` sets).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use amikeeper::config::TargetConfig;
use amikeeper::conformance::{Fixture, ImageSpec, DR_REGION, MAIN_REGION};
use amikeeper::Config;
use amikeeper_aws::testing::{MotoFixture, MotoServer};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

mod common;

/// The directory of the `amikeeper` binary this test run built.
fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_amikeeper")).parent().unwrap().to_owned()
}

/// `bash examples/cron/sweep.sh REGIONS` with `path` first on PATH, `endpoint` (when given) as
/// AWS_ENDPOINT_URL, test credentials, and nothing else from the environment or `~/.aws`.
fn sweep_sh(path: &Path, endpoint: Option<&str>, env: &[(&str, &OsStr)], regions: &[&str]) -> Output {
    let mut command = Command::new("bash");
    command.arg(examples().join("cron/sweep.sh")).args(regions);
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("AWS_") || key.starts_with("AMIKEEPER") || key == "RUST_LOG" {
            command.env_remove(key.as_ref());
        }
    }
    let system_path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![path.to_owned()];
    paths.extend(std::env::split_paths(&system_path));
    common::test_credentials(&mut command).env("PATH", std::env::join_paths(paths).unwrap());
    if let Some(endpoint) = endpoint {
        command.env("AWS_ENDPOINT_URL", endpoint);
    }
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("bash runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The reports in `dir`, by region: `sweep-<region>-<time>.json`.
fn reports(dir: &Path) -> Vec<(String, serde_json::Value)> {
    let mut found: Vec<(String, serde_json::Value)> = std::fs::read_dir(dir)
        .map(|entries| entries.flatten().collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let region = name
                .strip_prefix("sweep-")
                .and_then(|rest| rest.rsplit_once('-'))
                .map(|(region, _)| region.to_owned())
                .unwrap_or_else(|| panic!("unexpected file {name}"));
            let text = std::fs::read_to_string(entry.path()).unwrap();
            let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name} is no JSON report ({e}): {text}"));
            (region, json)
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

/// The cron example's configuration with `account`, keeping only the newest AMI of a role and
/// no minimum age, so that a test's fresh AMIs are swept.
fn cron_config(dir: &Path, account: &str) -> PathBuf {
    let text = std::fs::read_to_string(examples().join("cron/keeper.toml")).unwrap();
    let mut changed = text.clone();
    for (from, to) in [
        ("\"111122223333\"".to_owned(), format!("\"{account}\"")),
        ("keep_newest = 3".to_owned(), "keep_newest = 1".to_owned()),
        ("min_age_days = 7".to_owned(), "min_age_days = 0".to_owned()),
    ] {
        assert!(changed.contains(&from), "examples/cron/keeper.toml no longer has {from}");
        changed = changed.replace(&from, &to);
    }
    let path = dir.join("keeper.toml");
    std::fs::write(&path, changed).unwrap();
    path
}

#[test]
fn the_example_configurations_load() {
    let cron = Config::from_file(examples().join("cron/keeper.toml")).expect("examples/cron/keeper.toml");
    let retention = cron.retention.as_ref().expect("[retention]");
    assert_eq!(retention.images.len(), 1);
    assert!(cron.rules.is_empty());

    let stack = Config::from_file(examples().join("cloudformation/keeper.toml")).expect("cloudformation/keeper.toml");
    let targets: Vec<(&str, &TargetConfig)> =
        stack.rules.iter().flat_map(|r| r.targets.iter().map(move |t| (r.name.as_str(), t))).collect();
    assert!(
        matches!(
            targets.as_slice(),
            [
                ("parameter-from-tag", TargetConfig::SsmParameter { .. }),
                ("stack-from-tag", TargetConfig::StackParameter { .. })
            ]
        ),
        "{targets:#?}"
    );
    // The policy `amikeeper iam-policy` prints for it covers both targets.
    let out = Command::new(env!("CARGO_BIN_EXE_amikeeper"))
        .args(["iam-policy", "--config"])
        .arg(examples().join("cloudformation/keeper.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let policy = String::from_utf8_lossy(&out.stdout);
    for action in ["ssm:PutParameter", "cloudformation:UpdateStack", "ec2:DescribeImages"] {
        assert!(policy.contains(action), "{action} missing from {policy}");
    }
}

#[test]
fn the_crontab_line_runs_sweep_sh_under_flock() {
    let text = std::fs::read_to_string(examples().join("cron/crontab")).unwrap();
    let jobs: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        // NAME=value lines set the jobs' environment.
        .filter(|line| !line.split_whitespace().next().is_some_and(|word| word.contains('=')))
        .collect();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let fields: Vec<&str> = jobs[0].split_whitespace().collect();
    let (schedule, command) = fields.split_at(5);
    for (field, range) in schedule.iter().zip([0..=59, 0..=23, 1..=31, 1..=12, 0..=7]) {
        let valid = *field == "*" || field.parse::<u32>().is_ok_and(|n| range.contains(&n));
        assert!(valid, "crontab field `{field}` in {:?}", jobs[0]);
    }
    assert_eq!(&command[..2], ["flock", "-n"], "{command:?}");
    assert!(command[3].ends_with("/sweep.sh"), "{command:?}");
}

#[test]
fn sweep_sh_stops_at_a_bad_configuration_and_goes_on_past_a_failed_region() {
    let dir = common::temp_dir("examples-codes");
    let out_dir = dir.join("reports");

    // A bad configuration: the real binary exits 2 before any AWS call, and so does the script.
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "accounts = [\"111122223333\"]\n[retention]\nnot_a_field = 1\n").unwrap();
    let env = [("AMIKEEPER_CONFIG", bad.as_os_str()), ("AMIKEEPER_REPORTS", out_dir.as_os_str())];
    let out = sweep_sh(&bin_dir(), None, &env, &["eu-west-1", "us-east-1"]);
    let message = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{message}");
    assert!(message.contains("eu-west-1: bad configuration") && !message.contains("us-east-1"), "{message}");
    assert!(reports(&out_dir).is_empty());

    // A region whose AWS work fails (exit 1): the next region is still swept, and the script
    // exits 1. A stand-in binary fails the one region and prints a report for the others.
    let stub = dir.join("bin");
    std::fs::create_dir_all(&stub).unwrap();
    let script = stub.join("amikeeper");
    std::fs::write(
        &script,
        "#!/bin/sh\ncase \"$*\" in *eu-west-1*) echo 'amikeeper: throttled' >&2; exit 1;; esac\n\
         echo '{\"status\": \"ok\", \"applied\": true}'\n",
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let out = sweep_sh(&stub, None, &[("AMIKEEPER_REPORTS", out_dir.as_os_str())], &["eu-west-1", "us-east-1"]);
    let message = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{message}");
    assert!(message.contains("eu-west-1: some AWS work failed"), "{message}");
    assert!(message.contains("us-east-1: swept"), "{message}");
    let written: Vec<String> = reports(&out_dir).into_iter().map(|(region, _)| region).collect();
    assert_eq!(written, ["us-east-1"], "an empty report is not kept");

    // No region at all is bad usage.
    let out = sweep_sh(&stub, None, &[], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweep_sh_sweeps_every_region_against_moto() {
    let Some(moto) = MotoServer::start() else { return };
    let fixture = MotoFixture::new(&moto).await;
    let mut images = Vec::new();
    for region in [MAIN_REGION, DR_REGION] {
        for i in 0..2 {
            images.push(fixture.image(region, ImageSpec::named(format!("cron-{i}")).tag("Role", "web")).await);
        }
    }
    let dir = common::temp_dir("examples-moto");
    let config = cron_config(&dir, &fixture.account());
    let out_dir = dir.join("reports");
    let env = [("AMIKEEPER_CONFIG", config.as_os_str()), ("AMIKEEPER_REPORTS", out_dir.as_os_str())];

    // AMIKEEPER_APPLY=0 only plans.
    let plan_only = dir.join("plan");
    let plan_env = [env[0], ("AMIKEEPER_REPORTS", plan_only.as_os_str()), ("AMIKEEPER_APPLY", OsStr::new("0"))];
    let out = sweep_sh(&bin_dir(), Some(&moto.endpoint()), &plan_env, &[MAIN_REGION]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let planned = reports(&plan_only);
    assert_eq!(planned.len(), 1);
    assert_eq!(planned[0].1["applied"], false, "{:#}", planned[0].1);
    assert_eq!(planned[0].1["summary"]["images_planned"], 1, "{:#}", planned[0].1);
    assert!(fixture.raw_image(MAIN_REGION, images[0].as_str()).await.is_some(), "a plan changes nothing");

    // The sweep: both regions, each keeping its newest AMI.
    let out = sweep_sh(&bin_dir(), Some(&moto.endpoint()), &env, &[MAIN_REGION, DR_REGION]);
    let message = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{message}");
    let done = reports(&out_dir);
    let regions: Vec<&str> = done.iter().map(|(region, _)| region.as_str()).collect();
    let mut expected = [MAIN_REGION, DR_REGION];
    expected.sort();
    assert_eq!(regions, expected, "{message}");
    for (region, report) in &done {
        assert_eq!(report["applied"], true, "{region}: {report:#}");
        assert_eq!(report["status"], "ok", "{region}: {report:#}");
        assert_eq!(report["summary"]["images_retired"], 1, "{region}: {report:#}");
    }
    let (main, dr) = images.split_at(2);
    for (region, images) in [(MAIN_REGION, main), (DR_REGION, dr)] {
        assert!(fixture.raw_image(region, images[0].as_str()).await.is_none(), "the older AMI of {region} is gone");
        assert!(fixture.raw_image(region, images[1].as_str()).await.is_some(), "the newest AMI of {region} stays");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
