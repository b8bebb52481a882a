"""Declarative waits, run by one :func:`wait` built on tenacity.

A wait is data (the botocore idea): a :class:`Waiter` names what is awaited and lists
:class:`Acceptor` s, each mapping a polled value (by its attributes) or a polling error
(by its class) to ``success``, ``failure`` or ``retry``. The first acceptor that matches
decides; a value no acceptor matches is polled again.

Two layers are kept apart (the google-api-core idea): *polling* is "not done yet, ask again
later", decided here by the acceptors on the :class:`Schedule`; *retrying* a poll request
that failed (429, 5xx, resets) happens below, in the transport, with its own backoff and
deadline. A polling error that no acceptor names is raised as it is.

The default, :data:`DEFAULT_SCHEDULE`, is data too: one declared :class:`Schedule` per
operation kind (:data:`SCHEDULES`), chosen from the operation's metadata (``operationType``
and ``targetResourceName``); every 5 s for the first 30 s, then gaps placed where operations
of that kind usually end, never more than 15 s apart up to 30 minutes (docs/waiting.md shows
how they were made and how close they are to the best any schedule can do). ``clock`` and
``sleep`` are injectable, so tests take no time.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

import tenacity

from apigee_psc import errors
from apigee_psc.models import CONNECTED, FINAL_FAILURES

__all__ = [
    "ATTACHMENT_DELETED",
    "ATTACHMENT_READY",
    "COMPUTE_OPERATION_DONE",
    "DEFAULT_SCHEDULE",
    "DNS_ZONE_ACTIVE",
    "DNS_ZONE_DELETED",
    "FAST_SCHEDULE",
    "LEAN_SCHEDULE",
    "LEAN_SCHEDULES",
    "OPERATION_DONE",
    "SCHEDULES",
    "WAITERS",
    "Acceptor",
    "Schedule",
    "WaitProgress",
    "Waiter",
    "operation_failure",
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

    ``kinds`` names other schedules for particular operation kinds
    (``("dnsZones.INSERT", Schedule(...))``, see :func:`operation_kind`): a wait on an
    operation of one of them polls on that schedule instead (:meth:`by_kind` builds one).
    """

    windows: tuple[tuple[float, float], ...]
    grow_after: float
    multiplier: float = 1.5
    maximum: float = 30.0
    kinds: tuple[tuple[str, Schedule], ...] = ()

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

    def for_kind(self, kind: str | None) -> Schedule:
        """The schedule for an operation of ``kind`` (``endpointAttachments.INSERT``, ...): the
        one named in :attr:`kinds`, else this one."""
        for name, schedule in self.kinds:
            if name == kind:
                return schedule
        return self

    @classmethod
    def fixed(cls, interval: float) -> Schedule:
        """Poll every ``interval`` seconds (Terraform and apigeecli poll every 10 s)."""
        return cls(windows=((0.0, interval),), grow_after=float("inf"), multiplier=1.0, maximum=interval)

    @classmethod
    def exponential(cls, initial: float, multiplier: float, maximum: float) -> Schedule:
        """Poll after ``initial`` s, growing by ``multiplier`` to ``maximum`` (google-api-core)."""
        return cls(windows=((0.0, initial),), grow_after=initial, multiplier=multiplier, maximum=maximum)

    @classmethod
    def by_kind(cls, schedules: Mapping[str, Schedule], default: str) -> Schedule:
        """One schedule per operation kind: ``schedules[default]`` for any other kind (and for
        :meth:`next_poll` and :meth:`poll_times`), the kind's own for an operation of a kind
        in ``schedules``."""
        if default not in schedules:
            raise ValueError(f"{default!r} is not one of the kinds {sorted(schedules)}")
        return dataclasses.replace(schedules[default], kinds=tuple(schedules.items()))


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


#: The kind a wait on a resource (not on an operation) follows.
_WAITER_KINDS = {
    "ATTACHMENT_READY": "endpointAttachments.INSERT",
    "ATTACHMENT_DELETED": "endpointAttachments.DELETE",
    "DNS_ZONE_ACTIVE": "dnsZones.INSERT",
    "DNS_ZONE_DELETED": "dnsZones.DELETE",
}


def _declared(*windows: tuple[float, float]) -> Schedule:
    return Schedule(windows=windows, grow_after=1800.0, multiplier=1.5, maximum=60.0)


#: One declared schedule per operation kind: every 5 s for the first 30 s, then gaps placed
#: where operations of the kind usually end, never more than 15 s apart up to 30 minutes, then
#: x1.5 up to every 60 s (deletes have been seen to take two hours). Each is the frontier's
#: schedule for its kind's durations at a lag cost of 3.5 requests per second of mean lag,
#: gaps rounded to whole seconds (``python benchmarks/polling.py --fit`` prints them; the
#: benchmark measures each against the frontier). Only the endpoint attachment create's
#: durations are measured; see docs/waiting.md.
# fmt: off
SCHEDULES: dict[str, Schedule] = {
    "endpointAttachments.INSERT": _declared(
        (0, 5), (30, 15), (45, 9), (54, 8), (62, 6), (110, 5), (165, 6), (243, 7), (257, 8), (289, 9),
        (298, 10), (318, 11), (329, 12), (353, 14), (381, 15)
    ),
    "endpointAttachments.DELETE": _declared(
        (0, 5), (30, 10), (150, 11), (183, 12), (303, 13), (342, 14), (482, 15)
    ),
    "dnsZones.INSERT": _declared(
        (0, 5), (30, 6), (198, 7), (219, 8), (275, 9), (284, 10), (324, 11), (335, 12), (371, 13), (384, 14),
        (412, 15)
    ),
    "dnsZones.DELETE": _declared(
        (0, 5), (95, 6), (173, 7), (194, 8), (242, 9), (251, 10), (291, 11), (302, 12), (350, 14), (392, 15)
    ),
}
# fmt: on

#: The same without the 5 s polls of the first 30 s, at a lag cost of 2.1: fewer requests, a
#: little more lag, and up to 15 s (not 5 s) for an operation that ends in its first 30 s.
# fmt: off
LEAN_SCHEDULES: dict[str, Schedule] = {
    "endpointAttachments.INSERT": _declared(
        (0, 15), (45, 12), (57, 9), (66, 8), (90, 7), (111, 6), (165, 7), (193, 8), (241, 9), (259, 10),
        (279, 11), (290, 12), (314, 14), (328, 15)
    ),
    "endpointAttachments.DELETE": _declared(
        (0, 15), (15, 13), (28, 12), (100, 13), (126, 14), (224, 15)
    ),
    "dnsZones.INSERT": _declared(
        (0, 15), (15, 12), (27, 8), (43, 7), (120, 8), (200, 9), (218, 10), (258, 11), (269, 12), (305, 13),
        (318, 14), (346, 15)
    ),
    "dnsZones.DELETE": _declared(
        (0, 15), (15, 8), (23, 7), (30, 6), (90, 7), (118, 8), (174, 9), (183, 10), (223, 11), (234, 12),
        (270, 14), (312, 15)
    ),
}
# fmt: on

#: The default: the schedule of :data:`SCHEDULES` for the operation's kind (an endpoint
#: attachment create's for any other).
DEFAULT_SCHEDULE = Schedule.by_kind(SCHEDULES, "endpointAttachments.INSERT")

#: :data:`LEAN_SCHEDULES` by kind: 10.3 requests per endpoint attachment create instead of 16.2, for
#: 4.01 s of mean lag instead of 3.26 (issue 11's 5,000 samples; docs/waiting.md).
LEAN_SCHEDULE = Schedule.by_kind(LEAN_SCHEDULES, "endpointAttachments.INSERT")


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


def operation_failure(
    resource_name: str | None = None,
) -> Callable[[Any, BaseException | None], BaseException | None]:
    """The one rule that turns a failed wait into its exception: the polled value's own
    ``exception(resource_name)`` (an Apigee, Service Networking or Compute operation that
    ended with an error), else the polling error; ``None`` leaves it to :func:`wait`.
    ``resource_name`` names what a Compute insert was creating (for ``AlreadyExists``)."""

    def failed(value: Any, error: BaseException | None) -> BaseException | None:
        exception = getattr(value, "exception", None)
        found = exception(resource_name) if callable(exception) else None
        return found if isinstance(found, BaseException) else error

    return failed


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
    on_failure: Callable[[T | None, BaseException | None], BaseException | None] | None = None,
    on_timeout: Callable[[T | None, float], BaseException | None] | None = None,
    progress: Callable[[WaitProgress], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T | None:
    """Poll until ``waiter`` accepts a success, raises on a failure, or ``timeout`` passes.

    ``poll`` reads the resource once. ``first`` is a value already in hand (an operation
    just returned by a create) that is judged before any request. Returns the last polled
    value (``None`` when an error was the success, as a 404 for a delete). On a failure
    acceptor, raises ``on_failure(value, error)`` (by default :func:`operation_failure`: a
    failed operation raises its own ``exception()``); at the deadline raises ``on_timeout(value,
    elapsed)`` if given (and not ``None``), else :class:`~apigee_psc.errors.WaitTimeout`.
    """
    chosen = schedule or DEFAULT_SCHEDULE
    current = chosen.for_kind(_WAITER_KINDS.get(waiter.name))
    kind_read = False
    previous_interval: float | None = None
    start = clock()
    polls = 0
    last: _Step[T] = _Step(None, None, None)
    label = f"{waiter.awaits} ({subject})" if subject else waiter.awaits

    def attempt() -> _Step[T]:
        nonlocal polls, last, current, kind_read
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
        if error is None and not kind_read:
            kind_read = True
            found = operation_kind(value)
            if found is not None:
                current = chosen.for_kind(found[1])
        last = _Step(outcome, value, error)
        state = waiter.describe(value, error)
        logger.debug("wait: %s is %s after %.1fs (%d polls)", label, state, elapsed, polls)
        if progress is not None:
            progress(WaitProgress(waiter.name, subject, state, elapsed, polls, outcome in {"success", "failure"}))
        return last

    def keep_polling(step: _Step[T]) -> bool:
        return step.outcome not in {"success", "failure"}

    def next_delay(state: tenacity.RetryCallState) -> float:
        nonlocal previous_interval
        elapsed = clock() - start
        previous_interval = current.next_poll(elapsed, previous_interval)
        return max(0.0, min(previous_interval, timeout - elapsed))

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
        raise (on_failure or operation_failure())(step.value, step.error) or errors.ApiError(
            f"{label} failed: {waiter.describe(step.value, step.error)}"
        )
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

def _operation_done(name: str, awaits: str, field: str, done: object) -> Waiter:
    """An operation whose ``field`` is ``done``: without an ``error`` a success, with one a
    failure (raised as the operation's own ``exception()``, :func:`operation_failure`). A 404
    on the operation right after it was started is tolerated for 30 s."""
    return Waiter(
        name=name,
        awaits=awaits,
        acceptors=(
            Acceptor("success", when={field: (done,), "error": (None,)}),
            Acceptor("failure", when={field: (done,)}),
            Acceptor("retry", error=errors.NotFound, within=30.0),
        ),
        state_fields=("state",) if field == "done" else (field,),
    )


#: An Apigee (or Service Networking) operation is done.
OPERATION_DONE = _operation_done("OPERATION_DONE", "operation to finish", "done", True)

#: A Compute operation is DONE.
COMPUTE_OPERATION_DONE = _operation_done("COMPUTE_OPERATION_DONE", "Compute operation to finish", "status", "DONE")

#: The endpoint attachment is ACTIVE and its connection ACCEPTED (ACCEPTED_LIMITED_CAPACITY carries
#: traffic too, and counts). REJECTED, CLOSED and FROZEN
#: fail at once; PENDING, NEEDS_ATTENTION and UNAVAILABLE are waited on.
ATTACHMENT_READY = Waiter(
    name="ATTACHMENT_READY",
    awaits="endpoint attachment to be ACTIVE and ACCEPTED",
    acceptors=(
        Acceptor("success", when={"state": _ACTIVE, "connection_state": tuple(sorted(CONNECTED))}),
        Acceptor("failure", when={"connection_state": tuple(sorted(FINAL_FAILURES))}),
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
