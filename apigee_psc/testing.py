"""pytest plugin: a running apigee-psc emulator for your tests.

Registered as the ``apigee_psc`` pytest11 entry point, so installing apigee-psc makes the
fixtures available everywhere::

    def test_connect(apigee_emulator):
        # APIGEE_PSC_EMULATOR_HOST points at the emulator; state was reset for this test
        apigee = ApigeeClient("my-organization")
        ...
        assert len(apigee_emulator.requests(method="POST")) == 5
        apigee_emulator.set_faults([{"api": "apigee", "status": 503, "count": 1}])

Fixtures:

``apigee_emulator_server`` (session)
    one :class:`~apigee_psc.emulator.EmulatorServer` on a free port for the whole session.
``apigee_emulator`` (function)
    the same server, reset before the test (organizations, config, faults, request log),
    with ``APIGEE_PSC_EMULATOR_HOST`` set to its ``host_port`` for the test.

Helpers: :func:`inventory` counts what apigee-psc manages in the emulator (to check for
duplicates and leaks); :func:`fault_mix` is a seeded mix of transient faults, resets and a
failed operation for ``set_faults``; :func:`gcloud_environment` is the environment that points
Google's own ``gcloud`` at the emulator (for tests that drive it as a second client).

ini options (``pytest.ini`` / ``[tool.pytest.ini_options]``): ``apigee_emulator_orgs``
(lines of ``NAME`` or ``NAME:peered``; default ``my-organization``) and
``apigee_emulator_op_seconds`` (default ``0``: operations are done at once).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from apigee_psc.emulator import EMULATOR_ENV, EmulatorServer

__all__ = [
    "apigee_emulator",
    "apigee_emulator_server",
    "fault_mix",
    "gcloud_environment",
    "inventory",
    "pytest_addoption",
]

_MANAGED_COMPUTE = ("compute#subnetwork", "compute#firewall", "compute#serviceAttachment")


def inventory(server: EmulatorServer) -> Counter[tuple[str, str]]:
    """How many of each kind of resource apigee-psc creates the emulator holds, by
    ``(kind, name)``: subnets, firewall rules, service attachments, endpoint attachments, Apigee
    DNS zones, and A and TXT record sets. A count above 1 is a duplicate."""
    state = server.state()
    counts: Counter[tuple[str, str]] = Counter()
    for resource in state["compute"]["resources"]:
        if resource.get("kind") in _MANAGED_COMPUTE:
            counts[(resource["kind"], resource["name"])] += 1
    for attachment in state["apigee"]["endpointAttachments"]:
        counts[("apigee#endpointAttachment", attachment["name"])] += 1
    for zone in state["apigee"]["dnsZones"]:
        counts[("apigee#dnsZone", zone["name"])] += 1
    for managed in state["dns"]["managedZones"]:
        for rrset in managed.get("rrsets", []):
            if rrset["type"] in ("A", "TXT"):
                counts[(f"dns#{rrset['type']}", rrset["name"])] += 1
    return counts


def fault_mix(seed: int) -> dict[str, Any]:
    """A seeded fault mix for :meth:`EmulatorServer.set_faults`: 503/429/500 at 10-15 % of the
    requests of each API, connection resets after 10 % of POSTs and DELETEs (the change is
    made, the answer lost), and, every third seed, a failed endpoint-attachment operation."""
    return {
        "seed": seed,
        "rules": [
            {"api": "compute", "status": 503, "rate": 0.15},
            {"api": "apigee", "status": 429, "retry_after": 0, "rate": 0.15},
            {"api": "dns", "status": 500, "rate": 0.1},
            {"api": "crm", "status": 503, "rate": 0.1},
            {"method": "POST", "reset": "after", "rate": 0.1},
            {"method": "DELETE", "reset": "after", "rate": 0.1},
        ],
        "operations": [{"kind": "apigee.endpointAttachments.create", "outcome": "fail", "code": 13, "count": 1}]
        if seed % 3 == 0
        else [],
    }

_DEFAULT_ORGS = ["my-organization"]


def pytest_addoption(parser: pytest.Parser) -> None:
    """Declare the plugin's ini options."""
    parser.addini(
        "apigee_emulator_orgs",
        "Apigee organizations of the emulator (NAME or NAME:peered)",
        type="linelist",
        default=list(_DEFAULT_ORGS),
    )
    parser.addini("apigee_emulator_op_seconds", "how long emulated operations take (seconds)", default="0")


def _orgs(config: pytest.Config) -> list[str]:
    value = config.getini("apigee_emulator_orgs")
    orgs = [str(o).strip() for o in value if str(o).strip()] if isinstance(value, list) else []
    return orgs or list(_DEFAULT_ORGS)


@pytest.fixture(scope="session")
def apigee_emulator_server(pytestconfig: pytest.Config) -> Iterator[EmulatorServer]:
    """One emulator for the whole test session (use ``apigee_emulator`` in tests)."""
    op_seconds = float(pytestconfig.getini("apigee_emulator_op_seconds") or 0)
    server = EmulatorServer(orgs=_orgs(pytestconfig), op_seconds=op_seconds)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def apigee_emulator(
    apigee_emulator_server: EmulatorServer, pytestconfig: pytest.Config, monkeypatch: pytest.MonkeyPatch
) -> Iterator[EmulatorServer]:
    """The session's emulator, reset for this test, with ``APIGEE_PSC_EMULATOR_HOST`` set."""
    apigee_emulator_server.reset(_orgs(pytestconfig))
    monkeypatch.setenv(EMULATOR_ENV, apigee_emulator_server.host_port)
    yield apigee_emulator_server


def gcloud_environment(server: EmulatorServer, home: Path, project: str = "my-project") -> dict[str, str]:
    """This process's environment, less any gcloud or Google setting, pointing ``gcloud`` at
    ``server``: every API the emulator serves through ``CLOUDSDK_API_ENDPOINT_OVERRIDES_*``, a
    throwaway configuration and an access-token file under ``home``, ``project`` as the core
    project, no prompts, no metadata-server probe and no update check."""
    token = home / "token"
    token.write_text("emulator-token\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDSDK_", "GOOGLE_"))}
    env.update(
        {
            "CLOUDSDK_CONFIG": str(home / "gcloud"),
            "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE": str(token),
            "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
            "CLOUDSDK_CORE_PROJECT": project,
            "CLOUDSDK_CORE_CHECK_GCE_METADATA": "false",
            "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "1",
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE": f"{server.url}compute/v1/",
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_DNS": f"{server.url}dns/v1/",
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDRESOURCEMANAGER": server.url,
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_APIGEE": server.url,
        }
    )
    return env
