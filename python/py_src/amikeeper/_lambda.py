"""``lambda_handler``: an AWS Lambda handler in one line."""

from __future__ import annotations

import logging
import os
from typing import Any, Callable, Optional, Union

from ._amikeeper import Keeper
from ._errors import AmikeeperError, AwsError
from ._status import ItemStatus, RunStatus, TargetStatus

__all__ = ["lambda_handler"]

logger = logging.getLogger("amikeeper.lambda")

#: What a handler returns: one report, or one per event of an SQS or SNS batch.
Result = Union[dict[str, Any], list[dict[str, Any]]]


def lambda_handler(
    config: Union[str, os.PathLike[str], dict[str, Any]],
    *,
    region: Optional[str] = None,
    profile: Optional[str] = None,
    endpoint_url: Optional[str] = None,
    apply_sweeps: bool = True,
    raise_on_failure: bool = True,
) -> Callable[[Any, Any], Result]:
    """A Lambda handler for the configuration ``config``::

        handler = amikeeper.lambda_handler("keeper.toml")

    ``config`` is a file path (TOML, or JSON ending in ``.json``; relative paths start from the
    working directory, which on Lambda is the function's root), or a dict. It is loaded here,
    once, at import time in the Lambda's init phase, so a bad configuration fails the
    deployment's first invocation at once, and every invocation reuses the keeper, its AWS
    clients and their connections.

    The handler takes every event amikeeper understands, directly or in SQS/SNS records, and
    returns the report (a list of reports for a batch of several events), as
    ``amikeeper handle`` prints it. A scheduled EventBridge event that no rule with ``bake``
    takes (see ``schedule_rule``) sweeps the event's region when the configuration has
    ``[retention]``, applying the plan unless ``apply_sweeps=False``, and the handler returns the
    sweep's report.

    When a run failed (a report's ``status`` is ``"failed"``) the handler raises, so that Lambda
    counts an error and retries (EventBridge, SQS), which is safe: amikeeper's writes are
    idempotent. It raises ``AwsError`` with the first AWS failure's ``service``, ``operation``
    and ``code``, else ``AmikeeperError``; either carries the report as ``report``. With
    ``raise_on_failure=False`` it returns the report instead. Malformed or unsupported events
    raise ``EventError`` and touch nothing.
    """
    if isinstance(config, dict):
        keeper = Keeper.from_dict(config, region=region, profile=profile, endpoint_url=endpoint_url)
    else:
        keeper = Keeper.from_file(config, region=region, profile=profile, endpoint_url=endpoint_url)

    def handler(event: Any, context: Any = None) -> Result:
        reports = [_finish_schedule(keeper, report, apply_sweeps) for report in keeper.handle_all(event)]
        if logger.isEnabledFor(logging.INFO):
            for report in reports:
                logger.info("%s", _summary(report))
        if raise_on_failure:
            for report in reports:
                if report["status"] == RunStatus.FAILED:
                    raise _failure(report)
        return reports[0] if len(reports) == 1 else reports

    return handler


def _finish_schedule(keeper: Keeper, report: dict[str, Any], apply: bool) -> dict[str, Any]:
    """The sweep of a scheduled event's region, for a schedule no rule took; else ``report``."""
    event = report.get("event", {})
    if event.get("kind") == "scheduled" and report["status"] == RunStatus.IGNORED and keeper.has_retention:
        return keeper.sweep(apply, region=event["region"])
    return report


def _summary(report: dict[str, Any]) -> str:
    """One line about a report, for the log."""
    if "event" in report:
        event = report["event"]
        return (
            f"{event['kind']} event {event['event_id']} in {event['region']}: {report['status']}, "
            f"{len(report['targets'])} targets, {report['aws_calls']} AWS calls"
        )
    summary = report.get("summary", {})
    return (
        f"sweep {'applied' if report.get('applied') else 'planned'}: {report['status']}, "
        f"{summary.get('images_retired', 0)} of {summary.get('images_planned', 0)} images retired, "
        f"{summary.get('snapshots_deleted', 0)} of {summary.get('snapshots_planned', 0)} snapshots deleted, "
        f"{summary.get('failed', 0)} failed, {report['aws_calls']} AWS calls"
    )


def _failure(report: dict[str, Any]) -> AmikeeperError:
    """The exception for a failed run: ``AwsError`` for its first AWS error, else
    ``AmikeeperError`` with its first failure (or its reason)."""
    failures = [
        (f"{target['kind']} {target['name']}: {target['reason']}", target.get("error"))
        for target in report.get("targets", [])
        if target.get("status") == TargetStatus.FAILED
    ]
    failures += [
        (f"{result['action']} {result['resource']}: {result.get('detail', 'failed')}", None)
        for result in report.get("results", [])
        if result.get("status") == ItemStatus.FAILED
    ]
    if not failures:
        return AmikeeperError(f"amikeeper: the run failed: {report.get('reason', 'no reason given')}", report=report)
    aws_failure = next(((what, error) for what, error in failures if isinstance(error, dict)), None)
    if aws_failure is None:
        return AmikeeperError(f"amikeeper: {len(failures)} failed; the first: {failures[0][0]}", report=report)
    what, error = aws_failure
    return AwsError(
        f"amikeeper: {len(failures)} failed; {what}",
        service=error["service"],
        operation=error["operation"],
        code=error["code"],
        kind=error["kind"],
        report=report,
    )
