#!/usr/bin/env python3
"""Checks the policies `amikeeper iam-policy` prints against AWS's service authorization data.

For each configuration given, runs `amikeeper iam-policy --config FILE` and checks, with the
offline copy of AWS's Service Authorization Reference that policy_sentry ships:

- every action exists;
- every resource ARN a statement gives an action is a form of one of that action's resource
  types (e.g. `arn:aws:ssm:*:111122223333:parameter/ami/*` for `ssm:GetParameter`), so that no
  statement names a resource IAM never matches for the action;
- `"Resource": "*"` is given only to actions that have no resource type, except the few calls
  AWS authorizes against `*` although the action has one (EXCEPTIONS, each with AWS's reason);
- every condition key is global (`aws:`) or one the action supports;
- the caveats on stderr name every action granted on `*` (the printed policy says nothing
  that its reader is not told).

    .venv/bin/python scripts/check_iam_policy.py --amikeeper target/debug/amikeeper CONFIG...

Exits 1 with one line per problem; 0 and a summary when every pair holds.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from typing import Any

from policy_sentry.querying.actions import get_action_data

# Actions that have resource types but that amikeeper calls in a way AWS authorizes against
# `*`: the sweep lists every stack (DescribeStacks without StackName), which CloudFormation's
# API reference says is not matched by a stack ARN (`stack/*/*`).
EXCEPTIONS = {
    "cloudformation:DescribeStacks": "DescribeStacks without a stack name is authorized against *",
}

# What each `${Variable}` of an ARN format may be in a policy: a value or a wildcard.
VARIABLES = {
    "Partition": r"(?:aws|aws-cn|aws-us-gov)",
    "Region": r"(?:\*|[a-z]{2}(?:-[a-z]+)+-\d)",
    "Account": r"(?:\*|\d{12})",
}


def format_regex(arn_format: str) -> re.Pattern[str]:
    """A regex that a policy ARN matches when it is an instance of `arn_format`."""
    parts = re.split(r"(\$\{[^}]+\})", arn_format)
    regex = ""
    for part in parts:
        match = re.fullmatch(r"\$\{([^}]+)\}", part)
        if match:
            regex += VARIABLES.get(match.group(1), r".+")
        else:
            regex += re.escape(part)
    return re.compile(regex)


def action_rows(action: str) -> list[dict[str, Any]]:
    service, name = action.split(":", 1)
    rows: list[dict[str, Any]] = get_action_data(service, name).get(service, [])
    return rows


def check_policy(where: str, policy: dict[str, Any], caveats: str) -> tuple[list[str], int]:
    problems: list[str] = []
    pairs = 0
    star_actions: set[str] = set()
    if policy.get("Version") != "2012-10-17":
        problems.append(f"{where}: Version is not 2012-10-17")
    for statement in policy.get("Statement", []):
        sid = statement.get("Sid", "?")
        at = f"{where}: {sid}"
        if statement.get("Effect") != "Allow":
            problems.append(f"{at}: not an Allow statement")
        actions = statement.get("Action", [])
        resources = statement.get("Resource")
        if not actions or not resources:
            problems.append(f"{at}: no actions or no resources")
            continue
        for action in actions:
            rows = action_rows(action)
            if not rows:
                problems.append(f"{at}: {action} is not an IAM action")
                continue
            formats = [row["resource_arn_format"] for row in rows if row["resource_arn_format"] != "*"]
            keys = {key for row in rows for key in row.get("condition_keys") or []}
            for key in (statement.get("Condition") or {}).get("StringEquals", {}):
                if not key.startswith("aws:") and key not in keys:
                    problems.append(f"{at}: {action} does not support the condition key {key}")
            if resources == "*":
                pairs += 1
                star_actions.add(action)
                if formats and action not in EXCEPTIONS:
                    problems.append(
                        f"{at}: {action} is granted on * but has resource types: {', '.join(formats)}"
                    )
                continue
            for arn in resources:
                pairs += 1
                if not any(format_regex(f).fullmatch(arn) for f in formats):
                    problems.append(
                        f"{at}: {action} has no resource type of the form {arn} "
                        f"(its types: {', '.join(formats) or 'none: use *'})"
                    )
    told = set(re.findall(r"[a-z0-9-]+:[A-Za-z]+", caveats))
    for action in sorted(star_actions - told):
        problems.append(f"{where}: {action} is granted on * but the caveats do not say so")
    return problems, pairs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--amikeeper", required=True, help="the amikeeper binary")
    parser.add_argument("configs", nargs="+", help="configuration files")
    args = parser.parse_args()
    problems: list[str] = []
    pairs = 0
    for config in args.configs:
        out = subprocess.run(
            [args.amikeeper, "iam-policy", "--config", config], capture_output=True, text=True, check=False
        )
        if out.returncode != 0:
            problems.append(f"{config}: iam-policy exited {out.returncode}: {out.stderr.strip()}")
            continue
        found, checked = check_policy(config, json.loads(out.stdout), out.stderr)
        problems.extend(found)
        pairs += checked
    for problem in problems:
        print(problem)
    if problems:
        return 1
    print(f"check_iam_policy: {pairs} action/resource pairs in {len(args.configs)} policies hold")
    return 0


if __name__ == "__main__":
    sys.exit(main())
