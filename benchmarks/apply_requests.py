"""How many API requests one plan, apply, re-apply, status and destroy of the seed's scenario
make, by API and method, and how long each takes, against the in-process emulator.

    python benchmarks/apply_requests.py [--op-seconds 0] [--quick]

Figures are printed, not asserted: the emulator answers on loopback, so times show the
library's own overhead and waits, not Google's latency.
"""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from apigee_psc.demo import SEED_SPEC, build_producer
from apigee_psc.emulator import EmulatorServer
from apigee_psc.southbound import Southbound, SouthboundSpec


def measure(server: EmulatorServer, label: str, fn: Callable[[], Any]) -> None:
    since = server.requests()[-1]["seq"] if server.requests() else 0
    started = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - started
    log = server.requests(since=since)
    by_api = Counter(r["api"] for r in log)
    by_method = Counter(r["method"] for r in log)
    apis = ", ".join(f"{api} {n}" for api, n in sorted(by_api.items()))
    methods = ", ".join(f"{m} {n}" for m, n in sorted(by_method.items()))
    print(f"{label:<10} {len(log):>4} requests in {elapsed:6.2f}s   [{apis}]   [{methods}]")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--op-seconds", type=float, default=0.0)
    parser.add_argument("--quick", action="store_true", help="accepted for CI symmetry: this one is quick already")
    args = parser.parse_args()
    with EmulatorServer(op_seconds=args.op_seconds) as server:
        os.environ["APIGEE_PSC_EMULATOR_HOST"] = server.host_port
        build_producer()
        spec = SouthboundSpec.from_dict(SEED_SPEC, source="seed")
        southbound = Southbound(spec)
        print(f"seed scenario, emulator operations take {args.op_seconds:g}s")
        measure(server, "plan", southbound.plan)
        measure(server, "apply", southbound.apply)
        measure(server, "re-apply", Southbound(spec).apply)
        measure(server, "status", Southbound(spec).status)
        measure(server, "destroy", Southbound(spec).destroy)


if __name__ == "__main__":
    main()
