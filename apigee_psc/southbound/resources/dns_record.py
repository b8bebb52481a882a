"""The A record pointing at the endpoint attachment's host, with its ownership TXT record.

Like external-dns's TXT registry, apigee-psc writes a TXT record of the same name that names
the spec owning the A record (in the same atomic Cloud DNS change as a new A record, or
before it, so a crash never leaves an unmarked record of apigee-psc's). An A record without
this spec's mark is someone else's: it is never overwritten nor deleted unless adopted.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from apigee_psc import errors
from apigee_psc.cloud import RecordSet
from apigee_psc.models import EndpointAttachment
from apigee_psc.southbound.plan import Action, Change, FieldDiff
from apigee_psc.southbound.resources.base import (
    Assessment,
    Context,
    OrgInfo,
    Reconciler,
    Seen,
    Snapshot,
    Step,
    live_of,
    logger,
    read_or_error,
)
from apigee_psc.southbound.spec import SouthboundSpec

TTL = 300
UNKNOWN_HOST = "(host known after apply)"


class DnsRecordReconciler(Reconciler):
    """``dns.record`` in ``dns.managed_zone``: an A record to the endpoint attachment's host."""

    kind = "DnsRecord"
    depends_on = ("EndpointAttachment", "DnsZone", "PeeredDnsDomain", "ManagedZone")

    def applies(self, spec: SouthboundSpec, org: OrgInfo) -> bool:
        return spec.dns is not None and spec.dns.record is not None and spec.dns.managed_zone is not None

    def name(self, spec: SouthboundSpec) -> str:
        assert spec.dns is not None and spec.dns.record is not None
        return spec.dns.record

    def path(self, spec: SouthboundSpec, org: object) -> str:
        return spec.record_path or ""

    def _zone(self, ctx: Context) -> str:
        assert ctx.spec.dns is not None and ctx.spec.dns.managed_zone is not None
        return ctx.spec.dns.managed_zone

    def read(self, ctx: Context, *, full: bool) -> Seen:
        """The A record, with the TXT record of the same name in ``extra["txt"]``: one list
        of the name's record sets reads both."""
        records, project, zone, name = ctx.clients.dns.records, ctx.spec.project, self._zone(ctx), self.name(ctx.spec)
        seen = read_or_error(lambda: list(records.list(project, zone, name=name)))
        if seen.error is not None:
            return seen
        found: dict[str, RecordSet] = {r.type: r for r in seen.live or () if r.name.lower() == name.lower()}
        return Seen(found.get("A"), None, {"txt": found.get("TXT")})

    def owner(self, ctx: Context, seen: Seen) -> bool | None:
        if "owned" in seen.extra or seen.live is None:
            return super().owner(ctx, seen)
        txt: RecordSet | None = seen.extra.get("txt")
        return txt is not None and ctx.owner_txt in txt.rrdatas

    def diff(self, ctx: Context, snap: Snapshot) -> Assessment:
        attachment: EndpointAttachment | None = live_of(snap, "EndpointAttachment")
        host = attachment.host if attachment is not None else None
        wanted = RecordSet(self.name(ctx.spec), "A", TTL, (host,) if host else ())
        live: RecordSet | None = live_of(snap, self.kind)
        if live is None:
            return Assessment(
                self.change(ctx, Action.CREATE, None, wanted, [FieldDiff("A", None, host or UNKNOWN_HOST)])
            )
        values = tuple(sorted(live.rrdatas))
        if host is None or values != (host,):
            return Assessment(
                self.change(ctx, Action.UPDATE, live, wanted, [FieldDiff("A", values, host or UNKNOWN_HOST)])
            )
        return Assessment(self.change(ctx, Action.NOOP, live, wanted, note=f"A {host}"))

    def apply(self, ctx: Context, change: Change, snap: Snapshot, step: Step) -> Any:
        spec = ctx.spec
        attachment: EndpointAttachment | None = live_of(snap, "EndpointAttachment")
        if attachment is None or not attachment.host:
            attachment = ctx.clients.apigee.endpoint_attachments.get(spec.endpoint_attachment.name)
        if not attachment.host:
            raise errors.FailedPrecondition(
                f"endpoint attachment {attachment.name} has no host yet; cannot write the A record", status_code=0
            )
        records, zone, name = ctx.clients.dns.records, self._zone(ctx), self.name(spec)
        wanted = RecordSet(name, "A", TTL, (attachment.host,))
        mark = RecordSet(name, "TXT", TTL, (ctx.owner_txt,))
        live: RecordSet | None = change.live
        seen = snap.get(self.kind, Seen())
        txt: RecordSet | None = seen.extra.get("txt")
        # One atomic change from what was read: the A record with its TXT mark, so the A
        # record never exists unmarked. It is a compare-and-set (deletions must match,
        # additions must be new): if anything moved since the read, or the TXT record was not
        # read with it (an A record to update after a plan that kept only its owner), fall
        # back to read-and-upsert, TXT first.
        additions: list[RecordSet] = []
        deletions: list[RecordSet] = []
        if change.action is Action.CREATE:  # a TXT record not read is taken to be absent
            additions, deletions = [mark, wanted], [txt] if txt is not None else []
        elif live is not None and txt is not None:
            additions, deletions = [mark, wanted], [live, txt]
        if additions:
            try:
                records.change(spec.project, zone, additions=additions, deletions=deletions, timeout=ctx.timeout)
                return wanted
            except (errors.AlreadyExists, errors.Conflict, errors.FailedPrecondition, errors.NotFound) as exc:
                logger.info("apply: DNS record %s changed since it was read (%s); reading it again", name, exc)
        records.upsert(spec.project, zone, name, [ctx.owner_txt], type="TXT", ttl=TTL)
        records.upsert_a(spec.project, zone, name, [attachment.host], ttl=TTL)
        return wanted

    def leftover(self, ctx: Context, seen: Seen) -> str | None:
        txt: RecordSet | None = seen.extra.get("txt")
        if seen.live is None and txt is not None and ctx.owner_txt in txt.rrdatas:
            return "its ownership TXT mark, the A record being already gone"
        return None

    def delete(self, ctx: Context, seen: Seen, step: Step) -> None:
        records, zone, name = ctx.clients.dns.records, self._zone(ctx), self.name(ctx.spec)
        txt: RecordSet | None = seen.extra.get("txt")
        if seen.live is None:
            if txt is not None:
                self._delete_mark(ctx, txt)
            return
        if isinstance(seen.live, RecordSet) and txt is not None:
            # Both as read, in one atomic change: never an A record left without its mark,
            # nor a mark left behind by a crash between two deletes.
            try:
                records.change(ctx.spec.project, zone, deletions=[seen.live, txt], timeout=ctx.timeout)
                return
            except (errors.Conflict, errors.FailedPrecondition, errors.NotFound) as exc:
                logger.info("destroy: DNS record %s changed since it was read (%s); deleting by name", name, exc)
        records.delete(ctx.spec.project, zone, name, "A")
        records.delete(ctx.spec.project, zone, name, "TXT")

    def _delete_mark(self, ctx: Context, txt: RecordSet) -> None:
        """Take this spec's mark out of the TXT record set as it was read, in one change that
        fails if the set moved since: the whole set when the mark is all it holds, else the
        set rewritten without it (other texts of the name are not apigee-psc's to delete)."""
        rest = tuple(text for text in txt.rrdatas if text != ctx.owner_txt)
        additions = [replace(txt, rrdatas=rest)] if rest else []
        try:
            ctx.clients.dns.records.change(
                ctx.spec.project, self._zone(ctx), additions=additions, deletions=[txt], timeout=ctx.timeout
            )
        except errors.NotFound:
            logger.info("destroy: the ownership mark of %s is already gone", txt.name)
