"""The shape of ``Keeper.status()``'s report: plain dicts, typed for mypy.

The same names as the JSON ``amikeeper status`` prints (``amikeeper::status::StatusReport``).
"""

from __future__ import annotations

from typing import List, Literal, Optional, TypedDict

__all__ = ["StatusError", "StatusFinding", "StatusImage", "StatusPointer", "StatusRejection", "StatusReport"]

ImageState = Literal["available", "pending", "deprecated", "disabled", "deregistered", "failed"]
FindingKind = Literal["dangling", "dr_lag", "unprotected", "disagree", "rejected"]


class StatusRejection(TypedDict):
    """Why and when an AMI was rejected (its ``amikeeper:rejected`` and ``-at`` tags)."""

    reason: str
    at: Optional[str]


class StatusImage(TypedDict):
    """The AMI a pointer names, as EC2 describes it."""

    id: str
    name: str
    created: Optional[str]
    age_days: Optional[int]
    state: ImageState
    protected: bool
    copied_from: Optional[str]
    rejected: Optional[StatusRejection]


class StatusPointer(TypedDict):
    """One pointer, read back."""

    rule: str
    account: str
    region: str
    place: Literal["home", "copy", "fleet"]
    kind: str
    name: str
    target: int
    found_by: Literal["configured", "listed"]
    exists: bool
    image_id: Optional[str]
    image: Optional[StatusImage]
    last_moved: Optional[str]
    stack: Optional[str]
    protect: bool


class StatusFinding(TypedDict):
    """Something wrong with a pointer, and why."""

    kind: FindingKind
    rule: str
    account: str
    region: str
    pointer_kind: str
    pointer: str
    reason: str


class StatusError(TypedDict):
    """A read that failed: what the pointers there name is not known."""

    account: str
    region: str
    what: str
    error: str


class StatusReport(TypedDict):
    """``Keeper.status()``: every pointer, the findings, the reads that failed."""

    generated_at: str
    pointers: List[StatusPointer]
    findings: List[StatusFinding]
    errors: List[StatusError]
    aws_calls: int
