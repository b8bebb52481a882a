"""Helpers shared by the integration tests (imported by name: conftest modules are not)."""

from __future__ import annotations

from typing import Any

from apigee_psc.emulator import EmulatorServer
from apigee_psc.southbound import Southbound, SouthboundSpec
from apigee_psc.waiters import Schedule

#: Poll the emulator's short operations quickly.
FAST = Schedule(windows=((0.0, 0.05),), grow_after=1.0, multiplier=1.5, maximum=0.5)

MUTATING = {"POST", "PATCH", "PUT", "DELETE"}


def mutations(server: EmulatorServer, since: int = 0) -> list[dict[str, Any]]:
    """Requests after sequence ``since`` that change state (``getIamPolicy`` and an operation's
    ``wait`` are POSTs that only read)."""
    return [
        r
        for r in server.requests(since=since)
        if r["method"] in MUTATING and not r["path"].endswith((":getIamPolicy", "/wait"))
    ]


def last_seq(server: EmulatorServer) -> int:
    """The sequence number of the newest logged request (0 when none)."""
    log = server.requests()
    return int(log[-1]["seq"]) if log else 0


def southbound(spec: SouthboundSpec, **options: Any) -> Southbound:
    """A Southbound that polls fast and gives up quickly."""
    options.setdefault("schedule", FAST)
    options.setdefault("timeout", 20.0)
    return Southbound(spec, **options)
