"""Cloud DNS: managed zones and record sets (``dns.managed_zones``, ``dns.records``); A records
in a (private) managed zone are upserted idempotently, a different existing record replaced
atomically through one ``changes`` call.
"""

from __future__ import annotations

import enum
import ipaddress
import logging
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from apigee_psc import errors, names, waiters
from apigee_psc._retry import RereadPolicy

if TYPE_CHECKING:
    pass
from apigee_psc.cloud._client import _Client

__all__ = ["DNS_RECORD_STALE", "CloudDnsClient", "DnsChange", "ManagedZone", "RecordResult", "RecordSet"]

logger = logging.getLogger("apigee_psc.cloud")

_RECORD_TYPE = re.compile(r"^[A-Z][A-Z0-9]{0,9}$")


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
