//! [`SsmParameterPublisher`]: an SSM parameter that holds the AMI id.

use std::time::Duration;

use async_trait::async_trait;

use super::{guard_monotonic, newest_available, Outcome, PublishContext, Publisher, Status, TargetId, SETTLE_ROUNDS};
use crate::error::{AwsError, Result};
use crate::model::{Parameter, ParameterType, PutParameter};

/// How many times the fixed-version mode tries to put the previous value back after the new
/// value could not be written.
const RESTORE_ATTEMPTS: u32 = 5;

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

    async fn replace_at_version_one(
        &self,
        ctx: &PublishContext<'_>,
        existing: &Parameter,
        value: &str,
    ) -> Result<Outcome> {
        // A failed delete may have taken effect with its answer lost, and a read to find out may
        // fail too. The put answers it: it creates the parameter (overwrite off), or is refused
        // with `ParameterAlreadyExists` when the delete did not happen and nothing changed.
        let deleted = ctx.aws.delete_parameter(ctx.region, &self.name).await;
        let put_error = match ctx.aws.put_parameter(ctx.region, &self.put_request(value, Some(existing), false)).await {
            Ok(version) => {
                return Ok(Outcome::new(
                    Status::Updated,
                    format!("re-created at version {version} (fixed-version mode)"),
                )
                .moved(Some(shown_value(existing)), value));
            }
            Err(error) => match deleted {
                Err(delete_error) if already_exists(&error) => return Err(delete_error.into()),
                _ => error,
            },
        };
        // The parameter may be missing now: put the previous value back before reporting.
        let restore = PutParameter {
            data_type: Some(existing.data_type.clone()),
            ..self.put_request(&existing.value, Some(existing), false)
        };
        let mut last: Option<AwsError> = None;
        for attempt in 0..RESTORE_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
            }
            let restored = match ctx.aws.put_parameter(ctx.region, &restore).await {
                Ok(_) => format!("the previous value {} was restored at version 1", shown_value(existing)),
                // Someone (another run, or a delete that never happened) holds the name.
                Err(error) if already_exists(&error) => "the parameter exists".to_owned(),
                Err(error) => {
                    last = Some(error);
                    continue;
                }
            };
            return Err(AwsError {
                message: format!("{}; {restored}, so the parameter is not missing", put_error.message),
                ..put_error
            }
            .into());
        }
        let last = last.map(|e| e.to_string()).unwrap_or_default();
        Err(AwsError {
            message: format!(
                "{}; restoring the previous value {} also failed ({last}): the parameter is MISSING",
                put_error.message,
                shown_value(existing)
            ),
            ..put_error
        }
        .into())
    }
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
    ) -> Result<Option<String>> {
        let mut note = None;
        for _ in 0..SETTLE_ROUNDS {
            let history = ctx.aws.get_parameter_history(ctx.region, &self.name).await?;
            let Some((last_version, last_value)) = history.last() else { return Ok(note) };
            let since = history.iter().filter(|(v, _)| *v > read_version).map(|(_, value)| value.as_str());
            let Some(newest) = newest_available(ctx, since).await? else { return Ok(note) };
            if last_value == newest.id.as_str() {
                return Ok(note);
            }
            let request = self.put_request(newest.id.as_str(), existing, true);
            let version = ctx.aws.put_parameter(ctx.region, &request).await?;
            note = Some(format!(
                "another run wrote {last_value} at the same time; put the newest, {}, back at version {version}",
                newest.id
            ));
            if version == last_version + 1 {
                return Ok(note);
            }
        }
        Ok(note)
    }
}

/// SSM's answer to a put without overwrite when the name is taken.
fn already_exists(error: &AwsError) -> bool {
    error.code == "ParameterAlreadyExists"
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

    async fn publish(&self, ctx: &PublishContext<'_>) -> Result<Outcome> {
        let image = ctx.require_image()?;
        let value = image.id.as_str();
        let existing = ctx.aws.get_parameter(ctx.region, &self.name).await?;
        if let Some(existing) = &existing {
            if let Some(stop) = guard_monotonic(ctx, Some(&existing.value), image).await? {
                let stale_version = self.fixed_version && existing.value == value && existing.version != 1;
                if !stale_version {
                    let hide = |v: String| if v == existing.value { shown_value(existing) } else { v };
                    return Ok(Outcome { from: stop.from.map(hide), to: stop.to.map(hide), ..stop });
                }
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
            Some(existing) if self.fixed_version => {
                let outcome = self.replace_at_version_one(ctx, &existing, value).await?;
                Ok(Outcome { from: Some(shown_value(&existing)), ..outcome })
            }
            existing => {
                let overwrite = existing.is_some();
                let request = self.put_request(value, existing.as_ref(), overwrite);
                let version = match ctx.aws.put_parameter(ctx.region, &request).await {
                    Ok(version) => version,
                    // A fixed-version parameter that is not there breaks `{{resolve:ssm:NAME:1}}`.
                    Err(error) if self.fixed_version && !already_exists(&error) => {
                        let message = format!("{}: the parameter is MISSING", error.message);
                        return Err(AwsError { message, ..error }.into());
                    }
                    Err(error) => return Err(error.into()),
                };
                let what = if overwrite { "overwritten" } else { "created" };
                let mut outcome =
                    Outcome::new(Status::Updated, format!("{what}, now version {version}")).moved(from, value);
                let read_version = existing.as_ref().map_or(0, |p| p.version);
                if version > read_version + 1 {
                    // Another run wrote between our read and our write.
                    outcome.notes.extend(self.settle(ctx, existing.as_ref(), read_version).await?);
                }
                Ok(outcome)
            }
        }
    }
}
