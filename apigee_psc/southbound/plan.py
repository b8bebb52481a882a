"""Typed changes, plans and realization reports of a southbound connection.

A :class:`Plan` is what :meth:`Southbound.plan` returns: ordered :class:`Change` s along
the dependency order (NAT subnet, firewall, service attachment, endpoint attachment, DNS)
and the preflight :class:`Problem` s that stop an apply. A :class:`RealizationReport` is what
:meth:`Southbound.status` returns, modelled on NSX-T's realization API: one state per
entity and an overall state that is the worst of them.

Both render as text, JSON (``to_dict``) and HTML tables (``_repr_html_``, for notebooks).
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from apigee_psc.models import WireEnum

__all__ = [
    "Action",
    "Change",
    "EntityStatus",
    "Plan",
    "Problem",
    "ProgressEvent",
    "Realization",
    "RealizationReport",
]


class Action(WireEnum):
    """What a change does to one resource."""

    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    WAIT = "wait"
    NOOP = "no-op"


_SYMBOL = {
    Action.CREATE: "+",
    Action.UPDATE: "~",
    Action.REPLACE: "-/+",
    Action.DELETE: "-",
    Action.WAIT: "…",
    Action.NOOP: "=",
}


@dataclass(frozen=True)
class Change:
    """One step of a plan: ``action`` on the resource ``kind``/``name`` (``resource_id`` is its
    full path), with the differences found (``diffs``, as ``field: live -> wanted`` lines).
    ``operation`` names an operation already in flight that a ``wait`` change resumes."""

    action: Action
    kind: str
    name: str
    resource_id: str
    diffs: tuple[str, ...] = ()
    note: str = ""
    operation: str | None = None

    @property
    def writes(self) -> bool:
        """True if applying this change calls a mutating API."""
        return self.action not in (Action.NOOP, Action.WAIT)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        data: dict[str, Any] = {
            "action": self.action.value,
            "kind": self.kind,
            "name": self.name,
            "id": self.resource_id,
        }
        if self.diffs:
            data["diffs"] = list(self.diffs)
        if self.note:
            data["note"] = self.note
        if self.operation:
            data["operation"] = self.operation
        return data

    def to_text(self) -> str:
        """One line (plus indented diffs) for a terminal."""
        line = f"  {_SYMBOL[self.action]:>3} {self.action.value:<8} {self.kind:<22} {self.name}"
        if self.note:
            line += f"  ({self.note})"
        return "\n".join([line, *(f"          {diff}" for diff in self.diffs)])


@dataclass(frozen=True)
class Problem:
    """A preflight finding that stops an apply: ``kind`` of resource and a ``message``."""

    kind: str
    message: str

    def to_dict(self) -> dict[str, str]:
        """A JSON-ready dictionary."""
        return {"kind": self.kind, "message": self.message}


@dataclass(frozen=True)
class Plan:
    """Ordered changes for one spec, made without any write. ``problems`` must be empty to apply."""

    spec_source: str | None
    organization: str
    changes: tuple[Change, ...]
    problems: tuple[Problem, ...] = ()
    apigee_project_id: str | None = None
    disable_vpc_peering: bool | None = None

    @property
    def has_changes(self) -> bool:
        """True if applying would call a mutating API or wait for something in progress."""
        return any(change.action is not Action.NOOP for change in self.changes)

    @property
    def ok(self) -> bool:
        """True if no preflight problem stops the apply."""
        return not self.problems

    def counts(self) -> dict[str, int]:
        """How many changes of each action."""
        counts: dict[str, int] = {}
        for change in self.changes:
            counts[change.action.value] = counts.get(change.action.value, 0) + 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return {
            "spec": self.spec_source,
            "organization": self.organization,
            "apigee_project_id": self.apigee_project_id,
            "disable_vpc_peering": self.disable_vpc_peering,
            "changes": [change.to_dict() for change in self.changes],
            "problems": [problem.to_dict() for problem in self.problems],
            "summary": self.counts(),
        }

    def to_json(self) -> str:
        """The plan as indented JSON."""
        return json.dumps(self.to_dict(), indent=2)

    def to_text(self) -> str:
        """The plan for a terminal."""
        head = f"Plan for {self.spec_source or 'spec'} (organization {self.organization})"
        lines = [head]
        lines.extend(change.to_text() for change in self.changes)
        summary = ", ".join(f"{n} {action}" for action, n in self.counts().items())
        lines.append(f"Summary: {summary or 'nothing'}")
        for problem in self.problems:
            lines.append(f"  ! {problem.kind}: {problem.message}")
        if not self.has_changes and not self.problems:
            lines.append("Everything is in sync: apply would change nothing.")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()

    def _repr_html_(self) -> str:
        table = _html_table(
            ("action", "kind", "name", "details"),
            ((c.action.value, c.kind, c.name, "; ".join(c.diffs) or c.note) for c in self.changes),
        )
        problems = "".join(f"<p><b>{html.escape(p.kind)}</b>: {html.escape(p.message)}</p>" for p in self.problems)
        return f"<p>Plan for <code>{html.escape(self.spec_source or 'spec')}</code></p>{table}{problems}"


def _html_table(headers: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    """An HTML table with every cell escaped (what notebooks show for plans and reports)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


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
        lines = [f"Realization: {self.state.value}" + (f" ({self.failure_message})" if self.failure_message else "")]
        for detail in self.details:
            lines.append(f"  {detail.state.value:<12} {detail.sub_system_type:<20} {detail.sub_system_id}")
            if detail.failure_message and detail.state is not Realization.IN_SYNC:
                lines.append(f"  {'':<12} {'':<20} -> {detail.failure_message}")
        if self.host:
            lines.append(f"Host: {self.host}")
        if self.target_url:
            lines.append(f"Target URL: {self.target_url}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()

    def _repr_html_(self) -> str:
        table = _html_table(
            ("state", "type", "id", "message"),
            ((d.state.value, d.sub_system_type, d.sub_system_id, d.failure_message or "") for d in self.details),
        )
        message = html.escape(self.failure_message or "")
        return f"<p>Realization: <b>{self.state.value}</b> {message}</p>{table}"


@dataclass(frozen=True)
class ProgressEvent:
    """What ``apply``/``destroy`` report to a ``progress`` callback as they go.

    ``phase`` is ``apply`` or ``destroy``; ``step`` names the resource (``EndpointAttachment
    gkebackend``); ``status`` is ``started``, ``waiting``, ``done``, ``skipped`` or ``failed``;
    ``state`` is the resource's last seen state during waits; ``elapsed`` seconds in this step.
    """

    phase: str
    step: str
    status: str
    detail: str = ""
    state: str | None = None
    elapsed: float = 0.0
    spec: str | None = None

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
