"""Deterministic fault injection.

Two kinds of faults, set with ``POST /_emulator/faults`` (or :meth:`FaultInjector.configure`)::

    {"seed": 7,
     "rules": [
       {"api": "apigee", "method": "POST", "path": "/endpointAttachments$",
        "status": 429, "retry_after": 1, "count": 2},          # first 2 matching requests
       {"api": "compute", "method": "PATCH", "path": "/serviceAttachments/",
        "status": 409, "reason": "operationInProgress", "count": 1},   # Compute's 409
       {"api": "compute", "method": "PATCH", "status": 400, "reason": "resourceNotReady"},  # or its 400
       {"api": "compute", "status": 503, "rate": 0.3},         # 30 % of them (seeded)
       {"path": "serviceAttachments", "method": "POST", "reset": "after", "count": 1},
       {"status": 401, "count": 1},                            # token expiry, once
       {"path": "/operations/", "delay": 0.5}],                # slow answers
     "operations": [
       {"kind": "apigee.endpointAttachments.create", "outcome": "fail", "code": 500,
        "message": "backend failed"},
       {"kind": "apigee.dnsZones", "outcome": "never"}]}

A request rule matches on ``api`` (apigee, compute, dns, crm, servicenetworking), ``method``
and ``path`` (a regular expression searched in the URL path); the first matching rule that
fires applies. It fires for its first ``count`` matches (unlimited when absent), each with
probability ``rate`` drawn from ``random.Random(seed)``. Its action is ``delay`` seconds,
then either an error ``status`` (with ``Retry-After`` for 429; ``reason`` and ``message``
set the error's reason and text, e.g. 409 ``operationInProgress`` or 400
``resourceNotReady``, whose default text names the request's resource; 409 defaults to
``aborted``) or ``reset`` of the
connection ``before`` the request is handled or ``after`` its change is committed.

An operation fault applies to the next ``count`` (default 1) operations whose kind
(``api.collection.verb``, e.g. ``compute.serviceAttachments.insert``) starts with ``kind``
(``*`` matches all): ``fail`` finishes them with an error, ``never`` keeps them running.
A bare JSON list is taken as ``rules``.
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from apigee_psc.emulator.errors import EmulatorError, InvalidArgument, error_for_status

__all__ = ["FaultDecision", "FaultInjector", "FaultRule", "OperationFault"]

JSON = dict[str, Any]
APIS = ("apigee", "compute", "dns", "crm", "servicenetworking")
_RPC_TO_HTTP = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "ABORTED": 409,
    "RESOURCE_EXHAUSTED": 429,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}


_RESOURCE_RE = re.compile(r"projects/[^/]+/(?:global|regions/[^/]+|zones/[^/]+)/[A-Za-z]+/[^/]+")


def _resource_of(path: str) -> str | None:
    """The Compute resource a request path names (``projects/P/regions/R/C/N``), if any."""
    match = _RESOURCE_RE.search(path)
    return match.group(0) if match else None


@dataclass
class FaultRule:
    """One request fault rule."""

    id: int
    method: str | None = None
    path: str | None = None
    api: str | None = None
    status: int | None = None
    retry_after: float | None = None
    message: str | None = None
    reason: str | None = None
    reset: str | None = None
    delay: float = 0.0
    count: int | None = None
    rate: float = 1.0
    hits: int = 0
    _regex: re.Pattern[str] | None = field(default=None, repr=False)

    def matches(self, method: str, path: str, api: str) -> bool:
        """Whether the request is one this rule is about (before count and rate)."""
        if self.method and self.method.upper() != method.upper():
            return False
        if self.api and self.api != api:
            return False
        return not (self._regex and not self._regex.search(path))

    def to_dict(self) -> JSON:
        """A JSON-ready copy (with ``hits`` and the ``remaining`` count)."""
        out: JSON = {k: v for k, v in self.__dict__.items() if not k.startswith("_") and v is not None}
        if self.count is not None:
            out["remaining"] = max(0, self.count - self.hits)
        return out


@dataclass
class OperationFault:
    """Make the next ``count`` operations of ``kind`` fail or never finish."""

    kind: str
    outcome: str
    code: int = 500
    message: str = "The operation failed (injected fault)."
    count: int = 1
    hits: int = 0

    def error(self) -> EmulatorError:
        """The error a failed operation carries."""
        err = error_for_status(self.code, self.message)
        return err

    def applies_to(self, kind: str) -> bool:
        """Whether ``kind`` is this fault's kind or below it."""
        return self.kind in ("*", kind) or kind.startswith(self.kind + ".")

    def to_dict(self) -> JSON:
        """A JSON-ready copy."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class FaultDecision:
    """What to do to one request."""

    rule: int
    delay: float = 0.0
    error: EmulatorError | None = None
    reset: str | None = None

    @property
    def label(self) -> str:
        """A short description for the request log."""
        if self.reset:
            return f"reset-{self.reset}"
        if self.error is not None:
            return f"status-{self.error.http_status}"
        return f"delay-{self.delay:g}"


class FaultInjector:
    """Holds the fault rules and decides, deterministically, which requests they hit."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self.seed = seed
        self.rng = random.Random(seed)
        self.rules: list[FaultRule] = []
        self.operation_faults: list[OperationFault] = []
        self._next_id = 1

    def clear(self) -> None:
        """Remove every fault and re-seed."""
        with self._lock:
            self.rules.clear()
            self.operation_faults.clear()
            self.rng = random.Random(self.seed)

    def configure(self, spec: Any, *, append: bool = False) -> None:
        """Set the faults from ``spec`` (see the module docstring); 400 if it is malformed."""
        if isinstance(spec, list):
            spec = {"rules": spec}
        if not isinstance(spec, dict):
            raise InvalidArgument("faults: expected a JSON object or a list of rules")
        unknown = set(spec) - {"seed", "rules", "operations", "append"}
        if unknown:
            raise InvalidArgument(f"faults: unknown keys {sorted(unknown)}")
        rules = [self._rule(r) for r in spec.get("rules") or []]
        ops = [self._op_fault(o) for o in spec.get("operations") or []]
        with self._lock:
            if not (append or spec.get("append")):
                self.rules.clear()
                self.operation_faults.clear()
            if "seed" in spec:
                self.seed = int(spec["seed"])
                self.rng = random.Random(self.seed)
            self.rules.extend(rules)
            self.operation_faults.extend(ops)

    def _rule(self, raw: Any) -> FaultRule:
        if not isinstance(raw, dict):
            raise InvalidArgument("faults: each rule must be an object")
        match = raw.get("match") or {}
        merged = {**raw, **match}
        merged.pop("match", None)
        allowed = {
            "method",
            "path",
            "api",
            "status",
            "retry_after",
            "message",
            "reason",
            "reset",
            "delay",
            "count",
            "rate",
        }
        unknown = set(merged) - allowed
        if unknown:
            raise InvalidArgument(f"faults: unknown rule keys {sorted(unknown)}")
        if merged.get("api") not in (None, *APIS):
            raise InvalidArgument(f"faults: api must be one of {APIS}")
        if merged.get("reset") not in (None, "before", "after"):
            raise InvalidArgument("faults: reset must be 'before' or 'after'")
        if merged.get("status") is None and merged.get("reset") is None and not merged.get("delay"):
            raise InvalidArgument("faults: a rule needs a status, a reset or a delay")
        try:
            regex = re.compile(merged["path"]) if merged.get("path") else None
        except re.error as exc:
            raise InvalidArgument(f"faults: bad path regex: {exc}") from exc
        rate = float(merged.get("rate", 1.0))
        if not 0.0 <= rate <= 1.0:
            raise InvalidArgument("faults: rate must be between 0 and 1")
        with self._lock:
            rule_id = self._next_id
            self._next_id += 1
        status = merged.get("status")
        retry_after = merged.get("retry_after")
        if status == 429 and retry_after is None:
            retry_after = 1
        return FaultRule(
            id=rule_id,
            method=merged.get("method"),
            path=merged.get("path"),
            api=merged.get("api"),
            status=int(status) if status is not None else None,
            retry_after=float(retry_after) if retry_after is not None else None,
            message=merged.get("message"),
            reason=str(merged["reason"]) if merged.get("reason") else None,
            reset=merged.get("reset"),
            delay=float(merged.get("delay") or 0.0),
            count=int(merged["count"]) if merged.get("count") is not None else None,
            rate=rate,
            _regex=regex,
        )

    @staticmethod
    def _op_fault(raw: Any) -> OperationFault:
        if not isinstance(raw, dict) or not isinstance(raw.get("kind"), str):
            raise InvalidArgument("faults: each operation fault needs a 'kind'")
        outcome = raw.get("outcome", "fail")
        if outcome not in ("fail", "never"):
            raise InvalidArgument("faults: outcome must be 'fail' or 'never'")
        code = raw.get("code", 500)
        if isinstance(code, str):
            if code not in _RPC_TO_HTTP:
                raise InvalidArgument(f"faults: unknown code {code!r}")
            code = _RPC_TO_HTTP[code]
        return OperationFault(
            kind=raw["kind"],
            outcome=outcome,
            code=int(code),
            message=str(raw.get("message") or "The operation failed (injected fault)."),
            count=int(raw.get("count", 1)),
        )

    def decide(self, method: str, path: str, api: str) -> FaultDecision | None:
        """The fault (if any) for one request; consumes counts and random draws."""
        with self._lock:
            for rule in self.rules:
                if rule.count is not None and rule.hits >= rule.count:
                    continue
                if not rule.matches(method, path, api):
                    continue
                if rule.rate < 1.0 and self.rng.random() >= rule.rate:
                    continue
                rule.hits += 1
                error = None
                if rule.status is not None and rule.reset is None:
                    error = error_for_status(rule.status, rule.message, rule.reason, _resource_of(path))
                    if rule.retry_after is not None:
                        error.headers["Retry-After"] = f"{rule.retry_after:g}"
                    if rule.status == 401:
                        error.headers["WWW-Authenticate"] = 'Bearer realm="https://accounts.google.com/"'
                return FaultDecision(rule.id, rule.delay, error, rule.reset)
        return None

    def take_operation_fault(self, kind: str) -> OperationFault | None:
        """The operation fault for the next operation of ``kind`` (consumes one count)."""
        with self._lock:
            for fault in self.operation_faults:
                if fault.hits < fault.count and fault.applies_to(kind):
                    fault.hits += 1
                    return fault
        return None

    def dump(self) -> JSON:
        """The configured faults with their hit counts."""
        with self._lock:
            return {
                "seed": self.seed,
                "rules": [r.to_dict() for r in self.rules],
                "operations": [o.to_dict() for o in self.operation_faults],
            }
