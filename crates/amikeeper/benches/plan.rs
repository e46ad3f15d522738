//! Retention planning over 1,000,000 synthetic AMIs in 10 groups (target: under half a second).
//!
//! `cargo bench -p amikeeper --bench plan`; the figures go in docs/PERFORMANCE.md. Before the
//! timing, the benchmark prints the memory the inventory takes per image and the peak the plan
//! adds per image, counted by a global allocator that tallies the bytes live.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use amikeeper::model::{Image, ImageId};
use amikeeper::retain::{ImagePolicy, Inventory, RetentionPolicy, Usage, Usages};
use amikeeper::testing;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use time::{Duration, OffsetDateTime};

/// The system allocator, counting the bytes live and their peak while [`COUNTING`] is on (off
/// while criterion times the plan: the counting itself costs time).
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !COUNTING.load(Ordering::Relaxed) {
            return System.alloc(layout);
        }
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if !COUNTING.load(Ordering::Relaxed) {
            return System.dealloc(ptr, layout);
        }
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !COUNTING.load(Ordering::Relaxed) {
            return System.realloc(ptr, layout, new_size);
        }
        if new_size > layout.size() {
            let live = LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size - layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        } else {
            LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
        }
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const IMAGES: usize = 1_000_000;

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

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn plan_one_million(c: &mut Criterion) {
    COUNTING.store(true, Ordering::Relaxed);
    let before = LIVE.load(Ordering::Relaxed);
    let inventory = inventory(IMAGES);
    let held = LIVE.load(Ordering::Relaxed) - before;
    let policy = ImagePolicy::keep_newest_by_tag("Role", 5);
    let now = OffsetDateTime::UNIX_EPOCH + Duration::days(4000);

    PEAK.store(LIVE.load(Ordering::Relaxed), Ordering::Relaxed);
    let start = LIVE.load(Ordering::Relaxed);
    let plan = policy.plan(&inventory, now);
    let peak = PEAK.load(Ordering::Relaxed) - start;
    let kept = LIVE.load(Ordering::Relaxed) - start;
    println!(
        "memory: the inventory {:.0} MiB ({} bytes an image); planning peaks {:.0} MiB above it \
         ({} bytes an image), the plan holds {:.0} MiB ({} bytes an image; {} decisions, {} snapshots)",
        mib(held),
        held / IMAGES,
        mib(peak),
        peak / IMAGES,
        mib(kept),
        kept / IMAGES,
        plan.decisions.len(),
        plan.snapshots.len(),
    );
    drop(plan);
    drop(inventory);
    COUNTING.store(false, Ordering::Relaxed);
    // Built again uncounted, so that what criterion frees afterwards is not counted off.
    let inventory = self::inventory(IMAGES);

    let mut group = c.benchmark_group("retention");
    group.sample_size(10);
    group.bench_function("plan 1,000,000 AMIs in 10 groups, keep 5", |b| {
        b.iter_batched(|| (), |()| policy.plan(&inventory, now), BatchSize::PerIteration)
    });
    group.finish();
}

criterion_group!(benches, plan_one_million);
criterion_main!(benches);
