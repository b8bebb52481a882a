"""The commands that change things, and the plans they show first: ``plan``, ``apply``,
``show`` (a saved plan) and ``destroy``."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

import click

from apigee_psc import errors
from apigee_psc.cli._common import (
    ADOPT,
    CANCEL,
    EXIT_BAD_INPUT,
    EXIT_INTERRUPTED,
    EXIT_NOT_READY,
    EXIT_OK,
    SPECS,
    YES,
    State,
    client_options,
    command_options,
    emit,
    emit_plans,
    emit_reports,
    exit_after_plans,
    exit_after_reports,
    explain,
    fail,
    plans_text,
    problem,
    progress_display,
    refusal_problems,
    reported,
    southbound,
    timeout_option,
)
from apigee_psc.cli._files import is_saved_plan, load_specs, read_saved_plans, save_plans, saved_plans_among

if TYPE_CHECKING:
    from apigee_psc.southbound.plan import DestroyPlan, Plan
    from apigee_psc.southbound.reports import DestroyReport, RealizationReport
    from apigee_psc.southbound.spec import SouthboundSpec


def confirm(yes: bool, what: str) -> None:
    """Ask ``what?`` on a terminal (``--yes`` skips it); anything but yes exits, having changed nothing."""
    if yes:
        return
    if not sys.stdin.isatty():
        fail(f"{what} needs --yes when not run from a terminal", EXIT_BAD_INPUT, kind="ConfirmationNeeded")
    try:
        confirmed = click.confirm(f"{what}?", default=False, err=True)
    except click.Abort as exc:
        # click turns Ctrl-C (and Ctrl-D) at the question into Abort ("Aborted!", exit 1);
        # the interrupt it replaced is still its context. Ctrl-C exits 130, as everywhere else.
        click.echo(err=True)  # end the question's line
        if isinstance(exc.__context__, EOFError):
            fail("aborted (no answer): nothing was changed", EXIT_NOT_READY, kind="Aborted")
        fail("interrupted at the question: nothing was changed", EXIT_INTERRUPTED, kind="KeyboardInterrupt")
    if not confirmed:
        fail("aborted", EXIT_NOT_READY, kind="Aborted")


def _show_plans(plans: Sequence[Plan | DestroyPlan], *, yes: bool, output: str) -> bool:
    """Print the plans on standard error, before the question; under ``-o json`` only when the
    question will be asked (standard error then holds nothing but the JSON error, if any).
    Returns whether they were printed."""
    asking = not yes and sys.stdin.isatty() and all(p.ok for p in plans) and any(p.has_changes for p in plans)
    if output == "json" and not asking:
        return False
    click.echo(plans_text(plans), err=True)
    return True


def _refuse(what: str, plans: Sequence[Plan | DestroyPlan], shown: bool) -> NoReturn:
    """Refuse plans with problems: exit 1; the problems travel in the JSON error."""
    problems = [problem(each, p.kind, p.message) for each in plans for p in each.problems]
    where = " (see the problems marked ! above)" if shown else f": {len(problems)} problem(s)"
    detail = None if shown else "\n".join(f"  - {p['kind']}: {p['text']}" for p in problems)
    fail(what + where, EXIT_NOT_READY, extra=detail, kind="PlanRefused", problems=problems)


def _fleet_failed(failures: Sequence[tuple[SouthboundSpec, BaseException]], total: int) -> NoReturn:
    """Under ``-o json``, the specs of a fleet that failed, as one JSON error (exit 1)."""
    problems: list[dict[str, Any]] = []
    lines = []
    for spec, error in failures:
        _, message, detail = explain(error)
        lines.append(f"{spec.source}: {message}" + (f"\n{detail}" if detail else ""))
        refused = refusal_problems(error)
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
    fail(message, EXIT_NOT_READY, extra="\n".join(lines), kind=kind, problems=problems)


@click.command()
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
@command_options
def plan(
    state: State,
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
    with reported(state):
        plans = [southbound(spec, state, adopt=adopt).plan() for spec in load_specs(specs, state)]
        if out is not None and all(p.ok for p in plans):
            save_plans(plans, out)
    emit_plans(output, plans)
    if out is not None and not all(p.ok for p in plans):
        click.echo(f"The plan has problems (marked !): it was not saved to {out}.", err=True)
    exit_after_plans(plans, detailed_exit_code)


def _show_destroy_plans(
    state: State,
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
    with reported(state):
        plans = [
            southbound(spec, state, adopt=adopt).plan_destroy(revoke_iam=revoke_iam, force=force)
            for spec in load_specs(specs, state)
        ]
    emit_plans(output, plans)
    exit_after_plans(plans, detailed_exit_code)


@click.command()
@SPECS
@YES
@timeout_option(1800.0, "Seconds (or a duration: 30m) to wait for each step.")
@ADOPT
@command_options
def apply(state: State, specs: tuple[str, ...], yes: bool, timeout: float, adopt: bool, output: str) -> None:
    """Create or update everything the specs describe, and wait until ACTIVE and ACCEPTED.

    SPEC may also be a plan saved by `plan --out FILE`: it is applied exactly, without a
    question, and refused if what it read has changed since."""
    from apigee_psc.southbound.fleet import apply_fleet

    with reported(state):
        saved = saved_plans_among(specs)
        if saved is not None:
            _apply_saved(state, saved, timeout=timeout, adopt=adopt, output=output)
        loaded = load_specs(specs, state)
        if "-" in specs and not yes:
            fail("a spec read from standard input needs --yes", EXIT_BAD_INPUT, kind="ConfirmationNeeded")
        plans = [southbound(spec, state, timeout=timeout, adopt=adopt).plan() for spec in loaded]
        shown = _show_plans(plans, yes=yes, output=output)
        if not all(p.ok for p in plans):
            _refuse("the plan cannot be applied", plans, shown)
        if not any(p.has_changes for p in plans):
            if shown:
                click.echo("Nothing to do.", err=True)
        else:
            confirm(yes, f"Apply {len(loaded)} spec(s)")
        progress = progress_display(len(loaded))
        try:
            if len(loaded) == 1:
                reports = [
                    southbound(loaded[0], state, timeout=timeout, adopt=adopt).apply(
                        progress=progress, plan=plans[0], cancel=CANCEL
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
                    cancel=CANCEL,
                    **client_options(state),
                )
                reports = [r.report for r in results if r.report is not None]
                failures = [(r.spec, r.error) for r in results if r.error is not None]
                if output != "json":
                    for spec, error in failures:
                        _, message, detail = explain(error)
                        click.echo(f"error: {spec.source}: {errors.redact(message)}", err=True)
                        if detail:
                            click.echo(errors.redact(detail), err=True)
        finally:
            progress.close()
    emit_reports(output, reports)
    if failures and output == "json":
        _fleet_failed(failures, len(loaded))
    exit_after_reports(reports, failed=bool(failures))


def _apply_saved(state: State, plans: Sequence[Plan], *, timeout: float, adopt: bool, output: str) -> NoReturn:
    """Apply a saved plan exactly (what ``terraform apply FILE`` does: no question asked). A
    fleet's plans are applied in their order; the first that cannot be applied stops the rest."""
    if output != "json":
        click.echo(plans_text(plans), err=True)
    progress = progress_display(len(plans))
    reports: list[RealizationReport] = []
    try:
        for saved in plans:
            assert saved.spec is not None
            connection = southbound(saved.spec, state, timeout=timeout, adopt=adopt or saved.adopt)
            reports.append(connection.apply(progress=progress, plan=saved, cancel=CANCEL))
    finally:
        progress.close()
    emit_reports(output, reports)
    exit_after_reports(reports)


@click.command()
@click.argument("plan_path", metavar="PLANFILE", type=click.Path(dir_okay=True, allow_dash=True))
@command_options
def show(state: State, plan_path: str, output: str) -> None:
    """Show a plan saved by `plan --out FILE` (reads no API). With -o json: the plan schema."""
    from apigee_psc.southbound.spec import read_spec_text

    with reported(state):
        text = read_spec_text(plan_path)
        if not is_saved_plan(text):
            raise errors.ValidationError(
                "PLANFILE",
                plan_path,
                f"a plan saved by `plan --out FILE`; for a spec, see what apply would change with "
                f"`apigee-psc plan {plan_path}`",
            )
        plans = read_saved_plans(plan_path, text)
    emit_plans(output, plans)
    if output != "json" and plan_path != "-":
        click.echo(f"Apply it with: apigee-psc apply {plan_path}", err=True)


@click.command()
@SPECS
@YES
@click.option("--revoke-iam", is_flag=True, help="Also revoke the roles/dns.peer grant.")
@click.option("--force", is_flag=True, help="Delete the service attachment even if other consumers are connected.")
@ADOPT
@timeout_option(7200.0, "Seconds (or a duration: 2h) to wait for each deletion.")
@command_options
def destroy(
    state: State,
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
    with reported(state):
        order = list(reversed(load_specs(specs, state)))
        southbounds = [southbound(spec, state, timeout=timeout, adopt=adopt) for spec in order]
        plans = [s.plan_destroy(revoke_iam=revoke_iam, force=force) for s in southbounds]
        shown = _show_plans(plans, yes=yes, output=output)
        if not all(p.ok for p in plans):
            _refuse("the destroy cannot go ahead", plans, shown)
        doomed = sum(len(p.deletes) for p in plans)
        if doomed:  # (a plan with nothing to delete says so)
            confirm(yes, f"Destroy what {len(order)} spec(s) created: delete {doomed} resource(s)")
        progress = progress_display(len(order))
        reports: list[DestroyReport] = []
        try:
            for connection, confirmed in zip(southbounds, plans, strict=True):
                reports.append(  # the plan shown: a destroy that would now delete more is refused
                    connection.destroy(
                        revoke_iam=revoke_iam, force=force, progress=progress, cancel=CANCEL, plan=confirmed
                    )
                )
        finally:
            progress.close()
    emit(output, {"reports": [r.to_dict() for r in reports]}, "\n\n".join(r.to_text() for r in reports))
    sys.exit(EXIT_OK)
