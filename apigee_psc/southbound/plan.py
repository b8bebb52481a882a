"""Typed changes and plans of a southbound connection.

A :class:`Plan` is what :meth:`Southbound.plan` returns: ordered :class:`Change` s along
the dependency order (NAT subnet, firewall, service attachment, endpoint attachment, DNS)
and the preflight :class:`Problem` s that stop an apply. A :class:`DestroyPlan` is what
:meth:`Southbound.plan_destroy` returns. What runs report (realization, destroy, progress)
is in :mod:`apigee_psc.southbound.reports`; how ``live``/``wanted`` values are written in a
plan file, in :mod:`apigee_psc.southbound.codec`.

Plans render as text, JSON (``to_dict``) and HTML tables (``_repr_html_``, for notebooks).
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from apigee_psc.errors import ValidationError
from apigee_psc.models import WireEnum

if TYPE_CHECKING:
    from apigee_psc.southbound.live import OrgInfo
    from apigee_psc.southbound.spec import SouthboundSpec

__all__ = [
    "Action",
    "Change",
    "DestroyPlan",
    "FieldDiff",
    "Plan",
    "Problem",
    "known_after_apply",
    "org_fields",
    "same_change",
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


_AFTER_APPLY = " known after apply)"


def known_after_apply(what: str) -> str:
    """What a plan shows for a value only apply can know, e.g. ``(host known after apply)``:
    an apply that checks the plan again accepts any value in its place."""
    return f"({what}{_AFTER_APPLY}"


def _pending(value: object) -> bool:
    return isinstance(value, str) and value.startswith("(") and value.endswith(_AFTER_APPLY)


def same_change(planned: Change, now: Change) -> bool:
    """True if ``now`` makes the change ``planned`` promised: the same action and the same
    differences, where a value ``planned`` showed as known only after apply matches any."""
    if planned.action is not now.action or len(planned.fields) != len(now.fields):
        return False
    return all(
        a == b or (_pending(a.after) and (a.field, a.before, a.op) == (b.field, b.before, b.op))
        for a, b in zip(planned.fields, now.fields, strict=True)
    )


def _show(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return str(list(value))
    return str(value)


@dataclass(frozen=True)
class FieldDiff:
    """One difference between a live resource and the spec.

    ``op`` is ``set`` (``field`` goes from ``before`` to ``after``; with ``before`` None it is
    set for the first time, as on a create), ``add`` (``after`` joins the list ``field``) or
    ``remove`` (``before`` leaves it). ``note`` says why, when that is not obvious. In JSON
    (:meth:`to_dict`) ``before`` is ``live`` and ``after`` is ``wanted``.
    """

    field: str
    before: Any = None
    after: Any = None
    op: str = "set"
    note: str = ""

    def __post_init__(self) -> None:
        for name in ("before", "after"):
            value = getattr(self, name)
            if isinstance(value, list):
                object.__setattr__(self, name, tuple(value))

    def __str__(self) -> str:
        if self.op == "add":
            text = f"{self.field}: + {_show(self.after)}"
        elif self.op == "remove":
            text = f"{self.field}: - {_show(self.before)}"
        elif self.before is None:
            text = f"{self.field}: {_show(self.after)}"
        else:
            text = f"{self.field}: {_show(self.before)} -> {_show(self.after)}"
        return f"{text} ({self.note})" if self.note else text

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        from apigee_psc.southbound.codec import encode

        data: dict[str, Any] = {"field": self.field, "op": self.op}
        if self.before is not None:
            data["live"] = encode(self.before)
        if self.after is not None:
            data["wanted"] = encode(self.after)
        if self.note:
            data["note"] = self.note
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FieldDiff:
        """The inverse of :meth:`to_dict`."""
        from apigee_psc.southbound.codec import decode

        return cls(
            str(data["field"]),
            decode(data.get("live")),
            decode(data.get("wanted")),
            str(data.get("op", "set")),
            str(data.get("note", "")),
        )


@dataclass(frozen=True)
class Change:
    """One step of a plan: ``action`` on the resource ``kind``/``name`` (``resource_id`` is its
    full path).

    ``live`` is the resource as read (``None`` when absent) and ``wanted`` what the spec asks
    for (a kind's own object, e.g. a :class:`~apigee_psc.compute.Firewall`); ``fields`` are
    the typed differences between them, from which ``diffs`` (``field: live -> wanted`` lines),
    the JSON and the HTML are rendered. ``operation`` names an operation already in flight
    that a ``wait`` change resumes.
    """

    action: Action
    kind: str
    name: str
    resource_id: str
    fields: tuple[FieldDiff, ...] = ()
    note: str = ""
    operation: str | None = None
    live: Any = field(default=None, compare=False)
    wanted: Any = field(default=None, compare=False)
    owned: bool | None = field(default=None, compare=False)

    @property
    def diffs(self) -> tuple[str, ...]:
        """The differences as ``field: live -> wanted`` lines."""
        return tuple(str(diff) for diff in self.fields)

    @property
    def writes(self) -> bool:
        """True if applying this change calls a mutating API."""
        return self.action not in (Action.NOOP, Action.WAIT)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary; :meth:`from_dict` reads it back (``live``/``wanted`` included)."""
        from apigee_psc.southbound.codec import encode

        data: dict[str, Any] = {
            "action": self.action.value,
            "kind": self.kind,
            "name": self.name,
            "id": self.resource_id,
        }
        if self.fields:
            data["diffs"] = list(self.diffs)
            data["fields"] = [diff.to_dict() for diff in self.fields]
        if self.note:
            data["note"] = self.note
        if self.operation:
            data["operation"] = self.operation
        if self.live is not None:
            data["live"] = encode(self.live)
        if self.wanted is not None:
            data["wanted"] = encode(self.wanted)
        if self.owned is not None:
            data["owned"] = self.owned
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Change:
        """The inverse of :meth:`to_dict`."""
        from apigee_psc.southbound.codec import decode

        kind = str(data["kind"])
        return cls(
            Action(data["action"]),
            kind,
            str(data["name"]),
            str(data["id"]),
            tuple(FieldDiff.from_dict(item) for item in data.get("fields") or ()),
            str(data.get("note", "")),
            data.get("operation"),
            decode(data.get("live"), where=f"changes[{kind}].live"),
            decode(data.get("wanted"), where=f"changes[{kind}].wanted"),
            data.get("owned"),
        )

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


#: The ``format`` of :meth:`Plan.to_dict`; :meth:`Plan.from_dict` reads only this one.
PLAN_FORMAT = "apigee-psc/plan/v1"

#: The plan file's keys for the organization a plan read, and the :class:`OrgInfo` field of each.
_ORG_KEYS = {
    "apigee_project_id": "apigee_project_id",
    "disable_vpc_peering": "disable_vpc_peering",
    "organization_project_id": "project_id",
    "authorized_network": "authorized_network",
}


def org_fields(org: OrgInfo | None) -> dict[str, Any]:
    """The organization a plan read as the plan file writes it: ``apigee_project_id``,
    ``disable_vpc_peering``, ``organization_project_id``, ``authorized_network`` (all ``None``
    for a plan that read none)."""
    return {key: None if org is None else getattr(org, name) for key, name in _ORG_KEYS.items()}


def _org_from(data: Mapping[str, Any]) -> OrgInfo | None:
    """The inverse of :func:`org_fields` (the organization's name is the plan's)."""
    if all(data.get(key) is None for key in _ORG_KEYS):
        return None
    peering = data.get("disable_vpc_peering")
    if not isinstance(peering, bool):
        raise ValidationError("plan.disable_vpc_peering", peering, "true or false (the organization the plan read)")
    from apigee_psc.southbound.live import OrgInfo

    return OrgInfo(
        str(data["organization"]),
        data.get("apigee_project_id"),
        peering,
        data.get("organization_project_id"),
        data.get("authorized_network"),
    )


@dataclass(frozen=True)
class Plan:
    """Ordered changes for one spec, made without any write. ``problems`` must be empty to apply.

    ``references`` are the resources the spec only refers to (the forwarding rule, the Cloud
    DNS zone) as read, never changed; ``org`` (the organization as read: its Apigee project,
    its own project, its peering) and ``spec`` record what the plan was made from; in JSON the
    organization's fields are flat (:func:`org_fields`). ``adopt`` records whether it was made
    with ``adopt`` on (a saved plan is applied the same way). ``reads`` holds what
    :meth:`Southbound.plan` read, for the apply of the same connection in this process; it is
    never saved: a plan read back from JSON is only a promise, which :meth:`Southbound.apply`
    checks against a fresh plan.
    """

    spec_source: str | None
    organization: str
    changes: tuple[Change, ...]
    problems: tuple[Problem, ...] = ()
    org: OrgInfo | None = None
    spec: SouthboundSpec | None = field(default=None, compare=False)
    references: tuple[Change, ...] = ()
    adopt: bool = False
    reads: Any = field(default=None, compare=False, repr=False)

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

    def change(self, kind: str) -> Change | None:
        """The change (or reference) of resource ``kind`` (``"ServiceAttachment"``), if any."""
        return next((change for change in (*self.changes, *self.references) if change.kind == kind), None)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary: what the CLI prints with ``-o json`` and what
        :meth:`from_dict` reads back into an equal plan (with the spec, what was read and what
        is wanted), so a plan can be saved, reviewed and applied later."""
        data: dict[str, Any] = {
            "format": PLAN_FORMAT,
            "spec": self.spec_source,
            "organization": self.organization,
            **org_fields(self.org),
            "changes": [change.to_dict() for change in self.changes],
            "references": [change.to_dict() for change in self.references],
            "problems": [problem.to_dict() for problem in self.problems],
            "summary": self.counts(),
            "adopt": self.adopt,
        }
        if self.spec is not None:
            data["spec_document"] = self.spec.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Plan:
        """A plan from :meth:`to_dict`'s output. Anything else (another ``format``, missing keys,
        unknown object types) is a :class:`~apigee_psc.errors.ValidationError`."""
        if not isinstance(data, Mapping) or data.get("format") != PLAN_FORMAT:
            found = data.get("format") if isinstance(data, Mapping) else type(data).__name__
            raise ValidationError("plan.format", found, f"a plan written by apigee-psc ({PLAN_FORMAT})")
        try:
            spec = None
            if data.get("spec_document") is not None:
                from apigee_psc.southbound.spec import SouthboundSpec

                spec = SouthboundSpec.from_dict(data["spec_document"], source=data.get("spec"))
            return cls(
                spec_source=data.get("spec"),
                organization=str(data["organization"]),
                changes=tuple(Change.from_dict(item) for item in data.get("changes") or ()),
                problems=tuple(Problem(str(p["kind"]), str(p["message"])) for p in data.get("problems") or ()),
                org=_org_from(data),
                spec=spec,
                references=tuple(Change.from_dict(item) for item in data.get("references") or ()),
                adopt=data.get("adopt") is True,
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, ValidationError):
                raise
            raise ValidationError("plan", type(exc).__name__, f"a complete plan ({exc})") from None

    @classmethod
    def from_json(cls, text: str) -> Plan:
        """A plan from :meth:`to_json`'s output."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ValidationError("plan", text[:40], f"JSON ({exc})") from None
        return cls.from_dict(data)

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
        table = html_table(
            ("action", "kind", "name", "details"),
            ((c.action.value, c.kind, c.name, "; ".join(c.diffs) or c.note) for c in self.changes),
        )
        problems = "".join(f"<p><b>{html.escape(p.kind)}</b>: {html.escape(p.message)}</p>" for p in self.problems)
        return f"<p>Plan for <code>{html.escape(self.spec_source or 'spec')}</code></p>{table}{problems}"


def html_table(headers: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    """An HTML table with every cell escaped (what notebooks show for plans and reports)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


#: The ``format`` of :meth:`DestroyPlan.to_dict`.
DESTROY_PLAN_FORMAT = "apigee-psc/destroy-plan/v1"


@dataclass(frozen=True)
class DestroyPlan:
    """What :meth:`Southbound.destroy` would do, read without any write
    (:meth:`Southbound.plan_destroy`).

    ``deletes`` are the entities it would delete, in the order it deletes them (``Action.DELETE``;
    a ``note`` when only a leftover of an absent resource is deleted, e.g. the A record's
    ownership mark); ``kept`` those it leaves in place, each with its reason in ``note``
    (``Action.NOOP``: referenced only, not created by apigee-psc, the IAM grant without
    ``revoke_iam``); ``absent`` the ``(kind, name)`` of each entity the spec owns that is not
    there. ``problems`` stop the destroy unless ``force`` (a service attachment that other
    consumers are still connected to). ``revoke_iam``, ``adopt`` and ``force`` record the
    options it was made with.
    """

    spec_source: str | None
    organization: str
    deletes: tuple[Change, ...] = ()
    kept: tuple[Change, ...] = ()
    absent: tuple[tuple[str, str], ...] = ()
    problems: tuple[Problem, ...] = ()
    revoke_iam: bool = False
    adopt: bool = False
    force: bool = False

    @property
    def ok(self) -> bool:
        """True if nothing stops the destroy (no problem, or ``force``)."""
        return self.force or not self.problems

    @property
    def has_changes(self) -> bool:
        """True if the destroy would delete something."""
        return bool(self.deletes)

    def entities(self) -> list[tuple[str, str, str, str]]:
        """``(action, kind, name, reason)`` of every entity: ``delete``, ``keep`` or ``absent``."""
        rows = [("delete", c.kind, c.name, c.note) for c in self.deletes]
        rows += [("keep", c.kind, c.name, c.note) for c in self.kept]
        rows += [("absent", kind, name, "not found: nothing to delete") for kind, name in self.absent]
        return rows

    def same_as(self, other: DestroyPlan) -> list[str]:
        """Why a destroy now (``other``, a fresh read) would not be the one this plan shows, one
        line per entity: it would delete something this plan does not delete, or meets a
        problem this plan did not show. Empty when it may go ahead (something planned for
        deletion that is gone already, or kept now, is no reason to stop)."""
        planned = {(c.kind, c.name) for c in self.deletes}
        shown = {(kind, name): action for action, kind, name, _ in self.entities()}
        reasons = []
        for change in other.deletes:
            if (change.kind, change.name) not in planned:
                was = shown.get((change.kind, change.name), "not in it")
                was = {"keep": "kept", "absent": "absent"}.get(was, was)
                reasons.append(f"{change.kind}: {change.name} would now be deleted, but was {was} in the plan")
        for problem in other.problems:
            if problem not in self.problems:
                reasons.append(f"{problem.kind}: {problem.message} (new since the plan)")
        return reasons

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary: ``spec``, ``organization``, one entry per entity with its
        ``action`` (``delete``, ``keep`` or ``absent``), ``kind``, ``name``, ``id`` and
        ``reason``, the ``problems``, a ``summary`` and the options."""
        ids = {(c.kind, c.name): c.resource_id for c in (*self.deletes, *self.kept)}
        return {
            "format": DESTROY_PLAN_FORMAT,
            "spec": self.spec_source,
            "organization": self.organization,
            "entities": [
                {"action": action, "kind": kind, "name": name, "id": ids.get((kind, name)), "reason": reason}
                for action, kind, name, reason in self.entities()
            ],
            "problems": [problem.to_dict() for problem in self.problems],
            "summary": {"delete": len(self.deletes), "keep": len(self.kept), "absent": len(self.absent)},
            "revoke_iam": self.revoke_iam,
            "adopt": self.adopt,
            "force": self.force,
        }

    def to_json(self) -> str:
        """The destroy plan as indented JSON."""
        return json.dumps(self.to_dict(), indent=2)

    def to_text(self) -> str:
        """The destroy plan for a terminal."""
        lines = [f"Destroy plan for {self.spec_source or 'spec'} (organization {self.organization})"]
        symbols = {"delete": "-", "keep": "=", "absent": " "}
        for action, kind, name, reason in self.entities():
            line = f"  {symbols[action]:>3} {action:<8} {kind:<22} {name}"
            lines.append(line + (f"  ({reason})" if reason else ""))
        lines.append(f"Summary: {len(self.deletes)} to delete, {len(self.kept)} kept, {len(self.absent)} absent")
        for problem in self.problems:
            lines.append(f"  ! {problem.kind}: {problem.message}")
        if self.problems and self.force:
            lines.append("--force: deleted all the same")
        if not self.deletes:
            lines.append("Nothing to delete.")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()

    def _repr_html_(self) -> str:
        table = html_table(("action", "kind", "name", "reason"), self.entities())
        problems = "".join(f"<p><b>{html.escape(p.kind)}</b>: {html.escape(p.message)}</p>" for p in self.problems)
        return f"<p>Destroy plan for <code>{html.escape(self.spec_source or 'spec')}</code></p>{table}{problems}"
