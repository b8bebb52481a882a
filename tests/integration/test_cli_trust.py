"""Issue 18 ("Trust, round 2"): what the command shows, asks and applies is what the user saw.

A fleet applies the plans that were confirmed (stale ones refused), ``destroy`` shows its plan
before asking (``plan --destroy`` shows it without writing), an endpoint that refuses
connections fails within seconds, ``-o json`` errors are one JSON object carrying their
problems, and Ctrl-C at the question exits 130.
"""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from integration_helpers import last_seq, mutations

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
