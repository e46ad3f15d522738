//! EC2's Allowed AMIs setting over the in-memory account: per region, a state (`disabled`,
//! `audit-mode`, `enabled`) and image criteria, which `DescribeImages` applies as EC2 does.
//!
//! As in EC2 (API reference, `DescribeImages`, `EnableAllowedImagesSettings`):
//! - the account's own images are always allowed;
//! - another account's image is allowed when it meets any criterion, that is every part of it
//!   that is set: its owner is one of the providers (a 12-digit account id; `amazon`,
//!   `aws-marketplace` and `aws-backup-vault` match no image here, because the in-memory
//!   account has no images of those providers, and `none` allows only the account's own), its
//!   name matches one of the names (`*` and `?` wildcards), it has one of the Marketplace product
//!   codes (images here have none), it was created at most `max_days_since_created` days ago,
//!   and it was deprecated (if it is) at most `max_days_since_deprecated` days ago;
//! - `ImageAllowed` is reported only while the setting is `audit-mode` or `enabled`, and while
//!   it is `enabled` an image that is not allowed is not shown at all.

use time::{Duration, OffsetDateTime};

use crate::error::AwsErrorKind;
use crate::model::{AccountId, AllowedImagesSettings, AllowedImagesState, Image, ImageCriterion, Region};

use super::{aws_error, ops, IntoRegion, MemoryAws, World};

impl MemoryAws {
    /// Sets the Allowed AMIs state of `region` (`EnableAllowedImagesSettings` with `enabled`
    /// or `audit-mode`, or `DisableAllowedImagesSettings`); the criteria are kept.
    pub fn set_allowed_images_state(&self, region: impl IntoRegion, state: AllowedImagesState) {
        let region = region.into_region();
        self.with_world(|world| world.region(&region).allowed_images.state = state);
    }

    /// Replaces the Allowed AMIs criteria of `region`
    /// (`ReplaceImageCriteriaInAllowedImagesSettings`); the state is kept.
    pub fn replace_image_criteria(&self, region: impl IntoRegion, criteria: Vec<ImageCriterion>) {
        let region = region.into_region();
        self.with_world(|world| world.region(&region).allowed_images.image_criteria = criteria);
    }

    /// Makes `GetAllowedImagesSettings` fail with this client error code (e.g.
    /// `UnauthorizedOperation`, for a caller without `ec2:GetAllowedImagesSettings`, or
    /// `InvalidAction`, as in a region or partition without the API); `None` makes it answer.
    pub fn set_allowed_images_settings_error(&self, code: Option<&str>) {
        self.with_world(|world| world.allowed_images_error = code.map(str::to_owned));
    }
}

/// `GetAllowedImagesSettings`.
pub(super) fn get(world: &mut World, region: &Region) -> Result<AllowedImagesSettings, crate::AwsError> {
    let op = ops::GET_ALLOWED_IMAGES_SETTINGS;
    if let Some(code) = world.allowed_images_error.clone() {
        let message = match code.as_str() {
            "UnauthorizedOperation" => "You are not authorized to perform this operation.".to_owned(),
            "InvalidAction" => format!("The action {op} is not valid for this web service."),
            _ => format!("{op} failed"),
        };
        return Err(aws_error(op, AwsErrorKind::Client, &code, message));
    }
    let mut settings = world.region(region).allowed_images.clone();
    settings.managed_by = Some("account".to_owned());
    Ok(settings)
}

/// The image as `DescribeImages` in `region` shows it to `account`: with `ImageAllowed` while
/// the setting is on, and `None` (not shown) while it is `enabled` and the image is not allowed.
pub(super) fn shown(world: &mut World, region: &Region, mut image: Image) -> Option<Image> {
    let account = world.account.clone();
    let now = world.now;
    let settings = &world.region(region).allowed_images;
    let allowed = is_allowed(settings, &account, &image, now);
    match settings.state {
        AllowedImagesState::Disabled => image.allowed = None,
        AllowedImagesState::Enabled | AllowedImagesState::Other if !allowed => return None,
        _ => image.allowed = Some(allowed),
    }
    Some(image)
}

/// Whether `image` is allowed for `account` by the criteria (whatever the state).
fn is_allowed(settings: &AllowedImagesSettings, account: &AccountId, image: &Image, now: OffsetDateTime) -> bool {
    image.owner == *account || settings.image_criteria.iter().any(|criterion| meets(criterion, image, now))
}

fn meets(criterion: &ImageCriterion, image: &Image, now: OffsetDateTime) -> bool {
    let provider = criterion.image_providers.is_empty()
        || criterion.image_providers.iter().any(|provider| provider == image.owner.as_str());
    let name = criterion.image_names.is_empty() || criterion.image_names.iter().any(|p| wildcard(p, &image.name));
    let product = criterion.marketplace_product_codes.is_empty();
    let created =
        criterion.max_days_since_created.is_none_or(|days| now - image.created <= Duration::days(i64::from(days)));
    let deprecated = criterion.max_days_since_deprecated.is_none_or(|days| match image.deprecated_at {
        Some(at) if at <= now => now - at <= Duration::days(i64::from(days)),
        _ => true,
    });
    provider && name && product && created && deprecated
}

/// Whether `text` matches `pattern`, where `*` is any run of characters and `?` any one.
fn wildcard(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    // matches[j]: whether pattern[..i] matches text[..j], row by row.
    let mut matches = vec![false; text.len() + 1];
    matches[0] = true;
    for p in &pattern {
        let mut next = vec![false; text.len() + 1];
        if *p == '*' {
            let mut any = false;
            for j in 0..=text.len() {
                any |= matches[j];
                next[j] = any;
            }
        } else {
            for j in 1..=text.len() {
                next[j] = matches[j - 1] && (*p == '?' || *p == text[j - 1]);
            }
        }
        matches = next;
    }
    matches[text.len()]
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::backend::Ec2Api;
    use crate::memory::ImageSeed;

    #[test]
    fn wildcards() {
        assert!(wildcard("golden-*", "golden-2026"));
        assert!(wildcard("g?lden-*", "golden-"));
        assert!(wildcard("*", ""));
        assert!(!wildcard("golden-*", "silver-1"));
        assert!(!wildcard("golden-?", "golden-12"));
    }

    /// A shared image of another account, as this account sees it.
    async fn shared() -> (Arc<MemoryAws>, Arc<MemoryAws>, Region, crate::model::ImageId) {
        let region = Region::from("eu-west-1");
        let me = Arc::new(MemoryAws::new("111122223333"));
        let other = Arc::new(MemoryAws::new("444455556666"));
        let image = other.add_image(&region, ImageSeed::new("golden-1").id("ami-0900000000000beef"));
        other.share_image(&region, &image, me.account_id()).await.unwrap();
        me.add_sharing_account(&other);
        (me, other, region, image)
    }

    #[tokio::test]
    async fn describe_images_applies_the_setting() {
        let (me, _other, region, image) = shared().await;
        let own = me.add_image(&region, ImageSeed::new("own-1"));
        let seen = |id| {
            let me = me.clone();
            let region = region.clone();
            async move { me.describe_image(&region, &id).await.unwrap().map(|i| i.allowed) }
        };
        // Disabled (the default): shown, no ImageAllowed.
        assert_eq!(seen(image.clone()).await, Some(None));
        let settings = me.get_allowed_images_settings(&region).await.unwrap();
        assert_eq!(settings.state, AllowedImagesState::Disabled);

        me.set_allowed_images_state(&region, AllowedImagesState::AuditMode);
        assert_eq!(seen(image.clone()).await, Some(Some(false)));
        assert_eq!(seen(own.clone()).await, Some(Some(true)), "own images are always allowed");

        me.set_allowed_images_state(&region, AllowedImagesState::Enabled);
        assert_eq!(seen(image.clone()).await, None, "hidden while enabled");
        assert_eq!(seen(own.clone()).await, Some(Some(true)));

        let by_owner = ImageCriterion { image_providers: vec!["444455556666".into()], ..Default::default() };
        me.replace_image_criteria(&region, vec![by_owner]);
        assert_eq!(seen(image.clone()).await, Some(Some(true)));
        // Every part of a criterion must match; any criterion may.
        let narrow = ImageCriterion {
            image_providers: vec!["444455556666".into()],
            image_names: vec!["silver-*".into()],
            ..Default::default()
        };
        me.replace_image_criteria(&region, vec![narrow.clone()]);
        assert_eq!(seen(image.clone()).await, None);
        let by_name = ImageCriterion { image_names: vec!["golden-*".into()], ..Default::default() };
        me.replace_image_criteria(&region, vec![narrow, by_name]);
        assert_eq!(seen(image.clone()).await, Some(Some(true)));
        // `none`: only the account's own.
        me.replace_image_criteria(
            &region,
            vec![ImageCriterion { image_providers: vec!["none".into()], ..Default::default() }],
        );
        assert_eq!(seen(image.clone()).await, None);
        // Criteria of one region do not apply in another.
        assert!(me.describe_own_images(&Region::from("us-east-1")).await.unwrap().is_empty());
        let settings = me.get_allowed_images_settings(&region).await.unwrap();
        assert_eq!((settings.state, settings.image_criteria.len()), (AllowedImagesState::Enabled, 1));
    }

    #[tokio::test]
    async fn age_conditions() {
        let (me, _other, region, image) = shared().await;
        me.set_allowed_images_state(&region, AllowedImagesState::AuditMode);
        let young = ImageCriterion { max_days_since_created: Some(30), ..Default::default() };
        me.replace_image_criteria(&region, vec![young]);
        let allowed = |me: Arc<MemoryAws>, region: Region, image: crate::model::ImageId| async move {
            me.describe_image(&region, &image).await.unwrap().unwrap().allowed
        };
        assert_eq!(allowed(me.clone(), region.clone(), image.clone()).await, Some(true));
        me.advance(Duration::days(31));
        assert_eq!(allowed(me.clone(), region.clone(), image.clone()).await, Some(false));
    }

    #[tokio::test]
    async fn the_settings_call_can_be_denied() {
        let me = MemoryAws::new("111122223333");
        let region = Region::from("eu-west-1");
        me.set_allowed_images_settings_error(Some("UnauthorizedOperation"));
        let error = me.get_allowed_images_settings(&region).await.unwrap_err();
        assert_eq!((error.code.as_str(), error.kind), ("UnauthorizedOperation", AwsErrorKind::Client));
        assert_eq!(me.call_count("ec2:GetAllowedImagesSettings"), 1);
        me.set_allowed_images_settings_error(None);
        assert!(me.get_allowed_images_settings(&region).await.is_ok());
    }
}
