"""How many poll requests, and how much detection lag, each polling schedule costs.

For an operation that completes at time D (seconds after it was started), a schedule
detects it at its first poll at or after D. Lag is that poll's time minus D; requests are
the polls made up to and including it, counting the t=0 look only where the tool really
sends a request there (apigee-psc judges the operation returned by the create call without
a request; Terraform, google-api-core refresh at t=0; gcloud sleeps 1 s first).

Two views: exact, for D = 30, 60, 90, 120, 180 s; and averaged over completion times spread
uniformly in each window (0-30], (30-60], (60-90], (90-120], (120-180] (max and mean lag,
mean requests). google-api-core's real polling applies full jitter to each delay; its
jittered mean is estimated over seeded runs. Run: ``python benchmarks/polling.py``.
"""

from __future__ import annotations

import argparse
import bisect
import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from apigee_psc.waiters import DEFAULT_SCHEDULE, Schedule

DURATIONS = (30.0, 60.0, 90.0, 120.0, 180.0)
HORIZON = 1800.0


@dataclass(frozen=True)
class Tool:
    name: str
    times: Sequence[float]
    zero_is_request: bool


def _shifted(schedule: Schedule, offset: float) -> list[float]:
    return [offset + t for t in schedule.poll_times(HORIZON)]


#: gcloud's waiter: sleep 1 s before the first poll, then 2 s x1.4 up to 180 s (jitter left out).
GCLOUD = Schedule(windows=((0.0, 1.0), (1.0, 2.0)), grow_after=1.0, multiplier=1.4, maximum=180.0)

TOOLS = (
    Tool("apigee-psc DEFAULT_SCHEDULE", DEFAULT_SCHEDULE.poll_times(HORIZON), zero_is_request=False),
    Tool("Terraform / apigeecli: fixed 10 s", Schedule.fixed(10.0).poll_times(HORIZON), zero_is_request=True),
    Tool(
        "google-api-core: 1 s x1.5 to 20 s (no jitter)",
        Schedule.exponential(1.0, 1.5, 20.0).poll_times(HORIZON),
        zero_is_request=True,
    ),
    Tool("gcloud: 1 s, then 2 s x1.4 to 180 s", GCLOUD.poll_times(HORIZON), zero_is_request=False),
)


def detect(times: Sequence[float], zero_is_request: bool, done_at: float) -> tuple[int, float]:
    """(requests, lag) for an operation finishing at ``done_at``."""
    index = bisect.bisect_left(times, done_at - 1e-9)
    polls = index + 1
    requests = polls if zero_is_request or times[0] > 0 else polls - 1
    return requests, times[index] - done_at


def window_stats(
    times: Sequence[float], zero_is_request: bool, low: float, high: float, step: float = 0.01
) -> tuple[float, float, float]:
    """(mean requests, mean lag, max lag) over completion times uniform in (low, high]."""
    count = round((high - low) / step)
    requests = lags = 0.0
    worst = 0.0
    for i in range(1, count + 1):
        n, lag = detect(times, zero_is_request, low + i * step)
        requests += n
        lags += lag
        worst = max(worst, lag)
    return requests / count, lags / count, worst


def api_core_jittered(seed: int, runs: int) -> Callable[[float], tuple[float, float]]:
    """Mean (requests, lag) of google-api-core's real polling (full jitter on each delay)."""
    rng = random.Random(seed)
    samples: list[list[float]] = []
    for _ in range(runs):
        times, delay_cap, now = [0.0], 1.0, 0.0
        while now < HORIZON:
            now += rng.uniform(0.0, delay_cap)
            times.append(now)
            delay_cap = min(delay_cap * 1.5, 20.0)
        samples.append(times)

    def at(done_at: float) -> tuple[float, float]:
        results = [detect(times, True, done_at) for times in samples]
        return statistics.fmean(r[0] for r in results), statistics.fmean(r[1] for r in results)

    return at


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=2000, help="seeded runs for the jittered api-core estimate")
    args = parser.parse_args()

    print("## Exact: operation finishes at D seconds (requests / lag in s)\n")
    header = "| schedule | " + " | ".join(f"D={d:.0f}s" for d in DURATIONS) + " |"
    print(header)
    print("|" + "---|" * (len(DURATIONS) + 1))
    for tool in TOOLS:
        cells = []
        for d in DURATIONS:
            n, lag = detect(tool.times, tool.zero_is_request, d)
            cells.append(f"{n} / {lag:.1f}")
        print(f"| {tool.name} | " + " | ".join(cells) + " |")
    jitter = api_core_jittered(seed=1, runs=args.runs)
    cells = []
    for d in DURATIONS:
        mean_n, mean_lag = jitter(d)
        cells.append(f"{mean_n:.1f} / {mean_lag:.1f}")
    print(f"| google-api-core with full jitter (mean of {args.runs}) | " + " | ".join(cells) + " |")

    print("\n## Completion uniform in each window: mean requests / mean lag / max lag (s)\n")
    windows = list(zip((0.0, *DURATIONS[:-1]), DURATIONS, strict=True))
    print("| schedule | " + " | ".join(f"({lo:.0f}-{hi:.0f}]" for lo, hi in windows) + " |")
    print("|" + "---|" * (len(windows) + 1))
    for tool in TOOLS:
        cells = []
        for lo, hi in windows:
            mean_requests, mean_lag, max_lag = window_stats(tool.times, tool.zero_is_request, lo, hi)
            cells.append(f"{mean_requests:.1f} / {mean_lag:.1f} / {max_lag:.1f}")
        print(f"| {tool.name} | " + " | ".join(cells) + " |")

    print("\n## Poll times of DEFAULT_SCHEDULE up to 200 s\n")
    print(", ".join(f"{t:g}" for t in DEFAULT_SCHEDULE.poll_times(200)))


if __name__ == "__main__":
    main()
