//! `amikeeper revoke`: the keeper's side (see [`revoke`](crate::revoke)): the home region and
//! every `copy_to` place, each role assumed once, then the revoke and its notifications.

use super::status::{assume_roles, StatusOptions};
use super::Keeper;
use crate::backend::{Aws, CountingAws};
use crate::model::{ImageId, Region};
use crate::revoke::{RevokeOptions, RevokeReport};
use crate::status::{Place, StatusError};

impl Keeper {
    /// Revokes `image_id` (an AMI of `home`): every pointer the configuration manages that
    /// names it, or its copy in a `copy_to` region or account, moves back to the newest earlier
    /// AMI of its rule there that is not rejected; the AMI and its copies are marked rejected
    /// and deprecated (and disabled with `[revoke] disable = true`). Nothing is written unless
    /// every pointer can move back and everything could be read.
    pub async fn revoke(&self, home: &Region, image_id: &ImageId, options: &RevokeOptions) -> RevokeReport {
        let home_aws = CountingAws::new(self.aws.as_ref());
        let planned = self.status_places(home, &StatusOptions::default());
        let sessions = assume_roles(&home_aws, &planned).await;
        let mut places = Vec::new();
        let mut unreachable = Vec::new();
        for planned in &planned {
            let aws: &dyn Aws = match planned.role_arn.as_deref() {
                None => self.aws.as_ref(),
                Some(role) => match &sessions[role] {
                    Ok(session) => session.as_ref(),
                    Err(error) => {
                        unreachable.push(StatusError {
                            account: planned.account.clone(),
                            region: planned.region.clone(),
                            what: format!("assuming role {role}"),
                            error: error.to_string(),
                        });
                        continue;
                    }
                },
            };
            places.push(Place {
                aws,
                account: planned.account.clone(),
                region: planned.region.clone(),
                role: planned.role,
                rules: planned.rules.clone(),
            });
        }
        // A place that cannot be reached fails the revoke before anything is written: a copy
        // there may be named by pointers this run cannot see.
        let mut report = crate::revoke::revoke(self.config(), &places, unreachable, image_id, options).await;
        super::notify::add_calls(home_aws.log(), &mut report.aws_calls, &mut report.aws_calls_by_operation);
        self.notify_revoke(home, &mut report).await;
        report
    }
}
