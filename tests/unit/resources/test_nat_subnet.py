"""NatSubnet: created and marked; never replaced; someone else's is never changed."""

from __future__ import annotations

from resource_kit import MARK, context, reconciler, snapshot

from apigee_psc.compute import Subnet
from apigee_psc.southbound import Action, Realization
from apigee_psc.southbound.resources.base import Seen

SUBNET = reconciler("NatSubnet")


def test_absent_subnet_is_created_with_the_mark() -> None:
    ctx, snap = context(), snapshot(NatSubnet=Seen(None))
    found = SUBNET.assess(ctx, snap)
    assert found.change.action is Action.CREATE and found.change.diffs == ("range: 10.100.0.0/28",)
    assert found.change.wanted.description == MARK and found.change.wanted.purpose == "PRIVATE_SERVICE_CONNECT"
    assert SUBNET.realize(ctx, snap, found).state is Realization.NOT_FOUND


def test_wrong_purpose_needs_a_replacement_which_is_a_problem() -> None:
    """Issue 8: the purpose is checked by plan and status alike."""
    ctx = context()
    snap = snapshot(NatSubnet=Subnet("psc-subnet", "10.100.0.0/28", purpose="PRIVATE", description=MARK))
    found = SUBNET.assess(ctx, snap)
    assert found.change.action is Action.REPLACE
    assert "purpose: PRIVATE -> PRIVATE_SERVICE_CONNECT" in found.change.diffs
    assert any("would have to be replaced" in p for p in found.problems)
    status = SUBNET.realize(ctx, snap, found)
    assert status.state is Realization.IN_PROGRESS and "purpose" in (status.failure_message or "")


def test_overlapping_subnet_of_the_network_is_a_problem() -> None:
    other = Subnet("app", "10.100.0.0/24", network="projects/my-project/global/networks/default")
    elsewhere = Subnet("far", "10.100.0.0/24", network="projects/my-project/global/networks/other")
    found = SUBNET.assess(context(), snapshot(NatSubnet=Seen(None, None, {"network_subnets": [other, elsewhere]})))
    assert found.problems == ("NAT range 10.100.0.0/28 overlaps subnet app (10.100.0.0/24) of network default",)


def test_someone_elses_differing_subnet_is_not_changed_unless_adopted() -> None:
    snap = snapshot(NatSubnet=Subnet("psc-subnet", "10.100.1.0/28", purpose="PRIVATE_SERVICE_CONNECT"))
    found = SUBNET.assess(context(), snap)
    assert found.owned is False and "did not create it" in found.problems[0]
    adopted = SUBNET.assess(context(adopt=True), snap)
    assert all("did not create it" not in p for p in adopted.problems)
    assert any("would have to be replaced" in p for p in adopted.problems)


def test_matching_subnet_made_by_hand_is_adopted_without_a_change() -> None:
    snap = snapshot(NatSubnet=Subnet("psc-subnet", "10.100.0.0/28", purpose="PRIVATE_SERVICE_CONNECT"))
    found = SUBNET.assess(context(), snap)
    assert found.noop and found.owned is False
