"""The Cloud DNS private zone the A record goes in: referenced, never created nor deleted.

A missing zone is a plan problem, so an apply never stops half-way at the record.
"""

from __future__ import annotations

from apigee_psc.southbound.live import OrgInfo
from apigee_psc.southbound.plan import Action
from apigee_psc.southbound.resources.base import Assessment, Context, Reconciler, Seen, Snapshot, read_or_error
from apigee_psc.southbound.spec import SouthboundSpec


class ManagedZoneReconciler(Reconciler):
    """``dns.managed_zone``: the producer project's Cloud DNS zone."""

    kind = "ManagedZone"
    managed = False

    def applies(self, spec: SouthboundSpec, org: OrgInfo) -> bool:
        return spec.dns is not None and spec.dns.managed_zone is not None

    def name(self, spec: SouthboundSpec) -> str:
        assert spec.dns is not None and spec.dns.managed_zone is not None
        return spec.dns.managed_zone

    def path(self, spec: SouthboundSpec, org: object) -> str:
        return spec.managed_zone_path or ""

    def read(self, ctx: Context, *, full: bool) -> Seen:
        spec = ctx.spec
        return read_or_error(lambda: ctx.clients.dns.managed_zones.get(spec.project, self.name(spec)))

    def diff(self, ctx: Context, snap: Snapshot) -> Assessment:
        live = snap.get(self.kind, Seen()).live
        problems: tuple[str, ...] = ()
        if live is None:
            problems = (
                f"Cloud DNS managed zone {self.name(ctx.spec)} does not exist in project {ctx.spec.project}: create it"
                " (a private zone on the producer network) or correct dns.managed_zone",
            )
        return Assessment(self.change(ctx, Action.NOOP, live, None, note="referenced, not managed"), problems)
