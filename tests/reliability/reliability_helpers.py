"""Helpers of the reliability suite (a module of its own, so ``from reliability_helpers import``
names this file whatever other test directories are collected with it)."""

from __future__ import annotations

import os
import subprocess
import sys
import weakref
from collections import Counter
from typing import Any

from apigee_psc import RetryPolicy
from apigee_psc.emulator import EmulatorServer
from apigee_psc.southbound import Southbound, SouthboundSpec
from apigee_psc.testing import inventory as managed
from apigee_psc.waiters import Schedule

FAST = Schedule(windows=((0.0, 0.05),), grow_after=1.0, multiplier=1.5, maximum=0.3)
QUICK_RETRY = RetryPolicy(initial=0.01, multiplier=2.0, maximum=0.1, deadline=20.0, lock_deadline=20.0)


def southbound(spec: SouthboundSpec, **options: Any) -> Southbound:
    """A Southbound that polls fast, retries fast and gives up quickly."""
    options.setdefault("schedule", FAST)
    options.setdefault("retry", QUICK_RETRY)
    options.setdefault("timeout", 20.0)
    return Southbound(spec, **options)


BASELINE: weakref.WeakKeyDictionary[EmulatorServer, Counter[tuple[str, str]]] = weakref.WeakKeyDictionary()


def inventory(emulator: EmulatorServer) -> Counter[tuple[str, str]]:
    """:func:`apigee_psc.testing.inventory`, leaving out what the test's producer already had."""
    return managed(emulator) - BASELINE.get(emulator, Counter())


def assert_one_of_each(emulator: EmulatorServer, expected: int) -> None:
    """Exactly one of each resource, and ``expected`` of them in all (no duplicate, no leak)."""
    counts = inventory(emulator)
    assert all(n == 1 for n in counts.values()), counts
    assert len(counts) == expected, counts


def cli_env(emulator: EmulatorServer) -> dict[str, str]:
    """The environment of an ``apigee-psc`` subprocess aimed at ``emulator``."""
    return {**os.environ, "APIGEE_PSC_EMULATOR_HOST": emulator.url.split("//", 1)[1].rstrip("/")}


def run_cli(emulator: EmulatorServer, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``apigee-psc ARGS`` as a real process against ``emulator`` and wait for it."""
    command = [sys.executable, "-m", "apigee_psc", *args]
    return subprocess.run(command, env=cli_env(emulator), capture_output=True, text=True, timeout=timeout)


#: Requests that change state (``getIamPolicy`` and an operation's ``wait`` are POSTs that read).
MUTATING = ("POST", "PUT", "PATCH", "DELETE")


def mutations(emulator: EmulatorServer, since: int = 0) -> list[dict[str, Any]]:
    """The logged requests after sequence ``since`` that change state."""
    return [
        r
        for r in emulator.requests(since=since)
        if r["method"] in MUTATING and not r["path"].endswith((":getIamPolicy", "/wait"))
    ]


def last_seq(emulator: EmulatorServer) -> int:
    """The sequence number of the newest logged request (0 when none)."""
    log = emulator.requests()
    return int(log[-1]["seq"]) if log else 0
