"""A built artifact on its own Python: the aarch64 wheel under qemu-user (scripts/test-arm64.sh)
or the x86_64 Lambda layer (scripts/build-layers.sh). This module runs on the test tools' Python
(.venv); it starts moto there, natively, and runs scripts/artifacts/guest.py on the artifact's
Python, which reaches moto over 127.0.0.1. The environment says which artifact:

- ``AMIKEEPER_ARTIFACT_PYTHON``: the command that runs the artifact's Python, split on spaces
  (``qemu-aarch64-static -L ROOT ROOT/usr/bin/python3``);
- ``AMIKEEPER_ARTIFACT_PATH``: the directory that holds the package ``amikeeper`` (the wheel
  unpacked, or the layer's ``python/``), the only one put on ``PYTHONPATH``;
- ``AMIKEEPER_ARTIFACT_MACHINE``: the machine it must report (``aarch64``, ``x86_64``).

``AMIKEEPER_CLI`` (the CLI ``cargo test`` built, as scripts/test.sh sets it) adds a comparison
of every parsed event with what ``amikeeper parse`` prints.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPOSITORY / "python" / "tests"))

from aws_world import ACCOUNT, MAIN_REGION, MotoServer, World, moto_executable  # noqa: E402
from sample_events import Origin  # noqa: E402

GUEST = Path(__file__).resolve().parent / "guest.py"
FIXTURES = REPOSITORY / "crates" / "amikeeper" / "src" / "events" / "fixtures"
#: What the Rust core parses each fixture to (``crates/amikeeper/src/events/fixtures/parsed``).
PARSED = FIXTURES / "parsed"
#: The Python Lambda example's configuration, which the layer serves.
EXAMPLE_CONFIG = REPOSITORY / "examples" / "python-lambda" / "keeper.toml"
EXAMPLE_ACCOUNT = "111122223333"


def setting(name: str) -> str:
    """A required environment variable."""
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set (scripts/test-arm64.sh and scripts/build-layers.sh set it)")
    return value


def guest(*arguments: str) -> Any:
    """guest.py's JSON answer, run on the artifact's Python with the artifact alone on its path."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "PYTHON"))}
    environment |= {
        "PYTHONPATH": setting("AMIKEEPER_ARTIFACT_PATH"),
        "PYTHONNOUSERSITE": "1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": MAIN_REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "answer.json"
        command = [*setting("AMIKEEPER_ARTIFACT_PYTHON").split(), str(GUEST), str(out), *arguments]
        done = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=600, check=False)
        assert done.returncode == 0, f"{command} failed:\n{done.stderr}"
        return json.loads(out.read_text())


def fixtures() -> list[Path]:
    """Every event fixture of the core: the samples and AWS's documented examples."""
    return sorted(FIXTURES.glob("*.json")) + sorted((FIXTURES / "aws_docs").glob("*.json"))


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    """moto, native, on a free port of 127.0.0.1."""
    executable = moto_executable()
    if executable is None:
        pytest.fail("moto is not installed: run scripts/setup-python.sh and set AMIKEEPER_MOTO_SERVER")
    server = MotoServer(executable)
    try:
        yield World(server.endpoint)
    finally:
        server.stop()


def test_the_artifact_runs_on_its_machine() -> None:
    answer = guest("machine")
    assert answer["machine"] == setting("AMIKEEPER_ARTIFACT_MACHINE"), answer
    # The artifact's module, not one of the machine's.
    assert Path(answer["amikeeper"]).is_relative_to(setting("AMIKEEPER_ARTIFACT_PATH")), answer


def test_every_fixture_parses_as_the_core_parses_it() -> None:
    paths = fixtures()
    parsed = guest("parse", *map(str, paths))
    assert sorted(parsed) == sorted(map(str, paths))
    golden = sorted(PARSED.glob("*.json"))
    assert golden, PARSED
    for path in golden:
        assert parsed[str(FIXTURES / path.name)]["events"] == json.loads(path.read_text()), path.name
    for path in paths:
        answer = parsed[str(path)]
        if "events" in answer and len(answer["events"]) == 1:
            assert answer["event"] == answer["events"][0], path.name
        # Every sample of our own parses; AWS's documented examples parse or are refused.
        assert "events" in answer or (path.parent != FIXTURES and answer["error"] == "EventError"), (path.name, answer)
    cli = os.environ.get("AMIKEEPER_CLI")
    if cli:
        for path in paths:
            printed = subprocess.run([cli, "parse", str(path)], capture_output=True, text=True, check=False)
            if "events" in parsed[str(path)]:
                assert json.loads(printed.stdout) == parsed[str(path)]["events"], path.name
            else:
                assert printed.returncode != 0, path.name


def test_the_lambda_handler_moves_the_parameter_in_moto(world: World, tmp_path: Path) -> None:
    old = world.image("artifact-old")
    world.set_parameter("/ami/web", old)
    new = world.image("artifact-new", tags={"ImageIdParameterName": "/ami/web"})
    config = tmp_path / "keeper.toml"
    config.write_text(EXAMPLE_CONFIG.read_text().replace(EXAMPLE_ACCOUNT, ACCOUNT))
    event = tmp_path / "event.json"
    event.write_text(json.dumps(Origin(ACCOUNT, MAIN_REGION, "artifact").backup_job(new, "i-0123456789abcdef0")))

    report = guest("handle", str(config), str(event), world.endpoint)
    assert [(t["rule"], t["kind"], t["status"]) for t in report["targets"]] == [
        ("parameter-from-tag", "ssm_parameter", "updated")
    ], report
    assert world.parameter("/ami/web") == (new, 2)
