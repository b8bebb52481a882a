"""Harder weather than ``test_faults_and_races``: slow answers, resets before and after the
change, Compute's 409 ``operationInProgress``, failed and slow operations, during ``apply``
*and* ``destroy``; two real ``apigee-psc apply`` processes of one spec at once (they share no
lock but the API's); ``kill -9`` at seeded moments of ``apply`` and at several points of
``destroy``. Every case ends with exactly one of each resource, or none after destroy."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from reliability_helpers import assert_one_of_each, cli_env, inventory, southbound

from apigee_psc import errors
from apigee_psc.demo import SEED_SPEC
from apigee_psc.emulator import EmulatorServer
from apigee_psc.southbound import SouthboundSpec

#: subnet, firewall, service attachment, endpoint attachment, DNS zone, A and TXT records
SEED_RESOURCES = 7
#: Runs a patient user would make before giving up (the storm has needed up to 5); every loop is bounded by it.
MAX_RUNS = 8
#: The timeout of each apply and destroy under the storm.
TIMEOUT = 2.0


def storm(seed: int) -> dict[str, Any]:
    """A seeded mix of what :func:`apigee_psc.testing.fault_mix` leaves out: slow answers,
    resets before the request is handled, Compute 409s, failed Compute operations. (Slow
    Apigee operations, which outlast the apply's timeout, are set by :func:`slow_operations`.)"""
    rng = random.Random(seed)
    operations: list[dict[str, Any]] = [
        {"kind": "compute.serviceAttachments.insert", "outcome": "fail", "code": 13, "count": 1},
        {"kind": "compute.firewalls", "outcome": "fail", "code": 13, "count": rng.randint(0, 1)},
    ]
    return {
        "seed": seed,
        "rules": [
            {"path": "/operations/", "delay": 0.05, "rate": 0.3},
            {"api": "compute", "method": "POST", "status": 409, "reason": "operationInProgress", "rate": 0.2},
            {"api": "compute", "method": "DELETE", "status": 409, "reason": "operationInProgress", "rate": 0.2},
            {"method": "GET", "reset": "before", "rate": 0.05},
            {"method": "POST", "reset": "before", "rate": 0.08},
            {"method": "DELETE", "reset": "after", "rate": 0.15},
            {"api": "apigee", "status": 503, "rate": 0.1},
            {"api": "dns", "delay": 0.1, "status": 503, "rate": 0.1},
        ],
        "operations": operations,
    }


def slow_operations(seed: int) -> dict[str, float]:
    """Operation durations (emulator ``op_seconds_overrides``): on odd seeds the Apigee DNS zone's
    creation outlasts the first apply's timeout, so a re-run must find it in flight and wait."""
    slow = {"apigee.endpointAttachments.create": 0.3, "compute": 0.1}
    if seed % 2:
        slow["apigee.dnsZones.create"] = TIMEOUT + 0.5
    return slow


def faults_injected(server: EmulatorServer) -> int:
    """How many request and operation faults the emulator has fired so far."""
    dump = server.world.faults.dump()
    return sum(r["hits"] for r in dump["rules"]) + sum(o["hits"] for o in dump["operations"])


def until_ok(run: Any) -> int:
    """Call ``run`` (an apply or destroy) as a user would until it succeeds; the runs it took."""
    for runs in range(1, MAX_RUNS + 1):
        try:
            result = run()
        except errors.ApigeePscError:
            continue
        if result is None or getattr(result, "ok", True):
            return runs
    raise AssertionError(f"no success in {MAX_RUNS} runs")


@pytest.mark.parametrize("seed", [101, 102, 103, 104])
def test_storm_during_apply_and_destroy_converges_then_leaves_nothing(
    server: EmulatorServer, seed: int, request: pytest.FixtureRequest
) -> None:
    spec = SouthboundSpec.from_dict(SEED_SPEC, source="seed.yaml")
    server.configure(op_seconds_overrides=slow_operations(seed))
    server.set_faults(storm(seed))
    applies = until_ok(lambda: southbound(spec, timeout=TIMEOUT).apply())
    assert_one_of_each(server, SEED_RESOURCES)
    destroys = until_ok(lambda: southbound(spec, timeout=TIMEOUT).destroy())
    faults = faults_injected(server)
    assert faults > 0
    assert inventory(server) == {}
    for name, value in (("applies", applies), ("destroys", destroys), ("faults", faults)):
        request.node.user_properties.append((name, value))  # docs/reliability.md's figures (--junitxml)


def _spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "seed.yaml"
    path.write_text(yaml.safe_dump(SEED_SPEC))
    return path


def _start(server: EmulatorServer, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "apigee_psc", *args],
        env=cli_env(server),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("stagger", [0.0, 0.4])
def test_two_apply_processes_of_one_spec_converge(server: EmulatorServer, tmp_path: Path, stagger: float) -> None:
    """Two processes share no in-process lock: they meet only at the API (the organization
    lock, ALREADY_EXISTS, fingerprints). Each ends converged or with an error a re-run fixes,
    and there is one of each resource."""
    spec_path = str(_spec_file(tmp_path))
    first = _start(server, "apply", spec_path, "--yes", "--timeout", "60")
    time.sleep(stagger)
    second = _start(server, "apply", spec_path, "--yes", "--timeout", "60")
    outcomes = [(p.wait(timeout=120), p.communicate()[1]) for p in (first, second)]
    for code, err in outcomes:
        assert code in (0, 1), err
        assert "Traceback" not in err
    if any(code != 0 for code, _ in outcomes):
        assert southbound(SouthboundSpec.from_yaml(spec_path)).apply().ok
    assert_one_of_each(server, SEED_RESOURCES)
    assert not southbound(SouthboundSpec.from_yaml(spec_path)).plan().has_changes
    created = [
        r
        for r in server.requests(api="apigee", method="POST")
        if r["path"].endswith(("/endpointAttachments", "/dnsZones")) and r["status"] == 200
    ]
    assert len(created) == 2, created  # the loser was told ALREADY_EXISTS (or waited), never a second one


def _kill_when(process: subprocess.Popen[str], ready: Any, deadline: float = 60.0) -> None:
    stop = time.monotonic() + deadline
    while not ready() and process.poll() is None:
        assert time.monotonic() < stop, "the kill point was never reached"
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_kill_9_at_a_seeded_moment_of_apply_then_rerun_converges(
    server: EmulatorServer, tmp_path: Path, seed: int
) -> None:
    """The kill falls at a seeded time after the process's first request (0 to 2.5 s), with
    operations slow enough (0.4 s) that some are in flight when it dies."""
    server.configure(op_seconds=0.4)
    spec_path = _spec_file(tmp_path)
    delay = random.Random(seed).uniform(0.0, 2.5)
    start = len(server.requests())
    process = _start(server, "apply", str(spec_path), "--yes", "--timeout", "30")
    started: list[float] = []

    def due() -> bool:
        if not started and len(server.requests()) > start:
            started.append(time.monotonic())
        return bool(started) and time.monotonic() - started[0] >= delay

    _kill_when(process, due)
    assert southbound(SouthboundSpec.from_yaml(spec_path)).apply().ok
    assert_one_of_each(server, SEED_RESOURCES)


@pytest.mark.parametrize("kill_after", [3, 10, 20])
def test_kill_9_during_destroy_then_rerun_leaves_nothing(
    server: EmulatorServer, tmp_path: Path, kill_after: int
) -> None:
    spec_path = _spec_file(tmp_path)
    spec = SouthboundSpec.from_yaml(spec_path)
    assert southbound(spec).apply().ok
    server.configure(op_seconds=0.2)
    start = len(server.requests())
    process = _start(server, "destroy", str(spec_path), "--yes", "--timeout", "30")
    _kill_when(process, lambda: len(server.requests()) - start >= kill_after)
    until_ok(lambda: southbound(spec).destroy())
    assert inventory(server) == {}
