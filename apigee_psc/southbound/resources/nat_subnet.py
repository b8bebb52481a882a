"""The PSC NAT subnet (``purpose: PRIVATE_SERVICE_CONNECT``) the spec creates.

Its range cannot change in place and it may be in use, so a difference is never repaired by
replacing it: that is a plan problem.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from apigee_psc.compute.models import Subnet
from apigee_psc.names import short
from apigee_psc.southbound.capacity import subnet_warning
from apigee_psc.southbound.plan import Action, Change, FieldDiff
from apigee_psc.southbound.resources.base import (
    Assessment,
    Context,
    Reconciler,
    Seen,
    Snapshot,
    Step,
    read_or_error,
)
from apigee_psc.southbound.spec import SouthboundSpec

PSC = "PRIVATE_SERVICE_CONNECT"


class NatSubnetReconciler(Reconciler):
    """``nat_subnet``: name and range."""

    kind = "NatSubnet"
    marked = True

    def name(self, spec: SouthboundSpec) -> str:
        return spec.nat_subnet.name

    def path(self, spec: SouthboundSpec, org: object) -> str:
        return spec.nat_subnet_path

    def wanted(self, ctx: Context) -> Subnet:
        """The subnet the spec describes."""
        spec = ctx.spec
        return Subnet(
            spec.nat_subnet.name, spec.nat_subnet.range, spec.network, spec.region, PSC, ctx.mark, spec.nat_subnet_path
        )

    def read(self, ctx: Context, *, full: bool) -> Seen:
        """The subnet; for a plan that would create it (or finds another range), also the
        region's subnets, for the range overlap check. A subnet that exists with the spec's
        range needs no such check: Compute refuses overlapping ranges in a network."""
        subnets = ctx.clients.compute.subnets
        seen = read_or_error(lambda: subnets.get(ctx.spec.nat_subnet.name))
        live: Subnet | None = seen.live
        if not full or seen.error is not None or (live is not None and live.ip_cidr_range == ctx.spec.nat_subnet.range):
            return seen
        side = read_or_error(lambda: list(subnets.list()))
        return Seen(live, side.error, {} if side.error else {"network_subnets": side.live})

    def diff(self, ctx: Context, snap: Snapshot) -> Assessment:
        spec = ctx.spec
        seen = snap.get(self.kind, Seen())
        wanted = self.wanted(ctx)
        network = ipaddress.ip_network(wanted.ip_cidr_range)
        problems: list[str] = []
        for other in seen.extra.get("network_subnets") or ():
            if other.name == wanted.name or not other.ip_cidr_range:
                continue
            if short(other.network) not in ("", spec.network):
                continue
            try:
                overlaps = ipaddress.ip_network(other.ip_cidr_range, strict=False).overlaps(network)
            except ValueError:
                continue
            if overlaps:
                where = f"subnet {other.name} ({other.ip_cidr_range}) of network {spec.network}"
                problems.append(f"NAT range {network} overlaps {where}")
        live: Subnet | None = seen.live
        note = self.capacity_warning(ctx) or ""
        if live is None:
            return Assessment(
                self.change(ctx, Action.CREATE, None, wanted, [FieldDiff("range", None, wanted.ip_cidr_range)], note),
                tuple(problems),
            )
        fields = []
        if live.ip_cidr_range != wanted.ip_cidr_range:
            fields.append(FieldDiff("range", live.ip_cidr_range, wanted.ip_cidr_range))
        if (live.purpose or "") != PSC:
            fields.append(FieldDiff("purpose", live.purpose or "none", PSC))
        action = Action.REPLACE if fields else Action.NOOP
        return Assessment(self.change(ctx, action, live, wanted, fields, note), tuple(problems))

    @staticmethod
    def capacity_warning(ctx: Context) -> str | None:
        """A warning when the NAT range cannot hold every connection the spec's limits allow
        under ACCEPT_MANUAL: each accepted project (the Apigee project among them) up to
        ``connection_limit`` endpoints plus ``propagated_connection_limit`` propagated
        connections (counted when the spec sets it: Apigee's own endpoints are not propagated)."""
        sa = ctx.spec.service_attachment
        if sa.connection_preference != "ACCEPT_MANUAL":
            return None
        consumers = set(sa.accept_projects)
        tenant = ctx.org.apigee_project_id
        if tenant and tenant not in sa.reject_projects:
            consumers.add(tenant)
        spokes = sa.propagated_connection_limit or 0
        return subnet_warning(
            ctx.spec.nat_subnet.name,
            ctx.spec.nat_subnet.range,
            consumers=len(consumers),
            connection_limit=sa.connection_limit,
            propagated_connection_limit=spokes,
        )

    def apply(self, ctx: Context, change: Change, snap: Snapshot, step: Step) -> Any:
        wanted = self.wanted(ctx)
        return self.adopt_existing(
            ctx,
            snap,
            step,
            lambda: ctx.clients.compute.subnets.create(
                wanted.name,
                network=wanted.network,
                ip_cidr_range=wanted.ip_cidr_range,
                description=wanted.description,
                timeout=ctx.timeout,
            ),
            wanted,
        )

    def delete(self, ctx: Context, seen: Seen, step: Step) -> None:
        ctx.clients.compute.subnets.delete(ctx.spec.nat_subnet.name, timeout=ctx.timeout, missing_ok=True)
