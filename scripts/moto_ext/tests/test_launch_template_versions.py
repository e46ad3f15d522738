"""launch_template_versions: DeleteLaunchTemplateVersions, versions kept by number."""

from __future__ import annotations

from typing import Any

import pytest

from .aws import Aws, amazon_image

DELETE = "DeleteLaunchTemplateVersions"


def _template(ec2: Any, versions: int) -> str:
    """A launch template with `versions` versions (1 is the default)."""
    image = amazon_image(ec2)
    template = ec2.create_launch_template(LaunchTemplateName="template-a", LaunchTemplateData={"ImageId": image})
    template_id: str = template["LaunchTemplate"]["LaunchTemplateId"]
    for _ in range(versions - 1):
        ec2.create_launch_template_version(LaunchTemplateId=template_id, LaunchTemplateData={"ImageId": image})
    return template_id


def _numbers(aws: Aws, ec2: Any, template_id: str, **range_: str) -> list[int]:
    answer = aws.call(ec2, "DescribeLaunchTemplateVersions", LaunchTemplateId=template_id, **range_)
    return [v["VersionNumber"] for v in answer["LaunchTemplateVersions"]]


def test_deletes_versions_and_refuses_the_default_and_unknown_ones(aws: Aws, ec2: Any) -> None:
    template_id = _template(ec2, 3)
    answer = aws.call(ec2, DELETE, LaunchTemplateId=template_id, Versions=["2", "1", "7"])
    assert [v["VersionNumber"] for v in answer["SuccessfullyDeletedLaunchTemplateVersions"]] == [2]
    refused = {
        v["VersionNumber"]: v["ResponseError"]["Code"] for v in answer["UnsuccessfullyDeletedLaunchTemplateVersions"]
    }
    assert refused == {1: "unexpectedError", 7: "launchTemplateVersionDoesNotExist"}
    assert _numbers(aws, ec2, template_id, MinVersion="1", MaxVersion="3") == [1, 3]


def test_version_numbers_are_never_reused(aws: Aws, ec2: Any) -> None:
    template_id = _template(ec2, 3)
    aws.call(ec2, DELETE, LaunchTemplateName="template-a", Versions=["3"])
    described = aws.call(ec2, "DescribeLaunchTemplates", LaunchTemplateIds=[template_id])["LaunchTemplates"][0]
    assert described["LatestVersionNumber"] == 2
    created = aws.call(ec2, "CreateLaunchTemplateVersion", LaunchTemplateId=template_id, LaunchTemplateData={})
    assert created["LaunchTemplateVersion"]["VersionNumber"] == 4
    assert _numbers(aws, ec2, template_id, MinVersion="2") == [2, 4]
    latest = aws.call(ec2, "DescribeLaunchTemplateVersions", LaunchTemplateId=template_id, Versions=["$Latest"])
    assert [v["VersionNumber"] for v in latest["LaunchTemplateVersions"]] == [4]


@pytest.mark.parametrize(
    ("template", "code"),
    [
        ({"LaunchTemplateId": "lt-0123456789abcdef0"}, "launchTemplateIdDoesNotExist"),
        ({"LaunchTemplateId": "template"}, "launchTemplateIdMalformed"),
        ({"LaunchTemplateName": "missing"}, "launchTemplateNameDoesNotExist"),
    ],
)
def test_an_unknown_template_refuses_every_version(aws: Aws, ec2: Any, template: dict[str, str], code: str) -> None:
    answer = aws.call(ec2, DELETE, Versions=["1", "2"], **template)
    assert answer["SuccessfullyDeletedLaunchTemplateVersions"] == []
    assert [v["ResponseError"]["Code"] for v in answer["UnsuccessfullyDeletedLaunchTemplateVersions"]] == [code] * 2


@pytest.mark.parametrize(
    ("params", "code"),
    [
        (
            {"LaunchTemplateId": "lt-0123456789abcdef0", "LaunchTemplateName": "template-a", "Versions": ["1"]},
            "MissingParameter",
        ),
        ({"LaunchTemplateName": "template-a", "Versions": [str(n) for n in range(1, 202)]}, "InvalidParameterValue"),
        ({"LaunchTemplateName": "template-a", "Versions": ["$Latest"]}, "InvalidParameterValue"),
    ],
)
def test_request_errors(aws: Aws, ec2: Any, params: dict[str, Any], code: str) -> None:
    _template(ec2, 1)
    assert aws.error(ec2, DELETE, **params)["Code"] == code
