//! `amikeeper bake` as a user runs it: bad input exits 2 before any AWS call; against
//! `moto_server` on loopback a dry run writes nothing, a bake publishes and refreshes the group
//! and exits 0, and a bake whose `CreateImage` fails exits 1.
//!
//! Without moto installed the moto tests print `skipped: moto not installed ...` and pass,
//! unless `AMIKEEPER_REQUIRE_MOTO=1` (as `scripts/test.sh` sets). The instance refresh needs
//! `scripts/moto-server` (`AMIKEEPER_MOTO_SERVER=$PWD/scripts/moto-server`).

use std::ffi::OsStr;
use std::path::Path;
use std::process::Output;

use amikeeper::conformance::{Fixture, ImageSpec, MAIN_REGION};
use amikeeper::model::LaunchTemplateSpec;
use amikeeper::testing::{configs, fill};
use amikeeper_aws::testing::{MotoFixture, MotoServer};
use common::{amikeeper_at, json, temp_dir};
use serde_json::Value;

mod common;

/// `amikeeper bake --config CONFIG --rule RULE EXTRA...`.
fn bake(endpoint: &str, config: &Path, rule: &str, extra: &[&str]) -> Output {
    let mut args: Vec<&OsStr> = vec!["bake".as_ref(), "--config".as_ref(), config.as_os_str(), "--rule".as_ref()];
    args.push(rule.as_ref());
    args.extend(extra.iter().map(OsStr::new));
    amikeeper_at(endpoint, &args)
}

/// Each target as `kind name: status`.
fn outcomes(report: &Value) -> Vec<String> {
    report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            format!(
                "{} {}: {}",
                t["kind"].as_str().unwrap(),
                t["name"].as_str().unwrap(),
                t["status"].as_str().unwrap()
            )
        })
        .collect()
}

fn config(account: &str, builder: &str) -> String {
    fill(configs::CLI_NIGHTLY_BAKE, &[("account", account), ("builder", builder)])
}

#[test]
fn bad_rules_and_configurations_exit_2_without_calling_aws() {
    // Nothing listens there: a call would fail with exit 1, not 2.
    let endpoint = common::OFFLINE_ENDPOINT;
    let dir = temp_dir("bake");
    let path = dir.join("bake.toml");
    std::fs::write(&path, config("111122223333", "i-0b0b0b0b0b0b0b0b0")).unwrap();

    let unknown = bake(endpoint, &path, "nightly", &[]);
    assert_eq!(unknown.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(stderr.contains("no rule is named `nightly`; the rules with `bake` are: nightly-bake"), "{stderr}");
    assert!(unknown.stdout.is_empty());

    let no_bake = bake(endpoint, &path, "backups", &["--dry-run"]);
    assert_eq!(no_bake.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&no_bake.stderr);
    assert!(stderr.contains("rule `backups` has no `bake`"), "{stderr}");

    let stranger = bake(endpoint, &path, "nightly-bake", &["--account", "999999999999"]);
    assert_eq!(stranger.status.code(), Some(2), "{}", String::from_utf8_lossy(&stranger.stderr));

    let broken = dir.join("broken.toml");
    std::fs::write(&broken, "accounts = []\n").unwrap();
    assert_eq!(bake(endpoint, &broken, "nightly-bake", &[]).status.code(), Some(2));

    let missing_rule = amikeeper_at(endpoint, &["bake".as_ref(), "--config".as_ref(), path.as_os_str()]);
    assert_eq!(missing_rule.status.code(), Some(2), "clap: --rule is required");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bake_plans_then_publishes_and_refreshes_the_group() {
    let Some(moto) = MotoServer::start() else { return };
    let endpoint = moto.endpoint();
    let fixture = MotoFixture::new(&moto).await;
    let builder = fixture.instance(MAIN_REGION).await;
    let base = fixture.image(MAIN_REGION, ImageSpec::named("cli-bake-base")).await;
    let template = fixture.launch_template(MAIN_REGION, "cli-bake-web", &base).await;
    let pinned = LaunchTemplateSpec { id: template.clone(), version: "1".into() };
    fixture.auto_scaling_group(MAIN_REGION, "cli-bake-asg", pinned.clone()).await;
    fixture.set_parameter(MAIN_REGION, "/ami/cli-bake", base.as_str()).await;
    let dir = temp_dir("bake");
    let path = dir.join("bake.toml");
    std::fs::write(&path, config(&fixture.account(), &builder)).unwrap();

    // A dry run says what it would do and writes nothing.
    let planned = json(&bake(&endpoint, &path, "nightly-bake", &["--dry-run"]), 0);
    assert_eq!(planned["dry_run"], true, "{planned:#}");
    assert_eq!(planned["status"], "ok", "{planned:#}");
    assert_eq!(
        outcomes(&planned),
        [format!("bake {builder}: planned"), "instance_refresh cli-bake-asg: planned".to_owned()],
        "{planned:#}"
    );
    assert_eq!(planned["aws_calls"], 0, "{planned:#}");
    assert_eq!(fixture.template_state(MAIN_REGION, &template).await.latest_version, 1);
    assert_eq!(fixture.group_template(MAIN_REGION, "cli-bake-asg").await, Some(pinned));

    // The bake: moto's AMIs are available at once, so every target moves in this run.
    let done = json(&bake(&endpoint, &path, "nightly-bake", &["--wait", "30"]), 0);
    assert_eq!(done["status"], "ok", "{done:#}");
    assert_eq!(done["event"]["kind"], "scheduled", "{done:#}");
    assert_eq!(
        outcomes(&done),
        [
            format!("bake {builder}: updated"),
            "launch_template cli-bake-web: updated".to_owned(),
            "auto_scaling_group cli-bake-asg: updated".to_owned(),
            "ssm_parameter /ami/cli-bake: updated".to_owned(),
            "instance_refresh cli-bake-asg: updated".to_owned(),
        ],
        "{done:#}"
    );
    let baked = done["targets"][0]["to"].as_str().unwrap().to_owned();
    assert_eq!(done["image"]["id"], baked.as_str(), "{done:#}");
    assert_eq!(done["aws_calls_by_operation"]["autoscaling:StartInstanceRefresh"], 1, "{done:#}");
    assert_eq!(fixture.parameter(MAIN_REGION, "/ami/cli-bake").await.map(|(value, _)| value), Some(baked.clone()));
    let group = fixture.group_template(MAIN_REGION, "cli-bake-asg").await;
    assert_eq!(group.map(|spec| spec.version), Some("2".to_owned()));
    let refreshes = fixture
        .autoscaling(MAIN_REGION)
        .describe_instance_refreshes()
        .auto_scaling_group_name("cli-bake-asg")
        .send()
        .await
        .expect("DescribeInstanceRefreshes");
    let ids: Vec<Option<&str>> = refreshes.instance_refreshes().iter().map(|r| r.instance_refresh_id()).collect();
    assert_eq!(ids, [done["targets"][4]["to"].as_str()], "{refreshes:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bake_whose_create_image_fails_exits_1() {
    let Some(moto) = MotoServer::start() else { return };
    let fixture = MotoFixture::new(&moto).await;
    let dir = temp_dir("bake");
    let path = dir.join("bake.toml");
    // No such instance in moto: CreateImage fails.
    std::fs::write(&path, config(&fixture.account(), "i-0123456789abcdef0")).unwrap();

    let failed = json(&bake(&moto.endpoint(), &path, "nightly-bake", &[]), 1);
    assert_eq!(failed["status"], "failed", "{failed:#}");
    assert_eq!(outcomes(&failed), ["bake i-0123456789abcdef0: failed"], "{failed:#}");
    assert_eq!(failed["targets"][0]["error"]["operation"], "CreateImage", "{failed:#}");
    let _ = std::fs::remove_dir_all(&dir);
}
