"""Declarative waits, run by one :func:`wait` built on tenacity.

A wait is data (the botocore idea): a :class:`Waiter` names what is awaited and lists
:class:`Acceptor` s, each mapping a polled value (by its attributes) or a polling error
(by its class) to ``success``, ``failure`` or ``retry``. The first acceptor that matches
decides; a value no acceptor matches is polled again.

Two layers are kept apart (the google-api-core idea): *polling* is "not done yet, ask again
later", decided here by the acceptors on the :class:`Schedule`; *retrying* a poll request
that failed (429, 5xx, resets) happens below, in the transport, with its own backoff and
deadline. A polling error that no acceptor names is raised as it is.

The default is an :class:`AdaptiveSchedule`: every 5 s for the first 30 s, then intervals
shaped by the hazard rate of the operation's expected duration (``~ 1/sqrt(hazard)``, at most
15 s apart up to 30 minutes), with a prior per operation kind read from the operation's
metadata, updated with the durations this process has seen in the same organization and with
``percentDone`` when it moves (docs/waiting.md derives it). ``clock`` and ``sleep`` are
injectable, so tests take no time.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

import tenacity

from apigee_psc import errors

__all__ = [
    "ATTACHMENT_DELETED",
    "ATTACHMENT_READY",
    "COMPUTE_OPERATION_DONE",
    "DEFAULT_SCHEDULE",
    "DNS_ZONE_ACTIVE",
    "DNS_ZONE_DELETED",
    "FAST_SCHEDULE",
    "LEAN_SCHEDULE",
    "OPERATION_DONE",
    "PRIORS",
    "WAITERS",
    "Acceptor",
    "AdaptiveSchedule",
    "DurationHistory",
    "DurationPrior",
    "PollPlan",
    "Schedule",
    "WaitProgress",
    "Waiter",
    "history_for",
    "operation_kind",
    "wait",
]

logger = logging.getLogger("apigee_psc.waiters")

T = TypeVar("T")
Outcome = Literal["success", "failure", "retry"]
_MISSING: Any = object()


@dataclass(frozen=True)
class Acceptor:
    """One rule of a waiter.

    Matches a polled value when every ``when`` attribute has one of the listed values
    (``{"state": ("ACTIVE",), "connection_state": ("ACCEPTED",)}``), or a polling error
    when it is an instance of ``error``. ``within`` limits an acceptor to the first
    ``within`` seconds of the wait (a 404 right after create is tolerated only briefly).
    """

    outcome: Outcome
    when: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    error: type[BaseException] | None = None
    within: float | None = None

    def __post_init__(self) -> None:
        if self.error is None and not self.when:
            raise ValueError("an acceptor matches on 'when' attributes or on an 'error' class")
        if self.error is not None and self.when:
            raise ValueError("an acceptor matches on 'when' or on 'error', not both")

    def matches(self, value: Any, error: BaseException | None, elapsed: float) -> bool:
        """True if this acceptor applies to ``value`` (or ``error``) at ``elapsed`` seconds."""
        if self.within is not None and elapsed > self.within:
            return False
        if error is not None:
            return self.error is not None and isinstance(error, self.error)
        if self.error is not None:
            return False
        return all(_attr(value, name) in allowed for name, allowed in self.when.items())


def _attr(value: Any, name: str) -> Any:
    if isinstance(value, Mapping):
        return value.get(name)
    return getattr(value, name, None)


@dataclass(frozen=True)
class Waiter:
    """A declared wait: its name, what it awaits, its acceptors and the attributes that
    describe a polled value's state (for progress and timeouts)."""

    name: str
    awaits: str
    acceptors: tuple[Acceptor, ...]
    state_fields: tuple[str, ...] = ("state",)

    def evaluate(self, value: Any, error: BaseException | None, elapsed: float) -> Outcome | None:
        """The outcome of the first matching acceptor, or ``None`` if none matches."""
        for acceptor in self.acceptors:
            if acceptor.matches(value, error, elapsed):
                return acceptor.outcome
        return None

    def describe(self, value: Any, error: BaseException | None = None) -> str:
        """A short text of a polled value's state, e.g. ``ACTIVE/PENDING``."""
        if error is not None:
            return type(error).__name__
        parts = [str(_attr(value, name)) for name in self.state_fields if _attr(value, name) is not None]
        return "/".join(parts) if parts else "unknown"


@dataclass(frozen=True)
class Schedule:
    """When to poll, as windows of ``(start_seconds, interval_seconds)``.

    Within a window, polls come every ``interval`` seconds; a poll never skips the start of
    the next window. After ``grow_after`` seconds the interval grows by ``multiplier`` up to
    ``maximum``. The first poll is at 0 s.
    """

    windows: tuple[tuple[float, float], ...]
    grow_after: float
    multiplier: float = 1.5
    maximum: float = 30.0

    def __post_init__(self) -> None:
        starts = [start for start, _ in self.windows]
        if not self.windows or starts[0] != 0 or starts != sorted(starts):
            raise ValueError("windows must start at 0 and be in order")
        if any(interval <= 0 for _, interval in self.windows) or self.multiplier < 1:
            raise ValueError("intervals must be positive and the multiplier at least 1")

    def next_poll(self, elapsed: float, previous_interval: float | None = None) -> float:
        """Seconds to wait after a poll made at ``elapsed`` seconds."""
        if elapsed >= self.grow_after:
            base = previous_interval or self.windows[-1][1]
            return min(self.maximum, max(base * self.multiplier, self.windows[-1][1]))
        current = self.windows[0]
        following: float | None = None
        for index, window in enumerate(self.windows):
            if window[0] <= elapsed:
                current = window
                following = self.windows[index + 1][0] if index + 1 < len(self.windows) else None
        target = elapsed + current[1]
        if following is not None and target > following:
            target = following
        target = min(target, self.grow_after)
        return max(target - elapsed, 0.0)

    def poll_times(self, until: float) -> list[float]:
        """Every poll time from 0 up to ``until`` (for documentation and benchmarks)."""
        times = [0.0]
        interval: float | None = None
        while times[-1] < until:
            delay = self.next_poll(times[-1], interval)
            interval = delay
            times.append(round(times[-1] + delay, 6))
        return times

    @classmethod
    def fixed(cls, interval: float) -> Schedule:
        """Poll every ``interval`` seconds (Terraform and apigeecli poll every 10 s)."""
        return cls(windows=((0.0, interval),), grow_after=float("inf"), multiplier=1.0, maximum=interval)

    @classmethod
    def exponential(cls, initial: float, multiplier: float, maximum: float) -> Schedule:
        """Poll after ``initial`` s, growing by ``multiplier`` to ``maximum`` (google-api-core)."""
        return cls(windows=((0.0, initial),), grow_after=initial, multiplier=multiplier, maximum=maximum)

    def begin(self, *, waiter: str = "", subject: str = "", clock: Callable[[], float] = time.monotonic) -> PollPlan:
        """A fresh plan for one wait (a fixed schedule ignores what it is told)."""
        return PollPlan(self)


class PollPlan:
    """The poll-by-poll plan of one wait: told what each poll saw, asked how long to sleep.

    This one follows a fixed :class:`Schedule`; :class:`AdaptiveSchedule` returns a plan that
    also learns from the polled values.
    """

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule
        self.previous_interval: float | None = None

    def observe(self, value: Any, elapsed: float) -> None:
        """Called after each poll that returned a value, at ``elapsed`` seconds."""

    def delay(self, elapsed: float) -> float:
        """Seconds to sleep after the poll made at ``elapsed`` seconds."""
        interval = self.schedule.next_poll(elapsed, self.previous_interval)
        self.previous_interval = interval
        return interval

    def succeeded(self, elapsed: float) -> None:
        """Called once when the wait ends in success at ``elapsed`` seconds."""


_Z95 = 1.6448536269514722
_SQRT2 = math.sqrt(2.0)


@dataclass(frozen=True)
class DurationPrior:
    """A belief about how long an operation takes: a mixture of lognormals.

    ``components`` are ``(weight, median_seconds, sigma)``; :meth:`survival` is the chance
    the operation is still running after ``t`` seconds.
    """

    components: tuple[tuple[float, float, float], ...]

    def __post_init__(self) -> None:
        if not self.components or any(w <= 0 or m <= 0 or s <= 0 for w, m, s in self.components):
            raise ValueError("a prior needs components with positive weight, median and sigma")

    @classmethod
    def lognormal(cls, median: float, p95: float) -> DurationPrior:
        """A lognormal with this median and 95th percentile (seconds)."""
        if not 0 < median < p95:
            raise ValueError("a lognormal prior needs 0 < median < p95")
        return cls(((1.0, median, math.log(p95 / median) / _Z95),))

    def survival(self, t: float) -> float:
        """P(duration > t)."""
        if t <= 0:
            return 1.0
        log_t = math.log(t)
        total = weights = 0.0
        for weight, median, sigma in self.components:
            total += weight * 0.5 * math.erfc((log_t - math.log(median)) / (sigma * _SQRT2))
            weights += weight
        return total / weights

    def quantile(self, p: float) -> float:
        """The duration ``t`` with P(duration <= t) = ``p`` (bisection; for reports and tests)."""
        low, high = 1e-3, 1e6
        for _ in range(80):
            mid = math.sqrt(low * high)
            if 1.0 - self.survival(mid) < p:
                low = mid
            else:
                high = mid
        return math.sqrt(low * high)

    def updated(self, durations: Sequence[float], *, prior_weight: float = 2.0, spread: float = 0.25) -> DurationPrior:
        """This prior after seeing ``durations``: each observation adds a narrow lognormal
        (``spread``) around itself, and the prior keeps the weight of ``prior_weight`` observations."""
        if not durations:
            return self
        weights = sum(w for w, _, _ in self.components)
        kept = tuple((prior_weight * w / weights, m, s) for w, m, s in self.components)
        seen = tuple((1.0, max(d, _SHORTEST), spread) for d in durations)
        return DurationPrior(kept + seen)


_SHORTEST = 0.5


class DurationHistory:
    """How long operations took, as seen by this process, by ``(organization, kind)``.

    Bounded (the newest ``per_key`` durations of at most ``keys`` keys, least recently used
    dropped first) and thread-safe: specs of a fleet, applied in threads, share it.
    """

    def __init__(self, *, per_key: int = 32, keys: int = 256) -> None:
        self.per_key = per_key
        self.keys = keys
        self._lock = threading.Lock()
        self._seen: OrderedDict[tuple[str, str], deque[float]] = OrderedDict()

    def record(self, key: tuple[str, str], seconds: float) -> None:
        """Remember that one operation of ``key`` took ``seconds``."""
        with self._lock:
            durations = self._seen.pop(key, None) or deque(maxlen=self.per_key)
            durations.append(max(0.0, seconds))
            self._seen[key] = durations
            while len(self._seen) > self.keys:
                self._seen.popitem(last=False)

    def durations(self, key: tuple[str, str]) -> tuple[float, ...]:
        """The remembered durations of ``key``, oldest first."""
        with self._lock:
            return tuple(self._seen.get(key, ()))

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._seen.clear()


_HISTORIES: weakref.WeakKeyDictionary[Any, DurationHistory] = weakref.WeakKeyDictionary()
_HISTORIES_GUARD = threading.Lock()
_SHARED_HISTORY = DurationHistory()


def history_for(clock: Callable[[], float]) -> DurationHistory:
    """The :class:`DurationHistory` of the time line ``clock`` reads.

    Durations only mean something on the clock that measured them: every wait on the real
    clock (``time.monotonic``) shares one history, a test's fake clock has its own.
    """
    owner = getattr(clock, "__self__", None)
    owner = clock if owner is None else owner
    with _HISTORIES_GUARD:
        try:
            return _HISTORIES.setdefault(owner, DurationHistory())
        except TypeError:
            return _SHARED_HISTORY


_ORGANIZATION = re.compile(r"(?:^|/)organizations/([^/]+)(?:/([^/]+))?")


def operation_kind(value: Any) -> tuple[str, str] | None:
    """``(organization, kind)`` of an Apigee operation, e.g. ``("my-org", "endpointAttachments.INSERT")``,
    read from its name and metadata (``operationType``, ``targetResourceName``); ``None`` if it
    says neither."""
    metadata = _attr(value, "metadata")
    if not isinstance(metadata, Mapping):
        return None
    operation_type = metadata.get("operationType")
    target = metadata.get("targetResourceName")
    if not operation_type or not isinstance(target, str):
        return None
    found = _ORGANIZATION.search(target) or _ORGANIZATION.search(str(_attr(value, "name") or ""))
    if found is None:
        return None
    collection = found.group(2) if found.group(2) and found.group(2) != "operations" else "unknown"
    return found.group(1), f"{collection}.{operation_type}"


def _percent_done(value: Any) -> float | None:
    metadata = _attr(value, "metadata")
    progress = metadata.get("progress") if isinstance(metadata, Mapping) else None
    percent = progress.get("percentDone") if isinstance(progress, Mapping) else None
    return float(percent) if isinstance(percent, (int, float)) and not isinstance(percent, bool) else None


def _with_slow_tail(prior: DurationPrior, weight: float = 0.02) -> DurationPrior:
    """``prior`` with ``weight`` of its mass moved to a slow tail (median 10 min, 95% within an
    hour): operations now and then take far longer (deletes have been seen at 2 hours), and past
    the bulk of the prior the intervals should relax to ``max_interval`` rather than stay dense."""
    slow = DurationPrior.lognormal(600.0, 3600.0).components[0]
    weights = sum(w for w, _, _ in prior.components)
    kept = tuple(((1 - weight) * w / weights, m, s) for w, m, s in prior.components)
    return DurationPrior((*kept, (weight, slow[1], slow[2])))


#: Endpoint attachment creates: median 91 s, 95% within 190 s (the figures of issue 11's benchmark),
#: plus a 2% slow tail.
ATTACHMENT_CREATE_PRIOR = _with_slow_tail(DurationPrior.lognormal(91.0, 190.0))

#: Priors by kind (``<collection>.<operationType>``, or a waiter's name for waits on a resource).
#: Only the create prior is measured; the others are assumptions that the process's own
#: history replaces after a few operations (see docs/waiting.md).
PRIORS: dict[str, DurationPrior] = {
    "default": ATTACHMENT_CREATE_PRIOR,
    "endpointAttachments.INSERT": ATTACHMENT_CREATE_PRIOR,
    "endpointAttachments.DELETE": _with_slow_tail(DurationPrior.lognormal(120.0, 900.0)),
    "dnsZones.INSERT": _with_slow_tail(DurationPrior.lognormal(60.0, 180.0)),
    "dnsZones.DELETE": _with_slow_tail(DurationPrior.lognormal(45.0, 150.0)),
}
_WAITER_KINDS = {
    "ATTACHMENT_READY": "endpointAttachments.INSERT",
    "ATTACHMENT_DELETED": "endpointAttachments.DELETE",
    "DNS_ZONE_ACTIVE": "dnsZones.INSERT",
    "DNS_ZONE_DELETED": "dnsZones.DELETE",
}


@dataclass(frozen=True)
class AdaptiveSchedule(Schedule):
    """Polls shaped by where the operation is likely to end (see docs/waiting.md).

    After a poll at ``t`` that found the operation running, the next interval ``d`` is the
    one where ``d * P(end in (t, t+d] | running at t) = 2 / lag_cost``: dense where the
    hazard is high, sparse where it is low (``d ~ 1/sqrt(hazard)``), between
    ``min_interval`` and ``max_interval`` (``quick_interval`` before ``quick_until``, so
    quick operations are not held). ``lag_cost`` is how many requests one second of mean
    detection lag is worth. After ``grow_after`` seconds the interval grows by
    ``multiplier`` up to ``maximum``.

    The belief about the duration is chosen per wait: the prior of the operation's kind
    (from its ``operationType`` and ``targetResourceName``), updated with the durations this
    process has already seen for that organization and kind, and moved by
    ``metadata.progress.percentDone`` when it changes.
    """

    windows: tuple[tuple[float, float], ...] = ((0.0, 15.0),)
    grow_after: float = 1800.0
    multiplier: float = 1.5
    maximum: float = 60.0
    lag_cost: float = 3.3
    min_interval: float = 1.0
    max_interval: float = 15.0
    quick_until: float = 30.0
    quick_interval: float = 5.0
    priors: Mapping[str, DurationPrior] = field(default_factory=lambda: dict(PRIORS), compare=False, hash=False)
    learn: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.lag_cost <= 0 or not 0 < self.min_interval <= min(self.max_interval, self.quick_interval):
            raise ValueError("lag_cost must be positive and 0 < min_interval <= the other intervals")
        if "default" not in self.priors:
            raise ValueError("priors need a 'default' entry")

    def prior(self, kind: str | None) -> DurationPrior:
        """The prior of ``kind`` (or the default)."""
        return self.priors.get(kind or "default") or self.priors["default"]

    def next_poll(self, elapsed: float, previous_interval: float | None = None) -> float:
        """Seconds to wait after a poll at ``elapsed`` s, under the default prior."""
        return self.interval(self.prior(None), elapsed, previous_interval)

    def interval(self, prior: DurationPrior, elapsed: float, previous_interval: float | None = None) -> float:
        """Seconds to wait after a poll at ``elapsed`` s that found the operation running."""
        if elapsed >= self.grow_after:
            base = previous_interval or self.max_interval
            return min(self.maximum, max(base * self.multiplier, self.max_interval))
        cap = min(self.quick_interval if elapsed < self.quick_until else self.max_interval, self.grow_after - elapsed)
        alive = prior.survival(elapsed)
        target = 2.0 / self.lag_cost
        if alive <= 1e-12:
            return cap

        def score(d: float) -> float:
            return d * (1.0 - prior.survival(elapsed + d) / alive)

        low = min(self.min_interval, cap)
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

    def begin(self, *, waiter: str = "", subject: str = "", clock: Callable[[], float] = time.monotonic) -> PollPlan:
        """A plan for one wait that learns from what it polls."""
        return _AdaptivePlan(self, waiter, subject, history_for(clock) if self.learn else None)


class _AdaptivePlan(PollPlan):
    schedule: AdaptiveSchedule

    def __init__(self, schedule: AdaptiveSchedule, waiter: str, subject: str, history: DurationHistory | None) -> None:
        super().__init__(schedule)
        self.history = history
        self.key: tuple[str, str] | None = None
        self.belief = self.known = schedule.prior(_WAITER_KINDS.get(waiter))
        self.waiter = waiter
        self.subject = subject
        self.last_poll: float | None = None
        self.previous_poll: float | None = None
        self.first_progress: tuple[float, float] | None = None

    def observe(self, value: Any, elapsed: float) -> None:
        self.previous_poll, self.last_poll = self.last_poll, elapsed
        if self.key is None:
            self._choose_prior(value)
        percent = _percent_done(value)
        if percent is None:
            return
        if self.first_progress is None:
            self.first_progress = (elapsed, percent)
            return
        start, first = self.first_progress
        if 0 < percent < 100 and percent > first and elapsed > start:
            rate = (percent - first) / (elapsed - start)
            expected_end = elapsed + (100.0 - percent) / rate
            if expected_end > elapsed:
                spread = max(0.05, 0.3 * (100.0 - percent) / 100.0)  # less work left, a surer estimate
                self.belief = DurationPrior(((3.0, expected_end, spread), *self._normalised(self.known)))

    @staticmethod
    def _normalised(prior: DurationPrior) -> tuple[tuple[float, float, float], ...]:
        weights = sum(w for w, _, _ in prior.components)
        return tuple((w / weights, m, s) for w, m, s in prior.components)

    def _choose_prior(self, value: Any) -> None:
        found = operation_kind(value)
        if found is not None:
            organization, kind = found
        else:
            org = _ORGANIZATION.search(self.subject) or _ORGANIZATION.search(str(_attr(value, "name") or ""))
            if org is None or not self.waiter:
                return
            organization, kind = org.group(1), self.waiter
        self.key = (organization, kind)
        self.known = self.schedule.prior(_WAITER_KINDS.get(kind, kind))
        if self.history is not None:
            self.known = self.known.updated(self.history.durations(self.key))
        self.belief = self.known

    def delay(self, elapsed: float) -> float:
        interval = self.schedule.interval(self.belief, elapsed, self.previous_interval)
        self.previous_interval = interval
        return interval

    def succeeded(self, elapsed: float) -> None:
        if self.history is None or self.key is None:
            return
        ended = elapsed if self.previous_poll is None else (self.previous_poll + elapsed) / 2
        self.history.record(self.key, ended)


#: The default: an :class:`AdaptiveSchedule` with the kind priors of :data:`PRIORS`, learning from
#: the operations this process sees. Every 5 s for the first 30 s, never more than 15 s apart up
#: to 30 minutes, shaped by the hazard in between (43.8, 53.1, 60.9, 67.9, 74.5, 80.7, 86.7 s ... for an
#: endpoint attachment create). See docs/waiting.md for the derivation and the figures.
DEFAULT_SCHEDULE: Schedule = AdaptiveSchedule()

#: The same shape without the 5 s polls of the first 30 s, at a lower lag cost: about 10.3
#: requests per create instead of 16.0, for 4.0 s of mean lag instead of 3.3 (and up to 15 s,
#: not 5 s, for an operation that ends in its first 30 s).
LEAN_SCHEDULE: Schedule = AdaptiveSchedule(lag_cost=2.2, quick_until=0.0)


#: For the emulator and tests: every 0.1 s, growing to 1 s.
FAST_SCHEDULE = Schedule(windows=((0.0, 0.1),), grow_after=2.0, multiplier=1.5, maximum=1.0)


@dataclass(frozen=True)
class WaitProgress:
    """What a wait reports after each poll, to an optional ``progress`` callback."""

    waiter: str
    subject: str
    state: str
    elapsed: float
    polls: int
    done: bool = False


@dataclass
class _Step(Generic[T]):
    outcome: Outcome | None
    value: T | None
    error: BaseException | None


def wait(
    waiter: Waiter,
    poll: Callable[[], T],
    *,
    timeout: float,
    subject: str = "",
    schedule: Schedule | None = None,
    first: T = _MISSING,
    operation: str | None = None,
    resume: str | None = None,
    on_failure: Callable[[T | None, BaseException | None], BaseException] | None = None,
    on_timeout: Callable[[T | None, float], BaseException | None] | None = None,
    progress: Callable[[WaitProgress], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T | None:
    """Poll until ``waiter`` accepts a success, raises on a failure, or ``timeout`` passes.

    ``poll`` reads the resource once. ``first`` is a value already in hand (an operation
    just returned by a create) that is judged before any request. Returns the last polled
    value (``None`` when an error was the success, as a 404 for a delete). On a failure
    acceptor, raises ``on_failure(value, error)``; at the deadline raises ``on_timeout(value,
    elapsed)`` if given (and not ``None``), else :class:`~apigee_psc.errors.WaitTimeout`.
    """
    plan = (schedule or DEFAULT_SCHEDULE).begin(waiter=waiter.name, subject=subject, clock=clock)
    start = clock()
    polls = 0
    last: _Step[T] = _Step(None, None, None)
    label = f"{waiter.awaits} ({subject})" if subject else waiter.awaits

    def attempt() -> _Step[T]:
        nonlocal polls, last
        elapsed = clock() - start
        value: T | None = None
        error: BaseException | None = None
        if polls == 0 and first is not _MISSING:
            value = first
        else:
            try:
                value = poll()
            except errors.ApigeePscError as exc:
                error = exc
        polls += 1
        outcome = waiter.evaluate(value, error, elapsed)
        if error is not None and outcome is None:
            raise error
        if error is None:
            plan.observe(value, elapsed)
        if outcome == "success":
            plan.succeeded(elapsed)
        last = _Step(outcome, value, error)
        state = waiter.describe(value, error)
        logger.debug("wait: %s is %s after %.1fs (%d polls)", label, state, elapsed, polls)
        if progress is not None:
            progress(WaitProgress(waiter.name, subject, state, elapsed, polls, outcome in {"success", "failure"}))
        return last

    def keep_polling(step: _Step[T]) -> bool:
        return step.outcome not in {"success", "failure"}

    def next_delay(state: tenacity.RetryCallState) -> float:
        elapsed = clock() - start
        return max(0.0, min(plan.delay(elapsed), timeout - elapsed))

    def out_of_time(state: tenacity.RetryCallState) -> bool:
        return clock() - start >= timeout

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_result(keep_polling),
        wait=next_delay,
        stop=out_of_time,
        sleep=sleep,
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else last,
    )
    step: _Step[T] = retrying(attempt)
    if step.outcome == "success":
        logger.info("wait: %s done after %.1fs (%d polls)", label, clock() - start, polls)
        return step.value
    if step.outcome == "failure":
        if on_failure is not None:
            raise on_failure(step.value, step.error)
        raise errors.ApiError(f"{label} failed: {waiter.describe(step.value, step.error)}")
    elapsed = clock() - start
    if on_timeout is not None:
        custom = on_timeout(step.value, elapsed)
        if custom is not None:
            raise custom
    raise errors.WaitTimeout(
        label,
        last_state=waiter.describe(step.value, step.error),
        elapsed=elapsed,
        operation=operation,
        resume=resume,
    )


_ACTIVE = ("ACTIVE",)

#: An Apigee (or Service Networking) operation is done; ``error`` means failure. A 404 on the
#: operation right after it was started is tolerated for 30 s.
OPERATION_DONE = Waiter(
    name="OPERATION_DONE",
    awaits="operation to finish",
    acceptors=(
        Acceptor("success", when={"done": (True,), "error": (None,)}),
        Acceptor("failure", when={"done": (True,)}),
        Acceptor("retry", error=errors.NotFound, within=30.0),
    ),
    state_fields=("state",),
)

#: A Compute operation is DONE; an ``error`` means failure.
COMPUTE_OPERATION_DONE = Waiter(
    name="COMPUTE_OPERATION_DONE",
    awaits="Compute operation to finish",
    acceptors=(
        Acceptor("success", when={"status": ("DONE",), "error": (None,)}),
        Acceptor("failure", when={"status": ("DONE",)}),
        Acceptor("retry", error=errors.NotFound, within=30.0),
    ),
    state_fields=("status",),
)

#: The endpoint attachment is ACTIVE and its connection ACCEPTED (ACCEPTED_LIMITED_CAPACITY carries
#: traffic too, and counts). REJECTED, CLOSED and FROZEN
#: fail at once; PENDING, NEEDS_ATTENTION and UNAVAILABLE are waited on.
ATTACHMENT_READY = Waiter(
    name="ATTACHMENT_READY",
    awaits="endpoint attachment to be ACTIVE and ACCEPTED",
    acceptors=(
        Acceptor("success", when={"state": _ACTIVE, "connection_state": ("ACCEPTED", "ACCEPTED_LIMITED_CAPACITY")}),
        Acceptor("failure", when={"connection_state": ("REJECTED", "CLOSED", "FROZEN")}),
        Acceptor("failure", when={"state": ("DELETING",)}),
        Acceptor("retry", error=errors.NotFound, within=30.0),
    ),
    state_fields=("state", "connection_state"),
)

#: The endpoint attachment is gone (404).
ATTACHMENT_DELETED = Waiter(
    name="ATTACHMENT_DELETED",
    awaits="endpoint attachment to be deleted",
    acceptors=(Acceptor("success", error=errors.NotFound),),
    state_fields=("state", "connection_state"),
)

#: The Apigee DNS zone is ACTIVE.
DNS_ZONE_ACTIVE = Waiter(
    name="DNS_ZONE_ACTIVE",
    awaits="DNS zone to be ACTIVE",
    acceptors=(
        Acceptor("success", when={"state": _ACTIVE}),
        Acceptor("failure", when={"state": ("DELETING",)}),
        Acceptor("retry", error=errors.NotFound, within=30.0),
    ),
)

#: The Apigee DNS zone is gone (404).
DNS_ZONE_DELETED = Waiter(
    name="DNS_ZONE_DELETED",
    awaits="DNS zone to be deleted",
    acceptors=(Acceptor("success", error=errors.NotFound),),
)

#: Every declared waiter, by name.
WAITERS: dict[str, Waiter] = {
    w.name: w
    for w in (
        OPERATION_DONE,
        COMPUTE_OPERATION_DONE,
        ATTACHMENT_READY,
        ATTACHMENT_DELETED,
        DNS_ZONE_ACTIVE,
        DNS_ZONE_DELETED,
    )
}
