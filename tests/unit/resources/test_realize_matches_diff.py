"""For every kind and generated spec/live pairs: status calls an entity in sync exactly when
plan's diff for it is a no-op, and every change survives the plan's JSON round trip."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from resource_kit import MARK, ORG, PEERED, SA_PATH, TENANT, context, spec

from apigee_psc.cloud import ManagedZone, PeeredDnsDomain, RecordSet
from apigee_psc.compute import (
    ConnectedEndpoint,
    ConsumerProjectLimit,
    Firewall,
    FirewallAllowed,
    ForwardingRule,
    ServiceAttachment,
    Subnet,
)
from apigee_psc.models import DnsZone, EndpointAttachment
from apigee_psc.southbound import Change, Realization
from apigee_psc.southbound.live import Grant
from apigee_psc.southbound.resources import RECONCILERS
from apigee_psc.southbound.resources.base import Seen

PROJECTS = ["project-one", "project-two", "project-three", TENANT]
RANGES = ["10.100.0.0/28", "10.100.1.0/28"]
OURS_TXT = RecordSet(
    "orders.example.com.",
    "TXT",
    300,
    ('"heritage=apigee-psc,apigee-psc/owner=organizations/my-organization/endpointAttachments/gkebackend"',),
)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


@st.composite
def specs(draw: st.DrawFn) -> Any:
    manual = draw(st.booleans())
    sa: dict[str, Any] = {
        "name": "gkebackend",
        "connection_preference": "ACCEPT_MANUAL" if manual else "ACCEPT_AUTOMATIC",
        "connection_limit": draw(st.sampled_from([10, 15])),
        "prune": draw(st.booleans()),
        "allow_widening": draw(st.booleans()),
    }
    reconcile = draw(st.sampled_from([None, True, False]))
    if reconcile is not None:
        sa["reconcile_connections"] = reconcile
    if manual:
        chosen = draw(st.lists(st.sampled_from(PROJECTS), unique=True, max_size=3))
        split = draw(st.integers(0, len(chosen)))
        sa["accept_projects"], sa["reject_projects"] = chosen[:split], chosen[split:]
    ports = draw(st.sampled_from([[80], [80, 443]]))
    return spec(
        service_attachment=sa,
        nat_subnet={"name": "psc-subnet", "range": draw(st.sampled_from(RANGES))},
        firewall={"name": "allow-psc-nat-80", "ports": ports, "target_tags": ["psc-demo"]},
        adopt=draw(st.booleans()),
    )


descriptions = st.sampled_from([MARK, ""])
limits = st.builds(ConsumerProjectLimit, st.sampled_from(PROJECTS), st.sampled_from([10, 15, 20]))
service_attachments = st.builds(
    ServiceAttachment,
    name=st.just("gkebackend"),
    connection_preference=st.sampled_from(["ACCEPT_AUTOMATIC", "ACCEPT_MANUAL"]),
    target_service=st.sampled_from(
        [
            "projects/my-project/regions/us-west1/forwardingRules/fr-ilb",
            "projects/my-project/regions/us-west1/forwardingRules/x",
        ]
    ),
    nat_subnets=st.just(("projects/my-project/regions/us-west1/subnetworks/psc-subnet",)),
    consumer_accept_lists=st.lists(limits, max_size=3, unique_by=lambda e: e.project).map(tuple),
    consumer_reject_lists=st.lists(st.sampled_from(PROJECTS), max_size=2, unique=True).map(tuple),
    enable_proxy_protocol=st.booleans(),
    reconcile_connections=st.sampled_from([None, True, False]),
    connected_endpoints=st.lists(
        st.builds(
            ConnectedEndpoint,
            st.sampled_from(["projects/a/x", f"projects/{TENANT}/y"]),
            st.sampled_from(["ACCEPTED", "CLOSED"]),
        ),
        max_size=2,
    ).map(tuple),
    description=descriptions,
)
STATES = ["ACTIVE", "CREATING", "DELETING", "UPDATING", "STATE_UNSPECIFIED"]
CONNECTIONS = [
    "ACCEPTED",
    "ACCEPTED_LIMITED_CAPACITY",
    "PENDING",
    "REJECTED",
    "CLOSED",
    "FROZEN",
    "NEEDS_ATTENTION",
    "UNAVAILABLE",
    "CONNECTION_STATE_UNSPECIFIED",
]
DOMAINS = st.sampled_from(["example.com.", "other.com."])
READY = EndpointAttachment(
    "gkebackend", "us-west1", SA_PATH, host="7.0.3.4", state="ACTIVE", connection_state="ACCEPTED"
)
endpoint_attachments = st.just(READY) | st.builds(
    EndpointAttachment,
    name=st.just("gkebackend"),
    location=st.sampled_from(["us-west1", "europe-west1"]),
    service_attachment=st.sampled_from([SA_PATH, "projects/my-project/regions/us-west1/serviceAttachments/x"]),
    host=st.sampled_from(["7.0.3.4", None]),
    state=st.sampled_from(STATES),
    connection_state=st.sampled_from(CONNECTIONS),
)
firewalls = st.builds(
    Firewall,
    name=st.just("allow-psc-nat-80"),
    source_ranges=st.sampled_from([(RANGES[0],), (RANGES[1],), ("192.168.0.0/16",)]),
    target_tags=st.sampled_from([("psc-demo",), ()]),
    allowed=st.sampled_from([("80",), ("22",), ("443", "80")]).map(lambda p: (FirewallAllowed("tcp", p),)),
    description=descriptions,
)
forwarding_rules = st.builds(
    ForwardingRule, st.just("fr-ilb"), load_balancing_scheme=st.sampled_from(["INTERNAL", "EXTERNAL", None])
)
subnets = st.builds(
    Subnet,
    st.just("psc-subnet"),
    st.sampled_from(RANGES),
    purpose=st.sampled_from(["PRIVATE_SERVICE_CONNECT", "PRIVATE", None]),
    description=descriptions,
)
zones = st.builds(
    DnsZone,
    st.just("my-zone"),
    DOMAINS,
    descriptions,
    st.just("my-project"),
    state=st.sampled_from(["ACTIVE", "CREATING"]),
)
GRANT = Grant("serviceAccount:a@b", True)


@st.composite
def snapshots(draw: st.DrawFn) -> dict[str, Seen]:
    record = draw(maybe(st.sampled_from(["7.0.3.4", "10.9.9.9"])))
    a_record = RecordSet("orders.example.com.", "A", 300, (record,)) if record else None
    return {
        "ForwardingRule": Seen(draw(maybe(forwarding_rules))),
        "NatSubnet": Seen(draw(maybe(subnets))),
        "Firewall": Seen(draw(maybe(firewalls))),
        "ServiceAttachment": Seen(draw(maybe(service_attachments))),
        "EndpointAttachment": Seen(draw(maybe(endpoint_attachments))),
        "IamBinding": Seen(draw(maybe(st.just(GRANT))), None, {"member": GRANT.member}),
        "DnsZone": Seen(draw(maybe(zones))),
        "PeeredDnsDomain": Seen(draw(maybe(st.builds(PeeredDnsDomain, st.just("my-zone"), DOMAINS)))),
        "ManagedZone": Seen(draw(maybe(st.just(ManagedZone("my-private-zone", "example.com."))))),
        "DnsRecord": Seen(a_record, None, {"txt": draw(st.sampled_from([None, OURS_TXT]))}),
    }


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(the_spec=specs(), snap=snapshots(), peered=st.booleans())
def test_every_kind_is_in_sync_exactly_when_its_diff_is_a_no_op(
    the_spec: Any, snap: dict[str, Seen], peered: bool
) -> None:
    ctx = context(the_spec, PEERED if peered else ORG)
    for r in RECONCILERS:
        if not r.applies(the_spec, ctx.org):
            continue
        found = r.assess(ctx, snap)
        status = r.realize(ctx, snap, found)
        assert (status.state is Realization.IN_SYNC) == found.noop, (r.kind, found, status)
        if status.state is not Realization.IN_SYNC:
            assert status.failure_message, (r.kind, status)
        again = Change.from_dict(found.change.to_dict())
        assert again == found.change and again.live == found.change.live and again.wanted == found.change.wanted
