"""The producer-side resources as this library's frozen dataclasses.

Each is built from a google-cloud-compute message (``from_proto``) or the API's JSON
(``from_api``); those that are created know their message (``to_proto``). Only
:class:`ConsumerProjectLimit` writes JSON (``to_api``): the merge patches of a service
attachment go out as JSON so that an emptied list is sent as ``[]``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, MutableSequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from apigee_psc._answers import operation_error
from apigee_psc.compute._gapic import prepare
from apigee_psc.errors import ApiError
from apigee_psc.models import WireEnum
from apigee_psc.names import short

if TYPE_CHECKING:
    from google.cloud.compute_v1.types import compute
    from proto import Message

__all__ = [
    "BackendService",
    "ComputeOperation",
    "ComputeOperationError",
    "ConnectedEndpoint",
    "ConnectedEndpointStatus",
    "ConnectionPreference",
    "ConsumerProjectLimit",
    "Firewall",
    "FirewallAllowed",
    "ForwardingRule",
    "HealthCheck",
    "Network",
    "ServiceAttachment",
    "Subnet",
]

E = TypeVar("E", bound=WireEnum)
R = TypeVar("R", bound="_FromProto")
T = TypeVar("T")


class ConnectionPreference(WireEnum):
    """Whether a service attachment accepts every consumer or only accept-listed ones."""

    ACCEPT_AUTOMATIC = "ACCEPT_AUTOMATIC"
    ACCEPT_MANUAL = "ACCEPT_MANUAL"
    CONNECTION_PREFERENCE_UNSPECIFIED = "CONNECTION_PREFERENCE_UNSPECIFIED"


class ConnectedEndpointStatus(WireEnum):
    """Status of one consumer endpoint connected to a service attachment."""

    ACCEPTED = "ACCEPTED"
    CLOSED = "CLOSED"
    NEEDS_ATTENTION = "NEEDS_ATTENTION"
    PENDING = "PENDING"
    REJECTED = "REJECTED"
    STATUS_UNSPECIFIED = "STATUS_UNSPECIFIED"


def _enum(cls: type[E], value: str, default: E) -> E | str:
    if not value:
        return default
    try:
        return cls(value)
    except ValueError:
        return value


def _opt(message: Message, field: str) -> str | None:
    """A string field, ``None`` when the message does not set it."""
    return str(getattr(message, field)) or None if field in message else None


def relative(link: str) -> str:
    """The ``projects/...`` part of a Compute URL (or the link itself when it has none)."""
    at = link.find("projects/")
    return link[at:] if at >= 0 else link


def _fields(cls: type[T], message: Message, **given: object) -> T:
    """Dataclass ``cls`` from the same-named fields of ``message``: repeated fields become
    tuples and a field the message does not set keeps the dataclass default; ``given``
    supplies the fields whose names or shapes differ."""
    values: dict[str, Any] = dict(given)
    for item in dataclasses.fields(cls):  # type: ignore[arg-type]
        if item.name in values or item.name not in type(message).meta.fields or item.name not in message:
            continue
        value = getattr(message, item.name)
        values[item.name] = tuple(value) if isinstance(value, MutableSequence) else value
    return cls(**values)


class _FromProto:
    """``from_api(json)`` for every dataclass, through its google-cloud-compute message."""

    _message: ClassVar[str]

    @classmethod
    def from_proto(cls: type[R], message: Message) -> R:  # pragma: no cover - each class has its own
        raise NotImplementedError

    @classmethod
    def from_api(cls: type[R], data: Mapping[str, object]) -> R:
        """Build from the API's JSON (as the REST answers carry it)."""
        prepare()
        from google.cloud.compute_v1.types import compute

        message_type = getattr(compute, cls._message)
        return cls.from_proto(message_type.from_json(json.dumps(dict(data)), ignore_unknown_fields=True))


@dataclass(frozen=True)
class ComputeOperationError:
    """The ``error`` of a Compute operation: its ``errors[]`` items (``code``, ``message``)."""

    errors: tuple[Mapping[str, str], ...] = ()

    @property
    def code(self) -> str | None:
        """The first error's code, such as ``RESOURCE_ALREADY_EXISTS``."""
        return self.errors[0].get("code") or None if self.errors else None

    @property
    def message(self) -> str:
        """Every error's message, joined."""
        texts = [item.get("message") or item.get("code") or "" for item in self.errors]
        return "; ".join(text for text in texts if text) or "operation failed"

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.code else self.message


@dataclass(frozen=True)
class ComputeOperation(_FromProto):
    """A Compute Engine operation (regional or global).

    ``status`` is ``PENDING``, ``RUNNING`` or ``DONE``; ``error`` is set when a DONE
    operation failed (``http_error_status_code`` then says how).
    """

    _message = "Operation"

    name: str
    status: str = "PENDING"
    error: ComputeOperationError | None = None
    target_link: str | None = None
    http_error_status_code: int | None = None
    http_error_message: str | None = None
    operation_type: str | None = None
    self_link: str | None = None
    region: str | None = None
    progress: int | None = None

    @property
    def done(self) -> bool:
        """True once the operation is DONE (successful or not)."""
        return self.status == "DONE"

    @property
    def succeeded(self) -> bool:
        """True once the operation is DONE without an error."""
        return self.done and self.error is None

    def exception(self, resource_name: str | None = None) -> ApiError | None:
        """What this operation's ``error`` means as an exception (``None`` if it has none):
        :class:`~apigee_psc.errors.AlreadyExists` naming ``resource_name`` for an insert of
        a resource that exists, else :class:`~apigee_psc.errors.OperationFailed` (see
        :func:`~apigee_psc._answers.operation_error`)."""
        if self.error is None:
            return None
        return operation_error(
            self.name,
            self.error.message,
            http_status=self.http_error_status_code,
            reason=self.error.code,
            errors=list(self.error.errors),
            url=self.target_link,
            resource_name=resource_name,
        )

    @classmethod
    def from_proto(cls, message: compute.Operation) -> ComputeOperation:
        """Build from a google-cloud-compute ``Operation``."""
        failure = None
        if "error" in message:
            failure = ComputeOperationError(tuple({"code": e.code, "message": e.message} for e in message.error.errors))
        status = message.status.name if "status" in message else "PENDING"
        return _fields(cls, message, status=status, error=failure, region=short(message.region) or None)


@dataclass(frozen=True)
class Network(_FromProto):
    """A VPC network."""

    _message = "Network"

    name: str
    self_link: str = ""
    auto_create_subnetworks: bool | None = None
    subnetworks: tuple[str, ...] = ()

    @classmethod
    def from_proto(cls, message: compute.Network) -> Network:
        """Build from a google-cloud-compute ``Network``."""
        return _fields(cls, message)


@dataclass(frozen=True)
class Subnet(_FromProto):
    """A subnetwork; the PSC NAT subnet has ``purpose == "PRIVATE_SERVICE_CONNECT"``."""

    _message = "Subnetwork"

    name: str
    ip_cidr_range: str
    network: str = ""
    region: str = ""
    purpose: str | None = None
    description: str = ""
    self_link: str = ""
    fingerprint: str | None = None

    @classmethod
    def from_proto(cls, message: compute.Subnetwork) -> Subnet:
        """Build from a google-cloud-compute ``Subnetwork``."""
        return _fields(cls, message, region=short(message.region))

    def to_proto(self) -> compute.Subnetwork:
        """The message that creates this subnet."""
        prepare()
        from google.cloud.compute_v1.types import compute

        message = compute.Subnetwork(name=self.name, ip_cidr_range=self.ip_cidr_range, network=self.network)
        if self.purpose:
            message.purpose = self.purpose
        if self.description:
            message.description = self.description
        return message


@dataclass(frozen=True)
class FirewallAllowed:
    """One ``allowed[]`` entry of a firewall rule: a protocol and its ports."""

    ip_protocol: str
    ports: tuple[str, ...] = ()


@dataclass(frozen=True)
class Firewall(_FromProto):
    """A VPC firewall rule."""

    _message = "Firewall"

    name: str
    network: str = ""
    direction: str = "INGRESS"
    priority: int = 1000
    source_ranges: tuple[str, ...] = ()
    target_tags: tuple[str, ...] = ()
    allowed: tuple[FirewallAllowed, ...] = ()
    description: str = ""
    disabled: bool = False
    self_link: str = ""

    @property
    def tcp_ports(self) -> tuple[int, ...]:
        """The single TCP ports this rule allows (ranges such as ``80-90`` are left out)."""
        ports: list[int] = []
        for entry in self.allowed:
            if entry.ip_protocol.lower() in {"tcp", "6"}:
                ports.extend(int(port) for port in entry.ports if port.isdigit())
        return tuple(ports)

    @classmethod
    def from_proto(cls, message: compute.Firewall) -> Firewall:
        """Build from a google-cloud-compute ``Firewall``."""
        allowed = tuple(FirewallAllowed(a.I_p_protocol, tuple(a.ports)) for a in message.allowed)
        return _fields(cls, message, allowed=allowed)

    def to_proto(self) -> compute.Firewall:
        """The message that creates this rule."""
        prepare()
        from google.cloud.compute_v1.types import compute as t

        message = t.Firewall(
            name=self.name,
            network=self.network,
            direction=self.direction,
            priority=self.priority,
            source_ranges=list(self.source_ranges),
            target_tags=list(self.target_tags),
            allowed=[t.Allowed(I_p_protocol=a.ip_protocol, ports=list(a.ports)) for a in self.allowed],
        )
        if self.description:
            message.description = self.description
        return message


@dataclass(frozen=True)
class ForwardingRule(_FromProto):
    """A regional forwarding rule (the internal load balancer in front of the producer)."""

    _message = "ForwardingRule"

    name: str
    region: str = ""
    ip_address: str | None = None
    ip_protocol: str | None = None
    ports: tuple[str, ...] = ()
    all_ports: bool = False
    load_balancing_scheme: str | None = None
    backend_service: str | None = None
    target: str | None = None
    network: str | None = None
    subnetwork: str | None = None
    allow_global_access: bool | None = None
    description: str = ""
    self_link: str = ""

    @property
    def resource_name(self) -> str:
        """``projects/{project}/regions/{region}/forwardingRules/{name}``."""
        return relative(self.self_link)

    @classmethod
    def from_proto(cls, message: compute.ForwardingRule) -> ForwardingRule:
        """Build from a google-cloud-compute ``ForwardingRule``."""
        return _fields(
            cls,
            message,
            region=short(message.region),
            ip_address=_opt(message, "I_p_address"),
            ip_protocol=_opt(message, "I_p_protocol"),
        )


@dataclass(frozen=True)
class HealthCheck(_FromProto):
    """A regional health check (``type`` TCP, HTTP, ...; ``port`` of its probe)."""

    _message = "HealthCheck"

    name: str
    type: str = "TCP"
    port: int | None = None
    region: str = ""
    self_link: str = ""

    @classmethod
    def from_proto(cls, message: compute.HealthCheck) -> HealthCheck:
        """Build from a google-cloud-compute ``HealthCheck``."""
        kind = message.type_ or "TCP"
        field = f"{kind.lower()}_health_check"
        probe = getattr(message, field) if field in message else None
        port = probe.port if probe is not None and "port" in probe else None
        return cls(message.name, kind, port, short(message.region), message.self_link)


@dataclass(frozen=True)
class BackendService(_FromProto):
    """A regional backend service (what an internal forwarding rule points at)."""

    _message = "BackendService"

    name: str
    region: str = ""
    protocol: str | None = None
    load_balancing_scheme: str | None = None
    health_checks: tuple[str, ...] = ()
    backends: tuple[str, ...] = ()
    network: str | None = None
    self_link: str = ""

    @classmethod
    def from_proto(cls, message: compute.BackendService) -> BackendService:
        """Build from a google-cloud-compute ``BackendService`` (``backends`` keeps each ``group``)."""
        return _fields(cls, message, region=short(message.region), backends=tuple(b.group for b in message.backends))


@dataclass(frozen=True)
class ConsumerProjectLimit:
    """One entry of a service attachment's accept list.

    ``project`` is a project id or number (``projectIdOrNum``); an entry may name a
    ``network_url`` or ``endpoint_url`` instead, which is kept as it is on every change.
    """

    project: str | None
    connection_limit: int = 10
    network_url: str | None = None
    endpoint_url: str | None = None

    @classmethod
    def from_proto(cls, message: compute.ServiceAttachmentConsumerProjectLimit) -> ConsumerProjectLimit:
        """Build from a google-cloud-compute ``ServiceAttachmentConsumerProjectLimit``."""
        project = _opt(message, "project_id_or_num")
        return _fields(cls, message, project=project, connection_limit=message.connection_limit)

    def to_api(self) -> dict[str, str | int]:
        """The JSON of this entry (in a merge patch)."""
        body: dict[str, str | int] = {"connectionLimit": self.connection_limit}
        for key, value in (
            ("projectIdOrNum", self.project),
            ("networkUrl", self.network_url),
            ("endpointUrl", self.endpoint_url),
        ):
            if value is not None:
                body[key] = value
        return body

    def to_proto(self) -> compute.ServiceAttachmentConsumerProjectLimit:
        """The message of this entry (in a create)."""
        prepare()
        from google.cloud.compute_v1.types import compute

        message = compute.ServiceAttachmentConsumerProjectLimit(connection_limit=self.connection_limit)
        for field, value in (
            ("project_id_or_num", self.project),
            ("network_url", self.network_url),
            ("endpoint_url", self.endpoint_url),
        ):
            if value is not None:
                setattr(message, field, value)
        return message


@dataclass(frozen=True)
class ConnectedEndpoint:
    """A consumer endpoint (an Apigee endpoint attachment, a PSC endpoint) and its status."""

    endpoint: str
    status: ConnectedEndpointStatus | str = ConnectedEndpointStatus.STATUS_UNSPECIFIED
    psc_connection_id: str | None = None
    consumer_network: str | None = None
    nat_ips: tuple[str, ...] = ()
    propagated_connection_count: int = 0

    @classmethod
    def from_proto(cls, message: compute.ServiceAttachmentConnectedEndpoint) -> ConnectedEndpoint:
        """Build from a google-cloud-compute ``ServiceAttachmentConnectedEndpoint``."""
        status = _enum(ConnectedEndpointStatus, message.status, ConnectedEndpointStatus.STATUS_UNSPECIFIED)
        connection = str(message.psc_connection_id) if "psc_connection_id" in message else None
        return _fields(cls, message, status=status, psc_connection_id=connection)


@dataclass(frozen=True)
class ServiceAttachment(_FromProto):
    """A PSC service attachment: the producer end of the connection.

    ``target_service`` is the forwarding rule it publishes (``targetService``, or the older
    ``producerForwardingRule``). ``fingerprint`` must accompany every in-place change.
    ``reconcile_connections`` makes list changes apply to connections already decided.
    """

    _message = "ServiceAttachment"

    name: str
    region: str = ""
    connection_preference: ConnectionPreference | str = ConnectionPreference.CONNECTION_PREFERENCE_UNSPECIFIED
    target_service: str | None = None
    nat_subnets: tuple[str, ...] = ()
    consumer_accept_lists: tuple[ConsumerProjectLimit, ...] = ()
    consumer_reject_lists: tuple[str, ...] = ()
    enable_proxy_protocol: bool = False
    domain_names: tuple[str, ...] = ()
    reconcile_connections: bool | None = None
    connected_endpoints: tuple[ConnectedEndpoint, ...] = ()
    description: str = ""
    fingerprint: str | None = None
    self_link: str = ""
    propagated_connection_limit: int | None = None
    nat_ips_per_endpoint: int | None = None

    @property
    def resource_name(self) -> str:
        """``projects/{project}/regions/{region}/serviceAttachments/{name}``: what an Apigee
        endpoint attachment names as its ``serviceAttachment``."""
        return relative(self.self_link)

    @property
    def accepted_projects(self) -> dict[str, int]:
        """Accept-listed projects (by id or number) and their connection limits."""
        return {e.project: e.connection_limit for e in self.consumer_accept_lists if e.project is not None}

    def accepts(self, project: str) -> bool:
        """True if ``project`` may connect: automatic and not rejected, or accept-listed."""
        if project in self.consumer_reject_lists:
            return False
        if self.connection_preference == ConnectionPreference.ACCEPT_AUTOMATIC:
            return True
        return project in self.accepted_projects

    @classmethod
    def from_proto(cls, message: compute.ServiceAttachment) -> ServiceAttachment:
        """Build from a google-cloud-compute ``ServiceAttachment``."""
        unset = ConnectionPreference.CONNECTION_PREFERENCE_UNSPECIFIED
        return _fields(
            cls,
            message,
            region=short(message.region),
            connection_preference=_enum(ConnectionPreference, message.connection_preference, unset),
            target_service=message.target_service or message.producer_forwarding_rule or None,
            consumer_accept_lists=tuple(ConsumerProjectLimit.from_proto(e) for e in message.consumer_accept_lists),
            connected_endpoints=tuple(ConnectedEndpoint.from_proto(e) for e in message.connected_endpoints),
        )

    def to_proto(self) -> compute.ServiceAttachment:
        """The message that creates this service attachment."""
        prepare()
        from google.cloud.compute_v1.types import compute

        message = compute.ServiceAttachment(
            name=self.name,
            connection_preference=str(self.connection_preference),
            target_service=self.target_service or "",
            nat_subnets=list(self.nat_subnets),
            enable_proxy_protocol=self.enable_proxy_protocol,
            consumer_accept_lists=[entry.to_proto() for entry in self.consumer_accept_lists],
            consumer_reject_lists=list(self.consumer_reject_lists),
            domain_names=list(self.domain_names),
        )
        if self.reconcile_connections is not None:
            message.reconcile_connections = self.reconcile_connections
        if self.propagated_connection_limit is not None:  # 0 is sent too (an optional field)
            message.propagated_connection_limit = self.propagated_connection_limit
        if self.description:
            message.description = self.description
        return message
