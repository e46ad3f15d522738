"""The Lambda deadline: ``lambda_handler`` reads the time left from its context, a sweep with
too little time returns a ``partial`` report, and the next invocation finishes the plan.

How close to the deadline a sweep gets is tested in the Rust core (``tests/deadline.rs``, on a
paused clock with slow AWS calls); here the wheel passes the context's time through."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import amikeeper
from aws_world import MAIN_REGION, World
from sample_events import Event, Origin

#: What ``lambda_handler`` makes.
Handler = Callable[[Any, Any], Any]

RETENTION = """
[retention]
image_references = "scan_only"
[[retention.images]]
group_by = { tag = "Role" }
keep_newest = 1
"""


class FakeContext:
    """The part of Lambda's context object the handler reads."""

    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms
        self.asked = 0

    def get_remaining_time_in_millis(self) -> int:
        self.asked += 1
        return self.remaining_ms


def _sweeping_handler(world: World, tmp_path: Path, name: str) -> tuple[Handler, Event, str, str]:
    """A handler that sweeps on a schedule, its scheduled event, and an old and a new image of
    one group: the sweep retires the old one."""
    old = world.image(f"{name}-1", tags={"Role": "web"})
    new = world.image(f"{name}-2", tags={"Role": "web"})
    config = tmp_path / "keeper.toml"
    config.write_text(f'accounts = ["{world.account}"]\n{RETENTION}')
    handler = amikeeper.lambda_handler(config, endpoint_url=world.endpoint)
    return handler, Origin(world.account, MAIN_REGION, name).scheduled("weekly-sweep"), old, new


def test_a_handler_with_little_time_left_returns_a_partial_sweep(world: World, tmp_path: Path) -> None:
    handler, schedule, old, new = _sweeping_handler(world, tmp_path, "deadline")

    # 1.2 s left, less half a second to return: less than the second an action must have.
    context = FakeContext(1200)
    partial = handler(schedule, context)
    assert context.asked == 1
    assert isinstance(partial, dict)
    assert partial["status"] == amikeeper.RunStatus.PARTIAL, partial["results"]
    assert [d["image_id"] for d in partial["plan"]["images"] if d["action"] != "keep"] == [old]
    results = partial["results"]
    assert results and partial["summary"]["not_started"] == len(results), results
    assert all(r["status"] == amikeeper.ItemStatus.NOT_STARTED for r in results), results
    assert all(r["detail"].startswith("deadline:") for r in results), results
    assert world.own_image_ids() == sorted([old, new]), "nothing was done"

    # The next invocation, with time, finishes the plan.
    finished = handler(schedule, FakeContext(300_000))
    assert isinstance(finished, dict)
    assert finished["status"] == amikeeper.RunStatus.OK, finished["results"]
    assert finished["summary"]["images_retired"] == 1 and finished["summary"]["not_started"] == 0
    assert world.own_image_ids() == [new]


def test_a_context_without_the_time_left_sets_no_deadline(world: World, tmp_path: Path) -> None:
    handler, schedule, old, new = _sweeping_handler(world, tmp_path, "no-deadline")
    swept = handler(schedule, object())
    assert isinstance(swept, dict) and swept["status"] == amikeeper.RunStatus.OK, swept
    assert world.own_image_ids() == [new] and old not in world.own_image_ids()
