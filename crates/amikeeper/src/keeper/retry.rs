//! How often a read or a publish of a run is tried.

use super::entry;
use crate::backend::RetryPolicy;
use crate::error::Error;
use crate::publish::{Outcome, PublishContext, Publisher, Status};
use crate::report::TargetReport;

/// Runs `call` as amikeeper's retry layer decides ([`RetryPolicy::TARGETS`]): again after a
/// temporary AWS error the backend has not already retried. Returns the result and the number
/// of attempts. Only for idempotent work: reads, and publishes, which are idempotent and
/// monotonic.
pub(super) async fn with_retries<T, F, Fut>(what: &str, call: F) -> (Result<T, Error>, u32)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    RetryPolicy::TARGETS.run(what, call).await
}

pub(super) async fn publish_with_retry(
    publisher: &dyn Publisher,
    ctx: &PublishContext<'_>,
    rule: &str,
) -> TargetReport {
    let target = publisher.target();
    match with_retries(&target.to_string(), || publisher.publish(ctx)).await {
        (Ok(outcome), _) => {
            tracing::info!(target: super::LOG, %rule, %target, status = %outcome.status, reason = %outcome.reason, "published");
            entry(rule, target, outcome, None)
        }
        (Err(error), attempts) => {
            tracing::error!(target: super::LOG, %rule, %target, %error, "publish failed");
            let aws_error = error.as_aws().cloned();
            let mut outcome = Outcome::new(Status::Failed, error.to_string());
            if attempts > 1 {
                outcome = outcome.note(format!("failed after {attempts} attempts"));
            }
            entry(rule, target, outcome, aws_error)
        }
    }
}
