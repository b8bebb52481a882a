"""Retries, one declared shape for every loop: :class:`Backoff` (initial, multiplier,
maximum, jitter, deadline, attempts), used by :class:`RetryPolicy` (a request's retries),
:class:`RereadPolicy` (read-modify-write cycles that met a concurrent writer) and the DNS
zone's wait for an IAM grant to propagate; :func:`retry_call` runs one request under a policy:

* transient answers (429 rate limits, 500, 502, 503, 504, connection errors) are retried
  with full-jitter exponential backoff, honouring ``Retry-After``, within ``deadline``;
* on mutating calls, the Apigee organization lock (HTTP 400 "... locked by another
  operation ...") and Compute's busy answers (409 ``operationInProgress``, 400
  ``resourceNotReady``) are waited out within ``lock_deadline``;
* a caller's ``deadline`` bounds the whole call (a lock that outlasts it raises
  :class:`~apigee_psc.errors.LockTimeout` naming the operation that holds it), and an
  ``on_retry`` hook hears of every retry (:class:`RetryEvent`);
* an endpoint someone chose that refuses connections is given up on within
  ``RetryPolicy.refused_deadline``.

Settings and loggers are documented in ``docs/retries.md``.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal, TypeVar

import tenacity

from apigee_psc import errors
from apigee_psc._endpoints import chosen_endpoint_refused, is_refused

if TYPE_CHECKING:
    pass

__all__ = [
    "MUTATING",
    "NO_RETRY",
    "Backoff",
    "OnRetry",
    "RequestObserver",
    "RereadPolicy",
    "RetryEvent",
    "RetryPolicy",
    "is_org_lock",
    "is_transient",
    "lock_holder",
    "observe_requests",
    "retry_call",
    "retry_cause",
]

logger = logging.getLogger("apigee_psc.http")
R = TypeVar("R")

_LOCK_MARKERS = ("locked by another operation", "operation in progress", "operationinprogress")
_BUSY_REASONS = {"operationInProgress", "resourceNotReady"}
_RETRY_STATUS = {500, 502, 503, 504}
#: The methods that change something (the organization lock is waited out only for them).
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _outcome_error(state: tenacity.RetryCallState) -> BaseException | None:
    return state.outcome.exception() if state.outcome else None


@dataclass(frozen=True)
class Backoff:
    """The one declared backoff shape every retry loop of this library runs: the request
    retries of :class:`RetryPolicy`, the read-modify-write cycles of :class:`RereadPolicy`
    and the DNS zone create's wait for IAM propagation.

    The pause before try ``n + 1`` is drawn under a cap of ``initial * multiplier ** (n - 1)``
    seconds, at most ``maximum``: from ``[0, cap]`` with ``jitter="full"``, from
    ``[cap / 2, cap]`` with ``"upper_half"``. It gives up after ``attempts`` tries (``None``:
    no count) or once ``deadline`` seconds have passed, a pause never running past it.
    """

    initial: float
    multiplier: float = 2.0
    maximum: float = 30.0
    jitter: Literal["full", "upper_half"] = "full"
    deadline: float = 120.0
    attempts: int | None = None

    def cap(self, attempt: int) -> float:
        """The longest pause after try ``attempt`` (1 for the first)."""
        return min(self.maximum, self.initial * self.multiplier ** (attempt - 1))

    def pause(self, attempt: int, rng: random.Random) -> float:
        """A jittered pause after try ``attempt``."""
        cap = self.cap(attempt)
        return rng.uniform(0.0 if self.jitter == "full" else cap / 2, cap)

    def retrying(
        self,
        retryable: Callable[[BaseException], bool],
        *,
        sleep: Callable[[float], None],
        clock: Callable[[], float],
        rng: random.Random | None = None,
        start: float | None = None,
        budget: Callable[[BaseException | None], float] | None = None,
        at_least: Callable[[BaseException | None], float] | None = None,
        give_up: Callable[[int, BaseException | None, float], bool] | None = None,
        announce: Callable[[tenacity.RetryCallState], None] | None = None,
    ) -> tenacity.Retrying:
        """A tenacity ``Retrying`` that retries errors ``retryable`` accepts on this shape
        (the last error is re-raised). ``budget(error)`` replaces ``deadline`` for an error
        (a lock gets longer than a 503), ``at_least(error)`` is a floor of the pause (a
        ``Retry-After``), ``give_up(attempt, error, seconds_left)`` stops early and
        ``announce`` hears of each retry before its pause."""
        jitter = rng or random.Random()
        began = clock() if start is None else start

        def remaining(exc: BaseException | None) -> float:
            return (budget(exc) if budget is not None else self.deadline) - (clock() - began)

        def wait(state: tenacity.RetryCallState) -> float:
            exc = _outcome_error(state)
            delay = self.pause(state.attempt_number, jitter)
            if at_least is not None:
                delay = max(delay, at_least(exc))
            return min(delay, max(0.0, remaining(exc)))

        def stop(state: tenacity.RetryCallState) -> bool:
            exc = _outcome_error(state)
            left = remaining(exc)
            if left <= 0 or (self.attempts is not None and state.attempt_number >= self.attempts):
                return True
            return give_up is not None and give_up(state.attempt_number, exc, left)

        return tenacity.Retrying(
            retry=tenacity.retry_if_exception(retryable),
            wait=wait,
            stop=stop,
            sleep=sleep,
            before_sleep=announce,
            reraise=True,
        )


@dataclass(frozen=True)
class RetryPolicy:
    """How failed requests are retried.

    ``initial`` seconds before the first retry, multiplied by ``multiplier`` up to
    ``maximum``, with full jitter; all within ``deadline`` seconds per call. Mutating
    calls that meet the organization lock are retried within ``lock_deadline`` seconds.
    ``max_retry_after`` caps how long a server's ``Retry-After`` is honoured.
    ``refused_deadline`` bounds the retries of a refused connection to an endpoint someone
    chose (``endpoint=``, ``APIGEE_PSC_EMULATOR_HOST``; at most ``deadline``).
    """

    initial: float = 1.0
    multiplier: float = 2.0
    maximum: float = 30.0
    deadline: float = 120.0
    lock_deadline: float = 1800.0
    max_retry_after: float = 120.0
    #: Seconds to retry a refused connection to an endpoint someone chose (``endpoint=``,
    #: ``APIGEE_PSC_EMULATOR_HOST``): nothing listens there, so give up soon (an emulator that
    #: is still starting gets this long). Google's own endpoints keep ``deadline``.
    refused_deadline: float = 5.0

    def with_deadline(self, deadline: float) -> RetryPolicy:
        """Return a copy whose ``deadline`` is ``deadline``."""
        return replace(self, deadline=deadline)

    @property
    def backoff(self) -> Backoff:
        """The :class:`Backoff` of a call's transient errors (full jitter, ``deadline``)."""
        return Backoff(self.initial, self.multiplier, self.maximum, "full", self.deadline)


NO_RETRY = RetryPolicy(deadline=0.0, lock_deadline=0.0, refused_deadline=0.0)


@dataclass(frozen=True)
class RereadPolicy:
    """A declared read-modify-write retry, run by tenacity like the waiters.

    When a write finds that what it was computed from is stale (``stale(error)`` is true:
    a fingerprint 412, an etag 409 ABORTED), the whole cycle (read, compute, write) runs
    again: at most ``attempts`` cycles (``None``: no count) within ``deadline`` seconds, pausing ``initial``
    seconds doubled up to ``maximum`` between them, jittered over the upper half. ``what``
    names the resource kind in log lines.
    """

    what: str
    stale: Callable[[BaseException], bool]
    attempts: int | None = 5
    initial: float = 0.2
    maximum: float = 2.0
    deadline: float = 30.0

    def call(
        self,
        cycle: Callable[[], R],
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> R:
        """Run ``cycle`` until it returns or raises an error that is not :attr:`stale`, or
        the attempts or the deadline are used up (then the last stale error is raised)."""

        def announce(state: tenacity.RetryCallState) -> None:
            delay = state.next_action.sleep if state.next_action else 0.0
            cause = _short(_outcome_error(state))
            logger.info("%s: changed meanwhile (%s), re-reading in %.1fs", self.what, cause, delay)

        return self.backoff.retrying(self.stale, sleep=sleep, clock=clock, rng=rng, announce=announce)(cycle)

    @property
    def backoff(self) -> Backoff:
        """The :class:`Backoff` of the cycles (doubling, upper-half jitter, ``attempts``)."""
        return Backoff(self.initial, 2.0, self.maximum, "upper_half", self.deadline, self.attempts)


def is_org_lock(error: BaseException) -> bool:
    """True if ``error`` says another operation holds what the request changes: the Apigee
    organization lock (400 "... locked by another operation ...") or Compute's
    ``operationInProgress`` (409) and ``resourceNotReady`` (400). Waiting clears it."""
    if not isinstance(error, errors.ApiError) or error.status_code not in (400, 409):
        return False
    if error.reason in _BUSY_REASONS:
        return True
    if not isinstance(error, errors.BadRequest):
        return False
    text = error.message.lower()
    return any(marker in text for marker in _LOCK_MARKERS)


_HOLDERS = (
    re.compile(r"(organizations/[^/\s'\"]+/operations/[A-Za-z0-9_.-]+)"),
    re.compile(r"(operations/[A-Za-z0-9_.-]+)"),
    re.compile(r"operation '([^'\s]+)'"),
    re.compile(r"by operation: ([A-Za-z0-9_.-]+)"),  # Apigee's own words name the operation's id
)


def lock_holder(error: BaseException) -> str | None:
    """The operation that holds the lock, when the error's message names it."""
    text = error.message if isinstance(error, errors.ApiError) else str(error)
    for pattern in _HOLDERS:
        match = pattern.search(text)
        if match:
            return match.group(1)
    return None


@dataclass(frozen=True)
class RetryEvent:
    """What :func:`retry_call` reports to an ``on_retry`` callback before each pause.

    ``cause`` is ``"organization_lock"`` (the Apigee organization lock), ``"resource_busy"``
    (another Compute operation on the resource), ``"transient"`` (429, 5xx, connection
    errors) or ``"unauthenticated"`` (a first 401, retried once so credentials can
    refresh). ``holder`` names the operation holding the lock when the answer does.
    ``what`` is ``"METHOD URL"``; ``delay`` the pause about to be taken; ``elapsed`` and
    ``remaining`` are seconds of this call's budget.
    """

    what: str
    cause: str
    attempt: int
    delay: float
    elapsed: float
    remaining: float
    error: BaseException
    holder: str | None = None

    def describe(self) -> str:
        """One line, such as ``waiting on the organization lock held by organizations/o/operations/1
        (12s so far, next try in 4.0s)``."""
        held = f" held by {self.holder}" if self.holder else ""
        if self.cause == "organization_lock":
            head = f"waiting on the organization lock{held}"
        elif self.cause == "resource_busy":
            head = f"waiting for another operation on the resource to finish{held}"
        else:
            head = f"retrying {self.what} after {_short(self.error)}"
        return f"{head} ({self.elapsed:.0f}s so far, next try in {self.delay:.1f}s)"


def retry_cause(error: BaseException) -> str | None:
    """The :attr:`RetryEvent.cause` an error would be retried for, ``None`` if it would not be
    (a first 401 aside, which only :func:`retry_call` knows)."""
    if is_org_lock(error):
        return "resource_busy" if getattr(error, "reason", None) in _BUSY_REASONS else "organization_lock"
    if is_transient(error):
        return "transient"
    return None


OnRetry = Callable[[RetryEvent], None]

#: A client's ``timeout``: seconds to wait for an answer (see :func:`connect_read`).
#: How long a client waits for an answer unless told (:attr:`ClientOptions.timeout`).


def is_transient(error: BaseException) -> bool:
    """True for answers worth retrying: rate limits (not used-up quotas), 5xx, transport errors."""
    if isinstance(error, errors.RateLimited):
        return not error.quota_exhausted
    if isinstance(error, errors.TransportError):
        return True
    if isinstance(error, errors.ServerError):
        return error.status_code in _RETRY_STATUS
    return False


RequestObserver = Callable[[str, int], None]
_observers: list[RequestObserver] = []


@contextmanager
def observe_requests(observer: RequestObserver) -> Iterator[None]:
    """Tell ``observer`` of every HTTP attempt of every client while the block runs (a watch
    counts its requests by API and status this way). The URL is redacted; it never sees a
    header or a body."""
    _observers.append(observer)
    try:
        yield
    finally:
        _observers.remove(observer)


def _observed(fn: Callable[[], R], what: str) -> Callable[[], R]:
    if not _observers:
        return fn

    def attempt() -> R:
        try:
            result = fn()
        except BaseException as exc:
            status = exc.status_code or 0 if isinstance(exc, errors.ApiError) else 0
            for observer in list(_observers):
                observer(what, status)
            raise
        for observer in list(_observers):
            observer(what, 200)
        return result

    return attempt


def retry_call(
    fn: Callable[[], R],
    *,
    policy: RetryPolicy,
    wait_out_lock: bool,
    what: str,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    rng: random.Random | None = None,
    timeout: float | None = None,
    on_retry: OnRetry | None = None,
    refused_fast: bool = False,
    chosen: tuple[str, str | None] | None = None,
) -> R:
    """Call ``fn`` until it returns, retrying this library's retryable errors.

    Transient errors (:func:`is_transient`) are retried within ``policy.deadline`` seconds
    with full-jitter exponential backoff (``Retry-After`` honoured up to
    ``policy.max_retry_after``); with ``wait_out_lock`` the organization lock (and Compute's
    busy answers) is retried within ``policy.lock_deadline``; a first 401 is retried once so
    credentials can refresh. ``timeout``, when given, bounds the whole call, every retry
    included. A lock that outlasts its budget raises :class:`~apigee_psc.errors.LockTimeout`
    naming the operation that holds it. ``on_retry`` is told of each retry before its pause
    (a :class:`RetryEvent`). ``fn`` must be safe to repeat (a create carries its id or a
    requestId). ``what`` names the call in log lines. With ``refused_fast`` (an endpoint
    someone chose), a refused connection is retried only within ``policy.refused_deadline``.
    ``chosen`` is ``(root_url, who_chose_it)`` of the endpoint called (:func:`endpoint_source`;
    ``None`` who: Google's own): a chosen one is ``refused_fast``, and its refused
    connection, given up on, raises the error of :func:`chosen_endpoint_refused`.
    """
    refused_fast = refused_fast or (chosen is not None and chosen[1] is not None)
    start = clock()
    unauth_retried = False
    shown = errors.redact(what)

    def cause_of(exc: BaseException) -> str | None:
        nonlocal unauth_retried
        cause = retry_cause(exc)
        if cause in ("organization_lock", "resource_busy") and not wait_out_lock:
            return None
        if (
            cause is None
            and isinstance(exc, errors.Unauthenticated)
            and not isinstance(exc, errors.CredentialsNotFound)
            and not unauth_retried
        ):
            unauth_retried = True
            return "unauthenticated"
        return cause

    causes: dict[int, str | None] = {}

    def retryable(exc: BaseException) -> bool:
        cause = cause_of(exc)
        causes[id(exc)] = cause
        return cause is not None

    def limit(exc: BaseException | None) -> float:
        locked = exc is not None and causes.get(id(exc)) in ("organization_lock", "resource_busy")
        budget = policy.lock_deadline if locked else policy.deadline
        if refused_fast and is_refused(exc):
            budget = min(budget, policy.refused_deadline)
        return budget if timeout is None else min(budget, timeout)

    def remaining(exc: BaseException | None) -> float:
        return limit(exc) - (clock() - start)

    def retry_after(exc: BaseException | None) -> float:
        hint = getattr(exc, "retry_after", None)
        return min(float(hint), policy.max_retry_after) if isinstance(hint, (int, float)) else 0.0

    def announce(state: tenacity.RetryCallState) -> None:
        # Called only when a retry will really happen (after the stop check), with its pause.
        exc = _outcome_error(state)
        delay = state.next_action.sleep if state.next_action else 0.0
        assert exc is not None
        event = RetryEvent(
            what=shown,
            cause=causes.get(id(exc)) or "transient",
            attempt=state.attempt_number,
            delay=delay,
            elapsed=clock() - start,
            remaining=remaining(exc),
            error=exc,
            holder=lock_holder(exc) if is_org_lock(exc) else None,
        )
        logger.info("retry: %s failed (%s), attempt %d, retrying in %.1fs", shown, _short(exc), event.attempt, delay)
        if on_retry is not None:
            on_retry(event)

    def come_back_too_late(attempt: int, exc: BaseException | None, left: float) -> bool:
        # A server that asks us to come back after the deadline: give up now rather than later.
        hint = getattr(exc, "retry_after", None)
        return isinstance(hint, (int, float)) and policy.max_retry_after >= hint > left

    retrying = policy.backoff.retrying(
        retryable,
        sleep=sleep,
        clock=clock,
        rng=rng,
        start=start,
        budget=limit,
        at_least=retry_after,
        give_up=come_back_too_late,
        announce=announce,
    )
    try:
        return retrying(_observed(fn, shown))
    except errors.ApiError as exc:
        cause = causes.get(id(exc))
        if cause in ("organization_lock", "resource_busy") and remaining(exc) <= 0 and limit(exc) > 0:
            raise errors.LockTimeout(
                "the Apigee organization lock" if cause == "organization_lock" else f"{shown} to stop being busy",
                holder=lock_holder(exc),
                error=exc,
                elapsed=clock() - start,
            ) from exc
        named = exc if chosen is None else chosen_endpoint_refused(exc, chosen[0], chosen[1], clock() - start)
        if named is exc:
            raise
        raise named from None


def _short(exc: BaseException | None) -> str:
    if exc is None:
        return "no error"
    if isinstance(exc, errors.ApiError):
        code = f"{exc.status_code} {exc.rpc_status or ''}".strip()
        return f"{code}: {exc.message[:120]}"
    return type(exc).__name__
