"""EndpointAttachment: lifecycle and connection state through the one diagnosis."""

from __future__ import annotations

from resource_kit import ORG, SA_PATH, TENANT, context, ea, reconciler, sa, snapshot

from apigee_psc.diagnosis import diagnose_connection
from apigee_psc.models import EndpointAttachment, Operation
from apigee_psc.southbound import Action, Realization
from apigee_psc.southbound.resources.base import Seen
from apigee_psc.southbound.resources.endpoint_attachment import explain

EA = reconciler("EndpointAttachment")


def test_invisible_attachment_with_operation_in_flight_waits_on_it() -> None:
    operation = Operation("organizations/my-organization/operations/op-1")
    found = EA.assess(context(), snapshot(EndpointAttachment=Seen(None, None, {"pending_operation": operation})))
    assert found.change.action is Action.WAIT and found.change.operation == operation.name
    assert found.change.to_dict()["operation"] == operation.name


def test_absent_attachment_is_created_on_the_spec_service_attachment() -> None:
    found = EA.assess(context(), snapshot(EndpointAttachment=Seen(None)))
    assert found.change.action is Action.CREATE and found.change.diffs == (f"service_attachment: {SA_PATH}",)


def test_another_attachment_on_the_same_service_attachment_is_a_problem() -> None:
    other = EndpointAttachment("theirs", "us-west1", SA_PATH)
    found = EA.assess(context(), snapshot(EndpointAttachment=Seen(None, None, {"attachment_for_sa": other})))
    assert "one endpoint attachment per service attachment" in found.problems[0]


def test_attachment_on_another_service_attachment_would_be_replaced_which_is_refused() -> None:
    moved = ea(service_attachment="projects/my-project/regions/us-west1/serviceAttachments/x")
    found = EA.assess(context(), snapshot(EndpointAttachment=moved))
    assert found.change.action is Action.REPLACE and "would have to be replaced" in found.problems[0]


def test_deleting_attachment_is_failed() -> None:
    ctx, snap = context(), snapshot(EndpointAttachment=ea("DELETING", "ACCEPTED"))
    status = EA.realize(ctx, snap, EA.assess(ctx, snap))
    assert status.state is Realization.FAILED and "being deleted" in (status.failure_message or "")


def test_status_and_apply_failure_share_one_diagnosis() -> None:
    """Issue 8's third disagreement: PENDING on ACCEPT_AUTOMATIC read differently by each."""
    pending = ea("ACTIVE", "PENDING")
    ctx, snap = context(), snapshot(EndpointAttachment=pending)
    status = EA.realize(ctx, snap, EA.assess(ctx, snap))
    same = diagnose_connection(
        "PENDING", apigee_project_id=TENANT, service_attachment=SA_PATH, live_service_attachment=sa()
    )
    assert status.failure_message == str(same) == str(explain(ctx, pending, sa()))
    assert "accept list" not in (same.fix or "") and "wait" in (same.fix or "")


def test_done_event_summary_names_host_and_states() -> None:
    assert EA.summary(ea()) == ("host 7.0.3.4", "ACTIVE/ACCEPTED")
    assert EA.summary(None) == ("", None)
    assert EA.applies(context().spec, ORG)
