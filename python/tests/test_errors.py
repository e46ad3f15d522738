"""Bad input raises the typed exceptions, before any AWS call; AWS failures raise ``AwsError``
with the service, operation and code."""

from __future__ import annotations

import datetime
import json
import pickle
from pathlib import Path
from typing import Any

import pytest

import amikeeper
from aws_world import MAIN_REGION, World
from conftest import EVENT_FIXTURES, KeeperFor, shared_config
from local_http import access_denied, serving
from sample_events import Origin, sqs_batch

#: Nothing listens here: a keeper pointed at it fails any AWS call it would make.
NOWHERE = "http://127.0.0.1:9"

#: One rule that publishes every AMI to ``/ami/web``, in the sample account ``111122223333``.
MINIMAL = shared_config("any-ami-to-parameter")


def fixture_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENT_FIXTURES / name).read_text())
    return event


def offline_keeper(body: str = "") -> amikeeper.Keeper:
    return amikeeper.Keeper.from_toml(MINIMAL + body, endpoint_url=NOWHERE)


@pytest.mark.parametrize(
    ("event", "words"),
    [
        ("this is not json", ["not valid JSON", "line 1 column"]),
        ("", ["empty"]),
        (b" \n\t ", ["empty"]),
        (b'{"a": 1} extra', ["trailing characters"]),
        ("[]", ["a JSON array"]),
        ({}, ["no keys"]),
        ({"hello": 1, "world": 2}, ["`hello`", "`world`"]),
        (
            {"version": "0", "id": "x", "detail-type": "Object Created", "source": "aws.s3", "account": "111122223333",
             "time": "2024-05-01T00:00:00Z", "region": "ap-northeast-1", "resources": [], "detail": {}},
            ["source `aws.s3`", "detail-type `Object Created`", "CreateImage"],
        ),
        ([1, 2, 3], ["a JSON array"]),
        (None, ["a JSON null"]),
        (42, ["a JSON number"]),
    ],
)
def test_malformed_and_unsupported_events_raise_event_error(event: Any, words: list[str]) -> None:
    with pytest.raises(amikeeper.EventError) as raised:
        amikeeper.parse_event(event)
    for word in words:
        assert word in str(raised.value), str(raised.value)
    assert isinstance(raised.value, amikeeper.AmikeeperError) and isinstance(raised.value, ValueError)


def test_a_bad_field_names_the_event_and_the_field() -> None:
    event = fixture_event("ami_state_change_available.json")
    del event["detail-type"]
    with pytest.raises(amikeeper.EventError, match="detail-type.*is missing"):
        amikeeper.parse_event(event)
    event = fixture_event("ami_state_change_available.json")
    event["account"] = "1234"
    with pytest.raises(amikeeper.EventError, match="12-digit"):
        amikeeper.parse_event(event)


def test_objects_that_are_not_json_raise_event_error_not_a_crash() -> None:
    event = fixture_event("backup_job_completed.json")
    event["detail"]["creationDate"] = datetime.datetime(2024, 5, 1)
    with pytest.raises(amikeeper.EventError, match="not JSON-like"):
        amikeeper.parse_event(event)
    circular: dict[str, Any] = {}
    circular["self"] = circular
    with pytest.raises(amikeeper.EventError, match="not JSON-like"):
        amikeeper.parse_event(circular)
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(amikeeper.EventError):
        amikeeper.parse_event(deep)
    with pytest.raises(amikeeper.EventError, match="nested too deeply"):
        amikeeper.parse_event("[" * 1000 + "]" * 1000)


def test_a_batch_where_one_event_is_expected() -> None:
    batch = sqs_batch([fixture_event("ami_state_change_available.json"), fixture_event("backup_job_completed.json")])
    with pytest.raises(amikeeper.EventError, match="carries 2 events.*use parse_events"):
        amikeeper.parse_event(batch)
    assert [event["kind"] for event in amikeeper.parse_events(batch)] == ["image_state_changed", "backup_job"]
    with pytest.raises(amikeeper.EventError, match="use Keeper.handle_all"):
        offline_keeper().handle(batch)


def test_bad_events_are_refused_before_any_aws_call() -> None:
    # The keeper's endpoint answers nothing: reaching AWS would be an AWS failure, not these.
    keeper = offline_keeper()
    events: list[Any] = ["{", {"source": "aws.ec2"}, fixture_event("scheduled_event.json") | {"source": "aws.scheduler"}]
    for event in events:
        with pytest.raises(amikeeper.EventError):
            keeper.handle(event)
        with pytest.raises(amikeeper.EventError):
            keeper.handle_all(event)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("accounts = [", ["invalid TOML configuration"]),
        ('accounts = ["111122223333"]\nrulez = []', ["unknown field `rulez`"]),
        ('accounts = ["111122223333"]', ["at least one rule"]),
        (MINIMAL.replace('"111122223333"', ""), ["accounts"]),
        (MINIMAL.replace('"/ami/web"', '"{tag:Where}"'), ["allowed_name_prefixes"]),
        (MINIMAL.replace('"/ami/web"', '"/ami/{nope}"'), ["nope"]),
        (MINIMAL + "[retention]\n", ["retention", "say what to sweep"]),
        # Names written in the configuration are checked when it loads, not per event.
        (MINIMAL.replace('"/ami/web"', '"/aws/service/x"'), ["rules[0].targets[0].name", "reserved by AWS"]),
        (MINIMAL.replace('"/ami/web"', '"/SSM/web"'), ["rules[0].targets[0].name", "reserved by AWS"]),
        (MINIMAL.replace('"/ami/web"', '"/ami/../prod/db"'), ["rules[0].targets[0].name", "`..`"]),
        (MINIMAL.replace('"/ami/web"', '"/aws/{image_id}"'), ["rules[0].targets[0].name", "reserved by AWS"]),
        (
            'allowed_name_prefixes = ["/ami/"]\n' + MINIMAL.replace('"/ami/web"', '"/prod/{tag:Where}"'),
            ["rules[0].targets[0].name", "every event would be refused"],
        ),
    ],
)
def test_bad_configurations_raise_config_error(text: str, words: list[str]) -> None:
    with pytest.raises(amikeeper.ConfigError) as raised:
        amikeeper.Keeper.from_toml(text, endpoint_url=NOWHERE)
    for word in words:
        assert word in str(raised.value), str(raised.value)
    assert isinstance(raised.value, ValueError)


def test_bad_configurations_from_dicts_and_files(tmp_path: Path) -> None:
    with pytest.raises(amikeeper.ConfigError, match="invalid configuration at accounts: invalid type: string"):
        amikeeper.Keeper.from_dict({"accounts": "111122223333"})
    with pytest.raises(amikeeper.ConfigError, match=r"at rules\[0\]\.targets\[0\]\.kind: unknown variant `parameter`"):
        amikeeper.Keeper.from_dict({"accounts": ["1"], "rules": [{"name": "x", "targets": [{"kind": "parameter"}]}]})
    with pytest.raises(amikeeper.ConfigError, match="unknown field `account`"):
        amikeeper.Keeper.from_dict({"account": ["111122223333"]})
    with pytest.raises(amikeeper.ConfigError, match="not JSON-like"):
        amikeeper.Keeper.from_dict({"accounts": {"111122223333"}})
    with pytest.raises(amikeeper.ConfigError, match="cannot read configuration"):
        amikeeper.Keeper.from_file(tmp_path / "missing.toml")
    broken = tmp_path / "keeper.json"
    broken.write_text('{"accounts": ["111122223333"], "rules": [')
    with pytest.raises(amikeeper.ConfigError, match="invalid JSON configuration"):
        amikeeper.Keeper.from_file(broken)
    with pytest.raises(amikeeper.ConfigError, match="cannot read configuration"):
        amikeeper.lambda_handler(str(tmp_path / "missing.toml"))


def test_sweeps_need_retention_and_a_region(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(amikeeper.ConfigError, match="no \\[retention\\] section"):
        offline_keeper().sweep()
    monkeypatch.delenv("AWS_REGION")
    keeper = offline_keeper('[retention]\n[retention.snapshots]\ngenerations_tag = "Daily_Gens"\n')
    assert keeper.region is None
    with pytest.raises(amikeeper.ConfigError, match="no region"):
        keeper.sweep()
    with pytest.raises(amikeeper.ConfigError, match="no region"):
        keeper.rollback(["ssm_parameter:/ami/web"])


def test_bad_rollback_arguments_are_value_errors() -> None:
    keeper = offline_keeper()
    with pytest.raises(ValueError, match="`parameter:/ami/web` is not a rollback target"):
        keeper.rollback(["parameter:/ami/web"])
    with pytest.raises(ValueError, match="is not a rollback target"):
        keeper.rollback(["ssm_parameter:"])
    with pytest.raises(ValueError, match="not an AMI id"):
        keeper.rollback(["ssm_parameter:/ami/web"], to="/ami/web")
    with pytest.raises(ValueError, match="at least one target"):
        keeper.rollback([])
    with pytest.raises(TypeError):
        keeper.rollback("ssm_parameter:/ami/web")


TO_PARAMETER = """
[[rules]]
name = "backup-to-parameter"
on = ["backup_job"]
[[rules.targets]]
kind = "ssm_parameter"
name = "/ami/full"
"""


def test_a_failed_publish_is_in_the_report_and_the_lambda_handler_raises_aws_error(
    world: World, keeper_for: KeeperFor, tmp_path: Path
) -> None:
    # A parameter at SSM's limit of 100 versions whose oldest version carries a label: SSM
    # cannot drop that version to make room, so PutParameter fails.
    first = world.image("c-full-1")
    for _ in range(100):
        world.set_parameter("/ami/full", first)
    world.client("ssm").label_parameter_version(Name="/ami/full", ParameterVersion=1, Labels=["golden"])
    image = world.image("c-full-2")
    event = Origin(world.account, MAIN_REGION, "c-full").backup_job(image, "i-0123456789abcdef0")

    report = keeper_for(TO_PARAMETER).handle(event)
    assert report["status"] == "failed", report
    error = report["targets"][0]["error"]
    failed_call = ("ssm", "PutParameter", "ParameterMaxVersionLimitExceeded", "client")
    assert (error["service"], error["operation"], error["code"], error["kind"]) == failed_call

    config = tmp_path / "keeper.toml"
    config.write_text(f'accounts = ["{world.account}"]\n{TO_PARAMETER}')
    handler = amikeeper.lambda_handler(config, endpoint_url=world.endpoint)
    with pytest.raises(amikeeper.AwsError) as raised:
        handler(event, None)
    failure = raised.value
    assert (failure.service, failure.operation, failure.code, failure.kind) == failed_call
    assert failure.retryable is False
    assert "ssm_parameter /ami/full" in str(failure), str(failure)
    assert failure.report is not None and failure.report["status"] == "failed"

    quiet = amikeeper.lambda_handler(config, endpoint_url=world.endpoint, raise_on_failure=False)
    returned = quiet(event, None)
    assert isinstance(returned, dict) and returned["status"] == "failed"
    assert world.parameter("/ami/full") == (first, 100), "nothing written"


def test_a_sweep_whose_inventory_is_refused_raises_aws_error() -> None:
    keeper_config = MINIMAL + '[retention]\n[retention.snapshots]\ngenerations_tag = "Daily_Gens"\n'
    with serving(access_denied) as endpoint:
        keeper = amikeeper.Keeper.from_toml(keeper_config, endpoint_url=endpoint)
        with pytest.raises(amikeeper.AwsError) as raised:
            keeper.sweep()
    failure = raised.value
    assert (failure.service, failure.code) in {
        ("ec2", "UnauthorizedOperation"),
        ("ssm", "AccessDeniedException"),
        ("autoscaling", "AccessDenied"),
        ("cloudformation", "AccessDenied"),
    }, (failure.service, failure.code, str(failure))
    assert failure.operation.startswith(("Describe", "Get")), failure.operation
    assert failure.kind == "client" and not failure.retryable
    assert f"{failure.service}:{failure.operation} failed with {failure.code}" in str(failure)


def test_errors_pickle_with_their_attributes() -> None:
    error = amikeeper.AwsError(
        "ssm:PutParameter failed", service="ssm", operation="PutParameter", code="Throttling", kind="throttling",
        report={"status": "failed"},
    )
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is amikeeper.AwsError and str(copy) == "ssm:PutParameter failed"
    assert (copy.service, copy.operation, copy.code, copy.kind, copy.retryable) == (
        "ssm", "PutParameter", "Throttling", "throttling", True,
    )
    assert copy.report == {"status": "failed"}
    event_error = pickle.loads(pickle.dumps(amikeeper.EventError("bad")))
    assert type(event_error) is amikeeper.EventError and event_error.report is None
