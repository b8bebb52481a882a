"""How an API's error answer becomes one of the errors of :mod:`apigee_psc.errors`: an HTTP
answer (:func:`error_from_response`, by status, rpc status and reason, with ``Retry-After``
and whether a quota is used up) and a failed long-running operation (:func:`operation_error`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from apigee_psc.errors import (
    AlreadyExists,
    ApiError,
    BadRequest,
    Conflict,
    FailedPrecondition,
    NotFound,
    OperationFailed,
    PermissionDenied,
    RateLimited,
    ServerError,
    Unauthenticated,
)

__all__ = ["RPC_CODE_NAMES", "error_class_for", "error_from_response", "operation_error"]


#: google.rpc code numbers (as a failed operation's ``error.code`` carries them) to names.
RPC_CODE_NAMES: dict[int, str] = {
    1: "CANCELLED",
    2: "UNKNOWN",
    3: "INVALID_ARGUMENT",
    4: "DEADLINE_EXCEEDED",
    5: "NOT_FOUND",
    6: "ALREADY_EXISTS",
    7: "PERMISSION_DENIED",
    8: "RESOURCE_EXHAUSTED",
    9: "FAILED_PRECONDITION",
    10: "ABORTED",
    11: "OUT_OF_RANGE",
    12: "UNIMPLEMENTED",
    13: "INTERNAL",
    14: "UNAVAILABLE",
    15: "DATA_LOSS",
    16: "UNAUTHENTICATED",
}


def operation_error(
    operation: str,
    message: str,
    *,
    code: int | None = None,
    http_status: int | None = None,
    reason: str | None = None,
    details: Sequence[Mapping[str, Any]] = (),
    errors: Sequence[Mapping[str, Any]] = (),
    url: str | None = None,
    resource_name: str | None = None,
) -> ApiError:
    """The one place where a finished long-running operation's ``error`` becomes an exception.

    ``code`` is the google.rpc code (Apigee, Service Networking), ``http_status`` and
    ``reason`` what a Compute operation reports (``httpErrorStatusCode``, ``errors[].code``).
    A Compute insert whose operation failed because the resource already exists raises
    :class:`AlreadyExists` (naming ``resource_name``), as the request itself would have; any
    other failure raises :class:`OperationFailed`, whose ``rpc_status`` names the google.rpc
    code (``ALREADY_EXISTS`` for code 6).
    """
    rpc_status = RPC_CODE_NAMES.get(code) if code is not None else None
    exists = "ALREADY_EXISTS" in (reason or "").upper() or (http_status == 409 and "exist" in message.lower())
    common: dict[str, Any] = {"reason": reason, "details": details, "errors": errors, "url": url}
    if exists:
        return AlreadyExists(
            message, resource_name=resource_name, status_code=http_status or 409, rpc_status="ALREADY_EXISTS", **common
        )
    return OperationFailed(
        message,
        operation=operation,
        code=code if code is not None else http_status,
        status_code=http_status,
        rpc_status=rpc_status,
        **common,
    )


_BY_RPC_STATUS: dict[str, type[ApiError]] = {
    "INVALID_ARGUMENT": BadRequest,
    "OUT_OF_RANGE": BadRequest,
    "FAILED_PRECONDITION": FailedPrecondition,
    "UNAUTHENTICATED": Unauthenticated,
    "PERMISSION_DENIED": PermissionDenied,
    "NOT_FOUND": NotFound,
    "ALREADY_EXISTS": AlreadyExists,
    "ABORTED": Conflict,
    "RESOURCE_EXHAUSTED": RateLimited,
    "INTERNAL": ServerError,
    "UNKNOWN": ServerError,
    "DATA_LOSS": ServerError,
    "UNIMPLEMENTED": ServerError,
    "UNAVAILABLE": ServerError,
    "DEADLINE_EXCEEDED": ServerError,
}

_BY_HTTP_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthenticated,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    412: FailedPrecondition,
    429: RateLimited,
}

_COMPUTE_REASONS: dict[str, type[ApiError]] = {
    "alreadyExists": AlreadyExists,
    "notFound": NotFound,
    "conditionNotMet": FailedPrecondition,
    "resourceInUseByAnotherResource": FailedPrecondition,
    # Compute answers some rate limits with 403: they are rate limits all the same.
    "rateLimitExceeded": RateLimited,
    "userRateLimitExceeded": RateLimited,
    "RATE_LIMIT_EXCEEDED": RateLimited,
}

_QUOTA_REASONS = {"quotaExceeded", "QUOTA_EXCEEDED", "RESOURCE_QUOTA_EXCEEDED", "dailyLimitExceeded"}
_RATE_REASONS = {"rateLimitExceeded", "userRateLimitExceeded", "RATE_LIMIT_EXCEEDED"}
_RATE_WORDS = ("per minute", "per second", "per 100 seconds", "rate limit", "rate exceeded", "concurrent")
_CONCURRENCY_MARKER = "CONCURRENT_OPERATIONS_QUOTA_EXCEEDED"


def _quota_exhausted(reason: str | None, message: str) -> bool:
    """True if a RESOURCE_EXHAUSTED answer means a used-up quota (waiting will not help)
    rather than a rate (requests per minute, concurrent operations) that clears by itself."""
    text = message.lower()
    if reason in _RATE_REASONS or _CONCURRENCY_MARKER.lower() in text:
        return False
    if reason and (reason in _QUOTA_REASONS or "QUOTA" in reason.upper()):
        # A per-minute request quota is a rate even when the reason says "quota".
        return not any(word in text for word in _RATE_WORDS)
    return "quota" in text and "exceeded" in text and not any(word in text for word in _RATE_WORDS)


def _parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    import datetime as _dt

    return max(0.0, (when - _dt.datetime.now(_dt.timezone.utc)).total_seconds())


def error_class_for(status_code: int, rpc_status: str | None, reason: str | None, message: str = "") -> type[ApiError]:
    """The exception class of an error answer, from registries (as api-core's
    ``exception_class_for_http_status``, but the google.rpc status wins over the HTTP code,
    and a Compute ``errors[].reason`` over both): over REST a 409 may be ALREADY_EXISTS or
    ABORTED, a 403 may be a rate limit."""
    if status_code == 403 and _CONCURRENCY_MARKER in f"{reason or ''} {message}":
        return RateLimited
    lookups: tuple[tuple[Mapping[Any, type[ApiError]], object], ...] = (
        (_COMPUTE_REASONS, reason),
        (_BY_RPC_STATUS, rpc_status),
        (_BY_HTTP_STATUS, status_code),
    )
    for registry, key in lookups:
        if key is not None and key in registry:
            return registry[key]
    return ServerError if status_code >= 500 else ApiError


def error_from_response(
    status_code: int,
    body: bytes | str | Mapping[str, Any] | None,
    *,
    method: str,
    url: str,
    headers: Mapping[str, str] | None = None,
) -> ApiError:
    """Build the right :class:`ApiError` subclass from an HTTP error answer.

    ``body`` may be the raw bytes, text or an already decoded ``{"error": {...}}`` object
    (AIP-193, with Compute's ``errors[]`` and google.rpc ``details``).
    """
    payload: Any = body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            payload = None
    err: Mapping[str, Any] = {}
    if isinstance(payload, Mapping) and isinstance(payload.get("error"), Mapping):
        err = payload["error"]
    message = str(err.get("message") or (body if isinstance(body, str) and body else "") or f"HTTP {status_code}")
    message = message.strip()[:2000]
    rpc_status = err.get("status") if isinstance(err.get("status"), str) else None
    details = [d for d in err.get("details", []) or [] if isinstance(d, Mapping)]
    errors = [e for e in err.get("errors", []) or [] if isinstance(e, Mapping)]
    reason: str | None = None
    for detail in details:
        if str(detail.get("@type", "")).endswith("google.rpc.ErrorInfo") and detail.get("reason"):
            reason = str(detail["reason"])
            break
    if reason is None:
        for item in errors:
            if item.get("reason"):
                reason = str(item["reason"])
                break
    retry_after = _parse_retry_after(_header(headers, "Retry-After"))
    cls = error_class_for(status_code, rpc_status, reason, message)
    common: dict[str, Any] = {
        "status_code": status_code,
        "rpc_status": rpc_status,
        "reason": reason,
        "method": method,
        "url": url,
        "details": details,
        "errors": errors,
    }
    if cls is RateLimited:
        return RateLimited(
            message, retry_after=retry_after, quota_exhausted=_quota_exhausted(reason, message), **common
        )
    if cls is ServerError:
        return ServerError(message, retry_after=retry_after, **common)
    if cls is AlreadyExists:
        name = _resource_name_from(url, method) or _resource_name_in(message)
        return AlreadyExists(message, resource_name=name, **common)
    return cls(message, **common)


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """A header's value, whatever the case of its name (a plain dict is not case-insensitive)."""
    if not headers:
        return None
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


_QUOTED_RESOURCE = re.compile(r"'((?:projects|organizations)/[^'\s]+)'")


def _resource_name_in(message: str) -> str | None:
    """The resource named in a message such as Compute's "The resource 'projects/...' already exists"."""
    match = _QUOTED_RESOURCE.search(message)
    return match.group(1) if match else None


def _resource_name_from(url: str, method: str) -> str | None:
    """Guess the name of the resource a failed create collided with, from the request URL."""
    from urllib.parse import parse_qs, urlsplit

    parts = urlsplit(url)
    query = parse_qs(parts.query)
    for key, values in query.items():
        if key.endswith("Id") and values and key not in {"requestId"}:
            return f"{parts.path.lstrip('/').split('/', 1)[-1]}/{values[0]}"
    return None
