//! `SdkAws` against canned AWS responses for the operations moto does not serve:
//! `ec2:DescribeImageReferences` and Recycle Bin's `ListRules` / `GetRule`. A stub HTTP client
//! answers each request with the bytes AWS would send, so the SDK's own parsing (EC2 XML, the
//! restJson of `rbin`), pagination and error mapping are exercised, not only the conversions.

mod common;

use std::sync::{Arc, Mutex};

use amikeeper::backend::{Ec2Api, RecycleBinApi};
use amikeeper::model::{ImageId, RecycleBinResource, RecycleBinRule, Region};
use amikeeper::AwsErrorKind;
use amikeeper_aws::SdkAws;
use aws_smithy_http_client::test_util::infallible_client_fn;
use aws_smithy_types::body::SdkBody;

/// One request as the stub saw it.
#[derive(Debug, Clone)]
struct Seen {
    host: String,
    method: String,
    path: String,
    body: String,
}

type Handler = dyn Fn(&Seen) -> (u16, String) + Send + Sync;

/// An `SdkAws` whose every call is answered by `handler`, trying each call up to 3 times (so
/// that a retry would show as another request).
async fn stubbed(handler: impl Fn(&Seen) -> (u16, String) + Send + Sync + 'static) -> (SdkAws, Arc<Mutex<Vec<Seen>>>) {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let log = seen.clone();
    let handler: Arc<Handler> = Arc::new(handler);
    let http = infallible_client_fn(move |request: http::Request<SdkBody>| {
        let request = Seen {
            host: request.uri().host().unwrap_or_default().to_owned(),
            method: request.method().to_string(),
            path: request.uri().path().to_owned(),
            body: String::from_utf8(request.body().bytes().unwrap_or_default().to_vec()).unwrap(),
        };
        log.lock().unwrap().push(request.clone());
        let (status, body) = handler(&request);
        let content_type = if body.starts_with('{') { "application/json" } else { "text/xml" };
        http::Response::builder().status(status).header("content-type", content_type).body(body).unwrap()
    });
    (common::sdk_aws_over(http, 3).await, seen)
}

fn singapore() -> Region {
    Region::new("ap-southeast-1")
}

fn ids(ids: &[&str]) -> Vec<ImageId> {
    ids.iter().map(|id| ImageId::new(*id)).collect()
}

fn reference(image_id: &str, kind: &str, arn: &str) -> String {
    format!("<item><arn>{arn}</arn><imageId>{image_id}</imageId><resourceType>{kind}</resourceType></item>")
}

fn references_page(items: &[String], next: Option<&str>) -> (u16, String) {
    let next = next.map(|token| format!("<nextToken>{token}</nextToken>")).unwrap_or_default();
    (
        200,
        format!(
            "<DescribeImageReferencesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\
             <requestId>r</requestId><imageReferenceSet>{}</imageReferenceSet>{next}</DescribeImageReferencesResponse>",
            items.concat()
        ),
    )
}

#[tokio::test]
async fn image_references_of_every_type_over_pages() {
    let (aws, seen) = stubbed(|request| {
        if request.body.contains("NextToken=page2") {
            references_page(
                &[
                    reference("ami-1", "ssm:Parameter", "arn:aws:ssm:ap-southeast-1:111122223333:parameter/web/ami"),
                    reference(
                        "ami-2",
                        "imagebuilder:ImageRecipe",
                        "arn:aws:imagebuilder:ap-southeast-1:111122223333:image-recipe/web/1.0.0",
                    ),
                    reference(
                        "ami-2",
                        "imagebuilder:ContainerRecipe",
                        "arn:aws:imagebuilder:ap-southeast-1:111122223333:container-recipe/web/1.0.0",
                    ),
                ],
                None,
            )
        } else {
            references_page(
                &[
                    reference("ami-1", "ec2:Instance", "arn:aws:ec2:ap-southeast-1:111122223333:instance/i-1"),
                    reference(
                        "ami-2",
                        "ec2:LaunchTemplate",
                        "arn:aws:ec2:ap-southeast-1:111122223333:launch-template/lt-1",
                    ),
                ],
                Some("page2"),
            )
        }
    })
    .await;
    let references = aws.describe_image_references(&singapore(), &ids(&["ami-1", "ami-2"])).await.unwrap();
    let found: Vec<_> =
        references.iter().map(|r| (r.image_id.as_str(), r.resource_type.as_str(), r.arn.as_str())).collect();
    assert_eq!(
        found,
        [
            ("ami-1", "ec2:Instance", "arn:aws:ec2:ap-southeast-1:111122223333:instance/i-1"),
            ("ami-2", "ec2:LaunchTemplate", "arn:aws:ec2:ap-southeast-1:111122223333:launch-template/lt-1"),
            ("ami-1", "ssm:Parameter", "arn:aws:ssm:ap-southeast-1:111122223333:parameter/web/ami"),
            (
                "ami-2",
                "imagebuilder:ImageRecipe",
                "arn:aws:imagebuilder:ap-southeast-1:111122223333:image-recipe/web/1.0.0"
            ),
            (
                "ami-2",
                "imagebuilder:ContainerRecipe",
                "arn:aws:imagebuilder:ap-southeast-1:111122223333:container-recipe/web/1.0.0"
            ),
        ]
    );
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    for request in seen.iter() {
        assert_eq!(request.host, "ec2.ap-southeast-1.amazonaws.com");
        assert!(request.body.contains("Action=DescribeImageReferences"), "{}", request.body);
        assert!(request.body.contains("IncludeAllResourceTypes=true"), "{}", request.body);
        assert!(request.body.contains("ImageId.1=ami-1&ImageId.2=ami-2"), "{}", request.body);
    }
    assert!(!seen[0].body.contains("NextToken"), "{}", seen[0].body);
}

#[tokio::test]
async fn image_references_take_ten_ids_a_call_and_none_for_no_ids() {
    let (aws, seen) = stubbed(|_| references_page(&[], None)).await;
    assert!(aws.describe_image_references(&singapore(), &[]).await.unwrap().is_empty());
    assert!(seen.lock().unwrap().is_empty());

    let many: Vec<_> = (1..=12).map(|n| ImageId::new(format!("ami-{n}"))).collect();
    assert!(aws.describe_image_references(&singapore(), &many).await.unwrap().is_empty());
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert!(seen[0].body.contains("ImageId.10=ami-10"), "{}", seen[0].body);
    assert!(!seen[0].body.contains("ImageId.11="), "{}", seen[0].body);
    assert!(seen[1].body.contains("ImageId.1=ami-11&ImageId.2=ami-12"), "{}", seen[1].body);
}

#[tokio::test]
async fn image_references_unsupported_is_a_client_error_not_retried() {
    let (aws, seen) = stubbed(|_| {
        (
            400,
            "<Response><Errors><Error><Code>InvalidAction</Code>\
             <Message>The action DescribeImageReferences is not valid for this web service.</Message>\
             </Error></Errors><RequestID>req-1</RequestID></Response>"
                .to_owned(),
        )
    })
    .await;
    let error = aws.describe_image_references(&singapore(), &ids(&["ami-1"])).await.unwrap_err();
    assert_eq!(
        (error.service.as_str(), error.operation.as_str(), error.code.as_str(), error.kind),
        ("ec2", "DescribeImageReferences", "InvalidAction", AwsErrorKind::Client)
    );
    assert_eq!(error.message, "The action DescribeImageReferences is not valid for this web service.");
    assert!(!error.is_retryable());
    assert_eq!(seen.lock().unwrap().len(), 1, "not retried");
}

fn days(value: u32) -> String {
    format!(r#"{{"RetentionPeriodValue":{value},"RetentionPeriodUnit":"DAYS"}}"#)
}

/// A Recycle Bin with four `EC2_IMAGE` rules over two `ListRules` pages: a region-level rule
/// with exclude tags, a pending one, a tag-level one, and one deleted before `GetRule`.
fn recycle_bin(request: &Seen) -> (u16, String) {
    match (request.method.as_str(), request.path.as_str()) {
        ("POST", "/list-rules") if request.body.contains(r#""NextToken":"page2""#) => (
            200,
            format!(
                r#"{{"Rules":[
                    {{"Identifier":"r-tag","Description":"tagged","RetentionPeriod":{},"LockState":"unlocked","RuleArn":"arn:aws:rbin:ap-southeast-1:111122223333:rule/r-tag"}},
                    {{"Identifier":"r-gone","RetentionPeriod":{}}}
                ]}}"#,
                days(30),
                days(1)
            ),
        ),
        ("POST", "/list-rules") => (
            200,
            format!(
                r#"{{"Rules":[
                    {{"Identifier":"r-region","Description":"all AMIs","RetentionPeriod":{},"LockState":"locked"}},
                    {{"Identifier":"r-pending","RetentionPeriod":{}}}
                ],"NextToken":"page2"}}"#,
                days(7),
                days(14)
            ),
        ),
        ("GET", "/rules/r-region") => (
            200,
            format!(
                r#"{{"Identifier":"r-region","ResourceType":"EC2_IMAGE","RetentionPeriod":{},"ResourceTags":[],
                    "Status":"available","LockState":"locked",
                    "LockConfiguration":{{"UnlockDelay":{{"UnlockDelayValue":7,"UnlockDelayUnit":"DAYS"}}}},
                    "ExcludeResourceTags":[{{"ResourceTagKey":"amikeeper:no-bin","ResourceTagValue":"true"}},{{"ResourceTagKey":"scratch"}}]}}"#,
                days(7)
            ),
        ),
        ("GET", "/rules/r-pending") => (
            200,
            format!(
                r#"{{"Identifier":"r-pending","ResourceType":"EC2_IMAGE","RetentionPeriod":{},"Status":"pending"}}"#,
                days(14)
            ),
        ),
        ("GET", "/rules/r-tag") => (
            200,
            format!(
                r#"{{"Identifier":"r-tag","ResourceType":"EC2_IMAGE","RetentionPeriod":{},"Status":"available",
                    "ResourceTags":[{{"ResourceTagKey":"team","ResourceTagValue":"web"}},{{"ResourceTagKey":"keep"}}]}}"#,
                days(30)
            ),
        ),
        ("GET", "/rules/r-gone") => (
            404,
            r#"{"__type":"ResourceNotFoundException","Message":"Rule r-gone not found","Reason":"RULE_NOT_FOUND"}"#
                .to_owned(),
        ),
        (method, path) => panic!("unexpected {method} {path}"),
    }
}

fn pair(key: &str, value: &str) -> (String, String) {
    (key.to_owned(), value.to_owned())
}

#[tokio::test]
async fn recycle_bin_rules_in_effect_with_their_tags() {
    let (aws, seen) = stubbed(recycle_bin).await;
    let rules = aws.list_recycle_bin_rules(&singapore(), RecycleBinResource::Image).await.unwrap();
    assert_eq!(
        rules,
        [
            RecycleBinRule {
                id: "r-region".to_owned(),
                resource_type: RecycleBinResource::Image,
                retention_days: 7,
                resource_tags: vec![],
                exclude_tags: vec![pair("amikeeper:no-bin", "true"), pair("scratch", "")],
            },
            RecycleBinRule {
                id: "r-tag".to_owned(),
                resource_type: RecycleBinResource::Image,
                retention_days: 30,
                resource_tags: vec![pair("team", "web"), pair("keep", "")],
                exclude_tags: vec![],
            },
        ]
    );
    let seen = seen.lock().unwrap();
    let calls: Vec<_> = seen.iter().map(|s| (s.host.as_str(), s.method.as_str(), s.path.as_str())).collect();
    let rbin = "rbin.ap-southeast-1.amazonaws.com";
    assert_eq!(
        calls,
        [
            (rbin, "POST", "/list-rules"),
            (rbin, "POST", "/list-rules"),
            (rbin, "GET", "/rules/r-region"),
            (rbin, "GET", "/rules/r-pending"),
            (rbin, "GET", "/rules/r-tag"),
            (rbin, "GET", "/rules/r-gone"),
        ]
    );
    assert!(seen[0].body.contains(r#""ResourceType":"EC2_IMAGE""#), "{}", seen[0].body);
}

#[tokio::test]
async fn recycle_bin_snapshot_rules_ask_for_snapshots() {
    let (aws, seen) = stubbed(|_| (200, r#"{"Rules":[]}"#.to_owned())).await;
    assert!(aws.list_recycle_bin_rules(&singapore(), RecycleBinResource::Snapshot).await.unwrap().is_empty());
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].body.contains(r#""ResourceType":"EBS_SNAPSHOT""#), "{}", seen[0].body);
}

#[tokio::test]
async fn recycle_bin_errors_are_mapped() {
    // What an endpoint without Recycle Bin answers (and scripts/moto-server does): not retried.
    let (aws, seen) = stubbed(|_| {
        (400, r#"{"__type":"UnknownOperationException","message":"The operation is not supported."}"#.to_owned())
    })
    .await;
    let error = aws.list_recycle_bin_rules(&singapore(), RecycleBinResource::Image).await.unwrap_err();
    assert_eq!(
        (error.service.as_str(), error.operation.as_str(), error.code.as_str(), error.kind),
        ("rbin", "ListRules", "UnknownOperationException", AwsErrorKind::Client)
    );
    assert_eq!(seen.lock().unwrap().len(), 1, "not retried");

    // A failing GetRule fails the listing, under its own operation name.
    let (aws, _) = stubbed(|request| match request.method.as_str() {
        "POST" => (200, format!(r#"{{"Rules":[{{"Identifier":"r-1","RetentionPeriod":{}}}]}}"#, days(7))),
        _ => (
            400,
            r#"{"__type":"AccessDeniedException","Message":"not authorized to perform: rbin:GetRule"}"#.to_owned(),
        ),
    })
    .await;
    let error = aws.list_recycle_bin_rules(&singapore(), RecycleBinResource::Image).await.unwrap_err();
    assert_eq!(
        (error.service.as_str(), error.operation.as_str(), error.code.as_str(), error.kind),
        ("rbin", "GetRule", "AccessDeniedException", AwsErrorKind::Client)
    );
}
