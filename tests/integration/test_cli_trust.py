"""Issue 18 ("Trust, round 2"): what the command shows, asks and applies is what the user saw.

A fleet applies the plans that were confirmed (stale ones refused), ``destroy`` shows its plan
before asking (``plan --destroy`` shows it without writing), an endpoint that refuses
connections fails within seconds, ``-o json`` errors are one JSON object carrying their
problems, and Ctrl-C at the question exits 130.
"""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner
from integration_helpers import FAST, last_seq, mutations, southbound

from apigee_psc import ApigeeClient, ComputeClient, _schema, errors
from apigee_psc.cli import _changes as cli_changes
from apigee_psc.cli import cli
from apigee_psc.emulator import EmulatorServer
from apigee_psc.emulator.control import seed_producer_for
from apigee_psc.southbound import PlanStale, SouthboundSpec, apply_fleet

ROOT = Path(__file__).resolve().parents[2]
SEED = str(ROOT / "examples" / "seed-scenario.yaml")


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def _read_until(fd: int, marker: bytes, timeout: float) -> bytes:
    """What the terminal shows until ``marker`` appears (or the timeout, or the end)."""
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the other side closed
                break
            if not chunk:
                break
            seen += chunk
    return seen


def test_ctrl_c_at_the_confirmation_question_exits_130_and_changes_nothing(producer: EmulatorServer) -> None:
    """A real SIGINT to the command waiting at its question, on a pseudo-terminal."""
    master, slave = pty.openpty()
    env = {**os.environ, "APIGEE_PSC_EMULATOR_HOST": producer.host_port, "NO_COLOR": "1"}
    before = last_seq(producer)
    process = subprocess.Popen(
        [sys.executable, "-m", "apigee_psc", "apply", SEED],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    try:
        shown = _read_until(master, b"Apply 1 spec(s)?", 60)
        assert b"Apply 1 spec(s)?" in shown, shown.decode(errors="replace")
        time.sleep(0.2)  # at the question, reading the terminal
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=30)
        rest = _read_until(master, b"\x00never", 2).decode(errors="replace")
    finally:
        if process.poll() is None:
            process.kill()
        os.close(master)
    assert code == 130, rest
    assert "Aborted!" not in rest and "Traceback" not in rest
    assert "interrupted" in rest and "nothing was changed" in rest
    assert mutations(producer, before) == []


# -- 8. an endpoint someone chose that refuses connections fails within seconds -------------------


def _closed_port() -> int:
    """A local port where nothing listens (bound, then closed)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_plan_against_a_dead_emulator_host_fails_within_seconds_naming_it(tmp_path: Path) -> None:
    port = _closed_port()
    env = {**os.environ, "APIGEE_PSC_EMULATOR_HOST": f"127.0.0.1:{port}"}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "apigee_psc", "plan", SEED],
        capture_output=True,
        text=True,
        env=env,
        timeout=100,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 1, done.stderr
    assert elapsed < 20, elapsed
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and f"http://127.0.0.1:{port}/" in last, done.stderr
    assert "APIGEE_PSC_EMULATOR_HOST" in last and "connection refused" in last, last
    assert "Traceback" not in done.stderr
    # --endpoint, under -o json: standard error is the one JSON error (no warning lines before it)
    env.pop("APIGEE_PSC_EMULATOR_HOST")
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "apigee_psc", "--endpoint", f"http://127.0.0.1:{port}/", "plan", SEED, "-o", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=100,
        check=False,
    )
    assert time.monotonic() - started < 20
    error = json.loads(done.stderr)["error"]
    assert done.returncode == 1 and done.stdout == ""
    assert error["type"] == "TransportError" and f"http://127.0.0.1:{port}/ (set by endpoint=)" in error["message"]


def test_a_dead_endpoint_option_fails_within_seconds_for_compute_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--endpoint`` (``endpoint=``) through google-cloud-compute, and the command's JSON error."""
    monkeypatch.delenv("APIGEE_PSC_EMULATOR_HOST", raising=False)
    url = f"http://127.0.0.1:{_closed_port()}/"
    started = time.monotonic()
    with pytest.raises(errors.TransportError) as info:
        ComputeClient("my-project", "us-west1", endpoint=url).firewalls.get("allow-psc-nat-80")
    assert time.monotonic() - started < 15
    assert f"nothing answers at {url} (set by endpoint=)" in str(info.value)
    started = time.monotonic()
    result = CliRunner().invoke(cli, ["--endpoint", url, "list", "--org", "my-organization", "-o", "json"])
    assert time.monotonic() - started < 15
    assert result.exit_code == 1 and result.stdout == ""
    error = json.loads(result.stderr)["error"]
    assert error["type"] == "TransportError" and url in error["message"]


# -- 5. a fleet applies the plans that were confirmed ---------------------------------------------

FLEET = ROOT / "examples" / "fleet"


def _fleet(server: EmulatorServer, *names: str) -> list[Path]:
    """Fleet members of the examples, with what they reference created on the emulator."""
    paths = [FLEET / f"{name}.yaml" for name in names]
    seed_producer_for(server.world, [yaml.safe_load(path.read_text()) for path in paths])
    return paths


def _gone(get: Any) -> bool:
    try:
        get()
    except errors.NotFound:
        return True
    return False


def test_apply_fleet_applies_the_confirmed_plans_and_refuses_a_stale_one(apigee_emulator: EmulatorServer) -> None:
    specs = [SouthboundSpec.from_yaml(p) for p in _fleet(apigee_emulator, "orders", "billing")]
    confirmed = [southbound(spec).plan() for spec in specs]
    # Between the confirmation and the apply, someone creates orders' firewall rule, differently.
    compute = ComputeClient("my-project", "us-west1")
    compute.firewalls.create("allow-psc-nat-orders", network="default", ports=[22], source_ranges=["192.168.0.0/16"])
    before = last_seq(apigee_emulator)
    orders, billing = apply_fleet(specs, plans=confirmed, schedule=FAST, timeout=60.0)
    assert isinstance(orders.error, PlanStale), orders.error
    assert "allow-psc-nat-orders" in str(orders.error) and "nothing was changed" in str(orders.error)
    assert billing.error is None and billing.ok
    # Nothing of orders was written; its foreign rule is as it was.
    assert _gone(lambda: compute.subnets.get("psc-nat-orders"))
    assert _gone(lambda: compute.service_attachments.get("sa-orders"))
    assert _gone(lambda: ApigeeClient("my-organization").endpoint_attachments.get("ea-orders"))
    assert compute.firewalls.get("allow-psc-nat-orders").tcp_ports == (22,)
    # The confirmed plans were applied: their organization read was used, not a new plan's.
    log = apigee_emulator.requests(since=before)
    assert not any(r["path"].endswith("/organizations/my-organization") for r in log)
    assert mutations(apigee_emulator, before)  # billing was created


def test_apply_fleet_wants_one_plan_per_spec(apigee_emulator: EmulatorServer) -> None:
    specs = [SouthboundSpec.from_yaml(p) for p in _fleet(apigee_emulator, "orders", "billing")]
    before = last_seq(apigee_emulator)
    with pytest.raises(errors.ValidationError) as info:
        apply_fleet(specs, plans=[southbound(specs[0]).plan()], schedule=FAST, timeout=60.0)
    assert info.value.field == "plans"
    assert mutations(apigee_emulator, before) == []


def test_the_cli_fleet_refuses_a_spec_whose_confirmed_plan_went_stale(
    apigee_emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    orders, billing = _fleet(apigee_emulator, "orders", "billing")
    code, _, err = run("apply", str(orders), str(billing), "--yes")
    assert code == 0, err
    changed = tmp_path / "billing.yaml"
    data = yaml.safe_load(billing.read_text())
    data["firewall"]["ports"] = [8084]  # the plan: update the rule
    changed.write_text(yaml.safe_dump(data))
    compute = ComputeClient("my-project", "us-west1")

    def confirm_then_someone_deletes_the_rule(yes: bool, what: str) -> None:
        compute.firewalls.delete("allow-psc-nat-billing")  # a new plan would now create it

    monkeypatch.setattr(cli_changes, "confirm", confirm_then_someone_deletes_the_rule)
    before = last_seq(apigee_emulator)
    code, out, err = run("apply", str(orders), str(changed), "--yes", "-o", "json")
    assert code == 1
    assert json.loads(out)["reports"][0]["state"] == "in_sync"  # orders: nothing to do, in sync
    *progress, last = err.strip().splitlines()  # billing's apply refused, orders' progress before it
    assert all(line.startswith(f"{orders}: apply: ") for line in progress), progress  # each names its spec
    error = json.loads(last)["error"]  # the one JSON object on standard error
    assert error["type"] == "PlanStale" and error["exit_code"] == 1
    [problem] = error["problems"]
    assert problem["spec"] == str(changed) and problem["kind"] == "Firewall"
    assert problem["resource"].endswith("/firewalls/allow-psc-nat-billing")
    assert "nothing was changed" in problem["text"]
    assert _gone(lambda: compute.firewalls.get("allow-psc-nat-billing"))  # not created again
    assert mutations(apigee_emulator, before) == [
        r for r in mutations(apigee_emulator, before) if r["method"] == "DELETE"
    ]  # only the deletion made by the test


# -- 9. under -o json an error is one JSON object, and a refusal carries its problems ------------


def validate(name: str, text: str) -> Any:
    data = json.loads(text)
    jsonschema.Draft202012Validator(_schema.load(name)).validate(data)
    return data


def _valid_error(text: str) -> dict[str, Any]:
    data = json.loads(text)  # the whole of standard error: one JSON object
    jsonschema.Draft202012Validator(_schema.load("error")).validate(data)
    error: dict[str, Any] = data["error"]
    return error


def test_a_refused_apply_under_json_is_one_object_with_its_problems(producer: EmulatorServer) -> None:
    compute = ComputeClient("my-project", "us-west1")
    compute.firewalls.create("allow-psc-nat-80", network="default", ports=[22], source_ranges=["192.168.0.0/16"])
    before = last_seq(producer)
    code, out, err = run("apply", SEED, "--yes", "-o", "json")
    assert code == 1 and out == ""
    error = _valid_error(err)
    assert error["type"] == "PlanRefused" and error["exit_code"] == 1
    assert "marked ! above" not in error["message"]
    [problem] = error["problems"]
    assert problem["spec"] == SEED and problem["kind"] == "Firewall"
    assert problem["resource"] == "projects/my-project/global/firewalls/allow-psc-nat-80"
    assert "apigee-psc did not create it" in problem["text"]
    assert mutations(producer, before) == []
    # In text, the plan is shown with its problems marked, then one line.
    code, _, err = run("apply", SEED, "--yes")
    assert code == 1 and "  ! Firewall: allow-psc-nat-80 exists and differs" in err
    assert err.strip().splitlines()[-1] == "error: the plan cannot be applied (see the problems marked ! above)"


def test_a_stale_saved_plan_under_json_is_one_object_with_its_reasons(producer: EmulatorServer, tmp_path: Path) -> None:
    saved = tmp_path / "seed.plan.json"
    assert run("plan", SEED, "--out", str(saved))[0] == 0
    ComputeClient("my-project", "us-west1").firewalls.create(
        "allow-psc-nat-80", network="default", ports=[22], source_ranges=["192.168.0.0/16"]
    )
    code, _, err = run("apply", str(saved), "-o", "json")
    error = _valid_error(err)
    assert code == 1 and error["type"] == "PlanStale"
    [problem] = error["problems"]
    assert problem["kind"] == "Firewall" and problem["resource"].endswith("/firewalls/allow-psc-nat-80")
    assert problem["text"].startswith("allow-psc-nat-80 appeared since the plan")


# -- 6. destroy shows its plan before asking; plan --destroy shows it without writing ------------


def test_plan_destroy_shows_what_destroy_would_do_and_writes_nothing(producer: EmulatorServer) -> None:
    code, out, _ = run("plan", "--destroy", SEED)
    assert code == 0 and "Nothing to delete." in out and "absent   ServiceAttachment" in out
    assert run("apply", SEED, "--yes")[0] == 0
    before = last_seq(producer)
    code, out, _ = run("plan", "--destroy", SEED)
    assert code == 0, out
    assert out.startswith(f"Destroy plan for {SEED} (organization my-organization)")
    assert "    - delete   ServiceAttachment      gkebackend" in out
    assert "    = keep     ForwardingRule         fr-ilb  (referenced, not owned: kept)" in out
    assert "IamBinding" in out and "--revoke-iam" in out
    assert "Summary: 6 to delete, 3 kept, 0 absent" in out
    code, out, _ = run("plan", "--destroy", SEED, "-o", "json", "--revoke-iam", "--exit-code")
    data = validate("destroy-plan", out)
    assert code == 3 and data["summary"] == {"delete": 7, "keep": 2, "absent": 0} and data["revoke_iam"] is True
    deleted = [e for e in data["entities"] if e["action"] == "delete"]
    assert deleted[0]["kind"] == "DnsRecord" and deleted[-1]["kind"] == "NatSubnet"  # the order of deletion
    assert all(e["id"] for e in deleted)
    code, out, _ = run("plan", "--destroy", SEED, SEED, "-o", "json")
    assert code == 0 and [p["spec"] for p in validate("destroy-plan", out)] == [SEED, SEED]
    assert mutations(producer, before) == []
    code, _, err = run("plan", SEED, "--force")
    assert code == 2 and "--force goes with --destroy only" in err
    code, _, err = run("plan", "--destroy", SEED, "--out", "destroy.json")
    assert code == 2 and "a destroy plan is shown, not saved" in err


def test_destroy_shows_the_plan_before_its_question(producer: EmulatorServer) -> None:
    assert run("apply", SEED, "--yes")[0] == 0
    before = last_seq(producer)
    code, _, err = run("destroy", SEED)  # off a terminal, without --yes: shown, then refused
    assert code == 2 and "needs --yes" in err
    assert f"Destroy plan for {SEED}" in err and "    - delete   EndpointAttachment     gkebackend" in err
    master, slave = pty.openpty()
    env = {**os.environ, "APIGEE_PSC_EMULATOR_HOST": producer.host_port, "NO_COLOR": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "apigee_psc", "destroy", SEED], stdin=slave, stdout=slave, stderr=slave, env=env
    )
    os.close(slave)
    try:
        shown = _read_until(master, b"resource(s)? [y/N]", 60).decode(errors="replace")
        os.write(master, b"n\n")
        code = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        os.close(master)
    question = shown.index("Destroy what 1 spec(s) created: delete 6 resource(s)?")
    assert shown.index("Destroy plan for") < shown.index("delete   ServiceAttachment") < question, shown
    assert code == 1
    assert mutations(producer, before) == []


def test_a_destroy_with_another_consumer_is_refused_before_its_question_with_the_problem(
    producer: EmulatorServer, tmp_path: Path
) -> None:
    assert run("apply", SEED, "--yes")[0] == 0
    producer.configure(orgs=["other-org"])
    other = ApigeeClient("other-org")
    attachment = SouthboundSpec.from_yaml(SEED).service_attachment_path
    other.operations.wait(
        other.endpoint_attachments.create("theirs", location="us-west1", service_attachment=attachment), timeout=20
    )
    other.endpoint_attachments.wait_until_ready("theirs", timeout=20)
    before = last_seq(producer)
    code, out, _ = run("plan", "--destroy", SEED)
    assert code == 1 and "  ! ServiceAttachment: service attachment gkebackend still serves 1" in out
    code, _, err = run("destroy", SEED, "-o", "json")  # refused before the question (no --yes needed)
    error = _valid_error(err)
    assert code == 1 and error["type"] == "PlanRefused"
    [problem] = error["problems"]
    assert problem["kind"] == "ServiceAttachment" and problem["resource"] == attachment
    assert "--force" in problem["text"]
    assert mutations(producer, before) == []


def test_destroy_given_a_plan_deletes_nothing_it_does_not_list(producer: EmulatorServer) -> None:
    spec = SouthboundSpec.from_yaml(SEED)
    empty = southbound(spec).plan_destroy()  # nothing there yet: nothing to delete
    assert not empty.has_changes and len(empty.absent) == 7
    assert southbound(spec).apply().ok
    before = last_seq(producer)
    with pytest.raises(PlanStale) as info:
        southbound(spec).destroy(plan=empty)
    reason = "ServiceAttachment: gkebackend would now be deleted, but was absent in the plan; nothing was deleted"
    assert any(r.startswith(reason) for r in info.value.reasons), info.value.reasons
    assert mutations(producer, before) == []
    confirmed = southbound(spec).plan_destroy()
    report = southbound(spec).destroy(plan=confirmed)
    assert len(confirmed.deletes) == 6
    assert {(c.kind, c.name) for c in report.deleted} == {(c.kind, c.name) for c in confirmed.deletes}
    assert _gone(lambda: ComputeClient("my-project", "us-west1").service_attachments.get("gkebackend"))


def test_destroy_refuses_when_a_consumer_connects_after_the_question_even_with_force(
    producer: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--force was given for the plan shown (no other consumer): a consumer that connects
    between the question and the destroy is not disconnected."""
    assert run("apply", SEED, "--yes")[0] == 0
    producer.configure(orgs=["other-org"])
    other = ApigeeClient("other-org")
    attachment = SouthboundSpec.from_yaml(SEED).service_attachment_path

    def confirm_then_a_consumer_connects(yes: bool, what: str) -> None:
        operation = other.endpoint_attachments.create("theirs", location="us-west1", service_attachment=attachment)
        other.operations.wait(operation, timeout=20)
        other.endpoint_attachments.wait_until_ready("theirs", timeout=20)

    monkeypatch.setattr(cli_changes, "confirm", confirm_then_a_consumer_connects)
    before = last_seq(producer)
    code, out, err = run("destroy", SEED, "--yes", "--force", "-o", "json")
    error = _valid_error(err)
    assert code == 1 and out == "" and error["type"] == "PlanStale"
    [problem] = [p for p in error["problems"] if "new since the plan" in p["text"]]
    assert problem["kind"] == "ServiceAttachment" and problem["resource"] == attachment
    assert str(other.endpoint_attachments.get("theirs").connection_state) == "ACCEPTED"
    assert [r for r in mutations(producer, before) if "other-org" not in r["path"]] == []


def test_a_question_off_a_terminal_under_json_is_one_error_object(producer: EmulatorServer) -> None:
    for command in ("apply", "destroy"):
        if command == "destroy":
            assert run("apply", SEED, "--yes")[0] == 0
        code, out, err = run(command, SEED, "-o", "json")
        error = _valid_error(err)  # no plan text before it
        assert code == 2 and out == "" and error["type"] == "ConfirmationNeeded"


def test_a_refusal_on_a_terminal_under_json_is_one_object_too(producer: EmulatorServer) -> None:
    """On a terminal no question is asked of a plan with problems, so no plan text is shown."""
    ComputeClient("my-project", "us-west1").firewalls.create(
        "allow-psc-nat-80", network="default", ports=[22], source_ranges=["192.168.0.0/16"]
    )
    master, slave = pty.openpty()
    env = {**os.environ, "APIGEE_PSC_EMULATOR_HOST": producer.host_port}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "apigee_psc", "apply", SEED, "-o", "json"],
            stdin=slave,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
    finally:
        os.close(slave)
        os.close(master)
    error = _valid_error(done.stderr)
    assert done.returncode == 1 and error["type"] == "PlanRefused" and error["problems"][0]["kind"] == "Firewall"
