//! amikeeper keeps every pointer to "the current AMI" right: SSM parameters, launch templates,
//! Auto Scaling groups and CloudFormation stack parameters, in every region, driven by the
//! events AWS emits when an AMI is made, copied or becomes available.
//!
//! The library is built on four traits:
//! - [`EventParser`](events::EventParser): payload bytes to typed [`AmiEvent`](events::AmiEvent)s;
//! - [`AmiResolver`](resolve::AmiResolver): an event to the image and the targets to update;
//! - [`Publisher`](publish::Publisher): moves one target to the image, safely;
//! - [`RetentionPolicy`](retain::RetentionPolicy): an inventory to a plan of what to delete.
//!
//! and on one trait per AWS service in [`backend`], implemented in memory by
//! [`MemoryAws`](memory::MemoryAws) and over the AWS SDK by the `amikeeper-aws` crate.
//!
//! [`Keeper`](keeper::Keeper) puts them together:
//!
//! ```
//! use std::sync::Arc;
//! use amikeeper::{Config, Keeper, MemoryAws};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let config = Config::from_toml(r#"
//!     accounts = ["111122223333"]
//!     [[rules]]
//!     name = "web"
//!     [rules.match]
//!     name_prefix = "web-"
//!     [[rules.targets]]
//!     kind = "ssm_parameter"
//!     name = "/ami/web"
//! "#).unwrap();
//! let aws = Arc::new(MemoryAws::new("111122223333"));
//! let keeper = Keeper::new(config, aws);
//! # });
//! ```
#![deny(missing_docs)]
// docs.rs (`--cfg docsrs`, crates/amikeeper/Cargo.toml) marks each feature-gated item with its feature.
#![cfg_attr(docsrs, feature(doc_cfg))]

#[macro_use]
mod macros;

pub mod allowed;
pub mod backend;
pub mod config;
#[cfg(feature = "test-util")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub mod conformance;
pub mod copy;
pub mod deadline;
pub mod error;
pub mod events;
#[cfg(feature = "html")]
#[cfg_attr(docsrs, doc(cfg(feature = "html")))]
pub mod html;
pub mod iam;
pub mod kinds;
pub mod memory;
pub mod metrics;
pub mod model;
pub mod names;
pub mod notify;
pub mod protect;
pub mod reject;

pub use config::Config;
pub use deadline::Deadline;
pub use error::{AwsError, AwsErrorKind, Error, Result};
pub use events::{parse_payload, AmiEvent, EventError, EventKind, EventParser, StandardEventParser};
pub use memory::MemoryAws;
pub mod keeper;
pub mod publish;
pub mod report;
pub mod resolve;
pub mod retain;
pub mod revoke;
pub mod rollback;
pub mod samples;
pub mod status;
pub mod template;
#[cfg(feature = "test-util")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub mod testing;

pub use keeper::{
    BakeOptions, FleetReport, HandleOptions, Invocation, InvokeError, InvokeOptions, Keeper, KeeperBuilder, RunReport,
    StatusOptions, Verdict,
};
pub use publish::Publisher;
pub use report::{Report, RunStatus};
pub use resolve::{AmiResolver, ConfigResolver};
pub use retain::{ConfiguredRetention, RetentionPolicy, SweepOptions, SweepReport, SweepStatus};

/// The crate README's examples (the package's README.md, shown on crates.io), run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
