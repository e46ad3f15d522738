//! Pacing and retries for the sweep's AWS calls.
//!
//! The sweep runs many independent calls at once. [`Pacer`] spaces them out: with no fixed
//! limit it lets calls through at once until AWS throttles one, then it spaces calls by an
//! interval that doubles on every throttle and shrinks slowly on success (additive increase,
//! multiplicative decrease, like the SDKs' adaptive retry mode), so a sweep settles just under
//! the account's rate limit instead of failing. [`Pacer::retry`] tries a call again after a
//! retryable error (throttling, a 5xx, a timeout) with exponential backoff.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::backend::AwsResult;
use crate::error::AwsErrorKind;

/// How often a sweep tries one call, in all, when AWS throttles it, fails with a 5xx or
/// times out.
pub const ATTEMPTS: u32 = 5;
/// The first backoff after a retryable error; it doubles each time.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The spacing the pacer starts at when it is first throttled (20 calls a second).
const FIRST_INTERVAL: Duration = Duration::from_millis(50);
/// The widest spacing (one call a second).
const MAX_INTERVAL: Duration = Duration::from_secs(1);
/// Below this spacing the pacer stops spacing calls (unless a fixed limit is set).
const MIN_INTERVAL: Duration = Duration::from_millis(2);

/// Spaces calls out; shared by every call of a sweep.
#[derive(Debug)]
pub(crate) struct Pacer {
    /// The fixed spacing from `max_requests_per_second`, if any.
    floor: Option<Duration>,
    state: Mutex<PacerState>,
}

#[derive(Debug)]
struct PacerState {
    /// The spacing learnt from throttling, if AWS has throttled.
    learnt: Option<Duration>,
    /// The earliest time the next call may start.
    next: Option<Instant>,
    /// How many calls were throttled.
    throttled: u64,
}

impl Pacer {
    /// A pacer with at most `max_per_second` calls a second, or no fixed limit.
    pub(crate) fn new(max_per_second: Option<u32>) -> Self {
        let floor = max_per_second.filter(|n| *n > 0).map(|n| Duration::from_secs(1) / n);
        Self { floor, state: Mutex::new(PacerState { learnt: None, next: None, throttled: 0 }) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PacerState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The spacing now in force.
    fn interval(&self, state: &PacerState) -> Option<Duration> {
        match (self.floor, state.learnt) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    /// Waits for this call's turn.
    pub(crate) async fn ready(&self) {
        let wait_until = {
            let mut state = self.lock();
            let Some(interval) = self.interval(&state) else { return };
            let now = Instant::now();
            let slot = state.next.filter(|next| *next > now).unwrap_or(now);
            state.next = Some(slot + interval);
            slot
        };
        tokio::time::sleep_until(wait_until).await;
    }

    fn on_throttled(&self) {
        let mut state = self.lock();
        state.throttled += 1;
        state.learnt = Some(match state.learnt {
            None => FIRST_INTERVAL,
            Some(interval) => (interval * 2).min(MAX_INTERVAL),
        });
    }

    fn on_success(&self) {
        let mut state = self.lock();
        if let Some(interval) = state.learnt {
            let shorter = interval.mul_f64(0.95);
            state.learnt = (shorter >= MIN_INTERVAL).then_some(shorter);
        }
    }

    /// How many calls AWS throttled.
    pub(crate) fn throttled(&self) -> u64 {
        self.lock().throttled
    }

    /// Runs `call` in turn, again after a retryable error, at most [`ATTEMPTS`] times.
    /// Returns the last result and how many attempts it took.
    pub(crate) async fn retry<T, F, Fut>(&self, mut call: F) -> (AwsResult<T>, u32)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = AwsResult<T>>,
    {
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 1;
        loop {
            self.ready().await;
            let result = call().await;
            match &result {
                Ok(_) => self.on_success(),
                Err(error) => {
                    if error.kind == AwsErrorKind::Throttling {
                        self.on_throttled();
                    }
                    if error.is_retryable() && attempt < ATTEMPTS {
                        tokio::time::sleep(backoff).await;
                        backoff *= 2;
                        attempt += 1;
                        continue;
                    }
                }
            }
            return (result, attempt);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::AwsError;

    fn throttle() -> AwsError {
        AwsError::new("ec2", "DeleteSnapshot", AwsErrorKind::Throttling, "RequestLimitExceeded", "slow down")
    }

    #[tokio::test(start_paused = true)]
    async fn retries_retryable_errors_then_gives_up() {
        let pacer = Pacer::new(None);
        let mut calls = 0;
        let (result, attempts) = pacer
            .retry(|| {
                calls += 1;
                let fail = calls < 3;
                async move {
                    if fail {
                        Err(throttle())
                    } else {
                        Ok(calls)
                    }
                }
            })
            .await;
        assert_eq!((result.unwrap(), attempts), (3, 3));
        assert_eq!(pacer.throttled(), 2);

        let (result, attempts) = pacer.retry(|| async { Err::<(), _>(throttle()) }).await;
        assert!(result.is_err());
        assert_eq!(attempts, ATTEMPTS);

        let client = AwsError::new("ec2", "DeleteSnapshot", AwsErrorKind::Client, "InvalidSnapshot.InUse", "in use");
        let (result, attempts) = pacer.retry(|| async { Err::<(), _>(client.clone()) }).await;
        assert_eq!((result.unwrap_err().code.as_str(), attempts), ("InvalidSnapshot.InUse", 1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_fixed_limit_spaces_calls() {
        let pacer = Pacer::new(Some(10));
        let start = Instant::now();
        for _ in 0..5 {
            pacer.ready().await;
        }
        // Five calls at ten a second: the fifth starts 400 ms after the first.
        assert_eq!(start.elapsed(), Duration::from_millis(400));
    }

    #[tokio::test(start_paused = true)]
    async fn throttling_slows_calls_down_and_success_speeds_them_up() {
        let pacer = Pacer::new(None);
        let start = Instant::now();
        pacer.ready().await;
        pacer.ready().await;
        assert_eq!(start.elapsed(), Duration::ZERO, "no limit until throttled");
        pacer.on_throttled();
        pacer.on_throttled();
        assert_eq!(pacer.interval(&pacer.lock()), Some(FIRST_INTERVAL * 2));
        for _ in 0..200 {
            pacer.on_success();
        }
        assert_eq!(pacer.interval(&pacer.lock()), None, "back to full speed");
    }
}
