"""Service attachment connections as Compute manages them: reconciliation, PATCH rules, 409s.

Backed by Google's documented behaviour: a change to the consumer accept/reject lists affects
only new or PENDING connections unless ``reconcileConnections`` is true (the field's
description in compute.v1.json); switching to ACCEPT_AUTOMATIC while lists remain answers
400 "Incorrect combination of connection preference with accept and/or reject list"
(terraform-provider-google #17153); a change to a resource while another operation runs on
it answers 409 ``operationInProgress`` (Terraform retries exactly that).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from emulator_helpers import ORG, PROJECT, REGION, SA_PATH, Api, FakeClock, compute_path, producer

from apigee_psc.emulator import EmulatorServer, World
from apigee_psc.emulator import errors as e

EA_BODY = {"location": REGION, "serviceAttachment": SA_PATH}


def _patch(world: World, **changes: Any) -> None:
    sa = world.compute.lookup(SA_PATH)
    world.compute.patch("serviceAttachments", PROJECT, REGION, "gkebackend", {"fingerprint": sa.fingerprint, **changes})


def _state(world: World) -> str:
    return world.apigee.connection_state(world.apigee.get_endpoint_attachment(ORG, "gkebackend"))


def _manual_with_ea(world: World, *, reject: bool) -> str:
    """A manual service attachment whose Apigee connection is REJECTED (or PENDING)."""
    world.config.op_seconds = 0
    tenant = str(world.apigee.org_dict(ORG)["apigeeProjectId"])
    producer(world, preference="ACCEPT_MANUAL", accept=[{"projectIdOrNum": "someone-else", "connectionLimit": 5}])
    if reject:
        _patch(world, consumerRejectLists=[tenant])
    world.apigee.create_endpoint_attachment(ORG, "gkebackend", dict(EA_BODY))
    return tenant


def test_rejected_connection_stays_rejected_after_accept_list_change(world: World) -> None:
    tenant = _manual_with_ea(world, reject=True)
    # Nobody reads the status between the creation and the change: it is decided all the same.
    _patch(world, consumerRejectLists=None, consumerAcceptLists=[{"projectIdOrNum": tenant, "connectionLimit": 10}])
    assert _state(world) == "REJECTED"
    sa = world.compute.render(world.compute.lookup(SA_PATH), "http://x/")
    assert sa["connectedEndpoints"][0]["status"] == "REJECTED"
    assert sa["reconcileConnections"] is False


def test_rejected_connection_accepted_when_reconcile_turned_on(world: World) -> None:
    tenant = _manual_with_ea(world, reject=True)
    _patch(world, consumerRejectLists=None, consumerAcceptLists=[{"projectIdOrNum": tenant, "connectionLimit": 10}])
    assert _state(world) == "REJECTED"
    _patch(world, reconcileConnections=True)
    assert _state(world) == "ACCEPTED"


def test_rejected_connection_accepted_with_reconcile_in_same_patch(world: World) -> None:
    tenant = _manual_with_ea(world, reject=True)
    _patch(
        world,
        reconcileConnections=True,
        consumerRejectLists=[],
        consumerAcceptLists=[{"projectIdOrNum": tenant, "connectionLimit": 10}],
    )
    assert _state(world) == "ACCEPTED"


def test_accepted_connection_stays_accepted_when_project_leaves_list(world: World) -> None:
    tenant = _manual_with_ea(world, reject=False)
    _patch(world, consumerAcceptLists=[{"projectIdOrNum": tenant, "connectionLimit": 10}])
    assert _state(world) == "ACCEPTED"
    _patch(world, consumerAcceptLists=[{"projectIdOrNum": "someone-else", "connectionLimit": 1}])
    assert _state(world) == "ACCEPTED"
    _patch(world, reconcileConnections=True)
    assert _state(world) == "PENDING"


def test_pending_connection_follows_accept_list(world: World) -> None:
    tenant = _manual_with_ea(world, reject=False)
    assert _state(world) == "PENDING"
    _patch(world, consumerAcceptLists=[{"projectIdOrNum": tenant, "connectionLimit": 10}])
    assert _state(world) == "ACCEPTED"


def test_recreated_endpoint_attachment_is_a_new_connection(world: World) -> None:
    tenant = _manual_with_ea(world, reject=True)
    _patch(world, consumerRejectLists=None, consumerAcceptLists=[{"projectIdOrNum": tenant, "connectionLimit": 10}])
    assert _state(world) == "REJECTED"
    world.apigee.delete_endpoint_attachment(ORG, "gkebackend")
    world.apigee.create_endpoint_attachment(ORG, "gkebackend", dict(EA_BODY))
    assert _state(world) == "ACCEPTED"


def test_reconcile_connections_must_be_boolean(world: World) -> None:
    world.config.op_seconds = 0
    producer(world, preference="ACCEPT_MANUAL", accept=[])
    with pytest.raises(e.InvalidArgument, match="reconcileConnections"):
        _patch(world, reconcileConnections="yes")


def test_patch_automatic_with_accept_list_incorrect_combination(world: World) -> None:
    world.config.op_seconds = 0
    producer(world, preference="ACCEPT_MANUAL", accept=[{"projectIdOrNum": "p1", "connectionLimit": 1}])
    # The lists left in place by a PATCH that only switches the preference count too.
    with pytest.raises(e.InvalidArgument, match=r"^Incorrect combination of connection preference"):
        _patch(world, connectionPreference="ACCEPT_AUTOMATIC")
    with pytest.raises(e.InvalidArgument, match=r"^Incorrect combination of connection preference"):
        _patch(
            world,
            connectionPreference="ACCEPT_AUTOMATIC",
            consumerAcceptLists=[{"projectIdOrNum": "p2", "connectionLimit": 1}],
        )
    _patch(world, connectionPreference="ACCEPT_AUTOMATIC", consumerAcceptLists=[])
    fields = world.compute.lookup(SA_PATH).fields
    assert fields["connectionPreference"] == "ACCEPT_AUTOMATIC"
    assert "consumerAcceptLists" not in fields


def test_mutation_while_operation_runs_operation_in_progress(world: World, clock: FakeClock) -> None:
    producer(world)  # 1 s operations: the service attachment's insert is still RUNNING
    sa = world.compute.lookup(SA_PATH)
    with pytest.raises(e.OperationInProgress) as info:
        world.compute.patch("serviceAttachments", PROJECT, REGION, "gkebackend", {"fingerprint": sa.fingerprint})
    assert info.value.http_status == 409
    assert info.value.reason == "operationInProgress"
    with pytest.raises(e.OperationInProgress):
        world.compute.delete("serviceAttachments", PROJECT, REGION, "gkebackend")
    # Another resource is not locked by it.
    world.compute.insert("firewalls", PROJECT, None, {"name": "fw", "allowed": [{"IPProtocol": "tcp"}]})
    clock.advance(1)
    world.compute.patch(
        "serviceAttachments", PROJECT, REGION, "gkebackend", {"fingerprint": sa.fingerprint, "description": "d"}
    )


# -- over HTTP ---------------------------------------------------------------------------------------------


def _http_producer(emu: EmulatorServer) -> None:
    producer(emu.world, preference="ACCEPT_MANUAL", accept=[{"projectIdOrNum": "someone-else", "connectionLimit": 5}])


def test_http_rejected_stays_rejected_and_reconcile_is_returned(api: Api, emu: EmulatorServer) -> None:
    _http_producer(emu)
    path = compute_path("serviceAttachments", "gkebackend")
    tenant = api.ok("GET", f"v1/organizations/{ORG}")["apigeeProjectId"]
    sa = api.ok("GET", path)
    assert sa["reconcileConnections"] is False
    api.ok("PATCH", path, {"fingerprint": sa["fingerprint"], "consumerRejectLists": [tenant]})
    api.ok("POST", f"v1/organizations/{ORG}/endpointAttachments", EA_BODY, endpointAttachmentId="gkebackend")
    sa = api.ok("GET", path)
    api.ok(
        "PATCH",
        path,
        {
            "fingerprint": sa["fingerprint"],
            "consumerRejectLists": [],
            "consumerAcceptLists": [{"projectIdOrNum": tenant, "connectionLimit": 10}],
        },
    )
    ea = api.ok("GET", f"v1/organizations/{ORG}/endpointAttachments/gkebackend")
    assert ea["connectionState"] == "REJECTED"
    sa = api.ok("GET", path)
    assert sa["connectedEndpoints"][0]["status"] == "REJECTED"
    api.ok("PATCH", path, {"fingerprint": sa["fingerprint"], "reconcileConnections": True})
    assert api.ok("GET", path)["reconcileConnections"] is True
    ea = api.ok("GET", f"v1/organizations/{ORG}/endpointAttachments/gkebackend")
    assert ea["connectionState"] == "ACCEPTED"


def test_http_incorrect_combination_400(api: Api, emu: EmulatorServer) -> None:
    _http_producer(emu)
    path = compute_path("serviceAttachments", "gkebackend")
    sa = api.ok("GET", path)
    resp = api.patch(
        path,
        {
            "fingerprint": sa["fingerprint"],
            "connectionPreference": "ACCEPT_AUTOMATIC",
            "consumerAcceptLists": [{"projectIdOrNum": "x", "connectionLimit": 1}],
        },
    )
    assert resp.status_code == 400
    assert resp.json()["error"]["message"] == (
        "Incorrect combination of connection preference with accept and/or reject list"
    )
    stale = api.patch(path, {"fingerprint": "AAAAAAAAAAA=", "description": "x"})
    assert stale.status_code == 412
    assert stale.json()["error"]["errors"][0]["reason"] == "conditionNotMet"


def test_http_patch_during_running_operation_409(api: Api, emu: EmulatorServer) -> None:
    _http_producer(emu)  # with the fixture's 0 s operations: all DONE
    emu.configure(op_seconds=30)
    path = compute_path("serviceAttachments", "gkebackend")
    sa = api.ok("GET", path)
    op = api.ok("PATCH", path, {"fingerprint": sa["fingerprint"], "description": "one"})
    assert op["status"] in ("PENDING", "RUNNING")
    sa = api.ok("GET", path)
    resp = api.patch(path, {"fingerprint": sa["fingerprint"], "description": "two"})
    assert resp.status_code == 409
    error = resp.json()["error"]
    assert error["code"] == 409
    assert error["errors"][0]["reason"] == "operationInProgress"
    assert op["name"] in error["message"]


def test_http_seeded_operation_in_progress_fault_then_success(api: Api, emu: EmulatorServer) -> None:
    _http_producer(emu)
    path = compute_path("serviceAttachments", "gkebackend")
    # The control call documented in docs/emulator.md for a client's 409 retry test.
    fault = {
        "rules": [
            {
                "api": "compute",
                "method": "PATCH",
                "path": "/serviceAttachments/",
                "status": 409,
                "reason": "operationInProgress",
                "count": 1,
            }
        ]
    }
    resp = api.session.post(emu.url + "_emulator/faults", data=json.dumps(fault), timeout=5)
    assert resp.status_code == 200, resp.text
    sa = api.ok("GET", path)
    first = api.patch(path, {"fingerprint": sa["fingerprint"], "description": "d"})
    assert first.status_code == 409
    assert first.json()["error"]["errors"][0]["reason"] == "operationInProgress"
    assert api.ok("GET", path)["fingerprint"] == sa["fingerprint"]  # nothing was applied
    second = api.patch(path, {"fingerprint": sa["fingerprint"], "description": "d"})
    assert second.status_code == 200
    log = emu.requests(method="PATCH")
    assert [r["status"] for r in log] == [409, 200]
    assert log[0]["fault"] == "status-409"


def test_discovery_documents_reconcile_connections_default_false() -> None:
    import googleapiclient

    doc = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents" / "compute.v1.json"
    prop = json.loads(doc.read_text())["schemas"]["ServiceAttachment"]["properties"]["reconcileConnections"]
    assert prop["type"] == "boolean"
    assert "defaults to false" in prop["description"]
