"""ComputeClient and its collections: networks, subnets, firewalls, health checks, backend
services and forwarding rules (each a :class:`~apigee_psc.compute._base.Collection` with its
``create``), service attachments (:mod:`.attachments`) and operations."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from apigee_psc import errors, names
from apigee_psc._http import ClientKwargs, ClientOptions
from apigee_psc._http import check_quota_project as check_quota
from apigee_psc.compute import _gapic
from apigee_psc.compute._base import DEFAULT_WAIT, OPERATION_LINK, Backend, Collection, Kind
from apigee_psc.compute.attachments import ServiceAttachments
from apigee_psc.compute.models import (
    BackendService,
    ComputeOperation,
    Firewall,
    FirewallAllowed,
    ForwardingRule,
    HealthCheck,
    Network,
    Subnet,
)

if TYPE_CHECKING:
    # Named only in the string type arguments of the collections' bases, which ruff does not read.
    from google.cloud.compute_v1.types import compute  # noqa: F401
    from typing_extensions import Unpack

__all__ = [
    "BackendServices",
    "ComputeClient",
    "ComputeOperations",
    "Firewalls",
    "ForwardingRules",
    "HealthChecks",
    "Networks",
    "Subnets",
]


class Networks(Collection["compute.Network", Network]):
    """VPC networks (global). Read only: the seed uses an existing network."""

    _kind = Kind("networks", "network", "networks", "NetworksClient", "network", False, Network.from_proto)


class Subnets(Collection["compute.Subnetwork", Subnet]):
    """Subnetworks of the client's region; :meth:`create` makes the PSC NAT subnet."""

    _kind = Kind("subnetworks", "subnet", "subnetworks", "SubnetworksClient", "subnetwork", True, Subnet.from_proto)

    def create(
        self,
        name: str,
        *,
        ip_cidr_range: str,
        network: str = "default",
        purpose: str = "PRIVATE_SERVICE_CONNECT",
        description: str = "",
        wait: bool = True,
        timeout: float = DEFAULT_WAIT,
    ) -> ComputeOperation:
        """Create a subnet (by default a PSC NAT subnet: purpose ``PRIVATE_SERVICE_CONNECT``).

        ``ip_cidr_range`` must be a private IPv4 network from /16 to /29; ``description``
        marks who made it. Raises :class:`~apigee_psc.errors.AlreadyExists` (``resource_name``
        set) if it exists.
        """
        names.validate_compute_name(name, "subnet.name")
        subnet = Subnet(
            name=name,
            ip_cidr_range=str(names.validate_nat_cidr(ip_cidr_range, "subnet.ip_cidr_range")),
            network=self._b.reference(network, "networks", regional=False, field="subnet.network"),
            purpose=purpose,
            description=names.validate_description(description, "subnet.description") if description else "",
        )
        return self._insert(subnet.to_proto(), name, wait=wait, timeout=timeout)


class Firewalls(Collection["compute.Firewall", Firewall]):
    """VPC firewall rules (global): the ingress rule that lets the NAT range reach the backends."""

    _kind = Kind("firewalls", "firewall", "firewalls", "FirewallsClient", "firewall", False, Firewall.from_proto)

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
        timeout: float = DEFAULT_WAIT,
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
        rule = Firewall(
            name=name,
            network=self._b.reference(network, "networks", regional=False, field="firewall.network"),
            priority=priority,
            source_ranges=tuple(checked),
            target_tags=tuple(target_tags),
            allowed=(FirewallAllowed("tcp", tuple(str(port) for port in port_list)),),
            description=names.validate_description(description, "firewall.description") if description else "",
        )
        return self._insert(rule.to_proto(), name, wait=wait, timeout=timeout)


class HealthChecks(Collection["compute.HealthCheck", HealthCheck]):
    """Regional health checks (to build a producer load balancer)."""

    _kind = Kind(
        "healthChecks",
        "health_check",
        "region_health_checks",
        "RegionHealthChecksClient",
        "health_check",
        True,
        HealthCheck.from_proto,
    )

    def create(
        self, name: str, *, port: int, protocol: str = "TCP", wait: bool = True, timeout: float = DEFAULT_WAIT
    ) -> ComputeOperation:
        """Create a regional ``protocol`` (TCP, HTTP, HTTPS, HTTP2, SSL) health check probing ``port``."""
        names.validate_compute_name(name, "health_check.name")
        names.validate_ports([port], "health_check.port", most=1)
        kind = protocol.upper() if isinstance(protocol, str) else ""
        if kind not in {"TCP", "HTTP", "HTTPS", "HTTP2", "SSL"}:
            raise errors.ValidationError("health_check.protocol", protocol, "TCP, HTTP, HTTPS, HTTP2 or SSL")
        _gapic.prepare()
        from google.cloud.compute_v1.types import compute as t

        probe_type = {
            "TCP": t.TCPHealthCheck,
            "HTTP": t.HTTPHealthCheck,
            "HTTPS": t.HTTPSHealthCheck,
            "HTTP2": t.HTTP2HealthCheck,
            "SSL": t.SSLHealthCheck,
        }[kind]
        resource = t.HealthCheck(name=name, type_=kind, **{f"{kind.lower()}_health_check": probe_type(port=port)})
        return self._insert(resource, name, wait=wait, timeout=timeout)


class BackendServices(Collection["compute.BackendService", BackendService]):
    """Regional backend services (to build a producer internal load balancer)."""

    _kind = Kind(
        "backendServices",
        "backend_service",
        "region_backend_services",
        "RegionBackendServicesClient",
        "backend_service",
        True,
        BackendService.from_proto,
    )

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
        timeout: float = DEFAULT_WAIT,
    ) -> ComputeOperation:
        """Create a regional backend service checked by ``health_check`` (name or URL), with
        ``backends`` (instance group or NEG URLs)."""
        names.validate_compute_name(name, "backend_service.name")
        _gapic.prepare()
        from google.cloud.compute_v1.types import compute as t

        resource = t.BackendService(
            name=name,
            protocol=protocol,
            load_balancing_scheme=load_balancing_scheme,
            health_checks=[
                self._b.reference(health_check, "healthChecks", regional=True, field="backend_service.health_check")
            ],
            backends=[t.Backend(group=group, balancing_mode="CONNECTION") for group in backends],
        )
        if network:
            resource.network = self._b.reference(network, "networks", regional=False, field="backend_service.network")
        return self._insert(resource, name, wait=wait, timeout=timeout)


class ForwardingRules(Collection["compute.ForwardingRule", ForwardingRule]):
    """Regional forwarding rules: the internal TCP load balancer a service attachment publishes."""

    _kind = Kind(
        "forwardingRules",
        "forwarding_rule",
        "forwarding_rules",
        "ForwardingRulesClient",
        "forwarding_rule",
        True,
        ForwardingRule.from_proto,
    )

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
        timeout: float = DEFAULT_WAIT,
    ) -> ComputeOperation:
        """Create an internal TCP forwarding rule (``loadBalancingScheme`` INTERNAL) on the
        regional ``backend_service`` (name or URL) for up to 5 ``ports``."""
        names.validate_compute_name(name, "forwarding_rule.name")
        port_list = names.validate_ports(ports, "forwarding_rule.ports", most=5)
        _gapic.prepare()
        from google.cloud.compute_v1.types import compute as t

        resource = t.ForwardingRule(
            name=name,
            I_p_protocol="TCP",
            load_balancing_scheme="INTERNAL",
            ports=[str(port) for port in port_list],
            backend_service=self._b.reference(
                backend_service, "backendServices", regional=True, field="forwarding_rule.backend_service"
            ),
            network=self._b.reference(network, "networks", regional=False, field="forwarding_rule.network"),
        )
        if subnetwork:
            resource.subnetwork = self._b.reference(
                subnetwork, "subnetworks", regional=True, field="forwarding_rule.subnetwork"
            )
        if ip_address:
            resource.I_p_address = ip_address
        if allow_global_access is not None:
            resource.allow_global_access = allow_global_access
        if description:
            resource.description = names.validate_description(description, "forwarding_rule.description")
        return self._insert(resource, name, wait=wait, timeout=timeout)

    def get(self, name: str, *, project: str | None = None, region: str | None = None) -> ForwardingRule:
        """The forwarding rule ``name`` (in this client's project and region unless given: a
        service attachment may publish a rule of another project, which is only read)."""
        if project is None and region is None:
            return super().get(name)
        project = names.validate_project_id(project or self._b.project, "forwarding_rule.project")
        region = names.validate_region(region or self._b.region, "forwarding_rule.region")
        short = names.validate_compute_name(name, "forwarding_rule.name")
        request: _gapic.Request = {"project": project, "region": region, "forwarding_rule": short}
        path = f"{self._b.scope(True, project, region)}/forwardingRules/{short}"
        message = self._b.call(
            lambda: self._api.get(request, timeout=self._b.timeout, metadata=_gapic.METADATA), method="GET", path=path
        )
        return ForwardingRule.from_proto(message)

    def find(self, name_or_url: str) -> ForwardingRule | None:
        """The forwarding rule named by a bare name, a ``projects/...`` path or a full URL;
        ``None`` if it does not exist."""
        project, region, name = None, None, name_or_url
        if isinstance(name_or_url, str) and "/" in name_or_url:
            match = re.search(r"projects/([^/]+)/regions/([^/]+)/forwardingRules/([^/?]+)$", name_or_url)
            if not match:
                raise errors.ValidationError(
                    "forwarding_rule", name_or_url, "a name or projects/P/regions/R/forwardingRules/NAME"
                )
            project, region, name = match.groups()
        try:
            return self.get(name, project=project, region=region)
        except errors.NotFound:
            return None


class ComputeOperations:
    """Compute operations: wait on one returned by a mutation called with ``wait=False``."""

    def __init__(self, backend: Backend) -> None:
        self._b = backend

    def wait(self, operation: ComputeOperation | str, *, timeout: float = DEFAULT_WAIT) -> ComputeOperation:
        """Wait until ``operation`` (of this client's project) is DONE; raises
        :class:`~apigee_psc.errors.OperationFailed` (or ``AlreadyExists``) if it failed and
        ``WaitTimeout`` at the deadline. ``operation`` may be the name a ``WaitTimeout``
        gave (``projects/P/regions/R/operations/NAME`` or ``projects/P/global/operations/NAME``),
        to resume a wait."""
        if isinstance(operation, str):
            link = OPERATION_LINK.fullmatch(operation)
            if link is None:
                raise errors.ValidationError(
                    "operation", operation, "projects/P/regions/R/operations/NAME or projects/P/global/operations/NAME"
                )
            operation = ComputeOperation(name=link.group("op"), self_link=operation, region=link.group("region"))
        return self._b.wait_operation(operation, timeout=timeout)


class ComputeClient:
    """Compute Engine for one producer ``project`` and ``region``.

    Collections: ``networks``, ``subnets``, ``firewalls``, ``health_checks``,
    ``backend_services``, ``forwarding_rules``, ``service_attachments`` and ``operations``;
    each method takes a bare name or the full name of a resource of this project and region,
    never another's. The keyword arguments are the options every client takes
    (:class:`~apigee_psc._http.ClientOptions`): credentials default to ADC (anonymous for
    the emulator); ``endpoint`` overrides the Compute root URL (``APIGEE_PSC_EMULATOR_HOST``
    is honoured). ``timeout`` is the seconds one request waits for its answer, as in every
    client; ``retry`` bounds retries of failed requests and ``on_retry`` hears of each (a
    :class:`~apigee_psc._retry.RetryEvent`). A mutation's
    ``timeout`` bounds all of it: waiting out another operation on the resource (409
    ``operationInProgress``), the request and the operation wait. ``sleep`` and ``clock``
    are injectable for tests. Nothing is imported or resolved before first use, and then
    only the google-cloud-compute services used.
    """

    def __init__(self, project: str, region: str, **options: Unpack[ClientKwargs]) -> None:
        self.project = names.validate_project_id(project, "project")
        self.region = names.validate_region(region, "region")
        given = ClientOptions(**options)
        backend = Backend(
            self.project, self.region, replace(given, quota_project_id=check_quota(given.quota_project_id))
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

    def forwarding_rule_path(self, name: str) -> str:
        """``projects/{project}/regions/{region}/forwardingRules/{name}``."""
        return self.forwarding_rules.path(name)

    def service_attachment_path(self, name: str) -> str:
        """``projects/{project}/regions/{region}/serviceAttachments/{name}``."""
        return self.service_attachments.path(name)
