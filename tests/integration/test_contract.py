"""The public contract of DESIGN.md ("Library API", "Declarative southbound connection"), run as
written against the emulator, so the names and shapes users rely on cannot drift."""

from __future__ import annotations

import json
from pathlib import Path

from apigee_psc.emulator import EmulatorServer, seed_producer

SEED = Path(__file__).resolve().parents[2] / "examples" / "seed-scenario.yaml"


def test_library_api_contract_runs_as_documented(apigee_emulator: EmulatorServer) -> None:
    from apigee_psc import ApigeeClient, ComputeClient, Southbound, SouthboundSpec

    seed_producer(apigee_emulator)
    compute = ComputeClient("my-project", "us-west1")
    compute.subnets.create("psc-subnet", ip_cidr_range="10.100.0.0/28")
    compute.service_attachments.create("gkebackend", target_service="fr-ilb", nat_subnets=["psc-subnet"])

    apigee = ApigeeClient("my-organization")
    org = apigee.get_organization()
    assert (org.name, org.project_id) == ("my-organization", "my-organization")
    assert org.apigee_project_id and org.disable_vpc_peering is True
    op = apigee.endpoint_attachments.create(
        "gkebackend",
        location="us-west1",
        service_attachment="projects/my-project/regions/us-west1/serviceAttachments/gkebackend",
    )
    op = apigee.operations.wait(op, timeout=1800)
    assert op.done and op.error is None and op.name.startswith("organizations/my-organization/operations/")
    assert op.metadata["operationType"] == "INSERT" and op.response is not None
    ea = apigee.endpoint_attachments.wait_until_ready("gkebackend", timeout=1800)
    assert (ea.name, ea.location, ea.service_attachment) == (
        "gkebackend",
        "us-west1",
        "projects/my-project/regions/us-west1/serviceAttachments/gkebackend",
    )
    assert ea.host and ea.state == "ACTIVE" and ea.connection_state == "ACCEPTED"
    assert [a.name for a in apigee.endpoint_attachments.list()] == ["gkebackend"]
    assert apigee.endpoint_attachments.get("gkebackend") == ea

    from apigee_psc.cloud import ResourceManagerClient, apigee_service_agent

    rm = ResourceManagerClient()
    rm.iam.grant(
        "my-project", "roles/dns.peer", f"serviceAccount:{apigee_service_agent(rm.projects.number('my-organization'))}"
    )
    zone_op = apigee.dns_zones.create(
        "my-zone", domain="example.com.", description="...", target_project_id="my-project", target_network_id="default"
    )
    apigee.operations.wait(zone_op)
    assert apigee.dns_zones.wait_until_active("my-zone").domain == "example.com."
    assert [z.name for z in apigee.dns_zones.list()] == ["my-zone"]
    apigee.operations.wait(apigee.dns_zones.delete("my-zone"))
    apigee.operations.wait(apigee.endpoint_attachments.delete("gkebackend"))
    apigee.endpoint_attachments.wait_until_deleted("gkebackend")

    southbound = Southbound(SouthboundSpec.from_yaml(SEED))
    assert southbound.plan().ok
    report = southbound.apply()
    data = report.to_dict()
    assert data["state"] == "in_sync" and {"sub_system_type", "sub_system_id", "state"} <= set(data["details"][0])
    json.dumps(data)
    assert southbound.status().ok
    southbound.destroy()


def test_enums_and_errors_contract() -> None:
    import apigee_psc
    from apigee_psc import ConnectionState, State
    from apigee_psc.diagnosis import diagnose
    from apigee_psc.target import target_endpoint_xml

    assert State.ACTIVE == "ACTIVE" and len(State) == 5
    assert ConnectionState.ACCEPTED == "ACCEPTED" and len(ConnectionState) == 9
    assert "ACCEPTED_LIMITED_CAPACITY" in {s.value for s in ConnectionState}
    for name in (
        "ValidationError", "ApiError", "NotFound", "AlreadyExists", "PermissionDenied", "FailedPrecondition",
        "RateLimited", "ServerError", "OperationFailed", "WaitTimeout", "ConnectionNotAccepted",
    ):  # fmt: skip
        assert issubclass(getattr(apigee_psc, name), apigee_psc.ApigeePscError)
    for name in ("NotFound", "AlreadyExists", "OperationFailed", "WaitTimeout", "ConnectionNotAccepted"):
        assert issubclass(getattr(apigee_psc, name), apigee_psc.ApiError)
    diagnosis = diagnose(
        "PENDING", apigee_project_id="x-tenant", service_attachment="projects/p/regions/r/serviceAttachments/sa"
    )
    assert (diagnosis.state, bool(diagnosis.cause), bool(diagnosis.fix)) == ("PENDING", True, True)
    assert "add 'x-tenant' to the accept list of projects/p/regions/r/serviceAttachments/sa" in str(diagnosis)
    xml = target_endpoint_xml("7.0.3.4", path="/orders")
    assert '<TargetEndpoint name="default">' in xml and "<URL>http://7.0.3.4/orders</URL>" in xml
