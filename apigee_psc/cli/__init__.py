"""The ``apigee-psc`` command: a thin layer over :mod:`apigee_psc.southbound`.

Exit codes: 0 success / in sync, 1 failed or not ready, 2 bad input, 3 ``plan --exit-code``
with changes, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM). Errors print one line (plus
the diagnosis when there is one), or one JSON object under ``-o json``; ``--debug`` shows the
traceback and debug logs. The global options work before or after the command.

The package: ``_common`` (exit codes, options, output, errors), ``_files`` (specs and saved
plans), and the commands: ``_changes`` (plan, apply, show, destroy), ``_reads`` (status,
diagnose, list, target-xml), ``_watch`` (watch), ``_tools`` (schema, emulator, demo).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any, NoReturn

import click

from apigee_psc._version import __version__
from apigee_psc.cli import _changes, _reads, _tools, _watch
from apigee_psc.cli._common import (
    CANCEL,
    EXIT_NOT_READY,
    OUTPUT_CHOICE,
    PROJECT_ENV,
    State,
    configure_logging,
    error_json,
    terminate,
)

__all__ = ["cli", "console", "main"]

logger = logging.getLogger("apigee_psc.cli")


class _Cli(click.Group):
    """The command group: JSON usage errors under ``-o json``."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        argv = list(kwargs.get("args") or (args[0] if args else None) or sys.argv[1:])
        json_output = any(
            a in ("-ojson", "--output=json") or (a in ("-o", "--output") and argv[i + 1 : i + 2] == ["json"])
            for i, a in enumerate(argv)
        )
        if not json_output:
            return super().main(*args, **kwargs)
        try:
            return super().main(*args, **{**kwargs, "standalone_mode": False})
        except click.ClickException as exc:
            click.echo(error_json(type(exc).__name__, exc.format_message(), exc.exit_code, None), err=True)
            sys.exit(exc.exit_code)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo(error_json("Aborted", "aborted", EXIT_NOT_READY, None), err=True)
            sys.exit(EXIT_NOT_READY)


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="apigee-psc")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.option("--endpoint", default=None, help="Root URL of every API (default: Google, or APIGEE_PSC_EMULATOR_HOST).")
@click.option("--quota-project", default=None, help="Project billed for API quota.")
@click.option(
    "--project",
    default=None,
    envvar=list(PROJECT_ENV),
    show_envvar=True,
    help="Producer project for specs that leave `project` out [default: the active gcloud configuration's].",
)
@click.option("--output", "-o", type=OUTPUT_CHOICE, default="text", help="Output format of every command.")
@click.pass_context
def cli(
    ctx: click.Context, debug: bool, endpoint: str | None, quota_project: str | None, project: str | None, output: str
) -> None:
    """Provision Apigee X southbound connectivity over Private Service Connect.

    The global options may also be given after the command. Shell completion:
    eval "$(_APIGEE_PSC_COMPLETE=bash_source apigee-psc)" (zsh_source, fish_source).
    """
    state = ctx.ensure_object(State)
    state.debug = debug
    state.endpoint = endpoint
    state.quota_project = quota_project
    state.project = project
    state.output = output
    configure_logging(debug, output == "json")


for _command in (
    _changes.plan,
    _changes.apply,
    _changes.show,
    _changes.destroy,
    _reads.status,
    _reads.diagnose,
    _reads.list_,
    _reads.target_xml,
    _watch.watch,
    _tools.schema,
    _tools.emulator,
    _tools.demo,
):
    cli.add_command(_command)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``apigee-psc`` console script. SIGTERM stops it like Ctrl-C (exit 143)."""
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    CANCEL.clear()
    if threading.current_thread() is threading.main_thread():  # signal handlers live in the main thread
        signal.signal(signal.SIGTERM, terminate)
    cli.main(args=list(argv) if argv is not None else None, prog_name="apigee-psc")


def console() -> NoReturn:
    """The ``apigee-psc`` console script and ``python -m apigee_psc``: :func:`main`, then a
    fast exit.

    A normal interpreter exit finalizes every imported module, and google-cloud-compute's
    message classes alone take about 0.4 s of a one-second ``plan`` to tear down. The command
    has nothing left to clean up when :func:`main` returns (its files are closed, its thread
    pools joined), so it flushes its output and logs and leaves at once with the same exit
    status. Code that calls :func:`main` itself keeps the ordinary exit.
    """
    try:
        main()
        code = 0
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:  # sys.exit("message"): print it, status 1, as the interpreter would
            print(exc.code, file=sys.stderr)
            code = 1
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):  # the reader went away, or the stream is closed
            code = code or 1
    os._exit(code)
