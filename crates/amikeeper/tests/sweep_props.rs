//! Property tests of the whole sweep plan: for random accounts (images, instances, launch
//! templates and their versions, Auto Scaling groups, SSM parameters, stacks, volumes and
//! snapshots) and random configurations, no AMI that any pointer names is retired, no launch
//! template version that is the default, the latest or pinned by a group is deleted, no snapshot
//! an AMI that stays uses is deleted, excluded things stay, and the plan is deterministic.

use amikeeper::testing;
use std::collections::{BTreeMap, BTreeSet};

use amikeeper::config::{
    Config, GroupByConfig, ImagePolicyConfig, LaunchTemplateRetention, RetentionConfig, SnapshotRetention,
};
use amikeeper::model::{
    AutoScalingGroup, Image, ImageId, Instance, LaunchTemplate, LaunchTemplateSpec, LaunchTemplateVersion, Parameter,
    ParameterType, Region, Snapshot, SnapshotState, Stack, Volume,
};
use amikeeper::retain::{plan_sweep, Action, Gathered, Retire, KEEP_TAG};
use proptest::prelude::*;
use time::{Duration, OffsetDateTime};

fn image_id(i: usize) -> ImageId {
    ImageId::new(format!("ami-{i:017x}"))
}

fn at(day: i64) -> OffsetDateTime {
    OffsetDateTime::UNIX_EPOCH + Duration::days(day)
}

#[derive(Debug, Clone)]
struct World {
    images: Vec<(u8, i64, bool)>,
    instances: Vec<usize>,
    templates: Vec<Vec<usize>>,
    defaults: Vec<usize>,
    groups: Vec<(usize, u8)>,
    parameters: Vec<usize>,
    stacks: Vec<usize>,
    snapshots: Vec<(u8, i64, bool)>,
    generations: u8,
}

fn world() -> impl Strategy<Value = World> {
    let images = prop::collection::vec((0u8..3, 0i64..100, prop::bool::weighted(0.1)), 1..30);
    images
        .prop_flat_map(|images| {
            let n = images.len();
            (
                Just(images),
                prop::collection::vec(0..n, 0..4),
                prop::collection::vec(prop::collection::vec(0..n, 1..6), 0..3),
                prop::collection::vec(0usize..6, 3),
                prop::collection::vec((0usize..3, 0u8..3), 0..3),
                prop::collection::vec(0..n, 0..3),
                prop::collection::vec(0..n, 0..3),
                prop::collection::vec((0u8..2, 0i64..50, prop::bool::weighted(0.1)), 0..12),
                1u8..4,
            )
        })
        .prop_map(|(images, instances, templates, defaults, groups, parameters, stacks, snapshots, generations)| {
            World { images, instances, templates, defaults, groups, parameters, stacks, snapshots, generations }
        })
}

fn gathered(world: &World) -> Gathered {
    let images: Vec<Image> = world
        .images
        .iter()
        .enumerate()
        .map(|(i, (group, day, excluded))| {
            let mut tags: BTreeMap<String, String> = [("Role".to_owned(), format!("g{group}"))].into();
            if *excluded {
                tags.insert(KEEP_TAG.to_owned(), String::new());
            }
            let mut image =
                testing::image(image_id(i), format!("g{group}-{i}"), at(*day) + Duration::seconds(i as i64));
            image.tags = tags;
            // Neighbours share a snapshot now and then.
            image.snapshot_ids = if i % 5 == 4 {
                vec![format!("snap-{i}"), format!("snap-{}", i - 1)]
            } else {
                vec![format!("snap-{i}")]
            };
            image
        })
        .collect();
    let launch_templates = world
        .templates
        .iter()
        .enumerate()
        .map(|(t, versions)| {
            let latest = versions.len() as i64;
            let default = (world.defaults[t] % versions.len()) as i64 + 1;
            let versions: Vec<LaunchTemplateVersion> = versions
                .iter()
                .enumerate()
                .rev()
                .map(|(v, image)| LaunchTemplateVersion {
                    number: v as i64 + 1,
                    image_id: Some(image_id(*image)),
                    description: None,
                    is_default: v as i64 + 1 == default,
                    created: None,
                })
                .collect();
            let template = LaunchTemplate {
                id: format!("lt-{t:017x}"),
                name: format!("t{t}"),
                default_version: default,
                latest_version: latest,
                tags: BTreeMap::new(),
            };
            (template, versions)
        })
        .collect::<Vec<_>>();
    let auto_scaling_groups = world
        .groups
        .iter()
        .enumerate()
        .filter(|(_, (t, _))| *t < launch_templates.len())
        .map(|(g, (t, how))| {
            let (template, versions) = &launch_templates[*t];
            let version = match how {
                0 => "$Latest".to_owned(),
                1 => "$Default".to_owned(),
                _ => versions.last().map_or(1, |v| v.number).to_string(),
            };
            AutoScalingGroup {
                name: format!("asg-{g}"),
                launch_template: Some(LaunchTemplateSpec { id: template.id.clone(), version }),
                override_launch_templates: Vec::new(),
                mixed_instances_policy: false,
                tags: BTreeMap::new(),
            }
        })
        .collect();
    let snapshots: Vec<Snapshot> = images
        .iter()
        .flat_map(|image| image.snapshot_ids.iter().map(|id| (id.clone(), None, image.created, false)))
        .chain(world.snapshots.iter().enumerate().map(|(i, (volume, day, excluded))| {
            (format!("snap-v{i}"), Some(format!("vol-{volume}")), at(*day) + Duration::seconds(i as i64), *excluded)
        }))
        .map(|(id, volume_id, started, excluded)| {
            let tags = if excluded { [(KEEP_TAG.to_owned(), String::new())].into() } else { BTreeMap::new() };
            let snapshot = Snapshot {
                id: id.clone(),
                volume_id,
                state: SnapshotState::Completed,
                started,
                description: None,
                tags,
            };
            (id, snapshot)
        })
        .collect::<BTreeMap<_, _>>()
        .into_values()
        .collect();
    Gathered {
        instances: pointers(&world.instances, |i, image| Instance {
            id: format!("i-{i}"),
            image_id: image,
            state: "stopped".into(),
        }),
        parameters: pointers(&world.parameters, |i, image| Parameter {
            name: format!("/ami/p{i}"),
            value: image.to_string(),
            version: 1,
            kind: ParameterType::String,
            data_type: "aws:ec2:image".into(),
            last_modified: None,
        }),
        stacks: pointers(&world.stacks, |i, image| Stack {
            name: format!("stack-{i}"),
            id: format!("arn:stack-{i}"),
            status: "UPDATE_COMPLETE".into(),
            parameters: [("ImageId".to_owned(), image.to_string())].into(),
            updated: None,
        }),
        volumes: vec![Volume {
            id: "vol-0".into(),
            instance_ids: Vec::new(),
            tags: [("Daily_Gens".to_owned(), world.generations.to_string())].into(),
        }],
        images,
        launch_templates,
        auto_scaling_groups,
        snapshots,
        parameter_histories: Default::default(),
        image_references: Vec::new(),
        consumer_usages: Vec::new(),
        launch_configurations: Vec::new(),
        warnings: Vec::new(),
        ..Gathered::default()
    }
}

/// One pointer for each of `images` (indexes into the world's images): `make(i, image)` makes the
/// `i`th, which names `image`.
fn pointers<T>(images: &[usize], make: impl Fn(usize, ImageId) -> T) -> Vec<T> {
    images.iter().enumerate().map(|(i, image)| make(i, image_id(*image))).collect()
}

fn config(keep: usize, keep_versions: Option<usize>, retire: Retire, max_age: Option<u32>) -> Config {
    Config {
        accounts: vec!["111122223333".into()],
        allowed_name_prefixes: Vec::new(),
        wait: Default::default(),
        rules: Vec::new(),
        protect_published: true,
        retention: Some(RetentionConfig {
            concurrency: 4,
            max_requests_per_second: None,
            parameter_paths: vec!["/ami/".into()],
            images: vec![ImagePolicyConfig {
                name: None,
                group_by: GroupByConfig::Tag("Role".into()),
                keep_newest: Some(keep),
                min_age_days: 0,
                max_age_days: max_age,
                keep_launched_within_days: None,
                exclude_tag: KEEP_TAG.into(),
                max_retirements: None,
                retire,
                stages: None,
            }],
            launch_templates: keep_versions.map(|keep_versions| LaunchTemplateRetention { keep_versions }),
            snapshots: Some(SnapshotRetention {
                generations_tag: Some("Daily_Gens".into()),
                tag_kept_with: "amikeeper:volume".into(),
                delete_orphans: true,
                exclude_tag: KEEP_TAG.into(),
            }),
            image_references: amikeeper::config::ImageReferences::Required,
            recycle_bin: true,
            consumers: Vec::new(),
        }),
        fleet: Vec::new(),
        metrics: Default::default(),
        status: Default::default(),
        notify: None,
        revoke: None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn no_pointer_is_ever_left_dangling(
        world in world(),
        keep in 0usize..4,
        keep_versions in prop::option::of(0usize..3),
        retire in prop_oneof![Just(Retire::Delete), Just(Retire::Deprecate), Just(Retire::Disable)],
        max_age in prop::option::of(1u32..80),
    ) {
        let gathered = gathered(&world);
        let config = config(keep, keep_versions, retire, max_age);
        let region = Region::from("eu-west-1");
        let now = at(120);
        let plan = plan_sweep(&config, &gathered, &region, now);
        prop_assert_eq!(&plan, &plan_sweep(&config, &gathered, &region, now), "deterministic");

        let retired: BTreeSet<&ImageId> = plan.retirements().map(|d| &d.image_id).collect();
        let deleted_versions: BTreeSet<(&str, i64)> =
            plan.launch_template_versions.iter().map(|v| (v.template_id.as_str(), v.version)).collect();

        // Pointers: instances, parameters, stacks, every version that stays, every group's version.
        for instance in &gathered.instances {
            prop_assert!(!retired.contains(&instance.image_id), "instance {} dangles", instance.id);
        }
        for parameter in &gathered.parameters {
            prop_assert!(!retired.contains(&ImageId::new(parameter.value.clone())), "{} dangles", parameter.name);
        }
        for stack in &gathered.stacks {
            prop_assert!(!retired.contains(&ImageId::new(stack.parameters["ImageId"].clone())));
        }
        for (template, versions) in &gathered.launch_templates {
            for version in versions {
                let deleted = deleted_versions.contains(&(template.id.as_str(), version.number));
                if deleted {
                    prop_assert!(version.number != template.default_version && version.number != template.latest_version);
                } else if let Some(image) = &version.image_id {
                    prop_assert!(!retired.contains(image), "{} v{} dangles", template.id, version.number);
                }
            }
        }
        for group in &gathered.auto_scaling_groups {
            let spec = group.launch_template.as_ref().unwrap();
            let (template, _) = gathered.launch_templates.iter().find(|(t, _)| t.id == spec.id).unwrap();
            let number = match spec.version.as_str() {
                "$Latest" => template.latest_version,
                "$Default" => template.default_version,
                n => n.parse().unwrap(),
            };
            prop_assert!(!deleted_versions.contains(&(template.id.as_str(), number)), "{} lost its version", group.name);
        }

        // Exclusions and snapshots.
        for image in &gathered.images {
            if image.tags.contains_key(KEEP_TAG) {
                prop_assert!(!retired.contains(&image.id));
            }
        }
        let deleted_snapshots: BTreeSet<&str> = plan
            .image_snapshots
            .iter()
            .filter(|s| s.delete)
            .map(|s| s.snapshot_id.as_str())
            .chain(plan.snapshot_generations.iter().filter(|g| g.delete).map(|g| g.snapshot_id.as_str()))
            .chain(plan.orphans.iter().filter(|o| o.delete).map(|o| o.snapshot_id.as_str()))
            .collect();
        for image in &gathered.images {
            let deleted = plan.images.iter().any(|d| d.image_id == image.id && d.action == Action::Retire(Retire::Delete));
            if !deleted {
                for snapshot in &image.snapshot_ids {
                    prop_assert!(!deleted_snapshots.contains(snapshot.as_str()), "{} of kept {} deleted", snapshot, image.id);
                }
            }
        }
        if retire != Retire::Delete {
            prop_assert!(plan.image_snapshots.is_empty());
        }
        for snapshot in &gathered.snapshots {
            if snapshot.tags.contains_key(KEEP_TAG) {
                prop_assert!(!deleted_snapshots.contains(snapshot.id.as_str()), "excluded {} deleted", snapshot.id);
            }
        }
        // Each generations volume keeps its newest N.
        let kept = plan.snapshot_generations.iter().filter(|g| g.volume_id == "vol-0" && !g.delete).count();
        let total = plan.snapshot_generations.iter().filter(|g| g.volume_id == "vol-0").count();
        prop_assert!(kept >= total.min(usize::from(world.generations)));
        for generation in &plan.snapshot_generations {
            prop_assert!(generation.volume_id == "vol-0", "only tagged volumes are managed");
            if generation.rank <= generation.keep {
                prop_assert!(!generation.delete);
            }
        }
    }
}
