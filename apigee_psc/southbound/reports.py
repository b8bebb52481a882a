"""What runs of a southbound connection report: realization, destroy, progress.

A :class:`RealizationReport` is what :meth:`Southbound.status` and :meth:`Southbound.apply`
return, modelled on NSX-T's realization API: one :class:`EntityStatus` per entity and an
overall :class:`Realization` that is the worst of them. A :class:`DestroyReport` is what
:meth:`Southbound.destroy` did; a :class:`ProgressEvent` is what ``apply``/``destroy`` tell a
``progress`` callback as they go.

Reports render as text, JSON (``to_dict``) and HTML tables (``_repr_html_``, for notebooks).
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from apigee_psc.models import WireEnum
from apigee_psc.southbound.plan import Action, Change, html_table

__all__ = [
    "DestroyReport",
    "EntityStatus",
    "ProgressEvent",
    "Realization",
    "RealizationReport",
]


class DestroyReport(Sequence[Change]):
    """What :meth:`Southbound.destroy` did: each entity deleted, kept (and why) or already gone.

    It is the sequence of changes made and kept, in the order they happened (``Action.DELETE``
    for a deletion, ``Action.NOOP`` with a ``note`` for what was kept), so it iterates like the
    list destroy used to return; ``deleted``, ``kept`` and ``absent`` sort them, and it renders
    as text, JSON (:meth:`to_dict`) and an HTML table in notebooks.
    """

    def __init__(
        self,
        spec_source: str | None,
        organization: str,
        changes: Iterable[Change],
        absent: Iterable[tuple[str, str]] = (),
    ) -> None:
        self.spec_source = spec_source
        self.organization = organization
        self.changes: tuple[Change, ...] = tuple(changes)
        #: ``(kind, name)`` of each entity the spec owns that was not there to delete.
        self.absent: tuple[tuple[str, str], ...] = tuple(absent)

    @overload
    def __getitem__(self, index: int) -> Change: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Change]: ...

    def __getitem__(self, index: int | slice) -> Change | Sequence[Change]:
        return self.changes[index]

    def __len__(self) -> int:
        return len(self.changes)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, DestroyReport):
            return (self.spec_source, self.organization, self.changes, self.absent) == (
                other.spec_source,
                other.organization,
                other.changes,
                other.absent,
            )
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    @property
    def deleted(self) -> tuple[Change, ...]:
        """The entities deleted by this run."""
        return tuple(c for c in self.changes if c.action is Action.DELETE)

    @property
    def kept(self) -> tuple[Change, ...]:
        """The entities left in place, each with its reason in ``note``."""
        return tuple(c for c in self.changes if c.action is not Action.DELETE)

    def _rows(self) -> list[tuple[str, str, str, str]]:
        rows = [("deleted", c.kind, c.name, c.note) for c in self.deleted]
        rows += [("kept", c.kind, c.name, c.note) for c in self.kept]
        rows += [("absent", kind, name, "not found: nothing to delete") for kind, name in self.absent]
        return rows

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary: ``spec``, ``organization``, and one entry per entity with
        its ``outcome`` (``deleted``, ``kept`` or ``absent``), ``kind``, ``name`` and ``reason``."""
        return {
            "spec": self.spec_source,
            "organization": self.organization,
            "entities": [
                {"outcome": outcome, "kind": kind, "name": name, "reason": reason}
                for outcome, kind, name, reason in self._rows()
            ],
            "summary": {"deleted": len(self.deleted), "kept": len(self.kept), "absent": len(self.absent)},
        }

    def to_text(self) -> str:
        """A table for a terminal."""
        lines = [f"Destroy of {self.spec_source or 'spec'} (organization {self.organization})"]
        for outcome, kind, name, reason in self._rows():
            lines.append(f"  {outcome:<8} {kind:<20} {name}" + (f"  ({reason})" if reason else ""))
        lines.append(f"Summary: {len(self.deleted)} deleted, {len(self.kept)} kept, {len(self.absent)} absent")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        return (
            f"DestroyReport(spec={self.spec_source!r}, deleted={len(self.deleted)}, kept={len(self.kept)},"
            f" absent={len(self.absent)})"
        )

    def _repr_html_(self) -> str:
        table = html_table(("outcome", "kind", "name", "reason"), self._rows())
        return f"<p>Destroy of <code>{html.escape(self.spec_source or 'spec')}</code></p>{table}"


class Realization(WireEnum):
    """Realization state of one entity (NSX-T's vocabulary, plus ``failed`` and ``not_found``)."""

    IN_SYNC = "in_sync"
    IN_PROGRESS = "in_progress"
    NOT_FOUND = "not_found"
    UNKNOWN = "unknown"
    FAILED = "failed"

    @property
    def severity(self) -> int:
        """Rank used to pick the worst state: in_sync < in_progress < not_found < unknown < failed."""
        return _SEVERITY[self]


_SEVERITY = {
    Realization.IN_SYNC: 0,
    Realization.IN_PROGRESS: 1,
    Realization.NOT_FOUND: 2,
    Realization.UNKNOWN: 3,
    Realization.FAILED: 4,
}


@dataclass(frozen=True)
class EntityStatus:
    """The realization of one entity: type, id, state and, when not in sync, why."""

    sub_system_type: str
    sub_system_id: str
    state: Realization
    failure_message: str | None = None
    observed: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The contract's JSON shape for one detail."""
        data: dict[str, Any] = {
            "sub_system_type": self.sub_system_type,
            "sub_system_id": self.sub_system_id,
            "state": self.state.value,
        }
        if self.failure_message:
            data["failure_message"] = self.failure_message
        if "capacity" in self.observed:  # the service attachment's NAT addresses
            data["capacity"] = dict(self.observed["capacity"])
        return data


@dataclass(frozen=True)
class RealizationReport:
    """Every entity of one southbound connection, and the worst of their states."""

    details: tuple[EntityStatus, ...]
    spec_source: str | None = None
    host: str | None = None
    target_url: str | None = None

    @classmethod
    def of(
        cls,
        details: Iterable[EntityStatus],
        *,
        spec_source: str | None = None,
        host: str | None = None,
        target_url: str | None = None,
    ) -> RealizationReport:
        """Build a report from entity states."""
        return cls(tuple(details), spec_source=spec_source, host=host, target_url=target_url)

    @property
    def state(self) -> Realization:
        """The worst state of the details (``in_sync`` when there are none)."""
        if not self.details:
            return Realization.IN_SYNC
        return max((d.state for d in self.details), key=lambda s: s.severity)

    @property
    def failure_message(self) -> str | None:
        """The message of the first entity in the worst state."""
        worst = self.state
        if worst is Realization.IN_SYNC:
            return None
        for detail in self.details:
            if detail.state is worst and detail.failure_message:
                return f"{detail.sub_system_type} {detail.sub_system_id.rsplit('/', 1)[-1]}: {detail.failure_message}"
        return f"at least one entity is {worst.value}"

    @property
    def ok(self) -> bool:
        """True when every entity is in sync."""
        return self.state is Realization.IN_SYNC

    def to_dict(self) -> dict[str, Any]:
        """The contract's JSON: ``state``, ``failure_message`` (when not in sync), ``details``."""
        data: dict[str, Any] = {"state": self.state.value}
        message = self.failure_message
        if message:
            data["failure_message"] = message
        data["details"] = [detail.to_dict() for detail in self.details]
        if self.host:
            data["host"] = self.host
        if self.target_url:
            data["target_url"] = self.target_url
        return data

    def to_json(self) -> str:
        """The report as indented JSON."""
        return json.dumps(self.to_dict(), indent=2)

    def to_text(self) -> str:
        """A table for a terminal."""
        of = f" of {self.spec_source}" if self.spec_source else ""
        why = f" ({self.failure_message})" if self.failure_message else ""
        lines = [f"Realization{of}: {self.state.value}{why}"]
        for detail in self.details:
            lines.append(f"  {detail.state.value:<12} {detail.sub_system_type:<20} {detail.sub_system_id}")
            if detail.failure_message and detail.state is not Realization.IN_SYNC:
                lines.append(f"  {'':<12} {'':<20} -> {detail.failure_message}")
            capacity = detail.observed.get("capacity")
            if capacity:
                used, total = capacity["nat_ips_used"], capacity["nat_ips_total"]
                lines.append(f"  {'':<12} {'':<20} NAT addresses: {used} of {total} used, {total - used} left")
        if self.host:
            lines.append(f"Host: {self.host}")
        if self.target_url:
            lines.append(f"Target URL: {self.target_url}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()

    def _repr_html_(self) -> str:
        table = html_table(
            ("state", "type", "id", "message"),
            ((d.state.value, d.sub_system_type, d.sub_system_id, d.failure_message or "") for d in self.details),
        )
        message = html.escape(self.failure_message or "")
        of = f" of <code>{html.escape(self.spec_source)}</code>" if self.spec_source else ""
        return f"<p>Realization{of}: <b>{self.state.value}</b> {message}</p>{table}"


@dataclass(frozen=True)
class ProgressEvent:
    """What ``apply``/``destroy`` report to a ``progress`` callback as they go.

    ``phase`` is ``apply`` or ``destroy``; ``step`` names the resource for people
    (``EndpointAttachment gkebackend``), ``kind`` and ``name`` for programs (``None`` for the
    whole connection's final event); ``status`` is ``started``, ``waiting``, ``done``,
    ``skipped`` or ``failed``; ``state`` is the resource's last seen state during waits;
    ``elapsed`` seconds in this step; ``spec`` the spec's file.
    """

    phase: str
    step: str
    status: str
    detail: str = ""
    state: str | None = None
    elapsed: float = 0.0
    spec: str | None = None
    kind: str | None = None
    name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (for logs and automation: one object per event)."""
        return {
            "phase": self.phase,
            "kind": self.kind,
            "name": self.name,
            "step": self.step,
            "status": self.status,
            "state": self.state,
            "detail": self.detail,
            "elapsed": round(self.elapsed, 3),
            "spec": self.spec,
        }

    def to_text(self) -> str:
        """One plain line for logs and non-TTY output."""
        parts = [f"{self.phase}: {self.step}: {self.status}"]
        if self.state:
            parts.append(f"[{self.state}]")
        if self.detail:
            parts.append(self.detail)
        if self.status == "waiting" or self.elapsed >= 1:
            parts.append(f"({self.elapsed:.0f}s)")
        return " ".join(parts)
