"""Progress events are typed: kind and name for programs, a sentence for people."""

from __future__ import annotations

import json

from integration_helpers import southbound

from apigee_psc.emulator import EmulatorServer
from apigee_psc.southbound import ProgressEvent, SouthboundSpec


def test_apply_events_name_each_resources_kind_and_name(producer: EmulatorServer, seed_spec: SouthboundSpec) -> None:
    events: list[ProgressEvent] = []
    plan = southbound(seed_spec).plan()
    southbound(seed_spec).apply(progress=events.append)
    planned = {(c.kind, c.name) for c in plan.changes}
    started = {(e.kind, e.name) for e in events if e.status == "started"}
    assert started == planned  # every change of the seed is a create: each starts once
    for event in events[:-1]:
        assert event.kind is not None and event.step == f"{event.kind} {event.name}"
    last = events[-1]
    assert (last.kind, last.name, last.status, last.detail) == (None, None, "done", "in_sync")
    lines = [json.dumps(e.to_dict()) for e in events]  # JSON lines, as a log shipper would take them
    first = json.loads(lines[0])
    assert first["phase"] == "apply" and first["spec"] == "seed.yaml" and first["kind"] in {k for k, _ in planned}
