"""Issue 18 (trust, round 2) over the emulator: marks name their owner and are compared, other
people's DNS strings are kept, a CNAME is a plan problem, a resume is never refused, and a
saved plan is a promise that apply checks against what it reads itself.

Each test failed before the change it covers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from integration_helpers import last_seq, mutations, southbound

from apigee_psc import ComputeClient, errors
from apigee_psc.apigee import ApigeeClient
from apigee_psc.cloud import CloudDnsClient, RecordSet
from apigee_psc.demo import build_producer
from apigee_psc.emulator import EmulatorServer
from apigee_psc.southbound import Action, Plan, PlanRefused, PlanStale, Realization, SouthboundSpec

ZONE, NAME = "my-private-zone", "orders.example.com."
OWNER_A = "organizations/my-organization/endpointAttachments/gkebackend"
VERIFY, SPF = '"google-site-verification=abc123"', '"v=spf1 -all"'


def _txt() -> tuple[str, ...]:
    found = CloudDnsClient().records.find("my-project", ZONE, NAME, "TXT")
    return found.rrdatas if found is not None else ()


def _mark(owner: str = OWNER_A) -> str:
    return f'"heritage=apigee-psc,apigee-psc/owner={owner}"'


# -- 1. other people's TXT strings are kept ---------------------------------------------------


def test_create_keeps_the_names_other_txt_strings_and_the_plan_shows_the_mark_joining_them(
    producer: EmulatorServer, seed_spec: SouthboundSpec
) -> None:
    CloudDnsClient().records.upsert("my-project", ZONE, NAME, [VERIFY], type="TXT")
    change = southbound(seed_spec).plan().change("DnsRecord")
    assert change is not None and change.action is Action.CREATE
    assert any(d.startswith(f"TXT: + {_mark()}") and VERIFY in d for d in change.diffs)
    assert southbound(seed_spec).apply().ok
    assert set(_txt()) == {VERIFY, _mark()}


def test_update_of_an_own_record_keeps_the_other_txt_strings(
    producer: EmulatorServer, seed_spec: SouthboundSpec
) -> None:
    host = southbound(seed_spec).apply().host
    records = CloudDnsClient().records
    current_a, current_txt = records.get("my-project", ZONE, NAME, "A"), records.get("my-project", ZONE, NAME, "TXT")
    wrong = RecordSet(NAME, "A", current_a.ttl, ("10.9.9.9",))
    spf = RecordSet(NAME, "TXT", current_txt.ttl, (*current_txt.rrdatas, SPF))
    records.change("my-project", ZONE, additions=[wrong, spf], deletions=[current_a, current_txt])
    assert southbound(seed_spec).apply().ok
    assert records.get("my-project", ZONE, NAME, "A").rrdatas == (host,)
    assert set(_txt()) == {_mark(), SPF}


def test_destroy_takes_only_its_mark_out_of_the_txt_set(producer: EmulatorServer, seed_spec: SouthboundSpec) -> None:
    CloudDnsClient().records.upsert("my-project", ZONE, NAME, [VERIFY, SPF], type="TXT")
    assert southbound(seed_spec).apply().ok
    southbound(seed_spec).destroy()
    assert CloudDnsClient().records.find("my-project", ZONE, NAME, "A") is None
    assert set(_txt()) == {VERIFY, SPF}


# -- 2. every mark names its owner, and another owner's resource is never taken -----------------


def _other(make_spec: Callable[..., SouthboundSpec], **changes: Any) -> SouthboundSpec:
    """A second spec of the same organization naming the seed's resources (another attachment)."""
    return make_spec(endpoint_attachment={"name": "other-ea"}, **changes)


CONFLICTS: dict[str, dict[str, Any]] = {
    "NatSubnet": {"nat_subnet": {"name": "psc-subnet", "range": "10.100.0.16/28"}},
    "Firewall": {"firewall": {"name": "allow-psc-nat-80", "ports": [8080], "target_tags": ["psc-demo"]}},
    "ServiceAttachment": {"service_attachment": {"name": "gkebackend", "connection_preference": "ACCEPT_MANUAL"}},
    "DnsZone": {"dns": {"zone": {"name": "my-zone", "domain": "other.example.com."}}},
    "DnsRecord": {},  # the other spec's endpoint attachment does not exist: its A record would differ
}


@pytest.mark.parametrize("kind", sorted(CONFLICTS))
def test_another_specs_resource_is_a_problem_naming_its_owner_even_with_adopt(
    producer: EmulatorServer, seed_spec: SouthboundSpec, make_spec: Callable[..., SouthboundSpec], kind: str
) -> None:
    assert southbound(seed_spec).apply().ok
    other = _other(make_spec, **CONFLICTS[kind])
    for adopt in (False, True):
        plan = southbound(other, adopt=adopt).plan()
        found = [p.message for p in plan.problems if p.kind == kind]
        assert found and OWNER_A in found[0], plan.problems
    before = last_seq(producer)
    with pytest.raises(PlanRefused):
        southbound(other, adopt=True).apply()
    assert mutations(producer, before) == []


def test_destroy_of_another_spec_keeps_every_resource_the_first_one_marked(
    producer: EmulatorServer, seed_spec: SouthboundSpec, make_spec: Callable[..., SouthboundSpec]
) -> None:
    assert southbound(seed_spec).apply().ok
    report = southbound(_other(make_spec), adopt=True).destroy(force=True)
    kept = {c.kind: c.note for c in report.kept}
    for kind in ("NatSubnet", "Firewall", "ServiceAttachment", "DnsZone"):
        assert OWNER_A in kept[kind], kept
    assert not report.deleted
    assert southbound(seed_spec).status().ok  # every resource of the first spec is still there


def test_a_mark_must_name_this_spec_to_be_its_own(producer: EmulatorServer, seed_spec: SouthboundSpec) -> None:
    """A Compute mark without an owner (or another one) is not this spec's: no change, no delete."""
    compute = ComputeClient("my-project", "us-west1")
    compute.firewalls.create(
        "allow-psc-nat-80",
        network="default",
        ports=[22],
        source_ranges=["10.100.0.0/28"],
        target_tags=["psc-demo"],
        description="managed by apigee-psc",
    )
    plan = southbound(seed_spec).plan()
    assert any(p.kind == "Firewall" and "another apigee-psc spec" in p.message for p in plan.problems)
    report = southbound(seed_spec, adopt=True).destroy()
    assert "Firewall" in {c.kind for c in report.kept}
    assert compute.firewalls.get("allow-psc-nat-80").tcp_ports == (22,)


# -- 3. a CNAME at the record's name ---------------------------------------------------------------


def test_a_cname_at_the_record_name_is_a_plan_problem_and_nothing_is_created(
    producer: EmulatorServer, seed_spec: SouthboundSpec
) -> None:
    cname = RecordSet(NAME, "CNAME", 300, ("elsewhere.example.com.",))
    CloudDnsClient().records.change("my-project", ZONE, additions=[cname])
    plan = southbound(seed_spec).plan()
    assert [p.kind for p in plan.problems] == ["DnsRecord"]
    assert "CNAME" in plan.problems[0].message and "elsewhere.example.com." in plan.problems[0].message
    before = last_seq(producer)
    with pytest.raises(PlanRefused):
        southbound(seed_spec).apply()
    assert mutations(producer, before) == []


# -- 4. a resume is never refused ---------------------------------------------------------------------


def test_twenty_interrupted_applies_in_a_row_resume_without_a_stale_refusal(
    apigee_emulator: EmulatorServer, seed_spec: SouthboundSpec
) -> None:
    """Cancel an apply after k progress events, plan, let what is in flight finish, apply that
    plan: it converges every time (the host the plan knew only after apply is no staleness)."""
    apigee_emulator.configure(op_seconds=0.15)
    for k in range(1, 21):
        apigee_emulator.reset()
        build_producer()
        apigee_emulator.configure(op_seconds=0.15)
        cancel = threading.Event()
        seen: list[object] = []

        def count(event: object, seen: list[object] = seen, cancel: threading.Event = cancel, k: int = k) -> None:
            seen.append(event)
            if len(seen) >= k:
                cancel.set()

        connection = southbound(seed_spec)
        try:
            connection.apply(progress=count, cancel=cancel)
        except errors.Cancelled:
            pass
        else:
            assert len(seen) < k  # the apply finished before its k-th event: nothing to resume
        plan = southbound(seed_spec).plan()
        apigee_emulator.wait_idle(timeout=10)
        time.sleep(0.2)  # Compute operations in flight finish too
        report = southbound(seed_spec).apply(plan=plan)
        assert report.ok, (k, report.to_text())


# -- 11. a saved plan is a promise, never a source of values -------------------------------------------


def _saved(plan: Plan) -> dict[str, Any]:
    return plan.to_dict()


def _refused_with_nothing_written(producer: EmulatorServer, spec: SouthboundSpec, data: dict[str, Any]) -> str:
    before = last_seq(producer)
    started = time.monotonic()
    with pytest.raises(PlanStale) as caught:
        southbound(spec).apply(plan=Plan.from_dict(data))
    assert time.monotonic() - started < 5.0  # a refusal is immediate
    assert mutations(producer, before) == []
    return str(caught.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [("organization_project_id", "someone-elses-project"), ("apigee_project_id", "attacker-tenant-project")],
)
def test_an_edited_organization_field_is_refused_with_nothing_written(
    producer: EmulatorServer, seed_spec: SouthboundSpec, field: str, value: str
) -> None:
    data = _saved(southbound(seed_spec).plan())
    data[field] = value
    text = _refused_with_nothing_written(producer, seed_spec, data)
    assert f"its {field} is" in text and value in text


def test_an_edited_host_is_refused_and_the_a_record_is_not_written(
    producer: EmulatorServer, seed_spec: SouthboundSpec
) -> None:
    host = southbound(seed_spec).apply().host
    records = CloudDnsClient().records
    current = records.get("my-project", ZONE, NAME, "A")
    records.change("my-project", ZONE, deletions=[current])
    data = _saved(southbound(seed_spec).plan())
    change = next(c for c in data["changes"] if c["kind"] == "DnsRecord")
    assert change["fields"][0]["wanted"] == host
    change["fields"][0]["wanted"] = "203.0.113.66"
    change["diffs"][0] = "A: 203.0.113.66"
    change["wanted"]["rrdatas"] = ["203.0.113.66"]
    text = _refused_with_nothing_written(producer, seed_spec, data)
    assert "DnsRecord" in text and host in text
    assert records.find("my-project", ZONE, NAME, "A") is None


def test_a_plan_made_in_another_environment_is_refused_with_nothing_written(
    producer: EmulatorServer, seed_spec: SouthboundSpec
) -> None:
    assert southbound(seed_spec).apply().ok  # environment X: everything exists but the A record
    records = CloudDnsClient().records
    records.change("my-project", ZONE, deletions=[records.get("my-project", ZONE, NAME, "A")])
    data = _saved(southbound(seed_spec).plan())
    assert [c["kind"] for c in data["changes"] if c["action"] != "no-op"] == ["DnsRecord"]
    producer.reset()  # environment Y: only the producer's load balancer and zone
    build_producer()
    text = _refused_with_nothing_written(producer, seed_spec, data)
    assert "Firewall: allow-psc-nat-80 changed since the plan (apply would now create it" in text
    assert southbound(seed_spec).status().state is not Realization.IN_SYNC


def test_a_saved_plan_with_edited_copies_of_live_objects_applies_what_a_fresh_plan_shows(
    producer: EmulatorServer, seed_spec: SouthboundSpec
) -> None:
    """What apply writes comes from its own reads: edits that change no difference are inert."""
    data = _saved(southbound(seed_spec).plan())
    fw = next(c for c in data["changes"] if c["kind"] == "Firewall")
    fw["wanted"]["target_tags"] = ["everything"]  # a copy, not a promise: the diffs say what is agreed
    report = southbound(seed_spec).apply(plan=Plan.from_dict(data))
    assert report.ok
    assert ComputeClient("my-project", "us-west1").firewalls.get("allow-psc-nat-80").target_tags == ("psc-demo",)
    assert ApigeeClient("my-organization").endpoint_attachments.get("gkebackend").host == report.host
