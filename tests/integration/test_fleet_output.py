"""A fleet's output is easy to follow: every progress line and report names its spec, the
connection rows differ, and each failure is told once."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from apigee_psc.cli import cli
from apigee_psc.emulator import EmulatorServer, load_specs, seed_producer_for

FLEET = sorted((Path(__file__).resolve().parents[2] / "examples" / "fleet").glob("*.yaml"))[:3]


def _fleet(server: EmulatorServer) -> list[str]:
    seed_producer_for(server.world, load_specs(FLEET))
    return [str(p) for p in FLEET]


def test_fleet_lines_and_reports_name_their_spec(apigee_emulator: EmulatorServer) -> None:
    specs = _fleet(apigee_emulator)
    result = CliRunner().invoke(cli, ["apply", *specs, "--yes"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    progress = [line for line in result.stderr.splitlines() if ": apply: " in line]
    assert progress and all(any(line.startswith(f"{spec}: apply: ") for spec in specs) for line in progress)
    connection_rows = [line for line in progress if "SouthboundConnection" in line]
    assert len(connection_rows) == len(set(connection_rows)) == len(specs)  # one each, and they differ
    for spec in specs:
        assert f"Realization of {spec}: in_sync" in result.stdout


def test_each_fleet_failure_is_told_once_and_its_row_is_failed(apigee_emulator: EmulatorServer) -> None:
    specs = _fleet(apigee_emulator)[:2]
    apigee_emulator.set_faults(
        [{"api": "compute", "method": "POST", "path": "serviceAttachments", "status": 403, "message": "denied by org"}]
    )
    result = CliRunner().invoke(cli, ["apply", *specs, "--yes"], catch_exceptions=False)
    assert result.exit_code == 1
    assert result.stderr.count("denied by org") == len(specs), result.stderr  # once per failed spec
    for spec in specs:
        assert sum(line.startswith(f"error: {spec}: ") for line in result.stderr.splitlines()) == 1
        failed = [line for line in result.stderr.splitlines() if line.startswith(f"{spec}: apply: ServiceAttach")]
        assert failed[-1].endswith("failed PermissionDenied"), failed
