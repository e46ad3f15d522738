"""amikeeper keeps every pointer to "the current AMI" right, and sweeps old AMIs.

A thin layer over amikeeper's Rust core and its AWS SDK backend: no boto3 needed.

    import amikeeper

    keeper = amikeeper.Keeper.from_file("keeper.toml")
    report = keeper.handle(event)            # the report `amikeeper handle` prints, as a dict
    plan = keeper.sweep()                    # the retention plan; sweep(apply=True) acts on it
    keeper.rollback(["ssm_parameter:/ami/web"])
    keeper.bake("nightly-bake")              # a rule's bake now, as its schedule would
    keeper.status()                          # every pointer read back, and what is wrong
    keeper.revoke("ami-...", reason="...")   # a bad AMI taken back everywhere, never published again

    handler = amikeeper.lambda_handler("keeper.toml")   # an AWS Lambda handler
"""

from ._amikeeper import Keeper, __version__, parse_event, parse_events
from ._errors import AmikeeperError, AwsError, ConfigError, EventError
from ._lambda import lambda_handler
from ._status import ItemStatus, RunStatus, TargetStatus
from ._revoke_report import RevokeImage, RevokeImageStep, RevokePointer, RevokeReport
from ._status_report import StatusError, StatusFinding, StatusImage, StatusPointer, StatusRejection, StatusReport

__all__ = [
    "AmikeeperError",
    "AwsError",
    "ConfigError",
    "EventError",
    "ItemStatus",
    "Keeper",
    "RevokeImage",
    "RevokeImageStep",
    "RevokePointer",
    "RevokeReport",
    "RunStatus",
    "StatusError",
    "StatusFinding",
    "StatusImage",
    "StatusPointer",
    "StatusRejection",
    "StatusReport",
    "TargetStatus",
    "__version__",
    "lambda_handler",
    "parse_event",
    "parse_events",
]
