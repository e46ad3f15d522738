//! `[metrics]`: the CloudWatch embedded metric format records the Lambda functions print
//! (`crate::metrics`).

use serde::{Deserialize, Serialize};

use super::{invalid, ConfigError};

/// The namespace of amikeeper's metrics unless `[metrics] namespace` says otherwise.
pub const DEFAULT_NAMESPACE: &str = "amikeeper";

/// `[metrics]`: whether the Lambda functions (the Python `lambda_handler`, the Rust Lambda)
/// print CloudWatch embedded metric format records after each invocation, and their namespace.
/// The CLI never prints them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Print the records (default `true`).
    #[serde(default = "super::yes")]
    pub enabled: bool,
    /// The CloudWatch namespace (default [`DEFAULT_NAMESPACE`]).
    #[serde(default = "default_namespace")]
    pub namespace: String,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self { enabled: true, namespace: default_namespace() }
    }
}

fn default_namespace() -> String {
    DEFAULT_NAMESPACE.to_owned()
}

impl MetricsConfig {
    /// Whether the section is as it would be without one (it is then not printed back).
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// Checks the namespace against CloudWatch's rules (`PutMetricData`'s `Namespace`): 1 to 255
    /// ASCII letters, digits, spaces and `. - _ / # :`, not only spaces, and not `AWS/...`,
    /// which is AWS's own. CloudWatch would drop records with any other namespace unseen.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let namespace = &self.namespace;
        let allowed = |c: char| c.is_ascii_alphanumeric() || " .-_/#:".contains(c);
        let problem = if namespace.trim().is_empty() {
            Some("is empty: name a CloudWatch namespace, e.g. \"amikeeper\"".to_owned())
        } else if namespace.len() > 255 {
            Some(format!("is {} characters long; CloudWatch allows 255", namespace.len()))
        } else if let Some(c) = namespace.chars().find(|&c| !allowed(c)) {
            Some(format!("has {c:?}; CloudWatch allows ASCII letters, digits, spaces and . - _ / # :"))
        } else if namespace.starts_with("AWS/") {
            Some("starts with \"AWS/\", which CloudWatch keeps for AWS's own namespaces".to_owned())
        } else {
            None
        };
        match problem {
            Some(problem) => Err(invalid("metrics.namespace", format!("{namespace:?} {problem}"))),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_namespace_follows_cloudwatch_rules() {
        assert!(MetricsConfig::default().validate().is_ok());
        let with = |namespace: &str| MetricsConfig { namespace: namespace.into(), ..Default::default() };
        assert!(with("Platform/AMI keeper #1:prod").validate().is_ok());
        for bad in ["", "  ", "AWS/EC2", "amikeeper\u{e9}", "a,b", &"n".repeat(256)] {
            let error = with(bad).validate().unwrap_err();
            assert!(error.to_string().contains("metrics.namespace"), "{bad:?}: {error}");
        }
    }
}
