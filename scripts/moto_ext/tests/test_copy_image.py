"""copy_image_tags and copy_shared_image: CopyImage's TagSpecifications, and the copy of an AMI
another account shares."""

from __future__ import annotations

from typing import Any

from .aws import ACCOUNT, REGION, Aws, own_images, snapshots_of

COPY = "CopyImage"


def test_the_copy_carries_the_tags_of_its_tag_specifications(aws: Aws, ec2: Any) -> None:
    (source,) = own_images(ec2, 1)
    tags = [{"Key": "Role", "Value": "web"}]
    specification = [{"ResourceType": "image", "Tags": tags}]
    copy = aws.call(ec2, COPY, SourceImageId=source, SourceRegion=REGION, Name="copy", TagSpecifications=specification)
    assert ec2.describe_images(ImageIds=[copy["ImageId"]])["Images"][0]["Tags"] == tags


def _shared(aws: Aws, storage: bool) -> str:
    """An AMI of the other account shared with ours; its snapshot too when `storage`."""
    theirs = aws.other_account("ec2")
    (image,) = own_images(theirs, 1, "theirs")
    theirs.modify_image_attribute(ImageId=image, LaunchPermission={"Add": [{"UserId": ACCOUNT}]})
    if storage:
        for snapshot in snapshots_of(theirs, image):
            theirs.modify_snapshot_attribute(
                SnapshotId=snapshot, Attribute="createVolumePermission", OperationType="add", UserIds=[ACCOUNT]
            )
    return image


def test_an_ami_shared_with_its_storage_is_copied_into_the_callers_account(aws: Aws, ec2: Any) -> None:
    source = _shared(aws, storage=True)
    copy = aws.call(ec2, COPY, SourceImageId=source, SourceRegion=REGION, Name="copy")["ImageId"]
    assert ec2.describe_images(ImageIds=[copy])["Images"][0]["OwnerId"] == ACCOUNT


def test_an_ami_shared_without_its_storage_is_refused(aws: Aws, ec2: Any) -> None:
    source = _shared(aws, storage=False)
    error = aws.error(ec2, COPY, SourceImageId=source, SourceRegion=REGION, Name="copy")
    message = "You do not have permission to access the storage of this ami"
    assert error == {"Code": "InvalidRequest", "Message": message}


def test_an_ami_not_shared_is_not_found(aws: Aws, ec2: Any) -> None:
    (source,) = own_images(aws.other_account("ec2"), 1, "theirs")
    error = aws.error(ec2, COPY, SourceImageId=source, SourceRegion=REGION, Name="copy")
    assert error["Code"] == "InvalidAMIID.NotFound"
