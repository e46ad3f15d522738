//! The one HTTP client every SDK client of an [`SdkAws`](crate::SdkAws) shares.
//!
//! Left to itself, each SDK client (one per service and region) makes its own default HTTPS
//! client: its own connection pool, and its own rustls configuration, which parses the
//! platform's root certificates again. [`shared_https_client`] is that same default (hyper 1,
//! rustls with aws-lc-rs, the proxy from `HTTP(S)_PROXY`/`NO_PROXY`), made once and set on the
//! shared configuration: a process parses the roots once per connection settings, and the
//! clients of one endpoint share their connections.

use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_http_client::{Builder, ConnectorBuilder};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

/// The SDK's default HTTPS client (what `aws-smithy-runtime`'s `default-https-client` makes for
/// each client on the latest behaviour version), to be shared by every client.
pub(crate) fn shared_https_client() -> SharedHttpClient {
    Builder::new().build_with_connector_fn(|settings, runtime_components| {
        let mut connector = ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = runtime_components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}
