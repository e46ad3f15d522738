"""deregistration_protection: Enable/DisableImageDeregistrationProtection, and DeregisterImage
of a protected image."""

from __future__ import annotations

from typing import Any

import pytest

from .aws import Aws, amazon_image, own_images


def _protection(aws: Aws, ec2: Any, image: str) -> str | None:
    shown = aws.call(ec2, "DescribeImages", ImageIds=[image])["Images"][0]
    protection: str | None = shown.get("DeregistrationProtection")
    return protection


@pytest.mark.parametrize(("cooldown", "state"), [(False, "enabled"), (True, "enabled-with-cooldown")])
def test_a_protected_image_cannot_be_deregistered(aws: Aws, ec2: Any, cooldown: bool, state: str) -> None:
    (image,) = own_images(ec2, 1)
    answer = aws.call(ec2, "EnableImageDeregistrationProtection", ImageId=image, WithCooldown=cooldown)
    assert answer["Return"] == "true"
    assert _protection(aws, ec2, image) == state
    assert aws.error(ec2, "DeregisterImage", ImageId=image)["Code"] == "OperationNotPermitted"
    assert aws.call(ec2, "DisableImageDeregistrationProtection", ImageId=image)["Return"] == "true"
    assert _protection(aws, ec2, image) == "disabled"
    assert aws.call(ec2, "DeregisterImage", ImageId=image)["Return"] is True


@pytest.mark.parametrize(
    "operation", ["EnableImageDeregistrationProtection", "DisableImageDeregistrationProtection"]
)
def test_only_the_owner_of_an_existing_image_may_change_it(aws: Aws, ec2: Any, operation: str) -> None:
    assert aws.error(ec2, operation, ImageId="ami-0123456789abcdef0")["Code"] == "InvalidAMIID.NotFound"
    assert aws.error(ec2, operation, ImageId=amazon_image(ec2))["Code"] == "AuthFailure"
