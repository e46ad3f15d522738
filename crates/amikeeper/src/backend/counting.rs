//! [`CountingAws`]: a wrapper that records every call made through it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use std::future::Future;

use super::wrap::delegate_through_around;
use super::{Aws, AwsResult, InstanceRefreshPreferences};
use time::OffsetDateTime;

use crate::model::{
    AccountId, AutoScalingGroup, CopyImage, CreateImage, Image, ImageId, ImageReference, Instance, LaunchConfiguration,
    LaunchTemplate, LaunchTemplateRef, LaunchTemplateSpec, LaunchTemplateVersion, Parameter, PutParameter,
    RecycleBinResource, RecycleBinRule, Region, Snapshot, Stack, StackUpdate, Tags, UpdateStack, Volume,
};

/// The calls made through a [`CountingAws`], in order, as `service:Operation`.
#[derive(Debug, Default)]
pub struct CallLog {
    calls: Mutex<Vec<&'static str>>,
}

impl CallLog {
    fn record(&self, call: &'static str) {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).push(call);
    }

    /// How many calls were made.
    pub fn count(&self) -> usize {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Every call, in order.
    pub fn calls(&self) -> Vec<&'static str> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Calls per operation.
    pub fn by_operation(&self) -> BTreeMap<&'static str, usize> {
        let mut counts = BTreeMap::new();
        for call in self.calls() {
            *counts.entry(call).or_default() += 1;
        }
        counts
    }
}

/// Wraps any [`Aws`] and records each call (a call that fails still counts: AWS saw it).
///
/// Retries inside the wrapped backend are not counted separately: the count is of the
/// operations amikeeper asked for.
pub struct CountingAws<'a> {
    inner: &'a dyn Aws,
    log: CallLog,
}

impl<'a> CountingAws<'a> {
    /// Wraps `inner`.
    pub fn new(inner: &'a dyn Aws) -> Self {
        Self { inner, log: CallLog::default() }
    }

    /// The calls made so far.
    pub fn log(&self) -> &CallLog {
        &self.log
    }

    async fn around<T>(&self, op: &'static str, call: impl Future<Output = AwsResult<T>>) -> AwsResult<T> {
        self.log.record(op);
        call.await
    }
}

delegate_through_around!(CountingAws<'_>);
