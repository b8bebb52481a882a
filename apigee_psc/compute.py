"""The producer side of a PSC connection: a facade over google-cloud-compute.

:class:`ComputeClient` ``(project, region)`` exposes the collections the seed drives with
``gcloud compute ...``: ``subnets`` (the PSC NAT subnet), ``firewalls``, ``forwarding_rules``,
``service_attachments`` and, for setting up a producer, ``networks``, ``health_checks`` and
``backend_services``. Every method returns this module's frozen dataclasses (never proto-plus
objects) and raises :mod:`apigee_psc.errors`.

How it talks to Compute:

* google-cloud-compute is imported on first use, never at import time (it takes seconds).
* Clients use the REST transport with ``client_options={"api_endpoint": ...}`` from
  :func:`~apigee_psc._http.resolve_endpoint` (``endpoint=``, ``APIGEE_PSC_EMULATOR_HOST``
  or Google), anonymous credentials for the emulator, else the given ones or ADC.
* Only the ``*_unary`` methods are called: an operation is waited on with
  ``regionOperations.wait`` / ``globalOperations.wait`` (a server-side long poll) through
  clients built with the same endpoint, never ``ExtendedOperation.result()``.
* Every call goes through :func:`~apigee_psc._http.retry_call` after its
  ``google.api_core`` exception has been mapped to this library's (with method and URL).
* Every mutation carries a ``requestId`` UUID that is reused when the same request is
  retried, so a retried insert is never applied twice.
* Service attachments are changed in place with a JSON merge patch carrying the current
  fingerprint, sent over this library's own :class:`~apigee_psc._http.Transport` (same
  endpoint and credentials). google-cloud-compute drops empty repeated fields from request
  bodies, so it cannot clear a list; the merge patch sends an explicit ``[]``.
"""

from __future__ import annotations

import enum
import importlib
import ipaddress
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from apigee_psc import errors, names, waiters
from apigee_psc._http import (
    OnRetry,
    RereadPolicy,
    RetryPolicy,
    Transport,
    _credentials,
    endpoint_source,
    error_from_exception,
    resolve_endpoint,
    retry_call,
    unreachable_warning,
)
from apigee_psc.models import WireEnum

if TYPE_CHECKING:
    import google.auth.credentials

__all__ = [
    "BackendService",
    "ComputeClient",
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

logger = logging.getLogger("apigee_psc")

#: Polls of an operation are server-side long polls, so the client side barely waits between them.
LONG_POLL_SCHEDULE = waiters.Schedule(windows=((0.0, 0.01),), grow_after=1.0, multiplier=2.0, maximum=1.0)

_WAIT_CALL_TIMEOUT = 150.0  # regionOperations.wait holds a request for up to ~2 minutes
_DEFAULT_WAIT = 600.0
_OPERATION_LINK = re.compile(
    r"projects/(?P<project>[^/]+)/(?:regions/(?P<region>[^/]+)|global)/operations/(?P<op>[^/?]+)"
)
_RESOURCE_LINK = re.compile(
    r"projects/(?P<project>[^/]+)/(?:regions/(?P<region>[^/]+)|global)/(?P<kind>[^/]+)/(?P<name>[^/?]+)"
)


# -- enums --------------------------------------------------------------------------------


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


def _enum(cls: type[enum.Enum], value: Any, default: Any) -> Any:
    if value is None or value == "":
        return default
    try:
        return cls(value)
    except ValueError:
        return str(value)


def _strs(value: Any) -> tuple[str, ...]:
    return tuple(str(item) for item in value or ())


def _opt_str(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _short(link: str) -> str:
    return link.rstrip("/").rsplit("/", 1)[-1] if link else ""


def _relative(link: str) -> str:
    """``projects/...`` part of a Compute URL (or the link itself when it has none)."""
    at = link.find("projects/")
    return link[at:] if at >= 0 else link


# -- dataclasses --------------------------------------------------------------------------


@dataclass(frozen=True)
class ComputeOperationError:
    """The ``error`` of a Compute operation: its ``errors[]`` items (``code``, ``message``)."""

    errors: tuple[Mapping[str, Any], ...] = ()

    @property
    def code(self) -> str | None:
        """The first error's code, such as ``RESOURCE_ALREADY_EXISTS``."""
        return str(self.errors[0].get("code")) if self.errors and self.errors[0].get("code") else None

    @property
    def message(self) -> str:
        """Every error's message, joined."""
        texts = [str(item.get("message") or item.get("code") or "") for item in self.errors]
        return "; ".join(text for text in texts if text) or "operation failed"

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.code else self.message


@dataclass(frozen=True)
class ComputeOperation:
    """A Compute Engine operation (regional or global).

    ``status`` is ``PENDING``, ``RUNNING`` or ``DONE``; ``error`` is set when a DONE
    operation failed (``http_error_status_code`` then says how).
    """

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

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> ComputeOperation:
        """Build from the API's JSON."""
        error = data.get("error")
        items = tuple(dict(item) for item in (error.get("errors") or ())) if isinstance(error, Mapping) else ()
        code = data.get("httpErrorStatusCode")
        progress = data.get("progress")
        return cls(
            name=str(data.get("name", "")),
            status=str(data.get("status") or "PENDING"),
            error=ComputeOperationError(items) if isinstance(error, Mapping) else None,
            target_link=_opt_str(data.get("targetLink")),
            http_error_status_code=int(code) if code not in (None, "", 0) else None,
            http_error_message=_opt_str(data.get("httpErrorMessage")),
            operation_type=_opt_str(data.get("operationType")),
            self_link=_opt_str(data.get("selfLink")),
            region=_short(str(data["region"])) if data.get("region") else None,
            progress=int(progress) if progress not in (None, "") else None,
        )


@dataclass(frozen=True)
class Network:
    """A VPC network."""

    name: str
    self_link: str = ""
    auto_create_subnetworks: bool | None = None
    subnetworks: tuple[str, ...] = ()

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Network:
        """Build from the API's JSON."""
        auto = data.get("autoCreateSubnetworks")
        return cls(
            name=str(data.get("name", "")),
            self_link=str(data.get("selfLink", "")),
            auto_create_subnetworks=None if auto is None else bool(auto),
            subnetworks=_strs(data.get("subnetworks")),
        )


@dataclass(frozen=True)
class Subnet:
    """A subnetwork; the PSC NAT subnet has ``purpose == "PRIVATE_SERVICE_CONNECT"``."""

    name: str
    ip_cidr_range: str
    network: str = ""
    region: str = ""
    purpose: str | None = None
    description: str = ""
    self_link: str = ""
    fingerprint: str | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Subnet:
        """Build from the API's JSON."""
        return cls(
            name=str(data.get("name", "")),
            ip_cidr_range=str(data.get("ipCidrRange", "")),
            network=str(data.get("network", "")),
            region=_short(str(data.get("region", ""))),
            purpose=_opt_str(data.get("purpose")),
            description=str(data.get("description") or ""),
            self_link=str(data.get("selfLink", "")),
            fingerprint=_opt_str(data.get("fingerprint")),
        )

    def to_api(self) -> dict[str, Any]:
        """The JSON body that creates this subnet."""
        body: dict[str, Any] = {"name": self.name, "ipCidrRange": self.ip_cidr_range, "network": self.network}
        if self.purpose:
            body["purpose"] = self.purpose
        if self.description:
            body["description"] = self.description
        return body


@dataclass(frozen=True)
class FirewallAllowed:
    """One ``allowed[]`` entry of a firewall rule: a protocol and its ports."""

    ip_protocol: str
    ports: tuple[str, ...] = ()

    def to_api(self) -> dict[str, Any]:
        """The JSON of this entry."""
        body: dict[str, Any] = {"IPProtocol": self.ip_protocol}
        if self.ports:
            body["ports"] = list(self.ports)
        return body


@dataclass(frozen=True)
class Firewall:
    """A VPC firewall rule."""

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
    def from_api(cls, data: Mapping[str, Any]) -> Firewall:
        """Build from the API's JSON."""
        priority = data.get("priority")
        return cls(
            name=str(data.get("name", "")),
            network=str(data.get("network", "")),
            direction=str(data.get("direction") or "INGRESS"),
            priority=int(priority) if priority not in (None, "") else 1000,
            source_ranges=_strs(data.get("sourceRanges")),
            target_tags=_strs(data.get("targetTags")),
            allowed=tuple(
                FirewallAllowed(str(item.get("IPProtocol", "")), _strs(item.get("ports")))
                for item in data.get("allowed") or ()
            ),
            description=str(data.get("description") or ""),
            disabled=bool(data.get("disabled", False)),
            self_link=str(data.get("selfLink", "")),
        )

    def to_api(self) -> dict[str, Any]:
        """The JSON body that creates this rule."""
        body: dict[str, Any] = {
            "name": self.name,
            "network": self.network,
            "direction": self.direction,
            "priority": self.priority,
            "sourceRanges": list(self.source_ranges),
            "allowed": [entry.to_api() for entry in self.allowed],
        }
        if self.target_tags:
            body["targetTags"] = list(self.target_tags)
        if self.description:
            body["description"] = self.description
        return body


@dataclass(frozen=True)
class ForwardingRule:
    """A regional forwarding rule (the internal load balancer in front of the producer)."""

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
        return _relative(self.self_link)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> ForwardingRule:
        """Build from the API's JSON."""
        glob = data.get("allowGlobalAccess")
        return cls(
            name=str(data.get("name", "")),
            region=_short(str(data.get("region", ""))),
            ip_address=_opt_str(data.get("IPAddress")),
            ip_protocol=_opt_str(data.get("IPProtocol")),
            ports=_strs(data.get("ports")),
            all_ports=bool(data.get("allPorts", False)),
            load_balancing_scheme=_opt_str(data.get("loadBalancingScheme")),
            backend_service=_opt_str(data.get("backendService")),
            target=_opt_str(data.get("target")),
            network=_opt_str(data.get("network")),
            subnetwork=_opt_str(data.get("subnetwork")),
            allow_global_access=None if glob is None else bool(glob),
            description=str(data.get("description") or ""),
            self_link=str(data.get("selfLink", "")),
        )


@dataclass(frozen=True)
class HealthCheck:
    """A regional health check (``type`` TCP, HTTP, ...; ``port`` of its probe)."""

    name: str
    type: str = "TCP"
    port: int | None = None
    region: str = ""
    self_link: str = ""

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> HealthCheck:
        """Build from the API's JSON."""
        kind = str(data.get("type") or "TCP")
        probe = data.get(f"{kind.lower()}HealthCheck") or {}
        port = probe.get("port") if isinstance(probe, Mapping) else None
        return cls(
            name=str(data.get("name", "")),
            type=kind,
            port=int(port) if port not in (None, "") else None,
            region=_short(str(data.get("region", ""))),
            self_link=str(data.get("selfLink", "")),
        )


@dataclass(frozen=True)
class BackendService:
    """A regional backend service (what an internal forwarding rule points at)."""

    name: str
    region: str = ""
    protocol: str | None = None
    load_balancing_scheme: str | None = None
    health_checks: tuple[str, ...] = ()
    backends: tuple[str, ...] = ()
    network: str | None = None
    self_link: str = ""

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> BackendService:
        """Build from the API's JSON (``backends`` keeps each backend's ``group``)."""
        return cls(
            name=str(data.get("name", "")),
            region=_short(str(data.get("region", ""))),
            protocol=_opt_str(data.get("protocol")),
            load_balancing_scheme=_opt_str(data.get("loadBalancingScheme")),
            health_checks=_strs(data.get("healthChecks")),
            backends=tuple(str(item.get("group", "")) for item in data.get("backends") or ()),
            network=_opt_str(data.get("network")),
            self_link=str(data.get("selfLink", "")),
        )


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
    def from_api(cls, data: Mapping[str, Any]) -> ConsumerProjectLimit:
        """Build from the API's JSON."""
        limit = data.get("connectionLimit")
        return cls(
            project=_opt_str(data.get("projectIdOrNum")),
            connection_limit=int(limit) if limit not in (None, "") else 0,
            network_url=_opt_str(data.get("networkUrl")),
            endpoint_url=_opt_str(data.get("endpointUrl")),
        )

    def to_api(self) -> dict[str, Any]:
        """The JSON of this entry."""
        body: dict[str, Any] = {"connectionLimit": self.connection_limit}
        if self.project is not None:
            body["projectIdOrNum"] = self.project
        if self.network_url is not None:
            body["networkUrl"] = self.network_url
        if self.endpoint_url is not None:
            body["endpointUrl"] = self.endpoint_url
        return body


@dataclass(frozen=True)
class ConnectedEndpoint:
    """A consumer endpoint (an Apigee endpoint attachment, a PSC endpoint) and its status."""

    endpoint: str
    status: ConnectedEndpointStatus | str = ConnectedEndpointStatus.STATUS_UNSPECIFIED
    psc_connection_id: str | None = None
    consumer_network: str | None = None
    nat_ips: tuple[str, ...] = ()

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> ConnectedEndpoint:
        """Build from the API's JSON."""
        return cls(
            endpoint=str(data.get("endpoint", "")),
            status=_enum(ConnectedEndpointStatus, data.get("status"), ConnectedEndpointStatus.STATUS_UNSPECIFIED),
            psc_connection_id=_opt_str(data.get("pscConnectionId")),
            consumer_network=_opt_str(data.get("consumerNetwork")),
            nat_ips=_strs(data.get("natIps")),
        )


@dataclass(frozen=True)
class ServiceAttachment:
    """A PSC service attachment: the producer end of the connection.

    ``target_service`` is the forwarding rule it publishes (``targetService``, or the older
    ``producerForwardingRule``). ``fingerprint`` must accompany every in-place change.
    """

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

    @property
    def resource_name(self) -> str:
        """``projects/{project}/regions/{region}/serviceAttachments/{name}``: what an Apigee
        endpoint attachment names as its ``serviceAttachment``."""
        return _relative(self.self_link)

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
    def from_api(cls, data: Mapping[str, Any]) -> ServiceAttachment:
        """Build from the API's JSON."""
        reconcile = data.get("reconcileConnections")
        return cls(
            name=str(data.get("name", "")),
            region=_short(str(data.get("region", ""))),
            connection_preference=_enum(
                ConnectionPreference,
                data.get("connectionPreference"),
                ConnectionPreference.CONNECTION_PREFERENCE_UNSPECIFIED,
            ),
            target_service=_opt_str(data.get("targetService") or data.get("producerForwardingRule")),
            nat_subnets=_strs(data.get("natSubnets")),
            consumer_accept_lists=tuple(
                ConsumerProjectLimit.from_api(item) for item in data.get("consumerAcceptLists") or ()
            ),
            consumer_reject_lists=_strs(data.get("consumerRejectLists")),
            enable_proxy_protocol=bool(data.get("enableProxyProtocol", False)),
            domain_names=_strs(data.get("domainNames")),
            reconcile_connections=None if reconcile is None else bool(reconcile),
            connected_endpoints=tuple(
                ConnectedEndpoint.from_api(item) for item in data.get("connectedEndpoints") or ()
            ),
            description=str(data.get("description") or ""),
            fingerprint=_opt_str(data.get("fingerprint")),
            self_link=str(data.get("selfLink", "")),
        )

    def to_api(self) -> dict[str, Any]:
        """The JSON body that creates this service attachment."""
        body: dict[str, Any] = {
            "name": self.name,
            "connectionPreference": str(self.connection_preference),
            "targetService": self.target_service,
            "natSubnets": list(self.nat_subnets),
            "enableProxyProtocol": self.enable_proxy_protocol,
        }
        if self.consumer_accept_lists:
            body["consumerAcceptLists"] = [entry.to_api() for entry in self.consumer_accept_lists]
        if self.consumer_reject_lists:
            body["consumerRejectLists"] = list(self.consumer_reject_lists)
        if self.domain_names:
            body["domainNames"] = list(self.domain_names)
        if self.reconcile_connections is not None:
            body["reconcileConnections"] = self.reconcile_connections
        if self.description:
            body["description"] = self.description
        return body


# -- the shared backend -------------------------------------------------------------------


def _to_dict(message: Any) -> dict[str, Any]:
    """A proto-plus message as the API's camelCase JSON object."""
    data = type(message).to_dict(message, use_integers_for_enums=False, preserving_proto_field_name=False)
    return dict(data)


def _map_exception(exc: Exception, method: str, url: str) -> BaseException:
    """This library's error for an exception raised by google-cloud-compute (or below it)."""
    from google.api_core import exceptions as gexc

    if isinstance(exc, gexc.GoogleAPICallError):
        response = getattr(exc, "response", None)
        status = getattr(response, "status_code", None)
        if isinstance(status, int) and isinstance(getattr(response, "content", None), bytes):
            request = getattr(response, "request", None)
            return errors.error_from_response(
                status,
                response.content,  # type: ignore[union-attr]
                method=str(getattr(request, "method", None) or method),
                url=str(getattr(request, "url", None) or url),
                headers=getattr(response, "headers", None),
            )
        code = exc.code if isinstance(exc.code, int) else 0
        body = {"error": {"code": code, "message": exc.message or str(exc), "errors": list(exc.errors or [])}}
        return errors.error_from_response(code, body, method=method, url=url)
    return error_from_exception(exc, method=method, url=url)


class _Backend:
    """What every collection shares: endpoint, credentials, cached clients, calls and waits."""

    def __init__(
        self,
        project: str,
        region: str,
        *,
        credentials: google.auth.credentials.Credentials | None,
        quota_project_id: str | None,
        endpoint: str | None,
        retry: RetryPolicy | None,
        timeout: float,
        sleep: Callable[[float], None],
        clock: Callable[[], float],
        on_retry: OnRetry | None = None,
    ) -> None:
        self.project = project
        self.region = region
        self.endpoint = endpoint
        self.root_url, self.is_emulator = resolve_endpoint("compute", endpoint)
        self.on_retry = unreachable_warning(self.root_url, endpoint_source(endpoint), on_retry)
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self.sleep = sleep
        self.clock = clock
        self._credentials_arg = credentials
        self._quota_project_id = quota_project_id
        self._credentials: google.auth.credentials.Credentials | None = None
        self._clients: dict[str, Any] = {}
        self._rest: Transport | None = None
        self._lock = threading.RLock()

    # -- clients ---------------------------------------------------------------------

    @property
    def credentials(self) -> google.auth.credentials.Credentials:
        """Credentials resolved once (anonymous for the emulator, else given or ADC)."""
        with self._lock:
            if self._credentials is None:
                self._credentials = _credentials(self._credentials_arg, self._quota_project_id, self.is_emulator)
            return self._credentials

    def client(self, name: str) -> Any:
        """The google-cloud-compute client class ``name``, built once with our endpoint."""
        with self._lock:
            if name not in self._clients:
                compute_v1: Any = importlib.import_module("google.cloud.compute_v1")
                self._clients[name] = getattr(compute_v1, name)(
                    credentials=self.credentials,
                    client_options={"api_endpoint": self.root_url.rstrip("/")},
                    transport="rest",
                )
            return self._clients[name]

    @staticmethod
    def types() -> Any:
        """The ``google.cloud.compute_v1`` module (imported on first use)."""
        return importlib.import_module("google.cloud.compute_v1")

    @property
    def rest(self) -> Transport:
        """This library's transport to the same Compute endpoint, for raw merge patches."""
        with self._lock:
            if self._rest is None:
                self._rest = Transport(
                    "compute",
                    credentials=self.credentials,
                    quota_project_id=self._quota_project_id,
                    endpoint=self.root_url,
                    timeout=(min(10.0, self.timeout), self.timeout),
                    retry=self.retry,
                    sleep=self.sleep,
                    clock=self.clock,
                    on_retry=self.on_retry,
                )
                self._rest.endpoint_source = None  # self.on_retry already warns, naming the real source
            return self._rest

    # -- paths -----------------------------------------------------------------------

    def url(self, path: str) -> str:
        """Absolute URL of a path under ``compute/v1/``."""
        return f"{self.root_url}compute/v1/{path}"

    def regional(self, collection: str, name: str = "", project: str | None = None, region: str | None = None) -> str:
        """``projects/{p}/regions/{r}/{collection}[/{name}]``."""
        path = f"projects/{project or self.project}/regions/{region or self.region}/{collection}"
        return f"{path}/{name}" if name else path

    def global_(self, collection: str, name: str = "", project: str | None = None) -> str:
        """``projects/{p}/global/{collection}[/{name}]``."""
        path = f"projects/{project or self.project}/global/{collection}"
        return f"{path}/{name}" if name else path

    def reference(self, value: str, collection: str, *, regional: bool, field: str) -> str:
        """A reference to another resource: a URL or path is kept; a bare name is validated and
        turned into ``projects/...`` in this client's project (and region)."""
        if not isinstance(value, str) or not value:
            raise errors.ValidationError(field, value, f"a {collection} name or URL")
        if "/" in value:
            return value
        names.validate_compute_name(value, field)
        return self.regional(collection, value) if regional else self.global_(collection, value)

    # -- calls -----------------------------------------------------------------------

    def call(
        self, fn: Callable[[], Any], *, method: str, path: str, mutating: bool = False, timeout: float | None = None
    ) -> Any:
        """Run one google-cloud-compute call with errors mapped and retries applied; on a
        mutation, another operation on the resource (409 ``operationInProgress``, 400
        ``resourceNotReady``) is waited out, within ``timeout`` seconds when given."""
        url = self.url(path)

        def once() -> Any:
            try:
                return fn()
            except Exception as exc:
                mapped = _map_exception(exc, method, url)
                if mapped is exc:
                    raise
                raise mapped from None

        return retry_call(
            once,
            policy=self.retry,
            wait_out_lock=mutating,
            what=f"{method} {url}",
            sleep=self.sleep,
            clock=self.clock,
            timeout=timeout,
            on_retry=self.on_retry,
        )

    def get(self, client: str, request_type: str, path: str, **fields: Any) -> dict[str, Any]:
        """``client.get(RequestType(**fields))`` as a JSON object."""
        api = self.client(client)
        request = getattr(self.types(), request_type)(**fields)
        result = self.call(lambda: api.get(request=request, timeout=self.timeout), method="GET", path=path)
        return _to_dict(result)

    def list(self, client: str, request_type: str, path: str, **fields: Any) -> Iterator[dict[str, Any]]:
        """Every item of a list call, one page request at a time (each retried on its own)."""
        api = self.client(client)
        token = ""
        seen: set[str] = set()
        while True:
            request = getattr(self.types(), request_type)(**fields)
            if token:
                request.page_token = token

            def fetch(request: Any = request) -> Any:
                return api.list(request=request, timeout=self.timeout)

            pager = self.call(fetch, method="GET", path=path)
            page = next(iter(pager.pages))
            for item in page.items:
                yield _to_dict(item)
            token = page.next_page_token
            if not token or token in seen:
                return
            seen.add(token)

    def mutate(
        self,
        send: Callable[[str], Any],
        *,
        method: str,
        path: str,
        wait: bool,
        timeout: float,
        created: str | None = None,
    ) -> ComputeOperation:
        """Send one mutation with a fresh ``requestId`` (reused by its retries), then wait.

        ``created`` is the relative name of the resource being inserted: an ALREADY_EXISTS
        answer (or operation error) raises :class:`~apigee_psc.errors.AlreadyExists` with it.
        """
        request_id = str(uuid.uuid4())
        started = self.clock()
        try:
            result = self.call(lambda: send(request_id), method=method, path=path, mutating=True, timeout=timeout)
        except errors.AlreadyExists as exc:
            if created is not None:
                exc.resource_name = created
            raise
        operation = ComputeOperation.from_api(result if isinstance(result, Mapping) else _to_dict(result))
        logger.debug("compute: %s %s -> operation %s (requestId %s)", method, path, operation.name, request_id)
        if not wait:
            return operation
        left = max(0.0, timeout - (self.clock() - started))
        return self.wait_operation(operation, timeout=left, created=created)

    def wait_operation(
        self, operation: ComputeOperation, *, timeout: float = _DEFAULT_WAIT, created: str | None = None
    ) -> ComputeOperation:
        """Wait until ``operation`` is DONE with ``*Operations.wait`` long polls; raise if it failed."""
        link = _OPERATION_LINK.search(operation.self_link or "")
        project = link.group("project") if link else self.project
        region = (link.group("region") if link else operation.region) or None
        name = operation.name
        if region:
            api = self.client("RegionOperationsClient")
            path = f"projects/{project}/regions/{region}/operations/{name}/wait"
            request = self.types().WaitRegionOperationRequest(project=project, region=region, operation=name)
        else:
            api = self.client("GlobalOperationsClient")
            path = f"projects/{project}/global/operations/{name}/wait"
            request = self.types().WaitGlobalOperationRequest(project=project, operation=name)

        def poll() -> ComputeOperation:
            answer = self.call(lambda: api.wait(request=request, timeout=_WAIT_CALL_TIMEOUT), method="POST", path=path)
            return ComputeOperation.from_api(_to_dict(answer))

        result = waiters.wait(
            waiters.COMPUTE_OPERATION_DONE,
            poll,
            timeout=timeout,
            subject=name,
            schedule=LONG_POLL_SCHEDULE,
            first=operation,
            operation=name,
            on_failure=lambda value, error: _operation_error(value, error, created),
            clock=self.clock,
            sleep=self.sleep,
        )
        return result if result is not None else operation


def _operation_error(
    operation: ComputeOperation | None, error: BaseException | None, created: str | None
) -> BaseException:
    if operation is None or operation.error is None:
        return error or errors.ApiError("Compute operation failed")
    failure = operation.error
    code = failure.code or ""
    status = operation.http_error_status_code
    common: dict[str, Any] = {
        "status_code": status,
        "reason": code or None,
        "errors": list(failure.errors),
        "url": operation.target_link,
    }
    if "ALREADY_EXISTS" in code.upper() or (status == 409 and "exist" in failure.message.lower()):
        return errors.AlreadyExists(failure.message, resource_name=created, rpc_status="ALREADY_EXISTS", **common)
    return errors.OperationFailed(failure.message, operation=operation.name, code=status, **common)


# -- collections --------------------------------------------------------------------------


class _Collection:
    def __init__(self, backend: _Backend) -> None:
        self._b = backend


class Networks(_Collection):
    """VPC networks (global). Read only: the seed uses an existing network."""

    def get(self, name: str) -> Network:
        """The network ``name``; raises :class:`~apigee_psc.errors.NotFound`."""
        names.validate_compute_name(name, "network")
        path = self._b.global_("networks", name)
        return Network.from_api(
            self._b.get("NetworksClient", "GetNetworkRequest", path, project=self._b.project, network=name)
        )


class Subnets(_Collection):
    """Subnetworks of the client's region; :meth:`create` makes the PSC NAT subnet."""

    def create(
        self,
        name: str,
        *,
        ip_cidr_range: str,
        network: str = "default",
        purpose: str = "PRIVATE_SERVICE_CONNECT",
        description: str = "",
        wait: bool = True,
        timeout: float = _DEFAULT_WAIT,
    ) -> ComputeOperation:
        """Create a subnet (by default a PSC NAT subnet: purpose ``PRIVATE_SERVICE_CONNECT``).

        ``ip_cidr_range`` must be a private IPv4 network from /16 to /29. Raises
        :class:`~apigee_psc.errors.AlreadyExists` (``resource_name`` set) if it exists.
        """
        names.validate_compute_name(name, "subnet.name")
        cidr = str(names.validate_nat_cidr(ip_cidr_range, "subnet.ip_cidr_range"))
        if description:
            names.validate_description(description, "subnet.description")
        subnet = Subnet(
            name=name,
            ip_cidr_range=cidr,
            network=self._b.reference(network, "networks", regional=False, field="subnet.network"),
            purpose=purpose,
            description=description,
        )
        api = self._b.client("SubnetworksClient")
        types = self._b.types()
        resource = types.Subnetwork.from_json(json.dumps(subnet.to_api()))
        path = self._b.regional("subnetworks")

        def send(request_id: str) -> Any:
            request = types.InsertSubnetworkRequest(
                project=self._b.project, region=self._b.region, subnetwork_resource=resource, request_id=request_id
            )
            return api.insert_unary(request=request, timeout=self._b.timeout)

        return self._b.mutate(
            send, method="POST", path=path, wait=wait, timeout=timeout, created=self._b.regional("subnetworks", name)
        )

    def get(self, name: str) -> Subnet:
        """The subnet ``name``; raises :class:`~apigee_psc.errors.NotFound`."""
        names.validate_compute_name(name, "subnet.name")
        data = self._b.get(
            "SubnetworksClient",
            "GetSubnetworkRequest",
            self._b.regional("subnetworks", name),
            project=self._b.project,
            region=self._b.region,
            subnetwork=name,
        )
        return Subnet.from_api(data)

    def list(self) -> Iterator[Subnet]:
        """Every subnet of the region."""
        for item in self._b.list(
            "SubnetworksClient",
            "ListSubnetworksRequest",
            self._b.regional("subnetworks"),
            project=self._b.project,
            region=self._b.region,
        ):
            yield Subnet.from_api(item)

    def delete(
        self, name: str, *, wait: bool = True, timeout: float = _DEFAULT_WAIT, missing_ok: bool = False
    ) -> ComputeOperation | None:
        """Delete the subnet; with ``missing_ok`` a missing subnet returns ``None``."""
        names.validate_compute_name(name, "subnet.name")
        api = self._b.client("SubnetworksClient")
        types = self._b.types()

        def send(request_id: str) -> Any:
            request = types.DeleteSubnetworkRequest(
                project=self._b.project, region=self._b.region, subnetwork=name, request_id=request_id
            )
            return api.delete_unary(request=request, timeout=self._b.timeout)

        return _delete(self._b, send, self._b.regional("subnetworks", name), wait, timeout, missing_ok)


def _delete(
    backend: _Backend, send: Callable[[str], Any], path: str, wait: bool, timeout: float, missing_ok: bool
) -> ComputeOperation | None:
    try:
        return backend.mutate(send, method="DELETE", path=path, wait=wait, timeout=timeout)
    except errors.NotFound:
        if missing_ok:
            return None
        raise


class Firewalls(_Collection):
    """VPC firewall rules (global): the ingress rule that lets the NAT range reach the backends."""

    def create(
        self,
        name: str,
        *,
        source_ranges: str | Sequence[str],
        ports: Iterable[int],
        target_tags: Sequence[str] = (),
        network: str = "default",
        priority: int = 1000,
        description: str = "",
        wait: bool = True,
        timeout: float = _DEFAULT_WAIT,
    ) -> ComputeOperation:
        """Create an INGRESS rule allowing TCP ``ports`` from ``source_ranges`` (the NAT
        subnet's range) to instances with ``target_tags`` (every instance when empty)."""
        names.validate_compute_name(name, "firewall.name")
        ranges = [source_ranges] if isinstance(source_ranges, str) else list(source_ranges)
        if not ranges:
            raise errors.ValidationError("firewall.source_ranges", ranges, "at least one CIDR range")
        checked = []
        for value in ranges:
            try:
                checked.append(str(ipaddress.ip_network(value, strict=True)))
            except (TypeError, ValueError):
                raise errors.ValidationError(
                    "firewall.source_ranges", value, "a CIDR range such as 10.100.0.0/28"
                ) from None
        port_list = names.validate_ports(ports, "firewall.ports", most=100)
        for tag in target_tags:
            names.validate_compute_name(tag, "firewall.target_tags")
        if not isinstance(priority, int) or isinstance(priority, bool) or not 0 <= priority <= 65535:
            raise errors.ValidationError("firewall.priority", priority, "an integer from 0 to 65535")
        if description:
            names.validate_description(description, "firewall.description")
        rule = Firewall(
            name=name,
            network=self._b.reference(network, "networks", regional=False, field="firewall.network"),
            direction="INGRESS",
            priority=priority,
            source_ranges=tuple(checked),
            target_tags=tuple(target_tags),
            allowed=(FirewallAllowed("tcp", tuple(str(port) for port in port_list)),),
            description=description,
        )
        api = self._b.client("FirewallsClient")
        types = self._b.types()
        resource = types.Firewall.from_json(json.dumps(rule.to_api()))

        def send(request_id: str) -> Any:
            request = types.InsertFirewallRequest(
                project=self._b.project, firewall_resource=resource, request_id=request_id
            )
            return api.insert_unary(request=request, timeout=self._b.timeout)

        return self._b.mutate(
            send,
            method="POST",
            path=self._b.global_("firewalls"),
            wait=wait,
            timeout=timeout,
            created=self._b.global_("firewalls", name),
        )

    def get(self, name: str) -> Firewall:
        """The firewall rule ``name``; raises :class:`~apigee_psc.errors.NotFound`."""
        names.validate_compute_name(name, "firewall.name")
        data = self._b.get(
            "FirewallsClient",
            "GetFirewallRequest",
            self._b.global_("firewalls", name),
            project=self._b.project,
            firewall=name,
        )
        return Firewall.from_api(data)

    def delete(
        self, name: str, *, wait: bool = True, timeout: float = _DEFAULT_WAIT, missing_ok: bool = False
    ) -> ComputeOperation | None:
        """Delete the rule; with ``missing_ok`` a missing rule returns ``None``."""
        names.validate_compute_name(name, "firewall.name")
        api = self._b.client("FirewallsClient")
        types = self._b.types()

        def send(request_id: str) -> Any:
            request = types.DeleteFirewallRequest(project=self._b.project, firewall=name, request_id=request_id)
            return api.delete_unary(request=request, timeout=self._b.timeout)

        return _delete(self._b, send, self._b.global_("firewalls", name), wait, timeout, missing_ok)


class HealthChecks(_Collection):
    """Regional health checks (to build a producer load balancer)."""

    def create(
        self, name: str, *, port: int, protocol: str = "TCP", wait: bool = True, timeout: float = _DEFAULT_WAIT
    ) -> ComputeOperation:
        """Create a regional ``protocol`` (TCP, HTTP) health check probing ``port``."""
        names.validate_compute_name(name, "health_check.name")
        names.validate_ports([port], "health_check.port", most=1)
        kind = protocol.upper()
        if kind not in {"TCP", "HTTP", "HTTPS", "HTTP2", "SSL"}:
            raise errors.ValidationError("health_check.protocol", protocol, "TCP, HTTP, HTTPS, HTTP2 or SSL")
        body = {"name": name, "type": kind, f"{kind.lower()}HealthCheck": {"port": port}}
        api = self._b.client("RegionHealthChecksClient")
        types = self._b.types()
        resource = types.HealthCheck.from_json(json.dumps(body))

        def send(request_id: str) -> Any:
            request = types.InsertRegionHealthCheckRequest(
                project=self._b.project, region=self._b.region, health_check_resource=resource, request_id=request_id
            )
            return api.insert_unary(request=request, timeout=self._b.timeout)

        return self._b.mutate(
            send,
            method="POST",
            path=self._b.regional("healthChecks"),
            wait=wait,
            timeout=timeout,
            created=self._b.regional("healthChecks", name),
        )

    def get(self, name: str) -> HealthCheck:
        """The regional health check ``name``."""
        names.validate_compute_name(name, "health_check.name")
        data = self._b.get(
            "RegionHealthChecksClient",
            "GetRegionHealthCheckRequest",
            self._b.regional("healthChecks", name),
            project=self._b.project,
            region=self._b.region,
            health_check=name,
        )
        return HealthCheck.from_api(data)

    def delete(
        self, name: str, *, wait: bool = True, timeout: float = _DEFAULT_WAIT, missing_ok: bool = False
    ) -> ComputeOperation | None:
        """Delete the health check; with ``missing_ok`` a missing one returns ``None``."""
        names.validate_compute_name(name, "health_check.name")
        api = self._b.client("RegionHealthChecksClient")
        types = self._b.types()

        def send(request_id: str) -> Any:
            request = types.DeleteRegionHealthCheckRequest(
                project=self._b.project, region=self._b.region, health_check=name, request_id=request_id
            )
            return api.delete_unary(request=request, timeout=self._b.timeout)

        return _delete(self._b, send, self._b.regional("healthChecks", name), wait, timeout, missing_ok)


class BackendServices(_Collection):
    """Regional backend services (to build a producer internal load balancer)."""

    def create(
        self,
        name: str,
        *,
        health_check: str,
        protocol: str = "TCP",
        load_balancing_scheme: str = "INTERNAL",
        network: str | None = "default",
        backends: Sequence[str] = (),
        wait: bool = True,
        timeout: float = _DEFAULT_WAIT,
    ) -> ComputeOperation:
        """Create a regional backend service checked by ``health_check`` (name or URL), with
        ``backends`` (instance group or NEG URLs)."""
        names.validate_compute_name(name, "backend_service.name")
        body: dict[str, Any] = {
            "name": name,
            "protocol": protocol,
            "loadBalancingScheme": load_balancing_scheme,
            "healthChecks": [
                self._b.reference(health_check, "healthChecks", regional=True, field="backend_service.health_check")
            ],
        }
        if network:
            body["network"] = self._b.reference(network, "networks", regional=False, field="backend_service.network")
        if backends:
            body["backends"] = [{"group": group, "balancingMode": "CONNECTION"} for group in backends]
        api = self._b.client("RegionBackendServicesClient")
        types = self._b.types()
        resource = types.BackendService.from_json(json.dumps(body))

        def send(request_id: str) -> Any:
            request = types.InsertRegionBackendServiceRequest(
                project=self._b.project,
                region=self._b.region,
                backend_service_resource=resource,
                request_id=request_id,
            )
            return api.insert_unary(request=request, timeout=self._b.timeout)

        return self._b.mutate(
            send,
            method="POST",
            path=self._b.regional("backendServices"),
            wait=wait,
            timeout=timeout,
            created=self._b.regional("backendServices", name),
        )

    def get(self, name: str) -> BackendService:
        """The regional backend service ``name``."""
        names.validate_compute_name(name, "backend_service.name")
        data = self._b.get(
            "RegionBackendServicesClient",
            "GetRegionBackendServiceRequest",
            self._b.regional("backendServices", name),
            project=self._b.project,
            region=self._b.region,
            backend_service=name,
        )
        return BackendService.from_api(data)

    def delete(
        self, name: str, *, wait: bool = True, timeout: float = _DEFAULT_WAIT, missing_ok: bool = False
    ) -> ComputeOperation | None:
        """Delete the backend service; with ``missing_ok`` a missing one returns ``None``."""
        names.validate_compute_name(name, "backend_service.name")
        api = self._b.client("RegionBackendServicesClient")
        types = self._b.types()

        def send(request_id: str) -> Any:
            request = types.DeleteRegionBackendServiceRequest(
                project=self._b.project, region=self._b.region, backend_service=name, request_id=request_id
            )
            return api.delete_unary(request=request, timeout=self._b.timeout)

        return _delete(self._b, send, self._b.regional("backendServices", name), wait, timeout, missing_ok)


class ForwardingRules(_Collection):
    """Regional forwarding rules: the internal TCP load balancer a service attachment publishes."""

    def create(
        self,
        name: str,
        *,
        backend_service: str,
        ports: Iterable[int],
        network: str = "default",
        subnetwork: str | None = None,
        ip_address: str | None = None,
        allow_global_access: bool | None = None,
        description: str = "",
        wait: bool = True,
        timeout: float = _DEFAULT_WAIT,
    ) -> ComputeOperation:
        """Create an internal TCP forwarding rule (``loadBalancingScheme`` INTERNAL) on the
        regional ``backend_service`` (name or URL) for up to 5 ``ports``."""
        names.validate_compute_name(name, "forwarding_rule.name")
        port_list = names.validate_ports(ports, "forwarding_rule.ports", most=5)
        body: dict[str, Any] = {
            "name": name,
            "IPProtocol": "TCP",
            "loadBalancingScheme": "INTERNAL",
            "ports": [str(port) for port in port_list],
            "backendService": self._b.reference(
                backend_service, "backendServices", regional=True, field="forwarding_rule.backend_service"
            ),
            "network": self._b.reference(network, "networks", regional=False, field="forwarding_rule.network"),
        }
        if subnetwork:
            body["subnetwork"] = self._b.reference(
                subnetwork, "subnetworks", regional=True, field="forwarding_rule.subnetwork"
            )
        if ip_address:
            body["IPAddress"] = ip_address
        if allow_global_access is not None:
            body["allowGlobalAccess"] = allow_global_access
        if description:
            body["description"] = names.validate_description(description, "forwarding_rule.description")
        api = self._b.client("ForwardingRulesClient")
        types = self._b.types()
        resource = types.ForwardingRule.from_json(json.dumps(body))

        def send(request_id: str) -> Any:
            request = types.InsertForwardingRuleRequest(
                project=self._b.project,
                region=self._b.region,
                forwarding_rule_resource=resource,
                request_id=request_id,
            )
            return api.insert_unary(request=request, timeout=self._b.timeout)

        return self._b.mutate(
            send,
            method="POST",
            path=self._b.regional("forwardingRules"),
            wait=wait,
            timeout=timeout,
            created=self._b.regional("forwardingRules", name),
        )

    def get(self, name: str, *, project: str | None = None, region: str | None = None) -> ForwardingRule:
        """The forwarding rule ``name`` (in this client's project and region unless given)."""
        names.validate_compute_name(name, "forwarding_rule.name")
        project = project or self._b.project
        region = region or self._b.region
        data = self._b.get(
            "ForwardingRulesClient",
            "GetForwardingRuleRequest",
            self._b.regional("forwardingRules", name, project, region),
            project=project,
            region=region,
            forwarding_rule=name,
        )
        return ForwardingRule.from_api(data)

    def list(self) -> Iterator[ForwardingRule]:
        """Every forwarding rule of the region."""
        for item in self._b.list(
            "ForwardingRulesClient",
            "ListForwardingRulesRequest",
            self._b.regional("forwardingRules"),
            project=self._b.project,
            region=self._b.region,
        ):
            yield ForwardingRule.from_api(item)

    def find(self, name_or_url: str) -> ForwardingRule | None:
        """The forwarding rule named by a bare name, a ``projects/...`` path or a full URL;
        ``None`` if it does not exist."""
        project, region, name = self._b.project, self._b.region, name_or_url
        if isinstance(name_or_url, str) and "/" in name_or_url:
            match = _RESOURCE_LINK.search(name_or_url)
            if not match or match.group("kind") != "forwardingRules" or not match.group("region"):
                raise errors.ValidationError(
                    "forwarding_rule", name_or_url, "a name or projects/P/regions/R/forwardingRules/NAME"
                )
            project, region, name = match.group("project"), match.group("region"), match.group("name")
        try:
            return self.get(name, project=project, region=region)
        except errors.NotFound:
            return None

    def delete(
        self, name: str, *, wait: bool = True, timeout: float = _DEFAULT_WAIT, missing_ok: bool = False
    ) -> ComputeOperation | None:
        """Delete the forwarding rule; with ``missing_ok`` a missing one returns ``None``."""
        names.validate_compute_name(name, "forwarding_rule.name")
        api = self._b.client("ForwardingRulesClient")
        types = self._b.types()

        def send(request_id: str) -> Any:
            request = types.DeleteForwardingRuleRequest(
                project=self._b.project, region=self._b.region, forwarding_rule=name, request_id=request_id
            )
            return api.delete_unary(request=request, timeout=self._b.timeout)

        return _delete(self._b, send, self._b.regional("forwardingRules", name), wait, timeout, missing_ok)


def _consumer(project: object, field: str) -> str:
    if isinstance(project, str) and project.isdigit():
        return project
    return names.validate_project_id(project, field)


def _limit(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise errors.ValidationError(field, value, "a connection limit: an integer of at least 0")
    return value


def _preference(value: object) -> ConnectionPreference:
    try:
        pref = ConnectionPreference(value)
    except ValueError:
        pref = None
    if pref not in {ConnectionPreference.ACCEPT_AUTOMATIC, ConnectionPreference.ACCEPT_MANUAL}:
        raise errors.ValidationError(
            "service_attachment.connection_preference", value, "ACCEPT_AUTOMATIC or ACCEPT_MANUAL"
        )
    assert pref is not None
    return pref


_Unset: Any = object()


class ServiceAttachments(_Collection):
    """Service attachments of the client's region, and in-place changes to their consumers.

    Changes (:meth:`set_connection_preference`, :meth:`accept_project`, :meth:`reject_project`,
    :meth:`remove_project`, :meth:`update`) read the attachment, compute a JSON merge patch
    with the current fingerprint and send it; a 412 (stale fingerprint) re-reads and tries
    again, up to 5 times. They return ``None`` without any write when nothing would change.
    """

    def create(
        self,
        name: str,
        *,
        target_service: str,
        nat_subnets: Sequence[str],
        connection_preference: ConnectionPreference | str = ConnectionPreference.ACCEPT_AUTOMATIC,
        consumer_accept_lists: Iterable[ConsumerProjectLimit | str] = (),
        consumer_reject_lists: Iterable[str] = (),
        enable_proxy_protocol: bool = False,
        domain_names: Sequence[str] = (),
        reconcile_connections: bool | None = None,
        description: str = "",
        wait: bool = True,
        timeout: float = _DEFAULT_WAIT,
    ) -> ComputeOperation:
        """Create a service attachment publishing ``target_service`` (the producer forwarding
        rule, name or URL) through ``nat_subnets`` (names or URLs).

        ``consumer_accept_lists`` takes :class:`ConsumerProjectLimit` or plain project ids
        (limit 10); accept and reject lists need ``ACCEPT_MANUAL``. ``domain_names`` end with a dot.
        """
        names.validate_compute_name(name, "service_attachment.name")
        preference = _preference(connection_preference)
        accept = _accept_entries(consumer_accept_lists)
        reject = tuple(_consumer(p, "service_attachment.consumer_reject_lists") for p in consumer_reject_lists)
        if (accept or reject) and preference is ConnectionPreference.ACCEPT_AUTOMATIC:
            raise errors.ValidationError(
                "service_attachment.consumer_accept_lists" if accept else "service_attachment.consumer_reject_lists",
                [entry.project for entry in accept] if accept else list(reject),
                "empty unless connection_preference is ACCEPT_MANUAL",
            )
        subnets = [
            self._b.reference(subnet, "subnetworks", regional=True, field="service_attachment.nat_subnets")
            for subnet in nat_subnets
        ]
        if not subnets:
            raise errors.ValidationError("service_attachment.nat_subnets", [], "at least one NAT subnet")
        for domain in domain_names:
            names.validate_domain(domain, "service_attachment.domain_names")
        if description:
            names.validate_description(description, "service_attachment.description")
        attachment = ServiceAttachment(
            name=name,
            connection_preference=preference,
            target_service=self._b.reference(
                target_service, "forwardingRules", regional=True, field="service_attachment.target_service"
            ),
            nat_subnets=tuple(subnets),
            consumer_accept_lists=accept,
            consumer_reject_lists=reject,
            enable_proxy_protocol=bool(enable_proxy_protocol),
            domain_names=tuple(domain_names),
            reconcile_connections=reconcile_connections,
            description=description,
        )
        api = self._b.client("ServiceAttachmentsClient")
        types = self._b.types()
        resource = types.ServiceAttachment.from_json(json.dumps(attachment.to_api()))

        def send(request_id: str) -> Any:
            request = types.InsertServiceAttachmentRequest(
                project=self._b.project,
                region=self._b.region,
                service_attachment_resource=resource,
                request_id=request_id,
            )
            return api.insert_unary(request=request, timeout=self._b.timeout)

        return self._b.mutate(
            send,
            method="POST",
            path=self._b.regional("serviceAttachments"),
            wait=wait,
            timeout=timeout,
            created=self._b.regional("serviceAttachments", name),
        )

    def get(self, name: str) -> ServiceAttachment:
        """The service attachment ``name`` with its ``connected_endpoints`` and fingerprint."""
        names.validate_compute_name(name, "service_attachment.name")
        data = self._b.get(
            "ServiceAttachmentsClient",
            "GetServiceAttachmentRequest",
            self._b.regional("serviceAttachments", name),
            project=self._b.project,
            region=self._b.region,
            service_attachment=name,
        )
        return ServiceAttachment.from_api(data)

    def list(self) -> Iterator[ServiceAttachment]:
        """Every service attachment of the region."""
        for item in self._b.list(
            "ServiceAttachmentsClient",
            "ListServiceAttachmentsRequest",
            self._b.regional("serviceAttachments"),
            project=self._b.project,
            region=self._b.region,
        ):
            yield ServiceAttachment.from_api(item)

    def delete(
        self, name: str, *, wait: bool = True, timeout: float = _DEFAULT_WAIT, missing_ok: bool = False
    ) -> ComputeOperation | None:
        """Delete the service attachment; with ``missing_ok`` a missing one returns ``None``."""
        names.validate_compute_name(name, "service_attachment.name")
        api = self._b.client("ServiceAttachmentsClient")
        types = self._b.types()

        def send(request_id: str) -> Any:
            request = types.DeleteServiceAttachmentRequest(
                project=self._b.project, region=self._b.region, service_attachment=name, request_id=request_id
            )
            return api.delete_unary(request=request, timeout=self._b.timeout)

        return _delete(self._b, send, self._b.regional("serviceAttachments", name), wait, timeout, missing_ok)

    # -- in-place changes ------------------------------------------------------------

    def set_connection_preference(
        self,
        name: str,
        preference: ConnectionPreference | str,
        *,
        wait: bool = True,
        timeout: float = _DEFAULT_WAIT,
    ) -> ComputeOperation | None:
        """Switch to ``ACCEPT_AUTOMATIC`` or ``ACCEPT_MANUAL``.

        Switching to ``ACCEPT_AUTOMATIC`` also clears the accept and reject lists (sent as an
        explicit ``[]``): Compute only allows them with ``ACCEPT_MANUAL``. Returns ``None`` if
        already so.
        """
        target = _preference(preference)

        def change(current: ServiceAttachment) -> dict[str, Any] | None:
            patch: dict[str, Any] = {}
            if current.connection_preference != target:
                patch["connectionPreference"] = target.value
            if target is ConnectionPreference.ACCEPT_AUTOMATIC and current.consumer_accept_lists:
                patch["consumerAcceptLists"] = []
            if target is ConnectionPreference.ACCEPT_AUTOMATIC and current.consumer_reject_lists:
                patch["consumerRejectLists"] = []
            return patch or None

        return self._change(name, change, wait=wait, timeout=timeout)

    def accept_project(
        self, name: str, project: str, limit: int = 10, *, wait: bool = True, timeout: float = _DEFAULT_WAIT
    ) -> ComputeOperation | None:
        """Accept-list ``project`` (id or number) with ``limit`` connections, taking it off the
        reject list. Returns ``None`` if it is already accepted with that limit."""
        project = _consumer(project, "project")
        limit = _limit(limit, "limit")

        def change(current: ServiceAttachment) -> dict[str, Any] | None:
            patch: dict[str, Any] = {}
            if project in current.consumer_reject_lists:
                patch["consumerRejectLists"] = [p for p in current.consumer_reject_lists if p != project]
            if current.accepted_projects.get(project) != limit:
                entries = [e for e in current.consumer_accept_lists if e.project != project]
                entries.append(ConsumerProjectLimit(project, limit))
                patch["consumerAcceptLists"] = [e.to_api() for e in entries]
            return patch or None

        return self._change(name, change, wait=wait, timeout=timeout)

    def reject_project(
        self, name: str, project: str, *, wait: bool = True, timeout: float = _DEFAULT_WAIT
    ) -> ComputeOperation | None:
        """Put ``project`` on the reject list, taking it off the accept list. Returns ``None``
        if it is already rejected and not accepted."""
        project = _consumer(project, "project")

        def change(current: ServiceAttachment) -> dict[str, Any] | None:
            patch: dict[str, Any] = {}
            if project not in current.consumer_reject_lists:
                patch["consumerRejectLists"] = [*current.consumer_reject_lists, project]
            if project in current.accepted_projects:
                patch["consumerAcceptLists"] = [
                    e.to_api() for e in current.consumer_accept_lists if e.project != project
                ]
            return patch or None

        return self._change(name, change, wait=wait, timeout=timeout)

    def remove_project(
        self, name: str, project: str, *, wait: bool = True, timeout: float = _DEFAULT_WAIT
    ) -> ComputeOperation | None:
        """Take ``project`` off both the accept and the reject list (an emptied list is sent as
        ``[]``). Returns ``None`` if it is on neither."""
        project = _consumer(project, "project")

        def change(current: ServiceAttachment) -> dict[str, Any] | None:
            patch: dict[str, Any] = {}
            if project in current.consumer_reject_lists:
                patch["consumerRejectLists"] = [p for p in current.consumer_reject_lists if p != project]
            if project in current.accepted_projects:
                patch["consumerAcceptLists"] = [
                    e.to_api() for e in current.consumer_accept_lists if e.project != project
                ]
            return patch or None

        return self._change(name, change, wait=wait, timeout=timeout)

    def update(
        self,
        name: str,
        *,
        connection_preference: ConnectionPreference | str | None = None,
        consumer_accept_lists: Iterable[ConsumerProjectLimit | str] | None = None,
        consumer_reject_lists: Iterable[str] | None = None,
        nat_subnets: Sequence[str] | None = None,
        enable_proxy_protocol: bool | None = None,
        reconcile_connections: bool | None = None,
        wait: bool = True,
        timeout: float = _DEFAULT_WAIT,
    ) -> ComputeOperation | None:
        """Replace any of these fields (``None`` leaves a field alone; an empty list clears it).

        Only fields that differ from the current attachment are sent, in one JSON merge
        patch that also carries ``name``, ``enableProxyProtocol`` and the fingerprint.
        Switching to ``ACCEPT_AUTOMATIC`` clears both consumer lists in the same patch
        (non-empty lists with it are a :class:`~apigee_psc.errors.ValidationError`). A
        project's ``connection_limit`` changes by passing its :class:`ConsumerProjectLimit`
        with the new limit. ``reconcile_connections=True`` makes Google apply list changes to
        connections that are already ACCEPTED or REJECTED, not only to new or pending ones.
        Returns ``None`` when nothing differs.
        """
        wanted: dict[str, Any] = {}
        if connection_preference is not None:
            wanted["connectionPreference"] = _preference(connection_preference).value
        if consumer_accept_lists is not None:
            wanted["consumerAcceptLists"] = [e.to_api() for e in _accept_entries(consumer_accept_lists)]
        if consumer_reject_lists is not None:
            wanted["consumerRejectLists"] = [
                _consumer(p, "service_attachment.consumer_reject_lists") for p in consumer_reject_lists
            ]
        if nat_subnets is not None:
            wanted["natSubnets"] = [
                self._b.reference(s, "subnetworks", regional=True, field="service_attachment.nat_subnets")
                for s in nat_subnets
            ]
        if enable_proxy_protocol is not None:
            wanted["enableProxyProtocol"] = bool(enable_proxy_protocol)
        if reconcile_connections is not None:
            wanted["reconcileConnections"] = bool(reconcile_connections)
        if wanted.get("connectionPreference") == ConnectionPreference.ACCEPT_AUTOMATIC.value:
            given = wanted.get("consumerAcceptLists") or wanted.get("consumerRejectLists")
            if given:
                raise errors.ValidationError(
                    "service_attachment.consumer_accept_lists"
                    if wanted.get("consumerAcceptLists")
                    else "service_attachment.consumer_reject_lists",
                    given,
                    "empty when connection_preference is ACCEPT_AUTOMATIC",
                )
            # Automatic takes no lists: those not given are cleared (an explicit []) in the same PATCH.
            wanted.setdefault("consumerAcceptLists", [])
            wanted.setdefault("consumerRejectLists", [])

        def change(current: ServiceAttachment) -> dict[str, Any] | None:
            have = current.to_api()
            have.setdefault("consumerAcceptLists", [])
            have.setdefault("consumerRejectLists", [])
            have.setdefault("reconcileConnections", False)
            patch = {}
            for key, value in wanted.items():
                if key == "natSubnets":
                    same = [_relative(v) for v in have.get(key, [])] == [_relative(v) for v in value]
                else:
                    same = have.get(key) == value
                if not same:
                    patch[key] = value
            return patch or None

        return self._change(name, change, wait=wait, timeout=timeout)

    def _change(
        self,
        name: str,
        change: Callable[[ServiceAttachment], dict[str, Any] | None],
        *,
        wait: bool,
        timeout: float,
    ) -> ComputeOperation | None:
        names.validate_compute_name(name, "service_attachment.name")
        path = self._b.regional("serviceAttachments", name)

        def cycle() -> ComputeOperation | None:
            current = self.get(name)
            patch = change(current)
            if patch is None:
                logger.debug("compute: service attachment %s already as wanted", name)
                return None
            _check_lists_allowed(current, patch)
            # Like the Terraform provider's update encoder: the API validates these on every PATCH.
            body = {
                "name": current.name,
                "enableProxyProtocol": current.enable_proxy_protocol,
                **patch,
                "fingerprint": current.fingerprint,
            }
            data = self._b.rest.request(
                "PATCH", f"compute/v1/{path}", params={"requestId": str(uuid.uuid4())}, json=body, deadline=timeout
            )
            return ComputeOperation.from_api(data)

        started = self._b.clock()
        operation = FINGERPRINT_STALE.call(cycle, sleep=self._b.sleep, clock=self._b.clock)
        if operation is None or not wait:
            return operation
        return self._b.wait_operation(operation, timeout=max(0.0, timeout - (self._b.clock() - started)))


def _is_stale_fingerprint(error: BaseException) -> bool:
    return isinstance(error, errors.FailedPrecondition) and (
        error.status_code == 412 or error.reason == "conditionNotMet"
    )


#: A PATCH whose fingerprint is stale (412 ``conditionNotMet``) re-reads the attachment and
#: recomputes the change: up to 5 times within 30 s.
FINGERPRINT_STALE = RereadPolicy(
    "compute: service attachment", _is_stale_fingerprint, attempts=5, initial=0.2, maximum=2.0, deadline=30.0
)


def _check_lists_allowed(current: ServiceAttachment, patch: Mapping[str, Any]) -> None:
    """Refuse, before writing, a PATCH that would leave ACCEPT_AUTOMATIC with consumer lists:
    Google answers 400 "Incorrect combination of connection preference with accept and/or
    reject list" (terraform-provider-google #17153)."""
    preference = patch.get("connectionPreference", str(current.connection_preference))
    if preference != ConnectionPreference.ACCEPT_AUTOMATIC.value:
        return
    accept = patch.get("consumerAcceptLists", [e.to_api() for e in current.consumer_accept_lists])
    reject = patch.get("consumerRejectLists", list(current.consumer_reject_lists))
    if accept or reject:
        raise errors.ValidationError(
            "service_attachment.consumer_accept_lists" if accept else "service_attachment.consumer_reject_lists",
            accept or reject,
            "empty when connection_preference is ACCEPT_AUTOMATIC (switch to ACCEPT_MANUAL to list consumers)",
        )


def _accept_entries(values: Iterable[ConsumerProjectLimit | str]) -> tuple[ConsumerProjectLimit, ...]:
    entries: list[ConsumerProjectLimit] = []
    for value in values:
        if isinstance(value, ConsumerProjectLimit):
            if value.project is not None:
                _consumer(value.project, "service_attachment.consumer_accept_lists")
            _limit(value.connection_limit, "service_attachment.consumer_accept_lists.connection_limit")
            entries.append(value)
        else:
            entries.append(ConsumerProjectLimit(_consumer(value, "service_attachment.consumer_accept_lists"), 10))
    return tuple(entries)


class ComputeOperations(_Collection):
    """Compute operations: wait on one returned by a mutation called with ``wait=False``."""

    def wait(self, operation: ComputeOperation, *, timeout: float = _DEFAULT_WAIT) -> ComputeOperation:
        """Wait until ``operation`` is DONE; raises :class:`~apigee_psc.errors.OperationFailed`
        (or ``AlreadyExists``) if it failed and ``WaitTimeout`` at the deadline."""
        return self._b.wait_operation(operation, timeout=timeout)


class ComputeClient:
    """Compute Engine for one producer ``project`` and ``region``.

    Collections: ``networks``, ``subnets``, ``firewalls``, ``health_checks``,
    ``backend_services``, ``forwarding_rules``, ``service_attachments`` and ``operations``.
    Credentials default to ADC (anonymous for the emulator); ``endpoint`` overrides the
    Compute root URL (``APIGEE_PSC_EMULATOR_HOST`` is honoured). ``timeout`` is the
    per-request timeout in seconds; ``retry`` bounds retries of failed requests and
    ``on_retry`` hears of each (a :class:`~apigee_psc._http.RetryEvent`). A mutation's
    ``timeout`` bounds all of it: waiting out another operation on the resource (409
    ``operationInProgress``), the request and the operation wait. ``sleep`` and ``clock``
    are injectable for tests. Nothing is imported or resolved before first use.
    """

    def __init__(
        self,
        project: str,
        region: str,
        *,
        credentials: google.auth.credentials.Credentials | None = None,
        quota_project_id: str | None = None,
        endpoint: str | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        on_retry: OnRetry | None = None,
    ) -> None:
        self.project = names.validate_project_id(project, "project")
        self.region = names.validate_region(region, "region")
        backend = _Backend(
            self.project,
            self.region,
            credentials=credentials,
            quota_project_id=quota_project_id,
            endpoint=endpoint,
            retry=retry,
            timeout=timeout,
            sleep=sleep,
            clock=clock,
            on_retry=on_retry,
        )
        self._backend = backend
        self.networks = Networks(backend)
        self.subnets = Subnets(backend)
        self.firewalls = Firewalls(backend)
        self.health_checks = HealthChecks(backend)
        self.backend_services = BackendServices(backend)
        self.forwarding_rules = ForwardingRules(backend)
        self.service_attachments = ServiceAttachments(backend)
        self.operations = ComputeOperations(backend)

    def __repr__(self) -> str:
        return f"ComputeClient(project={self.project!r}, region={self.region!r}, root_url={self.root_url!r})"

    @property
    def root_url(self) -> str:
        """The Compute root URL in use (``https://compute.googleapis.com/`` or the emulator's)."""
        return self._backend.root_url

    def subnet_path(self, name: str) -> str:
        """``projects/{project}/regions/{region}/subnetworks/{name}``."""
        return self._backend.regional("subnetworks", names.validate_compute_name(name, "subnet.name"))

    def forwarding_rule_path(self, name: str) -> str:
        """``projects/{project}/regions/{region}/forwardingRules/{name}``."""
        return self._backend.regional("forwardingRules", names.validate_compute_name(name, "forwarding_rule.name"))

    def service_attachment_path(self, name: str) -> str:
        """``projects/{project}/regions/{region}/serviceAttachments/{name}``."""
        return names.service_attachment_path(
            self.project, self.region, names.validate_compute_name(name, "service_attachment.name")
        )
