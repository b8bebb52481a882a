"""Safe heals: what a watch with ``heal="safe"`` may repair, and the repair itself.

Only changes that widen nothing, on resources the spec owns or creates, are healed: a deleted
firewall rule or A record is created again, a firewall rule of this spec's that was changed is
restored, the Apigee project is put back on the accept list of the spec's service attachment.
Anything else is reported, never healed (:func:`heal_refusal` says why). A heal goes through
:meth:`Southbound.apply` with a plan narrowed to those changes, so the saved-plan re-check and
the organization lock work as for any apply.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from apigee_psc import errors
from apigee_psc.southbound.conditions import PassRead, SpecState, WatchEvent
from apigee_psc.southbound.plan import Action, Change

if TYPE_CHECKING:
    from apigee_psc.southbound.engine import Southbound
    from apigee_psc.southbound.metrics import WatchMetrics

__all__ = ["HEAL_MODES", "heal", "heal_refusal"]

#: The values of ``Watcher(heal=...)``: observe only, or heal what is safe.
HEAL_MODES = ("none", "safe")
#: Kinds whose absence a safe heal may repair by creating them (they hold no one's traffic
#: but this spec's, and creating them widens nothing the spec does not say).
_RECREATE = frozenset({"Firewall", "DnsRecord"})


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



def heal(
    sb: Southbound,
    key: str,
    state: SpecState,
    read: PassRead,
    emit: Callable[[WatchEvent], None],
    *,
    clock: Callable[[], float],
    cancel: threading.Event | None = None,
    metrics: WatchMetrics | None = None,
) -> bool:
    """Apply the safe changes of ``read`` (the spec ``key`` of the connection ``sb``, whose
    pass ended in ``state``) through a narrowed plan; True if anything was written. Every
    candidate is reported to ``emit``: skipped (and why), planned, done or failed; ``cancel``
    stops the apply at its next safe point."""
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
            emit(WatchEvent("heal_skipped", key, clock(), r.kind, change.name, message=refusal, change=change))
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
                WatchEvent("heal_skipped", key, clock(), change.kind, change.name, message=text, change=change)
            )
        return False
    try:
        plan = sb.plan()  # a fresh, full read: the plan apply re-checks before it writes
    except errors.ApigeePscError as exc:
        emit(WatchEvent("heal_failed", key, clock(), message=f"plan: {exc}"))
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
                clock(),
                change.kind,
                change.name,
                message=f"{change.action.value}: {'; '.join(change.diffs)}",
                fields=change.fields,
                change=change,
            )
        )
    try:
        sb.apply(plan=narrowed, progress=lambda event: None, cancel=cancel)
    except (errors.ApigeePscError, OSError) as exc:
        for change in chosen:
            emit(
                WatchEvent(
                    "heal_failed", key, clock(), change.kind, change.name, message=str(exc), change=change
                )
            )
            if metrics is not None:
                metrics.heal("failed")
        return False
    for change in chosen:
        emit(
            WatchEvent(
                "heal_done", key, clock(), change.kind, change.name, change=change, fields=change.fields
            )
        )
        if metrics is not None:
            metrics.heal("done")
    return True
