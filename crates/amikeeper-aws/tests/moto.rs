//! The SDK backend against `moto_server` on loopback: every conformance scenario, and the
//! error mapping on the emulator's real answers.
//!
//! Each test starts its own `moto_server` (so tests run in parallel). Without moto installed
//! the tests print `skipped: moto not installed ...` and pass, unless `AMIKEEPER_REQUIRE_MOTO=1`
//! (as `scripts/test.sh` sets), which makes them fail. Install with `scripts/setup-python.sh`.
//!
//! The retention operations need `scripts/moto-server` (moto plus `DeleteLaunchTemplateVersions`,
//! `EnableImageDeprecation`, `DeregisterImage`'s `DeleteAssociatedSnapshots`, ...; see
//! `scripts/moto_ext/`): set `AMIKEEPER_MOTO_SERVER=$PWD/scripts/moto-server`, as the script does.

use std::collections::BTreeMap;

use amikeeper::backend::{AutoScalingApi, CloudFormationApi, Ec2Api, SsmApi};
use amikeeper::conformance::{Fixture, ImageSpec, Race, SweepFixture, MAIN_REGION};
use amikeeper::copy::CopyStatus;
use amikeeper::model::{
    ImageId, ImageState, ParameterType, PutParameter, Region, SnapshotState, StackParameterValue, StackUpdate,
    UpdateStack, PROTECTED_TAG,
};
use amikeeper::publish::Status;
use amikeeper::rollback::RollbackStatus;
use amikeeper::samples::Origin;
use amikeeper::testing::{configs, fill};
use amikeeper::{AwsErrorKind, Config, HandleOptions, Keeper, SweepStatus};
use amikeeper_aws::testing::{MotoFixture, MotoServer};
use time::OffsetDateTime;

/// A server and a fixture over it; `None` when moto is not installed (and not required).
async fn moto() -> Option<(MotoServer, MotoFixture)> {
    let server = MotoServer::start()?;
    let fixture = MotoFixture::new(&server).await;
    Some((server, fixture))
}

fn main_region() -> Region {
    Region::new(MAIN_REGION)
}

// Every conformance scenario, one test each, on a server of its own.
amikeeper::conformance_tests!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    MotoFixture::start().await
);

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

/// `DeleteLaunchTemplateVersions` (added to moto by `scripts/moto-server`): the launch template
/// publisher updates the template and prunes the versions it no longer keeps; EC2 refuses the
/// default version and unknown versions, one by one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pruning_launch_template_versions() {
    let Some((_moto, fixture)) = moto().await else { return };
    let aws = fixture.sdk_aws();
    let base = fixture.image(MAIN_REGION, ImageSpec::named("prune-base")).await;
    let template = fixture.launch_template(MAIN_REGION, "prune-web", &base).await;
    for _ in 0..2 {
        fixture.launch_template_version(MAIN_REGION, &template, &base).await;
    }
    assert_eq!(fixture.template_state(MAIN_REGION, &template).await.latest_version, 3);

    // Version 1 is the default: refused, like the unknown version 9; nothing is deleted.
    let refused = aws.delete_launch_template_versions(&main_region(), &template, &[1, 9]).await.unwrap();
    let codes: Vec<_> = refused.iter().map(|(version, why)| (*version, why.split(':').next().unwrap())).collect();
    assert_eq!(codes, [(1, "unexpectedError"), (9, "launchTemplateVersionDoesNotExist")], "{refused:?}");
    assert_eq!(fixture.template_state(MAIN_REGION, &template).await.versions.len(), 3);

    let image = fixture.image(MAIN_REGION, ImageSpec::named("prune-new").description("EC2_BACKUP")).await;
    let config = fill(configs::PRUNE_TEMPLATE, &[("account", &fixture.account()), ("template", &template)]);
    let config = Config::from_toml(&config).unwrap();
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
        !target.outcome.notes.iter().any(|note| note.starts_with("pruning old versions failed")),
        "{:#?}",
        target.outcome.notes
    );
    let state = fixture.template_state(MAIN_REGION, &template).await;
    assert_eq!((state.default_version, state.latest_version), (4, 4), "{state:?}");
    assert_eq!(state.versions, [(4, Some(image.clone()))], "only the newest version is kept: {state:?}");

    // Version numbers are not reused after a deletion.
    assert_eq!(fixture.launch_template_version(MAIN_REGION, &template, &image).await, 5);
}

fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(key, value)| ((*key).to_owned(), (*value).to_owned())).collect()
}

/// The inventory listings: own images (not moto's Amazon AMIs) with their snapshots, own
/// snapshots, volumes by tag key, live instances, every launch template.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inventory_listings() {
    let Some((_moto, fixture)) = moto().await else { return };
    let aws = fixture.sdk_aws();
    let region = main_region();
    let builder = fixture.instance(MAIN_REGION).await;
    let images =
        fixture.images_from(MAIN_REGION, &builder, "inventory-web", &tags(&[("amikeeper:rule", "web")]), 2).await;

    let own = aws.describe_own_images(&region).await.unwrap();
    let own_ids: Vec<_> = own.iter().map(|image| image.id.clone()).collect();
    assert_eq!(own_ids.len(), 2, "only the account's images: {own_ids:?}");
    for image in &images {
        assert!(own_ids.contains(image), "{image} not in {own_ids:?}");
    }
    let first = own.iter().find(|image| image.id == images[0]).unwrap();
    assert_eq!(first.name, "inventory-web-1");
    assert_eq!(first.tags.get("amikeeper:rule").map(String::as_str), Some("web"));
    assert_eq!(first.owner.as_str(), fixture.account());
    assert_eq!(first.deprecated_at, None);
    assert_eq!(first.snapshot_ids.len(), 1, "{first:?}");
    assert!(own[0].created < own[1].created || own[1].created < own[0].created);

    let volume = fixture.volume(MAIN_REGION, &tags(&[("amikeeper:keep", "yes")])).await;
    let untagged = fixture.volume(MAIN_REGION, &BTreeMap::new()).await;
    let manual = fixture.snapshot(MAIN_REGION, &volume, "manual backup", &tags(&[("team", "db")])).await;
    let snapshots = aws.describe_own_snapshots(&region).await.unwrap();
    let mut snapshot_ids: Vec<_> = snapshots.iter().map(|snapshot| snapshot.id.clone()).collect();
    snapshot_ids.sort();
    let mut expected: Vec<_> = own.iter().flat_map(|image| image.snapshot_ids.clone()).collect();
    expected.push(manual.clone());
    expected.sort();
    assert_eq!(snapshot_ids, expected, "own snapshots only");
    let manual = snapshots.iter().find(|snapshot| snapshot.id == manual).unwrap();
    assert_eq!(manual.volume_id.as_deref(), Some(volume.as_str()));
    assert_eq!(manual.description.as_deref(), Some("manual backup"));
    assert_eq!(manual.state, SnapshotState::Completed);
    assert_eq!(manual.tags.get("team").map(String::as_str), Some("db"));

    let instance = fixture.instance_of(MAIN_REGION, Some(&images[0])).await;
    fixture.attach_volume(MAIN_REGION, &volume, &instance, "/dev/sdf").await;
    let volumes = aws.describe_volumes_tagged(&region, "amikeeper:keep").await.unwrap();
    assert_eq!(volumes.len(), 1, "{volumes:?} (untagged {untagged} left out)");
    assert_eq!((volumes[0].id.as_str(), volumes[0].instance_ids.clone()), (volume.as_str(), vec![instance.clone()]));
    assert_eq!(volumes[0].tags.get("amikeeper:keep").map(String::as_str), Some("yes"));

    let stopped = fixture.instance_of(MAIN_REGION, Some(&images[1])).await;
    fixture.stop_instance(MAIN_REGION, &stopped).await;
    let terminated = fixture.instance_of(MAIN_REGION, Some(&images[1])).await;
    fixture.terminate_instance(MAIN_REGION, &terminated).await;
    let instances = aws.describe_instances(&region).await.unwrap();
    let by_id: BTreeMap<_, _> =
        instances.iter().map(|i| (i.id.as_str(), (i.image_id.as_str(), i.state.as_str()))).collect();
    assert_eq!(by_id.get(instance.as_str()), Some(&(images[0].as_str(), "running")), "{by_id:?}");
    assert_eq!(by_id.get(stopped.as_str()), Some(&(images[1].as_str(), "stopped")), "{by_id:?}");
    assert!(!by_id.contains_key(terminated.as_str()), "{by_id:?}");
    assert!(by_id.contains_key(builder.as_str()), "{by_id:?}");

    let web = fixture.launch_template_with_versions(MAIN_REGION, "inventory-web", &images, 2).await;
    let batch = fixture.launch_template(MAIN_REGION, "inventory-batch", &images[0]).await;
    let mut templates = aws.describe_launch_templates(&region).await.unwrap();
    templates.sort_by(|a, b| a.name.cmp(&b.name));
    let templates: Vec<_> =
        templates.iter().map(|t| (t.id.as_str(), t.name.as_str(), t.default_version, t.latest_version)).collect();
    assert_eq!(templates, [(batch.as_str(), "inventory-batch", 1, 1), (web.as_str(), "inventory-web", 2, 2)]);
}

/// `DeregisterImage` with `DeleteAssociatedSnapshots` (honoured by `scripts/moto-server`), and
/// `DeleteSnapshot`: what is gone maps to `NotFound`, a snapshot an image uses is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deregister_and_delete_snapshots() {
    let Some((_moto, fixture)) = moto().await else { return };
    let aws = fixture.sdk_aws();
    let region = main_region();
    let with = fixture.image(MAIN_REGION, ImageSpec::named("deregister-with")).await;
    let without = fixture.image(MAIN_REGION, ImageSpec::named("deregister-without")).await;
    let snapshots_of = |image: &ImageId| {
        let image = image.clone();
        let fixture = &fixture;
        async move {
            let described = fixture.raw_image(MAIN_REGION, image.as_str()).await.expect("the image exists");
            described
                .block_device_mappings()
                .iter()
                .filter_map(|m| m.ebs()?.snapshot_id().map(str::to_owned))
                .collect::<Vec<_>>()
        }
    };
    let with_snapshots = snapshots_of(&with).await;
    let without_snapshots = snapshots_of(&without).await;
    assert_eq!((with_snapshots.len(), without_snapshots.len()), (1, 1));

    // A snapshot an image uses cannot be deleted.
    let in_use = aws.delete_snapshot(&region, &without_snapshots[0]).await.unwrap_err();
    assert_eq!((in_use.code.as_str(), in_use.kind), ("InvalidSnapshot.InUse", AwsErrorKind::Client), "{in_use:?}");

    let deleted = aws.deregister_image(&region, &with, true).await.unwrap();
    assert_eq!(deleted, with_snapshots);
    assert!(fixture.raw_image(MAIN_REGION, with.as_str()).await.is_none());
    let left = fixture.snapshot_ids(MAIN_REGION).await;
    assert!(!left.contains(&with_snapshots[0]), "{left:?}");

    assert!(aws.deregister_image(&region, &without, false).await.unwrap().is_empty());
    assert!(fixture.snapshot_ids(MAIN_REGION).await.contains(&without_snapshots[0]), "the snapshot is kept");
    // Deregistered already: EC2 says `InvalidAMIID.Unavailable`, which the sweep takes as done.
    let again = aws.deregister_image(&region, &without, true).await.unwrap_err();
    assert_eq!((again.code.as_str(), again.kind), ("InvalidAMIID.Unavailable", AwsErrorKind::NotFound), "{again:?}");
    let unknown = aws.deregister_image(&region, &ImageId::new("ami-0123456789abcdef0"), true).await.unwrap_err();
    assert_eq!(unknown.kind, AwsErrorKind::NotFound, "{unknown:?}");

    aws.delete_snapshot(&region, &without_snapshots[0]).await.unwrap();
    assert!(!fixture.snapshot_ids(MAIN_REGION).await.contains(&without_snapshots[0]));
    let gone = aws.delete_snapshot(&region, &without_snapshots[0]).await.unwrap_err();
    assert_eq!((gone.code.as_str(), gone.kind), ("InvalidSnapshot.NotFound", AwsErrorKind::NotFound), "{gone:?}");
}

/// `EnableImageDeprecation` (added by `scripts/moto-server`) and `DisableImage`, as
/// `describe_own_images` and `describe_image` then see them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deprecate_and_disable_images() {
    let Some((_moto, fixture)) = moto().await else { return };
    let aws = fixture.sdk_aws();
    let region = main_region();
    let deprecated = fixture.image(MAIN_REGION, ImageSpec::named("deprecate-me")).await;
    let disabled = fixture.image(MAIN_REGION, ImageSpec::named("disable-me")).await;

    // EC2 rounds to the minute: ask for a whole minute.
    let at =
        (OffsetDateTime::now_utc() + time::Duration::days(2)).replace_second(0).unwrap().replace_nanosecond(0).unwrap();
    aws.enable_image_deprecation(&region, &deprecated, at).await.unwrap();
    aws.disable_image(&region, &disabled).await.unwrap();

    let own = aws.describe_own_images(&region).await.unwrap();
    let find = |id: &ImageId| own.iter().find(|image| &image.id == id).unwrap_or_else(|| panic!("{id} in {own:?}"));
    assert_eq!(find(&deprecated).deprecated_at, Some(at));
    assert_eq!(find(&deprecated).state, ImageState::Available);
    assert_eq!(find(&disabled).state, ImageState::Disabled, "listed with IncludeDisabled");
    assert_eq!(find(&disabled).deprecated_at, None);
    let described = aws.describe_image(&region, &deprecated).await.unwrap().unwrap();
    assert_eq!(described.deprecated_at, Some(at));

    // EC2 refuses a deprecation time in the past, and images that are gone.
    let past = aws.enable_image_deprecation(&region, &deprecated, OffsetDateTime::now_utc() - time::Duration::days(1));
    let past = past.await.unwrap_err();
    assert_eq!((past.code.as_str(), past.kind), ("InvalidParameterValue", AwsErrorKind::Client), "{past:?}");
    let unknown = ImageId::new("ami-0123456789abcdef0");
    let error = aws.enable_image_deprecation(&region, &unknown, at).await.unwrap_err();
    assert_eq!(error.kind, AwsErrorKind::NotFound, "{error:?}");
    let error = aws.disable_image(&region, &unknown).await.unwrap_err();
    assert_eq!(error.kind, AwsErrorKind::NotFound, "{error:?}");
}

/// `CreateTags` on images and snapshots at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_images_and_snapshots() {
    let Some((_moto, fixture)) = moto().await else { return };
    let aws = fixture.sdk_aws();
    let image = fixture.image(MAIN_REGION, ImageSpec::named("tag-me").tag("team", "web")).await;
    let snapshot = aws.describe_image(&main_region(), &image).await.unwrap().unwrap().snapshot_ids[0].clone();
    let marks = tags(&[("amikeeper:expires", "2030-01-01"), ("amikeeper:rule", "web")]);
    aws.create_tags(&main_region(), &[image.to_string(), snapshot.clone()], &marks).await.unwrap();
    let image_tags = fixture.resource_tags(MAIN_REGION, image.as_str()).await;
    assert_eq!(image_tags, tags(&[("amikeeper:expires", "2030-01-01"), ("amikeeper:rule", "web"), ("team", "web")]));
    assert_eq!(fixture.resource_tags(MAIN_REGION, &snapshot).await, marks);
    // Nothing to tag: no call.
    aws.create_tags(&main_region(), &[], &marks).await.unwrap();
}

/// `GetParametersByPath` (recursive, decrypted) and every stack of the region.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameters_by_path_and_every_stack() {
    let Some((_moto, fixture)) = moto().await else { return };
    let aws = fixture.sdk_aws();
    fixture.set_parameter(MAIN_REGION, "/amis/web", "ami-1").await;
    fixture.set_parameter(MAIN_REGION, "/amis/batch/current", "ami-2").await;
    fixture.put_parameter(MAIN_REGION, "/amis/secret", "ami-3", aws_sdk_ssm::types::ParameterType::SecureString).await;
    fixture.set_parameter(MAIN_REGION, "/other/web", "ami-4").await;
    let mut parameters = aws.get_parameters_by_path(&main_region(), "/amis").await.unwrap();
    parameters.sort_by(|a, b| a.name.cmp(&b.name));
    let parameters: Vec<_> = parameters.iter().map(|p| (p.name.as_str(), p.value.as_str(), p.kind)).collect();
    assert_eq!(
        parameters,
        [
            ("/amis/batch/current", "ami-2", ParameterType::String),
            ("/amis/secret", "ami-3", ParameterType::SecureString),
            ("/amis/web", "ami-1", ParameterType::String),
        ]
    );

    fixture.stack(MAIN_REGION, "every-web", BTreeMap::from([("ImageId".to_owned(), "ami-1".to_owned())])).await;
    fixture.stack(MAIN_REGION, "every-batch", BTreeMap::from([("ImageId".to_owned(), "ami-2".to_owned())])).await;
    let mut stacks = aws.describe_stacks(&main_region()).await.unwrap();
    stacks.sort_by(|a, b| a.name.cmp(&b.name));
    let stacks: Vec<_> =
        stacks.iter().map(|s| (s.name.as_str(), s.parameters.get("ImageId").map(String::as_str))).collect();
    assert_eq!(stacks, [("every-batch", Some("ami-2")), ("every-web", Some("ami-1"))]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameter_history_lists_every_version_oldest_first() {
    let Some((_moto, fixture)) = moto().await else { return };
    for value in ["ami-00000000000000001", "ami-00000000000000002", "ami-00000000000000003"] {
        fixture.set_parameter(MAIN_REGION, "/ami/history", value).await;
    }
    let history = fixture.sdk_aws().get_parameter_history(&main_region(), "/ami/history").await.unwrap();
    assert_eq!(
        history,
        [
            (1, "ami-00000000000000001".to_owned()),
            (2, "ami-00000000000000002".to_owned()),
            (3, "ami-00000000000000003".to_owned()),
        ]
    );
    let none = fixture.sdk_aws().get_parameter_history(&main_region(), "/no/such/parameter").await.unwrap();
    assert!(none.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn launch_configurations_name_their_images() {
    let Some((_moto, fixture)) = moto().await else { return };
    let image = fixture.image(MAIN_REGION, ImageSpec::named("lc-image")).await;
    fixture.launch_configuration(MAIN_REGION, "legacy-web", &image).await;
    let configurations = fixture.sdk_aws().describe_launch_configurations(&main_region()).await.unwrap();
    assert_eq!(configurations, [amikeeper::model::LaunchConfiguration { name: "legacy-web".into(), image_id: image }]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deregistration_protection_blocks_deregistering_until_turned_off() {
    let Some((_moto, fixture)) = moto().await else { return };
    let aws = fixture.sdk_aws();
    let region = main_region();
    let image = fixture.image(MAIN_REGION, ImageSpec::named("protected-image")).await;
    aws.set_deregistration_protection(&region, &image, true).await.unwrap();
    let listed = aws.describe_own_images(&region).await.unwrap();
    assert!(listed.iter().find(|i| i.id == image).unwrap().deregistration_protected);
    let refused = aws.deregister_image(&region, &image, true).await.unwrap_err();
    assert_eq!((refused.code.as_str(), refused.kind), ("OperationNotPermitted", AwsErrorKind::Client));
    aws.set_deregistration_protection(&region, &image, false).await.unwrap();
    assert!(!aws.describe_image(&region, &image).await.unwrap().unwrap().deregistration_protected);
    aws.deregister_image(&region, &image, true).await.unwrap();
}

/// Issue 15, finding 2: a protection with the 24-hour cooldown is never amikeeper's, even on an
/// AMI amikeeper protected (its tag still claims it): someone turned it off and on again that
/// way. The SDK backend reads the cooldown from `DeregistrationProtection`, and the sweep keeps
/// the AMI with its protection on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_protection_with_a_cooldown_is_never_amikeepers() {
    let Some((_moto, fixture)) = moto().await else { return };
    let aws = fixture.sdk_aws();
    let region = main_region();
    let image = fixture.image(MAIN_REGION, ImageSpec::named("cooldown-old")).await;
    let newer = fixture.image(MAIN_REGION, ImageSpec::named("cooldown-new")).await;
    // amikeeper's protection and claim, as a handle leaves them.
    aws.set_deregistration_protection(&region, &image, true).await.unwrap();
    let claim = [(PROTECTED_TAG.to_owned(), "true".to_owned())].into();
    aws.create_tags(&region, &[image.to_string()], &claim).await.unwrap();
    let described = aws.describe_image(&region, &image).await.unwrap().unwrap();
    assert!(described.deregistration_protected && !described.deregistration_protection_cooldown);
    assert!(amikeeper::protect::is_amikeepers(&described));
    // Someone turns it on again with the cooldown.
    let ec2 = fixture.ec2(MAIN_REGION);
    ec2.enable_image_deregistration_protection().image_id(image.as_str()).with_cooldown(true).send().await.unwrap();
    let described = aws.describe_image(&region, &image).await.unwrap().unwrap();
    assert!(described.deregistration_protected && described.deregistration_protection_cooldown);
    assert!(!amikeeper::protect::is_amikeepers(&described));

    let config = format!(
        "accounts = [\"{}\"]\n[retention]\n[[retention.images]]\ngroup_by = {{ name_prefix = [\"cooldown-\"] }}\nkeep_newest = 1",
        fixture.account()
    );
    let keeper = Keeper::new(Config::from_toml(&config).unwrap(), fixture.aws());
    let report = keeper.sweep(&region, &amikeeper::SweepOptions::default().apply(true)).await.unwrap();
    let reason = report.plan.images.iter().find(|d| d.image_id == image).unwrap().reason.clone();
    assert_eq!(reason, amikeeper::retain::Reason::Protected, "{:#?}", report.plan.images);
    assert_eq!(report.plan.withdraw_protection_claims, std::slice::from_ref(&image), "{:#?}", report.plan);
    assert_eq!(report.status, SweepStatus::Ok, "{:#?}", report.results);
    let described = aws.describe_image(&region, &image).await.unwrap().unwrap();
    assert!(described.deregistration_protected, "still protected");
    assert_eq!(described.tags.get(PROTECTED_TAG).map(String::as_str), Some("released"), "claim withdrawn");
    assert!(aws.describe_image(&region, &newer).await.unwrap().is_some());
}

/// A sweep assumes a role in a consumer account (moto switches accounts on `AssumeRole`) and
/// keeps the AMI a launch template there names; EC2's reference check (scripts/moto_ext/image_references.py)
/// answers for the candidate, and the Recycle Bin, which moto lacks, is reported unavailable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_account_keeps_the_ami_it_launches() {
    use amikeeper::retain::{ReferenceCheck, UndoCheck};
    use amikeeper::SweepOptions;
    let Some((moto, fixture)) = moto().await else { return };
    const ROLE: &str = "arn:aws:iam::444455556666:role/amikeeper-reader";
    let r = MAIN_REGION;
    let mut images = Vec::new();
    for i in 0..3 {
        images.push(fixture.image(r, ImageSpec::named(format!("shared-{i}")).tag("Role", "shared")).await);
    }
    // In the consumer account, through the same role: a launch template that names images[0].
    let provider = amikeeper_aws::aws_config::sts::AssumeRoleProvider::builder(ROLE)
        .session_name("test")
        .configure(&moto.sdk_config(r).await)
        .build()
        .await;
    let consumer = moto
        .sdk_config(r)
        .await
        .to_builder()
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(provider))
        .build();
    let consumer_ec2 = aws_sdk_ec2::Client::new(&consumer);
    let data = aws_sdk_ec2::types::RequestLaunchTemplateData::builder().image_id(images[0].as_str()).build();
    let created = consumer_ec2
        .create_launch_template()
        .launch_template_name("consumer-web")
        .launch_template_data(data)
        .send()
        .await
        .expect("a template in the consumer account");
    let template = created.launch_template().and_then(|t| t.launch_template_id()).unwrap().to_owned();
    let ours = fixture.ec2(r).describe_launch_templates().send().await.unwrap();
    assert!(ours.launch_templates().iter().all(|t| t.launch_template_id() != Some(&template)), "another account");

    let config = Config::from_toml(&format!(
        "accounts = [\"{}\"]\n[retention]\n[[retention.consumers]]\nrole_arn = \"{ROLE}\"\n\
         [[retention.images]]\ngroup_by = {{ tag = \"Role\" }}\nkeep_newest = 1",
        fixture.account()
    ))
    .unwrap();
    let keeper = Keeper::new(config, fixture.aws());
    let report = keeper.sweep(&main_region(), &SweepOptions::default().apply(false)).await.unwrap();
    let reason = report.plan.images.iter().find(|d| d.image_id == images[0]).unwrap().reason.to_string();
    assert_eq!(reason, format!("in use by account 444455556666: launch template {template} version 1"));
    let retired: Vec<&str> = report.plan.retirements().map(|d| d.image_id.as_str()).collect();
    assert_eq!(retired, [images[1].as_str()]);
    let check = &report.plan.consumers[0];
    assert_eq!((check.account.as_str(), check.images_in_use, check.error.as_ref()), ("444455556666", 1, None));
    assert_eq!(report.plan.image_references, ReferenceCheck::Checked { images: 1, referenced: 0 });
    assert!(matches!(report.plan.recycle_bin, UndoCheck::Unavailable { .. }), "{:?}", report.plan.recycle_bin);
}

/// Many handlers at once on one parameter and one launch template, with every event twice and
/// in no order: the parameter and the template's default end at the newest AMI (no lost
/// update), and no AMI has two versions (no duplicate).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_handlers_end_at_the_newest_ami() {
    use std::sync::Arc;
    let Some((_moto, fixture)) = moto().await else { return };
    let r = MAIN_REGION;
    let mut images = Vec::new();
    for i in 0..8 {
        images.push(fixture.image(r, ImageSpec::named(format!("race-{i}"))).await);
    }
    let aws = fixture.aws();
    let mut described = Vec::new();
    for id in &images {
        described.push(aws.describe_image(&main_region(), id).await.unwrap().expect("the image exists"));
    }
    let newest = described.iter().max_by(|a, b| a.age_key().cmp(&b.age_key())).unwrap().id.clone();
    fixture.set_parameter(r, "/ami/race", images[0].as_str()).await;
    let template = fixture.launch_template(r, "race", &images[0]).await;
    let config = Config::from_toml(&format!(
        "accounts = [\"{}\"]\n[[rules]]\nname = \"race\"\non = [\"backup_job\"]\n[rules.match]\nname_prefix = \"race-\"\n\
         [[rules.targets]]\nkind = \"ssm_parameter\"\nname = \"/ami/race\"\n\
         [[rules.targets]]\nkind = \"launch_template\"\nid = \"{template}\"\n",
        fixture.account()
    ))
    .unwrap();
    let keeper = Arc::new(Keeper::new(config, aws));
    // Every event twice, in an order that is neither oldest-first nor newest-first.
    let origin = Origin::new(&fixture.account(), r, "race");
    let mut order: Vec<usize> = (1..images.len()).chain(1..images.len()).collect();
    order.sort_by_key(|i| (i * 5) % 7);
    let handlers: Vec<_> = order
        .iter()
        .map(|&i| {
            let keeper = keeper.clone();
            let payload = origin.backup_job(images[i].as_str(), "i-0123456789abcdef0", "COMPLETED").to_string();
            tokio::spawn(async move { keeper.handle_payload(payload.as_bytes(), &HandleOptions::default()).await })
        })
        .collect();
    let mut races = 0;
    for handler in handlers {
        let reports = handler.await.expect("no panic").expect("the payload parses");
        for target in reports.iter().flat_map(|r| &r.targets) {
            assert_ne!(target.outcome.status, Status::Failed, "{target:#?}");
            races += target.outcome.notes.iter().filter(|n| n.contains("at the same time")).count();
        }
    }
    eprintln!("{} handlers at once; {races} of their writes met another run's write", order.len());

    assert_eq!(fixture.parameter(r, "/ami/race").await.map(|(value, _)| value), Some(newest.to_string()));
    let state = fixture.template_state(r, &template).await;
    let default_image = state.versions.iter().find(|(n, _)| *n == state.default_version).and_then(|(_, i)| i.clone());
    assert_eq!(default_image, Some(newest.clone()), "{state:?}");
    let mut launched: Vec<&ImageId> = state.versions.iter().filter_map(|(_, image)| image.as_ref()).collect();
    let count = launched.len();
    launched.sort();
    launched.dedup();
    assert_eq!(launched.len(), count, "no AMI has two versions: {state:?}");
}

/// Issue 15, finding 5, against moto: 8 handlers at once over 40 shuffled, duplicated events
/// (AWS Backup and AMI state change events for 7 AMIs), failed runs delivered again as a queue
/// would, over several seeds (`AMIKEEPER_RACE_SEEDS`, default 6), each with its own AMIs, an SSM
/// parameter, a fixed-version parameter and a launch template. In the end: every pointer names
/// the newest AMI (the fixed-version parameter at version 1), no AMI is in two launch template
/// versions, and amikeeper's protection is only on AMIs a pointer names. The race is
/// [`Race`], which `amikeeper`'s tests/races.rs runs on `MemoryAws` with the calls interleaved.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_handlers_with_redelivery_converge() {
    let Some((_moto, fixture)) = moto().await else { return };
    let seeds: u64 = std::env::var("AMIKEEPER_RACE_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(6);
    let mut wrong = Vec::new();
    for seed in 0..seeds {
        let name = format!("race{seed}");
        let mut images = Vec::new();
        for i in 0..8 {
            images.push(fixture.image(MAIN_REGION, ImageSpec::named(format!("{name}-{i}"))).await);
        }
        let race = Race::new(&fixture, MAIN_REGION, &name, images).await;
        let keeper = Keeper::new(race.config(&fixture.account()), fixture.aws());
        let failures = Race::deliver(&keeper, race.events(&fixture.account(), seed)).await;
        eprintln!("seed {seed}: {} of the runs failed and were delivered again", failures.len());
        let mut seed_wrong = race.wrong(&fixture).await;
        if !failures.is_empty() && !seed_wrong.is_empty() {
            seed_wrong.push(format!("failed runs: {failures:#?}"));
        }
        wrong.extend(seed_wrong.into_iter().map(|w| format!("seed {seed}: {w}")));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// `copy_to` against moto: the copy lands in the DR region with the AMI's tags and
/// `amikeeper:copied-from`; the same event again finds it and copies nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_to_copies_once_into_the_dr_region() {
    use amikeeper::conformance::DR_REGION;
    use amikeeper::model::COPIED_FROM_TAG;
    let Some((_moto, fixture)) = moto().await else { return };
    let image = fixture.image(MAIN_REGION, ImageSpec::named("copy-web-1").tag("Role", "web")).await;
    let config = Config::from_toml(&format!(
        "accounts = [\"{}\"]\n[[rules]]\nname = \"web\"\ncopy_to = [\"{DR_REGION}\"]\n[rules.match]\nname_prefix = \
         \"copy-\"\n[[rules.targets]]\nkind = \"ssm_parameter\"\nname = \"/ami/copy-web\"\n",
        fixture.account()
    ))
    .unwrap();
    let keeper = Keeper::new(config, fixture.aws());
    let origin = Origin::new(&fixture.account(), MAIN_REGION, "copy");
    let event = origin.image_state_change(image.as_str(), "available").to_string();
    let report = keeper.handle_payload(event.as_bytes(), &HandleOptions::default()).await.unwrap().remove(0);
    let copy = report.copies.first().expect("one copy");
    assert_eq!((copy.region.as_str(), copy.status), (DR_REGION, CopyStatus::Copied), "{report:#?}");
    let copy_id = copy.image_id.clone().unwrap();
    let tags = fixture.resource_tags(DR_REGION, copy_id.as_str()).await;
    assert_eq!(tags.get("Role").map(String::as_str), Some("web"));
    assert_eq!(tags.get(COPIED_FROM_TAG), Some(&format!("{MAIN_REGION}/{image}")));

    let again = keeper.handle_payload(event.as_bytes(), &HandleOptions::default()).await.unwrap().remove(0);
    assert_eq!(
        (again.copies[0].status, again.copies[0].image_id.as_ref()),
        (CopyStatus::AlreadyCopied, Some(&copy_id))
    );
    let copies = fixture.ec2(DR_REGION).describe_images().owners("self").send().await.unwrap();
    assert_eq!(copies.images().len(), 1, "one copy");
}

/// A fleet sweep against moto: this account in two regions and a second account through a role
/// (moto switches accounts on `AssumeRole`), one report each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_sweep_reports_per_account_and_region() {
    use amikeeper::conformance::DR_REGION;
    use amikeeper::SweepOptions;
    let Some((_moto, fixture)) = moto().await else { return };
    for i in 0..3 {
        fixture.image(MAIN_REGION, ImageSpec::named(format!("fleet-main-{i}")).tag("Role", "fleet")).await;
    }
    for i in 0..2 {
        fixture.image(DR_REGION, ImageSpec::named(format!("fleet-dr-{i}")).tag("Role", "fleet")).await;
    }
    const ROLE: &str = "arn:aws:iam::444455556666:role/amikeeper";
    let config = Config::from_toml(&format!(
        "accounts = [\"{}\"]\n[retention]\n[[retention.images]]\ngroup_by = {{ tag = \"Role\" }}\nkeep_newest = 1\n\
         [[fleet]]\nregions = [\"{MAIN_REGION}\", \"{DR_REGION}\"]\n[[fleet]]\nrole_arn = \"{ROLE}\"\nregions = \
         [\"{MAIN_REGION}\"]\n",
        fixture.account()
    ))
    .unwrap();
    let keeper = Keeper::new(config, fixture.aws());
    let reports = keeper.sweep_fleet(&SweepOptions::default().apply(false)).await;
    let summary: Vec<(Option<&str>, &str, SweepStatus, usize)> = reports
        .iter()
        .map(|r| {
            (
                r.role_arn.as_deref(),
                r.region.as_str(),
                r.status,
                r.report.as_ref().map_or(99, |s| s.summary.images_planned),
            )
        })
        .collect();
    // The other account has no images: its sweep runs and plans nothing.
    assert_eq!(
        summary,
        [
            (None, MAIN_REGION, SweepStatus::Ok, 2),
            (None, DR_REGION, SweepStatus::Ok, 1),
            (Some(ROLE), MAIN_REGION, SweepStatus::Ok, 0)
        ],
        "{reports:#?}"
    );
}

/// `Keeper::bake` against moto (with `scripts/moto-server`'s instance refreshes): the builder
/// instance is imaged, the AMI published to a launch template, a group and a parameter, and the
/// group (which has a running instance) refreshed with the configured preferences. A second
/// bake while that refresh runs moves the pointers again and reports the refresh skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bake_publishes_and_refreshes_the_group() {
    use amikeeper::BakeOptions;
    use aws_sdk_autoscaling::types::LaunchTemplateSpecification;
    let Some((_moto, fixture)) = moto().await else { return };
    let r = MAIN_REGION;
    let builder = fixture.instance(r).await;
    let base = fixture.image(r, ImageSpec::named("bake-base")).await;
    let template = fixture.launch_template(r, "bake-web", &base).await;
    let autoscaling = fixture.autoscaling(r);
    autoscaling
        .create_auto_scaling_group()
        .auto_scaling_group_name("bake-web-asg")
        .launch_template(LaunchTemplateSpecification::builder().launch_template_id(&template).version("1").build())
        .min_size(1)
        .max_size(1)
        .desired_capacity(1)
        .availability_zones(format!("{r}a"))
        .send()
        .await
        .expect("CreateAutoScalingGroup");
    fixture.set_parameter(r, "/ami/bake-web", base.as_str()).await;
    let config = fill(configs::SDK_BAKE, &[("account", &fixture.account()), ("builder", &builder)]);
    let config = Config::from_toml(&config).unwrap();
    let keeper = Keeper::new(config, fixture.aws());
    let outcomes = |report: &amikeeper::Report| -> Vec<(String, Status)> {
        report.targets.iter().map(|t| (format!("{} {}", t.target.kind, t.target.name), t.outcome.status)).collect()
    };
    let expected = |refresh: Status| {
        vec![
            (format!("bake {builder}"), Status::Updated),
            ("launch_template bake-web".to_owned(), Status::Updated),
            ("auto_scaling_group bake-web-asg".to_owned(), Status::Updated),
            ("ssm_parameter /ami/bake-web".to_owned(), Status::Updated),
            ("instance_refresh bake-web-asg".to_owned(), refresh),
        ]
    };

    let report = keeper.bake("moto-bake", &main_region(), &BakeOptions::default()).await.unwrap();
    assert_eq!(report.status, amikeeper::RunStatus::Ok, "{report:#?}");
    assert_eq!(outcomes(&report), expected(Status::Updated), "{report:#?}");
    let baked = ImageId::new(report.targets[0].outcome.to.clone().unwrap());
    let state = fixture.template_state(r, &template).await;
    assert_eq!(state.versions.first(), Some(&(2, Some(baked.clone()))), "{state:?}");
    assert_eq!(fixture.group_template(r, "bake-web-asg").await.map(|s| s.version), Some("2".to_owned()));
    assert_eq!(fixture.parameter(r, "/ami/bake-web").await.map(|(value, _)| value), Some(baked.to_string()));
    let tags = fixture.resource_tags(r, baked.as_str()).await;
    assert_eq!(tags.get(amikeeper::model::RULE_TAG).map(String::as_str), Some("moto-bake"));

    let refreshes = autoscaling
        .describe_instance_refreshes()
        .auto_scaling_group_name("bake-web-asg")
        .send()
        .await
        .expect("DescribeInstanceRefreshes");
    let [refresh] = refreshes.instance_refreshes() else { panic!("one refresh: {refreshes:?}") };
    assert_eq!(refresh.instance_refresh_id(), report.targets[4].outcome.to.as_deref());
    assert_eq!(refresh.status().map(|s| s.as_str()), Some("InProgress"));
    let preferences = refresh.preferences().expect("the preferences it was started with");
    assert_eq!((preferences.min_healthy_percentage(), preferences.instance_warmup()), (Some(50), Some(30)));

    // The next day's bake moves every pointer again; the group's refresh is still running.
    // (moto's CreationDate has one-second resolution: the next AMI must be a second newer.)
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let tomorrow = BakeOptions::default().now(OffsetDateTime::now_utc() + time::Duration::days(1));
    let second = keeper.bake("moto-bake", &main_region(), &tomorrow).await.unwrap();
    assert_eq!(second.status, amikeeper::RunStatus::Ok, "{second:#?}");
    assert_eq!(outcomes(&second), expected(Status::Skipped), "{second:#?}");
    assert!(second.targets[4].outcome.reason.contains("already in progress"), "{second:#?}");
    assert_eq!(fixture.group_template(r, "bake-web-asg").await.map(|s| s.version), Some("3".to_owned()));
    let refreshes = autoscaling.describe_instance_refreshes().auto_scaling_group_name("bake-web-asg").send().await;
    assert_eq!(refreshes.expect("DescribeInstanceRefreshes").instance_refreshes().len(), 1);
}

/// `copy_to` into another account against moto (moto switches accounts on `AssumeRole`, and
/// `scripts/moto-server` lets `CopyImage` read an AMI another account shared): the AMI and its
/// snapshot are shared with the role's account, the copy lands there with the AMI's tags and
/// `amikeeper:copied-from = <account>/<region>/<ami>`, and the same event again finds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_to_another_account_shares_and_copies_there() {
    use amikeeper::conformance::DR_REGION;
    use amikeeper::model::COPIED_FROM_TAG;
    const ROLE: &str = "arn:aws:iam::444455556666:role/amikeeper-dr";
    let Some((_moto, fixture)) = moto().await else { return };
    let image = fixture.image(MAIN_REGION, ImageSpec::named("xcopy-web-1").tag("Role", "web")).await;
    let config = Config::from_toml(&format!(
        "accounts = [\"{}\"]\n[[rules]]\nname = \"web\"\ncopy_to = [{{ region = \"{DR_REGION}\", role_arn = \
         \"{ROLE}\" }}]\n[rules.match]\nname_prefix = \"xcopy-\"\n[[rules.targets]]\nkind = \"ssm_parameter\"\nname \
         = \"/ami/xcopy-web\"\n",
        fixture.account()
    ))
    .unwrap();
    let keeper = Keeper::new(config, fixture.aws());
    let origin = Origin::new(&fixture.account(), MAIN_REGION, "xcopy");
    let event = origin.image_state_change(image.as_str(), "available").to_string();
    let report = keeper.handle_payload(event.as_bytes(), &HandleOptions::default()).await.unwrap().remove(0);
    let copy = report.copies.first().expect("one copy");
    let account = copy.account.as_ref().map(|a| a.as_str());
    assert_eq!(
        (copy.region.as_str(), account, copy.status),
        (DR_REGION, Some("444455556666"), CopyStatus::Copied),
        "{report:#?}"
    );
    let copy_id = copy.image_id.clone().unwrap();

    let dr = fixture.aws().assume_role(ROLE, None).await.unwrap();
    let marker = format!("{}/{MAIN_REGION}/{image}", fixture.account());
    let found = dr.describe_images_tagged(&Region::new(DR_REGION), COPIED_FROM_TAG, &marker).await.unwrap();
    assert_eq!(found.iter().map(|i| &i.id).collect::<Vec<_>>(), [&copy_id], "the copy is in the other account");
    assert_eq!(found[0].owner.as_str(), "444455556666");
    assert_eq!(found[0].tags.get("Role").map(String::as_str), Some("web"));
    let ours = fixture.ec2(DR_REGION).describe_images().owners("self").send().await.unwrap();
    assert!(ours.images().is_empty(), "no copy in this account");

    let again = keeper.handle_payload(event.as_bytes(), &HandleOptions::default()).await.unwrap().remove(0);
    assert_eq!(
        (again.copies[0].status, again.copies[0].image_id.as_ref()),
        (CopyStatus::AlreadyCopied, Some(&copy_id))
    );
}

/// The sweep fails closed on moto (issue 15). No `parameter_paths`: images[0] is named only by a
/// parameter without a leading `/`, images[1] by `/legacy/app/ami`, images[2] by the oldest of
/// a launch template's 12 versions; images[3] by nothing. The reference check unavailable keeps
/// every candidate; answered, it finds the parameters; `image_references = "scan_only"` finds
/// them itself (DescribeParameters, GetParameters) and an Image Builder recipe; each listing
/// denied keeps every image.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_fails_closed_on_moto() {
    use amikeeper::retain::ReferenceCheck;
    use amikeeper::{SweepOptions, SweepReport};
    let Some((moto, fixture)) = moto().await else { return };
    let r = MAIN_REGION;
    let mut images = Vec::new();
    for i in 0..5 {
        images.push(fixture.image(r, ImageSpec::named(format!("closed-{i}")).tag("Role", "closed")).await);
    }
    fixture.set_parameter(r, "i-0aaaaaaaaaaaaaaaa", images[0].as_str()).await;
    fixture.set_parameter(r, "/legacy/app/ami", images[1].as_str()).await;
    let template = fixture.launch_template(r, "closed-web", &images[2]).await;
    for _ in 2..=12 {
        fixture.template_version(r, &template, &images[4], true).await;
    }
    let sweep = |extra: &'static str, apply: bool| {
        let aws = fixture.aws();
        let account = fixture.account();
        async move {
            let config = Config::from_toml(&format!(
                "accounts = [\"{account}\"]\nprotect_published = false\n[retention]\n{extra}\n\
                 [[retention.images]]\ngroup_by = {{ tag = \"Role\" }}\nkeep_newest = 1"
            ))
            .unwrap();
            Keeper::new(config, aws).sweep(&main_region(), &SweepOptions::default().apply(apply)).await.unwrap()
        }
    };
    let reason = |report: &SweepReport, i: usize| {
        report.plan.images.iter().find(|d| d.image_id == images[i]).unwrap().reason.to_string()
    };
    let retired =
        |report: &SweepReport| -> Vec<String> { report.plan.retirements().map(|d| d.image_id.to_string()).collect() };
    let before = fixture.own_images(r).await.len();

    // The reference check unavailable: nothing is retired, even when applying.
    moto.set_unavailable(&["ec2:DescribeImageReferences"]);
    let report = sweep("", true).await;
    assert!(retired(&report).is_empty(), "{:#?}", report.plan.images);
    let ReferenceCheck::Unavailable { error, images_kept } = &report.plan.image_references else {
        panic!("{:?}", report.plan.image_references)
    };
    assert!(error.contains("InvalidAction"), "{error}");
    assert_eq!(*images_kept, 3);
    assert!(reason(&report, 0).contains("ec2:DescribeImageReferences could not be read"), "{}", reason(&report, 0));
    assert!(reason(&report, 2).contains("version 1"), "{}", reason(&report, 2));
    assert_eq!(fixture.own_images(r).await.len(), before, "nothing deregistered");

    // Answered: the check finds both parameters.
    moto.set_unavailable(&[]);
    let report = sweep("", false).await;
    assert_eq!(retired(&report), [images[3].to_string()]);
    assert!(reason(&report, 0).contains("parameter/i-0aaaaaaaaaaaaaaaa"), "{}", reason(&report, 0));
    assert!(reason(&report, 1).contains("parameter/legacy/app/ami"), "{}", reason(&report, 1));

    // The scan alone, with the check unavailable, finds them itself.
    moto.set_unavailable(&["ec2:DescribeImageReferences"]);
    let report = sweep("image_references = \"scan_only\"", false).await;
    assert_eq!(retired(&report), [images[3].to_string()], "{:#?}", report.plan.images);
    assert_eq!(reason(&report, 0), "in use by SSM parameter i-0aaaaaaaaaaaaaaaa");
    assert_eq!(reason(&report, 1), "in use by SSM parameter /legacy/app/ami");
    assert!(reason(&report, 2).contains("version 1"), "{}", reason(&report, 2));
    // An Image Builder recipe building from images[3] keeps it too.
    let imagebuilder = aws_sdk_imagebuilder::Client::new(&moto.sdk_config(r).await);
    let component = "arn:aws:imagebuilder:us-east-1:aws:component/update-linux/1.0.0";
    let recipe = imagebuilder
        .create_image_recipe()
        .name("closed-recipe")
        .semantic_version("1.0.0")
        .components(
            aws_sdk_imagebuilder::types::ComponentConfiguration::builder().component_arn(component).build().unwrap(),
        )
        .parent_image(images[3].as_str())
        .client_token("closed-recipe")
        .send()
        .await
        .unwrap();
    let arn = recipe.image_recipe_arn().unwrap().to_owned();
    let report = sweep("image_references = \"scan_only\"", false).await;
    assert!(retired(&report).is_empty(), "{:#?}", report.plan.images);
    assert_eq!(reason(&report, 3), format!("in use by imagebuilder:ImageRecipe {arn}"));

    // Each listing denied keeps every image, naming the listing.
    for (api, extra) in [
        ("ec2:DescribeInstances", ""),
        ("ec2:DescribeLaunchTemplateVersions", ""),
        ("autoscaling:DescribeAutoScalingGroups", ""),
        ("autoscaling:DescribeLaunchConfigurations", ""),
        ("cloudformation:DescribeStacks", ""),
        ("ssm:DescribeParameters", "image_references = \"scan_only\""),
        ("imagebuilder", "image_references = \"scan_only\""),
    ] {
        moto.set_unavailable(&[api]);
        let report = sweep(extra, true).await;
        assert!(retired(&report).is_empty(), "{api}: {:#?}", report.plan.images);
        let why = reason(&report, 3);
        let listing = if api == "imagebuilder" { "imagebuilder:ListImageRecipes" } else { api };
        assert!(why.contains(&format!("{listing} could not be read")), "{api}: {why}");
        assert_eq!(fixture.own_images(r).await.len(), before, "{api}: nothing deregistered");
    }
    moto.set_unavailable(&[]);
}

/// Allowed AMIs on the emulator (`scripts/moto_ext/allowed_images.py` adds the setting and `ImageAllowed`):
/// one of moto's Amazon-owned default AMIs (owner alias `amazon`) is published to a parameter
/// when the setting is disabled, or enabled with `amazon` among the providers; with a warning
/// in audit mode when it is not allowed; and refused, nothing written, when enabled and not
/// allowed. A rollback to it is refused the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_amis_refuse_warn_or_publish() {
    use amikeeper::model::AllowedImagesState;
    use amikeeper::rollback::{RollbackOptions, RollbackTarget};
    use amikeeper::RunStatus;
    use aws_sdk_ec2::types::{AllowedImagesSettingsEnabledState, ImageCriterionRequest};
    let Some((_moto, fixture)) = moto().await else { return };
    let aws = fixture.sdk_aws();
    let ec2 = fixture.ec2(MAIN_REGION);
    let region = main_region();
    // A public AMI of moto's default set, owned by Amazon.
    const AMAZON_AMI: &str = "ami-03cf127a";
    let amazon = ImageId::new(AMAZON_AMI);
    let described = aws.describe_image(&region, &amazon).await.unwrap().expect("moto's default AMI");
    assert_ne!(described.owner.as_str(), fixture.account());
    assert_eq!(described.allowed, None, "no ImageAllowed while the setting is disabled");
    assert_eq!(aws.get_allowed_images_settings(&region).await.unwrap().state, AllowedImagesState::Disabled);

    let config = Config::from_toml(&format!(
        "accounts = [\"{}\"]\nprotect_published = false\n[[rules]]\nname = \"amazon\"\n[rules.match]\n\
         image_ids = [\"{AMAZON_AMI}\"]\n[[rules.targets]]\nkind = \"ssm_parameter\"\nname = \"/ami/base\"\n",
        fixture.account()
    ))
    .unwrap();
    let keeper = Keeper::new(config, fixture.aws());
    let handle = |id: &'static str| {
        let keeper = &keeper;
        let event = Origin::new(&fixture.account(), MAIN_REGION, id).image_state_change(AMAZON_AMI, "available");
        async move {
            keeper.handle_payload(event.to_string().as_bytes(), &HandleOptions::default()).await.unwrap().remove(0)
        }
    };
    let parameter = || async { aws.get_parameter(&region, "/ami/base").await.unwrap().map(|p| p.value) };
    let criteria = |providers: &[&str]| {
        let criterion = ImageCriterionRequest::builder()
            .set_image_providers(Some(providers.iter().map(|p| p.to_string()).collect()));
        ec2.replace_image_criteria_in_allowed_images_settings().image_criteria(criterion.build()).send()
    };
    let state = |state: AllowedImagesSettingsEnabledState| {
        ec2.enable_allowed_images_settings().allowed_images_settings_state(state).send()
    };

    // Enabled, and only another account's AMIs allowed: EC2 does not even show it. Refused.
    criteria(&["999988887777"]).await.unwrap();
    state(AllowedImagesSettingsEnabledState::Enabled).await.unwrap();
    assert_eq!(aws.describe_image(&region, &amazon).await.unwrap(), None);
    let report = handle("allowed-enabled").await;
    assert_eq!(report.status, RunStatus::Refused, "{report:?}");
    assert!(report.reason.as_deref().unwrap().contains("Allowed AMIs is enabled"), "{report:?}");
    assert_eq!(parameter().await, None, "nothing written");
    fixture
        .put_parameter(MAIN_REGION, "/ami/base", "ami-0123456789abcdef0", aws_sdk_ssm::types::ParameterType::String)
        .await;
    let targets: Vec<RollbackTarget> = vec!["ssm_parameter:/ami/base".parse().unwrap()];
    let options = RollbackOptions::default().to(amazon.clone());
    let rollback = keeper.rollback(&region, &targets, &options).await;
    assert_eq!(rollback.status, RollbackStatus::Refused, "{rollback:?}");
    assert!(rollback.targets[0].outcome.reason.contains("Allowed AMIs is enabled"), "{rollback:?}");
    assert_eq!(parameter().await.as_deref(), Some("ami-0123456789abcdef0"), "nothing written");
    aws.delete_parameter(&region, "/ami/base").await.unwrap();

    // Audit mode: ImageAllowed false, published with a warning.
    state(AllowedImagesSettingsEnabledState::AuditMode).await.unwrap();
    assert_eq!(aws.describe_image(&region, &amazon).await.unwrap().unwrap().allowed, Some(false));
    let report = handle("allowed-audit").await;
    assert_eq!(report.status, RunStatus::Ok, "{report:?}");
    assert_eq!(report.warnings.len(), 1, "{report:?}");
    assert!(report.warnings[0].contains("audit mode"));
    assert_eq!(parameter().await.as_deref(), Some(AMAZON_AMI));

    // Enabled, and Amazon's AMIs allowed: published, no warning.
    criteria(&["amazon"]).await.unwrap();
    state(AllowedImagesSettingsEnabledState::Enabled).await.unwrap();
    let settings = aws.get_allowed_images_settings(&region).await.unwrap();
    assert_eq!(settings.state, AllowedImagesState::Enabled);
    assert_eq!(settings.image_criteria[0].image_providers, ["amazon"]);
    assert_eq!(aws.describe_image(&region, &amazon).await.unwrap().unwrap().allowed, Some(true));
    aws.delete_parameter(&region, "/ami/base").await.unwrap();
    let report = handle("allowed-allowed").await;
    assert_eq!((report.status, report.warnings.len()), (RunStatus::Ok, 0), "{report:?}");
    assert_eq!(parameter().await.as_deref(), Some(AMAZON_AMI));

    // Disabled: published as before.
    ec2.disable_allowed_images_settings().send().await.unwrap();
    aws.delete_parameter(&region, "/ami/base").await.unwrap();
    let report = handle("allowed-disabled").await;
    assert_eq!((report.status, report.warnings.len()), (RunStatus::Ok, 0), "{report:?}");
    assert_eq!(parameter().await.as_deref(), Some(AMAZON_AMI));
}
