//! `amikeeper status` as a user runs it, against `moto_server` on loopback: two regions of one
//! account and a second account reached through a role (as the fleet tests do), every pointer
//! published by amikeeper itself. Right, it exits 0; with a dangling pointer (in the other
//! account), a `copy_to` pointer that lags and a pointer whose AMI lost its protection planted,
//! it exits 3 and reports each.
//!
//! Without moto installed the test prints `skipped: moto not installed ...` and passes, unless
//! `AMIKEEPER_REQUIRE_MOTO=1` (as `scripts/test.sh` sets). Install with `scripts/setup-python.sh`.

use std::path::Path;

use amikeeper::conformance::{Fixture, ImageSpec, DR_REGION, MAIN_REGION};
use amikeeper::model::{ImageId, Region};
use amikeeper::samples::Origin;
use amikeeper::{Config, HandleOptions, Keeper};
use amikeeper_aws::testing::{MotoFixture, MotoServer};
use common::{isolated, json, temp_dir};

mod common;

const ROLE: &str = "arn:aws:iam::444455556666:role/amikeeper";
const OTHER: &str = "444455556666";
const PARAMETER: &str = "/ami/status-web";

/// The configuration: rule `web` publishes the parameter in the home region, copies the AMI to
/// `DR_REGION` and into the other account (and publishes there); the other account is also a
/// fleet account. A copy may lag its home pointer by 0 hours: the test has no day to wait.
fn config(account: &str) -> String {
    format!(
        "accounts = [\"{account}\"]\n\
         [status]\ndr_max_lag_hours = 0\n\
         [[rules]]\nname = \"web\"\n\
         copy_to = [\"{DR_REGION}\", {{ region = \"{MAIN_REGION}\", role_arn = \"{ROLE}\" }}]\n\
         [rules.match]\nname_prefix = \"status-\"\n\
         [[rules.targets]]\nkind = \"ssm_parameter\"\nname = \"{PARAMETER}\"\n\
         [[fleet]]\nrole_arn = \"{ROLE}\"\nregions = [\"{MAIN_REGION}\"]\n"
    )
}

/// `amikeeper status --config CONFIG --fleet --format json --home-region MAIN_REGION
/// --endpoint-url URL`, isolated from the machine's AWS settings.
fn status(moto: &MotoServer, config: &Path) -> std::process::Output {
    let mut command = isolated();
    command.arg("status").arg("--config").arg(config).args(["--fleet", "--format", "json"]);
    command.args(["--home-region", MAIN_REGION, "--endpoint-url", &moto.endpoint()]);
    command.output().expect("the binary runs")
}

/// (kind, account, region) of each finding, sorted.
fn findings(report: &serde_json::Value) -> Vec<(String, String, String)> {
    let mut found: Vec<(String, String, String)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap().into(),
                f["account"].as_str().unwrap().into(),
                f["region"].as_str().unwrap().into(),
            )
        })
        .collect();
    found.sort();
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reports_each_pointer_and_finds_what_was_planted() {
    let Some(moto) = MotoServer::start() else { return };
    let fixture = MotoFixture::new(&moto).await;
    let account = fixture.account();
    let text = config(&account);
    let keeper = Keeper::new(Config::from_toml(&text).unwrap(), fixture.aws());
    let image = fixture.image(MAIN_REGION, ImageSpec::named("status-web-1")).await;
    let event = Origin::new(&account, MAIN_REGION, "status").image_state_change(image.as_str(), "available");
    let reports = keeper.handle_payload(event.to_string().as_bytes(), &HandleOptions::default()).await.unwrap();
    assert_eq!(reports[0].status, amikeeper::RunStatus::Ok, "{reports:#?}");
    // Each copy's pointer moves when its destination sees the copy become available (its own
    // `EC2 AMI State Change` event, handled by the keeper of that account), as on AWS.
    for copy in &reports[0].copies {
        let copy_id = copy.image_id.as_ref().expect("copied");
        let (owner, aws) = match &copy.account {
            Some(other) => (other.to_string(), fixture.aws().assume_role(ROLE, None).await.unwrap()),
            None => (account.clone(), fixture.aws()),
        };
        let keeper = Keeper::new(Config::from_toml(&config(&owner)).unwrap(), aws);
        let event =
            Origin::new(&owner, copy.region.as_str(), "status-copy").image_state_change(copy_id.as_str(), "available");
        let reports = keeper.handle_payload(event.to_string().as_bytes(), &HandleOptions::default()).await.unwrap();
        assert_eq!(reports[0].status, amikeeper::RunStatus::Ok, "{reports:#?}");
    }
    let dir = temp_dir("status");
    let path = dir.join("amikeeper.toml");
    std::fs::write(&path, &text).unwrap();

    // Everything amikeeper published is right: exit 0, each pointer reported.
    let report = json(&status(&moto, &path), 0);
    let pointers: Vec<(&str, &str, &str, &str)> = report["pointers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["account"].as_str().unwrap(),
                p["region"].as_str().unwrap(),
                p["name"].as_str().unwrap(),
                p["found_by"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        pointers,
        [
            (account.as_str(), MAIN_REGION, PARAMETER, "configured"),
            (account.as_str(), DR_REGION, PARAMETER, "configured"),
            (OTHER, MAIN_REGION, PARAMETER, "configured"),
        ],
        "{report:#}"
    );
    let home = &report["pointers"][0];
    assert_eq!(home["image_id"], image.as_str(), "{report:#}");
    assert_eq!(home["image"]["name"], "status-web-1");
    assert_eq!(home["image"]["state"], "available");
    assert_eq!(home["image"]["protected"], true, "{report:#}");
    assert!(home["last_moved"].is_string(), "SSM's LastModifiedDate: {report:#}");
    let marker = format!("{MAIN_REGION}/{image}");
    assert_eq!(report["pointers"][1]["image"]["copied_from"], marker.as_str(), "{report:#}");
    let cross = format!("{account}/{MAIN_REGION}/{image}");
    assert_eq!(report["pointers"][2]["image"]["copied_from"], cross.as_str(), "{report:#}");
    assert!(report["errors"].as_array().unwrap().is_empty(), "{report:#}");

    // Planted: the other account's copy deregistered (dangling), the DR parameter moved to an
    // AMI that is not the copy (lagging), the home AMI's protection turned off (unprotected).
    let main = Region::from(MAIN_REGION);
    let other = fixture.aws().assume_role(ROLE, None).await.unwrap();
    let copy = ImageId::new(report["pointers"][2]["image_id"].as_str().unwrap());
    other.set_deregistration_protection(&main, &copy, false).await.unwrap();
    other.deregister_image(&main, &copy, false).await.unwrap();
    let stray = fixture.image(DR_REGION, ImageSpec::named("status-web-0")).await;
    fixture.set_parameter(DR_REGION, PARAMETER, stray.as_str()).await;
    fixture.aws().set_deregistration_protection(&main, &image, false).await.unwrap();

    let report = json(&status(&moto, &path), 3);
    assert_eq!(
        findings(&report),
        [
            ("dangling".to_owned(), OTHER.to_owned(), MAIN_REGION.to_owned()),
            ("dr_lag".to_owned(), account.clone(), DR_REGION.to_owned()),
            ("unprotected".to_owned(), account.clone(), MAIN_REGION.to_owned()),
            // The stray AMI the DR parameter was moved to outside amikeeper was never protected.
            ("unprotected".to_owned(), account.clone(), DR_REGION.to_owned()),
        ],
        "{report:#}"
    );
    let reasons: Vec<&str> =
        report["findings"].as_array().unwrap().iter().map(|f| f["reason"].as_str().unwrap()).collect();
    assert!(reasons.iter().any(|r| r.contains(copy.as_str()) && r.contains("deregistered")), "{reasons:#?}");
    assert!(reasons.iter().any(|r| r.contains(stray.as_str()) && r.contains(image.as_str())), "{reasons:#?}");
    let _ = std::fs::remove_dir_all(&dir);
}
