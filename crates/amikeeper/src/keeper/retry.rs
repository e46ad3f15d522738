//! How often a read or a publish of a run is tried.

use std::time::Duration;

use super::entry;
use crate::error::Error;
use crate::publish::{Outcome, PublishContext, Publisher, Status};
use crate::report::TargetReport;

/// How often a target whose publish failed with a retryable AWS error (throttling, 5xx,
/// timeout) is tried, in all. Publishing is idempotent and monotonic, so a retry is safe.
pub(super) const TARGET_ATTEMPTS: u32 = 3;

/// Runs `call` until it succeeds, fails for good, or has failed [`TARGET_ATTEMPTS`] times
/// with a retryable AWS error (throttling, 5xx, timeout), backing off in between. Returns the
/// result and the number of attempts. Only for idempotent work: reads, and publishes, which
/// are idempotent and monotonic.
pub(super) async fn with_retries<T, F, Fut>(what: &str, mut call: F) -> (Result<T, Error>, u32)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    let mut attempt = 1;
    loop {
        match call().await {
            Err(Error::Aws(error)) if error.is_retryable() && attempt < TARGET_ATTEMPTS => {
                tracing::warn!(target: super::LOG, %what, %error, attempt, "retrying after a retryable AWS error");
                tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
                attempt += 1;
            }
            result => return (result, attempt),
        }
    }
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
