"""Backend rules and lifecycles, without HTTP, driven by a fake clock."""

from __future__ import annotations

import math

import pytest
from emulator_helpers import ORG, PEERED, PROJECT, REGION, SA_PATH, FakeClock, producer

from apigee_psc.emulator import World
from apigee_psc.emulator import errors as e

EA_BODY = {"location": REGION, "serviceAttachment": SA_PATH}


def _grant_dns_peer(world: World, org: str = ORG, project: str = PROJECT) -> None:
    policy = world.crm.get_iam_policy(project, 3)
    policy["bindings"].append(
        {"role": "roles/dns.peer", "members": [f"serviceAccount:{world.apigee.service_agent(org)}"]}
    )
    world.crm.set_iam_policy(project, policy)


# -- organizations and projects ------------------------------------------------------------------------


def test_org_get_unpeered_has_tenant_project_and_disable_vpc_peering(world: World) -> None:
    org = world.apigee.org_dict(ORG)
    assert org["apigeeProjectId"].startswith(f"{ORG}-tenant-")
    assert org["disableVpcPeering"] is True
    assert org["runtimeType"] == "CLOUD" and org["state"] == "ACTIVE"
    assert world.crm.get(org["apigeeProjectId"]).to_dict()["name"].startswith("projects/")


def test_org_get_peered_omits_disable_vpc_peering(world: World) -> None:
    assert "disableVpcPeering" not in world.apigee.org_dict(PEERED)


def test_org_get_unknown_not_found(world: World) -> None:
    with pytest.raises(e.NotFound):
        world.apigee.org_dict("nope")


def test_tenant_project_is_deterministic_across_worlds() -> None:
    a, b = World([ORG]), World([ORG])
    assert a.apigee.org_dict(ORG)["apigeeProjectId"] == b.apigee.org_dict(ORG)["apigeeProjectId"]
    assert a.apigee.tenant_number(ORG) == b.apigee.tenant_number(ORG)


def test_project_first_use_creates_default_network(world: World) -> None:
    net = world.compute.get("networks", "new-project", None, "default")
    assert net.fields["autoCreateSubnetworks"] is True
    sub = world.compute.get("subnetworks", "new-project", "us-west1", "default")
    assert sub.fields["ipCidrRange"] == "10.138.0.0/20"


def test_project_auto_create_off_permission_denied(world: World) -> None:
    world.config.auto_create_projects = False
    with pytest.raises(e.PermissionDenied):
        world.crm.get("unknown-project")


# -- endpoint attachments -----------------------------------------------------------------------------


def test_ea_create_lifecycle_creating_then_active_with_host(world: World, clock: FakeClock) -> None:
    producer(world)
    op = world.apigee.create_endpoint_attachment(ORG, "gkebackend", dict(EA_BODY))
    assert not op.done and "done" not in op.to_dict()
    ea = world.apigee.get_endpoint_attachment(ORG, "gkebackend")
    assert world.apigee.attachment_dict(ea)["state"] == "CREATING"
    assert world.apigee.attachment_dict(ea)["connectionState"] == "UNAVAILABLE"
    assert "host" not in world.apigee.attachment_dict(ea)
    clock.advance(1.0)
    world.advance()
    data = op.to_dict()
    assert data["done"] is True
    assert data["metadata"]["state"] == "FINISHED"
    assert data["response"]["@type"] == "type.googleapis.com/google.cloud.apigee.v1.EndpointAttachment"
    assert data["response"]["host"] == "7.0.3.4"
    got = world.apigee.attachment_dict(ea)
    assert (got["state"], got["connectionState"]) == ("ACTIVE", "ACCEPTED")


def test_ea_delete_lifecycle_deleting_then_gone(world: World, clock: FakeClock) -> None:
    world.config.op_seconds = 0
    producer(world)
    world.apigee.create_endpoint_attachment(ORG, "gkebackend", dict(EA_BODY))
    world.config.op_seconds_overrides["apigee.endpointAttachments.delete"] = 2
    op = world.apigee.delete_endpoint_attachment(ORG, "gkebackend")
    assert world.apigee.get_endpoint_attachment(ORG, "gkebackend").state == "DELETING"
    clock.advance(1.9)
    world.advance()
    assert not op.done
    clock.advance(0.1)
    world.advance()
    assert op.done and op.to_dict()["metadata"]["operationType"] == "DELETE"
    with pytest.raises(e.NotFound):
        world.apigee.get_endpoint_attachment(ORG, "gkebackend")


@pytest.mark.parametrize("bad", ["a", "1abc", "abc-", "Abc", "a" * 33, "ab_c"])
def test_ea_create_bad_id_invalid_argument(world: World, bad: str) -> None:
    with pytest.raises(e.InvalidArgument):
        world.apigee.create_endpoint_attachment(ORG, bad, dict(EA_BODY))


@pytest.mark.parametrize("good", ["ab", "a1", "a-b", "a" * 32])
def test_ea_create_good_id_accepted(world: World, good: str) -> None:
    world.config.op_seconds = 0
    producer(world)
    world.apigee.create_endpoint_attachment(ORG, good, dict(EA_BODY))


@pytest.mark.parametrize(
    "body",
    [
        {"serviceAttachment": SA_PATH},
        {"location": REGION},
        {"location": REGION, "serviceAttachment": "projects/p/serviceAttachments/x"},
        {"location": "europe-west1", "serviceAttachment": SA_PATH},
        {"location": REGION, "serviceAttachment": SA_PATH, "hostname": "x"},
    ],
)
def test_ea_create_bad_body_invalid_argument(world: World, body: dict[str, str]) -> None:
    with pytest.raises(e.InvalidArgument):
        world.apigee.create_endpoint_attachment(ORG, "gkebackend", body)


def test_ea_create_duplicate_id_already_exists(world: World) -> None:
    world.config.op_seconds = 0
    producer(world)
    world.apigee.create_endpoint_attachment(ORG, "gkebackend", dict(EA_BODY))
    with pytest.raises(e.AlreadyExists):
        world.apigee.create_endpoint_attachment(ORG, "gkebackend", dict(EA_BODY))


def test_ea_create_second_for_same_service_attachment_failed_precondition(world: World) -> None:
    world.config.op_seconds = 0
    producer(world)
    world.apigee.create_endpoint_attachment(ORG, "gkebackend", dict(EA_BODY))
    with pytest.raises(e.FailedPrecondition, match="only one endpoint attachment per service attachment"):
        world.apigee.create_endpoint_attachment(ORG, "other", dict(EA_BODY))


def test_ea_create_same_service_attachment_other_org_allowed(world: World) -> None:
    world.config.op_seconds = 0
    producer(world)
    world.apigee.create_endpoint_attachment(ORG, "gkebackend", dict(EA_BODY))
    world.apigee.create_endpoint_attachment(PEERED, "gkebackend", dict(EA_BODY))
    sa = world.compute.render(world.compute.lookup(SA_PATH), "http://x/")
    assert len(sa["connectedEndpoints"]) == 2


def test_ea_create_while_op_running_locked(world: World, clock: FakeClock) -> None:
    producer(world)
    world.apigee.create_endpoint_attachment(ORG, "gkebackend", dict(EA_BODY))
    with pytest.raises(e.FailedPrecondition, match="the resource is locked by another operation"):
        world.apigee.delete_endpoint_attachment(ORG, "gkebackend")
    with pytest.raises(e.FailedPrecondition, match="locked by another operation"):
        world.apigee.create_endpoint_attachment(ORG, "second", {**EA_BODY, "serviceAttachment": SA_PATH + "2"})
    clock.advance(1)
    world.advance()
    world.apigee.delete_endpoint_attachment(ORG, "gkebackend")


def test_ea_create_other_org_not_locked(world: World) -> None:
    producer(world)
    world.apigee.create_endpoint_attachment(ORG, "gkebackend", dict(EA_BODY))
    world.apigee.create_endpoint_attachment(PEERED, "gkebackend", dict(EA_BODY))


def test_ea_connection_manual_not_listed_pending(world: World) -> None:
    world.config.op_seconds = 0
    producer(world, preference="ACCEPT_MANUAL", accept=[{"projectIdOrNum": "someone-else", "connectionLimit": 5}])
    world.apigee.create_endpoint_attachment(ORG, "gkebackend", dict(EA_BODY))
    ea = world.apigee.get_endpoint_attachment(ORG, "gkebackend")
    assert world.apigee.connection_state(ea) == "PENDING"
    sa = world.compute.render(world.compute.lookup(SA_PATH), "http://x/")
    assert sa["connectedEndpoints"][0]["status"] == "PENDING"


def _patch_sa(world: World, **changes: object) -> None:
    sa = world.compute.lookup(SA_PATH)
    world.compute.patch("serviceAttachments", PROJECT, REGION, "gkebackend", {"fingerprint": sa.fingerprint, **changes})


def test_ea_connection_pending_follows_lists_decided_one_stays(world: World) -> None:
    world.config.op_seconds = 0
    producer(world, preference="ACCEPT_MANUAL", accept=[{"projectIdOrNum": "someone-else", "connectionLimit": 5}])
    world.apigee.create_endpoint_attachment(ORG, "gkebackend", dict(EA_BODY))
    ea = world.apigee.get_endpoint_attachment(ORG, "gkebackend")
    tenant = world.apigee.org_dict(ORG)["apigeeProjectId"]
    assert world.apigee.connection_state(ea) == "PENDING"
    _patch_sa(world, consumerAcceptLists=[{"projectIdOrNum": tenant, "connectionLimit": 1}])
    assert world.apigee.connection_state(ea) == "ACCEPTED"  # a pending connection follows the lists
    _patch_sa(world, consumerAcceptLists=None, consumerRejectLists=[tenant])
    assert world.apigee.connection_state(ea) == "ACCEPTED"  # an accepted one does not (no reconcile)
    _patch_sa(world, reconcileConnections=True)
    assert world.apigee.connection_state(ea) == "REJECTED"
    sa = world.compute.render(world.compute.lookup(SA_PATH), "http://x/")
    assert sa["connectedEndpoints"][0]["status"] == "REJECTED"
    assert sa["reconcileConnections"] is True


def test_ea_connection_accept_list_by_project_number_accepted(world: World) -> None:
    world.config.op_seconds = 0
    number = world.apigee.tenant_number(ORG)
    producer(world, preference="ACCEPT_MANUAL", accept=[{"projectIdOrNum": number, "connectionLimit": 1}])
    world.apigee.create_endpoint_attachment(ORG, "gkebackend", dict(EA_BODY))
    assert world.apigee.connection_state(world.apigee.get_endpoint_attachment(ORG, "gkebackend")) == "ACCEPTED"


def test_ea_connection_limit_zero_pending(world: World) -> None:
    world.config.op_seconds = 0
    tenant = world.apigee.org_dict(ORG)["apigeeProjectId"]
    producer(world, preference="ACCEPT_MANUAL", accept=[{"projectIdOrNum": tenant, "connectionLimit": 0}])
    world.apigee.create_endpoint_attachment(ORG, "gkebackend", dict(EA_BODY))
    assert world.apigee.connection_state(world.apigee.get_endpoint_attachment(ORG, "gkebackend")) == "PENDING"


def test_ea_connection_service_attachment_deleted_closed(world: World) -> None:
    world.config.op_seconds = 0
    producer(world)
    world.apigee.create_endpoint_attachment(ORG, "gkebackend", dict(EA_BODY))
    world.compute.delete("serviceAttachments", PROJECT, REGION, "gkebackend")
    assert world.apigee.connection_state(world.apigee.get_endpoint_attachment(ORG, "gkebackend")) == "CLOSED"


def test_ea_hosts_increment_per_org(world: World) -> None:
    world.config.op_seconds = 0
    producer(world)
    world.apigee.create_endpoint_attachment(ORG, "one", dict(EA_BODY))
    world.compute.insert(
        "forwardingRules",
        PROJECT,
        REGION,
        {
            "name": "fr-2",
            "loadBalancingScheme": "INTERNAL",
            "backendService": "regions/us-west1/backendServices/bs",
            "ports": ["80"],
        },
    )
    world.compute.insert(
        "serviceAttachments",
        PROJECT,
        REGION,
        {
            "name": "sa2",
            "producerForwardingRule": "regions/us-west1/forwardingRules/fr-2",
            "connectionPreference": "ACCEPT_AUTOMATIC",
            "natSubnets": ["psc-subnet"],
        },
    )
    world.apigee.create_endpoint_attachment(ORG, "two", {**EA_BODY, "serviceAttachment": SA_PATH[:-10] + "sa2"})
    hosts = [ea.host for ea in world.apigee.list_endpoint_attachments(ORG)]
    assert hosts == ["7.0.3.4", "7.0.3.5"]


# -- operation faults ------------------------------------------------------------------------------------


def test_ea_create_op_fault_fail_done_with_error_and_no_attachment(world: World, clock: FakeClock) -> None:
    producer(world)
    world.faults.configure(
        {
            "operations": [
                {"kind": "apigee.endpointAttachments.create", "outcome": "fail", "code": "INTERNAL", "message": "boom"}
            ]
        }
    )
    op = world.apigee.create_endpoint_attachment(ORG, "gkebackend", dict(EA_BODY))
    clock.advance(1)
    world.advance()
    assert op.to_dict()["error"] == {"code": 13, "message": "boom"}
    assert "response" not in op.to_dict()
    assert world.apigee.list_endpoint_attachments(ORG) == []


def test_ea_create_op_fault_never_keeps_org_locked(world: World, clock: FakeClock) -> None:
    producer(world)
    world.faults.configure({"operations": [{"kind": "apigee", "outcome": "never"}]})
    op = world.apigee.create_endpoint_attachment(ORG, "gkebackend", dict(EA_BODY))
    clock.advance(10_000)
    world.advance()
    assert not op.done and math.isinf(op.seconds)
    with pytest.raises(e.FailedPrecondition, match="locked"):
        world.apigee.delete_endpoint_attachment(ORG, "gkebackend")


# -- DNS zones ------------------------------------------------------------------------------------------------

ZONE = {
    "domain": "example.com.",
    "description": "d",
    "peeringConfig": {"targetProjectId": PROJECT, "targetNetworkId": "default"},
}


def test_dns_zone_create_without_dns_peer_permission_denied(world: World) -> None:
    with pytest.raises(e.PermissionDenied, match=r"service-\d+@gcp-sa-apigee"):
        world.apigee.create_dns_zone(ORG, "my-zone", dict(ZONE))


def test_dns_zone_create_after_grant_active(world: World, clock: FakeClock) -> None:
    _grant_dns_peer(world)
    op = world.apigee.create_dns_zone(ORG, "my-zone", dict(ZONE))
    assert world.apigee.get_dns_zone(ORG, "my-zone").state == "CREATING"
    clock.advance(1)
    world.advance()
    assert op.to_dict()["response"]["state"] == "ACTIVE"
    assert world.apigee.get_dns_zone(ORG, "my-zone").to_dict()["peeringConfig"]["targetNetworkId"] == "default"


def test_dns_zone_create_before_iam_propagation_permission_denied(world: World, clock: FakeClock) -> None:
    world.config.iam_propagation_seconds = 60
    _grant_dns_peer(world)
    with pytest.raises(e.PermissionDenied):
        world.apigee.create_dns_zone(ORG, "my-zone", dict(ZONE))
    clock.advance(60)
    world.apigee.create_dns_zone(ORG, "my-zone", dict(ZONE))


@pytest.mark.parametrize("bad", ["", "1zone", "zone-", "Zone", "z" * 64])
def test_dns_zone_create_bad_id_invalid_argument(world: World, bad: str) -> None:
    _grant_dns_peer(world)
    with pytest.raises(e.InvalidArgument):
        world.apigee.create_dns_zone(ORG, bad, dict(ZONE))


def test_dns_zone_create_long_description_invalid_argument(world: World) -> None:
    _grant_dns_peer(world)
    with pytest.raises(e.InvalidArgument, match="1024"):
        world.apigee.create_dns_zone(ORG, "z", {**ZONE, "description": "x" * 1025})
    world.apigee.create_dns_zone(ORG, "z", {**ZONE, "description": "x" * 1024})


def test_dns_zone_create_unknown_network_invalid_argument(world: World) -> None:
    _grant_dns_peer(world)
    with pytest.raises(e.InvalidArgument, match="network"):
        world.apigee.create_dns_zone(
            ORG, "z", {**ZONE, "peeringConfig": {"targetProjectId": PROJECT, "targetNetworkId": "nope"}}
        )


# -- Compute rules ---------------------------------------------------------------------------------------------


def test_subnet_insert_overlap_invalid(world: World) -> None:
    producer(world)
    with pytest.raises(e.InvalidArgument, match="conflicts with existing subnetwork 'psc-subnet'"):
        world.compute.insert(
            "subnetworks",
            PROJECT,
            REGION,
            {"name": "s2", "network": "global/networks/default", "ipCidrRange": "10.100.0.8/29"},
        )


@pytest.mark.parametrize("cidr", ["10.100.0.1/28", "10.100.0.0/30", "nope", "10.0.0.0/7"])
def test_subnet_insert_bad_range_invalid(world: World, cidr: str) -> None:
    with pytest.raises(e.InvalidArgument):
        world.compute.insert(
            "subnetworks", PROJECT, REGION, {"name": "s2", "network": "global/networks/default", "ipCidrRange": cidr}
        )


def test_subnet_delete_used_by_service_attachment_in_use(world: World, clock: FakeClock) -> None:
    producer(world)
    clock.advance(1)  # the inserts' operations are DONE
    with pytest.raises(e.ResourceInUse) as info:
        world.compute.delete("subnetworks", PROJECT, REGION, "psc-subnet")
    assert info.value.reason == "resourceInUseByAnotherResource"


def test_forwarding_rule_internal_without_backend_service_invalid(world: World) -> None:
    with pytest.raises(e.InvalidArgument, match="backend service"):
        world.compute.insert("forwardingRules", PROJECT, REGION, {"name": "fr", "loadBalancingScheme": "INTERNAL"})


def test_forwarding_rule_internal_missing_backend_service_not_found(world: World) -> None:
    with pytest.raises(e.NotFound):
        world.compute.insert(
            "forwardingRules",
            PROJECT,
            REGION,
            {"name": "fr", "loadBalancingScheme": "INTERNAL", "backendService": "regions/us-west1/backendServices/x"},
        )


def test_forwarding_rule_too_many_ports_invalid(world: World) -> None:
    producer(world)
    with pytest.raises(e.InvalidArgument, match="At most 5"):
        world.compute.insert(
            "forwardingRules",
            PROJECT,
            REGION,
            {
                "name": "fr2",
                "loadBalancingScheme": "INTERNAL",
                "backendService": "regions/us-west1/backendServices/bs",
                "ports": ["1", "2", "3", "4", "5", "6"],
            },
        )


def test_forwarding_rule_internal_gets_address_from_subnet(world: World) -> None:
    producer(world)
    fr = world.compute.get("forwardingRules", PROJECT, REGION, "fr-ilb")
    assert fr.fields["IPAddress"] == "10.138.0.2"


def test_service_attachment_insert_missing_forwarding_rule_not_found(world: World) -> None:
    producer(world)
    with pytest.raises(e.NotFound):
        world.compute.insert(
            "serviceAttachments",
            PROJECT,
            REGION,
            {
                "name": "sa2",
                "producerForwardingRule": "regions/us-west1/forwardingRules/nope",
                "connectionPreference": "ACCEPT_AUTOMATIC",
                "natSubnets": ["psc-subnet"],
            },
        )


def test_service_attachment_insert_non_psc_subnet_invalid(world: World) -> None:
    producer(world)
    world.compute.insert(
        "forwardingRules",
        PROJECT,
        REGION,
        {"name": "fr-2", "loadBalancingScheme": "INTERNAL", "backendService": "regions/us-west1/backendServices/bs"},
    )
    with pytest.raises(e.InvalidArgument, match="PRIVATE_SERVICE_CONNECT"):
        world.compute.insert(
            "serviceAttachments",
            PROJECT,
            REGION,
            {
                "name": "sa2",
                "producerForwardingRule": "regions/us-west1/forwardingRules/fr-2",
                "connectionPreference": "ACCEPT_AUTOMATIC",
                "natSubnets": ["default"],
            },
        )


def test_service_attachment_automatic_with_accept_list_invalid(world: World) -> None:
    with pytest.raises(e.InvalidArgument, match="Incorrect combination of connection preference"):
        producer(world, accept=[{"projectIdOrNum": "x", "connectionLimit": 1}])


def test_service_attachment_patch_stale_fingerprint_condition_not_met(world: World) -> None:
    world.config.op_seconds = 0
    producer(world)
    sa = world.compute.lookup(SA_PATH)
    old = sa.fingerprint
    _patch_sa(world, description="changed")
    assert sa.fingerprint != old
    with pytest.raises(e.ConditionNotMet):
        world.compute.patch("serviceAttachments", PROJECT, REGION, "gkebackend", {"fingerprint": old})
    with pytest.raises(e.ConditionNotMet):
        world.compute.patch("serviceAttachments", PROJECT, REGION, "gkebackend", {"description": "x"})


def test_compute_insert_same_request_id_same_operation(world: World) -> None:
    rid = "7a3a1f43-4c1b-4f8e-9d0b-0f1d7c2c9a11"
    body = {"name": "fw", "allowed": [{"IPProtocol": "tcp", "ports": ["80"]}], "sourceRanges": ["10.100.0.0/28"]}
    op1 = world.compute.insert("firewalls", PROJECT, None, dict(body), rid)
    op2 = world.compute.insert("firewalls", PROJECT, None, dict(body), rid)
    assert op1 is op2
    assert len(world.compute.operations) == 1


def test_compute_operation_status_pending_running_done(world: World, clock: FakeClock) -> None:
    op = world.compute.insert("firewalls", PROJECT, None, {"name": "fw", "allowed": [{"IPProtocol": "tcp"}]})
    assert op.status(clock()) == "PENDING"
    clock.advance(0.5)
    assert op.status(clock()) == "RUNNING"
    clock.advance(0.5)
    assert op.to_dict("http://x/", clock())["status"] == "DONE"


def test_compute_op_fault_fail_not_applied(world: World, clock: FakeClock) -> None:
    world.faults.configure({"operations": [{"kind": "compute.firewalls.insert", "code": 403, "message": "quota"}]})
    op = world.compute.insert("firewalls", PROJECT, None, {"name": "fw", "allowed": [{"IPProtocol": "tcp"}]})
    clock.advance(1)
    data = op.to_dict("http://x/", clock())
    assert data["status"] == "DONE" and data["httpErrorStatusCode"] == 403
    assert data["error"]["errors"][0]["message"] == "quota"
    with pytest.raises(e.NotFound):
        world.compute.get("firewalls", PROJECT, None, "fw")


def test_compute_insert_unknown_field_invalid(world: World) -> None:
    with pytest.raises(e.InvalidArgument, match="Unknown name"):
        world.compute.insert(
            "firewalls", PROJECT, None, {"name": "fw", "allowed": [{"IPProtocol": "tcp"}], "sourceRange": ["0.0.0.0/0"]}
        )


# -- Resource Manager -----------------------------------------------------------------------------------------


def test_set_iam_policy_stale_etag_aborted(world: World) -> None:
    policy = world.crm.get_iam_policy(PROJECT, 3)
    world.crm.set_iam_policy(PROJECT, policy)
    with pytest.raises(e.Aborted):
        world.crm.set_iam_policy(PROJECT, policy)


def test_set_iam_policy_condition_needs_version_3(world: World) -> None:
    policy = world.crm.get_iam_policy(PROJECT, 3)
    cond = {"title": "t", "expression": "request.time < timestamp('2030-01-01T00:00:00Z')"}
    policy["bindings"].append({"role": "roles/viewer", "members": ["user:a@example.com"], "condition": cond})
    with pytest.raises(e.InvalidArgument, match="version 3"):
        world.crm.set_iam_policy(PROJECT, {**policy, "version": 1})
    world.crm.set_iam_policy(PROJECT, {**policy, "version": 3})
    got = world.crm.get_iam_policy(PROJECT, 3)
    assert got["version"] == 3 and got["bindings"][-1]["condition"] == cond
    v1 = world.crm.get_iam_policy(PROJECT, 1)
    assert v1["version"] == 1 and "_withcond_" in v1["bindings"][-1]["role"]


# -- reset ------------------------------------------------------------------------------------------------------


def test_reset_keeps_orgs_and_forgets_resources(world: World) -> None:
    producer(world)
    world.add_org("extra")
    world.reset()
    assert set(world.orgs) == {ORG, PEERED, "extra"}
    assert world.compute.operations == {}
    with pytest.raises(e.NotFound):
        world.compute.lookup(SA_PATH)
