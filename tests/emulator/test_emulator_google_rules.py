"""Google's rules the emulator keeps, each driven by Google's discovery client.

Where Google's wording is known the test checks it word for word; each test names where
the rule and the text were learned.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httplib2
import pytest
from emulator_helpers import PROJECT, REGION
from googleapiclient.discovery import build_from_document
from googleapiclient.errors import HttpError
from test_emulator_conformance_clients import DOCS, discovery

from apigee_psc import errors
from apigee_psc._retry import RetryPolicy
from apigee_psc.cloud import CloudDnsClient, RecordSet
from apigee_psc.compute import ComputeClient
from apigee_psc.emulator import EmulatorServer

SA_PATH = f"projects/{PROJECT}/regions/{REGION}/serviceAttachments/gkebackend"


def error_of(exc: pytest.ExceptionInfo[HttpError]) -> tuple[int, dict[str, Any]]:
    """The HTTP status and the ``error`` object of a Google API error."""
    return exc.value.resp.status, json.loads(exc.value.content)["error"]


def compute_client(emu: EmulatorServer) -> Any:
    """Compute's discovery client (its base URL keeps the ``compute/v1/`` service path)."""
    return build_from_document(
        (DOCS / "compute.v1.json").read_text(),
        http=httplib2.Http(timeout=10),
        client_options={"api_endpoint": f"{emu.url}compute/v1/"},
    )


def producer_with_attachment(emu: EmulatorServer) -> Any:
    """The seed's producer and its service attachment ``gkebackend``; a Compute discovery client."""
    compute = compute_client(emu)
    emu.configure(
        resources=[
            {
                "api": "compute",
                "collection": "healthChecks",
                "project": PROJECT,
                "region": REGION,
                "body": {"name": "hc", "type": "TCP", "tcpHealthCheck": {"port": 80}},
            },
            {
                "api": "compute",
                "collection": "backendServices",
                "project": PROJECT,
                "region": REGION,
                "body": {"name": "be-ilb", "loadBalancingScheme": "INTERNAL", "healthChecks": ["hc"]},
            },
            {
                "api": "compute",
                "collection": "forwardingRules",
                "project": PROJECT,
                "region": REGION,
                "body": {
                    "name": "fr-ilb",
                    "loadBalancingScheme": "INTERNAL",
                    "backendService": "be-ilb",
                    "ports": [80],
                },
            },
            {
                "api": "compute",
                "collection": "subnetworks",
                "project": PROJECT,
                "region": REGION,
                "body": {
                    "name": "psc-subnet",
                    "network": "global/networks/default",
                    "ipCidrRange": "10.100.0.0/28",
                    "purpose": "PRIVATE_SERVICE_CONNECT",
                },
            },
            {
                "api": "compute",
                "collection": "serviceAttachments",
                "project": PROJECT,
                "region": REGION,
                "body": {
                    "name": "gkebackend",
                    "producerForwardingRule": "fr-ilb",
                    "connectionPreference": "ACCEPT_AUTOMATIC",
                    "natSubnets": ["psc-subnet"],
                },
            },
        ]
    )
    return compute


def sa_patch(compute: Any, body: dict[str, Any]) -> Any:
    return compute.serviceAttachments().patch(project=PROJECT, region=REGION, serviceAttachment="gkebackend", body=body)


def sa_get(compute: Any) -> dict[str, Any]:
    got: dict[str, Any] = (
        compute.serviceAttachments().get(project=PROJECT, region=REGION, serviceAttachment="gkebackend").execute()
    )
    return got


# -- fingerprints are bytes ---------------------------------------------------------------------------


def test_fingerprint_either_base64_alphabet_of_the_same_bytes_is_accepted_a_mismatch_is_412(
    emu: EmulatorServer,
) -> None:
    """A fingerprint is compared as bytes: its URL-safe encoding (what gcloud sends back) is as
    good as the standard one; other bytes answer 412 ``conditionNotMet`` in Compute's words.

    The text is one terraform-provider-google matches to recognise a fingerprint conflict
    (``FINGERPRINT_FAIL_ERRORS`` in google/transport/error_retry_predicates.go, found with the
    code search: "Supplied fingerprint does not match current metadata fingerprint.").
    """
    compute = producer_with_attachment(emu)
    seen_special = 0
    for n in range(60):
        fp = sa_get(compute)["fingerprint"]
        url_safe = base64.urlsafe_b64encode(base64.b64decode(fp)).decode()
        if url_safe != fp:
            seen_special += 1
        # The URL-safe form of the current bytes is accepted whatever characters it has.
        sa_patch(compute, {"fingerprint": url_safe, "description": f"update {n}"}).execute()
        if seen_special >= 2:
            break
    assert seen_special >= 2, "no fingerprint with '+' or '/' came up"
    assert sa_get(compute)["description"].startswith("update ")

    # A real mismatch (other bytes, in either alphabet) is refused.
    fp = sa_get(compute)["fingerprint"]
    other = bytes(b ^ 0xFF for b in base64.b64decode(fp))
    for wrong in (base64.b64encode(other).decode(), base64.urlsafe_b64encode(other).decode(), "not base64!"):
        with pytest.raises(HttpError) as exc:
            sa_patch(compute, {"fingerprint": wrong, "description": "stale"}).execute()
        status, error = error_of(exc)
        assert status == 412
        assert error["message"] == "Supplied fingerprint does not match current metadata fingerprint."
        assert error["errors"][0]["reason"] == "conditionNotMet"
    assert sa_get(compute)["description"] != "stale"


# -- a busy resource: 409 operationInProgress or 400 resourceNotReady ----------------------------------


def test_busy_resource_answers_409_operation_in_progress_by_default_and_400_resource_not_ready_by_config(
    emu: EmulatorServer,
) -> None:
    """A change to a resource while an operation on it runs: Compute answers 409
    ``operationInProgress`` or 400 ``resourceNotReady`` ("The resource '...' is not ready").

    terraform-provider-google retries both (google/transport/error_retry_predicates.go:
    ``is409OperationInProgressError`` matches 409 + "operationInProgress",
    ``isSubnetworkUnreadyError`` 400 + "resourceNotReady"; found with the code search);
    the emulator answers the first by default and the second with ``busy_answer``.
    """
    compute = producer_with_attachment(emu)
    emu.configure(op_seconds_overrides={"compute.serviceAttachments.patch": 30})
    fp = sa_get(compute)["fingerprint"]
    op = sa_patch(compute, {"fingerprint": fp, "description": "first"}).execute()
    assert op["status"] == "PENDING"
    fp = sa_get(compute)["fingerprint"]

    with pytest.raises(HttpError) as exc:
        sa_patch(compute, {"fingerprint": fp, "description": "second"}).execute()
    status, error = error_of(exc)
    assert (status, error["errors"][0]["reason"]) == (409, "operationInProgress")

    emu.configure(busy_answer="resourceNotReady")
    with pytest.raises(HttpError) as exc:
        sa_patch(compute, {"fingerprint": fp, "description": "second"}).execute()
    status, error = error_of(exc)
    assert status == 400
    assert error["errors"] == [
        {"message": f"The resource '{SA_PATH}' is not ready", "domain": "global", "reason": "resourceNotReady"}
    ]
    assert error["message"] == f"The resource '{SA_PATH}' is not ready"
    assert sa_get(compute)["description"] == "first"
    assert emu.state()["config"]["busy_answer"] == "resourceNotReady"


def test_the_library_waits_out_a_real_resource_not_ready(emu: EmulatorServer) -> None:
    """apigee-psc's Compute client retries the emulator's own 400 ``resourceNotReady`` (not an
    injected one) until the operation holding the service attachment is DONE."""
    compute = producer_with_attachment(emu)
    emu.configure(busy_answer="resourceNotReady", op_seconds_overrides={"compute.serviceAttachments.patch": 0.4})
    sa_patch(compute, {"fingerprint": sa_get(compute)["fingerprint"], "description": "held"}).execute()
    events: list[Any] = []
    client = ComputeClient(
        PROJECT,
        REGION,
        endpoint=emu.url,
        retry=RetryPolicy(initial=0.05, maximum=0.1, deadline=10.0),
        on_retry=events.append,
    )
    mark = emu.requests()[-1]["seq"]
    client.service_attachments.update("gkebackend", enable_proxy_protocol=True, timeout=10)
    patches = [r["status"] for r in emu.requests(since=mark, method="PATCH")]
    assert patches[0] == 400 and patches[-1] == 200 and set(patches[:-1]) == {400}
    assert {e.cause for e in events} == {"resource_busy"}
    assert sa_get(compute)["enableProxyProtocol"] is True


def test_busy_answer_config_refuses_an_unknown_value(emu: EmulatorServer) -> None:
    with pytest.raises(Exception, match="busy_answer must be one of"):
        emu.configure(busy_answer="locked")


def test_resource_not_ready_fault_rule_names_the_resource_and_fires_once(emu: EmulatorServer) -> None:
    """The same 400 ``resourceNotReady`` as a fault rule, for a client's retry test: the
    change is not applied, the next one goes through."""
    compute = producer_with_attachment(emu)
    emu.set_faults(
        [
            {
                "api": "compute",
                "method": "PATCH",
                "path": "/serviceAttachments/",
                "status": 400,
                "reason": "resourceNotReady",
                "count": 1,
            }
        ]
    )
    fp = sa_get(compute)["fingerprint"]
    with pytest.raises(HttpError) as exc:
        sa_patch(compute, {"fingerprint": fp, "description": "retried"}).execute()
    status, error = error_of(exc)
    assert status == 400
    assert error["errors"] == [
        {"message": f"The resource '{SA_PATH}' is not ready", "domain": "global", "reason": "resourceNotReady"}
    ]
    assert "description" not in sa_get(compute)
    op = sa_patch(compute, {"fingerprint": fp, "description": "retried"}).execute()
    assert op["kind"] == "compute#operation"
    assert sa_get(compute)["description"] == "retried"


# -- Cloud DNS ----------------------------------------------------------------------------------------


def private_zone(emu: EmulatorServer) -> Any:
    dns = discovery("dns.v1", emu)
    dns.managedZones().create(
        project=PROJECT,
        body={
            "name": "my-private-zone",
            "dnsName": "example.com.",
            "description": "",
            "visibility": "private",
            "privateVisibilityConfig": {"networks": [{"networkUrl": f"projects/{PROJECT}/global/networks/default"}]},
        },
    ).execute()
    return dns


def rrset(name: str, rtype: str, *rrdatas: str, ttl: int = 300) -> dict[str, Any]:
    return {"name": name, "type": rtype, "ttl": ttl, "rrdatas": list(rrdatas)}


def test_dns_change_is_pending_for_the_operation_time_then_done(emu: EmulatorServer) -> None:
    """Cloud DNS's ``Change.status`` is ``pending`` or ``done`` (the v1 discovery document's
    enum); the emulator keeps a change pending for ``op_seconds`` (kind ``dns.changes.create``),
    so a client's wait for the change runs. The records are in place at once."""
    dns = private_zone(emu)
    emu.configure(op_seconds_overrides={"dns.changes.create": 0.3})
    started = time.monotonic()
    change = (
        dns.changes()
        .create(
            project=PROJECT,
            managedZone="my-private-zone",
            body={"additions": [rrset("a.example.com.", "A", "7.0.3.4")]},
        )
        .execute()
    )
    assert change["status"] == "pending"
    assert (
        dns.changes().get(project=PROJECT, managedZone="my-private-zone", changeId=change["id"]).execute()["status"]
        == "pending"
    )
    listed = dns.resourceRecordSets().list(project=PROJECT, managedZone="my-private-zone", type="A").execute()
    assert [r["name"] for r in listed["rrsets"]] == ["a.example.com."]
    while change["status"] == "pending":
        assert time.monotonic() - started < 5
        time.sleep(0.02)
        change = dns.changes().get(project=PROJECT, managedZone="my-private-zone", changeId=change["id"]).execute()
    assert change["status"] == "done"
    assert time.monotonic() - started >= 0.3


def test_dns_cname_beside_another_type_is_400_cname_conflict(emu: EmulatorServer) -> None:
    """A name holds one CNAME record set or record sets of other types, not both: 400
    ``cnameResourceRecordSetConflict``, in the words of Cloud DNS's error reference
    (cloud.google.com/dns/docs/troubleshooting, "cnameResourceRecordSetConflict"; the
    "may have either one CNAME ..." wording as Cloud DNS answers, quoted in a Terraform
    configuration found with the code search). Neither order is accepted, and a refused
    change leaves the zone as it was."""
    dns = private_zone(emu)
    zone = {"project": PROJECT, "managedZone": "my-private-zone"}
    dns.changes().create(**zone, body={"additions": [rrset("orders.example.com.", "A", "7.0.3.4")]}).execute()
    with pytest.raises(HttpError) as exc:
        dns.changes().create(
            **zone, body={"additions": [rrset("orders.example.com.", "CNAME", "backend.example.com.")]}
        ).execute()
    status, error = error_of(exc)
    assert status == 400
    assert error["errors"][0]["reason"] == "cnameResourceRecordSetConflict"
    assert error["message"] == (
        "The resource record set 'entity.change.additions[0]' is invalid because the DNS name "
        "'orders.example.com.' may have either one CNAME resource record set or resource record sets "
        "of other types, but not both."
    )

    # The other order, through resourceRecordSets.create; and a CNAME at the apex (beside SOA/NS).
    dns.resourceRecordSets().create(**zone, body=rrset("www.example.com.", "CNAME", "orders.example.com.")).execute()
    with pytest.raises(HttpError) as exc:
        dns.resourceRecordSets().create(**zone, body=rrset("www.example.com.", "TXT", '"hello"')).execute()
    status, error = error_of(exc)
    assert (status, error["errors"][0]["reason"]) == (400, "cnameResourceRecordSetConflict")
    assert "'entity.rrset'" in error["message"]
    with pytest.raises(HttpError) as exc:
        dns.changes().create(**zone, body={"additions": [rrset("example.com.", "CNAME", "x.example.org.")]}).execute()
    assert error_of(exc)[1]["errors"][0]["reason"] == "cnameResourceRecordSetConflict"

    # Replacing the A record by a CNAME in one change is fine: the name never holds both.
    dns.changes().create(
        **zone,
        body={
            "deletions": [rrset("orders.example.com.", "A", "7.0.3.4")],
            "additions": [rrset("orders.example.com.", "CNAME", "backend.example.com.")],
        },
    ).execute()
    types = {
        (r["name"], r["type"])
        for r in dns.resourceRecordSets().list(**zone).execute()["rrsets"]
        if r["name"] != "example.com."
    }
    assert types == {("orders.example.com.", "CNAME"), ("www.example.com.", "CNAME")}


def test_dns_txt_strings_are_quoted_as_google_returns_them_and_at_most_255_characters(emu: EmulatorServer) -> None:
    """TXT data: Cloud DNS splits unquoted text on spaces and returns every string quoted
    (terraform-provider-google #232, #863 and PR #1141, which treats quoted and unquoted
    values as equal because "the GCP backend likes to return TXT records quoted"); a string
    longer than 255 characters is refused with 400 "Invalid value for
    'entity.change.additions[0].rrdata[0]': '...'" (terraform-provider-google #1688)."""
    dns = private_zone(emu)
    zone = {"project": PROJECT, "managedZone": "my-private-zone"}
    long_ok = "k" * 255
    change = (
        dns.changes()
        .create(
            **zone,
            body={
                "additions": [
                    rrset(
                        "txt.example.com.", "TXT", "v=spf1 include:_spf.example.com ~all", '"one string" "two"', long_ok
                    )
                ]
            },
        )
        .execute()
    )
    want = ['"v=spf1" "include:_spf.example.com" "~all"', '"one string" "two"', f'"{long_ok}"']
    assert change["additions"][0]["rrdatas"] == want
    got = dns.resourceRecordSets().get(**zone, name="txt.example.com.", type="TXT").execute()
    assert got["rrdatas"] == want

    # A TXT record beside an A record of the same name is fine (external-dns's registry does it).
    dns.changes().create(**zone, body={"additions": [rrset("txt.example.com.", "A", "7.0.3.4")]}).execute()

    too_long = "p" * 256
    for data in (too_long, f'"{too_long}"', f'"short" "{too_long}"'):
        with pytest.raises(HttpError) as exc:
            dns.changes().create(**zone, body={"additions": [rrset("long.example.com.", "TXT", data)]}).execute()
        status, error = error_of(exc)
        assert status == 400
        assert error["message"] == f"Invalid value for 'entity.change.additions[0].rrdata[0]': '{too_long}'"
        assert error["errors"][0]["reason"] == "invalid"

    # A deletion matches the stored (quoted) data whether it is sent quoted or not.
    dns.changes().create(
        **zone,
        body={
            "deletions": [
                rrset("txt.example.com.", "TXT", "v=spf1 include:_spf.example.com ~all", '"one string" "two"', long_ok)
            ]
        },
    ).execute()
    with pytest.raises(HttpError) as exc:
        dns.resourceRecordSets().get(**zone, name="txt.example.com.", type="TXT").execute()
    assert exc.value.resp.status == 404


def test_the_library_waits_for_a_pending_dns_change_and_gets_google_s_cname_refusal(emu: EmulatorServer) -> None:
    """apigee-psc's Cloud DNS client polls ``changes.get`` while a change is pending, and
    surfaces the CNAME conflict as a typed 400 with Google's reason."""
    private_zone(emu)
    emu.configure(op_seconds_overrides={"dns.changes.create": 0.3})
    client = CloudDnsClient(endpoint=emu.url)
    mark = emu.requests()[-1]["seq"]
    mark_txt = '"heritage=apigee-psc,apigee-psc/owner=organizations/my-organization/endpointAttachments/gkebackend"'
    change = client.records.change(
        PROJECT,
        "my-private-zone",
        additions=[
            RecordSet("orders.example.com.", "A", 300, ("7.0.3.4",)),
            RecordSet("orders.example.com.", "TXT", 300, (mark_txt,)),
        ],
    )
    assert change.status == "done"
    polls = [r for r in emu.requests(since=mark, method="GET") if f"/changes/{change.id}" in r["path"]]
    assert len(polls) >= 1
    assert client.records.get(PROJECT, "my-private-zone", "orders.example.com.", "TXT").rrdatas == (mark_txt,)

    with pytest.raises(errors.BadRequest) as refused:
        client.records.change(
            PROJECT,
            "my-private-zone",
            additions=[RecordSet("orders.example.com.", "CNAME", 300, ("backend.example.com.",))],
        )
    assert refused.value.reason == "cnameResourceRecordSetConflict"
