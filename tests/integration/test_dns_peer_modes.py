"""The library converges whichever way the missing dns.peer grant shows: 403, or a failed operation.

Right after apply grants ``roles/dns.peer``, the grant has not propagated yet (here for
``iam_propagation_seconds``), so the first DNS zone create fails: at once with 403 in the
``request`` mode, or through its long-running operation (error code 7 PERMISSION_DENIED) in
the ``operation`` mode. Google does both; apply must retry within its window either way.
"""

from __future__ import annotations

import pytest
from integration_helpers import southbound

from apigee_psc.emulator import EmulatorServer
from apigee_psc.southbound import SouthboundSpec


@pytest.mark.parametrize("mode", ["request", "operation"])
def test_apply_converges_while_dns_peer_grant_propagates(
    producer: EmulatorServer, seed_spec: SouthboundSpec, mode: str
) -> None:
    producer.configure(dns_peer_failure=mode, iam_propagation_seconds=1.0)
    result = southbound(seed_spec, timeout=30.0).apply()
    assert result.ok, result
    assert southbound(seed_spec).status().state.value == "in_sync"
    zones = producer.state()["apigee"]["dnsZones"]
    assert [(z["name"].rsplit("/", 1)[1], z["state"]) for z in zones] == [("my-zone", "ACTIVE")]
    creates = [r for r in producer.requests(api="apigee", method="POST") if r["path"].endswith("/dnsZones")]
    assert len(creates) >= 2  # the first create failed (403, or its operation) and was retried
    if mode == "request":
        assert creates[0]["status"] == 403
    else:
        assert creates[0]["status"] == 200
        failed = [op for op in producer.operations("apigee") if op.get("error")]
        assert [op["error"]["code"] for op in failed] == [7] * len(failed) and failed


def test_dns_zone_waits_for_the_grant_only_and_frees_the_lock_between_attempts(
    producer: EmulatorServer, seed_spec: SouthboundSpec
) -> None:
    """The zone needs only the IAM grant, so it starts while Compute still works; and while the
    grant propagates it does not hold the organization lock, so the endpoint attachment is not
    held up behind its retries."""
    producer.configure(op_seconds=0.3, dns_peer_failure="request", iam_propagation_seconds=3.0)
    result = southbound(seed_spec, timeout=60.0).apply()
    assert result.ok, result
    posts = producer.requests(api="apigee", method="POST")
    zone_creates = [r["seq"] for r in posts if r["path"].endswith("/dnsZones")]
    ea_create = next(r["seq"] for r in posts if r["path"].endswith("/endpointAttachments"))
    assert zone_creates[0] < ea_create  # first zone attempt before the attachment's create
    assert zone_creates[-1] > ea_create  # the zone's retries went on after the attachment got the lock
