"""The ``apigee-psc`` command against the emulator: CliRunner, and a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from integration_helpers import last_seq, mutations

from apigee_psc.cli import cli
from apigee_psc.demo import SEED_SPEC
from apigee_psc.emulator import EmulatorServer

SEED = str(Path(__file__).resolve().parents[2] / "examples" / "seed-scenario.yaml")


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def write_spec(tmp_path: Path, **changes: object) -> str:
    data = {**SEED_SPEC, **changes}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({k: v for k, v in data.items() if v is not None}))
    return str(path)


def test_plan_fresh_exits_0_and_writes_nothing(producer: EmulatorServer) -> None:
    before = last_seq(producer)
    code, out, _ = run("plan", SEED, "-o", "json")
    assert code == 0
    data = json.loads(out)
    assert data["summary"] == {"create": 7}
    assert mutations(producer, before) == []


def test_apply_without_yes_off_a_terminal_exits_2_and_creates_nothing(producer: EmulatorServer) -> None:
    before = last_seq(producer)
    code, _, err = run("apply", SEED)
    assert code == 2
    assert "--yes" in err
    assert mutations(producer, before) == []


def test_apply_then_status_then_reapply(producer: EmulatorServer) -> None:
    code, out, err = run("apply", SEED, "--yes", "-o", "json")
    assert code == 0, err
    assert json.loads(out)["state"] == "in_sync"
    assert "apply: EndpointAttachment gkebackend: done" in err

    code, out, _ = run("status", SEED, "-o", "json")
    assert code == 0
    report = json.loads(out)
    assert report["state"] == "in_sync"
    assert {d["sub_system_type"] for d in report["details"]} >= {"ServiceAttachment", "EndpointAttachment"}

    before = last_seq(producer)
    code, _, err = run("apply", SEED)
    assert code == 0
    assert "Nothing to do." in err
    assert mutations(producer, before) == []


def test_status_before_apply_exits_1(producer: EmulatorServer) -> None:
    code, out, _ = run("status", SEED)
    assert code == 1
    assert "not_found" in out


@pytest.mark.parametrize("command", ["plan", "apply", "status", "destroy", "target-xml"])
def test_bad_spec_exits_2_with_one_line_and_creates_nothing(
    producer: EmulatorServer, tmp_path: Path, command: str
) -> None:
    path = write_spec(tmp_path, nat_subnet={"name": "psc-subnet", "range": "10.100.0.0/33"})
    before = last_seq(producer)
    args = [command, path] + (["--yes"] if command in {"apply", "destroy"} else [])
    code, _, err = run(*args)
    assert code == 2
    assert "nat_subnet.range" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert producer.requests(since=before) == []


def test_unknown_key_names_it(producer: EmulatorServer, tmp_path: Path) -> None:
    path = write_spec(tmp_path, service_atachment={"name": "x"})
    code, _, err = run("plan", path)
    assert code == 2
    assert "service_atachment" in err


def test_rejected_connection_apply_exits_1_with_diagnosis(
    producer: EmulatorServer, tmp_path: Path, tenant: str
) -> None:
    path = write_spec(
        tmp_path,
        service_attachment={
            "name": "gkebackend",
            "connection_preference": "ACCEPT_MANUAL",
            "reject_projects": [tenant],
        },
    )
    code, _, err = run("apply", path, "--yes", "--timeout", "5")
    assert code == 1
    assert "REJECTED" in err
    assert f"remove '{tenant}' from the reject list" in err

    code, out, _ = run("diagnose", "--org", "my-organization", "gkebackend", "-o", "json")
    assert code == 1
    data = json.loads(out)
    assert data["connection_state"] == "REJECTED"
    assert tenant in data["fix"]


def test_list_and_diagnose_after_apply(producer: EmulatorServer) -> None:
    assert run("apply", SEED, "--yes")[0] == 0
    code, out, _ = run("list", "--org", "my-organization", "-o", "json")
    assert code == 0
    rows = json.loads(out)
    assert [r["name"] for r in rows] == ["gkebackend"]
    assert rows[0]["connection_state"] == "ACCEPTED"
    code, out, _ = run("diagnose", "--org", "my-organization", "gkebackend")
    assert code == 0
    assert "ACTIVE/ACCEPTED" in out


def test_target_xml_prints_record_without_trailing_dot(producer: EmulatorServer) -> None:
    code, out, _ = run("target-xml", SEED)
    assert code == 0
    assert "<URL>http://orders.example.com/orders</URL>" in out


def test_target_xml_without_dns_reads_the_host(producer: EmulatorServer, tmp_path: Path) -> None:
    path = write_spec(tmp_path, dns=None)
    assert run("apply", path, "--yes")[0] == 0
    code, out, _ = run("target-xml", path)
    assert code == 0
    assert "<URL>http://7." in out and "/orders</URL>" in out


def test_destroy_keeps_what_it_does_not_own(producer: EmulatorServer) -> None:
    assert run("apply", SEED, "--yes")[0] == 0
    code, out, _ = run("destroy", SEED, "--yes", "-o", "json")
    assert code == 0
    changes = json.loads(out)
    kept = {c["kind"] for c in changes if c["action"] == "no-op"}
    assert {"ForwardingRule", "ManagedZone", "IamBinding"} <= kept
    code, out, _ = run("status", SEED, "-o", "json")
    details = {d["sub_system_type"]: d["state"] for d in json.loads(out)["details"]}
    assert details["ForwardingRule"] == "in_sync"
    assert details["EndpointAttachment"] == "not_found"


def test_api_error_prints_one_line_without_token(producer: EmulatorServer) -> None:
    producer.set_faults([{"api": "apigee", "status": 403, "message": "denied Bearer ya29.secret-token"}])
    code, _, err = run("list", "--org", "my-organization")
    assert code == 1
    assert err.startswith("error: ")
    assert "ya29.secret-token" not in err and "Traceback" not in err


def test_fleet_apply_through_the_cli(apigee_emulator: EmulatorServer, tmp_path: Path) -> None:
    from apigee_psc import ComputeClient

    compute = ComputeClient("my-project", "us-west1")
    compute.health_checks.create("hc", port=80)
    paths = []
    for index in range(3):
        compute.backend_services.create(f"be-{index}", health_check="hc")
        compute.forwarding_rules.create(f"fr-{index}", backend_service=f"be-{index}", ports=[80])
        data = {
            **SEED_SPEC,
            "forwarding_rule": f"fr-{index}",
            "nat_subnet": {"name": f"nat-{index}", "range": f"10.100.{index + 1}.0/28"},
            "firewall": None,
            "service_attachment": {"name": f"sa-{index}", "connection_preference": "ACCEPT_AUTOMATIC"},
            "endpoint_attachment": {"name": f"ea-{index}"},
            "dns": None,
        }
        path = tmp_path / f"spec{index}.yaml"
        path.write_text(yaml.safe_dump({k: v for k, v in data.items() if v is not None}))
        paths.append(str(path))
    code, out, err = run("apply", *paths, "--yes", "-o", "json")
    assert code == 0, err
    assert [r["state"] for r in json.loads(out)] == ["in_sync"] * 3


def test_status_in_a_real_subprocess(producer: EmulatorServer) -> None:
    assert run("apply", SEED, "--yes")[0] == 0
    env = {**os.environ, "APIGEE_PSC_EMULATOR_HOST": producer.host_port}
    done = subprocess.run(
        [sys.executable, "-m", "apigee_psc", "status", SEED, "--output", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["state"] == "in_sync"


def test_bad_input_in_a_real_subprocess_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("organization: [unclosed\n")
    done = subprocess.run(
        [sys.executable, "-m", "apigee_psc", "plan", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "broken.yaml" in done.stderr and "Traceback" not in done.stderr


def test_ctrl_c_prints_how_to_resume_and_exits_130(producer: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from apigee_psc.southbound import Southbound

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Southbound, "apply", interrupted)
    code, _, err = run("apply", SEED, "--yes")
    assert code == 130
    assert "run the same command again" in err and "Traceback" not in err


def test_apply_with_plan_problems_exits_1_before_asking(apigee_emulator: EmulatorServer) -> None:
    before = last_seq(apigee_emulator)
    code, _, err = run("apply", SEED)
    assert code == 1
    assert "fr-ilb does not exist" in err and "--yes" not in err
    assert mutations(apigee_emulator, before) == []


def test_diagnose_reads_the_service_attachment_lists(producer: EmulatorServer, tmp_path: Path, tenant: str) -> None:
    from apigee_psc import ComputeClient

    path = write_spec(tmp_path, service_attachment={"name": "gkebackend", "connection_preference": "ACCEPT_MANUAL"})
    assert run("apply", path, "--yes")[0] == 0
    # Rejecting an accepted connection takes reconcileConnections (else Google keeps it ACCEPTED).
    ComputeClient("my-project", "us-west1").service_attachments.update(
        "gkebackend", consumer_accept_lists=[], consumer_reject_lists=[tenant], reconcile_connections=True
    )
    code, out, _ = run("diagnose", "--org", "my-organization", "gkebackend", "-o", "json")
    assert code == 1
    data = json.loads(out)
    assert data["connection_state"] == "REJECTED"
    assert "(it is on the reject list)" in data["cause"]


def test_target_xml_json_gives_url_and_xml(producer: EmulatorServer) -> None:
    code, out, _ = run("target-xml", SEED, "-o", "json")
    assert code == 0
    data = json.loads(out)
    assert data["url"] == "http://orders.example.com/orders"
    assert data["xml"].startswith('<TargetEndpoint name="default">')


def test_plan_exit_code_says_whether_there_are_changes(producer: EmulatorServer) -> None:
    assert run("plan", SEED, "--exit-code")[0] == 3
    assert run("plan", SEED)[0] == 0  # without the flag, changes are not an error
    assert run("apply", SEED, "--yes")[0] == 0
    assert run("plan", SEED, "--exit-code")[0] == 0


def test_errors_are_json_on_stderr_under_output_json(producer: EmulatorServer, tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.yaml")
    code, out, err = run("plan", missing, "-o", "json")
    assert code == 2 and out == ""
    error = json.loads(err)["error"]
    assert error["type"] == "ValidationError" and error["exit_code"] == 2 and "nope.yaml" in error["message"]


def test_org_falls_back_to_apigee_psc_organization(producer: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run("apply", SEED, "--yes")[0] == 0
    monkeypatch.setenv("APIGEE_PSC_ORGANIZATION", "my-organization")
    code, out, _ = run("list", "-o", "json")
    assert code == 0
    assert [a["name"] for a in json.loads(out)] == ["gkebackend"]
