"""Cloud DNS, Resource Manager (IAM) and Service Networking clients against scripted answers."""

from __future__ import annotations

import json
import random
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from conftest import FakeClock, rpc_error
from google.auth.credentials import AnonymousCredentials

from apigee_psc import errors
from apigee_psc.cloud import (
    CloudDnsClient,
    RecordResult,
    RecordSet,
    ResourceManagerClient,
    ServiceNetworkingClient,
    apigee_service_agent,
    apigee_service_agent_for,
)

ROOT = "https://cloud.example.test/"
PROJECT = "my-project"
ZONE = f"{ROOT}dns/v1/projects/{PROJECT}/managedZones/my-private-zone"
RECORD = "orders.example.com."
RRSET = f"{ZONE}/rrsets/{RECORD}/A"
CRM = f"{ROOT}v3/projects"
SN = f"{ROOT}v1/services/servicenetworking.googleapis.com/projects/123456789012/global/networks/default"
AGENT = "serviceAccount:service-987654321098@gcp-sa-apigee.iam.gserviceaccount.com"


def kwargs(clock: FakeClock) -> dict[str, Any]:
    return {
        "credentials": AnonymousCredentials(),  # type: ignore[no-untyped-call]
        "endpoint": ROOT,
        "sleep": clock.sleep,
        "clock": clock.now,
        "rng": random.Random(3),
    }


@pytest.fixture
def dns(clock: FakeClock) -> CloudDnsClient:
    return CloudDnsClient(**kwargs(clock))


@pytest.fixture
def crm(clock: FakeClock) -> ResourceManagerClient:
    return ResourceManagerClient(**kwargs(clock))


@pytest.fixture
def sn(clock: FakeClock) -> ServiceNetworkingClient:
    return ServiceNetworkingClient(**kwargs(clock))


def body(call: Any) -> Any:
    raw = call.request.body
    return json.loads(raw.decode() if isinstance(raw, bytes) else raw)


def rrset(*ips: str, ttl: int = 300) -> dict[str, Any]:
    return {"kind": "dns#resourceRecordSet", "name": RECORD, "type": "A", "ttl": ttl, "rrdatas": list(ips)}


# -- Cloud DNS ----------------------------------------------------------------------------------


def test_upsert_a_record_missing_creates_it(dns: CloudDnsClient, rsps: responses.RequestsMock) -> None:
    rsps.get(
        RRSET,
        status=404,
        json=rpc_error(404, "NOT_FOUND", "The 'parameters.name' resource named 'orders.example.com.' does not exist."),
    )
    rsps.post(f"{ZONE}/rrsets", json=rrset("10.0.0.2"))

    assert dns.records.upsert_a(PROJECT, "my-private-zone", RECORD, ["10.0.0.2"]) is RecordResult.CREATED

    assert body(rsps.calls[1]) == {"name": RECORD, "type": "A", "ttl": 300, "rrdatas": ["10.0.0.2"]}
    assert "clientOperationId" in parse_qs(urlsplit(rsps.calls[1].request.url).query)


def test_upsert_a_record_identical_changes_nothing(dns: CloudDnsClient, rsps: responses.RequestsMock) -> None:
    rsps.get(RRSET, json=rrset("10.0.0.2"))
    assert dns.records.upsert_a(PROJECT, "my-private-zone", RECORD, "10.0.0.2") is RecordResult.UNCHANGED
    assert [c.request.method for c in rsps.calls] == ["GET"]


def test_upsert_a_record_different_replaced_atomically_by_one_change(
    dns: CloudDnsClient, rsps: responses.RequestsMock
) -> None:
    rsps.get(RRSET, json=rrset("10.0.0.9", ttl=60))
    rsps.post(f"{ZONE}/changes", json={"id": "7", "status": "pending"})
    rsps.get(f"{ZONE}/changes/7", json={"id": "7", "status": "done"})

    assert dns.records.upsert_a(PROJECT, "my-private-zone", RECORD, ["10.0.0.2"]) is RecordResult.REPLACED

    assert body(rsps.calls[1]) == {
        "additions": [{"name": RECORD, "type": "A", "ttl": 300, "rrdatas": ["10.0.0.2"]}],
        "deletions": [{"name": RECORD, "type": "A", "ttl": 60, "rrdatas": ["10.0.0.9"]}],
    }
    assert "DELETE" not in [c.request.method for c in rsps.calls]
    assert rsps.calls[2].request.url == f"{ZONE}/changes/7"


def test_upsert_a_record_concurrent_change_rereads_and_retries(
    dns: CloudDnsClient, rsps: responses.RequestsMock
) -> None:
    rsps.get(RRSET, json=rrset("10.0.0.9"))
    rsps.get(RRSET, json=rrset("10.0.0.8"))
    rsps.post(
        f"{ZONE}/changes",
        status=412,
        json={
            "error": {
                "code": 412,
                "message": "Precondition not met for 'entity.change.deletions[0]'",
                "errors": [{"reason": "conditionNotMet"}],
            }
        },
    )
    rsps.post(f"{ZONE}/changes", json={"id": "8", "status": "done"})

    assert dns.records.upsert_a(PROJECT, "my-private-zone", RECORD, ["10.0.0.2"]) is RecordResult.REPLACED
    assert body(rsps.calls[3])["deletions"][0]["rrdatas"] == ["10.0.0.8"]


def test_upsert_record_created_meanwhile_compares_again(dns: CloudDnsClient, rsps: responses.RequestsMock) -> None:
    rsps.get(RRSET, status=404, json=rpc_error(404, "NOT_FOUND", "no"))
    rsps.get(RRSET, json=rrset("10.0.0.2"))
    rsps.post(f"{ZONE}/rrsets", status=409, json=rpc_error(409, "ALREADY_EXISTS", "already exists"))
    assert dns.records.upsert_a(PROJECT, "my-private-zone", RECORD, ["10.0.0.2"]) is RecordResult.UNCHANGED


@pytest.mark.parametrize(
    ("zone", "name", "ips"),
    [
        ("my-private-zone", "orders.example.com", ["10.0.0.2"]),
        ("Bad_Zone", RECORD, ["10.0.0.2"]),
        ("my-private-zone", RECORD, ["not-an-ip"]),
        ("my-private-zone", RECORD, []),
    ],
)
def test_upsert_a_record_bad_input_raises_before_any_call(
    dns: CloudDnsClient, rsps: responses.RequestsMock, zone: str, name: str, ips: list[str]
) -> None:
    with pytest.raises(errors.ValidationError):
        dns.records.upsert_a(PROJECT, zone, name, ips)
    assert len(rsps.calls) == 0


def test_get_record_and_find_record(dns: CloudDnsClient, rsps: responses.RequestsMock) -> None:
    rsps.get(RRSET, json=rrset("10.0.0.2"))
    assert dns.records.get(PROJECT, "my-private-zone", RECORD, "A") == RecordSet(RECORD, "A", 300, ("10.0.0.2",))
    rsps.replace(responses.GET, RRSET, status=404, json=rpc_error(404, "NOT_FOUND", "no"))
    assert dns.records.find(PROJECT, "my-private-zone", RECORD) is None
    with pytest.raises(errors.NotFound):
        dns.records.get(PROJECT, "my-private-zone", RECORD)


def test_delete_record_gone_is_false(dns: CloudDnsClient, rsps: responses.RequestsMock) -> None:
    rsps.delete(RRSET, json={})
    assert dns.records.delete(PROJECT, "my-private-zone", RECORD, "A") is True
    rsps.replace(responses.DELETE, RRSET, status=404, json=rpc_error(404, "NOT_FOUND", "no"))
    assert dns.records.delete(PROJECT, "my-private-zone", RECORD, "A") is False
    with pytest.raises(errors.NotFound):
        dns.records.delete(PROJECT, "my-private-zone", RECORD, "A", missing_ok=False)


def test_list_records_follows_pages(dns: CloudDnsClient, rsps: responses.RequestsMock) -> None:
    rsps.get(
        f"{ZONE}/rrsets",
        json={"rrsets": [rrset("10.0.0.3")]},
        match=[responses.matchers.query_param_matcher({"pageToken": "p2"})],
    )
    rsps.get(f"{ZONE}/rrsets", json={"rrsets": [rrset("10.0.0.2")], "nextPageToken": "p2"})
    assert [r.rrdatas for r in dns.records.list(PROJECT, "my-private-zone")] == [("10.0.0.2",), ("10.0.0.3",)]


def test_managed_zone_create_get_delete(dns: CloudDnsClient, rsps: responses.RequestsMock) -> None:
    zone = {
        "name": "my-private-zone",
        "dnsName": "example.com.",
        "visibility": "private",
        "privateVisibilityConfig": {
            "networks": [
                {"networkUrl": "https://www.googleapis.com/compute/v1/projects/my-project/global/networks/default"}
            ]
        },
    }
    rsps.post(f"{ROOT}dns/v1/projects/{PROJECT}/managedZones", json=zone)
    rsps.get(ZONE, json=zone)
    rsps.delete(ZONE, status=204)
    created = dns.managed_zones.create(PROJECT, "my-private-zone", "example.com.", networks=["default"])
    assert created.visibility == "private" and created.networks[0].endswith("/networks/default")
    assert body(rsps.calls[0])["privateVisibilityConfig"]["networks"][0]["networkUrl"].endswith(
        "projects/my-project/global/networks/default"
    )
    assert dns.managed_zones.get(PROJECT, "my-private-zone").dns_name == "example.com."
    assert dns.managed_zones.delete(PROJECT, "my-private-zone") is True


def test_managed_zone_create_exists_carries_resource_name(dns: CloudDnsClient, rsps: responses.RequestsMock) -> None:
    rsps.post(
        f"{ROOT}dns/v1/projects/{PROJECT}/managedZones",
        status=409,
        json={"error": {"code": 409, "message": "exists", "errors": [{"reason": "alreadyExists"}]}},
    )
    with pytest.raises(errors.AlreadyExists) as info:
        dns.managed_zones.create(PROJECT, "my-private-zone", "example.com.")
    assert info.value.resource_name == f"projects/{PROJECT}/managedZones/my-private-zone"


# -- Resource Manager and IAM -------------------------------------------------------------------


def policy(etag: str, *bindings: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": 3,
        "etag": etag,
        "bindings": list(bindings),
        "auditConfigs": [{"service": "allServices", "auditLogConfigs": [{"logType": "DATA_READ"}]}],
    }


OWNER = {"role": "roles/owner", "members": ["user:alice@example.com"]}
CONDITIONAL = {
    "role": "roles/dns.peer",
    "members": ["group:ops@example.com"],
    "condition": {"title": "temp", "expression": "request.time < timestamp('2030-01-01T00:00:00Z')"},
}


def test_project_number_reads_and_caches(crm: ResourceManagerClient, rsps: responses.RequestsMock) -> None:
    rsps.get(f"{CRM}/{PROJECT}", json={"name": "projects/123456789012", "projectId": PROJECT})
    assert crm.projects.number(PROJECT) == "123456789012"
    assert crm.projects.number(PROJECT) == "123456789012"
    assert crm.projects.number("42") == "42"
    assert len(rsps.calls) == 1


def test_get_iam_policy_requests_version_3(crm: ResourceManagerClient, rsps: responses.RequestsMock) -> None:
    rsps.post(f"{CRM}/{PROJECT}:getIamPolicy", json=policy("e1", OWNER, CONDITIONAL))
    got = crm.iam.get_policy(PROJECT)
    assert body(rsps.calls[0]) == {"options": {"requestedPolicyVersion": 3}}
    assert got.etag == "e1" and got.version == 3
    assert got.bindings[1].condition is not None
    assert not got.has("roles/dns.peer", "group:ops@example.com")  # only conditionally
    assert got.has("roles/owner", "user:alice@example.com")


def test_grant_etag_conflict_twice_then_success_keeps_everything_else(
    crm: ResourceManagerClient, rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    for etag in ("e1", "e2", "e3"):
        rsps.post(f"{CRM}/{PROJECT}:getIamPolicy", json=policy(etag, OWNER, CONDITIONAL))
    conflict = rpc_error(409, "ABORTED", "There were concurrent policy changes.")
    rsps.post(f"{CRM}/{PROJECT}:setIamPolicy", status=409, json=conflict)
    rsps.post(f"{CRM}/{PROJECT}:setIamPolicy", status=409, json=conflict)
    rsps.post(f"{CRM}/{PROJECT}:setIamPolicy", json=policy("e4"))

    assert crm.iam.grant(PROJECT, "roles/dns.peer", AGENT) is True

    sets = [c for c in rsps.calls if c.request.url.endswith(":setIamPolicy")]
    gets = [c for c in rsps.calls if c.request.url.endswith(":getIamPolicy")]
    assert len(sets) == 3 and len(gets) == 3  # the whole cycle was redone each time
    final = body(sets[-1])["policy"]
    assert final["etag"] == "e3" and final["version"] == 3
    assert final["bindings"] == [OWNER, CONDITIONAL, {"role": "roles/dns.peer", "members": [AGENT]}]
    assert final["auditConfigs"] == policy("x")["auditConfigs"]
    assert [body(c)["policy"]["etag"] for c in sets] == ["e1", "e2", "e3"]
    assert len(clock.sleeps) == 2 and 0.5 <= clock.sleeps[0] <= 1.0 and 1.0 <= clock.sleeps[1] <= 2.0


def test_grant_conflict_forever_gives_up_within_about_30s(
    crm: ResourceManagerClient, rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    rsps.post(f"{CRM}/{PROJECT}:getIamPolicy", json=policy("e1", OWNER))
    rsps.post(f"{CRM}/{PROJECT}:setIamPolicy", status=409, json=rpc_error(409, "ABORTED", "concurrent"))
    with pytest.raises(errors.Conflict):
        crm.iam.grant(PROJECT, "roles/dns.peer", AGENT)
    assert clock.elapsed <= 30.0


def test_grant_already_bound_changes_nothing(crm: ResourceManagerClient, rsps: responses.RequestsMock) -> None:
    rsps.post(f"{CRM}/{PROJECT}:getIamPolicy", json=policy("e1", {"role": "roles/dns.peer", "members": [AGENT]}))
    assert crm.iam.grant(PROJECT, "roles/dns.peer", AGENT) is False
    assert crm.iam.has_binding(PROJECT, "roles/dns.peer", AGENT) is True
    assert not any(c.request.url.endswith(":setIamPolicy") for c in rsps.calls)


def test_grant_adds_member_to_existing_unconditional_binding(
    crm: ResourceManagerClient, rsps: responses.RequestsMock
) -> None:
    existing = {"role": "roles/dns.peer", "members": ["user:bob@example.com"]}
    rsps.post(f"{CRM}/{PROJECT}:getIamPolicy", json=policy("e1", CONDITIONAL, existing))
    rsps.post(f"{CRM}/{PROJECT}:setIamPolicy", json=policy("e2"))
    crm.iam.grant(PROJECT, "roles/dns.peer", AGENT)
    sent = body(rsps.calls[-1])["policy"]["bindings"]
    assert sent == [CONDITIONAL, {"role": "roles/dns.peer", "members": ["user:bob@example.com", AGENT]}]


def test_revoke_drops_emptied_binding_and_keeps_conditional(
    crm: ResourceManagerClient, rsps: responses.RequestsMock
) -> None:
    rsps.post(
        f"{CRM}/{PROJECT}:getIamPolicy",
        json=policy("e1", OWNER, CONDITIONAL, {"role": "roles/dns.peer", "members": [AGENT]}),
    )
    rsps.post(f"{CRM}/{PROJECT}:setIamPolicy", json=policy("e2"))
    assert crm.iam.revoke(PROJECT, "roles/dns.peer", AGENT) is True
    assert body(rsps.calls[-1])["policy"]["bindings"] == [OWNER, CONDITIONAL]


def test_revoke_absent_member_changes_nothing(crm: ResourceManagerClient, rsps: responses.RequestsMock) -> None:
    rsps.post(f"{CRM}/{PROJECT}:getIamPolicy", json=policy("e1", OWNER))
    assert crm.iam.revoke(PROJECT, "roles/dns.peer", AGENT) is False
    assert len(rsps.calls) == 1


@pytest.mark.parametrize(("role", "member"), [("dns.peer", AGENT), ("roles/dns.peer", "someone@example.com")])
def test_grant_bad_role_or_member_raises_before_any_call(
    crm: ResourceManagerClient, rsps: responses.RequestsMock, role: str, member: str
) -> None:
    with pytest.raises(errors.ValidationError):
        crm.iam.grant(PROJECT, role, member)
    assert len(rsps.calls) == 0


def test_apigee_service_agent_from_number_and_project_id(
    crm: ResourceManagerClient, rsps: responses.RequestsMock
) -> None:
    assert apigee_service_agent(987654321098) == "service-987654321098@gcp-sa-apigee.iam.gserviceaccount.com"
    with pytest.raises(errors.ValidationError):
        apigee_service_agent("x-tenant-project")
    rsps.get(f"{CRM}/x-tenant-project", json={"name": "projects/987654321098"})
    assert apigee_service_agent_for("x-tenant-project", crm) == AGENT.split(":", 1)[1]
    assert crm.projects.apigee_service_agent("x-tenant-project") == AGENT.split(":", 1)[1]


# -- Service Networking -------------------------------------------------------------------------


def test_create_peered_dns_domain_waits_on_operation(sn: ServiceNetworkingClient, rsps: responses.RequestsMock) -> None:
    rsps.post(f"{SN}/peeredDnsDomains", json={"name": "operations/pdd.123", "done": False})
    rsps.get(f"{ROOT}v1/operations/pdd.123", json={"name": "operations/pdd.123", "done": False})
    rsps.get(
        f"{ROOT}v1/operations/pdd.123",
        json={"name": "operations/pdd.123", "done": True, "response": {"name": "my-zone", "dnsSuffix": "example.com."}},
    )
    operation = sn.peered_dns_domains.create(123456789012, "default", "my-zone", "example.com.")
    assert operation.done and operation.error is None
    assert body(rsps.calls[0]) == {"name": "my-zone", "dnsSuffix": "example.com."}
    assert len(rsps.calls) == 3


def test_create_peered_dns_domain_operation_error_raises(
    sn: ServiceNetworkingClient, rsps: responses.RequestsMock
) -> None:
    rsps.post(
        f"{SN}/peeredDnsDomains",
        json={"name": "operations/pdd.9", "done": True, "error": {"code": 6, "message": "domain already peered"}},
    )
    with pytest.raises(errors.OperationFailed) as info:
        sn.peered_dns_domains.create("123456789012", "default", "my-zone", "example.com.")
    assert info.value.code == 6 and info.value.operation == "operations/pdd.9"


def test_peered_dns_domain_list_get_delete(sn: ServiceNetworkingClient, rsps: responses.RequestsMock) -> None:
    rsps.get(f"{SN}/peeredDnsDomains", json={"peeredDnsDomains": [{"name": "my-zone", "dnsSuffix": "example.com."}]})
    rsps.delete(f"{SN}/peeredDnsDomains/my-zone", json={"name": "operations/del.1", "done": True})
    assert [d.dns_suffix for d in sn.peered_dns_domains.list("123456789012", "default")] == ["example.com."]
    assert sn.peered_dns_domains.get("123456789012", "default", "my-zone").name == "my-zone"
    with pytest.raises(errors.NotFound):
        sn.peered_dns_domains.get("123456789012", "default", "other-zone")
    assert sn.peered_dns_domains.delete("123456789012", "default", "my-zone") is not None


def test_delete_peered_dns_domain_missing_ok(sn: ServiceNetworkingClient, rsps: responses.RequestsMock) -> None:
    rsps.delete(f"{SN}/peeredDnsDomains/my-zone", status=404, json=rpc_error(404, "NOT_FOUND", "no"))
    assert sn.peered_dns_domains.delete("123456789012", "default", "my-zone", missing_ok=True) is None


def test_peered_dns_domain_project_id_instead_of_number_raises(
    sn: ServiceNetworkingClient, rsps: responses.RequestsMock
) -> None:
    with pytest.raises(errors.ValidationError):
        sn.peered_dns_domains.create("my-project", "default", "my-zone", "example.com.")
    assert len(rsps.calls) == 0


def test_upsert_into_missing_zone_is_not_retried(dns: CloudDnsClient, rsps: responses.RequestsMock) -> None:
    rsps.get(f"{ZONE}/rrsets/orders.example.com./A", status=404, json=rpc_error(404, "NOT_FOUND", "no record"))
    rsps.post(f"{ZONE}/rrsets", status=404, json=rpc_error(404, "NOT_FOUND", "The managed zone does not exist"))
    with pytest.raises(errors.NotFound):
        dns.records.upsert_a(PROJECT, "my-private-zone", "orders.example.com.", ["10.0.0.2"])
    assert [c.request.method for c in rsps.calls] == ["GET", "POST"]
