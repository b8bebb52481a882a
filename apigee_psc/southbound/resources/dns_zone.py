"""The Apigee DNS peering zone (organizations without VPC peering).

Created under the organization lock; right after the dns.peer grant, Apigee may refuse it
(403) or fail its operation (code 7) until the grant has propagated: :data:`IAM_PROPAGATION`
retries it, a declared tenacity policy like the waiters'. The zone's ``description`` carries
apigee-psc's mark, so destroy deletes only zones it created.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import tenacity

from apigee_psc import errors
from apigee_psc._retry import Backoff
from apigee_psc.models import DnsZone
from apigee_psc.southbound.live import OrgInfo
from apigee_psc.southbound.plan import Action, Change, FieldDiff
from apigee_psc.southbound.resources.base import (
    Assessment,
    Context,
    Reconciler,
    Seen,
    Snapshot,
    Step,
    delete_apigee,
    logger,
    read_or_error,
)
from apigee_psc.southbound.spec import SouthboundSpec

#: How long a DNS zone create is retried while a fresh roles/dns.peer grant propagates.
IAM_PROPAGATION_SECONDS = 180.0


def grant_not_yet_seen(error: BaseException) -> bool:
    """True for the two forms of "the service agent lacks roles/dns.peer" that a fresh grant
    cures once it has propagated."""
    if isinstance(error, errors.PermissionDenied):
        return True
    code: object = getattr(error, "code", None)
    return isinstance(error, errors.OperationFailed) and code == 7


@dataclass(frozen=True)
class PropagationPolicy:
    """A declared retry for IAM propagation (a :class:`~apigee_psc._retry.Backoff`): ``initial``
    seconds doubled up to ``maximum``, jittered over the upper half, while ``retryable`` holds
    and no try would start after this module's ``IAM_PROPAGATION_SECONDS``."""

    retryable: Callable[[BaseException], bool]
    initial: float = 2.0
    maximum: float = 30.0

    @property
    def backoff(self) -> Backoff:
        """The shape of the retries, within the current ``IAM_PROPAGATION_SECONDS``."""
        return Backoff(self.initial, 2.0, self.maximum, "upper_half", IAM_PROPAGATION_SECONDS)

    def call(self, fn: Callable[[], None], *, sleep: Callable[[float], None], clock: Callable[[], float]) -> None:
        """Run ``fn`` under this policy."""
        backoff = self.backoff

        def announce(state: tenacity.RetryCallState) -> None:
            logger.info("apply: DNS zone refused (PERMISSION_DENIED); the IAM grant may still be propagating")

        def next_try_too_late(attempt: int, error: BaseException | None, left: float) -> bool:
            return backoff.cap(attempt) > left

        backoff.retrying(self.retryable, sleep=sleep, clock=clock, give_up=next_try_too_late, announce=announce)(fn)


#: The DNS zone create's retry while a fresh roles/dns.peer grant propagates.
IAM_PROPAGATION = PropagationPolicy(grant_not_yet_seen)


class DnsZoneReconciler(Reconciler):
    """``dns.zone``: the Apigee DNS peering zone into the producer network."""

    kind = "DnsZone"
    # Not after the endpoint attachment: the zone needs only the grant, so in a fleet the
    # organization's one-operation-at-a-time queue is busy while Compute steps still run.
    depends_on = ("IamBinding",)
    marked = True

    def applies(self, spec: SouthboundSpec, org: OrgInfo) -> bool:
        return spec.dns is not None and spec.dns.zone is not None and org.disable_vpc_peering

    def name(self, spec: SouthboundSpec) -> str:
        assert spec.dns is not None and spec.dns.zone is not None
        return spec.dns.zone.name

    def path(self, spec: SouthboundSpec, org: object) -> str:
        return spec.dns_zone_path or ""

    def wanted(self, ctx: Context) -> DnsZone:
        """The zone the spec describes (its description carries apigee-psc's mark)."""
        spec = ctx.spec
        assert spec.dns is not None and spec.dns.zone is not None
        zone = spec.dns.zone
        description = f"{zone.description} ({ctx.mark})" if zone.description else ctx.mark
        return DnsZone(zone.name, zone.domain, description[:1024], spec.project, spec.network, self.path(spec, None))

    def read(self, ctx: Context, *, full: bool) -> Seen:
        return read_or_error(lambda: ctx.clients.apigee.dns_zones.get(self.name(ctx.spec)))

    def diff(self, ctx: Context, snap: Snapshot) -> Assessment:
        wanted = self.wanted(ctx)
        live: DnsZone | None = snap.get(self.kind, Seen()).live
        if live is None:
            return Assessment(self.change(ctx, Action.CREATE, None, wanted, [FieldDiff("domain", None, wanted.domain)]))
        fields = []
        if live.domain != wanted.domain:
            fields.append(FieldDiff("domain", live.domain, wanted.domain))
        if (live.target_project_id or wanted.target_project_id) != wanted.target_project_id:
            fields.append(FieldDiff("target_project_id", live.target_project_id, wanted.target_project_id))
        if fields:
            return Assessment(self.change(ctx, Action.REPLACE, live, wanted, fields))
        if str(live.state) != "ACTIVE":
            return Assessment(self.change(ctx, Action.WAIT, live, wanted, note=str(live.state)))
        return Assessment(self.change(ctx, Action.NOOP, live, wanted))

    def apply(self, ctx: Context, change: Change, snap: Snapshot, step: Step) -> Any:
        wanted: DnsZone = change.wanted
        zones = ctx.clients.apigee.dns_zones
        done: list[DnsZone] = []
        if change.action is Action.CREATE:

            def attempt() -> None:  # the lock is held per attempt, not over the waits between them
                with step.org_lock():
                    try:
                        operation = zones.create(
                            wanted.name,
                            domain=wanted.domain,
                            description=wanted.description,
                            target_project_id=ctx.spec.project,
                            target_network_id=ctx.spec.network,
                            timeout=ctx.timeout,
                            progress=step.waiting(),
                        )
                    except errors.AlreadyExists:
                        logger.info("apply: DNS zone %s already exists; adopting it", wanted.name)
                        return
                    finished = ctx.clients.apigee.operations.wait(
                        operation, timeout=ctx.timeout, progress=step.waiting()
                    )
                zone = finished.result(DnsZone)
                if zone is not None:
                    done.append(zone)

            IAM_PROPAGATION.call(attempt, sleep=ctx.sleep, clock=ctx.clock)
        # The create's operation answers with the zone: ACTIVE there, it needs no other read.
        if done and str(done[-1].state) == "ACTIVE" and done[-1].name == wanted.name:
            return done[-1]
        return zones.wait_until_active(wanted.name, timeout=ctx.timeout, progress=step.waiting())

    def delete(self, ctx: Context, seen: Seen, step: Step) -> None:
        zones = ctx.clients.apigee.dns_zones
        delete_apigee(ctx, step, self.name(ctx.spec), zones.delete, zones.wait_until_deleted)
