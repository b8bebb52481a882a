"""DnsZone: the Apigee peering zone, marked in its description, retried while IAM propagates."""

from __future__ import annotations

import pytest
from resource_kit import MARK, context, reconciler, snapshot, spec

from apigee_psc import errors
from apigee_psc.models import DnsZone
from apigee_psc.southbound import Action, Realization
from apigee_psc.southbound.resources import dns_zone
from apigee_psc.southbound.resources.base import Seen

ZONE = reconciler("DnsZone")


def _zone(state: str = "ACTIVE", domain: str = "example.com.", description: str = MARK) -> DnsZone:
    return DnsZone("my-zone", domain, description, "my-project", "default", state=state)


def test_absent_zone_is_created_with_the_mark_after_any_description() -> None:
    found = ZONE.assess(context(), snapshot(DnsZone=Seen(None)))
    assert found.change.action is Action.CREATE and found.change.wanted.description == MARK
    described = spec(dns={"zone": {"name": "my-zone", "domain": "example.com.", "description": "orders"}})
    assert ZONE.assess(context(described), snapshot(DnsZone=Seen(None))).change.wanted.description == f"orders ({MARK})"


def test_creating_zone_is_waited_on_and_in_progress() -> None:
    ctx, snap = context(), snapshot(DnsZone=_zone("CREATING"))
    found = ZONE.assess(ctx, snap)
    assert found.change.action is Action.WAIT
    assert ZONE.realize(ctx, snap, found).state is Realization.IN_PROGRESS


def test_other_domain_would_need_a_replacement_which_is_refused() -> None:
    found = ZONE.assess(context(), snapshot(DnsZone=_zone(domain="other.com.")))
    assert found.change.action is Action.REPLACE and any("would have to be replaced" in p for p in found.problems)


def test_ownership_comes_from_the_description_mark() -> None:
    assert ZONE.owner(context(), Seen(_zone())) is True
    assert ZONE.owner(context(), Seen(_zone(description="made by hand"))) is False
    assert ZONE.owner(context(), Seen(None)) is None


def test_propagation_policy_retries_permission_denied_within_its_window(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    attempts: list[float] = []

    def sleep(seconds: float) -> None:
        now[0] += seconds

    def refused() -> None:
        attempts.append(now[0])
        raise errors.PermissionDenied("lacks roles/dns.peer", rpc_status="PERMISSION_DENIED")

    monkeypatch.setattr(dns_zone, "IAM_PROPAGATION_SECONDS", 60.0)
    with pytest.raises(errors.PermissionDenied):
        dns_zone.IAM_PROPAGATION.call(refused, sleep=sleep, clock=lambda: now[0])
    assert len(attempts) > 2 and now[0] <= 60.0
    with pytest.raises(errors.ServerError):  # not a propagation symptom: no retry
        dns_zone.IAM_PROPAGATION.call(
            lambda: (_ for _ in ()).throw(errors.ServerError("boom", status_code=500)),
            sleep=sleep,
            clock=lambda: now[0],
        )
