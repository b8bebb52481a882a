"""roles/dns.peer for the Apigee service agent on the producer project (VPC-peering-free orgs).

Apigee needs it to create the DNS peering zone. The agent is named after the number of the
organization's own project (``projectId``); a ``projectId`` that is not a valid project id
is reported as the organization's, not as the spec's ``project``.
"""

from __future__ import annotations

from typing import Any

from apigee_psc.cloud import DNS_PEER_ROLE
from apigee_psc.southbound.live import Grant, OrgInfo
from apigee_psc.southbound.plan import Action, Change, FieldDiff
from apigee_psc.southbound.resources.base import Assessment, Context, Reconciler, Seen, Snapshot, Step, read_or_error
from apigee_psc.southbound.spec import SouthboundSpec

#: How old a policy read may be for the grant to start from it (the etag keeps it safe anyway).
POLICY_REUSE_SECONDS = 120.0


class IamGrantReconciler(Reconciler):
    """The dns.peer grant (only for organizations without VPC peering that have a DNS zone)."""

    kind = "IamBinding"

    def applies(self, spec: SouthboundSpec, org: OrgInfo) -> bool:
        return spec.dns is not None and spec.dns.zone is not None and org.disable_vpc_peering

    def name(self, spec: SouthboundSpec) -> str:
        return DNS_PEER_ROLE

    def path(self, spec: SouthboundSpec, org: object) -> str:
        return f"projects/{spec.project}/{DNS_PEER_ROLE}"

    def member(self, ctx: Context) -> str:
        """``serviceAccount:service-N@gcp-sa-apigee.iam.gserviceaccount.com`` of the organization."""
        from apigee_psc.cloud import apigee_service_agent

        number = ctx.clients.resource_manager.projects.number(ctx.org.own_project)
        return f"serviceAccount:{apigee_service_agent(number)}"

    def read(self, ctx: Context, *, full: bool) -> Seen:
        def grant() -> Grant | None:
            member = self.member(ctx)
            policy = ctx.clients.resource_manager.iam.get_policy(ctx.spec.project)
            ctx.clients.memo[self._memo_key(ctx)] = (ctx.clock(), policy)
            held = policy.has(DNS_PEER_ROLE, member)
            return Grant(member, True, DNS_PEER_ROLE, ctx.spec.project) if held else None

        seen = read_or_error(grant)
        if seen.live is None and seen.error is None:
            return read_or_error(lambda: None, member=lambda: self.member(ctx))
        return seen

    def diff(self, ctx: Context, snap: Snapshot) -> Assessment:
        seen = snap.get(self.kind, Seen())
        live: Grant | None = seen.live
        member = live.member if live is not None else seen.extra.get("member") or "the Apigee service agent"
        wanted = Grant(member, True, DNS_PEER_ROLE, ctx.spec.project)
        if live is not None:
            return Assessment(self.change(ctx, Action.NOOP, live, wanted, note=member))
        return Assessment(self.change(ctx, Action.CREATE, None, wanted, [FieldDiff("member", None, member)]))

    def missing(self, change: Change) -> str:
        return f"{change.wanted.member} lacks {DNS_PEER_ROLE}"

    @staticmethod
    def _memo_key(ctx: Context) -> str:
        return f"iam-policy/{ctx.spec.project}"

    def apply(self, ctx: Context, change: Change, snap: Snapshot, step: Step) -> Any:
        member = change.wanted.member if change.wanted.member.startswith("serviceAccount:") else self.member(ctx)
        # The policy the plan (or a saved plan's re-check) just read saves the grant's first
        # read; its etag makes the write fail if it changed since, and the grant reads again.
        read_at, policy = ctx.clients.memo.pop(self._memo_key(ctx), (None, None))
        fresh = policy if read_at is not None and ctx.clock() - read_at <= POLICY_REUSE_SECONDS else None
        ctx.clients.resource_manager.iam.grant(ctx.spec.project, DNS_PEER_ROLE, member, policy=fresh)
        return Grant(member, True, DNS_PEER_ROLE, ctx.spec.project)

    def keep_reason(self, ctx: Context, seen: Seen) -> str | None:
        if ctx.revoke_iam:
            return None
        return "left in place: other zones may rely on it (use revoke_iam / --revoke-iam)"

    def delete(self, ctx: Context, seen: Seen, step: Step) -> None:
        ctx.clients.resource_manager.iam.revoke(ctx.spec.project, DNS_PEER_ROLE, seen.live.member)
