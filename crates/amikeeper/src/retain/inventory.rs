//! Gathering what one account and region holds, as far as retention needs it.

use std::collections::{BTreeMap, BTreeSet};

use futures::stream::{self, StreamExt, TryStreamExt};

use super::pace::Pacer;
use super::{Source, Sources};
use crate::backend::{Aws, AwsResult, PARAMETERS_PER_CALL};
use crate::config::{Config, GroupByConfig};
use crate::error::AwsError;
use crate::kinds::{InUse, Kinds};
use crate::model::{
    AutoScalingGroup, Image, ImageId, ImageReference, Instance, LaunchConfiguration, LaunchTemplate,
    LaunchTemplateVersion, Parameter, ParameterType, RecipeImage, Region, Snapshot, Stack, Volume,
};

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
    /// Snapshots an earlier sweep marked before deregistering their AMI
    /// ([`RETIRED_SNAPSHOT_TAG`](super::RETIRED_SNAPSHOT_TAG)).
    pub retired_snapshots: Vec<Snapshot>,
    /// The account's Image Builder recipes and the images they build from (read when the
    /// scan decides alone).
    pub recipes: Vec<RecipeImage>,
    /// The sources of usage that were read.
    pub read: Sources,
    /// The sources of usage that could not be read, with AWS's error: every image is kept.
    pub unreadable: Vec<(Source, String)>,
    /// The images EC2's AMI reference check answered for.
    pub references_answered: BTreeSet<ImageId>,
    /// The images EC2's AMI reference check was asked about and did not answer for, with
    /// AWS's error: they are kept.
    pub references_unanswered: BTreeMap<ImageId, String>,
    /// What could not be checked, for the plan's warnings.
    pub warnings: Vec<String>,
}

/// Where the SSM parameters that may name an AMI are: exact names, paths to read recursively,
/// and warnings about pointers the scan cannot find. `retention.parameter_paths` count, and
/// what each rule's targets say of themselves ([`PointerKind::in_use`](crate::kinds::PointerKind::in_use)):
/// an `ssm_parameter` target a fixed name as it is, a template through the path before its
/// first placeholder (`/ami/{tag:Role}` reads `/ami/`). Listings ([`InUse::Listing`]) are read
/// in full by every sweep.
pub fn parameter_sources<T: Kinds>(config: &Config<T>, region: &Region) -> (Vec<String>, Vec<String>, Vec<String>) {
    let mut names = BTreeSet::new();
    let mut paths: BTreeSet<String> = BTreeSet::new();
    let mut warnings = Vec::new();
    if let Some(retention) = &config.retention {
        paths.extend(retention.parameter_paths.iter().cloned());
    }
    for rule in &config.rules {
        for target in &rule.targets {
            for in_use in target.target().in_use(&rule.name, region) {
                match in_use {
                    InUse::Listing(_) => {}
                    InUse::Parameter(name) => {
                        names.insert(name);
                    }
                    InUse::ParameterPath(path) => {
                        paths.insert(path);
                    }
                    InUse::Unfindable(warning) => warnings.push(warning),
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

/// Reads each of `keys` with `read`, at most `concurrency` at a time, and puts what the reads
/// return in one list (in no particular order); fails with the first error.
async fn read_each<K, R, Fut>(
    keys: impl IntoIterator<Item = K>,
    concurrency: usize,
    read: impl FnMut(K) -> Fut,
) -> Result<Vec<R::Item>, AwsError>
where
    R: IntoIterator,
    Fut: std::future::Future<Output = Result<R, AwsError>>,
{
    let lists: Vec<R> = stream::iter(keys).map(read).buffer_unordered(concurrency).try_collect().await?;
    Ok(lists.into_iter().flatten().collect())
}

/// Reads the inventory of `region`: the listings run at once, then each launch template's
/// versions, at most `concurrency` at a time; every call goes through the pacer and is retried
/// on retryable errors.
///
/// Fails when the images (or, with `[retention.snapshots]`, the snapshots or volumes) cannot be
/// listed: then there is nothing to plan. A source of usage that cannot be read does not fail
/// the gathering: it is recorded in [`Gathered::unreadable`], and the plan keeps every image it
/// could have named.
pub(super) async fn gather_paced<T: Kinds>(
    aws: &dyn Aws,
    config: &Config<T>,
    region: &Region,
    pacer: &Pacer,
    concurrency: usize,
) -> AwsResult<Gathered> {
    let retention = config.retention.as_ref();
    let generations_tag = retention.and_then(|r| r.snapshots.as_ref()).and_then(|s| s.generations_tag.clone());
    let scan_only = retention.is_some_and(|r| !r.image_references.asked());
    let (names, paths, mut warnings) = parameter_sources(config, region);
    let published: BTreeSet<&String> = retention
        .into_iter()
        .flat_map(|r| &r.images)
        .filter_map(|policy| match &policy.group_by {
            GroupByConfig::PublishedTo(names) => Some(names),
            _ => None,
        })
        .flatten()
        .collect();

    let images = async { pacer.retry(|| aws.describe_own_images(region)).await.0 };
    // Snapshots are read for generations and orphans, and those an interrupted sweep left
    // behind (marked before their AMI was deregistered).
    let read_snapshots = retention.is_some_and(|r| r.snapshots.is_some());
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
    let retired_snapshots = async {
        match retention.is_some() {
            true => pacer.retry(|| aws.describe_snapshots_tagged(region, super::RETIRED_SNAPSHOT_TAG)).await.0,
            false => Ok(Vec::new()),
        }
    };
    let instances = async { pacer.retry(|| aws.describe_instances(region)).await.0 };
    let templates = async { pacer.retry(|| aws.describe_launch_templates(region)).await.0 };
    let groups = async { pacer.retry(|| aws.describe_auto_scaling_groups(region)).await.0 };
    let configurations = async { pacer.retry(|| aws.describe_launch_configurations(region)).await.0 };
    let stacks = async { pacer.retry(|| aws.describe_stacks(region)).await.0 };
    let by_path = read_each(&paths, concurrency, |path| async move {
        pacer.retry(|| aws.get_parameters_by_path(region, path)).await.0
    });
    let by_name =
        read_each(&names, concurrency, |name| async move { pacer.retry(|| aws.get_parameter(region, name)).await.0 });
    let histories = async {
        stream::iter(&published)
            .map(|name| async move {
                let history = pacer.retry(|| aws.get_parameter_history(region, name)).await.0?;
                Ok::<_, AwsError>(((*name).clone(), history))
            })
            .buffer_unordered(concurrency)
            .try_collect::<BTreeMap<_, _>>()
            .await
    };
    let every_parameter =
        async {
            if !scan_only {
                return Ok(None);
            }
            let all = pacer.retry(|| aws.describe_parameter_names(region)).await.0?;
            let chunks = all.chunks(PARAMETERS_PER_CALL);
            let parameters = read_each(chunks, concurrency, |chunk| async move {
                pacer.retry(|| aws.get_parameters(region, chunk)).await.0
            });
            Ok::<_, AwsError>(Some(parameters.await?))
        };
    let recipes = async {
        match scan_only {
            true => pacer.retry(|| aws.list_recipe_images(region)).await.0.map(Some),
            false => Ok(None),
        }
    };
    let (
        (images, snapshots, volumes, instances, templates, every_parameter, retired_snapshots),
        (groups, configurations, stacks, by_path, by_name, histories, recipes),
    ) = futures::join!(
        async { futures::join!(images, snapshots, volumes, instances, templates, every_parameter, retired_snapshots) },
        async { futures::join!(groups, configurations, stacks, by_path, by_name, histories, recipes) },
    );
    let (images, snapshots, volumes) = (images?, snapshots?, volumes?);
    let retired_snapshots = retired_snapshots.unwrap_or_else(|error| {
        warnings.push(format!("the snapshots an earlier sweep left behind could not be listed: {error}"));
        Vec::new()
    });

    // Each source of usage: read, or recorded as unreadable (which keeps every image).
    let mut reads = Reads::default();
    let instances = reads.take(Source::Instances, instances).unwrap_or_default();
    let templates = reads.take(Source::LaunchTemplates, templates).unwrap_or_default();
    let groups = reads.take(Source::AutoScalingGroups, groups);
    let configurations = reads.take(Source::LaunchConfigurations, configurations).unwrap_or_default();
    let stacks = reads.take(Source::Stacks, stacks).unwrap_or_default();
    let by_path = if paths.is_empty() { by_path.ok() } else { reads.take(Source::ParametersByPath, by_path) };
    let by_name = if names.is_empty() { by_name.ok() } else { reads.take(Source::NamedParameters, by_name) };
    let histories =
        if published.is_empty() { histories.ok() } else { reads.take(Source::ParameterHistories, histories) };
    let every_parameter = if scan_only { reads.take(Source::AllParameters, every_parameter).flatten() } else { None };
    let recipes = if scan_only { reads.take(Source::ImageBuilderRecipes, recipes).flatten() } else { None };

    let versions: Vec<AwsResult<(LaunchTemplate, Vec<LaunchTemplateVersion>)>> = stream::iter(templates)
        .map(|template| async move {
            let versions = pacer.retry(|| aws.describe_launch_template_versions(region, &template.id)).await.0?;
            Ok::<_, AwsError>((template, versions))
        })
        .buffered(concurrency)
        .collect()
        .await;
    let mut launch_templates = Vec::with_capacity(versions.len());
    let mut failed_versions = None;
    for result in versions {
        match result {
            Ok(pair) => launch_templates.push(pair),
            Err(error) => failed_versions = Some(error.to_string()),
        }
    }
    match failed_versions {
        Some(error) => {
            tracing::warn!(%error, "launch template versions could not be read; every image is kept");
            reads.unreadable.push((Source::LaunchTemplateVersions, error));
        }
        None if reads.read.contains(Source::LaunchTemplates) => reads.read.insert(Source::LaunchTemplateVersions),
        None => {}
    }
    let auto_scaling_groups = match groups {
        Some(groups) => groups,
        None => {
            warnings
                .push("the Auto Scaling groups could not be read, so no launch template version is deleted".to_owned());
            Vec::new()
        }
    };

    let mut parameters = by_path.unwrap_or_default();
    parameters.extend(by_name.unwrap_or_default());
    parameters.extend(every_parameter.unwrap_or_default());
    let histories = histories.unwrap_or_default();
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
                last_modified: None,
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
        auto_scaling_groups,
        launch_configurations: configurations,
        parameters,
        stacks,
        parameter_histories: histories,
        retired_snapshots,
        recipes: recipes.unwrap_or_default(),
        image_references: Vec::new(),
        consumer_usages: Vec::new(),
        read: reads.read,
        unreadable: reads.unreadable,
        references_answered: BTreeSet::new(),
        references_unanswered: BTreeMap::new(),
        warnings,
    })
}

/// The sources of usage read so far, and those that could not be read.
#[derive(Default)]
struct Reads {
    read: Sources,
    unreadable: Vec<(Source, String)>,
}

impl Reads {
    /// The listing's answer, or `None` (recorded as unreadable) when it failed.
    fn take<T>(&mut self, source: Source, result: AwsResult<T>) -> Option<T> {
        match result {
            Ok(value) => {
                self.read.insert(source);
                Some(value)
            }
            Err(error) => {
                tracing::warn!(%source, %error, "a source of usage could not be read; every image it could name is kept");
                self.unreadable.push((source, error.to_string()));
                None
            }
        }
    }
}

/// Reads the inventory of `region` for `config` (see [`Gathered`]), at most `concurrency`
/// calls at a time, retrying retryable errors.
pub async fn gather<T: Kinds>(
    aws: &dyn Aws,
    config: &Config<T>,
    region: &Region,
    concurrency: usize,
) -> AwsResult<Gathered> {
    let max_rps = config.retention.as_ref().and_then(|r| r.max_requests_per_second);
    gather_paced(aws, config, region, &Pacer::new(max_rps), concurrency.max(1)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_sources_come_from_targets_and_paths() {
        let config = Config::from_toml(crate::testing::configs::PARAMETER_SOURCES).unwrap();
        let (names, paths, warnings) = parameter_sources(&config, &Region::from("eu-west-1"));
        assert_eq!(names, ["/golden/eu-west-1/web"]);
        assert_eq!(paths, ["/ami/", "/base/"]);
        assert!(warnings.is_empty());
    }
}
