"""HTTP transport shared by every REST client of the library.

One :class:`Transport` per API root: a google-auth ``AuthorizedSession`` over requests,
with the endpoint chosen from ``endpoint=``, ``APIGEE_PSC_EMULATOR_HOST`` or Google's
default, connect/read timeouts, the ``apigee-psc/<version>`` user agent, the mapping of
error answers to :mod:`apigee_psc.errors`, and retries (tenacity) bounded by deadlines:

* transient answers (429 rate limits, 500, 502, 503, 504, connection errors) are retried
  with full-jitter exponential backoff, honouring ``Retry-After``, within ``deadline``;
* on mutating calls, the Apigee organization lock (HTTP 400 "... locked by another
  operation ...") and Compute's busy answers (409 ``operationInProgress``, 400
  ``resourceNotReady``) are waited out within ``lock_deadline``;
* a caller's ``deadline`` bounds the whole call (a lock that outlasts it raises
  :class:`~apigee_psc.errors.LockTimeout` naming the operation that holds it), and an
  ``on_retry`` hook hears of every retry (:class:`RetryEvent`);
* errors that cannot heal (a request that cannot be built, a malformed quota project) are
  never retried; an endpoint someone chose (``endpoint=``, ``APIGEE_PSC_EMULATOR_HOST``) that
  refuses connections is named in a warning and given up on within
  ``RetryPolicy.refused_deadline`` (seconds, not minutes), with an error that names it.

Settings and loggers are documented in ``docs/retries.md``.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any, Literal, TypedDict, TypeVar, cast
from urllib.parse import urlsplit

import requests
import tenacity

from apigee_psc import errors
from apigee_psc._version import __version__

if TYPE_CHECKING:
    import google.auth.credentials

__all__ = [
    "API_ROOTS",
    "EMULATOR_ENV",
    "REFUSED",
    "Backoff",
    "ClientKwargs",
    "ClientOptions",
    "OnRetry",
    "RereadPolicy",
    "RetryEvent",
    "RetryPolicy",
    "Transport",
    "check_quota_project",
    "chosen_endpoint_refused",
    "connect_read",
    "credentials_for",
    "endpoint_source",
    "error_from_exception",
    "is_org_lock",
    "is_transient",
    "lock_holder",
    "observe_requests",
    "resolve_endpoint",
    "retry_call",
    "retry_cause",
    "unreachable_warning",
]

logger = logging.getLogger("apigee_psc.http")
R = TypeVar("R")

EMULATOR_ENV = "APIGEE_PSC_EMULATOR_HOST"
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
USER_AGENT = f"apigee-psc/{__version__}"

#: Google's root URL for each API this library calls.
API_ROOTS: dict[str, str] = {
    "apigee": "https://apigee.googleapis.com/",
    "compute": "https://compute.googleapis.com/",
    "dns": "https://dns.googleapis.com/",
    "cloudresourcemanager": "https://cloudresourcemanager.googleapis.com/",
    "servicenetworking": "https://servicenetworking.googleapis.com/",
}

_LOCK_MARKERS = ("locked by another operation", "operation in progress", "operationinprogress")
_BUSY_REASONS = {"operationInProgress", "resourceNotReady"}
_RETRY_STATUS = {500, 502, 503, 504}
_MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
#: The ``reason`` of a :class:`~apigee_psc.errors.TransportError` whose connection was refused
#: (nothing listens at the host and port).
REFUSED = "connectionRefused"


def _is_google_host(host: str) -> bool:
    host = host.lower().rstrip(".")
    return host == "googleapis.com" or host.endswith(".googleapis.com")


def endpoint_source(endpoint: str | None) -> str | None:
    """Who chose a non-default endpoint: ``"endpoint="``, ``"APIGEE_PSC_EMULATOR_HOST"``, or
    ``None`` for Google's own root."""
    if endpoint is not None:
        return "endpoint="
    return EMULATOR_ENV if os.environ.get(EMULATOR_ENV, "").strip() else None


def unreachable_warning(root_url: str, source: str | None, on_retry: OnRetry | None = None) -> OnRetry:
    """An ``on_retry`` hook that warns (once per call) when an endpoint someone chose refuses
    connections, then passes the event on to ``on_retry``."""
    warned: list[bool] = []

    def hook(event: RetryEvent) -> None:
        refused = isinstance(event.error, errors.TransportError) and event.error.status_code == 0
        if refused and source is not None and not warned:
            warned.append(True)
            logger.warning(
                "http: cannot reach %s (set by %s): %s; retrying for up to %.0fs more",
                root_url,
                source,
                event.error.message if isinstance(event.error, errors.ApiError) else event.error,
                event.remaining,
            )
        if on_retry is not None:
            on_retry(event)

    return hook


def chosen_endpoint_refused(error: BaseException, root_url: str, source: str | None, elapsed: float) -> BaseException:
    """The error to raise when a call gives up on ``error``: a refused connection to an endpoint
    someone chose (``source``) becomes a :class:`~apigee_psc.errors.TransportError` that names
    the endpoint and the setting that chose it; anything else is returned as it is."""
    if source is None or not _refused(error):
        return error
    assert isinstance(error, errors.TransportError)
    hint = " (is the emulator running there?)" if source == EMULATOR_ENV else ""
    return errors.TransportError(
        f"nothing answers at {root_url} (set by {source}): connection refused{hint}; gave up after {elapsed:.1f}s",
        status_code=0,
        reason=REFUSED,
        method=error.method,
        url=error.url,
    )


def _refused(error: BaseException | None) -> bool:
    return isinstance(error, errors.TransportError) and error.reason == REFUSED


def _both(first: OnRetry | None, second: OnRetry | None) -> OnRetry | None:
    if first is None or second is None:
        return first or second

    def hook(event: RetryEvent) -> None:
        first(event)
        second(event)

    return hook


def resolve_endpoint(api: str, endpoint: str | None = None) -> tuple[str, bool]:
    """Return ``(root_url, is_emulator)`` for ``api``.

    ``endpoint`` wins, then ``APIGEE_PSC_EMULATOR_HOST`` (``host:port``), then Google's
    root. Plain ``http://`` is accepted for a host given explicitly here or in
    ``APIGEE_PSC_EMULATOR_HOST`` (an emulator, in a container or a CI service too) and is
    then used with anonymous credentials, so no token travels in clear text; it is refused
    for Google's own ``*.googleapis.com`` hosts.
    """
    if api not in API_ROOTS:
        raise errors.ValidationError("api", api, f"one of {sorted(API_ROOTS)}")
    emulator = False
    if endpoint is None:
        env = os.environ.get(EMULATOR_ENV, "").strip()
        if env:
            endpoint = env if "://" in env else f"http://{env}"
            emulator = True
    if endpoint is None:
        return API_ROOTS[api], False
    if "://" not in endpoint:
        endpoint = _with_scheme(endpoint)
    parts = urlsplit(endpoint)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise errors.ValidationError("endpoint", endpoint, "an http(s) URL such as https://host[:port]/")
    if parts.scheme == "http" and _is_google_host(parts.hostname):
        raise errors.ValidationError(
            "endpoint", endpoint, "https:// for Google's APIs (plain http:// is only for an emulator)"
        )
    emulator = emulator or (parts.scheme == "http")
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return f"{parts.scheme}://{parts.netloc}{path}", emulator


def _with_scheme(endpoint: str) -> str:
    """An ``endpoint=`` given without a scheme, as the user meant it: a loopback host
    (``127.0.0.1:8089``, ``localhost:8089``, the form of ``APIGEE_PSC_EMULATOR_HOST``) is an
    emulator over plain http, without credentials; a Google host is https; any other host is
    refused, so that no credentials go anywhere by a guess."""
    host = urlsplit(f"//{endpoint}").hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if loopback:
        return f"http://{endpoint}"
    if _is_google_host(host):
        return f"https://{endpoint}"
    raise errors.ValidationError(
        "endpoint",
        endpoint,
        "a URL with its scheme: https://HOST[:PORT]/ (credentials are sent), or http://HOST:PORT/ for an "
        "emulator (none are); a loopback HOST:PORT alone means the emulator there",
    )


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
Timeout = float | tuple[float, float]
#: How long a client waits for an answer unless told (:attr:`ClientOptions.timeout`).
DEFAULT_TIMEOUT = 60.0
#: The most a client waits to connect (a timeout shorter than this connects within it).
CONNECT_TIMEOUT = 10.0


def connect_read(timeout: Timeout) -> tuple[float, float]:
    """A client ``timeout`` as ``(connect, read)`` seconds: a number is how long to wait for
    an answer (connecting gets at most :data:`CONNECT_TIMEOUT` of it); a pair is kept."""
    if isinstance(timeout, tuple):
        connect, read = timeout
        return float(connect), float(read)
    return min(CONNECT_TIMEOUT, float(timeout)), float(timeout)


class ClientKwargs(TypedDict, total=False):
    """The keyword arguments of every client (:class:`ClientOptions`, field by field)."""

    credentials: google.auth.credentials.Credentials | None
    quota_project_id: str | None
    endpoint: str | None
    retry: RetryPolicy | None
    timeout: Timeout
    sleep: Callable[[float], None]
    clock: Callable[[], float]
    on_retry: OnRetry | None


@dataclass(frozen=True)
class ClientOptions:
    """The options every client takes, declared once (``ApigeeClient``, ``ComputeClient``,
    ``CloudDnsClient``, ``ResourceManagerClient``, ``ServiceNetworkingClient`` and the
    clients of a :class:`~apigee_psc.Southbound`), as keyword arguments
    (:class:`ClientKwargs`).

    ``credentials`` default to Application Default Credentials (anonymous for the
    emulator); ``quota_project_id`` is the project billed for quota; ``endpoint`` points the
    client elsewhere (``APIGEE_PSC_EMULATOR_HOST`` too); ``retry`` is the
    :class:`RetryPolicy` of every request and ``on_retry`` hears of each retry.
    ``timeout`` means the same in every client: the seconds one request waits for its
    answer (default 60; connecting gets at most 10 of them, see :func:`connect_read`); a
    ``(connect, read)`` pair is accepted too. It is not the budget of a whole call (that is
    the ``timeout`` of a method such as ``create`` or ``wait``). ``sleep`` and ``clock``
    are injectable so tests take no time.
    """

    credentials: google.auth.credentials.Credentials | None = None
    quota_project_id: str | None = None
    endpoint: str | None = None
    retry: RetryPolicy | None = None
    timeout: Timeout = DEFAULT_TIMEOUT
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    on_retry: OnRetry | None = None

    @property
    def read_timeout(self) -> float:
        """Seconds one request waits for its answer."""
        return connect_read(self.timeout)[1]

    def transport(self, api: str, *, rng: random.Random | None = None) -> Transport:
        """A :class:`Transport` to ``api`` with these options."""
        return Transport(
            api,
            credentials=self.credentials,
            quota_project_id=self.quota_project_id,
            endpoint=self.endpoint,
            timeout=self.timeout,
            retry=self.retry,
            sleep=self.sleep,
            clock=self.clock,
            rng=rng,
            on_retry=self.on_retry,
        )

    def kwargs(self) -> ClientKwargs:
        """These options as the keyword arguments of a client."""
        return cast("ClientKwargs", {f.name: getattr(self, f.name) for f in fields(self)})


def is_transient(error: BaseException) -> bool:
    """True for answers worth retrying: rate limits (not used-up quotas), 5xx, transport errors."""
    if isinstance(error, errors.RateLimited):
        return not error.quota_exhausted
    if isinstance(error, errors.TransportError):
        return True
    if isinstance(error, errors.ServerError):
        return error.status_code in _RETRY_STATUS
    return False


def check_quota_project(quota_project_id: str | None) -> str | None:
    """``quota_project_id`` checked before any call: it travels as the ``x-goog-user-project``
    header, so a malformed one fails every request the same way (never worth retrying)."""
    if quota_project_id is None:
        return None
    from apigee_psc import names

    return names.validate_project_id(quota_project_id, "quota_project_id")


_NOT_RETRYABLE_REQUESTS = (
    "InvalidHeader",
    "InvalidURL",
    "InvalidSchema",
    "MissingSchema",
    "URLRequired",
    "InvalidJSONError",
)


def error_from_exception(exc: BaseException, *, method: str, url: str) -> BaseException:
    """This library's error for an exception raised below an HTTP call (requests, google-auth).

    * a request that cannot be built (an invalid header value, a bad URL) is a
      :class:`~apigee_psc.errors.ValidationError`: it fails the same way every time;
    * no usable answer (connection refused or reset, a timeout) is a
      :class:`~apigee_psc.errors.TransportError`, retried as transient;
    * a token refresh that could not reach the token endpoint is a ``TransportError`` that
      says so; one the token endpoint refused is :class:`~apigee_psc.errors.Unauthenticated`.

    Messages are redacted (google-auth errors can carry server data). Any other exception is
    returned as it is.
    """
    name = type(exc).__name__
    if isinstance(exc, requests.exceptions.RequestException):
        if name in _NOT_RETRYABLE_REQUESTS:
            return errors.ValidationError(
                "request", errors.redact(f"{method} {url}"), f"{name}: {errors.redact(str(exc))}"
            )
        return errors.TransportError(
            f"{name}: {errors.redact(str(exc))}",
            status_code=0,
            reason=REFUSED if _connection_refused(exc) else None,
            method=method,
            url=url,
        )
    if type(exc).__module__.startswith("google.auth"):
        if _network_failure(exc):
            return errors.TransportError(
                f"could not reach the token endpoint to refresh credentials (network unreachable?): "
                f"{name}: {errors.redact(str(exc))}",
                status_code=0,
                method=method,
                url=url,
            )
        return errors.Unauthenticated(
            f"credentials could not be refreshed: {name}: {errors.redact(str(exc))}", method=method, url=url
        )
    return exc


def _connection_refused(exc: BaseException) -> bool:
    """True if ``exc`` (requests' ``ConnectionError``) comes from a refused connection: its
    chain (urllib3's ``MaxRetryError`` -> ``NewConnectionError``) holds a ``ConnectionRefusedError``."""
    current: BaseException | None = exc
    for _ in range(8):
        if current is None:
            return False
        if isinstance(current, ConnectionRefusedError):
            return True
        reason = getattr(current, "reason", None)
        inner = current.args[0] if current.args and isinstance(current.args[0], BaseException) else None
        current = current.__cause__ or (reason if isinstance(reason, BaseException) else None) or inner
    return False


def _network_failure(exc: BaseException) -> bool:
    """True if a google-auth error comes from not reaching the token endpoint (or the metadata
    server): google-auth raises ``TransportError``, or a ``RefreshError`` wrapping one."""
    import google.auth.exceptions

    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < 5:
        if isinstance(current, (google.auth.exceptions.TransportError, requests.exceptions.ConnectionError)):
            return True
        inner = current.args[0] if current.args and isinstance(current.args[0], BaseException) else None
        current = inner or current.__cause__
        seen += 1
    return False


def credentials_for(
    credentials: google.auth.credentials.Credentials | None,
    quota_project_id: str | None,
    emulator: bool,
) -> google.auth.credentials.Credentials:
    import google.auth
    import google.auth.credentials

    if emulator and credentials is None:
        return google.auth.credentials.AnonymousCredentials()  # type: ignore[no-untyped-call]
    if credentials is None:
        import google.auth.exceptions

        try:
            credentials, _ = google.auth.default(scopes=SCOPES, quota_project_id=quota_project_id)
        except google.auth.exceptions.DefaultCredentialsError as exc:
            raise errors.CredentialsNotFound(errors.redact(str(exc))) from None
    elif quota_project_id and hasattr(credentials, "with_quota_project"):
        credentials = credentials.with_quota_project(quota_project_id)
    return credentials


class Transport:
    """Authorized JSON-over-HTTP calls to one Google API root.

    ``api`` is a key of :data:`API_ROOTS`. ``timeout`` is the seconds a request waits for
    its answer, or ``(connect, read)`` seconds (:func:`connect_read`);
    ``retry`` the :class:`RetryPolicy`; ``on_retry`` is told of every retry (a
    :class:`RetryEvent`, e.g. to show "waiting on the organization lock" as progress).
    ``sleep`` and ``clock`` are injectable so tests take no real time.
    """

    def __init__(
        self,
        api: str,
        *,
        credentials: google.auth.credentials.Credentials | None = None,
        quota_project_id: str | None = None,
        endpoint: str | None = None,
        timeout: Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        on_retry: OnRetry | None = None,
    ) -> None:
        self.api = api
        self.root_url, self.is_emulator = resolve_endpoint(api, endpoint)
        self.endpoint_source = endpoint_source(endpoint)
        #: Who chose the endpoint (``None``: Google's own): a refused connection to a chosen
        #: one is given up on within ``retry.refused_deadline``, naming it.
        self.chosen_by = self.endpoint_source
        self.on_retry = on_retry
        check_quota_project(quota_project_id)
        self.timeout = connect_read(timeout)
        self.retry = retry or RetryPolicy()
        self.sleep = sleep
        self.clock = clock
        self._rng = rng or random.Random()
        self._credentials_arg = credentials
        self._quota_project_id = quota_project_id
        self._session = session
        self._session_lock = threading.Lock()

    @property
    def session(self) -> requests.Session:
        """The authorized session, built (and credentials resolved) on first use."""
        if self._session is None:
            with self._session_lock:
                if self._session is None:
                    import google.auth.credentials
                    from google.auth.transport.requests import AuthorizedSession

                    creds = credentials_for(self._credentials_arg, self._quota_project_id, self.is_emulator)
                    # Anonymous credentials cannot refresh: google-auth would turn every 401 into
                    # "Anonymous credentials cannot be refreshed" and drop the server's answer.
                    anonymous = isinstance(creds, google.auth.credentials.AnonymousCredentials)
                    session = AuthorizedSession(  # type: ignore[no-untyped-call]
                        creds, refresh_status_codes=() if anonymous else (401,)
                    )
                    session.headers["User-Agent"] = USER_AGENT
                    session.headers["x-goog-api-client"] = f"gl-python apigee-psc/{__version__}"
                    if self._quota_project_id:
                        session.headers["x-goog-user-project"] = self._quota_project_id
                    self._session = session
        return self._session

    def url(self, path: str) -> str:
        """Absolute URL of ``path`` (relative to the API root, or already absolute)."""
        if path.startswith(("http://", "https://")):
            return path
        return self.root_url + path.lstrip("/")

    # -- one attempt -----------------------------------------------------------------

    def _send(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        body: Any,
        headers: Mapping[str, str] | None,
    ) -> dict[str, Any]:
        logger.debug("http: %s %s", method, errors.redact(url))
        try:
            response = self.session.request(
                method, url, params=params, json=body, timeout=self.timeout, headers=headers
            )
        except Exception as exc:
            mapped = error_from_exception(exc, method=method, url=url)
            if mapped is exc:
                raise
            raise mapped from None
        full_url = response.url or url
        if response.status_code >= 400:
            raise errors.error_from_response(
                response.status_code,
                response.content,
                method=method,
                url=full_url,
                headers=response.headers,
            )
        if not response.content:
            return {}
        try:
            data = response.json()
        except ValueError:
            raise errors.ServerError(
                "answer is not JSON", status_code=response.status_code, method=method, url=full_url
            ) from None
        if not isinstance(data, dict):
            raise errors.ServerError(
                "answer is not a JSON object", status_code=response.status_code, method=method, url=full_url
            )
        return data

    # -- with retries ----------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
        wait_out_lock: bool | None = None,
        deadline: float | None = None,
        on_retry: OnRetry | None = None,
    ) -> dict[str, Any]:
        """Send one logical request and return the decoded JSON object.

        Transient failures are retried within ``retry.deadline``; on mutating methods the
        organization lock is waited out within ``retry.lock_deadline`` (``wait_out_lock``
        overrides whether it is). ``deadline`` (seconds) bounds the whole call, lock
        included: a lock that outlasts it raises :class:`~apigee_psc.errors.LockTimeout`.
        ``on_retry`` hears of each retry (after the transport's own ``on_retry``). Raises an
        :class:`~apigee_psc.errors.ApiError`.
        """
        method = method.upper()
        url = self.url(path)
        return retry_call(
            lambda: self._send(method, url, params, json, headers),
            policy=retry or self.retry,
            wait_out_lock=(method in _MUTATING) if wait_out_lock is None else wait_out_lock,
            what=f"{method} {url}",
            sleep=self.sleep,
            clock=self.clock,
            rng=self._rng,
            timeout=deadline,
            on_retry=unreachable_warning(self.root_url, self.endpoint_source, _both(self.on_retry, on_retry)),
            chosen=(self.root_url, self.chosen_by),
        )

    def paginate(
        self,
        path: str,
        items_key: str,
        *,
        params: Mapping[str, Any] | None = None,
        page_size: int | None = None,
        size_param: str = "pageSize",
    ) -> Iterator[dict[str, Any]]:
        """Yield every item of a list call, following ``nextPageToken`` over all pages."""
        query: dict[str, Any] = dict(params or {})
        if page_size:
            query[size_param] = page_size
        seen_tokens: set[str] = set()
        while True:
            page = self.request("GET", path, params=query)
            yield from page.get(items_key, []) or []
            token = page.get("nextPageToken")
            if not token or token in seen_tokens:
                return
            seen_tokens.add(token)
            query["pageToken"] = token

    def close(self) -> None:
        """Close the underlying session."""
        if self._session is not None:
            self._session.close()


#: Called after every HTTP attempt with ``"METHOD URL"`` and the answer's status (0 when no
#: answer came); see :func:`observe_requests`.
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
        if refused_fast and _refused(exc):
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
