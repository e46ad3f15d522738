"""What the EC2 image patches share: looking up the caller's own AMI, reading times, snapshots."""

from __future__ import annotations

import datetime as _dt
from typing import Any

from moto.ec2.exceptions import EC2ClientError, InvalidAMIIdError, UnvailableAMIIdError
from moto.ec2.models.amis import Ami
from moto.ec2.responses import EC2Response


def own_image(response: EC2Response, image_id: str) -> Ami:
    """The caller's AMI `image_id`, or EC2's error: InvalidAMIID.Unavailable (deregistered),
    InvalidAMIID.NotFound (unknown) or AuthFailure (another account's)."""
    backend = response.ec2_backend
    if image_id in backend.deleted_amis and image_id not in backend.amis:
        raise UnvailableAMIIdError(image_id)
    ami: Ami | None = backend.amis.get(image_id)
    if ami is None:
        raise InvalidAMIIdError(image_id)
    if ami.owner_id != response.current_account:
        raise EC2ClientError("AuthFailure", f"Not authorized for image:{image_id}")
    return ami


def as_utc(value: Any) -> _dt.datetime:
    """A naive UTC datetime from a datetime or a timestamp string (as moto keeps them)."""
    if isinstance(value, _dt.datetime):
        parsed = value
    else:
        from moto.core.parse import default_timestamp_parser

        parsed = default_timestamp_parser(str(value))
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    return parsed


def is_deprecated(ami: Ami, now: _dt.datetime) -> bool:
    """Whether the AMI's DeprecationTime (set by EnableImageDeprecation) has passed."""
    deprecation_time = getattr(ami, "deprecation_time", None)
    if not deprecation_time:
        return False
    return as_utc(deprecation_time) <= now


def image_snapshot_ids(ami: Ami) -> list[str]:
    """The EBS snapshots of the AMI's block device mappings."""
    return [
        mapping["Ebs"]["SnapshotId"]
        for mapping in ami.block_device_mappings
        if mapping.get("Ebs", {}).get("SnapshotId")
    ]
