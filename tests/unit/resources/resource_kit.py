"""Hand-built observations for the reconcilers' unit tests (no I/O: nothing here reads an API)."""

from __future__ import annotations

import time
from typing import Any

from apigee_psc.compute import ForwardingRule, ServiceAttachment, Subnet
from apigee_psc.demo import SEED_SPEC
from apigee_psc.models import EndpointAttachment
from apigee_psc.southbound import RealizationReport, SouthboundSpec
from apigee_psc.southbound.engine import Southbound
from apigee_psc.southbound.live import Grant, OrgInfo
from apigee_psc.southbound.resources import RECONCILERS
from apigee_psc.southbound.resources.base import Clients, Context, Reconciler, Seen

TENANT = "tenant-project-123"
SA_PATH = "projects/my-project/regions/us-west1/serviceAttachments/gkebackend"
MARK = "managed by apigee-psc for organizations/my-organization/endpointAttachments/gkebackend"
ORG = OrgInfo("my-organization", TENANT, True, "my-organization")
PEERED = OrgInfo("my-organization", TENANT, False, "my-organization", "default")


def spec(**changes: Any) -> SouthboundSpec:
    """The seed's spec with some top-level keys changed (``None`` removes one)."""
    data = {**SEED_SPEC, **changes}
    return SouthboundSpec.from_dict({k: v for k, v in data.items() if v is not None})


def context(the_spec: SouthboundSpec | None = None, org: OrgInfo = ORG, **options: Any) -> Context:
    """A context whose clients are never built (the tests make no call)."""
    the_spec = the_spec or spec()
    clients = Clients(the_spec, sleep=time.sleep, clock=time.monotonic)
    return Context(the_spec, clients, org, **options)


def reconciler(kind: str) -> Reconciler:
    """The registered reconciler of ``kind``."""
    return next(r for r in RECONCILERS if r.kind == kind)


def sa(**fields: Any) -> ServiceAttachment:
    """A live service attachment as apigee-psc creates it for the seed."""
    base: dict[str, Any] = {
        "name": "gkebackend",
        "connection_preference": "ACCEPT_AUTOMATIC",
        "target_service": "projects/my-project/regions/us-west1/forwardingRules/fr-ilb",
        "nat_subnets": ("projects/my-project/regions/us-west1/subnetworks/psc-subnet",),
        "description": MARK,
    }
    return ServiceAttachment(**{**base, **fields})


def ea(state: str = "ACTIVE", connection: str = "ACCEPTED", **fields: Any) -> EndpointAttachment:
    """A live endpoint attachment of the seed."""
    base: dict[str, Any] = {
        "name": "gkebackend",
        "location": "us-west1",
        "service_attachment": SA_PATH,
        "host": "7.0.3.4",
        "state": state,
        "connection_state": connection,
    }
    return EndpointAttachment(**{**base, **fields})


def snapshot(**reads: Any) -> dict[str, Seen]:
    """An in-sync snapshot of the seed without DNS, with kinds replaced by ``reads`` (a
    :class:`Seen`, a live object, or ``None`` for absent)."""
    snap = {
        "ForwardingRule": Seen(ForwardingRule("fr-ilb", load_balancing_scheme="INTERNAL")),
        "NatSubnet": Seen(Subnet("psc-subnet", "10.100.0.0/28", purpose="PRIVATE_SERVICE_CONNECT", description=MARK)),
        "ServiceAttachment": Seen(sa()),
        "EndpointAttachment": Seen(ea()),
        "IamBinding": Seen(Grant("serviceAccount:service-1@gcp-sa-apigee.iam.gserviceaccount.com", True)),
    }
    for kind, value in reads.items():
        snap[kind] = value if isinstance(value, Seen) else Seen(value)
    return snap


def report(the_spec: SouthboundSpec, snap: dict[str, Seen], org: OrgInfo = ORG) -> RealizationReport:
    """What status reports for ``snap``."""
    southbound = Southbound(the_spec)
    ctx = context(the_spec, org)
    kinds = [r for r in RECONCILERS if r.applies(the_spec, org)]
    return southbound._report(ctx, kinds, snap)
