"""``--producer-for``: the emulator seeds the producer side that specs reference."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from emulator_helpers import Api

from apigee_psc.emulator import EmulatorServer, World, main
from apigee_psc.emulator.control import seed_producer_for
from apigee_psc.emulator.errors import InvalidArgument
from apigee_psc.emulator.producer import load_specs, producer_resources

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_fleet_shares_network_and_zone_one_rule_each() -> None:
    specs = load_specs(sorted((EXAMPLES / "fleet").glob("*.yaml")))
    orgs, resources = producer_resources(specs)
    assert orgs == ["my-organization"]
    rules = [r["body"]["name"] for r in resources if r["collection"] == "forwardingRules"]
    assert sorted(rules) == sorted(s["forwarding_rule"] for s in specs)
    zones = [r for r in resources if r["collection"] == "managedZones"]
    assert [(z["body"]["name"], z["body"]["dnsName"]) for z in zones] == [("fleet-private-zone", "fleet.example.com.")]
    assert not [r for r in resources if r["collection"] in ("networks", "subnetworks")]  # default is auto mode


def test_custom_network_gets_subnet_clear_of_nat_ranges() -> None:
    spec = load_specs([EXAMPLES / "manual-accept.yaml"])[0]
    nat = ipaddress.ip_network(spec["nat_subnet"]["range"])
    _, resources = producer_resources([spec, {**spec, "nat_subnet": {"range": "10.200.0.0/24"}}])
    net = next(r for r in resources if r["collection"] == "networks")
    assert net["project"] == "payments-prod-4711" and net["body"]["autoCreateSubnetworks"] is False
    sub = next(r for r in resources if r["collection"] == "subnetworks")
    cidr = ipaddress.ip_network(sub["body"]["ipCidrRange"])
    assert not cidr.overlaps(nat) and not cidr.overlaps(ipaddress.ip_network("10.200.0.0/24"))
    rule = next(r for r in resources if r["collection"] == "forwardingRules")
    assert (rule["region"], rule["body"]["name"]) == ("europe-west4", "payments-ilb")  # parsed from the path
    assert rule["body"]["ports"] == ["443", "8443"]  # the firewall's ports


def test_seed_twice_creates_once_and_serves_the_org(world: World) -> None:
    spec = {
        "organization": "new-org",
        "project": "p-one-1",
        "region": "us-west1",
        "forwarding_rule": "fr-x",
        "dns": {"zone": {"domain": "x.example.com."}, "managed_zone": "pz"},
    }
    first = seed_producer_for(world, [spec])
    assert [r["collection"] for r in first] == ["healthChecks", "backendServices", "forwardingRules", "managedZones"]
    assert seed_producer_for(world, [spec]) == []
    assert "new-org" in world.orgs
    assert world.compute.get("forwardingRules", "p-one-1", "us-west1", "fr-x").fields["loadBalancingScheme"] == (
        "INTERNAL"
    )
    assert not world.compute.operations  # seeded resources have nothing to wait for


def test_spec_without_forwarding_rule_invalid() -> None:
    with pytest.raises(InvalidArgument, match="forwarding_rule"):
        producer_resources([{"organization": "o", "project": "p", "region": "r"}])


def test_control_api_producer_for(api: Api, emu: EmulatorServer) -> None:
    spec = load_specs([EXAMPLES / "manual-accept.yaml"])[0]
    resp = api.post("_emulator/config", {"producer_for": [spec]})
    assert resp.status_code == 200, resp.text
    fr = api.ok("GET", "compute/v1/projects/payments-prod-4711/regions/europe-west4/forwardingRules/payments-ilb")
    assert fr["network"].endswith("/global/networks/payments-vpc")
    assert api.post("_emulator/config", {"producer_for": ["not a spec"]}).status_code == 400


def test_main_producer_for_unreadable_spec_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list, not a spec\n")
    assert main(["--port", "0", "--producer-for", str(bad)]) == 2
    assert "bad.yaml is not a spec" in capsys.readouterr().err
