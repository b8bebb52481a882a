"""Issue 18 ("Trust, round 2"): what the command shows, asks and applies is what the user saw.

A fleet applies the plans that were confirmed (stale ones refused), ``destroy`` shows its plan
before asking (``plan --destroy`` shows it without writing), an endpoint that refuses
connections fails within seconds, ``-o json`` errors are one JSON object carrying their
problems, and Ctrl-C at the question exits 130.
"""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from integration_helpers import last_seq, mutations

from apigee_psc.cli import cli
from apigee_psc.emulator import EmulatorServer

ROOT = Path(__file__).resolve().parents[2]
SEED = str(ROOT / "examples" / "seed-scenario.yaml")


def _read_until(fd: int, marker: bytes, timeout: float) -> bytes:
    """What the terminal shows until ``marker`` appears (or the timeout, or the end)."""
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the other side closed
                break
            if not chunk:
                break
            seen += chunk
    return seen


def test_ctrl_c_at_the_confirmation_question_exits_130_and_changes_nothing(producer: EmulatorServer) -> None:
    """A real SIGINT to the command waiting at its question, on a pseudo-terminal."""
    master, slave = pty.openpty()
    env = {**os.environ, "APIGEE_PSC_EMULATOR_HOST": producer.host_port, "NO_COLOR": "1"}
    before = last_seq(producer)
    process = subprocess.Popen(
        [sys.executable, "-m", "apigee_psc", "apply", SEED],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    try:
        shown = _read_until(master, b"Apply 1 spec(s)?", 60)
        assert b"Apply 1 spec(s)?" in shown, shown.decode(errors="replace")
        time.sleep(0.2)  # at the question, reading the terminal
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=30)
        rest = _read_until(master, b"\x00never", 2).decode(errors="replace")
    finally:
        if process.poll() is None:
            process.kill()
        os.close(master)
    assert code == 130, rest
    assert "Aborted!" not in rest and "Traceback" not in rest
    assert "interrupted" in rest and "nothing was changed" in rest
    assert mutations(producer, before) == []


# -- 8. an endpoint someone chose that refuses connections fails within seconds -------------------


def _closed_port() -> int:
    """A local port where nothing listens (bound, then closed)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_plan_against_a_dead_emulator_host_fails_within_seconds_naming_it(tmp_path: Path) -> None:
    port = _closed_port()
    env = {**os.environ, "APIGEE_PSC_EMULATOR_HOST": f"127.0.0.1:{port}"}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "apigee_psc", "plan", SEED],
        capture_output=True,
        text=True,
        env=env,
        timeout=100,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 1, done.stderr
    assert elapsed < 20, elapsed
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and f"http://127.0.0.1:{port}/" in last, done.stderr
    assert "APIGEE_PSC_EMULATOR_HOST" in last and "connection refused" in last, last
    assert "Traceback" not in done.stderr
    # --endpoint, under -o json: standard error is the one JSON error (no warning lines before it)
    env.pop("APIGEE_PSC_EMULATOR_HOST")
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "apigee_psc", "--endpoint", f"http://127.0.0.1:{port}/", "plan", SEED, "-o", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=100,
        check=False,
    )
    assert time.monotonic() - started < 20
    error = json.loads(done.stderr)["error"]
    assert done.returncode == 1 and done.stdout == ""
    assert error["type"] == "TransportError" and f"http://127.0.0.1:{port}/ (set by endpoint=)" in error["message"]


def test_a_dead_endpoint_option_fails_within_seconds_for_compute_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--endpoint`` (``endpoint=``) through google-cloud-compute, and the command's JSON error."""
    from apigee_psc import errors
    from apigee_psc.compute import ComputeClient

    monkeypatch.delenv("APIGEE_PSC_EMULATOR_HOST", raising=False)
    url = f"http://127.0.0.1:{_closed_port()}/"
    started = time.monotonic()
    with pytest.raises(errors.TransportError) as info:
        ComputeClient("my-project", "us-west1", endpoint=url).firewalls.get("allow-psc-nat-80")
    assert time.monotonic() - started < 15
    assert f"nothing answers at {url} (set by endpoint=)" in str(info.value)
    started = time.monotonic()
    result = CliRunner().invoke(cli, ["--endpoint", url, "list", "--org", "my-organization", "-o", "json"])
    assert time.monotonic() - started < 15
    assert result.exit_code == 1 and result.stdout == ""
    error = json.loads(result.stderr)["error"]
    assert error["type"] == "TransportError" and url in error["message"]
