"""Plans and realization reports: ordering, worst state, JSON shape, text and HTML rendering."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest

from apigee_psc.errors import ValidationError
from apigee_psc.southbound.live import OrgInfo
from apigee_psc.southbound.plan import Action, Change, DestroyPlan, Plan, Problem, org_fields
from apigee_psc.southbound.reports import EntityStatus, ProgressEvent, Realization, RealizationReport

SA = "projects/my-project/regions/us-west1/serviceAttachments/gkebackend"
EA = "organizations/my-organization/endpointAttachments/gkebackend"


def _plan(*actions: Action, problems: tuple[Problem, ...] = ()) -> Plan:
    changes = tuple(Change(action, "Kind", f"r{i}", f"id/{i}") for i, action in enumerate(actions))
    return Plan("seed.yaml", "my-organization", changes, problems)


def test_plan_all_noop_has_no_changes() -> None:
    plan = _plan(Action.NOOP, Action.NOOP)
    assert not plan.has_changes
    assert plan.ok
    assert "Everything is in sync" in plan.to_text()


@pytest.mark.parametrize("action", [Action.CREATE, Action.UPDATE, Action.REPLACE, Action.WAIT, Action.DELETE])
def test_plan_any_non_noop_action_has_changes(action: Action) -> None:
    assert _plan(Action.NOOP, action).has_changes


def test_plan_problems_make_it_not_ok_and_are_rendered() -> None:
    plan = _plan(Action.CREATE, problems=(Problem("ForwardingRule", "fr-ilb does not exist"),))
    assert not plan.ok
    assert "! ForwardingRule: fr-ilb does not exist" in plan.to_text()
    assert plan.to_dict()["problems"] == [{"kind": "ForwardingRule", "message": "fr-ilb does not exist"}]


def test_plan_to_dict_keeps_order_and_counts() -> None:
    plan = _plan(Action.CREATE, Action.NOOP, Action.CREATE, Action.UPDATE)
    data = json.loads(plan.to_json())
    assert [c["name"] for c in data["changes"]] == ["r0", "r1", "r2", "r3"]
    assert data["summary"] == {"create": 2, "no-op": 1, "update": 1}


def test_change_writes_only_for_mutations() -> None:
    assert Change(Action.CREATE, "K", "n", "i").writes
    assert not Change(Action.NOOP, "K", "n", "i").writes
    assert not Change(Action.WAIT, "K", "n", "i").writes


def test_report_state_is_worst_detail() -> None:
    details = [
        EntityStatus("NatSubnet", "a", Realization.IN_SYNC),
        EntityStatus("ServiceAttachment", SA, Realization.IN_SYNC),
        EntityStatus("EndpointAttachment", EA, Realization.IN_PROGRESS, "connectionState PENDING: x"),
    ]
    report = RealizationReport.of(details)
    assert report.state is Realization.IN_PROGRESS
    assert report.failure_message == "EndpointAttachment gkebackend: connectionState PENDING: x"
    assert not report.ok


@pytest.mark.parametrize(
    ("states", "worst"),
    [
        ([Realization.IN_SYNC], Realization.IN_SYNC),
        ([Realization.IN_SYNC, Realization.NOT_FOUND, Realization.IN_PROGRESS], Realization.NOT_FOUND),
        ([Realization.UNKNOWN, Realization.NOT_FOUND], Realization.UNKNOWN),
        ([Realization.UNKNOWN, Realization.FAILED, Realization.IN_SYNC], Realization.FAILED),
    ],
)
def test_report_worst_state_ordering(states: list[Realization], worst: Realization) -> None:
    report = RealizationReport.of(EntityStatus("K", f"id{i}", s, "m") for i, s in enumerate(states))
    assert report.state is worst


def test_report_to_dict_matches_contract_shape() -> None:
    report = RealizationReport.of(
        [
            EntityStatus("ServiceAttachment", SA, Realization.IN_SYNC),
            EntityStatus("EndpointAttachment", EA, Realization.IN_PROGRESS, "connectionState PENDING: ..."),
        ]
    )
    data = report.to_dict()
    assert set(data) == {"state", "failure_message", "details"}
    assert data["state"] == "in_progress"
    assert data["details"][0] == {"sub_system_type": "ServiceAttachment", "sub_system_id": SA, "state": "in_sync"}
    assert data["details"][1]["failure_message"] == "connectionState PENDING: ..."


def test_report_in_sync_has_no_failure_message() -> None:
    report = RealizationReport.of([EntityStatus("ServiceAttachment", SA, Realization.IN_SYNC)], host="7.0.3.4")
    data = report.to_dict()
    assert data["state"] == "in_sync"
    assert "failure_message" not in data
    assert data["host"] == "7.0.3.4"
    assert report.ok


class _Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.cells: list[str] = []
        self._in = False

    def handle_starttag(self, tag: str, attrs: object) -> None:
        self._in = tag == "td"

    def handle_data(self, data: str) -> None:
        if self._in:
            self.cells.append(data)

    def handle_endtag(self, tag: str) -> None:
        self._in = False


def test_report_html_escapes_and_lists_every_entity() -> None:
    report = RealizationReport.of([EntityStatus("EndpointAttachment", EA, Realization.FAILED, "<rejected> & closed")])
    html = report._repr_html_()
    assert "<rejected>" not in html
    parser = _Cells()
    parser.feed(html)
    assert parser.cells == ["failed", "EndpointAttachment", EA, "<rejected> & closed"]


def test_plan_html_lists_changes() -> None:
    parser = _Cells()
    parser.feed(_plan(Action.CREATE)._repr_html_())
    assert parser.cells[:3] == ["create", "Kind", "r0"]


def test_progress_event_text_shows_state_and_elapsed() -> None:
    event = ProgressEvent(
        "apply", "EndpointAttachment gkebackend", "waiting", "ATTACHMENT_READY", "ACTIVE/PENDING", 12.4
    )
    assert event.to_text() == "apply: EndpointAttachment gkebackend: waiting [ACTIVE/PENDING] ATTACHMENT_READY (12s)"


# -- the destroy plan -------------------------------------------------------------------------------


def _destroy_plan(**changes: object) -> DestroyPlan:
    data: dict[str, object] = {
        "deletes": (Change(Action.DELETE, "ServiceAttachment", "gkebackend", SA),),
        "kept": (Change(Action.NOOP, "ForwardingRule", "fr-ilb", "fr/id", note="referenced, not owned: kept"),),
        "absent": (("DnsRecord", "orders.example.com."),),
        **changes,
    }
    return DestroyPlan("seed.yaml", "my-organization", **data)  # type: ignore[arg-type]


def test_destroy_plan_text_json_and_html() -> None:
    plan = _destroy_plan(problems=(Problem("ServiceAttachment", "serves <others>"),))
    text = plan.to_text()
    assert "    - delete   ServiceAttachment      gkebackend" in text
    assert "    = keep     ForwardingRule         fr-ilb  (referenced, not owned: kept)" in text
    assert "      absent   DnsRecord              orders.example.com.  (not found: nothing to delete)" in text
    assert "  ! ServiceAttachment: serves <others>" in text and not plan.ok and plan.has_changes
    data = json.loads(plan.to_json())
    assert data["summary"] == {"delete": 1, "keep": 1, "absent": 1}
    assert [e["action"] for e in data["entities"]] == ["delete", "keep", "absent"]
    assert data["entities"][0]["id"] == SA and data["entities"][2]["id"] is None
    assert "&lt;others&gt;" in plan._repr_html_() and "<others>" not in plan._repr_html_()
    assert _destroy_plan(problems=(Problem("ServiceAttachment", "x"),), force=True).ok


def test_destroy_plan_same_as_stops_only_what_would_delete_more() -> None:
    shown = _destroy_plan()
    gone = _destroy_plan(deletes=(), absent=(("ServiceAttachment", "gkebackend"),))
    assert shown.same_as(gone) == []  # planned for deletion, gone already: fine
    appeared = _destroy_plan(deletes=(*shown.deletes, Change(Action.DELETE, "DnsRecord", "orders.example.com.", "r")))
    assert shown.same_as(appeared) == [
        "DnsRecord: orders.example.com. would now be deleted, but was absent in the plan"
    ]
    problem = _destroy_plan(problems=(Problem("ServiceAttachment", "serves others"),))
    assert shown.same_as(problem) == ["ServiceAttachment: serves others (new since the plan)"]


def test_plan_carries_the_organization_it_read_and_writes_it_flat() -> None:
    org = OrgInfo("my-organization", "tenant-p", False, "my-project", "projects/host/global/networks/shared")
    plan = Plan("seed.yaml", "my-organization", (), org=org)
    data = plan.to_dict()
    assert "org" not in data
    assert (
        data["apigee_project_id"],
        data["disable_vpc_peering"],
        data["organization_project_id"],
        data["authorized_network"],
    ) == ("tenant-p", False, "my-project", "projects/host/global/networks/shared")
    again = Plan.from_json(plan.to_json())
    assert again.org == org and again == plan
    assert again.org is not None and again.org.peered_network == ("host", "shared")


def test_a_plan_without_an_organization_writes_nulls_and_reads_back_none() -> None:
    plan = Plan("seed.yaml", "my-organization", ())
    data = plan.to_dict()
    assert [data[k] for k in org_fields(None)] == [None, None, None, None]
    assert Plan.from_dict(data).org is None


def test_a_plan_file_with_an_organization_but_no_peering_flag_is_refused() -> None:
    data = Plan("seed.yaml", "my-organization", (), org=OrgInfo("my-organization", "tenant-p")).to_dict()
    data["disable_vpc_peering"] = "yes"
    with pytest.raises(ValidationError, match="disable_vpc_peering"):
        Plan.from_dict(data)
