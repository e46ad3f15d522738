"""deregister_image: DeregisterImage's DeleteAssociatedSnapshots (its thread safety: test_lock)."""

from __future__ import annotations

from typing import Any

from .aws import Aws, forget_snapshot, own_images, share_snapshot, snapshots_of


def test_snapshots_are_deleted_unless_another_image_uses_them(aws: Aws, ec2: Any) -> None:
    image, other = own_images(ec2, 2)
    (snapshot,) = snapshots_of(ec2, image)
    share_snapshot(ec2, other, image)
    answer = aws.call(ec2, "DeregisterImage", ImageId=image, DeleteAssociatedSnapshots=True)
    assert answer["DeleteSnapshotResults"] == [{"SnapshotId": snapshot, "ReturnCode": "skipped"}]
    answer = aws.call(ec2, "DeregisterImage", ImageId=other, DeleteAssociatedSnapshots=True)
    assert answer["DeleteSnapshotResults"] == [{"SnapshotId": snapshot, "ReturnCode": "success"}]
    assert snapshot not in {s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}


def test_a_snapshot_that_cannot_be_deleted_is_a_client_error(aws: Aws, ec2: Any) -> None:
    (image,) = own_images(ec2, 1)
    (snapshot,) = snapshots_of(ec2, image)
    forget_snapshot(ec2, snapshot)
    answer = aws.call(ec2, "DeregisterImage", ImageId=image, DeleteAssociatedSnapshots=True)
    assert answer["DeleteSnapshotResults"] == [{"SnapshotId": snapshot, "ReturnCode": "client-error"}]


def test_without_the_flag_snapshots_are_kept(aws: Aws, ec2: Any) -> None:
    (image,) = own_images(ec2, 1)
    snapshots = snapshots_of(ec2, image)
    answer = aws.call(ec2, "DeregisterImage", ImageId=image)
    assert "DeleteSnapshotResults" not in answer
    assert [s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]] == snapshots


def test_an_unknown_image_is_not_found(aws: Aws, ec2: Any) -> None:
    error = aws.error(ec2, "DeregisterImage", ImageId="ami-0123456789abcdef0", DeleteAssociatedSnapshots=True)
    assert error["Code"] == "InvalidAMIID.NotFound"
