"""Auto Scaling StartInstanceRefresh, DescribeInstanceRefreshes and CancelInstanceRefresh (moto
5.2.5 answers HTTP 500 "not implemented"), for `instance_refresh` on amikeeper's
auto_scaling_group targets.

* StartInstanceRefresh records a refresh of the group (an unknown group is a ValidationError
  "AutoScalingGroup name not found", MinHealthyPercentage outside 0-100 a ValidationError) and
  returns its id. As in Auto Scaling, a group with a refresh that is still active refuses another
  with `InstanceRefreshInProgress`. moto replaces no instances, so a refresh of a group with
  instances stays `InProgress` until CancelInstanceRefresh; a group without instances has nothing
  to replace, and its refresh is `Successful` at once (100 % complete).
* DescribeInstanceRefreshes: a group's refreshes, newest first, optionally by id, with the
  strategy and preferences they were started with.
* CancelInstanceRefresh cancels the active refresh (`Cancelled`), or fails with
  `ActiveInstanceRefreshNotFound`.
"""

from __future__ import annotations

import uuid
from typing import Any

from moto.autoscaling.exceptions import AutoscalingClientError
from moto.autoscaling.exceptions import ValidationError as AutoscalingValidationError
from moto.autoscaling.responses import AutoScalingResponse
from moto.core.responses import ActionResult
from moto.core.utils import utcnow

from .methods import set_methods

# Refresh states in which Auto Scaling refuses to start another refresh of the group.
ACTIVE_REFRESH_STATES = frozenset({"Pending", "InProgress", "Cancelling", "RollbackInProgress", "Baking"})

# The errors are raised as moto's own AutoscalingClientError with the code: moto looks up the
# error's model by the raising class's module, and takes any module named `moto*` (this package
# too) for one of its own services.


def apply() -> None:
    """Adds the three operations."""
    set_methods(AutoScalingResponse, _start_instance_refresh, _describe_instance_refreshes, _cancel_instance_refresh)


def _refreshed_group(self: AutoScalingResponse, name: str) -> Any:
    group = self.autoscaling_backend.autoscaling_groups.get(name)
    if group is None:
        raise AutoscalingValidationError(f"AutoScalingGroup name not found - AutoScalingGroup {name} not found")
    if not hasattr(group, "instance_refreshes"):
        group.instance_refreshes = []  # type: ignore[attr-defined]
    return group


def _active_refresh(group: Any) -> dict[str, Any] | None:
    return next((r for r in group.instance_refreshes if r["Status"] in ACTIVE_REFRESH_STATES), None)


def _start_instance_refresh(self: AutoScalingResponse) -> ActionResult:
    name = self._get_param("AutoScalingGroupName")
    strategy = self._get_param("Strategy") or "Rolling"
    preferences = self._get_param("Preferences") or {}
    group = _refreshed_group(self, name)
    if _active_refresh(group) is not None:
        raise AutoscalingClientError(
            "InstanceRefreshInProgress",
            "An Instance Refresh is already in progress and blocks the execution of this Instance Refresh."
        )
    minimum = preferences.get("MinHealthyPercentage")
    if minimum is not None and not 0 <= int(minimum) <= 100:
        raise AutoscalingValidationError("MinHealthyPercentage must be between 0 and 100.")
    now = utcnow()
    instances = len(group.instance_states)
    refresh: dict[str, Any] = {
        "InstanceRefreshId": str(uuid.uuid4()),
        "AutoScalingGroupName": name,
        "Strategy": strategy,
        "Preferences": preferences,
        "StartTime": now,
        "InstancesToUpdate": instances,
    }
    if instances:
        refresh.update({"Status": "InProgress", "PercentageComplete": 0})
    else:
        refresh.update({"Status": "Successful", "PercentageComplete": 100, "EndTime": now, "InstancesToUpdate": 0})
    group.instance_refreshes.append(refresh)
    return ActionResult({"InstanceRefreshId": refresh["InstanceRefreshId"]})


def _describe_instance_refreshes(self: AutoScalingResponse) -> ActionResult:
    name = self._get_param("AutoScalingGroupName")
    ids = self._get_param("InstanceRefreshIds", [])
    group = _refreshed_group(self, name)
    refreshes = [r for r in reversed(group.instance_refreshes) if not ids or r["InstanceRefreshId"] in ids]
    return ActionResult({"InstanceRefreshes": refreshes})


def _cancel_instance_refresh(self: AutoScalingResponse) -> ActionResult:
    name = self._get_param("AutoScalingGroupName")
    group = _refreshed_group(self, name)
    refresh = _active_refresh(group)
    if refresh is None:
        raise AutoscalingClientError(
            "ActiveInstanceRefreshNotFound", "No in progress or pending Instance Refresh found for this group."
        )
    refresh.update({"Status": "Cancelled", "EndTime": utcnow()})
    return ActionResult({"InstanceRefreshId": refresh["InstanceRefreshId"]})
