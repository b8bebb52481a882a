"""The A record pointing at the endpoint attachment's host, with its ownership TXT mark.

Like external-dns's TXT registry, apigee-psc writes a TXT string at the same name that names
the spec owning the A record, in the same atomic Cloud DNS change as the A record, so the A
record never exists without its mark. The name's other TXT strings (a site verification, an
SPF policy) are not apigee-psc's: the mark joins them and leaves with them kept. An A record
without this spec's mark is someone else's: it is never overwritten nor deleted unless adopted
(and never when another spec's mark names it). Cloud DNS allows nothing beside a CNAME, so a
CNAME at the name is a plan problem, not a failure at the end of apply.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from apigee_psc import errors
from apigee_psc.cloud import RecordSet
from apigee_psc.models import EndpointAttachment
from apigee_psc.southbound.live import OrgInfo
from apigee_psc.southbound.ownership import Ownership, txt_owners
from apigee_psc.southbound.plan import Action, Change, FieldDiff, known_after_apply
from apigee_psc.southbound.resources.base import (
    Assessment,
    Context,
    PlanRefused,
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
UNKNOWN_HOST = known_after_apply("host")
#: How often apply reads the name again when its atomic change meets records that moved.
CHANGE_ATTEMPTS = 3


def with_mark(txt: RecordSet | None, name: str, mark: str) -> RecordSet:
    """The TXT record set at ``name`` holding ``mark`` beside every string it holds already."""
    if txt is None:
        return RecordSet(name, "TXT", TTL, (mark,))
    return txt if mark in txt.rrdatas else replace(txt, rrdatas=(*txt.rrdatas, mark))


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
        """The A record, with the TXT record of the same name in ``extra["txt"]`` and any
        other type there in ``extra["others"]``: one list of the name's record sets reads all."""
        records, project, zone, name = ctx.clients.dns.records, ctx.spec.project, self._zone(ctx), self.name(ctx.spec)
        seen = read_or_error(lambda: list(records.list(project, zone, name=name)))
        if seen.error is not None:
            return seen
        found: dict[str, RecordSet] = {r.type: r for r in seen.live or () if r.name.lower() == name.lower()}
        others = {kind: record for kind, record in found.items() if kind not in ("A", "TXT")}
        return Seen(found.get("A"), None, {"txt": found.get("TXT"), "others": others})

    def ownership(self, ctx: Context, seen: Seen) -> Ownership | None:
        """The marks among the TXT strings of the A record's name."""
        if seen.live is None:
            return None
        txt: RecordSet | None = seen.extra.get("txt")
        return Ownership.of_txt(ctx.owner_id, txt.rrdatas if txt is not None else ())

    def diff(self, ctx: Context, snap: Snapshot) -> Assessment:
        seen = snap.get(self.kind, Seen())
        name = self.name(ctx.spec)
        attachment: EndpointAttachment | None = live_of(snap, "EndpointAttachment")
        host = attachment.host if attachment is not None else None
        wanted = RecordSet(name, "A", TTL, (host,) if host else ())
        live: RecordSet | None = seen.live
        txt: RecordSet | None = seen.extra.get("txt")
        problems = []
        cname: RecordSet | None = (seen.extra.get("others") or {}).get("CNAME")
        if cname is not None:
            problems.append(
                f"{name} holds a CNAME record (-> {', '.join(cname.rrdatas)}), and Cloud DNS allows no other record"
                " beside a CNAME: the A record and its TXT mark cannot be written there; remove the CNAME, or set"
                " dns.record to another name"
            )
        mark = []  # the mark joins a TXT set that exists: shown, since the set is not only ours
        if txt is not None and ctx.owner_txt not in txt.rrdatas:
            kept = f"ownership mark; kept beside it: {', '.join(txt.rrdatas)}"
            mark = [FieldDiff("TXT", None, ctx.owner_txt, "add", kept)]
        if live is None:
            others = [owner for owner in txt_owners(txt.rrdatas if txt else ()) if owner != ctx.owner_id]
            if others:
                problems.append(
                    f"{name} holds the ownership mark of another apigee-psc spec ({others[0] or 'an unnamed owner'})"
                    " in its TXT record: the name is that spec's, so this spec will not write an A record there;"
                    " set dns.record to another name"
                )
            fields = [FieldDiff("A", None, host or UNKNOWN_HOST), *mark]
            return Assessment(self.change(ctx, Action.CREATE, None, wanted, fields), tuple(problems))
        values = tuple(sorted(live.rrdatas))
        if host is None or values != (host,):
            fields = [FieldDiff("A", values, host or UNKNOWN_HOST), *mark]
            return Assessment(self.change(ctx, Action.UPDATE, live, wanted, fields), tuple(problems))
        return Assessment(self.change(ctx, Action.NOOP, live, wanted, note=f"A {host}"), tuple(problems))

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
        seen = snap.get(self.kind, Seen())
        for attempt in range(CHANGE_ATTEMPTS):
            if attempt or "txt" not in seen.extra:  # moved since the read, or never read with it
                seen = self.read(ctx, full=False)
                if seen.error is not None:
                    raise seen.error
                found = self.assess(ctx, {**snap, "EndpointAttachment": Seen(attachment), self.kind: seen})
                if found.problems:
                    raise PlanRefused.of(spec, self.kind, "; ".join(found.problems), found.change)
                if found.change.action is Action.NOOP:
                    return seen
            # One atomic compare-and-set change from what was read: the A record with the
            # name's TXT set holding the mark beside every string it held, so the A record
            # never exists unmarked and nobody else's TXT string is lost.
            txt: RecordSet | None = seen.extra.get("txt")
            marked = with_mark(txt, name, ctx.owner_txt)
            additions = [wanted] if marked is txt else [marked, wanted]
            deletions = [r for r in (seen.live, None if marked is txt else txt) if r is not None]
            try:
                records.change(spec.project, zone, additions=additions, deletions=deletions, timeout=ctx.timeout)
                return Seen(wanted, None, {"txt": marked, "others": {}})
            except (errors.AlreadyExists, errors.Conflict, errors.FailedPrecondition, errors.NotFound) as exc:
                if attempt + 1 == CHANGE_ATTEMPTS:
                    raise
                logger.info("apply: DNS record %s changed since it was read (%s); reading it again", name, exc)
        raise AssertionError("unreachable")

    def leftover(self, ctx: Context, seen: Seen) -> str | None:
        txt: RecordSet | None = seen.extra.get("txt")
        if seen.live is None and txt is not None and ctx.owner_txt in txt.rrdatas:
            return "its ownership TXT mark, the A record being already gone"
        return None

    def delete(self, ctx: Context, seen: Seen, step: Step) -> None:
        """Delete the A record and take this spec's mark out of the name's TXT set, in one
        atomic change from what was read (the set rewritten without the mark when it holds
        other strings, which are not apigee-psc's to delete); when the records moved since,
        read them again and decide anew: an A record that is no longer this spec's stays."""
        records, zone, name = ctx.clients.dns.records, self._zone(ctx), self.name(ctx.spec)
        for attempt in range(CHANGE_ATTEMPTS):
            if attempt:
                seen = self.read(ctx, full=False)
                if seen.error is not None:
                    raise seen.error
            txt: RecordSet | None = seen.extra.get("txt")
            ownership = self.ownership(ctx, seen)
            mine = ownership is not None and (ownership.owned or (ctx.adopt and ownership.other is None))
            deletions: list[RecordSet] = [seen.live] if seen.live is not None and mine else []
            additions: list[RecordSet] = []
            if txt is not None and ctx.owner_txt in txt.rrdatas:
                rest = tuple(text for text in txt.rrdatas if text != ctx.owner_txt)
                deletions.append(txt)
                additions += [replace(txt, rrdatas=rest)] if rest else []
            if not deletions:
                logger.info("destroy: nothing of %s is this spec's any more", name)
                return
            try:
                records.change(ctx.spec.project, zone, additions=additions, deletions=deletions, timeout=ctx.timeout)
                return
            except (errors.AlreadyExists, errors.Conflict, errors.FailedPrecondition, errors.NotFound) as exc:
                if attempt + 1 == CHANGE_ATTEMPTS:
                    raise
                logger.info("destroy: DNS record %s changed since it was read (%s); reading it again", name, exc)
