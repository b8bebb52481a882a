"""Wall time of ``apigee-psc plan`` (a fresh process, against an emulator) next to ``python -c pass``.

    python benchmarks/startup.py [-n 10] [--quick]

An emulator runs in this process with the seed's producer built; each run starts a new
interpreter for ``apigee-psc plan examples/seed-scenario.yaml`` with
``APIGEE_PSC_EMULATOR_HOST`` pointing at it, so the figure is start-up (imports) plus the
plan's requests on loopback. Medians of ``-n`` runs; the ratio is the one of issue 11's table.
For what ``import apigee_psc`` itself loads, see ``benchmarks/import_time.py``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from apigee_psc.demo import build_producer
from apigee_psc.emulator import EMULATOR_ENV, EmulatorServer

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "examples" / "seed-scenario.yaml"


def timed(command: Sequence[str], env: dict[str, str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, check=True, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return times


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", "--runs", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="one run, no warm-up (CI smoke)")
    args = parser.parse_args(argv)
    runs = 1 if args.quick else args.runs

    with EmulatorServer(op_seconds=0) as server:
        env = {**os.environ, EMULATOR_ENV: server.host_port}
        os.environ[EMULATOR_ENV] = server.host_port
        build_producer()
        cli = [sys.executable, "-m", "apigee_psc", "plan", str(SPEC)]
        if not args.quick:
            timed([sys.executable, "-c", "pass"], env, 2)  # warm the file cache
            timed(cli, env, 1)
        bare = statistics.median(timed([sys.executable, "-c", "pass"], env, runs))
        plan = statistics.median(timed(cli, env, runs))
        imported = statistics.median(timed([sys.executable, "-c", "import apigee_psc"], env, runs))
    print(f"## Start-up, median of {runs} runs (python {sys.version.split()[0]})\n")
    print("| command | wall ms | x python -c pass |")
    print("|---|---|---|")
    print(f"| python -c pass | {bare * 1000:.0f} | 1.0 |")
    print(f"| python -c 'import apigee_psc' | {imported * 1000:.0f} | {imported / bare:.2f} |")
    print(f"| apigee-psc plan (seed spec, emulator) | {plan * 1000:.0f} | {plan / bare:.1f} |")


if __name__ == "__main__":
    main()
