"""Poll requests and detection lag of polling schedules, against the frontier, per operation kind.

    python benchmarks/polling.py [--samples 5000] [--seed 11] [--quick] [--fit]

An operation that completes ``D`` seconds after it started is seen at the first poll at or
after ``D``: the lag is that poll's time minus ``D``, the requests are the polls up to and
including it. Every tool has the answer of the create call in hand (the look at t=0 is not a
request), as in issue 11's table.

Durations per operation kind are lognormal (``KINDS``): the endpoint attachment create is
issue 11's measurement (median 91 s, p5 42 s, p95 190 s); the other kinds are assumptions
(deletes: median 120 s, p95 15 min; DNS zones: median 60 s / p95 180 s to create, 45 s /
150 s to delete). Tables printed:

1. tools on 5,000 seeded create durations (mean requests, mean / p95 / max lag), the worst
   lag for any completion up to 30 minutes, and the mean / max lag of completions uniform in
   (0, 30] s;
2. per kind, each declared schedule of ``apigee_psc.waiters.SCHEDULES`` (the default) and
   ``LEAN_SCHEDULES`` next to the frontier under the same guarantees: the least expected lag
   any schedule can reach at the same expected number of requests (dynamic programming over
   poll times on a grid, minimising ``requests + c * lag`` and interpolating between values of
   ``c``, which is a lower bound). Expectations are exact under the kind's lognormal, so no
   sample is fitted;
3. the frontier computed *on* the 5,000 samples instead (what a dynamic program over the
   same samples finds) and what that schedule does on 50,000 fresh samples: the part of its
   gain that is fitted noise;
4. the "unless" question of issue 22: a learned prior (the rule of the adaptive schedule
   this library had: hazard-shaped intervals under a prior per kind updated with the
   durations the process has seen per organization and kind) against the best fixed
   schedule per kind, on a realistic mix (four kinds, two organizations whose durations
   differ, waits one after another in a process that restarts and forgets what it learned),
   compared at equal requests.

``--fit`` prints the windows that the declared schedules were made from (the frontier's
schedule at the chosen ``c``, gaps rounded to whole seconds). ``--quick`` uses small samples
and a coarse grid: for CI, which checks that it runs, not its figures.
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

from apigee_psc.waiters import LEAN_SCHEDULES, SCHEDULES, Schedule

Z95 = 1.6448536269514722
HORIZON = 1800.0  # polls at most CAP apart up to here, then x1.5 up to 60 s
CAP, QUICK, QUICK_UNTIL = 15.0, 5.0, 30.0
#: The lag cost ``c`` (requests one second of mean lag is worth) the declared schedules were made at.
DEFAULT_COST, LEAN_COST = 3.5, 2.1


@dataclass(frozen=True)
class Kind:
    name: str
    median: float
    sigma: float

    def cdf(self, t: float) -> float:
        if t <= 0:
            return 0.0
        return 0.5 * math.erfc(-(math.log(t / self.median)) / (self.sigma * math.sqrt(2)))

    def partial_mean(self, t: float) -> float:
        """E[D; D <= t]."""
        if t <= 0:
            return 0.0
        z = (math.log(t / self.median) - self.sigma**2) / self.sigma
        return self.median * math.exp(self.sigma**2 / 2) * 0.5 * math.erfc(-z / math.sqrt(2))

    def scaled(self, factor: float, sigma: float) -> Kind:
        return Kind(self.name, self.median * factor, sigma)


KINDS = (
    Kind("endpointAttachments.INSERT", 91.0, math.log(190.0 / 42.0) / (2 * Z95)),
    Kind("endpointAttachments.DELETE", 120.0, math.log(900.0 / 120.0) / Z95),
    Kind("dnsZones.INSERT", 60.0, math.log(180.0 / 60.0) / Z95),
    Kind("dnsZones.DELETE", 45.0, math.log(150.0 / 45.0) / Z95),
)
CREATE = KINDS[0]

#: The default before issue 11: 20, 30, 40 s, then every 7.5 s to 150 s, then x1.5 to 30 s.
PREVIOUS = Schedule(windows=((0.0, 20.0), (20.0, 10.0), (40.0, 7.5)), grow_after=150.0, multiplier=1.5, maximum=30.0)
#: gcloud's waiter: sleep 1 s before the first poll, then 2 s x1.4 up to 180 s (jitter left out).
GCLOUD = Schedule(windows=((0.0, 1.0), (1.0, 2.0)), grow_after=1.0, multiplier=1.4, maximum=180.0)
UNTIL = HORIZON * 8


@dataclass(frozen=True)
class Tool:
    name: str
    times: Sequence[float]


def tools() -> list[Tool]:
    create = CREATE.name
    return [
        Tool("**apigee-psc default** (declared, per kind)", SCHEDULES[create].poll_times(UNTIL)),
        Tool("apigee-psc lean (declared, per kind)", LEAN_SCHEDULES[create].poll_times(UNTIL)),
        Tool("apigee-psc before issue 11 (20, 30, 40, 7.5 s ...)", PREVIOUS.poll_times(UNTIL)),
        Tool("Terraform / apigeecli: fixed 10 s", Schedule.fixed(10.0).poll_times(UNTIL)),
        Tool("google-api-core: 1 s x1.5 to 20 s", Schedule.exponential(1.0, 1.5, 20.0).poll_times(UNTIL)),
        Tool("gcloud: 1 s, then 2 s x1.4 to 180 s", GCLOUD.poll_times(UNTIL)),
    ]


def samples(kind: Kind, count: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.lognormvariate(math.log(kind.median), kind.sigma) for _ in range(count)]


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


def expected(times: Sequence[float], kinds: Sequence[Kind]) -> tuple[float, float]:
    """Exact (E[requests], E[lag]) of poll times under an equal mixture of lognormals."""
    requests = lag = 0.0
    for kind in kinds:
        for before, at in itertools.pairwise(times):
            alive = 1.0 - kind.cdf(before)
            if alive < 1e-12:
                break
            requests += alive
            lag += at * (kind.cdf(at) - kind.cdf(before)) - (kind.partial_mean(at) - kind.partial_mean(before))
    return requests / len(kinds), lag / len(kinds)


def uniform(times: Sequence[float], low: float, high: float, step: float) -> tuple[float, float]:
    """(mean lag, max lag) for completions spread uniformly over (low, high]."""
    count = round((high - low) / step)
    lags = [detect(times, low + i * step)[1] for i in range(1, count + 1)]
    return statistics.fmean(lags), max(lags)


def worst_lag(times: Sequence[float], until: float) -> float:
    """The largest lag of any completion in (0, until]: the largest gap between polls."""
    return max(b - a for a, b in itertools.pairwise(times) if a < until)


# -- the frontier ------------------------------------------------------------------------------


def tail(last_gap: float = CAP) -> list[float]:
    """Poll times from HORIZON on, as every declared schedule has them (x1.5 up to 60 s)."""
    times, gap = [HORIZON], last_gap
    while times[-1] < UNTIL:
        gap = min(60.0, max(gap * 1.5, CAP))
        times.append(times[-1] + gap)
    return times


def optimal(
    points: Sequence[float], cdf: Sequence[float], mean: Sequence[float], lag_cost: float, quick: float | None
) -> list[float]:
    """The poll times among ``points`` (0 first, HORIZON last) minimising E[requests] + lag_cost
    * E[lag], polls at most CAP apart (``quick`` apart before 30 s), by dynamic programming;
    ``cdf[k]`` = P(D <= points[k]), ``mean[k]`` = E[D; D <= points[k]]."""
    n = len(points) - 1
    reach = [
        bisect.bisect_right(points, p + (quick if quick is not None and p < QUICK_UNTIL else CAP) + 1e-9) - 1
        for p in points
    ]
    value = [0.0] * (n + 1)
    following = [n] * (n + 1)
    for i in range(n - 1, -1, -1):
        alive, below, partial = 1.0 - cdf[i], cdf[i], mean[i]
        best, choice = math.inf, n
        for j in range(i + 1, reach[i] + 1):
            cost = alive + lag_cost * (points[j] * (cdf[j] - below) - (mean[j] - partial)) + value[j]
            if cost < best:
                best, choice = cost, j
        value[i], following[i] = best, choice
    times, i = [0.0], 0
    while i < n:
        i = following[i]
        times.append(points[i])
    return times[:-1] + tail()


def grid_of(
    kinds: Sequence[Kind], grid: float, weights: Sequence[float] | None = None
) -> tuple[list[float], list[float], list[float]]:
    """Grid points to HORIZON with the cdf and partial mean of a mixture of ``kinds`` (equal
    weights unless given)."""
    share = [w / sum(weights) for w in weights] if weights else [1 / len(kinds)] * len(kinds)
    points = [k * grid for k in range(round(HORIZON / grid) + 1)]
    cdf = [sum(w * kind.cdf(t) for w, kind in zip(share, kinds, strict=True)) for t in points]
    mean = [sum(w * kind.partial_mean(t) for w, kind in zip(share, kinds, strict=True)) for t in points]
    return points, cdf, mean


#: Operations now and then take far longer than their kind's bulk (deletes have been seen at two
#: hours): the declared schedules are made for each kind's lognormal with this share of its
#: mass moved to a slow tail (median 10 min, 95% within an hour), so that past the bulk the
#: gaps relax to 15 s instead of staying dense for half an hour.
SLOW_SHARE = 0.02
SLOW = Kind("slow", 600.0, math.log(3600.0 / 600.0) / Z95)


def design(kind: Kind, grid: float) -> tuple[list[float], list[float], list[float]]:
    """The grid of the distribution a declared schedule is made for: the kind's, with a slow tail."""
    return grid_of((kind, SLOW), grid, (1.0 - SLOW_SHARE, SLOW_SHARE))


def on_the_samples(done: Sequence[float], grid: float) -> tuple[list[float], list[float], list[float]]:
    """Candidate poll times (the grid and every sample) with the samples' own distribution."""
    ordered = sorted(done)
    prefix = [0.0, *itertools.accumulate(ordered)]
    points = sorted({*(k * grid for k in range(round(HORIZON / grid) + 1)), *(d for d in ordered if d < HORIZON)})
    counts = [bisect.bisect_right(ordered, p + 1e-9) for p in points]
    return points, [c / len(ordered) for c in counts], [prefix[c] / len(ordered) for c in counts]


def hull(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The lower convex hull of (requests, lag) points, lag falling as requests grow."""
    out: list[tuple[float, float]] = []
    for p in sorted(set(points)):
        while len(out) >= 2:
            (x1, y1), (x2, y2) = out[-2], out[-1]
            if (x2 - x1) * (p[1] - y1) - (y2 - y1) * (p[0] - x1) > 0:
                break
            out.pop()
        out.append(p)
    falling: list[tuple[float, float]] = []
    for p in out:
        if not falling or p[1] < falling[-1][1]:
            falling.append(p)
    return falling


def lag_at(curve: Sequence[tuple[float, float]], requests: float) -> float | None:
    """The frontier's lag at ``requests`` (``None`` below its fewest requests)."""
    if requests < curve[0][0] - 1e-9:
        return None
    for (x1, y1), (x2, y2) in itertools.pairwise(curve):
        if x1 <= requests <= x2:
            return y1 + (y2 - y1) * (requests - x1) / (x2 - x1)
    return curve[-1][1]


def sparsest(quick: float | None) -> Schedule:
    """The schedule with the fewest requests the guarantees allow: each poll as late as they let it be."""
    windows = ((0.0, quick), (QUICK_UNTIL, CAP)) if quick else ((0.0, CAP),)
    return Schedule(windows=windows, grow_after=HORIZON, multiplier=1.5, maximum=60.0)


def costs(quick: bool) -> list[float]:
    return [0.5 * 1.25**k for k in range(0, 20, 2 if quick else 1)]


def frontier(
    evaluate: Callable[[list[float]], tuple[float, float]],
    table: tuple[list[float], list[float], list[float]],
    quick_window: float | None,
    lag_costs: Sequence[float],
) -> list[tuple[float, float]]:
    points, cdf, mean = table
    return hull([evaluate(optimal(points, cdf, mean, c, quick_window)) for c in lag_costs])


def windows_of(times: Sequence[float]) -> tuple[tuple[float, float], ...]:
    """Windows ``(start, interval)`` of poll times up to HORIZON, gaps rounded to whole seconds."""
    windows: list[tuple[float, float]] = []
    start = 0.0
    for before, at in itertools.pairwise(times):
        if at >= HORIZON:  # the gap that lands on HORIZON: grow_after places that poll
            break
        gap = max(1.0, float(round(at - before)))
        if not windows or windows[-1][1] != gap:
            windows.append((start, gap))
        start += gap
    return tuple(windows)


# -- the "unless" question: a learned prior against the best fixed schedule per kind ---------------

SQRT2 = math.sqrt(2.0)
Belief = tuple[tuple[float, float, float], ...]  # (weight, median, sigma) lognormal components


def survival(belief: Belief, t: float) -> float:
    if t <= 0:
        return 1.0
    log_t = math.log(t)
    total = sum(w * 0.5 * math.erfc((log_t - math.log(m)) / (s * SQRT2)) for w, m, s in belief)
    return total / sum(w for w, _, _ in belief)


def learned_interval(belief: Belief, t: float, lag_cost: float, quick_until: float, previous: float | None) -> float:
    """The removed AdaptiveSchedule's rule: the interval ``d`` with
    ``d * P(end in (t, t+d] | running at t) = 2 / lag_cost``, within the same guarantees."""
    if t >= HORIZON:
        return min(60.0, max((previous or CAP) * 1.5, CAP))
    cap = min(QUICK if t < quick_until else CAP, HORIZON - t)
    alive = survival(belief, t)
    target = 2.0 / lag_cost
    if alive <= 1e-12:
        return cap

    def score(d: float) -> float:
        return d * (1.0 - survival(belief, t + d) / alive)

    low = min(1.0, cap)
    if score(cap) <= target:
        return cap
    if score(low) >= target:
        return low
    high = cap
    for _ in range(40):
        mid = (low + high) / 2
        if score(mid) < target:
            low = mid
        else:
            high = mid
    return high


def learned(prior: Belief, durations: Sequence[float]) -> Belief:
    """The prior (weighing as two observations) plus a lognormal of spread 0.25 per duration seen."""
    if not durations:
        return prior
    weights = sum(w for w, _, _ in prior)
    return tuple((2.0 * w / weights, m, s) for w, m, s in prior) + tuple((1.0, max(d, 0.5), 0.25) for d in durations)


def learned_wait(belief: Belief, done_at: float, lag_cost: float, quick_until: float) -> tuple[int, float, float]:
    """(requests, lag, the duration it records: the midpoint of the last two polls)."""
    t, interval, requests = 0.0, None, 0
    while True:
        interval = learned_interval(belief, t, lag_cost, quick_until, interval)
        before, t = t, t + interval
        requests += 1
        if t >= done_at - 1e-9:
            return requests, t - done_at, (before + t) / 2


@dataclass(frozen=True)
class Wait:
    session: int
    organization: int
    kind: int
    done_at: float


def organizations(kind: Kind, spread: float) -> tuple[Kind, Kind]:
    """Two organizations whose medians are the kind's / and x ``spread``, their own spread
    narrower so that together they have the kind's."""
    a = math.log(spread)
    sigma = math.sqrt(max(kind.sigma**2 - a**2, 0.01))
    return kind.scaled(1 / spread, sigma), kind.scaled(spread, sigma)


def mix(spread: float, per_session: int, replicates: int, seed: int) -> list[Wait]:
    """Two processes (sessions) one after the other, each waiting ``per_session`` times on each
    kind in each of two organizations, in shuffled order, one wait after another."""
    rng = random.Random(seed)
    waits = []
    for replicate in range(replicates):
        for session in (2 * replicate, 2 * replicate + 1):
            slots = [(o, k) for o in (0, 1) for k in range(len(KINDS)) for _ in range(per_session)]
            rng.shuffle(slots)
            for o, k in slots:
                org = organizations(KINDS[k], spread)[o]
                waits.append(Wait(session, o, k, rng.lognormvariate(math.log(org.median), org.sigma)))
    return waits


def run_learner(waits: Sequence[Wait], lag_cost: float, quick_until: float) -> tuple[float, float]:
    requests, lags = [], []
    history: dict[tuple[int, int], list[float]] = {}
    session = -1
    for w in waits:
        if w.session != session:
            history, session = {}, w.session  # a restart: the process forgets what it learned
        kind = KINDS[w.kind]
        seen = history.setdefault((w.organization, w.kind), [])
        n, lag, took = learned_wait(
            learned(((1.0, kind.median, kind.sigma),), seen[-32:]), w.done_at, lag_cost, quick_until
        )
        seen.append(took)
        requests.append(n)
        lags.append(lag)
    return statistics.fmean(requests), statistics.fmean(lags)


def run_fixed(waits: Sequence[Wait], schedules: Sequence[Sequence[float]]) -> tuple[float, float]:
    results = [detect(schedules[w.kind], w.done_at) for w in waits]
    return statistics.fmean(n for n, _ in results), statistics.fmean(lag for _, lag in results)


def fixed_per_kind(
    spread: float, grid: float, quick: float | None, lag_costs: Sequence[float]
) -> list[list[list[float]]]:
    """For each lag cost, the frontier's schedule of each kind for its pooled distribution (both
    organizations): the best fixed schedules per kind at a common lag cost."""
    tables = [grid_of(organizations(kind, spread), grid) for kind in KINDS]
    return [[optimal(p, cdf, mean, c, quick) for p, cdf, mean in tables] for c in lag_costs]


# -- output --------------------------------------------------------------------------------------


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()


def fmt(value: float | None, digits: int = 2) -> str:
    return "unreachable" if value is None else f"{value:.{digits}f}"


def fit(grid: float) -> None:
    for label, quick, cost in (("SCHEDULES", QUICK, DEFAULT_COST), ("LEAN_SCHEDULES", None, LEAN_COST)):
        print(f"{label} (c = {cost:g}):")
        for kind in KINDS:
            points, cdf, mean = design(kind, grid)
            print(f"    {kind.name!r}: {windows_of(optimal(points, cdf, mean, cost, quick))},")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--quick", action="store_true", help="small samples and a coarse grid (CI smoke)")
    parser.add_argument("--fit", action="store_true", help="print the windows the declared schedules come from")
    args = parser.parse_args(argv)
    count = 300 if args.quick else args.samples
    grid, step = (1.0, 0.1) if args.quick else (0.5, 0.01)
    lag_costs = costs(args.quick)
    if args.fit:
        fit(grid)
        return
    done = samples(CREATE, count, args.seed)

    print(
        f"## {count} create durations, lognormal median {CREATE.median:g} s, p5 42 s, p95 190 s "
        f"(sigma {CREATE.sigma:.3f}, seed {args.seed})\n"
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

    print("## Frontier per kind: declared schedules against the least expected lag at their expected requests\n")
    frontier_rows = []
    for label, declared, quick in (("default", SCHEDULES, QUICK), ("lean", LEAN_SCHEDULES, None)):
        for kind in KINDS:
            schedule = declared[kind.name]
            requests, lag = expected(schedule.poll_times(UNTIL), (kind,))
            curve = frontier(lambda times, k=kind: expected(times, (k,)), grid_of((kind,), grid), quick, lag_costs)
            bound = lag_at(curve, requests)
            over = "-" if bound is None else f"{100 * (lag / bound - 1):+.1f}%"
            frontier_rows.append(
                [
                    label,
                    kind.name,
                    f"{kind.median:g} s",
                    f"{requests:.2f}",
                    f"{lag:.2f}",
                    fmt(bound),
                    over,
                    f"{expected(sparsest(quick).poll_times(UNTIL), (kind,))[0]:.1f}",
                ]
            )
    table(
        [
            "schedules",
            "kind",
            "median",
            "requests/wait",
            "mean lag s",
            "frontier's lag s",
            "above the frontier",
            "fewest requests under the guarantees",
        ],
        frontier_rows,
    )
    print(
        f"(guarantees: default, polls <= {CAP:g} s apart and <= {QUICK:g} s apart in (0, {QUICK_UNTIL:g}] s; "
        f"lean, <= {CAP:g} s apart; both to 30 min, then x1.5 up to 60 s. Dynamic programming on a {grid:g} s "
        f"grid, {len(lag_costs)} lag costs; expectations exact under each kind's lognormal)\n"
    )

    print(f"## Frontier on the {count} create samples themselves, and on {10 * count} fresh samples\n")
    fresh = samples(CREATE, 10 * count, args.seed + 1)
    fitted_rows = []
    for label, declared, quick in (("default", SCHEDULES, QUICK), ("lean", LEAN_SCHEDULES, None)):
        mine = declared[CREATE.name].poll_times(UNTIL)
        requests, lag = on_samples(mine, done)[:2]
        points, cdf, mean = on_the_samples(done, grid)
        in_sample = {c: optimal(points, cdf, mean, c, quick) for c in lag_costs}
        measured = {c: on_samples(times, done)[:2] for c, times in in_sample.items()}
        curve = hull(list(measured.values()))
        closest = min(lag_costs, key=lambda c: abs(measured[c][0] - requests))
        fitted_requests, fitted_lag = measured[closest]
        fresh_requests, fresh_lag = on_samples(in_sample[closest], fresh)[:2]
        ours_fresh = on_samples(mine, fresh)[:2]
        fitted_rows.append(
            [
                label,
                f"{requests:.2f} / {lag:.2f}",
                fmt(lag_at(curve, requests)),
                f"{fitted_requests:.2f} / {fitted_lag:.2f}",
                f"{fresh_requests:.2f} / {fresh_lag:.2f}",
                f"{ours_fresh[0]:.2f} / {ours_fresh[1]:.2f}",
            ]
        )
    table(
        [
            "schedules",
            "declared, on the samples: requests / lag",
            "frontier on the samples at those requests",
            "a schedule fitted to the samples",
            "the fitted one on fresh samples",
            "declared on fresh samples",
        ],
        fitted_rows,
    )

    spreads = (1.25, 1.5)
    sessions = (1, 32) if args.quick else (1, 8, 32)
    total = 64 if args.quick else 2560
    print(
        '## A learned prior against the best fixed schedule per kind (issue 22\'s "unless")\n\n'
        f"{total} waits per row: two processes in turn (the second starts with nothing learned), each waiting "
        "one after another on the four kinds in two organizations (the first's durations / spread, the "
        "second's x spread); the learned prior starts from the kind's distribution and learns per "
        "organization and kind; the fixed schedules are the frontier's for each kind's pooled distribution "
        "at a common lag cost (interpolated to the learner's requests).\n"
    )
    mix_rows = []
    mix_costs = [c for c in lag_costs if 1.0 <= c <= 8.0]
    for spread in spreads:
        best = {quick: fixed_per_kind(spread, grid, quick, mix_costs) for quick in (QUICK, None)}
        for per_session in sessions:
            waits = mix(spread, per_session, max(1, total // (2 * 2 * len(KINDS) * per_session)), args.seed)
            for label, declared, quick, cost in (
                ("default", SCHEDULES, QUICK, DEFAULT_COST),
                ("lean", LEAN_SCHEDULES, None, LEAN_COST),
            ):
                learner = run_learner(waits, cost, QUICK_UNTIL if quick else 0.0)
                bound = lag_at(hull([run_fixed(waits, schedules) for schedules in best[quick]]), learner[0])
                ours = run_fixed(waits, [declared[kind.name].poll_times(UNTIL) for kind in KINDS])
                gain = "-" if bound is None else f"{100 * (1 - learner[1] / bound):+.1f}%"
                mix_rows.append(
                    [
                        f"x{spread:g}",
                        str(per_session),
                        label,
                        f"{learner[0]:.2f} / {learner[1]:.2f}",
                        fmt(bound),
                        gain,
                        f"{ours[0]:.2f} / {ours[1]:.2f}",
                    ]
                )
    table(
        [
            "organizations' spread",
            "waits per process, organization and kind",
            "guarantees",
            "learned prior: requests / lag s",
            "best fixed per kind at equal requests: lag s",
            "learned prior's gain in lag",
            "declared schedules: requests / lag s",
        ],
        mix_rows,
    )


if __name__ == "__main__":
    main()
