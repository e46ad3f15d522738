//! Pacing and retries for the sweep's AWS calls.
//!
//! The sweep runs many independent calls at once. [`Pacer`] spaces them out: with no fixed
//! limit it lets calls through at once until AWS throttles one, then it spaces calls by an
//! interval it learns from the throttles (multiplicative decrease, like the SDKs' adaptive
//! retry mode), so a sweep settles at the account's rate limit instead of failing.
//!
//! AWS throttles with token buckets (EC2: one per API action, e.g. `DeregisterImage` holds 100
//! tokens and refills 5 a second): once the burst is spent, a throttle says the calls go faster
//! than the refill. The pacer then slows down once per *slowdown*: the throttles of the calls
//! already under way at the old pace, within [`CALM`] of the first, are the same news and
//! widen nothing more (doubling on each, as before, brought a sweep of 16 calls at once down
//! to one call a second, far below the refill). From the second slowdown on, the calls that
//! went through since the last one measure the refill rate (the bucket was empty at both
//! ends), and the pacer spaces calls by it; else it widens the spacing by half. Between
//! throttles the rate grows by [`GROWTH`] a second of successful calls, so it probes up again;
//! the bucket keeps the tokens of the slower stretches (up to its capacity) for the faster
//! ones, so the sweep gets nearly the whole refill. `benches/compare` (`--throttled`) measures it against
//! the floor, and a unit test runs it through a simulated bucket. [`Pacer::retry`] tries a call again after a
//! temporary error (throttling, a 5xx, a timeout) as amikeeper's retry layer decides
//! ([`RetryPolicy::SWEEP`]), pacing every attempt.
//!
//! A throttle counts whether the pacer sees it or the backend absorbed it: the AWS SDK retries
//! a throttled attempt by itself and reports it
//! ([`report_throttled_attempt`](crate::backend::report_throttled_attempt)) while the call is
//! still running, so the pacer counts it and slows every later call down at once.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::backend::{listen_for_throttles, AwsResult, RetryPolicy, ThrottleListener};
use crate::error::AwsErrorKind;

/// How often a sweep tries one call, in all, when AWS throttles it, fails with a 5xx or
/// times out, over a backend that does not retry by itself ([`RetryPolicy::SWEEP`]).
pub const ATTEMPTS: u32 = RetryPolicy::SWEEP.attempts();
/// The spacing the pacer starts at when it is first throttled (20 calls a second).
const FIRST_INTERVAL: Duration = Duration::from_millis(50);
/// The widest spacing (one call a second).
const MAX_INTERVAL: Duration = Duration::from_secs(1);
/// Below this spacing the pacer stops spacing calls (unless a fixed limit is set).
const MIN_INTERVAL: Duration = Duration::from_millis(2);
/// How much a slowdown widens the spacing.
const SLOWDOWN: f64 = 1.5;
/// How long after a slowdown further throttles count but widen nothing: they are the calls
/// already under way at the old pace (at least two spacings, if longer).
const CALM: Duration = Duration::from_secs(1);
/// How fast the rate grows while calls succeed: this share of itself per second.
const GROWTH: f64 = 0.1;
/// The most one slowdown widens the spacing by, when it measures the refill rate.
const MAX_STEP: u32 = 4;

/// Spaces calls out; shared by every call of a sweep.
#[derive(Debug)]
pub(crate) struct Pacer {
    /// The fixed spacing from `max_requests_per_second`, if any.
    floor: Option<Duration>,
    /// Shared with the throttle listener of each call in progress.
    state: Arc<Mutex<PacerState>>,
}

#[derive(Debug)]
struct PacerState {
    /// The spacing learnt from throttling, if AWS has throttled.
    learnt: Option<Duration>,
    /// The earliest time the next call may start.
    next: Option<Instant>,
    /// How many times AWS throttled: calls the pacer saw throttled, and attempts the backend
    /// retried itself.
    throttled: u64,
    /// The widest spacing throttling ever set.
    widest: Option<Duration>,
    /// Until when throttles widen nothing more (see [`CALM`]).
    calm_until: Option<Instant>,
    /// When the last call succeeded: the rate grows with the time calls keep succeeding.
    last_success: Option<Instant>,
    /// When the last slowdown was made, and how many calls succeeded since.
    slowed: Option<(Instant, u32)>,
}

impl PacerState {
    /// AWS throttled once, at `now`: count it, and widen the spacing unless a slowdown was
    /// just made.
    fn throttled(&mut self, now: Instant) {
        self.throttled += 1;
        if self.calm_until.is_some_and(|until| now < until) {
            return;
        }
        let interval = match (self.learnt, self.slowed) {
            (None, _) => FIRST_INTERVAL,
            // Throttled at both ends of the stretch since the last slowdown, the bucket was
            // (nearly) empty all along: the calls that went through meanwhile came at its
            // refill rate. Space calls by that, if it is slower (by at most `MAX_STEP`).
            (Some(interval), Some((since, succeeded))) if succeeded > 0 => {
                let measured = now.saturating_duration_since(since) / succeeded;
                if measured > interval {
                    measured.min(interval * MAX_STEP)
                } else {
                    interval.mul_f64(SLOWDOWN)
                }
            }
            (Some(interval), _) => interval.mul_f64(SLOWDOWN),
        }
        .min(MAX_INTERVAL);
        self.learnt = Some(interval);
        self.widest = self.widest.max(Some(interval));
        self.calm_until = Some(now + CALM.max(interval * 2));
        self.slowed = Some((now, 0));
    }

    /// A call succeeded at `now`: the rate grows by [`GROWTH`] a second since the last success
    /// (at most one second's worth at a time), and the spacing ends below [`MIN_INTERVAL`].
    fn succeeded(&mut self, now: Instant) {
        if let Some(interval) = self.learnt {
            let since = self.last_success.map_or(Duration::ZERO, |last| now.saturating_duration_since(last));
            let shorter = interval.div_f64(1.0 + GROWTH * since.min(Duration::from_secs(1)).as_secs_f64());
            self.learnt = (shorter >= MIN_INTERVAL).then_some(shorter);
        }
        self.last_success = Some(now);
        if let Some((_, succeeded)) = &mut self.slowed {
            *succeeded += 1;
        }
    }
}

fn lock(state: &Mutex<PacerState>) -> std::sync::MutexGuard<'_, PacerState> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

impl Pacer {
    /// A pacer with at most `max_per_second` calls a second, or no fixed limit.
    pub(crate) fn new(max_per_second: Option<u32>) -> Self {
        let floor = max_per_second.filter(|n| *n > 0).map(|n| Duration::from_secs(1) / n);
        let state = PacerState {
            learnt: None,
            next: None,
            throttled: 0,
            widest: None,
            calm_until: None,
            last_success: None,
            slowed: None,
        };
        Self { floor, state: Arc::new(Mutex::new(state)) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PacerState> {
        lock(&self.state)
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
        self.lock().throttled(Instant::now());
    }

    fn on_success(&self) {
        self.lock().succeeded(Instant::now());
    }

    /// How long a call started now would wait for its turn.
    pub(crate) fn backlog(&self) -> Duration {
        let state = self.lock();
        match (self.interval(&state), state.next) {
            (Some(_), Some(next)) => next.saturating_duration_since(Instant::now()),
            _ => Duration::ZERO,
        }
    }

    /// How many times AWS throttled, the attempts the backend retried itself included.
    pub(crate) fn throttled(&self) -> u64 {
        self.lock().throttled
    }

    /// The slowest pace throttling brought calls down to, in calls a second (rounded down, at
    /// least 1); `None` when throttling never slowed calls below the fixed limit, if any.
    pub(crate) fn slowest_per_second(&self) -> Option<u32> {
        let widest = self.lock().widest?;
        if self.floor.is_some_and(|floor| floor >= widest) {
            return None;
        }
        let per_second = Duration::from_secs(1).as_nanos() / widest.as_nanos().max(1);
        Some(u32::try_from(per_second).unwrap_or(u32::MAX).max(1))
    }

    /// A listener for one call: counts the throttled attempts the backend reports and slows
    /// the pacer down at once for each.
    fn listener(&self, reported: &Arc<AtomicU32>) -> ThrottleListener {
        let (state, reported) = (self.state.clone(), reported.clone());
        Arc::new(move || {
            reported.fetch_add(1, Ordering::Relaxed);
            lock(&state).throttled(Instant::now());
        })
    }

    /// Runs `call` in turn, again after a temporary error as amikeeper's retry layer decides
    /// ([`RetryPolicy::SWEEP`]: at most [`ATTEMPTS`] times, once when the backend retried it
    /// already). Returns the last result and how many attempts it took.
    pub(crate) async fn retry<T, F, Fut>(&self, mut call: F) -> (AwsResult<T>, u32)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = AwsResult<T>>,
    {
        RetryPolicy::SWEEP.run("", || self.attempt(call())).await
    }

    /// One attempt of a call: waits its turn, runs it, and learns from its answer.
    async fn attempt<T>(&self, call: impl Future<Output = AwsResult<T>>) -> AwsResult<T> {
        self.ready().await;
        let reported = Arc::new(AtomicU32::new(0));
        let result = listen_for_throttles(self.listener(&reported), call).await;
        match &result {
            Ok(_) => self.on_success(),
            // A backend that reported throttled attempts reported this answer too.
            Err(error) if error.kind == AwsErrorKind::Throttling && reported.load(Ordering::Relaxed) == 0 => {
                self.on_throttled()
            }
            Err(_) => {}
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::report_throttled_attempt;
    use crate::error::AwsError;

    /// A call AWS throttled once and the backend then retried to success by itself.
    async fn absorbed_throttle(pacer: &Pacer) {
        let (result, _) = pacer
            .retry(|| async {
                report_throttled_attempt();
                Ok::<_, AwsError>(())
            })
            .await;
        assert!(result.is_ok());
    }

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
        // A sixth call would wait its turn.
        assert_eq!(pacer.backlog(), Duration::from_millis(100));
        assert_eq!(Pacer::new(None).backlog(), Duration::ZERO, "no limit, no wait");
    }

    #[tokio::test(start_paused = true)]
    async fn throttling_slows_calls_down_once_per_slowdown_and_success_speeds_them_up() {
        let pacer = Pacer::new(None);
        let start = Instant::now();
        pacer.ready().await;
        pacer.ready().await;
        assert_eq!(start.elapsed(), Duration::ZERO, "no limit until throttled");
        pacer.on_throttled();
        pacer.on_throttled();
        assert_eq!(pacer.interval(&pacer.lock()), Some(FIRST_INTERVAL), "the calls under way: one slowdown");
        tokio::time::advance(CALM).await;
        pacer.on_throttled();
        assert_eq!(pacer.interval(&pacer.lock()), Some(FIRST_INTERVAL.mul_f64(SLOWDOWN)), "a new slowdown");
        assert_eq!(pacer.throttled(), 3, "every throttle counts");
        // Successes at one instant do not speed up: the rate grows with time.
        for _ in 0..100 {
            pacer.on_success();
        }
        assert_eq!(pacer.interval(&pacer.lock()), Some(Duration::from_millis(75)));
        tokio::time::advance(Duration::from_secs(1)).await;
        pacer.on_success();
        let after_a_second = pacer.interval(&pacer.lock()).unwrap();
        assert_eq!(after_a_second, Duration::from_millis(75).div_f64(1.0 + GROWTH));
        for _ in 0..60 {
            tokio::time::advance(Duration::from_secs(1)).await;
            pacer.on_success();
        }
        assert_eq!(pacer.interval(&pacer.lock()), None, "back to full speed");
        assert_eq!(pacer.slowest_per_second(), Some(13), "at worst 75 ms apart");
    }

    #[tokio::test(start_paused = true)]
    async fn throttles_the_backend_retried_itself_count_once_and_slow_down() {
        let pacer = Pacer::new(Some(100));
        // Throttled twice, then the backend's own retry succeeded: the caller sees a success.
        let (result, attempts) = pacer
            .retry(|| async {
                report_throttled_attempt();
                report_throttled_attempt();
                Ok::<_, AwsError>("done")
            })
            .await;
        assert_eq!((result.unwrap(), attempts), ("done", 1));
        assert_eq!(pacer.throttled(), 2);
        assert_eq!(pacer.slowest_per_second(), Some(20), "one slowdown, 50 ms apart: below the fixed 100 a second");

        // Throttled three times, the backend gave up (its error is the third throttle, not a
        // fourth), then the pacer's own retry went through.
        let mut calls = 0;
        let (result, attempts) = pacer
            .retry(|| {
                calls += 1;
                let give_up = calls == 1;
                async move {
                    if give_up {
                        for _ in 0..3 {
                            report_throttled_attempt();
                        }
                        Err(throttle())
                    } else {
                        Ok(())
                    }
                }
            })
            .await;
        assert!(result.is_ok());
        assert_eq!((attempts, pacer.throttled()), (2, 5));
        assert_eq!(pacer.slowest_per_second(), Some(20), "within a second of the slowdown: no further one");
        // A throttle after the calm is a new slowdown.
        let before = pacer.interval(&pacer.lock()).unwrap();
        tokio::time::advance(CALM).await;
        absorbed_throttle(&pacer).await;
        // Two calls went through in the second and more since the first slowdown: the refill
        // rate that measures is far slower than `before`, and one slowdown widens at most 4
        // times; then the call's success, a second after the last, grows the rate by a tenth.
        let after = pacer.interval(&pacer.lock()).unwrap();
        assert_eq!(after, (before * MAX_STEP).div_f64(1.0 + GROWTH));
        assert_eq!(pacer.slowest_per_second(), Some(5), "about 180 ms apart at worst");
    }

    #[tokio::test(start_paused = true)]
    async fn no_slowdown_is_reported_when_throttling_stays_under_the_fixed_limit() {
        let pacer = Pacer::new(Some(10));
        assert_eq!(pacer.slowest_per_second(), None);
        absorbed_throttle(&pacer).await;
        assert_eq!(pacer.throttled(), 1);
        assert_eq!(pacer.slowest_per_second(), None, "50 ms learnt, 100 ms fixed: no slower than asked");
    }

    /// EC2's request token bucket for one action, on tokio's clock: `capacity` tokens at first,
    /// `refill` more a second, one a request (the model of benches/compare/throttle.py).
    struct SimulatedBucket {
        capacity: f64,
        refill: f64,
        tokens: f64,
        last: Instant,
    }

    impl SimulatedBucket {
        fn new(capacity: f64, refill: f64) -> Mutex<Self> {
            Mutex::new(Self { capacity, refill, tokens: capacity, last: Instant::now() })
        }

        fn take(&mut self) -> bool {
            let now = Instant::now();
            let refilled = self.tokens + now.duration_since(self.last).as_secs_f64() * self.refill;
            self.tokens = refilled.min(self.capacity);
            self.last = now;
            if self.tokens >= 1.0 - 1e-9 {
                self.tokens = (self.tokens - 1.0).max(0.0);
                true
            } else {
                false
            }
        }
    }

    /// What a sweep of `calls` deletions through `bucket` came to, `concurrency` at a time.
    struct Run {
        elapsed: Duration,
        failed: usize,
        attempts: u64,
    }

    /// Makes `calls` calls through the pacer, `concurrency` at a time, each answered 5 ms
    /// after it starts, throttled when `bucket` has no token.
    async fn sweep_through(bucket: &Mutex<SimulatedBucket>, calls: usize, concurrency: usize) -> (Run, Pacer) {
        use std::sync::atomic::AtomicUsize;
        let pacer = Pacer::new(None);
        let (next, failed, attempts) = (AtomicUsize::new(0), AtomicUsize::new(0), AtomicU32::new(0));
        let start = Instant::now();
        let worker = || async {
            while next.fetch_add(1, Ordering::Relaxed) < calls {
                let (result, tries) = pacer
                    .retry(|| async {
                        tokio::time::sleep(Duration::from_micros(2500)).await;
                        let passed = bucket.lock().unwrap().take();
                        tokio::time::sleep(Duration::from_micros(2500)).await;
                        if passed {
                            Ok(())
                        } else {
                            Err(throttle())
                        }
                    })
                    .await;
                attempts.fetch_add(tries, Ordering::Relaxed);
                if result.is_err() {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        };
        futures::future::join_all((0..concurrency).map(|_| worker())).await;
        let run =
            Run { elapsed: start.elapsed(), failed: failed.into_inner(), attempts: u64::from(attempts.into_inner()) };
        (run, pacer)
    }

    #[tokio::test(start_paused = true)]
    async fn a_sweep_through_a_token_bucket_keeps_within_a_fifth_of_its_floor_and_fails_nothing() {
        // EC2's DeregisterImage: 100 tokens, 5 a second; and the same scaled 4 times, as the
        // throttled benchmark may run it. The floor is (calls - 100) / refill.
        for (refill, calls) in [(5.0, 600), (20.0, 2000), (5.0, 2000)] {
            let bucket = SimulatedBucket::new(100.0, refill);
            let (run, pacer) = sweep_through(&bucket, calls, 16).await;
            let floor = (calls as f64 - 100.0) / refill;
            let ratio = run.elapsed.as_secs_f64() / floor;
            eprintln!(
                "refill {refill}/s, {calls} calls: {:.1} s, floor {floor:.1} s, {ratio:.3}x, {} throttled, {} attempts, {} failed",
                run.elapsed.as_secs_f64(),
                pacer.throttled(),
                run.attempts,
                run.failed
            );
            assert_eq!(run.failed, 0, "refill {refill}: no call may fail");
            assert!(ratio <= 1.2, "refill {refill}: {ratio:.3}x the floor");
            assert!(ratio >= 1.0, "faster than the bucket allows: the simulation is wrong");
        }
    }
}
