//! Testing against `moto_server`, an AWS emulator, on loopback (feature `test-util`).
//!
//! [`MotoServer`] runs one private `moto_server` per test on a free port of 127.0.0.1 and
//! hands out [`SdkAws`](crate::SdkAws) backends pointed at it; [`MotoFixture`] is
//! amikeeper's conformance [`Fixture`](amikeeper::conformance::Fixture) over it, which sets up
//! and reads state with the raw AWS SDK clients, never through this crate's backend code.
//!
//! ```no_run
//! use amikeeper::conformance;
//! use amikeeper_aws::testing::{MotoFixture, MotoServer};
//!
//! # async fn test() {
//! // `None` (and a "skipped" line on stderr) when moto is not installed, unless
//! // AMIKEEPER_REQUIRE_MOTO=1, in which case it panics.
//! let Some(moto) = MotoServer::start() else { return };
//! let fixture = MotoFixture::new(&moto).await;
//! conformance::seed_001_parameter_from_tag(&fixture).await;
//! # }
//! ```
//!
//! # Finding moto
//!
//! `AMIKEEPER_MOTO_SERVER` names the `moto_server` executable; unset, `moto_server` is looked
//! up on `PATH`. `scripts/setup-python.sh` installs the pinned version into the clone's `.venv`,
//! and `scripts/test.sh` sets `AMIKEEPER_MOTO_SERVER=$PWD/scripts/moto-server` and
//! `AMIKEEPER_REQUIRE_MOTO=1`, so that a missing emulator fails the run instead of skipping.
//!
//! `scripts/moto-server` is the pinned `moto_server` (same command line, run with the `.venv`'s
//! Python) plus the EC2 operations the retention sweep needs and moto lacks or gets wrong
//! (`DeleteLaunchTemplateVersions`, `EnableImageDeprecation`, `DisableImageDeprecation`,
//! `DeregisterImage` with `DeleteAssociatedSnapshots`, `DescribeImages`' `IncludeDisabled`,
//! `DescribeSnapshots`' `OwnerIds`); `scripts/moto_ext/` (one module per patch) says how each follows EC2. It also
//! refuses at once, as an endpoint without them does, what moto does not serve:
//! `DescribeImageReferences` (`InvalidAction`) and Recycle Bin (`UnknownOperationException`).
//! Plain `moto_server` still runs the publish tests, but not the retention ones.

mod fixture;
mod server;

pub use fixture::{MotoFixture, FIXTURE_INSTANCE_TYPE};
pub use server::{MotoServer, MOTO_ACCOUNT_ID, MOTO_SERVER_ENV, REQUIRE_MOTO_ENV};
