//! Reading one place: the pointers of each rule's targets there, and the AMIs they name.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use super::{ImageStatus, PointerImageState, PointerStatus, StatusError};
use crate::backend::Aws;
use crate::config::{Config, Kinds};
use crate::kinds::found::FindContext;
use crate::model::{Image, ImageId, ImageState, Region, COPIED_FROM_TAG};
use crate::protect::is_amikeepers;

named_enum! {
    /// What an account and region is to the rules read there.
    pub enum PlaceRole {
        /// The home region: where the rules publish first.
        Home = "home",
        /// A `copy_to` destination of the rules.
        Copy = "copy",
        /// A `[[fleet]]` account and region.
        Fleet = "fleet",
    }
}

/// An account and region to read, and the rules whose pointers live there.
pub struct Place<'a> {
    /// The account.
    pub aws: &'a dyn Aws,
    /// Its id (empty when unknown).
    pub account: String,
    /// The region.
    pub region: Region,
    /// What it is to the rules.
    pub role: PlaceRole,
    /// The rules read there, by index in the configuration.
    pub rules: Vec<usize>,
}

/// Every pointer of `place`'s rules there, each with the AMI it names as EC2 describes it at
/// `now`. A target whose pointers cannot be listed or read, or an AMI that cannot be described,
/// is an error, and its pointers are left out: never reported as missing.
pub async fn gather<T: Kinds>(
    config: &Config<T>,
    place: &Place<'_>,
    now: OffsetDateTime,
) -> (Vec<PointerStatus>, Vec<StatusError>) {
    let (mut pointers, mut errors) = (Vec::new(), Vec::new());
    let error = |what: String, error: String| StatusError {
        account: place.account.clone(),
        region: place.region.clone(),
        what,
        error,
    };
    let account = (!place.account.is_empty()).then_some(place.account.as_str());
    let mut images: BTreeMap<ImageId, Option<Image>> = BTreeMap::new();
    for rule in place.rules.iter().map(|&i| &config.rules[i]) {
        let ctx = FindContext {
            aws: place.aws,
            region: &place.region,
            rule: &rule.name,
            account,
            allowed_prefixes: &config.allowed_name_prefixes,
        };
        for (index, target) in rule.targets.iter().map(Kinds::target).enumerate() {
            let what = format!("rule {} target {index} ({})", rule.name, target.kind());
            let found = match target.find_pointers(&ctx).await {
                Ok(found) => found,
                Err(e) => {
                    errors.push(error(format!("the pointers of {what}"), e.to_string()));
                    continue;
                }
            };
            for pointer in found {
                let image = match &pointer.image_id {
                    None => None,
                    Some(id) if images.contains_key(id) => Some(image_status(id, images[id].as_ref(), now)),
                    Some(id) => match place.aws.describe_image(&place.region, id).await {
                        Ok(described) => {
                            let status = image_status(id, described.as_ref(), now);
                            images.insert(id.clone(), described);
                            Some(status)
                        }
                        Err(e) => {
                            errors.push(error(
                                format!("{id}, named by {} {}", target.kind(), pointer.name),
                                e.to_string(),
                            ));
                            continue;
                        }
                    },
                };
                pointers.push(PointerStatus {
                    rule: rule.name.clone(),
                    account: place.account.clone(),
                    region: place.region.clone(),
                    place: place.role,
                    kind: target.kind(),
                    name: pointer.name,
                    target: index,
                    found_by: pointer.found_by,
                    exists: pointer.exists,
                    image_id: pointer.image_id,
                    image,
                    last_moved: pointer.last_moved,
                    stack: pointer.stack,
                    protect: target.protect().unwrap_or(config.protect_published),
                });
            }
        }
    }
    (pointers, errors)
}

/// What status says of AMI `id`, described as `image` (`None`: EC2 no longer knows it) at `now`.
fn image_status(id: &ImageId, image: Option<&Image>, now: OffsetDateTime) -> ImageStatus {
    let Some(image) = image else {
        return ImageStatus {
            id: id.clone(),
            name: String::new(),
            created: None,
            age_days: None,
            state: PointerImageState::Deregistered,
            protected: false,
            copied_from: None,
            rejected: None,
        };
    };
    let state = match image.state {
        ImageState::Available if image.deprecated_at.is_some_and(|at| at <= now) => PointerImageState::Deprecated,
        ImageState::Available => PointerImageState::Available,
        ImageState::Pending => PointerImageState::Pending,
        ImageState::Disabled => PointerImageState::Disabled,
        ImageState::Deregistered => PointerImageState::Deregistered,
        ImageState::Failed | ImageState::Other => PointerImageState::Failed,
    };
    ImageStatus {
        id: id.clone(),
        name: image.name.clone(),
        created: Some(image.created),
        age_days: Some((now - image.created).whole_days()),
        state,
        protected: is_amikeepers(image),
        copied_from: image.tags.get(COPIED_FROM_TAG).cloned(),
        rejected: crate::reject::Rejection::of(image),
    }
}
