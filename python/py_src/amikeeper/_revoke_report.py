"""The shape of ``Keeper.revoke()``'s report: plain dicts, typed for mypy.

The same names as the JSON ``amikeeper revoke`` prints (``amikeeper::revoke::RevokeReport``).
"""

from __future__ import annotations

from typing import Dict, List, Literal, Optional, TypedDict

from ._status_report import StatusError, StatusRejection

__all__ = ["RevokeImage", "RevokeImageStep", "RevokePointer", "RevokeReport"]

RevokeStatus = Literal["ok", "refused", "failed"]
ImageAction = Literal["reject", "deprecate", "disable"]
FoundBy = Literal["revoked", "copied_from_tag", "source_image_id"]
PointerOutcome = Literal["updated", "planned", "unchanged", "skipped", "deferred", "refused", "failed"]


class _RevokeImageStep(TypedDict):
    action: ImageAction
    status: Literal["updated", "planned", "failed"]


class RevokeImageStep(_RevokeImageStep, total=False):
    """One step on one AMI: ``reject``, ``deprecate`` or ``disable``."""

    error: str


class RevokeImage(TypedDict):
    """The revoked AMI or one of its ``copy_to`` copies, and what was done to it."""

    account: str
    region: str
    image_id: str
    found_by: FoundBy
    steps: List[RevokeImageStep]


class _RevokePointer(TypedDict):
    rule: str
    account: str
    region: str
    kind: str
    name: str
    status: PointerOutcome
    reason: str


# ``from`` is a keyword: the optional keys are declared the functional way.
_RevokePointerMove = TypedDict(
    "_RevokePointerMove",
    {"from": str, "to": str, "refusal": Literal["rejected"], "notes": List[str]},
    total=False,
)


class RevokePointer(_RevokePointer, _RevokePointerMove):
    """A pointer that named the AMI or a copy: where it went (``from``, ``to``), or why not."""


class _RevokeReport(TypedDict):
    status: RevokeStatus
    dry_run: bool
    image_id: str
    rejection: StatusRejection
    images: List[RevokeImage]
    pointers: List[RevokePointer]
    aws_calls: int
    aws_calls_by_operation: Dict[str, int]


class RevokeReport(_RevokeReport, total=False):
    """What ``Keeper.revoke()`` did: ``status`` ``ok``, ``refused`` or ``failed`` (nothing was
    written when it was refused, or failed while reading), each AMI with its steps, each pointer
    with where it went."""

    reason: str
    errors: List[StatusError]
    protection: List[str]
    warnings: List[str]
    notifications: Dict[str, object]
