"""``Keeper.status()`` on moto: two regions of one account and a second account reached through
a role (as the fleet tests do), every pointer published by amikeeper itself. Right, nothing is
found; with a dangling pointer (in the other account), a ``copy_to`` pointer that lags and a
pointer whose AMI lost its protection planted, each is reported. The same report as
``amikeeper status`` prints."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

import amikeeper
from aws_world import DR_REGION, MAIN_REGION, World
from sample_events import Origin

ROLE = "arn:aws:iam::444455556666:role/amikeeper"
OTHER = "444455556666"
PARAMETER = "/ami/status-web"


def config(account: str) -> str:
    """Rule ``web`` publishes the parameter in the home region, copies to ``DR_REGION`` and into
    the other account (and publishes there), which is also a fleet account. A copy may lag its
    home pointer by 0 hours: the test has no day to wait."""
    return (
        f'accounts = ["{account}"]\n'
        "[status]\ndr_max_lag_hours = 0\n"
        '[[rules]]\nname = "web"\n'
        f'copy_to = ["{DR_REGION}", {{ region = "{MAIN_REGION}", role_arn = "{ROLE}" }}]\n'
        '[rules.match]\nname_prefix = "status-"\n'
        f'[[rules.targets]]\nkind = "ssm_parameter"\nname = "{PARAMETER}"\n'
        f'[[fleet]]\nrole_arn = "{ROLE}"\nregions = ["{MAIN_REGION}"]\n'
    )


def assumed_credentials(world: World) -> Any:
    """The role's credentials in the other account."""
    return world.client("sts").assume_role(RoleArn=ROLE, RoleSessionName="status-test")["Credentials"]


def other_account_ec2(world: World) -> Any:
    """A boto3 EC2 client in the other account, through the role."""
    credentials = assumed_credentials(world)
    return boto3.client(
        "ec2",
        region_name=MAIN_REGION,
        endpoint_url=world.endpoint,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def test_status_reports_each_pointer_and_finds_what_was_planted(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    keeper = amikeeper.Keeper.from_toml(config(world.account), endpoint_url=world.endpoint)
    image = world.image("status-web-1")
    handled = keeper.handle(Origin(world.account, MAIN_REGION, "status").image_state_change(image, "available"))
    assert handled["status"] == amikeeper.RunStatus.OK, handled
    # Each copy's pointer moves when its destination sees the copy become available (its own
    # ``EC2 AMI State Change`` event, handled by the keeper of that account), as on AWS.
    for copy in handled["copies"]:
        owner = copy.get("account")
        event = Origin(owner or world.account, copy["region"], "status-copy")
        payload = event.image_state_change(copy["image_id"], "available")
        if owner is None:
            moved = keeper.handle(payload)
        else:
            with monkeypatch.context() as patch:
                credentials = assumed_credentials(world)
                patch.setenv("AWS_ACCESS_KEY_ID", credentials["AccessKeyId"])
                patch.setenv("AWS_SECRET_ACCESS_KEY", credentials["SecretAccessKey"])
                patch.setenv("AWS_SESSION_TOKEN", credentials["SessionToken"])
                there = amikeeper.Keeper.from_toml(config(owner), endpoint_url=world.endpoint)
                moved = there.handle(payload)
        assert moved["status"] == amikeeper.RunStatus.OK, moved

    report: amikeeper.StatusReport = keeper.status(fleet=True)
    assert report["errors"] == [] and report["findings"] == [], report
    seen = [(p["account"], p["region"], p["name"], p["found_by"]) for p in report["pointers"]]
    assert seen == [
        (world.account, MAIN_REGION, PARAMETER, "configured"),
        (world.account, DR_REGION, PARAMETER, "configured"),
        (OTHER, MAIN_REGION, PARAMETER, "configured"),
    ], report
    home = report["pointers"][0]
    assert home["image_id"] == image
    assert home["image"] is not None and home["image"]["state"] == "available" and home["image"]["protected"]
    dr_image = report["pointers"][1]["image"]
    assert dr_image is not None and dr_image["copied_from"] == f"{MAIN_REGION}/{image}"
    copy = report["pointers"][2]["image_id"]
    assert copy is not None

    # Planted: the other account's copy deregistered, the DR parameter moved to an AMI that is
    # not the copy, the home AMI's protection turned off.
    ec2 = other_account_ec2(world)
    ec2.disable_image_deregistration_protection(ImageId=copy)
    ec2.deregister_image(ImageId=copy)
    stray = world.image("status-web-0", DR_REGION)
    world.set_parameter(PARAMETER, stray, DR_REGION)
    world.client("ec2").disable_image_deregistration_protection(ImageId=image)

    report = keeper.status(fleet=True)
    assert report["errors"] == [], report
    found = sorted((f["kind"], f["account"], f["region"]) for f in report["findings"])
    assert found == [
        ("dangling", OTHER, MAIN_REGION),
        ("dr_lag", world.account, DR_REGION),
        ("unprotected", world.account, MAIN_REGION),
        # The stray AMI the DR parameter was moved to outside amikeeper was never protected.
        ("unprotected", world.account, DR_REGION),
    ], report
    reasons = {(f["kind"], f["region"]): f["reason"] for f in report["findings"]}
    assert copy in reasons[("dangling", MAIN_REGION)] and stray in reasons[("dr_lag", DR_REGION)]
    assert image in reasons[("unprotected", MAIN_REGION)] and stray in reasons[("unprotected", DR_REGION)]

    only_dr = keeper.status(fleet=True, region=DR_REGION)
    found_dr = sorted((f["kind"], f["region"]) for f in only_dr["findings"])
    assert found_dr == [("dr_lag", DR_REGION), ("unprotected", DR_REGION)], only_dr
