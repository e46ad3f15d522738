//! `amikeeper handle` and `amikeeper sweep` as a user runs them, against `moto_server` on
//! loopback: exit codes, JSON reports, and the state as the SDK reads it.
//!
//! Without moto installed the test prints `skipped: moto not installed ...` and passes, unless
//! `AMIKEEPER_REQUIRE_MOTO=1` (as `scripts/test.sh` sets). Install with `scripts/setup-python.sh`.

use std::path::Path;
use std::process::Output;

use amikeeper::conformance::{Fixture, ImageSpec, MAIN_REGION};
use amikeeper::samples::configs::in_account;
use amikeeper::samples::Origin;
use amikeeper::testing::{configs, fill};
use amikeeper_aws::testing::{MotoFixture, MotoServer};
use common::{amikeeper_at, json, temp_dir};

mod common;

/// `amikeeper handle --config CONFIG --endpoint-url URL --region ap-northeast-1 [--dry-run] EVENT`
/// with test credentials and nothing else from the environment or `~/.aws`.
fn handle(moto: &MotoServer, config: &Path, event: &Path, dry_run: bool) -> Output {
    let mut args = vec!["handle".as_ref(), "--config".as_ref(), config.as_os_str()];
    if dry_run {
        args.push("--dry-run".as_ref());
    }
    args.push(event.as_os_str());
    amikeeper_at(&moto.endpoint(), &args)
}

/// The one report `handle` printed for a payload of one event (an array of one), exit 0.
fn handled(out: &Output) -> serde_json::Value {
    let mut reports = reports(out, 0);
    assert_eq!(reports.len(), 1, "{reports:#?}");
    reports.remove(0)
}

/// The reports `handle` printed: always an array, one per event of the payload; exit `code`.
fn reports(out: &Output, code: i32) -> Vec<serde_json::Value> {
    let json = json(out, code);
    json.as_array().unwrap_or_else(|| panic!("not an array of reports: {json:#}")).clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handle_moves_the_parameter_a_backup_image_tag_names() {
    let Some(moto) = MotoServer::start() else { return };
    let fixture = MotoFixture::new(&moto).await;
    let account = fixture.account();

    let old = fixture.image(MAIN_REGION, ImageSpec::named("cli-old")).await;
    fixture.set_parameter(MAIN_REGION, "/ami/web", old.as_str()).await;
    let new = fixture.image(MAIN_REGION, ImageSpec::named("cli-new").tag("ImageIdParameterName", "/ami/web")).await;

    let dir = temp_dir("moto");
    let config = dir.join("amikeeper.toml");
    std::fs::write(&config, fill(configs::CLI_PARAMETER_FROM_TAG, &[("account", &account)])).unwrap();
    let event = dir.join("backup-job.json");
    let payload =
        Origin::new(&account, MAIN_REGION, "cli-moto").backup_job(new.as_str(), "i-0123456789abcdef0", "COMPLETED");
    std::fs::write(&event, payload.to_string()).unwrap();

    // A dry run plans the move and writes nothing.
    let planned = handled(&handle(&moto, &config, &event, true));
    assert_eq!(planned["dry_run"], true, "{planned:#}");
    assert_eq!(planned["status"], "ok", "{planned:#}");
    assert_eq!(planned["targets"][0]["status"], "planned", "{planned:#}");
    assert_eq!(fixture.parameter(MAIN_REGION, "/ami/web").await, Some((old.to_string(), 1)));

    // The real run moves it, in four calls, then protects the AMI in two, reads the parameter
    // back (it still names the AMI) and describes the AMI it left afresh (for its protection).
    let done = handled(&handle(&moto, &config, &event, false));
    assert_eq!(done["status"], "ok", "{done:#}");
    assert_eq!(done["targets"][0]["status"], "updated", "{done:#}");
    assert_eq!(done["targets"][0]["to"], new.as_str(), "{done:#}");
    assert_eq!(done["aws_calls"], 8, "{done:#}");
    assert_eq!(done["protection"], format!("{new} is now protected from deregistration"), "{done:#}");
    assert_eq!(fixture.parameter(MAIN_REGION, "/ami/web").await, Some((new.to_string(), 2)));

    // The same event again changes nothing.
    let again = handled(&handle(&moto, &config, &event, false));
    assert_eq!(again["targets"][0]["status"], "unchanged", "{again:#}");
    assert_eq!(fixture.parameter(MAIN_REGION, "/ami/web").await, Some((new.to_string(), 2)));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweep_prints_the_plan_then_applies_it() {
    let Some(moto) = MotoServer::start() else { return };
    let fixture = MotoFixture::new(&moto).await;
    let mut images = Vec::new();
    for i in 0..4 {
        images.push(fixture.image(MAIN_REGION, ImageSpec::named(format!("cli-sweep-{i}")).tag("Role", "web")).await);
    }
    // The oldest is in use through a parameter.
    fixture.set_parameter(MAIN_REGION, "/ami/web/pinned", images[0].as_str()).await;

    let dir = temp_dir("moto");
    let config = dir.join("sweep.toml");
    std::fs::write(&config, fill(configs::KEEP_ONE_PER_ROLE, &[("account", &fixture.account())])).unwrap();
    let sweep = |apply: bool| {
        let mut args = vec!["sweep".as_ref(), "--config".as_ref(), config.as_os_str()];
        if apply {
            args.push("--apply".as_ref());
        }
        amikeeper_at(&moto.endpoint(), &args)
    };

    let plan = json(&sweep(false), 0);
    assert_eq!(plan["applied"], false, "{plan:#}");
    let retire: Vec<&str> = plan["plan"]["images"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["action"] != "keep")
        .map(|d| d["image_id"].as_str().unwrap())
        .collect();
    assert_eq!(retire, [images[2].as_str(), images[1].as_str()], "{plan:#}");
    assert_eq!(plan["summary"]["images_planned"], 2, "{plan:#}");
    assert!(plan["results"].as_array().unwrap().is_empty());

    // The same plan as one HTML page: a row per decision with its reason (the template escapes
    // `/` as `&#x2f;`), and the GiB of the snapshots it deletes as moto reports their VolumeSize.
    let html = ["sweep".as_ref(), "--config".as_ref(), config.as_os_str(), "--format".as_ref(), "html".as_ref()];
    let html = amikeeper_at(&moto.endpoint(), &html);
    assert_eq!(html.status.code(), Some(0), "{}", String::from_utf8_lossy(&html.stderr));
    let page = String::from_utf8(html.stdout).unwrap();
    for decision in plan["plan"]["images"].as_array().unwrap() {
        let row = page.split(&format!("data-image=\"{}\">", decision["image_id"].as_str().unwrap())).nth(1).unwrap();
        let reason = decision["reason"].as_str().unwrap().replace('/', "&#x2f;");
        assert!(row[..row.find("</tr>").unwrap()].contains(&reason), "{reason}: {row}");
    }
    let sizes = plan["plan"]["image_snapshots"].as_array().unwrap().iter().map(|s| s["size_gib"].as_u64());
    let gib: u64 = sizes.map(|size| size.expect("moto reports VolumeSize")).sum();
    assert!(gib > 0 && page.contains(&format!("<strong>{gib} GiB</strong>")), "{gib} GiB: {page}");

    let done = json(&sweep(true), 0);
    assert_eq!(done["status"], "ok", "{done:#}");
    assert_eq!(done["summary"]["images_retired"], 2, "{done:#}");
    assert_eq!(done["summary"]["snapshots_deleted"], 2, "{done:#}");

    let after = json(&sweep(false), 0);
    let left: Vec<&str> =
        after["plan"]["images"].as_array().unwrap().iter().map(|d| d["image_id"].as_str().unwrap()).collect();
    assert_eq!(left, [images[3].as_str(), images[0].as_str()], "{after:#}");
    assert_eq!(after["summary"]["images_planned"], 0, "{after:#}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_restores_a_parameter_and_a_template_default_and_refuses_a_deregistered_ami() {
    use amikeeper::conformance::SweepFixture;
    let Some(moto) = MotoServer::start() else { return };
    let fixture = MotoFixture::new(&moto).await;
    let old = fixture.image(MAIN_REGION, ImageSpec::named("rb-old")).await;
    let new = fixture.image(MAIN_REGION, ImageSpec::named("rb-new")).await;
    let gone = fixture.image(MAIN_REGION, ImageSpec::named("rb-gone")).await;
    fixture.set_parameter(MAIN_REGION, "/ami/web", old.as_str()).await;
    fixture.set_parameter(MAIN_REGION, "/ami/web", new.as_str()).await;
    let template = fixture.launch_template(MAIN_REGION, "rb-web", &old).await;
    assert_eq!(fixture.template_version(MAIN_REGION, &template, &new, true).await, 2);
    fixture.set_parameter(MAIN_REGION, "/ami/gone", gone.as_str()).await;
    fixture.set_parameter(MAIN_REGION, "/ami/gone", new.as_str()).await;
    fixture.ec2(MAIN_REGION).deregister_image().image_id(gone.as_str()).send().await.unwrap();

    let dir = temp_dir("moto");
    let config = dir.join("rollback.toml");
    std::fs::write(&config, in_account(configs::ANY_AMI_TO_PARAMETER, &fixture.account())).unwrap();
    let run = |targets: &[&str]| {
        let mut args = vec!["rollback".as_ref(), "--config".as_ref(), config.as_os_str()];
        args.extend(targets.iter().map(|t| std::ffi::OsStr::new(*t)));
        amikeeper_at(&moto.endpoint(), &args)
    };

    let done = json(&run(&["ssm_parameter:/ami/web", &format!("launch_template:{template}")]), 0);
    assert_eq!(done["status"], "ok", "{done:#}");
    assert!(done["notice"].as_str().unwrap().contains("older AMI"), "{done:#}");
    assert_eq!(fixture.parameter(MAIN_REGION, "/ami/web").await, Some((old.to_string(), 3)));
    assert_eq!(fixture.template_state(MAIN_REGION, &template).await.default_version, 1);

    let refused = run(&["ssm_parameter:/ami/gone"]);
    assert_eq!(refused.status.code(), Some(2), "{}", String::from_utf8_lossy(&refused.stderr));
    let body: serde_json::Value = serde_json::from_slice(&refused.stdout).unwrap();
    assert_eq!(body["status"], "refused", "{body:#}");
    assert_eq!(fixture.parameter(MAIN_REGION, "/ami/gone").await, Some((new.to_string(), 2)), "nothing written");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handle_exits_2_for_hostile_tags_and_missing_amis_1_for_failures_and_the_worst_of_a_batch() {
    use amikeeper::samples::sqs_batch;
    let Some(moto) = MotoServer::start() else { return };
    let fixture = MotoFixture::new(&moto).await;
    let account = fixture.account();
    let tagged = |name: &str, key: &str, value: &str| ImageSpec::named(name).tag(key, value);
    let good = fixture.image(MAIN_REGION, tagged("exit-good", "ImageIdParameterName", "/ami/web")).await;
    let outside = fixture.image(MAIN_REGION, tagged("exit-outside", "ImageIdParameterName", "/prod/db/password")).await;
    let climbing =
        fixture.image(MAIN_REGION, tagged("exit-dotdot", "ImageIdParameterName", "/ami/../prod/db/password")).await;
    let no_stack = fixture.image(MAIN_REGION, tagged("exit-no-stack", "StackName", "web-missing")).await;

    let dir = temp_dir("moto");
    let config = dir.join("exit.toml");
    std::fs::write(&config, fill(configs::CLI_PARAMETER_AND_STACK_FROM_TAGS, &[("account", &account)])).unwrap();
    let origin = Origin::new(&account, MAIN_REGION, "cli-exit");
    let event = |image: &str| origin.backup_job(image, "i-0123456789abcdef0", "COMPLETED");
    let run = |name: &str, payload: serde_json::Value| {
        let file = dir.join(format!("{name}.json"));
        std::fs::write(&file, payload.to_string()).unwrap();
        handle(&moto, &config, &file, false)
    };
    fn statuses(reports: &[serde_json::Value]) -> Vec<String> {
        reports.iter().map(|r| r["status"].as_str().unwrap().to_owned()).collect()
    }

    // A tag naming a parameter outside the allowed prefixes, or climbing out of one: refused,
    // exit 2, and the parameter it names does not exist afterwards.
    for (name, image) in [("outside", &outside), ("climbing", &climbing)] {
        let refused = reports(&run(name, event(image.as_str())), 2);
        assert_eq!(statuses(&refused), ["refused"], "{refused:#?}");
        assert_eq!(refused[0]["targets"][0]["status"], "refused", "{refused:#?}");
        assert!(refused[0]["targets"][0]["reason"].as_str().unwrap().contains("/prod/db/password"), "{refused:#?}");
        assert_eq!(fixture.parameter(MAIN_REGION, "/prod/db/password").await, None, "nothing written");
    }

    // An AMI that does not exist: the event's fault (InvalidAMIID.NotFound), exit 2.
    let missing = reports(&run("missing", event("ami-0123456789abcdef0")), 2);
    assert_eq!(statuses(&missing), ["refused"], "{missing:#?}");
    assert!(missing[0]["reason"].as_str().unwrap().contains("InvalidAMIID.NotFound"), "{missing:#?}");

    // A stack the tag names that does not exist: AWS work failed, exit 1.
    let failed = reports(&run("no-stack", event(no_stack.as_str())), 1);
    assert_eq!(statuses(&failed), ["failed"], "{failed:#?}");

    // An SQS batch of one record prints what the event alone prints: an array of one report.
    let one = reports(&run("batch-of-one", sqs_batch(&[event(outside.as_str())])), 2);
    assert_eq!(statuses(&one), ["refused"], "{one:#?}");

    // A batch: one done and one refused exits 2; add a failure and it exits 1.
    let mixed = reports(&run("done-refused", sqs_batch(&[event(good.as_str()), event(outside.as_str())])), 2);
    assert_eq!(statuses(&mixed), ["ok", "refused"], "{mixed:#?}");
    assert_eq!(fixture.parameter(MAIN_REGION, "/ami/web").await, Some((good.to_string(), 1)));
    let batch = sqs_batch(&[event(good.as_str()), event(climbing.as_str()), event(no_stack.as_str())]);
    let worst = reports(&run("done-refused-failed", batch), 1);
    assert_eq!(statuses(&worst), ["ok", "refused", "failed"], "{worst:#?}");
    assert_eq!(fixture.parameter(MAIN_REGION, "/prod/db/password").await, None, "nothing written");
    let _ = std::fs::remove_dir_all(&dir);
}
