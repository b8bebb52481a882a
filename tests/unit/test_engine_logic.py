"""The engine's decisions on hand-built observations (no I/O).

Status mapped from snapshots the emulator does not produce (FROZEN, NEEDS_ATTENTION,
ACCEPTED_LIMITED_CAPACITY, unreadable entities), the runner's ordering and failure handling,
and apply's refusal of a plan whose resources changed since it was made.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent / "resources"))

from resource_kit import ORG, TENANT, context, ea, report, sa, snapshot, spec

from apigee_psc import errors
from apigee_psc.compute import ConnectedEndpoint, ConsumerProjectLimit, ForwardingRule
from apigee_psc.southbound import Action, Plan, PlanRefused, PlanStale, Realization, Southbound
from apigee_psc.southbound.resources import RECONCILERS
from apigee_psc.southbound.resources.base import Reconciler, Seen
from apigee_psc.southbound.runner import Run

NO_DNS = {"dns": None, "firewall": None}


def _ea_detail(snap: dict[str, Seen], **spec_changes: Any) -> Any:
    found = report(spec(**NO_DNS, **spec_changes), snap)
    return next(d for d in found.details if d.sub_system_type == "EndpointAttachment"), found


@pytest.mark.parametrize(
    ("connection", "expected", "fragment"),
    [
        ("ACCEPTED", Realization.IN_SYNC, None),
        ("ACCEPTED_LIMITED_CAPACITY", Realization.IN_SYNC, "raise the connection limit"),
        ("PENDING", Realization.IN_PROGRESS, "PENDING"),
        ("NEEDS_ATTENTION", Realization.IN_PROGRESS, "NEEDS_ATTENTION"),
        ("UNAVAILABLE", Realization.IN_PROGRESS, "UNAVAILABLE"),
        ("REJECTED", Realization.FAILED, "REJECTED"),
        ("CLOSED", Realization.FAILED, "recreate"),
        ("FROZEN", Realization.FAILED, "suspended or disabled"),
    ],
)
def test_status_connection_state_maps_to_realization(
    connection: str, expected: Realization, fragment: str | None
) -> None:
    detail, _ = _ea_detail(snapshot(EndpointAttachment=ea("ACTIVE", connection)))
    assert detail.state is expected
    if fragment is None:
        assert detail.failure_message is None
    else:
        assert fragment in (detail.failure_message or "")


def test_status_pending_on_automatic_says_wait_not_accept_list() -> None:
    """Issue 8: PENDING on an ACCEPT_AUTOMATIC attachment is explained as such, not as a list problem."""
    detail, _ = _ea_detail(snapshot(EndpointAttachment=ea("ACTIVE", "PENDING")))
    assert "accepts automatically" in detail.failure_message
    assert "accept list" not in detail.failure_message


def test_status_creating_attachment_is_in_progress() -> None:
    detail, found = _ea_detail(snapshot(EndpointAttachment=ea("CREATING", "UNAVAILABLE")))
    assert detail.state is Realization.IN_PROGRESS
    assert found.state is Realization.IN_PROGRESS


def test_status_unreadable_entity_is_unknown_and_names_the_error() -> None:
    denied = errors.PermissionDenied("caller lacks compute.serviceAttachments.get", rpc_status="PERMISSION_DENIED")
    found = report(spec(**NO_DNS), snapshot(ServiceAttachment=Seen(None, denied)))
    detail = next(d for d in found.details if d.sub_system_type == "ServiceAttachment")
    assert detail.state is Realization.UNKNOWN
    assert "compute.serviceAttachments.get" in (detail.failure_message or "")
    assert found.state is Realization.UNKNOWN


def test_status_unreadable_organization_reports_one_unknown_entity(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(self: Southbound) -> Any:
        raise errors.NotFound("organization not found")

    monkeypatch.setattr(Southbound, "_org", fail)
    found = Southbound(spec(**NO_DNS)).status()
    assert [(d.sub_system_type, d.state) for d in found.details] == [("Organization", Realization.UNKNOWN)]


def test_status_manual_preference_without_tenant_is_in_progress() -> None:
    manual = {"name": "gkebackend", "connection_preference": "ACCEPT_MANUAL"}
    found = report(
        spec(**NO_DNS, service_attachment=manual), snapshot(ServiceAttachment=sa(connection_preference="ACCEPT_MANUAL"))
    )
    detail = next(d for d in found.details if d.sub_system_type == "ServiceAttachment")
    assert detail.state is Realization.IN_PROGRESS
    assert TENANT in (detail.failure_message or "")


def test_status_reports_connected_endpoints_as_observed() -> None:
    live = sa(connected_endpoints=(ConnectedEndpoint("ep", "ACCEPTED"),))
    found = report(spec(**NO_DNS), snapshot(ServiceAttachment=live))
    detail = next(d for d in found.details if d.sub_system_type == "ServiceAttachment")
    assert detail.observed["connected_endpoints"] == ["ACCEPTED"]


def test_status_external_forwarding_rule_is_failed() -> None:
    found = report(spec(**NO_DNS), snapshot(ForwardingRule=ForwardingRule("fr-ilb", load_balancing_scheme="EXTERNAL")))
    detail = next(d for d in found.details if d.sub_system_type == "ForwardingRule")
    assert detail.state is Realization.FAILED and "INTERNAL" in (detail.failure_message or "")


def _southbound_reading(monkeypatch: pytest.MonkeyPatch, snap: dict[str, Seen], reads: list[str]) -> Southbound:
    """A Southbound whose reads come from ``snap`` (``reads`` records which kinds were read)."""
    monkeypatch.setattr(Southbound, "_org", lambda self: ORG)

    def read(self: Southbound, ctx: Any, kinds: Any, *, full: bool) -> dict[str, Seen]:
        reads.extend(r.kind for r in kinds)
        return {r.kind: snap.get(r.kind, Seen()) for r in kinds}

    monkeypatch.setattr(Southbound, "_read", read)
    return Southbound(spec(**NO_DNS))


def test_plan_read_error_is_raised_not_planned_around(monkeypatch: pytest.MonkeyPatch) -> None:
    boom = errors.ServerError("backend unavailable", status_code=503)
    southbound = _southbound_reading(monkeypatch, snapshot(NatSubnet=Seen(None, boom)), [])
    with pytest.raises(errors.ServerError):
        southbound.plan()


def test_plan_keeps_its_reads_and_round_trips_through_json(monkeypatch: pytest.MonkeyPatch) -> None:
    snap = snapshot(ServiceAttachment=Seen(None), EndpointAttachment=Seen(None))
    plan = _southbound_reading(monkeypatch, snap, []).plan()
    again = Plan.from_json(plan.to_json())
    assert again == plan and again.spec == plan.spec
    assert [c.live for c in again.changes] == [c.live for c in plan.changes]
    assert [c.wanted for c in again.changes] == [c.wanted for c in plan.changes]
    assert (
        again.change("ForwardingRule") is not None
        and again.change("ForwardingRule").live == snap["ForwardingRule"].live
    )  # type: ignore[union-attr]


def test_apply_with_a_plan_rereads_only_what_it_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[str] = []
    southbound = _southbound_reading(monkeypatch, snapshot(EndpointAttachment=ea("CREATING", "UNAVAILABLE")), reads)
    plan = southbound.plan()
    assert [c.kind for c in plan.changes if c.action is not Action.NOOP] == ["EndpointAttachment"]
    reads.clear()
    monkeypatch.setattr(Run, "graph", lambda self, kinds, work, reverse=False: {})
    southbound.apply(plan=plan)
    assert reads[0] == "EndpointAttachment" and "ServiceAttachment" not in reads


def test_apply_refuses_a_plan_whose_resource_changed_since(monkeypatch: pytest.MonkeyPatch) -> None:
    snap = snapshot(ServiceAttachment=sa(connection_preference="ACCEPT_MANUAL"))
    manual = spec(**NO_DNS, service_attachment={"name": "gkebackend", "connection_preference": "ACCEPT_MANUAL"})
    monkeypatch.setattr(Southbound, "_org", lambda self: ORG)
    monkeypatch.setattr(Southbound, "_read", lambda self, ctx, kinds, full: {r.kind: snap[r.kind] for r in kinds})
    plan = Southbound(manual).plan()
    assert plan.change("ServiceAttachment").diffs == (f"accept: + {TENANT} (limit 10)",)  # type: ignore[union-attr]
    southbound = Southbound(manual)
    ctx = context(manual)
    kinds = [r for r in RECONCILERS if r.applies(manual, ORG)]
    planned = {c.kind: Seen(c.live) for c in (*plan.changes, *plan.references)}

    # Someone rejects another project meanwhile: apply would still send the same change (and keep it).
    snap["ServiceAttachment"] = Seen(sa(connection_preference="ACCEPT_MANUAL", consumer_reject_lists=("x-project",)))
    changes, _ = southbound._recheck(ctx, kinds, plan, dict(planned))
    assert changes["ServiceAttachment"].wanted.consumer_reject_lists == ("x-project",)

    # Someone accept-lists the Apigee project with another limit: apply would now do something else.
    snap["ServiceAttachment"] = Seen(
        sa(connection_preference="ACCEPT_MANUAL", consumer_accept_lists=(ConsumerProjectLimit(TENANT, 5),))
    )
    with pytest.raises(PlanStale) as caught:
        southbound.apply(plan=plan)
    assert "ServiceAttachment: gkebackend changed since the plan" in str(caught.value)
    assert f"connection_limit of {TENANT}: 5 -> 10" in str(caught.value)
    assert isinstance(caught.value, PlanRefused)


def test_apply_refuses_a_plan_made_for_another_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    southbound = _southbound_reading(monkeypatch, snapshot(), [])
    plan = southbound.plan()
    other = Southbound(spec(**NO_DNS, nat_subnet={"name": "psc-subnet", "range": "10.100.8.0/28"}))
    with pytest.raises(PlanRefused, match="this plan was made for"):
        other.apply(plan=plan)


def test_apply_refuses_a_plan_with_problems_before_any_read(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[str] = []
    southbound = _southbound_reading(monkeypatch, snapshot(ForwardingRule=Seen(None)), reads)
    plan = southbound.plan()
    assert not plan.ok
    reads.clear()
    with pytest.raises(PlanRefused, match="fr-ilb does not exist"):
        southbound.apply(plan=plan)
    assert reads == []


class _Kind(Reconciler):
    def __init__(self, kind: str, depends_on: tuple[str, ...] = ()) -> None:
        self.kind = kind  # type: ignore[misc]
        self.depends_on = depends_on  # type: ignore[misc]

    def name(self, spec: Any) -> str:
        return self.kind.lower()


def test_runner_starts_each_step_once_its_dependencies_are_done_and_overlaps_the_rest() -> None:
    kinds = [_Kind("A"), _Kind("B"), _Kind("C", ("A",)), _Kind("D", ("C", "B"))]
    log: list[str] = []
    lock = threading.Lock()
    b_started = threading.Event()

    def work(r: Reconciler) -> tuple[bool, Any]:
        with lock:
            log.append(f"start {r.kind}")
        if r.kind == "B":
            b_started.set()
            time.sleep(0.05)
        if r.kind == "A":
            assert b_started.wait(1), "A and B should run at once"
        with lock:
            log.append(f"end {r.kind}")
        return True, r.kind

    done = Run(Southbound(spec(**NO_DNS)), "apply", None).graph(kinds, work)
    assert set(done) == {"A", "B", "C", "D"}
    assert log.index("end A") < log.index("start C") and log.index("end C") < log.index("start D")
    assert log.index("end B") < log.index("start D")
    backwards: list[str] = []
    Run(Southbound(spec(**NO_DNS)), "destroy", None).graph(
        kinds, lambda r: (backwards.append(r.kind), (True, None))[1], reverse=True
    )
    assert backwards.index("D") < backwards.index("C") < backwards.index("A")


def test_runner_failure_stops_new_steps_and_is_raised() -> None:
    started: list[str] = []

    def work(r: Reconciler) -> tuple[bool, Any]:
        started.append(r.kind)
        if r.kind == "A":
            raise errors.ServerError("boom", status_code=500)
        return True, None

    with pytest.raises(errors.ServerError):
        Run(Southbound(spec(**NO_DNS)), "apply", None).graph([_Kind("A"), _Kind("C", ("A",))], work)
    assert started == ["A"]


def test_every_kind_is_registered_once_in_dependency_order() -> None:
    kinds = [r.kind for r in RECONCILERS]
    assert len(kinds) == len(set(kinds))
    for position, r in enumerate(RECONCILERS):
        assert all(kinds.index(d) < position for d in r.depends_on), r.kind


def test_context_owner_marks_name_the_spec() -> None:
    ctx = context()
    assert ctx.mark.startswith("managed by apigee-psc") and "endpointAttachments/gkebackend" in ctx.mark
    assert "heritage=apigee-psc" in ctx.owner_txt


def test_a_sleep_set_after_construction_is_the_one_waits_use_and_a_cancel_still_wakes_it() -> None:
    connection = Southbound(spec(**NO_DNS))
    slept: list[float] = []
    connection.sleep = slept.append
    connection.clients.apigee.sleep(2.5)  # a client's pause is the connection's
    assert slept == [2.5] and connection.sleep == slept.append
    event = threading.Event()
    with connection._cancellation.running("apply", event):
        event.set()
        with pytest.raises(errors.Cancelled):
            connection.clients.apigee.sleep(1.0)
    assert slept == [2.5, 1.0]
