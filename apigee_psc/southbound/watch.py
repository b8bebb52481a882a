"""Watch southbound connections on day two: observe each pass, heal only when asked.

A :class:`Watcher` reads, every ``interval`` (jittered), what :meth:`Southbound.status` reads,
through the same reconcilers (``read``, ``assess``, ``realize``), and turns each spec's
entities into three separate conditions, each with a stable ``reason`` and the time it last
changed status (``last_transition_time``), the Kubernetes way:

``ready``
    the endpoint attachment is ACTIVE and its connection ACCEPTED (reasons ``Accepted``,
    ``PendingAcceptList``, ``Rejected``, ``Closed``, ``Frozen``, ``NatExhausted``, ...);
``in_sync``
    the live resources equal the spec (``InSync``, ``Drifted``, ``Missing``, ...);
``owned``
    no resource the spec manages belongs to someone else (``Owned``, ``ForeignOwner``, ...).

Reads that fail say ``ApiError`` (or ``OrgLocked`` when the Apigee organization lock answered)
with status ``Unknown``. Messages carry the fix in :mod:`apigee_psc.diagnosis`'s words.

Each pass yields :class:`WatchEvent` s: condition transitions, drift with its field diff, heal
planned / done / failed / skipped, and a ``pass`` summary per spec; never a token. One failing
spec or API never stops the loop: that spec backs off (doubling passes skipped, up to
``max_backoff`` seconds) while the others go on.

Healing is off by default (``heal="none"``). With ``heal="safe"`` it applies, through
:meth:`Southbound.apply` with a plan narrowed to those changes (so the saved-plan re-check and
the organization lock work as for any apply), only changes that widen nothing, on resources
this spec owns or creates: a deleted firewall rule or A record is created again, a firewall
rule of this spec's that was changed is restored, the Apigee project is put back on the
accept list of the spec's service attachment. Anything else is reported, never healed
(:func:`heal_refusal` says why).
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import html
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from apigee_psc import errors
from apigee_psc._http import is_org_lock
from apigee_psc.southbound.capacity import Capacity, nat_capacity
from apigee_psc.southbound.metrics import api_of
from apigee_psc.southbound.plan import Action, Change, FieldDiff

if TYPE_CHECKING:
    from apigee_psc.southbound.engine import Southbound
    from apigee_psc.southbound.metrics import WatchMetrics
    from apigee_psc.southbound.resources.base import Assessment, Context, Seen
    from apigee_psc.southbound.spec import SouthboundSpec

__all__ = [
    "HEAL_MODES",
    "Condition",
    "ResourceState",
    "SpecState",
    "WatchEvent",
    "Watcher",
    "heal_refusal",
    "parse_interval",
]

logger = logging.getLogger("apigee_psc.southbound")

READY, IN_SYNC, OWNED = "ready", "in_sync", "owned"
CONDITION_TYPES = (READY, IN_SYNC, OWNED)
TRUE, FALSE, UNKNOWN = "True", "False", "Unknown"
HEAL_MODES = ("none", "safe")
#: Kinds whose absence a safe heal may repair by creating them (they hold no one's traffic
#: but this spec's, and creating them widens nothing the spec does not say).
_RECREATE = frozenset({"Firewall", "DnsRecord"})
#: Kinds written through an Apigee long-running operation (one at a time per organization).
_APIGEE_KINDS = frozenset({"EndpointAttachment", "DnsZone"})

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


def _now() -> float:
    return time.time()


def _iso(seconds: float) -> str:
    stamp = datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_interval(text: str | float) -> float:
    """Seconds from ``300``, ``"300"``, ``"30s"``, ``"5m"``, ``"1h"`` or ``"1h30m"``."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = float(text)
    else:
        value = str(text).strip().lower()
        units = {"h": 3600.0, "m": 60.0, "s": 1.0}
        seconds, number = 0.0, ""
        try:
            for char in value:
                if char.isdigit() or char == ".":
                    number += char
                elif char in units and number:
                    seconds, number = seconds + float(number) * units[char], ""
                else:
                    raise ValueError(char)
            seconds += float(number) if number else 0.0
        except ValueError:
            raise errors.ValidationError("interval", text, "seconds, or a duration such as 30s, 5m, 1h") from None
        if not value or value[-1] == ".":
            raise errors.ValidationError("interval", text, "seconds, or a duration such as 30s, 5m, 1h")
    if not seconds > 0 or seconds != seconds or seconds == float("inf"):
        raise errors.ValidationError("interval", text, "a finite duration of more than 0 seconds")
    return seconds


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
        data["last_transition_time"] = _iso(self.last_transition_time)
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
            "observed_at": _iso(self.observed_at),
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
        data: dict[str, Any] = {"type": self.type, "time": _iso(self.time), "spec": self.spec}
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
        return errors.redact(f"{_iso(self.time)} {self.spec}: {where}: {text}")


# -- turning one read into conditions ------------------------------------------------------------


def _read_failure(error: BaseException) -> tuple[str, str]:
    from apigee_psc.southbound.resources.base import message

    if is_org_lock(error):
        return "OrgLocked", (
            f"{message(error)}; another tool's Apigee operation holds the organization lock: it is waited out,"
            " nothing is written meanwhile"
        )
    return "ApiError", message(error)


def heal_refusal(change: Change, owned: bool | None, tenant: str | None) -> str | None:
    """Why ``change`` may not be healed under ``--heal safe`` (``None``: it may).

    Safe: creating a firewall rule or A record the spec owns that is gone; restoring a
    firewall rule this spec created; putting the Apigee project (``tenant``) back on the
    accept list of a service attachment this spec created. Never: anything foreign, any
    deletion, and anything that widens access beyond what was there (a preference switch,
    another consumer, a lifted rejection or limit)."""
    if change.action is Action.NOOP or change.action is Action.WAIT:
        return "nothing to write"
    if owned is False:
        return "not created by apigee-psc: reported, never healed"
    if change.action is Action.DELETE:
        return "a deletion: reported, never healed"
    if change.action is Action.CREATE:
        if change.kind in _RECREATE:
            return None
        return f"re-creating a {change.kind} is left to apply (it may take long or need a fresh connection)"
    if owned is not True:
        return "not marked as this spec's: reported, never healed"
    if change.kind == "Firewall" and change.action is Action.REPLACE:
        return None
    if change.kind == "ServiceAttachment" and change.action is Action.UPDATE:
        widening = [f for f in change.fields if not (f.field == "accept" and f.op == "add" and f.after == tenant)]
        if not widening:
            return None
        return "it would change more than the Apigee project's accept entry (" + "; ".join(map(str, widening)) + ")"
    return f"{change.action.value} of a {change.kind} is not a safe heal"


@dataclass
class _Read:
    """What one pass read of one spec (the engine's context, kinds, snapshot, assessments)."""

    ctx: Context
    kinds: Sequence[Any]
    snap: Mapping[str, Seen]
    found: Mapping[str, Assessment]
    lock: Any = None  # another's running Apigee operation, when this spec needs one


class _Tracker:
    """Conditions as last seen, to stamp transitions and emit only changes."""

    def __init__(self) -> None:
        self.last: dict[tuple[str, str | None, str], Condition] = {}
        self.drift: dict[tuple[str, str], tuple[FieldDiff, ...]] = {}

    def stamp(self, spec: str, kind: str | None, new: Condition, now: float) -> tuple[Condition, Condition | None]:
        """``new`` with its transition time, and the previous condition when status or reason changed."""
        key = (spec, kind, new.type)
        old = self.last.get(key)
        since = now if old is None or old.status != new.status else old.last_transition_time
        stamped = dataclasses.replace(new, last_transition_time=since)
        self.last[key] = stamped
        changed = old is None or (old.status, old.reason) != (new.status, new.reason)
        return stamped, (old if changed else stamped)


class Watcher:
    """Watch ``specs``: :meth:`run_pass` reads each once and returns their :class:`SpecState`;
    :meth:`events` iterates passes forever (or ``once``) yielding :class:`WatchEvent` s;
    :meth:`run` does the same with an ``on_event`` callback.

    ``interval`` (seconds or ``"5m"``) is the pause between passes, varied by ``jitter`` (a
    fraction: 0.1 is +/-10 %); ``heal`` is ``"none"`` (observe only) or ``"safe"``;
    ``metrics`` (a :class:`~apigee_psc.southbound.metrics.WatchMetrics`) is updated after each
    spec's pass; ``after_pass`` is called with every spec's state after each whole pass (to
    write a textfile or push metrics once a pass); ``apigee_budget`` caps the Apigee requests
    a minute (specs are paced to stay within it); ``options`` go to each :class:`Southbound`
    (credentials, endpoint, timeout...).
    A spec whose pass fails is skipped for 1, 2, 4... passes (at most ``max_backoff`` seconds).
    """

    def __init__(
        self,
        specs: Sequence[SouthboundSpec],
        *,
        interval: float | str = 300.0,
        jitter: float = 0.1,
        heal: str = "none",
        on_event: Callable[[WatchEvent], None] | None = None,
        metrics: WatchMetrics | None = None,
        max_backoff: float = 3600.0,
        apigee_budget: float = 600.0,
        after_pass: Callable[[Mapping[str, SpecState]], None] | None = None,
        clock: Callable[[], float] = _now,
        rng: random.Random | None = None,
        **options: Any,
    ) -> None:
        if not specs:
            raise errors.ValidationError("specs", specs, "at least one spec")
        if heal not in HEAL_MODES:
            raise errors.ValidationError("heal", heal, f"one of {', '.join(HEAL_MODES)}")
        if not (isinstance(jitter, (int, float)) and 0 <= jitter < 1):
            raise errors.ValidationError("jitter", jitter, "a fraction from 0 up to (not including) 1")
        sources = [spec.source or spec.endpoint_attachment_path for spec in specs]
        if len(set(sources)) != len(sources):
            raise errors.ValidationError("specs", sources, "each spec once")
        self.specs = list(specs)
        self.interval = parse_interval(interval)
        self.jitter = float(jitter)
        self.heal = heal
        self.on_event = on_event
        self.metrics = metrics
        self.max_backoff = max_backoff
        if not (isinstance(apigee_budget, (int, float)) and apigee_budget > 0):
            raise errors.ValidationError(
                "apigee_budget", apigee_budget, "a number of Apigee requests a minute, above 0"
            )
        self.apigee_budget = float(apigee_budget)
        self.after_pass = after_pass
        self._apigee_log: collections.deque[tuple[float, int]] = collections.deque()
        self.clock = clock
        self.rng = rng or random.Random()
        self.options = options
        self.states: dict[str, SpecState] = {}
        self.passes = 0
        self._tracker = _Tracker()
        self._southbounds: dict[str, Southbound] = {}
        self._errors: dict[str, int] = {}
        self._skip: dict[str, int] = {}
        self._stop: threading.Event | None = None
        self._operations: dict[tuple[str, int], list[Any] | None] = {}  # (org, pass) -> running operations
        self._lock_seen: dict[str, float] = {}  # operation -> when a pass first saw it running

    def __repr__(self) -> str:
        return f"Watcher({len(self.specs)} spec(s), interval={self.interval:g}s, heal={self.heal!r})"

    @staticmethod
    def key(spec: SouthboundSpec) -> str:
        """How a spec is named in events and metrics: its file, else its endpoint attachment."""
        return spec.source or spec.endpoint_attachment_path

    def southbound(self, spec: SouthboundSpec) -> Southbound:
        """The spec's :class:`Southbound`, built once (its clients are reused by every pass)."""
        key = self.key(spec)
        if key not in self._southbounds:
            from apigee_psc.southbound.engine import Southbound

            self._southbounds[key] = Southbound(spec, **self.options)
        return self._southbounds[key]

    # -- the loop ----------------------------------------------------------------------------

    def next_delay(self) -> float:
        """The pause before the next pass: ``interval`` +/- ``jitter``."""
        spread = self.interval * self.jitter
        return max(0.0, self.interval + self.rng.uniform(-spread, spread))

    def pace(self) -> float:
        """Seconds to wait before the next spec so that the Apigee requests of the last minute,
        with as many again as the last spec needed, stay within ``apigee_budget``."""
        now = time.monotonic()
        log = self._apigee_log
        while log and log[0][0] <= now - 60.0:
            log.popleft()
        if not log:
            return 0.0
        needed = log[-1][1]
        spent = sum(n for _, n in log)
        wait = 0.0
        for at, n in log:  # wait until enough of the oldest requests leave the minute
            if spent + needed <= self.apigee_budget:
                break
            spent -= n
            wait = at + 60.0 - now
        return max(0.0, wait)

    def events(self, *, once: bool = False, stop: threading.Event | None = None) -> Iterator[WatchEvent]:
        """Pass after pass (one with ``once``), yield each event as it happens; ends when
        ``stop`` is set (checked between specs and during the pause)."""
        stop = stop or threading.Event()
        self._stop = stop  # a heal in progress stops at its next safe point when it is set
        while not stop.is_set():
            queue: list[WatchEvent] = []
            for spec in self.specs:
                if stop.is_set() or stop.wait(self.pace()):
                    return
                self._pass_one(spec, queue.append)
                yield from queue
                queue.clear()
            self.passes += 1
            if self.after_pass is not None:
                self.after_pass(dict(self.states))
            if once or stop.wait(self.next_delay()):
                return

    def run(self, *, once: bool = False, stop: threading.Event | None = None) -> dict[str, SpecState]:
        """Run the loop, sending every event to ``on_event``; returns the last states."""
        for event in self.events(once=once, stop=stop):
            if self.on_event is not None:
                self.on_event(event)
        return dict(self.states)

    def run_pass(self) -> list[SpecState]:
        """One pass over every spec (backoff ignored); events go to ``on_event``."""
        emit = self.on_event or (lambda event: None)
        self.passes += 1
        states = [self._pass_one(spec, emit, force=True) for spec in self.specs]
        if self.after_pass is not None:
            self.after_pass(dict(self.states))
        return states

    # -- one spec ----------------------------------------------------------------------------

    def _pass_one(self, spec: SouthboundSpec, emit: Callable[[WatchEvent], None], *, force: bool = False) -> SpecState:
        key = self.key(spec)
        if not force and self._skip.get(key, 0) > 0:
            self._skip[key] -= 1
            return self.states[key]
        started = time.monotonic()
        count = [0]

        apigee = [0]

        def counted(what: str, status: int) -> None:
            count[0] += 1
            apigee[0] += api_of(what) == "apigee"
            if self.metrics is not None:
                self.metrics.request(what, status)

        from apigee_psc._http import observe_requests

        failure: BaseException | None = None
        with observe_requests(counted):
            try:
                state, read = self._observe(spec)
            except Exception as exc:  # noqa: BLE001 - one spec's trouble never stops the loop
                logger.warning("watch: %s: pass failed: %s", key, errors.redact(str(exc)))
                failure = exc
                state, read = self._failed(spec, exc), None
            state = self._transitions(state, emit)
            if failure is None and read is not None and self.heal == "safe":
                try:
                    if self._heal(spec, state, read, emit):
                        state = self._transitions(self._observe(spec)[0], emit)
                except Exception as exc:  # noqa: BLE001 - a heal's trouble is the heal's, never the loop's
                    logger.warning("watch: %s: heal failed: %s", key, errors.redact(str(exc)))
                    emit(WatchEvent("heal_failed", key, self.clock(), message=str(exc)))
        duration = time.monotonic() - started
        self._apigee_log.append((time.monotonic(), apigee[0]))
        state = dataclasses.replace(state, duration=duration)
        self.states[key] = state
        errored = state.error is not None
        self._errors[key] = self._errors.get(key, 0) + 1 if errored else 0
        if errored:
            self._skip[key] = self._backoff(self._errors[key])
            emit(WatchEvent("error", key, self.clock(), message=state.error, requests=count[0]))
        emit(WatchEvent("pass", key, self.clock(), duration=duration, requests=count[0], state=state))
        if self.metrics is not None:
            self.metrics.observe(state, consecutive_errors=self._errors[key], now=self.clock())
        return state

    def _backoff(self, failures: int) -> int:
        """Passes to skip after ``failures`` failed passes in a row: 0, 1, 3, 7... within max_backoff."""
        passes = 2 ** (failures - 1) - 1
        return int(min(passes, self.max_backoff // self.interval))

    def _failed(self, spec: SouthboundSpec, error: BaseException) -> SpecState:
        reason, text = _read_failure(error) if isinstance(error, errors.ApiError) else ("Unknown", str(error))
        conditions = tuple(Condition(t, UNKNOWN, reason, text) for t in CONDITION_TYPES)
        return SpecState(self.key(spec), spec.organization, conditions, error=text, observed_at=self.clock())

    def _observe(self, spec: SouthboundSpec) -> tuple[SpecState, _Read | None]:
        """Read the spec as status does and turn it into conditions."""
        from apigee_psc.southbound.resources.base import Seen

        sb = self.southbound(spec)
        now = self.clock()
        try:
            ctx = sb._context(sb._org())
        except errors.ApiError as exc:
            reason, text = _read_failure(exc)
            conditions = tuple(
                Condition(t, UNKNOWN, reason, f"organization {spec.organization}: {text}") for t in CONDITION_TYPES
            )
            return SpecState(self.key(spec), spec.organization, conditions, error=text, observed_at=now), None
        kinds = sb._kinds(ctx.org)
        snap = sb._read(ctx, kinds, full=False)
        found = sb._assess(ctx, kinds, snap)
        read = _Read(ctx, kinds, snap, found)
        capacity, propagated = self._capacity(read)
        read.lock = self._foreign_lock(sb, read)
        resources = tuple(self._resource(read, r, capacity) for r in kinds)
        errors_seen = [seen.error for seen in snap.values() if seen.error is not None]
        ea: Seen = snap.get("EndpointAttachment", Seen())
        live = ea.live
        state = SpecState(
            self.key(spec),
            spec.organization,
            self._rollup(resources),
            resources,
            str(live.connection_state) if live is not None else None,
            capacity,
            propagated,
            error="; ".join(_read_failure(e)[1] for e in errors_seen) or None,
            observed_at=now,
        )
        return state, read

    def _foreign_lock(self, sb: Southbound, read: _Read) -> Any:
        """The running Apigee operation of someone else that holds the organization lock, read
        only when this spec needs an Apigee operation (an endpoint attachment or DNS zone to
        create or replace): the organization's operations are listed once a pass."""
        spec = read.ctx.spec
        needs = [
            r.kind
            for r in read.kinds
            if r.kind in _APIGEE_KINDS
            and read.found[r.kind].change.writes
            and read.snap.get(r.kind) is not None
            and read.snap[r.kind].error is None
        ]
        if not needs:
            return None
        key = (spec.organization, self.passes)
        if key not in self._operations:
            try:
                self._operations[key] = [op for op in sb.apigee.operations.list() if not op.done]
            except errors.ApiError as exc:
                logger.info("watch: operations of %s not listed: %s", spec.organization, exc)
                self._operations[key] = None
            for old in [k for k in self._operations if k[1] < self.passes]:
                del self._operations[old]
        ours = {read.found[kind].change.resource_id for kind in _APIGEE_KINDS if kind in read.found}
        running = [op for op in self._operations[key] or () if op.target not in ours]
        if not running:
            return None
        op = running[0]
        self._lock_seen.setdefault(op.name, self.clock())
        return op

    def _capacity(self, read: _Read) -> tuple[Capacity | None, int | None]:
        """The service attachment's NAT capacity from its NAT subnets' ranges and its
        connected endpoints (``None`` when it or its subnets could not be read)."""
        from apigee_psc.names import short

        sa = read.snap.get("ServiceAttachment")
        if sa is None or sa.live is None:
            return None, None
        subnet = read.snap.get("NatSubnet")
        ranges: list[str] = []
        for nat in sa.live.nat_subnets:
            if subnet is not None and subnet.live is not None and short(nat) == subnet.live.name:
                ranges.append(subnet.live.ip_cidr_range)
                continue
            try:  # a NAT subnet the spec does not name (added by hand): one more read
                ranges.append(read.ctx.clients.compute.subnets.get(short(nat)).ip_cidr_range)
            except errors.ApiError as exc:
                logger.info("watch: NAT subnet %s not read: %s", nat, exc)
                return None, None
        per = getattr(sa.live, "nat_ips_per_endpoint", None)
        capacity = nat_capacity(ranges, sa.live.connected_endpoints, nat_ips_per_endpoint=per)
        propagated = sum(int(getattr(e, "propagated_connection_count", 0) or 0) for e in sa.live.connected_endpoints)
        return capacity, propagated

    def _resource(self, read: _Read, r: Any, capacity: Capacity | None) -> ResourceState:
        from apigee_psc.southbound.resources.base import Seen

        seen: Seen = read.snap.get(r.kind, Seen())
        assessment = read.found[r.kind]
        change = assessment.change
        conditions = [self._in_sync(read, r, seen, assessment), self._owned(read, r, seen, assessment)]
        if r.kind == "EndpointAttachment":
            conditions.insert(0, self._ready(read, seen, capacity))
        fields = change.fields if change.action in (Action.UPDATE, Action.REPLACE, Action.CREATE) else ()
        return ResourceState(r.kind, change.name, change.resource_id, tuple(conditions), fields, change.action.value)

    def _in_sync(self, read: _Read, r: Any, seen: Seen, assessment: Assessment) -> Condition:
        if seen.error is not None:
            return Condition(IN_SYNC, UNKNOWN, *_read_failure(seen.error))
        change = assessment.change
        source = read.ctx.spec.source or "SPEC"
        if change.action in (Action.NOOP, Action.WAIT) and not assessment.problems:
            return Condition(IN_SYNC, TRUE, "InSync", change.note)
        if r.kind in _APIGEE_KINDS and read.lock is not None and not assessment.problems:
            op = read.lock
            since = _iso(self._lock_seen.get(op.name, self.clock()))
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

    def _owned(self, read: _Read, r: Any, seen: Seen, assessment: Assessment) -> Condition:
        if seen.error is not None:
            return Condition(OWNED, UNKNOWN, *_read_failure(seen.error))
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

    def _ready(self, read: _Read, seen: Seen, capacity: Capacity | None) -> Condition:
        from apigee_psc.southbound.resources.endpoint_attachment import explain

        if seen.error is not None:
            return Condition(READY, UNKNOWN, *_read_failure(seen.error))
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

    @staticmethod
    def _rollup(resources: Sequence[ResourceState]) -> tuple[Condition, ...]:
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

    # -- events ------------------------------------------------------------------------------

    def _transitions(self, state: SpecState, emit: Callable[[WatchEvent], None]) -> SpecState:
        """Stamp transition times; emit a ``condition`` event per changed condition and a
        ``drift`` event when a resource's differences change."""
        now = state.observed_at
        spec = state.spec
        stamped: list[Condition] = []
        for condition in state.conditions:
            new, old = self._tracker.stamp(spec, None, condition, now)
            stamped.append(new)
            if old is not new:
                emit(self._condition_event(spec, None, None, new, old))
        resources: list[ResourceState] = []
        for resource in state.resources:
            conditions: list[Condition] = []
            for condition in resource.conditions:
                new, old = self._tracker.stamp(spec, resource.kind, condition, now)
                conditions.append(new)
                if old is not new:
                    emit(self._condition_event(spec, resource.kind, resource.name, new, old))
            drift_key = (spec, resource.kind)
            fields = resource.fields
            if fields and self._tracker.drift.get(drift_key) != fields:
                in_sync = resource.condition(IN_SYNC)
                emit(
                    WatchEvent(
                        "drift",
                        spec,
                        self.clock(),
                        resource.kind,
                        resource.name,
                        reason=in_sync.reason if in_sync else None,
                        message=in_sync.message if in_sync else None,
                        fields=fields,
                    )
                )
            self._tracker.drift[drift_key] = fields
            resources.append(dataclasses.replace(resource, conditions=tuple(conditions)))
        return dataclasses.replace(state, conditions=tuple(stamped), resources=tuple(resources))

    def _condition_event(
        self, spec: str, kind: str | None, name: str | None, new: Condition, old: Condition | None
    ) -> WatchEvent:
        return WatchEvent(
            "condition",
            spec,
            self.clock(),
            kind,
            name,
            new.type,
            new.status,
            new.reason,
            new.message,
            old.status if old is not None else None,
            old.reason if old is not None else None,
        )

    # -- healing -----------------------------------------------------------------------------

    def _heal(self, spec: SouthboundSpec, state: SpecState, read: _Read, emit: Callable[[WatchEvent], None]) -> bool:
        """Apply the safe changes of ``read`` through a narrowed plan; True if anything was written."""
        key = self.key(spec)
        tenant = read.ctx.org.apigee_project_id
        candidates: list[Change] = []
        for r in read.kinds:
            if not r.managed:
                continue
            assessment = read.found[r.kind]
            change = assessment.change
            if not change.writes:
                continue
            refusal = heal_refusal(change, assessment.owned, tenant)
            if refusal is not None:
                emit(WatchEvent("heal_skipped", key, self.clock(), r.kind, change.name, message=refusal, change=change))
                continue
            candidates.append(change)
        if not candidates:
            return False
        locked = any(c.reason == "OrgLocked" for c in state.conditions)
        if locked or state.error is not None:
            for change in candidates:
                text = (
                    "the Apigee organization lock is held by another operation: healed on a later pass"
                    if locked
                    else "a read failed in this pass: healed on a later pass"
                )
                emit(
                    WatchEvent("heal_skipped", key, self.clock(), change.kind, change.name, message=text, change=change)
                )
            return False
        sb = self.southbound(spec)
        try:
            plan = sb.plan()  # a fresh, full read: the plan apply re-checks before it writes
        except errors.ApigeePscError as exc:
            emit(WatchEvent("heal_failed", key, self.clock(), message=f"plan: {exc}"))
            return False
        wanted = {c.kind for c in candidates}
        tenant = plan.org.apigee_project_id if plan.org is not None else None
        chosen = [c for c in plan.changes if c.kind in wanted and heal_refusal(c, c.owned, tenant) is None and c.writes]
        if not chosen:
            return False
        narrowed = dataclasses.replace(
            plan,
            changes=tuple(
                c if c in chosen else dataclasses.replace(c, action=Action.NOOP, fields=()) for c in plan.changes
            ),
            problems=tuple(p for p in plan.problems if p.kind in wanted),
        )
        for change in chosen:
            emit(
                WatchEvent(
                    "heal_planned",
                    key,
                    self.clock(),
                    change.kind,
                    change.name,
                    message=f"{change.action.value}: {'; '.join(change.diffs)}",
                    fields=change.fields,
                    change=change,
                )
            )
        try:
            sb.apply(plan=narrowed, progress=lambda event: None, cancel=self._stop)
        except (errors.ApigeePscError, OSError) as exc:
            for change in chosen:
                emit(
                    WatchEvent(
                        "heal_failed", key, self.clock(), change.kind, change.name, message=str(exc), change=change
                    )
                )
                if self.metrics is not None:
                    self.metrics.heal("failed")
            return False
        for change in chosen:
            emit(
                WatchEvent(
                    "heal_done", key, self.clock(), change.kind, change.name, change=change, fields=change.fields
                )
            )
            if self.metrics is not None:
                self.metrics.heal("done")
        return True

    # -- notebooks and terminals -------------------------------------------------------------

    def table(self) -> list[tuple[str, ...]]:
        """One row per spec: spec, ready, in_sync, owned (``status reason``), connection
        state and NAT addresses used of total (``-`` until the spec's first pass)."""
        rows: list[tuple[str, ...]] = []
        for spec in self.specs:
            state = self.states.get(self.key(spec))
            if state is None:
                rows.append((self.key(spec), "-", "-", "-", "-", "-"))
                continue
            cells = [f"{c.status} {c.reason}" for c in state.conditions]
            nat = f"{state.capacity.used}/{state.capacity.total}" if state.capacity is not None else "-"
            rows.append((state.spec, *cells, state.connection_state or "-", nat))
        return rows

    HEADERS = ("spec", "ready", "in_sync", "owned", "connection", "NAT used")

    def rich_table(self) -> Any:
        """The :meth:`table` as a ``rich`` Table (green True, red False, yellow Unknown)."""
        from rich.table import Table

        table = Table(title=f"apigee-psc watch: pass {self.passes}, heal={self.heal}", title_justify="left")
        for header in self.HEADERS:
            table.add_column(header, no_wrap=True)
        colour = {TRUE: "green", FALSE: "red", UNKNOWN: "yellow"}
        for row in self.table():
            styled = [row[0]]
            for cell in row[1:4]:
                status = cell.split(" ", 1)[0]
                styled.append(f"[{colour[status]}]{cell}[/]" if status in colour else cell)
            table.add_row(*styled, *row[4:])
        return table

    def _bundle(self) -> dict[str, str]:
        import io

        from rich.console import Console

        console = Console(record=True, file=io.StringIO(), width=140, force_jupyter=False, color_system="truecolor")
        console.print(self.rich_table())
        html_code = console.export_html(inline_styles=True, code_format="<pre>{code}</pre>", clear=False)
        return {"text/html": html_code, "text/plain": console.export_text()}

    def show(self, *, once: bool = False, stop: threading.Event | None = None, display: Any = None) -> None:
        """Run the loop showing the table in a notebook cell, redrawn in place after each
        spec's pass (``display`` is IPython's ``display``, looked up when not given); events
        still go to ``on_event``."""
        if display is None:
            import importlib

            display = importlib.import_module("IPython.display").display
        handle = display(self._bundle(), raw=True, display_id=True)
        for event in self.events(once=once, stop=stop):
            if self.on_event is not None:
                self.on_event(event)
            if event.type == "pass":
                handle.update(self._bundle(), raw=True)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{h}</th>" for h in self.HEADERS)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>" for row in self.table()
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
