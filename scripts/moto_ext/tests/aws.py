"""Clients of the emulator under test that check every answer against botocore's model."""

from __future__ import annotations

import urllib.request
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from .documented_errors import UNDOCUMENTED, documented_errors
from .model import check_output

REGION = "eu-west-1"
# moto's default account, and another one reached through AssumeRole.
ACCOUNT = "123456789012"
OTHER_ACCOUNT = "210987654321"
# One attempt: a patch that fails must not be hidden (or slowed down) by retries.
ONE_ATTEMPT = Config(retries={"max_attempts": 1, "mode": "standard"})


class Aws:
    """The emulator at `endpoint`: clients, checked calls, and its test endpoints."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self._last: dict[int, bytes] = {}

    def client(
        self, service: str, region: str = REGION, credentials: dict[str, str] | None = None, validate: bool = True
    ) -> Any:
        """A boto3 client of `service` whose answers `call` and `error` can check (`validate`:
        whether botocore checks the parameters before sending them)."""
        keys = credentials or {"AccessKeyId": "testing", "SecretAccessKey": "testing"}
        client = boto3.client(
            service,
            region_name=region,
            endpoint_url=self.endpoint,
            aws_access_key_id=keys["AccessKeyId"],
            aws_secret_access_key=keys["SecretAccessKey"],
            aws_session_token=keys.get("SessionToken"),
            config=ONE_ATTEMPT.merge(Config(parameter_validation=validate)),
        )

        def record(http_response: Any, **_: Any) -> None:
            self._last[id(client)] = http_response.content

        client.meta.events.register("after-call", record)
        return client

    def other_account(self, service: str, region: str = REGION) -> Any:
        """A client of `service` in OTHER_ACCOUNT (moto switches accounts on AssumeRole)."""
        sts = self.client("sts")
        role = f"arn:aws:iam::{OTHER_ACCOUNT}:role/other"
        credentials = sts.assume_role(RoleArn=role, RoleSessionName="moto-ext")["Credentials"]
        return self.client(service, region, credentials)

    def call(self, client: Any, operation: str, **params: Any) -> dict[str, Any]:
        """Calls `operation`, checks the raw answer against its output shape, returns it parsed."""
        answer: dict[str, Any] = getattr(client, _method(client, operation))(**params)
        check_output(client.meta.service_model.service_name, operation, self._last[id(client)])
        return answer

    def error(self, client: Any, operation: str, documented: bool = True, **params: Any) -> dict[str, Any]:
        """Calls `operation`, which must fail with an error code AWS documents for it (or, with
        `documented=False`, one of UNDOCUMENTED); returns the error (Code, Message)."""
        with pytest.raises(ClientError) as failure:
            getattr(client, _method(client, operation))(**params)
        error: dict[str, Any] = failure.value.response["Error"]
        service = client.meta.service_model.service_name
        if documented:
            assert error["Code"] in documented_errors(service, operation), f"{service}:{operation} {error}"
        else:
            assert error["Code"] in UNDOCUMENTED, error
        return error

    def set_unavailable(self, *apis: str) -> None:
        """Makes `apis` answer as missing or denied (unavailable.py); none restores them."""
        url = f"{self.endpoint}/moto-api/amikeeper/unavailable?apis={','.join(apis)}"
        urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=10).read()

    def reset(self) -> None:
        """Forgets every resource (`POST /moto-api/reset`) and makes every API available."""
        url = f"{self.endpoint}/moto-api/reset"
        urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=10).read()
        self.set_unavailable()


def _method(client: Any, operation: str) -> str:
    """The boto3 method name of `operation` (e.g. `describe_images`)."""
    from botocore import xform_name

    assert operation in client.meta.service_model.operation_names, operation
    return str(xform_name(operation))


def backend(ec2: Any, account: str = ACCOUNT) -> Any:
    """moto's EC2 backend behind `ec2`, for what the API cannot set up."""
    from moto.ec2.models import ec2_backends

    return ec2_backends[account][ec2.meta.region_name]


def amazon_image(ec2: Any) -> str:
    """One of moto's Amazon-owned default AMIs (looked up in process: DescribeImages of all of
    them takes seconds)."""
    amis = backend(ec2).amis
    return next(str(i) for i, ami in list(amis.items()) if ami.owner_alias == "amazon" and not ami.platform)


def share_snapshot(ec2: Any, image_id: str, with_image_id: str) -> None:
    """Makes the AMI's snapshot the other AMI's (moto's RegisterImage and CopyImage always make
    new snapshots, so no two AMIs share one otherwise)."""
    amis = backend(ec2).amis
    amis[image_id].ebs_snapshot = amis[with_image_id].ebs_snapshot


def own_images(ec2: Any, count: int, name: str = "image") -> list[str]:
    """`count` AMIs of the caller's account, each with a snapshot of its own."""
    instance = ec2.run_instances(ImageId=amazon_image(ec2), MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    return [ec2.create_image(InstanceId=instance, Name=f"{name}-{i}")["ImageId"] for i in range(count)]


def recipe(name: str, parent_image: str) -> dict[str, Any]:
    """CreateImageRecipe's parameters for a recipe `name` built on `parent_image`."""
    component = f"arn:aws:imagebuilder:{REGION}:aws:component/update-linux/x.x.x"
    return {
        "name": name,
        "semanticVersion": "1.0.0",
        "parentImage": parent_image,
        "components": [{"componentArn": component}],
        "clientToken": f"token-{name}",
    }


def forget_snapshot(ec2: Any, snapshot_id: str) -> None:
    """Deletes a snapshot behind moto's back (an AMI's snapshot cannot be deleted through it)."""
    del backend(ec2).snapshots[snapshot_id]


def snapshots_of(ec2: Any, image_id: str) -> list[str]:
    """The snapshots behind an AMI."""
    image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
    return [m["Ebs"]["SnapshotId"] for m in image["BlockDeviceMappings"] if "Ebs" in m]
