"""``apigee-psc demo``: the seed's whole scenario against an embedded emulator.

It starts the emulator in this process, builds the producer's internal load balancer as
"the existing service" (health check ``hc-tcp-foo``, backend service ``be-ilb``, forwarding
rule ``fr-ilb`` on port 80) and the private zone ``my-private-zone``, then plans and applies
the seed's southbound connection, prints the realization report and the TargetEndpoint XML.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from apigee_psc._endpoints import EMULATOR_ENV
from apigee_psc.southbound.reports import ProgressEvent

__all__ = ["SEED_SPEC", "run_demo"]

#: The seed's scenario as a spec (the same as examples/seed-scenario.yaml).
SEED_SPEC: dict[str, Any] = {
    "organization": "my-organization",
    "project": "my-project",
    "region": "us-west1",
    "network": "default",
    "forwarding_rule": "fr-ilb",
    "nat_subnet": {"name": "psc-subnet", "range": "10.100.0.0/28"},
    "firewall": {"name": "allow-psc-nat-80", "ports": [80], "target_tags": ["psc-demo"]},
    "service_attachment": {"name": "gkebackend", "connection_preference": "ACCEPT_AUTOMATIC"},
    "endpoint_attachment": {"name": "gkebackend"},
    "dns": {
        "zone": {"name": "my-zone", "domain": "example.com."},
        "managed_zone": "my-private-zone",
        "record": "orders.example.com.",
    },
    "target": {"path": "/orders"},
}


@contextmanager
def _environment(name: str, value: str) -> Iterator[None]:
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


def build_producer(project: str = "my-project", region: str = "us-west1") -> None:
    """Create the seed's producer load balancer and private zone (the "existing service")."""
    from apigee_psc.cloud import CloudDnsClient
    from apigee_psc.compute import ComputeClient

    compute = ComputeClient(project, region)
    compute.health_checks.create("hc-tcp-foo", port=80)
    compute.backend_services.create("be-ilb", health_check="hc-tcp-foo")
    compute.forwarding_rules.create("fr-ilb", backend_service="be-ilb", ports=[80], network="default")
    CloudDnsClient().managed_zones.create(
        project, "my-private-zone", "example.com.", networks=["default"], description="private zone of the producer"
    )


def run_demo(
    *,
    op_seconds: float = 1.0,
    output: str = "text",
    keep_running: bool = False,
    echo: Callable[[str], None] = print,
    note: Callable[[str], None] | None = None,
) -> int:
    """Run the demo and return the exit code (0 when the connection is in sync).

    ``echo`` prints the result; ``note`` the narrative (the plan, progress, timings), ``echo``
    when not given. With ``output="json"`` the result is one JSON object: the realization
    report (``report``), the TargetEndpoint XML and URL, and the API requests made.
    """
    say = note or echo
    from apigee_psc.emulator import EmulatorServer
    from apigee_psc.southbound.engine import Southbound
    from apigee_psc.southbound.spec import SouthboundSpec

    started = time.monotonic()
    server = EmulatorServer(orgs=["my-organization"], op_seconds=op_seconds)
    server.start()
    try:
        host_port = server.url.split("://", 1)[1].rstrip("/")
        with _environment(EMULATOR_ENV, host_port):
            say(f"Emulator at {server.url} (organization my-organization, operations take {op_seconds:g}s)")
            say("Creating the producer's load balancer: hc-tcp-foo, be-ilb, fr-ilb (tcp:80), my-private-zone")
            build_producer()
            setup_requests = len(server.requests())
            spec = SouthboundSpec.from_dict(SEED_SPEC, source="seed-scenario")
            southbound = Southbound(spec, timeout=120.0)
            plan = southbound.plan()
            say("")
            say(plan.to_text())
            say("")

            def progress(event: ProgressEvent) -> None:
                if event.status != "waiting":
                    say(event.to_text())

            report = southbound.apply(progress=progress, plan=plan)
            xml = southbound.target_xml()
            applied = len(server.requests()) - setup_requests
            seconds = time.monotonic() - started
            if output == "json":
                echo(
                    json.dumps(
                        {
                            "spec": spec.source,
                            "report": report.to_dict(),
                            "target_xml": xml,
                            "api_requests": applied,
                            "seconds": round(seconds, 3),
                        },
                        indent=2,
                    )
                )
            else:
                echo("")
                echo(report.to_text())
                echo("")
                echo(xml)
            say(f"Done in {seconds:.1f}s, {applied} API requests for plan + apply + status.")
            if keep_running:
                say(f"Emulator still running: export {EMULATOR_ENV}={host_port} (Ctrl-C to stop)")
                try:
                    while True:
                        time.sleep(3600)
                except KeyboardInterrupt:
                    pass
            return 0 if report.ok else 1
    finally:
        server.stop()
