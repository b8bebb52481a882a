"""How long ``import apigee_psc`` takes, and what it imports.

Prints the median wall time of N fresh interpreters running ``import apigee_psc`` next to
the same for an empty ``python -c pass`` (the interpreter's own start-up), then the
largest cumulative entries of ``python -X importtime -c "import apigee_psc"``.
Run from anywhere: ``python benchmarks/import_time.py [-n 20] [--top 12] [--module apigee_psc]``.

``--plan`` measures instead what a user waits for: ``apigee-psc plan`` of the seed's spec
against an emulator started here (with the seed's producer), N fresh processes, median wall
time and its ratio to ``python -c pass``, then the largest imports of one such run.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def wall_times(code: str, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
        times.append(time.perf_counter() - start)
    return times


def import_profile(module: str, top: int) -> list[tuple[int, int, str]]:
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    rows: list[tuple[int, int, str]] = []
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        own_us, cumulative_us, name = line.split(":", 1)[1].split("|", 2)
        rows.append((int(cumulative_us), int(own_us), name.strip()))
    return sorted(rows, reverse=True)[:top]


PLAN = "import sys; from apigee_psc.cli import main; sys.argv = ['apigee-psc', 'plan', {spec!r}]; main()"


def plan_times(runs: int, top: int) -> None:
    """``apigee-psc plan`` against an emulator with the seed's producer, in fresh processes."""
    import os

    from apigee_psc.demo import build_producer
    from apigee_psc.emulator import EmulatorServer

    spec = str(ROOT / "examples" / "seed-scenario.yaml")
    with EmulatorServer(orgs=["my-organization"], op_seconds=0.0) as server:
        os.environ["APIGEE_PSC_EMULATOR_HOST"] = server.host_port
        build_producer()
        code = PLAN.format(spec=spec)
        wall_times("pass", 2)
        base = statistics.median(wall_times("pass", runs))
        plan = statistics.median(
            wall_times(f"import contextlib, io\nwith contextlib.redirect_stdout(io.StringIO()):\n    {code}", runs)
        )
        print(f"median of {runs} runs: python -c pass      {base * 1000:8.1f} ms")
        print(f"median of {runs} runs: apigee-psc plan     {plan * 1000:8.1f} ms  ({plan / base:.0f}x)")
        out = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
        )
    rows = []
    for line in out.stderr.splitlines():
        if line.startswith("import time:") and "cumulative" not in line:
            own_us, cumulative_us, name = line.split(":", 1)[1].split("|", 2)
            rows.append((int(cumulative_us), int(own_us), name.strip()))
    print(f"\n-X importtime of one plan, top {top} by cumulative time (us):")
    for cumulative, own, name in sorted(rows, reverse=True)[:top]:
        print(f"{cumulative:9d} {own:9d}  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", "--runs", type=int, default=20)
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--module", default="apigee_psc")
    parser.add_argument("--plan", action="store_true", help="time `apigee-psc plan` against an emulator")
    args = parser.parse_args()
    if args.plan:
        plan_times(args.runs, args.top)
        return

    wall_times("pass", 2)  # warm the file cache
    base = statistics.median(wall_times("pass", args.runs))
    full = statistics.median(wall_times(f"import {args.module}", args.runs))
    print(f"python: {sys.version.split()[0]} ({sys.executable})")
    print(f"median of {args.runs} runs: python -c pass            {base * 1000:7.1f} ms")
    print(f"median of {args.runs} runs: python -c 'import {args.module}' {full * 1000:7.1f} ms")
    print(f"import {args.module} itself: {max(0.0, full - base) * 1000:.1f} ms over the interpreter's start-up")
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys, {args.module}; print(sorted(m for m in ('google.cloud.compute_v1', 'requests', "
            f"'google.auth', 'tenacity', 'yaml', 'click') if m in sys.modules))",
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    ).stdout.strip()
    print(f"heavy modules loaded by it: {loaded}")
    print(f"\n-X importtime, top {args.top} by cumulative time (us):")
    for cumulative, own, name in import_profile(args.module, args.top):
        print(f"{cumulative:9d} {own:9d}  {name}")


if __name__ == "__main__":
    main()
