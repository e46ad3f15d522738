//! `SdkAws` against canned AWS responses: a stub HTTP client answers each request by its
//! `Action` (query protocols) or `X-Amz-Target` (SSM's JSON protocol). Checks what the SDK
//! layer adds over the model conversions: not-found answers, pagination, the request sent.

mod common;

use std::sync::{Arc, Mutex};

use amikeeper::backend::{AutoScalingApi, CloudFormationApi, Ec2Api, SsmApi};
use amikeeper::model::{
    AutoScalingGroup, CreateLaunchTemplateVersion, ImageId, ImageState, Instance, LaunchTemplateSpec, Region, Snapshot,
    SnapshotState, StackParameterValue, StackUpdate, UpdateStack, Volume,
};
use amikeeper::AwsErrorKind;
use amikeeper_aws::SdkAws;
use aws_smithy_http_client::test_util::infallible_client_fn;
use aws_smithy_types::body::SdkBody;
use time::macros::datetime;

/// One request as the stub saw it.
#[derive(Debug, Clone)]
struct Seen {
    host: String,
    /// The `Action` of a query request, or the `X-Amz-Target` of a JSON one.
    action: String,
    body: String,
}

type Handler = dyn Fn(&Seen, usize) -> (u16, String) + Send + Sync;

/// An `SdkAws` whose every call is answered by `handler(request, index of the request)`.
async fn stubbed(
    handler: impl Fn(&Seen, usize) -> (u16, String) + Send + Sync + 'static,
) -> (SdkAws, Arc<Mutex<Vec<Seen>>>) {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let log = seen.clone();
    let handler: Arc<Handler> = Arc::new(handler);
    let http = infallible_client_fn(move |request: http::Request<SdkBody>| {
        let body = String::from_utf8(request.body().bytes().unwrap_or_default().to_vec()).unwrap();
        let action = match request.headers().get("x-amz-target") {
            Some(target) => target.to_str().unwrap().to_owned(),
            None => body.split('&').find_map(|pair| pair.strip_prefix("Action=")).unwrap_or_default().to_owned(),
        };
        let request = Seen { host: request.uri().host().unwrap_or_default().to_owned(), action, body };
        let index = {
            let mut log = log.lock().unwrap();
            log.push(request.clone());
            log.len() - 1
        };
        let (status, body) = handler(&request, index);
        http::Response::builder().status(status).body(body).unwrap()
    });
    (common::sdk_aws_over(http, 1).await, seen)
}

fn ec2_error(code: &str, message: &str) -> (u16, String) {
    (
        400,
        format!(
            "<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>\
             <RequestID>req-1</RequestID></Response>"
        ),
    )
}

fn query_error(code: &str, message: &str) -> (u16, String) {
    (
        400,
        format!(
            "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>\
             <RequestId>req-1</RequestId></ErrorResponse>"
        ),
    )
}

fn singapore() -> Region {
    Region::new("ap-southeast-1")
}

#[tokio::test]
async fn describe_image_in_the_event_region() {
    let (aws, seen) = stubbed(|_, _| {
        (
            200,
            r#"<DescribeImagesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
                <requestId>req-1</requestId>
                <imagesSet><item>
                    <imageId>ami-1</imageId><name>web-1</name><imageState>available</imageState>
                    <creationDate>2024-01-02T03:04:05.000Z</creationDate><imageOwnerId>111122223333</imageOwnerId>
                    <tagSet><item><key>amikeeper:rule</key><value>web</value></item></tagSet>
                    <blockDeviceMapping><item><deviceName>/dev/xvda</deviceName><ebs><snapshotId>snap-1</snapshotId></ebs></item></blockDeviceMapping>
                </item></imagesSet>
            </DescribeImagesResponse>"#
                .to_owned(),
        )
    })
    .await;
    let image = aws.describe_image(&singapore(), &ImageId::new("ami-1")).await.unwrap().unwrap();
    assert_eq!(image.state, ImageState::Available);
    assert_eq!(image.snapshot_ids, ["snap-1"]);
    assert_eq!(image.tags["amikeeper:rule"], "web");
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].host, "ec2.ap-southeast-1.amazonaws.com");
    assert_eq!(seen[0].action, "DescribeImages");
    assert!(seen[0].body.contains("ImageId.1=ami-1"), "{}", seen[0].body);
}

#[tokio::test]
async fn describe_image_not_found_or_malformed_is_none() {
    let (aws, _) = stubbed(|_, index| {
        if index == 0 {
            ec2_error("InvalidAMIID.NotFound", "The image id '[ami-1]' does not exist")
        } else {
            ec2_error("InvalidAMIID.Malformed", "Invalid id: \"nope\"")
        }
    })
    .await;
    assert_eq!(aws.describe_image(&singapore(), &ImageId::new("ami-1")).await.unwrap(), None);
    assert_eq!(aws.describe_image(&singapore(), &ImageId::new("nope")).await.unwrap(), None);
}

#[tokio::test]
async fn other_errors_are_mapped() {
    let (aws, _) = stubbed(|_, _| ec2_error("RequestLimitExceeded", "Request limit exceeded.")).await;
    let error = aws.describe_image(&singapore(), &ImageId::new("ami-1")).await.unwrap_err();
    assert_eq!(
        (error.service.as_str(), error.operation.as_str(), error.code.as_str(), error.kind),
        ("ec2", "DescribeImages", "RequestLimitExceeded", AwsErrorKind::Throttling)
    );
    assert_eq!(error.message, "Request limit exceeded.");
    // The SDK retried it (as its retry configuration says): amikeeper's layer does not again.
    assert!(error.retries_exhausted && !error.may_retry(), "{error:?}");
}

#[tokio::test]
async fn launch_template_versions_all_pages_newest_first() {
    let (aws, seen) = stubbed(|request, _| {
        let page = if request.body.contains("NextToken=page2") {
            "<item><versionNumber>1</versionNumber><launchTemplateData><imageId>ami-1</imageId></launchTemplateData></item>"
        } else {
            "<item><versionNumber>2</versionNumber><defaultVersion>true</defaultVersion><launchTemplateData><imageId>ami-2</imageId></launchTemplateData></item>\
             <item><versionNumber>3</versionNumber><launchTemplateData/></item>"
        };
        let next = if request.body.contains("NextToken") { "" } else { "<nextToken>page2</nextToken>" };
        (
            200,
            format!(
                "<DescribeLaunchTemplateVersionsResponse><requestId>r</requestId>\
                 <launchTemplateVersionSet>{page}</launchTemplateVersionSet>{next}</DescribeLaunchTemplateVersionsResponse>"
            ),
        )
    })
    .await;
    let versions = aws.describe_launch_template_versions(&singapore(), "lt-1").await.unwrap();
    let numbers: Vec<_> =
        versions.iter().map(|v| (v.number, v.image_id.clone().map(|i| i.as_str().to_owned()), v.is_default)).collect();
    assert_eq!(numbers, [(3, None, false), (2, Some("ami-2".to_owned()), true), (1, Some("ami-1".to_owned()), false)]);
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn create_version_and_delete_versions() {
    let (aws, seen) = stubbed(|request, _| match request.action.as_str() {
        "CreateLaunchTemplateVersion" => (
            200,
            "<CreateLaunchTemplateVersionResponse><requestId>r</requestId><launchTemplateVersion>\
             <launchTemplateId>lt-1</launchTemplateId><versionNumber>7</versionNumber>\
             </launchTemplateVersion></CreateLaunchTemplateVersionResponse>"
                .to_owned(),
        ),
        "DeleteLaunchTemplateVersions" => (
            200,
            "<DeleteLaunchTemplateVersionsResponse><requestId>r</requestId>\
             <successfullyDeletedLaunchTemplateVersionSet><item><launchTemplateId>lt-1</launchTemplateId><versionNumber>2</versionNumber></item></successfullyDeletedLaunchTemplateVersionSet>\
             <unsuccessfullyDeletedLaunchTemplateVersionSet><item><launchTemplateId>lt-1</launchTemplateId><versionNumber>6</versionNumber>\
             <responseError><code>launchTemplateVersionIsDefaultVersion</code><message>Cannot delete the default version.</message></responseError>\
             </item></unsuccessfullyDeletedLaunchTemplateVersionSet></DeleteLaunchTemplateVersionsResponse>"
                .to_owned(),
        ),
        other => panic!("unexpected {other}"),
    })
    .await;
    let request = CreateLaunchTemplateVersion::new("lt-1", 6, &ImageId::new("ami-9"), "amikeeper: ami-9");
    let version = aws.create_launch_template_version(&singapore(), &request).await.unwrap();
    assert_eq!(version, 7);
    let refused = aws.delete_launch_template_versions(&singapore(), "lt-1", &[2, 6]).await.unwrap();
    assert_eq!(refused, [(6, "launchTemplateVersionIsDefaultVersion: Cannot delete the default version.".to_owned())]);
    let seen = seen.lock().unwrap();
    let create = &seen[0].body;
    assert!(create.contains("SourceVersion=6"), "{create}");
    assert!(create.contains("LaunchTemplateData.ImageId=ami-9"), "{create}");
    assert!(create.contains("LaunchTemplateId=lt-1"), "{create}");
    assert!(seen[1].body.contains("LaunchTemplateVersion.1=2"), "{}", seen[1].body);
}

fn asg_page(members: &str, next: Option<&str>) -> (u16, String) {
    let next = next.map(|token| format!("<NextToken>{token}</NextToken>")).unwrap_or_default();
    (
        200,
        format!(
            "<DescribeAutoScalingGroupsResponse xmlns=\"http://autoscaling.amazonaws.com/doc/2011-01-01/\">\
             <DescribeAutoScalingGroupsResult><AutoScalingGroups>{members}</AutoScalingGroups>{next}</DescribeAutoScalingGroupsResult>\
             <ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></DescribeAutoScalingGroupsResponse>"
        ),
    )
}

const PLAIN_GROUP: &str = "<member><AutoScalingGroupName>web</AutoScalingGroupName>\
    <LaunchTemplate><LaunchTemplateId>lt-1</LaunchTemplateId><LaunchTemplateName>web</LaunchTemplateName><Version>$Latest</Version></LaunchTemplate>\
    <Tags><member><Key>team</Key><Value>web</Value></member></Tags></member>";

const MIXED_GROUP: &str = "<member><AutoScalingGroupName>batch</AutoScalingGroupName>\
    <MixedInstancesPolicy><LaunchTemplate><LaunchTemplateSpecification><LaunchTemplateName>batch</LaunchTemplateName><Version>3</Version></LaunchTemplateSpecification>\
    <Overrides><member><InstanceType>m5.large</InstanceType></member></Overrides></LaunchTemplate></MixedInstancesPolicy></member>";

#[tokio::test]
async fn every_group_over_pages_with_names_resolved() {
    let (aws, seen) = stubbed(|request, _| match request.action.as_str() {
        "DescribeAutoScalingGroups" if request.body.contains("NextToken=t2") => asg_page(MIXED_GROUP, None),
        "DescribeAutoScalingGroups" => asg_page(PLAIN_GROUP, Some("t2")),
        "DescribeLaunchTemplates" => (
            200,
            "<DescribeLaunchTemplatesResponse><requestId>r</requestId><launchTemplates><item>\
             <launchTemplateId>lt-batch</launchTemplateId><launchTemplateName>batch</launchTemplateName>\
             <defaultVersionNumber>1</defaultVersionNumber><latestVersionNumber>3</latestVersionNumber>\
             </item></launchTemplates></DescribeLaunchTemplatesResponse>"
                .to_owned(),
        ),
        other => panic!("unexpected {other}"),
    })
    .await;
    let groups = aws.describe_auto_scaling_groups(&singapore()).await.unwrap();
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0].name, "web");
    assert_eq!(groups[0].launch_template, Some(LaunchTemplateSpec { id: "lt-1".into(), version: "$Latest".into() }));
    assert_eq!(groups[0].tags["team"], "web");
    assert_eq!(groups[1].name, "batch");
    assert_eq!(groups[1].launch_template, Some(LaunchTemplateSpec { id: "lt-batch".into(), version: "3".into() }));
    let seen = seen.lock().unwrap();
    let actions: Vec<_> = seen.iter().map(|s| (s.host.as_str(), s.action.as_str())).collect();
    assert_eq!(
        actions,
        [
            ("autoscaling.ap-southeast-1.amazonaws.com", "DescribeAutoScalingGroups"),
            ("autoscaling.ap-southeast-1.amazonaws.com", "DescribeAutoScalingGroups"),
            ("ec2.ap-southeast-1.amazonaws.com", "DescribeLaunchTemplates"),
        ]
    );
}

#[tokio::test]
async fn missing_group_is_none() {
    let (aws, _) = stubbed(|_, _| asg_page("", None)).await;
    assert_eq!(aws.describe_auto_scaling_group(&singapore(), "nope").await.unwrap(), None);
}

#[tokio::test]
async fn set_launch_template_plain_and_mixed() {
    let (aws, seen) = stubbed(|request, _| match request.action.as_str() {
        "DescribeAutoScalingGroups" if request.body.contains("batch") => asg_page(MIXED_GROUP, None),
        "DescribeAutoScalingGroups" => asg_page(PLAIN_GROUP, None),
        "UpdateAutoScalingGroup" => (
            200,
            "<UpdateAutoScalingGroupResponse><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></UpdateAutoScalingGroupResponse>"
                .to_owned(),
        ),
        other => panic!("unexpected {other}"),
    })
    .await;
    let spec = LaunchTemplateSpec { id: "lt-1".into(), version: "7".into() };
    let group = |name: &str, mixed_instances_policy: bool| AutoScalingGroup {
        name: name.into(),
        launch_template: None,
        override_launch_templates: Vec::new(),
        mixed_instances_policy,
        tags: Default::default(),
    };
    let (web, batch) = (group("web", false), group("batch", true));
    aws.set_launch_template(&singapore(), &web, &spec).await.unwrap();
    aws.set_launch_template(&singapore(), &batch, &spec).await.unwrap();
    let seen = seen.lock().unwrap();
    // Exactly one call per update: no hidden describe.
    let actions: Vec<&str> = seen.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(actions, ["UpdateAutoScalingGroup", "UpdateAutoScalingGroup"]);
    let plain = &seen[0].body;
    assert!(plain.contains("LaunchTemplate.LaunchTemplateId=lt-1"), "{plain}");
    assert!(plain.contains("LaunchTemplate.Version=7"), "{plain}");
    assert!(!plain.contains("MixedInstancesPolicy"), "{plain}");
    let mixed = &seen[1].body;
    assert!(
        mixed.contains("MixedInstancesPolicy.LaunchTemplate.LaunchTemplateSpecification.LaunchTemplateId=lt-1"),
        "{mixed}"
    );
    assert!(!mixed.contains("Overrides"), "{mixed}");
}

#[tokio::test]
async fn stacks_missing_and_unchanged() {
    let (aws, seen) = stubbed(|request, _| match request.action.as_str() {
        "DescribeStacks" => query_error("ValidationError", "Stack with id web does not exist"),
        "UpdateStack" => query_error("ValidationError", "No updates are to be performed."),
        other => panic!("unexpected {other}"),
    })
    .await;
    assert_eq!(aws.describe_stack(&singapore(), "web").await.unwrap(), None);
    let request = UpdateStack {
        name: "web".into(),
        parameters: vec![
            ("AmiId".into(), StackParameterValue::Value("ami-2".into())),
            ("Size".into(), StackParameterValue::UsePrevious),
        ],
        capabilities: vec!["CAPABILITY_NAMED_IAM".into()],
    };
    assert_eq!(aws.update_stack(&singapore(), &request).await.unwrap(), StackUpdate::NoChange);
    let seen = seen.lock().unwrap();
    let body = &seen[1].body;
    for part in [
        "UsePreviousTemplate=true",
        "Parameters.member.1.ParameterKey=AmiId",
        "Parameters.member.1.ParameterValue=ami-2",
        "Parameters.member.2.UsePreviousValue=true",
        "Capabilities.member.1=CAPABILITY_NAMED_IAM",
    ] {
        assert!(body.contains(part), "{part} not in {body}");
    }
}

#[tokio::test]
async fn update_stack_started_and_failed() {
    let (aws, _) = stubbed(|_, index| {
        if index == 0 {
            (
                200,
                "<UpdateStackResponse><UpdateStackResult><StackId>arn:stack/web/1</StackId></UpdateStackResult>\
                 <ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></UpdateStackResponse>"
                    .to_owned(),
            )
        } else {
            query_error(
                "ValidationError",
                "Stack:arn:stack/web/1 is in UPDATE_IN_PROGRESS state and can not be updated.",
            )
        }
    })
    .await;
    let request = UpdateStack { name: "web".into(), parameters: vec![], capabilities: vec![] };
    assert_eq!(
        aws.update_stack(&singapore(), &request).await.unwrap(),
        StackUpdate::Started { stack_id: "arn:stack/web/1".into() }
    );
    let error = aws.update_stack(&singapore(), &request).await.unwrap_err();
    assert_eq!((error.code.as_str(), error.kind), ("ValidationError", AwsErrorKind::Client));
}

#[tokio::test]
async fn ssm_parameters() {
    let (aws, seen) = stubbed(|request, _| match request.action.as_str() {
        "AmazonSSM.GetParameter" if request.body.contains("/missing") => {
            (400, r#"{"__type":"ParameterNotFound","message":""}"#.to_owned())
        }
        "AmazonSSM.GetParameter" => (
            200,
            r#"{"Parameter":{"Name":"/ami/web","Value":"ami-1","Version":4,"Type":"String","DataType":"aws:ec2:image"}}"#
                .to_owned(),
        ),
        "AmazonSSM.PutParameter" => (200, r#"{"Version":5,"Tier":"Standard"}"#.to_owned()),
        other => panic!("unexpected {other}"),
    })
    .await;
    assert_eq!(aws.get_parameter(&singapore(), "/missing").await.unwrap(), None);
    let parameter = aws.get_parameter(&singapore(), "/ami/web").await.unwrap().unwrap();
    assert_eq!(
        (parameter.value.as_str(), parameter.version, parameter.data_type.as_str()),
        ("ami-1", 4, "aws:ec2:image")
    );
    let version = aws
        .put_parameter(
            &singapore(),
            &amikeeper::model::PutParameter {
                name: "/ami/web".into(),
                value: "ami-2".into(),
                kind: amikeeper::model::ParameterType::String,
                data_type: Some("aws:ec2:image".into()),
                overwrite: true,
                description: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(version, 5);
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].host, "ssm.ap-southeast-1.amazonaws.com");
    assert!(seen[1].body.contains(r#""WithDecryption":true"#), "{}", seen[1].body);
    let put = &seen[2].body;
    for part in [r#""Overwrite":true"#, r#""DataType":"aws:ec2:image""#, r#""Type":"String""#] {
        assert!(put.contains(part), "{part} not in {put}");
    }
}

fn ec2_ok(action: &str, inner: &str) -> (u16, String) {
    (200, format!("<{action}Response xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>r</requestId>{inner}</{action}Response>"))
}

#[tokio::test]
async fn own_images_over_pages_with_deprecation_and_snapshots() {
    let (aws, seen) = stubbed(|request, _| {
        if request.body.contains("NextToken=p2") {
            ec2_ok(
                "DescribeImages",
                "<imagesSet><item><imageId>ami-2</imageId><name>web-2</name><imageState>disabled</imageState>\
                 <creationDate>2024-02-01T00:00:00.000Z</creationDate><imageOwnerId>111122223333</imageOwnerId>\
                 <deprecationTime>not a date</deprecationTime></item></imagesSet>",
            )
        } else {
            ec2_ok(
                "DescribeImages",
                "<imagesSet><item><imageId>ami-1</imageId><name>web-1</name><imageState>available</imageState>\
                 <creationDate>2024-01-02T03:04:05.000Z</creationDate><imageOwnerId>111122223333</imageOwnerId>\
                 <deprecationTime>2025-03-04T05:06:00.000Z</deprecationTime>\
                 <blockDeviceMapping>\
                   <item><deviceName>/dev/xvda</deviceName><ebs><snapshotId>snap-1</snapshotId><volumeSize>8</volumeSize></ebs></item>\
                   <item><deviceName>/dev/sdb</deviceName><virtualName>ephemeral0</virtualName></item>\
                   <item><deviceName>/dev/sdc</deviceName><ebs><snapshotId>snap-2</snapshotId></ebs></item>\
                 </blockDeviceMapping></item></imagesSet><nextToken>p2</nextToken>",
            )
        }
    })
    .await;
    let images = aws.describe_own_images(&singapore()).await.unwrap();
    assert_eq!(images.len(), 2);
    assert_eq!(images[0].id.as_str(), "ami-1");
    assert_eq!(images[0].snapshot_ids, ["snap-1", "snap-2"]);
    assert_eq!(images[0].deprecated_at, Some(datetime!(2025-03-04 05:06 UTC)));
    assert_eq!((images[1].state, images[1].deprecated_at), (ImageState::Disabled, None));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    for part in ["Action=DescribeImages", "Owner.1=self", "IncludeDeprecated=true", "IncludeDisabled=true"] {
        assert!(seen[0].body.contains(part), "{part} not in {}", seen[0].body);
    }
}

#[tokio::test]
async fn own_snapshots_over_pages() {
    let (aws, seen) = stubbed(|request, _| {
        let (item, next) = if request.body.contains("NextToken=p2") {
            ("<item><snapshotId>snap-2</snapshotId><status>pending</status><startTime>2024-02-01T00:00:00.000Z</startTime></item>", "")
        } else {
            (
                "<item><snapshotId>snap-1</snapshotId><volumeId>vol-1</volumeId><status>completed</status>\
                 <startTime>2024-01-02T03:04:05.000Z</startTime><description>Created by CreateImage(i-1) for ami-1</description>\
                 <ownerId>111122223333</ownerId><tagSet><item><key>team</key><value>web</value></item></tagSet></item>",
                "<nextToken>p2</nextToken>",
            )
        };
        ec2_ok("DescribeSnapshots", &format!("<snapshotSet>{item}</snapshotSet>{next}"))
    })
    .await;
    let snapshots = aws.describe_own_snapshots(&singapore()).await.unwrap();
    assert_eq!(
        snapshots[0],
        Snapshot {
            id: "snap-1".into(),
            volume_id: Some("vol-1".into()),
            state: SnapshotState::Completed,
            started: datetime!(2024-01-02 03:04:05 UTC),
            description: Some("Created by CreateImage(i-1) for ami-1".into()),
            tags: [("team".to_owned(), "web".to_owned())].into(),
        }
    );
    assert_eq!((snapshots[1].id.as_str(), snapshots[1].state), ("snap-2", SnapshotState::Pending));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert!(seen[0].body.contains("Owner.1=self"), "{}", seen[0].body);
}

#[tokio::test]
async fn instances_skip_terminated_and_ask_for_live_states() {
    let (aws, seen) = stubbed(|request, _| {
        let reservation = if request.body.contains("NextToken=p2") {
            "<item><reservationId>r-2</reservationId><instancesSet>\
             <item><instanceId>i-3</instanceId><imageId>ami-3</imageId><instanceState><code>48</code><name>terminated</name></instanceState></item>\
             </instancesSet></item>"
        } else {
            "<item><reservationId>r-1</reservationId><instancesSet>\
             <item><instanceId>i-1</instanceId><imageId>ami-1</imageId><instanceState><code>16</code><name>running</name></instanceState></item>\
             <item><instanceId>i-2</instanceId><imageId>ami-2</imageId><instanceState><code>80</code><name>stopped</name></instanceState></item>\
             </instancesSet></item>"
        };
        let next = if request.body.contains("NextToken") { "" } else { "<nextToken>p2</nextToken>" };
        ec2_ok("DescribeInstances", &format!("<reservationSet>{reservation}</reservationSet>{next}"))
    })
    .await;
    let instances = aws.describe_instances(&singapore()).await.unwrap();
    assert_eq!(
        instances,
        [
            Instance { id: "i-1".into(), image_id: ImageId::new("ami-1"), state: "running".into() },
            Instance { id: "i-2".into(), image_id: ImageId::new("ami-2"), state: "stopped".into() },
        ]
    );
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    let body = &seen[0].body;
    assert!(body.contains("Filter.1.Name=instance-state-name"), "{body}");
    for (index, state) in ["pending", "running", "shutting-down", "stopping", "stopped"].iter().enumerate() {
        let part = format!("Filter.1.Value.{}={state}", index + 1);
        assert!(body.contains(&part), "{part} not in {body}");
    }
    assert!(!body.contains("terminated"), "{body}");
}

#[tokio::test]
async fn volumes_by_tag_key_and_every_launch_template() {
    let (aws, seen) = stubbed(|request, _| match request.action.as_str() {
        "DescribeVolumes" => ec2_ok(
            "DescribeVolumes",
            "<volumeSet><item><volumeId>vol-1</volumeId><status>in-use</status>\
             <attachmentSet><item><volumeId>vol-1</volumeId><instanceId>i-1</instanceId><status>attached</status></item></attachmentSet>\
             <tagSet><item><key>amikeeper:ami</key><value>ami-1</value></item></tagSet></item></volumeSet>",
        ),
        "DescribeLaunchTemplates" if request.body.contains("NextToken=p2") => ec2_ok(
            "DescribeLaunchTemplates",
            "<launchTemplates><item><launchTemplateId>lt-2</launchTemplateId><launchTemplateName>batch</launchTemplateName>\
             <defaultVersionNumber>2</defaultVersionNumber><latestVersionNumber>4</latestVersionNumber></item></launchTemplates>",
        ),
        "DescribeLaunchTemplates" => ec2_ok(
            "DescribeLaunchTemplates",
            "<launchTemplates><item><launchTemplateId>lt-1</launchTemplateId><launchTemplateName>web</launchTemplateName>\
             <defaultVersionNumber>1</defaultVersionNumber><latestVersionNumber>1</latestVersionNumber></item></launchTemplates>\
             <nextToken>p2</nextToken>",
        ),
        other => panic!("unexpected {other}"),
    })
    .await;
    let volumes = aws.describe_volumes_tagged(&singapore(), "amikeeper:ami").await.unwrap();
    assert_eq!(
        volumes,
        [Volume {
            id: "vol-1".into(),
            instance_ids: vec!["i-1".into()],
            tags: [("amikeeper:ami".to_owned(), "ami-1".to_owned())].into(),
        }]
    );
    let templates = aws.describe_launch_templates(&singapore()).await.unwrap();
    let ids: Vec<_> = templates.iter().map(|t| (t.id.as_str(), t.default_version, t.latest_version)).collect();
    assert_eq!(ids, [("lt-1", 1, 1), ("lt-2", 2, 4)]);
    let seen = seen.lock().unwrap();
    assert!(seen[0].body.contains("Filter.1.Name=tag-key"), "{}", seen[0].body);
    assert!(seen[0].body.contains("Filter.1.Value.1=amikeeper%3Aami"), "{}", seen[0].body);
    assert_eq!(seen.len(), 3);
}

#[tokio::test]
async fn deregister_reports_the_snapshots_ec2_deleted() {
    let (aws, seen) = stubbed(|request, index| match (request.action.as_str(), index) {
        ("DeregisterImage", 0) => ec2_ok(
            "DeregisterImage",
            "<return>true</return><deleteSnapshotResultSet>\
             <item><snapshotId>snap-1</snapshotId><returnCode>success</returnCode></item>\
             <item><snapshotId>snap-2</snapshotId><returnCode>skipped</returnCode></item>\
             </deleteSnapshotResultSet>",
        ),
        ("DeregisterImage", 1) => ec2_ok("DeregisterImage", "<return>true</return>"),
        ("DeregisterImage", _) => {
            ec2_error("InvalidAMIID.Unavailable", "The image id '[ami-1]' is no longer available")
        }
        ("DeleteSnapshot", _) => ec2_error("InvalidSnapshot.NotFound", ""),
        (other, _) => panic!("unexpected {other}"),
    })
    .await;
    let image = ImageId::new("ami-1");
    assert_eq!(aws.deregister_image(&singapore(), &image, true).await.unwrap(), ["snap-1"]);
    assert!(aws.deregister_image(&singapore(), &image, false).await.unwrap().is_empty());
    let gone = aws.deregister_image(&singapore(), &image, true).await.unwrap_err();
    assert_eq!(
        (gone.operation.as_str(), gone.code.as_str(), gone.kind),
        ("DeregisterImage", "InvalidAMIID.Unavailable", AwsErrorKind::NotFound)
    );
    let gone = aws.delete_snapshot(&singapore(), "snap-1").await.unwrap_err();
    assert_eq!(
        (gone.operation.as_str(), gone.code.as_str(), gone.kind),
        ("DeleteSnapshot", "InvalidSnapshot.NotFound", AwsErrorKind::NotFound)
    );
    let seen = seen.lock().unwrap();
    assert!(seen[0].body.contains("DeleteAssociatedSnapshots=true"), "{}", seen[0].body);
    assert!(seen[0].body.contains("ImageId=ami-1"), "{}", seen[0].body);
    assert!(!seen[1].body.contains("DeleteAssociatedSnapshots"), "{}", seen[1].body);
    assert!(seen[3].body.contains("SnapshotId=snap-1"), "{}", seen[3].body);
}

#[tokio::test]
async fn deprecate_disable_and_tag() {
    let (aws, seen) = stubbed(|request, _| match request.action.as_str() {
        "EnableImageDeprecation" => ec2_ok("EnableImageDeprecation", "<return>true</return>"),
        "DisableImage" => ec2_ok("DisableImage", "<return>true</return>"),
        "CreateTags" => ec2_ok("CreateTags", "<return>true</return>"),
        other => panic!("unexpected {other}"),
    })
    .await;
    let image = ImageId::new("ami-1");
    aws.enable_image_deprecation(&singapore(), &image, datetime!(2025-03-04 05:06:07 UTC)).await.unwrap();
    aws.disable_image(&singapore(), &image).await.unwrap();
    let tags = [("amikeeper:expires".to_owned(), "2025-03-04".to_owned())].into();
    aws.create_tags(&singapore(), &["ami-1".to_owned(), "snap-1".to_owned()], &tags).await.unwrap();
    let seen = seen.lock().unwrap();
    let actions: Vec<_> = seen.iter().map(|s| s.action.as_str()).collect();
    assert_eq!(actions, ["EnableImageDeprecation", "DisableImage", "CreateTags"]);
    assert!(seen[0].body.contains("DeprecateAt=2025-03-04T05%3A06%3A07Z"), "{}", seen[0].body);
    for part in ["ResourceId.1=ami-1", "ResourceId.2=snap-1", "Tag.1.Key=amikeeper%3Aexpires", "Tag.1.Value=2025-03-04"]
    {
        assert!(seen[2].body.contains(part), "{part} not in {}", seen[2].body);
    }
}

#[tokio::test]
async fn parameters_by_path_and_every_stack_over_pages() {
    let (aws, seen) = stubbed(|request, _| match request.action.as_str() {
        "AmazonSSM.GetParametersByPath" if request.body.contains("\"NextToken\":\"p2\"") => (
            200,
            r#"{"Parameters":[{"Name":"/ami/batch","Value":"ami-2","Version":1,"Type":"String","DataType":"text"}]}"#
                .to_owned(),
        ),
        "AmazonSSM.GetParametersByPath" => (
            200,
            r#"{"Parameters":[{"Name":"/ami/web","Value":"ami-1","Version":3,"Type":"String","DataType":"aws:ec2:image"}],"NextToken":"p2"}"#
                .to_owned(),
        ),
        "DescribeStacks" => {
            let (member, next) = if request.body.contains("NextToken=p2") {
                ("<member><StackName>batch</StackName><StackStatus>UPDATE_COMPLETE</StackStatus></member>", "")
            } else {
                (
                    "<member><StackName>web</StackName><StackId>arn:stack/web/1</StackId><StackStatus>CREATE_COMPLETE</StackStatus>\
                     <Parameters><member><ParameterKey>ImageId</ParameterKey><ParameterValue>ami-1</ParameterValue></member></Parameters></member>",
                    "<NextToken>p2</NextToken>",
                )
            };
            (
                200,
                format!(
                    "<DescribeStacksResponse><DescribeStacksResult><Stacks>{member}</Stacks>{next}</DescribeStacksResult>\
                     <ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></DescribeStacksResponse>"
                ),
            )
        }
        other => panic!("unexpected {other}"),
    })
    .await;
    let parameters = aws.get_parameters_by_path(&singapore(), "/ami").await.unwrap();
    let names: Vec<_> = parameters.iter().map(|p| (p.name.as_str(), p.value.as_str(), p.version)).collect();
    assert_eq!(names, [("/ami/web", "ami-1", 3), ("/ami/batch", "ami-2", 1)]);
    let stacks = aws.describe_stacks(&singapore()).await.unwrap();
    let stacks: Vec<_> = stacks.iter().map(|s| (s.name.as_str(), s.parameters.get("ImageId").cloned())).collect();
    assert_eq!(stacks, [("web", Some("ami-1".to_owned())), ("batch", None)]);
    let seen = seen.lock().unwrap();
    for part in [r#""Path":"/ami""#, r#""Recursive":true"#, r#""WithDecryption":true"#] {
        assert!(seen[0].body.contains(part), "{part} not in {}", seen[0].body);
    }
    assert_eq!(seen.len(), 4);
    assert!(!seen[2].body.contains("StackName"), "{}", seen[2].body);
}

/// Allowed AMIs: `imageAllowed` on an image, and the settings with their criteria, in EC2's
/// XML shape (API reference: `DescribeImages`, `GetAllowedImagesSettings`, `ImageCriterion`).
#[tokio::test]
async fn allowed_images_settings_and_image_allowed() {
    use amikeeper::model::{AllowedImagesState, ImageCriterion};
    let (aws, seen) = stubbed(|request, _| {
        if request.action == "DescribeImages" {
            ec2_ok(
                "DescribeImages",
                "<imagesSet><item><imageId>ami-1</imageId><name>golden-1</name><imageState>available</imageState>\
                 <creationDate>2024-01-02T03:04:05.000Z</creationDate><imageOwnerId>444455556666</imageOwnerId>\
                 <imageAllowed>false</imageAllowed></item></imagesSet>",
            )
        } else {
            ec2_ok(
                "GetAllowedImagesSettings",
                "<state>audit-mode</state><imageCriterionSet><item>\
                   <imageProviderSet><item>amazon</item><item>444455556666</item></imageProviderSet>\
                   <imageNameSet><item>golden-*</item></imageNameSet>\
                   <marketplaceProductCodeSet><item>abc123</item></marketplaceProductCodeSet>\
                   <creationDateCondition><maximumDaysSinceCreated>300</maximumDaysSinceCreated></creationDateCondition>\
                   <deprecationTimeCondition><maximumDaysSinceDeprecated>30</maximumDaysSinceDeprecated></deprecationTimeCondition>\
                 </item><item><imageProviderSet><item>none</item></imageProviderSet></item></imageCriterionSet>\
                 <managedBy>account</managedBy>",
            )
        }
    })
    .await;
    let image = aws.describe_image(&singapore(), &ImageId::new("ami-1")).await.unwrap().unwrap();
    assert_eq!((image.owner.as_str(), image.allowed), ("444455556666", Some(false)));
    let settings = aws.get_allowed_images_settings(&singapore()).await.unwrap();
    assert_eq!(settings.state, AllowedImagesState::AuditMode);
    assert_eq!(settings.managed_by.as_deref(), Some("account"));
    assert_eq!(
        settings.image_criteria,
        [
            ImageCriterion {
                image_providers: vec!["amazon".into(), "444455556666".into()],
                image_names: vec!["golden-*".into()],
                marketplace_product_codes: vec!["abc123".into()],
                max_days_since_created: Some(300),
                max_days_since_deprecated: Some(30),
            },
            ImageCriterion { image_providers: vec!["none".into()], ..Default::default() },
        ]
    );
    assert_eq!(seen.lock().unwrap()[1].action, "GetAllowedImagesSettings");
}

/// Without the setting (EC2's default) the answer has no `imageAllowed`, and a setting with no
/// state reads as disabled; a missing permission is EC2's `UnauthorizedOperation`, kept as is.
#[tokio::test]
async fn allowed_images_defaults_and_errors() {
    use amikeeper::model::AllowedImagesState;
    let (aws, _) = stubbed(|request, index| match (request.action.as_str(), index) {
        ("DescribeImages", _) => ec2_ok(
            "DescribeImages",
            "<imagesSet><item><imageId>ami-1</imageId><name>web-1</name><imageState>available</imageState>\
             <creationDate>2024-01-02T03:04:05.000Z</creationDate><imageOwnerId>111122223333</imageOwnerId>\
             </item></imagesSet>",
        ),
        (_, 1) => ec2_ok("GetAllowedImagesSettings", ""),
        _ => (403, "<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not authorized to perform this operation.</Message></Error></Errors><RequestID>r</RequestID></Response>".to_owned()),
    })
    .await;
    assert_eq!(aws.describe_image(&singapore(), &ImageId::new("ami-1")).await.unwrap().unwrap().allowed, None);
    let settings = aws.get_allowed_images_settings(&singapore()).await.unwrap();
    assert_eq!((settings.state, settings.image_criteria.len()), (AllowedImagesState::Disabled, 0));
    let error = aws.get_allowed_images_settings(&singapore()).await.unwrap_err();
    assert_eq!((error.operation.as_str(), error.code.as_str()), ("GetAllowedImagesSettings", "UnauthorizedOperation"));
    assert!(!error.is_retryable());
}
