"""Reliability figures: seeded fault mixes against the emulator, then counts of what was left.

    python benchmarks/reliability.py            # 40 seeds
    python benchmarks/reliability.py --quick    # 5 seeds

For each seed: an emulator with the seed's producer, a fault mix (503/429/500 at 10-15 % of
requests per API, connection resets after 10 % of POSTs and DELETEs, every third seed a failed
endpoint-attachment operation), then `apply` run again after each failure (at most 6 runs), a
count of every resource apigee-psc creates (duplicates: more than one of a name; missing:
fewer than the seven of the seed), then `destroy` and a count of what remains (leaks).
Prints one line a seed and the totals.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from apigee_psc import RetryPolicy, errors
from apigee_psc.demo import SEED_SPEC
from apigee_psc.emulator import EmulatorServer, seed_producer
from apigee_psc.southbound import Southbound, SouthboundSpec
from apigee_psc.testing import fault_mix, inventory
from apigee_psc.waiters import Schedule

FAST = Schedule(windows=((0.0, 0.05),), grow_after=1.0, multiplier=1.5, maximum=0.3)
RETRY = RetryPolicy(initial=0.01, maximum=0.1, deadline=20.0, lock_deadline=20.0)
SEED_RESOURCES = 7


def one(seed: int) -> dict[str, int | float]:
    server = EmulatorServer(orgs=["my-organization"], op_seconds=0.05)
    server.start()
    os.environ["APIGEE_PSC_EMULATOR_HOST"] = server.url.split("//", 1)[1].rstrip("/")
    try:
        seed_producer(server)
        baseline = inventory(server)
        spec = SouthboundSpec.from_dict(SEED_SPEC, source="seed.yaml")
        server.set_faults(fault_mix(seed))
        started = time.monotonic()
        runs, ok = 0, False
        while not ok and runs < 6:
            runs += 1
            try:
                ok = Southbound(spec, schedule=FAST, retry=RETRY, timeout=20.0).apply().ok
            except errors.ApigeePscError:
                ok = False
        counts = inventory(server) - baseline
        faults = sum(1 for r in server.requests() if r.get("fault"))
        server.set_faults({"rules": []})
        Southbound(spec, schedule=FAST, retry=RETRY, timeout=20.0).destroy()
        leaks = sum((inventory(server) - baseline).values())
        return {
            "runs": runs,
            "converged": int(ok),
            "faults": faults,
            "duplicates": sum(n - 1 for n in counts.values() if n > 1),
            "missing": SEED_RESOURCES - len(counts),
            "leaks": leaks,
            "seconds": time.monotonic() - started,
        }
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 seeds instead of 40")
    parser.add_argument("--seeds", type=int, default=None)
    args = parser.parse_args()
    logging.getLogger("apigee_psc").setLevel(logging.ERROR)  # the retries' warnings would drown the table
    seeds = args.seeds or (5 if args.quick else 40)
    totals: Counter[str] = Counter()
    print(f"{'seed':>4} {'runs':>4} {'converged':>9} {'faults':>6} {'dupes':>5} {'missing':>7} {'leaks':>5} {'s':>6}")
    for seed in range(1, seeds + 1):
        row = one(seed)
        for key in ("runs", "converged", "faults", "duplicates", "missing", "leaks"):
            totals[key] += int(row[key])
        print(
            f"{seed:>4} {row['runs']:>4} {row['converged']:>9} {row['faults']:>6} {row['duplicates']:>5}"
            f" {row['missing']:>7} {row['leaks']:>5} {row['seconds']:>6.1f}"
        )
    print(
        f"total: {seeds} seeds, {totals['runs']} apply runs, {totals['converged']}/{seeds} converged, "
        f"{totals['faults']} faults injected, {totals['duplicates']} duplicates, {totals['missing']} missing, "
        f"{totals['leaks']} leaks"
    )


if __name__ == "__main__":
    main()
