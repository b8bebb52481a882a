"""Fixtures for the emulator's own tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from emulator_helpers import ORG, PEERED, Api, FakeClock

from apigee_psc.emulator import EmulatorServer, World


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def world(clock: FakeClock) -> World:
    """A world with no server, a fake clock and 1 s operations."""
    return World([ORG, f"{PEERED}:peered"], op_seconds=1.0, clock=clock)


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[EmulatorServer]:
    with EmulatorServer(orgs=[ORG, f"{PEERED}:peered"], op_seconds=0, wait_deadline=0.5) as server:
        yield server


@pytest.fixture
def emu(emulator_server: EmulatorServer) -> EmulatorServer:
    """The session's server, reset for this test."""
    emulator_server.reset()
    return emulator_server


@pytest.fixture
def api(emu: EmulatorServer) -> Api:
    return Api(emu)
