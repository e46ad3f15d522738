//! The one error type of amikeeper, with a variant per kind of failure.

use std::fmt;

use serde::Serialize;

use crate::events::EventError;

/// A malformed or inconsistent configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration {path}: {source}")]
    Io {
        /// The path given.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The text is not valid TOML or JSON for this schema.
    #[error("invalid {format} configuration: {message}")]
    Parse {
        /// `TOML` or `JSON`.
        format: &'static str,
        /// What the parser said, with the line where it knows it.
        message: String,
    },
    /// The configuration parses but does not make sense.
    #[error("invalid configuration at {at}: {reason}")]
    Invalid {
        /// Where: e.g. `rules[0].targets[1].name`.
        at: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
}

/// Everything that can go wrong in amikeeper.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The event was malformed or of a kind amikeeper does not handle.
    #[error(transparent)]
    Event(#[from] EventError),
    /// The configuration was malformed or inconsistent.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// An AWS call failed.
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// A resource amikeeper was asked to act on does not exist.
    #[error("{kind} `{name}` not found in {region}")]
    NotFound {
        /// What kind of resource: `SSM parameter`, `launch template`, ...
        kind: &'static str,
        /// Its name or id.
        name: String,
        /// The region looked in.
        region: String,
    },
    /// A value amikeeper read from AWS cannot be used (e.g. an SSM parameter that should hold a
    /// launch template id holds something else). The message never quotes a SecureString.
    #[error("{what}: {reason}")]
    Unusable {
        /// Where the value came from, e.g. `SSM parameter /app/launch-template-id`.
        what: String,
        /// Why it cannot be used.
        reason: String,
    },
}

impl Error {
    /// Whether this is the caller's fault (bad event or configuration): the CLI exits 2.
    pub fn is_bad_input(&self) -> bool {
        matches!(self, Self::Event(_) | Self::Config(_))
    }

    /// The AWS error, when an AWS call failed.
    pub fn as_aws(&self) -> Option<&AwsError> {
        match self {
            Self::Aws(error) => Some(error),
            _ => None,
        }
    }
}

/// A shorthand for results with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of AWS failure happened; decides whether a retry may help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AwsErrorKind {
    /// The request was throttled (`Throttling`, `RequestLimitExceeded`, ...): retry later.
    Throttling,
    /// The service failed (HTTP 5xx): retry may help.
    Server,
    /// No answer in time: retry may help.
    Timeout,
    /// The resource does not exist.
    NotFound,
    /// The service refused the request as it was made (validation, limits, permissions).
    Client,
}

impl AwsErrorKind {
    /// Whether a retry of the same request may succeed.
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Throttling | Self::Server | Self::Timeout)
    }
}

/// A failed AWS call, with the service, the operation and AWS's own error code kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[non_exhaustive]
pub struct AwsError {
    /// The service, e.g. `ssm`.
    pub service: String,
    /// The operation, e.g. `PutParameter`.
    pub operation: String,
    /// AWS's error code, e.g. `ParameterNotFound` or `ThrottlingException`.
    pub code: String,
    /// AWS's message.
    pub message: String,
    /// The kind of failure.
    pub kind: AwsErrorKind,
    /// Temporary, but the retries already ran out: whoever retries calls (the backend itself,
    /// like the AWS SDK, or amikeeper's retry layer, [`crate::backend::RetryPolicy`]) tried
    /// it as often as its policy allows, so no layer above tries it again. Serialized only
    /// when set. The model is OpenDAL's `ErrorStatus::Persistent`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub retries_exhausted: bool,
}

impl AwsError {
    /// Builds an error.
    pub fn new(
        service: impl Into<String>,
        operation: impl Into<String>,
        kind: AwsErrorKind,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            service: service.into(),
            operation: operation.into(),
            code: code.into(),
            message: message.into(),
            kind,
            retries_exhausted: false,
        }
    }

    /// Whether a retry of the same request may succeed: the failure is temporary (throttling,
    /// a 5xx, a timeout). It may still have run out of retries: see
    /// [`retries_exhausted`](Self::retries_exhausted).
    pub fn is_retryable(&self) -> bool {
        self.kind.is_retryable()
    }

    /// Whether a retry layer may try the call again: the failure is temporary and its retries
    /// have not run out yet.
    pub fn may_retry(&self) -> bool {
        self.is_retryable() && !self.retries_exhausted
    }

    /// This error, marked as temporary but out of retries when it is temporary.
    pub fn out_of_retries(mut self) -> Self {
        self.retries_exhausted = self.is_retryable();
        self
    }
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{} failed with {}: {}", self.service, self.operation, self.code, self.message)
    }
}
