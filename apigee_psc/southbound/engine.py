"""Plan, apply, status and destroy for one southbound connection (and fleets of them).

:class:`Southbound` reads the live state of every entity of a :class:`SouthboundSpec`
(concurrently), diffs it against the spec into a :class:`~apigee_psc.southbound.plan.Plan`,
and applies it along the dependency order: NAT subnet and firewall (and the IAM grant) at
once, then the service attachment, then the endpoint attachment (waiting until ACTIVE and
ACCEPTED), then DNS. Destroy runs it backwards. Every step first looks at what exists, so a
re-run after a crash converges without creating anything twice.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import math
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

import tenacity

from apigee_psc import errors, names, waiters
from apigee_psc.apigee import ApigeeClient, organization_lock
from apigee_psc.diagnosis import Diagnosis, diagnose
from apigee_psc.models import EndpointAttachment, Operation, Organization
from apigee_psc.southbound.plan import (
    Action,
    Change,
    EntityStatus,
    Plan,
    Problem,
    ProgressEvent,
    Realization,
    RealizationReport,
)
from apigee_psc.southbound.spec import SouthboundSpec
from apigee_psc.target import target_endpoint_xml, target_url

if TYPE_CHECKING:
    import google.auth.credentials

    from apigee_psc._http import RetryPolicy
    from apigee_psc.cloud import CloudDnsClient, ResourceManagerClient, ServiceNetworkingClient
    from apigee_psc.compute import ComputeClient, ConsumerProjectLimit, ServiceAttachment

__all__ = ["FleetResult", "Southbound", "apply_fleet", "diagnose_attachment"]

logger = logging.getLogger("apigee_psc")

T = TypeVar("T")
ProgressCallback = Callable[[ProgressEvent], None]

DNS_PEER_ROLE = "roles/dns.peer"

KIND_SUBNET = "NatSubnet"
KIND_FIREWALL = "Firewall"
KIND_FORWARDING_RULE = "ForwardingRule"
KIND_SERVICE_ATTACHMENT = "ServiceAttachment"
KIND_ENDPOINT_ATTACHMENT = "EndpointAttachment"
KIND_IAM = "IamBinding"
KIND_DNS_ZONE = "DnsZone"
KIND_PEERED_DOMAIN = "PeeredDnsDomain"
KIND_RECORD = "DnsRecord"

#: Kinds apply may delete and create again when they differ from the spec (nothing depends on them).
REPLACEABLE = frozenset({KIND_FIREWALL})

#: How the Compute resources apigee-psc creates are marked (the start of their ``description``).
OWNER_MARK = "managed by apigee-psc"
#: The TXT record beside an A record apigee-psc wrote (the external-dns registry's idea).
OWNER_TXT_PREFIX = "heritage=apigee-psc"
_OPEN_CONNECTIONS = frozenset({"ACCEPTED", "PENDING", "NEEDS_ATTENTION"})


def owned_by_us(description: str | None) -> bool:
    """True if a Compute resource's ``description`` carries apigee-psc's mark."""
    return (description or "").startswith(OWNER_MARK)


class PlanRefused(errors.ApigeePscError):
    """A plan cannot be applied: it has preflight problems or would replace a resource."""

    def __init__(self, plan: Plan, reasons: Sequence[str]) -> None:
        self.plan = plan
        self.reasons = list(reasons)
        super().__init__("cannot apply: " + "; ".join(self.reasons))


@dataclass
class _Read:
    """One live read: the value, ``None`` when absent, or the error that stopped it."""

    value: Any = None
    error: BaseException | None = None

    @property
    def found(self) -> bool:
        return self.value is not None


@dataclass
class _Observed:
    """Everything read about one southbound connection."""

    organization: Organization | None = None
    org_error: BaseException | None = None
    forwarding_rule: _Read = field(default_factory=_Read)
    subnet: _Read = field(default_factory=_Read)
    network_subnets: _Read = field(default_factory=_Read)
    region_service_attachments: _Read = field(default_factory=_Read)
    firewall: _Read = field(default_factory=_Read)
    service_attachment: _Read = field(default_factory=_Read)
    endpoint_attachment: _Read = field(default_factory=_Read)
    attachment_for_sa: _Read = field(default_factory=_Read)
    pending_operation: _Read = field(default_factory=_Read)
    iam: _Read = field(default_factory=_Read)
    dns_zone: _Read = field(default_factory=_Read)
    peered_domain: _Read = field(default_factory=_Read)
    record: _Read = field(default_factory=_Read)
    record_owner: _Read = field(default_factory=_Read)
    managed_zone: _Read = field(default_factory=_Read)
    complete: bool = False  # False when status skipped the reads only a plan needs

    @property
    def tenant(self) -> str | None:
        return self.organization.apigee_project_id if self.organization else None

    @property
    def peering_disabled(self) -> bool:
        return bool(self.organization and self.organization.disable_vpc_peering)


@dataclass(frozen=True)
class _Grant:
    """Whether ``member`` (the Apigee service agent) holds roles/dns.peer on the producer project."""

    member: str
    granted: bool


_UNKNOWN_GRANT = _Grant("the Apigee service agent", False)


def _read(fn: Callable[[], T]) -> _Read:
    try:
        return _Read(fn())
    except errors.NotFound:
        return _Read(None)
    except errors.ApigeePscError as exc:
        return _Read(None, exc)


def _short(name: str | None) -> str:
    return (name or "").rstrip("/").rsplit("/", 1)[-1]


class Southbound:
    """One declarative southbound connection: ``plan()``, ``apply()``, ``status()``, ``destroy()``.

    Clients are built on first use with ``credentials``/``quota_project_id``/``endpoint``
    (or ``APIGEE_PSC_EMULATOR_HOST``), unless given. ``timeout`` bounds each wait;
    ``schedule`` is the polling schedule of Apigee waits; ``retry`` (a
    :class:`~apigee_psc.RetryPolicy`) how every client retries failed requests.

    Ownership: what apigee-psc creates is marked (Compute ``description``, a TXT record beside
    the A record). A resource that exists and matches the spec is adopted without a write; one
    that differs and is not marked is never changed, replaced or deleted (a plan problem)
    unless ``adopt=True`` or the spec says ``adopt: true``.
    """

    def __init__(
        self,
        spec: SouthboundSpec,
        *,
        credentials: google.auth.credentials.Credentials | None = None,
        quota_project_id: str | None = None,
        endpoint: str | None = None,
        apigee: ApigeeClient | None = None,
        compute: ComputeClient | None = None,
        dns: CloudDnsClient | None = None,
        resource_manager: ResourceManagerClient | None = None,
        service_networking: ServiceNetworkingClient | None = None,
        schedule: waiters.Schedule | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 1800.0,
        adopt: bool = False,
        max_workers: int = 6,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not (isinstance(timeout, (int, float)) and math.isfinite(timeout) and timeout > 0):
            raise errors.ValidationError("timeout", timeout, "a finite number of seconds, more than 0")
        self.spec = spec
        self.timeout = float(timeout)
        self.adopt = adopt or spec.adopt
        self.schedule = schedule
        self.max_workers = max_workers
        self._common: dict[str, Any] = {
            "credentials": credentials,
            "quota_project_id": quota_project_id,
            "endpoint": endpoint,
            "retry": retry,
            "sleep": sleep,
            "clock": clock,
        }
        self.sleep = sleep
        self.clock = clock
        if apigee is not None:
            self.__dict__["apigee"] = apigee
        if compute is not None:
            self.__dict__["compute"] = compute
        if dns is not None:
            self.__dict__["dns"] = dns
        if resource_manager is not None:
            self.__dict__["resource_manager"] = resource_manager
        if service_networking is not None:
            self.__dict__["service_networking"] = service_networking

    # -- clients -----------------------------------------------------------------

    @cached_property
    def apigee(self) -> ApigeeClient:
        """The Apigee client of the spec's organization."""
        return ApigeeClient(self.spec.organization, schedule=self.schedule, **self._common)

    @cached_property
    def compute(self) -> ComputeClient:
        """The Compute client of the producer project and region."""
        from apigee_psc.compute import ComputeClient

        return ComputeClient(self.spec.project, self.spec.region, **self._common)

    @cached_property
    def dns(self) -> CloudDnsClient:
        """The Cloud DNS client (records in the producer's private zone)."""
        from apigee_psc.cloud import CloudDnsClient

        return CloudDnsClient(**self._common)

    @cached_property
    def resource_manager(self) -> ResourceManagerClient:
        """The Resource Manager client (project numbers, IAM)."""
        from apigee_psc.cloud import ResourceManagerClient

        return ResourceManagerClient(**self._common)

    @cached_property
    def service_networking(self) -> ServiceNetworkingClient:
        """The Service Networking client (peered DNS domains)."""
        from apigee_psc.cloud import ServiceNetworkingClient

        return ServiceNetworkingClient(**self._common)

    # -- names -------------------------------------------------------------------

    @property
    def service_attachment_path(self) -> str:
        """``projects/P/regions/R/serviceAttachments/NAME`` of the spec."""
        return self.spec.service_attachment_path

    @property
    def endpoint_attachment_path(self) -> str:
        """``organizations/ORG/endpointAttachments/NAME`` of the spec."""
        return self.spec.endpoint_attachment_path

    @property
    def _subnet_path(self) -> str:
        return self.spec.nat_subnet_path

    @property
    def _firewall_path(self) -> str:
        assert self.spec.firewall is not None
        return f"projects/{self.spec.project}/global/firewalls/{self.spec.firewall.name}"

    @property
    def _forwarding_rule_path(self) -> str:
        return self.spec.forwarding_rule_path

    @property
    def _zone_path(self) -> str:
        assert self.spec.dns is not None and self.spec.dns.zone is not None
        return f"organizations/{self.spec.organization}/dnsZones/{self.spec.dns.zone.name}"

    @property
    def _record_path(self) -> str:
        assert self.spec.dns is not None
        return f"projects/{self.spec.project}/managedZones/{self.spec.dns.managed_zone}/rrsets/{self.spec.dns.record}/A"

    # -- reading -----------------------------------------------------------------

    def _observe(self, *, for_status: bool = False) -> _Observed:
        """Read every entity concurrently; NotFound is absence, other errors are kept."""
        spec = self.spec
        seen = _Observed()
        try:
            seen.organization = self.apigee.get_organization()
        except errors.ApigeePscError as exc:
            if not for_status:
                raise
            seen.org_error = exc

        reads: dict[str, Callable[[], Any]] = {
            "forwarding_rule": lambda: self.compute.forwarding_rules.find(spec.forwarding_rule),
            "subnet": lambda: self.compute.subnets.get(spec.nat_subnet.name),
            "service_attachment": lambda: self.compute.service_attachments.get(spec.service_attachment.name),
            "endpoint_attachment": lambda: self.apigee.endpoint_attachments.get(spec.endpoint_attachment.name),
        }
        if not for_status:
            reads["attachment_for_sa"] = lambda: self.apigee.endpoint_attachments.find_by_service_attachment(
                self.service_attachment_path
            )
            reads["network_subnets"] = lambda: list(self.compute.subnets.list())
            reads["region_service_attachments"] = lambda: list(self.compute.service_attachments.list())
        if spec.firewall is not None:
            reads["firewall"] = lambda: self.compute.firewalls.get(spec.firewall.name)  # type: ignore[union-attr]
        dns = spec.dns
        if dns is not None and dns.zone is not None and seen.organization is not None:
            zone = dns.zone
            if seen.peering_disabled:
                reads["dns_zone"] = lambda: self.apigee.dns_zones.get(zone.name)
                reads["iam"] = self._iam_grant
            else:
                reads["peered_domain"] = lambda: self.service_networking.peered_dns_domains.get(
                    self._project_number(spec.project), spec.network, zone.name
                )
        if dns is not None and dns.record and dns.managed_zone:
            record, managed_zone = dns.record, dns.managed_zone
            reads["record"] = lambda: self.dns.records.get(spec.project, managed_zone, record, "A")
            reads["record_owner"] = lambda: self.dns.records.get(spec.project, managed_zone, record, "TXT")
            if not for_status:
                reads["managed_zone"] = lambda: self.dns.managed_zones.get(spec.project, managed_zone)

        seen.complete = not for_status
        with ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="apigee-psc-read") as pool:
            futures = {key: pool.submit(_read, fn) for key, fn in reads.items()}
            for key, future in futures.items():
                setattr(seen, key, future.result())

        ea = seen.endpoint_attachment
        if not ea.found and ea.error is None and not for_status:
            seen.pending_operation = _read(lambda: self._pending_operation(self.endpoint_attachment_path))
        return seen

    def _project_number(self, project: str) -> str:
        return self.resource_manager.projects.number(project)

    def _service_agent(self) -> str:
        """The Apigee per-project service agent: ``service-{N}@gcp-sa-apigee...`` where N is the
        number of the organization's own project (``projectId``, usually the organization name),
        not of the Google-owned tenant project (``apigeeProjectId``)."""
        from apigee_psc.cloud import apigee_service_agent

        org = self.apigee.organization_info()
        project = org.project_id or org.name or self.spec.organization
        names.validate_project_id(project, f"projectId of organization {self.spec.organization}")
        return apigee_service_agent(self._project_number(project))

    def _iam_grant(self) -> _Grant:
        member = f"serviceAccount:{self._service_agent()}"
        return _Grant(member, self.resource_manager.iam.has_binding(self.spec.project, DNS_PEER_ROLE, member))

    def _pending_operation(self, target: str) -> Operation | None:
        for operation in self.apigee.operations.list():
            if not operation.done and operation.target == target:
                return operation
        return None

    # -- planning ----------------------------------------------------------------

    def plan(self) -> Plan:
        """Read the live state (no writes) and return the ordered changes and preflight problems."""
        seen = self._observe()
        return self._plan(seen)

    def _plan(self, seen: _Observed) -> Plan:
        for read in vars(seen).values():
            if isinstance(read, _Read) and read.error is not None:
                raise read.error
        problems: list[Problem] = []
        changes = self._changes(seen, problems)
        org = seen.organization
        return Plan(
            spec_source=self.spec.source,
            organization=self.spec.organization,
            changes=tuple(changes),
            problems=tuple(problems),
            apigee_project_id=org.apigee_project_id if org else None,
            disable_vpc_peering=org.disable_vpc_peering if org else None,
        )

    def _changes(self, seen: _Observed, problems: list[Problem]) -> list[Change]:
        """The ordered changes from ``seen`` to the spec, with the problems that stop them.

        The one diff of every kind: :meth:`plan` returns it, :meth:`apply` carries it out and
        :meth:`status` reports an entity in sync only when its change here is a no-op.
        """
        spec = self.spec
        changes: list[Change] = []
        fr = seen.forwarding_rule.value
        if fr is None:
            problems.append(
                Problem(KIND_FORWARDING_RULE, f"forwarding rule {self._forwarding_rule_path} does not exist")
            )
        else:
            scheme = fr.load_balancing_scheme or ""
            if scheme and scheme != "INTERNAL":
                problems.append(
                    Problem(
                        KIND_FORWARDING_RULE,
                        f"forwarding rule {spec.forwarding_rule_name} has load balancing scheme {scheme};"
                        " a service attachment for Apigee needs an INTERNAL one",
                    )
                )

        changes.append(self._plan_subnet(seen, problems))
        if spec.firewall is not None:
            changes.append(self._plan_firewall(seen))
        changes.append(self._plan_service_attachment(seen, problems))
        self._check_forwarding_rule_free(seen, problems)
        changes.append(self._plan_endpoint_attachment(seen, problems))
        changes.extend(self._plan_dns(seen, problems))
        owners = self._ownership(seen)
        for change in changes:
            if change.action not in (Action.UPDATE, Action.REPLACE):
                continue
            if owners.get(change.kind) is False and not self.adopt:
                problems.append(
                    Problem(
                        change.kind,
                        f"{change.name} exists and differs from the spec ({'; '.join(change.diffs)}), but apigee-psc"
                        " did not create it, so it will not change it: make the spec match it, or set adopt: true"
                        " in the spec (--adopt) to take it over",
                    )
                )
            elif change.action is Action.REPLACE and change.kind not in REPLACEABLE:
                problems.append(
                    Problem(
                        change.kind,
                        f"{change.name} would have to be replaced ({'; '.join(change.diffs)}); apigee-psc does not "
                        "delete what may be in use: destroy it first, or change the spec back",
                    )
                )
        return changes

    def _ownership(self, seen: _Observed) -> dict[str, bool | None]:
        """Per kind: True if the live resource carries apigee-psc's mark, False if it exists
        without it, None if it does not exist or has no mark to carry (Apigee resources)."""

        def marked(read: _Read) -> bool | None:
            return None if read.value is None else owned_by_us(read.value.description)

        record = None if seen.record.value is None else self._record_owned(seen)
        return {
            KIND_SUBNET: marked(seen.subnet),
            KIND_FIREWALL: marked(seen.firewall),
            KIND_SERVICE_ATTACHMENT: marked(seen.service_attachment),
            KIND_RECORD: record,
        }

    @staticmethod
    def _record_owned(seen: _Observed) -> bool:
        txt = seen.record_owner.value
        return txt is not None and any(OWNER_TXT_PREFIX in value for value in txt.rrdatas)

    @property
    def _mark(self) -> str:
        """The ``description`` of the Compute resources this spec creates."""
        return f"{OWNER_MARK} for {self.spec.endpoint_attachment_path}"

    @property
    def _owner_txt(self) -> str:
        return f'"{OWNER_TXT_PREFIX},apigee-psc/owner={self.spec.endpoint_attachment_path}"'

    def _check_forwarding_rule_free(self, seen: _Observed, problems: list[Problem]) -> None:
        """A forwarding rule can be published by one service attachment only."""
        spec = self.spec
        for other in seen.region_service_attachments.value or []:
            if other.name == spec.service_attachment.name:
                continue
            if _short(other.target_service) == spec.forwarding_rule_name:
                problems.append(
                    Problem(
                        KIND_FORWARDING_RULE,
                        f"forwarding rule {spec.forwarding_rule_name} is already published by service attachment "
                        f"{other.name}; a forwarding rule takes one service attachment (set "
                        f"service_attachment.name to {other.name!r} to adopt it, or use another forwarding rule)",
                    )
                )

    def _plan_subnet(self, seen: _Observed, problems: list[Problem]) -> Change:
        spec = self.spec
        wanted = spec.nat_subnet.ip_network
        for other in seen.network_subnets.value or []:
            name, cidr, network = other.name, other.ip_cidr_range, _short(other.network)
            if name == spec.nat_subnet.name or not cidr or (network and network != spec.network):
                continue
            try:
                overlaps = ipaddress.ip_network(cidr, strict=False).overlaps(wanted)
            except ValueError:
                continue
            if overlaps:
                problems.append(
                    Problem(
                        KIND_SUBNET,
                        f"NAT range {wanted} overlaps subnet {name} ({cidr}) of network {spec.network}",
                    )
                )
        live = seen.subnet.value
        if live is None:
            return Change(Action.CREATE, KIND_SUBNET, spec.nat_subnet.name, self._subnet_path, (f"range: {wanted}",))
        diffs = []
        if live.ip_cidr_range != str(wanted):
            diffs.append(f"range: {live.ip_cidr_range} -> {wanted}")
        purpose = live.purpose or ""
        if purpose != "PRIVATE_SERVICE_CONNECT":
            diffs.append(f"purpose: {purpose or 'none'} -> PRIVATE_SERVICE_CONNECT")
        if diffs:
            return Change(Action.REPLACE, KIND_SUBNET, spec.nat_subnet.name, self._subnet_path, tuple(diffs))
        return Change(Action.NOOP, KIND_SUBNET, spec.nat_subnet.name, self._subnet_path)

    def _plan_firewall(self, seen: _Observed) -> Change:
        spec = self.spec
        assert spec.firewall is not None
        fw = spec.firewall
        live = seen.firewall.value
        if live is None:
            return Change(
                Action.CREATE,
                KIND_FIREWALL,
                fw.name,
                self._firewall_path,
                (f"allow tcp:{','.join(map(str, fw.ports))} from {spec.nat_subnet.range}",),
            )
        diffs = []
        ranges = tuple(live.source_ranges)
        if tuple(sorted(ranges)) != (spec.nat_subnet.range,):
            diffs.append(f"source_ranges: {list(ranges)} -> {[spec.nat_subnet.range]}")
        ports = tuple(sorted(live.tcp_ports))
        if ports != tuple(sorted(fw.ports)):
            diffs.append(f"ports: {list(ports)} -> {sorted(fw.ports)}")
        tags = tuple(sorted(live.target_tags))
        if tags != tuple(sorted(fw.target_tags)):
            diffs.append(f"target_tags: {list(tags)} -> {sorted(fw.target_tags)}")
        if diffs:
            return Change(
                Action.REPLACE, KIND_FIREWALL, fw.name, self._firewall_path, tuple(diffs), "firewall rule is recreated"
            )
        return Change(Action.NOOP, KIND_FIREWALL, fw.name, self._firewall_path)

    def _wanted_accept(self, seen: _Observed) -> dict[str, int]:
        sa = self.spec.service_attachment
        wanted = {project: sa.connection_limit for project in sa.accept_projects}
        if sa.connection_preference == "ACCEPT_MANUAL" and seen.tenant and seen.tenant not in sa.reject_projects:
            wanted.setdefault(seen.tenant, sa.connection_limit)
        return wanted

    def _sa_target(self, live: ServiceAttachment | None, seen: _Observed) -> _SaTarget:
        """What the service attachment's preference, lists and ``reconcileConnections`` must be,
        starting from ``live``: plan diffs against it and apply sends it, so they cannot disagree.

        Consumers on the live lists that the spec does not name are kept (others may have added
        them) unless ``prune``; the Apigee project comes off the reject list unless the spec
        rejects it. A switch to ACCEPT_AUTOMATIC clears both lists, so it lets in every consumer
        they held back: that needs ``allow_widening``.
        """
        from apigee_psc.compute import ConsumerProjectLimit

        sa = self.spec.service_attachment
        tenant = seen.tenant
        wanted = self._wanted_accept(seen)
        diffs: list[str] = []
        kept: list[str] = []
        problems: list[str] = []
        live_pref = str(live.connection_preference) if live is not None else None
        live_accept = list(live.consumer_accept_lists) if live is not None else []
        live_reject = list(live.consumer_reject_lists) if live is not None else []
        if live_pref is not None and live_pref != sa.connection_preference:
            diffs.append(f"connection_preference: {live_pref} -> {sa.connection_preference}")
        if sa.connection_preference == "ACCEPT_AUTOMATIC":
            accept: list[ConsumerProjectLimit] = []
            reject: list[str] = []
            if live_pref == "ACCEPT_MANUAL":
                for project in live_reject:
                    diffs.append(f"consumer {project}: rejected -> accepted (ACCEPT_AUTOMATIC accepts every consumer)")
                for entry in live_accept:
                    who = entry.project or entry.network_url or entry.endpoint_url
                    diffs.append(f"consumer {who}: accepted up to {entry.connection_limit} -> accepted without limit")
                if live_reject and not sa.allow_widening:
                    problems.append(
                        f"switching {sa.name} to ACCEPT_AUTOMATIC would accept {', '.join(live_reject)}, which its "
                        "reject list refuses today; set service_attachment.allow_widening: true to confirm, or keep "
                        "ACCEPT_MANUAL"
                    )
        else:
            reject = [
                p
                for p in live_reject
                if (p != tenant or p in sa.reject_projects) and (not sa.prune or p in sa.reject_projects)
            ]
            reject += [p for p in sa.reject_projects if p not in reject]
            accept = []
            for entry in live_accept:
                consumer = entry.project
                if consumer is not None and consumer in reject:
                    continue
                if consumer is not None and consumer in wanted:
                    accept.append(dataclasses.replace(entry, connection_limit=wanted[consumer]))
                elif not sa.prune:
                    accept.append(entry)
                    kept.append(f"accept {consumer or entry.network_url or entry.endpoint_url}")
            present = {entry.project for entry in accept}
            accept += [ConsumerProjectLimit(p, limit) for p, limit in wanted.items() if p not in present]
            kept += [f"reject {p}" for p in reject if p not in sa.reject_projects]
            if live is not None:
                diffs += _list_diffs(live_accept, accept, live_reject, reject, sa.prune)
        accepts_tenant = tenant is not None and (
            sa.connection_preference == "ACCEPT_AUTOMATIC" or any(e.project == tenant for e in accept)
        )
        reconcile, reason = sa.reconcile_connections, self._repair_reason(seen, accepts_tenant)
        if reason and reconcile is False:
            problems.append(
                f"{reason}, and the spec sets service_attachment.reconcile_connections to false: set it to true (or"
                " leave it out), or delete the endpoint attachment so that it connects anew"
            )
        elif reason:
            reconcile = True
        live_reconcile = bool(live.reconcile_connections) if live is not None else False
        if reconcile is not None and live is not None and reconcile != live_reconcile:
            diffs.append(
                f"reconcile_connections: {str(live_reconcile).lower()} -> {str(reconcile).lower()}"
                + (f" ({reason})" if reason else "")
            )
        elif live is not None:
            reconcile = None
        return _SaTarget(sa.connection_preference, tuple(accept), tuple(reject), reconcile, diffs, kept, problems)

    def _repair_reason(self, seen: _Observed, accepts_tenant: bool) -> str | None:
        """Why the Apigee project's existing connection needs ``reconcileConnections``: Google
        re-decides an ACCEPTED or REJECTED connection on list changes only with it."""
        ea: EndpointAttachment | None = seen.endpoint_attachment.value
        state = str(ea.connection_state) if ea is not None else ""
        if state == "REJECTED" and accepts_tenant:
            return f"the connection of the Apigee project {seen.tenant} is REJECTED and must be re-decided"
        rejected = self.spec.service_attachment.reject_projects
        if state in ("ACCEPTED", "ACCEPTED_LIMITED_CAPACITY") and not accepts_tenant and seen.tenant in rejected:
            return f"the connection of the Apigee project {seen.tenant} is ACCEPTED but the spec rejects it"
        return None

    def _plan_service_attachment(self, seen: _Observed, problems: list[Problem]) -> Change:
        spec = self.spec
        sa = spec.service_attachment
        live = seen.service_attachment.value
        target = self._sa_target(live, seen)
        problems.extend(Problem(KIND_SERVICE_ATTACHMENT, message) for message in target.problems)
        if live is None:
            details = [f"connection_preference: {sa.connection_preference}"]
            if target.accept:
                details.append(f"accept: {sorted(str(e.project) for e in target.accept)}")
            return Change(Action.CREATE, KIND_SERVICE_ATTACHMENT, sa.name, self.service_attachment_path, tuple(details))
        replace: list[str] = []
        live_fr = _short(live.target_service)
        if live_fr and live_fr != spec.forwarding_rule_name:
            replace.append(f"producer_forwarding_rule: {live_fr} -> {spec.forwarding_rule_name}")
        nat = [_short(n) for n in live.nat_subnets]
        if spec.nat_subnet.name not in nat:
            replace.append(f"nat_subnets: {nat} -> {[spec.nat_subnet.name]}")
        if live.enable_proxy_protocol != sa.enable_proxy_protocol:
            replace.append(f"enable_proxy_protocol -> {sa.enable_proxy_protocol}")
        note = ""
        if target.kept:
            note = f"kept, not in the spec: {', '.join(target.kept)} (prune: true removes them)"
        action = Action.REPLACE if replace else Action.UPDATE if target.diffs else Action.NOOP
        return Change(
            action, KIND_SERVICE_ATTACHMENT, sa.name, self.service_attachment_path, (*replace, *target.diffs), note
        )

    def _plan_endpoint_attachment(self, seen: _Observed, problems: list[Problem]) -> Change:
        spec = self.spec
        name = spec.endpoint_attachment.name
        path = self.endpoint_attachment_path
        other: EndpointAttachment | None = seen.attachment_for_sa.value
        if other is not None and other.name != name:
            problems.append(
                Problem(
                    KIND_ENDPOINT_ATTACHMENT,
                    f"endpoint attachment {other.name} of organization {spec.organization} already uses "
                    f"{self.service_attachment_path}; Apigee allows one endpoint attachment per service "
                    f"attachment (rename endpoint_attachment.name to {other.name!r} to adopt it)",
                )
            )
        live: EndpointAttachment | None = seen.endpoint_attachment.value
        if live is None:
            pending: Operation | None = seen.pending_operation.value
            if pending is not None:
                return Change(
                    Action.WAIT,
                    KIND_ENDPOINT_ATTACHMENT,
                    name,
                    path,
                    note=f"operation {pending.name} in progress",
                    operation=pending.name,
                )
            return Change(
                Action.CREATE,
                KIND_ENDPOINT_ATTACHMENT,
                name,
                path,
                (f"service_attachment: {self.service_attachment_path}",),
            )
        if _short(live.service_attachment) != spec.service_attachment.name or live.location != spec.region:
            return Change(
                Action.REPLACE,
                KIND_ENDPOINT_ATTACHMENT,
                name,
                path,
                (f"service_attachment: {live.service_attachment} -> {self.service_attachment_path}",),
            )
        if not live.ready:
            return Change(
                Action.WAIT, KIND_ENDPOINT_ATTACHMENT, name, path, note=f"{live.state}/{live.connection_state}"
            )
        return Change(Action.NOOP, KIND_ENDPOINT_ATTACHMENT, name, path, note=f"host {live.host}")

    def _plan_dns(self, seen: _Observed, problems: list[Problem]) -> list[Change]:
        dns = self.spec.dns
        if dns is None:
            return []
        changes: list[Change] = []
        if dns.managed_zone and not seen.managed_zone.found and seen.managed_zone.error is None and seen.complete:
            problems.append(
                Problem(
                    "ManagedZone",
                    f"Cloud DNS managed zone {dns.managed_zone} does not exist in project {self.spec.project}: create"
                    " it (a private zone on the producer network) or correct dns.managed_zone",
                )
            )
        if dns.zone is not None:
            zone = dns.zone
            if seen.peering_disabled:
                grant: _Grant = seen.iam.value or _UNKNOWN_GRANT
                changes.append(
                    Change(
                        Action.NOOP if grant.granted else Action.CREATE,
                        KIND_IAM,
                        f"{DNS_PEER_ROLE} for {grant.member}",
                        f"projects/{self.spec.project}",
                    )
                )
                live = seen.dns_zone.value
                if live is None:
                    changes.append(
                        Change(Action.CREATE, KIND_DNS_ZONE, zone.name, self._zone_path, (f"domain: {zone.domain}",))
                    )
                elif live.domain != zone.domain or (live.target_project_id or self.spec.project) != self.spec.project:
                    changes.append(
                        Change(
                            Action.REPLACE,
                            KIND_DNS_ZONE,
                            zone.name,
                            self._zone_path,
                            (f"domain: {live.domain} -> {zone.domain}",),
                        )
                    )
                elif str(live.state) != "ACTIVE":
                    changes.append(Change(Action.WAIT, KIND_DNS_ZONE, zone.name, self._zone_path, note=str(live.state)))
                else:
                    changes.append(Change(Action.NOOP, KIND_DNS_ZONE, zone.name, self._zone_path))
            else:
                live_domain = seen.peered_domain.value
                path = f"projects/{self.spec.project}/global/networks/{self.spec.network}/peeredDnsDomains/{zone.name}"
                action = Action.NOOP if live_domain is not None else Action.CREATE
                changes.append(
                    Change(
                        action,
                        KIND_PEERED_DOMAIN,
                        zone.name,
                        path,
                        () if live_domain else (f"dns_suffix: {zone.domain}",),
                    )
                )
        if dns.record and dns.managed_zone:
            host = seen.endpoint_attachment.value.host if seen.endpoint_attachment.value else None
            live_record = seen.record.value
            live_values = sorted(live_record.rrdatas) if live_record else []
            if live_record is None:
                changes.append(
                    Change(
                        Action.CREATE,
                        KIND_RECORD,
                        dns.record,
                        self._record_path,
                        (f"A -> {host or '(host known after apply)'}",),
                    )
                )
            elif host is None or live_values != [host]:
                changes.append(
                    Change(
                        Action.UPDATE,
                        KIND_RECORD,
                        dns.record,
                        self._record_path,
                        (f"A: {live_values} -> {host or '(host known after apply)'}",),
                    )
                )
            else:
                changes.append(Change(Action.NOOP, KIND_RECORD, dns.record, self._record_path, note=f"A {host}"))
        return changes

    # -- applying ----------------------------------------------------------------

    def apply(
        self,
        *,
        progress: ProgressCallback | None = None,
        plan: Plan | None = None,
    ) -> RealizationReport:
        """Bring the live state to the spec and return the realization report.

        Idempotent (a second run changes nothing and starts no operation) and resumable (a
        re-run after a crash finds what exists and waits on what is in progress). Raises
        :class:`PlanRefused` on preflight problems or replacements, and
        :class:`~apigee_psc.errors.ConnectionNotAccepted` if the connection cannot be accepted.
        """
        run = _Run(self, "apply", progress)
        seen = self._observe()
        current = plan if plan is not None else self._plan(seen)
        self._refuse(current)
        by_kind = {change.kind: change for change in current.changes}

        def step(kind: str, fn: Callable[[Change], None]) -> Callable[[], None]:
            def go() -> None:
                change = by_kind[kind]
                if change.action is Action.NOOP:
                    run.event(f"{kind} {change.name}", "skipped", "in sync")
                    return
                started = self.clock()
                run.event(f"{kind} {change.name}", "started", f"{change.action.value}")
                fn(change)
                run.event(f"{kind} {change.name}", "done", elapsed=self.clock() - started)

            return go

        first = [step(KIND_SUBNET, lambda c: self._apply_subnet())]
        if KIND_FIREWALL in by_kind:
            first.append(step(KIND_FIREWALL, lambda c: self._apply_firewall(c)))
        if KIND_IAM in by_kind:
            first.append(step(KIND_IAM, lambda c: self._apply_iam()))
        run.parallel(first)
        step(KIND_SERVICE_ATTACHMENT, lambda c: self._apply_service_attachment(c, seen))()
        self._apply_endpoint_attachment(by_kind[KIND_ENDPOINT_ATTACHMENT], run)
        if KIND_DNS_ZONE in by_kind:
            step(KIND_DNS_ZONE, lambda c: self._apply_dns_zone(c, run))()
        if KIND_PEERED_DOMAIN in by_kind:
            step(KIND_PEERED_DOMAIN, lambda c: self._apply_peered_domain())()
        if KIND_RECORD in by_kind:
            step(KIND_RECORD, lambda c: self._apply_record())()
        # Nothing written: what was just read is the report (no second round of reads).
        report = self.status() if current.has_changes else self._report(seen)
        run.event("SouthboundConnection", "done", report.state.value, elapsed=self.clock() - run.started)
        return report

    def _refuse(self, plan: Plan) -> None:
        if plan.problems:
            raise PlanRefused(plan, [f"{p.kind}: {p.message}" for p in plan.problems])

    def _adopt(
        self,
        kind: str,
        name: str,
        create: Callable[[], Any],
        observe: Callable[[], _Observed],
        diff: Callable[[_Observed], Change],
    ) -> None:
        """Create, or adopt what appeared under the same name since the plan, but only if it
        matches the spec or is apigee-psc's own: someone else's differing resource is refused."""
        try:
            create()
            return
        except errors.AlreadyExists:
            seen = observe()
        self._refuse_foreign(kind, name, diff(seen), self._ownership(seen).get(kind))
        logger.info("apply: %s %s already exists; adopting it", kind, name)

    def _refuse_foreign(self, kind: str, name: str, change: Change, owned: bool | None) -> None:
        if change.action is Action.NOOP or owned is not False or self.adopt:
            return
        problem = Problem(
            kind,
            f"{name} appeared since the plan, was not created by apigee-psc and differs from the spec"
            f" ({'; '.join(change.diffs)}): it is left as it is (adopt: true / --adopt takes it over)",
        )
        plan = Plan(self.spec.source, self.spec.organization, (change,), (problem,))
        raise PlanRefused(plan, [f"{kind}: {problem.message}"])

    def _apply_subnet(self) -> None:
        spec = self.spec
        self._adopt(
            KIND_SUBNET,
            spec.nat_subnet.name,
            lambda: self.compute.subnets.create(
                spec.nat_subnet.name,
                network=spec.network,
                ip_cidr_range=spec.nat_subnet.range,
                description=self._mark,
                timeout=self.timeout,
            ),
            lambda: _Observed(subnet=_read(lambda: self.compute.subnets.get(spec.nat_subnet.name))),
            lambda seen: self._plan_subnet(seen, []),
        )

    def _apply_firewall(self, change: Change) -> None:
        spec = self.spec
        assert spec.firewall is not None
        fw = spec.firewall
        if change.action is Action.REPLACE:
            logger.info("apply: recreating firewall rule %s", fw.name)
            _ignore_missing(lambda: self.compute.firewalls.delete(fw.name, timeout=self.timeout))
        self._adopt(
            KIND_FIREWALL,
            fw.name,
            lambda: self.compute.firewalls.create(
                fw.name,
                network=spec.network,
                source_ranges=[spec.nat_subnet.range],
                ports=list(fw.ports),
                target_tags=list(fw.target_tags),
                description=self._mark,
                timeout=self.timeout,
            ),
            lambda: _Observed(firewall=_read(lambda: self.compute.firewalls.get(fw.name))),
            self._plan_firewall,
        )

    def _apply_iam(self) -> None:
        member = f"serviceAccount:{self._service_agent()}"
        logger.info("apply: granting %s to %s on %s", DNS_PEER_ROLE, member, self.spec.project)
        self.resource_manager.iam.grant(self.spec.project, DNS_PEER_ROLE, member)

    def _apply_service_attachment(self, change: Change, seen: _Observed) -> None:
        spec = self.spec
        sa = spec.service_attachment
        if change.action is Action.CREATE:
            target = self._sa_target(None, seen)
            try:
                self.compute.service_attachments.create(
                    sa.name,
                    target_service=spec.forwarding_rule,
                    nat_subnets=[spec.nat_subnet.name],
                    connection_preference=sa.connection_preference,
                    consumer_accept_lists=list(target.accept),
                    consumer_reject_lists=list(target.reject),
                    enable_proxy_protocol=sa.enable_proxy_protocol,
                    domain_names=list(sa.domain_names),
                    reconcile_connections=target.reconcile,
                    description=self._mark,
                    timeout=self.timeout,
                )
                return
            except errors.AlreadyExists:
                live = self.compute.service_attachments.get(sa.name)
                appeared = _Observed(service_attachment=_Read(live), organization=seen.organization)
                self._refuse_foreign(
                    KIND_SERVICE_ATTACHMENT,
                    sa.name,
                    self._plan_service_attachment(appeared, []),
                    owned_by_us(live.description),
                )
                logger.info("apply: service attachment %s already exists; adopting it", sa.name)
        target = self._sa_target(self.compute.service_attachments.get(sa.name), seen)
        if target.problems:  # it changed since the plan in a way the plan would have refused
            problems = tuple(Problem(KIND_SERVICE_ATTACHMENT, message) for message in target.problems)
            plan = Plan(spec.source, spec.organization, (change,), problems)
            raise PlanRefused(plan, [f"{KIND_SERVICE_ATTACHMENT}: {message}" for message in target.problems])
        self.compute.service_attachments.update(
            sa.name,
            connection_preference=target.preference,
            consumer_accept_lists=list(target.accept),
            consumer_reject_lists=list(target.reject),
            reconcile_connections=target.reconcile,
            timeout=self.timeout,
        )

    def _apply_endpoint_attachment(self, change: Change, run: _Run) -> None:
        spec = self.spec
        name = spec.endpoint_attachment.name
        label = f"{KIND_ENDPOINT_ATTACHMENT} {name}"
        started = self.clock()
        if change.action is Action.NOOP:
            run.event(label, "skipped", change.note or "in sync")
            return
        run.event(label, "started", change.action.value)
        if change.action is Action.CREATE:
            with self._org_lock(run, label, started):
                try:
                    operation = self.apigee.endpoint_attachments.create(
                        name,
                        location=spec.region,
                        service_attachment=self.service_attachment_path,
                        timeout=self.timeout,
                        progress=run.waiting(label, started),
                    )
                except errors.AlreadyExists:
                    logger.info("apply: endpoint attachment %s already exists; adopting it", name)
                else:
                    run.event(label, "waiting", f"operation {operation.name}", state=operation.state)
                    self.apigee.operations.wait(operation, timeout=self.timeout, progress=run.waiting(label, started))
        elif change.operation:
            self.apigee.operations.wait(change.operation, timeout=self.timeout, progress=run.waiting(label, started))
        try:
            attachment = self.apigee.endpoint_attachments.wait_until_ready(
                name, timeout=self.timeout, progress=run.waiting(label, started)
            )
        except errors.ConnectionNotAccepted as exc:
            if not isinstance(exc.attachment, EndpointAttachment):
                raise
            sa_live = _read(lambda: self.compute.service_attachments.get(spec.service_attachment.name)).value
            tenant = self.apigee.organization_info().apigee_project_id
            raise errors.ConnectionNotAccepted(
                self._diagnosis(exc.attachment, sa_live, tenant), attachment=exc.attachment
            ) from None
        run.event(
            label,
            "done",
            f"host {attachment.host}",
            state=f"{attachment.state}/{attachment.connection_state}",
            elapsed=self.clock() - started,
        )

    def _apply_dns_zone(self, change: Change, run: _Run) -> None:
        spec = self.spec
        assert spec.dns is not None and spec.dns.zone is not None
        zone = spec.dns.zone
        label = f"{KIND_DNS_ZONE} {zone.name}"
        started = self.clock()
        if change.action is Action.CREATE:
            with self._org_lock(run, label, started):
                self._create_zone_while_iam_propagates(zone.name, zone.domain, zone.description, run, label, started)
        self.apigee.dns_zones.wait_until_active(zone.name, timeout=self.timeout, progress=run.waiting(label, started))

    def _create_zone_while_iam_propagates(
        self, name: str, domain: str, description: str | None, run: _Run, label: str, started: float
    ) -> None:
        """Create the zone and wait for its operation, again while the dns.peer grant propagates:
        Apigee refuses the create at once (403) or fails its operation (code 7 PERMISSION_DENIED).
        Runs under :data:`IAM_PROPAGATION` (exponential from 2 s to 30 s, jittered, within
        ``IAM_PROPAGATION_SECONDS``)."""

        def attempt() -> None:
            try:
                operation = self.apigee.dns_zones.create(
                    name,
                    domain=domain,
                    description=description or "",
                    target_project_id=self.spec.project,
                    target_network_id=self.spec.network,
                    timeout=self.timeout,
                    progress=run.waiting(label, started),
                )
            except errors.AlreadyExists:
                logger.info("apply: DNS zone %s already exists; adopting it", name)
                return
            self.apigee.operations.wait(operation, timeout=self.timeout, progress=run.waiting(label, started))

        IAM_PROPAGATION.call(attempt, sleep=self.sleep, clock=self.clock)

    def _apply_peered_domain(self) -> None:
        spec = self.spec
        assert spec.dns is not None and spec.dns.zone is not None
        zone = spec.dns.zone
        number = self._project_number(spec.project)
        try:
            self.service_networking.peered_dns_domains.create(
                number, spec.network, zone.name, zone.domain, timeout=self.timeout
            )
        except errors.AlreadyExists:
            logger.info("apply: peered DNS domain %s already exists; adopting it", zone.name)

    def _apply_record(self) -> None:
        spec = self.spec
        assert spec.dns is not None and spec.dns.record and spec.dns.managed_zone
        attachment = self.apigee.endpoint_attachments.get(spec.endpoint_attachment.name)
        if not attachment.host:
            raise errors.FailedPrecondition(
                f"endpoint attachment {attachment.name} has no host yet; cannot write the A record", status_code=0
            )
        zone, record = spec.dns.managed_zone, spec.dns.record
        # The ownership mark goes first: a crash between the two writes leaves a mark that the
        # next run completes, never an unmarked record that apigee-psc would then not own.
        self.dns.records.upsert(spec.project, zone, record, [self._owner_txt], type="TXT")
        self.dns.records.upsert_a(spec.project, zone, record, [attachment.host])

    # -- status ------------------------------------------------------------------

    def status(self) -> RealizationReport:
        """Read every entity (concurrently) and report each one's realization, NSX-style."""
        return self._report(self._observe(for_status=True))

    def _report(self, seen: _Observed) -> RealizationReport:
        spec = self.spec
        details: list[EntityStatus] = []
        if seen.org_error is not None:
            return RealizationReport.of(
                [
                    EntityStatus(
                        "Organization",
                        f"organizations/{spec.organization}",
                        Realization.UNKNOWN,
                        _message(seen.org_error),
                    )
                ],
                spec_source=spec.source,
            )

        def simple(
            kind: str, ident: str, read: _Read, check: Callable[[Any], str | None] | None = None
        ) -> EntityStatus:
            if read.error is not None:
                return EntityStatus(kind, ident, Realization.UNKNOWN, _message(read.error))
            if read.value is None:
                return EntityStatus(kind, ident, Realization.NOT_FOUND, f"{kind} does not exist")
            problem = check(read.value) if check else None
            if problem:
                return EntityStatus(kind, ident, Realization.FAILED, problem)
            return EntityStatus(kind, ident, Realization.IN_SYNC)

        details.append(
            simple(
                KIND_SUBNET,
                self._subnet_path,
                seen.subnet,
                lambda s: (
                    None
                    if s.ip_cidr_range == spec.nat_subnet.range
                    else f"range is {s.ip_cidr_range}, spec says {spec.nat_subnet.range}"
                ),
            )
        )
        if spec.firewall is not None:
            details.append(simple(KIND_FIREWALL, self._firewall_path, seen.firewall))
        details.append(
            simple(
                KIND_FORWARDING_RULE,
                self._forwarding_rule_path,
                seen.forwarding_rule,
                lambda f: (
                    None if (f.load_balancing_scheme or "INTERNAL") == "INTERNAL" else "not an INTERNAL forwarding rule"
                ),
            )
        )
        details.append(self._sa_status(seen))
        ea_status, host = self._ea_status(seen)
        details.append(ea_status)
        details.extend(self._dns_status(seen, host))
        url = None
        if host:
            record = spec.dns.record if spec.dns and spec.dns.record else None
            url = target_url(record or host, spec.target.path if spec.target else "/")
        return RealizationReport.of(
            _with_changes(details, self._changes(seen, [])), spec_source=spec.source, host=host, target_url=url
        )

    def _sa_status(self, seen: _Observed) -> EntityStatus:
        read = seen.service_attachment
        ident = self.service_attachment_path
        if read.error is not None:
            return EntityStatus(KIND_SERVICE_ATTACHMENT, ident, Realization.UNKNOWN, _message(read.error))
        if read.value is None:
            return EntityStatus(
                KIND_SERVICE_ATTACHMENT, ident, Realization.NOT_FOUND, "service attachment does not exist"
            )
        live = read.value
        observed = {"connected_endpoints": [str(e.status) for e in live.connected_endpoints]}
        return EntityStatus(KIND_SERVICE_ATTACHMENT, ident, Realization.IN_SYNC, observed=observed)

    def _ea_status(self, seen: _Observed) -> tuple[EntityStatus, str | None]:
        read = seen.endpoint_attachment
        ident = self.endpoint_attachment_path
        if read.error is not None:
            return EntityStatus(KIND_ENDPOINT_ATTACHMENT, ident, Realization.UNKNOWN, _message(read.error)), None
        live: EndpointAttachment | None = read.value
        if live is None:
            return EntityStatus(
                KIND_ENDPOINT_ATTACHMENT, ident, Realization.NOT_FOUND, "endpoint attachment does not exist"
            ), None
        diagnosis = self._diagnosis(live, seen.service_attachment.value, seen.tenant)
        observed = {"state": str(live.state), "connection_state": str(live.connection_state), "host": live.host}
        if str(live.state) in ("CREATING", "UPDATING", "STATE_UNSPECIFIED"):
            return EntityStatus(
                KIND_ENDPOINT_ATTACHMENT, ident, Realization.IN_PROGRESS, f"state {live.state}", observed
            ), live.host
        if str(live.state) == "DELETING":
            return EntityStatus(
                KIND_ENDPOINT_ATTACHMENT,
                ident,
                Realization.FAILED,
                "the endpoint attachment is being deleted",
                observed,
            ), None
        if diagnosis.ok:
            message = str(diagnosis) if diagnosis.fix else None
            return EntityStatus(KIND_ENDPOINT_ATTACHMENT, ident, Realization.IN_SYNC, message, observed), live.host
        state = Realization.FAILED if diagnosis.terminal else Realization.IN_PROGRESS
        return EntityStatus(KIND_ENDPOINT_ATTACHMENT, ident, state, str(diagnosis), observed), live.host

    def _diagnosis(
        self, attachment: EndpointAttachment, sa_live: ServiceAttachment | None, tenant: str | None
    ) -> Diagnosis:
        """The one diagnosis of a connection, for status and for apply's failure alike: with
        the service attachment's real preference and lists when it could be read."""
        return diagnose(
            attachment.connection_state,
            apigee_project_id=tenant,
            service_attachment=attachment.service_attachment or self.service_attachment_path,
            accept_projects=list(sa_live.accepted_projects) if sa_live else None,
            reject_projects=list(sa_live.consumer_reject_lists) if sa_live else None,
            connection_preference=str(sa_live.connection_preference) if sa_live else None,
        )

    def _dns_status(self, seen: _Observed, host: str | None) -> list[EntityStatus]:
        dns = self.spec.dns
        if dns is None:
            return []
        out: list[EntityStatus] = []
        if dns.zone is not None:
            if seen.peering_disabled:
                read = seen.iam
                ident = f"projects/{self.spec.project}/{DNS_PEER_ROLE}"
                if read.error is not None:
                    out.append(EntityStatus(KIND_IAM, ident, Realization.UNKNOWN, _message(read.error)))
                elif (read.value or _UNKNOWN_GRANT).granted:
                    out.append(EntityStatus(KIND_IAM, ident, Realization.IN_SYNC))
                else:
                    out.append(
                        EntityStatus(
                            KIND_IAM,
                            ident,
                            Realization.NOT_FOUND,
                            f"{(read.value or _UNKNOWN_GRANT).member} lacks {DNS_PEER_ROLE}",
                        )
                    )
                zone = seen.dns_zone
                if zone.error is not None:
                    out.append(EntityStatus(KIND_DNS_ZONE, self._zone_path, Realization.UNKNOWN, _message(zone.error)))
                elif zone.value is None:
                    out.append(
                        EntityStatus(KIND_DNS_ZONE, self._zone_path, Realization.NOT_FOUND, "DNS zone does not exist")
                    )
                elif str(zone.value.state) != "ACTIVE":
                    out.append(
                        EntityStatus(
                            KIND_DNS_ZONE, self._zone_path, Realization.IN_PROGRESS, f"state {zone.value.state}"
                        )
                    )
                else:
                    out.append(EntityStatus(KIND_DNS_ZONE, self._zone_path, Realization.IN_SYNC))
            else:
                ident = (
                    f"projects/{self.spec.project}/global/networks/{self.spec.network}/peeredDnsDomains/{dns.zone.name}"
                )
                out.append(_presence(KIND_PEERED_DOMAIN, ident, seen.peered_domain))
        if dns.record and dns.managed_zone:
            read = seen.record
            if read.error is not None or read.value is None:
                out.append(_presence(KIND_RECORD, self._record_path, read))
            else:
                values = sorted(read.value.rrdatas)
                if host and values != [host]:
                    out.append(
                        EntityStatus(
                            KIND_RECORD,
                            self._record_path,
                            Realization.FAILED,
                            f"A record points to {values}, the host is {host}",
                        )
                    )
                else:
                    out.append(EntityStatus(KIND_RECORD, self._record_path, Realization.IN_SYNC))
        return out

    # -- destroy -----------------------------------------------------------------

    def destroy(
        self, *, revoke_iam: bool = False, force: bool = False, progress: ProgressCallback | None = None
    ) -> list[Change]:
        """Delete what the spec owns, in reverse order, waiting until each is gone.

        Never deletes what the spec only references (the forwarding rule, the managed zone),
        nor a Compute resource or A record that apigee-psc did not create (unless ``adopt``).
        Refuses (:class:`PlanRefused`, before any delete) to delete a service attachment that
        still serves connected endpoints of other consumers, unless ``force``. The IAM grant is
        left unless ``revoke_iam``. Returns the changes made (and notes).
        """
        run = _Run(self, "destroy", progress)
        spec = self.spec
        done: list[Change] = []
        seen = self._observe(for_status=True)
        if seen.org_error is not None:
            raise seen.org_error
        owners = self._ownership(seen)
        self._refuse_destroy(seen, owners, force)

        def gone(kind: str, name: str, ident: str, note: str = "") -> None:
            done.append(Change(Action.DELETE, kind, name, ident, note=note))

        def ours(kind: str, name: str, ident: str) -> bool:
            if owners.get(kind) is not False or self.adopt:
                return True
            note = "not created by apigee-psc: kept (adopt: true / --adopt lets destroy delete it)"
            done.append(Change(Action.NOOP, kind, name, ident, note=note))
            run.event(f"{kind} {name}", "skipped", note)
            return False

        dns = spec.dns
        record_zone = dns.managed_zone if dns is not None and dns.record and seen.record.found else None
        if dns is not None and dns.record and record_zone and ours(KIND_RECORD, dns.record, self._record_path):
            run.event(f"{KIND_RECORD} {dns.record}", "started", "delete")
            self.dns.records.delete(spec.project, record_zone, dns.record, "A")
            self.dns.records.delete(spec.project, record_zone, dns.record, "TXT")
            gone(KIND_RECORD, dns.record, self._record_path)
        if dns is not None and dns.zone is not None:
            if seen.dns_zone.found:
                zones = self.apigee.dns_zones
                self._delete_apigee(
                    run, f"{KIND_DNS_ZONE} {dns.zone.name}", dns.zone.name, zones.delete, zones.wait_until_deleted
                )
                gone(KIND_DNS_ZONE, dns.zone.name, self._zone_path)
            if seen.peered_domain.found:
                number = self._project_number(spec.project)
                self.service_networking.peered_dns_domains.delete(
                    number, spec.network, dns.zone.name, timeout=self.timeout
                )
                gone(
                    KIND_PEERED_DOMAIN,
                    dns.zone.name,
                    f"projects/{spec.project}/global/networks/{spec.network}/peeredDnsDomains/{dns.zone.name}",
                )
        if seen.endpoint_attachment.found:
            name = spec.endpoint_attachment.name
            attachments = self.apigee.endpoint_attachments
            self._delete_apigee(
                run, f"{KIND_ENDPOINT_ATTACHMENT} {name}", name, attachments.delete, attachments.wait_until_deleted
            )
            gone(KIND_ENDPOINT_ATTACHMENT, name, self.endpoint_attachment_path)
        if seen.service_attachment.found and ours(
            KIND_SERVICE_ATTACHMENT, spec.service_attachment.name, self.service_attachment_path
        ):
            run.event(f"{KIND_SERVICE_ATTACHMENT} {spec.service_attachment.name}", "started", "delete")
            _ignore_missing(
                lambda: self.compute.service_attachments.delete(spec.service_attachment.name, timeout=self.timeout)
            )
            gone(KIND_SERVICE_ATTACHMENT, spec.service_attachment.name, self.service_attachment_path)
        last: list[Callable[[], None]] = []
        if (
            spec.firewall is not None
            and seen.firewall.found
            and ours(KIND_FIREWALL, spec.firewall.name, self._firewall_path)
        ):
            fw_name = spec.firewall.name

            def drop_firewall() -> None:
                run.event(f"{KIND_FIREWALL} {fw_name}", "started", "delete")
                _ignore_missing(lambda: self.compute.firewalls.delete(fw_name, timeout=self.timeout))
                gone(KIND_FIREWALL, fw_name, self._firewall_path)

            last.append(drop_firewall)
        if seen.subnet.found and ours(KIND_SUBNET, spec.nat_subnet.name, self._subnet_path):

            def drop_subnet() -> None:
                run.event(f"{KIND_SUBNET} {spec.nat_subnet.name}", "started", "delete")
                _ignore_missing(lambda: self.compute.subnets.delete(spec.nat_subnet.name, timeout=self.timeout))
                gone(KIND_SUBNET, spec.nat_subnet.name, self._subnet_path)

            last.append(drop_subnet)
        run.parallel(last)
        if dns is not None and dns.zone is not None and seen.peering_disabled:
            if revoke_iam:
                member = f"serviceAccount:{self._service_agent()}"
                self.resource_manager.iam.revoke(spec.project, DNS_PEER_ROLE, member)
                gone(KIND_IAM, DNS_PEER_ROLE, f"projects/{spec.project}")
            elif seen.iam.found and seen.iam.value.granted:
                note = "left in place: other zones may rely on it (use revoke_iam / --revoke-iam)"
                done.append(Change(Action.NOOP, KIND_IAM, DNS_PEER_ROLE, f"projects/{spec.project}", note=note))
                run.event(f"{KIND_IAM} {DNS_PEER_ROLE}", "skipped", note)
        kept = "referenced, not owned: kept"
        done.append(
            Change(Action.NOOP, KIND_FORWARDING_RULE, spec.forwarding_rule_name, self._forwarding_rule_path, note=kept)
        )
        if dns is not None and dns.managed_zone:
            ident = f"projects/{spec.project}/managedZones/{dns.managed_zone}"
            done.append(Change(Action.NOOP, "ManagedZone", dns.managed_zone, ident, note=kept))
        return done

    def _refuse_destroy(self, seen: _Observed, owners: dict[str, bool | None], force: bool) -> None:
        """Deleting a service attachment closes every connection to it: refuse while consumers
        other than this organization's Apigee project are connected, unless ``force``."""
        live = seen.service_attachment.value
        if live is None or force or (owners.get(KIND_SERVICE_ATTACHMENT) is False and not self.adopt):
            return
        own = f"projects/{seen.tenant}/" if seen.tenant else None
        others = [
            e.endpoint
            for e in live.connected_endpoints
            if str(e.status) in _OPEN_CONNECTIONS and not (own and own in (e.endpoint or ""))
        ]
        if others:
            problem = Problem(
                KIND_SERVICE_ATTACHMENT,
                f"service attachment {live.name} still serves {len(others)} connected endpoint(s) of other consumers"
                f" ({', '.join(_short(e) for e in others)}); deleting it would close their connections: nothing"
                " was deleted (force=True, or --force, deletes it anyway)",
            )
            plan = Plan(self.spec.source, self.spec.organization, (), (problem,))
            raise PlanRefused(plan, [f"{problem.kind}: {problem.message}"])

    @contextmanager
    def _org_lock(self, run: _Run, label: str, started: float) -> Iterator[None]:
        """Hold this process's lock on the organization (one Apigee operation at a time), waiting
        for it at most ``timeout`` seconds and saying so while another spec of the process holds it."""
        lock = organization_lock(self.spec.organization)
        if not lock.acquire(blocking=False):
            run.event(label, "waiting", "for the organization lock (another operation of this process)")
            if not lock.acquire(timeout=self.timeout):
                raise errors.WaitTimeout(
                    f"the organization lock of {self.spec.organization} (held by another operation of this process)",
                    last_state="locked",
                    elapsed=self.clock() - started,
                )
        try:
            yield
        finally:
            lock.release()

    def _delete_apigee(
        self,
        run: _Run,
        label: str,
        name: str,
        delete: Callable[..., Operation],
        wait_until_deleted: Callable[..., None],
    ) -> None:
        """Delete an Apigee resource holding this process's organization lock until its
        operation is done, then wait until it is gone (a 404 on the delete means it already is)."""
        started = self.clock()
        run.event(label, "started", "delete")
        with self._org_lock(run, label, started):
            try:
                operation = delete(name, timeout=self.timeout, progress=run.waiting(label, started))
                self.apigee.operations.wait(operation, timeout=self.timeout, progress=run.waiting(label, started))
            except errors.NotFound:
                logger.info("destroy: %s already gone", label)
        wait_until_deleted(name, timeout=self.timeout, progress=run.waiting(label, started))
        run.event(label, "done", elapsed=self.clock() - started)

    # -- TargetEndpoint ----------------------------------------------------------

    def target_xml(self, host: str | None = None) -> str:
        """The TargetEndpoint XML for this connection: the DNS record when the spec has one,
        else the endpoint attachment's host (read from the API unless given)."""
        path = self.spec.target.path if self.spec.target else "/"
        if self.spec.dns is not None and self.spec.dns.record:
            return target_endpoint_xml(self.spec.dns.record.rstrip("."), path)
        if host is None:
            host = self.apigee.endpoint_attachments.get(self.spec.endpoint_attachment.name).host
        if not host:
            raise errors.FailedPrecondition(
                f"endpoint attachment {self.spec.endpoint_attachment.name} has no host yet", status_code=0
            )
        return target_endpoint_xml(host, path)


IAM_PROPAGATION_SECONDS = 180.0


def _grant_not_yet_seen(error: BaseException) -> bool:
    """True for the two forms of "the service agent lacks roles/dns.peer" that a fresh grant
    cures once it has propagated."""
    if isinstance(error, errors.PermissionDenied):
        return True
    code: object = getattr(error, "code", None)
    return isinstance(error, errors.OperationFailed) and code == 7


@dataclass(frozen=True)
class _PropagationPolicy:
    """A declared retry for IAM propagation, run by tenacity (like the waiters and the
    transport's retries): ``initial`` seconds doubled up to ``maximum``, jittered over the upper
    half, for as long as ``retryable`` holds and the module's ``IAM_PROPAGATION_SECONDS`` allow."""

    retryable: Callable[[BaseException], bool]
    initial: float = 2.0
    maximum: float = 30.0

    def call(self, fn: Callable[[], None], *, sleep: Callable[[float], None], clock: Callable[[], float]) -> None:
        start = clock()
        jitter = random.Random()

        def wait(state: tenacity.RetryCallState) -> float:
            cap = min(self.maximum, self.initial * 2.0 ** (state.attempt_number - 1))
            delay = jitter.uniform(cap / 2, cap)
            logger.info("apply: DNS zone refused (PERMISSION_DENIED); the IAM grant may still be propagating")
            return delay

        def stop(state: tenacity.RetryCallState) -> bool:
            cap = min(self.maximum, self.initial * 2.0 ** (state.attempt_number - 1))
            return clock() - start + cap > IAM_PROPAGATION_SECONDS

        tenacity.Retrying(
            retry=tenacity.retry_if_exception(self.retryable), wait=wait, stop=stop, sleep=sleep, reraise=True
        )(fn)


#: The DNS zone create's retry while a fresh roles/dns.peer grant propagates.
IAM_PROPAGATION = _PropagationPolicy(_grant_not_yet_seen)


def diagnose_attachment(
    organization: str, name: str, *, apigee: ApigeeClient | None = None, **options: Any
) -> tuple[EndpointAttachment, Diagnosis]:
    """Read an endpoint attachment and explain its connection state.

    The service attachment it points to is read too when the credentials allow, so the cause
    reflects its real connection preference and accept/reject lists; when it cannot be read
    (another project, no permission), the diagnosis falls back to the attachment alone.
    ``options`` are client options (``credentials``, ``endpoint``, ``quota_project_id``).
    """
    from apigee_psc import names
    from apigee_psc.compute import ComputeClient

    client = apigee or ApigeeClient(organization, **options)
    attachment = client.endpoint_attachments.get(name)
    context: dict[str, Any] = {}
    try:
        project, region, sa_name = names.parse_service_attachment(attachment.service_attachment)
        live = ComputeClient(project, region, **options).service_attachments.get(sa_name)
    except errors.ApigeePscError as exc:
        logger.info("diagnose: service attachment %s not read: %s", attachment.service_attachment, exc)
    else:
        context = {
            "accept_projects": list(live.accepted_projects),
            "reject_projects": list(live.consumer_reject_lists),
            "connection_preference": str(live.connection_preference),
        }
    return attachment, client.endpoint_attachments.diagnose(attachment, **context)


def _message(error: BaseException) -> str:
    if isinstance(error, errors.ApiError):
        return f"{error.status_code} {error.rpc_status or ''}: {error.message}".replace(" :", ":")
    return str(error)


def _presence(kind: str, ident: str, read: _Read) -> EntityStatus:
    if read.error is not None:
        return EntityStatus(kind, ident, Realization.UNKNOWN, _message(read.error))
    if read.value is None:
        return EntityStatus(kind, ident, Realization.NOT_FOUND, f"{kind} does not exist")
    return EntityStatus(kind, ident, Realization.IN_SYNC)


def _ignore_missing(fn: Callable[[], Any]) -> None:
    try:
        fn()
    except errors.NotFound:
        logger.info("destroy: already gone")


def _with_changes(details: Sequence[EntityStatus], changes: Sequence[Change]) -> list[EntityStatus]:
    """Status agrees with plan by construction: an entity read as in sync whose plan change is
    not a no-op is reported ``in_progress`` with the plan's diffs (apply would change it); an
    in-sync entity keeps the plan's note (e.g. consumers kept that the spec does not name)."""
    by_kind = {change.kind: change for change in changes}
    out: list[EntityStatus] = []
    for detail in details:
        change = by_kind.get(detail.sub_system_type)
        if change is not None and detail.state is Realization.IN_SYNC:
            if change.action is not Action.NOOP:
                what = "; ".join(change.diffs) or change.note or change.action.value
                detail = dataclasses.replace(
                    detail,
                    state=Realization.IN_PROGRESS,
                    failure_message=f"differs from the spec, apply would {change.action.value} it: {what}",
                )
            elif change.note and not detail.failure_message and change.kind == KIND_SERVICE_ATTACHMENT:
                detail = dataclasses.replace(detail, failure_message=change.note)
        out.append(detail)
    return out


@dataclass(frozen=True)
class _SaTarget:
    """The service attachment's wanted connection settings (see :meth:`Southbound._sa_target`)."""

    preference: str
    accept: tuple[ConsumerProjectLimit, ...]
    reject: tuple[str, ...]
    reconcile: bool | None  # None: leave the live value
    diffs: list[str]
    kept: list[str]
    problems: list[str]


def _list_diffs(
    live_accept: Sequence[ConsumerProjectLimit],
    accept: Sequence[ConsumerProjectLimit],
    live_reject: Sequence[str],
    reject: Sequence[str],
    prune: bool,
) -> list[str]:
    """``field: live -> wanted`` lines for the consumer lists, one per consumer that changes."""
    diffs: list[str] = []
    before = {e.project: e.connection_limit for e in live_accept if e.project}
    after = {e.project: e.connection_limit for e in accept if e.project}
    for project, limit in after.items():
        if project not in before:
            diffs.append(f"accept: + {project} (limit {limit})")
        elif before[project] != limit:
            diffs.append(f"connection_limit of {project}: {before[project]} -> {limit}")
    for project in before:
        if project not in after:
            diffs.append(f"accept: - {project}" + (" (prune)" if prune and project not in reject else ""))
    for project in reject:
        if project not in live_reject:
            diffs.append(f"reject: + {project}")
    for project in live_reject:
        if project not in reject:
            diffs.append(f"reject: - {project}" + (" (prune)" if prune else ""))
    return diffs


class _Run:
    """Progress reporting and concurrency for one apply or destroy."""

    def __init__(self, owner: Southbound, phase: str, progress: ProgressCallback | None) -> None:
        self.owner = owner
        self.phase = phase
        self.progress = progress
        self.started = owner.clock()

    def event(
        self, step: str, status: str, detail: str = "", *, state: str | None = None, elapsed: float = 0.0
    ) -> None:
        event = ProgressEvent(self.phase, step, status, detail, state, elapsed, self.owner.spec.source)
        logger.info("%s", event.to_text())
        if self.progress is not None:
            self.progress(event)

    def waiting(self, step: str, started: float) -> Callable[[waiters.WaitProgress], None]:
        def report(update: waiters.WaitProgress) -> None:
            waiter = waiters.WAITERS.get(update.waiter)
            if update.waiter == "ORGANIZATION_LOCK":
                awaited = f"for the organization lock (held by {update.subject})"
            else:
                awaited = f"for {waiter.awaits}" if waiter else update.waiter
            self.event(step, "waiting", awaited, state=update.state, elapsed=self.owner.clock() - started)

        return report

    def parallel(self, steps: Iterable[Callable[[], None]]) -> None:
        tasks = list(steps)
        if len(tasks) <= 1:
            for task in tasks:
                task()
            return
        with ThreadPoolExecutor(max_workers=len(tasks), thread_name_prefix=f"apigee-psc-{self.phase}") as pool:
            futures: list[Future[None]] = [pool.submit(task) for task in tasks]
            failures = [f.exception() for f in futures if f.exception() is not None]
        if failures:
            first = failures[0]
            assert first is not None
            raise first


@dataclass(frozen=True)
class FleetResult:
    """The outcome of one spec of a fleet: its report, or the error that stopped it."""

    spec: SouthboundSpec
    report: RealizationReport | None = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        """True when the connection is in sync."""
        return self.report is not None and self.report.ok


def apply_fleet(
    specs: Sequence[SouthboundSpec],
    *,
    progress: ProgressCallback | None = None,
    max_workers: int = 4,
    **options: Any,
) -> list[FleetResult]:
    """Apply several specs at once: Compute steps run concurrently across specs, Apigee
    operations of one organization one at a time. Every spec is attempted; the results
    come back in the order of ``specs``."""

    def one(spec: SouthboundSpec) -> FleetResult:
        try:
            return FleetResult(spec, report=Southbound(spec, **options).apply(progress=progress))
        except errors.ApigeePscError as exc:
            logger.error("apply: %s failed: %s", spec.source or spec.endpoint_attachment.name, exc)
            return FleetResult(spec, error=exc)

    with ThreadPoolExecutor(max_workers=max(1, max_workers), thread_name_prefix="apigee-psc-fleet") as pool:
        return list(pool.map(one, specs))
