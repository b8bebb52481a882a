"""DnsRecord: the A record, owned through a TXT record beside it (external-dns's registry idea)."""

from __future__ import annotations

from resource_kit import context, ea, reconciler, snapshot

from apigee_psc.cloud import RecordSet
from apigee_psc.southbound import Action, Realization
from apigee_psc.southbound.resources.base import Seen

RECORD = reconciler("DnsRecord")
NAME = "orders.example.com."


def _a(ip: str = "7.0.3.4", txt: RecordSet | None = None) -> Seen:
    return Seen(RecordSet(NAME, "A", 300, (ip,)), None, {"txt": txt})


def _txt(owner: str) -> RecordSet:
    return RecordSet(NAME, "TXT", 300, (f'"heritage=apigee-psc,apigee-psc/owner={owner}"',))


OURS = _txt("organizations/my-organization/endpointAttachments/gkebackend")


def test_absent_record_is_created_pointing_at_the_host() -> None:
    found = RECORD.assess(context(), snapshot(DnsRecord=Seen(None)))
    assert found.change.action is Action.CREATE and found.change.diffs == ("A: 7.0.3.4",)
    unknown = RECORD.assess(context(), snapshot(DnsRecord=Seen(None), EndpointAttachment=Seen(None)))
    assert unknown.change.diffs == ("A: (host known after apply)",)


def test_someone_elses_record_is_not_overwritten_unless_adopted() -> None:
    """Issue 10: an existing A record orders.example.com. -> 10.9.9.9."""
    snap = snapshot(DnsRecord=_a("10.9.9.9"))
    found = RECORD.assess(context(), snap)
    assert found.change.action is Action.UPDATE and found.owned is False
    assert "orders.example.com. exists and differs from the spec (A: ['10.9.9.9'] -> 7.0.3.4)" in found.problems[0]
    assert RECORD.assess(context(adopt=True), snap).problems == ()


def test_another_specs_mark_is_not_ours() -> None:
    theirs = _txt("organizations/my-organization/endpointAttachments/other")
    assert RECORD.owner(context(), _a(txt=theirs)) is False
    assert RECORD.owner(context(), _a(txt=OURS)) is True


def test_our_record_pointing_elsewhere_is_updated() -> None:
    ctx, snap = context(), snapshot(DnsRecord=_a("10.0.0.1", OURS))
    found = RECORD.assess(ctx, snap)
    assert found.change.action is Action.UPDATE and found.problems == ()
    assert RECORD.realize(ctx, snap, found).state is Realization.IN_PROGRESS


def test_matching_record_made_by_hand_is_adopted_without_a_write_and_kept_by_destroy() -> None:
    found = RECORD.assess(context(), snapshot(DnsRecord=_a(), EndpointAttachment=ea()))
    assert found.noop and found.owned is False


def test_only_our_mark_left_without_its_a_record_is_a_leftover_for_destroy() -> None:
    ctx = context()
    assert RECORD.leftover(ctx, Seen(None, None, {"txt": OURS})) == (
        "its ownership TXT mark, the A record being already gone"
    )
    theirs = _txt("organizations/my-organization/endpointAttachments/other")
    assert RECORD.leftover(ctx, Seen(None, None, {"txt": theirs})) is None
    assert RECORD.leftover(ctx, Seen(None, None, {"txt": None})) is None
    assert RECORD.leftover(ctx, _a(txt=OURS)) is None  # the A record is there: a plain delete
