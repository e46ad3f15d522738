"""rbin: Recycle Bin answers as an endpoint without it, in a way SDKs do not retry."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from .aws import Aws


def test_every_request_is_an_unknown_operation_that_is_not_retried(aws: Aws) -> None:
    rbin = aws.client("rbin")
    error = aws.error(rbin, "ListRules", documented=False, ResourceType="EBS_SNAPSHOT")
    assert error["Code"] == "UnknownOperationException"
    with pytest.raises(ClientError) as failure:
        aws.client("rbin").get_rule(Identifier="rule")
    response = failure.value.response
    status = response["ResponseMetadata"]["HTTPStatusCode"]
    assert (status, response["Error"]["Code"]) == (400, "UnknownOperationException")
