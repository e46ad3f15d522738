"""CopyImage honours TagSpecifications (resource type `image`).

The copy carries the tags from the moment it exists, as in EC2 (moto 5.2.5 drops them).
"""

from __future__ import annotations

from moto.core.responses import ActionResult
from moto.ec2.responses import EC2Response

from .methods import set_methods


def apply() -> None:
    """Wraps moto's CopyImage response."""
    moto_copy_image = EC2Response.copy_image

    def copy_image(self: EC2Response) -> ActionResult:
        result = moto_copy_image(self)
        tags = self._parse_tag_specification("image").get("image", {})
        if tags:
            self.ec2_backend.create_tags([result.result["ImageId"]], tags)  # type: ignore[index]
        return result

    set_methods(EC2Response, copy_image)
