//! The EventBridge envelope: its `source` and `detail-type` choose the entry of
//! [`SOURCES`](super::SOURCES) that parses it ([`dispatch`](super::dispatch)); `id`, `account`,
//! `region` and `time` are read once, in `Envelope`, and a source's fields that decide what
//! amikeeper reads or writes must agree with them.

use time::OffsetDateTime;

use super::arn::image_from_arn;
use super::json::{json_type, quote, At};
use super::{AmiEvent, EventDetail, EventError};
use crate::model::{AccountId, ImageId, Region};

/// The envelope fields every event carries.
pub(super) struct Envelope {
    /// `id`, when there is one.
    pub id: Option<String>,
    /// `region`.
    pub region: Region,
    /// `account`.
    pub account: AccountId,
    /// `time`.
    pub time: OffsetDateTime,
}

impl Envelope {
    /// Reads the envelope fields, checked.
    pub(super) fn read(at: &At<'_>, v: &serde_json::Value) -> Result<Self, EventError> {
        let id = at.opt_str(v, "id")?.map(|id| at.event_id("id", id)).transpose()?;
        let account = at.account("account", at.req_str(v, "account")?)?;
        let region = at.region("region", at.req_str(v, "region")?)?;
        let time = at.time("time", at.req_str(v, "time")?)?;
        Ok(Self { id, region, account, time })
    }

    /// The event id, required.
    pub(super) fn require_id(&self, at: &At<'_>) -> Result<String, EventError> {
        self.id.clone().ok_or_else(|| at.bad("id", "is missing"))
    }

    /// An event with the envelope's fields and a detail.
    pub(super) fn event(self, event_id: String, detail: impl Into<EventDetail>) -> AmiEvent {
        AmiEvent::new(self.region, self.account, self.time, event_id, detail)
    }

    /// Refuses a field that decides what amikeeper reads or writes (the AMI, the instance that
    /// can name a parameter) when it names another region than the envelope: AWS never sends
    /// one, so it is forged or mangled, and acting on either region would be a guess.
    pub(super) fn same_region(&self, at: &At<'_>, path: &str, region: &str) -> Result<(), EventError> {
        agrees(at, path, "region", region, self.region.as_str(), Against::Envelope)
    }

    /// Refuses a body that names another account than the envelope (see [`Self::same_region`]).
    pub(super) fn same_account(&self, at: &At<'_>, path: &str, account: &str) -> Result<(), EventError> {
        agrees(at, path, "account", account, self.account.as_str(), Against::Envelope)
    }
}

/// What [`agrees`] compares a field with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Against {
    /// The EventBridge envelope's `account` or `region`.
    Envelope,
    /// An AWS Backup copy job's destination vault (`detail.destinationBackupVaultArn`).
    DestinationVault,
}

/// `Ok` when `found` is empty (an ARN without that part) or `expected`, the value `against`
/// holds.
///
/// Only fields that decide what amikeeper reads or writes are compared: the AMI's id, region
/// and account, the instance that can name a parameter, a copy job's destination.
pub(super) fn agrees(
    at: &At<'_>,
    path: &str,
    what: &str,
    found: &str,
    expected: &str,
    against: Against,
) -> Result<(), EventError> {
    if found.is_empty() || found == expected {
        return Ok(());
    }
    let (holder, name) = match against {
        Against::Envelope => ("the event came from", "its envelope"),
        Against::DestinationVault => ("its destination vault is in", "its destination vault"),
    };
    Err(at.bad(
        path,
        format!(
            "names {what} `{}`, but {holder} {what} `{}`: its body contradicts {name}",
            quote(found),
            quote(expected)
        ),
    ))
}

/// The first EC2 image ARN in `resources`. With an envelope, every image ARN there must be in
/// its region (and account, when the ARN names one).
pub(super) fn image_in_resources(
    at: &At<'_>,
    v: &serde_json::Value,
    envelope: Option<&Envelope>,
) -> Result<Option<ImageId>, EventError> {
    let Some(resources) = at.lookup(v, "resources")? else {
        return Ok(None);
    };
    let resources = resources
        .as_array()
        .ok_or_else(|| at.bad("resources", format!("must be an array, received {}", json_type(resources))))?;
    let mut first = None;
    for (i, resource) in resources.iter().enumerate() {
        let path = format!("resources[{i}]");
        let arn = resource
            .as_str()
            .ok_or_else(|| at.bad(&path, format!("must be a string, received {}", json_type(resource))))?;
        if let Some(image) = image_from_arn(at, &path, arn)? {
            if let Some(envelope) = envelope {
                envelope.same_region(at, &path, image.region)?;
                envelope.same_account(at, &path, image.account)?;
            }
            first.get_or_insert(image.id);
        }
    }
    Ok(first)
}
