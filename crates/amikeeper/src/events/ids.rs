//! The identifiers events carry: EC2-style ids, regions, accounts, EventBridge rule names.

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
        value.strip_prefix(self.prefix()).is_some_and(|hex| {
            (hex.len() == 8 || hex.len() == 17) && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        })
    }
}

/// `us-east-1`, `ap-northeast-1`, `us-gov-west-1`, `cn-north-1`, `eusc-de-east-1`.
pub(super) fn is_region(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    let [first, middle @ .., number] = parts.as_slice() else {
        return false;
    };
    value.len() <= 32
        && !middle.is_empty()
        && (2..=4).contains(&first.len())
        && first.bytes().all(|b| b.is_ascii_lowercase())
        && middle.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && (1..=2).contains(&number.len())
        && number.bytes().all(|b| b.is_ascii_digit())
}

pub(super) fn is_account(value: &str) -> bool {
    value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit())
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
    fn ids_regions_and_accounts() {
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

        for region in ["us-east-1", "ap-northeast-1", "ap-southeast-1", "us-gov-west-1", "cn-north-1", "eusc-de-east-1"]
        {
            assert!(is_region(region), "{region}");
        }
        for region in ["", "us", "us-east", "US-EAST-1", "us-east-x", "us--1", "us-east-100", "tokyo", "-east-1"] {
            assert!(!is_region(region), "{region}");
        }
        assert!(is_account("111122223333"));
        assert!(!is_account("11112222333"));
        assert!(!is_account("11112222333a"));
        assert!(is_rule_name("amikeeper-weekly_bake.v2"));
        assert!(!is_rule_name("has space"));
    }
}
