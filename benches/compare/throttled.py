"""The throttled setting of benches/compare/run.py (`scripts/bench-compare.sh --throttled`).

The same keep-2 and unused jobs, behind the proxy with AWS's request token buckets
(throttle.py). What it adds to a run: the floor (the least time the tool's own answered
requests can take through their buckets, see `throttle.floor_seconds`), the ratio of the wall
time to it, the throttled answers the proxy gave, and the actions that failed.

The floor is computed from each run's own answered requests, per bucket: buckets refill side by
side, so it is the largest (n - capacity) / refill over the buckets. For these jobs it is set
by DeregisterImage (100 tokens, 5 a second): amikeeper deletes each AMI's snapshot in the same
call (`DeleteAssociatedSnapshots`), the peers call DeleteSnapshot as well, whose bucket is as
large and refills as fast, side by side, so the floor is the same for all three.
"""

from __future__ import annotations

import math

from throttle import Limit, floor_seconds

# The heading of the throttled section of results.md: a throttled run replaces only that section,
# and the other settings' run keeps it.
SECTION = "## Behind AWS's request throttling"
SCALE_NOTE = (
    "The floor below is computed at the scaled rates; at the documented rates it is that many times longer,"
    " and the tools have to find the faster rate from the throttles just as they would the real one."
)

# DeregisterImage's bucket: what sets the floor of a sweep (see the module's doc).
DEREGISTER = (100.0, 5.0)


def estimated_floor(n: int, kept: int) -> float:
    """The floor of deleting all but `kept` of `n` AMIs at the documented rates."""
    capacity, refill = DEREGISTER
    return max(0.0, (n - kept - capacity) / refill)


def choose_scale(requested: str, n: int, kept: int, budget: float) -> tuple[float, str]:
    """The refill factor: `requested` if a number, else ("auto") the least whole factor that
    brings the estimated floor within `budget` seconds. Returns it and a sentence saying so."""
    floor = estimated_floor(n, kept)
    if requested != "auto":
        scale = float(requested)
        how = "as asked"
    else:
        scale = float(max(1, math.ceil(floor / budget))) if budget > 0 else 1.0
        how = f"auto: the documented rates would give a floor of {floor:.0f} s a run, over the {budget:.0f} s budget"
    if scale == 1.0:
        return scale, "Rates as documented (no scaling)."
    return scale, (
        f"Every refill rate multiplied by {scale:g} ({how}); bursts as documented. {SCALE_NOTE}"
    )


def floor_of(counts: dict) -> tuple[float, str]:
    """The floor of one run, from the proxy's counts (`passed_by_bucket`, `limits`)."""
    limits = {b: Limit(b, cap, refill, documented) for b, (cap, refill, documented) in counts.get("limits", {}).items()}
    return floor_seconds(counts.get("passed_by_bucket", {}), limits)


def failed_actions(run, want: set[str]) -> int:
    """Deletions the job called for that did not happen: AMIs and snapshots left beyond the
    expected set (whatever the tool says), plus failures the tool reported itself."""
    left_over = len(run.amis_left - want) + len(run.snaps_left - want)
    reported = 0
    if run.self_reported:
        reported = int(run.self_reported.get("summary", {}).get("failed", 0) or 0)
    return max(left_over, reported)


def check_cell(r) -> str:
    """The table's `check` cell of a run: ok, or FAIL, and its note."""
    check = "ok" if r.expected_ok and not r.in_use_deleted and r.exit_code == 0 else "FAIL"
    return f"{check} ({r.note})" if r.note else check


def table(runs) -> list[str]:
    lines = [
        "| job | tool | wall s | floor s | wall / floor | throttled answers | failed actions | AWS calls | AMIs / snapshots left | in use deleted | check |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in runs:
        ratio = f"{r.wall / r.floor:.2f}" if r.floor else "n/a"
        lines.append(
            f"| {r.job} | {r.tool} | {r.wall:.1f} | {r.floor:.1f} | {ratio} | {sum(r.throttled.values())} |"
            f" {r.failed} | {r.calls} | {len(r.amis_left)} / {len(r.snaps_left)} | {len(r.in_use_deleted)} | {check_cell(r)} |"
        )
    return lines


def targets(runs) -> list[str]:
    out = []
    for r in runs:
        if r.tool != "amikeeper" or not r.floor:
            continue
        ratio = r.wall / r.floor
        met = ratio <= 1.2 and r.failed == 0 and not r.in_use_deleted
        out.append(
            f"- {r.job}: amikeeper {r.wall:.1f} s against a floor of {r.floor:.1f} s = {ratio:.2f}x,"
            f" {r.failed} failed actions, {len(r.in_use_deleted)} in use deleted"
            f" ({'met' if met else 'MISSED'}: within 1.2x of the floor, no failed action, nothing in use deleted)"
        )
    return out


def throttled_by_operation(runs) -> list[str]:
    out = []
    for r in runs:
        if r.throttled:
            top = ", ".join(f"{op.split(':', 1)[-1]} {n}" for op, n in sorted(r.throttled.items(), key=lambda kv: -kv[1])[:4])
            out.append(f"- {r.job} {r.tool}: {top}")
    return out


def write_results(path, text: str, throttled: bool) -> None:
    """Writes `text` into results.md: the throttled section (from SECTION on) if `throttled`,
    else everything before it, keeping the other part as it was."""
    try:
        old = path.read_text()
    except OSError:
        old = ""
    head, mark, tail = old.partition(SECTION)
    if throttled:
        new = head.rstrip() + "\n\n" + text if head.strip() else text
    else:
        new = text.rstrip() + ("\n\n" + mark + tail if mark else "\n")
    path.write_text(new)
