"""Watch southbound connections on day two: observe each pass, heal only when asked.

A :class:`Watcher` reads, every ``interval`` (jittered), what :meth:`Southbound.status` reads,
through the same reconcilers (``read``, ``assess``, ``realize``), and turns each spec's
entities into three separate conditions (``ready``, ``in_sync``, ``owned``), each with a stable
``reason`` and the time it last changed status: :mod:`apigee_psc.southbound.conditions` holds
them, their reasons and the events.

Each pass yields :class:`~apigee_psc.southbound.conditions.WatchEvent` s: condition
transitions, drift with its field diff, heal planned / done / failed / skipped, and a ``pass``
summary per spec; never a token. One failing spec or API never stops the loop: that spec backs
off (doubling passes skipped, up to ``max_backoff`` seconds) while the others go on.

Healing is off by default (``heal="none"``). With ``heal="safe"`` it applies only changes that
widen nothing, on resources this spec owns or creates (:mod:`apigee_psc.southbound.heal`).
"""

from __future__ import annotations

import collections
import dataclasses
import html
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from apigee_psc import errors
from apigee_psc.southbound.capacity import Capacity, nat_capacity
from apigee_psc.southbound.conditions import (
    APIGEE_KINDS,
    CONDITION_TYPES,
    FALSE,
    IN_SYNC,
    TRUE,
    UNKNOWN,
    Condition,
    PassRead,
    ResourceState,
    SpecState,
    WatchEvent,
    read_failure,
    resource_state,
    rollup,
)
from apigee_psc.southbound.heal import HEAL_MODES, heal
from apigee_psc.southbound.metrics import api_of
from apigee_psc.southbound.plan import FieldDiff

if TYPE_CHECKING:
    from apigee_psc.southbound.engine import Southbound
    from apigee_psc.southbound.metrics import WatchMetrics
    from apigee_psc.southbound.spec import SouthboundSpec

__all__ = ["Watcher", "parse_interval"]

logger = logging.getLogger("apigee_psc.southbound")


def _now() -> float:
    return time.time()


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

        from apigee_psc._retry import observe_requests

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
                    sb = self.southbound(spec)
                    if heal(sb, key, state, read, emit, clock=self.clock, cancel=self._stop, metrics=self.metrics):
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
        reason, text = read_failure(error) if isinstance(error, errors.ApiError) else ("Unknown", str(error))
        conditions = tuple(Condition(t, UNKNOWN, reason, text) for t in CONDITION_TYPES)
        return SpecState(self.key(spec), spec.organization, conditions, error=text, observed_at=self.clock())

    def _observe(self, spec: SouthboundSpec) -> tuple[SpecState, PassRead | None]:
        """Read the spec as status does and turn it into conditions."""
        from apigee_psc.southbound.resources.base import Seen

        sb = self.southbound(spec)
        now = self.clock()
        try:
            ctx = sb._context(sb._org())
        except errors.ApiError as exc:
            reason, text = read_failure(exc)
            conditions = tuple(
                Condition(t, UNKNOWN, reason, f"organization {spec.organization}: {text}") for t in CONDITION_TYPES
            )
            return SpecState(self.key(spec), spec.organization, conditions, error=text, observed_at=now), None
        kinds = sb._kinds(ctx.org)
        snap = sb._read(ctx, kinds, full=False)
        found = sb._assess(ctx, kinds, snap)
        read = PassRead(ctx, kinds, snap, found)
        capacity, propagated = self._capacity(read)
        read.lock = self._foreign_lock(sb, read)
        if read.lock is not None:
            read.lock_since = self._lock_seen[read.lock.name]
        resources = tuple(resource_state(read, r, capacity) for r in kinds)
        errors_seen = [seen.error for seen in snap.values() if seen.error is not None]
        ea: Seen = snap.get("EndpointAttachment", Seen())
        live = ea.live
        state = SpecState(
            self.key(spec),
            spec.organization,
            rollup(resources),
            resources,
            str(live.connection_state) if live is not None else None,
            capacity,
            propagated,
            error="; ".join(read_failure(e)[1] for e in errors_seen) or None,
            observed_at=now,
        )
        return state, read

    def _foreign_lock(self, sb: Southbound, read: PassRead) -> Any:
        """The running Apigee operation of someone else that holds the organization lock, read
        only when this spec needs an Apigee operation (an endpoint attachment or DNS zone to
        create or replace): the organization's operations are listed once a pass."""
        spec = read.ctx.spec
        needs = [
            r.kind
            for r in read.kinds
            if r.kind in APIGEE_KINDS
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
        ours = {read.found[kind].change.resource_id for kind in APIGEE_KINDS if kind in read.found}
        running = [op for op in self._operations[key] or () if op.target not in ours]
        if not running:
            return None
        op = running[0]
        self._lock_seen.setdefault(op.name, self.clock())
        return op

    def _capacity(self, read: PassRead) -> tuple[Capacity | None, int | None]:
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
