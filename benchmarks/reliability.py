"""Reliability figures: seeded fault mixes against the emulator, then counts of what was left.

    python benchmarks/reliability.py            # 40 seeds
    python benchmarks/reliability.py --quick    # 5 seeds
    python benchmarks/reliability.py --write    # 40 seeds, and the figures into RESULTS

``--write`` replaces ``benchmarks/results/reliability.md`` (which docs/reliability.md includes)
with this run's date, machine, rows and totals, so the documented figures are always the output
of the run that produced them.

For each seed: an emulator with the seed's producer, a fault mix (503/429/500 at 10-15 % of
requests per API, connection resets after 10 % of POSTs and DELETEs, every third seed a failed
endpoint-attachment operation), then `apply` run again after each failure (at most 6 runs), a
count of every resource apigee-psc creates (duplicates: more than one of a name; missing:
fewer than the seven of the seed), then `destroy` and a count of what remains (leaks).
Prints one line a seed and the totals.
"""

from __future__ import annotations

import argparse
import datetime
import logging
import os
import platform
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
RESULTS = Path(__file__).resolve().parent / "results" / "reliability.md"
HEADER = f"{'seed':>4} {'runs':>4} {'converged':>9} {'faults':>6} {'dupes':>5} {'missing':>7} {'leaks':>5} {'s':>6}"


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
    parser.add_argument("--write", action="store_true", help=f"also write the figures to {RESULTS}")
    args = parser.parse_args()
    logging.getLogger("apigee_psc").setLevel(logging.ERROR)  # the retries' warnings would drown the table
    seeds = args.seeds or (5 if args.quick else 40)
    totals: Counter[str] = Counter()
    lines = [HEADER]
    print(HEADER)
    started = time.monotonic()
    for seed in range(1, seeds + 1):
        row = one(seed)
        for key in ("runs", "converged", "faults", "duplicates", "missing", "leaks"):
            totals[key] += int(row[key])
        line = (
            f"{seed:>4} {row['runs']:>4} {row['converged']:>9} {row['faults']:>6} {row['duplicates']:>5}"
            f" {row['missing']:>7} {row['leaks']:>5} {row['seconds']:>6.1f}"
        )
        lines.append(line)
        print(line)
    wall = time.monotonic() - started
    total = (
        f"total: {seeds} seeds, {totals['runs']} apply runs, {totals['converged']}/{seeds} converged, "
        f"{totals['faults']} faults injected, {totals['duplicates']} duplicates, {totals['missing']} missing, "
        f"{totals['leaks']} leaks, {wall:.0f} s wall"
    )
    print(total)
    if args.write:
        RESULTS.parent.mkdir(exist_ok=True)
        when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        machine = f"{os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"
        RESULTS.write_text(
            f"<!-- Written by `python benchmarks/reliability.py --write`; do not edit by hand. -->\n"
            f"`python benchmarks/reliability.py --write`, {when} ({machine}; a shared machine):\n\n"
            f"**{total}**\n\n```\n" + "\n".join(lines) + "\n```\n",
            encoding="utf-8",
        )
        print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
