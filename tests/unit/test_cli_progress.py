"""How the CLI renders progress: a live line on a terminal, throttled plain lines elsewhere."""

from __future__ import annotations

import pytest

from apigee_psc.cli import _Progress
from apigee_psc.southbound import ProgressEvent

STEP = "EndpointAttachment gkebackend"


def _wait(state: str, elapsed: float) -> ProgressEvent:
    return ProgressEvent("apply", STEP, "waiting", "for the attachment", state, elapsed)


def test_progress_off_a_terminal_shows_state_changes_and_a_heartbeat(capsys: pytest.CaptureFixture[str]) -> None:
    progress = _Progress(tty=False, every=30.0)
    for event in [
        ProgressEvent("apply", STEP, "started", "create"),
        _wait("CREATING/UNAVAILABLE", 0),
        _wait("CREATING/UNAVAILABLE", 10),
        _wait("ACTIVE/PENDING", 20),
        _wait("ACTIVE/PENDING", 45),
        _wait("ACTIVE/PENDING", 51),
        ProgressEvent("apply", STEP, "done", "host 7.0.3.4", "ACTIVE/ACCEPTED", 60),
    ]:
        progress(event)
    lines = capsys.readouterr().err.splitlines()
    assert [line.split("[")[1].split("]")[0] if "[" in line else line.split(": ")[-1] for line in lines] == [
        "started create",
        "CREATING/UNAVAILABLE",
        "ACTIVE/PENDING",
        "ACTIVE/PENDING",
        "ACTIVE/ACCEPTED",
    ]
    assert "\r" not in "".join(lines)


def test_progress_on_a_terminal_rewrites_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    progress = _Progress(tty=True)
    progress(_wait("CREATING/UNAVAILABLE", 0))
    progress(_wait("ACTIVE/PENDING", 5))
    progress(ProgressEvent("apply", STEP, "done", "", "ACTIVE/ACCEPTED", 9))
    progress.close()
    err = capsys.readouterr().err
    assert err.count("\r") == 3  # click drops the ANSI clear code when the stream is not a real terminal
    assert err.endswith("done [ACTIVE/ACCEPTED] (9s)\n")
