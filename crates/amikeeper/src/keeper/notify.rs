//! The keeper's notifications (`[notify]`, see [`crate::notify`]): one hook per entry point,
//! called once its report is complete. Dry runs notify nothing; a notification that fails is in
//! the report and changes nothing else.

use std::collections::BTreeMap;

use super::Keeper;
use crate::backend::{CallLog, CountingAws};
use crate::events::AmiEvent;
use crate::model::Region;
use crate::notify::{self, Notification, Notifier, Operation, RunContext};
use crate::report::Report;
use crate::retain::SweepReport;
use crate::revoke::RevokeReport;
use crate::rollback::RollbackReport;

impl Keeper {
    /// After handling `event` (or a bake), through the run's own counted backend: an event
    /// for each pointer moved, refused or failed.
    pub(super) async fn notify_handle(&self, aws: &CountingAws<'_>, event: &AmiEvent, report: &mut Report) {
        let Some(config) = self.config().notify.as_ref().filter(|_| !report.dry_run) else { return };
        let run = RunContext {
            operation: Operation::Handle,
            region: &event.region,
            account: Some(event.account.as_str()),
            event_kind: Some(event.kind()),
            event_id: Some(&event.event_id),
        };
        let events: Vec<Notification> = report
            .targets
            .iter()
            // Instance refreshes are in the report beside the pointers, but are none.
            .filter(|t| t.target.kind != super::refresh::KIND)
            .filter_map(|t| notify::pointer_event(&run, Some(&t.rule), &t.target, &t.outcome, t.error.as_ref()))
            .collect();
        if !events.is_empty() {
            report.notifications = Some(Notifier::new(aws, config).send(&event.region, events).await);
        }
    }

    /// After a rollback in `region`: an event for each pointer rolled back, refused or failed.
    pub(super) async fn notify_rollback(&self, region: &Region, report: &mut RollbackReport) {
        let Some(config) = self.config().notify.as_ref().filter(|_| !report.dry_run) else { return };
        let run = RunContext {
            operation: Operation::Rollback,
            region,
            account: self.home_account(),
            event_kind: None,
            event_id: None,
        };
        let events: Vec<Notification> = report
            .targets
            .iter()
            .filter_map(|item| notify::pointer_event(&run, None, &item.target, &item.outcome, None))
            .collect();
        if !events.is_empty() {
            let aws = CountingAws::new(self.aws.as_ref());
            let sent = Notifier::new(&aws, config).send(region, events).await;
            add_calls(aws.log(), &mut report.aws_calls, &mut report.aws_calls_by_operation);
            report.notifications = Some(sent);
        }
    }

    /// After a revoke from `home`: an event for each pointer moved, refused or failed, in its
    /// own region and account, put on the bus from `home`.
    pub(super) async fn notify_revoke(&self, home: &Region, report: &mut RevokeReport) {
        let Some(config) = self.config().notify.as_ref().filter(|_| !report.dry_run) else { return };
        let events: Vec<Notification> = report
            .pointers
            .iter()
            .filter_map(|item| {
                let run = RunContext {
                    operation: Operation::Revoke,
                    region: &item.region,
                    account: Some(item.account.as_str()).filter(|a| !a.is_empty()),
                    event_kind: None,
                    event_id: None,
                };
                notify::pointer_event(&run, Some(&item.rule), &item.target, &item.outcome, None)
            })
            .collect();
        if !events.is_empty() {
            let aws = CountingAws::new(self.aws.as_ref());
            let sent = Notifier::new(&aws, config).send(home, events).await;
            add_calls(aws.log(), &mut report.aws_calls, &mut report.aws_calls_by_operation);
            report.notifications = Some(sent);
        }
    }

    /// After an applied sweep of `region` (in the account `role_arn` reaches, else this one):
    /// its summary, put on this account's bus.
    pub(super) async fn notify_sweep(&self, region: &Region, role_arn: Option<&str>, report: &mut SweepReport) {
        let Some(config) = self.config().notify.as_ref().filter(|_| report.applied) else { return };
        let account = match role_arn {
            Some(role) => crate::config::role_account(role),
            None => self.home_account(),
        };
        let event = notify::sweep_event(region, account, role_arn, report);
        let aws = CountingAws::new(self.aws.as_ref());
        let sent = Notifier::new(&aws, config).send(region, vec![event]).await;
        add_calls(aws.log(), &mut report.aws_calls, &mut report.aws_calls_by_operation);
        report.notifications = Some(sent);
    }

    /// The account amikeeper runs in, when the configuration lists only one.
    fn home_account(&self) -> Option<&str> {
        match self.config().accounts.as_slice() {
            [account] => Some(account),
            _ => None,
        }
    }
}

/// Adds the calls in `log` to a report's counts.
pub(super) fn add_calls(log: &CallLog, calls: &mut usize, by_operation: &mut BTreeMap<String, usize>) {
    *calls += log.count();
    for (operation, n) in log.by_operation() {
        *by_operation.entry(operation.to_owned()).or_default() += n;
    }
}
