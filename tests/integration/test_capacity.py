"""NAT capacity in plan and status, and ``propagated_connection_limit`` (0 allowed) end to end."""

from __future__ import annotations

from collections.abc import Callable

from integration_helpers import southbound

from apigee_psc import ComputeClient
from apigee_psc.emulator import EmulatorServer
from apigee_psc.southbound import Action, SouthboundSpec

MANUAL = {"name": "gkebackend", "connection_preference": "ACCEPT_MANUAL"}


def test_propagated_connection_limit_zero_is_sent_and_a_change_is_planned_and_applied(
    producer: EmulatorServer, make_spec: Callable[..., SouthboundSpec]
) -> None:
    spec = make_spec(service_attachment={**MANUAL, "propagated_connection_limit": 0})
    assert spec.to_dict()["service_attachment"]["propagated_connection_limit"] == 0
    assert southbound(spec).apply().ok
    attachments = ComputeClient("my-project", "us-west1").service_attachments
    assert attachments.get("gkebackend").propagated_connection_limit == 0
    assert not southbound(spec).plan().has_changes
    more = make_spec(service_attachment={**MANUAL, "propagated_connection_limit": 4})
    change = next(c for c in southbound(more).plan().changes if c.kind == "ServiceAttachment")
    assert change.action is Action.UPDATE and "propagated_connection_limit: 0 -> 4" in change.diffs
    assert southbound(more).apply().ok
    assert attachments.get("gkebackend").propagated_connection_limit == 4
    assert not southbound(more).plan().has_changes


def test_status_reports_nat_capacity_of_the_service_attachment(
    producer: EmulatorServer, seed_spec: SouthboundSpec
) -> None:
    assert southbound(seed_spec).apply().ok
    status = southbound(seed_spec).status()
    detail = next(d for d in status.to_dict()["details"] if d["sub_system_type"] == "ServiceAttachment")
    assert detail["capacity"] == {
        "nat_ips_total": 12,
        "nat_ips_used": 1,
        "nat_ips_left": 11,
        "connected_endpoints": {"ACCEPTED": 1},
        "propagated_connection_count": 0,
    }
    assert "NAT addresses: 1 of 12 used, 11 left" in status.to_text()


def test_plan_warns_when_the_nat_range_is_too_small_for_the_limits(
    producer: EmulatorServer, make_spec: Callable[..., SouthboundSpec]
) -> None:
    fits = southbound(make_spec(service_attachment=MANUAL)).plan()  # the Apigee project x 10 <= 12
    assert next(c for c in fits.changes if c.kind == "NatSubnet").note == ""
    crowded = make_spec(service_attachment={**MANUAL, "accept_projects": ["team-a", "team-b"]})
    plan = southbound(crowded).plan()
    subnet = next(c for c in plan.changes if c.kind == "NatSubnet")
    assert "gives 12 addresses, but the spec allows up to 30" in subnet.note
    assert plan.ok  # a warning, not a problem
    assert "up to 30" in plan.to_text()


def test_diagnose_shows_the_nat_capacity(producer: EmulatorServer, seed_spec: SouthboundSpec) -> None:
    import json

    import jsonschema
    from click.testing import CliRunner

    from apigee_psc import _schema
    from apigee_psc.cli import cli

    assert southbound(seed_spec).apply().ok
    result = CliRunner().invoke(cli, ["diagnose", "--org", "my-organization", "gkebackend", "-o", "json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    jsonschema.Draft202012Validator(_schema.load("diagnose")).validate(data)
    assert data["capacity"]["nat_ips_used"] == 1 and data["capacity"]["nat_ips_total"] == 12
    text = CliRunner().invoke(cli, ["diagnose", "--org", "my-organization", "gkebackend"]).stdout
    assert "NAT:   1 of 12 NAT addresses used, 11 left" in text
