"""How progress is shown: a live table on a terminal, a table updated in place in a notebook,
throttled plain lines elsewhere."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from rich.text import Text

from apigee_psc.cli._common import table
from apigee_psc.errors import ValidationError
from apigee_psc.progress import ProgressDisplay, in_notebook, or_notebook_display
from apigee_psc.southbound import ProgressEvent

STEP = "EndpointAttachment gkebackend"


def _wait(state: str, elapsed: float) -> ProgressEvent:
    return ProgressEvent("apply", STEP, "waiting", "for the attachment", state, elapsed)


def test_progress_off_a_terminal_shows_state_changes_and_a_heartbeat(capsys: pytest.CaptureFixture[str]) -> None:
    progress = ProgressDisplay("lines", every=30.0)
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


def _terminal() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=True, width=120, color_system=None), buffer


def test_progress_on_a_terminal_keeps_one_line_per_entity_updated_in_place() -> None:
    console, buffer = _terminal()
    progress = ProgressDisplay("terminal", console=console)
    other = "ServiceAttachment gkebackend"
    progress(ProgressEvent("apply", other, "started", "create"))
    progress(_wait("CREATING/UNAVAILABLE", 0))
    progress(ProgressEvent("apply", other, "done", "", None, 2))
    progress(_wait("ACTIVE/PENDING", 5))
    progress(ProgressEvent("apply", STEP, "done", "", "ACTIVE/ACCEPTED", 9))
    progress.close()
    raw = buffer.getvalue()
    assert "\x1b[1A\x1b[2K" in raw  # rich moves the cursor up and clears, to redraw the lines in place
    last_frame = [line for line in Text.from_ansi(raw.rsplit("\x1b[2K", 1)[1]).plain.splitlines() if line.strip()]
    assert len(last_frame) == 2  # one line per entity, however many events each had
    assert other in last_frame[0] and "done" in last_frame[0]
    assert STEP in last_frame[1] and "[ACTIVE/ACCEPTED]" in last_frame[1] and "9s" in last_frame[1]


def test_progress_on_a_terminal_does_not_print_plain_lines(capsys: pytest.CaptureFixture[str]) -> None:
    console, buffer = _terminal()
    progress = ProgressDisplay("terminal", console=console)
    progress(_wait("ACTIVE/PENDING", 5))
    progress.close()
    assert capsys.readouterr().err == ""
    assert "ACTIVE/PENDING" in buffer.getvalue()


def test_table_columns_fit_long_names() -> None:
    name = "n" * 40
    text = table(("NAME", "STATE", "HOST"), [(name, "ACTIVE", "7.0.3.4"), ("short", "CREATING", None)])
    header, *rows = [line for line in text.splitlines() if set(line.strip()) - {"-", "─", " "}]
    assert header.index("STATE") == rows[0].index("ACTIVE") == rows[1].index("CREATING")
    assert rows[0].startswith(name)
    assert header.index("HOST") == rows[0].index("7.0.3.4")


class _Handle:
    """What IPython's ``display(..., display_id=True)`` returns: a handle whose updates
    redraw the same output."""

    def __init__(self, shown: list[dict[str, str]]) -> None:
        self.shown = shown

    def update(self, bundle: dict[str, str], *, raw: bool) -> None:
        assert raw
        self.shown[-1] = bundle


def test_progress_in_a_notebook_draws_one_output_updated_in_place() -> None:
    shown: list[dict[str, str]] = []

    def display(bundle: dict[str, str], *, raw: bool, display_id: bool) -> _Handle:
        assert raw and display_id
        shown.append(bundle)
        return _Handle(shown)

    progress = ProgressDisplay("notebook", display=display)
    other = "ServiceAttachment <gkebackend>"
    progress(ProgressEvent("apply", other, "started", "create"))
    progress(_wait("CREATING/UNAVAILABLE", 0))
    progress(ProgressEvent("apply", other, "done", "", None, 2))
    progress(ProgressEvent("apply", STEP, "done", "", "ACTIVE/ACCEPTED", 9))
    progress.close()
    assert len(shown) == 1  # one output, redrawn: not one per event
    lines = [line for line in shown[0]["text/plain"].splitlines() if line.strip()]
    assert len(lines) == 2 and "done" in lines[0] and "[ACTIVE/ACCEPTED]" in lines[1]
    html = shown[0]["text/html"]
    assert html.startswith("<pre") and "&lt;gkebackend&gt;" in html and "<gkebackend>" not in html


def test_the_notebook_default_is_only_taken_in_a_kernel() -> None:
    assert not in_notebook()  # pytest is no Jupyter kernel
    assert or_notebook_display(None) is None
    given = print
    assert or_notebook_display(given) is given
    with pytest.raises(ValidationError):
        ProgressDisplay("html")  # type: ignore[arg-type]


def test_progress_lines_throttle_each_specs_waits_on_their_own(capsys: pytest.CaptureFixture[str]) -> None:
    progress = ProgressDisplay("lines", every=30.0)
    for spec in ("a.yaml", "b.yaml", "a.yaml", "b.yaml"):  # same step and state in two specs of a fleet
        progress(ProgressEvent("apply", STEP, "waiting", "for the attachment", "ACTIVE/PENDING", 5, spec))
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2, lines  # each spec's first wait is shown, the repeats are not


def _fleet_events(specs: int, steps: int, running: set[int], failed: set[int]) -> list[ProgressEvent]:
    events = []
    for s in range(specs):
        for step in range(steps):
            status = "failed" if s in failed and step == 0 else "waiting" if s in running and step == 0 else "done"
            events.append(ProgressEvent("apply", f"Step{step} x", status, "", None, 1, f"spec{s:02}.yaml"))
    return events


def test_a_fleet_table_taller_than_the_terminal_keeps_failed_and_running_rows_and_names_specs() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=120, height=50, color_system=None)
    progress = ProgressDisplay("terminal", console=console)
    for event in _fleet_events(20, 4, running={3, 17}, failed={11}):  # 80 rows for 50 lines
        progress(event)
    live = buffer.getvalue()
    frame = [line for line in Text.from_ansi(live[live.rindex("\x1b[2K") :]).plain.splitlines() if line.strip()]
    assert len(frame) <= 49 and not any(line.strip() == "..." for line in frame)
    assert frame[0].startswith("spec11.yaml") and "failed" in frame[0]  # failed first
    assert {line.split()[0] for line in frame[1:3]} == {"spec03.yaml", "spec17.yaml"}  # then the running
    assert "more done" in frame[-1]
    progress.close()
    final = Text.from_ansi(buffer.getvalue()[len(live) :]).plain
    assert sum(1 for line in final.splitlines() if ".yaml" in line) == 80  # the last frame is whole


def test_a_fleet_names_each_spec_in_lines_and_one_spec_does_not(capsys: pytest.CaptureFixture[str]) -> None:
    single = ProgressDisplay("lines", show_spec=False)
    single(ProgressEvent("apply", STEP, "done", spec="a.yaml"))
    fleet = ProgressDisplay("lines", show_spec=True)
    fleet(ProgressEvent("apply", STEP, "done", spec="a.yaml"))
    assert capsys.readouterr().err.splitlines() == [f"apply: {STEP}: done", f"a.yaml: apply: {STEP}: done"]
