"""Real google-auth credentials over a real socket: the bearer token is sent, a 401 is survived,
and the token never shows in errors or debug logs."""

from __future__ import annotations

import logging
import traceback
from typing import Any

import pytest
from google.oauth2.credentials import Credentials

from apigee_psc import ApigeeClient, errors
from apigee_psc.emulator import EmulatorServer

TOKEN = "ya29.a0-very-secret-access-token"


def _client(server: EmulatorServer, **options: Any) -> ApigeeClient:
    return ApigeeClient("my-organization", credentials=Credentials(TOKEN), endpoint=server.url, **options)


def test_user_credentials_reach_the_emulator(apigee_emulator: EmulatorServer) -> None:
    org = _client(apigee_emulator).get_organization()
    assert org.name == "my-organization"


def test_token_expiry_401_is_retried_once(apigee_emulator: EmulatorServer) -> None:
    apigee_emulator.set_faults([{"api": "apigee", "status": 401, "count": 1}])
    assert _client(apigee_emulator).get_organization().apigee_project_id
    assert [r["status"] for r in apigee_emulator.requests(api="apigee")] == [401, 200]


def test_persistent_401_raises_unauthenticated(apigee_emulator: EmulatorServer) -> None:
    apigee_emulator.set_faults([{"api": "apigee", "status": 401}])
    with pytest.raises(errors.Unauthenticated):
        _client(apigee_emulator).get_organization()


def test_token_never_in_errors_or_debug_logs(apigee_emulator: EmulatorServer, caplog: pytest.LogCaptureFixture) -> None:
    apigee_emulator.set_faults(
        [{"api": "apigee", "status": 403, "message": f"denied for Bearer {TOKEN} (token {TOKEN})"}]
    )
    caplog.set_level(logging.DEBUG)
    with pytest.raises(errors.PermissionDenied) as caught:
        _client(apigee_emulator).get_organization()
    rendered = "".join(traceback.format_exception(caught.value))
    for text in (str(caught.value), repr(caught.value), rendered, caplog.text):
        assert TOKEN not in text
    assert "<redacted>" in str(caught.value)


def test_quota_project_header_is_sent(apigee_emulator: EmulatorServer) -> None:
    client = _client(apigee_emulator, quota_project_id="billing-project-1")
    assert client.transport.session.headers["x-goog-user-project"] == "billing-project-1"
    assert client.get_organization().name == "my-organization"


def test_token_refresh_with_the_token_endpoint_unreachable_is_a_network_error(
    apigee_emulator: EmulatorServer,
) -> None:
    import socket

    from apigee_psc import RetryPolicy

    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    expired = Credentials(
        None,
        refresh_token="1//refresh-secret",
        client_id="id",
        client_secret="client-secret",
        token_uri=f"http://127.0.0.1:{port}/token",
    )
    client = ApigeeClient(
        "my-organization",
        credentials=expired,
        endpoint=apigee_emulator.url,
        retry=RetryPolicy(initial=0.01, maximum=0.02, deadline=0.2),
    )
    with pytest.raises(errors.TransportError) as info:
        client.get_organization()
    text = str(info.value)
    assert "could not reach the token endpoint" in text
    assert "refresh-secret" not in text and "client-secret" not in text
    assert apigee_emulator.requests(api="apigee") == []  # nothing was sent without a token
