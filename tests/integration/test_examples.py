"""Every example spec applies on the emulator by the command its header documents.

The documented command is ``apigee-psc emulator --producer-for SPEC...`` (in another shell),
then ``APIGEE_PSC_EMULATOR_HOST=127.0.0.1:8089 apigee-psc apply SPEC --yes``. This test runs
exactly that: the emulator as a real ``apigee-psc emulator`` subprocess on a free port, and
``apigee-psc apply`` (in process) on each example, ending in_sync.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from apigee_psc.cli import cli
from apigee_psc.southbound import SouthboundSpec, TargetSpec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SINGLE = sorted(EXAMPLES.glob("*.yaml"))
FLEET = sorted((EXAMPLES / "fleet").glob("*.yaml"))
COMMAND_RE = re.compile(r"apigee-psc emulator(?: --[a-z-]+(?: [^\s#-][^\s#]*)*)*")


def documented_command(spec: Path) -> list[str]:
    """The ``apigee-psc emulator ...`` command of ``spec``'s header comment, as arguments."""
    header = "\n".join(line[1:].strip() for line in spec.read_text().splitlines() if line.startswith("#"))
    match = COMMAND_RE.search(header)
    assert match is not None, f"{spec.name}: its header documents no `apigee-psc emulator` command"
    words = match.group(0).split()[2:]
    out: list[str] = []
    for word in words:  # expand the globs a shell would, relative to the repository
        root = EXAMPLES.parent
        if any(c in word for c in "*?["):
            found = sorted(str(p) for p in root.glob(word))
            assert found, f"{spec.name}: {word} matches no file"
            out += found
        elif word.endswith(".yaml"):
            assert (root / word).is_file(), f"{spec.name}: {word} does not exist"
            out.append(str(root / word))
        else:
            out.append(word)
    return out


@pytest.fixture
def emulator_process(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """``apigee-psc emulator <documented options> --port 0 --op-seconds 0`` in a subprocess."""
    args: list[str] = request.param
    proc = subprocess.Popen(
        [sys.executable, "-c", "from apigee_psc.cli import cli; cli()", "emulator", *args, "--port", "0",
         "--op-seconds", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"APIGEE_PSC_EMULATOR_HOST=(\S+)", line)
        assert match, f"emulator did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}"
        monkeypatch.setenv("APIGEE_PSC_EMULATOR_HOST", match.group(1))
        yield match.group(1)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def _apply(spec: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["apply", str(spec), "--yes"], catch_exceptions=False)
    assert result.exit_code == 0, f"{spec.name}:\n{result.output}"
    status = runner.invoke(cli, ["status", str(spec), "-o", "json"], catch_exceptions=False)
    assert json.loads(status.stdout)["state"] == "in_sync", status.stdout


@pytest.mark.parametrize(
    ("spec", "emulator_process"),
    [(s, documented_command(s)) for s in SINGLE],
    ids=[s.name for s in SINGLE],
    indirect=["emulator_process"],
)
def test_example_applies_by_documented_command(spec: Path, emulator_process: str) -> None:
    _apply(spec)
    # The TargetEndpoint speaks the spec's scheme and port, with <SSLInfo> for https.
    target = SouthboundSpec.from_yaml(spec).target or TargetSpec()
    result = CliRunner().invoke(cli, ["target-xml", str(spec), "-o", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["url"].startswith(f"{target.scheme}://") and data["url"].endswith(target.path)
    info = ET.fromstring(data["xml"]).find("HTTPTargetConnection/SSLInfo")
    assert (info is not None) == (target.scheme == "https")
    if info is not None:
        assert info.findtext("Enabled") == "true"


def test_fleet_members_document_one_command() -> None:
    commands = {tuple(documented_command(s)) for s in FLEET}
    assert len(commands) == 1
    assert set(FLEET) <= {Path(p) for p in next(iter(commands))}


@pytest.mark.parametrize("emulator_process", [documented_command(FLEET[0])], ids=["fleet"], indirect=True)
def test_fleet_applies_by_documented_command(emulator_process: str) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["apply", *map(str, FLEET), "--yes"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    for spec in FLEET:
        status = runner.invoke(cli, ["status", str(spec), "-o", "json"], catch_exceptions=False)
        assert json.loads(status.stdout)["state"] == "in_sync", (spec.name, status.stdout)
    assert os.environ["APIGEE_PSC_EMULATOR_HOST"] == emulator_process
