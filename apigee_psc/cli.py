"""The ``apigee-psc`` command: a thin layer over :mod:`apigee_psc.southbound`.

Exit codes: 0 success / in sync, 1 failed or not ready, 2 bad input, 3 ``plan --exit-code``
with changes, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM). Errors print one line (plus
the diagnosis when there is one), or one JSON object under ``-o json``; ``--debug`` shows the
traceback and debug logs. The global options work before or after the command.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

import click

from apigee_psc import errors
from apigee_psc._version import __version__

if TYPE_CHECKING:
    from apigee_psc.progress import ProgressDisplay
    from apigee_psc.southbound.engine import Southbound
    from apigee_psc.southbound.plan import Change, DestroyPlan, DestroyReport, Plan, RealizationReport
    from apigee_psc.southbound.spec import SouthboundSpec

__all__ = ["main"]

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

logger = logging.getLogger("apigee_psc.cli")


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when the process receives SIGTERM (handled like Ctrl-C)."""


class _State:
    debug: bool = False
    endpoint: str | None = None
    quota_project: str | None = None
    project: str | None = None
    output: str = "text"
    #: The project of the credentials, once looked up (a fleet asks google.auth.default() once).
    credentials_project: tuple[str | None] | None = None


if TYPE_CHECKING:
    _FloatParam = click.ParamType[float]
else:  # ParamType is generic in the click versions that type it, plain in older ones
    _FloatParam = click.ParamType


_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?")


def _duration(text: str) -> float | None:
    """Seconds of a duration as gcloud and Terraform write them (``90s``, ``30m``, ``1h30m``,
    ``2h``), or ``None`` when ``text`` is not one."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None or not any(match.groups()):
        return None
    hours, minutes, seconds = (float(group) if group else 0.0 for group in match.groups())
    return hours * 3600 + minutes * 60 + seconds


class _Seconds(_FloatParam):
    """A finite number of seconds above ``minimum``, or a duration (``90s``, ``30m``,
    ``1h30m``); NaN, infinity and negatives are bad input."""

    name = "seconds"

    def __init__(self, *, allow_zero: bool = False) -> None:
        self.allow_zero = allow_zero

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            duration = _duration(value) if isinstance(value, str) else None
            if duration is None:
                shown = str(value)[:40]
                self.fail(f"{shown!r} is not a number of seconds or a duration such as 90s or 30m", param, ctx)
            seconds = duration
        low = "0 or more" if self.allow_zero else "more than 0"
        if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not self.allow_zero):
            self.fail(f"{str(value)[:40]!r} is not a finite number of seconds ({low})", param, ctx)
        return seconds


SECONDS = _Seconds()
#: A spec path: checked by the spec reader (regular file, size cap), so a directory, FIFO or
#: device is one short line like any other bad spec, not a usage error.
SPEC_PATH = click.Path(dir_okay=True, allow_dash=True)


def _state(ctx: click.Context) -> _State:
    state = ctx.find_object(_State)
    return state if state is not None else ctx.ensure_object(_State)


def _configure_logging(debug: bool, json_output: bool = False) -> None:
    """Warnings on standard error; under ``-o json`` only errors (standard error then holds the
    one JSON error object, which says what went wrong); everything with ``--debug``."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    quiet = logging.ERROR if json_output else logging.WARNING
    logging.getLogger().setLevel(logging.DEBUG if debug else quiet)


def _remember(attribute: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """Callback of a global option given after the command: it overrides the one before it."""

    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is None or value is False or ctx.resilient_parsing:
            return value
        state = _state(ctx)
        setattr(state, attribute, value)
        if attribute == "debug":
            _configure_logging(True)
        return value

    return callback


def _output(ctx: click.Context, param: click.Parameter, value: str | None) -> str:
    state = _state(ctx)
    if value is not None:
        state.output = value
        _configure_logging(state.debug, value == "json")
    return state.output


OUTPUT_CHOICE = click.Choice(["text", "json"])
OUTPUT = click.option(
    "--output", "-o", type=OUTPUT_CHOICE, default=None, callback=_output, help="Output format [default: text]."
)


def _global_options(command: Callable[..., Any]) -> Callable[..., Any]:
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


def _error_json(
    kind: str, message: str, code: int, extra: str | None, problems: list[dict[str, str]] | None = None
) -> str:
    error: dict[str, Any] = {"type": kind, "message": errors.redact(message), "exit_code": code}
    if extra:
        error["detail"] = errors.redact(extra)
    if problems:
        error["problems"] = problems
    return json.dumps({"error": error})


def _fail(
    message: str,
    code: int,
    *,
    extra: str | None = None,
    kind: str = "Error",
    problems: list[dict[str, str]] | None = None,
) -> NoReturn:
    ctx = click.get_current_context(silent=True)
    found = ctx.find_object(_State) if ctx is not None else None
    output = found.output if found is not None else "text"
    if output == "json":
        click.echo(_error_json(kind, message, code, extra, problems), err=True)
    else:
        click.echo(f"error: {errors.redact(message)}", err=True)
        if extra:
            click.echo(errors.redact(extra), err=True)
    sys.exit(code)


def _explain(exc: BaseException) -> tuple[int, str, str | None]:
    """Exit code, one-line message and optional detail lines for an error."""
    from apigee_psc.southbound import PlanRefused, PlanStale

    if isinstance(exc, errors.Cancelled):
        return EXIT_TERMINATED, f"terminated (SIGTERM); {RESUME}", None
    if isinstance(exc, Terminated):
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


def _problems(plans: Sequence[Plan | DestroyPlan]) -> list[dict[str, Any]]:
    """The problems of ``plans`` as the JSON error carries them: the spec, the resource's kind,
    its full path (``""`` when the plan has no change of that kind) and the text."""
    found: list[dict[str, Any]] = []
    for plan in plans:
        changes = {c.kind: c for c in _plan_changes(plan)}
        for problem in plan.problems:
            change = changes.get(problem.kind)
            resource = change.resource_id if change is not None else ""
            found.append(
                {"spec": plan.spec_source, "kind": problem.kind, "resource": resource, "text": problem.message}
            )
    return found


def _plan_changes(plan: Plan | DestroyPlan) -> tuple[Change, ...]:
    from apigee_psc.southbound.plan import DestroyPlan

    if isinstance(plan, DestroyPlan):
        return (*plan.deletes, *plan.kept)
    return (*plan.changes, *plan.references)


def _refusal_problems(exc: BaseException) -> list[dict[str, Any]] | None:
    """What a refused plan (:class:`PlanRefused`, :class:`PlanStale`) carries into the JSON error:
    its problems, else one entry per reason (``Kind: text``)."""
    from apigee_psc.southbound import PlanRefused

    if not isinstance(exc, PlanRefused):
        return None
    changes = {c.kind: c for c in _plan_changes(exc.plan)}
    found: list[dict[str, Any]] = []
    for reason in exc.reasons:
        kind, _, text = reason.partition(": ")
        if not text:
            kind, text = "", reason
        change = changes.get(kind)
        resource = change.resource_id if change is not None else ""
        found.append({"spec": exc.plan.spec_source, "kind": kind, "resource": resource, "text": text})
    return found or None


@contextmanager
def _errors(state: _State) -> Iterator[None]:
    """Turn library errors (and Ctrl-C, SIGTERM) into one clear line and the contract's exit code."""
    try:
        yield
    except (errors.ApigeePscError, KeyboardInterrupt) as exc:
        if state.debug:
            raise
        code, message, detail = _explain(exc)
        problems = exc.to_dict() if isinstance(exc, errors.ValidationError) else _refusal_problems(exc)
        _fail(message, code, extra=detail, kind=type(exc).__name__, problems=problems)


def _options(state: _State) -> dict[str, Any]:
    return {"endpoint": state.endpoint, "quota_project_id": state.quota_project}


def _read_spec(path: str, state: _State) -> SouthboundSpec:
    """Read one spec (``-`` is standard input), filling ``project`` and ``organization`` from
    ``--project``/the environment when the file leaves them out."""
    from apigee_psc import _yaml
    from apigee_psc.southbound.spec import FILE_FIELD, SouthboundSpec, read_spec_text

    source = "<stdin>" if path == "-" else path
    text = read_spec_text(path)  # a regular file or standard input, at most 1 MiB, UTF-8
    if _is_saved_plan(text):
        shown = "FILE" if path == "-" else path
        raise errors.ValidationError(
            FILE_FIELD,
            "a saved plan",
            f"a spec, not a plan saved by `plan --out`: show it with `apigee-psc show {shown}`, "
            f"apply it with `apigee-psc apply {shown}`",
            source=source,
        )
    positions: dict[str, tuple[int, int]] = {}  # where each key stands, for the problems' line:column
    data = _yaml.load(text, source, field=FILE_FIELD, positions=positions)  # capped: size, depth, aliases, keys
    if isinstance(data, Mapping):
        defaults = {"project": state.project, "organization": os.environ.get(ORGANIZATION_ENV) or None}
        if not data.get("project") and not state.project:
            if state.credentials_project is None:
                state.credentials_project = (_credentials_project(state),)
            defaults["project"] = state.credentials_project[0]
        data = {**{k: v for k, v in defaults.items() if v and k not in data}, **data}
    return SouthboundSpec.from_dict(data, source=source, positions=positions)  # type: ignore[arg-type]


def _credentials_project(state: _State) -> str | None:
    """The project ``google.auth.default()`` finds: the active gcloud configuration's (with
    ``gcloud auth application-default login``), a service account key's, or the metadata
    server's. Against an emulator, only a credentials file is asked (no metadata server probe)."""
    import google.auth
    import google.auth.exceptions
    from google.auth import _cloud_sdk

    from apigee_psc._http import EMULATOR_ENV

    if state.endpoint or os.environ.get(EMULATOR_ENV, "").strip():
        key = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
        well_known = _cloud_sdk.get_application_default_credentials_path()  # type: ignore[no-untyped-call]
        if not key and not os.path.isfile(well_known):
            return None
    try:
        _, project = google.auth.default()
    except google.auth.exceptions.DefaultCredentialsError:
        return None
    return project or None


def _load(paths: Sequence[str], state: _State) -> list[SouthboundSpec]:
    if not paths:
        raise errors.ValidationError("SPEC", "", "at least one spec file (or - for standard input)")
    if list(paths).count("-") > 1:
        raise errors.ValidationError("SPEC", "-", "standard input at most once")
    return [_read_spec(path, state) for path in paths]


def _southbound(spec: SouthboundSpec, state: _State, **extra: Any) -> Southbound:
    from apigee_psc.southbound.engine import Southbound

    return Southbound(spec, **_options(state), **extra)


def _progress_display(specs: int = 1) -> ProgressDisplay:
    """A live table on a terminal, plain lines elsewhere (never the notebook mode: a command
    run from a notebook cell writes to a pipe); each row names its spec when there are several."""
    from apigee_psc.progress import ProgressDisplay

    return ProgressDisplay("terminal" if sys.stderr.isatty() else "lines", show_spec=specs > 1)


def _confirm(yes: bool, what: str) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        _fail(f"{what} needs --yes when not run from a terminal", EXIT_BAD_INPUT, kind="ConfirmationNeeded")
    try:
        confirmed = click.confirm(f"{what}?", default=False, err=True)
    except click.Abort as exc:
        # click turns Ctrl-C (and Ctrl-D) at the question into Abort ("Aborted!", exit 1);
        # the interrupt it replaced is still its context. Ctrl-C exits 130, as everywhere else.
        click.echo(err=True)  # end the question's line
        if isinstance(exc.__context__, EOFError):
            _fail("aborted (no answer): nothing was changed", EXIT_NOT_READY, kind="Aborted")
        _fail("interrupted at the question: nothing was changed", EXIT_INTERRUPTED, kind="KeyboardInterrupt")
    if not confirmed:
        _fail("aborted", EXIT_NOT_READY, kind="Aborted")


def _show_plans(plans: Sequence[Plan | DestroyPlan], *, yes: bool, output: str) -> bool:
    """Print the plans on standard error, before the question; under ``-o json`` only when the
    question will be asked (standard error then holds nothing but the JSON error, if any).
    Returns whether they were printed."""
    asking = not yes and sys.stdin.isatty() and all(p.ok for p in plans) and any(p.has_changes for p in plans)
    if output == "json" and not asking:
        return False
    click.echo("\n\n".join(p.to_text() for p in plans), err=True)
    return True


def _refuse(what: str, plans: Sequence[Plan | DestroyPlan], shown: bool) -> NoReturn:
    """Refuse plans with problems: exit 1; the problems travel in the JSON error."""
    problems = _problems(plans)
    where = " (see the problems marked ! above)" if shown else f": {len(problems)} problem(s)"
    detail = None if shown else "\n".join(f"  - {p['kind']}: {p['text']}" for p in problems)
    _fail(what + where, EXIT_NOT_READY, extra=detail, kind="PlanRefused", problems=problems)


def _fleet_failed(failures: Sequence[tuple[SouthboundSpec, BaseException]], total: int) -> NoReturn:
    """Under ``-o json``, the specs of a fleet that failed, as one JSON error (exit 1)."""
    problems: list[dict[str, Any]] = []
    lines = []
    for spec, error in failures:
        _, message, detail = _explain(error)
        lines.append(f"{spec.source}: {message}" + (f"\n{detail}" if detail else ""))
        refused = _refusal_problems(error)
        if refused:
            problems.extend({**p, "spec": spec.source} for p in refused)
        else:
            problems.append(
                {"spec": spec.source, "kind": "", "resource": "", "text": f"{type(error).__name__}: {message}"}
            )
    message = f"{len(failures)} of {total} specs failed: " + "; ".join(
        f"{spec.source}: {type(error).__name__}" for spec, error in failures
    )
    kind = type(failures[0][1]).__name__ if len({type(e) for _, e in failures}) == 1 else "FleetFailed"
    _fail(message, EXIT_NOT_READY, extra="\n".join(lines), kind=kind, problems=problems)


def _emit(output: str, data: Any, text: str) -> None:
    if output == "json":
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(text)


def _reports(reports: Sequence[RealizationReport]) -> dict[str, Any]:
    """The one JSON shape of ``status`` and ``apply``, for one spec or several: the worst state,
    its message, and one realization report per spec, each naming its spec."""
    from apigee_psc.southbound.plan import Realization

    worst = max((r.state for r in reports), key=lambda s: s.severity, default=Realization.IN_SYNC)
    data: dict[str, Any] = {"state": worst.value}
    for report in reports:
        if report.state is worst and report.failure_message:
            data["failure_message"] = f"{report.spec_source}: {report.failure_message}"
            break
    data["reports"] = [{"spec": r.spec_source, **r.to_dict()} for r in reports]
    return data


def _table(headers: Sequence[str], rows: Sequence[Sequence[str | None]]) -> str:
    """A plain-text table whose columns fit their widest cell (rich computes the widths)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    for header in headers:
        table.add_column(header, no_wrap=True, overflow="ignore")
    for row in rows:
        table.add_row(*(cell or "" for cell in row))
    buffer = io.StringIO()
    Console(file=buffer, width=100_000, color_system=None, force_terminal=False, highlight=False).print(table)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines() if line.strip())


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
            click.echo(_error_json(type(exc).__name__, exc.format_message(), exc.exit_code, None), err=True)
            sys.exit(exc.exit_code)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo(_error_json("Aborted", "aborted", EXIT_NOT_READY, None), err=True)
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
    state = ctx.ensure_object(_State)
    state.debug = debug
    state.endpoint = endpoint
    state.quota_project = quota_project
    state.project = project
    state.output = output
    _configure_logging(debug, output == "json")


def _org_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--org",
        "organization",
        required=True,
        envvar=ORGANIZATION_ENV,
        show_envvar=True,
        help="Apigee organization.",
    )(command)


SPECS = click.argument("specs", nargs=-1, type=SPEC_PATH)


def _save_plan(plans: Sequence[Plan], path: str) -> None:
    """Write the plans to ``path`` whole or not at all (a temporary file renamed over it): one
    spec's plan as an object, a fleet's as an array of them (what ``plan -o json`` prints)."""
    target = Path(path)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    data: Any = plans[0].to_dict() if len(plans) == 1 else [p.to_dict() for p in plans]
    try:
        temporary.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        os.replace(temporary, target)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise errors.ValidationError("--out", path, f"a file that can be written ({exc.strerror})") from None
    click.echo(
        f"Saved the plan to {path}; review it with: apigee-psc show {path}; apply it with: apigee-psc apply {path}",
        err=True,
    )


def _is_saved_plan(text: str) -> bool:
    """True for the text of a plan saved by ``plan --out`` (a JSON object or array of plans)."""
    from apigee_psc.southbound.plan import PLAN_FORMAT

    return text.lstrip()[:1] in ("{", "[") and f'"{PLAN_FORMAT}"' in text


def _read_saved_plans(path: str, text: str) -> list[Plan]:
    """The plans of a saved plan file: one (an object) or a fleet's (an array of objects)."""
    from apigee_psc.southbound.plan import Plan as SavedPlan

    try:
        data = json.loads(text)
    except ValueError as exc:
        raise errors.ValidationError(path, text[:40], f"a plan saved by plan --out (JSON: {exc})") from None
    items = data if isinstance(data, list) else [data]
    if not items:
        raise errors.ValidationError(path, "[]", "a plan saved by plan --out (this array holds none)")
    plans = [SavedPlan.from_dict(item) for item in items]
    if len({p.spec_source for p in plans}) != len(plans):
        raise errors.ValidationError(path, "plans", "one plan per spec (the file names a spec twice)")
    return plans


def _saved_plan(paths: Sequence[str]) -> list[Plan] | None:
    """The saved plans of ``paths`` (a JSON file of :data:`PLAN_FORMAT`: one plan, or a fleet's
    as an array), if it is one.

    A saved plan is applied alone: given with other files it is an error."""
    from apigee_psc.southbound.spec import read_spec_text

    found: list[tuple[str, str]] = []
    for path in paths:
        if path == "-":
            continue
        text = read_spec_text(path)
        if _is_saved_plan(text):
            found.append((path, text))
    if not found:
        return None
    if len(paths) > 1:
        raise errors.ValidationError("SPEC", found[0][0], "a saved plan alone (apply one saved plan at a time)")
    path, text = found[0]
    plans = _read_saved_plans(path, text)
    for plan in plans:
        if plan.spec is None:
            raise errors.ValidationError(
                path, "spec_document", "a saved plan that holds its spec (made by plan --out)"
            )
    return plans


def _apply_saved(state: _State, plans: Sequence[Plan], *, timeout: float, adopt: bool, output: str) -> NoReturn:
    """Apply a saved plan exactly (what ``terraform apply FILE`` does: no question asked). A
    fleet's plans are applied in their order; the first that cannot be applied stops the rest."""
    if output != "json":
        click.echo("\n\n".join(plan.to_text() for plan in plans), err=True)
    progress = _progress_display(len(plans))
    reports: list[RealizationReport] = []
    try:
        for plan in plans:
            assert plan.spec is not None
            southbound = _southbound(plan.spec, state, timeout=timeout, adopt=adopt or plan.adopt)
            reports.append(southbound.apply(progress=progress, plan=plan, cancel=_CANCEL))
    finally:
        progress.close()
    _emit(output, _reports(reports), "\n\n".join(r.to_text() for r in reports))
    sys.exit(EXIT_OK if all(r.ok for r in reports) else EXIT_NOT_READY)

ADOPT = click.option(
    "--adopt",
    is_flag=True,
    help="Take over existing resources that differ from the spec and were not created by apigee-psc.",
)


@cli.command()
@SPECS
@ADOPT
@click.option(
    "--exit-code",
    "detailed_exit_code",
    is_flag=True,
    help="Exit 3 when there are changes, 0 when there are none (1 and 2 keep their meanings).",
)
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Also save the plan to this file, for `apigee-psc show FILE` and `apigee-psc apply FILE` "
    "(several specs: one file for the fleet).",
)
@click.option(
    "--destroy",
    "destroy_plan",
    is_flag=True,
    help="Show what destroy would delete, keep (and why) and find absent, and what stops it.",
)
@click.option("--revoke-iam", is_flag=True, help="With --destroy: as destroy --revoke-iam.")
@click.option("--force", is_flag=True, help="With --destroy: as destroy --force.")
@OUTPUT
@_global_options
@click.pass_obj
def plan(
    state: _State,
    specs: tuple[str, ...],
    adopt: bool,
    detailed_exit_code: bool,
    out: str | None,
    destroy_plan: bool,
    revoke_iam: bool,
    force: bool,
    output: str,
) -> None:
    """Show what apply (or, with --destroy, destroy) would change (reads only). SPEC may be - for
    standard input."""
    if destroy_plan:
        if out is not None:
            raise click.UsageError("--out saves a plan of apply; a destroy plan is shown, not saved")
        _show_destroy_plans(state, specs, adopt, detailed_exit_code, revoke_iam, force, output)
    for flag, given in (("--revoke-iam", revoke_iam), ("--force", force)):
        if given:
            raise click.UsageError(f"{flag} goes with --destroy only (it is an option of destroy)")
    with _errors(state):
        plans = [_southbound(spec, state, adopt=adopt).plan() for spec in _load(specs, state)]
        if out is not None and all(p.ok for p in plans):
            _save_plan(plans, out)
    _emit(
        output,
        [p.to_dict() for p in plans] if len(plans) > 1 else plans[0].to_dict(),
        "\n\n".join(p.to_text() for p in plans),
    )
    if not all(p.ok for p in plans):
        if out is not None:
            click.echo(f"The plan has problems (marked !): it was not saved to {out}.", err=True)
        sys.exit(EXIT_NOT_READY)
    sys.exit(EXIT_CHANGES if detailed_exit_code and any(p.has_changes for p in plans) else EXIT_OK)


def _show_destroy_plans(
    state: _State,
    specs: Sequence[str],
    adopt: bool,
    detailed_exit_code: bool,
    revoke_iam: bool,
    force: bool,
    output: str,
) -> NoReturn:
    """``plan --destroy``: the destroy plan of each spec, in the order given (destroy goes in
    the reverse order). Exit 1 when one has problems (unless ``--force``), 3 with
    ``--exit-code`` when something would be deleted."""
    with _errors(state):
        plans = [
            _southbound(spec, state, adopt=adopt).plan_destroy(revoke_iam=revoke_iam, force=force)
            for spec in _load(specs, state)
        ]
    _emit(
        output,
        [p.to_dict() for p in plans] if len(plans) > 1 else plans[0].to_dict(),
        "\n\n".join(p.to_text() for p in plans),
    )
    if not all(p.ok for p in plans):
        sys.exit(EXIT_NOT_READY)
    sys.exit(EXIT_CHANGES if detailed_exit_code and any(p.has_changes for p in plans) else EXIT_OK)


@cli.command()
@SPECS
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--timeout",
    type=SECONDS,
    default=1800.0,
    show_default=True,
    help="Seconds (or a duration: 30m) to wait for each step.",
)
@ADOPT
@OUTPUT
@_global_options
@click.pass_obj
def apply(state: _State, specs: tuple[str, ...], yes: bool, timeout: float, adopt: bool, output: str) -> None:
    """Create or update everything the specs describe, and wait until ACTIVE and ACCEPTED.

    SPEC may also be a plan saved by `plan --out FILE`: it is applied exactly, without a
    question, and refused if what it read has changed since."""
    from apigee_psc.southbound.fleet import apply_fleet

    with _errors(state):
        saved = _saved_plan(specs)
        if saved is not None:
            _apply_saved(state, saved, timeout=timeout, adopt=adopt, output=output)
        loaded = _load(specs, state)
        if "-" in specs and not yes:
            _fail("a spec read from standard input needs --yes", EXIT_BAD_INPUT, kind="ConfirmationNeeded")
        plans = [_southbound(spec, state, timeout=timeout, adopt=adopt).plan() for spec in loaded]
        shown = _show_plans(plans, yes=yes, output=output)
        if not all(p.ok for p in plans):
            _refuse("the plan cannot be applied", plans, shown)
        if not any(p.has_changes for p in plans):
            if shown:
                click.echo("Nothing to do.", err=True)
        else:
            _confirm(yes, f"Apply {len(loaded)} spec(s)")
        progress = _progress_display(len(loaded))
        try:
            if len(loaded) == 1:
                reports = [
                    _southbound(loaded[0], state, timeout=timeout, adopt=adopt).apply(
                        progress=progress, plan=plans[0], cancel=_CANCEL
                    )
                ]
                failures: list[tuple[SouthboundSpec, BaseException]] = []
            else:
                results = apply_fleet(  # the plans shown and confirmed, each refused if stale
                    loaded,
                    plans=plans,
                    progress=progress,
                    timeout=timeout,
                    adopt=adopt,
                    cancel=_CANCEL,
                    **_options(state),
                )
                reports = [r.report for r in results if r.report is not None]
                failures = [(r.spec, r.error) for r in results if r.error is not None]
                if output != "json":
                    for spec, error in failures:
                        _, message, detail = _explain(error)
                        click.echo(f"error: {spec.source}: {errors.redact(message)}", err=True)
                        if detail:
                            click.echo(errors.redact(detail), err=True)
        finally:
            progress.close()
    _emit(output, _reports(reports), "\n\n".join(r.to_text() for r in reports))
    if failures and output == "json":
        _fleet_failed(failures, len(loaded))
    sys.exit(EXIT_OK if not failures and all(r.ok for r in reports) else EXIT_NOT_READY)


@cli.command()
@click.argument("plan_path", metavar="PLANFILE", type=click.Path(dir_okay=True, allow_dash=True))
@OUTPUT
@_global_options
@click.pass_obj
def show(state: _State, plan_path: str, output: str) -> None:
    """Show a plan saved by `plan --out FILE` (reads no API). With -o json: the plan schema."""
    from apigee_psc.southbound.spec import read_spec_text

    with _errors(state):
        text = read_spec_text(plan_path)
        if not _is_saved_plan(text):
            shown = "-" if plan_path == "-" else plan_path
            raise errors.ValidationError(
                "PLANFILE",
                plan_path,
                f"a plan saved by `plan --out FILE`; for a spec, see what apply would change with "
                f"`apigee-psc plan {shown}`",
            )
        plans = _read_saved_plans(plan_path, text)
    _emit(
        output,
        [p.to_dict() for p in plans] if len(plans) > 1 else plans[0].to_dict(),
        "\n\n".join(p.to_text() for p in plans),
    )
    if output != "json" and plan_path != "-":
        click.echo(f"Apply it with: apigee-psc apply {plan_path}", err=True)


@cli.command()
@SPECS
@OUTPUT
@_global_options
@click.pass_obj
def status(state: _State, specs: tuple[str, ...], output: str) -> None:
    """Report the realization state of every entity of each spec (one JSON shape for one or many)."""
    with _errors(state):
        reports = [_southbound(spec, state).status() for spec in _load(specs, state)]
    _emit(output, _reports(reports), "\n\n".join(r.to_text() for r in reports))
    sys.exit(EXIT_OK if all(r.ok for r in reports) else EXIT_NOT_READY)


@cli.command()
@SPECS
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--revoke-iam", is_flag=True, help="Also revoke the roles/dns.peer grant.")
@click.option("--force", is_flag=True, help="Delete the service attachment even if other consumers are connected.")
@ADOPT
@click.option(
    "--timeout",
    type=SECONDS,
    default=7200.0,
    show_default=True,
    help="Seconds (or a duration: 2h) to wait for each deletion.",
)
@OUTPUT
@_global_options
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
    """Delete what the specs own, in reverse order (never the forwarding rule or the managed zone).

    Shows the destroy plan (what is deleted, kept and why, absent; what stops it) and asks
    first; deletes nothing the plan shown does not list."""
    with _errors(state):
        order = list(reversed(_load(specs, state)))
        southbounds = [_southbound(spec, state, timeout=timeout, adopt=adopt) for spec in order]
        plans = [s.plan_destroy(revoke_iam=revoke_iam, force=force) for s in southbounds]
        shown = _show_plans(plans, yes=yes, output=output)
        if not all(p.ok for p in plans):
            _refuse("the destroy cannot go ahead", plans, shown)
        doomed = sum(len(p.deletes) for p in plans)
        if doomed:  # (a plan with nothing to delete says so)
            _confirm(yes, f"Destroy what {len(order)} spec(s) created: delete {doomed} resource(s)")
        progress = _progress_display(len(order))
        reports: list[DestroyReport] = []
        try:
            for southbound, confirmed in zip(southbounds, plans, strict=True):
                reports.append(  # the plan shown: a destroy that would now delete more is refused
                    southbound.destroy(
                        revoke_iam=revoke_iam, force=force, progress=progress, cancel=_CANCEL, plan=confirmed
                    )
                )
        finally:
            progress.close()
    _emit(output, {"reports": [r.to_dict() for r in reports]}, "\n\n".join(r.to_text() for r in reports))
    sys.exit(EXIT_OK)


@cli.command()
@_org_option
@click.argument("name")
@OUTPUT
@_global_options
@click.pass_obj
def diagnose(state: _State, organization: str, name: str, output: str) -> None:
    """Explain an endpoint attachment's connection state and what to do about it."""
    from apigee_psc.southbound import diagnose_attachment

    with _errors(state):
        attachment, diagnosis = diagnose_attachment(organization, name, **_options(state))
    data: dict[str, Any] = {
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
    if attachment.service_attachment:
        from apigee_psc.southbound.capacity import read_capacity

        capacity = read_capacity(attachment.service_attachment, **_options(state))
        if capacity is not None:
            data["capacity"] = capacity.to_dict()
            text += f"\n  NAT:   {capacity} on {attachment.service_attachment}"
    _emit(output, data, text)
    sys.exit(EXIT_OK if diagnosis.ok and str(attachment.state) == "ACTIVE" else EXIT_NOT_READY)


@cli.command(name="list")
@_org_option
@OUTPUT
@_global_options
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
    text = _table(
        ("NAME", "LOCATION", "HOST", "STATE", "CONNECTION", "SERVICE ATTACHMENT"),
        [
            (r["name"], r["location"], r["host"] or "-", r["state"], r["connection_state"], r["service_attachment"])
            for r in rows
        ],
    )
    _emit(output, rows, text if rows else "No endpoint attachments.")


@cli.command(name="target-xml")
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False, allow_dash=True))
@OUTPUT
@_global_options
@click.pass_obj
def target_xml(state: _State, spec_path: str, output: str) -> None:
    """Print the TargetEndpoint XML for a spec's connection (the DNS record, else the host IP)."""
    with _errors(state):
        spec = _load([spec_path], state)[0]
        xml = _southbound(spec, state).target_xml()
    if output == "json":
        from xml.etree import ElementTree

        url = ElementTree.fromstring(xml).findtext("HTTPTargetConnection/URL")
        click.echo(json.dumps({"url": url, "xml": xml}, indent=2))
    else:
        click.echo(xml, nl=False)


@cli.command()
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
@click.option("--timeout", type=SECONDS, default=1800.0, show_default=True, help="Seconds a heal waits for each step.")
@OUTPUT
@_global_options
@click.pass_obj
def watch(
    state: _State,
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
    from apigee_psc.southbound.watch import Watcher, WatchEvent, parse_interval

    stop = threading.Event()
    terminated: list[int] = []

    def on_term(signum: int, frame: FrameType | None) -> None:
        terminated.append(signum)
        stop.set()
        _CANCEL.set()  # a heal in progress stops at its next safe point

    with _errors(state):
        seconds = parse_interval(interval)
        if textfile is not None and not textfile.endswith(".prom"):
            raise errors.ValidationError("--textfile", textfile, "a path ending in .prom (node-exporter reads those)")
        if pushgateway is not None and not pushgateway.startswith(("http://", "https://")):
            raise errors.ValidationError("--pushgateway", pushgateway, "an http:// or https:// URL")
        loaded = _load(specs, state)
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
            **_options(state),
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
        click.echo(_table(watcher.HEADERS, watcher.table()))
    if terminated:
        click.echo("terminated (SIGTERM): the pass in progress ended cleanly", err=True)
        sys.exit(EXIT_TERMINATED)
    sys.exit(EXIT_OK if all(s.ok for s in states.values()) else EXIT_NOT_READY)


@cli.command()
@click.argument("name", required=False, metavar="[NAME]")
@_global_options
def schema(name: str | None) -> None:
    """Print the JSON Schema of a JSON output (or of the spec); without NAME, list the names."""
    from apigee_psc import _schema

    if name is None:
        click.echo("\n".join(_schema.NAMES))
        return
    if name not in _schema.NAMES:
        _fail(f"no schema {name!r}; one of: {', '.join(_schema.NAMES)}", EXIT_BAD_INPUT, kind="UsageError")
    click.echo(json.dumps(_schema.load(name), indent=2))


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
@_global_options
@click.pass_obj
def demo(state: _State, op_seconds: float, keep_running: bool, output: str) -> None:
    """Run the seed's whole scenario against an embedded emulator.

    With -o json, the narrative goes to standard error and standard output is one JSON object.
    """
    from apigee_psc.demo import run_demo

    with _errors(state):
        code = run_demo(
            op_seconds=op_seconds,
            output=output,
            keep_running=keep_running,
            echo=lambda text: click.echo(text),
            note=lambda text: click.echo(text, err=output == "json"),
        )
    sys.exit(code)


#: Set when the process is told to stop (SIGTERM): running applies and destroys stop at their
#: next safe point instead of finishing their waits.
_CANCEL = threading.Event()


def _terminate(signum: int, frame: FrameType | None) -> None:
    _CANCEL.set()
    raise Terminated


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``apigee-psc`` console script. SIGTERM stops it like Ctrl-C (exit 143)."""
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    _CANCEL.clear()
    if threading.current_thread() is threading.main_thread():  # signal handlers live in the main thread
        signal.signal(signal.SIGTERM, _terminate)
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
