//! `copy_to` on `MemoryAws`: seed 000's DR copy as configuration.

use std::sync::Arc;

use amikeeper::copy::CopyStatus;
use amikeeper::memory::ImageSeed;
use amikeeper::model::{ImageId, ImageState, COPIED_FROM_TAG};
use amikeeper::report::{Report, RunStatus};
use amikeeper::samples::Origin;
use amikeeper::testing::{configs, keeper, ACCOUNT};
use amikeeper::{Config, HandleOptions, Keeper, MemoryAws};

const MAIN: &str = "ap-northeast-1";
const DR: &str = "ap-northeast-3";

const CONFIG: &str = configs::WEB_COPY_TO_DR;

async fn handle(keeper: &Keeper, event: serde_json::Value, dry_run: bool) -> Report {
    let options = HandleOptions::default().dry_run(dry_run);
    let mut reports = keeper.handle_payload(event.to_string().as_bytes(), &options).await.expect("parses");
    reports.remove(0)
}

/// A keeper for a configuration and a new AMI in `MAIN`, whose state change it handles.
struct NewImage {
    keeper: Keeper,
    origin: Origin,
    image: ImageId,
}

impl NewImage {
    /// A keeper for `config` on `aws`, then the AMI `seed` in `MAIN`; its events say `event_id`.
    fn new(config: &str, aws: &Arc<MemoryAws>, seed: ImageSeed, event_id: &str) -> Self {
        let keeper = keeper(config, aws);
        let image = aws.add_image(MAIN, seed);
        NewImage { keeper, origin: Origin::new(ACCOUNT, MAIN, event_id), image }
    }

    /// The AMI's `EC2 AMI State Change` to available, handled (a dry run when `dry_run`).
    async fn available(&self, dry_run: bool) -> Report {
        handle(&self.keeper, self.origin.image_state_change(self.image.as_str(), "available"), dry_run).await
    }
}

#[tokio::test(start_paused = true)]
async fn copy_to_copies_once_and_the_copy_finishes_the_dr_region() {
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let web = NewImage::new(CONFIG, &aws, ImageSeed::new("web-1").tag("Role", "web"), "copy-main");
    let (keeper, image) = (&web.keeper, &web.image);

    let planned = web.available(true).await;
    assert_eq!(planned.copies[0].status, CopyStatus::Planned);
    assert!(aws.images(DR).is_empty(), "a dry run copies nothing");

    let report = web.available(false).await;
    assert_eq!(report.status, RunStatus::Ok, "{report:#?}");
    let copy = &report.copies[0];
    assert_eq!((copy.region.as_str(), copy.status), (DR, CopyStatus::Copied));
    let copy_id = copy.image_id.clone().unwrap();
    let copied = aws.image(DR, &copy_id).unwrap();
    assert_eq!(copied.name, "web-1");
    assert_eq!(copied.state, ImageState::Pending);
    assert_eq!(copied.tags["Role"], "web", "the AMI's tags go with it");
    assert_eq!(copied.tags[COPIED_FROM_TAG], format!("{MAIN}/{image}"));
    assert!(!copied.tags.keys().any(|k| k == "amikeeper:protected"), "not amikeeper's bookkeeping");

    // The same event again (EventBridge delivers at least once): no second copy.
    let again = web.available(false).await;
    assert_eq!(
        (again.copies[0].status, again.copies[0].image_id.as_ref()),
        (CopyStatus::AlreadyCopied, Some(&copy_id))
    );
    assert!(!again.aws_calls_by_operation.contains_key("ec2:CopyImage"));
    assert_eq!(aws.images(DR).len(), 1);

    // In the DR region, the copy's own events move its pointer; the copy is not copied back.
    let dr = Origin::new(ACCOUNT, DR, "copy-dr");
    let pending = handle(keeper, dr.copy_image(copy_id.as_str(), image.as_str(), MAIN, "web-1"), false).await;
    assert_eq!(pending.status, RunStatus::Deferred, "{pending:#?}");
    aws.complete_pending_images();
    let done = handle(keeper, dr.image_state_change(copy_id.as_str(), "available"), false).await;
    assert_eq!(done.status, RunStatus::Ok, "{done:#?}");
    assert!(done.copies.is_empty(), "a copy is never copied again");
    assert_eq!(aws.parameter(DR, "/ami/web").unwrap().value, copy_id.to_string());
    assert_eq!(aws.parameter(MAIN, "/ami/web").unwrap().value, image.to_string());

    // `amikeeper iam-policy` allows every call this made.
    let allowed = amikeeper::iam::handle_actions(keeper.config());
    let missing: Vec<String> = aws.calls().into_iter().filter(|op| !allowed.contains(op.as_str())).collect();
    assert!(missing.is_empty(), "calls the policy does not allow: {missing:?}");
}

#[tokio::test(start_paused = true)]
async fn a_failed_copy_fails_the_run_so_the_event_is_retried() {
    use amikeeper::memory::{Fault, FaultKind};
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let web = NewImage::new(CONFIG, &aws, ImageSeed::new("web-1"), "copy-fail");
    aws.inject(Fault::on("ec2:CopyImage", FaultKind::ServerError));
    let report = web.available(false).await;
    assert_eq!(report.status, RunStatus::Failed, "{report:#?}");
    assert_eq!(report.copies[0].status, CopyStatus::Failed);
    let retried = web.available(false).await;
    assert_eq!((retried.status, retried.copies[0].status), (RunStatus::Ok, CopyStatus::Copied));
}

#[test]
fn copy_to_takes_regions_only() {
    let bad = CONFIG.replace("ap-northeast-3", "tokyo");
    let error = Config::from_toml(&bad).unwrap_err().to_string();
    assert!(error.contains("copy_to[0]") && error.contains("not a region"), "{error}");
}

const DR_ACCOUNT: &str = "444455556666";
const DR_ROLE: &str = "arn:aws:iam::444455556666:role/amikeeper-dr";

/// This account's DR region, and the same region of another account through a role.
const CROSS_ACCOUNT: &str = configs::WEB_COPY_CROSS_ACCOUNT;

/// This account, and the DR account that its role reaches and that sees what this one shares.
fn two_accounts() -> (Arc<MemoryAws>, Arc<MemoryAws>) {
    let home = Arc::new(MemoryAws::new(ACCOUNT));
    let dr = Arc::new(MemoryAws::new(DR_ACCOUNT));
    home.add_role(DR_ROLE, dr.clone());
    dr.add_sharing_account(&home);
    (home, dr)
}

fn cross_account_copy(report: &Report) -> &amikeeper::copy::CopyReport {
    report.copies.iter().find(|c| c.account.is_some()).expect("a copy into the other account")
}

#[tokio::test(start_paused = true)]
async fn copy_to_another_account_shares_the_ami_and_copies_it_once() {
    let (home, dr) = two_accounts();
    let seed = ImageSeed::new("web-1").tag("Role", "web").snapshots(2);
    let web = NewImage::new(CROSS_ACCOUNT, &home, seed, "cross-main");
    let image = &web.image;
    let snapshots = home.image(MAIN, image).unwrap().snapshot_ids;

    let planned = web.available(true).await;
    assert_eq!(planned.copies.len(), 2, "{planned:#?}");
    assert!(planned.copies.iter().all(|c| c.status == CopyStatus::Planned), "{planned:#?}");
    assert!(home.image_shared_with(MAIN, image).is_empty(), "a dry run shares nothing");
    assert!(dr.images(DR).is_empty() && home.images(DR).is_empty(), "a dry run copies nothing");

    let report = web.available(false).await;
    assert_eq!(report.status, RunStatus::Ok, "{report:#?}");
    let copy = cross_account_copy(&report);
    assert_eq!(
        (copy.region.as_str(), copy.account.as_ref().map(|a| a.as_str()), copy.status),
        (DR, Some(DR_ACCOUNT), CopyStatus::Copied)
    );
    let copy_id = copy.image_id.clone().unwrap();
    let copied = dr.image(DR, &copy_id).expect("the copy is in the other account");
    assert_eq!((copied.name.as_str(), copied.state), ("web-1", ImageState::Pending));
    assert_eq!(copied.owner.as_str(), DR_ACCOUNT);
    assert_eq!(copied.tags["Role"], "web", "the AMI's tags go with it");
    assert_eq!(copied.tags[COPIED_FROM_TAG], format!("{ACCOUNT}/{MAIN}/{image}"));
    assert_eq!(home.image_shared_with(MAIN, image), [DR_ACCOUNT.into()]);
    for snapshot in &snapshots {
        assert_eq!(home.snapshot_shared_with(MAIN, snapshot), [DR_ACCOUNT.into()], "{snapshot}");
    }
    // The copy within this account is as before: its tag names no account.
    let local = report.copies.iter().find(|c| c.account.is_none()).unwrap();
    let local = home.image(DR, local.image_id.as_ref().unwrap()).unwrap();
    assert_eq!(local.tags[COPIED_FROM_TAG], format!("{MAIN}/{image}"));
    // The report names the account only for the copy into another account.
    let json = serde_json::to_value(&report).unwrap();
    let accounts: Vec<Option<&str>> =
        json["copies"].as_array().unwrap().iter().map(|c| c["account"].as_str()).collect();
    assert_eq!(accounts, [None, Some(DR_ACCOUNT)]);

    // The same event again: the copy is found in the other account; nothing is shared again.
    let shares = home.call_count("ec2:ModifyImageAttribute");
    let again = web.available(false).await;
    let copy = cross_account_copy(&again);
    assert_eq!((copy.status, copy.image_id.as_ref()), (CopyStatus::AlreadyCopied, Some(&copy_id)));
    assert_eq!(home.call_count("ec2:ModifyImageAttribute"), shares);
    assert_eq!(dr.call_count("ec2:CopyImage"), 1);
    assert_eq!(dr.images(DR).len(), 1);

    // Each account's calls are within what `amikeeper iam-policy` grants there.
    let config = web.keeper.config();
    let policy = amikeeper::iam::policy(config);
    let statements = policy["Statement"].as_array().unwrap();
    let granted: std::collections::BTreeSet<&str> =
        statements.iter().flat_map(|s| s["Action"].as_array().unwrap()).map(|a| a.as_str().unwrap()).collect();
    let copies = statements.iter().find(|s| s["Sid"] == "AmikeeperCopies").expect("a statement for the roles");
    assert_eq!(copies["Resource"], serde_json::json!([DR_ROLE]));
    let beyond = |calls: Vec<String>, allowed: &dyn Fn(&str) -> bool| -> Vec<String> {
        calls.into_iter().filter(|call| !allowed(call)).collect()
    };
    assert_eq!(beyond(home.calls(), &|call| granted.contains(call)), Vec::<String>::new(), "this account");
    let role_allowed = amikeeper::iam::copy_role_actions();
    assert_eq!(beyond(dr.calls(), &|call| role_allowed.contains(call)), Vec::<String>::new(), "the DR account");
    assert!(home.calls().iter().any(|c| c == "sts:AssumeRole"));
    let caveats = amikeeper::iam::caveats(config).join("\n");
    assert!(
        caveats.contains("copy_to role") && caveats.contains("ec2:CopyImage") && caveats.contains("KMS"),
        "{caveats}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_copy_role_that_cannot_be_assumed_fails_the_run_and_shares_nothing() {
    let home = Arc::new(MemoryAws::new(ACCOUNT));
    let dr = Arc::new(MemoryAws::new(DR_ACCOUNT));
    dr.add_sharing_account(&home);
    let web = NewImage::new(CROSS_ACCOUNT, &home, ImageSeed::new("web-1"), "cross-denied");
    let report = web.available(false).await;
    assert_eq!(report.status, RunStatus::Failed, "{report:#?}");
    let copy = cross_account_copy(&report);
    assert_eq!(copy.status, CopyStatus::Failed);
    let error = copy.error.as_deref().unwrap();
    assert!(error.contains("could not assume") && error.contains(DR_ROLE) && error.contains("AccessDenied"), "{error}");
    assert!(home.image_shared_with(MAIN, &web.image).is_empty(), "nothing is shared with an account out of reach");
    assert_eq!(
        report.copies.iter().find(|c| c.account.is_none()).unwrap().status,
        CopyStatus::Copied,
        "the other copy is made"
    );

    // Once the role's trust policy is fixed, the event's redelivery makes the copy.
    home.add_role(DR_ROLE, dr.clone());
    let retried = web.available(false).await;
    assert_eq!(retried.status, RunStatus::Ok, "{retried:#?}");
    assert_eq!(cross_account_copy(&retried).status, CopyStatus::Copied);
    assert_eq!(dr.images(DR).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_failed_share_fails_the_copy_and_the_retry_finishes_it() {
    use amikeeper::memory::{Fault, FaultKind};
    let (home, dr) = two_accounts();
    let web = NewImage::new(CROSS_ACCOUNT, &home, ImageSeed::new("web-1"), "cross-share");
    home.inject(Fault::on("ec2:ModifySnapshotAttribute", FaultKind::ServerError));
    let report = web.available(false).await;
    assert_eq!(report.status, RunStatus::Failed, "{report:#?}");
    let error = cross_account_copy(&report).error.clone().unwrap();
    assert!(error.starts_with(&format!("could not share {} with {DR_ACCOUNT}", web.image)), "{error}");
    assert_eq!(dr.call_count("ec2:CopyImage"), 0, "no copy without the snapshots shared");
    let retried = web.available(false).await;
    assert_eq!((retried.status, cross_account_copy(&retried).status), (RunStatus::Ok, CopyStatus::Copied));
}

/// `MemoryAws` across accounts: `CopyImage` of another account's AMI needs the AMI shared, then
/// its snapshots too, as EC2 does.
#[tokio::test]
async fn memory_copies_a_shared_ami_only_with_its_snapshots_shared() {
    use amikeeper::backend::Ec2Api;
    use amikeeper::model::{AccountId, CopyImage, Region, Tags};
    let (home, dr) = two_accounts();
    let (main, dr_region) = (Region::from(MAIN), Region::from(DR));
    let image = home.add_image(MAIN, ImageSeed::new("web-1"));
    let request = CopyImage {
        source_region: main.clone(),
        source_image_id: image.clone(),
        name: "web-1".into(),
        description: None,
        tags: Tags::new(),
        client_token: "t".into(),
    };
    let unshared = dr.copy_image(&dr_region, &request).await.unwrap_err();
    assert_eq!(unshared.code, "InvalidAMIID.NotFound");
    let account = AccountId::from(DR_ACCOUNT);
    home.share_image(&main, &image, &account).await.unwrap();
    let storage = dr.copy_image(&dr_region, &request).await.unwrap_err();
    assert_eq!(storage.code, "InvalidRequest", "{storage}");
    for snapshot in home.image(MAIN, &image).unwrap().snapshot_ids {
        home.share_snapshot(&main, &snapshot, &account).await.unwrap();
    }
    let copy = dr.copy_image(&dr_region, &request).await.unwrap();
    assert_eq!(dr.image(DR, &copy).unwrap().owner.as_str(), DR_ACCOUNT);
    let missing = home.share_image(&main, &"ami-00000000000000099".into(), &account).await.unwrap_err();
    assert_eq!(missing.code, "InvalidAMIID.NotFound");
}

#[test]
fn copy_to_tables_are_checked() {
    let unknown = CROSS_ACCOUNT.replace("external_id", "externalid");
    let error = Config::from_toml(&unknown).unwrap_err().to_string();
    assert!(error.contains("unknown field `externalid`"), "{error}");
    let bad_role = CROSS_ACCOUNT.replace("arn:aws:iam::444455556666:role", "arn:aws:iam::dr:role");
    let error = Config::from_toml(&bad_role).unwrap_err().to_string();
    assert!(error.contains("copy_to[1].role_arn"), "{error}");
    let bad_region = CROSS_ACCOUNT.replace("{ region = \"ap-northeast-3\"", "{ region = \"osaka\"");
    let error = Config::from_toml(&bad_region).unwrap_err().to_string();
    assert!(error.contains("copy_to[1]") && error.contains("not a region"), "{error}");
    let config = Config::from_toml(CROSS_ACCOUNT).unwrap();
    let destinations = &config.rules[0].copy_to;
    assert_eq!((destinations[0].region(), destinations[0].role_arn()), (DR, None));
    assert_eq!((destinations[1].account(), destinations[1].external_id()), (Some(DR_ACCOUNT), Some("dr")));
    // The same schema from JSON, and back.
    let json = serde_json::to_value(&config).unwrap();
    assert_eq!(json["rules"][0]["copy_to"][0], DR);
    assert_eq!(json["rules"][0]["copy_to"][1]["role_arn"], DR_ROLE);
    let again = Config::from_json(&json.to_string()).unwrap();
    assert_eq!(&again.rules[0].copy_to, destinations);
}
