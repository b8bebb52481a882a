"""Hostile files handed to the emulator (``apigee-psc emulator --producer-for SPEC``).

The emulator imports nothing from the library, so it cannot use :mod:`apigee_psc._yaml`; its
``load_specs`` opens each file without blocking and checks it on the open descriptor (a
regular file of at most 1 MiB) before reading: a FIFO, ``/dev/zero`` or a huge sparse file is
refused at once with the emulator's own ``InvalidArgument`` instead of hanging or a MemoryError.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

_LOAD = "import sys\nfrom apigee_psc.emulator.producer import load_specs\nload_specs(sys.argv[1:])\n"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_emulator_refuses_a_fifo_as_a_producer_spec_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    done = subprocess.run([sys.executable, "-c", _LOAD, str(fifo)], capture_output=True, text=True, timeout=3)
    assert done.returncode != 0
    assert "Traceback" in done.stderr and "InvalidArgument" in done.stderr  # the emulator's own error
    assert "regular file" in done.stderr


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_emulator_refuses_a_device_as_a_producer_spec() -> None:
    done = subprocess.run([sys.executable, "-c", _LOAD, "/dev/zero"], capture_output=True, text=True, timeout=10)
    assert done.returncode != 0
    assert "InvalidArgument" in done.stderr and "not a regular file" in done.stderr
    assert "MemoryError" not in done.stderr


def test_emulator_refuses_a_huge_sparse_producer_spec(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    with big.open("wb") as handle:
        handle.truncate(2 << 30)  # 2 GiB, sparse: nothing is written to disk
    done = subprocess.run([sys.executable, "-c", _LOAD, str(big)], capture_output=True, text=True, timeout=10)
    assert done.returncode != 0
    assert "larger than 1048576 bytes" in done.stderr
