//! Sweeps: one region, one account reached through a role, or every target of a fleet.

use std::sync::Arc;

use super::Keeper;
use crate::backend::{Aws, CountingAws};
use crate::config::ConfigError;
use crate::error::{AwsError, Error};
use crate::model::Region;
use crate::retain::{Progress, SweepOptions, SweepReport, SweepStatus, Sweeper};

/// The sweep of one account and region of a fleet.
#[derive(Debug, Clone, serde::Serialize)]
#[non_exhaustive]
pub struct FleetReport {
    /// The role assumed; `None` for the account amikeeper runs in.
    pub role_arn: Option<String>,
    /// The region.
    pub region: Region,
    /// The sweep's status, or `failed` when it could not run.
    pub status: SweepStatus,
    /// The sweep's report, when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<SweepReport>,
    /// Why it could not run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl FleetReport {
    /// The report of one target: its sweep's report when the sweep ran, else why it could not.
    pub fn new(role_arn: Option<String>, region: Region, sweep: Result<SweepReport, Error>) -> Self {
        let (status, report, error) = match sweep {
            Ok(report) => (report.status, Some(report), None),
            Err(error) => (SweepStatus::Failed, None, Some(error.to_string())),
        };
        Self { role_arn, region, status, report, error }
    }
}

impl Keeper {
    /// Sweeps `region` as the configuration's `[retention]` says: gathers the inventory, plans,
    /// and with `options.apply` acts on the plan. The report counts every AWS call.
    ///
    /// Fails with [`Error::Config`] when the configuration has no `[retention]`, and with
    /// [`Error::Aws`] when the inventory cannot be read (then nothing was changed). Failed
    /// actions do not fail the sweep: they are in the report, and the next sweep retries them.
    pub async fn sweep(&self, region: &Region, options: &SweepOptions) -> Result<SweepReport, Error> {
        self.sweep_with_progress(region, options, &|_| {}).await
    }

    /// [`sweep`](Self::sweep), calling `progress` after each action.
    pub async fn sweep_with_progress(
        &self,
        region: &Region,
        options: &SweepOptions,
        progress: &(dyn Fn(Progress) + Send + Sync),
    ) -> Result<SweepReport, Error> {
        self.sweep_on(self.sweep_aws.as_ref(), None, region, options, progress).await
    }

    /// Sweeps every account and region of the configuration's `[[fleet]]`, one after the
    /// other, assuming each target's role (the account amikeeper runs in when it has none).
    /// One target's failure (a role that cannot be assumed, an unreadable inventory) is in its
    /// report and does not stop the others.
    pub async fn sweep_fleet(&self, options: &SweepOptions) -> Vec<FleetReport> {
        let mut reports = Vec::new();
        for target in &self.config().fleet {
            // One role session for all of the target's regions.
            let account = self.account(target.role_arn.as_deref(), target.external_id.as_deref()).await;
            for region in &target.regions {
                let region = Region::from(region.as_str());
                let outcome = match &account {
                    Ok(aws) => self.sweep_on(aws.as_ref(), target.role_arn.as_deref(), &region, options, &|_| {}).await,
                    Err(error) => Err(Error::Aws(error.clone())),
                };
                reports.push(FleetReport::new(target.role_arn.clone(), region, outcome));
            }
        }
        reports
    }

    /// Sweeps one region of the account reached through `role_arn` (this account without one):
    /// one target of a fleet, e.g. one item of a Step Functions fan-out. Fails when the role
    /// cannot be assumed or the sweep cannot run; nothing is changed then.
    pub async fn sweep_account(
        &self,
        role_arn: Option<&str>,
        external_id: Option<&str>,
        region: &Region,
        options: &SweepOptions,
    ) -> Result<SweepReport, Error> {
        let aws = self.account(role_arn, external_id).await?;
        self.sweep_on(aws.as_ref(), role_arn, region, options, &|_| {}).await
    }

    /// The account reached through `role_arn` (from the sweep backend), or this one.
    async fn account(&self, role_arn: Option<&str>, external_id: Option<&str>) -> Result<Arc<dyn Aws>, AwsError> {
        match role_arn {
            Some(role) => self.sweep_aws.assume_role(role, external_id).await,
            None => Ok(self.sweep_aws.clone()),
        }
    }

    /// This keeper's sweep of `region` in the account `aws` acts in (reached through
    /// `role_arn`, if any), planned with the keeper's [`RetentionPolicy`](crate::RetentionPolicy);
    /// the report counts every AWS call. An applied sweep notifies its summary (`[notify]`).
    async fn sweep_on(
        &self,
        aws: &dyn Aws,
        role_arn: Option<&str>,
        region: &Region,
        options: &SweepOptions,
        progress: &(dyn Fn(Progress) + Send + Sync),
    ) -> Result<SweepReport, Error> {
        if self.config().retention.is_none() {
            return Err(Error::Config(ConfigError::Invalid {
                at: "retention".into(),
                reason: "the configuration has no [retention] section: nothing to sweep".into(),
            }));
        }
        let aws = CountingAws::new(aws);
        let sweeper = Sweeper::new(&aws, self.config()).with_policy(self.retention.as_ref()).with_progress(progress);
        let mut report = sweeper.sweep(region, options).await?;
        report.aws_calls = aws.log().count();
        report.aws_calls_by_operation =
            aws.log().by_operation().into_iter().map(|(op, n)| (op.to_owned(), n)).collect();
        self.notify_sweep(region, role_arn, &mut report).await;
        Ok(report)
    }
}
