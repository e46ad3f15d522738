//! Property tests of retention planning: for random inventories and policies, nothing in use,
//! excluded, young or not available is retired, each group keeps its newest, the cap holds,
//! snapshots of kept images stay, and plans are deterministic and independent of input order.

use amikeeper::testing;
use std::collections::{HashMap, HashSet};

use amikeeper::model::{Image, ImageId, ImageState};
use amikeeper::retain::{Action, GroupBy, ImagePolicy, Inventory, RetentionPolicy, Retire, Usage, Usages};
use proptest::prelude::*;
use time::{Duration, OffsetDateTime};

const EXCLUDE: &str = "amikeeper:keep";

#[derive(Debug, Clone)]
struct ImageCase {
    group: Option<u8>,
    day: i64,
    second: i64,
    available: bool,
    used: bool,
    excluded: bool,
    shares_with: Option<usize>,
}

fn image_case() -> impl Strategy<Value = ImageCase> {
    (
        prop::option::weighted(0.9, 0u8..4),
        0i64..200,
        0i64..3,
        prop::bool::weighted(0.9),
        prop::bool::weighted(0.15),
        prop::bool::weighted(0.1),
        prop::option::weighted(0.1, 0usize..40),
    )
        .prop_map(|(group, day, second, available, used, excluded, shares_with)| ImageCase {
            group,
            day,
            second,
            available,
            used,
            excluded,
            shares_with,
        })
}

fn policy() -> impl Strategy<Value = ImagePolicy> {
    (
        prop::option::of(0usize..5),
        0i64..60,
        prop::option::of(1i64..150),
        prop::option::of(0usize..10),
        prop_oneof![Just(Retire::Delete), Just(Retire::Deprecate), Just(Retire::Disable)],
        prop::bool::ANY,
    )
        .prop_map(|(keep_newest, min_age, max_age, cap, retire, by_tag)| ImagePolicy {
            group_by: if by_tag {
                GroupBy::Tag("Role".into())
            } else {
                GroupBy::NamePrefix(vec!["g0-".into(), "g1-".into(), "g2-".into(), "g3-".into()])
            },
            keep_newest,
            min_age: Duration::days(min_age),
            max_age: max_age.map(Duration::days),
            keep_launched_within: None,
            exclude_tag: Some(EXCLUDE.into()),
            max_retirements: cap,
            retire,
            stages: None,
        })
}

fn inventory(cases: &[ImageCase]) -> Inventory {
    let mut images: Vec<Image> = cases
        .iter()
        .enumerate()
        .map(|(i, case)| {
            let mut tags = std::collections::BTreeMap::new();
            let mut name = format!("ungrouped-{i}");
            if let Some(group) = case.group {
                tags.insert("Role".to_owned(), format!("g{group}"));
                name = format!("g{group}-{i}");
            }
            if case.excluded {
                tags.insert(EXCLUDE.to_owned(), String::new());
            }
            let created = OffsetDateTime::UNIX_EPOCH + Duration::days(case.day) + Duration::seconds(case.second);
            let mut image = testing::image(ImageId::new(format!("ami-{i:017x}")), name, created);
            image.state = if case.available { ImageState::Available } else { ImageState::Pending };
            image.tags = tags;
            image.snapshot_ids = vec![format!("snap-{i}")];
            image
        })
        .collect();
    for (i, case) in cases.iter().enumerate() {
        if let Some(other) = case.shares_with.filter(|&o| o < images.len() && o != i) {
            let shared = format!("snap-{other}");
            images[i].snapshot_ids.push(shared);
        }
    }
    let usages: Usages = cases
        .iter()
        .enumerate()
        .filter(|(_, case)| case.used)
        .map(|(i, _)| (images[i].id.clone(), vec![Usage::Instance { id: format!("i-{i:017x}") }]))
        .collect();
    Inventory { images, usages }
}

fn now() -> OffsetDateTime {
    OffsetDateTime::UNIX_EPOCH + Duration::days(210)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn nothing_protected_is_ever_retired(cases in prop::collection::vec(image_case(), 0..40), policy in policy()) {
        let inventory = inventory(&cases);
        let plan = policy.plan(&inventory, now());
        let by_id: HashMap<&ImageId, &Image> = inventory.images.iter().map(|i| (&i.id, i)).collect();
        for decision in plan.retirements() {
            let image = by_id[&decision.image_id];
            prop_assert!(!inventory.usages.contains_key(&image.id), "in use: {decision:?}");
            prop_assert!(!image.tags.contains_key(EXCLUDE), "excluded: {decision:?}");
            prop_assert_eq!(image.state, ImageState::Available);
            prop_assert!(now() - image.created >= policy.min_age, "too young: {:?}", decision);
        }
        if let Some(cap) = policy.max_retirements {
            prop_assert!(plan.retirements().count() <= cap);
        }
    }

    #[test]
    fn each_group_keeps_its_newest(cases in prop::collection::vec(image_case(), 0..40), policy in policy()) {
        let inventory = inventory(&cases);
        let plan = policy.plan(&inventory, now());
        let mut groups: HashMap<&str, Vec<&Image>> = HashMap::new();
        for decision in &plan.decisions {
            let image = inventory.images.iter().find(|i| i.id == decision.image_id).unwrap();
            groups.entry(&*decision.group).or_default().push(image);
        }
        let retired: HashSet<&ImageId> = plan.retirements().map(|d| &d.image_id).collect();
        for images in groups.values_mut() {
            images.sort_by(|a, b| b.age_key().cmp(&a.age_key()));
            for image in images.iter().take(policy.floor()) {
                prop_assert!(!retired.contains(&image.id), "newest retired: {}", image.id);
            }
        }
    }

    #[test]
    fn plans_are_deterministic_and_independent_of_order(
        cases in prop::collection::vec(image_case(), 0..40),
        policy in policy(),
        seed in any::<u64>(),
    ) {
        let inventory = inventory(&cases);
        let plan = policy.plan(&inventory, now());
        prop_assert_eq!(&plan, &policy.plan(&inventory, now()));
        let mut shuffled = inventory.clone();
        // A seeded Fisher-Yates shuffle.
        let mut state = seed | 1;
        for i in (1..shuffled.images.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            shuffled.images.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let reordered = policy.plan(&shuffled, now());
        prop_assert_eq!(&plan.decisions, &reordered.decisions);
        let mut a = plan.snapshots.clone();
        let mut b = reordered.snapshots.clone();
        a.sort_by(|x, y| x.snapshot_id.cmp(&y.snapshot_id));
        b.sort_by(|x, y| x.snapshot_id.cmp(&y.snapshot_id));
        prop_assert_eq!(a, b);
    }

    #[test]
    fn a_snapshot_a_kept_image_uses_is_never_deleted(cases in prop::collection::vec(image_case(), 0..40), policy in policy()) {
        let inventory = inventory(&cases);
        let plan = policy.plan(&inventory, now());
        let retired: HashSet<&ImageId> = plan
            .decisions
            .iter()
            .filter(|d| d.action == Action::Retire(Retire::Delete))
            .map(|d| &d.image_id)
            .collect();
        let kept_snapshots: HashSet<&str> = inventory
            .images
            .iter()
            .filter(|i| !retired.contains(&i.id))
            .flat_map(|i| i.snapshot_ids.iter().map(String::as_str))
            .collect();
        for snapshot in plan.snapshots.iter().filter(|s| s.delete) {
            prop_assert!(!kept_snapshots.contains(snapshot.snapshot_id.as_str()), "{snapshot:?}");
        }
    }
}
