//! [`Deadline`]: the time by which a run must have returned its report, such as the end of a
//! Lambda invocation.
//!
//! A run given a deadline stops early enough to return: the wait for a `pending` AMI ends and
//! leaves its targets `deferred` (the AMI's `EC2 AMI State Change` event finishes them), and a
//! sweep stops starting actions and reports the rest `not_started` (the next sweep does them).
//! Nothing already started is cut off. The deadline is a [`tokio::time::Instant`], so that tests
//! with tokio's paused clock see it pass as the clock advances.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// What a Lambda function keeps of its remaining time for returning the report, beyond the
/// run: serializing it (thousands of sweep items), printing it and its metrics to the log, and
/// handing it to the runtime take well under this.
pub const LAMBDA_REPORT_MARGIN: Duration = Duration::from_millis(500);

/// When a run must have returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Deadline(Instant);

impl Deadline {
    /// The deadline at `instant`.
    pub fn at(instant: Instant) -> Self {
        Self(instant)
    }

    /// The deadline `remaining` from now.
    pub fn after(remaining: Duration) -> Self {
        Self(Instant::now() + remaining)
    }

    /// The deadline of a Lambda invocation with `remaining` time left (the Python context's
    /// `get_remaining_time_in_millis()`), less [`LAMBDA_REPORT_MARGIN`] to return the report.
    pub fn lambda(remaining: Duration) -> Self {
        Self::after(remaining.saturating_sub(LAMBDA_REPORT_MARGIN))
    }

    /// The deadline of a Lambda invocation that ends at `epoch_millis` (milliseconds since the
    /// Unix epoch, the Rust runtime's `Context::deadline`), less [`LAMBDA_REPORT_MARGIN`].
    /// A time already past leaves no time at all.
    pub fn lambda_at_epoch_millis(epoch_millis: u64) -> Self {
        let end = UNIX_EPOCH + Duration::from_millis(epoch_millis);
        Self::lambda(end.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO))
    }

    /// The instant of the deadline.
    pub fn instant(&self) -> Instant {
        self.0
    }

    /// The time left until the deadline; zero once it has passed.
    pub fn remaining(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    /// Whether at least `needed` is left.
    pub fn allows(&self, needed: Duration) -> bool {
        self.remaining() >= needed
    }

    /// `margin` before the deadline (the deadline itself for a margin longer than the time
    /// since the clock's start).
    pub fn less(&self, margin: Duration) -> Instant {
        self.0.checked_sub(margin).unwrap_or(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_time_left_runs_down_with_the_clock() {
        let deadline = Deadline::after(Duration::from_secs(2));
        assert_eq!(deadline.remaining(), Duration::from_secs(2));
        assert!(deadline.allows(Duration::from_secs(2)));
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert_eq!(deadline.remaining(), Duration::from_millis(500));
        assert!(!deadline.allows(Duration::from_secs(1)));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(deadline.remaining(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_lambda_keeps_a_margin_to_return_its_report() {
        assert_eq!(Deadline::lambda(Duration::from_secs(3)).remaining(), Duration::from_millis(2500));
        assert_eq!(Deadline::lambda(Duration::from_millis(200)).remaining(), Duration::ZERO);
        let in_ten_seconds = SystemTime::now() + Duration::from_secs(10);
        let millis = u64::try_from(in_ten_seconds.duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap();
        let remaining = Deadline::lambda_at_epoch_millis(millis).remaining();
        assert!(remaining <= Duration::from_millis(9500) && remaining > Duration::from_secs(9), "{remaining:?}");
        assert_eq!(Deadline::lambda_at_epoch_millis(0).remaining(), Duration::ZERO, "already past");
    }
}
