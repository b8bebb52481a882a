"""Plan, apply, status and destroy agree, and never touch what apigee-psc did not create.

Issue 8's four disagreements and issue 10's ownership cases, each against the emulator over
real HTTP.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from integration_helpers import last_seq, mutations, southbound

from apigee_psc import ApigeeClient, ComputeClient, errors
from apigee_psc.cloud import CloudDnsClient
from apigee_psc.emulator import EmulatorServer
from apigee_psc.southbound import Action, PlanRefused, Realization, SouthboundSpec
from apigee_psc.southbound.ownership import MARK_PREFIX as OWNER_MARK

FIREWALL = {"name": "allow-psc-nat-80", "ports": [80], "target_tags": ["psc-demo"]}


def _state(report_details: object, kind: str) -> tuple[Realization, str]:
    detail = next(d for d in report_details if d.sub_system_type == kind)  # type: ignore[attr-defined]
    return detail.state, detail.failure_message or ""


# -- issue 8: the four disagreements -------------------------------------------------------


def test_firewall_ports_changed_plan_and_status_agree(
    producer: EmulatorServer, make_spec: Callable[..., SouthboundSpec]
) -> None:
    southbound(make_spec()).apply()
    changed = make_spec(firewall={**FIREWALL, "ports": [8080]})
    change = next(c for c in southbound(changed).plan().changes if c.kind == "Firewall")
    assert change.action is Action.REPLACE
    state, message = _state(southbound(changed).status().details, "Firewall")
    assert state is Realization.IN_PROGRESS
    assert "ports: [80] -> [8080]" in message
    assert southbound(changed).apply().ok
    assert ComputeClient("my-project", "us-west1").firewalls.get("allow-psc-nat-80").tcp_ports == (8080,)
    assert _state(southbound(changed).status().details, "Firewall")[0] is Realization.IN_SYNC


def test_connection_limit_change_is_applied_and_reported(
    producer: EmulatorServer, make_spec: Callable[..., SouthboundSpec], tenant: str
) -> None:
    manual = {"name": "gkebackend", "connection_preference": "ACCEPT_MANUAL"}
    southbound(make_spec(service_attachment={**manual, "connection_limit": 20})).apply()
    lower = make_spec(service_attachment={**manual, "connection_limit": 15})
    change = next(c for c in southbound(lower).plan().changes if c.kind == "ServiceAttachment")
    assert f"connection_limit of {tenant}: 20 -> 15" in change.diffs
    state, message = _state(southbound(lower).status().details, "ServiceAttachment")
    assert state is Realization.IN_PROGRESS and "20 -> 15" in message
    assert southbound(lower).apply().ok
    live = ComputeClient("my-project", "us-west1").service_attachments.get("gkebackend")
    assert live.accepted_projects[tenant] == 15
    assert _state(southbound(lower).status().details, "ServiceAttachment")[0] is Realization.IN_SYNC


def test_pending_on_accept_automatic_apply_and_diagnose_agree(
    producer: EmulatorServer, seed_spec: SouthboundSpec
) -> None:
    southbound(seed_spec).apply()
    producer.configure(connection_states={"my-organization/gkebackend": "PENDING"})
    with pytest.raises(errors.ConnectionNotAccepted) as caught:
        southbound(seed_spec, timeout=1.0).apply()
    fix = caught.value.diagnosis.fix or ""
    assert "switch it to ACCEPT_AUTOMATIC" not in fix and "accept list" not in fix
    diagnosis = ApigeeClient("my-organization").endpoint_attachments.diagnose(
        ApigeeClient("my-organization").endpoint_attachments.get("gkebackend"),
        connection_preference="ACCEPT_AUTOMATIC",
    )
    assert fix == diagnosis.fix
    _, message = _state(southbound(seed_spec).status().details, "EndpointAttachment")
    assert fix in message


def test_subnet_purpose_is_checked_by_plan_and_status(
    producer: EmulatorServer, make_spec: Callable[..., SouthboundSpec]
) -> None:
    ComputeClient("my-project", "us-west1").subnets.create(
        "psc-subnet", network="default", ip_cidr_range="10.100.0.0/28", purpose="PRIVATE"
    )
    spec = make_spec()
    plan = southbound(spec).plan()
    change = next(c for c in plan.changes if c.kind == "NatSubnet")
    assert change.action is Action.REPLACE and not plan.ok
    state, message = _state(southbound(spec).status().details, "NatSubnet")
    assert state is Realization.IN_PROGRESS and "purpose" in message


# -- issue 10: ownership ------------------------------------------------------------------


def test_foreign_firewall_is_neither_replaced_nor_deleted(
    producer: EmulatorServer, make_spec: Callable[..., SouthboundSpec]
) -> None:
    compute = ComputeClient("my-project", "us-west1")
    compute.firewalls.create(
        "allow-psc-nat-80", network="default", source_ranges=["192.168.0.0/16"], ports=[22], target_tags=["psc-demo"]
    )
    spec = make_spec()
    plan = southbound(spec).plan()
    assert any("allow-psc-nat-80" in p.message and "did not create it" in p.message for p in plan.problems)
    before = last_seq(producer)
    with pytest.raises(PlanRefused):
        southbound(spec).apply()
    assert mutations(producer, before) == []
    southbound(make_spec(firewall=None)).apply()  # the rest of the connection, without the firewall
    southbound(spec).destroy()
    kept = compute.firewalls.get("allow-psc-nat-80")
    assert kept.tcp_ports == (22,) and tuple(kept.source_ranges) == ("192.168.0.0/16",)
    # Told to adopt it, apply replaces it (and then owns it).
    southbound(spec, adopt=True).apply()
    taken = compute.firewalls.get("allow-psc-nat-80")
    assert taken.tcp_ports == (80,) and taken.description.startswith(OWNER_MARK)


def test_foreign_a_record_is_neither_overwritten_nor_deleted(
    producer: EmulatorServer, seed_spec: SouthboundSpec
) -> None:
    dns = CloudDnsClient()
    dns.records.upsert_a("my-project", "my-private-zone", "orders.example.com.", ["10.9.9.9"])
    plan = southbound(seed_spec).plan()
    assert any("orders.example.com." in p.message and "did not create it" in p.message for p in plan.problems)
    with pytest.raises(PlanRefused):
        southbound(seed_spec).apply()
    southbound(seed_spec).destroy()
    assert dns.records.get("my-project", "my-private-zone", "orders.example.com.").rrdatas == ("10.9.9.9",)


def test_matching_resources_built_by_hand_are_adopted_without_a_write(
    producer: EmulatorServer, seed_spec: SouthboundSpec
) -> None:
    compute = ComputeClient("my-project", "us-west1")
    compute.subnets.create("psc-subnet", network="default", ip_cidr_range="10.100.0.0/28")
    compute.firewalls.create(
        "allow-psc-nat-80", network="default", source_ranges=["10.100.0.0/28"], ports=[80], target_tags=["psc-demo"]
    )
    southbound(seed_spec).apply()
    assert not southbound(seed_spec).plan().has_changes
    southbound(seed_spec).destroy()
    assert compute.subnets.get("psc-subnet").description == ""  # kept: not ours
    assert compute.firewalls.get("allow-psc-nat-80").tcp_ports == (80,)
    with pytest.raises(errors.NotFound):
        compute.service_attachments.get("gkebackend")  # ours: deleted


def test_destroy_refuses_while_another_organization_is_connected(
    producer: EmulatorServer, seed_spec: SouthboundSpec
) -> None:
    southbound(seed_spec).apply()
    producer.configure(orgs=["other-org"])
    other = ApigeeClient("other-org")
    operation = other.endpoint_attachments.create(
        "theirs", location="us-west1", service_attachment=seed_spec.service_attachment_path
    )
    other.operations.wait(operation, timeout=20)
    assert str(other.endpoint_attachments.wait_until_ready("theirs", timeout=20).connection_state) == "ACCEPTED"
    before = last_seq(producer)
    with pytest.raises(PlanRefused) as caught:
        southbound(seed_spec).destroy()
    assert "other consumers" in str(caught.value)
    assert mutations(producer, before) == []
    assert str(other.endpoint_attachments.get("theirs").connection_state) == "ACCEPTED"
    southbound(seed_spec).destroy(force=True)
    assert str(other.endpoint_attachments.get("theirs").connection_state) == "CLOSED"


def test_switch_to_automatic_with_rejected_consumers_needs_confirmation(
    producer: EmulatorServer, make_spec: Callable[..., SouthboundSpec]
) -> None:
    manual = {"name": "gkebackend", "connection_preference": "ACCEPT_MANUAL", "reject_projects": ["bad-project-1"]}
    southbound(make_spec(service_attachment=manual)).apply()
    automatic = make_spec(service_attachment={"name": "gkebackend", "connection_preference": "ACCEPT_AUTOMATIC"})
    plan = southbound(automatic).plan()
    change = next(c for c in plan.changes if c.kind == "ServiceAttachment")
    assert "consumer bad-project-1: rejected -> accepted (ACCEPT_AUTOMATIC accepts every consumer)" in change.diffs
    assert any("allow_widening" in p.message for p in plan.problems)
    before = last_seq(producer)
    with pytest.raises(PlanRefused):
        southbound(automatic).apply()
    assert mutations(producer, before) == []
    confirmed = make_spec(
        service_attachment={"name": "gkebackend", "connection_preference": "ACCEPT_AUTOMATIC", "allow_widening": True}
    )
    assert southbound(confirmed).apply().ok
    live = ComputeClient("my-project", "us-west1").service_attachments.get("gkebackend")
    assert str(live.connection_preference) == "ACCEPT_AUTOMATIC" and not live.consumer_reject_lists


def test_missing_managed_zone_fails_the_plan_before_any_write(
    producer: EmulatorServer, make_spec: Callable[..., SouthboundSpec]
) -> None:
    spec = make_spec(
        dns={"zone": {"name": "my-zone", "domain": "example.com."}, "managed_zone": "nope", "record": "a.example.com."}
    )
    plan = southbound(spec).plan()
    assert any("managed zone nope does not exist" in p.message for p in plan.problems)
    before = last_seq(producer)
    with pytest.raises(PlanRefused):
        southbound(spec).apply()
    assert mutations(producer, before) == []


# -- issue 10.4: every wait is bounded by the caller's timeout ------------------------------


def test_organization_lock_held_forever_stops_at_the_timeout_and_names_the_holder(
    producer: EmulatorServer, seed_spec: SouthboundSpec
) -> None:
    import time

    from apigee_psc.cloud import ResourceManagerClient, apigee_service_agent
    from apigee_psc.southbound import ProgressEvent

    crm = ResourceManagerClient()
    agent = apigee_service_agent(crm.projects.number("my-organization"))
    crm.iam.grant("my-project", "roles/dns.peer", f"serviceAccount:{agent}")
    producer.configure(op_seconds_overrides={"apigee.dnsZones": 3600.0})
    holder = ApigeeClient("my-organization").dns_zones.create(
        "someone-else", domain="else.example.com.", target_project_id="my-project", target_network_id="default"
    )
    events: list[ProgressEvent] = []
    started = time.monotonic()
    with pytest.raises(errors.LockTimeout) as caught:
        southbound(seed_spec, timeout=3.0).apply(progress=events.append)
    elapsed = time.monotonic() - started
    assert elapsed < 20.0, elapsed  # not the 30-minute lock deadline
    assert caught.value.holder is not None and caught.value.holder.endswith(holder.name.rsplit("/", 1)[-1])
    assert any("organization lock" in e.detail for e in events if e.status == "waiting")


def test_foreign_resource_appearing_after_the_plan_is_not_adopted(
    producer: EmulatorServer, make_spec: Callable[..., SouthboundSpec]
) -> None:
    """The plan saw no firewall rule; by apply time someone else made one of that name that
    differs: apply's create meets ALREADY_EXISTS, re-reads it, and refuses instead of adopting."""
    spec = make_spec()
    plan = southbound(spec).plan()
    assert next(c for c in plan.changes if c.kind == "Firewall").action is Action.CREATE
    compute = ComputeClient("my-project", "us-west1")
    compute.firewalls.create(
        "allow-psc-nat-80", network="default", source_ranges=["192.168.0.0/16"], ports=[22], target_tags=["psc-demo"]
    )
    with pytest.raises(PlanRefused) as caught:
        southbound(spec).apply(plan=plan)
    assert "appeared since the plan" in str(caught.value)
    assert compute.firewalls.get("allow-psc-nat-80").tcp_ports == (22,)


# -- issue 8.3: a saved plan is applied with its own reads, and refused once stale -----------


def test_saved_plan_round_trips_through_json_and_applies(producer: EmulatorServer, seed_spec: SouthboundSpec) -> None:
    from apigee_psc.southbound import Plan

    saved = southbound(seed_spec).plan().to_json()
    plan = Plan.from_json(saved)
    assert plan.spec == seed_spec and plan.has_changes
    assert southbound(seed_spec).apply(plan=plan).ok
    assert not southbound(seed_spec).plan().has_changes
    # Applying the same (now old) plan again: its creates are found done, nothing is written.
    before = last_seq(producer)
    assert southbound(seed_spec).apply(plan=Plan.from_json(saved)).ok
    assert mutations(producer, before) == []


def test_apply_of_an_in_sync_plan_makes_no_request_at_all(producer: EmulatorServer, seed_spec: SouthboundSpec) -> None:
    southbound(seed_spec).apply()
    plan = southbound(seed_spec).plan()
    assert not plan.has_changes
    before = last_seq(producer)
    report = southbound(seed_spec).apply(plan=plan)
    assert report.ok and report.host
    assert producer.requests(since=before) == []  # the report is the plan's reads


def test_stale_plan_is_refused_before_any_write(
    producer: EmulatorServer, make_spec: Callable[..., SouthboundSpec], tenant: str
) -> None:
    from apigee_psc.southbound import PlanStale

    manual = {"name": "gkebackend", "connection_preference": "ACCEPT_MANUAL"}
    southbound(make_spec(service_attachment={**manual, "connection_limit": 20})).apply()
    lower = make_spec(service_attachment={**manual, "connection_limit": 15})
    plan = southbound(lower).plan()
    assert plan.change("ServiceAttachment").diffs == (f"connection_limit of {tenant}: 20 -> 15",)  # type: ignore[union-attr]
    ComputeClient("my-project", "us-west1").service_attachments.accept_project("gkebackend", tenant, 5)
    before = last_seq(producer)
    with pytest.raises(PlanStale) as caught:
        southbound(lower).apply(plan=plan)
    assert f"connection_limit of {tenant}: 5 -> 15" in str(caught.value)
    assert mutations(producer, before) == []
    assert southbound(lower).apply(plan=southbound(lower).plan()).ok  # planned again, it applies


# -- issue 8.4: VPC-peered organizations --------------------------------------------------------


def test_peered_dns_domain_goes_on_the_organizations_authorized_network(
    producer: EmulatorServer, make_spec: Callable[..., SouthboundSpec]
) -> None:
    from apigee_psc.cloud import ResourceManagerClient, ServiceNetworkingClient

    producer.configure(orgs=["peered-org:peered"])
    spec = make_spec(organization="peered-org")
    plan = southbound(spec).plan()
    change = plan.change("PeeredDnsDomain")
    assert change is not None and change.resource_id.startswith("projects/peered-org/global/networks/default/")
    assert "authorizedNetwork" in change.note and "not the spec's network default of project my-project" in change.note
    assert southbound(spec).apply().ok
    domains = ServiceNetworkingClient().peered_dns_domains
    number = ResourceManagerClient().projects.number("peered-org")
    assert [d.dns_suffix for d in domains.list(number, "default")] == ["example.com."]
    assert domains.list(ResourceManagerClient().projects.number("my-project"), "default") == []
    southbound(spec).destroy()
    assert domains.list(number, "default") == []


# -- issue 10.1: the Apigee DNS zone is marked too --------------------------------------------


def test_dns_zone_made_by_hand_is_adopted_and_kept_by_destroy(
    producer: EmulatorServer, seed_spec: SouthboundSpec
) -> None:
    from apigee_psc.cloud import ResourceManagerClient, apigee_service_agent

    crm = ResourceManagerClient()
    crm.iam.grant(
        "my-project", "roles/dns.peer", f"serviceAccount:{apigee_service_agent(crm.projects.number('my-organization'))}"
    )
    apigee = ApigeeClient("my-organization")
    operation = apigee.dns_zones.create(
        "my-zone",
        domain="example.com.",
        description="by hand",
        target_project_id="my-project",
        target_network_id="default",
    )
    apigee.operations.wait(operation, timeout=20)
    assert southbound(seed_spec).apply().ok
    done = southbound(seed_spec).destroy()
    kept = [c for c in done if c.kind == "DnsZone"]
    assert kept and kept[0].action is Action.NOOP and "not created by apigee-psc" in kept[0].note
    assert apigee.dns_zones.get("my-zone").description == "by hand"
