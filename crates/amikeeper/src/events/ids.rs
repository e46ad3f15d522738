//! The identifiers events carry: EC2-style ids and EventBridge rule names. AMI ids, regions and
//! accounts are the model's checked ids ([`crate::model::ImageId`] and the others).

use crate::model::is_ec2_id;

/// The kinds of EC2-style ids amikeeper checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum IdKind {
    Image,
    Instance,
    Snapshot,
    Volume,
    LaunchTemplate,
}

impl IdKind {
    pub(super) fn prefix(self) -> &'static str {
        match self {
            Self::Image => "ami-",
            Self::Instance => "i-",
            Self::Snapshot => "snap-",
            Self::Volume => "vol-",
            Self::LaunchTemplate => "lt-",
        }
    }

    pub(super) fn noun(self) -> &'static str {
        match self {
            Self::Image => "an AMI id",
            Self::Instance => "an instance id",
            Self::Snapshot => "a snapshot id",
            Self::Volume => "a volume id",
            Self::LaunchTemplate => "a launch template id",
        }
    }

    /// `prefix` then 8 or 17 lowercase hex digits.
    pub(super) fn is_valid(self, value: &str) -> bool {
        is_ec2_id(self.prefix(), value)
    }
}

/// EventBridge rule names: 1 to 64 of letters, digits, `.`, `-`, `_`.
pub(super) fn is_rule_name(value: &str) -> bool {
    (1..=64).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ec2_ids_and_rule_names() {
        assert!(IdKind::Image.is_valid("ami-0123456789abcdef0"));
        assert!(IdKind::Image.is_valid("ami-12345678"));
        assert!(!IdKind::Image.is_valid("ami-123456789"));
        assert!(!IdKind::Image.is_valid("ami-0123456789ABCDEF0"));
        assert!(!IdKind::Image.is_valid("ami-0123456789abcdefg"));
        assert!(!IdKind::Image.is_valid("i-0123456789abcdef0"));
        assert!(IdKind::Instance.is_valid("i-0123456789abcdef0"));
        assert!(IdKind::Snapshot.is_valid("snap-0123456789abcdef0"));
        assert!(IdKind::Volume.is_valid("vol-0123456789abcdef0"));
        assert!(IdKind::LaunchTemplate.is_valid("lt-0123456789abcdef0"));
        assert!(!IdKind::LaunchTemplate.is_valid("lt-"));

        assert!(is_rule_name("amikeeper-weekly_bake.v2"));
        assert!(!is_rule_name("has space"));
    }
}
