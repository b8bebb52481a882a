"""The producer-side clients (Compute, Cloud DNS, Resource Manager, Service Networking) over
real sockets against the emulator: google-cloud-compute's own REST transport included."""

from __future__ import annotations

from typing import Any

import pytest

from apigee_psc import errors
from apigee_psc._retry import RetryPolicy
from apigee_psc.apigee import ApigeeClient
from apigee_psc.cloud import (
    DNS_PEER_ROLE,
    CloudDnsClient,
    RecordResult,
    ResourceManagerClient,
    ServiceNetworkingClient,
    apigee_service_agent,
)
from apigee_psc.compute import ComputeClient, ConnectedEndpointStatus, ConnectionPreference, ConsumerProjectLimit

PROJECT = "my-project"
REGION = "us-west1"


@pytest.fixture
def compute(apigee_emulator: Any) -> ComputeClient:
    return ComputeClient(PROJECT, REGION)


def _producer(compute: ComputeClient) -> None:
    compute.subnets.create("backend-subnet", ip_cidr_range="10.10.0.0/24", purpose="PRIVATE")
    compute.health_checks.create("hc-80", port=80)
    compute.backend_services.create("be-ilb", health_check="hc-80")
    compute.forwarding_rules.create("fr-ilb", backend_service="be-ilb", ports=[80], subnetwork="backend-subnet")
    compute.subnets.create("psc-subnet", ip_cidr_range="10.100.0.0/28")


def test_compute_producer_side_end_to_end(compute: ComputeClient) -> None:
    _producer(compute)
    subnet = compute.subnets.get("psc-subnet")
    assert subnet.purpose == "PRIVATE_SERVICE_CONNECT" and subnet.ip_cidr_range == "10.100.0.0/28"
    assert "psc-subnet" in [s.name for s in compute.subnets.list()]

    compute.firewalls.create(
        "allow-psc-nat-80", source_ranges=subnet.ip_cidr_range, ports=[80], target_tags=["psc-demo"]
    )
    firewall = compute.firewalls.get("allow-psc-nat-80")
    assert firewall.source_ranges == ("10.100.0.0/28",) and firewall.tcp_ports == (80,)

    rule = compute.forwarding_rules.find("fr-ilb")
    assert rule is not None and rule.load_balancing_scheme == "INTERNAL"
    assert compute.forwarding_rules.find(rule.self_link) is not None
    assert compute.forwarding_rules.find("nope") is None

    compute.service_attachments.create(
        "gkebackend",
        target_service="fr-ilb",
        nat_subnets=["psc-subnet"],
        connection_preference="ACCEPT_MANUAL",
        consumer_accept_lists=["consumer-one"],
    )
    sa = compute.service_attachments.get("gkebackend")
    assert sa.connection_preference is ConnectionPreference.ACCEPT_MANUAL
    assert sa.accepted_projects == {"consumer-one": 10}
    assert [s.name for s in compute.service_attachments.list()] == ["gkebackend"]

    compute.service_attachments.accept_project("gkebackend", "consumer-two", limit=3)
    compute.service_attachments.reject_project("gkebackend", "consumer-one")
    sa = compute.service_attachments.get("gkebackend")
    assert sa.accepted_projects == {"consumer-two": 3}
    assert sa.consumer_reject_lists == ("consumer-one",)

    # Clearing: removing the last entries must really empty both lists on the server.
    compute.service_attachments.remove_project("gkebackend", "consumer-two")
    compute.service_attachments.remove_project("gkebackend", "consumer-one")
    sa = compute.service_attachments.get("gkebackend")
    assert sa.consumer_accept_lists == () and sa.consumer_reject_lists == ()

    compute.service_attachments.accept_project("gkebackend", "consumer-two")
    assert compute.service_attachments.set_connection_preference("gkebackend", "ACCEPT_AUTOMATIC") is not None
    sa = compute.service_attachments.get("gkebackend")
    assert sa.connection_preference is ConnectionPreference.ACCEPT_AUTOMATIC and sa.consumer_accept_lists == ()
    assert compute.service_attachments.set_connection_preference("gkebackend", "ACCEPT_AUTOMATIC") is None

    with pytest.raises(errors.AlreadyExists) as info:
        compute.subnets.create("psc-subnet", ip_cidr_range="10.100.0.0/28")
    assert info.value.resource_name == f"projects/{PROJECT}/regions/{REGION}/subnetworks/psc-subnet"

    compute.service_attachments.delete("gkebackend")
    with pytest.raises(errors.NotFound):
        compute.service_attachments.get("gkebackend")
    assert compute.service_attachments.delete("gkebackend", missing_ok=True) is None
    compute.firewalls.delete("allow-psc-nat-80")


def test_cloud_dns_record_upsert_twice_then_replace(apigee_emulator: Any) -> None:
    dns = CloudDnsClient()
    dns.managed_zones.create(PROJECT, "my-private-zone", "example.com.", networks=["default"])
    record = "orders.example.com."
    assert dns.records.upsert_a(PROJECT, "my-private-zone", record, ["10.0.0.2"]) is RecordResult.CREATED
    assert dns.records.upsert_a(PROJECT, "my-private-zone", record, ["10.0.0.2"]) is RecordResult.UNCHANGED
    assert dns.records.upsert_a(PROJECT, "my-private-zone", record, ["10.0.0.3"]) is RecordResult.REPLACED
    assert dns.records.get(PROJECT, "my-private-zone", record).rrdatas == ("10.0.0.3",)
    assert dns.records.delete(PROJECT, "my-private-zone", record) is True
    assert dns.records.find(PROJECT, "my-private-zone", record) is None


def test_iam_grant_and_revoke_dns_peer(apigee_emulator: Any) -> None:
    crm = ResourceManagerClient()
    number = crm.projects.number(PROJECT)
    assert number.isdigit()
    member = f"serviceAccount:{apigee_service_agent(number)}"
    before = crm.iam.get_policy(PROJECT)
    assert crm.iam.grant(PROJECT, DNS_PEER_ROLE, member) is True
    assert crm.iam.grant(PROJECT, DNS_PEER_ROLE, member) is False
    assert crm.iam.has_binding(PROJECT, DNS_PEER_ROLE, member)
    after = crm.iam.get_policy(PROJECT)
    assert all(binding in after.bindings for binding in before.bindings)
    assert crm.iam.revoke(PROJECT, DNS_PEER_ROLE, member) is True
    assert not crm.iam.has_binding(PROJECT, DNS_PEER_ROLE, member)


def test_insert_connection_reset_after_commit_retried_with_same_request_id(apigee_emulator: Any) -> None:
    compute = ComputeClient(PROJECT, REGION, retry=RetryPolicy(initial=0.01, maximum=0.05, deadline=10.0))
    apigee_emulator.set_faults(
        [{"api": "compute", "method": "POST", "path": "/subnetworks$", "reset": "after", "count": 1}]
    )
    compute.subnets.create("psc-subnet", ip_cidr_range="10.100.0.0/28")  # no AlreadyExists: same requestId
    inserts = [r for r in apigee_emulator.requests(api="compute", method="POST") if "subnetworks" in str(r)]
    assert len(inserts) == 2
    assert compute.subnets.get("psc-subnet").ip_cidr_range == "10.100.0.0/28"


def test_service_attachment_shows_apigee_endpoint_as_connected(compute: ComputeClient) -> None:
    _producer(compute)
    apigee = ApigeeClient("my-organization")
    tenant = apigee.get_organization().apigee_project_id
    assert tenant
    compute.service_attachments.create(
        "gkebackend",
        target_service="fr-ilb",
        nat_subnets=["psc-subnet"],
        connection_preference="ACCEPT_MANUAL",
        consumer_accept_lists=["consumer-one"],
    )
    operation = apigee.endpoint_attachments.create(
        "gkebackend", location=REGION, service_attachment=compute.service_attachment_path("gkebackend")
    )
    apigee.operations.wait(operation, timeout=60)
    pending = compute.service_attachments.get("gkebackend").connected_endpoints
    assert [e.status for e in pending] == [ConnectedEndpointStatus.PENDING]

    compute.service_attachments.accept_project("gkebackend", tenant)
    ready = apigee.endpoint_attachments.wait_until_ready("gkebackend", timeout=60)
    assert ready.host
    endpoints = compute.service_attachments.get("gkebackend").connected_endpoints
    assert [e.status for e in endpoints] == [ConnectedEndpointStatus.ACCEPTED]


def test_service_networking_peered_dns_domain_lifecycle(apigee_emulator: Any) -> None:
    number = ResourceManagerClient().projects.number(PROJECT)
    sn = ServiceNetworkingClient()
    operation = sn.peered_dns_domains.create(number, "default", "my-zone", "example.com.", timeout=60)
    assert operation.done and operation.error is None
    assert sn.peered_dns_domains.get(number, "default", "my-zone").dns_suffix == "example.com."
    sn.peered_dns_domains.delete(number, "default", "my-zone", timeout=60)
    assert [d.name for d in sn.peered_dns_domains.list(number, "default")] == []
    assert sn.peered_dns_domains.delete(number, "default", "my-zone", missing_ok=True) is None


def test_service_attachment_limit_reconcile_and_switch_to_automatic(compute: ComputeClient, tenant: str) -> None:
    _producer(compute)
    compute.service_attachments.create(
        "gkebackend",
        target_service="fr-ilb",
        nat_subnets=["psc-subnet"],
        connection_preference="ACCEPT_MANUAL",
        consumer_accept_lists=[ConsumerProjectLimit(tenant, 20)],
        description="managed by apigee-psc",
    )
    apigee = ApigeeClient("my-organization")
    operation = apigee.endpoint_attachments.create(
        "gkebackend", location=REGION, service_attachment=compute.service_attachment_path("gkebackend")
    )
    apigee.operations.wait(operation, timeout=60)
    apigee.endpoint_attachments.wait_until_ready("gkebackend", timeout=60)

    # The connection limit of an accept-listed project changes in place.
    compute.service_attachments.update("gkebackend", consumer_accept_lists=[ConsumerProjectLimit(tenant, 15)])
    sa = compute.service_attachments.get("gkebackend")
    assert sa.accepted_projects == {tenant: 15} and sa.description == "managed by apigee-psc"

    # Rejecting the tenant leaves its ACCEPTED connection alone unless reconcileConnections is set.
    compute.service_attachments.update("gkebackend", consumer_accept_lists=[], consumer_reject_lists=[tenant])
    assert [e.status for e in compute.service_attachments.get("gkebackend").connected_endpoints] == [
        ConnectedEndpointStatus.ACCEPTED
    ]
    compute.service_attachments.update("gkebackend", reconcile_connections=True)
    sa = compute.service_attachments.get("gkebackend")
    assert sa.reconcile_connections is True
    assert [e.status for e in sa.connected_endpoints] == [ConnectedEndpointStatus.REJECTED]

    # Switching to automatic clears the reject list in the same PATCH (else Google answers 400).
    compute.service_attachments.update("gkebackend", connection_preference="ACCEPT_AUTOMATIC")
    sa = compute.service_attachments.get("gkebackend")
    assert sa.connection_preference is ConnectionPreference.ACCEPT_AUTOMATIC
    assert sa.consumer_accept_lists == () and sa.consumer_reject_lists == ()
    assert [e.status for e in sa.connected_endpoints] == [ConnectedEndpointStatus.ACCEPTED]


def test_delete_while_emulator_answers_409_operation_in_progress_is_waited_out(
    compute: ComputeClient, apigee_emulator: Any
) -> None:
    _producer(compute)
    compute.service_attachments.create("gkebackend", target_service="fr-ilb", nat_subnets=["psc-subnet"])
    apigee_emulator.set_faults(
        [
            {
                "api": "compute",
                "method": "DELETE",
                "path": "/serviceAttachments/",
                "status": 409,
                "reason": "operationInProgress",
                "count": 2,
            }
        ]
    )
    events: list[Any] = []
    busy = ComputeClient(
        PROJECT, REGION, retry=RetryPolicy(initial=0.01, maximum=0.05, deadline=10.0), on_retry=events.append
    )
    busy.service_attachments.delete("gkebackend", timeout=30)
    assert [e.cause for e in events] == ["resource_busy", "resource_busy"]
    with pytest.raises(errors.NotFound):
        compute.service_attachments.get("gkebackend")
    deletes = [r for r in apigee_emulator.requests(api="compute", method="DELETE") if "serviceAttachments" in str(r)]
    assert len(deletes) == 3


def test_endpoint_attachment_create_stops_at_its_timeout_while_the_org_is_locked(apigee_emulator: Any) -> None:
    holder = "organizations/my-organization/operations/0a1b2c3d-held-by-someone-else"
    apigee_emulator.set_faults(
        [
            {
                "api": "apigee",
                "method": "POST",
                "path": "/endpointAttachments$",
                "status": 400,
                "message": f"the resource is locked by another operation: {holder}",
            }
        ]
    )
    apigee = ApigeeClient("my-organization", retry=RetryPolicy(initial=0.05, maximum=0.2))
    seen: list[Any] = []
    with pytest.raises(errors.LockTimeout) as info:
        apigee.endpoint_attachments.create(
            "gkebackend",
            location=REGION,
            service_attachment=f"projects/{PROJECT}/regions/{REGION}/serviceAttachments/gkebackend",
            timeout=1.0,
            progress=seen.append,
        )
    assert info.value.holder == holder and info.value.elapsed <= 1.5
    assert seen and all(p.waiter == "ORGANIZATION_LOCK" for p in seen)
    assert len(apigee_emulator.requests(api="apigee", method="POST")) == len(seen) + 1


def test_a_compute_wait_that_times_out_names_the_call_that_resumes_it(apigee_emulator: Any) -> None:
    # A long poll answers RUNNING after 0.1 s, so the 0.3 s wait ends before the 2 s operation.
    apigee_emulator.configure(op_seconds=2.0, wait_deadline=0.1)
    compute = ComputeClient("my-project", "us-west1")
    with pytest.raises(errors.WaitTimeout) as caught:
        compute.firewalls.create("slow-rule", source_ranges="10.100.0.0/28", ports=[80], timeout=0.3)
    name = caught.value.operation or ""
    assert name.startswith("projects/my-project/global/operations/")
    assert f"resume with ComputeClient.operations.wait({name!r})" in str(caught.value)
    assert compute.operations.wait(name, timeout=30).succeeded  # the advice, followed
    assert compute.firewalls.get("slow-rule").name == "slow-rule"
    with pytest.raises(errors.ValidationError):
        compute.operations.wait("operation-123")
