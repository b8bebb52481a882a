"""The storage of the Compute backend: projects, regions, references and lookups."""

from __future__ import annotations

import hashlib
import ipaddress
from typing import TYPE_CHECKING, Any

from apigee_psc.emulator.compute.fields import (
    AUTO_RANGES,
    GLOBAL,
    JSON,
    NAME_RE,
    REF_FIELDS,
    REF_LIST_FIELDS,
    REGION_RE,
)
from apigee_psc.emulator.compute.resources import (
    REF_RE,
    ComputeOperation,
    ComputeResource,
    invalid_field,
    not_found,
    resource_path,
)
from apigee_psc.emulator.errors import InvalidArgument

if TYPE_CHECKING:
    from apigee_psc.emulator.state import World


class ComputeStore:
    """Every Compute resource and operation of every project, and how references resolve."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.resources: dict[str, ComputeResource] = {}
        self.operations: dict[str, ComputeOperation] = {}
        self.request_ids: dict[tuple[str, str], str] = {}
        self.projects: set[str] = set()
        self.regions: set[tuple[str, str]] = set()
        #: (service attachment path, consumer key) -> the status decided for that connection
        #: (ACCEPTED or REJECTED); a PENDING connection is not stored and is decided again.
        self.connections: dict[tuple[str, str], str] = {}
        #: Decided connections that keep their status although ``reconcileConnections`` is on:
        #: under ``reconcile_in_same_patch: false``, those decided before the PATCH that turned
        #: it on, until the next change of the lists.
        self.pinned: set[tuple[str, str]] = set()

    def _store_new(self, collection: str, project: str, region: str | None, name: str, fields: JSON) -> ComputeResource:
        """A new resource (the next id, created now), stored under its path."""
        res = ComputeResource(collection, project, region, name, self.world.next_id(), self.world.now(), fields)
        self.resources[res.path] = res
        return res

    # -- projects, regions, references -----------------------------------------------------------

    def ensure_project(self, project_id: str) -> None:
        """Give a new project its ``default`` auto-mode network."""
        if project_id in self.projects:
            return
        self.projects.add(project_id)
        self._store_new(
            "networks",
            project_id,
            None,
            "default",
            {
                "description": "Default network for the project",
                "autoCreateSubnetworks": True,
                "subnetworks": [],
                "routingConfig": {"routingMode": "REGIONAL"},
                "mtu": 1460,
                "networkFirewallPolicyEnforcementOrder": "AFTER_CLASSIC_FIREWALL",
            },
        )

    def _scope(self, project: str, region: str | None = None) -> str:
        project_id = self.world.ensure_project(project)
        if region is not None:
            if not REGION_RE.match(region):
                raise InvalidArgument(f"Invalid value for field 'region': '{region}'. Unknown region.")
            self._ensure_region(project_id, region)
        return project_id

    def _ensure_region(self, project: str, region: str) -> None:
        """Create the auto-mode ``default`` subnet of ``region`` on first use."""
        if (project, region) in self.regions:
            return
        self.regions.add((project, region))
        net = self.resources.get(resource_path(project, None, "networks", "default"))
        if net is None or not net.fields.get("autoCreateSubnetworks"):
            return
        cidr = AUTO_RANGES.get(region)
        taken = {self._cidr(r) for r in self._subnets_of(net.path)}
        if cidr is None or ipaddress.ip_network(cidr) in taken:
            slot = int(hashlib.sha256(region.encode()).hexdigest(), 16) % 2000
            while True:
                candidate = ipaddress.ip_network(f"10.{128 + (slot // 16) % 128}.{(slot % 16) * 16}.0/20")
                if all(not candidate.overlaps(t) for t in taken):
                    cidr = str(candidate)
                    break
                slot += 1
        sub = self._store_new(
            "subnetworks",
            project,
            region,
            "default",
            {
                "network": net.path,
                "ipCidrRange": cidr,
                "gatewayAddress": str(ipaddress.ip_network(cidr).network_address + 1),
                "privateIpGoogleAccess": False,
                "purpose": "PRIVATE",
                "stackType": "IPV4_ONLY",
            },
        )
        net.fields["subnetworks"].append(sub.path)

    def ref(self, value: Any, field_name: str, project: str, region: str | None, collection: str) -> str:
        """Normalise a reference (full URL, partial path or bare name) to ``projects/...``."""
        if not isinstance(value, str) or not value:
            raise invalid_field(field_name, value, "A reference is required.")
        match = REF_RE.search(value)
        if match:
            return match.group(0)
        if value.startswith(("global/", "regions/")):
            return f"projects/{project}/{value}"
        if "/" not in value and NAME_RE.match(value):
            return resource_path(project, None if collection in GLOBAL else region, collection, value)
        raise invalid_field(field_name, value, "The URL is malformed.")

    def network_exists(self, project_id: str, name: str) -> bool:
        """Whether ``projects/{project_id}/global/networks/{name}`` exists (for the other APIs)."""
        with self.world.lock:
            return resource_path(project_id, None, "networks", name) in self.resources

    def lookup(self, path: str) -> ComputeResource:
        """The resource at ``path``; 404 in Compute's words when there is none."""
        res = self.resources.get(path)
        if res is None:
            raise not_found(path)
        return res

    @staticmethod
    def _cidr(res: ComputeResource) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return ipaddress.ip_network(res.fields["ipCidrRange"])

    def _subnets_of(self, network_path: str) -> list[ComputeResource]:
        return [
            r
            for r in self.resources.values()
            if r.collection == "subnetworks" and r.fields.get("network") == network_path
        ]

    def _users(self, path: str) -> list[ComputeResource]:
        """Resources that reference ``path``."""
        out = []
        for r in self.resources.values():
            if r.collection == "networks":
                continue
            refs = [r.fields.get(f) for f in REF_FIELDS]
            refs += [v for f in REF_LIST_FIELDS for v in r.fields.get(f, []) or []]
            refs += [b.get("group") for b in r.fields.get("backends", []) or [] if isinstance(b, dict)]
            if path in refs:
                out.append(r)
        return out
