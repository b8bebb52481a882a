"""A PSC connection's life after day one: NAT IPs, propagated connections, other consumers, suspension.

Google's rules modelled here (sources in ``docs/emulator.md``):

- Every ACCEPTED connection takes ``natIpsPerEndpoint`` (default 1) IP addresses of the
  service attachment's NAT subnets, plus one per consumer spoke it is propagated to
  ("About published services", NAT subnet sizing). A connection the lists accept but for
  which no IP is left shows NEEDS_ATTENTION (the same page: a NEEDS_ATTENTION status means
  the NAT subnets may have no free address) until an address frees up or a NAT subnet is
  added; one that holds its IPs keeps them.
- Usable addresses of a NAT subnet: its range less the four unusable addresses of every
  primary IPv4 range (network, default gateway, second-to-last, broadcast; "Subnets",
  unusable addresses), so a /29 serves 4 connections and a /28 serves 12.
- ``propagatedConnectionLimit`` (default 250, 0 allowed) caps the propagated connections
  of one consumer project (or accept-listed network): ``connectedEndpoints[]`` shows
  ``propagatedConnectionCount`` and ``natIps`` (the endpoint's and its propagations').
- Other teams' consumers (PSC endpoints in other projects) are added through the control
  API and follow the same rules; a suspended service attachment freezes its connections
  (the Apigee side shows FROZEN; Compute keeps the status it had, its enum has no FROZEN).

:class:`PscConnections` is a base of :class:`~.backend.ComputeBackend`; the Apigee backend
asks it through :meth:`PscConnections.consumer_status` and :meth:`PscConnections.drop_consumer`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING

from apigee_psc.emulator.compute.fields import JSON
from apigee_psc.emulator.compute.resources import ComputeResource, invalid_field, same_ref
from apigee_psc.emulator.compute.rules import ComputeRules

if TYPE_CHECKING:
    from apigee_psc.emulator.state import World

__all__ = ["DEFAULT_PROPAGATED_CONNECTION_LIMIT", "ForeignConsumer", "PscConnections", "usable_nat_ips"]

#: Compute's default ``propagatedConnectionLimit`` (the v1 discovery document's words).
DEFAULT_PROPAGATED_CONNECTION_LIMIT = 250


def usable_nat_ips(cidr: str) -> list[str]:
    """The addresses of a NAT subnet a connection may take: all but the network address, the
    default gateway, the second-to-last address and the broadcast address."""
    net = ipaddress.ip_network(cidr)
    return [str(net.network_address + i) for i in range(2, net.num_addresses - 2)]


@dataclass
class ForeignConsumer:
    """A PSC endpoint of another team (a forwarding rule in another project)."""

    endpoint: str
    project: str
    network: str
    seq: int
    propagations: int = 0
    pinned: str | None = None
    """A status this connection keeps whatever the lists say (``exhaust_nat`` pins ACCEPTED)."""


class PscConnections(ComputeRules):
    """NAT IP allocation, propagated connections, other consumers and suspension."""

    def __init__(self, world: World) -> None:
        super().__init__(world)
        #: (service attachment, consumer) -> the NAT IPs it holds (its own first, then its propagations').
        self.nat_allocations: dict[tuple[str, str], list[str]] = {}
        #: (service attachment, consumer) -> how many spokes the consumer asks to propagate to.
        self.propagation_requests: dict[tuple[str, str], int] = {}
        #: service attachment -> other teams' endpoints.
        self.foreign: dict[str, list[ForeignConsumer]] = {}
        #: suspended service attachments.
        self.suspended: set[str] = set()
        self._foreign_seq = 0

    # -- validation: Google's defaults for the day-2 fields ------------------------------------------

    def _validate_serviceAttachments(
        self, project: str, region: str | None, name: str, f: JSON, current: ComputeResource | None
    ) -> JSON:
        f = super()._validate_serviceAttachments(project, region, name, f, current)
        limit = f.setdefault("propagatedConnectionLimit", DEFAULT_PROPAGATED_CONNECTION_LIMIT)
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise invalid_field("propagatedConnectionLimit", limit, "Must be a non-negative integer.")
        per = f.get("natIpsPerEndpoint")
        if per is not None and (isinstance(per, bool) or not isinstance(per, int) or per < 1):
            raise invalid_field("natIpsPerEndpoint", per, "Must be a positive integer.")
        if current is None:  # a new attachment of that name starts with no connections
            self.forget_service_attachment(f"projects/{project}/regions/{region}/serviceAttachments/{name}")
        return f

    def forget_service_attachment(self, sa_path: str) -> None:
        """Drop every NAT allocation, other consumer and suspension of ``sa_path``."""
        self.nat_allocations = {k: v for k, v in self.nat_allocations.items() if k[0] != sa_path}
        self.propagation_requests = {k: v for k, v in self.propagation_requests.items() if k[0] != sa_path}
        self.foreign.pop(sa_path, None)
        self.suspended.discard(sa_path)

    # -- the status a consumer sees -----------------------------------------------------------------

    def consumer_status(
        self,
        sa_path: str,
        project_id: str,
        project_number: str,
        rank: int,
        network: str,
        consumer: str,
        *,
        side: str = "consumer",
    ) -> str | None:
        """The status of ``consumer``'s connection to ``sa_path`` after NAT and suspension.

        The lists decide first (:meth:`connection_status`); an ACCEPTED connection then needs
        its NAT IPs (NEEDS_ATTENTION without them). ``side`` ``consumer`` (Apigee's
        connectionState) shows FROZEN while the attachment is suspended; ``producer``
        (``connectedEndpoints``) keeps the status Compute knows.
        """
        status = self.world.compute.connection_status(
            sa_path, project_id, project_number, rank, network=network, consumer=consumer
        )
        key = (sa_path, consumer)
        if status is None:
            self.nat_allocations.pop(key, None)
            return None
        if status == "ACCEPTED":
            sa = self.resources[sa_path]
            if not self._admit(sa, key, project_id, network):
                status = "NEEDS_ATTENTION"
        else:
            self.nat_allocations.pop(key, None)
        if side == "consumer" and sa_path in self.suspended and status != "CLOSED":
            return "FROZEN"
        return str(status)

    def drop_consumer(self, sa_path: str, consumer: str) -> None:
        """Forget a connection whose consumer is gone or starts again; its NAT IPs are freed."""
        self.world.compute.forget_connection(sa_path, consumer)
        self.nat_allocations.pop((sa_path, consumer), None)
        self.propagation_requests.pop((sa_path, consumer), None)

    def _free_ips(self, sa: ComputeResource) -> list[str]:
        taken = {ip for (path, _), ips in self.nat_allocations.items() if path in self.resources for ip in ips}
        return [ip for ip in self._nat_pool(sa) if ip not in taken]

    def _nat_pool(self, sa: ComputeResource) -> list[str]:
        pool: list[str] = []
        for path in sa.fields.get("natSubnets", []) or []:
            sub = self.resources.get(path)
            if sub is not None:
                pool.extend(usable_nat_ips(sub.fields["ipCidrRange"]))
        return pool

    def _admit(self, sa: ComputeResource, key: tuple[str, str], project_id: str, network: str) -> bool:
        """Give an ACCEPTED connection its NAT IPs (kept once held); False when none is left.

        Its own ``natIpsPerEndpoint`` addresses come first; then one per propagated connection
        it asks for, within ``propagatedConnectionLimit`` and the addresses left."""
        pool = set(self._nat_pool(sa))
        per = int(sa.fields.get("natIpsPerEndpoint") or 1)
        held = [ip for ip in self.nat_allocations.get(key, []) if ip in pool]
        own, propagated = held[:per], held[per:]
        if len(own) < per:
            self.nat_allocations.pop(key, None)
            free = [ip for ip in self._free_ips(sa) if ip not in held]
            if len(free) < per - len(own):
                return False
            own = own + free[: per - len(own)]
        wanted = min(self.propagation_requests.get(key, 0), self._propagation_room(sa, key, project_id, network))
        propagated = propagated[:wanted]
        self.nat_allocations[key] = own + propagated
        if len(propagated) < wanted:
            propagated = propagated + self._free_ips(sa)[: wanted - len(propagated)]
            self.nat_allocations[key] = own + propagated
        return True

    def _propagation_room(self, sa: ComputeResource, key: tuple[str, str], project_id: str, network: str) -> int:
        """How many propagated connections ``key`` may have under ``propagatedConnectionLimit``:
        the limit is per consumer project (per network when the accept list names the network),
        shared by that consumer's endpoints."""
        limit = int(sa.fields.get("propagatedConnectionLimit", DEFAULT_PROPAGATED_CONNECTION_LIMIT))
        by_network = any(
            e.get("networkUrl") and same_ref(e["networkUrl"], network)
            for e in sa.fields.get("consumerAcceptLists", []) or []
        )
        per = int(sa.fields.get("natIpsPerEndpoint") or 1)
        used = 0
        for (sa_path, consumer), ips in self.nat_allocations.items():
            if sa_path != sa.path or consumer == key[1]:
                continue
            other_project, other_network = self._consumer_identity(sa_path, consumer)
            same = same_ref(other_network, network) if by_network else other_project == project_id
            if same:
                used += max(0, len(ips) - per)
        return max(0, limit - used)

    def _consumer_identity(self, sa_path: str, consumer: str) -> tuple[str, str]:
        """The project and network of a consumer, for the propagation limit."""
        for fc in self.foreign.get(sa_path, []):
            if fc.endpoint == consumer:
                return fc.project, fc.network
        return self.world.apigee.consumer_identity(consumer)

    # -- connectedEndpoints ------------------------------------------------------------------------

    def nat_fields(self, sa_path: str, consumer: str) -> JSON:
        """``natIps`` and ``propagatedConnectionCount`` of a connected endpoint (empty when it holds none)."""
        ips = self.nat_allocations.get((sa_path, consumer))
        if not ips:
            return {}
        sa = self.resources.get(sa_path)
        per = int(sa.fields.get("natIpsPerEndpoint") or 1) if sa else 1
        return {"natIps": list(ips), "propagatedConnectionCount": max(0, len(ips) - per)}

    def foreign_endpoints(self, sa_path: str) -> list[JSON]:
        """Other teams' connected endpoints of ``sa_path``, as ``endpoints_for`` lists Apigee's."""
        out = []
        for fc in self.foreign.get(sa_path, []):
            status = self._foreign_status(sa_path, fc)
            out.append(
                {
                    "endpoint": fc.endpoint,
                    "status": status,
                    "pscConnectionId": str(10**16 + fc.seq),
                    "consumerNetwork": fc.network,
                    "consumer": fc.endpoint,
                }
            )
        return out

    def _foreign_status(self, sa_path: str, fc: ForeignConsumer) -> str:
        key = (sa_path, fc.endpoint)
        if fc.pinned is not None:
            sa = self.resources.get(sa_path)
            if sa is None:
                return "CLOSED"
            if fc.pinned == "ACCEPTED" and not self._admit(sa, key, fc.project, fc.network):
                return "NEEDS_ATTENTION"
            return fc.pinned
        rank = sum(1 for o in self.foreign.get(sa_path, []) if o.project == fc.project and o.seq < fc.seq)
        number = self.world.crm.number(fc.project)
        status = self.consumer_status(sa_path, fc.project, number, rank, fc.network, fc.endpoint, side="producer")
        return status or "CLOSED"

    # -- other teams' consumers (control API) -------------------------------------------------------

    def add_foreign(
        self, sa_path: str, project: str, count: int, *, propagations: int = 0, pinned: str | None = None
    ) -> list[ForeignConsumer]:
        """Connect ``count`` endpoints of ``project`` to ``sa_path``; each is decided at once."""
        sa = self.lookup(sa_path)
        project = self.world.ensure_project(project)
        added = []
        for _ in range(count):
            self._foreign_seq += 1
            fc = ForeignConsumer(
                endpoint=f"projects/{project}/regions/{sa.region}/forwardingRules/psc-consumer-{self._foreign_seq}",
                project=project,
                network=f"projects/{project}/global/networks/default",
                seq=self._foreign_seq,
                propagations=propagations,
                pinned=pinned,
            )
            self.foreign.setdefault(sa_path, []).append(fc)
            if propagations:
                self.propagation_requests[(sa_path, fc.endpoint)] = propagations
            self._foreign_status(sa_path, fc)
            added.append(fc)
        return added

    def remove_foreign(self, sa_path: str) -> int:
        """Disconnect every other team's endpoint of ``sa_path``; return how many there were."""
        gone = self.foreign.pop(sa_path, [])
        for fc in gone:
            self.drop_consumer(sa_path, fc.endpoint)
        return len(gone)

    def request_propagations(self, sa_path: str, consumer: str, count: int) -> None:
        """Ask for ``count`` propagated connections of ``consumer`` (granted within the limit and free IPs)."""
        self.propagation_requests[(sa_path, consumer)] = count

    def nat_usage(self, sa_path: str) -> JSON:
        """``{"usable", "used", "free"}`` NAT addresses of a service attachment."""
        sa = self.lookup(sa_path)
        pool = self._nat_pool(sa)
        free = self._free_ips(sa)
        return {"usable": len(pool), "used": len(pool) - len(free), "free": len(free)}

    def psc_dump(self) -> JSON:
        """Day-2 state for ``/_emulator/state``: NAT use, suspended attachments, other teams' endpoints."""
        attachments = sorted(p for p, r in self.resources.items() if r.collection == "serviceAttachments")
        return {
            "nat": {path: self.nat_usage(path) for path in attachments},
            "suspended": sorted(self.suspended & set(attachments)),
            "otherConsumers": {
                path: [fc.endpoint for fc in self.foreign.get(path, [])]
                for path in attachments
                if self.foreign.get(path)
            },
        }
