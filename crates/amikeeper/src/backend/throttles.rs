//! Throttles a backend absorbed: AWS throttled an attempt, and the backend retried it itself.
//!
//! A backend may retry a throttled call by itself before it answers (the AWS SDK does, up to
//! its maximum attempts), so its caller sees only the last answer, often a success. Such a
//! backend tells the caller about every throttled answer with [`report_throttled_attempt`];
//! the sweep's pacer listens around each call it makes, counts them in `summary.throttled` and
//! slows down at once, as for a throttle it saw itself.
//!
//! The listener is task-local (tokio), set for the time one call's future runs. That needs no
//! backend trait method, passes through every wrapper ([`CountingAws`](super::CountingAws),
//! [`FaultyAws`](crate::memory::FaultyAws), the backend of an assumed role) and tells apart the calls
//! a sweep makes at once in the same task. A backend must report from inside the call's own
//! future (as an SDK interceptor does), not from a task it spawns.

use std::future::Future;
use std::sync::Arc;

/// What hears the throttled attempts of the calls made inside [`listen_for_throttles`].
pub(crate) type ThrottleListener = Arc<dyn Fn() + Send + Sync>;

tokio::task_local! {
    static LISTENER: ThrottleListener;
}

/// Reports that AWS throttled one attempt of the call in progress and the backend retried it
/// itself (or gave up: then the call's error follows, and is not counted twice). A backend
/// that retries inside itself calls this once per throttled answer.
///
/// Returns whether anyone listened: only calls a sweep makes are listened to; elsewhere the
/// report is dropped.
pub fn report_throttled_attempt() -> bool {
    LISTENER.try_with(|listener| listener()).is_ok()
}

/// Runs `call` with `listener` hearing every [`report_throttled_attempt`] made inside it.
pub(crate) async fn listen_for_throttles<F: Future>(listener: ThrottleListener, call: F) -> F::Output {
    LISTENER.scope(listener, call).await
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test]
    async fn reports_reach_the_listener_of_their_own_call_only() {
        assert!(!report_throttled_attempt(), "nobody listens outside a call");
        let (first, second) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
        let listener = |count: &Arc<AtomicU32>| -> ThrottleListener {
            let count = count.clone();
            Arc::new(move || {
                count.fetch_add(1, Ordering::Relaxed);
            })
        };
        // Two calls polled at once in one task: each report goes to its own call's listener.
        let one = listen_for_throttles(listener(&first), async {
            assert!(report_throttled_attempt());
            tokio::task::yield_now().await;
            assert!(report_throttled_attempt());
        });
        let two = listen_for_throttles(listener(&second), async {
            tokio::task::yield_now().await;
            assert!(report_throttled_attempt());
        });
        tokio::join!(one, two);
        assert_eq!((first.load(Ordering::Relaxed), second.load(Ordering::Relaxed)), (2, 1));
        assert!(!report_throttled_attempt());
    }
}
