"""Shared fixtures of the unit tests: a fake clock, a scripted HTTP layer and the seed's payloads.

Unit tests make no network call and never sleep: ``responses`` answers every request and
:class:`FakeClock` advances its time when the code under test "sleeps".
"""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import responses
from google.auth.credentials import AnonymousCredentials

from apigee_psc._http import Transport
from apigee_psc._retry import RetryPolicy
from apigee_psc.apigee import ApigeeClient

# Test modules import the helpers below with ``from conftest import ...``: make that name mean
# this file whatever pytest's import mode (prepend or importlib) called it.
sys.modules["conftest"] = sys.modules[__name__]

ENDPOINT = "https://apigee.example.test/"
ORG = "my-organization"
PARENT = f"organizations/{ORG}"
API = f"{ENDPOINT}v1/{PARENT}"
OP_NAME = f"{PARENT}/operations/6e249895-e78e-48f0-a28f-7140e15e1676"
SA = "projects/my-project/regions/us-west1/serviceAttachments/gkebackend"
TENANT = "x-tenant-project"


class FakeClock:
    """A monotonic clock whose ``sleep`` advances time instead of waiting."""

    def __init__(self, start: float = 1000.0) -> None:
        self.start = start
        self.time = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.time

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0, f"negative sleep {seconds}"
        self.sleeps.append(seconds)
        self.time += seconds

    @property
    def elapsed(self) -> float:
        return self.time - self.start


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    """Every request must be answered by a registered response; unused ones are allowed."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def transport(clock: FakeClock) -> Transport:
    return Transport(
        "apigee",
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        endpoint=ENDPOINT,
        sleep=clock.sleep,
        clock=clock.now,
        rng=random.Random(7),
    )


@pytest.fixture
def client(clock: FakeClock) -> ApigeeClient:
    return ApigeeClient(
        ORG,
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        endpoint=ENDPOINT,
        sleep=clock.sleep,
        clock=clock.now,
        retry=RetryPolicy(),
    )


# -- the seed's payloads (003: create answers this operation; done, host 7.0.3.4) ------------


def operation(*, done: bool = False, error: dict[str, Any] | None = None, state: str | None = None) -> dict[str, Any]:
    """The seed's create-endpoint-attachment operation, running or done."""
    data: dict[str, Any] = {
        "name": OP_NAME,
        "metadata": {
            "@type": "type.googleapis.com/google.cloud.apigee.v1.OperationMetadata",
            "operationType": "INSERT",
            "targetResourceName": f"{PARENT}/endpointAttachments/gkebackend",
            "state": state or ("FINISHED" if done else "IN_PROGRESS"),
        },
    }
    if done:
        data["done"] = True
        if error is not None:
            data["error"] = error
        else:
            data["response"] = {
                "@type": "type.googleapis.com/google.cloud.apigee.v1.EndpointAttachment",
                "name": f"{PARENT}/endpointAttachments/gkebackend",
                "location": "us-west1",
                "host": "7.0.3.4",
                "serviceAttachment": SA,
            }
    return data


def attachment(
    name: str = "gkebackend", *, state: str = "ACTIVE", connection_state: str | None = "ACCEPTED"
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": f"{PARENT}/endpointAttachments/{name}",
        "location": "us-west1",
        "host": "7.0.3.4",
        "serviceAttachment": SA.replace("gkebackend", name),
        "state": state,
    }
    if connection_state is not None:
        data["connectionState"] = connection_state
    return data


def organization() -> dict[str, Any]:
    return {
        "name": ORG,
        "projectId": ORG,
        "apigeeProjectId": TENANT,
        "disableVpcPeering": "true",
        "runtimeType": "CLOUD",
        "state": "ACTIVE",
    }


def dns_zone(name: str = "my-zone", *, state: str = "ACTIVE") -> dict[str, Any]:
    return {
        "name": f"{PARENT}/dnsZones/{name}",
        "domain": "example.com.",
        "description": "peering zone",
        "peeringConfig": {"targetProjectId": "my-project", "targetNetworkId": "default"},
        "state": state,
        "createTime": "2024-01-01T00:00:00Z",
    }


def rpc_error(code: int, status: str, message: str, *, reason: str | None = None) -> dict[str, Any]:
    """An AIP-193 error body."""
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if reason is not None:
        error["details"] = [
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "googleapis.com"}
        ]
    return {"error": error}


ORG_LOCK = rpc_error(
    400,
    "INVALID_ARGUMENT",
    "generic::invalid_argument: the resource is locked by another operation "
    "organizations/my-organization/operations/11111111",
)
