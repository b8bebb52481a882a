"""Fleet overlap: wall time of ``apply_fleet`` over N specs of one organization, divided by
the sum of the Apigee operations it had to wait for.

    python benchmarks/fleet.py [--specs 5 20] [--op-seconds 1] [--runs 3] [--quick]

Apigee runs one long-running operation at a time per organization, so the sum of the
Apigee operations' durations is the floor of the wall time; a ratio of 1.0 means the
organization was never idle. Each spec is the seed's scenario with its own forwarding rule,
NAT subnet, firewall, service attachment, endpoint attachment and DNS zone (two Apigee
operations per spec); all run against an in-process emulator whose operations take
``--op-seconds``, with ``apply_fleet``'s default number of threads (as the CLI) unless
``--workers`` says otherwise. The median of ``--runs`` runs is printed (the emulator is reset
between runs).
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time
from collections.abc import Sequence
from typing import Any

from apigee_psc.compute import ComputeClient
from apigee_psc.demo import SEED_SPEC, build_producer
from apigee_psc.emulator import EmulatorServer
from apigee_psc.southbound import SouthboundSpec, apply_fleet


def spec_data(index: int) -> dict[str, Any]:
    """The seed's scenario, renamed for spec ``index`` of the fleet."""
    data = copy.deepcopy(SEED_SPEC)
    data["forwarding_rule"] = f"fr-ilb-{index}"
    data["nat_subnet"] = {"name": f"psc-subnet-{index}", "range": f"10.{100 + index // 16}.{(index % 16) * 16}.0/28"}
    data["firewall"] = {"name": f"allow-psc-nat-{index}", "ports": [80], "target_tags": ["psc-demo"]}
    data["service_attachment"] = {"name": f"sa-{index}", "connection_preference": "ACCEPT_AUTOMATIC"}
    data["endpoint_attachment"] = {"name": f"ea-{index}"}
    data["dns"] = {
        "zone": {"name": f"zone-{index}", "domain": f"svc{index}.example.com."},
        "managed_zone": "my-private-zone",
        "record": f"orders.svc{index}.example.com.",
    }
    return data


def prepare(server: EmulatorServer, count: int) -> list[SouthboundSpec]:
    """Reset the emulator, build the producer and one forwarding rule per spec."""
    server.reset()
    build_producer()
    compute = ComputeClient("my-project", "us-west1")
    for index in range(count):
        compute.forwarding_rules.create(f"fr-ilb-{index}", backend_service="be-ilb", ports=[80], network="default")
    return [SouthboundSpec.from_dict(spec_data(i), source=f"fleet-{i}") for i in range(count)]


def run_once(server: EmulatorServer, count: int, op_seconds: float, workers: int | None) -> tuple[float, int, float]:
    """(wall s, Apigee operations, wall / their sum) of one fleet apply."""
    specs = prepare(server, count)
    before = len(server.operations("apigee"))
    started = time.perf_counter()
    results = apply_fleet(specs) if workers is None else apply_fleet(specs, max_workers=workers)
    wall = time.perf_counter() - started
    failed = [r for r in results if not r.ok]
    if failed:
        raise SystemExit(f"fleet apply failed: {[str(r.error) for r in failed][:3]}")
    operations = len(server.operations("apigee")) - before
    return wall, operations, wall / (operations * op_seconds)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--specs", type=int, nargs="+", default=[5, 20])
    parser.add_argument("--op-seconds", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=None, help="threads (default: apply_fleet's, as the CLI)")
    parser.add_argument("--quick", action="store_true", help="2 specs, 0.2 s operations, one run (CI smoke)")
    args = parser.parse_args(argv)
    sizes, op_seconds, runs = ([2], 0.2, 1) if args.quick else (args.specs, args.op_seconds, args.runs)

    threads = "apply_fleet's default" if args.workers is None else str(args.workers)
    print(
        f"## Fleet apply, one organization, emulator operations take {op_seconds:g} s "
        f"(median of {runs}, threads: {threads})\n"
    )
    print("| specs | Apigee operations | sum of their durations s | wall s | wall / sum |")
    print("|---|---|---|---|---|")
    with EmulatorServer(op_seconds=op_seconds) as server:
        os.environ["APIGEE_PSC_EMULATOR_HOST"] = server.host_port
        for count in sizes:
            measured = [run_once(server, count, op_seconds, args.workers) for _ in range(runs)]
            wall = statistics.median(m[0] for m in measured)
            operations = measured[0][1]
            ratio = statistics.median(m[2] for m in measured)
            print(f"| {count} | {operations} | {operations * op_seconds:.1f} | {wall:.2f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
