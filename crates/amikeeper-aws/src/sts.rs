//! [`StsApi`] over `aws-config`'s assume-role credentials provider: the consumer accounts a
//! sweep checks.

use std::sync::Arc;

use amikeeper::backend::{Aws, AwsResult, StsApi};
use amikeeper::error::{AwsError, AwsErrorKind};
use async_trait::async_trait;
use aws_config::sts::AssumeRoleProvider;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_smithy_types::error::display::DisplayErrorContext;

use crate::SdkAws;

#[async_trait]
impl StsApi for SdkAws {
    /// Assumes the role (session name `amikeeper`) with this backend's configuration, and
    /// returns a backend with the same settings that acts with the role's credentials. The
    /// role is assumed at once, so a role that cannot be assumed fails here, as
    /// `sts:AssumeRole`; the credentials refresh themselves before they expire.
    async fn assume_role(&self, role_arn: &str, external_id: Option<&str>) -> AwsResult<Arc<dyn Aws>> {
        let mut builder = AssumeRoleProvider::builder(role_arn).session_name("amikeeper");
        if let Some(id) = external_id {
            builder = builder.external_id(id);
        }
        let provider = builder.configure(self.sdk_config()).build().await;
        provider.provide_credentials().await.map_err(assume_role_error)?;
        let config =
            self.sdk_config().to_builder().credentials_provider(SharedCredentialsProvider::new(provider)).build();
        Ok(Arc::new(SdkAws::from_sdk_config(config)))
    }
}

/// The credentials provider's error as an [`AwsError`]; the message keeps STS's own code and
/// message (e.g. `AccessDenied`).
fn assume_role_error(error: CredentialsError) -> AwsError {
    let (kind, code) = match &error {
        CredentialsError::ProviderTimedOut(_) => (AwsErrorKind::Timeout, "ProviderTimedOut"),
        CredentialsError::CredentialsNotLoaded(_) => (AwsErrorKind::Client, "CredentialsNotLoaded"),
        CredentialsError::InvalidConfiguration(_) => (AwsErrorKind::Client, "InvalidConfiguration"),
        CredentialsError::ProviderError(_) => (AwsErrorKind::Client, "AssumeRoleFailed"),
        _ => (AwsErrorKind::Client, "AssumeRoleFailed"),
    };
    AwsError::new("sts", "AssumeRole", kind, code, DisplayErrorContext(&error).to_string())
}
