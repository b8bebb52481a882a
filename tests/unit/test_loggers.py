"""Every logger the package uses is a documented child of ``apigee_psc``."""

from __future__ import annotations

import re
from pathlib import Path

import apigee_psc

PACKAGE = Path(apigee_psc.__file__).parent
DOC = PACKAGE.parent / "docs" / "retries.md"


def _logger_names() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for name in re.findall(r"getLogger\(\"([^\"]+)\"\)", path.read_text(encoding="utf-8")):
            found.setdefault(name, []).append(str(path.relative_to(PACKAGE)))
    return found


def test_each_layer_logs_under_its_own_documented_child_of_apigee_psc() -> None:
    names = _logger_names()
    assert {"apigee_psc.http", "apigee_psc.waiters", "apigee_psc.southbound", "apigee_psc.emulator"} <= set(names)
    documented = set(re.findall(r"^\| `(apigee_psc[.\w]*)` \|", DOC.read_text(encoding="utf-8"), flags=re.M))
    for name, modules in names.items():
        assert name.startswith("apigee_psc."), f"{modules} log to {name!r}, not a child of apigee_psc"
        assert name in documented, f"{name} (used in {modules}) is missing from docs/retries.md"


def test_southbound_modules_use_the_southbound_logger() -> None:
    for name, modules in _logger_names().items():
        for module in modules:
            if module.startswith("southbound/"):
                assert name == "apigee_psc.southbound", (module, name)
            if module == "waiters.py":
                assert name == "apigee_psc.waiters"
