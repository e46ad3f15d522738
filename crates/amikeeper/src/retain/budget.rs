//! The time a sweep has left to act on its plan ([`SweepOptions::deadline`](super::SweepOptions)):
//! whether one more action may start.
//!
//! An action (one call and its retries: a launch template version chunk, an image's
//! retirement with the release of its protection, a snapshot) starts only when the time left
//! is at least the wait for its turn at the [`Pacer`] plus a safety margin: the longest any
//! action of this sweep has taken so far, retries and pacing included, and never less than
//! [`MIN_MARGIN`] (an AWS call takes a few hundred milliseconds, and the SDK may retry it).
//! Actions run several at once, so each started action has about that margin to finish.
//!
//! Once one action is refused, no later one starts, even if the time looks enough again (the
//! pacer's queue emptied): the sweep stops in its order (launch template versions, images,
//! snapshots), and every action left is `not_started`. An action started is never cut off, so
//! what the sweep leaves is what a sweep killed between two calls leaves, which the next sweep
//! converges from: the snapshots of an image it deregistered were marked
//! [`RETIRED_SNAPSHOT_TAG`](super::RETIRED_SNAPSHOT_TAG) first, and are planned again as
//! leftovers.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::pace::Pacer;
use super::report::{ItemResult, ItemStatus, SweepAction};
use crate::deadline::Deadline;

/// The least time an action must have left to start.
pub const MIN_MARGIN: Duration = Duration::from_secs(1);

/// The time left to a sweep's actions; shared by all of them.
pub(crate) struct Budget<'a> {
    deadline: Option<Deadline>,
    pacer: &'a Pacer,
    /// The longest action so far.
    slowest: Mutex<Duration>,
    /// Set when an action was refused: no later one starts.
    stopped: AtomicBool,
}

impl<'a> Budget<'a> {
    /// The budget up to `deadline` (none: every action starts), for actions paced by `pacer`.
    pub(crate) fn new(deadline: Option<Deadline>, pacer: &'a Pacer) -> Self {
        Self { deadline, pacer, slowest: Mutex::new(Duration::ZERO), stopped: AtomicBool::new(false) }
    }

    /// The time an action must have left, beyond its wait at the pacer, to start.
    pub(crate) fn margin(&self) -> Duration {
        (*self.slowest.lock().unwrap_or_else(|e| e.into_inner())).max(MIN_MARGIN)
    }

    /// Whether the sweep has a deadline.
    pub(crate) fn bounded(&self) -> bool {
        self.deadline.is_some()
    }

    /// Whether the deadline stopped the sweep.
    pub(crate) fn stopped(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }

    /// Whether one more action may start now; `false` from the first refusal on.
    fn may_start(&self) -> bool {
        let Some(deadline) = self.deadline else { return true };
        if self.stopped() {
            return false;
        }
        if deadline.allows(self.margin() + self.pacer.backlog()) {
            return true;
        }
        self.stopped.store(true, Ordering::Relaxed);
        tracing::warn!(
            target: "amikeeper::retain",
            left = ?deadline.remaining(),
            margin = ?self.margin(),
            "the deadline is near: the sweep starts no more actions"
        );
        false
    }

    /// Runs `action` if there is time for it, timing it; `None` when it was not started.
    pub(crate) async fn run<T>(&self, action: impl Future<Output = T>) -> Option<T> {
        if !self.may_start() {
            return None;
        }
        let started = Instant::now();
        let outcome = action.await;
        let took = started.elapsed();
        let mut slowest = self.slowest.lock().unwrap_or_else(|e| e.into_inner());
        *slowest = (*slowest).max(took);
        Some(outcome)
    }

    /// The result of an action the deadline left for the next sweep.
    pub(crate) fn not_started(&self, resource: impl Into<String>, action: SweepAction) -> ItemResult {
        let margin = self.margin().as_secs_f64();
        ItemResult {
            resource: resource.into(),
            action,
            version: None,
            status: ItemStatus::NotStarted,
            attempts: 0,
            detail: Some(format!(
                "deadline: less than {margin:.1} s was left to start it safely; the next sweep does it"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn actions_start_while_the_slowest_so_far_fits_and_never_after() {
        let pacer = Pacer::new(None);
        let budget = Budget::new(Some(Deadline::after(Duration::from_secs(5))), &pacer);
        let sleep = |ms| tokio::time::sleep(Duration::from_millis(ms));
        assert_eq!(budget.margin(), MIN_MARGIN);
        // 1.5 s: the margin grows to it.
        assert!(budget.run(sleep(1500)).await.is_some());
        assert_eq!(budget.margin(), Duration::from_millis(1500));
        assert!(budget.run(sleep(500)).await.is_some());
        assert!(budget.run(sleep(1500)).await.is_some());
        // 1.5 s left: just the margin.
        assert!(budget.run(sleep(10)).await.is_some());
        assert!(!budget.stopped());
        assert!(budget.run(sleep(10)).await.is_none(), "1.49 s left is less than the margin");
        assert!(budget.stopped());
        let item = budget.not_started("snap-1", SweepAction::DeleteSnapshot);
        assert_eq!(item.status, ItemStatus::NotStarted);
        assert!(item.detail.unwrap().starts_with("deadline: less than 1.5 s"));
    }

    #[tokio::test(start_paused = true)]
    async fn the_wait_for_the_pacer_counts_and_a_refusal_is_final() {
        let pacer = Pacer::new(Some(1));
        let budget = Budget::new(Some(Deadline::after(Duration::from_millis(3500))), &pacer);
        pacer.ready().await;
        pacer.ready().await;
        // At 1 s, the next call would wait a second for its turn: 1 s + 1 s of margin fit in
        // the 2.5 s left.
        assert!(budget.run(async {}).await.is_some());
        // At 2 s, it would wait a second again, with 1.5 s left.
        pacer.ready().await;
        assert!(budget.run(async {}).await.is_none());
        // Time passing does not bring it back.
        tokio::time::advance(Duration::from_millis(100)).await;
        assert!(budget.run(async {}).await.is_none());
        // Without a deadline, everything starts.
        let unbounded = Budget::new(None, &pacer);
        assert!(unbounded.run(async {}).await.is_some());
    }
}
