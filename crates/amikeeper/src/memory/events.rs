//! Amazon EventBridge of the in-memory account: the event buses of each region and the events
//! put on them.
//!
//! Faithful where amikeeper relies on it: a call takes 1 to 10 entries adding up to at most
//! 256 KB (`ValidationException` otherwise); each entry needs a source, a detail type and a
//! detail that is a JSON object, and a bus that exists in the region (its name, or its ARN in
//! this account and region); an entry that fails says why in its result, and the call still
//! succeeds. Scripted entry failures ([`MemoryAws::fail_event_entries`]) fail single entries
//! the way EventBridge does under load (`ThrottlingException`, `InternalFailure`); faults
//! ([`MemoryAws::inject`] on `events:PutEvents`) fail whole calls. Rules and targets are not
//! modelled: the events stay on the bus ([`MemoryAws::bus_events`]).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use async_trait::async_trait;

use crate::backend::{AwsResult, EventsApi};
use crate::error::AwsErrorKind;
use crate::model::{EntryResult, EventEntry, Region, EVENTS_PER_CALL, MAX_PUT_EVENTS_BYTES};

use super::{aws_error, ops, IntoRegion, MemoryAws, World};

/// The event buses of the account and what was put on them.
#[derive(Debug, Default)]
pub(super) struct Buses {
    /// Buses made besides `default` (which every region has), by region.
    created: BTreeMap<Region, BTreeSet<String>>,
    /// The events accepted, by region, oldest first.
    accepted: BTreeMap<Region, Vec<BusEvent>>,
    /// Entry failures still to come: the next entries fail with these, in order.
    failures: VecDeque<(String, String)>,
}

/// An event EventBridge accepted: its id and the entry as put.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusEvent {
    /// The id EventBridge gave it.
    pub id: String,
    /// The entry.
    pub entry: EventEntry,
}

impl MemoryAws {
    /// Makes a custom event bus `name` in `region` (`default` always exists).
    pub fn create_event_bus(&self, region: impl IntoRegion, name: &str) {
        let region = region.into_region();
        self.with_world(|world| world.buses.created.entry(region).or_default().insert(name.to_owned()));
    }

    /// The events put on any bus of `region`, oldest first.
    pub fn bus_events(&self, region: impl IntoRegion) -> Vec<BusEvent> {
        let region = region.into_region();
        self.with_world(|world| world.buses.accepted.get(&region).cloned().unwrap_or_default())
    }

    /// Fails the next `times` entries of `PutEvents` calls with `code` (e.g.
    /// `ThrottlingException`, `InternalFailure`), the calls themselves succeeding.
    pub fn fail_event_entries(&self, code: &str, times: usize) {
        self.with_world(|world| {
            let failure = (code.to_owned(), format!("{code} (injected entry failure)"));
            world.buses.failures.extend(std::iter::repeat_n(failure, times));
        });
    }
}

impl World {
    /// Whether `bus` (a name, or an ARN in this account and `region`) exists in `region`.
    fn bus_exists(&self, region: &Region, bus: &str) -> bool {
        let name = match bus.strip_prefix("arn:") {
            Some(arn) => {
                let parts: Vec<&str> = arn.splitn(5, ':').collect();
                match parts.as_slice() {
                    [_, "events", arn_region, account, resource]
                        if *arn_region == region.as_str() && *account == self.account.as_str() =>
                    {
                        match resource.strip_prefix("event-bus/") {
                            Some(name) => name,
                            None => return false,
                        }
                    }
                    _ => return false,
                }
            }
            None => bus,
        };
        name == "default" || self.buses.created.get(region).is_some_and(|names| names.contains(name))
    }

    /// What EventBridge says of one entry, which it keeps when it accepts it.
    fn put_entry(&mut self, region: &Region, entry: &EventEntry) -> EntryResult {
        let failed = |code: &str, message: String| EntryResult::Failed { code: code.to_owned(), message };
        if entry.source.is_empty() || entry.detail_type.is_empty() {
            return failed("InvalidArgument", "Parameter Source and DetailType are required.".into());
        }
        if !matches!(serde_json::from_str::<serde_json::Value>(&entry.detail), Ok(serde_json::Value::Object(_))) {
            return failed("MalformedDetail", "Detail is malformed.".into());
        }
        if !self.bus_exists(region, &entry.event_bus) {
            return failed("ResourceNotFoundException", format!("Event bus {} does not exist.", entry.event_bus));
        }
        if let Some((code, message)) = self.buses.failures.pop_front() {
            return failed(&code, message);
        }
        let id = self.next_id("event");
        self.buses.accepted.entry(region.clone()).or_default().push(BusEvent { id: id.clone(), entry: entry.clone() });
        EntryResult::Accepted { event_id: id }
    }
}

#[async_trait]
impl EventsApi for MemoryAws {
    async fn put_events(&self, region: &Region, entries: &[EventEntry]) -> AwsResult<Vec<EntryResult>> {
        self.call(ops::PUT_EVENTS, |world| {
            let invalid =
                |message: String| aws_error(ops::PUT_EVENTS, AwsErrorKind::Client, "ValidationException", message);
            if entries.is_empty() || entries.len() > EVENTS_PER_CALL {
                return Err(invalid(format!(
                    "1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have \
                     length between 1 and {EVENTS_PER_CALL} (got {})",
                    entries.len()
                )));
            }
            let size: usize = entries.iter().map(EventEntry::size).sum();
            if size > MAX_PUT_EVENTS_BYTES {
                return Err(invalid(format!(
                    "Total size of the entries in the request is over the limit ({size} bytes)."
                )));
            }
            Ok(entries.iter().map(|entry| world.put_entry(region, entry)).collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{Fault, FaultKind};

    fn entry(bus: &str, detail: &str) -> EventEntry {
        EventEntry {
            event_bus: bus.into(),
            source: "amikeeper".into(),
            detail_type: "AMI Pointer Moved".into(),
            detail: detail.into(),
            resources: vec![],
        }
    }

    #[tokio::test]
    async fn entries_fail_one_by_one_and_the_call_succeeds() {
        let aws = MemoryAws::new("111122223333");
        let region = Region::from("eu-west-1");
        aws.create_event_bus(&region, "ops");
        aws.fail_event_entries("ThrottlingException", 1);
        let entries = [
            entry("default", "{}"),
            entry("default", r#"{"a":1}"#),
            entry("arn:aws:events:eu-west-1:111122223333:event-bus/ops", r#"{"b":2}"#),
            entry("missing", "{}"),
            entry("default", "[1]"),
            entry("arn:aws:events:us-east-1:111122223333:event-bus/ops", "{}"),
        ];
        let results = aws.put_events(&region, &entries).await.unwrap();
        let codes: Vec<&str> = results
            .iter()
            .map(|r| match r {
                EntryResult::Accepted { .. } => "ok",
                EntryResult::Failed { code, .. } => code,
            })
            .collect();
        assert_eq!(
            codes,
            [
                "ThrottlingException",
                "ok",
                "ok",
                "ResourceNotFoundException",
                "MalformedDetail",
                "ResourceNotFoundException"
            ]
        );
        assert!(results[0].may_retry() && !results[3].may_retry());
        let put: Vec<String> = aws.bus_events(&region).into_iter().map(|e| e.entry.detail).collect();
        assert_eq!(put, [r#"{"a":1}"#, r#"{"b":2}"#]);
        assert!(aws.bus_events("us-east-1").is_empty());
    }

    #[tokio::test]
    async fn calls_over_the_limits_are_refused_whole() {
        let aws = MemoryAws::new("111122223333");
        let region = Region::from("eu-west-1");
        let eleven = vec![entry("default", "{}"); EVENTS_PER_CALL + 1];
        assert_eq!(aws.put_events(&region, &eleven).await.unwrap_err().code, "ValidationException");
        let big = format!(r#"{{"x":"{}"}}"#, "a".repeat(MAX_PUT_EVENTS_BYTES));
        assert_eq!(aws.put_events(&region, &[entry("default", &big)]).await.unwrap_err().code, "ValidationException");
        aws.inject(Fault::on("events:PutEvents", FaultKind::Throttling));
        let throttled = aws.put_events(&region, &[entry("default", "{}")]).await.unwrap_err();
        assert_eq!((throttled.code.as_str(), throttled.kind), ("ThrottlingException", AwsErrorKind::Throttling));
        assert!(aws.bus_events(&region).is_empty());
        assert_eq!(aws.call_count("events:PutEvents"), 3);
    }
}
