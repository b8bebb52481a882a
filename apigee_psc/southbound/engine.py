"""Plan, apply, status and destroy for one southbound connection (and fleets of them).

The engine knows no kind of resource: it asks each reconciler of
:mod:`apigee_psc.southbound.resources` to read (concurrently), diff, apply, realize and
delete. A step starts as soon as the kinds it ``depends_on`` are done (so the NAT subnet,
the firewall and the IAM grant go at once; the service attachment follows, then the endpoint
attachment; the Apigee DNS zone needs only the grant; the A record comes last); destroy runs
the same graph backwards. Every step first looks at what
exists, so a re-run after a crash converges without creating anything twice.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from apigee_psc import errors, waiters
from apigee_psc.progress import or_notebook_display
from apigee_psc.southbound.live import OrgInfo
from apigee_psc.southbound.plan import Action, Change, DestroyPlan, Plan, Problem, org_fields, same_change
from apigee_psc.southbound.reports import DestroyReport, EntityStatus, Realization
from apigee_psc.southbound.reports import RealizationReport as Report
from apigee_psc.southbound.resources import RECONCILERS, Reconciler
from apigee_psc.southbound.resources.base import (
    Assessment,
    Clients,
    Context,
    PlanReads,
    PlanRefused,
    PlanStale,
    Seen,
    message,
)
from apigee_psc.southbound.runner import Cancellation, ProgressCallback, Run, StepReporter
from apigee_psc.southbound.spec import SouthboundSpec

if TYPE_CHECKING:
    import google.auth.credentials

    from apigee_psc._retry import RetryPolicy
    from apigee_psc.apigee import ApigeeClient
    from apigee_psc.cloud import CloudDnsClient, ResourceManagerClient, ServiceNetworkingClient
    from apigee_psc.compute import ComputeClient
    from apigee_psc.models import EndpointAttachment

__all__ = ["Southbound", "stale_reason"]

logger = logging.getLogger("apigee_psc.southbound")


class Southbound:
    """One declarative southbound connection: ``plan()``, ``apply()``, ``status()``, ``destroy()``.

    Clients are built on first use with ``credentials``/``quota_project_id``/``endpoint``
    (or ``APIGEE_PSC_EMULATOR_HOST``), unless given. ``timeout`` bounds each wait;
    ``schedule`` is the polling schedule of Apigee waits; ``retry`` (a
    :class:`~apigee_psc.RetryPolicy`) how every client retries failed requests.

    Ownership: what apigee-psc creates is marked (Compute and Apigee DNS zone ``description``,
    a TXT record beside the A record). A resource that exists and matches the spec is adopted
    without a write; one that differs and is not marked is never changed, replaced or deleted
    (a plan problem) unless ``adopt=True`` or the spec says ``adopt: true``.
    """

    def __init__(
        self,
        spec: SouthboundSpec,
        *,
        credentials: google.auth.credentials.Credentials | None = None,
        quota_project_id: str | None = None,
        endpoint: str | None = None,
        apigee: ApigeeClient | None = None,
        compute: ComputeClient | None = None,
        dns: CloudDnsClient | None = None,
        resource_manager: ResourceManagerClient | None = None,
        service_networking: ServiceNetworkingClient | None = None,
        schedule: waiters.Schedule | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 1800.0,
        adopt: bool = False,
        max_workers: int = 6,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not (isinstance(timeout, (int, float)) and math.isfinite(timeout) and timeout > 0):
            raise errors.ValidationError("timeout", timeout, "a finite number of seconds, more than 0")
        self.spec = spec
        self.timeout = float(timeout)
        self.adopt = adopt or spec.adopt
        self.schedule = schedule
        self.max_workers = max_workers
        self.clock = clock
        self._cancellation = Cancellation(sleep)  # the running apply's or destroy's cancel event
        given: dict[str, object] = {"apigee": apigee, "compute": compute, "dns": dns}
        given |= {"resource_manager": resource_manager, "service_networking": service_networking}
        self.clients = Clients(
            spec,
            credentials=credentials,
            quota_project_id=quota_project_id,
            endpoint=endpoint,
            retry=retry,
            schedule=schedule,
            sleep=self._cancellation.pause,
            clock=clock,
            given=given,
        )

    def __repr__(self) -> str:
        return f"Southbound({self.spec.source or self.spec.endpoint_attachment_path!r})"

    def _repr_html_(self) -> str:
        """What a notebook shows: the connection the spec describes, as a table."""
        return self.spec._repr_html_()

    @property
    def sleep(self) -> Callable[[float], None]:
        """How this connection sleeps between polls and retries (a cancel wakes it)."""
        return self._cancellation.sleep

    @sleep.setter
    def sleep(self, value: Callable[[float], None]) -> None:
        self._cancellation.sleep = value

    @property
    def apigee(self) -> ApigeeClient:
        """The Apigee client of the spec's organization."""
        return self.clients.apigee

    @property
    def compute(self) -> ComputeClient:
        """The Compute client of the producer project and region."""
        return self.clients.compute

    @property
    def service_attachment_path(self) -> str:
        """``projects/P/regions/R/serviceAttachments/NAME`` of the spec."""
        return self.spec.service_attachment_path

    @property
    def endpoint_attachment_path(self) -> str:
        """``organizations/ORG/endpointAttachments/NAME`` of the spec."""
        return self.spec.endpoint_attachment_path

    # -- reading -----------------------------------------------------------------

    def _context(self, org: OrgInfo, **options: Any) -> Context:
        pause = self._cancellation.pause
        return Context(self.spec, self.clients, org, self.adopt, self.timeout, pause, self.clock, **options)

    def _org(self) -> OrgInfo:
        """The organization, read afresh (a plan records what it read)."""
        return OrgInfo.of(self.clients.apigee.get_organization())

    def _kinds(self, org: OrgInfo) -> list[Reconciler]:
        return [r for r in RECONCILERS if r.applies(self.spec, org)]

    def _read(self, ctx: Context, kinds: Sequence[Reconciler], *, full: bool) -> dict[str, Seen]:
        """Read ``kinds`` concurrently; NotFound is absence, other errors are kept."""
        if not kinds:
            return {}
        with ThreadPoolExecutor(min(self.max_workers, len(kinds)), thread_name_prefix="apigee-psc-read") as pool:
            futures = {r.kind: pool.submit(r.read, ctx, full=full) for r in kinds}
            return {kind: future.result() for kind, future in futures.items()}

    @staticmethod
    def _assess(ctx: Context, kinds: Sequence[Reconciler], snap: Mapping[str, Seen]) -> dict[str, Assessment]:
        return {r.kind: r.assess(ctx, snap) for r in kinds}

    # -- plan and status ---------------------------------------------------------

    def plan(self) -> Plan:
        """Read the live state (no writes) and return the ordered changes and the problems
        that stop an apply; the plan keeps what it read, for :meth:`apply`."""
        ctx = self._context(self._org())
        kinds = self._kinds(ctx.org)
        snap = self._read(ctx, kinds, full=True)
        for seen in snap.values():
            if seen.error is not None:
                raise seen.error
        found = self._assess(ctx, kinds, snap)
        return Plan(
            spec_source=self.spec.source,
            organization=self.spec.organization,
            changes=tuple(found[r.kind].change for r in kinds if r.managed),
            references=tuple(found[r.kind].change for r in kinds if not r.managed),
            problems=tuple(Problem(kind, text) for kind, a in found.items() for text in a.problems),
            org=ctx.org,
            spec=self.spec,
            adopt=self.adopt,
            reads=PlanReads(self.clients.source, ctx.org, snap),
        )

    def status(self) -> Report:
        """Read every entity (concurrently) and report each one's realization, NSX-style:
        an entity is in sync exactly when its plan change would be a no-op."""
        try:
            ctx = self._context(self._org())
        except errors.ApigeePscError as exc:
            ident = f"organizations/{self.spec.organization}"
            org = EntityStatus("Organization", ident, Realization.UNKNOWN, message(exc))
            return Report.of([org], spec_source=self.spec.source)
        kinds = self._kinds(ctx.org)
        return self._report(ctx, kinds, self._read(ctx, kinds, full=False))

    def _report(self, ctx: Context, kinds: Sequence[Reconciler], snap: Mapping[str, Seen]) -> Report:
        found = self._assess(ctx, kinds, snap)
        details = [r.realize(ctx, snap, found[r.kind]) for r in kinds]
        attachment: EndpointAttachment | None = snap["EndpointAttachment"].live
        host = attachment.host if attachment is not None and str(attachment.state) != "DELETING" else None
        url = self.spec.target_url(host) if host else None
        return Report.of(details, spec_source=self.spec.source, host=host, target_url=url)

    # -- apply -------------------------------------------------------------------

    def apply(
        self,
        *,
        progress: ProgressCallback | None = None,
        plan: Plan | None = None,
        cancel: threading.Event | None = None,
    ) -> Report:
        """Bring the live state to the spec and return the realization report.

        Without ``plan``, plans first. With a plan this process made (reading where this
        connection reads), uses its reads and re-reads only what it changes; with a plan read
        back from a file, or made elsewhere, plans again and compares: every value written
        comes from this apply's own reads. A plan apply would now carry out differently is
        refused before any write (:class:`PlanStale`), as is a plan with problems
        (:class:`PlanRefused`); apply may do less than planned, and a value the plan showed
        as known only after apply matches any. Idempotent and resumable: a re-run
        after a crash finds what exists and waits on what is in progress. Raises
        :class:`~apigee_psc.errors.ConnectionNotAccepted` if the connection cannot be accepted.

        ``cancel`` (a :class:`threading.Event`) stops it at the next safe point, between steps or
        inside a wait, with :class:`~apigee_psc.errors.Cancelled`; a later apply resumes.

        ``progress`` receives a :class:`ProgressEvent` per step and wait; in a Jupyter kernel
        it defaults to a :class:`~apigee_psc.progress.ProgressDisplay` table in the cell's output.
        """
        with self._cancellation.running("apply", cancel):
            return self._apply(or_notebook_display(progress), plan)

    def _apply(self, progress: ProgressCallback | None, plan: Plan | None) -> Report:
        run = Run(self, "apply", progress)
        if plan is None:
            plan, planned_now = self.plan(), True
        else:
            self._check_spec(plan)
            planned_now = not self._read_here(plan)
            if planned_now:  # a saved plan is a promise, never a source of values: plan anew
                plan = self._confirm(plan, self.plan())
        if plan.problems:
            raise PlanRefused(plan, [f"{p.kind}: {p.message}" for p in plan.problems])
        reads: PlanReads = plan.reads
        ctx = self._context(reads.org)
        kinds = self._kinds(ctx.org)
        snap = dict(reads.snapshot)
        changes = {c.kind: c for c in (*plan.changes, *plan.references)}
        if not planned_now:  # this process's plan, made a while ago: re-read what it changes
            changes, snap = self._recheck(ctx, kinds, plan, snap)

        def step(r: Reconciler) -> tuple[bool, Any]:
            change = changes[r.kind]
            if change.action is Action.NOOP:
                run.event(r, "skipped", change.note or "in sync")
                return False, None
            started = self.clock()
            run.event(r, "started", change.action.value)
            result = r.apply(ctx, change, snap, StepReporter(run, r, started))
            seen = result if isinstance(result, Seen) else Seen(result)
            if seen.live is not None:
                snap[r.kind] = seen
            detail, state = r.summary(seen.live)
            run.event(r, "done", detail, state=state, elapsed=self.clock() - started)
            return True, seen.live

        done = run.graph([r for r in kinds if r.managed], step)
        stale = [r for r in kinds if done.get(r.kind, (False, None)) == (True, None)]
        snap |= self._read(ctx, stale, full=False)
        report = self._report(ctx, kinds, snap)
        run.event(None, "done", report.state.value, elapsed=self.clock() - run.started)
        return report

    def _read_here(self, plan: Plan) -> bool:
        """True if ``plan`` was made in this process by clients reading where this
        connection's do (its reads are then as good as ours); a plan loaded from a file, or
        read through another endpoint or other credentials, is not."""
        reads = plan.reads
        return isinstance(reads, PlanReads) and reads.source == self.clients.source

    def _check_spec(self, plan: Plan) -> None:
        if plan.organization != self.spec.organization or (plan.spec is not None and plan.spec != self.spec):
            raise PlanRefused(
                plan, [f"Spec: this plan was made for {plan.spec_source or 'another spec'}, not this one"]
            )

    def _confirm(self, saved: Plan, fresh: Plan) -> Plan:
        """``fresh`` (a plan made now) if it promises what ``saved`` did, else :class:`PlanStale`.

        Every value apply writes comes from ``fresh``: the organization as read now (its
        Apigee project, its own project, its network), project numbers, hosts, fingerprints.
        ``saved`` only says what the user agreed to: any difference that apply would act on
        refuses it, before any write."""
        reasons = []
        then, now = org_fields(saved.org), org_fields(fresh.org)
        for name in then:
            if then[name] != now[name]:
                reasons.append(f"Organization: its {name} is {now[name]!r}, the plan says {then[name]!r}{PLAN_AGAIN}")
        before = {c.kind: c for c in (*saved.changes, *saved.references)}
        after = {c.kind: c for c in (*fresh.changes, *fresh.references)}
        if set(before) != set(after):
            reasons.append(f"Organization: its networking differs from the plan's (other resources apply){PLAN_AGAIN}")
        for kind in (k for k in after if k in before):
            reason = stale_reason(before[kind], after[kind], [p.message for p in fresh.problems if p.kind == kind])
            if reason:
                reasons.append(reason)
        if reasons:
            raise PlanStale(saved, reasons)
        return fresh

    def _recheck(
        self, ctx: Context, kinds: Sequence[Reconciler], plan: Plan, snap: dict[str, Seen]
    ) -> tuple[dict[str, Change], dict[str, Seen]]:
        """Re-read what this process's plan changes; refuse it if apply would now write
        something else (a value the plan showed as known only after apply may be anything)."""
        changes = {c.kind: c for c in (*plan.changes, *plan.references)}
        if set(changes) != {r.kind for r in kinds}:
            raise PlanStale(plan, [f"Organization: its networking changed since the plan{PLAN_AGAIN}"])
        touched = [r for r in kinds if changes[r.kind].action is not Action.NOOP]
        waits = [r for r in touched if changes[r.kind].action is Action.WAIT]  # an operation in flight: read in full
        fresh = self._read(ctx, waits, full=True) | self._read(ctx, [r for r in touched if r not in waits], full=False)
        for seen in fresh.values():
            if seen.error is not None:
                raise seen.error
        merged = {**snap, **fresh}
        reasons: list[str] = []
        for r in touched:
            before, now = changes[r.kind], r.assess(ctx, merged)
            changes[r.kind] = now.change
            reason = stale_reason(before, now.change, now.problems)
            if reason:
                reasons.append(reason)
        if reasons:
            raise PlanStale(plan, reasons)
        return changes, merged

    # -- destroy -----------------------------------------------------------------

    def plan_destroy(self, *, revoke_iam: bool = False, force: bool = False) -> DestroyPlan:
        """Read the live state (no writes) and return what :meth:`destroy` would do: what it
        would delete, what it would keep and why, what is absent, and the problems that stop it
        (a service attachment other consumers are still connected to) unless ``force``.

        :meth:`destroy` given this plan (``plan=``) deletes nothing it does not list, refusing
        (:class:`PlanStale`) when a fresh read would."""
        return self._plan_destroy(self._context(self._org(), revoke_iam=revoke_iam), force)[0]

    def _plan_destroy(
        self, ctx: Context, force: bool
    ) -> tuple[DestroyPlan, dict[str, Seen], list[Reconciler], dict[str, str]]:
        """The destroy plan, what it read, the kinds to delete (in dependency order) and what is
        left of the absent ones that are deleted all the same (by kind)."""
        kinds = self._kinds(ctx.org)
        snap = self._read(ctx, [r for r in kinds if r.managed], full=False)  # references are only kept
        kept: list[Change] = []
        doomed: list[Reconciler] = []
        absent: list[tuple[str, str]] = []
        leftovers: dict[str, str] = {}  # kind -> what is left of an absent resource
        for r in kinds:
            seen = snap.get(r.kind, Seen())
            if r.managed and not seen.found and seen.error is None:
                left = r.leftover(ctx, seen)
                if left is None:
                    absent.append((r.kind, r.name(self.spec)))
                else:
                    leftovers[r.kind] = left
            reason = r.keep_reason(ctx, seen)
            if reason is None and seen.found and r.owner(ctx, seen) is False and not self.adopt:
                reason = "not created by apigee-psc: kept (adopt: true / --adopt lets destroy delete it)"
            if reason is not None and (seen.found or not r.managed):
                kept.append(r.change(ctx, Action.NOOP, seen.live, None, note=reason))
            elif reason is None and (seen.found or r.kind in leftovers):
                if seen.error is not None:
                    raise seen.error
                doomed.append(r)
        problems = [Problem(r.kind, p) for r in doomed if (p := r.delete_problem(ctx, snap[r.kind])) is not None]
        deletes = [
            r.change(ctx, Action.DELETE, snap[r.kind].live, None, note=f"only what is left: {leftovers[r.kind]}")
            if r.kind in leftovers
            else r.change(ctx, Action.DELETE, snap[r.kind].live, None)
            for r in reversed(doomed)
        ]
        plan = DestroyPlan(
            self.spec.source,
            self.spec.organization,
            tuple(deletes),
            tuple(kept),
            tuple(absent),
            tuple(problems),
            revoke_iam=ctx.revoke_iam,
            adopt=self.adopt,
            force=force,
        )
        return plan, snap, doomed, leftovers

    def destroy(
        self,
        *,
        revoke_iam: bool = False,
        force: bool = False,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        plan: DestroyPlan | None = None,
    ) -> DestroyReport:
        """Delete what the spec owns, in reverse dependency order, waiting until each is gone.

        Never deletes what the spec only references (the forwarding rule, the managed zone),
        nor what apigee-psc did not create (unless ``adopt``). Refuses (:class:`PlanRefused`,
        before any delete) to delete a service attachment that still serves connected endpoints
        of other consumers, unless ``force``. The IAM grant is left unless ``revoke_iam``.
        Returns a :class:`DestroyReport`: what was deleted, what was kept and why, and what
        was already gone. ``cancel`` and ``progress`` work as for :meth:`apply`.

        With ``plan`` (from :meth:`plan_destroy`, e.g. the one a person confirmed), the destroy
        is refused with :class:`PlanStale`, before any delete, when a fresh read would now
        delete something the plan does not, or meets a problem the plan did not show (what the
        plan deletes and is gone already is simply absent).
        """
        with self._cancellation.running("destroy", cancel):
            return self._destroy(revoke_iam, force, or_notebook_display(progress), plan)

    def _destroy(
        self, revoke_iam: bool, force: bool, progress: ProgressCallback | None, confirmed: DestroyPlan | None = None
    ) -> DestroyReport:
        run = Run(self, "destroy", progress)
        ctx = self._context(self._org(), revoke_iam=revoke_iam)
        plan, snap, doomed, leftovers = self._plan_destroy(ctx, force)
        # What a refusal carries: the problems, and the resources they name.
        refusal = Plan(self.spec.source, self.spec.organization, plan.deletes, plan.problems, references=plan.kept)
        if confirmed is not None:
            if (confirmed.spec_source, confirmed.organization) != (plan.spec_source, plan.organization):
                made_for = confirmed.spec_source or confirmed.organization
                raise PlanRefused(refusal, [f"Spec: this destroy plan was made for {made_for}, not this one"])
            stale = confirmed.same_as(plan)
            if stale:
                raise PlanStale(refusal, [f"{reason}; nothing was deleted: plan again" for reason in stale])
        by_kind = {r.kind: r for r in self._kinds(ctx.org)}
        done: list[Change] = list(plan.kept)
        for change in plan.kept:
            run.event(by_kind[change.kind], "skipped", change.note)
        if plan.problems and not force:
            raise PlanRefused(refusal, [f"{p.kind}: {p.message}" for p in plan.problems])

        def step(r: Reconciler) -> tuple[bool, Any]:
            run.event(r, "started", "delete")
            started = self.clock()
            r.delete(ctx, snap[r.kind], StepReporter(run, r, started))
            left = leftovers.get(r.kind)
            note = f"deleted what was left: {left}" if left else ""
            done.append(r.change(ctx, Action.DELETE, snap[r.kind].live, None, note=note))
            run.event(r, "done", elapsed=self.clock() - started)
            return True, None

        run.graph(doomed, step, reverse=True)
        return DestroyReport(self.spec.source, self.spec.organization, done, plan.absent)

    # -- TargetEndpoint ----------------------------------------------------------

    def target_xml(self, host: str | None = None) -> str:
        """The TargetEndpoint XML for this connection: the DNS record when the spec has one,
        else the endpoint attachment's host (read from the API unless given)."""
        if self.spec.target_host_name:
            return self.spec.target_xml()
        if host is None:
            host = self.clients.apigee.endpoint_attachments.get(self.spec.endpoint_attachment.name).host
        if not host:
            raise errors.FailedPrecondition(
                f"endpoint attachment {self.spec.endpoint_attachment.name} has no host yet", status_code=0
            )
        return self.spec.target_xml(host)


#: How every reason a plan is stale ends.
PLAN_AGAIN = "; nothing was changed: plan again"


def stale_reason(before: Change, now: Change, problems: Sequence[str] = ()) -> str | None:
    """Why a planned change ``before`` no longer holds, now that apply would make ``now``
    (``None``: it holds). Apply may do less than planned (what the plan created now exists,
    an operation it waited for is done), never something else: a write with other
    differences, or a problem, makes the plan stale. A value the plan showed as known only
    after apply (:func:`~apigee_psc.southbound.plan.known_after_apply`) matches any value."""
    if not problems and not (now.writes and not same_change(before, now)):
        return None
    appeared = before.live is None and now.live is not None
    what = "appeared since the plan" if appeared else "changed since the plan"
    detail = "; ".join(problems) or f"apply would now {now.action.value} it: {'; '.join(now.diffs)}"
    return f"{now.kind}: {before.name} {what} ({detail}){PLAN_AGAIN}"
