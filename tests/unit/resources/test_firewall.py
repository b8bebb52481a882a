"""Firewall: a changed rule of apigee-psc's own is recreated; someone else's is left alone."""

from __future__ import annotations

from resource_kit import MARK, context, reconciler, snapshot, spec

from apigee_psc.compute import Firewall, FirewallAllowed
from apigee_psc.southbound import Action, Realization
from apigee_psc.southbound.resources.base import Seen

FIREWALL = reconciler("Firewall")


def _rule(
    ports: tuple[str, ...] = ("80",), ranges: tuple[str, ...] = ("10.100.0.0/28",), description: str = MARK
) -> Firewall:
    return Firewall(
        "allow-psc-nat-80",
        source_ranges=ranges,
        target_tags=("psc-demo",),
        allowed=(FirewallAllowed("tcp", ports),),
        description=description,
    )


def test_ports_changed_plan_replaces_and_status_is_not_in_sync() -> None:
    """Issue 8's first disagreement: plan said replace, status said in_sync."""
    ctx = context(spec(firewall={"name": "allow-psc-nat-80", "ports": [8080], "target_tags": ["psc-demo"]}))
    snap = snapshot(Firewall=_rule())
    found = FIREWALL.assess(ctx, snap)
    assert found.change.action is Action.REPLACE and found.problems == ()
    assert found.change.diffs == ("ports: [80] -> [8080]",)
    status = FIREWALL.realize(ctx, snap, found)
    assert status.state is Realization.IN_PROGRESS and "ports: [80] -> [8080]" in (status.failure_message or "")


def test_absent_rule_is_created_allowing_the_nat_range() -> None:
    found = FIREWALL.assess(context(), snapshot(Firewall=Seen(None)))
    assert found.change.action is Action.CREATE
    assert found.change.diffs == ("allow: tcp:80 from 10.100.0.0/28",)
    assert found.change.wanted.description == MARK


def test_someone_elses_rule_is_a_problem_naming_the_difference() -> None:
    """Issue 10: allow-psc-nat-80 made by someone else (tcp:22 from 192.168.0.0/16)."""
    snap = snapshot(Firewall=_rule(("22",), ("192.168.0.0/16",), description=""))
    found = FIREWALL.assess(context(), snap)
    assert found.owned is False
    assert "allow-psc-nat-80 exists and differs from the spec" in found.problems[0]
    assert "ports: [22] -> [80]" in found.problems[0] and "did not create it" in found.problems[0]
    assert FIREWALL.assess(context(adopt=True), snap).problems == ()


def test_identical_rule_is_in_sync() -> None:
    ctx, snap = context(), snapshot(Firewall=_rule())
    found = FIREWALL.assess(ctx, snap)
    assert found.noop and FIREWALL.realize(ctx, snap, found).state is Realization.IN_SYNC
