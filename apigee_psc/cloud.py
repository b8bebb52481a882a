"""Cloud DNS records, Resource Manager (project number, IAM) and Service Networking.

Three small REST clients over :class:`~apigee_psc._http.Transport`, so they share its
endpoint choice (``endpoint=``, ``APIGEE_PSC_EMULATOR_HOST``), credentials, error mapping
and retries:

* :class:`CloudDnsClient`: ``dns.managed_zones`` and ``dns.records``; A records in a
  (private) managed zone are upserted idempotently, a different existing record replaced
  atomically through one ``changes`` call.
* :class:`ResourceManagerClient`: ``resource_manager.projects`` (a project's number) and
  ``resource_manager.iam`` (grants/revokes as an etag-checked read-modify-write of the
  project's policy, version 3, keeping conditions and every other binding; a stale etag
  redoes the whole cycle, see :data:`IAM_ETAG_STALE`).
* :class:`ServiceNetworkingClient`: ``service_networking.peered_dns_domains`` of VPC-peered
  organizations and ``service_networking.operations``.
"""

from __future__ import annotations

import copy
import enum
import ipaddress
import logging
import random
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from apigee_psc import errors, names, waiters
from apigee_psc._http import OnRetry, RereadPolicy, RetryPolicy, Transport
from apigee_psc.models import Operation

if TYPE_CHECKING:
    import google.auth.credentials

__all__ = [
    "APIGEE_SERVICE_AGENT_DOMAIN",
    "DNS_PEER_ROLE",
    "DNS_RECORD_STALE",
    "IAM_ETAG_STALE",
    "CloudDnsClient",
    "DnsChange",
    "IamBinding",
    "IamPolicy",
    "ManagedZone",
    "PeeredDnsDomain",
    "RecordResult",
    "RecordSet",
    "ResourceManagerClient",
    "ServiceNetworkingClient",
    "apigee_service_agent",
    "apigee_service_agent_for",
]

logger = logging.getLogger("apigee_psc.cloud")

#: The role the Apigee service agent needs on the producer project for DNS peering.
DNS_PEER_ROLE = "roles/dns.peer"
APIGEE_SERVICE_AGENT_DOMAIN = "gcp-sa-apigee.iam.gserviceaccount.com"

_SERVICE = "servicenetworking.googleapis.com"
_MEMBER = re.compile(r"^(allUsers|allAuthenticatedUsers|[A-Za-z]+:\S+)$")
_ROLE = re.compile(r"^(roles/|projects/[^/]+/roles/|organizations/[^/]+/roles/)[A-Za-z0-9_.]+$")
_RECORD_TYPE = re.compile(r"^[A-Z][A-Z0-9]{0,9}$")


class _Client:
    """Shared constructor: one :class:`Transport` for ``api`` with the same settings as every
    client (``credentials``, ``quota_project_id``, ``endpoint``, ``retry``, ``on_retry``,
    ``timeout``, ``sleep``, ``clock``)."""

    _api = ""

    def __init__(
        self,
        *,
        credentials: google.auth.credentials.Credentials | None = None,
        quota_project_id: str | None = None,
        endpoint: str | None = None,
        retry: RetryPolicy | None = None,
        timeout: tuple[float, float] = (10.0, 60.0),
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        on_retry: OnRetry | None = None,
    ) -> None:
        self.sleep = sleep
        self.clock = clock
        self._rng = rng or random.Random()
        self._numbers: dict[str, str] = {}
        self.transport = Transport(
            self._api,
            credentials=credentials,
            quota_project_id=quota_project_id,
            endpoint=endpoint,
            timeout=timeout,
            retry=retry,
            sleep=sleep,
            clock=clock,
            rng=self._rng,
            on_retry=on_retry,
        )
        self._setup()

    def _setup(self) -> None:
        """Build the client's collections (each subclass has its own)."""

    def close(self) -> None:
        """Close the HTTP session."""
        self.transport.close()


# -- Cloud DNS ------------------------------------------------------------------------------


def _record_changed(error: BaseException) -> bool:
    return isinstance(error, (errors.AlreadyExists, errors.Conflict, errors.FailedPrecondition, errors.NotFound))


#: An upsert whose write finds the record changed meanwhile (409, 412, or 404 for a record
#: just read) reads it again and redoes the change: 4 times, 0.5 s to 2 s apart.
DNS_RECORD_STALE = RereadPolicy("dns: record", _record_changed, attempts=4, initial=0.5, maximum=2.0, deadline=30.0)


class RecordResult(str, enum.Enum):
    """What :meth:`CloudDnsClient.upsert_record` did."""

    CREATED = "CREATED"
    REPLACED = "REPLACED"
    UNCHANGED = "UNCHANGED"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class RecordSet:
    """A Cloud DNS resource record set: ``name`` (absolute, with the final dot), ``type``,
    ``ttl`` and ``rrdatas`` (for an A record, the IPv4 addresses)."""

    name: str
    type: str
    ttl: int
    rrdatas: tuple[str, ...]

    def same_as(self, other: RecordSet) -> bool:
        """True when both have the same name, type, TTL and data (in any order)."""
        return (
            self.name == other.name
            and self.type == other.type
            and self.ttl == other.ttl
            and sorted(self.rrdatas) == sorted(other.rrdatas)
        )

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> RecordSet:
        """Build from the API's JSON."""
        ttl = data.get("ttl")
        return cls(
            name=str(data.get("name", "")),
            type=str(data.get("type", "")),
            ttl=int(ttl) if ttl not in (None, "") else 0,
            rrdatas=tuple(str(item) for item in data.get("rrdatas") or ()),
        )

    def to_api(self) -> dict[str, Any]:
        """The JSON of this record set."""
        return {"name": self.name, "type": self.type, "ttl": self.ttl, "rrdatas": list(self.rrdatas)}


@dataclass(frozen=True)
class ManagedZone:
    """A Cloud DNS managed zone; ``networks`` are the VPC network URLs of a private zone."""

    name: str
    dns_name: str
    visibility: str = "public"
    networks: tuple[str, ...] = ()
    description: str = ""
    id: str | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> ManagedZone:
        """Build from the API's JSON."""
        private = data.get("privateVisibilityConfig") or {}
        return cls(
            name=str(data.get("name", "")),
            dns_name=str(data.get("dnsName", "")),
            visibility=str(data.get("visibility") or "public"),
            networks=tuple(str(n.get("networkUrl", "")) for n in private.get("networks") or ()),
            description=str(data.get("description") or ""),
            id=str(data["id"]) if data.get("id") not in (None, "") else None,
        )


@dataclass(frozen=True)
class DnsChange:
    """A Cloud DNS change (``status`` ``pending`` or ``done``)."""

    id: str
    status: str
    additions: tuple[RecordSet, ...] = ()
    deletions: tuple[RecordSet, ...] = ()

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> DnsChange:
        """Build from the API's JSON."""
        return cls(
            id=str(data.get("id", "")),
            status=str(data.get("status") or "pending"),
            additions=tuple(RecordSet.from_api(r) for r in data.get("additions") or ()),
            deletions=tuple(RecordSet.from_api(r) for r in data.get("deletions") or ()),
        )


#: A Cloud DNS change has reached ``done``.
DNS_CHANGE_DONE = waiters.Waiter(
    name="DNS_CHANGE_DONE",
    awaits="Cloud DNS change to be done",
    acceptors=(waiters.Acceptor("success", when={"status": ("done",)}),),
    state_fields=("status",),
)
_DNS_SCHEDULE = waiters.Schedule.exponential(0.5, 1.5, 5.0)


def _zone(value: object) -> str:
    return names.validate_compute_name(value, "managed_zone")


def _record_type(value: object) -> str:
    if not isinstance(value, str) or not _RECORD_TYPE.match(value):
        raise errors.ValidationError("record.type", value, "a record type such as A, AAAA or CNAME")
    return value


def _rrdatas(kind: str, values: str | Iterable[str]) -> tuple[str, ...]:
    items = (values,) if isinstance(values, str) else tuple(values)
    if not items:
        raise errors.ValidationError("record.rrdatas", [], "at least one value")
    if kind == "A":
        for item in items:
            try:
                ipaddress.IPv4Address(item)
            except (ValueError, TypeError):
                raise errors.ValidationError("record.rrdatas", item, "an IPv4 address such as 10.0.0.2") from None
    return items


class CloudDnsClient(_Client):
    """Cloud DNS v1: ``managed_zones`` and ``records`` (record sets). Every method takes the
    ``project`` holding the zone (the producer project for the seed's private zone).

    Takes ``credentials``, ``quota_project_id``, ``endpoint``, ``retry``, ``timeout``,
    ``sleep`` and ``clock`` like :class:`~apigee_psc._http.Transport`.
    """

    _api = "dns"

    @staticmethod
    def _zones_path(project: str) -> str:
        return f"dns/v1/projects/{names.validate_project_id(project, 'project')}/managedZones"

    def _zone_path(self, project: str, zone: str) -> str:
        return f"{self._zones_path(project)}/{_zone(zone)}"

    def _record_path(self, project: str, zone: str, name: str, kind: str) -> str:
        return f"{self._zone_path(project, zone)}/rrsets/{quote(name, safe='')}/{quote(kind, safe='')}"

    def _setup(self) -> None:
        self.managed_zones = ManagedZones(self)
        self.records = Records(self)


class ManagedZones:
    """Cloud DNS managed zones (``dns.managed_zones``): ``get``, ``create``, ``delete``."""

    def __init__(self, client: CloudDnsClient) -> None:
        self._c = client

    def get(self, project: str, zone: str) -> ManagedZone:
        """The managed zone ``zone``; raises :class:`~apigee_psc.errors.NotFound`."""
        return ManagedZone.from_api(self._c.transport.request("GET", self._c._zone_path(project, zone)))

    def create(
        self,
        project: str,
        zone: str,
        dns_name: str,
        *,
        networks: Iterable[str] = (),
        visibility: str = "private",
        description: str = "",
    ) -> ManagedZone:
        """Create a managed zone for ``dns_name`` (``example.com.``); a private zone is visible
        to ``networks`` (names in this project, or network URLs)."""
        _zone(zone)
        names.validate_domain(dns_name, "dns_name")
        names.validate_description(description, "description")
        if visibility not in {"private", "public"}:
            raise errors.ValidationError("visibility", visibility, "private or public")
        body: dict[str, Any] = {"name": zone, "dnsName": dns_name, "visibility": visibility, "description": description}
        urls = [
            n if "/" in n else f"https://www.googleapis.com/compute/v1/projects/{project}/global/networks/{n}"
            for n in networks
        ]
        if urls:
            body["privateVisibilityConfig"] = {"networks": [{"networkUrl": url} for url in urls]}
        try:
            data = self._c.transport.request(
                "POST",
                self._c._zones_path(project),
                params={"clientOperationId": str(uuid.uuid4())},
                json=body,
            )
        except errors.AlreadyExists as exc:
            exc.resource_name = f"projects/{project}/managedZones/{zone}"
            raise
        return ManagedZone.from_api(data)

    def delete(self, project: str, zone: str, *, missing_ok: bool = False) -> bool:
        """Delete the (empty) managed zone; returns ``False`` if it was already gone and
        ``missing_ok``."""
        try:
            self._c.transport.request("DELETE", self._c._zone_path(project, zone))
        except errors.NotFound:
            if missing_ok:
                return False
            raise
        return True


class Records:
    """Record sets of a managed zone (``dns.records``): ``get``, ``find``, ``list``,
    ``upsert``, ``upsert_a``, ``change``, ``delete``."""

    def __init__(self, client: CloudDnsClient) -> None:
        self._c = client

    def get(self, project: str, zone: str, name: str, type: str = "A") -> RecordSet:
        """The record set ``name``/``type``; raises :class:`~apigee_psc.errors.NotFound`."""
        names.validate_dns_name(name)
        path = self._c._record_path(project, zone, name, _record_type(type))
        return RecordSet.from_api(self._c.transport.request("GET", path))

    def find(self, project: str, zone: str, name: str, type: str = "A") -> RecordSet | None:
        """The record set ``name``/``type``, or ``None`` if there is none."""
        try:
            return self.get(project, zone, name, type)
        except errors.NotFound:
            return None

    def list(self, project: str, zone: str, *, name: str | None = None, type: str | None = None) -> Iterator[RecordSet]:
        """Every record set of the zone (optionally only ``name`` and ``type``)."""
        params: dict[str, Any] = {}
        if name:
            params["name"] = names.validate_dns_name(name)
        if type:
            params["type"] = _record_type(type)
        for item in self._c.transport.paginate(f"{self._c._zone_path(project, zone)}/rrsets", "rrsets", params=params):
            yield RecordSet.from_api(item)

    def upsert(
        self,
        project: str,
        zone: str,
        name: str,
        rrdatas: str | Iterable[str],
        *,
        type: str = "A",
        ttl: int = 300,
        timeout: float = 120.0,
    ) -> RecordResult:
        """Make ``name``/``type`` hold exactly ``rrdatas`` with ``ttl``.

        An identical record is left alone (``UNCHANGED``); a missing one is created
        (``CREATED``); a different one is replaced atomically by one change that deletes
        the record read and adds the new one (``REPLACED``). A concurrent writer (409/412)
        makes it re-read and try again, a few times.
        """
        _zone(zone)
        names.validate_dns_name(name)
        kind = _record_type(type)
        if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 0:
            raise errors.ValidationError("record.ttl", ttl, "a TTL in seconds of at least 0")
        wanted = RecordSet(name, kind, ttl, _rrdatas(kind, rrdatas))
        reads: list[RecordSet | None] = []

        def cycle() -> RecordResult:
            current = self.find(project, zone, name, kind)
            reads.append(current)
            if current is None:
                self._c.transport.request(
                    "POST",
                    f"{self._c._zone_path(project, zone)}/rrsets",
                    params={"clientOperationId": str(uuid.uuid4())},
                    json=wanted.to_api(),
                )
                logger.info("dns: created %s %s -> %s", kind, name, ", ".join(wanted.rrdatas))
                return RecordResult.CREATED
            if current.same_as(wanted):
                return RecordResult.UNCHANGED
            change = self._change(project, zone, additions=[wanted], deletions=[current])
            self._wait_change(project, zone, change, timeout)
            logger.info("dns: replaced %s %s -> %s", kind, name, ", ".join(wanted.rrdatas))
            return RecordResult.REPLACED

        def stale(error: BaseException) -> bool:
            # A 404 after reading no record means the zone is missing: that does not heal.
            gone = isinstance(error, errors.NotFound) and bool(reads) and reads[-1] is not None
            return gone or isinstance(error, (errors.AlreadyExists, errors.Conflict, errors.FailedPrecondition))

        policy = replace(DNS_RECORD_STALE, stale=stale)
        return policy.call(cycle, sleep=self._c.sleep, clock=self._c.clock, rng=self._c._rng)

    def upsert_a(self, project: str, zone: str, name: str, ip: str | Iterable[str], *, ttl: int = 300) -> RecordResult:
        """:meth:`upsert` for an A record (``ip`` one address or several)."""
        return self.upsert(project, zone, name, ip, type="A", ttl=ttl)

    def delete(self, project: str, zone: str, name: str, type: str = "A", *, missing_ok: bool = True) -> bool:
        """Delete the record set; returns ``False`` if it was already gone (and ``missing_ok``)."""
        names.validate_dns_name(name)
        path = self._c._record_path(project, zone, name, _record_type(type))
        try:
            self._c.transport.request("DELETE", path)
        except errors.NotFound:
            if missing_ok:
                return False
            raise
        return True

    def change(
        self,
        project: str,
        zone: str,
        *,
        additions: Sequence[RecordSet] = (),
        deletions: Sequence[RecordSet] = (),
        timeout: float = 120.0,
    ) -> DnsChange:
        """Make one atomic change of the zone and wait until it is done: every deletion must
        match its live record set exactly (else 412 :class:`~apigee_psc.errors.FailedPrecondition`,
        or :class:`~apigee_psc.errors.NotFound` when it is gone) and every addition must not
        exist yet (else 409 :class:`~apigee_psc.errors.AlreadyExists`); nothing is written
        unless all of it is. No re-read on failure: the caller decides (see :meth:`upsert`)."""
        _zone(zone)
        for record in (*additions, *deletions):
            names.validate_dns_name(record.name)
            _record_type(record.type)
        change = self._change(project, zone, additions=additions, deletions=deletions)
        return self._wait_change(project, zone, change, timeout)

    def _change(
        self, project: str, zone: str, *, additions: Sequence[RecordSet], deletions: Sequence[RecordSet]
    ) -> DnsChange:
        body = {"additions": [r.to_api() for r in additions], "deletions": [r.to_api() for r in deletions]}
        data = self._c.transport.request(
            "POST",
            f"{self._c._zone_path(project, zone)}/changes",
            params={"clientOperationId": str(uuid.uuid4())},
            json=body,
        )
        return DnsChange.from_api(data)

    def _wait_change(self, project: str, zone: str, change: DnsChange, timeout: float) -> DnsChange:
        if change.status == "done" or not change.id:
            return change
        path = f"{self._c._zone_path(project, zone)}/changes/{quote(change.id, safe='')}"
        result = waiters.wait(
            DNS_CHANGE_DONE,
            lambda: DnsChange.from_api(self._c.transport.request("GET", path)),
            timeout=timeout,
            subject=change.id,
            schedule=_DNS_SCHEDULE,
            first=change,
            clock=self._c.clock,
            sleep=self._c.sleep,
        )
        return result or change


# -- Resource Manager and IAM ---------------------------------------------------------------


def apigee_service_agent(apigee_project_number: str | int) -> str:
    """The Apigee service agent of the organization whose tenant project has this number:
    ``service-{NUMBER}@gcp-sa-apigee.iam.gserviceaccount.com``."""
    number = str(apigee_project_number)
    if not number.isdigit():
        raise errors.ValidationError("apigee_project_number", apigee_project_number, "a project number (digits)")
    return f"service-{number}@{APIGEE_SERVICE_AGENT_DOMAIN}"


def apigee_service_agent_for(apigee_project_id: str, resource_manager: ResourceManagerClient) -> str:
    """The Apigee service agent named after project ``apigee_project_id`` (looks up its number
    with ``projects.get``, which needs ``resourcemanager.projects.get`` on that project)."""
    return apigee_service_agent(resource_manager.projects.number(apigee_project_id))


@dataclass(frozen=True)
class IamBinding:
    """One binding of an IAM policy; ``condition`` is the raw ``Expr`` when conditional."""

    role: str
    members: tuple[str, ...]
    condition: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class IamPolicy:
    """A project's IAM policy (``raw`` keeps the whole JSON, audit configs included)."""

    version: int
    etag: str | None
    bindings: tuple[IamBinding, ...]
    raw: Mapping[str, Any]

    def has(self, role: str, member: str) -> bool:
        """True if an unconditional binding of ``role`` holds ``member``."""
        return any(b.role == role and b.condition is None and member in b.members for b in self.bindings)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> IamPolicy:
        """Build from the API's JSON."""
        return cls(
            version=int(data.get("version") or 1),
            etag=data.get("etag"),
            bindings=tuple(
                IamBinding(
                    role=str(b.get("role", "")),
                    members=tuple(str(m) for m in b.get("members") or ()),
                    condition=dict(b["condition"]) if isinstance(b.get("condition"), Mapping) else None,
                )
                for b in data.get("bindings") or ()
            ),
            raw=copy.deepcopy(dict(data)),
        )


def _member(value: object) -> str:
    if not isinstance(value, str) or not _MEMBER.match(value):
        raise errors.ValidationError(
            "member", value, "an IAM principal such as serviceAccount:NAME@PROJECT.iam.gserviceaccount.com"
        )
    return value


def _role(value: object) -> str:
    if not isinstance(value, str) or not _ROLE.match(value):
        raise errors.ValidationError("role", value, "a role such as roles/dns.peer")
    return value


def _add_member(policy: dict[str, Any], role: str, member: str) -> bool:
    bindings = policy.setdefault("bindings", [])
    plain = [b for b in bindings if b.get("role") == role and not b.get("condition")]
    if any(member in (b.get("members") or []) for b in plain):
        return False
    if plain:
        plain[0].setdefault("members", []).append(member)
    else:
        bindings.append({"role": role, "members": [member]})
    return True


def _remove_member(policy: dict[str, Any], role: str, member: str) -> bool:
    changed = False
    kept = []
    for binding in policy.get("bindings") or []:
        if binding.get("role") == role and not binding.get("condition") and member in (binding.get("members") or []):
            binding["members"] = [m for m in binding["members"] if m != member]
            changed = True
            if not binding["members"]:
                continue
        kept.append(binding)
    if changed:
        policy["bindings"] = kept
    return changed


def _is_stale_etag(error: BaseException) -> bool:
    if isinstance(error, errors.FailedPrecondition):
        return error.status_code == 412
    return isinstance(error, errors.Conflict)


#: A ``setIamPolicy`` refused for a stale etag (409 ABORTED, or 412) redoes the whole
#: read-modify-write, backing off from 1 s to 8 s, for about 30 s (as the Terraform provider).
IAM_ETAG_STALE = RereadPolicy(
    "iam: project policy", _is_stale_etag, attempts=None, initial=1.0, maximum=8.0, deadline=30.0
)


class ResourceManagerClient(_Client):
    """Cloud Resource Manager v3: ``projects`` (numbers) and ``iam`` (project IAM policies).

    Takes ``credentials``, ``quota_project_id``, ``endpoint``, ``retry``, ``timeout``,
    ``sleep`` and ``clock`` like :class:`~apigee_psc._http.Transport`.
    """

    _api = "cloudresourcemanager"

    def _setup(self) -> None:
        self.projects = Projects(self)
        self.iam = Iam(self)


class Projects:
    """Projects (``resource_manager.projects``): a project's number, and the Apigee service
    agent named after one."""

    def __init__(self, client: ResourceManagerClient) -> None:
        self._c = client

    def number(self, project_id: str) -> str:
        """The number of project ``project_id`` (``"123456789012"``), cached per client."""
        if isinstance(project_id, str) and project_id.isdigit():
            return project_id
        names.validate_project_id(project_id, "project")
        if project_id not in self._c._numbers:
            data = self._c.transport.request("GET", f"v3/projects/{project_id}")
            name = str(data.get("name", ""))
            number = name.rsplit("/", 1)[-1]
            if not number.isdigit():
                raise errors.ApiError(f"project {project_id} has no number in its name {name!r}")
            self._c._numbers[project_id] = number
        return self._c._numbers[project_id]

    def apigee_service_agent(self, apigee_project_id: str) -> str:
        """The Apigee service agent email for the organization's ``apigeeProjectId``."""
        return apigee_service_agent_for(apigee_project_id, self._c)


class Iam:
    """Project IAM policies (``resource_manager.iam``): ``get_policy``, ``has_binding``,
    ``grant``, ``revoke``."""

    def __init__(self, client: ResourceManagerClient) -> None:
        self._c = client

    def _raw_policy(self, project: str) -> dict[str, Any]:
        return self._c.transport.request(
            "POST",
            f"v3/projects/{_project_ref(project)}:getIamPolicy",
            json={"options": {"requestedPolicyVersion": 3}},
            wait_out_lock=False,
        )

    def get_policy(self, project: str) -> IamPolicy:
        """The project's IAM policy, read at version 3 (conditions included)."""
        return IamPolicy.from_api(self._raw_policy(project))

    def has_binding(self, project: str, role: str, member: str) -> bool:
        """True if ``member`` holds ``role`` on the project without a condition."""
        return self.get_policy(project).has(_role(role), _member(member))

    def grant(self, project: str, role: str, member: str, *, policy: IamPolicy | None = None) -> bool:
        """Give ``member`` ``role`` on the project (unconditionally). Returns ``True`` if the
        policy changed, ``False`` if the binding was already there.

        ``policy``: the project's policy as the caller just read it, to save the first read.
        It is used only if it carries an etag: the write sends it, so a policy changed since
        is refused (409/412) and the cycle starts again from a fresh read."""
        role, member = _role(role), _member(member)
        first = policy if policy is not None and policy.etag else None
        changed = self._read_modify_write(project, lambda raw: _add_member(raw, role, member), first=first)
        if changed:
            logger.info("iam: granted %s to %s on %s", role, member, project)
        return changed

    def revoke(self, project: str, role: str, member: str) -> bool:
        """Take ``role`` from ``member`` on the project (unconditional bindings only; an
        emptied binding is dropped). Returns ``True`` if the policy changed."""
        role, member = _role(role), _member(member)
        changed = self._read_modify_write(project, lambda policy: _remove_member(policy, role, member))
        if changed:
            logger.info("iam: revoked %s from %s on %s", role, member, project)
        return changed

    def _read_modify_write(
        self, project: str, modify: Callable[[dict[str, Any]], bool], *, first: IamPolicy | None = None
    ) -> bool:
        """Read the policy (the first time, ``first`` if given), apply ``modify``, write it
        back with its etag; a stale etag is handled by :data:`IAM_ETAG_STALE` (the whole cycle
        again, for about 30 s)."""
        ref = _project_ref(project)
        given = [copy.deepcopy(dict(first.raw))] if first is not None else []

        def cycle() -> bool:
            policy = given.pop() if given else self._raw_policy(project)
            if not modify(policy):
                return False
            policy["version"] = 3
            self._c.transport.request(
                "POST", f"v3/projects/{ref}:setIamPolicy", json={"policy": policy}, wait_out_lock=False
            )
            return True

        return IAM_ETAG_STALE.call(cycle, sleep=self._c.sleep, clock=self._c.clock, rng=self._c._rng)


def _project_ref(project: str) -> str:
    if isinstance(project, str) and project.isdigit():
        return project
    return names.validate_project_id(project, "project")


# -- Service Networking ---------------------------------------------------------------------


@dataclass(frozen=True)
class PeeredDnsDomain:
    """A peered DNS domain: queries for ``dns_suffix`` from the producer (Apigee) network are
    answered in the consumer network."""

    name: str
    dns_suffix: str

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> PeeredDnsDomain:
        """Build from the API's JSON."""
        return cls(name=str(data.get("name", "")).rsplit("/", 1)[-1], dns_suffix=str(data.get("dnsSuffix", "")))


_SN_SCHEDULE = waiters.Schedule.exponential(1.0, 1.5, 10.0)


def _project_number(value: object) -> str:
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not text.isdigit():
        raise errors.ValidationError("project_number", value, "a project number (digits), not a project id")
    return text


class ServiceNetworkingClient(_Client):
    """Service Networking v1: ``peered_dns_domains`` of a consumer network (VPC-peered
    Apigee) and ``operations``.

    Takes ``credentials``, ``quota_project_id``, ``endpoint``, ``retry``, ``timeout``,
    ``sleep`` and ``clock`` like :class:`~apigee_psc._http.Transport`.
    """

    _api = "servicenetworking"

    def _path(self, project_number: str | int, network: str) -> str:
        number = _project_number(project_number)
        names.validate_compute_name(network, "network")
        return f"v1/services/{_SERVICE}/projects/{number}/global/networks/{network}/peeredDnsDomains"

    def _setup(self) -> None:
        self.peered_dns_domains = PeeredDnsDomains(self)
        self.operations = ServiceNetworkingOperations(self)


class PeeredDnsDomains:
    """Peered DNS domains of a consumer network (``service_networking.peered_dns_domains``)."""

    def __init__(self, client: ServiceNetworkingClient) -> None:
        self._c = client

    def create(
        self,
        project_number: str | int,
        network: str,
        name: str,
        dns_suffix: str,
        *,
        wait: bool = True,
        timeout: float = 600.0,
    ) -> Operation:
        """Create peered DNS domain ``name`` for ``dns_suffix`` (``example.com.``) on the
        consumer ``network`` of project ``project_number``; waits on its operation."""
        names.validate_dns_zone_id(name, "peered_dns_domain.name")
        names.validate_domain(dns_suffix, "peered_dns_domain.dns_suffix")
        data = self._c.transport.request(
            "POST", self._c._path(project_number, network), json={"name": name, "dnsSuffix": dns_suffix}
        )
        operation = Operation.from_api(data)
        return self._c.operations.wait(operation, timeout=timeout) if wait else operation

    def list(self, project_number: str | int, network: str) -> list[PeeredDnsDomain]:
        """Every peered DNS domain of the consumer network."""
        data = self._c.transport.request("GET", self._c._path(project_number, network))
        return [PeeredDnsDomain.from_api(item) for item in data.get("peeredDnsDomains") or ()]

    def get(self, project_number: str | int, network: str, name: str) -> PeeredDnsDomain:
        """The peered DNS domain ``name`` (the API has no get: read from the list);
        raises :class:`~apigee_psc.errors.NotFound`."""
        for domain in self.list(project_number, network):
            if domain.name == name:
                return domain
        raise errors.NotFound(
            f"peered DNS domain {name!r} not found",
            method="GET",
            url=self._c.transport.url(self._c._path(project_number, network)),
        )

    def delete(
        self,
        project_number: str | int,
        network: str,
        name: str,
        *,
        wait: bool = True,
        timeout: float = 600.0,
        missing_ok: bool = False,
    ) -> Operation | None:
        """Delete peered DNS domain ``name``; with ``missing_ok`` a missing one returns ``None``."""
        names.validate_dns_zone_id(name, "peered_dns_domain.name")
        try:
            data = self._c.transport.request("DELETE", f"{self._c._path(project_number, network)}/{name}")
        except errors.NotFound:
            if missing_ok:
                return None
            raise
        operation = Operation.from_api(data)
        return self._c.operations.wait(operation, timeout=timeout) if wait else operation


class ServiceNetworkingOperations:
    """Service Networking operations (``service_networking.operations``)."""

    def __init__(self, client: ServiceNetworkingClient) -> None:
        self._c = client

    def wait(self, operation: Operation | str, *, timeout: float = 600.0) -> Operation:
        """Wait until the operation (``operations/...``) is done; raises
        :class:`~apigee_psc.errors.OperationFailed` if it ended with an error."""
        op = operation if isinstance(operation, Operation) else Operation(name=operation)
        if not op.name.startswith("operations/"):
            if op.done and op.error is None:
                return op
            raise errors.ValidationError("operation", op.name, "an operations/... name")

        def failed(value: Operation | None, error: BaseException | None) -> BaseException:
            return (value.exception() if value is not None else None) or error or errors.ApiError(f"{op.name} failed")

        result = waiters.wait(
            waiters.OPERATION_DONE,
            lambda: Operation.from_api(self._c.transport.request("GET", f"v1/{op.name}")),
            timeout=timeout,
            subject=op.name,
            schedule=_SN_SCHEDULE,
            first=op,
            operation=op.name,
            resume=f"ServiceNetworkingClient.operations.wait({op.name!r})",
            on_failure=failed,
            clock=self._c.clock,
            sleep=self._c.sleep,
        )
        return result or op
