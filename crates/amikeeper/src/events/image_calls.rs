//! CloudTrail `CreateImage`, `CopyImage` and `RegisterImage` (source `aws.ec2`): the AMI a call
//! made, from the record's `responseElements`, and what its request says about it.

use super::ids::IdKind;
use super::json::{json_type, At};
use super::{cloudtrail, AmiEvent, EventDetail, EventError, EventKind, EventSource};
use crate::model::{ImageId, Region};

detail! {
    /// CloudTrail `CreateImage` (`image_created`): an AMI made from an instance (by EC2, AWS
    /// Backup, DLM).
    ImageCreated {
        /// The new AMI.
        required image_id: ImageId,
        /// The instance it was made from.
        optional instance_id: String,
        /// The name given in the request.
        optional image_name: String,
        /// The description given in the request.
        optional description: String,
    }
}

detail! {
    /// CloudTrail `CopyImage` (`image_copied`), the event of the destination region.
    ImageCopied {
        /// The new AMI, in the event's region.
        required image_id: ImageId,
        /// The name given in the request.
        optional image_name: String,
        /// The description given in the request.
        optional description: String,
        /// The AMI copied from.
        optional source_image_id: ImageId,
        /// The region copied from.
        optional source_region: Region,
    }
}

detail! {
    /// CloudTrail `RegisterImage` (`image_registered`).
    ImageRegistered {
        /// The new AMI.
        required image_id: ImageId,
        /// The name given in the request.
        optional image_name: String,
        /// The description given in the request.
        optional description: String,
    }
}

/// Parses the CloudTrail record of an image call; `source` says which.
pub(super) fn parse(v: &serde_json::Value, source: &EventSource) -> Result<AmiEvent, EventError> {
    let label = cloudtrail::label(source);
    let at = At::new(&label);
    let (envelope, event_id) = cloudtrail::read(&at, v, source)?;

    // The new image is in the response.
    match at.lookup(v, "detail.responseElements")? {
        None => {
            return Err(at.bad("detail.responseElements", "is missing or null: the record names no image"));
        }
        Some(value) if !value.is_object() => {
            return Err(at.bad("detail.responseElements", format!("must be an object, received {}", json_type(value))));
        }
        Some(_) => {}
    }
    let image = at.req_str(v, "detail.responseElements.imageId")?;
    let image_id = at.image_id("detail.responseElements.imageId", image)?;
    at.opt_obj(v, "detail.requestParameters")?;
    let image_name = at.opt_string(v, "detail.requestParameters.name")?;
    let description = at.opt_string(v, "detail.requestParameters.description")?;
    let detail: EventDetail = match source.kind() {
        EventKind::ImageCreated => {
            let path = "detail.requestParameters.instanceId";
            let instance_id = at.opt_str(v, path)?.map(|id| at.id(path, id, IdKind::Instance)).transpose()?;
            ImageCreated { image_id, instance_id, image_name, description }.into()
        }
        EventKind::ImageCopied => {
            let path = "detail.requestParameters.sourceRegion";
            let source_region = at.opt_str(v, path)?.map(|r| at.region(path, r)).transpose()?;
            let path = "detail.requestParameters.sourceImageId";
            let source_image_id = at.opt_str(v, path)?.map(|id| at.image_id(path, id)).transpose()?;
            ImageCopied { image_id, image_name, description, source_image_id, source_region }.into()
        }
        _ => ImageRegistered { image_id, image_name, description }.into(),
    };
    Ok(envelope.event(event_id, detail))
}

#[cfg(test)]
mod tests {
    use super::super::testing::parsed;
    use super::*;

    #[test]
    fn fixtures() {
        for name in ["cloudtrail_create_image_backup.json", "cloudtrail_create_image_dlm.json"] {
            let event = &parsed(name)[0];
            assert!(matches!(&event.detail, EventDetail::ImageCreated(ImageCreated { instance_id: Some(_), .. })));
        }
        let event = &parsed("cloudtrail_copy_image.json")[0];
        let EventDetail::ImageCopied(copy) = &event.detail else { panic!("{event:?}") };
        assert_eq!(copy.source_region.as_ref().map(Region::as_str), Some("ap-northeast-1"));
        let event = &parsed("cloudtrail_register_image.json")[0];
        assert_eq!(event.kind(), EventKind::ImageRegistered);
    }
}
