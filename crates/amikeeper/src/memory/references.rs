//! EC2's AMI reference check (`DescribeImageReferences`) over the in-memory account, and the
//! Image Builder recipes only it can see.

use crate::error::{AwsError, AwsErrorKind};
use crate::model::{ImageId, ImageReference, Region};

use super::{ops, IntoRegion, MemoryAws, World};

/// The most ids one call takes, as in EC2.
const MAX_IDS: usize = crate::backend::IMAGE_REFERENCES_PER_CALL;

impl MemoryAws {
    /// Adds an Image Builder image recipe whose parent image is `image_id`; returns its ARN.
    /// amikeeper sees recipes only through `DescribeImageReferences`.
    pub fn add_image_recipe(&self, region: impl IntoRegion, name: &str, image_id: &ImageId) -> String {
        let region = region.into_region();
        self.with_world(|world| {
            let arn = format!("arn:aws:imagebuilder:{region}:{}:image-recipe/{name}/1.0.0", world.account);
            world.region(&region).image_recipes.insert(arn.clone(), image_id.clone());
            arn
        })
    }

    /// Makes `DeregisterImage` with `DeleteAssociatedSnapshots` leave the image's snapshots, as
    /// EC2 does for a snapshot it could not delete (`client-error` in its result set).
    pub fn set_deregister_keeps_snapshots(&self, keeps: bool) {
        self.with_world(|world| world.deregister_keeps_snapshots = keeps);
    }

    /// Makes `DescribeImageReferences` exist or not, as in regions and partitions without it
    /// (where EC2 answers `InvalidAction`).
    pub fn set_image_references_available(&self, available: bool) {
        self.with_world(|world| world.image_references = available);
    }
}

/// The resources of `region` that name any of `image_ids`: instances that are not terminated,
/// launch templates (any version), SSM parameters anywhere, Image Builder recipes.
pub(super) fn describe(
    world: &mut World,
    region: &Region,
    image_ids: &[ImageId],
) -> Result<Vec<ImageReference>, AwsError> {
    let op = ops::DESCRIBE_IMAGE_REFERENCES;
    let refuse = |code: &str, message: String| {
        Err(AwsError::new("ec2", "DescribeImageReferences", AwsErrorKind::Client, code, message))
    };
    if !world.image_references {
        return refuse("InvalidAction", format!("The action {op} is not valid for this web service."));
    }
    if image_ids.is_empty() || image_ids.len() > MAX_IDS {
        return refuse("InvalidParameterValue", format!("give 1 to {MAX_IDS} image ids, not {}", image_ids.len()));
    }
    let account = world.account.clone();
    let state = world.region(region);
    let mut found = Vec::new();
    for image in image_ids {
        let reference = |resource_type: &str, arn: String| ImageReference {
            image_id: image.clone(),
            resource_type: resource_type.to_owned(),
            arn,
        };
        for (id, instance) in &state.instances {
            if instance.state != "terminated" && instance.image_id.as_ref() == Some(image) {
                found.push(reference("ec2:Instance", format!("arn:aws:ec2:{region}:{account}:instance/{id}")));
            }
        }
        for (id, template) in &state.templates {
            if template.launches(image) {
                found.push(reference(
                    "ec2:LaunchTemplate",
                    format!("arn:aws:ec2:{region}:{account}:launch-template/{id}"),
                ));
            }
        }
        for (name, parameter) in &state.parameters {
            if parameter.value().is_some_and(|value| value.contains(image.as_str())) {
                let path = if name.starts_with('/') { name.clone() } else { format!("/{name}") };
                found.push(reference("ssm:Parameter", format!("arn:aws:ssm:{region}:{account}:parameter{path}")));
            }
        }
        for (arn, parent) in &state.image_recipes {
            if parent == image {
                found.push(reference("imagebuilder:ImageRecipe", arn.clone()));
            }
        }
    }
    Ok(found)
}
