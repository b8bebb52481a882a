"""Seeded fault mixes, concurrent applies and a 20-spec fleet: converge, no duplicate, no leak."""

from __future__ import annotations

import threading

import pytest
from reliability_helpers import assert_one_of_each, inventory, southbound

from apigee_psc import errors
from apigee_psc.demo import SEED_SPEC
from apigee_psc.emulator import EmulatorServer
from apigee_psc.emulator.control import seed_producer_for
from apigee_psc.southbound import SouthboundSpec, apply_fleet
from apigee_psc.testing import fault_mix

#: subnet, firewall, service attachment, endpoint attachment, DNS zone, A and TXT records
SEED_RESOURCES = 7


@pytest.mark.parametrize("seed", range(1, 13))
def test_fault_mix_converges_without_duplicates_then_destroy_leaves_nothing(server: EmulatorServer, seed: int) -> None:
    spec = SouthboundSpec.from_dict(SEED_SPEC, source="seed.yaml")
    server.set_faults(fault_mix(seed))
    runs = 0
    report = None
    while report is None or not report.ok:
        runs += 1
        assert runs <= 6, f"seed {seed}: no convergence after 5 runs"
        try:
            report = southbound(spec).apply()
        except errors.ApigeePscError:
            continue  # what a user does after a failure: run it again
    assert_one_of_each(server, SEED_RESOURCES)
    server.set_faults({"rules": []})
    southbound(spec).destroy()
    assert inventory(server) == {}


def test_concurrent_applies_of_one_spec_converge_to_one_of_each(server: EmulatorServer) -> None:
    spec = SouthboundSpec.from_dict(SEED_SPEC, source="seed.yaml")
    outcomes: list[object] = []

    def run() -> None:
        for _ in range(4):
            try:
                outcomes.append(southbound(spec).apply().ok)
                return
            except errors.ApigeePscError as exc:
                outcomes.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert outcomes.count(True) == 3, outcomes
    assert_one_of_each(server, SEED_RESOURCES)
    assert not southbound(spec).plan().has_changes


def test_twenty_spec_fleet_converges_with_one_of_each(server: EmulatorServer) -> None:
    specs = []
    for i in range(20):
        data = {
            **SEED_SPEC,
            "forwarding_rule": f"fr-{i}",
            "nat_subnet": {"name": f"psc-nat-{i}", "range": f"10.{100 + i}.0.0/28"},
            "firewall": {"name": f"allow-psc-{i}", "ports": [80]},
            "service_attachment": {"name": f"sa-{i}"},
            "endpoint_attachment": {"name": f"ea-{i}"},
            "dns": None,
        }
        specs.append(SouthboundSpec.from_dict({k: v for k, v in data.items() if v is not None}, source=f"{i}.yaml"))
    seed_producer_for(server.world, [s.to_dict() for s in specs])
    results = apply_fleet(specs, schedule=southbound(specs[0]).schedule, timeout=60.0, max_workers=6)
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    assert_one_of_each(server, 20 * 4)
    lock_answers = [r for r in server.requests(api="apigee") if r["status"] == 400]
    assert lock_answers == []  # one process serialises its own Apigee operations
