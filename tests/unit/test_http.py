"""The transport: endpoints, headers, retries, Retry-After, deadlines, the org lock, pagination."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable
from typing import Any

import pytest
import requests
import responses
from conftest import ENDPOINT, ORG_LOCK, FakeClock, organization, rpc_error
from google.auth.credentials import AnonymousCredentials
from responses import matchers

from apigee_psc import _answers, errors
from apigee_psc._endpoints import API_ROOTS, EMULATOR_ENV, resolve_endpoint
from apigee_psc._http import Transport
from apigee_psc._retry import (
    NO_RETRY,
    Backoff,
    RereadPolicy,
    RetryEvent,
    RetryPolicy,
    is_org_lock,
    lock_holder,
    retry_call,
)
from apigee_psc._version import __version__

ORG_URL = f"{ENDPOINT}v1/organizations/my-organization"
ORG_PATH = "v1/organizations/my-organization"
LIST_URL = f"{ORG_URL}/endpointAttachments"


# -- endpoint resolution ---------------------------------------------------------------------------


def test_resolve_endpoint_default_is_google(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(EMULATOR_ENV, raising=False)
    assert resolve_endpoint("apigee") == ("https://apigee.googleapis.com/", False)
    assert resolve_endpoint("compute") == (API_ROOTS["compute"], False)


def test_resolve_endpoint_explicit_endpoint_wins_over_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(EMULATOR_ENV, "127.0.0.1:8089")
    assert resolve_endpoint("apigee", "https://apigee.example.test") == ("https://apigee.example.test/", False)


def test_resolve_endpoint_keeps_path_prefix() -> None:
    assert resolve_endpoint("apigee", "https://proxy.example.test/apigee")[0] == "https://proxy.example.test/apigee/"


@pytest.mark.parametrize(
    ("env", "root"),
    [
        ("127.0.0.1:8089", "http://127.0.0.1:8089/"),
        ("localhost:8089", "http://localhost:8089/"),
        ("[::1]:8089", "http://[::1]:8089/"),
        ("http://127.0.0.2:9000", "http://127.0.0.2:9000/"),
    ],
)
def test_resolve_endpoint_emulator_env_loopback_accepted(monkeypatch: pytest.MonkeyPatch, env: str, root: str) -> None:
    monkeypatch.setenv(EMULATOR_ENV, env)
    assert resolve_endpoint("apigee") == (root, True)


@pytest.mark.parametrize(
    "endpoint",
    ["http://apigee.googleapis.com/", "http://compute.GoogleAPIs.com:80", "ftp://localhost/", "https://"],
)
def test_resolve_endpoint_plain_http_google_or_bad_url_refused(endpoint: str) -> None:
    with pytest.raises(errors.ValidationError) as info:
        resolve_endpoint("apigee", endpoint)
    assert info.value.field == "endpoint"
    assert info.value.value == endpoint


def test_resolve_endpoint_emulator_env_non_loopback_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(EMULATOR_ENV, "emulator.example.test:8089")
    assert resolve_endpoint("apigee") == ("http://emulator.example.test:8089/", True)


@pytest.mark.parametrize(
    "endpoint",
    ["http://[::1]:8089/", "http://localhost/", "http://127.0.0.1:1/", "http://10.0.0.5:8089", "http://emu.ci:80/"],
)
def test_resolve_endpoint_plain_http_explicit_host_accepted_as_emulator(endpoint: str) -> None:
    root, emulator = resolve_endpoint("apigee", endpoint)
    assert root.startswith("http://") and emulator


def test_resolve_endpoint_unknown_api_refused() -> None:
    with pytest.raises(errors.ValidationError) as info:
        resolve_endpoint("bigquery")
    assert info.value.field == "api"


def test_transport_emulator_env_uses_anonymous_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(EMULATOR_ENV, "127.0.0.1:8089")

    def no_adc(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("ADC must not be looked up for the emulator")

    monkeypatch.setattr("google.auth.default", no_adc)
    transport = Transport("apigee")
    assert transport.is_emulator
    assert isinstance(transport.session.credentials, AnonymousCredentials)  # type: ignore[attr-defined]


def test_transport_url_absolute_path_kept(transport: Transport) -> None:
    assert transport.url("/v1/x") == f"{ENDPOINT}v1/x"
    assert transport.url("https://other.example.test/y") == "https://other.example.test/y"


# -- headers -----------------------------------------------------------------------------------------


def test_request_user_agent_names_library_and_version(rsps: responses.RequestsMock, transport: Transport) -> None:
    rsps.get(ORG_URL, json=organization())
    assert transport.request("GET", ORG_PATH)["apigeeProjectId"] == "x-tenant-project"
    headers = rsps.calls[0].request.headers
    assert headers["User-Agent"] == f"apigee-psc/{__version__}"
    assert "Authorization" not in headers  # anonymous


def test_request_quota_project_sent_as_user_project_header(rsps: responses.RequestsMock, clock: FakeClock) -> None:
    transport = Transport(
        "apigee",
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        endpoint=ENDPOINT,
        quota_project_id="billing-project",
        sleep=clock.sleep,
        clock=clock.now,
    )
    rsps.get(ORG_URL, json={})
    transport.request("GET", ORG_PATH)
    assert rsps.calls[0].request.headers["x-goog-user-project"] == "billing-project"


def test_request_json_body_and_params_sent(rsps: responses.RequestsMock, transport: Transport) -> None:
    rsps.post(
        f"{ORG_URL}/endpointAttachments",
        json={"name": "op"},
        match=[
            matchers.query_param_matcher({"endpointAttachmentId": "gkebackend"}),
            matchers.json_params_matcher({"location": "us-west1"}),
        ],
    )
    out = transport.request(
        "POST",
        f"{ORG_PATH}/endpointAttachments",
        params={"endpointAttachmentId": "gkebackend"},
        json={"location": "us-west1"},
    )
    assert out == {"name": "op"}


def test_request_empty_body_returns_empty_dict(rsps: responses.RequestsMock, transport: Transport) -> None:
    rsps.delete(ORG_URL, body=b"")
    assert transport.request("DELETE", ORG_PATH) == {}


@pytest.mark.parametrize("body", [b"<html>ok</html>", b"[1, 2]"])
def test_request_success_not_json_object_raises_server_error(
    rsps: responses.RequestsMock, transport: Transport, body: bytes
) -> None:
    rsps.get(ORG_URL, body=body, status=200)
    with pytest.raises(errors.ServerError):
        transport.request("GET", ORG_PATH, retry=NO_RETRY)


# -- retries -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_request_transient_status_retried_until_success(
    rsps: responses.RequestsMock, transport: Transport, clock: FakeClock, status: int, method: str
) -> None:
    rsps.add(
        method,
        ORG_URL,
        status=status,
        json=rpc_error(status, "UNAVAILABLE" if status != 429 else "RESOURCE_EXHAUSTED", "x"),
    )
    rsps.add(method, ORG_URL, status=status, body=b"oops")
    rsps.add(method, ORG_URL, json={"ok": True})
    assert transport.request(method, ORG_PATH) == {"ok": True}
    assert len(rsps.calls) == 3
    assert len(clock.sleeps) == 2


def test_request_connection_error_retried_until_success(
    rsps: responses.RequestsMock, transport: Transport, clock: FakeClock
) -> None:
    rsps.get(ORG_URL, body=requests.ConnectionError("connection reset by peer"))
    rsps.get(ORG_URL, body=requests.exceptions.ReadTimeout("read timed out"))
    rsps.get(ORG_URL, json={"ok": True})
    assert transport.request("GET", ORG_PATH) == {"ok": True}
    assert len(rsps.calls) == 3


@pytest.mark.parametrize(
    ("status", "rpc", "cls"),
    [
        (400, "INVALID_ARGUMENT", errors.BadRequest),
        (403, "PERMISSION_DENIED", errors.PermissionDenied),
        (404, "NOT_FOUND", errors.NotFound),
        (409, "ALREADY_EXISTS", errors.AlreadyExists),
        (409, "ABORTED", errors.Conflict),
        (501, "UNIMPLEMENTED", errors.ServerError),
    ],
)
def test_request_permanent_error_not_retried(
    rsps: responses.RequestsMock,
    transport: Transport,
    clock: FakeClock,
    status: int,
    rpc: str,
    cls: type[errors.ApiError],
) -> None:
    rsps.post(LIST_URL, status=status, json=rpc_error(status, rpc, "no"))
    with pytest.raises(cls):
        transport.request("POST", f"{ORG_PATH}/endpointAttachments")
    assert len(rsps.calls) == 1
    assert clock.sleeps == []


def test_request_quota_exhausted_429_not_retried(rsps: responses.RequestsMock, transport: Transport) -> None:
    rsps.get(ORG_URL, status=429, json=rpc_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded", reason="QUOTA_EXCEEDED"))
    with pytest.raises(errors.RateLimited) as info:
        transport.request("GET", ORG_PATH)
    assert info.value.quota_exhausted
    assert len(rsps.calls) == 1


def test_request_retry_after_honoured(rsps: responses.RequestsMock, transport: Transport, clock: FakeClock) -> None:
    rsps.get(ORG_URL, status=429, json=rpc_error(429, "RESOURCE_EXHAUSTED", "slow"), headers={"Retry-After": "7"})
    rsps.get(ORG_URL, status=503, json=rpc_error(503, "UNAVAILABLE", "busy"), headers={"Retry-After": "11"})
    rsps.get(ORG_URL, json={"ok": True})
    transport.request("GET", ORG_PATH)
    assert len(clock.sleeps) == 2
    assert clock.sleeps[0] >= 7
    assert clock.sleeps[1] >= 11


def test_request_retry_after_beyond_deadline_gives_up_at_once(
    rsps: responses.RequestsMock, transport: Transport, clock: FakeClock
) -> None:
    rsps.get(ORG_URL, status=429, json=rpc_error(429, "RESOURCE_EXHAUSTED", "later"), headers={"Retry-After": "100"})
    with pytest.raises(errors.RateLimited) as info:
        transport.request("GET", ORG_PATH, retry=RetryPolicy(deadline=30.0))
    assert info.value.retry_after == 100
    assert len(rsps.calls) == 1
    assert clock.elapsed == 0


def test_request_deadline_bounds_loop_and_raises_last_error(
    rsps: responses.RequestsMock, transport: Transport, clock: FakeClock
) -> None:
    attempts: list[int] = []

    def answer(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        attempts.append(1)
        return 503, {}, json.dumps(rpc_error(503, "UNAVAILABLE", f"attempt {len(attempts)}"))

    rsps.add_callback(responses.GET, ORG_URL, callback=answer)
    with pytest.raises(errors.ServerError) as info:
        transport.request("GET", ORG_PATH, retry=RetryPolicy(initial=1.0, multiplier=2.0, maximum=8.0, deadline=60.0))
    assert clock.elapsed <= 60.0 + 1e-9
    assert len(attempts) > 3
    assert info.value.message == f"attempt {len(attempts)}"  # the last error, not the first


def test_request_backoff_full_jitter_within_exponential_cap(rsps: responses.RequestsMock, clock: FakeClock) -> None:
    policy = RetryPolicy(initial=1.0, multiplier=2.0, maximum=8.0, deadline=1000.0)
    transport = Transport(
        "apigee",
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        endpoint=ENDPOINT,
        retry=policy,
        sleep=clock.sleep,
        clock=clock.now,
        rng=random.Random(1),
    )
    for _ in range(8):
        rsps.get(ORG_URL, status=500, json=rpc_error(500, "INTERNAL", "x"))
    rsps.get(ORG_URL, json={})
    transport.request("GET", ORG_PATH)
    caps = [min(8.0, 2.0**n) for n in range(8)]
    assert len(clock.sleeps) == 8
    assert all(0 <= s <= cap for s, cap in zip(clock.sleeps, caps, strict=True))
    assert len(set(clock.sleeps)) == 8  # jittered, not fixed


def test_request_no_retry_policy_fails_fast(rsps: responses.RequestsMock, transport: Transport) -> None:
    rsps.get(ORG_URL, status=503, json=rpc_error(503, "UNAVAILABLE", "x"))
    with pytest.raises(errors.ServerError):
        transport.request("GET", ORG_PATH, retry=NO_RETRY)
    assert len(rsps.calls) == 1


def test_request_retry_logged_with_step_prefix(
    rsps: responses.RequestsMock, transport: Transport, caplog: pytest.LogCaptureFixture
) -> None:
    rsps.get(ORG_URL, status=503, json=rpc_error(503, "UNAVAILABLE", "busy"))
    rsps.get(ORG_URL, json={})
    with caplog.at_level(logging.INFO, logger="apigee_psc"):
        transport.request("GET", ORG_PATH)
    assert any(r.getMessage().startswith("retry: GET ") and "503 UNAVAILABLE" in r.getMessage() for r in caplog.records)


# -- the organization lock ------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_request_org_lock_waited_out_on_mutation(
    rsps: responses.RequestsMock, transport: Transport, clock: FakeClock, method: str
) -> None:
    for _ in range(4):
        rsps.add(method, LIST_URL, status=400, json=ORG_LOCK)
    rsps.add(method, LIST_URL, json={"name": "op"})
    assert transport.request(method, f"{ORG_PATH}/endpointAttachments") == {"name": "op"}
    assert len(rsps.calls) == 5
    assert len(clock.sleeps) == 4


def test_request_org_lock_on_get_raised(rsps: responses.RequestsMock, transport: Transport) -> None:
    rsps.get(LIST_URL, status=400, json=ORG_LOCK)
    with pytest.raises(errors.BadRequest) as info:
        transport.request("GET", f"{ORG_PATH}/endpointAttachments")
    assert is_org_lock(info.value)
    assert len(rsps.calls) == 1


def test_request_org_lock_bounded_by_lock_deadline(
    rsps: responses.RequestsMock, transport: Transport, clock: FakeClock
) -> None:
    rsps.post(LIST_URL, status=400, json=ORG_LOCK)
    policy = RetryPolicy(initial=1.0, multiplier=2.0, maximum=10.0, deadline=5.0, lock_deadline=120.0)
    with pytest.raises(errors.LockTimeout) as info:
        transport.request("POST", f"{ORG_PATH}/endpointAttachments", retry=policy)
    assert 5.0 < clock.elapsed <= 120.0 + 1e-9  # the lock has its own, longer deadline
    assert len(rsps.calls) > 5
    assert info.value.holder == "organizations/my-organization/operations/11111111"
    assert isinstance(info.value.error, errors.BadRequest) and isinstance(info.value, errors.WaitTimeout)
    assert "waiting for the Apigee organization lock (held by operation organizations/my-organization/" in str(
        info.value
    )


def test_request_org_lock_stops_at_the_callers_deadline_and_reports_progress(
    rsps: responses.RequestsMock, transport: Transport, clock: FakeClock
) -> None:
    rsps.post(LIST_URL, status=400, json=ORG_LOCK)
    events: list[RetryEvent] = []
    with pytest.raises(errors.LockTimeout) as info:
        transport.request("POST", f"{ORG_PATH}/endpointAttachments", deadline=10.0, on_retry=events.append)
    assert clock.elapsed <= 10.0 + 1e-9 and clock.elapsed >= 9.0
    assert info.value.elapsed <= 10.0 + 1e-9
    assert events and {e.cause for e in events} == {"organization_lock"}
    assert events[0].holder == "organizations/my-organization/operations/11111111"
    assert (
        events[-1]
        .describe()
        .startswith("waiting on the organization lock held by organizations/my-organization/operations/11111111")
    )
    assert all(e.remaining <= 10.0 for e in events)
    assert len(events) == len(rsps.calls) - 1  # one event per retry that really happened


def test_request_deadline_bounds_transient_retries_too(
    rsps: responses.RequestsMock, transport: Transport, clock: FakeClock
) -> None:
    rsps.get(ORG_URL, status=503, json=rpc_error(503, "UNAVAILABLE", "down"))
    with pytest.raises(errors.ServerError):
        transport.request("GET", ORG_PATH, deadline=3.0)
    assert clock.elapsed <= 3.0 + 1e-9


def test_transport_on_retry_hook_hears_every_retry(rsps: responses.RequestsMock, clock: FakeClock) -> None:
    events: list[RetryEvent] = []
    transport = Transport(
        "apigee",
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        endpoint=ENDPOINT,
        sleep=clock.sleep,
        clock=clock.now,
        on_retry=events.append,
    )
    rsps.get(ORG_URL, status=503, json=rpc_error(503, "UNAVAILABLE", "down"))
    rsps.get(ORG_URL, json={})
    transport.request("GET", ORG_PATH)
    assert [(e.cause, e.attempt) for e in events] == [("transient", 1)]
    assert events[0].what == f"GET {ORG_URL}"


@pytest.mark.parametrize("reason,status", [("operationInProgress", 409), ("resourceNotReady", 400)])
def test_request_compute_busy_answers_waited_out_on_mutation(
    rsps: responses.RequestsMock, transport: Transport, clock: FakeClock, reason: str, status: int
) -> None:
    busy = {
        "error": {
            "code": status,
            "message": "The resource 'projects/p/regions/r/serviceAttachments/sa' is being changed by operation "
            "'operation-123' (patch); retry when that operation is DONE.",
            "errors": [{"domain": "global", "reason": reason, "message": "busy"}],
        }
    }
    rsps.delete(LIST_URL, status=status, json=busy)
    rsps.delete(LIST_URL, status=status, json=busy)
    rsps.delete(LIST_URL, json={"name": "op"})
    events: list[RetryEvent] = []
    assert transport.request("DELETE", f"{ORG_PATH}/endpointAttachments", on_retry=events.append) == {"name": "op"}
    assert [e.cause for e in events] == ["resource_busy", "resource_busy"]
    assert events[0].holder == "operation-123"


def test_request_compute_busy_on_get_not_retried(rsps: responses.RequestsMock, transport: Transport) -> None:
    busy = {"error": {"code": 409, "message": "busy", "errors": [{"reason": "operationInProgress"}]}}
    rsps.get(LIST_URL, status=409, json=busy)
    with pytest.raises(errors.Conflict):
        transport.request("GET", f"{ORG_PATH}/endpointAttachments")
    assert len(rsps.calls) == 1


def test_is_org_lock_ignores_other_conflicts() -> None:
    aborted = _answers.error_from_response(
        409,
        {"error": {"code": 409, "status": "ABORTED", "message": "concurrent policy changes"}},
        method="POST",
        url="u",
    )
    assert not is_org_lock(aborted)


# -- errors that cannot heal, and unreachable endpoints ---------------------------------------------


def test_request_invalid_header_value_is_validation_error_not_retried(
    rsps: responses.RequestsMock, transport: Transport, clock: FakeClock
) -> None:
    with pytest.raises(errors.ValidationError) as info:
        transport.request("GET", ORG_PATH, headers={"x-custom": "bad\nvalue"})
    assert "InvalidHeader" in str(info.value)
    assert len(rsps.calls) == 0 and clock.sleeps == []


@pytest.mark.parametrize("quota", ["bad project!", "x\ny", ""])
def test_transport_malformed_quota_project_refused_before_any_call(quota: str) -> None:
    with pytest.raises(errors.ValidationError) as info:
        Transport("apigee", endpoint=ENDPOINT, quota_project_id=quota)
    assert info.value.field == "quota_project_id"


def test_request_connection_refused_on_explicit_endpoint_warns_while_retrying(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    transport = Transport(
        "apigee",
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        endpoint="http://127.0.0.1:9/",
        retry=RetryPolicy(deadline=5.0),
        sleep=clock.sleep,
        clock=clock.now,
    )
    with caplog.at_level(logging.WARNING, logger="apigee_psc"), pytest.raises(errors.TransportError):
        transport.request("GET", ORG_PATH)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # once per call, not once per retry
    text = warnings[0].getMessage()
    assert "cannot reach http://127.0.0.1:9/ (set by endpoint=)" in text and "retrying" in text
    assert len(clock.sleeps) >= 2


def test_request_connection_refused_names_the_emulator_variable(
    clock: FakeClock, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(EMULATOR_ENV, "127.0.0.1:9")
    transport = Transport("apigee", retry=RetryPolicy(deadline=2.0), sleep=clock.sleep, clock=clock.now)
    with caplog.at_level(logging.WARNING, logger="apigee_psc"), pytest.raises(errors.TransportError):
        transport.request("GET", ORG_PATH)
    assert any(f"(set by {EMULATOR_ENV})" in r.getMessage() for r in caplog.records)


def test_token_refresh_network_unreachable_is_transport_error_that_says_so(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    import google.auth.exceptions
    from google.oauth2.credentials import Credentials

    creds = Credentials(  # type: ignore[no-untyped-call]
        token=None,
        refresh_token="1//refresh-secret",
        client_id="id",
        client_secret="secret",
        token_uri="https://oauth2.example.test/token",
    )
    rsps.post("https://oauth2.example.test/token", body=requests.exceptions.ConnectionError("Network is unreachable"))
    transport = Transport(
        "apigee",
        credentials=creds,
        endpoint=ENDPOINT,
        retry=RetryPolicy(deadline=2.0),
        sleep=clock.sleep,
        clock=clock.now,
    )
    with pytest.raises(errors.TransportError) as info:
        transport.request("GET", ORG_PATH)
    text = str(info.value)
    assert "could not reach the token endpoint" in text and "Network is unreachable" in text
    assert "refresh-secret" not in text and "refresh-secret" not in repr(info.value)
    assert not isinstance(info.value, errors.Unauthenticated)
    assert len(clock.sleeps) >= 1  # a network error is transient: retried
    assert isinstance(info.value.__context__, google.auth.exceptions.TransportError)


def test_token_refresh_refused_stays_unauthenticated(rsps: responses.RequestsMock, clock: FakeClock) -> None:
    from google.oauth2.credentials import Credentials

    creds = Credentials(  # type: ignore[no-untyped-call]
        token=None, refresh_token="r", client_id="id", client_secret="s", token_uri="https://oauth2.example.test/token"
    )
    rsps.post("https://oauth2.example.test/token", status=400, json={"error": "invalid_grant"})
    transport = Transport("apigee", credentials=creds, endpoint=ENDPOINT, sleep=clock.sleep, clock=clock.now)
    with pytest.raises(errors.Unauthenticated) as info:
        transport.request("GET", ORG_PATH)
    assert "credentials could not be refreshed" in str(info.value)


def test_request_org_lock_wait_out_override_on_get(rsps: responses.RequestsMock, transport: Transport) -> None:
    rsps.get(LIST_URL, status=400, json=ORG_LOCK)
    rsps.get(LIST_URL, json={})
    assert transport.request("GET", f"{ORG_PATH}/endpointAttachments", wait_out_lock=True) == {}


def test_request_other_bad_request_on_post_not_retried(rsps: responses.RequestsMock, transport: Transport) -> None:
    rsps.post(LIST_URL, status=400, json=rpc_error(400, "INVALID_ARGUMENT", "serviceAttachment is malformed"))
    with pytest.raises(errors.BadRequest) as info:
        transport.request("POST", f"{ORG_PATH}/endpointAttachments")
    assert not is_org_lock(info.value)
    assert len(rsps.calls) == 1


def test_is_org_lock_compute_resource_not_ready_matches() -> None:
    err = _answers.error_from_response(
        400,
        json.dumps({"error": {"code": 400, "message": "not ready", "errors": [{"reason": "resourceNotReady"}]}}),
        method="POST",
        url="https://c.test/x",
    )
    assert is_org_lock(err)
    assert not is_org_lock(errors.NotFound("locked by another operation"))


def test_lock_holder_apigee_words_name_the_operation_id() -> None:
    """Apigee's text as quoted in GoogleCloudPlatform/magic-modules PR #18649."""
    err = _answers.error_from_response(
        400,
        json.dumps(
            {
                "error": {
                    "code": 400,
                    "status": "FAILED_PRECONDITION",
                    "message": "the resource is locked by another operation where endpoint attachment swp-euw2 is "
                    "currently being created for organization my-org by operation: "
                    "1c83301f-195f-4d20-b6f4-7d5c8f6b66e8",
                }
            }
        ),
        method="POST",
        url="https://apigee.test/v1/organizations/my-org/endpointAttachments",
    )
    assert is_org_lock(err)
    assert lock_holder(err) == "1c83301f-195f-4d20-b6f4-7d5c8f6b66e8"


# -- 401 -------------------------------------------------------------------------------------------------


def test_request_first_401_retried_once(rsps: responses.RequestsMock, transport: Transport) -> None:
    rsps.get(ORG_URL, status=401, json=rpc_error(401, "UNAUTHENTICATED", "token expired"))
    rsps.get(ORG_URL, json={"ok": True})
    assert transport.request("GET", ORG_PATH) == {"ok": True}
    assert len(rsps.calls) == 2


def test_request_second_401_raised_with_server_message(rsps: responses.RequestsMock, transport: Transport) -> None:
    rsps.get(
        ORG_URL, status=401, json=rpc_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials")
    )
    with pytest.raises(errors.Unauthenticated) as info:
        transport.request("GET", ORG_PATH)
    assert len(rsps.calls) == 2
    assert info.value.rpc_status == "UNAUTHENTICATED"
    assert "invalid authentication credentials" in info.value.message


# -- pagination ------------------------------------------------------------------------------------------


def _page(items: list[str], token: str | None) -> dict[str, Any]:
    page: dict[str, Any] = {"endpointAttachments": [{"name": n} for n in items]}
    if token:
        page["nextPageToken"] = token
    return page


def test_paginate_three_pages_yields_every_item(rsps: responses.RequestsMock, transport: Transport) -> None:
    rsps.get(LIST_URL, json=_page(["a", "b"], "t1"), match=[matchers.query_param_matcher({"pageSize": "2"})])
    rsps.get(
        LIST_URL,
        json=_page(["c", "d"], "t2"),
        match=[matchers.query_param_matcher({"pageSize": "2", "pageToken": "t1"})],
    )
    rsps.get(
        LIST_URL, json=_page(["e"], None), match=[matchers.query_param_matcher({"pageSize": "2", "pageToken": "t2"})]
    )
    items = list(transport.paginate(f"{ORG_PATH}/endpointAttachments", "endpointAttachments", page_size=2))
    assert [i["name"] for i in items] == ["a", "b", "c", "d", "e"]
    assert len(rsps.calls) == 3


def test_paginate_empty_page_and_missing_key_handled(rsps: responses.RequestsMock, transport: Transport) -> None:
    rsps.get(LIST_URL, json={"nextPageToken": "t1"}, match=[matchers.query_param_matcher({})])
    rsps.get(LIST_URL, json={}, match=[matchers.query_param_matcher({"pageToken": "t1"})])
    assert list(transport.paginate(f"{ORG_PATH}/endpointAttachments", "endpointAttachments")) == []


def test_paginate_repeated_token_stops(rsps: responses.RequestsMock, transport: Transport) -> None:
    rsps.get(LIST_URL, json=_page(["a"], "same"))
    items = list(transport.paginate(f"{ORG_PATH}/endpointAttachments", "endpointAttachments"))
    assert [i["name"] for i in items] == ["a", "a"]
    assert len(rsps.calls) == 2


def test_paginate_page_retried_on_transient_error(rsps: responses.RequestsMock, transport: Transport) -> None:
    rsps.get(LIST_URL, json=_page(["a"], "t1"), match=[matchers.query_param_matcher({})])
    rsps.get(
        LIST_URL,
        status=503,
        json=rpc_error(503, "UNAVAILABLE", "x"),
        match=[matchers.query_param_matcher({"pageToken": "t1"})],
    )
    rsps.get(LIST_URL, json=_page(["b"], None), match=[matchers.query_param_matcher({"pageToken": "t1"})])
    items = list(transport.paginate(f"{ORG_PATH}/endpointAttachments", "endpointAttachments"))
    assert [i["name"] for i in items] == ["a", "b"]


# -- retry_call directly ---------------------------------------------------------------------------------


def _script(*outcomes: BaseException | str) -> tuple[Callable[[], str], list[int]]:
    calls: list[int] = []

    def fn() -> str:
        outcome = outcomes[len(calls)]
        calls.append(1)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    return fn, calls


def _lock() -> errors.ApiError:
    return _answers.error_from_response(400, json.dumps(ORG_LOCK), method="POST", url="https://a.test/x")


def test_retry_call_transient_then_success_counts_attempts(clock: FakeClock) -> None:
    fn, calls = _script(errors.ServerError("a", status_code=503), errors.TransportError("b", status_code=0), "ok")
    out = retry_call(fn, policy=RetryPolicy(), wait_out_lock=False, what="t", sleep=clock.sleep, clock=clock.now)
    assert out == "ok"
    assert len(calls) == 3


def test_retry_call_lock_without_wait_out_raised(clock: FakeClock) -> None:
    fn, calls = _script(_lock(), "ok")
    with pytest.raises(errors.BadRequest):
        retry_call(fn, policy=RetryPolicy(), wait_out_lock=False, what="t", sleep=clock.sleep, clock=clock.now)
    assert len(calls) == 1


def test_retry_call_lock_with_wait_out_retried(clock: FakeClock) -> None:
    fn, calls = _script(_lock(), _lock(), "ok")
    assert (
        retry_call(fn, policy=RetryPolicy(), wait_out_lock=True, what="t", sleep=clock.sleep, clock=clock.now) == "ok"
    )
    assert len(calls) == 3


def test_retry_call_foreign_exception_not_retried(clock: FakeClock) -> None:
    fn, calls = _script(KeyError("bug"), "ok")
    with pytest.raises(KeyError):
        retry_call(fn, policy=RetryPolicy(), wait_out_lock=True, what="t", sleep=clock.sleep, clock=clock.now)
    assert len(calls) == 1


def test_retry_call_max_retry_after_caps_server_hint(clock: FakeClock) -> None:
    fn, _calls = _script(errors.RateLimited("slow", retry_after=500.0), "ok")
    policy = RetryPolicy(deadline=1000.0, max_retry_after=60.0)
    assert retry_call(fn, policy=policy, wait_out_lock=False, what="t", sleep=clock.sleep, clock=clock.now) == "ok"
    assert clock.sleeps and 60.0 <= clock.sleeps[0] <= 60.0 + 1e-9


def test_retry_call_deadline_zero_single_attempt(clock: FakeClock) -> None:
    fn, calls = _script(errors.ServerError("a", status_code=503), "ok")
    with pytest.raises(errors.ServerError):
        retry_call(fn, policy=NO_RETRY, wait_out_lock=True, what="t", sleep=clock.sleep, clock=clock.now)
    assert len(calls) == 1


# -- declared read-modify-write retries ------------------------------------------------------------


def _stale(exc: BaseException) -> bool:
    return isinstance(exc, errors.Conflict)


def test_reread_policy_redoes_the_cycle_until_it_succeeds(clock: FakeClock) -> None:
    policy = RereadPolicy("test: thing", _stale, attempts=5, initial=1.0, maximum=4.0, deadline=60.0)
    answers: list[Any] = [errors.Conflict("stale etag"), errors.Conflict("stale etag"), "written"]

    def cycle() -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return str(answer)

    assert policy.call(cycle, sleep=clock.sleep, clock=clock.now, rng=random.Random(1)) == "written"
    assert len(clock.sleeps) == 2
    assert 0.5 <= clock.sleeps[0] <= 1.0 and 1.0 <= clock.sleeps[1] <= 2.0


def test_reread_policy_stops_at_attempts_and_raises_the_stale_error(clock: FakeClock) -> None:
    policy = RereadPolicy("test: thing", _stale, attempts=3, deadline=60.0)
    calls: list[int] = []

    def cycle() -> str:
        calls.append(1)
        raise errors.Conflict("stale")

    with pytest.raises(errors.Conflict):
        policy.call(cycle, sleep=clock.sleep, clock=clock.now)
    assert len(calls) == 3


def test_reread_policy_stops_at_deadline_without_count(clock: FakeClock) -> None:
    policy = RereadPolicy("test: thing", _stale, attempts=None, initial=1.0, maximum=8.0, deadline=30.0)

    def cycle() -> str:
        raise errors.Conflict("stale")

    with pytest.raises(errors.Conflict):
        policy.call(cycle, sleep=clock.sleep, clock=clock.now)
    assert 25.0 <= clock.elapsed <= 30.0


def test_reread_policy_other_errors_are_not_retried(clock: FakeClock) -> None:
    policy = RereadPolicy("test: thing", _stale)
    calls: list[int] = []

    def cycle() -> str:
        calls.append(1)
        raise errors.PermissionDenied("no")

    with pytest.raises(errors.PermissionDenied):
        policy.call(cycle, sleep=clock.sleep, clock=clock.now)
    assert len(calls) == 1 and clock.sleeps == []


# -- loggers per layer; the token never logged -----------------------------------------------------


class _TokenCredentials(AnonymousCredentials):
    """Credentials that put a real-looking bearer token on every request."""

    def before_request(self, request: Any, method: Any, url: Any, headers: Any) -> None:
        headers["authorization"] = "Bearer ya29.a0-very-secret-token"


def test_loggers_are_per_layer_children_of_apigee_psc_and_never_show_the_token(
    rsps: responses.RequestsMock, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    transport = Transport(
        "apigee",
        credentials=_TokenCredentials(),  # type: ignore[no-untyped-call]
        endpoint=ENDPOINT,
        sleep=clock.sleep,
        clock=clock.now,
    )
    rsps.post(
        f"{ORG_URL}/endpointAttachments",
        status=400,
        json=rpc_error(400, "INVALID_ARGUMENT", "bad header Bearer ya29.a0-very-secret-token echoed"),
    )
    rsps.get(ORG_URL, status=503, json=rpc_error(503, "UNAVAILABLE", "down"))
    rsps.get(ORG_URL, json={})
    with caplog.at_level(logging.DEBUG):
        transport.request("GET", ORG_PATH)
        with pytest.raises(errors.BadRequest) as info:
            transport.request("POST", f"{ORG_PATH}/endpointAttachments")
    assert rsps.calls[0].request.headers["authorization"].startswith("Bearer ya29.")  # it was sent
    assert {r.name for r in caplog.records if r.name.startswith("apigee_psc")} == {"apigee_psc.http"}
    assert "very-secret-token" not in caplog.text
    assert "very-secret-token" not in str(info.value) and "very-secret-token" not in repr(info.value)


# -- a refused connection: seconds for an endpoint someone chose, the deadline for Google's -------


def _refused() -> requests.ConnectionError:
    """What requests raises when nothing listens: the chain ends in ConnectionRefusedError."""
    from urllib3.exceptions import MaxRetryError, NewConnectionError

    new = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")  # type: ignore[arg-type]
    new.__cause__ = ConnectionRefusedError(111, "Connection refused")
    return requests.ConnectionError(MaxRetryError(None, "/v1/organizations/my-organization", reason=new))  # type: ignore[arg-type]


def test_a_refused_connection_to_a_chosen_endpoint_gives_up_within_seconds_naming_it(
    rsps: responses.RequestsMock, transport: Transport, clock: FakeClock
) -> None:
    rsps.add(responses.GET, ORG_URL, body=_refused())
    with pytest.raises(errors.TransportError) as info:
        transport.request("GET", ORG_PATH)
    assert clock.elapsed <= RetryPolicy().refused_deadline == 5.0
    assert len(clock.sleeps) >= 1  # an emulator still starting gets a few tries
    assert f"nothing answers at {ENDPOINT} (set by endpoint=): connection refused" in str(info.value)


def test_a_refused_connection_to_google_keeps_the_whole_deadline(
    rsps: responses.RequestsMock, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(EMULATOR_ENV, raising=False)
    google = Transport(
        "apigee",
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        sleep=clock.sleep,
        clock=clock.now,
        rng=random.Random(7),
    )
    rsps.add(responses.GET, f"{API_ROOTS['apigee']}{ORG_PATH}", body=_refused())
    with pytest.raises(errors.TransportError) as info:
        google.request("GET", ORG_PATH)
    assert clock.elapsed == pytest.approx(RetryPolicy().deadline)  # 120 s, as before
    assert "nothing answers" not in str(info.value) and "Connection refused" in str(info.value)


# -- one backoff shape -----------------------------------------------------------------------------


def test_every_retry_loop_declares_its_numbers_as_one_backoff_shape() -> None:
    from apigee_psc.compute.attachments import FINGERPRINT_STALE
    from apigee_psc.southbound.resources import dns_zone

    assert RetryPolicy().backoff == Backoff(1.0, 2.0, 30.0, "full", 120.0, None)
    assert FINGERPRINT_STALE.backoff == Backoff(0.2, 2.0, 2.0, "upper_half", 30.0, 5)
    assert dns_zone.IAM_PROPAGATION.backoff == Backoff(2.0, 2.0, 30.0, "upper_half", 180.0, None)


def test_backoff_caps_and_jitters_its_pauses() -> None:
    full, upper = Backoff(1.0, 3.0, 10.0), Backoff(1.0, 3.0, 10.0, jitter="upper_half")
    assert [full.cap(n) for n in (1, 2, 3, 4)] == [1.0, 3.0, 9.0, 10.0]
    rng = random.Random(7)
    pauses = [full.pause(3, rng) for _ in range(200)]
    assert 0.0 <= min(pauses) < 2.0 and max(pauses) <= 9.0
    assert all(4.5 <= upper.pause(3, rng) <= 9.0 for _ in range(200))


def test_backoff_gives_up_at_its_deadline_and_counts_attempts(clock: FakeClock) -> None:
    calls: list[float] = []

    def failing() -> None:
        calls.append(clock.now())
        raise errors.Conflict("stale")

    with pytest.raises(errors.Conflict):
        Backoff(1.0, deadline=10.0).retrying(_stale, sleep=clock.sleep, clock=clock.now)(failing)
    assert clock.elapsed == pytest.approx(10.0)  # the last pause is cut to the deadline
    calls.clear()
    with pytest.raises(errors.Conflict):
        Backoff(1.0, attempts=3).retrying(_stale, sleep=clock.sleep, clock=clock.now)(failing)
    assert len(calls) == 3


# -- one set of client options ---------------------------------------------------------------------


def test_a_client_timeout_means_the_same_in_every_client() -> None:
    from apigee_psc import ApigeeClient, ComputeClient
    from apigee_psc._http import ClientOptions, connect_read
    from apigee_psc.cloud import CloudDnsClient, ResourceManagerClient, ServiceNetworkingClient

    assert connect_read(60.0) == (10.0, 60.0) and connect_read(4) == (4.0, 4.0)
    assert connect_read((3.0, 30.0)) == (3.0, 30.0)
    assert ClientOptions().timeout == 60.0 and ClientOptions(timeout=(3.0, 30.0)).read_timeout == 30.0
    for rest in (CloudDnsClient, ResourceManagerClient, ServiceNetworkingClient):
        assert rest().transport.timeout == (10.0, 60.0)  # the default, as before
        assert rest(timeout=30.0).transport.timeout == (10.0, 30.0)
    assert ApigeeClient("my-org", timeout=5.0).transport.timeout == (5.0, 5.0)
    assert ApigeeClient("my-org", timeout=(10.0, 60.0)).transport.timeout == (10.0, 60.0)
    local = "http://127.0.0.1:1/"  # plain http: anonymous credentials, nothing is resolved
    compute = ComputeClient("my-project", "us-west1", endpoint=local, timeout=(5.0, 45.0))
    assert compute._backend.timeout == 45.0
    assert compute._backend.rest.timeout == (5.0, 45.0)
    assert ComputeClient("my-project", "us-west1", endpoint=local, timeout=30.0)._backend.rest.timeout == (
        10.0,
        30.0,
    )


def test_every_client_keeps_the_options_it_was_given() -> None:
    from apigee_psc import ApigeeClient, ComputeClient
    from apigee_psc.cloud import CloudDnsClient

    policy = RetryPolicy(deadline=5.0)
    apigee = ApigeeClient("my-org", quota_project_id="billing-project", retry=policy, endpoint="http://127.0.0.1:1/")
    assert apigee.options.quota_project_id == "billing-project" and apigee.transport.retry is policy
    assert apigee.transport.root_url == "http://127.0.0.1:1/"
    dns = CloudDnsClient(**apigee.options.kwargs())
    assert dns.options == apigee.options and dns.transport.retry is policy
    compute = ComputeClient("my-project", "us-west1", **apigee.options.kwargs())
    assert compute._backend.retry is policy and compute.root_url == "http://127.0.0.1:1/"
    with pytest.raises(TypeError):
        ApigeeClient("my-org", not_an_option=1)  # type: ignore[call-arg]
    with pytest.raises(errors.ValidationError):
        ComputeClient("my-project", "us-west1", quota_project_id="Not A Project")
