//! The sweep page's view: each group's images on a time line, and what the plan frees.

use std::collections::BTreeMap;

use serde::Serialize;
use time::{OffsetDateTime, UtcOffset};

use super::prices::Prices;
use crate::retain::{Action, Decision, ItemStatus, Reason, SweepAction, SweepReport};

/// The width of the time line's drawing, in SVG units; marks sit between the margins.
const WIDTH: f64 = 1000.0;
const MARGIN: f64 = 24.0;

/// One sweep on the page: a region (of an account) and its report, or why it did not run.
#[derive(Debug, Serialize)]
pub(super) struct SweepView {
    /// `account / region`, or the region.
    title: String,
    /// Why the sweep could not run (then nothing else is shown).
    error: Option<String>,
    applied: bool,
    status: String,
    now: String,
    groups: Vec<GroupView>,
    /// Axis labels: the oldest image's day, and the plan's.
    axis_from: String,
    axis_to: String,
    frees: Frees,
    warnings: Vec<String>,
    unreadable: Vec<String>,
}

/// One group of images, newest first, on the shared time line.
#[derive(Debug, Serialize)]
struct GroupView {
    name: String,
    images: Vec<ImageView>,
}

/// One image: its mark on the time line and its row in the table.
#[derive(Debug, Serialize)]
struct ImageView {
    id: String,
    name: String,
    created: String,
    age_days: i64,
    /// `kept`, `in-use` or `retired`: the CSS class and the legend's words.
    class: &'static str,
    /// What happens to it: `keep`, `in use`, `deregister`, `deprecate` or `disable`.
    decision: String,
    reason: String,
    /// The result of acting on it, when the sweep was applied.
    result: Option<String>,
    snapshot_gib: Option<u64>,
    /// Its mark's x coordinate on the time line.
    x: f64,
}

/// What the plan frees: snapshots and their sizes, and the estimate.
#[derive(Debug, Serialize)]
struct Frees {
    snapshots: usize,
    /// GiB of the deleted snapshots whose size EC2 reported (the volume sizes).
    gib: u64,
    /// Deleted snapshots with no reported size (orphans, generations, leftovers, or images
    /// whose mapping gave none).
    unknown_size: usize,
    /// Dollars per month at the standard tier, when the region's price is known.
    standard_per_month: Option<String>,
    /// Dollars per month at the archive tier, when the region's price is known.
    archive_per_month: Option<String>,
    standard_price: Option<f64>,
    archive_price: Option<f64>,
}

impl SweepView {
    /// The view of `report`, titled `title`.
    pub(super) fn new(title: String, report: &SweepReport, prices: &Prices) -> Self {
        let plan = &report.plan;
        let created = |d: &Decision| plan.image_details.get(&d.image_id).map(|detail| detail.created);
        let oldest = plan.images.iter().filter_map(created).min().unwrap_or(plan.now);
        let span = (plan.now - oldest).as_seconds_f64().max(1.0);
        let x_of = |at: OffsetDateTime| MARGIN + (WIDTH - 2.0 * MARGIN) * ((at - oldest).as_seconds_f64() / span);

        let mut groups: BTreeMap<&str, Vec<ImageView>> = BTreeMap::new();
        for decision in &plan.images {
            let detail = plan.image_details.get(&decision.image_id);
            let at = detail.map_or(plan.now, |d| d.created);
            let (class, what) = match (&decision.action, &decision.reason) {
                (Action::Retire(retire), _) => ("retired", retire_word(*retire)),
                (Action::Keep, Reason::InUse(_)) => ("in-use", "in use"),
                (Action::Keep, _) => ("kept", "keep"),
            };
            groups.entry(&decision.group).or_default().push(ImageView {
                id: decision.image_id.to_string(),
                name: detail.map(|d| d.name.clone()).unwrap_or_default(),
                created: detail.map_or_else(|| "unknown".to_owned(), |d| day_and_time(d.created)),
                age_days: detail.map_or(0, |d| (plan.now - d.created).whole_days()),
                class,
                decision: what.to_owned(),
                reason: decision.reason.to_string(),
                result: image_result(report, decision),
                snapshot_gib: detail.and_then(|d| d.snapshot_gib),
                x: (x_of(at) * 10.0).round() / 10.0,
            });
        }
        Self {
            title,
            error: None,
            applied: report.applied,
            status: report.status.to_string(),
            now: day_and_time(plan.now),
            groups: groups.into_iter().map(|(name, images)| GroupView { name: name.to_owned(), images }).collect(),
            axis_from: day(oldest),
            axis_to: day(plan.now),
            frees: Frees::of(report, prices),
            warnings: plan.warnings.clone(),
            unreadable: plan.sources_unreadable.iter().map(|s| format!("{}: {}", s.source, s.error)).collect(),
        }
    }

    /// A sweep that could not run.
    pub(super) fn failed(title: String, error: String) -> Self {
        Self {
            title,
            error: Some(error),
            applied: false,
            status: "failed".to_owned(),
            now: String::new(),
            groups: Vec::new(),
            axis_from: String::new(),
            axis_to: String::new(),
            frees: Frees::none(),
            warnings: Vec::new(),
            unreadable: Vec::new(),
        }
    }
}

impl Frees {
    fn of(report: &SweepReport, prices: &Prices) -> Self {
        let plan = &report.plan;
        let with_images = plan.image_snapshots.iter().filter(|s| s.delete);
        let (mut snapshots, mut gib, mut unknown_size) = (0, 0u64, 0);
        for snapshot in with_images {
            snapshots += 1;
            match snapshot.size_gib {
                Some(size) => gib += u64::from(size),
                None => unknown_size += 1,
            }
        }
        // Snapshots deleted on their own: EC2's image mapping gives no size for them.
        let others = plan.snapshot_generations.iter().filter(|s| s.delete).count()
            + plan.orphans.iter().filter(|s| s.delete).count()
            + plan.leftover_snapshots.iter().filter(|s| s.delete).count();
        snapshots += others;
        unknown_size += others;
        let price = prices.of(&plan.region);
        let dollars = |rate: f64| format!("{:.2}", gib as f64 * rate);
        Self {
            snapshots,
            gib,
            unknown_size,
            standard_per_month: price.map(|p| dollars(p.standard)),
            archive_per_month: price.map(|p| dollars(p.archive)),
            standard_price: price.map(|p| p.standard),
            archive_price: price.map(|p| p.archive),
        }
    }

    fn none() -> Self {
        Self {
            snapshots: 0,
            gib: 0,
            unknown_size: 0,
            standard_per_month: None,
            archive_per_month: None,
            standard_price: None,
            archive_price: None,
        }
    }
}

fn retire_word(retire: crate::retain::Retire) -> &'static str {
    match retire {
        crate::retain::Retire::Delete => "deregister",
        crate::retain::Retire::Deprecate => "deprecate",
        crate::retain::Retire::Disable => "disable",
    }
}

/// What acting on the image's retirement did, when the sweep was applied.
fn image_result(report: &SweepReport, decision: &Decision) -> Option<String> {
    let retiring = [SweepAction::DeregisterImage, SweepAction::DeprecateImage, SweepAction::DisableImage];
    let result =
        report.results.iter().find(|r| r.resource == decision.image_id.as_str() && retiring.contains(&r.action))?;
    Some(match (&result.status, &result.detail) {
        (ItemStatus::Done, _) | (_, None) => result.status.to_string(),
        (status, Some(detail)) => format!("{status}: {detail}"),
    })
}

fn day(at: OffsetDateTime) -> String {
    at.to_offset(UtcOffset::UTC).date().to_string()
}

/// `2026-12-05 06:08 UTC`.
pub(super) fn day_and_time(at: OffsetDateTime) -> String {
    let at = at.to_offset(UtcOffset::UTC);
    format!("{} {:02}:{:02} UTC", at.date(), at.hour(), at.minute())
}
