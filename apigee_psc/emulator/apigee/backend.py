"""Apigee v1 backend: organizations, endpoint attachments, DNS zones and their operations."""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from apigee_psc.emulator.errors import (
    AlreadyExists,
    EmulatorError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from apigee_psc.emulator.routing import OperationClock, rfc3339, with_outcome

if TYPE_CHECKING:
    from apigee_psc.emulator.state import OrgConfig, World


JSON = dict[str, Any]
_T = TypeVar("_T")


class _OwnedItem(Protocol):
    """An organization's endpoint attachment or DNS zone, as the shared get/list/delete see it."""

    org: str
    id: str
    state: str

    @property
    def name(self) -> str: ...


_Owned = TypeVar("_Owned", bound=_OwnedItem)

EA_ID_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")
DNS_ZONE_ID_RE = re.compile(r"^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$")
SA_RE = re.compile(r"^projects/([^/]+)/regions/([^/]+)/serviceAttachments/([^/]+)$")
DOMAIN_RE = re.compile(
    r"^(?=.{1,253}\.?$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{1,63}\.?$", re.IGNORECASE
)
TYPE_PREFIX = "type.googleapis.com/google.cloud.apigee.v1."
FIRST_HOST = int(ipaddress.IPv4Address("7.0.3.4"))


@dataclass
class EndpointAttachment:
    """organizations/{org}/endpointAttachments/{id}."""

    org: str
    id: str
    location: str
    service_attachment: str
    seq: int
    state: str = "CREATING"
    host: str | None = None

    @property
    def name(self) -> str:
        """The resource name."""
        return f"organizations/{self.org}/endpointAttachments/{self.id}"


@dataclass
class DnsZone:
    """organizations/{org}/dnsZones/{id}."""

    org: str
    id: str
    domain: str
    description: str
    target_project: str
    target_network: str
    created: float
    updated: float
    state: str = "CREATING"

    @property
    def name(self) -> str:
        """The resource name."""
        return f"organizations/{self.org}/dnsZones/{self.id}"

    def to_dict(self) -> JSON:
        """The wire DnsZone."""
        out: JSON = {
            "name": self.name,
            "domain": self.domain,
            "peeringConfig": {"targetProjectId": self.target_project, "targetNetworkId": self.target_network},
            "state": self.state,
            "createTime": rfc3339(self.created),
            "updateTime": rfc3339(self.updated),
        }
        if self.description:
            out["description"] = self.description
        return out


@dataclass
class ApigeeOperation:
    """organizations/{org}/operations/{uuid}: done once ``created + seconds`` has passed."""

    name: str
    org: str
    operation_type: str
    target: str
    kind: str
    created: float
    seconds: float
    finish: Callable[[ApigeeOperation], None] = field(repr=False)
    done: bool = False
    error: EmulatorError | None = None
    response: JSON | None = None

    def to_dict(self) -> JSON:
        """The wire google.longrunning.Operation (``done`` is omitted while false, as proto3 JSON does)."""
        state = "FINISHED" if self.done else "IN_PROGRESS"
        out: JSON = {
            "name": self.name,
            "metadata": {
                "@type": TYPE_PREFIX + "OperationMetadata",
                "operationType": self.operation_type,
                "targetResourceName": self.target,
                "state": state,
                "progress": {
                    "description": ("Failed" if self.error else "Succeeded") if self.done else "In progress",
                    "percentDone": 100 if self.done else 0,
                    "state": state,
                },
            },
        }
        return with_outcome(out, self.done, self.error, self.response)


class ApigeeBackend(OperationClock[ApigeeOperation]):
    """Organizations and everything in them."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.orgs: dict[str, OrgConfig] = {}
        self.org_created: dict[str, float] = {}
        self.attachments: dict[str, EndpointAttachment] = {}
        self.dns_zones: dict[str, DnsZone] = {}
        self.operations: dict[str, ApigeeOperation] = {}
        self.hosts: dict[str, int] = {}
        self._seq = 0

    # -- organizations -----------------------------------------------------------------------------

    def add_org(self, org: OrgConfig) -> None:
        """Register ``org`` and create its own project (``projectId``) and its tenant project."""
        with self.world.lock:
            self.orgs[org.name] = org
            self.org_created.setdefault(org.name, self.world.now())
            self.world.ensure_project(org.tenant_project_id, strict=False)
            self.world.ensure_project(org.name, strict=False)

    def org(self, name: str) -> OrgConfig:
        """The organization ``name``; 404 if the emulator does not know it."""
        org = self.orgs.get(name)
        if org is None:
            raise NotFound(f'organization "organizations/{name}" not found', reason="organizationNotFound")
        return org

    def org_dict(self, name: str) -> JSON:
        """The wire Organization."""
        org = self.org(name)
        ms = str(int(self.org_created[name] * 1000))
        out: JSON = {
            "name": org.name,
            "projectId": org.name,
            "apigeeProjectId": org.tenant_project_id,
            "runtimeType": "CLOUD",
            "state": "ACTIVE",
            "subscriptionType": "PAID",
            "billingType": "PAYG",
            "analyticsRegion": "us-west1",
            "createdAt": ms,
            "lastModifiedAt": ms,
            "environments": [],
        }
        if org.peered:
            out["authorizedNetwork"] = "default"
        else:
            out["disableVpcPeering"] = True
        return out

    def tenant_number(self, org: str) -> str:
        """The project number of ``org``'s tenant project."""
        return self.world.crm.number(self.org(org).tenant_project_id)

    def service_agent(self, org: str) -> str:
        """The Apigee per-project service agent of ``org``: ``service-N@gcp-sa-apigee.iam.gserviceaccount.com``
        where N is the number of the organization's own project (``projectId``, the organization
        name here), not of the Google-owned tenant project."""
        return f"service-{self.world.crm.number(self.org(org).name)}@gcp-sa-apigee.iam.gserviceaccount.com"

    # -- operations ------------------------------------------------------------------------------------

    def _check_lock(self, org: str) -> None:
        """400 while an operation of ``org`` is running, in Google's words (magic-modules PR
        #18649 quotes them: "the resource is locked by another operation where endpoint
        attachment swp-euw2 is currently being created for organization <org> by operation:
        <uuid>")."""
        for op in self.operations.values():
            if op.org == org and not op.done:
                raise FailedPrecondition(lock_message(op), reason="resourceLocked")

    def hold_lock(
        self, org: str, seconds: float, operation_type: str = "UPDATE", target: str | None = None
    ) -> ApigeeOperation:
        """Start another tool's operation on ``org`` that runs ``seconds`` (the organization is
        locked meanwhile; ``operations.list`` shows it IN_PROGRESS); for the control API."""
        with self.world.lock:
            self.org(org)
            if operation_type not in _VERBS:
                raise InvalidArgument(f"operation_type must be one of {sorted(_VERBS)}")
            target = target or f"organizations/{org}/environments/prod"

            def finish(op: ApigeeOperation) -> None:
                if op.error is None:
                    op.response = {"@type": "type.googleapis.com/google.protobuf.Empty"}

            op = ApigeeOperation(
                name=f"organizations/{org}/operations/{self.world.uuid()}",
                org=org,
                operation_type=operation_type,
                target=target,
                kind="apigee.foreign",
                created=self.world.now(),
                seconds=seconds,
                finish=finish,
            )
            self.operations[op.name] = op
            self._advance_op(op)
            return op

    def release_lock(self, org: str) -> int:
        """Finish at once every running operation of ``org`` started by :meth:`hold_lock`."""
        with self.world.lock:
            held = [
                op for op in self.operations.values() if op.org == org and op.kind == "apigee.foreign" and not op.done
            ]
            for op in held:
                op.seconds = self.world.now() - op.created
                self._advance_op(op)
            return len(held)

    def _start(
        self, org: str, op_type: str, target: str, kind: str, finish: Callable[[ApigeeOperation], None]
    ) -> ApigeeOperation:
        seconds, error = self.world.operation_timing(kind)
        op = ApigeeOperation(
            name=f"organizations/{org}/operations/{self.world.uuid()}",
            org=org,
            operation_type=op_type,
            target=target,
            kind=kind,
            created=self.world.now(),
            seconds=seconds,
            finish=finish,
            error=error,
        )
        self.operations[op.name] = op
        self._advance_op(op)
        return op

    def _find(self, org: str, table: dict[str, _T], collection: str, noun: str, rid: str) -> _T:
        """The item ``organizations/{org}/{collection}/{rid}`` of ``table`` (404 naming ``noun`` if absent)."""
        with self.world.lock:
            self.org(org)
            name = f"organizations/{org}/{collection}/{rid}"
            found = table.get(name)
            if found is None:
                raise NotFound(f'{noun} "{name}" not found')
            return found

    def _list_of(self, org: str, table: dict[str, _Owned]) -> list[_Owned]:
        """The items of ``table`` that belong to ``org``, by id."""
        with self.world.lock:
            self.org(org)
            return sorted((item for item in table.values() if item.org == org), key=lambda item: item.id)

    def _start_delete(
        self, org: str, item: _Owned, table: dict[str, _Owned], noun: str, kind: str, gone: Callable[[], None]
    ) -> ApigeeOperation:
        """Mark an ACTIVE ``item`` DELETING and start the operation that removes it from ``table``
        (then calls ``gone``); a failed operation leaves it ACTIVE."""
        self._check_lock(org)
        if item.state != "ACTIVE":
            raise FailedPrecondition(f'{noun} "{item.name}" is {item.state}', reason="badState")
        item.state = "DELETING"

        def finish(op: ApigeeOperation) -> None:
            if op.error is not None:
                item.state = "ACTIVE"
                return
            table.pop(item.name, None)
            gone()
            op.response = {"@type": "type.googleapis.com/google.protobuf.Empty"}

        return self._start(org, "DELETE", item.name, kind, finish)

    def get_operation(self, org: str, op_id: str) -> ApigeeOperation:
        """organizations.operations.get."""
        return self._find(org, self.operations, "operations", "operation", op_id)

    def list_operations(self, org: str) -> list[ApigeeOperation]:
        """organizations.operations.list (oldest first)."""
        with self.world.lock:
            self.org(org)
            return [op for op in self.operations.values() if op.org == org]

    # -- endpoint attachments --------------------------------------------------------------------------

    def create_endpoint_attachment(self, org: str, ea_id: str | None, body: JSON) -> ApigeeOperation:
        """endpointAttachments.create."""
        with self.world.lock:
            self.org(org)
            _check_fields(body, {"name", "location", "serviceAttachment"}, {"host", "state", "connectionState"})
            if not ea_id:
                raise InvalidArgument("endpointAttachmentId is required.", reason="badRequest")
            if not EA_ID_RE.match(ea_id):
                raise InvalidArgument(
                    f'invalid endpointAttachmentId "{ea_id}": it must start with a lowercase letter, contain '
                    "only lowercase letters, digits and hyphens, not end with a hyphen, and be 2 to 32 "
                    "characters long.",
                    reason="badRequest",
                )
            location = body.get("location")
            if not isinstance(location, str) or not location:
                raise InvalidArgument("location is required.", reason="badRequest")
            sa = body.get("serviceAttachment")
            match = SA_RE.match(sa) if isinstance(sa, str) else None
            if match is None:
                raise InvalidArgument(
                    f'invalid serviceAttachment "{sa}": expected '
                    "projects/{project}/regions/{region}/serviceAttachments/{name}.",
                    reason="badRequest",
                )
            if match.group(2) != location:
                raise InvalidArgument(
                    f'location "{location}" does not match the region of service attachment "{sa}".',
                    reason="badRequest",
                )
            sa = match.group(0)
            self.world.ensure_project(match.group(1))
            name = f"organizations/{org}/endpointAttachments/{ea_id}"
            if name in self.attachments:
                raise AlreadyExists(f'endpoint attachment "{name}" already exists')
            for other in self.attachments.values():
                if other.org == org and other.service_attachment == sa:
                    raise FailedPrecondition(
                        f'service attachment "{sa}" is already used by endpoint attachment "{other.name}"; '
                        "an organization can have only one endpoint attachment per service attachment.",
                        reason="serviceAttachmentInUse",
                    )
            self._check_lock(org)
            self._seq += 1
            ea = EndpointAttachment(org, ea_id, location, sa, self._seq)
            self.attachments[name] = ea
            self.world.compute.drop_consumer(sa, name)

            def finish(op: ApigeeOperation) -> None:
                if op.error is not None:
                    self.attachments.pop(name, None)
                    return
                ea.state = "ACTIVE"
                ea.host = self._next_host(org)
                op.response = {"@type": TYPE_PREFIX + "EndpointAttachment", **self.attachment_dict(ea)}

            return self._start(org, "INSERT", name, "apigee.endpointAttachments.create", finish)

    def _next_host(self, org: str) -> str:
        n = self.hosts.get(org, 0)
        self.hosts[org] = n + 1
        return str(ipaddress.IPv4Address(FIRST_HOST + n))

    def get_endpoint_attachment(self, org: str, ea_id: str) -> EndpointAttachment:
        """endpointAttachments.get."""
        return self._find(org, self.attachments, "endpointAttachments", "endpoint attachment", ea_id)

    def list_endpoint_attachments(self, org: str) -> list[EndpointAttachment]:
        """endpointAttachments.list, by name."""
        return self._list_of(org, self.attachments)

    def delete_endpoint_attachment(self, org: str, ea_id: str) -> ApigeeOperation:
        """endpointAttachments.delete."""
        with self.world.lock:
            ea = self.get_endpoint_attachment(org, ea_id)

            def gone() -> None:
                self.world.compute.drop_consumer(ea.service_attachment, ea.name)

            return self._start_delete(
                org, ea, self.attachments, "endpoint attachment", "apigee.endpointAttachments.delete", gone
            )

    def _raw_status(self, ea: EndpointAttachment, side: str = "consumer") -> str | None:
        forced = self.world.config.connection_states.get(f"{ea.org}/{ea.id}")
        if forced:
            return forced
        tenant = self.org(ea.org).tenant_project_id
        number = self.world.crm.number(tenant)
        rank = sum(
            1
            for o in self.attachments.values()
            if o.service_attachment == ea.service_attachment
            and o.seq < ea.seq
            and self.orgs[o.org].tenant_project_id == tenant
        )
        return self.world.compute.consumer_status(
            ea.service_attachment, tenant, number, rank, _consumer_network(tenant), ea.name, side=side
        )

    def consumer_identity(self, name: str) -> tuple[str, str]:
        """The tenant project and consumer network of endpoint attachment ``name`` (for Compute)."""
        ea = self.attachments.get(name)
        tenant = self.orgs[ea.org].tenant_project_id if ea is not None and ea.org in self.orgs else ""
        return tenant, _consumer_network(tenant)

    def connection_state(self, ea: EndpointAttachment) -> str:
        """UNAVAILABLE while CREATING, CLOSED when the service attachment is gone, else its status."""
        if ea.state == "CREATING":
            return "UNAVAILABLE"
        return self._raw_status(ea) or "CLOSED"

    def attachment_dict(self, ea: EndpointAttachment) -> JSON:
        """The wire EndpointAttachment."""
        out: JSON = {"name": ea.name, "location": ea.location, "serviceAttachment": ea.service_attachment}
        if ea.host:
            out["host"] = ea.host
        out["state"] = ea.state
        out["connectionState"] = self.connection_state(ea)
        return out

    def endpoints_for(self, sa_path: str) -> list[JSON]:
        """The Apigee consumers of a service attachment, for its ``connectedEndpoints``."""
        out = []
        for ea in sorted(self.attachments.values(), key=lambda e: e.seq):
            if ea.service_attachment != sa_path or ea.state == "CREATING":
                continue
            tenant = self.orgs[ea.org].tenant_project_id
            digest = hashlib.sha256(ea.name.encode()).hexdigest()
            out.append(
                {
                    "endpoint": f"projects/{tenant}/regions/{ea.location}/forwardingRules/sb-{digest[:20]}",
                    "status": self._raw_status(ea, side="producer") or "CLOSED",
                    "pscConnectionId": str(int(digest[20:34], 16) % 10**17),
                    "consumerNetwork": _consumer_network(tenant),
                    "consumer": ea.name,
                }
            )
        return out

    # -- DNS zones --------------------------------------------------------------------------------------

    def create_dns_zone(self, org: str, zone_id: str | None, body: JSON) -> ApigeeOperation:
        """dnsZones.create: needs ``roles/dns.peer`` for the org's service agent on the target project."""
        with self.world.lock:
            self.org(org)
            _check_fields(
                body, {"name", "domain", "description", "peeringConfig"}, {"state", "createTime", "updateTime"}
            )
            if not zone_id:
                raise InvalidArgument("dnsZoneId is required.", reason="badRequest")
            if not DNS_ZONE_ID_RE.match(zone_id) or len(zone_id) > 63:
                raise InvalidArgument(
                    f'invalid dnsZoneId "{zone_id}": 1 to 63 characters, beginning with a letter and '
                    "ending with a letter or digit, using lowercase letters, digits and dashes.",
                    reason="badRequest",
                )
            domain = body.get("domain")
            if not isinstance(domain, str) or not DOMAIN_RE.match(domain):
                raise InvalidArgument(f'invalid domain "{domain}".', reason="badRequest")
            description = body.get("description") or ""
            if not isinstance(description, str) or len(description) > 1024:
                raise InvalidArgument("description must be at most 1024 characters.", reason="badRequest")
            peering = body.get("peeringConfig")
            if not isinstance(peering, dict):
                raise InvalidArgument("peeringConfig is required.", reason="badRequest")
            _check_fields(peering, {"targetProjectId", "targetNetworkId"}, set(), "peeringConfig")
            project, network = peering.get("targetProjectId"), peering.get("targetNetworkId")
            if not isinstance(project, str) or not project:
                raise InvalidArgument("peeringConfig.targetProjectId is required.", reason="badRequest")
            if not isinstance(network, str) or not network:
                raise InvalidArgument("peeringConfig.targetNetworkId is required.", reason="badRequest")
            name = f"organizations/{org}/dnsZones/{zone_id}"
            if name in self.dns_zones:
                raise AlreadyExists(f'dns zone "{name}" already exists')
            project_id = self.world.ensure_project(project)
            net_path = f"projects/{project_id}/global/networks/{network}"
            if not self.world.compute.network_exists(project_id, network):
                raise InvalidArgument(f'network "{net_path}" not found.', reason="badRequest")
            in_operation = self.world.config.dns_peer_failure == "operation"
            if not in_operation:
                self._check_dns_peer(org, project_id)
            self._check_lock(org)
            now = self.world.now()
            zone = DnsZone(org, zone_id, domain, description, project, network, now, now)
            self.dns_zones[name] = zone

            def finish(op: ApigeeOperation) -> None:
                if op.error is None and in_operation:
                    try:  # checked when the operation ends, so a grant may propagate meanwhile
                        self._check_dns_peer(org, project_id)
                    except PermissionDenied as exc:
                        op.error = exc
                if op.error is not None:
                    self.dns_zones.pop(name, None)
                    return
                zone.state = "ACTIVE"
                zone.updated = self.world.now()
                op.response = {"@type": TYPE_PREFIX + "DnsZone", **zone.to_dict()}

            return self._start(org, "INSERT", name, "apigee.dnsZones.create", finish)

    def _check_dns_peer(self, org: str, project_id: str) -> None:
        """403 PERMISSION_DENIED unless the org's service agent has roles/dns.peer on ``project_id``."""
        agent = self.service_agent(org)
        if not self.world.crm.has_role(project_id, f"serviceAccount:{agent}", "roles/dns.peer"):
            raise PermissionDenied(
                f"Permission 'dns.networks.targetWithPeeringZone' denied: the Apigee service agent "
                f"{agent} needs roles/dns.peer on project {project_id}.",
                reason="iamPermissionDenied",
            )

    def get_dns_zone(self, org: str, zone_id: str) -> DnsZone:
        """dnsZones.get."""
        return self._find(org, self.dns_zones, "dnsZones", "dns zone", zone_id)

    def list_dns_zones(self, org: str) -> list[DnsZone]:
        """dnsZones.list, by name."""
        return self._list_of(org, self.dns_zones)

    def delete_dns_zone(self, org: str, zone_id: str) -> ApigeeOperation:
        """dnsZones.delete."""
        with self.world.lock:
            zone = self.get_dns_zone(org, zone_id)
            return self._start_delete(org, zone, self.dns_zones, "dns zone", "apigee.dnsZones.delete", lambda: None)

    def dump(self) -> JSON:
        """State for ``/_emulator/state``."""
        return {
            "endpointAttachments": [self.attachment_dict(ea) for ea in self.attachments.values()],
            "dnsZones": [z.to_dict() for z in self.dns_zones.values()],
            "operations": [op.to_dict() for op in self.operations.values()],
        }

    # -- seeding --------------------------------------------------------------------------------------------

    def seed_endpoint_attachment(self, org: str, ea_id: str, body: JSON) -> EndpointAttachment:
        """Create an ACTIVE endpoint attachment at once (no operation); for ``/_emulator/config``."""
        with self.world.lock:
            op = self.create_endpoint_attachment(org, ea_id, body)
            op.seconds = 0
            self._advance_op(op)
            del self.operations[op.name]
            return self.get_endpoint_attachment(org, ea_id)


_VERBS = {"INSERT": "created", "DELETE": "deleted", "UPDATE": "updated"}


def lock_message(op: ApigeeOperation) -> str:
    """Apigee's 400 text for an organization locked by ``op``: what it changes, how, and its id."""
    parts = op.target.split("/")
    what = op.target
    if len(parts) >= 4:
        collection = re.sub(r"(?<!^)(?=[A-Z])", " ", parts[-2]).lower()
        what = f"{collection[:-1] if collection.endswith('s') else collection} {parts[-1]}"
    verb = _VERBS.get(op.operation_type, "changed")
    return (
        f"the resource is locked by another operation where {what} is currently being {verb} "
        f"for organization {op.org} by operation: {op.name.rsplit('/', 1)[-1]}"
    )


def _consumer_network(tenant: str) -> str:
    return f"projects/{tenant}/global/networks/apigee-network"


def _check_fields(body: JSON, allowed: set[str], output_only: set[str], where: str = "") -> None:
    for key in body:
        if key not in allowed and key not in output_only:
            at = f" at '{where}'" if where else ""
            raise InvalidArgument(
                f'Invalid JSON payload received. Unknown name "{key}"{at}: Cannot find field.',
                reason="badRequest",
            )
