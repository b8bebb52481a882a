"""The HTTP layer: control API, faults, request log, long-polling, errors, pagination."""

from __future__ import annotations

import time

import pytest
import requests
from emulator_helpers import ORG, PROJECT, REGION, SA_PATH, Api, compute_path, producer

from apigee_psc.emulator import EmulatorServer

EA = f"v1/organizations/{ORG}/endpointAttachments"
EA_BODY = {"location": REGION, "serviceAttachment": SA_PATH}
FW_BODY = {"name": "fw", "allowed": [{"IPProtocol": "tcp", "ports": ["80"]}]}
RID = "0b0e4b1e-7a3c-4d52-8f2b-4f1e7c6a9d01"


def test_control_health_lists_orgs(api: Api) -> None:
    assert api.ok("GET", "_emulator/health") == {"ok": True, "organizations": ["my-organization", "peered-org"]}


def test_control_reset_forgets_resources_keeps_orgs(api: Api) -> None:
    api.ok("POST", compute_path("firewalls", region=None), FW_BODY)
    api.ok("POST", "_emulator/reset")
    assert api.get(compute_path("firewalls", "fw", region=None)).status_code == 404
    assert api.get(f"v1/organizations/{ORG}").status_code == 200


def test_control_state_dumps_every_api(api: Api, emu: EmulatorServer) -> None:
    producer(emu.world)
    state = api.ok("GET", "_emulator/state")
    assert {"config", "organizations", "apigee", "compute", "dns", "crm", "servicenetworking", "faults"} <= set(state)
    names = [r["name"] for r in state["compute"]["resources"]]
    assert "gkebackend" in names and "default" in names
    assert len(state["compute"]["operations"]) == 5


def test_control_config_overrides_op_seconds_per_kind(api: Api, emu: EmulatorServer) -> None:
    producer(emu.world)
    cfg = api.ok("POST", "_emulator/config", {"op_seconds_overrides": {"apigee.endpointAttachments.delete": 30}})
    assert cfg["op_seconds_overrides"] == {"apigee.endpointAttachments.delete": 30.0}
    assert api.ok("POST", EA, EA_BODY, endpointAttachmentId="gkebackend")["done"] is True
    op = api.ok("DELETE", f"{EA}/gkebackend")
    assert "done" not in op
    assert api.ok("GET", f"{EA}/gkebackend")["state"] == "DELETING"


def test_control_config_seeds_orgs_and_resources(api: Api) -> None:
    api.ok(
        "POST",
        "_emulator/config",
        {
            "orgs": ["new-org:peered"],
            "resources": [
                {
                    "api": "compute",
                    "collection": "healthChecks",
                    "project": PROJECT,
                    "region": REGION,
                    "body": {"name": "hc", "type": "TCP"},
                },
                {
                    "api": "crm",
                    "collection": "iamBindings",
                    "project": PROJECT,
                    "role": "roles/dns.peer",
                    "member": "user:a@example.com",
                },
            ],
        },
    )
    assert "disableVpcPeering" not in api.ok("GET", "v1/organizations/new-org")
    assert api.ok("GET", compute_path("healthChecks", "hc"))["type"] == "TCP"
    policy = api.ok("POST", f"v3/projects/{PROJECT}:getIamPolicy", {})
    assert {"role": "roles/dns.peer", "members": ["user:a@example.com"]} in policy["bindings"]


def test_control_config_unknown_key_bad_request(api: Api) -> None:
    assert api.post("_emulator/config", {"op_secs": 1}).status_code == 400


def test_request_log_counts_api_calls_not_control(api: Api, emu: EmulatorServer) -> None:
    api.ok("GET", f"v1/organizations/{ORG}")
    api.ok("POST", compute_path("firewalls", region=None), FW_BODY)
    api.get(compute_path("firewalls", "missing", region=None))
    log = api.ok("GET", "_emulator/requests")
    assert [(r["method"], r["status"], r["api"]) for r in log["requests"]] == [
        ("GET", 200, "apigee"),
        ("POST", 200, "compute"),
        ("GET", 404, "compute"),
    ]
    assert log["requests"][1]["endpoint"] == "compute.firewalls.insert"
    assert len(emu.requests(method="POST")) == 1
    assert api.ok("GET", "_emulator/requests", since=2)["count"] == 1


def test_request_log_operations_helper_counts_new_operations(api: Api, emu: EmulatorServer) -> None:
    api.ok("POST", compute_path("firewalls", region=None), FW_BODY, requestId=RID)
    api.ok("POST", compute_path("firewalls", region=None), FW_BODY, requestId=RID)
    assert len(emu.operations("compute")) == 1
    assert len(emu.operations()) == 1


def test_fault_429_first_n_then_success_with_retry_after(api: Api) -> None:
    api.ok(
        "POST", "_emulator/faults", [{"api": "apigee", "method": "GET", "status": 429, "retry_after": 2, "count": 2}]
    )
    first = api.get(f"v1/organizations/{ORG}")
    assert first.status_code == 429 and first.headers["Retry-After"] == "2"
    assert first.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert api.get(f"v1/organizations/{ORG}").status_code == 429
    assert api.get(f"v1/organizations/{ORG}").status_code == 200
    faults = api.ok("GET", "_emulator/faults")
    assert faults["rules"][0]["hits"] == 2 and faults["rules"][0]["remaining"] == 0


def test_fault_503_compute_shape_has_errors(api: Api) -> None:
    api.ok("POST", "_emulator/faults", {"rules": [{"match": {"api": "compute"}, "status": 503, "count": 1}]})
    resp = api.get(compute_path("networks", "default", region=None))
    assert resp.status_code == 503 and resp.json()["error"]["errors"][0]["reason"] == "backendError"


def test_fault_401_once_then_ok(api: Api) -> None:
    api.ok("POST", "_emulator/faults", [{"status": 401, "count": 1}])
    resp = api.get(f"v1/organizations/{ORG}")
    assert resp.status_code == 401 and "WWW-Authenticate" in resp.headers
    assert api.get(f"v1/organizations/{ORG}").status_code == 200


def test_fault_rate_deterministic_for_seed(api: Api) -> None:
    def pattern() -> list[int]:
        api.ok("POST", "_emulator/faults", {"seed": 42, "rules": [{"api": "crm", "status": 500, "rate": 0.5}]})
        return [api.get(f"v3/projects/{PROJECT}").status_code for _ in range(12)]

    first = pattern()
    assert first == pattern()
    assert 500 in first and 200 in first


def test_fault_reset_before_not_applied(api: Api) -> None:
    api.ok(
        "POST", "_emulator/faults", [{"path": "/global/firewalls$", "method": "POST", "reset": "before", "count": 1}]
    )
    with pytest.raises(requests.ConnectionError):
        api.post(compute_path("firewalls", region=None), FW_BODY, requestId=RID)
    assert api.get(compute_path("firewalls", "fw", region=None)).status_code == 404
    api.ok("POST", compute_path("firewalls", region=None), FW_BODY, requestId=RID)


def test_fault_reset_after_applied_and_request_id_retry_same_operation(api: Api, emu: EmulatorServer) -> None:
    api.ok("POST", "_emulator/faults", [{"path": "/global/firewalls$", "method": "POST", "reset": "after", "count": 1}])
    with pytest.raises(requests.ConnectionError):
        api.post(compute_path("firewalls", region=None), FW_BODY, requestId=RID)
    assert api.get(compute_path("firewalls", "fw", region=None)).status_code == 200
    retry = api.ok("POST", compute_path("firewalls", region=None), FW_BODY, requestId=RID)
    assert retry["name"] == emu.operations("compute")[0]["name"]
    assert [r["fault"] for r in emu.requests(method="POST")] == ["reset-after", None]


def test_fault_delay_slows_answer(api: Api) -> None:
    api.ok("POST", "_emulator/faults", [{"api": "apigee", "delay": 0.3, "count": 1}])
    start = time.monotonic()
    api.ok("GET", f"v1/organizations/{ORG}")
    assert time.monotonic() - start >= 0.3


def test_fault_bad_rule_bad_request(api: Api) -> None:
    assert api.post("_emulator/faults", [{"api": "nope", "status": 500}]).status_code == 400
    assert api.post("_emulator/faults", [{"api": "apigee"}]).status_code == 400


def test_fault_delete_clears(api: Api) -> None:
    api.ok("POST", "_emulator/faults", [{"status": 500}])
    api.ok("DELETE", "_emulator/faults")
    assert api.get(f"v1/organizations/{ORG}").status_code == 200


def test_op_fault_apigee_fail_over_http(api: Api, emu: EmulatorServer) -> None:
    producer(emu.world)
    api.ok(
        "POST",
        "_emulator/faults",
        {
            "operations": [
                {"kind": "apigee.endpointAttachments.create", "outcome": "fail", "code": "RESOURCE_EXHAUSTED"}
            ]
        },
    )
    op = api.ok("POST", EA, EA_BODY, endpointAttachmentId="gkebackend")
    assert op["done"] is True and op["error"]["code"] == 8
    assert api.get(f"{EA}/gkebackend").status_code == 404


def test_apigee_lock_over_http_400_locked(api: Api, emu: EmulatorServer) -> None:
    producer(emu.world)
    emu.configure(op_seconds=30)
    api.ok("POST", EA, EA_BODY, endpointAttachmentId="gkebackend")
    resp = api.post(
        f"v1/organizations/{ORG}/dnsZones",
        {"domain": "example.com.", "peeringConfig": {"targetProjectId": PROJECT, "targetNetworkId": "default"}},
        dnsZoneId="z",
    )
    assert resp.status_code in (400, 403)
    resp = api.delete(f"{EA}/gkebackend")
    assert resp.status_code == 400
    assert "the resource is locked by another operation" in resp.json()["error"]["message"]
    assert resp.json()["error"]["status"] == "FAILED_PRECONDITION"


def test_apigee_op_lifecycle_by_real_time(api: Api, emu: EmulatorServer) -> None:
    producer(emu.world)
    emu.configure(op_seconds=0.2)
    op = api.ok("POST", EA, EA_BODY, endpointAttachmentId="gkebackend")
    assert api.ok("GET", f"{EA}/gkebackend")["state"] == "CREATING"
    emu.wait_idle(2)
    done = api.ok("GET", f"v1/{op['name']}")
    assert done["done"] is True and done["response"]["host"] == "7.0.3.4"
    assert api.ok("GET", f"{EA}/gkebackend")["state"] == "ACTIVE"


def test_compute_wait_long_polls_until_done(api: Api, emu: EmulatorServer) -> None:
    emu.configure(op_seconds=0.3)
    op = api.ok("POST", compute_path("firewalls", region=None), FW_BODY)
    assert op["status"] == "PENDING"
    start = time.monotonic()
    done = api.ok("POST", compute_path("operations", op["name"], region=None) + "/wait")
    assert done["status"] == "DONE" and done["progress"] == 100
    assert 0.1 < time.monotonic() - start < 1.0


def test_compute_wait_never_finishing_returns_at_deadline(api: Api, emu: EmulatorServer) -> None:
    emu.set_faults({"operations": [{"kind": "compute", "outcome": "never"}]})
    op = api.ok("POST", compute_path("firewalls", region=None), FW_BODY)
    start = time.monotonic()
    again = api.ok("POST", compute_path("operations", op["name"], region=None) + "/wait")
    assert again["status"] == "RUNNING"
    assert 0.4 <= time.monotonic() - start < 2.0


def test_compute_bad_request_id_invalid(api: Api) -> None:
    resp = api.post(compute_path("firewalls", region=None), FW_BODY, requestId="not-a-uuid")
    assert resp.status_code == 400 and resp.json()["error"]["errors"][0]["reason"] == "invalid"


def test_compute_patch_fingerprint_required_412(api: Api, emu: EmulatorServer) -> None:
    producer(emu.world)
    resp = api.patch(compute_path("serviceAttachments", "gkebackend"), {"description": "x"})
    assert resp.status_code == 412
    assert resp.json()["error"]["errors"][0]["reason"] == "conditionNotMet"


def test_compute_list_empty_omits_items(api: Api) -> None:
    page = api.ok("GET", compute_path("serviceAttachments"))
    assert page["kind"] == "compute#serviceAttachmentList" and "items" not in page


def test_apigee_list_bad_page_token_invalid(api: Api) -> None:
    resp = api.get(EA, pageToken="garbage!")
    assert resp.status_code == 400 and resp.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_bad_json_body_invalid(api: Api) -> None:
    resp = api.session.post(
        api.server.url + compute_path("firewalls", region=None),
        data=b"{nope",
        headers={"Content-Type": "application/json"},
    )
    assert resp.status_code == 400


def test_unknown_route_not_found_json(api: Api) -> None:
    resp = api.get("v2/whatever")
    assert resp.status_code == 404 and resp.json()["error"]["status"] == "NOT_FOUND"


def test_ignored_query_params_and_auth_header_accepted(api: Api) -> None:
    resp = api.session.get(
        api.server.url + f"v1/organizations/{ORG}",
        params={"alt": "json", "prettyPrint": "false", "$alt": "json;enum-encoding=int"},
        headers={"Authorization": "Bearer ya29.fake"},
    )
    assert resp.status_code == 200


def test_dns_change_stale_deletion_precondition_failed(api: Api) -> None:
    z = f"dns/v1/projects/{PROJECT}/managedZones"
    api.ok("POST", z, {"name": "pz", "dnsName": "example.com.", "visibility": "private"})
    rr = api.ok("POST", f"{z}/pz/rrsets", {"name": "a.example.com.", "type": "A", "ttl": 300, "rrdatas": ["7.0.3.4"]})
    resp = api.post(f"{z}/pz/changes", {"deletions": [{**rr, "ttl": 5}], "additions": [rr]})
    assert resp.status_code == 412
    assert api.post(f"{z}/pz/rrsets", rr).status_code == 409
    assert api.delete(f"{z}/pz").status_code == 400


def test_server_context_manager_stop_frees_port() -> None:
    with EmulatorServer(op_seconds=0) as server:
        url = server.url
        assert requests.get(url + "_emulator/health", timeout=5).ok
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "_emulator/health", timeout=2)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", 505),
        (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"BREW /coffee HTTP/1.1 extra\r\nHost: x\r\n\r\n", 400),
    ],
)
def test_unparsable_request_json_error_never_html(emu: EmulatorServer, raw: bytes, code: int) -> None:
    import json as _json
    import socket

    with socket.create_connection(("127.0.0.1", emu.port), timeout=5) as sock:
        sock.sendall(raw)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    if data.startswith(b"HTTP/"):
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.split(b" ")[1] == str(code).encode() and b"application/json" in head, head
    else:  # what http.server sends when it could not read the version: the body alone (HTTP/0.9)
        body = data
    error = _json.loads(body)["error"]
    assert error["code"] == code and error["message"]
