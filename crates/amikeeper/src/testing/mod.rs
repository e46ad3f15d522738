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
