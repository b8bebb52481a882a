"""The API reference documents what the README uses first, and the CLI page renders plainly."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from apigee_psc.apigee import ApigeeClient

ROOT = Path(__file__).resolve().parents[2]


def test_every_client_call_of_the_readme_is_in_the_api_reference() -> None:
    readme = ROOT.joinpath("README.md").read_text()
    python = "\n".join(re.findall(r"```python\n(.*?)```", readme, flags=re.S))
    calls = set(re.findall(r"\bapigee\.(\w+)\.(\w+)\(", python))
    assert ("endpoint_attachments", "wait_until_ready") in calls
    reference = ROOT.joinpath("docs", "reference.md").read_text()
    client = ApigeeClient("my-organization", endpoint="http://127.0.0.1:9/")
    for attribute, method in sorted(calls):
        cls = type(getattr(client, attribute))
        assert f"::: {cls.__module__}.{cls.__name__}" in reference, f"{attribute}: {cls.__name__} is not rendered"
        assert inspect.getdoc(getattr(cls, method)), f"{cls.__name__}.{method} has no docstring"
    source = inspect.getsource(ApigeeClient.__init__)
    for attribute, _ in calls:  # the attribute itself carries a docstring, which the reference shows
        assert re.search(rf"self\.{attribute} = .*\n\s+\"\"\"", source), attribute


def test_no_table_cell_of_the_cli_page_shows_an_escaped_pipe_in_code() -> None:
    # Python-Markdown keeps the backslash of `a\|b` inside a code span: it rendered as text\|json.
    page = ROOT.joinpath("docs", "cli.md").read_text()
    assert not re.search(r"`[^`\n]*\\\|[^`\n]*`", page)


def test_reliability_page_counts_what_pytest_collects_and_copies_no_figure_by_hand() -> None:
    import subprocess
    import sys

    page = ROOT.joinpath("docs", "reliability.md").read_text()
    assert not re.search(r"\d+ (tests? )?passed", page), "test counts copied by hand go stale"
    assert '--8<-- "benchmarks/results/reliability.md"' in page
    results = ROOT.joinpath("benchmarks", "results", "reliability.md").read_text()
    assert results.startswith("<!-- Written by `python benchmarks/reliability.py --write`")
    rows = [line.split() for line in results.split("```")[1].strip().splitlines()[1:]]
    total = re.search(r"total: (\d+) seeds, (\d+) apply runs, (\d+)/\d+ converged, (\d+) faults", results)
    assert total is not None
    assert [int(g) for g in total.groups()] == [
        len(rows),
        sum(int(r[1]) for r in rows),
        sum(int(r[2]) for r in rows),
        sum(int(r[3]) for r in rows),
    ]  # the totals are the rows' own
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:randomly", "tests/reliability"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    ).stdout.splitlines()  # fmt: skip
    claims = re.findall(r"^\| `(test_\w+\.py)(?:::(\w+))?` \((\d+) \w+\)", page, flags=re.M)
    assert len(claims) >= 8
    for module, name, count in claims:
        prefix = f"tests/reliability/{module}" + (f"::{name}" if name else "")
        found = [n for n in collected if n == prefix or n.startswith((prefix + "[", prefix + "::"))]
        assert len(found) == int(count), (prefix, len(found), count)
