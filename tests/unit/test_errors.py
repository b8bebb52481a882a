"""The error model: class chosen from HTTP status and google.rpc status, attributes, redaction."""

from __future__ import annotations

import json
import logging
import pickle
import traceback
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import pytest
import requests
import responses
from conftest import API, ENDPOINT, FakeClock, rpc_error

from apigee_psc import _answers, errors
from apigee_psc._http import Transport
from apigee_psc._retry import is_transient

URL = f"{API}/endpointAttachments?endpointAttachmentId=gkebackend"
COMPUTE_SA = "projects/my-project/regions/us-west1/serviceAttachments/gkebackend"
TOKEN = "ya29.a0AfH6SMBsecretTOKENvalue-_x"
BEARER = "Bearer abc.DEF-123_secret"


def from_body(
    status: int, body: Any, *, headers: dict[str, str] | None = None, method: str = "POST"
) -> errors.ApiError:
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body).encode()
    return _answers.error_from_response(status, raw, method=method, url=URL, headers=headers)


@pytest.mark.parametrize(
    ("status", "rpc", "cls"),
    [
        (400, "INVALID_ARGUMENT", errors.BadRequest),
        (400, "OUT_OF_RANGE", errors.BadRequest),
        (400, "FAILED_PRECONDITION", errors.FailedPrecondition),
        (401, "UNAUTHENTICATED", errors.Unauthenticated),
        (403, "PERMISSION_DENIED", errors.PermissionDenied),
        (404, "NOT_FOUND", errors.NotFound),
        (409, "ALREADY_EXISTS", errors.AlreadyExists),
        (409, "ABORTED", errors.Conflict),
        (429, "RESOURCE_EXHAUSTED", errors.RateLimited),
        (500, "INTERNAL", errors.ServerError),
        (501, "UNIMPLEMENTED", errors.ServerError),
        (503, "UNAVAILABLE", errors.ServerError),
        (504, "DEADLINE_EXCEEDED", errors.ServerError),
    ],
)
def test_error_from_response_rpc_status_chooses_class(status: int, rpc: str, cls: type[errors.ApiError]) -> None:
    err = from_body(status, rpc_error(status, rpc, "something happened", reason="SOME_REASON"))
    assert type(err) is cls
    assert err.status_code == status
    assert err.rpc_status == rpc
    assert err.message == "something happened"
    assert err.reason == "SOME_REASON"
    assert err.method == "POST"
    assert err.url == URL
    assert isinstance(err, errors.ApiError) and isinstance(err, errors.ApigeePscError)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, errors.BadRequest),
        (401, errors.Unauthenticated),
        (403, errors.PermissionDenied),
        (404, errors.NotFound),
        (409, errors.Conflict),
        (412, errors.FailedPrecondition),
        (429, errors.RateLimited),
        (500, errors.ServerError),
        (502, errors.ServerError),
        (418, errors.ApiError),
    ],
)
def test_error_from_response_http_status_only_chooses_class(status: int, cls: type[errors.ApiError]) -> None:
    err = from_body(status, {"error": {"code": status, "message": "no status field"}})
    assert type(err) is cls
    assert err.rpc_status is None
    assert err.status_code == status


def test_error_from_response_already_exists_carries_resource_name() -> None:
    err = from_body(409, rpc_error(409, "ALREADY_EXISTS", "endpoint attachment gkebackend already exists"))
    assert isinstance(err, errors.AlreadyExists)
    assert err.resource_name == "organizations/my-organization/endpointAttachments/gkebackend"


def test_error_from_response_dns_zone_already_exists_names_zone() -> None:
    err = _answers.error_from_response(
        409,
        json.dumps(rpc_error(409, "ALREADY_EXISTS", "exists")),
        method="POST",
        url=f"{API}/dnsZones?dnsZoneId=my-zone",
    )
    assert isinstance(err, errors.AlreadyExists)
    assert err.resource_name == "organizations/my-organization/dnsZones/my-zone"


def test_error_from_response_409_aborted_is_conflict_not_already_exists() -> None:
    err = from_body(409, rpc_error(409, "ABORTED", "etag mismatch"))
    assert isinstance(err, errors.Conflict)
    assert not isinstance(err, errors.AlreadyExists)
    assert not is_transient(err)


def test_error_from_response_failed_precondition_is_bad_request() -> None:
    err = from_body(400, rpc_error(400, "FAILED_PRECONDITION", "organization is not ready"))
    assert isinstance(err, errors.FailedPrecondition)
    assert isinstance(err, errors.BadRequest)
    assert str(err) == f"POST {URL}: 400 FAILED_PRECONDITION: organization is not ready"


def test_error_from_response_retry_after_seconds_parsed() -> None:
    err = from_body(429, rpc_error(429, "RESOURCE_EXHAUSTED", "slow down"), headers={"Retry-After": "17"})
    assert isinstance(err, errors.RateLimited)
    assert err.retry_after == 17.0
    assert not err.quota_exhausted


def test_error_from_response_retry_after_lowercase_header_parsed() -> None:
    err = from_body(429, rpc_error(429, "RESOURCE_EXHAUSTED", "slow down"), headers={"retry-after": "3"})
    assert isinstance(err, errors.RateLimited)
    assert err.retry_after == 3.0


def test_error_from_response_retry_after_http_date_parsed() -> None:
    when = datetime.now(timezone.utc) + timedelta(seconds=90)
    err = from_body(
        429, rpc_error(429, "RESOURCE_EXHAUSTED", "x"), headers={"Retry-After": format_datetime(when, True)}
    )
    assert isinstance(err, errors.RateLimited)
    assert err.retry_after is not None
    assert 80 <= err.retry_after <= 91


def test_error_from_response_retry_after_garbage_ignored() -> None:
    err = from_body(503, rpc_error(503, "UNAVAILABLE", "x"), headers={"Retry-After": "soon"})
    assert isinstance(err, errors.ServerError)
    assert err.retry_after is None


def test_error_from_response_server_error_keeps_retry_after() -> None:
    err = from_body(503, rpc_error(503, "UNAVAILABLE", "x"), headers={"Retry-After": "4"})
    assert isinstance(err, errors.ServerError)
    assert err.retry_after == 4.0


@pytest.mark.parametrize(
    ("reason", "message", "exhausted"),
    [
        (
            "RATE_LIMIT_EXCEEDED",
            "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute'",
            False,
        ),
        (None, "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute'", False),
        ("rateLimitExceeded", "Rate Limit Exceeded", False),
        (None, "Too many requests", False),
        ("QUOTA_EXCEEDED", "Quota 'ENDPOINT_ATTACHMENTS' exceeded. Limit: 10", True),
        ("RESOURCE_QUOTA_EXCEEDED", "quota used up", True),
        ("dailyLimitExceeded", "Daily Limit Exceeded", True),
        (None, "Quota exceeded for endpoint attachments", True),
    ],
)
def test_error_from_response_429_quota_versus_rate_classified(
    reason: str | None, message: str, exhausted: bool
) -> None:
    err = from_body(429, rpc_error(429, "RESOURCE_EXHAUSTED", message, reason=reason))
    assert isinstance(err, errors.RateLimited)
    assert err.quota_exhausted is exhausted
    assert is_transient(err) is (not exhausted)


def test_error_from_response_compute_errors_reason_chooses_class() -> None:
    body = {
        "error": {
            "code": 409,
            "message": f"The resource '{COMPUTE_SA}' already exists",
            "errors": [{"domain": "global", "reason": "alreadyExists", "message": "exists"}],
        }
    }
    err = _answers.error_from_response(
        409, json.dumps(body), method="POST", url="https://compute.example.test/compute/v1/projects/p/regions/r/x"
    )
    assert isinstance(err, errors.AlreadyExists)
    assert err.reason == "alreadyExists"
    assert err.errors == [{"domain": "global", "reason": "alreadyExists", "message": "exists"}]
    assert err.resource_name == COMPUTE_SA


@pytest.mark.parametrize(
    ("status", "reason", "cls"),
    [
        (412, "conditionNotMet", errors.FailedPrecondition),
        (404, "notFound", errors.NotFound),
        (400, "resourceInUseByAnotherResource", errors.FailedPrecondition),
        (400, "resourceNotReady", errors.BadRequest),
        (403, "rateLimitExceeded", errors.RateLimited),
        (403, "userRateLimitExceeded", errors.RateLimited),
        (403, "forbidden", errors.PermissionDenied),
    ],
)
def test_error_from_response_compute_reasons_mapped(status: int, reason: str, cls: type[errors.ApiError]) -> None:
    body = {
        "error": {"code": status, "message": "m", "errors": [{"domain": "global", "reason": reason, "message": "m"}]}
    }
    err = from_body(status, body)
    assert type(err) is cls
    assert err.reason == reason
    assert err.status_code == status


def test_error_from_response_compute_concurrent_operations_quota_is_transient() -> None:
    body = {"error": {"code": 403, "message": "Quota exceeded: CONCURRENT_OPERATIONS_QUOTA_EXCEEDED", "errors": []}}
    err = from_body(403, body)
    assert isinstance(err, errors.RateLimited)
    assert is_transient(err)


def test_error_from_response_error_info_reason_preferred_over_errors() -> None:
    body = rpc_error(403, "PERMISSION_DENIED", "no", reason="IAM_PERMISSION_DENIED")
    body["error"]["errors"] = [{"reason": "forbidden"}]
    err = from_body(403, body)
    assert err.reason == "IAM_PERMISSION_DENIED"
    assert err.details[0]["reason"] == "IAM_PERMISSION_DENIED"


@pytest.mark.parametrize("body", [b"<html><body>Bad Gateway</body></html>", b"", b"[1, 2]", b"\xff\xfe not utf8"])
def test_error_from_response_non_json_body_keeps_status(body: bytes) -> None:
    err = from_body(502, body)
    assert isinstance(err, errors.ServerError)
    assert err.status_code == 502
    assert err.rpc_status is None
    assert err.message
    assert err.method == "POST" and err.url == URL


def test_error_from_response_decoded_mapping_accepted() -> None:
    err = _answers.error_from_response(404, rpc_error(404, "NOT_FOUND", "gone"), method="GET", url=URL)
    assert isinstance(err, errors.NotFound)
    assert str(err) == f"GET {URL}: 404 NOT_FOUND: gone"


def test_api_error_repr_names_every_attribute() -> None:
    err = from_body(404, rpc_error(404, "NOT_FOUND", "gone", reason="R"), method="GET")
    text = repr(err)
    for part in ("NotFound(", "status_code=404", "'NOT_FOUND'", "'gone'", "reason='R'", "method='GET'", URL):
        assert part in text


def test_validation_error_names_field_value_and_rule() -> None:
    err = errors.ValidationError("endpoint_attachment", "Bad_Name", "lowercase only", source="spec.yaml")
    assert (err.field, err.value, err.rule, err.source) == (
        "endpoint_attachment",
        "Bad_Name",
        "lowercase only",
        "spec.yaml",
    )
    assert str(err) == "spec.yaml: endpoint_attachment: 'Bad_Name' is invalid: lowercase only"
    assert isinstance(err, ValueError)


def test_operation_failed_formats_operation_code_and_message() -> None:
    err = errors.OperationFailed("backend unreachable", operation="organizations/o/operations/1", code=9)
    assert err.operation == "organizations/o/operations/1" and err.code == 9 and err.message == "backend unreachable"
    assert str(err) == "operation organizations/o/operations/1 failed (code 9): backend unreachable"


def test_wait_timeout_names_awaited_state_elapsed_and_operation() -> None:
    err = errors.WaitTimeout(
        "operation to finish", last_state="IN_PROGRESS", elapsed=61.4, operation="organizations/o/operations/1"
    )
    assert (err.awaited, err.last_state, err.elapsed, err.operation) == (
        "operation to finish",
        "IN_PROGRESS",
        61.4,
        "organizations/o/operations/1",
    )
    assert "operations.wait('organizations/o/operations/1')" in str(err)
    assert "IN_PROGRESS" in str(err) and "61s" in str(err)


# -- redaction ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"token {TOKEN} refused", TOKEN),
        (f"Authorization: {BEARER}", "abc.DEF-123_secret"),
        ("authorization: bearer lowercase.secret-1", "lowercase.secret-1"),
        ('{"access_token": "tok-secret-9", "expires_in": 3599}', "tok-secret-9"),
        ("https://x.test/p?access_token=qs-secret-1&b=2", "qs-secret-1"),
        ("refresh_token=rt-secret-2", "rt-secret-2"),
    ],
)
def test_redact_token_shapes_masked(text: str, secret: str) -> None:
    out = errors.redact(text)
    assert secret not in out
    assert "<redacted>" in out


def _leaky_error() -> errors.ApiError:
    body = rpc_error(401, "UNAUTHENTICATED", f"Request had invalid credentials {TOKEN} ({BEARER})")
    return _answers.error_from_response(
        401, json.dumps(body), method="GET", url=f"{API}?access_token={TOKEN}", headers={"Authorization": BEARER}
    )


def _assert_clean(text: str) -> None:
    assert TOKEN not in text
    assert "ya29." not in text.replace("ya29.<", "")
    assert "abc.DEF-123_secret" not in text
    assert "qs-secret" not in text


def test_api_error_token_in_message_url_never_shown() -> None:
    err = _leaky_error()
    _assert_clean(str(err))
    _assert_clean(repr(err))
    _assert_clean(err.message)
    _assert_clean(str(err.url))
    _assert_clean(str(err.args))


def test_api_error_token_never_in_formatted_traceback() -> None:
    try:
        try:
            raise RuntimeError("inner")
        except RuntimeError:
            raise _leaky_error() from None
    except errors.ApiError as exc:
        text = "".join(traceback.format_exception(exc))
    _assert_clean(text)
    assert "Unauthenticated" in text


def test_api_error_token_never_in_logged_line(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("apigee_psc.test")
    with caplog.at_level(logging.DEBUG):
        err = _leaky_error()
        logger.error("failed: %s", err)
        logger.error("failed: %r", err)
        logger.exception("boom", exc_info=err)
    _assert_clean(caplog.text)
    assert "failed:" in caplog.text


def test_wait_timeout_and_validation_error_redacted() -> None:
    assert TOKEN not in str(errors.WaitTimeout(f"x {TOKEN}", last_state=None, elapsed=1.0))
    assert TOKEN not in str(errors.ValidationError("endpoint", f"https://h/?access_token={TOKEN}", "rule"))
    assert TOKEN not in str(errors.ValidationError("token", TOKEN, "rule"))


def test_api_error_pickles_without_losing_redaction() -> None:
    err = _leaky_error()
    text = str(err)
    assert TOKEN not in text
    assert pickle.dumps(err.args).find(TOKEN.encode()) == -1


def test_transport_connection_error_with_token_redacted_everywhere(
    clock: FakeClock, transport: Transport, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"{ENDPOINT}v1/organizations/my-organization"
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, url, body=requests.ConnectionError(f"reset while sending {BEARER} {TOKEN}"))
        with caplog.at_level(logging.DEBUG, logger="apigee_psc"), pytest.raises(errors.TransportError) as info:
            transport.request(
                "GET",
                "v1/organizations/my-organization",
                headers={"Authorization": BEARER},
                retry=transport.retry.with_deadline(5.0),
            )
        sent = mock.calls[0].request.headers
    assert sent["Authorization"] == BEARER  # it was sent, just never shown
    exc = info.value
    assert exc.status_code == 0
    for text in (str(exc), repr(exc), "".join(traceback.format_exception(exc)), caplog.text):
        _assert_clean(text)
    assert "retry:" in caplog.text


# -- one place where a failed operation becomes an exception ---------------------------------------


def test_operation_error_rpc_code_is_operation_failed_naming_the_status() -> None:
    exc = _answers.operation_error("organizations/o/operations/1", "backend failed", code=13)
    assert isinstance(exc, errors.OperationFailed)
    assert exc.code == 13 and exc.rpc_status == "INTERNAL" and exc.operation == "organizations/o/operations/1"
    assert "backend failed" in str(exc)


def test_operation_error_compute_already_exists_is_already_exists_with_name() -> None:
    exc = _answers.operation_error(
        "operation-1",
        "The resource 'projects/p/regions/r/subnetworks/s' already exists",
        http_status=409,
        reason="RESOURCE_ALREADY_EXISTS",
        resource_name="projects/p/regions/r/subnetworks/s",
    )
    assert isinstance(exc, errors.AlreadyExists)
    assert exc.resource_name == "projects/p/regions/r/subnetworks/s" and exc.status_code == 409


def test_apigee_operation_exception_goes_through_operation_error() -> None:
    from apigee_psc.models import Operation

    done = Operation.from_api({"name": "organizations/o/operations/1", "done": True})
    assert done.exception() is None
    failed = Operation.from_api(
        {"name": "organizations/o/operations/1", "done": True, "error": {"code": 9, "message": "not ready"}}
    )
    exc = failed.exception()
    assert isinstance(exc, errors.OperationFailed) and exc.rpc_status == "FAILED_PRECONDITION"


def test_compute_operation_exception_names_the_resource_it_was_creating() -> None:
    from apigee_psc.compute.models import ComputeOperation, ComputeOperationError

    assert ComputeOperation(name="op-1", status="DONE").exception() is None
    exists = ComputeOperation(
        name="op-1",
        status="DONE",
        error=ComputeOperationError(({"code": "RESOURCE_ALREADY_EXISTS", "message": "already exists"},)),
        http_error_status_code=409,
    )
    exc = exists.exception("projects/p/regions/r/subnetworks/s")
    assert isinstance(exc, errors.AlreadyExists) and exc.resource_name == "projects/p/regions/r/subnetworks/s"
    quota = ComputeOperation(
        name="op-2", status="DONE", error=ComputeOperationError(({"code": "QUOTA_EXCEEDED", "message": "no"},))
    )
    failed = quota.exception()
    assert isinstance(failed, errors.OperationFailed) and failed.reason == "QUOTA_EXCEEDED"


def test_operation_result_is_the_typed_resource_of_its_response() -> None:
    from apigee_psc.models import DnsZone, EndpointAttachment, Operation

    zone = {"@type": "type.googleapis.com/google.cloud.apigee.v1.DnsZone", "name": "organizations/o/dnsZones/z"}
    done = Operation.from_api({"name": "organizations/o/operations/1", "done": True, "response": zone})
    made = done.result(DnsZone)
    assert isinstance(made, DnsZone) and made.name == "z"
    assert done.result(EndpointAttachment) is None
    failed = Operation.from_api(
        {"name": "organizations/o/operations/2", "done": True, "error": {"code": 7, "message": "denied"}}
    )
    with pytest.raises(errors.OperationFailed):
        failed.result(DnsZone)


def test_a_failed_operation_wait_raises_the_operations_own_exception_by_default() -> None:
    from apigee_psc import waiters
    from apigee_psc.compute.models import ComputeOperation, ComputeOperationError
    from apigee_psc.models import Operation

    failed = Operation.from_api({"name": "operations/1", "done": True, "error": {"code": 9, "message": "not ready"}})
    with pytest.raises(errors.OperationFailed) as caught:
        waiters.wait(waiters.OPERATION_DONE, lambda: failed, timeout=1.0, first=failed)
    assert caught.value.rpc_status == "FAILED_PRECONDITION"
    compute_failed = ComputeOperation(
        name="op", status="DONE", error=ComputeOperationError(({"code": "RESOURCE_ALREADY_EXISTS", "message": "x"},))
    )
    with pytest.raises(errors.AlreadyExists) as exists:
        waiters.wait(
            waiters.COMPUTE_OPERATION_DONE,
            lambda: compute_failed,
            timeout=1.0,
            first=compute_failed,
            on_failure=waiters.operation_failure("projects/p/global/firewalls/f"),
        )
    assert exists.value.resource_name == "projects/p/global/firewalls/f"


@pytest.mark.parametrize(
    "status,rpc,reason,message,expected",
    [
        (409, "ALREADY_EXISTS", None, "", errors.AlreadyExists),
        (409, "ABORTED", None, "", errors.Conflict),
        (409, None, "operationInProgress", "", errors.Conflict),
        (409, None, "alreadyExists", "", errors.AlreadyExists),
        (403, None, None, "CONCURRENT_OPERATIONS_QUOTA_EXCEEDED", errors.RateLimited),
        (403, None, "rateLimitExceeded", "", errors.RateLimited),
        (400, "FAILED_PRECONDITION", None, "", errors.FailedPrecondition),
        (412, None, "conditionNotMet", "", errors.FailedPrecondition),
        (502, None, None, "", errors.ServerError),
        (418, None, None, "", errors.ApiError),
    ],
)
def test_error_class_for_registries(
    status: int, rpc: str | None, reason: str | None, message: str, expected: type[errors.ApiError]
) -> None:
    assert _answers.error_class_for(status, rpc, reason, message) is expected
