"""Fixtures of the wheel's tests: one moto server for the session (reset before each test that
uses it), a hermetic AWS environment for the Rust SDK, and keepers pointed at moto."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import pytest

import amikeeper
from aws_world import World, MotoServer, moto_executable

#: The Rust core's event fixtures: real payloads, one per supported event.
EVENT_FIXTURES = Path(__file__).resolve().parents[2] / "crates" / "amikeeper" / "src" / "events" / "fixtures"

#: The test configurations the Rust tests share (``amikeeper::testing::configs``), one TOML file each.
TEST_CONFIGS = Path(__file__).resolve().parents[2] / "crates" / "amikeeper" / "src" / "testing" / "configs"


def shared_config(name: str, **values: str) -> str:
    """The test configuration ``TEST_CONFIGS/<name>.toml``, each ``{key}`` in it replaced by its
    value in ``values`` (as ``amikeeper::testing::fill`` does)."""
    text = (TEST_CONFIGS / f"{name}.toml").read_text()
    for key, value in values.items():
        text = text.replace(f"{{{key}}}", value)
    return text


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Static test credentials and the main region; nothing from the machine's ``~/.aws`` or
    instance metadata. The Rust SDK reads the process environment, which monkeypatch sets."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "ap-northeast-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for variable, name in [("AWS_CONFIG_FILE", "aws-config"), ("AWS_SHARED_CREDENTIALS_FILE", "aws-credentials")]:
        empty = tmp_path / name
        empty.write_text("")
        monkeypatch.setenv(variable, str(empty))


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """One moto for the session. Without moto the tests that need it are skipped, unless
    ``AMIKEEPER_REQUIRE_MOTO=1`` (as ``scripts/test.sh`` sets), which fails them instead."""
    executable = moto_executable()
    if executable is None:
        hint = "moto not installed: run scripts/setup-python.sh and set AMIKEEPER_MOTO_SERVER=$PWD/scripts/moto-server"
        if os.environ.get("AMIKEEPER_REQUIRE_MOTO") == "1":
            pytest.fail(f"{hint} (AMIKEEPER_REQUIRE_MOTO=1 requires it)")
        pytest.skip(hint)
    server = MotoServer(executable)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def world(moto_server: MotoServer) -> World:
    """An empty moto account to set up and read with boto3."""
    moto_server.reset()
    return World(moto_server.endpoint)


KeeperFor = Callable[[str], amikeeper.Keeper]


@pytest.fixture
def keeper_for(world: World) -> KeeperFor:
    """Makes a keeper pointed at moto from the body of a TOML configuration (``accounts`` is
    moto's account)."""

    def make(body: str) -> amikeeper.Keeper:
        return amikeeper.Keeper.from_toml(f'accounts = ["{world.account}"]\n{body}', endpoint_url=world.endpoint)

    return make
