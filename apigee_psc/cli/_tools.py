"""The commands around the connections: ``schema``, ``emulator`` and ``demo``."""

from __future__ import annotations

import json
import sys

import click

from apigee_psc.cli._common import EXIT_BAD_INPUT, Seconds, State, command_options, fail, global_options, reported


@click.command()
@click.argument("name", required=False, metavar="[NAME]")
@global_options
def schema(name: str | None) -> None:
    """Print the JSON Schema of a JSON output (or of the spec); without NAME, list the names."""
    from apigee_psc import _schema

    if name is None:
        click.echo("\n".join(_schema.NAMES))
        return
    if name not in _schema.NAMES:
        fail(f"no schema {name!r}; one of: {', '.join(_schema.NAMES)}", EXIT_BAD_INPUT, kind="UsageError")
    click.echo(json.dumps(_schema.load(name), indent=2))


@click.command(
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def emulator(args: tuple[str, ...]) -> None:
    """Serve the local emulator of the five Google APIs.

    Takes every option of ``python -m apigee_psc.emulator`` (--host, --port, --org, --op-seconds,
    --seed, --verbose, --producer, --producer-for SPEC...); ``apigee-psc emulator --help`` lists them.
    """
    from apigee_psc.emulator import main as emulator_main

    sys.exit(emulator_main(list(args)))


@click.command()
@click.option(
    "--op-seconds",
    type=Seconds(allow_zero=True),
    default=1.0,
    show_default=True,
    help="Seconds an Apigee operation takes.",
)
@click.option("--keep-running", is_flag=True, help="Leave the emulator running at the end (Ctrl-C to stop).")
@command_options
def demo(state: State, op_seconds: float, keep_running: bool, output: str) -> None:
    """Run the seed's whole scenario against an embedded emulator.

    With -o json, the narrative goes to standard error and standard output is one JSON object.
    """
    from apigee_psc.demo import run_demo

    with reported(state):
        code = run_demo(
            op_seconds=op_seconds,
            output=output,
            keep_running=keep_running,
            echo=lambda text: click.echo(text),
            note=lambda text: click.echo(text, err=output == "json"),
        )
    sys.exit(code)
