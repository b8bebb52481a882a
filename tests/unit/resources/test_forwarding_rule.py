"""ForwardingRule: a referenced resource, checked by plan and status alike."""

from __future__ import annotations

from resource_kit import context, reconciler, sa, snapshot

from apigee_psc.compute import ForwardingRule
from apigee_psc.southbound import Action, Realization
from apigee_psc.southbound.resources.base import Seen

FR = reconciler("ForwardingRule")


def test_missing_rule_is_a_problem_and_not_found() -> None:
    ctx, snap = context(), snapshot(ForwardingRule=Seen(None))
    found = FR.assess(ctx, snap)
    assert found.problems == (
        "forwarding rule projects/my-project/regions/us-west1/forwardingRules/fr-ilb does not exist",
    )
    assert FR.realize(ctx, snap, found).state is Realization.NOT_FOUND


def test_external_rule_is_a_problem_and_failed() -> None:
    ctx, snap = context(), snapshot(ForwardingRule=ForwardingRule("fr-ilb", load_balancing_scheme="EXTERNAL"))
    found = FR.assess(ctx, snap)
    assert found.change.action is Action.NOOP and "needs an INTERNAL one" in found.problems[0]
    assert FR.realize(ctx, snap, found).state is Realization.FAILED


def test_rule_published_by_another_service_attachment_is_a_problem() -> None:
    other = sa(name="someone-elses")
    rule = ForwardingRule("fr-ilb", load_balancing_scheme="INTERNAL")
    listed = Seen(None, None, {"service_attachments": [other, sa()]})  # the SA's read lists when it creates
    found = FR.assess(context(), snapshot(ForwardingRule=rule, ServiceAttachment=listed))
    assert len(found.problems) == 1 and "already published by service attachment someone-elses" in found.problems[0]


def test_internal_rule_is_in_sync_and_never_managed() -> None:
    ctx, snap = context(), snapshot()
    found = FR.assess(ctx, snap)
    assert found.noop and not FR.managed
    assert FR.realize(ctx, snap, found).state is Realization.IN_SYNC
    assert FR.keep_reason(ctx, snap["ForwardingRule"]) == "referenced, not owned: kept"
