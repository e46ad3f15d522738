"""Every seed flow through the installed wheel against moto: the scenarios of
``amikeeper::conformance`` (run on the SDK backend by ``crates/amikeeper-aws/tests/moto.rs``),
driven from Python, set up and checked with boto3. Some go through ``Keeper``, some through the
one-line ``lambda_handler`` as a Lambda would run it.

The configurations are the seed configuration files of the Rust core
(``crates/amikeeper/src/seeds/``, ``amikeeper::samples::configs``), read as they are: the same
files the conformance scenarios run and ``docs/guides/`` shows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import amikeeper
from aws_world import DR_REGION, MAIN_REGION, World
from sample_events import Origin

#: The seed configurations: one TOML file per seed scenario, in the Rust core's crate.
SEEDS = Path(__file__).resolve().parents[2] / "crates" / "amikeeper" / "src" / "seeds"
#: The account the seed configurations name.
SEED_ACCOUNT = "111122223333"
#: The builder instance of seed 003's configuration.
SEED_003_BUILDER = "i-0b0b0b0b0b0b0b0b0"

BACKUP_TO_PARAMETER = "seed-000-backup-to-parameter.toml"
FROM_TAGS = "seed-001-parameter-and-stack-from-tags.toml"
ASG_TO_LATEST = "seed-002-asg-to-latest.toml"
DLM_TO_LAUNCH_TEMPLATE = "seed-002-dlm-to-launch-template.toml"
NIGHTLY_BAKE = "seed-003-nightly-bake.toml"
GENERATIONS = "seed-004-snapshot-generations.toml"


def statuses(report: dict[str, Any]) -> list[str]:
    return [target["status"] for target in report["targets"]]


def seed_config(name: str, world: World) -> str:
    """The seed configuration file ``name``, in moto's account."""
    text = (SEEDS / name).read_text()
    assert f'"{SEED_ACCOUNT}"' in text, name
    return text.replace(f'"{SEED_ACCOUNT}"', f'"{world.account}"')


def seed_keeper(name: str, world: World) -> amikeeper.Keeper:
    """A keeper pointed at moto with the seed configuration file ``name``."""
    return amikeeper.Keeper.from_toml(seed_config(name, world), endpoint_url=world.endpoint)


def write_config(directory: Path, text: str) -> Path:
    path = directory / "keeper.toml"
    path.write_text(text)
    return path


def test_seed_000_backup_to_fixed_version_parameter_main_and_dr(world: World) -> None:
    keeper = seed_keeper(BACKUP_TO_PARAMETER, world)
    instance = world.instance()
    old = world.image(f"AWSBackup_{instance}_1")
    world.set_parameter(instance, old)
    name = f"AWSBackup_{instance}_2"
    new = world.image(name)

    main = Origin(world.account, MAIN_REGION, "c000-main")
    report = keeper.handle(main.create_image(new, instance, name, "AWS Backup"))
    assert statuses(report) == ["updated"], report
    assert world.parameter(instance) == (new, 1), "re-created at version 1"
    # DescribeImages, GetParameter, DescribeImages (current), DeleteParameter, PutParameter,
    # GetParameter (read back); then EnableImageDeregistrationProtection and CreateTags
    # (amikeeper:protected), GetParameter (the pointer still names it), DescribeImages (the AMI
    # it left, afresh, for its protection).
    assert report["aws_calls"] == 10, report["aws_calls_by_operation"]
    assert report["protection"] == f"{new} is now protected from deregistration"
    assert world.image_protected(new)

    copy = world.image(name, DR_REGION)
    dr = Origin(world.account, DR_REGION, "c000-dr")
    report = keeper.handle(dr.copy_image(copy, new, MAIN_REGION, name))
    assert statuses(report) == ["updated"], report
    assert report["event"]["region"] == DR_REGION
    assert world.parameter(instance, DR_REGION) == (copy, 1)
    # DescribeImages, GetParameter (not there yet), PutParameter, GetParameter (read back),
    # protection (2), GetParameter (the pointer still names it).
    assert report["aws_calls"] == 7, report["aws_calls_by_operation"]
    assert world.parameter(instance) == (new, 1), "main region untouched"


def test_seed_001_parameter_from_tag_through_the_lambda_handler(world: World, tmp_path: Path) -> None:
    handler = amikeeper.lambda_handler(
        write_config(tmp_path, seed_config(FROM_TAGS, world)), endpoint_url=world.endpoint
    )
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
    # DescribeImages, GetParameter, DescribeImages (current), PutParameter, protection (2),
    # GetParameter (the pointer still names it), DescribeImages (the AMI it left, afresh).
    assert report["aws_calls"] == 8, report["aws_calls_by_operation"]

    again = handler(event, None)
    assert isinstance(again, dict) and statuses(again) == ["unchanged"], again
    late = Origin(world.account, MAIN_REGION, "c001-late").backup_job(older, "i-0123456789abcdef0")
    skipped = handler(late, None)
    assert isinstance(skipped, dict) and statuses(skipped) == ["skipped"], skipped
    assert world.parameter("/ami/web") == (new, 2), "never moved back to an older AMI"


def test_seed_001_stack_from_tag(world: World) -> None:
    keeper = seed_keeper(FROM_TAGS, world)
    old = world.image("c001-stack-old")
    world.stack("solution2", {"ImageId": old, "InstanceType": "t3.small"})
    new = world.image("c001-stack-new", tags={"StackName": "solution2"})
    event = Origin(world.account, MAIN_REGION, "c001-stack").backup_job(new, "i-0123456789abcdef0")

    report = keeper.handle(event)
    assert statuses(report) == ["updated"], report
    assert world.stack_parameters("solution2") == {"ImageId": new, "InstanceType": "t3.small"}
    # DescribeImages, DescribeStacks, DescribeImages (current), UpdateStack, protection (2),
    # DescribeImages (the AMI it left, afresh).
    assert report["aws_calls"] == 7, report["aws_calls_by_operation"]
    assert statuses(keeper.handle(event)) == ["unchanged"]


def test_seed_002_asg_created_to_latest(world: World) -> None:
    keeper = seed_keeper(ASG_TO_LATEST, world)
    image = world.image("c002-base")
    template = world.launch_template("app", image)
    world.auto_scaling_group("app-asg", template, "1")
    event = Origin(world.account, MAIN_REGION, "c002-asg").create_auto_scaling_group("app-asg", template, "1")

    report = keeper.handle(event)
    assert statuses(report) == ["updated"], report
    assert world.group_template("app-asg") == (template, "$Latest")
    # DescribeAutoScalingGroups, UpdateAutoScalingGroup.
    assert report["aws_calls_by_operation"] == {
        "autoscaling:DescribeAutoScalingGroups": 1,
        "autoscaling:UpdateAutoScalingGroup": 1,
    }
    assert statuses(keeper.handle(event)) == ["unchanged"]


def test_seed_002_dlm_to_launch_template(world: World) -> None:
    keeper = seed_keeper(DLM_TO_LAUNCH_TEMPLATE, world)
    base = world.image("c002-dlm-base")
    template = world.launch_template("c002-dlm", base)
    world.set_parameter("/app/launch-template-id", template)
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
    # As in the conformance suite: 9, the default read back (3) and the AMI it left (1).
    assert report["aws_calls"] == 13, report["aws_calls_by_operation"]
    assert statuses(keeper.handle(event)) == ["unchanged"]
    assert world.template_state(template)[1] == 2, "no second version for the same event"


def test_seed_003_scheduled_bake_through_the_lambda_handler(world: World, tmp_path: Path) -> None:
    instance = world.instance()
    # The seed configuration with moto's builder instance, waiting up to 120 s for the image and
    # polling every second, as a one-shot Lambda would (the file itself defers a pending image to
    # its `EC2 AMI State Change` event).
    text = seed_config(NIGHTLY_BAKE, world).replace(SEED_003_BUILDER, instance)
    text += "\n[wait]\ntimeout_seconds = 120\npoll_seconds = 1\n"
    handler = amikeeper.lambda_handler(write_config(tmp_path, text), endpoint_url=world.endpoint)
    base = world.image("c003-base")
    template = world.launch_template("web", base)
    world.auto_scaling_group("web-asg", template, "1")

    report = handler(Origin(world.account, MAIN_REGION, "c003-schedule").scheduled("nightly-ami"), None)
    assert isinstance(report, dict)
    assert statuses(report) == ["updated", "updated", "updated"], report
    baked = report["targets"][0]["to"]
    assert world.describe_image(baked) is not None
    assert world.template_state(template)[2][0] == (2, baked)
    assert world.group_template("web-asg") == (template, "2")
    calls = report["aws_calls_by_operation"]
    # The writes, exactly; the reads vary with what the run reads back after protecting the AMI
    # (another run may have moved a pointer meanwhile), so they are only bounded.
    writes = {op: n for op, n in calls.items() if not op.split(":")[1].startswith("Describe")}
    assert writes == {
        "autoscaling:UpdateAutoScalingGroup": 1,
        "ec2:CreateImage": 1,
        "ec2:CreateLaunchTemplateVersion": 1,
        "ec2:CreateTags": 1,
        "ec2:EnableImageDeregistrationProtection": 1,
        "ec2:ModifyLaunchTemplate": 1,
    }, calls
    reads = {op: n for op, n in calls.items() if op not in writes and op != "ec2:DescribeImages"}
    assert set(reads) == {
        "autoscaling:DescribeAutoScalingGroups",
        "ec2:DescribeLaunchTemplateVersions",
        "ec2:DescribeLaunchTemplates",
    }, calls
    assert all(n <= 4 for n in reads.values()), calls


def test_seed_004_snapshot_generations_swept_on_a_schedule(world: World, tmp_path: Path) -> None:
    handler = amikeeper.lambda_handler(
        write_config(tmp_path, seed_config(GENERATIONS, world)), endpoint_url=world.endpoint
    )
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

    keeper = seed_keeper(GENERATIONS, world)
    again = keeper.sweep(apply=True)
    assert again["results"] == [], again["results"]
    reads = (":Describe", ":Get", ":List")
    assert all(any(r in op for r in reads) for op in again["aws_calls_by_operation"]), "converged: only reads"


def test_refusals_write_nothing(world: World) -> None:
    keeper = seed_keeper(FROM_TAGS, world)
    hostile = world.image("c-hostile", tags={"ImageIdParameterName": "/prod/db/password"})
    report = keeper.handle(Origin(world.account, MAIN_REGION, "c-hostile").backup_job(hostile, "i-0123456789abcdef0"))
    assert statuses(report) == ["refused"], report
    assert report["aws_calls"] == 1, "only the DescribeImages that read the tag"
    assert world.parameter("/prod/db/password") is None

    foreign = Origin("999999999999", MAIN_REGION, "c-foreign").backup_job(hostile, "i-0123456789abcdef0")
    report = keeper.handle(foreign)
    assert (report["status"], report["aws_calls"]) == ("refused", 0), report
