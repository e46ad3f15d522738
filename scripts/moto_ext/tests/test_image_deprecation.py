"""image_deprecation: EnableImageDeprecation, DisableImageDeprecation, DeprecationTime."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from .aws import Aws, amazon_image, own_images


def _in(**delta: float) -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc) + dt.timedelta(**delta)


def test_deprecation_time_is_set_rounded_to_the_minute_and_cleared(aws: Aws, ec2: Any) -> None:
    (image,) = own_images(ec2, 1)
    at = _in(days=1).replace(second=31, microsecond=0)
    assert aws.call(ec2, "EnableImageDeprecation", ImageId=image, DeprecateAt=at)["Return"] is True
    shown = aws.call(ec2, "DescribeImages", ImageIds=[image])["Images"][0]
    rounded = at.replace(second=0) + dt.timedelta(minutes=1)
    assert shown["DeprecationTime"] == rounded.strftime("%Y-%m-%dT%H:%M:00.000Z")
    assert aws.call(ec2, "DisableImageDeprecation", ImageId=image)["Return"] is True
    assert "DeprecationTime" not in aws.call(ec2, "DescribeImages", ImageIds=[image])["Images"][0]


@pytest.mark.parametrize("operation", ["EnableImageDeprecation", "DisableImageDeprecation"])
def test_only_the_owner_of_an_existing_image_may_change_it(aws: Aws, ec2: Any, operation: str) -> None:
    (image,) = own_images(ec2, 1)
    params: dict[str, Any] = {"DeprecateAt": _in(days=1)} if operation == "EnableImageDeprecation" else {}
    assert aws.error(ec2, operation, ImageId="ami-0123456789abcdef0", **params)["Code"] == "InvalidAMIID.NotFound"
    assert aws.error(ec2, operation, ImageId=amazon_image(ec2), **params)["Code"] == "AuthFailure"
    ec2.deregister_image(ImageId=image)
    assert aws.error(ec2, operation, ImageId=image, **params)["Code"] == "InvalidAMIID.Unavailable"


@pytest.mark.parametrize("at", [_in(hours=-1), _in(days=3660)], ids=["past", "beyond 10 years"])
def test_a_time_in_the_past_or_too_far_ahead_is_refused(aws: Aws, ec2: Any, at: dt.datetime) -> None:
    (image,) = own_images(ec2, 1)
    assert aws.error(ec2, "EnableImageDeprecation", ImageId=image, DeprecateAt=at)["Code"] == "InvalidParameterValue"
