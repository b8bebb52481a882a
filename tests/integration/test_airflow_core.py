"""The Airflow provider's parts that need no Airflow, in the main venv (no ``airflow`` import):
connection fields to client options, spec loading, waits, passes that stop at the first long
wait, and trigger events back to the library's errors, against a real emulator."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from apigee_psc import errors
from apigee_psc.airflow import _core
from apigee_psc.airflow._core import Wait
from apigee_psc.emulator import EmulatorServer
from apigee_psc.emulator.control import seed_producer_for
from apigee_psc.emulator.producer import load_specs
from apigee_psc.southbound import Southbound, SouthboundSpec
from apigee_psc.testing import inventory

ROOT = Path(__file__).resolve().parents[2]
ORDERS = ROOT / "examples" / "airflow" / "specs" / "orders.yaml"


@pytest.fixture(scope="module")
def slow_emulator() -> Iterator[EmulatorServer]:
    """An emulator whose operations take 0.5 s, with the Airflow example's producer side."""
    server = EmulatorServer(op_seconds=0.5)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def emulator(slow_emulator: EmulatorServer) -> EmulatorServer:
    slow_emulator.reset()
    seed_producer_for(slow_emulator.world, load_specs([ORDERS]))
    return slow_emulator


def _rsa_key_info() -> dict[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return {
        "type": "service_account",
        "project_id": "my-project",
        "private_key_id": "1",
        "private_key": pem,
        "client_email": "provisioner@my-project.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }


# -- connection ----------------------------------------------------------------------


def test_resolve_connection_emulator_endpoint_resolves_no_credentials() -> None:
    def no_adc(**_: Any) -> tuple[Any, Any]:
        raise AssertionError("ADC must not be looked up for an emulator")

    options = _core.resolve_connection(
        {"endpoint": "http://127.0.0.1:8089", "quota_project_id": "billing-1", "project": "my-project"},
        default_credentials=no_adc,
    )
    assert options == _core.ConnectionOptions(None, "billing-1", "http://127.0.0.1:8089", "my-project")
    assert options.client_options() == {
        "credentials": None,
        "quota_project_id": "billing-1",
        "endpoint": "http://127.0.0.1:8089",
    }


def test_resolve_connection_keyfile_dict_gives_service_account_credentials() -> None:
    from google.oauth2 import service_account

    info = _rsa_key_info()
    extras = {"extra__google_cloud_platform__keyfile_dict": json.dumps(info), "scope": "a,b"}
    options = _core.resolve_connection(extras)
    assert isinstance(options.credentials, service_account.Credentials)
    assert options.credentials.service_account_email == info["client_email"]
    assert options.credentials._scopes == ["a", "b"]


def test_resolve_connection_key_path_and_impersonation_chain(tmp_path: Path) -> None:
    from google.auth import impersonated_credentials

    key = tmp_path / "key.json"
    key.write_text(json.dumps(_rsa_key_info()))
    chain = "first@p.iam.gserviceaccount.com, target@p.iam.gserviceaccount.com"
    options = _core.resolve_connection({"key_path": str(key)}, impersonation_chain=chain)
    creds = options.credentials
    assert isinstance(creds, impersonated_credentials.Credentials)
    assert creds._target_principal == "target@p.iam.gserviceaccount.com"
    assert creds._delegates == ["first@p.iam.gserviceaccount.com"]


def test_resolve_connection_impersonation_from_adc_uses_the_connection_chain() -> None:
    from google.auth import credentials as ga_credentials
    from google.auth import impersonated_credentials

    seen: dict[str, Any] = {}

    def adc(**kwargs: Any) -> tuple[Any, Any]:
        seen.update(kwargs)
        return ga_credentials.AnonymousCredentials(), None

    options = _core.resolve_connection(
        {"impersonation_chain": ["only@p.iam.gserviceaccount.com"]}, default_credentials=adc
    )
    assert seen == {"scopes": [_core.CLOUD_PLATFORM_SCOPE]}
    assert isinstance(options.credentials, impersonated_credentials.Credentials)
    assert options.credentials._target_principal == "only@p.iam.gserviceaccount.com"


def test_resolve_connection_without_key_or_chain_leaves_adc_to_the_library() -> None:
    def no_adc(**_: Any) -> tuple[Any, Any]:
        raise AssertionError("the library resolves ADC itself, lazily")

    assert _core.resolve_connection({}, default_credentials=no_adc).credentials is None


@pytest.mark.parametrize(
    ("extras", "chain", "field"),
    [
        ({"key_path": "/k.json", "keyfile_dict": "{}"}, None, "key_path"),
        ({"keyfile_dict": "not json"}, None, "keyfile_dict"),
        ({"keyfile_dict": "[1]"}, None, "keyfile_dict"),
        ({"key_path": "/etc/passwd"}, None, "key_path"),
        ({"key_path": "/nonexistent/key.json"}, None, "key_path"),
        ({"endpoint": "http://127.0.0.1:8089", "key_path": "/k.json"}, None, "endpoint"),
        ({"endpoint": 8089}, None, "endpoint"),
        ({"quota_project_id": 5}, None, "quota_project_id"),
        ({}, "not-an-email", "impersonation_chain"),
        ({}, ["ok@p.iam.gserviceaccount.com", ""], "impersonation_chain"),
    ],
)
def test_resolve_connection_bad_fields_raise_validation_error(extras: Any, chain: Any, field: str) -> None:
    with pytest.raises(errors.ValidationError) as caught:
        _core.resolve_connection(extras, impersonation_chain=chain)
    assert caught.value.field == field
    assert "PRIVATE KEY" not in str(caught.value)


# -- spec and waits ------------------------------------------------------------------


def test_load_spec_accepts_file_text_dict_and_spec() -> None:
    from_file = _core.load_spec(str(ORDERS))
    text = ORDERS.read_text()
    from_text = _core.load_spec(text, source="orders.yaml")
    from_dict = _core.load_spec(from_file.to_dict())
    assert from_file == from_text == from_dict
    assert from_text.source == "orders.yaml"
    assert _core.load_spec(from_file) is from_file


@pytest.mark.parametrize("value", ["missing.yaml", "- a list", "", 42, None, "organization: [broken"])
def test_load_spec_bad_input_raises_validation_error(value: object) -> None:
    with pytest.raises(errors.ValidationError):
        _core.load_spec(value)


def test_wait_round_trips_through_json_and_refuses_unknown_kinds() -> None:
    wait = Wait("operation", "organizations/o/operations/1")
    assert Wait.from_dict(json.loads(json.dumps(wait.to_dict()))) == wait
    assert wait.describe() == "operation to finish (organizations/o/operations/1)"
    with pytest.raises(errors.ValidationError):
        Wait("forever", "x")
    with pytest.raises(errors.ValidationError):
        Wait.from_dict({"kind": "operation"})


def test_merge_destroy_reports_keeps_earlier_outcomes() -> None:
    first = {"entities": [
        {"outcome": "deleted", "kind": "DnsRecord", "name": "r", "reason": ""},
        {"outcome": "deleting", "kind": "Firewall", "name": "f", "reason": ""},
        {"outcome": "kept", "kind": "ForwardingRule", "name": "fr", "reason": "referenced"},
    ]}
    last = {
        "spec": "s.yaml",
        "organization": "o",
        "entities": [
            {"outcome": "deleted", "kind": "NatSubnet", "name": "n", "reason": ""},
            {"outcome": "kept", "kind": "ForwardingRule", "name": "fr", "reason": "referenced"},
            {"outcome": "absent", "kind": "DnsRecord", "name": "r", "reason": "not found"},
            {"outcome": "absent", "kind": "Firewall", "name": "f", "reason": "not found"},
            {"outcome": "absent", "kind": "DnsZone", "name": "z", "reason": "not found"},
        ],
    }
    merged = _core.merge_destroy_reports([first], last)
    outcomes = {(e["kind"], e["outcome"]) for e in merged["entities"]}
    assert outcomes == {
        ("DnsRecord", "deleted"), ("Firewall", "deleted"), ("NatSubnet", "deleted"),
        ("ForwardingRule", "kept"), ("DnsZone", "absent"),
    }
    assert merged["summary"] == {"deleted": 3, "kept": 1, "absent": 1}
    assert merged["spec"] == "s.yaml"


# -- passes and events against the emulator -------------------------------------------


def _southbound(server: EmulatorServer, spec: SouthboundSpec | None = None) -> Southbound:
    return Southbound(spec or SouthboundSpec.from_yaml(ORDERS), endpoint=server.url, timeout=30)


def _settle(apigee: Any, waits: list[Wait]) -> None:
    """What the trigger does, here synchronously: poll each wait until it succeeds."""
    for wait in waits:
        for _ in range(100):
            if _core.poll(apigee, wait, 0.0)[0] == "success":
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"{wait} never succeeded")


def test_apply_pass_stops_at_long_waits_and_converges_without_duplicates(emulator: EmulatorServer) -> None:
    southbound = _southbound(emulator)
    apigee = southbound.apigee
    seen_waits: list[Wait] = []
    for _ in range(8):
        result = _core.apply_pass(southbound, defer=True)
        if result.finished:
            break
        seen_waits += result.waits
        _settle(apigee, result.waits)
    assert result.finished and result.report is not None
    assert result.report["state"] == "in_sync"
    kinds = {w.kind for w in seen_waits}
    # The endpoint attachment's operation and connection were handed over (the DNS zone's too,
    # unless its 0.5 s operation finished before the pass stopped).
    assert {"operation", "attachment_ready"} <= kinds <= {"operation", "attachment_ready", "dns_zone_active"}
    assert all(count == 1 for count in inventory(emulator).values())


def test_apply_pass_without_defer_waits_in_the_worker(emulator: EmulatorServer) -> None:
    result = _core.apply_pass(_southbound(emulator), defer=False)
    assert result.finished and result.waits == []
    assert result.report is not None and result.report["state"] == "in_sync"


def test_destroy_pass_defers_on_deletes_then_finishes(emulator: EmulatorServer) -> None:
    southbound = _southbound(emulator)
    _core.apply_pass(southbound, defer=False)
    partials: list[dict[str, Any]] = []
    for _ in range(8):
        result = _core.destroy_pass(southbound, defer=True)
        if result.finished:
            break
        assert result.waits and result.partial is not None
        partials.append(result.partial)
        _settle(southbound.apigee, result.waits)
    assert result.report is not None
    assert {w for p in partials for w in [e["kind"] for e in p["entities"]]} >= {"EndpointAttachment"}
    merged = _core.merge_destroy_reports(partials, result.report)
    deleted = {e["kind"] for e in merged["entities"] if e["outcome"] == "deleted"}
    assert {"EndpointAttachment", "DnsZone", "ServiceAttachment", "NatSubnet", "Firewall", "DnsRecord"} <= deleted
    assert not any("orders" in name for (_kind, name), n in inventory(emulator).items() if n)


def test_error_for_event_pending_connection_carries_the_diagnosis(emulator: EmulatorServer) -> None:
    emulator.configure(connection_states={"retail-org/ea-orders": "PENDING"})
    southbound = _southbound(emulator)
    result = _core.apply_pass(southbound, defer=True)
    while not any(w.kind == "attachment_ready" for w in result.waits):
        _settle(southbound.apigee, result.waits)
        result = _core.apply_pass(southbound, defer=True)
    ready = Wait("attachment_ready", "ea-orders")
    for _ in range(100):
        outcome, state = _core.poll(southbound.apigee, ready, 0.0)
        if state.startswith("ACTIVE"):
            break
        time.sleep(0.1)
    assert (outcome, state) == (None, "ACTIVE/PENDING")
    event = {"status": "timeout", "wait": ready.to_dict(), "state": state, "elapsed": 5.0}
    error = _core.error_for_event(southbound.apigee, event, organization="retail-org")
    assert isinstance(error, errors.ConnectionNotAccepted)
    tenant = southbound.apigee.apigee_project_id()
    assert error.diagnosis.state == "PENDING"
    sa = "projects/retail-prod/regions/us-west1/serviceAttachments/sa-orders"
    assert f"add '{tenant}' to the accept list of {sa}" in str(error)


def test_error_for_event_operation_timeout_and_failure(emulator: EmulatorServer) -> None:
    southbound = _southbound(emulator)
    apigee = southbound.apigee
    _core.apply_pass(southbound, defer=False)
    emulator.set_faults(
        {
            "operations": [
                {"kind": "apigee.dnsZones.delete", "outcome": "fail", "code": 13},
                {"kind": "apigee.endpointAttachments.delete", "outcome": "never"},
            ]
        }
    )
    failing = apigee.dns_zones.delete("retail-orders")
    while not apigee.operations.get(failing.name).done:
        time.sleep(0.1)
    event = {"status": "failed", "wait": Wait("operation", failing.name).to_dict(), "state": "FINISHED"}
    failed = _core.error_for_event(apigee, event, organization="retail-org")
    assert isinstance(failed, errors.OperationFailed)
    assert failed.operation == failing.name
    stuck = apigee.endpoint_attachments.delete("ea-orders")
    event = {"status": "timeout", "wait": Wait("operation", stuck.name).to_dict(), "state": "IN_PROGRESS"}
    pending = _core.error_for_event(apigee, event, organization="retail-org")
    assert isinstance(pending, errors.WaitTimeout)
    assert pending.resume == f"ApigeeClient('retail-org').operations.wait({stuck.name!r})"
    event = {"status": "error", "type": "PermissionDenied", "message": "no"}
    error = _core.error_for_event(apigee, event, organization="o")
    assert isinstance(error, errors.PermissionDenied) and "no" in str(error)


# -- lightness and registration --------------------------------------------------------


def test_import_apigee_psc_and_the_provider_package_import_no_airflow() -> None:
    code = (
        "import sys, apigee_psc, apigee_psc.airflow, apigee_psc.airflow._core;"
        "from apigee_psc.airflow.get_provider_info import get_provider_info;"
        "info = get_provider_info();"
        "assert not [m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')], 'airflow imported';"
        "print(info['package-name'], info['connection-types'][0]['connection-type'])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["apigee-psc", "apigee_psc"]


def test_provider_entry_point_is_registered() -> None:
    from importlib.metadata import entry_points

    found = [ep for ep in entry_points(group="apache_airflow_provider") if ep.value.startswith("apigee_psc.")]
    assert [ep.value for ep in found] == ["apigee_psc.airflow.get_provider_info:get_provider_info"]
    info = found[0].load()()
    modules = {m for key in ("hooks", "operators", "sensors", "triggers") for m in info[key][0]["python-modules"]}
    assert all((ROOT / (m.replace(".", "/") + ".py")).is_file() for m in modules)
