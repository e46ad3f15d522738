//! `amikeeper status`: where every pointer of the configuration points, read back.

use std::collections::BTreeMap;
use std::sync::Arc;

use time::OffsetDateTime;

use super::Keeper;
use crate::backend::{Aws, CountingAws};
use crate::config::role_account;
use crate::error::AwsError;
use crate::model::Region;
use crate::status::{findings, gather, Place, PlaceRole, StatusError, StatusReport};

options! {
    /// Options for [`Keeper::status`].
    #[derive(Debug, Clone, Default)]
    pub struct StatusOptions {
        /// Also read every `[[fleet]]` account and region (each role assumed).
        pub fleet: bool,
        /// Report only this region (of the home region, the `copy_to` regions and the fleet's).
        /// The home region is still read when this is a `copy_to` region, to tell whether its
        /// pointers lag; its errors are reported, its pointers not.
        pub region: Option<Region>,
        /// The time the report is made at (default: now): AMI ages, deprecation, DR lag.
        pub now: Option<OffsetDateTime>,
        /// The account the keeper runs in, for the report. Default: the configuration's
        /// account, when `accounts` lists only one.
        pub account: Option<String>,
    }
}

/// An account and region to read, before its role is assumed.
pub(super) struct Planned {
    pub(super) role_arn: Option<String>,
    pub(super) external_id: Option<String>,
    pub(super) account: String,
    pub(super) region: Region,
    pub(super) role: PlaceRole,
    pub(super) rules: Vec<usize>,
}

/// Each role of `planned` assumed once, through `aws`: the session, or why not.
pub(super) async fn assume_roles<'p>(
    aws: &dyn Aws,
    planned: &'p [Planned],
) -> BTreeMap<&'p str, Result<Arc<dyn Aws>, AwsError>> {
    let mut sessions: BTreeMap<&str, Result<Arc<dyn Aws>, AwsError>> = BTreeMap::new();
    for place in planned {
        if let Some(role) = place.role_arn.as_deref() {
            if !sessions.contains_key(role) {
                let session = aws.assume_role(role, place.external_id.as_deref()).await;
                sessions.insert(role, session);
            }
        }
    }
    sessions
}

impl Keeper {
    /// Reads every pointer the configuration manages, in `home` (the region its rules publish
    /// in), in each rule's `copy_to` destinations, and with `options.fleet` in every `[[fleet]]`
    /// account and region: the AMI each names and its state, and what is wrong
    /// ([`FindingKind`](crate::status::FindingKind)). A read that fails (a role that cannot be
    /// assumed, a listing denied) is in the report's `errors`, never taken for a missing pointer.
    pub async fn status(&self, home: &Region, options: &StatusOptions) -> StatusReport {
        let now = options.now.unwrap_or_else(OffsetDateTime::now_utc);
        let config = self.config();
        let home_aws = CountingAws::new(self.aws.as_ref());
        let planned = self.status_places(home, options);
        let sessions = assume_roles(&home_aws, &planned).await;
        let counted: BTreeMap<&str, CountingAws<'_>> = sessions
            .iter()
            .filter_map(|(role, session)| Some((*role, CountingAws::new(session.as_ref().ok()?.as_ref()))))
            .collect();
        let (mut pointers, mut errors) = (Vec::new(), Vec::new());
        for planned in &planned {
            let aws: &dyn Aws = match planned.role_arn.as_deref() {
                None => &home_aws,
                Some(role) => match (counted.get(role), &sessions[role]) {
                    (Some(aws), _) => aws,
                    (None, failed) => {
                        errors.push(StatusError {
                            account: planned.account.clone(),
                            region: planned.region.clone(),
                            what: format!("assuming role {role}"),
                            error: failed.as_ref().err().map(ToString::to_string).unwrap_or_default(),
                        });
                        continue;
                    }
                },
            };
            let place = Place {
                aws,
                account: planned.account.clone(),
                region: planned.region.clone(),
                role: planned.role,
                rules: planned.rules.clone(),
            };
            let (found, failed) = gather(config, &place, now).await;
            pointers.extend(found);
            errors.extend(failed);
        }
        let mut findings = findings(&pointers, config.status.dr_max_lag(), now);
        if let Some(only) = &options.region {
            pointers.retain(|pointer| &pointer.region == only);
            findings.retain(|finding| &finding.region == only);
        }
        let aws_calls = home_aws.log().count() + counted.values().map(|aws| aws.log().count()).sum::<usize>();
        StatusReport { generated_at: now, pointers, findings, errors, aws_calls }
    }

    /// The accounts and regions status reads, each once (by role and region): the home region,
    /// the `copy_to` destinations, and with `options.fleet` the fleet's; only `options.region`
    /// when set (and the home region, when that is a `copy_to` destination).
    pub(super) fn status_places(&self, home: &Region, options: &StatusOptions) -> Vec<Planned> {
        let config = self.config();
        let single = (config.accounts.len() == 1).then(|| config.accounts[0].clone());
        let home_account = options.account.clone().or(single).unwrap_or_default();
        let all: Vec<usize> = (0..config.rules.len()).collect();
        let mut places = vec![Planned {
            role_arn: None,
            external_id: None,
            account: home_account.clone(),
            region: home.clone(),
            role: PlaceRole::Home,
            rules: all.clone(),
        }];
        let mut add = |place: Planned| {
            let same = places.iter_mut().find(|p| p.role_arn == place.role_arn && p.region == place.region);
            match same {
                Some(same) => {
                    same.rules.extend(place.rules);
                    same.rules.sort_unstable();
                    same.rules.dedup();
                }
                None => places.push(place),
            }
        };
        for (index, rule) in config.rules.iter().enumerate() {
            for destination in &rule.copy_to {
                let role_arn = destination.role_arn().map(str::to_owned);
                add(Planned {
                    account: destination.account().map_or_else(|| home_account.clone(), str::to_owned),
                    external_id: destination.external_id().map(str::to_owned),
                    role_arn,
                    region: Region::from(destination.region()),
                    role: PlaceRole::Copy,
                    rules: vec![index],
                });
            }
        }
        for target in config.fleet.iter().filter(|_| options.fleet) {
            let account = target.role_arn.as_deref().and_then(role_account).map(str::to_owned);
            for region in &target.regions {
                add(Planned {
                    role_arn: target.role_arn.clone(),
                    external_id: target.external_id.clone(),
                    account: account.clone().unwrap_or_else(|| home_account.clone()),
                    region: Region::from(region.as_str()),
                    role: PlaceRole::Fleet,
                    rules: all.clone(),
                });
            }
        }
        if let Some(only) = &options.region {
            // The home region stays when a copy_to region is asked for: its pointers tell lag.
            let copies_read = places.iter().any(|p| &p.region == only && p.role == PlaceRole::Copy);
            places.retain(|p| &p.region == only || (copies_read && p.role == PlaceRole::Home));
        }
        places
    }
}
