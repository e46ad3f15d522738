//! EBS snapshot events (source `aws.ec2`): `EBS Snapshot Notification` (`createSnapshot`,
//! `copySnapshot`) and `EBS Multi-Volume Snapshots Completion Status` (`createSnapshots`).

use super::arn::last_segment;
use super::eventbridge::Envelope;
use super::ids::IdKind;
use super::json::{json_type, quote, At};
use super::{AmiEvent, EventError, EventSource};

const SNAPSHOT: &str = "EBS Snapshot Notification";

detail! {
    /// A snapshot made or copied (`snapshot_created`).
    SnapshotCreated {
        /// The result (`detail.result`), e.g. `succeeded`.
        required state: String,
        /// The snapshot, when the event names one.
        optional snapshot_id: String,
        /// The volume it was taken of, when the event names one.
        optional volume_id: String,
    }
}

/// Parses a snapshot event.
pub(super) fn parse(v: &serde_json::Value, _source: &EventSource) -> Result<AmiEvent, EventError> {
    let at = At::new(SNAPSHOT);
    at.req_obj(v, "detail")?;
    let name = at.req_str(v, "detail.event")?;
    if !matches!(name, "createSnapshot" | "createSnapshots" | "copySnapshot") {
        return Err(EventError::Unsupported {
            received: format!(
                "EBS Snapshot Notification `{}` (supported: createSnapshot, createSnapshots, copySnapshot)",
                quote(name)
            ),
        });
    }
    let envelope = Envelope::read(&at, v)?;
    let event_id = envelope.require_id(&at)?;
    let state = at.bounded("detail.result", at.req_str(v, "detail.result")?, 64)?;
    let (mut snapshot_id, mut volume_id) = (None, None);
    let (snapshot, source) = match at.opt_str(v, "detail.snapshot_id")? {
        Some(snapshot) => (
            Some(("detail.snapshot_id".to_string(), snapshot)),
            at.opt_str(v, "detail.source")?.map(|s| ("detail.source".to_string(), s)),
        ),
        None => match at.lookup(v, "detail.snapshots")? {
            // `createSnapshots`: one event for several volumes; name them when there is one.
            Some(serde_json::Value::Array(items)) if items.len() == 1 => {
                at.req_obj(v, "detail.snapshots.0")?;
                let snapshot = at.opt_str(v, "detail.snapshots.0.snapshot_id")?;
                let source = at.opt_str(v, "detail.snapshots.0.source")?;
                (
                    snapshot.map(|s| ("detail.snapshots[0].snapshot_id".to_string(), s)),
                    source.map(|s| ("detail.snapshots[0].source".to_string(), s)),
                )
            }
            Some(serde_json::Value::Array(_)) | None => (None, None),
            Some(other) => {
                return Err(at.bad("detail.snapshots", format!("must be an array, received {}", json_type(other))));
            }
        },
    };
    if let Some((path, arn)) = snapshot {
        snapshot_id = Some(at.id(&path, last_segment(arn), IdKind::Snapshot)?);
    }
    if let Some((path, arn)) = source {
        let id = last_segment(arn);
        if id.starts_with("vol-") {
            volume_id = Some(at.id(&path, id, IdKind::Volume)?);
        } else if id.starts_with("snap-") {
            // copySnapshot: the source is the snapshot copied from.
            at.id(&path, id, IdKind::Snapshot)?;
        } else {
            return Err(at.bad(&path, format!("must be a volume or snapshot ARN, received `{}`", quote(arn))));
        }
    }
    Ok(envelope.event(event_id, SnapshotCreated { state, snapshot_id, volume_id }))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{aws_doc, parsed};
    use super::super::EventDetail;
    use super::*;

    #[test]
    fn fixtures_and_aws_docs_examples() {
        let event = &parsed("ebs_snapshot_notification.json")[0];
        assert_eq!(event.volume_id(), Some("vol-0123456789abcdef0"));
        for (name, result, snapshot) in [
            ("ebs_create_snapshot.json", "succeeded", Some("snap-01234567")),
            ("ebs_create_snapshots_succeeded.json", "succeeded", None),
            ("ebs_create_snapshots_failed.json", "failed", None),
            ("ebs_copy_snapshot.json", "succeeded", Some("snap-01234567")),
            ("ebs_copy_snapshot_failed.json", "failed", Some("snap-01234567")),
        ] {
            let event = aws_doc(name).unwrap();
            let EventDetail::SnapshotCreated(snap) = &event.detail else { panic!("{event:?}") };
            assert_eq!((snap.state.as_str(), snap.snapshot_id.as_deref()), (result, snapshot), "{name}");
        }
        assert!(matches!(aws_doc("ebs_share_snapshot.json"), Err(EventError::NotJson { .. })));
    }
}
