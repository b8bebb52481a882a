"""Defaults as gcloud users expect them: the project of the credentials (google.auth.default()),
durations for timeouts, missing credentials that say what to run, and an --endpoint without a
scheme that is never sent real credentials over https by a guess."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from integration_helpers import last_seq, mutations

from apigee_psc.cli import cli
from apigee_psc.cli._common import duration
from apigee_psc.demo import SEED_SPEC
from apigee_psc.emulator import EmulatorServer

SEED = str(Path(__file__).resolve().parents[2] / "examples" / "seed-scenario.yaml")


def run(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False, input=input)
    return result.exit_code, result.stdout, result.stderr


def service_account_key(path: Path, project: str) -> Path:
    """A service account key file as the console downloads it (a fresh key, never used to sign)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    info = {
        "type": "service_account",
        "project_id": project,
        "private_key_id": "0" * 40,
        "private_key": pem.decode(),
        "client_email": f"deployer@{project}.iam.gserviceaccount.com",
        "client_id": "1" * 21,
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    path.write_text(json.dumps(info))
    return path


@pytest.fixture
def no_project_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No project in the environment and an empty gcloud configuration directory."""
    for name in ("GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT", "GCLOUD_PROJECT", "GOOGLE_APPLICATION_CREDENTIALS"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "gcloud"
    config.mkdir()
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(config))
    return config


def test_project_comes_from_the_credentials_google_auth_finds(
    producer: EmulatorServer, no_project_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({k: v for k, v in SEED_SPEC.items() if k != "project"}))
    code, _, err = run("plan", str(spec))
    assert code == 2 and "project" in err  # nothing to take it from
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(service_account_key(tmp_path / "key.json", "my-project")))
    code, out, err = run("plan", str(spec), "-o", "json")
    assert code == 0, err
    assert json.loads(out)["summary"] == {"create": 7}
    # GOOGLE_CLOUD_PROJECT and --project still win over the credentials' project
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(service_account_key(tmp_path / "k2.json", "other-proj")))
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "my-project")
    code, out, _ = run("plan", str(spec), "-o", "json")
    assert code == 0 and json.loads(out)["summary"] == {"create": 7}


def test_missing_credentials_say_what_to_run_and_send_nothing(
    no_project_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("APIGEE_PSC_EMULATOR_HOST", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing-key.json"))
    for args in (["plan", SEED], ["list", "--org", "my-organization"], ["status", SEED]):
        code, out, err = run(*args)
        text = out + err
        assert code == 1, (args, text)
        assert "gcloud auth application-default login" in text and "GOOGLE_APPLICATION_CREDENTIALS" in text
        assert "401" not in text and ": 0:" not in text
    code, _, err = run("list", "--org", "my-organization", "-o", "json")
    error = json.loads(err)["error"]
    assert error["type"] == "CredentialsNotFound" and "application-default login" in error["message"]


def test_endpoint_without_scheme_is_the_emulator_on_loopback_and_refused_elsewhere(
    producer: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("APIGEE_PSC_EMULATOR_HOST", raising=False)
    assert run("apply", SEED, "--yes", "--endpoint", producer.url)[0] == 0
    port = producer.host_port.rsplit(":", 1)[1]
    for endpoint in (producer.host_port, f"localhost:{port}"):
        code, out, err = run("list", "--org", "my-organization", "-o", "json", "--endpoint", endpoint)
        assert code == 0, (endpoint, err)
        assert [row["name"] for row in json.loads(out)] == ["gkebackend"]
    code, _, err = run("list", "--org", "my-organization", "--endpoint", "apis.example.internal:8089")
    assert code == 2 and "https://" in err and "http://" in err


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90.0), ("30m", 1800.0), ("1h30m", 5400.0), ("2h", 7200.0), ("1.5m", 90.0)]
)
def test_durations(text: str, seconds: float) -> None:
    assert duration(text) == seconds


def test_timeouts_accept_durations(producer: EmulatorServer) -> None:
    before = last_seq(producer)
    code, _, err = run("apply", SEED, "--yes", "--timeout", "30x")
    assert code == 2 and "duration such as 90s or 30m" in err
    assert mutations(producer, before) == []
    code, out, err = run("apply", SEED, "--yes", "--timeout", "30m", "-o", "json")
    assert code == 0, err
    assert json.loads(out)["state"] == "in_sync"
    code, _, err = run("destroy", SEED, "--yes", "--timeout", "1h")
    assert code == 0, err
