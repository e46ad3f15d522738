//! amikeeper's retry layer: the one place that decides how often amikeeper tries a call again.
//!
//! A call is tried again only when its error is temporary (throttling, a 5xx, a timeout) and
//! its retries have not run out yet ([`AwsError::may_retry`]). The policies are not stacked:
//!
//! - A backend that retries by itself answers a temporary error only once its own retries ran
//!   out, and says so ([`AwsError::retries_exhausted`]). The AWS SDK backend (`amikeeper-aws`)
//!   does: the SDK's retry configuration decides how often a call is tried (`AWS_MAX_ATTEMPTS`,
//!   `AWS_RETRY_MODE`, the profile's `max_attempts` and `retry_mode`, else amikeeper's
//!   defaults), and this layer tries such a call once.
//! - Over a backend that does not retry ([`MemoryAws`](crate::memory::MemoryAws), the faults
//!   [`FaultyAws`](crate::memory::FaultyAws) injects, a test double), this layer decides:
//!   [`RetryPolicy::TARGETS`] for a target's publish and the keeper's reads,
//!   [`RetryPolicy::SWEEP`] for each of a sweep's calls, [`RetryPolicy::RESTORE`] for putting
//!   back a fixed-version SSM parameter.
//!
//! When this layer gives up on a temporary error it marks it out of retries too, so a layer
//! above (a Lambda's redelivery aside) does not try again.

use std::future::Future;
use std::time::Duration;

use crate::error::{AwsError, Error};

/// How often amikeeper's retry layer tries a call, and how long it waits in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// How often a call is tried, in all.
    attempts: u32,
    /// The wait before the second try; it doubles before each further one.
    first_backoff: Duration,
    /// Whether every error not out of retries is tried again, not only temporary ones.
    every_error: bool,
}

/// An error the retry layer can look into: the AWS error inside it, if any.
pub trait RetryableError {
    /// The AWS error, when an AWS call failed.
    fn aws_error_mut(&mut self) -> Option<&mut AwsError>;
}

impl RetryableError for AwsError {
    fn aws_error_mut(&mut self) -> Option<&mut AwsError> {
        Some(self)
    }
}

impl RetryableError for Error {
    fn aws_error_mut(&mut self) -> Option<&mut AwsError> {
        match self {
            Self::Aws(error) => Some(error),
            _ => None,
        }
    }
}

impl RetryPolicy {
    /// A target's publish and the keeper's reads around it: 3 tries, 1 s then 2 s apart.
    /// Publishing is idempotent and monotonic, so trying it again is safe.
    pub const TARGETS: Self = Self { attempts: 3, first_backoff: Duration::from_secs(1), every_error: false };
    /// Each call of a sweep: 5 tries, 100 ms apart at first, doubling.
    pub const SWEEP: Self = Self { attempts: 5, first_backoff: Duration::from_millis(100), every_error: false };
    /// Putting back the previous value of a fixed-version SSM parameter whose new value could
    /// not be written, so it is not left missing: 5 tries, 200 ms apart at first, doubling,
    /// after any error the backend has not already retried.
    pub const RESTORE: Self = Self { attempts: 5, first_backoff: Duration::from_millis(200), every_error: true };

    /// How often a call is tried, in all, over a backend that does not retry by itself.
    pub const fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Whether a call that failed with `error` is tried again (attempts left aside).
    fn may_retry(&self, error: &AwsError) -> bool {
        match self.every_error {
            true => !error.retries_exhausted,
            false => error.may_retry(),
        }
    }

    /// Runs `call` until it succeeds, fails for good, or has been tried
    /// [`attempts`](Self::attempts) times, backing off in between. Returns the last result and
    /// how often `call` ran. A temporary error it gives up on comes back marked
    /// [`retries_exhausted`](AwsError::retries_exhausted). `what` names the call in the
    /// warning logged before each retry (no warning when empty). Only for idempotent work.
    pub async fn run<T, E, F, Fut>(&self, what: &str, mut call: F) -> (Result<T, E>, u32)
    where
        E: RetryableError,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut backoff = self.first_backoff;
        let mut attempt = 1;
        loop {
            let mut result = call().await;
            if let Some(error) = result.as_mut().err().and_then(RetryableError::aws_error_mut) {
                if self.may_retry(error) {
                    if attempt < self.attempts {
                        if !what.is_empty() {
                            tracing::warn!(%what, %error, attempt, "retrying after a retryable AWS error");
                        }
                        tokio::time::sleep(backoff).await;
                        backoff *= 2;
                        attempt += 1;
                        continue;
                    }
                    error.retries_exhausted = error.is_retryable();
                }
            }
            return (result, attempt);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::AwsErrorKind;
    use tokio::time::Instant;

    fn error(kind: AwsErrorKind) -> AwsError {
        AwsError::new("ec2", "DescribeImages", kind, "Code", "message")
    }

    /// Runs `policy` over a call failing with `errors` in turn, then succeeding.
    async fn tries(policy: RetryPolicy, errors: Vec<AwsError>) -> (Result<u32, AwsError>, u32) {
        let mut left = errors.into_iter();
        let mut calls = 0;
        policy
            .run("test", || {
                calls += 1;
                let next = left.next();
                async move { next.map_or(Ok(calls), Err) }
            })
            .await
    }

    #[tokio::test(start_paused = true)]
    async fn temporary_errors_are_tried_again_until_the_attempts_run_out() {
        let start = Instant::now();
        let throttled = vec![error(AwsErrorKind::Throttling), error(AwsErrorKind::Server)];
        assert_eq!(tries(RetryPolicy::TARGETS, throttled).await, (Ok(3), 3));
        assert_eq!(start.elapsed(), Duration::from_secs(3), "1 s, then 2 s");

        let (result, attempts) = tries(RetryPolicy::SWEEP, vec![error(AwsErrorKind::Timeout); 9]).await;
        let last = result.unwrap_err();
        assert_eq!((attempts, last.retries_exhausted), (RetryPolicy::SWEEP.attempts(), true));
        assert!(last.is_retryable() && !last.may_retry());
    }

    #[tokio::test(start_paused = true)]
    async fn errors_out_of_retries_and_permanent_ones_are_tried_once() {
        let (result, attempts) = tries(RetryPolicy::SWEEP, vec![error(AwsErrorKind::Client)]).await;
        assert_eq!((result.unwrap_err().retries_exhausted, attempts), (false, 1));

        // The backend retried it already (the AWS SDK does): not stacked on top.
        let exhausted = error(AwsErrorKind::Throttling).out_of_retries();
        let (result, attempts) = tries(RetryPolicy::TARGETS, vec![exhausted.clone()]).await;
        assert_eq!((result, attempts), (Err(exhausted.clone()), 1));
        let (result, attempts) = tries(RetryPolicy::RESTORE, vec![exhausted.clone()]).await;
        assert_eq!((result, attempts), (Err(exhausted), 1));

        // The restore tries any other error again.
        assert_eq!(tries(RetryPolicy::RESTORE, vec![error(AwsErrorKind::Client)]).await, (Ok(2), 2));
    }

    #[tokio::test(start_paused = true)]
    async fn only_aws_errors_of_the_crate_error_are_tried_again() {
        let not_found = || Error::NotFound { kind: "AMI", name: "ami-1".into(), region: "us-east-1".into() };
        let (result, attempts) = RetryPolicy::TARGETS.run("", || async { Err::<(), _>(not_found()) }).await;
        assert!(matches!(result, Err(Error::NotFound { .. })) && attempts == 1);
        let mut calls = 0;
        let (result, attempts) = RetryPolicy::TARGETS
            .run("", || {
                calls += 1;
                let fail = calls == 1;
                async move {
                    if fail {
                        Err(Error::Aws(error(AwsErrorKind::Server)))
                    } else {
                        Ok(())
                    }
                }
            })
            .await;
        assert!(result.is_ok() && attempts == 2);
    }

    #[test]
    fn only_temporary_errors_serialize_their_exhausted_retries() {
        let json = |e: &AwsError| serde_json::to_value(e).unwrap();
        assert!(json(&error(AwsErrorKind::Throttling)).get("retries_exhausted").is_none());
        assert_eq!(json(&error(AwsErrorKind::Throttling).out_of_retries())["retries_exhausted"], true);
        assert!(!error(AwsErrorKind::Client).out_of_retries().retries_exhausted);
    }
}
