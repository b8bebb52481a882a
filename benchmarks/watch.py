"""Requests and wall time of one watch pass over N unchanged specs (emulator).

    python benchmarks/watch.py [--specs 1 20 200] [--passes 3] [--quick]

Each spec is the seed's scenario renamed (as in ``fleet.py``), applied once with
``apply_fleet``; then a :class:`~apigee_psc.southbound.watch.Watcher` with ``heal="safe"``
runs ``--passes`` passes. The table gives, per pass, the requests the emulator logged
(every HTTP request, all APIs), the requests per spec, the writes (there must be none: the
specs are unchanged), and the median wall time of a pass. Requests a minute at the default
5-minute interval follow: the figure to hold against Apigee's 6,000 calls a minute (the
Apigee share is shown apart, as the quota is Apigee's).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Sequence

from fleet import prepare

from apigee_psc.emulator import EmulatorServer
from apigee_psc.southbound import apply_fleet
from apigee_psc.southbound.watch import Watcher

MUTATING = {"POST", "PATCH", "PUT", "DELETE"}


def _writes(log: list[dict[str, object]]) -> int:
    return sum(1 for r in log if r["method"] in MUTATING and not str(r["path"]).endswith((":getIamPolicy", "/wait")))


def measure(server: EmulatorServer, count: int, passes: int) -> tuple[int, int, int, float]:
    """(requests a pass, Apigee requests a pass, writes, median wall s a pass) over ``count`` specs."""
    specs = prepare(server, count)
    failed = [r for r in apply_fleet(specs) if not r.ok]
    if failed:
        raise SystemExit(f"fleet apply failed: {[str(r.error) for r in failed][:3]}")
    watcher = Watcher(specs, heal="safe")
    walls: list[float] = []
    requests: list[int] = []
    apigee: list[int] = []
    writes = 0
    for _ in range(passes):
        before = server.requests()
        seq = int(before[-1]["seq"]) if before else 0
        started = time.perf_counter()
        states = watcher.run_pass()
        walls.append(time.perf_counter() - started)
        log = server.requests(since=seq)
        requests.append(len(log))
        apigee.append(sum(1 for r in log if r["api"] == "apigee"))
        writes += _writes(log)
        not_ok = [s.spec for s in states if not s.ok]
        if not_ok:
            raise SystemExit(f"specs not ready/in sync after apply: {not_ok[:3]}")
    if writes:
        raise SystemExit(f"a pass over unchanged specs wrote {writes} time(s)")
    return max(requests), max(apigee), writes, statistics.median(walls)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--specs", type=int, nargs="+", default=[1, 20, 200])
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1 and 2 specs, one pass (CI smoke)")
    args = parser.parse_args(argv)
    sizes, passes = ([1, 2], 1) if args.quick else (args.specs, args.passes)
    print(f"## One watch pass over unchanged specs, heal=safe (emulator; median wall of {passes} passes)\n")
    print("| specs | requests a pass | a spec | Apigee requests a pass | writes | wall s a pass | requests/min at 5m |")
    print("|---|---|---|---|---|---|---|")
    with EmulatorServer(op_seconds=0) as server:
        os.environ["APIGEE_PSC_EMULATOR_HOST"] = server.host_port
        for count in sizes:
            total, apigee, writes, wall = measure(server, count, passes)
            print(f"| {count} | {total} | {total / count:.1f} | {apigee} | {writes} | {wall:.2f} | {total / 5:.1f} |")


if __name__ == "__main__":
    main()
