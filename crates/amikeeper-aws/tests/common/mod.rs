//! What the stubbed-HTTP tests (`stubbed_http.rs`, `stubbed_unserved.rs`) share.

use amikeeper_aws::SdkAws;
use aws_smithy_runtime_api::client::http::SharedHttpClient;

/// An `SdkAws` whose every request goes to `http`: default region `us-east-1`, test
/// credentials, nothing from the environment, each call tried up to `max_attempts` times.
pub async fn sdk_aws_over(http: SharedHttpClient, max_attempts: u32) -> SdkAws {
    SdkAws::builder()
        .region(Some("us-east-1".to_owned()))
        .max_attempts(max_attempts)
        .customize(move |loader| loader.empty_test_environment().test_credentials().http_client(http))
        .load()
        .await
}
