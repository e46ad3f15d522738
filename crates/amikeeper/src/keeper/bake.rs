//! Baking: image a rule's builder instance, then move the rule's targets to the new AMI.

use time::OffsetDateTime;

use super::refresh::refresh_target;
use super::{entry, new_report, BakeOptions, HandleOptions, Keeper};
use crate::backend::{CountingAws, Ec2Api};
use crate::config::{ConfigError, Rule};
use crate::error::Error;
use crate::events::{AmiEvent, ImageCreated, Scheduled};
use crate::model::{AccountId, CreateImage, Region, RULE_TAG};
use crate::publish::{Outcome, Status, TargetId};
use crate::report::{Report, RunStatus, TargetReport};
use crate::resolve::{ResolvedTarget, RuleTargets};
use crate::template::Placeholder;

impl Keeper {
    /// Runs the bake of the rule named `rule` in `region` now, without waiting for its
    /// schedule: the same work as the rule's `Scheduled Event`. It images the builder instance
    /// (`CreateImage`, tagged `amikeeper:rule`), waits for the AMI to become `available`
    /// (bounded by the configured wait or `options.wait`), and moves the rule's targets to it.
    /// An AMI still pending when the wait ends leaves the targets deferred: its
    /// `EC2 AMI State Change` event finishes the job. Groups with `instance_refresh` are
    /// refreshed once moved.
    ///
    /// The report's event is a `scheduled` event made up for the run (id
    /// `amikeeper-bake-<rule>-<unix time>`). Fails with [`Error::Config`] when no rule has that
    /// name, when the rule has no `bake` (the message lists the rules that have one), or when
    /// the account is not known; AWS failures are in the report.
    pub async fn bake(&self, rule: &str, region: &Region, options: &BakeOptions) -> Result<Report, Error> {
        let config = self.config();
        let bakes: Vec<&str> = config.rules.iter().filter(|r| r.bake.is_some()).map(|r| r.name.as_str()).collect();
        let bakes = if bakes.is_empty() {
            "no rule of the configuration has one".to_owned()
        } else {
            format!("the rules with `bake` are: {}", bakes.join(", "))
        };
        let bad = |at: String, reason: String| Error::Config(ConfigError::Invalid { at, reason });
        match config.rules.iter().position(|r| r.name == rule) {
            None => return Err(bad("rules".into(), format!("no rule is named `{rule}`; {bakes}"))),
            Some(index) if config.rules[index].bake.is_none() => {
                return Err(bad(format!("rules[{index}].bake"), format!("rule `{rule}` has no `bake`; {bakes}")));
            }
            Some(_) => {}
        }
        let account = match (&options.account, config.accounts.as_slice()) {
            (Some(account), _) if config.allows_account(account) => account.clone(),
            (Some(account), listed) => {
                return Err(bad(
                    "accounts".into(),
                    format!("account {account} is not one of the configuration's accounts ({})", listed.join(", ")),
                ))
            }
            (None, [only]) => only.clone(),
            (None, listed) => {
                return Err(bad(
                    "accounts".into(),
                    format!("the configuration lists {} accounts; say which one the bake runs in", listed.join(", ")),
                ))
            }
        };
        let now = options.now.unwrap_or_else(OffsetDateTime::now_utc);
        let event_id = format!("amikeeper-bake-{rule}-{}", now.unix_timestamp());
        let event =
            AmiEvent::new(region.clone(), AccountId::new(account), now, event_id, Scheduled { rule_name: None });
        let handle = HandleOptions::default().dry_run(options.dry_run).wait(options.wait);
        let aws = CountingAws::new(self.aws.as_ref());
        let mut report = new_report(&event, options.dry_run);
        self.bake_rule(&aws, &event, rule, &handle, &mut report).await;
        self.complete_report(&aws, &event, &mut report).await;
        Ok(report)
    }

    /// The bake of one rule: `Keeper::bake` and the rule's scheduled events both run it.
    pub(super) async fn bake_rule(
        &self,
        aws: &CountingAws<'_>,
        event: &AmiEvent,
        rule_name: &str,
        options: &HandleOptions,
        report: &mut Report,
    ) {
        let Some(rule) = self.config().rules.iter().find(|r| r.name == rule_name) else {
            return;
        };
        let Some(bake) = &rule.bake else { return };
        let date = event.time.date().to_string();
        let name = bake
            .name
            .render(|p| match p {
                Placeholder::InstanceId => Some(bake.instance_id.as_str()),
                Placeholder::Date => Some(date.as_str()),
                Placeholder::Rule => Some(rule.name.as_str()),
                Placeholder::Region => Some(event.region.as_str()),
                Placeholder::Account => Some(event.account.as_str()),
                _ => None,
            })
            // The configuration allows only the placeholders filled here.
            .unwrap_or_else(|_| format!("{}_{date}", bake.instance_id));
        let target = TargetId { kind: "bake", name: bake.instance_id.clone() };
        if options.dry_run {
            report.targets.push(entry(
                rule_name,
                target,
                Outcome::new(Status::Planned, format!("would create image `{name}` from {}", bake.instance_id)),
                None,
            ));
            report.targets.extend(self.planned_refreshes(rule, event));
            return;
        }
        let mut tags = bake.tags.clone();
        tags.insert(RULE_TAG.to_owned(), rule.name.clone());
        let request = CreateImage {
            instance_id: bake.instance_id.clone(),
            name: name.clone(),
            description: bake.description.clone(),
            no_reboot: bake.no_reboot,
            tags,
        };
        let image_id = match aws.create_image(&event.region, &request).await {
            Ok(id) => id,
            Err(error) => {
                report.targets.push(entry(
                    rule_name,
                    target,
                    Outcome::new(Status::Failed, error.to_string()),
                    Some(error),
                ));
                return;
            }
        };
        report.targets.push(entry(
            rule_name,
            target,
            Outcome::new(Status::Updated, format!("created image `{name}` from {}", bake.instance_id))
                .moved(None::<String>, image_id.as_str()),
            None,
        ));
        // The new image carries `amikeeper:rule`, so when it is still pending, its
        // `EC2 AMI State Change` event resolves to this rule and finishes the job.
        let created = AmiEvent {
            detail: ImageCreated {
                image_id: image_id.clone(),
                instance_id: Some(bake.instance_id.clone()),
                image_name: Some(name),
                description: None,
            }
            .into(),
            ..event.clone()
        };
        let image = match aws.describe_image(&event.region, &image_id).await {
            Ok(Some(image)) => image,
            Ok(None) => {
                report.status = RunStatus::Failed;
                report.reason = Some(format!("the new image {image_id} is not visible in {}", event.region));
                return;
            }
            Err(error) => {
                report.status = RunStatus::Failed;
                report.reason = Some(error.to_string());
                return;
            }
        };
        let targets = self.resolver.rule_targets(rule, &created, Some(&image));
        let rules = vec![RuleTargets { rule: rule.name.clone(), targets }];
        self.publish_all(aws, &created, Some(image), rules, options, report).await;
    }
}

impl Keeper {
    /// In a dry-run bake: the instance refreshes the rule's groups would get once moved.
    fn planned_refreshes(&self, rule: &Rule, event: &AmiEvent) -> Vec<TargetReport> {
        let targets = self.resolver.rule_targets(rule, event, None);
        rule.targets
            .iter()
            .zip(targets)
            .filter(|(configured, _)| configured.instance_refresh().is_some())
            .filter_map(|(_, target)| match target {
                ResolvedTarget::Ready(publisher) => Some(publisher.target().name),
                _ => None,
            })
            .map(|group| {
                let reason = format!("would start an instance refresh of {group} once the bake moves it");
                entry(&rule.name, refresh_target(&group), Outcome::new(Status::Planned, reason), None)
            })
            .collect()
    }
}
