"""describe_images: DescribeImages' IncludeDisabled and IncludeDeprecated."""

from __future__ import annotations

from typing import Any

from .aws import Aws, amazon_image, backend, own_images


def _ids(aws: Aws, ec2: Any, **params: Any) -> set[str]:
    return {image["ImageId"] for image in aws.call(ec2, "DescribeImages", **params)["Images"]}


def test_disabled_images_only_with_include_disabled(aws: Aws, ec2: Any) -> None:
    kept, disabled = own_images(ec2, 2)
    ec2.disable_image(ImageId=disabled)
    assert _ids(aws, ec2, Owners=["self"]) == {kept}
    assert _ids(aws, ec2, Owners=["self"], IncludeDisabled=True) == {kept, disabled}
    shown = aws.call(ec2, "DescribeImages", ImageIds=[disabled], IncludeDisabled=True)["Images"][0]
    assert shown["State"] == "disabled"


def test_deprecated_images_of_other_accounts_only_when_asked_for(aws: Aws, ec2: Any) -> None:
    amazons = amazon_image(ec2)
    (mine,) = own_images(ec2, 1)
    for image in (amazons, mine):
        # In the past: EnableImageDeprecation refuses a past time, and Amazon's image is not ours.
        backend(ec2).amis[image].deprecation_time = "2020-01-01T00:00:00.000Z"
    theirs = [{"Name": "image-id", "Values": [amazons]}]
    assert _ids(aws, ec2, Owners=["amazon"], Filters=theirs) == set()
    assert _ids(aws, ec2, Owners=["amazon"], Filters=theirs, IncludeDeprecated=True) == {amazons}
    assert _ids(aws, ec2, ImageIds=[amazons]) == {amazons}, "asked for by id"
    assert _ids(aws, ec2, Owners=["self"]) == {mine}, "the owner always sees its own"
