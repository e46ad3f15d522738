//! The ids amikeeper checks once, where they come in: AMI ids, regions and account ids.
//!
//! Each is a newtype of a shared string (`Arc<str>`), so that a clone (a plan's decision names
//! its image, a million times for a million images) costs a reference count, not an
//! allocation. Input (an event, the configuration, a command line) is checked by
//! [`str::parse`] ([`FromStr`]), which fails with an [`IdError`]; `new` and `From` wrap a value
//! unchecked, for what AWS itself returned (or a test wrote).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// What an id was meant to be, in an [`IdError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IdKind {
    /// An AMI id ([`ImageId`]).
    Image,
    /// A region ([`Region`]).
    Region,
    /// An account id ([`AccountId`]).
    Account,
}

impl IdKind {
    /// The form an id of this kind takes, as error messages say it.
    pub fn form(self) -> &'static str {
        match self {
            Self::Image => "an AMI id (`ami-` and 8 or 17 lowercase hex digits)",
            Self::Region => "a region such as ap-northeast-3",
            Self::Account => "a 12-digit AWS account id",
        }
    }
}

/// A string that is not the id it was meant to be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not {}", kind.form())]
#[non_exhaustive]
pub struct IdError {
    /// What the string was meant to be.
    pub kind: IdKind,
    /// The string.
    pub value: String,
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:expr, $is_valid:path) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Wraps a string unchecked: for a value AWS itself returned. Check input with
            /// [`str::parse`] instead.
            pub fn new(value: impl Into<String>) -> Self {
                Self(Arc::from(value.into()))
            }
            /// The string form.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            /// Checks the string's form.
            fn from_str(value: &str) -> Result<Self, IdError> {
                if $is_valid(value) {
                    Ok(Self::new(value))
                } else {
                    Err(IdError { kind: $kind, value: value.to_owned() })
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        /// Unchecked, like [`new`](Self::new).
        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(Arc::from(value))
            }
        }

        /// Unchecked, like [`new`](Self::new).
        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self(Arc::from(value))
            }
        }
    };
}

id_type!(
    /// An AMI id such as `ami-0123456789abcdef0`: `ami-` and 8 or 17 lowercase hex digits.
    ImageId,
    IdKind::Image,
    is_image_id
);
id_type!(
    /// An AWS region such as `ap-northeast-1`, `us-gov-west-1` or `cn-north-1`.
    Region,
    IdKind::Region,
    is_region
);
id_type!(
    /// A 12-digit AWS account id.
    AccountId,
    IdKind::Account,
    is_account
);

/// An EC2-style id: `prefix` then 8 or 17 lowercase hex digits.
pub(crate) fn is_ec2_id(prefix: &str, value: &str) -> bool {
    value.strip_prefix(prefix).is_some_and(|hex| {
        (hex.len() == 8 || hex.len() == 17) && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

fn is_image_id(value: &str) -> bool {
    is_ec2_id("ami-", value)
}

/// `us-east-1`, `ap-northeast-1`, `us-gov-west-1`, `cn-north-1`, `eusc-de-east-1`: 2 to 4
/// lowercase letters, one or more words of lowercase letters, and a number of 1 or 2 digits.
fn is_region(value: &str) -> bool {
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

fn is_account(value: &str) -> bool {
    value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_ids_regions_and_accounts_parse_only_in_their_form() {
        assert_eq!("ami-0123456789abcdef0".parse(), Ok(ImageId::new("ami-0123456789abcdef0")));
        assert!("ami-12345678".parse::<ImageId>().is_ok());
        for id in ["ami-123456789", "ami-0123456789ABCDEF0", "ami-0123456789abcdefg", "i-0123456789abcdef0", "ami-"] {
            assert!(id.parse::<ImageId>().is_err(), "{id}");
        }

        let regions = [
            "us-east-1",
            "ap-northeast-1",
            "ap-southeast-1",
            "us-gov-west-1",
            "cn-north-1",
            "eu-central-2",
            "il-central-1",
            "us-isob-east-1",
            "eusc-de-east-1",
        ];
        for region in regions {
            assert_eq!(region.parse::<Region>().as_ref().map(Region::as_str), Ok(region));
        }
        for region in ["", "us", "us-east", "US-EAST-1", "us-east-x", "us--1", "us-east-100", "tokyo", "-east-1"] {
            assert!(region.parse::<Region>().is_err(), "{region}");
        }

        assert!("111122223333".parse::<AccountId>().is_ok());
        assert!("11112222333".parse::<AccountId>().is_err());
        assert!("11112222333a".parse::<AccountId>().is_err());
    }

    #[test]
    fn an_id_error_names_the_form() {
        let error = "1112233445566".parse::<AccountId>().unwrap_err();
        assert_eq!(error, IdError { kind: IdKind::Account, value: "1112233445566".into() });
        assert_eq!(error.to_string(), "`1112233445566` is not a 12-digit AWS account id");
        assert_eq!(
            "tokyo".parse::<Region>().unwrap_err().to_string(),
            "`tokyo` is not a region such as ap-northeast-3"
        );
        assert_eq!(
            "ami-x".parse::<ImageId>().unwrap_err().to_string(),
            "`ami-x` is not an AMI id (`ami-` and 8 or 17 lowercase hex digits)"
        );
    }
}
