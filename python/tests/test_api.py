"""The Python API beyond the seed flows: parsing, reports as the CLI's JSON, batches, dry runs,
rollbacks, scheduled events in ``lambda_handler``, the released GIL, threads and logging."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

import amikeeper
from aws_world import ACCOUNT, MAIN_REGION, World
from conftest import EVENT_FIXTURES, shared_config
from local_http import proxy_to, serving
from sample_events import Origin, sqs_batch

#: The kind each of the core's real payloads normalises to (the README's table).
FIXTURE_KINDS = {
    "ami_state_change_available.json": "image_state_changed",
    "backup_copy_job_completed.json": "backup_copy_job",
    "backup_job_completed.json": "backup_job",
    "cloudtrail_copy_image.json": "image_copied",
    "cloudtrail_create_asg.json": "asg_created",
    "cloudtrail_create_image_backup.json": "image_created",
    "cloudtrail_create_image_dlm.json": "image_created",
    "cloudtrail_register_image.json": "image_registered",
    "ebs_snapshot_notification.json": "snapshot_created",
    "scheduled_event.json": "scheduled",
    "sns_record.json": "image_created",
}

#: The parameter an AMI's tag names, on AWS Backup jobs, in moto's account.
PARAMETER_FROM_TAG = shared_config("cli-parameter-from-tag", account=ACCOUNT)


def parameter_from_tag(world: World) -> amikeeper.Keeper:
    """A keeper of ``PARAMETER_FROM_TAG`` pointed at moto."""
    return amikeeper.Keeper.from_toml(PARAMETER_FROM_TAG, endpoint_url=world.endpoint)


def cli() -> str:
    """The `amikeeper` CLI built from the same sources (scripts/test.sh sets AMIKEEPER_CLI)."""
    path = os.environ.get("AMIKEEPER_CLI")
    if not path:
        pytest.skip("AMIKEEPER_CLI is not set (scripts/test.sh sets it to the built CLI)")
    return path


def test_version_and_exports() -> None:
    assert amikeeper.__version__.count(".") == 2
    assert set(amikeeper.__all__) <= set(dir(amikeeper))
    assert issubclass(amikeeper.AwsError, amikeeper.AmikeeperError)


@pytest.mark.parametrize("name", sorted(FIXTURE_KINDS))
def test_every_real_payload_parses_from_dict_str_and_bytes(name: str) -> None:
    text = (EVENT_FIXTURES / name).read_text()
    parsed = amikeeper.parse_event(json.loads(text))
    assert parsed["kind"] == FIXTURE_KINDS[name]
    assert amikeeper.parse_event(text) == parsed
    assert amikeeper.parse_event(text.encode()) == parsed
    assert amikeeper.parse_event(bytearray(text.encode())) == parsed
    assert amikeeper.parse_events(text) == [parsed]


def test_parsed_events_are_what_the_cli_prints() -> None:
    binary = cli()
    for name in sorted(FIXTURE_KINDS) + ["sqs_batch.json"]:
        printed = json.loads(subprocess.run([binary, "parse", str(EVENT_FIXTURES / name)], check=True, capture_output=True).stdout)
        parsed = amikeeper.parse_events(json.loads((EVENT_FIXTURES / name).read_text()))
        assert parsed == printed, name  # the CLI prints an array, one item per event
        # And in the CLI's field order, not merely equal.
        assert [list(event) for event in parsed] == [list(event) for event in printed]


def test_reports_are_what_the_cli_prints(world: World, tmp_path: Path) -> None:
    world.set_parameter("/ami/web", world.image("api-cli-old"))
    image = world.image("api-cli", tags={"ImageIdParameterName": "/ami/web"})
    event = Origin(world.account, MAIN_REGION, "api-cli").backup_job(image, "i-0123456789abcdef0")
    config = tmp_path / "keeper.toml"
    config.write_text(PARAMETER_FROM_TAG)
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps(event))

    report = amikeeper.Keeper.from_file(config, endpoint_url=world.endpoint).handle(event, dry_run=True)
    assert report["status"] == "ok" and report["targets"][0]["status"] == "planned", report
    assert json.loads(json.dumps(report)) == report, "only JSON types"
    printed = subprocess.run(
        [cli(), "handle", "--config", str(config), "--dry-run", "--endpoint-url", world.endpoint, str(event_file)],
        check=True,
        capture_output=True,
    ).stdout
    # The CLI prints an array, one report per event, however many the payload has.
    assert json.loads(printed) == [report]
    assert list(json.loads(printed)[0]) == list(report), "the same field order"


def test_handle_all_takes_sqs_batches_and_dry_runs_write_nothing(world: World) -> None:
    keeper = parameter_from_tag(world)
    first = world.image("api-batch-1", tags={"ImageIdParameterName": "/ami/first"})
    second = world.image("api-batch-2", tags={"ImageIdParameterName": "/ami/second"})
    origin = Origin(world.account, MAIN_REGION, "api-batch")
    batch = sqs_batch([origin.backup_job(first, "i-0123456789abcdef0"), origin.backup_job(second, "i-0123456789abcdef0")])

    planned = keeper.handle_all(batch, dry_run=True)
    assert [report["targets"][0]["status"] for report in planned] == ["planned", "planned"]
    assert world.parameter("/ami/first") is None and world.parameter("/ami/second") is None

    reports = keeper.handle_all(batch)
    assert [report["targets"][0]["status"] for report in reports] == ["updated", "updated"]
    assert world.parameter("/ami/first") == (first, 1) and world.parameter("/ami/second") == (second, 1)


def test_a_keeper_from_a_dict_and_its_properties(world: World) -> None:
    config = {
        "accounts": [world.account],
        "rules": [{"name": "web", "targets": [{"kind": "ssm_parameter", "name": "/ami/web"}]}],
    }
    keeper = amikeeper.Keeper.from_dict(config, region="eu-west-1", endpoint_url=world.endpoint)
    assert keeper.region == "eu-west-1"
    assert keeper.has_retention is False
    assert repr(keeper) == "Keeper(rules=1, retention=False, region='eu-west-1')"
    image = world.image("web-1")
    report = keeper.handle(Origin(world.account, MAIN_REGION, "api-dict").image_state_change(image, "available"))
    assert report["targets"][0]["status"] == "updated", report
    assert world.parameter("/ami/web") == (image, 1), "the event's region, not the keeper's"


def test_rollback_moves_back_refuses_unavailable_amis_and_dry_runs(world: World) -> None:
    keeper = parameter_from_tag(world)
    good = world.image("api-rollback-good")
    bad = world.image("api-rollback-bad")
    world.set_parameter("/ami/web", good)
    world.set_parameter("/ami/web", bad)

    planned = keeper.rollback(["ssm_parameter:/ami/web"], dry_run=True)
    assert planned["status"] == "ok" and planned["dry_run"] is True
    assert planned["targets"][0]["status"] == "planned"
    assert (planned["targets"][0]["from"], planned["targets"][0]["to"]) == (bad, good)
    assert world.parameter("/ami/web") == (bad, 2)

    done = keeper.rollback(["ssm_parameter:/ami/web"])
    assert done["status"] == "ok" and done["targets"][0]["status"] == "updated", done
    assert "set aside" in done["notice"]
    assert world.parameter("/ami/web") == (good, 3)

    world.client("ec2").deregister_image(ImageId=bad)
    refused = keeper.rollback(["ssm_parameter:/ami/web"], to=bad)
    assert refused["status"] == "refused", refused
    assert "nothing was written" in refused["reason"]
    assert refused["targets"][0]["status"] == "refused" and bad in refused["targets"][0]["reason"]
    assert world.parameter("/ami/web") == (good, 3), "a refused rollback writes nothing"


RETENTION = """
[retention]
[[retention.images]]
group_by = { tag = "Role" }
keep_newest = 1
"""


def test_scheduled_events_in_the_lambda_handler(world: World, tmp_path: Path) -> None:
    old = world.image("api-sweep-1", tags={"Role": "web"})
    new = world.image("api-sweep-2", tags={"Role": "web"})
    schedule = Origin(world.account, MAIN_REGION, "api-schedule").scheduled("weekly-sweep")

    without = tmp_path / "without.toml"
    without.write_text(PARAMETER_FROM_TAG)
    ignored = amikeeper.lambda_handler(without, endpoint_url=world.endpoint)(schedule, None)
    assert isinstance(ignored, dict) and ignored["status"] == "ignored", ignored
    assert ignored["aws_calls"] == 0

    with_retention = tmp_path / "with.toml"
    with_retention.write_text(f'accounts = ["{world.account}"]\n{RETENTION}')
    planned = amikeeper.lambda_handler(with_retention, endpoint_url=world.endpoint, apply_sweeps=False)(schedule, None)
    assert isinstance(planned, dict) and planned["applied"] is False
    assert [d["image_id"] for d in planned["plan"]["images"] if d["action"] != "keep"] == [old], planned["plan"]
    assert world.own_image_ids() == sorted([old, new])

    swept = amikeeper.lambda_handler(with_retention, endpoint_url=world.endpoint)(schedule, None)
    assert isinstance(swept, dict)
    assert swept["applied"] is True and swept["status"] == "ok", swept["results"]
    assert swept["summary"]["images_retired"] == 1
    assert world.own_image_ids() == [new]


def test_statuses_are_string_enums_of_the_report_strings() -> None:
    failed: str = "failed"  # a report dict's string, as the handler sees it
    assert failed == amikeeper.RunStatus.FAILED and amikeeper.RunStatus("refused") is amikeeper.RunStatus.REFUSED
    assert [s.value for s in amikeeper.TargetStatus] == [
        "updated", "planned", "unchanged", "skipped", "deferred", "refused", "failed"
    ]
    assert [s.value for s in amikeeper.ItemStatus] == ["done", "already_gone", "skipped", "not_started", "failed"]
    assert json.dumps({"status": amikeeper.ItemStatus.ALREADY_GONE}) == '{"status": "already_gone"}'


def test_the_lambda_handler_answers_an_sqs_batch_with_the_records_to_deliver_again(
    world: World, tmp_path: Path
) -> None:
    config = tmp_path / "keeper.toml"
    config.write_text(PARAMETER_FROM_TAG)
    handler = amikeeper.lambda_handler(str(config), endpoint_url=world.endpoint)
    image = world.image("api-list", tags={"ImageIdParameterName": "/ami/list"})
    origin = Origin(world.account, MAIN_REGION, "api-list")
    answer = handler(sqs_batch([origin.backup_job(image, "i-0123456789abcdef0"), origin.scheduled("other")]), None)
    assert answer == {"batchItemFailures": []}, "none failed (test_batches.py: one that does)"
    assert world.parameter("/ami/list") == (image, 1)


def test_the_gil_is_released_while_aws_work_runs(world: World) -> None:
    # The proxy is Python, in this process: it can only forward while the call has let go of
    # the GIL. Held, the call would wait on it until the SDK's timeouts and fail.
    requests: list[str] = []
    image = world.image("api-gil", tags={"ImageIdParameterName": "/ami/gil"})
    event = Origin(world.account, MAIN_REGION, "api-gil").backup_job(image, "i-0123456789abcdef0")
    with serving(proxy_to(world.endpoint, requests)) as proxy:
        keeper = amikeeper.Keeper.from_toml(PARAMETER_FROM_TAG, endpoint_url=proxy)
        report = keeper.handle(event)
    assert report["targets"][0]["status"] == "updated", report
    assert len(requests) == report["aws_calls"] > 0
    assert world.parameter("/ami/gil") == (image, 1)


def test_threads_share_the_runtime(world: World) -> None:
    keepers = [parameter_from_tag(world) for _ in range(2)]
    images = [world.image(f"api-thread-{i}", tags={"ImageIdParameterName": f"/ami/thread-{i}"}) for i in range(6)]
    origin = Origin(world.account, MAIN_REGION, "api-thread")

    def handle(index: int) -> dict[str, Any]:
        return keepers[index % 2].handle(origin.backup_job(images[index], "i-0123456789abcdef0"))

    with ThreadPoolExecutor(max_workers=6) as pool:
        reports = list(pool.map(handle, range(6)))
    assert [report["targets"][0]["status"] for report in reports] == ["updated"] * 6
    for index, image in enumerate(images):
        assert world.parameter(f"/ami/thread-{index}") == (image, 1)


def test_rust_logs_reach_python_logging(
    world: World, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    keeper = parameter_from_tag(world)
    image = world.image("api-log", tags={"ImageIdParameterName": "/prod/secret"})
    event = Origin(world.account, MAIN_REGION, "api-log").backup_job(image, "i-0123456789abcdef0")
    with caplog.at_level(logging.WARNING, logger="amikeeper"):
        report = keeper.handle(event)
    assert report["targets"][0]["status"] == "refused"
    refusals = [r for r in caplog.records if r.name == "amikeeper.keeper" and "target refused" in r.getMessage()]
    assert refusals and refusals[0].levelno == logging.WARNING, [(r.name, r.getMessage()) for r in caplog.records]
    assert "/prod/secret" in refusals[0].getMessage()

    # A level changed between calls takes effect on the next call.
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="amikeeper"):
        keeper.handle(event)
    assert not [r for r in caplog.records if r.name.startswith("amikeeper.")]

    config = tmp_path / "keeper.toml"
    config.write_text(PARAMETER_FROM_TAG)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="amikeeper.lambda"):
        amikeeper.lambda_handler(config, endpoint_url=world.endpoint)(event, None)
    lines = [r.getMessage() for r in caplog.records if r.name == "amikeeper.lambda"]
    assert lines == ["backup_job event api-log in ap-northeast-1: refused, 1 targets, 1 AWS calls"], lines


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "python-lambda"


def test_the_lambda_example_loads_and_its_policy_is_the_cli_s(monkeypatch: pytest.MonkeyPatch) -> None:
    assert 'handler = amikeeper.lambda_handler("keeper.toml")' in (EXAMPLE / "handler.py").read_text()
    monkeypatch.chdir(EXAMPLE)
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.syspath_prepend(str(EXAMPLE))
    monkeypatch.delitem(sys.modules, "handler", raising=False)
    handler = __import__("handler").handler
    assert callable(handler)
    assert amikeeper.Keeper.from_file(EXAMPLE / "keeper.toml").has_retention

    printed = subprocess.run(
        [cli(), "iam-policy", "--config", str(EXAMPLE / "keeper.toml")], check=True, capture_output=True
    ).stdout
    def resources(statement: dict[str, Any]) -> list[str]:
        listed = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        # The template writes the partition and account as CloudFormation pseudo parameters.
        subbed = (r["Fn::Sub"] if isinstance(r, dict) else r for r in listed)
        return sorted(
            r.replace("${AWS::Partition}", "aws").replace("${AWS::AccountId}", "111122223333") for r in subbed
        )

    wanted = {
        s["Sid"]: (sorted(s["Action"]), resources(s))
        for s in json.loads(printed)["Statement"]
        # The function handles events and sweeps: an operator rolls back and reads the status.
        if not s["Sid"].startswith(("AmikeeperRollback", "AmikeeperStatus"))
    }
    template = yaml.safe_load((EXAMPLE / "template.yaml").read_text())
    policy = template["Resources"]["Amikeeper"]["Properties"]["Policies"][0]
    assert {s["Sid"]: (sorted(s["Action"]), resources(s)) for s in policy["Statement"]} == wanted


def test_the_wheel_is_the_one_installed() -> None:
    # The tests import the installed wheel, never the source tree.
    assert "site-packages" in amikeeper.__file__, amikeeper.__file__
    assert sys.prefix != sys.base_prefix, "run in the test virtualenv"
