"""Poll requests and detection lag of polling schedules, on the same seeded completion times.

    python benchmarks/polling.py [--samples 5000] [--seed 11] [--quick]

An operation that completes ``D`` seconds after it started is seen at the first poll at or
after ``D``: the lag is that poll's time minus ``D``, the requests are the polls up to and
including it. Every tool has the answer of the create call in hand (the look at t=0 is not a
request), as in issue 11's table.

Completion times are drawn lognormal with median 91 s, 5th percentile 42 s and 95th
percentile 190 s (sigma from the p5-p95 spread), with a fixed seed. Tables printed:

1. each schedule on those samples (mean requests, mean / p95 / max lag), the worst lag for any
   completion up to 30 minutes, and the mean / max lag of completions uniform in (0, 30] s;
2. the frontier: the least mean lag any deterministic schedule can reach at a given mean
   number of requests, under three sets of guarantees (dynamic programming on a 0.5 s grid);
3. what the adaptive default gains from history (operations of a kind faster than its prior)
   and from ``metadata.progress.percentDone``, run through ``apigee_psc.waiters.wait`` on a
   fake clock.

``--quick`` uses small samples and a coarse grid: for CI, which checks that it runs, not its figures.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import math
import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from apigee_psc import waiters
from apigee_psc.models import Operation
from apigee_psc.waiters import DEFAULT_SCHEDULE, LEAN_SCHEDULE, OPERATION_DONE, Schedule

MEDIAN, P5, P95 = 91.0, 42.0, 190.0
Z95 = 1.6448536269514722
SIGMA = math.log(P95 / P5) / (2 * Z95)
HORIZON = 1800.0

#: The default before issue 11: 20, 30, 40 s, then every 7.5 s to 150 s, then x1.5 to 30 s.
PREVIOUS = Schedule(windows=((0.0, 20.0), (20.0, 10.0), (40.0, 7.5)), grow_after=150.0, multiplier=1.5, maximum=30.0)
#: gcloud's waiter: sleep 1 s before the first poll, then 2 s x1.4 up to 180 s (jitter left out).
GCLOUD = Schedule(windows=((0.0, 1.0), (1.0, 2.0)), grow_after=1.0, multiplier=1.4, maximum=180.0)


@dataclass(frozen=True)
class Tool:
    name: str
    times: Sequence[float]


def tools() -> list[Tool]:
    until = HORIZON * 4
    return [
        Tool("**apigee-psc DEFAULT_SCHEDULE** (adaptive)", DEFAULT_SCHEDULE.poll_times(until)),
        Tool("apigee-psc LEAN_SCHEDULE (adaptive)", LEAN_SCHEDULE.poll_times(until)),
        Tool("apigee-psc before issue 11 (20, 30, 40, 7.5 s ...)", PREVIOUS.poll_times(until)),
        Tool("Terraform / apigeecli: fixed 10 s", Schedule.fixed(10.0).poll_times(until)),
        Tool("google-api-core: 1 s x1.5 to 20 s", Schedule.exponential(1.0, 1.5, 20.0).poll_times(until)),
        Tool("gcloud: 1 s, then 2 s x1.4 to 180 s", GCLOUD.poll_times(until)),
    ]


def samples(count: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.lognormvariate(math.log(MEDIAN), SIGMA) for _ in range(count)]


def detect(times: Sequence[float], done_at: float) -> tuple[int, float]:
    """(requests, lag) for an operation finishing at ``done_at`` (the t=0 look is free)."""
    index = bisect.bisect_left(times, done_at - 1e-9)
    return index, times[index] - done_at


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def on_samples(times: Sequence[float], done: Sequence[float]) -> tuple[float, float, float, float]:
    results = [detect(times, d) for d in done]
    lags = [lag for _, lag in results]
    return statistics.fmean(n for n, _ in results), statistics.fmean(lags), percentile(lags, 0.95), max(lags)


def uniform(times: Sequence[float], low: float, high: float, step: float) -> tuple[float, float]:
    """(mean lag, max lag) for completions spread uniformly over (low, high]."""
    count = round((high - low) / step)
    lags = [detect(times, low + i * step)[1] for i in range(1, count + 1)]
    return statistics.fmean(lags), max(lags)


def worst_lag(times: Sequence[float], until: float) -> float:
    """The largest lag of any completion in (0, until]: the largest gap between polls."""
    return max(b - a for a, b in itertools.pairwise(times) if a < until)


# -- the frontier ------------------------------------------------------------------------------


def _lognormal_cdf(t: float) -> float:
    if t <= 0:
        return 0.0
    return 0.5 * math.erfc(-(math.log(t) - math.log(MEDIAN)) / (SIGMA * math.sqrt(2)))


def optimal_times(lag_cost: float, cap: float, quick: float | None, grid: float) -> list[float]:
    """The deterministic schedule minimising E[requests] + lag_cost * E[lag] on the lognormal,
    polls at most ``cap`` s apart (and ``quick`` s apart before 30 s), by dynamic programming."""
    n = int(HORIZON / grid)
    ts = [i * grid for i in range(n + 1)]
    cdf = [_lognormal_cdf(t) for t in ts]
    first_moment = [0.0]
    for i in range(1, n + 1):
        first_moment.append(first_moment[-1] + (ts[i - 1] + ts[i]) / 2 * (cdf[i] - cdf[i - 1]))
    value = [0.0] * (n + 1)
    following = [n] * (n + 1)
    for i in range(n - 1, -1, -1):
        limit = quick if quick is not None and ts[i] < 30.0 else cap
        best, choice = math.inf, n
        alive = 1.0 - cdf[i]
        for j in range(i + 1, min(n, i + round(limit / grid)) + 1):
            lag = ts[j] * (cdf[j] - cdf[i]) - (first_moment[j] - first_moment[i])
            cost = alive + lag_cost * lag + value[j]
            if cost < best:
                best, choice = cost, j
        value[i], following[i] = best, choice
    times, i = [0.0], 0
    while i < n:
        i = following[i]
        times.append(ts[i])
    while times[-1] < HORIZON * 4:
        times.append(times[-1] + min(cap, 60.0))
    return times


def frontier_lag(requests: float, done: Sequence[float], cap: float, quick: float | None, grid: float) -> str:
    """The least mean lag on ``done`` of the DP-optimal schedules at ``requests`` (bisection on lag_cost)."""
    low, high = 0.05, 50.0
    fewest = on_samples(optimal_times(low, cap, quick, grid), done)[0]
    if fewest > requests:
        return f"unreachable (needs {fewest:.1f})"
    best = math.inf
    for _ in range(18):
        mid = math.sqrt(low * high)
        spent, lag, _, _ = on_samples(optimal_times(mid, cap, quick, grid), done)
        if spent <= requests:
            best = min(best, lag)
            low = mid
        else:
            high = mid
    return f"{best:.2f}"


# -- learning and progress, through waiters.wait on a fake clock ---------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.time = 0.0

    def now(self) -> float:
        return self.time

    def sleep(self, seconds: float) -> None:
        self.time += seconds


def run_wait(
    clock: FakeClock, done_after: float, *, schedule: Schedule = DEFAULT_SCHEDULE, progress: bool = False
) -> tuple[int, float]:
    """Wait (with ``waiters.wait``) on an endpoint attachment create ending ``done_after`` s after it
    started; return (requests, lag)."""
    started = clock.now()
    requests = 0

    def state() -> Operation:
        elapsed = clock.now() - started
        metadata: dict[str, Any] = {
            "operationType": "INSERT",
            "targetResourceName": "organizations/bench/endpointAttachments/x",
        }
        if progress:
            metadata["progress"] = {"percentDone": min(100, int(100 * elapsed / done_after))}
        return Operation(name="organizations/bench/operations/1", done=elapsed >= done_after, metadata=metadata)

    def poll() -> Operation:
        nonlocal requests
        requests += 1
        return state()

    waiters.wait(
        OPERATION_DONE, poll, timeout=HORIZON * 4, first=state(), schedule=schedule, clock=clock.now, sleep=clock.sleep
    )
    return requests, clock.now() - started - done_after


def learning_rows(count: int, seed: int, median: float) -> list[tuple[str, float, float, float]]:
    """Operations of one kind with this median (p95 twice it), where the prior says 91 s."""
    rng = random.Random(seed)
    actual = [rng.lognormvariate(math.log(median), math.log(2.0) / Z95) for _ in range(count)]
    rows = []
    cold = [run_wait(FakeClock(), d) for d in actual]  # a fresh clock: a process that has seen nothing
    shared = FakeClock()
    for d in actual[:8]:
        run_wait(shared, d)  # the process sees 8 of them first ...
    warm = [run_wait(shared, d) for d in actual]  # ... then keeps learning
    for label, results in (("cold (first of its kind)", cold), ("after 8 of its kind in the process", warm)):
        lags = [lag for _, lag in results]
        rows.append((label, statistics.fmean(n for n, _ in results), statistics.fmean(lags), max(lags)))
    return rows


def progress_rows(done: Sequence[float]) -> list[tuple[str, float, float, float]]:
    rows = []
    for label, progress in (("no progress reported", False), ("percentDone grows linearly", True)):
        results = [run_wait(FakeClock(), d, progress=progress) for d in done]
        lags = [lag for _, lag in results]
        rows.append((label, statistics.fmean(n for n, _ in results), statistics.fmean(lags), max(lags)))
    return rows


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()


def main(argv: Sequence[str] | None = None, out: Callable[[str], None] = print) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--quick", action="store_true", help="small samples and a coarse grid (CI smoke)")
    args = parser.parse_args(argv)
    count = 300 if args.quick else args.samples
    grid, step, waits = (2.0, 0.1, 40) if args.quick else (0.5, 0.01, 400)
    done = samples(count, args.seed)

    print(
        f"## {count} completion times, lognormal median {MEDIAN:g} s, p5 {P5:g} s, p95 {P95:g} s "
        f"(sigma {SIGMA:.3f}, seed {args.seed})\n"
    )
    rows = []
    for tool in tools():
        requests, mean_lag, p95_lag, max_lag = on_samples(tool.times, done)
        quick_mean, quick_max = uniform(tool.times, 0.0, 30.0, step)
        rows.append(
            [
                tool.name,
                f"{requests:.1f}",
                f"{mean_lag:.2f}",
                f"{p95_lag:.1f}",
                f"{max_lag:.1f}",
                f"{worst_lag(tool.times, HORIZON):.1f}",
                f"{quick_mean:.1f} / {quick_max:.1f}",
            ]
        )
    table(
        [
            "schedule",
            "requests/wait",
            "mean lag s",
            "p95 lag s",
            "max lag s",
            "max lag, any end <= 30 min",
            "(0, 30] s: mean / max lag",
        ],
        rows,
    )

    print("## Frontier: least mean lag of any deterministic schedule at a given number of requests\n")
    ours = {
        "DEFAULT": on_samples(tools()[0].times, done)[0],
        "LEAN": on_samples(tools()[1].times, done)[0],
    }
    budgets = sorted({10.5, round(ours["LEAN"], 2), round(ours["DEFAULT"], 2)})
    constraints = (
        ("none (first poll near 44 s)", 1e9, None),
        ("polls <= 15 s apart", 15.0, None),
        ("<= 15 s apart, <= 5 s apart in (0, 30] s", 15.0, 5.0),
    )
    frontier_rows = []
    for label, cap, quick in constraints:
        cells = [label]
        for budget in budgets:
            cells.append(frontier_lag(budget, done, cap, quick, grid))
        frontier_rows.append(cells)
    table(["guarantees"] + [f"at {b:g} requests" for b in budgets], frontier_rows)
    print(
        "(DEFAULT_SCHEDULE: "
        f"{ours['DEFAULT']:.2f} requests; LEAN_SCHEDULE: {ours['LEAN']:.2f}; "
        f"DP on a {grid:g} s grid to 30 min, evaluated on the same samples)\n"
    )

    cost = DEFAULT_SCHEDULE.lag_cost if isinstance(DEFAULT_SCHEDULE, waiters.AdaptiveSchedule) else 1.0
    print(
        f"## Learning: {waits} creates of a kind whose median is not the prior's 91 s "
        f"(p95 = 2 x median); objective = requests + {cost:g} x mean lag\n"
    )
    learning = []
    for median in (40.0, 240.0):
        for label, n, lag, worst in learning_rows(waits, args.seed, median):
            learning.append(
                [f"median {median:g} s", label, f"{n:.1f}", f"{lag:.2f}", f"{worst:.1f}", f"{n + cost * lag:.1f}"]
            )
    table(["operations", "process", "requests/wait", "mean lag s", "max lag s", "objective"], learning)
    print(f"## percentDone: {waits} of the samples, DEFAULT_SCHEDULE\n")
    table(
        ["operation metadata", "requests/wait", "mean lag s", "max lag s"],
        [[label, f"{n:.1f}", f"{lag:.2f}", f"{worst:.1f}"] for label, n, lag, worst in progress_rows(done[:waits])],
    )
    print("## Poll times of DEFAULT_SCHEDULE up to 200 s (an endpoint attachment create, cold)\n")
    print(", ".join(f"{t:.1f}" for t in DEFAULT_SCHEDULE.poll_times(200)))


if __name__ == "__main__":
    main()
