"""ManagedZone: the Cloud DNS zone of the record must exist before apply starts (issue 10.6)."""

from __future__ import annotations

from resource_kit import ORG, context, reconciler, snapshot, spec

from apigee_psc.cloud import ManagedZone
from apigee_psc.southbound import Realization
from apigee_psc.southbound.resources.base import Seen

ZONE = reconciler("ManagedZone")


def test_missing_zone_is_a_plan_problem_naming_the_key() -> None:
    ctx, snap = context(), snapshot(ManagedZone=Seen(None))
    found = ZONE.assess(ctx, snap)
    assert "managed zone my-private-zone does not exist in project my-project" in found.problems[0]
    assert "dns.managed_zone" in found.problems[0]
    assert ZONE.realize(ctx, snap, found).state is Realization.NOT_FOUND


def test_existing_zone_is_in_sync_and_only_referenced() -> None:
    ctx, snap = context(), snapshot(ManagedZone=ManagedZone("my-private-zone", "example.com.", "private"))
    found = ZONE.assess(ctx, snap)
    assert found.noop and ZONE.realize(ctx, snap, found).state is Realization.IN_SYNC
    assert ZONE.keep_reason(ctx, snap["ManagedZone"]) is not None


def test_zone_applies_only_with_a_record() -> None:
    assert ZONE.applies(spec(), ORG)
    assert not ZONE.applies(spec(dns={"zone": {"name": "my-zone", "domain": "example.com."}}), ORG)
