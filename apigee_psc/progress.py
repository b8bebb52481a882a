"""Live progress of an apply or destroy: one line per entity, updated in place.

:class:`ProgressDisplay` is a progress callback (``apply(progress=ProgressDisplay())``) that
shows the :class:`~apigee_psc.southbound.ProgressEvent` s where it runs:

* in a Jupyter kernel, a table in the cell's output, redrawn in place through an IPython
  display handle (no widget library needed); ``Southbound.apply()`` and ``destroy()`` use one
  there by default;
* on a terminal, a live table on standard error;
* anywhere else (a log file, CI), one plain line per event, a wait being repeated only when
  its state changes or every ``every`` seconds.

Both tables are the same rich table, so the command line and the notebook show the same rows.
For a fleet each row and line names its spec. A terminal table taller than the terminal keeps
the failed and running rows first and folds the oldest finished ones into one line.
"""

from __future__ import annotations

import importlib
import io
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from rich.console import Console
    from rich.live import Live
    from rich.table import Table

    from apigee_psc.southbound.reports import ProgressEvent

__all__ = ["ProgressDisplay", "in_notebook", "or_notebook_display"]

Mode = Literal["notebook", "terminal", "lines"]
_MARKS = {"done": "[green]✓[/]", "skipped": "[dim]=[/]", "failed": "[red]✗[/]"}
_FINISHED = ("done", "skipped")


def in_notebook() -> bool:
    """True when running in a Jupyter kernel (looked up without importing IPython)."""
    ipython = sys.modules.get("IPython")
    shell = getattr(ipython, "get_ipython", lambda: None)() if ipython is not None else None
    if shell is None:
        return False
    return type(shell).__name__ == "ZMQInteractiveShell" or "IPKernelApp" in getattr(shell, "config", {})


def or_notebook_display(
    progress: Callable[[ProgressEvent], None] | None,
) -> Callable[[ProgressEvent], None] | None:
    """``progress`` itself when given; else, in a Jupyter kernel, a notebook
    :class:`ProgressDisplay` (so a long apply shows where it is), and elsewhere ``None``."""
    if progress is None and in_notebook():
        return ProgressDisplay("notebook")
    return progress


class ProgressDisplay:
    """Show progress events as they come: see the module's description for the three modes.

    ``mode`` is ``"notebook"``, ``"terminal"`` or ``"lines"`` (default: guessed from where it
    runs). ``every`` is the heartbeat of a repeated wait in ``"lines"`` mode. ``console`` (a
    rich Console) replaces standard error in ``"terminal"`` mode and ``display`` IPython's
    ``display`` in ``"notebook"`` mode, for tests. ``show_spec`` names each row's spec (a
    fleet); ``None`` names them once events of a second spec arrive. Safe to call from several
    threads; call :meth:`close` (or use it as a context manager) when done.
    """

    def __init__(
        self,
        mode: Mode | None = None,
        *,
        every: float = 30.0,
        console: Console | None = None,
        display: Callable[..., Any] | None = None,
        show_spec: bool | None = None,
    ) -> None:
        if mode is None:
            mode = "notebook" if in_notebook() else "terminal" if sys.stderr.isatty() else "lines"
        if mode not in ("notebook", "terminal", "lines"):
            from apigee_psc.errors import ValidationError

            raise ValidationError("mode", mode, "notebook, terminal or lines")
        self.mode: Mode = mode
        self.every = every
        self.show_spec = show_spec
        self._specs: set[str | None] = set()
        self._lock = threading.Lock()
        self._rows: dict[str, ProgressEvent] = {}  # one per entity, in the order first seen
        self._shown: dict[str, tuple[str | None, float]] = {}
        self._live: Live | None = None
        self._display = display
        self._handle: Any = None
        if mode == "terminal":
            from rich.console import Console
            from rich.live import Live

            self._live = Live(
                console=console or Console(stderr=True), auto_refresh=False, transient=False, redirect_stdout=False
            )
            self._live.start()

    def __enter__(self) -> ProgressDisplay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __call__(self, event: ProgressEvent) -> None:
        key = f"{event.spec or ''}:{event.phase}:{event.step}"  # one entity of one spec
        with self._lock:
            self._specs.add(event.spec)
            if self.mode == "lines":
                self._line(key, event)
                return
            self._rows[key] = event
            if self._live is not None:
                self._live.update(self.table(limit=self._live.console.height - 1), refresh=True)
            elif self.mode == "notebook":
                self._show()

    @property
    def _naming_specs(self) -> bool:
        return self.show_spec if self.show_spec is not None else len(self._specs) > 1

    def table(self, limit: int | None = None) -> Table:
        """The rich table of the entities seen so far, one row each: (for a fleet, the spec),
        mark, phase and step, status, state and seconds.

        With ``limit`` (lines), a table that would be taller shows the failed rows, then the
        running ones, then the latest finished ones that fit, and one line counting the rest."""
        from rich.table import Table

        naming = self._naming_specs
        table = Table.grid(padding=(0, 1))
        for _ in range(6 if naming else 5):
            table.add_column(no_wrap=True)
        events = list(self._rows.values())
        folded = 0
        if limit is not None and len(events) > max(limit, 1):
            failed = [e for e in events if e.status == "failed"]
            running = [e for e in events if e.status != "failed" and e.status not in _FINISHED]
            finished = [e for e in events if e.status in _FINISHED]
            room = max(0, max(limit, 1) - 1 - len(failed) - len(running))  # one line for the count
            folded = len(finished) - room
            events = [*failed, *running, *(finished[-room:] if room else [])]
        for event in events:
            cells = [
                _MARKS.get(event.status, "[yellow]…[/]"),
                f"{event.phase}: {event.step}",
                event.status,
                f"[{event.state}]" if event.state else "",
                f"{event.elapsed:.0f}s" if event.status == "waiting" or event.elapsed >= 1 else "",
            ]
            table.add_row(*([_escape(event.spec or "")] if naming else []), *cells)
        if folded > 0:
            table.add_row(*([""] if naming else []), "[dim]✓[/]", f"[dim]… and {folded} more done[/]", "", "", "")
        return table

    def close(self) -> None:
        """Stop redrawing (the last table stays where it was shown)."""
        with self._lock:
            if self._live is not None:
                self._live.update(self.table(), refresh=False)  # the last frame whole, however tall
                self._live.stop()
                self._live = None

    def _line(self, key: str, event: ProgressEvent) -> None:
        if event.status == "waiting":
            state, at = self._shown.get(key, (None, -self.every))
            if event.state == state and event.elapsed - at < self.every:
                return
            self._shown[key] = (event.state, event.elapsed)
        spec = f"{event.spec}: " if self._naming_specs and event.spec else ""
        print(f"{spec}{event.to_text()}", file=sys.stderr, flush=True)

    def _show(self) -> None:
        """Draw the table in the cell's output: the first time as a new output with a display
        id, then by updating that output in place."""
        from rich.console import Console

        console = Console(record=True, file=io.StringIO(), width=120, force_jupyter=False, color_system="truecolor")
        console.print(self.table())
        bundle = {
            "text/html": console.export_html(inline_styles=True, code_format=_HTML, clear=False),
            "text/plain": console.export_text(),
        }
        if self._handle is not None:
            self._handle.update(bundle, raw=True)
            return
        if self._display is not None:
            self._handle = self._display(bundle, raw=True, display_id=True)
        else:  # IPython is there: in_notebook() found it running
            ipython_display = importlib.import_module("IPython.display")
            self._handle = ipython_display.display(bundle, raw=True, display_id=True)


def _escape(text: str) -> str:
    """``text`` shown as it is in a rich table (a ``[`` in a file name is not markup)."""
    from rich.markup import escape

    return escape(text)


_HTML = '<pre style="white-space:pre;overflow-x:auto;line-height:normal;font-family:Menlo,monospace">{code}</pre>'
