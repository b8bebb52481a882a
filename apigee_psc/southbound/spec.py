"""The declarative description of one southbound connection (the *spec*).

A spec file names everything one Apigee X -> Private Service Connect -> backend connection
needs, in the shape fixed by the design's contract::

    organization: my-organization
    project: my-project
    region: us-west1
    network: default
    forwarding_rule: fr-ilb
    nat_subnet: {name: psc-subnet, range: 10.100.0.0/28}
    firewall: {name: allow-psc-nat-80, ports: [80], target_tags: [psc-demo]}
    service_attachment: {name: gkebackend, connection_preference: ACCEPT_AUTOMATIC}
    endpoint_attachment: {name: gkebackend}
    dns:
      zone: {name: my-zone, domain: example.com.}
      managed_zone: my-private-zone
      record: orders.example.com.
    target: {path: /orders}

:meth:`SouthboundSpec.from_yaml` and :meth:`SouthboundSpec.from_dict` check the whole spec
before anything talks to an API. Every problem is a
:class:`~apigee_psc.errors.ValidationError` whose ``field`` is the key path
(``nat_subnet.range``, ``firewall.ports[1]``, ``dns.zone.domain``) and whose ``source`` is the
file, so ``str(error)`` reads like::

    examples/x.yaml: nat_subnet.range: '10.100.0.0/33' is invalid: a private IPv4 network ...

The dataclasses validate themselves too (in ``__post_init__``), so a spec built in Python
obeys the same rules as one read from YAML. See ``docs/spec.md`` for every key.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from apigee_psc import _yaml, names
from apigee_psc.errors import ValidationError

__all__ = [
    "CONNECTION_PREFERENCES",
    "FILE_FIELD",
    "KNOWN_KEYS",
    "ConnectionPreference",
    "DnsSpec",
    "DnsZoneSpec",
    "EndpointAttachmentSpec",
    "FirewallSpec",
    "NatSubnetSpec",
    "ServiceAttachmentSpec",
    "SouthboundSpec",
    "TargetSpec",
    "TlsSpec",
]

ConnectionPreference = Literal["ACCEPT_AUTOMATIC", "ACCEPT_MANUAL"]
CONNECTION_PREFERENCES: tuple[ConnectionPreference, ...] = ("ACCEPT_AUTOMATIC", "ACCEPT_MANUAL")

#: Field name used for problems with the file as a whole (unreadable, bad YAML, not a mapping).
FILE_FIELD = "<file>"

_DEFAULT_CONNECTION_LIMIT = 10
_MAX_CONNECTION_LIMIT = 2**32 - 1  # connectionLimit is a uint32 in the Compute API
_MAX_PROPAGATED_CONNECTION_LIMIT = 2**32 - 1  # propagatedConnectionLimit too
_MAX_DOMAIN_NAMES = 1  # "Current max number of domain names supported is 1" (Compute v1)
_PROJECT_NUMBER = re.compile(r"^[1-9][0-9]{0,18}$")
_FORWARDING_RULE_PATH = re.compile(
    r"^(?:https://(?:www|compute)\.googleapis\.com/compute/(?:v1|beta)/)?"
    r"projects/(?P<project>[^/]+)/regions/(?P<region>[^/]+)/forwardingRules/(?P<name>[^/]+)$"
)
_FORWARDING_RULE_RULE = (
    "a forwarding rule name (" + names.COMPUTE_NAME_RULE + ") or "
    "projects/PROJECT/regions/REGION/forwardingRules/NAME (optionally as a full compute URL)"
)
_TLS_PROTOCOLS = ("TLSv1.2", "TLSv1.3")
_TARGET_PATH_RULE = "a URL path beginning with '/' and without spaces or '#', such as /orders"


# --------------------------------------------------------------------------- helpers


def _join(prefix: str, field_name: str) -> str:
    if not field_name:
        return prefix
    if not prefix:
        return field_name
    if field_name.startswith("["):
        return prefix + field_name
    return f"{prefix}.{field_name}"


@contextmanager
def _at(prefix: str) -> Iterator[None]:
    """Re-raise a ValidationError from inside with its field prefixed by ``prefix``."""
    try:
        yield
    except ValidationError as exc:
        raise ValidationError(_join(prefix, exc.field), exc.value, exc.rule, source=exc.source) from None


def _integer(value: object, field_name: str, rule: str) -> int:
    """An int that is really an int in the file: booleans and numeric strings are refused."""
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.strip().isdigit():
            rule = f"{rule}, written as a number without quotes ({value.strip()}, not {value!r})"
        raise ValidationError(field_name, value, rule)
    return value


def _boolean(value: object, field_name: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(field_name, value, "true or false (unquoted)")
    return value


def _sequence(value: object, field_name: str, what: str) -> tuple[object, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ValidationError(field_name, value, f"a list of {what}")
    return tuple(value)


def _port(value: object, field_name: str) -> int:
    port = _integer(value, field_name, "a TCP port number from 1 to 65535")
    if not 1 <= port <= 65535:
        raise ValidationError(field_name, value, "a TCP port number from 1 to 65535")
    return port


def _project_or_number(value: object, field_name: str) -> str:
    """A consumer project: its id (``my-project``) or its number (``123456789012``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str) and _PROJECT_NUMBER.match(value):
        return value
    try:
        return names.validate_project_id(value, field_name)
    except ValidationError:
        raise ValidationError(field_name, value, "a project id such as my-project, or a project number") from None


def _unique(values: Sequence[str], field_name: str) -> None:
    seen: set[str] = set()
    for index, value in enumerate(values):
        if value in seen:
            raise ValidationError(f"{field_name}[{index}]", value, "each entry once (duplicate)")
        seen.add(value)


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


# --------------------------------------------------------------------------- dataclasses


@dataclass(frozen=True)
class NatSubnetSpec:
    """The PSC NAT subnet the spec **creates** (``purpose: PRIVATE_SERVICE_CONNECT``).

    ``range`` is a private IPv4 CIDR with a prefix from /16 to /29 and no host bits set; it is
    stored in canonical form. The service attachment translates Apigee's connections into
    addresses of this range, and the firewall rule allows it as source.
    """

    name: str
    range: str

    def __post_init__(self) -> None:
        names.validate_compute_name(self.name, "name")
        _set(self, "range", str(names.validate_nat_cidr(self.range, "range")))

    @property
    def ip_network(self) -> ipaddress.IPv4Network:
        """The range as an :class:`ipaddress.IPv4Network`."""
        return ipaddress.IPv4Network(self.range)


@dataclass(frozen=True)
class FirewallSpec:
    """The ingress firewall rule the spec **creates**: TCP ``ports`` from the NAT range.

    ``target_tags`` selects the backend instances (network tags); empty means every instance
    of the network. Ports are integers 1-65535, each once, at least one.
    """

    name: str
    ports: tuple[int, ...]
    target_tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        names.validate_compute_name(self.name, "name")
        raw_ports = _sequence(self.ports, "ports", "TCP port numbers")
        if not raw_ports:
            raise ValidationError("ports", [], "at least one TCP port number")
        ports = tuple(_port(value, f"ports[{i}]") for i, value in enumerate(raw_ports))
        for index, port in enumerate(ports):
            if port in ports[:index]:
                raise ValidationError(f"ports[{index}]", port, "each port once (duplicate)")
        raw_tags = _sequence(self.target_tags, "target_tags", "network tags")
        tags = tuple(names.validate_compute_name(value, f"target_tags[{i}]") for i, value in enumerate(raw_tags))
        _unique(tags, "target_tags")
        _set(self, "ports", ports)
        _set(self, "target_tags", tags)


@dataclass(frozen=True)
class ServiceAttachmentSpec:
    """The service attachment the spec **creates** on the forwarding rule.

    ``connection_preference`` is ``ACCEPT_AUTOMATIC`` (any consumer may connect) or
    ``ACCEPT_MANUAL`` (only accept-listed projects; the Apigee organization's
    ``apigeeProjectId`` is added for you at apply time). ``accept_projects`` and
    ``reject_projects`` (project ids or numbers) only apply to ``ACCEPT_MANUAL``;
    ``connection_limit`` is the limit given to every accepted project.
    ``enable_proxy_protocol`` and ``domain_names`` (at most one, ending with a dot) are passed
    through to Compute.

    ``reconcile_connections`` is Compute's ``reconcileConnections``: when true, list changes
    also re-decide connections that are already ACCEPTED or REJECTED (Google's default only
    applies them to new or pending connections). Left unset (``None``), apigee-psc keeps the
    live value and turns it on only when a repair needs it (the Apigee project's connection
    was rejected); ``false`` forbids that. ``prune`` removes consumers that the live lists
    hold and the spec does not name (by default they are kept: others may have added them).
    ``allow_widening`` confirms a switch to ``ACCEPT_AUTOMATIC`` that would let in consumers
    the live lists reject or have not accepted.

    ``propagated_connection_limit`` is Compute's ``propagatedConnectionLimit``: how many
    Network Connectivity Center spokes each connected endpoint may be propagated to, each
    taking one more NAT address (0 allowed: no propagation). Left unset, Google's default
    (250) applies and the live value is left as it is.
    """

    name: str
    connection_preference: ConnectionPreference = "ACCEPT_AUTOMATIC"
    accept_projects: tuple[str, ...] = ()
    connection_limit: int = _DEFAULT_CONNECTION_LIMIT
    reject_projects: tuple[str, ...] = ()
    enable_proxy_protocol: bool = False
    domain_names: tuple[str, ...] = ()
    reconcile_connections: bool | None = None
    prune: bool = False
    allow_widening: bool = False
    propagated_connection_limit: int | None = None

    def __post_init__(self) -> None:
        names.validate_compute_name(self.name, "name")
        if self.propagated_connection_limit is not None:
            rule = f"a whole number from 0 to {_MAX_PROPAGATED_CONNECTION_LIMIT}"
            spokes = _integer(self.propagated_connection_limit, "propagated_connection_limit", rule)
            if not 0 <= spokes <= _MAX_PROPAGATED_CONNECTION_LIMIT:
                raise ValidationError("propagated_connection_limit", spokes, rule)
        if self.connection_preference not in CONNECTION_PREFERENCES:
            raise ValidationError(
                "connection_preference",
                self.connection_preference,
                "ACCEPT_AUTOMATIC or ACCEPT_MANUAL",
            )
        limit = _integer(
            self.connection_limit,
            "connection_limit",
            f"a whole number of connections from 1 to {_MAX_CONNECTION_LIMIT}",
        )
        if not 1 <= limit <= _MAX_CONNECTION_LIMIT:
            raise ValidationError(
                "connection_limit", limit, f"a whole number of connections from 1 to {_MAX_CONNECTION_LIMIT}"
            )
        lists: dict[str, tuple[str, ...]] = {}
        for key in ("accept_projects", "reject_projects"):
            raw = _sequence(getattr(self, key), key, "project ids or numbers")
            values = tuple(_project_or_number(v, f"{key}[{i}]") for i, v in enumerate(raw))
            _unique(values, key)
            if values and self.connection_preference != "ACCEPT_MANUAL":
                raise ValidationError(
                    key,
                    list(values),
                    "empty unless connection_preference is ACCEPT_MANUAL (ACCEPT_AUTOMATIC accepts every consumer)",
                )
            lists[key] = values
        for index, project in enumerate(lists["reject_projects"]):
            if project in lists["accept_projects"]:
                raise ValidationError(f"reject_projects[{index}]", project, "not also listed in accept_projects")
        _boolean(self.enable_proxy_protocol, "enable_proxy_protocol")
        if self.reconcile_connections is not None:
            _boolean(self.reconcile_connections, "reconcile_connections")
        _boolean(self.prune, "prune")
        _boolean(self.allow_widening, "allow_widening")
        raw_domains = _sequence(self.domain_names, "domain_names", "DNS domains")
        domains = tuple(names.validate_domain(v, f"domain_names[{i}]") for i, v in enumerate(raw_domains))
        if len(domains) > _MAX_DOMAIN_NAMES:
            raise ValidationError(
                "domain_names", list(domains), f"at most {_MAX_DOMAIN_NAMES} domain name (a Compute limit)"
            )
        _set(self, "accept_projects", lists["accept_projects"])
        _set(self, "reject_projects", lists["reject_projects"])
        _set(self, "domain_names", domains)


@dataclass(frozen=True)
class EndpointAttachmentSpec:
    """The Apigee endpoint attachment the spec **creates** (one per service attachment per org).

    Its location is always the spec's ``region``; ``location`` may be written for clarity but
    must then equal ``region``.
    """

    name: str
    location: str | None = None

    def __post_init__(self) -> None:
        names.validate_endpoint_attachment_id(self.name, "name")
        if self.location is not None:
            names.validate_region(self.location, "location")


@dataclass(frozen=True)
class DnsZoneSpec:
    """The Apigee DNS peering zone the spec **creates** (``organizations/ORG/dnsZones/NAME``).

    ``domain`` ends with a dot (``example.com.``); ``description`` is at most 1024 characters.
    The zone peers into the spec's ``project`` and ``network``.
    """

    name: str
    domain: str
    description: str | None = None

    def __post_init__(self) -> None:
        names.validate_dns_zone_id(self.name, "name")
        names.validate_domain(self.domain, "domain")
        if self.description is not None:
            names.validate_description(self.description, "description")


@dataclass(frozen=True)
class DnsSpec:
    """Optional DNS for the endpoint attachment's host.

    ``zone`` is the Apigee DNS peering zone to create. ``managed_zone`` is an existing Cloud DNS
    private zone of the producer project (only **referenced**, never created or deleted) in
    which the A ``record`` (created) points at the endpoint attachment's host. ``record``
    and ``managed_zone`` go together; with a ``zone``, the record must be inside its domain.
    """

    zone: DnsZoneSpec | None = None
    managed_zone: str | None = None
    record: str | None = None

    def __post_init__(self) -> None:
        if self.zone is not None and not isinstance(self.zone, DnsZoneSpec):
            raise ValidationError("zone", self.zone, "a DnsZoneSpec")
        if self.managed_zone is not None:
            names.validate_dns_zone_id(self.managed_zone, "managed_zone")
        if self.record is not None:
            domain = self.zone.domain if self.zone is not None else None
            names.validate_dns_name(self.record, domain, "record")
            if self.managed_zone is None:
                raise ValidationError(
                    "managed_zone", None, "required when record is set (the Cloud DNS zone to write it in)"
                )
        elif self.managed_zone is not None:
            raise ValidationError("record", None, "required when managed_zone is set (the A record name to create)")
        if self.zone is None and self.managed_zone is None:
            raise ValidationError(
                "zone",
                None,
                "a zone, or managed_zone with record, or both (or leave dns out entirely)",
            )


def _store_reference(value: object, field_name: str) -> str | None:
    """A keystore or truststore: a reference (``ref://name``, what Apigee recommends) or a name."""
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > 255 or any(ch.isspace() for ch in value):
        raise ValidationError(field_name, value, "a keystore reference such as ref://my-truststore (or its name)")
    return value


@dataclass(frozen=True)
class TlsSpec:
    """TLS from Apigee to the backend: the ``<SSLInfo>`` of the TargetEndpoint (``scheme: https``).

    ``<Enabled>true</Enabled>`` is always written; the other elements only when set here, so
    Apigee's defaults hold otherwise. ``enforce`` fails the call on a certificate that is
    invalid, expired, self-signed, untrusted or for another host name; ``trust_store`` holds
    the certificates that sign the backend's; ``ignore_validation_errors`` lets a call go on
    despite a certificate problem (when ``enforce`` is not true); ``key_store`` and
    ``key_alias`` turn on mutual TLS (``<ClientAuthEnabled>``); ``protocols`` (TLSv1.2,
    TLSv1.3: Apigee supports no older one) and ``ciphers`` narrow the handshake;
    ``common_name`` is the name the backend's certificate must carry, for a target whose URL
    holds the host IP (without ``dns.record``). Stores are references (``ref://name``) or names.
    """

    enforce: bool | None = None
    trust_store: str | None = None
    ignore_validation_errors: bool | None = None
    key_store: str | None = None
    key_alias: str | None = None
    protocols: tuple[str, ...] = ()
    ciphers: tuple[str, ...] = ()
    common_name: str | None = None

    def __post_init__(self) -> None:
        for flag in ("enforce", "ignore_validation_errors"):
            if getattr(self, flag) is not None:
                _boolean(getattr(self, flag), flag)
        _set(self, "trust_store", _store_reference(self.trust_store, "trust_store"))
        _set(self, "key_store", _store_reference(self.key_store, "key_store"))
        if self.key_alias is not None and (
            not isinstance(self.key_alias, str) or not self.key_alias or any(ch.isspace() for ch in self.key_alias)
        ):
            raise ValidationError("key_alias", self.key_alias, "the alias of a key in key_store")
        if (self.key_store is None) != (self.key_alias is None):
            missing = "key_alias" if self.key_alias is None else "key_store"
            raise ValidationError(missing, None, "required with key_store/key_alias (mutual TLS needs both)")
        protocols = tuple(str(p) for p in _sequence(self.protocols, "protocols", "TLS protocols"))
        for index, protocol in enumerate(protocols):
            if protocol not in _TLS_PROTOCOLS:
                raise ValidationError(
                    f"protocols[{index}]", protocol, "TLSv1.2 or TLSv1.3 (Apigee supports neither TLS 1.0 nor 1.1)"
                )
        _unique(protocols, "protocols")
        _set(self, "protocols", protocols)
        ciphers = _sequence(self.ciphers, "ciphers", "cipher suite names")
        for index, cipher in enumerate(ciphers):
            if not isinstance(cipher, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,100}", cipher):
                raise ValidationError(f"ciphers[{index}]", cipher, "a cipher suite name such as TLS_AES_128_GCM_SHA256")
        _unique(cast(Sequence[str], ciphers), "ciphers")
        _set(self, "ciphers", tuple(ciphers))
        if self.common_name is not None:
            from apigee_psc.target import target_url

            rule = "a host name such as orders.example.com (or *.example.com)"
            name = self.common_name
            if not isinstance(name, str):
                raise ValidationError("common_name", name, rule)
            try:
                target_url(name[2:] if name.startswith("*.") else name, "/")
            except ValidationError:
                raise ValidationError("common_name", name, rule) from None

    def to_dict(self) -> dict[str, Any]:
        """The options that are set, in the YAML shape."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is not None and value != ():
                out[f.name] = list(value) if isinstance(value, tuple) else value
        return out


@dataclass(frozen=True)
class TargetSpec:
    """How an API proxy's TargetEndpoint reaches the backend: the URL ``path`` (default ``/``),
    ``scheme`` (``http`` or ``https``) and ``port`` (default: the scheme's, 80 or 443), and
    with ``https`` the TLS options of its ``<SSLInfo>`` (``tls``). The URL's host is
    ``dns.record`` when the spec has one, else the endpoint attachment's host IP.
    """

    path: str = "/"
    scheme: Literal["http", "https"] = "http"
    port: int | None = None
    tls: TlsSpec | None = None

    def __post_init__(self) -> None:
        path = self.path
        if not isinstance(path, str) or not path.startswith("/") or "#" in path or any(ch.isspace() for ch in path):
            raise ValidationError("path", path, _TARGET_PATH_RULE)
        if self.scheme not in ("http", "https"):
            raise ValidationError("scheme", self.scheme, "http or https")
        if self.port is not None:
            _port(self.port, "port")
        if self.tls is not None:
            if not isinstance(self.tls, TlsSpec):
                raise ValidationError("tls", self.tls, "a TlsSpec")
            if self.scheme != "https":
                raise ValidationError("tls", self.scheme, "TLS options need scheme: https (the scheme here)")

    def to_dict(self) -> dict[str, Any]:
        """The target in the YAML shape (defaults left out, except the path)."""
        out: dict[str, Any] = {"path": self.path}
        if self.scheme != "http":
            out["scheme"] = self.scheme
        if self.port is not None:
            out["port"] = self.port
        if self.tls is not None:
            out["tls"] = self.tls.to_dict()
        return out


@dataclass(frozen=True, kw_only=True)
class SouthboundSpec:
    """The desired state of one southbound connection (keyword-only construction).

    Created: ``nat_subnet``, ``firewall`` (optional), ``service_attachment``,
    ``endpoint_attachment`` and, under ``dns``, the Apigee zone and the A record.
    Only referenced (must exist, never changed or deleted): the ``organization``, ``project``,
    ``network``, ``forwarding_rule`` and ``dns.managed_zone``.

    ``source`` is the file the spec came from (used in error messages; not compared).
    """

    organization: str = field(
        metadata={
            "description": "The Apigee organization. The command line fills it in when the file leaves it out, "
            "from APIGEE_PSC_ORGANIZATION; SouthboundSpec.from_yaml in Python requires it.",
            "filled_in": True,
        }
    )
    project: str = field(
        metadata={
            "description": "The producer project (an id). The command line fills it in when the file leaves it "
            "out, from --project, then GOOGLE_CLOUD_PROJECT or CLOUDSDK_CORE_PROJECT, then the project of the "
            "credentials (google.auth.default(): the active gcloud configuration's, a service account key's); "
            "SouthboundSpec.from_yaml in Python requires it.",
            "filled_in": True,
        }
    )
    region: str
    network: str
    forwarding_rule: str
    nat_subnet: NatSubnetSpec
    firewall: FirewallSpec | None = None
    service_attachment: ServiceAttachmentSpec
    endpoint_attachment: EndpointAttachmentSpec
    dns: DnsSpec | None = None
    target: TargetSpec | None = None
    adopt: bool = False
    source: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        try:
            self._validate()
        except ValidationError as exc:
            if exc.source is None and self.source is not None:
                raise exc.located(self.source) from None
            raise

    def _validate(self) -> None:
        _set(self, "organization", names.validate_organization(self.organization, "organization"))
        names.validate_project_id(self.project, "project")
        names.validate_region(self.region, "region")
        names.validate_compute_name(self.network, "network")
        _boolean(self.adopt, "adopt")
        self._parse_forwarding_rule()
        for key, cls in (
            ("nat_subnet", NatSubnetSpec),
            ("firewall", FirewallSpec),
            ("service_attachment", ServiceAttachmentSpec),
            ("endpoint_attachment", EndpointAttachmentSpec),
            ("dns", DnsSpec),
            ("target", TargetSpec),
        ):
            value = getattr(self, key)
            optional = key in {"firewall", "dns", "target"}
            if (value is None and not optional) or (value is not None and not isinstance(value, cls)):
                raise ValidationError(key, value, f"a {cls.__name__}")
        location = self.endpoint_attachment.location
        if location is not None and location != self.region:
            raise ValidationError(
                "endpoint_attachment.location",
                location,
                f"the spec's region {self.region} (an endpoint attachment lives in its service attachment's region)",
            )

    def _parse_forwarding_rule(self) -> tuple[str, str, str]:
        value = self.forwarding_rule
        if not isinstance(value, str):
            raise ValidationError("forwarding_rule", value, _FORWARDING_RULE_RULE)
        match = _FORWARDING_RULE_PATH.match(value)
        if match is None:
            if "/" in value:
                raise ValidationError("forwarding_rule", value, _FORWARDING_RULE_RULE)
            names.validate_compute_name(value, "forwarding_rule")
            return self.project, self.region, value
        project, region, name = match.group("project", "region", "name")
        names.validate_project_id(project, "forwarding_rule (project)")
        names.validate_region(region, "forwarding_rule (region)")
        names.validate_compute_name(name, "forwarding_rule (name)")
        if region != self.region:
            raise ValidationError(
                "forwarding_rule",
                value,
                f"a forwarding rule in the spec's region {self.region} (a service attachment "
                "must be in its forwarding rule's region)",
            )
        return project, region, name

    # ------------------------------------------------------------------ derived names

    @property
    def forwarding_rule_name(self) -> str:
        """The forwarding rule's short name, whichever form the spec used."""
        return self._parse_forwarding_rule()[2]

    @property
    def forwarding_rule_project(self) -> str:
        """The forwarding rule's project (the spec's ``project`` unless a path names another)."""
        return self._parse_forwarding_rule()[0]

    @property
    def forwarding_rule_region(self) -> str:
        """The forwarding rule's region (always the spec's ``region``)."""
        return self._parse_forwarding_rule()[1]

    @property
    def forwarding_rule_path(self) -> str:
        """``projects/P/regions/R/forwardingRules/NAME``."""
        project, region, name = self._parse_forwarding_rule()
        return f"projects/{project}/regions/{region}/forwardingRules/{name}"

    @property
    def network_path(self) -> str:
        """``projects/P/global/networks/NAME``."""
        return f"projects/{self.project}/global/networks/{self.network}"

    @property
    def nat_subnet_path(self) -> str:
        """``projects/P/regions/R/subnetworks/NAME``."""
        return f"projects/{self.project}/regions/{self.region}/subnetworks/{self.nat_subnet.name}"

    @property
    def service_attachment_path(self) -> str:
        """``projects/P/regions/R/serviceAttachments/NAME``, as the endpoint attachment names it."""
        return names.service_attachment_path(self.project, self.region, self.service_attachment.name)

    @property
    def endpoint_attachment_location(self) -> str:
        """The endpoint attachment's ``location``: the spec's region."""
        return self.region

    @property
    def endpoint_attachment_path(self) -> str:
        """``organizations/ORG/endpointAttachments/NAME``."""
        return f"organizations/{self.organization}/endpointAttachments/{self.endpoint_attachment.name}"

    @property
    def firewall_path(self) -> str | None:
        """``projects/P/global/firewalls/NAME`` (``None`` without a firewall)."""
        return f"projects/{self.project}/global/firewalls/{self.firewall.name}" if self.firewall else None

    @property
    def dns_zone_path(self) -> str | None:
        """``organizations/ORG/dnsZones/NAME`` of the Apigee DNS zone (``None`` without one)."""
        if self.dns is None or self.dns.zone is None:
            return None
        return f"organizations/{self.organization}/dnsZones/{self.dns.zone.name}"

    @property
    def managed_zone_path(self) -> str | None:
        """``projects/P/managedZones/NAME`` of the Cloud DNS zone (``None`` without one)."""
        if self.dns is None or self.dns.managed_zone is None:
            return None
        return f"projects/{self.project}/managedZones/{self.dns.managed_zone}"

    @property
    def record_path(self) -> str | None:
        """``projects/P/managedZones/ZONE/rrsets/NAME/A`` of the A record (``None`` without one)."""
        zone = self.managed_zone_path
        if zone is None or self.dns is None or self.dns.record is None:
            return None
        return f"{zone}/rrsets/{self.dns.record}/A"

    def peered_dns_domain_path(self, project: str, network: str) -> str | None:
        """``projects/P/global/networks/NET/peeredDnsDomains/NAME`` on the network peered with
        Apigee (``project``/``network``, read from the organization; ``None`` without a zone)."""
        if self.dns is None or self.dns.zone is None:
            return None
        return f"projects/{project}/global/networks/{network}/peeredDnsDomains/{self.dns.zone.name}"

    @property
    def target_host_name(self) -> str | None:
        """The DNS name to use in a TargetEndpoint URL (``dns.record`` without its final dot)."""
        if self.dns is None or self.dns.record is None:
            return None
        return self.dns.record.rstrip(".")

    @property
    def target_path(self) -> str:
        """The TargetEndpoint URL path (``target.path``, default ``/``)."""
        return self.target.path if self.target is not None else "/"

    def target_url(self, host: str | None = None) -> str:
        """The TargetEndpoint URL: ``scheme://NAME[:port]/path`` with ``dns.record`` as the
        name when the spec has one, else ``host`` (the endpoint attachment's host IP)."""
        from apigee_psc.target import target_url

        target = self.target or TargetSpec()
        name = self.target_host_name or host
        if not name:
            raise ValidationError("host", host, "the endpoint attachment's host (the spec has no dns.record)")
        return target_url(name, target.path, scheme=target.scheme, port=target.port)

    def target_xml(self, host: str | None = None) -> str:
        """The TargetEndpoint XML for :meth:`target_url`, with ``<SSLInfo>`` for an https target."""
        from apigee_psc.target import target_endpoint_xml

        target = self.target or TargetSpec()
        name = self.target_host_name or host
        if not name:
            raise ValidationError("host", host, "the endpoint attachment's host (the spec has no dns.record)")
        return target_endpoint_xml(name, target.path, scheme=target.scheme, port=target.port, tls=target.tls)

    # ------------------------------------------------------------------ (de)serialisation

    @classmethod
    def from_yaml(cls, path: str | Path) -> SouthboundSpec:
        """Read and validate a spec file. Every problem is a ValidationError naming the file."""
        source = str(path)
        text = read_spec_text(path)
        data = _load_yaml(text, source)
        return cls.from_dict(cast(Mapping[str, Any], data), source=source)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], source: str | None = None) -> SouthboundSpec:
        """Validate a spec given as a mapping (the YAML shape) and build it.

        ``source`` names where it came from, for error messages.
        """
        try:
            return _parse_spec(d, source)
        except ValidationError as exc:
            if exc.source is None and source is not None:
                raise exc.located(source) from None
            raise

    def _repr_html_(self) -> str:
        """What a notebook shows: the connection this spec describes, as a table."""
        import html

        rows = [
            ("organization", self.organization),
            ("producer", f"{self.project} / {self.region} / network {self.network}"),
            ("forwarding rule", self.forwarding_rule_path),
            ("NAT subnet", f"{self.nat_subnet.name} ({self.nat_subnet.range})"),
            ("service attachment", f"{self.service_attachment.name} ({self.service_attachment.connection_preference})"),
            ("endpoint attachment", self.endpoint_attachment_path),
        ]
        if self.firewall is not None:
            rows.insert(4, ("firewall rule", f"{self.firewall.name} (tcp:{','.join(map(str, self.firewall.ports))})"))
        if self.target_host_name:
            rows.append(("target", self.target_url()))
        body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
        title = html.escape(self.source or "spec")
        return f"<p>Southbound connection <code>{title}</code></p><table><tbody>{body}</tbody></table>"

    def to_dict(self) -> dict[str, Any]:
        """The spec in the YAML shape; ``from_dict(spec.to_dict()) == spec``.

        Optional sections that are absent stay absent, and optional extras (``connection_limit``,
        ``reject_projects``, ``enable_proxy_protocol``, ``domain_names``, ``location``,
        ``description``) are written only when they differ from their defaults.
        """
        out: dict[str, Any] = {
            "organization": self.organization,
            "project": self.project,
            "region": self.region,
            "network": self.network,
            "forwarding_rule": self.forwarding_rule,
            "nat_subnet": {"name": self.nat_subnet.name, "range": self.nat_subnet.range},
        }
        if self.firewall is not None:
            out["firewall"] = {
                "name": self.firewall.name,
                "ports": list(self.firewall.ports),
                "target_tags": list(self.firewall.target_tags),
            }
        sa = self.service_attachment
        sa_out: dict[str, Any] = {
            "name": sa.name,
            "connection_preference": sa.connection_preference,
            "accept_projects": list(sa.accept_projects),
        }
        if sa.connection_limit != _DEFAULT_CONNECTION_LIMIT:
            sa_out["connection_limit"] = sa.connection_limit
        if sa.reject_projects:
            sa_out["reject_projects"] = list(sa.reject_projects)
        if sa.enable_proxy_protocol:
            sa_out["enable_proxy_protocol"] = True
        if sa.domain_names:
            sa_out["domain_names"] = list(sa.domain_names)
        if sa.reconcile_connections is not None:
            sa_out["reconcile_connections"] = sa.reconcile_connections
        for flag in ("prune", "allow_widening"):
            if getattr(sa, flag):
                sa_out[flag] = True
        if sa.propagated_connection_limit is not None:
            sa_out["propagated_connection_limit"] = sa.propagated_connection_limit
        out["service_attachment"] = sa_out
        ea_out: dict[str, Any] = {"name": self.endpoint_attachment.name}
        if self.endpoint_attachment.location is not None:
            ea_out["location"] = self.endpoint_attachment.location
        out["endpoint_attachment"] = ea_out
        if self.dns is not None:
            dns_out: dict[str, Any] = {}
            if self.dns.zone is not None:
                zone: dict[str, Any] = {"name": self.dns.zone.name, "domain": self.dns.zone.domain}
                if self.dns.zone.description is not None:
                    zone["description"] = self.dns.zone.description
                dns_out["zone"] = zone
            if self.dns.managed_zone is not None:
                dns_out["managed_zone"] = self.dns.managed_zone
            if self.dns.record is not None:
                dns_out["record"] = self.dns.record
            out["dns"] = dns_out
        if self.target is not None:
            out["target"] = self.target.to_dict()
        if self.adopt:
            out["adopt"] = True
        return out

    def to_yaml(self) -> str:
        """The spec as YAML text (keys in the contract's order)."""
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=False)

    def replace(self, **changes: Any) -> SouthboundSpec:
        """A copy with some top-level fields changed, validated like any other spec."""
        return dataclasses.replace(self, **changes)


# --------------------------------------------------------------------------- YAML loading

#: The caps of :mod:`apigee_psc._yaml`, which reads spec files (regular files only).
MAX_SPEC_BYTES = _yaml.MAX_BYTES
MAX_SPEC_DEPTH = _yaml.MAX_DEPTH
MAX_SPEC_ALIASES = _yaml.MAX_ALIASES


def read_spec_text(path: str | Path) -> str:
    """The text of a spec file (``"-"``: standard input), read by :func:`apigee_psc._yaml.read_text`."""
    return _yaml.read_text(path, field=FILE_FIELD, max_bytes=MAX_SPEC_BYTES)


def _load_yaml(text: str, source: str) -> object:
    """Parse YAML safely within :mod:`apigee_psc._yaml`'s caps (size, depth, aliases, repeated keys)."""
    return _yaml.load(text, source, field=FILE_FIELD)


# --------------------------------------------------------------------------- dict parsing

_TOP_KEYS: dict[str, bool] = {  # key -> required
    "organization": True,
    "project": True,
    "region": True,
    "network": True,
    "forwarding_rule": True,
    "nat_subnet": True,
    "firewall": False,
    "service_attachment": True,
    "endpoint_attachment": True,
    "dns": False,
    "target": False,
    "adopt": False,
}
_NAT_KEYS = {"name": True, "range": True}
_FIREWALL_KEYS = {"name": True, "ports": True, "target_tags": False}
_SA_KEYS = {
    "name": True,
    "connection_preference": False,
    "accept_projects": False,
    "connection_limit": False,
    "reject_projects": False,
    "enable_proxy_protocol": False,
    "domain_names": False,
    "reconcile_connections": False,
    "prune": False,
    "allow_widening": False,
    "propagated_connection_limit": False,
}
_EA_KEYS = {"name": True, "location": False}
_DNS_KEYS = {"zone": False, "managed_zone": False, "record": False}
_ZONE_KEYS = {"name": True, "domain": True, "description": False}
_TARGET_KEYS = {"path": False, "scheme": False, "port": False, "tls": False}
_TLS_KEYS = {f.name: False for f in dataclasses.fields(TlsSpec)}

#: Every key a spec may contain, by section ("" is the top level). Useful for docs and tools.
KNOWN_KEYS: dict[str, tuple[str, ...]] = {
    "": tuple(_TOP_KEYS),
    "nat_subnet": tuple(_NAT_KEYS),
    "firewall": tuple(_FIREWALL_KEYS),
    "service_attachment": tuple(_SA_KEYS),
    "endpoint_attachment": tuple(_EA_KEYS),
    "dns": tuple(_DNS_KEYS),
    "dns.zone": tuple(_ZONE_KEYS),
    "target": tuple(_TARGET_KEYS),
    "target.tls": tuple(_TLS_KEYS),
}


class _Problems:
    """The problems found so far in one spec, so that all of them are reported at once."""

    def __init__(self) -> None:
        self.found: list[ValidationError] = []

    def add(self, field_name: str, value: object, rule: str) -> None:
        self.found.append(ValidationError(field_name, value, rule))

    @contextmanager
    def check(self, prefix: str = "") -> Iterator[None]:
        """Record a ValidationError from inside (its field prefixed) and carry on."""
        try:
            yield
        except ValidationError as exc:
            self.found.extend(ValidationError(_join(prefix, p.field), p.value, p.rule) for p in exc.problems)
        except _Incomplete:
            pass  # its problems are recorded already


class _Incomplete(Exception):
    """A section misses required keys (recorded as problems): it cannot be built."""


def _mapping(value: object, where: str, keys: Mapping[str, bool], problems: _Problems) -> dict[str, object]:
    """Check that ``value`` is a mapping with only known keys and every required key.

    Unknown and missing keys are recorded in ``problems`` with their full key path (``where``
    is the section's); unknown keys are dropped so the rest can still be checked. A missing
    required key raises :class:`_Incomplete` once all are recorded.
    """
    if not isinstance(value, Mapping):
        shape = ", ".join(keys)
        raise ValidationError("", value, f"a mapping with the keys {shape}")
    known = list(keys)
    section = where or "the spec"
    for key in value:
        if not isinstance(key, str):
            problems.add(_join(where, str(key)), key, f"a known key of {section} (keys are names: {', '.join(known)})")
        elif key not in keys:
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            problems.add(_join(where, key), key, f"unknown key; {hint}known keys of {section}: {', '.join(known)}")
    missing = [key for key, required in keys.items() if required and value.get(key) is None]
    for key in missing:
        problems.add(_join(where, key), None, "required, but missing (or empty)")
    if missing:
        raise _Incomplete
    return {k: v for k, v in value.items() if isinstance(k, str) and k in keys and v is not None}


def _opt_list(d: Mapping[str, object], key: str) -> Any:
    return d.get(key, ())


def _parse_nat(value: object, problems: _Problems) -> NatSubnetSpec:
    d = _mapping(value, "nat_subnet", _NAT_KEYS, problems)
    return NatSubnetSpec(name=cast(str, d["name"]), range=cast(str, d["range"]))


def _parse_firewall(value: object, problems: _Problems) -> FirewallSpec:
    d = _mapping(value, "firewall", _FIREWALL_KEYS, problems)
    return FirewallSpec(
        name=cast(str, d["name"]),
        ports=cast(Any, d["ports"]),
        target_tags=_opt_list(d, "target_tags"),
    )


def _parse_service_attachment(value: object, problems: _Problems) -> ServiceAttachmentSpec:
    d = _mapping(value, "service_attachment", _SA_KEYS, problems)
    return ServiceAttachmentSpec(
        name=cast(str, d["name"]),
        connection_preference=cast(Any, d.get("connection_preference", "ACCEPT_AUTOMATIC")),
        accept_projects=_opt_list(d, "accept_projects"),
        connection_limit=cast(Any, d.get("connection_limit", _DEFAULT_CONNECTION_LIMIT)),
        reject_projects=_opt_list(d, "reject_projects"),
        enable_proxy_protocol=cast(Any, d.get("enable_proxy_protocol", False)),
        domain_names=_opt_list(d, "domain_names"),
        reconcile_connections=cast(Any, d.get("reconcile_connections")),
        prune=cast(Any, d.get("prune", False)),
        allow_widening=cast(Any, d.get("allow_widening", False)),
        propagated_connection_limit=cast(Any, d.get("propagated_connection_limit")),
    )


def _parse_endpoint_attachment(value: object, problems: _Problems) -> EndpointAttachmentSpec:
    d = _mapping(value, "endpoint_attachment", _EA_KEYS, problems)
    return EndpointAttachmentSpec(name=cast(str, d["name"]), location=cast(Any, d.get("location")))


def _parse_dns(value: object, problems: _Problems) -> DnsSpec:
    d = _mapping(value, "dns", _DNS_KEYS, problems)
    zone: DnsZoneSpec | None = None
    if "zone" in d:
        with _at("zone"):
            z = _mapping(d["zone"], "dns.zone", _ZONE_KEYS, problems)
            zone = DnsZoneSpec(
                name=cast(str, z["name"]),
                domain=cast(str, z["domain"]),
                description=cast(Any, z.get("description")),
            )
    return DnsSpec(zone=zone, managed_zone=cast(Any, d.get("managed_zone")), record=cast(Any, d.get("record")))


def _parse_target(value: object, problems: _Problems) -> TargetSpec:
    d = _mapping(value, "target", _TARGET_KEYS, problems)
    tls: TlsSpec | None = None
    if "tls" in d:
        with _at("tls"):
            t = _mapping(d["tls"], "target.tls", _TLS_KEYS, problems)
            tls = TlsSpec(**{k: cast(Any, v) for k, v in t.items()})
    return TargetSpec(
        path=cast(Any, d.get("path", "/")),
        scheme=cast(Any, d.get("scheme", "http")),
        port=cast(Any, d.get("port")),
        tls=tls,
    )


def _parse_spec(data: object, source: str | None) -> SouthboundSpec:
    if not isinstance(data, Mapping):
        raise ValidationError(
            FILE_FIELD if source else "spec",
            data if not isinstance(data, str) else data[:80],
            "a mapping of keys at the top level (organization, project, region, ...)",
        )
    problems = _Problems()
    d: dict[str, object] = {}
    try:
        d = _mapping(data, "", _TOP_KEYS, problems)
    except _Incomplete:  # check what is there; report the missing keys with the rest
        d = {k: v for k, v in data.items() if isinstance(k, str) and k in _TOP_KEYS and v is not None}
    parsers: dict[str, Callable[[object, _Problems], object]] = {
        "nat_subnet": _parse_nat,
        "firewall": _parse_firewall,
        "service_attachment": _parse_service_attachment,
        "endpoint_attachment": _parse_endpoint_attachment,
        "dns": _parse_dns,
        "target": _parse_target,
    }
    scalars: dict[str, Callable[[object, str], object]] = {
        "organization": names.validate_organization,
        "project": names.validate_project_id,
        "region": names.validate_region,
        "network": names.validate_compute_name,
        "adopt": _boolean,
    }
    # In the file's order of sections: scalars first, then each section on its own.
    for key, check in scalars.items():
        if key in d:
            with problems.check():
                check(d[key], key)
    sections: dict[str, Any] = {}
    for key, parse in parsers.items():
        if key in d:
            with problems.check(key):
                sections[key] = parse(d[key], problems)
    if problems.found:
        raise ValidationError.combine(problems.found)
    return SouthboundSpec(
        organization=cast(str, d["organization"]),
        project=cast(str, d["project"]),
        region=cast(str, d["region"]),
        network=cast(str, d["network"]),
        forwarding_rule=cast(str, d["forwarding_rule"]),
        adopt=cast(Any, d.get("adopt", False)),
        source=source,
        **sections,
    )
