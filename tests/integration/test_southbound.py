"""The Python API of a southbound connection against the emulator, over real HTTP."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from integration_helpers import FAST, last_seq, mutations, southbound

from apigee_psc import ApigeeClient, ComputeClient, RetryPolicy, errors
from apigee_psc.emulator import EmulatorServer
from apigee_psc.errors import ConnectionNotAccepted
from apigee_psc.southbound import Action, PlanRefused, ProgressEvent, Realization, SouthboundSpec, apply_fleet

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


class Crash(BaseException):
    """Stands for the process dying (Ctrl-C, OOM kill) at a chosen point of an apply."""


def _state_counts(server: EmulatorServer) -> dict[str, int]:
    """How many of each owned resource exist, to prove nothing was created twice."""
    from apigee_psc.cloud import CloudDnsClient

    compute = ComputeClient("my-project", "us-west1")
    apigee = ApigeeClient("my-organization")
    records = CloudDnsClient().records.list("my-project", "my-private-zone", type="A")
    return {
        "subnets": sum(1 for s in compute.subnets.list() if s.purpose == "PRIVATE_SERVICE_CONNECT"),
        "service_attachments": len(list(compute.service_attachments.list())),
        "endpoint_attachments": len(list(apigee.endpoint_attachments.list())),
        "dns_zones": len(list(apigee.dns_zones.list())),
        "a_records": len(list(records)),
        "apigee_operations": len(server.operations("apigee")),
    }


def test_plan_fresh_environment_lists_creates_and_writes_nothing(
    producer: EmulatorServer, seed_spec: SouthboundSpec
) -> None:
    before = last_seq(producer)
    plan = southbound(seed_spec).plan()
    assert mutations(producer, before) == []
    assert plan.ok
    assert [(c.kind, c.action) for c in plan.changes] == [
        ("NatSubnet", Action.CREATE),
        ("Firewall", Action.CREATE),
        ("ServiceAttachment", Action.CREATE),
        ("EndpointAttachment", Action.CREATE),
        ("IamBinding", Action.CREATE),
        ("DnsZone", Action.CREATE),
        ("DnsRecord", Action.CREATE),
    ]
    assert [(c.kind, c.action) for c in plan.references] == [
        ("ForwardingRule", Action.NOOP),  # referenced: checked, never changed
        ("ManagedZone", Action.NOOP),
    ]


def test_apply_seed_scenario_converges_in_sync(producer: EmulatorServer, seed_spec: SouthboundSpec) -> None:
    events: list[ProgressEvent] = []
    report = southbound(seed_spec).apply(progress=events.append)

    assert report.state is Realization.IN_SYNC, report.to_text()
    assert {d.sub_system_type for d in report.details} == {
        "NatSubnet", "Firewall", "ForwardingRule", "ServiceAttachment", "EndpointAttachment",
        "IamBinding", "DnsZone", "ManagedZone", "DnsRecord",
    }  # fmt: skip
    attachment = ApigeeClient("my-organization").endpoint_attachments.get("gkebackend")
    assert attachment.ready
    assert report.host == attachment.host
    assert report.target_url == "http://orders.example.com/orders"
    assert any(e.step == "EndpointAttachment gkebackend" and e.status == "done" for e in events)
    sa = ComputeClient("my-project", "us-west1").service_attachments.get("gkebackend")
    assert [str(e.status) for e in sa.connected_endpoints] == ["ACCEPTED"]


def test_apply_twice_second_run_makes_no_write_and_starts_no_operation(
    producer: EmulatorServer, seed_spec: SouthboundSpec
) -> None:
    southbound(seed_spec).apply()
    operations = len(producer.operations())
    before = last_seq(producer)

    second = southbound(seed_spec)
    assert not second.plan().has_changes
    report = second.apply()

    assert report.ok
    assert mutations(producer, before) == []
    assert len(producer.operations()) == operations


def test_status_before_apply_reports_not_found_entities(producer: EmulatorServer, seed_spec: SouthboundSpec) -> None:
    report = southbound(seed_spec).status()
    states = {d.sub_system_type: d.state for d in report.details}
    assert states["ForwardingRule"] is Realization.IN_SYNC
    assert states["EndpointAttachment"] is Realization.NOT_FOUND
    assert report.state is Realization.NOT_FOUND
    assert report.to_dict()["failure_message"]


CRASH_POINTS = [
    ("NatSubnet psc-subnet", "started"),
    ("NatSubnet psc-subnet", "done"),
    ("Firewall allow-psc-nat-80", "done"),
    ("ServiceAttachment gkebackend", "started"),
    ("ServiceAttachment gkebackend", "done"),
    ("EndpointAttachment gkebackend", "started"),
    ("EndpointAttachment gkebackend", "waiting"),
    ("DnsZone my-zone", "waiting"),
    ("DnsRecord orders.example.com.", "started"),
]


@pytest.mark.parametrize(("step", "status"), CRASH_POINTS, ids=[f"{s.split()[0]}-{st}" for s, st in CRASH_POINTS])
def test_apply_crash_then_reapply_converges_without_duplicates(
    producer: EmulatorServer, seed_spec: SouthboundSpec, step: str, status: str
) -> None:
    producer.configure(op_seconds=0.3)

    def crash(event: ProgressEvent) -> None:
        if event.step == step and event.status == status:
            raise Crash(f"{step} {status}")

    with pytest.raises(Crash):
        southbound(seed_spec).apply(progress=crash)

    report = southbound(seed_spec).apply()

    assert report.ok, report.to_text()
    counts = _state_counts(producer)
    assert counts | {"apigee_operations": 0} == {
        "subnets": 1,
        "service_attachments": 1,
        "endpoint_attachments": 1,
        "dns_zones": 1,
        "a_records": 1,
        "apigee_operations": 0,
    }
    assert counts["apigee_operations"] == 2  # one create each for the attachment and the zone: never twice


def test_apply_connection_reset_after_commit_creates_once(producer: EmulatorServer, seed_spec: SouthboundSpec) -> None:
    producer.set_faults(
        [
            {"api": "compute", "method": "POST", "path": "serviceAttachments$", "reset": "after", "count": 1},
            {"api": "apigee", "method": "POST", "path": "endpointAttachments$", "reset": "after", "count": 1},
        ]
    )
    report = southbound(seed_spec).apply()
    assert report.ok, report.to_text()
    counts = _state_counts(producer)
    assert counts["service_attachments"] == 1
    assert counts["endpoint_attachments"] == 1


def test_apply_transient_errors_are_retried(producer: EmulatorServer, seed_spec: SouthboundSpec) -> None:
    producer.set_faults(
        [
            {"api": "apigee", "method": "GET", "status": 503, "count": 3},
            {"api": "compute", "method": "POST", "status": 429, "retry_after": 0, "count": 2},
        ]
    )
    # Backoff from 50 ms: what is tested is that each is retried, not the default 1 s, 2 s, 4 s.
    assert southbound(seed_spec, retry=RetryPolicy(initial=0.05, maximum=0.2)).apply().ok
    statuses = [r["status"] for r in producer.requests()]
    assert statuses.count(503) == 3
    assert statuses.count(429) == 2


def test_apply_waits_out_the_organization_lock_held_by_another_client(
    producer: EmulatorServer, seed_spec: SouthboundSpec
) -> None:
    from apigee_psc.cloud import ResourceManagerClient, apigee_service_agent

    crm = ResourceManagerClient()
    agent = apigee_service_agent(crm.projects.number("my-organization"))
    crm.iam.grant("my-project", "roles/dns.peer", f"serviceAccount:{agent}")
    producer.configure(op_seconds_overrides={"apigee.dnsZones": 2.0})
    other = ApigeeClient("my-organization")
    other.dns_zones.create(
        "someone-else", domain="else.example.com.", target_project_id="my-project", target_network_id="default"
    )
    report = southbound(seed_spec, timeout=30.0).apply()
    assert report.ok
    locked = [r for r in producer.requests(api="apigee", method="POST") if r["status"] == 400]
    assert locked, "the emulator should have answered the lock at least once"


def test_apply_manual_preference_accept_lists_the_apigee_project(
    producer: EmulatorServer, make_spec: Callable[..., SouthboundSpec], tenant: str
) -> None:
    spec = make_spec(service_attachment={"name": "gkebackend", "connection_preference": "ACCEPT_MANUAL"})
    report = southbound(spec).apply()
    assert report.ok, report.to_text()
    sa = ComputeClient("my-project", "us-west1").service_attachments.get("gkebackend")
    assert tenant in sa.accepted_projects


def test_apply_rejected_connection_fails_with_diagnosis(
    producer: EmulatorServer, make_spec: Callable[..., SouthboundSpec], tenant: str
) -> None:
    spec = make_spec(
        service_attachment={"name": "gkebackend", "connection_preference": "ACCEPT_MANUAL", "reject_projects": [tenant]}
    )
    with pytest.raises(errors.ConnectionNotAccepted) as caught:
        southbound(spec).apply()
    diagnosis = caught.value.diagnosis
    assert str(diagnosis.state) == "REJECTED"
    assert tenant in str(diagnosis.fix)
    assert "projects/my-project/regions/us-west1/serviceAttachments/gkebackend" in str(diagnosis.fix)

    report = southbound(spec).status()
    detail = next(d for d in report.details if d.sub_system_type == "EndpointAttachment")
    assert detail.state is Realization.FAILED
    assert "REJECTED" in (detail.failure_message or "")


def test_reapply_repairs_a_rejection_made_out_of_band(
    producer: EmulatorServer, make_spec: Callable[..., SouthboundSpec], tenant: str
) -> None:
    """Someone rejects the Apigee project on an attachment whose connection is ACCEPTED: as on
    Google, the connection stays ACCEPTED (no reconcileConnections), status says the service
    attachment differs from the spec, and re-apply puts the lists back."""
    spec = make_spec(service_attachment={"name": "gkebackend", "connection_preference": "ACCEPT_MANUAL"})
    southbound(spec).apply()
    ComputeClient("my-project", "us-west1").service_attachments.reject_project("gkebackend", tenant)
    report = southbound(spec).status()
    assert report.state is Realization.IN_PROGRESS
    sa_detail = next(d for d in report.details if d.sub_system_type == "ServiceAttachment")
    assert "reject: - " + tenant in (sa_detail.failure_message or "")
    ea_detail = next(d for d in report.details if d.sub_system_type == "EndpointAttachment")
    assert ea_detail.observed["connection_state"] == "ACCEPTED"

    plan = southbound(spec).plan()
    sa_change = next(c for c in plan.changes if c.kind == "ServiceAttachment")
    assert sa_change.action is Action.UPDATE
    assert not any("reconcile" in d for d in sa_change.diffs)
    assert southbound(spec).apply().ok
    assert southbound(spec).plan().has_changes is False


@pytest.mark.parametrize("same_patch", [True, False], ids=["same-patch-redecides", "later-change-redecides"])
def test_rejected_connection_stays_rejected_until_apply_sets_reconcile_connections(
    producer: EmulatorServer, make_spec: Callable[..., SouthboundSpec], tenant: str, same_patch: bool
) -> None:
    """Google re-decides an existing REJECTED connection only when the service attachment has
    reconcileConnections: moving the project to the accept list alone leaves it REJECTED. The
    library's repair converges under both readings of whether the PATCH turning it on counts
    (the emulator's ``reconcile_in_same_patch``): it turns it on alone, then changes the lists,
    then checks the connection and changes its own accept entry again if it was not re-decided."""
    producer.configure(reconcile_in_same_patch=same_patch)
    manual = {"name": "gkebackend", "connection_preference": "ACCEPT_MANUAL"}
    rejecting = make_spec(service_attachment={**manual, "reject_projects": [tenant]})
    with pytest.raises(ConnectionNotAccepted):
        southbound(rejecting).apply()
    compute = ComputeClient("my-project", "us-west1")
    compute.service_attachments.accept_project("gkebackend", tenant)  # out of band, no reconcile
    attachment = ApigeeClient("my-organization").endpoint_attachments.get("gkebackend")
    assert str(attachment.connection_state) == "REJECTED"

    refusing = make_spec(service_attachment={**manual, "reconcile_connections": False})
    plan = southbound(refusing).plan()
    assert any("reconcile_connections to false" in p.message for p in plan.problems)

    spec = make_spec(service_attachment=manual)
    plan = southbound(spec).plan()
    sa_change = next(c for c in plan.changes if c.kind == "ServiceAttachment")
    assert sa_change.action is Action.UPDATE
    assert any(d.startswith("reconcile_connections: false -> true") for d in sa_change.diffs)
    assert southbound(spec).apply().ok
    assert compute.service_attachments.get("gkebackend").reconcile_connections is True
    assert str(ApigeeClient("my-organization").endpoint_attachments.get("gkebackend").connection_state) == "ACCEPTED"
    assert not southbound(spec).plan().has_changes


def test_plan_missing_forwarding_rule_is_a_problem_and_apply_refuses(
    apigee_emulator: EmulatorServer, seed_spec: SouthboundSpec
) -> None:
    plan = southbound(seed_spec).plan()
    assert not plan.ok
    assert "fr-ilb does not exist" in plan.problems[0].message
    before = last_seq(apigee_emulator)
    with pytest.raises(PlanRefused):
        southbound(seed_spec).apply()
    assert mutations(apigee_emulator, before) == []


def test_plan_nat_range_overlapping_a_subnet_is_a_problem(
    producer: EmulatorServer, make_spec: Callable[..., SouthboundSpec]
) -> None:
    ComputeClient("my-project", "us-west1").subnets.create(
        "app-subnet", ip_cidr_range="10.100.0.0/24", network="default", purpose="PRIVATE"
    )
    plan = southbound(make_spec()).plan()
    assert any("overlaps subnet app-subnet" in p.message for p in plan.problems)


def test_plan_forwarding_rule_published_by_another_service_attachment_is_a_problem(
    producer: EmulatorServer, seed_spec: SouthboundSpec, make_spec: Callable[..., SouthboundSpec]
) -> None:
    southbound(seed_spec).apply()
    other = make_spec(
        nat_subnet={"name": "psc-subnet-2", "range": "10.100.1.0/28"},
        firewall=None,
        service_attachment={"name": "gkebackend-two", "connection_preference": "ACCEPT_AUTOMATIC"},
        endpoint_attachment={"name": "gkebackend-two"},
        dns=None,
    )
    plan = southbound(other).plan()
    assert any("already published by service attachment gkebackend" in p.message for p in plan.problems)


def test_plan_second_attachment_on_same_service_attachment_is_a_problem(
    producer: EmulatorServer, seed_spec: SouthboundSpec, make_spec: Callable[..., SouthboundSpec]
) -> None:
    southbound(seed_spec).apply()
    twin = make_spec(endpoint_attachment={"name": "gkebackend-two"}, dns=None)
    plan = southbound(twin).plan()
    assert any("one endpoint attachment per service" in p.message for p in plan.problems)


def test_destroy_deletes_owned_resources_and_keeps_referenced_ones(
    producer: EmulatorServer, seed_spec: SouthboundSpec
) -> None:
    from apigee_psc.cloud import CloudDnsClient, ResourceManagerClient

    southbound(seed_spec).apply()
    done = southbound(seed_spec).destroy()

    deleted = {c.kind for c in done if c.action is Action.DELETE}
    assert deleted == {"DnsRecord", "DnsZone", "EndpointAttachment", "ServiceAttachment", "Firewall", "NatSubnet"}
    kept = {c.kind: c.note for c in done if c.action is Action.NOOP}
    assert "IamBinding" in kept and "ForwardingRule" in kept and "ManagedZone" in kept
    compute = ComputeClient("my-project", "us-west1")
    assert compute.forwarding_rules.find("fr-ilb") is not None
    assert CloudDnsClient().managed_zones.get("my-project", "my-private-zone").dns_name == "example.com."
    with pytest.raises(errors.NotFound):
        compute.service_attachments.get("gkebackend")
    with pytest.raises(errors.NotFound):
        ApigeeClient("my-organization").endpoint_attachments.get("gkebackend")
    report = southbound(seed_spec).status()
    assert {d.sub_system_type: d.state for d in report.details}["IamBinding"] is Realization.IN_SYNC

    southbound(seed_spec).destroy(revoke_iam=True)
    policy = ResourceManagerClient().iam.get_policy("my-project")
    assert not any(b.role == "roles/dns.peer" and b.members for b in policy.bindings)


def test_destroy_twice_second_is_quiet(producer: EmulatorServer, seed_spec: SouthboundSpec) -> None:
    southbound(seed_spec).apply()
    southbound(seed_spec).destroy()
    before = last_seq(producer)
    done = southbound(seed_spec).destroy()
    assert [c for c in done if c.action is Action.DELETE] == []
    assert mutations(producer, before) == []


def test_apply_vpc_peered_org_creates_peered_dns_domain(
    producer: EmulatorServer, make_spec: Callable[..., SouthboundSpec]
) -> None:
    producer.configure(orgs=["peered-org:peered"])
    spec = make_spec(organization="peered-org")
    report = southbound(spec).apply()
    assert report.ok, report.to_text()
    kinds = {d.sub_system_type for d in report.details}
    assert "PeeredDnsDomain" in kinds
    assert "DnsZone" not in kinds and "IamBinding" not in kinds
    assert list(ApigeeClient("peered-org").dns_zones.list()) == []


def _fleet_producer() -> list[SouthboundSpec]:
    from apigee_psc.cloud import CloudDnsClient

    specs = [SouthboundSpec.from_yaml(path) for path in sorted((EXAMPLES / "fleet").glob("*.yaml"))]
    compute = ComputeClient("my-project", "us-west1")
    compute.health_checks.create("hc-fleet", port=80)
    for spec in specs:
        backend = f"be-{spec.forwarding_rule_name}"
        compute.backend_services.create(backend, health_check="hc-fleet")
        compute.forwarding_rules.create(spec.forwarding_rule_name, backend_service=backend, ports=[80])
    CloudDnsClient().managed_zones.create("my-project", "fleet-private-zone", "fleet.example.com.")
    return specs


def test_apply_fleet_of_five_in_one_org_serialises_apigee_operations(apigee_emulator: EmulatorServer) -> None:
    specs = _fleet_producer()
    apigee_emulator.configure(op_seconds=0.2)
    results = apply_fleet(specs, schedule=FAST, timeout=60.0, max_workers=5)

    assert [r.error for r in results] == [None] * 5
    assert all(r.ok for r in results)
    assert len(list(ApigeeClient("my-organization").endpoint_attachments.list())) == 5
    operations = apigee_emulator.operations("apigee")
    assert len(operations) == 10  # 5 attachments + 5 zones, each created once
    lock_answers = [r for r in apigee_emulator.requests(api="apigee") if r["status"] == 400]
    assert lock_answers == []  # this process serialised its own operations: the lock was never hit


def test_target_xml_uses_record_name_or_host(
    producer: EmulatorServer, seed_spec: SouthboundSpec, make_spec: Callable[..., SouthboundSpec]
) -> None:
    southbound(seed_spec).apply()
    assert "<URL>http://orders.example.com/orders</URL>" in southbound(seed_spec).target_xml()
    host = ApigeeClient("my-organization").endpoint_attachments.get("gkebackend").host
    no_dns = make_spec(dns=None)
    assert f"<URL>http://{host}/orders</URL>" in southbound(no_dns).target_xml()


def test_apply_operation_failure_raises_operation_failed_and_rerun_recovers(
    producer: EmulatorServer, seed_spec: SouthboundSpec
) -> None:
    producer.set_faults(
        {
            "operations": [
                {"kind": "apigee.endpointAttachments.create", "outcome": "fail", "code": 13, "message": "boom"}
            ]
        }
    )
    with pytest.raises(errors.OperationFailed) as caught:
        southbound(seed_spec).apply()
    assert "boom" in str(caught.value)
    producer.set_faults([])
    assert southbound(seed_spec).apply().ok


def test_wait_timeout_names_the_operation_for_resuming(producer: EmulatorServer, seed_spec: SouthboundSpec) -> None:
    producer.set_faults({"operations": [{"kind": "apigee.endpointAttachments.create", "outcome": "never"}]})
    with pytest.raises(errors.WaitTimeout) as caught:
        southbound(seed_spec, timeout=1.0).apply()
    assert caught.value.operation and caught.value.operation.startswith("organizations/my-organization/operations/")


def test_status_json_has_contract_shape(producer: EmulatorServer, seed_spec: SouthboundSpec) -> None:
    southbound(seed_spec).apply()
    data: dict[str, Any] = southbound(seed_spec).status().to_dict()
    assert data["state"] == "in_sync"
    for detail in data["details"]:
        extra = {"capacity"} if detail["sub_system_type"] == "ServiceAttachment" else set()  # its NAT addresses
        assert set(detail) <= {"sub_system_type", "sub_system_id", "state", "failure_message", *extra}
        assert detail["state"] == "in_sync"


def test_apply_retries_dns_zone_while_the_iam_grant_propagates(
    producer: EmulatorServer, seed_spec: SouthboundSpec
) -> None:
    producer.configure(iam_propagation_seconds=1.0)
    report = southbound(seed_spec).apply()
    assert report.ok, report.to_text()
    zone_posts = [r for r in producer.requests(api="apigee", method="POST") if "dnsZones" in r["path"]]
    assert zone_posts[0]["status"] == 403
    assert zone_posts[-1]["status"] == 200


def test_dns_zone_permission_denied_beyond_the_window_is_raised(
    producer: EmulatorServer, seed_spec: SouthboundSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    from apigee_psc.southbound.resources import dns_zone

    monkeypatch.setattr(dns_zone, "IAM_PROPAGATION_SECONDS", 0.0)
    producer.configure(iam_propagation_seconds=60.0)
    with pytest.raises(errors.PermissionDenied) as caught:
        southbound(seed_spec).apply()
    assert "roles/dns.peer" in caught.value.message


def test_emulator_seed_producer_makes_the_seed_spec_applicable(
    apigee_emulator: EmulatorServer, seed_spec: SouthboundSpec
) -> None:
    from apigee_psc.emulator import seed_producer

    seed_producer(apigee_emulator)
    plan = southbound(seed_spec).plan()
    assert plan.ok, plan.to_text()
    assert southbound(seed_spec).apply().ok


def test_switch_manual_to_automatic_clears_the_accept_list(
    producer: EmulatorServer, make_spec: Callable[..., SouthboundSpec], tenant: str
) -> None:
    manual = make_spec(service_attachment={"name": "gkebackend", "connection_preference": "ACCEPT_MANUAL"})
    assert southbound(manual).apply().ok
    automatic = make_spec(service_attachment={"name": "gkebackend", "connection_preference": "ACCEPT_AUTOMATIC"})

    plan = southbound(automatic).plan()
    change = next(c for c in plan.changes if c.kind == "ServiceAttachment")
    assert change.action is Action.UPDATE
    assert "connection_preference: ACCEPT_MANUAL -> ACCEPT_AUTOMATIC" in change.diffs

    assert southbound(automatic).apply().ok
    sa = ComputeClient("my-project", "us-west1").service_attachments.get("gkebackend")
    assert str(sa.connection_preference) == "ACCEPT_AUTOMATIC"
    assert sa.consumer_accept_lists == ()
    assert not southbound(automatic).plan().has_changes


def test_switch_automatic_to_manual_accept_lists_the_tenant_in_place(
    producer: EmulatorServer, seed_spec: SouthboundSpec, make_spec: Callable[..., SouthboundSpec], tenant: str
) -> None:
    assert southbound(seed_spec).apply().ok
    manual = make_spec(service_attachment={"name": "gkebackend", "connection_preference": "ACCEPT_MANUAL"})
    operations = len(producer.operations("apigee"))
    assert southbound(manual).apply().ok
    sa = ComputeClient("my-project", "us-west1").service_attachments.get("gkebackend")
    assert sa.accepted_projects == {tenant: 10}
    assert len(producer.operations("apigee")) == operations  # the endpoint attachment was not recreated


def test_firewall_port_change_recreates_the_rule(
    producer: EmulatorServer, seed_spec: SouthboundSpec, make_spec: Callable[..., SouthboundSpec]
) -> None:
    assert southbound(seed_spec).apply().ok
    wider = make_spec(firewall={"name": "allow-psc-nat-80", "ports": [80, 443], "target_tags": ["psc-demo"]})
    change = next(c for c in southbound(wider).plan().changes if c.kind == "Firewall")
    assert change.action is Action.REPLACE
    assert southbound(wider).apply().ok
    firewall = ComputeClient("my-project", "us-west1").firewalls.get("allow-psc-nat-80")
    assert sorted(firewall.tcp_ports) == [80, 443]


def test_nat_range_change_is_refused_not_destroyed(
    producer: EmulatorServer, seed_spec: SouthboundSpec, make_spec: Callable[..., SouthboundSpec]
) -> None:
    assert southbound(seed_spec).apply().ok
    moved = make_spec(nat_subnet={"name": "psc-subnet", "range": "10.100.8.0/28"})
    before = last_seq(producer)
    with pytest.raises(PlanRefused) as caught:
        southbound(moved).apply()
    assert any("NatSubnet: psc-subnet would have to be replaced" in r for r in caught.value.reasons)
    assert mutations(producer, before) == []


@pytest.mark.parametrize(
    ("forced", "realization", "fragment"),
    [
        ("FROZEN", Realization.FAILED, "suspended or disabled"),
        ("NEEDS_ATTENTION", Realization.IN_PROGRESS, "needs attention"),
        ("ACCEPTED_LIMITED_CAPACITY", Realization.IN_SYNC, "connection limit"),
    ],
)
def test_status_with_forced_connection_state_reports_diagnosis(
    producer: EmulatorServer, seed_spec: SouthboundSpec, forced: str, realization: Realization, fragment: str
) -> None:
    assert southbound(seed_spec).apply().ok
    producer.configure(connection_states={"my-organization/gkebackend": forced})
    detail = next(d for d in southbound(seed_spec).status().details if d.sub_system_type == "EndpointAttachment")
    assert detail.state is realization
    assert fragment in (detail.failure_message or "")
    sa = ComputeClient("my-project", "us-west1").service_attachments.get("gkebackend")
    assert [str(e.status) for e in sa.connected_endpoints] == [forced]


def test_frozen_connection_makes_wait_until_ready_fail_at_once(
    producer: EmulatorServer, seed_spec: SouthboundSpec
) -> None:
    assert southbound(seed_spec).apply().ok
    producer.configure(connection_states={"my-organization/gkebackend": "FROZEN"})
    with pytest.raises(errors.ConnectionNotAccepted) as caught:
        ApigeeClient("my-organization", schedule=FAST).endpoint_attachments.wait_until_ready("gkebackend", timeout=30)
    assert caught.value.diagnosis.terminal
    assert "FROZEN" in str(caught.value)


def test_a_rejected_connection_is_diagnosed_once_with_the_service_attachment(
    producer: EmulatorServer, make_spec: Callable[..., SouthboundSpec], tenant: str
) -> None:
    """The wait's diagnosis is the engine's (with the live service attachment): the wait does
    not read the organization again to make one of its own that the engine would replace."""
    manual = {"name": "gkebackend", "connection_preference": "ACCEPT_MANUAL"}
    rejecting = make_spec(service_attachment={**manual, "reject_projects": [tenant]})
    before = last_seq(producer)
    with pytest.raises(ConnectionNotAccepted) as caught:
        southbound(rejecting).apply()
    assert str(caught.value.diagnosis.state) == "REJECTED"
    assert tenant in (caught.value.diagnosis.fix or "")
    org_reads = [
        r
        for r in producer.requests(since=before)
        if r["method"] == "GET" and r["path"] == "/v1/organizations/my-organization"
    ]
    assert len(org_reads) == 1  # the plan's read only
