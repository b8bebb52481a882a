"""The one error hierarchy of apigee-psc.

Every exception this library raises on purpose derives from :class:`ApigeePscError`::

    ApigeePscError
    ├── ValidationError              bad input, raised before any API call
    ├── ApiError                     an API answered with an error (status, rpc status, method, URL)
    │   ├── BadRequest               400 INVALID_ARGUMENT / OUT_OF_RANGE
    │   │   └── FailedPrecondition   400 FAILED_PRECONDITION (and Compute's 412 conditionNotMet)
    │   ├── Unauthenticated          401
    │   │   └── CredentialsNotFound  no credentials to send (says what to run)
    │   ├── PermissionDenied         403
    │   ├── NotFound                 404
    │   ├── AlreadyExists            409 ALREADY_EXISTS (carries the existing resource's name)
    │   ├── Conflict                 409 ABORTED (etag or concurrent change)
    │   ├── RateLimited              429 (carries ``retry_after`` and whether a quota is used up)
    │   ├── ServerError              5xx
    │   └── TransportError           no usable HTTP answer (connection reset, timeout)
    ├── OperationFailed              a long-running operation ended with ``error``
    ├── WaitTimeout                  a wait hit its deadline (names what, last state, operation)
    │   └── LockTimeout              the deadline passed while another operation held the lock
    └── ConnectionNotAccepted        the endpoint attachment's connection cannot become ACCEPTED

``OperationFailed``, ``WaitTimeout`` and ``ConnectionNotAccepted`` are also ``ApiError``
subclasses so that ``except ApiError`` catches every failure that came from the cloud.

Errors never carry credentials: messages and URLs pass through :func:`redact` before they
are stored, so ``str()``, ``repr()``, logs and tracebacks cannot show a bearer token.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apigee_psc.diagnosis import Diagnosis

__all__ = [
    "AlreadyExists",
    "ApiError",
    "ApigeePscError",
    "BadRequest",
    "Cancelled",
    "Conflict",
    "ConnectionNotAccepted",
    "CredentialsNotFound",
    "FailedPrecondition",
    "LockTimeout",
    "NotFound",
    "OperationFailed",
    "PermissionDenied",
    "RateLimited",
    "ServerError",
    "TransportError",
    "Unauthenticated",
    "ValidationError",
    "WaitTimeout",
    "redact",
]

_SECRET_PATTERNS = [
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"ya29\.[A-Za-z0-9._~+/=-]+"),
    re.compile(
        r"(?i)((?:access_token|id_token|refresh_token|client_secret)[\"']?\s*[:=]\s*[\"']?)"
        r"[A-Za-z0-9._~+/=-]+"
    ),
]


def redact(text: str) -> str:
    """Return ``text`` with bearer tokens, ``ya29.`` access tokens and token fields masked."""
    for pattern in _SECRET_PATTERNS:
        if pattern.groups:
            text = pattern.sub(lambda m: m.group(1) + "<redacted>", text)
        else:
            text = pattern.sub("<redacted>", text)
    return text


class ApigeePscError(Exception):
    """Base class of every error raised by apigee-psc."""


class ValidationError(ApigeePscError, ValueError):
    """Input that breaks a rule, found before any API call.

    ``field`` names the input (``"endpoint_attachment.name"``), ``value`` is what was given
    and ``rule`` says what it must be. ``source`` is the spec file, when there is one, and
    ``line``/``column`` (1-based) where the key stands in it, when known (a spec read from a
    YAML file); the message then ends with ``(FILE:LINE:COLUMN)``.

    A spec with several problems raises one ValidationError listing them all, one per line:
    ``problems`` holds each as a ValidationError of its own (a single problem is its own
    ``problems[0]``), and ``field``/``value``/``rule`` are those of the first.
    """

    def __init__(
        self,
        field: str,
        value: object,
        rule: str,
        *,
        source: str | None = None,
        problems: Sequence[ValidationError] = (),
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.field = field
        self.value = value
        self.rule = rule
        self.source = source
        self.line = line
        self.column = column
        self.problems: tuple[ValidationError, ...] = tuple(problems) if len(problems) > 1 else (self,)
        where = f"{source}: " if source else ""
        if len(self.problems) > 1:
            lines = [f"{where}{len(self.problems)} problems:"]
            lines += [f"  {problem._text()}" for problem in problems]
            super().__init__(redact("\n".join(lines)))
        else:
            super().__init__(redact(f"{where}{self._text()}"))

    def _text(self) -> str:
        """``field: value is invalid: rule``, then where it stands when known."""
        text = f"{self.field}: {_shown(self.value)} is invalid: {self.rule}"
        if self.line is not None:
            place = f"{self.line}:{self.column}" if self.column is not None else str(self.line)
            text += f" ({self.source}:{place})" if self.source else f" (line {place})"
        return text

    @classmethod
    def combine(cls, problems: Sequence[ValidationError], *, source: str | None = None) -> ValidationError:
        """One error for ``problems`` (at least one), each given ``source`` if it has none."""
        if not problems:
            raise ValueError("combine() needs at least one problem")
        located = [p.located(source) for p in problems]
        if len(located) == 1:
            return located[0]
        first = located[0]
        return cls(
            first.field,
            first.value,
            first.rule,
            source=first.source,
            problems=located,
            line=first.line,
            column=first.column,
        )

    def located(self, source: str | None) -> ValidationError:
        """This error naming ``source`` as its file, unless it already names one."""
        if self.source is not None or source is None:
            return self
        if len(self.problems) > 1:
            return ValidationError.combine([p.located(source) for p in self.problems])
        return ValidationError(self.field, self.value, self.rule, source=source, line=self.line, column=self.column)

    def at(self, line: int | None, column: int | None) -> ValidationError:
        """This (single) problem standing at ``line``/``column`` of its file (unchanged if it has a line)."""
        if self.line is not None or line is None or len(self.problems) > 1:
            return self
        return ValidationError(self.field, self.value, self.rule, source=self.source, line=line, column=column)

    def to_dict(self) -> list[dict[str, Any]]:
        """Each problem as ``{"source", "field", "value", "rule"}`` (the value as quoted in
        messages), with ``line`` and ``column`` when known."""
        out: list[dict[str, Any]] = []
        for p in self.problems:
            item: dict[str, Any] = {
                "source": p.source or "",
                "field": p.field,
                "value": redact(_shown(p.value)),
                "rule": redact(p.rule),
            }
            if p.line is not None:
                item["line"] = p.line
                if p.column is not None:
                    item["column"] = p.column
            out.append(item)
        return out


#: How much of an invalid value an error quotes (a 100 KB value is not echoed back whole).
MAX_QUOTED = 120


def _shown(value: object) -> str:
    text = repr(value)
    if len(text) <= MAX_QUOTED:
        return text
    return f"{text[: MAX_QUOTED - 20]}... ({len(text)} characters)"


class Cancelled(ApigeePscError):
    """A run stopped because its ``cancel`` event was set (or the process was interrupted).

    It stops at the next safe point: between steps, or inside a wait or a retry's pause, never
    half-way through a request. What had finished stays; ``phase`` is ``apply`` or ``destroy``.
    Running the same call again resumes: it finds what exists and waits on what is in flight.
    """

    def __init__(self, phase: str = "apply") -> None:
        self.phase = phase
        super().__init__(
            f"{phase} cancelled; what finished stays, and running {phase} again resumes from there"
        )


class ApiError(ApigeePscError):
    """An error answered by a Google API (or the emulator).

    Attributes: ``status_code`` (HTTP status, 0 when there was none), ``rpc_status``
    (the google.rpc code name such as ``"ALREADY_EXISTS"``), ``message``, ``reason``
    (the ``ErrorInfo`` or Compute ``errors[].reason``), ``method``, ``url``, ``details``
    (the raw ``details`` list) and ``errors`` (Compute's ``errors[]``).
    """

    default_status: int = 0

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        rpc_status: str | None = None,
        reason: str | None = None,
        method: str | None = None,
        url: str | None = None,
        details: Sequence[Mapping[str, Any]] = (),
        errors: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        self.message = redact(message)
        self.status_code = self.default_status if status_code is None else status_code
        self.rpc_status = rpc_status
        self.reason = reason
        self.method = method
        self.url = redact(url) if url else url
        self.details = list(details)
        self.errors = list(errors)
        super().__init__(self._format())

    def _format(self) -> str:
        head = f"{self.method} {self.url}: " if self.method and self.url else ""
        code = f"{self.status_code} {self.rpc_status}" if self.rpc_status else f"{self.status_code}"
        tail = f" (reason: {self.reason})" if self.reason else ""
        return f"{head}{code}: {self.message}{tail}" if self.status_code else f"{head}{self.message}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status_code={self.status_code!r}, rpc_status={self.rpc_status!r}, "
            f"message={self.message!r}, reason={self.reason!r}, method={self.method!r}, url={self.url!r})"
        )


class BadRequest(ApiError):
    """HTTP 400: the request was refused as invalid."""

    default_status = 400


class FailedPrecondition(BadRequest):
    """The system is not in a state the request needs (400 FAILED_PRECONDITION, 412)."""


class Unauthenticated(ApiError):
    """HTTP 401: the credentials are missing, expired or invalid."""

    default_status = 401


class CredentialsNotFound(Unauthenticated):
    """No Application Default Credentials were found (or the file named by
    ``GOOGLE_APPLICATION_CREDENTIALS`` is unusable): nothing was sent, and the message says
    what to run. No HTTP status: no request left the machine."""

    default_status = 0

    def __init__(self, detail: str) -> None:
        super().__init__(
            "no Google credentials found: run `gcloud auth application-default login`, or set "
            "GOOGLE_APPLICATION_CREDENTIALS to a service account key file (for the local emulator, "
            f"set APIGEE_PSC_EMULATOR_HOST instead) ({detail})",
            status_code=0,
        )


class PermissionDenied(ApiError):
    """HTTP 403: the caller lacks a permission (or the API is disabled)."""

    default_status = 403


class NotFound(ApiError):
    """HTTP 404: the resource does not exist."""

    default_status = 404


class AlreadyExists(ApiError):
    """HTTP 409 ALREADY_EXISTS. ``resource_name`` names the existing resource, when known."""

    default_status = 409

    def __init__(self, message: str, *, resource_name: str | None = None, **kwargs: Any) -> None:
        self.resource_name = resource_name
        super().__init__(message, **kwargs)


class Conflict(ApiError):
    """HTTP 409 ABORTED (or other 409): a concurrent change, such as a stale IAM etag."""

    default_status = 409


class RateLimited(ApiError):
    """HTTP 429. ``retry_after`` (seconds) if the server said; ``quota_exhausted`` if a
    quota is used up (waiting will not help) rather than a rate being exceeded."""

    default_status = 429

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        quota_exhausted: bool = False,
        **kwargs: Any,
    ) -> None:
        self.retry_after = retry_after
        self.quota_exhausted = quota_exhausted
        super().__init__(message, **kwargs)


class ServerError(ApiError):
    """HTTP 5xx: the service failed; ``retry_after`` if the server said when to retry."""

    default_status = 500

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class TransportError(ApiError):
    """No usable HTTP answer: connection refused or reset, or a timeout."""


class OperationFailed(ApiError):
    """A long-running operation finished with an ``error``.

    ``operation`` is the operation's name; ``code`` is the google.rpc code (an int) and
    ``message`` its message.
    """

    def __init__(
        self,
        message: str,
        *,
        operation: str,
        code: int | None = None,
        **kwargs: Any,
    ) -> None:
        self.operation = operation
        self.code = code
        super().__init__(message, **kwargs)

    def _format(self) -> str:
        code = f" (code {self.code})" if self.code is not None else ""
        return f"operation {self.operation} failed{code}: {self.message}"


class WaitTimeout(ApiError):
    """A wait reached its deadline before success.

    ``awaited`` says what was awaited, ``last_state`` the last state seen, ``elapsed`` the
    seconds waited and ``operation`` the operation's name; ``resume`` is the call that
    resumes the wait later, as the waiting client names it
    (``ApigeeClient.operations.wait('organizations/o/operations/1')``,
    ``ComputeClient.operations.wait('projects/p/regions/r/operations/op-1')``, ...; without
    it, ``operations.wait(operation)``).
    """

    def __init__(
        self,
        awaited: str,
        *,
        last_state: str | None,
        elapsed: float,
        operation: str | None = None,
        diagnosis: Diagnosis | None = None,
        resume: str | None = None,
    ) -> None:
        self.awaited = awaited
        self.last_state = last_state
        self.elapsed = elapsed
        self.operation = operation
        self.diagnosis = diagnosis
        self.resume = resume or (f"operations.wait({operation!r})" if operation else None)
        parts = [f"timed out after {elapsed:.0f}s waiting for {awaited}"]
        parts.append(f"last state: {last_state or 'unknown'}")
        if self.resume:
            parts.append(f"resume with {self.resume}")
        if diagnosis is not None:
            parts.append(str(diagnosis))
        super().__init__("; ".join(parts))

    def _format(self) -> str:
        return self.message


class LockTimeout(WaitTimeout):
    """The time allowed ran out while another operation held what the request changes: the
    Apigee organization lock (one long-running operation at a time per organization) or a
    Compute resource another operation is still changing.

    ``holder`` names that operation when the API said which; ``error`` is the last answer
    (its ``method`` and ``url`` are this error's too).
    """

    def __init__(self, awaited: str, *, holder: str | None, error: ApiError, elapsed: float) -> None:
        self.holder = holder
        self.error = error
        held = f" (held by operation {holder})" if holder else ""
        state = f"{error.status_code} {error.rpc_status or ''}".replace("  ", " ").strip()
        super().__init__(f"{awaited}{held}", last_state=f"{state}: {error.message[:200]}", elapsed=elapsed)
        self.method = error.method
        self.url = error.url


class ConnectionNotAccepted(ApiError):
    """The endpoint attachment's PSC connection is not ACCEPTED and will not become so by
    waiting (REJECTED, CLOSED, FROZEN), or stayed PENDING / NEEDS_ATTENTION past the deadline.

    ``diagnosis`` says why and what to do; ``attachment`` is the last attachment seen.
    """

    def __init__(self, diagnosis: Diagnosis, *, attachment: Any = None) -> None:
        self.diagnosis = diagnosis
        self.attachment = attachment
        name = getattr(attachment, "name", None)
        prefix = f"endpoint attachment {name}: " if name else ""
        super().__init__(f"{prefix}{diagnosis}")

    def _format(self) -> str:
        return self.message
