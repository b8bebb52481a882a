"""Shared fixtures for the library and CLI against one emulator per session (reset per test)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from apigee_psc.demo import SEED_SPEC, build_producer
from apigee_psc.emulator import EmulatorServer
from apigee_psc.southbound import SouthboundSpec


@pytest.fixture
def producer(apigee_emulator: EmulatorServer) -> EmulatorServer:
    """The emulator with the seed's producer load balancer and private zone created over HTTP."""
    build_producer()
    return apigee_emulator


@pytest.fixture
def seed_spec() -> SouthboundSpec:
    """The seed's scenario."""
    return SouthboundSpec.from_dict(SEED_SPEC, source="seed.yaml")


@pytest.fixture
def make_spec() -> Callable[..., SouthboundSpec]:
    """Build a variant of the seed's spec: ``make_spec(service_attachment={...}, dns=None)``."""

    def make(**changes: Any) -> SouthboundSpec:
        data = {**SEED_SPEC, **changes}
        return SouthboundSpec.from_dict({k: v for k, v in data.items() if v is not None}, source="variant.yaml")

    return make


@pytest.fixture
def tenant(apigee_emulator: EmulatorServer) -> str:
    """The organization's apigeeProjectId."""
    from apigee_psc import ApigeeClient

    project = ApigeeClient("my-organization").get_organization().apigee_project_id
    assert project
    return project
