//! Chaos: seeded random fault schedules over random event sequences, on `MemoryAws`.
//!
//! Each schedule builds an account with five pointers to "the current AMI" (an SSM parameter, a
//! fixed-version SSM parameter, a launch template with `set_default`, an Auto Scaling group that
//! follows it and a stack parameter) plus one parameter named by a tag, makes a few AMIs that go
//! `pending` then `available` (or `failed`, or stay pending), and delivers the real payloads of
//! their events (CloudTrail `CreateImage`, `EC2 AMI State Change`, AWS Backup job, alone or in
//! SQS batches) in a random order, with duplicates, events from another account and events from
//! another region. Before a delivery a schedule may queue faults on `MemoryAws`
//! (`Fault::on(op, kind).times(n)`, or `Fault::any`): throttling, server errors, timeouts, and
//! timeouts whose call took effect (the answer was lost). A fault aimed at a write lands inside a
//! publish, e.g. on the put between the delete and the re-create of a fixed-version parameter, or
//! on `ModifyLaunchTemplate` after `CreateLaunchTemplateVersion`; faults not used up carry over
//! to later deliveries. Some schedules then run a sweep, with faults, and every schedule finally
//! delivers the same events again without faults. (Faults are queued on `MemoryAws` rather than
//! injected by a wrapper so that this file does not implement the backend traits.)
//!
//! After every delivery it checks that each pointer
//! - names its first AMI or one whose event it was sent while the AMI was `available`,
//! - never names an AMI older than the one it named before,
//! - names an AMI that exists and is `available`, and is never missing;
//!
//! after the sweep, that nothing a pointer, an instance or the exclusion tag keeps was deleted;
//! and after the fault-free run, that every pointer names the newest AMI it was sent.
//!
//! Revocations run as schedules of their own (`revocations_never_leave_a_rejected_ami_named`):
//! a rejected AMI is never named by a pointer after a revoke that succeeded.
//!
//! `AMIKEEPER_CHAOS_SCHEDULES` (default 1000) sets how many schedules run;
//! `AMIKEEPER_CHAOS_SEED=N` replays one schedule and prints its trace;
//! `AMIKEEPER_CHAOS_STRICT=1` fails on a fixed-version parameter left missing even when the
//! report says so (see `missing_fixed_parameter`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use amikeeper::memory::{Fault, FaultKind, ImageSeed, SplitMix64};
use amikeeper::model::{Image, ImageId, ImageState, LaunchTemplateSpec, Region, Tags};
use amikeeper::publish::Status;
use amikeeper::samples::{sqs_batch, Origin};
use amikeeper::testing::{configs, keeper, ACCOUNT, OTHER_ACCOUNT, REGION};
use amikeeper::{HandleOptions, Keeper, MemoryAws, Report, RunStatus, SweepOptions};
use serde_json::Value;
use time::Duration;

const OTHER_REGION: &str = "eu-central-1";
const REPLAY: &str = "cargo test -p amikeeper --test chaos";

// ------------------------------------------------------------------------------- the PRNG

/// splitmix64, seeded apart from the fault injection's own draws.
fn schedule_rng(seed: u64) -> SplitMix64 {
    SplitMix64::new(seed ^ 0x5DEE_CE66_D1CE_4E5B)
}

// ------------------------------------------------------------------------------- faults

const KINDS: [FaultKind; 4] =
    [FaultKind::Throttling, FaultKind::ServerError, FaultKind::Timeout, FaultKind::TimeoutAfterEffect];

/// The calls a fault may hit (`None`: whichever call comes next). Faults are queued on
/// `MemoryAws` (`Fault::on`), so a fault aimed at `ssm:PutParameter` can land between the delete
/// and the put of a fixed-version publish, or at the restore after it.
const OPERATIONS: [Option<&str>; 22] = [
    None,
    None,
    Some("ssm:GetParameter"),
    Some("ssm:PutParameter"),
    Some("ssm:PutParameter"),
    Some("ssm:DeleteParameter"),
    Some("ec2:DescribeImages"),
    Some("ec2:DescribeLaunchTemplates"),
    Some("ec2:DescribeLaunchTemplateVersions"),
    Some("ec2:CreateLaunchTemplateVersion"),
    Some("ec2:ModifyLaunchTemplate"),
    Some("ec2:DeleteLaunchTemplateVersions"),
    Some("autoscaling:DescribeAutoScalingGroups"),
    Some("autoscaling:UpdateAutoScalingGroup"),
    Some("cloudformation:DescribeStacks"),
    Some("cloudformation:UpdateStack"),
    Some("ec2:EnableImageDeregistrationProtection"),
    Some("ec2:DisableImageDeregistrationProtection"),
    Some("ec2:CreateTags"),
    Some("ec2:DeregisterImage"),
    Some("ec2:DeleteSnapshot"),
    Some("ssm:GetParametersByPath"),
];

/// A few faults drawn at random, for the calls that come next.
fn draw_faults(rng: &mut SplitMix64) -> Vec<Fault> {
    (0..1 + rng.below(3))
        .map(|_| {
            let kind = *rng.pick(&KINDS);
            let times = 1 + rng.below(3) as u32;
            match rng.pick(&OPERATIONS) {
                Some(op) => Fault::on(*op, kind).times(times),
                None => Fault::any(kind).times(times),
            }
        })
        .collect()
}

fn show(faults: &[Fault]) -> String {
    let one = |f: &Fault| format!("{}:{:?}x{}", f.operation.as_deref().unwrap_or("any"), f.kind, f.times);
    faults.iter().map(one).collect::<Vec<_>>().join(" ")
}

// ------------------------------------------------------------------------------- the account

fn config(protect: bool) -> String {
    configs::CHAOS.replace("protect_published = true", &format!("protect_published = {protect}"))
}

/// The pointers and which rule moves each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Pointer {
    Parameter,
    FixedParameter,
    LaunchTemplate,
    Group,
    Stack,
    Tagged,
}

const POINTERS: [Pointer; 6] = [
    Pointer::Parameter,
    Pointer::FixedParameter,
    Pointer::LaunchTemplate,
    Pointer::Group,
    Pointer::Stack,
    Pointer::Tagged,
];

impl Pointer {
    /// Whether an event of this kind moves the pointer: `CreateImage` and `available` through
    /// the `app` rule, AWS Backup jobs through the `tagged` one; `pending` and `failed` nothing.
    fn moved_by(self, kind: EventKind) -> bool {
        match kind {
            EventKind::Created | EventKind::Available => self != Pointer::Tagged,
            EventKind::Backup => self == Pointer::Tagged,
            EventKind::Pending | EventKind::Failed => false,
        }
    }
}

/// The events each image has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EventKind {
    Created,
    Pending,
    Available,
    Failed,
    Backup,
}

/// What becomes of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Available,
    Failed,
    StaysPending,
}

#[derive(Debug, Clone)]
enum Step {
    /// EC2 finishes an image.
    Finish(usize),
    /// One payload: one event or an SQS batch.
    Deliver(Vec<Event>),
}

#[derive(Debug, Clone)]
struct Event {
    image: usize,
    kind: EventKind,
    account: &'static str,
    region: &'static str,
    id: String,
}

impl Event {
    fn payload(&self, world: &World) -> Value {
        let image = &world.images[self.image];
        let origin = Origin::new(self.account, self.region, &self.id);
        match self.kind {
            EventKind::Created => {
                origin.create_image(image.as_str(), "i-0123456789abcdef0", &world.names[self.image], "")
            }
            EventKind::Pending => origin.image_state_change(image.as_str(), "pending"),
            EventKind::Available => origin.image_state_change(image.as_str(), "available"),
            EventKind::Failed => origin.image_state_change(image.as_str(), "failed"),
            EventKind::Backup => origin.backup_job(image.as_str(), "i-0123456789abcdef0", "COMPLETED"),
        }
    }

    /// Whether the keeper may act on it at all (our account, the images' region).
    fn actionable(&self) -> bool {
        self.account == ACCOUNT && self.region == REGION
    }
}

struct World {
    aws: Arc<MemoryAws>,
    base: ImageId,
    /// `images[0]` is the base image every pointer starts at.
    images: Vec<ImageId>,
    names: Vec<String>,
    template_id: String,
    kept: ImageId,
    launched: ImageId,
}

impl World {
    fn new() -> Self {
        let aws = Arc::new(MemoryAws::new(ACCOUNT));
        // Images stay pending until the schedule finishes them.
        aws.set_pending_describes(u32::MAX);
        let base = aws.add_image(REGION, ImageSeed::new("app-0"));
        aws.set_parameter(REGION, "/ami/app", base.as_str()).unwrap();
        aws.set_parameter(REGION, "app-fixed", base.as_str()).unwrap();
        aws.set_parameter(REGION, "/ami/tagged", base.as_str()).unwrap();
        let template = aws.create_launch_template(REGION, "web", Some(base.clone()), Tags::new());
        let spec = LaunchTemplateSpec { id: template.id.clone(), version: "1".into() };
        aws.create_auto_scaling_group(REGION, "web-asg", spec, Tags::new());
        aws.create_stack(REGION, "app", BTreeMap::from([("ImageId".to_owned(), base.to_string())]));
        // Two older images the sweep must keep: one excluded by tag, one an instance runs.
        aws.advance(Duration::days(1));
        let kept = aws.add_image(REGION, ImageSeed::new("app-kept").tag("amikeeper:keep", "yes"));
        let launched = aws.add_image(REGION, ImageSeed::new("app-launched"));
        aws.launch_instance(REGION, &launched, Tags::new());
        World {
            aws,
            images: vec![base.clone()],
            names: vec!["app-0".into()],
            base,
            template_id: template.id,
            kept,
            launched,
        }
    }

    fn add_image(&mut self, index: usize) {
        self.aws.advance(Duration::days(1));
        let name = format!("app-{index}");
        let seed = ImageSeed::new(&name).pending().tag("ImageIdParameterName", "/ami/tagged");
        self.images.push(self.aws.add_image(REGION, seed));
        self.names.push(name);
    }

    /// What the pointer names now; `None`: missing.
    fn pointer(&self, pointer: Pointer) -> Option<ImageId> {
        let aws = &self.aws;
        let parameter = |name: &str| aws.parameter(REGION, name).map(|p| ImageId::from(p.value.as_str()));
        let version_image = |version: i64| {
            aws.launch_template_versions(REGION, &self.template_id)
                .into_iter()
                .find(|v| v.number == version)
                .and_then(|v| v.image_id)
        };
        match pointer {
            Pointer::Parameter => parameter("/ami/app"),
            Pointer::FixedParameter => parameter("app-fixed"),
            Pointer::Tagged => parameter("/ami/tagged"),
            Pointer::LaunchTemplate => version_image(aws.launch_template(REGION, &self.template_id)?.default_version),
            Pointer::Group => {
                let spec = aws.auto_scaling_group(REGION, "web-asg")?.launch_template?;
                version_image(spec.version.parse().ok()?)
            }
            Pointer::Stack => aws.stack(REGION, "app")?.parameters.get("ImageId").map(|v| ImageId::from(v.as_str())),
        }
    }

    fn image(&self, id: &ImageId) -> Option<Image> {
        self.aws.image(REGION, id)
    }

    fn index_of(&self, id: &ImageId) -> Option<usize> {
        self.images.iter().position(|i| i == id)
    }
}

// ------------------------------------------------------------------------------- schedules

struct Schedule {
    seed: u64,
    fates: Vec<Fate>,
    steps: Vec<Step>,
    /// How likely a step is to get faults queued before it.
    intensity: f64,
    /// The faults queued before each step (and before the sweep, at `steps.len()`).
    faults: BTreeMap<usize, Vec<Fault>>,
    protect: bool,
    sweep: bool,
}

impl Schedule {
    fn draw(seed: u64) -> Self {
        let mut rng = schedule_rng(seed);
        let count = 2 + rng.below(4);
        let mut fates = vec![Fate::Available];
        for _ in 0..count {
            let roll = rng.below(10);
            fates.push(match roll {
                0 => Fate::Failed,
                1 => Fate::StaysPending,
                _ => Fate::Available,
            });
        }
        // Actions and what each needs first.
        let mut actions: Vec<(Option<usize>, Step)> = Vec::new();
        let mut serial = 0;
        let mut event = |image: usize, kind: EventKind, account: &'static str, region: &'static str| {
            serial += 1;
            Event { image, kind, account, region, id: format!("e{serial}") }
        };
        for (image, fate) in fates.iter().enumerate().skip(1) {
            let finish = actions.len();
            if *fate != Fate::StaysPending {
                actions.push((None, Step::Finish(image)));
            }
            let mut kinds = vec![(EventKind::Created, None), (EventKind::Pending, None), (EventKind::Backup, None)];
            match fate {
                Fate::Available => kinds.push((EventKind::Available, Some(finish))),
                Fate::Failed => kinds.push((EventKind::Failed, Some(finish))),
                Fate::StaysPending => {}
            }
            for (kind, after) in kinds {
                // Lost events, duplicates, and copies from elsewhere.
                let copies = match rng.below(10) {
                    0 => 0,
                    1..=6 => 1,
                    7 | 8 => 2,
                    _ => 3,
                };
                for _ in 0..copies {
                    actions.push((after, Step::Deliver(vec![event(image, kind, ACCOUNT, REGION)])));
                }
                if rng.chance(0.15) {
                    actions.push((after, Step::Deliver(vec![event(image, kind, OTHER_ACCOUNT, REGION)])));
                }
                if rng.chance(0.1) {
                    actions.push((after, Step::Deliver(vec![event(image, kind, ACCOUNT, OTHER_REGION)])));
                }
            }
        }
        // A random order that respects "an image's `available` event comes after it is".
        let mut done = vec![false; actions.len()];
        let mut steps: Vec<Step> = Vec::new();
        loop {
            let ready: Vec<usize> =
                (0..actions.len()).filter(|&i| !done[i] && actions[i].0.is_none_or(|after| done[after])).collect();
            if ready.is_empty() {
                break;
            }
            let i = ready[rng.below(ready.len())];
            done[i] = true;
            let step = actions[i].1.clone();
            // Sometimes an event joins the previous payload: an SQS batch.
            match (steps.last_mut(), step) {
                (Some(Step::Deliver(batch)), Step::Deliver(mut one)) if rng.chance(0.25) => batch.append(&mut one),
                (_, step) => steps.push(step),
            }
        }
        let intensity = *rng.pick(&[0.0, 0.1, 0.25, 0.5, 0.75, 1.0]);
        let mut faults = BTreeMap::new();
        for index in 0..=steps.len() {
            if rng.chance(intensity) {
                faults.insert(index, draw_faults(&mut rng));
            }
        }
        Schedule { seed, fates, steps, intensity, faults, protect: rng.chance(0.5), sweep: rng.chance(0.4) }
    }
}

// ------------------------------------------------------------------------------- running one

#[derive(Debug, Default)]
struct Totals {
    schedules: usize,
    events: usize,
    payloads: usize,
    faults: usize,
    sweeps: usize,
    reported_missing: usize,
    statuses: BTreeMap<String, usize>,
    targets: BTreeMap<&'static str, usize>,
}

struct Run {
    trace: Vec<String>,
    failures: Vec<String>,
    /// Where every restore failed and the report said the fixed-version parameter is MISSING.
    reported_missing: Vec<String>,
    /// Pointers whose history was lost (the parameter went missing): not checked for
    /// monotonicity until the fault-free run.
    relaxed: BTreeSet<Pointer>,
}

impl Run {
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.failures.push(what());
        }
    }
}

async fn run_schedule(schedule: &Schedule, totals: &mut Totals) -> Run {
    let mut world = World::new();
    for index in 1..schedule.fates.len() {
        world.add_image(index);
    }
    let aws = world.aws.clone();
    let keeper = keeper(&config(schedule.protect), &aws);
    let mut injected = 0u32;
    // Queues the faults drawn for step `index`; returns how many calls they fail, in all.
    let queue = |index: usize| {
        let faults = schedule.faults.get(&index).cloned().unwrap_or_default();
        for fault in &faults {
            aws.inject(fault.clone());
        }
        faults
    };
    let mut run =
        Run { trace: Vec::new(), failures: Vec::new(), reported_missing: Vec::new(), relaxed: BTreeSet::new() };
    run.trace.push(format!(
        "seed {}: fates {:?}, images {:?}, fault intensity {}, protect {}, sweep {}",
        schedule.seed, schedule.fates, world.images, schedule.intensity, schedule.protect, schedule.sweep
    ));

    // What each pointer named, and the AMIs it may name: its first, and those sent to it.
    let mut named: BTreeMap<Pointer, ImageId> = POINTERS.iter().map(|&p| (p, world.base.clone())).collect();
    let mut sent: BTreeMap<Pointer, BTreeSet<usize>> = POINTERS.iter().map(|&p| (p, BTreeSet::from([0]))).collect();
    let mut delivered: Vec<Vec<Event>> = Vec::new();

    for (index, step) in schedule.steps.iter().enumerate() {
        match step {
            Step::Finish(image) => {
                let state = match schedule.fates[*image] {
                    Fate::Failed => ImageState::Failed,
                    _ => ImageState::Available,
                };
                world.aws.set_image_state(REGION, &world.images[*image], state);
                run.trace.push(format!("step {index}: image {image} ({}) is {state}", world.images[*image]));
            }
            Step::Deliver(events) => {
                for event in events.iter().filter(|e| e.actionable()) {
                    let available = world.image(&world.images[event.image]).unwrap().state == ImageState::Available;
                    for pointer in POINTERS {
                        if available && pointer.moved_by(event.kind) {
                            sent.get_mut(&pointer).unwrap().insert(event.image);
                        }
                    }
                }
                let faults = queue(index);
                injected += faults.iter().map(|f| f.times).sum::<u32>();
                let reports = deliver(&keeper, &world, events).await;
                totals.payloads += 1;
                totals.events += events.len();
                run.trace.push(format!(
                    "step {index}: {} -> {}; queued faults [{}], {} still queued",
                    describe(events),
                    summarize(&reports),
                    show(&faults),
                    aws.pending_faults()
                ));
                for (event, report) in events.iter().zip(&reports) {
                    *totals.statuses.entry(format!("{:?}", report.status)).or_default() += 1;
                    for target in &report.targets {
                        *totals.targets.entry(target.outcome.status.as_str()).or_default() += 1;
                    }
                    if event.account != ACCOUNT {
                        run.check(report.status == RunStatus::Refused && report.aws_calls == 0, || {
                            format!("step {index}: an event from {} was not refused: {report:?}", event.account)
                        });
                    }
                    for target in &report.targets {
                        let published = matches!(target.outcome.status, Status::Updated);
                        run.check(!published || event.actionable(), || {
                            format!(
                                "step {index}: {} moved by an event from {}/{}",
                                target.target, event.account, event.region
                            )
                        });
                    }
                }
                if world.pointer(Pointer::FixedParameter).is_none() && !run.relaxed.contains(&Pointer::FixedParameter) {
                    missing_fixed_parameter(&reports, &mut run, index);
                }
                check_pointers(&world, &mut named, &sent, &mut run, &format!("step {index}"));
            }
        }
        delivered.extend(match step {
            Step::Deliver(events) => Some(events.clone()),
            Step::Finish(_) => None,
        });
    }

    if schedule.sweep {
        totals.sweeps += 1;
        let faults = queue(schedule.steps.len());
        injected += faults.iter().map(|f| f.times).sum::<u32>();
        run.trace.push(format!("sweep: queued faults [{}]", show(&faults)));
        let options = SweepOptions::default().apply(true).now(world.aws.now() + Duration::days(30));
        let result = keeper.sweep(&Region::from(REGION), &options).await;
        match &result {
            Ok(report) => run.trace.push(format!(
                "sweep: {} retired, {} failed, {} released",
                report.summary.images_retired, report.summary.failed, report.summary.protection_released
            )),
            Err(error) => run.trace.push(format!("sweep: {error}")),
        }
        check_kept(&world, &schedule.fates, &mut run, "after the sweep");
        check_pointers(&world, &mut named, &sent, &mut run, "after the sweep");
    }
    totals.faults += (injected - aws.pending_faults()) as usize;

    // The same events again, without faults: every pointer converges.
    aws.clear_faults();
    for event in delivered.iter().flatten().filter(|e| e.actionable()) {
        let available = world.image(&world.images[event.image]).is_some_and(|i| i.state == ImageState::Available);
        for pointer in POINTERS.into_iter().filter(|p| available && p.moved_by(event.kind)) {
            sent.get_mut(&pointer).unwrap().insert(event.image);
        }
    }
    for events in &delivered {
        deliver(&keeper, &world, events).await;
    }
    run.relaxed.clear();
    check_pointers(&world, &mut named, &sent, &mut run, "after the fault-free run");
    for pointer in POINTERS {
        // The newest AMI it was sent that is still usable, or what it names when that is newer.
        let mut candidates: Vec<Image> = sent[&pointer]
            .iter()
            .filter_map(|&i| world.image(&world.images[i]))
            .filter(|image| image.state == ImageState::Available)
            .collect();
        candidates.extend(world.image(&named[&pointer]));
        let newest = candidates.iter().max_by(|a, b| a.age_key().cmp(&b.age_key())).map(|i| i.id.clone());
        let now = world.pointer(pointer);
        run.check(now == newest, || {
            format!("{pointer:?} names {now:?} after the fault-free run, not the newest {newest:?}")
        });
    }
    let fixed = world.aws.parameter(REGION, "app-fixed");
    run.check(fixed.as_ref().is_some_and(|p| p.version == 1), || format!("app-fixed is not at version 1: {fixed:?}"));
    check_kept(&world, &schedule.fates, &mut run, "at the end");
    for name in ["/ami/app", "app-fixed", "/ami/tagged"] {
        run.check(world.aws.parameter(OTHER_REGION, name).is_none(), || format!("{name} written in {OTHER_REGION}"));
    }
    totals.schedules += 1;
    run
}

async fn deliver(keeper: &Keeper, world: &World, events: &[Event]) -> Vec<Report> {
    let payloads: Vec<Value> = events.iter().map(|e| e.payload(world)).collect();
    let payload = if payloads.len() == 1 { payloads[0].clone() } else { sqs_batch(&payloads) };
    keeper.handle_payload(payload.to_string().as_bytes(), &HandleOptions::default()).await.expect("payload parses")
}

/// Fixed-version SSM mode (`crates/amikeeper/src/publish/ssm.rs`, `replace_at_version_one`)
/// deletes the parameter and creates it again at version 1; between the two it is missing.
/// When the put fails, the previous value is put back, up to five times. A parameter is left
/// missing only when all of those fail, and then the target's report must say MISSING: that
/// is counted (the pointer is not checked again until the fault-free run), unless
/// `AMIKEEPER_CHAOS_STRICT=1`. A parameter left missing without the report saying so fails.
fn missing_fixed_parameter(reports: &[Report], run: &mut Run, index: usize) {
    let reasons: Vec<&str> = reports
        .iter()
        .flat_map(|r| &r.targets)
        .filter(|t| t.target.name == "app-fixed")
        .map(|t| t.outcome.reason.as_str())
        .collect();
    let said = reasons.iter().any(|r| r.contains("MISSING"));
    let what = format!(
        "step {index}: the fixed-version parameter is missing ({}): {reasons:?}",
        if said { "reported as MISSING" } else { "NOT reported" }
    );
    if !said || std::env::var("AMIKEEPER_CHAOS_STRICT").is_ok_and(|v| v == "1") {
        run.failures.push(what);
    } else {
        run.reported_missing.push(what);
        run.relaxed.insert(Pointer::FixedParameter);
    }
}

fn check_pointers(
    world: &World,
    named: &mut BTreeMap<Pointer, ImageId>,
    sent: &BTreeMap<Pointer, BTreeSet<usize>>,
    run: &mut Run,
    at: &str,
) {
    let relaxed = run.relaxed.clone();
    for pointer in POINTERS.into_iter().filter(|p| !relaxed.contains(p)) {
        let Some(now) = world.pointer(pointer) else {
            run.failures.push(format!("{at}: {pointer:?} is missing"));
            continue;
        };
        let image = world.image(&now);
        let index = world.index_of(&now);
        run.check(index.is_some_and(|i| sent[&pointer].contains(&i)), || {
            format!("{at}: {pointer:?} names {now} (image {index:?}), which it was never sent while available")
        });
        run.check(image.as_ref().is_some_and(|i| i.state == ImageState::Available), || {
            format!("{at}: {pointer:?} names {now}, which is {:?}", image.as_ref().map(|i| i.state))
        });
        let before = world.image(&named[&pointer]);
        if let (Some(before), Some(image)) = (&before, &image) {
            run.check(!before.is_newer_than(image), || {
                format!("{at}: {pointer:?} moved back from {} to {}", before.id, image.id)
            });
        }
        named.insert(pointer, now);
    }
}

/// Nothing in use or excluded is gone.
fn check_kept(world: &World, fates: &[Fate], run: &mut Run, at: &str) {
    let mut keep: Vec<(String, ImageId)> = vec![
        ("excluded by tag".into(), world.kept.clone()),
        ("launched by an instance".into(), world.launched.clone()),
    ];
    for pointer in POINTERS {
        if let Some(image) = world.pointer(pointer) {
            keep.push((format!("{pointer:?}"), image));
        }
    }
    for (why, id) in keep {
        let image = world.image(&id);
        run.check(image.as_ref().is_some_and(|i| i.state != ImageState::Deregistered), || {
            format!("{at}: {id} ({why}) was deregistered")
        });
        if let Some(image) = image {
            for snapshot in &image.snapshot_ids {
                run.check(world.aws.snapshot(REGION, snapshot).is_some(), || {
                    format!("{at}: snapshot {snapshot} of {id} ({why}) was deleted")
                });
            }
        }
    }
    // Images that never became available are never retired.
    for (index, fate) in fates.iter().enumerate() {
        let state = world.image(&world.images[index]).map(|i| i.state);
        run.check(*fate == Fate::Available || state != Some(ImageState::Deregistered), || {
            format!("{at}: image {index} ({fate:?}) was deregistered")
        });
    }
    // The version the group launches from exists.
    if let Some(spec) = world.aws.auto_scaling_group(REGION, "web-asg").and_then(|g| g.launch_template) {
        let exists = world
            .aws
            .launch_template_versions(REGION, &world.template_id)
            .iter()
            .any(|v| spec.version.parse() == Ok(v.number));
        run.check(exists, || format!("{at}: the group's launch template version {} was deleted", spec.version));
    }
}

fn describe(events: &[Event]) -> String {
    let one = |e: &Event| {
        let from = match (e.account == ACCOUNT, e.region == REGION) {
            (true, true) => String::new(),
            (false, _) => format!(" from {}", e.account),
            (true, false) => format!(" in {}", e.region),
        };
        format!("{:?}({}){from}", e.kind, e.image)
    };
    let list: Vec<String> = events.iter().map(one).collect();
    if events.len() == 1 {
        list[0].clone()
    } else {
        format!("SQS[{}]", list.join(", "))
    }
}

fn summarize(reports: &[Report]) -> String {
    let one = |r: &Report| {
        let targets: Vec<String> =
            r.targets.iter().map(|t| format!("{}={}", t.target.name, t.outcome.status)).collect();
        format!("{:?}[{}]", r.status, targets.join(" "))
    };
    reports.iter().map(one).collect::<Vec<_>>().join("; ")
}

fn env_number(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(value.trim().parse().unwrap_or_else(|_| panic!("{name} must be a number, not `{value}`")))
}

#[tokio::test(start_paused = true)]
async fn pointers_survive_random_fault_schedules() {
    let replay = env_number("AMIKEEPER_CHAOS_SEED");
    let seeds: Vec<u64> = match replay {
        Some(seed) => vec![seed],
        None => (0..env_number("AMIKEEPER_CHAOS_SCHEDULES").unwrap_or(1000)).collect(),
    };
    let started = std::time::Instant::now();
    let mut totals = Totals::default();
    let mut failed: Vec<(u64, Run)> = Vec::new();
    for &seed in &seeds {
        let schedule = Schedule::draw(seed);
        let run = run_schedule(&schedule, &mut totals).await;
        if replay.is_some() {
            eprintln!("schedule {seed}:\n  {}", run.trace.join("\n  "));
            for known in &run.reported_missing {
                eprintln!("  reported missing: {known}");
            }
        }
        if !run.reported_missing.is_empty() {
            totals.reported_missing += 1;
            if replay.is_none() && totals.reported_missing <= 3 {
                eprintln!("seed {seed} left the fixed-version parameter missing: {}", run.reported_missing.join("; "));
            }
        }
        if !run.failures.is_empty() {
            failed.push((seed, run));
        }
    }
    eprintln!(
        "chaos: {} schedules survived of {}, {} faults injected, {} events delivered in {} payloads, {} sweeps, \
         {} schedules left the fixed-version parameter missing and said so; reports {:?}; targets {:?}; {:.1}s",
        totals.schedules - failed.len(),
        totals.schedules,
        totals.faults,
        totals.events,
        totals.payloads,
        totals.sweeps,
        totals.reported_missing,
        totals.statuses,
        totals.targets,
        started.elapsed().as_secs_f64()
    );
    if let Some((seed, run)) = failed.first() {
        let firsts: Vec<String> =
            failed.iter().map(|(seed, run)| format!("seed {seed}: {}", run.failures[0])).collect();
        panic!(
            "{} schedule(s) broke an invariant:\n  {}\nReplay one with: AMIKEEPER_CHAOS_SEED={seed} {REPLAY}\n\
             seed {seed}:\n  {}\ntrace:\n  {}",
            failed.len(),
            firsts.join("\n  "),
            run.failures.join("\n  "),
            run.trace.join("\n  ")
        );
    }
}

/// Fixed-version mode under the faults that once left the parameter missing: a lost
/// `DeleteParameter` answer, then two failed puts. The old value goes back.
#[tokio::test(start_paused = true)]
async fn fixed_version_parameter_is_never_left_missing() {
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let old = aws.add_image(REGION, ImageSeed::new("app-old"));
    aws.set_parameter(REGION, "app-fixed", old.as_str()).unwrap();
    let new = aws.add_image(REGION, ImageSeed::new("app-new"));
    let keeper = keeper(configs::FIXED_VERSION_PARAMETER, &aws);
    // The delete happens but its answer is lost; the keeper's two retries find no parameter and
    // their puts time out.
    aws.inject(Fault::on("ssm:DeleteParameter", FaultKind::TimeoutAfterEffect));
    aws.inject(Fault::on("ssm:PutParameter", FaultKind::Timeout).times(2));
    let event = Origin::new(ACCOUNT, REGION, "e1").image_state_change(new.as_str(), "available");
    let reports = keeper.handle_payload(event.to_string().as_bytes(), &HandleOptions::default()).await.unwrap();
    let parameter = aws.parameter(REGION, "app-fixed");
    assert!(
        parameter.is_some(),
        "the parameter is missing, and the report says only: {:?}",
        reports[0].targets.iter().map(|t| &t.outcome.reason).collect::<Vec<_>>()
    );
}

// ------------------------------------------------------------------------------- revocations

/// Revocations under the same faults: three AMIs released to every pointer, then a revoke of one
/// of them (most often the newest, which the pointers name) with faults queued, then the same
/// revoke again without faults, then the revoked AMI's `available` event once more. Invariants:
/// a revoke that succeeded leaves no pointer naming the rejected AMI; one that ended with
/// "nothing was written" left the AMI untagged and the pointers where they were; after the
/// fault-free revoke no pointer names it, and its event is refused.
#[tokio::test(start_paused = true)]
async fn revocations_never_leave_a_rejected_ami_named() {
    let schedules: u64 =
        std::env::var("AMIKEEPER_CHAOS_SCHEDULES").ok().and_then(|n| n.parse().ok()).unwrap_or(1000) / 5;
    let mut failures = Vec::new();
    for seed in 0..schedules.max(1) {
        let mut rng = schedule_rng(seed ^ 0x0BAD_A111);
        let mut world = World::new();
        for index in 1..=3 {
            world.add_image(index);
        }
        let keeper = keeper(&config(rng.chance(0.5)), &world.aws);
        for index in 1..=3 {
            world.aws.set_image_state(REGION, &world.images[index], ImageState::Available);
            let event = Event {
                image: index,
                kind: EventKind::Available,
                account: ACCOUNT,
                region: REGION,
                id: format!("r{index}"),
            };
            deliver(&keeper, &world, &[event]).await;
        }
        let revoked = if rng.chance(0.8) { 3 } else { 1 + rng.below(2) };
        let bad = world.images[revoked].clone();
        let before: Vec<Option<ImageId>> = POINTERS.iter().map(|&p| world.pointer(p)).collect();
        let faults = draw_faults(&mut rng);
        for fault in &faults {
            world.aws.inject(fault.clone());
        }
        let options = amikeeper::revoke::RevokeOptions::default().reason("chaos");
        let region = Region::from(REGION);
        let first = keeper.revoke(&region, &bad, &options).await;
        let mut check = |ok: bool, what: String| {
            if !ok {
                failures.push(format!("seed {seed} (revoking image {revoked}, faults [{}]): {what}", show(&faults)));
            }
        };
        let names_bad = |world: &World| POINTERS.iter().filter(|&&p| world.pointer(p).as_ref() == Some(&bad)).count();
        let tagged =
            |world: &World| world.image(&bad).is_some_and(|i| i.tags.contains_key(amikeeper::reject::REJECTED_TAG));
        match first.status {
            amikeeper::revoke::RevokeStatus::Ok => {
                check(
                    names_bad(&world) == 0,
                    format!("a revoke that succeeded left {} pointers on it", names_bad(&world)),
                );
                check(tagged(&world), "a revoke that succeeded did not tag it".into());
            }
            _ if first.reason.as_deref().is_some_and(|r| r.contains("nothing was written")) => {
                let after: Vec<Option<ImageId>> = POINTERS.iter().map(|&p| world.pointer(p)).collect();
                check(
                    after == before && !tagged(&world),
                    format!("\"nothing was written\", but: {after:?}, {first:?}"),
                );
            }
            _ => {}
        }
        world.aws.clear_faults();
        let second = keeper.revoke(&region, &bad, &options).await;
        check(second.status == amikeeper::revoke::RevokeStatus::Ok, format!("the fault-free revoke: {second:?}"));
        check(names_bad(&world) == 0 && tagged(&world), "after the fault-free revoke it is still named".into());
        let event =
            Event { image: revoked, kind: EventKind::Available, account: ACCOUNT, region: REGION, id: "again".into() };
        let again = deliver(&keeper, &world, &[event]).await;
        check(again[0].status == RunStatus::Refused, format!("its event again: {:?}", again[0]));
        check(names_bad(&world) == 0, "its event again moved a pointer to it".into());
    }
    assert!(
        failures.is_empty(),
        "{} revocation schedule(s) broke an invariant:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}
