"""The native half of the `amikeeper` package (Rust, pyo3): `Keeper`, `parse_event`, `parse_events`.

Reports are dicts of JSON types, exactly as the `amikeeper` CLI prints them.
"""

import os
from collections.abc import Sequence
from typing import Any, Final, Optional, Union, final

from ._revoke_report import RevokeReport
from ._status_report import StatusReport

__all__ = ["Keeper", "parse_event", "parse_events", "__version__"]

__version__: Final[str]

#: An event: a dict as Lambda passes it, or the JSON text as `str` or `bytes`.
_Event = Union[dict[str, Any], list[Any], str, bytes, bytearray]

@final
class Keeper:
    """Keeps the pointers of one configuration right, talking to AWS through the AWS SDK for Rust.

    Made by `Keeper.from_file`, `Keeper.from_toml` or `Keeper.from_dict`. Every method returns
    the report the CLI prints as JSON, as a dict, and releases the GIL while AWS work runs.
    """

    @staticmethod
    def from_file(
        path: Union[str, os.PathLike[str]],
        *,
        region: Optional[str] = None,
        profile: Optional[str] = None,
        endpoint_url: Optional[str] = None,
    ) -> Keeper:
        """A keeper for the configuration file at `path` (TOML, or JSON if it ends in `.json`)."""

    @staticmethod
    def from_toml(
        text: str,
        *,
        region: Optional[str] = None,
        profile: Optional[str] = None,
        endpoint_url: Optional[str] = None,
    ) -> Keeper:
        """A keeper for a configuration given as TOML text."""

    @staticmethod
    def from_dict(
        config: dict[str, Any],
        *,
        region: Optional[str] = None,
        profile: Optional[str] = None,
        endpoint_url: Optional[str] = None,
    ) -> Keeper:
        """A keeper for a configuration given as a dict, with the schema of the TOML file."""

    def handle(self, event: _Event, *, dry_run: bool = False, wait_seconds: Optional[int] = None) -> dict[str, Any]:
        """Handles the one event of `event` and returns its report."""

    def handle_all(
        self, event: _Event, *, dry_run: bool = False, wait_seconds: Optional[int] = None
    ) -> list[dict[str, Any]]:
        """Handles every event of `event` (one, or each record of an SQS or SNS batch) in order."""

    def sweep(self, apply: bool = False, *, region: Optional[str] = None) -> dict[str, Any]:
        """Sweeps one region as the configuration's `[retention]` says; without `apply` only plans."""

    def invoke(
        self, event: _Event, *, apply_sweeps: bool = True, remaining_ms: Optional[int] = None
    ) -> dict[str, Any]:
        """Answers one Lambda-style invocation, as `lambda_handler` does: `reports`, `summaries`,
        `failure`, `batch_item_failures` (for an SQS batch) and `metrics` (EMF lines).
        `remaining_ms` (the Lambda context's `get_remaining_time_in_millis()`) bounds waits
        and a schedule's sweep."""

    def rollback(
        self,
        targets: Sequence[str],
        to: Optional[str] = None,
        dry_run: bool = False,
        *,
        region: Optional[str] = None,
    ) -> dict[str, Any]:
        """Moves `targets` back to the AMI each named before, or to `to`; refusals are in the report."""

    def revoke(
        self,
        image_id: str,
        reason: str,
        *,
        dry_run: bool = False,
        disable: Optional[bool] = None,
        region: Optional[str] = None,
    ) -> RevokeReport:
        """Revokes `image_id` (an AMI of the keeper's region): every pointer that names it or its
        `copy_to` copy moves back to the newest earlier AMI that is not rejected; the AMI and its
        copies are marked rejected and deprecated (and disabled with `disable`, default
        `[revoke] disable`). Nothing is written unless every pointer can move back."""

    def status(self, fleet: bool = False, region: Optional[str] = None) -> StatusReport:
        """Reads every pointer the configuration manages back, as `amikeeper status` does: the
        keeper's region, each `copy_to` region and with `fleet` every fleet account; only `region`
        when given. `findings` says what is wrong, `errors` what could not be read."""

    def bake(
        self,
        rule: str,
        *,
        region: Optional[str] = None,
        dry_run: bool = False,
        wait: Optional[int] = None,
        account: Optional[str] = None,
    ) -> dict[str, Any]:
        """Bakes the rule named `rule` now, as its schedule would, and moves its targets; returns the report."""

    @property
    def has_retention(self) -> bool:
        """Whether the configuration has a `[retention]` section, i.e. whether `sweep` can run."""

    @property
    def region(self) -> Optional[str]:
        """The region of sweeps, rollbacks and bakes that name none, if any."""

def parse_event(event: _Event) -> dict[str, Any]:
    """The one event of a payload, normalised, as a dict (what `amikeeper parse` prints)."""

def parse_events(event: _Event) -> list[dict[str, Any]]:
    """Every event of a payload (one, or each record of an SQS or SNS batch), normalised."""
