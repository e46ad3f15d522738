"""DeregisterImage honours DeleteAssociatedSnapshots (moto 5.2.5 ignores it).

After the image is deregistered, each snapshot of its block device mappings is deleted unless
another image still uses it, and DeleteSnapshotResultSet reports each one: `success`, `skipped`
(another image uses it) or `client-error` (it could not be deleted, e.g. it is already gone).
Without the flag the response is as before (no result set, snapshots kept).
"""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.responses import EC2Response

from .amis import image_snapshot_ids as image_snapshot_ids  # re-exported: test_lock patches it here
from .methods import set_methods


def apply() -> None:
    """Replaces DeregisterImage."""
    set_methods(EC2Response, _deregister_image)


def _deregister_image(self: EC2Response) -> ActionResult:
    image_id = self._get_param("ImageId")
    delete_snapshots = self._get_bool_param("DeleteAssociatedSnapshots", False)
    self.error_on_dryrun()
    backend = self.ec2_backend
    ami = backend.amis.get(image_id)
    backend.deregister_image(image_id)
    result: dict[str, Any] = {"Return": True}
    if delete_snapshots and ami is not None:
        results = []
        for snapshot_id in image_snapshot_ids(ami):
            # A copy: other requests' threads add and remove images while this one looks.
            others = list(backend.amis.values())
            if any(snapshot_id in image_snapshot_ids(other) for other in others):
                code = "skipped"
            else:
                try:
                    backend.delete_snapshot(snapshot_id)
                    code = "success"
                except EC2ClientError:
                    code = "client-error"
            results.append({"SnapshotId": snapshot_id, "ReturnCode": code})
        result["DeleteSnapshotResults"] = results
    return ActionResult(result)
