"""The side of scripts/artifacts/test_artifacts.py that runs on a built artifact's own Python: the
arm64 CPython under qemu-user for the aarch64 wheel (scripts/test-arm64.sh), or a native one
for the x86_64 Lambda layer (scripts/build-layers.sh), with the artifact alone on ``PYTHONPATH``.
It imports nothing but the standard library and ``amikeeper``, and writes its answer as JSON
to the file OUT (standard output carries the handler's metrics):

    guest.py OUT machine                      # {"machine": ..., "amikeeper": file of the module}
    guest.py OUT parse FILE...                # {FILE: {"events": parse_events(...), "event": parse_event(...)}}
    guest.py OUT handle CONFIG EVENT ENDPOINT # the Lambda handler's answer to EVENT, pointed at ENDPOINT

A file that is refused answers ``{"error": class, "message": ...}`` instead; ``event`` is there
only for a file that holds one event.
"""

from __future__ import annotations

import json
import platform
import sys
from typing import Any

import amikeeper


def parse(paths: list[str]) -> dict[str, Any]:
    """``parse_events`` and ``parse_event`` of each file, or the error they raised."""
    parsed: dict[str, Any] = {}
    for path in paths:
        with open(path, "rb") as file:
            text = file.read()
        try:
            events = amikeeper.parse_events(text)
            parsed[path] = {"events": events}
            if len(events) == 1:
                parsed[path]["event"] = amikeeper.parse_event(text)
        except amikeeper.AmikeeperError as error:
            parsed[path] = {"error": type(error).__name__, "message": str(error)}
    return parsed


class Context:
    """The part of Lambda's context object the handler reads."""

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 60_000


def main(command: str, *arguments: str) -> Any:
    """The command's answer."""
    if command == "machine":
        return {"machine": platform.machine(), "amikeeper": amikeeper.__file__}
    if command == "parse":
        return parse(list(arguments))
    if command == "handle":
        config, event, endpoint = arguments
        handler = amikeeper.lambda_handler(config, endpoint_url=endpoint)
        with open(event, encoding="utf-8") as file:
            return handler(json.load(file), Context())
    raise SystemExit(f"guest.py: unknown command {command}")


if __name__ == "__main__":
    answer = main(*sys.argv[2:])
    with open(sys.argv[1], "w", encoding="utf-8") as out:
        json.dump(answer, out)
