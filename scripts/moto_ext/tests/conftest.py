"""Fixtures: one in-process moto_server with every patch applied, reset before each test."""

from __future__ import annotations

from typing import Any, Iterator

import pytest
from moto.moto_server.threaded_moto_server import ThreadedMotoServer

import moto_ext
from moto_ext import imagebuilder

from .aws import Aws


@pytest.fixture(scope="session")
def endpoint() -> Iterator[str]:
    """moto_server, patched, on a free loopback port, for the whole session."""
    moto_ext.apply()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws(endpoint: str) -> Aws:
    """The emulator, emptied: no resources, no recipes, every API available."""
    emulator = Aws(endpoint)
    emulator.reset()
    imagebuilder.RECIPES.clear()
    return emulator


@pytest.fixture
def ec2(aws: Aws) -> Any:
    """An EC2 client of the default account."""
    return aws.client("ec2")
