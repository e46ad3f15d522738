//! [`FaultyAws`]: a wrapper that makes calls to any backend fail, for chaos tests.
//!
//! It takes the same faults as [`MemoryAws`](crate::memory::MemoryAws) (scripted with
//! [`Fault`], or seeded-random), so a scenario written for the in-memory account can inject the
//! same failures into the SDK backend against an emulator.

use std::future::Future;
use std::sync::{Arc, Mutex};

use time::OffsetDateTime;

use super::faults::{fault_error, FaultPlan};
use super::{Fault, FaultKind};
use crate::backend::wrap::delegate_through_around;
use crate::backend::{Aws, AwsResult, InstanceRefreshPreferences};
use crate::model::{
    AccountId, AutoScalingGroup, CopyImage, CreateImage, Image, ImageId, ImageReference, Instance, LaunchConfiguration,
    LaunchTemplate, LaunchTemplateRef, LaunchTemplateSpec, LaunchTemplateVersion, Parameter, PutParameter,
    RecycleBinResource, RecycleBinRule, Region, Snapshot, Stack, StackUpdate, Tags, UpdateStack, Volume,
};

/// Wraps any [`Aws`] and fails the calls the injected faults hit. A faulted call does not
/// reach the wrapped backend, except [`FaultKind::TimeoutAfterEffect`], which reaches it and
/// then loses the answer, and [`FaultKind::ThrottledThenRetried`], which reaches it after a
/// throttle retried in the backend.
pub struct FaultyAws {
    inner: Arc<dyn Aws>,
    faults: Mutex<FaultPlan>,
    interleaving: Mutex<Option<Interleaving>>,
    latency: Mutex<std::time::Duration>,
}

/// Seeded yields before each call, so that concurrent runs on one async runtime interleave
/// their AWS calls in an order the seed decides (see [`FaultyAws::interleave`]).
#[derive(Debug, Clone, Copy)]
struct Interleaving {
    state: u64,
    max_yields: u32,
}

impl Interleaving {
    /// splitmix64.
    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl FaultyAws {
    /// Wraps `inner`, with no faults yet.
    pub fn new(inner: Arc<dyn Aws>) -> Self {
        Self {
            inner,
            faults: Mutex::new(FaultPlan::default()),
            interleaving: Mutex::new(None),
            latency: Mutex::new(std::time::Duration::ZERO),
        }
    }

    /// Makes every call take `latency` before it reaches the wrapped backend (a tokio sleep: on
    /// a paused clock, tests run at once and see the time pass), as a distant or busy AWS does.
    pub fn set_latency(&self, latency: std::time::Duration) {
        *self.latency.lock().unwrap_or_else(|e| e.into_inner()) = latency;
    }

    /// Before each call, yields to the async runtime 0 to `max_yields` times, as drawn from
    /// `seed`. Runs started together on one runtime (e.g. `futures::future::join_all` over
    /// `Keeper::handle` calls) then interleave their calls in an order the seed decides, each
    /// call atomic as in AWS: races between runs become reproducible on `MemoryAws`.
    pub fn interleave(&self, seed: u64, max_yields: u32) {
        *self.interleaving.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(Interleaving { state: seed ^ 0x5DEE_CE66_D1CE_4E5B, max_yields });
    }

    fn plan(&self) -> std::sync::MutexGuard<'_, FaultPlan> {
        self.faults.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a scripted fault.
    pub fn inject(&self, fault: Fault) {
        self.plan().push(fault);
    }

    /// Fails each call not hit by a queued fault with `probability`, with one of `kinds`.
    pub fn inject_random(&self, seed: u64, probability: f64, kinds: &[FaultKind]) {
        self.plan().set_random(seed, probability, kinds);
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.plan().clear();
    }

    /// How many faulted calls the queued faults still have in store.
    pub fn pending_faults(&self) -> u32 {
        self.plan().remaining()
    }

    /// Runs `call` unless a fault hits `op`; a lost answer runs it and fails anyway.
    async fn around<T>(&self, op: &'static str, call: impl Future<Output = AwsResult<T>>) -> AwsResult<T> {
        let yields = self
            .interleaving
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
            .map_or(0, |i| i.next() % (u64::from(i.max_yields) + 1));
        for _ in 0..yields {
            tokio::task::yield_now().await;
        }
        let latency = *self.latency.lock().unwrap_or_else(|e| e.into_inner());
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let fault = self.plan().next_fault(op);
        match fault {
            None => call.await,
            Some(FaultKind::TimeoutAfterEffect) => {
                let _ = call.await;
                Err(fault_error(op, FaultKind::TimeoutAfterEffect))
            }
            Some(FaultKind::ThrottledThenRetried) => {
                crate::backend::report_throttled_attempt();
                call.await
            }
            Some(kind) => Err(fault_error(op, kind)),
        }
    }
}

delegate_through_around!(FaultyAws);
