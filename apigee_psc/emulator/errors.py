"""Errors the emulator answers with, each carrying its HTTP status and its wire body.

Backends raise these; the server renders them in the error shape of the API that was
called: google.rpc (Apigee, Resource Manager, Service Networking) or the older
Compute/Cloud DNS shape with ``errors[]`` (``domain``, ``reason``, ``message``)::

    EmulatorError
     +-- InvalidArgument        400 INVALID_ARGUMENT      reason invalid
     |    +-- ResourceInUse     400                       reason resourceInUseByAnotherResource
     |    +-- ResourceNotReady  400                       reason resourceNotReady
     +-- FailedPrecondition     400 FAILED_PRECONDITION   reason failedPrecondition
     +-- Unauthenticated        401 UNAUTHENTICATED       reason authError
     +-- PermissionDenied       403 PERMISSION_DENIED     reason forbidden
     +-- NotFound               404 NOT_FOUND             reason notFound
     +-- AlreadyExists          409 ALREADY_EXISTS        reason alreadyExists
     +-- Aborted                409 ABORTED               reason aborted
     |    +-- OperationInProgress 409                     reason operationInProgress
     +-- ConditionNotMet        412 FAILED_PRECONDITION   reason conditionNotMet
     +-- ResourceExhausted      429 RESOURCE_EXHAUSTED    reason rateLimitExceeded
     +-- Internal               500 INTERNAL              reason backendError
     +-- Unavailable            503 UNAVAILABLE           reason backendError
"""

from __future__ import annotations

from typing import Any, Literal

__all__ = [
    "Aborted",
    "AlreadyExists",
    "ConditionNotMet",
    "EmulatorError",
    "ErrorStyle",
    "FailedPrecondition",
    "Internal",
    "InvalidArgument",
    "NotFound",
    "OperationInProgress",
    "PermissionDenied",
    "ResourceExhausted",
    "ResourceInUse",
    "ResourceNotReady",
    "Unauthenticated",
    "Unavailable",
    "error_for_status",
]

#: How an error body is laid out: ``rpc`` (google.rpc.Status) or ``compute`` (with ``errors[]``).
ErrorStyle = Literal["rpc", "compute"]

_RPC_CODES = {
    "INVALID_ARGUMENT": 3,
    "FAILED_PRECONDITION": 9,
    "UNAUTHENTICATED": 16,
    "PERMISSION_DENIED": 7,
    "NOT_FOUND": 5,
    "ALREADY_EXISTS": 6,
    "ABORTED": 10,
    "RESOURCE_EXHAUSTED": 8,
    "INTERNAL": 13,
    "UNAVAILABLE": 14,
    "UNKNOWN": 2,
}


class EmulatorError(Exception):
    """An API error: HTTP status, google.rpc status string, reason and message."""

    http_status = 500
    rpc_status = "UNKNOWN"
    default_reason = "backendError"

    def __init_subclass__(
        cls, *, http_status: int | None = None, rpc_status: str | None = None, reason: str | None = None
    ) -> None:
        """Give a subclass its HTTP status, google.rpc status and default reason (each inherited if omitted)."""
        super().__init_subclass__()
        if http_status is not None:
            cls.http_status = http_status
        if rpc_status is not None:
            cls.rpc_status = rpc_status
        if reason is not None:
            cls.default_reason = reason

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        domain: str = "global",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason
        self.domain = domain
        self.headers: dict[str, str] = dict(headers or {})

    @property
    def rpc_code(self) -> int:
        """The numeric google.rpc.Code of :attr:`rpc_status` (used inside operations)."""
        return _RPC_CODES.get(self.rpc_status, 2)

    def to_body(self, style: ErrorStyle = "rpc", *, service: str = "googleapis.com") -> dict[str, Any]:
        """Render the ``{"error": {...}}`` body in ``style``."""
        if style == "compute":
            return {
                "error": {
                    "code": self.http_status,
                    "message": self.message,
                    "errors": [{"message": self.message, "domain": self.domain, "reason": self.reason}],
                }
            }
        return {
            "error": {
                "code": self.http_status,
                "message": self.message,
                "status": self.rpc_status,
                "details": [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": _screaming(self.reason),
                        "domain": service,
                        "metadata": {},
                    }
                ],
            }
        }

    def to_status(self) -> dict[str, Any]:
        """Render as a google.rpc.Status (``{code, message}``) for a failed operation."""
        return {"code": self.rpc_code, "message": self.message}


def _screaming(reason: str) -> str:
    out: list[str] = []
    for ch in reason:
        if ch.isupper() and out:
            out.append("_")
        out.append(ch.upper())
    return "".join(out)


class InvalidArgument(EmulatorError, http_status=400, rpc_status="INVALID_ARGUMENT", reason="invalid"):
    """400 INVALID_ARGUMENT (Compute reason ``invalid``)."""


class ResourceInUse(InvalidArgument, rpc_status="FAILED_PRECONDITION", reason="resourceInUseByAnotherResource"):
    """400, Compute reason ``resourceInUseByAnotherResource``."""


class ResourceNotReady(InvalidArgument, rpc_status="FAILED_PRECONDITION", reason="resourceNotReady"):
    """400, Compute reason ``resourceNotReady``."""


class FailedPrecondition(EmulatorError, http_status=400, rpc_status="FAILED_PRECONDITION", reason="failedPrecondition"):
    """400 FAILED_PRECONDITION."""


class Unauthenticated(EmulatorError, http_status=401, rpc_status="UNAUTHENTICATED", reason="authError"):
    """401 UNAUTHENTICATED."""


class PermissionDenied(EmulatorError, http_status=403, rpc_status="PERMISSION_DENIED", reason="forbidden"):
    """403 PERMISSION_DENIED."""


class NotFound(EmulatorError, http_status=404, rpc_status="NOT_FOUND", reason="notFound"):
    """404 NOT_FOUND."""


class AlreadyExists(EmulatorError, http_status=409, rpc_status="ALREADY_EXISTS", reason="alreadyExists"):
    """409 ALREADY_EXISTS."""


class Aborted(EmulatorError, http_status=409, rpc_status="ABORTED", reason="aborted"):
    """409 ABORTED (e.g. a stale IAM policy etag)."""


class OperationInProgress(Aborted, reason="operationInProgress"):
    """409, Compute reason ``operationInProgress``: another operation is still changing the resource."""


class ConditionNotMet(EmulatorError, http_status=412, rpc_status="FAILED_PRECONDITION", reason="conditionNotMet"):
    """412 (Compute reason ``conditionNotMet``): a missing or stale fingerprint."""


class ResourceExhausted(EmulatorError, http_status=429, rpc_status="RESOURCE_EXHAUSTED", reason="rateLimitExceeded"):
    """429 RESOURCE_EXHAUSTED (rate limit)."""


class Internal(EmulatorError, http_status=500, rpc_status="INTERNAL", reason="backendError"):
    """500 INTERNAL."""


class Unavailable(EmulatorError, http_status=503, rpc_status="UNAVAILABLE", reason="backendError"):
    """503 UNAVAILABLE."""


_BY_STATUS: dict[int, type[EmulatorError]] = {
    400: InvalidArgument,
    401: Unauthenticated,
    403: PermissionDenied,
    404: NotFound,
    409: Aborted,
    412: ConditionNotMet,
    429: ResourceExhausted,
    500: Internal,
    503: Unavailable,
}


def error_for_status(
    status: int, message: str | None = None, reason: str | None = None, resource: str | None = None
) -> EmulatorError:
    """Return an error of the class matching HTTP ``status`` (used by fault injection).

    ``reason`` replaces the class's default reason: 409 + ``operationInProgress`` and 400 +
    ``resourceNotReady`` are Compute's two answers to a change of a resource another
    operation is still changing; ``resource`` (the request's resource path) goes into their
    default messages, as Compute names the resource."""
    what = f"The resource '{resource}'" if resource else "The resource"
    if status == 409 and reason == "operationInProgress":
        return OperationInProgress(message or f"{what} is being changed by another operation (injected fault).")
    if status == 400 and reason == "resourceNotReady":
        return ResourceNotReady(message or f"{what} is not ready")
    cls = _BY_STATUS.get(status)
    if cls is None:
        err = EmulatorError(message or f"Injected HTTP {status}.", reason=reason)
        err.http_status = status
        return err
    return cls(message or _DEFAULT_MESSAGES.get(status, f"Injected HTTP {status}."), reason=reason)


_DEFAULT_MESSAGES = {
    401: "Request had invalid authentication credentials. Expected OAuth 2 access token, "
    "login cookie or other valid authentication credential.",
    429: "Quota exceeded for quota metric 'Requests' and limit 'Requests per minute'.",
    500: "Internal error encountered.",
    503: "The service is currently unavailable.",
}
