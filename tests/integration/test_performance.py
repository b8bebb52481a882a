"""The benchmarks run (CI smoke: their tables are printed, their figures are not judged), and the
adaptive default schedule learns operation durations from real HTTP against the emulator."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from apigee_psc import ApigeeClient
from apigee_psc.emulator import EmulatorServer
from apigee_psc.waiters import AdaptiveSchedule, DurationPrior, history_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("polling.py", ["| schedule | requests/wait | mean lag s", "Terraform / apigeecli: fixed 10 s", "## Frontier"]),
        ("fleet.py", ["| specs | Apigee operations | sum of their durations s | wall s | wall / sum |", "| 2 | 4 |"]),
        ("plan_scale.py", ["with 200 other endpoint attachments", "| requests | of which endpoint attachment list"]),
        ("apply_requests.py", ["apply ", "re-apply "]),
        ("startup.py", ["| python -c pass |", "| apigee-psc plan (seed spec, emulator) |"]),
        ("reliability.py", ["total: 5 seeds", "0 duplicates, 0 missing, 0 leaks"]),
        ("watch.py", ["| specs | requests a pass | a spec |", "| 2 | "]),  # it exits 1 if a pass writes
    ],
)
def test_benchmark_quick_prints_its_table(script: str, expected: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "APIGEE_PSC_EMULATOR_HOST"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for text in expected:
        assert text in done.stdout, f"{script}: {text!r} not in\n{done.stdout}"


def test_adaptive_schedule_learns_durations_from_emulator_operations(apigee_emulator: EmulatorServer) -> None:
    """Endpoint attachment creates of 0.3 s over HTTP: their kind is read from the wire metadata
    and their durations land in the history of the client's clock."""
    apigee_emulator.configure(op_seconds=0.3)

    def clock() -> float:  # its own time line, so this test's history is its own
        return time.monotonic()

    schedule = AdaptiveSchedule(
        priors={"default": DurationPrior.lognormal(3.0, 6.0)},
        min_interval=0.02,
        max_interval=0.5,
        quick_until=0.0,
    )
    apigee = ApigeeClient("my-organization", schedule=schedule, clock=clock)
    for name in ("learn-a", "learn-b", "learn-c"):
        sa = f"projects/my-project/regions/us-west1/serviceAttachments/{name}"
        operation = apigee.endpoint_attachments.create(name, location="us-west1", service_attachment=sa)
        assert apigee.operations.wait(operation, timeout=30).done
    seen = history_for(clock).durations(("my-organization", "endpointAttachments.INSERT"))
    assert len(seen) == 3
    assert all(0.2 <= d <= 3.0 for d in seen), seen
    assert history_for(time.monotonic).durations(("my-organization", "endpointAttachments.INSERT")) == ()
