//! Allowed AMIs: whether an AMI a pointer is about to name can launch instances in the account.
//!
//! EC2's Allowed AMIs setting (per account and region) limits the AMIs that can be discovered
//! and launched to those that meet its criteria; the account's own AMIs are always allowed.
//! A pointer to an AMI that is not allowed makes every launch from it fail, so amikeeper
//! refuses to move a pointer to it while the setting is `enabled`, and publishes with a warning
//! while it is in `audit-mode` (launches work until the setting is enabled).
//!
//! What amikeeper reads, and why it asks no more than it needs:
//! - `DescribeImages` says of each AMI whether it is allowed (`ImageAllowed`) while the setting
//!   is on, and while it is `enabled` it does not show an AMI that is not allowed at all. So an
//!   AMI that EC2 shows without `ImageAllowed = false` can launch, and needs no other call.
//! - Only when EC2 says `ImageAllowed = false`, or does not show the AMI, does amikeeper call
//!   `GetAllowedImagesSettings` to tell `enabled` (refuse) from `audit-mode` (warn), or to say
//!   why an AMI it was told about is not shown.
//! - When that call fails (no `ec2:GetAllowedImagesSettings` permission, or a region or
//!   partition without the API) while EC2 says the AMI is not allowed, amikeeper cannot tell
//!   audit mode from enabled and refuses (it never guesses toward writing a pointer that may
//!   not launch); the reason names the error. A failure never blocks an AMI that EC2 does not
//!   flag: that would refuse every publish for a missing permission that changes nothing.

use crate::backend::Ec2Api;
use crate::error::AwsError;
use crate::model::{AllowedImagesState, Image, ImageId, Region};

/// What the Allowed AMIs setting says about moving a pointer to an AMI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing stands against it: the setting is off, or the AMI is allowed.
    Allowed,
    /// Publish, and carry this warning in the report (audit mode: launches will fail once the
    /// setting is enabled).
    Warn(String),
    /// Do not publish: launches from the AMI would fail. The reason says why.
    Refuse(String),
}

/// The verdict on `image`, as `DescribeImages` showed it in `region`. Calls
/// `GetAllowedImagesSettings` only when EC2 flagged the image (`ImageAllowed = false`). Fails
/// only with a retryable error of that call (throttling, 5xx, timeout), so that the caller
/// can fail the run and let it be retried; other errors make a refusal that names them.
pub async fn check(aws: &dyn Ec2Api, region: &Region, image: &Image) -> Result<Verdict, AwsError> {
    if image.allowed != Some(false) {
        return Ok(Verdict::Allowed);
    }
    let id = &image.id;
    let owner = &image.owner;
    let criteria = "does not meet the account's Allowed AMIs criteria";
    Ok(match aws.get_allowed_images_settings(region).await {
        Ok(settings) => match settings.state {
            AllowedImagesState::AuditMode => Verdict::Warn(format!(
                "{id} (owner {owner}) {criteria} in {region}, which are in audit mode: it is published, but \
                 launches from it will fail once Allowed AMIs is enabled"
            )),
            AllowedImagesState::Disabled => Verdict::Warn(format!(
                "EC2 reported {id} (owner {owner}) as not allowed, but Allowed AMIs now reads disabled in {region} \
                 (the setting changed meanwhile?); it is published, launches from it work while the setting stays \
                 disabled"
            )),
            AllowedImagesState::Enabled | AllowedImagesState::Other => Verdict::Refuse(format!(
                "{id} (owner {owner}) {criteria} in {region} (Allowed AMIs is {}): instances cannot launch from it, \
                 so no pointer is moved to it; allow its provider or name in the criteria, or use an AMI of this \
                 account",
                settings.state
            )),
        },
        Err(error) if error.is_retryable() => return Err(error),
        Err(error) => Verdict::Refuse(format!(
            "EC2 says {id} (owner {owner}) {criteria} in {region}, and the setting could not be read to tell audit \
             mode (launches work) from enabled (launches fail): {error}; nothing is written (grant \
             ec2:GetAllowedImagesSettings to publish in audit mode)"
        )),
    })
}

/// Why EC2 may not show `image_id` in `region`: `Some(reason)` when Allowed AMIs is enabled
/// there (it hides AMIs that do not meet the criteria, and launches from them fail), `None`
/// when it is not, or when the setting cannot be read (the AMI is then simply not found).
pub async fn hidden(aws: &dyn Ec2Api, region: &Region, image_id: &ImageId) -> Option<String> {
    match aws.get_allowed_images_settings(region).await {
        Ok(settings) if matches!(settings.state, AllowedImagesState::Enabled | AllowedImagesState::Other) => {
            Some(format!(
                "EC2 does not show {image_id} in {region}: Allowed AMIs is {} there and hides AMIs of other \
                 accounts that do not meet its criteria (or the AMI does not exist); instances cannot launch from \
                 it, so no pointer is moved to it",
                settings.state
            ))
        }
        Ok(_) => None,
        Err(error) => {
            tracing::debug!(%region, %image_id, %error, "Allowed AMIs setting not readable");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::MockEc2Api;
    use crate::error::AwsErrorKind;
    use crate::model::{AccountId, AllowedImagesSettings, ImageState, Tags};

    fn image(allowed: Option<bool>) -> Image {
        Image {
            id: ImageId::from("ami-0123456789abcdef0"),
            name: "golden".into(),
            description: None,
            state: ImageState::Available,
            created: time::OffsetDateTime::UNIX_EPOCH,
            owner: AccountId::from("444455556666"),
            tags: Tags::new(),
            snapshot_ids: Vec::new(),
            snapshot_sizes_gib: Default::default(),
            deprecated_at: None,
            deregistration_protected: false,
            deregistration_protection_cooldown: false,
            last_launched: None,
            allowed,
            source_image_id: None,
            source_image_region: None,
        }
    }

    fn settings(state: AllowedImagesState) -> AllowedImagesSettings {
        AllowedImagesSettings { state, ..Default::default() }
    }

    #[tokio::test]
    async fn an_image_ec2_does_not_flag_needs_no_call() {
        let aws = MockEc2Api::new(); // any call would panic
        let region = Region::from("eu-west-1");
        for allowed in [None, Some(true)] {
            assert_eq!(check(&aws, &region, &image(allowed)).await.unwrap(), Verdict::Allowed);
        }
    }

    #[tokio::test]
    async fn a_flagged_image_is_refused_when_enabled_and_warned_in_audit_mode() {
        let region = Region::from("eu-west-1");
        let verdict = |state: AllowedImagesState| {
            let region = region.clone();
            async move {
                let mut aws = MockEc2Api::new();
                aws.expect_get_allowed_images_settings().times(1).returning(move |_| Ok(settings(state)));
                check(&aws, &region, &image(Some(false))).await.unwrap()
            }
        };
        assert!(
            matches!(verdict(AllowedImagesState::Enabled).await, Verdict::Refuse(r) if r.contains("cannot launch"))
        );
        assert!(matches!(verdict(AllowedImagesState::Other).await, Verdict::Refuse(_)));
        assert!(matches!(verdict(AllowedImagesState::AuditMode).await, Verdict::Warn(w) if w.contains("audit mode")));
        assert!(matches!(verdict(AllowedImagesState::Disabled).await, Verdict::Warn(_)));
    }

    #[tokio::test]
    async fn an_unreadable_setting_refuses_a_flagged_image_and_retries_transient_errors() {
        let region = Region::from("eu-west-1");
        let mut aws = MockEc2Api::new();
        aws.expect_get_allowed_images_settings().times(1).returning(|_| {
            Err(AwsError::new("ec2", "GetAllowedImagesSettings", AwsErrorKind::Client, "UnauthorizedOperation", "no"))
        });
        let verdict = check(&aws, &region, &image(Some(false))).await.unwrap();
        assert!(matches!(verdict, Verdict::Refuse(r) if r.contains("UnauthorizedOperation")));

        let mut aws = MockEc2Api::new();
        aws.expect_get_allowed_images_settings().times(1).returning(|_| {
            Err(AwsError::new("ec2", "GetAllowedImagesSettings", AwsErrorKind::Throttling, "RequestLimitExceeded", ""))
        });
        assert!(check(&aws, &region, &image(Some(false))).await.unwrap_err().is_retryable());
    }
}
