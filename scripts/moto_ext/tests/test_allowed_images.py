"""allowed_images: the Allowed AMIs setting and DescribeImages' ImageAllowed."""

from __future__ import annotations

from typing import Any

import pytest

from .aws import Aws, amazon_image, own_images

CRITERIA = [
    {
        "ImageProviders": ["amazon"],
        "ImageNames": ["al2023-*"],
        "CreationDateCondition": {"MaximumDaysSinceCreated": 3650},
        "DeprecationTimeCondition": {"MaximumDaysSinceDeprecated": 30},
    }
]


def _shown(aws: Aws, ec2: Any, *images: str) -> dict[str, Any]:
    answer = aws.call(ec2, "DescribeImages", ImageIds=list(images))
    return {image["ImageId"]: image.get("ImageAllowed") for image in answer["Images"]}


def test_the_setting_is_disabled_until_enabled_and_keeps_its_criteria(aws: Aws, ec2: Any) -> None:
    assert _settings(aws, ec2) == {"State": "disabled", "ManagedBy": "account"}
    assert aws.call(ec2, "ReplaceImageCriteriaInAllowedImagesSettings", ImageCriteria=CRITERIA)["ReturnValue"] is True
    answer = aws.call(ec2, "EnableAllowedImagesSettings", AllowedImagesSettingsState="audit-mode")
    assert answer["AllowedImagesSettingsState"] == "audit-mode"
    assert _settings(aws, ec2) == {"State": "audit-mode", "ManagedBy": "account", "ImageCriteria": CRITERIA}
    assert aws.call(ec2, "DisableAllowedImagesSettings")["AllowedImagesSettingsState"] == "disabled"
    assert _settings(aws, ec2)["ImageCriteria"] == CRITERIA


def _settings(aws: Aws, ec2: Any) -> dict[str, Any]:
    answer = aws.call(ec2, "GetAllowedImagesSettings")
    answer.pop("ResponseMetadata")
    return answer


def test_audit_mode_marks_images_and_enabled_leaves_out_those_not_allowed(aws: Aws, ec2: Any) -> None:
    (mine,) = own_images(ec2, 1)
    amazons = amazon_image(ec2)
    assert _shown(aws, ec2, mine, amazons) == {mine: None, amazons: None}, "disabled: no ImageAllowed"
    aws.call(ec2, "ReplaceImageCriteriaInAllowedImagesSettings", ImageCriteria=[{"ImageProviders": ["123456789013"]}])
    aws.call(ec2, "EnableAllowedImagesSettings", AllowedImagesSettingsState="audit-mode")
    assert _shown(aws, ec2, mine, amazons) == {mine: True, amazons: False}
    aws.call(ec2, "EnableAllowedImagesSettings", AllowedImagesSettingsState="enabled")
    assert _shown(aws, ec2, mine, amazons) == {mine: True}, "even asked for by id"
    aws.call(ec2, "ReplaceImageCriteriaInAllowedImagesSettings", ImageCriteria=[{"ImageProviders": ["amazon"]}])
    assert _shown(aws, ec2, mine, amazons) == {mine: True, amazons: True}


@pytest.mark.parametrize(
    ("operation", "params"),
    [
        ("EnableAllowedImagesSettings", {"AllowedImagesSettingsState": "disabled"}),
        ("ReplaceImageCriteriaInAllowedImagesSettings", {"ImageCriteria": [{"ImageProviders": ["amazon"]}] * 11}),
        ("ReplaceImageCriteriaInAllowedImagesSettings", {"ImageCriteria": [{"ImageProviders": ["none", "amazon"]}]}),
    ],
)
def test_invalid_settings_are_refused(aws: Aws, operation: str, params: dict[str, Any]) -> None:
    ec2 = aws.client("ec2", validate=False)
    assert aws.error(ec2, operation, **params)["Code"] == "InvalidParameterValue"
