"""Which endpoint a client talks to, and what to say when a chosen one refuses connections.

``endpoint=``, then ``APIGEE_PSC_EMULATOR_HOST``, then Google's root URL of the API
(:data:`API_ROOTS`); plain ``http://`` only for an endpoint chosen explicitly. An endpoint
someone chose that refuses connections is named in a warning and in the error that gives up
on it (see :class:`~apigee_psc._retry.RetryPolicy`'s ``refused_deadline``).
"""

from __future__ import annotations

import ipaddress
import logging
import os
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from apigee_psc import errors

if TYPE_CHECKING:
    from apigee_psc._retry import OnRetry, RetryEvent

__all__ = [
    "API_ROOTS",
    "EMULATOR_ENV",
    "REFUSED",
    "chain",
    "chosen_endpoint_refused",
    "endpoint_source",
    "is_refused",
    "resolve_endpoint",
    "unreachable_warning",
]

logger = logging.getLogger("apigee_psc.http")

EMULATOR_ENV = "APIGEE_PSC_EMULATOR_HOST"

#: Google's root URL for each API this library calls.
API_ROOTS: dict[str, str] = {
    "apigee": "https://apigee.googleapis.com/",
    "compute": "https://compute.googleapis.com/",
    "dns": "https://dns.googleapis.com/",
    "cloudresourcemanager": "https://cloudresourcemanager.googleapis.com/",
    "servicenetworking": "https://servicenetworking.googleapis.com/",
}
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
    if source is None or not is_refused(error):
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


def is_refused(error: BaseException | None) -> bool:
    return isinstance(error, errors.TransportError) and error.reason == REFUSED


def chain(first: OnRetry | None, second: OnRetry | None) -> OnRetry | None:
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
