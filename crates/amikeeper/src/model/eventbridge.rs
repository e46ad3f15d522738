//! Amazon EventBridge: the entries of a `PutEvents` call, what EventBridge says of each, and
//! what became of a run's notifications.

use serde::Serialize;

/// One entry of a `PutEvents` call (`PutEventsRequestEntry`). EventBridge stamps the time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventEntry {
    /// The event bus, by name (`default`) or ARN.
    pub event_bus: String,
    /// `Source`: who put the event (`amikeeper`).
    pub source: String,
    /// `DetailType`: what the event is about (`AMI Pointer Moved`, ...).
    pub detail_type: String,
    /// `Detail`: a JSON object, as text.
    pub detail: String,
    /// `Resources`: the ARNs of the resources the event is about.
    pub resources: Vec<String>,
}

impl EventEntry {
    /// The size EventBridge counts against [`MAX_PUT_EVENTS_BYTES`], in bytes: the UTF-8 bytes
    /// of `Source`, `DetailType`, `Detail` and each of `Resources` (AWS's "Calculating
    /// PutEvents event entry size"; no `Time` is sent, which would add 14).
    pub fn size(&self) -> usize {
        self.source.len()
            + self.detail_type.len()
            + self.detail.len()
            + self.resources.iter().map(String::len).sum::<usize>()
    }
}

/// The most entries one `PutEvents` call takes.
pub const EVENTS_PER_CALL: usize = 10;

/// The most bytes the entries of one `PutEvents` call may add up to ([`EventEntry::size`]): 256 KB.
pub const MAX_PUT_EVENTS_BYTES: usize = 256 * 1024;

/// What EventBridge said of one entry of a `PutEvents` call (`PutEventsResultEntry`). A call
/// succeeds even when some of its entries fail (`FailedEntryCount` > 0).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum EntryResult {
    /// Put on the bus, with the id EventBridge gave the event.
    Accepted {
        /// `EventId`.
        event_id: String,
    },
    /// Not put.
    Failed {
        /// `ErrorCode`, e.g. `ThrottlingException` or `InternalFailure`.
        code: String,
        /// `ErrorMessage`.
        message: String,
    },
}

impl EntryResult {
    /// Whether putting the entry again may succeed: EventBridge throttled it or failed inside.
    pub fn may_retry(&self) -> bool {
        matches!(self, Self::Failed { code, .. } if matches!(code.as_str(),
            "ThrottlingException" | "InternalFailure" | "InternalException" | "ServiceUnavailable"))
    }
}

/// What became of the events one run put on EventBridge (`[notify]`). A notification that
/// could not be put never fails the run: it is counted and said here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Notifications {
    /// Events EventBridge accepted.
    pub sent: usize,
    /// Events that could not be put.
    pub failed: usize,
    /// Why, one line per event that could not be put.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}
