"""A connection's life after day one, driven with Google's own clients.

Apigee and Compute are called through google-api-python-client's discovery clients (built
from the documents bundled in its wheel); each day-2 event is triggered through
``POST /_emulator/events`` as another team or tool would cause it. Where Google's words are
known the test asserts them as they are; each test names where they were learned.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import googleapiclient
import httplib2
import pytest
import requests
from emulator_helpers import ORG, PROJECT, REGION
from googleapiclient.discovery import build_from_document
from googleapiclient.errors import HttpError

from apigee_psc.emulator import EmulatorServer
from apigee_psc.emulator.compute.psc import usable_nat_ips
from apigee_psc.testing import gcloud_environment

DOCS = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"
SA = f"projects/{PROJECT}/regions/{REGION}/serviceAttachments/gkebackend"
EA = f"organizations/{ORG}/endpointAttachments/gkebackend"


def discovery(name: str, server: EmulatorServer) -> Any:
    """A discovery client for ``name`` pointed at the emulator (Compute's base URL carries its path)."""
    endpoint = server.url + ("compute/v1/" if name == "compute.v1" else "")
    return build_from_document(
        (DOCS / f"{name}.json").read_text(), http=httplib2.Http(timeout=10), client_options={"api_endpoint": endpoint}
    )


def events(server: EmulatorServer, *body: dict[str, Any]) -> list[dict[str, Any]]:
    """``POST /_emulator/events`` over HTTP (what a test outside Python does)."""
    resp = requests.post(server.url + "_emulator/events", json=list(body), timeout=10)
    assert resp.status_code == 200, resp.text
    results: list[dict[str, Any]] = resp.json()["results"]
    return results


def producer(server: EmulatorServer, *, cidr: str = "10.100.0.0/29", **sa_fields: Any) -> Any:
    """The seed's producer through the Compute discovery client, with a NAT subnet of ``cidr``."""
    compute = discovery("compute.v1", server)
    scope = {"project": PROJECT, "region": REGION}
    compute.regionHealthChecks().insert(
        **scope, body={"name": "hc", "type": "TCP", "tcpHealthCheck": {"port": 80}}
    ).execute()
    compute.regionBackendServices().insert(
        **scope,
        body={
            "name": "bs",
            "loadBalancingScheme": "INTERNAL",
            "protocol": "TCP",
            "healthChecks": [f"projects/{PROJECT}/regions/{REGION}/healthChecks/hc"],
        },
    ).execute()
    compute.forwardingRules().insert(
        **scope,
        body={
            "name": "fr-ilb",
            "loadBalancingScheme": "INTERNAL",
            "backendService": f"projects/{PROJECT}/regions/{REGION}/backendServices/bs",
            "ports": ["80"],
        },
    ).execute()
    compute.subnetworks().insert(
        **scope,
        body={
            "name": "psc-nat",
            "network": f"projects/{PROJECT}/global/networks/default",
            "ipCidrRange": cidr,
            "purpose": "PRIVATE_SERVICE_CONNECT",
        },
    ).execute()
    body = {
        "name": "gkebackend",
        "producerForwardingRule": f"projects/{PROJECT}/regions/{REGION}/forwardingRules/fr-ilb",
        "connectionPreference": "ACCEPT_AUTOMATIC",
        "natSubnets": [f"projects/{PROJECT}/regions/{REGION}/subnetworks/psc-nat"],
        **sa_fields,
    }
    compute.serviceAttachments().insert(**scope, body=body).execute()
    return compute


def attach(server: EmulatorServer) -> Any:
    """Create the endpoint attachment through the Apigee discovery client; return the client."""
    apigee = discovery("apigee.v1", server)
    op = (
        apigee.organizations()
        .endpointAttachments()
        .create(
            parent=f"organizations/{ORG}",
            endpointAttachmentId="gkebackend",
            body={"location": REGION, "serviceAttachment": SA},
        )
        .execute()
    )
    server.wait_idle()
    assert apigee.organizations().operations().get(name=op["name"]).execute()["done"] is True
    return apigee


def connection_state(apigee: Any) -> str:
    state: str = apigee.organizations().endpointAttachments().get(name=EA).execute()["connectionState"]
    return state


def service_attachment(compute: Any) -> dict[str, Any]:
    sa: dict[str, Any] = (
        compute.serviceAttachments().get(project=PROJECT, region=REGION, serviceAttachment="gkebackend").execute()
    )
    return sa


# -- NAT IP exhaustion ---------------------------------------------------------------------------------


def test_usable_nat_ips_are_the_range_less_four_addresses() -> None:
    """Google's "Subnets" page (cloud.google.com/vpc/docs/subnets, unusable addresses in IPv4
    subnet ranges): the network address, the default gateway, the second-to-last address and
    the broadcast address of every primary range are unusable."""
    assert usable_nat_ips("10.100.0.0/29") == ["10.100.0.2", "10.100.0.3", "10.100.0.4", "10.100.0.5"]
    assert len(usable_nat_ips("10.100.0.0/28")) == 12
    assert len(usable_nat_ips("10.100.0.0/24")) == 252


def test_nat_exhausted_new_connection_needs_attention_until_an_address_frees(emu: EmulatorServer) -> None:
    """Google's "About published services" page (cloud.google.com/vpc/docs/about-vpc-hosted-services, NAT
    subnet sizing and monitoring): each connected endpoint takes one IP of the NAT subnet;
    when none is left new connections fail, and a NEEDS_ATTENTION status means the NAT subnet
    may have no free address. Apigee's ConnectionState NEEDS_ATTENTION: accepted by the PSC
    producer but not ready to serve because of producer side issues (apigee.v1 discovery)."""
    compute = producer(emu, cidr="10.100.0.0/29")
    [filled] = events(emu, {"event": "exhaust_nat", "service_attachment": SA, "project": "other-team"})
    assert filled["nat"] == {"usable": 4, "used": 4, "free": 0} and len(filled["added"]) == 4

    apigee = attach(emu)
    assert connection_state(apigee) == "NEEDS_ATTENTION"
    mine = [e for e in service_attachment(compute)["connectedEndpoints"] if "/forwardingRules/sb-" in e["endpoint"]]
    assert [e["status"] for e in mine] == ["NEEDS_ATTENTION"] and "natIps" not in mine[0]

    psc = requests.get(emu.url + "_emulator/state", timeout=10).json()["compute"]["psc"]
    assert psc["nat"][SA] == {"usable": 4, "used": 4, "free": 0} and len(psc["otherConsumers"][SA]) == 4

    [freed] = events(emu, {"event": "free_nat", "service_attachment": SA})
    assert freed["removed"] == 4
    assert connection_state(apigee) == "ACCEPTED"
    [entry] = service_attachment(compute)["connectedEndpoints"]
    assert entry["status"] == "ACCEPTED"
    assert entry["natIps"] == ["10.100.0.2"] and entry["propagatedConnectionCount"] == 0
    assert entry["consumerNetwork"].endswith("/global/networks/apigee-network")

    # The connection keeps its address: exhausting the NAT again leaves it ACCEPTED.
    [again] = events(emu, {"event": "exhaust_nat", "service_attachment": SA})
    assert again["nat"]["free"] == 0 and len(again["added"]) == 3
    assert connection_state(apigee) == "ACCEPTED"


def test_nat_exhausted_manual_connection_pending_then_needs_attention_once_accepted(emu: EmulatorServer) -> None:
    """Same sources: a PENDING connection takes no NAT address (nothing is connected yet); once
    the producer accepts it with no address left, it shows NEEDS_ATTENTION. The seed's /28
    serves 12 connections."""
    compute = producer(emu, cidr="10.100.0.0/28", connectionPreference="ACCEPT_MANUAL")
    [filled] = events(emu, {"event": "exhaust_nat", "service_attachment": SA})
    assert filled["nat"] == {"usable": 12, "used": 12, "free": 0}
    apigee = attach(emu)
    assert connection_state(apigee) == "PENDING"

    tenant = apigee.organizations().get(name=f"organizations/{ORG}").execute()["apigeeProjectId"]
    sa = service_attachment(compute)
    compute.serviceAttachments().patch(
        project=PROJECT,
        region=REGION,
        serviceAttachment="gkebackend",
        body={
            "fingerprint": sa["fingerprint"],
            "consumerAcceptLists": [{"projectIdOrNum": tenant, "connectionLimit": 1}],
        },
    ).execute()
    assert connection_state(apigee) == "NEEDS_ATTENTION"

    compute.subnetworks().insert(
        project=PROJECT,
        region=REGION,
        body={
            "name": "psc-nat-2",
            "network": f"projects/{PROJECT}/global/networks/default",
            "ipCidrRange": "10.100.1.0/29",
            "purpose": "PRIVATE_SERVICE_CONNECT",
        },
    ).execute()
    sa = service_attachment(compute)
    compute.serviceAttachments().patch(
        project=PROJECT,
        region=REGION,
        serviceAttachment="gkebackend",
        body={"fingerprint": sa["fingerprint"], "natSubnets": sa["natSubnets"] + [sa["natSubnets"][0] + "-2"]},
    ).execute()
    assert connection_state(apigee) == "ACCEPTED"  # a NAT subnet added without interrupting traffic


# -- propagated connections ------------------------------------------------------------------------------


def test_propagated_connection_limit_defaults_to_250_and_caps_each_consumer_project(emu: EmulatorServer) -> None:
    """compute.v1 discovery, ServiceAttachment.propagatedConnectionLimit: "If unspecified, the
    default propagated connection limit is 250"; the limit applies to each consumer project
    (ACCEPT_AUTOMATIC). "About published services": one more NAT IP per spoke an endpoint is
    propagated to. connectedEndpoints[].natIps holds the endpoint's and its propagations' IPs."""
    compute = producer(emu, cidr="10.100.0.0/28")
    assert service_attachment(compute)["propagatedConnectionLimit"] == 250
    [added] = events(
        emu,
        {
            "event": "add_consumers",
            "service_attachment": SA,
            "project": "spoke-team",
            "count": 1,
            "propagated_connections": 3,
        },
    )
    assert added["nat"]["used"] == 4
    [entry] = service_attachment(compute)["connectedEndpoints"]
    assert entry["status"] == "ACCEPTED" and entry["propagatedConnectionCount"] == 3 and len(entry["natIps"]) == 4
    assert entry["consumerNetwork"].endswith("projects/spoke-team/global/networks/default")

    sa = service_attachment(compute)
    compute.serviceAttachments().patch(
        project=PROJECT,
        region=REGION,
        serviceAttachment="gkebackend",
        body={"fingerprint": sa["fingerprint"], "propagatedConnectionLimit": 2},
    ).execute()
    events(
        emu,
        {"event": "add_consumers", "service_attachment": SA, "project": "spoke-team", "propagated_connections": 3},
    )
    first, second = service_attachment(compute)["connectedEndpoints"]
    assert (first["propagatedConnectionCount"], len(first["natIps"])) == (2, 3)
    assert (second["propagatedConnectionCount"], len(second["natIps"])) == (0, 1)  # the project's 2 are used


def test_propagated_connection_limit_zero_is_kept(emu: EmulatorServer) -> None:
    """terraform-provider-google #22939 (magic-modules' send_propagated_connection_limit_if_zero):
    0 is a valid limit that must reach the API; then no connection is propagated."""
    compute = producer(emu, propagatedConnectionLimit=0)
    assert service_attachment(compute)["propagatedConnectionLimit"] == 0
    apigee = attach(emu)
    events(emu, {"event": "propagate", "service_attachment": SA, "consumer": EA, "count": 2})
    assert connection_state(apigee) == "ACCEPTED"
    [entry] = service_attachment(compute)["connectedEndpoints"]
    assert entry["propagatedConnectionCount"] == 0 and len(entry["natIps"]) == 1
    with pytest.raises(HttpError) as bad:
        compute.serviceAttachments().patch(
            project=PROJECT,
            region=REGION,
            serviceAttachment="gkebackend",
            body={"fingerprint": service_attachment(compute)["fingerprint"], "propagatedConnectionLimit": -1},
        ).execute()
    assert bad.value.resp.status == 400


# -- the service attachment changes under the endpoint attachment -------------------------------------


def test_service_attachment_deleted_connection_closed(emu: EmulatorServer) -> None:
    """Apigee's ConnectionState CLOSED: "The connection has been closed by the PSC producer and
    will not serve traffic going forward" (apigee.v1 discovery)."""
    compute = producer(emu)
    apigee = attach(emu)
    assert connection_state(apigee) == "ACCEPTED"
    [deleted] = events(emu, {"event": "delete_service_attachment", "service_attachment": SA})
    assert deleted["operation"].startswith("operation-")
    assert connection_state(apigee) == "CLOSED"
    with pytest.raises(HttpError) as gone:
        service_attachment(compute)
    assert gone.value.resp.status == 404
    assert json.loads(gone.value.content)["error"]["message"] == f"The resource '{SA}' was not found"


def test_service_attachment_suspended_connection_frozen_then_resumed(emu: EmulatorServer) -> None:
    """Apigee's ConnectionState FROZEN: "The connection has been frozen by the PSC producer and
    will not serve traffic" (apigee.v1 discovery). Compute's connectedEndpoints status enum has
    no FROZEN (compute.v1 discovery): the producer side keeps ACCEPTED."""
    compute = producer(emu)
    apigee = attach(emu)
    events(emu, {"event": "suspend_service_attachment", "service_attachment": SA})
    assert connection_state(apigee) == "FROZEN"
    assert emu.state()["compute"]["psc"]["suspended"] == [SA]
    assert [e["status"] for e in service_attachment(compute)["connectedEndpoints"]] == ["ACCEPTED"]
    events(emu, {"event": "resume_service_attachment", "service_attachment": SA})
    assert connection_state(apigee) == "ACCEPTED"


def test_lists_edited_by_another_team_follow_reconcile_connections(emu: EmulatorServer) -> None:
    """compute.v1 discovery, reconcileConnections: "If false, connection policy update will only
    affect existing PENDING PSC endpoints"; "If true ... an ACCEPTED PSC endpoint will be moved to
    REJECTED if its project is added to the reject list". Another team's patch changes the
    fingerprint: a stale one answers 412 "Supplied fingerprint does not match current metadata
    fingerprint." (REFERENCE.md, Compute)."""
    compute = producer(emu, connectionPreference="ACCEPT_MANUAL")
    apigee = discovery("apigee.v1", emu)
    tenant = apigee.organizations().get(name=f"organizations/{ORG}").execute()["apigeeProjectId"]
    accept = [{"projectIdOrNum": tenant, "connectionLimit": 5}]
    events(
        emu, {"event": "patch_service_attachment", "service_attachment": SA, "patch": {"consumerAcceptLists": accept}}
    )
    attach(emu)
    assert connection_state(apigee) == "ACCEPTED"
    stale = service_attachment(compute)["fingerprint"]

    events(
        emu,
        {
            "event": "patch_service_attachment",
            "service_attachment": SA,
            "patch": {"consumerAcceptLists": None, "consumerRejectLists": [tenant]},
        },
    )
    assert connection_state(apigee) == "ACCEPTED"  # reconcileConnections false: kept
    with pytest.raises(HttpError) as conflict:
        compute.serviceAttachments().patch(
            project=PROJECT, region=REGION, serviceAttachment="gkebackend", body={"fingerprint": stale}
        ).execute()
    assert conflict.value.resp.status == 412
    error = json.loads(conflict.value.content)["error"]
    assert error["message"] == "Supplied fingerprint does not match current metadata fingerprint."
    assert error["errors"][0]["reason"] == "conditionNotMet"

    events(
        emu, {"event": "patch_service_attachment", "service_attachment": SA, "patch": {"reconcileConnections": True}}
    )
    assert connection_state(apigee) == "REJECTED"
    assert [e["status"] for e in service_attachment(compute)["connectedEndpoints"]] == ["REJECTED"]


# -- the organization lock held by another tool ------------------------------------------------------------


def test_org_lock_held_by_another_tool_names_its_operation_and_lists_it(emu: EmulatorServer) -> None:
    """Apigee's own words, quoted in GoogleCloudPlatform/magic-modules PR #18649: "Error 400: the
    resource is locked by another operation where endpoint attachment swp-euw2 is currently being
    created for organization <org> by operation: 1c83301f-195f-4d20-b6f4-7d5c8f6b66e8"; the
    operation's metadata state is IN_PROGRESS and ``done`` is omitted while false."""
    producer(emu)
    [held] = events(
        emu,
        {
            "event": "hold_org_lock",
            "org": ORG,
            "seconds": 60,
            "operation_type": "INSERT",
            "target": f"organizations/{ORG}/endpointAttachments/swp-euw2",
        },
    )
    uuid = held["operation"].rsplit("/", 1)[-1]
    apigee = discovery("apigee.v1", emu)
    with pytest.raises(HttpError) as locked:
        apigee.organizations().endpointAttachments().create(
            parent=f"organizations/{ORG}",
            endpointAttachmentId="gkebackend",
            body={"location": REGION, "serviceAttachment": SA},
        ).execute()
    assert locked.value.resp.status == 400
    assert json.loads(locked.value.content)["error"]["message"] == (
        "the resource is locked by another operation where endpoint attachment swp-euw2 is currently "
        f"being created for organization {ORG} by operation: {uuid}"
    )
    listed = apigee.organizations().operations().list(name=f"organizations/{ORG}").execute()["operations"]
    [running] = [op for op in listed if op["name"] == held["operation"]]
    assert "done" not in running and running["metadata"]["state"] == "IN_PROGRESS"
    assert running["metadata"]["targetResourceName"] == f"organizations/{ORG}/endpointAttachments/swp-euw2"

    [released] = events(emu, {"event": "release_org_lock", "org": ORG})
    assert released["released"] == 1
    attach(emu)
    assert apigee.organizations().operations().get(name=held["operation"]).execute()["done"] is True


def test_org_lock_default_hold_is_an_environment_update(emu: EmulatorServer) -> None:
    """The same words for an update of another resource (an environment, the default target)."""
    [held] = emu.events({"event": "hold_org_lock", "org": ORG, "seconds": 30})
    apigee = discovery("apigee.v1", emu)
    with pytest.raises(HttpError) as locked:
        apigee.organizations().endpointAttachments().create(
            parent=f"organizations/{ORG}",
            endpointAttachmentId="gkebackend",
            body={"location": REGION, "serviceAttachment": SA},
        ).execute()
    assert json.loads(locked.value.content)["error"]["message"].startswith(
        "the resource is locked by another operation where environment prod is currently being updated "
        f"for organization {ORG} by operation: {held['operation'].rsplit('/', 1)[-1]}"
    )


def test_events_bad_input_answers_400(emu: EmulatorServer) -> None:
    for body in (
        {"event": "nope"},
        {"event": "exhaust_nat", "service_attachment": "gkebackend"},
        {"event": "hold_org_lock", "org": ORG, "seconds": -1},
        {"event": "add_consumers", "service_attachment": SA, "count": -2},
    ):
        resp = requests.post(emu.url + "_emulator/events", json=body, timeout=10)
        assert resp.status_code == 400, body
    resp = requests.post(emu.url + "_emulator/events", json={"event": "free_nat", "service_attachment": SA}, timeout=10)
    assert resp.status_code == 404  # no such service attachment


# -- gcloud ---------------------------------------------------------------------------------------------------

GCLOUD = shutil.which("gcloud")


def gcloud(server: EmulatorServer, home: Path, *args: str) -> Any:
    """Run gcloud against ``server`` (endpoint overrides, a token file, a throwaway config); its JSON."""
    env = gcloud_environment(server, home, PROJECT)
    proc = subprocess.run(
        [str(GCLOUD), *args, "--format=json"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout or "null")


@pytest.mark.skipif(GCLOUD is None, reason="gcloud (google-cloud-cli) is not installed")
def test_gcloud_propagated_connection_limit_zero_and_an_exhausted_nat(emu: EmulatorServer, tmp_path: Path) -> None:
    """gcloud's ``--propagated-connection-limit`` sends 0 as given (the compute.v1 discovery
    default of 250 applies only when it is unspecified); ``describe`` then shows the
    NEEDS_ATTENTION connection of an exhausted NAT subnet beside the other team's ACCEPTED ones,
    each with its ``natIps`` ("About published services", NAT subnet sizing and monitoring)."""
    compute = producer(emu, cidr="10.100.0.0/29")
    compute.serviceAttachments().delete(project=PROJECT, region=REGION, serviceAttachment="gkebackend").execute()
    gcloud(
        emu,
        tmp_path,
        "compute",
        "service-attachments",
        "create",
        "gkebackend",
        f"--region={REGION}",
        "--producer-forwarding-rule=fr-ilb",
        "--connection-preference=ACCEPT_AUTOMATIC",
        "--nat-subnets=psc-nat",
        "--propagated-connection-limit=0",
    )
    events(emu, {"event": "exhaust_nat", "service_attachment": SA})
    attach(emu)
    described = gcloud(emu, tmp_path, "compute", "service-attachments", "describe", "gkebackend", f"--region={REGION}")
    assert described["propagatedConnectionLimit"] == 0
    statuses = [(e["status"], len(e.get("natIps", []))) for e in described["connectedEndpoints"]]
    assert statuses == [("NEEDS_ATTENTION", 0)] + [("ACCEPTED", 1)] * 4
