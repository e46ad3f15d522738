//! `[status]`: what `amikeeper status` reports as a finding.

use serde::{Deserialize, Serialize};
use time::Duration;

/// `[status]`: the limits of `amikeeper status`'s findings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusConfig {
    /// How long a `copy_to` region's pointer may still name an older AMI than the home
    /// region's after the home pointer moved (default 24 hours): a copy takes a while, and
    /// publishing there waits for it. Longer, and status reports the pointer as `dr_lag`.
    #[serde(default = "default_dr_max_lag_hours")]
    pub dr_max_lag_hours: u32,
}

fn default_dr_max_lag_hours() -> u32 {
    24
}

impl Default for StatusConfig {
    fn default() -> Self {
        Self { dr_max_lag_hours: default_dr_max_lag_hours() }
    }
}

impl StatusConfig {
    /// [`dr_max_lag_hours`](Self::dr_max_lag_hours) as a duration.
    pub fn dr_max_lag(&self) -> Duration {
        Duration::hours(i64::from(self.dr_max_lag_hours))
    }
}

#[cfg(test)]
mod tests {
    use crate::Config;

    #[test]
    fn the_lag_defaults_to_a_day_and_unknown_fields_are_refused() {
        let base = "accounts = [\"111122223333\"]\n[[rules]]\nname = \"web\"\n[[rules.targets]]\nkind = \"ssm_parameter\"\nname = \"/ami/web\"\n";
        assert_eq!(Config::from_toml(base).unwrap().status.dr_max_lag(), time::Duration::hours(24));
        let set = Config::from_toml(&format!("{base}[status]\ndr_max_lag_hours = 6\n")).unwrap();
        assert_eq!(set.status.dr_max_lag_hours, 6);
        let typo = Config::from_toml(&format!("{base}[status]\ndr_max_lag = 6\n")).unwrap_err().to_string();
        assert!(typo.contains("dr_max_lag"), "{typo}");
    }
}
