"""The ``apigee-psc`` command: a thin layer over :mod:`apigee_psc.southbound`.

Exit codes: 0 success / in sync, 1 failed or not ready, 2 bad input. Errors print one line
(plus the diagnosis when there is one); ``--debug`` shows the traceback and debug logs.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

import click

from apigee_psc import errors
from apigee_psc._version import __version__

if TYPE_CHECKING:
    from apigee_psc.southbound.engine import Southbound
    from apigee_psc.southbound.plan import ProgressEvent
    from apigee_psc.southbound.spec import SouthboundSpec

__all__ = ["main"]

EXIT_OK = 0
EXIT_NOT_READY = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
EXIT_CHANGES = 3  # plan --exit-code: the plan has changes

logger = logging.getLogger("apigee_psc")

OUTPUT = click.option(
    "--output", "-o", type=click.Choice(["text", "json"]), default="text", show_default=True, help="Output format."
)


class _State:
    debug: bool = False
    endpoint: str | None = None
    quota_project: str | None = None


if TYPE_CHECKING:
    _FloatParam = click.ParamType[float]
else:  # ParamType is generic in the click versions that type it, plain in older ones
    _FloatParam = click.ParamType


class _Seconds(_FloatParam):
    """A finite number of seconds above ``minimum`` (NaN, infinity and negatives are bad input)."""

    name = "seconds"

    def __init__(self, *, allow_zero: bool = False) -> None:
        self.allow_zero = allow_zero

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            self.fail(f"{str(value)[:40]!r} is not a number of seconds", param, ctx)
        low = "0 or more" if self.allow_zero else "more than 0"
        if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not self.allow_zero):
            self.fail(f"{str(value)[:40]!r} is not a finite number of seconds ({low})", param, ctx)
        return seconds


SECONDS = _Seconds()
#: A spec path: checked by the spec reader (regular file, size cap), so a directory, FIFO or
#: device is one short line like any other bad spec, not a usage error.
SPEC_PATH = click.Path(dir_okay=True, allow_dash=True)


def _fail(message: str, code: int, *, extra: str | None = None, kind: str = "Error") -> NoReturn:
    """Say what went wrong on stderr (as JSON under ``-o json``) and exit with ``code``."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.params.get("output") == "json":
        error: dict[str, Any] = {"type": kind, "message": errors.redact(message), "exit_code": code}
        if extra:
            error["detail"] = errors.redact(extra).splitlines()
        click.echo(json.dumps({"error": error}), err=True)
        sys.exit(code)
    click.echo(f"error: {errors.redact(message)}", err=True)
    if extra:
        click.echo(errors.redact(extra), err=True)
    sys.exit(code)


def _explain(exc: BaseException) -> tuple[int, str, str | None]:
    """Exit code, one-line message and optional detail lines for an error."""
    from apigee_psc.southbound.engine import PlanRefused

    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED, "interrupted; run the same command again: it finds what exists and resumes", None
    if isinstance(exc, errors.ValidationError):
        return EXIT_BAD_INPUT, str(exc), None
    if isinstance(exc, PlanRefused):
        return EXIT_NOT_READY, "the plan cannot be applied:", "\n".join(f"  - {r}" for r in exc.reasons)
    if isinstance(exc, errors.ConnectionNotAccepted):
        diagnosis = exc.diagnosis
        detail = f"  cause: {diagnosis.cause}\n  fix:   {diagnosis.fix or 'nothing to do'}"
        return EXIT_NOT_READY, f"the endpoint attachment's connection is {diagnosis.state}", detail
    if isinstance(exc, errors.WaitTimeout) and exc.operation:
        # The library's advice is a Python call; on the command line, the command itself resumes.
        python_advice = f"resume with operations.wait({exc.operation!r})"
        cli_advice = f"run the same command again to resume: it waits on operation {exc.operation}"
        return EXIT_NOT_READY, str(exc).replace(python_advice, cli_advice), None
    return EXIT_NOT_READY, str(exc), None


@contextmanager
def _errors(state: _State) -> Iterator[None]:
    """Turn library errors (and Ctrl-C) into one clear line and the contract's exit code."""
    try:
        yield
    except (errors.ApigeePscError, KeyboardInterrupt) as exc:
        if state.debug:
            raise
        code, message, detail = _explain(exc)
        _fail(message, code, extra=detail, kind=type(exc).__name__)


def _options(state: _State) -> dict[str, Any]:
    return {"endpoint": state.endpoint, "quota_project_id": state.quota_project}


def _load(paths: Sequence[str]) -> list[SouthboundSpec]:
    from apigee_psc.southbound.spec import SouthboundSpec

    if not paths:
        raise errors.ValidationError("SPEC", "", "at least one spec file")
    return [SouthboundSpec.from_yaml(path) for path in paths]


def _southbound(spec: SouthboundSpec, state: _State, **extra: Any) -> Southbound:
    from apigee_psc.southbound.engine import Southbound

    return Southbound(spec, **_options(state), **extra)


class _Progress:
    """Render progress events: on a TTY one live line for waits; otherwise plain lines, a wait
    being shown when its state changes and at least every ``every`` seconds."""

    def __init__(self, tty: bool, *, every: float = 30.0) -> None:
        self.tty = tty
        self.every = every
        self._live = False
        self._shown: dict[str, tuple[str | None, float]] = {}

    def __call__(self, event: ProgressEvent) -> None:
        text = event.to_text()
        if event.status == "waiting":
            if self.tty:
                click.echo("\r\033[K" + text, nl=False, err=True)
                self._live = True
                return
            state, at = self._shown.get(event.step, (None, -self.every))
            if event.state == state and event.elapsed - at < self.every:
                return
            self._shown[event.step] = (event.state, event.elapsed)
        elif self._live:
            click.echo("\r\033[K", nl=False, err=True)
            self._live = False
        click.echo(text, err=True)

    def close(self) -> None:
        if self._live:
            click.echo("", err=True)
            self._live = False


def _confirm(yes: bool, what: str) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        _fail(f"{what} needs --yes when not run from a terminal", EXIT_BAD_INPUT)
    if not click.confirm(f"{what}?", default=False):
        _fail("aborted", EXIT_NOT_READY)


def _emit(output: str, data: Any, text: str) -> None:
    if output == "json":
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(text)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="apigee-psc")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.option("--endpoint", default=None, help="Root URL of every API (default: Google, or APIGEE_PSC_EMULATOR_HOST).")
@click.option("--quota-project", default=None, help="Project billed for API quota.")
@click.pass_context
def cli(ctx: click.Context, debug: bool, endpoint: str | None, quota_project: str | None) -> None:
    """Provision Apigee X southbound connectivity over Private Service Connect."""
    state = ctx.ensure_object(_State)
    state.debug = debug
    state.endpoint = endpoint
    state.quota_project = quota_project
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


ADOPT = click.option(
    "--adopt",
    is_flag=True,
    help="Take over existing resources that differ from the spec and were not created by apigee-psc.",
)


@cli.command()
@click.argument("specs", nargs=-1, type=SPEC_PATH)
@ADOPT
@click.option(
    "--exit-code", "detailed_exit", is_flag=True, help="Exit 3 when the plan has changes (0: none; 1, 2 as usual)."
)
@OUTPUT
@click.pass_obj
def plan(state: _State, specs: tuple[str, ...], adopt: bool, detailed_exit: bool, output: str) -> None:
    """Show what apply would change (reads only)."""
    with _errors(state):
        plans = [_southbound(spec, state, adopt=adopt).plan() for spec in _load(specs)]
    _emit(
        output,
        [p.to_dict() for p in plans] if len(plans) > 1 else plans[0].to_dict(),
        "\n\n".join(p.to_text() for p in plans),
    )
    if not all(p.ok for p in plans):
        sys.exit(EXIT_NOT_READY)
    sys.exit(EXIT_CHANGES if detailed_exit and any(p.has_changes for p in plans) else EXIT_OK)


@cli.command()
@click.argument("specs", nargs=-1, type=SPEC_PATH)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--timeout", type=SECONDS, default=1800.0, show_default=True, help="Seconds to wait for each step.")
@ADOPT
@OUTPUT
@click.pass_obj
def apply(state: _State, specs: tuple[str, ...], yes: bool, timeout: float, adopt: bool, output: str) -> None:
    """Create or update everything the specs describe, and wait until ACTIVE and ACCEPTED."""
    from apigee_psc.southbound.engine import apply_fleet

    with _errors(state):
        loaded = _load(specs)
        plans = [_southbound(spec, state, timeout=timeout, adopt=adopt).plan() for spec in loaded]
        click.echo("\n\n".join(p.to_text() for p in plans), err=True)
        if not all(p.ok for p in plans):
            _fail("the plan cannot be applied (see the problems marked ! above)", EXIT_NOT_READY)
        if not any(p.has_changes for p in plans):
            click.echo("Nothing to do.", err=True)
        else:
            _confirm(yes, f"Apply {len(loaded)} spec(s)")
        progress = _Progress(sys.stderr.isatty())
        try:
            if len(loaded) == 1:
                reports = [
                    _southbound(loaded[0], state, timeout=timeout, adopt=adopt).apply(progress=progress, plan=plans[0])
                ]
                failures: list[BaseException] = []
            else:
                results = apply_fleet(loaded, progress=progress, timeout=timeout, adopt=adopt, **_options(state))
                reports = [r.report for r in results if r.report is not None]
                failures = [r.error for r in results if r.error is not None]
                for result in results:
                    if result.error is not None:
                        click.echo(f"error: {result.spec.source}: {errors.redact(str(result.error))}", err=True)
        finally:
            progress.close()
    _emit(
        output,
        [r.to_dict() for r in reports] if len(reports) != 1 else reports[0].to_dict(),
        "\n\n".join(r.to_text() for r in reports),
    )
    sys.exit(EXIT_OK if not failures and all(r.ok for r in reports) else EXIT_NOT_READY)


@cli.command()
@click.argument("specs", nargs=-1, type=SPEC_PATH)
@OUTPUT
@click.pass_obj
def status(state: _State, specs: tuple[str, ...], output: str) -> None:
    """Report the realization state of every entity of each spec."""
    with _errors(state):
        reports = [_southbound(spec, state).status() for spec in _load(specs)]
    _emit(
        output,
        [r.to_dict() for r in reports] if len(reports) > 1 else reports[0].to_dict(),
        "\n\n".join(r.to_text() for r in reports),
    )
    sys.exit(EXIT_OK if all(r.ok for r in reports) else EXIT_NOT_READY)


@cli.command()
@click.argument("specs", nargs=-1, type=SPEC_PATH)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--revoke-iam", is_flag=True, help="Also revoke the roles/dns.peer grant.")
@click.option("--force", is_flag=True, help="Delete the service attachment even if other consumers are connected.")
@ADOPT
@click.option("--timeout", type=SECONDS, default=7200.0, show_default=True, help="Seconds to wait for each deletion.")
@OUTPUT
@click.pass_obj
def destroy(
    state: _State,
    specs: tuple[str, ...],
    yes: bool,
    revoke_iam: bool,
    force: bool,
    adopt: bool,
    timeout: float,
    output: str,
) -> None:
    """Delete what the specs own, in reverse order (never the forwarding rule or the managed zone)."""
    with _errors(state):
        loaded = _load(specs)
        _confirm(yes, f"Destroy what {len(loaded)} spec(s) created")
        progress = _Progress(sys.stderr.isatty())
        done = []
        try:
            for spec in reversed(loaded):
                southbound = _southbound(spec, state, timeout=timeout, adopt=adopt)
                done.extend(southbound.destroy(revoke_iam=revoke_iam, force=force, progress=progress))
        finally:
            progress.close()
    _emit(output, [c.to_dict() for c in done], "\n".join(c.to_text() for c in done))
    sys.exit(EXIT_OK)


@cli.command()
@click.option(
    "--org", "organization", required=True, envvar="APIGEE_PSC_ORGANIZATION", help="Apigee organization."
)
@click.argument("name")
@OUTPUT
@click.pass_obj
def diagnose(state: _State, organization: str, name: str, output: str) -> None:
    """Explain an endpoint attachment's connection state and what to do about it."""
    from apigee_psc.southbound.engine import diagnose_attachment

    with _errors(state):
        attachment, diagnosis = diagnose_attachment(organization, name, **_options(state))
    data = {
        "name": attachment.resource_name,
        "state": str(attachment.state),
        "connection_state": str(attachment.connection_state),
        "host": attachment.host,
        "service_attachment": attachment.service_attachment,
        "cause": diagnosis.cause,
        "fix": diagnosis.fix,
        "ok": diagnosis.ok,
    }
    text = (
        f"{attachment.resource_name}: {attachment.state}/{attachment.connection_state} host {attachment.host}\n"
        f"  cause: {diagnosis.cause}\n  fix:   {diagnosis.fix or 'nothing to do'}"
    )
    _emit(output, data, text)
    sys.exit(EXIT_OK if diagnosis.ok and str(attachment.state) == "ACTIVE" else EXIT_NOT_READY)


@cli.command(name="list")
@click.option(
    "--org", "organization", required=True, envvar="APIGEE_PSC_ORGANIZATION", help="Apigee organization."
)
@OUTPUT
@click.pass_obj
def list_(state: _State, organization: str, output: str) -> None:
    """List the organization's endpoint attachments."""
    from apigee_psc.apigee import ApigeeClient

    with _errors(state):
        attachments = list(ApigeeClient(organization, **_options(state)).endpoint_attachments.list())
    rows = [
        {
            "name": a.name,
            "location": a.location,
            "host": a.host,
            "state": str(a.state),
            "connection_state": str(a.connection_state),
            "service_attachment": a.service_attachment,
        }
        for a in attachments
    ]
    lines = [f"{'NAME':<24} {'LOCATION':<14} {'HOST':<15} {'STATE':<9} {'CONNECTION':<12} SERVICE ATTACHMENT"]
    lines += [
        f"{r['name']:<24} {r['location']:<14} {r['host'] or '-':<15} {r['state']:<9} "
        f"{r['connection_state']:<12} {r['service_attachment']}"
        for r in rows
    ]
    _emit(output, rows, "\n".join(lines))


@cli.command(name="target-xml")
@click.argument("spec_path", metavar="SPEC", type=SPEC_PATH)
@OUTPUT
@click.pass_obj
def target_xml(state: _State, spec_path: str, output: str) -> None:
    """Print the TargetEndpoint XML for a spec's connection (the DNS record, else the host IP)."""
    with _errors(state):
        spec = _load([spec_path])[0]
        xml = _southbound(spec, state).target_xml()
    if output == "json":
        from xml.etree import ElementTree

        url = ElementTree.fromstring(xml).findtext("HTTPTargetConnection/URL")
        click.echo(json.dumps({"url": url, "xml": xml}, indent=2))
    else:
        click.echo(xml, nl=False)


@cli.command(
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


@cli.command()
@click.option(
    "--op-seconds",
    type=_Seconds(allow_zero=True),
    default=1.0,
    show_default=True,
    help="Seconds an Apigee operation takes.",
)
@click.option("--keep-running", is_flag=True, help="Leave the emulator running at the end (Ctrl-C to stop).")
@OUTPUT
@click.pass_obj
def demo(state: _State, op_seconds: float, keep_running: bool, output: str) -> None:
    """Run the seed's whole scenario against an embedded emulator."""
    from apigee_psc.demo import run_demo

    with _errors(state):
        code = run_demo(
            op_seconds=op_seconds,
            output=output,
            keep_running=keep_running,
            echo=lambda text: click.echo(text),
        )
    sys.exit(code)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``apigee-psc`` console script."""
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    cli.main(args=list(argv) if argv is not None else None, prog_name="apigee-psc")
