"""``lambda_handler``: an AWS Lambda handler in one line."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, Callable, Optional, Union

from ._amikeeper import Keeper
from ._errors import AmikeeperError, AwsError

__all__ = ["lambda_handler"]

logger = logging.getLogger("amikeeper.lambda")

#: What a handler returns: one report, one per event of an SNS batch, or for an SQS batch
#: Lambda's partial batch response, ``{"batchItemFailures": [{"itemIdentifier": ...}]}``.
Result = Union[dict[str, Any], list[dict[str, Any]]]


def lambda_handler(
    config: Union[str, os.PathLike[str], dict[str, Any]],
    *,
    region: Optional[str] = None,
    profile: Optional[str] = None,
    endpoint_url: Optional[str] = None,
    apply_sweeps: bool = True,
    raise_on_failure: bool = True,
    report_batch_item_failures: bool = True,
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

    The handler reads the time the invocation has left from ``context``
    (``get_remaining_time_in_millis()``), keeps half a second of it to return the report, and
    stops early enough: the wait for a pending AMI ends with its targets ``deferred`` (the AMI's
    ``EC2 AMI State Change`` event finishes them), and a sweep starts no action it may not
    finish, returning a ``partial`` report whose ``not_started`` actions the next sweep does.

    An SQS batch is answered record by record, and the handler returns Lambda's partial batch
    response, ``{"batchItemFailures": [{"itemIdentifier": messageId}, ...]}``: it lists the
    records whose run failed, which Lambda delivers again (safe: amikeeper's writes are
    idempotent), and no other. A record that is no event (not JSON, unsupported) or whose event
    is refused is reported as ``refused``, logged and counted, and not listed: delivered again,
    it would be refused again. The event source mapping must have
    ``FunctionResponseTypes: [ReportBatchItemFailures]``; without it Lambda ignores the response
    and deletes the whole batch, failed records too. Where it cannot have it, pass
    ``report_batch_item_failures=False``: an SQS batch then returns its reports and raises as
    below.

    For any other payload, when a run failed (a report's ``status`` is ``"failed"``) the handler
    raises, so that Lambda counts an error and retries (EventBridge, SNS), which is safe. It
    raises ``AwsError`` with the first AWS failure's ``service``, ``operation`` and ``code``,
    else ``AmikeeperError``; either carries the report as ``report``. With
    ``raise_on_failure=False`` it returns the report instead. Malformed or unsupported events
    raise ``EventError`` and touch nothing.

    After each invocation the handler prints CloudWatch embedded metric format records to
    standard output, one a line, which CloudWatch Logs turns into metrics (pointers by rule and
    region, runs, sweeps, AWS calls; see the README); ``[metrics] enabled = false`` in the
    configuration turns them off, ``[metrics] namespace`` names their namespace.
    """
    if isinstance(config, dict):
        keeper = Keeper.from_dict(config, region=region, profile=profile, endpoint_url=endpoint_url)
    else:
        keeper = Keeper.from_file(config, region=region, profile=profile, endpoint_url=endpoint_url)

    def handler(event: Any, context: Any = None) -> Result:
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        remaining_ms = int(remaining()) if callable(remaining) else None
        invocation = keeper.invoke(event, apply_sweeps=apply_sweeps, remaining_ms=remaining_ms)
        reports = invocation["reports"]
        for line in invocation["metrics"]:
            sys.stdout.write(line + "\n")
        sys.stdout.flush()
        if logger.isEnabledFor(logging.INFO):
            for summary in invocation["summaries"]:
                logger.info("%s", summary)
        failure = invocation["failure"]
        batch_item_failures = invocation["batch_item_failures"]
        if report_batch_item_failures and batch_item_failures is not None:
            if failure is not None:
                logger.warning(
                    "amikeeper: %d of %d records failed, delivered again: %s",
                    len(batch_item_failures), len(reports), failure["message"],
                )
            return {"batchItemFailures": batch_item_failures}
        if raise_on_failure and failure is not None:
            raise _failure(reports[failure["run"]], failure)
        result: Result = reports[0] if len(reports) == 1 else reports
        return result

    return handler


def _failure(report: dict[str, Any], failure: dict[str, Any]) -> AmikeeperError:
    """The exception for a failed run (``Keeper.invoke``'s ``failure``): ``AwsError`` for its
    first AWS error, else ``AmikeeperError``; either carries the report."""
    message = f"amikeeper: {failure['message']}"
    error = failure["error"]
    if error is None:
        return AmikeeperError(message, report=report)
    return AwsError(
        message,
        service=error["service"],
        operation=error["operation"],
        code=error["code"],
        kind=error["kind"],
        report=report,
    )
