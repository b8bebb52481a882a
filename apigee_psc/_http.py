"""HTTP transport shared by every REST client of the library.

One :class:`Transport` per API root: a google-auth ``AuthorizedSession`` over requests, with
the endpoint chosen by :mod:`apigee_psc._endpoints`, the client options every client takes
(:class:`ClientOptions`: credentials, quota project, endpoint, retry, timeout, sleep, clock),
the ``apigee-psc/<version>`` user agent, the mapping of error answers to
:mod:`apigee_psc.errors`, and the retries of :mod:`apigee_psc._retry`. Errors that cannot heal
(a request that cannot be built, a malformed quota project) are never retried.

Settings and loggers are documented in ``docs/retries.md``.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, TypedDict, cast

import requests

from apigee_psc import _answers, errors
from apigee_psc._endpoints import REFUSED, chain, endpoint_source, resolve_endpoint, unreachable_warning
from apigee_psc._retry import MUTATING, OnRetry, RetryPolicy, retry_call
from apigee_psc._version import __version__

if TYPE_CHECKING:
    import google.auth.credentials

__all__ = [
    "CONNECT_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "SCOPES",
    "USER_AGENT",
    "ClientKwargs",
    "ClientOptions",
    "Timeout",
    "Transport",
    "check_quota_project",
    "connect_read",
    "credentials_for",
    "error_from_exception",
]

logger = logging.getLogger("apigee_psc.http")

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
USER_AGENT = f"apigee-psc/{__version__}"


#: A request's timeout: seconds it waits for its answer, or a (connect, read) pair.
Timeout = float | tuple[float, float]

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
            raise _answers.error_from_response(
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
            wait_out_lock=(method in MUTATING) if wait_out_lock is None else wait_out_lock,
            what=f"{method} {url}",
            sleep=self.sleep,
            clock=self.clock,
            rng=self._rng,
            timeout=deadline,
            on_retry=unreachable_warning(self.root_url, self.endpoint_source, chain(self.on_retry, on_retry)),
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
