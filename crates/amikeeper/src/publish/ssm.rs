//! [`SsmParameterPublisher`]: an SSM parameter that holds the AMI id.

use async_trait::async_trait;

use super::{
    guard_monotonic, newest_available, Outcome, PointerNow, PublishContext, Publisher, Status, TargetId, SETTLE_ROUNDS,
};
use crate::backend::RetryPolicy;
use crate::error::{AwsError, Result};
use crate::model::{Image, ImageId, Parameter, ParameterType, PutParameter};

/// Writes the AMI id into an SSM parameter.
///
/// In the default mode the parameter is overwritten, making a new version. In fixed-version
/// mode (for `{{resolve:ssm:NAME:1}}`, seed 000) the parameter is deleted and re-created so
/// the new value is version 1; if the new value cannot be written, the previous value is
/// written back, so the parameter is never left missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsmParameterPublisher {
    /// The parameter name.
    pub name: String,
    /// Keep the value at version 1.
    pub fixed_version: bool,
    /// `aws:ec2:image` or `text`; `None` keeps SSM's default (`text`).
    pub data_type: Option<String>,
}

impl SsmParameterPublisher {
    /// A publisher that overwrites `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into(), fixed_version: false, data_type: None }
    }

    fn put_request(&self, value: &str, existing: Option<&Parameter>, overwrite: bool) -> PutParameter {
        PutParameter {
            name: self.name.clone(),
            value: value.to_owned(),
            kind: existing.map(|p| p.kind).unwrap_or(ParameterType::String),
            data_type: self.data_type.clone().or_else(|| existing.map(|p| p.data_type.clone()).filter(|d| d != "text")),
            overwrite,
            description: None,
        }
    }

    /// Deletes the parameter and puts `value` back at version 1. If the put fails, the previous
    /// value is put back (as [`RetryPolicy::RESTORE`] says), so the parameter is not left missing.
    ///
    /// [`Replaced::Raced`] when another run holds the name between our delete and our put
    /// (SSM answers `ParameterAlreadyExists`): the parameter exists, with that run's value, and
    /// the caller reads it again to decide again.
    pub(crate) async fn replace_at_version_one(
        &self,
        ctx: &PublishContext<'_>,
        existing: &Parameter,
        value: &str,
    ) -> Result<Replaced> {
        // A failed delete may have taken effect with its answer lost, and a read to find out may
        // fail too. The put answers it: it creates the parameter (overwrite off), or is refused
        // with `ParameterAlreadyExists` when the delete did not happen and nothing changed.
        let deleted = ctx.aws.delete_parameter(ctx.region, &self.name).await;
        let put_error = match ctx.aws.put_parameter(ctx.region, &self.put_request(value, Some(existing), false)).await {
            Ok(version) => return Ok(Replaced::Written(version)),
            Err(error) => match deleted {
                // Our delete happened, or another run's did (`ParameterNotFound`), and another
                // run created the parameter before our put.
                Ok(()) if already_exists(&error) => return Ok(Replaced::Raced(error)),
                Err(delete_error) if already_exists(&error) && not_found(&delete_error) => {
                    return Ok(Replaced::Raced(error))
                }
                // The delete did not happen (or its answer was lost and another run re-created
                // the parameter): it exists either way.
                Err(delete_error) if already_exists(&error) => return Err(delete_error.into()),
                _ => error,
            },
        };
        // The parameter may be missing now: put the previous value back before reporting.
        let restore = PutParameter {
            data_type: Some(existing.data_type.clone()),
            ..self.put_request(&existing.value, Some(existing), false)
        };
        let restore = || async {
            match ctx.aws.put_parameter(ctx.region, &restore).await {
                Ok(_) => Ok(format!("the previous value {} was restored at version 1", shown_value(existing))),
                // Someone (another run, or a delete that never happened) holds the name.
                Err(error) if already_exists(&error) => Ok("the parameter exists".to_owned()),
                Err(error) => Err(error),
            }
        };
        match RetryPolicy::RESTORE.run("", restore).await.0 {
            Ok(restored) => Err(AwsError {
                message: format!("{}; {restored}, so the parameter is not missing", put_error.message),
                ..put_error
            }
            .into()),
            Err(last) => Err(AwsError {
                message: format!(
                    "{}; restoring the previous value {} also failed ({last}): the parameter is MISSING",
                    put_error.message,
                    shown_value(existing)
                ),
                ..put_error
            }
            .into()),
        }
    }

    /// Why a parameter that names `existing` is not moved to `image`, or `None` to go on.
    async fn stop(&self, ctx: &PublishContext<'_>, existing: &Parameter, image: &Image) -> Result<Option<Outcome>> {
        let Some(stop) = guard_monotonic(ctx, Some(&existing.value), image).await? else { return Ok(None) };
        // A fixed-version parameter that names the AMI at another version is re-created.
        if self.fixed_version && existing.value == image.id.as_str() && existing.version != 1 {
            return Ok(None);
        }
        let hide = |v: String| if v == existing.value { shown_value(existing) } else { v };
        Ok(Some(Outcome { from: stop.from.map(hide), to: stop.to.map(hide), ..stop }))
    }

    /// Fixed-version mode: re-creates the parameter at version 1 with the AMI (creates it when
    /// missing). Other runs may delete and put the same parameter at the same time, and SSM has
    /// no conditional delete; so a put refused with `ParameterAlreadyExists` (another run
    /// created it between our delete and our put) reads the parameter again and decides again,
    /// and after our put the parameter is read back: when another run deleted ours and wrote an
    /// older AMI, ours is put back; when it is missing, it is created again. Up to
    /// [`SETTLE_ROUNDS`] rounds.
    async fn publish_fixed(
        &self,
        ctx: &PublishContext<'_>,
        image: &Image,
        existing: Option<Parameter>,
    ) -> Result<Outcome> {
        let value = image.id.as_str();
        let from = existing.as_ref().map(shown_value);
        let mut current = existing;
        let mut notes = Vec::new();
        let mut contended: Option<AwsError> = None;
        // Values other runs wrote while this run published, which it then replaced.
        let mut replaced: Vec<ImageId> = Vec::new();
        for round in 0..SETTLE_ROUNDS {
            if round > 0 {
                current = ctx.aws.get_parameter(ctx.region, &self.name).await?;
                if let Some(stop) = match &current {
                    Some(found) => self.stop(ctx, found, image).await?,
                    None => None,
                } {
                    let mut stop = stop;
                    stop.notes.splice(0..0, notes);
                    return Ok(stop);
                }
            }
            if round > 0 {
                let theirs = current.as_ref().map(|p| p.value.as_str()).filter(|v| v.starts_with("ami-"));
                if let Some(theirs) = theirs.filter(|v| *v != value && from.as_deref() != Some(*v)) {
                    replaced.push(ImageId::new(theirs));
                }
            }
            let (version, how) = match &current {
                None => match ctx.aws.put_parameter(ctx.region, &self.put_request(value, None, false)).await {
                    Ok(version) => (version, "created"),
                    Err(error) if already_exists(&error) => {
                        notes.push("another run created the parameter at the same time; read it again".to_owned());
                        contended = Some(error);
                        continue;
                    }
                    // A fixed-version parameter that is not there breaks `{{resolve:ssm:NAME:1}}`.
                    Err(error) => {
                        let message = format!("{}: the parameter is MISSING", error.message);
                        return Err(AwsError { message, ..error }.into());
                    }
                },
                Some(found) => match self.replace_at_version_one(ctx, found, value).await? {
                    Replaced::Written(version) => (version, "re-created"),
                    Replaced::Raced(error) => {
                        notes.push(
                            "another run re-created the parameter between our delete and our put; read it again"
                                .to_owned(),
                        );
                        contended = Some(error);
                        continue;
                    }
                },
            };
            // Another run that read the parameter before our put may delete ours and put its
            // value after it: read it back.
            match ctx.aws.get_parameter(ctx.region, &self.name).await? {
                Some(now) if now.value == value => {
                    let mut outcome =
                        Outcome::new(Status::Updated, format!("{how} at version {version} (fixed-version mode)"))
                            .moved(from, value);
                    outcome.notes = notes;
                    outcome.replaced = replaced;
                    return Ok(outcome);
                }
                Some(now) => notes.push(format!(
                    "another run replaced our value with {} right after our put; read it again",
                    shown_value(&now)
                )),
                None => notes.push("another run deleted the parameter right after our put; create it again".to_owned()),
            }
        }
        let error = contended.unwrap_or_else(|| {
            AwsError::new("ssm", "PutParameter", crate::error::AwsErrorKind::Client, "ParameterAlreadyExists", "")
        });
        Err(AwsError {
            message: format!(
                "other runs kept re-creating the parameter ({} rounds: {}); it exists, so it is not missing",
                SETTLE_ROUNDS,
                notes.join("; ")
            ),
            ..error
        }
        .into())
    }
}

/// What one delete and put of a fixed-version parameter did.
pub(crate) enum Replaced {
    /// The value is written, at this version (1).
    Written(i64),
    /// Another run created the parameter between our delete and our put; SSM's answer.
    Raced(AwsError),
}

impl SsmParameterPublisher {
    /// After a race with other runs (versions were written between our read at `read_version`
    /// and our write): puts back the newest available AMI written since our read if an older
    /// one ended up last, until the parameter holds it. No update is lost: whichever run writes
    /// last, the newest AMI is the value in the end.
    async fn settle(
        &self,
        ctx: &PublishContext<'_>,
        existing: Option<&Parameter>,
        read_version: i64,
        ours: &str,
    ) -> Result<(Option<String>, Vec<ImageId>)> {
        let mut note = None;
        let mut seen = std::collections::BTreeSet::new();
        let mut last_written = None;
        for _ in 0..SETTLE_ROUNDS {
            let history = ctx.aws.get_parameter_history(ctx.region, &self.name).await?;
            let Some((last_version, last_value)) = history.last() else { break };
            last_written = Some(last_value.clone());
            let since: Vec<&str> =
                history.iter().filter(|(v, _)| *v > read_version).map(|(_, value)| value.as_str()).collect();
            seen.extend(since.iter().map(|v| (*v).to_owned()));
            let Some(newest) = newest_available(ctx, since).await? else { break };
            if last_value == newest.id.as_str() {
                break;
            }
            let request = self.put_request(newest.id.as_str(), existing, true);
            let version = ctx.aws.put_parameter(ctx.region, &request).await?;
            note = Some(format!(
                "another run wrote {last_value} at the same time; put the newest, {}, back at version {version}",
                newest.id
            ));
            last_written = Some(newest.id.to_string());
            if version == last_version + 1 {
                break;
            }
        }
        // What other runs wrote in between and no longer stands.
        let replaced = seen
            .into_iter()
            .filter(|v| v.starts_with("ami-") && v != ours && Some(v) != last_written.as_ref())
            .map(ImageId::new)
            .collect();
        Ok((note, replaced))
    }
}

/// SSM's answer to a put without overwrite when the name is taken.
fn already_exists(error: &AwsError) -> bool {
    error.code == "ParameterAlreadyExists"
}

/// SSM's answer to a delete of a parameter that does not exist.
fn not_found(error: &AwsError) -> bool {
    error.code == "ParameterNotFound"
}

/// A parameter's value as reports show it: a SecureString's value never leaves SSM.
fn shown_value(parameter: &Parameter) -> String {
    match parameter.kind {
        ParameterType::SecureString => "(SecureString value not shown)".to_owned(),
        _ => parameter.value.clone(),
    }
}

#[async_trait]
impl Publisher for SsmParameterPublisher {
    fn target(&self) -> TargetId {
        TargetId { kind: "ssm_parameter", name: self.name.clone() }
    }

    async fn pointer_now(&self, ctx: &PublishContext<'_>) -> Result<PointerNow> {
        let found = ctx.aws.get_parameter(ctx.region, &self.name).await?;
        Ok(PointerNow::from_value(found.as_ref().map(|p| p.value.as_str())))
    }

    async fn publish(&self, ctx: &PublishContext<'_>) -> Result<Outcome> {
        let image = ctx.require_image()?;
        let value = image.id.as_str();
        let existing = ctx.aws.get_parameter(ctx.region, &self.name).await?;
        if let Some(existing) = &existing {
            if let Some(stop) = self.stop(ctx, existing, image).await? {
                return Ok(stop);
            }
        }
        let from = existing.as_ref().map(shown_value);
        if ctx.dry_run {
            let how = match (&existing, self.fixed_version) {
                (None, _) => "would create it",
                (Some(_), true) => "would re-create it at version 1",
                (Some(_), false) => "would overwrite it",
            };
            return Ok(Outcome::new(Status::Planned, how).moved(from, value));
        }
        match existing {
            existing if self.fixed_version => self.publish_fixed(ctx, image, existing).await,
            existing => {
                let overwrite = existing.is_some();
                let request = self.put_request(value, existing.as_ref(), overwrite);
                let version = ctx.aws.put_parameter(ctx.region, &request).await?;
                let what = if overwrite { "overwritten" } else { "created" };
                let mut outcome =
                    Outcome::new(Status::Updated, format!("{what}, now version {version}")).moved(from, value);
                let read_version = existing.as_ref().map_or(0, |p| p.version);
                if version > read_version + 1 {
                    // Another run wrote between our read and our write.
                    let (note, replaced) = self.settle(ctx, existing.as_ref(), read_version, value).await?;
                    outcome.notes.extend(note);
                    outcome.replaced = replaced;
                }
                Ok(outcome)
            }
        }
    }
}
