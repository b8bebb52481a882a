"""The ingress firewall rule the spec creates: TCP ``ports`` from the NAT range to ``target_tags``.

A rule of apigee-psc's own (or an adopted one) that differs is replaced (deleted and created
again): nothing depends on a firewall rule's identity.
"""

from __future__ import annotations

from typing import Any

from apigee_psc.compute.models import Firewall, FirewallAllowed
from apigee_psc.southbound.live import OrgInfo
from apigee_psc.southbound.plan import Action, Change, FieldDiff
from apigee_psc.southbound.resources.base import (
    Assessment,
    Context,
    Reconciler,
    Seen,
    Snapshot,
    Step,
    logger,
    read_or_error,
)
from apigee_psc.southbound.spec import SouthboundSpec


class FirewallReconciler(Reconciler):
    """``firewall``: name, ports, target tags (the source range is the NAT range)."""

    kind = "Firewall"
    marked = True
    replaceable = True

    def applies(self, spec: SouthboundSpec, org: OrgInfo) -> bool:
        return spec.firewall is not None

    def name(self, spec: SouthboundSpec) -> str:
        assert spec.firewall is not None
        return spec.firewall.name

    def path(self, spec: SouthboundSpec, org: object) -> str:
        return spec.firewall_path or ""

    def wanted(self, ctx: Context) -> Firewall:
        """The rule the spec describes."""
        spec = ctx.spec
        assert spec.firewall is not None
        return Firewall(
            name=spec.firewall.name,
            network=spec.network,
            source_ranges=(spec.nat_subnet.range,),
            target_tags=tuple(sorted(spec.firewall.target_tags)),
            allowed=(FirewallAllowed("tcp", tuple(str(port) for port in sorted(spec.firewall.ports))),),
            description=ctx.mark,
        )

    def read(self, ctx: Context, *, full: bool) -> Seen:
        return read_or_error(lambda: ctx.clients.compute.firewalls.get(self.name(ctx.spec)))

    def diff(self, ctx: Context, snap: Snapshot) -> Assessment:
        wanted = self.wanted(ctx)
        live: Firewall | None = snap.get(self.kind, Seen()).live
        ports = sorted(int(port) for port in wanted.allowed[0].ports)
        if live is None:
            created = FieldDiff("allow", None, f"tcp:{','.join(map(str, ports))} from {wanted.source_ranges[0]}")
            return Assessment(self.change(ctx, Action.CREATE, None, wanted, [created]))
        fields = []
        if sorted(live.source_ranges) != list(wanted.source_ranges):
            fields.append(FieldDiff("source_ranges", tuple(live.source_ranges), wanted.source_ranges))
        if sorted(live.tcp_ports) != ports:
            fields.append(FieldDiff("ports", tuple(sorted(live.tcp_ports)), tuple(ports)))
        if sorted(live.target_tags) != list(wanted.target_tags):
            fields.append(FieldDiff("target_tags", tuple(sorted(live.target_tags)), wanted.target_tags))
        if not fields:
            return Assessment(self.change(ctx, Action.NOOP, live, wanted))
        return Assessment(self.change(ctx, Action.REPLACE, live, wanted, fields, "firewall rule is recreated"))

    def apply(self, ctx: Context, change: Change, snap: Snapshot, step: Step) -> Any:
        wanted = self.wanted(ctx)
        firewalls = ctx.clients.compute.firewalls
        if change.action is Action.REPLACE:
            logger.info("apply: recreating firewall rule %s", wanted.name)
            self.delete(ctx, Seen(change.live), step)
        return self.adopt_existing(
            ctx,
            snap,
            step,
            lambda: firewalls.create(
                wanted.name,
                network=wanted.network,
                source_ranges=list(wanted.source_ranges),
                ports=[int(port) for port in wanted.allowed[0].ports],
                target_tags=list(wanted.target_tags),
                description=wanted.description,
                timeout=ctx.timeout,
            ),
            wanted,
        )

    def delete(self, ctx: Context, seen: Seen, step: Step) -> None:
        ctx.clients.compute.firewalls.delete(self.name(ctx.spec), timeout=ctx.timeout, missing_ok=True)
