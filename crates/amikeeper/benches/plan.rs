//! Retention planning over 1,000,000 synthetic AMIs in 10 groups (target: under one second).
//!
//! `cargo bench -p amikeeper --bench plan`; the figures go in docs/PERFORMANCE.md.

use amikeeper::model::{Image, ImageId};
use amikeeper::retain::{ImagePolicy, Inventory, RetentionPolicy, Usage, Usages};
use amikeeper::testing;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use time::{Duration, OffsetDateTime};

fn inventory(count: usize) -> Inventory {
    let images: Vec<Image> = (0..count)
        .map(|i| {
            // Spread over ~3 years, not in creation order.
            let created = OffsetDateTime::UNIX_EPOCH + Duration::seconds(((i * 7919) % count) as i64 * 97);
            let mut image =
                testing::image(ImageId::new(format!("ami-{i:017x}")), format!("app-{}-{i}", i % 10), created);
            image.tags = [("Role".to_owned(), format!("group-{}", i % 10))].into();
            image.snapshot_ids = vec![format!("snap-{i:017x}")];
            image
        })
        .collect();
    // One image in 1,000 is in use.
    let usages: Usages = images
        .iter()
        .step_by(1000)
        .map(|image| (image.id.clone(), vec![Usage::SsmParameter { name: format!("/ami/{}", image.name) }]))
        .collect();
    Inventory { images, usages }
}

fn plan_one_million(c: &mut Criterion) {
    let inventory = inventory(1_000_000);
    let policy = ImagePolicy::keep_newest_by_tag("Role", 5);
    let now = OffsetDateTime::UNIX_EPOCH + Duration::days(4000);
    let mut group = c.benchmark_group("retention");
    group.sample_size(10);
    group.bench_function("plan 1,000,000 AMIs in 10 groups, keep 5", |b| {
        b.iter_batched(|| (), |()| policy.plan(&inventory, now), BatchSize::PerIteration)
    });
    group.finish();
}

criterion_group!(benches, plan_one_million);
criterion_main!(benches);
