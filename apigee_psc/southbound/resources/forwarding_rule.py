"""The internal forwarding rule the service attachment publishes: referenced, never changed.

A read-only preflight: it must exist, be INTERNAL, and not be published by another service
attachment already (a forwarding rule takes one; checked when the plan creates the spec's
service attachment, from the list its read makes then).
"""

from __future__ import annotations

from apigee_psc.names import short
from apigee_psc.southbound.plan import Action
from apigee_psc.southbound.resources.base import Assessment, Context, Reconciler, Seen, Snapshot, read_or_error
from apigee_psc.southbound.spec import SouthboundSpec


class ForwardingRuleReconciler(Reconciler):
    """The producer's internal forwarding rule (``forwarding_rule`` in the spec)."""

    kind = "ForwardingRule"
    managed = False

    def name(self, spec: SouthboundSpec) -> str:
        return spec.forwarding_rule_name

    def path(self, spec: SouthboundSpec, org: object) -> str:
        return spec.forwarding_rule_path

    def read(self, ctx: Context, *, full: bool) -> Seen:
        # The region's service attachments, for "already published by another one", are read
        # by the service attachment's own read, and only when a plan would create it.
        return read_or_error(lambda: ctx.clients.compute.forwarding_rules.find(ctx.spec.forwarding_rule))

    def diff(self, ctx: Context, snap: Snapshot) -> Assessment:
        spec = ctx.spec
        seen = snap.get(self.kind, Seen())
        live = seen.live
        problems: list[str] = []
        if live is None:
            problems.append(f"forwarding rule {spec.forwarding_rule_path} does not exist")
        elif (live.load_balancing_scheme or "INTERNAL") != "INTERNAL":
            problems.append(
                f"forwarding rule {spec.forwarding_rule_name} has load balancing scheme {live.load_balancing_scheme};"
                " a service attachment for Apigee needs an INTERNAL one"
            )
        for other in snap.get("ServiceAttachment", Seen()).extra.get("service_attachments") or ():
            if other.name != spec.service_attachment.name and short(other.target_service) == spec.forwarding_rule_name:
                problems.append(
                    f"forwarding rule {spec.forwarding_rule_name} is already published by service attachment "
                    f"{other.name}; a forwarding rule takes one service attachment (set service_attachment.name to"
                    f" {other.name!r} to adopt it, or use another forwarding rule)"
                )
        return Assessment(self.change(ctx, Action.NOOP, live, None, note="referenced, not managed"), tuple(problems))
