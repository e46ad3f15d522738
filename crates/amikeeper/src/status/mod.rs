//! `amikeeper status`: every pointer the configuration manages, in the home region, each
//! `copy_to` region and (with a fleet) each fleet account, read back with the AMI it names, and
//! the findings an operator is paged for (see [`FindingKind`]).
//!
//! `gather` reads (a failed read is an [`StatusError`], never a pointer taken for missing);
//! `findings` is pure. [`Keeper::status`](crate::keeper::Keeper::status) runs both.

mod findings;
mod gather;

use serde::Serialize;
use time::OffsetDateTime;

pub use crate::kinds::found::FoundBy;
use crate::model::{ImageId, Region};
pub use findings::findings;
pub use gather::{gather, Place, PlaceRole};

named_enum! {
    /// What state the AMI a pointer names is in.
    pub enum PointerImageState {
        /// `available`, and not deprecated.
        Available = "available",
        /// Still being made.
        Pending = "pending",
        /// `available`, but its deprecation time has passed.
        Deprecated = "deprecated",
        /// Disabled: it launches nothing.
        Disabled = "disabled",
        /// Deregistered, or EC2 no longer knows it.
        Deregistered = "deregistered",
        /// Failed, or a state EC2 calls `invalid`, `error` or `transient`.
        Failed = "failed",
    }
}

named_enum! {
    /// What a finding is about.
    pub enum FindingKind {
        /// The pointer names an AMI that is not `available` (or is gone), or names none.
        Dangling = "dangling",
        /// A `copy_to` region's pointer does not name the copy of the home pointer's AMI, and
        /// the home pointer moved longer ago than `[status] dr_max_lag_hours`.
        DrLag = "dr_lag",
        /// The pointer's AMI lacks amikeeper's deregistration protection although the target
        /// protects what it publishes.
        Unprotected = "unprotected",
        /// Pointers of one rule in one account and region name different AMIs.
        Disagree = "disagree",
        /// The pointer names a rejected AMI (`amikeeper:rejected`): `amikeeper revoke` moves it
        /// back.
        Rejected = "rejected",
    }
}

/// The AMI a pointer names, as EC2 describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ImageStatus {
    /// The AMI.
    pub id: ImageId,
    /// Its name (empty when EC2 no longer knows it).
    pub name: String,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339::option")]
    pub created: Option<OffsetDateTime>,
    /// Whole days since it was created.
    pub age_days: Option<i64>,
    /// Its state.
    pub state: PointerImageState,
    /// Whether amikeeper's deregistration protection is on (on without a cooldown, and
    /// claimed by amikeeper's tag).
    pub protected: bool,
    /// Its `amikeeper:copied-from` tag: `<region>/<ami>` or `<account>/<region>/<ami>`.
    pub copied_from: Option<String>,
    /// Its rejection (`amikeeper:rejected`), when it is rejected.
    pub rejected: Option<crate::reject::Rejection>,
}

/// One pointer, read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PointerStatus {
    /// The rule whose target it is.
    pub rule: String,
    /// The account it lives in (empty when unknown).
    pub account: String,
    /// The region.
    pub region: Region,
    /// What the place is to the rule: its home region, a `copy_to` destination, a fleet account.
    pub place: PlaceRole,
    /// The kind, e.g. `ssm_parameter`.
    pub kind: &'static str,
    /// The pointer's name, as the rollback command line writes it.
    pub name: String,
    /// Which target of the rule (0-based).
    pub target: usize,
    /// How it was found.
    pub found_by: FoundBy,
    /// Whether it exists.
    pub exists: bool,
    /// The AMI it names.
    pub image_id: Option<ImageId>,
    /// That AMI, when EC2 was asked (`None` when the pointer names none).
    pub image: Option<ImageStatus>,
    /// When the pointer last moved, when AWS says.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_moved: Option<OffsetDateTime>,
    /// The CloudFormation stack that owns it.
    pub stack: Option<String>,
    /// Whether the target protects the AMIs it publishes.
    pub protect: bool,
}

/// Something wrong with a pointer, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Finding {
    /// What.
    pub kind: FindingKind,
    /// The rule.
    pub rule: String,
    /// The account.
    pub account: String,
    /// The region.
    pub region: Region,
    /// The pointer's kind.
    pub pointer_kind: &'static str,
    /// The pointer's name.
    pub pointer: String,
    /// Why, for a person.
    pub reason: String,
}

/// A read that failed: status cannot say what the pointers there name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct StatusError {
    /// The account (empty when unknown).
    pub account: String,
    /// The region.
    pub region: Region,
    /// What was being read.
    pub what: String,
    /// AWS's error.
    pub error: String,
}

/// What `amikeeper status` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct StatusReport {
    /// When the report was made.
    #[serde(with = "time::serde::rfc3339")]
    pub generated_at: OffsetDateTime,
    /// Every pointer found, by place, rule and target.
    pub pointers: Vec<PointerStatus>,
    /// What is wrong.
    pub findings: Vec<Finding>,
    /// What could not be read (the pointers there are not in `pointers`).
    pub errors: Vec<StatusError>,
    /// The AWS calls made.
    pub aws_calls: usize,
}

named_enum! {
    /// A status report's verdict, for exit codes.
    pub enum StatusVerdict {
        /// Everything was read, nothing found.
        Ok = "ok",
        /// Everything was read, and something is wrong.
        Findings = "findings",
        /// Something could not be read.
        Failed = "failed",
    }
}

impl StatusReport {
    /// Failed when a read failed (whatever was found), else whether anything was found.
    pub fn verdict(&self) -> StatusVerdict {
        if !self.errors.is_empty() {
            StatusVerdict::Failed
        } else if !self.findings.is_empty() {
            StatusVerdict::Findings
        } else {
            StatusVerdict::Ok
        }
    }
}
