"""apigee-psc watch over the emulator: one test per day-two event, healing, metrics and events.

Each day-two event is made the way it happens on Google (another client's API call, a fault
rule), then one pass must report the right condition and reason; ``heal="safe"`` must repair
what it may and nothing else, and a foreign resource is never touched.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import jsonschema
import pytest
from integration_helpers import FAST, last_seq, mutations, southbound

from apigee_psc import ComputeClient, _schema
from apigee_psc.cloud import CloudDnsClient
from apigee_psc.emulator import EmulatorServer
from apigee_psc.southbound import SouthboundSpec
from apigee_psc.southbound.conditions import SpecState, WatchEvent
from apigee_psc.southbound.watch import Watcher

MANUAL = {"name": "gkebackend", "connection_preference": "ACCEPT_MANUAL"}
LOCKED = "The resource is locked by another operation (organizations/my-organization/operations/other-tool)."


def _watcher(specs: list[SouthboundSpec], events: list[WatchEvent], **options: Any) -> Watcher:
    options.setdefault("schedule", FAST)
    options.setdefault("timeout", 20.0)
    return Watcher(specs, interval=1, on_event=events.append, **options)


def _one(watcher: Watcher) -> SpecState:
    (state,) = watcher.run_pass()
    return state


def _cond(state: SpecState, kind: str | None, type_: str) -> tuple[str, str, str]:
    if kind is None:
        c = state.condition(type_)
    else:
        resource = state.resource(kind)
        assert resource is not None, kind
        found = resource.condition(type_)
        assert found is not None, (kind, type_)
        c = found
    return c.status, c.reason, c.message


def _validate(events: list[WatchEvent]) -> None:
    validator = jsonschema.Draft202012Validator(_schema.load("event"))
    for event in events:
        validator.validate(json.loads(event.to_json()))


def test_watch_unchanged_connection_is_ready_in_sync_owned_and_writes_nothing(
    producer: EmulatorServer, seed_spec: SouthboundSpec
) -> None:
    southbound(seed_spec).apply()
    events: list[WatchEvent] = []
    watcher = _watcher([seed_spec], events, heal="safe")
    before = last_seq(producer)
    first = _one(watcher)
    second = _one(watcher)
    assert mutations(producer, before) == []
    assert first.ok and second.ok
    assert _cond(first, None, "ready")[:2] == ("True", "Accepted")
    assert _cond(first, None, "in_sync")[:2] == ("True", "InSync")
    assert _cond(first, "NatSubnet", "owned")[:2] == ("True", "Owned")
    assert first.capacity is not None and (first.capacity.total, first.capacity.used) == (12, 1)
    # Transitions are emitted once: the second pass only ends with its pass event.
    second_events = events[next(i for i, e in enumerate(events) if e.type == "pass") + 1 :]
    assert [e.type for e in second_events] == ["pass"]
    assert second.condition("ready").last_transition_time == first.condition("ready").last_transition_time
    passes = [e for e in events if e.type == "pass"]
    assert sum(p.requests or 0 for p in passes) == len(producer.requests(since=before))  # every request counted
    _validate(events)


def test_watch_accept_list_edited_by_another_team_is_drift_and_safe_heal_restores_it(
    producer: EmulatorServer, make_spec: Callable[..., SouthboundSpec], tenant: str
) -> None:
    spec = make_spec(service_attachment=MANUAL)
    southbound(spec).apply()
    compute = ComputeClient("my-project", "us-west1")
    compute.service_attachments.remove_project("gkebackend", tenant)  # another team's edit
    events: list[WatchEvent] = []
    watcher = _watcher([spec], events)
    before = last_seq(producer)
    state = _one(watcher)
    assert mutations(producer, before) == []  # observe-only by default
    status, reason, message = _cond(state, "ServiceAttachment", "in_sync")
    assert (status, reason) == ("False", "Drifted")
    assert f"accept: + {tenant}" in message and "apigee-psc apply" in message
    assert _cond(state, None, "ready")[:2] == ("True", "Accepted")  # decided connections stay
    drift = [e for e in events if e.type == "drift"]
    assert drift and drift[0].kind == "ServiceAttachment"
    assert drift[0].fields[0].to_dict() == {"field": "accept", "op": "add", "wanted": tenant, "note": "limit 10"}

    watcher.heal = "safe"
    before = last_seq(producer)
    healed = _one(watcher)
    writes = mutations(producer, before)
    assert writes and all(w["method"] == "PATCH" and "/serviceAttachments/gkebackend" in w["path"] for w in writes)
    assert tenant in compute.service_attachments.get("gkebackend").accepted_projects
    assert healed.in_sync and _cond(healed, "ServiceAttachment", "in_sync")[:2] == ("True", "InSync")
    kinds = [(e.type, e.kind) for e in events if e.type.startswith("heal")]
    assert ("heal_planned", "ServiceAttachment") in kinds and ("heal_done", "ServiceAttachment") in kinds
    assert kinds.index(("heal_planned", "ServiceAttachment")) < kinds.index(("heal_done", "ServiceAttachment"))
    _validate(events)


def test_watch_widening_list_edit_is_reported_never_healed(
    producer: EmulatorServer, make_spec: Callable[..., SouthboundSpec], tenant: str
) -> None:
    """Another team accept-lists a second consumer: kept (not in the spec, not pruned), so in
    sync; when they also switch to ACCEPT_AUTOMATIC, the spec's MANUAL would narrow, but the
    watch never switches a preference: it reports and skips."""
    spec = make_spec(service_attachment=MANUAL)
    southbound(spec).apply()
    compute = ComputeClient("my-project", "us-west1")
    compute.service_attachments.set_connection_preference("gkebackend", "ACCEPT_AUTOMATIC")
    events: list[WatchEvent] = []
    watcher = _watcher([spec], events, heal="safe")
    before = last_seq(producer)
    state = _one(watcher)
    assert mutations(producer, before) == []
    assert _cond(state, "ServiceAttachment", "in_sync")[:2] == ("False", "Drifted")
    skipped = [e for e in events if e.type == "heal_skipped"]
    assert skipped and skipped[0].kind == "ServiceAttachment"
    assert str(compute.service_attachments.get("gkebackend").connection_preference) == "ACCEPT_AUTOMATIC"


def test_watch_service_attachment_deleted_reports_closed_and_is_not_recreated(
    producer: EmulatorServer, seed_spec: SouthboundSpec
) -> None:
    southbound(seed_spec).apply()
    compute = ComputeClient("my-project", "us-west1")
    compute.service_attachments.delete("gkebackend")
    events: list[WatchEvent] = []
    watcher = _watcher([seed_spec], events, heal="safe")
    before = last_seq(producer)
    state = _one(watcher)
    assert mutations(producer, before) == []
    status, reason, message = _cond(state, None, "ready")
    assert (status, reason) == ("False", "Closed")
    assert "recreate the service attachment" in message
    assert _cond(state, "ServiceAttachment", "in_sync")[:2] == ("False", "Missing")
    assert state.connection_state == "CLOSED"
    assert any(e.type == "heal_skipped" and e.kind == "ServiceAttachment" for e in events)


def test_watch_a_record_deleted_is_missing_and_safe_heal_recreates_it(
    producer: EmulatorServer, seed_spec: SouthboundSpec
) -> None:
    southbound(seed_spec).apply()
    dns = CloudDnsClient()
    dns.records.delete("my-project", "my-private-zone", "orders.example.com.", "A")
    events: list[WatchEvent] = []
    watcher = _watcher([seed_spec], events)
    state = _one(watcher)
    assert _cond(state, "DnsRecord", "in_sync")[:2] == ("False", "Missing")
    assert _cond(state, None, "in_sync")[:2] == ("False", "Missing")
    assert _cond(state, None, "ready")[:2] == ("True", "Accepted")
    watcher.heal = "safe"
    before = last_seq(producer)
    healed = _one(watcher)
    writes = mutations(producer, before)
    assert writes and all("/dns/" in w["path"] for w in writes)  # only the record was written
    assert dns.records.get("my-project", "my-private-zone", "orders.example.com.").rrdatas == ("7.0.3.4",)
    assert healed.in_sync
    transition = [e for e in events if e.type == "condition" and e.kind is None and e.condition == "in_sync"]
    assert [(e.status, e.reason) for e in transition] == [("False", "Missing"), ("True", "InSync")]
    _validate(events)


def test_watch_firewall_changed_is_drift_and_safe_heal_restores_it(
    producer: EmulatorServer, seed_spec: SouthboundSpec
) -> None:
    southbound(seed_spec).apply()
    firewalls = ComputeClient("my-project", "us-west1").firewalls
    ours = firewalls.get("allow-psc-nat-80")
    firewalls.delete("allow-psc-nat-80")  # someone widens the rule (keeping its description)
    firewalls.create(
        "allow-psc-nat-80",
        network="default",
        source_ranges=["0.0.0.0/0"],
        ports=[80, 22],
        target_tags=["psc-demo"],
        description=ours.description,
    )
    events: list[WatchEvent] = []
    watcher = _watcher([seed_spec], events)
    state = _one(watcher)
    status, reason, message = _cond(state, "Firewall", "in_sync")
    assert (status, reason) == ("False", "Drifted") and "ports: [22, 80] -> [80]" in message
    watcher.heal = "safe"
    before = last_seq(producer)
    healed = _one(watcher)
    writes = mutations(producer, before)
    assert writes and all("/global/firewalls" in w["path"] for w in writes)  # nothing else was written
    restored = firewalls.get("allow-psc-nat-80")
    assert restored.tcp_ports == (80,) and tuple(restored.source_ranges) == ("10.100.0.0/28",)
    assert healed.in_sync


def test_watch_foreign_firewall_is_reported_and_never_touched(
    producer: EmulatorServer, make_spec: Callable[..., SouthboundSpec]
) -> None:
    southbound(make_spec(firewall=None)).apply()
    firewalls = ComputeClient("my-project", "us-west1").firewalls
    firewalls.create(
        "allow-psc-nat-80", network="default", source_ranges=["192.168.0.0/16"], ports=[22], target_tags=["psc-demo"]
    )
    spec = make_spec()
    events: list[WatchEvent] = []
    watcher = _watcher([spec], events, heal="safe")
    before = last_seq(producer)
    state = _one(watcher)
    assert mutations(producer, before) == []
    status, reason, message = _cond(state, "Firewall", "owned")
    assert (status, reason) == ("False", "ForeignOwner") and "did not create it" in message
    assert _cond(state, None, "owned")[:2] == ("False", "ForeignOwner")
    skipped = [e for e in events if e.type == "heal_skipped"]
    assert skipped and "never healed" in (skipped[0].message or "")
    assert firewalls.get("allow-psc-nat-80").tcp_ports == (22,)


def test_watch_org_lock_answer_is_org_locked_and_the_loop_goes_on(
    producer: EmulatorServer, seed_spec: SouthboundSpec, make_spec: Callable[..., SouthboundSpec]
) -> None:
    southbound(seed_spec).apply()
    producer.set_faults(
        [{"api": "apigee", "method": "GET", "path": "/endpointAttachments/", "status": 400, "message": LOCKED}]
    )
    events: list[WatchEvent] = []
    watcher = _watcher([seed_spec], events)
    state = _one(watcher)
    status, reason, message = _cond(state, None, "ready")
    assert (status, reason) == ("Unknown", "OrgLocked") and "organization lock" in message
    assert _cond(state, "NatSubnet", "in_sync")[:2] == ("True", "InSync")  # the rest is still read
    assert state.error is not None and any(e.type == "error" for e in events)
    producer.set_faults([])
    recovered = _one(watcher)
    assert recovered.ok
    _validate(events)


def test_watch_heals_wait_while_the_org_lock_is_reported(producer: EmulatorServer, seed_spec: SouthboundSpec) -> None:
    southbound(seed_spec).apply()
    CloudDnsClient().records.delete("my-project", "my-private-zone", "orders.example.com.", "A")
    producer.set_faults(
        [{"api": "apigee", "method": "GET", "path": "/endpointAttachments/", "status": 400, "message": LOCKED}]
    )
    events: list[WatchEvent] = []
    watcher = _watcher([seed_spec], events, heal="safe")
    before = last_seq(producer)
    state = _one(watcher)
    assert mutations(producer, before) == []
    assert _cond(state, "DnsRecord", "in_sync")[:2] == ("False", "Missing")
    skipped = [e for e in events if e.type == "heal_skipped" and e.kind == "DnsRecord"]
    assert skipped and "organization lock" in (skipped[0].message or "")
    producer.set_faults([])
    assert _one(watcher).ok  # the lock gone, the next pass heals


def test_watch_nat_exhausted_by_other_consumers(apigee_emulator: EmulatorServer, seed_spec: SouthboundSpec) -> None:
    """Eleven other organizations' endpoint attachments take 11 of the /28's 12 addresses;
    ours takes the last: capacity says 12 of 12. When the connection shows NEEDS_ATTENTION
    (what Google shows when no address was left), ready is False with NatExhausted."""
    from apigee_psc.demo import build_producer

    build_producer()
    southbound(seed_spec).apply()
    others = [f"consumer-{i:02d}" for i in range(11)]
    sa = "projects/my-project/regions/us-west1/serviceAttachments/gkebackend"
    apigee_emulator.configure(
        orgs=others,
        resources=[
            {
                "api": "apigee",
                "collection": "endpointAttachments",
                "org": org,
                "id": "gkebackend",
                "body": {"location": "us-west1", "serviceAttachment": sa},
            }
            for org in others
        ],
    )
    events: list[WatchEvent] = []
    watcher = _watcher([seed_spec], events)
    state = _one(watcher)
    assert state.capacity is not None
    assert (state.capacity.used, state.capacity.total, state.capacity.left) == (12, 12, 0)
    assert state.ready  # ours got its address
    apigee_emulator.configure(connection_states={"my-organization/gkebackend": "NEEDS_ATTENTION"})
    state = _one(watcher)
    status, reason, message = _cond(state, None, "ready")
    assert (status, reason) == ("False", "NatExhausted")
    assert "add a NAT subnet" in message and "11 of 12" in message


def test_watch_events_iterator_once_and_a_failing_spec_never_stops_the_others(
    producer: EmulatorServer, seed_spec: SouthboundSpec, make_spec: Callable[..., SouthboundSpec]
) -> None:
    southbound(seed_spec).apply()
    broken = make_spec(organization="no-such-org")
    watcher = Watcher([broken, seed_spec], interval=1, schedule=FAST, timeout=5.0)
    events = list(watcher.events(once=True))
    passes = {e.spec: e for e in events if e.type == "pass"}
    assert set(passes) == {"variant.yaml", "seed.yaml"}
    assert watcher.states["seed.yaml"].ok
    bad = watcher.states["variant.yaml"]
    assert bad.condition("ready").status == "Unknown" and bad.condition("ready").reason == "ApiError"
    assert any(e.type == "error" and e.spec == "variant.yaml" for e in events)
    # The failing spec backs off: skipped on the next pass, read again on the one after.
    assert watcher._skip["variant.yaml"] == 0
    list(watcher.events(once=True))
    assert watcher._errors["variant.yaml"] == 2 and watcher._skip["variant.yaml"] == 1
    seq = last_seq(producer)
    list(watcher.events(once=True))
    assert not any("no-such-org" in r["path"] for r in producer.requests(since=seq))


@pytest.mark.parametrize("heal", ["none", "safe"])
def test_watch_pass_over_unchanged_specs_issues_no_writes(
    producer: EmulatorServer, seed_spec: SouthboundSpec, heal: str
) -> None:
    southbound(seed_spec).apply()
    watcher = Watcher([seed_spec], heal=heal, schedule=FAST)
    before = last_seq(producer)
    for _ in range(3):
        watcher.run_pass()
    assert mutations(producer, before) == []


def test_watch_show_draws_the_table_and_redraws_it_after_each_pass(
    producer: EmulatorServer, seed_spec: SouthboundSpec
) -> None:
    southbound(seed_spec).apply()
    drawn: list[dict[str, str]] = []

    class Handle:
        def update(self, bundle: dict[str, str], raw: bool) -> None:
            drawn.append(bundle)

    def display(bundle: dict[str, str], raw: bool, display_id: bool) -> Handle:
        assert raw and display_id
        drawn.append(bundle)
        return Handle()

    watcher = Watcher([seed_spec], schedule=FAST)
    watcher.show(once=True, display=display)
    assert len(drawn) == 2
    assert "seed.yaml" in drawn[0]["text/plain"] and "-" in drawn[0]["text/plain"]
    assert "True Accepted" in drawn[1]["text/plain"] and "1/12" in drawn[1]["text/plain"]
    assert "<pre>" in drawn[1]["text/html"]
    assert "True Accepted" in watcher._repr_html_()


def test_watch_org_lock_held_by_another_tools_operation_is_org_locked(
    producer: EmulatorServer, seed_spec: SouthboundSpec
) -> None:
    """Another tool's Apigee operation runs (here a DNS zone create that takes minutes) while
    this spec needs one (its DNS zone was deleted): the zone's in_sync says OrgLocked, names the
    operation and its target; a spec that needs no Apigee operation lists no operations."""
    from apigee_psc import ApigeeClient

    southbound(seed_spec).apply()
    apigee = ApigeeClient("my-organization")
    events: list[WatchEvent] = []
    watcher = _watcher([seed_spec], events)
    seq = last_seq(producer)
    _one(watcher)
    assert not any(r["path"].endswith("/operations") for r in producer.requests(since=seq))  # in sync: no list
    apigee.operations.wait(apigee.dns_zones.delete("my-zone"), timeout=20)
    producer.configure(op_seconds_overrides={"apigee.dnsZones": 120})
    apigee.dns_zones.create(
        "someone-else", domain="else.example.com.", target_project_id="my-project", target_network_id="default"
    )
    state = _one(watcher)
    status, reason, message = _cond(state, "DnsZone", "in_sync")
    assert (status, reason) == ("False", "OrgLocked")
    assert "organizations/my-organization/dnsZones/someone-else" in message and "holds the organization lock" in message
    assert _cond(state, None, "ready")[:2] == ("True", "Accepted")
    _validate(events)
