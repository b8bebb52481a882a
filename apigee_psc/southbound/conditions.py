"""What a watch sees: conditions, resource and spec states, events, and the reasons a read
turns into.

Each spec's entities become three separate conditions, each with a stable ``reason`` and the
time it last changed status (``last_transition_time``), the Kubernetes way:

``ready``
    the endpoint attachment is ACTIVE and its connection ACCEPTED (reasons ``Accepted``,
    ``PendingAcceptList``, ``Rejected``, ``Closed``, ``Frozen``, ``NatExhausted``, ...);
``in_sync``
    the live resources equal the spec (``InSync``, ``Drifted``, ``Missing``, ...);
``owned``
    no resource the spec manages belongs to someone else (``Owned``, ``ForeignOwner``, ...).

Reads that fail say ``ApiError`` (or ``OrgLocked`` when the Apigee organization lock answered)
with status ``Unknown``. Messages carry the fix in :mod:`apigee_psc.diagnosis`'s words.

Nothing here reads an API: :class:`~apigee_psc.southbound.watch.Watcher` reads, these
functions name what it read (:func:`resource_state`, :func:`rollup`).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from apigee_psc import errors
from apigee_psc._retry import is_org_lock
from apigee_psc.southbound.plan import Action, Change, FieldDiff

if TYPE_CHECKING:
    from apigee_psc.southbound.capacity import Capacity
    from apigee_psc.southbound.resources.base import Assessment, Context, Seen

__all__ = [
    "CONDITION_TYPES",
    "EVENT_TYPES",
    "Condition",
    "PassRead",
    "ResourceState",
    "SpecState",
    "WatchEvent",
    "read_failure",
    "resource_state",
    "rollup",
]

READY, IN_SYNC, OWNED = "ready", "in_sync", "owned"
CONDITION_TYPES = (READY, IN_SYNC, OWNED)
TRUE, FALSE, UNKNOWN = "True", "False", "Unknown"
#: Kinds written through an Apigee long-running operation (one at a time per organization).
APIGEE_KINDS = frozenset({"EndpointAttachment", "DnsZone"})

#: ``connectionState`` -> the ``ready`` condition's reason.
_CONNECTION_REASONS = {
    "ACCEPTED": "Accepted",
    "ACCEPTED_LIMITED_CAPACITY": "AcceptedLimitedCapacity",
    "PENDING": "PendingAcceptList",
    "REJECTED": "Rejected",
    "CLOSED": "Closed",
    "FROZEN": "Frozen",
    "NEEDS_ATTENTION": "NeedsAttention",
    "UNAVAILABLE": "Provisioning",
    "CONNECTION_STATE_UNSPECIFIED": "Provisioning",
}


def iso(seconds: float) -> str:
    """``seconds`` since the epoch in RFC 3339, UTC, to the millisecond."""
    stamp = datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")



@dataclass(frozen=True)
class Condition:
    """One condition of a spec or resource: ``type`` (``ready``, ``in_sync``, ``owned``),
    ``status`` (``"True"``, ``"False"``, ``"Unknown"``), a stable CamelCase ``reason``, a
    ``message`` that says what to do, and when the status last changed (epoch seconds)."""

    type: str
    status: str
    reason: str
    message: str = ""
    last_transition_time: float = 0.0

    @property
    def ok(self) -> bool:
        """True when the status is ``"True"``."""
        return self.status == TRUE

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (``last_transition_time`` in RFC 3339, UTC)."""
        data: dict[str, Any] = {"type": self.type, "status": self.status, "reason": self.reason}
        if self.message:
            data["message"] = errors.redact(self.message)
        data["last_transition_time"] = iso(self.last_transition_time)
        return data


@dataclass(frozen=True)
class ResourceState:
    """One resource of a spec as a pass saw it: its conditions and, when it drifted, the
    differences between live and spec."""

    kind: str
    name: str
    resource_id: str
    conditions: tuple[Condition, ...]
    fields: tuple[FieldDiff, ...] = ()
    action: str = "no-op"

    def condition(self, type_: str) -> Condition | None:
        """The condition of ``type_`` (``None`` when the kind has none of it)."""
        return next((c for c in self.conditions if c.type == type_), None)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        data: dict[str, Any] = {"kind": self.kind, "name": self.name, "id": self.resource_id, "action": self.action}
        data["conditions"] = [c.to_dict() for c in self.conditions]
        if self.fields:
            data["fields"] = [f.to_dict() for f in self.fields]
        return data


@dataclass(frozen=True)
class SpecState:
    """One spec after one pass: its conditions, its resources', the connection's state and
    the service attachment's NAT capacity (``None`` when it could not be read)."""

    spec: str
    organization: str
    conditions: tuple[Condition, ...]
    resources: tuple[ResourceState, ...] = ()
    connection_state: str | None = None
    capacity: Capacity | None = None
    propagated_connections: int | None = None
    error: str | None = None
    observed_at: float = 0.0
    duration: float = 0.0

    def condition(self, type_: str) -> Condition:
        """The spec's condition of ``type_``."""
        return next(c for c in self.conditions if c.type == type_)

    @property
    def ready(self) -> bool:
        """True when the connection is ACTIVE and ACCEPTED."""
        return self.condition(READY).ok

    @property
    def in_sync(self) -> bool:
        """True when every resource equals the spec."""
        return self.condition(IN_SYNC).ok

    @property
    def ok(self) -> bool:
        """Ready, in sync and without an ownership conflict."""
        return all(c.ok for c in self.conditions)

    def resource(self, kind: str) -> ResourceState | None:
        """The resource of ``kind``, if the spec has one and it was read."""
        return next((r for r in self.resources if r.kind == kind), None)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        data: dict[str, Any] = {
            "spec": self.spec,
            "organization": self.organization,
            "observed_at": iso(self.observed_at),
            "conditions": [c.to_dict() for c in self.conditions],
            "resources": [r.to_dict() for r in self.resources],
        }
        if self.connection_state:
            data["connection_state"] = self.connection_state
        if self.capacity is not None:
            data["capacity"] = self.capacity.to_dict()
        if self.propagated_connections is not None:
            data["propagated_connections"] = self.propagated_connections
        if self.error:
            data["error"] = errors.redact(self.error)
        return data


#: Every ``type`` of :class:`WatchEvent`.
EVENT_TYPES = ("condition", "drift", "heal_planned", "heal_done", "heal_failed", "heal_skipped", "pass", "error")


@dataclass(frozen=True)
class WatchEvent:
    """One thing a watch saw or did, as one JSON object a line (``apigee-psc schema event``).

    ``type`` is one of :data:`EVENT_TYPES`. A ``condition`` event names the condition and its
    ``status``/``reason``/``message`` with the ``previous`` ones; ``drift`` carries the
    resource's ``fields`` (live -> wanted); ``heal_*`` the ``change`` planned or applied (or why
    it was skipped, in ``message``); ``pass`` ends each spec's pass with its ``duration`` and
    ``requests``; ``error`` is a pass that failed as a whole. ``kind``/``name`` are ``None``
    for the spec's own conditions."""

    type: str
    spec: str
    time: float
    kind: str | None = None
    name: str | None = None
    condition: str | None = None
    status: str | None = None
    reason: str | None = None
    message: str | None = None
    previous_status: str | None = None
    previous_reason: str | None = None
    fields: tuple[FieldDiff, ...] = ()
    change: Change | None = None
    duration: float | None = None
    requests: int | None = None
    state: SpecState | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (no ``None`` values; messages redacted)."""
        data: dict[str, Any] = {"type": self.type, "time": iso(self.time), "spec": self.spec}
        for key in ("kind", "name", "condition", "status", "reason", "previous_status", "previous_reason"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        if self.message:
            data["message"] = errors.redact(self.message)
        if self.fields:
            data["fields"] = [f.to_dict() for f in self.fields]
        if self.change is not None:
            change = self.change.to_dict()
            data["change"] = {k: v for k, v in change.items() if k not in ("live", "wanted")}
        if self.duration is not None:
            data["duration_seconds"] = round(self.duration, 6)
        if self.requests is not None:
            data["requests"] = self.requests
        if self.type == "pass" and self.state is not None:
            summary = self.state.to_dict()
            data["conditions"] = summary["conditions"]
            for key in ("connection_state", "capacity", "propagated_connections"):
                if key in summary:
                    data[key] = summary[key]
        return data

    def to_json(self) -> str:
        """One line of JSON."""
        import json

        return json.dumps(self.to_dict(), sort_keys=False)

    def to_text(self) -> str:
        """One line for a terminal."""
        where = f"{self.kind} {self.name}" if self.kind else "connection"
        if self.type == "condition":
            was = f" (was {self.previous_status}/{self.previous_reason})" if self.previous_status else ""
            text = f"{self.condition}={self.status} {self.reason}{was}"
        elif self.type == "drift":
            text = "drift: " + "; ".join(str(f) for f in self.fields)
        elif self.type == "pass":
            text = f"pass in {self.duration or 0:.2f}s, {self.requests} request(s)"
        else:
            text = self.type.replace("_", " ")
        if self.message and self.type != "pass":
            text += f": {self.message}"
        return errors.redact(f"{iso(self.time)} {self.spec}: {where}: {text}")


# -- turning one read into conditions ------------------------------------------------------------


def read_failure(error: BaseException) -> tuple[str, str]:
    """The reason (``OrgLocked`` or ``ApiError``) and message of a failed read."""
    from apigee_psc.southbound.resources.base import message

    if is_org_lock(error):
        return "OrgLocked", (
            f"{message(error)}; another tool's Apigee operation holds the organization lock: it is waited out,"
            " nothing is written meanwhile"
        )
    return "ApiError", message(error)


@dataclass
class PassRead:
    """What one pass read of one spec: the engine's context, kinds, snapshot and assessments,
    and another's running Apigee operation (``lock``, seen running since ``lock_since``) when
    this spec needs one."""

    ctx: Context
    kinds: Sequence[Any]
    snap: Mapping[str, Seen]
    found: Mapping[str, Assessment]
    lock: Any = None
    lock_since: float = 0.0


def resource_state(read: PassRead, r: Any, capacity: Capacity | None) -> ResourceState:
    """The conditions of the resource ``r`` (a reconciler) as ``read`` saw it."""
    from apigee_psc.southbound.resources.base import Seen

    seen: Seen = read.snap.get(r.kind, Seen())
    assessment = read.found[r.kind]
    change = assessment.change
    conditions = [_in_sync(read, r, seen, assessment), _owned(read, r, seen, assessment)]
    if r.kind == "EndpointAttachment":
        conditions.insert(0, _ready(read, seen, capacity))
    fields = change.fields if change.action in (Action.UPDATE, Action.REPLACE, Action.CREATE) else ()
    return ResourceState(r.kind, change.name, change.resource_id, tuple(conditions), fields, change.action.value)


def _in_sync(read: PassRead, r: Any, seen: Seen, assessment: Assessment) -> Condition:
    if seen.error is not None:
        return Condition(IN_SYNC, UNKNOWN, *read_failure(seen.error))
    change = assessment.change
    source = read.ctx.spec.source or "SPEC"
    if change.action in (Action.NOOP, Action.WAIT) and not assessment.problems:
        return Condition(IN_SYNC, TRUE, "InSync", change.note)
    if r.kind in APIGEE_KINDS and read.lock is not None and not assessment.problems:
        op = read.lock
        since = iso(read.lock_since)
        text = (
            f"{r.kind} {change.name} needs an Apigee operation ({change.action.value}), but"
            f" {op.name} ({op.operation_type or 'an operation'} of {op.target or 'another resource'}) holds the"
            f" organization lock, running since at least {since}; apply waits for it: if it stays, ask who"
            f" started it (gcloud/Terraform/apigeecli) before changing anything"
        )
        return Condition(IN_SYNC, FALSE, "OrgLocked", text)
    if seen.live is None:
        if not r.managed:
            text = f"{r.kind} {change.name} does not exist; the spec only refers to it: create it, or fix the spec"
            return Condition(IN_SYNC, FALSE, "NotFound", text)
        text = f"{r.kind} {change.name} does not exist; fix: apigee-psc apply {source}"
        return Condition(IN_SYNC, FALSE, "Missing", "; ".join(assessment.problems) or text)
    if change.action in (Action.UPDATE, Action.REPLACE):
        fix = "; ".join(assessment.problems) or f"fix: apigee-psc apply {source}"
        return Condition(IN_SYNC, FALSE, "Drifted", f"{'; '.join(change.diffs)}; {fix}")
    return Condition(IN_SYNC, FALSE, "Conflict", "; ".join(assessment.problems))


def _owned(read: PassRead, r: Any, seen: Seen, assessment: Assessment) -> Condition:
    if seen.error is not None:
        return Condition(OWNED, UNKNOWN, *read_failure(seen.error))
    owned = assessment.owned
    if not r.managed:
        return Condition(OWNED, TRUE, "Referenced", "the spec refers to it; apigee-psc never changes it")
    if seen.live is None:
        return Condition(OWNED, TRUE, "Absent")
    if owned is True:
        return Condition(OWNED, TRUE, "Owned")
    if owned is None:
        return Condition(OWNED, TRUE, "Unmarked", "this kind carries no ownership mark")
    if read.ctx.adopt:
        return Condition(OWNED, TRUE, "Adopted", "adopt: true takes it over")
    if assessment.change.writes:
        problems = [p for p in assessment.problems if "did not create" in p] or list(assessment.problems)
        return Condition(OWNED, FALSE, "ForeignOwner", "; ".join(problems))
    return Condition(OWNED, TRUE, "NotMarked", "not created by apigee-psc, but it matches the spec")


def _ready(read: PassRead, seen: Seen, capacity: Capacity | None) -> Condition:
    from apigee_psc.southbound.resources.endpoint_attachment import explain

    if seen.error is not None:
        return Condition(READY, UNKNOWN, *read_failure(seen.error))
    live = seen.live
    if live is None:
        return Condition(
            READY, FALSE, "NotFound", f"endpoint attachment {read.ctx.spec.endpoint_attachment.name} does not exist"
        )
    state, connection = str(live.state), str(live.connection_state)
    if state in ("CREATING", "UPDATING", "STATE_UNSPECIFIED"):
        return Condition(READY, FALSE, "Provisioning", f"state {state}")
    if state == "DELETING":
        return Condition(READY, FALSE, "Deleting", "the endpoint attachment is being deleted")
    sa = read.snap.get("ServiceAttachment")
    diagnosis = explain(read.ctx, live, sa.live if sa is not None else None)
    reason = _CONNECTION_REASONS.get(connection, "Unknown")
    text = str(diagnosis)
    if connection == "NEEDS_ATTENTION" and capacity is not None and capacity.exhausted:
        reason = "NatExhausted"
        text = (
            f"connectionState NEEDS_ATTENTION: the NAT subnets of {live.service_attachment} are exhausted"
            f" ({capacity}); fix: add a NAT subnet to the service attachment (it does not interrupt traffic)"
            " or lower its consumers' connection limits"
        )
    if diagnosis.ok and state == "ACTIVE":
        return Condition(READY, TRUE, reason, text if diagnosis.fix else "")
    return Condition(READY, FALSE if reason != "Unknown" else UNKNOWN, reason, text)


def rollup(resources: Sequence[ResourceState]) -> tuple[Condition, ...]:
    """The spec's conditions: ``ready`` is the endpoint attachment's; ``in_sync`` and
    ``owned`` are the first resource's that is False (else Unknown, else True)."""
    out: list[Condition] = []
    for type_ in CONDITION_TYPES:
        found = [(r, c) for r in resources if (c := r.condition(type_)) is not None]
        worst = next(((r, c) for r, c in found if c.status == FALSE), None)
        worst = worst or next(((r, c) for r, c in found if c.status == UNKNOWN), None)
        if worst is None:
            default = "Accepted" if type_ == READY else "InSync" if type_ == IN_SYNC else "Owned"
            out.append(Condition(type_, TRUE if found else UNKNOWN, default if found else "Unknown"))
            continue
        r, c = worst
        out.append(Condition(type_, c.status, c.reason, f"{r.kind} {r.name}: {c.message}".rstrip(": ")))
    ready = next((c for r, c in ((r, r.condition(READY)) for r in resources) if c is not None), None)
    if ready is not None:
        out[0] = ready
    return tuple(out)
