//! One self-contained HTML page for a sweep plan or a status report (feature `html`, on by
//! default).
//!
//! Each page is a single file: CSS and SVG are inline, there is no script, and nothing is fetched
//! when it is viewed (no CDN, no font, no image), so it opens from a file, from S3 or from a
//! mail attachment, and prints. The pages are rendered with [minijinja] from the templates in
//! `templates/`, compiled into the crate, with HTML autoescaping on: every value from AWS or the
//! configuration is escaped by the template engine, never pasted into HTML.
//!
//! ```
//! # use amikeeper::html::render_status;
//! let status = serde_json::json!({"generated_at": "2026-12-05T06:00:00Z", "pointers": [], "findings": [], "errors": []});
//! let page = render_status(&status).unwrap();
//! assert!(page.starts_with("<!DOCTYPE html>"));
//! ```

mod prices;
mod status;
mod sweep;

use minijinja::value::Serde;
use minijinja::{context, AutoEscape, Environment, Value};
use serde::Serialize;

pub use prices::{Prices, RegionPrice};
use status::{StatusInput, StatusView};
use sweep::SweepView;

use crate::retain::SweepReport;

/// The templates, by name.
const TEMPLATES: [(&str, &str); 3] = [
    ("layout.html", include_str!("templates/layout.html")),
    ("sweep.html", include_str!("templates/sweep.html")),
    ("status.html", include_str!("templates/status.html")),
];

/// Why a page could not be rendered: the value given is not a status report, or (a bug) a
/// template failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot render the HTML page: {0}")]
pub struct RenderError(String);

/// A sweep page of one or more sweeps (a fleet: one per account and region).
#[derive(Debug, Default)]
pub struct SweepPage {
    sweeps: Vec<SweepView>,
}

impl SweepPage {
    /// An empty page.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a sweep, titled by its region, or `account / region` when `account` is given.
    pub fn sweep(mut self, account: Option<&str>, report: &SweepReport, prices: &Prices) -> Self {
        self.sweeps.push(SweepView::new(title(account, report.plan.region.as_str()), report, prices));
        self
    }

    /// Adds a sweep that could not run, and why.
    pub fn failed(mut self, account: Option<&str>, region: &str, error: impl Into<String>) -> Self {
        self.sweeps.push(SweepView::failed(title(account, region), error.into()));
        self
    }

    /// The page, with the prices' date and source.
    pub fn render(&self, prices: &Prices) -> Result<String, RenderError> {
        let known: Vec<String> = prices.regions.keys().map(|r| r.to_string()).collect();
        render(
            "sweep.html",
            context! {
                sweeps => Serde(&self.sweeps),
                prices_read_on => prices.read_on.to_string(),
                prices_source => prices.source.clone(),
                prices_regions => known,
            },
        )
    }
}

/// The page of one sweep: its groups' images on a time line, kept, in use or retired with the
/// reason, and what the plan frees (GiB of snapshots, and dollars per month at `prices`).
pub fn render_sweep(report: &SweepReport, prices: &Prices) -> Result<String, RenderError> {
    SweepPage::new().sweep(None, report, prices).render(prices)
}

/// The status page: every pointer by account and region with its findings, and what could not
/// be read. `report` is anything that serializes to the status report's JSON
/// (`{"generated_at", "pointers", "findings", "errors", "aws_calls"}`).
pub fn render_status(report: &impl Serialize) -> Result<String, RenderError> {
    let value = serde_json::to_value(report).map_err(|e| RenderError(e.to_string()))?;
    let input: StatusInput =
        serde_json::from_value(value).map_err(|e| RenderError(format!("not a status report: {e}")))?;
    render("status.html", context! { status => Serde(StatusView::new(input)) })
}

fn title(account: Option<&str>, region: &str) -> String {
    match account {
        Some(account) => format!("{account} / {region}"),
        None => region.to_owned(),
    }
}

fn render(template: &str, context: Value) -> Result<String, RenderError> {
    let mut env = Environment::new();
    // Every template is HTML: escape every value, whatever the template's name.
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    for (name, source) in TEMPLATES {
        env.add_template(name, source).map_err(|e| RenderError(e.to_string()))?;
    }
    let page = env.get_template(template).and_then(|t| t.render(context)).map_err(|e| RenderError(e.to_string()))?;
    Ok(page)
}
