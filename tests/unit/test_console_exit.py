"""The console script's fast exit: same status, nothing lost from stdout or stderr."""

from __future__ import annotations

import json
import subprocess
import sys


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "apigee_psc", *args], capture_output=True, text=True, timeout=60)


def test_large_output_through_a_pipe_arrives_whole_with_status_0() -> None:
    done = _run("schema", "spec")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["type"] == "object"  # the whole document, flushed before the exit


def test_error_status_and_message_survive_the_fast_exit() -> None:
    done = _run("plan", "/nonexistent/spec.yaml")
    assert done.returncode == 2
    assert "/nonexistent/spec.yaml" in done.stderr


def test_console_exits_like_the_interpreter_for_a_message_passed_to_sys_exit() -> None:
    code = (
        "import sys\n"
        "import apigee_psc.cli as cli\n"
        "cli.main = lambda: sys.exit('stopped: reason')\n"
        "print('before', flush=False)\n"
        "cli.console()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stdout == "before\n" and done.stderr == "stopped: reason\n"
