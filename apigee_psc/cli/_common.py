"""What every command shares: exit codes, the global options and their state, option types,
output (text, JSON, tables), errors as one line or one JSON object, the client options and the
progress display."""

from __future__ import annotations

import io
import json
import logging
import math
import re
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

import click

from apigee_psc import errors

if TYPE_CHECKING:
    from apigee_psc.progress import ProgressDisplay
    from apigee_psc.southbound.engine import Southbound
    from apigee_psc.southbound.plan import Change, DestroyPlan, Plan
    from apigee_psc.southbound.reports import RealizationReport
    from apigee_psc.southbound.spec import SouthboundSpec

EXIT_OK = 0
EXIT_NOT_READY = 1
EXIT_BAD_INPUT = 2
EXIT_CHANGES = 3
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143

#: Environment variables the options fall back to (the first one set wins).
PROJECT_ENV = ("GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT")
ORGANIZATION_ENV = "APIGEE_PSC_ORGANIZATION"

RESUME = "run the same command again: it finds what exists and resumes"

#: Set when the process is told to stop (SIGTERM): running applies and destroys stop at their
#: next safe point instead of finishing their waits.
CANCEL = threading.Event()


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when the process receives SIGTERM (handled like Ctrl-C)."""


def terminate(signum: int, frame: FrameType | None) -> None:
    """The SIGTERM handler of the command: cancel what runs, and stop like Ctrl-C."""
    CANCEL.set()
    raise Terminated


class State:
    """The global options, wherever they were given (before or after the command)."""

    debug: bool = False
    endpoint: str | None = None
    quota_project: str | None = None
    project: str | None = None
    output: str = "text"
    #: The project of the credentials, once looked up (a fleet asks google.auth.default() once).
    credentials_project: tuple[str | None] | None = None


def state_of(ctx: click.Context) -> State:
    """The command's :class:`State`, made when there is none yet."""
    found = ctx.find_object(State)
    return found if found is not None else ctx.ensure_object(State)


def configure_logging(debug: bool, json_output: bool = False) -> None:
    """Warnings on standard error; under ``-o json`` only errors (standard error then holds the
    one JSON error object, which says what went wrong); everything with ``--debug``."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    quiet = logging.ERROR if json_output else logging.WARNING
    logging.getLogger().setLevel(logging.DEBUG if debug else quiet)


# -- option types and options -------------------------------------------------------------

if TYPE_CHECKING:
    _FloatParam = click.ParamType[float]
else:  # ParamType is generic in the click versions that type it, plain in older ones
    _FloatParam = click.ParamType


_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?")


def duration(text: str) -> float | None:
    """Seconds of a duration as gcloud and Terraform write them (``90s``, ``30m``, ``1h30m``,
    ``2h``), or ``None`` when ``text`` is not one."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None or not any(match.groups()):
        return None
    hours, minutes, seconds = (float(group) if group else 0.0 for group in match.groups())
    return hours * 3600 + minutes * 60 + seconds


class Seconds(_FloatParam):
    """A finite number of seconds above 0 (or 0 with ``allow_zero``), or a duration (``90s``,
    ``30m``, ``1h30m``); NaN, infinity and negatives are bad input."""

    name = "seconds"

    def __init__(self, *, allow_zero: bool = False) -> None:
        self.allow_zero = allow_zero

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            found = duration(value) if isinstance(value, str) else None
            if found is None:
                shown = str(value)[:40]
                self.fail(f"{shown!r} is not a number of seconds or a duration such as 90s or 30m", param, ctx)
            seconds = found
        low = "0 or more" if self.allow_zero else "more than 0"
        if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not self.allow_zero):
            self.fail(f"{str(value)[:40]!r} is not a finite number of seconds ({low})", param, ctx)
        return seconds


SECONDS = Seconds()


def timeout_option(default: float, help_text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--timeout``: seconds or a duration, with this command's default."""
    return click.option("--timeout", type=SECONDS, default=default, show_default=True, help=help_text)


#: A spec path: checked by the spec reader (regular file, size cap), so a directory, FIFO or
#: device is one short line like any other bad spec, not a usage error.
SPEC_PATH = click.Path(dir_okay=True, allow_dash=True)
SPECS = click.argument("specs", nargs=-1, type=SPEC_PATH)
YES = click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
ADOPT = click.option(
    "--adopt",
    is_flag=True,
    help="Take over existing resources that differ from the spec and were not created by apigee-psc.",
)
ORG = click.option(
    "--org",
    "organization",
    required=True,
    envvar=ORGANIZATION_ENV,
    show_envvar=True,
    help="Apigee organization.",
)


def _remember(attribute: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """Callback of a global option given after the command: it overrides the one before it."""

    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is None or value is False or ctx.resilient_parsing:
            return value
        state = state_of(ctx)
        setattr(state, attribute, value)
        if attribute == "debug":
            configure_logging(True)
        return value

    return callback


def _output(ctx: click.Context, param: click.Parameter, value: str | None) -> str:
    state = state_of(ctx)
    if value is not None:
        state.output = value
        configure_logging(state.debug, value == "json")
    return state.output


OUTPUT_CHOICE = click.Choice(["text", "json"])
OUTPUT = click.option(
    "--output", "-o", type=OUTPUT_CHOICE, default=None, callback=_output, help="Output format [default: text]."
)


def global_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The group's options, accepted after the command too (``apigee-psc status X --debug``)."""
    for decorator in reversed(
        [
            click.option("--debug", is_flag=True, expose_value=False, callback=_remember("debug"), hidden=True),
            click.option("--endpoint", expose_value=False, callback=_remember("endpoint"), hidden=True),
            click.option("--quota-project", expose_value=False, callback=_remember("quota_project"), hidden=True),
            click.option("--project", expose_value=False, callback=_remember("project"), hidden=True),
        ]
    ):
        command = decorator(command)
    return command


def command_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """What most commands take last: ``-o/--output``, the global options after the command, and
    the :class:`State` as their first argument."""
    return OUTPUT(global_options(click.pass_obj(command)))


# -- errors --------------------------------------------------------------------------------


def error_json(
    kind: str, message: str, code: int, extra: str | None, problems: list[dict[str, str]] | None = None
) -> str:
    """The one JSON error object of ``-o json`` (redacted)."""
    error: dict[str, Any] = {"type": kind, "message": errors.redact(message), "exit_code": code}
    if extra:
        error["detail"] = errors.redact(extra)
    if problems:
        error["problems"] = problems
    return json.dumps({"error": error})


def fail(
    message: str,
    code: int,
    *,
    extra: str | None = None,
    kind: str = "Error",
    problems: list[dict[str, str]] | None = None,
) -> NoReturn:
    """Print an error (one line and its detail, or one JSON object) and exit with ``code``."""
    ctx = click.get_current_context(silent=True)
    found = ctx.find_object(State) if ctx is not None else None
    output = found.output if found is not None else "text"
    if output == "json":
        click.echo(error_json(kind, message, code, extra, problems), err=True)
    else:
        click.echo(f"error: {errors.redact(message)}", err=True)
        if extra:
            click.echo(errors.redact(extra), err=True)
    sys.exit(code)


def explain(exc: BaseException) -> tuple[int, str, str | None]:
    """Exit code, one-line message and optional detail lines for an error."""
    from apigee_psc.southbound import PlanRefused, PlanStale

    if isinstance(exc, (errors.Cancelled, Terminated)):
        return EXIT_TERMINATED, f"terminated (SIGTERM); {RESUME}", None
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED, f"interrupted; {RESUME}", None
    if isinstance(exc, errors.ValidationError):
        return EXIT_BAD_INPUT, str(exc), None
    if isinstance(exc, PlanStale):
        reasons = "\n".join(f"  - {r}" for r in exc.reasons)
        return EXIT_NOT_READY, "the plan is stale (what it read has changed since); make a new plan:", reasons
    if isinstance(exc, PlanRefused):
        return EXIT_NOT_READY, "the plan cannot be applied:", "\n".join(f"  - {r}" for r in exc.reasons)
    if isinstance(exc, errors.ConnectionNotAccepted):
        diagnosis = exc.diagnosis
        detail = f"  cause: {diagnosis.cause}\n  fix:   {diagnosis.fix or 'nothing to do'}"
        return EXIT_NOT_READY, f"the endpoint attachment's connection is {diagnosis.state}", detail
    if isinstance(exc, errors.WaitTimeout) and exc.operation:
        # The library's advice is a Python call; on the command line, the command itself resumes.
        python_advice = f"resume with {exc.resume}"
        cli_advice = f"run the same command again to resume: it waits on operation {exc.operation}"
        return EXIT_NOT_READY, str(exc).replace(python_advice, cli_advice), None
    return EXIT_NOT_READY, str(exc), None


def problem(plan: Plan | DestroyPlan, kind: str, text: str) -> dict[str, Any]:
    """One problem of ``plan`` as the JSON error carries it: the spec, the resource's kind, its
    full path (``""`` when the plan has no change of that kind) and the text."""
    from apigee_psc.southbound.plan import DestroyPlan

    changes: tuple[Change, ...] = (
        (*plan.deletes, *plan.kept) if isinstance(plan, DestroyPlan) else (*plan.changes, *plan.references)
    )
    change = {c.kind: c for c in changes}.get(kind)
    resource = change.resource_id if change is not None else ""
    return {"spec": plan.spec_source, "kind": kind, "resource": resource, "text": text}


def refusal_problems(exc: BaseException) -> list[dict[str, Any]] | None:
    """What a refused plan (:class:`PlanRefused`, :class:`PlanStale`) carries into the JSON error:
    one entry per reason (``Kind: text``)."""
    from apigee_psc.southbound import PlanRefused

    if not isinstance(exc, PlanRefused):
        return None
    found: list[dict[str, Any]] = []
    for reason in exc.reasons:
        kind, _, text = reason.partition(": ")
        if not text:
            kind, text = "", reason
        found.append(problem(exc.plan, kind, text))
    return found or None


@contextmanager
def reported(state: State) -> Iterator[None]:
    """Turn library errors (and Ctrl-C, SIGTERM) into one clear line and the contract's exit code."""
    try:
        yield
    except (errors.ApigeePscError, KeyboardInterrupt) as exc:
        if state.debug:
            raise
        code, message, detail = explain(exc)
        problems = exc.to_dict() if isinstance(exc, errors.ValidationError) else refusal_problems(exc)
        fail(message, code, extra=detail, kind=type(exc).__name__, problems=problems)


# -- clients and progress ------------------------------------------------------------------


def client_options(state: State) -> dict[str, Any]:
    """The keyword arguments every client and :class:`Southbound` takes from the global options."""
    return {"endpoint": state.endpoint, "quota_project_id": state.quota_project}


def southbound(spec: SouthboundSpec, state: State, **extra: Any) -> Southbound:
    """A :class:`Southbound` for ``spec`` with the global options."""
    from apigee_psc.southbound.engine import Southbound

    return Southbound(spec, **client_options(state), **extra)


def progress_display(specs: int = 1) -> ProgressDisplay:
    """A live table on a terminal, plain lines elsewhere (never the notebook mode: a command
    run from a notebook cell writes to a pipe); each row names its spec when there are several."""
    from apigee_psc.progress import ProgressDisplay

    return ProgressDisplay("terminal" if sys.stderr.isatty() else "lines", show_spec=specs > 1)


# -- output --------------------------------------------------------------------------------


def emit(output: str, data: Any, text: str) -> None:
    """Print ``data`` as indented JSON under ``-o json``, else ``text``."""
    if output == "json":
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(text)


def plans_text(plans: Sequence[Plan | DestroyPlan]) -> str:
    """The text of several plans (or reports), one after the other."""
    return "\n\n".join(p.to_text() for p in plans)


def plans_data(plans: Sequence[Plan | DestroyPlan]) -> Any:
    """The JSON of plans: one spec's plan as an object, a fleet's as an array of them (what
    ``plan -o json`` prints and ``plan --out`` saves)."""
    return plans[0].to_dict() if len(plans) == 1 else [p.to_dict() for p in plans]


def emit_plans(output: str, plans: Sequence[Plan | DestroyPlan]) -> None:
    """Print plans: their JSON (:func:`plans_data`) or their text."""
    emit(output, plans_data(plans), plans_text(plans))


def exit_after_plans(plans: Sequence[Plan | DestroyPlan], detailed_exit_code: bool) -> NoReturn:
    """Exit 1 when a plan has problems, else 3 with ``--exit-code`` when something would change,
    else 0."""
    if not all(p.ok for p in plans):
        sys.exit(EXIT_NOT_READY)
    sys.exit(EXIT_CHANGES if detailed_exit_code and any(p.has_changes for p in plans) else EXIT_OK)


def emit_reports(output: str, reports: Sequence[RealizationReport]) -> None:
    """Print realization reports: the one JSON shape of ``status`` and ``apply``, for one spec or
    several (the worst state, its message, and one report per spec, each naming its spec)."""
    from apigee_psc.southbound.reports import Realization

    worst = max((r.state for r in reports), key=lambda s: s.severity, default=Realization.IN_SYNC)
    data: dict[str, Any] = {"state": worst.value}
    for report in reports:
        if report.state is worst and report.failure_message:
            data["failure_message"] = f"{report.spec_source}: {report.failure_message}"
            break
    data["reports"] = [{"spec": r.spec_source, **r.to_dict()} for r in reports]
    emit(output, data, "\n\n".join(r.to_text() for r in reports))


def exit_after_reports(reports: Sequence[RealizationReport], *, failed: bool = False) -> NoReturn:
    """Exit 0 when every report is ready (and nothing ``failed``), else 1."""
    sys.exit(EXIT_OK if not failed and all(r.ok for r in reports) else EXIT_NOT_READY)


def table(headers: Sequence[str], rows: Sequence[Sequence[str | None]]) -> str:
    """A plain-text table whose columns fit their widest cell (rich computes the widths)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    grid = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    for header in headers:
        grid.add_column(header, no_wrap=True, overflow="ignore")
    for row in rows:
        grid.add_row(*(cell or "" for cell in row))
    buffer = io.StringIO()
    Console(file=buffer, width=100_000, color_system=None, force_terminal=False, highlight=False).print(grid)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines() if line.strip())
