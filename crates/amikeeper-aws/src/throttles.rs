//! [`ReportThrottles`]: tells amikeeper about every attempt AWS throttled, including the ones
//! the SDK then retried by itself and amikeeper would otherwise never see.

use amikeeper::backend::report_throttled_attempt;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{FinalizerInterceptorContextRef, InterceptorContext};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::retries::classifiers::{ClassifyRetry, RetryAction, RetryReason};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::retry::ErrorKind;

/// An interceptor on every client of [`SdkAws`](crate::SdkAws): after each attempt, it asks
/// the operation's own retry classifiers (the ones the SDK's retry strategy asks next) whether
/// AWS throttled it, and if so reports it with [`report_throttled_attempt`], so the sweep
/// counts it and slows down even when the SDK's retry then succeeds.
///
/// The classifiers know each service's throttling codes as the SDK does (`RequestLimitExceeded`
/// for EC2; `Throttling`, `ThrottlingException`, `TooManyRequestsException`, ... for SSM, Auto
/// Scaling, CloudFormation and Recycle Bin), so what counts as throttled is exactly what the
/// SDK backs off for as throttled. It changes no answer and no retry decision.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ReportThrottles;

impl Intercept for ReportThrottles {
    fn name(&self) -> &'static str {
        "amikeeper::ReportThrottles"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if is_throttled(context.inner(), runtime_components) {
            let listened = report_throttled_attempt();
            let operation = cfg.load::<Metadata>();
            tracing::debug!(
                service = operation.map(Metadata::service),
                operation = operation.map(Metadata::name),
                listened,
                "AWS throttled an attempt"
            );
        }
        Ok(())
    }
}

/// Whether the attempt in `context` failed because AWS throttled it, in the verdict of the
/// operation's retry classifiers, run in their order as the SDK's retry strategy runs them.
fn is_throttled(context: &InterceptorContext, runtime_components: &RuntimeComponents) -> bool {
    if !matches!(context.output_or_error(), Some(Err(_))) {
        return false;
    }
    let mut verdict = RetryAction::NoActionIndicated;
    for classifier in runtime_components.retry_classifiers() {
        let next = classifier.classify_retry_v2(context, &verdict);
        if next == RetryAction::NoActionIndicated {
            continue;
        }
        verdict = next;
        if verdict == RetryAction::RetryForbidden {
            break;
        }
    }
    matches!(verdict, RetryAction::RetryIndicated(RetryReason::RetryableError { kind: ErrorKind::ThrottlingError, .. }))
}
