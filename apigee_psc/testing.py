"""pytest plugin: a running apigee-psc emulator for your tests.

Registered as the ``apigee_psc`` pytest11 entry point, so installing apigee-psc makes the
fixtures available everywhere::

    def test_connect(apigee_emulator):
        # APIGEE_PSC_EMULATOR_HOST points at the emulator; state was reset for this test
        apigee = ApigeeClient("my-organization")
        ...
        assert len(apigee_emulator.requests(method="POST")) == 5
        apigee_emulator.set_faults([{"api": "apigee", "status": 503, "count": 1}])

Fixtures:

``apigee_emulator_server`` (session)
    one :class:`~apigee_psc.emulator.EmulatorServer` on a free port for the whole session.
``apigee_emulator`` (function)
    the same server, reset before the test (organizations, config, faults, request log),
    with ``APIGEE_PSC_EMULATOR_HOST`` set to its ``host_port`` for the test.

ini options (``pytest.ini`` / ``[tool.pytest.ini_options]``): ``apigee_emulator_orgs``
(lines of ``NAME`` or ``NAME:peered``; default ``my-organization``) and
``apigee_emulator_op_seconds`` (default ``0``: operations are done at once).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from apigee_psc.emulator import EMULATOR_ENV, EmulatorServer

__all__ = ["apigee_emulator", "apigee_emulator_server", "pytest_addoption"]

_DEFAULT_ORGS = ["my-organization"]


def pytest_addoption(parser: pytest.Parser) -> None:
    """Declare the plugin's ini options."""
    parser.addini(
        "apigee_emulator_orgs",
        "Apigee organizations of the emulator (NAME or NAME:peered)",
        type="linelist",
        default=list(_DEFAULT_ORGS),
    )
    parser.addini("apigee_emulator_op_seconds", "how long emulated operations take (seconds)", default="0")


def _orgs(config: pytest.Config) -> list[str]:
    value = config.getini("apigee_emulator_orgs")
    orgs = [str(o).strip() for o in value if str(o).strip()] if isinstance(value, list) else []
    return orgs or list(_DEFAULT_ORGS)


@pytest.fixture(scope="session")
def apigee_emulator_server(pytestconfig: pytest.Config) -> Iterator[EmulatorServer]:
    """One emulator for the whole test session (use ``apigee_emulator`` in tests)."""
    op_seconds = float(pytestconfig.getini("apigee_emulator_op_seconds") or 0)
    server = EmulatorServer(orgs=_orgs(pytestconfig), op_seconds=op_seconds)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def apigee_emulator(
    apigee_emulator_server: EmulatorServer, pytestconfig: pytest.Config, monkeypatch: pytest.MonkeyPatch
) -> Iterator[EmulatorServer]:
    """The session's emulator, reset for this test, with ``APIGEE_PSC_EMULATOR_HOST`` set."""
    apigee_emulator_server.reset(_orgs(pytestconfig))
    monkeypatch.setenv(EMULATOR_ENV, apigee_emulator_server.host_port)
    yield apigee_emulator_server
