"""The pytest plugin's fixtures and the ``main()`` entry point."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import requests

from apigee_psc.emulator import EMULATOR_ENV, EmulatorServer, main


def test_fixture_apigee_emulator_sets_env_and_serves(apigee_emulator: EmulatorServer) -> None:
    assert os.environ[EMULATOR_ENV] == apigee_emulator.host_port
    assert apigee_emulator.host_port == f"127.0.0.1:{apigee_emulator.port}"
    org = requests.get(f"http://{os.environ[EMULATOR_ENV]}/v1/organizations/my-organization", timeout=5)
    assert org.json()["apigeeProjectId"].startswith("my-organization-tenant-")
    apigee_emulator.configure(orgs=["leaky-org"])
    apigee_emulator.set_faults([{"api": "apigee", "status": 503}])


def test_fixture_apigee_emulator_reset_between_tests(apigee_emulator: EmulatorServer) -> None:
    assert apigee_emulator.requests() == []
    assert apigee_emulator.world.faults.rules == []
    assert sorted(apigee_emulator.world.orgs) == ["my-organization"]
    assert apigee_emulator.world.config.op_seconds == 0


def test_main_bad_org_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--port", "0", "--org", "x:weird"]) == 2
    assert "NAME:peered" in capsys.readouterr().err


def test_main_port_in_use_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    with EmulatorServer() as busy:
        assert main(["--port", str(busy.port)]) == 1
    assert "cannot listen" in capsys.readouterr().err


def test_main_serves_and_prints_env_line() -> None:
    code = (
        "from apigee_psc.emulator import main; "
        "raise SystemExit(main(['--port', '0', '--org', 'a', '--org', 'b:peered']))"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "export APIGEE_PSC_EMULATOR_HOST=127.0.0.1:" in line
        host_port = line.rsplit("=", 1)[1].strip()
        org = requests.get(f"http://{host_port}/v1/organizations/b", timeout=5).json()
        assert "disableVpcPeering" not in org
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def _outward_ipv4() -> str | None:
    """An address of this machine that is not loopback (None when there is none)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
            address = str(probe.getsockname()[0])
        except OSError:
            return None
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def test_cli_emulator_every_option_non_loopback_bind_and_library_over_plain_http(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    address = _outward_ipv4()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    cmd = [sys.executable, "-c", "from apigee_psc.cli import cli; cli()", "emulator"]
    cmd += ["--host", "0.0.0.0", "--port", "0", "--seed", "3", "--verbose", "--op-seconds", "0", "--org", "ci-org"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "serving http://0.0.0.0:" in line, line
        port = line.rsplit(":", 1)[1].strip()
        monkeypatch.setenv(EMULATOR_ENV, f"{address}:{port}")
        from apigee_psc import ApigeeClient

        org = ApigeeClient("ci-org").get_organization()
        assert org.apigee_project_id and org.apigee_project_id.startswith("ci-org-tenant-")
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
    assert proc.stderr is not None
    assert "GET /v1/organizations/ci-org" in proc.stderr.read()  # --verbose logs every request
