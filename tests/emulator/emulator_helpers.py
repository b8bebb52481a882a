"""Constants and helpers shared by the emulator's tests (imported by name: tests have no packages)."""

from __future__ import annotations

from typing import Any

import requests

from apigee_psc.emulator import EmulatorServer, World

ORG = "my-organization"
PEERED = "peered-org"
PROJECT = "my-project"
REGION = "us-west1"
SA_PATH = f"projects/{PROJECT}/regions/{REGION}/serviceAttachments/gkebackend"


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Api:
    """A tiny JSON client for the emulator (requests + the server's root)."""

    def __init__(self, server: EmulatorServer) -> None:
        self.server = server
        self.session = requests.Session()

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> requests.Response:
        return self.session.request(
            method, self.server.url + path.lstrip("/"), json=body, params=params or None, timeout=10
        )

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.call("GET", path, **params)

    def post(self, path: str, body: Any = None, **params: Any) -> requests.Response:
        return self.call("POST", path, body, **params)

    def patch(self, path: str, body: Any = None, **params: Any) -> requests.Response:
        return self.call("PATCH", path, body, **params)

    def delete(self, path: str, **params: Any) -> requests.Response:
        return self.call("DELETE", path, **params)

    def ok(self, method: str, path: str, body: Any = None, **params: Any) -> dict[str, Any]:
        resp = self.call(method, path, body, **params)
        assert resp.status_code < 300, resp.text
        return resp.json() if resp.content else {}


def compute_path(collection: str, name: str = "", *, region: str | None = REGION, project: str = PROJECT) -> str:
    scope = f"regions/{region}" if region else "global"
    tail = f"/{name}" if name else ""
    return f"compute/v1/projects/{project}/{scope}/{collection}{tail}"


def producer(
    world: World,
    *,
    preference: str = "ACCEPT_AUTOMATIC",
    accept: list[dict[str, Any]] | None = None,
    project: str = PROJECT,
) -> None:
    """Create the seed's producer side directly in ``world`` (health check .. service attachment)."""
    c = world.compute
    c.insert("healthChecks", project, REGION, {"name": "hc", "type": "TCP", "tcpHealthCheck": {"port": 80}})
    c.insert(
        "backendServices",
        project,
        REGION,
        {
            "name": "bs",
            "loadBalancingScheme": "INTERNAL",
            "protocol": "TCP",
            "healthChecks": ["regions/us-west1/healthChecks/hc"],
        },
    )
    c.insert(
        "forwardingRules",
        project,
        REGION,
        {
            "name": "fr-ilb",
            "loadBalancingScheme": "INTERNAL",
            "backendService": "regions/us-west1/backendServices/bs",
            "ports": ["80"],
        },
    )
    c.insert(
        "subnetworks",
        project,
        REGION,
        {
            "name": "psc-subnet",
            "network": "global/networks/default",
            "ipCidrRange": "10.100.0.0/28",
            "purpose": "PRIVATE_SERVICE_CONNECT",
        },
    )
    body: dict[str, Any] = {
        "name": "gkebackend",
        "producerForwardingRule": "regions/us-west1/forwardingRules/fr-ilb",
        "connectionPreference": preference,
        "natSubnets": ["psc-subnet"],
    }
    if accept is not None:
        body["consumerAcceptLists"] = accept
    c.insert("serviceAttachments", project, REGION, body)
