//! `SdkAws` against canned AWS responses: a stub HTTP client answers each request by its
//! `Action` (query protocols) or `X-Amz-Target` (SSM's JSON protocol). Checks what the SDK
//! layer adds over the model conversions: not-found answers, pagination, the request sent.

use std::sync::{Arc, Mutex};

use amikeeper::backend::{AutoScalingApi, CloudFormationApi, Ec2Api, SsmApi};
use amikeeper::model::{
    AutoScalingGroup, ImageId, ImageState, LaunchTemplateSpec, Region, StackParameterValue, StackUpdate, UpdateStack,
};
use amikeeper::AwsErrorKind;
use amikeeper_aws::SdkAws;
use aws_smithy_http_client::test_util::infallible_client_fn;
use aws_smithy_types::body::SdkBody;

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
    let aws = SdkAws::builder()
        .region(Some("us-east-1".to_owned()))
        .max_attempts(1)
        .customize(move |loader| loader.empty_test_environment().test_credentials().http_client(http))
        .load()
        .await;
    (aws, seen)
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
    let numbers: Vec<_> = versions.iter().map(|v| (v.number, v.image_id.clone().map(|i| i.0), v.is_default)).collect();
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
    let version = aws
        .create_launch_template_version(&singapore(), "lt-1", 6, &ImageId::new("ami-9"), "amikeeper: ami-9")
        .await
        .unwrap();
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
