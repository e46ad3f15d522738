"""EnableImageDeregistrationProtection and DisableImageDeregistrationProtection (moto 5.2.5
answers HTTP 500), and DeregisterImage refusing a protected image.

They set the image's DeregistrationProtection (`enabled`, `enabled-with-cooldown` with
WithCooldown, `disabled`), which DescribeImages reports; only the owner may change it (else
AuthFailure), an unknown image is InvalidAMIID.NotFound, a deregistered one
InvalidAMIID.Unavailable. DeregisterImage of a protected image fails with `OperationNotPermitted`
(the code amikeeper's in-memory account uses too; EC2's error code list describes it as "the
specified operation is not allowed", e.g. terminating an instance with termination protection).
"""

from __future__ import annotations

from moto.core.responses import ActionResult
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models.amis import Ami
from moto.ec2.responses import EC2Response

from .amis import own_image
from .methods import set_methods


def apply() -> None:
    """Adds the two operations and wraps DeregisterImage (apply after deregister_image)."""
    # Read by moto's serializer for DescribeImages' DeregistrationProtection.
    Ami.deregistration_protection = None  # type: ignore[attr-defined]
    set_methods(EC2Response, _enable_image_deregistration_protection, _disable_image_deregistration_protection)
    unprotected_deregister = EC2Response.deregister_image

    def deregister_image(self: EC2Response) -> ActionResult:
        image_id = self._get_param("ImageId")
        self.error_on_dryrun()
        ami = self.ec2_backend.amis.get(image_id)
        if ami is not None and str(getattr(ami, "deregistration_protection", None) or "").startswith("enabled"):
            raise EC2ClientError(
                "OperationNotPermitted",
                f"The image {image_id} is protected from deregistration. Disable deregistration protection first.",
            )
        return unprotected_deregister(self)

    set_methods(EC2Response, deregister_image)


def _enable_image_deregistration_protection(self: EC2Response) -> ActionResult:
    image_id = self._get_param("ImageId")
    with_cooldown = self._get_bool_param("WithCooldown", False)
    self.error_on_dryrun()
    ami = own_image(self, image_id)
    protection = "enabled-with-cooldown" if with_cooldown else "enabled"
    ami.deregistration_protection = protection  # type: ignore[attr-defined]
    return ActionResult({"Return": "true"})


def _disable_image_deregistration_protection(self: EC2Response) -> ActionResult:
    image_id = self._get_param("ImageId")
    self.error_on_dryrun()
    ami = own_image(self, image_id)
    ami.deregistration_protection = "disabled"  # type: ignore[attr-defined]
    return ActionResult({"Return": "true"})
