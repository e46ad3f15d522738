//! The SDK backend against `moto_server` on loopback: every conformance scenario, and the
//! error mapping on the emulator's real answers.
//!
//! Each test starts its own `moto_server` (so tests run in parallel). Without moto installed
//! the tests print `skipped: moto not installed ...` and pass, unless `AMIKEEPER_REQUIRE_MOTO=1`
//! (as `scripts/test.sh` sets), which makes them fail. Install with `scripts/setup-python.sh`.

use std::collections::BTreeMap;

use amikeeper::backend::{CloudFormationApi, Ec2Api, SsmApi};
use amikeeper::conformance::{self, Fixture, ImageSpec, MAIN_REGION};
use amikeeper::model::{ImageId, ParameterType, PutParameter, Region, StackParameterValue, StackUpdate, UpdateStack};
use amikeeper::publish::Status;
use amikeeper::samples::Origin;
use amikeeper::{AwsErrorKind, Config, HandleOptions, Keeper};
use amikeeper_aws::testing::{MotoFixture, MotoServer};

/// A server and a fixture over it; `None` when moto is not installed (and not required).
async fn moto() -> Option<(MotoServer, MotoFixture)> {
    let server = MotoServer::start()?;
    let fixture = MotoFixture::new(&server).await;
    Some((server, fixture))
}

fn main_region() -> Region {
    Region::new(MAIN_REGION)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_000_backup_to_fixed_version_parameter() {
    let Some((_moto, fixture)) = moto().await else { return };
    conformance::seed_000_backup_to_fixed_version_parameter(&fixture).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_001_parameter_from_tag() {
    let Some((_moto, fixture)) = moto().await else { return };
    conformance::seed_001_parameter_from_tag(&fixture).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_001_stack_from_tag() {
    let Some((_moto, fixture)) = moto().await else { return };
    conformance::seed_001_stack_from_tag(&fixture).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_002_asg_created_to_latest() {
    let Some((_moto, fixture)) = moto().await else { return };
    conformance::seed_002_asg_created_to_latest(&fixture).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_002_dlm_to_launch_template() {
    let Some((_moto, fixture)) = moto().await else { return };
    conformance::seed_002_dlm_to_launch_template(&fixture).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_003_scheduled_bake() {
    let Some((_moto, fixture)) = moto().await else { return };
    conformance::seed_003_scheduled_bake(&fixture).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_write_nothing() {
    let Some((_moto, fixture)) = moto().await else { return };
    conformance::refusals_write_nothing(&fixture).await;
}

/// The harness itself: reset forgets everything, and a second server is independent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_forgets_everything() {
    let Some((moto, fixture)) = moto().await else { return };
    fixture.set_parameter(MAIN_REGION, "/harness/x", "1").await;
    assert_eq!(fixture.parameter(MAIN_REGION, "/harness/x").await, Some(("1".to_owned(), 1)));
    moto.reset();
    assert_eq!(fixture.parameter(MAIN_REGION, "/harness/x").await, None);
    assert!(moto.endpoint().starts_with("http://127.0.0.1:"), "{}", moto.endpoint());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_image_is_none() {
    let Some((_moto, fixture)) = moto().await else { return };
    let aws = fixture.sdk_aws();
    let unknown = ImageId::new("ami-0123456789abcdef0");
    assert_eq!(aws.describe_image(&main_region(), &unknown).await.unwrap(), None);
    // And a known one maps, creation date and tags included.
    let image = fixture.image(MAIN_REGION, ImageSpec::named("known-image").tag("team", "web")).await;
    let described = aws.describe_image(&main_region(), &image).await.unwrap().expect("the image exists");
    assert_eq!(described.id, image);
    assert_eq!(described.name, "known-image");
    assert_eq!(described.tags.get("team").map(String::as_str), Some("web"));
    assert_eq!(described.owner.as_str(), fixture.account());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_parameter_is_none() {
    let Some((_moto, fixture)) = moto().await else { return };
    assert_eq!(fixture.sdk_aws().get_parameter(&main_region(), "/no/such/parameter").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_parameter_without_overwrite_on_an_existing_name_is_parameter_already_exists() {
    let Some((_moto, fixture)) = moto().await else { return };
    fixture.set_parameter(MAIN_REGION, "/ami/taken", "ami-1").await;
    let request = PutParameter {
        name: "/ami/taken".into(),
        value: "ami-2".into(),
        kind: ParameterType::String,
        data_type: None,
        overwrite: false,
        description: None,
    };
    let error = fixture.sdk_aws().put_parameter(&main_region(), &request).await.unwrap_err();
    assert_eq!(
        (error.service.as_str(), error.operation.as_str(), error.code.as_str()),
        ("ssm", "PutParameter", "ParameterAlreadyExists"),
        "{error:?}"
    );
    assert_eq!(error.kind, AwsErrorKind::Client, "{error:?}");
    assert_eq!(fixture.parameter(MAIN_REGION, "/ami/taken").await, Some(("ami-1".to_owned(), 1)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stacks_update_without_change_and_unknown_stacks() {
    let Some((_moto, fixture)) = moto().await else { return };
    let aws = fixture.sdk_aws();
    assert_eq!(aws.describe_stack(&main_region(), "no-such-stack").await.unwrap(), None);

    let parameters = BTreeMap::from([
        ("ImageId".to_owned(), "ami-1".to_owned()),
        ("InstanceType".to_owned(), "t3.small".to_owned()),
    ]);
    fixture.stack(MAIN_REGION, "errors-app", parameters.clone()).await;
    let stack = aws.describe_stack(&main_region(), "errors-app").await.unwrap().expect("the stack exists");
    assert_eq!(stack.parameters, parameters);
    assert_eq!(stack.status, "CREATE_COMPLETE");

    let same = UpdateStack {
        name: "errors-app".into(),
        parameters: vec![
            ("ImageId".into(), StackParameterValue::Value("ami-1".into())),
            ("InstanceType".into(), StackParameterValue::UsePrevious),
        ],
        capabilities: vec![],
    };
    assert_eq!(aws.update_stack(&main_region(), &same).await.unwrap(), StackUpdate::NoChange);

    let changed = UpdateStack {
        parameters: vec![
            ("ImageId".into(), StackParameterValue::Value("ami-2".into())),
            ("InstanceType".into(), StackParameterValue::UsePrevious),
        ],
        ..same
    };
    match aws.update_stack(&main_region(), &changed).await.unwrap() {
        StackUpdate::Started { stack_id } => assert!(stack_id.contains(":stack/errors-app/"), "{stack_id}"),
        other => panic!("expected an update, got {other:?}"),
    }
    let parameters = fixture.stack_parameters(MAIN_REGION, "errors-app").await;
    assert_eq!(parameters.get("ImageId").map(String::as_str), Some("ami-2"));
    assert_eq!(parameters.get("InstanceType").map(String::as_str), Some("t3.small"));

    let missing = UpdateStack { name: "no-such-stack".into(), ..changed };
    let error = aws.update_stack(&main_region(), &missing).await.unwrap_err();
    assert_eq!((error.operation.as_str(), error.kind), ("UpdateStack", AwsErrorKind::NotFound), "{error:?}");
}

/// moto does not implement `DeleteLaunchTemplateVersions`: it answers HTTP 500 with an HTML
/// page. The backend maps that to a typed server error, and the launch template publisher still
/// reports the update, with a note that pruning failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pruning_launch_template_versions_fails_on_moto_but_the_update_stands() {
    let Some((_moto, fixture)) = moto().await else { return };
    let aws = fixture.sdk_aws();
    let base = fixture.image(MAIN_REGION, ImageSpec::named("prune-base")).await;
    let template = fixture.launch_template(MAIN_REGION, "prune-web", &base).await;
    for _ in 0..2 {
        fixture.launch_template_version(MAIN_REGION, &template, &base).await;
    }
    assert_eq!(fixture.template_state(MAIN_REGION, &template).await.latest_version, 3);

    let error = aws.delete_launch_template_versions(&main_region(), &template, &[1]).await.unwrap_err();
    assert_eq!(
        (error.service.as_str(), error.operation.as_str(), error.code.as_str(), error.kind),
        ("ec2", "DeleteLaunchTemplateVersions", "Unknown", AwsErrorKind::Server),
        "{error:?}"
    );
    assert!(error.is_retryable(), "{error:?}");
    assert!(error.message.starts_with("HTTP 500 with no AWS error in the body"), "{}", error.message);
    assert!(error.message.contains("500 Internal Server Error"), "{}", error.message);

    let image = fixture.image(MAIN_REGION, ImageSpec::named("prune-new").description("EC2_BACKUP")).await;
    let config = Config::from_toml(&format!(
        r#"
        accounts = ["{account}"]
        [[rules]]
        name = "prune"
        on = ["image_created"]
        [[rules.targets]]
        kind = "launch_template"
        id = "{template}"
        keep_versions = 1
        "#,
        account = fixture.account(),
    ))
    .unwrap();
    let keeper = Keeper::new(config, fixture.aws());
    let event = Origin::new(&fixture.account(), MAIN_REGION, "prune").create_image(
        image.as_str(),
        "i-0123456789abcdef0",
        "prune-new",
        "EC2_BACKUP",
    );
    let reports = keeper.handle_payload(event.to_string().as_bytes(), &HandleOptions::default()).await.unwrap();
    let target = &reports[0].targets[0];
    assert_eq!(target.outcome.status, Status::Updated, "{:#?}", reports[0]);
    assert!(
        target.outcome.notes.iter().any(
            |note| note.starts_with("pruning old versions failed") && note.contains("DeleteLaunchTemplateVersions")
        ),
        "{:#?}",
        target.outcome.notes
    );
    let state = fixture.template_state(MAIN_REGION, &template).await;
    assert_eq!((state.default_version, state.latest_version), (4, 4), "{state:?}");
    assert_eq!(state.versions.len(), 4, "nothing was pruned: {state:?}");
    assert_eq!(state.versions.first(), Some(&(4, Some(image))));
}
