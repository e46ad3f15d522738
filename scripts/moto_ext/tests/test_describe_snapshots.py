"""describe_snapshots: DescribeSnapshots' OwnerIds."""

from __future__ import annotations

from typing import Any

from .aws import ACCOUNT, Aws, own_images, snapshots_of


def _owners(aws: Aws, ec2: Any, **params: Any) -> set[str]:
    return {s["OwnerId"] for s in aws.call(ec2, "DescribeSnapshots", **params)["Snapshots"]}


def test_owner_ids_self_lists_only_the_callers_snapshots(aws: Aws, ec2: Any) -> None:
    (image,) = own_images(ec2, 1)
    mine = aws.call(ec2, "DescribeSnapshots", OwnerIds=["self"])["Snapshots"]
    assert [s["SnapshotId"] for s in mine] == snapshots_of(ec2, image)
    assert _owners(aws, ec2, OwnerIds=[ACCOUNT]) == {ACCOUNT}
    assert len(_owners(aws, ec2)) > 1, "without OwnerIds, Amazon's snapshots too"
