"""The protocol every resource kind implements, and what the runner hands to it.

A :class:`Reconciler` knows one kind of resource (the NAT subnet, the service attachment, ...):
how to :meth:`~Reconciler.read` it, how it differs from the spec (:meth:`~Reconciler.diff`,
a typed :class:`~apigee_psc.southbound.plan.Change` holding the live and the wanted object),
how to carry a change out (:meth:`~Reconciler.apply`), how to report it
(:meth:`~Reconciler.realize`) and how to delete it. The engine knows no kind: it reads every
kind, diffs, orders steps by ``depends_on`` and reports, in the manner of octoDNS's
``BaseProvider.plan()/apply()`` that know nothing about record types.

``realize`` is built on ``diff``: an entity is ``in_sync`` exactly when its assessment is a
no-op without problems, so status can never call in sync what plan would change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from apigee_psc import errors
from apigee_psc._http import ClientKwargs, ClientOptions
from apigee_psc.southbound.live import OrgInfo
from apigee_psc.southbound.ownership import Ownership, description_mark, txt_mark
from apigee_psc.southbound.plan import Action, Change, FieldDiff, Plan, Problem
from apigee_psc.southbound.reports import EntityStatus, Realization

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from apigee_psc.apigee import ApigeeClient
    from apigee_psc.cloud import CloudDnsClient, ResourceManagerClient, ServiceNetworkingClient
    from apigee_psc.compute import ComputeClient
    from apigee_psc.southbound.spec import SouthboundSpec
    from apigee_psc.waiters import Schedule, WaitProgress

__all__ = [
    "Assessment",
    "Clients",
    "Context",
    "PlanReads",
    "PlanRefused",
    "PlanStale",
    "Reconciler",
    "Seen",
    "Snapshot",
    "Step",
]

logger = logging.getLogger("apigee_psc.southbound")


def message(error: BaseException) -> str:
    """An error as one line for a report."""
    if isinstance(error, errors.ApiError) and error.status_code:  # 0: no HTTP answer, no status to show
        return f"{error.status_code} {error.rpc_status or ''}: {error.message}".replace(" :", ":")
    return str(error)


class PlanRefused(errors.ApigeePscError):
    """A plan cannot be applied: it has problems (including a resource apigee-psc must not
    change or delete), or it no longer describes the live state."""

    def __init__(self, plan: Plan, reasons: list[str] | tuple[str, ...]) -> None:
        self.plan = plan
        self.reasons = list(reasons)
        super().__init__("cannot apply: " + "; ".join(self.reasons))

    @classmethod
    def of(cls, spec: SouthboundSpec, kind: str, text: str, change: Change | None = None) -> PlanRefused:
        """Refuse with one problem of ``kind``."""
        plan = Plan(spec.source, spec.organization, (change,) if change else (), (Problem(kind, text),))
        return cls(plan, [f"{kind}: {text}"])


class PlanStale(PlanRefused):
    """A saved plan no longer matches what a fresh read of the resources it changes shows."""


@dataclass(frozen=True)
class Seen:
    """What one kind's read found: the live object (``None`` when absent), or the error that
    stopped the read; ``extra`` holds the side reads a kind needs for planning (other subnets
    of the network, an operation in flight, ...)."""

    live: Any = None
    error: BaseException | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def found(self) -> bool:
        """True if the resource exists."""
        return self.live is not None


Snapshot = Mapping[str, Seen]


@dataclass(frozen=True)
class PlanReads:
    """What a plan read, kept on the :class:`Plan` (never saved) for the apply of the same
    connection: where it read from (:attr:`Clients.source`; an apply reading elsewhere, or
    of a plan read back from a file, plans anew), the organization and every kind's
    :class:`Seen`."""

    source: tuple[object, ...]
    org: OrgInfo
    snapshot: Snapshot


@dataclass(frozen=True)
class Assessment:
    """One kind's diff: the change, the problems that stop an apply, and what the live
    resource's marks say (``ownership``, naming another owner when there is one; ``None``:
    absent, or a kind that carries no mark)."""

    change: Change
    problems: tuple[str, ...] = ()
    ownership: Ownership | None = None

    @property
    def owned(self) -> bool | None:
        """True if the live resource is this spec's own, False if not, None when absent or unmarked."""
        return None if self.ownership is None else self.ownership.owned

    @property
    def noop(self) -> bool:
        """True when apply has nothing to do and nothing stops it: the entity is in sync."""
        return self.change.action is Action.NOOP and not self.problems


class Clients:
    """The API clients of one connection, each built on first use with the same options."""

    def __init__(
        self,
        spec: SouthboundSpec,
        *,
        schedule: Schedule | None = None,
        given: Mapping[str, object] | None = None,
        **options: Unpack[ClientKwargs],
    ) -> None:
        self.spec = spec
        self.schedule = schedule
        #: The options every client is built with.
        self.options = ClientOptions(**options)
        #: What a read saw that a write may start from, by key, with the clock of the read
        #: (the IAM policy, whose etag guards the write): taken once, by the write.
        self.memo: dict[str, tuple[float, Any]] = {}
        for key, value in (given or {}).items():
            if value is not None:
                self.__dict__[key] = value

    @property
    def source(self) -> tuple[object, ...]:
        """Where these clients read from: the endpoint (given, or the emulator's from the
        environment), the credentials object and the quota project. Reads made through
        clients of the same source are as good as this process's own."""
        import os

        options = self.options
        emulator = os.environ.get("APIGEE_PSC_EMULATOR_HOST")
        return (options.endpoint, emulator, id(options.credentials), options.quota_project_id)

    @cached_property
    def apigee(self) -> ApigeeClient:
        """The Apigee client of the spec's organization."""
        from apigee_psc.apigee import ApigeeClient

        return ApigeeClient(self.spec.organization, schedule=self.schedule, **self.options.kwargs())

    @cached_property
    def compute(self) -> ComputeClient:
        """The Compute client of the producer project and region."""
        from apigee_psc.compute import ComputeClient

        return ComputeClient(self.spec.project, self.spec.region, **self.options.kwargs())

    @cached_property
    def dns(self) -> CloudDnsClient:
        """The Cloud DNS client."""
        from apigee_psc.cloud import CloudDnsClient

        return CloudDnsClient(**self.options.kwargs())

    @cached_property
    def resource_manager(self) -> ResourceManagerClient:
        """The Resource Manager client (project numbers, IAM)."""
        from apigee_psc.cloud import ResourceManagerClient

        return ResourceManagerClient(**self.options.kwargs())

    @cached_property
    def service_networking(self) -> ServiceNetworkingClient:
        """The Service Networking client (peered DNS domains)."""
        from apigee_psc.cloud import ServiceNetworkingClient

        return ServiceNetworkingClient(**self.options.kwargs())


@dataclass
class Context:
    """What every reconciler works with: the spec, the clients, the organization as read, and
    the run's options (``adopt``, ``timeout``, ``revoke_iam`` for destroy)."""

    spec: SouthboundSpec
    clients: Clients
    org: OrgInfo
    adopt: bool = False
    timeout: float = 1800.0
    sleep: Callable[[float], None] = field(default=lambda _: None)
    clock: Callable[[], float] = field(default=lambda: 0.0)
    revoke_iam: bool = False

    @property
    def owner_id(self) -> str:
        """This spec's owner id, which its marks name: the endpoint attachment it serves."""
        return self.spec.endpoint_attachment_path

    @property
    def mark(self) -> str:
        """The ``description`` of the Compute resources this spec creates."""
        return description_mark(self.owner_id)

    @property
    def owner_txt(self) -> str:
        """The TXT string that marks the A record as this spec's."""
        return txt_mark(self.owner_id)


class Step(Protocol):
    """What the runner gives a reconciler's ``apply``/``delete``: progress and the org lock."""

    label: str

    def event(self, status: str, detail: str = "", *, state: str | None = None) -> None:
        """Report progress (``started``, ``waiting``, ``done``, ``skipped``)."""

    def waiting(self) -> Callable[[WaitProgress], None]:
        """A ``progress`` callback for a client's wait, reported as this step's."""

    def org_lock(self) -> AbstractContextManager[None]:
        """Hold this process's lock on the organization (one Apigee operation at a time)."""


class Reconciler:
    """One kind of resource. Subclasses set ``kind`` and ``depends_on`` and implement
    ``applies``, ``name``, ``path``, ``read``, ``diff``, ``apply`` and ``delete``.

    ``managed`` is False for what the spec only references (never created nor deleted);
    ``replaceable`` allows apply to delete and create it again when it differs.
    """

    kind: ClassVar[str]
    depends_on: ClassVar[tuple[str, ...]] = ()
    managed: ClassVar[bool] = True
    replaceable: ClassVar[bool] = False
    #: Compute resources carry apigee-psc's mark in their ``description``.
    marked: ClassVar[bool] = False

    def applies(self, spec: SouthboundSpec, org: OrgInfo) -> bool:
        """True if the spec (and the organization's networking mode) has this kind."""
        return True

    def name(self, spec: SouthboundSpec) -> str:
        """The resource's short name."""
        raise NotImplementedError

    def path(self, spec: SouthboundSpec, org: OrgInfo) -> str:
        """The resource's full path (built by the spec)."""
        raise NotImplementedError

    def read(self, ctx: Context, *, full: bool) -> Seen:
        """Read the live resource; ``full`` adds the side reads only a plan needs."""
        raise NotImplementedError

    def diff(self, ctx: Context, snap: Snapshot) -> Assessment:
        """How the live resource differs from the spec."""
        raise NotImplementedError

    def apply(self, ctx: Context, change: Change, snap: Snapshot, step: Step) -> Any:
        """Carry out ``change``; returns the resource as it now is when known (else ``None``)."""
        raise NotImplementedError

    def delete(self, ctx: Context, seen: Seen, step: Step) -> None:
        """Delete the live resource (it exists and apigee-psc may delete it)."""
        raise NotImplementedError

    # -- shared behaviour -------------------------------------------------------------

    def ownership(self, ctx: Context, seen: Seen) -> Ownership | None:
        """What the live resource's marks say (``None``: absent, or a kind without a mark);
        by default the mark in its ``description`` (see :mod:`apigee_psc.southbound.ownership`)."""
        if not self.marked or seen.live is None:
            return None
        return Ownership.of_description(ctx.owner_id, getattr(seen.live, "description", ""))

    def owner(self, ctx: Context, seen: Seen) -> bool | None:
        """True if the live resource is this spec's, False if not, None when absent or unmarked."""
        found = self.ownership(ctx, seen)
        return None if found is None else found.owned

    def change(
        self,
        ctx: Context,
        action: Action,
        live: Any,
        wanted: Any,
        fields: tuple[FieldDiff, ...] | list[FieldDiff] = (),
        note: str = "",
        operation: str | None = None,
    ) -> Change:
        """A change of this kind."""
        spec = ctx.spec
        return Change(
            action, self.kind, self.name(spec), self.path(spec, ctx.org), tuple(fields), note, operation, live, wanted
        )

    def assess(self, ctx: Context, snap: Snapshot) -> Assessment:
        """:meth:`diff` plus the rules every kind obeys: what apigee-psc did not create is
        never changed unless adopted, and only a ``replaceable`` kind is ever replaced."""
        found = self.diff(ctx, snap)
        change, problems = found.change, list(found.problems)
        ownership = self.ownership(ctx, snap.get(self.kind, Seen()))
        owned = None if ownership is None else ownership.owned
        diffs = "; ".join(change.diffs)
        if change.action in (Action.UPDATE, Action.REPLACE):
            if ownership is not None and ownership.other is not None:
                problems.append(
                    f"{change.name} exists and differs from the spec ({diffs}), but {ownership.why_not_ours()},"
                    " so this spec will not change it (not even with adopt): make the spec match it, change it"
                    f" through the spec of {ownership.other}, or give this spec other names"
                )
            elif owned is False and not ctx.adopt:
                problems.append(
                    f"{change.name} exists and differs from the spec ({diffs}), but apigee-psc did not create it,"
                    " so it will not change it: make the spec match it, or set adopt: true in the spec (--adopt)"
                    " to take it over"
                )
            elif change.action is Action.REPLACE and not self.replaceable:
                problems.append(
                    f"{change.name} would have to be replaced ({diffs}); apigee-psc does not delete what may be in"
                    " use: destroy it first, or change the spec back"
                )
        return Assessment(replace(change, owned=owned), tuple(problems), ownership)

    def realize(self, ctx: Context, snap: Snapshot, assessment: Assessment) -> EntityStatus:
        """The entity's realization: ``in_sync`` exactly when ``assessment`` is a no-op;
        otherwise why not (see :meth:`lifecycle` for kinds with a lifecycle of their own)."""
        seen = snap.get(self.kind, Seen())
        change = assessment.change
        ident = change.resource_id
        if seen.error is not None:
            return EntityStatus(self.kind, ident, Realization.UNKNOWN, message(seen.error))
        observed = self.observed(seen)
        if assessment.noop:
            return EntityStatus(self.kind, ident, Realization.IN_SYNC, self.in_sync_note(ctx, snap, change), observed)
        if seen.live is None:
            text = assessment.problems[0] if assessment.problems else self.missing(change)
            return EntityStatus(self.kind, ident, Realization.NOT_FOUND, text, observed)
        state, text = self.lifecycle(ctx, snap, assessment)
        return EntityStatus(self.kind, ident, state, text, observed)

    def lifecycle(self, ctx: Context, snap: Snapshot, assessment: Assessment) -> tuple[Realization, str]:
        """State and message of an existing entity that is not in sync (by default: apply
        would change it, so it is in progress)."""
        change = assessment.change
        if change.action is Action.NOOP:
            return Realization.FAILED, "; ".join(assessment.problems)
        what = "; ".join(change.diffs) or change.note or change.action.value
        return Realization.IN_PROGRESS, f"differs from the spec, apply would {change.action.value} it: {what}"

    def in_sync_note(self, ctx: Context, snap: Snapshot, change: Change) -> str | None:
        """A message for an in-sync entity (e.g. consumers kept that the spec does not name)."""
        return None

    def missing(self, change: Change) -> str:
        """Why an absent entity is not in sync."""
        return f"{self.kind} does not exist"

    def summary(self, live: Any) -> tuple[str, str | None]:
        """The detail and state of the ``done`` progress event after applying (by default none)."""
        return "", None

    def delete_problem(self, ctx: Context, seen: Seen) -> str | None:
        """Why deleting the live resource would harm others (a destroy problem unless forced)."""
        return None

    def leftover(self, ctx: Context, seen: Seen) -> str | None:
        """What apigee-psc left of an absent resource, which destroy deletes too (``None``:
        nothing; e.g. the DNS record's ownership mark when its A record is gone)."""
        return None

    def keep_reason(self, ctx: Context, seen: Seen) -> str | None:
        """Why destroy leaves this resource in place (``None``: it deletes it if it may): a
        resource another spec marked is kept, whatever ``adopt`` says."""
        if not self.managed:
            return "referenced, not owned: kept"
        found = self.ownership(ctx, seen)
        if found is not None and found.other is not None:
            return f"{found.why_not_ours()}: kept"
        return None

    def observed(self, seen: Seen) -> dict[str, Any]:
        """Live values worth showing beside the state."""
        return {}

    def adopt_existing(
        self, ctx: Context, snap: Snapshot, step: Step, create: Callable[[], object], written: Any
    ) -> Any:
        """Create; if it appeared under the same name since the plan, adopt it only if it
        matches the spec or is apigee-psc's own (then bring it to the spec), else refuse.

        Returns ``written`` once ``create`` returned (the resource as written, which the final
        report reuses without a read: only for a kind whose every reported field was written;
        ``None`` has it read again), or the adopted resource."""
        try:
            create()
            return written
        except errors.AlreadyExists:
            fresh = {**snap, self.kind: self.read(ctx, full=False)}
        found = self.assess(ctx, fresh)
        if found.noop:
            logger.info("apply: %s %s already exists and matches the spec; adopting it", self.kind, found.change.name)
            return fresh[self.kind].live
        if (found.owned is False and not ctx.adopt) or found.problems:
            why = found.ownership.why_not_ours() if found.ownership is not None else "apigee-psc did not create it"
            text = (
                f"{found.change.name} appeared since the plan, {why}, and it differs from the"
                f" spec ({'; '.join(found.change.diffs)}): it is left as it is (adopt: true / --adopt takes over"
                " an unmarked one)"
            )
            raise PlanRefused.of(ctx.spec, self.kind, text, found.change)
        return self.apply(ctx, found.change, fresh, step)


def read_or_error(fn: Callable[[], Any], **extra: Callable[[], Any]) -> Seen:
    """A :class:`Seen` from ``fn`` (NotFound is absence, other library errors are kept), with
    side reads ``extra`` (each absent on NotFound)."""
    try:
        live = fn()
    except errors.NotFound:
        live = None
    except errors.ApigeePscError as exc:
        return Seen(None, exc)
    side: dict[str, Any] = {}
    for key, read in extra.items():
        try:
            side[key] = read()
        except errors.NotFound:
            side[key] = None
        except errors.ApigeePscError as exc:
            return Seen(live, exc)
    return Seen(live, None, side)


def delete_apigee(
    ctx: Context, step: Step, name: str, delete: Callable[..., Any], wait_until_deleted: Callable[..., Any]
) -> None:
    """Delete an Apigee resource holding this process's organization lock until its operation
    is done, then wait until it is gone (a 404 on the delete means it already is)."""
    with step.org_lock():
        try:
            operation = delete(name, timeout=ctx.timeout, progress=step.waiting())
            ctx.clients.apigee.operations.wait(operation, timeout=ctx.timeout, progress=step.waiting())
        except errors.NotFound:
            logger.info("destroy: %s already gone", step.label)
    wait_until_deleted(name, timeout=ctx.timeout, progress=step.waiting())


def live_of(snap: Snapshot, kind: str) -> Any:
    """The live object of ``kind`` in ``snap`` (``None`` when absent or unread)."""
    seen = snap.get(kind)
    return seen.live if seen is not None else None
