//! `[revoke]`: what `amikeeper revoke` does to the AMI it revokes, beyond rejecting it (and,
//! by being there, that the IAM policy grants revoke's calls).

use serde::{Deserialize, Serialize};

/// `[revoke]`: a revoked AMI (and each copy) is always marked rejected and deprecated now;
/// with `disable = true` it is also disabled (`DisableImage`: nothing launches from it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeConfig {
    /// Also disable the revoked AMI and its copies, once no pointer names them (default false:
    /// a disabled AMI launches nothing, not even for whoever still names it by hand).
    #[serde(default)]
    pub disable: bool,
}

#[cfg(test)]
mod tests {
    use crate::Config;

    #[test]
    fn disable_defaults_to_false_and_unknown_fields_are_refused() {
        let base = "accounts = [\"111122223333\"]\n[[rules]]\nname = \"web\"\n[[rules.targets]]\nkind = \"ssm_parameter\"\nname = \"/ami/web\"\n";
        assert_eq!(Config::from_toml(base).unwrap().revoke, None);
        let empty = Config::from_toml(&format!("{base}[revoke]\n")).unwrap();
        assert_eq!(empty.revoke, Some(super::RevokeConfig { disable: false }));
        let disable = Config::from_toml(&format!("{base}[revoke]\ndisable = true\n")).unwrap();
        assert!(disable.revoke.is_some_and(|r| r.disable));
        let error = Config::from_toml(&format!("{base}[revoke]\ndisabled = true\n")).unwrap_err();
        assert!(error.to_string().contains("disabled"), "{error}");
    }
}
