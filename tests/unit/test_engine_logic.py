"""The engine's plan and status decisions on hand-built observations (no I/O).

These cover states the emulator does not produce (FROZEN, NEEDS_ATTENTION,
ACCEPTED_LIMITED_CAPACITY), an in-flight create whose attachment is not visible yet, entities
that could not be read, and the lists sent when a service attachment is changed in place.
"""

from __future__ import annotations

from typing import Any

import pytest

from apigee_psc import errors
from apigee_psc.compute import ConnectedEndpoint, ConsumerProjectLimit, ForwardingRule, ServiceAttachment, Subnet
from apigee_psc.demo import SEED_SPEC
from apigee_psc.models import EndpointAttachment, Operation, Organization
from apigee_psc.southbound import Action, Realization, Southbound, SouthboundSpec
from apigee_psc.southbound.engine import _Observed, _Read

TENANT = "tenant-project-123"
SA_PATH = "projects/my-project/regions/us-west1/serviceAttachments/gkebackend"


def _spec(**changes: Any) -> SouthboundSpec:
    data = {**SEED_SPEC, **changes}
    return SouthboundSpec.from_dict({k: v for k, v in data.items() if v is not None})


def _sa(**fields: Any) -> ServiceAttachment:
    base: dict[str, Any] = {
        "name": "gkebackend",
        "connection_preference": "ACCEPT_AUTOMATIC",
        "target_service": "projects/my-project/regions/us-west1/forwardingRules/fr-ilb",
        "nat_subnets": ("projects/my-project/regions/us-west1/subnetworks/psc-subnet",),
    }
    return ServiceAttachment(**{**base, **fields})


def _ea(state: str = "ACTIVE", connection: str = "ACCEPTED") -> EndpointAttachment:
    return EndpointAttachment(
        name="gkebackend",
        location="us-west1",
        service_attachment=SA_PATH,
        host="7.0.3.4",
        state=state,
        connection_state=connection,
    )


def _seen(**reads: Any) -> _Observed:
    seen = _Observed(
        organization=Organization("my-organization", apigee_project_id=TENANT, project_id="my-organization"),
        forwarding_rule=_Read(ForwardingRule("fr-ilb", load_balancing_scheme="INTERNAL")),
        subnet=_Read(Subnet("psc-subnet", "10.100.0.0/28", purpose="PRIVATE_SERVICE_CONNECT")),
        service_attachment=_Read(_sa()),
        endpoint_attachment=_Read(_ea()),
    )
    for key, value in reads.items():
        setattr(seen, key, value if isinstance(value, _Read) else _Read(value))
    return seen


def _southbound(**changes: Any) -> Southbound:
    return Southbound(_spec(dns=None, firewall=None, **changes))


def _ea_detail(southbound: Southbound, seen: _Observed) -> Any:
    report = southbound._report(seen)
    return next(d for d in report.details if d.sub_system_type == "EndpointAttachment"), report


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
    detail, _ = _ea_detail(_southbound(), _seen(endpoint_attachment=_ea("ACTIVE", connection)))
    assert detail.state is expected
    if fragment is None:
        assert detail.failure_message is None
    else:
        assert fragment in (detail.failure_message or "")


def test_status_creating_attachment_is_in_progress() -> None:
    detail, report = _ea_detail(_southbound(), _seen(endpoint_attachment=_ea("CREATING", "UNAVAILABLE")))
    assert detail.state is Realization.IN_PROGRESS
    assert report.state is Realization.IN_PROGRESS


def test_status_unreadable_entity_is_unknown_and_names_the_error() -> None:
    denied = errors.PermissionDenied("caller lacks compute.serviceAttachments.get", rpc_status="PERMISSION_DENIED")
    report = _southbound()._report(_seen(service_attachment=_Read(None, denied)))
    detail = next(d for d in report.details if d.sub_system_type == "ServiceAttachment")
    assert detail.state is Realization.UNKNOWN
    assert "compute.serviceAttachments.get" in (detail.failure_message or "")
    assert report.state is Realization.UNKNOWN


def test_status_unreadable_organization_reports_one_unknown_entity() -> None:
    seen = _Observed(org_error=errors.NotFound("organization not found"))
    report = _southbound()._report(seen)
    assert [(d.sub_system_type, d.state) for d in report.details] == [("Organization", Realization.UNKNOWN)]


def test_status_manual_preference_without_tenant_is_in_progress() -> None:
    southbound = _southbound(service_attachment={"name": "gkebackend", "connection_preference": "ACCEPT_MANUAL"})
    report = southbound._report(_seen(service_attachment=_sa(connection_preference="ACCEPT_MANUAL")))
    detail = next(d for d in report.details if d.sub_system_type == "ServiceAttachment")
    assert detail.state is Realization.IN_PROGRESS
    assert TENANT in (detail.failure_message or "")


def test_status_reports_connected_endpoints_as_observed() -> None:
    sa = _sa(connected_endpoints=(ConnectedEndpoint("ep", "ACCEPTED"),))
    report = _southbound()._report(_seen(service_attachment=sa))
    detail = next(d for d in report.details if d.sub_system_type == "ServiceAttachment")
    assert detail.observed["connected_endpoints"] == ["ACCEPTED"]


def test_plan_invisible_attachment_with_operation_in_flight_waits_on_it() -> None:
    operation = Operation("organizations/my-organization/operations/op-1", metadata={"targetResourceName": "x"})
    plan = _southbound()._plan(_seen(endpoint_attachment=None, pending_operation=operation))
    change = next(c for c in plan.changes if c.kind == "EndpointAttachment")
    assert change.action is Action.WAIT
    assert change.operation == "organizations/my-organization/operations/op-1"
    assert change.to_dict()["operation"] == change.operation


def test_plan_attachment_for_another_service_attachment_is_a_problem() -> None:
    other = EndpointAttachment("gkebackend", "us-west1", "projects/my-project/regions/us-west1/serviceAttachments/x")
    plan = _southbound()._plan(_seen(endpoint_attachment=other))
    assert not plan.ok
    assert any("would have to be replaced" in p.message for p in plan.problems)


def test_plan_external_forwarding_rule_is_a_problem() -> None:
    plan = _southbound()._plan(_seen(forwarding_rule=ForwardingRule("fr-ilb", load_balancing_scheme="EXTERNAL")))
    assert any("needs an INTERNAL one" in p.message for p in plan.problems)


def test_plan_subnet_with_other_purpose_needs_replacing() -> None:
    plan = _southbound()._plan(_seen(subnet=Subnet("psc-subnet", "10.100.0.0/28", purpose="PRIVATE")))
    change = next(c for c in plan.changes if c.kind == "NatSubnet")
    assert change.action is Action.REPLACE
    assert "purpose: PRIVATE -> PRIVATE_SERVICE_CONNECT" in change.diffs
    assert not plan.ok


def test_plan_read_error_is_raised_not_planned_around() -> None:
    boom = errors.ServerError("backend unavailable", status_code=503)
    with pytest.raises(errors.ServerError):
        _southbound()._plan(_seen(subnet=_Read(None, boom)))


def test_sa_target_keeps_other_consumers_and_unrejects_the_tenant() -> None:
    southbound = _southbound(
        service_attachment={
            "name": "gkebackend",
            "connection_preference": "ACCEPT_MANUAL",
            "reject_projects": ["bad-project-1"],
        }
    )
    live = _sa(
        connection_preference="ACCEPT_MANUAL",
        consumer_accept_lists=(ConsumerProjectLimit("partner-project", 3),),
        consumer_reject_lists=(TENANT, "old-reject-1"),
    )
    target = southbound._sa_target(live, _seen(service_attachment=live))
    assert [(e.project, e.connection_limit) for e in target.accept] == [("partner-project", 3), (TENANT, 10)]
    assert list(target.reject) == ["old-reject-1", "bad-project-1"]
    assert "accept partner-project" in target.kept and "reject old-reject-1" in target.kept
    assert f"reject: - {TENANT}" in target.diffs and f"accept: + {TENANT} (limit 10)" in target.diffs


def test_sa_target_prune_removes_consumers_the_spec_does_not_name() -> None:
    southbound = _southbound(
        service_attachment={"name": "gkebackend", "connection_preference": "ACCEPT_MANUAL", "prune": True}
    )
    live = _sa(
        connection_preference="ACCEPT_MANUAL",
        consumer_accept_lists=(ConsumerProjectLimit("partner-project", 3), ConsumerProjectLimit(TENANT, 10)),
        consumer_reject_lists=("old-reject-1",),
    )
    target = southbound._sa_target(live, _seen(service_attachment=live))
    assert [e.project for e in target.accept] == [TENANT]
    assert target.reject == ()
    assert "accept: - partner-project (prune)" in target.diffs and "reject: - old-reject-1 (prune)" in target.diffs


def test_sa_target_connection_limit_change_is_a_diff_and_is_sent() -> None:
    southbound = _southbound(
        service_attachment={"name": "gkebackend", "connection_preference": "ACCEPT_MANUAL", "connection_limit": 15}
    )
    live = _sa(connection_preference="ACCEPT_MANUAL", consumer_accept_lists=(ConsumerProjectLimit(TENANT, 20),))
    seen = _seen(service_attachment=live)
    target = southbound._sa_target(live, seen)
    assert [(e.project, e.connection_limit) for e in target.accept] == [(TENANT, 15)]
    change = next(c for c in southbound._plan(seen).changes if c.kind == "ServiceAttachment")
    assert change.action is Action.UPDATE and f"connection_limit of {TENANT}: 20 -> 15" in change.diffs


def test_sa_target_for_automatic_is_empty_and_widening_needs_confirmation() -> None:
    live = _sa(
        connection_preference="ACCEPT_MANUAL",
        consumer_accept_lists=(ConsumerProjectLimit(TENANT, 10),),
        consumer_reject_lists=("bad-project-1",),
    )
    target = _southbound()._sa_target(live, _seen(service_attachment=live))
    assert (target.accept, target.reject) == ((), ())
    assert "consumer bad-project-1: rejected -> accepted (ACCEPT_AUTOMATIC accepts every consumer)" in target.diffs
    assert any("allow_widening" in p for p in target.problems)
    confirmed = _southbound(
        service_attachment={"name": "gkebackend", "connection_preference": "ACCEPT_AUTOMATIC", "allow_widening": True}
    )
    assert confirmed._sa_target(live, _seen(service_attachment=live)).problems == []


def test_wanted_accept_respects_an_explicit_rejection_of_the_tenant() -> None:
    southbound = _southbound(
        service_attachment={"name": "gkebackend", "connection_preference": "ACCEPT_MANUAL", "reject_projects": [TENANT]}
    )
    assert southbound._wanted_accept(_seen()) == {}
