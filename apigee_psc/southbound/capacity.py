"""How many NAT addresses a service attachment uses and has left (Google's arithmetic).

A PSC service attachment translates each consumer connection to addresses of its NAT
subnets (``purpose: PRIVATE_SERVICE_CONNECT``). Google's rules, applied here without any API
call:

* every IPv4 subnet loses four addresses of its primary range (the network and gateway
  addresses at the start, the last two at the end): a ``/28`` NAT subnet has 12 to give;
* every connected endpoint takes ``natIpsPerEndpoint`` addresses (1 unless set), plus as many
  again for each Network Connectivity Center spoke it is propagated to
  (``propagatedConnectionCount``); when the endpoint lists its ``natIps``, they are counted;
* only connections that hold addresses count (ACCEPTED); a PENDING, REJECTED or CLOSED one
  holds none, and NEEDS_ATTENTION is what a connection shows when no address was left for it.

Google suggests watching the ``private_service_connect/producer/used_nat_ip_addresses``
metric; :func:`nat_capacity` computes the same figure from the service attachment as read.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from apigee_psc.models import HOLDING_ENDPOINT_STATUSES

__all__ = ["RESERVED_PER_SUBNET", "Capacity", "nat_capacity", "subnet_capacity", "subnet_warning"]

#: Addresses Google keeps in every IPv4 subnet's primary range.
RESERVED_PER_SUBNET = 4
#: Connected-endpoint statuses whose connection holds NAT addresses (:mod:`apigee_psc.models`).
HOLDING = HOLDING_ENDPOINT_STATUSES
#: How full a NAT range may get before it is called nearly exhausted (the alert's threshold too).
NEARLY_FULL = 0.8


def subnet_capacity(cidr: str) -> int:
    """Addresses a NAT subnet of range ``cidr`` gives to connections (its size less Google's four)."""
    network = ipaddress.ip_network(cidr, strict=False)
    if network.version != 4:
        raise ValueError(f"{cidr}: PSC NAT subnets are IPv4")
    return max(0, network.num_addresses - RESERVED_PER_SUBNET)


def _get(endpoint: Any, snake: str, camel: str, default: Any = None) -> Any:
    if isinstance(endpoint, Mapping):
        return endpoint.get(camel, endpoint.get(snake, default))
    return getattr(endpoint, snake, default)


@dataclass(frozen=True)
class Capacity:
    """NAT addresses of one service attachment: ``total`` its subnets give, ``used`` by its
    connections, and its connected endpoints counted by ``status``."""

    total: int
    used: int
    endpoints: Mapping[str, int] = field(default_factory=dict)
    needs_attention: int = 0

    @property
    def left(self) -> int:
        """Addresses still free (never below 0)."""
        return max(0, self.total - self.used)

    @property
    def exhausted(self) -> bool:
        """True when no address is left, or a connection already waits for one (NEEDS_ATTENTION)."""
        return self.left == 0 or self.needs_attention > 0

    @property
    def nearly_exhausted(self) -> bool:
        """True when at least :data:`NEARLY_FULL` of the addresses are used."""
        return self.total == 0 or self.used >= NEARLY_FULL * self.total

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return {
            "nat_ips_total": self.total,
            "nat_ips_used": self.used,
            "nat_ips_left": self.left,
            "connected_endpoints": dict(sorted(self.endpoints.items())),
        }

    def __str__(self) -> str:
        return f"{self.used} of {self.total} NAT addresses used, {self.left} left"


def nat_capacity(
    nat_ranges: Iterable[str], connected_endpoints: Iterable[Any], *, nat_ips_per_endpoint: int | None = None
) -> Capacity:
    """The capacity of a service attachment whose NAT subnets have ``nat_ranges`` (CIDRs) and
    whose ``connectedEndpoints`` are ``connected_endpoints`` (wire dictionaries or
    :class:`~apigee_psc.compute.ConnectedEndpoint` objects)."""
    per = nat_ips_per_endpoint if nat_ips_per_endpoint and nat_ips_per_endpoint > 0 else 1
    total = sum(subnet_capacity(cidr) for cidr in nat_ranges)
    used = 0
    statuses: Counter[str] = Counter()
    for endpoint in connected_endpoints:
        status = str(_get(endpoint, "status", "status", "STATUS_UNSPECIFIED"))
        statuses[status] += 1
        if status not in HOLDING:
            continue
        ips = _get(endpoint, "nat_ips", "natIps") or ()
        propagated = int(_get(endpoint, "propagated_connection_count", "propagatedConnectionCount", 0) or 0)
        used += len(ips) if ips else per * (1 + propagated)
    return Capacity(total, used, dict(statuses), statuses.get("NEEDS_ATTENTION", 0))


def subnet_warning(
    name: str, cidr: str, *, consumers: int, connection_limit: int, propagated_connection_limit: int | None
) -> str | None:
    """A plan warning when a NAT subnet of range ``cidr`` cannot hold what the spec allows:
    ``consumers`` accept-listed projects, each with up to ``connection_limit`` endpoints and
    up to ``propagated_connection_limit`` propagated connections (Google applies that limit
    per consumer; its default is 250 when ``None``), each taking one address. ``None`` when it
    fits (or there is no limit to add up: no consumer, as under ACCEPT_AUTOMATIC)."""
    if consumers <= 0 or connection_limit <= 0:
        return None
    spokes = 250 if propagated_connection_limit is None else propagated_connection_limit
    wanted = consumers * (connection_limit + spokes)
    room = subnet_capacity(cidr)
    if wanted <= room:
        return None
    return (
        f"NAT subnet {name} ({cidr}) gives {room} addresses, but the spec allows up to {wanted}"
        f" ({consumers} consumer(s) x (connection_limit {connection_limit} + propagated_connection_limit"
        f" {spokes})): use a larger range, or lower connection_limit or propagated_connection_limit"
    )


def read_capacity(service_attachment: str, **options: Any) -> Capacity | None:
    """Read the service attachment ``projects/P/regions/R/serviceAttachments/NAME`` and its NAT
    subnets and return their :func:`nat_capacity` (``None`` when something cannot be read:
    the caller's credentials may not reach the producer project). ``options`` are client options."""
    from apigee_psc import errors, names
    from apigee_psc.compute import ComputeClient

    try:
        project, region, name = names.parse_service_attachment(service_attachment)
        compute = ComputeClient(project, region, **options)
        live = compute.service_attachments.get(name)
        ranges = [
            compute.subnets.get(subnet.rstrip("/").rsplit("/", 1)[-1]).ip_cidr_range for subnet in live.nat_subnets
        ]
    except (errors.ApiError, errors.ValidationError):
        return None
    return nat_capacity(ranges, live.connected_endpoints, nat_ips_per_endpoint=live.nat_ips_per_endpoint)
