//! What this workspace's tests share (feature `test-util`, not stable API): the sample account
//! and region, the test configurations ([`configs`], files in one folder) and the steps most
//! tests take on [`MemoryAws`].

use std::sync::Arc;

use serde_json::Value;

use time::{Duration, OffsetDateTime};

use crate::memory::ImageSeed;
use crate::model::{AccountId, Image, ImageId, ImageState, Tags};
use crate::report::Report;
use crate::{Config, HandleOptions, Keeper, MemoryAws};

pub mod configs;
pub mod markdown;

/// The sample account the test configurations name (the seed configurations' account).
pub const ACCOUNT: &str = crate::samples::configs::ACCOUNT;

/// Another account, for events and roles from outside.
pub const OTHER_ACCOUNT: &str = "444455556666";

/// The region most tests run in.
pub const REGION: &str = "eu-west-1";

/// `config` with each `{key}` replaced by its value.
pub fn fill(config: &str, values: &[(&str, &str)]) -> String {
    values.iter().fold(config.to_owned(), |text, (key, value)| text.replace(&format!("{{{key}}}"), value))
}

/// A keeper of `config` (TOML, which must be valid) on `aws`.
pub fn keeper(config: &str, aws: &Arc<MemoryAws>) -> Keeper {
    Keeper::new(Config::from_toml(config).expect("a valid test configuration"), aws.clone())
}

/// The reports of one payload (which must parse), with `options`.
pub async fn handle_with(keeper: &Keeper, payload: &Value, options: &HandleOptions) -> Vec<Report> {
    keeper.handle_payload(payload.to_string().as_bytes(), options).await.expect("the payload parses")
}

/// The reports of one payload (which must parse).
pub async fn handle(keeper: &Keeper, payload: &Value) -> Vec<Report> {
    handle_with(keeper, payload, &HandleOptions::default()).await
}

/// The one report of a payload that holds one event.
pub async fn handle_one(keeper: &Keeper, payload: &Value, options: &HandleOptions) -> Report {
    let mut reports = handle_with(keeper, payload, options).await;
    assert_eq!(reports.len(), 1, "one event, one report: {reports:#?}");
    reports.remove(0)
}

/// An available image of [`ACCOUNT`] without description, tags, snapshots or protection, as
/// `DescribeImages` would report one; tests set the fields they are about.
pub fn image(id: ImageId, name: impl Into<String>, created: OffsetDateTime) -> Image {
    Image {
        id,
        name: name.into(),
        description: None,
        state: ImageState::Available,
        created,
        owner: AccountId::new(ACCOUNT),
        tags: Tags::new(),
        snapshot_ids: Vec::new(),
        snapshot_sizes_gib: Default::default(),
        deprecated_at: None,
        last_launched: None,
        deregistration_protected: false,
        deregistration_protection_cooldown: false,
        allowed: None,
        source_image_id: None,
        source_image_region: None,
    }
}

/// `count` images named `web-0`, `web-1`, ... in [`REGION`], each tagged `key` = `value`, oldest
/// first: `aws`'s clock moves on by `apart` before each is added.
pub fn web_images(aws: &MemoryAws, count: usize, apart: Duration, (key, value): (&str, &str)) -> Vec<ImageId> {
    (0..count)
        .map(|i| {
            aws.advance(apart);
            aws.add_image(REGION, ImageSeed::new(format!("web-{i}")).tag(key, value))
        })
        .collect()
}

/// A status report as `amikeeper status --format json` prints it: two accounts, two regions, a
/// pointer that lost its protection, a DR pointer that lags, a dangling one, a finding about no
/// single pointer and a listing that was denied (the HTML status page's tests).
pub const STATUS_REPORT: &str = include_str!("status_report.json");

/// The AMIs of [`sample_sweep`], oldest first, and its plan.
#[derive(Debug)]
pub struct SampleSweep {
    /// The plan (not applied).
    pub report: crate::SweepReport,
    /// Group `web`: six AMIs ten days apart; the oldest is named by the SSM parameter
    /// `/ami/web`, the newest has markup in its name.
    pub web: Vec<ImageId>,
    /// Group `api`: four AMIs; the oldest is launched by the launch template `api`.
    pub api: Vec<ImageId>,
}

/// A sweep plan on [`MemoryAws`] worth looking at (the HTML sweep page's tests and the
/// README's screenshot): two groups by tag `Role`, each keeping its newest 2 and what is in use.
pub async fn sample_sweep() -> SampleSweep {
    let aws = Arc::new(MemoryAws::new(ACCOUNT));
    let mut web = web_images(&aws, 5, Duration::days(10), ("Role", "web"));
    aws.advance(Duration::days(10));
    web.push(aws.add_image(REGION, ImageSeed::new("web-<b>\"5\"</b>&").tag("Role", "web").snapshots(2)));
    aws.set_parameter(REGION, "/ami/web", web[0].as_str()).expect("the parameter is set");
    let api: Vec<ImageId> = [47, 33, 19, 4]
        .into_iter()
        .map(|days| {
            let seed =
                ImageSeed::new(format!("api-{days}")).tag("Role", "api").created(aws.now() - Duration::days(days));
            aws.add_image(REGION, seed)
        })
        .collect();
    aws.create_launch_template(REGION, "api", Some(api[0].clone()), Tags::new());
    let config = format!(
        "accounts = [\"{ACCOUNT}\"]\n[retention]\nparameter_paths = [\"/ami/\"]\n[[retention.images]]\ngroup_by = {{ tag = \"Role\" }}\nkeep_newest = 2"
    );
    let options = crate::SweepOptions::default().now(aws.now());
    let report = keeper(&config, &aws).sweep(&REGION.into(), &options).await.expect("the sample sweep runs");
    SampleSweep { report, web, api }
}
