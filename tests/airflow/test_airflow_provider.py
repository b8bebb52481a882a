"""A real Apache Airflow 3 runs the provider's DAGs against the emulator, through deferral.

Airflow lives in its own venv (its pins are not the library's): ``.ci/run`` builds it and
names its python in ``APIGEE_PSC_AIRFLOW_PYTHON``; without it these tests are skipped (in CI
they fail instead). The emulator runs here, in this process; Airflow runs as a subprocess
(``run_dags.py``: ``dag.test()``, which runs each deferred task's trigger in line) with a
SQLite metadata database in a temporary AIRFLOW_HOME and ``[operators] default_deferrable``
on, so the operators defer by Airflow's setting, not by an argument.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from apigee_psc.airflow import _core
from apigee_psc.emulator import EmulatorServer
from apigee_psc.emulator.control import seed_producer_for
from apigee_psc.emulator.producer import load_specs
from apigee_psc.southbound import Southbound, SouthboundSpec
from apigee_psc.testing import inventory

pytestmark = pytest.mark.airflow

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_SPECS = sorted((ROOT / "examples" / "airflow" / "specs").glob("*.yaml"))
STUCK_SPEC = ROOT / "tests" / "airflow" / "specs" / "stuck.yaml"
DAGS = {
    "fleet": ROOT / "examples" / "airflow" / "dags" / "apigee_psc_fleet.py",
    "teardown": ROOT / "examples" / "airflow" / "dags" / "apigee_psc_fleet_teardown.py",
    "stuck": ROOT / "tests" / "airflow" / "dags" / "apigee_psc_stuck.py",
}


def _airflow_python() -> str:
    python = os.environ.get("APIGEE_PSC_AIRFLOW_PYTHON", "")
    if not python:
        if os.environ.get("CI"):
            pytest.fail("APIGEE_PSC_AIRFLOW_PYTHON is not set: .ci/run builds the Airflow venv and sets it")
        pytest.skip("APIGEE_PSC_AIRFLOW_PYTHON (the python of a venv with apache-airflow 3) is not set")
    return python


@pytest.fixture(scope="module")
def airflow_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run the fleet DAG, its teardown and the stuck DAG once; keep the output and results."""
    python = _airflow_python()
    home = tmp_path_factory.mktemp("airflow-home")
    dags_folder = home / "dags"
    dags_folder.mkdir()
    for path in DAGS.values():
        (dags_folder / path.name).symlink_to(path)
    server = EmulatorServer(op_seconds=0.5)  # long enough to be waited on, short for CI
    server.start()
    try:
        seed_producer_for(server.world, load_specs([*EXAMPLE_SPECS, STUCK_SPEC]))
        server.configure(connection_states={"retail-org/ea-stuck": "PENDING"})
        connection = {"conn_type": "apigee_psc", "extra": {"endpoint": server.url}}
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("AIRFLOW", "APIGEE_PSC_", "GOOGLE_APPLICATION"))
        }
        env |= {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True",
            "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT": json.dumps(connection),
            "APIGEE_PSC_POLL_INTERVAL": "0.5",
            "NO_PROXY": "*",
        }
        bindir = Path(python).parent
        migrate = subprocess.run(
            [str(bindir / "airflow"), "db", "migrate"], env=env, capture_output=True, text=True, timeout=240
        )
        assert migrate.returncode == 0, migrate.stdout[-3000:] + migrate.stderr[-3000:]
        script = Path(__file__).with_name("run_dags.py")
        proc = subprocess.run(
            [python, str(script), *(str(dags_folder / p.name) for p in DAGS.values())],
            env=env,
            capture_output=True,
            text=True,
            timeout=400,
        )
        output = proc.stdout + proc.stderr
        (home / "run.log").write_text(output)
        assert proc.returncode == 0, output[-6000:]
        results = {}
        for line in proc.stdout.splitlines():
            if line.startswith("RESULT "):
                result = json.loads(line.removeprefix("RESULT "))
                results[result["dag_id"]] = result
        return {"results": results, "output": output, "left": inventory(server), "log": home / "run.log"}
    finally:
        server.stop()


def _xcom(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def test_fleet_dag_applies_every_spec_through_deferral(airflow_run: dict[str, Any]) -> None:
    run = airflow_run["results"]["apigee_psc_fleet"]
    assert run["state"] == "success", airflow_run["log"]
    applies = {k: v for k, v in run["tasks"].items() if k.startswith("apply_")}
    assert sorted(applies) == ["apply_billing", "apply_inventory", "apply_orders", "apply_shipping"]
    for task_id, task in applies.items():
        assert task["state"] == "success", task_id
        assert _xcom(task["xcom"]["deferrals"]) >= 1, f"{task_id} never deferred"
        report = _xcom(task["xcom"]["return_value"])
        assert report["state"] == "in_sync"
        kinds = {d["sub_system_type"]: d["state"] for d in report["details"]}
        assert kinds["EndpointAttachment"] == "in_sync" and kinds["DnsZone"] == "in_sync"
    pools = {task["pool"] for task_id, task in applies.items()}
    assert pools == {"apigee-psc-retail-org", "apigee-psc-logistics-org"}
    for task_id in ("status_orders", "status_shipping"):
        assert _xcom(run["tasks"][task_id]["xcom"]["return_value"])["state"] == "in_sync"
    output = airflow_run["output"]
    # The task went to the deferred state and its trigger ran (dag.test() runs it in line).
    assert output.count("Pausing task as DEFERRED") >= 4
    assert "endpoint attachment to be ACTIVE and ACCEPTED (ea-orders) done" in output


def test_teardown_dag_destroys_the_fleet_through_deferral(airflow_run: dict[str, Any]) -> None:
    run = airflow_run["results"]["apigee_psc_fleet_teardown"]
    assert run["state"] == "success", airflow_run["log"]
    for name in ("orders", "billing", "inventory", "shipping"):
        task = run["tasks"][f"destroy_{name}"]
        assert task["state"] == "success"
        assert _xcom(task["xcom"]["deferrals"]) >= 1
        report = _xcom(task["xcom"]["return_value"])
        deleted = {(e["kind"], e["name"]) for e in report["entities"] if e["outcome"] == "deleted"}
        assert ("EndpointAttachment", f"ea-{name}") in deleted
        assert ("ServiceAttachment", f"sa-{name}") in deleted
        assert report["summary"]["deleted"] == len(deleted)
    assert "endpoint attachment to be deleted (ea-orders) done" in airflow_run["output"]
    fleet = ("orders", "billing", "inventory", "shipping")
    left = {key for key, count in airflow_run["left"].items() if count and any(n in key[1] for n in fleet)}
    assert left == set()


def test_stuck_connection_fails_apply_and_sensor_with_the_diagnosis(airflow_run: dict[str, Any]) -> None:
    run = airflow_run["results"]["apigee_psc_stuck"]
    assert run["state"] == "failed"
    assert run["tasks"]["apply_stuck"]["state"] == "failed"
    assert run["tasks"]["sense_stuck"]["state"] == "failed"
    assert run["tasks"]["sense_stuck_in_worker"]["state"] == "failed"
    output = airflow_run["output"]
    failures = [line for line in output.splitlines() if "ConnectionNotAccepted" in line and "ea-stuck" in line]
    assert len(failures) >= 3, output[-4000:]  # apply's and the two sensors' (deferred and in the worker)
    # The diagnosis: PENDING, and which project to accept on which service attachment.
    assert all("PENDING" in line for line in failures)
    assert all("sa-stuck" in line for line in failures)


def test_provider_registers_and_trigger_resumes_from_its_serialised_form(tmp_path: Path) -> None:
    python = _airflow_python()
    server = EmulatorServer(op_seconds=1.0)
    server.start()
    try:
        seed_producer_for(server.world, load_specs([EXAMPLE_SPECS[0]]))
        spec = SouthboundSpec.from_yaml(EXAMPLE_SPECS[0])
        southbound = Southbound(spec, endpoint=server.url, timeout=30)
        result = _core.apply_pass(southbound, defer=True)
        while not any(w.kind == "attachment_ready" for w in result.waits):
            for wait in result.waits:
                while _core.poll(southbound.apigee, wait, 0.0)[0] != "success":
                    time.sleep(0.1)
            result = _core.apply_pass(southbound, defer=True)
        operation = next(w.name for w in result.waits if w.kind == "operation")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "APIGEE_PSC_"))}
        env |= {"AIRFLOW_HOME": str(tmp_path), "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True", "NO_PROXY": "*"}
        script = Path(__file__).with_name("check_provider.py")
        proc = subprocess.run(
            [python, str(script), server.url, operation, spec.endpoint_attachment.name],
            env=env, capture_output=True, text=True, timeout=240,
        )
    finally:
        server.stop()
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    line = next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))
    checks = json.loads(line.removeprefix("RESULT "))
    assert checks["provider"] is True
    assert checks["hook"] == "apigee_psc.airflow.hooks.ApigeePscHook"
    assert checks["endpoint"] == server.url
    assert checks["round_trip"] is True
    assert [e["status"] for e in checks["events"]] == ["done"]
    assert checks["ticks_per_second"] > 30  # the loop kept running while the trigger polled
    [timeout] = checks["timeout_event"]
    assert (timeout["status"], timeout["wait"]["kind"]) == ("timeout", "attachment_deleted")
    assert timeout["state"] == "ACTIVE/ACCEPTED"
    assert checks["default_deferrable"] is True
    assert checks["bad_timeout"] == "timeout"
