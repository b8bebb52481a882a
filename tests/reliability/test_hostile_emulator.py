"""Hostile files handed to the emulator (``apigee-psc emulator --producer-for SPEC``).

The emulator imports nothing from the library, so it cannot use :mod:`apigee_psc._yaml`; its
``load_specs`` reads the whole file with ``Path.read_text``: a FIFO blocks it forever and
``/dev/zero`` ends in a MemoryError traceback. Marked ``xfail(strict=True)`` until the emulator
checks the file (``stat``: regular, at most 1 MiB) before reading it: then this test passes,
the strict mark fails the run, and the mark is to be removed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

_LOAD = "import sys\nfrom apigee_psc.emulator.producer import load_specs\nload_specs(sys.argv[1:])\n"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.xfail(
    strict=True,
    raises=subprocess.TimeoutExpired,
    reason="emulator load_specs reads a FIFO without checking it (blocks forever): issue 10.6, emulator-owned",
)
def test_emulator_refuses_a_fifo_as_a_producer_spec_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    done = subprocess.run([sys.executable, "-c", _LOAD, str(fifo)], capture_output=True, text=True, timeout=3)
    assert done.returncode != 0
    assert "Traceback" in done.stderr and "InvalidArgument" in done.stderr  # the emulator's own error
    assert "regular file" in done.stderr
