use super::convert::*;
use super::*;
use amikeeper::model::{ImageState, SnapshotState};
use time::macros::datetime;

#[test]
fn image_reference_maps_every_field() {
    let sdk = ec2::ImageReference::builder()
        .image_id("ami-1")
        .resource_type(ec2::ImageReferenceResourceType::SsmParameter)
        .arn("arn:aws:ssm:us-east-1:111122223333:parameter/web/ami")
        .build();
    let reference = image_reference_from_sdk(&sdk).unwrap();
    assert_eq!(reference.image_id.as_str(), "ami-1");
    assert_eq!(reference.resource_type, "ssm:Parameter");
    assert_eq!(reference.arn, "arn:aws:ssm:us-east-1:111122223333:parameter/web/ami");
    // A resource type newer than the SDK is kept as AWS spells it.
    let newer = ec2::ImageReference::builder()
        .image_id("ami-1")
        .resource_type(ec2::ImageReferenceResourceType::from("batch:ComputeEnvironment"))
        .build();
    assert_eq!(image_reference_from_sdk(&newer).unwrap().resource_type, "batch:ComputeEnvironment");
    let error = image_reference_from_sdk(&ec2::ImageReference::builder().arn("arn:x").build()).unwrap_err();
    assert_eq!((error.code.as_str(), error.operation.as_str()), ("InvalidResponse", "DescribeImageReferences"));
}

#[test]
fn image_maps_every_field() {
    let sdk = ec2::Image::builder()
        .image_id("ami-0123456789abcdef0")
        .name("web-2024-01-02")
        .description("web server")
        .state(ec2::ImageState::Available)
        .creation_date("2024-01-02T03:04:05.000Z")
        .owner_id("111122223333")
        .tags(ec2::Tag::builder().key("amikeeper:rule").value("web").build())
        .tags(ec2::Tag::builder().key("Name").value("web").build())
        .block_device_mappings(
            ec2::BlockDeviceMapping::builder()
                .device_name("/dev/xvda")
                .ebs(ec2::EbsBlockDevice::builder().snapshot_id("snap-1").build())
                .build(),
        )
        .block_device_mappings(
            ec2::BlockDeviceMapping::builder().device_name("/dev/sdb").virtual_name("ephemeral0").build(),
        )
        .block_device_mappings(
            ec2::BlockDeviceMapping::builder()
                .device_name("/dev/sdc")
                .ebs(ec2::EbsBlockDevice::builder().snapshot_id("snap-2").build())
                .build(),
        )
        .build();
    let image = image_from_sdk(&sdk).unwrap();
    assert_eq!(image.id.as_str(), "ami-0123456789abcdef0");
    assert_eq!(image.name, "web-2024-01-02");
    assert_eq!(image.description.as_deref(), Some("web server"));
    assert_eq!(image.state, ImageState::Available);
    assert_eq!(image.created, datetime!(2024-01-02 03:04:05 UTC));
    assert_eq!(image.owner.as_str(), "111122223333");
    assert_eq!(image.tags.get("amikeeper:rule").map(String::as_str), Some("web"));
    assert_eq!(image.tags.len(), 2);
    assert_eq!(image.snapshot_ids, ["snap-1", "snap-2"]);
    assert_eq!(image.deprecated_at, None);
}

/// `ami-1` with only a creation date and what `more` sets, as amikeeper reads it.
fn minimal_image(more: impl FnOnce(ec2::builders::ImageBuilder) -> ec2::builders::ImageBuilder) -> Image {
    image_from_sdk(&more(ec2::Image::builder().image_id("ami-1").creation_date("2024-01-02T03:04:05Z")).build())
        .unwrap()
}

#[test]
fn deregistration_protection_is_read_with_its_cooldown() {
    let image = |protection: &str| {
        let image = minimal_image(|sdk| sdk.deregistration_protection(protection));
        (image.deregistration_protected, image.deregistration_protection_cooldown)
    };
    assert_eq!(image("disabled"), (false, false));
    assert_eq!(image("enabled-without-cooldown"), (true, false));
    assert_eq!(image("enabled"), (true, false), "moto's spelling");
    assert_eq!(image("enabled-with-cooldown"), (true, true));
    assert_eq!(image("enabled-until-further-notice"), (true, true), "an unknown way is never amikeeper's");
}

#[test]
fn image_deprecation_time_is_read_tolerantly() {
    let image = |deprecation: &str| minimal_image(|sdk| sdk.deprecation_time(deprecation)).deprecated_at;
    assert_eq!(image("2025-03-04T05:06:00.000Z"), Some(datetime!(2025-03-04 05:06 UTC)));
    assert_eq!(image("2025-03-04T05:06:00Z"), Some(datetime!(2025-03-04 05:06 UTC)));
    assert_eq!(image(""), None);
    assert_eq!(image("next tuesday"), None);
}

#[test]
fn last_launched_time_is_read() {
    let sdk = ec2::Image::builder()
        .image_id("ami-1")
        .creation_date("2024-01-02T03:04:05Z")
        .last_launched_time("2025-06-07T08:09:10Z")
        .build();
    assert_eq!(image_from_sdk(&sdk).unwrap().last_launched, Some(datetime!(2025-06-07 08:09:10 UTC)));
    let never = ec2::Image::builder().image_id("ami-2").creation_date("2024-01-02T03:04:05Z").build();
    assert_eq!(image_from_sdk(&never).unwrap().last_launched, None);
}

#[test]
fn snapshot_maps_every_field() {
    let sdk = ec2::Snapshot::builder()
        .snapshot_id("snap-1")
        .volume_id("vol-1")
        .state(ec2::SnapshotState::Completed)
        .start_time(aws_smithy_types::DateTime::from_secs(1_704_164_645))
        .description("Created by CreateImage(i-1) for ami-1")
        .tags(ec2::Tag::builder().key("team").value("web").build())
        .build();
    let snapshot = snapshot_from_sdk(&sdk).unwrap();
    assert_eq!(
        snapshot,
        Snapshot {
            id: "snap-1".into(),
            volume_id: Some("vol-1".into()),
            state: SnapshotState::Completed,
            started: datetime!(2024-01-02 03:04:05 UTC),
            description: Some("Created by CreateImage(i-1) for ami-1".into()),
            tags: [("team".to_owned(), "web".to_owned())].into(),
        }
    );
    for (sdk, state) in [
        (ec2::SnapshotState::Pending, SnapshotState::Pending),
        (ec2::SnapshotState::Error, SnapshotState::Error),
        (ec2::SnapshotState::Recoverable, SnapshotState::Other),
    ] {
        let snapshot = ec2::Snapshot::builder()
            .snapshot_id("snap-1")
            .state(sdk)
            .start_time(aws_smithy_types::DateTime::from_secs(0))
            .build();
        assert_eq!(snapshot_from_sdk(&snapshot).unwrap().state, state);
    }
    let ageless = ec2::Snapshot::builder().snapshot_id("snap-1").build();
    let error = snapshot_from_sdk(&ageless).unwrap_err();
    assert_eq!((error.code.as_str(), error.operation.as_str()), ("InvalidResponse", "DescribeSnapshots"));
}

#[test]
fn volumes_and_instances() {
    let volume = ec2::Volume::builder()
        .volume_id("vol-1")
        .attachments(ec2::VolumeAttachment::builder().instance_id("i-1").build())
        .tags(ec2::Tag::builder().key("amikeeper:keep").value("").build())
        .build();
    assert_eq!(
        volume_from_sdk(&volume).unwrap(),
        Volume {
            id: "vol-1".into(),
            instance_ids: vec!["i-1".into()],
            tags: [("amikeeper:keep".to_owned(), String::new())].into()
        }
    );
    let instance = |state: ec2::InstanceStateName, image: Option<&str>| {
        let sdk = ec2::Instance::builder()
            .instance_id("i-1")
            .set_image_id(image.map(str::to_owned))
            .state(ec2::InstanceState::builder().name(state).build())
            .build();
        instance_from_sdk(&sdk).unwrap()
    };
    assert_eq!(
        instance(ec2::InstanceStateName::Stopped, Some("ami-1")),
        Some(Instance { id: "i-1".into(), image_id: ImageId::new("ami-1"), state: "stopped".into() })
    );
    assert_eq!(instance(ec2::InstanceStateName::Terminated, Some("ami-1")), None);
    assert_eq!(instance(ec2::InstanceStateName::Running, None), None);
}

#[test]
fn only_successfully_deleted_snapshots_count() {
    let result = |id: &str, code: ec2::SnapshotReturnCodes| {
        ec2::DeleteSnapshotReturnCode::builder().snapshot_id(id).return_code(code).build()
    };
    let results = [
        result("snap-1", ec2::SnapshotReturnCodes::Success),
        result("snap-2", ec2::SnapshotReturnCodes::WarnSkipped),
        result("snap-3", ec2::SnapshotReturnCodes::ErrorCodeClientError),
    ];
    assert_eq!(deleted_snapshots(&ImageId::new("ami-1"), &results), ["snap-1"]);
}

#[test]
fn datetimes_round_trip_through_the_sdk() {
    let at = datetime!(2025-03-04 05:06:07.5 UTC);
    let sdk = datetime_to_sdk(at);
    assert_eq!(sdk.secs(), at.unix_timestamp());
    assert_eq!(datetime_from_sdk(&sdk), Some(at));
}

#[test]
fn image_states() {
    for (sdk, state) in [
        (ec2::ImageState::Pending, ImageState::Pending),
        (ec2::ImageState::Failed, ImageState::Failed),
        (ec2::ImageState::Deregistered, ImageState::Deregistered),
        (ec2::ImageState::Disabled, ImageState::Disabled),
        (ec2::ImageState::Error, ImageState::Other),
        (ec2::ImageState::from("something-new"), ImageState::Other),
    ] {
        let image = ec2::Image::builder().image_id("ami-1").state(sdk).creation_date("2024-01-02T03:04:05Z").build();
        assert_eq!(image_from_sdk(&image).unwrap().state, state);
    }
    let no_state = ec2::Image::builder().image_id("ami-1").creation_date("2024-01-02T03:04:05Z").build();
    assert_eq!(image_from_sdk(&no_state).unwrap().state, ImageState::Other);
}

#[test]
fn image_creation_date_keeps_fractions_and_offsets() {
    let image = ec2::Image::builder().image_id("ami-1").creation_date("2024-01-02T03:04:05.123+09:00").build();
    let created = image_from_sdk(&image).unwrap().created;
    assert_eq!(created, datetime!(2024-01-02 03:04:05.123 +09:00));
}

#[test]
fn image_without_a_readable_date_is_an_error() {
    let missing = ec2::Image::builder().image_id("ami-1").build();
    let error = image_from_sdk(&missing).unwrap_err();
    assert_eq!((error.code.as_str(), error.operation.as_str()), ("InvalidResponse", "DescribeImages"));
    let garbled = ec2::Image::builder().image_id("ami-1").creation_date("yesterday").build();
    assert!(image_from_sdk(&garbled).unwrap_err().message.contains("yesterday"));
}

#[test]
fn launch_template_and_versions() {
    let sdk = ec2::LaunchTemplate::builder()
        .launch_template_id("lt-1")
        .launch_template_name("web")
        .default_version_number(3)
        .latest_version_number(5)
        .tags(ec2::Tag::builder().key("team").value("web").build())
        .build();
    let template = launch_template_from_sdk(&sdk).unwrap();
    assert_eq!(
        template,
        LaunchTemplate {
            id: "lt-1".into(),
            name: "web".into(),
            default_version: 3,
            latest_version: 5,
            tags: [("team".to_owned(), "web".to_owned())].into(),
        }
    );

    let version = ec2::LaunchTemplateVersion::builder()
        .launch_template_id("lt-1")
        .version_number(4)
        .version_description("amikeeper: ami-2")
        .default_version(true)
        .launch_template_data(ec2::ResponseLaunchTemplateData::builder().image_id("ami-2").build())
        .build();
    assert_eq!(
        launch_template_version_from_sdk(&version).unwrap(),
        LaunchTemplateVersion {
            number: 4,
            image_id: Some(ImageId::new("ami-2")),
            description: Some("amikeeper: ami-2".into()),
            is_default: true,
            created: None,
        }
    );
    let bare = ec2::LaunchTemplateVersion::builder().version_number(1).build();
    let bare = launch_template_version_from_sdk(&bare).unwrap();
    assert_eq!((bare.image_id, bare.is_default), (None, false));
}

#[test]
fn refused_versions_say_code_and_message() {
    let items = [ec2::DeleteLaunchTemplateVersionsResponseErrorItem::builder()
        .launch_template_id("lt-1")
        .version_number(3)
        .response_error(
            ec2::ResponseError::builder()
                .code(ec2::LaunchTemplateErrorCode::LaunchTemplateVersionDoesNotExist)
                .message("version 3 does not exist")
                .build(),
        )
        .build()];
    assert_eq!(
        refused_versions(&items),
        [(3, "launchTemplateVersionDoesNotExist: version 3 does not exist".to_owned())]
    );
}
