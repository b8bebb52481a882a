"""The peered DNS domain of a VPC-peered organization.

It belongs on the network that is peered with Apigee: the organization's
``authorizedNetwork`` (in its own project, unless the value names another), not blindly the
spec's producer network. When the two differ, plan and status say so.
"""

from __future__ import annotations

from typing import Any

from apigee_psc import errors
from apigee_psc.cloud import PeeredDnsDomain
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


class PeeredDnsDomainReconciler(Reconciler):
    """``dns.zone`` of a VPC-peered organization: a peered DNS domain for its domain."""

    kind = "PeeredDnsDomain"

    def applies(self, spec: SouthboundSpec, org: OrgInfo) -> bool:
        return spec.dns is not None and spec.dns.zone is not None and not org.disable_vpc_peering

    def name(self, spec: SouthboundSpec) -> str:
        assert spec.dns is not None and spec.dns.zone is not None
        return spec.dns.zone.name

    def path(self, spec: SouthboundSpec, org: OrgInfo) -> str:
        return spec.peered_dns_domain_path(*org.peered_network) or ""

    def _number(self, ctx: Context) -> str:
        return ctx.clients.resource_manager.projects.number(ctx.org.peered_network[0])

    def read(self, ctx: Context, *, full: bool) -> Seen:
        network = ctx.org.peered_network[1]
        domains = ctx.clients.service_networking.peered_dns_domains
        return read_or_error(lambda: domains.get(self._number(ctx), network, self.name(ctx.spec)))

    def note(self, ctx: Context) -> str:
        """Where the domain goes, when that is not the spec's own network."""
        project, network = ctx.org.peered_network
        if (project, network) == (ctx.spec.project, ctx.spec.network):
            return ""
        return (
            f"on network {network} of project {project}, the one peered with Apigee (the organization's"
            f" authorizedNetwork), not the spec's network {ctx.spec.network} of project {ctx.spec.project}"
        )

    def diff(self, ctx: Context, snap: Snapshot) -> Assessment:
        spec = ctx.spec
        assert spec.dns is not None and spec.dns.zone is not None
        wanted = PeeredDnsDomain(spec.dns.zone.name, spec.dns.zone.domain)
        live: PeeredDnsDomain | None = snap.get(self.kind, Seen()).live
        note = self.note(ctx)
        if live is None:
            created = [FieldDiff("dns_suffix", None, wanted.dns_suffix)]
            return Assessment(self.change(ctx, Action.CREATE, None, wanted, created, note))
        if live.dns_suffix != wanted.dns_suffix:
            moved = [FieldDiff("dns_suffix", live.dns_suffix, wanted.dns_suffix)]
            return Assessment(self.change(ctx, Action.REPLACE, live, wanted, moved, note))
        return Assessment(self.change(ctx, Action.NOOP, live, wanted, note=note))

    def in_sync_note(self, ctx: Context, snap: Snapshot, change: Change) -> str | None:
        return change.note or None

    def apply(self, ctx: Context, change: Change, snap: Snapshot, step: Step) -> Any:
        wanted: PeeredDnsDomain = change.wanted
        network = ctx.org.peered_network[1]
        domains = ctx.clients.service_networking.peered_dns_domains
        try:
            domains.create(self._number(ctx), network, wanted.name, wanted.dns_suffix, timeout=ctx.timeout)
        except errors.AlreadyExists:
            logger.info("apply: peered DNS domain %s already exists; adopting it", wanted.name)
        return wanted

    def delete(self, ctx: Context, seen: Seen, step: Step) -> None:
        domains = ctx.clients.service_networking.peered_dns_domains
        network = ctx.org.peered_network[1]
        domains.delete(self._number(ctx), network, self.name(ctx.spec), timeout=ctx.timeout, missing_ok=True)
