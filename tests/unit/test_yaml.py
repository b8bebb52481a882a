"""apigee_psc._yaml: hostile files and documents are refused before they cost time or memory."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from apigee_psc import _yaml
from apigee_psc.errors import ValidationError


def _bomb(levels: int, width: int) -> str:
    """A flow sequence whose anchors each repeat the previous one ``width`` times: a few hundred
    bytes that expand to ``width ** levels`` scalars (``levels * width`` aliases)."""
    parts = ["&b0 [" + ", ".join(["x"] * width) + "]"]
    parts += [f"&b{i} [" + ", ".join([f"*b{i - 1}"] * width) + "]" for i in range(1, levels)]
    return "[" + ", ".join(parts) + "]"


def test_a_plain_document_loads_as_plain_data() -> None:
    assert _yaml.load("a: [1, two, {c: null}]\nb: &x {k: v}\nd: *x\n") == {
        "a": [1, "two", {"c": None}],
        "b": {"k": "v"},
        "d": {"k": "v"},
    }


def test_python_tags_are_not_constructed() -> None:
    with pytest.raises(ValidationError, match="well-formed YAML"):
        _yaml.load("!!python/object/apply:os.system ['true']")


def test_an_alias_bomb_under_the_alias_cap_is_refused_by_its_expanded_size() -> None:
    """63 aliases (under MAX_ALIASES) that expand to 7**9 (40 million) scalars: refused while
    composing, in well under a second, instead of a MemoryError when an error quotes it."""
    text = _bomb(levels=10, width=7)
    assert text.count("*") < _yaml.MAX_ALIASES
    started = time.monotonic()
    with pytest.raises(ValidationError, match="YAML nodes once aliases are expanded") as caught:
        _yaml.load("organization: " + text, "bomb.yaml")
    assert time.monotonic() - started < 2.0
    assert len(str(caught.value)) < 300


def test_an_alias_bomb_with_many_aliases_is_refused_by_count() -> None:
    with pytest.raises(ValidationError, match="aliases"):
        _yaml.load(_bomb(levels=12, width=9))


def test_nesting_through_aliases_is_capped_like_nesting() -> None:
    """Each anchor nests the previous one: 40 levels with 39 aliases, though no line nests
    deeper than two."""
    lines = ["a0: &a0 [x]"] + [f"a{i}: &a{i} [*a{i - 1}]" for i in range(1, 40)]
    with pytest.raises(ValidationError, match="levels of nesting"):
        _yaml.load("\n".join(lines))


def test_an_alias_inside_the_node_it_names_is_refused() -> None:
    with pytest.raises(ValidationError, match="alias inside the node it names"):
        _yaml.load("a: &a [1, *a]")
    with pytest.raises(ValidationError, match="alias inside the node it names"):
        _yaml.load("a: &a {k: *a}")


@pytest.mark.parametrize("opener", ["[", "{a: "])
def test_deep_nesting_is_refused_even_with_a_low_recursion_limit(opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    text = opener * 100_000 + closer * 100_000
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200)  # PyYAML's composer recurses; the cap stops it long before
    try:
        with pytest.raises(ValidationError, match="levels of nesting"):
            _yaml.load(text)
    finally:
        sys.setrecursionlimit(limit)


def test_repeated_keys_are_refused_with_both_lines() -> None:
    with pytest.raises(ValidationError, match=r"line 3 repeats the key of line 1"):
        _yaml.load("a: 1\nb: 2\na: 3\n")


def test_a_syntax_error_quotes_at_most_a_short_part_of_a_long_line() -> None:
    with pytest.raises(ValidationError) as caught:
        _yaml.load("a: b: " + "x" * 200_000, "long.yaml")
    message = str(caught.value)
    assert "well-formed YAML" in message and "characters)" in message
    assert len(message) < 400


def test_a_file_larger_than_the_cap_is_refused_from_its_size(tmp_path: Path) -> None:
    path = tmp_path / "sparse.yaml"
    with open(path, "wb") as handle:
        handle.truncate(64 * 1024**3)  # 64 GiB, sparse: reading it whole would never end
    with pytest.raises(ValidationError, match=f"at most {_yaml.MAX_BYTES} bytes"):
        _yaml.read_text(path)


def test_a_file_of_exactly_the_cap_is_read(tmp_path: Path) -> None:
    path = tmp_path / "full.yaml"
    path.write_bytes(b"#" * _yaml.MAX_BYTES)
    assert len(_yaml.read_text(path)) == _yaml.MAX_BYTES


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "/dev/null"])
def test_devices_are_refused(device: str) -> None:
    if not os.path.exists(device):
        pytest.skip(f"no {device}")
    with pytest.raises(ValidationError, match="a regular file"):
        _yaml.read_text(device)


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="a regular file"):
        _yaml.read_text(tmp_path)


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="FileNotFoundError"):
        _yaml.read_text(tmp_path / "nope.yaml")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_and_a_symlink_to_it_are_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "spec.fifo"
    os.mkfifo(fifo)
    link = tmp_path / "spec.yaml"
    link.symlink_to(fifo)
    code = (
        "import sys\nfrom apigee_psc import _yaml\nfrom apigee_psc.errors import ValidationError\n"
        "for path in sys.argv[1:]:\n"
        "    try:\n        _yaml.read_text(path)\n    except ValidationError as exc:\n        print(exc)\n"
    )
    command = [sys.executable, "-c", code, str(fifo), str(link)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("a regular file") == 2, done.stdout


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_path_that_becomes_a_fifo_after_the_stat_is_refused_without_blocking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check on the opened descriptor catches a regular file swapped for a FIFO between
    ``stat`` and ``open``; opening it does not wait for a writer."""
    path = tmp_path / "spec.yaml"
    path.write_text("a: 1\n")
    real_stat = os.stat

    def stat_then_swap(target: object, *args: object, **kwargs: object) -> os.stat_result:
        result = real_stat(target, *args, **kwargs)  # type: ignore[arg-type]
        if str(target) == str(path):
            path.unlink()
            os.mkfifo(path)
        return result

    monkeypatch.setattr(os, "stat", stat_then_swap)
    with pytest.raises(ValidationError, match="a regular file"):
        _yaml.read_text(path)


def test_invalid_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("organization: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ValidationError, match="UTF-8 text"):
        _yaml.read_text(path)


def test_reading_a_huge_file_costs_no_more_than_the_cap(tmp_path: Path) -> None:
    """A 200 MiB file full of data (not sparse) is refused without reading it: the process
    grows by far less than the file."""
    path = tmp_path / "big.yaml"
    with open(path, "wb") as handle:
        chunk = b"a: " + b"x" * (1024 * 1024 - 4) + b"\n"
        for _ in range(200):
            handle.write(chunk)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ValidationError, match="at most"):
        _yaml.read_text(path)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 50 * 1024


def _cli_plan(path: str) -> tuple[int, str]:
    from click.testing import CliRunner

    from apigee_psc.cli import cli

    result = CliRunner().invoke(cli, ["plan", path])
    return result.exit_code, result.output


SEED = Path(__file__).resolve().parents[2] / "examples" / "seed-scenario.yaml"


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda tmp: str(tmp), "a regular file"),
        (lambda tmp: "/dev/zero", "a regular file"),
        (lambda tmp: str(tmp / "nope.yaml"), "FileNotFoundError"),
    ],
    ids=["directory", "device", "missing"],
)
def test_cli_refuses_what_is_not_a_spec_file_in_one_short_line(tmp_path: Path, make: Any, fragment: str) -> None:
    code, output = _cli_plan(make(tmp_path))
    lines = [line for line in output.splitlines() if line.strip()]
    assert code == 2
    assert len(lines) == 1 and len(lines[0]) < 300 and fragment in lines[0], output


def test_cli_refuses_an_alias_bomb_in_a_spec_field_quickly(tmp_path: Path) -> None:
    """A bomb under the alias cap, as the value of ``organization``: before, validation quoted
    it (``repr`` of 40 million scalars: a MemoryError after 20 s); now one line at once."""
    path = tmp_path / "bomb.yaml"
    path.write_text(SEED.read_text().replace("organization: my-organization", "organization: " + _bomb(10, 7), 1))
    started = time.monotonic()
    code, output = _cli_plan(str(path))
    assert time.monotonic() - started < 5.0
    lines = [line for line in output.splitlines() if line.strip()]
    assert code == 2
    assert len(lines) == 1 and "once aliases are expanded" in lines[0], output
