"""The benchmarks run (CI smoke: their tables are printed, their figures are not judged), and a
schedule per operation kind is chosen from the operation's metadata over real HTTP against the emulator."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from apigee_psc import ApigeeClient
from apigee_psc.emulator import EmulatorServer
from apigee_psc.waiters import Schedule, WaitProgress

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


def test_schedule_per_kind_chosen_from_emulator_operations(apigee_emulator: EmulatorServer) -> None:
    """Endpoint attachment creates of 0.3 s over HTTP: their kind is read from the wire metadata,
    and the wait polls on that kind's schedule, not the default's."""
    apigee_emulator.configure(op_seconds=0.3)
    by_kind = Schedule.by_kind(
        {"dnsZones.INSERT": Schedule.fixed(5.0), "endpointAttachments.INSERT": Schedule.fixed(0.02)},
        "dnsZones.INSERT",
    )
    apigee = ApigeeClient("my-organization", schedule=by_kind)
    for name in ("kind-a", "kind-b"):
        sa = f"projects/my-project/regions/us-west1/serviceAttachments/{name}"
        operation = apigee.endpoint_attachments.create(name, location="us-west1", service_attachment=sa)
        reports: list[WaitProgress] = []
        assert apigee.operations.wait(operation, timeout=30, progress=reports.append).done
        assert len(reports) >= 5, reports  # polled every 0.02 s, not every 5 s
        assert reports[-1].elapsed < 3.0
