//! A backend conformance suite: the seed flows as plain async functions that any backend must
//! pass, in the manner of object_store's `integration.rs`.
//!
//! Each scenario sets up its world through a [`Fixture`], runs a [`Keeper`] on the fixture's
//! backend with real-shaped event payloads, and asserts the resulting state through the
//! fixture. The fixture reads state its own way (for the SDK backend against an emulator:
//! through the AWS SDK directly), never through amikeeper's publishers. A scenario panics
//! with a message when the backend does not conform.
//!
//! The seed scenarios run the seed configurations of [`configs`] as they are (in the fixture's
//! account), the files that `docs/guides/` shows.
//!
//! The suite runs on [`MemoryAws`] in this crate's tests and on the SDK backend against
//! `moto_server` in `amikeeper-aws`'s tests.
//!
//! Every scenario is listed once, in [`conformance_tests!`](crate::conformance_tests), which
//! declares one test per scenario for a backend (object_store's `integration.rs` in the form
//! of one macro call per backend), and in [`SCENARIOS`], which tests that look at every
//! scenario's calls (the IAM policy replays) iterate:
//!
//! ```ignore
//! amikeeper::conformance_tests!(#[tokio::test(start_paused = true)] Some(MemoryFixture::new()));
//! ```
//!
//! Behind the `test-util` feature: for this workspace's tests and other backends' tests, not
//! stable API.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::backend::Aws;
use crate::model::Region;
use crate::publish::Status;
use crate::report::Report;
use crate::retain::{SweepOptions, SweepReport};
use crate::samples::configs;
use crate::{Config, HandleOptions, Keeper};

mod fixture;
mod memory;
mod protection;
mod races;
mod retention;
mod seeds;

pub use fixture::{Capabilities, Fixture, ImageFacts, ImageSpec, SweepFixture, TemplateState};
pub use memory::MemoryFixture;
pub use protection::{
    protection_follows_the_pointers, protection_someone_else_set_is_kept, rollback_with_a_group_releases_the_bad_ami,
    PROTECTED_PARAMETER,
};
pub use races::{Race, RACE_EVENTS, RACE_HANDLERS, RACE_REDELIVERIES};
pub use retention::{
    seed_004_snapshot_generations, sweep_converges_after_failures, sweep_keeps_what_is_in_use, KEEP_TWO_PER_ROLE,
};
pub use seeds::{
    refusals_write_nothing, seed_000_backup_to_fixed_version_parameter, seed_001_parameter_from_tag,
    seed_001_stack_from_tag, seed_002_asg_created_to_latest, seed_002_dlm_to_launch_template, seed_003_scheduled_bake,
};

/// The main region of the scenarios.
pub const MAIN_REGION: &str = "ap-northeast-1";
/// The DR region of the scenarios.
pub const DR_REGION: &str = "ap-southeast-1";

/// The configuration a scenario runs: a seed configuration ([`configs`]) or one of the suite's
/// own bodies, each in the fixture's account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScenarioConfig {
    /// A seed configuration, which names the sample account [`configs::ACCOUNT`].
    Seed(&'static str),
    /// A configuration without its `accounts` line.
    Body(&'static str),
}

impl ScenarioConfig {
    /// The configuration's text in `account`.
    pub fn text(self, account: &str) -> String {
        match self {
            Self::Seed(text) => configs::in_account(text, account),
            Self::Body(body) => config(account, body),
        }
    }
}

/// A scenario's future.
pub type ScenarioFuture<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

/// One scenario of the suite.
#[derive(Clone, Copy)]
pub struct Scenario {
    /// Its name: the name of its function and of the test that runs it on each backend.
    pub name: &'static str,
    /// The configuration it runs.
    pub config: ScenarioConfig,
    /// Runs it on a fixture.
    pub run: for<'a> fn(&'a dyn SweepFixture) -> ScenarioFuture<'a>,
}

impl std::fmt::Debug for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scenario").field("name", &self.name).field("config", &self.config).finish_non_exhaustive()
    }
}

/// Calls `$callback!` with every scenario of the suite, `name => configuration` each: the one
/// list that [`SCENARIOS`] and [`conformance_tests!`](crate::conformance_tests) are made from.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_scenarios {
    ($callback:ident! { $($args:tt)* }) => {
        $crate::$callback! {
            $($args)*
            seed_000_backup_to_fixed_version_parameter => Seed(SEED_000_BACKUP_TO_PARAMETER),
            seed_001_parameter_from_tag => Seed(SEED_001_PARAMETER_AND_STACK_FROM_TAGS),
            seed_001_stack_from_tag => Seed(SEED_001_PARAMETER_AND_STACK_FROM_TAGS),
            seed_002_asg_created_to_latest => Seed(SEED_002_ASG_TO_LATEST),
            seed_002_dlm_to_launch_template => Seed(SEED_002_DLM_TO_LAUNCH_TEMPLATE),
            seed_003_scheduled_bake => Seed(SEED_003_NIGHTLY_BAKE),
            refusals_write_nothing => Seed(SEED_001_PARAMETER_AND_STACK_FROM_TAGS),
            sweep_keeps_what_is_in_use => Body(KEEP_TWO_PER_ROLE),
            sweep_converges_after_failures => Body(KEEP_TWO_PER_ROLE),
            protection_follows_the_pointers => Body(PROTECTED_PARAMETER),
            protection_someone_else_set_is_kept => Body(PROTECTED_ONE_KEPT),
            rollback_with_a_group_releases_the_bad_ami => Body(ROLLBACK_WITH_GROUP),
            seed_004_snapshot_generations => Seed(SEED_004_SNAPSHOT_GENERATIONS),
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_table {
    ($($name:ident => $kind:ident($config:ident),)*) => {
        /// Every scenario of the suite, in the order the suite lists them.
        pub const SCENARIOS: &[Scenario] = &[$(Scenario {
            name: stringify!($name),
            config: ScenarioConfig::$kind(__configs::$config),
            run: |fixture: &dyn SweepFixture| -> ScenarioFuture<'_> { Box::pin($name(fixture)) },
        }),*];
    };
}

/// The configurations the scenario list names, in one namespace.
mod __configs {
    pub(super) use super::configs::*;
    pub(super) use super::protection::{PROTECTED_ONE_KEPT, PROTECTED_PARAMETER, ROLLBACK_WITH_GROUP};
    pub(super) use super::retention::KEEP_TWO_PER_ROLE;
}

__conformance_scenarios!(__conformance_table! {});

/// Declares one test per conformance scenario, run on the fixture that `$setup` makes (an
/// expression of type `Option<F>` with `F: SweepFixture`, evaluated in each test; `None`
/// skips, e.g. when an emulator is not installed), under the test attribute given first.
///
/// ```ignore
/// amikeeper::conformance_tests!(#[tokio::test(start_paused = true)] Some(MemoryFixture::new()));
/// ```
#[macro_export]
macro_rules! conformance_tests {
    (#[$test:meta] $setup:expr) => {
        $crate::__conformance_scenarios!(__conformance_tests! { #[$test] $setup; });
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    (#[$test:meta] $setup:expr; $($name:ident => $kind:ident($config:ident),)*) => {$(
        #[$test]
        async fn $name() {
            let Some(fixture) = $setup else { return };
            $crate::conformance::$name(&fixture).await;
        }
    )*};
}

pub(crate) async fn run(fixture: &dyn Fixture, config: &str, payload: serde_json::Value) -> Report {
    run_with(fixture, config, payload, false).await
}

pub(crate) async fn run_with(fixture: &dyn Fixture, config: &str, payload: serde_json::Value, dry_run: bool) -> Report {
    let config = Config::from_toml(config).expect("scenario configuration is valid");
    run_config(fixture, config, payload, dry_run).await
}

pub(crate) async fn run_config(
    fixture: &dyn Fixture,
    config: Config,
    payload: serde_json::Value,
    dry_run: bool,
) -> Report {
    let keeper = Keeper::new(config, fixture.aws());
    let options = HandleOptions::default().dry_run(dry_run);
    let mut reports = keeper.handle_payload(payload.to_string().as_bytes(), &options).await.expect("payload parses");
    assert_eq!(reports.len(), 1);
    reports.remove(0)
}

pub(crate) fn statuses(report: &Report) -> Vec<Status> {
    report.targets.iter().map(|t| t.outcome.status).collect()
}

pub(crate) fn config(account: &str, body: &str) -> String {
    format!("accounts = [\"{account}\"]\n{body}")
}

/// A seed configuration ([`configs`]) in the fixture's account.
pub(crate) fn seed(f: &dyn Fixture, config: &str) -> String {
    configs::in_account(config, &f.account())
}

pub(crate) fn sweep_config(account: &str, body: &str) -> Config {
    Config::from_toml(&config(account, body)).expect("scenario configuration is valid")
}

pub(crate) async fn sweep(f: &dyn SweepFixture, config: &Config, apply: bool) -> SweepReport {
    sweep_on(f.aws(), config, apply).await
}

pub(crate) async fn sweep_on(aws: Arc<dyn Aws>, config: &Config, apply: bool) -> SweepReport {
    let keeper = Keeper::new(config.clone(), aws);
    let options = SweepOptions::default().apply(apply);
    keeper.sweep(&Region::from(MAIN_REGION), &options).await.expect("the inventory is readable")
}

pub(crate) fn only_reads(report: &SweepReport) -> bool {
    report
        .aws_calls_by_operation
        .keys()
        .all(|op| op.contains(":Describe") || op.contains(":Get") || op.contains(":List"))
}
