"""kill -9 of a real `apigee-psc apply` at many points, then a re-run converges; and no token
shows anywhere a user or a log collector could see it."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

import pytest
import yaml
from google.oauth2.credentials import Credentials
from reliability_helpers import assert_one_of_each, southbound

from apigee_psc import errors
from apigee_psc.demo import SEED_SPEC
from apigee_psc.emulator import EmulatorServer
from apigee_psc.southbound import SouthboundSpec

SEED_RESOURCES = 7
TOKEN = "ya29.a0-reliability-secret-token"


def _spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "seed.yaml"
    path.write_text(yaml.safe_dump(SEED_SPEC))
    return path


def _cli(server: EmulatorServer, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "APIGEE_PSC_EMULATOR_HOST": server.url.split("//", 1)[1].rstrip("/")}
    return subprocess.Popen(
        [sys.executable, "-m", "apigee_psc", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("kill_after", [5, 20, 32, 33, 34, 35, 36, 38, 39, 40, 41, 43, 45, 48, 49, 50, 52, 55])
def test_kill_9_during_apply_then_rerun_converges(server: EmulatorServer, tmp_path: Path, kill_after: int) -> None:
    """SIGKILL once the emulator has answered ``kill_after`` requests of the apply: the seed's
    apply makes about 61, its writes at about 32 to 50 (reads, then subnet, firewall and IAM
    grant, service attachment, endpoint attachment, DNS zone, TXT and A records), so the points
    cluster there. Nothing the process meant to do later runs, no cleanup either. A fresh run
    finds what exists and what is in flight and finishes the job."""
    spec_path = _spec_file(tmp_path)
    start = len(server.requests())
    process = _cli(server, "apply", str(spec_path), "--yes", "--timeout", "30")
    deadline = time.monotonic() + 60
    while len(server.requests()) - start < kill_after and process.poll() is None:
        assert time.monotonic() < deadline, "the apply never reached the kill point"
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    spec = SouthboundSpec.from_yaml(spec_path)
    assert southbound(spec).apply().ok
    assert_one_of_each(server, SEED_RESOURCES)
    apigee_creates = [
        r
        for r in server.requests(api="apigee", method="POST")
        if r["path"].endswith(("/endpointAttachments", "/dnsZones")) and r["status"] == 200
    ]
    assert len(apigee_creates) <= 2  # one endpoint attachment, one DNS zone: never created twice


def test_token_never_leaks_to_output_logs_or_errors(
    server: EmulatorServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The server echoes the bearer token in its error messages (as a misbehaving proxy could):
    the library's exceptions, tracebacks and DEBUG logs, and the CLI's stdout, stderr, --debug
    traceback and JSON output, all show it redacted."""
    server.set_faults(
        [{"api": "compute", "status": 403, "message": f"denied: Authorization: Bearer {TOKEN} ({TOKEN})"}]
    )
    spec = SouthboundSpec.from_dict(SEED_SPEC, source="seed.yaml")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(errors.ApigeePscError) as caught:
        southbound(spec, credentials=Credentials(TOKEN)).plan()
    library = [str(caught.value), repr(caught.value), "".join(traceback.format_exception(caught.value)), caplog.text]
    for text in library:
        assert TOKEN not in text
    assert "redacted" in str(caught.value)

    spec_path = _spec_file(tmp_path)
    outputs = []
    commands = (["plan", str(spec_path)], ["--debug", "plan", str(spec_path)], ["status", str(spec_path), "-o", "json"])
    for args in commands:
        process = _cli(server, *args)
        out, err = process.communicate(timeout=60)
        outputs.append((args, process.returncode, out, err))
    for args, code, out, err in outputs:
        assert code != 0, args
        assert TOKEN not in out and TOKEN not in err, args
    debug_err = outputs[1][3]
    assert "Traceback" in debug_err  # --debug did print the traceback, redacted
    report = json.loads(outputs[2][2])
    assert report["state"] != "in_sync" and TOKEN not in json.dumps(report)


@pytest.mark.parametrize("through", ["cli", "python"])
def test_timeout_advice_is_in_the_users_terms(server: EmulatorServer, tmp_path: Path, through: str) -> None:
    """An operation that outlasts the timeout: the CLI says to run the command again, the
    Python API names the call that resumes the wait."""
    server.set_faults({"operations": [{"kind": "apigee.endpointAttachments.create", "outcome": "never", "count": 5}]})
    operation = "organizations/my-organization/operations/"
    if through == "cli":
        process = _cli(server, "apply", str(_spec_file(tmp_path)), "--yes", "--timeout", "2")
        _, err = process.communicate(timeout=120)
        assert process.returncode == 1
        assert f"run the same command again to resume: it waits on operation {operation}" in err
        assert "operations.wait(" not in err
    else:
        spec = SouthboundSpec.from_yaml(_spec_file(tmp_path))
        with pytest.raises(errors.WaitTimeout) as caught:
            southbound(spec, timeout=2.0).apply()
        assert f"resume with ApigeeClient.operations.wait('{operation}" in str(caught.value)
