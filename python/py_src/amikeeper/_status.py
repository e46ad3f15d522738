"""The statuses reports carry, as the strings the report dicts hold.

Each is a ``str`` enum, so ``report["status"] == RunStatus.FAILED`` compares with the dict's
string, and the dicts themselves stay plain JSON values.
"""

from __future__ import annotations

import enum

__all__ = ["ItemStatus", "RunStatus", "TargetStatus"]


class RunStatus(str, enum.Enum):
    """A report's ``status``: of a handled event, a bake, a sweep or a rollback (a sweep is only
    ``ok``, ``partial`` or ``failed``; a rollback ``ok``, ``refused`` or ``failed``)."""

    OK = "ok"
    PARTIAL = "partial"
    DEFERRED = "deferred"
    FAILED = "failed"
    IGNORED = "ignored"
    REFUSED = "refused"


class TargetStatus(str, enum.Enum):
    """What became of one target: the ``status`` of each item of a report's ``targets``."""

    UPDATED = "updated"
    PLANNED = "planned"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"
    DEFERRED = "deferred"
    REFUSED = "refused"
    FAILED = "failed"


class ItemStatus(str, enum.Enum):
    """What became of one action of a sweep: the ``status`` of each item of its ``results``."""

    DONE = "done"
    ALREADY_GONE = "already_gone"
    SKIPPED = "skipped"
    NOT_STARTED = "not_started"
    FAILED = "failed"
