"""diagnose(): a cause and a fix for every connection state, naming the project and attachment."""

from __future__ import annotations

import pytest

from apigee_psc.diagnosis import Diagnosis, diagnose, is_terminal, is_waitable
from apigee_psc.models import ConnectionState

SA = "projects/my-project/regions/us-west1/serviceAttachments/gkebackend"
TENANT = "x-tenant"
ALL_STATES = [s.value for s in ConnectionState] + ["SOMETHING_NEW"]


def test_connection_state_enum_has_the_nine_api_values() -> None:
    assert len(ConnectionState) == 9
    assert ConnectionState.ACCEPTED == "ACCEPTED"
    assert ConnectionState.ACCEPTED_LIMITED_CAPACITY.value == "ACCEPTED_LIMITED_CAPACITY"


@pytest.mark.parametrize("state", ALL_STATES)
def test_diagnose_every_state_one_sentence_naming_project_and_attachment(state: str) -> None:
    diagnosis = diagnose(state, apigee_project_id=TENANT, service_attachment=SA)
    text = str(diagnosis)
    assert isinstance(diagnosis, Diagnosis)
    assert diagnosis.state == state
    assert diagnosis.cause
    assert text.startswith(f"connectionState {state}: ")
    assert "\n" not in text and ". " not in text  # one sentence
    assert f"'{TENANT}'" in text
    assert SA in text


@pytest.mark.parametrize("state", ALL_STATES)
def test_diagnose_without_context_still_actionable(state: str) -> None:
    text = str(diagnose(state))
    assert "apigeeProjectId" in text or state.startswith("ACCEPTED") is False or "service attachment" in text
    assert "None" not in text


@pytest.mark.parametrize(
    ("state", "ok", "terminal", "has_fix"),
    [
        ("ACCEPTED", True, False, False),
        ("ACCEPTED_LIMITED_CAPACITY", True, False, True),
        ("PENDING", False, False, True),
        ("REJECTED", False, True, True),
        ("CLOSED", False, True, True),
        ("FROZEN", False, True, True),
        ("NEEDS_ATTENTION", False, False, True),
        ("UNAVAILABLE", False, False, True),
        ("CONNECTION_STATE_UNSPECIFIED", False, False, True),
        ("SOMETHING_NEW", False, False, True),
    ],
)
def test_diagnose_flags_per_state(state: str, ok: bool, terminal: bool, has_fix: bool) -> None:
    diagnosis = diagnose(state, apigee_project_id=TENANT, service_attachment=SA)
    assert diagnosis.ok is ok
    assert diagnosis.terminal is terminal
    assert (diagnosis.fix is not None) is has_fix
    assert is_terminal(state) is terminal


@pytest.mark.parametrize("state", ["PENDING", "UNAVAILABLE", "NEEDS_ATTENTION", "CONNECTION_STATE_UNSPECIFIED", None])
def test_is_waitable_waitable_states(state: str | None) -> None:
    assert is_waitable(state)


@pytest.mark.parametrize("state", ["ACCEPTED", "REJECTED", "CLOSED", "FROZEN", "SOMETHING_NEW"])
def test_is_waitable_other_states_false(state: str) -> None:
    assert not is_waitable(state)


def test_diagnose_pending_fix_names_exact_project_and_attachment() -> None:
    diagnosis = diagnose(ConnectionState.PENDING, apigee_project_id=TENANT, service_attachment=SA)
    assert diagnosis.fix == f"add '{TENANT}' to the accept list of {SA} (or switch it to ACCEPT_AUTOMATIC)"


def test_diagnose_pending_already_accept_listed_points_at_limit() -> None:
    diagnosis = diagnose("PENDING", apigee_project_id=TENANT, service_attachment=SA, accept_projects=[TENANT])
    assert diagnosis.fix is not None and "connection limit" in diagnosis.fix


def test_diagnose_pending_automatic_says_wait() -> None:
    diagnosis = diagnose(
        "PENDING", apigee_project_id=TENANT, service_attachment=SA, connection_preference="ACCEPT_AUTOMATIC"
    )
    assert diagnosis.fix is not None and diagnosis.fix.startswith("wait")


def test_diagnose_rejected_on_reject_list_says_so() -> None:
    diagnosis = diagnose("REJECTED", apigee_project_id=TENANT, service_attachment=SA, reject_projects=[TENANT])
    assert "on the reject list" in diagnosis.cause
    assert diagnosis.fix is not None
    assert diagnosis.fix.startswith(f"remove '{TENANT}' from the reject list of {SA}, add it to the accept list")
    assert "reconcileConnections" in diagnosis.fix


def test_diagnose_rejected_but_accepted_now_names_reconcile() -> None:
    diagnosis = diagnose(
        "REJECTED", apigee_project_id=TENANT, service_attachment=SA, accept_projects=[TENANT], reject_projects=[]
    )
    assert "reconcileConnections" in diagnosis.cause and "reject list)" not in diagnosis.cause
    assert diagnosis.terminal


def test_diagnose_closed_says_recreate() -> None:
    diagnosis = diagnose("CLOSED", service_attachment=SA)
    assert diagnosis.fix is not None and "recreate" in diagnosis.fix


def test_diagnose_none_is_unspecified() -> None:
    assert diagnose(None).state == ConnectionState.CONNECTION_STATE_UNSPECIFIED


def test_diagnose_enum_and_string_agree() -> None:
    for state in ConnectionState:
        assert diagnose(state, apigee_project_id=TENANT, service_attachment=SA) == diagnose(
            state.value, apigee_project_id=TENANT, service_attachment=SA
        )


def test_the_connection_state_sets_have_one_home_that_every_rule_reads() -> None:
    from apigee_psc import models, waiters
    from apigee_psc.diagnosis import is_terminal, is_waitable
    from apigee_psc.southbound.capacity import HOLDING
    from apigee_psc.southbound.resources.service_attachment import OPEN_CONNECTIONS

    every = {state.value for state in models.ConnectionState}
    # The three sets split the nine states with no overlap.
    assert every == models.CONNECTED | models.FINAL_FAILURES | models.WAITABLE
    assert not models.CONNECTED & models.FINAL_FAILURES and not models.WAITABLE & models.FINAL_FAILURES
    assert {s for s in every if is_terminal(s)} == models.FINAL_FAILURES
    assert {s for s in every if is_waitable(s)} == models.WAITABLE
    success, failure = waiters.ATTACHMENT_READY.acceptors[:2]
    assert set(success.when["connection_state"]) == models.CONNECTED
    assert set(failure.when["connection_state"]) == models.FINAL_FAILURES
    assert HOLDING == models.HOLDING_ENDPOINT_STATUSES == {"ACCEPTED"}
    assert OPEN_CONNECTIONS == models.OPEN_ENDPOINT_STATUSES == {"ACCEPTED", "PENDING", "NEEDS_ATTENTION"}
    ready = models.EndpointAttachment("a", "r", "sa", state="ACTIVE", connection_state="ACCEPTED_LIMITED_CAPACITY")
    assert ready.ready
