"""ServiceAttachment: one target for plan, apply and status (lists, limits, reconcile, widening)."""

from __future__ import annotations

from typing import Any

from resource_kit import TENANT, context, ea, reconciler, sa, snapshot, spec

from apigee_psc.compute import ConnectedEndpoint, ConsumerProjectLimit
from apigee_psc.southbound import Action, Realization
from apigee_psc.southbound.resources.base import Seen
from apigee_psc.southbound.resources.service_attachment import target

SA = reconciler("ServiceAttachment")
MANUAL = {"name": "gkebackend", "connection_preference": "ACCEPT_MANUAL"}


def _ctx(**sa_fields: Any) -> Any:
    return context(spec(dns=None, firewall=None, service_attachment={**MANUAL, **sa_fields}))


def test_target_keeps_other_consumers_and_unrejects_the_tenant() -> None:
    live = sa(
        connection_preference="ACCEPT_MANUAL",
        consumer_accept_lists=(ConsumerProjectLimit("partner-project", 3),),
        consumer_reject_lists=(TENANT, "old-reject-1"),
    )
    found = target(_ctx(reject_projects=["bad-project-1"]), live, None)
    accept = [(e.project, e.connection_limit) for e in found.wanted.consumer_accept_lists]
    assert accept == [("partner-project", 3), (TENANT, 10)]
    assert found.wanted.consumer_reject_lists == ("old-reject-1", "bad-project-1")
    assert "accept partner-project" in found.kept and "reject old-reject-1" in found.kept
    rendered = [str(f) for f in found.fields]
    assert f"reject: - {TENANT}" in rendered and f"accept: + {TENANT} (limit 10)" in rendered


def test_kept_consumers_are_a_note_in_plan_and_status() -> None:
    live = sa(
        connection_preference="ACCEPT_MANUAL",
        consumer_accept_lists=(ConsumerProjectLimit(TENANT, 10), ConsumerProjectLimit("partner-project", 3)),
    )
    ctx, snap = _ctx(), snapshot(ServiceAttachment=live)
    found = SA.assess(ctx, snap)
    assert (
        found.noop and found.change.note == "kept, not in the spec: accept partner-project (prune: true removes them)"
    )
    assert SA.realize(ctx, snap, found).failure_message == found.change.note


def test_prune_removes_consumers_the_spec_does_not_name() -> None:
    live = sa(
        connection_preference="ACCEPT_MANUAL",
        consumer_accept_lists=(ConsumerProjectLimit("partner-project", 3), ConsumerProjectLimit(TENANT, 10)),
        consumer_reject_lists=("old-reject-1",),
    )
    found = target(_ctx(prune=True), live, None)
    assert [e.project for e in found.wanted.consumer_accept_lists] == [TENANT]
    assert found.wanted.consumer_reject_lists == ()
    rendered = [str(f) for f in found.fields]
    assert "accept: - partner-project (prune)" in rendered and "reject: - old-reject-1 (prune)" in rendered


def test_connection_limit_change_is_diffed_sent_and_reported() -> None:
    """Issue 8's second disagreement: 20 -> 15 was kept at 20 and reported in sync."""
    ctx = _ctx(connection_limit=15)
    snap = snapshot(
        ServiceAttachment=sa(
            connection_preference="ACCEPT_MANUAL", consumer_accept_lists=(ConsumerProjectLimit(TENANT, 20),)
        )
    )
    found = SA.assess(ctx, snap)
    assert found.change.action is Action.UPDATE and found.change.diffs == (f"connection_limit of {TENANT}: 20 -> 15",)
    assert [(e.project, e.connection_limit) for e in found.change.wanted.consumer_accept_lists] == [(TENANT, 15)]
    status = SA.realize(ctx, snap, found)
    assert status.state is Realization.IN_PROGRESS and "20 -> 15" in (status.failure_message or "")


def test_switch_to_automatic_shows_every_consumer_and_needs_confirmation() -> None:
    live = sa(
        connection_preference="ACCEPT_MANUAL",
        consumer_accept_lists=(ConsumerProjectLimit(TENANT, 10),),
        consumer_reject_lists=("bad-project-1",),
    )
    found = SA.assess(context(spec(dns=None, firewall=None)), snapshot(ServiceAttachment=live))
    wanted = found.change.wanted
    assert (wanted.consumer_accept_lists, wanted.consumer_reject_lists) == ((), ())
    assert found.change.diffs == (
        "connection_preference: ACCEPT_MANUAL -> ACCEPT_AUTOMATIC",
        "consumer bad-project-1: rejected -> accepted (ACCEPT_AUTOMATIC accepts every consumer)",
        f"consumer {TENANT}: accepted up to 10 -> accepted without limit",
    )
    assert any("allow_widening" in p for p in found.problems)
    confirmed = {"name": "gkebackend", "connection_preference": "ACCEPT_AUTOMATIC", "allow_widening": True}
    assert SA.assess(context(spec(service_attachment=confirmed)), snapshot(ServiceAttachment=live)).problems == ()


def test_explicit_rejection_of_the_tenant_is_respected() -> None:
    found = target(_ctx(reject_projects=[TENANT]), sa(connection_preference="ACCEPT_MANUAL"), None)
    assert found.wanted.consumer_accept_lists == () and found.wanted.consumer_reject_lists == (TENANT,)


def test_rejected_connection_is_repaired_with_reconcile_connections() -> None:
    live = sa(connection_preference="ACCEPT_MANUAL", consumer_accept_lists=(ConsumerProjectLimit(TENANT, 10),))
    snap = snapshot(ServiceAttachment=live, EndpointAttachment=ea("ACTIVE", "REJECTED"))
    found = SA.assess(_ctx(), snap)
    assert found.change.action is Action.UPDATE and found.change.wanted.reconcile_connections is True
    assert found.change.diffs[0].startswith(
        "reconcile_connections: false -> true (the connection of the Apigee project"
    )
    refused = SA.assess(_ctx(reconcile_connections=False), snap)
    assert any("reconcile_connections to false" in p for p in refused.problems)


def test_accepted_connection_the_spec_rejects_is_re_decided() -> None:
    live = sa(connection_preference="ACCEPT_MANUAL", consumer_reject_lists=(TENANT,))
    found = SA.assess(_ctx(reject_projects=[TENANT]), snapshot(ServiceAttachment=live, EndpointAttachment=ea()))
    assert found.change.wanted.reconcile_connections is True
    assert "ACCEPTED but the spec rejects it" in found.change.diffs[0]


def test_create_sends_the_tenant_on_the_accept_list_and_the_mark() -> None:
    found = SA.assess(_ctx(), snapshot(ServiceAttachment=Seen(None)))
    assert found.change.action is Action.CREATE
    assert [e.project for e in found.change.wanted.consumer_accept_lists] == [TENANT]
    assert found.change.wanted.description.startswith("managed by apigee-psc")


def test_other_consumers_connected_make_deletion_a_problem() -> None:
    own = ConnectedEndpoint(f"projects/{TENANT}/regions/us-west1/forwardingRules/ours", "ACCEPTED")
    theirs = ConnectedEndpoint("projects/other-tenant/regions/us-west1/forwardingRules/theirs", "ACCEPTED")
    closed = ConnectedEndpoint("projects/gone/regions/us-west1/forwardingRules/old", "CLOSED")
    assert SA.delete_problem(context(), Seen(sa(connected_endpoints=(own, closed)))) is None
    problem = SA.delete_problem(context(), Seen(sa(connected_endpoints=(own, theirs))))
    assert problem is not None and "1 connected endpoint(s) of other consumers (theirs)" in problem
    assert "force=True" in problem


def test_moved_forwarding_rule_needs_a_replacement_which_is_refused() -> None:
    live = sa(target_service="projects/my-project/regions/us-west1/forwardingRules/fr-other")
    found = SA.assess(context(), snapshot(ServiceAttachment=live))
    assert found.change.action is Action.REPLACE
    assert "producer_forwarding_rule: fr-other -> fr-ilb" in found.change.diffs
    assert any("would have to be replaced" in p for p in found.problems)
