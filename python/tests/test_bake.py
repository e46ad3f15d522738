"""``Keeper.bake`` through the installed wheel: a rule's bake on demand against moto (a dry run
that writes nothing, then the AMI published to a launch template, a group and a parameter, and
the group's instance refresh), and the errors for rules that cannot bake."""

from __future__ import annotations

from typing import Any

import pytest

import amikeeper
from aws_world import MAIN_REGION, World
from conftest import KeeperFor


def bake_config(builder: str) -> str:
    """A bake rule of ``builder`` with three targets (the group refreshed once moved), and a rule
    without ``bake``."""
    return f"""
[wait]
timeout_seconds = 30
poll_seconds = 1

[[rules]]
name = "py-bake"
[rules.match]
schedule_rule = "nightly-ami"
[rules.bake]
instance_id = "{builder}"
name = "py-bake-{{date}}"
tags = {{ Team = "web" }}
[[rules.targets]]
kind = "launch_template"
name = "py-bake-web"
[[rules.targets]]
kind = "auto_scaling_group"
name = "py-bake-asg"
instance_refresh = {{ min_healthy_percentage = 80 }}
[[rules.targets]]
kind = "ssm_parameter"
name = "/ami/py-bake"

[[rules]]
name = "backups"
[rules.match]
name_prefix = "AWSBackup_"
[[rules.targets]]
kind = "ssm_parameter"
name = "/ami/backup"
"""


def outcomes(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Each target of a report as ``(kind, name, status)``."""
    return [(t["kind"], t["name"], t["status"]) for t in report["targets"]]


def test_bake_plans_then_publishes_and_refreshes_the_group(world: World, keeper_for: KeeperFor) -> None:
    builder = world.instance()
    base = world.image("py-bake-base")
    template = world.launch_template("py-bake-web", base)
    world.auto_scaling_group("py-bake-asg", template, "1")
    world.set_parameter("/ami/py-bake", base)
    keeper = keeper_for(bake_config(builder))

    planned = keeper.bake("py-bake", dry_run=True)
    assert planned["dry_run"] is True and planned["status"] == "ok", planned
    assert outcomes(planned) == [("bake", builder, "planned"), ("instance_refresh", "py-bake-asg", "planned")]
    assert planned["aws_calls"] == 0, planned
    assert world.template_state(template)[1] == 1
    assert world.group_template("py-bake-asg") == (template, "1")

    report = keeper.bake("py-bake", region=MAIN_REGION, wait=10)
    assert report["status"] == "ok", report
    assert report["event"]["kind"] == "scheduled" and report["event"]["region"] == MAIN_REGION, report
    assert outcomes(report) == [
        ("bake", builder, "updated"),
        ("launch_template", "py-bake-web", "updated"),
        ("auto_scaling_group", "py-bake-asg", "updated"),
        ("ssm_parameter", "/ami/py-bake", "updated"),
        ("instance_refresh", "py-bake-asg", "updated"),
    ], report
    baked = report["targets"][0]["to"]
    image = world.describe_image(baked)
    assert image is not None and image["State"] == "available"
    tags = {tag["Key"]: tag["Value"] for tag in image.get("Tags", [])}
    assert tags["Team"] == "web" and tags["amikeeper:rule"] == "py-bake", tags
    assert world.template_state(template)[2][0] == (2, baked)
    assert world.group_template("py-bake-asg") == (template, "2")
    assert world.parameter("/ami/py-bake") == (baked, 2)

    refreshes = world.client("autoscaling").describe_instance_refreshes(AutoScalingGroupName="py-bake-asg")
    [refresh] = refreshes["InstanceRefreshes"]
    assert refresh["InstanceRefreshId"] == report["targets"][4]["to"]
    assert refresh["Preferences"]["MinHealthyPercentage"] == 80
    assert report["aws_calls_by_operation"]["autoscaling:StartInstanceRefresh"] == 1


def test_rules_that_cannot_bake_are_config_errors() -> None:
    # Nothing listens at the endpoint: the errors come before any AWS call.
    keeper = amikeeper.Keeper.from_toml(
        'accounts = ["111122223333"]\n' + bake_config("i-0b0b0b0b0b0b0b0b0"),
        region=MAIN_REGION,
        endpoint_url="http://127.0.0.1:9",
    )
    with pytest.raises(amikeeper.ConfigError, match="no rule is named `nightly`; the rules with `bake` are: py-bake"):
        keeper.bake("nightly")
    with pytest.raises(ValueError, match="rule `backups` has no `bake`"):
        keeper.bake("backups", dry_run=True)
    with pytest.raises(amikeeper.ConfigError, match="999999999999 is not one of the configuration's accounts"):
        keeper.bake("py-bake", account="999999999999")
