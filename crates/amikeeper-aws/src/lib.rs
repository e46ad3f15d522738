//! amikeeper's backend traits over the AWS SDK for Rust: [`SdkAws`] implements
//! [`Ec2Api`](amikeeper::backend::Ec2Api), [`SsmApi`](amikeeper::backend::SsmApi),
//! [`AutoScalingApi`](amikeeper::backend::AutoScalingApi),
//! [`CloudFormationApi`](amikeeper::backend::CloudFormationApi) and
//! [`RecycleBinApi`](amikeeper::backend::RecycleBinApi), so it is an
//! [`Aws`](amikeeper::backend::Aws) a [`Keeper`](amikeeper::Keeper) can run on.
//!
//! ```no_run
//! use std::sync::Arc;
//! use amikeeper::{Config, Keeper};
//! use amikeeper_aws::{RetryMode, SdkAws};
//!
//! # async fn run(config: Config) {
//! let aws = SdkAws::builder()
//!     .region(Some("ap-southeast-1".to_owned())) // only for calls that name no region
//!     .profile(None)
//!     .endpoint_url(None)
//!     .retry_mode(RetryMode::Standard)
//!     .load()
//!     .await;
//! let keeper = Keeper::new(config, Arc::new(aws));
//! # }
//! ```
//!
//! # Credentials
//!
//! The SDK's default chain, tried in order on the first call and then cached and refreshed:
//! `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`; the profile
//! ([`profile`](SdkAwsBuilder::profile), else `AWS_PROFILE`, else `default`) in
//! `~/.aws/credentials` and `~/.aws/config`, with `role_arn` assume-role, `credential_process`
//! and SSO; web identity (`AWS_WEB_IDENTITY_TOKEN_FILE`, EKS); the ECS/container endpoint
//! (`AWS_CONTAINER_CREDENTIALS_*`); the EC2 instance role (IMDSv2). In Lambda the runtime sets
//! the `AWS_*` variables, so the first step answers. One credentials cache is shared by every
//! client, whatever its region.
//!
//! # Region
//!
//! Every call names its region (it comes from the event), and goes to that region: an event
//! from `ap-southeast-1` is handled in `ap-southeast-1`. Only a call with an empty region uses
//! the default region: [`region`](SdkAwsBuilder::region), else the SDK's chain (`AWS_REGION`,
//! `AWS_DEFAULT_REGION`, the profile's `region`, instance metadata). With no default either, such
//! a call fails with the code `MissingRegion`.
//!
//! # Endpoint
//!
//! By default each service's regional endpoint. `aws-config` honours `AWS_ENDPOINT_URL` (all
//! services), `AWS_ENDPOINT_URL_<SERVICE>` (`AWS_ENDPOINT_URL_EC2`, `_SSM`, `_AUTO_SCALING`,
//! `_CLOUDFORMATION`, `_RBIN`, preferred over the global one) and the profile's `endpoint_url`, unless
//! `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`: nothing here needs doing for them.
//! [`endpoint_url`](SdkAwsBuilder::endpoint_url), set on the shared configuration, wins over all
//! of those. This crate's `tests/endpoint.rs` checks each of these rules.
//!
//! # Retries and timeouts
//!
//! The SDK retries throttling, 5xx, timeouts and connection failures itself, and it is the
//! only layer that does: an error it answers is marked out of retries
//! ([`AwsError::retries_exhausted`](amikeeper::AwsError::retries_exhausted)), so amikeeper's own
//! retry layer ([`RetryPolicy`](amikeeper::backend::RetryPolicy)) does not try it again on top.
//! How often a call is tried: [`max_attempts`](SdkAwsBuilder::max_attempts), else
//! `AWS_MAX_ATTEMPTS`, else the profile's `max_attempts`, else [`DEFAULT_MAX_ATTEMPTS`] (5);
//! the strategy: [`retry_mode`](SdkAwsBuilder::retry_mode), else `AWS_RETRY_MODE`, else the
//! profile's `retry_mode`, else [`RetryMode::Standard`] (exponential back-off with jitter capped
//! at 20 s; the AWS CLI's `legacy` counts as `standard`). A value that does not parse is
//! ignored with a warning. `standard` rather than `adaptive` by default because amikeeper makes
//! a handful of calls per event, usually in a short-lived process (Lambda, a CLI run):
//! adaptive's client-side rate limiter, once a client is throttled, slows all its later calls
//! and lets them speed up again only over time; that pays off for a long-lived client making
//! many calls, while a process that makes a few calls and exits gets only the slower calls.
//! Five attempts rather than the SDK's three ride out a throttling burst from other automation
//! in the account (an AMI event tends to come with many). [`RetryMode::Adaptive`] is there for
//! accounts that are throttled steadily.
//!
//! Every attempt AWS throttles is reported to amikeeper, also when the SDK's retry then
//! succeeds: an interceptor on each client asks the operation's retry classifiers (the SDK's
//! own list of throttling codes: `RequestLimitExceeded`, `Throttling`, `ThrottlingException`,
//! ...) and calls [`report_throttled_attempt`](amikeeper::backend::report_throttled_attempt).
//! A sweep counts these in `summary.throttled` and its pacer slows down for them.
//!
//! Timeouts: [`DEFAULT_CONNECT_TIMEOUT`] 3 s to connect, [`DEFAULT_OPERATION_ATTEMPT_TIMEOUT`]
//! 20 s per attempt, [`DEFAULT_OPERATION_TIMEOUT`] 60 s per call in all (attempts and back-off),
//! so a call never hangs an invocation, and a dead endpoint fails in seconds.
//!
//! # Clients
//!
//! The shared configuration is loaded once by [`SdkAwsBuilder::load`]. One SDK client per
//! (service, region) is made on the first call to that service in that region and reused after
//! (clients are cheap to clone: they share connections, credentials and retry state).
//!
//! # Pagination and errors
//!
//! Listings are read to the end with the SDK paginators (`DescribeAutoScalingGroups`,
//! `DescribeLaunchTemplateVersions`). Every SDK error becomes an [`AwsError`](amikeeper::AwsError)
//! in one place, [`error::from_sdk_error`], which keeps the service, operation, AWS's code and
//! message, and sorts it into an [`AwsErrorKind`](amikeeper::AwsErrorKind).
//!
//! # TLS
//!
//! HTTPS is hyper 1 with rustls (the SDK's `default-https-client`, aws-lc-rs crypto) and the
//! platform's root certificates; no OpenSSL.
//!
//! # Testing
//!
//! The feature `test-util` (which turns on the core's `test-util`) adds `testing`: `MotoServer`, a private `moto_server` (an AWS
//! emulator) per test on loopback, and `MotoFixture`, the core's conformance fixture over it.
//! This crate's `tests/moto.rs` runs every conformance scenario (`amikeeper::conformance_tests!`) and the error mapping against
//! it; `scripts/setup-python.sh` installs the pinned moto into the clone's `.venv`.
#![deny(missing_docs)]

mod autoscaling;
mod client;
mod cloudformation;
mod ec2;
pub mod error;
mod events;
mod imagebuilder;
mod rbin;
mod retries;
mod ssm;
mod sts;
#[cfg(feature = "test-util")]
pub mod testing;
mod throttles;

pub use client::{
    ParseRetryModeError, RetryMode, SdkAws, SdkAwsBuilder, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_ATTEMPTS,
    DEFAULT_OPERATION_ATTEMPT_TIMEOUT, DEFAULT_OPERATION_TIMEOUT, SWEEP_OPERATION_ATTEMPT_TIMEOUT,
    SWEEP_OPERATION_TIMEOUT,
};

/// `aws-config`, re-exported for [`SdkAwsBuilder::customize`] and [`SdkAws::from_sdk_config`].
pub use aws_config;
