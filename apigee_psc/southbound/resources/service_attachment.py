"""The PSC service attachment the spec creates, and its consumers.

The one place that decides what the attachment's connection preference, consumer lists,
connection limits and ``reconcileConnections`` must be (:func:`target`): plan diffs against
it, apply sends it, status reports it, so they cannot disagree. Google's rules it follows:

* list changes only affect new or pending connections unless ``reconcileConnections`` is
  true, so repairing the Apigee project's REJECTED (or wrongly ACCEPTED) connection turns
  it on in the same PATCH (or says why it cannot: the spec set it to false);
* consumers on the live lists that the spec does not name are kept (others may have added
  them) and shown as a note, unless ``prune``;
* a switch to ACCEPT_AUTOMATIC clears both lists and so admits every consumer they held
  back: it shows the effect on each and needs ``allow_widening``;
* deleting the attachment closes every connection to it: refused while other consumers are
  connected, unless forced.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from apigee_psc.compute.models import ConsumerProjectLimit, ServiceAttachment
from apigee_psc.models import CONNECTED, OPEN_ENDPOINT_STATUSES, EndpointAttachment
from apigee_psc.names import short
from apigee_psc.southbound.capacity import nat_capacity
from apigee_psc.southbound.live import ServiceAttachmentTarget
from apigee_psc.southbound.plan import Action, Change, FieldDiff
from apigee_psc.southbound.reports import EntityStatus
from apigee_psc.southbound.resources.base import (
    Assessment,
    Context,
    Reconciler,
    Seen,
    Snapshot,
    Step,
    live_of,
    logger,
    read_or_error,
)
from apigee_psc.southbound.spec import SouthboundSpec

#: Connected-endpoint statuses still open (:mod:`apigee_psc.models`).
OPEN_CONNECTIONS = OPEN_ENDPOINT_STATUSES
#: Google's ``propagatedConnectionLimit`` when the attachment does not set one.
DEFAULT_PROPAGATED_CONNECTION_LIMIT = 250


@dataclass(frozen=True)
class _Target:
    wanted: ServiceAttachmentTarget
    fields: list[FieldDiff]
    kept: list[str]
    problems: list[str]


def _wanted_accept(spec: SouthboundSpec, tenant: str | None) -> dict[str, int]:
    """Accept-listed projects and limits: the spec's, plus the Apigee project under ACCEPT_MANUAL."""
    sa = spec.service_attachment
    wanted = {project: sa.connection_limit for project in sa.accept_projects}
    if sa.connection_preference == "ACCEPT_MANUAL" and tenant and tenant not in sa.reject_projects:
        wanted.setdefault(tenant, sa.connection_limit)
    return wanted


def _list_fields(
    live_accept: tuple[ConsumerProjectLimit, ...],
    accept: list[ConsumerProjectLimit],
    live_reject: tuple[str, ...],
    reject: list[str],
    prune: bool,
) -> list[FieldDiff]:
    """One difference per consumer whose entry changes."""
    fields: list[FieldDiff] = []
    before = {e.project: e.connection_limit for e in live_accept if e.project}
    after = {e.project: e.connection_limit for e in accept if e.project}
    for project, limit in after.items():
        if project not in before:
            fields.append(FieldDiff("accept", None, project, "add", f"limit {limit}"))
        elif before[project] != limit:
            fields.append(FieldDiff(f"connection_limit of {project}", before[project], limit))
    for project in before:
        if project not in after:
            fields.append(
                FieldDiff("accept", project, None, "remove", "prune" if prune and project not in reject else "")
            )
    fields += [FieldDiff("reject", None, p, "add") for p in reject if p not in live_reject]
    fields += [FieldDiff("reject", p, None, "remove", "prune" if prune else "") for p in live_reject if p not in reject]
    return fields


def _repair_reason(spec: SouthboundSpec, tenant: str | None, ea: EndpointAttachment | None, accepts: bool) -> str:
    """Why the Apigee project's decided connection must be re-decided (needs reconcileConnections)."""
    state = str(ea.connection_state) if ea is not None else ""
    if state == "REJECTED" and accepts:
        return f"the connection of the Apigee project {tenant} is REJECTED and must be re-decided"
    rejected = spec.service_attachment.reject_projects
    if state in CONNECTED and not accepts and tenant in rejected:
        return f"the connection of the Apigee project {tenant} is ACCEPTED but the spec rejects it"
    return ""


def target(ctx: Context, live: ServiceAttachment | None, ea: EndpointAttachment | None) -> _Target:
    """The service attachment's wanted settings starting from ``live`` (see the module's rules)."""
    spec = ctx.spec
    sa = spec.service_attachment
    tenant = ctx.org.apigee_project_id
    wanted_accept = _wanted_accept(spec, tenant)
    fields: list[FieldDiff] = []
    kept: list[str] = []
    problems: list[str] = []
    live_pref = str(live.connection_preference) if live is not None else None
    live_accept = live.consumer_accept_lists if live is not None else ()
    live_reject = live.consumer_reject_lists if live is not None else ()
    if live_pref is not None and live_pref != sa.connection_preference:
        fields.append(FieldDiff("connection_preference", live_pref, sa.connection_preference))
    accept: list[ConsumerProjectLimit] = []
    reject: list[str] = []
    if sa.connection_preference == "ACCEPT_AUTOMATIC":
        if live_pref == "ACCEPT_MANUAL":
            why = "ACCEPT_AUTOMATIC accepts every consumer"
            fields += [FieldDiff(f"consumer {p}", "rejected", "accepted", note=why) for p in live_reject]
            for entry in live_accept:
                who = entry.project or entry.network_url or entry.endpoint_url
                limit = f"accepted up to {entry.connection_limit}"
                fields.append(FieldDiff(f"consumer {who}", limit, "accepted without limit"))
            if live_reject and not sa.allow_widening:
                problems.append(
                    f"switching {sa.name} to ACCEPT_AUTOMATIC would accept {', '.join(live_reject)}, which its "
                    "reject list refuses today; set service_attachment.allow_widening: true to confirm, or keep "
                    "ACCEPT_MANUAL"
                )
    else:
        keep_rejected = [p for p in live_reject if p in sa.reject_projects or (p != tenant and not sa.prune)]
        reject = keep_rejected + [p for p in sa.reject_projects if p not in keep_rejected]
        for entry in live_accept:
            consumer = entry.project
            if consumer is not None and consumer in reject:
                continue
            if consumer is not None and consumer in wanted_accept:
                accept.append(dataclasses.replace(entry, connection_limit=wanted_accept[consumer]))
            elif not sa.prune:
                accept.append(entry)
                kept.append(f"accept {consumer or entry.network_url or entry.endpoint_url}")
        present = {entry.project for entry in accept}
        accept += [ConsumerProjectLimit(p, limit) for p, limit in wanted_accept.items() if p not in present]
        kept += [f"reject {p}" for p in reject if p not in sa.reject_projects]
        if live is not None:
            fields += _list_fields(live_accept, accept, live_reject, reject, sa.prune)
    accepts_tenant = tenant is not None and (
        sa.connection_preference == "ACCEPT_AUTOMATIC" or any(e.project == tenant for e in accept)
    )
    reconcile, reason = sa.reconcile_connections, _repair_reason(spec, tenant, ea, accepts_tenant)
    if reason and reconcile is False:
        problems.append(
            f"{reason}, and the spec sets service_attachment.reconcile_connections to false: set it to true (or"
            " leave it out), or delete the endpoint attachment so that it connects anew"
        )
    elif reason:
        reconcile = True
    live_reconcile = bool(live.reconcile_connections) if live is not None else False
    if live is not None and reconcile is not None and reconcile != live_reconcile:
        fields.append(FieldDiff("reconcile_connections", live_reconcile, reconcile, note=reason))
    elif live is not None:
        reconcile = None
    spokes = sa.propagated_connection_limit
    if live is not None and spokes is not None:
        live_spokes = live.propagated_connection_limit
        if (DEFAULT_PROPAGATED_CONNECTION_LIMIT if live_spokes is None else live_spokes) != spokes:
            note = "unset: Google's default" if live_spokes is None else ""
            shown = DEFAULT_PROPAGATED_CONNECTION_LIMIT if live_spokes is None else live_spokes
            fields.append(FieldDiff("propagated_connection_limit", shown, spokes, note=note))
    wanted = ServiceAttachmentTarget(
        name=sa.name,
        connection_preference=sa.connection_preference,
        consumer_accept_lists=tuple(accept),
        consumer_reject_lists=tuple(reject),
        reconcile_connections=reconcile,
        target_service=spec.forwarding_rule_path,
        nat_subnets=(spec.nat_subnet_path,),
        enable_proxy_protocol=sa.enable_proxy_protocol,
        domain_names=sa.domain_names,
        description=ctx.mark,
        propagated_connection_limit=spokes,
    )
    return _Target(wanted, fields, kept, problems)


class ServiceAttachmentReconciler(Reconciler):
    """``service_attachment``: preference, consumers, limits, proxy protocol, domain names."""

    kind = "ServiceAttachment"
    depends_on = ("ForwardingRule", "NatSubnet")
    marked = True

    def name(self, spec: SouthboundSpec) -> str:
        return spec.service_attachment.name

    def path(self, spec: SouthboundSpec, org: object) -> str:
        return spec.service_attachment_path

    def read(self, ctx: Context, *, full: bool) -> Seen:
        """The attachment; for a plan that would create it (or finds it on another forwarding
        rule), also the region's attachments, for the forwarding rule's check that no other
        attachment publishes it already (see :mod:`.forwarding_rule`)."""
        attachments = ctx.clients.compute.service_attachments
        seen = read_or_error(lambda: attachments.get(self.name(ctx.spec)))
        live: ServiceAttachment | None = seen.live
        if not full or seen.error is not None:
            return seen
        if live is not None and short(live.target_service) == ctx.spec.forwarding_rule_name:
            return seen
        side = read_or_error(lambda: list(attachments.list()))
        return Seen(live, side.error, {} if side.error else {"service_attachments": side.live})

    def diff(self, ctx: Context, snap: Snapshot) -> Assessment:
        spec = ctx.spec
        live: ServiceAttachment | None = live_of(snap, self.kind)
        found = target(ctx, live, live_of(snap, "EndpointAttachment"))
        wanted = found.wanted
        if live is None:
            fields = [FieldDiff("connection_preference", None, wanted.connection_preference)]
            if wanted.consumer_accept_lists:
                accepted = sorted(str(e.project) for e in wanted.consumer_accept_lists)
                fields.append(FieldDiff("accept", None, tuple(accepted)))
            return Assessment(self.change(ctx, Action.CREATE, None, wanted, fields), tuple(found.problems))
        replace: list[FieldDiff] = []
        live_rule = short(live.target_service)
        if live_rule and live_rule != spec.forwarding_rule_name:
            replace.append(FieldDiff("producer_forwarding_rule", live_rule, spec.forwarding_rule_name))
        nat = tuple(short(n) for n in live.nat_subnets)
        if spec.nat_subnet.name not in nat:
            replace.append(FieldDiff("nat_subnets", nat, (spec.nat_subnet.name,)))
        if live.enable_proxy_protocol != wanted.enable_proxy_protocol:
            replace.append(FieldDiff("enable_proxy_protocol", live.enable_proxy_protocol, wanted.enable_proxy_protocol))
        note = f"kept, not in the spec: {', '.join(found.kept)} (prune: true removes them)" if found.kept else ""
        action = Action.REPLACE if replace else Action.UPDATE if found.fields else Action.NOOP
        change = self.change(ctx, action, live, wanted, [*replace, *found.fields], note)
        return Assessment(change, tuple(found.problems))

    def apply(self, ctx: Context, change: Change, snap: Snapshot, step: Step) -> Any:
        wanted: ServiceAttachmentTarget = change.wanted
        attachments = ctx.clients.compute.service_attachments
        if change.action is Action.CREATE:
            # Returns None: the report reads it again, for the endpoints connected since.
            return self.adopt_existing(
                ctx,
                snap,
                step,
                lambda: attachments.create(
                    wanted.name,
                    target_service=wanted.target_service,
                    nat_subnets=list(wanted.nat_subnets),
                    connection_preference=wanted.connection_preference,
                    consumer_accept_lists=list(wanted.consumer_accept_lists),
                    consumer_reject_lists=list(wanted.consumer_reject_lists),
                    enable_proxy_protocol=wanted.enable_proxy_protocol,
                    domain_names=list(wanted.domain_names),
                    reconcile_connections=wanted.reconcile_connections,
                    description=wanted.description,
                    propagated_connection_limit=wanted.propagated_connection_limit,
                    timeout=ctx.timeout,
                ),
                None,
            )
        logger.info("apply: changing service attachment %s: %s", wanted.name, "; ".join(change.diffs))
        live: ServiceAttachment = change.live
        repair = wanted.reconcile_connections is True and not live.reconcile_connections
        if repair:
            # Google moves decided connections on a change of the lists only while
            # reconcileConnections is on; whether the PATCH that turns it on counts is not
            # documented. Turn it on alone first, so the lists change under it either way.
            attachments.update(wanted.name, reconcile_connections=True, timeout=ctx.timeout)
        attachments.update(
            wanted.name,
            connection_preference=wanted.connection_preference,
            consumer_accept_lists=list(wanted.consumer_accept_lists),
            consumer_reject_lists=list(wanted.consumer_reject_lists),
            reconcile_connections=wanted.reconcile_connections,
            propagated_connection_limit=wanted.propagated_connection_limit,
            timeout=ctx.timeout,
        )
        if repair:
            self._redecide(ctx, wanted)
        return None

    def _redecide(self, ctx: Context, wanted: ServiceAttachmentTarget) -> None:
        """Check that the Apigee project's connection was re-decided; if the lists did not
        change under reconcileConnections (they already accepted it, or that reading of
        Google's rule holds), change them once more: its own entry's limit up by one and back,
        which moves no other consumer's entry."""
        attachments, tenant = ctx.clients.compute.service_attachments, ctx.org.apigee_project_id
        entry = next((e for e in wanted.consumer_accept_lists if e.project == tenant), None)
        if entry is None:
            return
        own = f"projects/{tenant}/"
        statuses = [
            str(e.status) for e in attachments.get(wanted.name).connected_endpoints if own in (e.endpoint or "")
        ]
        if "REJECTED" not in statuses:
            return
        logger.info("apply: the connection of %s is still REJECTED; changing its accept entry to redecide it", tenant)
        for limit in (entry.connection_limit + 1, entry.connection_limit):
            accept = [
                dataclasses.replace(e, connection_limit=limit) if e is entry else e
                for e in wanted.consumer_accept_lists
            ]
            attachments.update(wanted.name, consumer_accept_lists=accept, timeout=ctx.timeout)

    def in_sync_note(self, ctx: Context, snap: Snapshot, change: Change) -> str | None:
        return change.note or None

    def realize(self, ctx: Context, snap: Snapshot, assessment: Assessment) -> EntityStatus:
        """The realization, with the NAT capacity in ``observed["capacity"]`` when the
        attachment's NAT subnets are the spec's (their range is read with it)."""
        status = super().realize(ctx, snap, assessment)
        live: ServiceAttachment | None = live_of(snap, self.kind)
        subnet = live_of(snap, "NatSubnet")
        if live is None or subnet is None or [short(n) for n in live.nat_subnets] != [subnet.name]:
            return status
        found = nat_capacity(
            [subnet.ip_cidr_range], live.connected_endpoints, nat_ips_per_endpoint=live.nat_ips_per_endpoint
        )
        capacity = found.to_dict()
        capacity["propagated_connection_count"] = sum(e.propagated_connection_count for e in live.connected_endpoints)
        return dataclasses.replace(status, observed={**status.observed, "capacity": capacity})

    def observed(self, seen: Seen) -> dict[str, Any]:
        live: ServiceAttachment | None = seen.live
        return {"connected_endpoints": [str(e.status) for e in live.connected_endpoints]} if live else {}

    def delete_problem(self, ctx: Context, seen: Seen) -> str | None:
        """Deleting the attachment closes every connection to it: name the other consumers'."""
        live: ServiceAttachment | None = seen.live
        if live is None:
            return None
        tenant = ctx.org.apigee_project_id
        own = f"projects/{tenant}/" if tenant else None
        others = [
            e.endpoint
            for e in live.connected_endpoints
            if str(e.status) in OPEN_CONNECTIONS and not (own and own in (e.endpoint or ""))
        ]
        if not others:
            return None
        return (
            f"service attachment {live.name} still serves {len(others)} connected endpoint(s) of other consumers"
            f" ({', '.join(short(e) for e in others)}); deleting it would close their connections, so destroy"
            " refuses before any delete (force=True, or --force, deletes it anyway)"
        )

    def delete(self, ctx: Context, seen: Seen, step: Step) -> None:
        ctx.clients.compute.service_attachments.delete(self.name(ctx.spec), timeout=ctx.timeout, missing_ok=True)
