"""The watch's pure parts: NAT arithmetic, the safe-heal rules, intervals, events and metrics."""

from __future__ import annotations

import json

import pytest

from apigee_psc import errors
from apigee_psc.compute.models import ConnectedEndpoint
from apigee_psc.southbound.capacity import nat_capacity, subnet_capacity, subnet_warning
from apigee_psc.southbound.conditions import Condition, SpecState, WatchEvent
from apigee_psc.southbound.heal import heal_refusal
from apigee_psc.southbound.metrics import WatchMetrics, api_of
from apigee_psc.southbound.plan import Action, Change, FieldDiff
from apigee_psc.southbound.watch import parse_interval

TENANT = "apigee-tenant-123"


@pytest.mark.parametrize(("cidr", "room"), [("10.0.0.0/28", 12), ("10.0.0.0/29", 4), ("10.0.0.0/24", 252)])
def test_subnet_capacity_is_the_range_less_googles_four(cidr: str, room: int) -> None:
    assert subnet_capacity(cidr) == room


def test_subnet_capacity_refuses_ipv6() -> None:
    with pytest.raises(ValueError, match="IPv4"):
        subnet_capacity("fd00::/64")


def test_nat_capacity_counts_accepted_endpoints_propagation_and_listed_ips() -> None:
    endpoints = [
        {"endpoint": "a", "status": "ACCEPTED"},
        {"endpoint": "b", "status": "ACCEPTED", "propagatedConnectionCount": 2},
        {"endpoint": "c", "status": "ACCEPTED", "natIps": ["10.0.0.9", "10.0.0.10"]},
        {"endpoint": "d", "status": "PENDING"},
        ConnectedEndpoint("e", "REJECTED"),
        ConnectedEndpoint("f", "ACCEPTED"),
    ]
    capacity = nat_capacity(["10.0.0.0/28", "10.0.1.0/29"], endpoints)
    assert (capacity.total, capacity.used, capacity.left) == (16, 1 + 3 + 2 + 1, 9)
    assert capacity.endpoints == {"ACCEPTED": 4, "PENDING": 1, "REJECTED": 1}
    assert not capacity.exhausted and capacity.to_dict()["nat_ips_left"] == 9


def test_nat_capacity_exhausted_when_full_or_a_connection_needs_attention() -> None:
    full = nat_capacity(["10.0.0.0/29"], [{"status": "ACCEPTED"}] * 4)
    assert full.left == 0 and full.exhausted and full.nearly_exhausted
    waiting = nat_capacity(["10.0.0.0/28"], [{"status": "NEEDS_ATTENTION"}])
    assert waiting.left == 12 and waiting.exhausted
    per_two = nat_capacity(["10.0.0.0/28"], [{"status": "ACCEPTED"}] * 3, nat_ips_per_endpoint=2)
    assert per_two.used == 6


def test_subnet_warning_when_the_limits_outgrow_the_range() -> None:
    text = subnet_warning("psc", "10.0.0.0/28", consumers=1, connection_limit=10, propagated_connection_limit=0)
    assert text is None
    assert subnet_warning("psc", "10.0.0.0/28", consumers=2, connection_limit=5, propagated_connection_limit=1) is None
    text = subnet_warning("psc", "10.0.0.0/28", consumers=2, connection_limit=6, propagated_connection_limit=1)
    assert text is not None and "gives 12 addresses, but the spec allows up to 14" in text
    default = subnet_warning("psc", "10.0.0.0/24", consumers=1, connection_limit=10, propagated_connection_limit=None)
    assert default is not None and "250" in default  # Google's default propagation limit
    assert subnet_warning("psc", "10.0.0.0/28", consumers=0, connection_limit=10, propagated_connection_limit=0) is None


def _change(kind: str, action: Action, *fields: FieldDiff) -> Change:
    return Change(action, kind, "x", f"id/{kind}", tuple(fields))


@pytest.mark.parametrize(
    ("change", "owned", "safe"),
    [
        (_change("DnsRecord", Action.CREATE), None, True),
        (_change("Firewall", Action.CREATE), None, True),
        (_change("Firewall", Action.REPLACE), True, True),
        (_change("Firewall", Action.REPLACE), False, False),  # foreign
        (_change("Firewall", Action.REPLACE), None, False),  # unmarked
        (_change("ServiceAttachment", Action.UPDATE, FieldDiff("accept", None, TENANT, "add")), True, True),
        (_change("ServiceAttachment", Action.UPDATE, FieldDiff("accept", None, "someone", "add")), True, False),
        (_change("ServiceAttachment", Action.UPDATE, FieldDiff("reject", TENANT, None, "remove")), True, False),
        (_change("ServiceAttachment", Action.UPDATE, FieldDiff("connection_preference", "M", "A")), True, False),
        (_change("ServiceAttachment", Action.CREATE), None, False),
        (_change("EndpointAttachment", Action.CREATE), None, False),
        (_change("DnsRecord", Action.UPDATE, FieldDiff("A", ("1.2.3.4",), "7.0.3.4")), True, False),
        (_change("Firewall", Action.DELETE), True, False),
        (_change("NatSubnet", Action.NOOP), True, False),
    ],
)
def test_heal_refusal_allows_only_changes_that_widen_nothing(change: Change, owned: bool | None, safe: bool) -> None:
    assert (heal_refusal(change, owned, TENANT) is None) is safe


@pytest.mark.parametrize(("text", "seconds"), [("300", 300), ("30s", 30), ("5m", 300), ("1h30m", 5400), (2.5, 2.5)])
def test_parse_interval(text: str | float, seconds: float) -> None:
    assert parse_interval(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "5x", "0", "-1", "m", "1.", "nan"])
def test_parse_interval_refuses_bad_input(text: str) -> None:
    with pytest.raises(errors.ValidationError):
        parse_interval(text)


def test_event_json_redacts_tokens_and_drops_nones() -> None:
    event = WatchEvent("error", "s.yaml", 0.0, message="GET failed with Bearer ya29.secret-token")
    data = json.loads(event.to_json())
    assert data == {"type": "error", "time": "1970-01-01T00:00:00.000Z", "spec": "s.yaml", "message": data["message"]}
    assert "ya29.secret" not in event.to_json() and "ya29.secret" not in event.to_text()


@pytest.mark.parametrize(
    ("what", "api"),
    [
        ("GET https://apigee.googleapis.com/v1/organizations/o", "apigee"),
        ("GET https://compute.googleapis.com/compute/v1/projects/p", "compute"),
        ("GET http://127.0.0.1:8089/compute/v1/projects/p", "compute"),
        ("GET http://127.0.0.1:8089/dns/v1/projects/p/managedZones", "dns"),
        ("POST http://127.0.0.1:8089/v3/projects/p:getIamPolicy", "cloudresourcemanager"),
        ("GET http://127.0.0.1:8089/v1/organizations/o", "apigee"),
    ],
)
def test_api_of_request_lines(what: str, api: str) -> None:
    assert api_of(what) == api


def test_metrics_drop_a_condition_reason_that_no_longer_holds() -> None:
    metrics = WatchMetrics()

    def state(reason: str, ok: bool) -> SpecState:
        status = "True" if ok else "False"
        conditions = (Condition("ready", status, reason), Condition("in_sync", "True", "InSync"))
        return SpecState("s.yaml", "org", (*conditions, Condition("owned", "True", "Owned")))

    metrics.observe(state("PendingAcceptList", False), consecutive_errors=0, now=100.0)
    metrics.observe(state("Accepted", True), consecutive_errors=0, now=200.0)
    samples = {(n, tuple(sorted(ls.items()))): v for n, ls, v in metrics.samples()}
    reasons = {dict(ls)["reason"] for (n, ls) in samples if n == "apigee_psc_condition"}
    assert reasons == {"Accepted", "InSync", "Owned"}
    assert samples[("apigee_psc_ready", (("organization", "org"), ("spec", "s.yaml")))] == 1
    assert samples[("apigee_psc_last_success_timestamp_seconds", (("spec", "s.yaml"),))] == 200.0


def test_pace_keeps_apigee_requests_within_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    from apigee_psc.demo import SEED_SPEC
    from apigee_psc.southbound import watch as watch_module
    from apigee_psc.southbound.spec import SouthboundSpec

    now = [1000.0]
    monkeypatch.setattr(watch_module.time, "monotonic", lambda: now[0])
    watcher = watch_module.Watcher([SouthboundSpec.from_dict(SEED_SPEC)], apigee_budget=9)
    assert watcher.pace() == 0.0
    for offset in (0.0, 10.0, 20.0):  # three specs of 3 Apigee requests each
        watcher._apigee_log.append((now[0] + offset, 3))
    now[0] += 30.0
    assert watcher.pace() == pytest.approx(30.0)  # the first spec's requests leave the minute at +60 s
    now[0] += 30.0
    assert watcher.pace() == 0.0
    with pytest.raises(errors.ValidationError):
        watch_module.Watcher([SouthboundSpec.from_dict(SEED_SPEC)], apigee_budget=0)
