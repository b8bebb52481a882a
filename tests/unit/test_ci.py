"""CI's own hygiene: metadata without deprecated forms, and no temporary venv left behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def test_license_is_an_spdx_expression_with_a_setuptools_that_reads_it() -> None:
    # A TOML table (`license = {text = ...}`) makes setuptools print a deprecation warning on
    # every install; the SPDX string needs setuptools 77 or newer in the build environment.
    project = tomllib.loads(ROOT.joinpath("pyproject.toml").read_text())
    assert project["project"]["license"] == "Apache-2.0"
    assert not any(c.startswith("License ::") for c in project["project"].get("classifiers", []))
    requires = project["build-system"]["requires"]
    assert any(r.replace(" ", "").startswith("setuptools>=") and int(r.split(">=")[1].split(".")[0]) >= 77
               for r in requires)  # fmt: skip


def test_ci_run_removes_its_temporary_venv_even_when_a_step_fails(tmp_path: Path) -> None:
    # A python3 that creates the venv directory and fails: `.ci/run` stops at once (set -e);
    # what it made in the temporary directory must be gone.
    fake = tmp_path / "bin"
    fake.mkdir()
    python = fake / "python3"
    python.write_text('#!/bin/sh\nmkdir -p "$3/bin" && echo made > "$3/bin/marker"\nexit 7\n')
    python.chmod(0o755)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "CI_VENV"}
    env.update(PATH=f"{fake}:{env['PATH']}", TMPDIR=str(scratch))
    done = subprocess.run(["bash", str(ROOT / ".ci" / "run")], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 7, done.stderr
    assert list(scratch.iterdir()) == []
