"""lock (and deregister_image's copy of the images): thread safety (issue 15, finding 8).

moto_server serves each request on a thread of its own. DeregisterImage with
DeleteAssociatedSnapshots looked at every image of the region while other requests deregistered
or created images, failed with "dictionary changed size during iteration" and answered HTTP 500
after the image was gone. These tests make another request change the images in the middle of
that look (deterministically, in process), and run many DeregisterImage, CreateImage and
CreateLaunchTemplateVersion requests at once against scripts/moto-server.
"""

from __future__ import annotations

import concurrent.futures
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import boto3
import pytest
from moto import mock_aws

import moto_ext
from moto_ext import deregister_image

from .aws import REGION, own_images

MOTO_SERVER = Path(__file__).resolve().parents[2] / "moto-server"


def _ec2(endpoint: str | None = None) -> Any:
    return boto3.client(
        "ec2",
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_deregister_image_survives_images_changing_while_it_looks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Another request deregisters an image while DeregisterImage looks for other images using
    the snapshots: the call succeeds and reports every snapshot (before the fix: a 500)."""
    moto_ext.apply()
    with mock_aws():
        ec2 = _ec2()
        first, second, third = own_images(ec2, 3, "race")
        original = deregister_image.image_snapshot_ids
        interrupted: list[str] = []

        def snapshot_ids_while_another_request_runs(ami: Any) -> list[str]:
            if ami.id != first and not interrupted:
                # What another thread's DeregisterImage does, in the middle of the look.
                interrupted.append(third)
                ami.ec2_backend.deregister_image(third)
            return original(ami)

        monkeypatch.setattr(deregister_image, "image_snapshot_ids", snapshot_ids_while_another_request_runs)
        answer = ec2.deregister_image(ImageId=first, DeleteAssociatedSnapshots=True)
        assert interrupted == [third]
        assert [r["ReturnCode"] for r in answer["DeleteSnapshotResults"]] == ["success"]
        remaining = {i["ImageId"] for i in ec2.describe_images(Owners=["self"])["Images"]}
        assert remaining == {second}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def moto_server() -> Iterator[str]:
    """scripts/moto-server, as the Rust tests run it, on a free loopback port."""
    port = _free_port()
    server = subprocess.Popen(
        [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "MOTO_CALL_RESET_API": "true"},
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.1)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_concurrent_requests_never_fail_inside_the_emulator(moto_server: str) -> None:
    """16 threads at once: 24 images deregistered with its snapshots while others are
    created, and launch template versions created: no request fails, and no two versions
    share a number."""
    ec2 = _ec2(moto_server)
    base = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=base, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    images = [ec2.create_image(InstanceId=instance, Name=f"race-{i}")["ImageId"] for i in range(24)]
    template = ec2.create_launch_template(
        LaunchTemplateName="race", LaunchTemplateData={"ImageId": images[0]}
    )["LaunchTemplate"]["LaunchTemplateId"]
    instance = ec2.run_instances(ImageId=base, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]

    def deregister(image: str) -> Any:
        return _ec2(moto_server).deregister_image(ImageId=image, DeleteAssociatedSnapshots=True)

    def create(n: int) -> Any:
        client = _ec2(moto_server)
        client.create_image(InstanceId=instance, Name=f"more-{n}")
        return client.create_launch_template_version(
            LaunchTemplateId=template, SourceVersion="1", LaunchTemplateData={"ImageId": images[0]}
        )

    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        work = [pool.submit(deregister, image) for image in images]
        work += [pool.submit(create, n) for n in range(24)]
        for done in work:
            done.result()  # raises the ClientError of a request that failed
    numbers = [
        v["VersionNumber"]
        for low in range(1, 26, 10)
        for v in ec2.describe_launch_template_versions(
            LaunchTemplateId=template, MinVersion=str(low), MaxVersion=str(low + 9)
        )["LaunchTemplateVersions"]
    ]
    assert sorted(numbers) == list(range(1, 26)), numbers
