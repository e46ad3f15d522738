//! [`Race`]: issue 15's finding 5 on any backend. Handlers at once over shuffled, duplicated
//! events, failed runs delivered again as a queue would; in the end every pointer names the
//! newest AMI, no AMI is in two launch template versions, and amikeeper's protection is only on
//! AMIs a pointer names.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Mutex;

use super::Fixture;
use crate::memory::SplitMix64;
use crate::model::{ImageId, ImageState, Region, PROTECTED_TAG};
use crate::publish::Status;
use crate::report::{Report, RunStatus};
use crate::samples::configs::in_account;
use crate::samples::Origin;
use crate::testing::{configs, fill};
use crate::{Config, HandleOptions, Keeper};

/// Handlers at once.
pub const RACE_HANDLERS: usize = 8;
/// Events delivered, shuffled: every newer AMI's events, duplicated.
pub const RACE_EVENTS: usize = 40;
/// How often a failed run is delivered again, as a queue would.
pub const RACE_REDELIVERIES: u32 = 5;

/// One race's AMIs (named `{name}-...`) and the pointers it moves: parameter `/ami/{name}`, the
/// fixed-version parameter `/ami/{name}-fixed` and launch template `{name}`, which name the
/// first AMI before.
pub struct Race {
    name: String,
    region: String,
    images: Vec<ImageId>,
    newest: ImageId,
    template: String,
}

impl Race {
    /// The pointers of race `name` in `region`, on the first of `images` (two or more).
    pub async fn new(fixture: &dyn Fixture, region: &str, name: &str, images: Vec<ImageId>) -> Self {
        let aws = fixture.aws();
        let mut newest = None;
        for id in &images {
            let image = aws.describe_image(&Region::new(region), id).await.unwrap().expect("the image exists");
            if newest.as_ref().is_none_or(|n: &crate::model::Image| image.is_newer_than(n)) {
                newest = Some(image);
            }
        }
        let newest = newest.expect("images").id;
        let race = Self { name: name.to_owned(), region: region.to_owned(), images, newest, template: String::new() };
        fixture.set_parameter(region, &race.parameter(), race.images[0].as_str()).await;
        fixture.set_parameter(region, &race.fixed(), race.images[0].as_str()).await;
        let template = fixture.launch_template(region, name, &race.images[0]).await;
        Self { template, ..race }
    }

    fn parameter(&self) -> String {
        format!("/ami/{}", self.name)
    }

    fn fixed(&self) -> String {
        format!("/ami/{}-fixed", self.name)
    }

    /// The configuration that moves the race's pointers, in `account`.
    pub fn config(&self, account: &str) -> Config {
        let (prefix, parameter, fixed) = (format!("{}-", self.name), self.parameter(), self.fixed());
        let values =
            [("prefix", prefix.as_str()), ("parameter", &parameter), ("fixed", &fixed), ("template", &self.template)];
        Config::from_toml(&in_account(&fill(configs::RACE, &values), account)).expect("the race's configuration")
    }

    /// Every newer AMI's events (AWS Backup and the AMI state change), [`RACE_EVENTS`] of
    /// them, shuffled by `seed`.
    pub fn events(&self, account: &str, seed: u64) -> Vec<String> {
        let origin = Origin::new(account, &self.region, &self.name);
        let newer = self.images.len() - 1;
        let mut events: Vec<String> = (0..RACE_EVENTS)
            .map(|n| {
                let image = self.images[1 + n % newer].as_str();
                match (n / newer) % 2 {
                    0 => origin.backup_job(image, "i-0123456789abcdef0", "COMPLETED"),
                    _ => origin.image_state_change(image, "available"),
                }
                .to_string()
            })
            .collect();
        let mut rng = SplitMix64::new(seed);
        for i in (1..events.len()).rev() {
            events.swap(i, rng.below(i + 1));
        }
        events
    }

    /// [`RACE_HANDLERS`] handlers of `keeper` at once over `events`, a failed run delivered
    /// again up to [`RACE_REDELIVERIES`] times; the failed runs, as `delivery N: target: why`.
    /// With `AMIKEEPER_RACE_SEED` set, every report is printed.
    pub async fn deliver(keeper: &Keeper, events: Vec<String>) -> Vec<String> {
        let queue = Mutex::new(events.into_iter().map(|e| (e, 0)).collect::<VecDeque<(String, u32)>>());
        let failures = Mutex::new(Vec::new());
        let handler = || async {
            loop {
                let Some((event, delivery)) = queue.lock().unwrap().pop_front() else { return };
                let reports = keeper.handle_payload(event.as_bytes(), &HandleOptions::default()).await.unwrap();
                if std::env::var("AMIKEEPER_RACE_SEED").is_ok() {
                    reports.iter().for_each(print);
                }
                for report in reports.iter().filter(|r| r.status == RunStatus::Failed) {
                    let why: Vec<String> = report
                        .targets
                        .iter()
                        .filter(|t| t.outcome.status == Status::Failed)
                        .map(|t| format!("{}: {}", t.target, t.outcome.reason))
                        .collect();
                    failures.lock().unwrap().push(format!("delivery {delivery}: {}", why.join("; ")));
                    if delivery < RACE_REDELIVERIES {
                        queue.lock().unwrap().push_back((event.clone(), delivery + 1));
                    }
                }
            }
        };
        futures::future::join_all((0..RACE_HANDLERS).map(|_| handler())).await;
        failures.into_inner().unwrap()
    }

    /// What is wrong with the race's end, read through `fixture`; empty when it converged.
    pub async fn wrong(&self, fixture: &dyn Fixture) -> Vec<String> {
        let (region, newest) = (self.region.as_str(), &self.newest);
        let mut wrong = Vec::new();
        // The newest AMI everywhere; the fixed-version parameter at version 1.
        let (parameter, fixed) = (self.parameter(), self.fixed());
        let value = fixture.parameter(region, &parameter).await.map(|(value, _)| value);
        if value.as_deref() != Some(newest.as_str()) {
            wrong.push(format!("{parameter} names {value:?}, not {newest}"));
        }
        let fixed_value = fixture.parameter(region, &fixed).await;
        if fixed_value != Some((newest.to_string(), 1)) {
            wrong.push(format!("{fixed} is {fixed_value:?}, not {newest} at version 1"));
        }
        let state = fixture.template_state(region, &self.template).await;
        let default = state.versions.iter().find(|(n, _)| *n == state.default_version).and_then(|(_, i)| i.clone());
        if default.as_ref() != Some(newest) {
            wrong.push(format!("the template's default launches {default:?}, not {newest}: {state:?}"));
        }
        // One version per AMI.
        let mut by_image: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
        for (number, image) in &state.versions {
            if let Some(image) = image {
                by_image.entry(image.as_str()).or_default().push(*number);
            }
        }
        for (image, numbers) in by_image.iter().filter(|(_, n)| n.len() > 1) {
            wrong.push(format!("{image} is in versions {numbers:?}"));
        }
        // amikeeper's protection only on AMIs a pointer names, and on the newest.
        let named: BTreeSet<String> =
            [value, fixed_value.map(|f| f.0), default.map(|d| d.to_string())].into_iter().flatten().collect();
        let aws = fixture.aws();
        for image in &self.images {
            let found = aws.describe_image(&Region::new(region), image).await.unwrap().expect("the image exists");
            assert_eq!(found.state, ImageState::Available);
            let amikeepers = found.deregistration_protected && found.tags.contains_key(PROTECTED_TAG);
            if amikeepers && !named.contains(image.as_str()) {
                wrong.push(format!("{image} keeps amikeeper's protection, and no pointer names it"));
            }
            if image == newest && !found.deregistration_protected {
                wrong.push(format!("the newest AMI {image} is not protected"));
            }
        }
        wrong
    }
}

/// A report and its targets on stderr, to follow one seed's race.
fn print(report: &Report) {
    let image = report.image.as_ref().map(|i| i.id.to_string()).unwrap_or_default();
    eprintln!("{image} {:?}: protection {:?}, released {:?}", report.status, report.protection, report.released);
    for t in &report.targets {
        let outcome = &t.outcome;
        eprintln!(
            "   {} {}: {:?} -> {:?} ({}) {:?}",
            t.target, outcome.status, outcome.from, outcome.to, outcome.reason, outcome.notes
        );
    }
}
