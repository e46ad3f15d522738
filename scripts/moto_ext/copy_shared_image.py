"""CopyImage copies an AMI another account shares with the caller.

moto 5.2.5 looks for the source only in the caller's own account, so a cross-account copy was
InvalidAMIID.NotFound. When the caller's account has no such image in the source region, the
other accounts' images there are searched for one whose launch permissions name the caller's
account (or `all`); it is copied only if every snapshot behind it grants the caller
createVolumePermission (or `all`), else the call fails with `InvalidRequest`, "You do not have
permission to access the storage of this ami" (the message EC2 gives). An image not shared stays
InvalidAMIID.NotFound. The copy belongs to the caller's account.
"""

from __future__ import annotations

from typing import Any

from moto.ec2.exceptions import EC2ClientError, InvalidAMIIdError
from moto.ec2.models.amis import Ami, AmiBackend
from moto.ec2.utils import random_ami_id

from .amis import image_snapshot_ids
from .methods import set_methods


def apply() -> None:
    """Wraps the EC2 backend's copy_image."""
    moto_copy_image = AmiBackend.copy_image

    def copy_image(
        self: AmiBackend,
        source_image_id: str,
        source_region: str,
        name: str | None = None,
        description: str | None = None,
    ) -> Ami:
        from moto.ec2.models import ec2_backends

        me = self.account_id  # type: ignore[attr-defined]
        if source_image_id in ec2_backends[me][source_region].amis:
            return moto_copy_image(self, source_image_id, source_region, name, description)
        source = shared_image(me, source_image_id, source_region)
        if source is None:
            raise InvalidAMIIdError([source_image_id])
        _check_storage_readable(source, me, source_region)
        ami = Ami(self, random_ami_id(), instance=None, source_ami=source, name=name, description=description)
        self.amis[ami.id] = ami
        return ami

    set_methods(AmiBackend, copy_image)


def shared_with(permissions: Any, account: str) -> bool:
    """Whether launch permissions name `account` or the group `all`."""
    return any(p.get("UserId") == account or p.get("Group") == "all" for p in permissions)


def shared_image(me: str, image_id: str, source_region: str) -> Ami | None:
    """Another account's image `image_id` in `source_region` that it shares with `me`."""
    from moto.ec2.models import ec2_backends

    for account in list(ec2_backends.keys()):
        if account == me:
            continue
        ami = ec2_backends[account][source_region].amis.get(image_id)
        if ami is not None and shared_with(ami.launch_permissions, me):
            return ami
    return None


def _check_storage_readable(source: Ami, me: str, source_region: str) -> None:
    """InvalidRequest unless every snapshot behind `source` grants `me` createVolumePermission."""
    from moto.ec2.models import ec2_backends

    owner = ec2_backends[source.owner_id][source_region]
    for snapshot_id in image_snapshot_ids(source):
        snapshot = owner.snapshots.get(snapshot_id)
        readable = snapshot is not None and (
            me in snapshot.create_volume_permission_userids or "all" in snapshot.create_volume_permission_groups
        )
        if not readable:
            raise EC2ClientError("InvalidRequest", "You do not have permission to access the storage of this ami")
