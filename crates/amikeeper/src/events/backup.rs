//! AWS Backup `Backup Job State Change` and `Copy Job State Change` (source `aws.backup`): the
//! job's state, the instance it backed up and, once done, the AMI it made (for a copy job, in
//! the destination vault's region and account).

use super::arn::{image_from_arn, instance_from_arn, not_an_arn, Arn};
use super::eventbridge::{agrees, image_in_resources, Against, Envelope};
use super::json::{json_type, At};
use super::{AmiEvent, EventError, EventSource};
use crate::model::{AccountId, ImageId, Region};

const BACKUP_JOB: &str = "AWS Backup Backup Job State Change";
const COPY_JOB: &str = "AWS Backup Copy Job State Change";

detail! {
    /// A `Backup Job State Change` (`backup_job`).
    BackupJob {
        /// The job's state (`detail.state`, or `detail.status`), e.g. `COMPLETED`.
        required state: String,
        /// The AMI the job made (its recovery point), once it is done and when it backed up an
        /// EC2 instance.
        optional image_id: ImageId,
        /// The instance the job backed up.
        optional instance_id: String,
    }
}

detail! {
    /// A `Copy Job State Change` (`backup_copy_job`). The event's region and account are the
    /// destination's.
    BackupCopyJob {
        /// The job's state, e.g. `COMPLETED`.
        required state: String,
        /// The AMI in the destination, once the copy is done.
        optional image_id: ImageId,
        /// The instance whose backup is copied.
        optional instance_id: String,
        /// The AMI copied from.
        optional source_image_id: ImageId,
        /// The region the copy job ran in (the envelope's).
        required source_region: Region,
        /// The account the copy job ran in (the envelope's), which must be allowed as well as the
        /// destination's.
        required source_account: AccountId,
    }
}

/// Parses a `Backup Job State Change`.
pub(super) fn parse_job(v: &serde_json::Value, _source: &EventSource) -> Result<AmiEvent, EventError> {
    let at = At::new(BACKUP_JOB);
    // Only what amikeeper acts on must agree with the envelope: the instance (it can name a
    // parameter) and the AMI. The vault, the IAM role and the backup plan decide nothing that
    // amikeeper reads or writes, and AWS's own samples name them in other regions and accounts.
    let Job { envelope, event_id, state, instance_id } = Job::read(&at, v, InstanceIn::EnvelopeRegion)?;
    let point = "detail.recoveryPointArn";
    let image_id = match at.opt_str(v, point)? {
        Some(arn) => match image_from_arn(&at, point, arn)? {
            Some(image) => {
                envelope.same_region(&at, point, image.region)?;
                envelope.same_account(&at, point, image.account)?;
                Some(image.id)
            }
            None => None,
        },
        None => image_in_resources(&at, v, Some(&envelope))?,
    };
    Ok(envelope.event(event_id, BackupJob { state, image_id, instance_id }))
}

/// Parses a `Copy Job State Change`.
pub(super) fn parse_copy_job(v: &serde_json::Value, _source: &EventSource) -> Result<AmiEvent, EventError> {
    let at = At::new(COPY_JOB);
    // The copy job runs in the source account, with the instance it copies (which can name a
    // parameter). The source vault and the IAM role decide nothing amikeeper reads or writes.
    let Job { envelope, event_id, state, instance_id } = Job::read(&at, v, InstanceIn::AnyRegion)?;
    let (mut region, mut account) = (envelope.region.clone(), envelope.account.clone());

    // The destination vault says where the copy goes, in which account.
    let vault_path = "detail.destinationBackupVaultArn";
    let (mut vault_region, mut vault_account) = (None, None);
    if let Some(vault) = at.opt_str(v, vault_path)? {
        let arn = Arn::parse(vault).ok_or_else(|| at.bad(vault_path, not_an_arn(vault)))?;
        if !arn.region.is_empty() {
            region = at.region(vault_path, arn.region)?;
            vault_region = Some(arn.region);
        }
        if !arn.account.is_empty() {
            account = at.account(vault_path, arn.account)?;
            vault_account = Some(arn.account);
        }
    }
    // The destination recovery point, once the copy is done; `{}` before that. It must be where
    // the destination vault is: the AMI amikeeper would read is there.
    let point_path = "detail.destinationRecoveryPointArn";
    let mut image_id = None;
    match at.lookup(v, point_path)? {
        Some(serde_json::Value::String(arn)) if !arn.is_empty() => {
            let parsed = Arn::parse(arn).ok_or_else(|| at.bad(point_path, not_an_arn(arn)))?;
            if !parsed.region.is_empty() {
                let point_region = at.region(point_path, parsed.region)?;
                if let Some(vault_region) = vault_region {
                    agrees(&at, point_path, "region", parsed.region, vault_region, Against::DestinationVault)?;
                }
                region = point_region;
            }
            match vault_account {
                Some(vault_account) => {
                    agrees(&at, point_path, "account", parsed.account, vault_account, Against::DestinationVault)?
                }
                None => envelope.same_account(&at, point_path, parsed.account)?,
            }
            image_id = image_from_arn(&at, point_path, arn)?.map(|image| image.id);
        }
        Some(serde_json::Value::String(_)) | None => {}
        Some(serde_json::Value::Object(empty)) if empty.is_empty() => {}
        Some(other) => {
            return Err(at.bad(point_path, format!("must be an ARN string, received {}", json_type(other))));
        }
    }
    let source_image_id = match at.opt_str(v, "detail.sourceRecoveryPointArn")? {
        Some(arn) => image_from_arn(&at, "detail.sourceRecoveryPointArn", arn)?.map(|image| image.id),
        None => image_in_resources(&at, v, None)?,
    };
    let (source_region, source_account) = (envelope.region.clone(), envelope.account.clone());
    let mut event = envelope.event(
        event_id,
        BackupCopyJob { state, image_id, instance_id, source_image_id, source_region, source_account },
    );
    (event.region, event.account) = (region, account);
    Ok(event)
}

/// What both job events carry: the envelope and id, the job's state, and the instance the job
/// is of, which must be in the envelope's account.
struct Job {
    envelope: Envelope,
    event_id: String,
    state: String,
    instance_id: Option<String>,
}

/// Where a job's instance must be, besides the envelope's account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InstanceIn {
    /// The envelope's region too (a backup job).
    EnvelopeRegion,
    /// Any region (a copy job, whose envelope is the copy's source, not its instance's).
    AnyRegion,
}

impl Job {
    fn read(at: &At<'_>, v: &serde_json::Value, instance_in: InstanceIn) -> Result<Self, EventError> {
        let envelope = Envelope::read(at, v)?;
        let event_id = envelope.require_id(at)?;
        at.req_obj(v, "detail")?;
        let state = backup_state(at, v)?;
        at.opt_str(v, "detail.resourceType")?;
        let resource = "detail.resourceArn";
        let mut instance_id = None;
        if let Some(instance) = instance_from_arn(at, v, resource)? {
            if instance_in == InstanceIn::EnvelopeRegion {
                envelope.same_region(at, resource, instance.region)?;
            }
            envelope.same_account(at, resource, instance.account)?;
            instance_id = Some(instance.id);
        }
        Ok(Self { envelope, event_id, state, instance_id })
    }
}

/// AWS Backup reports `state` for jobs, `status` for some other events.
fn backup_state(at: &At<'_>, v: &serde_json::Value) -> Result<String, EventError> {
    let state = match at.opt_str(v, "detail.state")? {
        Some(state) => state,
        None => at
            .opt_str(v, "detail.status")?
            .ok_or_else(|| at.bad("detail.state", "is missing (and so is `detail.status`)"))?,
    };
    at.bounded("detail.state", state, 64)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{aws_doc, parsed};
    use super::super::EventDetail;
    use super::*;

    #[test]
    fn fixtures() {
        let event = &parsed("backup_job_completed.json")[0];
        assert!(matches!(&event.detail, EventDetail::BackupJob(BackupJob { image_id: Some(_), .. })));
        let event = &parsed("backup_copy_job_completed.json")[0];
        let EventDetail::BackupCopyJob(copy) = &event.detail else { panic!("{event:?}") };
        assert_eq!((event.region.as_str(), copy.source_region.as_str()), ("ap-southeast-1", "ap-northeast-1"));
    }

    #[test]
    fn aws_docs_examples() {
        for state in ["failed", "completed", "running", "aborted", "expired", "pending", "created"] {
            let event = aws_doc(&format!("backup_job_{state}.json")).unwrap();
            let EventDetail::BackupJob(job) = &event.detail else { panic!("{event:?}") };
            assert_eq!(job.state, state.to_uppercase());
        }
        for state in ["failed", "running", "completed", "created"] {
            let event = aws_doc(&format!("copy_job_{state}.json")).unwrap();
            let EventDetail::BackupCopyJob(job) = &event.detail else { panic!("{event:?}") };
            assert_eq!(job.state, state.to_uppercase());
        }
    }
}
