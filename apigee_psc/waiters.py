"""Declarative waits, run by one :func:`wait` built on tenacity.

A wait is data (the botocore idea): a :class:`Waiter` names what is awaited and lists
:class:`Acceptor` s, each mapping a polled value (by its attributes) or a polling error
(by its class) to ``success``, ``failure`` or ``retry``. The first acceptor that matches
decides; a value no acceptor matches is polled again.

Two layers are kept apart (the google-api-core idea): *polling* is "not done yet, ask again
later", decided here by the acceptors on the :class:`Schedule`; *retrying* a poll request
that failed (429, 5xx, resets) happens below, in the transport, with its own backoff and
deadline. A polling error that no acceptor names is raised as it is.

The default :class:`Schedule` is shaped for operations that take one to two minutes: it
polls sparsely at first (few operations finish early) and every 7.5 s in the window where they
usually end, then backs off. ``clock`` and ``sleep`` are injectable, so tests take no time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
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
    "OPERATION_DONE",
    "WAITERS",
    "Acceptor",
    "Schedule",
    "WaitProgress",
    "Waiter",
    "wait",
]

logger = logging.getLogger("apigee_psc")

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


#: Shaped for Apigee operations that take 1-2 minutes: 0, 20, 30, 40, then every 7.5 s to 150 s,
#: then x1.5 to 30 s. For completions spread over 30-120 s it sends fewer requests than
#: Terraform's fixed 10 s (8.2 against 9.0 on average) and sees them sooner (3.9 s mean lag against 5 s).
#: See docs/waiting.md (and benchmarks/polling.py) for request counts and lag against the anchors.
DEFAULT_SCHEDULE = Schedule(
    windows=((0.0, 20.0), (20.0, 10.0), (40.0, 7.5)),
    grow_after=150.0,
    multiplier=1.5,
    maximum=30.0,
)

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
    plan = schedule or DEFAULT_SCHEDULE
    start = clock()
    polls = 0
    intervals: list[float] = []
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
        delay = plan.next_poll(elapsed, intervals[-1] if intervals else None)
        intervals.append(delay)
        return max(0.0, min(delay, timeout - elapsed))

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
