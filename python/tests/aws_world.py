"""moto on loopback for the wheel's tests: ``MotoServer`` (one ``moto_server`` child process on a
free port of 127.0.0.1) and ``World``, which sets up and reads AWS state with boto3, never through
amikeeper, like ``amikeeper_aws::testing::MotoFixture`` does for the Rust tests.

The server is ``$AMIKEEPER_MOTO_SERVER`` (``scripts/test.sh`` sets it to ``scripts/moto-server``:
moto plus the EC2 operations the sweep needs), else ``moto_server`` on ``PATH``.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

import boto3

#: The account moto acts in (its default).
ACCOUNT = "123456789012"
#: The regions of the scenarios, as in ``amikeeper::conformance``.
MAIN_REGION = "ap-northeast-1"
DR_REGION = "ap-southeast-1"
#: AMIs moto knows in every region; the first one it describes is what instances run.
KNOWN_AMIS = ["ami-760aaa0f", "ami-03cf127a"]


def moto_executable() -> Optional[str]:
    """``$AMIKEEPER_MOTO_SERVER``, else ``moto_server`` on ``PATH``; ``None`` when neither is there."""
    configured = os.environ.get("AMIKEEPER_MOTO_SERVER")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    return shutil.which("moto_server")


def free_port() -> int:
    """A port nobody listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class MotoServer:
    """A ``moto_server`` child process on ``127.0.0.1:<free port>``; ``stop`` kills and reaps it."""

    def __init__(self, executable: str) -> None:
        self.log = tempfile.NamedTemporaryFile(prefix="amikeeper-py-moto-", suffix=".log", delete=False)
        self.port = free_port()
        env = {key: value for key, value in os.environ.items() if key not in ("MOTO_ACCOUNT_ID", "MOTO_EC2_LOAD_DEFAULT_AMIS")}
        env["PYTHONUNBUFFERED"] = "1"
        self.process = subprocess.Popen(
            [executable, "-H", "127.0.0.1", "-p", str(self.port)],
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        deadline = time.monotonic() + 30
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"moto_server did not start; see {self.log.name}")
            time.sleep(0.1)

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def reset(self) -> None:
        """Forgets every resource of every region."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST", data=b"")
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200, response.status

    def stop(self) -> None:
        """Kills the server, waits for it, and removes its log."""
        self.process.kill()
        self.process.wait()
        self.log.close()
        os.unlink(self.log.name)


def _wait_past(moment: datetime.datetime) -> None:
    """Sleeps until the wall clock is past the second ``moment`` falls in: moto reports creation
    times to the second, and the scenarios need each image newer than the one before."""
    next_second = moment.replace(microsecond=0) + datetime.timedelta(seconds=1)
    wait = (next_second - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
    if wait > 0:
        time.sleep(wait + 0.02)


def _tags(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


@dataclass
class World:
    """AWS state in moto, set up and read with boto3."""

    endpoint: str
    _builders: dict[str, str] = field(default_factory=dict)

    account = ACCOUNT

    def client(self, service: str, region: str = MAIN_REGION) -> Any:
        """A boto3 client of ``service`` in ``region``, pointed at moto."""
        return boto3.client(
            service,
            region_name=region,
            endpoint_url=self.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    # EC2

    def instance(self, region: str = MAIN_REGION, image: Optional[str] = None) -> str:
        """A running instance, of ``image`` or of an AMI moto ships."""
        ec2 = self.client("ec2", region)
        if image is None:
            known = ec2.describe_images(ImageIds=KNOWN_AMIS)["Images"]
            image = known[0]["ImageId"] if known else sorted(i["ImageId"] for i in ec2.describe_images(Owners=["amazon"])["Images"])[0]
        reservation = ec2.run_instances(ImageId=image, InstanceType="t3.micro", MinCount=1, MaxCount=1)
        instance: str = reservation["Instances"][0]["InstanceId"]
        return instance

    def image(
        self,
        name: str,
        region: str = MAIN_REGION,
        *,
        description: Optional[str] = None,
        tags: Mapping[str, str] = {},
        instance: Optional[str] = None,
    ) -> str:
        """An ``available`` image, strictly newer than every image made before it."""
        if instance is None:
            if region not in self._builders:
                self._builders[region] = self.instance(region)
            instance = self._builders[region]
        ec2 = self.client("ec2", region)
        request: dict[str, Any] = {"InstanceId": instance, "Name": name}
        if description is not None:
            request["Description"] = description
        if tags:
            request["TagSpecifications"] = [{"ResourceType": "image", "Tags": _tags(tags)}]
        image_id: str = ec2.create_image(**request)["ImageId"]
        image = self.describe_image(image_id, region)
        assert image is not None and image["State"] == "available", image
        _wait_past(datetime.datetime.fromisoformat(image["CreationDate"].replace("Z", "+00:00")))
        return image_id

    def describe_image(self, image_id: str, region: str = MAIN_REGION) -> Optional[dict[str, Any]]:
        """The image as EC2 describes it, or ``None`` when it is gone."""
        try:
            images = self.client("ec2", region).describe_images(ImageIds=[image_id], IncludeDisabled=True)["Images"]
        except self.client("ec2", region).exceptions.ClientError as error:
            if error.response["Error"]["Code"].startswith("InvalidAMIID"):
                return None
            raise
        found: Optional[dict[str, Any]] = next((i for i in images if i["ImageId"] == image_id), None)
        return found

    def own_image_ids(self, region: str = MAIN_REGION) -> list[str]:
        """The ids of the account's images, sorted."""
        images = self.client("ec2", region).describe_images(Owners=["self"], IncludeDisabled=True)["Images"]
        return sorted(image["ImageId"] for image in images)

    def image_protected(self, image_id: str, region: str = MAIN_REGION) -> bool:
        """Whether the image's deregistration protection is on."""
        image = self.describe_image(image_id, region)
        return image is not None and str(image.get("DeregistrationProtection", "")).startswith("enabled")

    def launch_template(self, name: str, image: str, region: str = MAIN_REGION) -> str:
        """A launch template whose version 1 launches ``image``; its id."""
        output = self.client("ec2", region).create_launch_template(
            LaunchTemplateName=name, LaunchTemplateData={"ImageId": image}
        )
        template: str = output["LaunchTemplate"]["LaunchTemplateId"]
        return template

    def launch_template_version(self, template: str, image: str, region: str = MAIN_REGION) -> int:
        """A new version of ``template`` (from ``$Latest``) launching ``image``; its number."""
        output = self.client("ec2", region).create_launch_template_version(
            LaunchTemplateId=template, SourceVersion="$Latest", LaunchTemplateData={"ImageId": image}
        )
        number: int = output["LaunchTemplateVersion"]["VersionNumber"]
        return number

    def template_state(self, template: str, region: str = MAIN_REGION) -> tuple[int, int, list[tuple[int, Optional[str]]]]:
        """A template's default version, latest version, and versions (newest first) with their AMI."""
        ec2 = self.client("ec2", region)
        described = ec2.describe_launch_templates(LaunchTemplateIds=[template])["LaunchTemplates"][0]
        versions = ec2.describe_launch_template_versions(LaunchTemplateId=template)["LaunchTemplateVersions"]
        listed = sorted(
            ((v["VersionNumber"], v.get("LaunchTemplateData", {}).get("ImageId")) for v in versions), reverse=True
        )
        return described["DefaultVersionNumber"], described["LatestVersionNumber"], listed

    def volume(self, tags: Mapping[str, str] = {}, region: str = MAIN_REGION) -> str:
        """An 8 GiB volume; its id."""
        request: dict[str, Any] = {"AvailabilityZone": f"{region}a", "Size": 8}
        if tags:
            request["TagSpecifications"] = [{"ResourceType": "volume", "Tags": _tags(tags)}]
        volume: str = self.client("ec2", region).create_volume(**request)["VolumeId"]
        return volume

    def snapshot(self, volume: str, tags: Mapping[str, str] = {}, region: str = MAIN_REGION) -> str:
        """A completed snapshot of ``volume``, strictly newer than every snapshot before it."""
        ec2 = self.client("ec2", region)
        request: dict[str, Any] = {"VolumeId": volume, "Description": "amikeeper python tests"}
        if tags:
            request["TagSpecifications"] = [{"ResourceType": "snapshot", "Tags": _tags(tags)}]
        snapshot = ec2.create_snapshot(**request)
        assert snapshot["State"] == "completed", snapshot
        started = snapshot["StartTime"]
        _wait_past(started if started.tzinfo else started.replace(tzinfo=datetime.timezone.utc))
        snapshot_id: str = snapshot["SnapshotId"]
        return snapshot_id

    def own_snapshots(self, region: str = MAIN_REGION) -> dict[str, dict[str, str]]:
        """The account's snapshots and their tags."""
        snapshots = self.client("ec2", region).describe_snapshots(OwnerIds=["self"])["Snapshots"]
        return {s["SnapshotId"]: {t["Key"]: t["Value"] for t in s.get("Tags", [])} for s in snapshots}

    # SSM

    def set_parameter(self, name: str, value: str, region: str = MAIN_REGION) -> None:
        """Puts a ``String`` parameter, overwriting."""
        self.client("ssm", region).put_parameter(Name=name, Value=value, Type="String", Overwrite=True)

    def parameter(self, name: str, region: str = MAIN_REGION) -> Optional[tuple[str, int]]:
        """A parameter's value and version, or ``None``."""
        ssm = self.client("ssm", region)
        try:
            parameter = ssm.get_parameter(Name=name)["Parameter"]
        except ssm.exceptions.ParameterNotFound:
            return None
        return parameter["Value"], parameter["Version"]

    # Auto Scaling

    def auto_scaling_group(self, name: str, template: str, version: str, region: str = MAIN_REGION) -> None:
        """A group launching from ``template`` at ``version``, with no instances."""
        self.client("autoscaling", region).create_auto_scaling_group(
            AutoScalingGroupName=name,
            LaunchTemplate={"LaunchTemplateId": template, "Version": version},
            MinSize=0,
            MaxSize=1,
            AvailabilityZones=[f"{region}a"],
        )

    def group_template(self, name: str, region: str = MAIN_REGION) -> tuple[str, str]:
        """The template id and version a group launches from."""
        groups = self.client("autoscaling", region).describe_auto_scaling_groups(AutoScalingGroupNames=[name])
        spec = groups["AutoScalingGroups"][0]["LaunchTemplate"]
        return spec["LaunchTemplateId"], spec.get("Version", "$Default")

    # CloudFormation

    def stack(self, name: str, parameters: Mapping[str, str], region: str = MAIN_REGION) -> None:
        """A stack with these ``String`` parameters (and one SSM parameter as its resource)."""
        template = {
            "AWSTemplateFormatVersion": "2010-09-09",
            "Parameters": {key: {"Type": "String"} for key in parameters},
            "Resources": {
                "Pointer": {
                    "Type": "AWS::SSM::Parameter",
                    "Properties": {
                        "Name": f"/amikeeper-python-tests/stack/{name}",
                        "Type": "String",
                        "Value": {"Ref": "ImageId"},
                    },
                }
            },
        }
        cloudformation = self.client("cloudformation", region)
        cloudformation.create_stack(
            StackName=name,
            TemplateBody=json.dumps(template),
            Parameters=[{"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()],
        )
        deadline = time.monotonic() + 30
        while cloudformation.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] != "CREATE_COMPLETE":
            assert time.monotonic() < deadline, f"stack {name} did not reach CREATE_COMPLETE"
            time.sleep(0.2)

    def stack_parameters(self, name: str, region: str = MAIN_REGION) -> dict[str, str]:
        """A stack's parameter values."""
        stack = self.client("cloudformation", region).describe_stacks(StackName=name)["Stacks"][0]
        return {p["ParameterKey"]: p["ParameterValue"] for p in stack.get("Parameters", [])}
