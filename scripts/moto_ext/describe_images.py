"""DescribeImages honours IncludeDisabled and IncludeDeprecated (moto 5.2.5 ignores them).

Disabled images are left out unless IncludeDisabled is true; images of other accounts whose
deprecation time has passed are left out unless IncludeDeprecated is true or their ids were asked
for (the owner always sees its own, as in EC2).
"""

from __future__ import annotations

from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.ec2.responses import EC2Response

from .amis import is_deprecated
from .methods import set_methods


def apply() -> None:
    """Replaces DescribeImages (allowed_images wraps it)."""
    set_methods(EC2Response, _describe_images)


def _describe_images(self: EC2Response) -> ActionResult:
    self.error_on_dryrun()
    ami_ids = self._get_param("ImageIds", [])
    filters = self._filters_from_querystring()
    owners = self._get_param("Owners", [])
    exec_users = self._get_param("ExecutableUsers", [])
    include_disabled = self._get_bool_param("IncludeDisabled", False)
    include_deprecated = self._get_bool_param("IncludeDeprecated", False)
    images = self.ec2_backend.describe_images(ami_ids=ami_ids, filters=filters, exec_users=exec_users, owners=owners)
    now = utcnow()
    images = [
        ami
        for ami in images
        if (include_disabled or ami.state != "disabled")
        and (include_deprecated or ami_ids or ami.owner_id == self.current_account or not is_deprecated(ami, now))
    ]
    return ActionResult({"Images": images})
