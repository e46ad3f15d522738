//! [`RecycleBinApi`] over `aws-sdk-rbin`: the retention rules of Recycle Bin.

use amikeeper::backend::{AwsResult, RecycleBinApi};
use amikeeper::model::{RecycleBinResource, RecycleBinRule, Region};
use async_trait::async_trait;
use aws_sdk_rbin::operation::get_rule::GetRuleOutput;
use aws_sdk_rbin::types::{self as rbin, ResourceType, RetentionPeriodUnit, RuleStatus};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::error::{from_sdk_error, invalid_response, read_all};
use crate::SdkAws;

const SERVICE: &str = "rbin";

pub(crate) fn resource_type_to_sdk(resource: RecycleBinResource) -> ResourceType {
    match resource {
        RecycleBinResource::Image => ResourceType::Ec2Image,
        RecycleBinResource::Snapshot => ResourceType::EbsSnapshot,
    }
}

/// A retention period in days; fails on a unit other than `DAYS` or a negative value.
pub(crate) fn retention_days(rule_id: &str, period: &rbin::RetentionPeriod) -> AwsResult<u32> {
    let value = period.retention_period_value();
    let days = match period.retention_period_unit() {
        RetentionPeriodUnit::Days => u32::try_from(value).ok(),
        _ => None,
    };
    days.ok_or_else(|| {
        invalid_response(
            SERVICE,
            "GetRule",
            format!("rule {rule_id} has an unreadable retention period: {value} {}", period.retention_period_unit()),
        )
    })
}

fn tag_pairs(tags: &[rbin::ResourceTag]) -> Vec<(String, String)> {
    tags.iter()
        .map(|tag| (tag.resource_tag_key().to_owned(), tag.resource_tag_value().unwrap_or_default().to_owned()))
        .collect()
}

/// A `GetRule` answer to amikeeper's rule; `None` when the rule is not in effect (status other
/// than `available`). `fallback` is the rule's retention period from `ListRules`.
pub(crate) fn rule_from_sdk(
    id: &str,
    resource_type: RecycleBinResource,
    rule: &GetRuleOutput,
    fallback: Option<&rbin::RetentionPeriod>,
) -> AwsResult<Option<RecycleBinRule>> {
    if rule.status() != Some(&RuleStatus::Available) {
        tracing::debug!(rule_id = id, status = ?rule.status().map(|s| s.as_str()), "skipping a rule not in effect");
        return Ok(None);
    }
    let period = rule
        .retention_period()
        .or(fallback)
        .ok_or_else(|| invalid_response(SERVICE, "GetRule", format!("rule {id} has no RetentionPeriod")))?;
    Ok(Some(RecycleBinRule {
        id: id.to_owned(),
        resource_type,
        retention_days: retention_days(id, period)?,
        resource_tags: tag_pairs(rule.resource_tags()),
        exclude_tags: tag_pairs(rule.exclude_resource_tags()),
    }))
}

#[async_trait]
impl RecycleBinApi for SdkAws {
    async fn list_recycle_bin_rules(
        &self,
        region: &Region,
        resource_type: RecycleBinResource,
    ) -> AwsResult<Vec<RecycleBinRule>> {
        let client = self.rbin(region)?;
        let listing =
            client.list_rules().resource_type(resource_type_to_sdk(resource_type)).into_paginator().items().send();
        let summaries = read_all(SERVICE, "ListRules", listing).await?;
        let mut rules = Vec::new();
        for summary in &summaries {
            let id = summary
                .identifier()
                .ok_or_else(|| invalid_response(SERVICE, "ListRules", "a rule without Identifier"))?;
            // ListRules has no tags nor status: GetRule has both.
            let rule = match client.get_rule().identifier(id).send().await {
                Ok(rule) => rule,
                Err(error) if error.code() == Some("ResourceNotFoundException") => {
                    tracing::debug!(%region, rule_id = id, "rule deleted while listing");
                    continue;
                }
                Err(error) => return Err(from_sdk_error(SERVICE, "GetRule", error)),
            };
            rules.extend(rule_from_sdk(id, resource_type, &rule, summary.retention_period())?);
        }
        tracing::debug!(%region, ?resource_type, listed = summaries.len(), in_effect = rules.len(), "listed Recycle Bin rules");
        Ok(rules)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days(value: i32) -> rbin::RetentionPeriod {
        rbin::RetentionPeriod::builder()
            .retention_period_value(value)
            .retention_period_unit(RetentionPeriodUnit::Days)
            .build()
            .unwrap()
    }

    fn tag(key: &str, value: Option<&str>) -> rbin::ResourceTag {
        rbin::ResourceTag::builder()
            .resource_tag_key(key)
            .set_resource_tag_value(value.map(str::to_owned))
            .build()
            .unwrap()
    }

    #[test]
    fn rule_maps_tags_and_retention() {
        let output = GetRuleOutput::builder()
            .identifier("r-1")
            .status(RuleStatus::Available)
            .retention_period(days(7))
            .resource_tags(tag("keep", Some("yes")))
            .resource_tags(tag("team", None))
            .build();
        let rule = rule_from_sdk("r-1", RecycleBinResource::Image, &output, None).unwrap().unwrap();
        assert_eq!(rule.retention_days, 7);
        assert_eq!(rule.resource_type, RecycleBinResource::Image);
        assert_eq!(rule.resource_tags, [("keep".to_owned(), "yes".to_owned()), ("team".to_owned(), String::new())]);
        assert!(rule.exclude_tags.is_empty());
    }

    #[test]
    fn pending_rules_are_not_in_effect() {
        let output = GetRuleOutput::builder().status(RuleStatus::Pending).retention_period(days(7)).build();
        assert_eq!(rule_from_sdk("r-1", RecycleBinResource::Snapshot, &output, None).unwrap(), None);
        let no_status = GetRuleOutput::builder().retention_period(days(7)).build();
        assert_eq!(rule_from_sdk("r-1", RecycleBinResource::Snapshot, &no_status, None).unwrap(), None);
    }

    #[test]
    fn retention_falls_back_to_the_listing_and_rejects_odd_periods() {
        let output = GetRuleOutput::builder().status(RuleStatus::Available).build();
        let rule = rule_from_sdk("r-1", RecycleBinResource::Snapshot, &output, Some(&days(30))).unwrap().unwrap();
        assert_eq!(rule.retention_days, 30);
        let error = rule_from_sdk("r-1", RecycleBinResource::Snapshot, &output, None).unwrap_err();
        assert_eq!((error.service.as_str(), error.code.as_str()), ("rbin", "InvalidResponse"));

        assert!(retention_days("r-1", &days(-1)).is_err());
        let weeks = rbin::RetentionPeriod::builder()
            .retention_period_value(2)
            .retention_period_unit(RetentionPeriodUnit::from("WEEKS"))
            .build()
            .unwrap();
        let error = retention_days("r-1", &weeks).unwrap_err();
        assert!(error.message.contains("2 WEEKS"), "{}", error.message);
    }

    #[test]
    fn resource_types() {
        assert_eq!(resource_type_to_sdk(RecycleBinResource::Image).as_str(), "EC2_IMAGE");
        assert_eq!(resource_type_to_sdk(RecycleBinResource::Snapshot).as_str(), "EBS_SNAPSHOT");
    }
}
