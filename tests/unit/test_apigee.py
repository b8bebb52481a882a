"""ApigeeClient against scripted answers built from the seed's own payloads."""

from __future__ import annotations

import json
from typing import Any

import pytest
import responses
from conftest import (
    API,
    OP_NAME,
    ORG_LOCK,
    SA,
    TENANT,
    FakeClock,
    attachment,
    dns_zone,
    operation,
    organization,
    rpc_error,
)
from responses import matchers

from apigee_psc import errors
from apigee_psc.apigee import ApigeeClient
from apigee_psc.models import ConnectionState, DnsZone, EndpointAttachment, Operation, Organization, State
from apigee_psc.waiters import Schedule, WaitProgress

EA_URL = f"{API}/endpointAttachments"
ZONE_URL = f"{API}/dnsZones"
OP_URL = f"https://apigee.example.test/v1/{OP_NAME}"


# -- organization ------------------------------------------------------------------------------------


def test_get_organization_parses_fields(rsps: responses.RequestsMock, client: ApigeeClient) -> None:
    rsps.get(API, json=organization())
    org = client.get_organization()
    assert org == Organization(
        name="my-organization",
        apigee_project_id=TENANT,
        disable_vpc_peering=True,
        project_id="my-organization",
        runtime_type="CLOUD",
        state=State.ACTIVE,
    )
    assert client.apigee_project_id() == TENANT
    assert len(rsps.calls) == 1  # remembered


def test_apigee_project_id_read_once(rsps: responses.RequestsMock, client: ApigeeClient) -> None:
    rsps.get(API, json=organization())
    assert client.apigee_project_id() == TENANT
    assert client.apigee_project_id() == TENANT
    assert len(rsps.calls) == 1


def test_client_invalid_organization_refused() -> None:
    with pytest.raises(errors.ValidationError) as info:
        ApigeeClient("My Org", endpoint="https://apigee.example.test/")
    assert info.value.field == "organization"


# -- endpoint attachments --------------------------------------------------------------------------------


def test_endpoint_attachments_create_posts_seed_request_and_returns_operation(
    rsps: responses.RequestsMock, client: ApigeeClient
) -> None:
    rsps.post(
        EA_URL,
        json=operation(),
        match=[
            matchers.query_param_matcher({"endpointAttachmentId": "gkebackend"}),
            matchers.json_params_matcher({"location": "us-west1", "serviceAttachment": SA}),
        ],
    )
    op = client.endpoint_attachments.create("gkebackend", location="us-west1", service_attachment=SA)
    assert op.name == OP_NAME
    assert not op.done
    assert op.operation_type == "INSERT"
    assert op.target == "organizations/my-organization/endpointAttachments/gkebackend"


def test_endpoint_attachments_create_full_url_service_attachment_sent_relative(
    rsps: responses.RequestsMock, client: ApigeeClient
) -> None:
    rsps.post(
        EA_URL,
        json=operation(),
        match=[matchers.json_params_matcher({"location": "us-west1", "serviceAttachment": SA})],
    )
    client.endpoint_attachments.create(
        "gkebackend", location="us-west1", service_attachment=f"https://compute.googleapis.com/compute/v1/{SA}"
    )


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "Bad_Name", "location": "us-west1", "service_attachment": SA}, "endpoint_attachment"),
        ({"name": "a", "location": "us-west1", "service_attachment": SA}, "endpoint_attachment"),
        ({"name": "gkebackend", "location": "us-west1-a", "service_attachment": SA}, "location"),
        ({"name": "gkebackend", "location": "us-west1", "service_attachment": "gkebackend"}, "service_attachment"),
    ],
)
def test_endpoint_attachments_create_invalid_input_refused_before_request(
    rsps: responses.RequestsMock, client: ApigeeClient, kwargs: dict[str, Any], field: str
) -> None:
    name = kwargs.pop("name")
    with pytest.raises(errors.ValidationError) as info:
        client.endpoint_attachments.create(name, **kwargs)
    assert info.value.field == field
    assert len(rsps.calls) == 0


def test_endpoint_attachments_create_already_exists_raised(rsps: responses.RequestsMock, client: ApigeeClient) -> None:
    rsps.post(EA_URL, status=409, json=rpc_error(409, "ALREADY_EXISTS", "endpoint attachment already exists"))
    with pytest.raises(errors.AlreadyExists) as info:
        client.endpoint_attachments.create("gkebackend", location="us-west1", service_attachment=SA)
    assert info.value.resource_name == "organizations/my-organization/endpointAttachments/gkebackend"
    assert len(rsps.calls) == 1


def test_endpoint_attachments_create_waits_out_org_lock(
    rsps: responses.RequestsMock, client: ApigeeClient, clock: FakeClock
) -> None:
    rsps.post(EA_URL, status=400, json=ORG_LOCK)
    rsps.post(EA_URL, status=400, json=ORG_LOCK)
    rsps.post(EA_URL, json=operation())
    assert client.endpoint_attachments.create("gkebackend", location="us-west1", service_attachment=SA).name == OP_NAME
    assert len(rsps.calls) == 3
    assert len(clock.sleeps) == 2


def test_endpoint_attachments_get_parses_attachment(rsps: responses.RequestsMock, client: ApigeeClient) -> None:
    rsps.get(f"{EA_URL}/gkebackend", json=attachment())
    ea = client.endpoint_attachments.get("gkebackend")
    assert ea == EndpointAttachment(
        name="gkebackend",
        location="us-west1",
        service_attachment=SA,
        resource_name="organizations/my-organization/endpointAttachments/gkebackend",
        host="7.0.3.4",
        state=State.ACTIVE,
        connection_state=ConnectionState.ACCEPTED,
    )
    assert ea.ready


def test_endpoint_attachments_get_full_name_accepted(rsps: responses.RequestsMock, client: ApigeeClient) -> None:
    rsps.get(f"{EA_URL}/gkebackend", json=attachment())
    assert (
        client.endpoint_attachments.get("organizations/my-organization/endpointAttachments/gkebackend").host
        == "7.0.3.4"
    )


def test_endpoint_attachments_get_unknown_state_kept_as_string(
    rsps: responses.RequestsMock, client: ApigeeClient
) -> None:
    rsps.get(f"{EA_URL}/gkebackend", json=attachment(state="MIGRATING", connection_state="SOMETHING_NEW"))
    ea = client.endpoint_attachments.get("gkebackend")
    assert ea.state == "MIGRATING" and ea.connection_state == "SOMETHING_NEW"
    assert not ea.ready


def test_endpoint_attachments_get_missing_raises_not_found(rsps: responses.RequestsMock, client: ApigeeClient) -> None:
    rsps.get(f"{EA_URL}/gkebackend", status=404, json=rpc_error(404, "NOT_FOUND", "not found"))
    with pytest.raises(errors.NotFound):
        client.endpoint_attachments.get("gkebackend")
    assert len(rsps.calls) == 1


@pytest.mark.parametrize("method", ["get", "delete", "wait_until_ready", "wait_until_deleted"])
def test_endpoint_attachments_bad_name_refused_before_request(
    rsps: responses.RequestsMock, client: ApigeeClient, method: str
) -> None:
    with pytest.raises(errors.ValidationError):
        getattr(client.endpoint_attachments, method)("Bad_Name")
    assert len(rsps.calls) == 0


def test_endpoint_attachments_list_follows_every_page(rsps: responses.RequestsMock, client: ApigeeClient) -> None:
    rsps.get(
        EA_URL,
        json={"endpointAttachments": [attachment("ea-1"), attachment("ea-2")], "nextPageToken": "p2"},
        match=[matchers.query_param_matcher({"pageSize": "2"})],
    )
    rsps.get(
        EA_URL,
        json={"endpointAttachments": [attachment("ea-3"), attachment("ea-4")], "nextPageToken": "p3"},
        match=[matchers.query_param_matcher({"pageSize": "2", "pageToken": "p2"})],
    )
    rsps.get(
        EA_URL,
        json={"endpointAttachments": [attachment("ea-5")]},
        match=[matchers.query_param_matcher({"pageSize": "2", "pageToken": "p3"})],
    )
    listed = list(client.endpoint_attachments.list(page_size=2))
    assert [ea.name for ea in listed] == ["ea-1", "ea-2", "ea-3", "ea-4", "ea-5"]
    assert len(rsps.calls) == 3


def test_endpoint_attachments_list_empty_organization(rsps: responses.RequestsMock, client: ApigeeClient) -> None:
    rsps.get(EA_URL, json={})
    assert list(client.endpoint_attachments.list()) == []


def test_endpoint_attachments_find_by_service_attachment(rsps: responses.RequestsMock, client: ApigeeClient) -> None:
    rsps.get(EA_URL, json={"endpointAttachments": [attachment("other"), attachment("gkebackend")]})
    found = client.endpoint_attachments.find_by_service_attachment(f"https://www.googleapis.com/compute/v1/{SA}")
    assert found is not None and found.name == "gkebackend"
    assert client.endpoint_attachments.find_by_service_attachment(SA.replace("gkebackend", "nothere")) is None


def test_endpoint_attachments_delete_returns_operation(rsps: responses.RequestsMock, client: ApigeeClient) -> None:
    body = operation()
    body["metadata"]["operationType"] = "DELETE"
    rsps.delete(f"{EA_URL}/gkebackend", json=body)
    op = client.endpoint_attachments.delete("gkebackend")
    assert op.operation_type == "DELETE" and op.name == OP_NAME


def test_endpoint_attachments_delete_waits_out_org_lock(rsps: responses.RequestsMock, client: ApigeeClient) -> None:
    rsps.delete(f"{EA_URL}/gkebackend", status=400, json=ORG_LOCK)
    rsps.delete(f"{EA_URL}/gkebackend", json=operation())
    client.endpoint_attachments.delete("gkebackend")
    assert len(rsps.calls) == 2


# -- operations ---------------------------------------------------------------------------------------------


def test_operations_get_by_name_and_by_id(rsps: responses.RequestsMock, client: ApigeeClient) -> None:
    rsps.get(OP_URL, json=operation(done=True))
    by_name = client.operations.get(OP_NAME)
    by_id = client.operations.get("6e249895-e78e-48f0-a28f-7140e15e1676")
    assert by_name == by_id
    assert by_name.done and by_name.response is not None and by_name.response["host"] == "7.0.3.4"
    assert by_name.state == "DONE"


def test_operations_list_every_page(rsps: responses.RequestsMock, client: ApigeeClient) -> None:
    rsps.get(
        f"{API}/operations",
        json={"operations": [operation()], "nextPageToken": "t"},
        match=[matchers.query_param_matcher({"pageSize": "1000"})],
    )
    rsps.get(
        f"{API}/operations",
        json={"operations": [operation(done=True)]},
        match=[matchers.query_param_matcher({"pageSize": "1000", "pageToken": "t"})],
    )
    assert [op.done for op in client.operations.list()] == [False, True]


def test_operations_wait_done_in_hand_no_request(rsps: responses.RequestsMock, client: ApigeeClient) -> None:
    done = Operation.from_api(operation(done=True))
    assert client.operations.wait(done) is done
    assert len(rsps.calls) == 0


def test_operations_wait_create_then_done_returns_response(
    rsps: responses.RequestsMock, client: ApigeeClient, clock: FakeClock
) -> None:
    rsps.post(EA_URL, json=operation())
    rsps.get(OP_URL, json=operation())
    rsps.get(OP_URL, json=operation())
    rsps.get(OP_URL, json=operation(done=True))
    op = client.endpoint_attachments.create("gkebackend", location="us-west1", service_attachment=SA)
    done = client.operations.wait(op)
    assert done.done and done.error is None
    assert done.response is not None and done.response["host"] == "7.0.3.4"
    assert len(rsps.calls) == 4  # POST + 3 GETs: the POST's answer was judged without a request
    assert clock.elapsed == 15  # DEFAULT_SCHEDULE: 0 (in hand), 5, 10, 15 (polls at most 5 s apart in the first 30 s)


def test_operations_wait_failed_raises_operation_failed(rsps: responses.RequestsMock, client: ApigeeClient) -> None:
    rsps.get(OP_URL, json=operation(done=True, error={"code": 9, "message": "service attachment not found"}))
    with pytest.raises(errors.OperationFailed) as info:
        client.operations.wait(Operation.from_api(operation()))
    err = info.value
    assert err.code == 9
    assert err.message == "service attachment not found"
    assert err.operation == OP_NAME
    assert OP_NAME in str(err) and "code 9" in str(err)


def test_operations_wait_timeout_names_operation_and_resumes(
    rsps: responses.RequestsMock, client: ApigeeClient, clock: FakeClock
) -> None:
    rsps.get(OP_URL, json=operation())
    with pytest.raises(errors.WaitTimeout) as info:
        client.operations.wait(Operation.from_api(operation()), timeout=60)
    err = info.value
    assert err.operation == OP_NAME
    assert err.last_state == "IN_PROGRESS"
    assert err.elapsed == 60
    assert f"operations.wait({OP_NAME!r})" in str(err)
    # A later run resumes from the name alone: its first look is a request.
    rsps.replace(responses.GET, OP_URL, json=operation(done=True))
    before = len(rsps.calls)
    resumed = client.operations.wait(err.operation or "")
    assert resumed.done
    assert len(rsps.calls) == before + 1


def test_operations_wait_not_found_right_after_create_tolerated(
    rsps: responses.RequestsMock, client: ApigeeClient
) -> None:
    rsps.get(OP_URL, status=404, json=rpc_error(404, "NOT_FOUND", "no such operation"))
    rsps.get(OP_URL, json=operation(done=True))
    assert client.operations.wait(OP_NAME).done


def test_operations_wait_not_found_for_long_raised(
    rsps: responses.RequestsMock, client: ApigeeClient, clock: FakeClock
) -> None:
    rsps.get(OP_URL, status=404, json=rpc_error(404, "NOT_FOUND", "no such operation"))
    with pytest.raises(errors.NotFound):
        client.operations.wait(OP_NAME)
    assert 30 < clock.elapsed <= 45


def test_operations_wait_poll_retries_transient_errors_below(
    rsps: responses.RequestsMock, client: ApigeeClient
) -> None:
    rsps.get(OP_URL, status=503, json=rpc_error(503, "UNAVAILABLE", "x"))
    rsps.get(OP_URL, status=429, json=rpc_error(429, "RESOURCE_EXHAUSTED", "x"))
    rsps.get(OP_URL, json=operation(done=True))
    assert client.operations.wait(OP_NAME).done
    assert len(rsps.calls) == 3


def test_operations_wait_custom_schedule_and_progress(
    rsps: responses.RequestsMock, client: ApigeeClient, clock: FakeClock
) -> None:
    reports: list[WaitProgress] = []
    rsps.get(OP_URL, json=operation())
    rsps.get(OP_URL, json=operation(done=True))
    client.operations.wait(Operation.from_api(operation()), schedule=Schedule.fixed(3), progress=reports.append)
    assert clock.sleeps == [3, 3]
    assert [r.state for r in reports] == ["IN_PROGRESS", "IN_PROGRESS", "DONE"]


# -- wait_until_ready -------------------------------------------------------------------------------------------


def test_wait_until_ready_active_accepted_returns(rsps: responses.RequestsMock, client: ApigeeClient) -> None:
    rsps.get(f"{EA_URL}/gkebackend", json=attachment(state="CREATING", connection_state=None))
    rsps.get(f"{EA_URL}/gkebackend", json=attachment(state="ACTIVE", connection_state="PENDING"))
    rsps.get(f"{EA_URL}/gkebackend", json=attachment())
    ea = client.endpoint_attachments.wait_until_ready("gkebackend")
    assert ea.ready and ea.host == "7.0.3.4"
    assert len(rsps.calls) == 3


@pytest.mark.parametrize("state", ["REJECTED", "CLOSED", "FROZEN"])
def test_wait_until_ready_terminal_state_raises_at_once_with_diagnosis(
    rsps: responses.RequestsMock, client: ApigeeClient, clock: FakeClock, state: str
) -> None:
    rsps.get(f"{EA_URL}/gkebackend", json=attachment(connection_state=state))
    rsps.get(API, json=organization())
    with pytest.raises(errors.ConnectionNotAccepted) as info:
        client.endpoint_attachments.wait_until_ready("gkebackend")
    err = info.value
    assert clock.sleeps == []
    assert err.diagnosis.state == state and err.diagnosis.terminal
    assert TENANT in str(err) and SA in str(err)
    assert isinstance(err.attachment, EndpointAttachment) and err.attachment.connection_state == state
    assert [c.request.method for c in rsps.calls] == ["GET", "GET"]


def test_wait_until_ready_rejected_names_fix(rsps: responses.RequestsMock, client: ApigeeClient) -> None:
    rsps.get(f"{EA_URL}/gkebackend", json=attachment(connection_state="REJECTED"))
    rsps.get(API, json=organization())
    with pytest.raises(errors.ConnectionNotAccepted) as info:
        client.endpoint_attachments.wait_until_ready("gkebackend")
    fix = info.value.diagnosis.fix or ""
    assert fix.startswith(f"remove '{TENANT}' from the reject list of {SA}, add it to the accept list")


@pytest.mark.parametrize("state", ["PENDING", "NEEDS_ATTENTION"])
def test_wait_until_ready_waitable_state_until_timeout_raises_not_accepted(
    rsps: responses.RequestsMock, client: ApigeeClient, clock: FakeClock, state: str
) -> None:
    rsps.get(f"{EA_URL}/gkebackend", json=attachment(connection_state=state))
    rsps.get(API, json=organization())
    with pytest.raises(errors.ConnectionNotAccepted) as info:
        client.endpoint_attachments.wait_until_ready("gkebackend", timeout=120)
    err = info.value
    assert clock.elapsed == 120
    assert not err.diagnosis.terminal
    if state == "PENDING":
        assert err.diagnosis.fix is not None and f"add '{TENANT}' to the accept list of {SA}" in err.diagnosis.fix
    assert sum(1 for c in rsps.calls if c.request.url == API) == 1


def test_wait_until_ready_creating_until_timeout_raises_wait_timeout(
    rsps: responses.RequestsMock, client: ApigeeClient, clock: FakeClock
) -> None:
    rsps.get(f"{EA_URL}/gkebackend", json=attachment(state="CREATING", connection_state="UNAVAILABLE"))
    rsps.get(API, json=organization())
    with pytest.raises(errors.WaitTimeout) as info:
        client.endpoint_attachments.wait_until_ready("gkebackend", timeout=90)
    err = info.value
    assert type(err) is errors.WaitTimeout  # not ConnectionNotAccepted
    assert err.last_state == "CREATING/UNAVAILABLE"
    assert err.elapsed == 90
    assert "gkebackend" in err.awaited


def test_wait_until_ready_organization_unreadable_still_diagnoses(
    rsps: responses.RequestsMock, client: ApigeeClient
) -> None:
    rsps.get(f"{EA_URL}/gkebackend", json=attachment(connection_state="REJECTED"))
    rsps.get(API, status=403, json=rpc_error(403, "PERMISSION_DENIED", "no"))
    with pytest.raises(errors.ConnectionNotAccepted) as info:
        client.endpoint_attachments.wait_until_ready("gkebackend")
    assert "apigeeProjectId" in str(info.value)


def test_wait_until_ready_deleting_fails(rsps: responses.RequestsMock, client: ApigeeClient) -> None:
    rsps.get(f"{EA_URL}/gkebackend", json=attachment(state="DELETING", connection_state="ACCEPTED"))
    with pytest.raises(errors.ConnectionNotAccepted, match="being deleted"):
        client.endpoint_attachments.wait_until_ready("gkebackend")


def test_wait_until_ready_not_found_briefly_tolerated(rsps: responses.RequestsMock, client: ApigeeClient) -> None:
    rsps.get(f"{EA_URL}/gkebackend", status=404, json=rpc_error(404, "NOT_FOUND", "x"))
    rsps.get(f"{EA_URL}/gkebackend", json=attachment())
    assert client.endpoint_attachments.wait_until_ready("gkebackend").ready


def test_endpoint_attachments_diagnose_names_tenant(rsps: responses.RequestsMock, client: ApigeeClient) -> None:
    rsps.get(f"{EA_URL}/gkebackend", json=attachment(connection_state="PENDING"))
    rsps.get(API, json=organization())
    diagnosis = client.endpoint_attachments.diagnose("gkebackend")
    assert diagnosis.fix is not None and TENANT in diagnosis.fix and SA in diagnosis.fix


# -- wait_until_deleted -----------------------------------------------------------------------------------------


def test_wait_until_deleted_404_is_success(
    rsps: responses.RequestsMock, client: ApigeeClient, clock: FakeClock
) -> None:
    rsps.get(f"{EA_URL}/gkebackend", json=attachment(state="DELETING", connection_state="CLOSED"))
    rsps.get(f"{EA_URL}/gkebackend", status=404, json=rpc_error(404, "NOT_FOUND", "gone"))
    client.endpoint_attachments.wait_until_deleted("gkebackend")
    assert len(rsps.calls) == 2


def test_wait_until_deleted_timeout_raises(rsps: responses.RequestsMock, client: ApigeeClient) -> None:
    rsps.get(f"{EA_URL}/gkebackend", json=attachment(state="DELETING", connection_state="CLOSED"))
    with pytest.raises(errors.WaitTimeout) as info:
        client.endpoint_attachments.wait_until_deleted("gkebackend", timeout=30)
    assert info.value.last_state == "DELETING/CLOSED"


# -- DNS zones ------------------------------------------------------------------------------------------------------


def test_dns_zones_create_posts_peering_config(rsps: responses.RequestsMock, client: ApigeeClient) -> None:
    rsps.post(
        ZONE_URL,
        json={"name": f"{API.split('/v1/')[1]}/operations/z1", "metadata": {"operationType": "INSERT"}},
        match=[
            matchers.query_param_matcher({"dnsZoneId": "my-zone"}),
            matchers.json_params_matcher(
                {
                    "domain": "example.com.",
                    "description": "orders zone",
                    "peeringConfig": {"targetProjectId": "my-project", "targetNetworkId": "default"},
                }
            ),
        ],
    )
    op = client.dns_zones.create(
        "my-zone",
        domain="example.com.",
        description="orders zone",
        target_project_id="my-project",
        target_network_id="default",
    )
    assert op.name.endswith("/operations/z1")


def test_dns_zones_create_default_description_sent(rsps: responses.RequestsMock, client: ApigeeClient) -> None:
    rsps.post(ZONE_URL, json={"name": "organizations/my-organization/operations/z1"})
    client.dns_zones.create(
        "my-zone", domain="example.com.", target_project_id="my-project", target_network_id="default"
    )
    body = json.loads(rsps.calls[0].request.body or b"{}")
    assert body["description"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "My_Zone"}, "dns_zone"),
        ({"domain": "example.com"}, "domain"),
        ({"description": "d" * 1025}, "description"),
        ({"target_project_id": "x"}, "target_project_id"),
        ({"target_network_id": "Default"}, "target_network_id"),
    ],
)
def test_dns_zones_create_invalid_input_refused_before_request(
    rsps: responses.RequestsMock, client: ApigeeClient, kwargs: dict[str, Any], field: str
) -> None:
    args: dict[str, Any] = {
        "name": "my-zone",
        "domain": "example.com.",
        "description": "",
        "target_project_id": "my-project",
        "target_network_id": "default",
    }
    args.update(kwargs)
    name = args.pop("name")
    with pytest.raises(errors.ValidationError) as info:
        client.dns_zones.create(name, **args)
    assert info.value.field == field
    assert len(rsps.calls) == 0


def test_dns_zones_create_description_1024_accepted(rsps: responses.RequestsMock, client: ApigeeClient) -> None:
    rsps.post(ZONE_URL, json={"name": "organizations/my-organization/operations/z1"})
    client.dns_zones.create(
        "my-zone",
        domain="example.com.",
        description="d" * 1024,
        target_project_id="my-project",
        target_network_id="default",
    )
    assert len(rsps.calls) == 1


def test_dns_zones_get_parses_zone(rsps: responses.RequestsMock, client: ApigeeClient) -> None:
    rsps.get(f"{ZONE_URL}/my-zone", json=dns_zone())
    zone = client.dns_zones.get("my-zone")
    assert zone == DnsZone(
        name="my-zone",
        domain="example.com.",
        description="peering zone",
        target_project_id="my-project",
        target_network_id="default",
        resource_name="organizations/my-organization/dnsZones/my-zone",
        state=State.ACTIVE,
        create_time="2024-01-01T00:00:00Z",
    )


def test_dns_zones_list_every_page(rsps: responses.RequestsMock, client: ApigeeClient) -> None:
    rsps.get(
        ZONE_URL,
        json={"dnsZones": [dns_zone("a")], "nextPageToken": "t"},
        match=[matchers.query_param_matcher({"pageSize": "1000"})],
    )
    rsps.get(
        ZONE_URL,
        json={"dnsZones": [dns_zone("b")], "nextPageToken": "u"},
        match=[matchers.query_param_matcher({"pageSize": "1000", "pageToken": "t"})],
    )
    rsps.get(
        ZONE_URL,
        json={"dnsZones": [dns_zone("c")]},
        match=[matchers.query_param_matcher({"pageSize": "1000", "pageToken": "u"})],
    )
    assert [z.name for z in client.dns_zones.list()] == ["a", "b", "c"]


def test_dns_zones_delete_returns_operation(rsps: responses.RequestsMock, client: ApigeeClient) -> None:
    rsps.delete(f"{ZONE_URL}/my-zone", json={"name": "organizations/my-organization/operations/z2", "done": False})
    assert client.dns_zones.delete("my-zone").name.endswith("z2")


def test_dns_zones_bad_name_refused_before_request(rsps: responses.RequestsMock, client: ApigeeClient) -> None:
    for call in (client.dns_zones.get, client.dns_zones.delete, client.dns_zones.wait_until_active):
        with pytest.raises(errors.ValidationError):
            call("My_Zone")
    assert len(rsps.calls) == 0


def test_dns_zones_wait_until_active_returns_zone(rsps: responses.RequestsMock, client: ApigeeClient) -> None:
    rsps.get(f"{ZONE_URL}/my-zone", json=dns_zone(state="CREATING"))
    rsps.get(f"{ZONE_URL}/my-zone", json=dns_zone(state="ACTIVE"))
    assert client.dns_zones.wait_until_active("my-zone").state == State.ACTIVE
    assert len(rsps.calls) == 2


def test_dns_zones_wait_until_active_timeout(rsps: responses.RequestsMock, client: ApigeeClient) -> None:
    rsps.get(f"{ZONE_URL}/my-zone", json=dns_zone(state="CREATING"))
    with pytest.raises(errors.WaitTimeout) as info:
        client.dns_zones.wait_until_active("my-zone", timeout=50)
    assert info.value.last_state == "CREATING"


def test_dns_zones_wait_until_deleted_404_is_success(rsps: responses.RequestsMock, client: ApigeeClient) -> None:
    rsps.get(f"{ZONE_URL}/my-zone", json=dns_zone(state="DELETING"))
    rsps.get(f"{ZONE_URL}/my-zone", status=404, json=rpc_error(404, "NOT_FOUND", "gone"))
    client.dns_zones.wait_until_deleted("my-zone")
    assert len(rsps.calls) == 2


def test_client_repr_and_context_manager(client: ApigeeClient) -> None:
    with client as c:
        assert repr(c) == "ApigeeClient('my-organization', endpoint='https://apigee.example.test/')"


# -- the organization lock, bounded by the caller ------------------------------------------------------


def test_create_org_lock_stops_at_timeout_naming_the_holder_with_progress(
    rsps: responses.RequestsMock, client: ApigeeClient, clock: FakeClock
) -> None:
    rsps.post(EA_URL, status=400, json=ORG_LOCK)
    seen: list[WaitProgress] = []
    with pytest.raises(errors.LockTimeout) as info:
        client.endpoint_attachments.create(
            "gkebackend", location="us-west1", service_attachment=SA, timeout=10, progress=seen.append
        )
    assert 9.0 <= clock.elapsed <= 10.0 + 1e-9
    assert info.value.holder == "organizations/my-organization/operations/11111111"
    assert "timed out after 10s waiting for the Apigee organization lock" in str(info.value)
    assert seen and {p.waiter for p in seen} == {"ORGANIZATION_LOCK"}
    assert seen[0].subject == "organizations/my-organization/operations/11111111"
    assert "waiting on the organization lock" in seen[0].state
    assert [p.polls for p in seen] == list(range(1, len(seen) + 1))


def test_create_org_lock_released_within_timeout_succeeds(
    rsps: responses.RequestsMock, client: ApigeeClient, clock: FakeClock
) -> None:
    rsps.post(EA_URL, status=400, json=ORG_LOCK)
    rsps.post(EA_URL, json=operation(done=False))
    op = client.endpoint_attachments.create("gkebackend", location="us-west1", service_attachment=SA, timeout=60)
    assert op.name == OP_NAME and len(rsps.calls) == 2


@pytest.mark.parametrize("kind", ["endpoint_attachments", "dns_zones"])
def test_delete_org_lock_bounded_by_timeout(
    rsps: responses.RequestsMock, client: ApigeeClient, clock: FakeClock, kind: str
) -> None:
    url = EA_URL if kind == "endpoint_attachments" else ZONE_URL
    rsps.delete(f"{url}/gkebackend", status=400, json=ORG_LOCK)
    with pytest.raises(errors.LockTimeout):
        getattr(client, kind).delete("gkebackend", timeout=5)
    assert clock.elapsed <= 5.0 + 1e-9


def test_dns_zone_create_org_lock_bounded_by_timeout(
    rsps: responses.RequestsMock, client: ApigeeClient, clock: FakeClock
) -> None:
    rsps.post(ZONE_URL, status=400, json=ORG_LOCK)
    with pytest.raises(errors.LockTimeout):
        client.dns_zones.create(
            "my-zone", domain="example.com.", target_project_id="my-project", target_network_id="default", timeout=3
        )
    assert clock.elapsed <= 3.0 + 1e-9


# -- names that are not the client's own ---------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.endpoint_attachments.delete("organizations/other-org/endpointAttachments/x"),
        lambda c: c.endpoint_attachments.get("organizations/other-org/endpointAttachments/x"),
        lambda c: c.endpoint_attachments.get(None),
        lambda c: c.endpoint_attachments.delete(None),
        lambda c: c.endpoint_attachments.get(""),
        lambda c: c.endpoint_attachments.get("Bad_Name"),
        lambda c: c.endpoint_attachments.get("organizations/my-organization/dnsZones/x"),
        lambda c: c.endpoint_attachments.get("organizations/my-organization/endpointAttachments/x/y"),
        lambda c: c.endpoint_attachments.wait_until_ready("organizations/other-org/endpointAttachments/x"),
        lambda c: c.dns_zones.delete("organizations/other-org/dnsZones/my-zone"),
        lambda c: c.dns_zones.get(None),
        lambda c: c.dns_zones.delete(None),
        lambda c: c.operations.get("organizations/other-org/operations/1234"),
        lambda c: c.operations.get(None),
        lambda c: c.operations.get("../../x"),
        lambda c: c.operations.wait("organizations/other-org/operations/1234", timeout=5),
    ],
)
def test_names_not_of_this_organization_refused_before_any_call(
    rsps: responses.RequestsMock, client: ApigeeClient, call: Any
) -> None:
    with pytest.raises(errors.ValidationError):
        call(client)
    assert len(rsps.calls) == 0


def test_own_full_names_accepted(rsps: responses.RequestsMock, client: ApigeeClient) -> None:
    rsps.get(f"{EA_URL}/gkebackend", json=attachment())
    rsps.delete(f"{ZONE_URL}/my-zone", json=operation())
    rsps.get(OP_URL, json=operation(done=True))
    assert client.endpoint_attachments.get("organizations/my-organization/endpointAttachments/gkebackend").name
    client.dns_zones.delete("organizations/my-organization/dnsZones/my-zone")
    assert client.operations.get(OP_NAME).done
    assert [c.request.method for c in rsps.calls] == ["GET", "DELETE", "GET"]


def test_find_by_service_attachment_scans_at_the_maximum_page_size(
    rsps: responses.RequestsMock, client: ApigeeClient
) -> None:
    rsps.get(
        EA_URL,
        json={"endpointAttachments": [attachment()]},
        match=[matchers.query_param_matcher({"pageSize": "1000"})],
    )
    found = client.endpoint_attachments.find_by_service_attachment(SA)
    assert found is not None and len(rsps.calls) == 1


@pytest.mark.parametrize("size", [0, 1001, -1, True, "10"])
def test_list_bad_page_size_refused(rsps: responses.RequestsMock, client: ApigeeClient, size: Any) -> None:
    with pytest.raises(errors.ValidationError):
        list(client.endpoint_attachments.list(page_size=size))
    assert len(rsps.calls) == 0
