"""DescribeSnapshots honours OwnerIds (`self` or account ids).

moto 5.2.5 ignores it, so `OwnerIds=self` also listed the snapshots of moto's Amazon-owned
default AMIs.
"""

from __future__ import annotations

from moto.core.responses import ActionResult
from moto.ec2.responses import EC2Response

from .methods import set_methods


def apply() -> None:
    """Replaces DescribeSnapshots."""
    set_methods(EC2Response, _describe_snapshots)


def _describe_snapshots(self: EC2Response) -> ActionResult:
    filters = self._filters_from_querystring()
    snapshot_ids = self._get_param("SnapshotIds", [])
    owner_ids = self._get_param("OwnerIds", [])
    self.error_on_dryrun()
    snapshots = self.ec2_backend.describe_snapshots(snapshot_ids=snapshot_ids, filters=filters)
    if owner_ids:
        owners = {self.current_account if owner == "self" else owner for owner in owner_ids}
        snapshots = [snapshot for snapshot in snapshots if snapshot.owner_id in owners]
    return ActionResult({"Snapshots": snapshots})
