//! Which endpoint a call goes to. One test in its own binary, because it sets process
//! environment variables (`AWS_ENDPOINT_URL`), which `aws-config` reads.

use std::sync::{Arc, Mutex};

use amikeeper::backend::SsmApi;
use amikeeper::model::Region;
use amikeeper_aws::SdkAws;
use aws_smithy_http_client::test_util::infallible_client_fn;
use aws_smithy_types::body::SdkBody;

/// An `SdkAws` that records the URI of every request and answers "parameter not found".
async fn recording(endpoint_url: Option<&str>) -> (SdkAws, Arc<Mutex<Vec<String>>>) {
    let uris: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = uris.clone();
    let http = infallible_client_fn(move |request: http::Request<SdkBody>| {
        log.lock().unwrap().push(request.uri().to_string());
        http::Response::builder().status(400).body(r#"{"__type":"ParameterNotFound","message":""}"#).unwrap()
    });
    let aws = SdkAws::builder()
        .region(Some("us-east-1".to_owned()))
        .endpoint_url(endpoint_url.map(str::to_owned))
        .max_attempts(1)
        .customize(move |loader| loader.test_credentials().http_client(http))
        .load()
        .await;
    (aws, uris)
}

async fn first_uri(endpoint_url: Option<&str>) -> String {
    let (aws, uris) = recording(endpoint_url).await;
    assert_eq!(aws.get_parameter(&Region::new("ap-southeast-1"), "/x").await.unwrap(), None);
    let uris = uris.lock().unwrap();
    uris[0].clone()
}

#[tokio::test]
async fn endpoint_precedence() {
    // SAFETY (edition 2021: not `unsafe` yet): this binary's only test; no other thread reads
    // the environment while it is changed.
    for key in ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SSM", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_PROFILE"] {
        std::env::remove_var(key);
    }

    // No configuration: the regional endpoint of the call's region.
    assert_eq!(first_uri(None).await, "https://ssm.ap-southeast-1.amazonaws.com/");

    // AWS_ENDPOINT_URL is honoured by aws-config, with nothing done here.
    std::env::set_var("AWS_ENDPOINT_URL", "http://from-env.test:4566");
    assert_eq!(first_uri(None).await, "http://from-env.test:4566/");

    // The service-specific variable wins over the global one.
    std::env::set_var("AWS_ENDPOINT_URL_SSM", "http://ssm-from-env.test:4566");
    assert_eq!(first_uri(None).await, "http://ssm-from-env.test:4566/");

    // An explicit endpoint wins over both.
    assert_eq!(first_uri(Some("http://explicit.test:5000")).await, "http://explicit.test:5000/");

    // AWS_IGNORE_CONFIGURED_ENDPOINT_URLS turns the variables off.
    std::env::set_var("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true");
    assert_eq!(first_uri(None).await, "https://ssm.ap-southeast-1.amazonaws.com/");

    for key in ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SSM", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"] {
        std::env::remove_var(key);
    }
}
