"""SQS batches through ``lambda_handler`` (Lambda's partial batch response: only the records that
failed are delivered again), and the CloudWatch embedded metric format records the handler
prints, checked against the JSON schema of AWS's specification."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import amikeeper
from aws_world import ACCOUNT, MAIN_REGION, World
from conftest import shared_config
from sample_events import Origin, sqs_batch

PARAMETER_FROM_TAG = shared_config("cli-parameter-from-tag", account=ACCOUNT)

_NAME = {"type": "string", "minLength": 1, "maxLength": 1024}
_UNITS = (
    "Seconds|Microseconds|Milliseconds|Bytes|Kilobytes|Megabytes|Gigabytes|Terabytes|Bits|Kilobits|Megabits|"
    "Gigabits|Terabits|Percent|Count|Bytes/Second|Kilobytes/Second|Megabytes/Second|Gigabytes/Second|"
    "Terabytes/Second|Bits/Second|Kilobits/Second|Megabits/Second|Gigabits/Second|Terabits/Second|Count/Second|None"
)

#: The JSON schema of an EMF document, as the specification gives it
#: (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html),
#: with the limits its text adds: at most 30 dimension keys a dimension set, 100 metrics a
#: directive, and no other members in the objects it defines.
EMF_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["_aws"],
    "properties": {
        "_aws": {
            "type": "object",
            "required": ["Timestamp", "CloudWatchMetrics"],
            "additionalProperties": False,
            "properties": {
                "Timestamp": {"type": "integer"},
                "CloudWatchMetrics": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["Namespace", "Dimensions", "Metrics"],
                        "additionalProperties": False,
                        "properties": {
                            "Namespace": _NAME,
                            "Dimensions": {
                                "type": "array",
                                "minItems": 1,
                                "items": {
                                    "type": "array",
                                    "minItems": 0,
                                    "maxItems": 30,
                                    "items": {"type": "string", "minLength": 1, "maxLength": 250},
                                },
                            },
                            "Metrics": {
                                "type": "array",
                                "maxItems": 100,
                                "items": {
                                    "type": "object",
                                    "required": ["Name"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "Name": _NAME,
                                        "Unit": {"type": "string", "pattern": f"^({_UNITS})$"},
                                        "StorageResolution": {"type": "integer"},
                                    },
                                },
                            },
                        },
                    },
                },
            },
        }
    },
}


def valid_emf(line: str) -> dict[str, Any]:
    """The record of one printed line, checked against the schema and the rules the schema
    cannot say: each dimension and metric a member of the root, of the right type."""
    record: dict[str, Any] = json.loads(line)
    jsonschema.validate(record, EMF_SCHEMA)
    for directive in record["_aws"]["CloudWatchMetrics"]:
        for dimension_set in directive["Dimensions"]:
            for key in dimension_set:
                assert isinstance(record.get(key), str), (key, line)
        for metric in directive["Metrics"]:
            value = record.get(metric["Name"])
            assert isinstance(value, (int, float)) and not isinstance(value, bool), (metric, line)
    return record


def test_an_sqs_batch_redelivers_only_its_failed_record_and_prints_metrics(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The failing target: a parameter at SSM's limit of 100 versions whose oldest version
    # carries a label, so that PutParameter fails (test_errors.py does the same).
    first = world.image("batch-full-1")
    for _ in range(100):
        world.set_parameter("/ami/batch-full", first)
    world.client("ssm").label_parameter_version(Name="/ami/batch-full", ParameterVersion=1, Labels=["golden"])
    failing = world.image("batch-full-2", tags={"ImageIdParameterName": "/ami/batch-full"})
    done = {name: world.image(f"batch-{name}", tags={"ImageIdParameterName": f"/ami/batch-{name}"}) for name in "abc"}
    origin = Origin(world.account, MAIN_REGION, "batch")
    instance = "i-0123456789abcdef0"
    batch = sqs_batch(
        [
            origin.backup_job(done["a"], instance),
            origin.backup_job(failing, instance),
            {},
            origin.backup_job(done["b"], instance),
            origin.backup_job(done["c"], instance),
        ]
    )
    batch["Records"][2]["body"] = '{"source": "aws.backup", truncated'
    config = tmp_path / "keeper.toml"
    config.write_text(PARAMETER_FROM_TAG)
    handler = amikeeper.lambda_handler(str(config), endpoint_url=world.endpoint)
    capsys.readouterr()

    result = handler(batch, None)
    assert result == {"batchItemFailures": [{"itemIdentifier": batch["Records"][1]["messageId"]}]}
    for name, image in done.items():
        assert world.parameter(f"/ami/batch-{name}") == (image, 1), f"/ami/batch-{name} written once"
    assert world.parameter("/ami/batch-full") == (first, 100), "nothing written"

    records = [valid_emf(line) for line in capsys.readouterr().out.splitlines()]
    assert len(records) == 3, records
    rule, region, rejected = records
    assert (rule["Rule"], rule["Region"]) == ("parameter-from-tag", MAIN_REGION)
    assert (rule["PointersUpdated"], rule["PointersFailed"]) == (3, 1)
    assert (region["EventsOk"], region["EventsFailed"], region["Region"]) == (3, 1, MAIN_REGION)
    assert rejected["RecordsRejected"] == 1
    assert {record["_aws"]["CloudWatchMetrics"][0]["Namespace"] for record in records} == {"amikeeper"}

    # What the handler answered from: the poison record is a refused report of its own.
    invocation = amikeeper.Keeper.from_toml(PARAMETER_FROM_TAG, endpoint_url=world.endpoint).invoke(batch)
    poison = invocation["reports"][2]
    assert poison["status"] == amikeeper.RunStatus.REFUSED and poison["message_id"] == batch["Records"][2]["messageId"]
    assert poison["reason"].startswith("record 2 of the batch: the event is not valid JSON"), poison


def test_without_partial_batch_responses_an_sqs_batch_returns_its_reports_and_metrics_can_be_off(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = world.image("batch-whole", tags={"ImageIdParameterName": "/ami/batch-whole"})
    job = Origin(world.account, MAIN_REGION, "whole").backup_job(image, "i-0123456789abcdef0")
    config = tmp_path / "keeper.toml"
    config.write_text(PARAMETER_FROM_TAG + "\n[metrics]\nenabled = false\n")
    handler = amikeeper.lambda_handler(str(config), endpoint_url=world.endpoint, report_batch_item_failures=False)
    capsys.readouterr()
    reports = handler(sqs_batch([job, job]), None)
    assert isinstance(reports, list) and [report["status"] for report in reports] == [
        amikeeper.RunStatus.OK,
        amikeeper.RunStatus.OK,
    ], reports
    assert world.parameter("/ami/batch-whole") == (image, 1)
    assert capsys.readouterr().out == "", "[metrics] enabled = false prints nothing"
