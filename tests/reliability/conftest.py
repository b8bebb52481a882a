"""Fixtures of the reliability suite: one emulator per test (own port, own state), the seed's
producer and a fast retry policy, so faults, kills and races can be measured, not waited on."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from reliability_helpers import BASELINE, inventory

from apigee_psc.emulator import EmulatorServer, seed_producer


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorServer]:
    """A fresh emulator on its own port with the seed's producer, pointed at by the library."""
    emulator = EmulatorServer(orgs=["my-organization"], op_seconds=0.05)
    emulator.start()
    monkeypatch.setenv("APIGEE_PSC_EMULATOR_HOST", emulator.url.split("//", 1)[1].rstrip("/"))
    seed_producer(emulator)
    BASELINE[emulator] = inventory(emulator)
    try:
        yield emulator
    finally:
        emulator.stop()
