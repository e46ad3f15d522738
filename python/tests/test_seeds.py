"""Every seed flow through the installed wheel against moto: the scenarios of
``amikeeper::conformance`` (run on the SDK backend by ``crates/amikeeper-aws/tests/moto.rs``),
driven from Python, set up and checked with boto3. Some go through ``Keeper``, some through the
one-line ``lambda_handler`` as a Lambda would run it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import amikeeper
from aws_world import DR_REGION, MAIN_REGION, World
from conftest import KeeperFor
from sample_events import Origin

BACKUP_TO_PARAMETER = """
[[rules]]
name = "backup-ami-to-parameter"
on = ["image_created", "image_copied", "image_state_changed"]
[rules.match]
name_prefix = "AWSBackup_"
[[rules.targets]]
kind = "ssm_parameter"
name = "{instance_id}"
fixed_version = true
"""

FROM_TAGS = """
allowed_name_prefixes = ["/ami/", "conformance"]
[[rules]]
name = "parameter-from-tag"
on = ["backup_job"]
[rules.match]
has_tags = ["ImageIdParameterName"]
[[rules.targets]]
kind = "ssm_parameter"
name = "{tag:ImageIdParameterName}"

[[rules]]
name = "stack-from-tag"
on = ["backup_job"]
[rules.match]
has_tags = ["StackName"]
[[rules.targets]]
kind = "stack_parameter"
stack = "{tag:StackName}"
parameter = "ImageId"
capabilities = ["CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
"""


def statuses(report: dict[str, Any]) -> list[str]:
    return [target["status"] for target in report["targets"]]


def write_config(directory: Path, world: World, body: str) -> Path:
    path = directory / "keeper.toml"
    path.write_text(f'accounts = ["{world.account}"]\n{body}')
    return path


def test_seed_000_backup_to_fixed_version_parameter_main_and_dr(world: World, keeper_for: KeeperFor) -> None:
    keeper = keeper_for(BACKUP_TO_PARAMETER)
    instance = world.instance()
    old = world.image(f"AWSBackup_{instance}_1")
    world.set_parameter(instance, old)
    name = f"AWSBackup_{instance}_2"
    new = world.image(name)

    main = Origin(world.account, MAIN_REGION, "c000-main")
    report = keeper.handle(main.create_image(new, instance, name, "AWS Backup"))
    assert statuses(report) == ["updated"], report
    assert world.parameter(instance) == (new, 1), "re-created at version 1"
    # DescribeImages, GetParameter, DescribeImages (current), DeleteParameter, PutParameter;
    # then EnableImageDeregistrationProtection and CreateTags (amikeeper:protected).
    assert report["aws_calls"] == 7, report["aws_calls_by_operation"]
    assert report["protection"] == f"{new} is now protected from deregistration"
    assert world.image_protected(new)

    copy = world.image(name, DR_REGION)
    dr = Origin(world.account, DR_REGION, "c000-dr")
    report = keeper.handle(dr.copy_image(copy, new, MAIN_REGION, name))
    assert statuses(report) == ["updated"], report
    assert report["event"]["region"] == DR_REGION
    assert world.parameter(instance, DR_REGION) == (copy, 1)
    # DescribeImages, GetParameter (not there yet), PutParameter, and protection (2).
    assert report["aws_calls"] == 5, report["aws_calls_by_operation"]
    assert world.parameter(instance) == (new, 1), "main region untouched"


def test_seed_001_parameter_from_tag_through_the_lambda_handler(world: World, tmp_path: Path) -> None:
    handler = amikeeper.lambda_handler(write_config(tmp_path, world, FROM_TAGS), endpoint_url=world.endpoint)
    older = world.image("c001-older", tags={"ImageIdParameterName": "/ami/web"})
    old = world.image("c001-old")
    world.set_parameter("/ami/web", old)
    new = world.image("c001-new", tags={"ImageIdParameterName": "/ami/web"})
    event = Origin(world.account, MAIN_REGION, "c001-param").backup_job(new, "i-0123456789abcdef0")

    report = handler(event, None)
    assert isinstance(report, dict)
    assert statuses(report) == ["updated"], report
    assert report["targets"][0]["from"] == old and report["targets"][0]["to"] == new
    assert world.parameter("/ami/web") == (new, 2)
    # DescribeImages, GetParameter, DescribeImages (current), PutParameter, and protection (2).
    assert report["aws_calls"] == 6, report["aws_calls_by_operation"]

    again = handler(event, None)
    assert isinstance(again, dict) and statuses(again) == ["unchanged"], again
    late = Origin(world.account, MAIN_REGION, "c001-late").backup_job(older, "i-0123456789abcdef0")
    skipped = handler(late, None)
    assert isinstance(skipped, dict) and statuses(skipped) == ["skipped"], skipped
    assert world.parameter("/ami/web") == (new, 2), "never moved back to an older AMI"


def test_seed_001_stack_from_tag(world: World, keeper_for: KeeperFor) -> None:
    keeper = keeper_for(FROM_TAGS)
    old = world.image("c001-stack-old")
    world.stack("conformance-app", {"ImageId": old, "InstanceType": "t3.small"})
    new = world.image("c001-stack-new", tags={"StackName": "conformance-app"})
    event = Origin(world.account, MAIN_REGION, "c001-stack").backup_job(new, "i-0123456789abcdef0")

    report = keeper.handle(event)
    assert statuses(report) == ["updated"], report
    assert world.stack_parameters("conformance-app") == {"ImageId": new, "InstanceType": "t3.small"}
    # DescribeImages, DescribeStacks, DescribeImages (current), UpdateStack, and protection (2).
    assert report["aws_calls"] == 6, report["aws_calls_by_operation"]
    assert statuses(keeper.handle(event)) == ["unchanged"]


def test_seed_002_asg_created_to_latest(world: World, keeper_for: KeeperFor) -> None:
    keeper = keeper_for(
        """
        [[rules]]
        name = "asg-to-latest"
        on = ["asg_created"]
        [[rules.targets]]
        kind = "auto_scaling_group"
        name = "{asg_name}"
        version = "$Latest"
        """
    )
    image = world.image("c002-base")
    template = world.launch_template("c002-asg", image)
    world.auto_scaling_group("c002-asg", template, "1")
    event = Origin(world.account, MAIN_REGION, "c002-asg").create_auto_scaling_group("c002-asg", template, "1")

    report = keeper.handle(event)
    assert statuses(report) == ["updated"], report
    assert world.group_template("c002-asg") == (template, "$Latest")
    # DescribeAutoScalingGroups, UpdateAutoScalingGroup.
    assert report["aws_calls_by_operation"] == {
        "autoscaling:DescribeAutoScalingGroups": 1,
        "autoscaling:UpdateAutoScalingGroup": 1,
    }
    assert statuses(keeper.handle(event)) == ["unchanged"]


def test_seed_002_dlm_to_launch_template(world: World, keeper_for: KeeperFor) -> None:
    keeper = keeper_for(
        """
        [[rules]]
        name = "dlm-to-launch-template"
        on = ["image_created", "image_state_changed"]
        [rules.match]
        description_contains = "EC2_BACKUP"
        [[rules.targets]]
        kind = "launch_template"
        id_from_parameter = "/conformance/launch-template-id"
        """
    )
    base = world.image("c002-dlm-base")
    template = world.launch_template("c002-dlm", base)
    world.set_parameter("/conformance/launch-template-id", template)
    description = "Created for policy: policy-0abc schedule: daily EC2_BACKUP"
    image = world.image("c002-dlm-1", description=description)
    event = Origin(world.account, MAIN_REGION, "c002-dlm").create_image(
        image, "i-0123456789abcdef0", "c002-dlm-1", description
    )

    planned = keeper.handle(event, dry_run=True)
    assert planned["dry_run"] is True and statuses(planned) == ["planned"], planned
    assert world.template_state(template)[1] == 1, "a dry run writes nothing"

    report = keeper.handle(event)
    assert statuses(report) == ["updated"], report
    default, latest, versions = world.template_state(template)
    assert (default, latest) == (2, 2)
    assert versions[0] == (2, image)
    assert report["aws_calls"] == 9, report["aws_calls_by_operation"]
    assert statuses(keeper.handle(event)) == ["unchanged"]
    assert world.template_state(template)[1] == 2, "no second version for the same event"


def test_seed_003_scheduled_bake_through_the_lambda_handler(world: World, tmp_path: Path) -> None:
    instance = world.instance()
    body = f"""
        [wait]
        timeout_seconds = 120
        poll_seconds = 1
        [[rules]]
        name = "nightly-bake"
        [rules.match]
        schedule_rule = "nightly-ami"
        [rules.bake]
        instance_id = "{instance}"
        [[rules.targets]]
        kind = "launch_template"
        name = "c003-web"
        [[rules.targets]]
        kind = "auto_scaling_group"
        name = "c003-web-asg"
    """
    handler = amikeeper.lambda_handler(write_config(tmp_path, world, body), endpoint_url=world.endpoint)
    base = world.image("c003-base")
    template = world.launch_template("c003-web", base)
    world.auto_scaling_group("c003-web-asg", template, "1")

    report = handler(Origin(world.account, MAIN_REGION, "c003-schedule").scheduled("nightly-ami"), None)
    assert isinstance(report, dict)
    assert statuses(report) == ["updated", "updated", "updated"], report
    baked = report["targets"][0]["to"]
    assert world.describe_image(baked) is not None
    assert world.template_state(template)[2][0] == (2, baked)
    assert world.group_template("c003-web-asg") == (template, "2")
    writes = {op: n for op, n in report["aws_calls_by_operation"].items() if op != "ec2:DescribeImages"}
    assert writes == {
        "autoscaling:DescribeAutoScalingGroups": 1,
        "autoscaling:UpdateAutoScalingGroup": 1,
        "ec2:CreateImage": 1,
        "ec2:CreateLaunchTemplateVersion": 1,
        "ec2:CreateTags": 1,
        "ec2:DescribeLaunchTemplateVersions": 2,
        "ec2:DescribeLaunchTemplates": 1,
        "ec2:EnableImageDeregistrationProtection": 1,
        "ec2:ModifyLaunchTemplate": 1,
    }


GENERATIONS = """
[retention]
[retention.snapshots]
generations_tag = "Daily_Gens"
"""


def test_seed_004_snapshot_generations_swept_on_a_schedule(world: World, tmp_path: Path) -> None:
    handler = amikeeper.lambda_handler(write_config(tmp_path, world, GENERATIONS), endpoint_url=world.endpoint)
    volume = world.volume({"Daily_Gens": "3"})
    other = world.volume()
    orphan = world.snapshot(other)
    snapshots = [world.snapshot(volume, {"amikeeper:keep": "audit"} if i == 0 else {}) for i in range(6)]

    # No rule bakes on this schedule, and the configuration has [retention]: the handler sweeps
    # the event's region and applies the plan.
    report = handler(Origin(world.account, MAIN_REGION, "c004-nightly").scheduled("nightly-sweep"), None)
    assert isinstance(report, dict)
    assert report["applied"] is True and report["status"] == "ok", report["results"]
    deleted = {g["snapshot_id"] for g in report["plan"]["snapshot_generations"] if g["delete"]}
    assert deleted == {snapshots[1], snapshots[2]}
    orphans = report["plan"]["orphans"]
    assert orphan in [o["snapshot_id"] for o in orphans] and not any(o["delete"] for o in orphans)
    assert report["summary"]["snapshots_deleted"] == 2
    assert report["summary"]["snapshots_tagged"] == 3

    now = world.own_snapshots()
    assert orphan in now and snapshots[0] in now
    assert not any(gone in now for gone in snapshots[1:3])
    for kept in snapshots[3:]:
        assert now[kept].get("amikeeper:volume") == volume
    assert "amikeeper:volume" not in now[snapshots[0]], "the excluded one is not managed"

    keeper = amikeeper.Keeper.from_toml(f'accounts = ["{world.account}"]\n{GENERATIONS}', endpoint_url=world.endpoint)
    again = keeper.sweep(apply=True)
    assert again["results"] == [], again["results"]
    reads = (":Describe", ":Get", ":List")
    assert all(any(r in op for r in reads) for op in again["aws_calls_by_operation"]), "converged: only reads"


def test_refusals_write_nothing(world: World, keeper_for: KeeperFor) -> None:
    keeper = keeper_for(FROM_TAGS)
    hostile = world.image("c-hostile", tags={"ImageIdParameterName": "/prod/db/password"})
    report = keeper.handle(Origin(world.account, MAIN_REGION, "c-hostile").backup_job(hostile, "i-0123456789abcdef0"))
    assert statuses(report) == ["refused"], report
    assert report["aws_calls"] == 1, "only the DescribeImages that read the tag"
    assert world.parameter("/prod/db/password") is None

    foreign = Origin("999999999999", MAIN_REGION, "c-foreign").backup_job(hostile, "i-0123456789abcdef0")
    report = keeper.handle(foreign)
    assert (report["status"], report["aws_calls"]) == ("refused", 0), report
