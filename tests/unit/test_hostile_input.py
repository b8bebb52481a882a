"""Hostile input is refused cleanly: exit 2 with one short line, before any API call."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from apigee_psc import errors
from apigee_psc.cli import cli
from apigee_psc.southbound import Southbound, SouthboundSpec
from apigee_psc.southbound.spec import MAX_SPEC_BYTES

SEED = str(Path(__file__).resolve().parents[2] / "examples" / "seed-scenario.yaml")


def _plan(path: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["plan", path])
    return result.exit_code, result.output


def _one_short_error(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output[:500]
    assert len(lines[0]) < 400
    assert "Traceback" not in output
    return lines[0]


def test_deeply_nested_yaml_is_refused_without_recursion_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("a: " + "[" * 5000 + "]" * 5000 + "\n")
    code, out = _plan(str(path))
    assert code == 2
    assert "levels of nesting" in _one_short_error(out)


def test_alias_bomb_is_refused(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 40)]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    code, out = _plan(str(path))
    assert code == 2
    assert "aliases" in _one_short_error(out)


def test_huge_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with open(path, "wb") as handle:
        handle.truncate(MAX_SPEC_BYTES * 50)  # sparse: large, yet nothing to read
    code, out = _plan(str(path))
    assert code == 2
    assert "at most" in _one_short_error(out)


def test_character_device_is_refused() -> None:
    code, out = _plan("/dev/zero")
    assert code == 2
    assert "a regular file" in _one_short_error(out)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "spec.fifo"
    os.mkfifo(fifo)
    done = subprocess.run(
        [sys.executable, "-m", "apigee_psc", "plan", str(fifo)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "a regular file" in _one_short_error(done.stderr)


def test_a_100_kb_value_is_not_echoed_back_whole(tmp_path: Path) -> None:
    path = tmp_path / "long.yaml"
    path.write_text(Path(SEED).read_text().replace("organization: my-organization", "organization: " + "x" * 100_000))
    code, out = _plan(str(path))
    assert code == 2
    line = _one_short_error(out)
    assert "organization" in line and "characters)" in line


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "-inf", "soon"])
@pytest.mark.parametrize("command", ["apply", "destroy"])
def test_timeout_must_be_finite_and_positive(command: str, value: str) -> None:
    result = CliRunner().invoke(cli, [command, SEED, "--yes", "--timeout", value])
    assert result.exit_code == 2
    assert "--timeout" in result.output


def test_python_api_refuses_a_bad_timeout_before_any_call() -> None:
    spec = SouthboundSpec.from_yaml(SEED)
    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(errors.ValidationError):
            Southbound(spec, timeout=bad)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["emulator", "--port", "-1"], "not a port"),
        (["emulator", "--port", "70000"], "not a port"),
        (["emulator", "--op-seconds", "nan"], "finite number of seconds"),
        (["emulator", "--op-seconds", "-2"], "finite number of seconds"),
        (["demo", "--op-seconds", "-5"], "finite number of seconds"),
        (["demo", "--op-seconds", "nan"], "finite number of seconds"),
    ],
)
def test_emulator_and_demo_numbers_are_checked(args: list[str], fragment: str) -> None:
    done = subprocess.run([sys.executable, "-m", "apigee_psc", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert fragment in done.stderr


def test_spec_from_stdin_is_read_like_a_file() -> None:
    result = CliRunner().invoke(cli, ["target-xml", "-"], input=Path(SEED).read_text())
    assert result.exit_code == 0, result.output
    assert "http://orders.example.com/orders" in result.output


def test_spec_from_stdin_is_capped() -> None:
    result = CliRunner().invoke(cli, ["target-xml", "-"], input="a: " + "b" * (MAX_SPEC_BYTES + 10))
    assert result.exit_code == 2
    assert "at most" in result.output
