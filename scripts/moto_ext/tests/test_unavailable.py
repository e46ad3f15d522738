"""unavailable: APIs made to answer as where they are missing or denied."""

from __future__ import annotations

from typing import Any

import pytest

from .aws import Aws


@pytest.mark.parametrize(
    ("service", "operation", "params", "code"),
    [
        ("ec2", "DescribeImages", {"Owners": ["self"]}, "UnauthorizedOperation"),
        ("ssm", "GetParameter", {"Name": "/ami/web"}, "AccessDeniedException"),
    ],
)
def test_a_denied_operation_answers_the_services_access_denied_error(
    aws: Aws, service: str, operation: str, params: dict[str, Any], code: str
) -> None:
    client = aws.client(service)
    aws.set_unavailable(f"{service}:{operation}")
    assert aws.error(client, operation, **params)["Code"] == code
    aws.set_unavailable()
    if service == "ec2":
        aws.call(client, operation, **params)


def test_query_protocol_services_answer_access_denied(aws: Aws) -> None:
    autoscaling = aws.client("autoscaling")
    aws.set_unavailable("autoscaling:DescribeAutoScalingGroups")
    error = aws.error(autoscaling, "DescribeAutoScalingGroups", documented=False)
    assert error["Code"] == "AccessDenied"
    assert aws.call(aws.client("ec2"), "DescribeImages", Owners=["self"])["Images"] == [], "others stay"
