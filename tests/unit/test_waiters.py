"""Declared waiters and the one wait() that runs them, on a fake clock."""

from __future__ import annotations

import dataclasses
import itertools
import json
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
    OPERATION_DONE,
    WAITERS,
    Acceptor,
    Schedule,
    Waiter,
    WaitProgress,
    wait,
)

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


def test_schedule_default_poll_times_sparse_then_dense_then_backoff() -> None:
    times = DEFAULT_SCHEDULE.poll_times(200)
    assert times[:4] == [0.0, 20.0, 30.0, 40.0]
    assert times[4:18] == [40.0 + 7.5 * i for i in range(1, 15)]  # every 7.5 s from 40 s ...
    assert times[18] == 150.0  # ... never skipping the start of the back-off
    assert times[19:] == [157.5, 168.75, 185.625, 210.9375]


def test_schedule_default_beats_fixed_10s_where_operations_end() -> None:
    """Completions spread over 30-120 s: no more requests than Terraform's 10 s, and less lag."""
    default = DEFAULT_SCHEDULE.poll_times(400)
    fixed = Schedule.fixed(10).poll_times(400)

    def cost(times: list[float], zero_is_request: bool) -> tuple[float, float]:
        requests = lags = 0.0
        samples = [30 + i * 0.1 for i in range(1, 901)]
        for done_at in samples:
            detected = next(t for t in times if t >= done_at)
            requests += sum(1 for t in times if t <= detected and (t > 0 or zero_is_request))
            lags += detected - done_at
        return requests / len(samples), lags / len(samples)

    ours, terraform = cost(default, False), cost(fixed, True)
    assert ours[0] <= terraform[0]
    assert ours[1] < terraform[1] - 1.0


def test_schedule_default_intervals_capped_at_maximum() -> None:
    times = DEFAULT_SCHEDULE.poll_times(1800)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert max(gaps) == pytest.approx(30.0)
    assert gaps[-5:] == pytest.approx([30.0] * 5)


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
    assert clock.sleeps == [20.0, 10.0, 10.0]


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
    assert clock.sleeps == [20.0, 10.0, 10.0]


def test_wait_long_wait_never_sleeps_past_deadline(clock: FakeClock) -> None:
    poll, seen = scripted(op())
    with pytest.raises(errors.WaitTimeout):
        wait(OPERATION_DONE, poll, timeout=1800, clock=clock.now, sleep=clock.sleep)
    assert clock.elapsed == pytest.approx(1800)
    assert max(clock.sleeps) <= 30.0
    assert len(seen) == len(DEFAULT_SCHEDULE.poll_times(1800))
