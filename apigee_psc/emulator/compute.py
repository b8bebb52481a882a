"""Compute Engine v1: what the seed's producer side needs.

networks (get, list; ``default`` exists in every project, auto mode), subnetworks,
firewalls, regionHealthChecks, regionBackendServices, forwardingRules, serviceAttachments
(insert, get, list, delete; patch for service attachments) and region/global operations
(get, wait). Every mutation answers a ``compute#operation`` that goes PENDING -> RUNNING
-> DONE in ``op_seconds`` and honours ``requestId``. The change itself is applied when the
request is accepted; validation errors answer at once in Compute's error shape.

Service attachments show the Apigee endpoint attachments that point at them in
``connectedEndpoints``; :meth:`ComputeBackend.connection_status` is the one place where
the connection preference and the accept/reject lists decide a consumer's status.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import ipaddress
import math
import re
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from apigee_psc.emulator.errors import (
    AlreadyExists,
    ConditionNotMet,
    EmulatorError,
    InvalidArgument,
    NotFound,
    OperationInProgress,
    ResourceInUse,
)
from apigee_psc.emulator.routing import Call, Handler, Reply, RouteGroup, page, rfc3339_offset

if TYPE_CHECKING:
    from apigee_psc.emulator.state import World

__all__ = ["ROUTES", "ComputeBackend", "ComputeOperation", "ComputeResource"]

JSON = dict[str, Any]

NAME_RE = re.compile(r"^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$")
REGION_RE = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")
TAG_RE = re.compile(r"^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$")
OWNER = "emulator-owner@example.com"

REGIONAL = ("subnetworks", "forwardingRules", "serviceAttachments", "healthChecks", "backendServices")
GLOBAL = ("networks", "firewalls")

#: URL segment -> (discovery resource name, resource kind, list kind)
COLLECTIONS: dict[str, tuple[str, str, str]] = {
    "networks": ("networks", "compute#network", "compute#networkList"),
    "firewalls": ("firewalls", "compute#firewall", "compute#firewallList"),
    "subnetworks": ("subnetworks", "compute#subnetwork", "compute#subnetworkList"),
    "healthChecks": ("regionHealthChecks", "compute#healthCheck", "compute#healthCheckList"),
    "backendServices": ("regionBackendServices", "compute#backendService", "compute#backendServiceList"),
    "forwardingRules": ("forwardingRules", "compute#forwardingRule", "compute#forwardingRuleList"),
    "serviceAttachments": ("serviceAttachments", "compute#serviceAttachment", "compute#serviceAttachmentList"),
}

_COMMON_OUTPUT = {"creationTimestamp", "id", "kind", "selfLink", "selfLinkWithId", "fingerprint", "region"}

#: Fields a client may write, per collection (from the v1 discovery schemas).
WRITABLE: dict[str, frozenset[str]] = {
    "subnetworks": frozenset(
        [
            "allowSubnetCidrRoutesOverlap",
            "description",
            "enableFlowLogs",
            "ipCidrRange",
            "ipCollection",
            "ipv6AccessType",
            "ipv6CidrRange",
            "ipv6GceEndpoint",
            "logConfig",
            "name",
            "network",
            "params",
            "privateIpGoogleAccess",
            "privateIpv6GoogleAccess",
            "purpose",
            "reservedInternalRange",
            "resolveSubnetMask",
            "role",
            "secondaryIpRanges",
            "stackType",
        ]
    ),
    "firewalls": frozenset(
        [
            "allowed",
            "denied",
            "description",
            "destinationRanges",
            "direction",
            "disabled",
            "logConfig",
            "name",
            "network",
            "params",
            "priority",
            "sourceRanges",
            "sourceServiceAccounts",
            "sourceTags",
            "targetServiceAccounts",
            "targetTags",
        ]
    ),
    "healthChecks": frozenset(
        [
            "checkIntervalSec",
            "description",
            "grpcHealthCheck",
            "grpcTlsHealthCheck",
            "healthyThreshold",
            "http2HealthCheck",
            "httpHealthCheck",
            "httpsHealthCheck",
            "logConfig",
            "name",
            "sourceRegions",
            "sslHealthCheck",
            "tcpHealthCheck",
            "timeoutSec",
            "type",
            "unhealthyThreshold",
        ]
    ),
    "backendServices": frozenset(
        [
            "affinityCookieTtlSec",
            "backends",
            "cdnPolicy",
            "circuitBreakers",
            "compressionMode",
            "connectionDraining",
            "connectionTrackingPolicy",
            "consistentHash",
            "customMetrics",
            "customRequestHeaders",
            "customResponseHeaders",
            "description",
            "dynamicForwarding",
            "edgeSecurityPolicy",
            "enableCDN",
            "externalManagedMigrationState",
            "externalManagedMigrationTestingPercentage",
            "failoverPolicy",
            "haPolicy",
            "healthChecks",
            "iap",
            "ipAddressSelectionPolicy",
            "loadBalancingScheme",
            "localityLbPolicies",
            "localityLbPolicy",
            "logConfig",
            "maxStreamDuration",
            "metadatas",
            "name",
            "network",
            "networkPassThroughLbTrafficPolicy",
            "orchestrationInfo",
            "outlierDetection",
            "params",
            "port",
            "portName",
            "protocol",
            "securityPolicy",
            "securitySettings",
            "serviceBindings",
            "serviceLbPolicy",
            "sessionAffinity",
            "strongSessionAffinityCookie",
            "subsetting",
            "timeoutSec",
            "tlsSettings",
        ]
    ),
    "forwardingRules": frozenset(
        [
            "IPAddress",
            "IPProtocol",
            "allPorts",
            "allowGlobalAccess",
            "allowPscGlobalAccess",
            "backendService",
            "description",
            "ipCollection",
            "ipVersion",
            "isMirroringCollector",
            "labels",
            "loadBalancingScheme",
            "metadataFilters",
            "name",
            "network",
            "networkTier",
            "noAutomateDnsZone",
            "portRange",
            "ports",
            "serviceDirectoryRegistrations",
            "serviceLabel",
            "sourceIpRanges",
            "subnetwork",
            "target",
        ]
    ),
    "serviceAttachments": frozenset(
        [
            "connectionPreference",
            "consumerAcceptLists",
            "consumerRejectLists",
            "description",
            "domainNames",
            "enableProxyProtocol",
            "metadata",
            "name",
            "natIpsPerEndpoint",
            "natSubnets",
            "producerForwardingRule",
            "propagatedConnectionLimit",
            "reconcileConnections",
            "targetService",
        ]
    ),
}
#: Output-only fields a client may echo back; silently dropped on write.
IGNORED_ON_WRITE = _COMMON_OUTPUT | {
    "gatewayAddress",
    "state",
    "connectedEndpoints",
    "pscServiceAttachmentId",
    "usedBy",
    "pscConnectionId",
    "pscConnectionStatus",
    "labelFingerprint",
    "utilizationDetails",
    "systemReservedExternalIpv6Ranges",
    "systemReservedInternalIpv6Ranges",
    "serviceName",
    "childForwardingRules",
    "baseForwardingRule",
    "internalIpv6Prefix",
    "externalIpv6Prefix",
    "IPAddresses",
    "attachedExtensions",
    "availabilityGroup",
    "parentForwardingRule",
    "externalManagedBackendBucketMigrationState",
    "externalManagedBackendBucketMigrationTestingPercentage",
}

REF_FIELDS = ("network", "subnetwork", "backendService", "producerForwardingRule", "targetService")
REF_LIST_FIELDS = ("healthChecks", "natSubnets", "subnetworks")

#: Auto-mode ``default`` subnet ranges of well-known regions.
AUTO_RANGES = {
    "us-central1": "10.128.0.0/20",
    "europe-west1": "10.132.0.0/20",
    "us-west1": "10.138.0.0/20",
    "asia-east1": "10.140.0.0/20",
    "us-east1": "10.142.0.0/20",
    "asia-northeast1": "10.146.0.0/20",
    "asia-southeast1": "10.148.0.0/20",
    "us-east4": "10.150.0.0/20",
    "australia-southeast1": "10.152.0.0/20",
    "europe-west2": "10.154.0.0/20",
    "europe-west3": "10.156.0.0/20",
    "southamerica-east1": "10.158.0.0/20",
    "asia-south1": "10.160.0.0/20",
    "northamerica-northeast1": "10.162.0.0/20",
    "europe-west4": "10.164.0.0/20",
    "europe-north1": "10.166.0.0/20",
    "us-west2": "10.168.0.0/20",
    "asia-east2": "10.170.0.0/20",
    "europe-west6": "10.172.0.0/20",
    "asia-northeast2": "10.174.0.0/20",
}


def _invalid_field(name: str, value: Any, why: str) -> InvalidArgument:
    return InvalidArgument(f"Invalid value for field 'resource.{name}': '{value}'. {why}")


def _not_found(path: str) -> NotFound:
    return NotFound(f"The resource '{path}' was not found")


@dataclass
class ComputeResource:
    """One Compute resource; references are stored as relative paths (``projects/...``)."""

    collection: str
    project: str
    region: str | None
    name: str
    id: int
    created: float
    fields: JSON
    fingerprint_seq: int = 0

    @property
    def path(self) -> str:
        """The relative self link, ``projects/P/regions/R/C/N`` or ``projects/P/global/C/N``."""
        return _path(self.project, self.region, self.collection, self.name)

    @property
    def fingerprint(self) -> str:
        """The current fingerprint (changes on every change)."""
        digest = hashlib.sha256(f"{self.path}/{self.id}/{self.fingerprint_seq}".encode()).digest()[:8]
        return base64.b64encode(digest).decode()

    def to_dict(self, root: str, extra: JSON | None = None) -> JSON:
        """The wire resource; ``root`` is the server's root URL."""
        base = f"{root}compute/v1/"
        out: JSON = {
            "kind": COLLECTIONS[self.collection][1],
            "id": str(self.id),
            "creationTimestamp": rfc3339_offset(self.created),
            "name": self.name,
        }
        for key, value in self.fields.items():
            if key in REF_FIELDS and isinstance(value, str):
                out[key] = base + value
            elif key in REF_LIST_FIELDS and isinstance(value, list):
                out[key] = [base + v for v in value]
            else:
                out[key] = copy.deepcopy(value)
        if self.region is not None:
            out["region"] = f"{base}projects/{self.project}/regions/{self.region}"
        if self.collection in ("subnetworks", "backendServices", "forwardingRules", "serviceAttachments"):
            out["fingerprint"] = self.fingerprint
        out.update(extra or {})
        out["selfLink"] = base + self.path
        return out


@dataclass
class ComputeOperation:
    """A Compute operation: its timing decides PENDING/RUNNING/DONE."""

    name: str
    id: int
    project: str
    region: str | None
    operation_type: str
    target: str
    target_id: int
    created: float
    seconds: float
    error: EmulatorError | None = None
    request_id: str | None = None
    kind: str = ""

    @property
    def path(self) -> str:
        """The relative self link of the operation."""
        scope = f"regions/{self.region}" if self.region else "global"
        return f"projects/{self.project}/{scope}/operations/{self.name}"

    def status(self, now: float) -> str:
        """PENDING for the first fifth of its time, then RUNNING, then DONE (never, if infinite)."""
        elapsed = now - self.created
        if math.isinf(self.seconds):
            return "RUNNING"
        if self.seconds <= 0 or elapsed >= self.seconds:
            return "DONE"
        return "PENDING" if elapsed < self.seconds / 5 else "RUNNING"

    def to_dict(self, root: str, now: float) -> JSON:
        """The ``compute#operation`` resource."""
        base = f"{root}compute/v1/"
        status = self.status(now)
        out: JSON = {
            "kind": "compute#operation",
            "id": str(self.id),
            "name": self.name,
            "operationType": self.operation_type,
            "targetLink": base + self.target,
            "targetId": str(self.target_id),
            "status": status,
            "user": OWNER,
            "progress": {"PENDING": 0, "RUNNING": 50, "DONE": 100}[status],
            "insertTime": rfc3339_offset(self.created),
            "selfLink": base + self.path,
        }
        if status != "PENDING":
            out["startTime"] = rfc3339_offset(self.created)
        if self.region:
            out["region"] = f"{base}projects/{self.project}/regions/{self.region}"
        if status == "DONE":
            end = self.created + (self.seconds if math.isfinite(self.seconds) else 0)
            out["endTime"] = rfc3339_offset(end)
            if self.error is not None:
                out["error"] = {"errors": [{"code": self.error.reason.upper(), "message": self.error.message}]}
                out["httpErrorStatusCode"] = self.error.http_status
                out["httpErrorMessage"] = _HTTP_REASONS.get(self.error.http_status, "ERROR")
        return out


_HTTP_REASONS = {
    400: "BAD REQUEST",
    403: "FORBIDDEN",
    404: "NOT FOUND",
    409: "CONFLICT",
    412: "PRECONDITION FAILED",
    429: "TOO MANY REQUESTS",
    500: "INTERNAL SERVER ERROR",
    503: "SERVICE UNAVAILABLE",
}


def _path(project: str, region: str | None, collection: str, name: str) -> str:
    scope = f"regions/{region}" if region else "global"
    return f"projects/{project}/{scope}/{collection}/{name}"


_REF_RE = re.compile(r"projects/[^/]+/(?:global|regions/[^/]+)/[A-Za-z]+/[^/?#]+")


class ComputeBackend:
    """All Compute resources and operations of every project."""

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

    # -- projects, regions, references -----------------------------------------------------------

    def ensure_project(self, project_id: str) -> None:
        """Give a new project its ``default`` auto-mode network."""
        if project_id in self.projects:
            return
        self.projects.add(project_id)
        net = ComputeResource(
            "networks",
            project_id,
            None,
            "default",
            self.world.next_id(),
            self.world.now(),
            {
                "description": "Default network for the project",
                "autoCreateSubnetworks": True,
                "subnetworks": [],
                "routingConfig": {"routingMode": "REGIONAL"},
                "mtu": 1460,
                "networkFirewallPolicyEnforcementOrder": "AFTER_CLASSIC_FIREWALL",
            },
        )
        self.resources[net.path] = net

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
        net = self.resources.get(_path(project, None, "networks", "default"))
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
        sub = ComputeResource(
            "subnetworks",
            project,
            region,
            "default",
            self.world.next_id(),
            self.world.now(),
            {
                "network": net.path,
                "ipCidrRange": cidr,
                "gatewayAddress": str(ipaddress.ip_network(cidr).network_address + 1),
                "privateIpGoogleAccess": False,
                "purpose": "PRIVATE",
                "stackType": "IPV4_ONLY",
            },
        )
        self.resources[sub.path] = sub
        net.fields["subnetworks"].append(sub.path)

    def ref(self, value: Any, field_name: str, project: str, region: str | None, collection: str) -> str:
        """Normalise a reference (full URL, partial path or bare name) to ``projects/...``."""
        if not isinstance(value, str) or not value:
            raise _invalid_field(field_name, value, "A reference is required.")
        match = _REF_RE.search(value)
        if match:
            return match.group(0)
        if value.startswith(("global/", "regions/")):
            return f"projects/{project}/{value}"
        if "/" not in value and NAME_RE.match(value):
            return _path(project, None if collection in GLOBAL else region, collection, value)
        raise _invalid_field(field_name, value, "The URL is malformed.")

    def lookup(self, path: str) -> ComputeResource:
        """The resource at ``path``; 404 in Compute's words when there is none."""
        res = self.resources.get(path)
        if res is None:
            raise _not_found(path)
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
            if path in refs:
                out.append(r)
        return out

    # -- generic operations ------------------------------------------------------------------------

    def list(self, collection: str, project: str, region: str | None) -> list[ComputeResource]:
        """Every resource of ``collection`` in the scope, by name."""
        with self.world.lock:
            project = self._scope(project, region)
            prefix = _path(project, region, collection, "")
            return sorted((r for p, r in self.resources.items() if p.startswith(prefix)), key=lambda r: r.name)

    def get(self, collection: str, project: str, region: str | None, name: str) -> ComputeResource:
        """One resource."""
        with self.world.lock:
            project = self._scope(project, region)
            return self.lookup(_path(project, region, collection, name))

    def insert(
        self, collection: str, project: str, region: str | None, body: JSON, request_id: str | None = None
    ) -> ComputeOperation:
        """Validate and create a resource; answer its operation."""
        with self.world.lock:
            project = self._scope(project, region)
            name = body.get("name")

            def apply() -> ComputeResource:
                fields = self._clean(collection, body)
                if not isinstance(name, str) or not NAME_RE.match(name):
                    raise _invalid_field(
                        "name", name, "Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'"
                    )
                if "region" in body and region and str(body["region"]).rstrip("/").split("/")[-1] != region:
                    raise _invalid_field("region", body["region"], "It does not match the request's region.")
                path = _path(project, region, collection, name)
                if path in self.resources:
                    raise AlreadyExists(f"The resource '{path}' already exists")
                validator = getattr(self, f"_validate_{collection}")
                fields = validator(project, region, name, fields, None)
                res = ComputeResource(collection, project, region, name, self.world.next_id(), self.world.now(), fields)
                self.resources[path] = res
                return res

            target = _path(project, region, collection, str(name))
            return self._mutate(collection, "insert", project, region, target, request_id, apply)

    def delete(
        self, collection: str, project: str, region: str | None, name: str, request_id: str | None = None
    ) -> ComputeOperation:
        """Delete a resource unless another one uses it."""
        with self.world.lock:
            project = self._scope(project, region)
            path = _path(project, region, collection, name)

            def apply() -> ComputeResource:
                res = self.lookup(path)
                if collection == "networks":
                    raise InvalidArgument("Deleting networks is not supported by the emulator.")
                users = [u for u in self._users(path) if u.path != path]
                if users:
                    kind = collection[:-1] if collection.endswith("s") else collection
                    raise ResourceInUse(f"The {kind} resource '{path}' is already being used by '{users[0].path}'")
                del self.resources[path]
                if collection == "serviceAttachments":
                    self.connections = {k: v for k, v in self.connections.items() if k[0] != path}
                if collection == "subnetworks":
                    net = self.resources.get(res.fields.get("network", ""))
                    if net is not None and path in net.fields.get("subnetworks", []):
                        net.fields["subnetworks"].remove(path)
                return res

            return self._mutate(collection, "delete", project, region, path, request_id, apply)

    def patch(
        self, collection: str, project: str, region: str | None, name: str, body: JSON, request_id: str | None = None
    ) -> ComputeOperation:
        """JSON merge patch; the current ``fingerprint`` is required (412 otherwise)."""
        with self.world.lock:
            project = self._scope(project, region)
            path = _path(project, region, collection, name)

            def apply() -> ComputeResource:
                res = self.lookup(path)
                if body.get("fingerprint") != res.fingerprint:
                    raise ConditionNotMet(
                        "Supplied fingerprint does not match current metadata fingerprint.",
                    )
                if body.get("name", name) != name:
                    raise _invalid_field("name", body["name"], "The name cannot be changed.")
                patch = self._clean(collection, body)
                for immutable, coll in (
                    ("producerForwardingRule", "forwardingRules"),
                    ("targetService", "forwardingRules"),
                    ("network", "networks"),
                ):
                    if immutable in patch and patch[immutable] is not None:
                        new = self.ref(patch[immutable], immutable, project, region, coll)
                        if new != res.fields.get(immutable):
                            raise _invalid_field(immutable, patch[immutable], "The field cannot be changed.")
                merged = _merge_patch(res.fields, patch)
                if collection == "serviceAttachments":
                    # Connections that exist now are decided under the lists as they are now.
                    self.world.apigee.endpoints_for(path)
                validator = getattr(self, f"_validate_{collection}")
                res.fields = validator(project, region, name, merged, res)
                res.fingerprint_seq += 1
                return res

            return self._mutate(collection, "patch", project, region, path, request_id, apply)

    def _clean(self, collection: str, body: JSON) -> JSON:
        allowed = WRITABLE[collection]
        out: JSON = {}
        for key, value in body.items():
            if key in allowed:
                out[key] = copy.deepcopy(value)
            elif key not in IGNORED_ON_WRITE:
                raise InvalidArgument(
                    f"Invalid JSON payload received. Unknown name \"{key}\" at 'resource': Cannot find field.",
                    reason="invalid",
                )
        out.pop("name", None)
        return out

    def _mutate(
        self,
        collection: str,
        verb: str,
        project: str,
        region: str | None,
        target: str,
        request_id: str | None,
        apply: Any,
    ) -> ComputeOperation:
        if request_id:
            try:
                uuid.UUID(request_id)
            except ValueError as exc:
                raise InvalidArgument(
                    f"Invalid value for field 'requestId': '{request_id}'. Must be a valid UUID.",
                ) from exc
            seen = self.request_ids.get((project, request_id))
            if seen is not None:
                return self.operations[seen]
        self._check_no_operation_running(target)
        kind = f"compute.{COLLECTIONS[collection][0]}.{verb}"
        seconds = self.world.op_seconds(kind)
        fault = self.world.faults.take_operation_fault(kind)
        error: EmulatorError | None = None
        target_id = 0
        if fault is not None and fault.outcome == "fail":
            error = fault.error()
            existing = self.resources.get(target)
            target_id = existing.id if existing else self.world.next_id()
        else:
            res = apply()
            target_id = res.id
            if fault is not None and fault.outcome == "never":
                seconds = math.inf
        stamp = int(self.world.now() * 1000)
        op = ComputeOperation(
            name=f"operation-{stamp}-{self.world.uuid().replace('-', '')[:13]}-{self.world.uuid()[:8]}",
            id=self.world.next_id(),
            project=project,
            region=region,
            operation_type=verb,
            target=target,
            target_id=target_id,
            created=self.world.now(),
            seconds=seconds,
            error=error,
            request_id=request_id,
            kind=kind,
        )
        self.operations[op.path] = op
        if request_id:
            self.request_ids[(project, request_id)] = op.path
        return op

    def _check_no_operation_running(self, target: str) -> None:
        """409 operationInProgress while an operation on ``target`` is not DONE (as Compute answers)."""
        now = self.world.now()
        for op in self.operations.values():
            if op.target == target and op.status(now) != "DONE":
                raise OperationInProgress(
                    f"The resource '{target}' is being changed by operation '{op.name}' ({op.operation_type}); "
                    "retry when that operation is DONE."
                )

    def get_operation(self, project: str, region: str | None, name: str) -> ComputeOperation:
        """A region or global operation."""
        with self.world.lock:
            project = self._scope(project, region)
            scope = f"regions/{region}" if region else "global"
            path = f"projects/{project}/{scope}/operations/{name}"
            op = self.operations.get(path)
            if op is None:
                raise _not_found(path)
            return op

    # -- validators (return the stored fields) ---------------------------------------------------------

    def _network(self, value: Any, project: str, field_name: str = "network") -> ComputeResource:
        path = self.ref(value, field_name, project, None, "networks")
        return self.lookup(path)

    def _validate_subnetworks(
        self, project: str, region: str | None, name: str, f: JSON, current: ComputeResource | None
    ) -> JSON:
        if "network" not in f:
            raise _invalid_field("network", "", "The network is required.")
        net = self._network(f["network"], project)
        f["network"] = net.path
        purpose = f.setdefault("purpose", "PRIVATE")
        if purpose not in {
            "PRIVATE",
            "PRIVATE_RFC_1918",
            "PRIVATE_SERVICE_CONNECT",
            "REGIONAL_MANAGED_PROXY",
            "GLOBAL_MANAGED_PROXY",
            "INTERNAL_HTTPS_LOAD_BALANCER",
            "PRIVATE_NAT",
            "PEER_MIGRATION",
        }:
            raise _invalid_field("purpose", purpose, "Unknown purpose.")
        raw = f.get("ipCidrRange")
        try:
            cidr = ipaddress.IPv4Network(str(raw), strict=True)
        except ValueError as exc:
            raise _invalid_field(
                "ipCidrRange", raw, "Invalid IPCidrRange: it must be an IPv4 CIDR range with no host bits set."
            ) from exc
        if not 8 <= cidr.prefixlen <= 29:
            raise _invalid_field("ipCidrRange", raw, "The prefix length must be between /8 and /29.")
        for other in self._subnets_of(net.path):
            if other.name == name and other.region == region:
                continue
            for rng in [other.fields["ipCidrRange"]] + [
                s.get("ipCidrRange", "") for s in other.fields.get("secondaryIpRanges", [])
            ]:
                if rng and cidr.overlaps(ipaddress.ip_network(rng)):
                    raise InvalidArgument(
                        f"Invalid IPCidrRange: {cidr} conflicts with existing subnetwork '{other.name}' "
                        f"in region '{other.region}'.",
                    )
        f["ipCidrRange"] = str(cidr)
        if purpose in ("PRIVATE", "PRIVATE_RFC_1918"):
            f["gatewayAddress"] = str(cidr.network_address + 1)
            f.setdefault("privateIpGoogleAccess", False)
        f.setdefault("stackType", "IPV4_ONLY")
        if current is None:
            net.fields.setdefault("subnetworks", []).append(_path(project, region, "subnetworks", name))
        return f

    def _validate_firewalls(
        self, project: str, region: str | None, name: str, f: JSON, current: ComputeResource | None
    ) -> JSON:
        f["network"] = self._network(f.get("network", "global/networks/default"), project).path
        direction = f.setdefault("direction", "INGRESS")
        if direction not in ("INGRESS", "EGRESS"):
            raise _invalid_field("direction", direction, "Must be INGRESS or EGRESS.")
        priority = f.setdefault("priority", 1000)
        if not isinstance(priority, int) or not 0 <= priority <= 65535:
            raise _invalid_field("priority", priority, "Must be between 0 and 65535.")
        if bool(f.get("allowed")) == bool(f.get("denied")):
            raise InvalidArgument("Exactly one of 'allowed' or 'denied' must be specified.")
        for key in ("allowed", "denied"):
            for i, rule in enumerate(f.get(key) or []):
                proto = str(rule.get("IPProtocol", "")).lower()
                if proto not in {"tcp", "udp", "icmp", "esp", "ah", "sctp", "ipip", "all"} and not proto.isdigit():
                    raise _invalid_field(f"{key}[{i}].IPProtocol", proto, "Unknown protocol.")
                for port in rule.get("ports", []) or []:
                    if proto not in ("tcp", "udp", "sctp", "all"):
                        raise _invalid_field(f"{key}[{i}].ports", port, "Ports need tcp, udp or sctp.")
                    if not re.fullmatch(r"\d{1,5}(-\d{1,5})?", str(port)) or any(
                        not 0 <= int(p) <= 65535 for p in str(port).split("-")
                    ):
                        raise _invalid_field(f"{key}[{i}].ports", port, "Invalid port or port range.")
        for rng in f.get("sourceRanges", []) + f.get("destinationRanges", []):
            try:
                ipaddress.ip_network(rng, strict=False)
            except ValueError as exc:
                raise _invalid_field("sourceRanges", rng, "Invalid IP range.") from exc
        for tag in f.get("targetTags", []) + f.get("sourceTags", []):
            if not TAG_RE.match(str(tag)):
                raise _invalid_field("targetTags", tag, "Invalid network tag.")
        if direction == "INGRESS" and not (
            f.get("sourceRanges") or f.get("sourceTags") or f.get("sourceServiceAccounts")
        ):
            f["sourceRanges"] = ["0.0.0.0/0"]
        f.setdefault("disabled", False)
        f.setdefault("logConfig", {"enable": False})
        return f

    def _validate_healthChecks(
        self, project: str, region: str | None, name: str, f: JSON, current: ComputeResource | None
    ) -> JSON:
        kind = f.get("type")
        sub = {
            "TCP": "tcpHealthCheck",
            "HTTP": "httpHealthCheck",
            "HTTPS": "httpsHealthCheck",
            "HTTP2": "http2HealthCheck",
            "SSL": "sslHealthCheck",
            "GRPC": "grpcHealthCheck",
            "GRPC_WITH_TLS": "grpcTlsHealthCheck",
        }
        if kind not in sub:
            raise _invalid_field("type", kind, "The health check type is required (TCP, HTTP, ...).")
        spec = f.setdefault(sub[kind], {})
        if "port" not in spec and "portName" not in spec and spec.get("portSpecification") is None:
            spec["port"] = 443 if kind in ("HTTPS", "SSL") else 80
        spec.setdefault("proxyHeader", "NONE")
        for key, default in (
            ("checkIntervalSec", 5),
            ("timeoutSec", 5),
            ("unhealthyThreshold", 2),
            ("healthyThreshold", 2),
        ):
            f.setdefault(key, default)
        if f["timeoutSec"] > f["checkIntervalSec"]:
            raise _invalid_field("timeoutSec", f["timeoutSec"], "It must not be greater than checkIntervalSec.")
        return f

    def _validate_backendServices(
        self, project: str, region: str | None, name: str, f: JSON, current: ComputeResource | None
    ) -> JSON:
        scheme = f.setdefault("loadBalancingScheme", "EXTERNAL")
        if scheme not in {"EXTERNAL", "EXTERNAL_MANAGED", "INTERNAL", "INTERNAL_MANAGED", "INTERNAL_SELF_MANAGED"}:
            raise _invalid_field("loadBalancingScheme", scheme, "Unknown load balancing scheme.")
        f.setdefault("protocol", "TCP" if scheme == "INTERNAL" else "HTTP")
        checks = [self.ref(c, "healthChecks", project, region, "healthChecks") for c in f.get("healthChecks", [])]
        for c in checks:
            self.lookup(c)
        if scheme == "INTERNAL" and not checks:
            raise _invalid_field(
                "healthChecks", "", "A backend service with loadBalancingScheme INTERNAL must have a health check."
            )
        if checks:
            f["healthChecks"] = checks
        if "network" in f:
            f["network"] = self._network(f["network"], project).path
        f.setdefault("sessionAffinity", "NONE")
        f.setdefault("timeoutSec", 30)
        f.setdefault("connectionDraining", {"drainingTimeoutSec": 0})
        return f

    def _validate_forwardingRules(
        self, project: str, region: str | None, name: str, f: JSON, current: ComputeResource | None
    ) -> JSON:
        scheme = f.setdefault("loadBalancingScheme", "EXTERNAL")
        if scheme not in {"EXTERNAL", "EXTERNAL_MANAGED", "INTERNAL", "INTERNAL_MANAGED", "INTERNAL_SELF_MANAGED"}:
            raise _invalid_field("loadBalancingScheme", scheme, "Unknown load balancing scheme.")
        proto = f.setdefault("IPProtocol", "TCP")
        if proto not in {"TCP", "UDP", "ESP", "AH", "SCTP", "ICMP", "L3_DEFAULT"}:
            raise _invalid_field("IPProtocol", proto, "Unknown protocol.")
        ports = f.get("ports") or []
        if len(ports) > 5:
            raise _invalid_field("ports", ",".join(map(str, ports)), "At most 5 ports can be specified.")
        for p in ports:
            if not str(p).isdigit() or not 1 <= int(p) <= 65535:
                raise _invalid_field("ports", p, "Invalid port.")
        if ports and (f.get("allPorts") or f.get("portRange")):
            raise InvalidArgument("Only one of 'ports', 'portRange' or 'allPorts' may be specified.")
        if ports:
            f["ports"] = [str(p) for p in ports]
        if scheme == "INTERNAL":
            if not f.get("backendService"):
                raise _invalid_field(
                    "backendService",
                    "",
                    "Forwarding rules with loadBalancingScheme INTERNAL must specify a backend service.",
                )
            bs = self.lookup(self.ref(f["backendService"], "backendService", project, region, "backendServices"))
            if bs.fields.get("loadBalancingScheme") != "INTERNAL":
                raise _invalid_field(
                    "backendService", bs.path, "The backend service's loadBalancingScheme must be INTERNAL."
                )
            f["backendService"] = bs.path
            net = self._network(f.get("network", "global/networks/default"), project)
            f["network"] = net.path
            if f.get("subnetwork"):
                sub = self.lookup(self.ref(f["subnetwork"], "subnetwork", project, region, "subnetworks"))
            elif net.fields.get("autoCreateSubnetworks"):
                sub = self.lookup(_path(project, region, "subnetworks", "default"))
            else:
                raise _invalid_field("subnetwork", "", "A subnetwork is required in a custom mode network.")
            if sub.fields.get("network") != net.path or sub.region != region:
                raise _invalid_field("subnetwork", sub.path, "The subnetwork is not in the network and region.")
            if sub.fields.get("purpose") not in ("PRIVATE", "PRIVATE_RFC_1918"):
                raise _invalid_field("subnetwork", sub.path, "The subnetwork's purpose must be PRIVATE.")
            f["subnetwork"] = sub.path
            f["IPAddress"] = self._allocate(sub, f.get("IPAddress"), current)
        else:
            if "backendService" in f:
                f["backendService"] = self.lookup(
                    self.ref(f["backendService"], "backendService", project, region, "backendServices")
                ).path
            if not f.get("IPAddress"):
                f["IPAddress"] = (
                    f"34.{self.world.rng.randrange(1, 255)}.{self.world.rng.randrange(0, 255)}."
                    f"{self.world.rng.randrange(1, 255)}"
                )
        f.setdefault("networkTier", "PREMIUM")
        return f

    def _allocate(self, sub: ComputeResource, wanted: Any, current: ComputeResource | None) -> str:
        net = self._cidr(sub)
        used = {
            r.fields.get("IPAddress")
            for r in self.resources.values()
            if r.collection == "forwardingRules" and r.fields.get("subnetwork") == sub.path and r is not current
        }
        if wanted:
            try:
                addr = ipaddress.ip_address(str(wanted))
            except ValueError as exc:
                raise _invalid_field("IPAddress", wanted, "Invalid IP address.") from exc
            if addr not in net or addr in (net.network_address, net.broadcast_address):
                raise _invalid_field("IPAddress", wanted, f"The address is not in subnetwork range {net}.")
            if str(addr) in used:
                raise _invalid_field("IPAddress", wanted, "The address is already in use.")
            return str(addr)
        for offset in range(2, net.num_addresses - 2):
            candidate = str(net.network_address + offset)
            if candidate not in used:
                return candidate
        raise InvalidArgument(f"The subnetwork '{sub.path}' has no free IP address.", reason="ipSpaceExhausted")

    def _validate_serviceAttachments(
        self, project: str, region: str | None, name: str, f: JSON, current: ComputeResource | None
    ) -> JSON:
        target_key = "producerForwardingRule" if f.get("producerForwardingRule") else "targetService"
        if not f.get(target_key):
            raise _invalid_field("producerForwardingRule", "", "A producer forwarding rule is required.")
        fr = self.lookup(self.ref(f[target_key], target_key, project, region, "forwardingRules"))
        if fr.collection != "forwardingRules" or fr.region != region:
            raise _invalid_field(target_key, fr.path, "It must be a forwarding rule in the same region.")
        # gcloud sends both fields (the same self link); they must name the same rule.
        for key in ("producerForwardingRule", "targetService"):
            if f.get(key):
                if self.ref(f[key], key, project, region, "forwardingRules") != fr.path:
                    raise _invalid_field(key, f[key], "producerForwardingRule and targetService must be the same.")
                f[key] = fr.path
        if fr.fields.get("loadBalancingScheme") not in ("INTERNAL", "INTERNAL_MANAGED"):
            raise _invalid_field(target_key, fr.path, "The forwarding rule must be internal.")
        for other in self.resources.values():
            if (
                other.collection == "serviceAttachments"
                and other is not current
                and fr.path in (other.fields.get("producerForwardingRule"), other.fields.get("targetService"))
            ):
                raise ResourceInUse(f"The forwarding rule resource '{fr.path}' is already being used by '{other.path}'")
        f[target_key] = fr.path
        pref = f.get("connectionPreference")
        if pref not in ("ACCEPT_AUTOMATIC", "ACCEPT_MANUAL"):
            raise _invalid_field("connectionPreference", pref, "Must be ACCEPT_AUTOMATIC or ACCEPT_MANUAL.")
        subnets = f.get("natSubnets") or []
        if not subnets:
            raise _invalid_field("natSubnets", "", "At least one NAT subnet is required.")
        paths = []
        for raw in subnets:
            sub = self.lookup(self.ref(raw, "natSubnets", project, region, "subnetworks"))
            if sub.region != region:
                raise _invalid_field("natSubnets", sub.path, "The NAT subnet must be in the same region.")
            if sub.fields.get("purpose") != "PRIVATE_SERVICE_CONNECT":
                raise _invalid_field(
                    "natSubnets", sub.path, "The NAT subnet's purpose must be PRIVATE_SERVICE_CONNECT."
                )
            if sub.path in paths:
                raise _invalid_field("natSubnets", sub.path, "Duplicate NAT subnet.")
            paths.append(sub.path)
        f["natSubnets"] = paths
        accept = f.get("consumerAcceptLists") or []
        reject = f.get("consumerRejectLists") or []
        if pref == "ACCEPT_AUTOMATIC" and (accept or reject):
            # Compute's own words (terraform-provider-google #17153): the lists must be cleared
            # (an empty list or null in the same PATCH) before or while switching to automatic.
            raise InvalidArgument("Incorrect combination of connection preference with accept and/or reject list")
        reconcile = f.setdefault("reconcileConnections", False)
        if not isinstance(reconcile, bool):
            raise _invalid_field("reconcileConnections", reconcile, "Must be true or false.")
        for i, entry in enumerate(accept):
            keys = [k for k in ("projectIdOrNum", "networkUrl", "endpointUrl") if entry.get(k)]
            if len(keys) != 1:
                raise _invalid_field(
                    f"consumerAcceptLists[{i}]",
                    entry,
                    "Exactly one of projectIdOrNum, networkUrl or endpointUrl is required.",
                )
            limit = entry.get("connectionLimit")
            if not isinstance(limit, int) or limit < 0:
                raise _invalid_field(
                    f"consumerAcceptLists[{i}].connectionLimit", limit, "A non-negative connection limit is required."
                )
        for i, entry in enumerate(reject):
            if not isinstance(entry, str) or not entry:
                raise _invalid_field(f"consumerRejectLists[{i}]", entry, "A project id, number or network URL.")
        if "consumerAcceptLists" in f and not accept:
            del f["consumerAcceptLists"]
        if "consumerRejectLists" in f and not reject:
            del f["consumerRejectLists"]
        for dn in f.get("domainNames", []) or []:
            if not str(dn).endswith("."):
                raise _invalid_field("domainNames", dn, "A domain name must end with a dot.")
        f.setdefault("enableProxyProtocol", False)
        return f

    # -- the PSC connection rule shared with Apigee -------------------------------------------------

    def connection_status(
        self,
        sa_path: str,
        project_id: str,
        project_number: str,
        rank: int = 0,
        network: str | None = None,
        consumer: str | None = None,
    ) -> str | None:
        """Status of a consumer of ``sa_path`` (None when the service attachment is gone).

        Under the current settings: ACCEPT_AUTOMATIC -> ACCEPTED; ACCEPT_MANUAL -> REJECTED
        when the project (id or number) or network is reject-listed, ACCEPTED when
        accept-listed and ``rank`` (the consumer's index among that project's endpoints) is
        within the connection limit, else PENDING.

        ``consumer`` names an existing connection (an endpoint). As Compute does, once such a
        connection is ACCEPTED or REJECTED it keeps that status when the preference or the
        lists change, unless the attachment has ``reconcileConnections: true``; only PENDING
        connections (and new ones) follow the lists.
        """
        sa = self.resources.get(sa_path)
        if sa is None or sa.collection != "serviceAttachments":
            return None
        live = self._status_under_lists(sa, project_id, project_number, rank, network)
        if consumer is None:
            return live
        key = (sa_path, consumer)
        decided = self.connections.get(key)
        if decided is not None and not sa.fields.get("reconcileConnections"):
            return decided
        if live in ("ACCEPTED", "REJECTED"):
            self.connections[key] = live
        else:
            self.connections.pop(key, None)
        return live

    def forget_connection(self, sa_path: str, consumer: str) -> None:
        """Drop the decided status of a connection whose consumer is gone (or starts again)."""
        self.connections.pop((sa_path, consumer), None)

    @staticmethod
    def _status_under_lists(
        sa: ComputeResource, project_id: str, project_number: str, rank: int, network: str | None
    ) -> str:
        if sa.fields.get("connectionPreference") == "ACCEPT_AUTOMATIC":
            return "ACCEPTED"
        ids = {project_id, project_number}
        for entry in sa.fields.get("consumerRejectLists", []) or []:
            if entry in ids or (network and _same_ref(entry, network)):
                return "REJECTED"
        for entry in sa.fields.get("consumerAcceptLists", []) or []:
            hit = entry.get("projectIdOrNum") in ids or (
                network is not None and bool(entry.get("networkUrl")) and _same_ref(entry["networkUrl"], network)
            )
            if hit:
                return "ACCEPTED" if rank < int(entry.get("connectionLimit", 0)) else "PENDING"
        return "PENDING"

    def service_attachment_extra(self, res: ComputeResource, root: str) -> JSON:
        """The output-only fields of a service attachment (connectedEndpoints, pscServiceAttachmentId)."""
        base = f"{root}compute/v1/"
        digest = hashlib.sha256(res.path.encode()).digest()
        extra: JSON = {
            "pscServiceAttachmentId": {
                "high": str(int.from_bytes(digest[:8], "big") >> 1),
                "low": str(res.id),
            }
        }
        endpoints = []
        for ep in self.world.apigee.endpoints_for(res.path):
            endpoints.append(
                {
                    "endpoint": base + ep["endpoint"],
                    "status": ep["status"],
                    "pscConnectionId": ep["pscConnectionId"],
                    "consumerNetwork": base + ep["consumerNetwork"],
                }
            )
        if endpoints:
            extra["connectedEndpoints"] = endpoints
        return extra

    def render(self, res: ComputeResource, root: str) -> JSON:
        """``res`` on the wire, with the live output-only fields."""
        extra = self.service_attachment_extra(res, root) if res.collection == "serviceAttachments" else None
        return res.to_dict(root, extra)

    def dump(self, root: str) -> JSON:
        """State for ``/_emulator/state``."""
        now = self.world.now()
        return {
            "resources": [self.render(r, root) for _, r in sorted(self.resources.items())],
            "operations": [op.to_dict(root, now) for op in self.operations.values()],
        }

    # -- seeding ---------------------------------------------------------------------------------------

    def seed(self, collection: str, project: str, region: str | None, body: JSON) -> ComputeResource:
        """Create a resource at once (no operation is recorded); for ``/_emulator/config``."""
        with self.world.lock:
            if collection not in COLLECTIONS:
                raise InvalidArgument(f"Unknown Compute collection {collection!r}.")
            if collection == "networks":
                project = self._scope(project)
                name = str(body.get("name", ""))
                if not NAME_RE.match(name):
                    raise _invalid_field("name", name, "Invalid network name.")
                if _path(project, None, "networks", name) in self.resources:
                    raise AlreadyExists(f"The resource '{_path(project, None, 'networks', name)}' already exists")
                net = ComputeResource(
                    "networks",
                    project,
                    None,
                    name,
                    self.world.next_id(),
                    self.world.now(),
                    {
                        "autoCreateSubnetworks": bool(body.get("autoCreateSubnetworks", False)),
                        "subnetworks": [],
                        "routingConfig": {"routingMode": "REGIONAL"},
                        "mtu": 1460,
                    },
                )
                self.resources[net.path] = net
                return net
            op = self.insert(collection, project, region, body)
            del self.operations[op.path]  # a seeded resource has no operation (nothing to wait for)
            return self.lookup(op.target)


def _same_ref(a: str, b: str) -> bool:
    ma, mb = _REF_RE.search(a), _REF_RE.search(b)
    return bool(ma and mb and ma.group(0) == mb.group(0))


def _merge_patch(target: JSON, patch: JSON) -> JSON:
    """RFC 7386 JSON merge patch (``null`` deletes; lists are replaced whole)."""
    out = copy.deepcopy(target)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge_patch(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


# -- routes ------------------------------------------------------------------------------------------------

ROUTES = RouteGroup("compute", style="compute", service="compute.googleapis.com")
_P = "/compute/v1/projects/<id:project>"


def _list_reply(call: Call, collection: str, project: str, region: str | None) -> Reply:
    items = call.world.compute.list(collection, project, region)
    size = call.int_arg("maxResults")
    if size is not None and not 0 <= size <= 500:
        raise InvalidArgument(f"Invalid value for field 'maxResults': '{size}'. Must be between 0 and 500.")
    chunk, token = page(items, size, call.args.get("pageToken"), default=500, maximum=500)
    scope = f"regions/{region}" if region else "global"
    base = f"{call.root}compute/v1/projects/{project}/{scope}/{collection}"
    out: JSON = {"kind": COLLECTIONS[collection][2], "id": f"projects/{project}/{scope}/{collection}", "selfLink": base}
    if chunk:
        out["items"] = [call.world.compute.render(r, call.root) for r in chunk]
    if token:
        out["nextPageToken"] = token
    return Reply(out)


#: Collections with an aggregated list: URL segment -> (discovery resource, list kind).
AGGREGATED: dict[str, tuple[str, str]] = {
    "subnetworks": ("subnetworks", "compute#subnetworkAggregatedList"),
    "healthChecks": ("healthChecks", "compute#healthChecksAggregatedList"),
    "backendServices": ("backendServices", "compute#backendServiceAggregatedList"),
    "forwardingRules": ("forwardingRules", "compute#forwardingRuleAggregatedList"),
    "serviceAttachments": ("serviceAttachments", "compute#serviceAttachmentAggregatedList"),
}


def _aggregated_reply(call: Call, collection: str, project: str) -> Reply:
    """``projects/{p}/aggregated/{collection}``: every region's items under ``regions/{r}``.

    What gcloud's ``list`` calls without ``--regions``; a page holds ``maxResults`` items in
    all; ``includeAllScopes`` and ``returnPartialSuccess`` are accepted (every scope here
    answers), ``filter`` and ``orderBy`` are not modelled and refused rather than ignored.
    """
    for unsupported in ("filter", "orderBy"):
        if call.args.get(unsupported):
            raise InvalidArgument(f"The emulator does not model '{unsupported}' on aggregated lists.")
    backend = call.world.compute
    with call.world.lock:
        project_id = backend._scope(project)
        prefix = f"projects/{project_id}/regions/"
        items = sorted(
            (r for p, r in backend.resources.items() if p.startswith(prefix) and r.collection == collection),
            key=lambda r: (r.region or "", r.name),
        )
    size = call.int_arg("maxResults")
    if size is not None and not 0 <= size <= 500:
        raise InvalidArgument(f"Invalid value for field 'maxResults': '{size}'. Must be between 0 and 500.")
    chunk, token = page(items, size, call.args.get("pageToken"), default=500, maximum=500)
    scopes: JSON = {}
    for res in chunk:
        scopes.setdefault(f"regions/{res.region}", {collection: []})[collection].append(backend.render(res, call.root))
    out: JSON = {
        "kind": AGGREGATED[collection][1],
        "id": f"projects/{project_id}/aggregated/{collection}",
        "items": scopes,
        "selfLink": f"{call.root}compute/v1/projects/{project_id}/aggregated/{collection}",
    }
    if token:
        out["nextPageToken"] = token
    return Reply(out)


def _op_reply(call: Call, op: ComputeOperation) -> Reply:
    return Reply(op.to_dict(call.root, call.world.now()))


def _register(collection: str, verbs: tuple[str, ...]) -> None:
    disc = COLLECTIONS[collection][0]
    regional = collection in REGIONAL
    base = f"{_P}/regions/<id:region>/{collection}" if regional else f"{_P}/global/{collection}"
    item = base + "/<id:name>"

    def do_list(call: Call, project: str, region: str | None = None) -> Reply:
        return _list_reply(call, collection, project, region)

    def do_get(call: Call, project: str, name: str, region: str | None = None) -> Reply:
        return Reply(call.world.compute.render(call.world.compute.get(collection, project, region, name), call.root))

    def do_insert(call: Call, project: str, region: str | None = None) -> Reply:
        op = call.world.compute.insert(collection, project, region, call.json(), call.args.get("requestId"))
        return _op_reply(call, op)

    def do_delete(call: Call, project: str, name: str, region: str | None = None) -> Reply:
        op = call.world.compute.delete(collection, project, region, name, call.args.get("requestId"))
        return _op_reply(call, op)

    def do_patch(call: Call, project: str, name: str, region: str | None = None) -> Reply:
        op = call.world.compute.patch(collection, project, region, name, call.json(), call.args.get("requestId"))
        return _op_reply(call, op)

    table: dict[str, tuple[str, str, Handler]] = {
        "list": ("GET", base, do_list),
        "get": ("GET", item, do_get),
        "insert": ("POST", base, do_insert),
        "delete": ("DELETE", item, do_delete),
        "patch": ("PATCH", item, do_patch),
    }
    for verb in verbs:
        method, path, fn = table[verb]
        ROUTES.route(method, path, f"compute.{disc}.{verb}")(fn)


_register("networks", ("list", "get"))
for _c in ("subnetworks", "firewalls", "healthChecks", "backendServices", "forwardingRules"):
    _register(_c, ("list", "get", "insert", "delete"))
_register("serviceAttachments", ("list", "get", "insert", "delete", "patch"))


def _register_aggregated(collection: str) -> None:
    def do_aggregated(call: Call, project: str) -> Reply:
        return _aggregated_reply(call, collection, project)

    endpoint = f"compute.{AGGREGATED[collection][0]}.aggregatedList"
    ROUTES.route("GET", f"{_P}/aggregated/{collection}", endpoint)(do_aggregated)


for _c in AGGREGATED:
    _register_aggregated(_c)


def _wait(call: Call, project: str, operation: str, region: str | None) -> Reply:
    world = call.world
    deadline = time.monotonic() + max(0.0, world.config.wait_deadline)
    while True:
        with world.lock:
            world.advance()
            op = world.compute.get_operation(project, region, operation)
            data = op.to_dict(call.root, world.now())
        if data["status"] == "DONE" or time.monotonic() >= deadline or world.stopping.is_set():
            return Reply(data)
        world.stopping.wait(0.02)


@ROUTES.route("GET", f"{_P}/regions/<id:region>/operations/<id:operation>", "compute.regionOperations.get")
def _region_op_get(call: Call, project: str, region: str, operation: str) -> Reply:
    return _op_reply(call, call.world.compute.get_operation(project, region, operation))


@ROUTES.route("POST", f"{_P}/regions/<id:region>/operations/<id:operation>/wait", "compute.regionOperations.wait")
def _region_op_wait(call: Call, project: str, region: str, operation: str) -> Reply:
    return _wait(call, project, operation, region)


@ROUTES.route("GET", f"{_P}/global/operations/<id:operation>", "compute.globalOperations.get")
def _global_op_get(call: Call, project: str, operation: str) -> Reply:
    return _op_reply(call, call.world.compute.get_operation(project, None, operation))


@ROUTES.route("POST", f"{_P}/global/operations/<id:operation>/wait", "compute.globalOperations.wait")
def _global_op_wait(call: Call, project: str, operation: str) -> Reply:
    return _wait(call, project, operation, None)
