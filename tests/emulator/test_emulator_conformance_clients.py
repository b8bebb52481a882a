"""Conformance: Google's own clients drive the emulator through the seed's whole scenario.

google-api-python-client's discovery clients are built from the documents bundled in its
wheel (Apigee, Cloud DNS, Resource Manager, Service Networking); Compute is driven by
google-cloud-compute (``*_unary`` methods and ``RegionOperationsClient.wait``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import googleapiclient
import httplib2
import pytest
from emulator_helpers import ORG, PEERED, PROJECT, REGION
from google.api_core import exceptions as core_exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import compute_v1
from googleapiclient.discovery import build_from_document
from googleapiclient.errors import HttpError

from apigee_psc.emulator import EmulatorServer

DOCS = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"


def discovery(name: str, server: EmulatorServer) -> Any:
    """A discovery client for ``name`` (e.g. ``apigee.v1``) pointed at the emulator."""
    return build_from_document(
        (DOCS / f"{name}.json").read_text(), http=httplib2.Http(timeout=10), client_options={"api_endpoint": server.url}
    )


class Compute:
    """google-cloud-compute clients pointed at the emulator."""

    def __init__(self, server: EmulatorServer) -> None:
        kw: dict[str, Any] = {
            "credentials": AnonymousCredentials(),
            "client_options": {"api_endpoint": server.url.rstrip("/")},
        }
        self.health_checks = compute_v1.RegionHealthChecksClient(**kw)
        self.backend_services = compute_v1.RegionBackendServicesClient(**kw)
        self.forwarding_rules = compute_v1.ForwardingRulesClient(**kw)
        self.subnets = compute_v1.SubnetworksClient(**kw)
        self.firewalls = compute_v1.FirewallsClient(**kw)
        self.service_attachments = compute_v1.ServiceAttachmentsClient(**kw)
        self.networks = compute_v1.NetworksClient(**kw)
        self.region_ops = compute_v1.RegionOperationsClient(**kw)
        self.global_ops = compute_v1.GlobalOperationsClient(**kw)

    def wait(self, op: compute_v1.Operation) -> compute_v1.Operation:
        """Wait for ``op`` with ``operations.wait`` until DONE."""
        for _ in range(50):
            if op.region:
                op = self.region_ops.wait(project=PROJECT, region=REGION, operation=op.name)
            else:
                op = self.global_ops.wait(project=PROJECT, operation=op.name)
            if op.status == compute_v1.Operation.Status.DONE:
                assert not op.error.errors, op.error
                return op
        raise AssertionError(f"operation {op.name} never finished")


def wait_apigee(apigee: Any, op: dict[str, Any]) -> dict[str, Any]:
    """Poll an Apigee operation until done."""
    for _ in range(200):
        if op.get("done"):
            return op
        time.sleep(0.02)
        op = apigee.organizations().operations().get(name=op["name"]).execute()
    raise AssertionError(f"operation {op['name']} never finished")


@pytest.fixture(scope="module")
def compute(emulator_server: EmulatorServer) -> Compute:
    return Compute(emulator_server)


def build_producer(compute: Compute) -> dict[str, str]:
    """The seed's producer side through google-cloud-compute; returns the self links."""
    c = compute
    hc = c.wait(
        c.health_checks.insert_unary(
            project=PROJECT,
            region=REGION,
            health_check_resource=compute_v1.HealthCheck(
                name="hc-tcp-80", type_="TCP", tcp_health_check=compute_v1.TCPHealthCheck(port=80)
            ),
        )
    )
    bs = c.wait(
        c.backend_services.insert_unary(
            project=PROJECT,
            region=REGION,
            backend_service_resource=compute_v1.BackendService(
                name="bs-ilb", load_balancing_scheme="INTERNAL", protocol="TCP", health_checks=[hc.target_link]
            ),
        )
    )
    fr = c.wait(
        c.forwarding_rules.insert_unary(
            project=PROJECT,
            region=REGION,
            forwarding_rule_resource=compute_v1.ForwardingRule(
                name="fr-ilb",
                load_balancing_scheme="INTERNAL",
                backend_service=bs.target_link,
                ports=["80"],
                I_p_protocol="TCP",
                network=f"projects/{PROJECT}/global/networks/default",
            ),
        )
    )
    sub = c.wait(
        c.subnets.insert_unary(
            project=PROJECT,
            region=REGION,
            subnetwork_resource=compute_v1.Subnetwork(
                name="psc-subnet",
                network=f"projects/{PROJECT}/global/networks/default",
                ip_cidr_range="10.100.0.0/28",
                purpose="PRIVATE_SERVICE_CONNECT",
            ),
        )
    )
    c.wait(
        c.firewalls.insert_unary(
            project=PROJECT,
            firewall_resource=compute_v1.Firewall(
                name="allow-psc-nat-80",
                network=f"projects/{PROJECT}/global/networks/default",
                direction="INGRESS",
                source_ranges=["10.100.0.0/28"],
                target_tags=["psc-demo"],
                allowed=[compute_v1.Allowed(I_p_protocol="tcp", ports=["80"])],
            ),
        )
    )
    sa = c.wait(
        c.service_attachments.insert_unary(
            project=PROJECT,
            region=REGION,
            service_attachment_resource=compute_v1.ServiceAttachment(
                name="gkebackend",
                producer_forwarding_rule=fr.target_link,
                connection_preference="ACCEPT_AUTOMATIC",
                nat_subnets=[sub.target_link],
            ),
        )
    )
    return {
        "hc": hc.target_link,
        "bs": bs.target_link,
        "fr": fr.target_link,
        "subnet": sub.target_link,
        "sa": sa.target_link,
    }


def test_seed_scenario_google_clients_end_to_end(emu: EmulatorServer, compute: Compute) -> None:
    emu.configure(op_seconds=0.1)
    links = build_producer(compute)
    assert links["sa"].startswith(emu.url + "compute/v1/projects/my-project/regions/us-west1/serviceAttachments/")
    fr = compute.forwarding_rules.get(project=PROJECT, region=REGION, forwarding_rule="fr-ilb")
    assert fr.I_p_address and fr.backend_service == links["bs"]

    apigee = discovery("apigee.v1", emu)
    org = apigee.organizations().get(name=f"organizations/{ORG}").execute()
    assert org["disableVpcPeering"] is True
    tenant = org["apigeeProjectId"]

    sa_name = f"projects/{PROJECT}/regions/{REGION}/serviceAttachments/gkebackend"
    op = (
        apigee.organizations()
        .endpointAttachments()
        .create(
            parent=f"organizations/{ORG}",
            endpointAttachmentId="gkebackend",
            body={"location": REGION, "serviceAttachment": sa_name},
        )
        .execute()
    )
    assert "done" not in op
    assert op["metadata"]["@type"] == "type.googleapis.com/google.cloud.apigee.v1.OperationMetadata"
    op = wait_apigee(apigee, op)
    host = op["response"]["host"]
    assert host == "7.0.3.4"
    ea = (
        apigee.organizations()
        .endpointAttachments()
        .get(name=f"organizations/{ORG}/endpointAttachments/gkebackend")
        .execute()
    )
    assert (ea["state"], ea["connectionState"]) == ("ACTIVE", "ACCEPTED")
    listed = apigee.organizations().endpointAttachments().list(parent=f"organizations/{ORG}").execute()
    assert [a["name"] for a in listed["endpointAttachments"]] == [ea["name"]]

    sa = compute.service_attachments.get(project=PROJECT, region=REGION, service_attachment="gkebackend")
    assert sa.connected_endpoints[0].status == "ACCEPTED"
    assert tenant in sa.connected_endpoints[0].endpoint

    # Accept-list the tenant project in place (ACCEPT_MANUAL), with the fingerprint.
    patch = compute_v1.ServiceAttachment(
        fingerprint=sa.fingerprint,
        connection_preference="ACCEPT_MANUAL",
        consumer_accept_lists=[
            compute_v1.ServiceAttachmentConsumerProjectLimit(project_id_or_num=tenant, connection_limit=10)
        ],
    )
    compute.wait(
        compute.service_attachments.patch_unary(
            project=PROJECT, region=REGION, service_attachment="gkebackend", service_attachment_resource=patch
        )
    )
    with pytest.raises(core_exceptions.PreconditionFailed):
        compute.service_attachments.patch_unary(
            project=PROJECT, region=REGION, service_attachment="gkebackend", service_attachment_resource=patch
        )
    ea = apigee.organizations().endpointAttachments().get(name=ea["name"]).execute()
    assert ea["connectionState"] == "ACCEPTED"

    # DNS peering: grant roles/dns.peer to the Apigee service agent, then the Apigee DNS zone.
    crm = discovery("cloudresourcemanager.v3", emu)
    number = crm.projects().get(name=f"projects/{org['projectId']}").execute()["name"].split("/")[1]
    agent = f"serviceAccount:service-{number}@gcp-sa-apigee.iam.gserviceaccount.com"
    zone_body = {
        "domain": "example.com.",
        "description": "orders",
        "peeringConfig": {"targetProjectId": PROJECT, "targetNetworkId": "default"},
    }
    with pytest.raises(HttpError) as denied:
        apigee.organizations().dnsZones().create(
            parent=f"organizations/{ORG}", dnsZoneId="my-zone", body=zone_body
        ).execute()
    assert denied.value.resp.status == 403
    policy = (
        crm.projects()
        .getIamPolicy(resource=f"projects/{PROJECT}", body={"options": {"requestedPolicyVersion": 3}})
        .execute()
    )
    policy["bindings"].append({"role": "roles/dns.peer", "members": [agent]})
    crm.projects().setIamPolicy(resource=f"projects/{PROJECT}", body={"policy": policy}).execute()
    with pytest.raises(HttpError) as stale:
        crm.projects().setIamPolicy(resource=f"projects/{PROJECT}", body={"policy": policy}).execute()
    assert stale.value.resp.status == 409
    assert json.loads(stale.value.content)["error"]["status"] == "ABORTED"
    op = (
        apigee.organizations()
        .dnsZones()
        .create(parent=f"organizations/{ORG}", dnsZoneId="my-zone", body=zone_body)
        .execute()
    )
    wait_apigee(apigee, op)
    zone = apigee.organizations().dnsZones().get(name=f"organizations/{ORG}/dnsZones/my-zone").execute()
    assert zone["state"] == "ACTIVE"

    # A private Cloud DNS zone in the producer project with an A record for the host.
    dns = discovery("dns.v1", emu)
    dns.managedZones().create(
        project=PROJECT,
        body={
            "name": "my-private-zone",
            "dnsName": "example.com.",
            "description": "",
            "visibility": "private",
            "privateVisibilityConfig": {
                "networks": [
                    {"networkUrl": f"https://www.googleapis.com/compute/v1/projects/{PROJECT}/global/networks/default"}
                ]
            },
        },
    ).execute()
    rr = (
        dns.resourceRecordSets()
        .create(
            project=PROJECT,
            managedZone="my-private-zone",
            body={"name": "orders.example.com.", "type": "A", "ttl": 300, "rrdatas": [host]},
        )
        .execute()
    )
    assert rr["rrdatas"] == [host]
    got = (
        dns.resourceRecordSets()
        .get(project=PROJECT, managedZone="my-private-zone", name="orders.example.com.", type="A")
        .execute()
    )
    assert got == rr
    change = (
        dns.changes()
        .create(
            project=PROJECT,
            managedZone="my-private-zone",
            body={"deletions": [rr], "additions": [{**rr, "rrdatas": ["7.0.3.9"]}]},
        )
        .execute()
    )
    # Like Cloud DNS, a change reads pending for the operation time (0.1 s here), then done.
    assert change["status"] == "pending"
    for _ in range(100):
        if change["status"] == "done":
            break
        time.sleep(0.02)
        change = dns.changes().get(project=PROJECT, managedZone="my-private-zone", changeId=change["id"]).execute()
    assert change["status"] == "done"
    rrsets = dns.resourceRecordSets().list(project=PROJECT, managedZone="my-private-zone", type="A").execute()
    assert [r["rrdatas"] for r in rrsets["rrsets"]] == [["7.0.3.9"]]

    # Tear down in reverse order.
    dns.resourceRecordSets().delete(
        project=PROJECT, managedZone="my-private-zone", name="orders.example.com.", type="A"
    ).execute()
    dns.managedZones().delete(project=PROJECT, managedZone="my-private-zone").execute()
    wait_apigee(apigee, apigee.organizations().dnsZones().delete(name=zone["name"]).execute())
    wait_apigee(apigee, apigee.organizations().endpointAttachments().delete(name=ea["name"]).execute())
    with pytest.raises(HttpError) as gone:
        apigee.organizations().endpointAttachments().get(name=ea["name"]).execute()
    assert gone.value.resp.status == 404
    compute.wait(
        compute.service_attachments.delete_unary(project=PROJECT, region=REGION, service_attachment="gkebackend")
    )
    compute.wait(compute.subnets.delete_unary(project=PROJECT, region=REGION, subnetwork="psc-subnet"))


def test_compute_client_duplicate_insert_conflict(emu: EmulatorServer, compute: Compute) -> None:
    build_producer(compute)
    with pytest.raises(core_exceptions.Conflict):
        compute.subnets.insert_unary(
            project=PROJECT,
            region=REGION,
            subnetwork_resource=compute_v1.Subnetwork(
                name="psc-subnet", network="global/networks/default", ip_cidr_range="10.101.0.0/28"
            ),
        )


def test_compute_client_delete_subnet_in_use_bad_request(emu: EmulatorServer, compute: Compute) -> None:
    build_producer(compute)
    with pytest.raises(core_exceptions.BadRequest) as info:
        compute.subnets.delete_unary(project=PROJECT, region=REGION, subnetwork="psc-subnet")
    assert "resourceInUseByAnotherResource" in str(info.value.errors) or "already being used" in str(info.value)


def test_compute_client_get_missing_not_found(emu: EmulatorServer, compute: Compute) -> None:
    with pytest.raises(core_exceptions.NotFound):
        compute.service_attachments.get(project=PROJECT, region=REGION, service_attachment="nope")


def test_compute_client_list_pages_follow_next_page_token(emu: EmulatorServer, compute: Compute) -> None:
    for i in range(5):
        compute.firewalls.insert_unary(
            project=PROJECT,
            firewall_resource=compute_v1.Firewall(name=f"fw-{i}", allowed=[compute_v1.Allowed(I_p_protocol="tcp")]),
        )
    pager = compute.firewalls.list(request=compute_v1.ListFirewallsRequest(project=PROJECT, max_results=2))
    assert [f.name for f in pager] == [f"fw-{i}" for i in range(5)]
    assert len(emu.requests(method="GET", api="compute")) == 3


def test_compute_client_network_default_exists(emu: EmulatorServer, compute: Compute) -> None:
    net = compute.networks.get(project="any-project", network="default")
    assert net.auto_create_subnetworks is True


def test_apigee_client_duplicate_create_conflict(emu: EmulatorServer, compute: Compute) -> None:
    build_producer(compute)
    apigee = discovery("apigee.v1", emu)
    body = {
        "location": REGION,
        "serviceAttachment": f"projects/{PROJECT}/regions/{REGION}/serviceAttachments/gkebackend",
    }
    apigee.organizations().endpointAttachments().create(
        parent=f"organizations/{ORG}", endpointAttachmentId="ea", body=body
    ).execute()
    with pytest.raises(HttpError) as info:
        apigee.organizations().endpointAttachments().create(
            parent=f"organizations/{ORG}", endpointAttachmentId="ea", body=body
        ).execute()
    assert info.value.resp.status == 409
    assert json.loads(info.value.content)["error"]["status"] == "ALREADY_EXISTS"


def test_apigee_client_list_pages_follow_next_page_token(emu: EmulatorServer, compute: Compute) -> None:
    build_producer(compute)
    for i in range(3):
        emu.world.compute.insert(
            "forwardingRules",
            PROJECT,
            REGION,
            {
                "name": f"fr-{i}",
                "loadBalancingScheme": "INTERNAL",
                "backendService": "regions/us-west1/backendServices/bs-ilb",
            },
        )
        emu.world.compute.insert(
            "serviceAttachments",
            PROJECT,
            REGION,
            {
                "name": f"sa-{i}",
                "producerForwardingRule": f"regions/us-west1/forwardingRules/fr-{i}",
                "connectionPreference": "ACCEPT_AUTOMATIC",
                "natSubnets": ["psc-subnet"],
            },
        )
        emu.world.apigee.create_endpoint_attachment(
            ORG,
            f"ea-{i}",
            {"location": REGION, "serviceAttachment": f"projects/{PROJECT}/regions/{REGION}/serviceAttachments/sa-{i}"},
        )
    apigee = discovery("apigee.v1", emu)
    coll = apigee.organizations().endpointAttachments()
    request = coll.list(parent=f"organizations/{ORG}", pageSize=2)
    names = []
    while request is not None:
        page = request.execute()
        names += [a["name"].rsplit("/", 1)[1] for a in page.get("endpointAttachments", [])]
        request = coll.list_next(request, page)
    assert names == ["ea-0", "ea-1", "ea-2"]


def test_service_networking_client_peered_dns_domain_lifecycle(emu: EmulatorServer) -> None:
    emu.configure(op_seconds=0.05)
    crm = discovery("cloudresourcemanager.v3", emu)
    number = crm.projects().get(name=f"projects/{PROJECT}").execute()["name"].split("/")[1]
    sn = discovery("servicenetworking.v1", emu)
    domains = sn.services().projects().global_().networks().peeredDnsDomains()
    parent = f"services/servicenetworking.googleapis.com/projects/{number}/global/networks/default"
    op = domains.create(parent=parent, body={"name": "example", "dnsSuffix": "example.com."}).execute()
    for _ in range(100):
        if op.get("done"):
            break
        time.sleep(0.01)
        op = sn.operations().get(name=op["name"]).execute()
    assert op["response"]["dnsSuffix"] == "example.com."
    assert domains.list(parent=parent).execute()["peeredDnsDomains"] == [
        {"name": "example", "dnsSuffix": "example.com."}
    ]
    domains.delete(name=f"{parent}/peeredDnsDomains/example").execute()
    assert PEERED in emu.world.orgs
