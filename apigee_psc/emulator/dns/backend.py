"""Cloud DNS backend: managed zones, record sets and changes.

Google's rules kept here: a change is applied atomically when it is accepted and reads
``pending`` until ``op_seconds`` (kind ``dns.changes.create``) have passed, then ``done``;
deletions must match the live record set exactly (412) and additions must be new (409); a
name holds either one CNAME record set or record sets of other types, never both (400
``cnameResourceRecordSetConflict``); TXT (and SPF) data is one or more character strings,
each at most 255 characters, stored and returned quoted (an unquoted word becomes one
quoted string, as Cloud DNS splits unquoted text on spaces).
"""

from __future__ import annotations

import copy
import ipaddress
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from apigee_psc.emulator.errors import AlreadyExists, ConditionNotMet, InvalidArgument, NotFound
from apigee_psc.emulator.routing import rfc3339

if TYPE_CHECKING:
    from apigee_psc.emulator.state import World


JSON = dict[str, Any]

ZONE_NAME_RE = re.compile(r"^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$")
DNS_NAME_RE = re.compile(
    r"^(?:(?:\*|[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)\.)*(?:[a-z0-9-]{1,63}\.)?$", re.IGNORECASE
)
NETWORK_RE = re.compile(r"projects/([^/]+)/global/networks/([^/?#]+)")
RR_TYPES = {
    "A",
    "AAAA",
    "CAA",
    "CNAME",
    "DNSKEY",
    "DS",
    "HTTPS",
    "IPSECKEY",
    "MX",
    "NAPTR",
    "NS",
    "PTR",
    "SOA",
    "SPF",
    "SRV",
    "SSHFP",
    "SVCB",
    "TLSA",
    "TXT",
}
ZONE_FIELDS = {
    "name",
    "dnsName",
    "description",
    "visibility",
    "privateVisibilityConfig",
    "labels",
    "peeringConfig",
    "forwardingConfig",
    "dnssecConfig",
    "cloudLoggingConfig",
    "reverseLookupConfig",
    "serviceDirectoryConfig",
    "nameServerSet",
}
ZONE_OUTPUT = {"id", "kind", "creationTime", "nameServers"}
RRSET_FIELDS = {"name", "type", "ttl", "rrdatas", "signatureRrdatas", "routingPolicy"}


def bad_request(message: str) -> InvalidArgument:
    return InvalidArgument(message, reason="invalid")


@dataclass
class ManagedZone:
    """A Cloud DNS zone with its record sets and change history."""

    project: str
    name: str
    id: int
    created: float
    fields: JSON
    records: dict[tuple[str, str], JSON] = field(default_factory=dict)
    changes: list[JSON] = field(default_factory=list)
    #: change id -> when that change is ``done`` (epoch seconds; missing = done at once)
    done_at: dict[str, float] = field(default_factory=dict)

    @property
    def dns_name(self) -> str:
        """The zone's DNS name (ends with a dot)."""
        return str(self.fields["dnsName"])

    def to_dict(self) -> JSON:
        """The wire ManagedZone."""
        out: JSON = {
            "kind": "dns#managedZone",
            "name": self.name,
            "id": str(self.id),
            "creationTime": rfc3339(self.created),
        }
        out.update(copy.deepcopy(self.fields))
        out["nameServers"] = list(self.records[(self.dns_name, "NS")]["rrdatas"])
        return out


class DnsBackend:
    """Cloud DNS zones of every project."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.zones: dict[tuple[str, str], ManagedZone] = {}

    # -- zones ----------------------------------------------------------------------------------------

    def create_zone(self, project: str, body: JSON) -> ManagedZone:
        """managedZones.create."""
        with self.world.lock:
            project = self.world.ensure_project(project)
            for key in body:
                if key not in ZONE_FIELDS and key not in ZONE_OUTPUT:
                    raise bad_request(
                        f"Invalid JSON payload received. Unknown name \"{key}\" at 'managed_zone': Cannot find field."
                    )
            name = body.get("name")
            if not isinstance(name, str) or not ZONE_NAME_RE.match(name):
                raise bad_request(f"Invalid value for 'entity.managedZone.name': '{name}'")
            dns_name = body.get("dnsName")
            if not isinstance(dns_name, str) or not dns_name.endswith(".") or not DNS_NAME_RE.match(dns_name):
                raise bad_request(f"Invalid value for 'entity.managedZone.dnsName': '{dns_name}'")
            description = body.get("description", "")
            if not isinstance(description, str) or len(description) > 1024:
                raise bad_request(
                    "Invalid value for 'entity.managedZone.description': it must be at most 1024 characters."
                )
            visibility = body.get("visibility", "public")
            if visibility not in ("public", "private"):
                raise bad_request(f"Invalid value for 'entity.managedZone.visibility': '{visibility}'")
            fields = {k: copy.deepcopy(v) for k, v in body.items() if k in ZONE_FIELDS and k != "name"}
            fields["visibility"] = visibility
            fields["description"] = description
            pvc = fields.get("privateVisibilityConfig")
            if pvc is not None:
                if visibility != "private":
                    raise bad_request("privateVisibilityConfig can only be set on a private zone.")
                pvc.setdefault("kind", "dns#managedZonePrivateVisibilityConfig")
                for i, net in enumerate(pvc.get("networks") or []):
                    url = net.get("networkUrl", "") if isinstance(net, dict) else ""
                    match = NETWORK_RE.search(url)
                    if match is None:
                        raise bad_request(
                            f"Invalid value for 'entity.managedZone.privateVisibilityConfig.networks[{i}]"
                            f".networkUrl': '{url}'"
                        )
                    net_project = self.world.ensure_project(match.group(1))
                    if not self.world.compute.network_exists(net_project, match.group(2)):
                        raise bad_request(f"The network '{url}' does not exist.")
                    net.setdefault("kind", "dns#managedZonePrivateVisibilityConfigNetwork")
            if (project, name) in self.zones:
                raise AlreadyExists(f"The resource 'entity.managedZone' named '{name}' already exists")
            zone = ManagedZone(project, name, self.world.next_id(), self.world.now(), fields)
            suffix = "a" if visibility == "public" else "private"
            ns = (
                [f"ns-cloud-{suffix}{i}.googledomains.com." for i in range(1, 5)]
                if visibility == "public"
                else ["ns-gcp-private.googledomains.com."]
            )
            zone.records[(dns_name, "NS")] = _rrset(dns_name, "NS", 21600, ns)
            zone.records[(dns_name, "SOA")] = _rrset(
                dns_name,
                "SOA",
                21600,
                [f"{ns[0]} cloud-dns-hostmaster.google.com. 1 21600 3600 259200 300"],
            )
            zone.changes.append(self._change(zone, list(zone.records.values()), []))
            self.zones[(project, name)] = zone
            return zone

    def zone(self, project: str, name: str) -> ManagedZone:
        """A zone by name or id; 404 otherwise."""
        with self.world.lock:
            project = self.world.ensure_project(project)
            zone = self.zones.get((project, name))
            if zone is None:
                zone = next((z for z in self.zones.values() if z.project == project and str(z.id) == name), None)
            if zone is None:
                raise NotFound(f"The 'parameters.managedZone' resource named '{name}' does not exist.")
            return zone

    def list_zones(self, project: str, dns_name: str | None = None) -> list[ManagedZone]:
        """managedZones.list (optionally only those for ``dns_name``)."""
        with self.world.lock:
            project = self.world.ensure_project(project)
            zones = [z for z in self.zones.values() if z.project == project]
            if dns_name:
                zones = [z for z in zones if z.dns_name == dns_name]
            return sorted(zones, key=lambda z: z.name)

    def delete_zone(self, project: str, name: str) -> None:
        """managedZones.delete: only when nothing but the apex SOA/NS is left."""
        with self.world.lock:
            zone = self.zone(project, name)
            extra = [k for k in zone.records if k not in ((zone.dns_name, "SOA"), (zone.dns_name, "NS"))]
            if extra:
                raise InvalidArgument(
                    f"The resource named '{zone.name}' cannot be deleted because it is not empty",
                    reason="containerNotEmpty",
                )
            del self.zones[(zone.project, zone.name)]

    # -- record sets ------------------------------------------------------------------------------------

    def _check_rrset(self, zone: ManagedZone, rr: Any, where: str) -> JSON:
        if not isinstance(rr, dict):
            raise bad_request(f"Invalid value for '{where}'")
        for key in rr:
            if key not in RRSET_FIELDS and key != "kind":
                raise bad_request(
                    f"Invalid JSON payload received. Unknown name \"{key}\" at '{where}': Cannot find field."
                )
        name, rtype = rr.get("name"), rr.get("type")
        if not isinstance(name, str) or not name.endswith(".") or not DNS_NAME_RE.match(name):
            raise bad_request(f"Invalid value for '{where}.name': '{name}'")
        name = name.lower()
        zone_name = zone.dns_name.lower()
        if name != zone_name and not name.endswith("." + zone_name):
            raise bad_request(f"Invalid value for '{where}.name': '{name}'. It is not within zone '{zone.dns_name}'.")
        if rtype not in RR_TYPES:
            raise bad_request(f"Invalid value for '{where}.type': '{rtype}'")
        ttl = rr.get("ttl", 300)
        if not isinstance(ttl, int) or ttl < 0:
            raise bad_request(f"Invalid value for '{where}.ttl': '{ttl}'")
        rrdatas = rr.get("rrdatas") or []
        if not rrdatas and not rr.get("routingPolicy"):
            raise bad_request(f"The '{where}.rrdatas' field is required.")
        for data in rrdatas:
            try:
                if rtype == "A":
                    ipaddress.IPv4Address(str(data))
                elif rtype == "AAAA":
                    ipaddress.IPv6Address(str(data))
            except ValueError as exc:
                raise bad_request(f"Invalid value for '{where}.rrdata': '{data}'") from exc
        if rtype == "CNAME" and len(rrdatas) != 1:
            raise bad_request(f"Invalid value for '{where}.rrdata': a CNAME has exactly one target.")
        if rtype in ("TXT", "SPF"):
            rrdatas = [_txt(str(data), f"{where}.rrdata[{i}]") for i, data in enumerate(rrdatas)]
        out = _rrset(name, rtype, ttl, [str(d) for d in rrdatas])
        if rr.get("routingPolicy"):
            out["routingPolicy"] = copy.deepcopy(rr["routingPolicy"])
        return out

    def create_rrset(self, project: str, zone_name: str, body: JSON) -> JSON:
        """resourceRecordSets.create."""
        with self.world.lock:
            zone = self.zone(project, zone_name)
            rr = self._check_rrset(zone, body, "entity.rrset")
            key = (rr["name"], rr["type"])
            if key in zone.records:
                raise AlreadyExists(f"The resource 'entity.rrset' named '{rr['name']} ({rr['type']})' already exists")
            _check_cname({**zone.records, key: rr}, [("entity.rrset", rr)])
            zone.records[key] = rr
            zone.changes.append(self._change(zone, [rr], []))
            return copy.deepcopy(rr)

    def get_rrset(self, project: str, zone_name: str, name: str, rtype: str) -> JSON:
        """resourceRecordSets.get."""
        with self.world.lock:
            zone = self.zone(project, zone_name)
            rr = zone.records.get((name.lower(), rtype))
            if rr is None:
                raise NotFound(f"The 'parameters.name' resource named '{name}' does not exist.")
            return copy.deepcopy(rr)

    def patch_rrset(self, project: str, zone_name: str, name: str, rtype: str, body: JSON) -> JSON:
        """resourceRecordSets.patch: replaces ttl and rrdatas."""
        with self.world.lock:
            zone = self.zone(project, zone_name)
            old = self.get_rrset(project, zone_name, name, rtype)
            merged = {**old, **{k: v for k, v in body.items() if v is not None}}
            rr = self._check_rrset(zone, merged, "entity.rrset")
            if (rr["name"], rr["type"]) != (old["name"], old["type"]):
                raise bad_request("The name and type of a record set cannot be changed.")
            zone.records[(rr["name"], rr["type"])] = rr
            zone.changes.append(self._change(zone, [rr], [old]))
            return copy.deepcopy(rr)

    def delete_rrset(self, project: str, zone_name: str, name: str, rtype: str) -> None:
        """resourceRecordSets.delete (not the apex SOA/NS)."""
        with self.world.lock:
            zone = self.zone(project, zone_name)
            old = self.get_rrset(project, zone_name, name, rtype)
            if old["name"] == zone.dns_name.lower() and rtype in ("SOA", "NS"):
                raise bad_request(f"The apex {rtype} record of a zone cannot be deleted.")
            del zone.records[(old["name"], rtype)]
            zone.changes.append(self._change(zone, [], [old]))

    def list_rrsets(self, project: str, zone_name: str, name: str | None, rtype: str | None) -> list[JSON]:
        """resourceRecordSets.list, sorted by name and type."""
        with self.world.lock:
            zone = self.zone(project, zone_name)
            out = [
                copy.deepcopy(rr)
                for (n, t), rr in sorted(zone.records.items())
                if (not name or n == name.lower()) and (not rtype or t == rtype)
            ]
            return out

    def create_change(self, project: str, zone_name: str, body: JSON) -> JSON:
        """changes.create: deletions must match exactly (412), additions must be new (409)."""
        with self.world.lock:
            zone = self.zone(project, zone_name)
            additions = [
                self._check_rrset(zone, rr, f"entity.change.additions[{i}]")
                for i, rr in enumerate(body.get("additions") or [])
            ]
            deletions = [
                self._check_rrset(zone, rr, f"entity.change.deletions[{i}]")
                for i, rr in enumerate(body.get("deletions") or [])
            ]
            if not additions and not deletions:
                raise bad_request("The 'entity.change' resource must contain additions or deletions.")
            records = dict(zone.records)
            for i, rr in enumerate(deletions):
                key = (rr["name"], rr["type"])
                current = records.get(key)
                if current is None:
                    raise NotFound(
                        f"The 'entity.change.deletions[{i}]' resource named "
                        f"'{rr['name']} ({rr['type']})' does not exist."
                    )
                if current["ttl"] != rr["ttl"] or sorted(current["rrdatas"]) != sorted(rr["rrdatas"]):
                    raise ConditionNotMet(f"Precondition not met for 'entity.change.deletions[{i}]'")
                del records[key]
            for i, rr in enumerate(additions):
                key = (rr["name"], rr["type"])
                if key in records:
                    raise AlreadyExists(
                        f"The resource 'entity.change.additions[{i}]' named "
                        f"'{rr['name']} ({rr['type']})' already exists"
                    )
                records[key] = rr
            _check_cname(records, [(f"entity.change.additions[{i}]", rr) for i, rr in enumerate(additions)])
            zone.records = records
            change = self._change(zone, additions, deletions)
            zone.changes.append(change)
            zone.done_at[change["id"]] = self.world.now() + self.world.op_seconds("dns.changes.create")
            return self._render_change(zone, change)

    def get_change(self, project: str, zone_name: str, change_id: str) -> JSON:
        """changes.get."""
        with self.world.lock:
            zone = self.zone(project, zone_name)
            for change in zone.changes:
                if change["id"] == change_id:
                    return self._render_change(zone, change)
            raise NotFound(f"The 'parameters.changeId' resource named '{change_id}' does not exist.")

    def _render_change(self, zone: ManagedZone, change: JSON) -> JSON:
        """``change`` on the wire: ``pending`` until its time has come, then ``done``."""
        out = copy.deepcopy(change)
        done_at = zone.done_at.get(change["id"])
        if done_at is not None and self.world.now() < done_at:
            out["status"] = "pending"
        return out

    def _change(self, zone: ManagedZone, additions: list[JSON], deletions: list[JSON]) -> JSON:
        change: JSON = {
            "kind": "dns#change",
            "id": str(len(zone.changes)),
            "status": "done",
            "startTime": rfc3339(self.world.now()),
        }
        if additions:
            change["additions"] = copy.deepcopy(additions)
        if deletions:
            change["deletions"] = copy.deepcopy(deletions)
        return change

    def dump(self) -> JSON:
        """State for ``/_emulator/state``."""
        return {
            "managedZones": [
                {
                    **z.to_dict(),
                    "project": z.project,
                    "rrsets": [copy.deepcopy(r) for _, r in sorted(z.records.items())],
                }
                for _, z in sorted(self.zones.items())
            ]
        }


def _rrset(name: str, rtype: str, ttl: int, rrdatas: list[str]) -> JSON:
    return {"kind": "dns#resourceRecordSet", "name": name, "type": rtype, "ttl": ttl, "rrdatas": rrdatas}


def _check_cname(records: dict[tuple[str, str], JSON], written: list[tuple[str, JSON]]) -> None:
    """400 ``cnameResourceRecordSetConflict`` when a name written to would hold a CNAME
    record set beside record sets of other types (Cloud DNS's words)."""
    for where, rr in written:
        types = {t for (n, t) in records if n == rr["name"]}
        if "CNAME" in types and len(types) > 1:
            raise InvalidArgument(
                f"The resource record set '{where}' is invalid because the DNS name '{rr['name']}' may have "
                "either one CNAME resource record set or resource record sets of other types, but not both.",
                reason="cnameResourceRecordSetConflict",
            )


#: One character string of TXT data: quoted (with backslash escapes) or an unquoted word.
_TXT_TOKEN = re.compile(r'\s*(?:"((?:[^"\\]|\\.)*)"|([^\s"]+))')
TXT_STRING_MAX = 255


def _txt(data: str, where: str) -> str:
    """TXT data as Cloud DNS stores and returns it: every character string quoted, one space
    apart; 400 when a string is longer than 255 characters or a quote is left open."""
    strings: list[str] = []
    pos = 0
    text = data.rstrip()
    while pos < len(text):
        match = _TXT_TOKEN.match(text, pos)
        if match is None:
            raise bad_request(f"Invalid value for '{where}': '{data}'")
        quoted, bare = match.group(1), match.group(2)
        content = quoted if quoted is not None else bare
        if len(re.sub(r"\\(.)", r"\1", content)) > TXT_STRING_MAX:
            raise bad_request(f"Invalid value for '{where}': '{content}'")
        strings.append(f'"{content}"')
        pos = match.end()
    if not strings:
        raise bad_request(f"Invalid value for '{where}': '{data}'")
    return " ".join(strings)
