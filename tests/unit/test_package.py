"""The package surface: a light import, a sorted and resolvable __all__, py.typed shipped."""

from __future__ import annotations

import importlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

import apigee_psc

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "apigee_psc"


def _imported_after(code: str) -> dict[str, bool]:
    probe = (
        "import json, sys\n"
        f"{code}\n"
        "assert sys.modules['apigee_psc'].__file__, 'apigee_psc imported as a namespace package'\n"
        "mods = ['google.cloud.compute_v1', 'google.cloud', 'proto', 'grpc', 'yaml', 'click', 'werkzeug', 'requests']\n"
        "print(json.dumps({m: m in sys.modules for m in mods}))\n"
    )
    # cwd=ROOT: "-c" puts the working directory first on sys.path, so this checkout is what is imported.
    out = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    result: dict[str, bool] = json.loads(out.stdout)
    return result


def test_import_package_does_not_import_compute() -> None:
    loaded = _imported_after("import apigee_psc")
    assert not loaded["google.cloud.compute_v1"]
    assert not loaded["grpc"] and not loaded["proto"]


def test_import_apigee_client_does_not_import_compute() -> None:
    loaded = _imported_after("from apigee_psc import ApigeeClient, diagnose, target_endpoint_xml, Schedule")
    assert not loaded["google.cloud.compute_v1"]


def test_all_is_sorted_and_unique() -> None:
    assert apigee_psc.__all__ == sorted(apigee_psc.__all__)
    assert len(set(apigee_psc.__all__)) == len(apigee_psc.__all__)


@pytest.mark.parametrize("name", apigee_psc.__all__)
def test_all_every_name_resolves(name: str) -> None:
    module = apigee_psc._LAZY.get(name)
    if module is not None and importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not written yet")
    assert getattr(apigee_psc, name) is not None


def test_lazy_table_matches_all() -> None:
    assert set(apigee_psc._LAZY) | {"__version__"} == set(apigee_psc.__all__)


def test_unknown_attribute_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        apigee_psc.no_such_name  # noqa: B018


def test_contract_error_classes_under_base() -> None:
    from apigee_psc import errors

    for name in (
        "ValidationError",
        "ApiError",
        "NotFound",
        "AlreadyExists",
        "PermissionDenied",
        "FailedPrecondition",
        "RateLimited",
        "ServerError",
        "OperationFailed",
        "WaitTimeout",
        "ConnectionNotAccepted",
    ):
        assert issubclass(getattr(errors, name), errors.ApigeePscError)
    assert set(errors.__all__) == {n for n in dir(errors) if n in errors.__all__}


def test_py_typed_shipped() -> None:
    assert (PACKAGE / "py.typed").is_file()
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'apigee_psc = ["py.typed"]' in pyproject


def test_version_single_source() -> None:
    from apigee_psc._version import __version__

    assert apigee_psc.__version__ == __version__
    assert f'version = "{__version__}"' in (ROOT / "pyproject.toml").read_text()


def _module_imports() -> dict[str, set[str]]:
    """Each module of the package and the modules of the package it imports when it runs
    (at the top or inside a function; imports under ``if TYPE_CHECKING:`` do not run)."""
    import ast

    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        typing_only = {
            id(sub)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for sub in ast.walk(node)
        }
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.Import):
                graph[name] |= {alias.name for alias in node.names if alias.name in modules}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                subs = {f"{node.module}.{a.name}" for a in node.names} & set(modules)
                graph[name] |= subs
                if len(subs) < len(node.names) and node.module in modules:
                    graph[name].add(node.module)
            graph[name].discard(name)
    return graph


def test_the_import_graph_has_no_cycle() -> None:
    """Imports only go downward (docs/architecture.md): no module imports, directly or through
    others, a module that imports it."""
    graph = _module_imports()
    assert graph.get("apigee_psc.southbound.engine")
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles: list[list[str]] = []

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []
