"""model: the check of raw answers against botocore's model refuses what it should."""

from __future__ import annotations

import json

import pytest

from .model import check_output

EC2 = (
    b'<DescribeImageReferencesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
    b"<requestId>1</requestId>%s</DescribeImageReferencesResponse>"
)


def _references(*items: str) -> bytes:
    return EC2 % ("<imageReferenceSet>%s</imageReferenceSet>" % "".join(items)).encode()


def test_a_matching_answer_passes() -> None:
    item = "<item><imageId>ami-1</imageId><resourceType>ec2:Instance</resourceType><arn>a</arn></item>"
    check_output("ec2", "DescribeImageReferences", _references(item))


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        (_references("<item><imageId>ami-1</imageId><owner>me</owner></item>"), "<owner> is not a member"),
        (_references("<item><resourceType>ec2:Volume</resourceType></item>"), "is not one of"),
        (_references("<member><imageId>ami-1</imageId></member>"), "list items are <item>"),
    ],
)
def test_unknown_members_values_and_list_items_are_refused(body: bytes, complaint: str) -> None:
    with pytest.raises(AssertionError, match=complaint):
        check_output("ec2", "DescribeImageReferences", body)


@pytest.mark.parametrize(
    ("answer", "complaint"),
    [
        ({"imageRecipeSummaryList": [{"arn": 1}]}, "is not a string"),
        ({"imageRecipeSummaryList": [{"colour": "red"}]}, "is not a member"),
        ({"requestId": None}, "null"),
    ],
)
def test_json_answers_are_checked_too(answer: dict[str, object], complaint: str) -> None:
    with pytest.raises(AssertionError, match=complaint):
        check_output("imagebuilder", "ListImageRecipes", json.dumps(answer).encode())
