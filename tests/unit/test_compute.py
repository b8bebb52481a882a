"""ComputeClient against scripted answers: google-cloud-compute's REST transport goes through
requests, so ``responses`` sees (and answers) every call it makes."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from conftest import FakeClock
from google.auth.credentials import AnonymousCredentials

from apigee_psc import errors
from apigee_psc._retry import RetryPolicy
from apigee_psc.compute import (
    ComputeClient,
    ComputeOperation,
    ConnectedEndpointStatus,
    ConnectionPreference,
    ConsumerProjectLimit,
)

ROOT = "https://compute.example.test/"
PROJECT = "my-project"
REGION = "us-west1"
REG = f"{ROOT}compute/v1/projects/{PROJECT}/regions/{REGION}"
GLOB = f"{ROOT}compute/v1/projects/{PROJECT}/global"
TENANT = "x-tenant-project"
OTHER = "other-consumer"


@pytest.fixture
def compute(clock: FakeClock) -> ComputeClient:
    return ComputeClient(
        PROJECT,
        REGION,
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        endpoint=ROOT,
        retry=RetryPolicy(initial=0.1, maximum=1.0, deadline=30.0),
        sleep=clock.sleep,
        clock=clock.now,
    )


def op(name: str = "operation-1", *, status: str = "RUNNING", scope: str = "regional", **extra: Any) -> dict[str, Any]:
    base = REG if scope == "regional" else GLOB
    data: dict[str, Any] = {"kind": "compute#operation", "name": name, "status": status}
    data["selfLink"] = f"{base}/operations/{name}"
    if scope == "regional":
        data["region"] = f"{ROOT}compute/v1/projects/{PROJECT}/regions/{REGION}"
    data.update(extra)
    return data


def attachment(**fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind": "compute#serviceAttachment",
        "name": "gkebackend",
        "region": f"{ROOT}compute/v1/projects/{PROJECT}/regions/{REGION}",
        "selfLink": f"{REG}/serviceAttachments/gkebackend",
        "connectionPreference": "ACCEPT_MANUAL",
        "targetService": f"{REG}/forwardingRules/fr-ilb",
        "natSubnets": [f"{REG}/subnetworks/psc-subnet"],
        "consumerAcceptLists": [{"projectIdOrNum": TENANT, "connectionLimit": 10}],
        "enableProxyProtocol": False,
        "fingerprint": "fp-1=",
    }
    data.update(fields)
    return data


#: What every service attachment PATCH carries besides the change (as Terraform's encoder sends).
ALWAYS = {"name": "gkebackend", "enableProxyProtocol": False}


def body(call: Any) -> dict[str, Any]:
    raw = call.request.body
    return dict(json.loads(raw.decode() if isinstance(raw, bytes) else raw))


def query(call: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


def gerror(code: int, message: str, reason: str) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "errors": [{"domain": "global", "reason": reason, "message": message}],
        }
    }


# -- subnets ------------------------------------------------------------------------------------


def test_subnet_create_psc_nat_subnet_waits_with_region_operations_wait(
    compute: ComputeClient, rsps: responses.RequestsMock
) -> None:
    rsps.post(f"{REG}/subnetworks", json=op())
    wait = rsps.post(f"{REG}/operations/operation-1/wait", json=op(status="DONE"))

    result = compute.subnets.create("psc-subnet", ip_cidr_range="10.100.0.0/28")

    assert isinstance(result, ComputeOperation) and result.succeeded
    sent = body(rsps.calls[0])
    assert sent == {
        "name": "psc-subnet",
        "ipCidrRange": "10.100.0.0/28",
        "network": f"projects/{PROJECT}/global/networks/default",
        "purpose": "PRIVATE_SERVICE_CONNECT",
    }
    assert len(query(rsps.calls[0])["requestId"][0]) == 36
    assert wait.call_count == 1


@pytest.mark.parametrize("cidr", ["8.8.8.0/28", "10.100.0.0/30", "10.100.0.0/15", "10.100.0.1/28", "fd00::/64", "x"])
def test_subnet_create_bad_cidr_raises_before_any_call(
    compute: ComputeClient, rsps: responses.RequestsMock, cidr: str
) -> None:
    with pytest.raises(errors.ValidationError):
        compute.subnets.create("psc-subnet", ip_cidr_range=cidr)
    assert len(rsps.calls) == 0


@pytest.mark.parametrize("name", ["", "A", "1abc", "-abc", "abc-", "a" * 64, "a_b", "a.b"])
def test_every_collection_bad_name_raises_before_any_call(
    compute: ComputeClient, rsps: responses.RequestsMock, name: str
) -> None:
    calls: list[Any] = [
        lambda: compute.subnets.get(name),
        lambda: compute.subnets.delete(name),
        lambda: compute.firewalls.get(name),
        lambda: compute.forwarding_rules.get(name),
        lambda: compute.service_attachments.get(name),
        lambda: compute.service_attachments.accept_project(name, TENANT),
        lambda: compute.networks.get(name),
        lambda: compute.health_checks.get(name),
        lambda: compute.backend_services.get(name),
    ]
    for call in calls:
        with pytest.raises(errors.ValidationError):
            call()
    assert len(rsps.calls) == 0


def test_name_rules_longest_valid_name_accepted(compute: ComputeClient, rsps: responses.RequestsMock) -> None:
    name = "a" + "b1-" * 20 + "z"
    assert len(name) == 62
    rsps.get(f"{REG}/subnetworks/{name}", json={"name": name, "ipCidrRange": "10.0.0.0/28"})
    assert compute.subnets.get(name).name == name


def test_subnet_get_returns_dataclass(compute: ComputeClient, rsps: responses.RequestsMock) -> None:
    rsps.get(
        f"{REG}/subnetworks/psc-subnet",
        json={
            "name": "psc-subnet",
            "ipCidrRange": "10.100.0.0/28",
            "network": f"{GLOB}/networks/default",
            "region": f"{REG}",
            "purpose": "PRIVATE_SERVICE_CONNECT",
            "selfLink": f"{REG}/subnetworks/psc-subnet",
            "fingerprint": "abc=",
        },
    )
    subnet = compute.subnets.get("psc-subnet")
    assert subnet.ip_cidr_range == "10.100.0.0/28"
    assert subnet.purpose == "PRIVATE_SERVICE_CONNECT"
    assert subnet.region == REGION
    assert type(subnet).__module__.startswith("apigee_psc.compute")  # this library's dataclass, not proto-plus


def test_subnet_list_follows_every_page(compute: ComputeClient, rsps: responses.RequestsMock) -> None:
    rsps.get(
        f"{REG}/subnetworks",
        json={"items": [{"name": "b", "ipCidrRange": "10.1.0.0/24"}]},
        match=[responses.matchers.query_param_matcher({"pageToken": "t2", "maxResults": "500"})],
    )
    rsps.get(
        f"{REG}/subnetworks",
        json={"items": [{"name": "a", "ipCidrRange": "10.0.0.0/24"}], "nextPageToken": "t2"},
        match=[responses.matchers.query_param_matcher({"maxResults": "500"})],
    )
    assert [s.name for s in compute.subnets.list()] == ["a", "b"]


def test_list_page_size_sent_and_checked(compute: ComputeClient, rsps: responses.RequestsMock) -> None:
    rsps.get(f"{REG}/serviceAttachments", json={"items": [{"name": "a"}]})
    assert [s.name for s in compute.service_attachments.list(page_size=7)] == ["a"]
    assert query(rsps.calls[0])["maxResults"] == ["7"]
    with pytest.raises(errors.ValidationError):
        list(compute.firewalls.list(page_size=501))


def test_subnet_delete_missing_ok_returns_none(compute: ComputeClient, rsps: responses.RequestsMock) -> None:
    rsps.delete(f"{REG}/subnetworks/psc-subnet", status=404, json=gerror(404, "not found", "notFound"))
    assert compute.subnets.delete("psc-subnet", missing_ok=True) is None
    with pytest.raises(errors.NotFound):
        compute.subnets.delete("psc-subnet")


def test_subnet_delete_waits_for_done(compute: ComputeClient, rsps: responses.RequestsMock) -> None:
    rsps.delete(f"{REG}/subnetworks/psc-subnet", json=op("op-del"))
    rsps.post(f"{REG}/operations/op-del/wait", json=op("op-del", status="RUNNING"))
    rsps.post(f"{REG}/operations/op-del/wait", json=op("op-del", status="DONE"))
    result = compute.subnets.delete("psc-subnet")
    assert result is not None and result.done
    assert [c.request.method for c in rsps.calls] == ["DELETE", "POST", "POST"]


# -- firewalls ----------------------------------------------------------------------------------


def test_firewall_create_ingress_allow_rule_waits_with_global_operations(
    compute: ComputeClient, rsps: responses.RequestsMock
) -> None:
    rsps.post(f"{GLOB}/firewalls", json=op("op-fw", scope="global"))
    wait = rsps.post(f"{GLOB}/operations/op-fw/wait", json=op("op-fw", status="DONE", scope="global"))

    compute.firewalls.create(
        "allow-psc-nat-80", source_ranges="10.100.0.0/28", ports=[80, 443], target_tags=["psc-demo"]
    )

    assert body(rsps.calls[0]) == {
        "name": "allow-psc-nat-80",
        "network": f"projects/{PROJECT}/global/networks/default",
        "direction": "INGRESS",
        "priority": 1000,
        "sourceRanges": ["10.100.0.0/28"],
        "targetTags": ["psc-demo"],
        "allowed": [{"IPProtocol": "tcp", "ports": ["80", "443"]}],
    }
    assert wait.call_count == 1


def test_firewall_create_already_exists_carries_resource_name(
    compute: ComputeClient, rsps: responses.RequestsMock
) -> None:
    rsps.post(
        f"{GLOB}/firewalls",
        status=409,
        json=gerror(409, f"The resource 'projects/{PROJECT}/global/firewalls/fw' already exists", "alreadyExists"),
    )
    with pytest.raises(errors.AlreadyExists) as info:
        compute.firewalls.create("fw", source_ranges=["10.100.0.0/28"], ports=[80])
    assert info.value.resource_name == f"projects/{PROJECT}/global/firewalls/fw"
    assert info.value.method == "POST"
    assert info.value.url is not None and info.value.url.startswith(f"{GLOB}/firewalls")


def test_firewall_get_parses_allowed_ports(compute: ComputeClient, rsps: responses.RequestsMock) -> None:
    rsps.get(
        f"{GLOB}/firewalls/fw",
        json={
            "name": "fw",
            "sourceRanges": ["10.100.0.0/28"],
            "allowed": [{"IPProtocol": "tcp", "ports": ["80"]}],
            "targetTags": ["psc-demo"],
            "direction": "INGRESS",
            "priority": 1000,
        },
    )
    rule = compute.firewalls.get("fw")
    assert rule.tcp_ports == (80,)
    assert rule.target_tags == ("psc-demo",)


@pytest.mark.parametrize("kwargs", [{"ports": []}, {"ports": [0]}, {"source_ranges": "10.0.0.0/33"}, {"priority": -1}])
def test_firewall_create_bad_input_raises_before_any_call(
    compute: ComputeClient, rsps: responses.RequestsMock, kwargs: dict[str, Any]
) -> None:
    args: dict[str, Any] = {"source_ranges": "10.100.0.0/28", "ports": [80], **kwargs}
    with pytest.raises(errors.ValidationError):
        compute.firewalls.create("fw", **args)
    assert len(rsps.calls) == 0


def test_firewall_delete_waits(compute: ComputeClient, rsps: responses.RequestsMock) -> None:
    rsps.delete(f"{GLOB}/firewalls/fw", json=op("op-d", status="DONE", scope="global"))
    result = compute.firewalls.delete("fw")
    assert result is not None and result.done
    assert len(rsps.calls) == 1


# -- forwarding rules, backend services, health checks, networks --------------------------------


def test_forwarding_rule_create_internal_tcp_on_backend_service(
    compute: ComputeClient, rsps: responses.RequestsMock
) -> None:
    rsps.post(f"{REG}/forwardingRules", json=op("op-fr", status="DONE"))
    compute.forwarding_rules.create("fr-ilb", backend_service="be-ilb", ports=[80], subnetwork="backend-subnet")
    assert body(rsps.calls[0]) == {
        "name": "fr-ilb",
        "IPProtocol": "TCP",
        "loadBalancingScheme": "INTERNAL",
        "ports": ["80"],
        "backendService": f"projects/{PROJECT}/regions/{REGION}/backendServices/be-ilb",
        "network": f"projects/{PROJECT}/global/networks/default",
        "subnetwork": f"projects/{PROJECT}/regions/{REGION}/subnetworks/backend-subnet",
    }


def test_forwarding_rule_create_six_ports_raises(compute: ComputeClient, rsps: responses.RequestsMock) -> None:
    with pytest.raises(errors.ValidationError):
        compute.forwarding_rules.create("fr", backend_service="be", ports=[1, 2, 3, 4, 5, 6])
    assert len(rsps.calls) == 0


def test_forwarding_rule_find_by_name_or_url(compute: ComputeClient, rsps: responses.RequestsMock) -> None:
    rule = {
        "name": "fr-ilb",
        "IPAddress": "10.0.0.5",
        "IPProtocol": "TCP",
        "ports": ["80"],
        "loadBalancingScheme": "INTERNAL",
        "backendService": f"{REG}/backendServices/be",
        "selfLink": f"{REG}/forwardingRules/fr-ilb",
    }
    rsps.get(f"{REG}/forwardingRules/fr-ilb", json=rule)
    other = f"{ROOT}compute/v1/projects/other-project/regions/europe-west4/forwardingRules/fr-ilb"
    rsps.get(other, json={**rule, "selfLink": other})
    rsps.get(f"{REG}/forwardingRules/missing", status=404, json=gerror(404, "nope", "notFound"))

    by_name = compute.forwarding_rules.find("fr-ilb")
    assert by_name is not None and by_name.ip_address == "10.0.0.5" and by_name.ports == ("80",)
    assert by_name.resource_name == f"projects/{PROJECT}/regions/{REGION}/forwardingRules/fr-ilb"
    by_url = compute.forwarding_rules.find(
        "https://www.googleapis.com/compute/v1/projects/other-project/regions/europe-west4/forwardingRules/fr-ilb"
    )
    assert by_url is not None and by_url.resource_name.startswith("projects/other-project/")
    assert compute.forwarding_rules.find("missing") is None
    with pytest.raises(errors.ValidationError):
        compute.forwarding_rules.find("projects/p/global/networks/default")


def test_forwarding_rule_list(compute: ComputeClient, rsps: responses.RequestsMock) -> None:
    rsps.get(f"{REG}/forwardingRules", json={"items": [{"name": "a"}, {"name": "b"}]})
    assert [r.name for r in compute.forwarding_rules.list()] == ["a", "b"]


def test_health_check_and_backend_service_create_and_get(compute: ComputeClient, rsps: responses.RequestsMock) -> None:
    rsps.post(f"{REG}/healthChecks", json=op("op-hc", status="DONE"))
    rsps.post(f"{REG}/backendServices", json=op("op-be", status="DONE"))
    rsps.get(f"{REG}/healthChecks/hc", json={"name": "hc", "type": "TCP", "tcpHealthCheck": {"port": 80}})
    rsps.get(
        f"{REG}/backendServices/be",
        json={
            "name": "be",
            "protocol": "TCP",
            "loadBalancingScheme": "INTERNAL",
            "healthChecks": [f"{REG}/healthChecks/hc"],
        },
    )
    compute.health_checks.create("hc", port=80)
    compute.backend_services.create("be", health_check="hc")
    assert body(rsps.calls[0]) == {"name": "hc", "type": "TCP", "tcpHealthCheck": {"port": 80}}
    assert body(rsps.calls[1])["healthChecks"] == [f"projects/{PROJECT}/regions/{REGION}/healthChecks/hc"]
    assert compute.health_checks.get("hc").port == 80
    assert compute.backend_services.get("be").health_checks == (f"{REG}/healthChecks/hc",)


def test_network_get(compute: ComputeClient, rsps: responses.RequestsMock) -> None:
    rsps.get(
        f"{GLOB}/networks/default",
        json={"name": "default", "autoCreateSubnetworks": True, "selfLink": f"{GLOB}/networks/default"},
    )
    network = compute.networks.get("default")
    assert network.name == "default" and network.auto_create_subnetworks is True


# -- service attachments ------------------------------------------------------------------------


def test_service_attachment_create_manual_with_lists(compute: ComputeClient, rsps: responses.RequestsMock) -> None:
    rsps.post(f"{REG}/serviceAttachments", json=op("op-sa"))
    rsps.post(f"{REG}/operations/op-sa/wait", json=op("op-sa", status="DONE"))

    compute.service_attachments.create(
        "gkebackend",
        target_service="fr-ilb",
        nat_subnets=["psc-subnet", f"{REG}/subnetworks/second"],
        connection_preference="ACCEPT_MANUAL",
        consumer_accept_lists=[ConsumerProjectLimit(TENANT, 5), "123456789012"],
        consumer_reject_lists=[OTHER],
        enable_proxy_protocol=True,
        domain_names=["orders.example.com."],
    )

    assert body(rsps.calls[0]) == {
        "name": "gkebackend",
        "connectionPreference": "ACCEPT_MANUAL",
        "targetService": f"projects/{PROJECT}/regions/{REGION}/forwardingRules/fr-ilb",
        "natSubnets": [f"projects/{PROJECT}/regions/{REGION}/subnetworks/psc-subnet", f"{REG}/subnetworks/second"],
        "consumerAcceptLists": [
            {"projectIdOrNum": TENANT, "connectionLimit": 5},
            {"projectIdOrNum": "123456789012", "connectionLimit": 10},
        ],
        "consumerRejectLists": [OTHER],
        "enableProxyProtocol": True,
        "domainNames": ["orders.example.com."],
    }


@pytest.mark.parametrize(
    "kwargs",
    [
        {"connection_preference": "ACCEPT_AUTOMATIC", "consumer_accept_lists": [TENANT]},
        {"connection_preference": "ACCEPT_AUTOMATIC", "consumer_reject_lists": [OTHER]},
        {"connection_preference": "SOMETIMES"},
        {"nat_subnets": []},
        {"domain_names": ["no-trailing-dot.com"]},
        {"consumer_accept_lists": [ConsumerProjectLimit(TENANT, -1)], "connection_preference": "ACCEPT_MANUAL"},
    ],
)
def test_service_attachment_create_bad_input_raises_before_any_call(
    compute: ComputeClient, rsps: responses.RequestsMock, kwargs: dict[str, Any]
) -> None:
    args: dict[str, Any] = {"target_service": "fr-ilb", "nat_subnets": ["psc-subnet"], **kwargs}
    with pytest.raises(errors.ValidationError):
        compute.service_attachments.create("gkebackend", **args)
    assert len(rsps.calls) == 0


def test_service_attachment_create_already_exists_carries_resource_name(
    compute: ComputeClient, rsps: responses.RequestsMock
) -> None:
    rsps.post(f"{REG}/serviceAttachments", status=409, json=gerror(409, "already exists", "alreadyExists"))
    with pytest.raises(errors.AlreadyExists) as info:
        compute.service_attachments.create("gkebackend", target_service="fr-ilb", nat_subnets=["psc-subnet"])
    assert info.value.resource_name == f"projects/{PROJECT}/regions/{REGION}/serviceAttachments/gkebackend"


def test_service_attachment_get_with_connected_endpoints(compute: ComputeClient, rsps: responses.RequestsMock) -> None:
    rsps.get(
        f"{REG}/serviceAttachments/gkebackend",
        json=attachment(
            connectedEndpoints=[
                {
                    "endpoint": "https://x/projects/t/regions/us-west1/forwardingRules/ea",
                    "status": "ACCEPTED",
                    "pscConnectionId": "1234567890",
                    "consumerNetwork": "https://x/projects/t/global/networks/n",
                },
                {"endpoint": "e2", "status": "SOMETHING_NEW"},
            ],
            consumerRejectLists=[OTHER],
            domainNames=["orders.example.com."],
        ),
    )
    sa = compute.service_attachments.get("gkebackend")
    assert sa.connection_preference is ConnectionPreference.ACCEPT_MANUAL
    assert sa.resource_name == f"projects/{PROJECT}/regions/{REGION}/serviceAttachments/gkebackend"
    assert sa.consumer_accept_lists == (ConsumerProjectLimit(TENANT, 10),)
    assert sa.consumer_reject_lists == (OTHER,)
    assert sa.fingerprint == "fp-1="
    assert sa.connected_endpoints[0].status is ConnectedEndpointStatus.ACCEPTED
    assert sa.connected_endpoints[0].psc_connection_id == "1234567890"
    assert sa.connected_endpoints[1].status == "SOMETHING_NEW"
    assert sa.accepts(TENANT) and not sa.accepts(OTHER)


def test_service_attachment_list_and_delete(compute: ComputeClient, rsps: responses.RequestsMock) -> None:
    rsps.get(f"{REG}/serviceAttachments", json={"items": [attachment()]})
    rsps.delete(f"{REG}/serviceAttachments/gkebackend", json=op("op-d", status="DONE"))
    assert [sa.name for sa in compute.service_attachments.list()] == ["gkebackend"]
    assert compute.service_attachments.delete("gkebackend") is not None


def test_accept_project_adds_entry_with_fingerprint(compute: ComputeClient, rsps: responses.RequestsMock) -> None:
    rsps.get(f"{REG}/serviceAttachments/gkebackend", json=attachment(consumerRejectLists=[OTHER]))
    patch = rsps.patch(f"{REG}/serviceAttachments/gkebackend", json=op("op-p", status="DONE"))

    compute.service_attachments.accept_project("gkebackend", OTHER, limit=3)

    assert patch.call_count == 1
    assert body(rsps.calls[-1]) == {
        **ALWAYS,
        "consumerRejectLists": [],
        "consumerAcceptLists": [
            {"projectIdOrNum": TENANT, "connectionLimit": 10},
            {"projectIdOrNum": OTHER, "connectionLimit": 3},
        ],
        "fingerprint": "fp-1=",
    }
    assert len(query(rsps.calls[-1])["requestId"][0]) == 36


def test_accept_project_already_accepted_sends_nothing(compute: ComputeClient, rsps: responses.RequestsMock) -> None:
    rsps.get(f"{REG}/serviceAttachments/gkebackend", json=attachment())
    assert compute.service_attachments.accept_project("gkebackend", TENANT) is None
    assert [c.request.method for c in rsps.calls] == ["GET"]


def test_accept_project_new_limit_replaces_entry(compute: ComputeClient, rsps: responses.RequestsMock) -> None:
    rsps.get(f"{REG}/serviceAttachments/gkebackend", json=attachment())
    rsps.patch(f"{REG}/serviceAttachments/gkebackend", json=op("op-p", status="DONE"))
    compute.service_attachments.accept_project("gkebackend", TENANT, limit=20)
    assert body(rsps.calls[-1])["consumerAcceptLists"] == [{"projectIdOrNum": TENANT, "connectionLimit": 20}]


def test_reject_project_moves_it_from_accept_list_clearing_it(
    compute: ComputeClient, rsps: responses.RequestsMock
) -> None:
    rsps.get(f"{REG}/serviceAttachments/gkebackend", json=attachment())
    rsps.patch(f"{REG}/serviceAttachments/gkebackend", json=op("op-p"))
    rsps.post(f"{REG}/operations/op-p/wait", json=op("op-p", status="DONE"))

    compute.service_attachments.reject_project("gkebackend", TENANT)

    sent = body(rsps.calls[1])
    assert sent == {**ALWAYS, "consumerRejectLists": [TENANT], "consumerAcceptLists": [], "fingerprint": "fp-1="}
    assert b'"consumerAcceptLists": []' in rsps.calls[1].request.body


def test_remove_project_last_entry_puts_empty_list_on_the_wire(
    compute: ComputeClient, rsps: responses.RequestsMock
) -> None:
    rsps.get(f"{REG}/serviceAttachments/gkebackend", json=attachment())
    rsps.patch(f"{REG}/serviceAttachments/gkebackend", json=op("op-p", status="DONE"))

    compute.service_attachments.remove_project("gkebackend", TENANT)

    raw = rsps.calls[1].request.body
    assert json.loads(raw) == {**ALWAYS, "consumerAcceptLists": [], "fingerprint": "fp-1="}
    assert b'"consumerAcceptLists": []' in raw
    assert rsps.calls[1].request.method == "PATCH"


def test_remove_project_absent_sends_nothing(compute: ComputeClient, rsps: responses.RequestsMock) -> None:
    rsps.get(f"{REG}/serviceAttachments/gkebackend", json=attachment())
    assert compute.service_attachments.remove_project("gkebackend", OTHER) is None
    assert len(rsps.calls) == 1


def test_set_connection_preference_automatic_clears_both_lists(
    compute: ComputeClient, rsps: responses.RequestsMock
) -> None:
    rsps.get(f"{REG}/serviceAttachments/gkebackend", json=attachment(consumerRejectLists=[OTHER]))
    rsps.patch(f"{REG}/serviceAttachments/gkebackend", json=op("op-p", status="DONE"))

    compute.service_attachments.set_connection_preference("gkebackend", ConnectionPreference.ACCEPT_AUTOMATIC)

    assert body(rsps.calls[1]) == {
        **ALWAYS,
        "connectionPreference": "ACCEPT_AUTOMATIC",
        "consumerAcceptLists": [],
        "consumerRejectLists": [],
        "fingerprint": "fp-1=",
    }


def test_set_connection_preference_unchanged_sends_nothing(
    compute: ComputeClient, rsps: responses.RequestsMock
) -> None:
    rsps.get(f"{REG}/serviceAttachments/gkebackend", json=attachment())
    assert compute.service_attachments.set_connection_preference("gkebackend", "ACCEPT_MANUAL") is None


def test_set_connection_preference_stale_fingerprint_412_rereads_then_succeeds(
    compute: ComputeClient, rsps: responses.RequestsMock
) -> None:
    rsps.get(
        f"{REG}/serviceAttachments/gkebackend",
        json=attachment(connectionPreference="ACCEPT_AUTOMATIC", consumerAcceptLists=[]),
    )
    rsps.get(
        f"{REG}/serviceAttachments/gkebackend",
        json=attachment(connectionPreference="ACCEPT_AUTOMATIC", consumerAcceptLists=[], fingerprint="fp-2="),
    )
    rsps.patch(
        f"{REG}/serviceAttachments/gkebackend",
        status=412,
        json=gerror(412, "Supplied fingerprint does not match current metadata fingerprint.", "conditionNotMet"),
    )
    rsps.patch(f"{REG}/serviceAttachments/gkebackend", json=op("op-p", status="DONE"))

    result = compute.service_attachments.set_connection_preference("gkebackend", "ACCEPT_MANUAL")

    assert result is not None and result.done
    patches = [c for c in rsps.calls if c.request.method == "PATCH"]
    assert [body(c)["fingerprint"] for c in patches] == ["fp-1=", "fp-2="]
    assert [c.request.method for c in rsps.calls] == ["GET", "PATCH", "GET", "PATCH"]


def test_change_stale_fingerprint_every_time_raises_failed_precondition(
    compute: ComputeClient, rsps: responses.RequestsMock
) -> None:
    rsps.get(f"{REG}/serviceAttachments/gkebackend", json=attachment())
    rsps.patch(f"{REG}/serviceAttachments/gkebackend", status=412, json=gerror(412, "stale", "conditionNotMet"))
    with pytest.raises(errors.FailedPrecondition):
        compute.service_attachments.remove_project("gkebackend", TENANT)
    assert len([c for c in rsps.calls if c.request.method == "PATCH"]) == 5


def test_update_replaces_lists_and_skips_equal_fields(compute: ComputeClient, rsps: responses.RequestsMock) -> None:
    rsps.get(f"{REG}/serviceAttachments/gkebackend", json=attachment())
    rsps.patch(f"{REG}/serviceAttachments/gkebackend", json=op("op-p", status="DONE"))
    compute.service_attachments.update(
        "gkebackend",
        connection_preference="ACCEPT_MANUAL",
        consumer_accept_lists=[],
        consumer_reject_lists=[],
        nat_subnets=["psc-subnet"],
        enable_proxy_protocol=True,
    )
    assert body(rsps.calls[1]) == {
        "name": "gkebackend",
        "consumerAcceptLists": [],
        "enableProxyProtocol": True,
        "fingerprint": "fp-1=",
    }


def test_update_nothing_different_returns_none(compute: ComputeClient, rsps: responses.RequestsMock) -> None:
    rsps.get(f"{REG}/serviceAttachments/gkebackend", json=attachment())
    assert compute.service_attachments.update("gkebackend", consumer_accept_lists=[TENANT]) is None


def test_update_connection_limit_of_accepted_project_is_patched(
    compute: ComputeClient, rsps: responses.RequestsMock
) -> None:
    rsps.get(
        f"{REG}/serviceAttachments/gkebackend",
        json=attachment(
            consumerAcceptLists=[
                {"projectIdOrNum": TENANT, "connectionLimit": 20},
                {"projectIdOrNum": OTHER, "connectionLimit": 5},
            ]
        ),
    )
    rsps.patch(f"{REG}/serviceAttachments/gkebackend", json=op("op-p", status="DONE"))

    compute.service_attachments.update(
        "gkebackend",
        consumer_accept_lists=[ConsumerProjectLimit(TENANT, 15), ConsumerProjectLimit(OTHER, 5)],
    )

    assert body(rsps.calls[1]) == {
        **ALWAYS,
        "consumerAcceptLists": [
            {"projectIdOrNum": TENANT, "connectionLimit": 15},
            {"projectIdOrNum": OTHER, "connectionLimit": 5},
        ],
        "fingerprint": "fp-1=",
    }


def test_update_to_automatic_clears_lists_in_the_same_patch(
    compute: ComputeClient, rsps: responses.RequestsMock
) -> None:
    rsps.get(f"{REG}/serviceAttachments/gkebackend", json=attachment(consumerRejectLists=[OTHER]))
    rsps.patch(f"{REG}/serviceAttachments/gkebackend", json=op("op-p", status="DONE"))

    compute.service_attachments.update("gkebackend", connection_preference="ACCEPT_AUTOMATIC")

    assert body(rsps.calls[1]) == {
        **ALWAYS,
        "connectionPreference": "ACCEPT_AUTOMATIC",
        "consumerAcceptLists": [],
        "consumerRejectLists": [],
        "fingerprint": "fp-1=",
    }


def test_update_to_automatic_with_accept_list_raises_before_any_call(
    compute: ComputeClient, rsps: responses.RequestsMock
) -> None:
    with pytest.raises(errors.ValidationError) as info:
        compute.service_attachments.update(
            "gkebackend", connection_preference="ACCEPT_AUTOMATIC", consumer_accept_lists=[TENANT]
        )
    assert info.value.field == "service_attachment.consumer_accept_lists"
    assert len(rsps.calls) == 0


def test_update_accept_list_on_automatic_attachment_raises_before_patch(
    compute: ComputeClient, rsps: responses.RequestsMock
) -> None:
    rsps.get(
        f"{REG}/serviceAttachments/gkebackend",
        json=attachment(connectionPreference="ACCEPT_AUTOMATIC", consumerAcceptLists=[]),
    )
    with pytest.raises(errors.ValidationError):
        compute.service_attachments.update("gkebackend", consumer_accept_lists=[TENANT])
    assert [c.request.method for c in rsps.calls] == ["GET"]


def test_update_reconcile_connections_and_proxy_protocol_kept_from_current(
    compute: ComputeClient, rsps: responses.RequestsMock
) -> None:
    rsps.get(f"{REG}/serviceAttachments/gkebackend", json=attachment(enableProxyProtocol=True))
    rsps.patch(f"{REG}/serviceAttachments/gkebackend", json=op("op-p", status="DONE"))

    compute.service_attachments.update("gkebackend", reconcile_connections=True)

    assert body(rsps.calls[1]) == {
        "name": "gkebackend",
        "enableProxyProtocol": True,
        "reconcileConnections": True,
        "fingerprint": "fp-1=",
    }


def test_update_reconcile_false_when_absent_sends_nothing(compute: ComputeClient, rsps: responses.RequestsMock) -> None:
    rsps.get(f"{REG}/serviceAttachments/gkebackend", json=attachment())
    assert compute.service_attachments.update("gkebackend", reconcile_connections=False) is None


def test_service_attachment_reconcile_connections_round_trips(
    compute: ComputeClient, rsps: responses.RequestsMock
) -> None:
    rsps.post(f"{REG}/serviceAttachments", json=op("op-c", status="DONE"))
    rsps.get(f"{REG}/serviceAttachments/gkebackend", json=attachment(reconcileConnections=True))
    compute.service_attachments.create(
        "gkebackend",
        target_service="fr-ilb",
        nat_subnets=["psc-subnet"],
        reconcile_connections=True,
        description="managed by apigee-psc",
    )
    sent = body(rsps.calls[0])
    assert sent["reconcileConnections"] is True and sent["description"] == "managed by apigee-psc"
    assert compute.service_attachments.get("gkebackend").reconcile_connections is True


def test_subnet_and_firewall_create_send_description(compute: ComputeClient, rsps: responses.RequestsMock) -> None:
    rsps.post(f"{REG}/subnetworks", json=op("op-s", status="DONE"))
    rsps.post(f"{GLOB}/firewalls", json=op("op-f", status="DONE", scope="global"))
    compute.subnets.create("psc-subnet", ip_cidr_range="10.100.0.0/28", description="managed by apigee-psc")
    compute.firewalls.create("fw", source_ranges="10.100.0.0/28", ports=[80], description="managed by apigee-psc")
    assert [body(c)["description"] for c in rsps.calls] == ["managed by apigee-psc"] * 2


def test_google_cloud_compute_drops_empty_lists_which_is_why_patches_are_raw(rsps: responses.RequestsMock) -> None:
    from google.cloud import compute_v1

    client = compute_v1.ServiceAttachmentsClient(
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options={"api_endpoint": ROOT.rstrip("/")},
        transport="rest",
    )
    rsps.patch(f"{REG}/serviceAttachments/gkebackend", json=op("op-p", status="DONE"))
    resource = compute_v1.ServiceAttachment(consumer_accept_lists=[], fingerprint="fp-1=")
    client.patch_unary(
        request=compute_v1.PatchServiceAttachmentRequest(
            project=PROJECT, region=REGION, service_attachment="gkebackend", service_attachment_resource=resource
        )
    )
    assert "consumerAcceptLists" not in body(rsps.calls[0])


# -- requestId, retries, error mapping, operations ----------------------------------------------


def test_insert_retried_503_reuses_request_id(compute: ComputeClient, rsps: responses.RequestsMock) -> None:
    rsps.post(
        f"{REG}/subnetworks",
        status=503,
        json={"error": {"code": 503, "message": "backend unavailable", "status": "UNAVAILABLE"}},
    )
    rsps.post(f"{REG}/subnetworks", json=op("op-s", status="DONE"))

    compute.subnets.create("psc-subnet", ip_cidr_range="10.100.0.0/28")

    ids = [query(c)["requestId"][0] for c in rsps.calls]
    assert len(ids) == 2 and ids[0] == ids[1]


def test_patch_retried_503_reuses_request_id(compute: ComputeClient, rsps: responses.RequestsMock) -> None:
    rsps.get(f"{REG}/serviceAttachments/gkebackend", json=attachment())
    rsps.patch(f"{REG}/serviceAttachments/gkebackend", status=503, json={"error": {"code": 503, "message": "x"}})
    rsps.patch(f"{REG}/serviceAttachments/gkebackend", json=op("op-p", status="DONE"))

    compute.service_attachments.remove_project("gkebackend", TENANT)

    ids = [query(c)["requestId"][0] for c in rsps.calls if c.request.method == "PATCH"]
    assert len(ids) == 2 and ids[0] == ids[1]


def _busy(reason: str = "operationInProgress", status: int = 409) -> dict[str, Any]:
    message = (
        f"The resource 'projects/{PROJECT}/regions/{REGION}/serviceAttachments/gkebackend' is being changed by "
        "operation 'operation-77' (patch); retry when that operation is DONE."
    )
    return {"error": {"code": status, "message": message, "errors": [{"reason": reason, "message": message}]}}


def test_delete_409_operation_in_progress_waited_out_same_request_id(
    compute: ComputeClient, rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    rsps.delete(f"{REG}/serviceAttachments/gkebackend", status=409, json=_busy())
    rsps.delete(f"{REG}/serviceAttachments/gkebackend", status=400, json=_busy("resourceNotReady", 400))
    rsps.delete(f"{REG}/serviceAttachments/gkebackend", json=op("op-d", status="DONE"))

    assert compute.service_attachments.delete("gkebackend") is not None

    deletes = [c for c in rsps.calls if c.request.method == "DELETE"]
    assert len(deletes) == 3 and len({query(c)["requestId"][0] for c in deletes}) == 1
    assert len(clock.sleeps) == 2


def test_delete_409_operation_in_progress_outlasting_timeout_raises_lock_timeout(
    compute: ComputeClient, rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    rsps.delete(f"{REG}/serviceAttachments/gkebackend", status=409, json=_busy())
    with pytest.raises(errors.LockTimeout) as info:
        compute.service_attachments.delete("gkebackend", timeout=8)
    assert clock.elapsed <= 8.0 + 1e-9
    assert info.value.holder == "operation-77"
    assert isinstance(info.value.error, errors.Conflict) and info.value.error.reason == "operationInProgress"


def test_patch_409_operation_in_progress_waited_out_and_reported(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    events: list[Any] = []
    compute = ComputeClient(
        PROJECT,
        REGION,
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        endpoint=ROOT,
        sleep=clock.sleep,
        clock=clock.now,
        on_retry=events.append,
    )
    rsps.get(f"{REG}/serviceAttachments/gkebackend", json=attachment())
    rsps.patch(f"{REG}/serviceAttachments/gkebackend", status=409, json=_busy())
    rsps.patch(f"{REG}/serviceAttachments/gkebackend", json=op("op-p", status="DONE"))

    compute.service_attachments.remove_project("gkebackend", TENANT)

    assert [e.cause for e in events] == ["resource_busy"] and events[0].holder == "operation-77"


def test_get_409_is_not_waited_out(compute: ComputeClient, rsps: responses.RequestsMock) -> None:
    rsps.get(f"{REG}/serviceAttachments/gkebackend", status=409, json=_busy())
    with pytest.raises(errors.Conflict):
        compute.service_attachments.get("gkebackend")
    assert len(rsps.calls) == 1


def test_two_mutations_use_different_request_ids(compute: ComputeClient, rsps: responses.RequestsMock) -> None:
    rsps.post(f"{REG}/subnetworks", json=op("op-s", status="DONE"))
    compute.subnets.create("a", ip_cidr_range="10.100.0.0/28")
    compute.subnets.create("b", ip_cidr_range="10.100.1.0/28")
    ids = {query(c)["requestId"][0] for c in rsps.calls}
    assert len(ids) == 2


def test_get_connection_reset_is_retried_then_maps_to_transport_error(
    compute: ComputeClient, rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    import requests

    rsps.get(f"{REG}/subnetworks/psc-subnet", body=requests.exceptions.ConnectionError("reset by peer"))
    with pytest.raises(errors.TransportError) as info:
        compute.subnets.get("psc-subnet")
    assert len(rsps.calls) > 1
    assert info.value.method == "GET"
    assert clock.elapsed <= 30.0 + 1e-6


def test_get_not_found_maps_with_method_and_url(compute: ComputeClient, rsps: responses.RequestsMock) -> None:
    rsps.get(
        f"{REG}/serviceAttachments/gone",
        status=404,
        json=gerror(
            404, "The resource 'projects/my-project/regions/us-west1/serviceAttachments/gone' was not found", "notFound"
        ),
    )
    with pytest.raises(errors.NotFound) as info:
        compute.service_attachments.get("gone")
    assert info.value.status_code == 404
    assert info.value.method == "GET"
    assert info.value.url == f"{REG}/serviceAttachments/gone"
    assert info.value.reason == "notFound"
    assert len(rsps.calls) == 1


def test_get_forbidden_maps_to_permission_denied(compute: ComputeClient, rsps: responses.RequestsMock) -> None:
    rsps.get(
        f"{REG}/subnetworks/x",
        status=403,
        json=gerror(403, "Required 'compute.subnetworks.get' permission", "forbidden"),
    )
    with pytest.raises(errors.PermissionDenied) as info:
        compute.subnets.get("x")
    assert "compute.subnetworks.get" in info.value.message


def test_operation_error_raises_operation_failed(compute: ComputeClient, rsps: responses.RequestsMock) -> None:
    rsps.post(f"{REG}/serviceAttachments", json=op("op-sa"))
    rsps.post(
        f"{REG}/operations/op-sa/wait",
        json=op(
            "op-sa",
            status="DONE",
            httpErrorStatusCode=400,
            httpErrorMessage="BAD REQUEST",
            error={"errors": [{"code": "INVALID_USAGE", "message": "NAT subnet purpose is wrong"}]},
        ),
    )
    with pytest.raises(errors.OperationFailed) as info:
        compute.service_attachments.create("gkebackend", target_service="fr-ilb", nat_subnets=["psc-subnet"])
    assert info.value.operation == "op-sa"
    assert info.value.code == 400
    assert info.value.reason == "INVALID_USAGE"
    assert "NAT subnet purpose is wrong" in str(info.value)


def test_operation_already_exists_error_raises_already_exists(
    compute: ComputeClient, rsps: responses.RequestsMock
) -> None:
    rsps.post(
        f"{REG}/subnetworks",
        json=op(
            "op-s",
            status="DONE",
            httpErrorStatusCode=409,
            error={"errors": [{"code": "RESOURCE_ALREADY_EXISTS", "message": "The resource already exists"}]},
        ),
    )
    with pytest.raises(errors.AlreadyExists) as info:
        compute.subnets.create("psc-subnet", ip_cidr_range="10.100.0.0/28")
    assert info.value.resource_name == f"projects/{PROJECT}/regions/{REGION}/subnetworks/psc-subnet"


def test_mutation_without_wait_returns_pending_operation_then_operations_wait(
    compute: ComputeClient, rsps: responses.RequestsMock
) -> None:
    rsps.post(f"{REG}/subnetworks", json=op("op-s"))
    rsps.post(f"{REG}/operations/op-s/wait", json=op("op-s", status="DONE"))
    pending = compute.subnets.create("psc-subnet", ip_cidr_range="10.100.0.0/28", wait=False)
    assert pending.status == "RUNNING" and len(rsps.calls) == 1
    assert compute.operations.wait(pending).done


def test_operation_wait_times_out_with_wait_timeout(
    compute: ComputeClient, rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    def slow(request: Any) -> tuple[int, dict[str, str], str]:
        clock.time += 30.0  # each long poll holds for 30 s
        return 200, {}, json.dumps(op("op-s"))

    rsps.post(f"{REG}/subnetworks", json=op("op-s"))
    rsps.add_callback(responses.POST, f"{REG}/operations/op-s/wait", callback=slow)
    with pytest.raises(errors.WaitTimeout) as info:
        compute.subnets.create("psc-subnet", ip_cidr_range="10.100.0.0/28", timeout=100)
    assert info.value.operation == "projects/my-project/regions/us-west1/operations/op-s"
    assert info.value.resume == "ComputeClient.operations.wait('projects/my-project/regions/us-west1/operations/op-s')"


def test_emulator_env_points_compute_at_the_emulator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APIGEE_PSC_EMULATOR_HOST", "127.0.0.1:8089")
    client = ComputeClient(PROJECT, REGION)
    assert client.root_url == "http://127.0.0.1:8089/"
    with pytest.raises(errors.ValidationError):
        ComputeClient(PROJECT, REGION, endpoint="http://compute.googleapis.com/")
    with pytest.raises(errors.ValidationError):
        ComputeClient("BAD", REGION)
    with pytest.raises(errors.ValidationError):
        ComputeClient(PROJECT, "us-west1-a")


def test_import_compute_does_not_import_google_cloud_compute() -> None:
    code = (
        "import sys, apigee_psc, apigee_psc.compute, apigee_psc.cloud\n"
        "c = apigee_psc.compute.ComputeClient('my-project', 'us-west1', endpoint='http://127.0.0.1:9')\n"
        "assert 'google.cloud.compute_v1' not in sys.modules, 'compute_v1 imported eagerly'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# -- names that are not the client's own -----------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.service_attachments.delete(f"projects/other-project/regions/{REGION}/serviceAttachments/x"),
        lambda c: c.service_attachments.get(f"projects/{PROJECT}/regions/europe-west4/serviceAttachments/x"),
        lambda c: c.service_attachments.get(None),
        lambda c: c.service_attachments.delete(None),
        lambda c: c.service_attachments.remove_project(
            f"projects/other-project/regions/{REGION}/serviceAttachments/x", TENANT
        ),
        lambda c: c.subnets.get(f"projects/{PROJECT}/regions/{REGION}/firewalls/x"),
        lambda c: c.subnets.delete(""),
        lambda c: c.firewalls.delete("projects/other-project/global/firewalls/fw"),
        lambda c: c.firewalls.get(f"projects/{PROJECT}/regions/{REGION}/firewalls/fw"),
        lambda c: c.networks.get("projects/other-project/global/networks/default"),
        lambda c: c.health_checks.delete("Bad_Name"),
        lambda c: c.operations.wait(
            ComputeOperation("op", self_link=f"{ROOT}compute/v1/projects/other-project/regions/{REGION}/operations/op")
        ),
    ],
)
def test_names_not_of_this_project_and_region_refused_before_any_call(
    compute: ComputeClient, rsps: responses.RequestsMock, call: Any
) -> None:
    with pytest.raises(errors.ValidationError):
        call(compute)
    assert len(rsps.calls) == 0


def test_own_full_names_and_urls_accepted(compute: ComputeClient, rsps: responses.RequestsMock) -> None:
    rsps.get(f"{REG}/serviceAttachments/gkebackend", json=attachment())
    rsps.delete(f"{GLOB}/firewalls/fw", json=op("op-f", status="DONE", scope="global"))
    assert compute.service_attachments.get(f"projects/{PROJECT}/regions/{REGION}/serviceAttachments/gkebackend").name
    assert compute.service_attachments.get(f"{REG}/serviceAttachments/gkebackend").name == "gkebackend"
    compute.firewalls.delete(f"projects/{PROJECT}/global/firewalls/fw")
    assert [c.request.method for c in rsps.calls] == ["GET", "GET", "DELETE"]


# -- only the services a call needs are imported ---------------------------------------------------


def test_one_service_imports_only_its_own_google_cloud_compute_module() -> None:
    probe = (
        "import sys\n"
        "from google.auth.credentials import AnonymousCredentials\n"
        "from apigee_psc.compute import _gapic\n"
        "_gapic.service('service_attachments', 'ServiceAttachmentsClient', credentials=AnonymousCredentials(),"
        " api_endpoint='http://127.0.0.1:1')\n"
        "loaded = sorted(m.rsplit('.', 1)[-1] for m in sys.modules"
        " if m.startswith('google.cloud.compute_v1.services.') and m.count('.') == 4)\n"
        "print(','.join(loaded))\n"
        "from google.cloud import compute_v1\n"
        "print(compute_v1.FirewallsClient.__name__, 'google.cloud.compute_v1.services.firewalls' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True, timeout=120)
    first, second = out.stdout.strip().splitlines()
    # A service client imports the operations client it uses for ExtendedOperation, nothing else.
    assert set(first.split(",")) == {"region_operations", "service_attachments"}
    assert second == "FirewallsClient True"  # the whole package is still there for whoever asks


def test_compute_requests_carry_the_library_user_agent(compute: ComputeClient, rsps: responses.RequestsMock) -> None:
    from apigee_psc._version import __version__

    rsps.get(f"{REG}/serviceAttachments/gkebackend", json=attachment())
    compute.service_attachments.get("gkebackend")
    headers = rsps.calls[0].request.headers
    assert f"apigee-psc/{__version__}" in headers["User-Agent"]
    assert "x-goog-api-client" in {k.lower() for k in headers}
