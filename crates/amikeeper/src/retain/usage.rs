//! What uses each AMI: the in-use scan over what was gathered, and the image policies that group
//! the AMIs.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use time::Duration;

use super::inventory::Gathered;
use super::report::VersionDeletion;
use super::{GroupBy, ImagePolicy, Source, Usage, Usages};
use crate::config::{GroupByConfig, ImagePolicyConfig};
use crate::model::{ami_ids, ImageId};

/// The [`ImagePolicy`] a `[[retention.images]]` entry describes; `gathered` has the parameter
/// histories a `published_to` grouping reads.
pub fn image_policy(config: &ImagePolicyConfig, gathered: &Gathered) -> Result<ImagePolicy, regex::Error> {
    let group_by = match &config.group_by {
        GroupByConfig::Tag(key) => GroupBy::Tag(key.clone()),
        GroupByConfig::NamePrefix(prefixes) => GroupBy::NamePrefix(prefixes.clone()),
        GroupByConfig::NamePattern(pattern) => GroupBy::NamePattern(regex::Regex::new(pattern)?),
        GroupByConfig::PublishedTo(names) => {
            let mut groups: rustc_hash::FxHashMap<ImageId, Arc<str>> = Default::default();
            for name in names {
                let group: Arc<str> = Arc::from(name.as_str());
                for (_, value) in gathered.parameter_histories.get(name).into_iter().flatten() {
                    for found in ami_ids().find_iter(value) {
                        groups.entry(ImageId::new(found.as_str())).or_insert_with(|| group.clone());
                    }
                }
            }
            GroupBy::Lookup(Arc::new(groups))
        }
    };
    Ok(ImagePolicy {
        group_by,
        keep_newest: config.keep_newest,
        min_age: Duration::days(i64::from(config.min_age_days)),
        max_age: config.max_age_days.map(|days| Duration::days(i64::from(days))),
        keep_launched_within: config.keep_launched_within_days.map(|days| Duration::days(i64::from(days))),
        exclude_tag: Some(config.exclude_tag.clone()),
        max_retirements: config.max_retirements,
        retire: config.retire,
        stages: config.stages.map(|s| super::Stages {
            deprecate_after: s.deprecate_after_days.map(|d| Duration::days(i64::from(d))),
            disable_after: s.disable_after_days.map(|d| Duration::days(i64::from(d))),
            delete_after: s.delete_after_days.map(|d| Duration::days(i64::from(d))),
        }),
    })
}

/// The version number `version` (`$Latest`, `$Default` or a number) names in a template.
fn version_number(version: &str, default: i64, latest: i64) -> Option<i64> {
    match version {
        "$Latest" => Some(latest),
        "$Default" => Some(default),
        number => number.parse().ok(),
    }
}

/// What names each image in `gathered` (the launch template versions that stay, Auto Scaling
/// groups, launch configurations, instances, SSM and stack parameters, EC2's reference check and
/// consumer accounts), and the launch template versions beyond `keep_versions` to delete.
pub(crate) fn usages(
    gathered: &Gathered,
    keep_versions: Option<usize>,
    warnings: &mut Vec<String>,
) -> (Usages, Vec<VersionDeletion>) {
    // Launch template versions: what Auto Scaling groups name, then what to delete.
    let templates: HashMap<&str, _> = gathered.launch_templates.iter().map(|(t, v)| (t.id.as_str(), (t, v))).collect();
    let mut usages = Usages::default();
    let mut named_by_groups: BTreeSet<(&str, i64)> = BTreeSet::new();
    for group in &gathered.auto_scaling_groups {
        for spec in group.launch_template.iter().chain(&group.override_launch_templates) {
            let Some((template, versions)) = templates.get(spec.id.as_str()) else {
                warnings.push(format!(
                    "Auto Scaling group {} names launch template {}, which was not found",
                    group.name, spec.id
                ));
                continue;
            };
            let Some(number) = version_number(&spec.version, template.default_version, template.latest_version) else {
                warnings.push(format!("Auto Scaling group {} names version `{}`", group.name, spec.version));
                continue;
            };
            named_by_groups.insert((template.id.as_str(), number));
            if let Some(image) = versions.iter().find(|v| v.number == number).and_then(|v| v.image_id.clone()) {
                usages.entry(image).or_default().push(Usage::AutoScalingGroup { name: group.name.clone() });
            }
        }
    }
    // Without the groups, which versions they launch is unknown: delete none.
    let groups_unread = gathered.unreadable.iter().any(|(source, _)| *source == Source::AutoScalingGroups);
    let keep_versions = keep_versions.filter(|_| !groups_unread);
    let mut version_deletions = Vec::new();
    for (template, versions) in &gathered.launch_templates {
        let mut newest_first: Vec<_> = versions.iter().collect();
        newest_first.sort_by_key(|version| std::cmp::Reverse(version.number));
        for (position, version) in newest_first.iter().enumerate() {
            let protected = version.number == template.default_version
                || version.number == template.latest_version
                || version.is_default
                || named_by_groups.contains(&(template.id.as_str(), version.number));
            let kept = match keep_versions {
                Some(keep) => protected || position < keep,
                None => true,
            };
            if kept {
                if let Some(image) = &version.image_id {
                    let usage = Usage::LaunchTemplateVersion { id: template.id.clone(), version: version.number };
                    usages.entry(image.clone()).or_default().push(usage);
                }
            } else {
                version_deletions.push(VersionDeletion {
                    template_id: template.id.clone(),
                    template_name: template.name.clone(),
                    version: version.number,
                    image_id: version.image_id.clone(),
                });
            }
        }
    }

    // Everything else that names an AMI.
    for configuration in &gathered.launch_configurations {
        let usage = Usage::LaunchConfiguration { name: configuration.name.clone() };
        usages.entry(configuration.image_id.clone()).or_default().push(usage);
    }
    for instance in &gathered.instances {
        usages.entry(instance.image_id.clone()).or_default().push(Usage::Instance { id: instance.id.clone() });
    }
    for parameter in &gathered.parameters {
        for found in ami_ids().find_iter(&parameter.value) {
            let usage = Usage::SsmParameter { name: parameter.name.clone() };
            usages.entry(ImageId::new(found.as_str())).or_default().push(usage);
        }
    }
    for (image, usage) in &gathered.consumer_usages {
        usages.entry(image.clone()).or_default().push(usage.clone());
    }
    // EC2's reference check, for images the scan found unused (it is asked about candidates).
    // The scan read every version of the templates it saw and knows which ones this plan
    // deletes, so it decides for those; the check adds templates the scan did not see.
    for reference in &gathered.image_references {
        let template_seen = reference.resource_type == "ec2:LaunchTemplate"
            && reference.arn.rsplit_once('/').is_some_and(|(_, id)| templates.contains_key(id));
        if template_seen {
            continue;
        }
        let list = usages.entry(reference.image_id.clone()).or_default();
        if list.iter().all(|usage| matches!(usage, Usage::Reference { .. })) {
            list.push(Usage::Reference { resource_type: reference.resource_type.clone(), arn: reference.arn.clone() });
        }
    }
    for stack in &gathered.stacks {
        for (key, value) in &stack.parameters {
            for found in ami_ids().find_iter(value) {
                let usage = Usage::StackParameter { stack: stack.name.clone(), parameter: key.clone() };
                usages.entry(ImageId::new(found.as_str())).or_default().push(usage);
            }
        }
    }
    for recipe in &gathered.recipes {
        for found in ami_ids().find_iter(&recipe.image) {
            let usage = Usage::Recipe { resource_type: recipe.resource_type.clone(), arn: recipe.arn.clone() };
            usages.entry(ImageId::new(found.as_str())).or_default().push(usage);
        }
    }
    // Fail closed: what could not be read might name any image, and an image EC2's reference
    // check did not answer for might be named by what only the check sees.
    for (image, error) in &gathered.references_unanswered {
        let usage = Usage::Unreadable { source: Source::ImageReferences, error: error.clone() };
        usages.entry(image.clone()).or_default().push(usage);
    }
    if !gathered.unreadable.is_empty() {
        for image in &gathered.images {
            let list = usages.entry(image.id.clone()).or_default();
            for (source, error) in &gathered.unreadable {
                list.push(Usage::Unreadable { source: *source, error: error.clone() });
            }
        }
    }
    for list in usages.values_mut() {
        list.sort_by_key(|usage| usage.to_string());
        list.dedup();
    }
    (usages, version_deletions)
}
