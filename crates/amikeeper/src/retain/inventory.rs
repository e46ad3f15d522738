//! Gathering what one account and region holds, as far as retention needs it.

use std::collections::{BTreeMap, BTreeSet};

use futures::stream::{self, StreamExt, TryStreamExt};

use super::pace::Pacer;
use crate::backend::{Aws, AwsResult};
use crate::config::{Config, GroupByConfig, TargetConfig};
use crate::model::{
    AutoScalingGroup, Image, ImageId, ImageReference, Instance, LaunchConfiguration, LaunchTemplate,
    LaunchTemplateVersion, Parameter, ParameterType, Region, Snapshot, Stack, Volume,
};
use crate::template::Placeholder;

/// Everything a sweep reads from one account and region, before it decides anything.
#[derive(Debug, Clone, Default)]
pub struct Gathered {
    /// Self-owned images (deprecated and disabled ones included).
    pub images: Vec<Image>,
    /// Self-owned snapshots (read only with `[retention.snapshots]`).
    pub snapshots: Vec<Snapshot>,
    /// Volumes carrying the snapshot generations tag.
    pub volumes: Vec<Volume>,
    /// Instances that are not terminated.
    pub instances: Vec<Instance>,
    /// Every launch template with all its versions, newest first.
    pub launch_templates: Vec<(LaunchTemplate, Vec<LaunchTemplateVersion>)>,
    /// Every Auto Scaling group.
    pub auto_scaling_groups: Vec<AutoScalingGroup>,
    /// Every launch configuration.
    pub launch_configurations: Vec<LaunchConfiguration>,
    /// The SSM parameters that may hold AMI ids (see [`parameter_sources`]).
    pub parameters: Vec<Parameter>,
    /// Every CloudFormation stack.
    pub stacks: Vec<Stack>,
    /// The history of each parameter a `published_to` grouping names, oldest first, as
    /// `(version, value)`.
    pub parameter_histories: BTreeMap<String, Vec<(i64, String)>>,
    /// What EC2's AMI reference check found for the images it was asked about (the plan's
    /// candidates; see [`Sweeper`](super::Sweeper)).
    pub image_references: Vec<ImageReference>,
    /// What names the plan's candidates in the consumer accounts (see
    /// [`RetentionConfig::consumers`](crate::config::RetentionConfig::consumers)).
    pub consumer_usages: Vec<(ImageId, super::Usage)>,
    /// What could not be checked, for the plan's warnings.
    pub warnings: Vec<String>,
}

/// Where the SSM parameters that may name an AMI are: exact names, and paths to read
/// recursively. The rules' `ssm_parameter` targets count: a fixed name as it is, a template
/// through the path before its first placeholder (`/ami/{tag:Role}` reads `/ami/`).
pub fn parameter_sources(config: &Config, region: &Region) -> (Vec<String>, Vec<String>, Vec<String>) {
    let mut names = BTreeSet::new();
    let mut paths: BTreeSet<String> = BTreeSet::new();
    let mut warnings = Vec::new();
    if let Some(retention) = &config.retention {
        paths.extend(retention.parameter_paths.iter().cloned());
    }
    for rule in &config.rules {
        for target in &rule.targets {
            let TargetConfig::SsmParameter { name, .. } = target else { continue };
            let rendered = name.render(|p| match p {
                Placeholder::Region => Some(region.as_str()),
                Placeholder::Rule => Some(rule.name.as_str()),
                _ => None,
            });
            match rendered {
                Ok(exact) => {
                    names.insert(exact);
                }
                Err(_) => {
                    let text = name.as_str();
                    let literal = &text[..text.find('{').unwrap_or(text.len())];
                    match literal.rfind('/') {
                        Some(end) if literal.starts_with('/') => {
                            paths.insert(literal[..=end].to_owned());
                        }
                        _ => warnings.push(format!(
                            "the parameters of rule {} (`{text}`) cannot be found by path; \
                             list where they live in retention.parameter_paths",
                            rule.name
                        )),
                    }
                }
            }
        }
    }
    // A name under a path that is read anyway need not be read again.
    let names = names.into_iter().filter(|name| !paths.iter().any(|path| under(name, path))).collect();
    (names, paths.into_iter().collect(), warnings)
}

fn under(name: &str, path: &str) -> bool {
    let path = path.trim_end_matches('/');
    name.len() > path.len() && name.starts_with(path) && name.as_bytes()[path.len()] == b'/'
}

/// Reads the inventory of `region`: the listings run at once, then each launch template's
/// versions, at most `concurrency` at a time; every call goes through the pacer and is retried
/// on retryable errors.
pub(super) async fn gather_paced(
    aws: &dyn Aws,
    config: &Config,
    region: &Region,
    pacer: &Pacer,
    concurrency: usize,
) -> AwsResult<Gathered> {
    let generations_tag =
        config.retention.as_ref().and_then(|r| r.snapshots.as_ref()).and_then(|s| s.generations_tag.clone());
    let (names, paths, warnings) = parameter_sources(config, region);
    let published: BTreeSet<&String> = config
        .retention
        .iter()
        .flat_map(|r| &r.images)
        .filter_map(|policy| match &policy.group_by {
            GroupByConfig::PublishedTo(names) => Some(names),
            _ => None,
        })
        .flatten()
        .collect();

    let images = async { pacer.retry(|| aws.describe_own_images(region)).await.0 };
    // Snapshots are read only for generations and orphans: with no [retention.snapshots],
    // deleting an AMI's snapshots needs nothing but the AMI's own list.
    let read_snapshots = config.retention.as_ref().is_some_and(|r| r.snapshots.is_some());
    let snapshots = async {
        match read_snapshots {
            true => pacer.retry(|| aws.describe_own_snapshots(region)).await.0,
            false => Ok(Vec::new()),
        }
    };
    let volumes = async {
        match &generations_tag {
            Some(tag) => pacer.retry(|| aws.describe_volumes_tagged(region, tag)).await.0,
            None => Ok(Vec::new()),
        }
    };
    let instances = async { pacer.retry(|| aws.describe_instances(region)).await.0 };
    let templates = async { pacer.retry(|| aws.describe_launch_templates(region)).await.0 };
    let groups = async { pacer.retry(|| aws.describe_auto_scaling_groups(region)).await.0 };
    let configurations = async { pacer.retry(|| aws.describe_launch_configurations(region)).await.0 };
    let stacks = async { pacer.retry(|| aws.describe_stacks(region)).await.0 };
    let by_path = async {
        let lists: Vec<Vec<Parameter>> = stream::iter(&paths)
            .map(|path| async move { pacer.retry(|| aws.get_parameters_by_path(region, path)).await.0 })
            .buffer_unordered(concurrency)
            .try_collect()
            .await?;
        Ok(lists.into_iter().flatten().collect::<Vec<_>>())
    };
    let by_name = async {
        let found: Vec<Option<Parameter>> = stream::iter(&names)
            .map(|name| async move { pacer.retry(|| aws.get_parameter(region, name)).await.0 })
            .buffer_unordered(concurrency)
            .try_collect()
            .await?;
        Ok(found.into_iter().flatten().collect::<Vec<_>>())
    };
    let histories = async {
        stream::iter(&published)
            .map(|name| async move {
                let history = pacer.retry(|| aws.get_parameter_history(region, name)).await.0?;
                Ok::<_, crate::error::AwsError>(((*name).clone(), history))
            })
            .buffer_unordered(concurrency)
            .try_collect::<BTreeMap<_, _>>()
            .await
    };
    let (
        (images, snapshots, volumes, instances, templates),
        (groups, configurations, stacks, by_path, by_name, histories),
    ) = futures::try_join!(async { futures::try_join!(images, snapshots, volumes, instances, templates) }, async {
        futures::try_join!(groups, configurations, stacks, by_path, by_name, histories)
    },)?;

    let launch_templates: Vec<(LaunchTemplate, Vec<LaunchTemplateVersion>)> = stream::iter(templates)
        .map(|template| async move {
            let versions = pacer.retry(|| aws.describe_launch_template_versions(region, &template.id)).await.0?;
            Ok::<_, crate::error::AwsError>((template, versions))
        })
        .buffered(concurrency)
        .try_collect()
        .await?;

    let mut parameters = by_path;
    parameters.extend(by_name);
    // A parameter AMIs are published to is in use at its current value.
    for (name, history) in &histories {
        if let Some((version, value)) = history.last() {
            let kind = ParameterType::String;
            let current = Parameter {
                name: name.clone(),
                value: value.clone(),
                version: *version,
                kind,
                data_type: "text".into(),
            };
            parameters.push(current);
        }
    }
    parameters.sort_by(|a, b| a.name.cmp(&b.name));
    parameters.dedup_by(|a, b| a.name == b.name);

    Ok(Gathered {
        images,
        snapshots,
        volumes,
        instances,
        launch_templates,
        auto_scaling_groups: groups,
        launch_configurations: configurations,
        parameters,
        stacks,
        parameter_histories: histories,
        image_references: Vec::new(),
        consumer_usages: Vec::new(),
        warnings,
    })
}

/// Reads the inventory of `region` for `config` (see [`Gathered`]), at most `concurrency`
/// calls at a time, retrying retryable errors.
pub async fn gather(aws: &dyn Aws, config: &Config, region: &Region, concurrency: usize) -> AwsResult<Gathered> {
    let max_rps = config.retention.as_ref().and_then(|r| r.max_requests_per_second);
    gather_paced(aws, config, region, &Pacer::new(max_rps), concurrency.max(1)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_sources_come_from_targets_and_paths() {
        let config = Config::from_toml(
            r#"
            accounts = ["111122223333"]
            allowed_name_prefixes = ["/ami/"]
            [[rules]]
            name = "web"
            [[rules.targets]]
            kind = "ssm_parameter"
            name = "/golden/{region}/web"
            [[rules.targets]]
            kind = "ssm_parameter"
            name = "/ami/{tag:Role}/latest"
            [[rules.targets]]
            kind = "ssm_parameter"
            name = "/ami/web/fixed"
            [retention]
            parameter_paths = ["/base/"]
            [[retention.images]]
            group_by = { tag = "Role" }
            keep_newest = 2
            "#,
        )
        .unwrap();
        let (names, paths, warnings) = parameter_sources(&config, &Region::from("eu-west-1"));
        assert_eq!(names, ["/golden/eu-west-1/web"]);
        assert_eq!(paths, ["/ami/", "/base/"]);
        assert!(warnings.is_empty());
    }
}
