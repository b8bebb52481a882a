"""Requests of ``plan`` for the seed's spec in an organization that already has many endpoint
attachments (other teams' connections).

    python benchmarks/plan_scale.py [--attachments 10000] [--quick]

The attachments are seeded through the emulator's control API (``POST /_emulator/config``
with ``resources``), so they exist at once, without operations; then one ``Southbound.plan()``
runs against the in-process emulator and its requests are counted by API and method from the
request log (``GET /_emulator/requests``); then the spec is applied and planned again (in
sync: the plan reads no list).
"""

from __future__ import annotations

import argparse
import json
import os
import time
import urllib.request
from collections import Counter
from collections.abc import Sequence
from typing import Any

from apigee_psc.demo import SEED_SPEC, build_producer
from apigee_psc.emulator import EmulatorServer
from apigee_psc.southbound import Southbound, SouthboundSpec

ORG = "my-organization"


def control(server: EmulatorServer, method: str, path: str, body: Any = None) -> Any:
    """Call the emulator's control API over HTTP."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{server.url}_emulator/{path}", data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=120) as answer:
        return json.loads(answer.read() or b"null")


def seed_attachments(server: EmulatorServer, count: int, batch: int = 2000) -> None:
    """Create ``count`` endpoint attachments of other service attachments in the organization."""
    for first in range(0, count, batch):
        resources = [
            {
                "api": "apigee",
                "collection": "endpointAttachments",
                "org": ORG,
                "id": f"other-{i:05d}",
                "body": {
                    "location": "us-west1",
                    "serviceAttachment": f"projects/team-{i % 97}/regions/us-west1/serviceAttachments/svc-{i:05d}",
                },
            }
            for i in range(first, min(count, first + batch))
        ]
        control(server, "POST", "config", {"resources": resources})


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--attachments", type=int, default=10000)
    parser.add_argument("--quick", action="store_true", help="200 attachments (CI smoke)")
    args = parser.parse_args(argv)
    count = 200 if args.quick else args.attachments

    with EmulatorServer(op_seconds=0) as server:
        os.environ["APIGEE_PSC_EMULATOR_HOST"] = server.host_port
        build_producer()
        seed_attachments(server, count)
        spec = SouthboundSpec.from_dict(SEED_SPEC, source="seed")
        rows = [("before apply (creates: lists)", measure_plan(server, spec))]
        Southbound(spec).apply()
        rows.append(("after apply (in sync: no lists)", measure_plan(server, spec)))
    print(f"## plan of the seed spec in an organization with {count} other endpoint attachments\n")
    print("| plan | requests | of which endpoint attachment list pages | wall s | by API and method |")
    print("|---|---|---|---|---|")
    for label, (log, elapsed) in rows:
        by_api = Counter(f"{r['api']} {r['method']}" for r in log)
        lists = [
            r
            for r in log
            if r["api"] == "apigee" and r["method"] == "GET" and r["path"].endswith("endpointAttachments")
        ]
        breakdown = ", ".join(f"{key} {n}" for key, n in sorted(by_api.items()))
        print(f"| {label} | {len(log)} | {len(lists)} | {elapsed:.2f} | {breakdown} |")


def measure_plan(server: EmulatorServer, spec: SouthboundSpec) -> tuple[list[dict[str, Any]], float]:
    """One plan's API requests (from the emulator's log) and wall time."""
    since = max((r["seq"] for r in control(server, "GET", "requests")["requests"]), default=0)
    started = time.perf_counter()
    Southbound(spec).plan()
    elapsed = time.perf_counter() - started
    log = [r for r in control(server, "GET", f"requests?since={since}")["requests"] if r["api"] != "control"]
    return log, elapsed


if __name__ == "__main__":
    main()
