//! ARNs: their parts, and the EC2 resources (instances, images) they name.

use super::ids::IdKind;
use super::json::{quote, At};
use super::EventError;
use crate::model::ImageId;

/// An EC2 resource named by an ARN: its id and the ARN's region and account (either may be
/// empty).
pub(super) struct Ec2Resource<'a, Id> {
    pub(super) id: Id,
    pub(super) region: &'a str,
    pub(super) account: &'a str,
}

/// The instance of `arn:aws:ec2:REGION:ACCOUNT:instance/i-...`; `None` for other resources.
pub(super) fn instance_from_arn<'v>(
    at: &At<'_>,
    v: &'v serde_json::Value,
    path: &str,
) -> Result<Option<Ec2Resource<'v, String>>, EventError> {
    let Some(arn) = at.opt_str(v, path)? else {
        return Ok(None);
    };
    let parsed = Arn::parse(arn).ok_or_else(|| at.bad(path, not_an_arn(arn)))?;
    match (parsed.service, parsed.resource.strip_prefix("instance/")) {
        ("ec2", Some(id)) => Ok(Some(Ec2Resource {
            id: at.id(path, id, IdKind::Instance)?,
            region: parsed.region,
            account: parsed.account,
        })),
        _ => Ok(None),
    }
}

/// The image of `arn:aws:ec2:REGION::image/ami-...`, with the ARN's region and account; `None`
/// for other recovery points (snapshots, vaults, other services).
pub(super) fn image_from_arn<'a>(
    at: &At<'_>,
    path: &str,
    arn: &'a str,
) -> Result<Option<Ec2Resource<'a, ImageId>>, EventError> {
    let parsed = Arn::parse(arn).ok_or_else(|| at.bad(path, not_an_arn(arn)))?;
    match (parsed.service, parsed.resource.strip_prefix("image/")) {
        ("ec2", Some(id)) => {
            Ok(Some(Ec2Resource { id: at.image_id(path, id)?, region: parsed.region, account: parsed.account }))
        }
        _ => Ok(None),
    }
}

/// The message for a field that is not an ARN.
pub(super) fn not_an_arn(value: &str) -> String {
    format!("must be an ARN (`arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`), received `{}`", quote(value))
}

/// An ARN split into its parts; `resource` keeps any further `:` and `/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Arn<'a> {
    pub(super) service: &'a str,
    pub(super) region: &'a str,
    pub(super) account: &'a str,
    pub(super) resource: &'a str,
}

impl<'a> Arn<'a> {
    pub(super) fn parse(value: &'a str) -> Option<Self> {
        let mut parts = value.splitn(6, ':');
        if parts.next()? != "arn" {
            return None;
        }
        let partition = parts.next()?;
        if !matches!(partition, "aws" | "aws-cn" | "aws-us-gov" | "aws-iso" | "aws-iso-b" | "aws-eusc") {
            return None;
        }
        let service = parts.next()?;
        let region = parts.next()?;
        let account = parts.next()?;
        let resource = parts.next()?;
        if service.is_empty() || resource.is_empty() {
            return None;
        }
        Some(Self { service, region, account, resource })
    }
}

/// The part after the last `/` (the whole string when there is none).
pub(super) fn last_segment(value: &str) -> &str {
    value.rsplit('/').next().unwrap_or(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns() {
        let arn = Arn::parse("arn:aws:ec2:ap-northeast-1::image/ami-0123456789abcdef0").unwrap();
        assert_eq!((arn.service, arn.region, arn.account), ("ec2", "ap-northeast-1", ""));
        assert_eq!(arn.resource, "image/ami-0123456789abcdef0");
        let arn = Arn::parse("arn:aws:backup:us-west-2:111122223333:backup-vault:aws/efs/vault").unwrap();
        assert_eq!(arn.resource, "backup-vault:aws/efs/vault");
        assert!(Arn::parse("arn:aws-cn:ec2:cn-north-1::image/ami-12345678").is_some());
        assert!(Arn::parse("arn:gcp:ec2:us-east-1::image/ami-12345678").is_none());
        assert!(Arn::parse("ami-0123456789abcdef0").is_none());
        assert!(Arn::parse("arn:aws:ec2:us-east-1").is_none());
        assert_eq!(last_segment("arn:aws:ec2::us-west-2:snapshot/snap-01234567"), "snap-01234567");
        assert_eq!(last_segment("no-slash"), "no-slash");
    }
}
