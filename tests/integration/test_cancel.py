"""A ``cancel`` event stops apply and destroy at their next safe point, promptly."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from integration_helpers import southbound

from apigee_psc import errors
from apigee_psc.emulator import EmulatorServer
from apigee_psc.southbound import ProgressEvent, Southbound, SouthboundSpec, apply_fleet
from apigee_psc.testing import inventory


def _cancel_at_first_wait(cancel: threading.Event, when: list[float]) -> Callable[[ProgressEvent], None]:
    def progress(event: ProgressEvent) -> None:
        if event.status == "waiting" and not cancel.is_set():
            when.append(time.monotonic())
            threading.Timer(0.3, cancel.set).start()  # from another thread, as a notebook or a server would

    return progress


def test_cancel_stops_apply_inside_a_wait_and_a_rerun_converges(
    producer: EmulatorServer, seed_spec: SouthboundSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    producer.configure(op_seconds=8.0)
    cancel, when = threading.Event(), []
    with pytest.raises(errors.Cancelled) as caught:
        Southbound(seed_spec, timeout=60.0).apply(progress=_cancel_at_first_wait(cancel, when), cancel=cancel)
    stopped = time.monotonic()
    assert caught.value.phase == "apply" and "running apply again resumes" in str(caught.value)
    assert stopped - when[0] < 3.0  # 0.3 s to the cancel, then the wait wakes at once (operations take 8 s)
    # The rerun resumes what is in flight: let the emulator's clock pass the 8 s at once, and
    # new operations take none (the test is about resuming, not about waiting 16 s for it).
    producer.configure(op_seconds=0.0)
    monkeypatch.setattr(producer.world, "clock", lambda: time.time() + 10.0)
    result = southbound(seed_spec, timeout=60.0).apply()
    assert result.ok, result
    counts = inventory(producer)
    assert counts and max(counts.values()) == 1  # one of each: nothing was created twice
    assert len(counts) == 8  # every resource apply creates, the IAM grant aside


def test_an_event_set_before_the_call_writes_nothing(producer: EmulatorServer, seed_spec: SouthboundSpec) -> None:
    cancel = threading.Event()
    cancel.set()
    before = len(producer.requests())
    with pytest.raises(errors.Cancelled):
        Southbound(seed_spec).apply(cancel=cancel)
    with pytest.raises(errors.Cancelled) as caught:
        Southbound(seed_spec).destroy(cancel=cancel)
    assert caught.value.phase == "destroy"
    assert len(producer.requests()) == before


def test_cancel_stops_every_spec_of_a_fleet(producer: EmulatorServer, seed_spec: SouthboundSpec) -> None:
    producer.configure(op_seconds=8.0)
    cancel, when = threading.Event(), []
    started = time.monotonic()
    results = apply_fleet([seed_spec], progress=_cancel_at_first_wait(cancel, when), cancel=cancel, timeout=60.0)
    assert time.monotonic() - started < 6.0
    assert [type(r.error) for r in results] == [errors.Cancelled]
