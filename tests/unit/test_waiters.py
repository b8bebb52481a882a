"""Declared waiters and the one wait() that runs them, on a fake clock."""

from __future__ import annotations

import bisect
import dataclasses
import functools
import importlib.util
import itertools
import json
import math
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import googleapiclient
import pytest
from conftest import FakeClock

from apigee_psc import errors, waiters
from apigee_psc.models import DnsZone, EndpointAttachment, Operation, OperationError
from apigee_psc.waiters import (
    ATTACHMENT_DELETED,
    ATTACHMENT_READY,
    COMPUTE_OPERATION_DONE,
    DEFAULT_SCHEDULE,
    DNS_ZONE_ACTIVE,
    DNS_ZONE_DELETED,
    LEAN_SCHEDULE,
    LEAN_SCHEDULES,
    OPERATION_DONE,
    SCHEDULES,
    WAITERS,
    Acceptor,
    Schedule,
    Waiter,
    WaitProgress,
    operation_kind,
    wait,
)

ROOT = Path(__file__).resolve().parents[2]
DISCOVERY = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"
SA = "projects/my-project/regions/us-west1/serviceAttachments/gkebackend"


def ea(state: str = "ACTIVE", connection_state: str = "ACCEPTED") -> EndpointAttachment:
    return EndpointAttachment.from_api(
        {
            "name": "organizations/o/endpointAttachments/gkebackend",
            "location": "us-west1",
            "serviceAttachment": SA,
            "state": state,
            "connectionState": connection_state,
        }
    )


def op(done: bool = False, error: bool = False) -> Operation:
    return Operation(
        name="organizations/o/operations/1",
        done=done,
        error=OperationError(9, "boom") if error else None,
        metadata={"state": "IN_PROGRESS"},
    )


def zone(state: str) -> DnsZone:
    return DnsZone(name="z", domain="example.com.", state=state)


@dataclasses.dataclass(frozen=True)
class ComputeOp:
    status: str
    error: Any = None


def scripted(*results: Any) -> tuple[Callable[[], Any], list[float]]:
    """A poll() that returns (or raises) each result in turn; the last one repeats."""
    seen: list[float] = []
    items = list(results)

    def poll() -> Any:
        seen.append(len(seen))
        item = items[min(len(seen) - 1, len(items) - 1)]
        if isinstance(item, BaseException):
            raise item
        return item

    return poll, seen


def run(waiter: Waiter, poll: Callable[[], Any], clock: FakeClock, *, timeout: float = 600.0, **kwargs: Any) -> Any:
    return wait(
        waiter,
        poll,
        timeout=timeout,
        clock=clock.now,
        sleep=clock.sleep,
        schedule=kwargs.pop("schedule", Schedule.fixed(10)),
        **kwargs,
    )


# -- acceptors of every declared waiter ----------------------------------------------------------


NOT_FOUND = errors.NotFound("gone")


@pytest.mark.parametrize(
    ("waiter", "value", "error", "elapsed", "outcome"),
    [
        (OPERATION_DONE, op(done=True), None, 0, "success"),
        (OPERATION_DONE, op(done=True, error=True), None, 0, "failure"),
        (OPERATION_DONE, op(done=False), None, 0, None),
        (OPERATION_DONE, None, NOT_FOUND, 10, "retry"),
        (OPERATION_DONE, None, NOT_FOUND, 31, None),
        (OPERATION_DONE, None, errors.ServerError("x"), 0, None),
        (COMPUTE_OPERATION_DONE, ComputeOp("DONE"), None, 0, "success"),
        (COMPUTE_OPERATION_DONE, ComputeOp("DONE", error={"errors": []}), None, 0, "failure"),
        (COMPUTE_OPERATION_DONE, ComputeOp("RUNNING"), None, 0, None),
        (COMPUTE_OPERATION_DONE, {"status": "DONE"}, None, 0, "success"),
        (COMPUTE_OPERATION_DONE, None, NOT_FOUND, 5, "retry"),
        (ATTACHMENT_READY, ea("ACTIVE", "ACCEPTED"), None, 0, "success"),
        (ATTACHMENT_READY, ea("ACTIVE", "ACCEPTED_LIMITED_CAPACITY"), None, 0, "success"),
        (ATTACHMENT_READY, ea("CREATING", "ACCEPTED"), None, 0, None),
        (ATTACHMENT_READY, ea("ACTIVE", "PENDING"), None, 0, None),
        (ATTACHMENT_READY, ea("ACTIVE", "NEEDS_ATTENTION"), None, 0, None),
        (ATTACHMENT_READY, ea("ACTIVE", "UNAVAILABLE"), None, 0, None),
        (ATTACHMENT_READY, ea("CREATING", "CONNECTION_STATE_UNSPECIFIED"), None, 0, None),
        (ATTACHMENT_READY, ea("ACTIVE", "REJECTED"), None, 0, "failure"),
        (ATTACHMENT_READY, ea("ACTIVE", "CLOSED"), None, 0, "failure"),
        (ATTACHMENT_READY, ea("CREATING", "FROZEN"), None, 0, "failure"),
        (ATTACHMENT_READY, ea("DELETING", "ACCEPTED"), None, 0, "failure"),
        (ATTACHMENT_READY, None, NOT_FOUND, 30, "retry"),
        (ATTACHMENT_READY, None, NOT_FOUND, 30.5, None),
        (ATTACHMENT_DELETED, None, NOT_FOUND, 5000, "success"),
        (ATTACHMENT_DELETED, ea("DELETING", "CLOSED"), None, 0, None),
        (ATTACHMENT_DELETED, None, errors.PermissionDenied("no"), 0, None),
        (DNS_ZONE_ACTIVE, zone("ACTIVE"), None, 0, "success"),
        (DNS_ZONE_ACTIVE, zone("CREATING"), None, 0, None),
        (DNS_ZONE_ACTIVE, zone("DELETING"), None, 0, "failure"),
        (DNS_ZONE_ACTIVE, None, NOT_FOUND, 1, "retry"),
        (DNS_ZONE_DELETED, None, NOT_FOUND, 0, "success"),
        (DNS_ZONE_DELETED, zone("DELETING"), None, 0, None),
    ],
)
def test_waiter_evaluate_acceptors_decide(
    waiter: Waiter, value: Any, error: BaseException | None, elapsed: float, outcome: str | None
) -> None:
    assert waiter.evaluate(value, error, elapsed) == outcome


def test_waiter_describe_joins_state_fields() -> None:
    assert ATTACHMENT_READY.describe(ea("ACTIVE", "PENDING")) == "ACTIVE/PENDING"
    assert ATTACHMENT_READY.describe(None, NOT_FOUND) == "NotFound"
    assert OPERATION_DONE.describe(op(done=True)) == "DONE"
    assert OPERATION_DONE.describe(object()) == "unknown"


def test_acceptor_without_condition_refused() -> None:
    with pytest.raises(ValueError, match="when"):
        Acceptor("success")
    with pytest.raises(ValueError, match="not both"):
        Acceptor("success", when={"state": ("ACTIVE",)}, error=errors.NotFound)


# -- every declared waiter is well formed (botocore's functional test) ------------------------------


def _discovery_schema(doc: str, schema: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DISCOVERY / doc).read_text())
    result: dict[str, Any] = data["schemas"][schema]["properties"]
    return result


_APIGEE_EA = ("apigee.v1.json", "GoogleCloudApigeeV1EndpointAttachment")
_APIGEE_ZONE = ("apigee.v1.json", "GoogleCloudApigeeV1DnsZone")
_COMPUTE_OP = ("compute.v1.json", "Operation")

# waiter name -> (model class whose attributes it reads, or None for a plain mapping; discovery schema)
WAITER_MODELS: dict[str, tuple[type | None, tuple[str, str] | None]] = {
    "OPERATION_DONE": (Operation, None),
    "COMPUTE_OPERATION_DONE": (None, _COMPUTE_OP),
    "ATTACHMENT_READY": (EndpointAttachment, _APIGEE_EA),
    "ATTACHMENT_DELETED": (EndpointAttachment, _APIGEE_EA),
    "DNS_ZONE_ACTIVE": (DnsZone, _APIGEE_ZONE),
    "DNS_ZONE_DELETED": (DnsZone, _APIGEE_ZONE),
}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _has_attribute(model: type, name: str) -> bool:
    names = {f.name for f in dataclasses.fields(model)} if dataclasses.is_dataclass(model) else set()
    return name in names or isinstance(getattr(model, name, None), property)


def test_waiters_registry_covers_every_declared_waiter() -> None:
    declared = {name: value for name, value in vars(waiters).items() if isinstance(value, Waiter)}
    assert set(WAITERS) == set(declared) == set(WAITER_MODELS)
    assert all(WAITERS[name] is waiter for name, waiter in declared.items())
    assert sorted(name for name in waiters.__all__ if name.isupper() and name in declared) == sorted(declared)


@pytest.mark.parametrize("name", sorted(WAITERS))
def test_waiter_definition_well_formed(name: str) -> None:
    waiter = WAITERS[name]
    model, schema = WAITER_MODELS[name]
    assert waiter.name == name
    assert waiter.awaits and waiter.acceptors
    assert any(a.outcome == "success" for a in waiter.acceptors), "a waiter needs a success acceptor"
    properties = _discovery_schema(*schema) if schema else None
    for acceptor in waiter.acceptors:
        assert acceptor.outcome in ("success", "failure", "retry")
        assert (acceptor.error is None) != (not acceptor.when)
        if acceptor.error is not None:
            assert issubclass(acceptor.error, errors.ApigeePscError)
        if acceptor.within is not None:
            assert 0 < acceptor.within <= 300
        for attribute, allowed in acceptor.when.items():
            assert isinstance(allowed, tuple) and allowed
            if model is not None:
                assert _has_attribute(model, attribute), f"{name}: {model.__name__} has no {attribute}"
            if properties is not None:
                prop = properties.get(_camel(attribute))
                assert prop is not None, f"{name}: the API has no {_camel(attribute)}"
                if "enum" in prop:
                    assert set(map(str, allowed)) <= set(prop["enum"]), f"{name}: {allowed} not in {prop['enum']}"
    for state_field in waiter.state_fields:
        if model is not None:
            assert _has_attribute(model, state_field), f"{name}: {model.__name__} has no {state_field}"
        if properties is not None:
            assert _camel(state_field) in properties
    # A success acceptor must not be shadowed by an earlier failure acceptor on the same value.
    first_success = next(i for i, a in enumerate(waiter.acceptors) if a.outcome == "success")
    assert all(a.outcome != "retry" or a.error is not None for a in waiter.acceptors[:first_success])


# -- schedules ----------------------------------------------------------------------------------------------


def test_schedule_default_poll_times_quick_then_hazard_shaped() -> None:
    times = DEFAULT_SCHEDULE.poll_times(1800)
    assert times[:7] == [0.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0]  # quick operations are not held
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert max(gaps) <= 15.0 + 1e-9  # no completion up to 30 minutes is seen more than 15 s late
    body = [gap for t, gap in zip(times, gaps, strict=False) if 30 <= t <= 400]
    # Sparse right after the quick window, densest where creates usually end (the hazard
    # rises), then growing again as the hazard of a lognormal falls.
    assert body[0] > 12.0
    densest = min(range(len(body)), key=body.__getitem__)
    assert 0 < densest < len(body) - 1
    assert all(b <= a + 1e-9 for a, b in itertools.pairwise(body[: densest + 1]))
    assert body[densest] < 7.0


def test_schedule_default_backs_off_after_30_minutes() -> None:
    times = DEFAULT_SCHEDULE.poll_times(7200)
    late = [b - a for a, b in itertools.pairwise(times) if a >= 1800]
    assert 15.0 <= late[0] <= 22.5 and late[1] == pytest.approx(late[0] * 1.5) and max(late) == pytest.approx(60.0)
    assert 1800.0 in times  # the back-off starts exactly at 30 minutes
    assert all(b >= a - 1e-6 for a, b in itertools.pairwise(late))


def _lognormal_sample(count: int = 2000) -> list[float]:
    rng = random.Random(7)
    sigma = math.log(190 / 42) / (2 * 1.6448536)
    return [rng.lognormvariate(math.log(91), sigma) for _ in range(count)]


def _cost(times: list[float], samples: list[float]) -> tuple[float, float, float]:
    """(mean requests after t=0, mean lag, max lag) of a poll-time list on completion times."""
    requests = lags = worst = 0.0
    for done_at in samples:
        index = bisect.bisect_left(times, done_at)
        requests += index
        lag = times[index] - done_at
        lags += lag
        worst = max(worst, lag)
    return requests / len(samples), lags / len(samples), worst


def test_schedule_default_on_the_issue_distribution_meets_lag_targets() -> None:
    samples = _lognormal_sample()
    requests, mean_lag, max_lag = _cost(DEFAULT_SCHEDULE.poll_times(4000), samples)
    assert mean_lag <= 3.4 and max_lag <= 15.0
    # the price of polling every 5 s in the first 30 s: about 4 requests more than LEAN
    assert 15.0 <= requests <= 16.5


def test_schedule_lean_beats_fixed_10s_on_requests_and_lag() -> None:
    samples = _lognormal_sample()
    lean = _cost(LEAN_SCHEDULE.poll_times(4000), samples)
    terraform = _cost(Schedule.fixed(10).poll_times(4000), samples)
    assert lean[0] <= 10.5 and lean[0] <= terraform[0]
    assert lean[1] < terraform[1] - 0.8
    assert lean[2] <= 15.0


# -- the default inside wait(): a declared schedule per kind -----------------------------------------------------


def apigee_op(org: str, collection: str, kind: str, *, done: bool, percent: float | None = None) -> Operation:
    metadata: dict[str, Any] = {
        "operationType": kind,
        "targetResourceName": f"organizations/{org}/{collection}/x",
        "state": "FINISHED" if done else "IN_PROGRESS",
    }
    if percent is not None:
        metadata["progress"] = {"percentDone": percent}
    return Operation(name=f"organizations/{org}/operations/1", done=done, metadata=metadata)


def timed_wait(
    clock: FakeClock,
    done_after: float,
    *,
    org: str = "o",
    collection: str = "endpointAttachments",
    kind: str = "INSERT",
    schedule: Schedule = DEFAULT_SCHEDULE,
    progress: bool = False,
) -> tuple[int, float]:
    """Wait on an operation that ends ``done_after`` s after it starts; (requests, lag)."""
    started = clock.now()
    requests = 0

    def state() -> Operation:
        elapsed = clock.now() - started
        percent = min(100.0, 100.0 * elapsed / done_after) if progress else None
        return apigee_op(org, collection, kind, done=elapsed >= done_after, percent=percent)

    def poll() -> Operation:
        nonlocal requests
        requests += 1
        return state()

    wait(OPERATION_DONE, poll, timeout=1800, first=state(), schedule=schedule, clock=clock.now, sleep=clock.sleep)
    return requests, clock.now() - started - done_after


def test_operation_kind_read_from_metadata() -> None:
    assert operation_kind(apigee_op("o", "endpointAttachments", "INSERT", done=False)) == (
        "o",
        "endpointAttachments.INSERT",
    )
    assert operation_kind(apigee_op("p", "dnsZones", "DELETE", done=False)) == ("p", "dnsZones.DELETE")
    assert operation_kind({"metadata": {"operationType": "INSERT", "targetResourceName": "x"}}) is None
    assert operation_kind(op()) is None
    assert operation_kind(ComputeOp("RUNNING")) is None


def test_wait_kind_schedule_chosen_from_operation() -> None:
    """A DNS zone create and an endpoint attachment create are polled differently after 30 s."""
    first, second = FakeClock(), FakeClock()
    timed_wait(first, 300.0, collection="endpointAttachments")
    timed_wait(second, 300.0, collection="dnsZones")
    assert first.sleeps[:6] == second.sleeps[:6] == [5.0] * 6
    assert first.sleeps[6:12] != second.sleeps[6:12]
    zone = SCHEDULES["dnsZones.INSERT"].poll_times(300)
    assert second.sleeps[:12] == pytest.approx([b - a for a, b in itertools.pairwise(zone)][:12])


def test_wait_fixed_schedule_not_changed_by_kind(clock: FakeClock) -> None:
    timed_wait(clock, 40.0, collection="dnsZones")
    before = len(clock.sleeps)
    timed_wait(clock, 40.0, collection="dnsZones", schedule=Schedule.fixed(10))
    assert clock.sleeps[before:] == [10.0] * 4


def test_schedule_fixed_poll_times_every_interval() -> None:
    assert Schedule.fixed(10).poll_times(60) == [0, 10, 20, 30, 40, 50, 60]


def test_schedule_exponential_poll_times_grow_to_maximum() -> None:
    times = Schedule.exponential(1.0, 1.5, 20.0).poll_times(100)
    assert times[:6] == pytest.approx([0.0, 1.0, 2.5, 4.75, 8.125, 13.1875])
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps[-1] == pytest.approx(20.0)
    assert all(b >= a for a, b in itertools.pairwise(gaps))


def test_schedule_next_poll_never_skips_window_start() -> None:
    schedule = Schedule(windows=((0.0, 7.0), (10.0, 1.0)), grow_after=100.0)
    assert schedule.next_poll(7.0) == pytest.approx(3.0)
    assert schedule.next_poll(3.5) == pytest.approx(6.5)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"windows": ((5.0, 1.0),), "grow_after": 10.0},
        {"windows": (), "grow_after": 10.0},
        {"windows": ((0.0, 1.0), (20.0, 1.0), (10.0, 1.0)), "grow_after": 10.0},
        {"windows": ((0.0, 0.0),), "grow_after": 10.0},
        {"windows": ((0.0, 1.0),), "grow_after": 10.0, "multiplier": 0.5},
    ],
)
def test_schedule_invalid_windows_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Schedule(**kwargs)


# -- wait() ------------------------------------------------------------------------------------------------


def test_wait_first_value_judged_without_request(clock: FakeClock) -> None:
    def poll() -> Operation:
        raise AssertionError("no request expected")

    done = op(done=True)
    assert run(OPERATION_DONE, poll, clock, first=done) is done
    assert clock.sleeps == []


def test_wait_first_not_done_then_polls_on_schedule(clock: FakeClock) -> None:
    poll, seen = scripted(op(), op(), op(done=True))
    result = run(OPERATION_DONE, poll, clock, first=op(), schedule=DEFAULT_SCHEDULE)
    assert result is not None and result.done
    assert len(seen) == 3  # t=0 was the value in hand
    assert clock.sleeps == [5.0, 5.0, 5.0]


def test_wait_success_returns_last_value_and_counts_polls(clock: FakeClock) -> None:
    poll, seen = scripted(ea("CREATING", "UNAVAILABLE"), ea("ACTIVE", "PENDING"), ea("ACTIVE", "ACCEPTED"))
    result = run(ATTACHMENT_READY, poll, clock)
    assert isinstance(result, EndpointAttachment) and result.ready
    assert len(seen) == 3
    assert clock.elapsed == 20


def test_wait_not_found_tolerated_within_30s(clock: FakeClock) -> None:
    poll, _seen = scripted(NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND, op(done=True))
    assert run(OPERATION_DONE, poll, clock).done
    assert clock.elapsed == 40


def test_wait_not_found_after_30s_raised(clock: FakeClock) -> None:
    poll, seen = scripted(NOT_FOUND)
    with pytest.raises(errors.NotFound):
        run(OPERATION_DONE, poll, clock)
    assert clock.elapsed == 40  # polls at 0, 10, 20, 30 tolerated; 40 raised
    assert len(seen) == 5


def test_wait_not_found_success_returns_none(clock: FakeClock) -> None:
    poll, seen = scripted(ea("DELETING", "CLOSED"), NOT_FOUND)
    assert run(ATTACHMENT_DELETED, poll, clock) is None
    assert len(seen) == 2


def test_wait_unmatched_error_raised_at_once(clock: FakeClock) -> None:
    poll, seen = scripted(errors.PermissionDenied("no"))
    with pytest.raises(errors.PermissionDenied):
        run(ATTACHMENT_DELETED, poll, clock)
    assert len(seen) == 1 and clock.sleeps == []


def test_wait_foreign_exception_propagates(clock: FakeClock) -> None:
    poll, _seen = scripted(KeyError("bug"))
    with pytest.raises(KeyError):
        run(OPERATION_DONE, poll, clock)


def test_wait_failure_uses_on_failure(clock: FakeClock) -> None:
    poll, _ = scripted(op(), op(done=True, error=True))

    def failed(value: Operation | None, error: BaseException | None) -> BaseException:
        assert value is not None and value.error is not None
        return errors.OperationFailed(value.error.message, operation=value.name, code=value.error.code)

    with pytest.raises(errors.OperationFailed) as info:
        run(OPERATION_DONE, poll, clock, on_failure=failed)
    assert info.value.code == 9


def test_wait_failure_without_handler_raises_api_error(clock: FakeClock) -> None:
    poll, _ = scripted(zone("DELETING"))
    with pytest.raises(errors.ApiError, match="DELETING"):
        run(DNS_ZONE_ACTIVE, poll, clock, subject="organizations/o/dnsZones/z")


def test_wait_timeout_carries_awaited_last_state_elapsed_operation(clock: FakeClock) -> None:
    poll, seen = scripted(op())
    with pytest.raises(errors.WaitTimeout) as info:
        run(
            OPERATION_DONE,
            poll,
            clock,
            timeout=25,
            operation="organizations/o/operations/1",
            subject="create gkebackend",
        )
    err = info.value
    assert err.awaited == "operation to finish (create gkebackend)"
    assert err.last_state == "IN_PROGRESS"
    assert err.elapsed == 25
    assert err.operation == "organizations/o/operations/1"
    assert len(seen) == 4  # 0, 10, 20 and a last look at the deadline (25)
    assert clock.sleeps == [10, 10, 5]


def test_wait_timeout_on_timeout_hook_replaces_error(clock: FakeClock) -> None:
    poll, _ = scripted(ea("ACTIVE", "PENDING"))
    sentinel = errors.ConnectionNotAccepted(waiters_diagnosis())
    with pytest.raises(errors.ConnectionNotAccepted) as info:
        run(ATTACHMENT_READY, poll, clock, timeout=15, on_timeout=lambda value, elapsed: sentinel)
    assert info.value is sentinel


def waiters_diagnosis() -> Any:
    from apigee_psc.diagnosis import diagnose

    return diagnose("PENDING", apigee_project_id="t", service_attachment=SA)


def test_wait_timeout_hook_returning_none_falls_back(clock: FakeClock) -> None:
    poll, _ = scripted(ea("CREATING", "UNAVAILABLE"))
    with pytest.raises(errors.WaitTimeout) as info:
        run(ATTACHMENT_READY, poll, clock, timeout=15, on_timeout=lambda value, elapsed: None)
    assert info.value.last_state == "CREATING/UNAVAILABLE"


def test_wait_zero_timeout_single_look(clock: FakeClock) -> None:
    poll, seen = scripted(op())
    with pytest.raises(errors.WaitTimeout):
        run(OPERATION_DONE, poll, clock, timeout=0)
    assert len(seen) == 1 and clock.sleeps == []


def test_wait_progress_called_with_states(clock: FakeClock) -> None:
    reports: list[WaitProgress] = []
    poll, _ = scripted(ea("CREATING", "UNAVAILABLE"), ea("ACTIVE", "PENDING"), ea("ACTIVE", "ACCEPTED"))
    run(ATTACHMENT_READY, poll, clock, progress=reports.append, subject="gkebackend")
    assert [r.state for r in reports] == ["CREATING/UNAVAILABLE", "ACTIVE/PENDING", "ACTIVE/ACCEPTED"]
    assert [r.polls for r in reports] == [1, 2, 3]
    assert [r.elapsed for r in reports] == [0, 10, 20]
    assert [r.done for r in reports] == [False, False, True]
    assert {r.waiter for r in reports} == {"ATTACHMENT_READY"} and {r.subject for r in reports} == {"gkebackend"}


def test_wait_default_schedule_used_when_none_given(clock: FakeClock) -> None:
    poll, _seen = scripted(op(), op(), op(), op(done=True))
    wait(OPERATION_DONE, poll, timeout=600, clock=clock.now, sleep=clock.sleep)
    assert clock.sleeps == [5.0, 5.0, 5.0]


def test_wait_long_wait_never_sleeps_past_deadline(clock: FakeClock) -> None:
    poll, seen = scripted(op())
    with pytest.raises(errors.WaitTimeout):
        wait(OPERATION_DONE, poll, timeout=1800, clock=clock.now, sleep=clock.sleep)
    assert clock.elapsed == pytest.approx(1800)
    assert max(clock.sleeps) <= 15.0
    assert len(seen) == len(DEFAULT_SCHEDULE.poll_times(1800))


def test_wait_on_a_resource_follows_the_kind_of_its_change(clock: FakeClock) -> None:
    """wait_until_ready-style waits carry no operation: the waiter names the kind they follow."""
    poll, _seen = scripted(ea("CREATING", "UNAVAILABLE"), ea("CREATING", "UNAVAILABLE"), ea("ACTIVE", "ACCEPTED"))
    wait(
        ATTACHMENT_READY,
        poll,
        timeout=600,
        subject="organizations/org-1/endpointAttachments/gkebackend",
        clock=clock.now,
        sleep=clock.sleep,
    )
    assert clock.sleeps == [5.0, 5.0]  # the quick window of an attachment create's schedule
    gone, _ = scripted(*[ea("DELETING", "CLOSED")] * 12, NOT_FOUND)
    before = len(clock.sleeps)
    wait(ATTACHMENT_DELETED, gone, timeout=600, clock=clock.now, sleep=clock.sleep)
    deleted = SCHEDULES["endpointAttachments.DELETE"].poll_times(200)
    assert clock.sleeps[before:] == pytest.approx([b - a for a, b in itertools.pairwise(deleted)][:12])


def test_schedule_for_kind_named_or_itself() -> None:
    fixed = Schedule.fixed(10)
    assert fixed.for_kind("dnsZones.INSERT") is fixed and fixed.for_kind(None) is fixed
    for kind, schedule in SCHEDULES.items():
        assert DEFAULT_SCHEDULE.for_kind(kind) is schedule
        assert LEAN_SCHEDULE.for_kind(kind) is LEAN_SCHEDULES[kind]
    assert DEFAULT_SCHEDULE.for_kind("unknown.PATCH") is DEFAULT_SCHEDULE
    assert DEFAULT_SCHEDULE.poll_times(600) == SCHEDULES["endpointAttachments.INSERT"].poll_times(600)
    with pytest.raises(ValueError, match="not one of the kinds"):
        Schedule.by_kind(SCHEDULES, "dnsZones.PATCH")


@pytest.mark.parametrize(("declared", "quick"), [(SCHEDULES, True), (LEAN_SCHEDULES, False)])
def test_declared_schedules_keep_their_guarantees(declared: dict[str, Schedule], quick: bool) -> None:
    assert set(declared) == {
        "endpointAttachments.INSERT",
        "endpointAttachments.DELETE",
        "dnsZones.INSERT",
        "dnsZones.DELETE",
    }
    for kind, schedule in declared.items():
        times = schedule.poll_times(7200)
        gaps = [(a, b - a) for a, b in itertools.pairwise(times)]
        assert max(gap for t, gap in gaps if t < 1800) <= 15.0, kind
        if quick:
            assert max(gap for t, gap in gaps if t < 30) <= 5.0, kind
        assert 1800.0 in times and max(gap for _, gap in gaps) == pytest.approx(60.0), kind


def _benchmark() -> Any:
    spec = importlib.util.spec_from_file_location("polling_benchmark", ROOT / "benchmarks" / "polling.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("declared", "quick"), [(SCHEDULES, 5.0), (LEAN_SCHEDULES, None)])
def test_declared_schedules_within_5_percent_of_the_frontier(
    declared: dict[str, Schedule], quick: float | None
) -> None:
    """Each kind's declared schedule, against the least expected lag any schedule with the same
    guarantees reaches at its expected requests (the benchmark's dynamic program, on a 1 s grid)."""
    bench = _benchmark()
    for kind in bench.KINDS:
        requests, lag = bench.expected(declared[kind.name].poll_times(bench.UNTIL), (kind,))
        evaluate = functools.partial(bench.expected, kinds=(kind,))
        curve = bench.frontier(evaluate, bench.grid_of((kind,), 1.0), quick, [1.25**k for k in range(10)])
        bound = bench.lag_at(curve, requests)
        assert bound is not None and lag <= 1.05 * bound, (kind.name, requests, lag, bound)
