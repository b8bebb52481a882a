"""``apigee-psc watch``: the day-two loop (conditions, events, metrics, safe heals)."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Mapping
from types import FrameType
from typing import Any

import click

from apigee_psc import errors
from apigee_psc.cli._common import (
    CANCEL,
    EXIT_NOT_READY,
    EXIT_OK,
    EXIT_TERMINATED,
    SPECS,
    State,
    client_options,
    command_options,
    reported,
    table,
    timeout_option,
)
from apigee_psc.cli._files import load_specs


@click.command()
@SPECS
@click.option("--interval", default="5m", show_default=True, help="Pause between passes: seconds, or 30s, 5m, 1h.")
@click.option("--jitter", type=float, default=0.1, show_default=True, help="Vary each pause by up to this fraction.")
@click.option("--once", is_flag=True, help="One pass, then exit: 0 if every spec is ready, in sync and owned, else 1.")
@click.option(
    "--heal",
    type=click.Choice(["none", "safe"]),
    default="none",
    show_default=True,
    help="safe: repair what this spec owns when the repair widens nothing (see docs/watch.md).",
)
@click.option("--events", "events_path", default=None, help="Write every event as a JSON line to FILE (- for stdout).")
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=None, help="Serve /metrics and /healthz here.")
@click.option("--metrics-address", default="0.0.0.0", show_default=True, help="Address the metrics server binds.")
@click.option("--textfile", default=None, help="Write the metrics to this .prom file after each pass (node-exporter).")
@click.option("--pushgateway", default=None, help="Push-add the metrics to this Pushgateway URL after each pass.")
@timeout_option(1800.0, "Seconds a heal waits for each step.")
@command_options
def watch(
    state: State,
    specs: tuple[str, ...],
    interval: str,
    jitter: float,
    once: bool,
    heal: str,
    events_path: str | None,
    metrics_port: int | None,
    metrics_address: str,
    textfile: str | None,
    pushgateway: str | None,
    timeout: float,
    output: str,
) -> None:
    """Watch connections on day two: conditions, drift, capacity, and (--heal safe) safe repairs.

    Observe-only by default. Each pass reads what status reads; events go to standard output
    (text) or, with --events, one JSON object a line (`apigee-psc schema event`). SIGTERM ends
    the pass in progress cleanly (exit 143).
    """
    from apigee_psc.southbound.conditions import WatchEvent
    from apigee_psc.southbound.watch import Watcher, parse_interval

    stop = threading.Event()
    terminated: list[int] = []

    def on_term(signum: int, frame: FrameType | None) -> None:
        terminated.append(signum)
        stop.set()
        CANCEL.set()  # a heal in progress stops at its next safe point

    with reported(state):
        seconds = parse_interval(interval)
        if textfile is not None and not textfile.endswith(".prom"):
            raise errors.ValidationError("--textfile", textfile, "a path ending in .prom (node-exporter reads those)")
        if pushgateway is not None and not pushgateway.startswith(("http://", "https://")):
            raise errors.ValidationError("--pushgateway", pushgateway, "an http:// or https:// URL")
        loaded = load_specs(specs, state)
        metrics = None
        if metrics_port is not None or textfile is not None or pushgateway is not None:
            from apigee_psc.southbound.metrics import WatchMetrics

            metrics = WatchMetrics()
            metrics.healthy_after = 3 * seconds + 60
        sink = None
        if events_path is not None:
            sink = sys.stdout if events_path == "-" else open(events_path, "a", encoding="utf-8")  # noqa: SIM115
        text = output == "text" and events_path != "-"

        def on_event(event: WatchEvent) -> None:
            if sink is not None:
                sink.write(event.to_json() + "\n")
                sink.flush()
            if output == "json" and sink is None:
                click.echo(event.to_json())
            elif text and (event.type != "pass" or state.debug):
                click.echo(event.to_text())

        def after_pass(states: Mapping[str, Any]) -> None:
            if metrics is None:
                return
            if textfile is not None:
                metrics.write_textfile(textfile)
            if pushgateway is not None:
                try:
                    metrics.push(pushgateway)
                except OSError as exc:  # the next pass pushes again
                    click.echo(f"warning: push to {pushgateway} failed: {errors.redact(str(exc))}", err=True)

        watcher = Watcher(
            loaded,
            interval=seconds,
            jitter=jitter,
            heal=heal,
            on_event=on_event,
            metrics=metrics,
            after_pass=after_pass,
            timeout=timeout,
            **client_options(state),
        )
        if metrics is not None and metrics_port is not None:
            port = metrics.serve(metrics_port, metrics_address)
            click.echo(f"Serving /metrics and /healthz on {metrics_address}:{port}", err=True)
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, on_term)
        try:
            states = watcher.run(once=once, stop=stop)
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
            if metrics is not None:
                metrics.close()
            if sink is not None and sink is not sys.stdout:
                sink.close()
    if once and output == "text" and events_path != "-":
        click.echo(table(watcher.HEADERS, watcher.table()))
    if terminated:
        click.echo("terminated (SIGTERM): the pass in progress ended cleanly", err=True)
        sys.exit(EXIT_TERMINATED)
    sys.exit(EXIT_OK if all(s.ok for s in states.values()) else EXIT_NOT_READY)
