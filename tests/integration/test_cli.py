"""The ``apigee-psc`` command against the emulator: CliRunner, and a real subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from integration_helpers import last_seq, mutations

from apigee_psc.cli import cli
from apigee_psc.demo import SEED_SPEC
from apigee_psc.emulator import EmulatorServer
from apigee_psc.errors import PermissionDenied

SEED = str(Path(__file__).resolve().parents[2] / "examples" / "seed-scenario.yaml")


def run(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False, input=input)
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
    data = json.loads(out)
    assert data["state"] == "in_sync"
    [report] = data["reports"]
    assert report["spec"] == SEED and report["state"] == "in_sync"
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
    (report,) = json.loads(out)["reports"]
    kept = {e["kind"]: e["reason"] for e in report["entities"] if e["outcome"] == "kept"}
    assert {"ForwardingRule", "ManagedZone", "IamBinding"} <= set(kept) and all(kept.values())
    deleted = {e["kind"] for e in report["entities"] if e["outcome"] == "deleted"}
    assert deleted == {"DnsRecord", "DnsZone", "EndpointAttachment", "ServiceAttachment", "Firewall", "NatSubnet"}
    code, out, _ = run("destroy", SEED, "--yes", "-o", "json")  # again: everything is absent or kept
    (again,) = json.loads(out)["reports"]
    assert again["summary"] == {"deleted": 0, "kept": report["summary"]["kept"], "absent": 6}
    code, out, _ = run("status", SEED, "-o", "json")
    details = {d["sub_system_type"]: d["state"] for d in json.loads(out)["reports"][0]["details"]}
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
    data = json.loads(out)
    assert data["state"] == "in_sync"
    assert [(r["spec"], r["state"]) for r in data["reports"]] == [(p, "in_sync") for p in paths]


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


def without(key: str) -> str:
    """The seed's spec as YAML text without one top-level key."""
    return yaml.safe_dump({k: v for k, v in SEED_SPEC.items() if k != key})


def test_org_falls_back_to_the_environment(producer: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("APIGEE_PSC_ORGANIZATION", raising=False)
    code, _, err = run("list")
    assert code == 2 and "--org" in err
    monkeypatch.setenv("APIGEE_PSC_ORGANIZATION", "my-organization")
    code, out, _ = run("list", "-o", "json")
    assert code == 0 and json.loads(out) == []
    code, out, _ = run("plan", "-", "-o", "json", input=without("organization"))
    assert code == 0 and json.loads(out)["organization"] == "my-organization"


@pytest.mark.parametrize("variable", ["GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"])
def test_project_falls_back_to_the_environment(
    producer: EmulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str
) -> None:
    for name in ("GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "spec.yaml"
    path.write_text(without("project"))
    code, _, err = run("plan", str(path))
    assert code == 2 and "project" in err
    monkeypatch.setenv(variable, "my-project")
    code, out, _ = run("plan", str(path), "-o", "json")
    assert code == 0 and json.loads(out)["summary"] == {"create": 7}
    # the spec's own project wins over the environment and --project
    monkeypatch.setenv(variable, "other-project")
    code, out, _ = run("--project", "other-project", "plan", SEED, "-o", "json")
    assert code == 0 and all("my-project" in c["id"] for c in json.loads(out)["changes"] if "projects/" in c["id"])


def test_global_options_work_before_and_after_the_command(producer: EmulatorServer) -> None:
    assert run("apply", SEED, "--yes")[0] == 0
    before = run("-o", "json", "list", "--org", "my-organization")
    after = run("list", "--org", "my-organization", "-o", "json")
    assert before[0] == after[0] == 0 and json.loads(before[1]) == json.loads(after[1])
    assert [r["name"] for r in json.loads(after[1])] == ["gkebackend"]
    # --endpoint, before or after the command, sends every call to another (empty) emulator
    with EmulatorServer() as other:
        for args in (
            ["--endpoint", other.url, "list", "--org", "my-organization", "-o", "json"],
            ["list", "--org", "my-organization", "-o", "json", "--endpoint", other.url],
        ):
            code, out, _ = run(*args)
            assert code == 0 and json.loads(out) == [], args
    # --debug after the command lets the error through with its traceback
    producer.set_faults([{"api": "apigee", "status": 403, "message": "denied"}])
    with pytest.raises(PermissionDenied):
        CliRunner().invoke(cli, ["list", "--org", "my-organization", "--debug"], catch_exceptions=False)


@pytest.mark.parametrize("where", ["before", "after"])
def test_quota_project_before_or_after_the_command_reaches_the_client(
    producer: EmulatorServer, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    from apigee_psc import apigee

    seen: list[object] = []
    original = apigee.ApigeeClient.__init__

    def spy(self: apigee.ApigeeClient, *args: Any, **kwargs: Any) -> None:
        seen.append(kwargs.get("quota_project_id"))
        original(self, *args, **kwargs)

    monkeypatch.setattr(apigee.ApigeeClient, "__init__", spy)
    command = ["list", "--org", "my-organization"]
    option = ["--quota-project", "billing-project"]
    assert run(*(option + command if where == "before" else command + option))[0] == 0
    assert seen == ["billing-project"]


def test_errors_are_json_on_stderr_under_output_json(producer: EmulatorServer, tmp_path: Path) -> None:
    path = write_spec(tmp_path, nat_subnet={"name": "psc-subnet", "range": "10.100.0.0/33"})
    code, out, err = run("plan", path, "-o", "json")
    assert code == 2 and out == ""
    error = json.loads(err)["error"]
    assert error["type"] == "ValidationError" and error["exit_code"] == 2 and "nat_subnet.range" in error["message"]
    producer.set_faults([{"api": "apigee", "status": 403, "message": "denied Bearer ya29.secret-token"}])
    code, out, err = run("-o", "json", "list", "--org", "my-organization")
    assert code == 1 and out == ""
    error = json.loads(err)["error"]
    assert error["type"] == "PermissionDenied" and error["exit_code"] == 1 and "ya29" not in err


def test_usage_errors_are_json_under_output_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("APIGEE_PSC_ORGANIZATION", raising=False)
    code, out, err = run("list", "-o", "json")
    assert code == 2 and out == ""
    assert json.loads(err)["error"]["type"] == "MissingParameter"
    code, _, err = run("-o", "json", "status", SEED, "--no-such-option")
    assert code == 2 and json.loads(err)["error"]["type"] == "NoSuchOption"


def test_plan_exit_code_tells_changes_apart(producer: EmulatorServer) -> None:
    assert run("plan", SEED, "--exit-code")[0] == 3
    assert run("plan", SEED)[0] == 0
    assert run("apply", SEED, "--yes")[0] == 0
    assert run("plan", SEED, "--exit-code")[0] == 0


def test_plan_exit_code_keeps_1_for_problems(apigee_emulator: EmulatorServer) -> None:
    assert run("plan", SEED, "--exit-code")[0] == 1  # no forwarding rule: a problem, not a change


def test_spec_from_stdin(producer: EmulatorServer) -> None:
    text = Path(SEED).read_text()
    code, out, _ = run("plan", "-", "-o", "json", input=text)
    assert code == 0
    data = json.loads(out)
    assert data["spec"] == "<stdin>" and data["summary"] == {"create": 7}
    code, _, err = run("apply", "-", input=text)
    assert code == 2 and "--yes" in err
    code, out, _ = run("apply", "-", "--yes", "-o", "json", input=text)
    assert code == 0 and json.loads(out)["reports"][0]["spec"] == "<stdin>"
    code, _, err = run("plan", "-", input="organization: [unclosed\n")
    assert code == 2 and "<stdin>" in err


def test_status_of_one_and_of_several_specs_has_one_shape(producer: EmulatorServer, tmp_path: Path) -> None:
    other = write_spec(tmp_path, endpoint_attachment={"name": "other"})
    one = json.loads(run("status", SEED, "-o", "json")[1])
    two = json.loads(run("status", SEED, other, "-o", "json")[1])
    assert set(one) == set(two) == {"state", "failure_message", "reports"}
    assert [r["spec"] for r in one["reports"]] == [SEED]
    assert [r["spec"] for r in two["reports"]] == [SEED, other]
    assert one["failure_message"].startswith(SEED + ": ")


def test_demo_json_prints_only_json_on_stdout() -> None:
    code, out, err = run("demo", "--op-seconds", "0", "-o", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["report"]["state"] == "in_sync"
    assert "<URL>http://orders.example.com/orders</URL>" in data["target_xml"]
    assert "Emulator at" in err


def test_sigterm_stops_cleanly_exits_143_and_the_rerun_resumes(tmp_path: Path) -> None:
    from apigee_psc.emulator import seed_producer

    server = EmulatorServer(op_seconds=4.0).start()
    try:
        seed_producer(server)
        env = {**os.environ, "APIGEE_PSC_EMULATOR_HOST": server.host_port}
        process = subprocess.Popen(
            [sys.executable, "-m", "apigee_psc", "apply", SEED, "--yes"],
            stderr=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert process.stderr is not None
        seen = []
        for line in process.stderr:  # off a terminal each wait shows a plain line
            seen.append(line)
            if ": waiting" in line:
                break
        assert any(": waiting" in line for line in seen), "".join(seen)
        process.send_signal(signal.SIGTERM)
        _, rest = process.communicate(timeout=30)
        assert process.returncode == 143, rest
        assert "terminated (SIGTERM); run the same command again" in rest and "Traceback" not in rest
        # The rerun resumes the operation in flight: the emulator's clock passes its 4 s at once.
        server.configure(op_seconds=0.0)
        server.world.clock = lambda: time.time() + 5.0
        done = subprocess.run(
            [sys.executable, "-m", "apigee_psc", "apply", SEED, "--yes", "-o", "json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=90,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["state"] == "in_sync"
    finally:
        server.stop()


def test_a_missing_spec_is_a_json_error(producer: EmulatorServer, tmp_path: Path) -> None:
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
