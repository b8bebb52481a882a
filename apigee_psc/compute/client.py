"""ComputeClient: one generic collection shared by every resource kind, plus the service
attachment's in-place changes."""

from __future__ import annotations

import ipaddress
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Generic, TypeVar, cast

from apigee_psc import errors, names, waiters
from apigee_psc._http import (
    OnRetry,
    RereadPolicy,
    RetryPolicy,
    Transport,
    credentials_for,
    endpoint_source,
    resolve_endpoint,
    retry_call,
    unreachable_warning,
)
from apigee_psc._http import (
    check_quota_project as check_quota,
)
from apigee_psc.compute import _gapic
from apigee_psc.compute.models import (
    BackendService,
    ComputeOperation,
    ConnectionPreference,
    ConsumerProjectLimit,
    Firewall,
    FirewallAllowed,
    ForwardingRule,
    HealthCheck,
    Network,
    ServiceAttachment,
    Subnet,
    relative,
)

if TYPE_CHECKING:
    import google.auth.credentials
    from google.cloud.compute_v1.types import compute
    from proto import Message

__all__ = ["FINGERPRINT_STALE", "LONG_POLL_SCHEDULE", "ComputeClient"]

logger = logging.getLogger("apigee_psc.compute")

#: Polls of an operation are server-side long polls, so the client side barely waits between them.
LONG_POLL_SCHEDULE = waiters.Schedule(windows=((0.0, 0.01),), grow_after=1.0, multiplier=2.0, maximum=1.0)

_WAIT_CALL_TIMEOUT = 150.0  # regionOperations.wait holds a request for up to ~2 minutes
_DEFAULT_WAIT = 600.0
_MAX_PAGE = 500  # Compute's maxResults ceiling
_OPERATION_LINK = re.compile(
    r"projects/(?P<project>[^/]+)/(?:regions/(?P<region>[^/]+)|global)/operations/(?P<op>[^/?]+)"
)

M = TypeVar("M")
R = TypeVar("R")


@dataclass(frozen=True)
class _Kind(Generic[M, R]):
    """How one collection maps onto google-cloud-compute: its URL segment, its service
    module and client, the request key of a resource's name, and its conversion."""

    collection: str
    field: str
    module: str
    client: str
    key: str
    regional: bool
    convert: Callable[[M], R]


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
        on_retry: OnRetry | None,
    ) -> None:
        self.project, self.region = project, region
        self.root_url, self.is_emulator = resolve_endpoint("compute", endpoint)
        self.on_retry = unreachable_warning(self.root_url, endpoint_source(endpoint), on_retry)
        self.retry = retry or RetryPolicy()
        self.timeout, self.sleep, self.clock = timeout, sleep, clock
        self._credentials_arg, self._quota_project_id = credentials, quota_project_id
        self._credentials: google.auth.credentials.Credentials | None = None
        self._clients: dict[str, object] = {}
        self._rest: Transport | None = None
        self._lock = threading.RLock()

    @property
    def credentials(self) -> google.auth.credentials.Credentials:
        """Credentials resolved once (anonymous for the emulator, else given or ADC)."""
        with self._lock:
            if self._credentials is None:
                self._credentials = credentials_for(self._credentials_arg, self._quota_project_id, self.is_emulator)
            return self._credentials

    def service(self, module: str, client: str) -> object:
        """The google-cloud-compute client of service ``module``, built once with our endpoint."""
        with self._lock:
            if module not in self._clients:
                self._clients[module] = _gapic.service(
                    module, client, credentials=self.credentials, api_endpoint=self.root_url.rstrip("/")
                )
            return self._clients[module]

    @property
    def rest(self) -> Transport:
        """This library's transport to the same endpoint, for raw JSON merge patches."""
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

    def scope(self, regional: bool, project: str | None = None, region: str | None = None) -> str:
        """``projects/{p}/regions/{r}`` or ``projects/{p}/global``."""
        where = f"regions/{region or self.region}" if regional else "global"
        return f"projects/{project or self.project}/{where}"

    def reference(self, value: str, collection: str, *, regional: bool, field: str) -> str:
        """A reference to another resource: a URL or path is kept; a bare name is validated and
        turned into ``projects/...`` in this client's project (and region)."""
        if not isinstance(value, str) or not value:
            raise errors.ValidationError(field, value, f"a {collection} name or URL")
        if "/" in value:
            return value
        return f"{self.scope(regional)}/{collection}/{names.validate_compute_name(value, field)}"

    def call(
        self, fn: Callable[[], M], *, method: str, path: str, mutating: bool = False, timeout: float | None = None
    ) -> M:
        """Run one google-cloud-compute call with errors mapped and retries applied; on a
        mutation, another operation on the resource (409 ``operationInProgress``, 400
        ``resourceNotReady``) is waited out, within ``timeout`` seconds when given."""
        url = f"{self.root_url}compute/v1/{path}"

        def once() -> M:
            try:
                return fn()
            except Exception as exc:
                mapped = _gapic.map_exception(exc, method, url)
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

    def mutate(
        self,
        send: Callable[[str], compute.Operation],
        *,
        method: str,
        path: str,
        wait: bool,
        timeout: float,
        created: str | None = None,
    ) -> ComputeOperation:
        """Send one mutation with a fresh ``requestId`` (reused by its retries), then wait, all
        within ``timeout``. ``created`` names the resource being inserted: an ALREADY_EXISTS
        answer (or operation error) raises :class:`~apigee_psc.errors.AlreadyExists` with it."""
        request_id = str(uuid.uuid4())
        started = self.clock()
        try:
            answer = self.call(lambda: send(request_id), method=method, path=path, mutating=True, timeout=timeout)
        except errors.AlreadyExists as exc:
            exc.resource_name = created or exc.resource_name
            raise
        operation = ComputeOperation.from_proto(answer)
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
        if project != self.project:
            raise errors.ValidationError("operation", operation.self_link, f"an operation of project {self.project}")
        region = (link.group("region") if link else operation.region) or None
        request: _gapic.Request = {"project": project, "operation": operation.name}
        if region:
            request["region"] = region
        module, client = (
            ("region_operations", "RegionOperationsClient")
            if region
            else ("global_operations", "GlobalOperationsClient")
        )
        api = cast("_gapic.OperationsService", self.service(module, client))
        path = f"{self.scope(bool(region), project, region)}/operations/{operation.name}/wait"

        def poll() -> ComputeOperation:
            answer = self.call(
                lambda: api.wait(request, timeout=_WAIT_CALL_TIMEOUT, metadata=_gapic.METADATA),
                method="POST",
                path=path,
            )
            return ComputeOperation.from_proto(answer)

        def failed(value: ComputeOperation | None, error: BaseException | None) -> BaseException:
            if value is None or value.error is None:
                return error or errors.ApiError("Compute operation failed")
            return errors.operation_error(
                value.name,
                value.error.message,
                http_status=value.http_error_status_code,
                reason=value.error.code,
                errors=list(value.error.errors),
                url=value.target_link,
                resource_name=created,
            )

        result = waiters.wait(
            waiters.COMPUTE_OPERATION_DONE,
            poll,
            timeout=timeout,
            subject=operation.name,
            schedule=LONG_POLL_SCHEDULE,
            first=operation,
            operation=operation.name,
            on_failure=failed,
            clock=self.clock,
            sleep=self.sleep,
        )
        return result if result is not None else operation


class _Collection(Generic[M, R]):
    """get/list/delete (and the insert behind each ``create``) for one resource kind."""

    _kind: _Kind[M, R]

    def __init__(self, backend: _Backend) -> None:
        self._b = backend

    @property
    def _api(self) -> _gapic.Service[M]:
        return cast("_gapic.Service[M]", self._b.service(self._kind.module, self._kind.client))

    def _request(self, **fields: str | int | Message) -> _gapic.Request:
        request: _gapic.Request = {"project": self._b.project}
        if self._kind.regional:
            request["region"] = self._b.region
        request.update(fields)
        return request

    def _own(self, name: object) -> str:
        """The short name of a resource of this client's project (and region): a bare name
        or a full name/URL of its own; anything else is a ValidationError."""
        return names.own_name(
            name,
            parent=self._b.scope(self._kind.regional),
            collection=self._kind.collection,
            validate=names.validate_compute_name,
            field=f"{self._kind.field}.name",
        )

    def _base(self) -> str:
        return f"{self._b.scope(self._kind.regional)}/{self._kind.collection}"

    def path(self, name: str) -> str:
        """``projects/{p}/regions/{r}/{collection}/{name}`` (or ``.../global/...``)."""
        return f"{self._base()}/{self._own(name)}"

    def get(self, name: str) -> R:
        """The resource ``name`` (a name, or its full name in this project/region); raises
        :class:`~apigee_psc.errors.NotFound`."""
        short = self._own(name)
        request = self._request(**{self._kind.key: short})
        message = self._b.call(
            lambda: self._api.get(request, timeout=self._b.timeout, metadata=_gapic.METADATA),
            method="GET",
            path=self.path(short),
        )
        return self._kind.convert(message)

    def list(self, *, page_size: int = _MAX_PAGE) -> Iterator[R]:
        """Every resource of the scope, one page request at a time (each retried on its own);
        ``page_size`` defaults to Compute's maximum, 500."""
        if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= _MAX_PAGE:
            raise errors.ValidationError("page_size", page_size, f"an integer from 1 to {_MAX_PAGE}")
        token, seen = "", set[str]()
        while True:
            request = self._request(max_results=page_size, **({"page_token": token} if token else {}))
            call = partial(self._api.list, request, timeout=self._b.timeout, metadata=_gapic.METADATA)
            pager = self._b.call(call, method="GET", path=self._base())
            page = next(iter(pager.pages))
            yield from (self._kind.convert(item) for item in page.items)
            token = page.next_page_token
            if not token or token in seen:
                return
            seen.add(token)

    def delete(
        self, name: str, *, wait: bool = True, timeout: float = _DEFAULT_WAIT, missing_ok: bool = False
    ) -> ComputeOperation | None:
        """Delete the resource (waiting until it is gone unless ``wait=False``); with
        ``missing_ok`` a missing one returns ``None``."""
        short = self._own(name)

        def send(request_id: str) -> compute.Operation:
            request = self._request(**{self._kind.key: short, "request_id": request_id})
            return self._api.delete_unary(request, timeout=self._b.timeout, metadata=_gapic.METADATA)

        try:
            return self._b.mutate(send, method="DELETE", path=self.path(short), wait=wait, timeout=timeout)
        except errors.NotFound:
            if missing_ok:
                return None
            raise

    def _insert(self, resource: Message, name: str, *, wait: bool, timeout: float) -> ComputeOperation:
        def send(request_id: str) -> compute.Operation:
            request = self._request(**{f"{self._kind.key}_resource": resource, "request_id": request_id})
            return self._api.insert_unary(request, timeout=self._b.timeout, metadata=_gapic.METADATA)

        return self._b.mutate(
            send, method="POST", path=self._base(), wait=wait, timeout=timeout, created=self.path(name)
        )


def _kind(
    collection: str, field: str, module: str, client: str, key: str, regional: bool, convert: Callable[[M], R]
) -> _Kind[M, R]:
    return _Kind(collection, field, module, client, key, regional, convert)


class Networks(_Collection["compute.Network", Network]):
    """VPC networks (global). Read only: the seed uses an existing network."""

    _kind = _kind("networks", "network", "networks", "NetworksClient", "network", False, Network.from_proto)


class Subnets(_Collection["compute.Subnetwork", Subnet]):
    """Subnetworks of the client's region; :meth:`create` makes the PSC NAT subnet."""

    _kind = _kind("subnetworks", "subnet", "subnetworks", "SubnetworksClient", "subnetwork", True, Subnet.from_proto)

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


class Firewalls(_Collection["compute.Firewall", Firewall]):
    """VPC firewall rules (global): the ingress rule that lets the NAT range reach the backends."""

    _kind = _kind("firewalls", "firewall", "firewalls", "FirewallsClient", "firewall", False, Firewall.from_proto)

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


class HealthChecks(_Collection["compute.HealthCheck", HealthCheck]):
    """Regional health checks (to build a producer load balancer)."""

    _kind = _kind(
        "healthChecks",
        "health_check",
        "region_health_checks",
        "RegionHealthChecksClient",
        "health_check",
        True,
        HealthCheck.from_proto,
    )

    def create(
        self, name: str, *, port: int, protocol: str = "TCP", wait: bool = True, timeout: float = _DEFAULT_WAIT
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


class BackendServices(_Collection["compute.BackendService", BackendService]):
    """Regional backend services (to build a producer internal load balancer)."""

    _kind = _kind(
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
        timeout: float = _DEFAULT_WAIT,
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


class ForwardingRules(_Collection["compute.ForwardingRule", ForwardingRule]):
    """Regional forwarding rules: the internal TCP load balancer a service attachment publishes."""

    _kind = _kind(
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
        timeout: float = _DEFAULT_WAIT,
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


Patch = dict[str, object]


def _is_stale_fingerprint(error: BaseException) -> bool:
    return isinstance(error, errors.FailedPrecondition) and (
        error.status_code == 412 or error.reason == "conditionNotMet"
    )


#: A PATCH whose fingerprint is stale (412 ``conditionNotMet``) re-reads the attachment and
#: recomputes the change: up to 5 times within 30 s.
FINGERPRINT_STALE = RereadPolicy(
    "compute: service attachment", _is_stale_fingerprint, attempts=5, initial=0.2, maximum=2.0, deadline=30.0
)


def _consumer(project: object, field: str) -> str:
    if isinstance(project, str) and project.isdigit():
        return project
    return names.validate_project_id(project, field)


def _limit(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise errors.ValidationError(field, value, "a connection limit: an integer of at least 0")
    return value


def _preference(value: object) -> ConnectionPreference:
    allowed = {ConnectionPreference.ACCEPT_AUTOMATIC.value, ConnectionPreference.ACCEPT_MANUAL.value}
    if not isinstance(value, str) or str(value) not in allowed:
        raise errors.ValidationError(
            "service_attachment.connection_preference", value, "ACCEPT_AUTOMATIC or ACCEPT_MANUAL"
        )
    return ConnectionPreference(str(value))


def _accept_entries(values: Iterable[ConsumerProjectLimit | str]) -> tuple[ConsumerProjectLimit, ...]:
    field = "service_attachment.consumer_accept_lists"
    entries: list[ConsumerProjectLimit] = []
    for value in values:
        if isinstance(value, ConsumerProjectLimit):
            if value.project is not None:
                _consumer(value.project, field)
            _limit(value.connection_limit, f"{field}.connection_limit")
            entries.append(value)
        else:
            entries.append(ConsumerProjectLimit(_consumer(value, field), 10))
    return tuple(entries)


def _lists_field(accept: object) -> str:
    return f"service_attachment.consumer_{'accept' if accept else 'reject'}_lists"


def _check_lists_allowed(current: ServiceAttachment, patch: Mapping[str, object]) -> None:
    """Refuse, before writing, a PATCH that would leave ACCEPT_AUTOMATIC with consumer lists:
    Google answers 400 "Incorrect combination of connection preference with accept and/or
    reject list" (terraform-provider-google #17153)."""
    if patch.get("connectionPreference", str(current.connection_preference)) != "ACCEPT_AUTOMATIC":
        return
    accept = patch.get("consumerAcceptLists", [e.to_api() for e in current.consumer_accept_lists])
    reject = patch.get("consumerRejectLists", list(current.consumer_reject_lists))
    if accept or reject:
        raise errors.ValidationError(
            _lists_field(accept),
            accept or reject,
            "empty when connection_preference is ACCEPT_AUTOMATIC (switch to ACCEPT_MANUAL to list consumers)",
        )


class ServiceAttachments(_Collection["compute.ServiceAttachment", ServiceAttachment]):
    """Service attachments of the client's region, and in-place changes to their consumers.

    Changes (:meth:`set_connection_preference`, :meth:`accept_project`, :meth:`reject_project`,
    :meth:`remove_project`, :meth:`update`) read the attachment, compute a JSON merge patch
    and send it with ``name``, ``enableProxyProtocol`` and the current fingerprint (as the
    Terraform provider's update encoder does); a stale fingerprint re-reads and tries again
    (:data:`FINGERPRINT_STALE`). They return ``None`` without any write when nothing would change.
    """

    _kind = _kind(
        "serviceAttachments",
        "service_attachment",
        "service_attachments",
        "ServiceAttachmentsClient",
        "service_attachment",
        True,
        ServiceAttachment.from_proto,
    )

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
        (limit 10); accept and reject lists need ``ACCEPT_MANUAL``. ``domain_names`` end with
        a dot. ``reconcile_connections`` makes later list changes apply to connections that
        are already ACCEPTED or REJECTED.
        """
        names.validate_compute_name(name, "service_attachment.name")
        preference = _preference(connection_preference)
        accept = _accept_entries(consumer_accept_lists)
        reject = tuple(_consumer(p, "service_attachment.consumer_reject_lists") for p in consumer_reject_lists)
        if (accept or reject) and preference is ConnectionPreference.ACCEPT_AUTOMATIC:
            raise errors.ValidationError(
                _lists_field(accept),
                [entry.project for entry in accept] if accept else list(reject),
                "empty unless connection_preference is ACCEPT_MANUAL",
            )
        subnets = tuple(
            self._b.reference(subnet, "subnetworks", regional=True, field="service_attachment.nat_subnets")
            for subnet in nat_subnets
        )
        if not subnets:
            raise errors.ValidationError("service_attachment.nat_subnets", [], "at least one NAT subnet")
        for domain in domain_names:
            names.validate_domain(domain, "service_attachment.domain_names")
        attachment = ServiceAttachment(
            name=name,
            connection_preference=preference,
            target_service=self._b.reference(
                target_service, "forwardingRules", regional=True, field="service_attachment.target_service"
            ),
            nat_subnets=subnets,
            consumer_accept_lists=accept,
            consumer_reject_lists=reject,
            enable_proxy_protocol=bool(enable_proxy_protocol),
            domain_names=tuple(domain_names),
            reconcile_connections=reconcile_connections,
            description=names.validate_description(description, "service_attachment.description")
            if description
            else "",
        )
        return self._insert(attachment.to_proto(), name, wait=wait, timeout=timeout)

    def set_connection_preference(
        self, name: str, preference: ConnectionPreference | str, *, wait: bool = True, timeout: float = _DEFAULT_WAIT
    ) -> ComputeOperation | None:
        """Switch to ``ACCEPT_AUTOMATIC`` or ``ACCEPT_MANUAL``.

        Switching to ``ACCEPT_AUTOMATIC`` also clears the accept and reject lists (sent as an
        explicit ``[]``): Compute only allows them with ``ACCEPT_MANUAL``. Returns ``None`` if
        already so.
        """
        return self.update(name, connection_preference=_preference(preference), wait=wait, timeout=timeout)

    def accept_project(
        self, name: str, project: str, limit: int = 10, *, wait: bool = True, timeout: float = _DEFAULT_WAIT
    ) -> ComputeOperation | None:
        """Accept-list ``project`` (id or number) with ``limit`` connections, taking it off the
        reject list. Returns ``None`` if it is already accepted with that limit."""
        project, limit = _consumer(project, "project"), _limit(limit, "limit")

        def change(current: ServiceAttachment) -> Patch:
            patch: Patch = {}
            if project in current.consumer_reject_lists:
                patch["consumerRejectLists"] = [p for p in current.consumer_reject_lists if p != project]
            if current.accepted_projects.get(project) != limit:
                entries = [e for e in current.consumer_accept_lists if e.project != project]
                patch["consumerAcceptLists"] = [e.to_api() for e in (*entries, ConsumerProjectLimit(project, limit))]
            return patch

        return self._change(name, change, wait=wait, timeout=timeout)

    def reject_project(
        self, name: str, project: str, *, wait: bool = True, timeout: float = _DEFAULT_WAIT
    ) -> ComputeOperation | None:
        """Put ``project`` on the reject list, taking it off the accept list. Returns ``None``
        if it is already rejected and not accepted."""
        project = _consumer(project, "project")

        def change(current: ServiceAttachment) -> Patch:
            patch = self._without(current, project, reject_list=False)
            if project not in current.consumer_reject_lists:
                patch["consumerRejectLists"] = [*current.consumer_reject_lists, project]
            return patch

        return self._change(name, change, wait=wait, timeout=timeout)

    def remove_project(
        self, name: str, project: str, *, wait: bool = True, timeout: float = _DEFAULT_WAIT
    ) -> ComputeOperation | None:
        """Take ``project`` off both the accept and the reject list (an emptied list is sent as
        ``[]``). Returns ``None`` if it is on neither."""
        project = _consumer(project, "project")
        return self._change(name, lambda current: self._without(current, project), wait=wait, timeout=timeout)

    @staticmethod
    def _without(current: ServiceAttachment, project: str, *, reject_list: bool = True) -> Patch:
        patch: Patch = {}
        if reject_list and project in current.consumer_reject_lists:
            patch["consumerRejectLists"] = [p for p in current.consumer_reject_lists if p != project]
        if project in current.accepted_projects:
            patch["consumerAcceptLists"] = [e.to_api() for e in current.consumer_accept_lists if e.project != project]
        return patch

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
        wanted: Patch = {}
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
        if wanted.get("connectionPreference") == "ACCEPT_AUTOMATIC":
            given = wanted.get("consumerAcceptLists") or wanted.get("consumerRejectLists")
            if given:
                raise errors.ValidationError(
                    _lists_field(wanted.get("consumerAcceptLists")),
                    given,
                    "empty when connection_preference is ACCEPT_AUTOMATIC",
                )
            # Automatic takes no lists: those not given are cleared (an explicit []) in the same PATCH.
            wanted.setdefault("consumerAcceptLists", [])
            wanted.setdefault("consumerRejectLists", [])

        def change(current: ServiceAttachment) -> Patch:
            have: Patch = {
                "connectionPreference": str(current.connection_preference),
                "consumerAcceptLists": [e.to_api() for e in current.consumer_accept_lists],
                "consumerRejectLists": list(current.consumer_reject_lists),
                "natSubnets": [relative(s) for s in current.nat_subnets],
                "enableProxyProtocol": current.enable_proxy_protocol,
                "reconcileConnections": bool(current.reconcile_connections),
            }
            patch: Patch = {}
            for key, value in wanted.items():
                compare = [relative(str(v)) for v in cast("list[str]", value)] if key == "natSubnets" else value
                if have[key] != compare:
                    patch[key] = value
            return patch

        return self._change(name, change, wait=wait, timeout=timeout)

    def _change(
        self, name: str, change: Callable[[ServiceAttachment], Patch], *, wait: bool, timeout: float
    ) -> ComputeOperation | None:
        path = self.path(name)
        started = self._b.clock()

        def cycle() -> ComputeOperation | None:
            current = self.get(name)
            patch = change(current)
            if not patch:
                logger.debug("compute: service attachment %s already as wanted", name)
                return None
            _check_lists_allowed(current, patch)
            # Like the Terraform provider's update encoder: the API validates these on every PATCH.
            body = {"name": current.name, "enableProxyProtocol": current.enable_proxy_protocol, **patch}
            body["fingerprint"] = current.fingerprint
            data = self._b.rest.request(
                "PATCH", f"compute/v1/{path}", params={"requestId": str(uuid.uuid4())}, json=body, deadline=timeout
            )
            return ComputeOperation.from_api(data)

        operation = FINGERPRINT_STALE.call(cycle, sleep=self._b.sleep, clock=self._b.clock)
        if operation is None or not wait:
            return operation
        return self._b.wait_operation(operation, timeout=max(0.0, timeout - (self._b.clock() - started)))


class ComputeOperations:
    """Compute operations: wait on one returned by a mutation called with ``wait=False``."""

    def __init__(self, backend: _Backend) -> None:
        self._b = backend

    def wait(self, operation: ComputeOperation, *, timeout: float = _DEFAULT_WAIT) -> ComputeOperation:
        """Wait until ``operation`` (of this client's project) is DONE; raises
        :class:`~apigee_psc.errors.OperationFailed` (or ``AlreadyExists``) if it failed and
        ``WaitTimeout`` at the deadline."""
        return self._b.wait_operation(operation, timeout=timeout)


class ComputeClient:
    """Compute Engine for one producer ``project`` and ``region``.

    Collections: ``networks``, ``subnets``, ``firewalls``, ``health_checks``,
    ``backend_services``, ``forwarding_rules``, ``service_attachments`` and ``operations``;
    each method takes a bare name or the full name of a resource of this project and region,
    never another's. Credentials default to ADC (anonymous for the emulator); ``endpoint``
    overrides the Compute root URL (``APIGEE_PSC_EMULATOR_HOST`` is honoured). ``timeout``
    is the per-request timeout in seconds; ``retry`` bounds retries of failed requests and
    ``on_retry`` hears of each (a :class:`~apigee_psc._http.RetryEvent`). A mutation's
    ``timeout`` bounds all of it: waiting out another operation on the resource (409
    ``operationInProgress``), the request and the operation wait. ``sleep`` and ``clock``
    are injectable for tests. Nothing is imported or resolved before first use, and then
    only the google-cloud-compute services used.
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
            quota_project_id=check_quota(quota_project_id),
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
        return self.subnets.path(name)

    def forwarding_rule_path(self, name: str) -> str:
        """``projects/{project}/regions/{region}/forwardingRules/{name}``."""
        return self.forwarding_rules.path(name)

    def service_attachment_path(self, name: str) -> str:
        """``projects/{project}/regions/{region}/serviceAttachments/{name}``."""
        return self.service_attachments.path(name)
