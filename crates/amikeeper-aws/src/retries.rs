//! How often the SDK tries a call: [`RetryMode`], and what the environment and the shared
//! config file say about retries ([`ConfiguredRetries`]).

use std::fmt;
use std::str::FromStr;

/// The SDK's retry strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RetryMode {
    /// Exponential back-off with jitter, and a retry quota per client (the SDK's `standard`).
    #[default]
    Standard,
    /// `standard` plus a client-side rate limiter that slows every call of a client down once
    /// the service throttles it (the SDK's `adaptive`).
    Adaptive,
}

impl RetryMode {
    /// The mode's name: `standard` or `adaptive`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::Adaptive => "adaptive",
        }
    }
}

impl fmt::Display for RetryMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a [`RetryMode`] that is neither `standard` nor `adaptive`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseRetryModeError(String);

impl fmt::Display for ParseRetryModeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown retry mode `{}`: expected `standard` or `adaptive`", self.0)
    }
}

impl std::error::Error for ParseRetryModeError {}

impl FromStr for RetryMode {
    type Err = ParseRetryModeError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value.to_ascii_lowercase().as_str() {
            "standard" => Ok(Self::Standard),
            "adaptive" => Ok(Self::Adaptive),
            _ => Err(ParseRetryModeError(value.to_owned())),
        }
    }
}

/// What the environment and the shared config file say about retries: `AWS_MAX_ATTEMPTS` and
/// `AWS_RETRY_MODE`, else the selected profile's `max_attempts` and `retry_mode` (as the AWS
/// CLI and every SDK read them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ConfiguredRetries {
    pub(crate) max_attempts: Option<u32>,
    pub(crate) retry_mode: Option<RetryMode>,
}

impl ConfiguredRetries {
    /// Reads the process's environment and shared config files, for `profile` (else
    /// `AWS_PROFILE`, else `default`). Files that are missing or unreadable say nothing.
    pub(crate) async fn read(profile: Option<&str>) -> Self {
        use aws_runtime::env_config::file::EnvConfigFiles;
        use aws_types::os_shim_internal::{Env, Fs};
        let env = Env::real();
        let selected = profile.map(|p| std::borrow::Cow::Owned(p.to_owned()));
        let profiles = aws_config::profile::load(&Fs::real(), &env, &EnvConfigFiles::default(), selected).await.ok();
        let profile = profiles.as_ref().and_then(|set| set.get_profile(set.selected_profile()));
        Self::from_settings(|env_key, profile_key| {
            env.get(env_key).ok().or_else(|| profile.and_then(|p| p.get(profile_key)).map(str::to_owned))
        })
    }

    /// Reads the settings through `lookup` (an environment variable's name and the profile's
    /// key, to their value). A value that does not parse is ignored, with a warning: amikeeper's
    /// default applies then (`aws-config` would panic).
    fn from_settings(lookup: impl Fn(&str, &str) -> Option<String>) -> Self {
        let read = |env_key: &str, profile_key: &str| lookup(env_key, profile_key).filter(|v| !v.trim().is_empty());
        let max_attempts = read("AWS_MAX_ATTEMPTS", "max_attempts").and_then(|value| {
            let parsed = value.trim().parse::<u32>().ok().filter(|n| *n > 0);
            if parsed.is_none() {
                tracing::warn!(%value, "AWS_MAX_ATTEMPTS (or the profile's max_attempts) is not a positive number: ignored");
            }
            parsed
        });
        let retry_mode = read("AWS_RETRY_MODE", "retry_mode").and_then(|value| match value.trim() {
            // The AWS CLI's `legacy` mode has no counterpart in the Rust SDK; `standard` is its
            // successor.
            "legacy" => Some(RetryMode::Standard),
            other => other
                .parse()
                .map_err(|error| tracing::warn!(%error, "AWS_RETRY_MODE (or the profile's retry_mode) is ignored"))
                .ok(),
        });
        Self { max_attempts, retry_mode }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_comes_before_the_profile_and_bad_values_are_ignored() {
        let settings = |pairs: &'static [(&'static str, &'static str)]| {
            ConfiguredRetries::from_settings(move |env_key, profile_key| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == env_key)
                    .or_else(|| pairs.iter().find(|(k, _)| *k == profile_key))
                    .map(|(_, v)| (*v).to_owned())
            })
        };
        let env = settings(&[("AWS_MAX_ATTEMPTS", "2"), ("AWS_RETRY_MODE", "adaptive"), ("max_attempts", "9")]);
        assert_eq!(env, ConfiguredRetries { max_attempts: Some(2), retry_mode: Some(RetryMode::Adaptive) });
        let profile = settings(&[("max_attempts", "7"), ("retry_mode", "legacy")]);
        assert_eq!(profile, ConfiguredRetries { max_attempts: Some(7), retry_mode: Some(RetryMode::Standard) });
        let invalid = settings(&[("AWS_MAX_ATTEMPTS", "0"), ("AWS_RETRY_MODE", "fast")]);
        assert_eq!(invalid, ConfiguredRetries::default());
    }

    #[test]
    fn retry_mode_parses() {
        assert_eq!("standard".parse(), Ok(RetryMode::Standard));
        assert_eq!("Adaptive".parse(), Ok(RetryMode::Adaptive));
        assert!("legacy".parse::<RetryMode>().is_err());
        assert_eq!(RetryMode::Adaptive.to_string(), "adaptive");
    }
}
