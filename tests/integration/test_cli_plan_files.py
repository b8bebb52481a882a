"""Saved plans through the command: ``plan SPEC --out FILE``, then ``apply FILE``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import yaml
from click.testing import CliRunner
from integration_helpers import last_seq, mutations

from apigee_psc import _schema
from apigee_psc.cli import cli
from apigee_psc.compute import ComputeClient
from apigee_psc.emulator import EmulatorServer, load_specs, seed_producer_for
from apigee_psc.southbound.plan import PLAN_FORMAT

ROOT = Path(__file__).resolve().parents[2]
SEED = str(ROOT / "examples" / "seed-scenario.yaml")


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_a_saved_plan_is_applied_from_fresh_reads_and_reapplied_as_a_no_op(
    producer: EmulatorServer, tmp_path: Path
) -> None:
    saved = tmp_path / "seed.plan.json"
    code, out, err = run("plan", SEED, "--out", str(saved))
    assert code == 0 and "+ create" in out and f"apigee-psc apply {saved}" in err
    assert json.loads(saved.read_text())["format"] == PLAN_FORMAT
    reads_before = last_seq(producer)
    code, out, err = run("apply", str(saved), "-o", "json")  # no --yes: a saved plan asks nothing
    assert code == 0, err
    assert json.loads(out)["state"] == "in_sync"
    log = producer.requests(since=reads_before)
    # A saved plan is a promise, not a source of values: the organization is read again.
    assert any(r["path"].endswith("/organizations/my-organization") for r in log)
    before = last_seq(producer)
    code, _, err = run("apply", str(saved))  # done already: nothing left to write
    assert code == 0, err
    assert mutations(producer, before) == []


def test_a_saved_plan_is_refused_when_what_it_changes_differs_now_and_nothing_is_written(
    producer: EmulatorServer, tmp_path: Path
) -> None:
    saved = tmp_path / "seed.plan.json"
    assert run("plan", SEED, "--out", str(saved))[0] == 0
    compute = ComputeClient("my-project", "us-west1")
    compute.firewalls.create("allow-psc-nat-80", network="default", ports=[22], source_ranges=["192.168.0.0/16"])
    before = last_seq(producer)
    code, _, err = run("apply", str(saved), "-o", "json")
    assert code == 1
    error = json.loads(err.strip().splitlines()[-1])["error"]  # after the plan shown on stderr
    assert error["type"] == "PlanStale" and "stale" in error["message"]
    assert "Firewall: allow-psc-nat-80 appeared since the plan" in error["detail"]
    assert mutations(producer, before) == []
    text = run("apply", str(saved))[2]
    assert "make a new plan" in text and "allow-psc-nat-80" in text


def test_a_saved_plan_is_applied_alone(producer: EmulatorServer, tmp_path: Path) -> None:
    saved = tmp_path / "p.json"
    assert run("plan", SEED, "--out", str(saved))[0] == 0
    before = last_seq(producer)
    code, _, err = run("apply", str(saved), SEED, "--yes")
    assert code == 2 and "a saved plan alone" in err
    assert mutations(producer, before) == []


def test_a_damaged_plan_file_is_a_validation_error(producer: EmulatorServer, tmp_path: Path) -> None:
    saved = tmp_path / "p.json"
    assert run("plan", SEED, "--out", str(saved))[0] == 0
    data = json.loads(saved.read_text())
    del data["organization"]
    saved.write_text(json.dumps(data))
    before = last_seq(producer)
    code, _, err = run("apply", str(saved))
    assert code == 2 and "a complete plan" in err
    assert mutations(producer, before) == []


def test_a_plan_with_problems_is_not_saved(producer: EmulatorServer, tmp_path: Path) -> None:
    ComputeClient("my-project", "us-west1").firewalls.create(
        "allow-psc-nat-80", network="default", ports=[22], source_ranges=["192.168.0.0/16"]
    )
    saved = tmp_path / "p.json"
    code, out, err = run("plan", SEED, "--out", str(saved))
    assert code == 1 and "! " in out and "it was not saved" in err and not saved.exists()


def test_plan_file_round_trip_in_real_processes(producer: EmulatorServer, tmp_path: Path) -> None:
    spec = tmp_path / "seed.yaml"
    spec.write_text(yaml.safe_dump(yaml.safe_load(Path(SEED).read_text())))
    saved = tmp_path / "seed.plan.json"
    env = {"APIGEE_PSC_EMULATOR_HOST": producer.host_port}
    command = [sys.executable, "-m", "apigee_psc"]
    made = subprocess.run([*command, "plan", str(spec), "--out", str(saved)], capture_output=True, text=True, env=env)
    assert made.returncode == 0, made.stderr
    done = subprocess.run([*command, "apply", str(saved)], capture_output=True, text=True, env=env, stdin=None)
    assert done.returncode == 0, done.stderr
    assert "in_sync" in done.stdout


def test_show_reads_a_saved_plan_as_text_and_in_the_plan_schema_without_any_request(
    producer: EmulatorServer, tmp_path: Path
) -> None:
    saved = tmp_path / "seed.plan.json"
    code, planned, err = run("plan", SEED, "--out", str(saved))
    assert code == 0 and f"apigee-psc show {saved}" in err
    before = last_seq(producer)
    code, out, err = run("show", str(saved))
    assert code == 0, err
    assert out.strip() == planned.strip()  # the same text plan printed
    assert f"apigee-psc apply {saved}" in err
    code, out, _ = run("show", str(saved), "-o", "json")
    assert code == 0
    data = json.loads(out)
    jsonschema.Draft202012Validator(_schema.load("plan")).validate(data)
    assert data["summary"] == {"create": 7} and data["spec"] == SEED
    assert producer.requests(since=before) == []  # show reads no API


def test_show_on_a_spec_says_to_run_plan(producer: EmulatorServer) -> None:
    code, _, err = run("show", SEED)
    assert code == 2 and f"apigee-psc plan {SEED}" in err


def test_plan_on_a_saved_plan_says_what_it_is_and_what_to_run(producer: EmulatorServer, tmp_path: Path) -> None:
    saved = tmp_path / "seed.plan.json"
    assert run("plan", SEED, "--out", str(saved))[0] == 0
    for command in ("plan", "status", "destroy"):
        code, _, err = run(command, str(saved), "--yes" if command == "destroy" else "-o", *(
            [] if command == "destroy" else ["text"]))  # fmt: skip
        assert code == 2, (command, err)
        assert "unknown key" not in err and len(err.strip().splitlines()) == 1, err
        assert "saved plan" in err and f"apigee-psc show {saved}" in err and f"apigee-psc apply {saved}" in err
    code, _, err = run("plan", str(saved), "-o", "json")
    error = json.loads(err)["error"]
    assert error["exit_code"] == 2 and len(error["problems"]) == 1


def test_a_fleet_is_saved_as_one_plan_file_shown_and_applied(apigee_emulator: EmulatorServer, tmp_path: Path) -> None:
    fleet = sorted((ROOT / "examples" / "fleet").glob("*.yaml"))[:2]
    seed_producer_for(apigee_emulator.world, load_specs(fleet))
    saved = tmp_path / "fleet.plan.json"
    code, _, err = run("plan", *map(str, fleet), "--out", str(saved))
    assert code == 0, err
    code, out, _ = run("show", str(saved), "-o", "json")
    assert code == 0
    data = json.loads(out)
    jsonschema.Draft202012Validator(_schema.load("plan")).validate(data)
    assert [p["spec"] for p in data] == list(map(str, fleet))
    code, out, _ = run("show", str(saved))
    assert all(f"Plan for {spec}" in out for spec in fleet)
    code, out, err = run("apply", str(saved), "-o", "json")
    assert code == 0, err
    report = json.loads(out)
    assert report["state"] == "in_sync" and [r["spec"] for r in report["reports"]] == list(map(str, fleet))
