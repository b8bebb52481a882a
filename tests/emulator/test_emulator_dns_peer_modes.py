"""The two ways a DNS zone create without ``roles/dns.peer`` fails: 403 at once, or in its operation."""

from __future__ import annotations

import pytest
from emulator_helpers import ORG, PROJECT, Api, FakeClock

from apigee_psc.emulator import EmulatorServer, World
from apigee_psc.emulator import errors as e

ZONE = {
    "domain": "example.com.",
    "description": "d",
    "peeringConfig": {"targetProjectId": PROJECT, "targetNetworkId": "default"},
}


def _grant(world: World) -> None:
    agent = world.apigee.service_agent(ORG)
    world.crm.ensure(PROJECT)
    policy = world.crm.get_iam_policy(PROJECT, 3)
    policy["bindings"].append({"role": "roles/dns.peer", "members": [f"serviceAccount:{agent}"]})
    world.crm.set_iam_policy(PROJECT, policy)


def test_operation_mode_without_grant_operation_fails_permission_denied(world: World, clock: FakeClock) -> None:
    world.config.dns_peer_failure = "operation"
    op = world.apigee.create_dns_zone(ORG, "my-zone", dict(ZONE))  # accepted: no 403
    assert world.apigee.get_dns_zone(ORG, "my-zone").state == "CREATING"
    clock.advance(1)
    world.advance()
    data = op.to_dict()
    assert data["done"] is True
    assert data["error"]["code"] == 7
    assert "roles/dns.peer" in data["error"]["message"]
    with pytest.raises(e.NotFound):
        world.apigee.get_dns_zone(ORG, "my-zone")
    # The organization is unlocked again and a retry after the grant succeeds.
    _grant(world)
    retry = world.apigee.create_dns_zone(ORG, "my-zone", dict(ZONE))
    clock.advance(1)
    world.advance()
    assert retry.to_dict()["response"]["state"] == "ACTIVE"


def test_operation_mode_grant_propagating_during_operation_succeeds(world: World, clock: FakeClock) -> None:
    world.config.dns_peer_failure = "operation"
    world.config.iam_propagation_seconds = 0.5
    _grant(world)
    op = world.apigee.create_dns_zone(ORG, "my-zone", dict(ZONE))  # the grant is not effective yet
    clock.advance(1)  # ... but it is when the operation ends
    world.advance()
    assert "error" not in op.to_dict()


def test_request_mode_is_the_default_403(world: World) -> None:
    assert world.config.dns_peer_failure == "request"
    with pytest.raises(e.PermissionDenied):
        world.apigee.create_dns_zone(ORG, "my-zone", dict(ZONE))


def test_http_operation_mode_switched_by_control_api(api: Api, emu: EmulatorServer) -> None:
    assert api.post("_emulator/config", {"dns_peer_failure": "sometimes"}).status_code == 400
    api.ok("POST", "_emulator/config", {"dns_peer_failure": "operation"})
    op = api.ok("POST", f"v1/organizations/{ORG}/dnsZones", ZONE, dnsZoneId="my-zone")  # 200, an operation
    got = api.ok("GET", f"v1/{op['name']}")
    assert got["done"] is True  # the fixture's operations take 0 s
    assert got["error"]["code"] == 7
    assert got["metadata"]["progress"]["description"] == "Failed"
    api.ok("POST", "_emulator/reset")
    assert api.post(f"v1/organizations/{ORG}/dnsZones", ZONE, dnsZoneId="my-zone").status_code == 403


def test_server_option_sets_the_mode() -> None:
    with EmulatorServer(op_seconds=0, dns_peer_failure="operation") as server:
        assert server.world.config.dns_peer_failure == "operation"
        server.reset()
        assert server.world.config.dns_peer_failure == "operation"
    with pytest.raises(e.InvalidArgument):
        EmulatorServer(dns_peer_failure="never")
